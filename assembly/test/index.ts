// The exported ABI of the TEST build of the core: the released ABI
// (../index.ts) plus the t_* loops tests and micro-benchmarks drive, and their
// call table. Built with --use FAULTLINE_TEST_BUILD=1 (../build_flags.ts), which
// also compiles in the test controls on hot paths. Never loaded by a run unless it
// asks for test flags, planted bugs or t_* calls (src/wasm.ts, Variant 'test').
export * from '../index';
// Kernel internals the released core does not export (no host calls them): tests
// and micro-benchmarks drive them directly on the test core.
export {
  cpumask_word, cpumask_bit, cpumask_set_cpu, cpumask_clear_cpu, cpumask_test_cpu, cpumask_weight, cpumask_first,
  cpumask_empty, cpumask_fill, cpumask_clear, cpumask_only, cpumask_copy,
} from '../cpumask';
export { vt_barrier } from '../workloads';
export { wait_handler_idle } from '../stress';
export { halt_poll_next } from '../cpuidle';
export { file_is_shmem, i_size_pages, shmem_file_setup, unmap_mapping_range, shmem_size } from '../shmem';
export {
  vma_uffd_ctx, uffd_init, shmem_userfault, uffd_last_woken, uffd_last_latency, uffd_spf_race, uffd_spf_stall,
  wake_userfault, uffd_npending, uffd_uwq_state, uffd_uwq_ctx, uffd_uwq_wait, uffd_ctx_count, uffd_ctx_lock,
} from '../userfaultfd';
export { cpu_bind, rand64 } from '../cpu';
export { line_read, line_rmw, line_write, line_owner, line_others, line_is_hot, line_busy_until } from '../cacheline';
export { sync_point, op_done } from '../wait';
export { cpu_start } from '../threads';
export { wake_cpu_raw } from '../runq';
export { local_irq_disable, local_irq_enable } from '../ipi';
export { spin_lock, spin_unlock } from '../spinlock';
export { rwsem_init, up_read, up_write, downgrade_write } from '../rwsem';
export {
  seqcount_init, write_seqcount_begin, write_seqcount_end, raw_read_seqcount, read_seqcount_retry,
} from '../seqcount';
export { refcount_set, refcount_inc, refcount_dec, refcount_inc_not_zero } from '../refcount';
export { alloc_frame, put_frame, frames_init } from '../frames';
export { pgprot_pack, pgprot_unpack } from '../pte';
export {
  ptpages_init, alloc_ptpage, free_ptpage, ptpage_addr, ptmeta_addr, ptpage_pfn, mm_pgd, mm_pgd_init, ptl_of,
  pte_line, table_nr_present, pmd_alloc_walk, walk_lockless, hw_walk, walk_error, walk_orig_pmd, walk_pmd_table,
  walk_pmd_slot, walk_pte_table, walk_pte_slot, ptep_get_and_clear, ptep_cmpxchg, pgtables_detach,
  pgtables_free_detached,
} from '../pgtable';
export { tlb_lookup, tlb_insert, tlb_flush_range, tlb_probe, tlb_nr_valid } from '../tlb';
export { rcu_read_lock, rcu_read_lock_held, call_rcu_vma, rcu_reclaim, rcu_deferred_count, rcu_epoch } from '../rcu';
export {
  vma_addr, vma_free_new, nr_free_vmas, vma_init, vma_link, vma_unlink, vma_lockless_gen, vma_count, vma_at,
  vma_set_range, vm_flags_init, vma_set_file, vma_set_policy, vma_set_anon_vma,
} from '../vma';
export { alloc_page, pcp_count, pcp_frame } from '../page_alloc';
export { lru_batch_count, lru_batch_frame } from '../lru';
export { sync_mm_rss } from '../rss';
export { pagecache_peek } from '../pagecache';
export { tag_storage_free } from '../mte';
export { vma_end_read, vma_start_write } from '../pervma';
export { mmap_read_lock, mmap_read_unlock, mmap_write_lock, mmap_write_unlock } from '../mmap_lock';
export * from './ops';
export * from './ops_mm';
export * from './ops_vma';
export * from './ops_fault';

import { SL_WORDS, VMA_WORDS, RW_WORDS, UFFD_WORDS } from '../layout';
import { word_load, ext_load } from '../shared';
/**
 * One access through the seam for shared words (shared.ts), for the test that
 * its check traps: `which` 0 a u32 of the spinlock at `obj`, 1 a u32 of the VMA
 * slot at `obj`, 2 an outside word at `obj + off` on the rwsem's line (no
 * LW_EXT: always traps), 3 the same on the uffd queue's line (LW_EXT: allowed).
 */
export function shared_probe(which: u32, obj: u32, off: u32): u32 {
  if (which == 0) return word_load<u32>(obj, SL_WORDS, off);
  if (which == 1) return word_load<u32>(obj, VMA_WORDS, off);
  if (which == 2) return ext_load<u32>(RW_WORDS, obj + off);
  return ext_load<u32>(UFFD_WORDS, obj + off);
}
import { sched_set_call_table } from '../coroutine';
import { dispatch_test_call } from './calls';
import { NCALLS } from '../calls';

// after ../index.ts installed the released table (its top level runs first)
sched_set_call_table(dispatch_test_call, NCALLS);
