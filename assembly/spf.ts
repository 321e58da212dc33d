// Speculative page faults (Dufour / Zijlstra, SPF v11): handle an anonymous
// fault without mmap_lock. Every check of __handle_speculative_fault() in
// "[PATCH v11 19/26] mm: provide speculative fault infrastructure" (Laurent
// Dufour, linux-mm, May 2018; reviewed by zhong jiang, 25 Jul 2018) is a step
// here, in the same order,
// with its own abort counter. Any abort returns VM_FAULT_RETRY and the caller
// redoes the fault on the classic path (counted as spf_fallback); only an
// access the VMA does not permit ends in SIGSEGV without a retry.

import { TEST_BUILD, header_flags } from './build_flags';
import {
  VMA_START, VMA_END, VMA_FLAGS, VMA_PROT, VMA_ANON, VMA_OPS, VMA_MPOL, VMA_SEQ, VMA_WORDS,
  VM_READ, VM_WRITE, VM_EXEC, VM_UFFD_MISSING, VM_GROWSDOWN, VM_GROWSUP, VM_PKEY_SHIFT, VMOPS_NONE, MPOL_DEFAULT,
  MPOL_INTERLEAVE, MM_USERS, SET_MM_USERS_ONE, FLAG_SPF_STALL, FLAG_SPF_STALL_WALK, PC_MEMPOLICY, mm_addr, setting,
} from './layout';
import { PC, charge, stat_inc } from './cpu';
import { sync_point } from './wait';
import {
  STAT_SPF_ATTEMPT, STAT_SPF_ABORT_NOT_USER, STAT_SPF_ABORT_SINGLE_USER, STAT_SPF_ABORT_NO_VMA,
  STAT_SPF_ABORT_SEQ_ODD, STAT_SPF_ABORT_VM_OPS, STAT_SPF_ABORT_NO_ANON_VMA, STAT_SPF_ABORT_UFFD_MISSING,
  STAT_SPF_ABORT_GROWS, STAT_SPF_ABORT_OUTSIDE_VMA, STAT_SPF_SIGSEGV, STAT_SPF_ABORT_MPOL_INTERLEAVE,
  STAT_SPF_ABORT_PGD_NONE, STAT_SPF_ABORT_PUD_NONE, STAT_SPF_ABORT_PMD_NONE, STAT_SPF_ABORT_PMD_BAD,
  STAT_SPF_ABORT_PMD_HUGE, STAT_SPF_ABORT_PMD_DEVMAP, STAT_SPF_ABORT_PMD_SWAP, STAT_SPF_ABORT_SEQ_CHANGED,
  STAT_SPF_ABORT_PGD_BAD, STAT_SPF_ABORT_PUD_BAD, STAT_SPF_ABORT_PUD_HUGE, STAT_SPF_SIGSEGV_PKEY,
} from './generated';
import { local_irq_disable, local_irq_enable } from './ipi';
import { raw_read_seqcount, read_seqcount_retry } from './seqcount';
import { get_vma, put_vma, vma_addr, find_vma_lockless } from './vma';
import { rcu_read_lock, rcu_read_unlock } from './rcu';
import { mmap_seq_read_start, mmap_seq_read_check } from './mmap_lock';
import {
  walk_lockless,
  WALK_OK, WALK_PGD_NONE, WALK_PGD_BAD, WALK_PUD_NONE, WALK_PUD_BAD, WALK_PUD_HUGE, WALK_PMD_NONE, WALK_PMD_BAD,
  WALK_PMD_HUGE, WALK_PMD_DEVMAP, WALK_PMD_SWAP, pkru_allows,
} from './pgtable';
import { pgprot_unpack } from './pte';
import { FAULT_FLAG_USER, FAULT_FLAG_WRITE, FAULT_FLAG_SPF_MMAP_SEQ, VM_FAULT_RETRY, VM_FAULT_SIGSEGV, vmf_init_speculative, handle_pte_fault } from './fault';
import { FN_HANDLE_SPECULATIVE_FAULT } from './generated';
import { fn_enter, fn_exit } from './obs';
import { shared_read, word_load } from './shared';

/**
 * The mm.h wrapper's checks, shared by both SPF designs: an attempt is
 * counted, and only user faults of a multithreaded mm go on (counted aborts
 * otherwise).
 */
@inline function spf_allowed(mm: u32, flags: u32): bool {
  stat_inc(STAT_SPF_ATTEMPT);
  if ((flags & FAULT_FLAG_USER) == 0) { stat_inc(STAT_SPF_ABORT_NOT_USER); return false; }
  if (atomic.load<i32>(mm_addr(mm) + MM_USERS) <= 1 || setting(SET_MM_USERS_ONE) != 0) {
    stat_inc(STAT_SPF_ABORT_SINGLE_USER);
    return false;
  }
  return true;
}

