// Workload loops (benchmarks re-expressed from their public sources), run
// inside Wasm so a fault-heavy loop never crosses into JS per page. Each runs
// while running() says so (its clock below `budget` virtual cycles, or the
// steady-state rule below; `max_iters` iterations at most) and returns the
// iterations done (the benchmark's own unit), or a negative
// -(VM_FAULT_* | errno << 16) on the first failure.

import { now, set_clock, cpu_id } from './cpu';
import { op_begin, op_done, sync_point, wait_prepare, wait_token, wait_sleep, wait_finish, wake_waiters } from './wait';
import { VM_READ, VM_WRITE, PAGE_SIZE, WAIT_FLAG, PC_STATE, CPU_FINISHED, percpu } from './layout';
import { access } from './access';
import { sys_mmap, sys_munmap, sys_madvise, sys_mprotect, mmap_base, MAP_PRIVATE, MAP_SHARED, MAP_ANONYMOUS, MAP_FIXED, MADV_DONTNEED, PROT_MTE } from './mmap';
import { rand_below, charge } from './cpu';
import { vcpu_get, vcpu_put, vcpu_tick, PUT_SLEEP, PUT_EXIT } from './vcpu';
import { spin_lock, spin_unlock } from './spinlock';
import { down_read, up_read, down_write, up_write } from './rwsem';
import { line_rmw } from './cacheline';
import { fn_enter, fn_exit, tracing, trace_event } from './obs';
import { FN_PTHREAD_BARRIER_WAIT } from './generated';
import { TE_BARRIER } from './layout';

const RW: u32 = VM_READ | VM_WRITE;

@inline function fail_mmap(r: i64): i64 { return -((-r) << 16); }

// ---- steady state ------------------------------------------------------------
//
// A benchmark's steady state is its whole loop, repeated by every thread at
// once (will-it-scale's page_fault1 counts pages, but each loop ends with the
// munmap and its shootdown; the counters are sampled over seconds). The host
// asks for `need` whole loops per CPU in a steady-state block `ss` (0: none):
//   +0 u32 CPUs that completed `need` loops   +4 u32 CPUs   +8 u32 need
//   +16 u64 the latest clock at which a CPU completed its `need`-th loop
//   +24 u64 the earliest such clock (0: none yet)
//   +32 u32[CPUs] whole loops completed, per CPU
// Every CPU keeps looping (keeping the contention on) until all have completed
// `need` loops and its clock has reached the time the last one did: the timed
// window then holds at least `need` whole loops of every CPU. A CPU starved
// that long (a sleeper in mmap_lock's wait list while spinning writers keep
// stealing the lock: the rwsem before 5.3, the spf strategy's and any
// --munmap write machine's, has no hand-off; see rwsem.ts) would keep the others running for long, so
// the run also ends at STEADY_MAX_STRETCH times the first completion; the
// host then reports the window as not covered.

/** how much longer than the first CPU the last may take to complete its loops */
const STEADY_MAX_STRETCH: u64 = 4;

/** keep going: the budget is not reached, or the steady state is not covered yet */
@inline function running(ss: u32, budget: u64): bool {
  const t = now();
  if (t < budget) return true;
  if (ss == 0) return false;
  // the latest completion time is raised before `done` counts the CPU: once all are counted it is final
  if (atomic.load<u32>(ss) < load<u32>(ss + 4)) {
    const first = atomic.load<u64>(ss + 24);
    return first == 0 || t < STEADY_MAX_STRETCH * (first > budget ? first : budget);
  }
  return t < atomic.load<u64>(ss + 16);
}

/** this CPU completed one whole loop */
function loop_done(ss: u32): void {
  if (ss == 0) return;
  const slot = ss + 32 + 4 * cpu_id();
  const n = load<u32>(slot) + 1;
  store<u32>(slot, n);
  if (n != load<u32>(ss + 8)) return;
  let t = atomic.load<u64>(ss + 16);
  while (t < now()) {
    const o = atomic.cmpxchg<u64>(ss + 16, t, now());
    if (o == t) break;
    t = o;
  }
  atomic.cmpxchg<u64>(ss + 24, 0, now());
  atomic.add<u32>(ss, 1);
}

// ---- lock and cache-line micro-workloads (atomic-shared/-private, spinlock, mmap-read/-mixed) ----
// A fixed number of iterations each (the host derives it from --vcycles); one
// iteration = one operation of the workload, counted by the host from the
// shared counter it protects, so a broken lock shows as lost operations.

