import { describe, it, expect } from 'vitest';
import { runScripts, dumpLeaves, pfnOf, PAGE, ANON, MAP_SHARED, MAP_PRIVATE, MAP_ANONYMOUS, MAP_FIXED, PROT_READ, RW, VM_FAULT_SIGBUS, type ScriptRun } from '../support/fault-util.js';
import { checkInvariants, formatViolations } from '../../src/checker.js';
import { runPoint } from '../../src/experiment.js';
import { toCsv } from '../../src/report.js';
import { _PAGE_PRESENT, _PAGE_RW, _PAGE_DIRTY, _PAGE_UFFD_WP, _PAGE_SPECIAL } from '../../src/pte.js';
import type { PervmaKernel } from '../../src/machine.js';

// userfaultfd (assembly/userfaultfd.ts) and shmem objects (assembly/shmem.ts)

const A = 0x10_0000_0000; // first mapping
const B = 0x10_4000_0000; // second mapping, 1 GiB away
const SHARED_ANON = MAP_SHARED | MAP_ANONYMOUS;
const MISSING = 1, WP = 2, MINOR = 4;
const EEXIST = -17, EFAULT = -14, ENOENT = -2, EINVAL = -22, EBUSY = -16;

function leaf(r: ScriptRun, va: number) {
  return dumpLeaves(r.m).find((l) => l.va === BigInt(va));
}
const bits = (e: bigint) => ({
  present: (e & _PAGE_PRESENT) !== 0n, write: (e & _PAGE_RW) !== 0n, dirty: (e & _PAGE_DIRTY) !== 0n, uffdWp: (e & _PAGE_UFFD_WP) !== 0n,
});
function rss(r: ScriptRun): { anon: number; file: number } {
  const m = r.m, C = m.C;
  let anon = m.i32(m.regions.mm + C.MM_RSS_ANON), file = m.i32(m.regions.mm + C.MM_RSS_FILE);
  const pcm = m.u32(C.HDR_BASE + C.H_PCM_BASE);
  for (let c = 0; c < m.cfg.cpus; c++) { anon += m.i32(pcm + c * C.PCM_SIZE + C.PCM_RSS_ANON); file += m.i32(pcm + c * C.PCM_SIZE + C.PCM_RSS_FILE); }
  return { anon, file };
}
const frameFlags = (r: ScriptRun, pfn: number) => r.m.u32(r.m.regions.frames + pfn * r.m.C.FR_SIZE + r.m.C.FR_FLAGS);
const clean = (r: ScriptRun) => { const v = checkInvariants(r.m, { tlb: false }); expect(v, formatViolations(v)).toEqual([]); };

