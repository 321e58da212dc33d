// Page-table entries: the x86-64 bit layout and the Linux helpers on it.
//
// One u64 per entry, at every level (PGD, PUD, PMD, PTE):
//
//   63  62..59 58     57    56..52  51 ........... 12  11  10  9   8  7  6 5 4   3   2  1  0
//  +--+------+------+-----+-------+------------------+---+---+---+--+--+--+-+---+---+--+--+--+
//  |NX| pkey |DEVMAP| FOA |  ---  |       PFN        |SD |UWP|SPC|G |PS|D |A|PCD|PWT|US|RW|P |
//  +--+------+------+-----+-------+------------------+---+---+---+--+--+--+-+---+---+--+--+--+
//             SOFTW4 SOFTW5                          SW3 SW2 SW1
//
// Hardware bits: P present, RW writable, US user, PWT/PCD cache control,
// A accessed, D dirty, PS page size (a 2 MiB leaf at PMD level; bit 7 of a
// 4 KiB PTE is PAT, which faultline never sets), G global, NX no-execute.
// pkey (59..62): the protection key (x86 PKU), from the VMA's vm_page_prot;
// the MMU checks it against the thread's PKRU on every user-page data access.
// Software bits (ignored by the MMU), as Linux assigns them on x86-64:
//   SPC  _PAGE_SPECIAL     (SOFTW1, 9)   no struct page behind the mapping
//   UWP  _PAGE_UFFD_WP     (SOFTW2, 10)  userfaultfd write-protected
//   SD   _PAGE_SOFT_DIRTY  (SOFTW3, 11)  soft-dirty tracking
//   DEVMAP _PAGE_DEVMAP    (SOFTW4, 58)  ZONE_DEVICE mapping
//   FOA  _PAGE_FAULT_ON_ACCESS (SOFTW5, 57): faultline's choice for the
//        fault-on-access marker of Alexandru Elisei's "mm: Call arch code to
//        handle fault-on-access" series (arm64 MTE tag storage, linux-mm, Jan 2024).
//        It only means something together with PROTNONE: the entry is made
//        PAGE_NONE so the next access faults, and the bit tells
//        handle_pte_protnone() that the arch handler, not NUMA balancing,
//        owns the fault. (Linux >= 6.6 uses SOFTW5 for the shadow-stack
//        SAVED_DIRTY bit; faultline has no shadow stacks.)
//   _PAGE_PROTNONE = bit 8 (G): read as PROTNONE only while P is clear,
//        exactly as Linux does; user PTEs never carry G.
//
// Entry kinds, decided by P, PROTNONE and the value:
//   none     value == 0
//   present  P set, or P clear and PROTNONE set (PROT_NONE / NUMA hinting /
//            fault on access): pte_present() is true, the MMU still faults
//   swap     anything else (non-zero, P and PROTNONE clear). Encoding:
//              bits 59..63  type  (5 bits, like Linux's MAX_SWAPFILES_SHIFT)
//              bits 12..51  ~offset (40 bits, stored INVERTED as Linux does
//                           against L1TF: the PFN field of a swap entry never
//                           names a real frame, and type 0 / offset 0 is
//                           still non-zero, so never pte_none)
//              bits 0..11, 52..58  zero
//            Offsets go up to SWP_OFFSET_MAX = 2^40 - 2: type 0 with the
//            all-ones offset would encode as 0 (none), so, like Linux's
//            max_swapfile_size(), the last offset is not usable.
//
// Table entries (an upper level pointing at the next table) are
// _PAGE_TABLE | pfn of the table; pmd_bad() and friends check exactly that.

import { VM_READ, VM_WRITE, VM_EXEC, VM_SHARED, VM_PKEY_SHIFT } from './layout';

