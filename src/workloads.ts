// The workload registry: what the CPUs of one run do. A workload sets up
// shared objects in a fresh Machine, hands each CPU a task (a program of
// src/programs.ts with its arguments), and afterwards counts the operations
// the run actually performed, in its own unit (increments, lock sections,
// faults...). Every run is real: Machine.run on worker threads.
//
// The micro-workloads below exercise the locking primitives; the page-fault
// workloads (will-it-scale page_fault*, an ebizzy-like mix...) register here
// the same way when the fault path lands.

import type { Machine, MachineConfig, CpuTask, RunResult } from './machine.js';
import type { LoopResult } from './programs.js';
import type { Placement } from './profile.js';
import type { PointSpec } from './experiment.js';
import { UsageError } from './types.js';
import { layoutConsts } from './wasm.js';
import { WORKLOAD_NAMES, TEST_ONLY_WORKLOADS, type WorkloadName } from './generated/assets.js';
import { unknownWorkload } from './schema.js';
import { counterNames } from './stats.js';

export interface Workload<Ctx = unknown> {
  /** one of spec/workloads.json (the WorkloadName union) */
  name: WorkloadName;
  /** one line for `faultline list` */
  description: string;
  /** the unit of ops(), plural: "increments", "faults" */
  opsUnit: string;
  /** false: the fault-path strategy plays no part (it is still recorded) */
  usesStrategy: boolean;
  /** what --vcycles means for this workload (one line, for docs and `list`) */
  vcycles: string;
  /** not listed (test-only) */
  hidden?: boolean;
  /** the fewest CPUs a point may have (default 1) */
  minCpus?: number;
  /**
   * the benchmark's threads per CPU when it runs more than one (ebizzy's
   * default of 2 per online CPU): the machine then runs that many tasks on
   * the point's CPUs (a guest run queue: assembly/vcpu.ts), and machine(),
   * setup() and task() see the point with cpus = the tasks. Default 1.
   */
  threadsPerCpu?: number;
  /**
   * where the benchmark's threads run (src/profile.ts Placement): 'cores' as
   * will-it-scale binds them (hwloc cores in order, siblings last; the
   * default), 'spread' when the benchmark leaves them to the scheduler
   */
  placement?: Placement;
  /** extra machine configuration (per-CPU scratch, frames...) */
  machine?(p: PointSpec): Partial<MachineConfig>;
  /** lay out and initialise the shared objects; the result is handed to task() and ops() */
  setup(m: Machine, p: PointSpec): Ctx;
  task(cpu: number, ctx: Ctx): CpuTask;
  /** operations the run performed, read from the machine after a successful run */
  ops(m: Machine, run: RunResult, ctx: Ctx): number;
  /** the workload's parameters for this point (iterations per CPU...), recorded in the results */
  params(ctx: Ctx): Record<string, number>;
  /** which phase of the run the benchmark times (one line, for `faultline list` and docs) */
  timed?: string;
  /**
   * Virtual cycles of the timed phase, when the benchmark times only part of
   * the run (pft: the fault phase of each round; ebizzy: after the set-up).
   * Without it the whole run counts (the largest CPU clock).
   */
  timedCycles?(m: Machine, run: RunResult, ctx: Ctx): bigint;
  /** measurements of its own beyond ops (postcopy: latency percentiles), read after a successful run */
  metrics?(m: Machine, run: RunResult, ctx: Ctx): Record<string, number>;
  /**
   * The benchmark's loop, when the workload runs whole loops (--loops): what
   * one loop is (one line), and how many whole loops each CPU completed.
   */
  loop?: { unit: string; complete(m: Machine, ctx: Ctx): number[] };
}

/**
 * Whole loops per CPU a fault workload's window holds at least when neither
 * --loops nor --vcycles is given: the default budget is the benchmark's
 * steady state. A --vcycles alone is taken as asked (loops 0: the budget
 * alone; the result's `loops.covered` and the CLI's warning say when it holds
 * no whole loop).
 */
export const DEFAULT_LOOPS = 1;
export const loopsOf = (p: { loops?: number; vcycles?: number }): number => p.loops ?? (p.vcycles === undefined ? DEFAULT_LOOPS : 0);

// ---------------------------------------------------------------------------
// Iteration counts

/**
 * Per-CPU iteration count of a fixed-work micro-workload: `defaultIters`, or,
 * with --vcycles, the budget divided by the uncontended cost of one iteration
 * on this profile. Under contention each CPU then runs past the budget: the
 * work is fixed, the time is what is measured.
 */
export function microIters(p: PointSpec, defaultIters: number, opCycles: number): number {
  if (p.vcycles === undefined) return defaultIters;
  return Math.max(1, Math.floor(p.vcycles / Math.max(1, opCycles)));
}

const MICRO_VCYCLES = 'per-CPU iterations = vcycles / uncontended cycles of one iteration (fixed work; contended CPUs run longer)';

// ---------------------------------------------------------------------------
// Micro-workloads

/** a modeled cache line: the line metadata (LM_SIZE bytes), then the 8-byte counter */
const lineBytes = (m: Machine) => m.C.LM_SIZE + 8;
const lineBytes0 = () => layoutConsts().LM_SIZE + 8;

