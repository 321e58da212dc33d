// The invariant checker (the invariants are listed in README "Reliability"): reads a QUIESCENT machine (no
// CPU running: after Machine.run returned, or before it started) straight
// out of the shared memory with typed arrays, and reports every broken
// invariant as a Violation. It never changes the machine and makes one Wasm
// call (vma_index_check per mm); cheap enough to run after every test run.
//
// What "consistent" means here follows the core's reference rules:
//   - a data frame is free iff it is on the buddy free list or on exactly
//     one CPU's pcp list; a free frame has refcount 0, mapcount 0, flags
//     PG_FREE, and nothing maps or holds it;
//   - an allocated frame's refcount is the sum of its references: one per
//     PTE (or huge PMD) mapping it, one from the page cache if cached, one
//     per CPU LRU-add batch slot holding it (lru_cache_add) — and no other at
//     quiescence (mmu_gather batches and fault-local references are gone);
//     its mapcount is the number of PTEs mapping it;
//   - frame 0 is the zero page: mapped only as special, never free, refcount 1;
//   - RSS (mm counters + every CPU's unfolded delta) counts the mapped anon
//     and file pages (a THP counts 512); zero-page mappings count nothing.
// A CPU that finished while others still changed the page tables has left
// the mm's cpumask and may legitimately cache stale translations: runs that
// want the TLB check end with all CPUs meeting first (src/stress.ts does),
// or pass `tlb: false`.

import { percpuLayout, type Machine } from './machine.js';
import { inspectPageTables } from './pgtable.js';
import {
  _PAGE_PRESENT, _PAGE_PSE, _PAGE_RW, pte_pfn, pte_present, pte_protnone, pte_special, pte_write, pte_uffd_wp, describe_pte,
} from './pte.js';

export type ViolationKind =
  // (a) page tables vs VMAs
  | 'pte-outside-vma' | 'pte-prot' | 'pte-bad-pfn'
  // (b) frames
  | 'frame-leak' | 'frame-refcount' | 'frame-mapcount' | 'frame-double-free' | 'frame-free-state'
  | 'frame-use-after-free' | 'frame-free-list' | 'zero-page' | 'pagecache' | 'tag-storage'
  // (c) page-table pages
  | 'pt-structure' | 'pt-nr-present' | 'pt-leak' | 'pt-free-in-use' | 'pt-free-dirty'
  // (d) TLB coherence
  | 'tlb-stale' | 'tlb-write'
  // (e) VMAs and locks
  | 'vma-index' | 'vma-seq-odd' | 'vma-locked' | 'vma-slots' | 'mmap-lock' | 'ptl-held' | 'lock-held' | 'cpu-state'
  // (f) RSS
  | 'rss'
  // (g) userfaultfd and shmem
  | 'uffd' | 'shmem'
  // the run that was to be checked did not complete (stress: crash, deadlock)
  | 'run-failed';

export interface Violation {
  kind: ViolationKind;
  /** names the address, CPU and structure concerned */
  message: string;
  cpu?: number;
  /** emulated virtual address, hex */
  addr?: string;
  pfn?: number;
  /** page-table page index */
  table?: number;
  /** VMA slot */
  slot?: number;
}

export interface CheckOptions {
  /** check the TLBs (default true; see the top of the file) */
  tlb?: boolean;
  /** report at most this many violations of one kind, then a count of the rest (default 1000) */
  maxPerKind?: number;
}

const hex = (n: number | bigint) => '0x' + n.toString(16);
const PAGE = 4096;
const HUGE = 2 * 1024 * 1024;

interface LiveVma { start: number; end: number; flags: number; slot: number }

/** What every section of the check reads (the machine's memory and layout) and where violations go. */
interface Ctx {
  m: Machine; C: Machine['C']; u32: Uint32Array; u64: BigUint64Array; U: (a: number) => number; I: (a: number) => number; N: (a: number) => number;
  H: number; ncpus: number; nframes: number; nptpages: number; nvmas: number; nmm: number; opts: CheckOptions;
  report: (v: Violation) => void; percpu: (cpu: number) => number; pcm: (cpu: number) => number; mmAddr: (mm: number) => number;
  vmaAddr: (slot: number) => number; frame: (pfn: number) => number; ptmeta: (t: number) => number; ptpage: (t: number) => number;
  spinHeld: (l: number) => boolean;
}

