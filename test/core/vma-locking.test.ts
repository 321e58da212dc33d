import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runScripts as runAny, type ScriptRun, MiB, PAGE, ANON, PROT_READ, RW, MAP_FIXED, VM_FAULT_SIGSEGV } from '../support/fault-util.js';

// Writer-side locking of the VMAs and what each strategy pays for it
// (issue 10 items 8-11), against Linux 6.4+ mm/mmap.c (vma_prepare(),
// vma_link(), do_vmi_align_munmap()), mm/memory.c lock_vma_under_rcu() and
// the SPF series ("[PATCH v11 19/26] mm: provide speculative fault
// infrastructure", linux-mm, 2018). Deterministic
// mode throughout: every count is exact.

const R = 0x10_0000_0000; // a fixed region both CPUs know

// The per-VMA lock tests below count what Linux 6.4 does (an anonymous VMA's first
// fault has no anon_vma and falls back); the releases after it have tests of their own.
const runScripts: typeof runAny = (cfg, scripts, nflags) =>
  runAny({ ...cfg, settings: { pervmaKernel: '6.4', ...cfg.settings } }, scripts, nflags);
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

  it('6.15 (vm_refcnt): the detached VMA fails vma_start_read() itself (a count of 0) and the lookup is redone', async () => {
    // The same race under 6.15: vma_start_read() cannot take a reference on a
    // detached VMA (its vm_refcnt is 0) and returns -EAGAIN before any range
    // check; lock_vma_under_rcu() counts VMA_LOCK_MISS and looks again. A's
    // first writes need no fallback: vmf_anon_prepare() sets the anon_vma up
    // under an mmap_lock trylock.
    const K = 256 * 1024;
    const r = await runAny({ cpus: 2, strategy: PERVMA, flags: 8 /* FLAG_PERVMA_STALL */, settings: { pervmaKernel: '6.15' } }, (f, C) => [
      [
        { op: 'mmap', addr: R, len: K, flags: FIXED },
        { op: 'mmap', addr: R + 2 * K, len: 2 * K, flags: FIXED },
        { op: 'access', addr: R, write: 1 },
        { op: 'access', addr: R + 2 * K, write: 1 },
        { op: 'set', flag: f[0] },
        { op: 'awaitStat', cpu: 1, stat: C.STAT_PERVMA_ATTEMPT },
        { op: 'charge', cycles: 2000 },
        { op: 'mmap', addr: R + K, len: K, flags: FIXED },
      ],
      [{ op: 'wait', flag: f[0] }, { op: 'access', addr: R + 2 * K + PAGE, write: 0 }],
    ]);
    expectOk(r);
    expect(r.out).toEqual([[R, R + 2 * K, 0, 0, null, 1, null, R + K], [null, 0]]);
    expect(r.stats.pervma_lock_miss).toBe(1n);
    expect(r.stats.pervma_abort_changed).toBe(0n);
    expect(r.stats.pervma_abort_no_anon_vma).toBe(0n);
    expect(r.stats.pervma_fallback).toBe(0n);
    expect(r.stats.pervma_success).toBe(3n); // A's two first writes and B's read
    expect(r.stats.mmap_read_acquire).toBe(2n); // vmf_anon_prepare()'s trylocks
    expect(r.stats.fault_anon_zero).toBe(1n);
  });
});

