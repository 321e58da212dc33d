import { describe, it, expect } from 'vitest';
import {
  runScripts, dumpLeaves, type ScriptRun, MiB, PAGE, ANON, MAP_FIXED, MAP_X_HUGEPAGE,
  VM_FAULT_OOM, VM_FAULT_SIGBUS, VM_FAULT_RETRY,
} from '../support/fault-util.js';
import { checkInvariants } from '../../src/checker.js';

// Issue 10 items 1-3: the fault-on-access soft bit of the reference
// fault-on-access-protnone-2024 made real by its use case, arm64 MTE tag
// storage (assembly/mte.ts): mprotect(PROT_MTE) over populated pages makes
// their PTEs PAGE_NONE + the soft bit; the first access reserves tag storage
// from a pool (own lock, own cost) in the arch handler, which runs without the
// PTL, and handle_pte_protnone() maps the page back after re-checking the PTE.
// Every run ends with the invariant checker (frame references, the pool's
// units, and no accessible PTE of an MTE VMA without tag storage).

const R = 0x10_0000_0000;
const FIXED = ANON | MAP_FIXED;
const PROT_MTE = 0x20, RW = 3;
const FOA = 1n << 57n, PRESENT = 1n, PROTNONE = 1n << 8n;
const FAULT_FLAG_RETRY_NOWAIT = 0x08, FAULT_FLAG_TRIED = 0x20;
const HELD = 1 << 16; // t_fault_flags: mmap_lock still held on return

function expectClean(r: ScriptRun): void {
  expect(r.error).toBeUndefined();
  expect(r.ok).toBe(true);
  expect(checkInvariants(r.m)).toEqual([]);
}
const tagFree = (r: ScriptRun) => r.m.u32(r.m.C.HDR_BASE + r.m.C.H_TAG_FREE);
const pte = (r: ScriptRun, va: number) => dumpLeaves(r.m).find((l) => l.va === BigInt(va))?.entry ?? 0n;
const isFoa = (e: bigint) => (e & (FOA | PROTNONE | PRESENT)) === (FOA | PROTNONE);

/** map `pages` at R and write them all (speculative after the first under spf) */
const populate = (pages: number) => [
  { op: 'mmap', addr: R, len: pages * PAGE, flags: FIXED },
  { op: 'touch', addr: R, len: pages * PAGE, write: 1 },
];

describe.each([['mmap_lock', 0], ['spf', 1], ['pervma', 2]] as const)('fault on access: MTE tag storage (%s)', (_name, strategy) => {
  it('mprotect(PROT_MTE) marks populated pages; each first access reserves tag storage and maps the page back', async () => {
    const r = await runScripts({ cpus: 2, strategy, settings: { tagStorage: 64 } }, () => [[
      ...populate(16),
      { op: 'mprotect', addr: R, len: 16 * PAGE, prot: RW | PROT_MTE },
      { op: 'access', addr: R + 5 * PAGE, write: 0 },
    ], []]);
    expectClean(r);
    expect(r.out[0]).toEqual([R, 16, 0, 0]);
    expect(r.stats.mte_marked).toBe(16n);
    expect(r.stats.fault_on_access).toBe(1n);
    expect(r.stats.fault_numa).toBe(0n);
    expect(r.stats.tag_reserve).toBe(1n);
    expect(r.stats.tag_storage_acquire).toBe(1n); // the pool's own lock class
    expect(tagFree(r)).toBe(63);
    // the faulted page is accessible again with the VMA's protection (dirty: still writable); the rest wait
    const e5 = pte(r, R + 5 * PAGE);
    expect(isFoa(e5)).toBe(false);
    expect(e5 & PRESENT).toBe(PRESENT);
    expect(isFoa(pte(r, R + 6 * PAGE))).toBe(true);
    if (strategy === 1) expect(r.stats.spf_abort_fault_on_access).toBe(1n); // the handler may sleep: not speculatively
  });

  it('touching everything reserves 16 units; munmap gives them back (free_tag_storage)', async () => {
    const r = await runScripts({ cpus: 2, strategy, settings: { tagStorage: 64 } }, () => [[
      ...populate(16),
      { op: 'mprotect', addr: R, len: 16 * PAGE, prot: RW | PROT_MTE },
      { op: 'touch', addr: R, len: 16 * PAGE, write: 1 },
      { op: 'access', addr: R + 16 * PAGE, write: 1 }, // outside: SIGSEGV, nothing reserved
    ], []]);
    expect(r.out[0].slice(0, 4)).toEqual([R, 16, 0, 16]);
    expectClean(r);
    expect(r.stats.fault_on_access).toBe(16n);
    expect(tagFree(r)).toBe(48);
    const u = await runScripts({ cpus: 2, strategy, settings: { tagStorage: 64 } }, () => [[
      ...populate(16),
      { op: 'mprotect', addr: R, len: 16 * PAGE, prot: RW | PROT_MTE },
      { op: 'touch', addr: R, len: 16 * PAGE, write: 1 },
      { op: 'munmap', addr: R, len: 16 * PAGE },
    ], []]);
    expectClean(u);
    expect(u.stats.tag_free).toBe(16n);
    expect(tagFree(u)).toBe(64);
    // the checker's pool invariant is not vacuous: one unit too many is reported
    u.m.setU32(u.m.C.HDR_BASE + u.m.C.H_TAG_FREE, 65);
    expect(checkInvariants(u.m).map((v) => v.kind)).toEqual(['tag-storage']);
  });

  it('an empty pool: the first try releases the fault lock and retries (FAULT_FLAG_TRIED), then OOM', async () => {
    const r = await runScripts({ cpus: 2, strategy, settings: { tagStorage: 1 } }, () => [[
      ...populate(2),
      { op: 'mprotect', addr: R, len: 2 * PAGE, prot: RW | PROT_MTE },
      { op: 'access', addr: R, write: 1 }, // takes the only unit
      { op: 'access', addr: R + PAGE, write: 1 },
    ], []]);
    expectClean(r);
    expect(r.out[0]).toEqual([R, 2, 0, 0, VM_FAULT_OOM]);
    expect(r.stats.tag_reserve_fail).toBeGreaterThanOrEqual(2n);
    // the lock-release rules held: no unlock of a released lock (the rwsem would trap), no deadlock;
    // under pervma the VMA lock was the fault lock the handler released, then mmap_lock once more
    expect(r.stats.fault_retry).toBe(1n);
    if (strategy === 2) expect(r.stats.pervma_fallback).toBeGreaterThanOrEqual(1n);
    expect(isFoa(pte(r, R + PAGE))).toBe(true); // still waiting for tag storage
  });
});