/** Check every invariant of a quiescent machine; [] when all hold. */
export function checkInvariants(m: Machine, opts: CheckOptions = {}): Violation[] {
  const C = m.C;
  const buf = m.memory.buffer;
  const u32 = new Uint32Array(buf);
  const i32 = new Int32Array(buf);
  const u64 = new BigUint64Array(buf);
  const U = (a: number) => u32[a >>> 2];
  const I = (a: number) => i32[a >>> 2];
  /** a u64 field that fits a double exactly (addresses < 2^53) */
  const N = (a: number) => U(a) + U(a + 4) * 2 ** 32;
  const H = C.HDR_BASE;
  const ncpus = U(H + C.H_NCPUS);
  const nframes = U(H + C.H_NFRAMES);
  const nptpages = U(H + C.H_NPTPAGES);
  const nvmas = U(H + C.H_NVMAS);
  const nmm = U(H + C.H_NMM);
  const maxPerKind = opts.maxPerKind ?? 1000;

  const out: Violation[] = [];
  const perKind = new Map<ViolationKind, number>();
  const report = (v: Violation) => {
    const n = (perKind.get(v.kind) ?? 0) + 1;
    perKind.set(v.kind, n);
    if (n <= maxPerKind) out.push(v);
  };
  const percpu = (cpu: number) => U(H + C.H_PERCPU_BASE) + cpu * U(H + C.H_PERCPU_SIZE);
  const pcm = (cpu: number) => U(H + C.H_PCM_BASE) + cpu * C.PCM_SIZE;
  const mmAddr = (mm: number) => U(H + C.H_MM_BASE) + mm * C.MM_SIZE;
  const vmaAddr = (slot: number) => U(H + C.H_VMAS_BASE) + slot * C.VMA_SIZE;
  const frame = (pfn: number) => U(H + C.H_FRAMES_BASE) + pfn * C.FR_SIZE;
  const ptmeta = (t: number) => U(H + C.H_PTMETA_BASE) + t * C.PTM_SIZE;
  const ptpage = (t: number) => U(H + C.H_PTPAGES_BASE) + t * PAGE;
  const spinHeld = (l: number) => U(l + C.SL_NEXT) !== U(l + C.SL_SERVING);
  const c: Ctx = { m, C, u32, u64, U, I, N, H, ncpus, nframes, nptpages, nvmas, nmm, opts, report, percpu, pcm, mmAddr, vmaAddr, frame, ptmeta, ptpage, spinHeld };

  const { live, inIndex } = checkVmas(c);
  const pt = checkPageTables(c, live, inIndex);
  const fr = checkFrames(c, pt);
  checkTlbs(c, pt);
  checkLocksAndCpus(c);
  checkRss(c, fr);
  checkUffdShmem(c, live, fr);

  for (const [kind, n] of perKind) {
    if (n > maxPerKind) out.push({ kind, message: `... and ${n - maxPerKind} more ${kind} violation(s)` });
  }
  return out;
}

/** the leaves of the page tables (checkPageTables), for the frame and TLB checks */
interface PageTableLeaves { maps: Int32Array; hugeMaps: Uint8Array; leaf4k: Map<number, bigint>; leaf2m: Map<number, bigint> }
/** what the frame check counted, for the RSS and shmem checks */
interface FrameTotals { rssAnon: number; rssFile: number; nfiles: number; filePages: number }

