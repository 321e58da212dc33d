// VMAs (vm_area_struct) in shared memory: the slot pool, and each mm's index
// of VMAs with locked and lockless lookup.
//
// Slots (layout.ts VMA_*) live in the vmas region; free ones sit on a
// lock-free free list at H_VMA_FREE. A slot that was ever reachable by a
// lockless reader goes back only through RCU (rcu.ts): unlink -> refcount 0 ->
// call_rcu_vma -> grace period -> free list.
//
// The index of an mm is a sorted array of slot+1 by vm_start (MM_VMA_INDEX,
// MM_NVMAS entries, at most max_vmas_per_mm), standing in for the kernel's
// maple tree (Linux 6.1+) or rb-tree (the SPF series). Like a maple tree in
// RCU mode, a writer never changes the array a reader may be searching: it
// builds the next one in the other of two buffers and publishes it with one
// atomic store (MM_VMA_PUB = (count << 1) | buffer). It is guarded by:
//   - mmap_lock: writers (link, unlink, split, merge) hold it for write;
//     locked lookups hold it for read or write;
//   - mm_seq (MM_SEQ): every change of the index or of a linked VMA's range
//     happens inside write_seqcount_begin/end(mm_seq). A buffer is rewritten
//     only by the second write section after the one that retired it, so a
//     lockless reader (inside rcu_read_lock) that sampled mm_seq before
//     reading MM_VMA_PUB searched an intact snapshot unless mm_seq moved two
//     (one, if it was odd) past its sample: it never waits for a writer
//     (find_vma_lockless, the per-VMA lookup); SPF v12's find_vma_rcu()
//     is a seqlock reader instead and does wait (read_seqbegin);
//   - mm_rb_lock (MM_RB_LOCK), SPF v11 only: tree changes also take it for
//     write, and get_vma() searches under it for read;
//   - vm_sequence (VMA_SEQ) of each VMA, spf only: bumped around any change
//     of that VMA's range, flags or liveness (split, merge, unlink), so a
//     speculative fault that holds the VMA notices (vma_has_changed).
// References: the index holds one (refcount 1 while LIVE); get_vma() takes
// more. The last put_vma() of an unlinked VMA queues it for RCU freeing.
//
// Virtual time: each search step costs COST_VMA_LOOKUP_STEP plus a read of
// the candidate's VMA_LINE (a transfer if a writer changed it); writers take
// the line exclusive and bump the sequence lines. The array shift on insert
// and remove (a copy into the other buffer) is not charged: it is this
// emulator's stand-in for a tree update (a maple-tree store copies one node)
// whose cost the search steps and sequence writes already approximate; the
// reads of mm_seq's line by lockless readers stand for reading the tree's
// root, which every update rewrites. The VMA's fields go through shared.ts
// naming its line (layout.ts VMA_WORDS): word_load/store under a charged read
// or write of the line (a search step, vm_write_begin()); word_peek/poke where
// no charge is made today (the writer's reads under mmap_lock, a slot's state
// while it is private or linked, the found VMA's range after a lookup, the
// debug checksum and checks).

import {
  RW_WORDS, HDR_BASE, H_VMAS_BASE, H_NVMAS, H_NMM, H_MAX_VMAS_PER_MM, H_VMA_INDEX_BASE, H_VMA_FREE, PAGE_SHIFT,
  VMA_START, VMA_END, VMA_FLAGS, VMA_PROT, VMA_ANON, VMA_OPS, VMA_PGOFF, VMA_FILE, VMA_MPOL, VMA_SEQ, VMA_REF,
  VMA_LOCK_SEQ, VMA_STATE, VMA_NEXT, VMA_LOCK, VMA_MM, VMA_GEN, VMA_CSUM, VMA_WORDS, VMA_SIZE,
  VMA_STATE_FREE, VMA_STATE_LIVE, VMA_STATE_DETACHED, VMA_STATE_NEW, VMOPS_NONE, MPOL_DEFAULT,
  MM_MMAP_LOCK, MM_SEQ, MM_NVMAS, MM_VMA_INDEX, MM_VMA_PUB, MM_VMA_BUF0, MM_RB_LOCK, SET_SPF_LOOKUP, SPF_LOOKUP_V11, setting, RW_COUNT, RW_WRITER, RWSEM_WRITER, SQ_SEQ, SQ_WORDS,
  PC_WAKE, PC_IPI_PENDING, FLAG_VMA_UNLINK_STALL, mm_addr,
} from './layout';
import { TEST_BUILD, header_flags } from './build_flags';
import { cpu_id, cpu_local, PC, now, DETERMINISTIC, charge, charge_cost, set_clock, stat_inc } from './cpu';
import {
  COST_VMA_LOOKUP_STEP, LOCK_CLASS_VMA_READ,
  STAT_VMA_ALLOC, STAT_VMA_FREE, STAT_VMA_ALLOC_FAIL, STAT_VMA_LOOKUP, STAT_VMA_LOOKUP_LOCKLESS,
  STAT_VMA_LOCKLESS_RETRY, STAT_VMA_SPLIT, STAT_VMA_MERGE,
} from './generated';
import { fl_pop, fl_push, fl_push_init, fl_count } from './freelist';
import { line_busy_until } from './cacheline';
import { check_stop } from './stop';
import { spin_wait_round, wait_finish, sync_point } from './wait';
import { irqs_enabled, service_ipis } from './ipi';
import { seqcount_init, write_seqcount_begin, write_seqcount_end, raw_read_seqcount, read_seqcount_retry } from './seqcount';
import { refcount_set, refcount_inc_not_zero, refcount_dec } from './refcount';
import { rwsem_init, down_read, up_read, down_write, up_write } from './rwsem';
import { rcu_read_lock, rcu_read_unlock, rcu_reclaim, call_rcu_vma } from './rcu';
import { vma_start_write } from './pervma';
import { strategy, STRATEGY_SPF } from './strategy';
import { FN_FIND_VMA, FN_GET_VMA } from './generated';
import { fn_enter, fn_exit } from './obs';
import { shared_line, shared_read, shared_write, word_load, word_store, word_peek, word_poke, word_init } from './shared';

