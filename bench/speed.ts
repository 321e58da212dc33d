// Emulator speed on whole runs: how many virtual cycles (and operations) the
// emulator advances per host second at several emulated CPU counts, and how
// much of that goes to the quantum barrier. Each point is a real run.

import { Machine, type Engine, type Mode } from '../src/machine.js';
import { layoutConsts } from '../src/wasm.js';
import { runWorkload, type WorkloadName, type StrategyName } from '../src/api.js';
import { closeIdlePools, packageRoot } from '../src/node/platform.js';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export interface SpeedResult {
  name: string;
  cpus: number;
  mode: Mode;
  engine: Engine;
  workers: number;
  wallMs: number;
  ops: number;
  opsPerHostSec: number;
  vcyclesPerHostSec: number;
  barrierWaitsPerHostSec: number;
  switchesPerHostSec: number;
  /** deepest Asyncify stack of a suspended CPU, bytes (0: nothing switched) */
  asyncHighWater: number;
  /** a workload point's host time outside its run (the machine built and set up, the results read): runWorkload() less wallMs */
  setupMs?: number;
}

/**
 * a run's fixed host cost (its wall time at almost no work): on new worker threads and on the ones a
 * process keeps; and a CLI command's whole process (`faultline list`: node, the imports, the command)
 */
export interface Startup { freshMs: number; keptMs: number; cliMs: number; samples: number }

/** wall time of a tiny run (page_fault1, 2 CPUs, 10^6 cycles each), with the kept worker threads ended first or not */
export async function measureStartup(samples = 5): Promise<Startup> {
  const once = async (fresh: boolean) => {
    if (fresh) await closeIdlePools();
    const r = await runWorkload({ profile: SPEED_PROFILE, workload: 'page_fault1', strategy: 'spf', cpus: 2, vcycles: 1_000_000 });
    if (!r.ok) throw new Error(`start-up run failed: ${r.error}`);
    return r.host.wallMs;
  };
  const med = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1];
  const fresh: number[] = [], kept: number[] = [];
  await once(true); // the core's first compilation in this process is not a run's cost
  for (let i = 0; i < samples; i++) { fresh.push(await once(true)); kept.push(await once(false)); }
  const cli: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t = performance.now();
    const r = spawnSync(process.execPath, [join(packageRoot(), 'dist', 'src', 'cli.js'), 'list'], { stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`faultline list exited ${r.status}`);
    cli.push(performance.now() - t);
  }
  return { freshMs: med(fresh), keptMs: med(kept), cliMs: med(cli), samples };
}

/**
 * One emulated-CPU-count point of a run. `run` gives the point's figure; an `interleaved` case's
 * `run` is ONE run, repeated REPEATS times in rounds over all interleaved points (bench/run.ts).
 */
export interface SpeedCase { name: string; cpuCounts: number[]; interleaved?: boolean; run(cpus: number): Promise<SpeedResult> }

/** the 256-thread profile the fault-speed cases use at every CPU count, so one run's ratios compare like with like */
export const SPEED_PROFILE = 'amd-epyc-rome';
/** total virtual cycles of a fault-speed point (the runs use kept worker threads: their start-up is measured apart, measureStartup) */
const TOTAL_VCYCLES = 6_000_000_000;

/**
 * runs per fault-speed point: the median is kept (JIT tier-up and the host make single runs noisy).
 * The runs are interleaved over the points (round 1 of every point, then round 2, ...), so that
 * the host's drift (this 2-vCPU VM's vCPUs differ by up to 1.5x from minute to minute) falls on
 * every point of a ratio alike, not on one point's runs.
 */
export const REPEATS = 3;

/** the median run (by host speed) of one point's runs */
export function medianRun(runs: SpeedResult[]): SpeedResult {
  return [...runs].sort((a, b) => a.opsPerHostSec - b.opsPerHostSec)[runs.length >> 1];
}

