// The run queue of a host worker: the worker's CPUs in (clock, id) order (a flag
// word per CPU, a binary min-heap of the pickable ones), posting a woken CPU to its
// worker, and the worker's own settings (which CPUs, quantum, slack).

import {
  HDR_BASE, H_RUNQ_BASE, H_QUANTUM, H_EPOCH,
  PC_STATE, PC_WAKE, PC_IRQ_ON, PC_IPI_PENDING, PC_WAKE_TIME, PC_CLOCK, PC_WORKER,
  WK_WAKE, WK_SLEEPING, WK_PENDING, WK_CURRENT, WK_PICKABLE, WK_URGENT, WK_HEAP, WK_HANDBACK, RQ_SIZE, RQ_OWN, OWN_HOME,
  CPU_WAITING, CPU_AT_BARRIER, CPU_RUNNABLE, percpu, worker_addr,
} from './layout';
import { PC, DETERMINISTIC, cpu_local, now } from './cpu';

// ---- per worker (module globals: the same for every CPU this instance runs) ----
export let QUANTUM: u64 = 10000;
export let WK: u32 = 0; // this worker's block
export let FIRST: u32 = 0;
export let COUNT: u32 = 1; // CPUs on this worker; 1 = nothing ever unwinds
let SLACK: u64 = 0; // how far a CPU may run past the next local CPU in clock order
export let HOST_SETUP = false; // the host's setup instance: interrupt points never wait
let RQ: u32 = 0; // the run queue's base
export let LIVE: u32 = 0; // CPUs of this worker that have not finished
export let HEAP_N: u32 = 0; // CPUs in the heap
/** work stealing is on for this worker (steal.ts): parallel mode, H_STEAL, and this worker runs 2+ CPUs */
export let STEAL = false;
export function runq_set_steal(on: bool): void { STEAL = on; }

/** This instance runs CPUs [first, first + count) of worker block `wk`; no_slack: a CPU runs no further than the next in order (deterministic mode) */
export function runq_bind(wk: u32, first: u32, count: u32, no_slack: bool): void {
  WK = wk;
  FIRST = first;
  COUNT = count;
  QUANTUM = <u64>load<u32>(HDR_BASE + H_QUANTUM);
  if (QUANTUM == 0) QUANTUM = 10000;
  SLACK = no_slack ? 0 : QUANTUM;
  RQ = load<u32>(HDR_BASE + H_RUNQ_BASE);
  LIVE = count;
  HEAP_N = 0;
}
/** the host's setup instance: interrupt points never wait */
export function runq_host_setup(): void { HOST_SETUP = true; }
/** the CPU running on this worker now (-1: none), for crash reports */
export function sched_current(): i32 { return <i32>atomic.load<u32>(WK + WK_CURRENT) - 1; }

/** CPU `c` of this worker finished */
export function runq_cpu_gone(): void { LIVE--; }

// ---- the run queue: one entry per CPU (RQ_SIZE, region at H_RUNQ_BASE), touched only by the
// worker that owns the CPU (its own worker; with work stealing, whoever RQ_OWN names: layout.ts).
// Compact, so a pick scans a few cache lines instead of every per-CPU block.
//  +0 u64 key: (clock, deterministic: or wake time) when it last stopped running or was woken
//  +8 u32 flags (RQ_*)   +12 u32 the wake token it parked with   +16 u32 its index in the heap
//  +20 u32 owner (RQ_OWN: OWN_*, atomic; steal.ts)
//  +24 u32 the wake token the safety net gave it   +28 u32 1: that rescue is not judged yet (rescue_arm)
// The pickable CPUs that do not spin are also in a binary min-heap on (key, id) in
// the worker block (WK_HEAP): a pick and the run limit (the second in order) are O(log n).
export const RQ_KEY: u32 = 0;
export const RQ_FLAGS: u32 = 8;
export const RQ_PARK_TOKEN: u32 = 12;
const RQ_HEAP_POS: u32 = 16;
const RQ_RESCUE_TOKEN: u32 = 24;
const RQ_RESCUE_ARMED: u32 = 28;
export const RQ_READY: u32 = 1; // runnable (PC_STATE RUNNABLE) as far as its worker knows
export const RQ_HAS_CALL: u32 = 2; // the host posted a call that has not returned yet
export const RQ_SUSPENDED: u32 = 4; // its Asyncify stack holds a suspended call: resume by rewinding
export const RQ_SPINNING: u32 = 8; // it spins without a wake object (spin_wait_round): run the others first
export const RQ_PICKABLE: u32 = RQ_READY | RQ_HAS_CALL;

