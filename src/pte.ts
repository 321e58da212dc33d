// Host-side mirror of the page-table entry codec (assembly/pte.ts): the same
// bit layout and the same kernel-named helpers on bigint values, for
// checkers and reports that read page tables out of the shared memory.
// test/core/pte.test.ts checks that both implementations agree on random values
// and that the constants match the ones the core exports.

import type { Pfn } from './types.js';

const bit = (n: number): bigint => 1n << BigInt(n);
const U64 = (1n << 64n) - 1n;

export const _PAGE_PRESENT = bit(0);
export const _PAGE_RW = bit(1);
export const _PAGE_USER = bit(2);
export const _PAGE_PWT = bit(3);
export const _PAGE_PCD = bit(4);
export const _PAGE_ACCESSED = bit(5);
export const _PAGE_DIRTY = bit(6);
export const _PAGE_PSE = bit(7);
export const _PAGE_GLOBAL = bit(8);
export const _PAGE_SPECIAL = bit(9);
export const _PAGE_UFFD_WP = bit(10);
export const _PAGE_SOFT_DIRTY = bit(11);
export const _PAGE_FAULT_ON_ACCESS = bit(57);
export const _PAGE_DEVMAP = bit(58);
export const _PAGE_NX = bit(63);
export const _PAGE_PROTNONE = _PAGE_GLOBAL;

export const PTE_PFN_SHIFT = 12n;
export const PTE_PFN_MASK = (bit(52) - 1n) & ~0xfffn;
export const PTE_FLAGS_MASK = U64 & ~PTE_PFN_MASK;
export const PFN_MAX = bit(40) - 1n;

export const _PAGE_TABLE = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY;
export const PAGE_NONE = _PAGE_PROTNONE | _PAGE_ACCESSED;
export const PAGE_READONLY = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_NX;
export const PAGE_READONLY_EXEC = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED;
export const PAGE_SHARED = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_NX;
export const PAGE_SHARED_EXEC = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED;
export const PAGE_FAULT_ON_ACCESS = PAGE_NONE | _PAGE_FAULT_ON_ACCESS;
export const _PAGE_CHG_MASK = PTE_PFN_MASK | _PAGE_PCD | _PAGE_PWT | _PAGE_SPECIAL | _PAGE_ACCESSED |
  _PAGE_DIRTY | _PAGE_SOFT_DIRTY | _PAGE_DEVMAP | _PAGE_UFFD_WP;

export const SWP_TYPE_SHIFT = 59n;
export const SWP_TYPE_BITS = 5n;
/** type 0 with the all-ones offset would encode as none: the last offset is not usable */
export const SWP_OFFSET_MAX = PFN_MAX - 1n;

// vm_flags bits mk_pte_prot reads (assembly/layout.ts VM_*; the test compares)
export const VM_READ = 0x1;
export const VM_WRITE = 0x2;
export const VM_EXEC = 0x4;
export const VM_SHARED = 0x8;

// ---- frame number ----
export const pfn_pte = (pfn: Pfn | bigint, prot: bigint): bigint =>
  ((BigInt(pfn) << PTE_PFN_SHIFT) & PTE_PFN_MASK) | (prot & PTE_FLAGS_MASK);
export const pte_pfn = (pte: bigint): Pfn => Number((pte & PTE_PFN_MASK) >> PTE_PFN_SHIFT) as Pfn;
export const pte_flags = (pte: bigint): bigint => pte & PTE_FLAGS_MASK;

