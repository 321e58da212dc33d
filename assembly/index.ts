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
// It exports what hosts call (src/, examples/, bench/ on the released core) and
// every constant; kernel internals that only tests drive (cpumask, line model,
// lock primitives' slow halves, page-table walkers, TLB, RCU, VMA slots...) are
// exported by the test build (test/index.ts) with the t_* loops of test/, used
// by tests and micro-benchmarks (inner loops stay in Wasm).

export * from './layout';
export * from './generated';

export { request_stop } from './stop';
export {
  cpu_bind_setup, sched_worker_bind, sched_run, sched_post_call, sched_call_result, sched_call_args,
  sched_cpu_finish, SCHED_DONE, SCHED_STOPPED,
} from './sched';

export { sched_current } from './runq';
export { NCALLS, CALL_TABLE_HASH } from './calls';
import { sched_set_call_table } from './coroutine';
import { dispatch_call, NCALLS } from './calls';
// the host-call table the CPUs' coroutines run (the test build installs its own after this)
sched_set_call_table(dispatch_call, NCALLS);
export { flush_tlb_mm_range } from './ipi';
export { spin_lock_init, spin_trylock } from './spinlock';
export { down_read, down_write, down_read_trylock } from './rwsem';

export { nr_free_frames } from './frames';
export {
  _PAGE_PRESENT, _PAGE_RW, _PAGE_USER, _PAGE_PWT, _PAGE_PCD, _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PSE, _PAGE_GLOBAL,
  _PAGE_SPECIAL, _PAGE_UFFD_WP, _PAGE_SOFT_DIRTY, _PAGE_FAULT_ON_ACCESS, _PAGE_DEVMAP, _PAGE_NX, _PAGE_PROTNONE,
  _PAGE_TABLE, _PAGE_CHG_MASK, PTE_PFN_MASK, PAGE_NONE, PAGE_READONLY, PAGE_READONLY_EXEC, PAGE_SHARED,
  PAGE_SHARED_EXEC, PAGE_FAULT_ON_ACCESS, SWP_TYPE_SHIFT, SWP_OFFSET_MAX, _PAGE_PKEY_SHIFT, pfn_pte, pte_pfn,
  pte_none, pte_present, pte_protnone, pte_is_fault_on_access, is_swap_pte, pte_write, pte_young, pte_dirty,
  pte_user, pte_special, pte_uffd_wp, pte_soft_dirty, pte_exec, pte_mkwrite, pte_wrprotect, pte_mkyoung,
  pte_mkold, pte_mkdirty, pte_mkclean, pte_mkspecial, pte_mkuffd_wp, pte_clear_uffd_wp, pte_modify,
  pte_mk_fault_on_access, mk_pte_prot, pmd_none, pmd_present, pmd_trans_huge, pmd_devmap, is_swap_pmd, pmd_bad,
  pud_bad, swp_entry, swp_type, swp_offset,
} from './pte';
export {
  USER_VA_END, LEVEL_PTE, LEVEL_PMD, LEVEL_PUD, LEVEL_PGD, WALK_OK, WALK_PGD_NONE, WALK_PUD_NONE, WALK_PMD_NONE,
  WALK_PGD_BAD, WALK_PUD_BAD, WALK_PMD_BAD, WALK_PMD_HUGE, WALK_PMD_DEVMAP, WALK_PMD_SWAP, WALK_BAD_ADDR,
  WALK_NOMEM, WALK_PUD_HUGE, nr_free_ptpages, nptpages, pte_alloc_walk, set_pte, free_pgtables,
} from './pgtable';
export { TLB_FLUSH_CEILING, tlb_invlpg, tlb_flush_all } from './tlb';
export { rcu_read_unlock, synchronize_rcu } from './rcu';
export {
  VMA_E_NOMEM, VMA_E_EXIST, VMA_E_INVAL, vma_alloc, vma_split, vma_merge, find_vma, vma_lookup,
  find_vma_intersection, find_vma_lockless, get_vma, put_vma, vm_write_begin, vm_write_end, vma_has_changed,
  vma_index_check,
} from './vma';
export * from './init';

/** end of the module's static data: must stay below HDR_BASE (checked by a test) */
export function static_data_end(): usize { return __heap_base; }
export { put_page } from './page_alloc';
export { lru_add_drain } from './lru';

export { pagecache_get } from './pagecache';
export {
  handle_mm_fault, vm_get_page_prot, FAULT_FLAG_WRITE, FAULT_FLAG_USER, FAULT_FLAG_ALLOW_RETRY,
  FAULT_FLAG_RETRY_NOWAIT, FAULT_FLAG_TRIED, VM_FAULT_OOM, VM_FAULT_SIGBUS, VM_FAULT_SIGSEGV, VM_FAULT_RETRY,
  VM_FAULT_COMPLETED,
} from './fault';

export { handle_speculative_fault } from './spf';
export { lock_vma_under_rcu, vma_start_read } from './pervma';

