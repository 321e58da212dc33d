// The page-fault handler shared by the three strategies: handle_mm_fault()
// and the handlers under it (mm/memory.c), with the speculative variants of
// pte_map_lock(vmf) / pte_spinlock() from the SPF series.
//
// Lock ordering in the emulated mm (as mm/rmap.c documents Linux's):
//
//   mmap_lock (mm rwsem)                      [classic faults: read; mutators: write]
//     vma->vm_lock (per-VMA rwsem)            [pervma faults: read-trylock; mutators: write]
//       vma->vm_sequence (seqcount)           [writers hold mmap_lock for write]
//       mm->page_table_lock                   [anon_vma_prepare]
//       PTL (split PTE lock of a PTE table)   [pte_map_lock, zap, change_pte_range]
//         TLB shootdown IPIs                  [may be sent with a PTL held: COW, zap of dirty shared pages]
//         zone lock (page allocator)
//         LRU lock
//         tag-storage pool lock (mte.ts)     [the fault path takes it with the PTL dropped]
//   i_pages lock (page cache)                 [never under a PTL]
//
// A speculative fault holds NONE of mmap_lock / vm_lock: it holds a VMA
// reference and an RCU read section, validates with vm_sequence, walks with
// IRQs off, and only ever TRY-locks the PTL with IRQs off (see pte_map_lock).
//
// The fault state (struct vm_fault) lives in the per-CPU block (PC_VMF), not in
// module globals: a worker runs many emulated CPUs, each handles one fault at
// a time, and the scheduler switches PC between them.

import { TEST_BUILD } from './build_flags';
import {
  VMA_START, VMA_WORDS, VMA_END, VMA_FLAGS, VMA_PROT, VMA_SEQ, VMA_ANON, VMA_OPS, VMA_PGOFF, VMA_FILE, VMA_ACCESS_PIDS,
  VM_WRITE, VM_READ, VM_EXEC, VM_SHARED, VM_UFFD_MISSING, VM_UFFD_MINOR, VM_UFFD_WP, VM_HUGEPAGE, VM_MTE, VMOPS_NONE, VMOPS_SHMEM,
  PG_ANON, PG_HUGE, FR_MAPCOUNT, FR_FLAGS,
  MM_PT_LOCK, SET_SPF_RETRY, SET_THP, SET_BUG, SPF_RETRY_UNBOUNDED, SPF_RETRY_SPIN, THP_ALWAYS, THP_MADVISE,
  BUG_SKIP_VMA_CHANGED, PAGE_SHIFT, mm_addr, setting, VMOPS_FILE, PERVMA_KERNEL_6_7, PERVMA_KERNEL_6_15,
} from './layout';
import { PC, cpu_id, charge, cost, stat_inc } from './cpu';
import { PC_VMF } from './layout';
import {
  COST_PTE_OP, COST_PAGE_COPY,
  STAT_FAULT_ANON_ZERO, STAT_FAULT_ANON, STAT_FAULT_WP_REUSE, STAT_FAULT_WP_COPY, STAT_FAULT_FILE_READ,
  STAT_FAULT_FILE_COW, STAT_FAULT_FILE_SHARED, STAT_FAULT_NUMA, STAT_FAULT_ON_ACCESS, STAT_FAULT_HUGE_PMD,
  STAT_FAULT_SPURIOUS, STAT_FAULT_SIGBUS, STAT_FAULT_OOM, STAT_FAULT_HUGE_PMD_PROTNONE,
  STAT_SPF_ABORT_VMA_CHANGED, STAT_SPF_ABORT_VMA_CHANGED_LOCKED, STAT_SPF_ABORT_PMD_CHANGED, STAT_SPF_ABORT_TRYLOCK_BOUNDED,
  STAT_SPF_TRYLOCK_RETRY, STAT_SPF_ABORT_FILE, STAT_SPF_ABORT_PMD_NONE_FAULT, STAT_SPF_ABORT_FAULT_ON_ACCESS, STAT_SPF_ABORT_UFFD_WP,
  STAT_PERVMA_RETRY_FILE, STAT_PERVMA_RETRY_ANON_VMA, STAT_PERVMA_RETRY_MKWRITE,
} from './generated';
import { spin_lock, spin_unlock, spin_trylock } from './spinlock';
import { sync_point } from './wait';
import { local_irq_disable, local_irq_enable, irq_relax, flush_tlb_mm_range } from './ipi';
import {
  pmd_alloc_walk, pte_alloc_walk, walk_pte_table, walk_pmd_table, walk_pmd_slot, walk_orig_pmd, walk_pte_slot, ptl_of, ptpage_addr, ptep_get, set_pte,
  ptep_get_and_clear, pmd_pte_table, walk_error, WALK_NOMEM,
} from './pgtable';
import {
  pfn_pte, pte_pfn, pte_none, pte_present, pte_protnone, pte_write, pte_dirty, pte_special,
  pte_mkwrite, pte_mkdirty, pte_mkyoung, pte_mkspecial, pte_wrprotect, pte_modify, pte_is_fault_on_access, _PAGE_ACCESSED,
  pmd_none, pmd_trans_huge, pmd_devmap, mk_pte_prot, pgprot_unpack, _PAGE_PSE, _PAGE_UFFD_WP,
} from './pte';
import { tag_storage_enabled, page_tag_storage_reserved, reserve_tag_storage, mte_sync_tags } from './mte';
import { vma_end_read, pervma_kernel } from './pervma';
import { mmap_read_unlock, mmap_read_trylock, mmap_seq_read_check } from './mmap_lock';
import { vma_addr, vma_has_changed } from './vma';
import { alloc_page, put_page, charge_huge_zero } from './page_alloc';
import { frame, frame_flags, frame_mapcount, get_frame, ZERO_PFN } from './frames';
import { lru_cache_add } from './lru';
import { add_mm_counter } from './rss';
import { pagecache_get } from './pagecache';
import { handle_userfault, shmem_userfault, uffd_spf_race, uffd_spf_stall } from './userfaultfd';
import { FN_DO_ANONYMOUS_PAGE, FN_DO_FAULT, FN_DO_HUGE_PMD_ANONYMOUS_PAGE, FN_DO_WP_PAGE, FN_HANDLE_MM_FAULT, FN_HANDLE_PTE_FAULT, FN_HANDLE_PTE_PROTNONE, FN_PTE_ALLOC, FN_PTE_MAP_LOCK, FN_WP_PAGE_COPY } from './generated';
import { fn_enter, fn_exit } from './obs';
import { word_peek, word_peek_plain, word_poke } from './shared';

