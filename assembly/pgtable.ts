// 4-level page tables (PGD -> PUD -> PMD -> PTE) in the ptpages region.
//
// Page-table page i is 4 KiB of 512 u64 entries at ptpage_addr(i) with its
// metadata at ptmeta_addr(i) (layout.ts PTM_*: the split PTE lock, the
// number of non-none entries, level, free link, one cache-line meta per 8
// entries). PFN space: data frames are pfns [0, nframes); page-table page i
// is pfn nframes + i, so an upper entry names its table by pfn like x86 does.
//
//   va bits:  47..39 PGD index | 38..30 PUD | 29..21 PMD | 20..12 PTE | 11..0 offset
//   user addresses are va < 2^47 (USER_VA_END); anything above is rejected.
//
// Lifetime of a table:
//   free list --alloc_ptpage--> installed by a CAS on an EMPTY upper entry
//   (pte_alloc_walk / pmd_alloc_walk; the loser of a race gives its page back)
//   --free_pgtables: upper entry cleared, TLB shootdown, then free_ptpage-->
//   free list.
// Upper entries are only ever written by CAS (install 0 -> table, detach
// table -> 0), so the classic path (mmap_lock read, or a VMA lock) can
// populate while other CPUs walk. nr_present counts NON-NONE entries (present,
// protnone or swap) and is updated atomically: installs into an upper table
// do not hold that table's PTL.

import {
  HDR_BASE, H_PTMETA_BASE, H_PTPAGES_BASE, H_NPTPAGES, H_NFRAMES, H_PTPAGE_FREE,
  PTM_PTL, PTM_NR_PRESENT, PTM_LEVEL, PTM_NEXT, PTM_FLAGS, PTM_LINES, PTP_FREE,
  PTM_SIZE, PTM_NLINES, LM_SIZE, MM_PGD, PAGE_SIZE, PAGE_SHIFT, mm_addr,
} from './layout';
import { PC, cpu_local, charge_cost, stat_inc } from './cpu';
import { PC_WALK, PC_PKRU } from './layout';
import { line_read, line_rmw, line_write, line_init_owned } from './cacheline';
import { fl_pop, fl_push, fl_init_untouched, fl_pop_init, fl_count } from './freelist';
import { spin_lock_init } from './spinlock';
import { flush_tlb_mm_range, flush_tlb_mm_range_freed_tables } from './ipi';
import {
  _PAGE_PRESENT, _PAGE_RW, _PAGE_USER, _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PSE, _PAGE_FAULT_ON_ACCESS, _PAGE_TABLE,
  pfn_pte, pte_pfn, pte_pkey, pmd_devmap, pmd_trans_huge, is_swap_pmd, pmd_bad, pud_bad,
} from './pte';
import {
  LOCK_CLASS_PTL, COST_PAGE_ZERO, COST_PTE_OP, COST_WALK_STEP,
  STAT_PTPAGE_ALLOC, STAT_PTPAGE_FREE, STAT_PTPAGE_ALLOC_FAIL, STAT_PTPAGE_ALLOC_RACE, STAT_WALK, STAT_WALK_AD_UPDATE,
} from './generated';
import { FN_FREE_PGTABLES } from './generated';
import { fn_enter, fn_exit } from './obs';

/** first address above user space (x86-64 4-level: 47 bits) */
export const USER_VA_END: u64 = <u64>1 << 47;
export const PTRS_PER_TABLE: u32 = 512;

// levels (PTM_LEVEL): the level of the entries a table holds
export const LEVEL_PTE: u32 = 1;
export const LEVEL_PMD: u32 = 2;
export const LEVEL_PUD: u32 = 3;
export const LEVEL_PGD: u32 = 4;

// result codes of the walks (walk_lockless's return value, walk_error())
export const WALK_OK: i32 = 0;
export const WALK_PGD_NONE: i32 = 1;
export const WALK_PUD_NONE: i32 = 2;
export const WALK_PMD_NONE: i32 = 3;
export const WALK_PGD_BAD: i32 = 4;
export const WALK_PUD_BAD: i32 = 5; // not a table: flags, pfn out of range, or a (unsupported) 1 GiB leaf
export const WALK_PMD_BAD: i32 = 6;
export const WALK_PMD_HUGE: i32 = 7; // pmd_trans_huge: a 2 MiB leaf
export const WALK_PMD_DEVMAP: i32 = 8;
export const WALK_PMD_SWAP: i32 = 9; // non-present, non-none PMD (migration / swap entry)
export const WALK_BAD_ADDR: i32 = 10; // va >= USER_VA_END
export const WALK_NOMEM: i32 = 11; // pte_alloc_walk / pmd_alloc_walk: no page-table page left
export const WALK_PUD_HUGE: i32 = 12; // pud_trans_huge: a present 1 GiB leaf (never made by faultline; a test writes one)

