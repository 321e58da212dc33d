import { describe, it, expect } from 'vitest';
import { runScripts, type ScriptRun, MiB, PAGE, ANON, PROT_READ, RW, MAP_FIXED } from './fault-util.js';

// Writer-side locking of the VMAs and what each strategy pays for it
// (issue 10 items 8-11), against Linux 6.4+ mm/mmap.c (vma_prepare(),
// vma_link(), do_vmi_align_munmap()), mm/memory.c lock_vma_under_rcu() and
// the SPF series ("[PATCH v11 19/26] mm: provide speculative fault
// infrastructure", linux-mm, 2018). Deterministic
// mode throughout: every count is exact.

const R = 0x10_0000_0000; // a fixed region both CPUs know
const FIXED = ANON | MAP_FIXED;
const PERVMA = 2;

function expectOk(r: ScriptRun): void {
  expect(r.error).toBeUndefined();
  expect(r.ok).toBe(true);
}

describe('per-VMA locks: merges, splits and new VMAs are write-locked (vma_prepare, vma_link)', () => {
  it('a new VMA is write-locked before it is linked; a merge locks the survivor and the VMA it removes', async () => {
    // mmap of a fresh range: one VMA, locked once (vma_link). A second mmap
    // right above merges into the first: the new VMA (locked at link) is the
    // one removed, the lower one survives and grows: one more lock. Before
    // this, neither was locked: a fault could read-lock the VMA being merged.
    const r = await runScripts({ cpus: 2, strategy: PERVMA }, () => [[
      { op: 'mmap', addr: R, len: 16 * PAGE, flags: FIXED },
      { op: 'mmap', addr: R + 16 * PAGE, len: 16 * PAGE, flags: FIXED },
    ], []]);
    expectOk(r);
    expect(r.stats.vma_merge).toBe(1n);
    expect(r.stats.mmap_write_acquire).toBe(2n);
    expect(r.stats.vma_write_acquire).toBe(3n); // new, new, survivor
  });

  it('a split locks both halves; mprotect then merging back locks the survivor and the removed half', async () => {
    const r = await runScripts({ cpus: 2, strategy: PERVMA }, () => [[
      { op: 'mmap', addr: R, len: 16 * PAGE, flags: FIXED }, // 1 lock (new)
      { op: 'mprotect', addr: R + 8 * PAGE, len: 8 * PAGE, prot: PROT_READ }, // split: both halves (2)
      { op: 'mprotect', addr: R + 8 * PAGE, len: 8 * PAGE, prot: RW }, // upper half (1), merge: survivor (1), removed already marked
    ], []]);
    expectOk(r);
    expect(r.out[0]).toEqual([R, 0, 0]);
    expect(r.stats.vma_split).toBe(1n);
    expect(r.stats.vma_merge).toBe(1n);
    expect(r.stats.vma_write_acquire).toBe(5n);
  });

  it('a VMA detached between lookup and lock makes lock_vma_under_rcu() look again, not fall back to mmap_lock', async () => {
    // Test hook FLAG_PERVMA_STALL (layout.ts, checked in pervma.ts): CPU B's
    // fault is held 20000 cycles between the lockless lookup and
    // vma_start_read(), with IRQs on. Meanwhile CPU A maps the gap between
    // two VMAs: the new VMA merges into the lower one, which then absorbs the
    // upper one (the VMA B found): it is detached, and A's write section ends
    // (mm_lock_seq moves on, so its mark no longer says "write-locked"). B
    // then read-locks a detached VMA whose range still holds its address:
    // Linux counts VMA_LOCK_MISS and looks again, finding the merged VMA.
    // Before, B fell back to mmap_lock (pervma_abort_changed).
    const K = 256 * 1024;
    const r = await runScripts({ cpus: 2, strategy: PERVMA, flags: 8 /* FLAG_PERVMA_STALL */ }, (f, C) => [
      [
        { op: 'mmap', addr: R, len: K, flags: FIXED },
        { op: 'mmap', addr: R + 2 * K, len: 2 * K, flags: FIXED },
        { op: 'access', addr: R, write: 1 }, // anon_vma of the lower VMA
        { op: 'access', addr: R + 2 * K, write: 1 }, // and of the upper one
        { op: 'set', flag: f[0] },
        { op: 'awaitStat', cpu: 1, stat: C.STAT_PERVMA_ATTEMPT },
        { op: 'charge', cycles: 2000 },
        { op: 'mmap', addr: R + K, len: K, flags: FIXED }, // fills the gap: three VMAs become one
      ],
      [{ op: 'wait', flag: f[0] }, { op: 'access', addr: R + 2 * K + PAGE, write: 0 }],
    ]);
    expectOk(r);
    expect(r.out).toEqual([[R, R + 2 * K, 0, 0, null, 1, null, R + K], [null, 0]]);
    expect(r.stats.vma_merge).toBe(2n);
    expect(r.stats.pervma_lock_miss).toBe(1n);
    expect(r.stats.pervma_abort_changed).toBe(0n);
    expect(r.stats.pervma_abort_locked).toBe(0n);
    expect(r.stats.pervma_fallback).toBe(2n); // only A's first writes (no anon_vma yet)
    expect(r.stats.pervma_success).toBe(1n); // B's read fault, in the merged VMA
    expect(r.stats.mmap_read_acquire).toBe(2n);
    expect(r.stats.fault_anon_zero).toBe(1n);
  });
});
