// Epoch-based RCU for VMA slots: lockless readers may look at a VMA that a
// writer has just unlinked; the slot is reused only after every reader that
// could have found it has left its read-side section.
//
// Readers: rcu_read_lock() publishes, at the outermost level, the global
// epoch it observed (PC_RCU_EPOCH) and then a non-zero nesting count
// (PC_RCU_NEST) in this CPU's block, where reclaimers on other CPUs read them.
// Read-side sections never wait (no lock, no barrier, no op_done inside).
//
// Writers: call_rcu_vma(slot) appends an unlinked slot to the deferred queue
// (header H_RCU_*) stamped with the current global epoch q, then advances the
// epoch to q + 1. Stamping and advancing happen under H_RCU_LOCK, so the
// queue is in epoch order, oldest at the head.
//
// INVARIANT (grace period): a slot on the deferred queue is never reused
// while any CPU that could have found it is still inside its read-side
// section. A slot stamped q was unreachable (out of every index) before it
// was queued. A reader that publishes epoch e > q read the epoch after the
// advance past q, hence after the unlink, and cannot find the slot. A reader
// with e <= q may hold it. So rcu_reclaim() frees exactly the slots with
// q < min(e over CPUs inside a section) (the global epoch if none is).
// Publication order makes the check safe without a lock on the reader side
// (all accesses are sequentially consistent Wasm atomics): a reclaimer that
// sees PC_RCU_NEST == 0 scanned before the reader's section began, so the
// reader's index reads come after the unlink.
//
// Virtual time: rcu_read_lock/unlock cost what the kernel's do (a per-CPU
// preempt-count update, one L1 hit); reading the global epoch is an artefact
// of this emulator and is not charged. Reclaim pays the queue lock and one
// LLC access per remote CPU whose read-side state it inspects.

import { TEST_BUILD, header_flags } from './build_flags';
import {
  HDR_BASE, H_RCU_EPOCH, H_RCU_HEAD, H_RCU_TAIL, H_RCU_COUNT, H_RCU_GP_WAITERS, H_RCU_GP_TIME, H_RCU_LOCK,
  PC_RCU_NEST, PC_RCU_EPOCH, VMA_NEXT, VMA_WORDS, VMA_RCU_EPOCH, VMA_STATE, VMA_STATE_DETACHED, FLAG_NO_RCU_GRACE, WAIT_RCU,
  percpu,
} from './layout';
import { cpu_id, PC, NCPUS, now, cost, charge, charge_cost, set_clock, stat_inc } from './cpu';
import { COST_L1_HIT, COST_LLC_HIT, STAT_VMA_DEFERRED, STAT_RCU_GRACE, LOCK_CLASS_RCU } from './generated';
import { spin_lock_init, spin_lock, spin_unlock } from './spinlock';
import { wait_prepare, wait_token, wait_sleep, wait_finish, wake_waiters } from './wait';
import { vma_addr, vma_free } from './vma';
import { word_peek } from './shared';

/** a before b, on a wrapping u32 epoch */
@inline function epoch_before(a: u32, b: u32): bool { return <i32>(a - b) < 0; }

/** host-side initialisation (machine_init) */
export function rcu_init(): void {
  store<u32>(HDR_BASE + H_RCU_EPOCH, 1);
  store<u32>(HDR_BASE + H_RCU_HEAD, 0);
  store<u32>(HDR_BASE + H_RCU_TAIL, 0);
  store<i32>(HDR_BASE + H_RCU_COUNT, 0);
  store<u32>(HDR_BASE + H_RCU_GP_WAITERS, 0);
  store<u64>(HDR_BASE + H_RCU_GP_TIME, 0);
  spin_lock_init(HDR_BASE + H_RCU_LOCK, LOCK_CLASS_RCU);
}

// ------------------------------------------------------------ readers ---

/** Enter a read-side section (nests). Slots found inside stay unreused until the outermost unlock. */
export function rcu_read_lock(): void {
  charge_cost(COST_L1_HIT);
  const n = atomic.load<u32>(PC + PC_RCU_NEST);
  if (n == 0) {
    // epoch first, then the nesting count: a reclaimer that sees us reading sees our epoch
    atomic.store<u32>(PC + PC_RCU_EPOCH, atomic.load<u32>(HDR_BASE + H_RCU_EPOCH));
  }
  atomic.store<u32>(PC + PC_RCU_NEST, n + 1);
}

/** Leave a read-side section; the outermost unlock ends this CPU's hold on every slot it found. */
export function rcu_read_unlock(): void {
  charge_cost(COST_L1_HIT);
  const n = atomic.load<u32>(PC + PC_RCU_NEST);
  if (n == 0) unreachable(); // unbalanced unlock: a bug in the caller
  atomic.store<u32>(PC + PC_RCU_NEST, n - 1);
  if (n == 1 && atomic.load<u32>(HDR_BASE + H_RCU_GP_WAITERS) != 0) {
    // a synchronize_rcu() sleeper may be waiting for us: it resumes no earlier than now
    const t = HDR_BASE + H_RCU_GP_TIME;
    // retry: another reader raised the time between our load and CAS (atomic max)
    while (true) {
      const cur = atomic.load<u64>(t);
      if (cur >= now() || atomic.cmpxchg<u64>(t, cur, now()) == cur) break;
    }
    wake_waiters(HDR_BASE + H_RCU_EPOCH);
  }
}

/** this CPU's read-side nesting depth */
export function rcu_read_lock_held(): u32 { return atomic.load<u32>(PC + PC_RCU_NEST); }

// ------------------------------------------------------------ writers ---

/**
 * Queue a VMA slot for freeing after a grace period. Caller: the slot is
 * DETACHED (out of every index) and its refcount is 0, so no new reader can
 * find it; readers that found it earlier may still be looking.
 */