// FAULT_FLAG_* (include/linux/mm.h)
export const FAULT_FLAG_WRITE: u32 = 0x01;
export const FAULT_FLAG_ALLOW_RETRY: u32 = 0x04; // the handler may release the fault lock and return VM_FAULT_RETRY
export const FAULT_FLAG_RETRY_NOWAIT: u32 = 0x08; // ... but must not release mmap_lock (GUP FOLL_NOWAIT)
export const FAULT_FLAG_TRIED: u32 = 0x20; // this is the retry
export const FAULT_FLAG_USER: u32 = 0x40;
export const FAULT_FLAG_SPECULATIVE: u32 = 0x200;
export const FAULT_FLAG_VMA_LOCK: u32 = 0x1000;
// Not a Linux flag: the speculative fault of spf-mmapseq (Lespinasse 2021), whose
// vmf->sequence is the mm-wide mmap_seq; without it, a speculative fault's
// sequence is its VMA's vm_sequence (SPF v11). The path taken lives in the flags,
// so nothing below fault entry re-reads the strategy.
export const FAULT_FLAG_SPF_MMAP_SEQ: u32 = 0x100000;

// VM_FAULT_* results (0 = handled)
export const VM_FAULT_OOM: i32 = 0x1;
export const VM_FAULT_SIGBUS: i32 = 0x2;
export const VM_FAULT_SIGSEGV: i32 = 0x40;
export const VM_FAULT_RETRY: i32 = 0x400;
export const VM_FAULT_COMPLETED: i32 = 0x4000; // handled, and the fault lock released

// ---- struct vm_fault (per CPU, at PC + PC_VMF; layout.ts sizes the slot) ------
@unmanaged export class VmFault {
  mm: u32;
  flags: u32;
  address: u64;
  vma: u32;          // VMA slot
  sequence: u32;     // vm_sequence snapshot (spf), or the mm-wide mmap_seq snapshot (spf-mmapseq)
  vma_flags: u32;    // READ_ONCE(vma->vm_flags)
  pmd: u32;          // address of the PMD entry
  vma_prot: u64;     // vma->vm_page_prot
  orig_pmd: u64;
  orig_pte: u64;
  table: i32;        // PTE table index, -1 = none yet (vmf->pte == NULL)
  pte: u32;          // address of the PTE entry (0 = vmf->pte == NULL)
  ptl: u32;
  map_pte: u32;      // arch_handle_folio_fault_on_access(vmf)'s *map_pte
}
/** this CPU's struct vm_fault */
@inline export function this_cpu_vmf(): VmFault { return changetype<VmFault>(PC + PC_VMF); }

/**
 * vm_get_page_prot(): the PTE protection of a VMA. Private mappings are
 * mapped read-only even when writable, so the first write faults (COW / the
 * dirty bit); do_anonymous_page and the COW paths add write themselves.
 */
export function vm_get_page_prot(vm_flags: u32): u64 {
  return mk_pte_prot((vm_flags & VM_SHARED) != 0 && !vma_wants_writenotify(vm_flags) ? vm_flags : vm_flags & ~VM_WRITE);
}

/**
 * vma_wants_writenotify() as vma_set_page_prot() asks it: a shared writable
 * VMA whose first write to each page must fault. For the memory faultline
 * maps shared (shmem: no page_mkwrite, no writeback accounting) only
 * uffd-wp tracking asks for it: a write to a uffd-wp PTE must reach the
 * handler, so no PTE of the VMA may take write from vm_page_prot.
 */
@inline export function vma_wants_writenotify(vm_flags: u32): bool {
  return (vm_flags & (VM_SHARED | VM_WRITE)) == (VM_SHARED | VM_WRITE) && (vm_flags & VM_UFFD_WP) != 0;
}

/**
 * can_change_pte_writable() (mm/mprotect.c, Linux 6.12): may a read-only
 * present PTE of this VMA become writable without a write fault? Never a
 * protnone one, never a uffd-wp one in a VM_UFFD_WP VMA (the write belongs
 * to the handler); private: only an exclusive anonymous page (the write
 * fault would reuse it: PageAnonExclusive, here anon with one mapping);
 * shared: only once dirty (the write notification happened already).
 */
export function can_change_pte_writable(vm_flags: u32, pte: u64): bool {
  if ((vm_flags & VM_WRITE) == 0 || pte_protnone(pte)) return false;
  if ((vm_flags & VM_UFFD_WP) != 0 && (pte & _PAGE_UFFD_WP) != 0) return false;
  if ((vm_flags & VM_SHARED) == 0) {
    const pfn = <u32>pte_pfn(pte);
    if (pte_special(pte) || pfn == ZERO_PFN) return false;
    return (frame_flags(pfn) & PG_ANON) != 0 && frame_mapcount(pfn) == 1;
  }
  return pte_dirty(pte);
}

/**
 * do_numa_page()'s write upgrade: the restored entry (pte_modify'd with
 * vm_page_prot) is writable if the protection says so, or if the VMA wants a
 * manual upgrade (vma_wants_manual_pte_write_upgrade: private and VM_WRITE,
 * or shared with write notification) and can_change_pte_writable() agrees.
 */
function numa_restore_writable(vm_flags: u32, restored: u64): bool {
  if (pte_write(restored)) return true;
  const manual = (vm_flags & VM_SHARED) != 0 ? vma_wants_writenotify(vm_flags) : (vm_flags & VM_WRITE) != 0;
  return manual && can_change_pte_writable(vm_flags, restored);
}

@inline function speculative(vmf: VmFault): bool { return (vmf.flags & FAULT_FLAG_SPECULATIVE) != 0; }
@inline function is_write(vmf: VmFault): bool { return (vmf.flags & FAULT_FLAG_WRITE) != 0; }
@inline function vma_is_anonymous(vmf: VmFault): bool { return word_peek_plain<u32>(vma_addr(vmf.vma), VMA_WORDS, VMA_OPS) == VMOPS_NONE; }
@inline function pte_index(vmf: VmFault): u32 { return <u32>(vmf.address >> PAGE_SHIFT) & 511; }

/**
 * The struct vm_fault of a speculative fault: spf.ts did the checks and the
 * lockless walk (IRQs still off, so the walk's tables stand); this takes the
 * walk's PMD and PTE and sets FAULT_FLAG_SPECULATIVE. The caller fills in its
 * VMA snapshot (vma, sequence, vma_flags, vma_prot), as handle_speculative_fault()
 * fills its on-stack vmf. `flags` may carry FAULT_FLAG_SPF_MMAP_SEQ.
 */
export function vmf_init_speculative(mm: u32, address: u64, flags: u32): VmFault {
  const vmf = this_cpu_vmf();
  vmf.mm = mm; vmf.address = address;
  // v11 clears FAULT_FLAG_ALLOW_RETRY: nothing may release a lock a speculative fault does not hold
  vmf.flags = (flags & ~FAULT_FLAG_ALLOW_RETRY) | FAULT_FLAG_SPECULATIVE;
  vmf.pmd = walk_pmd_slot(); vmf.orig_pmd = walk_orig_pmd();
  vmf.table = walk_pte_table();
  const pte = walk_pte_slot();
  vmf.orig_pte = atomic.load<u64>(pte);
  vmf.pte = pte_none(vmf.orig_pte) ? 0 : pte;
  return vmf;
}

