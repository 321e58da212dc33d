// shmem objects (mm/shmem.c): shared memory files with a page cache and no
// backing store. `MAP_SHARED|MAP_ANONYMOUS` gets a fresh object per mmap
// (shmem_zero_setup), memfd_create() one that is sized with ftruncate() and
// may be mapped many times, MAP_SHARED or MAP_PRIVATE. Objects are file slots
// [H_SHMEM_FIRST, H_SHMEM_FIRST + H_SHMEM_MAX) of the page-cache region
// (pagecache.ts), handed out once each: an object is never freed in a run
// (faultline has no file descriptors to close), the pool is sized by the
// machine (MachineConfig.shmemFiles).
//
// i_size (FILE_NPAGES) changes under the i_pages lock, and is read under the
// PTL by UFFDIO_COPY / CONTINUE (userfaultfd.ts), so an install either sees
// the new size or lands before the truncate's unmap, which then removes it.
//
// Lock order: mmap_lock (read, for the unmap walk) -> PTL; the i_pages lock
// is never taken under a PTL.

import {
  HDR_BASE, H_SHMEM_FIRST, H_SHMEM_NEXT, H_SHMEM_MAX, H_FILE_PAGES, H_NMM, FILE_NPAGES, FILE_KIND, FILE_KIND_SHMEM,
  FILE_LOCK, VMA_START, VMA_WORDS, VMA_END, VMA_PGOFF, VMA_FILE, VMA_OPS, VMOPS_NONE, PAGE_SHIFT,
} from './layout';
import { charge, cost, stat_inc, stat_add } from './cpu';
import { COST_SYSCALL, STAT_SHMEM_FILE_ALLOC, STAT_SHMEM_TRUNCATE_PAGE } from './generated';
import { spin_lock, spin_unlock } from './spinlock';
import { file_addr, nfiles, pagecache_delete_range } from './pagecache';
import { vma_addr, vma_count, vma_at } from './vma';
import { mmap_read_lock, mmap_read_unlock } from './mmap_lock';
import { zap_range, tlb_flush_and_free } from './mmap';
import { lru_add_drain } from './lru';
import { word_peek_plain } from './shared';

export const ENFILE: i32 = 23;
export const EFBIG: i32 = 27;
export const EBADF: i32 = 9;
export const EINVAL_SHMEM: i32 = 22;

/** is `file` a shmem object */
export function file_is_shmem(file: u32): bool {
  return file < nfiles() && load<u32>(file_addr(file) + FILE_KIND) == FILE_KIND_SHMEM;
}

/** i_size of `file`, in pages */
@inline export function i_size_pages(file: u32): u32 { return atomic.load<u32>(file_addr(file) + FILE_NPAGES); }

/**
 * shmem_file_setup(): a new shmem object of `npages` pages. Its id, or
 * -ENFILE when the machine's pool is used up, -EFBIG above the per-file
 * capacity (H_FILE_PAGES).
 */
export function shmem_file_setup(npages: u64): i32 {
  if (npages > <u64>load<u32>(HDR_BASE + H_FILE_PAGES)) return -EFBIG;
  const n = atomic.add<u32>(HDR_BASE + H_SHMEM_NEXT, 1);
  if (n >= load<u32>(HDR_BASE + H_SHMEM_MAX)) { atomic.sub<u32>(HDR_BASE + H_SHMEM_NEXT, 1); return -ENFILE; }
  const file = load<u32>(HDR_BASE + H_SHMEM_FIRST) + n;
  const f = file_addr(file);
  spin_lock(f + FILE_LOCK);
  atomic.store<u32>(f + FILE_KIND, FILE_KIND_SHMEM);
  atomic.store<u32>(f + FILE_NPAGES, <u32>npages);
  spin_unlock(f + FILE_LOCK);
  stat_inc(STAT_SHMEM_FILE_ALLOC);
  return <i32>file;
}

/** memfd_create(): an empty shmem object (size it with ftruncate); returns its id ("fd") or -errno */
export function sys_memfd_create(): i32 {
  charge(cost(COST_SYSCALL));
  return shmem_file_setup(0);
}

