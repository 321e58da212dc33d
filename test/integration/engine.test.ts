import { describe, it, expect } from 'vitest';
import { pftAgreement64, cpuHog, stopHog } from '../../bench/agreement.js';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Machine, ASYNC_STACK_BYTES } from '../../src/machine.js';
import { runPoint, POINT_DEFAULTS, type PointResult } from '../../src/experiment.js';
import { wlArgs } from '../../src/workloads.js';

// The M:N engine: many emulated CPUs per host worker as coroutines.

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli.js');

/** the virtual part of a run's JSON (host wall time and engine counters removed) */
function virtualPart(file: string): unknown {
  const doc = JSON.parse(readFileSync(file, 'utf8'));
  return doc.points.map((p: Record<string, unknown>) => ({ ...p, host: undefined }));
}

/** a busy loop in another process, on every host core: host load beside the emulator */

/** a ticket spinlock and a counter in host scratch, for lockInc */
function lockAndCounter(m: Machine) {
  const lock = m.hostAlloc(m.C.SL_SIZE);
  const counter = m.hostAlloc(16);
  m.host.core.spin_lock_init(lock, m.C.LOCK_CLASS_GENERIC);
  return { lock, counter };
}

describe('many CPUs per worker', () => {
  it('64 CPUs on 2 workers: every locked increment lands, the Asyncify stacks stay far below their size', async () => {
    const m = new Machine({ cpus: 64, workers: 2 });
    const { lock, counter } = lockAndCounter(m);
    const r = await m.run(() => ({ program: 'lockInc', args: { lock, counter, iters: 300 } }));
    expect(r.error).toBeUndefined();
    expect(m.u32(counter)).toBe(64 * 300);
    expect(r.engine.workers).toBe(2);
    expect(r.engine.switches).toBeGreaterThan(1000); // the lock made CPUs park and switch
    expect(r.engine.asyncHighWater).toBeGreaterThan(0);
    expect(r.engine.asyncHighWater).toBeLessThan(ASYNC_STACK_BYTES / 4);
  });

  it('the fault path suspended mid-fault: page_fault1 on 32 CPUs per worker, high-water mark reported', async () => {
    const r = await runPoint({ ...POINT_DEFAULTS, workload: 'page_fault1', strategy: 'pervma', cpus: 64, workers: 2, vcycles: 3_000_000 });
    expect(r.error).toBeNull();
    expect(r.host.engine.asyncHighWater).toBeGreaterThan(0);
    expect(r.host.engine.asyncHighWater).toBeLessThan(ASYNC_STACK_BYTES / 4);
  });

  it('the threads engine runs one worker per CPU and never switches', async () => {
    const m = new Machine({ cpus: 4, engine: 'threads' });
    const { lock, counter } = lockAndCounter(m);
    const r = await m.run(() => ({ program: 'lockInc', args: { lock, counter, iters: 500 } }));
    expect(r.error).toBeUndefined();
    expect(m.u32(counter)).toBe(4 * 500);
    expect(r.engine).toMatchObject({ engine: 'threads', workers: 4, switches: 0, asyncHighWater: 0 });
  });

  it('a trap while one CPU runs stops the run with that CPU named; the others stop, nothing hangs', async () => {
    const m = new Machine({ cpus: 16, workers: 2, watchdogMs: 10_000 });
    const { lock, counter } = lockAndCounter(m);
    m.setU32(m.percpu(11) + m.C.PC_INJECT, 3); // cpu 11 (worker 1) traps when it starts its third operation
    const wl = wlArgs(m, { kind: 0, length: 1 << 20, maxIters: 1000 });
    const r = await m.run((cpu) => cpu === 11
      ? { program: 'pageFault', args: { wl } }
      : { program: 'lockInc', args: { lock, counter, iters: 100_000 } });
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/cpu 11/);
    expect(r.cpus.filter((c) => c.stopped).length).toBeGreaterThan(0);
    expect(r.deadlock).toBeUndefined();
  });

  it('a program error on one CPU (a bad faultScript step) names that CPU', async () => {
    const m = new Machine({ cpus: 4, workers: 2 });
    const r = await m.run((cpu) => ({ program: 'faultScript', args: { steps: cpu === 2 ? [{ op: 'frobnicate' }] : [{ op: 'charge', cycles: 1000 }] } }));
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/cpu 2 .*faultScript: unknown op frobnicate/);
  });

  it('rejects engine settings that cannot work, with one clear message', () => {
    expect(() => new Machine({ cpus: 4, engine: 'threads', mode: 'deterministic' })).toThrow(/deterministic mode runs every CPU on one worker/);
    expect(() => new Machine({ cpus: 4, mode: 'deterministic', workers: 2 })).toThrow(/one worker/);
    expect(() => new Machine({ cpus: 4, workers: 0 })).toThrow(/workers must be an integer from 1 to/);
    expect(() => new Machine({ cpus: 4, workers: 5 })).toThrow(/workers must be an integer from 1 to/);
    expect(() => new Machine({ cpus: 4, engine: 'fibers' as never })).toThrow(/unknown engine "fibers"/);
  });
});