export const _PAGE_PRESENT: u64 = 1 << 0;
export const _PAGE_RW: u64 = 1 << 1;
export const _PAGE_USER: u64 = 1 << 2;
export const _PAGE_PWT: u64 = 1 << 3;
export const _PAGE_PCD: u64 = 1 << 4;
export const _PAGE_ACCESSED: u64 = 1 << 5;
export const _PAGE_DIRTY: u64 = 1 << 6;
export const _PAGE_PSE: u64 = 1 << 7;
export const _PAGE_GLOBAL: u64 = 1 << 8;
export const _PAGE_SPECIAL: u64 = 1 << 9;
export const _PAGE_UFFD_WP: u64 = 1 << 10;
export const _PAGE_SOFT_DIRTY: u64 = 1 << 11;
export const _PAGE_FAULT_ON_ACCESS: u64 = <u64>1 << 57;
export const _PAGE_DEVMAP: u64 = <u64>1 << 58;
export const _PAGE_NX: u64 = <u64>1 << 63;
/** protection key of the page (x86 bits 59..62) */
export const _PAGE_PKEY_SHIFT: u64 = 59;
export const _PAGE_PKEY_MASK: u64 = <u64>0xf << _PAGE_PKEY_SHIFT;
export const _PAGE_PROTNONE: u64 = _PAGE_GLOBAL;

export const PTE_PFN_SHIFT: u64 = 12;
export const PTE_PFN_MASK: u64 = ((<u64>1 << 52) - 1) & ~(<u64>0xfff);
export const PTE_FLAGS_MASK: u64 = ~PTE_PFN_MASK;
/** the largest PFN an entry can hold (40 bits) */
export const PFN_MAX: u64 = (<u64>1 << 40) - 1;

/** what an upper-level entry pointing at a table carries (Linux _PAGE_TABLE) */
export const _PAGE_TABLE: u64 = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY;

// protections (Linux x86 PAGE_*): A is preset, as in Linux, so a fresh entry
// needs no A update by the first hardware walk
export const PAGE_NONE: u64 = _PAGE_PROTNONE | _PAGE_ACCESSED;
export const PAGE_READONLY: u64 = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_NX;
export const PAGE_READONLY_EXEC: u64 = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED;
export const PAGE_SHARED: u64 = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_NX;
export const PAGE_SHARED_EXEC: u64 = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED;
/** PAGE_NONE marked for the arch fault-on-access handler */
export const PAGE_FAULT_ON_ACCESS: u64 = PAGE_NONE | _PAGE_FAULT_ON_ACCESS;

/**
 * Bits pte_modify() keeps (Linux _PAGE_CHG_MASK): the frame, caching, A/D and
 * the software state. FOA is not kept: it is part of a protection
 * (PAGE_FAULT_ON_ACCESS), set and cleared by changing the protection.
 */
export const _PAGE_CHG_MASK: u64 = PTE_PFN_MASK | _PAGE_PCD | _PAGE_PWT | _PAGE_SPECIAL | _PAGE_ACCESSED |
  _PAGE_DIRTY | _PAGE_SOFT_DIRTY | _PAGE_DEVMAP | _PAGE_UFFD_WP;

// swap entries
export const SWP_TYPE_SHIFT: u64 = 59;
export const SWP_TYPE_BITS: u64 = 5;
export const SWP_OFFSET_MASK: u64 = PFN_MAX;
export const SWP_OFFSET_MAX: u64 = PFN_MAX - 1;

// ---- frame number ----------------------------------------------------------

@inline export function pfn_pte(pfn: u64, prot: u64): u64 {
  return ((pfn << PTE_PFN_SHIFT) & PTE_PFN_MASK) | (prot & PTE_FLAGS_MASK);
}
@inline export function pte_pfn(pte: u64): u64 { return (pte & PTE_PFN_MASK) >> PTE_PFN_SHIFT; }
@inline export function pte_flags(pte: u64): u64 { return pte & PTE_FLAGS_MASK; }

// ---- kind ------------------------------------------------------------------

