// Data frames (struct page): the frame table and its allocator.
//
// Frame 0 is the shared zero page (PG_ZERO, never freed, not refcounted).
// Frames 1..nframes-1 start free and untouched (freelist.ts FL_UNTOUCHED): a
// lock-free free list hands out what was freed, then the lowest untouched. A frame
// off the list has refcount >= 1; free_frame() when it drops to 0 pushes it
// back. Exhaustion returns -1 and counts frame_alloc_fail (an emulated OOM),
// never corruption. The page allocator's zone lock and per-CPU lists of the
// fault-path issue sit in front of this list.
//
// NUMA: with 2+ sockets in the profile the frames are split into two nodes
// (the lower half is node 0, the upper half node 1), each with its own free
// list, as each pgdat has its own zones (mm/page_alloc.c). A frame always
// goes back to its own node's list; an allocation falls back to the other
// node when its own is empty (the zonelist fallback).

import {
  HDR_BASE, H_FRAMES_BASE, H_NFRAMES, H_FRAME_FREE, H_FRAME_FREE1, H_TOPO_SOCKETS, FR_FLAGS, FR_REFCOUNT, FR_MAPCOUNT, FR_NEXT, FR_SIZE,
  PG_FREE, PG_ZERO,
} from './layout';
import { fl_pop, fl_push, fl_init_untouched, fl_count } from './freelist';
import { stat_inc, my_socket } from './cpu';
import { STAT_FRAME_ALLOC, STAT_FRAME_ALLOC_FAIL, STAT_FRAME_FREE } from './generated';

export const ZERO_PFN: u32 = 0;

@inline export function frames_base(): u32 { return load<u32>(HDR_BASE + H_FRAMES_BASE); }
@inline export function nframes(): u32 { return load<u32>(HDR_BASE + H_NFRAMES); }
@inline export function frame(pfn: u32): u32 { return frames_base() + pfn * FR_SIZE; }

/** NUMA node of frame `pfn`: 0, or 1 for the upper half of the frames on a 2+-socket profile */
@inline export function frame_node(pfn: u32): u32 {
  return load<u32>(HDR_BASE + H_TOPO_SOCKETS) >= 2 && pfn >= (nframes() >> 1) ? 1 : 0;
}
/** this CPU's NUMA node (its socket; sockets beyond the second count as node 1) */
@inline export function my_node(): u32 { return my_socket() == 0 ? 0 : 1; }
/** the free list of node `node` */
@inline export function node_free_list(node: u32): u32 { return HDR_BASE + (node == 0 ? H_FRAME_FREE : H_FRAME_FREE1); }

/** the frames of node `node`: [node_first(node), node_end(node)) (node 0 starts at the zero page) */
@inline function node_end(node: u32): u32 {
  return node == 0 && load<u32>(HDR_BASE + H_TOPO_SOCKETS) >= 2 ? nframes() >> 1 : nframes();
}
@inline function node_first(node: u32): u32 {
  return node == 0 ? 0 : nframes() >> 1;
}

/**
 * host-side initialisation: the zero page, and every other frame free and untouched
 * (freelist.ts FL_UNTOUCHED: none is written until it is first handed out)
 */
export function frames_init(): void {
  store<u32>(frame(0) + FR_FLAGS, PG_ZERO);
  store<i32>(frame(0) + FR_REFCOUNT, 1);
  fl_init_untouched(node_free_list(0), 1, node_end(0));
  // one node: node 1's list is empty for good (buddy_pop()'s fallback finds nothing there)
  if (load<u32>(HDR_BASE + H_TOPO_SOCKETS) >= 2) fl_init_untouched(node_free_list(1), node_first(1), node_end(1));
  else fl_init_untouched(node_free_list(1), nframes(), nframes());
}

/** Allocate a frame with refcount 1 and `flags`; -1 when none is left (counted). */
export function alloc_frame(flags: u32): i32 {
  const i = buddy_pop(my_node());
  if (i < 0) { stat_inc(STAT_FRAME_ALLOC_FAIL); return -1; }
  const f = frame(<u32>i);
  atomic.store<u32>(f + FR_FLAGS, flags);
  atomic.store<i32>(f + FR_REFCOUNT, 1);
  atomic.store<i32>(f + FR_MAPCOUNT, 0);
  stat_inc(STAT_FRAME_ALLOC);
  return i;
}

/** Drop one reference; the last one frees the frame. Returns true if freed. */
export function put_frame(pfn: u32): bool {
  if (pfn == ZERO_PFN) return false;
  const f = frame(pfn);
  const r = atomic.sub<i32>(f + FR_REFCOUNT, 1) - 1;
  if (r > 0) return false;
  if (r < 0) unreachable(); // double free: a bug in the caller, never silently absorbed
  atomic.store<u32>(f + FR_FLAGS, PG_FREE);
  buddy_push(pfn);
  stat_inc(STAT_FRAME_FREE);
  return true;
}

/** one frame off node `node`'s free list only (caller holds that zone's lock), -1 if empty */
export function buddy_pop_node(node: u32): i32 {
  const i = fl_pop(node_free_list(node), frames_base(), FR_SIZE, FR_NEXT, node_end(node));
  // a frame off the untouched range was never written: give it a free frame's state
  if (i >= 0 && atomic.load<u32>(frame(<u32>i) + FR_FLAGS) == 0) atomic.store<u32>(frame(<u32>i) + FR_FLAGS, PG_FREE);
  return i;
}
/** buddy_pop(): one frame off node `node`'s free list, else the other node's (the zonelist fallback), -1 if both are empty */
export function buddy_pop(node: u32): i32 {
  const i = buddy_pop_node(node);
  return i >= 0 ? i : buddy_pop_node(node ^ 1);
}
/** buddy_push(): back onto its own node's free list (caller holds the zone lock) */
export function buddy_push(pfn: u32): void { fl_push(node_free_list(frame_node(pfn)), frames_base(), FR_SIZE, FR_NEXT, pfn); }

@inline export function get_frame(pfn: u32): void { if (pfn != ZERO_PFN) atomic.add<i32>(frame(pfn) + FR_REFCOUNT, 1); }
@inline export function frame_refcount(pfn: u32): i32 { return atomic.load<i32>(frame(pfn) + FR_REFCOUNT); }
@inline export function frame_mapcount(pfn: u32): i32 { return atomic.load<i32>(frame(pfn) + FR_MAPCOUNT); }
@inline export function frame_flags(pfn: u32): u32 { return atomic.load<u32>(frame(pfn) + FR_FLAGS); }
export function nr_free_frames(): i32 { return fl_count(HDR_BASE + H_FRAME_FREE) + fl_count(HDR_BASE + H_FRAME_FREE1); }
