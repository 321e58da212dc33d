// The page cache of the emulated files: one index per file (pfn + 1 per page
// offset) with its i_pages lock. Lookups are lockless (RCU xarray walk in
// Linux: a read of the tree's line plus COST_PAGECACHE_LOOKUP); adding a page
// takes the file's lock. Cached pages hold one reference owned by the cache.
//
// Lock order: PTL is NOT held here (do_fault looks the page up before pte_map_lock).

import { HDR_BASE, H_FILES_BASE, H_NFILES, H_FILE_PAGES, H_FILE_INDEX_BASE, FILE_LOCK, FILE_NPAGES, FILE_CACHED, FILE_LINE, FILE_SIZE, PG_PAGECACHE } from './layout';
import { charge, cost, stat_inc } from './cpu';
import { COST_PAGECACHE_LOOKUP, COST_ATOMIC_RMW, STAT_PAGECACHE_HIT, STAT_PAGECACHE_MISS } from './generated';
import { line_read, line_write } from './cacheline';
import { spin_lock, spin_unlock } from './spinlock';
import { alloc_page } from './page_alloc';
import { get_frame } from './frames';

@inline export function nfiles(): u32 { return load<u32>(HDR_BASE + H_NFILES); }
@inline export function file_addr(file: u32): u32 { return load<u32>(HDR_BASE + H_FILES_BASE) + file * FILE_SIZE; }
@inline function slot(file: u32, index: u64): u32 {
  return load<u32>(HDR_BASE + H_FILE_INDEX_BASE) + (file * load<u32>(HDR_BASE + H_FILE_PAGES) + <u32>index) * 4;
}
@inline export function file_npages(file: u32): u32 { return load<u32>(file_addr(file) + FILE_NPAGES); }

/**
 * find_get_page() / filemap_fault's page lookup: the page of `file` at
 * `index` with a reference taken for the caller, added (zero-filled: reading
 * from storage is not modeled) if missing. -1 when out of memory, -2 past EOF.
 */
export function pagecache_get(file: u32, index: u64): i32 {
  if (file >= nfiles() || index >= <u64>file_npages(file)) return -2;
  const f = file_addr(file);
  const s = slot(file, index);
  line_read(f + FILE_LINE);
  charge(cost(COST_PAGECACHE_LOOKUP));
  let e = atomic.load<u32>(s);
  if (e != 0) {
    stat_inc(STAT_PAGECACHE_HIT);
    get_frame(e - 1);
    charge(cost(COST_ATOMIC_RMW));
    return <i32>(e - 1);
  }
  spin_lock(f + FILE_LOCK);
  e = atomic.load<u32>(s);
  if (e == 0) {
    const pfn = alloc_page(PG_PAGECACHE, true);
    if (pfn < 0) { spin_unlock(f + FILE_LOCK); return -1; }
    line_write(f + FILE_LINE);
    atomic.store<u32>(s, <u32>pfn + 1);
    atomic.add<u32>(f + FILE_CACHED, 1);
    stat_inc(STAT_PAGECACHE_MISS);
    e = <u32>pfn + 1;
  } else stat_inc(STAT_PAGECACHE_HIT);
  get_frame(e - 1);
  spin_unlock(f + FILE_LOCK);
  return <i32>(e - 1);
}

/** cached pfn + 1 of `file` at `index` (0 if none): inspection, no cost */
export function pagecache_peek(file: u32, index: u32): u32 { return atomic.load<u32>(slot(file, <u64>index)); }
