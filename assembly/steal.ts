// Work stealing between host workers (parallel mode, M:N engine; issue 24): a
// worker none of whose own CPUs can run takes runnable CPUs of a busy worker
// instead of sleeping.
//
// Why a CPU can move: everything a suspended CPU needs lives in shared memory
// -- its per-CPU block (reached through PC, which the running worker sets), its
// run-queue entry, its Asyncify stack (async_buf(c): the saved locals and call
// indices of its frames, which mean the same in every instance of the one
// module all workers run). Module globals are per instance; those a CPU's code
// reads are machine-wide (NCPUS, the cost table, the mode, the call table:
// identical in every instance) or the running worker's own (WK, FIRST, COUNT,
// the heap: "this worker", whichever that is). The stress's userfaultfd mix was
// the one per-CPU value held in module globals; it lives in the per-CPU block
// (PC_STRESS_UFFD). test/integration/steal.test.ts checks the module's mutable
// globals against that list.
//
// The hand-over: one ownership word per CPU (RQ_OWN; states and arrows in
// layout.ts). A busy worker (home) takes CPUs out of its heap and OFFERS them
// while some worker is hungry (H_HUNGRY); a hungry worker (thief) takes one
// with a CAS (STOLEN), runs it until it parks, yields or its call returns,
// and hands it BACK (a bit in home's WK_HANDBACK, a futex bump); home
// re-queues it at its next round, looking at its wake token as drain_wakes
// does. Home takes offers back (CAS) when nobody is hungry any more or its
// own heap ran dry. Nothing here runs in deterministic mode (one worker).

import {
  HDR_BASE, H_HUNGRY, H_NWORKERS, H_STEAL, H_FLAGS, FLAG_STEAL_EAGER, PC_STATE, PC_WAKE, PC_WORKER,
  WK_WAKE, WK_FIRST, WK_COUNT, WK_CURRENT, WK_SWITCHES, WK_HUNGRY, WK_OFFERED, WK_HANDBACK, WK_STEALS, WK_STEALS_MIDCALL, WK_STEALS_MIDFAULT, WK_URGENT, WK_OFFER_MAP,
  RQ_OWN, OWN_HOME, OWN_OFFERED, OWN_STOLEN, OWN_BACK, CPU_RUNNING, CPU_RUNNABLE, CPU_WAITING, CPU_AT_BARRIER,
  percpu, worker_addr,
} from './layout';
import { PC, DETERMINISTIC, cpu_local, cpu_switch_to } from './cpu';
import { TEST_BUILD } from './build_flags';
import {
  WK, FIRST, COUNT, HEAP_N, STEAL, rq, rq_flags, rq_set, rq_ready, heap_at, heap_second, irq_owed, runq_set_steal, worker_kick,
  RQ_FLAGS, RQ_READY, RQ_SUSPENDED, RQ_HAS_CALL, RQ_SPINNING, RQ_PARK_TOKEN,
} from './runq';
import { coroutine_run, coroutine_suspended } from './coroutine';

let ME: u32 = 0; // this worker's index
let NW: u32 = 1; // workers of the run
let EAGER = false; // test build, FLAG_STEAL_EAGER: offer everything, steal first
let HUNGRY = false; // mirror of our WK_HUNGRY
/** our CPUs offered or stolen and not yet handed back (only our thread changes it) */
let OUT: u32 = 0;
/** an offer of ours may still be OFFERED (cleared by a scan that found none) */
let MAYBE_OFFERED = false;

@inline function own(c: u32): u32 { return rq(c) + RQ_OWN; }

/** Bind: is stealing on for this worker (it runs 2+ CPUs: its CPUs have Asyncify stacks and it can park a stolen one)? */
export function steal_bind(w: u32): void {
  ME = w;
  NW = load<u32>(HDR_BASE + H_NWORKERS);
  const on = !DETERMINISTIC && NW > 1 && COUNT > 1 && load<u32>(HDR_BASE + H_STEAL) != 0;
  runq_set_steal(on);
  EAGER = TEST_BUILD && on && (load<u32>(HDR_BASE + H_FLAGS) & FLAG_STEAL_EAGER) != 0;
  HUNGRY = false;
  OUT = 0;
  MAYBE_OFFERED = false;
  atomic.store<u32>(WK + WK_HUNGRY, 0);
  atomic.store<u32>(WK + WK_OFFERED, 0);
  store<u64>(WK + WK_STEALS, 0);
  store<u64>(WK + WK_STEALS_MIDCALL, 0);
  store<u64>(WK + WK_STEALS_MIDFAULT, 0);
  for (let wd = FIRST >> 5; wd <= (FIRST + COUNT - 1) >> 5; wd++) {
    atomic.store<u32>(WK + WK_HANDBACK + (wd << 2), 0);
    atomic.store<u32>(WK + WK_OFFER_MAP + (wd << 2), 0);
  }
  for (let c = FIRST; c < FIRST + COUNT; c++) atomic.store<u32>(own(c), OWN_HOME);
}

/** test build: FLAG_STEAL_EAGER */
export function steal_eager(): bool { return EAGER; }

