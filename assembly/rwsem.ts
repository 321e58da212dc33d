// Reader/writer semaphore (layout.ts RW_*): mmap_lock, the per-VMA lock, and
// (without sleeping) SPF v11's mm_rb_lock rwlock.
//
// count > 0: that many readers; count == RWSEM_WRITER: one writer; 0: free.
// Every reader acquire and release is an atomic RMW on the count's cache
// line: at high CPU counts that line, not the critical section, bounds a
// read-mostly mmap_lock (the effect SPF and per-VMA locks remove).
// Virtual time: RW_RELEASE / RW_HOLD describe the last WRITER's section; a
// CPU that asked during it waits until its end (settle()). A writer behind
// readers is delayed by the count line's serialization of their up_read()s.
//
// The wait list (kernel/locking/rwsem.c; rwsem-xadd.c before 5.3) is FIFO:
// a CPU that cannot take the lock joins it (PC_RWQ, ordered by PC_RWQ_SINCE)
// and sleeps. Invariants, as Linux's:
//  - a reader never passes the wait list: with anyone in it, a new reader
//    joins it (4.17 __down_read: the waiting bias makes the count <= 0; 5.3+:
//    RWSEM_FLAG_WAITERS is in RWSEM_READ_FAILED_MASK), and so does trylock fail;
//  - the readers at the head, up to the first writer, get the lock together
//    as soon as no writer holds it (__rwsem_mark_wake grants them the read
//    lock BEFORE they run: the lock is theirs while their wake-up travels);
//  - a writer at the head is only woken: it takes the lock once it runs, if
//    the lock is free then;
//  - a writer that finds a writer owner does not join the list: it spins
//    (rwsem_optimistic_spin) and takes the lock the moment it is free, ahead
//    of the list (lock stealing), unless readers head the list (they were
//    granted at the release) or RWSEM_FLAG_HANDOFF is set; a writer that finds
//    readers owning the lock joins the list at once under 4.17 (before 5.3:
//    see rwsem_53()), and after spinning rwsem_rspin_threshold() ((20 +
//    readers) / 2 us) under 5.3+;
//  - RWSEM_FLAG_HANDOFF (5.3+ only, commit 4f23dbc1e657 "locking/rwsem: Implement
//    lock handoff to prevent lock starvation"): the head, once it has waited
//    RWSEM_WAIT_TIMEOUT (4 ms: DIV_ROUND_UP(HZ, 250) jiffies at HZ=1000),
//    sets it; nobody but the head takes the lock while it is set; the head
//    clears it when it gets the lock.
// Without the list (this file before), readers were refused while any writer
// waited and every waiter raced at each release: writers could starve readers
// and each other for the whole run.

// Sleeping waiters: a CPU in the wait list runs again only after the
// releaser's wake-up reaches it: rwsem_wake -> wake_up_q -> try_to_wake_up
// sends a reschedule IPI to the sleeper's CPU, idle since it slept (each
// emulated thread has a CPU of its own), which takes the interrupt and
// switches back to the task. That hand-over is charged as the profile's IPI
// send + delivery + handler: for a reader after the grant (the lock is held
// meanwhile), for a writer before it may take the lock. A spinning writer is
// charged none. SPF v11's mm_rb_lock is an rwlock_t (a queued rwlock, fair in
// the same order): it spins, no wake-up.
//
// Wake order: the releaser wakes the sleepers it granted one after another
// (rwsem-xadd.c __rwsem_mark_wake() puts the readers at the head on a wake_q,
// then rwsem_wake() -> wake_up_q() calls try_to_wake_up() for each in list
// order; 5.3+ rwsem.c rwsem_mark_wake() the same), and each try_to_wake_up()
// of a task whose CPU is idle sends that CPU its own reschedule IPI
// (ttwu_queue() -> resched_curr() -> smp_send_reschedule(), kernel/sched/core.c;
// an idle CPU that halts does not poll TIF_NEED_RESCHED, so it must be
// interrupted). So the k-th reader woken (k from 0) is reached k IPI sends
// later than the first (PC_WAKE_RANK), and the releaser spends one send per
// sleeper it wakes. On bare metal a send is an ICR write (~150 cycles); in a
// guest without PV IPIs each is an exit (kvm-hsw-16vcpu: 1.54 us), and the
// last of 15 granted readers is reached ~20 us after the first.

