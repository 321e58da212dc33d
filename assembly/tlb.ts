// Per-CPU TLB: set-associative 4 KiB entries plus a small 2 MiB array
// (layout.ts, "per-CPU TLB"). Only the owning CPU writes its TLB: remote
// invalidation arrives as a TLB-flush IPI that the owner services
// (ipi.ts), exactly as on x86 where no CPU can touch another's TLB.
//
// Replacement is FIFO per set, kept by position: way 0 holds the newest
// entry. An insert takes the way of the same tag if present (no duplicate
// ever), else the first invalid way, else the oldest (last) way, and ages
// the ways in front of it by one. No replacement state beyond the entries,
// and hits (the hot path) only read.
//
// Entries cache the PTE as the walk returned it (A set, D set if the walk
// was for a write). A 4 KiB PTE never has bit 7 (PAT is unused), so an
// inserted entry with PS is a 2 MiB leaf and goes to the 2 MiB array.
// Entries are not tagged by mm (no PCID): one address space per machine.

import { HDR_BASE, H_TLB_SETS, H_TLB_WAYS, TLBE_TAG, TLBE_PTE, TLBE_SIZE, TLB2M_SETS, TLB2M_WAYS, TLB2M_BYTES, percpu } from './layout';
import { PC, TLB_OFF, charge_cost, stat_inc } from './cpu';
import { COST_TLB_HIT, COST_INVLPG, COST_TLB_FLUSH_ALL, STAT_TLB_HIT, STAT_TLB_MISS, STAT_TLB_INVLPG, STAT_TLB_FLUSH_ALL } from './generated';
import { _PAGE_PSE } from './pte';

/** Linux tlb_single_page_flush_ceiling: a range of more pages is flushed whole */
export const TLB_FLUSH_CEILING: u64 = 33;
/** vpn bits below a 2 MiB page */
const HUGE_SHIFT: u64 = 9;

@inline function nsets(): u32 { return load<u32>(HDR_BASE + H_TLB_SETS); }
@inline function nways(): u32 { return load<u32>(HDR_BASE + H_TLB_WAYS); }
/** first entry of the 4 KiB set of `vpn` in the TLB at `tlb` */
@inline function set_4k(tlb: u32, vpn: u64): u32 { return tlb + (<u32>vpn & (nsets() - 1)) * nways() * TLBE_SIZE; }
/** first entry of the 2 MiB set of `vpn` */
@inline function set_2m(tlb: u32, vpn: u64): u32 {
  return tlb + nsets() * nways() * TLBE_SIZE + (<u32>(vpn >> HUGE_SHIFT) & (TLB2M_SETS - 1)) * TLB2M_WAYS * TLBE_SIZE;
}
@inline function tag_2m(vpn: u64): u64 { return (vpn >> HUGE_SHIFT) + 1; }

/** entry of `tag` among the `n` ways at `set`, 0 if absent (atomic loads: tlb_probe reads from other threads) */
@inline function set_find(set: u32, n: u32, tag: u64): u32 {
  const end = set + n * TLBE_SIZE;
  for (let e = set; e < end; e += TLBE_SIZE) if (atomic.load<u64>(e + TLBE_TAG) == tag) return e;
  return 0;
}

/** FIFO insert into the `n` ways at `set` (see the top of the file) */
function set_insert(set: u32, n: u32, tag: u64, pte: u64): void {
  let k: i32 = -1;
  let free: i32 = -1;
  for (let w: u32 = 0; w < n; w++) {
    const t = load<u64>(set + w * TLBE_SIZE + TLBE_TAG);
    if (t == tag) { k = <i32>w; break; }
    if (t == 0 && free < 0) free = <i32>w;
  }
  if (k < 0) k = free >= 0 ? free : <i32>n - 1;
  // tag cleared first and written last: tlb_probe() from another CPU (tests,
  // the checker) never pairs one entry's tag with another entry's PTE
  for (let w = <u32>k; w > 0; w--) {
    const dst = set + w * TLBE_SIZE;
    atomic.store<u64>(dst + TLBE_TAG, 0);
    atomic.store<u64>(dst + TLBE_PTE, load<u64>(dst - TLBE_SIZE + TLBE_PTE));
    atomic.store<u64>(dst + TLBE_TAG, load<u64>(dst - TLBE_SIZE + TLBE_TAG));
  }
  atomic.store<u64>(set + TLBE_TAG, 0);
  atomic.store<u64>(set + TLBE_PTE, pte);
  atomic.store<u64>(set + TLBE_TAG, tag);
}

