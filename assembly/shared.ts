// The seam for shared words that are not page-table entries (those go through
// pgtable.ts entry_*): the lock words, the VMA's hot fields, the page cache's
// tree, the userfaultfd queue, the mm's counters. Each struct declares in
// layout.ts which of its words share its modelled line (*_WORDS); here a line
// transaction is charged (shared_read / shared_rmw / shared_write: exactly
// cacheline.ts line_read / line_rmw / line_write) and the words are accessed
// (word_*), naming the same struct and *_WORDS, so which line pays for which
// word is written at every access, not held by naming alone.
//
// Cost rule: a word access costs nothing of its own; the line transaction it
// belongs to pays (as the kernel's second store to a line it already holds).
// word_peek is a read the model does not charge (an inspection, or a read the
// kernel does that the model leaves free: each is named where it is used).
//
// The test core checks every access: a word that `W` does not list traps
// (abort with a message), so a word accessed under another line's charge
// cannot go unnoticed. In the released core the check is folded away and
// every call inlines to the plain atomic it wraps.

import { TEST_BUILD } from './build_flags';
import { LW_LO_A, LW_HI_A, LW_LO_B, LW_HI_B, LW_FIELD, LW_EXT } from './layout';
import { line_read, line_rmw, line_write } from './cacheline';

/** the metadata address of the line `W` of the struct at `obj` (for line_is_hot, line_owner, the trace) */
@inline export function shared_line(obj: u32, W: u64): u32 { return obj + (<u32>W & <u32>LW_FIELD); }

/** a read transaction on the line (a transfer unless this CPU shares it) */
@inline export function shared_read(obj: u32, W: u64): void { line_read(shared_line(obj, W)); }
/** a locked read-modify-write transaction on the line; returns the cycles waited for it */
@inline export function shared_rmw(obj: u32, W: u64): u64 { return line_rmw(shared_line(obj, W)); }
/** a store transaction on the line (exclusive, no locked op); returns the cycles waited for it */
@inline export function shared_write(obj: u32, W: u64): u64 { return line_write(shared_line(obj, W)); }

@inline function field(W: u64, shift: u64): u32 { return <u32>(W >> shift) & <u32>LW_FIELD; }

/** does line `W` hold the `size` bytes at offset `off` of its struct? */
@inline export function line_holds(W: u64, off: u32, size: u32): bool {
  return (off >= field(W, LW_LO_A) && off + size <= field(W, LW_HI_A)) ||
    (off >= field(W, LW_LO_B) && off + size <= field(W, LW_HI_B));
}

@inline function check<T>(W: u64, off: u32): void {
  if (TEST_BUILD && !line_holds(W, off, sizeof<T>())) abort('shared.ts: a word outside the modelled line its *_WORDS declares (layout.ts)');
}
@inline function check_ext(W: u64): void {
  if (TEST_BUILD && (W & LW_EXT) == 0) abort('shared.ts: an outside word on a line whose *_WORDS has no LW_EXT (layout.ts)');
}

// ---- words of the line (atomic: other CPUs may access them concurrently) ----
@inline export function word_load<T>(obj: u32, W: u64, off: u32): T { check<T>(W, off); return atomic.load<T>(obj + off); }
@inline export function word_store<T>(obj: u32, W: u64, off: u32, v: T): void { check<T>(W, off); atomic.store<T>(obj + off, v); }
/** returns the old value */
@inline export function word_add<T>(obj: u32, W: u64, off: u32, v: T): T { check<T>(W, off); return atomic.add<T>(obj + off, v); }
/** returns the old value */
@inline export function word_sub<T>(obj: u32, W: u64, off: u32, v: T): T { check<T>(W, off); return atomic.sub<T>(obj + off, v); }
/** returns the old value */
@inline export function word_or<T>(obj: u32, W: u64, off: u32, v: T): T { check<T>(W, off); return atomic.or<T>(obj + off, v); }
/** returns what the word held */
@inline export function word_cas<T>(obj: u32, W: u64, off: u32, expected: T, v: T): T { check<T>(W, off); return atomic.cmpxchg<T>(obj + off, expected, v); }

// ---- words of the line a lock protects (plain: only the holder writes them) ----
@inline export function word_get<T>(obj: u32, W: u64, off: u32): T { check<T>(W, off); return load<T>(obj + off); }
@inline export function word_set<T>(obj: u32, W: u64, off: u32, v: T): void { check<T>(W, off); store<T>(obj + off, v); }

// ---- uncharged accesses: each is a choice, named where it is made ----
/** a read the model leaves free (an inspection, a debug check, or a kernel read not modelled: see the call) */
@inline export function word_peek<T>(obj: u32, W: u64, off: u32): T { check<T>(W, off); return atomic.load<T>(obj + off); }
/** the same as a plain load (the field is stable under the caller's lock: mmap_lock, the VMA lock) */
@inline export function word_peek_plain<T>(obj: u32, W: u64, off: u32): T { check<T>(W, off); return load<T>(obj + off); }
/** a store the model leaves free (an object no other CPU can see yet, or a kernel store not modelled: see the call) */
@inline export function word_poke<T>(obj: u32, W: u64, off: u32, v: T): void { check<T>(W, off); atomic.store<T>(obj + off, v); }
/** an atomic add the model leaves free (see the call); returns the old value */
@inline export function word_poke_add<T>(obj: u32, W: u64, off: u32, v: T): T { check<T>(W, off); return atomic.add<T>(obj + off, v); }
/** initialisation of a word of an object nobody shares yet (plain store; machine setup, a fresh lock) */
@inline export function word_init<T>(obj: u32, W: u64, off: u32, v: T): void { check<T>(W, off); store<T>(obj + off, v); }
/** a plain read at machine setup (the host's instance, before time 0) */
@inline export function word_init_get<T>(obj: u32, W: u64, off: u32): T { check<T>(W, off); return load<T>(obj + off); }

// ---- words outside the struct that its line covers (LW_EXT: the page cache's index, the uffd queue's links) ----
@inline export function ext_load<T>(W: u64, addr: u32): T { check_ext(W); return atomic.load<T>(addr); }
@inline export function ext_store<T>(W: u64, addr: u32, v: T): void { check_ext(W); atomic.store<T>(addr, v); }
@inline export function ext_get<T>(W: u64, addr: u32): T { check_ext(W); return load<T>(addr); }
@inline export function ext_set<T>(W: u64, addr: u32, v: T): void { check_ext(W); store<T>(addr, v); }
/** an uncharged read of an outside word (inspection) */
@inline export function ext_peek<T>(W: u64, addr: u32): T { check_ext(W); return atomic.load<T>(addr); }
