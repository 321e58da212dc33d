// Lock-free free lists (Treiber stacks) for frames, page-table pages and VMA
// slots. The head word carries a 32-bit tag bumped by every push and pop, so
// a pop that read `next` from an element that was popped and pushed back in
// the meantime fails its CAS instead of corrupting the list (ABA).
// Elements are indices; element i keeps its link (i'+1, 0 = end) at
// base + i*stride + next_off. Memory is never unmapped, so reading a stale
// link is harmless: the CAS decides.

import { FL_HEAD, FL_COUNT, FL_UNTOUCHED, FL_WORDS } from './layout';
import { shared_rmw, word_load, word_add, word_sub, word_cas, word_peek, word_init, word_init_get } from './shared';

/**
 * Pop one element; its index, or -1 when the list is empty. A list whose elements from its
 * FL_UNTOUCHED word up to `end` (exclusive) are free without being on the stack (the frame and
 * page-table page lists) hands out the stack first, then the lowest untouched one: what a stack
 * holding them all (lowest on top, under everything pushed since) would give. `end` 0: a plain
 * stack (the VMA slots). One charge of the list's line either way.
 */
export function fl_pop(fl: u32, base: u32, stride: u32, next_off: u32, end: u32): i32 {
  shared_rmw(fl, FL_WORDS);
  // retry: another CPU pushed, popped or took an untouched element between our load and CAS
  while (true) {
    const h = word_load<u64>(fl, FL_WORDS, FL_HEAD);
    const top = <u32>(h & 0xffffffff);
    if (top == 0) {
      if (end == 0) return -1;
      const u = word_load<u32>(fl, FL_WORDS, FL_UNTOUCHED);
      if (u >= end) return -1;
      if (word_cas<u32>(fl, FL_WORDS, FL_UNTOUCHED, u, u + 1) == u) {
        word_sub<i32>(fl, FL_WORDS, FL_COUNT, 1);
        return <i32>u;
      }
      continue;
    }
    const next = atomic.load<u32>(base + (top - 1) * stride + next_off);
    const nh = (((h >> 32) + 1) << 32) | <u64>next;
    if (word_cas<u64>(fl, FL_WORDS, FL_HEAD, h, nh) == h) {
      word_sub<i32>(fl, FL_WORDS, FL_COUNT, 1);
      return <i32>(top - 1);
    }
  }
}

/** Push element `idx` (caller owns it exclusively). */
export function fl_push(fl: u32, base: u32, stride: u32, next_off: u32, idx: u32): void {
  shared_rmw(fl, FL_WORDS);
  // retry: the head moved between our load and CAS
  while (true) {
    const h = word_load<u64>(fl, FL_WORDS, FL_HEAD);
    atomic.store<u32>(base + idx * stride + next_off, <u32>(h & 0xffffffff));
    const nh = (((h >> 32) + 1) << 32) | (<u64>idx + 1);
    if (word_cas<u64>(fl, FL_WORDS, FL_HEAD, h, nh) == h) {
      word_add<i32>(fl, FL_WORDS, FL_COUNT, 1);
      return;
    }
  }
}

/** Push without the virtual-time charge (machine initialisation on the host). */
export function fl_push_init(fl: u32, base: u32, stride: u32, next_off: u32, idx: u32): void {
  const h = word_init_get<u64>(fl, FL_WORDS, FL_HEAD);
  store<u32>(base + idx * stride + next_off, <u32>(h & 0xffffffff));
  word_init<u64>(fl, FL_WORDS, FL_HEAD, (((h >> 32) + 1) << 32) | (<u64>idx + 1));
  word_init<i32>(fl, FL_WORDS, FL_COUNT, word_init_get<i32>(fl, FL_WORDS, FL_COUNT) + 1);
}

/** Mark elements [first, end) free and untouched (machine initialisation on the host; the list is empty). */
export function fl_init_untouched(fl: u32, first: u32, end: u32): void {
  word_init<u32>(fl, FL_WORDS, FL_UNTOUCHED, first);
  word_init<i32>(fl, FL_WORDS, FL_COUNT, <i32>(end - first));
}

/** inspection (uncharged) */
@inline export function fl_count(fl: u32): i32 { return word_peek<i32>(fl, FL_WORDS, FL_COUNT); }

/** fl_pop() without the virtual-time charge (machine initialisation on the host); -1 when empty. */
export function fl_pop_init(fl: u32, base: u32, stride: u32, next_off: u32, end: u32): i32 {
  const h = word_init_get<u64>(fl, FL_WORDS, FL_HEAD);
  const top = <u32>(h & 0xffffffff);
  if (top == 0) {
    const u = word_init_get<u32>(fl, FL_WORDS, FL_UNTOUCHED);
    if (u >= end) return -1;
    word_init<u32>(fl, FL_WORDS, FL_UNTOUCHED, u + 1);
    word_init<i32>(fl, FL_WORDS, FL_COUNT, word_init_get<i32>(fl, FL_WORDS, FL_COUNT) - 1);
    return <i32>u;
  }
  const next = load<u32>(base + (top - 1) * stride + next_off);
  word_init<u64>(fl, FL_WORDS, FL_HEAD, (((h >> 32) + 1) << 32) | <u64>next);
  word_init<i32>(fl, FL_WORDS, FL_COUNT, word_init_get<i32>(fl, FL_WORDS, FL_COUNT) - 1);
  return <i32>(top - 1);
}