/** handle_speculative_fault(): the mm.h wrapper — multithreaded user faults only */
function handle_speculative_fault__body(mm: u32, address: u64, flags: u32): i32 {
  if (!spf_allowed(mm, flags)) return VM_FAULT_RETRY;
  return __handle_speculative_fault(mm, address, flags);
}
/** handle_speculative_fault() as a frame of the flame graph (obs.ts) */
@inline export function handle_speculative_fault(mm: u32, address: u64, flags: u32): i32 {
  fn_enter(FN_HANDLE_SPECULATIVE_FAULT);
  const r = handle_speculative_fault__body(mm, address, flags);
  fn_exit();
  return r;
}

/** cycles FLAG_SPF_STALL holds a speculative fault after get_vma() (FLAG_SPF_STALL_WALK: after the walk) */
const SPF_TEST_STALL: u64 = 20_000;

/**
 * arch_vma_access_permitted() (x86, arch/x86/include/asm/mmu_context.h):
 * protection keys never affect instruction fetches; otherwise the key of the
 * VMA must be allowed by this task's PKRU. (Every fault here is a local one.)
 */
export function arch_vma_access_permitted(vma_flags: u32, write: bool): bool {
  return pkru_allows((vma_flags >> VM_PKEY_SHIFT) & 0xf, write);
}

function abort_put(vma: u32, counter: i32): i32 { stat_inc(counter); put_vma(vma); return VM_FAULT_RETRY; }

/** the counter of each abort of the lockless walk: one per reason */
function walk_abort(code: i32): i32 {
  if (code == WALK_PGD_NONE) return STAT_SPF_ABORT_PGD_NONE;
  if (code == WALK_PGD_BAD) return STAT_SPF_ABORT_PGD_BAD;
  if (code == WALK_PUD_NONE) return STAT_SPF_ABORT_PUD_NONE;
  if (code == WALK_PUD_BAD) return STAT_SPF_ABORT_PUD_BAD;
  if (code == WALK_PUD_HUGE) return STAT_SPF_ABORT_PUD_HUGE;
  if (code == WALK_PMD_NONE) return STAT_SPF_ABORT_PMD_NONE;
  if (code == WALK_PMD_HUGE) return STAT_SPF_ABORT_PMD_HUGE;
  if (code == WALK_PMD_DEVMAP) return STAT_SPF_ABORT_PMD_DEVMAP;
  if (code == WALK_PMD_SWAP) return STAT_SPF_ABORT_PMD_SWAP;
  return STAT_SPF_ABORT_PMD_BAD;
}

