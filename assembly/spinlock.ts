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
//
// Every word of the lock shares its one modelled line (layout.ts SL_WORDS):
// each is accessed through shared.ts naming that line, and paid for by the
// line transaction of the step it belongs to (the ticket's RMW, the unlock's
// store, the read when the line comes back from the releaser).

import { TEST_BUILD, header_flags } from './build_flags';
import { SL_NEXT, SL_SERVING, SL_HOLDER, SL_CLASS, SL_RELEASE, SL_WAITERS, SL_HOLD, SL_WORDS, WAIT_SPIN, FLAG_NO_LOCK } from './layout';
import { cpu_id, now, set_clock, stat_inc, stat_get, lock_stat, wait_excluding_ipi, obs_flags } from './cpu';
import { obs_lock_acquired, obs_lock_released } from './obs';
import { STAT_IPI_CYCLES } from './generated';
import { line_is_hot, line_wait_accounting, line_owner } from './cacheline';
import { shared_line, shared_read, shared_rmw, shared_write, word_load, word_store, word_add, word_sub, word_cas, word_get, word_peek, word_init } from './shared';
import { wait_prepare, wait_token, wait_sleep, wait_finish, wake_waiters, sched_sync } from './wait';
import { STAT_TRYLOCK_FAIL } from './generated';
import { FN_RAW_SPIN_LOCK } from './generated';
import { fn_enter, fn_exit } from './obs';

/** Initialise a lock of class `cls` (LOCK_CLASS_*). */
export function spin_lock_init(l: u32, cls: u32): void {
  word_init<u32>(l, SL_WORDS, SL_NEXT, 0);
  word_init<u32>(l, SL_WORDS, SL_SERVING, 0);
  word_init<u32>(l, SL_WORDS, SL_HOLDER, 0);
  word_init<u32>(l, SL_WORDS, SL_CLASS, cls);
  word_init<u64>(l, SL_WORDS, SL_RELEASE, 0);
  word_init<u32>(l, SL_WORDS, SL_WAITERS, 0);
  word_init<u32>(l, SL_WORDS, SL_HOLD, 0);
}

/**
 * Called with the lock just taken (really): settle virtual time and stats.
 * We wait (in virtual time) for the previous holder only if we asked for the
 * lock at or after it took it: a section that began after our request ran
 * ahead of us in virtual time and does not delay us, unless the lock's line
 * is hot (a real queue of CPUs wants it).
 */
function acquired(l: u32, t0: u64, ipi0: u64, real_wait: bool, prev_owner: i32): void {
  const rel = word_load<u64>(l, SL_WORDS, SL_RELEASE);
  const hold = <u64>word_load<u32>(l, SL_WORDS, SL_HOLD);
  const acq = rel > hold ? rel - hold : 0;
  const cls = word_get<u32>(l, SL_WORDS, SL_CLASS);
  let waited: u64 = 0;
  if (rel > t0 && (t0 >= acq || line_is_hot(shared_line(l, SL_WORDS)))) {
    waited = rel - t0;
    if (rel > now()) set_clock(rel);
    shared_read(l, SL_WORDS); // the line comes back from the releaser
  } else if (real_wait) shared_read(l, SL_WORDS);
  word_store<u32>(l, SL_WORDS, SL_HOLDER, cpu_id() + 1);
  word_store<u32>(l, SL_WORDS, SL_HOLD, <u32>now()); // acquisition time (low bits) until the unlock turns it into the hold
  lock_stat(cls, 0, 1);
  if (waited > 0 || real_wait) lock_stat(cls, 1, 1);
  const w = wait_excluding_ipi(waited, ipi0);
  lock_stat(cls, 2, w);
  if (obs_flags() != 0) obs_lock_acquired(cls, prev_owner, waited > 0 || real_wait, w, shared_line(l, SL_WORDS), t0, false);
}

/** spin_lock(): caller must not already hold `l`. */
function spin_lock__body(l: u32): void {
  if (TEST_BUILD && (header_flags() & FLAG_NO_LOCK)) return;
  const t0 = now();
  const ipi0 = stat_get(STAT_IPI_CYCLES);
  const ticket = word_add<u32>(l, SL_WORDS, SL_NEXT, 1);
  const prev = obs_flags() != 0 ? line_owner(shared_line(l, SL_WORDS)) : -1;
  line_wait_accounting(false);
  shared_rmw(l, SL_WORDS);
  line_wait_accounting(true);
  let real_wait = false;
  if (word_load<u32>(l, SL_WORDS, SL_SERVING) != ticket) {
    real_wait = true;
    word_add<u32>(l, SL_WORDS, SL_WAITERS, 1);
    wait_prepare(l, WAIT_SPIN);
    // retry: woken by an unlock that served an earlier ticket
    while (true) {
      const w = wait_token();
      if (word_load<u32>(l, SL_WORDS, SL_SERVING) == ticket) break;
      wait_sleep(w);
    }
    wait_finish();
    word_sub<u32>(l, SL_WORDS, SL_WAITERS, 1);
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
  const s = word_load<u32>(l, SL_WORDS, SL_SERVING);
  if (word_load<u32>(l, SL_WORDS, SL_NEXT) != s || word_cas<u32>(l, SL_WORDS, SL_NEXT, s, s + 1) != s) {
    shared_read(l, SL_WORDS);
    stat_inc(STAT_TRYLOCK_FAIL);
    return false;
  }
  const prev = obs_flags() != 0 ? line_owner(shared_line(l, SL_WORDS)) : -1;
  line_wait_accounting(false);
  shared_rmw(l, SL_WORDS);
  line_wait_accounting(true);
  acquired(l, t0, stat_get(STAT_IPI_CYCLES), false, prev);
  return true;
}

/** spin_unlock(): caller holds `l`. */
export function spin_unlock(l: u32): void {
  if (TEST_BUILD && (header_flags() & FLAG_NO_LOCK)) return;
  shared_write(l, SL_WORDS);
  word_store<u32>(l, SL_WORDS, SL_HOLDER, 0);
  const hold = <u32>now() - word_load<u32>(l, SL_WORDS, SL_HOLD);
  word_store<u32>(l, SL_WORDS, SL_HOLD, hold);
  if (obs_flags() != 0) obs_lock_released(word_get<u32>(l, SL_WORDS, SL_CLASS), shared_line(l, SL_WORDS), <u64>hold, false);
  word_store<u64>(l, SL_WORDS, SL_RELEASE, now());
  word_add<u32>(l, SL_WORDS, SL_SERVING, 1);
  if (word_load<u32>(l, SL_WORDS, SL_WAITERS) != 0) wake_waiters(l);
}

@inline export function spin_is_locked(l: u32): bool {
  return word_peek<u32>(l, SL_WORDS, SL_NEXT) != word_peek<u32>(l, SL_WORDS, SL_SERVING);
}
@inline export function spin_holder(l: u32): i32 { return <i32>word_peek<u32>(l, SL_WORDS, SL_HOLDER) - 1; }