/** (e) VMAs: the index of each mm, every slot's state, sequence and locks */
function checkVmas(c: Ctx) {
  const { m, C, u32, u64, U, I, N, H, ncpus, nframes, nptpages, nvmas, nmm, opts, report, percpu, pcm, mmAddr, vmaAddr, frame, ptmeta, ptpage, spinHeld } = c;
  const live: LiveVma[][] = [];
  const inIndex = new Uint8Array(nvmas);
  for (let mm = 0; mm < nmm; mm++) {
    const ma = mmAddr(mm);
    const code = m.host.core.vma_index_check(mm) as number;
    if (code !== 0) {
      const why = ['', 'count out of range', 'an entry is not a slot', 'a VMA is not LIVE or of another mm', 'empty or unaligned range',
        'unsorted or overlapping', 'checksum mismatch (torn update)', 'stale entry past the count'][code] ?? `code ${code}`;
      report({ kind: 'vma-index', message: `mm${mm}: VMA index malformed: ${why} (vma_index_check = ${code})` });
    }
    const list: LiveVma[] = [];
    const idx = U(ma + C.MM_VMA_INDEX);
    const n = Math.min(U(ma + C.MM_NVMAS), U(H + C.H_MAX_VMAS_PER_MM));
    for (let i = 0; i < n; i++) {
      const e = U(idx + 4 * i);
      if (e === 0 || e > nvmas) continue; // reported by vma_index_check
      const slot = e - 1;
      if (inIndex[slot]) report({ kind: 'vma-index', slot, message: `mm${mm}: VMA slot ${slot} is in the index twice` });
      inIndex[slot] = 1;
      const a = vmaAddr(slot);
      list.push({ start: N(a + C.VMA_START), end: N(a + C.VMA_END), flags: U(a + C.VMA_FLAGS), slot });
    }
    list.sort((x, y) => x.start - y.start);
    live.push(list);
    // mmap_lock free, mm_seq even
    const l = ma + C.MM_MMAP_LOCK;
    if (I(l + C.RW_COUNT) !== 0 || U(l + C.RW_WAITLIST) !== 0 || U(l + C.RW_WRITER) !== 0) {
      report({ kind: 'mmap-lock', message: `mm${mm}: mmap_lock not free at quiescence (count ${I(l + C.RW_COUNT)}, wait list ${U(l + C.RW_WAITLIST)}, writer cpu+1 ${U(l + C.RW_WRITER)})` });
    }
    const seq = U(ma + C.MM_SEQ + C.SQ_SEQ);
    if (seq & 1) report({ kind: 'vma-seq-odd', message: `mm${mm}: mm_seq (VMA index seqcount) is odd (${seq}): a writer never left its section` });
    if (spinHeld(ma + C.MM_PT_LOCK)) report({ kind: 'lock-held', message: `mm${mm}: page_table_lock held at quiescence` });
  }

  // every slot: FREE on the free list, LIVE in one index, DETACHED with no reference on the RCU queue
  const onVmaFree = new Uint8Array(nvmas);
  const onRcu = new Uint8Array(nvmas);
  const walkChain = (first: number, mark: Uint8Array, what: string) => {
    let cur = first;
    let steps = 0;
    while (cur !== 0) {
      const slot = cur - 1;
      if (slot >= nvmas) { report({ kind: 'vma-slots', message: `${what}: link ${cur} names no VMA slot` }); return steps; }
      if (mark[slot]) { report({ kind: 'vma-slots', slot, message: `${what}: VMA slot ${slot} appears twice (cycle or double free)` }); return steps; }
      mark[slot] = 1;
      steps++;
      cur = U(vmaAddr(slot) + C.VMA_NEXT);
    }
    return steps;
  };
  const freeWalked = walkChain(U(H + C.H_VMA_FREE + C.FL_HEAD), onVmaFree, 'VMA free list');
  if (freeWalked !== I(H + C.H_VMA_FREE + C.FL_COUNT)) {
    report({ kind: 'vma-slots', message: `VMA free list holds ${freeWalked} slots but its count says ${I(H + C.H_VMA_FREE + C.FL_COUNT)}` });
  }
  const rcuWalked = walkChain(U(H + C.H_RCU_HEAD), onRcu, 'RCU deferred queue');
  if (rcuWalked !== I(H + C.H_RCU_COUNT)) {
    report({ kind: 'vma-slots', message: `RCU deferred queue holds ${rcuWalked} slots but its count says ${I(H + C.H_RCU_COUNT)}` });
  }
  for (let slot = 0; slot < nvmas; slot++) {
    const a = vmaAddr(slot);
    const state = U(a + C.VMA_STATE);
    const seq = U(a + C.VMA_SEQ + C.SQ_SEQ);
    const ref = I(a + C.VMA_REF + C.RC_COUNT);
    const where = `VMA slot ${slot} [${hex(N(a + C.VMA_START))}, ${hex(N(a + C.VMA_END))})`;
    if (seq & 1) report({ kind: 'vma-seq-odd', slot, message: `${where}: vm_sequence is odd (${seq}): vm_write_begin without vm_write_end` });
    const lk = a + C.VMA_LOCK;
    if (I(lk + C.RW_COUNT) !== 0 || U(lk + C.RW_WAITLIST) !== 0) {
      report({ kind: 'vma-locked', slot, message: `${where}: per-VMA lock not free (count ${I(lk + C.RW_COUNT)}, wait list ${U(lk + C.RW_WAITLIST)})` });
    }
    if (state === C.VMA_STATE_LIVE) {
      const mm = U(a + C.VMA_MM);
      if (!inIndex[slot]) report({ kind: 'vma-slots', slot, message: `${where}: LIVE but in no mm's index (leaked slot)` });
      if (ref !== 1) report({ kind: 'vma-slots', slot, message: `${where}: LIVE with refcount ${ref} (the index's 1 expected: a get_vma without put_vma?)` });
      if (mm < nmm && U(a + C.VMA_LOCK_SEQ) === U(mmAddr(mm) + C.MM_LOCK_SEQ)) {
        report({ kind: 'vma-locked', slot, message: `${where}: still write-marked (vm_lock_seq == mm_lock_seq ${U(a + C.VMA_LOCK_SEQ)}): faults would be locked out` });
      }
    } else if (state === C.VMA_STATE_FREE) {
      if (!onVmaFree[slot]) report({ kind: 'vma-slots', slot, message: `${where}: FREE but not on the free list (leaked slot)` });
    } else if (state === C.VMA_STATE_DETACHED) {
      if (ref !== 0) report({ kind: 'vma-slots', slot, message: `${where}: DETACHED with refcount ${ref} at quiescence (a reference was never put)` });
      else if (!onRcu[slot]) report({ kind: 'vma-slots', slot, message: `${where}: DETACHED, unreferenced, but not queued for RCU freeing (leaked slot)` });
    } else if (state === C.VMA_STATE_NEW) {
      report({ kind: 'vma-slots', slot, message: `${where}: allocated (NEW) but never linked nor freed (leaked slot)` });
    } else report({ kind: 'vma-slots', slot, message: `${where}: unknown state ${state}` });
    if (onVmaFree[slot] && state !== C.VMA_STATE_FREE) report({ kind: 'vma-slots', slot, message: `${where}: on the free list but in state ${state}` });
    if (onRcu[slot] && state !== C.VMA_STATE_DETACHED) report({ kind: 'vma-slots', slot, message: `${where}: on the RCU queue but in state ${state}` });
  }
  return { live, inIndex };
}

