// userfaultfd (fs/userfaultfd.c, mm/userfaultfd.c): faults in a registered
// range are delivered to user-space handler threads, which resolve them with
// ioctls. Here a handler is an emulated CPU running a handler program.
//
//   userfaultfd() + UFFDIO_API     sys_userfaultfd(mm, features): a context
//   UFFDIO_REGISTER / UNREGISTER   split/merge the VMAs of the range under
//                                  mmap_lock for write, vm_sequence odd and
//                                  the VMA write-marked while vm_flags change
//   handle_userfault()             the fault (mmap_lock held for read) queues
//                                  a message and returns VM_FAULT_RETRY; once
//                                  the fault path dropped its lock the CPU
//                                  parks (WAIT_UFFD) until a resolution wakes it
//   read(uffd)                     uffd_read(): a handler takes the oldest message
//   UFFDIO_COPY / ZEROPAGE /       __mcopy_atomic(): page by page under
//   CONTINUE                       mmap_lock for read; each PTE installed by
//                                  mcopy_atomic_install_pte() under the PTL
//   UFFDIO_WRITEPROTECT / WAKE     mwriteprotect_range() (TLB flush), wake_userfault()
//
// The five install cases (Hugh Dickins' review of "[PATCH v2 4/9]
// userfaultfd/shmem: support UFFDIO_CONTINUE for shmem", LKML, April 2021,
// in reply to <20210413051721.2896915-5-axelrasmussen@google.com>):
//   1 anon private COPY     (anon page newly allocated)
//   2 shmem private COPY    (anon page newly allocated: CoW without a shmem page)
//   3 shmem private CONTINUE (page in the cache)
//   4 shmem shared CONTINUE  (page in the cache)
//   5 shmem shared COPY      (page newly allocated INTO the cache)
// each with and without VM_WRITE: writable = VM_WRITE unless the page is in
// the page cache and the VMA is private; dirty if writable or not in the
// cache; with UFFDIO_COPY_MODE_WP the uffd-wp bit instead of write; the RSS
// counter after the rmap (mm_counter() reads PageAnon, which the rmap sets);
// file rmap iff in the cache; LRU add only for a newly allocated page.
//
// Lock order: mmap_lock -> context lock (fault_pending_wqh.lock) ; mmap_lock
// -> PTL. The context lock is never held across a PTL or a wait.
// A speculative fault never calls handle_userfault() (it has no mmap_lock to
// drop): SPF aborts on VM_UFFD_MISSING at its start, and a registration that
// lands later follows SET_UFFD_SPF_RACE (the review of SPF v12, "mm: provide
// speculative fault infrastructure", LKML 2019: Laurent Dufour's "ignore it
// this time" vs Jerome Glisse's "abort").

import { TEST_BUILD } from './build_flags';
import {
  HDR_BASE, H_UFFD_BASE, H_UFFD_NEXT, H_UFFD_MAX, H_FLAGS, UFFD_LOCK, UFFD_INUSE, UFFD_FEATURES, UFFD_MM, UFFD_HEAD, UFFD_TAIL,
  UFFD_NPENDING, UFFD_READ_WORD, UFFD_RELEASED, UFFD_WORDS, UFFD_SIZE, MAX_UFFD, UWQ_ADDRESS, UWQ_FLAGS, UWQ_CTX,
  UWQ_STATE, UWQ_NEXT, UWQ_PREV, UWQ_WAIT, UWQ_T_QUEUED, UWQ_T_READ, UWQ_T_WOKEN, UWQ_COPIED, UWQ_SIZE, UWQ_IDLE, UWQ_PENDING,
  UWQ_READ, UWQ_WOKEN, VM_UFFD_CTX_SHIFT, VM_UFFD_CTX_MASK, VM_UFFD_ANY, VM_UFFD_MISSING, VM_UFFD_MINOR, VM_UFFD_WP,
  VM_WRITE, VM_SHARED, VMA_START, VMA_WORDS, VMA_END, VMA_FLAGS, VMA_MM, VMA_OPS, VMA_PGOFF, VMA_FILE, VMOPS_NONE, VMOPS_SHMEM,
  WAIT_UFFD, WAIT_UFFD_READ, MAX_CPUS, PAGE_SHIFT, PAGE_SIZE, PG_ANON, PG_PAGECACHE, FR_MAPCOUNT, FR_FLAGS,
  SET_UFFD_SPF_RACE, UFFD_RACE_ABORT, FLAG_SPF_UFFD_STALL, FLAG_UFFD_QUEUE_STALL, PC_UFFD_MSG_TID, PC_UFFD_MSG_ADDR, ncpus, setting,
} from './layout';
import { PC, cpu_id, now, set_clock, charge, cost, stat_inc, stat_add } from './cpu';
import {
  COST_SYSCALL, COST_PAGE_COPY, COST_PTE_OP, LOCK_CLASS_UFFD,
  STAT_UFFD_REGISTER, STAT_UFFD_UNREGISTER, STAT_UFFD_FAULT, STAT_UFFD_FAULT_MISSING, STAT_UFFD_FAULT_MINOR, STAT_UFFD_FAULT_WP,
  STAT_UFFD_FAULT_SIGBUS, STAT_UFFD_FAULT_WAIT_CYCLES, STAT_UFFD_MSG_READ, STAT_UFFD_COPY, STAT_UFFD_ZEROPAGE, STAT_UFFD_CONTINUE,
  STAT_UFFD_WRITEPROTECT, STAT_UFFD_WAKE, STAT_UFFD_PAGE_INSTALLED, STAT_UFFD_EEXIST, STAT_UFFD_EFAULT, STAT_UFFD_ENOENT,
  STAT_UFFD_COPY_RETRY, STAT_UFFD_WOKEN, STAT_FAULT_SIGBUS, STAT_SPF_ABORT_UFFD_RACE, STAT_SPF_UFFD_RACE_IGNORED,
} from './generated';
import { spin_lock, spin_unlock, spin_lock_init } from './spinlock';
import { wait_prepare, wait_token, wait_sleep, wait_finish, wake_cpu, wake_waiters, sync_point } from './wait';
import { find_vma, vma_addr, vma_set_flags, vm_write_begin, vm_write_end, vma_merge } from './vma';
import { vma_start_write } from './pervma';
import { mmap_read_lock, mmap_read_unlock, mmap_write_lock, mmap_write_unlock } from './mmap_lock';
import { isolate_range, mut_vma_at } from './mmap';
import {
  vm_get_page_prot, can_change_pte_writable, VmFault, release_fault_lock, VM_FAULT_RETRY, VM_FAULT_SIGBUS, FAULT_FLAG_WRITE, FAULT_FLAG_ALLOW_RETRY, FAULT_FLAG_RETRY_NOWAIT,
} from './fault';
import { pte_alloc_walk, walk_pte_table, walk_lockless, walk_pte_slot, walk_pmd_slot, ptl_of, set_pte, WALK_OK, WALK_PMD_HUGE, USER_VA_END } from './pgtable';
import { pgprot_pack, pfn_pte, pte_none, pte_present, pte_protnone, pte_write, pte_mkdirty, pte_mkwrite, pte_wrprotect, pte_mkspecial, _PAGE_UFFD_WP } from './pte';
import { alloc_page, put_page } from './page_alloc';
import { frame, frame_flags, ZERO_PFN } from './frames';
import { lru_cache_add } from './lru';
import { add_mm_counter } from './rss';
import { flush_tlb_mm_range } from './ipi';
import { pagecache_lookup, pagecache_add, pagecache_delete_range } from './pagecache';
import { i_size_pages } from './shmem';
import { access } from './access';
import { mte_sync_tags } from './mte';
import { FN_HANDLE_USERFAULT } from './generated';
import { fn_enter, fn_exit, tracing, trace_event } from './obs';
import { TE_UFFD_WAIT } from './layout';
import { shared_read, shared_write, word_load, word_add, word_get, word_set, word_peek, word_peek_plain, word_poke, word_poke_add, ext_get, ext_set } from './shared';