@inline function set_drop(set: u32, n: u32, tag: u64): void {
  const e = set_find(set, n, tag);
  if (e != 0) store<u64>(e + TLBE_TAG, 0);
}

/**
 * Translation of `vpn` cached in this CPU's TLB: the PTE (or the 2 MiB PMD,
 * with PS) or 0 on a miss. Charges a TLB access; counts the hit or miss.
 */
export function tlb_lookup(vpn: u64): u64 {
  charge_cost(COST_TLB_HIT);
  const tlb = PC + TLB_OFF;
  let e = set_find(set_4k(tlb, vpn), nways(), vpn + 1);
  if (e == 0) {
    e = set_find(set_2m(tlb, vpn), TLB2M_WAYS, tag_2m(vpn));
    if (e == 0) { stat_inc(STAT_TLB_MISS); return 0; }
  }
  stat_inc(STAT_TLB_HIT);
  return load<u64>(e + TLBE_PTE);
}

/** Cache `pte` for `vpn` (a PS entry covers the 2 MiB page of `vpn`). A zero PTE is never cached. */
export function tlb_insert(vpn: u64, pte: u64): void {
  if (pte == 0) return;
  const tlb = PC + TLB_OFF;
  if (pte & _PAGE_PSE) set_insert(set_2m(tlb, vpn), TLB2M_WAYS, tag_2m(vpn), pte);
  else set_insert(set_4k(tlb, vpn), nways(), vpn + 1, pte);
}

/** invlpg: drop the translation of `vpn`, 4 KiB or the 2 MiB page around it. */
export function tlb_invlpg(vpn: u64): void {
  charge_cost(COST_INVLPG);
  stat_inc(STAT_TLB_INVLPG);
  const tlb = PC + TLB_OFF;
  set_drop(set_4k(tlb, vpn), nways(), vpn + 1);
  set_drop(set_2m(tlb, vpn), TLB2M_WAYS, tag_2m(vpn));
}

/** Drop every entry of this CPU's TLB (a CR3 write). */
export function tlb_flush_all(): void {
  tlb_flush_all_cost();
  tlb_drop();
}

/** what tlb_flush_all() charges and counts, for a caller whose entries are dropped by tlb_drop() anyway */
export function tlb_flush_all_cost(): void {
  charge_cost(COST_TLB_FLUSH_ALL);
  stat_inc(STAT_TLB_FLUSH_ALL);
}

/** drop every translation this task holds, uncharged: it leaves its vCPU, whose TLB keeps them (vcpu.ts) */
export function tlb_drop(): void {
  memory.fill(PC + TLB_OFF, 0, nsets() * nways() * TLBE_SIZE + TLB2M_BYTES);
}

/**
 * Invalidate this CPU's translations for vpns [start, end); start == end == 0
 * flushes everything. Up to TLB_FLUSH_CEILING pages are invalidated one by
 * one, a larger range flushes the whole TLB (flush_tlb_mm_range's rule).
 */
export function tlb_flush_range(start: u64, end: u64): void {
  if ((start == 0 && end == 0) || end < start || end - start > TLB_FLUSH_CEILING) { tlb_flush_all(); return; }
  for (let v = start; v < end; v++) tlb_invlpg(v);
}

/**
 * What CPU `cpu`'s TLB holds for `vpn` (PTE, PMD, or 0), read without cost,
 * statistics or change: for the host and invariant checkers. Exact while that
 * CPU is between operations.
 */
export function tlb_probe(cpu: u32, vpn: u64): u64 {
  const tlb = percpu(cpu) + TLB_OFF;
  // retry: the owner moved entries while we read (its insert shifts the set's ways)
  while (true) {
    let tag = vpn + 1;
    let e = set_find(set_4k(tlb, vpn), nways(), tag);
    if (e == 0) { tag = tag_2m(vpn); e = set_find(set_2m(tlb, vpn), TLB2M_WAYS, tag); }
    if (e == 0) return 0;
    const pte = atomic.load<u64>(e + TLBE_PTE);
    if (atomic.load<u64>(e + TLBE_TAG) == tag) return pte;
  }
  return 0;
}

/** number of valid entries (4 KiB and 2 MiB) in CPU `cpu`'s TLB, without side effects */
export function tlb_nr_valid(cpu: u32): u32 {
  const tlb = percpu(cpu) + TLB_OFF;
  const end = tlb + nsets() * nways() * TLBE_SIZE + TLB2M_BYTES;
  let n: u32 = 0;
  for (let e = tlb; e < end; e += TLBE_SIZE) if (atomic.load<u64>(e + TLBE_TAG) != 0) n++;
  return n;
}