import {
  RW_COUNT, RW_WAITLIST, RW_WRITER, RW_CLASS, RW_RELEASE, RW_WAITERS, RW_HOLD, RW_WORDS, RWSEM_WRITER, RWSEM_FLAG_HANDOFF, RWSEM_WAITLIST_MASK,
  WAIT_RWSEM_READ, WAIT_RWSEM_WRITE, SET_MUNMAP_DOWNGRADE, setting, PC_WAIT_OBJ, PC_IDLE_SINCE, PC_RWQ, PC_RWQ_SINCE, PC_WAKE_RANK, PC_WAKE_LINK, PC_VCPU_FREE, RWQ_READER, RWQ_WRITER, RWQ_SPINNER, HDR_BASE, H_GHZ_MILLI, percpu,
} from './layout';
import { PC, NCPUS, RUNQ, DETERMINISTIC, cpu_id, now, set_clock, stat_inc, stat_add, stat_get, lock_stat, wait_excluding_ipi, charge, cost, obs_flags } from './cpu';
import { obs_lock_acquired, obs_lock_released, obs_read_start } from './obs';
import { STAT_IPI_CYCLES, STAT_RWSEM_WAKE_ORDER_CYCLES } from './generated';
import { strategy, STRATEGY_SPF } from './strategy';
import { cpuidle_enter, cpuidle_exit, cpuidle_end_busy } from './cpuidle';
import { line_is_hot, line_wait_accounting, line_owner } from './cacheline';
import { tlb_flush_all, tlb_flush_all_cost } from './tlb';
import { PUT_SLEEP, vcpu_put, vcpu_get, vcpu_wanted, vcpu_busy, task_on_cpu, vcpu_rq } from './vcpu';
import { wait_prepare, wait_token, wait_sleep, wait_finish, wake_waiters, sched_sync } from './wait';
import { STAT_TRYLOCK_FAIL, STAT_RWSEM_SLEEP, LOCK_CLASS_MM_RB_READ, COST_IPI_SEND, COST_IPI_DELIVER, COST_IPI_HANDLER } from './generated';
import { FN_DOWN_READ, FN_DOWN_WRITE } from './generated';
import { fn_enter, fn_exit } from './obs';
import { shared_line, shared_read, shared_rmw, word_load, word_store, word_add, word_sub, word_or, word_cas, word_get, word_peek, word_init } from './shared';

@inline function wakeup_latency(): u64 { return cost(COST_IPI_SEND) + cost(COST_IPI_DELIVER) + cost(COST_IPI_HANDLER); }

/** The wake-up reaches this sleeper (see wakeup_latency) after the sends to those woken before it (wake order), and its CPU leaves its idle state first (cpuidle.ts); returns the cycles charged. */
function wake_up_sleeper(): u64 {
  const t = now();
  const rank = atomic.load<u32>(PC + PC_WAKE_RANK) & ~WAKE_HEAD_WRITER;
  atomic.store<u32>(PC + PC_WAKE_RANK, 0);
  const order = <u64>rank * cost(COST_IPI_SEND);
  charge(wakeup_latency() + order);
  if (order != 0) stat_add(STAT_RWSEM_WAKE_ORDER_CYCLES, order);
  if (!RUNQ) cpuidle_exit();
  else if (!vcpu_busy(cpu_id())) {
    // a guest run queue (vcpu.ts): the vCPU idled only since its last task left it, and not at all while a sibling runs
    const f = atomic.load<u64>(vcpu_rq(cpu_id()) + PC_VCPU_FREE);
    if (f > load<u64>(PC + PC_IDLE_SINCE)) store<u64>(PC + PC_IDLE_SINCE, f);
    cpuidle_exit();
  } else cpuidle_end_busy();
  stat_inc(STAT_RWSEM_SLEEP);
  return now() - t;
}

/** the rwlock_t (mm_rb_lock) spins; the rwsems sleep */
@inline function sleeps(s: u32): bool {
  const cls = word_get<u32>(s, RW_WORDS, RW_CLASS);
  return cls != LOCK_CLASS_MM_RB_READ && cls != LOCK_CLASS_MM_RB_READ + 1;
}

/**
 * Which rwsem this kernel has: 5.3's rwsem.c (commit 4f23dbc1e657 handoff;
 * commit 7d43f1ce9dd0 "locking/rwsem: Enable time-based spinning on
 * reader-owned rwsem") or the rwsem-xadd.c before it, which neither hands off
 * nor lets writers spin on readers. The SPF series ran on 4.14-5.1 trees, and
 * a machine whose munmap keeps the write lock (SET_MUNMAP_DOWNGRADE 0) is a
 * kernel before 4.20 (commit dd2283f2605e): both have the old rwsem.
 */
@inline function rwsem_53(): bool { return strategy() != STRATEGY_SPF && setting(SET_MUNMAP_DOWNGRADE) != 0; }

/** one microsecond in virtual cycles at the profile's clock */
@inline function usec(): u64 { return <u64>load<u32>(HDR_BASE + H_GHZ_MILLI); }

/** RWSEM_WAIT_TIMEOUT (5.3+): DIV_ROUND_UP(HZ, 250) jiffies, 4 ms at HZ=1000 */
@inline function wait_timeout(): u64 { return usec() * 4000; }

/** rwsem_rspin_threshold() (5.3+): how long a writer spins on `readers` readers before it sleeps: (20 + readers) / 2 us, readers capped at RWSEM_RSPIN_MAX_READERS (32) */
@inline function rspin_threshold(readers: i32): u64 { return usec() * <u64>(20 + (readers > 32 ? 32 : readers)) / 2; }