// error codes (negated errno values, as the kernel returns them)
export const VMA_E_NOMEM: i32 = -12; // the mm's index is full
export const VMA_E_EXIST: i32 = -17; // overlaps a linked VMA
export const VMA_E_INVAL: i32 = -22; // bad range / address, or slot not in the expected state

@inline export function vmas_base(): u32 { return load<u32>(HDR_BASE + H_VMAS_BASE); }
@inline function nr_vma_slots(): u32 { return load<u32>(HDR_BASE + H_NVMAS); }
@inline function max_vmas(): u32 { return load<u32>(HDR_BASE + H_MAX_VMAS_PER_MM); }

/** address of VMA slot `slot` */
export function vma_addr(slot: u32): u32 { return vmas_base() + slot * VMA_SIZE; }

// ------------------------------------------------------------ the pool ---

/** host-side initialisation (machine_init): every slot free, every mm's index empty */
export function vmas_init(): void {
  const n = nr_vma_slots();
  // push in reverse so pops hand out 0, 1, 2, ... (readable test output)
  for (let i: i32 = <i32>n - 1; i >= 0; i--) {
    const a = vma_addr(<u32>i);
    word_init<u32>(a, VMA_WORDS, VMA_STATE, VMA_STATE_FREE);
    store<u32>(a + VMA_GEN, 0);
    seqcount_init(a + VMA_SEQ);
    refcount_set(a + VMA_REF, 0);
    rwsem_init(a + VMA_LOCK, LOCK_CLASS_VMA_READ);
    fl_push_init(HDR_BASE + H_VMA_FREE, vmas_base(), VMA_SIZE, VMA_NEXT, <u32>i);
  }
  const nmm = load<u32>(HDR_BASE + H_NMM);
  const max = max_vmas();
  for (let m: u32 = 0; m < nmm; m++) {
    const mm = mm_addr(m);
    const idx = load<u32>(HDR_BASE + H_VMA_INDEX_BASE) + m * max * 8; // two buffers
    store<u32>(mm + MM_VMA_BUF0, idx);
    store<u32>(mm + MM_VMA_INDEX, idx);
    store<u32>(mm + MM_NVMAS, 0);
    store<u32>(mm + MM_VMA_PUB, 0);
    memory.fill(idx, 0, max * 8);
  }
}

/**
 * A fresh slot (state NEW, refcount 0, generation bumped), or -1 when none is
 * left (counted as vma_alloc_fail). An empty free list first reclaims slots
 * whose RCU grace period has passed; it never waits for readers.
 */
export function vma_alloc(): i32 {
  const fl = HDR_BASE + H_VMA_FREE;
  let i = fl_pop(fl, vmas_base(), VMA_SIZE, VMA_NEXT, 0);
  // retry: what we reclaimed may have been taken by another CPU before our pop
  while (i < 0 && rcu_reclaim() > 0) i = fl_pop(fl, vmas_base(), VMA_SIZE, VMA_NEXT, 0);
  if (i < 0) { stat_inc(STAT_VMA_ALLOC_FAIL); return -1; }
  const a = vma_addr(<u32>i);
  atomic.add<u32>(a + VMA_GEN, 1);
  refcount_set(a + VMA_REF, 0);
  word_poke<u32>(a, VMA_WORDS, VMA_STATE, VMA_STATE_NEW);
  stat_inc(STAT_VMA_ALLOC);
  return i;
}

/**
 * Return a slot to the free list. Caller: no CPU can reach it any more (its
 * grace period is over, or it was never linked). rcu.ts and vma_free_new only.
 */
export function vma_free(slot: u32): void {
  word_poke<u32>(vma_addr(slot), VMA_WORDS, VMA_STATE, VMA_STATE_FREE);
  fl_push(HDR_BASE + H_VMA_FREE, vmas_base(), VMA_SIZE, VMA_NEXT, slot);
  stat_inc(STAT_VMA_FREE);
}

/** Free a slot that was allocated but never linked (nobody can have seen it: no grace period). */
export function vma_free_new(slot: u32): void {
  assert(word_peek<u32>(vma_addr(slot), VMA_WORDS, VMA_STATE) == VMA_STATE_NEW, 'vma_free_new: slot was linked (unlink it instead)');
  vma_free(slot);
}

/** free slots right now (not counting those waiting for a grace period) */
export function nr_free_vmas(): i32 { return fl_count(HDR_BASE + H_VMA_FREE); }

/**
 * debug checksum of a VMA's fields (VMA_CSUM): a torn read is caught by a
 * mismatch. anon_vma is not covered: anon_vma_prepare() sets it under
 * mmap_lock for READ (outside vm_sequence), as in the kernel.
 */
export function vma_csum_of(start: u64, end: u64, flags: u32, prot: u32, ops: u32, file: u32, pgoff: u64, mpol: u32): u32 {
  let h: u64 = 0xcbf29ce484222325;
  h = (h ^ start) * 0x100000001b3;
  h = (h ^ end) * 0x100000001b3;
  h = (h ^ ((<u64>flags << 32) | prot)) * 0x100000001b3;
  h = (h ^ <u64>ops) * 0x100000001b3;
  h = (h ^ ((<u64>file << 32) | mpol)) * 0x100000001b3;
  h = (h ^ pgoff) * 0x100000001b3;
  return <u32>(h ^ (h >> 32));
}

function vma_csum(a: u32): u32 {
  return vma_csum_of(
    word_peek<u64>(a, VMA_WORDS, VMA_START), word_peek<u64>(a, VMA_WORDS, VMA_END),
    word_peek<u32>(a, VMA_WORDS, VMA_FLAGS), word_peek<u32>(a, VMA_WORDS, VMA_PROT),
    word_peek<u32>(a, VMA_WORDS, VMA_OPS),
    word_peek<u32>(a, VMA_WORDS, VMA_FILE), word_peek<u64>(a, VMA_WORDS, VMA_PGOFF), word_peek<u32>(a, VMA_WORDS, VMA_MPOL));
}

/*
 * Filling a NEW slot, as Linux builds a VMA: vm_area_alloc() -> vma_init(vma, mm),
 * then vma_set_range(), vm_flags_init() + vm_page_prot, vma->vm_file / vm_ops,
 * vma_set_policy(); __split_vma() starts from vm_area_dup(). The slot is not linked
 * yet, so no other CPU can see it: vma_init() takes its line exclusively once
 * (shared_write; its words: layout.ts VMA_WORDS) and the setters' stores are
 * that same private line's, not free shared accesses. Each setter refreshes the
 * debug checksum (VMA_CSUM; uncharged); vm_area_dup() computes it once.
 */

