import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runStress, type StressOptions, type StressResult } from '../../src/stress.js';
import { formatViolations } from '../../src/checker.js';
import { layoutConsts } from '../../src/wasm.js';

// The randomized stress: 16 emulated CPUs (on a 2-core host) race faults
// against mmap/munmap/mprotect/madvise under each strategy and the invariant
// checker finds nothing; a deterministic run replays bit-identically; and the
// planted bugs are caught, so a clean result means something.

const STRATEGIES = ['mmap_lock', 'spf', 'pervma', 'spf-mmapseq'] as const;

async function stress(o: StressOptions): Promise<StressResult> {
  const r = await runStress(o);
  const s = r.stats;
  console.log(`${o.mix ?? 'random'} ${r.strategy} x${r.cpus} seed ${r.seed} ${o.mode ?? 'parallel'}${o.bug ? ` bug ${o.bug}` : ''}: ` +
    `${s.ops} ops, ${s.faults} faults (spf ${s.counters.spf_success}/${s.counters.spf_attempt}, pervma ${s.counters.pervma_success}/${s.counters.pervma_attempt}), ` +
    `${s.sigsegv} SIGSEGV, ${s.mmap}+${s.mmapFile}+${s.munmap}+${s.mprotect}+${s.madvise} mutators, ${s.numaScans} NUMA scans, ${r.violations.length} violation(s), ${Math.round(r.wallMs)} ms`);
  return r;
}

const expectClean = (r: StressResult) => {
  expect(r.error).toBeUndefined();
  expect(formatViolations(r.violations)).toBe('');
  expect(r.ok).toBe(true);
};

const NO_UFFD = { uffdRegister: 0, uffdUnregister: 0, uffdWriteprotect: 0 };

describe('MTE tag storage in the random mix (issue 10 item 1): fault-on-access entries race every mutator', () => {
  // a pool smaller than the region: reservations also fail (the handler's RETRY, then OOM).
  // Deterministic mode: the counts below do not depend on host timing
  for (const strategy of STRATEGIES) {
    it(`${strategy}, 8 CPUs, deterministic, pool of 192 units + the NUMA scanner`, async () => {
      // without the userfaultfd operations: the counts below were found for seed 5 of the mix without them
      const r = await stress({ cpus: 8, strategy, seed: 5, ops: 300, mode: 'deterministic', tagStorage: 192, numaPeriod: 300_000, weights: NO_UFFD });
      expectClean(r);
      const c = r.stats.counters;
      expect(Number(c.mte_marked)).toBeGreaterThan(0);
      expect(Number(c.fault_on_access)).toBeGreaterThan(0);
      expect(Number(c.tag_reserve)).toBeGreaterThan(0);
      expect(Number(c.tag_free)).toBeGreaterThan(0);
      if (strategy === 'spf') expect(Number(c.spf_abort_fault_on_access)).toBeGreaterThan(0);
    });
  }
  it('parallel mode (real host races, 8 CPUs per strategy): no violations', async () => {
    for (const strategy of STRATEGIES) expectClean(await stress({ cpus: 8, strategy, seed: 6, ops: 300, mode: 'parallel', tagStorage: 192 }));
  });
});

describe('16 CPUs, random mix, parallel mode: no violations', () => {
  // seed 2 also runs the NUMA scanner and zap-flush-under-PTL
  for (const strategy of STRATEGIES) {
    for (const seed of [1, 2]) {
      it(`${strategy}, seed ${seed}`, async () => {
        const extra = seed === 2 ? { numaPeriod: 200_000, zapFlushUnderPtl: true } : {};
        const r = await stress({ cpus: 16, strategy, seed, ops: 300, mode: 'parallel', ...extra });
        expectClean(r);
        const s = r.stats;
        expect(s.ops).toBe(15 * 300); // CPU 15 is the userfaultfd handler
        // userfaultfd in the mix: registrations land while others fault; the handler resolves what they hit
        expect(s.uffdRegister - s.uffdRegisterFail).toBeGreaterThan(0);
        expect(s.uffdResolved).toBeGreaterThan(0);
        expect(Number(s.counters.uffd_fault)).toBeGreaterThanOrEqual(s.uffdResolved);
        expect(s.faults).toBeGreaterThan(1000);
        expect(s.sigsegv).toBeGreaterThan(0); // unmapped / read-only pages were hit: expected, counted
        expect(s.munmap + s.mmap + s.mmapFile + s.mprotect + s.madvise).toBeGreaterThan(500);
        expect(s.mmapFile).toBeGreaterThan(0);
        expect(Number(s.counters.fault_file_read) + Number(s.counters.fault_file_shared) + Number(s.counters.fault_file_cow)).toBeGreaterThan(0);
        expect(s.sigbus + s.oom).toBe(0);
        // an access whose fault keeps being undone (NUMA marking, mprotect) is given up after 8 tries: rare, bounded
        expect(s.retry).toBeLessThanOrEqual(Math.ceil((s.reads + s.writes) / 1000));
        if (strategy === 'spf' || strategy === 'spf-mmapseq') expect(Number(s.counters.spf_success)).toBeGreaterThan(100);
        if (strategy === 'pervma') expect(Number(s.counters.pervma_success)).toBeGreaterThan(100);
        if (seed === 2) expect(s.numaScans).toBeGreaterThan(0);
        expect(r.replay).toBe(`faultline stress --cpus 16 --strategy ${strategy} --seed ${seed} --mode deterministic --ops 300` +
          (seed === 2 ? ' --numa-period 200000 --zap-flush-under-ptl' : ''));
      });
    }
  }
});