/** `cls` is the read-side class; the write side is cls + 1 (LOCK_CLASS_MMAP_READ/WRITE, VMA_READ/WRITE). */
export function rwsem_init(s: u32, cls: u32): void {
  word_init<i32>(s, RW_WORDS, RW_COUNT, 0);
  word_init<u32>(s, RW_WORDS, RW_WAITLIST, 0);
  word_init<u32>(s, RW_WORDS, RW_WRITER, 0);
  word_init<u32>(s, RW_WORDS, RW_CLASS, cls);
  word_init<u64>(s, RW_WORDS, RW_RELEASE, 0);
  word_init<u32>(s, RW_WORDS, RW_WAITERS, 0);
  word_init<u32>(s, RW_WORDS, RW_HOLD, 0);
}

// ---------------------------------------------------------- the wait list ---

/** Join the wait list of `s` as `kind` (RWQ_READER / RWQ_WRITER), at the tail: `since`. */
function rwq_join(s: u32, kind: u32, since: u64): void {
  // every rwsem sits 8-aligned (mm and VMA slots are, RW_* offsets in them too): the low 2 bits carry the kind
  store<u64>(PC + PC_RWQ_SINCE, since);
  atomic.store<u32>(PC + PC_WAKE_RANK, 0);
  // the task sleeps and its CPU runs the idle task: x86 leaves the mm's TLB state behind (ipi.ts,
  // "Idle CPUs"); its TLB is flushed here, before it counts as asleep, so a shootdown may skip it
  // (a guest run queue: vcpu_put() below drops the entries as the task leaves its vCPU, so the flush is
  // only charged here: the TLB is emptied once, still before the task counts as off its vCPU)
  const sleep = sleeps(s);
  if (sleep) { if (RUNQ) tlb_flush_all_cost(); else tlb_flush_all(); }
  cpuidle_enter();
  // a guest run queue: the task leaves its vCPU to a sibling (or the vCPU idles)
  if (RUNQ && sleep) vcpu_put(PUT_SLEEP);
  const was = atomic.load<u32>(PC + PC_RWQ);
  atomic.store<u32>(PC + PC_RWQ, s | kind);
  word_add<u32>(s, RW_WORDS, RW_WAITLIST, 1);
  // parallel mode: a woken head that left the lock to us as a spinner (spinner_since) looks again
  // (we stop spinning without taking it: nobody else would wake the head before the next release)
  if (!DETERMINISTIC && was == (s | RWQ_SPINNER) && word_load<u32>(s, RW_WORDS, RW_WAITERS) > 1) wake_waiters(s);
}

/** Leave the wait list (we hold the lock now); RWSEM_FLAG_HANDOFF was the head's: it goes with it. */
function rwq_leave(s: u32): void {
  const head = is_head(s);
  atomic.store<u32>(PC + PC_RWQ, 0);
  // retry: another CPU joins or leaves meanwhile
  while (true) {
    const v = word_load<u32>(s, RW_WORDS, RW_WAITLIST);
    const n = (v & RWSEM_WAITLIST_MASK) - 1;
    const nv = head || n == 0 ? n : n | (v & RWSEM_FLAG_HANDOFF);
    if (word_cas<u32>(s, RW_WORDS, RW_WAITLIST, v, nv) == v) break;
  }
}

/** kinds for ahead_of(): the wait list's members (a spinner is not one) */
const LIST: u32 = (1 << RWQ_READER) | (1 << RWQ_WRITER);

/**
 * Is a CPU of a kind in `kinds` (bit 1 << RWQ_*) ahead of (`since`, `me`) in the wait
 * list of `s`? O(CPUs): only CPUs that cannot take the lock at once look.
 */
function ahead_of(s: u32, kinds: u32, since: u64, me: u32): bool {
  for (let c: u32 = 0; c < NCPUS; c++) {
    if (c == me) continue;
    const pc = percpu(c);
    const q = atomic.load<u32>(pc + PC_RWQ);
    if ((q & ~(<u32>3)) != s || ((<u32>1 << (q & 3)) & kinds) == 0) continue;
    const t = load<u64>(pc + PC_RWQ_SINCE);
    if (t < since || (t == since && c < me)) return true;
  }
  return false;
}

/** Are we (in the list) at its head? */
@inline function is_head(s: u32): bool {
  return !ahead_of(s, LIST, load<u64>(PC + PC_RWQ_SINCE), cpu_id());
}

/** parallel mode: does a writer spin on `s` (the OSQ) since `t` or earlier? */
function spinner_since(s: u32, t: u64): bool {
  const me = cpu_id();
  for (let c: u32 = 0; c < NCPUS; c++) {
    if (c == me) continue;
    const pc = percpu(c);
    if (atomic.load<u32>(pc + PC_RWQ) != (s | RWQ_SPINNER)) continue;
    if (load<u64>(pc + PC_RWQ_SINCE) <= t) return true;
  }
  return false;
}

