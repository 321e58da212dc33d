// Scheduling of emulated CPUs in virtual time: waits, wake-ups, the lax
// quantum barrier (parallel mode), the token (deterministic mode), and stop.
//
// Every blocking wait in the core goes through wait_prepare / wait_token /
// wait_sleep / wait_finish and every CPU sleeps on ITS OWN futex word
// (PC_WAKE). Whoever changes what a CPU may be waiting for (a lock release, an
// ack, an IPI, an epoch advance, the token) bumps that word and notifies.
// Callers loop:
//     wait_prepare(obj, kind);
//     while (true) { const w = wait_token(); if (cond) break; wait_sleep(w); }
//     wait_finish();
// Reading the token BEFORE testing the condition makes a wake-up between
// the test and the sleep impossible to lose.
//
// Parallel mode: a CPU may run while now() < (epoch + 2) * quantum, where
// epoch = floor(min clock of RUNNING/AT_BARRIER CPUs / quantum). CPUs that
// wait (on a lock, an ack) or have finished are not waited for, otherwise a
// lock holder at the barrier and its waiter would deadlock the emulator.
//
// Deterministic mode: exactly one CPU holds the token (H_DET_TOKEN) and runs;
// it keeps it while (now(), cpu) <= (the lowest clock among the others,
// their id). A waiting CPU is not runnable until someone wakes it; when no CPU
// is runnable and not all finished, that is a deadlock, detected exactly.

import {
  HDR_BASE, H_STARTED, H_RENDEZVOUS, H_STOP, H_STOP_CPU, H_EPOCH, H_QUANTUM, H_DET_TOKEN, H_PROGRESS, H_FLAGS,
  PC_STATE, PC_WAKE, PC_WAIT_OBJ, PC_WAIT_KIND, PC_IRQ_ON, PC_IPI_PENDING, PC_WAKE_TIME, PC_CLOCK,
  PC_OP, PC_INJECT,
  CPU_RUNNING, CPU_WAITING, CPU_AT_BARRIER, CPU_FINISHED, CPU_RUNNABLE,
  STOP_NONE, STOP_DEADLOCK, STOP_CRASH, WAIT_NONE, WAIT_BARRIER, WAIT_TOKEN, WAIT_SPIN,
  percpu, MAX_VCYCLES, STOP_VCYCLES, H_NMM, MM_CPUMASK, mm_addr,
} from './layout';
import { PC, NCPUS, DETERMINISTIC, cpu_id, now, set_clock, stat_inc, cpu_bind_host } from './cpu';
import { STAT_BARRIER_WAIT, STAT_DET_YIELD } from './generated';
import { service_ipis } from './ipi';
import { cpumask_clear_cpu } from './cpumask';

const SPINS_BEFORE_SLEEP: u32 = 64;
const SLEEP_NS: i64 = 20_000_000; // 20 ms: a safety net only; every wake-up is explicit

export let QUANTUM: u64 = 10000;
let BARRIER_LIMIT: u64 = 0; // parallel: run while now() < this
let NEXT_ADVANCE_CHECK: u64 = 0;
let DET_LIMIT: u64 = 0; // deterministic: keep the token while now() < this (or == with lower id)
let DET_LIMIT_CPU: u32 = 0;
let spins: u32 = 0;

// ---------------------------------------------------------------- stop ----

/** Stop requested (host, deadlock, crash)? Unwind by trapping: the worker sees the stop flag. */
@inline export function check_stop(): void {
  if (atomic.load<u32>(HDR_BASE + H_STOP) != STOP_NONE) unreachable();
}

/** Ask every CPU to stop with `reason`, remember who asked, wake everyone. */
export function request_stop(reason: u32): void {
  if (atomic.cmpxchg<u32>(HDR_BASE + H_STOP, STOP_NONE, reason) == STOP_NONE) {
    atomic.store<u32>(HDR_BASE + H_STOP_CPU, cpu_id());
  }
  for (let c: u32 = 0; c < NCPUS; c++) wake_cpu_raw(c);
}

// --------------------------------------------------------------- waking ---

@inline function wake_cpu_raw(c: u32): void {
  const pc = percpu(c);
  atomic.add<u32>(pc + PC_WAKE, 1);
  atomic.notify(pc + PC_WAKE, 1);
}

/**
 * Wake CPU `c` if it waits (deterministic mode: make it runnable at virtual
 * time `t`; it resumes at max(its clock, t)).
 */
export function wake_cpu(c: u32, t: u64): void {
  const pc = percpu(c);
  if (DETERMINISTIC) {
    if (atomic.load<u32>(pc + PC_STATE) == CPU_WAITING) {
      atomic.store<u64>(pc + PC_WAKE_TIME, t);
      atomic.store<u32>(pc + PC_STATE, CPU_RUNNABLE);
      det_consider(c);
    }
    return;
  }
  wake_cpu_raw(c);
}