// ---- PTE locking: the speculative variants ---------------------------------

/**
 * The speculative fault's validation: did a writer change what it read?
 * spf (v11): its VMA's vm_sequence moved or the VMA was detached;
 * spf-mmapseq (Lespinasse 2021): any mmap_lock writer started since the fault
 * sampled the mm-wide sequence (mmap_seq_read_check).
 */
@inline function spf_changed(vmf: VmFault): bool {
  return (vmf.flags & FAULT_FLAG_SPF_MMAP_SEQ) != 0 ? !mmap_seq_read_check(vmf.mm, vmf.sequence) : vma_has_changed(vmf.vma, vmf.sequence);
}

/**
 * pte_map_lock(vmf) / pte_spinlock(): take the PTL of vmf's PTE table.
 * Speculative: the first vma_has_changed() proves the page tables are still
 * valid, IRQs off keep them (a freeing CPU waits for our shootdown ack), and
 * the second check proves they still are once we own the PTL. The PTL is only
 * TRY-locked with IRQs off: its holder may be waiting for our ack.
 * Returns false (the caller returns VM_FAULT_RETRY) when the VMA changed.
 */
/** cycles the planted BUG_SKIP_VMA_CHANGED holds a speculative fault inside pte_map_lock's window (~4 us at 2.5 GHz) */
const BUG_WINDOW_STALL: u64 = 10_000;

function pte_map_lock__body(vmf: VmFault): bool {
  const t = <u32>vmf.table;
  if (!speculative(vmf)) {
    vmf.ptl = ptl_of(t);
    spin_lock(vmf.ptl);
    return true;
  }
  const policy = setting(SET_SPF_RETRY);
  let tries: u32 = 0;
  // retry: the PTL was busy; IRQs were let in between tries
  while (true) {
    local_irq_disable();
    if (spf_changed(vmf)) { stat_inc(STAT_SPF_ABORT_VMA_CHANGED); local_irq_enable(); return false; }
    // a THP collapse in our back changes the PMD
    if (atomic.load<u64>(vmf.pmd) != vmf.orig_pmd) { stat_inc(STAT_SPF_ABORT_PMD_CHANGED); local_irq_enable(); return false; }
    const ptl = ptl_of(t);
    // Planted bug (test core only): the window between the two checks is where
    // an unmapping CPU must act for the skipped check to matter. On hardware an
    // NMI or a vCPU preemption stretches it; here a stall does, so the race
    // replays in deterministic mode instead of hanging on host preemption.
    if (TEST_BUILD && (setting(SET_BUG) & BUG_SKIP_VMA_CHANGED) != 0) { charge(BUG_WINDOW_STALL); sync_point(); }
    if (policy == SPF_RETRY_SPIN) {
      spin_lock(ptl); // UNSAFE: spins with IRQs off (the deadlock the series avoids)
    } else if (!spin_trylock(ptl)) {
      // one failed trylock, one counter: either the last allowed try (abort) or a retry
      tries++;
      if (policy != SPF_RETRY_UNBOUNDED && tries >= policy) {
        stat_inc(STAT_SPF_ABORT_TRYLOCK_BOUNDED);
        local_irq_enable();
        return false;
      }
      stat_inc(STAT_SPF_TRYLOCK_RETRY);
      irq_relax();
      local_irq_enable();
      continue;
    }
    if (!(TEST_BUILD && (setting(SET_BUG) & BUG_SKIP_VMA_CHANGED) != 0) && spf_changed(vmf)) {
      spin_unlock(ptl);
      stat_inc(STAT_SPF_ABORT_VMA_CHANGED_LOCKED);
      local_irq_enable();
      return false;
    }
    vmf.ptl = ptl;
    local_irq_enable();
    return true;
  }
  return false;
}
/** pte_map_lock() as a frame of the flame graph (obs.ts) */
@inline export function pte_map_lock(vmf: VmFault): bool {
  fn_enter(FN_PTE_MAP_LOCK);
  const r = pte_map_lock__body(vmf);
  fn_exit();
  return r;
}

@inline function pte_unmap_unlock(vmf: VmFault): void { spin_unlock(vmf.ptl); }

/** read the PTE under the PTL (the cache line is ours or comes to us) */
@inline function pte_read(vmf: VmFault): u64 {
  return ptep_get(<u32>vmf.table, pte_index(vmf));
}

/**
 * set_pte_at(): install `e` at vmf's PTE (caller holds the PTL). In an MTE
 * VMA, mte_sync_tags() turns an entry for a page without tag storage into a
 * fault-on-access one.
 */
@inline function pte_install(vmf: VmFault, e: u64): void {
  charge(cost(COST_PTE_OP));
  if (vmf.vma_flags & VM_MTE) e = mte_sync_tags(e, vmf.vma_flags);
  set_pte(<u32>vmf.table, vmf.pte, e);
}

/**
 * release_fault_lock(vmf): drop the lock the fault runs under: the VMA's lock
 * (FAULT_FLAG_VMA_LOCK) or mmap_lock. Never called for a speculative fault
 * (it holds neither).
 */
export function release_fault_lock(vmf: VmFault): void {
  if (vmf.flags & FAULT_FLAG_VMA_LOCK) vma_end_read(vmf.vma);
  else mmap_read_unlock(vmf.mm);
}

/** fault_flag_allow_retry_first(vmf): the handler may still ask for a retry */
@inline function fault_flag_allow_retry_first(vmf: VmFault): bool {
  return (vmf.flags & (FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_TRIED)) == FAULT_FLAG_ALLOW_RETRY;
}

// ---- handle_mm_fault --------------------------------------------------------

/**
 * handle_mm_fault(): caller holds mmap_lock for read, or the VMA's lock
 * (FAULT_FLAG_VMA_LOCK). Allocates the upper page tables, handles huge PMDs,
 * then handle_pte_fault(vmf).
 */
