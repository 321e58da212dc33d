// Loops over the VMA index and RCU, driven by tests and benchmarks (inner
// loops stay in Wasm). Results are counters written to an `out` area the
// host provides (R_* for readers, W_* for writers, u32 each).
//
// A reader validates what it found the way a speculative fault would: a
// vm_sequence snapshot around its reads, the VMA still LIVE and containing
// the address. It then counts what must never happen:
//   torn:  an accepted snapshot whose fields do not match their checksum;
//   freed: the slot's generation changed while the reader held it (inside
//          rcu_read_lock, or with a get_vma reference): a reuse.

import {
  VMA_START, VMA_END, VMA_FLAGS, VMA_PROT, VMA_ANON, VMA_OPS, VMA_PGOFF, VMA_FILE, VMA_MPOL, VMA_SEQ, VMA_STATE,
  VMA_GEN, VMA_CSUM, VMA_WORDS, VMA_STATE_LIVE, VM_READ, VM_WRITE, VM_SHARED, VMOPS_NONE, VMOPS_FILE, MPOL_DEFAULT,
  MM_MMAP_LOCK, MM_SEQ, PC_STATS, PAGE_SHIFT, mm_addr, percpu,
} from '../layout';
import { now, charge, rand_below } from '../cpu';
import { op_begin, op_done, sync_point, wake_waiters } from '../wait';
import { write_seqcount_begin, write_seqcount_end } from '../seqcount';
import { mmap_write_lock, mmap_write_unlock } from '../mmap_lock';
import { down_write, up_write, down_read, up_read } from '../rwsem';
import { raw_read_seqcount, read_seqcount_retry } from '../seqcount';
import { rcu_read_lock, rcu_read_unlock, synchronize_rcu } from '../rcu';
import {
  VMA_E_EXIST, vma_addr, vma_alloc, vma_free_new, vma_init, vma_set_range, vm_flags_init, vma_set_file, vma_set_anon_vma, vma_link, vma_unlink, vma_split, vma_merge,
  vma_lookup, find_vma, find_vma_lockless, vma_lockless_gen, get_vma, put_vma, vma_csum_of, vma_index_check,
  vma_count, vma_at,
} from '../vma';
import { shared_read } from '../shared';

// reader counters (u32 at out + 4 * R_*)
export const R_LOOKUPS: u32 = 0;
export const R_ACCEPTED: u32 = 1;
export const R_RETRIES: u32 = 2;
export const R_MISSES: u32 = 3; // the address was in a hole (a validated answer)
export const R_TORN: u32 = 4;
export const R_FREED: u32 = 5;
export const R_VIA_GET: u32 = 6; // lookups done with get_vma/put_vma instead of an RCU section
export const R_GAVE_UP: u32 = 7;
export const R_NCOUNTERS: u32 = 8;

// writer counters (u32 at out + 4 * W_*)
export const W_OPS: u32 = 0;
export const W_LINKS: u32 = 1;
export const W_LINK_FAILS: u32 = 2; // overlap or no slot: expected under churn
export const W_UNLINKS: u32 = 3;
export const W_SPLITS: u32 = 4;
export const W_SPLIT_NOSLOT: u32 = 5;
export const W_MERGES: u32 = 6;
export const W_ERRORS: u32 = 7; // unexpected result or a malformed index: must stay 0
export const W_RECLAIMED: u32 = 8; // slots synchronize_rcu() freed at the end
export const W_NCOUNTERS: u32 = 9;

@inline function cnt(out: u32, k: u32): void { store<u32>(out + k * 4, load<u32>(out + k * 4) + 1); }

const V_OK: u32 = 0;
const V_RETRY: u32 = 1;
const V_TORN: u32 = 2;