describe('fault on access: the handler rules (reference include/linux/pgtable.h comment)', () => {
  it('VM_FAULT_RETRY releases mmap_lock without FAULT_FLAG_RETRY_NOWAIT and keeps it with it; TRIED: no retry', async () => {
    const r = await runScripts({ cpus: 1, strategy: 0, settings: { tagStorage: 1 } }, () => [[
      ...populate(2),
      { op: 'mprotect', addr: R, len: 2 * PAGE, prot: RW | PROT_MTE },
      { op: 'access', addr: R, write: 1 },
      { op: 'faultFlags', addr: R + PAGE, write: 0, extra: 0 },
      { op: 'faultFlags', addr: R + PAGE, write: 0, extra: FAULT_FLAG_RETRY_NOWAIT },
      { op: 'faultFlags', addr: R + PAGE, write: 0, extra: FAULT_FLAG_TRIED },
    ]]);
    expectClean(r); // the frame reference taken before the arch check was dropped on every path
    expect(r.out[0].slice(4)).toEqual([VM_FAULT_RETRY, VM_FAULT_RETRY | HELD, VM_FAULT_OOM | HELD]);
    expect(r.stats.tag_reserve_fail).toBe(3n);
  });

  it('no tag storage (no arch handler): a fault-on-access entry gets the default handler\'s SIGBUS', async () => {
    // only a test can write such an entry when the machine has no tag storage
    const r = await runScripts({ cpus: 2, strategy: 0 }, () => [[
      ...populate(1),
      { op: 'ptePoke', addr: R, set: String(FOA | PROTNONE), clear: String(PRESENT) },
      { op: 'access', addr: R, write: 0 },
      { op: 'mprotect', addr: R, len: PAGE, prot: RW | PROT_MTE }, // PROT_MTE: EINVAL without tag storage
    ], []]);
    expect(r.out[0].slice(3)).toEqual([VM_FAULT_SIGBUS, -22]);
    expect(r.stats.fault_sigbus).toBe(1n);
    expect(r.stats.fault_on_access).toBe(0n);
    expect(checkInvariants(r.m).filter((v) => v.kind !== 'pte-prot')).toEqual([]); // refcount intact after the handler
  });

  it('out_lock_and_map re-checks pte_same: a MADV_DONTNEED while the handler reserves wins; nothing is mapped back', async () => {
    // A faults on a fault-on-access page; B waits until A's handler is inside
    // reserve_tag_storage (the PTL is not held then) and zaps the page. A re-takes the
    // PTL, finds the PTE gone and maps nothing; its access retries and faults a new page
    const r = await runScripts({ cpus: 2, strategy: 0, settings: { tagStorage: 8 } }, (f, C) => [[
      ...populate(1),
      { op: 'mprotect', addr: R, len: PAGE, prot: RW | PROT_MTE },
      { op: 'set', flag: f[0] },
      { op: 'access', addr: R, write: 1 },
    ], [
      { op: 'wait', flag: f[0] },
      { op: 'awaitStat', cpu: 0, stat: C.STAT_TAG_RESERVE, step: 1 },
      { op: 'madvise', addr: R, len: PAGE },
    ]]);
    expectClean(r);
    expect(r.out).toEqual([[R, 1, 0, null, 0], [null, 1, 0]]);
    expect(r.stats.fault_on_access).toBe(0n); // the handler ran, the generic code mapped nothing
    expect(r.stats.fault_spurious).toBe(1n); // out_lock_and_map: !pte_same
    expect(r.stats.tag_reserve).toBe(2n); // the zapped page's, then the new page's (__GFP_TAGGED)
    expect(r.stats.tag_free).toBe(1n); // the zapped page took its storage along
    expect(tagFree(r)).toBe(7);
    expect(r.stats.fault_anon).toBe(2n);
  });

  it('a new page of a PROT_MTE mapping has tag storage from its allocation; when the pool is empty it is mapped fault-on-access', async () => {
    const r = await runScripts({ cpus: 2, strategy: 0, settings: { tagStorage: 2 } }, () => [[
      { op: 'mmap', addr: R, len: 4 * PAGE, prot: RW | PROT_MTE, flags: FIXED },
      { op: 'touch', addr: R, len: 2 * PAGE, write: 1 },
      { op: 'access', addr: R + 2 * PAGE, write: 1 },
      { op: 'munmap', addr: R, len: PAGE },
      { op: 'access', addr: R + 2 * PAGE, write: 1 },
    ], []]);
    expectClean(r);
    expect(r.out[0]).toEqual([R, 2, VM_FAULT_OOM, 0, 0]);
    expect(r.stats.mte_marked).toBe(1n); // the third page, installed fault-on-access
    expect(r.stats.fault_on_access).toBe(1n); // mapped back once munmap freed a unit
    expect(tagFree(r)).toBe(0);
  });
});

