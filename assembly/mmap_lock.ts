// mmap_lock (include/linux/mmap_lock.h, mm/mmap_lock.c): the mm's rwsem and
// the mm-wide sequence beside it (mm_lock_seq), which per-VMA locks use to end
// every VMA write mark at once and spf-mmapseq samples as its mmap_seq.

import { MM_LOCK_SEQ, MM_LOCK_SEQ_WORDS, MM_MMAP_LOCK, mm_addr } from './layout';
import { shared_read, shared_write, word_load, word_add } from './shared';
import { up_read, down_write, up_write, down_read, downgrade_write, down_read_trylock } from './rwsem';
import { strategy, STRATEGY_PERVMA, STRATEGY_SPF_MMAPSEQ } from './strategy';

/** the mm-wide sequence (mm->mm_lock_seq), its line read first */
@inline export function mm_lock_seq(mm: u32): u32 {
  const m = mm_addr(mm);
  shared_read(m, MM_LOCK_SEQ_WORDS);
  return word_load<u32>(m, MM_LOCK_SEQ_WORDS, MM_LOCK_SEQ);
}

export function mmap_read_lock(mm: u32): void { down_read(mm_addr(mm) + MM_MMAP_LOCK); }
export function mmap_read_unlock(mm: u32): void { up_read(mm_addr(mm) + MM_MMAP_LOCK); }
export function mmap_read_trylock(mm: u32): bool { return down_read_trylock(mm_addr(mm) + MM_MMAP_LOCK); }
/**
 * mmap_write_lock(). Under spf-mmapseq the mm-wide sequence count (the
 * mmap_seq of Michel Lespinasse's 2021 SPF RFC; Linux 6.13 made mm_lock_seq
 * the same kind of seqcount) turns odd once the lock is held: a speculative
 * fault that sampled it, or samples it now, will not install its PTE.
 */
export function mmap_write_lock(mm: u32): void {
  const m = mm_addr(mm);
  down_write(m + MM_MMAP_LOCK);
  if (strategy() == STRATEGY_SPF_MMAPSEQ) mmap_seq_write_bump(m);
}

/**
 * mmap_write_downgrade(): the writer keeps mmap_lock for read and lets other
 * readers in. With per-VMA locks it ends every write mark first
 * (vma_end_write_all() in include/linux/mmap_lock.h), as unlocking does.
 */
export function mmap_write_downgrade(mm: u32): void {
  const m = mm_addr(mm);
  const st = strategy();
  // the write section ends here: pervma's marks, and spf-mmapseq's sequence turns even
  // (the VMAs are detached already, so a fault that starts now finds none of them)
  if (st == STRATEGY_PERVMA || st == STRATEGY_SPF_MMAPSEQ) mmap_seq_write_bump(m);
  downgrade_write(m + MM_MMAP_LOCK);
}

/** mmap_write_unlock(): with per-VMA locks, vma_end_write_all() first: every write mark ends here */
export function mmap_write_unlock(mm: u32): void {
  const m = mm_addr(mm);
  const s = strategy();
  // pervma: ends every write mark; spf-mmapseq: the sequence turns even again
  if (s == STRATEGY_PERVMA || s == STRATEGY_SPF_MMAPSEQ) mmap_seq_write_bump(m);
  up_write(m + MM_MMAP_LOCK);
}

/** one writer step of the mm-wide sequence (caller holds mmap_lock for write): the line goes exclusive */
@inline function mmap_seq_write_bump(m: u32): void {
  shared_write(m, MM_LOCK_SEQ_WORDS);
  word_add<u32>(m, MM_LOCK_SEQ_WORDS, MM_LOCK_SEQ, 1);
}

/** mmap_seq_read_start(): the mm-wide sequence as a speculative fault samples it (odd: a writer is inside) */
export function mmap_seq_read_start(mm: u32): u32 { return mm_lock_seq(mm); }

/** mmap_seq_read_check(): true while no mmap_lock writer started since `seq` was sampled */
export function mmap_seq_read_check(mm: u32, seq: u32): bool { return mm_lock_seq(mm) == seq; }