/** (a) + (c): walk the page tables, collecting every leaf */
function checkPageTables(c: Ctx, live: LiveVma[][], inIndex: Uint8Array) {
  const { m, C, u32, u64, U, I, N, H, ncpus, nframes, nptpages, nvmas, nmm, opts, report, percpu, pcm, mmAddr, vmaAddr, frame, ptmeta, ptpage, spinHeld } = c;
  const maps = new Int32Array(nframes); // PTEs / huge PMDs mapping each frame
  const hugeMaps = new Uint8Array(nframes);
  const leaf4k = new Map<number, bigint>(); // vpn -> PTE (mm 0: the TLBs are untagged)
  const leaf2m = new Map<number, bigint>(); // vpn >> 9 -> huge PMD
  const vmaOf = (mm: number, va: number): LiveVma | undefined => {
    const list = live[mm];
    let lo = 0;
    let hi = list.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (list[mid].end > va) hi = mid; else lo = mid + 1; }
    const v = list[lo];
    return v && v.start <= va ? v : undefined;
  };
  const pt = inspectPageTables(m, (mm, va, e, level, table, index) => {
    const size = level === 2 ? HUGE : PAGE;
    const where = `${level === 2 ? 'huge PMD' : 'PTE'} at ${hex(va)} (mm${mm}, table ${table} entry ${index}: ${describe_pte(e)})`;
    const v = vmaOf(mm, va);
    if (!v || v.end < va + size) {
      report({ kind: 'pte-outside-vma', addr: hex(va), table, message: `${where} lies outside every live VMA` });
    }
    if (mm === 0) { if (level === 2) leaf2m.set(va / HUGE, e); else leaf4k.set(va / PAGE, e); }
    if (!pte_present(e)) return; // a swap entry maps no frame
    // a uffd-wp entry is write-protected (pte_mkuffd_wp): writable, a write would skip the handler
    if (pte_write(e) && pte_uffd_wp(e)) {
      report({ kind: 'pte-prot', addr: hex(va), slot: v?.slot, message: `${where} is both writable and uffd-wp: a write would not reach the userfaultfd handler` });
    }
    if (v && !pte_protnone(e)) {
      if (pte_write(e) && (v.flags & C.VM_WRITE) === 0) {
        report({ kind: 'pte-prot', addr: hex(va), slot: v.slot, message: `${where} is writable in VMA slot ${v.slot} without VM_WRITE (flags ${hex(v.flags)})` });
      }
      if ((v.flags & (C.VM_READ | C.VM_WRITE | C.VM_EXEC)) === 0) {
        report({ kind: 'pte-prot', addr: hex(va), slot: v.slot, message: `${where} is accessible in PROT_NONE VMA slot ${v.slot}` });
      }
    }
    const pfn = pte_pfn(e);
    if (pfn === 0) {
      if (!pte_special(e) || pte_write(e)) report({ kind: 'zero-page', addr: hex(va), pfn, message: `${where} maps the zero page ${pte_special(e) ? 'writable' : 'without the special bit'}` });
      return;
    }
    if (pfn >= nframes) { report({ kind: 'pte-bad-pfn', addr: hex(va), pfn, message: `${where} maps pfn ${pfn}, not a data frame (there are ${nframes})` }); return; }
    // MTE (assembly/mte.ts): an accessible entry of a tagged VMA maps a frame with tag storage
    if (v && (v.flags & C.VM_MTE) !== 0 && (e & _PAGE_PRESENT) !== 0n && (U(frame(pfn) + C.FR_FLAGS) & C.PG_TAG_RESERVED) === 0) {
      report({ kind: 'tag-storage', addr: hex(va), pfn, message: `${where} is accessible in MTE VMA slot ${v.slot} but frame ${pfn} has no tag storage (mte_sync_tags should have made it fault-on-access)` });
    }
    if (pte_special(e)) { report({ kind: 'pte-bad-pfn', addr: hex(va), pfn, message: `${where} is special but maps data frame ${pfn}` }); return; }
    maps[pfn]++;
    if (level === 2) hugeMaps[pfn] = 1;
  });
  for (const err of pt.errors) {
    const kind: ViolationKind = /nr_present/.test(err) ? 'pt-nr-present' : /on the free list/.test(err) ? 'pt-free-in-use'
      : /free \+ .* reachable/.test(err) ? 'pt-leak' : 'pt-structure';
    report({ kind, message: `page tables: ${err}` });
  }
  // the free list of page-table pages: each free page once, flagged, unreachable, empty
  const ptFree = new Uint8Array(nptpages);
  {
    let cur = U(H + C.H_PTPAGE_FREE + C.FL_HEAD);
    let steps = 0;
    while (cur !== 0) {
      const t = cur - 1;
      if (t >= nptpages) { report({ kind: 'pt-structure', message: `page-table free list: link ${cur} names no page-table page` }); break; }
      if (ptFree[t]) { report({ kind: 'pt-structure', table: t, message: `page-table free list: table ${t} appears twice (double free or cycle)` }); break; }
      ptFree[t] = 1;
      steps++;
      cur = U(ptmeta(t) + C.PTM_NEXT);
    }
    // the pages from FL_UNTOUCHED up were never handed out (assembly/pgtable.ts ptpages_init): free, all zero
    const first = U(H + C.H_PTPAGE_FREE + C.FL_UNTOUCHED);
    for (let t = first; t < nptpages; t++) {
      if (ptFree[t]) { report({ kind: 'pt-structure', table: t, message: `page-table page ${t} is on the free list and also untouched (never handed out)` }); continue; }
      ptFree[t] = 2;
    }
    const untouched = Math.max(0, nptpages - first);
    if (steps + untouched !== I(H + C.H_PTPAGE_FREE + C.FL_COUNT)) {
      report({ kind: 'pt-structure', message: `page-table free list holds ${steps} pages and ${untouched} untouched but its count says ${I(H + C.H_PTPAGE_FREE + C.FL_COUNT)}` });
    }
  }
  for (let t = 0; t < nptpages; t++) {
    const meta = ptmeta(t);
    const reachable = pt.tables.has(t);
    const flagged = (U(meta + C.PTM_FLAGS) & C.PTP_FREE) !== 0;
    if (spinHeld(meta + C.PTM_PTL)) report({ kind: 'ptl-held', table: t, message: `PTL of page-table page ${t} is held at quiescence (holder cpu+1 ${U(meta + C.PTM_PTL + C.SL_HOLDER)})` });
    if (ptFree[t]) {
      if (reachable) report({ kind: 'pt-free-in-use', table: t, message: `page-table page ${t} is on the free list but reachable from the PGD` });
      if (ptFree[t] === 2 ? U(meta + C.PTM_FLAGS) !== 0 : !flagged) report({ kind: 'pt-structure', table: t, message: ptFree[t] === 2 ? `page-table page ${t} was never handed out but has flags ${U(meta + C.PTM_FLAGS)}` : `page-table page ${t} is on the free list without PTP_FREE` });
      let used = 0;
      const w = ptpage(t) >>> 2;
      for (let k = 0; k < 1024; k++) if (u32[w + k] !== 0) used++;
      if (used || I(meta + C.PTM_NR_PRESENT) !== 0) {
        report({ kind: 'pt-free-dirty', table: t, message: `free page-table page ${t} has nr_present ${I(meta + C.PTM_NR_PRESENT)} and ${used} non-zero words: written after it was freed` });
      }
    } else if (!reachable) {
      report({ kind: 'pt-leak', table: t, message: `page-table page ${t} (level ${U(meta + C.PTM_LEVEL)}, nr_present ${I(meta + C.PTM_NR_PRESENT)}) is neither reachable nor free (leaked, or detached and never freed)` });
    } else if (flagged) {
      report({ kind: 'pt-free-in-use', table: t, message: `reachable page-table page ${t} is flagged PTP_FREE` });
    }
  }
  return { maps, hugeMaps, leaf4k, leaf2m };
}

