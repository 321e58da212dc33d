// The exported ABI of the faultline core. The host (src/wasm.ts) reads the
// layout constants as exported globals, so offsets have one definition.
//
// Keep this file small: it only re-exports. One file per kernel concept:
//   layout.ts      shared-memory map, struct offsets (box diagrams)
//   cpu.ts         this CPU, virtual clock, costs, stats
//   cpumask.ts     256-bit CPU sets (mm_cpumask, line sharers)
//   cacheline.ts   cache-line coherence model in virtual time
//   sched.ts       the worker's scheduler loop and lifecycle; its parts: runq.ts coroutine.ts
//                  wait.ts barrier.ts stop.ts threads.ts
//   ipi.ts         IRQ state, IPIs, TLB shootdown
//   spinlock.ts rwsem.ts seqcount.ts refcount.ts   primitives
//   freelist.ts    lock-free free lists
//   frames.ts      frame table and allocator
//   pte.ts         page-table entry bit layout and helpers
//   pgtable.ts     4-level page tables: page-table pages, walks, entry updates, freeing
//   tlb.ts         per-CPU TLB
//   rcu.ts         epoch-based RCU: read-side sections, deferred freeing of VMA slots
//   vma.ts         VMA slots, the per-mm VMA index, locked and lockless lookup
//   build_flags.ts TEST_BUILD: release vs test build of the same sources
//
// The test build (test/index.ts) exports this and the t_* loops of test/,
// used by tests and micro-benchmarks (inner loops stay in Wasm).

export * from './layout';
export * from './generated';
export { cpu_bind, rand64 } from './cpu';
export * from './cpumask';
export { line_read, line_rmw, line_write, line_owner, line_others, line_is_hot, line_busy_until } from './cacheline';
export { sync_point, op_done } from './wait';
export { request_stop } from './stop';
export {
  cpu_bind_setup, sched_worker_bind, sched_run, sched_post_call, sched_call_result, sched_call_args, sched_cpu_finish, SCHED_DONE, SCHED_STOPPED,
} from './sched';
export { cpu_start } from './threads';
export { wake_cpu_raw, sched_current } from './runq';
export { NCALLS, CALL_TABLE_HASH } from './calls';
import { sched_set_call_table } from './coroutine';
import { dispatch_call, NCALLS } from './calls';
// the host-call table the CPUs' coroutines run (the test build installs its own after this)
sched_set_call_table(dispatch_call, NCALLS);
export { local_irq_disable, local_irq_enable, flush_tlb_mm_range } from './ipi';
export { spin_lock_init, spin_lock, spin_unlock, spin_trylock } from './spinlock';
export { rwsem_init, down_read, up_read, down_write, up_write, down_read_trylock, downgrade_write } from './rwsem';
export { seqcount_init, write_seqcount_begin, write_seqcount_end, raw_read_seqcount, read_seqcount_retry } from './seqcount';
export { refcount_set, refcount_inc, refcount_dec, refcount_inc_not_zero } from './refcount';
export { alloc_frame, put_frame, nr_free_frames, frames_init } from './frames';
export {
  _PAGE_PRESENT, _PAGE_RW, _PAGE_USER, _PAGE_PWT, _PAGE_PCD, _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PSE, _PAGE_GLOBAL,
  _PAGE_SPECIAL, _PAGE_UFFD_WP, _PAGE_SOFT_DIRTY, _PAGE_FAULT_ON_ACCESS, _PAGE_DEVMAP, _PAGE_NX, _PAGE_PROTNONE,
  _PAGE_TABLE, _PAGE_CHG_MASK, PTE_PFN_MASK, PAGE_NONE, PAGE_READONLY, PAGE_READONLY_EXEC, PAGE_SHARED, PAGE_SHARED_EXEC,
  PAGE_FAULT_ON_ACCESS, SWP_TYPE_SHIFT, SWP_OFFSET_MAX, _PAGE_PKEY_SHIFT, pgprot_pack, pgprot_unpack,
  pfn_pte, pte_pfn, pte_none, pte_present, pte_protnone, pte_is_fault_on_access, is_swap_pte,
  pte_write, pte_young, pte_dirty, pte_user, pte_special, pte_uffd_wp, pte_soft_dirty, pte_exec,
  pte_mkwrite, pte_wrprotect, pte_mkyoung, pte_mkold, pte_mkdirty, pte_mkclean, pte_mkspecial, pte_mkuffd_wp,
  pte_clear_uffd_wp, pte_modify, pte_mk_fault_on_access, mk_pte_prot,
  pmd_none, pmd_present, pmd_trans_huge, pmd_devmap, is_swap_pmd, pmd_bad, pud_bad, swp_entry, swp_type, swp_offset,
} from './pte';
export {
  USER_VA_END, LEVEL_PTE, LEVEL_PMD, LEVEL_PUD, LEVEL_PGD,
  WALK_OK, WALK_PGD_NONE, WALK_PUD_NONE, WALK_PMD_NONE, WALK_PGD_BAD, WALK_PUD_BAD, WALK_PMD_BAD,
  WALK_PMD_HUGE, WALK_PMD_DEVMAP, WALK_PMD_SWAP, WALK_BAD_ADDR, WALK_NOMEM, WALK_PUD_HUGE,
  ptpages_init, alloc_ptpage, free_ptpage, nr_free_ptpages, nptpages, ptpage_addr, ptmeta_addr, ptpage_pfn, mm_pgd,
  mm_pgd_init, ptl_of, pte_line, table_nr_present,
  pte_alloc_walk, pmd_alloc_walk, walk_lockless, hw_walk,
  walk_error, walk_orig_pmd, walk_pmd_table, walk_pmd_slot, walk_pte_table, walk_pte_slot,
  set_pte, ptep_get_and_clear, ptep_cmpxchg, free_pgtables, pgtables_detach, pgtables_free_detached,
} from './pgtable';
export {
  TLB_FLUSH_CEILING, tlb_lookup, tlb_insert, tlb_invlpg, tlb_flush_all, tlb_flush_range, tlb_probe, tlb_nr_valid,
} from './tlb';
export { rcu_read_lock, rcu_read_unlock, rcu_read_lock_held, call_rcu_vma, rcu_reclaim, synchronize_rcu, rcu_deferred_count, rcu_epoch } from './rcu';
export { VMA_E_NOMEM, VMA_E_EXIST, VMA_E_INVAL, vma_addr, vma_alloc, vma_free_new, nr_free_vmas, vma_init, vma_link, vma_unlink, vma_split, vma_merge, find_vma, vma_lookup, find_vma_intersection, find_vma_lockless, vma_lockless_gen, get_vma, put_vma, vm_write_begin, vm_write_end, vma_has_changed, vma_index_check, vma_count, vma_at } from './vma';
export * from './init';

