// A guest run queue: more tasks than emulated CPUs (vCPUs), as when ebizzy
// runs its default 2 threads per online CPU.
//
// The engine's CPUs are the run's tasks; H_VCPUS (0 or ncpus: off) says how
// many vCPUs they share: task t runs on vCPU t % vcpus. A vCPU runs one of
// its tasks at a time; its run queue lives in the block of its first task
// (layout.ts PC_VCPU_*), each task's state on it in its own (PC_ON_CPU,
// PC_NEED_RESCHED, PC_VRUNTIME). Kernel: CFS as 4.16/4.17 have it
// (kernel/sched/fair.c), nice 0 everywhere.
//
//  - A task gives its vCPU up when it sleeps (an rwsem's wait list, a
//    pthread barrier: vcpu_put) and when preempted: at a tick point
//    (vcpu_tick: once per loop iteration of the workload, in user mode) once
//    its slice is used and a sibling is queued (check_preempt_tick: slice =
//    sched_latency / nr_running, sched_min_granularity as the floor of the
//    period), or when a woken sibling's vruntime is lower than its own by
//    more than sysctl_sched_wakeup_granularity (check_preempt_wakeup ->
//    wakeup_preempt_entity). The scaled defaults (sysctl_sched_tunable_scaling
//    = LOG: factor 1 + ilog2(min(vcpus, 8))): latency 6 ms, min granularity
//    0.75 ms, wake-up granularity 1 ms, each times the factor. A woken task
//    is placed at max(its vruntime, min_vruntime - latency / 2) (place_entity,
//    GENTLE_FAIR_SLEEPERS), min_vruntime first brought up to the running
//    sibling's vruntime (enqueue_entity -> update_curr); two equal tasks that take turns stay within
//    microseconds of each other, so wake-up preemption (4 ms at 16 vCPUs)
//    rarely fires: the woken task waits for the running one to sleep.
//  - The vCPU goes to the queued task with the lowest (vruntime, id)
//    (pick_next_entity); none queued: it goes idle.
//  - A woken task waits for its vCPU (WAIT_VCPU) until its sibling hands it
//    over; it runs from max(its clock, the hand-over) plus the profile's
//    context_switch. Invariant (test/core/runq.test.ts): two tasks of one
//    vCPU never run in overlapping virtual time: a task's run starts at or
//    after the time its predecessor gave the vCPU up (PC_VCPU_FREE).
//  - TLB: a vCPU is in mm_cpumask() and takes the shootdowns while any of
//    its tasks runs; a vCPU all of whose tasks sleep is idle (ipi.ts, "Idle
//    CPUs", per vCPU). The hardware TLB belongs to the vCPU and x86 does not
//    flush it between threads of one mm; the emulator keeps a TLB per task,
//    so a task drops its entries (uncharged) when it leaves its vCPU: what
//    it cached may be shot down meanwhile, and the running sibling took that
//    IPI for the vCPU. It refills by page walks when it runs again (the real
//    task may still find some of its entries: the emulator charges those walks).
//  - Spinning on a rwsem's owner stops when the owner is off its CPU or a
//    sibling waits for ours (rwsem_spin_on_owner: !owner->on_cpu,
//    need_resched()): a spinner would otherwise keep the vCPU the lock's
//    holder waits for (rwsem.ts).

import {
  HDR_BASE, H_GHZ_MILLI, PC_ON_CPU, PC_NEED_RESCHED, PC_VRUNTIME, PC_VCPU_CURR, PC_VCPU_QUEUED, PC_VCPU_FREE,
  PC_VCPU_EXEC_START, PC_VCPU_MIN_VRUNTIME, PC_CLOCK, WAIT_VCPU, percpu,
} from './layout';
import { PC, NCPUS, NVCPUS, RUNQ, cpu_id, now, set_clock, charge, cost, stat_inc, stat_add } from './cpu';
import { COST_CONTEXT_SWITCH, STAT_VCPU_SWITCH, STAT_VCPU_QUEUED_CYCLES, STAT_VCPU_PREEMPT_TICK, STAT_VCPU_PREEMPT_WAKEUP } from './generated';
import { wait_prepare, wait_token, wait_sleep, wait_finish, wake_cpu } from './wait';
import { tlb_drop } from './tlb';
import { tracing, trace_event } from './obs';
import { TE_ONCPU } from './layout';

export const TASK_OFF: u32 = 0; // asleep (or not started): not on its vCPU, not queued
export const TASK_QUEUED: u32 = 1; // runnable, waiting for its vCPU
export const TASK_RUNNING: u32 = 2; // runs on its vCPU

