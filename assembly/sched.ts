// Scheduling of emulated CPUs on host workers, in virtual time: the M:N
// engine's coroutine scheduler, waits and wake-ups, the lax quantum barrier
// between workers, and stop.
//
// A host worker (layout.ts WK_*) runs CPUs [first, first + count). With more
// than one CPU per worker each CPU is a coroutine (Binaryen Asyncify: the
// `asyncify` imports below are replaced by Asyncify's own functions, so a
// switch never leaves Wasm). With one CPU per worker (the threads engine, or
// a worker that got one CPU) nothing ever unwinds and a wait sleeps on the
// worker's futex word, so the build without Asyncify runs the same code.
//
// Waits. Every blocking wait in the core goes through
//     wait_prepare(obj, kind);
//     while (true) { const w = wait_token(); if (cond) break; wait_sleep(w); }
//     wait_finish();
// Whoever changes what a CPU may wait for (a lock release, an ack, an IPI, an
// epoch advance) calls wake_cpu / wake_waiters: that bumps the CPU's wake
// token (PC_WAKE) and posts the CPU to its worker. Reading the token BEFORE
// testing the condition makes a wake-up between test and park impossible to
// lose. A parked CPU is not resumed until its token moved (pitfall: resuming
// every blocked CPU just to see it park again costs switches for nothing).
//
// Order inside a worker: the runnable CPU with the lowest (clock, id) runs.
// It keeps running while (clock, id) <= (run_limit, run_limit_cpu): the next
// CPU in that order plus the slack (0 in deterministic mode: every shared
// access happens in exact virtual-time order; one quantum in parallel mode).
// Nothing inside a worker depends on host timing.
//
// Between workers (parallel mode): real threads on one shared memory. A CPU
// may run while clock < (epoch + 2) * quantum, where epoch = floor(min clock
// of RUNNING / AT_BARRIER / RUNNABLE CPUs / quantum). CPUs that wait (on a
// lock, an ack) or have finished are not waited for, otherwise a lock holder
// at the barrier and its waiter would deadlock the emulator.
//
// Deterministic mode = every CPU on ONE worker with slack 0: exact, and the
// same seed and config give the same bits whatever the host. A deadlock (no
// CPU runnable, some parked, no wake-up pending) is detected exactly.

import {
  HDR_BASE, H_STOP, H_STOP_CPU, H_EPOCH, H_LAGGARD, H_RUNQ_BASE, H_QUANTUM, H_PROGRESS, H_FLAGS, H_NWORKERS, H_ASYNC_SIZE, H_ASYNC_BASE,
  PC_STATE, PC_WAKE, PC_WAIT_OBJ, PC_WAIT_KIND, PC_IRQ_ON, PC_IPI_PENDING, PC_WAKE_TIME, PC_CLOCK, PC_WORKER,
  PC_OP, PC_INJECT, PC_CALL, PC_CALL_ARGS, PC_CALL_RESULT,
  WK_WAKE, WK_SLEEPING, WK_FIRST, WK_COUNT, WK_CURRENT, WK_SWITCHES, WK_SLEEPS, WK_ASYNC_HIGH, WK_PENDING, WK_PICKABLE, WK_URGENT, WK_HEAP, RQ_SIZE,
  CPU_RUNNING, CPU_WAITING, CPU_AT_BARRIER, CPU_FINISHED, CPU_RUNNABLE,
  STOP_NONE, STOP_DEADLOCK, STOP_CRASH, WAIT_NONE, WAIT_BARRIER, WAIT_SPIN,
  percpu, worker_addr, MAX_VCYCLES, STOP_VCYCLES, H_NMM, MM_CPUMASK, mm_addr, STOP_CPU_NONE, H_INIT_DONE, LAYOUT_MAGIC, ASYNC_STACK_MIN,
} from './layout';
import { PC, NCPUS, DETERMINISTIC, cpu_local, cpu_id, now, set_clock, stat_inc, charge, cost, cpu_bind_host, machine_bind, cpu_switch_to } from './cpu';
import { STAT_BARRIER_WAIT, STAT_DET_YIELD, COST_CPU_RELAX } from './generated';
import { service_ipis } from './ipi';

@external("asyncify", "start_unwind") declare function asyncify_start_unwind(data: usize): void;
@external("asyncify", "stop_unwind") declare function asyncify_stop_unwind(): void;
@external("asyncify", "start_rewind") declare function asyncify_start_rewind(data: usize): void;
@external("asyncify", "stop_rewind") declare function asyncify_stop_rewind(): void;
import { cpumask_clear_cpu } from './cpumask';

const SPINS_BEFORE_SLEEP: u32 = 64;
// a worker with nothing to run watches its pending words this many rounds (tens of
// microseconds) before it sleeps: the CPU it waits for usually runs on another host
// core right now, and a futex wake-up costs more than the wait itself
const IDLE_SPINS: u32 = 4096;
const SLEEP_NS: i64 = 20_000_000; // 20 ms: a safety net only; every wake-up is explicit
const SPIN_SLEEP_NS: i64 = 20_000; // a spin loop without a wake object backs off this long

