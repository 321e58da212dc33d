// The emulated machine on the host side: creates the one shared memory, lays
// out the regions, initialises the core, starts the host workers (piscina)
// that run the emulated CPUs, watches for deadlock, collects results and
// shuts down.
//
// Engines (README "Engines"):
//   'mn'      (default) W host workers, each running its share of the CPUs as
//             coroutines of the Asyncify build; W defaults to the host's cores.
//             Deterministic mode is this engine with every CPU on one worker.
//   'threads' one host worker per CPU on the build without Asyncify: real
//             host races between every pair of CPUs (what the stress wants).

import { coreModule, defaultVariant, instantiate, layoutConsts, type Consts, type Instance, type Variant } from './wasm.js';
import { platform } from './platform.js';
import type { WorkerResult } from './worker.js';
import { loadProfile, costVector, cpuPlacement, hardwareThreads, profileFromObject, type CostProfile, type Placement } from './profile.js';
import { UsageError } from './types.js';
import { strategies } from './strategies.js';
import { machineSchema, parseOrThrow, MACHINE_LABELS, ENGINES, PERVMA_KERNELS, type CoreLimits, type Mode, type Engine, type MunmapLock, type SpfLookup, type FaultSettings, type PervmaKernel } from './schema.js';
import { lostUserfaultWakeups, waitForGraph, waitEdge, cpuStates, CPU_STATES, type WaitEdge, type CpuState } from './waitgraph.js';
import { counterNames, lockClasses } from './stats.js';
import { CYCLE_CATEGORIES } from './breakdown.js';

export type { Mode, Engine, MunmapLock, SpfLookup, FaultSettings };
export { ENGINES };
/** bytes of Asyncify stack per CPU (a suspended fault path uses well under 1 KiB; the high-water mark is reported) */
export const ASYNC_STACK_BYTES = 16384;

/**
 * The engine and host workers of a run, checked (the ONE place for these rules:
 * resolveMachine calls it, for a machine and for every point before any runs). Default workers: the
 * host's cores, at most one per CPU; deterministic mode: one; threads: one per
 * CPU. `clamp`: a --workers above the CPU count is lowered to it (sweeps).
 */
export function engineConfig(cpus: number, mode: Mode, engine: Engine = 'mn', workers?: number, clamp = false): { engine: Engine; workers: number } {
  if (engine === 'threads' && mode === 'deterministic') {
    throw new UsageError('deterministic mode runs every CPU on one worker: use --engine mn (the threads engine is parallel only)');
  }
  if (workers === undefined) {
    return { engine, workers: engine === 'threads' ? cpus : mode === 'deterministic' ? 1 : Math.max(1, Math.min(platform().hostCores(), cpus)) };
  }
  if (clamp && Number.isInteger(workers) && workers > cpus) workers = cpus;
  if (!Number.isInteger(workers) || workers < 1 || workers > cpus) {
    throw new UsageError(`workers must be an integer from 1 to the CPU count ${cpus} (got ${workers})`);
  }
  if (engine === 'threads' && workers !== cpus) throw new UsageError('--workers applies to the mn engine (the threads engine runs one worker per CPU)');
  if (mode === 'deterministic' && workers !== 1) throw new UsageError(`deterministic mode runs every CPU on one worker (got --workers ${workers})`);
  return { engine, workers };
}

export interface MachineConfig {
  /** the emulated CPUs of the engine: the run's tasks (one each, unless vcpus is smaller) */
  cpus: number;
  /**
   * the CPUs of the emulated machine that the tasks share (a guest run queue: assembly/vcpu.ts; task t
   * runs on CPU t % vcpus); default cpus: every task has a CPU of its own
   */
  vcpus?: number;
  mode?: Mode;
  /** how CPUs map onto host threads (default 'mn') */
  engine?: Engine;
  /** host workers (mn engine; default: host cores, at most the CPU count; deterministic mode: 1) */
  workers?: number;
  /**
   * work stealing between host workers (mn engine, parallel mode, 2+ workers; assembly/steal.ts):
   * a worker none of whose own CPUs can run runs another worker's. Default off: on the 2-core
   * host it was measured slower (README "Emulator speed"). No effect on results beyond parallel
   * mode's own host-timing spread.
   */
  steal?: boolean;
  /** profile name (profiles/<name>.json), a path, or a parsed profile */
  profile?: string | CostProfile;
  /** how the CPUs land on sockets, cores and SMT siblings (src/profile.ts cpuPlacement; default 'cores') */
  placement?: Placement;
  /** quantum of the lax barrier, cycles */
  quantum?: number;
  tlbSets?: number;
  tlbWays?: number;
  frames?: number;
  ptPages?: number;
  vmas?: number;
  maxVmasPerMm?: number;
  seed?: number;
  /** wall-clock ms without progress before the watchdog declares a deadlock */
  watchdogMs?: number;
  /** test hooks (FLAG_*): only in the test core */
  flags?: number;
  /**
   * which variant of the core (src/wasm.ts Variant): default 'release'; 'observe'
   * when the run records something (observe); 'test' when it asks for test flags
   * or a planted bug (or FAULTLINE_CORE=test; the test core records too)
   */
  core?: Variant;
  /** strategy id written to the header (the fault-path issue) */
  strategy?: number;
  /** per-CPU extra bytes of scratch the programs may use (tests) */
  scratchBytes?: number;
  /** emulated files (page cache) and their size in pages */
  files?: number;
  filePages?: number;
  /** shmem objects (MAP_SHARED|MAP_ANONYMOUS mappings, memfds) the machine can create, and their largest size in pages */
  shmemFiles?: number;
  shmemPages?: number;
  /** fault-path settings (assembly/layout.ts SET_*) */
  settings?: Partial<FaultSettings>;
  /** what to record for observability (lock_stat, timeline, flame graph: src/obs.ts); nothing by default */
  observe?: ObserveConfig;
}

/** What a run records beside its results (assembly/obs.ts); each costs host time only when asked. */
export interface ObserveConfig {
  /** per lock class: bounces, wait and hold min/max/total (/proc/lock_stat) */
  lockStat?: boolean;
  /** the timeline: events per CPU's ring (default 200,000), the window [start, end) in virtual cycles (default: the whole run) */
  trace?: { maxEventsPerCpu?: number; start?: number; end?: number };
  /** the flame graph: call-graph nodes per CPU (default 2,048) */
  flame?: { nodes?: number };
}

/** does a run record anything (then it needs the observe core: src/wasm.ts Variant) */
export function records(o: ObserveConfig | undefined): o is ObserveConfig {
  return !!o && (!!o.lockStat || !!o.trace || !!o.flame);
}

export const TRACE_DEFAULT_EVENTS = 200_000;
export const FLAME_DEFAULT_NODES = 2048;

