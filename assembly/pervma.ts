// Per-VMA locks (Suren Baghdasaryan, merged in Linux 6.4): a fault looks the
// VMA up without mmap_lock and read-locks just that VMA. Writers (under
// mmap_lock for write) mark every VMA they modify with the mm's lock sequence;
// mmap_write_unlock() ends all those marks at once by bumping mm_lock_seq.
//
//   vma_start_read():  vm_lock_seq == mm_lock_seq -> fail (write-marked);
//                      take a read reference -> fail if a writer holds or waits;
//                      re-check vm_lock_seq (a writer may have marked meanwhile).
//   vma_start_write(): wait for the readers; vm_lock_seq = mm_lock_seq.
//     (after it, no fault runs in this VMA until mmap_write_unlock)
// Any failure falls back to mmap_lock (counted).
//
// The release followed (SET_PERVMA_KERNEL, `--kernel`; default the newest):
//   6.4  anonymous VMAs that have an anon_vma; a userfaultfd-armed VMA falls back.
//        The lock is an rwsem in a separate vma_lock object plus a `detached`
//        flag checked after locking ("mm: introduce lock_vma_under_rcu to be used
//        from arch-specific code", "mm: change vma_start_read to fail if VMA got
//        detached from under it").
//   6.6  file-backed VMAs and userfaultfd admitted: "mm: allow per-VMA locks on
//        file-backed VMAs" (Matthew Wilcox), "mm: handle userfaults under VMA
//        lock" and "mm: handle swap page faults under per-VMA lock" (Suren
//        Baghdasaryan). A file fault (do_read_fault / do_cow_fault /
//        do_shared_fault) and a write to a read-only page of a file with
//        ->page_mkwrite still drop the VMA lock and return VM_FAULT_RETRY ("mm:
//        move FAULT_FLAG_VMA_LOCK check down from do_fault()"); so does a COW
//        in a VMA without an anon_vma.
//   6.7  Wilcox's "Handle more faults under the VMA lock": "mm: handle shared
//        faults under the VMA lock" (commit 4ed4379881aa), "mm: handle COW
//        faults under the VMA lock", "mm: handle read faults under the VMA
//        lock", "mm: handle write faults to RO pages under the VMA lock", "mm:
//        call wp_page_copy() under the VMA lock"; vmf_anon_prepare() drops the
//        lock and retries when the VMA has no anon_vma yet.
//   6.15 vm_refcnt (Suren Baghdasaryan, "mm: replace vm_lock and detached flag
//        with a reference count"): one reference count in the VMA itself
//        replaces the rwsem and the detached flag. vma_start_read() is a
//        refcount_inc_not_zero bounded by VMA_REF_LIMIT (a writer adds
//        VMA_LOCK_OFFSET); a count of 0 means detached, so the lookup is redone
//        (VMA_LOCK_MISS) before the range check. An anonymous VMA without an
//        anon_vma is no longer refused at lookup: vmf_anon_prepare() takes
//        mmap_lock with a trylock to set it up, and retries only if that fails.
// Not emulated: fault-around (the emulator has no ->map_pages) and swap.
//
// Virtual time: the lookup's steps read the VMA's line (vma.ts step()); the
// VMA's fields read here afterwards are free (word_peek: no second read of the
// line is charged, though the kernel's are loads of a line this CPU may have
// lost meanwhile), as is vma_start_write()'s store of vm_lock_seq (word_poke)
// (README, issue 19: listed, not changed, so the golden results stay).

import { TEST_BUILD, header_flags } from './build_flags';
import {
  VMA_START, VMA_END, VMA_OPS, VMA_FLAGS, VM_UFFD_ANY, VMA_ANON, VMA_LOCK, VMA_LOCK_SEQ, VMA_STATE, VMA_STATE_LIVE, VMOPS_NONE,
  FLAG_PERVMA_STALL, SET_PERVMA_KERNEL, PERVMA_KERNEL_6_6, PERVMA_KERNEL_6_15, setting, RW_COUNT, RWSEM_WRITER, VMA_WORDS, RW_WORDS,
} from './layout';
import { stat_inc, charge } from './cpu';
import {
  STAT_PERVMA_ABORT_NO_VMA, STAT_PERVMA_ABORT_NOT_ANON, STAT_PERVMA_ABORT_NO_ANON_VMA,
  STAT_PERVMA_ABORT_LOCKED, STAT_PERVMA_ABORT_CHANGED, STAT_PERVMA_LOCK_MISS, STAT_PERVMA_ABORT_UFFD,
} from './generated';
import { sync_point } from './wait';
import { down_read_trylock, up_read, down_write, up_write } from './rwsem';
import { rcu_read_lock, rcu_read_unlock } from './rcu';
import { find_vma_lockless, vma_addr } from './vma';
import { strategy, STRATEGY_PERVMA } from './strategy';
import { mm_lock_seq } from './mmap_lock';
import { FN_LOCK_VMA_UNDER_RCU } from './generated';
import { fn_enter, fn_exit } from './obs';
import { word_load, word_peek, word_poke } from './shared';