/** a vm_sequence-validated look at `slot`: does it still hold `va`, and is what we read whole? */
function check_vma(slot: u32, va: u64): u32 {
  const a = vma_addr(slot);
  const s = raw_read_seqcount(a + VMA_SEQ);
  if ((s & 1) != 0) return V_RETRY;
  shared_read(a, VMA_WORDS);
  const start = atomic.load<u64>(a + VMA_START);
  const end = atomic.load<u64>(a + VMA_END);
  const flags = atomic.load<u32>(a + VMA_FLAGS);
  const prot = atomic.load<u32>(a + VMA_PROT);
  const anon = atomic.load<u32>(a + VMA_ANON);
  const ops = atomic.load<u32>(a + VMA_OPS);
  const file = atomic.load<u32>(a + VMA_FILE);
  const pgoff = atomic.load<u64>(a + VMA_PGOFF);
  const mpol = atomic.load<u32>(a + VMA_MPOL);
  const csum = atomic.load<u32>(a + VMA_CSUM);
  const state = atomic.load<u32>(a + VMA_STATE);
  if (read_seqcount_retry(a + VMA_SEQ, s)) return V_RETRY;
  // unlinked, or split/merged away from va after our lookup: a speculative fault would retry
  if (state != VMA_STATE_LIVE || va < start || va >= end) return V_RETRY;
  if (csum != vma_csum_of(start, end, flags, prot, ops, file, pgoff, mpol)) return V_TORN;
  return V_OK;
}

/**
 * Keep the VMA for `n` steps of 64 virtual cycles, touching its line each
 * step (as a fault working under it would), plus a little host time: a
 * window in which a writer could reuse the slot if RCU let it, in both
 * deterministic (virtual time) and parallel (host time) runs.
 */
function hold_vma(a: u32, n: u32): void {
  for (let k: u32 = 0; k < n; k++) {
    charge(64);
    shared_read(a, VMA_WORDS);
    for (let j: u32 = 0; j < 16; j++) if (atomic.load<u32>(a + VMA_GEN) == 0xffffffff) break;
  }
}

/**
 * One lockless lookup of a random address in [base, base + npages pages),
 * validated; `getpct` % of them through get_vma/put_vma, the rest inside
 * rcu_read_lock. Counts into `out` (R_*).
 */
function reader_once(mm: u32, base: u64, npages: u32, getpct: u32, hold: u32, out: u32): void {
  const va = base + rand_below(<u64>npages << PAGE_SHIFT);
  const use_get = <u32>rand_below(100) < getpct;
  cnt(out, R_LOOKUPS);
  if (use_get) cnt(out, R_VIA_GET);
  // retry: the VMA changed under us (bounded: a reader that keeps losing gives up, as SPF falls back)
  for (let attempt: u32 = 0; attempt < 64; attempt++) {
    let slot: i32;
    if (use_get) {
      slot = get_vma(mm, va);
      if (slot < 0) { cnt(out, R_MISSES); return; }
      // get_vma() has find_vma() semantics: in a hole it returns the VMA above (SPF then aborts)
      if (va < atomic.load<u64>(vma_addr(<u32>slot) + VMA_START)) { put_vma(<u32>slot); cnt(out, R_MISSES); return; }
    } else {
      rcu_read_lock();
      slot = find_vma_lockless(mm, va);
      if (slot < 0) { rcu_read_unlock(); cnt(out, R_MISSES); return; }
    }
    const g0 = vma_lockless_gen();
    const a = vma_addr(<u32>slot);
    hold_vma(a, hold);
    const v = check_vma(<u32>slot, va);
    if (atomic.load<u32>(a + VMA_GEN) != g0) cnt(out, R_FREED);
    if (use_get) put_vma(<u32>slot); else rcu_read_unlock();
    if (v == V_TORN) { cnt(out, R_TORN); return; }
    if (v == V_OK) { cnt(out, R_ACCEPTED); return; }
    cnt(out, R_RETRIES);
  }
  cnt(out, R_GAVE_UP);
}

/**
 * Lockless reader loop: at least `iters` validated lookups, and on while the
 * u32 at `running` (0: no such word) is non-zero, i.e. writers still run.
 * Returns torn + freed (must be 0). Counters in `out` (R_*).
 */