async function workloadRun(name: string, workload: WorkloadName, strategy: StrategyName, cpus: number, mode: Mode, engine: Engine, workers?: number): Promise<SpeedResult> {
  const vcycles = Math.max(20_000_000, Math.floor(TOTAL_VCYCLES / cpus));
  const t0 = performance.now();
  const r = await runWorkload({ profile: SPEED_PROFILE, workload, strategy, cpus, mode, engine, vcycles, ...(workers === undefined ? {} : { workers }) });
  const totalMs = performance.now() - t0;
  if (!r.ok) throw new Error(`${workload} failed: ${r.error}`);
  const wallMs = r.host.wallMs;
  return {
    name, cpus, mode, engine, workers: r.host.engine.workers, wallMs, ops: r.ops ?? 0,
    opsPerHostSec: (r.ops ?? 0) / (wallMs / 1000),
    vcyclesPerHostSec: r.clocks.reduce((s, c) => s + Number(c), 0) / (wallMs / 1000),
    barrierWaitsPerHostSec: Number(r.stats.barrier_wait) / (wallMs / 1000),
    switchesPerHostSec: r.host.engine.switches / (wallMs / 1000),
    asyncHighWater: r.host.engine.asyncHighWater,
    setupMs: totalMs - wallMs,
  };
}

/**
 * The engine's fault-speed cases (issue: M:N engine): parallel 1..256 CPUs, deterministic 8 and 64, and
 * 1 CPU without Asyncify; and parallel 64 and 256 CPUs on ONE host worker, which gives what a second
 * host core could add at most: twice that figure, were the two workers never to wait for each other.
 */
function faultSpeedCase(workload: WorkloadName): SpeedCase[] {
  const name = `${workload} (spf)`;
  const once = (cpus: number, mode: Mode = 'parallel', engine: Engine = 'mn', workers?: number) => workloadRun(name, workload, 'spf', cpus, mode, engine, workers);
  return [
    { name, cpuCounts: [1, 8, 64, 256], interleaved: true, run(cpus) { return once(cpus); } },
    { name, cpuCounts: [64, 256], interleaved: true, run(cpus) { return once(cpus, 'parallel', 'mn', 1); } },
    { name, cpuCounts: [8, 64], interleaved: true, run(cpus) { return once(cpus, 'deterministic'); } },
    { name, cpuCounts: [1], interleaved: true, run(cpus) { return once(cpus, 'parallel', 'threads'); } },
  ];
}

export const speedCases: SpeedCase[] = [
  ...faultSpeedCase('pft-private'),
  ...faultSpeedCase('page_fault1'),
  {
    name: 'atomic increments, private lines',
    cpuCounts: [2, 8, 64, 256],
    async run(cpus) {
      const iters = 20_000;
      const m = new Machine({ cpus, scratchBytes: layoutConsts().LM_SIZE + 8, profile: SPEED_PROFILE });
      const r = await m.run((cpu) => ({ program: 'atomicInc', args: { line: m.scratch(cpu), ctr: m.scratch(cpu) + m.C.LM_SIZE, iters } }));
      if (!r.ok) throw new Error(r.error);
      return summarize(this.name, m, r.clocks, r.wallMs, cpus * iters);
    },
  },
  {
    name: 'lock-protected increments, one lock',
    cpuCounts: [2, 8, 64, 256],
    async run(cpus) {
      // a FIFO ticket lock hands over to one specific (often sleeping) thread: keep 64-CPU runs short
      const iters = Math.max(50, Math.floor(16_000 / cpus));
      const m = new Machine({ cpus, profile: SPEED_PROFILE });
      const lock = m.hostAlloc(m.C.SL_SIZE);
      const counter = m.hostAlloc(16);
      m.host.core.spin_lock_init(lock, m.C.LOCK_CLASS_GENERIC);
      const r = await m.run(() => ({ program: 'lockInc', args: { lock, counter, iters } }));
      if (!r.ok) throw new Error(r.error);
      return summarize(this.name, m, r.clocks, r.wallMs, cpus * iters);
    },
  },
];

export function summarize(name: string, m: Machine, clocks: bigint[], wallMs: number, ops: number): SpeedResult {
  const vcycles = clocks.reduce((s, c) => s + Number(c), 0);
  const s = m.stats();
  const sec = wallMs / 1000;
  const e = m.engineStats();
  return {
    name, cpus: m.cfg.cpus, mode: m.cfg.mode, engine: m.cfg.engine, workers: m.cfg.workers, wallMs, ops,
    opsPerHostSec: ops / sec,
    vcyclesPerHostSec: vcycles / sec,
    barrierWaitsPerHostSec: Number(s.barrier_wait) / sec,
    switchesPerHostSec: e.switches / sec,
    asyncHighWater: e.asyncHighWater,
  };
}