/** the Linux release the pervma strategy follows (PERVMA_KERNEL_*: 604, 606, 607, 615) */
@inline export function pervma_kernel(): u32 { return setting(SET_PERVMA_KERNEL); }

/** vma_start_read() results besides "locked" (true): */
export const LOCKED: i32 = 1;
export const NOT_LOCKED: i32 = 0;
/** 6.15: the reference count was 0: the VMA is detached (-EAGAIN) */
const DETACHED: i32 = -1;

/**
 * vma_start_read(): LOCKED with a read reference on the VMA, NOT_LOCKED
 * (write-marked, or a writer holds or waits), or (6.15) DETACHED.
 * 6.4-6.14: down_read_trylock() of the VMA's rwsem. 6.15:
 * __refcount_inc_not_zero_limited_acquire() of vm_refcnt, which is 1 while
 * the VMA is attached, plus one per reader, plus VMA_LOCK_OFFSET while a
 * writer holds it: here the attached bit is the VMA's state and the readers
 * and the writer are the count word's, one modelled line as in the VMA.
 */
export function vma_start_read(mm: u32, slot: u32): i32 {
  const v = vma_addr(slot);
  if (word_peek<u32>(v, VMA_WORDS, VMA_LOCK_SEQ) == mm_lock_seq(mm)) return NOT_LOCKED;
  if (!down_read_trylock(v + VMA_LOCK)) {
    // 6.15: the failed increment tells a detached VMA (count 0) from a writer (count >= VMA_REF_LIMIT)
    if (pervma_kernel() >= PERVMA_KERNEL_6_15 && word_peek<u32>(v, VMA_WORDS, VMA_STATE) != VMA_STATE_LIVE &&
      word_load<i32>(v + VMA_LOCK, RW_WORDS, RW_COUNT) != RWSEM_WRITER) return DETACHED;
    return NOT_LOCKED;
  }
  // 6.15: a count of 0 (detached) lets no reference be taken
  if (pervma_kernel() >= PERVMA_KERNEL_6_15 && word_peek<u32>(v, VMA_WORDS, VMA_STATE) != VMA_STATE_LIVE) { up_read(v + VMA_LOCK); return DETACHED; }
  // a writer may have marked the VMA between the check and the trylock
  if (word_peek<u32>(v, VMA_WORDS, VMA_LOCK_SEQ) == mm_lock_seq(mm)) { up_read(v + VMA_LOCK); return NOT_LOCKED; }
  return LOCKED;
}

export function vma_end_read(slot: u32): void { up_read(vma_addr(slot) + VMA_LOCK); }

/** vma_start_write(): caller holds mmap_lock for write. No-op outside the pervma strategy. */
export function vma_start_write(mm: u32, slot: u32): void {
  if (strategy() != STRATEGY_PERVMA) return;
  const v = vma_addr(slot);
  const seq = mm_lock_seq(mm);
  if (word_peek<u32>(v, VMA_WORDS, VMA_LOCK_SEQ) == seq) return; // already marked in this write section
  down_write(v + VMA_LOCK);
  word_poke<u32>(v, VMA_WORDS, VMA_LOCK_SEQ, seq);
  up_write(v + VMA_LOCK);
}

/** cycles FLAG_PERVMA_STALL holds a fault between the lookup and vma_start_read() */
const PERVMA_TEST_STALL: u64 = 20_000;

