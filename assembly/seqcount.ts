// Sequence counts (layout.ts SQ_*): vm_sequence of each VMA and mm_seq of the
// VMA index.
//
// INVARIANT: the sequence is EVEN when the protected data is stable and ODD
// while a writer is between write_seqcount_begin() and _end(). Writers are
// serialized by an outer lock (mmap_lock for write). A lockless reader takes
// a snapshot with raw_read_seqcount() (odd = writer inside: the reader must
// retry or abort, never wait: speculative faults abort), reads, then
// read_seqcount_retry() tells whether anything changed meanwhile.

import { SQ_SEQ, SQ_WORDS } from './layout';
import { stat_inc } from './cpu';
import { STAT_SEQ_RETRY } from './generated';
import { shared_read, shared_write, word_load, word_add, word_peek, word_init } from './shared';

export function seqcount_init(s: u32): void { word_init<u32>(s, SQ_WORDS, SQ_SEQ, 0); }

/** caller holds the writer-side lock */
export function write_seqcount_begin(s: u32): void {
  shared_write(s, SQ_WORDS);
  word_add<u32>(s, SQ_WORDS, SQ_SEQ, 1);
}
/** caller holds the writer-side lock */
export function write_seqcount_end(s: u32): void {
  shared_write(s, SQ_WORDS);
  word_add<u32>(s, SQ_WORDS, SQ_SEQ, 1);
}

/** snapshot without waiting; may be odd */
export function raw_read_seqcount(s: u32): u32 {
  shared_read(s, SQ_WORDS);
  return word_load<u32>(s, SQ_WORDS, SQ_SEQ);
}

/** true if the data read since `start` may be torn (counts a retry) */
export function read_seqcount_retry(s: u32, start: u32): bool {
  shared_read(s, SQ_WORDS);
  if (word_load<u32>(s, SQ_WORDS, SQ_SEQ) != start) { stat_inc(STAT_SEQ_RETRY); return true; }
  return false;
}

/** inspection (uncharged) */
@inline export function seqcount_value(s: u32): u32 { return word_peek<u32>(s, SQ_WORDS, SQ_SEQ); }