/** atomic increments on one modeled cache line (`line`: its metadata, `ctr`: the u64 word); returns the iterations */
export function wl_atomic_inc(line: u32, ctr: u32, iters: u32): i64 {
  for (let i: u32 = 0; i < iters; i++) {
    op_begin(18);
    line_rmw(line);
    atomic.add<u64>(ctr, 1);
    op_done();
  }
  return <i64>iters;
}

/**
 * `iters` times: spin_lock, read-modify-write the u64 `counter` NON-atomically
 * with a random amount of work in between (so a lock that fails to exclude
 * loses updates), spin_unlock. Returns the iterations.
 */
export function wl_lock_inc(lock: u32, counter: u32, iters: u32): i64 {
  for (let i: u32 = 0; i < iters; i++) {
    op_begin(1);
    spin_lock(lock);
    const v = load<u64>(counter);
    let spin = <u32>rand_below(64);
    charge(<u64>spin * 4); // the critical section's work, in virtual time too
    // a scheduling point between the read and the write: in deterministic mode a CPU
    // whose clock is now lower runs here, so without the lock an update is lost every
    // time two sections overlap in virtual time, whatever the host does
    sync_point();
    while (spin-- > 0) { if (atomic.load<u32>(counter + 8) == 0xdeadbeef) break; }
    store<u64>(counter, v + 1);
    spin_unlock(lock);
    op_done();
  }
  return <i64>iters;
}

/**
 * `iters` sections of the rwsem `sem` (an mm's mmap_lock): `write_pct` % take
 * it for write and bump the u64 at `counter` non-atomically, the others take
 * it for read and add 1 to the u32 at `counter + 8`. Returns the iterations.
 */
export function wl_rwsem_mix(sem: u32, counter: u32, iters: u32, write_pct: u32): i64 {
  for (let i: u32 = 0; i < iters; i++) {
    op_begin(2);
    if (<u32>rand_below(100) < write_pct) {
      down_write(sem);
      const v = load<u64>(counter);
      let spin = <u32>rand_below(64);
      while (spin-- > 0) { if (atomic.load<u32>(counter + 12) == 0xdeadbeef) break; }
      store<u64>(counter, v + 1);
      up_write(sem);
    } else {
      down_read(sem);
      atomic.add<u32>(counter + 8, 1);
      up_read(sem);
    }
    op_done();
  }
  return <i64>iters;
}

// ---- page-fault workloads ----

// struct wl_args: a fault workload's configuration, the same for every CPU of
// the run, written by the host (src/workloads.ts wlArgs) before any CPU starts
// and read at loop entry (configuration, not a modelled kernel word: its loads
// are uncharged). What differs per CPU (its file, index, window, region) stays
// an argument. Each loop reads the fields its comment names; the others are 0.
//   +0  u32 kind (page_fault: 0 anonymous private, 1 file private, 2 file shared;
//                 mmap: 1 anonymous; pft: 1 shared region)
//   +4  u32 steady (the steady-state block, 0: none)
//   +8  u64 length (bytes: the mapping; ebizzy: a chunk; pft: each CPU's share)
//   +16 u64 budget (virtual time the loop stops at)   +24 u64 max_iters
//   +32 u64 base (pft, the mapbench pipeline: the region)
//   +40 u32 ncpus   +44 u32 barrier (a vt_barrier)   +48 u32 opts (EBIZZY_*)
//   +52 u32 npages (ebizzy: the chunks; mapbench: the slots; pipeline: a ring's pages)
//   +56 u32 step (mapbench: the slot stride)           +60 spare
//   +64 u64 stride (the pipeline's ring stride)
export const WLA_KIND: u32 = 0;
export const WLA_STEADY: u32 = 4;
export const WLA_LENGTH: u32 = 8;
export const WLA_BUDGET: u32 = 16;
export const WLA_MAX_ITERS: u32 = 24;
export const WLA_BASE: u32 = 32;
export const WLA_NCPUS: u32 = 40;
export const WLA_BARRIER: u32 = 44;
export const WLA_OPTS: u32 = 48;
export const WLA_NPAGES: u32 = 52;
export const WLA_STEP: u32 = 56;
export const WLA_STRIDE: u32 = 64;
export const WLA_SIZE: u32 = 72;

