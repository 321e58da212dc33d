import { describe, it, expect } from 'vitest';
import { runPoint } from '../../src/experiment.js';

// Parallel mode against the deterministic reference on row C' (ebizzy -mTRp,
// munmap under the write lock, 2 tasks per vCPU through the guest run queue):
// nearly every record sleeps in mmap_lock's wait list. A woken waiter must run
// on from the release that woke it; parallel mode once let it run on from the
// clock it fell asleep at, so its section overlapped the previous holders' in
// virtual time and mmap_lock came out 1.7x (4 CPUs) to 3.5x (16 CPUs) too fast,
// faster than spf: the comparison pointed the wrong way. Measured (records per
// virtual second, parallel / deterministic, 5M cycles, 2026-12-06): before the
// fix mmap_lock 1.58-1.81 at 4 CPUs and 2.7 at 8; after 0.88-0.96 and 0.95;
// spf at 4 CPUs 0.76-1.19 after. The tolerance (a factor of 1.5) is what no
// host load broke in those runs; the order of the two strategies at 4 CPUs
// (spf 11% ahead in deterministic mode) is within parallel mode's noise, so it
// is not asserted here (README, Validation, "Parallel vs deterministic on C'").

const TOL = 1.5;

const point = (strategy: string, cpus: number, mode: 'deterministic' | 'parallel') => ({
  workload: 'ebizzy-mTRp', strategy, munmap: 'write' as const, cpus, profile: 'kvm-hsw-16vcpu', mode,
  seed: 1, quantum: 10_000, vcycles: 5_000_000, loops: 0, workers: mode === 'deterministic' ? 1 : 2,
});

describe("parallel mode on C' (ebizzy -mTRp, a guest run queue, sleepers in mmap_lock's wait list)", () => {
  for (const [strategy, cpus] of [['mmap_lock', 4], ['spf', 4], ['mmap_lock', 8]] as [string, number][]) {
    it(`${strategy} at ${cpus} CPUs: parallel within a factor of ${TOL} of deterministic`, async () => {
      const det = await runPoint(point(strategy, cpus, 'deterministic'));
      const par = await runPoint(point(strategy, cpus, 'parallel'));
      expect(det.ok, det.error ?? '').toBe(true);
      expect(par.ok, par.error ?? '').toBe(true);
      const ratio = par.opsPerVirtualSec / det.opsPerVirtualSec;
      console.log(`C' ${strategy} ${cpus} CPUs: parallel ${par.opsPerVirtualSec.toFixed(0)} vs deterministic ${det.opsPerVirtualSec.toFixed(0)} records/s (x${ratio.toFixed(2)})`);
      expect(ratio).toBeGreaterThan(1 / TOL);
      expect(ratio).toBeLessThan(TOL);
    }, 120_000);
  }
});