/** bytes of one CPU's obs block and the offsets of its parts (assembly/layout.ts, obs region) */
export function obsLayout(C: Consts, o: ObserveConfig | undefined): { stride: number; flameOff: number; traceOff: number; traceCap: number; flameNodes: number } | null {
  if (!records(o)) return null;
  let off = C.OBS_LOCK_BYTES;
  let flameOff = 0, traceOff = 0, traceCap = 0, flameNodes = 0;
  if (o.flame) {
    flameNodes = o.flame.nodes ?? FLAME_DEFAULT_NODES;
    if (!Number.isInteger(flameNodes) || flameNodes < 1 || flameNodes > 1 << 20) throw new UsageError(`flame nodes must be an integer from 1 to 1048576 (got ${flameNodes})`);
    flameOff = off; off = align(off + C.FLM_NODES + flameNodes * C.FNODE_SIZE);
  }
  if (o.trace) {
    traceCap = o.trace.maxEventsPerCpu ?? TRACE_DEFAULT_EVENTS;
    if (!Number.isInteger(traceCap) || traceCap < 1 || traceCap > 1 << 24) throw new UsageError(`trace events per CPU must be an integer from 1 to 16777216 (got ${traceCap})`);
    const { start = 0, end = C.MAX_VCYCLES } = o.trace;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end <= start) {
      throw new UsageError(`the trace window must be START:END in virtual cycles with 0 <= START < END (got ${start}:${end})`);
    }
    traceOff = off; off = align(off + C.TR_EVENTS + traceCap * C.TE_SIZE);
    // the fault's snapshot of its kind and abort counters (assembly/obs.ts: three ranges of spec/counters.json)
    const n = counterNames();
    const span = (a: string, b: string) => n.indexOf(b) - n.indexOf(a) + 1;
    const snap = span('fault_anon_zero', 'fault_sigbus') + span('spf_abort_not_user', 'pervma_lock_miss') + span('spf_abort_uffd_race', 'pervma_abort_uffd');
    if (snap > C.TR_SNAP_N) throw new Error(`the fault snapshot needs ${snap} counters, TR_SNAP_N is ${C.TR_SNAP_N} (assembly/layout.ts)`);
  }
  return { stride: align(off), flameOff, traceOff, traceCap, flameNodes };
}

/** the profile of a machine that names none (createMachine, new Machine, run; a sweep's default is DEFAULT_SWEEP.profile) */
export const DEFAULT_PROFILE = 'default';

export { PERVMA_KERNELS };
export type { PervmaKernel };
/** what each release handles under the VMA lock (one line each, for `faultline list` and docs) */
export const PERVMA_KERNEL_NOTES: Record<PervmaKernel, string> = {
  '6.4': 'anonymous VMAs with an anon_vma only; userfaultfd-armed VMAs fall back (the series as merged)',
  '6.6': 'file VMAs and userfaultfd admitted; file read/COW/shared faults and page_mkwrite drop the VMA lock and retry under mmap_lock',
  '6.7': 'file read, COW and shared faults and writes to read-only file pages under the VMA lock (Wilcox, commit 4ed4379881aa and its series)',
  '6.15': 'as 6.7, with vm_refcnt replacing the VMA\'s rwsem and detached flag; no anon_vma needed at lookup (vmf_anon_prepare trylocks mmap_lock)',
};

export const DEFAULT_SETTINGS: FaultSettings = {
  spfRetry: 'trylock', thp: 'never', pcpBatch: 63, pcpHigh: 378, lruBatch: 15, rssThresh: 64,
  numaPeriod: 0, numaPages: 65536, zapFlushUnderPtl: false, bug: 0, mmUsersOne: false, munmap: 'default', tagStorage: 0, spfLookup: 'v11', uffdSpfRace: 'ignore',
  pervmaKernel: PERVMA_KERNELS[PERVMA_KERNELS.length - 1],
};

/** munmap's lock for a setting under strategy id `strategy` ('default': the strategy's own) */
export function munmapLockOf(setting: FaultSettings['munmap'], strategy: number): MunmapLock {
  return setting === 'default' ? strategies.find((x) => x.id === strategy)!.munmapLock : setting;
}

/** the header value of a (checked) spfRetry setting */
export function spfRetryCode(s: string): number {
  return s === 'trylock' ? 0 : s === 'spin' ? 0xffffffff : Number(s.slice('trylock-bounded:'.length));
}

/** One unit of work for one CPU: a program name from src/programs.ts and its arguments. */
export interface CpuTask { program: string; args?: Record<string, unknown> }

export interface CpuResult { cpu: number; ok: boolean; value?: unknown; error?: string; stopped?: boolean }

/** what the engine did: host workers, coroutine switches, futex sleeps, the deepest Asyncify stack */
export interface EngineStats {
  engine: Engine; workers: number; switches: number; sleeps: number; asyncHighWater: number;
  /** work stealing (parallel mode, mn engine): slices a worker ran of another worker's CPUs, and of those, slices that resumed a CPU in the middle of a call */
  steals: number; stealsMidCall: number;
  /** of the steals, those that resumed a CPU inside a page fault (counted by the test core only; 0 on the released core) */
  stealsMidFault: number;
  /** worker sleeps that ended on the 20 ms safety timeout with no wake-up (parked CPUs then look again) */
  safetyTimeouts: number;
  /** which variant of the core ran (release unless the run recorded something, observe, or needed the test core) */
  core: Variant;
}

/** one CPU as a live view shows it (Machine.snapshot, RunOptions.onSample) */
export interface CpuSnapshot {
  cpu: number;
  /** virtual clock, cycles (u64: bigint, as every u64 the API returns) */
  clock: bigint;
  /** idle, running, waiting, at-barrier, finished, runnable */
  state: string;
  /** the lock, ack or grace period it waits for; null when it does not wait */
  waitsFor: string | null;
  /** page faults it has taken (counter "fault") */
  faults: number;
}

export interface RunOptions {
  /** called with every CPU's state: once before the CPUs start, every sampleMs of host time, and once at the end */
  onSample?: (cpus: CpuSnapshot[]) => void;
  /** host milliseconds between samples (default 100) */
  sampleMs?: number;
  /**
   * cancels the run: every CPU is stopped (the watchdog's stop, STOP_HOST) and
   * the run resolves with ok=false and error "aborted: <reason>"; what each CPU
   * returned before is kept
   */
  signal?: AbortSignal;
}

export interface RunResult {
  ok: boolean;
  /** set when the run did not complete: deadlock, crash, stop */
  error?: string;
  deadlock?: WaitEdge[];
  /** when the run stopped (any reason): every CPU's state and what it waited for, read after the stop */
  cpuStates?: CpuState[];
  cpus: CpuResult[];
  clocks: bigint[];
  wallMs: number;
  engine: EngineStats;
}