/** Does a reader head the list (granted at the release: no writer may steal the lock from it)? */
function reader_heads(s: u32): bool {
  let best: u64 = u64.MAX_VALUE;
  let best_cpu: u32 = 0xffffffff;
  let kind: u32 = 0;
  for (let c: u32 = 0; c < NCPUS; c++) {
    const pc = percpu(c);
    const q = atomic.load<u32>(pc + PC_RWQ);
    if ((q & ~(<u32>3)) != s || (q & 3) == RWQ_SPINNER) continue;
    const t = load<u64>(pc + PC_RWQ_SINCE);
    if (t < best || (t == best && c < best_cpu)) { best = t; best_cpu = c; kind = q & 3; }
  }
  return kind == RWQ_READER;
}

/** The head has waited RWSEM_WAIT_TIMEOUT: it sets RWSEM_FLAG_HANDOFF (rwsem.c rwsem_try_write_lock, rwsem_mark_wake). */
function maybe_handoff(s: u32): void {
  if (!rwsem_53()) return;
  if (now() - load<u64>(PC + PC_RWQ_SINCE) < wait_timeout()) return;
  if ((word_load<u32>(s, RW_WORDS, RW_WAITLIST) & RWSEM_FLAG_HANDOFF) != 0 || !is_head(s)) return;
  word_or<u32>(s, RW_WORDS, RW_WAITLIST, RWSEM_FLAG_HANDOFF);
}

/** the key of a granted reader in list order: (when it joined, its CPU id) */
@inline function before(a: u32, b: u32): bool {
  const ta = load<u64>(percpu(a) + PC_RWQ_SINCE);
  const tb = load<u64>(percpu(b) + PC_RWQ_SINCE);
  return ta < tb || (ta == tb && a < b);
}
/** the next CPU of the releaser's list (PC_WAKE_LINK: CPU + 1, 0 ends it) */
@inline function link(c: u32): u32 { return atomic.load<u32>(percpu(c) + PC_WAKE_LINK); }
@inline function set_link(c: u32, next1: u32): void { atomic.store<u32>(percpu(c) + PC_WAKE_LINK, next1); }

/**
 * Sort the list of `k` CPUs starting at CPU `head1` - 1 into list order (before()):
 * a merge sort of the linked list (lib/list_sort.c's job; here bottom-up in runs of
 * 1, 2, 4, ..), O(k log k). Returns the new head + 1.
 *
 * Invariant: every loop is bounded by `k` (and the passes by 32) whatever the links
 * hold. Only a releaser writes PC_WAKE_LINK, and in parallel mode two releases of one
 * rwsem may overlap (a woken reader takes the lock and releases it while the first
 * releaser is still here) and rewrite each other's links: then some ranks are wrong
 * (a few IPI sends), never a hang. Deterministic mode runs one CPU at a time.
 */
function wake_list_sort(head1: u32, k: u32): u32 {
  let list = head1;
  for (let run: u32 = 1, pass = 0; run < k && pass < 32; run <<= 1, pass++) {
    let p = list;
    let tail: u32 = 0;
    list = 0;
    let left = k; // elements this pass may still take
    while (p != 0 && left != 0) {
      // two runs: p (psize long) and q (at most `run` long)
      let q = p;
      let psize: u32 = 0;
      while (psize < run && q != 0) { psize++; q = link(q - 1); }
      let qsize = run;
      while ((psize != 0 || (qsize != 0 && q != 0)) && left != 0) {
        let e: u32;
        if (psize == 0) { e = q; q = link(q - 1); qsize--; }
        else if (qsize == 0 || q == 0 || !before(q - 1, p - 1)) { e = p; p = link(p - 1); psize--; }
        else { e = q; q = link(q - 1); qsize--; }
        if (tail != 0) set_link(tail - 1, e); else list = e;
        tail = e;
        left--;
      }
      p = q;
    }
    if (tail != 0) set_link(tail - 1, 0);
  }
  return list;
}

/**
 * The releaser's wake_up_q() (see Wake order above): the sleepers it wakes are the readers
 * heading the list up to its first writer, or that writer alone if it heads it. Gives each
 * reader its rank in list order (PC_WAKE_RANK); returns how many it wakes (one IPI send each,
 * charge_wakes). O(CPUs) to find them and O(k log k) to rank the k granted (the granted
 * readers are linked through PC_WAKE_LINK and sorted once); only a release with sleepers looks.
 */
