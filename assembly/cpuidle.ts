// The idle state of a CPU whose task sleeps (drivers/cpuidle): what it pays to run again.
//
// An emulated thread has a CPU of its own, so a thread that sleeps (in an
// rwsem's wait list) leaves its CPU idle, and the idle loop
// (cpuidle_idle_call) puts it into an idle state the governor picks. Leaving
// that state costs its exit_latency before the CPU runs anything: the
// interrupt that reached it (a shootdown IPI, the reschedule IPI of the
// wake-up) and then the woken task. The governor (menu.c) aims for the
// deepest state whose target_residency the idle period will cover; the
// emulator knows the period when the CPU is interrupted, and picks that
// state (a governor that predicts exactly: the real one mispredicts both
// ways). The states are the profile's cpuidle1..3 (exit latency, target
// residency), e.g. intel_idle.c's C1, C1E and C6 tables; a profile with none
// (both 0) never charges anything.
//
// Invariant: PC_IDLE_SINCE is the start of the CPU's current idle period
// while it sleeps in a wait list (set when it joins, moved to the end of
// each interrupt it takes meanwhile), and NOT_IDLE once an exit ended the
// period: a woken task runs (and looks at its lock) while still on the wait
// list, and an IPI it takes then finds a running CPU, which pays no exit.
//
// A KVM guest's vCPU idles by HLT, which exits to its host, and the host's
// kvm_vcpu_block() (virt/kvm/kvm_main.c, as in Linux 4.16; adaptive since
// 4.3, commit aca6ff29c406 "KVM: dynamic halt-polling") first polls for the
// vCPU's interrupt for the vCPU's own window (vcpu->halt_poll_ns), and only
// past it blocks the vCPU thread (schedule()): a wake-up then goes through
// the host (its wake-up of the thread, the host CPU's own idle exit, the
// switch back, VM entry), the profile's halt_block_wake on top of the HLT
// exit. The window adapts per vCPU after every halt of length b:
//   b <= window: the poll caught the interrupt (halt_successful_poll);
//   else, window != 0 and b > halt_poll_ns: reset to 0 (shrink_halt_poll_ns,
//     halt_poll_ns_shrink = 0: the default);
//   else, window < halt_poll_ns and b < halt_poll_ns: grow (grow_halt_poll_ns:
//     10 us from 0, then x halt_poll_ns_grow = 2, at most halt_poll_ns).
// halt_poll_ns is the profile's halt_poll_max (0: not a KVM guest, nothing
// charged). The window lives in the vCPU's block (PC_VCPU_HALT_POLL: the
// block of the vCPU's first task with a guest run queue, vcpu.ts; else the
// CPU's own), written only by whoever ends that vCPU's idle period.
// Not modelled: polling stops early when another host task wants the host
// CPU (single_task_running()): the vCPUs are taken to have their host CPUs.

import { PC_IDLE_SINCE, PC_VCPU_HALT_POLL, HDR_BASE, H_GHZ_MILLI } from './layout';
import { PC, now, charge, cost, stat_add, stat_inc, cpu_id } from './cpu';
import {
  COST_CPUIDLE1_EXIT_LATENCY, COST_CPUIDLE1_TARGET_RESIDENCY, COST_CPUIDLE2_EXIT_LATENCY, COST_CPUIDLE2_TARGET_RESIDENCY,
  COST_CPUIDLE3_EXIT_LATENCY, COST_CPUIDLE3_TARGET_RESIDENCY, STAT_CPUIDLE_EXIT_CYCLES,
  COST_HALT_POLL_MAX, COST_HALT_BLOCK_WAKE, STAT_HALT_POLL_SUCCESS, STAT_HALT_BLOCK, STAT_HALT_BLOCK_CYCLES,
  COST_HOST_CPUIDLE1_EXIT_LATENCY, COST_HOST_CPUIDLE1_TARGET_RESIDENCY, COST_HOST_CPUIDLE2_EXIT_LATENCY, COST_HOST_CPUIDLE2_TARGET_RESIDENCY,
  COST_HOST_CPUIDLE3_EXIT_LATENCY, COST_HOST_CPUIDLE3_TARGET_RESIDENCY,
} from './generated';
import { vcpu_rq } from './vcpu';