interface AtomicCtx { lines: number[]; iters: number }

function atomicTask(cpu: number, ctx: AtomicCtx): CpuTask {
  const line = ctx.lines[cpu];
  return { program: 'atomicInc', args: { line, ctr: line + layoutConsts().LM_SIZE, iters: ctx.iters } };
}

function atomicOps(m: Machine, _run: RunResult, ctx: AtomicCtx): number {
  return [...new Set(ctx.lines)].reduce((sum, line) => sum + Number(m.u64(line + m.C.LM_SIZE)), 0);
}

const atomicIters = (m: Machine, p: PointSpec) => microIters(p, 2000, m.profile.cycles.atomic_rmw);

const atomicShared: Workload<AtomicCtx> = {
  name: 'atomic-shared',
  description: 'every CPU does atomic increments on ONE shared cache line (the line bounces between CPUs)',
  opsUnit: 'increments',
  usesStrategy: false,
  vcycles: MICRO_VCYCLES,
  setup(m, p) {
    const line = m.hostAlloc(lineBytes(m));
    return { lines: Array<number>(p.cpus).fill(line), iters: atomicIters(m, p) };
  },
  task: atomicTask,
  ops: atomicOps,
  params: (ctx) => ({ itersPerCpu: ctx.iters }),
};

/** each CPU's private line lives in its own per-CPU scratch, 64-byte aligned */
const atomicPrivate: Workload<AtomicCtx> = {
  name: 'atomic-private',
  description: 'each CPU does atomic increments on its own cache line (no sharing: the scaling baseline)',
  opsUnit: 'increments',
  usesStrategy: false,
  vcycles: MICRO_VCYCLES,
  machine: () => ({ scratchBytes: lineBytes0() + 64 }), // a line, 64-byte aligned inside the scratch
  setup(m, p) {
    const lines = [...Array(p.cpus).keys()].map((cpu) => Math.ceil(m.scratch(cpu) / 64) * 64);
    return { lines, iters: atomicIters(m, p) };
  },
  task: atomicTask,
  ops: atomicOps,
  params: (ctx) => ({ itersPerCpu: ctx.iters }),
};

interface LockCtx { lock: number; counter: number; iters: number }

const lockIters = (m: Machine, p: PointSpec) => microIters(p, 300, m.profile.cycles.atomic_rmw + m.profile.cycles.store);

function lockSetup(m: Machine, p: PointSpec): LockCtx {
  const lock = m.hostAlloc(m.C.SL_SIZE);
  m.host.core.spin_lock_init(lock, m.C.LOCK_CLASS_GENERIC);
  return { lock, counter: m.hostAlloc(16), iters: lockIters(m, p) };
}

const lockTask = (_cpu: number, ctx: LockCtx): CpuTask =>
  ({ program: 'lockInc', args: { lock: ctx.lock, counter: ctx.counter, iters: ctx.iters } });

const spinlock: Workload<LockCtx> = {
  name: 'spinlock',
  description: 'every CPU takes ONE ticket spinlock and increments a counter inside it',
  opsUnit: 'lock sections',
  usesStrategy: false,
  vcycles: MICRO_VCYCLES,
  setup: lockSetup,
  task: lockTask,
  ops: (m, _run, ctx) => Number(m.u64(ctx.counter)),
  params: (ctx) => ({ itersPerCpu: ctx.iters }),
};

interface RwsemCtx { sem: number; counter: number; iters: number; writePct: number }

/** rwsemMix on the mm's mmap_lock: writers bump counter (u64), readers counter+8 (u32) */
function mmapLockWorkload(name: WorkloadName, writePct: number, description: string): Workload<RwsemCtx> {
  return {
    name,
    description,
    opsUnit: 'lock sections',
    usesStrategy: false,
    vcycles: MICRO_VCYCLES,
    setup(m, p) {
      const iters = microIters(p, 1000, 2 * m.profile.cycles.atomic_rmw);
      return { sem: m.regions.mm + m.C.MM_MMAP_LOCK, counter: m.hostAlloc(16), iters, writePct };
    },
    task: (_cpu, ctx) => ({ program: 'rwsemMix', args: { sem: ctx.sem, counter: ctx.counter, iters: ctx.iters, writePct: ctx.writePct } }),
    ops: (m, _run, ctx) => Number(m.u64(ctx.counter)) + m.u32(ctx.counter + 8),
    params: (ctx) => ({ itersPerCpu: ctx.iters, writePct: ctx.writePct }),
  };
}

// ---------------------------------------------------------------------------
// Test-only: a workload that crashes part-way at 4 CPUs and more

/** the CPU that traps, and at which of its operations */
const CRASH_OP = 50;

const testCrash: Workload<LockCtx> = {
  name: 'test-crash',
  description: 'test only: spinlock, but the last CPU traps at its 50th operation when there are 4 CPUs or more',
  opsUnit: 'lock sections',
  usesStrategy: false,
  vcycles: MICRO_VCYCLES,
  hidden: true,
  setup(m, p) {
    const ctx = lockSetup(m, p);
    if (p.cpus >= 4) m.setU32(m.percpu(p.cpus - 1) + m.C.PC_INJECT, CRASH_OP);
    return ctx;
  },
  task: lockTask,
  ops: (m, _run, ctx) => Number(m.u64(ctx.counter)),
  params: (ctx) => ({ itersPerCpu: ctx.iters }),
};