/**
 * unmap_mapping_range(): zap every mapping of pages [first, last) of `file`
 * in every mm. Linux walks the file's i_mmap tree under i_mmap_rwsem;
 * faultline walks each mm's VMAs under mmap_lock for read (the same PTE
 * work under each PTL, a different lock). even_cows = false (hole punch)
 * keeps the private COW copies of MAP_PRIVATE mappings.
 */
export function unmap_mapping_range(file: u32, first: u64, last: u64, even_cows: bool): void {
  const nmm = load<u32>(HDR_BASE + H_NMM);
  for (let mm: u32 = 0; mm < nmm; mm++) {
    mmap_read_lock(mm);
    const n = vma_count(mm);
    let lo: u64 = u64.MAX_VALUE, hi: u64 = 0;
    for (let i: u32 = 0; i < n; i++) {
      const s = vma_at(mm, i);
      if (s < 0) break;
      const v = vma_addr(<u32>s);
      if (word_peek_plain<u32>(v, VMA_WORDS, VMA_OPS) == VMOPS_NONE || word_peek_plain<u32>(v, VMA_WORDS, VMA_FILE) != file) continue;
      const start = word_peek_plain<u64>(v, VMA_WORDS, VMA_START), end = word_peek_plain<u64>(v, VMA_WORDS, VMA_END);
      const pg = word_peek_plain<u64>(v, VMA_WORDS, VMA_PGOFF);
      const vpages = (end - start) >> PAGE_SHIFT;
      const a = first > pg ? first : pg;
      const b = last < pg + vpages ? last : pg + vpages;
      if (a >= b) continue;
      const zs = start + ((a - pg) << PAGE_SHIFT), ze = start + ((b - pg) << PAGE_SHIFT);
      zap_range(mm, zs, ze, !even_cows);
      if (zs < lo) lo = zs;
      if (ze > hi) hi = ze;
    }
    if (hi > lo) { lru_add_drain(); tlb_flush_and_free(mm, lo, hi, false); }
    mmap_read_unlock(mm);
  }
}

/** shmem_truncate_range() after the unmap: drop the cached pages of [first, last) */
function shmem_truncate_range(file: u32, first: u64, last: u64): void {
  unmap_mapping_range(file, first, last, true);
  stat_add(STAT_SHMEM_TRUNCATE_PAGE, pagecache_delete_range(file, first, last));
  // a fault may have cached a page again between the unmap and the delete (it saw the old
  // size): Linux unmaps a second time for the same reason (shmem_setattr)
  unmap_mapping_range(file, first, last, true);
}

/**
 * ftruncate(): set i_size to `npages` pages. Shrinking writes the new size
 * first (faults and UFFDIO_COPY past it now fail), then unmaps and drops the
 * pages beyond, as shmem_setattr() does. 0 or -errno.
 */
export function sys_ftruncate(file: u32, npages: u64): i32 {
  charge(cost(COST_SYSCALL));
  if (!file_is_shmem(file)) return -EBADF;
  if (npages > <u64>load<u32>(HDR_BASE + H_FILE_PAGES)) return -EFBIG;
  const f = file_addr(file);
  spin_lock(f + FILE_LOCK);
  const old = <u64>atomic.load<u32>(f + FILE_NPAGES);
  atomic.store<u32>(f + FILE_NPAGES, <u32>npages);
  spin_unlock(f + FILE_LOCK);
  if (npages < old) shmem_truncate_range(file, npages, old);
  return 0;
}

/**
 * fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE): free pages
 * [off, off + len) (page units), i_size unchanged; private COW copies stay.
 */
export function sys_fallocate_punch(file: u32, off: u64, len: u64): i32 {
  charge(cost(COST_SYSCALL));
  if (!file_is_shmem(file)) return -EBADF;
  if (len == 0) return -EINVAL_SHMEM;
  const end = off + len;
  unmap_mapping_range(file, off, end, false);
  stat_add(STAT_SHMEM_TRUNCATE_PAGE, pagecache_delete_range(file, off, end));
  unmap_mapping_range(file, off, end, false);
  return 0;
}

/** inspection: i_size in pages of `file` (host and tests) */
export function shmem_size(file: u32): u32 { return file < nfiles() ? i_size_pages(file) : 0; }

