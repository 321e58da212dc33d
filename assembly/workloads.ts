// Workload loops (benchmarks re-expressed from their public sources), run
// inside Wasm so a fault-heavy loop never crosses into JS per page. Each runs
// until this CPU's clock reaches `budget` virtual cycles (or `max_iters`
// iterations) and returns the iterations done (the benchmark's own unit), or
// a negative -(VM_FAULT_* | errno << 16) on the first failure.

import { now, set_clock } from './cpu';
import { op_begin, op_done, sync_point, wait_prepare, wait_token, wait_sleep, wait_finish, wake_waiters } from './sched';
import { VM_READ, VM_WRITE, PAGE_SIZE, WAIT_SPIN, PC_STATE, CPU_FINISHED, percpu } from './layout';
import { access } from './access';
import { sys_mmap, sys_munmap, sys_madvise, sys_mprotect, MAP_PRIVATE, MAP_SHARED, MAP_ANONYMOUS, MAP_FIXED, MADV_DONTNEED, PROT_MTE } from './mmap';
import { rand_below } from './cpu';

const RW: u32 = VM_READ | VM_WRITE;

@inline function fail_mmap(r: i64): i64 { return -((-r) << 16); }

/**
 * will-it-scale page_fault1/2/3: mmap `size` bytes (anonymous private, file
 * private, or file shared: kind 0/1/2), write one byte per page, munmap;
 * one iteration per page. `at` != 0: always at that address (MAP_FIXED).
 */
export function wl_page_fault(mm: u32, kind: u32, file: u32, size: u64, budget: u64, max_iters: u64, at: u64): i64 {
  let iters: i64 = 0;
  let flags = kind == 0 ? MAP_PRIVATE | MAP_ANONYMOUS : (kind == 1 ? MAP_PRIVATE : MAP_SHARED);
  if (at != 0) flags |= MAP_FIXED; // a region of its own (pft-private): never merged with a neighbour's
  while (now() < budget && <u64>iters < max_iters) {
    op_begin(10);
    const a = sys_mmap(mm, at, size, RW, flags, file, 0);
    if (a < 0) return fail_mmap(a);
    for (let p: u64 = 0; p < size && now() < budget && <u64>iters < max_iters; p += PAGE_SIZE) {
      const r = access(mm, <u64>a + p, true);
      if (r != 0) return -<i64>r;
      iters++;
      if ((iters & 63) == 0) sync_point();
    }
    const u = sys_munmap(mm, <u64>a, size);
    if (u < 0) return fail_mmap(u);
    op_done();
  }
  return iters;
}

/**
 * MTE tag storage on demand (the use case of the fault-on-access series):
 * mmap `size` bytes anonymous private, write each page, mprotect(PROT_MTE)
 * the region (each PTE becomes fault-on-access: no tag storage yet), write
 * each page again (the arch handler reserves its tag storage from the
 * machine-wide pool, under the pool's lock, and the page is mapped back),
 * munmap (the storage goes back). One iteration per fault-on-access page.
 */
export function wl_mte_tag(mm: u32, size: u64, budget: u64, max_iters: u64): i64 {
  let iters: i64 = 0;
  while (now() < budget && <u64>iters < max_iters) {
    op_begin(12);
    const a = sys_mmap(mm, 0, size, RW, MAP_PRIVATE | MAP_ANONYMOUS, 0, 0);
    if (a < 0) return fail_mmap(a);
    for (let p: u64 = 0; p < size; p += PAGE_SIZE) {
      const r = access(mm, <u64>a + p, true);
      if (r != 0) return -<i64>r;
    }
    const m = sys_mprotect(mm, <u64>a, size, RW | PROT_MTE);
    if (m < 0) return fail_mmap(m);
    for (let p: u64 = 0; p < size && now() < budget && <u64>iters < max_iters; p += PAGE_SIZE) {
      const r = access(mm, <u64>a + p, true);
      if (r != 0) return -<i64>r;
      iters++;
      if ((iters & 63) == 0) sync_point();
    }
    const u = sys_munmap(mm, <u64>a, size);
    if (u < 0) return fail_mmap(u);
    op_done();
  }
  return iters;
}

