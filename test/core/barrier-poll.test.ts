import { describe, it, expect } from 'vitest';
import { runScripts } from '../support/fault-util.js';
import type { Engine } from '../../src/machine.js';

// Issue 18: `faultline stress --cpus 4 --strategy pervma --seeds 2 --ops 100`
// (parallel mode) stopped now and then at a checkpoint, after 234 of its 300
// operations. CPU 0 polls (spin_wait_round) until the userfaultfd handler CPU
// sleeps in read(); the handler, more than a quantum ahead of CPU 0's clock,
// had parked at the quantum barrier. The barrier counted the poller, whose
// clock does not move while it polls: the epoch stayed at CPU 0's clock and
// neither CPU ever moved again.
//
// The planted interleaving, forced by flags (no host timing decides it):
//   CPU 1 runs 5 quanta ahead while CPU 0 sleeps (WAITING: not counted), wakes
//   CPU 0 and sleeps until CPU 0 polls; CPU 0 (at 5 quanta: a woken waiter runs
//   on from its wake-up) polls CPU 1 with the stress checkpoint's own poll
//   (wait_handler_idle); CPU 1 runs 3 more quanta and passes the barrier limit
//   a counted poller would set (its epoch + 2 quanta): it would wait for an
//   epoch only the poller's clock holds back. Fixed: a poller is WAITING, the epoch
//   moves on, CPU 1 finishes and the poll ends.

const Q = 10_000;

async function plant(engine: Engine, watchdogMs = 5_000) {
  return runScripts({ cpus: 2, mode: 'parallel', engine, ...(engine === 'mn' ? { workers: 1 } : {}), quantum: Q, strategy: 0, watchdogMs }, (f) => [
    [{ op: 'wait', flag: f[0] }, { op: 'set', flag: f[1] }, { op: 'awaitHandlerIdle', cpu: 1, ctx: 0 }],
    [{ op: 'charge', cycles: 5 * Q }, { op: 'set', flag: f[0] }, { op: 'wait', flag: f[1] }, { op: 'charge', cycles: 3 * Q }],
  ]);
}

describe('a CPU that polls does not hold the quantum barrier (issue 18: the stress checkpoint hang)', () => {
  for (const engine of ['threads', 'mn'] as Engine[]) {
    it(`${engine} engine: the poller and the CPU it polls, two quanta ahead, both finish`, async () => {
      const r = await plant(engine);
      expect(r.ok, r.error).toBe(true);
      // the interleaving happened as planted: CPU 1 passed its barrier while CPU 0 polled it from more than
      // two quanta behind (counted, the poller would have held CPU 1 there)
      expect(r.clocks[1]).toBeGreaterThanOrEqual(8n * BigInt(Q));
      expect(r.clocks[1] - r.clocks[0]).toBeGreaterThan(2n * BigInt(Q));
      expect(r.out[0][2]).toBe(1);
      expect(r.stats.barrier_wait).toBeGreaterThan(0n);
    }, 60_000);
  }
});

// Issue 20's parallel-mode agreement drift: a woken waiter was not counted by
// the barrier until its own thread ran, so the others ran ahead in virtual time
// for as long as the host took to schedule it (a lock's next owner, a
// shootdown initiator whose acks came in), and it paid the gap as waits. The
// wake-up now makes it RUNNABLE at once. CPU 0 sleeps on a flag (its thread,
// or its worker, asleep on the futex by the time CPU 1 has faulted in 2 MiB:
// milliseconds of host time); CPU 1 wakes it and reads its state in the same
// call. Three rounds: each round that found CPU 0 asleep (at least one must:
// CPU 0 is in its first wait before CPU 1 starts) must not read it WAITING on
// that flag (RUNNABLE; RUNNING, FINISHED or in its next wait had its thread
// been faster). Without the rule most rounds read WAITING.
describe('a woken waiter holds the quantum barrier from its wake-up (issue 20)', () => {
  for (const engine of ['threads', 'mn'] as Engine[]) {
    it(`${engine} engine: the waker sees the sleeper counted at once`, async () => {
      const rounds = [0, 1, 2];
      const r = await runScripts({ cpus: 2, mode: 'parallel', engine, ...(engine === 'mn' ? { workers: 2 } : {}), quantum: Q, strategy: 0 }, (f) => [
        [{ op: 'set', flag: f[3] }, ...rounds.map((i) => ({ op: 'wait', flag: f[i] }))],
        [{ op: 'wait', flag: f[3] }, ...rounds.flatMap((i) => [
          { op: 'mmap', len: 2 << 20, as: `r${i}` }, { op: 'touch', addr: `$r${i}`, len: 2 << 20, write: 1 },
          { op: 'setPeek', flag: f[i], cpu: 0 },
        ])],
      ]);
      expect(r.ok, r.error).toBe(true);
      // each peek: the state | 0x100 (CPU 0 slept on the flag) | 0x200 (still in that wait after the read)
      const peeks = rounds.map((i) => r.out[1][3 * i + 3] as number).filter((v) => (v & 0x100) !== 0);
      expect(peeks.length).toBeGreaterThan(0);
      for (const v of peeks) expect(v & 0x2ff, `state ${v & 0xff}`).not.toBe(0x200 | r.m.C.CPU_WAITING);
    }, 60_000);
  }
});