// why a task leaves its vCPU (the timeline's "on CPU" spans carry it: TE_ONCPU's b)
export const PUT_SLEEP: u32 = 1; // it sleeps (an rwsem's wait list, a barrier)
export const PUT_TICK: u32 = 2; // preempted at a tick: its slice is used (check_preempt_tick)
export const PUT_WAKEUP: u32 = 3; // preempted: a woken sibling's vruntime is far enough below (check_preempt_wakeup)
export const PUT_EXIT: u32 = 4; // the thread ends

@inline export function vcpu_of(t: u32): u32 { return t % NVCPUS; }
/** the run queue block of task t's vCPU */
@inline export function vcpu_rq(t: u32): u32 { return percpu(t % NVCPUS); }
/** task `t` runs on its vCPU now */
@inline export function task_on_cpu(t: u32): bool { return atomic.load<u32>(percpu(t) + PC_ON_CPU) == TASK_RUNNING; }
/** the virtual time task t, on its vCPU now, got it */
@inline export function task_exec_start(t: u32): u64 { return atomic.load<u64>(vcpu_rq(t) + PC_VCPU_EXEC_START); }
/** task t's vCPU runs one of its tasks now */
@inline export function vcpu_busy(t: u32): bool { return atomic.load<u32>(vcpu_rq(t) + PC_VCPU_CURR) != 0; }

// ---- CFS's scaled tunables (kernel/sched/fair.c, sysctl_sched_tunable_scaling = SCHED_TUNABLESCALING_LOG) ----
@inline function usec(): u64 { return <u64>load<u32>(HDR_BASE + H_GHZ_MILLI); }
@inline function factor(): u64 { const n = NVCPUS < 8 ? NVCPUS : 8; return 1 + <u64>(31 - clz<u32>(n)); }
/** sysctl_sched_latency: 6 ms x factor */
@inline function sched_latency(): u64 { return 6000 * usec() * factor(); }
/** sysctl_sched_min_granularity: 0.75 ms x factor */
@inline function min_granularity(): u64 { return 750 * usec() * factor(); }
/** sysctl_sched_wakeup_granularity: 1 ms x factor */
@inline function wakeup_granularity(): u64 { return 1000 * usec() * factor(); }
/** sched_slice() of one of `nr` equal tasks: __sched_period(nr) / nr (sched_nr_latency = 8) */
@inline function sched_slice(nr: u32): u64 {
  const period = nr > 8 ? <u64>nr * min_granularity() : sched_latency();
  return period / <u64>(nr == 0 ? 1 : nr);
}

/** vruntime of running task `t` now (its stored vruntime plus what it ran since it got the vCPU) */
function curr_vruntime(t: u32, rqb: u32): u64 {
  const pc = percpu(t);
  const clk = t == cpu_id() ? now() : atomic.load<u64>(pc + PC_CLOCK);
  const st = atomic.load<u64>(rqb + PC_VCPU_EXEC_START);
  return atomic.load<u64>(pc + PC_VRUNTIME) + (clk > st ? clk - st : 0);
}

/** min_vruntime = max(min_vruntime, v): it never goes backwards (a sibling on another worker may move it too); returns it */
function advance_min_vruntime(rqb: u32, v: u64): u64 {
  // retry: a sibling moved it meanwhile
  while (true) {
    const mv = atomic.load<u64>(rqb + PC_VCPU_MIN_VRUNTIME);
    if (v <= mv) return mv;
    if (atomic.cmpxchg<u64>(rqb + PC_VCPU_MIN_VRUNTIME, mv, v) == mv) return v;
  }
}

/** the queued sibling of task `me` with the lowest (vruntime, id) (pick_next_entity's leftmost), or -1 */
function leftmost_queued(me: u32): i32 {
  let next: i32 = -1;
  let nvr: u64 = u64.MAX_VALUE;
  // ascending ids: a later sibling of the same vruntime does not replace an earlier one
  for (let s = vcpu_of(me); s < NCPUS; s += NVCPUS) {
    const spc = percpu(s);
    if (s == me || atomic.load<u32>(spc + PC_ON_CPU) != TASK_QUEUED) continue;
    const svr = load<u64>(spc + PC_VRUNTIME);
    if (svr < nvr) { next = <i32>s; nvr = svr; }
  }
  return next;
}

/**
 * The current task leaves its vCPU at now() (`why`: PUT_*): it sleeps or
 * ends, or was preempted (it queues again). The vCPU goes to the queued task
 * with the lowest (vruntime, id), or goes idle.
 */