// Deterministic mode = every CPU on one worker: nothing depends on the host.
describe('deterministic mode whatever the host', () => {
  it('ebizzy, 16 CPUs: identical JSON on one host core (taskset), on both, and with a CPU hog beside it', async () => {
    expect(existsSync('/usr/bin/taskset'), 'taskset (util-linux) is needed to pin the run to one core').toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'fl-det16-'));
    const args = [CLI, 'run', '--workload', 'ebizzy', '--strategy', 'spf', '--cpus', '16', '--mode', 'deterministic', '--seed', '3', '--vcycles', '4000000'];
    const one = spawnSync('/usr/bin/taskset', ['-c', '0', process.execPath, ...args, '--json', join(dir, 'one.json')], { encoding: 'utf8', timeout: 120_000 });
    const all = spawnSync(process.execPath, [...args, '--json', join(dir, 'all.json')], { encoding: 'utf8', timeout: 120_000 });
    const hog = cpuHog();
    let loaded;
    try {
      loaded = spawnSync(process.execPath, [...args, '--json', join(dir, 'hog.json')], { encoding: 'utf8', timeout: 120_000 });
    } finally { stopHog(hog); }
    for (const r of [one, all, loaded]) expect(r.status, r.stderr).toBe(0);
    const ref = virtualPart(join(dir, 'all.json'));
    expect(virtualPart(join(dir, 'one.json'))).toEqual(ref);
    expect(virtualPart(join(dir, 'hog.json'))).toEqual(ref);
    const p = (ref as PointResult[])[0];
    expect(p.ops).toBeGreaterThan(0);
    expect(Number(p.stats.munmap)).toBeGreaterThan(0); // the churn ran: faults raced mmap/munmap
  });
});

// Parallel mode (2 workers of 32 CPUs each, exact inside a worker, the lax
// barrier between them) against the deterministic reference on the case the
// engine issue names. How close they come depends on the host: measured by
// `npm run bench agreement` (bench/agreement.ts; README "Virtual time": +1.6%
// to +5.4% quiet, -13.4% to +5.7% beside a CPU hog on 2026-12-06; on one worker,
// without host races, -1.2%). Asserted here: what no host load breaks.
describe('parallel mode against deterministic mode at 64 CPUs', () => {
  it('pft-private under spf: within a factor of 2, on a quiet host and with a CPU hog beside it', async () => {
    const a = await pftAgreement64();
    for (const r of [a.det, a.quiet, a.loaded]) expect(r.error).toBeNull();
    console.log(`pft-private spf 64 CPUs: deterministic ${(a.det.opsPerVirtualSec! / 1e6).toFixed(3)}M, parallel ${a.quietOffPct.toFixed(1)}% off, with a CPU hog ${a.loadedOffPct.toFixed(1)}% off`);
    for (const off of [a.quietOffPct, a.loadedOffPct]) {
      expect(off).toBeGreaterThan(-50);
      expect(off).toBeLessThan(100);
    }
  });
});