// ---------------------------------------------------------------------------
// Page-fault workloads (loops in assembly/workloads.ts; each CPU runs until its
// clock reaches the budget: --vcycles, default FAULT_VCYCLES)

const MiB = 1 << 20;
const PAGE = 4096;
/** default per-CPU virtual-cycle budget of the fault workloads (8 ms at 2.5 GHz) */
export const FAULT_VCYCLES = 20_000_000;
const FAULT_VCYCLES_DOC = 'each CPU loops until its virtual clock reaches vcycles (default 20M cycles) and every CPU has completed --loops whole loops (default 1)';
/** an upper bound of pages one CPU can fault within `budget` cycles (a fault costs >= ~1000 cycles) */
const pagesIn = (budget: number) => Math.ceil(budget / 1000) + 64;
/** live pages of one CPU: a whole loop's when whole loops are asked for, else what the budget can touch */
const livePages = (p: PointSpec, loopPages: number) => loopsOf(p) > 0 ? loopPages : Math.min(loopPages, pagesIn(budgetOf(p)));

interface FaultCtx { budget: number; size: number; extra?: Record<string, number>; region?: bigint; tables?: number[]; barrier?: number;
  /** the steady-state block (assembly/workloads.ts running()) and the whole loops it asks of each CPU */
  steady: number; loops: number;
  /** the loop's struct wl_args (wlArgs) */
  wl?: number;
  /** ebizzy: its threads (the machine's tasks) */
  threads?: number }

/** the fields of struct wl_args (assembly/workloads.ts): a fault workload's configuration, the same for every CPU */
export interface WlArgs {
  kind?: number; steady?: number; length?: number; budget?: number; maxIters?: number; base?: bigint | number;
  ncpus?: number; barrier?: number; opts?: number; npages?: number; step?: number; stride?: number;
}
/** an unbounded budget or iteration count */
const WL_UNBOUNDED = 2 ** 50;
/** Write a struct wl_args into host scratch (read by every CPU's wl_* loop); returns its address. */
export function wlArgs(m: Machine, a: WlArgs): number {
  const C = m.C;
  const p = m.hostAlloc(C.WLA_SIZE);
  const u32: [number, number | undefined][] = [[C.WLA_KIND, a.kind], [C.WLA_STEADY, a.steady], [C.WLA_NCPUS, a.ncpus], [C.WLA_BARRIER, a.barrier],
    [C.WLA_OPTS, a.opts], [C.WLA_NPAGES, a.npages], [C.WLA_STEP, a.step]];
  for (const [off, v] of u32) m.setU32(p + off, v ?? 0);
  const u64: [number, bigint | number | undefined][] = [[C.WLA_LENGTH, a.length], [C.WLA_BUDGET, a.budget ?? WL_UNBOUNDED],
    [C.WLA_MAX_ITERS, a.maxIters ?? WL_UNBOUNDED], [C.WLA_BASE, a.base], [C.WLA_STRIDE, a.stride]];
  for (const [off, v] of u64) m.setU64(p + off, BigInt(v ?? 0));
  return p;
}
/** the setup of a fault workload's point: its budget and steady-state block, and the struct wl_args of `fields` with them */
function faultSetup(m: Machine, p: PointSpec, size: number, fields: WlArgs = {}): FaultCtx {
  const budget = budgetOf(p);
  const st = steadyBlock(m, p);
  return { budget, size, ...st, wl: wlArgs(m, { length: size, budget, steady: st.steady, ...fields }) };
}


/**
 * The steady-state block of a point (layout in assembly/workloads.ts): every
 * CPU runs until all have completed `loops` whole loops (0: the budget alone
 * decides). Host scratch holds it: 32 + 4 x CPUs bytes.
 */
function steadyBlock(m: Machine, p: PointSpec): { steady: number; loops: number } {
  const loops = loopsOf(p);
  const steady = m.hostAlloc(32 + 4 * p.cpus);
  m.setU32(steady, loops === 0 ? p.cpus : 0);
  m.setU32(steady + 4, p.cpus);
  m.setU32(steady + 8, loops);
  return { steady, loops };
}

/** whole loops each CPU completed (the steady-state block's counters) */
function completeLoops(m: Machine, ctx: FaultCtx): number[] {
  return [...Array(m.cfg.cpus).keys()].map((c) => m.u32(ctx.steady + 32 + 4 * c));
}
const loopOf = (unit: string) => ({ unit, complete: completeLoops });

/**
 * A workload's loop stopped on a failure inside the emulated machine (an OOM,
 * a failed syscall): the point fails with this message as its error.
 */
export class WorkloadFailure extends Error {
  constructor(message: string) { super(message); this.name = 'WorkloadFailure'; }
}

