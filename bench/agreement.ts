// Parallel mode against the deterministic reference: how far apart the two
// modes come out on the same runs (page faults, one hammered cache line, a
// hammered spinlock), per engine. This depends on the host (parallel mode's
// interleaving between host workers is the host's), so it is a measurement
// printed by `npm run bench` (and `npm run bench agreement` alone), written to
// bench-results/latest.json and quoted in README "Virtual time"; the test
// suite only holds the bound that no host can break (test/core/virtual-time.test.ts).

import '../src/node/platform.js'; // Node platform before any core is loaded (LINE_BYTES below)
import { Machine, type Engine, type Mode } from '../src/machine.js';
import { layoutConsts } from '../src/wasm.js';
import { spawn, type ChildProcess } from 'node:child_process';
import type { PointResult } from '../src/experiment.js';
import { runWorkload } from '../src/api.js';
import { wlArgs } from '../src/workloads.js';

/** one modeled line (its metadata) and the 8-byte counter after it */
export const LINE_BYTES = layoutConsts().LM_SIZE + 8;

/** ops per virtual cycle of N CPUs doing atomic increments on one shared line or on private lines */
export async function atomicRate(cpus: number, shared: boolean, mode: Mode, iters: number, engine: Engine = 'mn', workers?: number) {
  const m = new Machine({ cpus, mode, engine, workers, scratchBytes: LINE_BYTES, watchdogMs: 30_000 });
  const one = m.hostAlloc(LINE_BYTES);
  const r = await m.run((cpu) => {
    const obj = shared ? one : m.scratch(cpu);
    return { program: 'atomicInc', args: { line: obj, ctr: obj + m.C.LM_SIZE, iters } };
  });
  if (!r.ok) throw new Error(r.error);
  const total = shared ? m.u64(one + m.C.LM_SIZE) : [...Array(cpus).keys()].reduce((s, c) => s + m.u64(m.scratch(c) + m.C.LM_SIZE), 0n);
  if (total !== BigInt(cpus * iters)) throw new Error(`atomicRate: ${total} increments, ${cpus * iters} expected`);
  const maxClock = r.clocks.reduce((a, b) => (a > b ? a : b));
  return Number(total) / Number(maxClock);
}

/** lock-protected increments: ops per virtual kcycle */
export async function lockRate(cpus: number, mode: Mode, iters: number, seed = 1, engine: Engine = 'mn', workers?: number) {
  const m = new Machine({ cpus, mode, seed, engine, workers, watchdogMs: 30_000 });
  const lock = m.hostAlloc(m.C.SL_SIZE);
  const counter = m.hostAlloc(16);
  m.host.core.spin_lock_init(lock, m.C.LOCK_CLASS_GENERIC);
  const r = await m.run(() => ({ program: 'lockInc', args: { lock, counter, iters } }));
  if (!r.ok) throw new Error(r.error);
  const maxClock = r.clocks.reduce((a, b) => (a > b ? a : b));
  return { rate: (cpus * iters * 1000) / Number(maxClock), m, r };
}

/** page_fault1-like: each CPU mmaps 4 MiB, writes every page, munmaps; faults per virtual kcycle */
export async function faultRate(cpus: number, mode: Mode, strategy: number, engine: Engine = 'mn', workers?: number) {
  const m = new Machine({ cpus, mode, strategy, engine, workers, frames: 16384 * cpus, watchdogMs: 30_000 });
  const wl = wlArgs(m, { kind: 0, length: 4 << 20, maxIters: 1500 });
  const r = await m.run(() => ({ program: 'pageFault', args: { wl } }));
  if (!r.ok) throw new Error(r.error);
  const maxClock = r.clocks.reduce((a, b) => (a > b ? a : b));
  return (cpus * 1500 * 1000) / Number(maxClock);
}


/** workers: the parallel run's host workers (absent: the engine's default) */
export interface Agreement { engine: Engine; cpus: number; what: string; parallel: number; deterministic: number; offPct: number; workers?: number }

/**
 * parallel vs deterministic at 4 and 8 CPUs, per engine; offPct = (parallel - deterministic) / deterministic.
 * `workers` 1 (mn engine): parallel mode's rules without host races, the same bits on every host and run.
 */
export async function modeAgreement(engines: Engine[] = ['threads', 'mn'], counts = [4, 8], workers?: number): Promise<Agreement[]> {
  const out: Agreement[] = [];
  const add = (engine: Engine, cpus: number, what: Agreement['what'], parallel: number, deterministic: number) =>
    out.push({ engine, cpus, what, parallel, deterministic, offPct: ((parallel - deterministic) / deterministic) * 100, ...(workers === undefined ? {} : { workers }) });
  for (const engine of engines) {
    for (const n of counts) {
      add(engine, n, 'page faults', await faultRate(n, 'parallel', 1, engine, workers), await faultRate(n, 'deterministic', 1));
      add(engine, n, 'shared line', (await atomicRate(n, true, 'parallel', 3000, engine, workers)) * 1000, (await atomicRate(n, true, 'deterministic', 300)) * 1000);
      add(engine, n, 'spinlock', (await lockRate(n, 'parallel', 1500, 1, engine, workers)).rate, (await lockRate(n, 'deterministic', 300)).rate);
    }
  }
  return out;
}

/** one busy-looping process per host core: host load beside a run */
export function cpuHog(n = 2): ChildProcess[] {
  return [...Array(n).keys()].map(() => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
}
export const stopHog = (hog: ChildProcess[]) => { for (const h of hog) h.kill('SIGKILL'); };

const pftPoint = (mode: 'parallel' | 'deterministic', workers?: number) =>
  runWorkload({ workload: 'pft-private', strategy: 'spf', cpus: 64, mode, vcycles: 10_000_000, ...(workers === undefined ? {} : { workers }) });

/** pft-private under spf at 64 CPUs: deterministic, parallel, parallel on one worker, parallel beside a CPU hog; off = % from deterministic */
export async function pftAgreement64(): Promise<{ det: PointResult; quiet: PointResult; loaded: PointResult; oneWorker: PointResult; quietOffPct: number; loadedOffPct: number; oneWorkerOffPct: number }> {
  const det = await pftPoint('deterministic');
  const quiet = await pftPoint('parallel');
  const oneWorker = await pftPoint('parallel', 1);
  const hog = cpuHog();
  let loaded: PointResult;
  try { loaded = await pftPoint('parallel'); } finally { stopHog(hog); }
  const d = det.opsPerVirtualSec ?? NaN;
  const off = (r: PointResult) => (((r.opsPerVirtualSec ?? NaN) - d) / d) * 100;
  return { det, quiet, loaded, oneWorker, quietOffPct: off(quiet), loadedOffPct: off(loaded), oneWorkerOffPct: off(oneWorker) };
}