const PAGE = 65536;
const align = (n: number, a = 64) => Math.ceil(n / a) * a;

/** Offsets inside one per-CPU block (assembly/layout.ts, per-CPU box): the core's mailbox_off() / tlb_off(). */
export interface PercpuLayout {
  /** the IPI mailbox: one MB_SIZE slot per CPU of the run (slot s = an IPI from CPU s) */
  mailboxOff: number;
  mailboxBytes: number;
  /** the TLB: 4 KiB entries, then the 2 MiB array */
  tlbOff: number;
  /** the host's per-CPU scratch (MachineConfig.scratchBytes) */
  scratchOff: number;
}

/**
 * The per-CPU block of a machine of `cpus` CPUs: header fields | stats |
 * mailbox (sized by the run's CPU count, not MAX_CPUS) | TLB | scratch.
 * Mirrors mailbox_off(), mailbox_bytes() and tlb_off() of assembly/layout.ts.
 */
export function percpuLayout(C: Consts, cpus: number, tlbSets: number, tlbWays: number): PercpuLayout {
  const mailboxOff = C.PC_STATS + C.NSTATS_ALIGNED * 8;
  const mailboxBytes = align(cpus * C.MB_SIZE, C.CACHE_LINE);
  const tlbOff = mailboxOff + mailboxBytes;
  const scratchOff = tlbOff + tlbSets * tlbWays * C.TLBE_SIZE + C.TLB2M_BYTES;
  return { mailboxOff, mailboxBytes, tlbOff, scratchOff };
}

/** the largest shared memory a machine can have: wasm32's 65,536 pages of 64 KiB (4 GiB) */
export const MAX_SHARED_BYTES = 65536 * PAGE;

/** what sizes a machine's shared memory (MachineConfig), with the defaults */
type Sizes = Required<Pick<MachineConfig, 'tlbSets' | 'tlbWays' | 'frames' | 'ptPages' | 'vmas' | 'maxVmasPerMm' | 'scratchBytes' |
  'files' | 'filePages' | 'shmemFiles' | 'shmemPages'>> & { observe?: ObserveConfig };
function sizesOf(config: Partial<Sizes>): Sizes {
  return {
    tlbSets: config.tlbSets ?? 16, tlbWays: config.tlbWays ?? 4,
    frames: config.frames ?? 65_536, ptPages: config.ptPages ?? 4_096, vmas: config.vmas ?? 4_096, maxVmasPerMm: config.maxVmasPerMm ?? 1_024,
    scratchBytes: config.scratchBytes ?? 0, files: config.files ?? 0, filePages: config.filePages ?? 0,
    shmemFiles: config.shmemFiles ?? 8, shmemPages: config.shmemPages ?? 1024, observe: config.observe,
  };
}

/** The shared memory of a machine: where each region starts, the bytes each takes, the total. */
export interface MemoryPlan {
  regions: Record<string, number>;
  bytes: Record<string, number>;
  total: number;
  percpuLayout: PercpuLayout;
  percpuSize: number;
  asyncBytes: number;
  nfiles: number;
  fileStride: number;
  frames: number;
  ptPages: number;
}

/** Lay out the regions of a machine (the ONE layout: the constructor places them here). */
function planMemory(C: Consts, c: Sizes & { cpus: number; engine: Engine; workers: number }): MemoryPlan {
  const cpus = c.cpus;
  // per-CPU block: header fields | stats | IPI mailbox | TLB (4 KiB sets + 2 MiB array) | scratch
  const pl = percpuLayout(C, cpus, c.tlbSets, c.tlbWays);
  const percpuSize = align(pl.scratchOff + c.scratchBytes, 4096);
  const regions: Record<string, number> = {};
  const bytes: Record<string, number> = {};
  let off = C.HDR_BASE + C.HDR_SIZE;
  const take = (name: string, n: number, a = 64) => { off = align(off, a); regions[name] = off; bytes[name] = n; off += n; };
  take('profile', C.NCOSTS * 4);
  take('mm', C.MM_SIZE * 1);
  take('percpu', percpuSize * cpus, 4096);
  take('frames', C.FR_SIZE * c.frames);
  take('ptmeta', C.PTM_SIZE * c.ptPages);
  take('ptpages', 4096 * c.ptPages, 4096);
  take('vmas', C.VMA_SIZE * c.vmas);
  take('vmaIndex', 4 * c.maxVmasPerMm * 2 * 1); // two buffers per mm (assembly/vma.ts)
  take('pcm', C.PCM_SIZE * cpus);
  take('workers', C.WK_SIZE * c.workers);
  take('runq', C.RQ_SIZE * cpus);
  const asyncBytes = c.engine === 'mn' && c.workers < cpus ? ASYNC_STACK_BYTES : 0;
  take('async', asyncBytes * cpus, 16);
  // regular files [0, files), then the shmem object pool; one index stride for all
  const nfiles = c.files + c.shmemFiles;
  const fileStride = Math.max(c.filePages, c.shmemPages);
  take('files', C.FILE_SIZE * nfiles);
  take('fileIndex', 4 * nfiles * fileStride);
  take('uffd', C.UFFD_REGION_SIZE);
  // the obs region only when the run records something (assembly/obs.ts)
  const obs = obsLayout(C, c.observe);
  if (obs) take('obs', C.OBS_GLOBAL_SIZE + obs.stride * cpus);
  return { regions, bytes, total: align(off, PAGE), percpuLayout: pl, percpuSize, asyncBytes, nfiles, fileStride, frames: c.frames, ptPages: c.ptPages };
}

const GiB = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;
const MiB = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

/** "needs X of shared memory (the largest parts); the limit is 4 GiB: <what to change>" */
function tooBig(plan: MemoryPlan, change: string): string {
  const names: Record<string, string> = { frames: `page frames (${plan.frames.toLocaleString('en-US')})`, ptpages: `page-table pages (${plan.ptPages.toLocaleString('en-US')})`, ptmeta: `page-table metadata (${plan.ptPages.toLocaleString('en-US')})`,
    percpu: 'per-CPU blocks', fileIndex: 'file page-cache indexes', vmas: 'VMA slots', obs: 'trace/flame buffers (--trace, --flame)' };
  const parts = Object.entries(plan.bytes).sort((a, b) => b[1] - a[1]).slice(0, 3).map(([k, v]) => `${names[k] ?? k} ${MiB(v)}`);
  return `the machine needs ${GiB(plan.total)} of shared memory (${parts.join(', ')}, ...); the limit is 4 GiB (65,536 Wasm pages): ${change}`;
}

/**
 * The shared memory a machine of `config` needs, without creating it; throws
 * a UsageError saying what to change (`change`) when it exceeds 4 GiB. The
 * CLI and the API check every point with it before any runs.
 */
