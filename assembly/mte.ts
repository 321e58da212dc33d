// MTE tag storage: the architecture handler behind the fault-on-access soft
// bit (the use case of the fault-on-access series, LKML thread "[PATCH RFC v3
// 00/35] Add support for arm64 MTE dynamic tag storage reuse", Alexandru
// Elisei, January 2024; arch/arm64/kernel/mte_tag_storage.c and
// arch/arm64/mm/fault.c in that series).
//
// A page mapped in an MTE VMA (VM_MTE, from mmap/mprotect PROT_MTE) needs tag
// storage: 4 bits per 16 bytes, 128 bytes per 4 KiB page, carved out of
// memory that the page allocator otherwise lends to movable allocations. The
// series reserves it lazily: when a PTE for a page without tag storage is set
// in an MTE VMA (mte_sync_tags() from set_pte_at), the entry is made
// PAGE_FAULT_ON_ACCESS (PAGE_NONE plus a software bit) instead, and the first
// access faults into handle_pte_protnone(), which sees the bit
// (arch_fault_on_access_pte) and calls arch_handle_folio_fault_on_access() =
// handle_folio_missing_tag_storage(): reserve the tag storage, then let the
// generic code map the page back.
//
// faultline models the pool as units (one unit = one 4 KiB page's tag storage)
// behind one spinlock of its own class (tag_storage), at the header's
// H_TAG_LOCK; taking a unit charges COST_TAG_STORAGE_RESERVE inside the lock
// (the tag block's allocation, alloc_contig_range, in the series). What is not
// modelled: tag blocks shared by 32 data pages (each page takes its own unit),
// the migration of pages out of the tag storage region, and the tags
// themselves. SET_TAG_STORAGE = 0 means no tag storage (no MTE): PROT_MTE is
// EINVAL, and a fault-on-access entry (only a test can write one then) gets
// the generic default handler's SIGBUS.
//
// Lock order: PTL -> tag_storage (never taken under a PTL by the fault path:
// handle_pte_protnone drops the PTL first; the free path may hold one).

import {
  HDR_BASE, H_TAG_LOCK, H_TAG_FREE, H_TAG_TOTAL, SET_TAG_STORAGE, PG_TAG_RESERVED, PG_HUGE, FR_FLAGS, VM_MTE, setting,
} from './layout';
import { charge, cost, stat_inc } from './cpu';
import {
  COST_TAG_STORAGE_RESERVE, STAT_TAG_RESERVE, STAT_TAG_RESERVE_FAIL, STAT_TAG_FREE, STAT_MTE_MARKED, LOCK_CLASS_TAG_STORAGE,
} from './generated';
import { spin_lock, spin_unlock, spin_lock_init } from './spinlock';
import { frame, frame_flags, ZERO_PFN } from './frames';
import { pte_pfn, pte_special, pte_mk_fault_on_access, _PAGE_PSE } from './pte';

@inline function tag_lock(): u32 { return HDR_BASE + H_TAG_LOCK; }

/** tag_storage_enabled(): the machine has a tag-storage pool */
@inline export function tag_storage_enabled(): bool { return setting(SET_TAG_STORAGE) != 0; }

/** Machine initialisation (host): the pool holds SET_TAG_STORAGE free units. */
export function tag_storage_init(): void {
  spin_lock_init(tag_lock(), LOCK_CLASS_TAG_STORAGE);
  store<u32>(HDR_BASE + H_TAG_FREE, setting(SET_TAG_STORAGE));
  store<u32>(HDR_BASE + H_TAG_TOTAL, setting(SET_TAG_STORAGE));
}

/** free units left in the pool (the invariant checker compares it with the frames' PG_TAG_RESERVED) */
export function tag_storage_free(): u32 { return atomic.load<u32>(HDR_BASE + H_TAG_FREE); }

@inline function units_of(pfn: u32): u32 { return (frame_flags(pfn) & PG_HUGE) ? 512 : 1; }

/** page_tag_storage_reserved(): the zero page's tags are reserved at boot, as in the series */
@inline export function page_tag_storage_reserved(pfn: u32): bool {
  return pfn == ZERO_PFN || (frame_flags(pfn) & PG_TAG_RESERVED) != 0;
}

/**
 * reserve_tag_storage(): take the tag storage of frame `pfn` (a THP: 512
 * units) from the pool. Caller holds a reference on the frame and no PTL.
 * False when the pool is empty (counted).
 */
export function reserve_tag_storage(pfn: u32): bool {
  stat_inc(STAT_TAG_RESERVE);
  const need = units_of(pfn);
  spin_lock(tag_lock());
  if ((frame_flags(pfn) & PG_TAG_RESERVED) != 0) { spin_unlock(tag_lock()); return true; } // another CPU's fault did it
  // the counters are only touched under the lock: their line moves with it (not charged apart)
  const f = HDR_BASE + H_TAG_FREE;
  const have = atomic.load<u32>(f);
  if (have < need) { spin_unlock(tag_lock()); stat_inc(STAT_TAG_RESERVE_FAIL); return false; }
  charge(cost(COST_TAG_STORAGE_RESERVE) * <u64>(need == 1 ? 1 : 32)); // a THP's 512 pages take 16 whole tag blocks
  atomic.store<u32>(f, have - need);
  atomic.or<u32>(frame(pfn) + FR_FLAGS, PG_TAG_RESERVED);
  spin_unlock(tag_lock());
  return true;
}

/** free_tag_storage(): frame `pfn` is being freed with its tag storage reserved; give it back. */
export function free_tag_storage(pfn: u32): void {
  const n = units_of(pfn);
  spin_lock(tag_lock());
  atomic.add<u32>(HDR_BASE + H_TAG_FREE, n);
  spin_unlock(tag_lock());
  stat_inc(STAT_TAG_FREE);
}

/**
 * mte_sync_tags() as set_pte_at() runs it for an MTE VMA (`vm_flags` has
 * VM_MTE): an entry for a page without tag storage becomes
 * PAGE_FAULT_ON_ACCESS, so its first access reserves the storage. Other
 * entries are returned unchanged.
 */
export function mte_sync_tags(e: u64, vm_flags: u32): u64 {
  if ((vm_flags & VM_MTE) == 0 || !tag_storage_enabled() || pte_special(e)) return e;
  if (page_tag_storage_reserved(<u32>pte_pfn(e))) return e;
  stat_inc(STAT_MTE_MARKED);
  return pte_mk_fault_on_access(e) | (e & _PAGE_PSE); // a huge PMD stays a leaf
}
