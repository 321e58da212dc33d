// The current CPU: identity, virtual clock, cost lookup and statistics.
//
// A host worker runs one or many emulated CPUs (sched.ts). Everything that
// belongs to ONE emulated CPU lives in its per-CPU block (layout.ts PC_*),
// reached through the single pointer PC that the scheduler sets at every
// switch; module globals hold only what is the same for every CPU of the
// machine (CPU count, mode, cost table). Asyncify saves locals, not globals:
// a per-CPU value in a module global would leak from one CPU to the next.

import {
  HDR_BASE, H_NCPUS, H_VCPUS, H_MODE, MODE_DETERMINISTIC, PC_CLOCK, PC_ID, PC_SOCKET, PC_CORE, PC_STATS, PC_RNG, PC_LOCAL, PC_SMT_EXTRA,
  percpu, cost_base, tlb_off, LOCK_STAT_BASE_OFF, H_OBS, H_OBS_BASE, H_OBS_STRIDE, OBS_GLOBAL_SIZE,
} from './layout';
import { STAT_IPI_CYCLES } from './generated';
import { OBS_BUILD } from './build_flags';

/** THE per-CPU pointer: the block of the CPU running on this instance now (set by sched.ts at each switch) */
export let PC: u32 = 0;
// machine-wide, identical for every CPU of this instance (set by machine_bind)
export let NCPUS: u32 = 1;
/** u64 words of a CPU mask that can hold a CPU of this run: (NCPUS + 63) / 64 (cpumask.ts, cacheline.ts) */
export let NCPU_WORDS: u32 = 1;
/** offset of the TLB in every per-CPU block: layout.ts tlb_off(), which depends on the run's CPU count */
export let TLB_OFF: u32 = 0;
export let DETERMINISTIC: bool = false;
/** vCPUs the run's tasks share (vcpu.ts; == NCPUS: every task has a CPU of its own) */
export let NVCPUS: u32 = 1;
/** more tasks than vCPUs: the guest run queue is on (vcpu.ts) */
export let RUNQ: bool = false;
let COSTS: u32 = 0;
/**
 * What this run records for observability (layout.ts OBS_*; obs.ts). 0 unless
 * the host asked (the observe core only: machine_check refuses H_OBS != 0 in a
 * core built without the hooks). Read it through obs_flags().
 */
export let OBS: u32 = 0;
/**
 * The OBS_* flags of this run, for every hook: a constant 0 in a core built
 * without the hooks (build_flags.ts OBS_BUILD), so the optimiser removes each
 * hook there; in the observe core one load and branch per hook when nothing is
 * recorded.
 */
@inline export function obs_flags(): u32 { return OBS_BUILD ? OBS : 0; }
/** address of CPU 0's obs block and the stride between CPUs' blocks (valid when OBS != 0) */
export let OBS_CPU0: u32 = 0;
export let OBS_STRIDE: u32 = 0;

/**
 * This CPU's private state that used to be module globals (per CPU, at
 * PC + PC_LOCAL; zero is the initial value of every field).
 */
@unmanaged export class CpuLocal {
  /** run while now() < barrier_limit (parallel mode: the lax barrier) */
  barrier_limit: u64;
  next_advance_check: u64;
  /** run while (now(), id) <= (run_limit, run_limit_cpu): the next local CPU in clock order (sched.ts) */
  run_limit: u64;
  run_limit_cpu: u32;
  /** asyncify stack high-water mark, bytes */
  async_high: u32;
  /** did the last access() take a fault (access.ts) */
  faulted: bool;
  /** true while a lock acquisition runs: its line waits are part of the lock wait (cacheline.ts) */
  line_wait_uncounted: bool;
  /** pages in the mmu_gather batch (mmap.ts) */
  gather_n: u32;
  /** page-table pages detached and not yet freed: chain head (index + 1) and length (pgtable.ts) */
  pt_gather: u32;
  pt_gather_n: u32;
  /** generation of the slot the last find_vma_lockless() returned (vma.ts) */
  lockless_gen: u32;
  /** spin rounds of the current wait before sleeping (threads engine) */
  spins: u32;
  /** test core only: page faults this CPU is inside (access.ts), so a steal can tell it resumed one mid-fault */
  in_fault: u32;
}
@inline export function cpu_local(): CpuLocal { return changetype<CpuLocal>(PC + PC_LOCAL); }