export function vcpu_put(why: u32): void {
  if (!RUNQ) return;
  const requeue = why == PUT_TICK || why == PUT_WAKEUP;
  const me = cpu_id();
  if (atomic.load<u32>(PC + PC_ON_CPU) != TASK_RUNNING) return;
  const rqb = vcpu_rq(me);
  const t = now();
  const vr = curr_vruntime(me, rqb);
  store<u64>(PC + PC_VRUNTIME, vr);
  if (tracing()) trace_event(TE_ONCPU, atomic.load<u64>(rqb + PC_VCPU_EXEC_START), t, vcpu_of(me), <u64>why);
  atomic.store<u32>(PC + PC_NEED_RESCHED, 0);
  // what this task cached belongs to the vCPU's TLB: dropped as it leaves (see the file comment)
  tlb_drop();
  // pick_next_entity: the queued sibling with the lowest (vruntime, id); we compete too when requeued
  let next = leftmost_queued(me);
  const nvr = next >= 0 ? load<u64>(percpu(<u32>next) + PC_VRUNTIME) : u64.MAX_VALUE;
  if (requeue && next >= 0 && (vr < nvr || (vr == nvr && me < <u32>next))) next = -1;
  // min_vruntime follows the smallest vruntime on the vCPU, never backwards
  advance_min_vruntime(rqb, next >= 0 ? (requeue && vr < nvr ? vr : nvr) : vr);
  atomic.store<u64>(rqb + PC_VCPU_FREE, t);
  if (next < 0) {
    atomic.store<u32>(PC + PC_ON_CPU, requeue ? TASK_RUNNING : TASK_OFF);
    if (requeue) { atomic.store<u64>(rqb + PC_VCPU_EXEC_START, t); return; } // nobody else: it runs on
    atomic.store<u32>(rqb + PC_VCPU_CURR, 0);
    // a sibling that queued after our scan (another worker) and lost its CAS to us: it takes the idle vCPU now
    if (atomic.load<u32>(rqb + PC_VCPU_QUEUED) != 0) {
      for (let s = vcpu_of(me); s < NCPUS; s += NVCPUS) if (s != me && atomic.load<u32>(percpu(s) + PC_ON_CPU) == TASK_QUEUED) wake_cpu(s, t);
    }
    return;
  }
  atomic.store<u32>(PC + PC_ON_CPU, requeue ? TASK_QUEUED : TASK_OFF);
  if (requeue) atomic.add<u32>(rqb + PC_VCPU_QUEUED, 1);
  // hand over: the next task owns the vCPU from now; it charges the switch when it runs
  atomic.sub<u32>(rqb + PC_VCPU_QUEUED, 1);
  atomic.store<u32>(percpu(<u32>next) + PC_ON_CPU, TASK_RUNNING);
  atomic.store<u32>(rqb + PC_VCPU_CURR, <u32>next + 1);
  wake_cpu(<u32>next, t);
  if (requeue) vcpu_wait(me, rqb);
}

/**
 * The current task is woken (or starts) and must run: take its vCPU if it is
 * idle, else queue for it (wake-up preemption may ask the running sibling to
 * give it up) and wait until it is handed over.
 */
export function vcpu_get(): void {
  if (!RUNQ) return;
  const me = cpu_id();
  if (atomic.load<u32>(PC + PC_ON_CPU) == TASK_RUNNING) return;
  const rqb = vcpu_rq(me);
  // enqueue_entity() (4.16) runs update_curr() before place_entity(): min_vruntime has followed the running
  // sibling's progress up to now (update_min_vruntime: max(min_vruntime, min(curr->vruntime, leftmost)));
  // without it a task woken while a sibling ran long would be placed below what 4.16 gives it
  let mv = atomic.load<u64>(rqb + PC_VCPU_MIN_VRUNTIME);
  const cur = atomic.load<u32>(rqb + PC_VCPU_CURR);
  if (cur != 0 && cur - 1 != me) {
    let m = curr_vruntime(cur - 1, rqb);
    const l = leftmost_queued(me);
    if (l >= 0) { const lv = load<u64>(percpu(<u32>l) + PC_VRUNTIME); if (lv < m) m = lv; }
    mv = advance_min_vruntime(rqb, m);
  }
  // place_entity() of a waking task: at most half a latency of credit below min_vruntime
  const half = sched_latency() / 2;
  const floor = mv > half ? mv - half : 0;
  if (load<u64>(PC + PC_VRUNTIME) < floor) store<u64>(PC + PC_VRUNTIME, floor);
  atomic.store<u32>(PC + PC_ON_CPU, TASK_QUEUED);
  atomic.add<u32>(rqb + PC_VCPU_QUEUED, 1);
  // idle vCPU: it is ours at once
  if (atomic.cmpxchg<u32>(rqb + PC_VCPU_CURR, 0, me + 1) == 0) {
    atomic.sub<u32>(rqb + PC_VCPU_QUEUED, 1);
    atomic.store<u32>(PC + PC_ON_CPU, TASK_RUNNING);
    const f = atomic.load<u64>(rqb + PC_VCPU_FREE);
    if (f > now()) set_clock(f);
    atomic.store<u64>(rqb + PC_VCPU_EXEC_START, now());
    return;
  }
  // check_preempt_wakeup(): the running sibling yields at its next tick point if we are far enough behind it
  const curr = atomic.load<u32>(rqb + PC_VCPU_CURR);
  if (curr != 0 && curr - 1 != me) {
    if (curr_vruntime(curr - 1, rqb) > load<u64>(PC + PC_VRUNTIME) + wakeup_granularity()) {
      if (atomic.xchg<u32>(percpu(curr - 1) + PC_NEED_RESCHED, 1) == 0) stat_inc(STAT_VCPU_PREEMPT_WAKEUP);
    }
    // a sibling spinning on a lock's owner looks again (it stops spinning while we wait: rwsem.ts). Always
    // (its wake token moves after our QUEUED count did): a sibling between its look at QUEUED and its park,
    // still RUNNING, would otherwise park on a token nobody moves (a lost wake-up, seen in parallel mode)
    wake_cpu(curr - 1, now());
  }
  vcpu_wait(me, rqb);
}