export function checkMachineSize(config: MachineConfig, change = 'lower frames, ptPages, vmas or cpus'): MemoryPlan {
  const cpus = config.cpus;
  const C = layoutConsts();
  const mode = config.mode ?? 'parallel';
  const plan = planMemory(C, { cpus, ...sizesOf(config), ...engineConfig(cpus, mode, config.engine, config.workers) });
  if (plan.total > MAX_SHARED_BYTES) throw new UsageError(tooBig(plan, change));
  return plan;
}

/** A machine's configuration, checked and complete (resolveMachine): what the Machine lays out without checking again. */
export type ResolvedMachine = Readonly<Required<Omit<MachineConfig, 'profile' | 'settings' | 'observe'>> & { profile: CostProfile; settings: Readonly<FaultSettings>; observe?: ObserveConfig }>;

const resolvedMachines = new WeakSet<object>();
/** made by resolveMachine (and so checked) */
export function isResolvedMachine(c: unknown): c is ResolvedMachine {
  return typeof c === 'object' && c !== null && resolvedMachines.has(c);
}

/**
 * Check a machine's configuration ONCE (src/schema.ts machineSchema, then the
 * rules across fields: the profile's hardware threads, the engine and its
 * workers, test-only flags) and fill in every default. Bad input: a
 * UsageError (ProfileError for the profile) naming the first problem.
 */
export function resolveMachine(config: MachineConfig, opts: { clampWorkers?: boolean } = {}): ResolvedMachine {
  const C = layoutConsts();
  const m = parseOrThrow(machineSchema(C as unknown as CoreLimits), config, (msg) => new UsageError(msg), { labels: MACHINE_LABELS });
  const profile = typeof config.profile === 'object' ? profileFromObject(config.profile) : loadProfile(m.profile as string | undefined ?? DEFAULT_PROFILE);
  const cpus = m.cpus;
  const vcpus = m.vcpus ?? cpus;
  if (vcpus > cpus) throw new UsageError(`vcpus (${vcpus}) must not exceed cpus, the tasks (${cpus})`);
  const hw = hardwareThreads(profile);
  if (vcpus > hw) throw new UsageError(`profile ${profile.name} has ${hw} hardware threads; cannot emulate ${vcpus} CPUs`);
  const mode = m.mode ?? 'parallel';
  const settings: FaultSettings = { ...DEFAULT_SETTINGS, ...(m.settings ?? {}) };
  if (settings.pcpHigh < settings.pcpBatch) throw new UsageError(`setting pcpHigh (${settings.pcpHigh}) must be >= pcpBatch (${settings.pcpBatch})`);
  const flags = m.flags ?? 0;
  const needsTest = flags !== 0 || settings.bug !== 0;
  if (m.core !== undefined && m.core !== 'test' && needsTest) throw new UsageError('test flags and planted bugs exist only in the test core (core: "test")');
  // the observability hooks exist only in the observe and test cores (assembly/build_flags.ts OBS_BUILD)
  const needsObserve = records(config.observe);
  if (m.core === 'release' && needsObserve) throw new UsageError('recording (lockStat, trace, flame) needs the observe core (core: "observe"), the release core has no hooks');
  const dflt = defaultVariant();
  const r: ResolvedMachine = Object.freeze({
    cpus,
    vcpus,
    mode,
    ...engineConfig(cpus, mode, m.engine, m.workers, opts.clampWorkers),
    steal: m.steal ?? false,
    profile,
    quantum: m.quantum ?? 10_000,
    placement: m.placement ?? 'cores',
    ...sizesOf(m),
    seed: m.seed ?? 1,
    watchdogMs: m.watchdogMs ?? 5_000,
    flags,
    core: m.core ?? (needsTest || dflt === 'test' ? 'test' : needsObserve ? 'observe' : dflt),
    strategy: m.strategy ?? 0,
    settings: Object.freeze(settings),
  });
  resolvedMachines.add(r);
  return r;
}

/** what an AbortSignal's reason says, in one line */
export function abortReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  return r instanceof Error ? (r.name === 'AbortError' ? 'the caller aborted' : r.message) : r === undefined ? 'the caller aborted' : String(r);
}

export class Machine {
  readonly cfg: Omit<ResolvedMachine, 'profile'>;
  readonly profile: CostProfile;
  readonly memory: WebAssembly.Memory;
  readonly C: Consts;
  /** the host's own instance of the core (initialisation, inspection) */
  readonly host: Instance;
  readonly regions: Record<string, number> = {};
  /** offsets inside each per-CPU block (mailbox, TLB, scratch) */
  readonly percpuLayout: PercpuLayout;
  private scratchBase = 0;
  /** CPUs of this run that share their core with another CPU of the run (SMT siblings both busy) */
  smtShared = 0;

