// The mutators that race the fault path: mmap, munmap, mprotect,
// madvise(MADV_DONTNEED) and the NUMA-balancing scanner, each with the
// locking of the configured strategy (see the lock order in fault.ts):
//   - mmap/munmap/mprotect: mmap_lock for write; every VMA they change is
//     write-marked for per-VMA locks (vma_start_write, pervma only) and its
//     vm_sequence is odd while it changes (spf only), so a speculative fault
//     in it aborts; munmap may downgrade to read once its VMAs are detached
//     (SET_MUNMAP_DOWNGRADE, see do_munmap);
//   - MADV_DONTNEED and the NUMA scanner: mmap_lock for read; PTEs change
//     under the PTL only (faults re-check the PTE under the PTL).
// Freed frames and page tables are reused only after the TLB shootdown that
// removed every translation to them (mmu_gather order: zap, detach tables,
// flush, then free).

import { TEST_BUILD } from './build_flags';
import {
  VMA_START, VMA_WORDS, VMA_END, VMA_FLAGS, VMA_PROT, VMA_MPOL, VM_READ, VM_WRITE, VM_EXEC, VM_SHARED, VM_GROWSDOWN,
  VM_HUGEPAGE, VM_UFFD_MISSING, VM_LOCKED, VMOPS_NONE, VMOPS_FILE, VMOPS_SHMEM, MPOL_DEFAULT, MPOL_INTERLEAVE,
  PAGE_SHIFT, PAGE_SIZE, FR_MAPCOUNT, PG_ANON, PG_HUGE, PG_PAGECACHE,
  PCM_GATHER, GATHER_MAX, PCM_MUT_VMAS, MUT_VMAS_MAX, SET_ZAP_FLUSH_UNDER_PTL, SET_BUG, SET_NUMA_PAGES, SET_THP,
  BUG_SKIP_SHOOTDOWN, THP_ALWAYS, MM_NUMA_OFFSET, SET_MUNMAP_DOWNGRADE, VM_MTE, VM_PKEY_SHIFT, VM_PKEY_MASK, VMA_OPS, mm_addr, pcm, setting,
} from './layout';
import { cpu_id, cpu_local, charge, cost, stat_inc, now } from './cpu';
import {
  COST_SYSCALL, COST_PTE_OP,
  STAT_MMAP, STAT_MUNMAP, STAT_MPROTECT, STAT_MADVISE_DONTNEED, STAT_MMAP_FAIL, STAT_NUMA_SCAN, STAT_NUMA_PTE_MARKED,
  STAT_ZAP_PTE, STAT_ZAP_FLUSH_UNDER_PTL, STAT_NUMA_PMD_MARKED,
} from './generated';
import { sync_point } from './wait';
import { spin_lock, spin_unlock } from './spinlock';
import { flush_tlb_mm_range, flush_tlb_mm_range_freed_tables } from './ipi';
import { tlb_flush_range } from './tlb';
import {
  walk_lockless, walk_pte_table, walk_pmd_table, walk_pmd_slot, ptl_of, ptpage_addr, set_pte, ptep_get_and_clear,
  pgtables_detach, pgtables_free_detached, WALK_OK, WALK_PMD_HUGE, USER_VA_END,
} from './pgtable';
import { pte_none, pte_present, pte_protnone, pte_pfn, pte_dirty, pte_special, pte_modify, pgprot_pack, PAGE_NONE, _PAGE_PSE } from './pte';
import { tag_storage_enabled, mte_sync_tags } from './mte';
import {
  vma_alloc, vma_init, vma_set_range, vm_flags_init, vma_set_file, vma_set_policy, vma_link, vma_unlink, vma_split, vma_merge, vma_free_new, find_vma, vma_addr, vma_count, vma_at,
  vm_write_begin, vm_write_end, vma_set_flags,
} from './vma';
import { vma_start_write } from './pervma';
import { mmap_read_lock, mmap_read_unlock, mmap_write_lock, mmap_write_unlock, mmap_write_downgrade } from './mmap_lock';
import { vm_get_page_prot } from './fault';
import { frame, frame_flags, ZERO_PFN } from './frames';
import { release_pages, lru_add_drain } from './lru';
import { add_mm_counter } from './rss';
import { shmem_file_setup, file_is_shmem, ENFILE } from './shmem';
import { FN_CHANGE_PROTECTION, FN_SYS_MADVISE, FN_SYS_MMAP, FN_SYS_MPROTECT, FN_SYS_MUNMAP, FN_TASK_NUMA_WORK, FN_TLB_FINISH_MMU, FN_UNMAP_VMAS } from './generated';
import { fn_enter, fn_exit, tracing, trace_event } from './obs';
import { TE_SYSCALL, SYS_MUNMAP, SYS_MMAP, SYS_MPROTECT, SYS_MADVISE } from './layout';
import { word_peek_plain } from './shared';