/** exit latency of the deepest of the three states at cost keys c1, c2, c3 whose target residency `idle` covers (0: none); spec/costs.json lists each state's target residency right after its exit latency (key + 1) */
@inline function deepest_exit(c1: i32, c2: i32, c3: i32, idle: u64): u64 {
  if (cost(c3) + cost(c3 + 1) != 0 && idle >= cost(c3 + 1)) return cost(c3);
  if (cost(c2) + cost(c2 + 1) != 0 && idle >= cost(c2 + 1)) return cost(c2);
  if (cost(c1) + cost(c1 + 1) != 0 && idle >= cost(c1 + 1)) return cost(c1);
  return 0;
}

/** exit latency of the deepest state whose target residency `idle` cycles cover (0: none) */
export function cpuidle_exit_latency(idle: u64): u64 {
  return deepest_exit(COST_CPUIDLE1_EXIT_LATENCY, COST_CPUIDLE2_EXIT_LATENCY, COST_CPUIDLE3_EXIT_LATENCY, idle);
}

/** PC_IDLE_SINCE of a CPU that is not idle (see the invariant at the top) */
const NOT_IDLE: u64 = u64.MAX_VALUE;

/** This CPU goes idle now (its task sleeps). */
@inline export function cpuidle_enter(): void { store<u64>(PC + PC_IDLE_SINCE, now()); }

/** This CPU's idle period ends with no exit to pay (a guest run queue: its vCPU ran a sibling task meanwhile) */
@inline export function cpuidle_end_busy(): void { store<u64>(PC + PC_IDLE_SINCE, NOT_IDLE); }

/** This CPU is in an idle period: its task sleeps and nothing has woken or interrupted it since (caller: it sleeps in a wait list) */
@inline export function cpuidle_idle(): bool { return load<u64>(PC + PC_IDLE_SINCE) != NOT_IDLE; }

/**
 * The vCPU's next halt-polling window after a halt of `idle` cycles with window
 * `w` (kvm_vcpu_block()'s rule, see the top of the file): unchanged if the poll
 * caught it (idle <= w); reset to 0 after a halt longer than `max`
 * (halt_poll_ns; shrink_halt_poll_ns() with halt_poll_ns_shrink = 0); grown
 * after one under `max` that outlasted it (grow_halt_poll_ns(): `base`, 10 us,
 * from 0, else x halt_poll_ns_grow = 2, at most `max`). Pure: the test core
 * exports it.
 */
export function halt_poll_next(w: u64, idle: u64, max: u64, base: u64): u64 {
  if (idle <= w) return w;
  if (w != 0 && idle > max) return 0;
  if (w < max && idle < max) {
    const g = w == 0 ? base : w * 2;
    return g > max ? max : g;
  }
  return w;
}

/**
 * kvm_vcpu_block() of a halt of `idle` cycles on this CPU's vCPU (see the top
 * of the file): the extra cycles its wake-up costs (0 if the host's poll caught
 * it; else halt_block_wake and the host CPU's idle exit); adapts the window.
 */
function kvm_halt(idle: u64): u64 {
  const max = cost(COST_HALT_POLL_MAX);
  if (max == 0) return 0;
  const at = vcpu_rq(cpu_id()) + PC_VCPU_HALT_POLL;
  const w = atomic.load<u64>(at);
  atomic.store<u64>(at, halt_poll_next(w, idle, max, 10 * <u64>load<u32>(HDR_BASE + H_GHZ_MILLI)));
  if (idle <= w) { stat_inc(STAT_HALT_POLL_SUCCESS); return 0; }
  // the host CPU polled for the window, then idled until the wake-up (its governor as ours: the deepest state it covers)
  const x = cost(COST_HALT_BLOCK_WAKE) + deepest_exit(COST_HOST_CPUIDLE1_EXIT_LATENCY, COST_HOST_CPUIDLE2_EXIT_LATENCY, COST_HOST_CPUIDLE3_EXIT_LATENCY, idle - w);
  stat_inc(STAT_HALT_BLOCK);
  stat_add(STAT_HALT_BLOCK_CYCLES, x);
  return x;
}

/** This idle CPU is interrupted (or its task woken) now: leave the idle state (and a KVM host's block), charged to it; a CPU that already left it pays nothing. */
export function cpuidle_exit(): void {
  const t = now();
  const since = load<u64>(PC + PC_IDLE_SINCE);
  if (since == NOT_IDLE) return;
  store<u64>(PC + PC_IDLE_SINCE, NOT_IDLE);
  const idle = t > since ? t - since : 0;
  const x = cpuidle_exit_latency(idle) + kvm_halt(idle);
  if (x == 0) return;
  charge(x);
  stat_add(STAT_CPUIDLE_EXIT_CYCLES, x);
}