  /** `config` as createMachine or a resolved point gives it (checked once: resolveMachine), or unchecked (checked here, by the same door) */
  constructor(config: MachineConfig | ResolvedMachine) {
    const C = (this.C = layoutConsts());
    const r = isResolvedMachine(config) ? config : resolveMachine(config);
    const cpus = r.cpus;
    this.profile = r.profile;
    const t = this.profile.topology;
    const { profile: _p, ...cfg } = r;
    this.cfg = { ...cfg, settings: { ...cfg.settings } };
    const c = this.cfg;

    // ---- lay out the regions ----
    const plan = planMemory(C, c);
    this.percpuLayout = plan.percpuLayout;
    Object.assign(this.regions, plan.regions);
    const { percpuSize, asyncBytes, nfiles, fileStride, total } = plan;
    const scratchOff = plan.percpuLayout.scratchOff;
    if (total > MAX_SHARED_BYTES) throw new UsageError(tooBig(plan, 'lower frames, ptPages, vmas or cpus'));
    const pages = total / PAGE;
    this.memory = new WebAssembly.Memory({ initial: Math.max(pages, 2), maximum: MAX_SHARED_BYTES / PAGE, shared: true });
    this.host = instantiate(this.memory, coreModule('threads', c.core));
    if (this.host.core.static_data_end() > C.HDR_BASE) throw new Error('core static data overlaps the header');

    // ---- header ----
    const u32 = new Uint32Array(this.memory.buffer);
    const h = (field: string, v: number) => { u32[(C.HDR_BASE + C[field]) >>> 2] = v >>> 0; };
    h('H_MAGIC', C.LAYOUT_MAGIC); h('H_VERSION', C.LAYOUT_VERSION);
    h('H_NCPUS', cpus); h('H_MODE', c.mode === 'deterministic' ? C.MODE_DETERMINISTIC : C.MODE_PARALLEL);
    h('H_STRATEGY', c.strategy); h('H_QUANTUM', c.quantum);
    h('H_TLB_SETS', c.tlbSets); h('H_TLB_WAYS', c.tlbWays);
    h('H_NFRAMES', c.frames); h('H_NPTPAGES', c.ptPages); h('H_NVMAS', c.vmas); h('H_MAX_VMAS_PER_MM', c.maxVmasPerMm);
    h('H_PROFILE_BASE', this.regions.profile); h('H_MM_BASE', this.regions.mm);
    h('H_PERCPU_BASE', this.regions.percpu); h('H_PERCPU_SIZE', percpuSize);
    h('H_FRAMES_BASE', this.regions.frames); h('H_PTMETA_BASE', this.regions.ptmeta);
    h('H_PTPAGES_BASE', this.regions.ptpages); h('H_VMAS_BASE', this.regions.vmas);
    h('H_VMA_INDEX_BASE', this.regions.vmaIndex); h('H_TOTAL_BYTES', total >>> 0);
    h('H_NMM', 1); h('H_FLAGS', c.flags);
    h('H_GHZ_MILLI', Math.round(this.profile.ghz * 1000));
    h('H_TOPO_SOCKETS', t.sockets); h('H_TOPO_CORES', t.coresPerSocket); h('H_TOPO_THREADS', t.threadsPerCore);
    h('H_PCM_BASE', this.regions.pcm);
    h('H_VCPUS', c.vcpus === cpus ? 0 : c.vcpus);
    h('H_NWORKERS', c.workers); h('H_WORKERS_BASE', this.regions.workers); h('H_RUNQ_BASE', this.regions.runq);
    h('H_ASYNC_BASE', this.regions.async); h('H_ASYNC_SIZE', asyncBytes);
    // work stealing (assembly/steal.ts), when asked: parallel mode on the mn engine, every CPU with an Asyncify stack
    h('H_STEAL', c.steal && c.engine === 'mn' && c.mode === 'parallel' && c.workers > 1 && asyncBytes > 0 ? 1 : 0);
    // worker w runs CPUs [floor(w n / W), floor((w + 1) n / W)): contiguous, so a socket's CPUs share workers
    for (let w = 0; w < c.workers; w++) {
      const lo = Math.floor((w * cpus) / c.workers), hi = Math.floor(((w + 1) * cpus) / c.workers);
      this.setU32(this.worker(w) + C.WK_FIRST, lo);
      this.setU32(this.worker(w) + C.WK_COUNT, hi - lo);
      for (let i = lo; i < hi; i++) this.workerOf[i] = w;
    }
    h('H_FILES_BASE', this.regions.files); h('H_NFILES', nfiles); h('H_FILE_PAGES', fileStride);
    h('H_SHMEM_FIRST', c.files); h('H_SHMEM_MAX', c.shmemFiles); h('H_UFFD_BASE', this.regions.uffd); h('H_UFFD_MAX', C.MAX_UFFD);
    h('H_FILE_INDEX_BASE', this.regions.fileIndex);
    const st = c.settings;
    const set = (k: string, v: number) => { u32[(C.HDR_BASE + C.H_SETTINGS + C[k]) >>> 2] = v >>> 0; };
    set('SET_SPF_RETRY', spfRetryCode(st.spfRetry));
    set('SET_THP', { never: C.THP_NEVER, always: C.THP_ALWAYS, madvise: C.THP_MADVISE }[st.thp]);
    set('SET_PCP_BATCH', st.pcpBatch); set('SET_PCP_HIGH', st.pcpHigh); set('SET_LRU_BATCH', st.lruBatch);
    set('SET_RSS_THRESH', st.rssThresh); set('SET_NUMA_PERIOD', st.numaPeriod); set('SET_NUMA_PAGES', st.numaPages);
    set('SET_ZAP_FLUSH_UNDER_PTL', st.zapFlushUnderPtl ? 1 : 0); set('SET_BUG', st.bug); set('SET_MM_USERS_ONE', st.mmUsersOne ? 1 : 0);
    set('SET_MUNMAP_DOWNGRADE', munmapLockOf(st.munmap, c.strategy) === 'downgrade' ? 1 : 0);
    set('SET_TAG_STORAGE', st.tagStorage);
    set('SET_SPF_LOOKUP', { v11: C.SPF_LOOKUP_V11, v12: C.SPF_LOOKUP_V12 }[st.spfLookup]);
    set('SET_PERVMA_KERNEL', { '6.4': C.PERVMA_KERNEL_6_4, '6.6': C.PERVMA_KERNEL_6_6, '6.7': C.PERVMA_KERNEL_6_7, '6.15': C.PERVMA_KERNEL_6_15 }[st.pervmaKernel]);
    set('SET_UFFD_SPF_RACE', st.uffdSpfRace === 'abort' ? C.UFFD_RACE_ABORT : C.UFFD_RACE_IGNORE);
    u32.set(costVector(this.profile), this.regions.profile >>> 2);
    this.obs = obsLayout(C, config.observe);
    if (this.obs) this.initObs(this.obs, config.observe!);

    // ---- per-CPU blocks ----
    const dv = new DataView(this.memory.buffer);
    // the machine's CPUs (vCPUs); task i runs on CPU i % vcpus and has its placement
    const where = [...Array(c.vcpus).keys()].map((i) => cpuPlacement(t, i, c.placement));
    const coreKey = (p: { socket: number; core: number }) => p.socket * t.coresPerSocket + p.core;
    const perCore = new Map<number, number>();
    for (const p of where) perCore.set(coreKey(p), (perCore.get(coreKey(p)) ?? 0) + 1);
    // the profile's SMT slowdown (extra cycles per 100) as extra cycles per 1024, for CPUs whose core runs another CPU of the run
    const smtExtra = Math.round((this.profile.cycles.smt_slowdown ?? 0) * 1024 / 100);
    this.smtShared = where.filter((p) => (perCore.get(coreKey(p)) ?? 0) > 1).length;
    for (let i = 0; i < cpus; i++) {
      const pc = this.percpu(i);
      const p = where[i % c.vcpus];
      dv.setUint32(pc + C.PC_SMT_EXTRA, (perCore.get(coreKey(p)) ?? 0) > 1 ? smtExtra : 0, true);
      dv.setUint32(pc + C.PC_ID, i, true);
      dv.setUint32(pc + C.PC_WORKER, this.workerOf[i], true);
      dv.setUint32(pc + C.PC_SOCKET, p.socket, true);
      dv.setUint32(pc + C.PC_CORE, p.core, true);
      dv.setUint32(pc + C.PC_THREAD, p.thread, true);
      // xorshift state from the seed: never 0
      const s = (BigInt(c.seed) * 0x9E3779B97F4A7C15n + BigInt(i + 1) * 0xBF58476D1CE4E5B9n) & 0xffffffffffffffffn;
      dv.setBigUint64(pc + C.PC_RNG, s === 0n ? 1n : s, true);
      dv.setUint32(pc + C.PC_STATE, C.CPU_RUNNABLE, true);
    }
    this.scratchBase = scratchOff;
    this.host.core.machine_init();
    // regular files are filePages long (machine_init sized every file to the stride); shmem objects start empty
    for (let f = 0; f < nfiles; f++) this.setU32(this.regions.files + f * C.FILE_SIZE + C.FILE_NPAGES, f < c.files ? c.filePages : 0);
  }