/** iterations the CPUs reported; a CPU whose loop failed fails the point (an OOM names itself: Machine.outOfMemory) */
function loopOps(m: Machine, run: RunResult): number {
  let n = 0;
  for (const c of run.cpus) {
    const v = c.value as LoopResult | undefined;
    if (v?.error) {
      const oom = v.vmFault !== undefined ? (v.vmFault & m.host.consts.VM_FAULT_OOM) !== 0 : v.errno === ENOMEM;
      throw new WorkloadFailure(`cpu ${c.cpu}: ${oom ? `${m.outOfMemory(c.cpu)} (${v.error})` : v.error}`);
    }
    n += v?.iters ?? 0;
  }
  return n;
}
const ENOMEM = 12;

/**
 * Machine sizing from a workload's footprint, as a real machine has the RAM
 * its benchmark needs: `perCpuPages` pages each CPU can have mapped at once,
 * plus `files` files of `filePages` pages of which up to `cachedPerFile` end up
 * in the page cache (reclaim is not emulated: cached pages stay until the run
 * ends, so the cache is sized for all a run can touch); per CPU 1,024 frames
 * more for its per-CPU page lists (pcpHigh 378) and LRU batches, 8,192 for the
 * machine; page tables for the mapped pages.
 */
function faultMachine(p: PointSpec, perCpuPages: number, files = 0, filePages = 0, cachedPerFile = 0): Partial<MachineConfig> {
  const cached = Math.min(filePages, cachedPerFile);
  const frames = p.cpus * (perCpuPages + 1024) + files * cached + 8192;
  // a CPU maps at most its private pages and its file's cached pages at once: a PTE table per 512, 16 for the upper levels
  return {
    frames,
    ptPages: p.cpus * (Math.ceil((perCpuPages + cached) / 512) + 16) + 256,
    vmas: 256 + 64 * p.cpus,
    files,
    filePages,
    scratchBytes: 256,
  };
}

const budgetOf = (p: PointSpec) => p.vcycles ?? FAULT_VCYCLES;
/** will-it-scale (main.c) samples every thread's iteration counter once a second: the whole loop, munmap included */
const WIS_TIMED = 'the whole loop, munmap included (will-it-scale counts iterations per second)';

function pageFaultWorkload(name: WorkloadName, kind: number, description: string): Workload<FaultCtx> {
  const size = 128 * MiB;
  return {
    name, description, opsUnit: 'faults', usesStrategy: true, vcycles: FAULT_VCYCLES_DOC, timed: WIS_TIMED,
    machine: (p) => {
      const live = livePages(p, size / PAGE);
      // file workloads: the page cache keeps every page touched (a file per CPU), plus the private copies (page_fault2)
      return kind === 0 ? faultMachine(p, live) : faultMachine(p, kind === 1 ? live : 0, p.cpus, size / PAGE, live);
    },
    setup: (m, p) => faultSetup(m, p, size, { kind }),
    task: (cpu, ctx) => ({ program: 'pageFault', args: { file: cpu, wl: ctx.wl! } }),
    ops: loopOps,
    params: (ctx) => ({ sizeBytes: ctx.size, vcyclesBudget: ctx.budget, loops: ctx.loops }),
    loop: loopOf('one mmap of 128 MiB, a write per page (32,768 faults), munmap'),
  };
}

function mmapWorkload(name: WorkloadName, anon: boolean, description: string): Workload<FaultCtx> {
  const size = 128 * MiB;
  return {
    name, description, opsUnit: 'mmap+munmap pairs', usesStrategy: true, vcycles: FAULT_VCYCLES_DOC, timed: WIS_TIMED,
    machine: (p) => faultMachine(p, 16, anon ? 0 : p.cpus, anon ? 0 : size / PAGE),
    setup: (m, p) => faultSetup(m, p, size, { kind: anon ? 1 : 0 }),
    task: (cpu, ctx) => ({ program: 'mmapLoop', args: { file: cpu, wl: ctx.wl! } }),
    ops: loopOps,
    params: (ctx) => ({ sizeBytes: ctx.size, vcyclesBudget: ctx.budget, loops: ctx.loops }),
    loop: loopOf('one mmap + munmap of 128 MiB'),
  };
}

// will-it-scale tests/tlb_flush1.c, threads mode: a 128 MiB file per thread, MAP_PRIVATE
const tlbFlush1: Workload<FaultCtx> = {
  name: 'tlb_flush1',
  description: 'will-it-scale tests/tlb_flush1.c: a private mapping of its own 128 MiB file; per page: write (COW), MADV_DONTNEED (a shootdown to every thread)',
  opsUnit: 'pages', usesStrategy: true, vcycles: FAULT_VCYCLES_DOC,
  timed: WIS_TIMED,
  // one private copy at a time (MADV_DONTNEED drops it); the page cache of its file keeps every page the loop wrote
  machine: (p) => faultMachine(p, 256, p.cpus, 128 * MiB / PAGE, livePages(p, 128 * MiB / PAGE)),
  setup: (m, p) => faultSetup(m, p, 128 * MiB),
  task: (cpu, ctx) => ({ program: 'tlbFlush', args: { file: cpu, wl: ctx.wl! } }),
  ops: loopOps,
  params: (ctx) => ({ sizeBytes: ctx.size, vcyclesBudget: ctx.budget, loops: ctx.loops }),
  loop: loopOf('one private mapping of its 128 MiB file, per page a write and MADV_DONTNEED (32,768), munmap'),
};