// ---- what the last walk on this CPU found (per CPU, at PC + PC_WALK) ----
@unmanaged export class WalkResult {
  err: i32;
  pmd_table: i32;
  pmd_slot: u32;
  pte_table: i32;
  pte_slot: u32;
  orig_pmd: u64;
}
@inline function walk_res(): WalkResult { return changetype<WalkResult>(PC + PC_WALK); }

/** why the last pte_alloc_walk / pmd_alloc_walk returned 0 (WALK_*), or the last walk_lockless code */
export function walk_error(): i32 { return walk_res().err; }
/** the PMD value walk_lockless read (vmf->orig_pmd) */
export function walk_orig_pmd(): u64 { return walk_res().orig_pmd; }
export function walk_pmd_table(): i32 { return walk_res().pmd_table; }
export function walk_pmd_slot(): u32 { return walk_res().pmd_slot; }
/** PTE table of the last successful walk (its PTL: ptl_of(walk_pte_table())) */
export function walk_pte_table(): i32 { return walk_res().pte_table; }
export function walk_pte_slot(): u32 { return walk_res().pte_slot; }

// ---- addressing ----------------------------------------------------------------

@inline export function nptpages(): u32 { return load<u32>(HDR_BASE + H_NPTPAGES); }
@inline export function ptpage_addr(i: u32): u32 { return load<u32>(HDR_BASE + H_PTPAGES_BASE) + (i << 12); }
@inline function ptmeta_base(): u32 { return load<u32>(HDR_BASE + H_PTMETA_BASE); }
@inline export function ptmeta_addr(i: u32): u32 { return ptmeta_base() + i * PTM_SIZE; }
/** the free list of page-table pages (header) */
const PT_FREE: u32 = HDR_BASE + H_PTPAGE_FREE;
/** the pfn that names page-table page i in an upper entry */
@inline export function ptpage_pfn(i: u32): u64 { return <u64>load<u32>(HDR_BASE + H_NFRAMES) + i; }
@inline export function mm_pgd(mm: u32): u32 { return load<u32>(mm_addr(mm) + MM_PGD); }

/** address of table `t`'s split PTE lock */
@inline export function ptl_of(t: u32): u32 { return ptmeta_addr(t) + PTM_PTL; }
/** cache-line meta of entry `index` of table `t` (one line per 8 entries) */
@inline export function pte_line(t: u32, index: u32): u32 { return ptmeta_addr(t) + PTM_LINES + (index >> 3) * LM_SIZE; }
/** entry index of a slot address (tables are 4 KiB aligned: ptpages_init checks) */
@inline function slot_index(slot: u32): u32 { return (slot & (PAGE_SIZE - 1)) >> 3; }
@inline function nr_present_addr(t: u32): u32 { return ptmeta_addr(t) + PTM_NR_PRESENT; }
export function table_nr_present(t: u32): i32 { return atomic.load<i32>(nr_present_addr(t)); }

