import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { coreModule, coreImports } from '../../src/wasm.js';
import * as P from '../../src/pte.js';
import { pfn, type Pfn } from '../../src/types.js';

// The PTE codec exists twice: in the core (assembly/pte.ts) and on the host
// (src/pte.ts). These tests pin the bit layout, check the kernel's laws on
// both, and check that both agree on random values.

const memory = new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: true });
const inst = new WebAssembly.Instance(coreModule(), coreImports(memory));
const ex = inst.exports as Record<string, any>;
const u64 = (x: bigint | number) => BigInt.asUintN(64, BigInt(x));
/** the core's u64 constant (i64 globals arrive signed) */
const K = (name: string) => u64((ex[name] as WebAssembly.Global).value);
/** core function returning u64 */
const W = (name: string, ...a: unknown[]) => u64(ex[name](...a));
/** core predicate */
const B = (name: string, ...a: unknown[]) => ex[name](...a) !== 0;

const anyU64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const anyPfn = fc.bigInt({ min: 0n, max: P.PFN_MAX });
// values built from the interesting bits, so kinds (present, protnone, swap, huge...) all occur
const FLAG_BITS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 57, 58, 63].map((b) => 1n << BigInt(b));
const flagMix = fc.subarray(FLAG_BITS).map((bs) => bs.reduce((a, b) => a | b, 0n));
const entry = fc.oneof(anyU64, fc.tuple(anyPfn, flagMix).map(([p, f]) => P.pfn_pte(p, f)), fc.constant(0n));
const presentPte = fc.tuple(anyPfn, flagMix).map(([p, f]) => P.pfn_pte(p, f | P._PAGE_PRESENT));

describe('PTE bit layout', () => {
  it('matches x86-64 and the Linux software bits', () => {
    expect(P._PAGE_PRESENT).toBe(1n);
    expect(P._PAGE_RW).toBe(2n);
    expect(P._PAGE_USER).toBe(4n);
    expect(P._PAGE_ACCESSED).toBe(0x20n);
    expect(P._PAGE_DIRTY).toBe(0x40n);
    expect(P._PAGE_PSE).toBe(0x80n);
    expect(P._PAGE_PROTNONE).toBe(P._PAGE_GLOBAL);
    expect(P._PAGE_SPECIAL).toBe(1n << 9n);
    expect(P._PAGE_UFFD_WP).toBe(1n << 10n);
    expect(P._PAGE_SOFT_DIRTY).toBe(1n << 11n);
    expect(P._PAGE_FAULT_ON_ACCESS).toBe(1n << 57n);
    expect(P._PAGE_DEVMAP).toBe(1n << 58n);
    expect(P._PAGE_NX).toBe(1n << 63n);
    expect(P.PTE_PFN_MASK).toBe(0x000ffffffffff000n);
  });

  it('host constants are the core\'s', () => {
    for (const k of ['_PAGE_PRESENT', '_PAGE_RW', '_PAGE_USER', '_PAGE_PWT', '_PAGE_PCD', '_PAGE_ACCESSED', '_PAGE_DIRTY',
      '_PAGE_PSE', '_PAGE_GLOBAL', '_PAGE_SPECIAL', '_PAGE_UFFD_WP', '_PAGE_SOFT_DIRTY', '_PAGE_FAULT_ON_ACCESS',
      '_PAGE_DEVMAP', '_PAGE_NX', '_PAGE_PROTNONE', '_PAGE_TABLE', '_PAGE_CHG_MASK', 'PTE_PFN_MASK', 'PAGE_NONE',
      'PAGE_READONLY', 'PAGE_READONLY_EXEC', 'PAGE_SHARED', 'PAGE_SHARED_EXEC', 'PAGE_FAULT_ON_ACCESS', 'SWP_TYPE_SHIFT',
      'SWP_OFFSET_MAX'] as const) {
      expect(K(k), k).toBe((P as Record<string, unknown>)[k]);
    }
    for (const k of ['VM_READ', 'VM_WRITE', 'VM_EXEC', 'VM_SHARED'] as const) expect((ex[k] as WebAssembly.Global).value, k).toBe(P[k]);
  });
});

describe('pfn <-> pte', () => {
  it('round-trips pfn and flags (host and core)', () => {
    fc.assert(fc.property(anyPfn, anyU64, (f, flags) => {
      const p = P.pfn_pte(f, flags);
      expect(BigInt(P.pte_pfn(p))).toBe(f);
      expect(P.pte_flags(p)).toBe(flags & P.PTE_FLAGS_MASK);
      const w = W('pfn_pte', f, flags);
      expect(w).toBe(p);
      expect(W('pte_pfn', w)).toBe(f);
    }), { numRuns: 500 });
  });

  it('pte_pfn returns the branded Pfn of the frame', () => {
    const p: Pfn = P.pte_pfn(P.pfn_pte(pfn(42), P.PAGE_SHARED));
    expect(p).toBe(42);
  });
});