// mmap flags (uapi) and faultline's own VMA settings
export const MAP_SHARED: u32 = 0x01;
export const MAP_PRIVATE: u32 = 0x02;
export const MAP_FIXED: u32 = 0x10;
export const MAP_ANONYMOUS: u32 = 0x20;
export const MAP_GROWSDOWN: u32 = 0x100;
export const MAP_X_HUGEPAGE: u32 = 0x1000000; // as madvise(MADV_HUGEPAGE)
export const MAP_X_INTERLEAVE: u32 = 0x2000000; // mbind(MPOL_INTERLEAVE)
export const MAP_X_UFFD_MISSING: u32 = 0x4000000; // registered with userfaultfd (MISSING mode)
export const MADV_DONTNEED: u32 = 4;
// protection bits of mmap/mprotect: the uapi values (= VM_READ, VM_WRITE, VM_EXEC)
export const PROT_NONE: u32 = 0;
export const PROT_READ: u32 = 0x1;
export const PROT_WRITE: u32 = 0x2;
export const PROT_EXEC: u32 = 0x4;
/** arm64 uapi PROT_MTE: the mapping's pages carry allocation tags (VM_MTE) */
export const PROT_MTE: u32 = 0x20;

export const EINVAL: i32 = 22;
export const ENOMEM: i32 = 12;
const PROT_MASK: u32 = VM_READ | VM_WRITE | VM_EXEC;
const MMAP_BASE: u64 = 0x7f0000000000; // top-down allocation starts here (no ASLR: runs are reproducible)
/** mm->mmap_base: where top-down allocation starts (the same for every mm: no ASLR) */
export function mmap_base(_mm: u32): u64 { return MMAP_BASE; }
const MMAP_MIN: u64 = 0x10000;
const PMD_SIZE: u64 = 0x200000;

/** pmd_addr_end(): the end of the PMD (2 MiB) range that contains `a`, capped at `end` */
@inline function pmd_addr_end(a: u64, end: u64): u64 {
  const b = (a + PMD_SIZE) & ~(PMD_SIZE - 1);
  return b < end ? b : end;
}

// ---- mmu_gather: pages zapped, freed after the flush ----

@inline function gather_n_addr(): u32 { return pcm(cpu_id()) + PCM_GATHER; }

/** flush the mm's TLBs for [s, e) everywhere (or only locally under the planted bug), then free what was gathered */
function tlb_flush_and_free__body(mm: u32, s: u64, e: u64, freed_tables: bool): void {
  if (TEST_BUILD && (setting(SET_BUG) & BUG_SKIP_SHOOTDOWN)) tlb_flush_range(s >> PAGE_SHIFT, e >> PAGE_SHIFT);
  else if (freed_tables) flush_tlb_mm_range_freed_tables(mm, s >> PAGE_SHIFT, (e + PAGE_SIZE - 1) >> PAGE_SHIFT);
  else flush_tlb_mm_range(mm, s >> PAGE_SHIFT, (e + PAGE_SIZE - 1) >> PAGE_SHIFT);
  release_pages(gather_n_addr(), cpu_local().gather_n);
  cpu_local().gather_n = 0;
}
/** tlb_flush_and_free() as a frame of the flame graph (obs.ts) */
@inline export function tlb_flush_and_free(mm: u32, s: u64, e: u64, freed_tables: bool): void {
  fn_enter(FN_TLB_FINISH_MMU);
  tlb_flush_and_free__body(mm, s, e, freed_tables);
  fn_exit();
}

/** the reverse-map and RSS side of dropping one mapped page; true if it must be flushed under the PTL */
function zap_one(mm: u32, e: u64): bool {
  const pfn = <u32>pte_pfn(e);
  if (pte_special(e) || pfn == ZERO_PFN) return false;
  const fl = frame_flags(pfn);
  atomic.sub<i32>(frame(pfn) + FR_MAPCOUNT, 1);
  add_mm_counter(mm, (fl & PG_ANON) != 0, (fl & PG_HUGE) ? -512 : -1);
  store<u32>(gather_n_addr() + cpu_local().gather_n * 4, pfn);
  cpu_local().gather_n++;
  // a dirty shared page must not be written back while another TLB can still dirty it
  return pte_dirty(e) && (fl & PG_PAGECACHE) != 0;
}