/**
 * lock_vma_under_rcu() (mm/memory.c, Linux 6.4+): the VMA containing
 * `address`, read-locked, or -1 (with the abort reason counted; the caller
 * falls back to mmap_lock). A VMA that was detached between the lookup and
 * the lock (merged away, unmapped, replaced) is not a reason to fall back:
 * the lookup is redone (VMA_LOCK_MISS), as Linux does since the per-VMA
 * lock series (its `vma->detached` check, "the area was replaced with
 * another one"). A range change of a still-linked VMA does fall back.
 */
function lock_vma_under_rcu__body(mm: u32, address: u64): i32 {
  const rel = pervma_kernel();
  rcu_read_lock();
  // retry: the VMA we locked had been detached meanwhile; a writer replaced
  // it, so the next lookup finds its successor (or nothing)
  while (true) {
    const vma = find_vma_lockless(mm, address);
    if (vma < 0) { rcu_read_unlock(); stat_inc(STAT_PERVMA_ABORT_NO_VMA); return -1; }
    const v = vma_addr(<u32>vma);
    // Test hook (FLAG_PERVMA_STALL, never set in real runs): an interrupt holds
    // this CPU between the lookup and the lock, long enough for a whole
    // mmap_lock write section (a merge that detaches this VMA) to pass.
    if (TEST_BUILD && (header_flags() & FLAG_PERVMA_STALL)) { charge(PERVMA_TEST_STALL); sync_point(); }
    // 6.4/6.5: only anonymous VMAs are supported
    if (rel < PERVMA_KERNEL_6_6 && word_peek<u32>(v, VMA_WORDS, VMA_OPS) != VMOPS_NONE) { rcu_read_unlock(); stat_inc(STAT_PERVMA_ABORT_NOT_ANON); return -1; }
    // before 6.15: find_mergeable_anon_vma() uses neighbours that are not locked
    if (rel < PERVMA_KERNEL_6_15 && word_peek<u32>(v, VMA_WORDS, VMA_OPS) == VMOPS_NONE && word_peek<u32>(v, VMA_WORDS, VMA_ANON) == 0) {
      rcu_read_unlock(); stat_inc(STAT_PERVMA_ABORT_NO_ANON_VMA); return -1;
    }
    const locked = vma_start_read(mm, <u32>vma);
    // 6.15: "the area was replaced with another one": look again
    if (locked == DETACHED) { stat_inc(STAT_PERVMA_LOCK_MISS); continue; }
    if (locked == NOT_LOCKED) { rcu_read_unlock(); stat_inc(STAT_PERVMA_ABORT_LOCKED); return -1; }
    // vm_start/vm_end may have changed before we locked
    if (address < word_peek<u64>(v, VMA_WORDS, VMA_START) || address >= word_peek<u64>(v, VMA_WORDS, VMA_END)) {
      vma_end_read(<u32>vma);
      rcu_read_unlock();
      stat_inc(STAT_PERVMA_ABORT_CHANGED);
      return -1;
    }
    // before 6.15: the detached flag, checked under the lock; the VMA got isolated after we found it: look again
    if (word_peek<u32>(v, VMA_WORDS, VMA_STATE) != VMA_STATE_LIVE) {
      vma_end_read(<u32>vma);
      stat_inc(STAT_PERVMA_LOCK_MISS);
      continue;
    }
    // 6.4/6.5: a VMA armed with userfaultfd is faulted under mmap_lock (handle_userfault
    // dropped the fault's lock: it knew only mmap_lock then); 6.6+ handle_userfault()
    // releases the VMA lock itself (release_fault_lock). Checked under the VMA lock:
    // registration write-locks the VMA, so the flags cannot change under us now.
    if (rel < PERVMA_KERNEL_6_6 && (word_peek<u32>(v, VMA_WORDS, VMA_FLAGS) & VM_UFFD_ANY)) {
      vma_end_read(<u32>vma);
      rcu_read_unlock();
      stat_inc(STAT_PERVMA_ABORT_UFFD);
      return -1;
    }
    rcu_read_unlock();
    return vma;
  }
  return -1;
}
/** lock_vma_under_rcu() as a frame of the flame graph (obs.ts) */
@inline export function lock_vma_under_rcu(mm: u32, address: u64): i32 {
  fn_enter(FN_LOCK_VMA_UNDER_RCU);
  const r = lock_vma_under_rcu__body(mm, address);
  fn_exit();
  return r;
}
