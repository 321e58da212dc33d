// The cases of the kernel's tools/testing/selftests/mm/uffd-unit-tests.c (Linux 6.12) that one mm of
// anonymous and shmem memory can express, re-expressed through the public API (createMachine + custom
// programs, userfaultfd ops) and run against the built core under mmap_lock, spf and pervma. Each test
// names the kernel test and the memory type as uffd-unit-tests prints them ("zeropage on shmem"). The
// kernel cases that cannot be expressed, and why: README "userfaultfd and shmem".
import { describe, it, expect } from 'vitest';
import {
  createMachine, type Op, MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS,
  UFFD_FEATURE_PAGEFAULT_FLAG_WP, UFFD_FEATURE_EVENT_FORK, UFFD_FEATURE_MISSING_HUGETLBFS, UFFD_FEATURE_MISSING_SHMEM, UFFD_FEATURE_SIGBUS,
  UFFD_FEATURE_MINOR_HUGETLBFS, UFFD_FEATURE_MINOR_SHMEM, UFFD_FEATURE_WP_HUGETLBFS_SHMEM, UFFD_FEATURE_WP_UNPOPULATED,
} from '../../src/index.js';
import { checkInvariants, formatViolations } from '../../src/checker.js';
import { dumpLeaves } from '../support/fault-util.js';
import { _PAGE_PRESENT, _PAGE_RW, _PAGE_UFFD_WP, _PAGE_SPECIAL } from '../../src/pte.js';

const PAGE = 4096;
const NR = 4; // nr_pages (the kernel uses 32 MiB; four pages express the same rules)
const SRC = 0x10_0000_0000, DST = 0x10_4000_0000, ALIAS = 0x10_8000_0000;
const EEXIST = -17, EINVAL = -22;
/** what an access answered by VM_FAULT_SIGBUS returns (src/programs.ts OpResult: the signal a process gets) */
const SIGBUS = 'SIGBUS';
const _UFFDIO_WAKE = 2, _UFFDIO_COPY = 3, _UFFDIO_ZEROPAGE = 4, _UFFDIO_WRITEPROTECT = 6, _UFFDIO_CONTINUE = 7;
const STRATEGIES = ['mmap_lock', 'spf', 'pervma'] as const;

type Mem = 'anon' | 'shmem';
/** uffd_test_ctx_init(): area_src (filled), area_dst (empty) and, for shmem, area_dst_alias (the same memfd mapped again) */
function allocate(mem: Mem, features: number): Op[] {
  const ops: Op[] = [];
  if (mem === 'anon') {
    ops.push({ op: 'map', addr: SRC, len: NR * PAGE, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED },
      { op: 'map', addr: DST, len: NR * PAGE, flags: MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED });
  } else {
    // shmem_allocate_area(): one memfd of 2 * bytes; src at offset 0, dst and its alias at offset bytes, all MAP_SHARED
    ops.push({ op: 'memfd', pages: 2 * NR, as: 'f' },
      { op: 'map', addr: SRC, len: NR * PAGE, flags: MAP_SHARED | MAP_FIXED, file: '$f' as unknown as number },
      { op: 'map', addr: DST, len: NR * PAGE, flags: MAP_SHARED | MAP_FIXED, file: '$f' as unknown as number, pgoff: NR },
      { op: 'map', addr: ALIAS, len: NR * PAGE, flags: MAP_SHARED | MAP_FIXED, file: '$f' as unknown as number, pgoff: NR });
  }
  ops.push({ op: 'touch', addr: SRC, len: NR * PAGE, write: true }, { op: 'userfaultfd', features, as: 'u' });
  return ops;
}

async function machine(strategy: string, cpus = 2) {
  return createMachine({ cpus, strategy, mode: 'deterministic', seed: 1 });
}
const leaf = (m: Awaited<ReturnType<typeof machine>>, va: number) => dumpLeaves(m.raw).find((l) => l.va === BigInt(va))?.entry;
function clean(m: Awaited<ReturnType<typeof machine>>) {
  const v = checkInvariants(m.raw, { tlb: false });
  expect(v, formatViolations(v)).toEqual([]);
}
/** the results of one op of a setup run, checked to be non-negative */
function ok(r: { ok: boolean; error: string | null; results: (unknown[] | null)[] }) {
  expect(r.ok, r.error ?? '').toBe(true);
  return r.results;
}

