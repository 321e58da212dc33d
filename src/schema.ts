// The one door for every spec (issue 19 item 4): a point, a machine, a cost
// profile, a plan and a calibration set are each validated ONCE, here, by zod
// schemas, into a resolved value that the machine and the runners accept
// without checking again. The same schemas are emitted as JSON Schema
// (schemas/*.schema.json, by scripts/gen-schemas.mjs) so that editors complete
// and check profiles/*.json, calibration/*.json and plan files ("$schema").
//
// Messages: the FIRST problem, one line, naming the field:
//   CPU count must be an integer from 1 to 256 (got 0)
//   costs.l1_hit.cycles must be an integer >= 0 (got "four")
// A schema's message that starts with "must" is prefixed with the field's
// label (its path, or a name such as "CPU count") and followed by the value
// found; any other message is complete as it stands ("unknown workload ...").
//
// Keys starting with "$" ("$schema", "$comment") are ignored at every level of
// a file (profiles, plans, calibration sets); any other unknown key is an
// error, so that typos are caught rather than silently defaulted.

import { z } from 'zod';
import { COSTS_SPEC, STRATEGY_NAMES, WORKLOAD_NAMES, TEST_ONLY_WORKLOADS, type StrategyName, type WorkloadName } from './generated/assets.js';
import { unknownStrategy } from './strategies.js';
import type { ObserveConfig } from './machine.js';

// ---------------------------------------------------------------------------
// Messages

/** A short, readable rendering of an offending value for error messages. */
export function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'number') return String(v); // keeps NaN / Infinity readable
  if (typeof v === 'bigint') return `${v}n`;
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** how the message of one document names its fields */
export interface MessageStyle {
  /** a label per path ("cpus" -> "CPU count"); default: the path, dotted ("costs.l1_hit.cycles") */
  labels?: Record<string, string>;
  /** a label computed from the path (when `labels` has none) */
  label?: (path: string) => string | undefined;
  /** what every message about `path` starts with ("point 3: ") */
  context?: (path: string) => string;
  /** the message for an unknown key at `path` (dotted, '' at the top) */
  unknownKey?: (path: string, key: string) => string | undefined;
}

const dotted = (path: readonly PropertyKey[]): string =>
  path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('');

/** One line for a zod issue. */
export function describeIssue(iss: z.core.$ZodIssue, style: MessageStyle = {}): string {
  return (style.context?.(dotted(iss.path)) ?? '') + describe(iss, style);
}

function describe(iss: z.core.$ZodIssue, style: MessageStyle): string {
  const path = dotted(iss.path);
  if (iss.code === 'unrecognized_keys') {
    const key = iss.keys[0];
    const custom = style.unknownKey?.(path, key);
    if (custom) return custom;
    return path === '' ? `unknown top-level key "${key}"` : `unknown key ${path}.${key}`;
  }
  if (iss.code === 'invalid_union' && iss.errors.length > 0) {
    // the alternative that got furthest (the deepest path) says the most
    const best = iss.errors.flat().sort((a, b) => b.path.length - a.path.length)[0];
    if (best) return describe({ ...best, path: [...iss.path, ...best.path] } as z.core.$ZodIssue, style);
  }
  const msg = iss.message;
  if (!msg.startsWith('must')) return msg;
  const label = style.labels?.[path] ?? style.label?.(path) ?? (path === '' ? 'the value' : path);
  return `${label} ${msg} (got ${show((iss as { input?: unknown }).input)})`;
}

/**
 * Parse `input` with `schema`; on a problem, throw `makeError(message)` with
 * the first problem found as one line.
 */
export function parseOrThrow<S extends z.ZodType>(
  schema: S, input: unknown, makeError: (message: string) => Error, style: MessageStyle = {},
): z.output<S> {
  const r = schema.safeParse(input, { reportInput: true });
  if (r.success) return r.data;
  throw makeError(describeIssue(r.error.issues[0], style));
}

// ---------------------------------------------------------------------------
// Field schemas (each rule written once; the point, machine and file schemas share them)

