// Reference counts (layout.ts RC_*), e.g. the VMA refcount taken by a
// speculative fault (get_vma/put_vma). Every get/put is an atomic RMW on the
// count's line: the "one extra atomic per VMA" the SPF reviewers weighed.

import { RC_COUNT, RC_WORDS } from './layout';
import { shared_rmw, word_load, word_add, word_sub, word_cas, word_peek, word_poke } from './shared';

/** the count of an object no other CPU holds a reference to yet (a slot being linked or freed): uncharged */
export function refcount_set(r: u32, v: i32): void { word_poke<i32>(r, RC_WORDS, RC_COUNT, v); }
/** inspection (uncharged) */
@inline export function refcount_read(r: u32): i32 { return word_peek<i32>(r, RC_WORDS, RC_COUNT); }

/** returns the new count */
export function refcount_inc(r: u32): i32 { shared_rmw(r, RC_WORDS); return word_add<i32>(r, RC_WORDS, RC_COUNT, 1) + 1; }
/** returns the new count */
export function refcount_dec(r: u32): i32 { shared_rmw(r, RC_WORDS); return word_sub<i32>(r, RC_WORDS, RC_COUNT, 1) - 1; }

/** increment unless zero (object being freed): false if it was zero */
export function refcount_inc_not_zero(r: u32): bool {
  shared_rmw(r, RC_WORDS);
  // retry: the count moved between our load and CAS
  while (true) {
    const c = word_load<i32>(r, RC_WORDS, RC_COUNT);
    if (c <= 0) return false;
    if (word_cas<i32>(r, RC_WORDS, RC_COUNT, c, c + 1) == c) return true;
  }
  return false;
}