/** vma_init(vma, mm): an anonymous, unlocked, default-policy VMA of `mm` with an empty range. Caller: `slot` fresh from vma_alloc(). */
export function vma_init(slot: u32, mm: u32): void {
  const a = vma_addr(slot);
  assert(word_peek<u32>(a, VMA_WORDS, VMA_STATE) == VMA_STATE_NEW, 'vma_init: slot is not freshly allocated');
  vma_init_fields(a, mm);
  atomic.store<u32>(a + VMA_CSUM, vma_csum(a));
}

/** vma_init()'s stores (the checksum is the caller's) */
function vma_init_fields(a: u32, mm: u32): void {
  shared_write(a, VMA_WORDS);
  word_store<u64>(a, VMA_WORDS, VMA_START, 0);
  word_store<u64>(a, VMA_WORDS, VMA_END, 0);
  word_store<u32>(a, VMA_WORDS, VMA_FLAGS, 0);
  word_store<u32>(a, VMA_WORDS, VMA_PROT, 0);
  word_store<u32>(a, VMA_WORDS, VMA_ANON, 0);
  word_store<u32>(a, VMA_WORDS, VMA_OPS, VMOPS_NONE);
  word_store<u64>(a, VMA_WORDS, VMA_PGOFF, 0);
  word_store<u32>(a, VMA_WORDS, VMA_FILE, 0);
  word_store<u32>(a, VMA_WORDS, VMA_MPOL, MPOL_DEFAULT);
  atomic.store<u32>(a + VMA_MM, mm); // not a word of the hot line; the slot is private (NEW)
  word_store<u32>(a, VMA_WORDS, VMA_LOCK_SEQ, 0xffffffff); // never write-locked (per-VMA locks)
}

/** vma_set_range(): [start, end) in bytes, `pgoff` in pages. Caller: `slot` NEW (vma_init'ed, not linked). */
export function vma_set_range(slot: u32, start: u64, end: u64, pgoff: u64): void {
  const a = new_vma(slot);
  set_range(a, start, end, pgoff);
  atomic.store<u32>(a + VMA_CSUM, vma_csum(a));
}
@inline function set_range(a: u32, start: u64, end: u64, pgoff: u64): void {
  word_store<u64>(a, VMA_WORDS, VMA_START, start);
  word_store<u64>(a, VMA_WORDS, VMA_END, end);
  word_store<u64>(a, VMA_WORDS, VMA_PGOFF, pgoff);
}

/** vm_flags_init() and vm_page_prot (`prot`: pgprot_pack'ed). Caller: `slot` NEW (a linked VMA's change: vma_set_flags()). */
export function vm_flags_init(slot: u32, flags: u32, prot: u32): void {
  const a = new_vma(slot);
  set_flags(a, flags, prot);
  atomic.store<u32>(a + VMA_CSUM, vma_csum(a));
}
@inline function set_flags(a: u32, flags: u32, prot: u32): void {
  word_store<u32>(a, VMA_WORDS, VMA_FLAGS, flags);
  word_store<u32>(a, VMA_WORDS, VMA_PROT, prot);
}

/** vma->vm_file and vm_ops (call_mmap()'s choice: VMOPS_*). Caller: `slot` NEW. */
export function vma_set_file(slot: u32, ops: u32, file: u32): void {
  const a = new_vma(slot);
  set_file(a, ops, file);
  atomic.store<u32>(a + VMA_CSUM, vma_csum(a));
}
@inline function set_file(a: u32, ops: u32, file: u32): void {
  word_store<u32>(a, VMA_WORDS, VMA_OPS, ops);
  word_store<u32>(a, VMA_WORDS, VMA_FILE, file);
}

/** vma_set_policy(): the task mempolicy the VMA carries (MPOL_*). Caller: `slot` NEW. */
export function vma_set_policy(slot: u32, mpol: u32): void {
  const a = new_vma(slot);
  word_store<u32>(a, VMA_WORDS, VMA_MPOL, mpol);
  atomic.store<u32>(a + VMA_CSUM, vma_csum(a));
}

/** vma->anon_vma of a NEW slot (1: prepared), as vm_area_dup() copies it; a linked VMA's is set by anon_vma_prepare(). */
export function vma_set_anon_vma(slot: u32, anon: u32): void {
  word_store<u32>(new_vma(slot), VMA_WORDS, VMA_ANON, anon);
}

/**
 * vm_area_dup(): a NEW slot of the same mm holding a copy of `orig`'s fields
 * (range, flags, page protection, anon_vma, file, ops, policy); -1 when no slot
 * is free. Caller holds mmap_lock for write (orig's fields are stable).
 */
export function vm_area_dup(orig: u32): i32 {
  const ns = vma_alloc();
  if (ns < 0) return -1;
  const n = <u32>ns;
  const o = vma_addr(orig);
  const a = vma_addr(n);
  assert(word_peek<u32>(a, VMA_WORDS, VMA_STATE) == VMA_STATE_NEW, 'vm_area_dup: slot is not freshly allocated');
  // orig's fields: free reads today (the caller's mmap_lock write section; README, issue 19)
  vma_init_fields(a, atomic.load<u32>(o + VMA_MM));
  set_range(a, word_peek<u64>(o, VMA_WORDS, VMA_START), word_peek<u64>(o, VMA_WORDS, VMA_END), word_peek<u64>(o, VMA_WORDS, VMA_PGOFF));
  set_flags(a, word_peek<u32>(o, VMA_WORDS, VMA_FLAGS), word_peek<u32>(o, VMA_WORDS, VMA_PROT));
  word_store<u32>(a, VMA_WORDS, VMA_ANON, word_peek<u32>(o, VMA_WORDS, VMA_ANON));
  set_file(a, word_peek<u32>(o, VMA_WORDS, VMA_OPS), word_peek<u32>(o, VMA_WORDS, VMA_FILE));
  word_store<u32>(a, VMA_WORDS, VMA_MPOL, word_peek<u32>(o, VMA_WORDS, VMA_MPOL));
  atomic.store<u32>(a + VMA_CSUM, vma_csum(a)); // once, the copy complete
  return ns;
}

