// Where the virtual cycles of a run go: categories made of counters of
// spec/counters.json, plus "other work" = all cycles minus the categories.
// ONE list, used by the results (JSON/CSV), the table and the plots; the
// fault-path work adds its categories here (TLB-miss walks, page zeroing...).

export interface CycleCategory {
  /** label in tables, legends and (snake-cased) CSV columns */
  name: string;
  /** counters (cycle counts, summed over CPUs) that make up the category */
  counters: readonly string[];
}

export const CYCLE_CATEGORIES: readonly CycleCategory[] = Object.freeze([
  { name: 'mmap_lock wait', counters: ['mmap_read_wait_cycles', 'mmap_write_wait_cycles'] },
  { name: 'PTL wait', counters: ['ptl_wait_cycles'] },
  { name: 'VMA lock wait', counters: ['vma_read_wait_cycles', 'vma_write_wait_cycles'] },
  { name: 'mm_rb_lock wait', counters: ['mm_rb_read_wait_cycles', 'mm_rb_write_wait_cycles'] }, // SPF v11's get_vma() rwlock
  { name: 'other lock wait', counters: ['generic_wait_cycles', 'zone_wait_cycles', 'lru_wait_cycles', 'pagecache_wait_cycles', 'uffd_wait_cycles', 'rcu_wait_cycles', 'tag_storage_wait_cycles'] },
  { name: 'shootdown', counters: ['shootdown_wait_cycles', 'ipi_cycles'] },
  { name: 'cache-line wait', counters: ['line_wait_cycles'] },
  { name: 'TLB-miss walks', counters: ['tlb_miss_cycles'] },
  // a faulting CPU parked in handle_userfault() until a handler resolved its page
  { name: 'userfault wait', counters: ['uffd_fault_wait_cycles'] },
]);

/** what is left of the CPUs' cycles after the categories */
export const OTHER_WORK = 'other work';

/** every category name, in display (and stacking) order, "other work" last */
export function categoryNames(): string[] {
  return [...CYCLE_CATEGORIES.map((c) => c.name), OTHER_WORK];
}

/**
 * Cycles per category, summed over CPUs. `totalCycles` is the sum of the
 * CPUs' clocks; "other work" is what the categories do not explain.
 */
export function cyclesByCategory(stats: Record<string, bigint>, totalCycles: bigint): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  let explained = 0n;
  for (const c of CYCLE_CATEGORIES) {
    out[c.name] = c.counters.reduce((sum, n) => sum + (stats[n] ?? 0n), 0n);
    explained += out[c.name];
  }
  out[OTHER_WORK] = totalCycles - explained;
  return out;
}

/** "mmap_lock wait" -> "mmap_lock_wait" (CSV column stem) */
export function snakeCase(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '');
}
