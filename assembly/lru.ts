// The LRU lists: pages mapped by faults go on the LRU. As in Linux, each CPU
// collects new pages in a small batch (the pagevec / folio_batch, holding a
// reference on each) and takes the LRU lock once per SET_LRU_BATCH pages;
// freeing pages that are on the LRU takes the lock once per release batch.
//
// Lock order: LRU lock is a leaf (taken with no other lock but maybe a PTL).

import { HDR_BASE, H_LRU_LOCK, H_LRU_LOCK1, PCM_LRU_COUNT, PCM_LRU_LIST, LRU_MAX, SET_LRU_BATCH, FR_FLAGS, FR_REFCOUNT, PG_LRU, pcm, setting } from './layout';
import { cpu_id, charge, cost, stat_inc, my_socket } from './cpu';
import { COST_LRU_ADD, STAT_LRU_FLUSH } from './generated';
import { spin_lock, spin_unlock } from './spinlock';
import { frame, get_frame } from './frames';
import { put_page } from './page_alloc';
import { FN_FOLIO_ADD_LRU, FN_LRU_ADD_DRAIN } from './generated';
import { fn_enter, fn_exit } from './obs';

/** the lruvec lock of this CPU's node (mm/swap.c: lruvec per pgdat without memcg); frees use the freeing CPU's node */
@inline function lru_lock(): u32 { return HDR_BASE + (my_socket() == 0 ? H_LRU_LOCK : H_LRU_LOCK1); }

/** lru_add_drain(): move this CPU's batch onto the LRU under the LRU lock. */
function lru_add_drain__body(): void {
  const p = pcm(cpu_id());
  const n = load<u32>(p + PCM_LRU_COUNT);
  if (n == 0) return;
  stat_inc(STAT_LRU_FLUSH);
  spin_lock(lru_lock());
  for (let i: u32 = 0; i < n; i++) {
    atomic.or<u32>(frame(load<u32>(p + PCM_LRU_LIST + i * 4)) + FR_FLAGS, PG_LRU);
    charge(cost(COST_LRU_ADD));
  }
  spin_unlock(lru_lock());
  store<u32>(p + PCM_LRU_COUNT, 0);
  // the batch's references go after the lock is dropped
  for (let i: u32 = 0; i < n; i++) put_page(load<u32>(p + PCM_LRU_LIST + i * 4));
}
/** lru_add_drain() as a frame of the flame graph (obs.ts) */
@inline export function lru_add_drain(): void {
  fn_enter(FN_LRU_ADD_DRAIN);
  lru_add_drain__body();
  fn_exit();
}

/** lru_cache_add(): queue a newly mapped page (takes a reference while queued). */
function lru_cache_add__body(pfn: u32): void {
  const p = pcm(cpu_id());
  get_frame(pfn);
  const n = load<u32>(p + PCM_LRU_COUNT);
  store<u32>(p + PCM_LRU_LIST + n * 4, pfn);
  store<u32>(p + PCM_LRU_COUNT, n + 1);
  let batch = setting(SET_LRU_BATCH);
  if (batch == 0 || batch > LRU_MAX) batch = LRU_MAX;
  if (n + 1 >= batch) lru_add_drain();
}
/** lru_cache_add() as a frame of the flame graph (obs.ts) */
@inline export function lru_cache_add(pfn: u32): void {
  fn_enter(FN_FOLIO_ADD_LRU);
  lru_cache_add__body(pfn);
  fn_exit();
}

/**
 * release_pages(): drop the mapping reference of `n` pages listed at `arr`
 * (u32 pfns), taking the LRU lock ONCE for those that are on the LRU.
 */
export function release_pages(arr: u32, n: u32): void {
  let on_lru = false;
  for (let i: u32 = 0; i < n; i++) if (atomic.load<u32>(frame(load<u32>(arr + i * 4)) + FR_FLAGS) & PG_LRU) { on_lru = true; break; }
  if (on_lru) {
    spin_lock(lru_lock());
    for (let i: u32 = 0; i < n; i++) {
      const f = frame(load<u32>(arr + i * 4));
      // only the last reference takes the page off the LRU
      if ((atomic.load<u32>(f + FR_FLAGS) & PG_LRU) && atomic.load<i32>(f + FR_REFCOUNT) == 1) {
        atomic.and<u32>(f + FR_FLAGS, ~PG_LRU);
        charge(cost(COST_LRU_ADD));
      }
    }
    spin_unlock(lru_lock());
  }
  for (let i: u32 = 0; i < n; i++) put_page(load<u32>(arr + i * 4));
}

export function lru_batch_count(cpu: u32): u32 { return load<u32>(pcm(cpu) + PCM_LRU_COUNT); }
export function lru_batch_frame(cpu: u32, i: u32): u32 { return load<u32>(pcm(cpu) + PCM_LRU_LIST + i * 4); }