// ---- kind ----
export const pte_none = (pte: bigint): boolean => pte === 0n;
export const pte_present = (pte: bigint): boolean => (pte & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0n;
export const pte_protnone = (pte: bigint): boolean => (pte & (_PAGE_PRESENT | _PAGE_PROTNONE)) === _PAGE_PROTNONE;
export const pte_is_fault_on_access = (pte: bigint): boolean =>
  (pte & (_PAGE_PRESENT | _PAGE_PROTNONE | _PAGE_FAULT_ON_ACCESS)) === (_PAGE_PROTNONE | _PAGE_FAULT_ON_ACCESS);
export const is_swap_pte = (pte: bigint): boolean => pte !== 0n && !pte_present(pte);

// ---- flags ----
export const pte_write = (pte: bigint): boolean => (pte & _PAGE_RW) !== 0n;
export const pte_young = (pte: bigint): boolean => (pte & _PAGE_ACCESSED) !== 0n;
export const pte_dirty = (pte: bigint): boolean => (pte & _PAGE_DIRTY) !== 0n;
export const pte_user = (pte: bigint): boolean => (pte & _PAGE_USER) !== 0n;
export const pte_special = (pte: bigint): boolean => (pte & _PAGE_SPECIAL) !== 0n;
export const pte_uffd_wp = (pte: bigint): boolean => (pte & _PAGE_UFFD_WP) !== 0n;
export const pte_soft_dirty = (pte: bigint): boolean => (pte & _PAGE_SOFT_DIRTY) !== 0n;
export const pte_exec = (pte: bigint): boolean => (pte & _PAGE_NX) === 0n;

export const pte_mkwrite = (pte: bigint): bigint => pte | _PAGE_RW;
export const pte_wrprotect = (pte: bigint): bigint => pte & ~_PAGE_RW;
export const pte_mkyoung = (pte: bigint): bigint => pte | _PAGE_ACCESSED;
export const pte_mkold = (pte: bigint): bigint => pte & ~_PAGE_ACCESSED;
export const pte_mkdirty = (pte: bigint): bigint => pte | _PAGE_DIRTY | _PAGE_SOFT_DIRTY;
export const pte_mkclean = (pte: bigint): bigint => pte & ~_PAGE_DIRTY;
export const pte_mkspecial = (pte: bigint): bigint => pte | _PAGE_SPECIAL;
export const pte_mkuffd_wp = (pte: bigint): bigint => pte_wrprotect(pte) | _PAGE_UFFD_WP;
export const pte_clear_uffd_wp = (pte: bigint): bigint => pte & ~_PAGE_UFFD_WP;
export const pte_modify = (pte: bigint, prot: bigint): bigint => (pte & _PAGE_CHG_MASK) | (prot & U64 & ~_PAGE_CHG_MASK);
export const pte_mk_fault_on_access = (pte: bigint): bigint => pte_modify(pte, PAGE_FAULT_ON_ACCESS);

/** vm_get_page_prot(): see assembly/pte.ts mk_pte_prot */
export function mk_pte_prot(vmFlags: number): bigint {
  if ((vmFlags & (VM_READ | VM_WRITE | VM_EXEC)) === 0) return PAGE_NONE;
  const writable = (vmFlags & VM_WRITE) !== 0 && (vmFlags & VM_SHARED) !== 0;
  const exec = (vmFlags & VM_EXEC) !== 0;
  if (writable) return exec ? PAGE_SHARED_EXEC : PAGE_SHARED;
  return exec ? PAGE_READONLY_EXEC : PAGE_READONLY;
}

// ---- PMD / PUD ----
export const pmd_none = (pmd: bigint): boolean => pmd === 0n;
export const pmd_present = (pmd: bigint): boolean => (pmd & (_PAGE_PRESENT | _PAGE_PROTNONE | _PAGE_PSE)) !== 0n;
export const pmd_trans_huge = (pmd: bigint): boolean => (pmd & (_PAGE_PSE | _PAGE_DEVMAP)) === _PAGE_PSE;
export const pmd_devmap = (pmd: bigint): boolean => (pmd & _PAGE_DEVMAP) !== 0n;
export const is_swap_pmd = (pmd: bigint): boolean => pmd !== 0n && !pmd_present(pmd);
export const pmd_bad = (pmd: bigint): boolean =>
  (pmd & PTE_FLAGS_MASK & ~(_PAGE_USER | _PAGE_ACCESSED)) !== (_PAGE_TABLE & ~(_PAGE_USER | _PAGE_ACCESSED));
export const pud_bad = (pud: bigint): boolean =>
  (pud & PTE_FLAGS_MASK & ~_PAGE_TABLE) !== 0n || (pud & _PAGE_PRESENT) === 0n;

// ---- swap entries ----
export const swp_entry = (type: number, offset: bigint): bigint =>
  ((BigInt(type) & ((1n << SWP_TYPE_BITS) - 1n)) << SWP_TYPE_SHIFT) | ((~offset & PFN_MAX) << PTE_PFN_SHIFT);
export const swp_type = (pte: bigint): number => Number(pte >> SWP_TYPE_SHIFT);
export const swp_offset = (pte: bigint): bigint => (~pte & PTE_PFN_MASK) >> PTE_PFN_SHIFT;

const FLAG_NAMES: [bigint, string][] = [
  [_PAGE_PRESENT, 'P'], [_PAGE_RW, 'RW'], [_PAGE_USER, 'US'], [_PAGE_PWT, 'PWT'], [_PAGE_PCD, 'PCD'],
  [_PAGE_ACCESSED, 'A'], [_PAGE_DIRTY, 'D'], [_PAGE_PSE, 'PS'], [_PAGE_SPECIAL, 'SPECIAL'],
  [_PAGE_UFFD_WP, 'UFFD_WP'], [_PAGE_SOFT_DIRTY, 'SOFT_DIRTY'], [_PAGE_FAULT_ON_ACCESS, 'FOA'],
  [_PAGE_DEVMAP, 'DEVMAP'], [_PAGE_NX, 'NX'],
];

/** One-line description for reports, e.g. "pfn 0x2a P RW US A D NX", "swap type 1 offset 0x10", "none". */
export function describe_pte(pte: bigint): string {
  if (pte_none(pte)) return 'none';
  if (is_swap_pte(pte)) return `swap type ${swp_type(pte)} offset 0x${swp_offset(pte).toString(16)}`;
  const names = FLAG_NAMES.filter(([b]) => (pte & b) !== 0n).map(([, n]) => n);
  if (pte_protnone(pte)) names.unshift('PROTNONE');
  else if ((pte & _PAGE_GLOBAL) !== 0n) names.push('G');
  return `pfn 0x${pte_pfn(pte).toString(16)} ${names.join(' ')}`;
}