describe('fault on access: the pool has one lock for the machine', () => {
  it('4 CPUs reserving at once contend on it (deterministic: exact, reproducible)', async () => {
    // each CPU populates and tags its own region, all meet, then all re-fault their pages
    const script = (cpu: number, f: number[]) => {
      const base = R + cpu * 64 * MiB;
      return [
        { op: 'mmap', addr: base, len: 16 * PAGE, flags: FIXED },
        { op: 'touch', addr: base, len: 16 * PAGE, write: 1 },
        { op: 'mprotect', addr: base, len: 16 * PAGE, prot: RW | PROT_MTE },
        { op: 'set', flag: f[cpu] },
        ...[0, 1, 2, 3].map((c) => ({ op: 'wait', flag: f[c] })),
        { op: 'touch', addr: base, len: 16 * PAGE, write: 1 },
      ];
    };
    const run = () => runScripts({ cpus: 4, strategy: 2, settings: { tagStorage: 256 } }, (f) => [0, 1, 2, 3].map((c) => script(c, f)));
    const [a, b] = [await run(), await run()];
    expectClean(a);
    expect(a.stats.fault_on_access).toBe(64n);
    expect(a.stats.tag_storage_acquire).toBe(64n);
    expect(a.stats.tag_storage_contended).toBeGreaterThan(0n);
    expect(a.stats.tag_storage_wait_cycles).toBeGreaterThan(0n);
    expect(b.stats).toEqual(a.stats);
  });
});

describe('huge PMDs (issue 10 item 3): handle_huge_pmd_protnone', () => {
  it('the NUMA scanner marks a THP; the read fault restores it (fault_numa), not a wp_reuse', async () => {
    const r = await runScripts({ cpus: 2, strategy: 0, settings: { thp: 'madvise', numaPeriod: 1e9 } }, () => [[
      { op: 'mmap', addr: R, len: 2 * MiB, flags: FIXED | MAP_X_HUGEPAGE },
      { op: 'access', addr: R, write: 1 }, // do_huge_pmd_anonymous_page, dirty
      { op: 'touch', addr: R, len: 2 * MiB, write: 0 }, // the 64th access runs the scanner
    ], []]);
    expectClean(r);
    expect(r.out[0]).toEqual([R, 0, 1]);
    expect(r.stats.numa_scan).toBe(1n);
    expect(r.stats.numa_pmd_marked).toBe(1n);
    expect(r.stats.fault_huge_pmd_protnone).toBe(1n);
    expect(r.stats.fault_numa).toBe(1n);
    expect(r.stats.fault_wp_reuse).toBe(0n);
    const leaf = dumpLeaves(r.m).find((l) => l.huge)!;
    expect(leaf.entry & PRESENT).toBe(PRESENT);
  });

  it('mprotect(PROT_MTE) over a THP: arch_fault_on_access_pmd; mapped back read-only, the write then reuses it', async () => {
    const r = await runScripts({ cpus: 2, strategy: 0, settings: { thp: 'madvise', tagStorage: 1024 } }, () => [[
      { op: 'mmap', addr: R, len: 2 * MiB, flags: FIXED | MAP_X_HUGEPAGE },
      { op: 'access', addr: R, write: 1 },
      { op: 'mprotect', addr: R, len: 2 * MiB, prot: RW | PROT_MTE },
      { op: 'access', addr: R + 4096, write: 0 },
      { op: 'access', addr: R + 8192, write: 1 },
    ], []]);
    expectClean(r);
    expect(r.out[0]).toEqual([R, 0, 0, 0, 0]);
    expect(r.stats.mte_marked).toBe(1n);
    expect(r.stats.fault_on_access).toBe(1n);
    expect(r.stats.fault_huge_pmd_protnone).toBe(1n);
    expect(r.stats.fault_wp_reuse).toBe(1n); // the write only: the read was not counted as one
    expect(tagFree(r)).toBe(1024 - 512);
  });
});
