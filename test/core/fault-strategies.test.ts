import { describe, it, expect } from 'vitest';
import {
  runScripts, dumpLeaves, framesInUse, flagsOf, pfnOf, type Script, type ScriptRun,
  PAGE, MiB, ANON, MAP_FIXED, MAP_PRIVATE, PROT_READ, RW,
} from '../support/fault-util.js';
import { inspectPageTables } from '../../src/pgtable.js';
import { Machine } from '../../src/machine.js';
import { wlArgs } from '../../src/workloads.js';

// "Same answers, different timing": the three fault-path strategies share the
// page tables, TLBs and mutators, so a workload whose outcome does not depend
// on timing must end in the same state under each -- only the clocks and the
// locks taken differ.

const CPUS = 4;
const BASE = 0x20_0000_0000;
const N = 96; // pages per CPU region: 384 KiB, 512 KiB apart: all four share one 2 MiB PTE table, no VMA merges
const FILE_PAGES = 16;

/** CPU c's script: every kind of fault, mprotect both ways, MADV_DONTNEED, partial munmap, file COW */
function workload(c: number): Script {
  const X = BASE + c * 512 * 1024;
  const F = BASE + 4 * MiB + c * 128 * 1024; // fixed too: the same addresses whatever order the CPUs map in
  return [
    { op: 'mmap', addr: X, len: N * PAGE, flags: ANON | MAP_FIXED },
    { op: 'touch', addr: X, len: 32 * PAGE, write: 0 }, // 32 zero-page reads
    { op: 'touch', addr: X, len: N * PAGE, write: 1 }, // 32 COWs of the zero page + 64 fresh pages
    { op: 'mprotect', addr: X, len: N * PAGE, prot: PROT_READ },
    { op: 'touch', addr: X, len: N * PAGE, write: 0 }, // mapped, readable: no faults
    { op: 'access', addr: X + 5 * PAGE, write: 1 }, // SIGSEGV
    { op: 'mprotect', addr: X, len: N * PAGE, prot: RW },
    { op: 'touch', addr: X, len: N * PAGE, write: 1 }, // write-protected by mprotect: reuse in place
    { op: 'madvise', addr: X + 8 * PAGE, len: 16 * PAGE },
    { op: 'touch', addr: X, len: 32 * PAGE, write: 0 }, // 16 zapped pages read back as the zero page
    { op: 'touch', addr: X + 8 * PAGE, len: 4 * PAGE, write: 1 }, // ... 4 of them COWed again
    { op: 'munmap', addr: X + 64 * PAGE, len: 32 * PAGE },
    { op: 'access', addr: X + 70 * PAGE, write: 0 }, // SIGSEGV: unmapped
    { op: 'mprotect', addr: X + 32 * PAGE, len: 16 * PAGE, prot: PROT_READ }, // split: three VMAs
    // a private file mapping: read-faults from the page cache, then COW of half of it
    { op: 'mmap', addr: F, len: FILE_PAGES * PAGE, flags: MAP_PRIVATE | MAP_FIXED, file: c },
    { op: 'touch', addr: F, len: FILE_PAGES * PAGE, write: 0 },
    { op: 'touch', addr: F, len: 8 * PAGE, write: 1 },
  ];
}

const KIND_COUNTERS = ['fault', 'access_fault', 'fault_anon_zero', 'fault_anon', 'fault_wp_reuse', 'fault_wp_copy', 'fault_file_read',
  'fault_file_cow', 'fault_file_shared', 'fault_numa', 'fault_on_access', 'fault_huge_pmd', 'fault_spurious', 'fault_sigsegv',
  'fault_sigbus', 'fault_oom', 'mmap', 'munmap', 'mprotect', 'madvise_dontneed', 'zap_pte', 'vma_split'];