/** the address of a slot the setters may fill: it must be NEW (invisible to every reader) */
@inline function new_vma(slot: u32): u32 {
  const a = vma_addr(slot);
  assert(word_peek<u32>(a, VMA_WORDS, VMA_STATE) == VMA_STATE_NEW, 'vma setter: slot is linked (only a NEW slot is private)');
  return a;
}

// -------------------------------------------------- VMA-level sequence ---

/**
 * Begin a change of a linked VMA's range, flags or liveness (vm_write_begin
 * of the SPF series). Caller holds mmap_lock for write. vm_sequence exists
 * only in a kernel with the SPF series: under the other strategies this is
 * just the write of the VMA's fields (its line), no sequence count.
 */
export function vm_write_begin(slot: u32): void {
  const a = vma_addr(slot);
  if (strategy() == STRATEGY_SPF) write_seqcount_begin(a + VMA_SEQ);
  shared_write(a, VMA_WORDS);
}

/** End the change begun by vm_write_begin(). Caller holds mmap_lock for write. */
export function vm_write_end(slot: u32): void {
  const a = vma_addr(slot);
  atomic.store<u32>(a + VMA_CSUM, vma_csum(a)); // debug checksum: not a kernel field, uncharged
  if (strategy() == STRATEGY_SPF) write_seqcount_end(a + VMA_SEQ);
}

/**
 * vma_set_flags(): mprotect's change of vm_flags / vm_page_prot.
 * Caller holds mmap_lock for write and is inside vm_write_begin/end.
 */
export function vma_set_flags(slot: u32, flags: u32, prot: u32): void {
  const a = vma_addr(slot);
  shared_write(a, VMA_WORDS);
  set_flags(a, flags, prot);
}

/**
 * True if the VMA was unlinked or changed since a reader sampled its
 * vm_sequence as `seq` (raw_read_seqcount(vma_addr(slot) + VMA_SEQ)).
 */
export function vma_has_changed(slot: u32, seq: u32): bool {
  const a = vma_addr(slot);
  const changed = word_peek<u32>(a, VMA_WORDS, VMA_STATE) != VMA_STATE_LIVE;
  return read_seqcount_retry(a + VMA_SEQ, seq) || changed;
}

// -------------------------------------------------------- the index ---

@inline function index_of(m: u32): u32 { return load<u32>(m + MM_VMA_INDEX); }
@inline function nr_linked(m: u32): u32 { return atomic.load<u32>(m + MM_NVMAS); }
/** slot+1 at position i (0: a hole, only ever seen mid-update) */
@inline function index_entry(idx: u32, i: u32): u32 { return atomic.load<u32>(idx + i * 4); }
@inline function entry_ok(e: u32): bool { return e != 0 && e <= nr_vma_slots(); }

/** a charged look at the VMA a search step lands on */
@inline function step(e: u32): u32 {
  const a = vma_addr(e - 1);
  charge_cost(COST_VMA_LOOKUP_STEP);
  shared_read(a, VMA_WORDS);
  return a;
}

/**
 * First position whose VMA ends above `va` (n if none), or -1 if an entry
 * was not a slot (possible only for a lockless reader racing a writer).
 * Bounded: lo/hi converge whatever the entries hold.
 */
function search_end_above(idx: u32, n: u32, va: u64): i32 {
  let lo: u32 = 0;
  let hi: u32 = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const e = index_entry(idx, mid);
    if (!entry_ok(e)) return -1;
    if (word_load<u64>(step(e), VMA_WORDS, VMA_END) > va) hi = mid; else lo = mid + 1;
  }
  return <i32>lo;
}

/** first position whose VMA starts at or above `start` (n if none). Caller holds mmap_lock. */
function search_start_at_or_above(idx: u32, n: u32, start: u64): u32 {
  let lo: u32 = 0;
  let hi: u32 = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const e = index_entry(idx, mid);
    if (!entry_ok(e)) unreachable(); // the index is corrupt
    if (word_load<u64>(step(e), VMA_WORDS, VMA_START) >= start) hi = mid; else lo = mid + 1;
  }
  return lo;
}

/** position of `slot` in the index, or -1 if it is not linked there. Caller holds mmap_lock. */
function index_pos(m: u32, slot: u32): i32 {
  const a = vma_addr(slot);
  if (word_peek<u32>(a, VMA_WORDS, VMA_STATE) != VMA_STATE_LIVE) return -1;
  const idx = index_of(m);
  const n = nr_linked(m);
  const p = search_start_at_or_above(idx, n, word_peek<u64>(a, VMA_WORDS, VMA_START));
  if (p >= n || index_entry(idx, p) != slot + 1) return -1;
  return <i32>p;
}

/** buffer `b` (0 or 1) of the mm's index */
@inline function index_buf(m: u32, b: u32): u32 { return load<u32>(m + MM_VMA_BUF0) + b * max_vmas() * 4; }

/**
 * Make buffer `b` with `n` entries the index. Caller is inside the mm_seq
 * write section and filled the buffer first; MM_VMA_PUB is what lockless
 * readers read, MM_VMA_INDEX / MM_NVMAS what locked readers and the host read.
 */
function index_publish(m: u32, b: u32, n: u32): void {
  // entries past the count are 0 (vma_index_check): this buffer held at most n + 2 two updates ago
  const idx = index_buf(m, b);
  const max = max_vmas();
  for (let i = n; i < n + 2 && i < max; i++) atomic.store<u32>(idx + i * 4, 0);
  atomic.store<u32>(m + MM_VMA_INDEX, idx);
  atomic.store<u32>(m + MM_NVMAS, n);
  atomic.store<u32>(m + MM_VMA_PUB, (n << 1) | b);
}

/** the buffer a writer fills next: the one not published */
@inline function index_next(m: u32): u32 { return 1 - (atomic.load<u32>(m + MM_VMA_PUB) & 1); }

/** the index with `slot` at position `pos`. Caller is inside the mm_seq write section. */
function index_insert(m: u32, pos: u32, slot: u32): void {
  const cur = index_of(m);
  const n = nr_linked(m);
  const b = index_next(m);
  const nx = index_buf(m, b);
  for (let i: u32 = 0; i < pos; i++) atomic.store<u32>(nx + i * 4, index_entry(cur, i));
  atomic.store<u32>(nx + pos * 4, slot + 1);
  for (let i = pos; i < n; i++) atomic.store<u32>(nx + (i + 1) * 4, index_entry(cur, i));
  index_publish(m, b, n + 1);
}