function handle_mm_fault__body(mm: u32, vma: u32, address: u64, flags: u32): i32 {
  const vmf = this_cpu_vmf();
  const v = vma_addr(vma);
  vmf.mm = mm; vmf.address = address; vmf.flags = flags; vmf.vma = vma;
  vmf.vma_flags = word_peek_plain<u32>(v, VMA_WORDS, VMA_FLAGS);
  // vma->vm_page_prot as the VMA holds it (it may carry more than the flags say), never recomputed
  vmf.vma_prot = pgprot_unpack(word_peek_plain<u32>(v, VMA_WORDS, VMA_PROT));
  vmf.pmd = pmd_alloc_walk(mm, address);
  if (vmf.pmd == 0) {
    if (walk_error() == WALK_NOMEM) { stat_inc(STAT_FAULT_OOM); return VM_FAULT_OOM; }
    return sigbus(); // a huge or bad upper entry: no 1 GiB pages here
  }
  vmf.sequence = atomic.load<u32>(v + VMA_SEQ); // raw_read_seqcount(&vma->vm_sequence), as the series does here
  let pmdv = atomic.load<u64>(vmf.pmd);
  if (pmd_none(pmdv) && thp_enabled(vmf, v)) {
    const r = do_huge_pmd_anonymous_page(vmf);
    if (r != VM_FAULT_FALLBACK) return r;
    pmdv = atomic.load<u64>(vmf.pmd);
  }
  // a devmap PMD is a huge leaf too (Linux: pmd_trans_huge() || pmd_devmap(); pmd_trans_huge()
  // excludes devmap); it used to fall through to pmd_pte_table() and end in SIGBUS as a bad PMD
  if (pmd_trans_huge(pmdv) || pmd_devmap(pmdv)) {
    if (pte_protnone(pmdv) && vma_is_accessible(vmf)) return handle_huge_pmd_protnone(vmf, pmdv);
    if (is_write(vmf) && !pte_write(pmdv)) return do_huge_pmd_wp_page(vmf, pmdv);
    return huge_pmd_set_accessed(vmf, pmdv);
  }
  vmf.orig_pmd = pmdv;
  vmf.table = -1;
  vmf.pte = 0;
  if (!pmd_none(pmdv)) {
    vmf.table = pmd_pte_table(pmdv);
    if (vmf.table < 0) return sigbus(); // bad PMD
    vmf.pte = ptpage_addr(<u32>vmf.table) + (pte_index(vmf) << 3);
    vmf.orig_pte = pte_read(vmf);
    if (pte_none(vmf.orig_pte)) vmf.pte = 0;
  }
  return handle_pte_fault(vmf);
}
/** handle_mm_fault() as a frame of the flame graph (obs.ts) */
@inline export function handle_mm_fault(mm: u32, vma: u32, address: u64, flags: u32): i32 {
  fn_enter(FN_HANDLE_MM_FAULT);
  const r = handle_mm_fault__body(mm, vma, address, flags);
  fn_exit();
  return r;
}

const VM_FAULT_FALLBACK: i32 = 0x800;

@inline function sigbus(): i32 { stat_inc(STAT_FAULT_SIGBUS); return VM_FAULT_SIGBUS; }
/** vma_is_accessible(vmf): any of read, write, exec */
@inline function vma_is_accessible(vmf: VmFault): bool { return (vmf.vma_flags & (VM_READ | VM_WRITE | VM_EXEC)) != 0; }

/**
 * handle_pte_fault(vmf): vmf_pte == 0 means no PTE (none, or no table yet).
 * Speculative callers come here with the walk already done.
 */
function handle_pte_fault__body(vmf: VmFault): i32 {
  // v11: a speculative fault re-reads the PMD here: a collapse may have cleared it
  // since the walk (it marks the PMD none before its IPI, which our IRQs-off walk
  // held up); abort now rather than after allocating and zeroing a page
  if (speculative(vmf) && pmd_none(atomic.load<u64>(vmf.pmd))) { stat_inc(STAT_SPF_ABORT_PMD_NONE_FAULT); return VM_FAULT_RETRY; }
  if (vmf.pte == 0) {
    if (vma_is_anonymous(vmf)) return do_anonymous_page(vmf);
    if (speculative(vmf)) { stat_inc(STAT_SPF_ABORT_FILE); return VM_FAULT_RETRY; }
    return do_fault(vmf);
  }
  if (!pte_present(vmf.orig_pte)) return sigbus(); // swap entries: do_swap_page is not emulated
  // NUMA hinting and fault-on-access entries alike are protnone
  if (pte_protnone(vmf.orig_pte) && vma_is_accessible(vmf)) return handle_pte_protnone(vmf);
  if (!pte_map_lock(vmf)) return VM_FAULT_RETRY;
  let entry = vmf.orig_pte;
  if (pte_read(vmf) != entry) {
    // another CPU changed the PTE: nothing to do but retry the access
    pte_unmap_unlock(vmf);
    stat_inc(STAT_FAULT_SPURIOUS);
    return 0;
  }
  if (is_write(vmf)) {
    if (!pte_write(entry)) return do_wp_page(vmf);
    entry = pte_mkdirty(entry);
  }
  entry = pte_mkyoung(entry);
  if (entry != vmf.orig_pte) pte_install(vmf, entry);
  pte_unmap_unlock(vmf);
  stat_inc(STAT_FAULT_SPURIOUS);
  return 0;
}
/** handle_pte_fault() as a frame of the flame graph (obs.ts) */
@inline export function handle_pte_fault(vmf: VmFault): i32 {
  fn_enter(FN_HANDLE_PTE_FAULT);
  const r = handle_pte_fault__body(vmf);
  fn_exit();
  return r;
}

/** make sure vmf has a PTE table (classic and per-VMA paths only: SPF never allocates) */
function pte_alloc__body(vmf: VmFault): bool {
  if (vmf.table >= 0) return true;
  const slot = pte_alloc_walk(vmf.mm, vmf.address);
  if (slot == 0) return false;
  vmf.table = walk_pte_table();
  vmf.pte = slot;
  return true;
}
/** pte_alloc() as a frame of the flame graph (obs.ts) */
@inline function pte_alloc(vmf: VmFault): bool {
  fn_enter(FN_PTE_ALLOC);
  const r = pte_alloc__body(vmf);
  fn_exit();
  return r;
}

/** anon_vma_prepare(vmf): first anonymous page of the VMA (caller: not speculative) */
function anon_vma_prepare(vmf: VmFault): void {
  const v = vma_addr(vmf.vma);
  if (word_peek<u32>(v, VMA_WORDS, VMA_ANON) != 0) return;
  const l = mm_addr(vmf.mm) + MM_PT_LOCK;
  spin_lock(l);
  if (word_peek<u32>(v, VMA_WORDS, VMA_ANON) == 0) word_poke<u32>(v, VMA_WORDS, VMA_ANON, 1);
  spin_unlock(l);
}

/** the fault runs under the VMA lock (pervma), not mmap_lock */
@inline function vma_locked(vmf: VmFault): bool { return (vmf.flags & FAULT_FLAG_VMA_LOCK) != 0; }

/**
 * A handler the running release cannot run under the VMA lock: drop it and
 * return VM_FAULT_RETRY; do_user_addr_fault redoes the fault under mmap_lock
 * (Linux counts VMA_LOCK_RETRY). `counter` names the reason.
 */
function vma_lock_retry(vmf: VmFault, counter: u32): i32 {
  vma_end_read(vmf.vma);
  stat_inc(counter);
  return VM_FAULT_RETRY;
}

/**
 * vmf_anon_prepare(vmf) (mm/memory.c, 6.7+; anon_vma_prepare() before): the VMA
 * gets its anon_vma before an anonymous page goes in. Under mmap_lock, set it
 * up. Under the VMA lock: 6.7-6.14 drop the lock and retry under mmap_lock
 * (false); 6.15 takes mmap_lock with a trylock to set it up, and retries only
 * when the trylock fails. Caller: not speculative, no PTL held.
 */