function wake_order(s: u32): u32 {
  if (!sleeps(s)) return 0;
  const me = cpu_id();
  // the first writer in the list (u64.MAX: none)
  let wt: u64 = u64.MAX_VALUE;
  let wc: u32 = 0xffffffff;
  let readers: u32 = 0;
  for (let c: u32 = 0; c < NCPUS; c++) {
    if (c == me) continue;
    const pc = percpu(c);
    const q = atomic.load<u32>(pc + PC_RWQ);
    if ((q & ~(<u32>3)) != s) continue;
    if ((q & 3) == RWQ_READER) { readers++; continue; }
    if ((q & 3) != RWQ_WRITER) continue;
    const t = load<u64>(pc + PC_RWQ_SINCE);
    if (t < wt || (t == wt && c < wc)) { wt = t; wc = c; }
  }
  let woken: u32 = 0;
  if (readers != 0) {
    // the granted readers (ahead of the first writer), linked in CPU order
    let head1: u32 = 0;
    for (let c: u32 = NCPUS; c-- > 0;) {
      if (c == me) continue;
      const pc = percpu(c);
      if (atomic.load<u32>(pc + PC_RWQ) != (s | RWQ_READER)) continue;
      const t = load<u64>(pc + PC_RWQ_SINCE);
      if (t > wt || (t == wt && c > wc)) continue; // behind the first writer: not woken by this release
      set_link(c, head1);
      head1 = c + 1;
      woken++;
    }
    // rank: the granted readers ahead of this one in the list
    let e = wake_list_sort(head1, woken);
    for (let rank: u32 = 0; e != 0 && rank < woken; rank++) {
      atomic.store<u32>(percpu(e - 1) + PC_WAKE_RANK, rank);
      e = link(e - 1);
    }
  }
  if (woken == 0 && wc != 0xffffffff) {
    woken = 1; // a writer heads the list: it alone is woken
    // a guest run queue: the wake-up is a try_to_wake_up() of its task, which runs (and may preempt the
    // sibling on its vCPU) whether or not the lock is still free when it looks (down_write__body)
    if (RUNQ) atomic.or<u32>(percpu(wc) + PC_WAKE_RANK, WAKE_HEAD_WRITER);
  }
  return woken;
}

/** PC_WAKE_RANK's top bit: a release woke this task as the writer at the head of the list (a guest run queue only) */
const WAKE_HEAD_WRITER: u32 = 0x80000000;

/** did a release wake us as the head writer since we last looked? (clears it) */
@inline function head_writer_woken(): bool {
  return (atomic.and<u32>(PC + PC_WAKE_RANK, ~WAKE_HEAD_WRITER) & WAKE_HEAD_WRITER) != 0;
}

/**
 * A sleeping writer that rwsem_wake() woke: it runs once the wake-up reaches it
 * (wake_up_sleeper) and, with a guest run queue, once its vCPU is its own (a
 * wait of its own, vcpu.ts), then waits on the lock again to look at it.
 */
function run_woken(s: u32): void {
  wake_up_sleeper();
  if (RUNQ) { vcpu_get(); wait_prepare(s, WAIT_RWSEM_WRITE); }
  sched_sync();
}

/** The releaser's sends, after the release and the wake-ups it started (they do not wait for its clock). */
@inline function charge_wakes(n: u32): void { if (n != 0) charge(<u64>n * cost(COST_IPI_SEND)); }

// ---------------------------------------------------------------- time ---

/** settle() flags: the read side (else the write side) */
const SETTLE_READ: u32 = 1;
/** ... the CPU really waited (joined the wait list or spun) */
const SETTLE_REAL_WAIT: u32 = 2;
/** ... a reader granted from the wait list: its wake-up is charged now */
const SETTLE_SLEPT_READER: u32 = 4;

/**
 * Settle virtual time after taking the lock: wait for the last WRITER's
 * section if we asked at or after it began (as spinlock.ts acquired()).
 * Waits behind readers are modeled by the count line's serialization.
 * `t0`, `ipi0`, `prev_owner`: the clock, the IPI cycles and the line's owner
 * when the CPU asked; `line_wait`: what its RMW on the count's line waited;
 * `how`: SETTLE_*. The lock class is the read side's or the write side's.
 */
function settle(s: u32, t0: u64, ipi0: u64, line_wait: u64, prev_owner: i32, how: u32): void {
  const read = (how & SETTLE_READ) != 0;
  const real_wait = (how & SETTLE_REAL_WAIT) != 0;
  const slept_reader = (how & SETTLE_SLEPT_READER) != 0;
  const cls = word_get<u32>(s, RW_WORDS, RW_CLASS) + (read ? 0 : 1);
  const rel = word_load<u64>(s, RW_WORDS, RW_RELEASE);
  const hold = <u64>word_load<u32>(s, RW_WORDS, RW_HOLD);
  const acq = rel > hold ? rel - hold : 0;
  let waited: u64 = 0;
  if (rel > t0 && (t0 >= acq || line_is_hot(shared_line(s, RW_WORDS)))) {
    waited = rel - t0;
    if (rel > now()) set_clock(rel);
    shared_read(s, RW_WORDS);
    // A reader that asked while the writer held the lock in virtual time, but ran after the
    // writer's whole section on the host (parallel mode: the writer's CPU is another worker's),
    // found it write-locked: it slept in the list from t0 and pays the wake-up as a sleeper
    // granted at the release does.
    if (read && !slept_reader && t0 >= acq && sleeps(s)) {
      store<u64>(PC + PC_IDLE_SINCE, t0);
      waited += wake_up_sleeper();
    }
  } else if (real_wait && now() > t0) waited = now() - t0;
  else waited = line_wait; // queued behind other CPUs' RMWs on the count's line (readers bouncing it)
  if (slept_reader) {
    // granted at the release; the wake-up reaches us only now, and we run once our vCPU is ours (vcpu.ts)
    waited += wake_up_sleeper();
    if (RUNQ) { const tv = now(); vcpu_get(); waited += now() - tv; }
  }
  lock_stat(cls, 0, 1);
  if (real_wait || waited > 0) lock_stat(cls, 1, 1);
  const wx = wait_excluding_ipi(waited, ipi0);
  lock_stat(cls, 2, wx);
  if (obs_flags() != 0) obs_lock_acquired(cls, prev_owner, real_wait || waited > 0, wx, shared_line(s, RW_WORDS), t0, read);
}