describe('uffd-unit-tests.c re-expressed through the API', () => {
  for (const strategy of STRATEGIES) {
    for (const mem of ['anon', 'shmem'] as Mem[]) {
      it(`register-ioctls on ${mem} (${strategy}): uffdio_register.ioctls per mode; MINOR on anon and no mode are -EINVAL`, async () => {
        const m = await machine(strategy, 1);
        const features = UFFD_FEATURE_MISSING_HUGETLBFS | UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_PAGEFAULT_FLAG_WP |
          UFFD_FEATURE_WP_HUGETLBFS_SHMEM | UFFD_FEATURE_MINOR_HUGETLBFS | UFFD_FEATURE_MINOR_SHMEM;
        const combos: [boolean, boolean, boolean][] = [];
        for (const miss of [false, true]) for (const wp of [false, true]) for (const minor of [false, true]) combos.push([miss, wp, minor]);
        const ops: Op[] = [...allocate(mem, features)];
        for (const [miss, wp, minor] of combos) {
          const mode = [...(miss ? ['missing'] : []), ...(wp ? ['wp'] : []), ...(minor ? ['minor'] : [])] as ('missing' | 'wp' | 'minor')[];
          ops.push({ op: 'uffdRegister', ctx: '$u', addr: DST, len: PAGE, mode }, { op: 'uffdUnregister', ctx: '$u', addr: DST, len: PAGE });
        }
        const res = ok(await m.run([ops]))[0]!;
        const base = ops.length - 2 * combos.length;
        combos.forEach(([miss, wp, minor], i) => {
          const ioctls = res[base + 2 * i] as number;
          if ((minor && mem === 'anon') || (!miss && !wp && !minor)) { expect(ioctls, `${miss} ${wp} ${minor}`).toBe(EINVAL); return; }
          let expected = 1 << _UFFDIO_WAKE;
          if (miss) expected |= 1 << _UFFDIO_COPY;
          if (wp) expected |= 1 << _UFFDIO_WRITEPROTECT;
          if (minor) expected |= 1 << _UFFDIO_CONTINUE;
          expect(ioctls & expected, `miss=${miss} wp=${wp} minor=${minor}`).toBe(expected);
          expect(res[base + 2 * i + 1]).toBe(0);
        });
        clean(m);
      });

      it(`zeropage on ${mem} (${strategy}): UFFDIO_ZEROPAGE maps zeroes; again through the alias is -EEXIST; unregister`, async () => {
        const m = await machine(strategy, 1);
        const alias = mem === 'shmem' ? ALIAS : DST; // noop_alias_mapping() for anon
        const ops: Op[] = [...allocate(mem, 0),
          { op: 'uffdRegister', ctx: '$u', addr: DST, len: PAGE, mode: ['missing'] },
          ...(mem === 'shmem' ? [{ op: 'uffdRegister', ctx: '$u', addr: ALIAS, len: PAGE, mode: ['missing'] } as Op] : []),
          { op: 'uffdZeropage', ctx: '$u', addr: DST },
          { op: 'uffdZeropage', ctx: '$u', addr: alias }, // retry_uffdio_zeropage(): -EEXIST
          { op: 'access', addr: DST }, // no fault left: the page is there
          { op: 'uffdUnregister', ctx: '$u', addr: DST, len: PAGE },
          ...(mem === 'shmem' ? [{ op: 'uffdUnregister', ctx: '$u', addr: ALIAS, len: PAGE } as Op] : [])];
        const res = ok(await m.run([ops]))[0]!;
        const n = allocate(mem, 0).length;
        const reg = res.slice(n, n + (mem === 'shmem' ? 2 : 1)) as number[];
        for (const io of reg) expect(io & (1 << _UFFDIO_ZEROPAGE)).not.toBe(0); // has_zeropage
        const rest = res.slice(n + reg.length);
        expect(rest).toEqual([0, EEXIST, 0, 0, ...(mem === 'shmem' ? [0] : [])]);
        const e = leaf(m, DST)!;
        if (mem === 'anon') expect((e & _PAGE_SPECIAL) !== 0n && (e & _PAGE_RW) === 0n).toBe(true); // the zero page
        else expect(e & _PAGE_PRESENT).not.toBe(0n); // a zeroed page in the file's cache
        expect(m.counters().uffd_fault).toBe(0n);
        clean(m);
      });

      it(`sigbus on ${mem} (${strategy}): UFFD_FEATURE_SIGBUS answers a missing fault with SIGBUS; UFFDIO_COPY, then the access succeeds`, async () => {
        await sigbus(strategy, mem, false);
      });
      it(`sigbus-wp on ${mem} (${strategy}): SIGBUS for the missing and then the WP fault; COPY with MODE_WP, UFFDIO_WRITEPROTECT resolves`, async () => {
        await sigbus(strategy, mem, true);
      });
    }

    for (const wp of [false, true]) {
      it(`${wp ? 'minor-wp' : 'minor'} on shmem (${strategy}): reads through the registered alias are MINOR faults resolved by UFFDIO_CONTINUE${wp ? ' with MODE_WP' : ''}; a second CONTINUE is -EEXIST`, async () => {
        const m = await machine(strategy, 2);
        const features = UFFD_FEATURE_MINOR_HUGETLBFS | UFFD_FEATURE_MINOR_SHMEM | (wp ? UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_UNPOPULATED : 0);
        // setup: register the alias MINOR (+WP), then populate the non-registered side: no userfault
        const setup = ok(await m.run([[...allocate('shmem', features),
          { op: 'uffdRegister', ctx: '$u', addr: ALIAS, len: NR * PAGE, mode: wp ? ['wp', 'minor'] : ['minor'] },
          { op: 'touch', addr: DST, len: NR * PAGE, write: true }], []]))[0]!;
        const ctx = setup[allocate('shmem', features).length - 1] as number;
        expect(ctx).toBeGreaterThanOrEqual(0);
        expect(m.counters().uffd_fault).toBe(0n);
        // the faulting thread reads every page of the alias; uffd_poll_thread resolves with continue_range()
        const handler: Op[] = [{ op: 'repeat', times: NR, steps: [
          { op: 'uffdRead', ctx, as: 'm' },
          { op: 'uffdContinue', ctx, addr: '$m', wp },
          { op: 'uffdContinue', ctx, addr: '$m', wp }, // the error path on purpose: -EEXIST
        ] }];
        const r = await m.run([[{ op: 'touch', addr: ALIAS, len: NR * PAGE }], handler]);
        expect(r.ok, r.error ?? '').toBe(true);
        expect(r.results[0]).toEqual([NR]);
        const last = r.results[1]![0] as unknown[];
        expect(last[1]).toBe(0);
        expect(last[2]).toBe(EEXIST);
        expect((last[0] as { flags: number }).flags).toBe(4); // UFFD_PAGEFAULT_FLAG_MINOR
        const c = m.counters();
        expect(c.uffd_fault_minor).toBe(BigInt(NR)); // args.minor_faults == nr_pages
        expect(c.uffd_fault_missing).toBe(0n);
        for (let p = 0; p < NR; p++) {
          const e = leaf(m, ALIAS + p * PAGE)!;
          expect((e & _PAGE_UFFD_WP) !== 0n, `page ${p}`).toBe(wp);
          if (wp) expect(e & _PAGE_RW).toBe(0n);
        }
        clean(m);
      });
    }
  }
});