export function call_rcu_vma(slot: u32): void {
  const a = vma_addr(slot);
  if (word_peek<u32>(a, VMA_WORDS, VMA_STATE) != VMA_STATE_DETACHED) unreachable();
  const lock = HDR_BASE + H_RCU_LOCK;
  spin_lock(lock);
  const q = atomic.load<u32>(HDR_BASE + H_RCU_EPOCH);
  atomic.store<u32>(a + VMA_RCU_EPOCH, q);
  atomic.store<u32>(a + VMA_NEXT, 0);
  const tail = atomic.load<u32>(HDR_BASE + H_RCU_TAIL);
  if (tail == 0) atomic.store<u32>(HDR_BASE + H_RCU_HEAD, slot + 1);
  else atomic.store<u32>(vma_addr(tail - 1) + VMA_NEXT, slot + 1);
  atomic.store<u32>(HDR_BASE + H_RCU_TAIL, slot + 1);
  atomic.add<i32>(HDR_BASE + H_RCU_COUNT, 1);
  // readers that start from now on cannot have seen the slot: give them a newer epoch
  atomic.store<u32>(HDR_BASE + H_RCU_EPOCH, q + 1);
  spin_unlock(lock);
  stat_inc(STAT_VMA_DEFERRED);
}

/**
 * The oldest epoch any CPU is reading under, or the global epoch when no
 * CPU is inside a read-side section. Slots stamped before it are free to go.
 */
function rcu_oldest_reader(): u32 {
  let oldest = atomic.load<u32>(HDR_BASE + H_RCU_EPOCH);
  if (TEST_BUILD && (header_flags() & FLAG_NO_RCU_GRACE)) return oldest;
  for (let c: u32 = 0; c < NCPUS; c++) {
    const pc = percpu(c);
    if (c != cpu_id()) charge(cost(COST_LLC_HIT));
    if (atomic.load<u32>(pc + PC_RCU_NEST) == 0) continue;
    const e = atomic.load<u32>(pc + PC_RCU_EPOCH);
    if (epoch_before(e, oldest)) oldest = e;
  }
  return oldest;
}

/**
 * Free every queued slot whose grace period has elapsed: stamped before the
 * oldest epoch any CPU is reading under. Returns how many were freed.
 * Never waits for readers (a slot still in use stays queued).
 */
export function rcu_reclaim(): i32 {
  if (atomic.load<u32>(HDR_BASE + H_RCU_HEAD) == 0) return 0;
  const lock = HDR_BASE + H_RCU_LOCK;
  spin_lock(lock);
  const oldest = rcu_oldest_reader();
  let n: i32 = 0;
  let head = atomic.load<u32>(HDR_BASE + H_RCU_HEAD);
  // the queue is in epoch order: stop at the first slot a reader may still hold
  while (head != 0) {
    const slot = head - 1;
    const a = vma_addr(slot);
    if (!epoch_before(atomic.load<u32>(a + VMA_RCU_EPOCH), oldest)) break;
    head = atomic.load<u32>(a + VMA_NEXT);
    atomic.store<u32>(HDR_BASE + H_RCU_HEAD, head);
    atomic.sub<i32>(HDR_BASE + H_RCU_COUNT, 1);
    vma_free(slot);
    n++;
  }
  if (head == 0) atomic.store<u32>(HDR_BASE + H_RCU_TAIL, 0);
  spin_unlock(lock);
  if (n > 0) stat_inc(STAT_RCU_GRACE);
  return n;
}

/**
 * Wait until every CPU that was inside a read-side section when we were
 * called has left it, then reclaim. Returns the number of slots freed.
 * Caller is not inside a read-side section (it would wait for itself).
 */
export function synchronize_rcu(): i32 {
  if (atomic.load<u32>(PC + PC_RCU_NEST) != 0) unreachable();
  // readers from now on get a newer epoch than `g`: only older ones are waited for
  const lock = HDR_BASE + H_RCU_LOCK;
  spin_lock(lock);
  const g = atomic.load<u32>(HDR_BASE + H_RCU_EPOCH);
  atomic.store<u32>(HDR_BASE + H_RCU_EPOCH, g + 1);
  spin_unlock(lock);
  const obj = HDR_BASE + H_RCU_EPOCH;
  for (let c: u32 = 0; c < NCPUS; c++) {
    if (c == cpu_id()) continue;
    const pc = percpu(c);
    charge(cost(COST_LLC_HIT));
    if (!rcu_holds(pc, g)) continue;
    atomic.add<u32>(HDR_BASE + H_RCU_GP_WAITERS, 1);
    wait_prepare(obj, WAIT_RCU);
    // retry: woken by some reader's unlock, maybe not this one's
    while (true) {
      const w = wait_token();
      if (!rcu_holds(pc, g)) break;
      wait_sleep(w);
    }
    wait_finish();
    atomic.sub<u32>(HDR_BASE + H_RCU_GP_WAITERS, 1);
    const t = atomic.load<u64>(HDR_BASE + H_RCU_GP_TIME);
    if (t > now()) set_clock(t);
  }
  return rcu_reclaim();
}

/** the CPU whose block is `pc` is inside a section begun at epoch <= g */
@inline function rcu_holds(pc: u32, g: u32): bool {
  return atomic.load<u32>(pc + PC_RCU_NEST) != 0 && !epoch_before(g, atomic.load<u32>(pc + PC_RCU_EPOCH));
}

/** slots waiting for their grace period */
export function rcu_deferred_count(): i32 { return atomic.load<i32>(HDR_BASE + H_RCU_COUNT); }
/** the current global epoch */
export function rcu_epoch(): u32 { return atomic.load<u32>(HDR_BASE + H_RCU_EPOCH); }
