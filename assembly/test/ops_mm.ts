// Inner loops over the MMU structures (TLB, page tables) for benchmarks and
// concurrency tests. They run inside Wasm so a benchmark measures the core,
// not the JS<->Wasm boundary.

import { HDR_BASE, H_TLB_SETS, WAIT_SPIN } from '../layout';
import { cpu_id, NCPUS, rand_below } from '../cpu';
import { op_begin, op_done, wake_waiters, wait_until_at_least } from '../wait';
import { tlb_lookup, tlb_insert, tlb_flush_all } from '../tlb';
import { hw_walk, alloc_ptpage, free_ptpage, ptpage_addr, pte_alloc_walk, LEVEL_PTE } from '../pgtable';
import { pfn_pte, PAGE_READONLY } from '../pte';

/** `iters` TLB lookups that all hit (one resident entry per set, cycled through). */
export function t_tlb_hit_loop(iters: u32): void {
  const sets = load<u32>(HDR_BASE + H_TLB_SETS);
  for (let v: u32 = 0; v < sets; v++) tlb_insert(v, pfn_pte(<u64>v + 1, PAGE_READONLY));
  const mask = sets - 1;
  for (let i: u32 = 0; i < iters; i++) tlb_lookup(<u64>(i & mask));
}

/** `iters` TLB lookups that all miss (empty TLB). */
export function t_tlb_miss_loop(iters: u32): void {
  tlb_flush_all();
  for (let i: u32 = 0; i < iters; i++) tlb_lookup(<u64>i);
}

/** `iters` full hardware walks of `va` in `mm` (read, user). */
export function t_walk_loop(mm: u32, va: u64, iters: u32): void {
  for (let i: u32 = 0; i < iters; i++) hw_walk(mm, va, false, true);
}

/**
 * Page-table page allocator churn: keep up to `hold` pages (indices in
 * `scratch`), randomly allocate / free. Each page held is marked in its first
 * entry with a CAS 0 -> cpu + 1 and unmarked before the free, so a page
 * handed out twice is seen. Returns the number of such double hand-outs
 * (must be 0). Frees everything at the end.
 */
export function t_ptpage_churn(iters: u32, hold: u32, scratch: u32): u32 {
  const me: u64 = <u64>cpu_id() + 1;
  let n: u32 = 0;
  let dup: u32 = 0;
  for (let i: u32 = 0; i < iters; i++) {
    op_begin(20);
    if (n < hold && (n == 0 || rand_below(2) == 0)) {
      const p = alloc_ptpage(LEVEL_PTE);
      if (p >= 0) {
        if (atomic.cmpxchg<u64>(ptpage_addr(<u32>p), 0, me) != 0) dup++;
        store<u32>(scratch + n * 4, <u32>p);
        n++;
      }
    } else if (n > 0) {
      const k = <u32>rand_below(n);
      const p = load<u32>(scratch + k * 4);
      store<u32>(scratch + k * 4, load<u32>(scratch + (n - 1) * 4));
      n--;
      if (atomic.cmpxchg<u64>(ptpage_addr(p), me, 0) != me) dup++;
      free_ptpage(p);
    }
    op_done();
  }
  while (n > 0) {
    n--;
    const p = load<u32>(scratch + n * 4);
    if (atomic.cmpxchg<u64>(ptpage_addr(p), me, 0) != me) dup++;
    free_ptpage(p);
  }
  return dup;
}

/**
 * Wait until `target` CPUs have arrived at the counter `sync` (host-zeroed,
 * shared). Spins first, so CPUs that host cores are running leave together;
 * then sleeps through the wait protocol (the quantum barrier stops waiting
 * for us). Returns true for the last arriver, which leaves at once and must
 * wake_waiters(sync) soon: the futex wake-ups would make it leave late.
 */
function rendezvous(sync: u32, target: u32): bool {
  if (atomic.add<u32>(sync, 1) + 1 >= target) return true;
  for (let i = 0; i < 1_000_000; i++) if (atomic.load<u32>(sync) >= target) return false;
  wait_until_at_least(sync, target);
  return false;
}

/**
 * Concurrent population: in round r every CPU meets the others at `sync`,
 * then calls pte_alloc_walk on its own page of each of the round's
 * `per_round` fresh 1 GiB regions, all CPUs in the same order: a CPU that
 * only finds tables catches up with one that is allocating them, and both
 * race to install the same PMD / PTE table (PUD tables every 512 regions).
 * Returns the number of walks that returned 0 (must be 0 when page-table
 * pages suffice).
 */
export function t_pte_alloc_race(mm: u32, rounds: u32, per_round: u32, sync: u32): u32 {
  let fail: u32 = 0;
  for (let r: u32 = 0; r < rounds; r++) {
    const last = rendezvous(sync, (r + 1) * NCPUS);
    for (let j: u32 = 0; j < per_round; j++) {
      op_begin(21);
      if (pte_alloc_walk(mm, (<u64>(r * per_round + j) << 30) | (<u64>cpu_id() << 12)) == 0) fail++;
      op_done();
      if (last && j == 0) wake_waiters(sync);
    }
  }
  return fail;
}