/** (b) frames */
function checkFrames(c: Ctx, { maps, hugeMaps }: PageTableLeaves) {
  const { m, C, u32, u64, U, I, N, H, ncpus, nframes, nptpages, nvmas, nmm, opts, report, percpu, pcm, mmAddr, vmaAddr, frame, ptmeta, ptpage, spinHeld } = c;
  const freeCnt = new Uint8Array(nframes);
  const lruRefs = new Int32Array(nframes);
  const cacheRefs = new Uint8Array(nframes);
  const untouched = new Uint8Array(nframes);
  for (const { list: fl, which, first, end } of m.untouchedFrames()) {
    let cur = U(H + fl + C.FL_HEAD);
    let steps = 0;
    while (cur !== 0) {
      const pfn = cur - 1;
      if (pfn >= nframes) { report({ kind: 'frame-free-list', message: `${which}: link ${cur} names no frame` }); break; }
      if (freeCnt[pfn]) { report({ kind: 'frame-double-free', pfn, message: `frame ${pfn} is on the buddy free lists twice (double free: a list has a cycle)` }); break; }
      freeCnt[pfn] = 1;
      steps++;
      cur = U(frame(pfn) + C.FR_NEXT);
    }
    // the frames from FL_UNTOUCHED up to the node's end are free and were never handed out (assembly/frames.ts)
    for (let pfn = first; pfn < end; pfn++) {
      if (freeCnt[pfn]) { report({ kind: 'frame-double-free', pfn, message: `frame ${pfn} is on ${which} and also untouched (never handed out)` }); continue; }
      freeCnt[pfn] = 1;
      untouched[pfn] = 1;
    }
    if (steps + end - first !== I(H + fl + C.FL_COUNT)) {
      report({ kind: 'frame-free-list', message: `${which} holds ${steps} frames and ${end - first} untouched but its count says ${I(H + fl + C.FL_COUNT)}` });
    }
  }
  const pcpOwner = new Int16Array(nframes).fill(-1);
  for (let cpu = 0; cpu < ncpus; cpu++) {
    const p = pcm(cpu);
    const n = U(p + C.PCM_PCP_COUNT);
    if (n > C.PCP_MAX) { report({ kind: 'frame-free-list', cpu, message: `CPU ${cpu}: pcp count ${n} exceeds PCP_MAX ${C.PCP_MAX}` }); continue; }
    for (let i = 0; i < n; i++) {
      const pfn = U(p + C.PCM_PCP_LIST + 4 * i);
      if (pfn >= nframes) { report({ kind: 'frame-free-list', cpu, message: `CPU ${cpu}: pcp list entry ${i} is pfn ${pfn}, not a frame` }); continue; }
      if (freeCnt[pfn]) {
        const first = pcpOwner[pfn] >= 0 ? `CPU ${pcpOwner[pfn]}'s pcp list` : 'the buddy free list';
        report({ kind: 'frame-double-free', pfn, cpu, message: `frame ${pfn} is free twice: on CPU ${cpu}'s pcp list and on ${first}` });
      }
      freeCnt[pfn] = Math.min(255, freeCnt[pfn] + 1);
      pcpOwner[pfn] = cpu;
    }
    const nl = U(p + C.PCM_LRU_COUNT);
    if (nl > C.LRU_MAX) { report({ kind: 'frame-free-list', cpu, message: `CPU ${cpu}: LRU batch count ${nl} exceeds LRU_MAX ${C.LRU_MAX}` }); continue; }
    for (let i = 0; i < nl; i++) {
      const pfn = U(p + C.PCM_LRU_LIST + 4 * i);
      if (pfn >= nframes) report({ kind: 'frame-refcount', cpu, message: `CPU ${cpu}: LRU batch entry ${i} is pfn ${pfn}, not a frame` });
      else lruRefs[pfn]++;
    }
  }
  const nfiles = U(H + C.H_NFILES);
  const filePages = U(H + C.H_FILE_PAGES);
  for (let f = 0; f < nfiles; f++) {
    const fa = U(H + C.H_FILES_BASE) + f * C.FILE_SIZE;
    if (spinHeld(fa + C.FILE_LOCK)) report({ kind: 'lock-held', message: `file ${f}: i_pages lock held at quiescence` });
    let cached = 0;
    const base = U(H + C.H_FILE_INDEX_BASE) + f * filePages * 4;
    for (let i = 0; i < filePages; i++) {
      const e = U(base + 4 * i);
      if (e === 0) continue;
      cached++;
      const pfn = e - 1;
      if (pfn >= nframes) { report({ kind: 'pagecache', message: `file ${f} page ${i}: cache entry names pfn ${pfn}, not a frame` }); continue; }
      if (cacheRefs[pfn]) report({ kind: 'pagecache', pfn, message: `frame ${pfn} is cached twice (file ${f} page ${i} and another)` });
      cacheRefs[pfn] = 1;
      if ((U(frame(pfn) + C.FR_FLAGS) & C.PG_PAGECACHE) === 0) report({ kind: 'pagecache', pfn, message: `file ${f} page ${i}: cached frame ${pfn} lacks PG_PAGECACHE` });
    }
    if (cached !== U(fa + C.FILE_CACHED)) report({ kind: 'pagecache', message: `file ${f}: ${cached} pages in its index but FILE_CACHED says ${U(fa + C.FILE_CACHED)}` });
  }
  // the zero page
  {
    const f0 = frame(0);
    if (freeCnt[0]) report({ kind: 'zero-page', pfn: 0, message: 'the zero page (frame 0) is on a free list' });
    if ((U(f0 + C.FR_FLAGS) & C.PG_ZERO) === 0 || I(f0 + C.FR_REFCOUNT) !== 1) {
      report({ kind: 'zero-page', pfn: 0, message: `the zero page has flags ${hex(U(f0 + C.FR_FLAGS))} refcount ${I(f0 + C.FR_REFCOUNT)} (PG_ZERO, 1 expected)` });
    }
    if (lruRefs[0] || cacheRefs[0]) report({ kind: 'zero-page', pfn: 0, message: 'the zero page is held by an LRU batch or the page cache' });
  }
  // MTE tag storage: the pool's free units plus every live frame's reserved units make the total
  let tagUsed = 0;
  for (let pfn = 1; pfn < nframes; pfn++) {
    const fl = U(frame(pfn) + C.FR_FLAGS);
    if ((fl & C.PG_TAG_RESERVED) !== 0) tagUsed += fl & C.PG_HUGE ? 512 : 1;
  }
  if (tagUsed + U(H + C.H_TAG_FREE) !== U(H + C.H_TAG_TOTAL)) {
    report({ kind: 'tag-storage', message: `tag storage: ${tagUsed} unit(s) reserved by frames + ${U(H + C.H_TAG_FREE)} free != ${U(H + C.H_TAG_TOTAL)} in the pool (a reservation leaked or was freed twice)` });
  }
  let rssAnon = 0;
  let rssFile = 0;
  for (let pfn = 1; pfn < nframes; pfn++) {
    const fa = frame(pfn);
    const flags = U(fa + C.FR_FLAGS);
    const ref = I(fa + C.FR_REFCOUNT);
    const mapc = I(fa + C.FR_MAPCOUNT);
    const mapped = maps[pfn];
    const held = lruRefs[pfn] + cacheRefs[pfn];
    const f = `frame ${pfn} (flags ${hex(flags)}, refcount ${ref}, mapcount ${mapc})`;
    if (freeCnt[pfn] > 1) continue; // reported as a double free
    if (freeCnt[pfn] === 1) {
      if (untouched[pfn] ? (flags | ref | mapc) !== 0 : flags !== C.PG_FREE || ref !== 0 || mapc !== 0) report({ kind: 'frame-free-state', pfn, message: untouched[pfn] ? `untouched ${f}: a frame never handed out has no flags and no counts` : `free ${f}: a free frame has flags PG_FREE and no counts` });
      if (mapped || held) {
        report({ kind: 'frame-use-after-free', pfn, message: `free ${f} is still used: ${mapped} PTE(s) map it, ${lruRefs[pfn]} LRU batch slot(s), ${cacheRefs[pfn]} page-cache entry` });
      }
      continue;
    }
    if (mapped) { if (flags & C.PG_ANON) rssAnon += mapped * (flags & C.PG_HUGE ? 512 : 1); else rssFile += mapped * (flags & C.PG_HUGE ? 512 : 1); }
    if (hugeMaps[pfn] && (flags & C.PG_HUGE) === 0) report({ kind: 'pte-bad-pfn', pfn, message: `${f} is mapped by a huge PMD but is not PG_HUGE` });
    if (flags & C.PG_FREE) report({ kind: 'frame-leak', pfn, message: `${f} is flagged PG_FREE but on no free list (lost from the allocator)` });
    if (mapc !== mapped) report({ kind: 'frame-mapcount', pfn, message: `${f}: mapcount ${mapc} but ${mapped} PTE(s) map it` });
    const expect = mapped + held;
    if (ref > expect || (ref === 0 && expect === 0)) {
      report({ kind: 'frame-leak', pfn, message: `${f} is leaked: refcount ${ref} but only ${expect} reference(s) exist (${mapped} mapping(s), ${lruRefs[pfn]} LRU batch, ${cacheRefs[pfn]} page cache)` });
    } else if (ref < expect) {
      report({ kind: 'frame-refcount', pfn, message: `${f}: refcount ${ref} below its ${expect} reference(s) (${mapped} mapping(s), ${lruRefs[pfn]} LRU batch, ${cacheRefs[pfn]} page cache): it will be freed while in use` });
    }
  }
  return { rssAnon, rssFile, nfiles, filePages };
}

