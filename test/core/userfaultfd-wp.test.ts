import { describe, it, expect } from 'vitest';
import { runScripts, dumpLeaves, PAGE, ANON, MAP_SHARED, MAP_ANONYMOUS, MAP_FIXED, PROT_READ, RW, type ScriptRun } from '../support/fault-util.js';
import { checkInvariants, formatViolations } from '../../src/checker.js';
import { _PAGE_PRESENT, _PAGE_RW, _PAGE_UFFD_WP, _PAGE_PROTNONE, _PAGE_USER, _PAGE_NX } from '../../src/pte.js';

// Issue 21 item 1: uffd-wp must hold. A write to a uffd-wp PTE of a VM_UFFD_WP
// VMA reaches the handler whatever restored or changed the PTE's protection
// since: the NUMA-hinting restore asks can_change_pte_writable() (Linux 6.12
// do_numa_page), a shared VMA registered WP maps read-only (vma_set_page_prot:
// vma_wants_writenotify() is true for userfaultfd_wp), so mprotect(RW) cannot
// add write to a uffd-wp PTE. The checker holds "no PTE is both writable and uffd-wp".

const A = 0x10_0000_0000;
const SHARED_ANON = MAP_SHARED | MAP_ANONYMOUS;
const WP = 2;
const leaf = (r: ScriptRun, va: number) => dumpLeaves(r.m).find((l) => l.va === BigInt(va));
const bits = (e: bigint) => ({ present: (e & _PAGE_PRESENT) !== 0n, write: (e & _PAGE_RW) !== 0n, uffdWp: (e & _PAGE_UFFD_WP) !== 0n });
const clean = (r: ScriptRun) => { const v = checkInvariants(r.m, { tlb: false }); expect(v, formatViolations(v)).toEqual([]); };
// change_prot_numa(): pte_modify(pte, PAGE_NONE) keeps uffd-wp, drops present/user/NX, sets PROTNONE
const NUMA_SET = '0x' + _PAGE_PROTNONE.toString(16);
const NUMA_CLEAR = '0x' + (_PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_NX).toString(16);