/** faulting_process(1, wp) of uffd_sigbus_test_common(): the first half of the pages, each read then written back */
async function sigbus(strategy: string, mem: Mem, wp: boolean) {
  const m = await machine(strategy, 1);
  const features = UFFD_FEATURE_SIGBUS | UFFD_FEATURE_EVENT_FORK | (wp ? UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_HUGETLBFS_SHMEM : 0);
  const split = (NR + 1) >> 1;
  const ops: Op[] = [...allocate(mem, features), { op: 'uffdRegister', ctx: '$u', addr: DST, len: NR * PAGE, mode: wp ? ['missing', 'wp'] : ['missing'] }];
  const n = ops.length;
  for (let nr = 0; nr < split; nr++) {
    const a = DST + nr * PAGE;
    ops.push(
      { op: 'access', addr: a }, // SIGBUS: a MISSING request
      { op: 'uffdCopy', ctx: '$u', addr: a, src: SRC + nr * PAGE, wp }, // copy_page(uffd, offset, wp)
      { op: 'access', addr: a }, // count == count_verify[nr]
      { op: 'access', addr: a, write: true }, // write the same value back: with wp, SIGBUS (a WP request)
      ...(wp ? [{ op: 'uffdWriteprotect', ctx: '$u', addr: a, len: PAGE, wp: false } as Op, { op: 'access', addr: a, write: true } as Op] : []),
    );
  }
  const res = ok(await m.run([ops]))[0]!;
  const per = wp ? 6 : 4;
  let signalled = 0;
  for (let nr = 0; nr < split; nr++) {
    const s = res.slice(n + nr * per, n + (nr + 1) * per);
    expect(s, `page ${nr}`).toEqual(wp ? [SIGBUS, 0, 0, SIGBUS, 0, 0] : [SIGBUS, 0, 0, 0]);
    if (s[0] === SIGBUS) signalled++;
  }
  expect(signalled).toBe(split); // signalled == split_nr_pages
  expect(m.counters().uffd_fault_sigbus).toBe(BigInt(split * (wp ? 2 : 1)));
  expect(m.counters().uffd_msg_read).toBe(0n); // no message: SIGBUS instead
  clean(m);
}