/** an integer in [min, max] ("must be an integer from 1 to 256", "must be an integer >= 0") */
export function intIn(min: number, max: number = Number.MAX_SAFE_INTEGER): z.ZodNumber {
  const must = max === Number.MAX_SAFE_INTEGER ? `must be an integer >= ${min}` : `must be an integer from ${min} to ${max}`;
  return z.number({ error: must }).int({ error: must }).min(min, { error: must }).max(max, { error: must });
}

/** a non-empty string (after trimming) */
export const nonEmpty = (): z.ZodString => z.string({ error: 'must be a non-empty string' }).trim().min(1, { error: 'must be a non-empty string' });

/** one of `values`, with the message "must be one of a, b" */
function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `must be one of ${values.join(', ')}` });
}

/** drop "$"-keys ("$schema", "$comment") at every level: they are for editors and people */
function stripDollarKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripDollarKeys);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(Object.entries(v).filter(([k]) => !k.startsWith('$')).map(([k, x]) => [k, stripDollarKeys(x)]));
}
/** a file's schema: "$"-keys dropped first */
function fileSchema<S extends z.ZodType>(s: S) {
  return z.preprocess(stripDollarKeys, s);
}

export type Mode = 'parallel' | 'deterministic';
export const MODES = ['parallel', 'deterministic'] as const satisfies readonly Mode[];
export type Engine = 'mn' | 'threads';
export const ENGINES = ['mn', 'threads'] as const satisfies readonly Engine[];
export type SpfLookup = 'v11' | 'v12';
export const SPF_LOOKUPS = ['v11', 'v12'] as const satisfies readonly SpfLookup[];
export type MunmapLock = 'downgrade' | 'write';
export const MUNMAP_LOCKS = ['downgrade', 'write'] as const satisfies readonly MunmapLock[];
/** the per-VMA lock releases the pervma strategy can follow, oldest first (assembly/pervma.ts says what each handles) */
export const PERVMA_KERNELS = ['6.4', '6.6', '6.7', '6.15'] as const;
export type PervmaKernel = typeof PERVMA_KERNELS[number];
/** where a benchmark's threads run (src/profile.ts cpuPlacement) */
export type Placement = 'cores' | 'spread';
export const PLACEMENTS = ['cores', 'spread'] as const satisfies readonly Placement[];

export const modeField = () => z.enum(MODES, { error: (iss) => `unknown mode ${show(iss.input)} (parallel or deterministic)` });
export const engineField = () => z.enum(ENGINES, { error: (iss) => `unknown engine ${show(iss.input)} (mn or threads)` });
export const spfLookupField = () => z.enum(SPF_LOOKUPS, { error: (iss) => `unknown SPF lookup ${show(iss.input)} (v11, v12)` });
export const munmapField = () => z.enum(MUNMAP_LOCKS, { error: (iss) => `unknown munmap lock ${show(iss.input)} (downgrade, write)` });
export const kernelField = () => z.enum(PERVMA_KERNELS, { error: (iss) => `unknown kernel release ${show(iss.input)} for per-VMA locks (${PERVMA_KERNELS.join(', ')})` });
export const placementField = () => z.enum(PLACEMENTS, { error: (iss) => `unknown placement ${show(iss.input)} (cores, spread)` });
/** the lax-barrier quantum: a u32 header word, at least 100 cycles */
export const quantumField = () => intIn(100, 2 ** 32 - 1);
export const seedField = () => intIn(0);
/** host workers: at least 1 (at most the CPU count: checked with the CPUs, src/machine.ts engineConfig) */
export const workersField = () => {
  const must = 'must be an integer from 1 to the CPU count';
  return z.number({ error: must }).int({ error: must }).min(1, { error: must });
};

/** the listed workloads (the test-only ones are accepted but not offered) */
const listedWorkloadNames = (): string[] => WORKLOAD_NAMES.filter((n) => !TEST_ONLY_WORKLOADS.includes(n));
export function unknownWorkload(name: unknown): string {
  return `unknown workload ${show(name)}; available workloads: ${listedWorkloadNames().join(', ')}`;
}
export const workloadField = () => z.enum(WORKLOAD_NAMES, { error: (iss) => unknownWorkload(iss.input) });
export const strategyField = () => z.enum(STRATEGY_NAMES, { error: (iss) => unknownStrategy(iss.input) });

