// Points and sweeps: one point = one workload under one strategy on N CPUs,
// run for real on a fresh Machine; a sweep = points one after the other.
// Bad input throws (UsageError / ProfileError) before anything runs; a run
// that fails (deadlock, crash) is a result with ok=false, never a throw.

import { Machine, engineConfig, munmapLockOf, checkMachineSize, type MachineConfig, type ObserveConfig, checkPervmaKernel, DEFAULT_SETTINGS, type PervmaKernel, type Engine, type EngineStats, type Mode, type MunmapLock, type SpfLookup, type RunResult, type RunOptions, type CpuSnapshot } from './machine.js';
import { loadProfile, ProfileError, type CostProfile } from './profile.js';
import { layoutConsts } from './wasm.js';
import { UsageError } from './types.js';
import { workloadByName, loopsOf, WorkloadFailure, type Workload } from './workloads.js';
import { strategyByName, type Strategy } from './strategies.js';
import { cyclesByCategory } from './breakdown.js';
import { readLockStat, type LockStatRow } from './obs.js';

/** What to run for one point of a sweep. */
export interface PointSpec {
  workload: string;
  strategy: string;
  cpus: number;
  /** profile name or path to a profile JSON file */
  profile: string;
  mode: Mode;
  seed: number;
  /** lax-barrier quantum, virtual cycles */
  quantum: number;
  /** per-CPU virtual-cycle budget (its meaning is the workload's: Workload.vcycles); undefined = workload default */
  vcycles?: number;
  /** whole loops of its benchmark every CPU completes at least (the steady state; Workload.loop); undefined = DEFAULT_LOOPS without vcycles, 0 with; 0 = the budget alone */
  loops?: number;
  /** watchdog (host ms without progress); undefined = Machine default */
  watchdogMs?: number;
  /** how CPUs map onto host threads; undefined = 'mn' */
  engine?: Engine;
  /** host workers (mn engine; at most the CPU count: a larger value is clamped per point); undefined = host cores */
  workers?: number;
  /** munmap's mmap_lock (`--munmap`; src/machine.ts FaultSettings.munmap); undefined = the strategy's default */
  munmap?: MunmapLock;
  /** SPF's get_vma() (`--spf-lookup`, spf strategy only); undefined = v11 */
  spfLookup?: SpfLookup;
  /** the Linux release of the per-VMA locks (`--kernel`, pervma strategy only); undefined = the newest */
  kernel?: PervmaKernel;
  /** what to record beside the results (`--lock-stat`, `--trace`, `--flame`; src/obs.ts); undefined = nothing */
  observe?: ObserveConfig;
}

/** The result of one point: see docs/results-schema.md (counters and cycles are plain numbers: exact below 2^53, checked). */
export interface PointResult {
  workload: string;
  strategy: string;
  /** false: the workload does not use the strategy; it is recorded as asked */
  strategyUsed: boolean;
  cpus: number;
  profile: string;
  ghz: number;
  mode: Mode;
  seed: number;
  quantum: number;
  vcycles: number | null;
  params: Record<string, number>;
  /**
   * the kernel variant the point ran: munmap's mmap_lock (downgrade: Linux 4.20+; write: before); SPF's get_vma() (spf only, else null);
   * the per-VMA lock release (pervma only, else null)
   */
  kernel: { munmap: MunmapLock; spfLookup: SpfLookup | null; pervma: PervmaKernel | null };
  /**
   * where the threads ran: 'cores' (will-it-scale's hwloc binding: cores in order, SMT siblings once every core has a thread)
   * or 'spread' (left to the scheduler: idle cores first, sockets level); smtSharedCpus: CPUs whose core also ran another
   * CPU of the point (each slowed by the profile's smt_slowdown)
   */
  placement: { policy: 'cores' | 'spread'; smtSharedCpus: number };
  /** the workload's own measurements (postcopy: userfault resolution latency percentiles); {} for most */
  metrics: Record<string, number>;
  /** the steady state: whole loops of the benchmark each CPU completed (null: the workload has no loop) */
  loops: LoopReport | null;
  ok: boolean;
  error: string | null;
  opsUnit: string;
  ops: number | null;
  /** max of the CPUs' clocks */
  virtualCycles: number | null;
  /** cycles of the phase the benchmark times (pft: its fault phases; ebizzy: after set-up); = virtualCycles for the others */
  timedCycles: number | null;
  opsPerVirtualSec: number | null;
  opsPerVirtualSecPerCpu: number | null;
  /** each CPU's clock at the end (at the stop, for a failed run) */
  clocks: number[];
  clockSpread: ClockSpread;
  /** cycles summed over CPUs by category (src/breakdown.ts) */
  cyclesByCategory: Record<string, number>;
  /** every counter of spec/counters.json, summed over CPUs */
  stats: Record<string, number>;
  /** the emulator itself (host time), never mixed with the virtual numbers */
  host: { wallMs: number; opsPerHostSec: number | null; engine: EngineStats };
  /** /proc/lock_stat per lock class, in virtual cycles (only when the spec asked: observe.lockStat) */
  lockStat?: LockStatRow[];
}