function __handle_speculative_fault(mm: u32, address: u64, flags: u32): i32 {
  // get_vma(): lockless lookup + a reference (an atomic on the VMA's line);
  // the slot cannot be reused until we put it (deferred freeing)
  const vma = get_vma(mm, address);
  if (vma < 0) { stat_inc(STAT_SPF_ABORT_NO_VMA); return VM_FAULT_RETRY; }
  const v = vma_addr(<u32>vma);
  const slot = <u32>vma;
  // Test hook (FLAG_SPF_STALL, never set in real runs): IRQs are on here, so
  // an interrupt may hold this CPU up between the lookup and the sequence
  // sample; a writer that changes the VMA's range and finishes meanwhile is
  // only caught by the bounds check below (the "address outside the VMA"
  // abort). In virtual time the window is otherwise a few cycles wide.
  if (TEST_BUILD && (header_flags() & FLAG_SPF_STALL)) { charge(SPF_TEST_STALL); sync_point(); }

  const seq = raw_read_seqcount(v + VMA_SEQ);
  if (seq & 1) return abort_put(slot, STAT_SPF_ABORT_SEQ_ODD);

  // vm_ops may sleep or rely on mmap_lock: file-backed VMAs (incl. hugetlbfs) go classic
  shared_read(v, VMA_WORDS);
  if (word_load<u32>(v, VMA_WORDS, VMA_OPS) != VMOPS_NONE) return abort_put(slot, STAT_SPF_ABORT_VM_OPS);

  // __anon_vma_prepare() needs mmap_lock (it looks at the neighbours)
  if (word_load<u32>(v, VMA_WORDS, VMA_ANON) == 0) return abort_put(slot, STAT_SPF_ABORT_NO_ANON_VMA);

  const vma_flags = word_load<u32>(v, VMA_WORDS, VMA_FLAGS);
  const page_prot = pgprot_unpack(word_load<u32>(v, VMA_WORDS, VMA_PROT)); // READ_ONCE(vma->vm_page_prot)
  if (vma_flags & VM_UFFD_MISSING) return abort_put(slot, STAT_SPF_ABORT_UFFD_MISSING);
  if (vma_flags & (VM_GROWSDOWN | VM_GROWSUP)) return abort_put(slot, STAT_SPF_ABORT_GROWS);
  if (address < word_load<u64>(v, VMA_WORDS, VMA_START) || word_load<u64>(v, VMA_WORDS, VMA_END) <= address) {
    return abort_put(slot, STAT_SPF_ABORT_OUTSIDE_VMA);
  }
  // protection keys: SIGSEGV, no retry
  if (!arch_vma_access_permitted(vma_flags, (flags & FAULT_FLAG_WRITE) != 0)) {
    stat_inc(STAT_SPF_SIGSEGV_PKEY); put_vma(slot); return VM_FAULT_SIGSEGV;
  }
  // access not permitted: SIGSEGV, no retry
  if (flags & FAULT_FLAG_WRITE) {
    if ((vma_flags & VM_WRITE) == 0) { stat_inc(STAT_SPF_SIGSEGV); put_vma(slot); return VM_FAULT_SIGSEGV; }
  } else if ((vma_flags & (VM_READ | VM_EXEC | VM_WRITE)) == 0) {
    stat_inc(STAT_SPF_SIGSEGV); put_vma(slot); return VM_FAULT_SIGSEGV;
  }
  // mpol_misplaced() for MPOL_INTERLEAVE is not speculative-safe; a VMA without a
  // policy of its own (__get_vma_policy() NULL) follows the task's (get_task_policy)
  let pol = word_load<u32>(v, VMA_WORDS, VMA_MPOL);
  if (pol == MPOL_DEFAULT) pol = load<u32>(PC + PC_MEMPOLICY);
  if (pol == MPOL_INTERLEAVE) return abort_put(slot, STAT_SPF_ABORT_MPOL_INTERLEAVE);

  // the gup_fast-style walk, IRQs off: page tables cannot be freed under us
  // (their freeing waits for a shootdown ack we cannot give) and nothing is allocated
  local_irq_disable();
  const w = walk_lockless(mm, address);
  if (w != WALK_OK) { local_irq_enable(); return abort_put(slot, walk_abort(w)); }
  const vmf = vmf_init_speculative(mm, address, flags);
  vmf.vma = slot; vmf.sequence = seq; vmf.vma_flags = vma_flags; vmf.vma_prot = page_prot;
  local_irq_enable();

  // re-validate after the bounds checks: they may have read a VMA being changed
  if (read_seqcount_retry(v + VMA_SEQ, seq)) return abort_put(slot, STAT_SPF_ABORT_SEQ_CHANGED);
  // Test hook (FLAG_SPF_STALL_WALK, never set in real runs): an interrupt holds this
  // CPU up between the walk and handle_pte_fault(), with IRQs on: a collapse that
  // cleared the PMD meanwhile is caught by handle_pte_fault()'s re-read
  if (TEST_BUILD && (header_flags() & FLAG_SPF_STALL_WALK)) { charge(SPF_TEST_STALL); sync_point(); }

  const r = handle_pte_fault(vmf);
  put_vma(slot);
  return r;
}

// ---------------------------------------------------------------------------
// spf-mmapseq: Michel Lespinasse's speculative page faults (RFC, linux-mm,
// April 2021, "[RFC PATCH 00/37] Speculative page faults"): no per-VMA
// sequence and no VMA reference count. The fault samples the mm-wide mmap_seq
// (odd while an mmap_lock writer is inside), looks the VMA up under RCU
// (VMAs are freed after a grace period), works from a copy of it, and
// validates against mmap_seq before it installs the PTE (pte_map_lock:
// mmap_seq_read_check under the PTL). Here the RCU read section covers the
// whole fault, standing in for the copy: the slot cannot be reused while the
// fault reads it, and no shared line is written for it.