// ---------------------------------------------------------------------------
// A point: one named workload under one strategy on N CPUs

/** What to run for one point of a sweep (complete: every default applied). */
export interface PointSpec {
  workload: WorkloadName;
  strategy: StrategyName;
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
  /** watchdog (host ms without progress); undefined = Machine default (5000) */
  watchdogMs?: number;
  /** how CPUs map onto host threads; undefined = 'mn' */
  engine?: Engine;
  /** host workers (mn engine; at most the CPU count: a larger value is clamped per point); undefined = host cores */
  workers?: number;
  /** munmap's mmap_lock (src/machine.ts FaultSettings.munmap); undefined = the strategy's default */
  munmap?: MunmapLock;
  /** SPF's get_vma() (spf strategy only); undefined = v11 */
  spfLookup?: SpfLookup;
  /** the Linux release of the per-VMA locks (pervma strategy only); undefined = the newest */
  kernel?: PervmaKernel;
  /**
   * what to record beside the results (`run --lock-stat`; src/obs.ts); undefined = nothing. Not part
   * of what the point runs (nothing recorded moves a clock): no SPEC_FLAGS entry, not in plans.
   */
  observe?: ObserveConfig;
}

/** the options every point has, and the CLI flag of each: the command line of a point is derived from this table (specArgs) */
export const SPEC_FLAGS = Object.freeze({
  profile: '--profile', mode: '--mode', seed: '--seed', quantum: '--quantum', vcycles: '--vcycles', loops: '--loops', watchdogMs: '--watchdog-ms',
  engine: '--engine', workers: '--workers', munmap: '--munmap', spfLookup: '--spf-lookup', kernel: '--kernel',
} as const satisfies Record<Exclude<keyof PointSpec, 'workload' | 'strategy' | 'cpus' | 'observe'>, string>);

/**
 * What a run records beside its results (src/machine.ts ObserveConfig; the
 * obs region is sized from it: obsLayout).
 */
export function observeSchema(maxVcycles: number = Number.MAX_SAFE_INTEGER) {
  return z.strictObject({
    lockStat: z.boolean({ error: 'must be true or false' }).optional().describe('/proc/lock_stat per lock class (bounces, wait and hold times)'),
    trace: z.strictObject({
      maxEventsPerCpu: intIn(1, 1 << 24).optional().describe('events per CPU\'s ring (default 200,000)'),
      start: intIn(0, maxVcycles).optional().describe('the window\'s first virtual cycle (default 0)'),
      end: intIn(1, maxVcycles).optional().describe('the window\'s end, virtual cycles (default: the whole run)'),
    }, { error: 'must be an object { maxEventsPerCpu?, start?, end? }' })
      .refine((t) => (t.end ?? maxVcycles) > (t.start ?? 0), {
        error: (iss) => { const t = iss.input as { start?: number; end?: number }; return `the trace window must be START:END in virtual cycles with 0 <= START < END (got ${t.start ?? 0}:${t.end ?? maxVcycles})`; },
      })
      .optional().describe('the timeline of events per CPU'),
    flame: z.strictObject({
      nodes: intIn(1, 1 << 20).optional().describe('call-graph nodes per CPU (default 2,048)'),
    }, { error: 'must be an object { nodes? }' }).optional().describe('the flame graph'),
  } satisfies Record<keyof ObserveConfig, z.ZodType>, { error: 'must be an object { lockStat?, trace?, flame? }' });
}

/** the labels of a point's fields in messages (the CLI's words) */
export const POINT_LABELS: Record<string, string> = { cpus: 'CPU count', workers: 'workers', vcycles: 'vcycles', quantum: 'quantum', seed: 'seed', watchdogMs: 'watchdogMs' };

/**
 * A point's fields, each checked alone (the CPU count against the profile,
 * the workload's fewest CPUs and the engine rules are checked when the point
 * is resolved: src/experiment.ts resolvePoint).
 */