/**
 * zap_page_range(): clear every PTE in [start, end) and gather the pages.
 * Caller holds mmap_lock (munmap: write, or read after detaching the VMAs; MADV_DONTNEED: read) and calls
 * tlb_flush_and_free after. Each PTE table is zapped under its PTL. Returns
 * the PTEs it cleared: with none (and no table freed) the mmu_gather range
 * stays empty and tlb_finish_mmu() flushes nothing (tlb_flush_mmu_tlbonly:
 * `if (!tlb->end) return;`, include/asm-generic/tlb.h).
 * keep_anon: leave anonymous pages (the COW copies a hole punch keeps, shmem.ts).
 */
function zap_range__body(mm: u32, start: u64, end: u64, keep_anon: bool): u32 {
  let cleared: u32 = 0;
  let a = start;
  while (a < end) {
    const next = pmd_addr_end(a, end);
    const w = walk_lockless(mm, a);
    if (w == WALK_PMD_HUGE) {
      const t = <u32>walk_pmd_table();
      const ptl = ptl_of(t);
      spin_lock(ptl);
      const e = ptep_get_and_clear(t, walk_pmd_slot());
      if (e != 0) { stat_inc(STAT_ZAP_PTE); zap_one(mm, e); cleared++; }
      spin_unlock(ptl);
    } else if (w == WALK_OK) {
      const t = <u32>walk_pte_table();
      const ptl = ptl_of(t);
      let force_under_ptl = setting(SET_ZAP_FLUSH_UNDER_PTL) != 0;
      spin_lock(ptl);
      for (let va = a; va < next; va += PAGE_SIZE) {
        const slot = ptpage_addr(t) + ((<u32>(va >> PAGE_SHIFT) & 511) << 3);
        const cur = atomic.load<u64>(slot);
        if (pte_none(cur)) continue;
        if (keep_anon && pte_present(cur) && !pte_special(cur) && (frame_flags(<u32>pte_pfn(cur)) & PG_ANON) != 0) continue;
        const e = ptep_get_and_clear(t, slot);
        charge(cost(COST_PTE_OP));
        stat_inc(STAT_ZAP_PTE);
        cleared++;
        if (pte_present(e) || pte_protnone(e)) { if (zap_one(mm, e)) force_under_ptl = true; }
        if (cpu_local().gather_n >= GATHER_MAX) { spin_unlock(ptl); tlb_flush_and_free(mm, a, next, false); spin_lock(ptl); }
      }
      if (force_under_ptl) {
        // the TLB flush happens BEFORE the PTL is dropped (a CPU spinning
        // for this PTL with IRQs off would deadlock us here)
        stat_inc(STAT_ZAP_FLUSH_UNDER_PTL);
        flush_tlb_mm_range(mm, a >> PAGE_SHIFT, next >> PAGE_SHIFT);
      }
      spin_unlock(ptl);
    }
    a = next;
    sync_point();
  }
  return cleared;
}
/** zap_range() as a frame of the flame graph (obs.ts) */
@inline export function zap_range(mm: u32, start: u64, end: u64, keep_anon: bool): u32 {
  fn_enter(FN_UNMAP_VMAS);
  const r = zap_range__body(mm, start, end, keep_anon);
  fn_exit();
  return r;
}

// ---- helpers over the VMA index ----

@inline function vstart(slot: u32): u64 { return word_peek_plain<u64>(vma_addr(slot), VMA_WORDS, VMA_START); }
@inline function vend(slot: u32): u64 { return word_peek_plain<u64>(vma_addr(slot), VMA_WORDS, VMA_END); }
@inline function mut_vmas(): u32 { return pcm(cpu_id()) + PCM_MUT_VMAS; }
/** the i-th VMA isolate_range() listed */
export function mut_vma_at(i: u32): u32 { return load<u32>(mut_vmas() + i * 4); }

/**
 * Split so that VMA boundaries fall on `start` and `end`, then list the
 * VMAs inside [start, end) in mut_vmas(). Returns how many, or -ENOMEM.
 * Caller holds mmap_lock for write.
 */
export function isolate_range(mm: u32, start: u64, end: u64): i32 {
  let vma = find_vma(mm, start);
  if (vma < 0 || vstart(<u32>vma) >= end) return 0;
  if (vstart(<u32>vma) < start) {
    const upper = vma_split(mm, <u32>vma, start);
    if (upper < 0) return -ENOMEM;
    vma = upper;
  }
  let n: u32 = 0;
  while (vma >= 0 && vstart(<u32>vma) < end) {
    const s = <u32>vma;
    if (vend(s) > end && vma_split(mm, s, end) < 0) return -ENOMEM; // vma_split write-locks both halves
    if (n >= MUT_VMAS_MAX) return -ENOMEM;
    store<u32>(mut_vmas() + n * 4, s);
    n++;
    vma = find_vma(mm, vend(s));
  }
  return <i32>n;
}