/**
 * mte-tag: tag storage reserved on first access (assembly/workloads.ts
 * wl_mte_tag): the fault-on-access path of every CPU meets the one pool
 * lock. The pool holds twice what all CPUs can have mapped at once, so it
 * never runs dry here (an empty pool is a test's business).
 */
/** small enough that one round (write, mprotect, re-fault) fits the tests' budgets */
const MTE_TAG_SIZE = 256 * 1024;
const mteTag: Workload<FaultCtx> = {
  name: 'mte-tag',
  description: 'MTE tag storage on demand: mmap 256 KiB, write it, mprotect(PROT_MTE), write it again (each page a fault-on-access fault that reserves tag storage from one shared pool), munmap; per re-faulted page',
  opsUnit: 'fault-on-access faults', usesStrategy: true, vcycles: FAULT_VCYCLES_DOC,
  machine: (p) => ({ ...faultMachine(p, MTE_TAG_SIZE / PAGE), settings: { tagStorage: 2 * p.cpus * (MTE_TAG_SIZE / PAGE) } }),
  setup: (m, p) => faultSetup(m, p, MTE_TAG_SIZE),
  task: (_cpu, ctx) => ({ program: 'mteTag', args: { wl: ctx.wl! } }),
  ops: loopOps,
  params: (ctx) => ({ sizeBytes: ctx.size, vcyclesBudget: ctx.budget, loops: ctx.loops }),
  loop: loopOf('one mmap of 256 KiB, write, mprotect(PROT_MTE), write again (64 fault-on-access faults), munmap'),
};


/** each CPU's scratch: where it stores its timed window (u64) */
const scratchOf = (m: Machine, p: PointSpec) => [...Array(p.cpus).keys()].map((c) => m.scratch(c));

/** the timed window each CPU stored in its scratch (u64 at offset 0): the largest */
function windowCycles(m: Machine): bigint {
  let w = 0n;
  for (let c = 0; c < m.cfg.cpus; c++) { const v = m.u64(m.scratch(c)); if (v > w) w = v; }
  return w;
}

/** pft's memory per thread: vcycles / 10,000 pages (2,000 pages, ~7.8 MiB, at the default budget), 16 to 65,536 */
const pftPages = (p: PointSpec) => Math.min(65_536, Math.max(16, Math.round(budgetOf(p) / 10_000)));

/**
 * pft (pft.c of Christoph Lameter's page fault test, the version carried in
 * github.com/gormanm/pft; threads mode): the region is mapped before the timed
 * phase, each thread writes one byte per page of its share, and only that
 * fault phase is timed (faults per wall second between the first start and
 * the last end); the unmap and the next round's map happen outside it.
 * `shared`: ONE region carved into per-thread slices (pft's default: one VMA,
 * one anon_vma); otherwise a region per thread (one VMA each).
 */
function pftWorkload(name: WorkloadName, shared: boolean, description: string): Workload<FaultCtx> {
  return {
    name, description, opsUnit: 'faults', usesStrategy: true, placement: 'spread', // pft.c creates its threads unbound
    vcycles: 'memory per thread = vcycles / 10,000 pages (default 2,000 pages); rounds repeat until the clock passes vcycles',
    timed: 'the fault phase of each round only (between two barriers); map and unmap are outside the window',
    machine: (p) => faultMachine(p, pftPages(p)),
    setup: (m, p) => {
      const barrier = m.hostAlloc(32);
      return { ...faultSetup(m, p, pftPages(p) * PAGE, { kind: shared ? 1 : 0, base: 0x200000000000, ncpus: p.cpus, barrier }), barrier, tables: scratchOf(m, p) };
    },
    task: (cpu, ctx) => ({ program: 'pft', args: { window: ctx.tables![cpu], wl: ctx.wl! } }),
    ops: loopOps,
    params: (ctx) => ({ bytesPerThread: ctx.size, vcyclesBudget: ctx.budget, loops: ctx.loops }),
    timedCycles: (m) => windowCycles(m),
    loop: loopOf('one round: map, fault every page of its share between two barriers, unmap'),
  };
}

/** ebizzy.c's options besides -m (assembly/workloads.ts EBIZZY_*); oneThreadPerCpu: -t <cpus> (else ebizzy's default thread count) */
interface EbizzyOpts { touch?: boolean; randomSize?: boolean; permissions?: boolean; oneThreadPerCpu?: boolean }

/** ebizzy.c read_options(): `threads = 2 * sysconf(_SC_NPROCESSORS_ONLN)` unless -t */
const EBIZZY_THREADS_PER_CPU = 2;

/**
 * ebizzy.c with its defaults (read_options(): chunks = 10, chunk_size = record_size * 64 * 1024 = 512 KiB,
 * records of sizeof(size_t) = 8 bytes), shared by the threads. ebizzy's own default thread count is
 * 2 x the online CPUs (`threads = 2 * sysconf(_SC_NPROCESSORS_ONLN)`): the point runs that many tasks on
 * its CPUs (two per CPU, a guest run queue: assembly/vcpu.ts); `-t <cpus>` variants run one per CPU.
 */