/** Wake every CPU that waits on `obj`. Cost O(ncpus); callers do it only when the object has waiters. */
export function wake_waiters(obj: u32): void {
  for (let c: u32 = 0; c < NCPUS; c++) {
    if (c == cpu_id()) continue;
    const pc = percpu(c);
    if (atomic.load<u32>(pc + PC_WAIT_OBJ) == obj) wake_cpu(c, now());
  }
}

// ---------------------------------------------------------------- waits ---

/** Become a waiter on `obj` (WAIT_* kind); the barrier stops counting us. */
export function wait_prepare(obj: u32, kind: u32): void {
    atomic.store<u32>(PC + PC_WAIT_OBJ, obj);
  atomic.store<u32>(PC + PC_WAIT_KIND, kind);
  atomic.store<u32>(PC + PC_STATE, CPU_WAITING);
  spins = 0;
  if (!DETERMINISTIC) barrier_try_advance();
}

/** The wake token: read it before testing the wait condition. */
@inline export function wait_token(): u32 { return atomic.load<u32>(PC + PC_WAKE); }

/**
 * One round of waiting. Services IPIs when IRQs are on (a CPU spinning with
 * IRQs on takes interrupts; with IRQs off it does not: that is the deadlock
 * the emulator must be able to show).
 */
export function wait_sleep(token: u32): void {
  check_stop();
  if (atomic.load<u32>(PC + PC_IRQ_ON) != 0 && atomic.load<u32>(PC + PC_IPI_PENDING) != 0) {
    service_ipis();
    return;
  }
  if (DETERMINISTIC) {
    atomic.store<u32>(PC + PC_STATE, CPU_WAITING);
    det_pass_token();
    return;
  }
  // spin briefly (the releaser is often running on the other host core), then sleep
  if (spins < SPINS_BEFORE_SLEEP) { spins++; return; }
  atomic.wait<u32>(PC + PC_WAKE, token, SLEEP_NS);
}

/** Stop waiting; we run again. */
export function wait_finish(): void {
  atomic.store<u32>(PC + PC_WAIT_OBJ, 0);
  atomic.store<u32>(PC + PC_WAIT_KIND, WAIT_NONE);
  atomic.store<u32>(PC + PC_STATE, CPU_RUNNING);
}

/**
 * Sleep (uncharged, IRQs as they are) until the u32 at `word` is >= `target`.
 * Whoever raises it calls wake_waiters(word). Used by the meetings and flags
 * of tests and the stress.
 */
export function wait_until_at_least(word: u32, target: u32): void {
  if (atomic.load<u32>(word) >= target) return;
  wait_prepare(word, WAIT_SPIN);
  // retry: woken for another reason (an IPI, the safety timeout)
  while (true) {
    const w = wait_token();
    if (atomic.load<u32>(word) >= target) break;
    wait_sleep(w);
  }
  wait_finish();
}

// ------------------------------------------------------- interrupt points ---

/**
 * An interrupt point between operations: publish the clock, take pending
 * IPIs if IRQs are on, honour stop, and keep within the skew bound.
 */
export function sync_point(): void {
    check_stop();
  if (now() > MAX_VCYCLES) { request_stop(STOP_VCYCLES); unreachable(); }
  if (atomic.load<u32>(PC + PC_IRQ_ON) != 0 && atomic.load<u32>(PC + PC_IPI_PENDING) != 0) service_ipis();
  if (DETERMINISTIC) { det_sync(); return; }
  if (now() >= BARRIER_LIMIT) barrier_wait();
  else if (now() >= NEXT_ADVANCE_CHECK) {
    // we crossed a quantum boundary: if we were the laggard, let the others go
    NEXT_ADVANCE_CHECK = (now() / QUANTUM + 1) * QUANTUM;
    barrier_try_advance();
  }
}

/**
 * cpu_relax() in a retry loop (possibly with IRQs off): keeps the emulator's
 * own bookkeeping going (clock published, stop honoured, skew bound or token)
 * without taking interrupts: a CPU spinning with IRQs off must stay deaf.
 */
export function cpu_relax(): void {
    check_stop();
  if (DETERMINISTIC) det_sync();
  else if (now() >= BARRIER_LIMIT) barrier_wait();
}

/** Count one completed operation (the watchdog's progress signal) and pass an interrupt point. */
export function op_done(): void {
  atomic.add<u32>(HDR_BASE + H_PROGRESS, 1);
  sync_point();
}