export function pointSchema(maxCpus: number, maxVcycles: number = Number.MAX_SAFE_INTEGER) {
  return z.strictObject({
    workload: workloadField().describe('a named workload (faultline list)'),
    strategy: strategyField().describe('the fault-path strategy'),
    cpus: intIn(1, maxCpus).describe('emulated CPUs (at most the profile\'s hardware threads)'),
    profile: nonEmpty().describe('a shipped profile name (faultline list) or a path to a profile JSON file'),
    mode: modeField().describe('parallel (fast) or deterministic (bit-identical for a seed)'),
    seed: seedField().describe('seed of the CPUs\' random streams'),
    quantum: quantumField().describe('lax-barrier quantum, virtual cycles'),
    // a clock stops the run at MAX_VCYCLES (2^39 - 1, the cache-line model's limit): no budget beyond it
    vcycles: intIn(1, maxVcycles).optional().describe('per-CPU virtual-cycle budget (its meaning is the workload\'s)'),
    loops: intIn(0, 1_000_000).optional().describe('whole loops of its benchmark every CPU completes at least (the steady state; 0: the budget alone)'),
    watchdogMs: intIn(1).optional().describe('host milliseconds without progress before the watchdog stops the run (default 5000)'),
    engine: engineField().optional().describe('mn (CPUs as coroutines, default) or threads (one host thread per CPU)'),
    workers: workersField().optional().describe('host workers of the mn engine (default: host cores, at most the CPU count)'),
    munmap: munmapField().optional().describe('munmap\'s mmap_lock (default: the strategy\'s own)'),
    spfLookup: spfLookupField().optional().describe('spf strategy: SPF\'s get_vma() (default v11)'),
    kernel: kernelField().optional().describe(`pervma strategy: the Linux release whose per-VMA locks it follows (default ${PERVMA_KERNELS[PERVMA_KERNELS.length - 1]})`),
    observe: observeSchema(maxVcycles).optional().describe('what to record beside the results (not stored in plans)'),
  } satisfies Record<keyof PointSpec, z.ZodType>);
}

// ---------------------------------------------------------------------------
// Cost profiles (profiles/*.json; src/profile.ts loads them)

/** Upper bound (exclusive) on one cost, in cycles. */
export const MAX_CYCLES = 10_000_000;
/** Upper bound (exclusive) on the clock, in GHz. */
export const MAX_GHZ = 20;

/** spec/costs.json's keys, in order (= shared-memory order) */
export function costKeys(): string[] {
  return (COSTS_SPEC as { costs: [string, string][] }).costs.map(([k]) => k);
}
function costDescriptions(): Record<string, string> {
  return Object.fromEntries((COSTS_SPEC as { costs: [string, string][] }).costs);
}

const positiveInt = () => z.number({ error: 'must be a positive integer' }).int({ error: 'must be a positive integer' }).min(1, { error: 'must be a positive integer' });

export const topologySchema = () => z.strictObject({
  sockets: positiveInt().describe('sockets'),
  coresPerSocket: positiveInt().describe('physical cores per socket'),
  threadsPerCore: positiveInt().describe('hardware threads per core (SMT)'),
}, { error: 'must be an object { sockets, coresPerSocket, threadsPerCore }' });

const costEntry = (key: string, what: string) => z.strictObject({
  cycles: z.number({ error: 'must be an integer >= 0' }).int({ error: 'must be an integer >= 0' }).min(0, { error: 'must be an integer >= 0' })
    .lt(MAX_CYCLES, { error: `must be < ${MAX_CYCLES}` }).describe(`cycles: ${what}`),
  source: nonEmpty().describe('where the figure comes from (a manual, a paper, a measurement; "estimate: ..." when it is one)'),
}, { error: `must be an object { cycles, source } (every key of spec/costs.json is required)` }).describe(`${key}: ${what}`);