/** the final state: page tables by (va, flags without A/D, what the frame is), frames and tables in use, counters */
function snapshot(r: ScriptRun) {
  const m = r.m;
  // page-cache pages by pfn: (file, index)
  const pc = new Map<number, string>();
  for (let f = 0; f < CPUS; f++) {
    for (let i = 0; i < FILE_PAGES; i++) {
      const e = m.host.core.pagecache_peek(f, i) as number;
      if (e) pc.set(e - 1, `file${f}:${i}`);
    }
  }
  const anon = new Set<number>();
  const leaves = dumpLeaves(m).map((l) => {
    const pfn = pfnOf(l.entry);
    let what = pc.get(pfn);
    if (what === undefined) {
      what = pfn === 0 ? 'zero' : 'anon';
      if (pfn !== 0) {
        expect(anon.has(pfn), `anon frame ${pfn} mapped twice`).toBe(false);
        anon.add(pfn);
      }
    }
    return `${l.va.toString(16)} ${flagsOf(l.entry).toString(16)} ${what}`;
  });
  const pt = inspectPageTables(m);
  expect(pt.errors).toEqual([]);
  return {
    leaves,
    frames: framesInUse(m),
    ptpages: pt.total - pt.free,
    kinds: Object.fromEntries(KIND_COUNTERS.map((k) => [k, r.stats[k]])),
    out: r.out,
  };
}

async function run(strategy: number): Promise<ScriptRun> {
  return runScripts({ cpus: CPUS, strategy, files: CPUS, filePages: FILE_PAGES }, () => [...Array(CPUS).keys()].map(workload));
}

describe('same answers, different timing (deterministic, 4 CPUs)', () => {
  it('page tables, frames, fault kinds and per-CPU results agree across mmap_lock, spf, pervma and spf-mmapseq', async () => {
    const runs = [await run(0), await run(1), await run(2), await run(3)];
    for (const r of runs) expect(r.error).toBeUndefined();
    const snaps = runs.map(snapshot);
    expect(snaps[1]).toEqual(snaps[0]);
    expect(snaps[2]).toEqual(snaps[0]);
    expect(snaps[3]).toEqual(snaps[0]);
    // the workload did what it says
    const k = snaps[0].kinds;
    expect([k.fault_anon_zero, k.fault_anon, k.fault_wp_copy, k.fault_wp_reuse, k.fault_file_read, k.fault_sigsegv])
      .toEqual([4n * 48n, 4n * 64n, 4n * (32n + 4n + 8n), 4n * 96n, 4n * 16n, 8n]);
    expect(snaps[0].out[0].slice(1)).toEqual([32, 96, 0, 0, 0x40, 0, 96, 0, 16, 4, 0, 0x40, 0, BASE + 4 * MiB, 16, 8]);
    // ... by different routes, at different times
    const [cl, spf, pervma, seq] = runs.map((r) => r.stats);
    expect(spf.spf_success).toBeGreaterThan(0n);
    expect(pervma.pervma_success).toBeGreaterThan(0n);
    expect(seq.spf_success).toBeGreaterThan(0n);
    expect(spf.mmap_read_acquire).toBeLessThan(cl.mmap_read_acquire);
    expect(pervma.mmap_read_acquire).toBeLessThan(cl.mmap_read_acquire);
    expect(seq.mmap_read_acquire).toBeLessThan(cl.mmap_read_acquire);
    expect(new Set(runs.map((r) => r.clocks.join())).size).toBe(4);
  });

  it('a write to a read-only VMA is SIGSEGV under every strategy (pervma checks access_error too)', async () => {
    for (const strategy of [0, 1, 2, 3]) {
      const r = await runScripts({ cpus: 2, strategy }, () => [[
        { op: 'mmap', addr: BASE, len: 16 * PAGE, flags: ANON | MAP_FIXED },
        { op: 'touch', addr: BASE, len: 16 * PAGE, write: 1 },
        { op: 'mprotect', addr: BASE, len: 16 * PAGE, prot: PROT_READ },
        { op: 'access', addr: BASE + PAGE, write: 1 },
        { op: 'access', addr: BASE + PAGE, write: 0 },
      ], []]);
      expect(r.error).toBeUndefined();
      expect(r.out[0].slice(3), `strategy ${strategy}`).toEqual([0x40, 0]);
      const pte = dumpLeaves(r.m).find((l) => l.va === BigInt(BASE + PAGE))!;
      expect(pte.entry & 2n, 'the PTE stays read-only').toBe(0n);
    }
  });
});