describe('shmem objects', () => {
  it('two MAP_SHARED|MAP_ANONYMOUS mappings are two objects; one memfd mapped twice is one', async () => {
    const r = await runScripts({ cpus: 1, strategy: 0 }, () => [[
      { op: 'mmap', addr: A, len: 4 * PAGE, flags: SHARED_ANON | MAP_FIXED },
      { op: 'mmap', addr: B, len: 4 * PAGE, flags: SHARED_ANON | MAP_FIXED },
      { op: 'touch', addr: A, len: 4 * PAGE, write: 1 },
      { op: 'touch', addr: B, len: 4 * PAGE, write: 1 },
      { op: 'memfd', as: 'f' },
      { op: 'ftruncate', file: '$f', pages: 4 },
      { op: 'mmap', addr: A + 0x100000, len: 4 * PAGE, flags: MAP_SHARED | MAP_FIXED, file: '$f' },
      { op: 'mmap', addr: B + 0x100000, len: 4 * PAGE, flags: MAP_SHARED | MAP_FIXED, file: '$f' },
      { op: 'touch', addr: A + 0x100000, len: 4 * PAGE, write: 1 },
      { op: 'touch', addr: B + 0x100000, len: 4 * PAGE, write: 0 },
    ]]);
    expect(r.ok, r.error).toBe(true);
    expect(r.out[0].slice(2, 4)).toEqual([4, 4]);
    for (let i = 0; i < 4; i++) {
      expect(pfnOf(leaf(r, A + i * PAGE)!.entry)).not.toBe(pfnOf(leaf(r, B + i * PAGE)!.entry));
      expect(pfnOf(leaf(r, A + 0x100000 + i * PAGE)!.entry)).toBe(pfnOf(leaf(r, B + 0x100000 + i * PAGE)!.entry));
    }
    expect(r.stats.shmem_file_alloc).toBe(3n);
    expect(r.stats.fault_sigbus).toBe(0n);
    clean(r);
  });

  it('ftruncate unmaps and drops the pages past the new size (SIGBUS after); a hole punch keeps private COW copies', async () => {
    const r = await runScripts({ cpus: 1, strategy: 0 }, () => [[
      { op: 'memfd', as: 'f' },
      { op: 'ftruncate', file: '$f', pages: 8 },
      { op: 'mmap', addr: A, len: 8 * PAGE, flags: MAP_SHARED | MAP_FIXED, file: '$f' },
      { op: 'mmap', addr: B, len: 8 * PAGE, flags: MAP_PRIVATE | MAP_FIXED, file: '$f' },
      { op: 'touch', addr: A, len: 8 * PAGE, write: 1 },
      { op: 'touch', addr: B, len: 2 * PAGE, write: 1 }, // private COW copies of pages 0, 1
      { op: 'touch', addr: B + 2 * PAGE, len: 2 * PAGE, write: 0 }, // pages 2, 3 mapped from the cache
      { op: 'punch', file: '$f', off: 0, pages: 4 },
      { op: 'ftruncate', file: '$f', pages: 6 },
      { op: 'access', addr: A + 7 * PAGE, write: 0 }, // past i_size: SIGBUS
    ]]);
    expect(r.ok, r.error).toBe(true);
    expect(r.out[0][9]).toBe(VM_FAULT_SIGBUS);
    // the private copies survive the punch; the shared and cache-backed PTEs of 0..3 are gone, 6..7 truncated
    expect(leaf(r, B)).toBeDefined();
    expect(leaf(r, B + PAGE)).toBeDefined();
    for (const va of [A, A + 3 * PAGE, B + 2 * PAGE, B + 3 * PAGE, A + 6 * PAGE, A + 7 * PAGE]) expect(leaf(r, va), va.toString(16)).toBeUndefined();
    expect(leaf(r, A + 5 * PAGE)).toBeDefined();
    expect(r.stats.shmem_truncate_page).toBe(6n);
    expect(rss(r)).toEqual({ anon: 2, file: 2 });
    clean(r);
  });
});

/** one CPU maps, registers and resolves without any fault: the install cases */
async function install(steps: Record<string, unknown>[]) {
  const r = await runScripts({ cpus: 1, strategy: 0 }, () => [steps as never]);
  expect(r.ok, r.error).toBe(true);
  return r;
}