/**
 * Access each page of [a, a + size) (`write`) while the clock is below
 * `budget` (or the steady state `ss` is not covered) and `iters` below `max_iters`, one iteration per page: the inner
 * loop of every fault workload. Returns the new iteration count, or
 * -(VM_FAULT_*) on the first access that failed.
 */
@inline function access_pages(mm: u32, a: u64, size: u64, write: bool, budget: u64, max_iters: u64, iters: i64, ss: u32): i64 {
  for (let p: u64 = 0; p < size && running(ss, budget) && <u64>iters < max_iters; p += PAGE_SIZE) {
    const r = access(mm, a + p, write);
    if (r != 0) return -<i64>r;
    iters++;
    // a scheduling point every 64 pages, so a CPU never runs far past the others in one call
    if ((iters & 63) == 0) sync_point();
  }
  return iters;
}

/**
 * will-it-scale page_fault1/2/3: mmap `size` bytes (anonymous private, file
 * private, or file shared: kind 0/1/2), write one byte per page, munmap;
 * one iteration per page. `at` != 0: always at that address (MAP_FIXED).
 * `args` (struct wl_args): kind, steady, length, budget, max_iters.
 */
export function wl_page_fault(mm: u32, file: u32, at: u64, args: u32): i64 {
  const kind = load<u32>(args + WLA_KIND), size = load<u64>(args + WLA_LENGTH);
  const budget = load<u64>(args + WLA_BUDGET), max_iters = load<u64>(args + WLA_MAX_ITERS), ss = load<u32>(args + WLA_STEADY);
  let iters: i64 = 0;
  let flags = kind == 0 ? MAP_PRIVATE | MAP_ANONYMOUS : (kind == 1 ? MAP_PRIVATE : MAP_SHARED);
  if (at != 0) flags |= MAP_FIXED; // a region of its own (pft-private): never merged with a neighbour's
  while (running(ss, budget) && <u64>iters < max_iters) {
    op_begin(10);
    const a = sys_mmap(mm, at, size, RW, flags, file, 0);
    if (a < 0) return fail_mmap(a);
    const before = iters;
    iters = access_pages(mm, <u64>a, size, true, budget, max_iters, iters, ss);
    if (iters < 0) return iters;
    // stopped part-way: the window ends here (will-it-scale's sample does not wait for the munmap)
    if (<u64>(iters - before) < size / PAGE_SIZE) { op_done(); break; }
    const u = sys_munmap(mm, <u64>a, size);
    if (u < 0) return fail_mmap(u);
    loop_done(ss);
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
export function wl_mte_tag(mm: u32, args: u32): i64 {
  const size = load<u64>(args + WLA_LENGTH);
  const budget = load<u64>(args + WLA_BUDGET), max_iters = load<u64>(args + WLA_MAX_ITERS), ss = load<u32>(args + WLA_STEADY);
  let iters: i64 = 0;
  while (running(ss, budget) && <u64>iters < max_iters) {
    op_begin(12);
    const a = sys_mmap(mm, 0, size, RW, MAP_PRIVATE | MAP_ANONYMOUS, 0, 0);
    if (a < 0) return fail_mmap(a);
    for (let p: u64 = 0; p < size; p += PAGE_SIZE) {
      const r = access(mm, <u64>a + p, true);
      if (r != 0) return -<i64>r;
    }
    const m = sys_mprotect(mm, <u64>a, size, RW | PROT_MTE);
    if (m < 0) return fail_mmap(m);
    const before = iters;
    iters = access_pages(mm, <u64>a, size, true, budget, max_iters, iters, ss);
    if (iters < 0) return iters;
    if (<u64>(iters - before) < size / PAGE_SIZE) { op_done(); break; } // stopped part-way
    const u = sys_munmap(mm, <u64>a, size);
    if (u < 0) return fail_mmap(u);
    loop_done(ss);
    op_done();
  }
  return iters;
}

/** will-it-scale mmap1/mmap2: mmap + munmap `size` bytes (anonymous / file), no touch; one iteration per pair. `args`: kind (1 anonymous), steady, length, budget, max_iters */
export function wl_mmap(mm: u32, file: u32, args: u32): i64 {
  const anon = load<u32>(args + WLA_KIND) != 0, size = load<u64>(args + WLA_LENGTH);
  const budget = load<u64>(args + WLA_BUDGET), max_iters = load<u64>(args + WLA_MAX_ITERS), ss = load<u32>(args + WLA_STEADY);
  let iters: i64 = 0;
  while (running(ss, budget) && <u64>iters < max_iters) {
    op_begin(11);
    const a = sys_mmap(mm, 0, size, RW, anon ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_PRIVATE, file, 0);
    if (a < 0) return fail_mmap(a);
    const u = sys_munmap(mm, <u64>a, size);
    if (u < 0) return fail_mmap(u);
    iters++;
    loop_done(ss);
    op_done();
  }
  return iters;
}

/**
 * will-it-scale tests/tlb_flush1.c (threads mode): each thread maps its own
 * 128 MiB file (MAP_PRIVATE, `file`), and per page writes it (a COW fault
 * from the page cache) and MADV_DONTNEEDs it (a shootdown to every CPU
 * running the mm); after the last page, munmap and map again. One iteration
 * per page. `args`: steady, length, budget, max_iters.
 */
export function wl_tlb_flush(mm: u32, file: u32, args: u32): i64 {
  const size = load<u64>(args + WLA_LENGTH);
  const budget = load<u64>(args + WLA_BUDGET), max_iters = load<u64>(args + WLA_MAX_ITERS), ss = load<u32>(args + WLA_STEADY);
  let iters: i64 = 0;
  while (running(ss, budget) && <u64>iters < max_iters) {
    const a = sys_mmap(mm, 0, size, RW, MAP_PRIVATE, file, 0);
    if (a < 0) return fail_mmap(a);
    const before = iters;
    for (let p: u64 = 0; p < size && running(ss, budget) && <u64>iters < max_iters; p += PAGE_SIZE) {
      op_begin(12);
      const r = access(mm, <u64>a + p, true);
      if (r != 0) return -<i64>r;
      const m = sys_madvise(mm, <u64>a + p, PAGE_SIZE, MADV_DONTNEED);
      if (m < 0) return fail_mmap(m);
      iters++;
      op_done();
    }
    if (<u64>(iters - before) < size / PAGE_SIZE) break; // stopped part-way
    const u = sys_munmap(mm, <u64>a, size);
    if (u < 0) return fail_mmap(u);
    loop_done(ss);
  }
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
    iters = access_pages(mm, base, size, write, budget, max_iters, iters, 0);
    if (iters < 0) return iters;
  }
  return iters;
}

/** ebizzy options (ebizzy.c read_options()) other than -m, which every variant has */
export const EBIZZY_TOUCH: u32 = 1; // -T: only write each page of the copy buffer (touch_mem())
export const EBIZZY_RANDOM_SIZE: u32 = 2; // -R: copy a random number of records, 1 to all of the chunk
export const EBIZZY_PERMISSIONS: u32 = 4; // -p: mprotect(PROT_READ) every other chunk, so the chunks' VMAs never merge

/**
 * ebizzy 0.3 (ebizzy.c search_mem(), threads mode) with `-m` (always mmap):
 * CPU 0 does allocate() and write_pattern() before the start signal: mmap
 * the `mem` array (chunks pointers), then `chunks` record chunks of
 * `chunk_size` bytes (records are 8-byte size_t), each with its own mmap
 * (top-down, so they are adjacent and, as in Linux, one merged VMA unless
 * -p alternates their protection), writes each, and with -p mprotects the
 * even ones read-only. Then each record: pick a chunk with rand_num(), with
 * -R a copy size of (rand_num(records) + 1) * 8 bytes, mmap a copy buffer of
 * that size (it lands below the chunks and the other threads' buffers, and
 * merges with its neighbour as an anonymous mapping does), copy the chunk
 * into it (reads of every source page, a write fault on every copy page),
 * bsearch a random key in the copy (reads of the probed records' pages),
 * munmap the copy; with -T only write each copy page. Without -m glibc
 * malloc would keep the buffers in its arena after the first free (its mmap
 * threshold adapts), and the run would make no VM calls at all.
 * The timed window starts after a barrier once the chunks are written and
 * lasts `budget` cycles; it is stored (u64) at `window`. One iteration per
 * record. Returns -(EINVAL << 16) if the chunks did not land where every
 * CPU expects them (below the `mem` array, adjacent). `me`: the thread's
 * index; `args`: opts, npages (the chunks), length (a chunk), ncpus, barrier,
 * steady, budget, max_iters.
 *
 * rand_num() is ebizzy's own generator, as written (ebizzy_rand_num()): its
 * state never leaves 0, so every record copies chunk 0 and searches key 0,
 * and with -R every copy is one record of 8 bytes: one page mapped, one
 * fault, one page unmapped (the SPF series' `-mTRp` records, 61x as many per
 * second as `-mT`'s 128-page ones in its published figures).
 */
export function wl_ebizzy(mm: u32, me: u32, window: u32, args: u32): i64 {
  // the thread starts on its vCPU (a guest run queue: ebizzy's default of 2 threads per CPU; vcpu.ts) and leaves it when it ends
  vcpu_get();
  const r = ebizzy_thread(mm, me, window, args);
  vcpu_put(PUT_EXIT);
  return r;
}

function ebizzy_thread(mm: u32, me: u32, window: u32, args: u32): i64 {
  const opts = load<u32>(args + WLA_OPTS), chunks = load<u32>(args + WLA_NPAGES), chunk_size = load<u64>(args + WLA_LENGTH);
  const ncpu = load<u32>(args + WLA_NCPUS), barrier = load<u32>(args + WLA_BARRIER);
  const budget = load<u64>(args + WLA_BUDGET), max_iters = load<u64>(args + WLA_MAX_ITERS), ss = load<u32>(args + WLA_STEADY);
  const touch = (opts & EBIZZY_TOUCH) != 0;
  // where CPU 0's top-down mmaps put them: the mem array's page first, then chunk 0, 1, ... below it
  const top = ebizzy_top(mm);
  if (me == 0) {
    const m = sys_mmap(mm, 0, <u64>chunks * 8, RW, MAP_PRIVATE | MAP_ANONYMOUS, 0, 0); // alloc_mem(chunks * sizeof(record_t *))
    if (m < 0) return fail_mmap(m);
    if (<u64>m != top) return fail_mmap(-22);
    for (let i: u32 = 0; i < chunks; i++) {
      const c = sys_mmap(mm, 0, chunk_size, RW, MAP_PRIVATE | MAP_ANONYMOUS, 0, 0);
      if (c < 0) return fail_mmap(c);
      if (<u64>c != ebizzy_chunk(top, i, chunk_size)) return fail_mmap(-22);
    }
    // write_pattern(): every record of every chunk, then -p's mprotect of the even chunks
    for (let i: u32 = 0; i < chunks; i++) {
      const c = ebizzy_chunk(top, i, chunk_size);
      for (let p: u64 = 0; p < chunk_size; p += PAGE_SIZE) {
        const r = access(mm, c + p, true);
        if (r != 0) return -<i64>r;
      }
      if ((opts & EBIZZY_PERMISSIONS) != 0 && (i % 2) == 0) {
        const r = sys_mprotect(mm, c, chunk_size, VM_READ);
        if (r < 0) return fail_mmap(r);
      }
    }
  }
  vt_barrier(barrier, ncpu);
  const t0 = now();
  const records = chunk_size / 8;
  let state: u32 = 0; // search_mem(): `unsigned int state = 0;`, one per thread
  let iters: i64 = 0;
  // ebizzy -S: the run lasts `budget` cycles from the start signal (and covers whole records of every CPU)
  while (running(ss, t0 + budget) && <u64>iters < max_iters) {
    op_begin(13);
    state = ebizzy_rand_step(state);
    const src = ebizzy_chunk(top, ebizzy_rand_num(state, chunks), chunk_size); // chunk = rand_num(chunks, &state)
    let copy_size = chunk_size;
    if ((opts & EBIZZY_RANDOM_SIZE) != 0) { // copy_size = (rand_num(chunk_size / record_size, &state) + 1) * record_size
      state = ebizzy_rand_step(state);
      copy_size = (<u64>ebizzy_rand_num(state, <u32>records) + 1) * 8;
    }
    const a = sys_mmap(mm, 0, copy_size, RW, MAP_PRIVATE | MAP_ANONYMOUS, 0, 0);
    if (a < 0) return fail_mmap(a);
    const copy = <u64>a;
    for (let p: u64 = 0; p < copy_size; p += PAGE_SIZE) {
      if (!touch) {
        const r = access(mm, src + p, false);
        if (r != 0) return -<i64>r;
      }
      const w = access(mm, copy + p, true);
      if (w != 0) return -<i64>w;
      if ((p & 0xffff) == 0) sync_point();
    }
    if (!touch) {
      // bsearch(): every probe reads the record's page of the copy
      const n = copy_size / 8;
      state = ebizzy_rand_step(state);
      const key = <u64>ebizzy_rand_num(state, <u32>n); // key = rand_num(copy_size / record_size, &state)
      let lo: u64 = 0;
      let hi: u64 = n;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const r = access(mm, copy + ((mid * 8) & ~(<u64>PAGE_SIZE - 1)), false);
        if (r != 0) return -<i64>r;
        if (mid == key) break;
        if (mid < key) lo = mid + 1; else hi = mid;
      }
    }
    const u = sys_munmap(mm, copy, copy_size);
    if (u < 0) return fail_mmap(u);
    iters++;
    loop_done(ss);
    vcpu_tick(); // back in user mode: the tick's preemption check (a guest run queue)
    op_done();
  }
  store<u64>(window, now() - t0);
  return iters;
}

