import { describe, it, expect } from 'vitest';
import { runScripts, dumpLeaves, PAGE, ANON, MAP_SHARED, MAP_PRIVATE, MAP_ANONYMOUS, MAP_FIXED, PROT_READ, RW, type ScriptRun, type Script } from '../support/fault-util.js';
import { checkInvariants, formatViolations } from '../../src/checker.js';
import { _PAGE_PRESENT, _PAGE_RW, _PAGE_DIRTY, _PAGE_UFFD_WP } from '../../src/pte.js';

// Issue 21 items 3-7: userfaultfd's ioctl rules and errors as Linux 6.12
// (fs/userfaultfd.c, mm/userfaultfd.c), one test per item.

const A = 0x10_0000_0000;
const B = 0x10_4000_0000;
const SHARED_ANON = MAP_SHARED | MAP_ANONYMOUS;
const MISSING = 1, WP = 2, MINOR = 4;
const ENOENT = -2, EINVAL = -22;
const UFFD_FEATURE_THREAD_ID = 1 << 8, UFFD_FEATURE_EXACT_ADDRESS = 1 << 11, UFFD_FEATURE_SIGBUS = 1 << 7;
const leaf = (r: ScriptRun, va: number) => dumpLeaves(r.m).find((l) => l.va === BigInt(va));
const bits = (e: bigint) => ({ present: (e & _PAGE_PRESENT) !== 0n, write: (e & _PAGE_RW) !== 0n, dirty: (e & _PAGE_DIRTY) !== 0n, uffdWp: (e & _PAGE_UFFD_WP) !== 0n });
const clean = (r: ScriptRun) => { const v = checkInvariants(r.m, { tlb: false }); expect(v, formatViolations(v)).toEqual([]); };
const one = (steps: Script, strategy = 0) => runScripts({ cpus: 1, strategy }, () => [steps]);

describe('item 3: UFFDIO_API accepts every bit of UFFD_API_FEATURES (Linux 6.12)', () => {
  it('each of the 17 feature bits alone, and all of them, give a context; bit 17 is -EINVAL', async () => {
    // a machine has MAX_UFFD (8) contexts: in groups that fit
    const groups = [[0, 1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12, 13], [14, 15, 16]];
    for (const g of groups) {
      const rr = await one(g.map((b) => ({ op: 'userfaultfd', features: 1 << b })));
      expect(rr.ok, rr.error).toBe(true);
      for (const v of rr.out[0]) expect(v).toBeGreaterThanOrEqual(0);
    }
    const rr = await one([{ op: 'userfaultfd', features: (1 << 17) - 1 }, { op: 'userfaultfd', features: 1 << 17 }, { op: 'userfaultfd', features: 0x80000000 }]);
    expect(rr.out[0]).toEqual([0, EINVAL, EINVAL]);
  });

  for (const [features, what] of [[0, 'neither'], [UFFD_FEATURE_THREAD_ID | UFFD_FEATURE_EXACT_ADDRESS, 'THREAD_ID and EXACT_ADDRESS']] as const) {
    it(`the message with ${what}: the address ${features ? 'exact' : 'page aligned'}, ptid ${features ? 'the faulting CPU' : '0'}`, async () => {
      const r = await runScripts({ cpus: 2, strategy: 0 }, (f) => [
        [
          { op: 'mmap', addr: A, len: 4 * PAGE, flags: ANON | MAP_FIXED },
          { op: 'userfaultfd', features, as: 'u' },
          { op: 'uffdRegister', ctx: '$u', addr: A, len: 4 * PAGE, mode: MISSING },
          { op: 'set', flag: f[0] },
          { op: 'uffdReadMsg', ctx: '$u' },
          { op: 'uffdZeropage', ctx: '$u', addr: A + PAGE },
        ],
        [{ op: 'wait', flag: f[0] }, { op: 'access', addr: A + PAGE + 0x123, write: 0 }],
      ]);
      expect(r.ok, r.error).toBe(true);
      expect(r.out[0][4]).toEqual({ address: features ? A + PAGE + 0x123 : A + PAGE, flags: 0, tid: features ? 1 : 0 });
      clean(r);
    });
  }
});