// ------------------------------------------------------------- readers ---

@inline function try_read(s: u32): bool {
  const c = word_load<i32>(s, RW_WORDS, RW_COUNT);
  return c >= 0 && word_cas<i32>(s, RW_WORDS, RW_COUNT, c, c + 1) == c;
}

function down_read__body(s: u32): void {
  const t0 = now();
  const ipi0 = stat_get(STAT_IPI_CYCLES);
  const prev = obs_flags() != 0 ? line_owner(shared_line(s, RW_WORDS)) : -1;
  line_wait_accounting(false);
  const lw = shared_rmw(s, RW_WORDS);
  line_wait_accounting(true);
  let real_wait = false;
  let slept = false;
  // the fast path: no writer, nobody in the wait list (a lost CAS race with a reader is no wait in Linux: its count is an atomic add)
  let fast = false;
  // retry: a racing reader's CAS moved the count
  while (word_load<u32>(s, RW_WORDS, RW_WAITLIST) == 0 && word_load<i32>(s, RW_WORDS, RW_COUNT) >= 0) {
    if (try_read(s)) { fast = true; break; }
  }
  if (!fast) {
    real_wait = true;
    rwq_join(s, RWQ_READER, now());
    word_add<u32>(s, RW_WORDS, RW_WAITERS, 1);
    wait_prepare(s, WAIT_RWSEM_READ);
    const me = cpu_id();
    const since = load<u64>(PC + PC_RWQ_SINCE);
    // retry: woken by a release (or an IPI) while a writer holds the lock or is ahead of us in the list
    while (true) {
      const w = wait_token();
      // the readers ahead of the first writer in the list get the lock once no writer holds it
      if (!ahead_of(s, <u32>1 << RWQ_WRITER, since, me)) {
        if (try_read(s)) break;
        if (word_load<i32>(s, RW_WORDS, RW_COUNT) >= 0) continue; // a reader's CAS raced ours
      }
      maybe_handoff(s);
      wait_sleep(w);
    }
    wait_finish();
    word_sub<u32>(s, RW_WORDS, RW_WAITERS, 1);
    rwq_leave(s);
    slept = sleeps(s);
  }
  settle(s, t0, ipi0, lw, prev, SETTLE_READ | (real_wait ? SETTLE_REAL_WAIT : 0) | (slept ? SETTLE_SLEPT_READER : 0));
}
/** down_read() as a frame of the flame graph (obs.ts) */
@inline export function down_read(s: u32): void {
  fn_enter(FN_DOWN_READ);
  down_read__body(s);
  fn_exit();
}

export function down_read_trylock(s: u32): bool {
  sched_sync();
  // retry: only a racing reader's CAS can make us fail while the lock is readable
  while (true) {
    const c = word_load<i32>(s, RW_WORDS, RW_COUNT);
    // 4.17: anyone waiting makes the count < 0; 5.3+: RWSEM_READ_FAILED_MASK holds RWSEM_FLAG_WAITERS
    if (c < 0 || word_load<u32>(s, RW_WORDS, RW_WAITLIST) != 0) {
      shared_read(s, RW_WORDS);
      stat_inc(STAT_TRYLOCK_FAIL);
      return false;
    }
    if (word_cas<i32>(s, RW_WORDS, RW_COUNT, c, c + 1) == c) break;
  }
  const t0 = now();
  const ipi0 = stat_get(STAT_IPI_CYCLES);
  const prev = obs_flags() != 0 ? line_owner(shared_line(s, RW_WORDS)) : -1;
  line_wait_accounting(false);
  const lw = shared_rmw(s, RW_WORDS);
  line_wait_accounting(true);
  settle(s, t0, ipi0, lw, prev, SETTLE_READ);
  return true;
}

export function up_read(s: u32): void {
  shared_rmw(s, RW_WORDS);
  if (obs_flags() != 0) obs_lock_released(word_get<u32>(s, RW_WORDS, RW_CLASS), shared_line(s, RW_WORDS), 0, true);
  const c = word_sub<i32>(s, RW_WORDS, RW_COUNT, 1);
  if (c == 1 && word_load<u32>(s, RW_WORDS, RW_WAITERS) != 0) { const n = wake_order(s); wake_waiters(s); charge_wakes(n); }
}