/**
 * ebizzy 0.3's rand_num() as LTP carries it (utils/benchmark/ebizzy-0.3/ebizzy.c, since LTP commit
 * 0ab83cf3a of 2009-11-05, SourceForge bug 2892491, which made the by-value state a pointer and
 * initialised it): `*state *= 1103515245 + 12345; return ((*state/65536) % max);` with the state
 * starting at 0 in search_mem(). The multiply keeps 0 at 0: every call returns 0. (The 0.3
 * tarball's own version took the state by value, uninitialised, and returned one constant per
 * thread.) Kept as written: it is what the benchmark does, and the SPF series' -mTRp figures
 * (12.4k-91.1k records/s against -mT's 743-1,490) are those of one-page records.
 */
@inline function ebizzy_rand_step(state: u32): u32 { return state * (1103515245 + 12345); }
@inline function ebizzy_rand_num(state: u32, max: u32): u32 { return (state / 65536) % max; }

/** where ebizzy's first mmap (the mem array, one page) lands: the top of a fresh mm's top-down area */
@inline function ebizzy_top(mm: u32): u64 { return mmap_base(mm) - PAGE_SIZE; }
/** chunk i: below the mem array and chunks 0..i-1 (each chunk_size bytes, a whole number of pages) */
@inline function ebizzy_chunk(top: u64, i: u32, chunk_size: u64): u64 { return top - <u64>(i + 1) * chunk_size; }