export interface LoopReport {
  /** what one loop is */
  unit: string;
  /** whole loops asked of every CPU (--loops) */
  required: number;
  /** whole loops each CPU completed, by CPU */
  complete: number[];
  /** operations (opsUnit) each CPU performed, whole loops and the part of the last one */
  opsPerCpu: number[];
  /** every CPU completed at least max(1, required) whole loops inside the window */
  covered: boolean;
}

export interface ClockSpread { min: number; max: number; mean: number; spreadPct: number }

export interface SweepProgress {
  done: number;
  total: number;
  /** the point about to run (absent once all are done) */
  running?: PointSpec;
}

/** The default sweep (`faultline sweep --default`, `npm start`): edit here. */
export const DEFAULT_SWEEP = Object.freeze({
  workloads: ['page_fault1', 'ebizzy', 'pft-private'],
  strategies: ['mmap_lock', 'spf', 'pervma'],
  // to 64: every CPU runs whole 128 MiB loops of page_fault1 (--loops), and 128 CPUs of them alone
  // take longer than the minute the default sweep is given on 2 host cores
  cpus: [1, 2, 4, 8, 16, 32, 64],
  /** a sweep without --profile runs on this machine: 128 hardware threads, as the published 128-CPU results */
  profile: 'intel-icx-2s',
});

/** Defaults of the options every point has. */
export const POINT_DEFAULTS = Object.freeze({ profile: 'default', mode: 'parallel' as Mode, seed: 1, quantum: 10_000 });

// ---------------------------------------------------------------------------
// Validation

interface Resolved { workload: Workload; strategy: Strategy; profile: CostProfile }

function checkInt(what: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new UsageError(`${what} must be an integer ${range} (got ${v})`);
  }
}

/** Check a spec and resolve its names; throws UsageError / ProfileError naming the problem. */
export function resolveSpec(spec: PointSpec): Resolved {
  const workload = workloadByName(spec.workload);
  const strategy = strategyByName(spec.strategy);
  const profile = loadProfile(spec.profile);
  const maxCpus = layoutConsts().MAX_CPUS;
  checkInt('CPU count', spec.cpus, 1, maxCpus);
  if (spec.cpus < (workload.minCpus ?? 1)) throw new UsageError(`workload ${workload.name} needs at least ${workload.minCpus} CPUs (got ${spec.cpus})`);
  const t = profile.topology;
  const hw = t.sockets * t.coresPerSocket * t.threadsPerCore;
  if (spec.cpus > hw) throw new UsageError(`profile ${profile.name} has ${hw} hardware threads; cannot emulate ${spec.cpus} CPUs`);
  if (spec.mode !== 'parallel' && spec.mode !== 'deterministic') throw new UsageError(`unknown mode "${spec.mode}" (parallel or deterministic)`);
  checkInt('seed', spec.seed, 0);
  checkInt('quantum', spec.quantum, 100);
  // a clock stops the run at MAX_VCYCLES (2^39 - 1, the cache-line model's limit): no budget beyond it
  if (spec.vcycles !== undefined) checkInt('vcycles', spec.vcycles, 1, layoutConsts().MAX_VCYCLES);
  if (spec.loops !== undefined) checkInt('loops', spec.loops, 0, 1_000_000);
  if (spec.munmap !== undefined) munmapLockOf(spec.munmap, strategy.id);
  if (spec.spfLookup !== undefined && spec.spfLookup !== 'v11' && spec.spfLookup !== 'v12') throw new UsageError(`unknown SPF lookup "${String(spec.spfLookup)}" (v11, v12)`);
  if (spec.kernel !== undefined) checkPervmaKernel(spec.kernel);
  engineOf(spec);
  const resolved = { workload, strategy, profile };
  // the machine the workload asks for must fit the shared memory: said here, before any point runs
  const vc = spec.vcycles !== undefined ? ` --vcycles ${spec.vcycles}` : '';
  checkMachineSize(machineConfigOf(spec, resolved),
    `${workload.name} on ${spec.cpus} CPUs${vc} is sized from its footprint (src/workloads.ts): lower --cpus or --vcycles`);
  return resolved;
}

// ---------------------------------------------------------------------------
// One point

