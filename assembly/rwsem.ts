// Reader/writer semaphore (layout.ts RW_*): mmap_lock and the per-VMA lock.
//
// count > 0: that many readers; count == RWSEM_WRITER: one writer; 0: free.
// Writers announce themselves in RW_WWAIT; new readers queue behind a waiting
// writer (as Linux's rwsem hands off to a waiting writer), trylock fails.
// Every reader acquire and release is an atomic RMW on the count's cache
// line: at high CPU counts that line, not the critical section, bounds a
// read-mostly mmap_lock (the effect SPF and per-VMA locks remove).
// Virtual time: RW_RELEASE / RW_HOLD describe the last WRITER's section; a
// CPU that asked during it waits until its end (settle()). A writer behind
// readers is delayed by the count line's serialization of their up_read()s.

import { RW_COUNT, RW_WWAIT, RW_WRITER, RW_CLASS, RW_RELEASE, RW_WAITERS, RW_HOLD, RW_LINE, RWSEM_WRITER, WAIT_RWSEM_READ, WAIT_RWSEM_WRITE } from './layout';
import { cpu_id, now, set_clock, stat_inc, stat_get, lock_stat, wait_excluding_ipi, charge, cost, OBS } from './cpu';
import { obs_lock_acquired, obs_lock_released, obs_read_start } from './obs';
import { STAT_IPI_CYCLES } from './generated';
import { line_rmw, line_read, line_is_hot, line_wait_accounting, line_owner } from './cacheline';
import { wait_prepare, wait_token, wait_sleep, wait_finish, wake_waiters, sched_sync } from './wait';
import { STAT_TRYLOCK_FAIL, STAT_RWSEM_SLEEP, LOCK_CLASS_MM_RB_READ, COST_IPI_SEND, COST_IPI_DELIVER, COST_IPI_HANDLER } from './generated';

// Sleeping waiters (kernel/locking/rwsem.c; rwsem-xadd.c before 5.3): a reader
// that finds a writer holding or waiting never spins (rwsem_down_read_slowpath:
// queue, schedule(); the optimistic spinning of readers existed only from 5.3
// to 5.11, "locking/rwsem: Remove reader optimistic spinning"). It runs again
// only after the releaser's wake-up reaches it: rwsem_wake -> wake_up_q ->
// try_to_wake_up sends a reschedule IPI to the sleeper's CPU, idle since it
// slept (each emulated thread has a CPU of its own), which takes the interrupt
// and switches back to the task. That hand-over is charged as the profile's
// IPI send + delivery + handler, after the release. A writer is not charged
// one: it spins on a running writer owner (rwsem_optimistic_spin) and, since
// 5.3, on readers for a while too ("locking/rwsem: Enable time-based spinning
// on reader-owned rwsem"); 4.17 writers slept behind readers: not modelled.
@inline function wakeup_latency(): u64 { return cost(COST_IPI_SEND) + cost(COST_IPI_DELIVER) + cost(COST_IPI_HANDLER); }

/** `cls` is the read-side class; the write side is cls + 1 (LOCK_CLASS_MMAP_READ/WRITE, VMA_READ/WRITE). */
export function rwsem_init(s: u32, cls: u32): void {
  store<i32>(s + RW_COUNT, 0);
  store<u32>(s + RW_WWAIT, 0);
  store<u32>(s + RW_WRITER, 0);
  store<u32>(s + RW_CLASS, cls);
  store<u64>(s + RW_RELEASE, 0);
  store<u32>(s + RW_WAITERS, 0);
  store<u32>(s + RW_HOLD, 0);
}

/**
 * Settle virtual time after taking the lock: wait for the last WRITER's
 * section if we asked at or after it began (as spinlock.ts acquired()).
 * Waits behind readers are modeled by the count line's serialization.
 */
function settle(s: u32, cls: u32, t0: u64, ipi0: u64, real_wait: bool, line_wait: u64, slept: bool, prev_owner: i32, read: bool): void {
  const rel = atomic.load<u64>(s + RW_RELEASE);
  const hold = <u64>atomic.load<u32>(s + RW_HOLD);
  const acq = rel > hold ? rel - hold : 0;
  let waited: u64 = 0;
  if (rel > t0 && (t0 >= acq || line_is_hot(s + RW_LINE))) {
    waited = rel - t0;
    if (rel > now()) set_clock(rel);
    line_read(s + RW_LINE);
  } else if (real_wait && now() > t0) waited = now() - t0;
  else waited = line_wait; // queued behind other CPUs' RMWs on the count's line (readers bouncing it)
  // SPF v11's mm_rb_lock is an rwlock_t, which spins: only the rwsems (mmap_lock, the VMA lock) sleep
  if (slept && cls != LOCK_CLASS_MM_RB_READ && cls != LOCK_CLASS_MM_RB_READ + 1) {
    // the wake-up reaches us only now (see wakeup_latency)
    const w = wakeup_latency();
    charge(w);
    waited += w;
    stat_inc(STAT_RWSEM_SLEEP);
  }
  lock_stat(cls, 0, 1);
  if (real_wait || waited > 0) lock_stat(cls, 1, 1);
  const wx = wait_excluding_ipi(waited, ipi0);
  lock_stat(cls, 2, wx);
  if (OBS != 0) obs_lock_acquired(cls, prev_owner, real_wait || waited > 0, wx, s + RW_LINE, t0, read);
}

@inline function try_read(s: u32): bool {
  const c = atomic.load<i32>(s + RW_COUNT);
  return c >= 0 && atomic.load<u32>(s + RW_WWAIT) == 0 && atomic.cmpxchg<i32>(s + RW_COUNT, c, c + 1) == c;
}