// ---- the one seam for table entries: each access goes with its modelled cache line
// (pte_line: 8 entries share one) and its cost, so none is free by accident
/** read entry `idx` of table `t` through its line (a walk's read; the walk step's time is the caller's) */
@inline function entry_load(t: u32, idx: u32): u64 {
  line_read(pte_line(t, idx));
  return atomic.load<u64>(ptpage_addr(t) + (idx << 3));
}
/** ptep_get(): read entry `idx` of PTE table `t` through its line (the fault path's read of its PTE) */
export function ptep_get(t: u32, idx: u32): u64 { return entry_load(t, idx); }
/** the kernel's locked CAS on entry `slot` of table `t`: the line exclusively, COST_PTE_OP; returns what the slot held */
@inline function entry_cmpxchg(t: u32, slot: u32, old: u64, val: u64): u64 {
  line_rmw(pte_line(t, slot_index(slot)));
  charge_cost(COST_PTE_OP);
  return atomic.cmpxchg<u64>(slot, old, val);
}
/** the kernel's exchange of entry `slot` (ptep_get_and_clear): the line exclusively, COST_PTE_OP; returns the old entry */
@inline function entry_xchg(t: u32, slot: u32, val: u64): u64 {
  line_rmw(pte_line(t, slot_index(slot)));
  charge_cost(COST_PTE_OP);
  return atomic.xchg<u64>(slot, val);
}
/** the kernel's store of entry `slot` (set_pte: a plain write of the line, COST_PTE_OP); exchanged, not stored, as the MMU may set A/D concurrently */
@inline function entry_store(t: u32, slot: u32, val: u64): u64 {
  line_write(pte_line(t, slot_index(slot)));
  charge_cost(COST_PTE_OP);
  return atomic.xchg<u64>(slot, val);
}
/** the MMU's A/D update of entry `slot`: the line exclusively; its time is the walk step's */
@inline function entry_cmpxchg_mmu(t: u32, slot: u32, old: u64, val: u64): u64 {
  line_rmw(pte_line(t, slot_index(slot)));
  return atomic.cmpxchg<u64>(slot, old, val);
}

/** shift of the va bits that index a table of `level` */
@inline function level_shift(level: u32): u64 { return <u64>(PAGE_SHIFT + 9 * (level - 1)); }
@inline function table_index(va: u64, level: u32): u32 { return <u32>(va >> level_shift(level)) & (PTRS_PER_TABLE - 1); }
@inline function slot_of(t: u32, va: u64, level: u32): u32 { return ptpage_addr(t) + (table_index(va, level) << 3); }

/** the table an upper entry points to, or -1 when its pfn is not a page-table page */
@inline function entry_table(e: u64): i32 {
  const rel = pte_pfn(e) - <u64>load<u32>(HDR_BASE + H_NFRAMES); // wraps for data pfns
  return rel < <u64>nptpages() ? <i32>rel : -1;
}
@inline function table_entry(t: u32): u64 { return pfn_pte(ptpage_pfn(t), _PAGE_TABLE); }

/** the PTE table a (table) PMD entry points to, -1 if it does not name a page-table page */
export function pmd_pte_table(e: u64): i32 { return entry_table(e); }

/** classify a PGD/PUD entry: WALK_OK if it points to a table */
function upper_check(e: u64, level: u32): i32 {
  if (e == 0) return level == LEVEL_PGD ? WALK_PGD_NONE : WALK_PUD_NONE;
  // a 1 GiB leaf is told apart from a bad entry before pud_bad(), which is also
  // true for it on x86 (as gup_fast tests pud_leaf first): its own abort reason
  if (level == LEVEL_PUD && (e & (_PAGE_PRESENT | _PAGE_PSE)) == (_PAGE_PRESENT | _PAGE_PSE)) return WALK_PUD_HUGE;
  if (pud_bad(e) || entry_table(e) < 0) return level == LEVEL_PGD ? WALK_PGD_BAD : WALK_PUD_BAD;
  return WALK_OK;
}

/** classify a PMD entry in the order of SPF's walk (devmap before trans_huge, see pmd_devmap_trans_unstable) */
function pmd_check(e: u64): i32 {
  if (e == 0) return WALK_PMD_NONE;
  if (pmd_devmap(e)) return WALK_PMD_DEVMAP;
  if (pmd_trans_huge(e)) return WALK_PMD_HUGE;
  if (is_swap_pmd(e)) return WALK_PMD_SWAP;
  if (pmd_bad(e) || entry_table(e) < 0) return WALK_PMD_BAD;
  return WALK_OK;
}

@inline function entry_check(e: u64, level: u32): i32 { return level == LEVEL_PMD ? pmd_check(e) : upper_check(e, level); }

// ---- page-table page allocator -------------------------------------------------

/**
 * Machine initialisation (host, before any CPU runs): every page-table page free and untouched
 * (freelist.ts FL_UNTOUCHED: its metadata is first written when it is handed out, pt_pop()).
 */
export function ptpages_init(): void {
  if ((ptpage_addr(0) & (PAGE_SIZE - 1)) != 0) unreachable(); // slot_index() relies on it
  fl_init_untouched(PT_FREE, 0, nptpages());
}