/** the index without the entry at `pos`. Caller is inside the mm_seq write section. */
function index_remove(m: u32, pos: u32): void {
  const cur = index_of(m);
  const n = nr_linked(m);
  const b = index_next(m);
  const nx = index_buf(m, b);
  for (let i: u32 = 0; i < pos; i++) atomic.store<u32>(nx + i * 4, index_entry(cur, i));
  for (let i = pos + 1; i < n; i++) atomic.store<u32>(nx + (i - 1) * 4, index_entry(cur, i));
  index_publish(m, b, n - 1);
}

@inline function spf_v11(): bool { return strategy() == STRATEGY_SPF && setting(SET_SPF_LOOKUP) == SPF_LOOKUP_V11; }

/**
 * Open a change of the index (and of linked VMAs' ranges): mm_seq odd; under
 * SPF v11 also write_lock(&mm->mm_rb_lock), as its vma_rb_insert/erase do.
 * Caller holds mmap_lock for write. Lock order: mmap_lock -> mm_rb_lock.
 */
function index_write_begin(m: u32): void {
  if (spf_v11()) down_write(m + MM_RB_LOCK);
  write_seqcount_begin(m + MM_SEQ);
}

/** Close the change opened by index_write_begin(). */
function index_write_end(m: u32): void {
  write_seqcount_end(m + MM_SEQ);
  if (spf_v11()) up_write(m + MM_RB_LOCK);
}

@inline function assert_write_locked(m: u32): void {
  const l = m + MM_MMAP_LOCK;
  assert(word_peek<i32>(l, RW_WORDS, RW_COUNT) == RWSEM_WRITER && word_peek<u32>(l, RW_WORDS, RW_WRITER) == cpu_id() + 1,
    'VMA index change without mmap_lock held for write by this CPU');
}
@inline function assert_locked(m: u32): void {
  assert(word_peek<i32>(m + MM_MMAP_LOCK, RW_WORDS, RW_COUNT) != 0, 'locked VMA lookup without mmap_lock');
}

// ----------------------------------------------------------- writers ---

/**
 * Insert a NEW slot (vma_init'ed for this mm) into the mm's index; it becomes
 * LIVE with the index's reference. 0, or VMA_E_INVAL (bad state or range:
 * start < end, both page-aligned), VMA_E_EXIST (overlaps a linked VMA),
 * VMA_E_NOMEM (index full). On error the slot stays NEW and the caller's.
 * Caller holds mmap_lock for write.
 */
export function vma_link(mm: u32, slot: u32): i32 {
  const m = mm_addr(mm);
  assert_write_locked(m);
  const a = vma_addr(slot);
  if (word_peek<u32>(a, VMA_WORDS, VMA_STATE) != VMA_STATE_NEW || atomic.load<u32>(a + VMA_MM) != mm) return VMA_E_INVAL;
  const start = word_peek<u64>(a, VMA_WORDS, VMA_START);
  const end = word_peek<u64>(a, VMA_WORDS, VMA_END);
  if (start >= end || ((start | end) & ((1 << PAGE_SHIFT) - 1)) != 0) return VMA_E_INVAL;
  const idx = index_of(m);
  const n = nr_linked(m);
  const pos = search_start_at_or_above(idx, n, start);
  if (pos > 0 && word_load<u64>(step(index_entry(idx, pos - 1)), VMA_WORDS, VMA_END) > start) return VMA_E_EXIST;
  if (pos < n && word_load<u64>(step(index_entry(idx, pos)), VMA_WORDS, VMA_START) < end) return VMA_E_EXIST;
  if (n >= max_vmas()) return VMA_E_NOMEM;
  // write-locked before it becomes visible to lockless lookups, so no fault
  // can use it before this write section ends (Linux 6.4 vma_link(): "mm: lock
  // newly mapped VMA which can be modified after it becomes visible")
  vma_start_write(mm, slot);
  refcount_set(a + VMA_REF, 1);
  word_poke<u32>(a, VMA_WORDS, VMA_STATE, VMA_STATE_LIVE);
  index_write_begin(m);
  index_insert(m, pos, slot);
  index_write_end(m);
  return 0;
}

/** cycles FLAG_VMA_UNLINK_STALL holds vma_unlink() up (~40 us at 2.5 GHz) */
const VMA_UNLINK_TEST_STALL: u64 = 100_000;

/**
 * Remove a LIVE VMA from the mm's index: it becomes DETACHED, the index's
 * reference is dropped and, once no get_vma() reference is left, the slot is
 * freed after an RCU grace period. 0 or VMA_E_INVAL (not linked in this mm).
 * Caller holds mmap_lock for write.
 */
export function vma_unlink(mm: u32, slot: u32): i32 {
  const m = mm_addr(mm);
  assert_write_locked(m);
  const pos = index_pos(m, slot);
  if (pos < 0) return VMA_E_INVAL;
  // Test hook (FLAG_VMA_UNLINK_STALL, never set in real runs): held up before
  // mm_rb_lock, as a get_vma() reader that holds it for read holds us up; the
  // VMA is still LIVE and findable meanwhile (test/core/spf-aborts.test.ts)
  if (TEST_BUILD && (header_flags() & FLAG_VMA_UNLINK_STALL)) { charge(VMA_UNLINK_TEST_STALL); sync_point(); }
  index_write_begin(m);
  vm_write_begin(slot);
  index_remove(m, <u32>pos);
  word_store<u32>(vma_addr(slot), VMA_WORDS, VMA_STATE, VMA_STATE_DETACHED);
  vm_write_end(slot);
  index_write_end(m);
  put_vma(slot);
  return 0;
}

/**
 * Split a LIVE VMA at the page-aligned address `at`, start < at < end. The
 * VMA keeps [start, at); the returned new slot gets [at, end) with vm_pgoff
 * advanced by the pages below `at`. -1 when no slot is left (vma_alloc_fail),
 * VMA_E_INVAL (not linked, or `at` not strictly inside / not aligned),
 * VMA_E_NOMEM (index full). Caller holds mmap_lock for write.
 */
