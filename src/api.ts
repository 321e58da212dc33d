// The public API of faultline (package "exports": src/index.ts for Node,
// src/browser.ts for browsers, both re-export this module). This is the one
// path every client goes through: the CLI (src/cli.ts), the web page (web/),
// examples/ and third-party harnesses.
//
// The core path (this module and everything it imports) uses no fs, path or
// piscina: the compiled core, the host workers and profile files come from the
// platform (src/platform.ts); counters and profiles are bundled as data
// (src/generated/assets.ts).
//
//   createMachine(config)      a machine of N emulated CPUs; machine.run(programs)
//                              runs a custom program of operations (Op[]) per CPU
//   runWorkload(spec)          one named workload under one strategy on N CPUs
//   sweep(axes | specs)        every workload x strategy x CPU count
//   stats: statInfo()          every counter with its unit and description

import { Machine, resolveMachine, records, DEFAULT_PROFILE, PERVMA_KERNELS, PERVMA_KERNEL_NOTES, DEFAULT_SETTINGS, type RunOptions, type MachineConfig, type Mode, type Engine, type MunmapLock, type SpfLookup, type PervmaKernel, type CpuSnapshot, type RunResult, type EngineStats } from './machine.js';
import {
  runPoint, runSweep, resolvePoint, isResolvedPoint, expandSweep, commandOf, DEFAULT_SWEEP, POINT_DEFAULTS, loopWarning, type LoopReport,
  type PointSpec, type PointResult, type SweepProgress, type ResolvedPoint, type PointInput,
} from './experiment.js';
import { strategies, strategyByName, type Strategy, type StrategyName } from './strategies.js';
import type { WorkloadName } from './generated/assets.js';
import { listedWorkloads, DEFAULT_LOOPS } from './workloads.js';
import { listProfiles, loadProfile, parseProfile, ProfileError, type CostProfile } from './profile.js';
import { statInfo, counterNames, type StatInfo } from './stats.js';
import { resultsFile, jsonText, toCsv, formatTable, formatDetails, SCHEMA_VERSION, toolVersion, type ResultsFile } from './report.js';
import { plotSpecs, throughputSpec, breakdownSpec, renderSvg, flameSvg } from './plot.js';
import { layoutConsts } from './wasm.js';
import { platform } from './platform.js';
import { UsageError } from './types.js';
import { OP_NAMES, checkOps, type Op, type OpResult, type Signal, type UffdMessage } from './programs.js';

export type { OpResult, Signal, UffdMessage };
export * from './constants.js';
export type { Mode, Engine, MunmapLock, SpfLookup, PervmaKernel, CpuSnapshot, EngineStats, PointSpec, PointResult, LoopReport, SweepProgress, Strategy, CostProfile, StatInfo, ResultsFile, Op, ResolvedPoint, StrategyName, WorkloadName };
export { UsageError, ProfileError, SCHEMA_VERSION, DEFAULT_SWEEP, POINT_DEFAULTS, DEFAULT_PROFILE, DEFAULT_LOOPS, OP_NAMES, loopWarning };
export { resultsFile, jsonText, toCsv, formatTable, formatDetails, plotSpecs, throughputSpec, breakdownSpec, renderSvg, flameSvg, expandSweep };
export type { LockStatRow, TraceFile, TraceEvent, FlameResult } from './obs.js';
export type { ObserveConfig } from './machine.js';
export { statInfo, listProfiles, loadProfile, parseProfile };
export {
  checkCalibration, parseCalibration, runCalibration, beyond, CALIBRATION_FORMAT,
  type CalibrationFile, type CalibrationSet, type ValidateResult, type SetResult, type RatioResult, type PointRef, type ValidateProgress,
} from './calibration.js';
export { SPEC_FLAGS, MODES, ENGINES, MUNMAP_LOCKS, SPF_LOOKUPS } from './schema.js';
export { runStress, formatStressTable, formatStressFailure, STRESS_MIXES, BUGS, type StressMix, type StressResult, type StressOptions } from './stress.js';

/** the package version */
export const version: string = toolVersion();

/**
 * Load the compiled core (browsers: fetches and compiles the .wasm files;
 * Node: nothing to do). Every other call awaits it; call it first to pass
 * the locations of the assets in a browser.
 */
export async function init(opts: InitOptions = {}): Promise<void> {
  await platform().init?.(opts);
}

