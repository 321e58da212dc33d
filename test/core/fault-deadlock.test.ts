import { describe, it, expect } from 'vitest';
import { runScripts, type ScriptRun, MiB, ANON, MAP_FIXED } from '../support/fault-util.js';
import type { Mode } from '../../src/machine.js';

// The PTL / TLB-shootdown deadlock that pte_map_lock()'s trylock avoids, through
// the REAL fault path. With settings.zapFlushUnderPtl, munmap / MADV_DONTNEED
// flush the TLB before dropping each PTE table's lock (as Linux does for dirty
// shared pages). CPU A zaps its range; CPU B faults speculatively in another
// VMA whose pages share A's 2 MiB PTE table. B waits (in virtual time) until
// A holds that PTL, then faults: its pte_map_lock meets the held PTL.
// (A second scenario below fixes the same order with a lock, for parallel mode.)
//   spin:               B spins for the PTL with IRQs off; A, holding it, waits
//                       for B's ack of its shootdown IPI: deadlock.
//   trylock:            B retries, letting IRQs in between tries: it acks, A
//                       finishes and unlocks, B gets the PTL.
//   trylock-bounded:4:  B gives up after 4 tries and redoes the fault on the
//                       classic path.

const T = 0x10_0000_0000; // one 2 MiB PTE table
const A_LEN = 1.5 * MiB; // A: [T, T + 1.5 MiB), 384 pages to zap under the PTL
const B_VMA = T + 1.75 * MiB; // B: [T + 1.75 MiB, T + 2 MiB): not adjacent, so not merged with A's

async function scenario(spfRetry: string, zap: 'munmap' | 'madvise', mode: Mode = 'deterministic', zapFlushUnderPtl = true): Promise<ScriptRun> {
  return runScripts({ cpus: 2, mode, watchdogMs: 2000, settings: { zapFlushUnderPtl, spfRetry } }, (f) => [[
    { op: 'mmap', addr: T, len: A_LEN, flags: ANON | MAP_FIXED },
    { op: 'touch', addr: T, len: A_LEN, write: 1 },
    { op: 'set', flag: f[0] },
    { op: 'wait', flag: f[1] },
    zap === 'munmap' ? { op: 'munmap', addr: T, len: A_LEN } : { op: 'madvise', addr: T, len: A_LEN },
  ], [
    { op: 'wait', flag: f[0] },
    { op: 'mmap', addr: B_VMA, len: 0.25 * MiB, flags: ANON | MAP_FIXED },
    { op: 'access', addr: B_VMA, write: 1 }, // classic (no anon_vma yet): B's VMA is ready for SPF
    { op: 'set', flag: f[1] },
    { op: 'waitPtlLocked', addr: B_VMA + 4096, follow: 0 },
    { op: 'access', addr: B_VMA + 4096, write: 1 }, // speculative: pte_map_lock meets A's PTL
  ]]);
}

describe.each(['munmap', 'madvise'] as const)('PTL/shootdown through the fault path (%s, deterministic)', (zap) => {
  it('spin with IRQs off: deadlock, reported with the wait-for graph', async () => {
    const r = await scenario('spin', zap);
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/deadlock/);
    expect(r.error).toMatch(/cpu 0 .*IRQs on.* waits for TLB-shootdown acks .*cpu 1/);
    expect(r.error).toMatch(/cpu 1 .*IRQs off.* waits for spinlock PTL of page-table page \d+ \(class ptl\) held by.* cpu 0/);
    expect(r.stats.zap_flush_under_ptl).toBe(1n); // A reached its flush under the PTL (and waits there)
    expect(r.deadlock?.map((e) => e.holders)).toEqual([[1], [0]]);
  });

  it('control: spin with IRQs off completes when zap flushes after dropping the PTL', async () => {
    const r = await scenario('spin', zap, 'deterministic', false);
    expect(r.error).toBeUndefined();
    expect(r.out[1]).toEqual([null, B_VMA, 0, null, 1, 0]);
    expect(r.stats.zap_flush_under_ptl).toBe(0n);
    expect(r.stats.ptl_contended).toBeGreaterThan(0n); // B did spin for A's PTL
  });

  it('trylock + IRQ relax (unbounded): completes; B acked inside its retry loop', async () => {
    const r = await scenario('trylock', zap);
    expect(r.error).toBeUndefined();
    expect(r.out[1]).toEqual([null, B_VMA, 0, null, 1, 0]);
    expect(r.stats.spf_trylock_retry).toBeGreaterThan(0n);
    expect(r.stats.irq_relax).toBeGreaterThan(0n);
    expect(r.stats.spf_abort_trylock_bounded).toBe(0n);
    expect(r.stats.zap_flush_under_ptl).toBeGreaterThan(0n);
    expect(r.stats.spf_fallback).toBe(2n); // the two first-writes of fresh VMAs only: B's racing fault stayed speculative
    expect(r.stats.ipi_received).toBeGreaterThan(0n);
  });

  it('trylock-bounded:4: completes; B gave up after 4 tries and fell back', async () => {
    const r = await scenario('trylock-bounded:4', zap);
    expect(r.error).toBeUndefined();
    expect(r.out[1]).toEqual([null, B_VMA, 0, null, 1, 0]);
    // issue 10 item 6: one failed trylock, one counter: three retries, then the fourth failure is the abort
    expect(r.stats.spf_abort_trylock_bounded).toBe(1n);
    expect(r.stats.spf_trylock_retry).toBe(3n);
    expect(r.stats.irq_relax).toBe(3n); // a relax after each retried failure, none after the last
    expect(r.stats.spf_fallback).toBe(3n); // + B's racing fault, redone on the classic path
    // munmap holds mmap_lock for write: B's classic retry waited for it; MADV_DONTNEED holds it for read
    expect(r.stats.mmap_read_contended).toBe(zap === 'munmap' ? 1n : 0n);
  });
});