/** (d) TLB coherence */
function checkTlbs(c: Ctx, { leaf4k, leaf2m }: PageTableLeaves) {
  const { m, C, u32, u64, U, I, N, H, ncpus, nframes, nptpages, nvmas, nmm, opts, report, percpu, pcm, mmAddr, vmaAddr, frame, ptmeta, ptpage, spinHeld } = c;
  if (opts.tlb !== false) {
    const sets = U(H + C.H_TLB_SETS);
    const ways = U(H + C.H_TLB_WAYS);
    const tlbOff = percpuLayout(C, ncpus, sets, ways).tlbOff;
    const n4k = sets * ways;
    const n2m = C.TLB2M_SETS * C.TLB2M_WAYS;
    for (let cpu = 0; cpu < ncpus; cpu++) {
      const tlb = percpu(cpu) + tlbOff;
      for (let i = 0; i < n4k + n2m; i++) {
        const e = tlb + i * C.TLBE_SIZE;
        if (U(e + C.TLBE_TAG) === 0 && U(e + C.TLBE_TAG + 4) === 0) continue;
        const tag = N(e + C.TLBE_TAG);
        const cached = u64[(e + C.TLBE_PTE) >>> 3];
        const huge = i >= n4k;
        const key = tag - 1;
        const va = huge ? key * HUGE : key * PAGE;
        const cur = huge ? leaf2m.get(key) : leaf4k.get(key);
        const what = `CPU ${cpu}'s ${huge ? '2 MiB' : '4 KiB'} TLB entry for ${hex(va)} (${describe_pte(cached)})`;
        if (cur === undefined || (cur & _PAGE_PRESENT) === 0n || ((cur & _PAGE_PSE) !== 0n) !== huge) {
          report({ kind: 'tlb-stale', cpu, addr: hex(va), message: `${what}: the page table has ${cur === undefined ? 'no translation' : describe_pte(cur)} (stale translation: a missed shootdown)` });
          continue;
        }
        if (pte_pfn(cur) !== pte_pfn(cached)) {
          report({ kind: 'tlb-stale', cpu, addr: hex(va), pfn: pte_pfn(cached), message: `${what}: the page table maps pfn ${pte_pfn(cur)} now (stale translation)` });
          continue;
        }
        if ((cached & _PAGE_RW) !== 0n && (cur & _PAGE_RW) === 0n) {
          report({ kind: 'tlb-write', cpu, addr: hex(va), message: `${what} grants write but the PTE is read-only (${describe_pte(cur)})` });
        }
      }
    }
  }
}