/** where a browser finds the assets (defaults: next to the module that imports faultline) */
export interface InitOptions {
  /** the two builds: URLs, bytes or compiled modules */
  wasm?: Partial<Record<'threads' | 'mn', string | URL | BufferSource | WebAssembly.Module>>;
  /**
   * the two builds of the observe core (faultline-observe.wasm, faultline-observe-mn.wasm), which a
   * run that records (observe: lockStat, trace, flame) needs; fetched on the first such run
   */
  observeWasm?: Partial<Record<'threads' | 'mn', string | URL | BufferSource | WebAssembly.Module>>;
  /** the Web Worker script that runs emulated CPUs (dist/web/cpu-worker.js) */
  workerUrl?: string | URL;
}

// ---------------------------------------------------------------------------
// What exists

export interface WorkloadInfo {
  name: string; description: string; opsUnit: string; usesStrategy: boolean; vcycles: string;
  /** which phase of the run the benchmark times, when it is not the whole run */
  timed?: string;
  /** where its threads run: 'cores' (bound to cores in order, as will-it-scale) or 'spread' (left to the scheduler) */
  placement: 'cores' | 'spread';
  /** the benchmark's threads per CPU: 1, or 2 for ebizzy's default (two tasks share each CPU: a guest run queue) */
  threadsPerCpu: number;
}

/** the named workloads (runWorkload, sweep) */
export function listWorkloads(): WorkloadInfo[] {
  return listedWorkloads().map(({ name, description, opsUnit, usesStrategy, vcycles, timed, placement, threadsPerCpu }) =>
    ({ name, description, opsUnit, usesStrategy, vcycles, ...(timed ? { timed } : {}), placement: placement ?? 'cores', threadsPerCpu: threadsPerCpu ?? 1 }));
}

/** the fault-path strategies */
/** the per-VMA lock releases the pervma strategy can follow (`--kernel`), oldest first, with what each handles; `default` marks the newest */
export function listKernels(): { release: PervmaKernel; description: string; default: boolean }[] {
  return PERVMA_KERNELS.map((release) => ({ release, description: PERVMA_KERNEL_NOTES[release], default: release === DEFAULT_SETTINGS.pervmaKernel }));
}

export function listStrategies(): { name: string; description: string; munmapLock: 'downgrade' | 'write' }[] {
  return strategies.map(({ name, description, munmapLock }) => ({ name, description, munmapLock }));
}

/** the largest CPU count the core supports (a profile may allow fewer) */
export function maxCpus(): number { return layoutConsts().MAX_CPUS; }

// ---------------------------------------------------------------------------
// Stats

/** one counter's value with its name and unit */
export interface Stat extends StatInfo { value: bigint }

/** counters by name (a machine's bigints, or a PointResult's stats) as a list with units and descriptions, in spec/counters.json order */
export function describeStats(values: Record<string, bigint | number>): Stat[] {
  return statInfo().map((s) => ({ ...s, value: BigInt(values[s.name] ?? 0) }));
}

// ---------------------------------------------------------------------------
// A machine and custom programs

/** A machine: the core's knobs plus the fault-path strategy by name. */
export interface MachineOptions extends Omit<MachineConfig, 'strategy' | 'flags' | 'scratchBytes' | 'settings' | 'core'> {
  /** fault-path strategy (listStrategies(); default mmap_lock) */
  strategy?: StrategyName;
  /** fault-path settings (src/machine.ts FaultSettings, without the test-only ones) */
  settings?: Partial<Omit<MachineConfig['settings'] & object, 'bug'>>;
}

/** What one run of custom programs gave. */
export interface ProgramRun {
  /** false: a CPU failed, the run deadlocked, was stopped or aborted; `error` says why (the partial results are kept) */
  ok: boolean;
  error: string | null;
  /**
   * per CPU: the result of each op (OpResult: map: the address or -errno;
   * unmap/protect/advise: 0 or -errno; access: 0 or 'SIGSEGV' / 'SIGBUS' or
   * other VM_FAULT_* bits; touch: the number of accesses that faulted, or the
   * signal that stopped it; repeat: its last pass's results); null for a CPU
   * that did not finish its program
   */
  results: (OpResult[] | null)[];
  /** per CPU virtual clock at the end, cycles */
  clocks: bigint[];
  /** host milliseconds (never a virtual figure) */
  wallMs: number;
  engine: EngineStats;
}