/** We have none of our own CPUs to run (true) or we do (false): busy workers offer CPUs while anyone is hungry. */
export function set_hungry(h: bool): void {
  if (h == HUNGRY) return;
  HUNGRY = h;
  atomic.store<u32>(WK + WK_HUNGRY, h ? 1 : 0);
  if (h) atomic.add<u32>(HDR_BASE + H_HUNGRY, 1);
  else atomic.sub<u32>(HDR_BASE + H_HUNGRY, 1);
}

/** Could a worker of ours steal something now (another worker has CPUs OFFERED)? */
export function offers_exist(): bool {
  for (let v: u32 = 0; v < NW; v++) if (v != ME && atomic.load<u32>(worker_addr(v) + WK_OFFERED) != 0) return true;
  return false;
}

// ------------------------------------------------------------- home side ---

/**
 * Offer CPUs of our heap while another worker is hungry: the ones after the
 * first in clock order, until about as many are out (offered or stolen) as we
 * keep (FLAG_STEAL_EAGER: all of them). `keep`: a CPU we are about to run (-1:
 * none), never offered. Then wake the hungry workers that sleep.
 */
export function offer_cpus(keep: i32): void {
  if (!EAGER && atomic.load<u32>(HDR_BASE + H_HUNGRY) - (HUNGRY ? 1 : 0) == 0) return;
  let n: u32 = 0;
  // retry: one CPU per round
  while (EAGER ? HEAP_N > (keep >= 0 ? 1 : 0) : HEAP_N >= 2 && OUT + 1 < HEAP_N) {
    let c: i32;
    if (EAGER) { c = <i32>heap_at(0); if (c == keep) c = heap_second(); }
    else { c = heap_second(); if (c == keep) c = <i32>heap_at(0); }
    if (c < 0) break;
    // out of the heap first: from OFFERED on, a thief may own the entry
    rq_set(<u32>c, 0, RQ_READY);
    OUT++;
    n++;
    atomic.add<u32>(WK + WK_OFFERED, 1);
    atomic.store<u32>(own(<u32>c), OWN_OFFERED);
    atomic.or<u32>(WK + WK_OFFER_MAP + ((<u32>c >> 5) << 2), 1 << (<u32>c & 31));
  }
  if (n == 0) return;
  MAYBE_OFFERED = true;
  // a hungry worker that sleeps: it set WK_SLEEPING before it looked at WK_OFFERED,
  // we raised WK_OFFERED before we look at WK_SLEEPING (the wake-up of runq.ts wake_cpu_raw)
  for (let v: u32 = 0; v < NW; v++) {
    if (v == ME) continue;
    const wk = worker_addr(v);
    if (atomic.load<u32>(wk + WK_HUNGRY) == 0) continue;
    atomic.add<u32>(wk + WK_WAKE, 1);
    worker_kick(wk);
  }
}

/**
 * Take offers back: all of them when nobody is hungry any more, one when our
 * heap ran dry. Returns how many.
 */
export function reclaim_offers(): u32 {
  if (OUT == 0 || !MAYBE_OFFERED) return 0;
  const all = atomic.load<u32>(HDR_BASE + H_HUNGRY) - (HUNGRY ? 1 : 0) == 0 && !EAGER;
  if (!all && HEAP_N > 0) return 0;
  let n: u32 = 0, found: u32 = 0;
  for (let wd = FIRST >> 5; wd <= (FIRST + COUNT - 1) >> 5; wd++) {
    for (let bits = atomic.load<u32>(WK + WK_OFFER_MAP + (wd << 2)); bits != 0; bits &= bits - 1) {
      const c = (wd << 5) + ctz(bits);
      found++;
      if (reclaim(c)) { n++; if (!all) return n; }
    }
  }
  if (found <= n) MAYBE_OFFERED = false;
  return n;
}

function reclaim(c: u32): bool {
  // a thief may take it at the same moment: one CAS decides
  if (atomic.cmpxchg<u32>(own(c), OWN_OFFERED, OWN_HOME) != OWN_OFFERED) return false;
  atomic.sub<u32>(WK + WK_OFFERED, 1);
  atomic.and<u32>(WK + WK_OFFER_MAP + ((c >> 5) << 2), ~(1 << (c & 31)));
  OUT--;
  rq_ready(c, percpu(c));
  return true;
}

/**
 * Re-queue the CPUs thieves handed back. At a round of sched_run (`inside`
 * false) returns the first whose call returned (the host gets it; the others
 * stay handed back for the next round), or -1. From inside a running CPU
 * (notice_wakes: the CPU it spins for may be one of them) returned calls stay
 * handed back for sched_run.
 */