// Linux 6.12 mfill_atomic_install_pte(): every installed PTE is dirty (since 6.0 "mm/shmem: unconditionally set pte
// dirty in mfill_atomic_install_pte"); the review's 5.13 rule (dirty iff writable or not in the cache) is gone
describe('UFFDIO_COPY / CONTINUE: the five install cases of mfill_atomic_install_pte()', () => {
  for (const vmWrite of [true, false]) {
    const prot = vmWrite ? RW : PROT_READ;
    const w = vmWrite ? 'VM_WRITE' : '!VM_WRITE';

    it(`case 1, anon private COPY (${w}): new anon page, writable iff VM_WRITE, dirty`, async () => {
      const r = await install([
        { op: 'mmap', addr: A, len: 4 * PAGE, flags: ANON | MAP_FIXED, prot },
        { op: 'userfaultfd', as: 'u' },
        { op: 'uffdRegister', ctx: '$u', addr: A, len: 4 * PAGE, mode: MISSING },
        { op: 'uffdCopy', ctx: '$u', addr: A },
        { op: 'uffdCopy', ctx: '$u', addr: A }, // present: -EEXIST
        { op: 'uffdCopy', ctx: '$u', addr: B }, // not registered / no VMA: -ENOENT
        { op: 'uffdCopy', ctx: '$u', addr: A + 1 }, // unaligned: -EINVAL
        // the source buffer is mapped but not faulted in: copy_from_user fails, the copy faults it in and retries
        { op: 'mmap', addr: B, len: PAGE, flags: ANON | MAP_FIXED },
        { op: 'uffdCopy', ctx: '$u', addr: A + PAGE, src: B },
        { op: 'uffdWake', ctx: '$u', addr: A, len: 2 * PAGE }, // nobody waits: wakes none
        { op: 'uffdWake', ctx: '$u', addr: A, len: 0 }, // -EINVAL
      ]);
      expect(r.out[0].slice(3)).toEqual([0, EEXIST, ENOENT, EINVAL, B, 0, 0, EINVAL]);
      expect(r.stats.uffd_wake).toBe(2n);
      expect(r.stats.uffd_copy_retry).toBe(1n);
      const e = leaf(r, A)!.entry;
      expect(bits(e)).toEqual({ present: true, write: vmWrite, dirty: true, uffdWp: false });
      expect(frameFlags(r, pfnOf(e)) & r.m.C.PG_ANON).toBeTruthy();
      expect(rss(r)).toEqual({ anon: 2, file: 0 });
      expect(r.stats.uffd_eexist).toBe(1n);
      expect(r.stats.uffd_enoent).toBe(1n);
      clean(r);
    });

    it(`case 2, shmem private COPY (${w}): an anon page, no shmem page, writable iff VM_WRITE, dirty`, async () => {
      const r = await install([
        { op: 'memfd', as: 'f' }, { op: 'ftruncate', file: '$f', pages: 4 },
        { op: 'mmap', addr: A, len: 4 * PAGE, flags: MAP_PRIVATE | MAP_FIXED, file: '$f', prot },
        { op: 'userfaultfd', as: 'u' },
        { op: 'uffdRegister', ctx: '$u', addr: A, len: 4 * PAGE, mode: MISSING },
        { op: 'uffdCopy', ctx: '$u', addr: A },
        { op: 'uffdZeropage', ctx: '$u', addr: A + PAGE },
      ]);
      expect(r.out[0].slice(5)).toEqual([0, 0]);
      const e = leaf(r, A)!.entry;
      expect(bits(e)).toEqual({ present: true, write: vmWrite, dirty: true, uffdWp: false });
      expect(frameFlags(r, pfnOf(e)) & r.m.C.PG_ANON).toBeTruthy();
      expect(r.m.host.core.pagecache_peek(r.out[0][0] as number, 0)).toBe(0); // the file has no page there
      const z = leaf(r, A + PAGE)!.entry; // ZEROPAGE: the zero page, read-only
      expect(pfnOf(z)).toBe(0);
      expect((z & _PAGE_SPECIAL) !== 0n && (z & _PAGE_RW) === 0n).toBe(true);
      expect(rss(r)).toEqual({ anon: 1, file: 0 });
      clean(r);
    });

    it(`case 3, shmem private CONTINUE (${w}): the cache page, never writable, dirty; -EFAULT on a hole`, async () => {
      const r = await install([
        { op: 'memfd', as: 'f' }, { op: 'ftruncate', file: '$f', pages: 4 },
        { op: 'mmap', addr: B, len: 4 * PAGE, flags: MAP_SHARED | MAP_FIXED, file: '$f' },
        { op: 'touch', addr: B, len: PAGE, write: 1 }, // page 0 in the cache, through the second mapping
        { op: 'mmap', addr: A, len: 4 * PAGE, flags: MAP_PRIVATE | MAP_FIXED, file: '$f', prot },
        { op: 'userfaultfd', as: 'u' },
        { op: 'uffdRegister', ctx: '$u', addr: A, len: 4 * PAGE, mode: MINOR },
        { op: 'uffdContinue', ctx: '$u', addr: A },
        { op: 'uffdContinue', ctx: '$u', addr: A + PAGE }, // a hole: -EFAULT (SGP_READ)
        { op: 'uffdContinue', ctx: '$u', addr: A }, // -EEXIST
      ]);
      expect(r.out[0].slice(7)).toEqual([0, EFAULT, EEXIST]);
      const e = leaf(r, A)!.entry;
      expect(bits(e)).toEqual({ present: true, write: false, dirty: true, uffdWp: false });
      expect(pfnOf(e)).toBe(pfnOf(leaf(r, B)!.entry));
      expect(rss(r)).toEqual({ anon: 0, file: 2 });
      clean(r);
    });

    it(`case 4, shmem shared CONTINUE (${w}): the cache page, writable iff VM_WRITE, dirty`, async () => {
      const r = await install([
        { op: 'memfd', as: 'f' }, { op: 'ftruncate', file: '$f', pages: 4 },
        { op: 'mmap', addr: B, len: 4 * PAGE, flags: MAP_SHARED | MAP_FIXED, file: '$f' },
        { op: 'touch', addr: B, len: PAGE, write: 0 },
        { op: 'mmap', addr: A, len: 4 * PAGE, flags: MAP_SHARED | MAP_FIXED, file: '$f', prot },
        { op: 'userfaultfd', as: 'u' },
        { op: 'uffdRegister', ctx: '$u', addr: A, len: 4 * PAGE, mode: MINOR },
        { op: 'uffdContinue', ctx: '$u', addr: A },
      ]);
      expect(r.out[0][7]).toBe(0);
      const e = leaf(r, A)!.entry;
      expect(bits(e)).toEqual({ present: true, write: vmWrite, dirty: true, uffdWp: false });
      expect(pfnOf(e)).toBe(pfnOf(leaf(r, B)!.entry));
      expect(rss(r)).toEqual({ anon: 0, file: 2 });
      clean(r);
    });

    it(`case 5, shmem shared COPY (${w}): a new page into the cache, writable iff VM_WRITE, dirty; -EFAULT past i_size`, async () => {
      const r = await install([
        { op: 'memfd', as: 'f' }, { op: 'ftruncate', file: '$f', pages: 4 },
        { op: 'mmap', addr: A, len: 4 * PAGE, flags: MAP_SHARED | MAP_FIXED, file: '$f', prot },
        { op: 'userfaultfd', as: 'u' },
        { op: 'uffdRegister', ctx: '$u', addr: A, len: 4 * PAGE, mode: MISSING },
        { op: 'uffdCopy', ctx: '$u', addr: A },
        { op: 'ftruncate', file: '$f', pages: 2 },
        { op: 'uffdCopy', ctx: '$u', addr: A + 3 * PAGE }, // past i_size
        { op: 'uffdCopy', ctx: '$u', addr: A, len: 4 * PAGE }, // page 0 present: nothing done, -EEXIST
      ]);
      expect(r.out[0].slice(5)).toEqual([0, 0, EFAULT, EEXIST]);
      const e = leaf(r, A)!.entry;
      expect(bits(e)).toEqual({ present: true, write: vmWrite, dirty: true, uffdWp: false });
      expect(r.m.host.core.pagecache_peek(r.out[0][0] as number, 0)).toBe(pfnOf(e) + 1);
      expect(frameFlags(r, pfnOf(e)) & r.m.C.PG_ANON).toBe(0);
      expect(rss(r)).toEqual({ anon: 0, file: 1 });
      clean(r);
    });
  }

  it('UFFDIO_COPY_MODE_WP: the uffd-wp bit instead of write; WP mode needs a WP registration (-EINVAL)', async () => {
    const r = await install([
      { op: 'mmap', addr: A, len: 4 * PAGE, flags: ANON | MAP_FIXED },
      { op: 'userfaultfd', as: 'u' },
      { op: 'uffdRegister', ctx: '$u', addr: A, len: 2 * PAGE, mode: MISSING | WP },
      { op: 'uffdCopy', ctx: '$u', addr: A, mode: 2 },
      { op: 'uffdRegister', ctx: '$u', addr: A + 2 * PAGE, len: 2 * PAGE, mode: MISSING },
      { op: 'uffdCopy', ctx: '$u', addr: A + 2 * PAGE, mode: 2 },
      { op: 'uffdRegister', ctx: '$u', addr: A, len: 4 * PAGE, mode: MINOR }, // MINOR needs shmem
      { op: 'userfaultfd', as: 'v' },
      { op: 'uffdRegister', ctx: '$v', addr: A, len: 4 * PAGE, mode: MISSING }, // another context owns it
    ]);
    expect(r.out[0].slice(3)).toEqual([0, 0, EINVAL, EINVAL, 1, EBUSY]);
    expect(bits(leaf(r, A)!.entry)).toEqual({ present: true, write: false, dirty: true, uffdWp: true });
    clean(r);
  });
});

