// Randomized stress of the fault path against its mutators, run inside Wasm
// (the host side is src/stress.ts; the invariant checker src/checker.ts runs
// after it). Every CPU works on the SAME region, so faults race mmap /
// munmap / mprotect / madvise of the pages they touch. SIGSEGV on an
// unmapped or read-only page is an expected outcome and only counted.
//
// Both loops start and end with a rendezvous of all CPUs: the region exists
// before anyone touches it, and no CPU finishes (leaving the mm's cpumask,
// after which its TLB legitimately goes stale) while another can still
// change the page tables. So at the end every TLB must agree with the page
// tables, and the checker can say so. The random mix also stops at
// checkpoints: every CPU between two operations, CPU 0 asks the host to run
// the checker and waits for its answer (a host-time pause: no virtual time
// passes, so deterministic runs stay bit-identical). Transient damage, e.g. a
// stale TLB entry that a later flush would wipe, is caught there.
//
// Counters (u32 each, STRESS_* indices) go to `out`, this CPU's scratch.

import { VM_READ, VM_WRITE, PAGE_SIZE, WAIT_FLAG, WAIT_UFFD_READ, PC_WAIT_KIND, PC_STRESS_UFFD, PC_STATE, PC_IPI_PENDING, CPU_FINISHED, SET_NUMA_PERIOD, MM_NUMA_NEXT, mm_addr, percpu, setting } from './layout';
import { uffdio_register, uffdio_unregister, uffdio_writeprotect, uffd_npending, uffd_fault_side_done } from './userfaultfd';
import { PC, cpu_id, NCPUS, now, charge, rand_below } from './cpu';
import { irqs_enabled, service_ipis } from './ipi';
import {
  op_begin, op_done, sync_point, spin_wait_round, wait_prepare, wait_token, wait_sleep, wait_finish, wake_waiters, wait_until_at_least,
} from './wait';
import { check_stop } from './stop';
import { access } from './access';
import { sys_mmap, sys_munmap, sys_mprotect, sys_madvise, task_numa_work, MAP_PRIVATE, MAP_SHARED, MAP_ANONYMOUS, MAP_FIXED, MADV_DONTNEED, PROT_MTE } from './mmap';
import { tag_storage_enabled } from './mte';
import { VM_FAULT_SIGSEGV, VM_FAULT_SIGBUS, VM_FAULT_OOM } from './fault';

export const STRESS_OPS: u32 = 0;
export const STRESS_READS: u32 = 1; // read accesses
export const STRESS_WRITES: u32 = 2; // write accesses
export const STRESS_SIGSEGV: u32 = 3; // accesses that ended in SIGSEGV (expected: unmapped / read-only)
export const STRESS_SIGBUS: u32 = 4;
export const STRESS_OOM: u32 = 5;
export const STRESS_RETRY: u32 = 6; // accesses whose fault never stuck (access() gave up)
export const STRESS_MMAP: u32 = 7;
export const STRESS_MMAP_FAIL: u32 = 8;
export const STRESS_MUNMAP: u32 = 9;
export const STRESS_MUNMAP_FAIL: u32 = 10;
export const STRESS_MPROTECT: u32 = 11;
export const STRESS_MPROTECT_FAIL: u32 = 12; // ENOMEM: part of the range was unmapped (expected)
export const STRESS_MADVISE: u32 = 13;
export const STRESS_MADVISE_FAIL: u32 = 14;
export const STRESS_NUMA_SCANS: u32 = 15;
export const STRESS_MMAP_FILE: u32 = 16; // file-backed mmaps (private or shared) of file 0
export const STRESS_UFFD_REGISTER: u32 = 17; // UFFDIO_REGISTER of a random sub-range (MISSING, WP or both)
export const STRESS_UFFD_REGISTER_FAIL: u32 = 18; // EINVAL (no VMA in the range) / EBUSY (expected)
export const STRESS_UFFD_UNREGISTER: u32 = 19;
export const STRESS_UFFD_WRITEPROTECT: u32 = 20; // UFFDIO_WRITEPROTECT (set) of a random sub-range
export const STRESS_UFFD_WRITEPROTECT_FAIL: u32 = 21; // the range is not one WP-registered VMA (expected)
export const STRESS_NCOUNTERS: u32 = 22;

