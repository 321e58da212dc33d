import { describe, it, expect } from 'vitest';
import { runPoint, POINT_DEFAULTS } from '../../src/experiment.js';
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
