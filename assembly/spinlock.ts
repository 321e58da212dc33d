// Ticket spinlock on shared memory (layout.ts SL_*), used for the split PTE
// locks, the zone and LRU locks and test locks.
//
// Real part: `next` is taken with a fetch-add, the holder bumps `serving`;
// FIFO like the kernel's ticket/qspinlock. Waiters spin briefly then sleep on
// their own futex word; the unlocker wakes CPUs registered on this lock.
// Virtual part: acquisition completes at max(my clock, release time) + line
// transfer when the previous holder's section overlaps our request (see
// acquired()); the difference to my clock is the lock-class wait time.
//
// Spinning does not change the IRQ state: a CPU that spins with IRQs off
// cannot take the TLB-flush IPI of the holder (see spf pte_map_lock()).

import { TEST_BUILD, header_flags } from './build_flags';
import { SL_NEXT, SL_SERVING, SL_HOLDER, SL_CLASS, SL_RELEASE, SL_WAITERS, SL_HOLD, SL_LINE, WAIT_SPIN, FLAG_NO_LOCK } from './layout';
import { cpu_id, now, set_clock, stat_inc, stat_get, lock_stat, wait_excluding_ipi, obs_flags } from './cpu';
import { obs_lock_acquired, obs_lock_released } from './obs';
import { STAT_IPI_CYCLES } from './generated';
import { line_rmw, line_read, line_write, line_is_hot, line_wait_accounting, line_owner } from './cacheline';
import { wait_prepare, wait_token, wait_sleep, wait_finish, wake_waiters, sched_sync } from './wait';
import { STAT_TRYLOCK_FAIL } from './generated';
import { FN_RAW_SPIN_LOCK } from './generated';
import { fn_enter, fn_exit } from './obs';

/** Initialise a lock of class `cls` (LOCK_CLASS_*). */
export function spin_lock_init(l: u32, cls: u32): void {
  store<u32>(l + SL_NEXT, 0);
  store<u32>(l + SL_SERVING, 0);
  store<u32>(l + SL_HOLDER, 0);
  store<u32>(l + SL_CLASS, cls);
  store<u64>(l + SL_RELEASE, 0);
  store<u32>(l + SL_WAITERS, 0);
  store<u32>(l + SL_HOLD, 0);
}

/**
 * Called with the lock just taken (really): settle virtual time and stats.
 * We wait (in virtual time) for the previous holder only if we asked for the
 * lock at or after it took it: a section that began after our request ran
 * ahead of us in virtual time and does not delay us, unless the lock's line
 * is hot (a real queue of CPUs wants it).
 */
function acquired(l: u32, t0: u64, ipi0: u64, real_wait: bool, prev_owner: i32): void {
  const rel = atomic.load<u64>(l + SL_RELEASE);
  const hold = <u64>atomic.load<u32>(l + SL_HOLD);
  const acq = rel > hold ? rel - hold : 0;
  const cls = load<u32>(l + SL_CLASS);
  let waited: u64 = 0;
  if (rel > t0 && (t0 >= acq || line_is_hot(l + SL_LINE))) {
    waited = rel - t0;
    if (rel > now()) set_clock(rel);
    line_read(l + SL_LINE); // the line comes back from the releaser
  } else if (real_wait) line_read(l + SL_LINE);
  atomic.store<u32>(l + SL_HOLDER, cpu_id() + 1);
  atomic.store<u32>(l + SL_HOLD, <u32>now()); // acquisition time (low bits) until the unlock turns it into the hold
  lock_stat(cls, 0, 1);
  if (waited > 0 || real_wait) lock_stat(cls, 1, 1);
  const w = wait_excluding_ipi(waited, ipi0);
  lock_stat(cls, 2, w);
  if (obs_flags() != 0) obs_lock_acquired(cls, prev_owner, waited > 0 || real_wait, w, l + SL_LINE, t0, false);
}

/** spin_lock(): caller must not already hold `l`. */
function spin_lock__body(l: u32): void {
  if (TEST_BUILD && (header_flags() & FLAG_NO_LOCK)) return;
  const t0 = now();
  const ipi0 = stat_get(STAT_IPI_CYCLES);
  const ticket = atomic.add<u32>(l + SL_NEXT, 1);
  const prev = obs_flags() != 0 ? line_owner(l + SL_LINE) : -1;
  line_wait_accounting(false);
  line_rmw(l + SL_LINE);
  line_wait_accounting(true);
  let real_wait = false;
  if (atomic.load<u32>(l + SL_SERVING) != ticket) {
    real_wait = true;
    atomic.add<u32>(l + SL_WAITERS, 1);
    wait_prepare(l, WAIT_SPIN);
    // retry: woken by an unlock that served an earlier ticket
    while (true) {
      const w = wait_token();
      if (atomic.load<u32>(l + SL_SERVING) == ticket) break;
      wait_sleep(w);
    }
    wait_finish();
    atomic.sub<u32>(l + SL_WAITERS, 1);
  }
  acquired(l, t0, ipi0, real_wait, prev);
}
/** spin_lock() as a frame of the flame graph (obs.ts) */
@inline export function spin_lock(l: u32): void {
  fn_enter(FN_RAW_SPIN_LOCK);
  spin_lock__body(l);
  fn_exit();
}

/** spin_trylock(): true if taken. Never waits. */
export function spin_trylock(l: u32): bool {
  if (TEST_BUILD && (header_flags() & FLAG_NO_LOCK)) return true;
  sched_sync();
  const t0 = now();
  const s = atomic.load<u32>(l + SL_SERVING);
  if (atomic.load<u32>(l + SL_NEXT) != s || atomic.cmpxchg<u32>(l + SL_NEXT, s, s + 1) != s) {
    line_read(l + SL_LINE);
    stat_inc(STAT_TRYLOCK_FAIL);
    return false;
  }
  const prev = obs_flags() != 0 ? line_owner(l + SL_LINE) : -1;
  line_wait_accounting(false);
  line_rmw(l + SL_LINE);
  line_wait_accounting(true);
  acquired(l, t0, stat_get(STAT_IPI_CYCLES), false, prev);
  return true;
}

/** spin_unlock(): caller holds `l`. */
export function spin_unlock(l: u32): void {
  if (TEST_BUILD && (header_flags() & FLAG_NO_LOCK)) return;
  line_write(l + SL_LINE);
  atomic.store<u32>(l + SL_HOLDER, 0);
  const hold = <u32>now() - atomic.load<u32>(l + SL_HOLD);
  atomic.store<u32>(l + SL_HOLD, hold);
  if (obs_flags() != 0) obs_lock_released(load<u32>(l + SL_CLASS), l + SL_LINE, <u64>hold, false);
  atomic.store<u64>(l + SL_RELEASE, now());
  atomic.add<u32>(l + SL_SERVING, 1);
  if (atomic.load<u32>(l + SL_WAITERS) != 0) wake_waiters(l);
}

@inline export function spin_is_locked(l: u32): bool {
  return atomic.load<u32>(l + SL_NEXT) != atomic.load<u32>(l + SL_SERVING);
}
@inline export function spin_holder(l: u32): i32 { return <i32>atomic.load<u32>(l + SL_HOLDER) - 1; }