// struct stress_mix: what one random mix does, written by the host (src/stress.ts)
// before any CPU starts and read-only during the run (configuration, not a
// modelled kernel word: its loads are uncharged).
//   +0  u32 w_read       +4  u32 w_write     +8  u32 w_mmap      +12 u32 w_munmap
//   +16 u32 w_mprotect   +20 u32 w_madvise   +24 u32 w_mmap_file (relative weights)
//   +28 u32 max_len      (pages: the usual length of a ranged operation)
//   +32 u32 check_every  (operations between checkpoints; 0: none)
//   +36 u32 ckpt         (address of the checkpoint's two host-zeroed shared u32s)
//   +40 u32 sync         (address of a host-zeroed shared u32: the rendezvous)
export const SMIX_W_READ: u32 = 0;
export const SMIX_W_WRITE: u32 = 4;
export const SMIX_W_MMAP: u32 = 8;
export const SMIX_W_MUNMAP: u32 = 12;
export const SMIX_W_MPROTECT: u32 = 16;
export const SMIX_W_MADVISE: u32 = 20;
export const SMIX_W_MMAP_FILE: u32 = 24;
export const SMIX_MAX_LEN: u32 = 28;
export const SMIX_CHECK_EVERY: u32 = 32;
export const SMIX_CKPT: u32 = 36;
export const SMIX_SYNC: u32 = 40;
export const SMIX_SIZE: u32 = 44;

// struct stress_race: the munmap race (stress_munmap_race), host-written like stress_mix;
// the last four are addresses of host-zeroed shared u32s the CPUs use.
//   +0  u32 nslots      +4  u32 slot_pages   +8  u32 ops        +12 u32 min_writes
//   +16 u32 sync        +20 u32 cursor       +24 u32 next       +28 u32 progress
export const SRACE_NSLOTS: u32 = 0;
export const SRACE_SLOT_PAGES: u32 = 4;
export const SRACE_OPS: u32 = 8;
export const SRACE_MIN_WRITES: u32 = 12;
export const SRACE_SYNC: u32 = 16;
export const SRACE_CURSOR: u32 = 20;
export const SRACE_NEXT: u32 = 24;
export const SRACE_PROGRESS: u32 = 28;
export const SRACE_SIZE: u32 = 32;

// the userfaultfd part of the mix (stress_uffd_setup): the same for every CPU of the run, kept in
// each CPU's block (PC_STRESS_UFFD), not in module globals: a CPU may run on any worker's instance (steal.ts)
@inline function W_UFFD_REG(): u32 { return load<u32>(PC + PC_STRESS_UFFD); }
@inline function W_UFFD_UNREG(): u32 { return load<u32>(PC + PC_STRESS_UFFD + 4); }
@inline function W_UFFD_WP(): u32 { return load<u32>(PC + PC_STRESS_UFFD + 8); }
/** the CPU that runs the handler (it takes no part in the mix or its meetings), -1: none (stored + 1: a zeroed block has none) */
@inline function UFFD_HANDLER(): i32 { return load<i32>(PC + PC_STRESS_UFFD + 12) - 1; }
/** u32: mix CPUs still running (the handler stops at 0) */
@inline function UFFD_RUNNING(): u32 { return load<u32>(PC + PC_STRESS_UFFD + 16); }

/**
 * Weights of the userfaultfd operations of the next stress_run, and the
 * handler CPU (-1: none, and the weights must be 0). `running` is a shared
 * u32 the host set to the number of mix CPUs. Called by every CPU before stress_run.
 */