  /** host worker of each CPU */
  readonly workerOf: number[] = [];
  /** the obs region's layout (null: the run records nothing: assembly/obs.ts) */
  obs: ReturnType<typeof obsLayout> = null;
  /** address of CPU `cpu`'s obs block */
  obsBlock(cpu: number): number { return this.regions.obs + this.C.OBS_GLOBAL_SIZE + cpu * this.obs!.stride; }

  /** write the obs header words and the initial values of the region (min fields all-ones, the flame graph's root) */
  private initObs(l: NonNullable<ReturnType<typeof obsLayout>>, o: ObserveConfig): void {
    const C = this.C;
    const h = (field: string, v: number) => this.setU32(C.HDR_BASE + C[field], v);
    h('H_OBS', (o.lockStat ? C.OBS_LOCK_STAT : 0) | (o.trace ? C.OBS_TRACE : 0) | (o.flame ? C.OBS_FLAME : 0));
    h('H_OBS_BASE', this.regions.obs); h('H_OBS_STRIDE', l.stride);
    h('H_OBS_FLAME_OFF', l.flameOff); h('H_OBS_TRACE_OFF', l.traceOff);
    h('H_OBS_TRACE_CAP', l.traceCap); h('H_OBS_FLAME_NODES', l.flameNodes);
    this.setU64(C.HDR_BASE + C.H_OBS_TRACE_START, BigInt(o.trace?.start ?? 0));
    this.setU64(C.HDR_BASE + C.H_OBS_TRACE_END, BigInt(o.trace?.end ?? C.MAX_VCYCLES));
    const ones = 0xffffffffffffffffn;
    for (let cpu = 0; cpu < this.cfg.cpus; cpu++) {
      const b = this.obsBlock(cpu);
      for (let k = 0; k < C.NLOCK_CLASSES; k++) {
        this.setU64(b + k * C.LS_SIZE + C.LS_WAIT_MIN, ones);
        this.setU64(b + k * C.LS_SIZE + C.LS_HOLD_MIN, ones);
      }
      if (l.flameOff) this.setU32(b + l.flameOff + C.FLM_USED, 1); // node 0: the root
    }
    // the breakdown's categories as (counter, category) pairs, grouped by category (obs.ts flame_account)
    const names = counterNames();
    const pairs: number[] = [];
    CYCLE_CATEGORIES.forEach((cat, i) => {
      for (const n of cat.counters) {
        const k = names.indexOf(n);
        if (k < 0) throw new Error(`breakdown category ${cat.name}: no counter ${n}`);
        pairs.push(k | (i << 16));
      }
    });
    if (pairs.length > C.OBS_MAX_CAT_PAIRS || CYCLE_CATEGORIES.length > C.OBS_MAX_CATS) throw new Error('the breakdown has more categories or counters than the obs region holds (OBS_MAX_CATS, OBS_MAX_CAT_PAIRS)');
    this.setU32(this.regions.obs, pairs.length);
    pairs.forEach((p, i) => this.setU32(this.regions.obs + 4 + 4 * i, p));
  }
  /**
   * Why this machine cannot run again (null: it can): its last run was stopped
   * while CPUs were inside the core. A run that failed cleanly (a bad op
   * between two calls, every other CPU finished) leaves it usable.
   */
  spent: string | null = null;
  /** address of host worker `w`'s block (WK_*) */
  worker(w: number): number { return this.regions.workers + w * this.C.WK_SIZE; }
  percpu(cpu: number): number { return this.regions.percpu + cpu * this.u32(this.C.HDR_BASE + this.C.H_PERCPU_SIZE); }
  /** address of CPU `cpu`'s scratch area (config.scratchBytes) */
  scratch(cpu: number): number { return this.percpu(cpu) + this.scratchBase; }
  u32(addr: number): number { return new Uint32Array(this.memory.buffer)[addr >>> 2]; }
  i32(addr: number): number { return new Int32Array(this.memory.buffer)[addr >>> 2]; }
  u64(addr: number): bigint { return new BigUint64Array(this.memory.buffer)[addr >>> 3]; }
  setU32(addr: number, v: number): void { new Uint32Array(this.memory.buffer)[addr >>> 2] = v >>> 0; }
  setU64(addr: number, v: bigint): void { new BigUint64Array(this.memory.buffer)[addr >>> 3] = v; }

  clock(cpu: number): bigint { return this.u64(this.percpu(cpu) + this.C.PC_CLOCK); }

  /** Statistics summed over CPUs (or of one CPU), by counter name. */
  stats(cpu?: number): Record<string, bigint> {
    const names = counterNames();
    const out: Record<string, bigint> = {};
    for (const n of names) out[n] = 0n;
    const cpus = cpu === undefined ? [...Array(this.cfg.cpus).keys()] : [cpu];
    for (const c of cpus) {
      const base = this.percpu(c) + this.C.PC_STATS;
      names.forEach((n, i) => { out[n] += this.u64(base + 8 * i); });
    }
    return out;
  }

  /**
   * The frames never handed out, per buddy free list (assembly/frames.ts): from the list's
   * FL_UNTOUCHED word to its node's end (node 0: the lower half on a 2+-socket profile). They are
   * free without being on the list, and all zero.
   */
  untouchedFrames(): { list: number; which: string; first: number; end: number }[] {
    const C = this.C, n = this.cfg.frames, two = this.u32(C.HDR_BASE + C.H_TOPO_SOCKETS) >= 2;
    return [[C.H_FRAME_FREE, 'buddy free list', two ? n >>> 1 : n], [C.H_FRAME_FREE1, 'buddy free list of node 1', n]].map(([list, which, end]) => {
      const first = this.u32(C.HDR_BASE + (list as number) + C.FL_UNTOUCHED);
      return { list: list as number, which: which as string, first, end: Math.max(first, end as number) };
    });
  }