export function profileSchema() {
  const d = costDescriptions();
  return z.strictObject({
    name: nonEmpty().describe('the profile\'s name (a shipped profile: its file name)'),
    description: nonEmpty().regex(/^[^\r\n]*$/, { error: 'description must be one line' }).describe('one line'),
    ghz: z.number({ error: `must be a finite number > 0 and < ${MAX_GHZ}` }).gt(0, { error: `must be a finite number > 0 and < ${MAX_GHZ}` })
      .lt(MAX_GHZ, { error: `must be a finite number > 0 and < ${MAX_GHZ}` }).describe('clock, GHz (virtual cycles per nanosecond)'),
    topology: topologySchema().describe('sockets x cores x SMT threads: the most CPUs a run may have, and where each sits'),
    costs: z.strictObject(Object.fromEntries(costKeys().map((k) => [k, costEntry(k, d[k])])), { error: 'must be an object' })
      .describe('every key of spec/costs.json: { cycles, source }'),
  }, { error: 'must be a JSON object' });
}
export const profileFileSchema = () => fileSchema(profileSchema());
export type ProfileFile = z.output<ReturnType<typeof profileSchema>>;

export const PROFILE_STYLE: MessageStyle = {
  unknownKey: (path, key) => (path === 'costs' ? `unknown cost key costs.${key} (not in spec/costs.json)` : undefined),
};

// ---------------------------------------------------------------------------
// Plans (faultline sweep ... --plan FILE; src/cluster/plan.ts)

/** Bump on any incompatible change of a plan (and document it in docs/cli.md). */
export const PLAN_VERSION = 1;

export function planSchema(maxCpus: number, maxVcycles: number = Number.MAX_SAFE_INTEGER) {
  return z.strictObject({
    faultlinePlan: z.literal(PLAN_VERSION, { error: (iss) => `plan version ${show(iss.input)}; this faultline reads version ${PLAN_VERSION}` }),
    generator: z.string({ error: 'must be a string' }).describe('the faultline that wrote the plan'),
    createdAt: z.string({ error: 'must be a string' }).describe('when, ISO 8601'),
    command: z.array(z.string(), { error: 'must be a list of strings' }).describe('the sweep command the plan was made from'),
    points: z.array(z.strictObject({
      index: intIn(0).describe('the point\'s index (= its position)'),
      // what a run records (observe) is not part of a planned point
      spec: pointSchema(maxCpus, maxVcycles).omit({ observe: true }),
    }, { error: 'must be an object {"index": i, "spec": {...}}' }), { error: 'must be a non-empty list' })
      .min(1, { error: 'must be a non-empty list' })
      .superRefine((pts, ctx) => {
        const i = pts.findIndex((p, k) => p.index !== k);
        if (i >= 0) ctx.addIssue({ code: 'custom', path: [i, 'index'], message: `expected {"index": ${i}, "spec": {...}} (got index ${pts[i].index})` });
      })
      .describe('in the order a local sweep runs them (and merge writes them)'),
  }, { error: 'must be a JSON object' });
}
export const planFileSchema = (maxCpus: number, maxVcycles?: number) => fileSchema(planSchema(maxCpus, maxVcycles));

// ---------------------------------------------------------------------------
// Calibration sets (calibration/*.json; src/calibration.ts)

export const CALIBRATION_FORMAT = 'faultline-calibration/1';

const positive = () => z.number({ error: 'must be a positive number' }).gt(0, { error: 'must be a positive number' });
const refSchema = (maxCpus: number) => z.strictObject({
  workload: workloadField(), strategy: strategyField(), cpus: intIn(1, maxCpus),
  kernel: kernelField().optional().describe('pervma: the per-VMA lock release the point runs (default the newest)'),
  munmap: munmapField().optional().describe('munmap\'s mmap_lock the point runs (default the strategy\'s own)'),
}, { error: 'must be an object { workload, strategy, cpus, kernel?, munmap? }' });