// uapi (include/uapi/linux/userfaultfd.h, Linux 6.12)
export const UFFD_FEATURE_PAGEFAULT_FLAG_WP: u32 = 1 << 0;
export const UFFD_FEATURE_EVENT_FORK: u32 = 1 << 1;
export const UFFD_FEATURE_EVENT_REMAP: u32 = 1 << 2;
export const UFFD_FEATURE_EVENT_REMOVE: u32 = 1 << 3;
export const UFFD_FEATURE_MISSING_HUGETLBFS: u32 = 1 << 4;
export const UFFD_FEATURE_MISSING_SHMEM: u32 = 1 << 5;
export const UFFD_FEATURE_EVENT_UNMAP: u32 = 1 << 6;
export const UFFD_FEATURE_SIGBUS: u32 = 1 << 7;
export const UFFD_FEATURE_THREAD_ID: u32 = 1 << 8;
export const UFFD_FEATURE_MINOR_HUGETLBFS: u32 = 1 << 9;
export const UFFD_FEATURE_MINOR_SHMEM: u32 = 1 << 10;
export const UFFD_FEATURE_EXACT_ADDRESS: u32 = 1 << 11;
export const UFFD_FEATURE_WP_HUGETLBFS_SHMEM: u32 = 1 << 12;
export const UFFD_FEATURE_WP_UNPOPULATED: u32 = 1 << 13;
export const UFFD_FEATURE_POISON: u32 = 1 << 14;
export const UFFD_FEATURE_WP_ASYNC: u32 = 1 << 15;
export const UFFD_FEATURE_MOVE: u32 = 1 << 16;
/** UFFD_API_FEATURES of Linux 6.12 on x86-64 (every config option on): what UFFDIO_API reports and accepts */
export const UFFD_API_FEATURES: u32 = (1 << 17) - 1;
export const UFFDIO_REGISTER_MODE_MISSING: u32 = 1;
export const UFFDIO_REGISTER_MODE_WP: u32 = 2;
export const UFFDIO_REGISTER_MODE_MINOR: u32 = 4;
export const UFFDIO_COPY_MODE_DONTWAKE: u32 = 1;
export const UFFDIO_COPY_MODE_WP: u32 = 2;
export const UFFDIO_WRITEPROTECT_MODE_WP: u32 = 1;
export const UFFDIO_WRITEPROTECT_MODE_DONTWAKE: u32 = 2;
export const UFFD_PAGEFAULT_FLAG_WRITE: u32 = 1;
export const UFFD_PAGEFAULT_FLAG_WP: u32 = 2;
export const UFFD_PAGEFAULT_FLAG_MINOR: u32 = 4;
// errno
const EAGAIN: i32 = 11;
const ENOMEM: i32 = 12;
const EFAULT: i32 = 14;
const EBUSY: i32 = 16;
const EEXIST: i32 = 17;
const EINVAL: i32 = 22;
const ENOENT: i32 = 2;
/** mmap_min_addr: validate_range() refuses addresses below it */
const MMAP_MIN_ADDR: u64 = 0x10000;

// mfill modes (enum mcopy_atomic_mode)
const MCOPY_NORMAL: u32 = 0;
const MCOPY_ZEROPAGE: u32 = 1;
const MCOPY_CONTINUE: u32 = 2;

@inline function ctx_addr(ctx: u32): u32 { return load<u32>(HDR_BASE + H_UFFD_BASE) + ctx * UFFD_SIZE; }
@inline function uwq(cpu: u32): u32 { return load<u32>(HDR_BASE + H_UFFD_BASE) + MAX_UFFD * UFFD_SIZE + cpu * UWQ_SIZE; }
/** the context id a VMA's flags carry, -1 if none */
@inline export function vma_uffd_ctx(flags: u32): i32 { return <i32>((flags & VM_UFFD_CTX_MASK) >> VM_UFFD_CTX_SHIFT) - 1; }
/** userfaultfd_armed(): any userfaultfd mode registered on the VMA */
@inline export function userfaultfd_armed(flags: u32): bool { return (flags & VM_UFFD_ANY) != 0; }
@inline function valid_ctx(ctx: u32): bool {
  return ctx < load<u32>(HDR_BASE + H_UFFD_MAX) && atomic.load<u32>(ctx_addr(ctx) + UFFD_INUSE) != 0;
}

/** uffd_init(): from machine_init (the host wrote the region base and sizes) */
export function uffd_init(): void {
  for (let c: u32 = 0; c < MAX_UFFD; c++) spin_lock_init(ctx_addr(c) + UFFD_LOCK, LOCK_CLASS_UFFD);
}

// ---- userfaultfd() --------------------------------------------------------

/**
 * userfaultfd() + UFFDIO_API (userfaultfd_api(), Linux 6.12): a context for
 * `mm` with `features`; its id or -errno. Every bit of UFFD_API_FEATURES is
 * accepted (WP_ASYNC implies WP_UNPOPULATED), any other is -EINVAL. What the
 * emulator does with them: README "userfaultfd and shmem".
 */
export function sys_userfaultfd(mm: u32, features: u32): i32 {
  charge(cost(COST_SYSCALL));
  if (features & ~UFFD_API_FEATURES) return -EINVAL;
  if (features & UFFD_FEATURE_WP_ASYNC) features |= UFFD_FEATURE_WP_UNPOPULATED;
  const n = atomic.add<u32>(HDR_BASE + H_UFFD_NEXT, 1);
  if (n >= load<u32>(HDR_BASE + H_UFFD_MAX)) { atomic.sub<u32>(HDR_BASE + H_UFFD_NEXT, 1); return -ENOMEM; }
  const c = ctx_addr(n);
  atomic.store<u32>(c + UFFD_FEATURES, features);
  atomic.store<u32>(c + UFFD_MM, mm);
  word_poke<u32>(c, UFFD_WORDS, UFFD_RELEASED, 0); // a context nobody uses yet: uncharged
  atomic.store<u32>(c + UFFD_INUSE, 1);
  return <i32>n;
}

// ---- registration ---------------------------------------------------------

/** vma_can_userfault(): anonymous or shmem; MINOR only on shmem */
function vma_can_userfault(ops: u32, modes: u32): bool {
  if ((modes & VM_UFFD_MINOR) && ops != VMOPS_SHMEM) return false;
  return ops == VMOPS_NONE || ops == VMOPS_SHMEM;
}

/**
 * register (`modes` != 0) or unregister [start, start + len) for `ctx`
 * (`release`: close(uffd), only this context's VMAs, no checks). Caller: not under any lock.
 */