@inline export function rq(c: u32): u32 { return RQ + c * RQ_SIZE; }
@inline export function rq_flags(c: u32): u32 { return load<u32>(rq(c) + RQ_FLAGS); }
@inline function heaped(f: u32): bool { return (f & (RQ_PICKABLE | RQ_SPINNING)) == RQ_PICKABLE; }

/**
 * Every flag change keeps the worker's bitmap of pickable CPUs (WK_PICKABLE)
 * and the heap in step: a CPU enters the heap when it becomes pickable (and
 * does not spin), and leaves it when it runs or spins.
 */
export function rq_store(c: u32, f: u32): void {
  const old = rq_flags(c);
  store<u32>(rq(c) + RQ_FLAGS, f);
  const w = WK + WK_PICKABLE + ((c >> 6) << 3);
  const bit = <u64>1 << (c & 63);
  store<u64>(w, (f & RQ_PICKABLE) == RQ_PICKABLE ? load<u64>(w) | bit : load<u64>(w) & ~bit);
  if (!heaped(old) && heaped(f)) heap_push(c);
  else if (heaped(old) && !heaped(f)) heap_remove(c);
}

// ---- the heap: WK_HEAP holds CPU ids, heap order on (key, id) ----
@inline export function heap_at(i: u32): u32 { return load<u32>(WK + WK_HEAP + (i << 2)); }
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
export function heap_second(): i32 {
  if (HEAP_N < 2) return -1;
  if (HEAP_N == 2) return <i32>heap_at(1);
  return heap_less(heap_at(1), heap_at(2)) ? <i32>heap_at(1) : <i32>heap_at(2);
}
@inline export function rq_set(c: u32, set: u32, clear: u32): void { rq_store(c, (rq_flags(c) & ~clear) | set); }
/** c becomes runnable: record its ordering key */
@inline export function rq_ready(c: u32, pc: u32): void { store<u64>(rq(c) + RQ_KEY, sched_key(pc)); rq_set(c, RQ_READY, 0); }

/** ordering key of a runnable CPU: its clock (deterministic mode: or the time it was woken, if later) */
@inline function sched_key(pc: u32): u64 {
  const t = atomic.load<u64>(pc + PC_CLOCK);
  if (!DETERMINISTIC) return t;
  const w = atomic.load<u64>(pc + PC_WAKE_TIME);
  return t > w ? t : w;
}

/** IRQs on and an IPI pending: the CPU would take an interrupt at its next interrupt point */
@inline export function irq_owed(pc: u32): bool {
  return atomic.load<u32>(pc + PC_IPI_PENDING) != 0 && atomic.load<u32>(pc + PC_IRQ_ON) != 0;
}

/** key + SLACK, saturating */
@inline export function plus_slack(key: u64): u64 { return key + SLACK < key ? u64.MAX_VALUE : key + SLACK; }

/** CPU `c` of our worker comes next in order at `key`: we run no further than key + slack */
export function lower_run_limit(c: u32, key: u64): void {
  const k = plus_slack(key);
  const l = cpu_local();
  if (k < l.run_limit || (k == l.run_limit && c < l.run_limit_cpu)) { l.run_limit = k; l.run_limit_cpu = c; }
}

// ---- posting: any thread may wake any CPU; its worker makes it runnable ----

/**
 * Bump CPU `c`'s wake token and post it to its worker. Any thread may call
 * it. The worker's thread is notified only if it sleeps, once per sleep
 * (worker_kick).
 */