/** a NEW anonymous test VMA with its anon_vma prepared, pgoff = start's page (as an anonymous mmap) */
function anon_test_vma(slot: u32, mm: u32, start: u64, end: u64, flags: u32, prot: u32): void {
  vma_init(slot, mm);
  vma_set_range(slot, start, end, start >> PAGE_SHIFT);
  vm_flags_init(slot, flags, prot);
  vma_set_anon_vma(slot, 1);
}

export function t_vma_reader(mm: u32, base: u64, npages: u32, iters: u32, getpct: u32, hold: u32, out: u32, running: u32): u32 {
  for (let i: u32 = 0; i < iters || (running != 0 && atomic.load<u32>(running) != 0); i++) {
    op_begin(11);
    reader_once(mm, base, npages, getpct, hold, out);
    op_done();
  }
  return load<u32>(out + R_TORN * 4) + load<u32>(out + R_FREED * 4);
}

/** the four kinds of VMA the churn creates; 0 and 1 are the same so merges happen */
function link_random(mm: u32, base: u64, npages: u32, out: u32): void {
  const p = rand_below(npages);
  let len = 1 + rand_below(8);
  if (p + len > <u64>npages) len = <u64>npages - p;
  const s = vma_alloc();
  if (s < 0) { cnt(out, W_LINK_FAILS); return; }
  const start = base + (p << PAGE_SHIFT);
  const end = start + (len << PAGE_SHIFT);
  const kind = <u32>rand_below(4);
  if (kind < 2) anon_test_vma(<u32>s, mm, start, end, VM_READ | VM_WRITE, 0x67);
  else if (kind == 2) anon_test_vma(<u32>s, mm, start, end, VM_READ, 0x65);
  else {
    vma_init(<u32>s, mm);
    vma_set_range(<u32>s, start, end, p);
    vm_flags_init(<u32>s, VM_READ | VM_WRITE | VM_SHARED, 0x67);
    vma_set_file(<u32>s, VMOPS_FILE, 7);
  }
  const e = vma_link(mm, <u32>s);
  if (e == 0) { cnt(out, W_LINKS); return; }
  if (e != VMA_E_EXIST) cnt(out, W_ERRORS);
  vma_free_new(<u32>s);
  cnt(out, W_LINK_FAILS);
}

/** one random change of the index. Caller holds mmap_lock for write. */
function churn_once(mm: u32, base: u64, npages: u32, out: u32): void {
  const n = vma_count(mm);
  const r = <u32>rand_below(100);
  if (n == 0 || r < 35) { link_random(mm, base, npages, out); return; }
  const slot = <u32>vma_at(mm, <u32>rand_below(n));
  const a = vma_addr(slot);
  const start = atomic.load<u64>(a + VMA_START);
  const end = atomic.load<u64>(a + VMA_END);
  if (r < 55) {
    if (vma_unlink(mm, slot) != 0 || vma_lookup(mm, start) >= 0) cnt(out, W_ERRORS);
    else cnt(out, W_UNLINKS);
  } else if (r < 80) {
    const pages = (end - start) >> PAGE_SHIFT;
    if (pages < 2) return;
    const at = start + ((1 + rand_below(pages - 1)) << PAGE_SHIFT);
    const ns = vma_split(mm, slot, at);
    if (ns == -1) { cnt(out, W_SPLIT_NOSLOT); return; }
    if (ns < 0 || vma_lookup(mm, at) != ns || vma_lookup(mm, at - 1) != <i32>slot || vma_lookup(mm, end - 1) != ns) cnt(out, W_ERRORS);
    else cnt(out, W_SPLITS);
  } else {
    const before = vma_count(mm);
    const sv = vma_merge(mm, slot);
    if (sv < 0 || vma_lookup(mm, start) != sv || vma_lookup(mm, end - 1) != sv) cnt(out, W_ERRORS);
    else if (vma_count(mm) != before) cnt(out, W_MERGES);
  }
}

/**
 * Writer loop: `iters` random link/unlink/split/merge in [base, base + npages
 * pages) under mmap_lock for write, checking the index after each; then
 * `lookups` validated lockless lookups of its own (counters in `rout`). With
 * `sync_end`, a final synchronize_rcu(). Then decrements the u32 at `running`
 * (0: no such word). Returns W_ERRORS (must be 0).
 */