// ---- munmap ----

/**
 * do_munmap(): caller holds mmap_lock for write. 0 or -errno, or 1 when it
 * downgraded: then the caller holds mmap_lock for READ.
 *
 * The VMAs leave the index BEFORE their pages are zapped, as in every Linux
 * do_munmap() (detach_vmas_to_be_unmapped() before unmap_region(); the SPF
 * series relies on it: a speculative fault that finds the VMA afterwards sees
 * it detached, and one that installed a PTE before the zap took its PTL has
 * that PTE zapped). Unlinked after the zap, a VMA sat zapped but LIVE, its
 * vm_sequence even again, while vma_unlink() waited for mm_rb_lock: a
 * speculative fault that looked it up then mapped a page into the range, left
 * outside every VMA (test/core/spf-munmap-order.test.ts).
 * With `downgrade` (munmap(2) since Linux 4.20, commit dd2283f2605e "mm: mmap:
 * zap pages with read mmap_sem in munmap"; do_vmi_align_munmap() today)
 * mmap_lock is then downgraded to read for the zap, the shootdown and the
 * table freeing: faults elsewhere in the mm go on meanwhile. Without it (the
 * kernels before 4.20, which the SPF series was measured on, and mmap's
 * MAP_FIXED replacement) all of it happens under the write lock.
 */
export function do_munmap(mm: u32, start: u64, len: u64, downgrade: bool): i32 {
  if ((start & (PAGE_SIZE - 1)) != 0 || len == 0 || start + len > USER_VA_END) return -EINVAL;
  const end = (start + len + PAGE_SIZE - 1) & ~(<u64>PAGE_SIZE - 1);
  const n = isolate_range(mm, start, end);
  if (n <= 0) return n;
  for (let i: u32 = 0; i < <u32>n; i++) {
    const s = load<u32>(mut_vmas() + i * 4);
    vma_start_write(mm, s);
    vm_write_begin(s);
  }
  // the gap the unmapped range leaves: page tables wholly inside it can go
  const prev = find_vma_below(mm, start);
  const floor = prev >= 0 ? vend(<u32>prev) : 0;
  const nx = find_vma(mm, end);
  const ceiling = nx >= 0 ? vstart(<u32>nx) : USER_VA_END;
  detach_vmas(mm, <u32>n);
  if (downgrade) mmap_write_downgrade(mm);
  lru_add_drain();
  const cleared = zap_range(mm, start, end, false);
  // under the read lock too: [floor, ceiling) holds no VMA any more, so no
  // fault populates a table wholly inside it
  const freed = pgtables_detach(mm, floor, ceiling);
  // an untouched range (mmap1) cleared nothing and freed no table: no flush, no IPI
  if (cleared > 0 || freed > 0 || cpu_local().gather_n > 0) tlb_flush_and_free(mm, start, end, freed > 0);
  pgtables_free_detached();
  return downgrade ? 1 : 0;
}

/** unlink the `n` VMAs of mut_vmas(): detached, speculative readers see them changed; freed after the grace period */
function detach_vmas(mm: u32, n: u32): void {
  for (let i: u32 = 0; i < n; i++) {
    const s = load<u32>(mut_vmas() + i * 4);
    vm_write_end(s);
    vma_unlink(mm, s);
  }
}

/** the last VMA that ends at or below `addr`, -1 if none */
function find_vma_below(mm: u32, addr: u64): i32 {
  let best: i32 = -1;
  const n = vma_count(mm);
  for (let i: u32 = 0; i < n; i++) {
    const s = vma_at(mm, i);
    if (s < 0) break;
    if (vend(<u32>s) <= addr) best = s; else break;
  }
  return best;
}

/** the body of sys_munmap() (the host call below: a frame of the flame graph and a span of the timeline) */
function sys_munmap__body(mm: u32, start: u64, len: u64): i32 {
  charge(cost(COST_SYSCALL));
  stat_inc(STAT_MUNMAP);
  mmap_write_lock(mm);
  const r = do_munmap(mm, start, len, setting(SET_MUNMAP_DOWNGRADE) != 0);
  if (r == 1) mmap_read_unlock(mm); else mmap_write_unlock(mm);
  if (r < 0) stat_inc(STAT_MMAP_FAIL);
  return r < 0 ? r : 0;
}
/** munmap(): unmap [start, start + len) (start page-aligned); 0 or -errno */
export function sys_munmap(mm: u32, start: u64, len: u64): i32 {
  fn_enter(FN_SYS_MUNMAP);
  const t0 = now();
  const r = sys_munmap__body(mm, start, len);
  fn_exit();
  if (tracing()) trace_event(TE_SYSCALL, t0, now(), SYS_MUNMAP, start);
  return r;
}