export function calibrationSchema(maxCpus: number, maxVcycles: number = Number.MAX_SAFE_INTEGER) {
  const set = z.strictObject({
    id: nonEmpty().describe('short id, unique in the file (names the SVGs)'),
    title: nonEmpty(),
    source: nonEmpty().describe('where the published figures come from (message ids, paper, table)'),
    machine: z.string({ error: 'must be a string' }).optional().describe('the machine the figures were measured on'),
    profile: nonEmpty().describe('the profile the points run on (a shipped name or a path)'),
    mode: modeField().optional().describe('default deterministic'),
    seed: seedField().optional(),
    vcycles: intIn(1, maxVcycles).optional(),
    points: z.array(refSchema(maxCpus).extend({ value: positive().describe('published throughput (drawn, not compared)') }), { error: 'must be an array' }).optional(),
    ratios: z.array(z.strictObject({
      label: nonEmpty(),
      num: refSchema(maxCpus), den: refSchema(maxCpus),
      published: positive().describe('the published num/den'),
    }, { error: 'must be an object { label, num, den, published }' }), { error: 'must be a non-empty array' }).min(1, { error: 'must be a non-empty array' }),
  }, { error: 'must be an object' });
  return z.strictObject({
    format: z.literal(CALIBRATION_FORMAT, { error: `"format" must be "${CALIBRATION_FORMAT}"` }),
    name: z.string({ error: 'must be a string' }).optional(),
    description: z.string({ error: 'must be a string' }).optional(),
    sets: z.array(set, { error: 'must be a non-empty array' }).min(1, { error: 'must be a non-empty array' })
      .superRefine((sets, ctx) => {
        const seen = new Set<string>();
        sets.forEach((s, i) => {
          if (seen.has(s.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `sets[${i}]: duplicate set id "${s.id}"` });
          seen.add(s.id);
        });
      }),
  }, { error: 'must be a JSON object' });
}
export const calibrationFileSchema = (maxCpus: number, maxVcycles?: number) => fileSchema(calibrationSchema(maxCpus, maxVcycles));
export type CalibrationFile = z.output<ReturnType<typeof calibrationSchema>>;

// ---------------------------------------------------------------------------
// A machine (createMachine, new Machine; src/machine.ts resolveMachine)

/** Fault-path settings, with Linux's defaults (DEFAULT_SETTINGS in src/machine.ts). */
export interface FaultSettings {
  /** pte_map_lock retry policy: 'trylock' (unbounded, as merged), 'trylock-bounded:N', or 'spin' (unsafe) */
  spfRetry: string;
  thp: 'never' | 'always' | 'madvise';
  pcpBatch: number;
  pcpHigh: number;
  lruBatch: number;
  rssThresh: number;
  /** virtual cycles between NUMA-balancing scans; 0 = off */
  numaPeriod: number;
  numaPages: number;
  zapFlushUnderPtl: boolean;
  /** test-only planted bugs (BUG_*) */
  bug: number;
  /** pretend the mm is single-threaded (SPF's mm_users == 1 rule) */
  mmUsersOne: boolean;
  /**
   * munmap's mmap_lock: 'downgrade' (detach the VMAs, then zap, shoot down and
   * free tables under the read lock: Linux 4.20+), 'write' (all under the write
   * lock: the kernels the SPF series was measured on), or 'default': the
   * strategy's own (spec/strategies.json munmapLock).
   */
  munmap: MunmapLock | 'default';
  /** MTE tag-storage pool in 4 KiB-page units (assembly/mte.ts); 0 = no tag storage: PROT_MTE is EINVAL */
  tagStorage: number;
  /**
   * SPF's get_vma() (spf strategy only): 'v11' read_lock(mm_rb_lock) around
   * __find_vma (the series as reviewed in 2018; the default), 'v12'
   * find_vma_rcu(), a seqlock reader under RCU (2019)
   */
  spfLookup: SpfLookup;
  /** a userfaultfd registration that lands during a speculative fault: 'ignore' (the SPF series) or 'abort' (the v12 review) */
  uffdSpfRace: 'ignore' | 'abort';
  /** the Linux release whose per-VMA locks the pervma strategy follows (assembly/pervma.ts); default the newest */
  pervmaKernel: PervmaKernel;
}

const u32Max = 2 ** 32 - 1;
const SPF_RETRY = /^(trylock|spin|trylock-bounded:([1-9]\d{0,9}))$/;

