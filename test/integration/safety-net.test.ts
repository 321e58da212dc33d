import { describe, it, expect } from 'vitest';
import { Machine, type Engine } from '../../src/machine.js';
import { layoutConsts } from '../../src/wasm.js';
import { runScripts } from '../support/fault-util.js';

// The 20 ms safety net of parallel mode (assembly/sched.ts safety_net; the threads
// engine's timed futex wait, threads.ts) and the counter that keeps it honest: a
// parked CPU whose wake token nobody moved, whose wait is over when the net lets it
// look again, was a lost wake-up, and `wakeup_rescued` counts it. The test core's
// FLAG_LOSE_WAKE drops the next wake-up of a spinlock waiter (wait.ts wake_cpu): one
// hand-over of the ticket lock below is a lost wake-up that only the net ends. Two CPUs on
// one worker (parallel mode, M:N engine): a waiter always parks, so that wake-up is lost.

const C = layoutConsts();

async function lockRun(cpus: number, workers: number, engine: Engine, flags: number, iters: number, watchdogMs = 10_000) {
  const m = new Machine({ cpus, workers, engine, flags, watchdogMs, core: 'test' });
  const lock = m.hostAlloc(m.C.SL_SIZE);
  const counter = m.hostAlloc(16);
  m.host.core.spin_lock_init(lock, m.C.LOCK_CLASS_GENERIC);
  const r = await m.run(() => ({ program: 'lockInc', args: { lock, counter, iters } }));
  return { r, m, counter: m.u32(counter), stats: m.stats() };
}

describe('the safety net rescues a lost wake-up and counts it (wakeup_rescued)', () => {
  it('M:N engine, 2 CPUs on 1 worker, one spinlock wake-up lost: the run ends, one rescue counted', async () => {
    const { r, m, counter, stats } = await lockRun(2, 1, 'mn', C.FLAG_LOSE_WAKE, 2000);
    expect(r.error).toBeUndefined();
    expect(counter).toBe(2 * 2000);
    expect(Number(stats.generic_contended)).toBeGreaterThan(100);
    expect(Number(stats.wakeup_rescued)).toBe(1);
    expect(m.engineStats().safetyTimeouts).toBeGreaterThanOrEqual(1);
  });

  it('with the net off (FLAG_NO_SAFETY_NET) the same lost wake-up hangs until the watchdog, which names the waiters', async () => {
    const { r } = await lockRun(2, 1, 'mn', C.FLAG_LOSE_WAKE | C.FLAG_NO_SAFETY_NET, 2000, 1_500);
    expect(r.error).toMatch(/watchdog/);
    expect(r.error).toMatch(/waits for spinlock/);
  });

  it('beside a CPU that only polls (its worker never sleeps): a lost flag wake-up is rescued all the same', async () => {
    // cpu 0 sleeps on flag 0, then raises flag 1; cpu 1 raises flag 0 (that wake-up is lost); cpus 1 and 2 poll
    // flag 1 (spin_wait_round: no wake object), so their worker always has a CPU to run and never sleeps
    // (and cpu 1 does not finish: a finishing CPU lets flag waiters look again)
    const scripts = (f: number[]) => [
      [{ op: 'wait', flag: f[0] }, { op: 'set', flag: f[1] }],
      [{ op: 'charge', cycles: 50_000 }, { op: 'set', flag: f[0] }, { op: 'poll', flag: f[1] }],
      [{ op: 'poll', flag: f[1] }],
    ];
    const run = await runScripts({ cpus: 3, mode: 'parallel', workers: 1, flags: C.FLAG_LOSE_WAKE, core: 'test', watchdogMs: 10_000 }, scripts);
    expect(run.error).toBeUndefined();
    expect(Number(run.stats.wakeup_rescued)).toBe(1);
    const off = await runScripts({ cpus: 3, mode: 'parallel', workers: 1, flags: C.FLAG_LOSE_WAKE | C.FLAG_NO_SAFETY_NET, core: 'test', watchdogMs: 1_500 }, scripts);
    expect(off.error).toMatch(/watchdog/);
  });

  it('without a lost wake-up nothing is rescued: 8 CPUs on 2 workers, one hammered lock', async () => {
    const { r, counter, stats } = await lockRun(8, 2, 'mn', 0, 500);
    expect(r.error).toBeUndefined();
    expect(counter).toBe(8 * 500);
    expect(Number(stats.generic_contended)).toBeGreaterThan(0);
    expect(Number(stats.wakeup_rescued)).toBe(0);
  });
});