@inline export function pte_none(pte: u64): bool { return pte == 0; }
/** P or PROTNONE: a mapping exists, even if the MMU faults on it */
@inline export function pte_present(pte: u64): bool { return (pte & (_PAGE_PRESENT | _PAGE_PROTNONE)) != 0; }
@inline export function pte_protnone(pte: u64): bool {
  return (pte & (_PAGE_PRESENT | _PAGE_PROTNONE)) == _PAGE_PROTNONE;
}
/** arch_fault_on_access_pte(): a protnone entry marked for the arch handler */
@inline export function pte_is_fault_on_access(pte: u64): bool {
  return (pte & (_PAGE_PRESENT | _PAGE_PROTNONE | _PAGE_FAULT_ON_ACCESS)) == (_PAGE_PROTNONE | _PAGE_FAULT_ON_ACCESS);
}
@inline export function is_swap_pte(pte: u64): bool { return pte != 0 && !pte_present(pte); }

// ---- flags -----------------------------------------------------------------

@inline export function pte_write(pte: u64): bool { return (pte & _PAGE_RW) != 0; }
@inline export function pte_young(pte: u64): bool { return (pte & _PAGE_ACCESSED) != 0; }
@inline export function pte_dirty(pte: u64): bool { return (pte & _PAGE_DIRTY) != 0; }
@inline export function pte_user(pte: u64): bool { return (pte & _PAGE_USER) != 0; }
@inline export function pte_special(pte: u64): bool { return (pte & _PAGE_SPECIAL) != 0; }
@inline export function pte_uffd_wp(pte: u64): bool { return (pte & _PAGE_UFFD_WP) != 0; }
@inline export function pte_soft_dirty(pte: u64): bool { return (pte & _PAGE_SOFT_DIRTY) != 0; }
@inline export function pte_exec(pte: u64): bool { return (pte & _PAGE_NX) == 0; }

@inline export function pte_mkwrite(pte: u64): u64 { return pte | _PAGE_RW; }
@inline export function pte_wrprotect(pte: u64): u64 { return pte & ~_PAGE_RW; }
@inline export function pte_mkyoung(pte: u64): u64 { return pte | _PAGE_ACCESSED; }
@inline export function pte_mkold(pte: u64): u64 { return pte & ~_PAGE_ACCESSED; }
/** Linux sets soft-dirty together with dirty */
@inline export function pte_mkdirty(pte: u64): u64 { return pte | _PAGE_DIRTY | _PAGE_SOFT_DIRTY; }
@inline export function pte_mkclean(pte: u64): u64 { return pte & ~_PAGE_DIRTY; }
@inline export function pte_mkspecial(pte: u64): u64 { return pte | _PAGE_SPECIAL; }
@inline export function pte_mkuffd_wp(pte: u64): u64 { return pte_wrprotect(pte) | _PAGE_UFFD_WP; }
@inline export function pte_clear_uffd_wp(pte: u64): u64 { return pte & ~_PAGE_UFFD_WP; }

/** Change the protection of `pte` to `prot`, keeping the frame, A/D and software state. */
@inline export function pte_modify(pte: u64, prot: u64): u64 {
  return (pte & _PAGE_CHG_MASK) | (prot & ~_PAGE_CHG_MASK);
}

/** Make the entry PAGE_NONE marked for the arch fault-on-access handler (frame and soft bits kept). */
@inline export function pte_mk_fault_on_access(pte: u64): u64 { return pte_modify(pte, PAGE_FAULT_ON_ACCESS); }

/**
 * vm_get_page_prot(): PTE protection bits for a VMA's VM_READ/WRITE/EXEC/SHARED
 * flags (Linux x86 protection_map). A PRIVATE writable mapping is read-only
 * here (PAGE_COPY): the write fault makes the PTE writable (COW or
 * do_anonymous_page's maybe_mkwrite). No access at all is PAGE_NONE.
 */
