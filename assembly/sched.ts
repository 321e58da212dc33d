// The scheduler of a host worker: which of its emulated CPUs runs next, in
// virtual time, and the lifecycle the host drives (bind, post a call, finish).
// Its parts: runq.ts (the run queue), coroutine.ts (Asyncify switching),
// wait.ts (waits, wake-ups, interrupt points), barrier.ts (the lax quantum
// barrier), stop.ts, threads.ts (the threads engine: one CPU per worker).
//
// A host worker (layout.ts WK_*) runs CPUs [first, first + count). With more
// than one CPU per worker each CPU is a coroutine; with one CPU per worker (the
// threads engine, or a worker that got one CPU) nothing ever unwinds and a wait
// sleeps on the worker's futex, so the build without Asyncify runs the same code.
//
// Order inside a worker: the runnable CPU with the lowest (clock, id) runs.
// It keeps running while (clock, id) <= (run_limit, run_limit_cpu): the next
// CPU in that order plus the slack (0 in deterministic mode: every shared
// access happens in exact virtual-time order; one quantum in parallel mode).
// Nothing inside a worker depends on host timing.
//
// Between workers (parallel mode): real threads on one shared memory, kept
// within the skew bound by the barrier (barrier.ts).
//
// Deterministic mode = every CPU on ONE worker with slack 0: exact, and the
// same seed and config give the same bits whatever the host. A deadlock (no
// CPU runnable, some parked, no wake-up pending) is detected exactly.

import {
  HDR_BASE, H_STOP, H_NWORKERS, H_ASYNC_SIZE, PC_STATE, PC_WAIT_KIND, PC_CALL, PC_CALL_ARGS, PC_CALL_RESULT, PC_WAKE_TIME,
  WK_WAKE, WK_FIRST, WK_COUNT, WK_CURRENT, WK_SWITCHES, WK_SLEEPS, WK_PICKABLE, WK_URGENT,
  CPU_RUNNING, CPU_WAITING, CPU_FINISHED, CPU_RUNNABLE, STOP_NONE, STOP_DEADLOCK, WAIT_SPIN, WAIT_FLAG,
  percpu, worker_addr, H_NMM, MM_CPUMASK, mm_addr, H_INIT_DONE, LAYOUT_MAGIC, ASYNC_STACK_MIN, WK_TIMEOUTS, H_FLAGS, FLAG_NO_SAFETY_NET, PC_WAKE, RQ_OWN, OWN_HOME,
} from './layout';
import { TEST_BUILD } from './build_flags';
import { PC, NCPUS, DETERMINISTIC, cpu_local, cpu_id, now, set_clock, cpu_bind_host, machine_bind, cpu_switch_to } from './cpu';
import { service_ipis } from './ipi';
import { cpumask_clear_cpu } from './cpumask';
import {
  WK, FIRST, COUNT, LIVE, HEAP_N, STEAL, rq, rq_store, rq_set, rq_ready, rq_flags, heap_at, heap_second, RQ_KEY, RQ_HAS_CALL, RQ_SUSPENDED, RQ_READY, RQ_SPINNING,
  plus_slack, take_urgent, drain_wakes, wakes_pending, wake_cpu_raw, prepare_cpu, runq_bind, runq_host_setup, runq_cpu_gone, sleep_begin, sleep_end, rescue_arm, RQ_PARK_TOKEN,
} from './runq';
import { request_stop } from './stop';
import { coroutine_run, coroutine_suspended, call_count } from './coroutine';
import { SPINS_BEFORE_SLEEP, SLEEP_NS, SPIN_SLEEP_NS } from './threads';
import { wake_cpu } from './wait';
import { vcpu_put, PUT_EXIT } from './vcpu';
import { barrier_try_advance } from './barrier';
import { steal_bind, steal_eager, set_hungry, offers_exist, offer_cpus, reclaim_offers, take_handbacks, steal_and_run } from './steal';

// a worker with nothing to run watches its pending words this many rounds (a few
// microseconds) before it sleeps: a wake-up posted that soon costs no futex round trip.
// Longer watches lost on the 2-core host (README "Hand-offs between workers"): the CPU it
// waits for shares a host core with other work, and a spinning worker takes its time
const IDLE_SPINS: u32 = 512;

// sched_run() results besides a CPU id
export const SCHED_DONE: i32 = -1; // every CPU of this worker has finished
export const SCHED_STOPPED: i32 = -2; // the machine is stopping (H_STOP)

/**
 * Run this worker's CPUs until one of them returns from its call (result:
 * that CPU; the host posts its next call or finishes it), every CPU has
 * finished (SCHED_DONE) or the machine stops (SCHED_STOPPED). Asyncify's
 * "bottom-most runtime": not instrumented; it is where unwinds end.
 */