// ---- the run queue: one entry per CPU (RQ_SIZE, region at H_RUNQ_BASE), touched only by the
// CPU's own worker. Compact, so a pick scans a few cache lines instead of every per-CPU block.
//  +0 u64 key: (clock, deterministic: or wake time) when it last stopped running or was woken
//  +8 u32 flags (RQ_*)   +12 u32 the wake token it parked with   +16 u32 its index in the heap
// The pickable CPUs that do not spin are also in a binary min-heap on (key, id) in
// the worker block (WK_HEAP): a pick and the run limit (the second in order) are O(log n).
const RQ_KEY: u32 = 0;
const RQ_FLAGS: u32 = 8;
const RQ_PARK_TOKEN: u32 = 12;
const RQ_HEAP_POS: u32 = 16;
const RQ_READY: u32 = 1; // runnable (PC_STATE RUNNABLE) as far as its worker knows
const RQ_HAS_CALL: u32 = 2; // the host posted a call that has not returned yet
const RQ_SUSPENDED: u32 = 4; // its Asyncify stack holds a suspended call: resume by rewinding
const RQ_SPINNING: u32 = 8; // it spins without a wake object (spin_wait_round): run the others first
const RQ_PICKABLE: u32 = RQ_READY | RQ_HAS_CALL;

// sched_run() results besides a CPU id
export const SCHED_DONE: i32 = -1; // every CPU of this worker has finished
export const SCHED_STOPPED: i32 = -2; // the machine is stopping (H_STOP)

// ---- per worker (module globals: the same for every CPU this instance runs) ----
export let QUANTUM: u64 = 10000;
let WK: u32 = 0; // this worker's block
let FIRST: u32 = 0;
let COUNT: u32 = 1; // CPUs on this worker; 1 = nothing ever unwinds
let SLACK: u64 = 0; // how far a CPU may run past the next local CPU in clock order
let HOST_SETUP = false; // the host's setup instance: interrupt points never wait
let RQ: u32 = 0; // the run queue's base
let LIVE: u32 = 0; // CPUs of this worker that have not finished
let HEAP_N: u32 = 0; // CPUs in the heap
let REWINDING = false;
let UNWOUND = false;

@inline function rq(c: u32): u32 { return RQ + c * RQ_SIZE; }
@inline function rq_flags(c: u32): u32 { return load<u32>(rq(c) + RQ_FLAGS); }
@inline function heaped(f: u32): bool { return (f & (RQ_PICKABLE | RQ_SPINNING)) == RQ_PICKABLE; }

/**
 * Every flag change keeps the worker's bitmap of pickable CPUs (WK_PICKABLE)
 * and the heap in step: a CPU enters the heap when it becomes pickable (and
 * does not spin), and leaves it when it runs or spins.
 */
function rq_store(c: u32, f: u32): void {
  const old = rq_flags(c);
  store<u32>(rq(c) + RQ_FLAGS, f);
  const w = WK + WK_PICKABLE + ((c >> 6) << 3);
  const bit = <u64>1 << (c & 63);
  store<u64>(w, (f & RQ_PICKABLE) == RQ_PICKABLE ? load<u64>(w) | bit : load<u64>(w) & ~bit);
  if (!heaped(old) && heaped(f)) heap_push(c);
  else if (heaped(old) && !heaped(f)) heap_remove(c);
}

