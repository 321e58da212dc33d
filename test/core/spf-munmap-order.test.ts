import { describe, it, expect } from 'vitest';
import { checkInvariants, formatViolations } from '../../src/checker.js';
import { layoutConsts } from '../../src/wasm.js';
import { runScripts, dumpLeaves, MiB, ANON, MAP_FIXED } from '../support/fault-util.js';

// A speculative fault must not install a PTE into a range munmap has already
// zapped. The SPF series relies on munmap's order (do_munmap: the VMAs leave
// the tree, detach_vmas_to_be_unmapped(), BEFORE unmap_region() zaps them):
// a fault that finds the VMA afterwards sees it detached (vma_has_changed:
// RB_EMPTY_NODE), and one that installed before the zap took the PTL has its
// PTE zapped. faultline unlinked the VMAs after the zap when munmap keeps
// mmap_lock for write (spf's default, munmap: 'write', and every MAP_FIXED
// mmap): between the end of the VMA's write section (vm_sequence even again)
// and its unlink, a speculative fault that looked it up passed both
// vma_has_changed() checks and mapped a page into the zapped range, left
// outside every VMA once the unlink came. The unlink waits for mm_rb_lock,
// so a get_vma() reader -- the racing fault itself -- held that window open:
// `faultline stress --strategy spf` (32 CPUs, 2 workers) found such PTEs at a
// checkpoint about once in 200 seeds, with or without work stealing.
//
// Planted (deterministic mode, no host timing): FLAG_VMA_UNLINK_STALL holds
// vma_unlink() up before mm_rb_lock for 100 k cycles, as such a reader would;
// CPU 1 reads a page of the range 20 k cycles after CPU 0's munmap split the
// VMA, inside that stall whatever munmap's order. Before the fix the 'write'
// case failed (a zero-page PTE at R + 1 MiB + 8 KiB outside every VMA, the
// checker's pte-outside-vma); 'downgrade' detached first already.

const R = 0x10_0000_0000;
const STALL = layoutConsts().FLAG_VMA_UNLINK_STALL;

describe('munmap detaches its VMAs before it zaps them (a speculative fault cannot map into a zapped range)', () => {
  for (const munmap of ['write', 'downgrade'] as const) {
    it(`spf, munmap under mmap_lock ${munmap === 'write' ? 'for write (the default)' : 'downgraded'}: a read fault during the unlink leaves no PTE behind`, async () => {
      const r = await runScripts({ cpus: 2, strategy: 1, settings: { munmap }, flags: STALL }, (f, C) => [
        [
          { op: 'mmap', addr: R, len: 4 * MiB, flags: ANON | MAP_FIXED },
          { op: 'access', addr: R, write: 1 }, // classic: the anon_vma and the page tables
          { op: 'access', addr: R + MiB, write: 1 }, // a page for the zap to clear
          { op: 'set', flag: f[0] },
          { op: 'munmap', addr: R + MiB, len: MiB },
          { op: 'set', flag: f[1] },
        ],
        [
          { op: 'wait', flag: f[0] },
          { op: 'awaitStat', cpu: 0, stat: C.STAT_VMA_SPLIT, value: 2, step: 10 }, // isolate_range() split both ends
          // 20 k cycles with IRQs on (a poll that times out): munmap's shootdown is answered meanwhile
          { op: 'awaitStat', cpu: 0, stat: C.STAT_VMA_SPLIT, value: 99, step: 100, cap: 20_000 },
          { op: 'access', addr: R + MiB + 8192, write: 0 },
          { op: 'wait', flag: f[1] }, // still in the mm when munmap flushes (a CPU that left it may keep stale TLB entries)
        ],
      ]);
      expect(r.error).toBeUndefined();
      expect(r.ok).toBe(true);
      expect(r.out[0][4]).toBe(0); // munmap
      expect(r.out[1][1]).toBe(1); // CPU 1 saw the split
      // the read ran while the unlink was held up: the VMA was still in the index, so it was mapped
      // speculatively (zero page) rather than refused with SIGSEGV
      expect(r.out[1][3]).toBe(0);
      expect(r.stats.spf_success).toBeGreaterThanOrEqual(1n);
      const inHole = dumpLeaves(r.m).filter((l) => l.va >= BigInt(R + MiB) && l.va < BigInt(R + 2 * MiB));
      expect(inHole.map((l) => `0x${l.va.toString(16)}: 0x${l.entry.toString(16)}`)).toEqual([]);
      expect(formatViolations(checkInvariants(r.m))).toBe('');
    }, 60_000);
  }
});