export function mk_pte_prot(vm_flags: u32): u64 {
  const acc = vm_flags & (VM_READ | VM_WRITE | VM_EXEC);
  if (acc == 0) return PAGE_NONE;
  const writable = (vm_flags & VM_WRITE) != 0 && (vm_flags & VM_SHARED) != 0;
  const exec = (vm_flags & VM_EXEC) != 0;
  // arch_vm_get_page_prot() (x86): the VMA's protection key goes into every PTE
  const pkey = <u64>((vm_flags >> VM_PKEY_SHIFT) & 0xf) << _PAGE_PKEY_SHIFT;
  if (writable) return pkey | (exec ? PAGE_SHARED_EXEC : PAGE_SHARED);
  return pkey | (exec ? PAGE_READONLY_EXEC : PAGE_READONLY);
}

/** the protection key of an entry */
@inline export function pte_pkey(pte: u64): u32 { return <u32>((pte & _PAGE_PKEY_MASK) >> _PAGE_PKEY_SHIFT); }

/**
 * vm_page_prot as the VMA slot stores it (layout.ts VMA_PROT, a u32): a
 * protection has no frame number, so its bits 52..63 (NX, pkey) ride in
 * bits 20..31 of the u32 and bits 0..11 stay where they are.
 */
@inline export function pgprot_pack(prot: u64): u32 { return <u32>(prot & 0xfff) | <u32>((prot >> 52) << 20); }
@inline export function pgprot_unpack(v: u32): u64 { return <u64>(v & 0xfff) | (<u64>(v >> 20) << 52); }

// ---- PMD level ---------------------------------------------------------------

@inline export function pmd_none(pmd: u64): bool { return pmd == 0; }
/** Linux x86 pmd_present(): PSE also counts (a huge PMD being split has P clear) */
@inline export function pmd_present(pmd: u64): bool {
  return (pmd & (_PAGE_PRESENT | _PAGE_PROTNONE | _PAGE_PSE)) != 0;
}
/** a 2 MiB leaf that is not a devmap one */
@inline export function pmd_trans_huge(pmd: u64): bool { return (pmd & (_PAGE_PSE | _PAGE_DEVMAP)) == _PAGE_PSE; }
@inline export function pmd_devmap(pmd: u64): bool { return (pmd & _PAGE_DEVMAP) != 0; }
@inline export function is_swap_pmd(pmd: u64): bool { return pmd != 0 && !pmd_present(pmd); }
/** not a table entry: flags other than US/A differ from _PAGE_TABLE's (Linux pmd_bad) */
@inline export function pmd_bad(pmd: u64): bool {
  return ((pmd & PTE_FLAGS_MASK) & ~(_PAGE_USER | _PAGE_ACCESSED)) != (_PAGE_TABLE & ~(_PAGE_USER | _PAGE_ACCESSED));
}
/** Linux pud_bad / pgd_bad: any flag outside _PAGE_TABLE (PS included: no 1 GiB pages) */
@inline export function pud_bad(pud: u64): bool {
  return ((pud & PTE_FLAGS_MASK) & ~_PAGE_TABLE) != 0 || (pud & _PAGE_PRESENT) == 0;
}

// ---- swap entries --------------------------------------------------------------

/** The PTE of swap entry (type, offset) (Linux swp_entry_to_pte(swp_entry(type, offset))). Caller: offset <= SWP_OFFSET_MAX. */
@inline export function swp_entry(type: u32, offset: u64): u64 {
  return ((<u64>type & ((1 << SWP_TYPE_BITS) - 1)) << SWP_TYPE_SHIFT) |
    ((~offset & SWP_OFFSET_MASK) << PTE_PFN_SHIFT);
}
@inline export function swp_type(pte: u64): u32 { return <u32>(pte >> SWP_TYPE_SHIFT); }
@inline export function swp_offset(pte: u64): u64 { return (~pte & PTE_PFN_MASK) >> PTE_PFN_SHIFT; }