/** Test hook: trap when this CPU starts operation number PC_INJECT (1-based). */
export function op_begin(op: u32): void {
  const n = load<u32>(PC + PC_OP) + 1;
  store<u32>(PC + PC_OP, n);
  const inj = load<u32>(PC + PC_INJECT);
  if (inj != 0 && n == inj) {
    request_stop(STOP_CRASH);
    unreachable();
  }
  if (op == 0xffffffff) unreachable();
}

// --------------------------------------------------- parallel: barrier -----

function barrier_try_advance(): void {
  const q = QUANTUM;
  let min: u64 = u64.MAX_VALUE;
  for (let c: u32 = 0; c < NCPUS; c++) {
    const pc = percpu(c);
    const st = atomic.load<u32>(pc + PC_STATE);
    if (st == CPU_RUNNING || st == CPU_AT_BARRIER || st == CPU_RUNNABLE) {
      const t = c == cpu_id() ? now() : atomic.load<u64>(pc + PC_CLOCK);
      if (t < min) min = t;
    }
  }
  if (min == u64.MAX_VALUE) return;
  const e = atomic.load<u32>(HDR_BASE + H_EPOCH);
  const ne = <u32>(min / q);
  if (ne > e && atomic.cmpxchg<u32>(HDR_BASE + H_EPOCH, e, ne) == e) {
    for (let c: u32 = 0; c < NCPUS; c++) {
      if (c != cpu_id() && atomic.load<u32>(percpu(c) + PC_STATE) == CPU_AT_BARRIER) wake_cpu_raw(c);
    }
  }
}

function barrier_wait(): void {
  stat_inc(STAT_BARRIER_WAIT);
    atomic.store<u32>(PC + PC_WAIT_KIND, WAIT_BARRIER);
  atomic.store<u32>(PC + PC_STATE, CPU_AT_BARRIER);
  // retry: the epoch may not have moved far enough for us yet
  while (true) {
    const w = atomic.load<u32>(PC + PC_WAKE);
    barrier_try_advance();
    const e = <u64>atomic.load<u32>(HDR_BASE + H_EPOCH);
    BARRIER_LIMIT = (e + 2) * QUANTUM;
    if (now() < BARRIER_LIMIT) break;
    check_stop();
    // idling at the barrier with IRQs on, a CPU still answers shootdowns.
    // (Fix: publish the clock the handlers advanced. Without it the others
    // computed the epoch from our stale, lower clock while we compared our real
    // one with the limit: CPUs that serviced many IPIs at the barrier stalled the
    // whole machine there — found by the stress test with the NUMA scanner on.)
    if (atomic.load<u32>(PC + PC_IRQ_ON) != 0 && atomic.load<u32>(PC + PC_IPI_PENDING) != 0) { service_ipis(); continue; }
    atomic.wait<u32>(PC + PC_WAKE, w, SLEEP_NS);
  }
  atomic.store<u32>(PC + PC_WAIT_KIND, WAIT_NONE);
  atomic.store<u32>(PC + PC_STATE, CPU_RUNNING);
  NEXT_ADVANCE_CHECK = (now() / QUANTUM + 1) * QUANTUM;
}

// ------------------------------------------------ deterministic: token -----

/** Called before every shared access in deterministic mode: hand over the token when we are no longer first. */
@inline export function det_sync(): void {
  if (DETERMINISTIC && (now() > DET_LIMIT || (now() == DET_LIMIT && cpu_id() > DET_LIMIT_CPU))) det_yield();
}

function det_yield(): void {
  stat_inc(STAT_DET_YIELD);
  atomic.store<u32>(PC + PC_STATE, CPU_RUNNABLE);
  det_pass_token();
}

/** effective clock of a runnable CPU for the token order */
@inline function det_eff(c: u32): u64 {
  const pc = percpu(c);
  const t = c == cpu_id() ? now() : atomic.load<u64>(pc + PC_CLOCK);
  const w = atomic.load<u64>(pc + PC_WAKE_TIME);
  return t > w ? t : w;
}

/** A CPU just became runnable: it may now be the one we must yield to. */
function det_consider(c: u32): void {
  const t = det_eff(c);
  if (t < DET_LIMIT || (t == DET_LIMIT && c < DET_LIMIT_CPU)) { DET_LIMIT = t; DET_LIMIT_CPU = c; }
}

/**
 * Give the token to the runnable CPU with the lowest (clock, id) (maybe
 * ourselves) and block until it comes back. Detects deadlock: nobody
 * runnable while someone waits.
 */