  /**
   * Why CPU `cpu` ran out of memory, in words, after a run in which one of its
   * allocations failed (VM_FAULT_OOM, ENOMEM): which pool ran dry (its
   * *_alloc_fail counters), how large the machine is and what holds its frames.
   * Reclaim is not emulated: page-cache pages stay until their file goes.
   */
  outOfMemory(cpu: number): string {
    const C = this.C, s = this.stats(cpu), n = (v: number | bigint) => v.toLocaleString('en-US');
    const pools: string[] = [];
    if (s.frame_alloc_fail > 0n) pools.push(`a page frame (frame_alloc_fail ${s.frame_alloc_fail})`);
    if (s.ptpage_alloc_fail > 0n) pools.push(`a page-table page (ptpage_alloc_fail ${s.ptpage_alloc_fail}; the machine has ${n(this.cfg.ptPages)}, ${n(this.host.core.nr_free_ptpages() as number)} free)`);
    if (s.vma_alloc_fail > 0n) pools.push(`a VMA slot (vma_alloc_fail ${s.vma_alloc_fail}; the machine has ${n(this.cfg.vmas)})`);
    // what holds the frames (frame 0 is the shared zero page)
    const u32 = new Uint32Array(this.memory.buffer);
    let free = 0, cache = 0, anon = 0;
    const untouched = new Uint8Array(this.cfg.frames);
    for (const r of this.untouchedFrames()) untouched.fill(1, r.first, r.end);
    for (let i = 1; i < this.cfg.frames; i++) {
      const f = u32[(this.regions.frames + i * C.FR_SIZE + C.FR_FLAGS) >>> 2];
      if (f & C.PG_FREE || untouched[i]) free++; else if (f & C.PG_PAGECACHE) cache++; else if (f & C.PG_ANON) anon++;
    }
    const onLists = this.host.core.nr_free_frames() as number;
    const other = this.cfg.frames - 1 - free - cache - anon;
    return `out of memory: CPU ${cpu} could not allocate ${pools.length ? pools.join(' or ') : 'memory'}; ` +
      `the machine has ${n(this.cfg.frames)} page frames (${(this.cfg.frames * 4096 / 2 ** 20).toFixed(0)} MiB of emulated RAM): ` +
      `${n(cache)} page cache, ${n(anon)} anonymous, ${other ? `${n(other)} other, ` : ''}${n(free - onLists)} free on per-CPU lists, ${n(onLists)} on the free lists ` +
      '(reclaim is not emulated: the page cache never shrinks). A workload sizes the machine from its footprint (src/workloads.ts); ' +
      'a machine of the API takes frames, ptPages and vmas (MachineConfig)';
  }

  /** A host-side bump region for test objects (locks, counters): the spare upper half of the header. */
  private bump = 0;
  /** Allocate `bytes` of zeroed host scratch at 64-byte alignment (from the header's spare tail). */
  hostAlloc(bytes: number): number {
    // the header is 4 KiB; its upper half (HDR_SCRATCH..) is reserved for host-side test objects
    const base = this.C.HDR_BASE + this.C.HDR_SCRATCH;
    const a = align(base + this.bump);
    if (a + bytes > this.C.HDR_BASE + this.C.HDR_SIZE) throw new Error('host scratch exhausted');
    this.bump = a + bytes - base;
    return a;
  }

