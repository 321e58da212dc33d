// The lax quantum barrier of parallel mode: a CPU may run while its clock is
// below (epoch + 2) * quantum, where epoch = floor(min clock of RUNNING /
// AT_BARRIER / RUNNABLE CPUs / quantum). CPUs that wait (on a lock, an ack) or
// have finished are not waited for, otherwise a lock holder at the barrier and
// its waiter would deadlock the emulator.
//
// Invariant: a woken waiter is counted from its wake-up until it runs (wake_cpu
// makes it RUNNABLE; it sets WAITING itself if it parks again). Between the two
// lies only host time, its thread's scheduling latency: uncounted, the CPUs that
// do not wait would run ahead in virtual time meanwhile, and the waiter (a lock's
// next owner, a shootdown initiator whose acks came in) would resume far behind
// them, then pay the gap as waits: its IPIs acked at their clocks, hot lines busy
// until their clocks. A hand-off chain (the rwsem's FIFO list: each release wakes
// one particular CPU) made that gap the largest term of parallel mode's error.

import { HDR_BASE, H_EPOCH, H_LAGGARD, PC_STATE, PC_WAKE, PC_WAIT_KIND, PC_CLOCK, CPU_RUNNING, CPU_AT_BARRIER, CPU_RUNNABLE, WAIT_NONE, WAIT_BARRIER, percpu } from './layout';
import { PC, NCPUS, cpu_local, cpu_id, now, stat_inc } from './cpu';
import { STAT_BARRIER_WAIT, STAT_WAKEUP_RESCUED } from './generated';
import { service_ipis } from './ipi';
import { QUANTUM, COUNT, rq, RQ_PARK_TOKEN, irq_owed, wake_cpu_raw, rescue_disarm, rescue_taken } from './runq';
import { check_stop } from './stop';
import { sched_switch } from './coroutine';
import { worker_sleep_until_woken } from './threads';

@inline function counted(st: u32): bool { return st == CPU_RUNNING || st == CPU_AT_BARRIER || st == CPU_RUNNABLE; }

/**
 * Advance the epoch if every counted CPU has passed it.
 *
 * Any one counted CPU still below (epoch + 1) * quantum (a witness) proves the
 * epoch cannot move yet, so the look stops at the first witness: it starts at the
 * CPU that was the witness last time (H_LAGGARD, usually still one) and goes round
 * the CPUs from there. Only a look that finds no witness reads every CPU (and
 * then advances). Cost: each call passes over the CPUs that left the epoch since
 * the witness it ends at, not over every CPU: O(CPUs) per epoch rather than per
 * wait, since the starting point moves on round the CPUs as witnesses leave.
 * (The decision is the full minimum's: a witness means min / q <= epoch.)
 */
export function barrier_try_advance(): void {
  const q = QUANTUM;
  const me = cpu_id();
  const e = atomic.load<u32>(HDR_BASE + H_EPOCH);
  const bound: u64 = (<u64>e + 1) * q; // a counted CPU below this holds the epoch at e
  const lag1 = atomic.load<u32>(HDR_BASE + H_LAGGARD);
  let c: u32 = lag1 != 0 && lag1 <= NCPUS ? lag1 - 1 : 0;
  let min: u64 = u64.MAX_VALUE;
  for (let i: u32 = 0; i < NCPUS; i++, c = c + 1 == NCPUS ? 0 : c + 1) {
    const pc = percpu(c);
    if (!counted(atomic.load<u32>(pc + PC_STATE))) continue;
    const t = c == me ? now() : atomic.load<u64>(pc + PC_CLOCK);
    if (t < bound) {
      if (c + 1 != lag1) atomic.store<u32>(HDR_BASE + H_LAGGARD, c + 1);
      return;
    }
    if (t < min) min = t;
  }
  if (min == u64.MAX_VALUE) return;
  const ne = <u32>(min / q);
  if (ne > e && atomic.cmpxchg<u32>(HDR_BASE + H_EPOCH, e, ne) == e) {
    for (let o: u32 = 0; o < NCPUS; o++) {
      if (o == me) continue;
      const pc = percpu(o);
      const st = atomic.load<u32>(pc + PC_STATE);
      // (and one made RUNNABLE but not yet resumed in barrier_wait, by a wake-up or the safety
      // net: it needs no wake-up, but its token must move, or it would count as a rescue)
      if (st == CPU_AT_BARRIER || (st == CPU_RUNNABLE && atomic.load<u32>(pc + PC_WAIT_KIND) == WAIT_BARRIER)) wake_cpu_raw(o);
    }
  }
}

export function barrier_wait(): void {
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
    rescue_disarm(cpu_id()); // (not over: a look the safety net gave us rescued nothing)
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
      // resumed, we were RUNNING from the epoch load above until the store just done, and an
      // advance in between did not wake us (it wakes AT_BARRIER CPUs only): look at the epoch
      // again now that an advancer sees us (its CAS before its look, our store before ours)
      if (<u64>atomic.load<u32>(HDR_BASE + H_EPOCH) != e) continue;
      sched_switch();
    } else {
      worker_sleep_until_woken(w);
    }
  }
  // resumed by the safety net, nobody woke us since, and the epoch had moved: a lost wake-up
  if (rescue_taken(cpu_id(), PC)) stat_inc(STAT_WAKEUP_RESCUED);
  atomic.store<u32>(PC + PC_WAIT_KIND, WAIT_NONE);
  atomic.store<u32>(PC + PC_STATE, CPU_RUNNING);
  l.next_advance_check = (now() / QUANTUM + 1) * QUANTUM;
}