// ---- the heap: WK_HEAP holds CPU ids, heap order on (key, id) ----
@inline function heap_at(i: u32): u32 { return load<u32>(WK + WK_HEAP + (i << 2)); }
@inline function heap_put(i: u32, c: u32): void { store<u32>(WK + WK_HEAP + (i << 2), c); store<u32>(rq(c) + RQ_HEAP_POS, i); }
@inline function heap_less(a: u32, b: u32): bool {
  const ka = load<u64>(rq(a) + RQ_KEY), kb = load<u64>(rq(b) + RQ_KEY);
  return ka < kb || (ka == kb && a < b);
}
function heap_up(i: u32, c: u32): void {
  // retry: move up while the parent comes after c
  while (i > 0) {
    const p = (i - 1) >> 1;
    const pc = heap_at(p);
    if (!heap_less(c, pc)) break;
    heap_put(i, pc);
    i = p;
  }
  heap_put(i, c);
}
function heap_down(i: u32, c: u32): void {
  // retry: move down while a child comes before c
  while (true) {
    const l: u32 = 2 * i + 1;
    if (l >= HEAP_N) break;
    let m = l;
    if (l + 1 < HEAP_N && heap_less(heap_at(l + 1), heap_at(l))) m = l + 1;
    const mc = heap_at(m);
    if (!heap_less(mc, c)) break;
    heap_put(i, mc);
    i = m;
  }
  heap_put(i, c);
}
function heap_push(c: u32): void { HEAP_N++; heap_up(HEAP_N - 1, c); }
function heap_remove(c: u32): void {
  const i = load<u32>(rq(c) + RQ_HEAP_POS);
  HEAP_N--;
  if (i == HEAP_N) return;
  const last = heap_at(HEAP_N);
  if (i > 0 && heap_less(last, heap_at((i - 1) >> 1))) heap_up(i, last);
  else heap_down(i, last);
}
/** the second CPU in order (the heap's top is the first), or -1 */
function heap_second(): i32 {
  if (HEAP_N < 2) return -1;
  if (HEAP_N == 2) return <i32>heap_at(1);
  return heap_less(heap_at(1), heap_at(2)) ? <i32>heap_at(1) : <i32>heap_at(2);
}
@inline function rq_set(c: u32, set: u32, clear: u32): void { rq_store(c, (rq_flags(c) & ~clear) | set); }
/** c becomes runnable: record its ordering key */
@inline function rq_ready(c: u32, pc: u32): void { store<u64>(rq(c) + RQ_KEY, sched_key(pc)); rq_set(c, RQ_READY, 0); }
@inline function async_buf(c: u32): u32 { return load<u32>(HDR_BASE + H_ASYNC_BASE) + c * load<u32>(HDR_BASE + H_ASYNC_SIZE); }

// ---------------------------------------------------------------- stop ----

/** Stop requested (host, deadlock, crash)? Unwind by trapping: the worker sees the stop flag. */
@inline export function check_stop(): void {
  if (atomic.load<u32>(HDR_BASE + H_STOP) != STOP_NONE) unreachable();
}

/** Ask every CPU to stop with `reason`, remember who asked, wake everyone. */
export function request_stop(reason: u32): void {
  if (atomic.cmpxchg<u32>(HDR_BASE + H_STOP, STOP_NONE, reason) == STOP_NONE) {
    // the CPU running on this instance now; STOP_CPU_NONE from a worker's scheduler or the host
    atomic.store<u32>(HDR_BASE + H_STOP_CPU, WK != 0 ? <u32>sched_current() : STOP_CPU_NONE);
  }
  for (let c: u32 = 0; c < NCPUS; c++) wake_cpu_raw(c);
}

// --------------------------------------------------------------- waking ---

/**
 * Bump CPU `c`'s wake token and post it to its worker. Any thread may call
 * it. The worker's thread is notified only if it sleeps (it sets `sleeping`
 * before re-checking its pending words, so the notify cannot be missed).
 */
export function wake_cpu_raw(c: u32): void {
  const pc = percpu(c);
  atomic.add<u32>(pc + PC_WAKE, 1);
  const wk = worker_addr(load<u32>(pc + PC_WORKER));
  atomic.or<u32>(wk + WK_PENDING + ((c >> 5) << 2), 1 << (c & 31));
  atomic.add<u32>(wk + WK_WAKE, 1);
  if (atomic.load<u32>(wk + WK_SLEEPING) != 0) atomic.notify(wk + WK_WAKE, 1);
}

/**
 * Wake CPU `c` because of an event at virtual time `t` (deterministic mode:
 * it resumes at max(its clock, t)). A CPU of our own worker may now come
 * before us in clock order: lower our run limit so we yield when we pass it.
 */
export function wake_cpu(c: u32, t: u64): void {
  const pc = percpu(c);
  const st = atomic.load<u32>(pc + PC_STATE);
  if (DETERMINISTIC && st == CPU_WAITING) atomic.store<u64>(pc + PC_WAKE_TIME, t);
  wake_cpu_raw(c);
  if (COUNT > 1 && c - FIRST < COUNT && (st == CPU_WAITING || st == CPU_AT_BARRIER)) {
    const ct = atomic.load<u64>(pc + PC_CLOCK);
    lower_run_limit(c, DETERMINISTIC && t > ct ? t : ct);
  }
}

/** key + SLACK, saturating */
@inline function plus_slack(key: u64): u64 { return key + SLACK < key ? u64.MAX_VALUE : key + SLACK; }

/** CPU `c` of our worker comes next in order at `key`: we run no further than key + slack */
function lower_run_limit(c: u32, key: u64): void {
  const k = plus_slack(key);
  const l = cpu_local();
  if (k < l.run_limit || (k == l.run_limit && c < l.run_limit_cpu)) { l.run_limit = k; l.run_limit_cpu = c; }
}

/** Wake every CPU that waits on `obj`. Cost O(ncpus); callers do it only when the object has waiters. */
export function wake_waiters(obj: u32): void {
  const me = cpu_id();
  for (let c: u32 = 0; c < NCPUS; c++) {
    if (c == me) continue;
    if (atomic.load<u32>(percpu(c) + PC_WAIT_OBJ) == obj) wake_cpu(c, now());
  }
}