// ---- mmap ----

/** get_unmapped_area(): top-down first fit below MMAP_BASE; 0 if none. Caller holds mmap_lock. */
function get_unmapped_area(mm: u32, len: u64, align: u64): u64 {
  let gap_end = MMAP_BASE;
  let i = <i32>vma_count(mm) - 1;
  // retry: walk the VMAs downwards, each gap above a VMA is a candidate
  while (true) {
    let gap_start = MMAP_MIN;
    let below: i32 = -1;
    for (; i >= 0; i--) {
      const s = vma_at(mm, <u32>i);
      if (s < 0) continue;
      if (vstart(<u32>s) >= gap_end) continue;
      below = s;
      break;
    }
    if (below >= 0) gap_start = vend(<u32>below) > gap_start ? vend(<u32>below) : gap_start;
    if (gap_end >= gap_start + len) {
      const a = (gap_end - len) & ~(align - 1);
      if (a >= gap_start) return a;
    }
    if (below < 0) return 0;
    gap_end = vstart(<u32>below);
    i--;
  }
  return 0;
}

/** the body of sys_mmap() (the host call below: a frame of the flame graph and a span of the timeline) */
function sys_mmap__body(mm: u32, addr: u64, len: u64, prot: u32, flags: u32, file: u32, pgoff: u64): i64 {
  charge(cost(COST_SYSCALL));
  stat_inc(STAT_MMAP);
  len = (len + PAGE_SIZE - 1) & ~(<u64>PAGE_SIZE - 1);
  if (len == 0 || len >= USER_VA_END) { stat_inc(STAT_MMAP_FAIL); return -<i64>EINVAL; }
  let anon = (flags & MAP_ANONYMOUS) != 0;
  // PROT_MTE: anonymous private memory only (arm64 VM_MTE_ALLOWED), and only with tag storage
  if ((prot & PROT_MTE) != 0 && (!tag_storage_enabled() || !anon || (flags & MAP_SHARED) != 0)) { stat_inc(STAT_MMAP_FAIL); return -<i64>EINVAL; }
  let vm_flags = (prot & PROT_MASK);
  if (prot & PROT_MTE) vm_flags |= VM_MTE;
  if (flags & MAP_SHARED) vm_flags |= VM_SHARED;
  if (flags & MAP_GROWSDOWN) vm_flags |= VM_GROWSDOWN;
  if (flags & MAP_X_HUGEPAGE) vm_flags |= VM_HUGEPAGE;
  if (flags & MAP_X_UFFD_MISSING) vm_flags |= VM_UFFD_MISSING;
  let ops = anon ? VMOPS_NONE : (file_is_shmem(file) ? VMOPS_SHMEM : VMOPS_FILE);
  if (anon && (flags & MAP_SHARED)) {
    // shmem_zero_setup(): shared anonymous memory is a shmem object of its own, one per mmap
    const f = shmem_file_setup(len >> PAGE_SHIFT);
    if (f < 0) { stat_inc(STAT_MMAP_FAIL); return <i64>(f == -ENFILE ? -ENOMEM : f); }
    anon = false; ops = VMOPS_SHMEM; file = <u32>f; pgoff = 0;
  }
  const mpol = (flags & MAP_X_INTERLEAVE) ? MPOL_INTERLEAVE : MPOL_DEFAULT;
  mmap_write_lock(mm);
  let start = addr;
  if (flags & MAP_FIXED) {
    if ((addr & (PAGE_SIZE - 1)) != 0 || addr + len > USER_VA_END || addr < MMAP_MIN) { mmap_write_unlock(mm); stat_inc(STAT_MMAP_FAIL); return -<i64>EINVAL; }
    const r = do_munmap(mm, addr, len, false); // mmap_region() never downgrades
    if (r < 0) { mmap_write_unlock(mm); stat_inc(STAT_MMAP_FAIL); return <i64>r; }
  } else {
    const thp = setting(SET_THP) == THP_ALWAYS || (flags & MAP_X_HUGEPAGE) != 0;
    start = get_unmapped_area(mm, len, thp && len >= PMD_SIZE && anon ? PMD_SIZE : PAGE_SIZE);
    if (start == 0) { mmap_write_unlock(mm); stat_inc(STAT_MMAP_FAIL); return -<i64>ENOMEM; }
  }
  const slot = vma_alloc();
  if (slot < 0) { mmap_write_unlock(mm); stat_inc(STAT_MMAP_FAIL); return -<i64>ENOMEM; }
  vma_init(<u32>slot, mm);
  vma_set_range(<u32>slot, start, start + len, anon ? 0 : pgoff);
  vm_flags_init(<u32>slot, vm_flags, pgprot_pack(vm_get_page_prot(vm_flags)));
  if (!anon) vma_set_file(<u32>slot, ops, file);
  vma_set_policy(<u32>slot, mpol);
  if (vma_link(mm, <u32>slot) < 0) { vma_free_new(<u32>slot); mmap_write_unlock(mm); stat_inc(STAT_MMAP_FAIL); return -<i64>ENOMEM; }
  vma_merge(mm, <u32>slot);
  mmap_write_unlock(mm);
  return <i64>start;
}
/**
 * mmap(): returns the address, or -errno. `prot` is PROT_* (= VM_READ/WRITE/EXEC),
 * `file` and `pgoff` (pages) for file mappings (flags without MAP_ANONYMOUS).
 */
