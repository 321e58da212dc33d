// Waits, wake-ups and interrupt points of the emulated CPUs.
//
// Every blocking wait in the core goes through
//     wait_prepare(obj, kind);
//     while (true) { const w = wait_token(); if (cond) break; wait_sleep(w); }
//     wait_finish();
// Whoever changes what a CPU may wait for (a lock release, an ack, an IPI, an
// epoch advance) calls wake_cpu / wake_waiters: that bumps the CPU's wake
// token (PC_WAKE) and posts the CPU to its worker. Reading the token BEFORE
// testing the condition makes a wake-up between test and park impossible to
// lose. A parked CPU is not resumed until its token moved (pitfall: resuming
// every blocked CPU just to see it park again costs switches for nothing).
// A wait parks the coroutine (M:N engine, coroutine.ts) or sleeps on the
// worker's futex (threads engine, threads.ts).

import {
  HDR_BASE, H_PROGRESS, H_FLAGS, PC_STATE, PC_WAKE, PC_WAIT_OBJ, PC_WAIT_KIND, PC_WAKE_TIME, PC_CLOCK, PC_OP, PC_INJECT,
  CPU_RUNNING, CPU_WAITING, CPU_AT_BARRIER, CPU_RUNNABLE, STOP_CRASH, WAIT_NONE, WAIT_SPIN, WAIT_POLL, WAIT_FLAG, percpu, MAX_VCYCLES, STOP_VCYCLES, FLAG_LOSE_WAKE,
} from './layout';
import { PC, NCPUS, DETERMINISTIC, cpu_local, cpu_id, now, set_clock, stat_inc, charge, cost } from './cpu';
import { STAT_DET_YIELD, STAT_WAKEUP_RESCUED, COST_CPU_RELAX } from './generated';
import { TEST_BUILD, header_flags } from './build_flags';
import { service_ipis } from './ipi';
import {
  QUANTUM, FIRST, COUNT, HEAP_N, HOST_SETUP, rq, rq_set, heap_at, RQ_KEY, RQ_PARK_TOKEN, RQ_SPINNING, irq_owed,
  lower_run_limit, wake_cpu_raw, wakes_pending, drain_wakes, STEAL, rescue_disarm, rescue_taken,
} from './runq';
import { check_stop, request_stop } from './stop';
import { sched_switch } from './coroutine';
import { thread_wait_round, thread_spin_round } from './threads';
import { barrier_try_advance, barrier_wait } from './barrier';
import { take_handbacks } from './steal';

// --------------------------------------------------------------- waking ---

/**
 * Wake CPU `c` because of an event at virtual time `t`: a waiter resumes at
 * max(its clock, t), in both modes (parallel mode: the latest of the events
 * that woke it since it last resumed). A CPU of our own worker may now come
 * before us in clock order: lower our run limit so we yield when we pass it.
 *
 * Invariant: a waiter never runs on from a clock earlier than the event that
 * woke it. Parallel mode once let it run on from the clock it fell asleep at:
 * a task woken from an rwsem's wait list then took the lock at a virtual time
 * inside the sections of the holders it had waited for (ebizzy -mTRp, row C':
 * mmap_lock 3.5x too fast at 16 CPUs). A poller (WAIT_POLL) is not woken by
 * events: its clock stays, as in deterministic mode.
 *
 * Parallel mode, a spinlock's waiter (WAIT_SPIN): no wake time. Its
 * acquisition settles its clock (spinlock.ts acquired(): the previous
 * holder's section delays it only if it began before the request, or the
 * lock's line is hot), as it did before wake times: the ticket order is the
 * host's, so a section that began after our request in virtual time (its CPU
 * ran ahead, within the slack or on another worker) may come before ours,
 * and each unlock wakes every waiter of the ticket queue. Taking the
 * releaser's clock made every such section a wait: pft-private, spf, 64 CPUs
 * on one worker, 10M cycles: 7.15M faults/s against 9.14M deterministic, a
 * billion cycles of wake-time jumps in 45,932 spinlock wake-ups (6,000 and 69M
 * deterministic); without: 9.03M.
 */