describe('fault delivery', () => {
  // per-VMA locks: 6.4 refuses a userfaultfd-armed VMA at lookup; since 6.6 ("mm: handle userfaults
  // under VMA lock") the fault runs under the VMA lock and handle_userfault() releases it
  for (const [strategy, kernel] of [[0], [1], [2, '6.4'], [2, '6.15']] as [number, PervmaKernel?][]) {
    it(`a MISSING fault waits for the handler's UFFDIO_COPY (strategy ${['mmap_lock', 'spf', 'pervma'][strategy]}${kernel ? ` ${kernel}` : ''})`, async () => {
      const r = await runScripts({ cpus: 2, strategy, ...(kernel ? { settings: { pervmaKernel: kernel } } : {}) }, (f) => [
        [
          { op: 'mmap', addr: A, len: 8 * PAGE, flags: ANON | MAP_FIXED },
          { op: 'touch', addr: A + 4 * PAGE, len: 2 * PAGE, write: 1 }, // an anon_vma (1st), then SPF / per-VMA locks take the 2nd
          { op: 'userfaultfd', as: 'u' },
          { op: 'uffdRegister', ctx: '$u', addr: A, len: 8 * PAGE, mode: MISSING },
          { op: 'set', flag: f[0] },
          { op: 'uffdRead', ctx: '$u' },
          { op: 'uffdCopy', ctx: '$u', addr: A + PAGE },
        ],
        [
          { op: 'wait', flag: f[0] },
          { op: 'access', addr: A + PAGE + 8, write: 1 },
          { op: 'access', addr: A + PAGE, write: 0 },
        ],
      ]);
      expect(r.ok, r.error).toBe(true);
      expect(r.out[0][5]).toEqual({ address: A + PAGE, flags: 1 });
      expect(r.out[1].slice(1)).toEqual([0, 0]);
      expect(r.stats.uffd_fault).toBe(1n);
      expect(r.stats.uffd_woken).toBe(1n);
      expect(r.stats.uffd_fault_wait_cycles).toBeGreaterThan(0n);
      if (strategy === 1) expect(r.stats.spf_abort_uffd_missing).toBe(1n);
      if (strategy === 2) expect(r.stats.pervma_abort_uffd).toBe(kernel === '6.4' ? 1n : 0n);
      // 6.4: the first touch (no anon_vma) and the registered fault fall back; 6.15: the registered
      // fault ran under the VMA lock, handle_userfault() dropped it, and the retry took mmap_lock
      if (strategy === 2) expect(r.stats.pervma_fallback).toBe(kernel === '6.4' ? 2n : 1n);
      // the touches before the registration: 6.4 needs an anon_vma first (the 2nd), 6.15 sets it up under a trylock (both)
      expect(r.stats.pervma_success).toBe(strategy === 2 ? (kernel === '6.4' ? 1n : 2n) : 0n);
      expect(r.stats.spf_success).toBe(strategy === 1 ? 1n : 0n);
      expect(bits(leaf(r, A + PAGE)!.entry).write).toBe(true);
      clean(r);
    });
  }

  it('UFFD_FEATURE_SIGBUS answers with SIGBUS, no message', async () => {
    const r = await runScripts({ cpus: 1, strategy: 0 }, () => [[
      { op: 'mmap', addr: A, len: 2 * PAGE, flags: ANON | MAP_FIXED },
      { op: 'userfaultfd', features: 1 << 7, as: 'u' },
      { op: 'uffdRegister', ctx: '$u', addr: A, len: 2 * PAGE, mode: MISSING },
      { op: 'access', addr: A, write: 0 },
    ]]);
    expect(r.ok, r.error).toBe(true);
    expect(r.out[0][3]).toBe(VM_FAULT_SIGBUS);
    expect(r.stats.uffd_fault_sigbus).toBe(1n);
    expect(r.stats.uffd_fault).toBe(0n);
  });

  it('a handler that never answers: deadlock reported as a lost wake-up naming the waiting CPUs and the uffd', async () => {
    const r = await runScripts({ cpus: 3, strategy: 0 }, (f) => [
      [
        { op: 'mmap', addr: A, len: 8 * PAGE, flags: ANON | MAP_FIXED },
        { op: 'userfaultfd', as: 'u' },
        { op: 'uffdRegister', ctx: '$u', addr: A, len: 8 * PAGE, mode: MISSING },
        { op: 'set', flag: f[0] },
      ],
      [{ op: 'wait', flag: f[0] }, { op: 'access', addr: A, write: 1 }],
      [{ op: 'wait', flag: f[0] }, { op: 'access', addr: A + 3 * PAGE, write: 0 }],
    ]);
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/^lost wake-up: cpu 1, cpu 2 wait in handle_userfault\(\) for userfaultfd 0 and no handler answers/);
    expect(r.deadlock!.map((e) => e.cpu)).toEqual([1, 2]);
    expect(r.deadlock![0].waitsFor).toMatch(/resolution of 0x1000000000 from userfaultfd 0/);
  });

  it('MINOR: a fault on a page already in the shmem cache goes to the handler, UFFDIO_CONTINUE maps it', async () => {
    const r = await runScripts({ cpus: 2, strategy: 0 }, (f) => [
      [
        { op: 'memfd', as: 'f' }, { op: 'ftruncate', file: '$f', pages: 4 },
        { op: 'mmap', addr: B, len: 4 * PAGE, flags: MAP_SHARED | MAP_FIXED, file: '$f' },
        { op: 'touch', addr: B, len: 4 * PAGE, write: 1 }, // pre-populate through the second mapping
        { op: 'mmap', addr: A, len: 4 * PAGE, flags: MAP_SHARED | MAP_FIXED, file: '$f' },
        { op: 'userfaultfd', as: 'u' },
        { op: 'uffdRegister', ctx: '$u', addr: A, len: 4 * PAGE, mode: MINOR },
        { op: 'set', flag: f[0] },
        { op: 'uffdHandle', ctx: '$u', count: 2, mode: 1 },
      ],
      [{ op: 'wait', flag: f[0] }, { op: 'access', addr: A + 2 * PAGE, write: 0 }, { op: 'access', addr: A + 3 * PAGE, write: 1 }],
    ]);
    expect(r.ok, r.error).toBe(true);
    expect(r.out[0][8]).toBe(2);
    expect(r.out[1].slice(1)).toEqual([0, 0]);
    expect(r.stats.uffd_fault_minor).toBe(2n);
    expect(pfnOf(leaf(r, A + 2 * PAGE)!.entry)).toBe(pfnOf(leaf(r, B + 2 * PAGE)!.entry));
    clean(r);
  });

  for (const shmem of [false, true]) {
    it(`WP (${shmem ? 'shmem' : 'anon'}): a write to a uffd-wp page waits until UFFDIO_WRITEPROTECT clears it`, async () => {
      const map = shmem ? { flags: SHARED_ANON | MAP_FIXED } : { flags: ANON | MAP_FIXED };
      const r = await runScripts({ cpus: 2, strategy: 1 }, (f) => [
        [
          { op: 'mmap', addr: A, len: 4 * PAGE, ...map },
          { op: 'touch', addr: A, len: 4 * PAGE, write: 1 },
          { op: 'userfaultfd', as: 'u' },
          { op: 'uffdRegister', ctx: '$u', addr: A, len: 4 * PAGE, mode: WP },
          { op: 'uffdWriteprotect', ctx: '$u', addr: A, len: 4 * PAGE, mode: 1 },
          { op: 'set', flag: f[0] },
          { op: 'uffdRead', ctx: '$u' },
          { op: 'uffdWriteprotect', ctx: '$u', addr: A + PAGE, len: PAGE, mode: 0 },
        ],
        [{ op: 'wait', flag: f[0] }, { op: 'access', addr: A + PAGE, write: 0 }, { op: 'access', addr: A + PAGE, write: 1 }],
      ]);
      expect(r.ok, r.error).toBe(true);
      expect(r.out[0][6]).toEqual({ address: A + PAGE, flags: 1 | 2 });
      expect(r.out[1].slice(1)).toEqual([0, 0]);
      expect(r.stats.uffd_fault_wp).toBe(1n);
      if (!shmem) expect(r.stats.spf_abort_uffd_wp).toBe(1n);
      expect(bits(leaf(r, A + PAGE)!.entry)).toMatchObject({ write: true, uffdWp: false });
      expect(bits(leaf(r, A)!.entry)).toMatchObject({ write: false, uffdWp: true });
      clean(r);
    });
  }
});

