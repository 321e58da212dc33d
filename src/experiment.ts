// Points and sweeps: one point = one workload under one strategy on N CPUs,
// run for real on a fresh Machine; a sweep = points one after the other.
// Bad input throws (UsageError / ProfileError) before anything runs; a run
// that fails (deadlock, crash) is a result with ok=false, never a throw.

import { Machine, resolveMachine, munmapLockOf, checkMachineSize, DEFAULT_PROFILE, type Engine, type EngineStats, type Mode, type MunmapLock, type SpfLookup, type PervmaKernel, type RunResult, type RunOptions, type CpuSnapshot, type ResolvedMachine } from './machine.js';
import { ProfileError, loadProfile, type CostProfile } from './profile.js';
import { layoutConsts } from './wasm.js';
import { UsageError } from './types.js';
import { platform } from './platform.js';
import { workloadByName, loopsOf, WorkloadFailure, type Workload } from './workloads.js';
import { strategyByName, type Strategy, type StrategyName } from './strategies.js';
import { cyclesByCategory } from './breakdown.js';
import { readLockStat, readTrace, readFlame, type LockStatRow, type TraceFile, type FlameResult } from './obs.js';
import { CYCLE_CATEGORIES } from './breakdown.js';
import { pointSchema, parseOrThrow, POINT_LABELS, SPEC_FLAGS, type PointSpec } from './schema.js';
import type { WorkloadName } from './generated/assets.js';

export type { PointSpec };

/** The result of one point: see docs/results-schema.md (counters and cycles are plain numbers: exact below 2^53, checked). */
export interface PointResult {
  workload: WorkloadName;
  strategy: StrategyName;
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
  /** the timeline, Chrome Trace Event Format (only when asked: observe.trace; the CLI writes it to its own file) */
  trace?: TraceFile;
  /** the flame graph's folded stacks and the split of "other work" by kernel function (only when asked: observe.flame) */
  flame?: FlameResult;
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
  // ebizzy as the SPF series ran it (-mTt: one thread per CPU, calibration row C), whose window is its steady
  // state (within 5 % from 20M to 300M cycles at 16 and 64 CPUs); ebizzy's own default (2 threads per CPU, the
  // `ebizzy` workload) settles only after ~100 ms of virtual time at 16 CPUs (README "Results of the default sweep")
  workloads: ['page_fault1', 'ebizzy-mTt', 'pft-private'] as readonly WorkloadName[],
  strategies: ['mmap_lock', 'spf', 'pervma'] as readonly StrategyName[],
  // to 64: every CPU runs whole 128 MiB loops of page_fault1 (--loops), and 128 CPUs of them alone
  // take longer than the minute the default sweep is given on 2 host cores
  cpus: [1, 2, 4, 8, 16, 32, 64] as readonly number[],
  /** a sweep without --profile runs on this machine: 128 hardware threads, as the published 128-CPU results */
  profile: 'intel-icx-2s',
  /**
   * a sweep compares points, so without --mode it runs them in deterministic mode (`run`: parallel): parallel
   * mode departs from it at the default sweep's own points, down to 0.41x on one worker (ebizzy-mTt, pervma,
   * 16-32 CPUs) and on two workers enough to swap spf and mmap_lock (ebizzy-mTt, 64 CPUs: x0.61 and x1.58;
   * README "Virtual time"); its
   * points run on one worker each, two at a time on a 2-core host (runSweep)
   */
  mode: 'deterministic' as Mode,
});

/** Defaults of the options every point has. */
export const POINT_DEFAULTS = Object.freeze({ strategy: 'mmap_lock' as StrategyName, profile: DEFAULT_PROFILE, mode: 'parallel' as Mode, seed: 1, quantum: 10_000, engine: 'mn' as Engine });

// ---------------------------------------------------------------------------
// The door: a point is checked ONCE, into a ResolvedPoint

/** A point checked and resolved (resolvePoint): what runPoint runs without checking again. */
export interface ResolvedPoint {
  /** the spec, complete (every default applied) and in canonical key order */
  readonly spec: Readonly<PointSpec>;
  readonly workload: Workload;
  readonly strategy: Strategy;
  readonly profile: CostProfile;
  /** the machine the point runs on, resolved (src/machine.ts resolveMachine) */
  readonly machine: ResolvedMachine;
}