function uffd_change(ctx: u32, start: u64, len: u64, modes: u32, release: bool = false): i32 {
  charge(cost(COST_SYSCALL));
  if (!valid_ctx(ctx)) return -EINVAL;
  if (!valid_range(start, len)) return -EINVAL;
  const mm = load<u32>(ctx_addr(ctx) + UFFD_MM);
  const end = start + len;
  mmap_write_lock(mm);
  // first pass: every VMA in the range must accept it (holes are allowed, as in Linux)
  let any = false;
  let a = start;
  while (a < end) {
    const v = find_vma(mm, a);
    if (v < 0 || word_peek_plain<u64>(vma_addr(<u32>v), VMA_WORDS, VMA_START) >= end) break;
    const va = vma_addr(<u32>v);
    const vf = word_peek_plain<u32>(va, VMA_WORDS, VMA_FLAGS);
    any = true;
    if (release) { a = word_peek_plain<u64>(va, VMA_WORDS, VMA_END); continue; }
    // unregister checks the VMA against its own modes: a range with a VMA that could never be registered is -EINVAL
    if (!vma_can_userfault(word_peek_plain<u32>(va, VMA_WORDS, VMA_OPS), modes != 0 ? modes : vf & VM_UFFD_ANY)) { mmap_write_unlock(mm); return -EINVAL; }
    if (modes != 0) {
      const other = vma_uffd_ctx(vf);
      if (other >= 0 && <u32>other != ctx) { mmap_write_unlock(mm); return -EBUSY; }
    }
    a = word_peek_plain<u64>(va, VMA_WORDS, VMA_END);
  }
  if (!any) { mmap_write_unlock(mm); return -EINVAL; }
  const n = isolate_range(mm, start, end);
  if (n < 0) { mmap_write_unlock(mm); return -ENOMEM; }
  for (let i: u32 = 0; i < <u32>n; i++) {
    const s = mut_vma_at(i);
    const va = vma_addr(s);
    const vf = word_peek_plain<u32>(va, VMA_WORDS, VMA_FLAGS);
    // register: already this context's with every mode asked (a superset) is left as it is;
    // unregister: whatever context registered it (Linux unregisters another context's VMAs too,
    // waking that context's MISSING faults of the range)
    if (modes != 0 && vma_uffd_ctx(vf) == <i32>ctx && (vf & modes) == modes) continue;
    if (release && vma_uffd_ctx(vf) != <i32>ctx) continue;
    if (modes == 0 && vma_uffd_ctx(vf) >= 0 && <u32>vma_uffd_ctx(vf) != ctx && (vf & VM_UFFD_MISSING) != 0) {
      wake_userfault(<u32>vma_uffd_ctx(vf), word_peek_plain<u64>(va, VMA_WORDS, VMA_START), word_peek_plain<u64>(va, VMA_WORDS, VMA_END));
    }
    const nf = modes != 0
      ? (vf & ~(VM_UFFD_ANY | VM_UFFD_CTX_MASK)) | modes | ((ctx + 1) << VM_UFFD_CTX_SHIFT)
      : vf & ~(VM_UFFD_ANY | VM_UFFD_CTX_MASK);
    if (nf == vf) continue;
    // the VMA changes: per-VMA readers drain, speculative faults see an odd / new sequence
    vma_start_write(mm, s);
    vm_write_begin(s);
    vma_set_flags(s, nf, pgprot_pack(vm_get_page_prot(nf))); // userfaultfd_set_vm_flags(): vma_set_page_prot()
    // no longer WP-registered: the uffd-wp bits of its PTEs go (as userfaultfd_clear_vma does)
    if ((vf & VM_UFFD_WP) != 0 && (nf & VM_UFFD_WP) == 0) clear_uffd_wp(mm, word_peek_plain<u64>(va, VMA_WORDS, VMA_START), word_peek_plain<u64>(va, VMA_WORDS, VMA_END));
    vm_write_end(s);
  }
  for (let i: u32 = 0; i < <u32>n; i++) vma_merge(mm, mut_vma_at(i));
  mmap_write_unlock(mm);
  if (modes == 0) {
    // userfaultfd_unregister() wakes the faults of the range: they retry without userfaultfd
    wake_userfault(ctx, start, end);
    stat_inc(STAT_UFFD_UNREGISTER);
  } else stat_inc(STAT_UFFD_REGISTER);
  return 0;
}

/** drop _PAGE_UFFD_WP from the present PTEs of [start, end). Caller holds mmap_lock; takes each PTL. */
function clear_uffd_wp(mm: u32, start: u64, end: u64): void {
  for (let a = start; a < end; a += PAGE_SIZE) {
    if (walk_lockless(mm, a) != WALK_OK) continue;
    const t = <u32>walk_pte_table();
    const slot = walk_pte_slot();
    spin_lock(ptl_of(t));
    const e = atomic.load<u64>(slot);
    if (pte_present(e) && (e & _PAGE_UFFD_WP) != 0) set_pte(t, slot, e & ~_PAGE_UFFD_WP);
    spin_unlock(ptl_of(t));
  }
}

/** UFFDIO_REGISTER: `mode` is UFFDIO_REGISTER_MODE_* bits. 0 or -errno (-EINVAL, -EBUSY another context, -ENOMEM) */
export function uffdio_register(ctx: u32, start: u64, len: u64, mode: u32): i32 {
  if (mode == 0 || (mode & ~7) != 0) { charge(cost(COST_SYSCALL)); return -EINVAL; }
  let modes: u32 = 0;
  if (mode & UFFDIO_REGISTER_MODE_MISSING) modes |= VM_UFFD_MISSING;
  if (mode & UFFDIO_REGISTER_MODE_WP) modes |= VM_UFFD_WP;
  if (mode & UFFDIO_REGISTER_MODE_MINOR) modes |= VM_UFFD_MINOR;
  return uffd_change(ctx, start, len, modes);
}

/** UFFDIO_UNREGISTER */
export function uffdio_unregister(ctx: u32, start: u64, len: u64): i32 { return uffd_change(ctx, start, len, 0); }

/** close(uffd): unregister every VMA of the context and wake everyone (userfaultfd_release) */
export function uffd_release(ctx: u32): i32 {
  if (!valid_ctx(ctx)) return -EINVAL;
  const c = ctx_addr(ctx);
  word_poke<u32>(c, UFFD_WORDS, UFFD_RELEASED, 1); // uncharged today (README, issue 19)
  const r = uffd_change(ctx, 0x10000, USER_VA_END - 0x10000, 0, true);
  wake_userfault(ctx, 0, u64.MAX_VALUE);
  word_poke_add<u32>(c, UFFD_WORDS, UFFD_READ_WORD, 1); // uncharged today (README, issue 19)
  wake_waiters(c + UFFD_READ_WORD);
  return r == -EINVAL ? 0 : r; // nothing registered is not an error here
}

// ---- fault delivery -------------------------------------------------------

/**
 * handle_userfault(): caller holds mmap_lock for read (never a speculative
 * fault, never the VMA lock: lock_vma_under_rcu refuses armed VMAs) and no
 * PTL. Queues this CPU's message, releases the fault lock (the contract of
 * VM_FAULT_RETRY), parks until a resolution wakes it and returns
 * VM_FAULT_RETRY: the fault path retries from scratch. With
 * FAULT_FLAG_RETRY_NOWAIT it keeps the lock and returns at once; without
 * FAULT_FLAG_ALLOW_RETRY (a caller that cannot retry) it is SIGBUS.
 */