export function stress_uffd_setup(w_reg: u32, w_unreg: u32, w_wp: u32, handler: i32, running: u32): void {
  store<u32>(PC + PC_STRESS_UFFD, w_reg);
  store<u32>(PC + PC_STRESS_UFFD + 4, w_unreg);
  store<u32>(PC + PC_STRESS_UFFD + 8, w_wp);
  store<i32>(PC + PC_STRESS_UFFD + 12, handler + 1);
  store<u32>(PC + PC_STRESS_UFFD + 16, running);
}
const UFFD_CTX: u32 = 0; // the run's only context: the host creates it before time 0

/** the handler, if any, sleeps in read() with nothing pending: it holds no lock and changes nothing */
function uffd_handler_idle(): void {
  if (UFFD_HANDLER() >= 0) wait_handler_idle(<u32>UFFD_HANDLER(), UFFD_CTX);
}

/**
 * Poll until CPU `handler` sleeps in read() of `ctx` with no message pending,
 * or has finished. A poll, not a wait: the handler wakes nobody when it goes
 * idle. IRQs are taken meanwhile (a CPU polling with IRQs on answers shootdowns).
 */
export function wait_handler_idle(handler: u32, ctx: u32): void {
  const pc = percpu(handler);
  let spins: u32 = 0;
  // retry: the handler is still resolving (it runs on, is about to park, or waits at the barrier)
  while (atomic.load<u32>(pc + PC_WAIT_KIND) != WAIT_UFFD_READ || uffd_npending(ctx) != 0) {
    if (atomic.load<u32>(pc + PC_STATE) == CPU_FINISHED) break;
    check_stop();
    if (irqs_enabled() && atomic.load<u32>(PC + PC_IPI_PENDING) != 0) service_ipis();
    spin_wait_round(spins++, pc + PC_WAIT_KIND);
  }
  if (spins != 0) wait_finish();
}

const RW: u32 = VM_READ | VM_WRITE;
const ANON_FIXED: u32 = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;

@inline function bump(out: u32, k: u32): void { store<u32>(out + k * 4, load<u32>(out + k * 4) + 1); }

/**
 * Meet every other CPU: the last to arrive at `sync` (a host-zeroed shared
 * u32, counting up across meetings) wakes the others. Waiting runs with IRQs
 * on, so shootdowns sent meanwhile are answered.
 */
function meet(sync: u32, target: u32): void {
  if (atomic.add<u32>(sync, 1) + 1 >= target) { wake_waiters(sync); return; }
  wait_until_at_least(sync, target);
}

/**
 * A checkpoint: all CPUs meet; CPU 0 posts request `n` at `ckpt` (u32
 * request, u32 answer) and waits, without giving up the CPU (deterministic
 * mode: it keeps the token), until the host has checked the machine and
 * written `n` as the answer; then all meet again. Returns the meetings done.
 */
function checkpoint(sync: u32, meetings: u32, ckpt: u32, n: u32): u32 {
  const parts = UFFD_HANDLER() >= 0 ? NCPUS - 1 : NCPUS;
  meet(sync, ++meetings * parts);
  if (cpu_id() == 0) {
    uffd_handler_idle();
    atomic.store<u32>(ckpt, n);
    // retry: the host has not answered yet (it polls every few ms)
    while (true) {
      const a = atomic.load<u32>(ckpt + 4);
      if (a == n) break;
      check_stop();
      atomic.wait<u32>(ckpt + 4, a, 10_000_000);
    }
  }
  meet(sync, ++meetings * parts);
  return meetings;
}

/** NUMA balancing tick: the same rule as access.ts maybe_numa_scan (the first CPU past the mm's next-scan time scans) */
function numa_tick(mm: u32, out: u32): void {
  const period = <u64>setting(SET_NUMA_PERIOD);
  if (period == 0) return;
  const a = mm_addr(mm) + MM_NUMA_NEXT;
  const next = atomic.load<u64>(a);
  if (now() < next) return;
  if (atomic.cmpxchg<u64>(a, next, now() + period) == next) { task_numa_work(mm); bump(out, STRESS_NUMA_SCANS); }
}