function ebizzyWorkload(name: WorkloadName, o: EbizzyOpts, description: string): Workload<FaultCtx> {
  const chunkSize = 8 * 64 * 1024;
  const chunks = 10;
  const optsOf = (C: Record<string, number>) => (o.touch ? C.EBIZZY_TOUCH : 0) | (o.randomSize ? C.EBIZZY_RANDOM_SIZE : 0) | (o.permissions ? C.EBIZZY_PERMISSIONS : 0);
  return {
    name, description, opsUnit: 'records', usesStrategy: true, vcycles: FAULT_VCYCLES_DOC, placement: 'spread', // ebizzy.c's pthread_create(), unbound
    threadsPerCpu: o.oneThreadPerCpu ? 1 : EBIZZY_THREADS_PER_CPU,
    timed: 'from the start signal (after the chunks are allocated and written) for vcycles cycles',
    machine: (p) => faultMachine(p, 2 * chunkSize / PAGE + Math.ceil(chunks * chunkSize / PAGE / p.cpus)),
    setup: (m, p) => {
      const barrier = m.hostAlloc(32);
      return { ...faultSetup(m, p, chunkSize, { opts: optsOf(m.C), npages: chunks, ncpus: p.cpus, barrier }), barrier, tables: scratchOf(m, p), threads: p.cpus };
    },
    task: (cpu, ctx) => ({ program: 'ebizzy', args: { window: ctx.tables![cpu], wl: ctx.wl! } }),
    ops: loopOps,
    params: (ctx) => ({ threads: ctx.threads!, chunkBytes: chunkSize, chunks, touchOnly: o.touch ? 1 : 0, randomSize: o.randomSize ? 1 : 0, permissions: o.permissions ? 1 : 0,
      vcyclesBudget: ctx.budget, loops: ctx.loops }),
    timedCycles: (m) => windowCycles(m),
    loop: loopOf(o.randomSize ? 'one record: mmap an 8-byte buffer (one page), fill it, munmap'
      : o.touch ? 'one record: mmap a 512 KiB buffer, write each page, munmap' : 'one record: mmap a 512 KiB buffer, fill it, search it, munmap'),
  };
}

/** RadixVM mapbench: map / touch / unmap one page at a time, MAP_FIXED */
function mapbenchWorkload(name: WorkloadName, global: boolean, description: string): Workload<FaultCtx> {
  const npages = 64;
  const base = 0x100000000000n;
  return {
    name, description, opsUnit: 'map+touch+unmap', usesStrategy: true, vcycles: FAULT_VCYCLES_DOC,
    machine: (p) => faultMachine(p, 64),
    // one region: CPU c uses slots c, c + ncpus, ... (neighbours share page tables and VMAs' neighbourhoods); local: a region per CPU, 1 GiB apart
    setup: (m, p) => ({ ...faultSetup(m, p, 0, global ? { npages: npages * p.cpus, step: p.cpus } : { npages, step: 1 }), size: npages }),
    task: (cpu, ctx) => global
      ? { program: 'mapbench', args: { base: Number(base), first: cpu, wl: ctx.wl! } }
      : { program: 'mapbench', args: { base: Number(base + BigInt(cpu) * (1n << 30n)), first: 0, wl: ctx.wl! } },
    ops: loopOps,
    params: (ctx) => ({ pagesPerCpu: ctx.size, vcyclesBudget: ctx.budget, loops: ctx.loops }),
    loop: loopOf('one page: mmap (MAP_FIXED), write, munmap'),
  };
}

/** RadixVM mapbench pipeline: CPU c maps pages that CPU c+1 touches and unmaps */
const mapbenchPipeline: Workload<FaultCtx> = {
  name: 'mapbench-pipeline',
  description: 'RadixVM mapbench.cc pipeline: each CPU maps pages into its ring; the next CPU touches and unmaps them',
  opsUnit: 'pages passed', usesStrategy: true, vcycles: FAULT_VCYCLES_DOC,
  machine: (p) => faultMachine(p, 64),
  setup: (m, p) => {
    // each CPU's ring flags (one u32 per slot) live in its per-CPU scratch
    const budget = budgetOf(p);
    const wl = wlArgs(m, { base: 0x300000000000, stride: 2 ** 30, npages: 16, ncpus: p.cpus, budget });
    return { budget, size: 16, extra: { cpus: p.cpus }, tables: [...Array(p.cpus).keys()].map((c) => m.scratch(c)), steady: 0, loops: 0, wl };
  },
  task: (cpu, ctx) => ({ program: 'mapbenchPipeline', args: { myFlags: ctx.tables![cpu], prevFlags: ctx.tables![(cpu + ctx.extra!.cpus - 1) % ctx.extra!.cpus],
    wl: ctx.wl! } }),
  ops: loopOps,
  params: (ctx) => ({ ringPages: ctx.size, vcyclesBudget: ctx.budget }),
};

// ---------------------------------------------------------------------------
// postcopy: live migration over userfaultfd (assembly/postcopy.ts)

interface PostcopyCtx { minor: boolean; vcpus: number; handlers: number; npages: number; touches: number; msgCycles: number;
  base: bigint; ctx: number; running: number; lat: number[] }

