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
//   testops.ts     loops used by tests and benchmarks (inner loops stay in Wasm)

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
export * from './testops';
export * from './init';

/** end of the module's static data: must stay below HDR_BASE (checked by a test) */
export function static_data_end(): usize { return __heap_base; }