describe('host and core agree', () => {
  const unaryBool = ['pte_none', 'pte_present', 'pte_protnone', 'pte_is_fault_on_access', 'is_swap_pte', 'pte_write',
    'pte_young', 'pte_dirty', 'pte_user', 'pte_special', 'pte_uffd_wp', 'pte_soft_dirty', 'pte_exec',
    'pmd_none', 'pmd_present', 'pmd_trans_huge', 'pmd_devmap', 'is_swap_pmd', 'pmd_bad', 'pud_bad'] as const;
  const unaryPte = ['pte_mkwrite', 'pte_wrprotect', 'pte_mkyoung', 'pte_mkold', 'pte_mkdirty', 'pte_mkclean',
    'pte_mkspecial', 'pte_mkuffd_wp', 'pte_clear_uffd_wp', 'pte_mk_fault_on_access'] as const;

  it('on every predicate and modifier', () => {
    fc.assert(fc.property(entry, (x) => {
      for (const f of unaryBool) expect(B(f, x), `${f}(0x${x.toString(16)})`).toBe((P[f] as (v: bigint) => boolean)(x));
      for (const f of unaryPte) expect(W(f, x), `${f}(0x${x.toString(16)})`).toBe((P[f] as (v: bigint) => bigint)(x));
      expect(W('swp_offset', x)).toBe(P.swp_offset(x));
      expect(ex.swp_type(x) >>> 0).toBe(P.swp_type(x));
    }), { numRuns: 1000 });
  });

  it('on pte_modify, mk_pte_prot and swp_entry', () => {
    fc.assert(fc.property(entry, entry, fc.nat({ max: 0xffff }), fc.nat({ max: 63 }), anyU64,
      (x, prot, vmFlags, type, off) => {
        expect(W('pte_modify', x, prot)).toBe(P.pte_modify(x, prot));
        expect(W('mk_pte_prot', vmFlags)).toBe(P.mk_pte_prot(vmFlags));
        expect(W('swp_entry', type, off)).toBe(P.swp_entry(type, off));
      }), { numRuns: 500 });
  });
});