/** will-it-scale mmap1/mmap2: mmap + munmap `size` bytes (anonymous / file), no touch; one iteration per pair */
export function wl_mmap(mm: u32, anon: bool, file: u32, size: u64, budget: u64, max_iters: u64): i64 {
  let iters: i64 = 0;
  while (now() < budget && <u64>iters < max_iters) {
    op_begin(11);
    const a = sys_mmap(mm, 0, size, RW, anon ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_PRIVATE, file, 0);
    if (a < 0) return fail_mmap(a);
    const u = sys_munmap(mm, <u64>a, size);
    if (u < 0) return fail_mmap(u);
    iters++;
    op_done();
  }
  return iters;
}

/** tlb_flush1: one mapping; per page: write it, then MADV_DONTNEED it (a shootdown to every thread); one iteration per page */
export function wl_tlb_flush(mm: u32, size: u64, budget: u64, max_iters: u64): i64 {
  const a = sys_mmap(mm, 0, size, RW, MAP_PRIVATE | MAP_ANONYMOUS, 0, 0);
  if (a < 0) return fail_mmap(a);
  let iters: i64 = 0;
  while (now() < budget && <u64>iters < max_iters) {
    for (let p: u64 = 0; p < size && now() < budget && <u64>iters < max_iters; p += PAGE_SIZE) {
      op_begin(12);
      const r = access(mm, <u64>a + p, true);
      if (r != 0) return -<i64>r;
      const m = sys_madvise(mm, <u64>a + p, PAGE_SIZE, MADV_DONTNEED);
      if (m < 0) return fail_mmap(m);
      iters++;
      op_done();
    }
  }
  sys_munmap(mm, <u64>a, size);
  return iters;
}

/**
 * Touch pages of [base, base + size) (already mapped by someone): `write`,
 * `passes` times over the range or until the budget. One iteration per access.
 * pft uses it on one shared region or on a region per thread.
 */
export function wl_touch(mm: u32, base: u64, size: u64, write: bool, budget: u64, max_iters: u64): i64 {
  let iters: i64 = 0;
  while (now() < budget && <u64>iters < max_iters) {
    for (let p: u64 = 0; p < size && now() < budget && <u64>iters < max_iters; p += PAGE_SIZE) {
      const r = access(mm, base + p, write);
      if (r != 0) return -<i64>r;
      iters++;
      if ((iters & 63) == 0) sync_point();
    }
  }
  return iters;
}

/**
 * ebizzy-like: each iteration either (1 in `churn_pct` %) replaces one of its
 * `chunks` chunks (munmap + mmap + touch, like ebizzy's free/alloc of a
 * record buffer) or "searches" a random chunk (reads `search_pages` pages);
 * chunk addresses live at `table` (u64 each). One iteration per search or
 * replacement.
 */
export function wl_ebizzy(mm: u32, table: u32, chunks: u32, chunk_size: u64, search_pages: u32, churn_pct: u32,
  budget: u64, max_iters: u64): i64 {
  for (let i: u32 = 0; i < chunks; i++) {
    const a = sys_mmap(mm, 0, chunk_size, RW, MAP_PRIVATE | MAP_ANONYMOUS, 0, 0);
    if (a < 0) return fail_mmap(a);
    store<u64>(table + i * 8, <u64>a);
  }
  let iters: i64 = 0;
  while (now() < budget && <u64>iters < max_iters) {
    op_begin(13);
    const k = <u32>rand_below(chunks);
    const base = load<u64>(table + k * 8);
    if (<u32>rand_below(100) < churn_pct) {
      sys_munmap(mm, base, chunk_size);
      const a = sys_mmap(mm, 0, chunk_size, RW, MAP_PRIVATE | MAP_ANONYMOUS, 0, 0);
      if (a < 0) return fail_mmap(a);
      store<u64>(table + k * 8, <u64>a);
      // fill the new record buffer
      for (let p: u64 = 0; p < chunk_size; p += PAGE_SIZE) {
        const r = access(mm, <u64>a + p, true);
        if (r != 0) return -<i64>r;
      }
    } else {
      const pages = chunk_size / PAGE_SIZE;
      for (let s: u32 = 0; s < search_pages; s++) {
        const r = access(mm, base + rand_below(pages) * PAGE_SIZE, false);
        if (r != 0) return -<i64>r;
      }
    }
    iters++;
    op_done();
  }
  for (let i: u32 = 0; i < chunks; i++) sys_munmap(mm, load<u64>(table + i * 8), chunk_size);
  return iters;
}

