// This instance's CPU: identity, virtual clock, cost lookup and statistics.
//
// Module globals are per instance, i.e. per worker thread = per emulated CPU
// (WASM-NOTES: globals are never shared). The clock lives in a global for
// speed and is PUBLISHED to the per-CPU block (PC_CLOCK) at every sync point
// and before every wait, so other CPUs and the host read a value that is at
// most one operation stale.

import {
  HDR_BASE, H_NCPUS, H_MODE, MODE_DETERMINISTIC, PC_CLOCK, PC_SOCKET, PC_CORE, PC_STATS, PC_RNG,
  percpu, cost_base, LOCK_STAT_BASE_OFF,
} from './layout';
import { sched_setup } from './sched';

/** this instance's CPU id and per-CPU block address */
export let CPU: u32 = 0;
export let PC: u32 = 0;
export let MY_SOCKET: u32 = 0;
export let MY_CORE: u32 = 0;
export let NCPUS: u32 = 1;
export let DETERMINISTIC: bool = false;
/** the virtual clock of this CPU, in cycles */
export let CLOCK: u64 = 0;
let COSTS: u32 = 0;

/** Bind this instance to CPU `id` (called once by the worker after instantiation). */
export function cpu_bind(id: u32): void {
  CPU = id;
  PC = percpu(id);
  MY_SOCKET = load<u32>(PC + PC_SOCKET);
  MY_CORE = load<u32>(PC + PC_CORE);
  NCPUS = load<u32>(HDR_BASE + H_NCPUS);
  DETERMINISTIC = load<u32>(HDR_BASE + H_MODE) == MODE_DETERMINISTIC;
  COSTS = cost_base();
  CLOCK = atomic.load<u64>(PC + PC_CLOCK);
}

/**
 * Bind the HOST's instance to CPU `id` to set a machine up before the run
 * (map a shared region...): it never waits for a token or a barrier and never
 * publishes its clock, so setup happens "before time 0".
 */
export function cpu_bind_setup(id: u32): void {
  cpu_bind(id);
  DETERMINISTIC = false;
  sched_setup();
}

/** Cycles of cost-model entry `id` (COST_* from generated.ts). */
@inline export function cost(id: i32): u64 { return <u64>load<u32>(COSTS + (<u32>id << 2)); }

/** Charge `c` cycles to this CPU. */
@inline export function charge(c: u64): void { CLOCK += c; }
@inline export function charge_cost(id: i32): void { CLOCK += cost(id); }

/** Make the clock visible to other CPUs and the host. */
@inline export function publish_clock(): void { atomic.store<u64>(PC + PC_CLOCK, CLOCK); }
@inline export function set_clock(t: u64): void { CLOCK = t; }
@inline export function clock_of(cpu: u32): u64 { return atomic.load<u64>(percpu(cpu) + PC_CLOCK); }

// ---- statistics: per-CPU u64 counters, only this CPU writes its own ----
@inline export function stat_inc(id: i32): void {
  const a = PC + PC_STATS + (<u32>id << 3);
  store<u64>(a, load<u64>(a) + 1);
}
@inline export function stat_add(id: i32, v: u64): void {
  const a = PC + PC_STATS + (<u32>id << 3);
  store<u64>(a, load<u64>(a) + v);
}
/** lock-class counters: k = 0 acquire, 1 contended, 2 wait cycles */
@inline export function lock_stat(cls: u32, k: i32, v: u64): void {
  stat_add(LOCK_STAT_BASE_OFF + <i32>cls * 3 + k, v);
}

// ---- per-CPU xorshift64* random numbers (state in shared memory so a run is reproducible) ----
export function rand64(): u64 {
  let x = load<u64>(PC + PC_RNG);
  if (x == 0) x = 0x9E3779B97F4A7C15 ^ (<u64>CPU + 1);
  x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
  store<u64>(PC + PC_RNG, x);
  return x * 0x2545F4914F6CDD1D;
}
/** uniform in [0, n) */
@inline export function rand_below(n: u64): u64 { return n == 0 ? 0 : (rand64() >> 11) % n; }