/** The machine of a point: the spec's options and the workload's sizing (Workload.machine). */
function machineConfigOf(spec: PointSpec, r: Resolved): MachineConfig {
  const sized = r.workload.machine?.(spec);
  return {
    cpus: spec.cpus,
    mode: spec.mode,
    profile: r.profile,
    quantum: spec.quantum,
    seed: spec.seed,
    strategy: r.strategy.id,
    placement: r.workload.placement ?? 'cores',
    ...engineOf(spec),
    ...(spec.watchdogMs !== undefined ? { watchdogMs: spec.watchdogMs } : {}),
    ...sized,
    ...(spec.observe !== undefined ? { observe: spec.observe } : {}),
    settings: { ...(sized?.settings ?? {}), ...(spec.munmap !== undefined ? { munmap: spec.munmap } : {}),
      ...(spec.spfLookup !== undefined ? { spfLookup: spec.spfLookup } : {}),
      ...(spec.kernel !== undefined ? { pervmaKernel: spec.kernel } : {}) },
  };
}

/** The engine and host workers of a point (checked; --workers above the CPU count is clamped to it). */
export function engineOf(spec: PointSpec): { engine: Engine; workers: number } {
  return engineConfig(spec.cpus, spec.mode, spec.engine, spec.workers, true);
}

/** Run one point on a fresh machine. Throws only for bad input. */
export async function runPoint(spec: PointSpec, opts: RunOptions = {}): Promise<PointResult> {
  const r = resolveSpec(spec);
  const m = new Machine(machineConfigOf(spec, r));
  const o = await execute(m, r.workload, spec, opts);
  return summarize(spec, r, m, o);
}

interface Outcome { run: RunResult; ops: number | null; params: Record<string, number>; timed: bigint | null; metrics: Record<string, number>;
  loops: LoopReport | null }

/** Set up and run the workload; a host-side error (not bad input) becomes a failed run. */
async function execute(m: Machine, w: Workload, spec: PointSpec, opts: RunOptions): Promise<Outcome> {
  const t0 = performance.now();
  let params: Record<string, number> = {};
  try {
    const ctx = w.setup(m, spec);
    params = w.params(ctx);
    const run = await m.run((cpu) => w.task(cpu, ctx), opts);
    const ops = run.ok ? w.ops(m, run, ctx) : null;
    return { run, params, ops, timed: run.ok && w.timedCycles ? w.timedCycles(m, run, ctx) : null,
      metrics: run.ok && w.metrics ? w.metrics(m, run, ctx) : {}, loops: run.ok ? loopReport(w, m, run, ctx, spec) : null };
  } catch (e) {
    if (e instanceof UsageError || e instanceof ProfileError) throw e;
    const clocks = [...Array(m.cfg.cpus).keys()].map((i) => m.clock(i));
    // a failure inside the emulated machine (an OOM) says so; anything else is the host's
    const error = e instanceof WorkloadFailure ? e.message : `host error: ${e instanceof Error ? e.message : String(e)}`;
    return { run: { ok: false, error, cpus: [], clocks, wallMs: performance.now() - t0, engine: m.engineStats() }, params, ops: null, timed: null, metrics: {}, loops: null };
  }
}

function loopReport(w: Workload, m: Machine, run: RunResult, ctx: unknown, spec: PointSpec): LoopReport | null {
  if (!w.loop) return null;
  const complete = w.loop.complete(m, ctx);
  const opsPerCpu = run.cpus.map((c) => (c.value as { iters?: number } | undefined)?.iters ?? 0);
  const need = Math.max(1, loopsOf(spec));
  return { unit: w.loop.unit, required: loopsOf(spec), complete, opsPerCpu, covered: complete.every((n) => n >= need) };
}

/** the warning line of a point whose window misses a whole loop on some CPU (null when covered or not applicable) */
export function loopWarning(p: PointResult): string | null {
  if (!p.ok || !p.loops || p.loops.covered) return null;
  const need = Math.max(1, p.loops.required);
  const short = p.loops.complete.map((n, cpu) => ({ n, cpu })).filter((x) => x.n < need).map((x) => x.cpu);
  const cpus = short.length <= 4 ? `CPU${short.length > 1 ? 's' : ''} ${short.join(', ')}` : `${short.length} of ${p.cpus} CPUs`;
  const what = need === 1 ? 'one whole loop' : `${need} whole loops`;
  return `warning: ${p.workload} ${p.strategy} ${p.cpus} CPU(s): ${cpus} did not complete ${what} (${p.loops.unit}) within the budget: ` +
    'the window is not the benchmark\'s steady state ' +
    (p.loops.required === 0 ? '(--loops 1 or more, or a larger --vcycles)' : '(starved: the others stopped at 4 times the first CPU\'s loops; docs/cli.md "The steady state")');
}