export function wake_cpu_raw(c: u32): void {
  const pc = percpu(c);
  atomic.add<u32>(pc + PC_WAKE, 1);
  const wk = worker_addr(load<u32>(pc + PC_WORKER));
  atomic.or<u32>(wk + WK_PENDING + ((c >> 5) << 2), 1 << (c & 31));
  atomic.add<u32>(wk + WK_WAKE, 1);
  worker_kick(wk);
}

// ---- a worker's sleep: WK_SLEEPING = (sleep number << 1) | asleep ----
// Invariant: a waker posts its work (pending bit, hand-back or offer) and bumps
// WK_WAKE BEFORE it looks at WK_SLEEPING; the sleeper loads WK_WAKE, then
// publishes its sleep, then looks at its work once more, then waits on WK_WAKE
// against the value it loaded. So a waker that sees no sleep, or loses the CAS
// below, needs no notify: the sleeper sees its work, or its bump makes the wait
// return at once, or the CAS's winner (who posted before it too) notifies.
// The sleep number makes the CAS name one sleep: a waker delayed between its load
// and its CAS cannot clear the flag of the worker's NEXT sleep (whose own waker
// would then skip its notify: a lost wake-up, 45c2fd9).

/** The worker's thread (block `wk`) is about to wait on WK_WAKE: a new sleep, asleep. */
export function sleep_begin(wk: u32): void {
  atomic.store<u32>(wk + WK_SLEEPING, (((atomic.load<u32>(wk + WK_SLEEPING) >> 1) + 1) << 1) | 1);
}
/** The worker's thread is awake (again): its sleep number stays, the asleep bit goes. */
export function sleep_end(wk: u32): void {
  atomic.store<u32>(wk + WK_SLEEPING, atomic.load<u32>(wk + WK_SLEEPING) & ~1);
}
/** Work was posted to worker `wk` (and WK_WAKE bumped): notify it if it sleeps, and only the first waker of each sleep does. */
export function worker_kick(wk: u32): void {
  const s = atomic.load<u32>(wk + WK_SLEEPING);
  if ((s & 1) != 0 && atomic.cmpxchg<u32>(wk + WK_SLEEPING, s, s & ~1) == s) atomic.notify(wk + WK_WAKE, 1);
}

/** a wake-up posted to one of our CPUs */
export function posted_pending(): bool {
  for (let w = FIRST >> 5; w <= (FIRST + COUNT - 1) >> 5; w++) if (atomic.load<u32>(WK + WK_PENDING + (w << 2)) != 0) return true;
  return false;
}

/** a wake-up posted, or (work stealing) one of our CPUs handed back by a thief: the scheduler has work to look at */
export function wakes_pending(): bool {
  if (posted_pending()) return true;
  if (STEAL) for (let w = FIRST >> 5; w <= (FIRST + COUNT - 1) >> 5; w++) if (atomic.load<u32>(WK + WK_HANDBACK + (w << 2)) != 0) return true;
  return false;
}

/** Move CPUs whose wake token moved since they parked from parked to runnable. */
export function drain_wakes(): void {
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
      // offered, stolen or handed back (steal.ts): its entry is not ours to read now; the
      // hand-back (or the reclaim) looks at its wake token again, so this wake-up is not lost
      if (STEAL && atomic.load<u32>(rq(c) + RQ_OWN) != OWN_HOME) continue;
      // a runnable CPU posted because of an IPI: parallel mode runs it first (take_urgent)
      if (!DETERMINISTIC && (rq_flags(c) & RQ_PICKABLE) == RQ_PICKABLE && irq_owed(pc)) {
        const u = WK + WK_URGENT + ((c >> 6) << 3);
        store<u64>(u, load<u64>(u) | (<u64>1 << (c & 63)));
        continue;
      }
      // parked = suspended, not ready, and waiting (not the CPU running now: notice_wakes
      // drains from inside it, and its SUSPENDED flag stays until its call returns)
      if ((rq_flags(c) & (RQ_SUSPENDED | RQ_READY)) != RQ_SUSPENDED) continue;
      // (RUNNABLE while parked: its waker marked it, wait.ts wake_cpu)
      const st = atomic.load<u32>(pc + PC_STATE);
      if (st != CPU_WAITING && st != CPU_AT_BARRIER && st != CPU_RUNNABLE) continue;
      if (atomic.load<u32>(pc + PC_WAKE) != load<u32>(rq(c) + RQ_PARK_TOKEN)) {
        atomic.store<u32>(pc + PC_STATE, CPU_RUNNABLE);
        rq_ready(c, pc);
      }
    }
  }
}

