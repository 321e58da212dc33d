// The memory access path of a CPU: TLB lookup -> hardware walk (A/D bits) ->
// page fault -> retry the access; and the fault entry that dispatches to the
// configured strategy (arch/x86/mm/fault.c do_user_addr_fault). The touch
// loops that workloads use run here, inside Wasm.

import { TEST_BUILD } from './build_flags';
import {
  VMA_START, VMA_WORDS, VMA_FLAGS, VM_READ, VM_WRITE, VM_EXEC, PAGE_SHIFT, SET_NUMA_PERIOD, MM_NUMA_NEXT, PC_PKRU, PC_MEMPOLICY,
  MPOL_DEFAULT, MPOL_INTERLEAVE, mm_addr, setting,
} from './layout';
import { PC, now, cpu_local, charge, cost, stat_inc, stat_add } from './cpu';
import {
  COST_FAULT_ENTRY, STAT_ACCESS, STAT_ACCESS_FAULT, STAT_FAULT, STAT_FAULT_CYCLES, STAT_TLB_MISS_CYCLES,
  STAT_FAULT_SIGSEGV, STAT_SPF_FALLBACK, STAT_SPF_SUCCESS, STAT_PERVMA_ATTEMPT, STAT_PERVMA_SUCCESS, STAT_PERVMA_FALLBACK,
  STAT_FAULT_RETRY, COST_SYSCALL, COST_PTE_FIRST_ACCESS,
} from './generated';
import { op_done, sync_point } from './wait';
import { tlb_lookup, tlb_insert } from './tlb';
import { hw_walk, pkru_allows } from './pgtable';
import { pte_write, pte_dirty, pte_pkey } from './pte';
import { find_vma, vma_addr } from './vma';
import {
  handle_mm_fault, FAULT_FLAG_USER, FAULT_FLAG_WRITE, FAULT_FLAG_VMA_LOCK, FAULT_FLAG_ALLOW_RETRY, FAULT_FLAG_RETRY_NOWAIT,
  FAULT_FLAG_TRIED, VM_FAULT_RETRY, VM_FAULT_COMPLETED, VM_FAULT_SIGSEGV,
} from './fault';
import { arch_vma_access_permitted, handle_speculative_fault, handle_speculative_fault_mmapseq } from './spf';
import { lock_vma_under_rcu, vma_end_read } from './pervma';
import { mmap_read_lock, mmap_read_unlock } from './mmap_lock';
import { strategy, STRATEGY_SPF, STRATEGY_PERVMA, STRATEGY_SPF_MMAPSEQ } from './strategy';
import { task_numa_work } from './mmap';
import { fn_enter, fn_exit, tracing, trace_fault_begin, trace_fault_end } from './obs';
import { FN_ASM_EXC_PAGE_FAULT, FN_DO_USER_ADDR_FAULT } from './generated';
import { FAULT_PATH_CLASSIC, FAULT_PATH_SPECULATIVE, FAULT_PATH_SPF_FALLBACK, FAULT_PATH_VMA_LOCK, FAULT_PATH_VMA_FALLBACK } from './layout';
import { word_peek_plain } from './shared';

/** access_error() (arch/x86/mm/fault.c): the VMA does not permit this access (protection keys included) */
@inline function access_error(flags: u32, vf: u32): bool {
  if (!arch_vma_access_permitted(vf, (flags & FAULT_FLAG_WRITE) != 0)) return true;
  return (flags & FAULT_FLAG_WRITE) ? (vf & VM_WRITE) == 0 : (vf & (VM_READ | VM_WRITE | VM_EXEC)) == 0;
}

/**
 * The classic path: mmap_lock for read, find_vma, access checks,
 * handle_mm_fault with FAULT_FLAG_ALLOW_RETRY. On VM_FAULT_RETRY or
 * VM_FAULT_COMPLETED the handler released mmap_lock (unless the caller set
 * FAULT_FLAG_RETRY_NOWAIT); otherwise it is released here.
 */