function det_pass_token(): void {
    let best: u32 = 0xffffffff;
  let bt: u64 = u64.MAX_VALUE;
  let waiting = false;
  for (let c: u32 = 0; c < NCPUS; c++) {
    const st = atomic.load<u32>(percpu(c) + PC_STATE);
    if (st == CPU_RUNNABLE || st == CPU_RUNNING) {
      const t = det_eff(c);
      if (t < bt) { bt = t; best = c; }
    } else if (st == CPU_WAITING) waiting = true;
  }
  if (best == 0xffffffff) {
    if (waiting) { request_stop(STOP_DEADLOCK); unreachable(); }
    return; // everybody else finished
  }
  if (best != cpu_id()) {
    atomic.store<u32>(HDR_BASE + H_DET_TOKEN, best);
    wake_cpu_raw(best);
    if (atomic.load<u32>(PC + PC_STATE) != CPU_FINISHED) det_wait_token();
  } else {
    det_take_token();
  }
}

/** Block until the token is ours (deterministic mode), then resume at max(clock, wake time). */
export function det_wait_token(): void {
  // retry: woken for another reason (stop, spurious)
  while (true) {
    const w = atomic.load<u32>(PC + PC_WAKE);
    if (atomic.load<u32>(HDR_BASE + H_DET_TOKEN) == cpu_id()) break;
    check_stop();
    atomic.wait<u32>(PC + PC_WAKE, w, SLEEP_NS);
  }
  det_take_token();
}

function det_take_token(): void {
  const w = atomic.load<u64>(PC + PC_WAKE_TIME);
  if (w > now()) set_clock(w);
  if (atomic.load<u32>(PC + PC_STATE) != CPU_WAITING) atomic.store<u32>(PC + PC_STATE, CPU_RUNNING);
    // our limit: the lowest effective clock among the other runnable CPUs
  DET_LIMIT = u64.MAX_VALUE;
  DET_LIMIT_CPU = 0xffffffff;
  for (let c: u32 = 0; c < NCPUS; c++) {
    if (c == cpu_id()) continue;
    const st = atomic.load<u32>(percpu(c) + PC_STATE);
    if (st == CPU_RUNNABLE || st == CPU_RUNNING) det_consider(c);
  }
}

// ----------------------------------------------------------- lifecycle -----

/** The host's setup instance (cpu_bind_setup): interrupt points never wait. */
export function cpu_bind_setup(id: u32): void {
  cpu_bind_host(id);
  BARRIER_LIMIT = u64.MAX_VALUE;
  NEXT_ADVANCE_CHECK = u64.MAX_VALUE;
}

/** Called by the worker once bound: wait for our turn / set up the barrier. */
export function cpu_start(): void {
  QUANTUM = <u64>load<u32>(HDR_BASE + H_QUANTUM);
  if (QUANTUM == 0) QUANTUM = 10000;
  atomic.store<u32>(PC + PC_IRQ_ON, 1);
  if (DETERMINISTIC) {
    det_wait_token();
  } else {
    atomic.store<u32>(PC + PC_STATE, CPU_RUNNING);
    // start together: worker threads come up one by one, tens of ms apart in
    // real time; a CPU running alone meanwhile would see no contention
    // (only when the host's run() asked for it: a host-side instance driving one CPU must not wait)
    const want = atomic.load<u32>(HDR_BASE + H_RENDEZVOUS);
    if (want == 0) {
      // no rendezvous
    } else if (atomic.add<u32>(HDR_BASE + H_STARTED, 1) + 1 == want) {
      for (let c: u32 = 0; c < NCPUS; c++) if (c != cpu_id()) wake_cpu_raw(c);
    } else {
      while (true) {
        const w = atomic.load<u32>(PC + PC_WAKE);
        if (atomic.load<u32>(HDR_BASE + H_STARTED) >= want) break;
        check_stop();
        atomic.wait<u32>(PC + PC_WAKE, w, SLEEP_NS);
      }
    }
    const e = <u64>atomic.load<u32>(HDR_BASE + H_EPOCH);
    BARRIER_LIMIT = (e + 2) * QUANTUM;
    NEXT_ADVANCE_CHECK = (now() / QUANTUM + 1) * QUANTUM;
  }
}

/** Called by the worker when its program is done. */
export function cpu_finish(): void {
    // leave every mm's cpumask (no more translations to shoot down here), then
  // answer what was posted before the senders could see us finished
  const nmm = load<u32>(HDR_BASE + H_NMM);
  for (let m: u32 = 0; m < nmm; m++) cpumask_clear_cpu(cpu_id(), mm_addr(m) + MM_CPUMASK);
  atomic.store<u32>(PC + PC_STATE, CPU_FINISHED);
  service_ipis();
  if (DETERMINISTIC) det_pass_token();
  else barrier_try_advance();
}

/** test/host hook */
export function header_flags(): u32 { return atomic.load<u32>(HDR_BASE + H_FLAGS); }
