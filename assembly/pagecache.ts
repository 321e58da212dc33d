// The page cache of the emulated files: one index per file (pfn + 1 per page
// offset) with its i_pages lock. Lookups are lockless (RCU xarray walk in
// Linux: a read of the tree's line plus COST_PAGECACHE_LOOKUP); adding a page
// takes the file's lock. Cached pages hold one reference owned by the cache.
//
// Lock order: PTL is NOT held here (do_fault looks the page up before pte_map_lock).

import { HDR_BASE, H_FILES_BASE, H_NFILES, H_FILE_PAGES, H_FILE_INDEX_BASE, FILE_LOCK, FILE_NPAGES, FILE_CACHED, FILE_WORDS, FILE_SIZE, PG_PAGECACHE, FR_REFCOUNT } from './layout';
import { charge, cost, stat_inc } from './cpu';
import { COST_PAGECACHE_LOOKUP, COST_ATOMIC_RMW, STAT_PAGECACHE_HIT, STAT_PAGECACHE_MISS } from './generated';
import { spin_lock, spin_unlock } from './spinlock';
import { alloc_page, put_page } from './page_alloc';
import { get_frame, frame } from './frames';
import { FN_FILEMAP_GET_FOLIO } from './generated';
import { fn_enter, fn_exit } from './obs';
import { shared_read, shared_write, word_add, word_sub, ext_load, ext_store, ext_peek } from './shared';

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
function pagecache_get__body(file: u32, index: u64): i32 {
  if (file >= nfiles() || index >= <u64>file_npages(file)) return -2;
  const f = file_addr(file);
  const s = slot(file, index);
  shared_read(f, FILE_WORDS);
  charge(cost(COST_PAGECACHE_LOOKUP));
  let e = ext_load<u32>(FILE_WORDS, s);
  // page_cache_get_speculative(): a truncate may free the page between the load and the reference
  if (e != 0 && get_page_unless_zero(e - 1)) {
    charge(cost(COST_ATOMIC_RMW));
    if (ext_load<u32>(FILE_WORDS, s) == e) { stat_inc(STAT_PAGECACHE_HIT); return <i32>(e - 1); }
    put_page(e - 1);
  }
  spin_lock(f + FILE_LOCK);
  e = ext_load<u32>(FILE_WORDS, s);
  if (e == 0) {
    const pfn = alloc_page(PG_PAGECACHE, true);
    if (pfn < 0) { spin_unlock(f + FILE_LOCK); return -1; }
    shared_write(f, FILE_WORDS);
    ext_store<u32>(FILE_WORDS, s, <u32>pfn + 1);
    word_add<u32>(f, FILE_WORDS, FILE_CACHED, 1);
    stat_inc(STAT_PAGECACHE_MISS);
    e = <u32>pfn + 1;
  } else stat_inc(STAT_PAGECACHE_HIT);
  get_frame(e - 1);
  spin_unlock(f + FILE_LOCK);
  return <i32>(e - 1);
}
/** pagecache_get() as a frame of the flame graph (obs.ts) */
@inline export function pagecache_get(file: u32, index: u64): i32 {
  fn_enter(FN_FILEMAP_GET_FOLIO);
  const r = pagecache_get__body(file, index);
  fn_exit();
  return r;
}

/** get_page_unless_zero(): a reference on `pfn` unless it is being freed */
function get_page_unless_zero(pfn: u32): bool {
  const a = frame(pfn) + FR_REFCOUNT;
  // retry: another CPU changed the count between our load and the CAS
  while (true) {
    const r = atomic.load<i32>(a);
    if (r <= 0) return false;
    if (atomic.cmpxchg<i32>(a, r, r + 1) == r) return true;
  }
  return false;
}

/** cached pfn + 1 of `file` at `index` (0 if none): inspection, no cost */
export function pagecache_peek(file: u32, index: u32): u32 { return ext_peek<u32>(FILE_WORDS, slot(file, <u64>index)); }

// ---- lookups without allocation, insertion and removal (shmem.ts, userfaultfd.ts) ----

/** find_get_page() without allocating (shmem_getpage SGP_READ): pfn with a reference, -3 a hole, -2 past i_size */
export function pagecache_lookup(file: u32, index: u64): i32 {
  if (file >= nfiles() || index >= <u64>file_npages(file)) return -2;
  shared_read(file_addr(file), FILE_WORDS);
  charge(cost(COST_PAGECACHE_LOOKUP));
  // retry: the page may be removed (truncate) between the load and our reference
  while (true) {
    const e = ext_load<u32>(FILE_WORDS, slot(file, index));
    if (e == 0) { stat_inc(STAT_PAGECACHE_MISS); return -3; }
    if (!get_page_unless_zero(e - 1)) continue;
    charge(cost(COST_ATOMIC_RMW));
    if (ext_load<u32>(FILE_WORDS, slot(file, index)) == e) { stat_inc(STAT_PAGECACHE_HIT); return <i32>(e - 1); }
    put_page(e - 1);
  }
  return -3;
}

/**
 * add_to_page_cache(): insert the caller's page `pfn` (PG_PAGECACHE, refcount
 * held by the caller) at `index`; the cache takes its own reference. 0, -17
 * (-EEXIST) when a page is there already, -2 past i_size. Takes the i_pages lock.
 */
export function pagecache_add(file: u32, index: u64, pfn: u32): i32 {
  if (file >= nfiles()) return -2;
  const f = file_addr(file);
  spin_lock(f + FILE_LOCK);
  if (index >= <u64>file_npages(file)) { spin_unlock(f + FILE_LOCK); return -2; }
  const s = slot(file, index);
  if (ext_load<u32>(FILE_WORDS, s) != 0) { spin_unlock(f + FILE_LOCK); return -17; }
  shared_write(f, FILE_WORDS);
  get_frame(pfn);
  ext_store<u32>(FILE_WORDS, s, pfn + 1);
  word_add<u32>(f, FILE_WORDS, FILE_CACHED, 1);
  spin_unlock(f + FILE_LOCK);
  return 0;
}

/**
 * delete_from_page_cache() of every page in [first, last) of `file`: the
 * cache's reference is put (a mapped page lives on until its mappings go).
 * Returns the pages removed. Takes the i_pages lock; caller holds no PTL.
 */
export function pagecache_delete_range(file: u32, first: u64, last: u64): u32 {
  if (file >= nfiles()) return 0;
  const f = file_addr(file);
  const cap = <u64>load<u32>(HDR_BASE + H_FILE_PAGES);
  if (last > cap) last = cap;
  let n: u32 = 0;
  spin_lock(f + FILE_LOCK);
  shared_write(f, FILE_WORDS);
  for (let i = first; i < last; i++) {
    const s = slot(file, i);
    const e = ext_load<u32>(FILE_WORDS, s);
    if (e == 0) continue;
    ext_store<u32>(FILE_WORDS, s, 0);
    word_sub<u32>(f, FILE_WORDS, FILE_CACHED, 1);
    put_page(e - 1);
    n++;
  }
  spin_unlock(f + FILE_LOCK);
  return n;
}