export function fault_classic(mm: u32, address: u64, flags: u32): i32 {
  flags |= FAULT_FLAG_ALLOW_RETRY;
  // retry: the handler released mmap_lock and asked for it (FAULT_FLAG_TRIED from now on). Unbounded,
  // as Linux's (since 5.7 ALLOW_RETRY stays on): a userfault is retried for as long as its handler
  // wakes it without resolving; a run that livelocks so ends at the virtual-cycle limit
  while (true) {
    mmap_read_lock(mm);
    const vma = find_vma(mm, address);
    if (vma < 0 || address < word_peek_plain<u64>(vma_addr(<u32>vma), VMA_WORDS, VMA_START)) {
      mmap_read_unlock(mm); // no VMA (stack expansion is not emulated)
      return VM_FAULT_SIGSEGV;
    }
    if (access_error(flags, word_peek_plain<u32>(vma_addr(<u32>vma), VMA_WORDS, VMA_FLAGS))) {
      mmap_read_unlock(mm);
      return VM_FAULT_SIGSEGV;
    }
    const r = handle_mm_fault(mm, <u32>vma, address, flags);
    if ((r & (VM_FAULT_RETRY | VM_FAULT_COMPLETED)) == 0) { mmap_read_unlock(mm); return r; }
    if (flags & FAULT_FLAG_RETRY_NOWAIT) mmap_read_unlock(mm); // the handler kept it
    if (r & VM_FAULT_COMPLETED) return 0;
    stat_inc(STAT_FAULT_RETRY);
    flags |= FAULT_FLAG_TRIED;
  }
  return VM_FAULT_RETRY;
}

/** do_user_addr_fault(): one page fault on `address`; 0 when handled */
export function do_user_addr_fault(mm: u32, address: u64, write: bool): i32 {
  const t0 = now();
  fn_enter(FN_ASM_EXC_PAGE_FAULT);
  const tr = tracing();
  if (tr) trace_fault_begin();
  let path = FAULT_PATH_CLASSIC;
  charge(cost(COST_FAULT_ENTRY));
  fn_enter(FN_DO_USER_ADDR_FAULT);
  stat_inc(STAT_FAULT);
  const flags = FAULT_FLAG_USER | (write ? FAULT_FLAG_WRITE : 0);
  let r: i32 = VM_FAULT_RETRY;
  const s = strategy();
  if (s == STRATEGY_SPF || s == STRATEGY_SPF_MMAPSEQ) {
    r = s == STRATEGY_SPF ? handle_speculative_fault(mm, address, flags) : handle_speculative_fault_mmapseq(mm, address, flags);
    if (r == VM_FAULT_RETRY) { stat_inc(STAT_SPF_FALLBACK); path = FAULT_PATH_SPF_FALLBACK; }
    else { if (r == 0) stat_inc(STAT_SPF_SUCCESS); path = FAULT_PATH_SPECULATIVE; }
  } else if (s == STRATEGY_PERVMA) {
    stat_inc(STAT_PERVMA_ATTEMPT);
    const vma = lock_vma_under_rcu(mm, address);
    if (vma >= 0) {
      // access_error() under the VMA lock, as do_user_addr_fault does before
      // handle_mm_fault; Linux 6.4 then drops the VMA lock and retries under
      // mmap_lock, which reports the SIGSEGV. (Fix: this check was missing, so a
      // write to a read-only VMA with an anon_vma reached do_wp_page and made the
      // PTE writable: found by both the strategies test and the stress checker.)
      if (!access_error(flags, word_peek_plain<u32>(vma_addr(<u32>vma), VMA_WORDS, VMA_FLAGS))) {
        r = handle_mm_fault(mm, <u32>vma, address, flags | FAULT_FLAG_VMA_LOCK | FAULT_FLAG_ALLOW_RETRY);
        // RETRY / COMPLETED: the handler released the VMA lock (release_fault_lock)
        if ((r & (VM_FAULT_RETRY | VM_FAULT_COMPLETED)) == 0) vma_end_read(<u32>vma);
        else if (r & VM_FAULT_COMPLETED) r = 0;
      } else vma_end_read(<u32>vma);
    }
    if (r == VM_FAULT_RETRY) { stat_inc(STAT_PERVMA_FALLBACK); path = FAULT_PATH_VMA_FALLBACK; }
    else { if (r == 0) stat_inc(STAT_PERVMA_SUCCESS); path = FAULT_PATH_VMA_LOCK; }
  }
  if (r == VM_FAULT_RETRY) r = fault_classic(mm, address, flags);
  if (r == VM_FAULT_SIGSEGV) stat_inc(STAT_FAULT_SIGSEGV);
  // a handled fault returns to the access, which re-executes through the PTE the fault installed or
  // changed: on a shadow-paging guest (PVM) that first access exits again, and the hypervisor fills its
  // shadow PTE from the guest's (0 on bare metal and with EPT/NPT). Charged to the fault: its cost as
  // the faulting thread sees it (calibrate --host measures it apart: a first access with no fault)
  else if (r == 0) charge(cost(COST_PTE_FIRST_ACCESS));
  stat_add(STAT_FAULT_CYCLES, now() - t0);
  fn_exit();
  fn_exit();
  if (tr) trace_fault_end(t0, address, write, path);
  return r;
}

