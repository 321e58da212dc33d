// The exported ABI of the faultline core. The host (src/wasm.ts) reads the
// layout constants as exported globals, so offsets have one definition.
//
// Keep this file small: it only re-exports. One file per kernel concept:
//   layout.ts      shared-memory map, struct offsets (box diagrams)
//   cpu.ts         this CPU, virtual clock, costs, stats
//   cacheline.ts   cache-line coherence model in virtual time
//   sched.ts       waits, wake-ups, quantum barrier, deterministic token, stop
//   ipi.ts         IRQ state, IPIs, TLB shootdown
//   spinlock.ts rwsem.ts seqcount.ts refcount.ts   primitives
//   freelist.ts    lock-free free lists
//   frames.ts      frame table and allocator
//   rcu.ts         epoch-based RCU: read-side sections, deferred freeing of VMA slots
//   vma.ts         VMA slots, the per-mm VMA index, locked and lockless lookup
//   testops.ts     loops used by tests and benchmarks (inner loops stay in Wasm)
//   testops_vma.ts the same for the VMA index and RCU

export * from './layout';
export * from './generated';
export { cpu_bind, rand64 } from './cpu';
export { sync_point, op_done, cpu_start, cpu_finish, request_stop } from './sched';
export { local_irq_disable, local_irq_enable, flush_tlb_mm_range } from './ipi';
export { spin_lock_init, spin_lock, spin_unlock, spin_trylock } from './spinlock';
export { rwsem_init, down_read, up_read, down_write, up_write, down_read_trylock, downgrade_write } from './rwsem';
export { seqcount_init, write_seqcount_begin, write_seqcount_end, raw_read_seqcount, read_seqcount_retry } from './seqcount';
export { refcount_set, refcount_inc, refcount_dec, refcount_inc_not_zero } from './refcount';
export { alloc_frame, put_frame, nr_free_frames, frames_init } from './frames';
export { rcu_read_lock, rcu_read_unlock, rcu_read_lock_held, call_rcu_vma, rcu_reclaim, synchronize_rcu, rcu_deferred_count, rcu_epoch } from './rcu';
export { VMA_E_NOMEM, VMA_E_EXIST, VMA_E_INVAL, vma_addr, vma_alloc, vma_free_new, nr_free_vmas, vma_init, vma_link, vma_unlink, vma_split, vma_merge, find_vma, vma_lookup, find_vma_intersection, find_vma_lockless, vma_lockless_gen, get_vma, put_vma, vm_write_begin, vm_write_end, vma_has_changed, vma_index_check, vma_count, vma_at } from './vma';
export * from './testops';
export * from './testops_vma';
export * from './init';

/** end of the module's static data: must stay below HDR_BASE (checked by a test) */
export function static_data_end(): usize { return __heap_base; }