export function take_handbacks(inside: bool): i32 {
  let ret: i32 = -1;
  for (let wd = FIRST >> 5; wd <= (FIRST + COUNT - 1) >> 5; wd++) {
    const a = WK + WK_HANDBACK + (wd << 2);
    if (atomic.load<u32>(a) == 0) continue;
    let bits = atomic.xchg<u32>(a, 0);
    while (bits != 0) {
      const c = (wd << 5) + ctz(bits);
      bits &= bits - 1;
      if (atomic.load<u32>(own(c)) != OWN_BACK) abort('take_handbacks: a CPU handed back is not in state BACK (RQ_OWN)', null, 0, 0);
      const f = rq_flags(c);
      if ((f & RQ_HAS_CALL) == 0 && (inside || ret >= 0)) {
        // a second returned call: the next round hands it to the host
        atomic.or<u32>(a, 1 << (c & 31));
        continue;
      }
      atomic.store<u32>(own(c), OWN_HOME);
      OUT--;
      const pc = percpu(c);
      if ((f & RQ_HAS_CALL) == 0) {
        // its call returned on the thief (which set it RUNNABLE): the host posts the next one
        rq_ready(c, pc);
        ret = <i32>c;
        continue;
      }
      const st = atomic.load<u32>(pc + PC_STATE);
      let ready = st == CPU_RUNNABLE || (f & RQ_SPINNING) != 0;
      if (!ready && (st == CPU_WAITING || st == CPU_AT_BARRIER) && atomic.load<u32>(pc + PC_WAKE) != load<u32>(rq(c) + RQ_PARK_TOKEN)) {
        // woken while it was away (drain_wakes skipped its post)
        atomic.store<u32>(pc + PC_STATE, CPU_RUNNABLE);
        ready = true;
      }
      if (!ready) continue; // parked: its waker posts it to us as to any parked CPU
      rq_ready(c, pc);
      if (!DETERMINISTIC && (f & RQ_SPINNING) == 0 && irq_owed(pc)) {
        const u = WK + WK_URGENT + ((c >> 6) << 3);
        store<u64>(u, load<u64>(u) | (<u64>1 << (c & 63)));
      }
    }
  }
  return ret;
}

// ------------------------------------------------------------ thief side ---

/**
 * Take one OFFERED CPU of another worker (its offer map: O(1), no scan of its
 * CPUs) and run it until it parks, yields or its call returns; then hand it
 * back. Returns whether it ran one.
 */
export function steal_and_run(): bool {
  for (let v: u32 = 0; v < NW; v++) {
    if (v == ME) continue;
    const wk = worker_addr(v);
    if (atomic.load<u32>(wk + WK_OFFERED) == 0) continue;
    const first = load<u32>(wk + WK_FIRST), count = load<u32>(wk + WK_COUNT);
    if (count < 2) continue;
    for (let wd = first >> 5; wd <= (first + count - 1) >> 5; wd++) {
      const a = wk + WK_OFFER_MAP + (wd << 2);
      // retry: its home (or another thief) took the one we chose
      for (let bits = atomic.load<u32>(a); bits != 0; bits &= bits - 1) {
        const c = (wd << 5) + ctz(bits);
        if (atomic.cmpxchg<u32>(own(c), OWN_OFFERED, OWN_STOLEN) != OWN_OFFERED) continue;
        atomic.and<u32>(a, ~(1 << (c & 31)));
        atomic.sub<u32>(wk + WK_OFFERED, 1);
        run_stolen(c);
        return true;
      }
    }
  }
  return false;
}

/** Run stolen CPU `c` on this worker (we own its entry: RQ_OWN STOLEN), then hand it back. */
function run_stolen(c: u32): void {
  cpu_switch_to(c);
  const l = cpu_local();
  // none of our CPUs is runnable: it runs until it parks (a wake-up of one of ours lowers this: notice_wakes)
  l.run_limit = u64.MAX_VALUE;
  l.run_limit_cpu = 0xffffffff;
  const mid = (rq_flags(c) & RQ_SUSPENDED) != 0;
  if (TEST_BUILD && mid && l.in_fault != 0) store<u64>(WK + WK_STEALS_MIDFAULT, load<u64>(WK + WK_STEALS_MIDFAULT) + 1);
  atomic.store<u32>(PC + PC_STATE, CPU_RUNNING);
  atomic.store<u32>(WK + WK_CURRENT, c + 1);
  coroutine_run(c);
  atomic.store<u32>(WK + WK_CURRENT, 0);
  store<u64>(WK + WK_STEALS, load<u64>(WK + WK_STEALS) + 1);
  if (mid) store<u64>(WK + WK_STEALS_MIDCALL, load<u64>(WK + WK_STEALS_MIDCALL) + 1);
  let f = rq_flags(c);
  if (coroutine_suspended(c)) {
    f |= RQ_SUSPENDED;
    atomic.add<u64>(WK + WK_SWITCHES, 1);
  } else {
    f &= ~(RQ_SUSPENDED | RQ_HAS_CALL);
    atomic.store<u32>(PC + PC_STATE, CPU_RUNNABLE);
  }
  // (not READY: it is in no heap; home re-queues it)
  store<u32>(rq(c) + RQ_FLAGS, f);
  atomic.store<u32>(own(c), OWN_BACK);
  // post it home as wake_cpu_raw posts a wake-up: the bit, the futex bump, a notify if it sleeps
  const home = worker_addr(load<u32>(percpu(c) + PC_WORKER));
  atomic.or<u32>(home + WK_HANDBACK + ((c >> 5) << 2), 1 << (c & 31));
  atomic.add<u32>(home + WK_WAKE, 1);
  worker_kick(home);
}