/** end of the module's static data: must stay below HDR_BASE (checked by a test) */
export function static_data_end(): usize { return __heap_base; }
export { alloc_page, put_page, pcp_count, pcp_frame } from './page_alloc';
export { lru_add_drain, lru_batch_count, lru_batch_frame } from './lru';
export { sync_mm_rss } from './rss';
export { pagecache_get, pagecache_peek } from './pagecache';
export { handle_mm_fault, vm_get_page_prot, FAULT_FLAG_WRITE, FAULT_FLAG_USER, FAULT_FLAG_ALLOW_RETRY, FAULT_FLAG_RETRY_NOWAIT, FAULT_FLAG_TRIED, VM_FAULT_OOM, VM_FAULT_SIGBUS, VM_FAULT_SIGSEGV, VM_FAULT_RETRY, VM_FAULT_COMPLETED } from './fault';
export { tag_storage_free } from './mte';
export { handle_speculative_fault } from './spf';
export { lock_vma_under_rcu, vma_start_read, vma_end_read, vma_start_write } from './pervma';
export { mmap_read_lock, mmap_read_unlock, mmap_write_lock, mmap_write_unlock } from './mmap_lock';
export { STRATEGY_MMAP_LOCK, STRATEGY_SPF, STRATEGY_PERVMA, STRATEGY_SPF_MMAPSEQ } from './strategy';
export { access, touch, do_user_addr_fault, wrpkru, sys_set_mempolicy } from './access';
export { sys_mmap, sys_munmap, sys_mprotect, sys_pkey_mprotect, sys_madvise, task_numa_work, PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC, PROT_MTE, MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS, MAP_GROWSDOWN, MAP_X_HUGEPAGE, MAP_X_INTERLEAVE, MAP_X_UFFD_MISSING, MADV_DONTNEED } from './mmap';
export * from './workloads';
export * from './stress';
export * from './shmem';
export * from './userfaultfd';
export * from './postcopy';