function handle_userfault__body(vmf: VmFault, reason: u32): i32 {
  const vf = word_peek<u32>(vma_addr(vmf.vma), VMA_WORDS, VMA_FLAGS);
  const ctx = vma_uffd_ctx(vf);
  // registered with faultline's mmap flag only (no context), UFFD_FEATURE_SIGBUS, or no retry possible: SIGBUS
  if (ctx < 0 || (atomic.load<u32>(ctx_addr(<u32>ctx) + UFFD_FEATURES) & UFFD_FEATURE_SIGBUS) != 0 ||
      (vmf.flags & FAULT_FLAG_ALLOW_RETRY) == 0) {
    stat_inc(STAT_UFFD_FAULT_SIGBUS);
    stat_inc(STAT_FAULT_SIGBUS);
    return VM_FAULT_SIGBUS;
  }
  if (vmf.flags & FAULT_FLAG_RETRY_NOWAIT) return VM_FAULT_RETRY;
  const c = ctx_addr(<u32>ctx);
  // release is unregistering the range: retry without userfaultfd
  if (word_peek<u32>(c, UFFD_WORDS, UFFD_RELEASED)) { release_fault_lock(vmf); return VM_FAULT_RETRY; } // uncharged today (README, issue 19)
  const me = cpu_id();
  const u = uwq(me);
  let fl: u32 = 0;
  if (vmf.flags & FAULT_FLAG_WRITE) fl |= UFFD_PAGEFAULT_FLAG_WRITE;
  if (reason == VM_UFFD_WP) fl |= UFFD_PAGEFAULT_FLAG_WP;
  if (reason == VM_UFFD_MINOR) fl |= UFFD_PAGEFAULT_FLAG_MINOR;
  // the exact address: the message reports it page aligned unless UFFD_FEATURE_EXACT_ADDRESS
  store<u64>(u + UWQ_ADDRESS, vmf.address);
  store<u32>(u + UWQ_FLAGS, fl);
  store<u32>(u + UWQ_CTX, <u32>ctx + 1);
  if (TEST_BUILD && (load<u32>(HDR_BASE + H_FLAGS) & FLAG_UFFD_QUEUE_STALL) != 0) { charge(50_000); sync_point(); }
  store<u64>(u + UWQ_T_QUEUED, now());
  spin_lock(c + UFFD_LOCK);
  shared_write(c, UFFD_WORDS);
  // append to the pending list (fault_pending_wqh)
  ext_set<u32>(UFFD_WORDS, u + UWQ_NEXT, 0);
  const tail = word_get<u32>(c, UFFD_WORDS, UFFD_TAIL);
  ext_set<u32>(UFFD_WORDS, u + UWQ_PREV, tail);
  if (tail != 0) ext_set<u32>(UFFD_WORDS, uwq(tail - 1) + UWQ_NEXT, me + 1); else word_set<u32>(c, UFFD_WORDS, UFFD_HEAD, me + 1);
  word_set<u32>(c, UFFD_WORDS, UFFD_TAIL, me + 1);
  word_set<u32>(c, UFFD_WORDS, UFFD_NPENDING, word_get<u32>(c, UFFD_WORDS, UFFD_NPENDING) + 1);
  atomic.store<u32>(u + UWQ_STATE, UWQ_PENDING);
  atomic.store<u32>(u + UWQ_WAIT, 1);
  word_add<u32>(c, UFFD_WORDS, UFFD_READ_WORD, 1);
  spin_unlock(c + UFFD_LOCK);
  // wake_up_poll(&ctx->fd_wqh): handlers blocked in read()
  wake_waiters(c + UFFD_READ_WORD);
  stat_inc(STAT_UFFD_FAULT);
  stat_inc(reason == VM_UFFD_WP ? STAT_UFFD_FAULT_WP : reason == VM_UFFD_MINOR ? STAT_UFFD_FAULT_MINOR : STAT_UFFD_FAULT_MISSING);
  // userfaultfd_must_wait(), still under the fault lock: a resolution that landed between the
  // fault's look at the PTE and the queueing woke nobody, but the PTE shows it
  if (!userfaultfd_must_wait(vmf.mm, vmf.address, reason)) {
    spin_lock(c + UFFD_LOCK);
    if (atomic.load<u32>(u + UWQ_STATE) == UWQ_PENDING) pending_unlink(c, me);
    atomic.store<u32>(u + UWQ_STATE, UWQ_IDLE);
    atomic.store<u32>(u + UWQ_WAIT, 0);
    spin_unlock(c + UFFD_LOCK);
  }
  // release_fault_lock(vmf), then schedule(): a resolution may already have woken us (the state says so)
  release_fault_lock(vmf);
  userfault_wait_if_queued();
  return VM_FAULT_RETRY;
}
/** handle_userfault() as a frame of the flame graph (obs.ts) */
@inline export function handle_userfault(vmf: VmFault, reason: u32): i32 {
  fn_enter(FN_HANDLE_USERFAULT);
  const r = handle_userfault__body(vmf, reason);
  fn_exit();
  return r;
}

/**
 * userfaultfd_must_wait() (Linux 6.12): a lockless look at the faulting PTE.
 * Wait unless it is present now (and, for a WP fault, writable): a none
 * PTE, or no page table yet, still needs the handler. Caller holds the fault lock.
 */
function userfaultfd_must_wait(mm: u32, address: u64, reason: u32): bool {
  const w = walk_lockless(mm, address);
  if (w == WALK_PMD_HUGE) return !pte_write(atomic.load<u64>(walk_pmd_slot())) && reason == VM_UFFD_WP;
  if (w != WALK_OK) return true;
  const e = atomic.load<u64>(walk_pte_slot());
  if (pte_none(e)) return true;
  return !pte_write(e) && reason == VM_UFFD_WP;
}

/**
 * shmem_fault()'s userfaultfd checks (shmem_getpage_gfp): a page in the cache
 * of a VM_UFFD_MINOR VMA, or a hole in a VM_UFFD_MISSING one, goes to the
 * handler. -1: no userfault, the fault goes on. Caller: do_fault, mmap_lock held.
 */
export function shmem_userfault(vmf: VmFault, file: u32, pgoff: u64): i32 {
  const vf = vmf.vma_flags;
  const p = pagecache_lookup(file, pgoff);
  if (p >= 0) {
    put_page(<u32>p);
    return (vf & VM_UFFD_MINOR) ? handle_userfault(vmf, VM_UFFD_MINOR) : -1;
  }
  if (p == -2) return -1; // past i_size: the fault's own SIGBUS
  return (vf & VM_UFFD_MISSING) ? handle_userfault(vmf, VM_UFFD_MISSING) : -1;
}

/**
 * The schedule() half of handle_userfault(), after it released the fault
 * lock: park until a resolution (or UFFDIO_WAKE, unregister, release)
 * woke this CPU. A CPU parked here is WAITING: the quantum barrier does not
 * wait for it; a handler that never answers leaves it parked, which the
 * deadlock detector / watchdog reports (WAIT_UFFD names the context).
 */
