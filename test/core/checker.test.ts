import { describe, it, expect, beforeAll, beforeEach } from 'vitest';
import { Machine } from '../../src/machine.js';
import { checkInvariants, formatViolations, type Violation } from '../../src/checker.js';
import { stressMachine } from '../../src/stress.js';
import { inspectPageTables } from '../../src/pgtable.js';
import * as P from '../../src/pte.js';

// The invariant checker: silent on clean machines (after a stress run, with
// page-cache pages, on a fresh machine), and able to fail: corruptions written
// by hand into the shared memory of a clean machine are each reported with
// the right kind.

const kinds = (vs: Violation[]) => [...new Set(vs.map((v) => v.kind))].sort();
const clean = (m: Machine) => { const vs = checkInvariants(m); expect(formatViolations(vs)).toBe(''); };

describe('clean machines pass', () => {
  it('a fresh machine', () => {
    clean(new Machine({ cpus: 4 }));
  });

  it('anonymous, zero-page, file-shared and file-COW mappings driven from the host (page-cache references, LRU batches, unfolded RSS)', () => {
    const m = new Machine({ cpus: 1, files: 1, filePages: 64 });
    const c = m.host.core;
    c.cpu_bind(0);
    c.cpu_start();
    const RW = 3;
    const anon = c.sys_mmap(0, 0n, 16n * 4096n, RW, 0x22, 0, 0n) as bigint; // MAP_PRIVATE | MAP_ANONYMOUS
    const shared = c.sys_mmap(0, 0n, 8n * 4096n, RW, 0x01, 0, 0n) as bigint; // MAP_SHARED, file 0
    const priv = c.sys_mmap(0, 0n, 8n * 4096n, RW, 0x02, 0, 8n) as bigint; // MAP_PRIVATE, file 0 from page 8
    for (const a of [anon, shared, priv]) expect(a).toBeGreaterThan(0n);
    for (let i = 0n; i < 8n; i++) {
      expect(c.access(0, anon + i * 4096n, 1)).toBe(0); // anonymous write
      expect(c.access(0, anon + (8n + i) * 4096n, 0)).toBe(0); // zero page
      expect(c.access(0, shared + i * 4096n, i & 1n ? 1 : 0)).toBe(0);
      expect(c.access(0, priv + i * 4096n, i & 1n ? 1 : 0)).toBe(0); // COW of odd pages
    }
    expect(c.access(0, anon + 8n * 4096n, 1)).toBe(0); // COW from the zero page
    expect(c.sys_madvise(0, anon, 2n * 4096n, 4)).toBe(0);
    expect(c.sys_mprotect(0, anon + 4n * 4096n, 4n * 4096n, 1)).toBe(0);
    c.sync_point();
    const s = m.stats();
    expect(s.fault_file_shared + s.fault_file_read + s.fault_file_cow + s.fault_wp_copy).toBeGreaterThan(0n);
    clean(m);
    // and after unmapping everything the page cache still holds its pages: no leak
    for (const [a, n] of [[anon, 16n], [shared, 8n], [priv, 8n]]) expect(c.sys_munmap(0, a, n * 4096n)).toBe(0);
    c.lru_add_drain();
    clean(m);
    // a cached page whose cache reference was dropped (it would be freed while cached) is caught
    const pfn = c.pagecache_peek(0, 0) - 1;
    expect(pfn).toBeGreaterThan(0);
    m.setU32(m.regions.frames + pfn * m.C.FR_SIZE + m.C.FR_REFCOUNT, 0);
    const vs = checkInvariants(m);
    expect(kinds(vs)).toEqual(['frame-refcount']);
    expect(vs[0].message).toContain('1 page cache');
  });

  it('is cheap on a full-size machine (65536 frames, 4096 page-table pages)', () => {
    const m = new Machine({ cpus: 16 });
    const t0 = performance.now();
    clean(m);
    const ms = performance.now() - t0;
    console.log(`checkInvariants on a default machine: ${ms.toFixed(1)} ms`);
    expect(ms).toBeLessThan(1000);
  });
});