describe('the report of a stopped run names every CPU (issue 18)', () => {
  it('watchdog: each CPU\'s state and what it waits for, held by whom, in the error and in cpuStates', async () => {
    // CPU 0 waits for a flag nobody sets, CPU 1 polls CPU 0, CPU 2 has finished
    const r = await runScripts({ cpus: 3, mode: 'parallel', engine: 'threads', strategy: 0, watchdogMs: 5_000 }, (f) => [
      [{ op: 'wait', flag: f[0] }],
      [{ op: 'awaitHandlerIdle', cpu: 0, ctx: 0 }],
      [],
    ]);
    expect(r.ok).toBe(false);
    const lines = r.error!.split('\n');
    expect(lines[0]).toMatch(/^watchdog: no CPU made progress for 5000 ms$/);
    expect(lines.slice(1)).toHaveLength(3);
    expect(lines[1]).toMatch(/^ {2}cpu 0 \[waiting, IRQs on, clock \d+, op #\d+\] waits for a change of the shared word @0x[0-9a-f]+ \(host scratch\) \(now 0/);
    expect(lines[2]).toMatch(/^ {2}cpu 1 \[(waiting|running), IRQs on, clock \d+, op #\d+\] waits for cpu 0 to change state \(polled; it is waiting, waiting for a change of the shared word .*\) held by\/owed by cpu 0$/);
    expect(lines[3]).toMatch(/^ {2}cpu 2 \[finished, IRQs \w+, clock \d+, op #\d+\] has finished$/);
    expect(r.cpuStates!.map((c) => [c.cpu, c.state, c.holders])).toEqual([[0, 'waiting', []], [1, r.cpuStates![1].state, [0]], [2, 'finished', []]]);
    expect(r.cpuStates![1].waitsFor).toMatch(/^cpu 0 to change state/);
    // stopped inside the core, the machine cannot run again, and says why (issue 18 item 2)
    expect(r.m.spent).toMatch(/^its last run stopped \(watchdog: no CPU made progress for 5000 ms\) while cpu 0, cpu 1 were inside a core call/);
    await expect(r.m.run(() => ({ program: 'faultScript', args: { steps: [] } }))).rejects.toThrow(/^this machine cannot run again: its last run stopped \(watchdog.*create a new machine$/);
  }, 30_000);
});

describe('faultline stress prints every CPU of a run that stopped (issue 18)', () => {
  it('formatStressFailure: the run-failed violation keeps its CPU lines', async () => {
    const { formatStressFailure } = await import('../../src/stress.js');
    const message = 'the stress run did not complete: watchdog: no CPU made progress for 20000 ms (the violations after this one were read from the stopped machine and may include in-flight state)\n' +
      '  cpu 0 [waiting, IRQs on, clock 5, op #78] waits for cpu 3 to change state (polled; it is at-barrier) held by/owed by cpu 3\n' +
      '  cpu 3 [at-barrier, IRQs on, clock 9, op #0] waits for the quantum barrier (epoch 1, it needs 2) held by/owed by cpu 0';
    const out = formatStressFailure({
      ok: false, violations: [{ kind: 'run-failed', message }, { kind: 'frame-leak', message: 'one\ntwo' }], seed: 2, strategy: 'pervma', cpus: 4, mode: 'parallel',
      error: 'x', replay: 'faultline stress ...', wallMs: 1, stats: {} as never,
    });
    const lines = out.split('\n');
    expect(lines[1]).toMatch(/^ {2}\[run-failed\] the stress run did not complete: watchdog/);
    expect(lines[2]).toBe('    cpu 0 [waiting, IRQs on, clock 5, op #78] waits for cpu 3 to change state (polled; it is at-barrier) held by/owed by cpu 3');
    expect(lines[3]).toMatch(/^ {4}cpu 3 \[at-barrier.*held by\/owed by cpu 0$/);
    expect(lines[4]).toBe('  [frame-leak] one'); // other violations: their first line, as before
  });
});