export interface RunOpts {
  /** every CPU's state while it runs: before the start, every sampleMs and at the end */
  onProgress?: (cpus: CpuSnapshot[]) => void;
  sampleMs?: number;
  /** cancels the run: the CPUs are stopped, the run resolves with ok=false and error "aborted: ..." */
  signal?: AbortSignal;
}

/** A machine created by createMachine: run programs on it, read its stats. */
export class FaultlineMachine {
  /** the host-side machine (advanced: layout, raw memory) */
  readonly raw: Machine;
  readonly strategy: string;
  constructor(raw: Machine, strategy: string) { this.raw = raw; this.strategy = strategy; }

  get cpus(): number { return this.raw.cfg.cpus; }
  get profile(): CostProfile { return this.raw.profile; }
  get memory(): WebAssembly.Memory { return this.raw.memory; }

  /**
   * Run one program of operations per CPU (an array of programs, or a
   * function of the CPU number), all CPUs at once on the host workers.
   * Bad input (a program that is not an array of known ops) throws a
   * UsageError before anything runs.
   */
  async run(programs: Op[][] | ((cpu: number) => Op[]), opts: RunOpts = {}): Promise<ProgramRun> {
    const list = typeof programs === 'function' ? [...Array(this.cpus).keys()].map(programs) : programs;
    if (!Array.isArray(list) || list.length !== this.cpus) throw new UsageError(`need one program per CPU (${this.cpus}), got ${Array.isArray(list) ? list.length : typeof list}`);
    // every op checked before any CPU starts (OpError is a UsageError naming the op's path and field)
    list.forEach((p, cpu) => checkOps(p, `cpu ${cpu}`));
    const r: RunResult = await this.raw.run(list.map((steps) => ({ program: 'ops', args: { steps } })), runOptions(opts));
    return {
      ok: r.ok,
      error: r.ok ? null : (r.error ?? 'run failed'),
      results: r.cpus.map((c) => (c.ok ? (c.value as OpResult[]) : null)),
      clocks: r.clocks,
      wallMs: r.wallMs,
      engine: r.engine,
    };
  }

  /** every counter with its unit, summed over CPUs (or of one CPU) */
  stats(cpu?: number): Stat[] { return describeStats(this.raw.stats(cpu)); }
  /** counters by name (bigint) */
  counters(cpu?: number): Record<string, bigint> { return this.raw.stats(cpu); }
  /** every CPU's clock, state, what it waits for and its faults, now */
  snapshot(): CpuSnapshot[] { return this.raw.snapshot(); }
  /**
   * Why this machine cannot run again, or null. A run that fails on an op at
   * run time (a name whose map failed) leaves it usable; a run stopped while
   * CPUs were inside the core (deadlock, watchdog, a trap) spends it, and
   * run() then throws a UsageError saying so.
   */
  get spent(): string | null { return this.raw.spent; }
}

function runOptions(o: RunOpts): RunOptions {
  return { onSample: o.onProgress, sampleMs: o.sampleMs, ...(o.signal ? { signal: o.signal } : {}) };
}

/**
 * Create a machine of `cpus` emulated CPUs (shared memory laid out, core
 * initialised). Checked once (src/machine.ts resolveMachine); the profile
 * defaults to DEFAULT_PROFILE ('default').
 */
export async function createMachine(config: MachineOptions): Promise<FaultlineMachine> {
  await init();
  if (typeof config !== 'object' || config === null) throw new UsageError('createMachine needs a config object ({ cpus, ... })');
  const strategy = strategyByName(config.strategy ?? 'mmap_lock');
  const { strategy: _s, settings, ...rest } = config;
  if (settings && typeof settings === 'object' && 'bug' in settings) throw new UsageError('unknown setting "bug" (planted bugs are for the test suite: faultline stress --bug)');
  const r = resolveMachine({ ...rest, strategy: strategy.id, ...(settings ? { settings } : {}) });
  await platform().loadVariant?.(r.core);
  const m = new Machine(r);
  return new FaultlineMachine(m, strategy.name);
}

// ---------------------------------------------------------------------------
// Named workloads and sweeps

/** one point: a named workload; everything but workload and cpus has a default (POINT_DEFAULTS: profile 'default') */
export type WorkloadSpec = PointInput;

/**
 * Check points (names, counts, profile, engine) without running them, ONCE:
 * the resolved points run (runWorkload, sweep) without being checked again.
 * Throws UsageError / ProfileError naming the first problem. `defaults` come
 * before POINT_DEFAULTS (a sweep's profile: DEFAULT_SWEEP.profile).
 */