describe('userfaultfd in the public API (issue 21 item 8)', () => {
  it('the docs/api.md example: a CPU whose program is the handler resolves the other CPU\'s 16 faults', async () => {
    const m = await createMachine({ cpus: 2, mode: 'deterministic' });
    const A = 0x1000000000, MAP_FIXED = 0x10;
    const setup = await m.run([[
      { op: 'map', addr: A, len: 16 * 4096, flags: 0x22 | MAP_FIXED },
      { op: 'userfaultfd', as: 'u' },
      { op: 'uffdRegister', ctx: '$u', addr: A, len: 16 * 4096, mode: ['missing'] },
    ], []]);
    const ctx = setup.results[0]![1] as number;
    expect(ctx).toBe(0);
    expect(setup.results[0]![2]).toBe((1 << 2) | (1 << 3) | (1 << 4)); // WAKE | COPY | ZEROPAGE
    const r = await m.run([
      [{ op: 'touch', addr: A, len: 16 * 4096, write: true }],
      [{ op: 'repeat', times: 16, steps: [{ op: 'uffdRead', ctx, as: 'msg' }, { op: 'uffdCopy', ctx, addr: '$msg' }] }],
    ]);
    expect(r.ok, r.error ?? '').toBe(true);
    expect(r.results[0]).toEqual([16]);
    expect((r.results[1]![0] as unknown[])[0]).toMatchObject({ flags: 1, tid: 0 });
    expect(m.counters().uffd_fault_missing).toBe(16n);
    // the same through uffdHandle, after closing: UFFDIO_WAKE on nothing, read after close
    const r2 = await m.run([[{ op: 'uffdClose', ctx }], [{ op: 'uffdHandle', ctx }]]);
    expect(r2.ok, r2.error ?? '').toBe(true);
    clean(m);
  });

  it('bad userfaultfd ops: each is a UsageError before the run, naming the op and the field', async () => {
    const m = await createMachine({ cpus: 1, mode: 'deterministic' });
    await expect(m.run([[{ op: 'uffdMove' } as unknown as Op]])).rejects.toThrow(/unknown op "uffdMove"/);
    await expect(m.run([[{ op: 'userfaultfd', as: 'u' }, { op: 'uffdRegister', ctx: '$u', addr: 0x1000000000, len: 4096, mode: ['missng'] } as unknown as Op]]))
      .rejects.toThrow(/^cpu 0, op #1 \(uffdRegister\): mode must be an array of 'missing', 'wp', 'minor' \(empty: the kernel's -EINVAL\) \(got \["missng"\]\)$/);
    await expect(m.run([[{ op: 'uffdWake', ctx: '$nope', addr: 0x1000000000 }]]))
      .rejects.toThrow(/^cpu 0, op #0 \(uffdWake\): ctx names \$nope, which no earlier op of this program stored/);
    await expect(m.run([[{ op: 'userfaultfd', as: 'u' }, { op: 'uffdWriteprotect', ctx: '$u', addr: 0x1000000000 } as unknown as Op]]))
      .rejects.toThrow(/^cpu 0, op #1 \(uffdWriteprotect\): wp is required \(true or false\)$/);
    await expect(m.run([[{ op: 'userfaultfd', as: 'u' }, { op: 'uffdHandle', ctx: '$u', resolve: 'move' } as unknown as Op]]))
      .rejects.toThrow(/resolve must be 'copy', 'zeropage', 'continue' or 'auto' \(got "move"\)/);
    // the machine stays usable after a refused program
    const r = await m.run([[{ op: 'userfaultfd', as: 'u' }, { op: 'uffdClose', ctx: '$u' }]]);
    expect(r.ok, r.error ?? '').toBe(true);
  });
});
