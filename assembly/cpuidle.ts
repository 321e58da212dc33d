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
// each interrupt it takes meanwhile).

import { PC_IDLE_SINCE } from './layout';
import { PC, now, charge, cost, stat_add } from './cpu';
import {
  COST_CPUIDLE1_EXIT_LATENCY, COST_CPUIDLE1_TARGET_RESIDENCY, COST_CPUIDLE2_EXIT_LATENCY, COST_CPUIDLE2_TARGET_RESIDENCY,
  COST_CPUIDLE3_EXIT_LATENCY, COST_CPUIDLE3_TARGET_RESIDENCY, STAT_CPUIDLE_EXIT_CYCLES,
} from './generated';

/** exit latency of the deepest state whose target residency `idle` cycles cover (0: none) */
export function cpuidle_exit_latency(idle: u64): u64 {
  if (cost(COST_CPUIDLE3_EXIT_LATENCY) + cost(COST_CPUIDLE3_TARGET_RESIDENCY) != 0 && idle >= cost(COST_CPUIDLE3_TARGET_RESIDENCY)) return cost(COST_CPUIDLE3_EXIT_LATENCY);
  if (cost(COST_CPUIDLE2_EXIT_LATENCY) + cost(COST_CPUIDLE2_TARGET_RESIDENCY) != 0 && idle >= cost(COST_CPUIDLE2_TARGET_RESIDENCY)) return cost(COST_CPUIDLE2_EXIT_LATENCY);
  if (cost(COST_CPUIDLE1_EXIT_LATENCY) + cost(COST_CPUIDLE1_TARGET_RESIDENCY) != 0 && idle >= cost(COST_CPUIDLE1_TARGET_RESIDENCY)) return cost(COST_CPUIDLE1_EXIT_LATENCY);
  return 0;
}

/** This CPU goes idle now (its task sleeps). */
@inline export function cpuidle_enter(): void { store<u64>(PC + PC_IDLE_SINCE, now()); }

/** This idle CPU is interrupted (or its task woken) now: leave the idle state, charged to it. */
export function cpuidle_exit(): void {
  const t = now();
  const since = load<u64>(PC + PC_IDLE_SINCE);
  const x = cpuidle_exit_latency(t > since ? t - since : 0);
  if (x == 0) return;
  charge(x);
  stat_add(STAT_CPUIDLE_EXIT_CYCLES, x);
}