describe('uffd-wp holds (issue 21 item 1)', () => {
  // the state after the protection change, checked before anything writes: with either fix
  // reverted the checker reports the PTE as "both writable and uffd-wp"
  for (const [what, shared, change] of [
    ['NUMA-hinting restore (anon private)', false, 'numa'], ['NUMA-hinting restore (shmem shared)', true, 'numa'],
    ['mprotect(PROT_READ) then mprotect(RW) (shmem shared)', true, 'mprotect'],
  ] as const) {
    it(`${what} leaves a uffd-wp PTE read-only: the checker finds no PTE both writable and uffd-wp`, async () => {
      const r = await runScripts({ cpus: 1, strategy: 0 }, () => [[
        { op: 'mmap', addr: A, len: 4 * PAGE, flags: (shared ? SHARED_ANON : ANON) | MAP_FIXED },
        { op: 'touch', addr: A, len: 4 * PAGE, write: 1 },
        { op: 'userfaultfd', as: 'u' },
        { op: 'uffdRegister', ctx: '$u', addr: A, len: 4 * PAGE, mode: WP },
        { op: 'uffdWriteprotect', ctx: '$u', addr: A, len: 4 * PAGE, mode: 1 },
        ...(change === 'numa'
          ? [{ op: 'ptePoke', addr: A + PAGE, set: NUMA_SET, clear: NUMA_CLEAR }, { op: 'access', addr: A + PAGE, write: 0 }]
          : [{ op: 'mprotect', addr: A, len: 4 * PAGE, prot: PROT_READ }, { op: 'mprotect', addr: A, len: 4 * PAGE, prot: RW }]),
      ]]);
      expect(r.ok, r.error).toBe(true);
      clean(r);
      expect(bits(leaf(r, A + PAGE)!.entry)).toEqual({ present: true, write: false, uffdWp: true });
      if (change === 'numa') expect(r.stats.fault_numa).toBe(1n);
    });
  }

  for (const strategy of [0, 1, 2]) {
    for (const shared of [false, true]) {
      it(`NUMA-hinting restore keeps a uffd-wp PTE read-only; the write reaches the handler (${shared ? 'shmem shared' : 'anon private'}, strategy ${strategy})`, async () => {
        const r = await runScripts({ cpus: 2, strategy }, (f) => [
          [
            { op: 'mmap', addr: A, len: 4 * PAGE, flags: (shared ? SHARED_ANON : ANON) | MAP_FIXED },
            { op: 'touch', addr: A, len: 4 * PAGE, write: 1 },
            { op: 'userfaultfd', as: 'u' },
            { op: 'uffdRegister', ctx: '$u', addr: A, len: 4 * PAGE, mode: WP },
            { op: 'uffdWriteprotect', ctx: '$u', addr: A, len: 4 * PAGE, mode: 1 },
            { op: 'ptePoke', addr: A + PAGE, set: NUMA_SET, clear: NUMA_CLEAR },
            { op: 'access', addr: A + PAGE, write: 0 }, // the NUMA hint fault restores the PTE
            { op: 'set', flag: f[0] },
            { op: 'uffdRead', ctx: '$u' },
            { op: 'uffdWriteprotect', ctx: '$u', addr: A + PAGE, len: PAGE, mode: 0 },
          ],
          [{ op: 'wait', flag: f[0] }, { op: 'access', addr: A + PAGE, write: 1 }],
        ]);
        expect(r.ok, r.error).toBe(true);
        expect(r.stats.fault_numa).toBe(1n);
        expect(r.out[0][8]).toEqual({ address: A + PAGE, flags: 1 | 2 });
        expect(r.stats.uffd_fault_wp).toBe(1n);
        expect(bits(leaf(r, A + PAGE)!.entry)).toEqual({ present: true, write: true, uffdWp: false });
        clean(r);
      });
    }
  }

  it('NUMA-hinting restore of a dirty exclusive anon page without uffd-wp is still writable (no extra write fault)', async () => {
    const r = await runScripts({ cpus: 1, strategy: 0 }, () => [[
      { op: 'mmap', addr: A, len: PAGE, flags: ANON | MAP_FIXED },
      { op: 'access', addr: A, write: 1 },
      { op: 'ptePoke', addr: A, set: NUMA_SET, clear: NUMA_CLEAR },
      { op: 'access', addr: A, write: 0 },
    ]]);
    expect(r.ok, r.error).toBe(true);
    expect(r.stats.fault_numa).toBe(1n);
    expect(bits(leaf(r, A)!.entry)).toEqual({ present: true, write: true, uffdWp: false });
    clean(r);
  });

  for (const strategy of [0, 1, 2]) {
    it(`mprotect(RW) of a shared shmem VMA registered WP keeps uffd-wp PTEs read-only; the write reaches the handler (strategy ${strategy})`, async () => {
      const r = await runScripts({ cpus: 2, strategy }, (f) => [
        [
          { op: 'mmap', addr: A, len: 4 * PAGE, flags: SHARED_ANON | MAP_FIXED },
          { op: 'touch', addr: A, len: 4 * PAGE, write: 1 },
          { op: 'userfaultfd', as: 'u' },
          { op: 'uffdRegister', ctx: '$u', addr: A, len: 4 * PAGE, mode: WP },
          { op: 'uffdWriteprotect', ctx: '$u', addr: A, len: 4 * PAGE, mode: 1 },
          { op: 'mprotect', addr: A, len: 4 * PAGE, prot: PROT_READ },
          { op: 'mprotect', addr: A, len: 4 * PAGE, prot: RW },
          { op: 'set', flag: f[0] },
          { op: 'uffdRead', ctx: '$u' },
          { op: 'uffdWriteprotect', ctx: '$u', addr: A + 2 * PAGE, len: PAGE, mode: 0 },
        ],
        [{ op: 'wait', flag: f[0] }, { op: 'access', addr: A + 2 * PAGE, write: 1 }],
      ]);
      expect(r.ok, r.error).toBe(true);
      expect(r.out[0].slice(5, 7)).toEqual([0, 0]);
      expect(r.out[0][8]).toEqual({ address: A + 2 * PAGE, flags: 1 | 2 });
      expect(r.stats.uffd_fault_wp).toBe(1n);
      // the resolved page took write from its write fault (wp_page_shared), the others stay protected
      expect(bits(leaf(r, A + 2 * PAGE)!.entry)).toEqual({ present: true, write: true, uffdWp: false });
      expect(bits(leaf(r, A + 3 * PAGE)!.entry)).toEqual({ present: true, write: false, uffdWp: true });
      clean(r);
    });
  }
});

describe('the checker: no PTE is both writable and uffd-wp', () => {
  it('a writable uffd-wp PTE written by hand is reported', async () => {
    const r = await runScripts({ cpus: 1, strategy: 0 }, () => [[
      { op: 'mmap', addr: A, len: PAGE, flags: ANON | MAP_FIXED },
      { op: 'access', addr: A, write: 1 },
      { op: 'ptePoke', addr: A, set: '0x' + _PAGE_UFFD_WP.toString(16) },
    ]]);
    expect(r.ok, r.error).toBe(true);
    const v = checkInvariants(r.m, { tlb: false });
    expect(v.map((x) => x.kind)).toEqual(['pte-prot']);
    expect(v[0].message).toMatch(/^PTE at 0x1000000000 .* is both writable and uffd-wp: a write would not reach the userfaultfd handler$/);
  });
});