export function wake_cpu(c: u32, t: u64): void {
  const pc = percpu(c);
  if (TEST_BUILD && lose_this_wake(pc)) return;
  const st = atomic.load<u32>(pc + PC_STATE);
  if (DETERMINISTIC && st == CPU_WAITING) atomic.store<u64>(pc + PC_WAKE_TIME, t);
  else if (st == CPU_WAITING) {
    // (the kind after the state: the waiter writes its kind before it becomes WAITING, wait_prepare)
    const kind = atomic.load<u32>(pc + PC_WAIT_KIND);
    // parallel mode, a waiter that is not a poller (issue 18, see spin_wait_round: its clock stays, and it is never waited for):
    // the same rule; wakers on other workers race, so the latest event wins (an atomic max).
    // Not for a spinlock's waiter: its acquisition settles its clock itself (spinlock.ts acquired()).
    if (kind != WAIT_POLL && kind != WAIT_SPIN) wake_time_max(pc, t);
    // it is runnable from now on, so the barrier counts it until it runs and goes on or
    // parks again (barrier.ts's invariant). Before the token moves: a CPU that parks again
    // after seeing the new token sets WAITING itself, so a stale RUNNABLE never outlives a park.
    if (kind != WAIT_POLL) atomic.cmpxchg<u32>(pc + PC_STATE, CPU_WAITING, CPU_RUNNABLE);
  }
  wake_cpu_raw(c);
  if (COUNT > 1 && c - FIRST < COUNT && (st == CPU_WAITING || st == CPU_AT_BARRIER)) {
    const ct = atomic.load<u64>(pc + PC_CLOCK);
    lower_run_limit(c, DETERMINISTIC && t > ct ? t : ct);
  }
}

/** test core: drop this wake-up of a spinlock or flag waiter, once (FLAG_LOSE_WAKE clears itself; the safety net must rescue and count it) */
function lose_this_wake(pc: u32): bool {
  if ((header_flags() & FLAG_LOSE_WAKE) == 0) return false;
  const kind = atomic.load<u32>(pc + PC_WAIT_KIND);
  if (kind != WAIT_SPIN && kind != WAIT_FLAG) return false;
  return (atomic.and<u32>(HDR_BASE + H_FLAGS, ~FLAG_LOSE_WAKE) & FLAG_LOSE_WAKE) != 0;
}

/** parallel mode: raise CPU `pc`'s wake time to `t` (atomic max: wakers on several workers) */
function wake_time_max(pc: u32, t: u64): void {
  // retry: another waker raised it meanwhile
  while (true) {
    const cur = atomic.load<u64>(pc + PC_WAKE_TIME);
    if (cur >= t || atomic.cmpxchg<u64>(pc + PC_WAKE_TIME, cur, t) == cur) break;
  }
}

/** parallel mode, a waiter resumed: it runs on from the latest event that woke it, if later than its clock */
@inline function wake_time_take(): void {
  const w = atomic.xchg<u64>(PC + PC_WAKE_TIME, 0);
  if (w > now()) set_clock(w);
}

/** Wake every CPU that waits on `obj`. Cost O(ncpus); callers do it only when the object has waiters. */
export function wake_waiters(obj: u32): void {
  const me = cpu_id();
  for (let c: u32 = 0; c < NCPUS; c++) {
    if (c == me) continue;
    if (atomic.load<u32>(percpu(c) + PC_WAIT_OBJ) == obj) wake_cpu(c, now());
  }
}

// ------------------------------------------------- clock order in a worker ---