function summarize(spec: PointSpec, r: Resolved, m: Machine, { run, ops, params, timed, metrics, loops }: Outcome): PointResult {
  const stats = m.stats();
  const total = run.clocks.reduce((a, b) => a + b, 0n);
  const max = run.clocks.reduce((a, b) => (a > b ? a : b), 0n);
  // the benchmark's own window when it times one phase (pft, ebizzy), else the whole run
  const vsec = Number(timed ?? max) / (r.profile.ghz * 1e9);
  const rate = ops !== null && vsec > 0 ? ops / vsec : null;
  return {
    workload: r.workload.name,
    strategy: r.strategy.name,
    strategyUsed: r.workload.usesStrategy,
    cpus: spec.cpus,
    profile: r.profile.name,
    ghz: r.profile.ghz,
    mode: spec.mode,
    seed: spec.seed,
    quantum: spec.quantum,
    vcycles: spec.vcycles ?? null,
    params,
    kernel: { munmap: munmapLockOf(m.cfg.settings.munmap, r.strategy.id), spfLookup: r.strategy.name === 'spf' ? m.cfg.settings.spfLookup : null,
      pervma: r.strategy.name === 'pervma' ? m.cfg.settings.pervmaKernel : null },
    placement: { policy: m.cfg.placement, smtSharedCpus: m.smtShared },
    metrics,
    loops,
    ok: run.ok,
    error: run.ok ? null : (run.error ?? 'run failed'),
    opsUnit: r.workload.opsUnit,
    ops,
    virtualCycles: run.ok ? exact(max, 'virtual cycles') : null,
    timedCycles: run.ok ? exact(timed ?? max, 'timed cycles') : null,
    opsPerVirtualSec: rate,
    opsPerVirtualSecPerCpu: rate === null ? null : rate / spec.cpus,
    clocks: run.clocks.map((c) => exact(c, 'a clock')),
    clockSpread: spreadOf(run.clocks),
    cyclesByCategory: numbers(cyclesByCategory(stats, total)),
    stats: numbers(stats),
    host: { wallMs: run.wallMs, opsPerHostSec: ops !== null && run.wallMs > 0 ? ops / (run.wallMs / 1000) : null, engine: run.engine },
    ...(spec.observe?.lockStat ? { lockStat: readLockStat(m, stats) } : {}),
  };
}

function spreadOf(clocks: bigint[]): ClockSpread {
  if (clocks.length === 0) return { min: 0, max: 0, mean: 0, spreadPct: 0 };
  const min = clocks.reduce((a, b) => (a < b ? a : b));
  const max = clocks.reduce((a, b) => (a > b ? a : b));
  const mean = clocks.reduce((a, b) => a + Number(b), 0) / clocks.length;
  return { min: exact(min, 'a clock'), max: exact(max, 'a clock'), mean, spreadPct: max > 0n ? (Number(max - min) / Number(max)) * 100 : 0 };
}

/** a u64 as a JSON number: exact up to 2^53 (a 4 GHz clock gets there after 26 days of virtual time) */
export function exact(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < 0n) throw new Error(`${what} (${v}) does not fit a JSON number exactly`);
  return Number(v);
}

function numbers(rec: Record<string, bigint>): Record<string, number> {
  return Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, exact(v, k)]));
}

// ---------------------------------------------------------------------------
// Sweeps

/** Every (workload, strategy, cpus) combination, in that nesting order, with the common options. */
export function expandSweep(
  axes: { workloads: readonly string[]; strategies: readonly string[]; cpus: readonly number[] },
  common: Omit<PointSpec, 'workload' | 'strategy' | 'cpus'>,
): PointSpec[] {
  return axes.workloads.flatMap((workload) =>
    axes.strategies.flatMap((strategy) => axes.cpus.map((cpus) => ({ ...common, workload, strategy, cpus }))));
}

/**
 * Run the points one after the other. Every spec is checked first (bad input
 * throws before anything runs); a failed point is kept with its error and the
 * sweep goes on.
 */
export async function runSweep(
  specs: PointSpec[],
  onProgress?: (p: SweepProgress) => void,
  /** the CPUs of the running point (Machine.run's samples), with its index in `specs` */
  onCpus?: (index: number, cpus: CpuSnapshot[]) => void,
  sampleMs?: number,
): Promise<{ points: PointResult[]; failed: PointResult[] }> {
  for (const s of specs) resolveSpec(s);
  const points: PointResult[] = [];
  for (const spec of specs) {
    onProgress?.({ done: points.length, total: specs.length, running: spec });
    const i = points.length;
    points.push(await runPoint(spec, onCpus ? { onSample: (c) => onCpus(i, c), sampleMs } : {}));
  }
  onProgress?.({ done: points.length, total: specs.length });
  return { points, failed: points.filter((p) => !p.ok) };
}