export function vma_split(mm: u32, slot: u32, at: u64): i32 {
  const m = mm_addr(mm);
  assert_write_locked(m);
  const pos = index_pos(m, slot);
  if (pos < 0) return VMA_E_INVAL;
  const a = vma_addr(slot);
  const start = word_peek<u64>(a, VMA_WORDS, VMA_START);
  const end = word_peek<u64>(a, VMA_WORDS, VMA_END);
  if (at <= start || at >= end || (at & ((1 << PAGE_SHIFT) - 1)) != 0) return VMA_E_INVAL;
  if (nr_linked(m) >= max_vmas()) return VMA_E_NOMEM;
  const ns = vm_area_dup(slot);
  if (ns < 0) return -1;
  const n = <u32>ns;
  vma_set_range(n, at, end, word_peek<u64>(a, VMA_WORDS, VMA_PGOFF) + ((at - start) >> PAGE_SHIFT));
  const na = vma_addr(n);
  // vma_prepare() of __split_vma(): the VMA that shrinks and the new one
  vma_start_write(mm, slot);
  vma_start_write(mm, n);
  refcount_set(na + VMA_REF, 1);
  word_poke<u32>(na, VMA_WORDS, VMA_STATE, VMA_STATE_LIVE);
  index_write_begin(m);
  vm_write_begin(slot);
  word_store<u64>(a, VMA_WORDS, VMA_END, at);
  vm_write_end(slot);
  index_insert(m, <u32>pos + 1, n);
  index_write_end(m);
  stat_inc(STAT_VMA_SPLIT);
  return ns;
}

/**
 * `lo` (just below) and `hi` (just above, adjacent) may become one VMA: same
 * flags, prot, anon_vma, vm_ops, file and mempolicy, and for a file-backed
 * mapping contiguous file offsets. As the kernel's is_mergeable_anon_vma(),
 * a VMA without an anon_vma merges with one that has it (the survivor gets it):
 * threads that mmap next to each other end up sharing one VMA.
 */
function can_merge(lo: u32, hi: u32): bool {
  const a = vma_addr(lo);
  const b = vma_addr(hi);
  if (word_peek<u64>(a, VMA_WORDS, VMA_END) != word_peek<u64>(b, VMA_WORDS, VMA_START)) return false;
  if (word_peek<u32>(a, VMA_WORDS, VMA_FLAGS) != word_peek<u32>(b, VMA_WORDS, VMA_FLAGS)) return false;
  if (word_peek<u32>(a, VMA_WORDS, VMA_PROT) != word_peek<u32>(b, VMA_WORDS, VMA_PROT)) return false;
  const aa = word_peek<u32>(a, VMA_WORDS, VMA_ANON);
  const ba = word_peek<u32>(b, VMA_WORDS, VMA_ANON);
  if (aa != 0 && ba != 0 && aa != ba) return false;
  if (word_peek<u32>(a, VMA_WORDS, VMA_MPOL) != word_peek<u32>(b, VMA_WORDS, VMA_MPOL)) return false;
  const ops = word_peek<u32>(a, VMA_WORDS, VMA_OPS);
  const file = word_peek<u32>(a, VMA_WORDS, VMA_FILE);
  if (ops != word_peek<u32>(b, VMA_WORDS, VMA_OPS) || file != word_peek<u32>(b, VMA_WORDS, VMA_FILE)) return false;
  if (ops != VMOPS_NONE || file != 0) {
    const pages = (word_peek<u64>(a, VMA_WORDS, VMA_END) - word_peek<u64>(a, VMA_WORDS, VMA_START)) >> PAGE_SHIFT;
    if (word_peek<u64>(a, VMA_WORDS, VMA_PGOFF) + pages != word_peek<u64>(b, VMA_WORDS, VMA_PGOFF)) return false;
  }
  return true;
}

/**
 * vma_prepare() of a merge (Linux 6.4 mm/mmap.c): write-lock the VMA that
 * survives and grows and the neighbour it absorbs (the one removed), so no
 * per-VMA-lock fault runs in either while their ranges and liveness change.
 * A VMA already marked in this mmap_lock write section is not locked again.
 */
function merge_prepare(mm: u32, survivor: u32, removed: u32): void {
  vma_start_write(mm, survivor);
  vma_start_write(mm, removed);
}

/** `lo` at position `pos` grows over its neighbour `hi`, which is unlinked. Caller holds mmap_lock for write and merge_prepare()d both. */
function absorb(m: u32, pos: u32, lo: u32, hi: u32): void {
  index_write_begin(m);
  vm_write_begin(lo);
  vm_write_begin(hi);
  word_store<u64>(vma_addr(lo), VMA_WORDS, VMA_END, word_load<u64>(vma_addr(hi), VMA_WORDS, VMA_END));
  if (word_load<u32>(vma_addr(lo), VMA_WORDS, VMA_ANON) == 0) word_store<u32>(vma_addr(lo), VMA_WORDS, VMA_ANON, word_load<u32>(vma_addr(hi), VMA_WORDS, VMA_ANON));
  index_remove(m, pos + 1);
  word_store<u32>(vma_addr(hi), VMA_WORDS, VMA_STATE, VMA_STATE_DETACHED);
  vm_write_end(hi);
  vm_write_end(lo);
  index_write_end(m);
  put_vma(hi);
  stat_inc(STAT_VMA_MERGE);
}

/**
 * Merge a LIVE VMA with its compatible adjacent neighbours (can_merge). The
 * lowest VMA survives and keeps its vm_pgoff; the others are unlinked as by
 * vma_unlink. Returns the surviving slot (`slot` itself when nothing merged),
 * or VMA_E_INVAL when `slot` is not linked in this mm.
 * Caller holds mmap_lock for write.
 */
export function vma_merge(mm: u32, slot: u32): i32 {
  const m = mm_addr(mm);
  assert_write_locked(m);
  const p = index_pos(m, slot);
  if (p < 0) return VMA_E_INVAL;
  const idx = index_of(m);
  let pos = <u32>p;
  let survivor = slot;
  if (pos > 0) {
    const prev = index_entry(idx, pos - 1) - 1;
    step(prev + 1);
    if (can_merge(prev, slot)) { pos--; merge_prepare(mm, prev, slot); absorb(m, pos, prev, slot); survivor = prev; }
  }
  if (pos + 1 < nr_linked(m)) {
    const next = index_entry(index_of(m), pos + 1) - 1; // the index as published after a first merge
    step(next + 1);
    if (can_merge(survivor, next)) { merge_prepare(mm, survivor, next); absorb(m, pos, survivor, next); }
  }
  return <i32>survivor;
}