describe('the speculative and per-VMA paths really bypass mmap_lock (page_fault1, 4 CPUs, deterministic)', () => {
  it('mmap_read_acquire: thousands under mmap_lock, a few dozen under spf and pervma', async () => {
    const res = [];
    for (const strategy of [0, 1, 2]) {
      const m = new Machine({ cpus: 4, mode: 'deterministic', strategy });
      const wl = wlArgs(m, { kind: 0, length: 4 * MiB, maxIters: 2048 });
      const r = await m.run(() => ({ program: 'pageFault', args: { wl } }));
      expect(r.error).toBeUndefined();
      expect(r.cpus.map((c) => (c.value as { iters: number }).iters)).toEqual([2048, 2048, 2048, 2048]);
      res.push(m.stats());
    }
    const [cl, spf, pervma] = res;
    const faults = 4n * 2048n;
    expect(cl.fault).toBe(faults);
    expect(cl.mmap_read_acquire).toBe(faults); // every fault
    // only the fallbacks take it: the first fault of each fresh VMA (no anon_vma) and of each 2 MiB (no PTE table)
    expect(spf.mmap_read_acquire).toBe(spf.spf_fallback);
    expect(spf.mmap_read_acquire * 100n).toBeLessThan(cl.mmap_read_acquire);
    expect(spf.spf_success * 100n).toBeGreaterThan(99n * faults);
    // per-VMA locks (6.15, the default): the fallbacks, plus at most one mmap_lock trylock per new VMA
    // (vmf_anon_prepare() sets its anon_vma up under it; 6.4 fell back for that fault instead)
    expect(pervma.mmap_read_acquire).toBeGreaterThanOrEqual(pervma.pervma_fallback);
    expect(pervma.mmap_read_acquire).toBeLessThanOrEqual(pervma.pervma_fallback + cl.mmap_write_acquire);
    expect(pervma.mmap_read_acquire * 100n).toBeLessThan(cl.mmap_read_acquire);
    expect(pervma.vma_read_acquire).toBeGreaterThan(99n * faults / 100n);
    // mmap/munmap still take it for write, the same number of times
    expect(spf.mmap_write_acquire).toBe(cl.mmap_write_acquire);
    expect(pervma.mmap_write_acquire).toBe(cl.mmap_write_acquire);
  });
});

describe('spf vs spf-mmapseq: the per-VMA atomics', () => {
  it('pft on ONE VMA, 8 CPUs, deterministic: spf-mmapseq does the same faults with two atomics fewer each (no get_vma/put_vma) and no line bouncing on the VMA', async () => {
    const { runPoint, POINT_DEFAULTS } = await import('../../src/experiment.js');
    const pt = (strategy: string) => runPoint({ ...POINT_DEFAULTS, workload: 'pft-shared', strategy, cpus: 8, profile: 'intel-icx-2s',
      mode: 'deterministic', workers: 1, vcycles: 2_000_000 });
    const [a, b] = [await pt('spf'), await pt('spf-mmapseq')];
    for (const p of [a, b]) expect(p.error).toBeNull();
    const n = (p: typeof a, k: string) => Number(p.stats[k]);
    expect(n(b, 'fault')).toBe(n(a, 'fault'));
    expect(n(b, 'spf_success')).toBe(n(a, 'spf_success'));
    // refcount_inc_not_zero + refcount_dec per speculative fault
    expect(n(a, 'atomic_rmw') - n(b, 'atomic_rmw')).toBeGreaterThanOrEqual(2 * n(a, 'spf_success'));
    expect(Number(b.cyclesByCategory['cache-line wait'])).toBeLessThan(Number(a.cyclesByCategory['cache-line wait']) / 10);
    expect(b.opsPerVirtualSec!).toBeGreaterThan(a.opsPerVirtualSec!);
  }, 60_000);
});
