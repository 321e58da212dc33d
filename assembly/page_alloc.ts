// The page allocator in front of the frame free list: the zone lock and the
// per-CPU page lists (pcp), as Linux's rmqueue_pcplist / free_unref_page.
//
// A CPU takes frames from its own list without any shared write; an empty list
// is refilled with SET_PCP_BATCH frames under the zone lock, and a list above
// SET_PCP_HIGH is drained by a batch under the zone lock. So the zone lock is
// taken once per batch, and its hold time grows with the batch (charged
// COST_BUDDY_ALLOC per frame). Frames on a pcp list are free: the invariant
// checker counts buddy list + every pcp list.
//
// Lock order: PTL -> zone lock (allocation may happen under a PTL in COW paths).

import { HDR_BASE, H_ZONE_LOCK, H_ZONE_LOCK1, PCM_PCP_COUNT, PCM_PCP_LIST, PCP_MAX, SET_PCP_BATCH, SET_PCP_HIGH, FR_FLAGS, FR_REFCOUNT, FR_MAPCOUNT, PG_FREE, PG_TAG_RESERVED, pcm, setting } from './layout';
import { cpu_id, charge, cost, stat_inc } from './cpu';
import { COST_BUDDY_ALLOC, COST_PAGE_ZERO, COST_HUGE_PAGE_ZERO, STAT_PCP_REFILL, STAT_PCP_DRAIN, STAT_PAGE_ZEROED, STAT_FRAME_ALLOC, STAT_FRAME_ALLOC_FAIL, STAT_FRAME_FREE } from './generated';
import { spin_lock, spin_unlock } from './spinlock';
import { buddy_pop_node, buddy_push, frame, my_node, ZERO_PFN } from './frames';
import { free_tag_storage } from './mte';
import { FN_CLEAR_PAGE, FN_ALLOC_PAGES, FN_FREE_PCPPAGES_BULK, FN_RMQUEUE_BULK } from './generated';
import { fn_enter, fn_exit } from './obs';

/**
 * The zone lock of this CPU's NUMA node (mm/page_alloc.c rmqueue_bulk /
 * free_pcppages_bulk take zone->lock of the local node's zone under the
 * default policy). One free list serves both: only the lock is per node.
 */
@inline function zone_lock_of(node: u32): u32 { return HDR_BASE + (node == 0 ? H_ZONE_LOCK : H_ZONE_LOCK1); }
@inline function zone_lock(): u32 { return zone_lock_of(my_node()); }

/**
 * Move up to `n` frames to this CPU's list (caller: list has room): from the
 * local node's zone, and only when it is empty from the other node's, under
 * that zone's lock (get_page_from_freelist walking the zonelist).
 */
function pcp_refill__body(p: u32, n: u32): u32 {
  const got = pcp_refill_node(p, n, my_node());
  return got > 0 ? got : pcp_refill_node(p, n, my_node() ^ 1);
}
/** pcp_refill() as a frame of the flame graph (obs.ts) */
@inline function pcp_refill(p: u32, n: u32): u32 {
  fn_enter(FN_RMQUEUE_BULK);
  const r = pcp_refill__body(p, n);
  fn_exit();
  return r;
}

function pcp_refill_node(p: u32, n: u32, node: u32): u32 {
  stat_inc(STAT_PCP_REFILL);
  const lock = zone_lock_of(node);
  spin_lock(lock);
  let got: u32 = 0;
  let cnt = load<u32>(p + PCM_PCP_COUNT);
  while (got < n && cnt < PCP_MAX) {
    const f = buddy_pop_node(node);
    if (f < 0) break;
    charge(cost(COST_BUDDY_ALLOC));
    store<u32>(p + PCM_PCP_LIST + cnt * 4, <u32>f);
    cnt++; got++;
  }
  store<u32>(p + PCM_PCP_COUNT, cnt);
  spin_unlock(lock);
  return got;
}

/**
 * Give `n` frames from this CPU's list back, under the local zone's lock;
 * each goes to its own node's free list (Linux keeps a pcp list per zone, so
 * a remote frame would drain under the remote lock: not modelled, the lists
 * themselves are lock-free).
 */