export function down_read(s: u32): void {
  const t0 = now();
  const ipi0 = stat_get(STAT_IPI_CYCLES);
  const prev = OBS != 0 ? line_owner(s + RW_LINE) : -1;
  line_wait_accounting(false);
  const lw = line_rmw(s + RW_LINE);
  line_wait_accounting(true);
  let real_wait = false;
  let slept = false;
  if (!try_read(s)) {
    real_wait = true;
    atomic.add<u32>(s + RW_WAITERS, 1);
    wait_prepare(s, WAIT_RWSEM_READ);
    // retry: a writer holds or waits, or another reader raced our CAS
    while (true) {
      const w = wait_token();
      // a writer holds or waits: this reader queues and sleeps (a lost CAS race with a reader is no wait in Linux: its count is an atomic add)
      if (atomic.load<i32>(s + RW_COUNT) < 0 || atomic.load<u32>(s + RW_WWAIT) != 0) slept = true;
      if (try_read(s)) break;
      wait_sleep(w);
    }
    wait_finish();
    atomic.sub<u32>(s + RW_WAITERS, 1);
  }
  settle(s, load<u32>(s + RW_CLASS), t0, ipi0, real_wait, lw, slept, prev, true);
}

export function down_read_trylock(s: u32): bool {
  sched_sync();
  // retry: only a racing reader's CAS can make us fail while the lock is readable
  while (true) {
    const c = atomic.load<i32>(s + RW_COUNT);
    if (c < 0 || atomic.load<u32>(s + RW_WWAIT) != 0) {
      line_read(s + RW_LINE);
      stat_inc(STAT_TRYLOCK_FAIL);
      return false;
    }
    if (atomic.cmpxchg<i32>(s + RW_COUNT, c, c + 1) == c) break;
  }
  const t0 = now();
  const ipi0 = stat_get(STAT_IPI_CYCLES);
  const prev = OBS != 0 ? line_owner(s + RW_LINE) : -1;
  line_wait_accounting(false);
  const lw = line_rmw(s + RW_LINE);
  line_wait_accounting(true);
  settle(s, load<u32>(s + RW_CLASS), t0, ipi0, false, lw, false, prev, true);
  return true;
}

export function up_read(s: u32): void {
  line_rmw(s + RW_LINE);
  if (OBS != 0) obs_lock_released(load<u32>(s + RW_CLASS), s + RW_LINE, 0, true);
  const c = atomic.sub<i32>(s + RW_COUNT, 1);
  if (c == 1 && atomic.load<u32>(s + RW_WAITERS) != 0) wake_waiters(s);
}

@inline function try_write(s: u32): bool {
  return atomic.cmpxchg<i32>(s + RW_COUNT, 0, RWSEM_WRITER) == 0;
}

export function down_write(s: u32): void {
  const t0 = now();
  const ipi0 = stat_get(STAT_IPI_CYCLES);
  const prev = OBS != 0 ? line_owner(s + RW_LINE) : -1;
  line_wait_accounting(false);
  const lw = line_rmw(s + RW_LINE);
  line_wait_accounting(true);
  let real_wait = false;
  if (!try_write(s)) {
    real_wait = true;
    atomic.add<u32>(s + RW_WWAIT, 1);
    atomic.add<u32>(s + RW_WAITERS, 1);
    wait_prepare(s, WAIT_RWSEM_WRITE);
    // retry: readers or another writer still hold it
    while (true) {
      const w = wait_token();
      if (try_write(s)) break;
      wait_sleep(w);
    }
    wait_finish();
    atomic.sub<u32>(s + RW_WAITERS, 1);
    atomic.sub<u32>(s + RW_WWAIT, 1);
  }
  atomic.store<u32>(s + RW_WRITER, cpu_id() + 1);
  settle(s, load<u32>(s + RW_CLASS) + 1, t0, ipi0, real_wait, lw, false, prev, false);
  atomic.store<u32>(s + RW_HOLD, <u32>now()); // acquisition time (low bits) until up_write turns it into the hold
}

export function up_write(s: u32): void {
  line_rmw(s + RW_LINE);
  atomic.store<u32>(s + RW_WRITER, 0);
  const hold = <u32>now() - atomic.load<u32>(s + RW_HOLD);
  atomic.store<u32>(s + RW_HOLD, hold);
  if (OBS != 0) obs_lock_released(load<u32>(s + RW_CLASS) + 1, s + RW_LINE, <u64>hold, false);
  atomic.store<u64>(s + RW_RELEASE, now());
  atomic.store<i32>(s + RW_COUNT, 0);
  if (atomic.load<u32>(s + RW_WAITERS) != 0) wake_waiters(s);
}

/** downgrade_write(): writer becomes a reader without letting another writer in. */
export function downgrade_write(s: u32): void {
  line_rmw(s + RW_LINE);
  atomic.store<u32>(s + RW_WRITER, 0);
  const hold = <u32>now() - atomic.load<u32>(s + RW_HOLD);
  atomic.store<u32>(s + RW_HOLD, hold);
  if (OBS != 0) { obs_lock_released(load<u32>(s + RW_CLASS) + 1, s + RW_LINE, <u64>hold, false); obs_read_start(load<u32>(s + RW_CLASS)); }
  atomic.store<u64>(s + RW_RELEASE, now());
  atomic.store<i32>(s + RW_COUNT, 1);
  if (atomic.load<u32>(s + RW_WAITERS) != 0) wake_waiters(s);
}

@inline export function rwsem_is_locked(s: u32): bool { return atomic.load<i32>(s + RW_COUNT) != 0; }
@inline export function rwsem_is_write_locked(s: u32): bool { return atomic.load<i32>(s + RW_COUNT) == RWSEM_WRITER; }