/** Parallel mode: a runnable CPU that owes an interrupt (posted by drain_wakes), or -1. */
export function take_urgent(): i32 {
  for (let wd = FIRST >> 6; wd <= (FIRST + COUNT - 1) >> 6; wd++) {
    const u = WK + WK_URGENT + (wd << 3);
    // retry: a marked CPU may have run (and taken its IPIs) since it was marked
    for (let bits = load<u64>(u); bits != 0; bits = load<u64>(u)) {
      const c = (wd << 6) + <u32>ctz(bits);
      store<u64>(u, bits & (bits - 1));
      if (STEAL && atomic.load<u32>(rq(c) + RQ_OWN) != OWN_HOME) continue;
      if ((rq_flags(c) & RQ_PICKABLE) == RQ_PICKABLE && irq_owed(percpu(c))) return <i32>c;
    }
  }
  return -1;
}

/** IRQs on, runnable, first in its worker's order, barrier from the current epoch. */
export function prepare_cpu(): void {
  atomic.store<u32>(PC + PC_IRQ_ON, 1);
  const l = cpu_local();
  l.run_limit = u64.MAX_VALUE;
  l.run_limit_cpu = 0xffffffff;
  const e = <u64>atomic.load<u32>(HDR_BASE + H_EPOCH);
  l.barrier_limit = DETERMINISTIC ? u64.MAX_VALUE : (e + 2) * QUANTUM;
  l.next_advance_check = DETERMINISTIC ? u64.MAX_VALUE : (now() / QUANTUM + 1) * QUANTUM;
  atomic.store<u32>(PC + PC_STATE, CPU_RUNNABLE);
}

// ---- the safety net's rescues: a lost wake-up is counted, not papered over ----
// The safety net (sched.ts safety_net, threads.ts worker_sleep_until_woken) lets a
// parked CPU whose wake token never moved look at its wait condition again. If the
// condition holds and nobody woke it since (its token is still the one the net gave
// it), the event it waited for came without a wake-up: a lost wake-up, an emulator
// bug. wait_finish / barrier_wait count it (wakeup_rescued); parking again judges the
// rescue empty (rescue_disarm). Only the CPU's own code reads the mark; the net writes
// it while the CPU is parked (its worker's thread, or the CPU's own in the threads engine).

/** The safety net resumes parked CPU `c` with wake token `token` (the value after its bump, if any). */
export function rescue_arm(c: u32, token: u32): void {
  store<u32>(rq(c) + RQ_RESCUE_TOKEN, token);
  store<u32>(rq(c) + RQ_RESCUE_ARMED, 1);
}
/** CPU `c` waits again: the net's look found its wait not over. */
@inline export function rescue_disarm(c: u32): void {
  if (RQ != 0 && load<u32>(rq(c) + RQ_RESCUE_ARMED) != 0) store<u32>(rq(c) + RQ_RESCUE_ARMED, 0);
}
/** CPU `c` (PC: its block) stops waiting: true if the safety net ended its wait with no wake-up since (a lost wake-up). */
@inline export function rescue_taken(c: u32, pc: u32): bool {
  // (RQ 0: the host's setup instance, which binds no run queue and has no safety net)
  if (RQ == 0 || load<u32>(rq(c) + RQ_RESCUE_ARMED) == 0) return false;
  store<u32>(rq(c) + RQ_RESCUE_ARMED, 0);
  return atomic.load<u32>(pc + PC_WAKE) == load<u32>(rq(c) + RQ_RESCUE_TOKEN);
}