/** a page's metadata when it comes off the untouched range (never written: all zero) is a free page's */
@inline function pt_untouched_state(i: i32): i32 {
  if (i >= 0 && atomic.load<u32>(ptmeta_addr(<u32>i) + PTM_FLAGS) == 0) atomic.store<u32>(ptmeta_addr(<u32>i) + PTM_FLAGS, PTP_FREE);
  return i;
}

/** A table fresh off the free list: zeroed, unlocked PTL, no entries. Caller owns it exclusively. */
function ptpage_prepare(i: u32, level: u32): void {
  const m = ptmeta_addr(i);
  // a free-list bug handing a page out twice is caught here, not in a corrupted tree
  if ((atomic.and<u32>(m + PTM_FLAGS, ~PTP_FREE) & PTP_FREE) == 0) unreachable();
  memory.fill(ptpage_addr(i), 0, PAGE_SIZE);
  spin_lock_init(m + PTM_PTL, LOCK_CLASS_PTL);
  atomic.store<i32>(m + PTM_NR_PRESENT, 0);
  store<u32>(m + PTM_LEVEL, level);
}

/** Allocate a zeroed page-table page for entries of `level`; -1 when none is left (counted). */
export function alloc_ptpage(level: u32): i32 {
  const i = pt_untouched_state(fl_pop(PT_FREE, ptmeta_base(), PTM_SIZE, PTM_NEXT, nptpages()));
  if (i < 0) { stat_inc(STAT_PTPAGE_ALLOC_FAIL); return -1; }
  ptpage_prepare(<u32>i, level);
  // __GFP_ZERO: zeroing wrote every line of the page, so this CPU owns them all now
  charge_cost(COST_PAGE_ZERO);
  const lines = ptmeta_addr(<u32>i) + PTM_LINES;
  // plain stores: nobody else can see the page until the CAS that installs it
  for (let l: u32 = 0; l < PTM_NLINES; l++) line_init_owned(lines + l * LM_SIZE);
  stat_inc(STAT_PTPAGE_ALLOC);
  return i;
}

/**
 * Return page-table page `i` to the free list. Caller: the table is
 * unreachable (its upper entry cleared and a shootdown completed since) and
 * empty. Traps on a double free or a table that still holds entries.
 */
export function free_ptpage(i: u32): void {
  if (i >= nptpages()) unreachable();
  const m = ptmeta_addr(i);
  if (atomic.load<i32>(m + PTM_NR_PRESENT) != 0) unreachable();
  if ((atomic.or<u32>(m + PTM_FLAGS, PTP_FREE) & PTP_FREE) != 0) unreachable();
  fl_push(PT_FREE, ptmeta_base(), PTM_SIZE, PTM_NEXT, i);
  stat_inc(STAT_PTPAGE_FREE);
}

export function nr_free_ptpages(): i32 { return fl_count(PT_FREE); }

/** Machine initialisation (host, uncharged): give `mm` its PGD. */
export function mm_pgd_init(mm: u32): void {
  const i = pt_untouched_state(fl_pop_init(PT_FREE, ptmeta_base(), PTM_SIZE, PTM_NEXT, nptpages()));
  if (i < 0) unreachable(); // the host sized ptPages >= 2
  ptpage_prepare(<u32>i, LEVEL_PGD);
  memory.fill(ptmeta_addr(<u32>i) + PTM_LINES, 0, PTM_NLINES * LM_SIZE);
  store<u32>(mm_addr(mm) + MM_PGD, <u32>i);
}

// ---- locked path: walk with allocate-on-demand -------------------------------------

/**
 * The table below entry `va` of table `parent` (whose entries are of `level`),
 * installing a new one if the entry is empty. -1 with W_ERR set when the
 * entry is not a table (huge, swap, bad) or no page is left.
 */
function ensure_table(parent: u32, level: u32, va: u64): i32 {
  const idx = table_index(va, level);
  const slot = ptpage_addr(parent) + (idx << 3);
  let e = entry_load(parent, idx);
  if (e == 0) {
    const t = alloc_ptpage(level - 1);
    if (t < 0) { walk_res().err = WALK_NOMEM; return -1; }
    e = entry_cmpxchg(parent, slot, 0, table_entry(<u32>t));
    if (e == 0) {
      atomic.add<i32>(nr_present_addr(parent), 1);
      return t;
    }
    // another CPU populated the entry first: use its table, give ours back (as __pte_alloc does)
    stat_inc(STAT_PTPAGE_ALLOC_RACE);
    free_ptpage(<u32>t);
  }
  const code = entry_check(e, level);
  if (code != WALK_OK) { walk_res().err = code; return -1; }
  return entry_table(e);
}