/**
 * CPUs of our worker woken from another thread (an ack, a release on another
 * worker) are posted to the worker, not to us (and, with work stealing, CPUs of
 * ours that a thief handed back): at an interrupt point or a
 * relax, make them runnable and lower our run limit if one comes before us
 * (a CPU spinning on a lock that a CPU of its own worker holds must let it run).
 */
function notice_wakes(): void {
  if (COUNT == 1 || !wakes_pending()) return;
  drain_wakes();
  // (work stealing: our CPUs that thieves handed back, woken meanwhile, come back into our order too)
  if (STEAL) take_handbacks(true);
  if (HEAP_N == 0) return;
  // the first CPU in order besides us (we run: we are not in the heap)
  const c = heap_at(0);
  lower_run_limit(c, load<u64>(rq(c) + RQ_KEY));
}

/** Give way to the next CPU in clock order (we are past our run limit). */
function sched_yield(): void {
  stat_inc(STAT_DET_YIELD);
  atomic.store<u32>(PC + PC_STATE, CPU_RUNNABLE);
  sched_switch();
}

/**
 * Before every shared access: are we still first in our worker's clock order
 * (within the slack)? If not, let the next CPU run. Never yields with one
 * CPU per worker (run_limit stays at the maximum).
 */
@inline export function sched_sync(): void {
  if (COUNT == 1) return;
  const l = cpu_local();
  const t = now();
  if (t > l.run_limit || (t == l.run_limit && cpu_id() > l.run_limit_cpu)) {
    // parallel mode: an interrupt is owed (a shootdown initiator, maybe on another worker,
    // waits in host time): run on to the next interrupt point instead of giving way
    if (!DETERMINISTIC && irq_owed(PC)) return;
    sched_yield();
  }
}

/**
 * One round of a spin loop that has no wake object (a seqcount writer to
 * leave, a CPU to reach a state): run the other CPUs of this worker first;
 * with none, back off on the worker's futex for a moment. `obj` is the word
 * it polls (WAIT_POLL, for the wait-for graph); the caller ends the loop with
 * wait_finish().
 *
 * Invariant (parallel mode): a spinning CPU is WAITING, so the barrier does
 * not count it. Its clock does not move while it spins; counted, it would hold
 * the epoch at its clock, and the CPU it polls, if two quanta ahead, would
 * park at the barrier for an epoch only the spinner can move: neither ever
 * moves again (issue 18: the stress checkpoint polling the userfaultfd handler,
 * which sat at the barrier). A spinner resumes behind the epoch, as a woken
 * waiter does.
 */
export function spin_wait_round(spins: u32, obj: u32): void {
  atomic.store<u32>(PC + PC_WAIT_OBJ, obj);
  atomic.store<u32>(PC + PC_WAIT_KIND, WAIT_POLL);
  if (COUNT > 1) {
    // flagged while suspended: the scheduler prefers every CPU that is not spinning (the
    // one we wait for may have a later clock than ours: a spinner's clock does not move)
    const me = cpu_id();
    rq_set(me, RQ_SPINNING, 0);
    atomic.store<u32>(PC + PC_STATE, DETERMINISTIC ? CPU_RUNNABLE : CPU_WAITING);
    if (!DETERMINISTIC) barrier_try_advance();
    sched_switch();
    rq_set(me, 0, RQ_SPINNING);
    return;
  }
  if (!DETERMINISTIC) {
    atomic.store<u32>(PC + PC_STATE, CPU_WAITING);
    barrier_try_advance();
  }
  thread_spin_round(spins);
  atomic.store<u32>(PC + PC_STATE, CPU_RUNNING);
}

// ---------------------------------------------------------------- waits ---

/** Become a waiter on `obj` (WAIT_* kind); the barrier stops counting us. */
export function wait_prepare(obj: u32, kind: u32): void {
  atomic.store<u32>(PC + PC_WAIT_OBJ, obj);
  atomic.store<u32>(PC + PC_WAIT_KIND, kind);
  atomic.store<u32>(PC + PC_STATE, CPU_WAITING);
  cpu_local().spins = 0;
  if (!DETERMINISTIC) barrier_try_advance();
}