function userfault_wait_if_queued(): void {
  const u = uwq(cpu_id());
  if (atomic.load<u32>(u + UWQ_WAIT) == 0) return;
  const ctx = load<u32>(u + UWQ_CTX) - 1;
  wait_prepare(ctx_addr(ctx), WAIT_UFFD);
  // retry: woken for another reason (an IPI, the safety net)
  while (true) {
    const w = wait_token();
    if (atomic.load<u32>(u + UWQ_STATE) == UWQ_WOKEN) break;
    wait_sleep(w);
  }
  wait_finish();
  atomic.store<u32>(u + UWQ_WAIT, 0);
  atomic.store<u32>(u + UWQ_STATE, UWQ_IDLE);
  // the fault cannot go on before the resolution that woke it: resume at the
  // waker's time (deterministic mode's scheduler already did; parallel mode's
  // does not carry wake times, so without this a userfault cost its CPU nothing)
  const tw = atomic.load<u64>(u + UWQ_T_WOKEN);
  if (tw > now()) set_clock(tw);
  const t = now();
  store<u64>(u + UWQ_T_WOKEN, t);
  stat_add(STAT_UFFD_FAULT_WAIT_CYCLES, t - load<u64>(u + UWQ_T_QUEUED));
  if (tracing()) trace_event(TE_UFFD_WAIT, load<u64>(u + UWQ_T_QUEUED), t, ctx, load<u64>(u + UWQ_ADDRESS));
}

/** virtual time this CPU was last woken from a userfault */
export function uffd_last_woken(): u64 { return load<u64>(uwq(cpu_id()) + UWQ_T_WOKEN); }

/** virtual cycles from queueing to wake-up of this CPU's last userfault (0 if none yet) */
export function uffd_last_latency(): u64 {
  const u = uwq(cpu_id());
  const q = load<u64>(u + UWQ_T_QUEUED), w = load<u64>(u + UWQ_T_WOKEN);
  return w >= q ? w - q : 0;
}

/**
 * A speculative anonymous fault holds the PTL and finds VM_UFFD_MISSING set
 * (a registration landed after its start check). true: abort (reviewer's
 * rule); false: ignore it this time (the series' rule). Both counted.
 */
export function uffd_spf_race(): bool {
  if (setting(SET_UFFD_SPF_RACE) == UFFD_RACE_ABORT) { stat_inc(STAT_SPF_ABORT_UFFD_RACE); return true; }
  stat_inc(STAT_SPF_UFFD_RACE_IGNORED);
  return false;
}

/** test hook (FLAG_SPF_UFFD_STALL): hold a speculative fault with its PTL taken, before the userfaultfd check */
export function uffd_spf_stall(): void {
  if (!TEST_BUILD || (load<u32>(HDR_BASE + H_FLAGS) & FLAG_SPF_UFFD_STALL) == 0) return;
  charge(50_000);
  sync_point();
}

/** unlink CPU `c`'s uwq from the pending list. Caller holds the context lock. */
function pending_unlink(ca: u32, c: u32): void {
  const u = uwq(c);
  const p = ext_get<u32>(UFFD_WORDS, u + UWQ_PREV), n = ext_get<u32>(UFFD_WORDS, u + UWQ_NEXT);
  if (p != 0) ext_set<u32>(UFFD_WORDS, uwq(p - 1) + UWQ_NEXT, n); else word_set<u32>(ca, UFFD_WORDS, UFFD_HEAD, n);
  if (n != 0) ext_set<u32>(UFFD_WORDS, uwq(n - 1) + UWQ_PREV, p); else word_set<u32>(ca, UFFD_WORDS, UFFD_TAIL, p);
  word_set<u32>(ca, UFFD_WORDS, UFFD_NPENDING, word_get<u32>(ca, UFFD_WORDS, UFFD_NPENDING) - 1);
}

/**
 * wake_userfault(): wake every fault of `ctx` in [start, end), read or not
 * (a pending one leaves the queue unread). Returns how many were woken.
 */
export function wake_userfault(ctx: u32, start: u64, end: u64): u32 {
  const ca = ctx_addr(ctx);
  let n: u32 = 0;
  spin_lock(ca + UFFD_LOCK);
  shared_write(ca, UFFD_WORDS);
  const nc = ncpus();
  for (let c: u32 = 0; c < nc; c++) {
    const u = uwq(c);
    if (load<u32>(u + UWQ_CTX) != ctx + 1) continue;
    const st = atomic.load<u32>(u + UWQ_STATE);
    if (st != UWQ_PENDING && st != UWQ_READ) continue;
    const a = load<u64>(u + UWQ_ADDRESS);
    if (a < start || a >= end) continue;
    if (st == UWQ_PENDING) pending_unlink(ca, c);
    // the waker's time, read by the woken CPU (userfault_wait_if_queued) before it overwrites it
    atomic.store<u64>(u + UWQ_T_WOKEN, now());
    atomic.store<u32>(u + UWQ_STATE, UWQ_WOKEN);
    wake_cpu(c, now());
    n++;
  }
  spin_unlock(ca + UFFD_LOCK);
  stat_add(STAT_UFFD_WOKEN, n);
  return n;
}

// ---- read(uffd) -----------------------------------------------------------

/**
 * read() of one message (blocking): the faulting address | UFFD_PAGEFAULT_FLAG_*
 * (the address is page aligned). Returns -1 when the context was released, or
 * when the u32 at `running` (0: no such word) is 0 and nothing is pending:
 * the faulting side is done.
 */
export function uffd_read(ctx: u32, running: u32): i64 {
  charge(cost(COST_SYSCALL));
  if (!valid_ctx(ctx)) return -<i64>EINVAL;
  const ca = ctx_addr(ctx);
  // retry: woken by a new message, the end of the faulting side, or another handler took the message
  while (true) {
    shared_read(ca, UFFD_WORDS);
    if (word_load<u32>(ca, UFFD_WORDS, UFFD_NPENDING) != 0) {
      spin_lock(ca + UFFD_LOCK);
      const h = word_get<u32>(ca, UFFD_WORDS, UFFD_HEAD); // the unlink below writes the queue under this read's charge (README, issue 19)
      if (h != 0) {
        const c = h - 1;
        pending_unlink(ca, c);
        const u = uwq(c);
        atomic.store<u32>(u + UWQ_STATE, UWQ_READ);
        // a message is not read before it was queued (parallel mode: the reader's clock may lag the fault's)
        const tq = load<u64>(u + UWQ_T_QUEUED);
        if (tq > now()) set_clock(tq);
        store<u64>(u + UWQ_T_READ, now());
        const exact = load<u64>(u + UWQ_ADDRESS);
        const feat = load<u32>(ca + UFFD_FEATURES);
        const page = exact & ~(<u64>PAGE_SIZE - 1);
        store<u64>(PC + PC_UFFD_MSG_ADDR, (feat & UFFD_FEATURE_EXACT_ADDRESS) != 0 ? exact : page);
        store<u32>(PC + PC_UFFD_MSG_TID, (feat & UFFD_FEATURE_THREAD_ID) != 0 ? c : 0);
        const msg = page | <u64>load<u32>(u + UWQ_FLAGS);
        spin_unlock(ca + UFFD_LOCK);
        stat_inc(STAT_UFFD_MSG_READ);
        return <i64>msg;
      }
      spin_unlock(ca + UFFD_LOCK);
    }
    if (word_load<u32>(ca, UFFD_WORDS, UFFD_RELEASED) || (running != 0 && atomic.load<u32>(running) == 0)) return -1;
    // sleep on the read word (no lock taken while prepared: a contended lock is a wait of its own)
    wait_prepare(ca + UFFD_READ_WORD, WAIT_UFFD_READ);
    const w = wait_token();
    if (word_load<u32>(ca, UFFD_WORDS, UFFD_NPENDING) == 0 && word_load<u32>(ca, UFFD_WORDS, UFFD_RELEASED) == 0 &&
        (running == 0 || atomic.load<u32>(running) != 0)) wait_sleep(w);
    wait_finish();
  }
  return -1;
}