// ----------------------------------------------------- locked lookups ---

/**
 * The kernel's find_vma(): the first VMA with vm_end > va (it may start above
 * va), or -1. Caller holds mmap_lock (read or write).
 */
function find_vma__body(mm: u32, va: u64): i32 {
  const m = mm_addr(mm);
  assert_locked(m);
  stat_inc(STAT_VMA_LOOKUP);
  const idx = index_of(m);
  const n = nr_linked(m);
  const pos = search_end_above(idx, n, va);
  if (pos < 0) unreachable(); // the index is corrupt
  return <u32>pos < n ? <i32>index_entry(idx, <u32>pos) - 1 : -1;
}
/** find_vma() as a frame of the flame graph (obs.ts) */
@inline export function find_vma(mm: u32, va: u64): i32 {
  fn_enter(FN_FIND_VMA);
  const r = find_vma__body(mm, va);
  fn_exit();
  return r;
}

/** The VMA containing `va`, or -1. Caller holds mmap_lock (read or write). */
export function vma_lookup(mm: u32, va: u64): i32 {
  const s = find_vma(mm, va);
  if (s < 0 || word_peek<u64>(vma_addr(<u32>s), VMA_WORDS, VMA_START) > va) return -1;
  return s;
}

/** The first VMA intersecting [start, end), or -1. Caller holds mmap_lock (read or write). */
export function find_vma_intersection(mm: u32, start: u64, end: u64): i32 {
  const s = find_vma(mm, start);
  if (s < 0 || word_peek<u64>(vma_addr(<u32>s), VMA_WORDS, VMA_START) >= end) return -1;
  return s;
}

// --------------------------------------------------- lockless lookups ---

/**
 * A writer is inside the mm_seq section: spin until it leaves (SPF v12's
 * read_seqbegin(); the per-VMA lookup never calls this). In virtual
 * time we resume when the writer's section ended (the line's busy time), as a
 * CPU spinning on the sequence would. In host time a parallel run backs off
 * (the writer's thread may not even be on a host core), or runs the other
 * CPUs of its worker first (the writer may be one of them); a deterministic
 * run charges each spin, so the writer runs once we are ahead of it. IRQs are taken while spinning if enabled.
 */
function wait_writer_gone(seq: u32): void {
  stat_inc(STAT_VMA_LOCKLESS_RETRY);
  let spins: u32 = 0;
  // retry: the writer is still inside
  while ((word_load<u32>(seq, SQ_WORDS, SQ_SEQ) & 1) != 0) {
    check_stop();
    if (irqs_enabled() && atomic.load<u32>(PC + PC_IPI_PENDING) != 0) service_ipis();
    if (DETERMINISTIC) { shared_read(seq, SQ_WORDS); continue; }
    spin_wait_round(++spins, seq + SQ_SEQ);
  }
  if (spins != 0) wait_finish();
  const t = line_busy_until(shared_line(seq, SQ_WORDS));
  if (t > now()) set_clock(t);
}

/** generation of the slot the last find_vma_lockless() / get_vma() on this CPU returned (read inside its validated window) */
export function vma_lockless_gen(): u32 { return cpu_local().lockless_gen; }

/**
 * True when the snapshot a lockless reader searched may have been rewritten:
 * `s` is mm_seq as sampled before reading MM_VMA_PUB. The buffer published
 * then is rewritten only by the write section after the one that retires
 * it, which begins at s + 3 (s even) or s + 2 (s odd: a writer was inside).
 */
function snapshot_reused(m: u32, s: u32): bool {
  const d = raw_read_seqcount(m + MM_SEQ) - s;
  return d > ((s & 1) != 0 ? <u32>1 : <u32>2);
}

/**
 * The VMA containing `va`, or -1, without mmap_lock and without ever waiting
 * for a writer: the per-VMA-lock lookup (lock_vma_under_rcu()'s mas_walk();
 * maple-tree RCU readers read the tree as published and never wait, they
 * only restart on a node a writer replaced). Caller is inside
 * rcu_read_lock(), which keeps the slot from being reused until
 * rcu_read_unlock(); the VMA may still be changed or unlinked right after
 * the lookup, which the caller detects (the per-VMA lock, its range and
 * detached checks).
 */
export function find_vma_lockless(mm: u32, va: u64): i32 {
  const m = mm_addr(mm);
  const max = max_vmas();
  stat_inc(STAT_VMA_LOOKUP_LOCKLESS);
  // retry: two writers published after our sample, so the buffer we searched was being rewritten
  while (true) {
    const s = raw_read_seqcount(m + MM_SEQ); // odd: a writer is building the next snapshot, ours stays intact
    const pub = atomic.load<u32>(m + MM_VMA_PUB);
    const idx = index_buf(m, pub & 1);
    let n = pub >> 1;
    if (n > max) n = max;
    let res: i32 = -1;
    let gen: u32 = 0;
    const pos = search_end_above(idx, n, va);
    const torn = pos < 0 || (<u32>pos < n && !entry_ok(index_entry(idx, <u32>pos)));
    if (!torn && <u32>pos < n) {
      const e = index_entry(idx, <u32>pos);
      const a = vma_addr(e - 1);
      gen = atomic.load<u32>(a + VMA_GEN);
      if (word_peek<u64>(a, VMA_WORDS, VMA_START) <= va && va < word_peek<u64>(a, VMA_WORDS, VMA_END)) res = <i32>e - 1;
    }
    if (snapshot_reused(m, s)) { stat_inc(STAT_VMA_LOCKLESS_RETRY); continue; }
    if (torn) unreachable(); // an intact snapshot with a hole: the index is corrupt
    cpu_local().lockless_gen = gen;
    return res;
  }
  return -1;
}

/**
 * SPF v12's find_vma_rcu() (Message-Id <20190416134522.17540-22-ldufour@linux.ibm.com>):
 * find_vma() semantics (the first VMA ending above `va`; it may start above
 * it) inside an mm_seq seqlock read section: read_seqbegin() spins while a
 * writer is inside, read_seqretry() redoes the search if one came.
 * Caller is inside rcu_read_lock().
 */