/** the p-quantile (nearest rank) of sorted `xs` */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  return xs[Math.min(xs.length - 1, Math.max(0, Math.ceil((p / 100) * xs.length) - 1))];
}

/** vCPUs of a postcopy point: up to 4, the other CPUs are handlers (--cpus 5, 6, 8, 12 = 1, 2, 4, 8 handlers) */
export const postcopyVcpus = (cpus: number) => Math.min(4, cpus - 1);
/** per-message cost of a handler: receiving one 4 KiB page at 10 Gbit/s (~3.3 us) at 3 GHz, plus its bookkeeping */
const POSTCOPY_MSG_CYCLES = 10_000;

function postcopyWorkload(name: WorkloadName, minor: boolean, description: string): Workload<PostcopyCtx> {
  const npages = 8192; // 32 MiB of guest memory
  return {
    name, description, opsUnit: 'userfaults resolved', usesStrategy: true, minCpus: 2,
    vcycles: 'vCPU touches = vcycles / 20000 (default 2000 each); the run ends when every vCPU is done',
    machine: (p) => ({
      frames: 2 * npages + 4096 * p.cpus + 8192, ptPages: 512 + 16 * p.cpus, vmas: 256 + 16 * p.cpus,
      shmemFiles: 4, shmemPages: npages, scratchBytes: 4 * 20_000,
    }),
    setup: (m, p) => {
      if (p.cpus < 2) throw new UsageError(`workload ${name} needs at least 2 CPUs (vCPUs and handlers); got ${p.cpus}`);
      const core = m.host.core, K = m.host.consts;
      core.cpu_bind_setup(0);
      const len = BigInt(npages * PAGE);
      let base: bigint;
      if (minor) {
        // the destination's memory is a shmem file, already received through a second mapping;
        // the guest's mapping of it is registered MINOR: only the PTEs are missing
        const f = core.sys_memfd_create() as number;
        if (f < 0 || (core.sys_ftruncate(f, BigInt(npages)) as number) < 0) throw new Error(`${name} setup: memfd failed (${f})`);
        // received before time 0: the page cache is filled directly (no faults, no clock charged to a CPU)
        const pc = m.percpu(0);
        const clock0 = m.u64(pc + m.C.PC_CLOCK);
        for (let i = 0; i < npages; i++) {
          const pfn = core.pagecache_get(f, BigInt(i)) as number;
          if (pfn < 0) throw new Error(`${name} setup: populating the file failed (${pfn})`);
          core.put_page(pfn); // the lookup's reference: the cache keeps its own
        }
        m.setU64(pc + m.C.PC_CLOCK, clock0);
        base = core.sys_mmap(0, 0n, len, 3, K.MAP_SHARED, f, 0n) as bigint;
      } else base = core.sys_mmap(0, 0n, len, 3, K.MAP_PRIVATE | K.MAP_ANONYMOUS, 0, 0n) as bigint;
      if (base < 0n) throw new Error(`${name} setup: mmap failed (${base})`);
      const ctx = core.sys_userfaultfd(0, 0) as number;
      const r = core.uffdio_register(ctx, base, len, minor ? 4 : 1) as number;
      if (ctx < 0 || r < 0) throw new Error(`${name} setup: userfaultfd failed (${ctx}, ${r})`);
      const vcpus = postcopyVcpus(p.cpus);
      const running = m.hostAlloc(64);
      m.setU32(running, vcpus);
      const touches = p.vcycles === undefined ? 2000 : Math.max(1, Math.floor(p.vcycles / 20_000));
      return { minor, vcpus, handlers: p.cpus - vcpus, npages, touches: Math.min(touches, 20_000), msgCycles: POSTCOPY_MSG_CYCLES,
        base, ctx, running, lat: [...Array(p.cpus).keys()].map((c) => m.scratch(c)) };
    },
    // CPUs [0, vcpus) are vCPUs, the rest handlers
    task: (cpu, c) => cpu < c.vcpus
      ? { program: 'postcopyTouch', args: { ctx: c.ctx, base: Number(c.base), npages: c.npages, touches: c.touches, running: c.running, lat: c.lat[cpu], latCap: 20_000 } }
      : { program: 'uffdHandler', args: { ctx: c.ctx, mode: c.minor ? 1 : 0, msgCycles: c.msgCycles, running: c.running } },
    ops: (_m, run) => run.cpus.reduce((n, c) => n + ((c.value as { resolved?: number } | undefined)?.resolved ?? 0), 0),
    params: (c) => ({ vcpus: c.vcpus, handlers: c.handlers, guestPages: c.npages, touchesPerVcpu: c.touches, handlerMsgCycles: c.msgCycles }),
    metrics: (m, run, c) => {
      const xs: number[] = [];
      const u32 = new Uint32Array(m.memory.buffer);
      for (let cpu = 0; cpu < c.vcpus; cpu++) {
        const n = (run.cpus[cpu].value as { samples: number }).samples;
        for (let i = 0; i < n; i++) xs.push(u32[(c.lat[cpu] >>> 2) + i]);
      }
      xs.sort((a, b) => a - b);
      const us = (cy: number) => cy / (m.profile.ghz * 1e3);
      return {
        uffdFaults: xs.length, latencyP50Cycles: percentile(xs, 50), latencyP99Cycles: percentile(xs, 99), latencyMaxCycles: xs.length ? xs[xs.length - 1] : 0,
        latencyP50Us: us(percentile(xs, 50)), latencyP99Us: us(percentile(xs, 99)), latencyMaxUs: us(xs.length ? xs[xs.length - 1] : 0),
      };
    },
  };
}