/**
 * Address of the PMD slot for `va` in `mm`, allocating the PUD and PMD tables
 * on the way; 0 when `va` is not a user address or no page-table page is left
 * (walk_error() says which). Caller holds mmap_lock (read) or the VMA's lock
 * for a VMA covering `va`: that keeps free_pgtables away from these tables.
 */
export function pmd_alloc_walk(mm: u32, va: u64): u32 {
  walk_res().err = WALK_OK;
  walk_res().pmd_table = -1; walk_res().pmd_slot = 0; walk_res().pte_table = -1; walk_res().pte_slot = 0;
  if (va >= USER_VA_END) { walk_res().err = WALK_BAD_ADDR; return 0; }
  const pud = ensure_table(mm_pgd(mm), LEVEL_PGD, va);
  if (pud < 0) return 0;
  const pmd = ensure_table(<u32>pud, LEVEL_PUD, va);
  if (pmd < 0) return 0;
  walk_res().pmd_table = pmd;
  walk_res().pmd_slot = slot_of(<u32>pmd, va, LEVEL_PMD);
  return walk_res().pmd_slot;
}

/**
 * Address of the PTE slot for `va`, allocating PUD/PMD/PTE tables as needed;
 * its table is walk_pte_table(). 0 when not a user address, out of pages, or
 * the PMD is a huge / swap / bad entry (walk_error()). Caller as pmd_alloc_walk.
 */
export function pte_alloc_walk(mm: u32, va: u64): u32 {
  if (pmd_alloc_walk(mm, va) == 0) return 0;
  const pt = ensure_table(<u32>walk_res().pmd_table, LEVEL_PMD, va);
  if (pt < 0) return 0;
  walk_res().pte_table = pt;
  walk_res().pte_slot = slot_of(<u32>pt, va, LEVEL_PTE);
  return walk_res().pte_slot;
}

// ---- speculative path: lockless read-only walk -----------------------------------------

/** one level of a software walk: read the entry (through the cache model) */
@inline function read_entry(t: u32, va: u64, level: u32): u64 {
  return entry_load(t, table_index(va, level));
}

/**
 * The walk of __handle_speculative_fault(): never allocates, never writes.
 * Returns WALK_OK with walk_orig_pmd / walk_pte_table / walk_pte_slot set,
 * or the reason to abort. Caller runs with IRQs off from here until it is
 * done with the PTE table: the TLB shootdown that precedes freeing a table
 * cannot complete meanwhile, so the tables read here stay allocated.
 */
export function walk_lockless(mm: u32, va: u64): i32 {
  walk_res().orig_pmd = 0;
  walk_res().pmd_table = -1; walk_res().pmd_slot = 0; walk_res().pte_table = -1; walk_res().pte_slot = 0;
  if (va >= USER_VA_END) return walk_res().err = WALK_BAD_ADDR;
  let t = mm_pgd(mm);
  let e = read_entry(t, va, LEVEL_PGD);
  let code = upper_check(e, LEVEL_PGD);
  if (code != WALK_OK) return walk_res().err = code;
  t = <u32>entry_table(e);
  e = read_entry(t, va, LEVEL_PUD);
  code = upper_check(e, LEVEL_PUD);
  if (code != WALK_OK) return walk_res().err = code;
  t = <u32>entry_table(e);
  const pmd = read_entry(t, va, LEVEL_PMD);
  walk_res().orig_pmd = pmd;
  walk_res().pmd_table = <i32>t;
  walk_res().pmd_slot = slot_of(t, va, LEVEL_PMD);
  code = pmd_check(pmd);
  if (code != WALK_OK) return walk_res().err = code;
  walk_res().pte_table = entry_table(pmd);
  walk_res().pte_slot = slot_of(<u32>walk_res().pte_table, va, LEVEL_PTE);
  return walk_res().err = WALK_OK;
}

// ---- hardware walk ----------------------------------------------------------------------

/**
 * __pkru_allows_pkey() (arch/x86/include/asm/pkeys.h): the PKRU of the task
 * on this CPU lets it read (and, if `write`, write) pages of key `pkey`.
 */