/** The wake token: read it before testing the wait condition. */
@inline export function wait_token(): u32 { return atomic.load<u32>(PC + PC_WAKE); }

/**
 * One round of waiting. Services IPIs when IRQs are on (a CPU spinning with
 * IRQs on takes interrupts; with IRQs off it does not: that is the deadlock
 * the emulator must be able to show). Otherwise parks until the token moves.
 */
export function wait_sleep(token: u32): void {
  wait_sleep_round(token);
  if (!DETERMINISTIC) wake_time_take();
}
function wait_sleep_round(token: u32): void {
  check_stop();
  rescue_disarm(cpu_id()); // (our wait is not over: a look the safety net gave us rescued nothing)
  if (irq_owed(PC)) {
    service_ipis();
    return;
  }
  if (COUNT > 1) {
    if (atomic.load<u32>(PC + PC_WAKE) != token) return; // woken since we read the token
    store<u32>(rq(cpu_id()) + RQ_PARK_TOKEN, token);
    // the scheduler set RUNNING when it last resumed us: we stop counting at the barrier again,
    // and may be the laggard the others wait for
    atomic.store<u32>(PC + PC_STATE, CPU_WAITING);
    if (!DETERMINISTIC) barrier_try_advance();
    sched_switch();
    return;
  }
  // a wake-up made us RUNNABLE (wake_cpu) and we wait again: the barrier stops counting us,
  // unless a wake-up came since we read the token (we look again, counted)
  if (!DETERMINISTIC && atomic.load<u32>(PC + PC_STATE) != CPU_WAITING) {
    if (atomic.load<u32>(PC + PC_WAKE) != token) return;
    atomic.store<u32>(PC + PC_STATE, CPU_WAITING);
    if (atomic.load<u32>(PC + PC_WAKE) != token) { atomic.store<u32>(PC + PC_STATE, CPU_RUNNABLE); return; }
    barrier_try_advance();
  }
  thread_wait_round(token);
}

/** Stop waiting; we run again. */
export function wait_finish(): void {
  // the safety net resumed us, nobody woke us since, and our wait is over: a lost wake-up
  if (rescue_taken(cpu_id(), PC)) stat_inc(STAT_WAKEUP_RESCUED);
  if (!DETERMINISTIC) wake_time_take();
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
  wait_prepare(word, WAIT_FLAG);
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
 * An interrupt point between operations: take pending IPIs if IRQs are on,
 * honour stop, keep our place in the worker's clock order and within the
 * skew bound between workers.
 */
export function sync_point(): void {
  check_stop();
  if (now() > MAX_VCYCLES) { request_stop(STOP_VCYCLES); unreachable(); }
  if (irq_owed(PC)) service_ipis();
  if (HOST_SETUP) return;
  notice_wakes();
  sched_sync();
  if (DETERMINISTIC) return;
  const l = cpu_local();
  if (now() >= l.barrier_limit) barrier_wait();
  else if (now() >= l.next_advance_check) {
    // we crossed a quantum boundary: if we were the laggard, let the others go
    l.next_advance_check = (now() / QUANTUM + 1) * QUANTUM;
    barrier_try_advance();
  }
}

/**
 * cpu_relax() in a retry loop (possibly with IRQs off): one PAUSE
 * (COST_CPU_RELAX), and it keeps the emulator's
 * own bookkeeping going (stop honoured, clock order, skew bound) without
 * taking interrupts: a CPU spinning with IRQs off must stay deaf.
 */
export function cpu_relax(): void {
  check_stop();
  if (HOST_SETUP) return;
  charge(cost(COST_CPU_RELAX)); // the PAUSE itself
  notice_wakes();
  sched_sync();
  if (!DETERMINISTIC && now() >= cpu_local().barrier_limit) barrier_wait();
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