/** a length in pages: mostly short (1..max_len), one in eight up to half the region */
function pick_len(npages: u32, max_len: u32): u32 {
  if (rand_below(8) == 0 && npages >= 2) return <u32>rand_below(npages / 2) + 1;
  return <u32>rand_below(max_len) + 1;
}

/** one access; counts it and its outcome */
function stress_access(mm: u32, a: u64, write: bool, out: u32): void {
  bump(out, write ? STRESS_WRITES : STRESS_READS);
  const r = access(mm, a, write);
  if (r == 0) return;
  if (r == VM_FAULT_SIGSEGV) bump(out, STRESS_SIGSEGV);
  else if (r == VM_FAULT_SIGBUS) bump(out, STRESS_SIGBUS);
  else if (r == VM_FAULT_OOM) bump(out, STRESS_OOM);
  else bump(out, STRESS_RETRY);
}

/**
 * The random mix. CPU 0 maps [base, base + npages pages) (anonymous, RW)
 * before the others start. Then each CPU runs `ops` operations, each picked
 * by weight: read or write a run of 1..8 random pages; mmap(MAP_FIXED)
 * anonymous RW or R over a random sub-range; munmap, mprotect (R or RW),
 * madvise(MADV_DONTNEED) of a random sub-range (with tag storage, a quarter
 * of the mprotects add PROT_MTE); mmap(MAP_FIXED) of file 0,
 * private or shared, at the file offset of the region's page (so every
 * mapping of a page sees the same page-cache page; needs a file of `npages`
 * pages). With SET_NUMA_PERIOD set the NUMA scanner runs between operations.
 * Every `check_every` operations (0: never) all CPUs stop at a checkpoint
 * (see the top of the file; `ckpt`: two host-zeroed shared u32s).
 */
