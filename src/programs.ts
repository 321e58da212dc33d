// Programs a CPU can run: the host side of a workload. Each drives the core
// one operation at a time; inner loops live in Wasm (assembly/testops.ts and
// the workload loops), so the JS<->Wasm boundary is crossed per operation.

import type { Instance } from './wasm.js';

export type Program = (inst: Instance, cpu: number, args: Record<string, unknown>) => unknown;

const num = (a: Record<string, unknown>, k: string, d?: number): number => {
  const v = a[k] ?? d;
  if (typeof v !== 'number') throw new Error(`program argument ${k} missing`);
  return v;
};

export const programs: Record<string, Program> = {
  /** lock-protected non-atomic increments */
  lockInc: ({ core }, _cpu, a) => { core.t_lock_inc(num(a, 'lock'), num(a, 'counter'), num(a, 'iters')); return null; },
  /** rwsem readers and writers */
  rwsemMix: ({ core }, _cpu, a) => { core.t_rwsem_mix(num(a, 'sem'), num(a, 'counter'), num(a, 'iters'), num(a, 'writePct', 10)); return null; },
  /** atomic increments on one modeled line; returns virtual cycles spent */
  atomicInc: ({ core }, _cpu, a) => String(core.t_atomic_inc(num(a, 'line'), num(a, 'ctr'), num(a, 'iters'))),
  /** frame allocator churn; returns the number of double hand-outs seen */
  frameChurn: ({ core }, _cpu, a) => core.t_frame_churn(num(a, 'iters'), num(a, 'hold'), num(a, 'scratch')),
  /** page-table page allocator churn; returns the number of double hand-outs seen */
  ptpageChurn: ({ core }, _cpu, a) => core.t_ptpage_churn(num(a, 'iters'), num(a, 'hold'), num(a, 'scratch')),
  /** rounds of pte_alloc_walk racing on fresh tables (`sync`: a zeroed shared u32); returns the number of failed walks */
  pteAllocRace: ({ core }, _cpu, a) =>
    core.t_pte_alloc_race(num(a, 'mm', 0), num(a, 'rounds'), num(a, 'perRound'), num(a, 'sync')),
};

/** the IPI/PTL deadlock scenario: CPU A holds a lock and shoots down; CPU B wants the lock with IRQs off */
programs.lockThenShootdown = ({ core }, _cpu, a) => { core.t_lock_then_shootdown(num(a, 'lock'), num(a, 'mm'), num(a, 'other')); return null; };
programs.spinIrqOff = ({ core }, _cpu, a) => core.t_spin_irqoff(num(a, 'lock'), num(a, 'relax')) >>> 0;
