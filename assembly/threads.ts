// The threads engine (one emulated CPU per host worker, build/faultline.wasm
// without Asyncify): nothing unwinds; a CPU that must wait spins a little, then
// sleeps on its worker's futex until its wake token moves. The M:N engine parks
// a coroutine instead (coroutine.ts); wait.ts and barrier.ts choose by COUNT.

import { HDR_BASE, H_STOP, PC_WAKE, PC_WORKER, WK_WAKE, WK_SLEEPS, WK_TIMEOUTS, STOP_NONE, worker_addr, H_INIT_DONE, LAYOUT_MAGIC } from './layout';
import { PC, cpu_id, cpu_local, machine_bind } from './cpu';
import { WK, runq_bind, prepare_cpu, sleep_begin, sleep_end, rescue_arm } from './runq';

export const SPINS_BEFORE_SLEEP: u32 = 64;
export const SLEEP_NS: i64 = 20_000_000; // 20 ms: a safety net only; every wake-up is explicit
export const SPIN_SLEEP_NS: i64 = 20_000; // a spin loop without a wake object backs off this long

/**
 * Run CPU `id` directly from the host, one call at a time (tests, embedding
 * without the scheduler): this instance becomes a worker of that one CPU,
 * so its waits sleep on the worker's futex instead of switching.
 */
export function cpu_start(): void {
  const id = cpu_id();
  machine_bind();
  if (atomic.load<u32>(HDR_BASE + H_INIT_DONE) != LAYOUT_MAGIC) abort('cpu_start: machine_init() has not accepted this machine', null, 0, 0);
  runq_bind(worker_addr(load<u32>(PC + PC_WORKER)), id, 1, true);
  prepare_cpu();
}

/** One CPU on this worker: sleep on the worker's futex until the CPU's token differs from `token` (or the safety timeout). */
export function worker_sleep_until_woken(token: u32): void {
  const wk = WK;
  const w = atomic.load<u32>(wk + WK_WAKE);
  sleep_begin(wk);
  if (atomic.load<u32>(PC + PC_WAKE) == token && atomic.load<u32>(HDR_BASE + H_STOP) == STOP_NONE) {
    atomic.add<u64>(wk + WK_SLEEPS, 1);
    // the timed wait is this engine's safety net: the caller looks at its wait again. Nobody
    // woke us for SLEEP_NS: if the wait turns out to be over, a wake-up was lost (rescue_arm)
    if (atomic.wait<u32>(wk + WK_WAKE, w, SLEEP_NS) == 2 && atomic.load<u32>(PC + PC_WAKE) == token) {
      atomic.add<u64>(wk + WK_TIMEOUTS, 1);
      rescue_arm(cpu_id(), token);
    }
  }
  sleep_end(wk);
}

/** One round of a wait: spin briefly (the releaser is often running on the other host core), then sleep. */
export function thread_wait_round(token: u32): void {
  const l = cpu_local();
  if (l.spins < SPINS_BEFORE_SLEEP) { l.spins++; return; }
  worker_sleep_until_woken(token);
}

/** One round of a spin loop without a wake object: after a while, back off on the worker's futex. */
export function thread_spin_round(spins: u32): void {
  if (spins > SPINS_BEFORE_SLEEP) {
    const wk = WK;
    atomic.wait<u32>(wk + WK_WAKE, atomic.load<u32>(wk + WK_WAKE), SPIN_SLEEP_NS);
  }
}