describe('registration racing a speculative fault (the SPF v12 review rule)', () => {
  for (const [rule, counter] of [[0, 'spf_uffd_race_ignored'], [1, 'spf_abort_uffd_race']] as const) {
    it(`rule ${rule === 0 ? "the series' (ignore this time)" : "the reviewer's (abort)"}: counted, state consistent`, async () => {
      const FLAG_SPF_UFFD_STALL = 32;
      const r = await runScripts({ cpus: 2, strategy: 1, flags: FLAG_SPF_UFFD_STALL, settings: { uffdSpfRace: rule === 0 ? 'ignore' : 'abort' } }, (f) => [
        [
          { op: 'mmap', addr: A, len: 8 * PAGE, flags: ANON | MAP_FIXED },
          { op: 'touch', addr: A + 4 * PAGE, len: PAGE, write: 0 }, // (read: the zero page; the anon_vma comes with a write below)
          { op: 'touch', addr: A + 5 * PAGE, len: PAGE, write: 1 },
          { op: 'userfaultfd', as: 'u' },
          { op: 'set', flag: f[0] },
          { op: 'charge', cycles: 20_000 }, // CPU 1's speculative fault is past its start check, stalled under the PTL
          { op: 'uffdRegister', ctx: '$u', addr: A, len: 8 * PAGE, mode: MISSING },
          { op: 'set', flag: f[1] },
          ...(rule === 1 ? [{ op: 'uffdHandle', ctx: '$u', count: 1 }] : []),
        ],
        [{ op: 'wait', flag: f[0] }, { op: 'access', addr: A, write: 1 }, { op: 'wait', flag: f[1] }],
      ]);
      expect(r.ok, r.error).toBe(true);
      expect(r.stats[counter]).toBe(1n);
      // ignored: the speculative fault installed its page without the handler; abort: the classic retry delivered it
      expect(r.stats.uffd_fault).toBe(rule === 0 ? 0n : 1n);
      expect(bits(leaf(r, A)!.entry)).toMatchObject({ present: true, write: true });
      clean(r);
    });
  }
});