/** queued: wait until a sibling hands the vCPU over, then run from max(our clock, the hand-over) + a context switch */
function vcpu_wait(me: u32, rqb: u32): void {
  const t0 = now();
  if (atomic.load<u32>(PC + PC_ON_CPU) != TASK_RUNNING) {
    wait_prepare(rqb + PC_VCPU_CURR, WAIT_VCPU);
    // retry: woken by an IPI or another wake-up before the hand-over
    while (true) {
      const w = wait_token();
      if (atomic.load<u32>(PC + PC_ON_CPU) == TASK_RUNNING) break;
      // the vCPU went idle without a hand-over (a race with a sibling on another worker): take it
      if (atomic.load<u32>(rqb + PC_VCPU_CURR) == 0 && atomic.cmpxchg<u32>(rqb + PC_VCPU_CURR, 0, me + 1) == 0) {
        atomic.sub<u32>(rqb + PC_VCPU_QUEUED, 1);
        atomic.store<u32>(PC + PC_ON_CPU, TASK_RUNNING);
        break;
      }
      wait_sleep(w);
    }
    wait_finish();
  }
  const f = atomic.load<u64>(rqb + PC_VCPU_FREE);
  if (f > now()) set_clock(f);
  stat_add(STAT_VCPU_QUEUED_CYCLES, now() - t0);
  charge(cost(COST_CONTEXT_SWITCH));
  stat_inc(STAT_VCPU_SWITCH);
  atomic.store<u64>(rqb + PC_VCPU_EXEC_START, now());
}

/** a sibling task is queued for our vCPU, or a wake-up preemption asked us to yield (need_resched) */
export function vcpu_wanted(): bool {
  if (!RUNQ) return false;
  return atomic.load<u32>(PC + PC_NEED_RESCHED) != 0 || atomic.load<u32>(vcpu_rq(cpu_id()) + PC_VCPU_QUEUED) != 0;
}

/**
 * A tick point of the running task (user mode, between two iterations of its
 * loop): give the vCPU up if a wake-up preemption asked for it, or if the
 * slice is used and a sibling is queued (check_preempt_tick).
 */
export function vcpu_tick(): void {
  if (!RUNQ) return;
  const me = cpu_id();
  if (atomic.load<u32>(PC + PC_ON_CPU) != TASK_RUNNING) return;
  const rqb = vcpu_rq(me);
  const q = atomic.load<u32>(rqb + PC_VCPU_QUEUED);
  if (atomic.load<u32>(PC + PC_NEED_RESCHED) != 0) {
    if (q != 0) { vcpu_put(PUT_WAKEUP); return; }
    atomic.store<u32>(PC + PC_NEED_RESCHED, 0);
  }
  if (q == 0) return;
  const ran = now() - atomic.load<u64>(rqb + PC_VCPU_EXEC_START);
  const slice = sched_slice(q + 1);
  let resched = ran > slice;
  if (!resched && ran >= min_granularity()) {
    // the leftmost queued task is behind us by more than a slice
    const l = leftmost_queued(me);
    resched = l >= 0 && curr_vruntime(me, rqb) > load<u64>(percpu(<u32>l) + PC_VRUNTIME) + slice;
  }
  if (resched) { stat_inc(STAT_VCPU_PREEMPT_TICK); vcpu_put(PUT_TICK); }
}