const resolvedPoints = new WeakSet<object>();
/** made by resolvePoint (and so checked) */
export function isResolvedPoint(p: unknown): p is ResolvedPoint {
  return typeof p === 'object' && p !== null && resolvedPoints.has(p);
}

/** a point to resolve: workload and cpus, the rest defaulted (POINT_DEFAULTS; `defaults` first) */
export type PointInput = Pick<PointSpec, 'workload' | 'cpus'> & Partial<PointSpec>;

/** the spec with its keys in one order and no undefined fields (what a plan stores, shards are matched on, the command line is made from) */
export function canonicalSpec(spec: PointSpec): PointSpec {
  const out: Record<string, unknown> = {};
  for (const k of ['workload', 'strategy', 'cpus', ...Object.keys(SPEC_FLAGS)] as (keyof PointSpec)[]) if (spec[k] !== undefined) out[k] = spec[k];
  return out as unknown as PointSpec;
}

/**
 * Check a point and resolve its names, ONCE: its fields (src/schema.ts
 * pointSchema), then the rules across them (the profile's hardware threads,
 * the workload's fewest CPUs, the engine and its workers: resolveMachine).
 * Defaults: `defaults`, then POINT_DEFAULTS. Bad input: a UsageError
 * (ProfileError for the profile) naming the first problem.
 */
export function resolvePoint(input: PointInput | ResolvedPoint, defaults: Partial<PointSpec> = {}): ResolvedPoint {
  if (isResolvedPoint(input)) return input;
  if (typeof input !== 'object' || input === null) throw new UsageError('a point needs { workload, cpus, ... }');
  const full = { ...POINT_DEFAULTS, ...defaults, ...withoutUndefined(input) };
  const parsed = parseOrThrow(pointSchema(layoutConsts().MAX_CPUS, layoutConsts().MAX_VCYCLES), full, (msg) => new UsageError(msg), { labels: POINT_LABELS });
  // what the run records (observe) rides along: not part of the canonical point
  const spec: PointSpec = { ...canonicalSpec(parsed), ...(parsed.observe !== undefined ? { observe: parsed.observe } : {}) };
  const workload = workloadByName(spec.workload);
  const strategy = strategyByName(spec.strategy);
  const profile = loadProfile(spec.profile);
  if (spec.cpus < (workload.minCpus ?? 1)) throw new UsageError(`workload ${workload.name} needs at least ${workload.minCpus} CPUs (got ${spec.cpus})`);
  // the machine: the spec's options and the workload's sizing from its footprint (Workload.machine) and placement;
  // a benchmark with more threads than CPUs (ebizzy) runs them as tasks on the point's CPUs (assembly/vcpu.ts)
  // (the engine runs at most MAX_CPUS tasks: above MAX_CPUS / 2 CPUs ebizzy's default is cut to MAX_CPUS threads, params.threads says so)
  const tasks = Math.max(spec.cpus, Math.min(spec.cpus * (workload.threadsPerCpu ?? 1), layoutConsts().MAX_CPUS));
  const extra = workload.machine?.(asTasks(spec, tasks)) ?? {};
  const machine = resolveMachine({
    ...extra,
    cpus: tasks,
    ...(tasks !== spec.cpus ? { vcpus: spec.cpus } : {}),
    mode: spec.mode,
    profile,
    quantum: spec.quantum,
    seed: spec.seed,
    strategy: strategy.id,
    placement: workload.placement ?? 'cores',
    ...(spec.engine !== undefined ? { engine: spec.engine } : {}),
    ...(spec.workers !== undefined ? { workers: spec.workers } : {}),
    ...(spec.watchdogMs !== undefined ? { watchdogMs: spec.watchdogMs } : {}),
    ...(spec.observe !== undefined ? { observe: spec.observe } : {}),
    settings: { ...(extra.settings ?? {}), ...(spec.munmap !== undefined ? { munmap: spec.munmap } : {}),
      ...(spec.spfLookup !== undefined ? { spfLookup: spec.spfLookup } : {}),
      ...(spec.kernel !== undefined ? { pervmaKernel: spec.kernel } : {}) },
  }, { clampWorkers: true });
  // the machine the workload asks for must fit the shared memory: said here, before any point runs
  const vc = spec.vcycles !== undefined ? ` --vcycles ${spec.vcycles}` : '';
  checkMachineSize(machine, `${workload.name} on ${spec.cpus} CPUs${vc} is sized from its footprint (src/workloads.ts): lower --cpus or --vcycles`);
  const r: ResolvedPoint = Object.freeze({ spec: Object.freeze(spec), workload, strategy, profile, machine });
  resolvedPoints.add(r);
  return r;
}