/** the address of the last message this CPU read (uffd_msg.arg.pagefault.address: exact with UFFD_FEATURE_EXACT_ADDRESS) */
export function uffd_msg_address(): u64 { return load<u64>(PC + PC_UFFD_MSG_ADDR); }
/** the faulting CPU of the last message this CPU read (uffd_msg.arg.pagefault.feat.ptid), 0 without UFFD_FEATURE_THREAD_ID */
export function uffd_msg_tid(): u32 { return load<u32>(PC + PC_UFFD_MSG_TID); }

/** the faulting side is done: decrement the u32 at `running`, wake the handlers of `ctx` at zero */
export function uffd_fault_side_done(ctx: u32, running: u32): void {
  if (atomic.sub<u32>(running, 1) == 1) {
    const ca = ctx_addr(ctx);
    word_poke_add<u32>(ca, UFFD_WORDS, UFFD_READ_WORD, 1); // uncharged today (README, issue 19)
    wake_waiters(ca + UFFD_READ_WORD);
  }
}

// ---- resolution: __mcopy_atomic --------------------------------------------

/** bytes the last UFFDIO_COPY / ZEROPAGE / CONTINUE of this CPU resolved (uffdio_copy.copy) */
export function uffd_last_copied(): u64 { return load<u64>(uwq(cpu_id()) + UWQ_COPIED); }

/** mcopy_atomic_install_pte() flags: the page was allocated for this copy (newly_allocated: it goes on the LRU) */
const MFILL_NEW_PAGE: u32 = 1;
/** ... and the PTE is installed write-protected for userfaultfd (uffd_flags_t MFILL_ATOMIC_WP) */
const MFILL_ATOMIC_WP: u32 = 2;

/**
 * mcopy_atomic_install_pte(): map `page` at `dst` of VMA `v` (table `t`,
 * slot `slot`) in the VMA's mm; `flags` MFILL_*. Caller holds mmap_lock for
 * read, not the PTL; the caller's reference on `page` becomes the mapping's on
 * success. 0, -EFAULT (past i_size, under the PTL), -EEXIST (a PTE is there).
 */
function mcopy_atomic_install_pte(v: u32, t: u32, slot: u32, dst: u64, page: u32, flags: u32): i32 {
  const mm = load<u32>(v + VMA_MM); // dst_vma->vm_mm
  const newly_allocated = (flags & MFILL_NEW_PAGE) != 0;
  const wp_copy = (flags & MFILL_ATOMIC_WP) != 0;
  const vf = word_peek_plain<u32>(v, VMA_WORDS, VMA_FLAGS);
  const vm_shared = (vf & VM_SHARED) != 0;
  const page_in_cache = (frame_flags(page) & PG_PAGECACHE) != 0;
  let writable = (vf & VM_WRITE) != 0;
  // for private, in the page cache: CoW (never write to the page cache through a private mapping)
  if (page_in_cache && !vm_shared) writable = false;
  // Linux 6.12: always dirty (6.0 "mm/shmem: unconditionally set pte dirty in
  // mfill_atomic_install_pte"); MODE_WP sets uffd-wp whatever VM_WRITE says, and
  // pte_mkuffd_wp() write-protects
  let e = pte_mkdirty(pte_wrprotect(pfn_pte(<u64>page, vm_get_page_prot(vf))));
  if (writable) e = pte_mkwrite(e);
  if (wp_copy) e = pte_wrprotect(e) | _PAGE_UFFD_WP;
  const ptl = ptl_of(t);
  spin_lock(ptl);
  if (word_peek_plain<u32>(v, VMA_WORDS, VMA_OPS) == VMOPS_SHMEM) {
    // serialize against truncate with the PTL
    const off = word_peek_plain<u64>(v, VMA_WORDS, VMA_PGOFF) + ((dst - word_peek_plain<u64>(v, VMA_WORDS, VMA_START)) >> PAGE_SHIFT);
    if (off >= <u64>i_size_pages(word_peek_plain<u32>(v, VMA_WORDS, VMA_FILE))) { spin_unlock(ptl); stat_inc(STAT_UFFD_EFAULT); return -EFAULT; }
  }
  if (!pte_none(atomic.load<u64>(slot))) { spin_unlock(ptl); stat_inc(STAT_UFFD_EEXIST); return -EEXIST; }
  if (page_in_cache) {
    atomic.add<i32>(frame(page) + FR_MAPCOUNT, 1); // page_add_file_rmap
  } else {
    // page_add_new_anon_rmap(): the page becomes PageAnon here
    atomic.or<u32>(frame(page) + FR_FLAGS, PG_ANON);
    atomic.store<i32>(frame(page) + FR_MAPCOUNT, 1);
  }
  // inc_mm_counter(mm_counter(page)) AFTER the rmap: mm_counter() reads PageAnon
  add_mm_counter(mm, (frame_flags(page) & PG_ANON) != 0, 1);
  if (newly_allocated) lru_cache_add(page);
  // set_pte_at() of an MTE VMA: a page without tag storage is mapped fault-on-access
  set_pte(t, slot, mte_sync_tags(e, vf));
  // no TLB flush: the entry was not present
  spin_unlock(ptl);
  stat_inc(STAT_UFFD_PAGE_INSTALLED);
  return 0;
}

/** mfill_zeropage_pte(): the zero page, read-only (private VMAs). Caller holds mmap_lock for read. */
function mfill_zeropage_pte(v: u32, t: u32, slot: u32, dst: u64): i32 {
  const e = pte_mkspecial(pfn_pte(<u64>ZERO_PFN, pte_wrprotect(vm_get_page_prot(word_peek_plain<u32>(v, VMA_WORDS, VMA_FLAGS)))));
  const ptl = ptl_of(t);
  spin_lock(ptl);
  if (word_peek_plain<u32>(v, VMA_WORDS, VMA_OPS) != VMOPS_NONE) {
    const off = word_peek_plain<u64>(v, VMA_WORDS, VMA_PGOFF) + ((dst - word_peek_plain<u64>(v, VMA_WORDS, VMA_START)) >> PAGE_SHIFT);
    if (off >= <u64>i_size_pages(word_peek_plain<u32>(v, VMA_WORDS, VMA_FILE))) { spin_unlock(ptl); stat_inc(STAT_UFFD_EFAULT); return -EFAULT; }
  }
  if (!pte_none(atomic.load<u64>(slot))) { spin_unlock(ptl); stat_inc(STAT_UFFD_EEXIST); return -EEXIST; }
  set_pte(t, slot, e);
  spin_unlock(ptl);
  stat_inc(STAT_UFFD_PAGE_INSTALLED);
  return 0;
}

/** is the page of `a` mapped and accessible */
function page_present(mm: u32, a: u64): bool {
  if (walk_lockless(mm, a) != WALK_OK) return false;
  const e = atomic.load<u64>(walk_pte_slot());
  return pte_present(e) && !pte_protnone(e);
}

/** is the handler's source page mapped (copy_from_user with page faults disabled would succeed); an unaligned one spans two pages */
function src_present(mm: u32, src: u64): bool {
  return page_present(mm, src) && ((src & (PAGE_SIZE - 1)) == 0 || page_present(mm, src + PAGE_SIZE - 1));
}