export function checkPoints(specs: readonly (WorkloadSpec | ResolvedPoint)[], defaults: Partial<PointSpec> = {}): ResolvedPoint[] {
  if (!Array.isArray(specs)) throw new UsageError('checkPoints needs a list of points');
  return specs.map((s) => (isResolvedPoint(s) ? s : resolvePoint(s, defaults)));
}

/**
 * Run one named workload on a fresh machine (profile default: 'default').
 * Throws only for bad input; a failed run is a result with ok=false and its error.
 */
export async function runWorkload(spec: WorkloadSpec | ResolvedPoint, opts: RunOpts = {}): Promise<PointResult> {
  await init();
  const r = isResolvedPoint(spec) ? spec : resolvePoint(spec);
  if (records(r.spec.observe)) await platform().loadVariant?.('observe');
  return runPoint(r, runOptions(opts));
}

/** the axes of a sweep (missing: the default sweep's) and the options every point shares */
export interface SweepAxes extends Partial<Omit<PointSpec, 'workload' | 'strategy' | 'cpus'>> {
  workloads?: readonly WorkloadName[];
  strategies?: readonly StrategyName[];
  cpus?: readonly number[];
}

/** what sweep() reports while it runs */
export type SweepEvent =
  | ({ type: 'point' } & SweepProgress)
  | { type: 'cpus'; index: number; spec: PointSpec; cpus: CpuSnapshot[] };

export interface SweepOpts {
  onProgress?: (e: SweepEvent) => void;
  /** host milliseconds between per-CPU samples of the running point (default 100) */
  sampleMs?: number;
  /** recorded in the results document (default: the equivalent `faultline sweep` command line) */
  command?: string[];
  /** cancels the sweep: the running point is stopped and dropped, the finished ones are kept (SweepResult.aborted) */
  signal?: AbortSignal;
}

export interface SweepResult {
  /** the points that finished (all of them unless aborted), in sweep order */
  points: PointResult[];
  failed: PointResult[];
  /** true: the signal cancelled the sweep; `points` holds the ones that finished before */
  aborted: boolean;
  /** the results document, as `faultline sweep` writes it (results.json) */
  document: ResultsFile;
}

/** The points of a sweep: every (workload, strategy, cpus), in that nesting order. */
export function sweepPoints(axes: SweepAxes): PointSpec[] {
  const { workloads, strategies: strats, cpus, ...common } = axes;
  return expandSweep(
    { workloads: workloads ?? DEFAULT_SWEEP.workloads, strategies: strats ?? DEFAULT_SWEEP.strategies, cpus: cpus ?? DEFAULT_SWEEP.cpus },
    { ...POINT_DEFAULTS, profile: DEFAULT_SWEEP.profile, mode: DEFAULT_SWEEP.mode, ...common },
  );
}

/** the `faultline sweep` command line of a sweep's axes (what the results document records; src/experiment.ts commandOf) */
export function sweepCommand(axes: SweepAxes): string[] {
  return commandOf(sweepPoints(axes)) ?? ['faultline', 'sweep'];
}

/**
 * Run a sweep: axes (every combination) or an explicit list of points
 * (checked or not: checkPoints). Every point is checked first, once (bad
 * input throws before anything runs); a failed point is kept with its error
 * and the sweep goes on. Profile default: DEFAULT_SWEEP.profile ('intel-icx-2s').
 */
export async function sweep(what: SweepAxes | readonly (WorkloadSpec | ResolvedPoint)[], opts: SweepOpts = {}): Promise<SweepResult> {
  await init();
  const points = Array.isArray(what) ? checkPoints(what, { profile: DEFAULT_SWEEP.profile }) : checkPoints(sweepPoints(what as SweepAxes));
  if (points.length === 0) throw new UsageError('the sweep has no points');
  if (points.some((p) => records(p.spec.observe))) await platform().loadVariant?.('observe');
  const on = opts.onProgress;
  const r = await runSweep(
    points,
    on ? (p) => on({ type: 'point', ...p }) : undefined,
    on ? (index, cpus) => on({ type: 'cpus', index, spec: points[index].spec, cpus }) : undefined,
    opts.sampleMs,
    opts.signal,
  );
  const command = opts.command ?? commandOf(points.map((p) => p.spec)) ?? ['faultline', 'sweep'];
  return { points: r.points, failed: r.failed, aborted: r.aborted, document: resultsFile(r.points, command) };
}

/** every counter name, in STAT_* order */
export { counterNames };