export function pkru_allows(pkey: u32, write: bool): bool {
  const pkru = load<u32>(PC + PC_PKRU) >> (pkey << 1);
  if (pkru & 1) return false; // access disable
  return !write || (pkru & 2) == 0; // write disable
}

/**
 * The MMU's walk after a TLB miss. Charges one walk step and one cache-line
 * read per level. If the leaf (4 KiB PTE, or a 2 MiB PMD with PS) is present
 * and permits the access (RW and US also checked on every upper level, as the
 * MMU ANDs them), sets A, and D on a write, with a locked CAS as the MMU does,
 * and returns the leaf as updated. Returns 0 when the access must fault: not
 * present, protnone / fault-on-access, write to a read-only entry, user access
 * to a supervisor entry, or va outside user space.
 * Runs inside one operation: no interrupt point, so no table is freed under it.
 */
export function hw_walk(mm: u32, va: u64, write: bool, user: bool): u64 {
  if (va >= USER_VA_END) return 0; // #GP / no translation: no walk
  stat_inc(STAT_WALK);
  let t = mm_pgd(mm);
  let perm: u64 = _PAGE_RW | _PAGE_USER;
  let level = LEVEL_PGD;
  let idx: u32 = 0;
  let e: u64 = 0;
  // descend until a leaf: PTE level, or a huge PMD
  while (true) {
    charge_cost(COST_WALK_STEP);
    idx = table_index(va, level);
    e = entry_load(t, idx);
    if (level == LEVEL_PTE || (e & _PAGE_PRESENT) == 0) break;
    if (e & _PAGE_PSE) {
      if (level == LEVEL_PMD) break;
      return 0; // no 1 GiB pages
    }
    const next = entry_table(e);
    if (next < 0) return 0;
    perm &= e;
    t = <u32>next;
    level--;
  }
  const slot = ptpage_addr(t) + (idx << 3);
  const need: u64 = write ? _PAGE_ACCESSED | _PAGE_DIRTY : _PAGE_ACCESSED;
  // retry: the entry changed between our read and the A/D CAS; judge the new value
  while (true) {
    if ((e & (_PAGE_PRESENT | _PAGE_FAULT_ON_ACCESS)) != _PAGE_PRESENT) return 0;
    if (write && (e & perm & _PAGE_RW) == 0) return 0;
    if (user && (e & perm & _PAGE_USER) == 0) return 0;
    // protection keys: a data access to a user page checks its key against PKRU (PF_PK)
    if ((e & perm & _PAGE_USER) != 0 && !pkru_allows(pte_pkey(e), write)) return 0;
    if ((e & need) == need) return e;
    const old = entry_cmpxchg_mmu(t, slot, e, e | need);
    if (old == e) { stat_inc(STAT_WALK_AD_UPDATE); return e | need; }
    e = old;
  }
}

// ---- entry updates (any level) -------------------------------------------------------------

/** Store `val` in `slot` of table `t`. Caller holds ptl_of(t). */
export function set_pte(t: u32, slot: u32, val: u64): void {
  // only none-ness matters to nr_present
  const old = entry_store(t, slot, val);
  const d = <i32>(val != 0) - <i32>(old != 0);
  if (d != 0) atomic.add<i32>(nr_present_addr(t), d);
}

/** Clear `slot` of table `t` and return what it held (atomic against A/D updates). Caller holds ptl_of(t). */
export function ptep_get_and_clear(t: u32, slot: u32): u64 {
  const old = entry_xchg(t, slot, 0);
  if (old != 0) atomic.sub<i32>(nr_present_addr(t), 1);
  return old;
}

/** Replace `old` by `val` in `slot` of table `t` if it still holds `old`. Caller holds ptl_of(t). */
export function ptep_cmpxchg(t: u32, slot: u32, old: u64, val: u64): bool {
  if (entry_cmpxchg(t, slot, old, val) != old) return false;
  const d = <i32>(val != 0) - <i32>(old != 0);
  if (d != 0) atomic.add<i32>(nr_present_addr(t), d);
  return true;
}

// ---- freeing empty tables ---------------------------------------------------------------------

// Tables detached by this CPU and not yet freed (index + 1, chained through
// PTM_NEXT): Linux's mmu_gather of page-table pages (cpu_local().pt_gather, pt_gather_n).