function pcp_drain__body(p: u32, n: u32): void {
  stat_inc(STAT_PCP_DRAIN);
  spin_lock(zone_lock());
  let cnt = load<u32>(p + PCM_PCP_COUNT);
  while (n > 0 && cnt > 0) {
    cnt--; n--;
    buddy_push(load<u32>(p + PCM_PCP_LIST + cnt * 4));
    charge(cost(COST_BUDDY_ALLOC));
  }
  store<u32>(p + PCM_PCP_COUNT, cnt);
  spin_unlock(zone_lock());
}
/** pcp_drain() as a frame of the flame graph (obs.ts) */
@inline function pcp_drain(p: u32, n: u32): void {
  fn_enter(FN_FREE_PCPPAGES_BULK);
  pcp_drain__body(p, n);
  fn_exit();
}

/**
 * alloc_page(): a frame with refcount 1 and `flags`, zeroed (charged) if
 * `zero`; -1 when memory is exhausted (counted; the caller reports OOM).
 */
function alloc_page__body(flags: u32, zero: bool): i32 {
  const p = pcm(cpu_id());
  let cnt = load<u32>(p + PCM_PCP_COUNT);
  if (cnt == 0) {
    let batch = setting(SET_PCP_BATCH);
    if (batch == 0) batch = 1;
    if (pcp_refill(p, batch) == 0) { stat_inc(STAT_FRAME_ALLOC_FAIL); return -1; }
    cnt = load<u32>(p + PCM_PCP_COUNT);
  }
  cnt--;
  const pfn = load<u32>(p + PCM_PCP_LIST + cnt * 4);
  store<u32>(p + PCM_PCP_COUNT, cnt);
  const f = frame(pfn);
  atomic.store<u32>(f + FR_FLAGS, flags);
  atomic.store<i32>(f + FR_MAPCOUNT, 0);
  atomic.store<i32>(f + FR_REFCOUNT, 1);
  stat_inc(STAT_FRAME_ALLOC);
  if (zero) { fn_enter(FN_CLEAR_PAGE); charge(cost(COST_PAGE_ZERO)); stat_inc(STAT_PAGE_ZEROED); fn_exit(); }
  return <i32>pfn;
}
/** alloc_page() as a frame of the flame graph (obs.ts) */
@inline export function alloc_page(flags: u32, zero: bool): i32 {
  fn_enter(FN_ALLOC_PAGES);
  const r = alloc_page__body(flags, zero);
  fn_exit();
  return r;
}

/** zeroing a 2 MiB THP costs its own figure */
export function charge_huge_zero(): void { charge(cost(COST_HUGE_PAGE_ZERO)); }

/** free_unref_page(): the frame's last reference is gone; onto this CPU's list. */
export function free_unref_page(pfn: u32): void {
  // arch_free_pages_prepare() (arm64 tag storage): the frame's tag storage goes back to the pool
  if (atomic.load<u32>(frame(pfn) + FR_FLAGS) & PG_TAG_RESERVED) free_tag_storage(pfn);
  atomic.store<u32>(frame(pfn) + FR_FLAGS, PG_FREE);
  stat_inc(STAT_FRAME_FREE);
  const p = pcm(cpu_id());
  let cnt = load<u32>(p + PCM_PCP_COUNT);
  let high = setting(SET_PCP_HIGH);
  if (high == 0 || high > PCP_MAX - 1) high = PCP_MAX - 1;
  if (cnt >= high) {
    let batch = setting(SET_PCP_BATCH);
    if (batch == 0) batch = 1;
    pcp_drain(p, batch);
    cnt = load<u32>(p + PCM_PCP_COUNT);
  }
  store<u32>(p + PCM_PCP_LIST + cnt * 4, pfn);
  store<u32>(p + PCM_PCP_COUNT, cnt + 1);
}

/** put_page(): drop one reference; the last one frees the frame. True if freed. */
export function put_page(pfn: u32): bool {
  if (pfn == ZERO_PFN) return false;
  const r = atomic.sub<i32>(frame(pfn) + FR_REFCOUNT, 1) - 1;
  if (r > 0) return false;
  if (r < 0) unreachable(); // double free: a bug, never absorbed silently
  free_unref_page(pfn);
  return true;
}

/** frames sitting on CPU `cpu`'s list (the invariant checker counts them as free) */
export function pcp_count(cpu: u32): u32 { return load<u32>(pcm(cpu) + PCM_PCP_COUNT); }
export function pcp_frame(cpu: u32, i: u32): u32 { return load<u32>(pcm(cpu) + PCM_PCP_LIST + i * 4); }