/**
 * RadixVM mapbench: map a page at `addr` (MAP_FIXED), touch it, unmap it;
 * `stride` apart over `npages` slots starting at `base`. local: each CPU its
 * own region; global: all CPUs in one region (slots interleaved by CPU).
 * pipeline is driven from the host (producer maps, consumer touches + unmaps).
 * `base`, `first`: this CPU's region and first slot; `args`: npages, step,
 * steady, budget, max_iters.
 */
export function wl_mapbench(mm: u32, base: u64, first: u32, args: u32): i64 {
  const npages = load<u32>(args + WLA_NPAGES), step = load<u32>(args + WLA_STEP);
  const budget = load<u64>(args + WLA_BUDGET), max_iters = load<u64>(args + WLA_MAX_ITERS), ss = load<u32>(args + WLA_STEADY);
  let iters: i64 = 0;
  let slot = first;
  while (running(ss, budget) && <u64>iters < max_iters) {
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
    loop_done(ss);
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
 * `args`: base (the rings), stride (ring_stride), npages, ncpus, budget, max_iters.
 */
export function wl_mapbench_pipeline(mm: u32, me: u32, my_flags: u32, prev_flags: u32, args: u32): i64 {
  const base = load<u64>(args + WLA_BASE), ring_stride = load<u64>(args + WLA_STRIDE), npages = load<u32>(args + WLA_NPAGES);
  const ncpu = load<u32>(args + WLA_NCPUS), budget = load<u64>(args + WLA_BUDGET), max_iters = load<u64>(args + WLA_MAX_ITERS);
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
      wait_prepare(cf, WAIT_FLAG);
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

// ---- pft (Christoph Lameter's page fault test, threads mode) ---------------

/**
 * A barrier in virtual time for `n` CPUs at `b`: +0 u32 arrived, +4 u32
 * generation, +8 u64 latest arrival time, +16 u64 release time. Each CPU
 * leaves at the latest arrival time (waiting is not charged: it is time the
 * benchmark does not measure). The release time is written before the
 * generation moves, and only the next generation's last arrival rewrites
 * it, which needs every waiter of this one to have arrived again.
 */
function vt_barrier__body(b: u32, n: u32): void {
  const gen = atomic.load<u32>(b + 4);
  // retry: another CPU raised the latest arrival time under us
  let t = atomic.load<u64>(b + 8);
  while (t < now()) {
    const o = atomic.cmpxchg<u64>(b + 8, t, now());
    if (o == t) break;
    t = o;
  }
  if (atomic.add<u32>(b, 1) + 1 == n) {
    atomic.store<u32>(b, 0);
    atomic.store<u64>(b + 16, atomic.load<u64>(b + 8));
    atomic.add<u32>(b + 4, 1);
    wake_waiters(b + 4);
  } else {
    vcpu_put(PUT_SLEEP); // pthread_barrier_wait() sleeps on a futex: the task leaves its vCPU (vcpu.ts)
    wait_prepare(b + 4, WAIT_FLAG);
    // retry: a wake-up may come from an earlier generation's waiters
    while (true) {
      const w = wait_token();
      if (atomic.load<u32>(b + 4) != gen) break;
      wait_sleep(w);
    }
    wait_finish();
  }
  const r = atomic.load<u64>(b + 16);
  if (tracing() && r > now()) trace_event(TE_BARRIER, now(), r, 0, <u64>b);
  if (r > now()) set_clock(r);
  vcpu_get();
}
/** vt_barrier() as a frame of the flame graph (obs.ts) */
@inline export function vt_barrier(b: u32, n: u32): void {
  fn_enter(FN_PTHREAD_BARRIER_WAIT);
  vt_barrier__body(b, n);
  fn_exit();
}

/** bytes of a vt_barrier */
export const VT_BARRIER_SIZE: u32 = 24;

/**
 * pft's measured loop (pft.c pft_loop(), threads mode), in rounds until the
 * budget: the region is mapped before the timed phase (shared: ONE region of
 * `ncpu` x `size` bytes mapped by CPU 0, one VMA, each CPU faults its slice;
 * private: each CPU maps its own `size` bytes 1 GiB apart, a VMA each), a
 * barrier starts the timed phase, each CPU writes one byte per page of its
 * slice, a barrier ends it; the unmap happens outside the window. After each
 * round every CPU adds the window (the same for all: both barriers release
 * at one time) to the u64 at `window`. One iteration per fault. `me`: the
 * thread's index; `args`: kind (1 shared), base, length (each CPU's share),
 * ncpus, barrier, steady, budget.
 */
export function wl_pft(mm: u32, me: u32, window: u32, args: u32): i64 {
  const shared = load<u32>(args + WLA_KIND) != 0, base = load<u64>(args + WLA_BASE), size = load<u64>(args + WLA_LENGTH);
  const ncpu = load<u32>(args + WLA_NCPUS), barrier = load<u32>(args + WLA_BARRIER);
  const budget = load<u64>(args + WLA_BUDGET), ss = load<u32>(args + WLA_STEADY);
  let iters: i64 = 0;
  const mine = shared ? base + <u64>me * size : base + <u64>me * (<u64>1 << 30);
  const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
  store<u64>(window, 0);
  // rounds: pft's repetitions; each CPU sees the same clock after a barrier, so all decide alike
  do {
    if (!shared) {
      const a = sys_mmap(mm, mine, size, RW, flags, 0, 0);
      if (a < 0) return fail_mmap(a);
    } else if (me == 0) {
      const a = sys_mmap(mm, base, size * ncpu, RW, flags, 0, 0);
      if (a < 0) return fail_mmap(a);
    }
    vt_barrier(barrier, ncpu);
    const t0 = now();
    op_begin(17);
    iters = access_pages(mm, mine, size, true, U64.MAX_VALUE, U64.MAX_VALUE, iters, 0); // the whole region: the window is timed
    if (iters < 0) return iters;
    op_done();
    vt_barrier(barrier, ncpu);
    store<u64>(window, load<u64>(window) + now() - t0);
    if (!shared) {
      const u = sys_munmap(mm, mine, size);
      if (u < 0) return fail_mmap(u);
    } else if (me == 0) {
      const u = sys_munmap(mm, base, size * ncpu);
      if (u < 0) return fail_mmap(u);
    }
    loop_done(ss); // before the barrier: after it every CPU sees the same count and clock, so all decide alike
    // the next round maps again only after every unmap: pft runs each round as a fresh process
    vt_barrier(barrier, ncpu);
  } while (running(ss, budget));
  return iters;
}