describe('16 CPUs, munmap race, parallel mode: no violations', () => {
  for (const strategy of STRATEGIES) {
    it(strategy, async () => {
      const r = await stress({ cpus: 16, strategy, seed: 1, ops: strategy === 'spf' ? 512 : 128, mix: 'munmap-race' });
      expectClean(r);
      expect(r.stats.munmap).toBe(strategy === 'spf' ? 512 : 128);
      if (strategy === 'spf') expect(Number(r.stats.counters.spf_success)).toBeGreaterThan(r.stats.faults / 2);
    });
  }
});

describe('deterministic mode', () => {
  it('replays bit-identically: same statistics JSON twice; another seed differs', async () => {
    const o: StressOptions = { cpus: 6, strategy: 'spf', seed: 11, ops: 150, mode: 'deterministic', numaPeriod: 300_000 };
    const a = await stress(o);
    const b = await stress(o);
    expectClean(a);
    expect(JSON.stringify(b.stats)).toBe(JSON.stringify(a.stats));
    const c = await stress({ ...o, seed: 12 });
    expectClean(c);
    expect(JSON.stringify(c.stats)).not.toBe(JSON.stringify(a.stats));
  });
});

describe('planted bugs are caught', () => {
  it('BUG_SKIP_SHOOTDOWN: stale TLB translations (every strategy)', async () => {
    expect(layoutConsts().BUG_SKIP_SHOOTDOWN).toBe(2);
    for (const strategy of STRATEGIES) {
      const r = await stress({ cpus: 16, strategy, seed: 1, ops: 200, bug: layoutConsts().BUG_SKIP_SHOOTDOWN });
      expect(r.ok).toBe(false);
      expect(r.violations.some((v) => v.kind === 'tlb-stale')).toBe(true);
      // caught mid-run, at a checkpoint, before a later full flush could wipe the stale entries
      expect(r.violations.some((v) => v.kind === 'tlb-stale' && v.message.startsWith('at the checkpoint after'))).toBe(true);
      expect(r.replay).toContain('--bug skip-shootdown');
    }
  });

  it('BUG_SKIP_VMA_CHANGED under spf: a speculative fault installs into an unmapped range, caught and replayed in deterministic mode', async () => {
    // A speculative fault that passes pte_map_lock's first vma_has_changed()
    // while CPU 0 zaps and detaches the PTE table, and skips the second check
    // (the planted bug), installs a PTE into the detached table: the core traps
    // when it frees a table with entries, or the checker finds the PTE outside
    // every VMA / the freed table written. With the bug planted the window is
    // stretched by a stall (fault.ts, test core only, as an NMI or a vCPU
    // preemption would on hardware), so the race comes from virtual time, not
    // from host preemption: the same seed catches it the same way every time.
    const bug = layoutConsts().BUG_SKIP_VMA_CHANGED;
    const run = () => stress({ cpus: 16, strategy: 'spf', seed: 1, ops: 1024, mix: 'munmap-race', bug, mode: 'deterministic', watchdogMs: 20_000 });
    const a = await run();
    expect(a.ok, 'the planted bug was not caught').toBe(false);
    const kinds = new Set(a.violations.map((v) => v.kind));
    // a crash of the unmapping CPU, or the checker's view of the damage
    expect(['run-failed', 'pte-outside-vma', 'pt-free-dirty', 'pt-leak', 'frame-leak'].some((k) => kinds.has(k as never))).toBe(true);
    expect(a.replay).toContain('--mode deterministic');
    const b = await run();
    expect(b.violations.map((v) => v.message)).toEqual(a.violations.map((v) => v.message));
    // and the same run without the bug is clean
    const clean = await stress({ cpus: 16, strategy: 'spf', seed: 1, ops: 1024, mix: 'munmap-race', mode: 'deterministic', watchdogMs: 20_000 });
    expect(clean.violations).toEqual([]);
    console.log(formatViolations(a.violations.slice(0, 8)));
  });

});

describe('faultline stress (the command line)', () => {
  const CLI = join(fileURLToPath(new URL('../..', import.meta.url)), 'dist', 'src', 'cli.js');
  const cli = (...args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, 'stress', ...args], { encoding: 'utf8', timeout: 120_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it('prints one row per strategy x seed and exits 0 when clean', () => {
    const r = cli('--cpus', '4', '--seeds', '1,2', '--ops', '100');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^strategy\s+cpus\s+seed\s+ops\s+faults\s+sigsegv\s+violations/);
    for (const s of STRATEGIES) for (const seed of [1, 2]) expect(r.stdout).toMatch(new RegExp(`${s}\\s+4\\s+${seed}\\s+300\\s+\\d+\\s+\\d+\\s+0\\s`));
  });

  it('on a violation prints it with the seed and the replay command, exit 1; the replay reproduces it', () => {
    const r = cli('--cpus', '4', '--strategy', 'pervma', '--seed', '5', '--ops', '150', '--mode', 'deterministic', '--bug', 'skip-shootdown');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('stress FAILED: pervma, 4 CPU(s), seed 5');
    expect(r.stderr).toContain('[tlb-stale]');
    expect(r.stderr).toContain('seed: 5');
    const replay = /replay: faultline stress (.*)/.exec(r.stderr)![1];
    expect(replay).toBe('--cpus 4 --strategy pervma --seed 5 --mode deterministic --ops 150 --bug skip-shootdown');
    const again = cli(...replay.split(' '));
    expect(again.code).toBe(1);
    const row = (s: string) => s.split('\n')[2].replace(/\s+\d+$/, ''); // without the wall time
    expect(row(again.stdout)).toBe(row(r.stdout));
  });

  it('bad input is one line on stderr, exit 2', () => {
    const r = cli('--strategy', 'nope');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^faultline: unknown strategy "nope"/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