export function stress_run(mm: u32, base: u64, npages: u32, ops: u32, mix: u32, out: u32): void {
  const w_read = load<u32>(mix + SMIX_W_READ), w_write = load<u32>(mix + SMIX_W_WRITE);
  const w_mmap = load<u32>(mix + SMIX_W_MMAP), w_munmap = load<u32>(mix + SMIX_W_MUNMAP);
  const w_mprotect = load<u32>(mix + SMIX_W_MPROTECT), w_madvise = load<u32>(mix + SMIX_W_MADVISE);
  const w_mmap_file = load<u32>(mix + SMIX_W_MMAP_FILE), max_len = load<u32>(mix + SMIX_MAX_LEN);
  const check_every = load<u32>(mix + SMIX_CHECK_EVERY), ckpt = load<u32>(mix + SMIX_CKPT), sync = load<u32>(mix + SMIX_SYNC);
  memory.fill(out, 0, STRESS_NCOUNTERS * 4);
  const parts = UFFD_HANDLER() >= 0 ? NCPUS - 1 : NCPUS;
  if (cpu_id() == 0 && sys_mmap(mm, base, <u64>npages * PAGE_SIZE, RW, ANON_FIXED, 0, 0) < 0) bump(out, STRESS_MMAP_FAIL);
  meet(sync, parts);
  let meetings: u32 = 1;
  const w_mix = w_read + w_write + w_mmap + w_munmap + w_mprotect + w_madvise + w_mmap_file;
  const total = w_mix + (UFFD_HANDLER() >= 0 ? W_UFFD_REG() + W_UFFD_UNREG() + W_UFFD_WP() : 0);
  if (total == 0 || npages == 0) { if (UFFD_HANDLER() >= 0) uffd_fault_side_done(UFFD_CTX, UFFD_RUNNING()); meet(sync, 2 * parts); return; }
  for (let i: u32 = 0; i < ops; i++) {
    if (check_every != 0 && i != 0 && i % check_every == 0) meetings = checkpoint(sync, meetings, ckpt, i / check_every);
    op_begin(30);
    let k = <u32>rand_below(total);
    const p = <u32>rand_below(npages);
    const addr = base + <u64>p * PAGE_SIZE;
    if (k < w_read + w_write) {
      const write = k >= w_read;
      let n = <u32>rand_below(8) + 1;
      if (n > npages - p) n = npages - p;
      for (let j: u32 = 0; j < n; j++) stress_access(mm, addr + <u64>j * PAGE_SIZE, write, out);
    } else {
      k -= w_read + w_write;
      let n = pick_len(npages, max_len);
      if (n > npages - p) n = npages - p;
      const len = <u64>n * PAGE_SIZE;
      if (k < w_mmap) {
        bump(out, STRESS_MMAP);
        const prot = rand_below(4) == 0 ? VM_READ : RW;
        if (sys_mmap(mm, addr, len, prot, ANON_FIXED, 0, 0) < 0) bump(out, STRESS_MMAP_FAIL);
      } else if (k < w_mmap + w_munmap) {
        bump(out, STRESS_MUNMAP);
        if (sys_munmap(mm, addr, len) < 0) bump(out, STRESS_MUNMAP_FAIL);
      } else if (k < w_mmap + w_munmap + w_mprotect) {
        bump(out, STRESS_MPROTECT);
        let prot = rand_below(2) == 0 ? VM_READ : RW;
        // with tag storage, one in four also asks for PROT_MTE (no draw without it: old runs replay)
        if (tag_storage_enabled() && rand_below(4) == 0) prot |= PROT_MTE;
        if (sys_mprotect(mm, addr, len, prot) < 0) bump(out, STRESS_MPROTECT_FAIL);
      } else if (k < w_mmap + w_munmap + w_mprotect + w_madvise) {
        bump(out, STRESS_MADVISE);
        if (sys_madvise(mm, addr, len, MADV_DONTNEED) < 0) bump(out, STRESS_MADVISE_FAIL);
      } else if (k < w_mix - w_read - w_write) {
        bump(out, STRESS_MMAP_FILE);
        const prot = rand_below(4) == 0 ? VM_READ : RW;
        const kind = rand_below(2) == 0 ? MAP_SHARED : MAP_PRIVATE;
        if (sys_mmap(mm, addr, len, prot, kind | MAP_FIXED, 0, <u64>p) < 0) bump(out, STRESS_MMAP_FAIL);
      } else {
        // userfaultfd: faults in registered ranges wait for the handler CPU
        k -= w_mix - w_read - w_write;
        if (k < W_UFFD_REG()) {
          bump(out, STRESS_UFFD_REGISTER);
          const mode: u32 = <u32>rand_below(3) + 1; // MISSING, WP, or both
          if (uffdio_register(UFFD_CTX, addr, len, mode) < 0) bump(out, STRESS_UFFD_REGISTER_FAIL);
        } else if (k < W_UFFD_REG() + W_UFFD_UNREG()) {
          bump(out, STRESS_UFFD_UNREGISTER);
          uffdio_unregister(UFFD_CTX, addr, len);
        } else {
          bump(out, STRESS_UFFD_WRITEPROTECT);
          if (uffdio_writeprotect(UFFD_CTX, addr, len, 1) < 0) bump(out, STRESS_UFFD_WRITEPROTECT_FAIL);
        }
      }
    }
    bump(out, STRESS_OPS);
    numa_tick(mm, out);
    op_done();
  }
  if (UFFD_HANDLER() >= 0) uffd_fault_side_done(UFFD_CTX, UFFD_RUNNING());
  meet(sync, ++meetings * parts);
}

/** sleep until the u32 at `w` no longer holds `v` (the writer calls wake_waiters(w)) */
function wait_change(w: u32, v: u32): void {
  if (atomic.load<u32>(w) != v) return;
  wait_prepare(w, WAIT_FLAG);
  // retry: woken for another reason (an IPI, a timeout)
  while (true) {
    const t = wait_token();
    if (atomic.load<u32>(w) != v) break;
    wait_sleep(t);
  }
  wait_finish();
}