describe('laws', () => {
  it('modifiers change only their bit and never the frame', () => {
    fc.assert(fc.property(entry, (p) => {
      expect(P.pte_young(P.pte_mkold(P.pte_mkyoung(p)))).toBe(false);
      expect(P.pte_young(P.pte_mkyoung(P.pte_mkold(p)))).toBe(true);
      expect(P.pte_write(P.pte_wrprotect(P.pte_mkwrite(p)))).toBe(false);
      expect(P.pte_write(P.pte_mkwrite(p))).toBe(true);
      const d = P.pte_mkdirty(p);
      expect(P.pte_dirty(d) && P.pte_soft_dirty(d)).toBe(true);
      expect(P.pte_dirty(P.pte_mkclean(d))).toBe(false);
      expect(P.pte_soft_dirty(P.pte_mkclean(d))).toBe(true); // soft-dirty survives writeback
      expect(P.pte_special(P.pte_mkspecial(p))).toBe(true);
      const u = P.pte_mkuffd_wp(p);
      expect(P.pte_uffd_wp(u) && !P.pte_write(u)).toBe(true);
      for (const f of [P.pte_mkwrite, P.pte_wrprotect, P.pte_mkyoung, P.pte_mkold, P.pte_mkdirty, P.pte_mkclean,
        P.pte_mkspecial, P.pte_mkuffd_wp, P.pte_mk_fault_on_access]) {
        expect(P.pte_pfn(f(p))).toBe(P.pte_pfn(p));
      }
    }), { numRuns: 500 });
  });

  it('pte_modify keeps frame, A/D and software state and takes the new protection', () => {
    const keep = P._PAGE_ACCESSED | P._PAGE_DIRTY | P._PAGE_SOFT_DIRTY | P._PAGE_SPECIAL | P._PAGE_UFFD_WP | P._PAGE_DEVMAP;
    const prot = P._PAGE_PRESENT | P._PAGE_RW | P._PAGE_USER | P._PAGE_PROTNONE | P._PAGE_NX | P._PAGE_FAULT_ON_ACCESS;
    fc.assert(fc.property(entry, entry, (p, newProt) => {
      const q = P.pte_modify(p, newProt);
      expect(P.pte_pfn(q)).toBe(P.pte_pfn(p));
      expect(q & keep).toBe(p & keep);
      expect(q & prot).toBe(newProt & prot);
      expect(P.pte_modify(q, newProt)).toBe(q); // idempotent
    }), { numRuns: 500 });
  });

  it('protnone and fault-on-access: present to the kernel, not to the MMU', () => {
    fc.assert(fc.property(presentPte, (p) => {
      const n = P.pte_modify(p, P.PAGE_NONE);
      expect(P.pte_present(n) && P.pte_protnone(n) && !P.pte_is_fault_on_access(n)).toBe(true);
      expect(n & P._PAGE_PRESENT).toBe(0n);
      const f = P.pte_mk_fault_on_access(p);
      expect(P.pte_present(f) && P.pte_protnone(f) && P.pte_is_fault_on_access(f)).toBe(true);
      expect(P.is_swap_pte(f)).toBe(false);
      // the arch handler restores the protection: the marker goes with PAGE_NONE
      const back = P.pte_modify(f, P.PAGE_SHARED);
      expect(P.pte_protnone(back) || P.pte_is_fault_on_access(back)).toBe(false);
      expect((back & P._PAGE_PRESENT) !== 0n && P.pte_pfn(back) === P.pte_pfn(p)).toBe(true);
      // G on a present entry is not PROTNONE
      expect(P.pte_protnone(p | P._PAGE_GLOBAL)).toBe(false);
    }), { numRuns: 300 });
  });

  it('swap entries round-trip and are neither none nor present', () => {
    const anyOffset = fc.oneof(fc.bigInt({ min: 0n, max: P.SWP_OFFSET_MAX }), fc.constantFrom(0n, P.SWP_OFFSET_MAX));
    fc.assert(fc.property(fc.nat({ max: 31 }), anyOffset, (type, off) => {
      const e = P.swp_entry(type, off);
      expect(P.swp_type(e)).toBe(type);
      expect(P.swp_offset(e)).toBe(off);
      expect(P.is_swap_pte(e) && !P.pte_none(e) && !P.pte_present(e)).toBe(true);
      expect(P.is_swap_pmd(e)).toBe(true);
      expect(e & 0xfffn).toBe(0n);
      expect(ex.swp_type(e) >>> 0).toBe(type);
      expect(W('swp_offset', e)).toBe(off);
    }), { numRuns: 500 });
    expect(P.swp_entry(0, 0n)).not.toBe(0n); // offset stored inverted
    expect(P.swp_entry(0, P.SWP_OFFSET_MAX + 1n)).toBe(0n); // why the last offset is excluded
  });

  it('mk_pte_prot follows the x86 protection map', () => {
    const { VM_READ: R, VM_WRITE: Wr, VM_EXEC: X, VM_SHARED: S } = P;
    expect(P.mk_pte_prot(0)).toBe(P.PAGE_NONE);
    expect(P.mk_pte_prot(S)).toBe(P.PAGE_NONE);
    expect(P.mk_pte_prot(R)).toBe(P.PAGE_READONLY);
    expect(P.mk_pte_prot(R | Wr)).toBe(P.PAGE_READONLY); // private writable: COW, read-only until the write fault
    expect(P.mk_pte_prot(R | Wr | S)).toBe(P.PAGE_SHARED);
    expect(P.mk_pte_prot(Wr | S)).toBe(P.PAGE_SHARED);
    expect(P.mk_pte_prot(R | X)).toBe(P.PAGE_READONLY_EXEC);
    expect(P.mk_pte_prot(R | Wr | X | S)).toBe(P.PAGE_SHARED_EXEC);
    for (let f = 1; f < 16; f++) {
      if ((f & (R | Wr | X)) === 0) continue;
      const p = P.mk_pte_prot(f);
      expect(P.pte_user(p) && P.pte_young(p) && (p & P._PAGE_PRESENT) !== 0n).toBe(true);
      expect(P.pte_exec(p)).toBe((f & X) !== 0);
    }
  });

  it('PMD kinds', () => {
    const table = P.pfn_pte(100n, P._PAGE_TABLE);
    expect(P.pmd_bad(table) || P.pud_bad(table)).toBe(false);
    expect(P.pmd_bad(table & ~P._PAGE_ACCESSED)).toBe(false);
    expect(P.pmd_bad(table & ~P._PAGE_DIRTY)).toBe(true);
    const huge = P.pfn_pte(512n, P.PAGE_SHARED | P._PAGE_PSE);
    expect(P.pmd_trans_huge(huge) && !P.pmd_devmap(huge) && P.pmd_present(huge)).toBe(true);
    expect(P.pud_bad(huge)).toBe(true); // no 1 GiB pages
    const dev = huge | P._PAGE_DEVMAP;
    expect(P.pmd_devmap(dev) && !P.pmd_trans_huge(dev)).toBe(true);
    // a huge PMD with P cleared (being split) is still present; protnone huge too
    expect(P.pmd_present(huge & ~P._PAGE_PRESENT)).toBe(true);
    expect(P.pmd_trans_huge(P.pte_modify(huge, P.PAGE_NONE) | P._PAGE_PSE)).toBe(true);
    expect(P.is_swap_pmd(P.swp_entry(3, 9n)) && !P.is_swap_pmd(huge) && !P.is_swap_pmd(0n)).toBe(true);
  });

  it('describe_pte names the kind and the bits', () => {
    expect(P.describe_pte(0n)).toBe('none');
    expect(P.describe_pte(P.pfn_pte(0x2an, P.pte_mkdirty(P.PAGE_SHARED)))).toBe('pfn 0x2a P RW US A D SOFT_DIRTY NX');
    expect(P.describe_pte(P.swp_entry(1, 0x10n))).toBe('swap type 1 offset 0x10');
    expect(P.describe_pte(P.pfn_pte(5n, P.PAGE_FAULT_ON_ACCESS))).toBe('pfn 0x5 PROTNONE A FOA');
  });
});
