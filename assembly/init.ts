// One-time initialisation of a freshly laid-out machine, run by the host on
// its own instance before any CPU starts. The host has already written the
// header (region bases, sizes, config) and the cost profile.

import {
  MM_LOCK_SEQ_WORDS, HDR_BASE, H_NMM, H_NCPUS, H_ZONE_LOCK, H_LRU_LOCK, H_ZONE_LOCK1, H_LRU_LOCK1, H_NFILES, H_FILE_PAGES, MM_MMAP_LOCK, MM_RB_LOCK, MM_SEQ, MM_CPUMASK,
  MM_USERS, MM_PT_LOCK, MM_LOCK_SEQ, FILE_LOCK, FILE_NPAGES, mm_addr,
} from './layout';
import { LOCK_CLASS_MMAP_READ, LOCK_CLASS_MM_RB_READ, LOCK_CLASS_ZONE, LOCK_CLASS_LRU, LOCK_CLASS_PAGECACHE, LOCK_CLASS_GENERIC } from './generated';
import { spin_lock_init } from './spinlock';
import { cpumask_fill } from './cpumask';
import { file_addr } from './pagecache';
import { frames_init } from './frames';
import { ptpages_init, mm_pgd_init } from './pgtable';
import { rwsem_init } from './rwsem';
import { seqcount_init } from './seqcount';
import { vmas_init } from './vma';
import { rcu_init } from './rcu';
import { tag_storage_init } from './mte';
import { uffd_init } from './userfaultfd';
import { machine_check } from './init_check';
import { H_STOP_CPU, STOP_CPU_NONE, H_INIT_DONE, LAYOUT_MAGIC } from './layout';
import { word_init } from './shared';

/**
 * Check the layout the host wrote (init_check.ts: the first bad field is
 * reported through env.abort), then build the machine on it. Once, on the
 * host's instance, before any worker binds.
 */
export function machine_init(): void {
  atomic.store<u32>(HDR_BASE + H_INIT_DONE, 0);
  machine_check();
  atomic.store<u32>(HDR_BASE + H_STOP_CPU, STOP_CPU_NONE);
  frames_init();
  ptpages_init();
  const nmm = load<u32>(HDR_BASE + H_NMM);
  for (let m: u32 = 0; m < nmm; m++) {
    const mm = mm_addr(m);
    rwsem_init(mm + MM_MMAP_LOCK, LOCK_CLASS_MMAP_READ);
    rwsem_init(mm + MM_RB_LOCK, LOCK_CLASS_MM_RB_READ);
    seqcount_init(mm + MM_SEQ);
    // every CPU runs a thread of mm 0 (threads mode): all may cache its translations
    const n = load<u32>(HDR_BASE + H_NCPUS);
    cpumask_fill(mm + MM_CPUMASK, m == 0 ? n : 0);
    store<i32>(mm + MM_USERS, m == 0 ? <i32>n : 0);
    word_init<u32>(mm, MM_LOCK_SEQ_WORDS, MM_LOCK_SEQ, 0);
    spin_lock_init(mm + MM_PT_LOCK, LOCK_CLASS_GENERIC);
    mm_pgd_init(m);
  }
  spin_lock_init(HDR_BASE + H_ZONE_LOCK, LOCK_CLASS_ZONE);
  spin_lock_init(HDR_BASE + H_LRU_LOCK, LOCK_CLASS_LRU);
  spin_lock_init(HDR_BASE + H_ZONE_LOCK1, LOCK_CLASS_ZONE);
  spin_lock_init(HDR_BASE + H_LRU_LOCK1, LOCK_CLASS_LRU);
  // files: every one H_FILE_PAGES long (the host may shrink them before the run)
  const nf = load<u32>(HDR_BASE + H_NFILES);
  for (let f: u32 = 0; f < nf; f++) {
    spin_lock_init(file_addr(f) + FILE_LOCK, LOCK_CLASS_PAGECACHE);
    store<u32>(file_addr(f) + FILE_NPAGES, load<u32>(HDR_BASE + H_FILE_PAGES));
  }
  rcu_init();
  vmas_init();
  tag_storage_init();
  uffd_init();
  atomic.store<u32>(HDR_BASE + H_INIT_DONE, LAYOUT_MAGIC);
}