describe('item 4: register, unregister, write-protect and copy rules', () => {
  it('(a) re-registering with a subset of the modes keeps the others (the VMA is already a superset)', async () => {
    const r = await one([
      { op: 'mmap', addr: A, len: 4 * PAGE, flags: ANON | MAP_FIXED },
      { op: 'touch', addr: A, len: 4 * PAGE, write: 1 },
      { op: 'userfaultfd', as: 'u' },
      { op: 'uffdRegister', ctx: '$u', addr: A, len: 4 * PAGE, mode: MISSING | WP },
      { op: 'uffdWriteprotect', ctx: '$u', addr: A, len: 4 * PAGE, mode: 1 },
      { op: 'uffdRegister', ctx: '$u', addr: A, len: 4 * PAGE, mode: MISSING },
      { op: 'uffdWriteprotect', ctx: '$u', addr: A, len: PAGE, mode: 0 }, // still registered WP
    ]);
    expect(r.out[0].slice(3)).toEqual([0, 0, 0, 0]);
    expect(bits(leaf(r, A + PAGE)!.entry).uffdWp).toBe(true);
    expect(bits(leaf(r, A)!.entry).uffdWp).toBe(false);
    clean(r);
  });

  it('(b) UFFDIO_WRITEPROTECT on a VMA not registered WP is -ENOENT (mwriteprotect_range); so is a range with no VMA', async () => {
    const r = await one([
      { op: 'mmap', addr: A, len: 4 * PAGE, flags: ANON | MAP_FIXED },
      { op: 'userfaultfd', as: 'u' },
      { op: 'uffdRegister', ctx: '$u', addr: A, len: 4 * PAGE, mode: MISSING },
      { op: 'uffdWriteprotect', ctx: '$u', addr: A, len: PAGE, mode: 1 },
      { op: 'uffdWriteprotect', ctx: '$u', addr: B, len: PAGE, mode: 1 },
    ]);
    expect(r.out[0].slice(3)).toEqual([ENOENT, ENOENT]);
  });

  it('(c) UFFDIO_WRITEPROTECT with mode WP | DONTWAKE is -EINVAL', async () => {
    const r = await one([
      { op: 'mmap', addr: A, len: 4 * PAGE, flags: ANON | MAP_FIXED },
      { op: 'userfaultfd', as: 'u' },
      { op: 'uffdRegister', ctx: '$u', addr: A, len: 4 * PAGE, mode: WP },
      { op: 'uffdWriteprotect', ctx: '$u', addr: A, len: PAGE, mode: 1 | 2 },
      { op: 'uffdWriteprotect', ctx: '$u', addr: A, len: PAGE, mode: 2 }, // clear without wake: fine
    ]);
    expect(r.out[0].slice(3)).toEqual([EINVAL, 0]);
  });

  it('(d) UFFDIO_UNREGISTER over a range with a VMA that cannot be registered (a regular file) is -EINVAL and changes nothing', async () => {
    const r = await one([
      { op: 'mmap', addr: A, len: 4 * PAGE, flags: ANON | MAP_FIXED },
      { op: 'mmap', addr: A + 4 * PAGE, len: 4 * PAGE, flags: MAP_PRIVATE | MAP_FIXED, file: 0 },
      { op: 'userfaultfd', as: 'u' },
      { op: 'uffdRegister', ctx: '$u', addr: A, len: 4 * PAGE, mode: MISSING },
      { op: 'uffdRegister', ctx: '$u', addr: A, len: 8 * PAGE, mode: MISSING }, // the file VMA: -EINVAL
      { op: 'uffdUnregister', ctx: '$u', addr: A, len: 8 * PAGE },
      { op: 'uffdZeropage', ctx: '$u', addr: A }, // still registered
      { op: 'uffdUnregister', ctx: '$u', addr: A, len: 4 * PAGE },
    ]);
    expect(r.out[0].slice(3)).toEqual([0, EINVAL, EINVAL, 0, 0]);
    clean(r);
  });

  it('(e) COPY / ZEROPAGE / WRITEPROTECT need only a registered VMA, any context; UNREGISTER clears another context\'s VMA', async () => {
    const r = await one([
      { op: 'mmap', addr: A, len: 4 * PAGE, flags: ANON | MAP_FIXED },
      { op: 'userfaultfd', as: 'u' },
      { op: 'userfaultfd', as: 'v' },
      { op: 'uffdRegister', ctx: '$v', addr: A, len: 4 * PAGE, mode: MISSING | WP },
      { op: 'uffdCopy', ctx: '$u', addr: A },
      { op: 'uffdZeropage', ctx: '$u', addr: A + PAGE },
      { op: 'uffdWriteprotect', ctx: '$u', addr: A, len: PAGE, mode: 1 },
      { op: 'uffdUnregister', ctx: '$u', addr: A, len: 4 * PAGE },
      { op: 'uffdCopy', ctx: '$v', addr: A + 2 * PAGE }, // nothing registered any more
    ]);
    expect(r.out[0].slice(4)).toEqual([0, 0, 0, 0, ENOENT]);
    // unregistering WP cleared the uffd-wp bit
    expect(bits(leaf(r, A)!.entry).uffdWp).toBe(false);
    clean(r);
  });
});