  /**
   * Run one task per CPU on real worker threads. Resolves when every CPU has
   * finished, or the run stopped (deadlock, crash): then `ok` is false, `error`
   * says why and `cpus` keeps what each CPU returned or why it stopped.
   */
  async run(tasks: CpuTask[] | ((cpu: number) => CpuTask), opts: RunOptions = {}): Promise<RunResult> {
    if (this.spent) throw new UsageError(`this machine cannot run again: ${this.spent}; create a new machine`);
    const n = this.cfg.cpus;
    const W = this.cfg.workers;
    const list = typeof tasks === 'function' ? [...Array(n).keys()].map(tasks) : tasks;
    if (list.length !== n) throw new UsageError(`need one task per CPU (${n}), got ${list.length}`);
    const C = this.C;
    const t0 = performance.now();
    const pool = platform().createPool(W);
    const module = coreModule(this.cfg.engine === 'mn' ? 'mn' : 'threads', this.cfg.core);
    // the workers start together (threads come up tens of ms apart)
    this.setU32(C.HDR_BASE + C.H_STARTED, 0);
    this.setU32(C.HDR_BASE + C.H_RENDEZVOUS, W);
    this.setU32(C.HDR_BASE + C.H_HUNGRY, 0);
    for (let w = 0; w < W; w++) {
      for (const f of ['WK_SWITCHES', 'WK_SLEEPS']) this.setU64(this.worker(w) + C[f], 0n);
      this.setU32(this.worker(w) + C.WK_ASYNC_HIGH, 0);
    }
    let deadlock: WaitEdge[] | undefined;
    let error: string | undefined;
    // the last run ended cleanly (or was stopped with no CPU inside the core): start without its stop
    this.setU32(C.HDR_BASE + C.H_STOP, 0);
    this.setU32(C.HDR_BASE + C.H_STOP_CPU, C.STOP_CPU_NONE);
    const midCall: number[] = [];
    let lostWorkers = false;

    // every CPU's state at the moment the run was stopped (before the stop unwinds the waits)
    let states: CpuState[] | undefined;

    // ---- watchdog: no CPU made progress (clock or op count) for watchdogMs while some did not finish ----
    let lastSig = '';
    let lastChange = performance.now();
    const watchdog = setInterval(() => {
      const sig = this.progressSignature();
      const now = performance.now();
      if (sig !== lastSig) { lastSig = sig; lastChange = now; return; }
      if (now - lastChange > this.cfg.watchdogMs && this.u32(C.HDR_BASE + C.H_STOP) === 0) {
        deadlock = waitForGraph(this);
        states = cpuStates(this);
        error = `watchdog: no CPU made progress for ${this.cfg.watchdogMs} ms`;
        this.stop(C.STOP_HOST);
      }
    }, Math.min(100, this.cfg.watchdogMs / 4));

    // a cancel is the watchdog's stop: every CPU leaves at its next stop check
    const signal = opts.signal;
    const onAbort = () => {
      if (!error) error = `aborted: ${abortReason(signal!)}`;
      this.stop(C.STOP_HOST);
    };
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });

    const onSample = opts.onSample;
    onSample?.(this.snapshot());
    const sampler = onSample ? setInterval(() => onSample(this.snapshot()), Math.max(10, opts.sampleMs ?? 100)) : undefined;

    const crashText = (cpu: number, msg: string) => msg.startsWith(`cpu ${cpu},`) ? msg // (an OpError names its CPU and op)
      : `cpu ${cpu} (program ${list[cpu]?.program}, op #${this.u32(this.percpu(cpu) + C.PC_OP)}): ${msg}`;
    const perWorker: CpuResult[][] = await Promise.all([...Array(W).keys()].map((w) => {
      const first = this.u32(this.worker(w) + C.WK_FIRST), count = this.u32(this.worker(w) + C.WK_COUNT);
      return pool.run({ memory: this.memory, module, worker: w, first, tasks: list.slice(first, first + count) })
        .then((r: WorkerResult) => {
          midCall.push(...r.midCall);
          if (r.crash && !error) {
            error = crashText(r.crash.cpu, r.crash.message);
            if (r.crash.lostWorker) error += ` (the trap came in the middle of a coroutine switch: all CPUs of worker ${w}, ${first}..${first + count - 1}, are lost)`;
          }
          return r.cpus;
        })
        .catch((e: unknown) => {
          const msg = e instanceof Error ? e.message : String(e);
          if (!error) error = `worker ${w} (cpus ${first}..${first + count - 1}) failed: ${msg}`;
          lostWorkers = true;
          this.stop(C.STOP_CRASH);
          return list.slice(first, first + count).map((_, i) => ({ cpu: first + i, ok: false, error: msg }));
        });
    }));
    clearInterval(watchdog);
    signal?.removeEventListener('abort', onAbort);
    if (sampler) clearInterval(sampler);
    // a lost worker's pool is ended; otherwise every worker returned and the pool serves the next run
    await (lostWorkers || !pool.release ? pool.destroy() : pool.release());
    onSample?.(this.snapshot());
    const results = perWorker.flat();

    const stop = this.u32(C.HDR_BASE + C.H_STOP);
    if (stop === C.STOP_DEADLOCK && !deadlock) {
      deadlock = waitForGraph(this);
      error = 'deadlock: no CPU is runnable (detected by the scheduler in deterministic mode)';
    }
    // a CPU's own error (its program threw, the core trapped) says more than the stop it caused
    for (const r of results) if (!r.ok && !r.stopped && !error) error = crashText(r.cpu, r.error ?? 'failed');
    if (stop === C.STOP_CRASH && !error && this.u32(C.HDR_BASE + C.H_STOP_CPU) !== C.STOP_CPU_NONE >>> 0) {
      const who = this.u32(C.HDR_BASE + C.H_STOP_CPU);
      error = `cpu ${who} crashed at op #${this.u32(this.percpu(who) + C.PC_OP)} (injected fault)`;
    }
    for (const r of results) if (!r.ok && !error) error = `cpu ${r.cpu}: ${r.error}`;
    // CPUs stopped inside the core leave what they held (locks, batches, half an operation): the machine is spent
    if (lostWorkers || (stop !== C.STOP_NONE && midCall.length)) {
      const who = midCall.sort((a, b) => a - b);
      this.spent = `its last run stopped (${(error ?? 'stopped').split('\n')[0]})` + (lostWorkers
        ? ' and a host worker was lost'
        : ` while cpu ${who.join(', cpu ')} ${who.length === 1 ? 'was' : 'were'} inside a core call (the locks and half-done operations ${who.length === 1 ? 'it' : 'they'} held are lost)`);
    }
    const lost = deadlock ? lostUserfaultWakeups(this, deadlock) : undefined;
    if (lost && error) error = `${lost} (${error})`;
    // whatever stopped the run: every CPU's state and its wait-for edge
    if (stop !== C.STOP_NONE) states ??= cpuStates(this, stop === C.STOP_CRASH ? this.u32(C.HDR_BASE + C.H_STOP_CPU) : undefined);
    if (states && error) error += '\n' + states.map((e) => '  ' + e.text).join('\n');
    return {
      ok: !error && results.every((r) => r.ok),
      error,
      deadlock,
      ...(states ? { cpuStates: states } : {}),
      cpus: results,
      clocks: [...Array(n).keys()].map((i) => this.clock(i)),
      wallMs: performance.now() - t0,
      engine: this.engineStats(),
    };
  }

  /** every CPU's clock, state, what it waits for and its fault count, read from shared memory now */
  snapshot(): CpuSnapshot[] {
    const C = this.C;
    const faultStat = counterNames().indexOf('fault');
    const classes = lockClasses();
    // what runs now is each worker's current CPU: a worker runs one CPU at a time, and the
    // states read CPU by CPU while it switches could show two of its CPUs running
    const current = new Set<number>();
    for (let w = 0; w < this.cfg.workers; w++) {
      const c = this.u32(this.worker(w) + C.WK_CURRENT);
      if (c !== 0) current.add(c - 1);
    }
    return [...Array(this.cfg.cpus).keys()].map((cpu) => {
      const pc = this.percpu(cpu);
      let state = CPU_STATES[this.u32(pc + C.PC_STATE)] ?? 'unknown';
      if (state === 'running' && !current.has(cpu)) state = 'runnable';
      // PC_WAIT_KIND outlives the wait until the CPU runs again: only a CPU that waits now waits for something
      const waits = state === 'waiting' || state === 'at-barrier';
      return {
        cpu,
        clock: this.clock(cpu),
        state,
        waitsFor: waits ? waitEdge(this, cpu, classes)?.waitsFor ?? null : null,
        faults: Number(this.u64(pc + C.PC_STATS + 8 * faultStat)),
      };
    });
  }

  /** what the engine did in the last run (summed over workers) */
  engineStats(): EngineStats {
    const C = this.C;
    let switches = 0, sleeps = 0, high = 0, steals = 0, stealsMidCall = 0, stealsMidFault = 0, safetyTimeouts = 0;
    for (let w = 0; w < this.cfg.workers; w++) {
      switches += Number(this.u64(this.worker(w) + C.WK_SWITCHES));
      sleeps += Number(this.u64(this.worker(w) + C.WK_SLEEPS));
      steals += Number(this.u64(this.worker(w) + C.WK_STEALS));
      stealsMidCall += Number(this.u64(this.worker(w) + C.WK_STEALS_MIDCALL));
      stealsMidFault += Number(this.u64(this.worker(w) + C.WK_STEALS_MIDFAULT));
      safetyTimeouts += Number(this.u64(this.worker(w) + C.WK_TIMEOUTS));
      high = Math.max(high, this.u32(this.worker(w) + C.WK_ASYNC_HIGH));
    }
    return { engine: this.cfg.engine, workers: this.cfg.workers, switches, sleeps, asyncHighWater: high, steals, stealsMidCall, stealsMidFault, safetyTimeouts, core: this.cfg.core };
  }

  private progressSignature(): string {
    let s = String(this.u32(this.C.HDR_BASE + this.C.H_PROGRESS));
    for (let i = 0; i < this.cfg.cpus; i++) s += ',' + this.clock(i) + ':' + this.u32(this.percpu(i) + this.C.PC_STATE);
    return s;
  }

  /** Ask every CPU to stop and wake them all. */
  stop(reason: number): void {
    const C = this.C;
    const i32 = new Int32Array(this.memory.buffer);
    Atomics.compareExchange(i32, (C.HDR_BASE + C.H_STOP) >>> 2, 0, reason);
    for (let i = 0; i < this.cfg.cpus; i++) Atomics.add(i32, (this.percpu(i) + C.PC_WAKE) >>> 2, 1);
    for (let w = 0; w < this.cfg.workers; w++) {
      const a = (this.worker(w) + C.WK_WAKE) >>> 2;
      Atomics.add(i32, a, 1);
      Atomics.notify(i32, a);
    }
  }
}

export type { Instance };