/** one page of __mcopy_atomic (mfill_atomic_pte). Caller holds mmap_lock for read. 0, -ENOENT (source not mapped), -errno */
function mfill_atomic_pte(mm: u32, v: u32, dst: u64, src: u64, mode: u32, wp_copy: bool): i32 {
  const wp = wp_copy ? MFILL_ATOMIC_WP : 0;
  const slot = pte_alloc_walk(mm, dst);
  if (slot == 0) return -ENOMEM;
  const t = <u32>walk_pte_table();
  const vf = word_peek_plain<u32>(v, VMA_WORDS, VMA_FLAGS);
  const file = word_peek_plain<u32>(v, VMA_WORDS, VMA_FILE);
  const pgoff = word_peek_plain<u64>(v, VMA_WORDS, VMA_PGOFF) + ((dst - word_peek_plain<u64>(v, VMA_WORDS, VMA_START)) >> PAGE_SHIFT);
  if (mode == MCOPY_CONTINUE) {
    // mcontinue_atomic_pte(): the page must be in the cache already (SGP_READ: no allocation)
    const page = pagecache_lookup(file, pgoff);
    if (page < 0) { stat_inc(STAT_UFFD_EFAULT); return -EFAULT; }
    const r = mcopy_atomic_install_pte(v, t, slot, dst, <u32>page, wp);
    if (r != 0) put_page(<u32>page);
    return r;
  }
  if ((vf & VM_SHARED) == 0) {
    if (mode == MCOPY_ZEROPAGE) return mfill_zeropage_pte(v, t, slot, dst);
    // mcopy_atomic_pte(): a new anonymous page (cases 1 and 2), copied from the handler's buffer
    if (src != 0 && !src_present(mm, src)) return -ENOENT;
    const page = alloc_page(0, false);
    if (page < 0) return -ENOMEM;
    charge(cost(COST_PAGE_COPY));
    const r = mcopy_atomic_install_pte(v, t, slot, dst, <u32>page, MFILL_NEW_PAGE | wp);
    if (r != 0) put_page(<u32>page);
    return r;
  }
  // shmem_mfill_atomic_pte(): a new page INTO the page cache (case 5), then mapped
  if (mode == MCOPY_NORMAL && src != 0 && !src_present(mm, src)) return -ENOENT;
  if (pgoff >= <u64>i_size_pages(file)) { stat_inc(STAT_UFFD_EFAULT); return -EFAULT; }
  const page = alloc_page(PG_PAGECACHE, mode == MCOPY_ZEROPAGE);
  if (page < 0) return -ENOMEM;
  if (mode == MCOPY_NORMAL) charge(cost(COST_PAGE_COPY));
  const a = pagecache_add(file, pgoff, <u32>page);
  if (a != 0) { put_page(<u32>page); if (a == -EEXIST) stat_inc(STAT_UFFD_EEXIST); else stat_inc(STAT_UFFD_EFAULT); return a == -EEXIST ? -EEXIST : -EFAULT; }
  const r = mcopy_atomic_install_pte(v, t, slot, dst, <u32>page, MFILL_NEW_PAGE | wp);
  if (r != 0) {
    // delete_from_page_cache(): nobody mapped it yet
    pagecache_delete_range(file, pgoff, pgoff + 1);
    put_page(<u32>page);
  }
  return r;
}

/** validate_unaligned_range(): len page-sized multiple, not 0; [start, start + len) inside [mmap_min_addr, TASK_SIZE) */
function valid_unaligned_range(start: u64, len: u64): bool {
  return (len & (PAGE_SIZE - 1)) == 0 && len != 0 && start >= MMAP_MIN_ADDR && start < USER_VA_END && len <= USER_VA_END - start;
}
/** validate_range(): the same, and start page aligned */
function valid_range(start: u64, len: u64): bool { return (start & (PAGE_SIZE - 1)) == 0 && valid_unaligned_range(start, len); }

/**
 * __mcopy_atomic(): [dst, dst + len) page by page. The destination VMA must
 * contain the whole range and be registered with a userfaultfd, not
 * necessarily `ctx` (-ENOENT otherwise: it was unmapped or unregistered meanwhile). A source page that is not
 * mapped makes the copy drop mmap_lock, fault it in, and retry (the -ENOENT
 * retry of copy_from_user with page faults disabled). Returns 0 when all was
 * done, -EAGAIN after a partial range (uffd_last_copied() says how much),
 * or -errno when nothing was. Wakes the faults of the copied range unless DONTWAKE.
 */
function mcopy_atomic(ctx: u32, dst: u64, src: u64, len: u64, mode: u32, flags: u32): i32 {
  charge(cost(COST_SYSCALL));
  store<u64>(uwq(cpu_id()) + UWQ_COPIED, 0);
  if (!valid_ctx(ctx)) return -EINVAL;
  if (!valid_range(dst, len)) return -EINVAL;
  // the source may be unaligned (Linux 6.6+: validate_unaligned_range)
  if (src != 0 && !valid_unaligned_range(src, len)) return -EINVAL;
  const wp_copy = (flags & UFFDIO_COPY_MODE_WP) != 0;
  const mm = load<u32>(ctx_addr(ctx) + UFFD_MM);
  let copied: u64 = 0;
  let err: i32 = 0;
  // retry: the source page had to be faulted in with mmap_lock dropped
  while (copied < len) {
    mmap_read_lock(mm);
    const vma = find_vma(mm, dst + copied);
    let v: u32 = 0;
    if (vma >= 0) v = vma_addr(<u32>vma);
    // find_dst_vma(): the whole range in one VMA registered with a userfaultfd (any context)
    if (vma < 0 || dst < word_peek_plain<u64>(v, VMA_WORDS, VMA_START) || dst + len > word_peek_plain<u64>(v, VMA_WORDS, VMA_END) ||
        vma_uffd_ctx(word_peek_plain<u32>(v, VMA_WORDS, VMA_FLAGS)) < 0) { mmap_read_unlock(mm); err = -ENOENT; stat_inc(STAT_UFFD_ENOENT); break; }
    const vf = word_peek_plain<u32>(v, VMA_WORDS, VMA_FLAGS);
    const ops = word_peek_plain<u32>(v, VMA_WORDS, VMA_OPS);
    if ((ops != VMOPS_NONE && ops != VMOPS_SHMEM) || (mode == MCOPY_CONTINUE && ops != VMOPS_SHMEM) ||
        (wp_copy && (vf & VM_UFFD_WP) == 0)) { mmap_read_unlock(mm); err = -EINVAL; break; }
    let r: i32 = 0;
    while (copied < len) {
      r = mfill_atomic_pte(mm, v, dst + copied, src == 0 ? 0 : src + copied, mode, wp_copy);
      if (r != 0) break;
      copied += PAGE_SIZE;
      store<u64>(uwq(cpu_id()) + UWQ_COPIED, copied);
    }
    mmap_read_unlock(mm);
    if (r == -ENOENT) {
      // copy_from_user() faulted: fault the source page in with mmap_lock dropped, then retry
      stat_inc(STAT_UFFD_COPY_RETRY);
      const sa = src + copied;
      if (access(mm, sa, false) != 0 || ((sa & (PAGE_SIZE - 1)) != 0 && access(mm, sa + PAGE_SIZE - 1, false) != 0)) { err = -EFAULT; break; }
      continue;
    }
    err = r;
    break;
  }
  if (copied > 0 && (flags & UFFDIO_COPY_MODE_DONTWAKE) == 0) wake_userfault(ctx, dst, dst + copied);
  if (copied == len) return 0;
  return copied > 0 ? -EAGAIN : err;
}

