// PLACEHOLDER until the TLB lands: the API ipi.ts relies on.
/** Invalidate this CPU's translations for vpns [start, end); start == end == 0 flushes everything. */
export function tlb_flush_range(start: u64, end: u64): void {}
