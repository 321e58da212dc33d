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
import type { PointSpec } from './experiment.js';
import { UsageError } from './types.js';
import { layoutConsts } from './wasm.js';

export interface Workload<Ctx = unknown> {
  name: string;
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
}

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
function mmapLockWorkload(name: string, writePct: number, description: string): Workload<RwsemCtx> {
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
const FAULT_VCYCLES_DOC = 'each CPU runs its loop until its virtual clock reaches vcycles (default 20M cycles)';
/** an upper bound of pages one CPU can fault within `budget` cycles (a fault costs >= ~1000 cycles) */
const pagesIn = (budget: number) => Math.ceil(budget / 1000) + 64;

interface FaultCtx { budget: number; size: number; extra?: Record<string, number>; region?: bigint; tables?: number[]; barrier?: number }

/** iterations the CPUs reported; a CPU whose loop failed fails the point */
function loopOps(_m: Machine, run: RunResult): number {
  let n = 0;
  for (const c of run.cpus) {
    const v = c.value as { iters: number; error?: string } | undefined;
    if (v?.error) throw new Error(`cpu ${c.cpu}: ${v.error}`);
    n += v?.iters ?? 0;
  }
  return n;
}

/** machine sizing for `perCpuPages` live pages per CPU (+ page tables, VMAs, files) */
function faultMachine(p: PointSpec, perCpuPages: number, files = 0, filePages = 0): Partial<MachineConfig> {
  const frames = p.cpus * (perCpuPages + 1024) + 8192;
  return {
    frames,
    ptPages: p.cpus * (Math.ceil(perCpuPages / 512) + 16) + 256,
    vmas: 256 + 64 * p.cpus,
    files,
    filePages,
    scratchBytes: 256,
  };
}

const budgetOf = (p: PointSpec) => p.vcycles ?? FAULT_VCYCLES;
/** will-it-scale (main.c) samples every thread's iteration counter once a second: the whole loop, munmap included */
const WIS_TIMED = 'the whole loop, munmap included (will-it-scale counts iterations per second)';

function pageFaultWorkload(name: string, kind: number, description: string): Workload<FaultCtx> {
  const size = 128 * MiB;
  return {
    name, description, opsUnit: 'faults', usesStrategy: true, vcycles: FAULT_VCYCLES_DOC, timed: WIS_TIMED,
    machine: (p) => {
      const live = Math.min(size / PAGE, pagesIn(budgetOf(p)));
      // file workloads: the page cache keeps what was touched, plus the private copies
      return kind === 0 ? faultMachine(p, live) : faultMachine(p, 2 * live, p.cpus, size / PAGE);
    },
    setup: (_m, p) => ({ budget: budgetOf(p), size }),
    task: (cpu, ctx) => ({ program: 'pageFault', args: { kind, file: cpu, size: ctx.size, budget: ctx.budget } }),
    ops: loopOps,
    params: (ctx) => ({ sizeBytes: ctx.size, vcyclesBudget: ctx.budget }),
  };
}

function mmapWorkload(name: string, anon: boolean, description: string): Workload<FaultCtx> {
  const size = 128 * MiB;
  return {
    name, description, opsUnit: 'mmap+munmap pairs', usesStrategy: true, vcycles: FAULT_VCYCLES_DOC, timed: WIS_TIMED,
    machine: (p) => faultMachine(p, 16, anon ? 0 : p.cpus, anon ? 0 : size / PAGE),
    setup: (_m, p) => ({ budget: budgetOf(p), size }),
    task: (cpu, ctx) => ({ program: 'mmapLoop', args: { anon: anon ? 1 : 0, file: cpu, size: ctx.size, budget: ctx.budget } }),
    ops: loopOps,
    params: (ctx) => ({ sizeBytes: ctx.size, vcyclesBudget: ctx.budget }),
  };
}

// will-it-scale tests/tlb_flush1.c, threads mode: a 128 MiB file per thread, MAP_PRIVATE
const tlbFlush1: Workload<FaultCtx> = {
  name: 'tlb_flush1',
  description: 'will-it-scale tests/tlb_flush1.c: a private mapping of its own 128 MiB file; per page: write (COW), MADV_DONTNEED (a shootdown to every thread)',
  opsUnit: 'pages', usesStrategy: true, vcycles: FAULT_VCYCLES_DOC,
  timed: WIS_TIMED,
  machine: (p) => faultMachine(p, 256, p.cpus, 128 * MiB / PAGE),
  setup: (_m, p) => ({ budget: budgetOf(p), size: 128 * MiB }),
  task: (cpu, ctx) => ({ program: 'tlbFlush', args: { file: cpu, size: ctx.size, budget: ctx.budget } }),
  ops: loopOps,
  params: (ctx) => ({ sizeBytes: ctx.size, vcyclesBudget: ctx.budget }),
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
  setup: (_m, p) => ({ budget: budgetOf(p), size: MTE_TAG_SIZE }),
  task: (_cpu, ctx) => ({ program: 'mteTag', args: { size: ctx.size, budget: ctx.budget } }),
  ops: loopOps,
  params: (ctx) => ({ sizeBytes: ctx.size, vcyclesBudget: ctx.budget }),
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
function pftWorkload(name: string, shared: boolean, description: string): Workload<FaultCtx> {
  return {
    name, description, opsUnit: 'faults', usesStrategy: true,
    vcycles: 'memory per thread = vcycles / 10,000 pages (default 2,000 pages); rounds repeat until the clock passes vcycles',
    timed: 'the fault phase of each round only (between two barriers); map and unmap are outside the window',
    machine: (p) => faultMachine(p, pftPages(p)),
    setup: (m, p) => ({ budget: budgetOf(p), size: pftPages(p) * PAGE, barrier: m.hostAlloc(32), extra: { cpus: p.cpus }, tables: scratchOf(m, p) }),
    task: (cpu, ctx) => ({ program: 'pft', args: { shared: shared ? 1 : 0, base: 0x200000000000, size: ctx.size, ncpus: ctx.extra!.cpus,
      barrier: ctx.barrier!, window: ctx.tables![cpu], budget: ctx.budget } }),
    ops: loopOps,
    params: (ctx) => ({ bytesPerThread: ctx.size, vcyclesBudget: ctx.budget }),
    timedCycles: (m) => windowCycles(m),
  };
}

/** ebizzy.c with its defaults: 10 chunks of 64 Ki records of 8 bytes (512 KiB), shared by the threads */
function ebizzyWorkload(name: string, touch: boolean, description: string): Workload<FaultCtx> {
  const chunkSize = 8 * 64 * 1024;
  const chunks = 10;
  return {
    name, description, opsUnit: 'records', usesStrategy: true, vcycles: FAULT_VCYCLES_DOC,
    timed: 'from the start signal (after the chunks are allocated and written) for vcycles cycles',
    machine: (p) => faultMachine(p, 2 * chunkSize / PAGE + Math.ceil(chunks * chunkSize / PAGE / p.cpus)),
    setup: (m, p) => ({ budget: budgetOf(p), size: chunkSize, barrier: m.hostAlloc(32), extra: { chunks, cpus: p.cpus, touch: touch ? 1 : 0 }, tables: scratchOf(m, p) }),
    task: (cpu, ctx) => ({ program: 'ebizzy', args: { chunksBase: 0x100000000000, chunks: ctx.extra!.chunks, chunkSize: ctx.size,
      touch: ctx.extra!.touch, ncpus: ctx.extra!.cpus, barrier: ctx.barrier!, window: ctx.tables![cpu], budget: ctx.budget } }),
    ops: loopOps,
    params: (ctx) => ({ chunkBytes: ctx.size, chunks: ctx.extra!.chunks, touchOnly: ctx.extra!.touch, vcyclesBudget: ctx.budget }),
    timedCycles: (m) => windowCycles(m),
  };
}

/** RadixVM mapbench: map / touch / unmap one page at a time, MAP_FIXED */
function mapbenchWorkload(name: string, global: boolean, description: string): Workload<FaultCtx> {
  const npages = 64;
  const base = 0x100000000000n;
  return {
    name, description, opsUnit: 'map+touch+unmap', usesStrategy: true, vcycles: FAULT_VCYCLES_DOC,
    machine: (p) => faultMachine(p, 64),
    setup: (_m, p) => ({ budget: budgetOf(p), size: npages, extra: { cpus: p.cpus } }),
    task: (cpu, ctx) => global
      // one region: CPU c uses slots c, c + ncpus, ... (neighbours share page tables and VMAs' neighbourhoods)
      ? { program: 'mapbench', args: { base: Number(base), npages: npages * ctx.extra!.cpus, first: cpu, step: ctx.extra!.cpus, budget: ctx.budget } }
      // a region per CPU, 1 GiB apart
      : { program: 'mapbench', args: { base: Number(base + BigInt(cpu) * (1n << 30n)), npages, first: 0, step: 1, budget: ctx.budget } },
    ops: loopOps,
    params: (ctx) => ({ pagesPerCpu: ctx.size, vcyclesBudget: ctx.budget }),
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
    return { budget: budgetOf(p), size: 16, extra: { cpus: p.cpus }, tables: [...Array(p.cpus).keys()].map((c) => m.scratch(c)) };
  },
  task: (cpu, ctx) => ({ program: 'mapbenchPipeline', args: { base: 0x300000000000, stride: 2 ** 30, npages: ctx.size,
    myFlags: ctx.tables![cpu], prevFlags: ctx.tables![(cpu + ctx.extra!.cpus - 1) % ctx.extra!.cpus], ncpus: ctx.extra!.cpus, budget: ctx.budget } }),
  ops: loopOps,
  params: (ctx) => ({ ringPages: ctx.size, vcyclesBudget: ctx.budget }),
};

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
  ebizzyWorkload('ebizzy', false, 'ebizzy.c -m: per record, mmap a 512 KiB buffer, copy a random shared chunk into it, bsearch a key, munmap'),
  ebizzyWorkload('ebizzy-mT', true, 'ebizzy.c -mT: per record, mmap a 512 KiB buffer, write each page, munmap'),
  mapbenchWorkload('mapbench-local', false, 'RadixVM mapbench.cc local: each CPU maps, touches and unmaps pages of its own region'),
  mapbenchWorkload('mapbench-global', true, 'RadixVM mapbench.cc global: all CPUs map, touch and unmap interleaved pages of one region'),
  mapbenchPipeline,
  testCrash,
] as Workload[]);

/** the workloads `faultline list` shows (not the test-only ones) */
export function listedWorkloads(): Workload[] {
  return workloads.filter((w) => !w.hidden);
}

/** The workload called `name`; a UsageError naming the known ones otherwise. */
export function workloadByName(name: string): Workload {
  const w = workloads.find((x) => x.name === name);
  if (!w) {
    throw new UsageError(`unknown workload "${name}"; available workloads: ${listedWorkloads().map((x) => x.name).join(', ')}`);
  }
  return w;
}