export function t_vma_churn(mm: u32, base: u64, npages: u32, iters: u32, lookups: u32, out: u32, rout: u32, sync_end: u32, running: u32): u32 {
  const lock = mm_addr(mm) + MM_MMAP_LOCK;
  for (let i: u32 = 0; i < iters; i++) {
    op_begin(10);
    down_write(lock);
    churn_once(mm, base, npages, out);
    if (vma_index_check(mm) != 0) cnt(out, W_ERRORS);
    up_write(lock);
    cnt(out, W_OPS);
    for (let k: u32 = 0; k < lookups; k++) reader_once(mm, base, npages, 25, 0, rout);
    op_done();
  }
  if (sync_end != 0) store<u32>(out + W_RECLAIMED * 4, <u32>synchronize_rcu());
  if (running != 0) atomic.sub<u32>(running, 1);
  return load<u32>(out + W_ERRORS * 4);
}

/**
 * Link `n` anonymous VMAs of `pages` pages each, `gap` pages apart, from
 * `base`, under mmap_lock for write. Returns how many were linked.
 */
export function t_vma_populate(mm: u32, base: u64, n: u32, pages: u32, gap: u32): u32 {
  const lock = mm_addr(mm) + MM_MMAP_LOCK;
  let linked: u32 = 0;
  down_write(lock);
  for (let i: u32 = 0; i < n; i++) {
    const s = vma_alloc();
    if (s < 0) break;
    const start = base + ((<u64>i * (<u64>pages + gap)) << PAGE_SHIFT);
    anon_test_vma(<u32>s, mm, start, start + (<u64>pages << PAGE_SHIFT), VM_READ | VM_WRITE, 0x67);
    if (vma_link(mm, <u32>s) != 0) { vma_free_new(<u32>s); break; }
    linked++;
  }
  up_write(lock);
  return linked;
}

/**
 * Benchmark: `iters` lookups of random addresses in [base, base + npages
 * pages), lockless (rcu_read_lock + find_vma_lockless) or classic (mmap_lock
 * for read + find_vma). Returns the virtual cycles spent.
 */
export function t_vma_lookup(mm: u32, base: u64, npages: u32, iters: u32, lockless: u32): u64 {
  const lock = mm_addr(mm) + MM_MMAP_LOCK;
  const t0 = now();
  for (let i: u32 = 0; i < iters; i++) {
    op_begin(12);
    const va = base + rand_below(<u64>npages << PAGE_SHIFT);
    if (lockless != 0) {
      rcu_read_lock();
      find_vma_lockless(mm, va);
      rcu_read_unlock();
    } else {
      down_read(lock);
      find_vma(mm, va);
      up_read(lock);
    }
    op_done();
  }
  return now() - t0;
}

/**
 * A writer inside the index's write section (mm_seq odd) while CPU `other`
 * looks up a VMA: mmap_lock for write, write_seqcount_begin(mm_seq), set
 * `flag`, then wait (polling, virtual time) until `other`'s statistics
 * counter `stat` reaches 1 (its fault finished), at most `cap` cycles; end
 * the section and unlock. 1 when the fault finished inside the section (the
 * lookup did not wait for the writer), 0 on timeout.
 */
export function t_index_writer(mm: u32, other: u32, stat: u32, flag: u32, cap: u64): u32 {
  const m = mm_addr(mm);
  mmap_write_lock(mm);
  write_seqcount_begin(m + MM_SEQ);
  atomic.store<u32>(flag, 1);
  wake_waiters(flag);
  const a = percpu(other) + PC_STATS + (stat << 3);
  const deadline = now() + cap;
  let ok: u32 = 1;
  // retry: poll until the other CPU's counter moves, or give up at the deadline
  while (atomic.load<u64>(a) == 0) {
    charge(10);
    sync_point();
    if (now() >= deadline) { ok = 0; break; }
  }
  write_seqcount_end(m + MM_SEQ);
  mmap_write_unlock(mm);
  op_done();
  return ok;
}