function find_vma_rcu(m: u32, va: u64): i32 {
  const max = max_vmas();
  // retry: a writer changed the index while we searched
  while (true) {
    const s = raw_read_seqcount(m + MM_SEQ);
    if ((s & 1) != 0) { wait_writer_gone(m + MM_SEQ); continue; }
    const pub = atomic.load<u32>(m + MM_VMA_PUB);
    const idx = index_buf(m, pub & 1);
    let n = pub >> 1;
    if (n > max) n = max;
    const pos = search_end_above(idx, n, va);
    const torn = pos < 0 || (<u32>pos < n && !entry_ok(index_entry(idx, <u32>pos)));
    const res: i32 = !torn && <u32>pos < n ? <i32>index_entry(idx, <u32>pos) - 1 : -1;
    const gen: u32 = res >= 0 ? atomic.load<u32>(vma_addr(<u32>res) + VMA_GEN) : 0;
    if (read_seqcount_retry(m + MM_SEQ, s)) { stat_inc(STAT_VMA_LOCKLESS_RETRY); continue; }
    if (torn) unreachable(); // a stable snapshot with a hole: the index is corrupt
    cpu_local().lockless_gen = gen;
    return res;
  }
  return -1;
}

/**
 * SPF's get_vma(): the first VMA that ends above `va` (__find_vma()
 * semantics: in a hole below a VMA it is that VMA, and the caller's bounds
 * check aborts as "outside the VMA"), with a reference taken: the slot stays
 * allocated until put_vma(), even if it is unlinked meanwhile (the caller
 * checks vma_has_changed). -1 if no VMA ends above `va`. By SET_SPF_LOOKUP:
 *   v11 (default): read_lock(&mm->mm_rb_lock) around __find_vma() and the
 *     reference (SPF v11, 2018: "mm: protect mm_rb tree with a rwlock"; the rwlock is an
 *     atomic on one line every CPU's lookups share, and tree writers take it
 *     for write: a lookup waits while one is inside. Modeled by an rwsem: a
 *     reader parks instead of spinning, with the same virtual-time wait);
 *   v12: find_vma_rcu(), a seqlock reader under RCU (see above).
 */
function get_vma__body(mm: u32, va: u64): i32 {
  const m = mm_addr(mm);
  stat_inc(STAT_VMA_LOOKUP_LOCKLESS);
  if (setting(SET_SPF_LOOKUP) == SPF_LOOKUP_V11) {
    down_read(m + MM_RB_LOCK);
    // stable: every change of the index holds mm_rb_lock for write under v11
    const pos = search_end_above(index_of(m), nr_linked(m), va);
    if (pos < 0) unreachable(); // the index is corrupt
    let res: i32 = -1;
    if (<u32>pos < nr_linked(m)) {
      res = <i32>index_entry(index_of(m), <u32>pos) - 1;
      // a linked VMA holds the index's reference, so this cannot fail
      if (!refcount_inc_not_zero(vma_addr(<u32>res) + VMA_REF)) unreachable();
      cpu_local().lockless_gen = atomic.load<u32>(vma_addr(<u32>res) + VMA_GEN);
    }
    up_read(m + MM_RB_LOCK);
    return res;
  }
  rcu_read_lock();
  // retry: the VMA lost its last reference (it is being unlinked) before we took ours
  while (true) {
    const s = find_vma_rcu(m, va);
    if (s < 0) { rcu_read_unlock(); return -1; }
    if (refcount_inc_not_zero(vma_addr(<u32>s) + VMA_REF)) { rcu_read_unlock(); return s; }
  }
  return -1;
}
/** get_vma() as a frame of the flame graph (obs.ts) */
@inline export function get_vma(mm: u32, va: u64): i32 {
  fn_enter(FN_GET_VMA);
  const r = get_vma__body(mm, va);
  fn_exit();
  return r;
}

/** Drop a reference; the last one on an unlinked VMA queues it for freeing after a grace period. */
export function put_vma(slot: u32): void {
  const c = refcount_dec(vma_addr(slot) + VMA_REF);
  if (c < 0) unreachable(); // unbalanced put: a bug in the caller
  if (c == 0) call_rcu_vma(slot);
}

// ------------------------------------------------------------- debug ---

/**
 * Check the mm's index: 0 if well formed, else a code: 1 count out of range,
 * 2 an entry is not a slot, 3 a VMA is not LIVE / of another mm, 4 empty or
 * unaligned range, 5 unsorted or overlapping, 6 checksum mismatch, 7 a stale
 * entry past the count. Charges nothing. Caller holds mmap_lock or the
 * machine is quiescent.
 */
export function vma_index_check(mm: u32): i32 {
  const m = mm_addr(mm);
  const idx = index_of(m);
  const n = nr_linked(m);
  const max = max_vmas();
  if (n > max) return 1;
  let prev_end: u64 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const e = index_entry(idx, i);
    if (!entry_ok(e)) return 2;
    const a = vma_addr(e - 1);
    if (word_peek<u32>(a, VMA_WORDS, VMA_STATE) != VMA_STATE_LIVE || atomic.load<u32>(a + VMA_MM) != mm) return 3;
    const s = word_peek<u64>(a, VMA_WORDS, VMA_START);
    const t = word_peek<u64>(a, VMA_WORDS, VMA_END);
    if (s >= t || ((s | t) & ((1 << PAGE_SHIFT) - 1)) != 0) return 4;
    if (i > 0 && s < prev_end) return 5;
    if (atomic.load<u32>(a + VMA_CSUM) != vma_csum(a)) return 6;
    prev_end = t;
  }
  for (let i = n; i < max; i++) if (index_entry(idx, i) != 0) return 7;
  return 0;
}

/** number of VMAs linked in the mm */
export function vma_count(mm: u32): u32 { return nr_linked(mm_addr(mm)); }
/** slot at position i of the mm's index (-1 past the end). Caller holds mmap_lock. */
export function vma_at(mm: u32, i: u32): i32 {
  const m = mm_addr(mm);
  return i < nr_linked(m) ? <i32>index_entry(index_of(m), i) - 1 : -1;
}