describe('workload postcopy', () => {
  const point = (workload: string, cpus: number) => runPoint({ workload, strategy: 'spf', cpus, profile: 'default', mode: 'deterministic', seed: 1, quantum: 10_000, vcycles: 4_000_000 });

  it('vCPUs wait for handler CPUs: latency percentiles in the JSON and CSV; more handlers, lower latency', async () => {
    const one = await point('postcopy', 5);
    const four = await point('postcopy', 8);
    for (const p of [one, four]) {
      expect(p.ok, p.error ?? '').toBe(true);
      expect(p.params.vcpus).toBe(4);
      expect(p.ops).toBeGreaterThan(600); // 4 x 200 random touches of 8192 pages: nearly all first touches
      expect(Number(p.stats.uffd_fault)).toBeGreaterThanOrEqual(p.ops!);
      const m = p.metrics;
      expect(m.uffdFaults).toBe(Number(p.stats.uffd_fault));
      expect(0 < m.latencyP50Cycles && m.latencyP50Cycles <= m.latencyP99Cycles && m.latencyP99Cycles <= m.latencyMaxCycles).toBe(true);
      expect(m.latencyP50Cycles).toBeGreaterThanOrEqual(10_000); // at least the handler's per-message cost
    }
    expect(one.params.handlers).toBe(1);
    expect(four.params.handlers).toBe(4);
    expect(four.metrics.latencyP99Cycles).toBeLessThan(one.metrics.latencyP99Cycles);
    const csv = toCsv([one, four]).split('\n');
    const cols = csv[0].split(',');
    const row = csv[1].split(',');
    expect(row[cols.indexOf('uffd_handlers')]).toBe('1');
    expect(Number(row[cols.indexOf('uffd_latency_p99_cycles')])).toBe(one.metrics.latencyP99Cycles);
  }, 60_000);

  it('postcopy-minor resolves with UFFDIO_CONTINUE over a pre-populated shmem file', async () => {
    const p = await point('postcopy-minor', 5);
    expect(p.ok, p.error ?? '').toBe(true);
    expect(Number(p.stats.uffd_fault_minor)).toBeGreaterThan(600);
    expect(Number(p.stats.uffd_continue)).toBe(p.ops);
    expect(Number(p.stats.uffd_copy)).toBe(0);
    expect(Number(p.stats.fault_file_shared)).toBe(0); // the populating faults were before time 0
  }, 60_000);

  it('needs 2 CPUs: one clear error', async () => {
    await expect(point('postcopy', 1)).rejects.toThrow(/workload postcopy needs at least 2 CPUs \(got 1\)/);
  });
});