/** Set the machine-wide globals of this instance (once, after instantiation). */
export function machine_bind(): void {
  NCPUS = load<u32>(HDR_BASE + H_NCPUS);
  NCPU_WORDS = (NCPUS + 63) >> 6;
  TLB_OFF = tlb_off();
  DETERMINISTIC = load<u32>(HDR_BASE + H_MODE) == MODE_DETERMINISTIC;
  const v = load<u32>(HDR_BASE + H_VCPUS);
  NVCPUS = v == 0 || v > NCPUS ? NCPUS : v;
  RUNQ = NVCPUS < NCPUS;
  COSTS = cost_base();
  OBS = load<u32>(HDR_BASE + H_OBS);
  OBS_CPU0 = load<u32>(HDR_BASE + H_OBS_BASE) + OBS_GLOBAL_SIZE;
  OBS_STRIDE = load<u32>(HDR_BASE + H_OBS_STRIDE);
}

/** Make CPU `id` the current one: from now on every per-CPU access goes to its block. */
@inline export function cpu_switch_to(id: u32): void { PC = percpu(id); }

/** Bind this instance to CPU `id` (one CPU per instance: the host's setup instance, tests). */
export function cpu_bind(id: u32): void {
  machine_bind();
  cpu_switch_to(id);
}

/** The host's setup instance: like cpu_bind, but never deterministic (setup happens before time 0). */
export function cpu_bind_host(id: u32): void {
  cpu_bind(id);
  DETERMINISTIC = false;
}

/** the current CPU's id */
@inline export function cpu_id(): u32 { return load<u32>(PC + PC_ID); }
@inline export function my_socket(): u32 { return load<u32>(PC + PC_SOCKET); }
@inline export function my_core(): u32 { return load<u32>(PC + PC_CORE); }

/** Cycles of cost-model entry `id` (COST_* from generated.ts). */
@inline export function cost(id: i32): u64 { return <u64>load<u32>(COSTS + (<u32>id << 2)); }

// ---- the virtual clock: u64 cycles at PC + PC_CLOCK. Only its CPU writes it
// (plain stores: other CPUs and the host read it with atomic loads and see a
// value at most one operation old) ----
@inline export function now(): u64 { return load<u64>(PC + PC_CLOCK); }
@inline export function set_clock(t: u64): void { store<u64>(PC + PC_CLOCK, t); }
/** Charge `c` cycles to this CPU. */
/**
 * Charge `c` cycles of this CPU's work. While the other hardware thread of
 * its core runs an emulated CPU too, the work takes longer by the profile's
 * SMT slowdown (PC_SMT_EXTRA per 1024). Waits set the clock instead (a
 * sibling slows the work, not the time a lock is held by another CPU).
 */
@inline export function charge(c: u64): void {
  store<u64>(PC + PC_CLOCK, load<u64>(PC + PC_CLOCK) + c + ((c * <u64>load<u32>(PC + PC_SMT_EXTRA)) >> 10));
}
@inline export function charge_cost(id: i32): void { charge(cost(id)); }
@inline export function clock_of(cpu: u32): u64 { return atomic.load<u64>(percpu(cpu) + PC_CLOCK); }

// ---- statistics: per-CPU u64 counters, only this CPU writes its own ----
@inline export function stat_inc(id: i32): void {
  const a = PC + PC_STATS + (<u32>id << 3);
  store<u64>(a, load<u64>(a) + 1);
}
@inline export function stat_add(id: i32, v: u64): void {
  const a = PC + PC_STATS + (<u32>id << 3);
  store<u64>(a, load<u64>(a) + v);
}
@inline export function stat_get(id: i32): u64 { return load<u64>(PC + PC_STATS + (<u32>id << 3)); }
/**
 * A wait's cycles minus the IPI-handler cycles this CPU spent inside it
 * (`ipi0` = STAT_IPI_CYCLES when the wait began): an interrupted waiter's
 * time is counted once, as IPI work, so the breakdown's categories never add
 * up to more than the CPUs' clocks (src/breakdown.ts).
 */
@inline export function wait_excluding_ipi(waited: u64, ipi0: u64): u64 {
  const ipi = stat_get(STAT_IPI_CYCLES) - ipi0;
  return waited > ipi ? waited - ipi : 0;
}
/** lock-class counters: k = 0 acquire, 1 contended, 2 wait cycles */
@inline export function lock_stat(cls: u32, k: i32, v: u64): void {
  stat_add(LOCK_STAT_BASE_OFF + <i32>cls * 3 + k, v);
}

// ---- per-CPU xorshift64* random numbers (state in shared memory so a run is reproducible) ----
export function rand64(): u64 {
  let x = load<u64>(PC + PC_RNG);
  if (x == 0) x = 0x9E3779B97F4A7C15 ^ (<u64>cpu_id() + 1);
  x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
  store<u64>(PC + PC_RNG, x);
  return x * 0x2545F4914F6CDD1D;
}
/** uniform in [0, n) */
@inline export function rand_below(n: u64): u64 { return n == 0 ? 0 : (rand64() >> 11) % n; }