export function sys_mmap(mm: u32, addr: u64, len: u64, prot: u32, flags: u32, file: u32, pgoff: u64): i64 {
  fn_enter(FN_SYS_MMAP);
  const t0 = now();
  const r = sys_mmap__body(mm, addr, len, prot, flags, file, pgoff);
  fn_exit();
  if (tracing()) trace_event(TE_SYSCALL, t0, now(), SYS_MMAP, r >= 0 ? <u64>r : addr);
  return r;
}

// ---- mprotect ----

/**
 * change_protection() of one PTE table range: caller holds the PTL. In an
 * MTE VMA (`vf` has VM_MTE) set_pte_at's mte_sync_tags() makes the entry of
 * a page without tag storage fault-on-access: mprotect(PROT_MTE) over
 * populated memory, the reference's use case.
 */
function change_pte_range(t: u32, a: u64, next: u64, prot: u64, vf: u32): void {
  for (let va = a; va < next; va += PAGE_SIZE) {
    const slot = ptpage_addr(t) + ((<u32>(va >> PAGE_SHIFT) & 511) << 3);
    const e = atomic.load<u64>(slot);
    if (!pte_present(e) || pte_protnone(e)) continue; // protnone (NUMA, fault on access): the fault restores with the new prot
    charge(cost(COST_PTE_OP));
    set_pte(t, slot, mte_sync_tags(pte_modify(e, prot), vf));
  }
}

/** change_protection() over [start, end); huge PMDs partly covered are zapped (refault as 4 KiB) */
function change_protection__body(mm: u32, start: u64, end: u64, prot: u64, vf: u32): void {
  let a = start;
  while (a < end) {
    const next = pmd_addr_end(a, end);
    const w = walk_lockless(mm, a);
    if (w == WALK_OK) {
      const t = <u32>walk_pte_table();
      spin_lock(ptl_of(t));
      change_pte_range(t, a, next, prot, vf);
      spin_unlock(ptl_of(t));
    } else if (w == WALK_PMD_HUGE) {
      const t = <u32>walk_pmd_table();
      spin_lock(ptl_of(t));
      const e = atomic.load<u64>(walk_pmd_slot());
      if ((a & (PMD_SIZE - 1)) == 0 && next - a == PMD_SIZE) {
        // a protnone huge PMD keeps its mark (the fault restores it with the new prot)
        if (!pte_protnone(e)) set_pte(t, walk_pmd_slot(), mte_sync_tags(pte_modify(e, prot) | (e & _PAGE_PSE), vf));
      }
      else { const old = ptep_get_and_clear(t, walk_pmd_slot()); if (old != 0) zap_one(mm, old); }
      spin_unlock(ptl_of(t));
    }
    a = next;
    sync_point();
  }
}
/** change_protection() as a frame of the flame graph (obs.ts) */
@inline function change_protection(mm: u32, start: u64, end: u64, prot: u64, vf: u32): void {
  fn_enter(FN_CHANGE_PROTECTION);
  change_protection__body(mm, start, end, prot, vf);
  fn_exit();
}

/** mprotect(): set `prot` (PROT_*, with PROT_MTE) on [start, start + len); 0 or -errno */
export function sys_mprotect(mm: u32, start: u64, len: u64, prot: u32): i32 { return do_mprotect_pkey(mm, start, len, prot, -1); }

/** pkey_mprotect(): mprotect that also sets the VMAs' protection key (0..15); no pkey_alloc() bookkeeping */
export function sys_pkey_mprotect(mm: u32, start: u64, len: u64, prot: u32, pkey: i32): i32 {
  if (pkey < 0 || pkey > 15) { charge(cost(COST_SYSCALL)); stat_inc(STAT_MPROTECT); stat_inc(STAT_MMAP_FAIL); return -EINVAL; }
  return do_mprotect_pkey(mm, start, len, prot, pkey);
}