describe('corruptions are reported with the right kind', () => {
  let m: Machine;
  let snap: Uint8Array;
  const BASE = 0x40000000;
  const PAGES = 64; // the region fills the start of one PTE table: the rest of that table lies outside every VMA

  beforeAll(async () => {
    const r = await stressMachine({ cpus: 4, strategy: 'spf', seed: 3, ops: 150, mode: 'deterministic', pages: PAGES });
    expect(formatViolations(r.result.violations)).toBe('');
    expect(r.result.stats.faults).toBeGreaterThan(50);
    m = r.machine;
    snap = new Uint8Array(m.memory.buffer).slice();
  });
  beforeEach(() => { new Uint8Array(m.memory.buffer).set(snap); });

  const C = () => m.C;
  const frame = (pfn: number) => m.regions.frames + pfn * C().FR_SIZE;
  const pcm = (cpu: number) => m.regions.pcm + cpu * C().PCM_SIZE;
  const tlbOff = () => m.percpuLayout.tlbOff;
  /** every leaf PTE: va -> { table, index, entry } */
  const leaves = () => {
    const out = new Map<number, { table: number; index: number; entry: bigint }>();
    inspectPageTables(m, (_mm, va, entry, _level, table, index) => { out.set(va, { table, index, entry }); });
    return out;
  };
  const pteTable = () => [...inspectPageTables(m).tables.values()].find((t) => t.level === 1 && t.base === BigInt(BASE))!.index;
  const slotAddr = (t: number, k: number) => m.regions.ptpages + t * 4096 + k * 8;
  const anonMapped = () => [...leaves().entries()].find(([, l]) => P.pte_present(l.entry) && P.pte_pfn(l.entry) !== 0)!;
  /** CPU whose pcp list is not empty */
  const pcpCpu = () => [0, 1, 2, 3].find((cpu) => m.u32(pcm(cpu) + C().PCM_PCP_COUNT) > 0)!;

  it('a leaked frame: taken off a pcp list, given a reference, referenced by nothing', () => {
    const cpu = pcpCpu();
    const n = m.u32(pcm(cpu) + C().PCM_PCP_COUNT);
    const pfn = m.u32(pcm(cpu) + C().PCM_PCP_LIST + 4 * (n - 1));
    m.setU32(pcm(cpu) + C().PCM_PCP_COUNT, n - 1);
    m.setU32(frame(pfn) + C().FR_FLAGS, C().PG_ANON);
    m.setU32(frame(pfn) + C().FR_REFCOUNT, 1);
    const vs = checkInvariants(m);
    expect(kinds(vs)).toEqual(['frame-leak']);
    expect(vs[0].pfn).toBe(pfn);
    expect(vs[0].message).toContain(`frame ${pfn}`);
  });

  it('an extra reference on a mapped page is a leak too', () => {
    const [va, l] = anonMapped();
    const pfn = P.pte_pfn(l.entry);
    m.setU32(frame(pfn) + C().FR_REFCOUNT, m.i32(frame(pfn) + C().FR_REFCOUNT) + 1);
    const vs = checkInvariants(m);
    expect(kinds(vs)).toEqual(['frame-leak']);
    expect(va).toBeGreaterThanOrEqual(BASE);
  });

  it('a double free: a frame of the buddy list also on a pcp list', () => {
    // the buddy allocator's next frame: the top of its stack, or (nothing freed back yet) its lowest untouched frame
    const top = Number(m.u64(C().HDR_BASE + C().H_FRAME_FREE + C().FL_HEAD) & 0xffffffffn) - 1;
    const head = top >= 0 ? top : m.u32(C().HDR_BASE + C().H_FRAME_FREE + C().FL_UNTOUCHED);
    expect(head).toBeGreaterThan(0);
    const n = m.u32(pcm(2) + C().PCM_PCP_COUNT);
    m.setU32(pcm(2) + C().PCM_PCP_LIST + 4 * n, head);
    m.setU32(pcm(2) + C().PCM_PCP_COUNT, n + 1);
    const vs = checkInvariants(m);
    expect(kinds(vs)).toEqual(['frame-double-free']);
    expect(vs[0].message).toMatch(new RegExp(`frame ${head} is free twice: on CPU 2's pcp list`));
  });

  it('a frame never handed out that was written (the untouched range of a node must stay all zero)', () => {
    const pfn = m.u32(C().HDR_BASE + C().H_FRAME_FREE + C().FL_UNTOUCHED);
    expect(pfn).toBeGreaterThan(0);
    m.setU32(frame(pfn) + C().FR_REFCOUNT, 1);
    const vs = checkInvariants(m);
    expect(kinds(vs)).toEqual(['frame-free-state']);
    expect(vs[0].message).toMatch(new RegExp(`untouched frame ${pfn} .*never handed out`));
  });

  it('a mapped page freed under its PTE (use after free)', () => {
    const [, l] = anonMapped();
    const pfn = P.pte_pfn(l.entry);
    const n = m.u32(pcm(1) + C().PCM_PCP_COUNT);
    m.setU32(pcm(1) + C().PCM_PCP_LIST + 4 * n, pfn);
    m.setU32(pcm(1) + C().PCM_PCP_COUNT, n + 1);
    m.setU32(frame(pfn) + C().FR_FLAGS, C().PG_FREE);
    m.setU32(frame(pfn) + C().FR_REFCOUNT, 0);
    m.setU32(frame(pfn) + C().FR_MAPCOUNT, 0);
    expect(kinds(checkInvariants(m))).toContain('frame-use-after-free');
  });

  it('a stale TLB entry: a translation for a page the page table does not map', () => {
    const vpn = BASE / 4096 + 300; // in the PTE table, outside the region
    expect(leaves().has(vpn * 4096)).toBe(false);
    const sets = m.cfg.tlbSets;
    const e = m.percpu(1) + tlbOff() + (vpn & (sets - 1)) * m.cfg.tlbWays * C().TLBE_SIZE;
    m.setU64(e + C().TLBE_TAG, BigInt(vpn + 1));
    m.setU64(e + C().TLBE_PTE, P.pfn_pte(5n, P.PAGE_SHARED | P._PAGE_DIRTY));
    const vs = checkInvariants(m);
    expect(kinds(vs)).toEqual(['tlb-stale']);
    expect(vs[0].cpu).toBe(1);
    expect(vs[0].addr).toBe('0x' + (vpn * 4096).toString(16));
  });

  it('a TLB entry that grants write where the PTE is read-only', () => {
    const ro = [...leaves().entries()].find(([, l]) => P.pte_present(l.entry) && !P.pte_write(l.entry))!;
    const vpn = ro[0] / 4096;
    const e = m.percpu(3) + tlbOff() + (vpn & (m.cfg.tlbSets - 1)) * m.cfg.tlbWays * C().TLBE_SIZE;
    m.setU64(e + C().TLBE_TAG, BigInt(vpn + 1));
    m.setU64(e + C().TLBE_PTE, P.pte_mkwrite(ro[1].entry));
    expect(kinds(checkInvariants(m))).toEqual(['tlb-write']);
  });

  it('a PTE outside any VMA', () => {
    const t = pteTable();
    const slot = slotAddr(t, 400); // BASE + 400 pages: past the 64-page region
    expect(m.u64(slot)).toBe(0n);
    m.setU64(slot, P.pte_mkspecial(P.pfn_pte(0n, P.PAGE_READONLY))); // the zero page: no frame accounting involved
    const nr = m.regions.ptmeta + t * C().PTM_SIZE + C().PTM_NR_PRESENT;
    m.setU32(nr, m.u32(nr) + 1);
    const vs = checkInvariants(m);
    expect(kinds(vs)).toEqual(['pte-outside-vma']);
    expect(vs[0].addr).toBe('0x' + (BASE + 400 * 4096).toString(16));
  });

  it('an entry the table does not count (nr_present off)', () => {
    const t = pteTable();
    const nr = m.regions.ptmeta + t * C().PTM_SIZE + C().PTM_NR_PRESENT;
    m.setU32(nr, m.u32(nr) + 1);
    expect(kinds(checkInvariants(m))).toEqual(['pt-nr-present']);
  });

  it('a page-table page never handed out that was written', () => {
    const t = m.u32(C().HDR_BASE + C().H_PTPAGE_FREE + C().FL_UNTOUCHED);
    expect(t).toBeLessThan(m.cfg.ptPages);
    m.setU32(m.regions.ptmeta + t * C().PTM_SIZE + C().PTM_LEVEL, 1);
    m.setU32(m.regions.ptmeta + t * C().PTM_SIZE + C().PTM_FLAGS, C().PTP_FREE);
    const vs = checkInvariants(m);
    expect(kinds(vs)).toEqual(['pt-structure']);
    expect(vs[0].message).toMatch(new RegExp(`page-table page ${t} was never handed out but has flags`));
    m.setU32(m.regions.ptmeta + t * C().PTM_SIZE + C().PTM_FLAGS, 0);
    m.setU32(m.regions.ptmeta + t * C().PTM_SIZE + C().PTM_LEVEL, 0);
  });

  it('a page-table page neither reachable nor free (leaked)', () => {
    const head = Number(m.u64(C().HDR_BASE + C().H_PTPAGE_FREE + C().FL_HEAD) & 0xffffffffn) - 1;
    expect(head).toBeGreaterThanOrEqual(0); // earlier cases freed tables back onto the stack
    // pop it off the free list by hand without linking it anywhere
    const next = m.u32(m.regions.ptmeta + head * C().PTM_SIZE + C().PTM_NEXT);
    const h = m.u64(C().HDR_BASE + C().H_PTPAGE_FREE + C().FL_HEAD);
    m.setU64(C().HDR_BASE + C().H_PTPAGE_FREE + C().FL_HEAD, (h & ~0xffffffffn) | BigInt(next));
    m.setU32(C().HDR_BASE + C().H_PTPAGE_FREE + C().FL_COUNT, m.u32(C().HDR_BASE + C().H_PTPAGE_FREE + C().FL_COUNT) - 1);
    m.setU32(m.regions.ptmeta + head * C().PTM_SIZE + C().PTM_FLAGS, 0);
    expect(kinds(checkInvariants(m))).toEqual(['pt-leak']);
  });

  it('an odd vm_sequence: a VMA writer that never finished', () => {
    const slot = m.u32(m.u32(m.regions.mm + C().MM_VMA_INDEX)) - 1; // first VMA of the index
    const seq = m.regions.vmas + slot * C().VMA_SIZE + C().VMA_SEQ + C().SQ_SEQ;
    m.setU32(seq, m.u32(seq) + 1);
    const vs = checkInvariants(m);
    expect(kinds(vs)).toEqual(['vma-seq-odd']);
    expect(vs[0].slot).toBe(slot);
  });

  it('held locks: mmap_lock, a PTL, a per-VMA write mark', () => {
    m.setU32(m.regions.mm + C().MM_MMAP_LOCK + C().RW_COUNT, 1);
    const ptl = m.regions.ptmeta + pteTable() * C().PTM_SIZE + C().PTM_PTL;
    m.setU32(ptl + C().SL_NEXT, m.u32(ptl + C().SL_NEXT) + 1);
    const slot = m.u32(m.u32(m.regions.mm + C().MM_VMA_INDEX)) - 1;
    m.setU32(m.regions.vmas + slot * C().VMA_SIZE + C().VMA_LOCK_SEQ, m.u32(m.regions.mm + C().MM_LOCK_SEQ));
    expect(kinds(checkInvariants(m))).toEqual(['mmap-lock', 'ptl-held', 'vma-locked']);
  });

  it('an RSS counter off by one, and a mapcount that disagrees with the PTEs', () => {
    const rss = m.regions.mm + C().MM_RSS_ANON;
    m.setU32(rss, m.i32(rss) + 1);
    expect(kinds(checkInvariants(m))).toEqual(['rss']);
    new Uint8Array(m.memory.buffer).set(snap);
    const pfn = P.pte_pfn(anonMapped()[1].entry);
    m.setU32(frame(pfn) + C().FR_MAPCOUNT, 2);
    expect(kinds(checkInvariants(m))).toEqual(['frame-mapcount']);
  });

  it('a malformed VMA index (overlapping VMAs)', () => {
    const idx = m.u32(m.regions.mm + C().MM_VMA_INDEX);
    expect(m.u32(m.regions.mm + C().MM_NVMAS)).toBeGreaterThan(1);
    const [a, b] = [m.u32(idx) - 1, m.u32(idx + 4) - 1];
    // stretch the first VMA over the second (seqcount-less, checksum now stale too)
    m.setU64(m.regions.vmas + a * C().VMA_SIZE + C().VMA_END, m.u64(m.regions.vmas + b * C().VMA_SIZE + C().VMA_END));
    expect(kinds(checkInvariants(m))).toContain('vma-index');
  });
});