/** the mmapseq variant of handle_speculative_fault(): multithreaded user faults only */
function handle_speculative_fault_mmapseq__body(mm: u32, address: u64, flags: u32): i32 {
  if (!spf_allowed(mm, flags)) return VM_FAULT_RETRY;
  // mmap_seq_read_start(): a writer inside means the VMAs may be mid-change
  const seq = mmap_seq_read_start(mm);
  if (seq & 1) { stat_inc(STAT_SPF_ABORT_SEQ_ODD); return VM_FAULT_RETRY; }
  rcu_read_lock();
  const r = spf_mmapseq_locked(mm, address, flags, seq);
  rcu_read_unlock();
  return r;
}
/** handle_speculative_fault_mmapseq() as a frame of the flame graph (obs.ts) */
@inline export function handle_speculative_fault_mmapseq(mm: u32, address: u64, flags: u32): i32 {
  fn_enter(FN_HANDLE_SPECULATIVE_FAULT);
  const r = handle_speculative_fault_mmapseq__body(mm, address, flags);
  fn_exit();
  return r;
}

function rcu_abort(counter: i32): i32 { stat_inc(counter); return VM_FAULT_RETRY; }

/** caller: rcu_read_lock() held, `seq` even */
function spf_mmapseq_locked(mm: u32, address: u64, flags: u32, seq: u32): i32 {
  const vma = find_vma_lockless(mm, address);
  if (vma < 0) return rcu_abort(STAT_SPF_ABORT_NO_VMA);
  const v = vma_addr(<u32>vma);
  const slot = <u32>vma;
  // test hook as in __handle_speculative_fault (TEST core only)
  if (TEST_BUILD && (header_flags() & FLAG_SPF_STALL)) { charge(SPF_TEST_STALL); sync_point(); }
  // the copy of the VMA: one read of its line, no write (no refcount, no vm_sequence)
  shared_read(v, VMA_WORDS);
  const ops = word_load<u32>(v, VMA_WORDS, VMA_OPS);
  const anon = word_load<u32>(v, VMA_WORDS, VMA_ANON);
  const vma_flags = word_load<u32>(v, VMA_WORDS, VMA_FLAGS);
  const page_prot = pgprot_unpack(word_load<u32>(v, VMA_WORDS, VMA_PROT));
  const start = word_load<u64>(v, VMA_WORDS, VMA_START);
  const end = word_load<u64>(v, VMA_WORDS, VMA_END);
  let pol = word_load<u32>(v, VMA_WORDS, VMA_MPOL);
  // the copy is only good if no writer started meanwhile
  if (!mmap_seq_read_check(mm, seq)) return rcu_abort(STAT_SPF_ABORT_SEQ_CHANGED);
  if (ops != VMOPS_NONE) return rcu_abort(STAT_SPF_ABORT_VM_OPS);
  if (anon == 0) return rcu_abort(STAT_SPF_ABORT_NO_ANON_VMA);
  if (vma_flags & VM_UFFD_MISSING) return rcu_abort(STAT_SPF_ABORT_UFFD_MISSING);
  if (vma_flags & (VM_GROWSDOWN | VM_GROWSUP)) return rcu_abort(STAT_SPF_ABORT_GROWS);
  if (address < start || end <= address) return rcu_abort(STAT_SPF_ABORT_OUTSIDE_VMA);
  // protection keys: SIGSEGV, no retry
  if (!arch_vma_access_permitted(vma_flags, (flags & FAULT_FLAG_WRITE) != 0)) { stat_inc(STAT_SPF_SIGSEGV_PKEY); return VM_FAULT_SIGSEGV; }
  if (flags & FAULT_FLAG_WRITE) {
    if ((vma_flags & VM_WRITE) == 0) { stat_inc(STAT_SPF_SIGSEGV); return VM_FAULT_SIGSEGV; }
  } else if ((vma_flags & (VM_READ | VM_EXEC | VM_WRITE)) == 0) {
    stat_inc(STAT_SPF_SIGSEGV); return VM_FAULT_SIGSEGV;
  }
  // as spf: a VMA without a policy of its own follows the task's
  if (pol == MPOL_DEFAULT) pol = load<u32>(PC + PC_MEMPOLICY);
  if (pol == MPOL_INTERLEAVE) return rcu_abort(STAT_SPF_ABORT_MPOL_INTERLEAVE);

  // the same IRQs-off walk as spf: page tables cannot be freed under us
  local_irq_disable();
  const w = walk_lockless(mm, address);
  if (w != WALK_OK) { local_irq_enable(); return rcu_abort(walk_abort(w)); }
  // the mm-wide sequence: pte_map_lock() checks mmap_seq, not a vm_sequence
  const vmf = vmf_init_speculative(mm, address, flags | FAULT_FLAG_SPF_MMAP_SEQ);
  vmf.vma = slot; vmf.sequence = seq; vmf.vma_flags = vma_flags; vmf.vma_prot = page_prot;
  local_irq_enable();
  // pte_map_lock() validates against mmap_seq again, under the PTL, before the PTE is set
  return handle_pte_fault(vmf);
}