/**
 * do_mprotect_pkey(): `prot` is PROT_* (PROT_MTE included), `pkey` -1 keeps
 * each VMA's key. VM_MTE is sticky: once tagged, a VMA stays tagged (the
 * tag-storage series relies on it). vm_page_prot is computed here, once,
 * and the fault path reads it from the VMA.
 */
function do_mprotect_pkey__body(mm: u32, start: u64, len: u64, prot: u32, pkey: i32): i32 {
  charge(cost(COST_SYSCALL));
  stat_inc(STAT_MPROTECT);
  if ((start & (PAGE_SIZE - 1)) != 0 || start + len > USER_VA_END) { stat_inc(STAT_MMAP_FAIL); return -EINVAL; }
  if ((prot & PROT_MTE) != 0 && !tag_storage_enabled()) { stat_inc(STAT_MMAP_FAIL); return -EINVAL; }
  const end = (start + len + PAGE_SIZE - 1) & ~(<u64>PAGE_SIZE - 1);
  if (end == start) return 0;
  mmap_write_lock(mm);
  // the range must be fully mapped
  let a = start;
  while (a < end) {
    const v = find_vma(mm, a);
    if (v < 0 || vstart(<u32>v) > a) { mmap_write_unlock(mm); stat_inc(STAT_MMAP_FAIL); return -ENOMEM; }
    // PROT_MTE on a mapping that cannot be tagged (arch_validate_flags: VM_MTE_ALLOWED)
    if ((prot & PROT_MTE) != 0 && (word_peek_plain<u32>(vma_addr(<u32>v), VMA_WORDS, VMA_OPS) != VMOPS_NONE || (word_peek_plain<u32>(vma_addr(<u32>v), VMA_WORDS, VMA_FLAGS) & VM_SHARED) != 0)) {
      mmap_write_unlock(mm); stat_inc(STAT_MMAP_FAIL); return -EINVAL;
    }
    a = vend(<u32>v);
  }
  const n = isolate_range(mm, start, end);
  if (n < 0) { mmap_write_unlock(mm); stat_inc(STAT_MMAP_FAIL); return n; }
  for (let i: u32 = 0; i < <u32>n; i++) {
    const s = load<u32>(mut_vmas() + i * 4);
    vma_start_write(mm, s);
    vm_write_begin(s);
    let nf = (word_peek_plain<u32>(vma_addr(s), VMA_WORDS, VMA_FLAGS) & ~PROT_MASK) | (prot & PROT_MASK);
    if (prot & PROT_MTE) nf |= VM_MTE;
    if (pkey >= 0) nf = (nf & ~VM_PKEY_MASK) | (<u32>pkey << VM_PKEY_SHIFT);
    const page_prot = vm_get_page_prot(nf);
    vma_set_flags(s, nf, pgprot_pack(page_prot));
    change_protection(mm, vstart(s), vend(s), page_prot, nf);
    vm_write_end(s);
  }
  lru_add_drain();
  tlb_flush_and_free(mm, start, end, false);
  for (let i: u32 = 0; i < <u32>n; i++) vma_merge(mm, load<u32>(mut_vmas() + i * 4));
  mmap_write_unlock(mm);
  return 0;
}
/** do_mprotect_pkey() as a frame of the flame graph (obs.ts) */
@inline function do_mprotect_pkey(mm: u32, start: u64, len: u64, prot: u32, pkey: i32): i32 {
  fn_enter(FN_SYS_MPROTECT);
  const t0 = now();
  const r = do_mprotect_pkey__body(mm, start, len, prot, pkey);
  fn_exit();
  if (tracing()) trace_event(TE_SYSCALL, t0, now(), SYS_MPROTECT, start);
  return r;
}

// ---- madvise(MADV_DONTNEED) ----