describe('item 5: userfault retries are unbounded', () => {
  it('a handler that answers 40 messages with UFFDIO_WAKE only, then copies: the access completes, 41 userfaults', async () => {
    const wakes: Script = [];
    for (let i = 0; i < 40; i++) wakes.push({ op: 'uffdRead', ctx: '$u' }, { op: 'uffdWake', ctx: '$u', addr: A, len: PAGE });
    const r = await runScripts({ cpus: 2, strategy: 0 }, (f) => [
      [
        { op: 'mmap', addr: A, len: 4 * PAGE, flags: ANON | MAP_FIXED },
        { op: 'userfaultfd', as: 'u' },
        { op: 'uffdRegister', ctx: '$u', addr: A, len: 4 * PAGE, mode: MISSING },
        { op: 'set', flag: f[0] },
        ...wakes,
        { op: 'uffdRead', ctx: '$u' },
        { op: 'uffdCopy', ctx: '$u', addr: A },
      ],
      [{ op: 'wait', flag: f[0] }, { op: 'access', addr: A, write: 1 }],
    ]);
    expect(r.ok, r.error).toBe(true);
    expect(r.out[1][1]).toBe(0);
    expect(r.stats.uffd_fault).toBe(41n);
    clean(r);
  });
});

describe('item 6: Linux 6.12 rules', () => {
  it('COPY with MODE_WP into a PROT_READ VMA sets uffd-wp (mfill_atomic_install_pte); after mprotect(RW) a write reaches the handler', async () => {
    const r = await runScripts({ cpus: 2, strategy: 0 }, (f) => [
      [
        { op: 'mmap', addr: A, len: 4 * PAGE, flags: ANON | MAP_FIXED, prot: PROT_READ },
        { op: 'userfaultfd', as: 'u' },
        { op: 'uffdRegister', ctx: '$u', addr: A, len: 4 * PAGE, mode: MISSING | WP },
        { op: 'uffdCopy', ctx: '$u', addr: A, mode: 2 },
        { op: 'mprotect', addr: A, len: 4 * PAGE, prot: RW },
        { op: 'set', flag: f[0] },
        { op: 'uffdRead', ctx: '$u' },
        { op: 'uffdWriteprotect', ctx: '$u', addr: A, len: PAGE, mode: 0 },
      ],
      [{ op: 'wait', flag: f[0] }, { op: 'access', addr: A, write: 1 }],
    ]);
    expect(r.ok, r.error).toBe(true);
    expect(r.out[0][6]).toEqual({ address: A, flags: 1 | 2 });
    expect(r.stats.uffd_fault_wp).toBe(1n);
    expect(bits(leaf(r, A)!.entry)).toEqual({ present: true, write: true, dirty: true, uffdWp: false });
    clean(r);
  });

  it('UFFDIO_WRITEPROTECT spans VMAs (6.2+), holes skipped; a VMA not registered WP in the range stops it with -ENOENT', async () => {
    const r = await one([
      { op: 'mmap', addr: A, len: 8 * PAGE, flags: ANON | MAP_FIXED },
      { op: 'touch', addr: A, len: 8 * PAGE, write: 1 },
      { op: 'mprotect', addr: A + 2 * PAGE, len: 2 * PAGE, prot: PROT_READ }, // three VMAs
      { op: 'munmap', addr: A + 5 * PAGE, len: PAGE }, // a hole
      { op: 'userfaultfd', as: 'u' },
      { op: 'uffdRegister', ctx: '$u', addr: A, len: 8 * PAGE, mode: WP },
      { op: 'uffdWriteprotect', ctx: '$u', addr: A, len: 8 * PAGE, mode: 1 },
      { op: 'mmap', addr: B, len: 2 * PAGE, flags: ANON | MAP_FIXED },
      { op: 'touch', addr: B, len: 2 * PAGE, write: 1 },
      { op: 'uffdRegister', ctx: '$u', addr: B, len: PAGE, mode: WP },
      { op: 'uffdWriteprotect', ctx: '$u', addr: B, len: 2 * PAGE, mode: 1 },
    ]);
    expect(r.out[0][6]).toBe(0);
    expect(r.out[0][10]).toBe(ENOENT);
    for (const p of [0, 1, 2, 3, 4, 6, 7]) expect(bits(leaf(r, A + p * PAGE)!.entry).uffdWp, `page ${p}`).toBe(true);
    expect(bits(leaf(r, B)!.entry).uffdWp).toBe(true); // done before the unregistered VMA
    expect(bits(leaf(r, B + PAGE)!.entry).uffdWp).toBe(false);
    clean(r);
  });

  it('UFFDIO_COPY from an unaligned source (6.6+): accepted; an unmapped source spanning two pages faults both in', async () => {
    const r = await one([
      { op: 'mmap', addr: A, len: 4 * PAGE, flags: ANON | MAP_FIXED },
      { op: 'mmap', addr: B, len: 4 * PAGE, flags: ANON | MAP_FIXED },
      { op: 'userfaultfd', as: 'u' },
      { op: 'uffdRegister', ctx: '$u', addr: A, len: 4 * PAGE, mode: MISSING },
      { op: 'uffdCopy', ctx: '$u', addr: A, src: B + 0x10, len: 2 * PAGE },
      { op: 'uffdCopy', ctx: '$u', addr: A + 2 * PAGE, src: 0x10, len: PAGE }, // below mmap_min_addr: -EINVAL
    ]);
    expect(r.out[0].slice(4)).toEqual([0, EINVAL]);
    expect(r.stats.uffd_copy_retry).toBeGreaterThanOrEqual(1n);
    for (const p of [0, 1, 2]) expect(bits(leaf(r, B + p * PAGE)!.entry).present, `source page ${p}`).toBe(true);
    expect(bits(leaf(r, A + PAGE)!.entry).present).toBe(true);
    clean(r);
  });
});