describe('munmap: detach, then zap under mmap_lock for read (Linux 4.20+), or all under write (setting)', () => {
  // CPU A unmaps 2 MiB of populated memory; once its zap has begun, CPU B
  // faults in another VMA that has no anon_vma yet, so under every strategy
  // the fault goes to the classic path and takes mmap_lock for read. With the
  // downgrade B gets it at once; without, B waits for the whole zap, the
  // shootdown and the table freeing.
  const run = (strategy: number, munmap: 'default' | 'downgrade' | 'write') => runScripts({ cpus: 2, strategy, settings: { munmap } }, (f, C) => [
    [
      { op: 'mmap', addr: R, len: 2 * MiB, flags: FIXED }, { op: 'touch', addr: R, len: 2 * MiB, write: 1 },
      { op: 'mmap', addr: R + 4 * MiB, len: MiB, flags: FIXED },
      { op: 'set', flag: f[0] }, { op: 'munmap', addr: R, len: 2 * MiB },
    ],
    [{ op: 'wait', flag: f[0] }, { op: 'awaitStat', cpu: 0, stat: C.STAT_ZAP_PTE }, { op: 'access', addr: R + 4 * MiB, write: 1 }],
  ]);
  const defaults: [string, number, 'downgrade' | 'write'][] = [['mmap_lock', 0, 'downgrade'], ['spf', 1, 'write'], ['pervma', 2, 'downgrade']];

  for (const [name, strategy, dflt] of defaults) {
    it(`${name}: ${dflt} by default; the other one when asked`, async () => {
      for (const munmap of ['default', 'downgrade', 'write'] as const) {
        const r = await run(strategy, munmap);
        expectOk(r);
        expect(r.out[0]).toEqual([R, 512, R + 4 * MiB, null, 0]);
        expect(r.out[1]).toEqual([null, 1, 0]);
        expect(r.stats.zap_pte).toBe(512n);
        const lock = munmap === 'default' ? dflt : munmap;
        if (lock === 'downgrade') {
          expect(r.stats.mmap_read_wait_cycles).toBe(0n); // B's fault ran during the zap
          expect(r.stats.rwsem_sleep).toBe(0n);
          expect(r.clocks[1]).toBeLessThan(r.clocks[0]);
        } else {
          expect(r.stats.mmap_read_contended).toBe(1n);
          expect(r.stats.rwsem_sleep).toBe(1n); // B slept behind the writer and paid its wake-up
          expect(r.stats.mmap_read_wait_cycles).toBeGreaterThan(20_000n); // the zap of 512 PTEs, the flush, the frees
        }
      }
    });
  }

  it('pervma: the downgrade ends the write marks, so the VMA a split shrank takes per-VMA faults during the zap', async () => {
    // munmap of the upper half splits the VMA; the lower half is write-locked
    // in that section. After mmap_write_downgrade() (vma_end_write_all) B's
    // fault in the lower half locks it; without the downgrade it falls back
    // and waits for the munmap.
    const go = (munmap: 'downgrade' | 'write') => runScripts({ cpus: 2, strategy: PERVMA, settings: { munmap } }, (f, C) => [
      [
        { op: 'mmap', addr: R, len: 4 * MiB, flags: FIXED }, { op: 'touch', addr: R + 2 * MiB, len: 2 * MiB, write: 1 },
        { op: 'set', flag: f[0] }, { op: 'munmap', addr: R + 2 * MiB, len: 2 * MiB },
      ],
      [{ op: 'wait', flag: f[0] }, { op: 'awaitStat', cpu: 0, stat: C.STAT_ZAP_PTE }, { op: 'access', addr: R + PAGE, write: 1 }],
    ]);
    const d = await go('downgrade');
    expectOk(d);
    expect(d.stats.vma_split).toBe(1n);
    expect(d.stats.pervma_success).toBe(512n);
    expect(d.stats.pervma_abort_locked).toBe(0n);
    const w = await go('write');
    expectOk(w);
    expect(w.stats.pervma_success).toBe(511n);
    expect(w.stats.pervma_abort_locked).toBe(1n);
    expect(w.stats.mmap_read_wait_cycles).toBeGreaterThan(20_000n);
  });
});

describe('each strategy pays only its own writer costs', () => {
  /** vm_sequence of every VMA slot, summed (host-side read) */
  const seqSum = (r: ScriptRun) => {
    const C = r.m.C;
    let n = 0;
    for (let i = 0; i < r.m.cfg.vmas; i++) n += r.m.u32(r.m.regions.vmas + i * C.VMA_SIZE + C.VMA_SEQ + C.SQ_SEQ);
    return n;
  };
  const script = () => [[
    { op: 'mmap', addr: R, len: 2 * MiB, flags: FIXED }, { op: 'access', addr: R, write: 1 },
    { op: 'mprotect', addr: R + MiB, len: MiB, prot: PROT_READ }, // split
    { op: 'mprotect', addr: R + MiB, len: MiB, prot: RW }, // merge back
    { op: 'munmap', addr: R, len: MiB }, // split and unmap
  ], []];

  it('vm_sequence is written only under spf (the mmap_lock baseline and pervma kernels have no such field)', async () => {
    const [cl, spf, pervma] = await Promise.all([0, 1, 2].map((strategy) => runScripts({ cpus: 2, strategy }, script)));
    for (const r of [cl, spf, pervma]) { expectOk(r); expect(r.out[0]).toEqual([R, 0, 0, 0, 0]); }
    expect(seqSum(cl)).toBe(0);
    expect(seqSum(pervma)).toBe(0);
    expect(seqSum(spf)).toBeGreaterThan(0);
    // per-VMA write locks only under pervma; mm_lock_seq moves only there
    expect(cl.stats.vma_write_acquire).toBe(0n);
    expect(spf.stats.vma_write_acquire).toBe(0n);
    expect(pervma.stats.vma_write_acquire).toBeGreaterThan(0n);
    for (const r of [cl, spf]) expect(r.m.u32(r.m.regions.mm + r.m.C.MM_LOCK_SEQ)).toBe(0);
    // the same mutator work costs the baseline less than SPF (no sequence-line writes)
    expect(cl.clocks[0]).toBeLessThan(spf.clocks[0]);
  });
});