/** the body of sys_madvise() (the host call below: a frame of the flame graph and a span of the timeline) */
function sys_madvise__body(mm: u32, start: u64, len: u64, advice: u32): i32 {
  charge(cost(COST_SYSCALL));
  stat_inc(STAT_MADVISE_DONTNEED);
  if (advice != MADV_DONTNEED || (start & (PAGE_SIZE - 1)) != 0 || start + len > USER_VA_END) { stat_inc(STAT_MMAP_FAIL); return -EINVAL; }
  const end = (start + len + PAGE_SIZE - 1) & ~(<u64>PAGE_SIZE - 1);
  mmap_read_lock(mm);
  let a = start;
  let r: i32 = 0;
  while (a < end) {
    const v = find_vma(mm, a);
    if (v < 0 || vstart(<u32>v) >= end) break;
    if (word_peek_plain<u32>(vma_addr(<u32>v), VMA_WORDS, VMA_FLAGS) & VM_LOCKED) { r = -EINVAL; break; }
    const s = vstart(<u32>v) > a ? vstart(<u32>v) : a;
    const e = vend(<u32>v) < end ? vend(<u32>v) : end;
    zap_range(mm, s, e, false);
    a = e;
  }
  lru_add_drain();
  tlb_flush_and_free(mm, start, end, false);
  mmap_read_unlock(mm);
  if (r < 0) stat_inc(STAT_MMAP_FAIL);
  return r;
}
/** madvise(): MADV_DONTNEED only (zap the range's pages; anything else is -EINVAL); 0 or -errno */
export function sys_madvise(mm: u32, start: u64, len: u64, advice: u32): i32 {
  fn_enter(FN_SYS_MADVISE);
  const t0 = now();
  const r = sys_madvise__body(mm, start, len, advice);
  fn_exit();
  if (tracing()) trace_event(TE_SYSCALL, t0, now(), SYS_MADVISE, start);
  return r;
}

// ---- NUMA balancing ----

/**
 * task_numa_work(): mark up to SET_NUMA_PAGES present PTEs of accessible
 * VMAs protnone, from the mm's scan offset on (wrapping), under mmap_lock
 * for read and each table's PTL; the next access to each takes a NUMA
 * hinting fault (handle_pte_protnone).
 */
function task_numa_work__body(mm: u32): void {
  stat_inc(STAT_NUMA_SCAN);
  let budget = <u64>setting(SET_NUMA_PAGES);
  if (budget == 0) budget = 65536;
  const m = mm_addr(mm);
  mmap_read_lock(mm);
  let a = atomic.load<u64>(m + MM_NUMA_OFFSET);
  let v = find_vma(mm, a);
  if (v < 0) { a = 0; v = find_vma(mm, 0); }
  while (v >= 0 && budget > 0) {
    const s = <u32>v;
    const vf = word_peek_plain<u32>(vma_addr(s), VMA_WORDS, VMA_FLAGS);
    let st = vstart(s) > a ? vstart(s) : a;
    const en = vend(s);
    // every accessible VMA, THP ones included (change_prot_numa marks huge PMDs whole)
    if ((vf & PROT_MASK) != 0) {
      while (st < en && budget > 0) {
        const next = pmd_addr_end(st, en);
        const w = walk_lockless(mm, st);
        if (w == WALK_PMD_HUGE) {
          // change_huge_pmd(MM_CP_PROT_NUMA): a whole 2 MiB leaf, unless already protnone
          const t = <u32>walk_pmd_table();
          spin_lock(ptl_of(t));
          const e = atomic.load<u64>(walk_pmd_slot());
          if ((e & _PAGE_PSE) != 0 && !pte_protnone(e)) {
            charge(cost(COST_PTE_OP));
            set_pte(t, walk_pmd_slot(), pte_modify(e, PAGE_NONE) | _PAGE_PSE);
            stat_inc(STAT_NUMA_PMD_MARKED);
          }
          spin_unlock(ptl_of(t));
          budget -= <u64>512 < budget ? <u64>512 : budget;
        } else if (w == WALK_OK) {
          const t = <u32>walk_pte_table();
          spin_lock(ptl_of(t));
          for (let va = st; va < next && budget > 0; va += PAGE_SIZE, budget--) {
            const slot = ptpage_addr(t) + ((<u32>(va >> PAGE_SHIFT) & 511) << 3);
            const e = atomic.load<u64>(slot);
            if (!pte_present(e) || pte_protnone(e) || pte_special(e)) continue;
            charge(cost(COST_PTE_OP));
            set_pte(t, slot, pte_modify(e, PAGE_NONE)); // change_prot_numa
            stat_inc(STAT_NUMA_PTE_MARKED);
          }
          spin_unlock(ptl_of(t));
        } else budget -= (next - st) >> PAGE_SHIFT < budget ? (next - st) >> PAGE_SHIFT : budget;
        st = next;
      }
      flush_tlb_mm_range(mm, (vstart(s) > a ? vstart(s) : a) >> PAGE_SHIFT, st >> PAGE_SHIFT);
    }
    a = st > en ? st : en;
    v = find_vma(mm, a);
  }
  atomic.store<u64>(m + MM_NUMA_OFFSET, v < 0 ? 0 : a);
  mmap_read_unlock(mm);
}
/** task_numa_work() as a frame of the flame graph (obs.ts) */
@inline export function task_numa_work(mm: u32): void {
  fn_enter(FN_TASK_NUMA_WORK);
  task_numa_work__body(mm);
  fn_exit();
}