export { STRATEGY_MMAP_LOCK, STRATEGY_SPF, STRATEGY_PERVMA, STRATEGY_SPF_MMAPSEQ } from './strategy';
export { access, touch, do_user_addr_fault, wrpkru, sys_set_mempolicy } from './access';
export {
  sys_mmap, sys_munmap, sys_mprotect, sys_pkey_mprotect, sys_madvise, task_numa_work, PROT_NONE, PROT_READ,
  PROT_WRITE, PROT_EXEC, PROT_MTE, MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS, MAP_GROWSDOWN,
  MAP_X_HUGEPAGE, MAP_X_INTERLEAVE, MAP_X_UFFD_MISSING, MADV_DONTNEED,
} from './mmap';
export {
  wl_atomic_inc, wl_lock_inc, wl_rwsem_mix, wl_page_fault, wl_mte_tag, wl_mmap, wl_tlb_flush, wl_touch,
  EBIZZY_TOUCH, EBIZZY_RANDOM_SIZE, EBIZZY_PERMISSIONS, wl_ebizzy, wl_mapbench, wl_mapbench_pipeline,
  VT_BARRIER_SIZE, wl_pft, WLA_KIND, WLA_STEADY, WLA_LENGTH, WLA_BUDGET, WLA_MAX_ITERS, WLA_BASE, WLA_NCPUS, WLA_BARRIER,
  WLA_OPTS, WLA_NPAGES, WLA_STEP, WLA_STRIDE, WLA_SIZE,
} from './workloads';
export {
  STRESS_OPS, STRESS_READS, STRESS_WRITES, STRESS_SIGSEGV, STRESS_SIGBUS, STRESS_OOM, STRESS_RETRY, STRESS_MMAP,
  STRESS_MMAP_FAIL, STRESS_MUNMAP, STRESS_MUNMAP_FAIL, STRESS_MPROTECT, STRESS_MPROTECT_FAIL, STRESS_MADVISE,
  STRESS_MADVISE_FAIL, STRESS_NUMA_SCANS, STRESS_MMAP_FILE, STRESS_UFFD_REGISTER, STRESS_UFFD_REGISTER_FAIL,
  STRESS_UFFD_UNREGISTER, STRESS_UFFD_WRITEPROTECT, STRESS_UFFD_WRITEPROTECT_FAIL, STRESS_NCOUNTERS,
  SMIX_W_READ, SMIX_W_WRITE, SMIX_W_MMAP, SMIX_W_MUNMAP, SMIX_W_MPROTECT, SMIX_W_MADVISE, SMIX_W_MMAP_FILE, SMIX_MAX_LEN,
  SMIX_CHECK_EVERY, SMIX_CKPT, SMIX_SYNC, SMIX_SIZE, SRACE_NSLOTS, SRACE_SLOT_PAGES, SRACE_OPS, SRACE_MIN_WRITES, SRACE_SYNC,
  SRACE_CURSOR, SRACE_NEXT, SRACE_PROGRESS, SRACE_SIZE, stress_uffd_setup, stress_run, stress_munmap_race,
} from './stress';
export { ENFILE, EFBIG, EBADF, EINVAL_SHMEM, sys_memfd_create, sys_ftruncate, sys_fallocate_punch } from './shmem';
export {
  UFFD_FEATURE_PAGEFAULT_FLAG_WP, UFFD_FEATURE_EVENT_FORK, UFFD_FEATURE_EVENT_REMAP, UFFD_FEATURE_EVENT_REMOVE,
  UFFD_FEATURE_MISSING_HUGETLBFS, UFFD_FEATURE_MISSING_SHMEM, UFFD_FEATURE_EVENT_UNMAP, UFFD_FEATURE_SIGBUS,
  UFFD_FEATURE_THREAD_ID, UFFD_FEATURE_MINOR_HUGETLBFS, UFFD_FEATURE_MINOR_SHMEM, UFFD_FEATURE_EXACT_ADDRESS,
  UFFD_FEATURE_WP_HUGETLBFS_SHMEM, UFFD_FEATURE_WP_UNPOPULATED, UFFD_FEATURE_POISON, UFFD_FEATURE_WP_ASYNC,
  UFFD_FEATURE_MOVE, UFFD_API_FEATURES, UFFDIO_REGISTER_MODE_MISSING, UFFDIO_REGISTER_MODE_WP,
  UFFDIO_REGISTER_MODE_MINOR, UFFDIO_COPY_MODE_DONTWAKE, UFFDIO_COPY_MODE_WP, UFFDIO_WRITEPROTECT_MODE_WP,
  UFFDIO_WRITEPROTECT_MODE_DONTWAKE, UFFD_PAGEFAULT_FLAG_WRITE, UFFD_PAGEFAULT_FLAG_WP, UFFD_PAGEFAULT_FLAG_MINOR,
  userfaultfd_armed, sys_userfaultfd, uffdio_register, uffdio_unregister, uffd_release, handle_userfault,
  uffd_read, uffd_msg_address, uffd_msg_tid, uffd_fault_side_done, uffd_last_copied, uffdio_copy, uffdio_zeropage,
  uffdio_continue, uffdio_writeprotect, uffdio_wake, uffd_uwq_address, UFFD_MAX_CPUS,
} from './userfaultfd';
export * from './postcopy';