// ------------------------------------------------------------ switching ---

/**
 * Suspend the current CPU (its state says why: WAITING, AT_BARRIER or
 * RUNNABLE) and return to sched_run(); returns when the scheduler resumes
 * it. Asyncify's "top-most runtime": it calls start_unwind / stop_rewind, so
 * it is not instrumented but every caller is. MUST NOT be inlined
 * (scripts/noinline.mjs): inlined, its callers would be skipped and a switch
 * would silently corrupt them.
 */
function sched_switch(): void {
  if (REWINDING) { REWINDING = false; asyncify_stop_rewind(); return; }
  UNWOUND = true;
  asyncify_start_unwind(async_buf(cpu_id()));
}

/**
 * CPUs of our worker woken from another thread (an ack, a release on another
 * worker) are posted to the worker, not to us: at an interrupt point or a
 * relax, make them runnable and lower our run limit if one comes before us
 * (a CPU spinning on a lock that a CPU of its own worker holds must let it run).
 */
function notice_wakes(): void {
  if (COUNT == 1 || !wakes_pending()) return;
  drain_wakes();
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

/** IRQs on and an IPI pending: the CPU would take an interrupt at its next interrupt point */
@inline function irq_owed(pc: u32): bool {
  return atomic.load<u32>(pc + PC_IPI_PENDING) != 0 && atomic.load<u32>(pc + PC_IRQ_ON) != 0;
}

/**
 * One round of a spin loop that has no wake object (a seqcount writer to
 * leave, the host to answer): run the other CPUs of this worker first; with
 * none, back off on the worker's futex for a moment.
 */
export function spin_wait_round(spins: u32): void {
  if (COUNT > 1) {
    // flagged while suspended: the scheduler prefers every CPU that is not spinning (the
    // one we wait for may have a later clock than ours: a spinner's clock does not move)
    const me = cpu_id();
    rq_set(me, RQ_SPINNING, 0);
    atomic.store<u32>(PC + PC_STATE, CPU_RUNNABLE);
    sched_switch();
    rq_set(me, 0, RQ_SPINNING);
    return;
  }
  if (spins > SPINS_BEFORE_SLEEP) {
    const wk = WK;
    atomic.wait<u32>(wk + WK_WAKE, atomic.load<u32>(wk + WK_WAKE), SPIN_SLEEP_NS);
  }
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
  check_stop();
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
  // one CPU on this worker: spin briefly (the releaser is often running on the other host core), then sleep
  const l = cpu_local();
  if (l.spins < SPINS_BEFORE_SLEEP) { l.spins++; return; }
  worker_sleep_until_woken(token);
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

/** One CPU per worker: sleep on the worker's futex until CPU's token differs from `token` (or the safety timeout). */
function worker_sleep_until_woken(token: u32): void {
  const wk = WK;
  const w = atomic.load<u32>(wk + WK_WAKE);
  atomic.store<u32>(wk + WK_SLEEPING, 1);
  if (atomic.load<u32>(PC + PC_WAKE) == token && atomic.load<u32>(HDR_BASE + H_STOP) == STOP_NONE) {
    atomic.add<u64>(wk + WK_SLEEPS, 1);
    atomic.wait<u32>(wk + WK_WAKE, w, SLEEP_NS);
  }
  atomic.store<u32>(wk + WK_SLEEPING, 0);
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

// --------------------------------------------------- parallel: barrier -----

@inline function counted(st: u32): bool { return st == CPU_RUNNING || st == CPU_AT_BARRIER || st == CPU_RUNNABLE; }

function barrier_try_advance(): void {
  const q = QUANTUM;
  const me = cpu_id();
  const e = atomic.load<u32>(HDR_BASE + H_EPOCH);
  // the CPU that held the epoch back last time usually still does: O(1) instead of a scan of every CPU
  const lag1 = atomic.load<u32>(HDR_BASE + H_LAGGARD);
  if (lag1 != 0 && lag1 - 1 != me) {
    const pc = percpu(lag1 - 1);
    if (counted(atomic.load<u32>(pc + PC_STATE)) && atomic.load<u64>(pc + PC_CLOCK) / q <= <u64>e) return;
  }
  let min: u64 = u64.MAX_VALUE;
  let lag: u32 = 0;
  for (let c: u32 = 0; c < NCPUS; c++) {
    const pc = percpu(c);
    if (counted(atomic.load<u32>(pc + PC_STATE))) {
      const t = c == me ? now() : atomic.load<u64>(pc + PC_CLOCK);
      if (t < min) { min = t; lag = c + 1; }
    }
  }
  if (min == u64.MAX_VALUE) return;
  atomic.store<u32>(HDR_BASE + H_LAGGARD, lag);
  const ne = <u32>(min / q);
  if (ne > e && atomic.cmpxchg<u32>(HDR_BASE + H_EPOCH, e, ne) == e) {
    for (let c: u32 = 0; c < NCPUS; c++) {
      if (c != me && atomic.load<u32>(percpu(c) + PC_STATE) == CPU_AT_BARRIER) wake_cpu_raw(c);
    }
  }
}

function barrier_wait(): void {
  stat_inc(STAT_BARRIER_WAIT);
  const l = cpu_local();
  atomic.store<u32>(PC + PC_WAIT_KIND, WAIT_BARRIER);
  atomic.store<u32>(PC + PC_STATE, CPU_AT_BARRIER);
  // retry: the epoch may not have moved far enough for us yet
  while (true) {
    const w = atomic.load<u32>(PC + PC_WAKE);
    barrier_try_advance();
    const e = <u64>atomic.load<u32>(HDR_BASE + H_EPOCH);
    l.barrier_limit = (e + 2) * QUANTUM;
    if (now() < l.barrier_limit) break;
    check_stop();
    // idling at the barrier with IRQs on, a CPU still answers shootdowns.
    // (Our clock is read by the others from PC_CLOCK, which the handlers
    // advance: an earlier engine published it only at sync points, and CPUs
    // that serviced many IPIs here stalled the machine at the barrier.)
    if (irq_owed(PC)) { service_ipis(); continue; }
    if (COUNT > 1) {
      if (atomic.load<u32>(PC + PC_WAKE) != w) continue;
      store<u32>(rq(cpu_id()) + RQ_PARK_TOKEN, w);
      atomic.store<u32>(PC + PC_STATE, CPU_AT_BARRIER);
      sched_switch();
    } else {
      worker_sleep_until_woken(w);
    }
  }
  atomic.store<u32>(PC + PC_WAIT_KIND, WAIT_NONE);
  atomic.store<u32>(PC + PC_STATE, CPU_RUNNING);
  l.next_advance_check = (now() / QUANTUM + 1) * QUANTUM;
}

// ------------------------------------------------------ the scheduler -----

/** The host-call table: runs call `id` with its argument slots at `args` (calls.ts dispatch_call). */
export type CallTable = (id: u32, args: u32) => i64;
function no_call_table(id: u32, args: u32): i64 { abort('no host-call table installed (sched_set_call_table)'); return 0; }
// Installed by the module's entry (index.ts; the test build's test/index.ts adds the
// t_* calls): the scheduler below every kernel file does not import the calls above them.
let CALLS: CallTable = no_call_table;
let NCALLS: u32 = 0; // ids 0 .. NCALLS - 1 exist in this build
export function sched_set_call_table(t: CallTable, ncalls: u32): void { CALLS = t; NCALLS = ncalls; }

/**
 * The coroutine's bottom frame: run the call the host posted for the current
 * CPU. MUST NOT be inlined into sched_run (scripts/noinline.mjs): sched_run
 * is Asyncify's "bottom-most runtime" and is not instrumented.
 */
function cpu_entry(): void {
  const r = CALLS(load<u32>(PC + PC_CALL), PC + PC_CALL_ARGS);
  store<i64>(PC + PC_CALL_RESULT, r);
}

/** Move CPUs whose wake token moved since they parked from parked to runnable. */
function drain_wakes(): void {
  const lo = FIRST >> 5;
  const hi = (FIRST + COUNT - 1) >> 5;
  for (let w = lo; w <= hi; w++) {
    const a = WK + WK_PENDING + (w << 2);
    if (atomic.load<u32>(a) == 0) continue;
    let bits = atomic.xchg<u32>(a, 0);
    while (bits != 0) {
      const c = (w << 5) + ctz(bits);
      bits &= bits - 1;
      const pc = percpu(c);
      // a runnable CPU posted because of an IPI: parallel mode runs it first (take_urgent)
      if (!DETERMINISTIC && (rq_flags(c) & RQ_PICKABLE) == RQ_PICKABLE && irq_owed(pc)) {
        const u = WK + WK_URGENT + ((c >> 6) << 3);
        store<u64>(u, load<u64>(u) | (<u64>1 << (c & 63)));
        continue;
      }
      // parked = suspended, not ready, and waiting (not the CPU running now: notice_wakes
      // drains from inside it, and its SUSPENDED flag stays until its call returns)
      if ((rq_flags(c) & (RQ_SUSPENDED | RQ_READY)) != RQ_SUSPENDED) continue;
      const st = atomic.load<u32>(pc + PC_STATE);
      if (st != CPU_WAITING && st != CPU_AT_BARRIER) continue;
      if (atomic.load<u32>(pc + PC_WAKE) != load<u32>(rq(c) + RQ_PARK_TOKEN)) {
        atomic.store<u32>(pc + PC_STATE, CPU_RUNNABLE);
        rq_ready(c, pc);
      }
    }
  }
}

/** Parallel mode: a runnable CPU that owes an interrupt (posted by drain_wakes), or -1. */
function take_urgent(): i32 {
  for (let wd = FIRST >> 6; wd <= (FIRST + COUNT - 1) >> 6; wd++) {
    const u = WK + WK_URGENT + (wd << 3);
    // retry: a marked CPU may have run (and taken its IPIs) since it was marked
    for (let bits = load<u64>(u); bits != 0; bits = load<u64>(u)) {
      const c = (wd << 6) + <u32>ctz(bits);
      store<u64>(u, bits & (bits - 1));
      if ((rq_flags(c) & RQ_PICKABLE) == RQ_PICKABLE && irq_owed(percpu(c))) return <i32>c;
    }
  }
  return -1;
}

/** ordering key of a runnable CPU: its clock (deterministic mode: or the time it was woken, if later) */
@inline function sched_key(pc: u32): u64 {
  const t = atomic.load<u64>(pc + PC_CLOCK);
  if (!DETERMINISTIC) return t;
  const w = atomic.load<u64>(pc + PC_WAKE_TIME);
  return t > w ? t : w;
}

/**
 * Run this worker's CPUs until one of them returns from its call (result:
 * that CPU; the host posts its next call or finishes it), every CPU has
 * finished (SCHED_DONE) or the machine stops (SCHED_STOPPED). Asyncify's
 * "bottom-most runtime": not instrumented; it is where unwinds end.
 */
export function sched_run(): i32 {
  let spin_rounds: u32 = 0;
  // retry: one switch per round; a round without a runnable CPU spins, then sleeps
  while (true) {
    if (atomic.load<u32>(HDR_BASE + H_STOP) != STOP_NONE) return SCHED_STOPPED;
    drain_wakes();
    // the first runnable CPU with a call in (key, id) order and the one after it
    // (parallel mode: one that owes an interrupt first; spinners only if nobody else)
    let best: i32 = -1, next: i32 = -1, spinner: i32 = -1;
    let nk: u64 = u64.MAX_VALUE;
    if (!DETERMINISTIC) best = take_urgent();
    if (HEAP_N > 0) {
      if (best < 0) { best = <i32>heap_at(0); next = heap_second(); }
      else next = <i32>heap_at(0) == best ? heap_second() : <i32>heap_at(0);
      if (next >= 0) nk = load<u64>(rq(<u32>next) + RQ_KEY);
    }
    if (best < 0) {
      let sk: u64 = u64.MAX_VALUE;
      for (let wd = FIRST >> 6; wd <= (FIRST + COUNT - 1) >> 6; wd++) for (let bits = load<u64>(WK + WK_PICKABLE + (wd << 3)); bits != 0; bits &= bits - 1) {
        const c = (wd << 6) + <u32>ctz(bits);
        const k = load<u64>(rq(c) + RQ_KEY);
        if (k < sk) { spinner = c; sk = k; } // (only spinners are pickable outside the heap)
      }
    }
    if (best < 0 && spinner >= 0) {
      // only spinners: they wait on CPUs of other workers; spin on, backing off now and then
      if (++spin_rounds % SPINS_BEFORE_SLEEP == 0) {
        atomic.wait<u32>(WK + WK_WAKE, atomic.load<u32>(WK + WK_WAKE), SPIN_SLEEP_NS);
      }
      best = spinner;
    }
    if (best < 0) {
      // (every live CPU has a call: the host posts the next one before it calls us again)
      if (LIVE == 0) return SCHED_DONE;
      if (DETERMINISTIC && load<u32>(HDR_BASE + H_NWORKERS) == 1 && !wakes_pending()) {
        request_stop(STOP_DEADLOCK);
        return SCHED_STOPPED;
      }
      // every CPU of ours waits on a CPU of another worker (or the host): watch the
      // pending words a little (the other worker often answers within microseconds), then sleep
      for (let i: u32 = 0; i < IDLE_SPINS && !wakes_pending(); i++) {
        if (atomic.load<u32>(HDR_BASE + H_STOP) != STOP_NONE) break;
      }
      if (!wakes_pending()) worker_sleep();
      continue;
    }
    run_cpu(<u32>best, next, nk);
    const l = cpu_local();
    if (UNWOUND) {
      UNWOUND = false;
      asyncify_stop_unwind();
      // parked (WAITING, AT_BARRIER) or yielded (RUNNABLE)
      if (atomic.load<u32>(PC + PC_STATE) == CPU_RUNNABLE) rq_ready(<u32>best, PC);
      rq_set(<u32>best, RQ_SUSPENDED, 0);
      const used = load<u32>(async_buf(<u32>best)) - (async_buf(<u32>best) + 8);
      if (used > l.async_high) {
        l.async_high = used;
        if (used > atomic.load<u32>(WK + WK_ASYNC_HIGH)) atomic.store<u32>(WK + WK_ASYNC_HIGH, used);
      }
      atomic.add<u64>(WK + WK_SWITCHES, 1);
      continue;
    }
    // the call returned
    rq_set(<u32>best, 0, RQ_SUSPENDED | RQ_HAS_CALL);
    atomic.store<u32>(PC + PC_STATE, CPU_RUNNABLE);
    rq_ready(<u32>best, PC);
    return best;
  }
  return SCHED_STOPPED;
}

/** Resume (or start) CPU `c`'s call; `next`/`nk`: the CPU after it in clock order, whose key bounds its run. */
function run_cpu(c: u32, next: i32, nk: u64): void {
  cpu_switch_to(c);
  const l = cpu_local();
  if (next < 0 || COUNT == 1) { l.run_limit = u64.MAX_VALUE; l.run_limit_cpu = 0xffffffff; }
  else { l.run_limit = plus_slack(nk); l.run_limit_cpu = <u32>next; }
  if (DETERMINISTIC) {
    const w = atomic.load<u64>(PC + PC_WAKE_TIME);
    if (w > now()) set_clock(w);
  }
  atomic.store<u32>(PC + PC_STATE, CPU_RUNNING);
  rq_set(c, 0, RQ_READY);
  atomic.store<u32>(WK + WK_CURRENT, c + 1);
  if (COUNT > 1) { // (with one CPU nothing unwinds, and the host sized no stacks)
    const buf = async_buf(c);
    if ((rq_flags(c) & RQ_SUSPENDED) != 0) {
      REWINDING = true;
      asyncify_start_rewind(buf);
    } else {
      store<u32>(buf, buf + 8); // Asyncify data: current position, end
      store<u32>(buf + 4, buf + load<u32>(HDR_BASE + H_ASYNC_SIZE));
    }
  }
  cpu_entry();
  atomic.store<u32>(WK + WK_CURRENT, 0);
}

function wakes_pending(): bool {
  for (let w = FIRST >> 5; w <= (FIRST + COUNT - 1) >> 5; w++) if (atomic.load<u32>(WK + WK_PENDING + (w << 2)) != 0) return true;
  return false;
}

/** None of our CPUs can run: sleep on the worker's futex until a wake-up is posted (or the safety timeout). */
function worker_sleep(): void {
  const w = atomic.load<u32>(WK + WK_WAKE);
  atomic.store<u32>(WK + WK_SLEEPING, 1);
  if (!wakes_pending() && atomic.load<u32>(HDR_BASE + H_STOP) == STOP_NONE) {
    atomic.add<u64>(WK + WK_SLEEPS, 1);
    if (atomic.wait<u32>(WK + WK_WAKE, w, SLEEP_NS) == 2 && !DETERMINISTIC) {
      // the safety net of parallel mode (as one thread per CPU has with its timed
      // futex wait): nothing woke us for SLEEP_NS, so let every parked CPU look again
      for (let c = FIRST; c < FIRST + COUNT; c++) wake_cpu_raw(c);
    }
  }
  atomic.store<u32>(WK + WK_SLEEPING, 0);
}

// ----------------------------------------------------------- lifecycle -----

/** The host's setup instance (one CPU, before time 0): interrupt points never wait. */
export function cpu_bind_setup(id: u32): void {
  cpu_bind_host(id);
  HOST_SETUP = true;
  const l = cpu_local();
  l.barrier_limit = u64.MAX_VALUE;
  l.next_advance_check = u64.MAX_VALUE;
  l.run_limit = u64.MAX_VALUE;
  l.run_limit_cpu = 0xffffffff;
}

/**
 * Bind this instance to host worker `w` (its block says which CPUs it runs)
 * and prepare each of them: IRQs on, runnable, barrier set up.
 */
export function sched_worker_bind(w: u32): void {
  machine_bind();
  WK = worker_addr(w);
  FIRST = load<u32>(WK + WK_FIRST);
  COUNT = load<u32>(WK + WK_COUNT);
  QUANTUM = <u64>load<u32>(HDR_BASE + H_QUANTUM);
  if (QUANTUM == 0) QUANTUM = 10000;
  SLACK = DETERMINISTIC ? 0 : QUANTUM;
  if (atomic.load<u32>(HDR_BASE + H_INIT_DONE) != LAYOUT_MAGIC) abort('sched_worker_bind: machine_init() has not accepted this machine (call it once, on the host instance, after writing the header)', null, 0, 0);
  if (DETERMINISTIC && COUNT != NCPUS) abort('sched_worker_bind: deterministic mode runs every CPU on one worker (H_NWORKERS = 1)', null, 0, 0);
  if (COUNT > 1 && load<u32>(HDR_BASE + H_ASYNC_SIZE) < ASYNC_STACK_MIN) abort('sched_worker_bind: H_ASYNC_SIZE is below ASYNC_STACK_MIN and this worker runs several CPUs', null, 0, 0);
  RQ = load<u32>(HDR_BASE + H_RUNQ_BASE);
  LIVE = COUNT;
  HEAP_N = 0;
  for (let wd = FIRST >> 6; wd <= (FIRST + COUNT - 1) >> 6; wd++) {
    store<u64>(WK + WK_PICKABLE + (wd << 3), 0);
    store<u64>(WK + WK_URGENT + (wd << 3), 0);
  }
  for (let c = FIRST; c < FIRST + COUNT; c++) {
    cpu_switch_to(c);
    rq_store(c, 0);
    prepare_cpu();
  }
}

/**
 * Run CPU `id` directly from the host, one call at a time (tests, embedding
 * without the scheduler): this instance becomes a worker of that one CPU,
 * so its waits sleep on the worker's futex instead of switching.
 */
export function cpu_start(): void {
  const id = cpu_id();
  machine_bind();
  if (atomic.load<u32>(HDR_BASE + H_INIT_DONE) != LAYOUT_MAGIC) abort('cpu_start: machine_init() has not accepted this machine', null, 0, 0);
  WK = worker_addr(load<u32>(PC + PC_WORKER));
  FIRST = id;
  COUNT = 1;
  QUANTUM = <u64>load<u32>(HDR_BASE + H_QUANTUM);
  if (QUANTUM == 0) QUANTUM = 10000;
  SLACK = 0;
  RQ = load<u32>(HDR_BASE + H_RUNQ_BASE);
  LIVE = 1;
  HEAP_N = 0;
  prepare_cpu();
}

/** IRQs on, runnable, first in its worker's order, barrier from the current epoch. */
function prepare_cpu(): void {
  atomic.store<u32>(PC + PC_IRQ_ON, 1);
  const l = cpu_local();
  l.run_limit = u64.MAX_VALUE;
  l.run_limit_cpu = 0xffffffff;
  const e = <u64>atomic.load<u32>(HDR_BASE + H_EPOCH);
  l.barrier_limit = DETERMINISTIC ? u64.MAX_VALUE : (e + 2) * QUANTUM;
  l.next_advance_check = DETERMINISTIC ? u64.MAX_VALUE : (now() / QUANTUM + 1) * QUANTUM;
  atomic.store<u32>(PC + PC_STATE, CPU_RUNNABLE);
}

/** Post call `id` (arguments already at PC_CALL_ARGS of `c`) to CPU `c` of this worker. */
export function sched_post_call(c: u32, id: u32): void {
  if (id >= NCALLS) abort('sched_post_call: no call has this id (ids are 0 .. NCALLS - 1)', null, 0, 0);
  if (c - FIRST >= COUNT) abort('sched_post_call: the CPU is not one of this worker\'s (WK_FIRST, WK_COUNT)', null, 0, 0);
  const pc = percpu(c);
  store<u32>(pc + PC_CALL, id);
  rq_set(c, RQ_HAS_CALL, 0);
  rq_ready(c, pc);
}

/** The result of CPU `c`'s last call. */
export function sched_call_result(c: u32): i64 { return load<i64>(percpu(c) + PC_CALL_RESULT); }
/** Address of CPU `c`'s argument slots (CALL_MAX_ARGS x u64). */
export function sched_call_args(c: u32): u32 { return percpu(c) + PC_CALL_ARGS; }

/**
 * CPU `c`'s program is done: leave every mm's cpumask (no more translations
 * to shoot down here), then answer what was posted before the senders could
 * see us finished.
 */
export function sched_cpu_finish(c: u32): void {
  cpu_switch_to(c);
  const me = cpu_id();
  const nmm = load<u32>(HDR_BASE + H_NMM);
  for (let m: u32 = 0; m < nmm; m++) cpumask_clear_cpu(me, mm_addr(m) + MM_CPUMASK);
  atomic.store<u32>(PC + PC_STATE, CPU_FINISHED);
  if (c - FIRST < COUNT) { rq_store(c, 0); LIVE--; }
  // CPUs waiting on a flag may wait for "the flag, or that CPU finished" (the
  // mapbench pipeline's consumer): let them look again
  for (let o: u32 = 0; o < NCPUS; o++) {
    if (o != me && atomic.load<u32>(percpu(o) + PC_STATE) == CPU_WAITING && atomic.load<u32>(percpu(o) + PC_WAIT_KIND) == WAIT_SPIN) wake_cpu(o, now());
  }
  service_ipis();
  if (!DETERMINISTIC) barrier_try_advance();
}

/** the CPU running on this worker now (-1: none), for crash reports */
export function sched_current(): i32 { return <i32>atomic.load<u32>(WK + WK_CURRENT) - 1; }

/** test/host hook */
export function header_flags(): u32 { return atomic.load<u32>(HDR_BASE + H_FLAGS); }
