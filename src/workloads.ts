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
  machine: () => ({ scratchBytes: 128 }),
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
// The registry

export const workloads: readonly Workload[] = Object.freeze([
  atomicShared,
  atomicPrivate,
  spinlock,
  mmapLockWorkload('mmap-read', 0, 'every CPU takes the mm\'s mmap_lock for read (no writers): reader-count line bouncing'),
  mmapLockWorkload('mmap-mixed', 10, 'every CPU takes the mm\'s mmap_lock, 90% read / 10% write'),
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
