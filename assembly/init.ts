// One-time initialisation of a freshly laid-out machine, run by the host on
// its own instance before any CPU starts. The host has already written the
// header (region bases, sizes, config) and the cost profile.

import { HDR_BASE, H_NMM, H_FRAME_FREE, MM_MMAP_LOCK, MM_SEQ, MM_CPUMASK, MM_USERS, mm_addr } from './layout';
import { LOCK_CLASS_MMAP_READ } from './generated';
import { frames_init } from './frames';
import { ptpages_init, mm_pgd_init } from './pgtable';
import { rwsem_init } from './rwsem';
import { seqcount_init } from './seqcount';
import { vmas_init } from './vma';
import { rcu_init } from './rcu';

export function machine_init(): void {
  frames_init();
  ptpages_init();
  const nmm = load<u32>(HDR_BASE + H_NMM);
  for (let m: u32 = 0; m < nmm; m++) {
    const mm = mm_addr(m);
    rwsem_init(mm + MM_MMAP_LOCK, LOCK_CLASS_MMAP_READ);
    seqcount_init(mm + MM_SEQ);
    store<u64>(mm + MM_CPUMASK, 0);
    store<i32>(mm + MM_USERS, 0);
    mm_pgd_init(m);
  }
  rcu_init();
  vmas_init();
}