describe('the command line names each strategy\'s munmap lock and takes --munmap and --spf-lookup', () => {
  const CLI = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));
  const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });

  it('faultline list prints the default of each strategy; a run records the lock it used; a bad value exits 2', () => {
    const l = cli('list');
    expect(l.status).toBe(0);
    expect(l.stdout).toMatch(/mmap_lock .*; munmap: downgrade\n/);
    expect(l.stdout).toMatch(/spf .*; munmap: write\n/);
    expect(l.stdout).toMatch(/pervma .*; munmap: downgrade\n/);
    // the per-VMA lock releases, the newest the default
    expect(l.stdout).toMatch(/per-VMA lock releases \(--kernel/);
    for (const k of ['6.4', '6.6', '6.7']) expect(l.stdout).toMatch(new RegExp(`\\n  ${k.replace('.', '\\.')} +\\S`));
    expect(l.stdout).toMatch(/\n  6\.15 +.*\[default\]\n/);
    const dir = mkdtempSync(join(tmpdir(), 'faultline-munmap-'));
    try {
      const cases: [string, string[], object][] = [
        ['spf', [], { munmap: 'write', spfLookup: 'v11', pervma: null }],
        ['spf', ['--munmap', 'downgrade', '--spf-lookup', 'v12'], { munmap: 'downgrade', spfLookup: 'v12', pervma: null }],
        ['pervma', [], { munmap: 'downgrade', spfLookup: null, pervma: '6.15' }],
        ['pervma', ['--kernel', '6.4'], { munmap: 'downgrade', spfLookup: null, pervma: '6.4' }],
      ];
      for (const [strategy, args, want] of cases) {
        const file = join(dir, 'p.json');
        const r = cli('run', '--workload', 'page_fault1', '--strategy', strategy, '--cpus', '2', '--vcycles', '2000000', '--json', file, ...args);
        expect(r.status).toBe(0);
        expect(JSON.parse(readFileSync(file, 'utf8')).points[0].kernel).toEqual(want);
      }
    } finally { rmSync(dir, { recursive: true, force: true }); }
    for (const opt of ['--munmap', '--spf-lookup', '--kernel']) {
      const bad = cli('run', '--workload', 'page_fault1', opt, 'nope');
      expect(bad.status).toBe(2);
      expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});

describe('SPF get_vma(): v11 (mm_rb_lock, the default) and v12 (find_vma_rcu), both with __find_vma semantics', () => {
  const SPF = 1;
  it('a fault in a hole below a VMA: get_vma() returns the VMA above, the bounds check aborts ("outside the VMA")', async () => {
    for (const spfLookup of ['v11', 'v12'] as const) {
      const r = await runScripts({ cpus: 2, strategy: SPF, settings: { spfLookup } }, () => [[
        { op: 'mmap', addr: R, len: 4 * MiB, flags: FIXED }, { op: 'access', addr: R, write: 1 },
        { op: 'access', addr: R - MiB, write: 1 }, // a hole with a VMA above it
        { op: 'access', addr: R + 8 * MiB, write: 1 }, // nothing above: get_vma() finds none
      ], []]);
      expectOk(r);
      expect(r.out[0]).toEqual([R, 0, VM_FAULT_SIGSEGV, VM_FAULT_SIGSEGV]);
      expect(r.stats.spf_abort_outside_vma).toBe(1n);
      expect(r.stats.spf_abort_no_vma).toBe(1n);
      expect(r.stats.fault_sigsegv).toBe(2n); // the classic path's verdict, both times
    }
  });

  it('v11 takes mm_rb_lock for read around each lookup and tree writers take it for write; v12 takes neither', async () => {
    const run = (spfLookup: 'v11' | 'v12') => runScripts({ cpus: 2, strategy: SPF, settings: { spfLookup } }, () => [[
      { op: 'mmap', addr: R, len: 2 * MiB, flags: FIXED }, { op: 'touch', addr: R, len: 2 * MiB, write: 1 },
      { op: 'mprotect', addr: R + MiB, len: MiB, prot: PROT_READ }, // a split: one index change
      { op: 'munmap', addr: R, len: 2 * MiB }, // two unlinks
    ], []]);
    const [v11, v12] = [await run('v11'), await run('v12')];
    for (const r of [v11, v12]) { expectOk(r); expect(r.out[0]).toEqual([R, 512, 0, 0]); }
    // 512 faults: the first has no anon_vma (falls back after get_vma), 511 succeed; every one looked up
    expect(v11.stats.spf_success).toBe(511n);
    expect(v11.stats.mm_rb_read_acquire).toBe(512n);
    expect(v11.stats.mm_rb_write_acquire).toBe(4n); // link, split, unlink x2
    expect(v12.stats.mm_rb_read_acquire).toBe(0n);
    expect(v12.stats.mm_rb_write_acquire).toBe(0n);
    expect(v12.stats.spf_success).toBe(511n);
  });

  it('v11 pays for its shared rwlock line: at 8 CPUs faulting their own regions, faults cost more than under v12', async () => {
    const scripts = () => [...Array(8).keys()].map((c) => [
      { op: 'mmap', addr: R + c * 4 * MiB, len: 2 * MiB, flags: FIXED },
      { op: 'touch', addr: R + c * 4 * MiB, len: 2 * MiB, write: 1 },
    ]);
    const [v11, v12] = [await runScripts({ cpus: 8, strategy: SPF, settings: { spfLookup: 'v11' } }, scripts),
      await runScripts({ cpus: 8, strategy: SPF, settings: { spfLookup: 'v12' } }, scripts)];
    expectOk(v11); expectOk(v12);
    expect(v11.stats.spf_success).toBe(v12.stats.spf_success);
    expect(v11.stats.fault_cycles).toBeGreaterThan(v12.stats.fault_cycles);
    console.log(`8 CPUs, own regions: fault cycles v11 ${v11.stats.fault_cycles} vs v12 ${v12.stats.fault_cycles}`);
  });
});

describe('the per-VMA lookup does not wait for writers (maple-tree RCU readers never do)', () => {
  it('pervma: a fault completes while a writer is inside the index write section; SPF v12 (a seqlock reader) waits', async () => {
    // CPU A takes mmap_lock for write, opens the index's write section (mm_seq
    // odd) and waits until CPU B's fault has succeeded (t_index_writer,
    // assembly/test/ops_vma.ts); B's fault is in a VMA A did not write-lock. Before,
    // the lockless lookup spun until A left: A timed out (0).
    const go = (strategy: number, stat: string, settings = {}) => runScripts({ cpus: 2, strategy, settings }, (f, C) => [
      [{ op: 'mmap', addr: R, len: MiB, flags: FIXED }, { op: 'access', addr: R, write: 1 },
        { op: 'indexWriter', other: 1, stat: C[stat], flag: f[0], cap: 200_000 }],
      [{ op: 'wait', flag: f[0] }, { op: 'access', addr: R + PAGE, write: 1 }],
    ]);
    const p = await go(PERVMA, 'STAT_PERVMA_SUCCESS');
    expectOk(p);
    expect(p.out[0][2]).toBe(1); // B's fault finished inside A's write section
    expect(p.stats.vma_lockless_retry).toBe(0n);
    expect(p.stats.pervma_success).toBe(1n);
    const s = await go(1, 'STAT_SPF_SUCCESS', { spfLookup: 'v12' });
    expectOk(s);
    expect(s.out[0][2]).toBe(0); // find_vma_rcu()'s read_seqbegin() waited for A
    expect(s.stats.vma_lockless_retry).toBeGreaterThanOrEqual(1n);
    expect(s.stats.spf_success).toBe(1n);
  });
});

describe('lock_vma_under_rcu(): a range change of a still-linked VMA falls back', () => {
  it('the VMA found shrank (munmap of its upper half) before it was locked: pervma_abort_changed, then the classic path', async () => {
    // FLAG_PERVMA_STALL holds B between the lookup and vma_start_read(); A
    // unmaps the upper half of the VMA B found: the VMA keeps the lower half
    // (still linked, not detached; its write mark ends at the downgrade) and
    // B's address is no longer inside. B's range check after locking fails:
    // fall back to mmap_lock, where the address has no VMA (SIGSEGV).
    const r = await runScripts({ cpus: 2, strategy: PERVMA, flags: 8 /* FLAG_PERVMA_STALL */ }, (f, C) => [
      [
        { op: 'mmap', addr: R, len: MiB, flags: FIXED }, { op: 'access', addr: R, write: 1 },
        { op: 'set', flag: f[0] }, { op: 'awaitStat', cpu: 1, stat: C.STAT_PERVMA_ATTEMPT },
        { op: 'charge', cycles: 2000 },
        { op: 'munmap', addr: R + MiB / 2, len: MiB / 2 },
      ],
      [{ op: 'wait', flag: f[0] }, { op: 'access', addr: R + MiB / 2 + PAGE, write: 0 }],
    ]);
    expectOk(r);
    expect(r.out[1]).toEqual([null, VM_FAULT_SIGSEGV]);
    expect(r.stats.vma_split).toBe(1n);
    expect(r.stats.pervma_abort_changed).toBe(1n);
    expect(r.stats.pervma_lock_miss).toBe(0n);
    expect(r.stats.fault_sigsegv).toBe(1n); // the classic path's verdict
  });
});
