// Host-side inspection of the machine's page tables in the shared memory: what is
// reachable from the PGD, and whether the structure is consistent (for the
// invariant checker and tests). Read-only; exact when no CPU is running.

import type { Machine } from './machine.js';
import { PTE_PFN_MASK, PTE_PFN_SHIFT, _PAGE_PSE } from './pte.js';

export interface TableInfo {
  index: number;
  /** level of the entries it holds: 4 PGD .. 1 PTE */
  level: number;
  /** non-none entries counted in the table */
  used: number;
  /** first virtual address it covers */
  base: bigint;
}

export interface PageTableReport {
  /** reachable tables (PGD included), by page-table page index */
  tables: Map<number, TableInfo>;
  /** pages on the free list */
  free: number;
  total: number;
  /** every inconsistency found; empty when the structure is sound */
  errors: string[];
}

const ENTRIES = 512;
const USER_PGD_ENTRIES = 256; // PGD entries below 2^47

/**
 * Called for every non-none leaf: a PTE (level 1) or a huge PMD (level 2, PS).
 * `va` is the first virtual address it maps (exact as a number: < 2^47),
 * `table`/`index` locate the entry.
 */
export type LeafVisitor = (mm: number, va: number, entry: bigint, level: number, table: number, index: number) => void;

/**
 * Walk every mm's tables; check nr_present, levels, free flags, sharing and the
 * allocator's count. `onLeaf` sees every leaf entry on the way (the invariant
 * checker builds its view of the mappings from it).
 */
export function inspectPageTables(m: Machine, onLeaf?: LeafVisitor): PageTableReport {
  const C = m.C;
  const mem = new BigUint64Array(m.memory.buffer);
  const nframes = BigInt(m.cfg.frames);
  const total = m.cfg.ptPages;
  const meta = (i: number) => m.regions.ptmeta + i * C.PTM_SIZE;
  const entry = (t: number, k: number) => mem[(m.regions.ptpages + t * 4096 + k * 8) / 8];
  // none entries are the common case: test them on 32-bit halves without making a bigint
  const words = new Uint32Array(m.memory.buffer);
  const isNone = (t: number, k: number) => { const w = (m.regions.ptpages + t * 4096 + k * 8) >>> 2; return words[w] === 0 && words[w + 1] === 0; };
  let curMm = 0;
  const tables = new Map<number, TableInfo>();
  const errors: string[] = [];

  const visit = (t: number, level: number, base: bigint, where: string): void => {
    if (tables.has(t)) { errors.push(`${where}: table ${t} is reachable twice`); return; }
    if (m.u32(meta(t) + C.PTM_FLAGS) & C.PTP_FREE) errors.push(`${where}: table ${t} is on the free list`);
    const lvl = m.u32(meta(t) + C.PTM_LEVEL);
    if (lvl !== level) errors.push(`${where}: table ${t} has level ${lvl}, expected ${level}`);
    let used = 0;
    const shift = BigInt(12 + 9 * (level - 1));
    for (let k = 0; k < ENTRIES; k++) {
      if (isNone(t, k)) continue;
      const e = entry(t, k);
      used++;
      if (level === 4 && k >= USER_PGD_ENTRIES) errors.push(`PGD entry ${k} (kernel half) is set`);
      if (level === 1 || (level === 2 && (e & _PAGE_PSE) !== 0n)) { // leaf
        onLeaf?.(curMm, Number(base) + k * 2 ** (12 + 9 * (level - 1)), e, level, t, k);
        continue;
      }
      const child = Number(((e & PTE_PFN_MASK) >> PTE_PFN_SHIFT) - nframes);
      const at = `${where}/${k}`;
      if (child < 0 || child >= total) { errors.push(`${at}: entry 0x${e.toString(16)} names no page-table page`); continue; }
      visit(child, level - 1, base + (BigInt(k) << shift), at);
    }
    const nr = m.i32(meta(t) + C.PTM_NR_PRESENT);
    if (nr !== used) errors.push(`${where}: table ${t} nr_present ${nr} but ${used} entries in use`);
    tables.set(t, { index: t, level, used, base });
  };

  const nmm = m.u32(C.HDR_BASE + C.H_NMM);
  for (let mm = 0; mm < nmm; mm++) { curMm = mm; visit(m.u32(m.regions.mm + mm * C.MM_SIZE + C.MM_PGD), 4, 0n, `mm${mm}`); }
  const free = m.i32(C.HDR_BASE + C.H_PTPAGE_FREE + C.FL_COUNT);
  if (free + tables.size !== total) {
    errors.push(`page-table pages: ${free} free + ${tables.size} reachable != ${total} (leak or double use)`);
  }
  return { tables, free, total, errors };
}