/**
 * The munmap race: the region is `nslots` slots of `slot_pages` pages, mapped
 * as one anonymous RW VMA by CPU 0. CPU 0 then unmaps the slots one by one
 * and never maps them again. For each slot it faults the first page itself
 * (the PTE table and the anon_vma come from a classic fault, so the others'
 * faults can be speculative), publishes the slot at `cursor`, waits until
 * the others have written `min_writes` pages of it (bounded), and munmaps it
 * while they keep write-faulting FRESH pages of it (each takes the next page
 * from the shared counter `next`). A faulting CPU that got SIGSEGV sleeps
 * until the next slot is published, so while a munmap runs the others are
 * either in a speculative fault or asleep. A PTE installed into a slot after
 * its munmap zapped it stays there, outside any VMA (or lands in a freed page
 * table), for the checker to find. Faulting CPUs stop after `ops` accesses or
 * when the last slot is gone. `cursor`, `next` and `progress` are
 * host-zeroed shared u32s.
 */
export function stress_munmap_race(mm: u32, base: u64, race: u32, out: u32): void {
  const nslots = load<u32>(race + SRACE_NSLOTS), slot_pages = load<u32>(race + SRACE_SLOT_PAGES);
  const ops = load<u32>(race + SRACE_OPS), min_writes = load<u32>(race + SRACE_MIN_WRITES);
  const sync = load<u32>(race + SRACE_SYNC), cursor = load<u32>(race + SRACE_CURSOR);
  const next = load<u32>(race + SRACE_NEXT), progress = load<u32>(race + SRACE_PROGRESS);
  memory.fill(out, 0, STRESS_NCOUNTERS * 4);
  const slot_bytes = <u64>slot_pages * PAGE_SIZE;
  const NONE: u32 = 0xffffffff;
  if (cpu_id() == 0) {
    atomic.store<u32>(cursor, NONE); // no slot yet
    if (sys_mmap(mm, base, <u64>nslots * slot_bytes, RW, ANON_FIXED, 0, 0) < 0) bump(out, STRESS_MMAP_FAIL);
  }
  meet(sync, NCPUS);
  if (cpu_id() == 0) {
    for (let k: u32 = 0; k < nslots; k++) {
      op_begin(31);
      const s = base + <u64>k * slot_bytes;
      stress_access(mm, s, true, out);
      atomic.store<u32>(progress, 0);
      atomic.store<u32>(next, 1);
      atomic.store<u32>(cursor, k);
      wake_waiters(cursor);
      // bounded wait for the others to be faulting in this slot
      for (let t: u32 = 0; t < 100000 && atomic.load<u32>(progress) < min_writes; t++) { charge(20); sync_point(); }
      bump(out, STRESS_MUNMAP);
      if (sys_munmap(mm, s, slot_bytes) < 0) bump(out, STRESS_MUNMAP_FAIL);
      atomic.store<u32>(next, slot_pages); // nothing left to fault here
      bump(out, STRESS_OPS);
      op_done();
    }
    atomic.store<u32>(cursor, nslots);
    wake_waiters(cursor);
  } else {
    let done: u32 = 0;
    let k = atomic.load<u32>(cursor);
    while (done < ops) {
      if (k == nslots) break;
      const p = k == NONE ? slot_pages : atomic.add<u32>(next, 1);
      if (p >= slot_pages) { wait_change(cursor, k); k = atomic.load<u32>(cursor); continue; }
      op_begin(32);
      const segv = load<u32>(out + STRESS_SIGSEGV * 4);
      stress_access(mm, base + <u64>k * slot_bytes + <u64>p * PAGE_SIZE, true, out);
      bump(out, STRESS_OPS);
      done++;
      op_done();
      if (load<u32>(out + STRESS_SIGSEGV * 4) == segv) atomic.add<u32>(progress, 1);
      else { wait_change(cursor, k); k = atomic.load<u32>(cursor); } // the slot is gone
    }
  }
  meet(sync, 2 * NCPUS);
}