/** UFFDIO_COPY: `src` 0 = a buffer the handler has mapped already; else its address (may need faulting in) */
export function uffdio_copy(ctx: u32, dst: u64, src: u64, len: u64, mode: u32): i32 {
  stat_inc(STAT_UFFD_COPY);
  if (mode & ~(UFFDIO_COPY_MODE_DONTWAKE | UFFDIO_COPY_MODE_WP)) { charge(cost(COST_SYSCALL)); return -EINVAL; }
  return mcopy_atomic(ctx, dst, src, len, MCOPY_NORMAL, mode);
}

/** UFFDIO_ZEROPAGE (mode: DONTWAKE only) */
export function uffdio_zeropage(ctx: u32, dst: u64, len: u64, mode: u32): i32 {
  stat_inc(STAT_UFFD_ZEROPAGE);
  if (mode & ~UFFDIO_COPY_MODE_DONTWAKE) { charge(cost(COST_SYSCALL)); return -EINVAL; }
  return mcopy_atomic(ctx, dst, 0, len, MCOPY_ZEROPAGE, mode);
}

/** UFFDIO_CONTINUE (mode: DONTWAKE, WP) */
export function uffdio_continue(ctx: u32, dst: u64, len: u64, mode: u32): i32 {
  stat_inc(STAT_UFFD_CONTINUE);
  if (mode & ~(UFFDIO_COPY_MODE_DONTWAKE | UFFDIO_COPY_MODE_WP)) { charge(cost(COST_SYSCALL)); return -EINVAL; }
  return mcopy_atomic(ctx, dst, 0, len, MCOPY_CONTINUE, mode);
}

/**
 * UFFDIO_WRITEPROTECT (userfaultfd_writeprotect + mwriteprotect_range, Linux
 * 6.12): set (mode WP) or clear the uffd-wp bit of the present PTEs of every
 * VMA the range meets (holes skipped), under each PTL. Each VMA must be
 * registered WP (with any context): -ENOENT at the first that is not (the
 * VMAs before it stay changed), or when no VMA meets the range. Setting
 * removes write and flushes the TLBs; clearing makes a PTE writable at once
 * where can_change_pte_writable() allows (MM_CP_TRY_CHANGE_WRITABLE), then
 * wakes the range unless DONTWAKE. WP together with DONTWAKE is -EINVAL.
 */
export function uffdio_writeprotect(ctx: u32, start: u64, len: u64, mode: u32): i32 {
  charge(cost(COST_SYSCALL));
  stat_inc(STAT_UFFD_WRITEPROTECT);
  if (!valid_ctx(ctx)) return -EINVAL;
  if (!valid_range(start, len)) return -EINVAL;
  if (mode & ~(UFFDIO_WRITEPROTECT_MODE_WP | UFFDIO_WRITEPROTECT_MODE_DONTWAKE)) return -EINVAL;
  const set = (mode & UFFDIO_WRITEPROTECT_MODE_WP) != 0;
  if (set && (mode & UFFDIO_WRITEPROTECT_MODE_DONTWAKE) != 0) return -EINVAL;
  const mm = load<u32>(ctx_addr(ctx) + UFFD_MM);
  const end = start + len;
  mmap_read_lock(mm);
  let err: i32 = -ENOENT;
  let a = start;
  // for_each_vma_range()
  while (a < end) {
    const vma = find_vma(mm, a);
    if (vma < 0) break;
    const v = vma_addr(<u32>vma);
    const vs = word_peek_plain<u64>(v, VMA_WORDS, VMA_START), ve = word_peek_plain<u64>(v, VMA_WORDS, VMA_END);
    if (vs >= end) break;
    const vf = word_peek_plain<u32>(v, VMA_WORDS, VMA_FLAGS);
    if ((vf & VM_UFFD_WP) == 0) { err = -ENOENT; break; }
    const s0 = vs > a ? vs : a;
    const e0 = ve < end ? ve : end;
    uffd_wp_range(mm, vf, s0, e0, set);
    err = 0;
    a = ve;
  }
  mmap_read_unlock(mm);
  if (err != 0) { if (err == -ENOENT) stat_inc(STAT_UFFD_ENOENT); return err; }
  if (!set && (mode & UFFDIO_WRITEPROTECT_MODE_DONTWAKE) == 0) wake_userfault(ctx, start, end);
  return 0;
}

/** uffd_wp_range(): one VMA's part [start, end). Caller holds mmap_lock for read. */
function uffd_wp_range(mm: u32, vf: u32, start: u64, end: u64, set: bool): void {
  let changed = false;
  for (let a = start; a < end; a += PAGE_SIZE) {
    if (walk_lockless(mm, a) != WALK_OK) continue;
    const t = <u32>walk_pte_table();
    const slot = walk_pte_slot();
    const ptl = ptl_of(t);
    spin_lock(ptl);
    const e = atomic.load<u64>(slot);
    if (pte_present(e) && !pte_protnone(e)) {
      let ne = set ? pte_wrprotect(e) | _PAGE_UFFD_WP : e & ~_PAGE_UFFD_WP;
      // MM_CP_TRY_CHANGE_WRITABLE (vma_wants_manual_pte_write_upgrade: every VM_WRITE VMA registered WP)
      if (!set && !pte_write(ne) && can_change_pte_writable(vf, ne)) ne = pte_mkwrite(ne);
      if (ne != e) { charge(cost(COST_PTE_OP)); set_pte(t, slot, ne); changed = true; }
    }
    spin_unlock(ptl);
  }
  // removing write needs every TLB to forget the writable translation
  if (changed && set) flush_tlb_mm_range(mm, start >> PAGE_SHIFT, end >> PAGE_SHIFT);
}

/** UFFDIO_WAKE: wake the faults of [start, start + len) (after -EEXIST, or DONTWAKE resolutions) */
export function uffdio_wake(ctx: u32, start: u64, len: u64): i32 {
  charge(cost(COST_SYSCALL));
  stat_inc(STAT_UFFD_WAKE);
  if (!valid_ctx(ctx)) return -EINVAL;
  if (!valid_range(start, len)) return -EINVAL;
  wake_userfault(ctx, start, start + len);
  return 0;
}

// ---- inspection (host, tests) ----------------------------------------------

/** pending (unread) messages of `ctx` */
export function uffd_npending(ctx: u32): u32 { return word_peek<u32>(ctx_addr(ctx), UFFD_WORDS, UFFD_NPENDING); }
/** CPU `cpu`'s uwq state (UWQ_*) and the context + 1 it waits on */
export function uffd_uwq_state(cpu: u32): u32 { return load<u32>(uwq(cpu) + UWQ_STATE); }
export function uffd_uwq_ctx(cpu: u32): u32 { return load<u32>(uwq(cpu) + UWQ_CTX); }
export function uffd_uwq_address(cpu: u32): u64 { return load<u64>(uwq(cpu) + UWQ_ADDRESS); }
export function uffd_uwq_wait(cpu: u32): u32 { return load<u32>(uwq(cpu) + UWQ_WAIT); }
export function uffd_ctx_count(): u32 { const n = load<u32>(HDR_BASE + H_UFFD_NEXT); const m = load<u32>(HDR_BASE + H_UFFD_MAX); return n < m ? n : m; }
export function uffd_ctx_lock(ctx: u32): u32 { return ctx_addr(ctx) + UFFD_LOCK; }
// the number of CPUs a uwq array holds
export const UFFD_MAX_CPUS: u32 = MAX_CPUS;