function vmf_anon_prepare(vmf: VmFault): bool {
  if (word_peek<u32>(vma_addr(vmf.vma), VMA_WORDS, VMA_ANON) != 0) return true;
  if (!vma_locked(vmf)) { anon_vma_prepare(vmf); return true; }
  if (pervma_kernel() >= PERVMA_KERNEL_6_15 && mmap_read_trylock(vmf.mm)) {
    anon_vma_prepare(vmf);
    mmap_read_unlock(vmf.mm);
    return true;
  }
  vma_lock_retry(vmf, STAT_PERVMA_RETRY_ANON_VMA);
  return false;
}

/** do_anonymous_page(vmf): no PTE in an anonymous VMA */
function do_anonymous_page__body(vmf: VmFault): i32 {
  if (vmf.vma_flags & VM_SHARED) return sigbus(); // shared anonymous memory is shmem: has vm_ops
  if (!speculative(vmf) && !pte_alloc(vmf)) { stat_inc(STAT_FAULT_OOM); return VM_FAULT_OOM; }
  const slot = ptpage_addr(<u32>vmf.table) + (pte_index(vmf) << 3);
  vmf.pte = slot;
  if (!is_write(vmf)) {
    // read fault: map the shared zero page read-only
    const entry = pte_mkspecial(pfn_pte(<u64>ZERO_PFN, pte_wrprotect(vmf.vma_prot)));
    if (!pte_map_lock(vmf)) return VM_FAULT_RETRY;
    if (!pte_none(pte_read(vmf))) { pte_unmap_unlock(vmf); stat_inc(STAT_FAULT_SPURIOUS); return 0; }
    // deliver the fault to userland, checked inside the PTL (a speculative fault: userfaultfd.ts, the race rule)
    if (TEST_BUILD && speculative(vmf)) uffd_spf_stall();
    if (word_peek<u32>(vma_addr(vmf.vma), VMA_WORDS, VMA_FLAGS) & VM_UFFD_MISSING) {
      if (!speculative(vmf)) { pte_unmap_unlock(vmf); return handle_userfault(vmf, VM_UFFD_MISSING); }
      if (uffd_spf_race()) { pte_unmap_unlock(vmf); return VM_FAULT_RETRY; }
    }
    pte_install(vmf, entry);
    pte_unmap_unlock(vmf);
    stat_inc(STAT_FAULT_ANON_ZERO);
    return 0;
  }
  if (!speculative(vmf) && !vmf_anon_prepare(vmf)) return VM_FAULT_RETRY;
  const page = alloc_page(PG_ANON, true);
  if (page < 0) return oom();
  mte_alloc_tagged(vmf, <u32>page);
  let entry = pte_mkyoung(pfn_pte(<u64>page, vmf.vma_prot));
  if (vmf.vma_flags & VM_WRITE) entry = pte_mkwrite(pte_mkdirty(entry));
  if (!pte_map_lock(vmf)) { put_page(<u32>page); return VM_FAULT_RETRY; }
  if (!pte_none(pte_read(vmf))) { pte_unmap_unlock(vmf); put_page(<u32>page); stat_inc(STAT_FAULT_SPURIOUS); return 0; }
  if (TEST_BUILD && speculative(vmf)) uffd_spf_stall();
  if (word_peek<u32>(vma_addr(vmf.vma), VMA_WORDS, VMA_FLAGS) & VM_UFFD_MISSING) {
    if (!speculative(vmf)) { pte_unmap_unlock(vmf); put_page(<u32>page); return handle_userfault(vmf, VM_UFFD_MISSING); }
    if (uffd_spf_race()) { pte_unmap_unlock(vmf); put_page(<u32>page); return VM_FAULT_RETRY; }
  }
  add_mm_counter(vmf.mm, true, 1);
  atomic.store<i32>(frame(<u32>page) + FR_MAPCOUNT, 1); // page_add_new_anon_rmap
  lru_cache_add(<u32>page);
  pte_install(vmf, entry);
  pte_unmap_unlock(vmf);
  stat_inc(STAT_FAULT_ANON);
  return 0;
}
/** do_anonymous_page() as a frame of the flame graph (obs.ts) */
@inline function do_anonymous_page(vmf: VmFault): i32 {
  fn_enter(FN_DO_ANONYMOUS_PAGE);
  const r = do_anonymous_page__body(vmf);
  fn_exit();
  return r;
}

/**
 * An allocation failed: VM_FAULT_OOM, on the speculative path too, as in the
 * SPF series (do_anonymous_page's `oom:` label; the arch fault handler only
 * redoes a speculative fault on VM_FAULT_RETRY), so the classic path is not
 * tried again.
 */
function oom(): i32 {
  stat_inc(STAT_FAULT_OOM);
  return VM_FAULT_OOM;
}

/**
 * A new page for an MTE VMA is allocated with __GFP_TAGGED: its tag storage
 * is reserved at allocation (post_alloc_hook in the tag-storage series). If
 * the pool is empty, set_pte_at's mte_sync_tags() maps it fault-on-access.
 */
@inline function mte_alloc_tagged(vmf: VmFault, page: u32): void {
  if ((vmf.vma_flags & VM_MTE) != 0 && tag_storage_enabled()) reserve_tag_storage(page);
}

/**
 * do_wp_page(vmf): write to a present read-only PTE. Caller holds the PTL
 * (pte_map_lock succeeded and the PTE is still vmf_orig_pte).
 */
function do_wp_page__body(vmf: VmFault): i32 {
  // userfaultfd_pte_wp(): a write-protected page of a VM_UFFD_WP VMA goes to the handler
  if ((vmf.vma_flags & VM_UFFD_WP) && (vmf.orig_pte & _PAGE_UFFD_WP)) {
    pte_unmap_unlock(vmf);
    if (speculative(vmf)) { stat_inc(STAT_SPF_ABORT_UFFD_WP); return VM_FAULT_RETRY; }
    return handle_userfault(vmf, VM_UFFD_WP);
  }
  const pfn = <u32>pte_pfn(vmf.orig_pte);
  const special = pte_special(vmf.orig_pte) || pfn == ZERO_PFN;
  if (!special && (vmf.vma_flags & VM_SHARED)) {
    // 6.6: wp_page_shared() with ->page_mkwrite (a regular file's filesystem; shmem has none)
    // drops the VMA lock; "mm: handle write faults to RO pages under the VMA lock" (6.7) keeps it
    if (vma_locked(vmf) && pervma_kernel() < PERVMA_KERNEL_6_7 && word_peek_plain<u32>(vma_addr(vmf.vma), VMA_WORDS, VMA_OPS) == VMOPS_FILE) {
      pte_unmap_unlock(vmf);
      return vma_lock_retry(vmf, STAT_PERVMA_RETRY_MKWRITE);
    }
    // wp_page_shared: the file page becomes writable and dirty in place
    pte_install(vmf, pte_mkyoung(pte_mkdirty(pte_mkwrite(vmf.orig_pte))));
    pte_unmap_unlock(vmf);
    stat_inc(STAT_FAULT_WP_REUSE);
    return 0;
  }
  if (!special && (frame_flags(pfn) & PG_ANON) && frame_mapcount(pfn) == 1) {
    // wp_page_reuse: we are the only mapper of this anonymous page
    pte_install(vmf, pte_mkyoung(pte_mkdirty(pte_mkwrite(vmf.orig_pte))));
    pte_unmap_unlock(vmf);
    stat_inc(STAT_FAULT_WP_REUSE);
    return 0;
  }
  return wp_page_copy(vmf, pfn, special);
}
/** do_wp_page() as a frame of the flame graph (obs.ts) */
@inline function do_wp_page(vmf: VmFault): i32 {
  fn_enter(FN_DO_WP_PAGE);
  const r = do_wp_page__body(vmf);
  fn_exit();
  return r;
}

