// Reference counts (layout.ts RC_*), e.g. the VMA refcount taken by a
// speculative fault (get_vma/put_vma). Every get/put is an atomic RMW on the
// count's line: the "one extra atomic per VMA" the SPF reviewers weighed.

import { RC_COUNT, RC_LINE } from './layout';
import { line_rmw } from './cacheline';

export function refcount_set(r: u32, v: i32): void { atomic.store<i32>(r + RC_COUNT, v); }
@inline export function refcount_read(r: u32): i32 { return atomic.load<i32>(r + RC_COUNT); }

/** returns the new count */
export function refcount_inc(r: u32): i32 { line_rmw(r + RC_LINE); return atomic.add<i32>(r + RC_COUNT, 1) + 1; }
/** returns the new count */
export function refcount_dec(r: u32): i32 { line_rmw(r + RC_LINE); return atomic.sub<i32>(r + RC_COUNT, 1) - 1; }

/** increment unless zero (object being freed): false if it was zero */
export function refcount_inc_not_zero(r: u32): bool {
  line_rmw(r + RC_LINE);
  // retry: the count moved between our load and CAS
  while (true) {
    const c = atomic.load<i32>(r + RC_COUNT);
    if (c <= 0) return false;
    if (atomic.cmpxchg<i32>(r + RC_COUNT, c, c + 1) == c) return true;
  }
  return false;
}