/**
 * One load (write = false) or store at `address`. Returns 0, or the VM_FAULT_*
 * code that ended it (SIGSEGV is reported to the workload, not a crash).
 */
export function access(mm: u32, address: u64, write: bool): i32 {
  stat_inc(STAT_ACCESS);
  const vpn = address >> PAGE_SHIFT;
  cpu_local().faulted = false;
  // retry: after a fault the access is re-executed, as the CPU does after iret (unbounded, as
  // on hardware: each fault is an interrupt point, so a stop or the virtual-cycle limit ends a livelock)
  while (true) {
    const e = tlb_lookup(vpn);
    // PKRU is checked at every access, TLB hits included (the TLB caches the key, not the rights)
    if (e != 0 && (!write || (pte_write(e) && pte_dirty(e))) && pkru_allows(pte_pkey(e), write)) return 0;
    const t0 = now();
    const pte = hw_walk(mm, address, write, true);
    stat_add(STAT_TLB_MISS_CYCLES, now() - t0);
    if (pte != 0) { tlb_insert(vpn, pte); return 0; }
    if (!cpu_local().faulted) { cpu_local().faulted = true; stat_inc(STAT_ACCESS_FAULT); }
    if (TEST_BUILD) cpu_local().in_fault++;
    const r = do_user_addr_fault(mm, address, write);
    if (TEST_BUILD) cpu_local().in_fault--;
    op_done();
    if (r != 0) return r;
  }
  return VM_FAULT_RETRY;
}

/** NUMA balancing: the first CPU past the mm's next-scan time runs task_numa_work() */
function maybe_numa_scan(mm: u32): void {
  const period = <u64>setting(SET_NUMA_PERIOD);
  if (period == 0) return;
  const a = mm_addr(mm) + MM_NUMA_NEXT;
  const next = atomic.load<u64>(a);
  if (now() < next) return;
  if (atomic.cmpxchg<u64>(a, next, now() + period) == next) task_numa_work(mm);
}

/**
 * touch(): access every `stride` bytes of [start, start + len), reads or
 * writes. Returns the number of accesses that faulted, or a negative
 * -(VM_FAULT_*) at the first access that failed.
 */
export function touch(mm: u32, start: u64, len: u64, stride: u64, write: bool): i64 {
  let faults: i64 = 0;
  let n: u32 = 0;
  if (stride == 0) stride = 4096;
  const end = start + len;
  for (let a = start; a < end; a += stride) {
    const r = access(mm, a, write);
    if (r != 0) return -<i64>r;
    if (cpu_local().faulted) faults++;
    // an interrupt point every 64 accesses (faults already passed one)
    if (++n >= 64) { n = 0; maybe_numa_scan(mm); sync_point(); }
  }
  return faults;
}

/** WRPKRU: set the protection-key rights of the task on this CPU (user mode, no fault, no syscall) */
export function wrpkru(pkru: u32): void { store<u32>(PC + PC_PKRU, pkru); }

/** set_mempolicy(mode): the task's memory policy (MPOL_DEFAULT or MPOL_INTERLEAVE); 0 or -EINVAL */
export function sys_set_mempolicy(mode: u32): i32 {
  charge(cost(COST_SYSCALL));
  if (mode != MPOL_DEFAULT && mode != MPOL_INTERLEAVE) return -22;
  store<u32>(PC + PC_MEMPOLICY, mode);
  return 0;
}