/** wp_page_copy(vmf): COW. Drops and retakes the PTL around the allocation. */
function wp_page_copy__body(vmf: VmFault, old: u32, from_zero: bool): i32 {
  pte_unmap_unlock(vmf);
  if (!speculative(vmf) && (vmf.vma_flags & VM_SHARED) == 0 && !vmf_anon_prepare(vmf)) return VM_FAULT_RETRY;
  const page = alloc_page(PG_ANON, from_zero);
  if (page < 0) return oom();
  mte_alloc_tagged(vmf, <u32>page);
  if (!from_zero) charge(cost(COST_PAGE_COPY));
  if (!pte_map_lock(vmf)) { put_page(<u32>page); return VM_FAULT_RETRY; }
  if (pte_read(vmf) != vmf.orig_pte) { pte_unmap_unlock(vmf); put_page(<u32>page); stat_inc(STAT_FAULT_SPURIOUS); return 0; }
  const entry = pte_mkyoung(pte_mkdirty(pte_mkwrite(pfn_pte(<u64>page, vmf.vma_prot))));
  // ptep_clear_flush(): the old translation must be gone from every TLB
  // before the new one is visible; this shootdown is sent WITH the PTL held
  ptep_get_and_clear(<u32>vmf.table, vmf.pte);
  flush_tlb_mm_range(vmf.mm, vmf.address >> PAGE_SHIFT, (vmf.address >> PAGE_SHIFT) + 1);
  atomic.store<i32>(frame(<u32>page) + FR_MAPCOUNT, 1);
  lru_cache_add(<u32>page);
  pte_install(vmf, entry);
  if (from_zero) add_mm_counter(vmf.mm, true, 1);
  else {
    atomic.sub<i32>(frame(old) + FR_MAPCOUNT, 1); // page_remove_rmap
    if ((frame_flags(old) & PG_ANON) == 0) { add_mm_counter(vmf.mm, false, -1); add_mm_counter(vmf.mm, true, 1); }
  }
  pte_unmap_unlock(vmf);
  if (!from_zero) put_page(old); // the mapping's reference, after the flush
  stat_inc(STAT_FAULT_WP_COPY);
  return 0;
}
/** wp_page_copy() as a frame of the flame graph (obs.ts) */
@inline function wp_page_copy(vmf: VmFault, old: u32, from_zero: bool): i32 {
  fn_enter(FN_WP_PAGE_COPY);
  const r = wp_page_copy__body(vmf, old, from_zero);
  fn_exit();
  return r;
}

/**
 * do_fault(vmf): file-backed VMA, no PTE. Classic / per-VMA only (vm_ops->fault
 * may sleep). Under the VMA lock before 6.7, do_read_fault, do_cow_fault and
 * do_shared_fault each drop it and retry under mmap_lock.
 */
function do_fault__body(vmf: VmFault): i32 {
  if (vma_locked(vmf) && pervma_kernel() < PERVMA_KERNEL_6_7) return vma_lock_retry(vmf, STAT_PERVMA_RETRY_FILE);
  if (!pte_alloc(vmf)) { stat_inc(STAT_FAULT_OOM); return VM_FAULT_OOM; }
  vmf.pte = ptpage_addr(<u32>vmf.table) + (pte_index(vmf) << 3);
  const v = vma_addr(vmf.vma);
  const pgoff = word_peek_plain<u64>(v, VMA_WORDS, VMA_PGOFF) + ((vmf.address - word_peek_plain<u64>(v, VMA_WORDS, VMA_START)) >> PAGE_SHIFT);
  // do_cow_fault() starts with vmf_anon_prepare(vmf)
  if (is_write(vmf) && (vmf.vma_flags & VM_SHARED) == 0 && !vmf_anon_prepare(vmf)) return VM_FAULT_RETRY;
  if (word_peek_plain<u32>(v, VMA_WORDS, VMA_OPS) == VMOPS_SHMEM && (vmf.vma_flags & (VM_UFFD_MISSING | VM_UFFD_MINOR))) {
    const u = shmem_userfault(vmf, word_peek_plain<u32>(v, VMA_WORDS, VMA_FILE), pgoff);
    if (u >= 0) return u;
  }
  const page = pagecache_get(word_peek_plain<u32>(v, VMA_WORDS, VMA_FILE), pgoff);
  if (page == -2) return sigbus(); // past EOF
  if (page < 0) { stat_inc(STAT_FAULT_OOM); return VM_FAULT_OOM; }
  const shared = (vmf.vma_flags & VM_SHARED) != 0;
  if (is_write(vmf) && !shared) {
    // do_cow_fault: a private copy of the page-cache page (its anon_vma was prepared first)
    const copy = alloc_page(PG_ANON, false);
    if (copy < 0) { put_page(<u32>page); stat_inc(STAT_FAULT_OOM); return VM_FAULT_OOM; }
    charge(cost(COST_PAGE_COPY));
    put_page(<u32>page);
    pte_map_lock(vmf);
    if (!pte_none(pte_read(vmf))) { pte_unmap_unlock(vmf); put_page(<u32>copy); stat_inc(STAT_FAULT_SPURIOUS); return 0; }
    atomic.store<i32>(frame(<u32>copy) + FR_MAPCOUNT, 1);
    lru_cache_add(<u32>copy);
    add_mm_counter(vmf.mm, true, 1);
    pte_install(vmf, pte_mkyoung(pte_mkdirty(pte_mkwrite(pfn_pte(<u64>copy, vmf.vma_prot)))));
    pte_unmap_unlock(vmf);
    stat_inc(STAT_FAULT_FILE_COW);
    return 0;
  }
  // do_read_fault / do_shared_fault: map the page-cache page itself
  let entry = pte_mkyoung(pfn_pte(<u64>page, vmf.vma_prot));
  if (is_write(vmf)) entry = pte_mkdirty(pte_mkwrite(entry));
  else entry = pte_wrprotect(entry);
  pte_map_lock(vmf);
  if (!pte_none(pte_read(vmf))) { pte_unmap_unlock(vmf); put_page(<u32>page); stat_inc(STAT_FAULT_SPURIOUS); return 0; }
  atomic.add<i32>(frame(<u32>page) + FR_MAPCOUNT, 1); // page_add_file_rmap; the lookup's reference is the mapping's
  add_mm_counter(vmf.mm, false, 1);
  pte_install(vmf, entry);
  pte_unmap_unlock(vmf);
  stat_inc(is_write(vmf) ? STAT_FAULT_FILE_SHARED : STAT_FAULT_FILE_READ);
  return 0;
}
/** do_fault() as a frame of the flame graph (obs.ts) */
@inline function do_fault(vmf: VmFault): i32 {
  fn_enter(FN_DO_FAULT);
  const r = do_fault__body(vmf);
  fn_exit();
  return r;
}