/**
 * RadixVM mapbench: map a page at `addr` (MAP_FIXED), touch it, unmap it;
 * `stride` apart over `npages` slots starting at `base`. local: each CPU its
 * own region; global: all CPUs in one region (slots interleaved by CPU).
 * pipeline is driven from the host (producer maps, consumer touches + unmaps).
 */
export function wl_mapbench(mm: u32, base: u64, npages: u32, first: u32, step: u32, budget: u64, max_iters: u64): i64 {
  let iters: i64 = 0;
  let slot = first;
  while (now() < budget && <u64>iters < max_iters) {
    op_begin(14);
    const a = base + <u64>slot * PAGE_SIZE;
    const m = sys_mmap(mm, a, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, 0, 0);
    if (m < 0) return fail_mmap(m);
    const r = access(mm, a, true);
    if (r != 0) return -<i64>r;
    const u = sys_munmap(mm, a, PAGE_SIZE);
    if (u < 0) return fail_mmap(u);
    slot += step;
    if (slot >= npages) slot = first;
    iters++;
    op_done();
  }
  return iters;
}

/**
 * RadixVM mapbench pipeline: CPU c maps pages into its own ring (MAP_FIXED at
 * ring_c + slot) and hands each to CPU c+1, which touches and unmaps it and
 * hands the slot back. `my_flags` / `prev_flags`: one u32 per slot of my ring
 * and of the previous CPU's (1 = mapped, waiting for the consumer). One
 * iteration per page consumed. Never blocks: with nothing to do it pauses.
 */
export function wl_mapbench_pipeline(mm: u32, base: u64, ring_stride: u64, npages: u32, my_flags: u32, prev_flags: u32,
  me: u32, ncpu: u32, budget: u64, max_iters: u64): i64 {
  const prev = me == 0 ? ncpu - 1 : me - 1;
  const my_ring = base + <u64>me * ring_stride;
  const prev_ring = base + <u64>prev * ring_stride;
  let prod: u32 = 0;
  let cons: u32 = 0;
  let iters: i64 = 0;
  while (now() < budget && <u64>iters < max_iters) {
    let did = false;
    // produce: map the next slot of my ring if its consumer is done with it
    const pf = my_flags + prod * PIPE_SLOT;
    if (atomic.load<u32>(pf) == 0) {
      op_begin(15);
      const a = my_ring + <u64>prod * PAGE_SIZE;
      const m = sys_mmap(mm, a, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, 0, 0);
      if (m < 0) return fail_mmap(m);
      pipe_hand_over(pf, 1);
      prod = (prod + 1) % npages;
      did = true;
      op_done();
    }
    // consume: touch and unmap the next page the previous CPU mapped for me
    const cf = prev_flags + cons * PIPE_SLOT;
    if (atomic.load<u32>(cf) == 1) {
      pipe_take(cf);
      op_begin(16);
      const a = prev_ring + <u64>cons * PAGE_SIZE;
      const r = access(mm, a, true);
      if (r != 0) return -<i64>r;
      const u = sys_munmap(mm, a, PAGE_SIZE);
      if (u < 0) return fail_mmap(u);
      pipe_hand_over(cf, 0);
      cons = (cons + 1) % npages;
      iters++;
      did = true;
      op_done();
    }
    // nothing to do: wait (not charged) until the previous CPU hands me a page
    if (!did) {
      const prev_pc = percpu(prev);
      wait_prepare(cf, WAIT_SPIN);
      while (true) {
        const w = wait_token();
        if (atomic.load<u32>(cf) == 1 || atomic.load<u32>(prev_pc + PC_STATE) == CPU_FINISHED) break;
        wait_sleep(w);
      }
      wait_finish();
      // the previous CPU is done and handed me nothing more: so am I
      if (atomic.load<u32>(cf) != 1) break;
    }
  }
  // my consumer may be waiting for the slot I would have filled next
  wake_waiters(my_flags + prod * PIPE_SLOT);
  return iters;
}

/** a pipeline slot: +0 u32 state (1 = mapped for the consumer), +8 u64 virtual time of the last hand-over */
const PIPE_SLOT: u32 = 16;

/** hand a slot over at my virtual time and wake whoever waits for it */
function pipe_hand_over(slot: u32, v: u32): void {
  atomic.store<u64>(slot + 8, now());
  atomic.store<u32>(slot, v);
  wake_waiters(slot);
}

/** the page was handed over at some virtual time: I cannot use it earlier */
function pipe_take(slot: u32): void {
  const t = atomic.load<u64>(slot + 8);
  if (t > now()) set_clock(t);
}