describe('item 7: userfaultfd_must_wait() re-checks the PTE after queueing', () => {
  for (const strategy of [0, 1, 2]) {
    it(`a resolution that lands between the fault's PTE check and its queueing: the fault does not park (strategy ${strategy})`, async () => {
      const FLAG_UFFD_QUEUE_STALL = 64;
      const r = await runScripts({ cpus: 2, strategy, flags: FLAG_UFFD_QUEUE_STALL }, (f) => [
        [
          { op: 'mmap', addr: A, len: 4 * PAGE, flags: ANON | MAP_FIXED },
          { op: 'userfaultfd', as: 'u' },
          { op: 'uffdRegister', ctx: '$u', addr: A, len: 4 * PAGE, mode: MISSING },
          { op: 'set', flag: f[0] },
          { op: 'charge', cycles: 20_000 }, // the faulting CPU is inside its 50,000-cycle stall now
          { op: 'uffdCopy', ctx: '$u', addr: A }, // nobody queued yet: wakes nobody
        ],
        [{ op: 'wait', flag: f[0] }, { op: 'access', addr: A, write: 1 }],
      ]);
      expect(r.ok, r.error).toBe(true);
      expect(r.out[0][5]).toBe(0);
      expect(r.stats.uffd_woken).toBe(0n);
      expect(r.stats.uffd_fault).toBe(1n);
      expect(r.stats.uffd_msg_read).toBe(0n);
      clean(r);
    });
  }
});