// ---- protnone entries: NUMA hinting and fault on access ------------------------

/** vma_set_access_pid_bit(vmf): record that this task touched the VMA (the NUMA scanner's numab_state) */
@inline function vma_set_access_pid_bit(vmf: VmFault): void {
  atomic.or<u32>(vma_addr(vmf.vma) + VMA_ACCESS_PIDS, <u32>1 << (cpu_id() & 31));
}

/**
 * arch_handle_folio_fault_on_access(vmf): the architecture's handler of a
 * fault-on-access entry. Called without the PTL, with the fault lock held
 * and a reference on the frame; the rules (reference fault-on-access-
 * protnone-2024, include/linux/pgtable.h): return with the reference
 * dropped; on VM_FAULT_RETRY / VM_FAULT_COMPLETED release the fault lock,
 * unless FAULT_FLAG_RETRY_NOWAIT, then keep mmap_lock; otherwise keep it.
 * vmf.map_pte = 1 asks the caller to map the page back.
 * With tag storage (arm64 handle_folio_missing_tag_storage()): reserve the
 * frame's tag storage and map. When the pool is empty, the first try of the
 * fault releases the lock and asks for a retry (the series avoids the costly
 * migration to a tagged page while it can); the retry (FAULT_FLAG_TRIED)
 * would migrate the page to one with tag storage, which needs the same empty
 * pool, so faultline reports VM_FAULT_OOM there instead of replaying the
 * fault forever. Without tag storage it is the generic default: SIGBUS.
 */
function arch_handle_folio_fault_on_access(vmf: VmFault, pfn: u32): i32 {
  vmf.map_pte = 0;
  if (!tag_storage_enabled()) {
    // the default handler of the series returns SIGBUS (with the reference still
    // held: it is unreachable there); here a test can write such an entry by hand
    put_page(pfn);
    return sigbus();
  }
  // a VMA, once tagged, stays tagged (VM_MTE is sticky): nothing to reserve otherwise
  if ((vmf.vma_flags & VM_MTE) == 0 || page_tag_storage_reserved(pfn) || reserve_tag_storage(pfn)) {
    put_page(pfn);
    vmf.map_pte = 1;
    return 0;
  }
  put_page(pfn);
  if (fault_flag_allow_retry_first(vmf)) {
    if ((vmf.flags & FAULT_FLAG_RETRY_NOWAIT) == 0) release_fault_lock(vmf);
    return VM_FAULT_RETRY;
  }
  return oom();
}

/**
 * handle_pte_protnone(vmf) (do_numa_page before the fault-on-access series): a
 * protnone PTE in an accessible VMA, made by the NUMA scanner or, with the
 * fault-on-access bit, by the architecture. Order as in the series: under
 * the PTL check the PTE, take the frame reference and record the accessing
 * task BEFORE the arch check; a fault-on-access entry then drops the PTL,
 * runs the arch handler and, if it says map_pte, re-takes the PTL
 * (out_lock_and_map) and maps only if the PTE is still the one it saw
 * (pte_same). A NUMA hint has nowhere to migrate (one node): the reference
 * goes and the PTE is restored (out_map). Caller: the PTE was protnone.
 */
function handle_pte_protnone__body(vmf: VmFault): i32 {
  if (!pte_map_lock(vmf)) return VM_FAULT_RETRY; // pte_spinlock()
  if (pte_read(vmf) != vmf.orig_pte) { pte_unmap_unlock(vmf); stat_inc(STAT_FAULT_SPURIOUS); return 0; }
  const old_pte = vmf.orig_pte;
  const foa = pte_is_fault_on_access(old_pte); // arch_fault_on_access_pte()
  // was it writable before it was made inaccessible? (a uffd-wp entry never was)
  const writable = numa_restore_writable(vmf.vma_flags, pte_modify(old_pte, vmf.vma_prot));
  const pfn = <u32>pte_pfn(old_pte);
  // vm_normal_folio(): no frame behind a special entry or the zero page
  if (pte_special(old_pte) || pfn == ZERO_PFN) return protnone_out_map(vmf, writable, foa);
  get_frame(pfn); // folio_get()
  vma_set_access_pid_bit(vmf);
  if (foa) {
    pte_unmap_unlock(vmf);
    if (speculative(vmf)) { put_page(pfn); stat_inc(STAT_SPF_ABORT_FAULT_ON_ACCESS); return VM_FAULT_RETRY; }
    const ret = arch_handle_folio_fault_on_access(vmf, pfn);
    if (ret != 0 || vmf.map_pte == 0) return ret;
    // out_lock_and_map: the PTE may have changed while the PTL was dropped
    pte_map_lock(vmf);
    if (pte_read(vmf) != vmf.orig_pte) { pte_unmap_unlock(vmf); stat_inc(STAT_FAULT_SPURIOUS); return 0; }
    return protnone_out_map(vmf, writable, true);
  }
  // numa_migrate_prep(): the target is this node; no migration, drop the reference
  put_page(pfn);
  return protnone_out_map(vmf, writable, false);
}
/** handle_pte_protnone() as a frame of the flame graph (obs.ts) */
@inline function handle_pte_protnone(vmf: VmFault): i32 {
  fn_enter(FN_HANDLE_PTE_PROTNONE);
  const r = handle_pte_protnone__body(vmf);
  fn_exit();
  return r;
}

/** out_map: make the PTE accessible again with the VMA's protection. Caller holds the PTL. */
function protnone_out_map(vmf: VmFault, writable: bool, foa: bool): i32 {
  // restoring the VMA's protection also clears the fault-on-access bit (it is part of the prot)
  let entry = pte_mkyoung(pte_modify(vmf.orig_pte, vmf.vma_prot));
  if (writable) entry = pte_mkwrite(entry);
  pte_install(vmf, entry);
  pte_unmap_unlock(vmf);
  stat_inc(foa ? STAT_FAULT_ON_ACCESS : STAT_FAULT_NUMA);
  return 0;
}

