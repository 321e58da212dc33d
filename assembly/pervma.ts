// Per-VMA locks (Linux 6.4+, Suren Baghdasaryan): a fault looks the VMA up
// without mmap_lock and read-locks just that VMA. Writers (under mmap_lock
// for write) mark every VMA they modify with the mm's lock sequence;
// mmap_write_unlock() ends all those marks at once by bumping mm_lock_seq.
//
//   vma_start_read():  vm_lock_seq == mm_lock_seq -> fail (write-marked);
//                      down_read_trylock(vm_lock) -> fail if busy;
//                      re-check vm_lock_seq (a writer may have marked meanwhile).
//   vma_start_write(): down_write(vm_lock); vm_lock_seq = mm_lock_seq; up_write.
//     (the down_write waits for readers inside faults: after it, no fault runs
//      in this VMA until mmap_write_unlock)
// Any failure falls back to mmap_lock (counted).

import { TEST_BUILD, header_flags } from './build_flags';
import {
  VMA_START, VMA_END, VMA_OPS, VMA_FLAGS, VM_UFFD_ANY, VMA_ANON, VMA_LOCK, VMA_LOCK_SEQ, VMA_STATE, VMA_STATE_LIVE, VMOPS_NONE,
  FLAG_PERVMA_STALL,
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


/** vma_start_read(): true with the VMA read-locked */
export function vma_start_read(mm: u32, slot: u32): bool {
  const v = vma_addr(slot);
  if (atomic.load<u32>(v + VMA_LOCK_SEQ) == mm_lock_seq(mm)) return false;
  if (!down_read_trylock(v + VMA_LOCK)) return false;
  // a writer may have marked the VMA between the check and the trylock
  if (atomic.load<u32>(v + VMA_LOCK_SEQ) == mm_lock_seq(mm)) { up_read(v + VMA_LOCK); return false; }
  return true;
}

export function vma_end_read(slot: u32): void { up_read(vma_addr(slot) + VMA_LOCK); }

/** vma_start_write(): caller holds mmap_lock for write. No-op outside the pervma strategy. */
export function vma_start_write(mm: u32, slot: u32): void {
  if (strategy() != STRATEGY_PERVMA) return;
  const v = vma_addr(slot);
  const seq = mm_lock_seq(mm);
  if (atomic.load<u32>(v + VMA_LOCK_SEQ) == seq) return; // already marked in this write section
  down_write(v + VMA_LOCK);
  atomic.store<u32>(v + VMA_LOCK_SEQ, seq);
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
export function lock_vma_under_rcu(mm: u32, address: u64): i32 {
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
    // only anonymous VMAs are supported
    if (atomic.load<u32>(v + VMA_OPS) != VMOPS_NONE) { rcu_read_unlock(); stat_inc(STAT_PERVMA_ABORT_NOT_ANON); return -1; }
    // find_mergeable_anon_vma() uses neighbours that are not locked
    if (atomic.load<u32>(v + VMA_ANON) == 0) { rcu_read_unlock(); stat_inc(STAT_PERVMA_ABORT_NO_ANON_VMA); return -1; }
    if (!vma_start_read(mm, <u32>vma)) { rcu_read_unlock(); stat_inc(STAT_PERVMA_ABORT_LOCKED); return -1; }
    // vm_start/vm_end may have changed before we locked
    if (address < atomic.load<u64>(v + VMA_START) || address >= atomic.load<u64>(v + VMA_END)) {
      vma_end_read(<u32>vma);
      rcu_read_unlock();
      stat_inc(STAT_PERVMA_ABORT_CHANGED);
      return -1;
    }
    // the VMA got isolated after we found it: look again
    if (atomic.load<u32>(v + VMA_STATE) != VMA_STATE_LIVE) {
      vma_end_read(<u32>vma);
      stat_inc(STAT_PERVMA_LOCK_MISS);
      continue;
    }
    // as merged (6.4): a VMA armed with userfaultfd is faulted under mmap_lock (handle_userfault
    // drops the fault's lock: it knew only mmap_lock then). Checked under the VMA lock: registration
    // write-locks the VMA, so the flags cannot change under us now.
    if (atomic.load<u32>(v + VMA_FLAGS) & VM_UFFD_ANY) {
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