/**
 * The same collision with its order fixed by a lock instead of by time, for
 * parallel mode (real threads: a real-time window of a few microseconds is
 * missed whenever the host deschedules a worker). CPU C holds the PTL of the
 * shared table; A's munmap queues on it (ticket 1); then B faults and queues
 * behind A in pte_map_lock (spin) or fails its trylocks; C lets go: A zaps,
 * flushes under the PTL and needs B's ack.
 */
async function ordered(spfRetry: string, mode: Mode): Promise<ScriptRun> {
  return runScripts({ cpus: 3, mode, watchdogMs: 2000, settings: { zapFlushUnderPtl: true, spfRetry } }, (f) => [[
    { op: 'mmap', addr: T, len: A_LEN, flags: ANON | MAP_FIXED },
    { op: 'touch', addr: T, len: A_LEN, write: 1 },
    { op: 'set', flag: f[0] },
    { op: 'wait', flag: f[2] },
    { op: 'munmap', addr: T, len: A_LEN },
  ], [
    { op: 'wait', flag: f[0] },
    { op: 'mmap', addr: B_VMA, len: 0.25 * MiB, flags: ANON | MAP_FIXED },
    { op: 'access', addr: B_VMA, write: 1 },
    { op: 'set', flag: f[1] },
    { op: 'awaitPtlWaiter', addr: B_VMA + 4096, cpu: 0 },
    { op: 'access', addr: B_VMA + 4096, write: 1 },
  ], [
    { op: 'wait', flag: f[1] },
    { op: 'holdPtl', addr: B_VMA + 4096, flag: f[2], a: 0, b: 1 },
  ]]);
}

describe.each(['parallel', 'deterministic'] as Mode[])('the collision ordered by a third PTL holder (%s)', (mode) => {
  it('spin with IRQs off: deadlock (parallel: the watchdog) with the wait-for graph', async () => {
    const r = await ordered('spin', mode);
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(mode === 'parallel' ? /watchdog/ : /deadlock/);
    expect(r.error).toMatch(/cpu 0 .*IRQs on.* waits for TLB-shootdown acks .*cpu 1/);
    expect(r.error).toMatch(/cpu 1 .*IRQs off.* waits for spinlock PTL of page-table page \d+ \(class ptl\) held by.* cpu 0/);
  });

  it('trylock + IRQ relax completes after retries', async () => {
    const r = await ordered('trylock', mode);
    expect(r.error).toBeUndefined();
    expect(r.out[1]).toEqual([null, B_VMA, 0, null, 1, 0]);
    expect(r.out[2]).toEqual([null, 1]);
    expect(r.stats.spf_trylock_retry).toBeGreaterThan(0n);
    expect(r.stats.zap_flush_under_ptl).toBeGreaterThan(0n);
  });

  it('trylock-bounded:4 completes: 4 tries, then the classic path', async () => {
    const r = await ordered('trylock-bounded:4', mode);
    expect(r.error).toBeUndefined();
    expect(r.out[1]).toEqual([null, B_VMA, 0, null, 1, 0]);
    expect(r.stats.spf_abort_trylock_bounded).toBe(1n);
    expect(r.stats.spf_trylock_retry).toBe(3n); // the 4th failed try is counted as the abort only
  });
});