/** (e) other locks and per-CPU state */
function checkLocksAndCpus(c: Ctx) {
  const { m, C, u32, u64, U, I, N, H, ncpus, nframes, nptpages, nvmas, nmm, opts, report, percpu, pcm, mmAddr, vmaAddr, frame, ptmeta, ptpage, spinHeld } = c;
  for (const [name, off] of [['zone lock', C.H_ZONE_LOCK], ['LRU lock', C.H_LRU_LOCK], ['zone lock (node 1)', C.H_ZONE_LOCK1], ['LRU lock (node 1)', C.H_LRU_LOCK1], ['RCU queue lock', C.H_RCU_LOCK]] as [string, number][]) {
    if (spinHeld(H + off)) report({ kind: 'lock-held', message: `${name} held at quiescence (holder cpu+1 ${U(H + off + C.SL_HOLDER)})` });
  }
  for (let cpu = 0; cpu < ncpus; cpu++) {
    const pc = percpu(cpu);
    if (U(pc + C.PC_RCU_NEST) !== 0) report({ kind: 'cpu-state', cpu, message: `CPU ${cpu} is still inside an RCU read-side section (nesting ${U(pc + C.PC_RCU_NEST)})` });
    if (U(pc + C.PC_IPI_PENDING) !== 0) report({ kind: 'cpu-state', cpu, message: `CPU ${cpu} has ${U(pc + C.PC_IPI_PENDING)} IPI(s) never serviced` });
  }
}