export function sched_run(): i32 {
  let spin_rounds: u32 = 0;
  let quiet_backoffs: u32 = 0; // back-offs beside spinners that timed out since a CPU that does not spin ran
  // retry: one switch per round; a round without a runnable CPU spins, then sleeps
  while (true) {
    if (atomic.load<u32>(HDR_BASE + H_STOP) != STOP_NONE) { if (STEAL) set_hungry(false); return SCHED_STOPPED; }
    drain_wakes();
    if (STEAL) {
      // CPUs thieves handed back (steal.ts); one whose call returned goes to the host
      const r = take_handbacks(false);
      if (r >= 0) return r;
      reclaim_offers();
      // test build, FLAG_STEAL_EAGER: offer everything, run another worker's CPU first
      if (steal_eager()) { offer_cpus(-1); if (steal_and_run()) continue; reclaim_offers(); }
    }
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
    if (STEAL) {
      if (best >= 0) {
        set_hungry(false);
        // another worker has nothing to run: offer it some of ours (not the one we run now)
        if (HEAP_N >= 2 || steal_eager()) {
          offer_cpus(best);
          // the one after `best` in order may have been offered
          next = -1; nk = u64.MAX_VALUE;
          if (HEAP_N > 1) { next = <i32>heap_at(0) == best ? heap_second() : <i32>heap_at(0); if (next >= 0) nk = load<u64>(rq(<u32>next) + RQ_KEY); }
        }
      } else {
        // none of ours can run (spinners wait for other workers' CPUs): run one of another worker's
        set_hungry(true);
        if (steal_and_run()) continue;
      }
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
        // backing off for SLEEP_NS in all with no other CPU to run is a sleep that timed out:
        // the safety net fires here too (a worker with a spinner never sleeps in worker_sleep)
        if (atomic.wait<u32>(WK + WK_WAKE, atomic.load<u32>(WK + WK_WAKE), SPIN_SLEEP_NS) == 2 && !DETERMINISTIC
          && ++quiet_backoffs >= <u32>(SLEEP_NS / SPIN_SLEEP_NS)) { quiet_backoffs = 0; safety_net(); }
      }
      best = spinner;
    } else if (best >= 0) quiet_backoffs = 0;
    if (best < 0) {
      // (every live CPU has a call: the host posts the next one before it calls us again)
      if (LIVE == 0) { if (STEAL) set_hungry(false); return SCHED_DONE; }
      if (DETERMINISTIC && load<u32>(HDR_BASE + H_NWORKERS) == 1 && !wakes_pending()) {
        request_stop(STOP_DEADLOCK);
        return SCHED_STOPPED;
      }
      // every CPU of ours waits on a CPU of another worker (or the host): watch the
      // pending words a little (the other worker often answers within microseconds), then sleep
      for (let i: u32 = 0; i < IDLE_SPINS && !wakes_pending() && !(STEAL && offers_exist()); i++) {
        if (atomic.load<u32>(HDR_BASE + H_STOP) != STOP_NONE) break;
      }
      if (!wakes_pending() && !(STEAL && offers_exist())) worker_sleep();
      continue;
    }
    run_cpu(<u32>best, next, nk);
    if (coroutine_suspended(<u32>best)) {
      // parked (WAITING, AT_BARRIER) or yielded (RUNNABLE)
      // (a spinner is RUNNABLE; parallel mode: WAITING, so the barrier does not count it)
      if (atomic.load<u32>(PC + PC_STATE) == CPU_RUNNABLE || (rq_flags(<u32>best) & RQ_SPINNING) != 0) rq_ready(<u32>best, PC);
      rq_set(<u32>best, RQ_SUSPENDED, 0);
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
  coroutine_run(c);
  atomic.store<u32>(WK + WK_CURRENT, 0);
}

/** None of our CPUs can run: sleep on the worker's futex until a wake-up is posted (or the safety timeout). */
function worker_sleep(): void {
  const w = atomic.load<u32>(WK + WK_WAKE);
  sleep_begin(WK);
  // (a busy worker raises its WK_OFFERED before it looks at our WK_SLEEPING: steal.ts offer_cpus)
  if (!wakes_pending() && !(STEAL && offers_exist()) && atomic.load<u32>(HDR_BASE + H_STOP) == STOP_NONE) {
    atomic.add<u64>(WK + WK_SLEEPS, 1);
    const r = atomic.wait<u32>(WK + WK_WAKE, w, SLEEP_NS);
    sleep_end(WK); // (before the safety net's own wake-ups: they need no notify)
    // nothing woke us for SLEEP_NS
    if (r == 2 && !DETERMINISTIC) safety_net();
  }
  sleep_end(WK);
}

/**
 * The safety net of parallel mode (as one thread per CPU has with its timed futex
 * wait): this worker had no CPU to run for SLEEP_NS (asleep, or backing off beside
 * spinners only), so every parked CPU of ours looks at its wait condition again.
 * Those whose token never moved are marked: if their wait turns out to be over, that
 * was a lost wake-up, and wait_finish counts it (wakeup_rescued). The net's firings
 * are counted too (WK_TIMEOUTS); the test core can turn it off (FLAG_NO_SAFETY_NET).
 */
function safety_net(): void {
  atomic.add<u64>(WK + WK_TIMEOUTS, 1);
  if (TEST_BUILD && (load<u32>(HDR_BASE + H_FLAGS) & FLAG_NO_SAFETY_NET) != 0) return;
  for (let c = FIRST; c < FIRST + COUNT; c++) {
    const pc = percpu(c);
    // parked (suspended, not ready: drain_wakes's test) on a token nobody moved
    const mine = !(STEAL && atomic.load<u32>(rq(c) + RQ_OWN) != OWN_HOME);
    if (mine && (rq_flags(c) & (RQ_SUSPENDED | RQ_READY)) == RQ_SUSPENDED) {
      const t = atomic.load<u32>(pc + PC_WAKE);
      if (t == load<u32>(rq(c) + RQ_PARK_TOKEN)) rescue_arm(c, t + 1); // (a waker between here and our bump: not counted)
    }
    wake_cpu_raw(c);
  }
}

// ----------------------------------------------------------- lifecycle -----

/** The host's setup instance (one CPU, before time 0): interrupt points never wait. */
export function cpu_bind_setup(id: u32): void {
  cpu_bind_host(id);
  runq_host_setup();
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
  const wk = worker_addr(w);
  runq_bind(wk, load<u32>(wk + WK_FIRST), load<u32>(wk + WK_COUNT), DETERMINISTIC);
  if (atomic.load<u32>(HDR_BASE + H_INIT_DONE) != LAYOUT_MAGIC) abort('sched_worker_bind: machine_init() has not accepted this machine (call it once, on the host instance, after writing the header)', null, 0, 0);
  if (DETERMINISTIC && COUNT != NCPUS) abort('sched_worker_bind: deterministic mode runs every CPU on one worker (H_NWORKERS = 1)', null, 0, 0);
  if (COUNT > 1 && load<u32>(HDR_BASE + H_ASYNC_SIZE) < ASYNC_STACK_MIN) abort('sched_worker_bind: H_ASYNC_SIZE is below ASYNC_STACK_MIN and this worker runs several CPUs', null, 0, 0);
  store<u64>(wk + WK_TIMEOUTS, 0);
  for (let wd = FIRST >> 6; wd <= (FIRST + COUNT - 1) >> 6; wd++) {
    store<u64>(WK + WK_PICKABLE + (wd << 3), 0);
    store<u64>(WK + WK_URGENT + (wd << 3), 0);
  }
  for (let c = FIRST; c < FIRST + COUNT; c++) {
    cpu_switch_to(c);
    rq_store(c, 0);
    prepare_cpu();
  }
  steal_bind(w);
}

/** Post call `id` (arguments already at PC_CALL_ARGS of `c`) to CPU `c` of this worker. */
export function sched_post_call(c: u32, id: u32): void {
  if (id >= call_count()) abort('sched_post_call: no call has this id (ids are 0 .. NCALLS - 1)', null, 0, 0);
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
  vcpu_put(PUT_EXIT); // (a task whose call ended on its vCPU: wl_ebizzy leaves it itself)
  const nmm = load<u32>(HDR_BASE + H_NMM);
  for (let m: u32 = 0; m < nmm; m++) cpumask_clear_cpu(me, mm_addr(m) + MM_CPUMASK);
  atomic.store<u32>(PC + PC_STATE, CPU_FINISHED);
  if (c - FIRST < COUNT) { rq_store(c, 0); runq_cpu_gone(); }
  // CPUs waiting on a flag may wait for "the flag, or that CPU finished" (the
  // mapbench pipeline's consumer): let them look again
  for (let o: u32 = 0; o < NCPUS; o++) {
    // (spinlock waiters too, as when flags were spinlock waits: deterministic runs keep their wake times)
    if (o == me || atomic.load<u32>(percpu(o) + PC_STATE) != CPU_WAITING) continue;
    const k = atomic.load<u32>(percpu(o) + PC_WAIT_KIND);
    if (k == WAIT_FLAG || k == WAIT_SPIN) wake_cpu(o, now());
  }
  service_ipis();
  if (!DETERMINISTIC) barrier_try_advance();
}