/** the core's limits the settings are checked against (layout constants) */
export interface CoreLimits { MAX_CPUS: number; PCP_MAX: number; LRU_MAX: number }

export function settingsSchema(k: CoreLimits) {
  const setting = (min: number, max: number) => intIn(min, max);
  return z.strictObject({
    spfRetry: z.string({ error: 'must be trylock, trylock-bounded:N or spin' })
      .refine((s) => SPF_RETRY.test(s) && (!s.startsWith('trylock-bounded:') || Number(s.slice(16)) < u32Max),
        { error: (iss) => `unknown SPF retry policy ${show(iss.input)} (trylock, trylock-bounded:N, spin)` }),
    thp: z.enum(['never', 'always', 'madvise'], { error: (iss) => `unknown THP setting ${show(iss.input)} (never, always, madvise)` }),
    pcpBatch: setting(1, 512),
    pcpHigh: setting(1, k.PCP_MAX - 1),
    lruBatch: setting(1, k.LRU_MAX),
    rssThresh: setting(1, 1 << 20),
    numaPeriod: setting(0, u32Max),
    numaPages: setting(1, u32Max),
    zapFlushUnderPtl: z.boolean({ error: 'must be true or false' }),
    bug: intIn(0, u32Max),
    mmUsersOne: z.boolean({ error: 'must be true or false' }),
    munmap: z.enum([...MUNMAP_LOCKS, 'default'], { error: (iss) => `unknown munmap setting ${show(iss.input)} (downgrade, write, default)` }),
    tagStorage: setting(0, u32Max),
    spfLookup: spfLookupField(),
    uffdSpfRace: z.enum(['ignore', 'abort'], { error: (iss) => `unknown uffdSpfRace setting ${show(iss.input)} (ignore, abort)` }),
    pervmaKernel: kernelField(),
  } satisfies Record<keyof FaultSettings, z.ZodType>, { error: 'must be an object' }).partial();
}

/** a machine's fields, each checked alone (the profile, its hardware threads and the engine rules: resolveMachine) */
export function machineSchema(k: CoreLimits) {
  return z.strictObject({
    cpus: intIn(1, k.MAX_CPUS),
    vcpus: intIn(1, k.MAX_CPUS).optional(),
    mode: modeField().optional(),
    engine: engineField().optional(),
    workers: workersField().optional(),
    steal: z.boolean({ error: 'steal must be true or false' }).optional(),
    profile: z.union([nonEmpty(), z.looseObject({})], { error: 'must be a profile name, a path, or a profile object' }).optional(),
    quantum: quantumField().optional(),
    placement: placementField().optional(),
    tlbSets: intIn(1, 1 << 20).refine((n) => (n & (n - 1)) === 0, { error: (iss) => `TLB sets must be a power of two (got ${show(iss.input)})` }).optional(),
    tlbWays: intIn(1, 64).optional(),
    frames: intIn(2, u32Max).optional(),
    ptPages: intIn(2, u32Max).optional(),
    vmas: intIn(2, u32Max).optional(),
    maxVmasPerMm: intIn(1, u32Max).optional(),
    seed: seedField().optional(),
    watchdogMs: intIn(1).optional(),
    flags: intIn(0, u32Max).optional(),
    core: z.enum(['release', 'observe', 'test'], { error: (iss) => `unknown core variant ${show(iss.input)} (release, observe or test)` }).optional(),
    strategy: intIn(0, STRATEGY_NAMES.length - 1).optional(),
    scratchBytes: intIn(0, u32Max).optional(),
    files: intIn(0, 1 << 16).optional(),
    filePages: intIn(0, u32Max).optional(),
    shmemFiles: intIn(0, 1 << 16).optional(),
    shmemPages: intIn(0, u32Max).optional(),
    settings: settingsSchema(k).optional(),
    observe: observeSchema().optional(),
  }, { error: 'a machine needs a config object ({ cpus, ... })' });
}

export const MACHINE_LABELS: Record<string, string> = { cpus: 'CPU count', tlbWays: 'TLB ways', tlbSets: 'TLB sets' };
