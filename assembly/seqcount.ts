// Sequence counts (layout.ts SQ_*): vm_sequence of each VMA and mm_seq of the
// VMA index.
//
// INVARIANT: the sequence is EVEN when the protected data is stable and ODD
// while a writer is between write_seqcount_begin() and _end(). Writers are
// serialized by an outer lock (mmap_lock for write). A lockless reader takes
// a snapshot with raw_read_seqcount() (odd = writer inside: the reader must
// retry or abort, never wait: speculative faults abort), reads, then
// read_seqcount_retry() tells whether anything changed meanwhile.

import { SQ_SEQ, SQ_LINE } from './layout';
import { line_write, line_read } from './cacheline';
import { stat_inc } from './cpu';
import { STAT_SEQ_RETRY } from './generated';

export function seqcount_init(s: u32): void { store<u32>(s + SQ_SEQ, 0); }

/** caller holds the writer-side lock */
export function write_seqcount_begin(s: u32): void {
  line_write(s + SQ_LINE);
  atomic.add<u32>(s + SQ_SEQ, 1);
}
/** caller holds the writer-side lock */
export function write_seqcount_end(s: u32): void {
  line_write(s + SQ_LINE);
  atomic.add<u32>(s + SQ_SEQ, 1);
}

/** snapshot without waiting; may be odd */
export function raw_read_seqcount(s: u32): u32 {
  line_read(s + SQ_LINE);
  return atomic.load<u32>(s + SQ_SEQ);
}

/** true if the data read since `start` may be torn (counts a retry) */
export function read_seqcount_retry(s: u32, start: u32): bool {
  line_read(s + SQ_LINE);
  if (atomic.load<u32>(s + SQ_SEQ) != start) { stat_inc(STAT_SEQ_RETRY); return true; }
  return false;
}

@inline export function seqcount_value(s: u32): u32 { return atomic.load<u32>(s + SQ_SEQ); }