/** The spec as the workload sees it: its threads are the CPUs (one task each; m.cfg.cpus is the task count). */
function asTasks(spec: PointSpec, tasks: number): PointSpec {
  return tasks === spec.cpus ? spec : { ...spec, cpus: tasks };
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// ---------------------------------------------------------------------------
// The command line of points (derived from the spec here and nowhere else)

/** the CLI options of a spec's common fields (every field of SPEC_FLAGS that is set) */
export function specOptionArgs(spec: Partial<PointSpec>): string[] {
  const out: string[] = [];
  for (const [field, flag] of Object.entries(SPEC_FLAGS) as [keyof typeof SPEC_FLAGS, string][]) {
    const v = spec[field];
    if (v !== undefined) out.push(flag, String(v));
  }
  return out;
}

/**
 * The `faultline` command line that runs these points: `run` for one point,
 * `sweep` for every (workload, strategy, cpus) combination sharing the other
 * options; undefined when the points are no such set (a plan reproduces those).
 */
export function commandOf(specs: readonly PointSpec[]): string[] | undefined {
  if (specs.length === 0) return undefined;
  const [p] = specs.map(canonicalSpec);
  // what a run records: `run --lock-stat` says it; nothing else does yet (a sweep records nothing)
  const observed = specs.filter((x) => x.observe !== undefined && Object.values(x.observe).some((v) => v !== undefined && v !== false));
  if (specs.length === 1) {
    const o = specs[0].observe;
    if (observed.length && (o?.trace !== undefined || o?.flame !== undefined)) return undefined;
    return ['faultline', 'run', '--workload', p.workload, '--strategy', p.strategy, '--cpus', String(p.cpus), ...specOptionArgs(p), ...(o?.lockStat ? ['--lock-stat'] : [])];
  }
  if (observed.length) return undefined;
  const uniq = <T>(xs: T[]) => [...new Set(xs)];
  const workloads = uniq(specs.map((x) => x.workload));
  const strats = uniq(specs.map((x) => x.strategy));
  const cpus = uniq(specs.map((x) => x.cpus));
  const cmd = ['faultline', 'sweep', '--workload', workloads.join(','), '--strategy', strats.join(','), '--cpus', cpus.join(','), ...specOptionArgs(p)];
  // the sweep the CLI would run from `cmd` (it sorts CPU counts): the same points in the same order?
  const sorted = [...cpus].sort((a, b) => a - b);
  const again = expandSweep({ workloads, strategies: strats, cpus: sorted }, p);
  const same = again.length === specs.length && again.every((x, i) => JSON.stringify(canonicalSpec(x)) === JSON.stringify(canonicalSpec(specs[i])));
  return same ? cmd : undefined;
}

// ---------------------------------------------------------------------------
// One point

/**
 * Run one point on a fresh machine: a resolved point as it is, anything else
 * through the door first (bad input throws; a failed run is a result with
 * ok=false, never a throw).
 */
export async function runPoint(p: ResolvedPoint | PointInput, opts: RunOptions = {}): Promise<PointResult> {
  const r = resolvePoint(p);
  const m = new Machine(r.machine);
  const o = await execute(m, r.workload, r.spec, opts);
  return summarize(r.spec, r, m, o);
}

interface Outcome { run: RunResult; ops: number | null; params: Record<string, number>; timed: bigint | null; metrics: Record<string, number>;
  loops: LoopReport | null }

/** Set up and run the workload; a host-side error (not bad input) becomes a failed run. */
async function execute(m: Machine, w: Workload, pointSpec: PointSpec, opts: RunOptions): Promise<Outcome> {
  const spec = asTasks(pointSpec, m.cfg.cpus);
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

function summarize(spec: PointSpec, r: ResolvedPoint, m: Machine, { run, ops, params, timed, metrics, loops }: Outcome): PointResult {
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
    ...(spec.observe?.trace ? { trace: readTrace(m, { workload: r.workload.name, strategy: r.strategy.name, profile: r.profile.name, ghz: r.profile.ghz,
      cpus: spec.cpus, mode: spec.mode, seed: spec.seed }) } : {}),
    ...(spec.observe?.flame ? { flame: readFlame(m, r.workload.name, CYCLE_CATEGORIES.map((c) => c.name)) } : {}),
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
  axes: { workloads: readonly WorkloadName[]; strategies: readonly StrategyName[]; cpus: readonly number[] },
  common: Omit<PointSpec, 'workload' | 'strategy' | 'cpus'>,
): PointSpec[] {
  return axes.workloads.flatMap((workload) =>
    axes.strategies.flatMap((strategy) => axes.cpus.map((cpus) => ({ ...common, workload, strategy, cpus }))));
}

/**
 * Run points (resolved or not) in order, side by side while they fit in the
 * host (below). A failed point is kept with its error and the sweep goes on.
 * `signal` cancels: the running points are stopped and dropped (they did not
 * finish), the finished ones are kept, `aborted` is true.
 */
export async function runSweep(
  points: readonly (ResolvedPoint | PointInput)[],
  onProgress?: (p: SweepProgress) => void,
  /** the CPUs of a running point (Machine.run's samples), with its index in `points` */
  onCpus?: (index: number, cpus: CpuSnapshot[]) => void,
  sampleMs?: number,
  signal?: AbortSignal,
): Promise<{ points: PointResult[]; failed: PointResult[]; aborted: boolean }> {
  // The points start in order. A point occupies as many host threads as it has workers (a deterministic
  // point one, a parallel point the host's cores) and its machine's shared memory (checkMachineSize: up to
  // 4 GiB each); the next point starts beside those running while its threads fit in the host's cores and
  // the memory of all of them in half the host's (a platform that does not know its memory: one point at a
  // time), so a deterministic sweep runs one point per core on a host with the memory for it. The results
  // keep the points' order; a point that ends after an abort is not kept (as a sequential sweep did).
  const cores = Math.max(1, platform().hostCores());
  const memory = (platform().hostMemoryBytes?.() ?? 0) / 2;
  const out: (PointResult | undefined)[] = new Array(points.length);
  const running = new Set<Promise<void>>();
  let next = 0, done = 0, busy = 0, busyBytes = 0;
  let error: unknown;
  // each point resolved as it comes to start (a spec not yet checked throws here, as runPoint would: after the points before it)
  let upcoming: { i: number; p: ResolvedPoint; bytes: number } | undefined;
  const peek = (i: number) => {
    if (upcoming?.i !== i) { const p = resolvePoint(points[i]); upcoming = { i, p, bytes: checkMachineSize(p.machine).total }; }
    return upcoming;
  };
  const start = (i: number) => {
    const { p, bytes } = peek(i);
    const threads = p.machine.workers;
    busy += threads;
    busyBytes += bytes;
    onProgress?.({ done, total: points.length, running: p.spec });
    const run: Promise<void> = runPoint(p, { ...(onCpus ? { onSample: (c: CpuSnapshot[]) => onCpus(i, c), sampleMs } : {}), ...(signal ? { signal } : {}) })
      .then((r) => { if (!signal?.aborted) { out[i] = r; done++; } }, (e) => { error ??= e; })
      .finally(() => { busy -= threads; busyBytes -= bytes; running.delete(run); });
    running.add(run);
  };
  // start the next points while their threads fit (always one when none runs), else wait for one to end
  while (error === undefined && !signal?.aborted && next < points.length) {
    try {
      const { p, bytes } = peek(next);
      if (running.size === 0 || (busy + p.machine.workers <= cores && busyBytes + bytes <= memory)) { start(next++); continue; }
    } catch (e) { error = e; break; }
    await Promise.race(running);
  }
  await Promise.all(running);
  if (error !== undefined) throw error;
  const kept = out.filter((r): r is PointResult => r !== undefined);
  onProgress?.({ done: kept.length, total: points.length });
  return { points: kept, failed: kept.filter((p) => !p.ok), aborted: !!signal?.aborted };
}