/** Detach the empty tables of `t` (entries of `level`, covering from `base`) that lie wholly in [start, end). */
function detach_level(t: u32, level: u32, base: u64, start: u64, end: u64): void {
  const shift = level_shift(level);
  const span: u64 = <u64>1 << shift;
  const lo = start > base ? start : base;
  const top = base + (span << 9);
  const hi = end < top ? end : top;
  const first = <u32>((lo - base) >> shift);
  const last = <u32>((hi - 1 - base) >> shift);
  for (let i = first; i <= last; i++) {
    if (i == first || (i & 7) == 0) line_read(pte_line(t, i));
    const slot = ptpage_addr(t) + (i << 3);
    const e = atomic.load<u64>(slot);
    if (e == 0 || entry_check(e, level) != WALK_OK) continue; // none, leaf or bad: not a table
    const child = <u32>entry_table(e);
    const cbase = base + (<u64>i << shift);
    if (level > LEVEL_PMD) detach_level(child, level - 1, cbase, start, end);
    if (cbase < start || cbase + span > end || table_nr_present(child) != 0) continue;
    if (entry_cmpxchg(t, slot, e, 0) != e) continue;
    atomic.sub<i32>(nr_present_addr(t), 1);
    store<u32>(ptmeta_addr(child) + PTM_NEXT, cpu_local().pt_gather);
    cpu_local().pt_gather = child + 1;
    cpu_local().pt_gather_n++;
  }
}

/**
 * First half of free_pgtables: clear the upper entries of every EMPTY PTE /
 * PMD / PUD table whose whole range lies in [start, end) and keep the
 * tables on this CPU's gather list. Returns how many were detached.
 * Caller holds mmap_lock (for write, or for read once munmap detached the
 * VMAs of the range: Linux 4.20+) and [start, end) holds no VMA (like
 * free_pgd_range's floor/ceiling: a table shared with a live neighbour
 * is never in range, so a fault there cannot be populating it).
 */
export function pgtables_detach(mm: u32, start: u64, end: u64): u32 {
  if (end > USER_VA_END) end = USER_VA_END;
  if (start >= end) return 0;
  const n0 = cpu_local().pt_gather_n;
  detach_level(mm_pgd(mm), LEVEL_PGD, 0, start, end);
  return cpu_local().pt_gather_n - n0;
}

/**
 * Second half: free every table detached by this CPU. Caller: a TLB
 * shootdown of the mm has COMPLETED since the detach (see free_pgtables).
 */
export function pgtables_free_detached(): u32 {
  let n: u32 = 0;
  while (cpu_local().pt_gather != 0) {
    const i = cpu_local().pt_gather - 1;
    cpu_local().pt_gather = load<u32>(ptmeta_addr(i) + PTM_NEXT);
    free_ptpage(i);
    n++;
  }
  cpu_local().pt_gather_n = 0;
  return n;
}

/**
 * Free the empty page tables wholly inside [start, end) of `mm`; returns how
 * many pages went back to the free list. Caller as pgtables_detach, with
 * IRQs on (the shootdown waits for acks).
 *
 * Ordering invariant: detach, THEN shoot down, THEN free. A speculative
 * walker (walk_lockless) or an MMU walk may have read the old upper entry
 * just before it was cleared; it runs with IRQs off until it is done with
 * the table, so the shootdown IPI cannot be acked while it walks. Once every
 * ack is in, nobody can reach the detached tables (and no paging-structure
 * cache holds them): only then are they freed. A shootdown done BEFORE the
 * detach would not do: a walker could start between it and the detach.
 * A caller that batches (munmap: zap PTEs, detach, one shootdown for both)
 * uses pgtables_detach + flush_tlb_mm_range + pgtables_free_detached.
 */
function free_pgtables__body(mm: u32, start: u64, end: u64): u32 {
  if (end > USER_VA_END) end = USER_VA_END;
  if (pgtables_detach(mm, start, end) == 0) return 0;
  flush_tlb_mm_range_freed_tables(mm, start >> PAGE_SHIFT, (end + PAGE_SIZE - 1) >> PAGE_SHIFT);
  return pgtables_free_detached();
}
/** free_pgtables() as a frame of the flame graph (obs.ts) */
@inline export function free_pgtables(mm: u32, start: u64, end: u64): u32 {
  fn_enter(FN_FREE_PGTABLES);
  const r = free_pgtables__body(mm, start, end);
  fn_exit();
  return r;
}