// ------------------------------------------------------------- writers ---

@inline function try_write(s: u32): bool {
  return word_cas<i32>(s, RW_WORDS, RW_COUNT, 0, RWSEM_WRITER) == 0;
}

function down_write__body(s: u32): void {
  const t0 = now();
  const ipi0 = stat_get(STAT_IPI_CYCLES);
  const prev = obs_flags() != 0 ? line_owner(shared_line(s, RW_WORDS)) : -1;
  line_wait_accounting(false);
  const lw = shared_rmw(s, RW_WORDS);
  line_wait_accounting(true);
  let real_wait = false;
  // the fast path: free and nobody waiting
  if (!(word_load<u32>(s, RW_WORDS, RW_WAITLIST) == 0 && try_write(s))) {
    real_wait = true;
    const sleep = sleeps(s);
    word_add<u32>(s, RW_WORDS, RW_WAITERS, 1);
    wait_prepare(s, WAIT_RWSEM_WRITE);
    let queued = false;
    let woken = false; // in the list: the wake-up for the lock reached us and was charged
    let rspin_until: u64 = 0; // 5.3+: spinning on readers until then (0: not spinning on readers)
    // optimistic spinners queue in the OSQ (osq_lock, an MCS queue: FIFO); only its head spins on the owner
    store<u64>(PC + PC_RWQ_SINCE, t0);
    atomic.store<u32>(PC + PC_RWQ, s | RWQ_SPINNER);
    // retry: the lock is held, readers head the list, or another writer took it first
    while (true) {
      const w = wait_token();
      const c = word_load<i32>(s, RW_WORDS, RW_COUNT);
      if (!queued) {
        // a guest run queue: rwsem_spin_on_owner() stops when the owner is off its CPU or we should give ours
        // up (a sibling waits for it: it may hold what we wait for); the spinner sleeps in the list (vcpu.ts)
        if (RUNQ && sleep) {
          const o = word_load<u32>(s, RW_WORDS, RW_WRITER);
          if ((c < 0 && o != 0 && !task_on_cpu(o - 1)) || vcpu_wanted()) { rwq_join(s, RWQ_WRITER, now()); queued = true; continue; }
        }
        // spinning on a writer owner: take the lock the moment it is free, ahead of the list,
        // unless readers head it (granted at the release) or the head is owed the hand-off
        const rh = c >= 0 && reader_heads(s);
        // 5.3+: still spinning on readers past the threshold, it went to sleep in the list then
        if (rspin_until != 0 && now() > rspin_until) { rwq_join(s, RWQ_WRITER, rspin_until); queued = true; continue; }
        if (c == 0 && !rh && (word_load<u32>(s, RW_WORDS, RW_WAITLIST) & RWSEM_FLAG_HANDOFF) == 0 &&
            !ahead_of(s, <u32>1 << RWQ_SPINNER, t0, cpu_id())) {
          if (try_write(s)) break;
          continue;
        }
        // readers own it or head the list: 4.17 sleeps in the list at once; 5.3+ spins on the
        // readers first, and sleeps (joins the list then) only once the threshold passed
        if (c > 0 || rh) {
          const t = now();
          if (rwsem_53() && c > 0 && rspin_until == 0) rspin_until = t + rspin_threshold(c);
          if (!rwsem_53() || rh || t >= rspin_until) {
            rwq_join(s, RWQ_WRITER, t); // leaves the OSQ
            queued = true;
            continue;
          }
        } else if (c < 0) rspin_until = 0; // a writer owns it: spin on it (rwsem_spin_on_owner)
      } else if (c == 0 && is_head(s)) {
        if (sleep && !woken) {
          // rwsem_wake woke us; we run once the wake-up reaches us, and look again then
          woken = true;
          run_woken(s);
          continue;
        }
        // Parallel mode: a writer spinning on the owner since before now took the lock at the
        // release in virtual time, while our wake-up travelled; on the host it may not have run yet.
        // We sleep again and the next release wakes us (deterministic mode: it ran first, in clock
        // order). Not while RWSEM_FLAG_HANDOFF is set: then nobody but the head takes the lock.
        if (!DETERMINISTIC && sleep && (word_load<u32>(s, RW_WORDS, RW_WAITLIST) & RWSEM_FLAG_HANDOFF) == 0 && spinner_since(s, now())) {
          woken = false;
          if (!RUNQ) cpuidle_enter();
        } else {
          if (try_write(s)) break;
          continue;
        }
      } else {
        if (c != 0) {
          // A guest run queue: rwsem_wake() woke us as the head writer (4.16 __rwsem_mark_wake() and
          // 5.3+ rwsem_mark_wake() wake the first waiter when it is a writer, whether or not a spinner
          // takes the lock first), so our task runs before it can see the lock taken: try_to_wake_up()
          // queues it on its vCPU, where it may preempt the sibling (check_preempt_wakeup), and it
          // sleeps again once it has looked (below). Without a run queue our CPU was idle: nobody else
          // pays for that wake-up beyond the releaser's send (charge_wakes).
          if (RUNQ && sleep && queued && !woken && head_writer_woken()) {
            woken = true; // the wake-up is paid: if the lock is free when we look, we take it without another
            run_woken(s);
            continue;
          }
          // taken before us: the next release wakes us again, and our CPU idles again from now
          if (woken && sleep && !RUNQ) cpuidle_enter();
          woken = false;
        }
        maybe_handoff(s);
      }
      // a guest run queue: a woken writer that sleeps again leaves its vCPU again (and is woken again)
      // (its CPU idles again from now: the vCPU's own idle start is the later of this and its release, wake_up_sleeper)
      if (RUNQ && queued && sleep && task_on_cpu(cpu_id())) { cpuidle_enter(); vcpu_put(PUT_SLEEP); woken = false; }
      wait_sleep(w);
    }
    wait_finish();
    word_sub<u32>(s, RW_WORDS, RW_WAITERS, 1);
    if (queued) rwq_leave(s); else atomic.store<u32>(PC + PC_RWQ, 0);
  }
  word_store<u32>(s, RW_WORDS, RW_WRITER, cpu_id() + 1);
  settle(s, t0, ipi0, lw, prev, real_wait ? SETTLE_REAL_WAIT : 0);
  word_store<u32>(s, RW_WORDS, RW_HOLD, <u32>now()); // acquisition time (low bits) until up_write turns it into the hold
}
/** down_write() as a frame of the flame graph (obs.ts) */
@inline export function down_write(s: u32): void {
  fn_enter(FN_DOWN_WRITE);
  down_write__body(s);
  fn_exit();
}