/** (f) RSS: mm counters + every CPU's unfolded delta */
function checkRss(c: Ctx, { rssAnon, rssFile }: FrameTotals) {
  const { m, C, u32, u64, U, I, N, H, ncpus, nframes, nptpages, nvmas, nmm, opts, report, percpu, pcm, mmAddr, vmaAddr, frame, ptmeta, ptpage, spinHeld } = c;
  if (nmm === 1) {
    const ma = mmAddr(0);
    let anon = I(ma + C.MM_RSS_ANON);
    let file = I(ma + C.MM_RSS_FILE);
    for (let cpu = 0; cpu < ncpus; cpu++) { anon += I(pcm(cpu) + C.PCM_RSS_ANON); file += I(pcm(cpu) + C.PCM_RSS_FILE); }
    if (anon !== rssAnon) report({ kind: 'rss', message: `mm0: RSS anon counter ${anon} (after folding per-CPU deltas) but ${rssAnon} anon pages are mapped` });
    if (file !== rssFile) report({ kind: 'rss', message: `mm0: RSS file counter ${file} (after folding per-CPU deltas) but ${rssFile} file pages are mapped` });
  }
}

/** (g) userfaultfd contexts, waiters and registrations; shmem sizes */
function checkUffdShmem(c: Ctx, live: LiveVma[][], { nfiles, filePages }: FrameTotals) {
  const { m, C, u32, u64, U, I, N, H, ncpus, nframes, nptpages, nvmas, nmm, opts, report, percpu, pcm, mmAddr, vmaAddr, frame, ptmeta, ptpage, spinHeld } = c;
  {
    const base = U(H + C.H_UFFD_BASE);
    const nctx = Math.min(U(H + C.H_UFFD_NEXT), U(H + C.H_UFFD_MAX));
    const uwq = (c: number) => base + C.MAX_UFFD * C.UFFD_SIZE + c * C.UWQ_SIZE;
    for (let x = 0; x < nctx; x++) {
      const ca = base + x * C.UFFD_SIZE;
      if (spinHeld(ca + C.UFFD_LOCK)) report({ kind: 'lock-held', message: `userfaultfd ${x}: context lock held at quiescence` });
      let len = 0;
      for (let cur = U(ca + C.UFFD_HEAD), prev = 0; cur !== 0 && len <= ncpus; prev = cur, cur = U(uwq(cur - 1) + C.UWQ_NEXT)) {
        len++;
        if (U(uwq(cur - 1) + C.UWQ_STATE) !== C.UWQ_PENDING) report({ kind: 'uffd', cpu: cur - 1, message: `userfaultfd ${x}: cpu ${cur - 1} is on the pending list in state ${U(uwq(cur - 1) + C.UWQ_STATE)}` });
        if (U(uwq(cur - 1) + C.UWQ_PREV) !== prev) report({ kind: 'uffd', cpu: cur - 1, message: `userfaultfd ${x}: pending list back link of cpu ${cur - 1} is broken` });
      }
      if (len !== U(ca + C.UFFD_NPENDING)) report({ kind: 'uffd', message: `userfaultfd ${x}: ${len} messages on the pending list but its count says ${U(ca + C.UFFD_NPENDING)}` });
    }
    for (let c = 0; c < ncpus; c++) {
      const st = U(uwq(c) + C.UWQ_STATE);
      if (st === C.UWQ_PENDING || st === C.UWQ_READ || U(uwq(c) + C.UWQ_WAIT) !== 0) {
        report({ kind: 'uffd', cpu: c, message: `CPU ${c} is still waiting in handle_userfault() at quiescence (state ${st}, userfaultfd ${U(uwq(c) + C.UWQ_CTX) - 1})` });
      }
    }
    for (const v of live.flat()) {
      const ctx = ((v.flags & C.VM_UFFD_CTX_MASK) >>> C.VM_UFFD_CTX_SHIFT) - 1;
      const armed = (v.flags & C.VM_UFFD_ANY) !== 0;
      if (ctx >= 0 && (!armed || ctx >= nctx)) report({ kind: 'uffd', slot: v.slot, message: `VMA slot ${v.slot} names userfaultfd ${ctx} but ${armed ? 'only ' + nctx + ' contexts exist' : 'has no userfaultfd mode'}` });
      if ((v.flags & C.VM_UFFD_MINOR) !== 0 && U(vmaAddr(v.slot) + C.VMA_OPS) !== C.VMOPS_SHMEM) report({ kind: 'uffd', slot: v.slot, message: `VMA slot ${v.slot} is registered MINOR but is not shmem` });
    }
    const first = U(H + C.H_SHMEM_FIRST);
    for (let f = first; f < nfiles; f++) {
      const fa = U(H + C.H_FILES_BASE) + f * C.FILE_SIZE;
      const size = U(fa + C.FILE_NPAGES);
      const ib = U(H + C.H_FILE_INDEX_BASE) + f * filePages * 4;
      for (let i = size; i < filePages; i++) {
        if (U(ib + 4 * i) !== 0) { report({ kind: 'shmem', message: `shmem file ${f}: page ${i} is cached beyond i_size (${size} pages)` }); break; }
      }
    }
  }
}

/** One line per violation, for reports and failing tests. */
export function formatViolations(vs: Violation[]): string {
  return vs.map((v) => `[${v.kind}] ${v.message}`).join('\n');
}