// ---------------------------------------------------------------------------
// The registry

export const workloads: readonly Workload[] = Object.freeze([
  atomicShared,
  atomicPrivate,
  spinlock,
  mmapLockWorkload('mmap-read', 0, 'every CPU takes the mm\'s mmap_lock for read (no writers): reader-count line bouncing'),
  mmapLockWorkload('mmap-mixed', 10, 'every CPU takes the mm\'s mmap_lock, 90% read / 10% write'),
  pageFaultWorkload('page_fault1', 0, 'will-it-scale tests/page_fault1.c: mmap 128 MiB anonymous private, write each page, munmap; per page'),
  pageFaultWorkload('page_fault2', 1, 'will-it-scale tests/page_fault2.c: the same on a private mapping of its own 128 MiB file (COW from the page cache)'),
  pageFaultWorkload('page_fault3', 2, 'will-it-scale tests/page_fault3.c: the same on a shared mapping of its own 128 MiB file'),
  mmapWorkload('mmap1', true, 'will-it-scale tests/mmap1.c: mmap + munmap 128 MiB anonymous, no touch; per pair'),
  mmapWorkload('mmap2', false, 'will-it-scale tests/mmap2.c: mmap + munmap 128 MiB of its own file, no touch; per pair'),
  tlbFlush1,
  mteTag,
  pftWorkload('pft-shared', true, 'pft.c (pft -t N): every thread faults its slice of ONE region mapped before the timed phase (one VMA)'),
  pftWorkload('pft-private', false, 'pft.c threads, a region per thread: every thread faults its own region (its own VMA), mapped before the timed phase'),
  // ebizzy.c's rand_num() returns 0 on every call (its state stays 0: assembly/workloads.ts ebizzy_rand_num()):
  // every record copies chunk 0 and searches key 0, and -R copies one record (8 bytes, one page)
  ebizzyWorkload('ebizzy', {}, 'ebizzy.c -m: per record, mmap a 512 KiB buffer, copy shared chunk 0 into it (rand_num() is always 0), bsearch key 0, munmap'),
  ebizzyWorkload('ebizzy-mT', { touch: true }, 'ebizzy.c -mT: per record, mmap a 512 KiB buffer, write each page, munmap'),
  ebizzyWorkload('ebizzy-mTRp', { touch: true, randomSize: true, permissions: true },
    'ebizzy.c -mTRp: per record, mmap a buffer of (rand_num() + 1) records = 8 bytes (rand_num() is always 0): one page, write it, munmap; the even chunks are read-only so the chunks never merge'),
  mapbenchWorkload('mapbench-local', false, 'RadixVM mapbench.cc local: each CPU maps, touches and unmaps pages of its own region'),
  mapbenchWorkload('mapbench-global', true, 'RadixVM mapbench.cc global: all CPUs map, touch and unmap interleaved pages of one region'),
  mapbenchPipeline,
  postcopyWorkload('postcopy', false, 'live-migration postcopy: up to 4 vCPUs write random pages of 32 MiB registered MISSING; the other CPUs are userfaultfd handlers resolving with UFFDIO_COPY'),
  postcopyWorkload('postcopy-minor', true, 'postcopy over a shmem file already received: the guest mapping is registered MINOR, handlers resolve with UFFDIO_CONTINUE'),
  // row C of the calibration (SPF v11's `ebizzy -mTt 16`): one thread per CPU
  ebizzyWorkload('ebizzy-mTt', { touch: true, oneThreadPerCpu: true }, 'ebizzy.c -mT -t <cpus>: as ebizzy-mT with one thread per CPU instead of ebizzy\'s default 2'),
  testCrash,
] as Workload[]);

// one workload per name of spec/workloads.json, in its order, the test-only ones hidden
{
  const names = workloads.map((w) => w.name);
  const bad = names.length !== WORKLOAD_NAMES.length || names.some((n, i) => n !== WORKLOAD_NAMES[i])
    || workloads.some((w) => !!w.hidden !== TEST_ONLY_WORKLOADS.includes(w.name));
  if (bad) throw new Error(`src/workloads.ts registers ${names.join(', ')}; spec/workloads.json lists ${WORKLOAD_NAMES.join(', ')} (test-only: ${TEST_ONLY_WORKLOADS.join(', ')})`);
}

/** the workloads `faultline list` shows (not the test-only ones) */
export function listedWorkloads(): Workload[] {
  return workloads.filter((w) => !w.hidden);
}

/** The workload called `name`; a UsageError naming the known ones otherwise. */
export function workloadByName(name: string): Workload {
  const w = workloads.find((x) => x.name === name);
  if (!w) throw new UsageError(unknownWorkload(name));
  return w;
}
