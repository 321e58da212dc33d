import { describe, it, expect } from 'vitest';
import { runPoint } from '../../src/experiment.js';

// Parallel mode against the deterministic reference on row C' (ebizzy -mTRp,
// munmap under the write lock, 2 tasks per vCPU through the guest run queue):
// nearly every record sleeps in mmap_lock's wait list. A woken waiter must run
// on from the release that woke it; parallel mode once let it run on from the
// clock it fell asleep at, so its section overlapped the previous holders' in
// virtual time and mmap_lock came out 1.7x (4 CPUs) to 3.5x (16 CPUs) too fast,
// faster than spf: the comparison pointed the wrong way.
//
// Parallel mode's rules are checked on ONE worker: the same rules (wake times,
// slack, barrier, spinners parked as waiters), but one host thread, so the
// result does not move with host load and the test cannot flake. Measured
// (records per virtual second, parallel on 1 worker / deterministic,
// 2026-12-06): mmap_lock 0.81 (4 CPUs, 5M cycles) and 0.79 (8 CPUs); spf at
// 16 CPUs (20M cycles, the first window where C' is steady enough to compare)
// 1.03 (band: a factor of 2, see the case). Without the woken waiter's wake
// time: mmap_lock at 8 CPUs 1.64. With a wake time for spinlock waiters too
// (main before wait.ts wake_cpu left them out): spf at 16 CPUs 0.35, and
// pft-private (spf, 64 CPUs, 10M cycles) 0.78 (7.15M against 9.14M faults/s;
// 0.99 without). Without rwsem.ts spinner_since(): spf at 16 CPUs 0.33. Each
// case below fails on one of those. spf at 4 CPUs is not a case: there 2 or 3
// of the 8 tasks survive 4.16's lock stealing depending on small changes of
// the interleaving (71k / 86k records/s, deterministic 119k with 3), a
// regime, not an error.
//
// On two workers (host threads racing) the same points move with host load:
// spf at 4 CPUs measured 0.56-1.09 in one afternoon, mmap_lock 0.77-0.95, always
// slower under load, never faster. So the two-worker point asserts only the
// direction of the old bug (mmap_lock at 8 CPUs: 2.7x before the fix).

const TOL = 1.5;

/** parallel (on `workers` host workers) / deterministic ops per virtual second of one point */
async function modeRatio(spec: { workload: string; strategy: string; cpus: number; vcycles: number; munmap?: 'write'; profile?: string }, workers: number): Promise<number> {
  const p = (mode: 'deterministic' | 'parallel', w: number) => runPoint({ ...spec, mode, workers: w, seed: 1, quantum: 10_000, loops: 0 });
  const det = await p('deterministic', 1);
  const par = await p('parallel', workers);
  expect(det.ok, det.error ?? '').toBe(true);
  expect(par.ok, par.error ?? '').toBe(true);
  const r = par.opsPerVirtualSec / det.opsPerVirtualSec;
  console.log(`${spec.workload} ${spec.strategy} ${spec.cpus} CPUs, ${workers} worker(s): parallel ${par.opsPerVirtualSec.toFixed(0)} vs deterministic ${det.opsPerVirtualSec.toFixed(0)} ops/s (x${r.toFixed(3)})`);
  return r;
}

/** row C': ebizzy -mTRp on the 16-vCPU KVM guest, munmap under the write lock */
const ratio = (strategy: string, cpus: number, workers: number, vcycles = 5_000_000) =>
  modeRatio({ workload: 'ebizzy-mTRp', strategy, munmap: 'write', cpus, profile: 'kvm-hsw-16vcpu', vcycles }, workers);

describe("parallel mode on C' (ebizzy -mTRp, a guest run queue, sleepers in mmap_lock's wait list)", () => {
  // spf runs 100M cycles: its rate is set by how many tasks survive 4.16's lock stealing. Since a head
  // writer woken by a release runs on its vCPU even when a spinner took the lock first (rwsem.ts, 2026-12-07),
  // the first 20M cycles of the deterministic run are a transient in which 3 of the 32 tasks do 804 of 834
  // records (parallel on one worker: x0.48 there, 37k / 76.9k records/s), and from 100M on the records spread
  // over many tasks in both modes: x0.82 at 100M and x0.99 at 200M (79.2k / 97.0k and 86.7k / 88k records/s).
  // The old errors were measured at 20M (x0.33-0.35, above); without spinner_since() the 100M point gave x0.92
  // at 8c1f28e (before the woken head's wake-up was charged once).
  for (const [strategy, cpus, vcycles, tol] of [['mmap_lock', 4, 5_000_000, TOL], ['mmap_lock', 8, 5_000_000, TOL], ['spf', 16, 100_000_000, TOL]] as [string, number, number, number][]) {
    it(`${strategy} at ${cpus} CPUs, parallel rules on one worker: within a factor of ${tol} of deterministic`, async () => {
      const r = await ratio(strategy, cpus, 1, vcycles);
      expect(r).toBeGreaterThan(1 / tol);
      expect(r).toBeLessThan(tol);
    }, 120_000);
  }
  it(`mmap_lock at 8 CPUs, two workers: not faster than deterministic by a factor of ${TOL}`, async () => {
    expect(await ratio('mmap_lock', 8, 2)).toBeLessThan(TOL);
  }, 120_000);
});

// Spinlock waits: pft-private under SPF at 64 CPUs queues on the zone and LRU
// locks (ticket order = host order). Parallel mode on one worker against
// deterministic mode, the agreement npm run bench measures on two workers.
describe('parallel mode, spinlock waiters (pft-private, spf, 64 CPUs)', () => {
  it('parallel rules on one worker: within 10% of deterministic', async () => {
    const r = await modeRatio({ workload: 'pft-private', strategy: 'spf', cpus: 64, vcycles: 10_000_000 }, 1);
    expect(Math.abs(r - 1)).toBeLessThan(0.1);
  }, 120_000);
});

// A saturated line on a two-socket machine: pft-private under mmap_lock at 64
// CPUs on intel-icx-2s queues every fault on the rwsem count's line (2 RMWs a
// fault, ~190 cycles each: a far transfer about every other access). Parallel
// mode lets an access skip a busy_until that lies beyond the queue the line's
// recent users could form (a CPU running ahead of it, cacheline.ts). That
// bound once took each queued access at a near transfer: on two sockets the
// real queue (63 x ~190 cycles) passed it early in every bucket, before the
// bucket's count made the line hot, and those accesses did not wait: 8.53M
// faults/s against 5.97M deterministic (x1.43). Measured after the fix
// (2026-12-07): 5.93M (x0.99).
describe('parallel mode, a saturated line across two sockets (pft-private, mmap_lock, 64 CPUs, intel-icx-2s)', () => {
  it('parallel rules on one worker: within 10% of deterministic', async () => {
    const r = await modeRatio({ workload: 'pft-private', strategy: 'mmap_lock', cpus: 64, vcycles: 10_000_000, profile: 'intel-icx-2s' }, 1);
    expect(Math.abs(r - 1)).toBeLessThan(0.1);
  }, 120_000);
});
