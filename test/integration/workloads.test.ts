import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { runPoint, loopWarning, POINT_DEFAULTS } from '../../src/experiment.js';
import { listedWorkloads } from '../../src/workloads.js';

// Every registered page-fault workload runs on real workers under every
// strategy and in deterministic mode, and does work (its ops come from the run).

const faultWorkloads = listedWorkloads().filter((w) => w.usesStrategy).map((w) => w.name);

describe('page-fault workloads', () => {
  it('the registry has the will-it-scale, pft, ebizzy and mapbench workloads', () => {
    for (const n of ['page_fault1', 'page_fault2', 'page_fault3', 'mmap1', 'mmap2', 'tlb_flush1', 'pft-shared', 'pft-private',
      'ebizzy', 'mapbench-local', 'mapbench-global', 'mapbench-pipeline']) expect(faultWorkloads).toContain(n);
  });
  for (const workload of faultWorkloads) {
    it(`${workload}: 3 CPUs, each strategy, then deterministic`, async () => {
      for (const strategy of ['mmap_lock', 'spf', 'pervma', 'spf-mmapseq']) {
        const r = await runPoint({ ...POINT_DEFAULTS, workload, strategy, cpus: 3, vcycles: 1_500_000 });
        expect(r.error).toBeNull();
        expect(r.ops).toBeGreaterThan(0);
        // the breakdown explains each cycle once: no category is negative, they add up to the clocks
        // (an IPI served inside a lock wait was once counted as both)
        for (const [k, v] of Object.entries(r.cyclesByCategory)) expect(v, `${workload} ${strategy}: ${k}`).toBeGreaterThanOrEqual(0);
        expect(Object.values(r.cyclesByCategory).reduce((a, b) => a + b, 0)).toBe(r.clocks.reduce((a, b) => a + b, 0));
      }
      const d = await runPoint({ ...POINT_DEFAULTS, workload, strategy: 'spf', cpus: 2, vcycles: 600_000, mode: 'deterministic' });
      expect(d.error).toBeNull();
      expect(d.ops).toBeGreaterThan(0);
    });
  }
});

// The steady state (docs/cli.md "The steady state"): without a budget, every CPU completes whole
// loops of its benchmark, and the CPUs that finish first keep looping until the last one has.
describe('the steady state: whole loops of every CPU (--loops)', () => {
  it('page_fault1 at the default budget: each CPU completes its 128 MiB loop, munmap included', async () => {
    const r = await runPoint({ ...POINT_DEFAULTS, workload: 'page_fault1', strategy: 'pervma', cpus: 2, mode: 'deterministic', workers: 1 });
    expect(r.error).toBeNull();
    expect(r.loops).toMatchObject({ required: 1, covered: true });
    expect(r.loops!.complete).toEqual([1, 1]);
    // 32,768 faults per loop, all of them in the window; a munmap per whole loop (a part-way loop is not unmapped)
    for (const n of r.loops!.opsPerCpu) expect(n).toBeGreaterThanOrEqual(32_768);
    expect(r.ops).toBe(r.loops!.opsPerCpu.reduce((a, b) => a + b, 0));
    expect(r.stats.munmap).toBe(2);
    // 20M cycles (the budget alone) is far less than one loop: the window is longer than it
    expect(r.virtualCycles!).toBeGreaterThan(5 * 20_000_000);
  });

  it('--loops 3 of mmap1: CPUs run on until all have 3 pairs; a CPU starved of mmap_lock ends the run at 4x the first, reported', async () => {
    const r = await runPoint({ ...POINT_DEFAULTS, workload: 'mmap1', strategy: 'mmap_lock', cpus: 3, mode: 'deterministic', workers: 1, vcycles: 100, loops: 3 });
    expect(r.error).toBeNull();
    expect(r.loops!.required).toBe(3);
    // writers of mmap_lock take it again before a woken waiter runs (the emulated rwsem has no hand-off):
    // the CPU that was starved is named rather than the run hanging
    expect(r.loops!.covered).toBe(r.loops!.complete.every((n) => n >= 3));
    expect(r.loops!.complete.some((n) => n >= 3)).toBe(true);
    if (!r.loops!.covered) expect(loopWarning(r)).toMatch(/did not complete 3 whole loops/);
    const pf = await runPoint({ ...POINT_DEFAULTS, workload: 'mmap1', strategy: 'mmap_lock', cpus: 2, mode: 'deterministic', workers: 1, vcycles: 100, loops: 3 });
    for (const n of pf.loops!.complete) expect(n).toBeGreaterThanOrEqual(3);
    expect(pf.loops!.covered).toBe(true);
  });

  it('pft and ebizzy count their rounds and records as loops', async () => {
    const pft = await runPoint({ ...POINT_DEFAULTS, workload: 'pft-private', strategy: 'pervma', cpus: 2, mode: 'deterministic', workers: 1, vcycles: 200_000, loops: 2 });
    expect(pft.loops!.complete[0]).toBeGreaterThanOrEqual(2);
    expect(pft.loops!.complete[1]).toBe(pft.loops!.complete[0]); // rounds are between barriers: all CPUs alike
    const eb = await runPoint({ ...POINT_DEFAULTS, workload: 'ebizzy', strategy: 'mmap_lock', cpus: 2, mode: 'deterministic', workers: 1, vcycles: 1000, loops: 2 });
    expect(eb.loops!.complete).toEqual(eb.loops!.opsPerCpu);
    for (const n of eb.loops!.complete) expect(n).toBeGreaterThanOrEqual(2);
  });

  it('a --vcycles alone is taken as asked: no whole loop, not covered, and the CLI prints a warning line', async () => {
    const r = await runPoint({ ...POINT_DEFAULTS, workload: 'page_fault1', strategy: 'mmap_lock', cpus: 2, mode: 'deterministic', workers: 1, vcycles: 300_000 });
    expect(r.loops).toMatchObject({ required: 0, complete: [0, 0], covered: false });
    expect(loopWarning(r)).toMatch(/^warning: page_fault1 mmap_lock 2 CPU\(s\): CPUs 0, 1 did not complete one whole loop \(one mmap of 128 MiB.*steady state/);
    const cli = spawnSync(process.execPath, [join(__dirname, '..', '..', 'dist', 'src', 'cli.js'), 'run', '--workload', 'page_fault1', '--cpus', '1', '--vcycles', '300000'],
      { encoding: 'utf8', timeout: 60_000 });
    expect(cli.status).toBe(0);
    expect(cli.stderr).toMatch(/^warning: page_fault1 mmap_lock 1 CPU\(s\): CPU 0 did not complete one whole loop/m);
    // the micro-workloads have no loop: nothing to cover
    const micro = await runPoint({ ...POINT_DEFAULTS, workload: 'spinlock', strategy: 'mmap_lock', cpus: 2, vcycles: 2000 });
    expect(micro.loops).toBeNull();
    expect(loopWarning(micro)).toBeNull();
  });
});