export function up_write(s: u32): void {
  shared_rmw(s, RW_WORDS);
  word_store<u32>(s, RW_WORDS, RW_WRITER, 0);
  const hold = <u32>now() - word_load<u32>(s, RW_WORDS, RW_HOLD);
  word_store<u32>(s, RW_WORDS, RW_HOLD, hold);
  if (obs_flags() != 0) obs_lock_released(word_get<u32>(s, RW_WORDS, RW_CLASS) + 1, shared_line(s, RW_WORDS), <u64>hold, false);
  word_store<u64>(s, RW_WORDS, RW_RELEASE, now());
  word_store<i32>(s, RW_WORDS, RW_COUNT, 0);
  if (word_load<u32>(s, RW_WORDS, RW_WAITERS) != 0) { const n = wake_order(s); wake_waiters(s); charge_wakes(n); }
}

/** downgrade_write(): writer becomes a reader without letting another writer in; the readers heading the list join it. */
export function downgrade_write(s: u32): void {
  shared_rmw(s, RW_WORDS);
  word_store<u32>(s, RW_WORDS, RW_WRITER, 0);
  const hold = <u32>now() - word_load<u32>(s, RW_WORDS, RW_HOLD);
  word_store<u32>(s, RW_WORDS, RW_HOLD, hold);
  if (obs_flags() != 0) { obs_lock_released(word_get<u32>(s, RW_WORDS, RW_CLASS) + 1, shared_line(s, RW_WORDS), <u64>hold, false); obs_read_start(word_get<u32>(s, RW_WORDS, RW_CLASS)); }
  word_store<u64>(s, RW_WORDS, RW_RELEASE, now());
  word_store<i32>(s, RW_WORDS, RW_COUNT, 1);
  if (word_load<u32>(s, RW_WORDS, RW_WAITERS) != 0) { const n = wake_order(s); wake_waiters(s); charge_wakes(n); }
}

/**
 * Is this CPU's task asleep in an rwsem's wait list (its CPU idle)? A writer
 * spinning (the OSQ) or a CPU waiting on the rwlock mm_rb_lock runs.
 */
export function rwsem_sleeping(): bool { return rwsem_sleeping_on(PC); }

/** rwsem_sleeping() of the CPU whose per-CPU block is `pc` (a shootdown's initiator asks it of its targets: ipi.ts) */
export function rwsem_sleeping_on(pc: u32): bool {
  const q = atomic.load<u32>(pc + PC_RWQ);
  const k = q & 3;
  return (k == RWQ_READER || k == RWQ_WRITER) && sleeps(q & ~(<u32>3)) && atomic.load<u32>(pc + PC_WAIT_OBJ) != 0;
}

/** inspection (uncharged) */
@inline export function rwsem_is_locked(s: u32): bool { return word_peek<i32>(s, RW_WORDS, RW_COUNT) != 0; }
/** inspection (uncharged) */
@inline export function rwsem_is_write_locked(s: u32): bool { return word_peek<i32>(s, RW_WORDS, RW_COUNT) == RWSEM_WRITER; }