// ---- transparent huge pages --------------------------------------------------

/** THP for this VMA at vmf_address: anonymous, policy allows, 2 MiB range inside the VMA */
function thp_enabled(vmf: VmFault, v: u32): bool {
  const thp = setting(SET_THP);
  if (word_peek_plain<u32>(v, VMA_WORDS, VMA_OPS) != VMOPS_NONE) return false;
  if (thp != THP_ALWAYS && !(thp == THP_MADVISE && (word_peek_plain<u32>(v, VMA_WORDS, VMA_FLAGS) & VM_HUGEPAGE))) return false;
  const h = vmf.address & ~(<u64>0x1fffff);
  return h >= word_peek_plain<u64>(v, VMA_WORDS, VMA_START) && h + 0x200000 <= word_peek_plain<u64>(v, VMA_WORDS, VMA_END);
}

/** do_huge_pmd_anonymous_page(vmf): a 2 MiB page under the PMD table's lock */
function do_huge_pmd_anonymous_page__body(vmf: VmFault): i32 {
  if (speculative(vmf)) return VM_FAULT_FALLBACK;
  if (!vmf_anon_prepare(vmf)) return VM_FAULT_RETRY;
  const page = alloc_page(PG_ANON | PG_HUGE, false);
  if (page < 0) return VM_FAULT_FALLBACK;
  charge_huge_zero();
  mte_alloc_tagged(vmf, <u32>page);
  const ptl = ptl_of(<u32>walk_pmd_table());
  spin_lock(ptl);
  if (!pmd_none(atomic.load<u64>(vmf.pmd))) { spin_unlock(ptl); put_page(<u32>page); return VM_FAULT_FALLBACK; }
  let entry = pte_mkyoung(pfn_pte(<u64>page, vmf.vma_prot | _PAGE_PSE));
  if (vmf.vma_flags & VM_WRITE) entry = pte_mkwrite(pte_mkdirty(entry));
  atomic.store<i32>(frame(<u32>page) + FR_MAPCOUNT, 1);
  add_mm_counter(vmf.mm, true, 512);
  charge(cost(COST_PTE_OP));
  if (vmf.vma_flags & VM_MTE) entry = mte_sync_tags(entry, vmf.vma_flags);
  set_pte(<u32>walk_pmd_table(), vmf.pmd, entry);
  spin_unlock(ptl);
  stat_inc(STAT_FAULT_HUGE_PMD);
  return 0;
}
/** do_huge_pmd_anonymous_page() as a frame of the flame graph (obs.ts) */
@inline function do_huge_pmd_anonymous_page(vmf: VmFault): i32 {
  fn_enter(FN_DO_HUGE_PMD_ANONYMOUS_PAGE);
  const r = do_huge_pmd_anonymous_page__body(vmf);
  fn_exit();
  return r;
}

/**
 * handle_huge_pmd_protnone(vmf) (mm/huge_memory.c, do_huge_pmd_numa_page
 * before the series): the PMD variant of handle_pte_protnone, under the PMD
 * table's lock; a fault-on-access huge PMD (arch_fault_on_access_pmd) goes
 * to the same arch handler for its 512 pages and maps back non-writable (the
 * write fault that may follow makes it writable), as in the series.
 */
function handle_huge_pmd_protnone(vmf: VmFault, oldpmd: u64): i32 {
  const t = <u32>walk_pmd_table();
  const ptl = ptl_of(t);
  spin_lock(ptl);
  if (atomic.load<u64>(vmf.pmd) != oldpmd) { spin_unlock(ptl); stat_inc(STAT_FAULT_SPURIOUS); return 0; }
  const foa = pte_is_fault_on_access(oldpmd); // arch_fault_on_access_pmd()
  // can_change_pmd_writable(): the same rule as a PTE's
  let writable = numa_restore_writable(vmf.vma_flags, pte_modify(oldpmd, vmf.vma_prot));
  const pfn = <u32>pte_pfn(oldpmd);
  get_frame(pfn); // folio_get()
  vma_set_access_pid_bit(vmf);
  if (foa) {
    spin_unlock(ptl);
    const ret = arch_handle_folio_fault_on_access(vmf, pfn);
    if (ret != 0 || vmf.map_pte == 0) return ret;
    writable = false;
    // out_lock_and_map
    spin_lock(ptl);
    if (atomic.load<u64>(vmf.pmd) != oldpmd) { spin_unlock(ptl); stat_inc(STAT_FAULT_SPURIOUS); return 0; }
  } else {
    put_page(pfn); // no migration target: one node
  }
  // out_map
  let entry = pte_mkyoung(pte_modify(oldpmd, vmf.vma_prot)) | _PAGE_PSE;
  if (writable) entry = pte_mkwrite(entry);
  if (vmf.vma_flags & VM_MTE) entry = mte_sync_tags(entry, vmf.vma_flags);
  charge(cost(COST_PTE_OP));
  set_pte(t, vmf.pmd, entry);
  spin_unlock(ptl);
  stat_inc(STAT_FAULT_HUGE_PMD_PROTNONE);
  stat_inc(foa ? STAT_FAULT_ON_ACCESS : STAT_FAULT_NUMA);
  return 0;
}

/** do_huge_pmd_wp_page(vmf): write to a read-only private anonymous huge PMD: reuse it in place (one mapper) */
function do_huge_pmd_wp_page(vmf: VmFault, pmdv: u64): i32 {
  const t = <u32>walk_pmd_table();
  const ptl = ptl_of(t);
  spin_lock(ptl);
  if (atomic.load<u64>(vmf.pmd) != pmdv) { spin_unlock(ptl); stat_inc(STAT_FAULT_SPURIOUS); return 0; }
  if ((vmf.vma_flags & VM_WRITE) == 0) { spin_unlock(ptl); return sigbus(); } // access_error() let it through: not emulated
  charge(cost(COST_PTE_OP));
  set_pte(t, vmf.pmd, pte_mkyoung(pte_mkdirty(pte_mkwrite(pmdv))));
  spin_unlock(ptl);
  stat_inc(STAT_FAULT_WP_REUSE);
  return 0;
}

/**
 * huge_pmd_set_accessed(vmf): a fault on a present huge PMD that permits the
 * access (another CPU fixed it after our walk): mark it young; a spurious
 * fault, not a write-protect reuse.
 */
function huge_pmd_set_accessed(vmf: VmFault, pmdv: u64): i32 {
  const t = <u32>walk_pmd_table();
  const ptl = ptl_of(t);
  spin_lock(ptl);
  if (atomic.load<u64>(vmf.pmd) == pmdv && (pmdv & _PAGE_ACCESSED) == 0) set_pte(t, vmf.pmd, pte_mkyoung(pmdv));
  spin_unlock(ptl);
  stat_inc(STAT_FAULT_SPURIOUS);
  return 0;
}
