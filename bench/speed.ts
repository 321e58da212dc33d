// Emulator speed on whole runs: how many virtual cycles (and operations) the
// emulator advances per host second at several emulated CPU counts, and how
// much of that goes to the quantum barrier. Each point is a real run.

import { Machine } from '../src/machine.js';
import { layoutConsts } from '../src/wasm.js';
import { runPoint, POINT_DEFAULTS } from '../src/experiment.js';

export interface SpeedResult {
  name: string;
  cpus: number;
  wallMs: number;
  ops: number;
  opsPerHostSec: number;
  vcyclesPerHostSec: number;
  barrierWaitsPerHostSec: number;
}

/** One emulated-CPU-count point of a run; `tasks` builds each CPU's program. */
export interface SpeedCase { name: string; cpuCounts: number[]; run(cpus: number): Promise<SpeedResult> }

/** one point of a registered workload, timed on the host */
async function workloadPoint(name: string, workload: string, strategy: string, cpus: number): Promise<SpeedResult> {
  // a budget large enough that worker start-up (tens of ms) does not dominate
  const r = await runPoint({ ...POINT_DEFAULTS, workload, strategy, cpus, vcycles: cpus <= 8 ? 200_000_000 : 20_000_000 });
  if (!r.ok) throw new Error(`${workload} failed: ${r.error}`);
  const wallMs = r.host.wallMs;
  return {
    name, cpus, wallMs, ops: r.ops ?? 0,
    opsPerHostSec: (r.ops ?? 0) / (wallMs / 1000),
    vcyclesPerHostSec: r.clocks.reduce((s, c) => s + Number(c), 0) / (wallMs / 1000),
    barrierWaitsPerHostSec: Number(r.stats.barrier_wait) / (wallMs / 1000),
  };
}

export const speedCases: SpeedCase[] = [
  {
    name: 'page_fault1 (spf), emulated faults',
    cpuCounts: [1, 2, 8, 32, 64],
    run(cpus) { return workloadPoint(this.name, 'page_fault1', 'spf', cpus); },
  },
  {
    name: 'pft-private (mmap_lock), emulated faults',
    cpuCounts: [1, 64],
    run(cpus) { return workloadPoint(this.name, 'pft-private', 'mmap_lock', cpus); },
  },
  {
    name: 'atomic increments, private lines',
    cpuCounts: [2, 8, 32, 64],
    async run(cpus) {
      const iters = 20_000;
      const m = new Machine({ cpus, scratchBytes: layoutConsts().LM_SIZE + 8 });
      const r = await m.run((cpu) => ({ program: 'atomicInc', args: { line: m.scratch(cpu), ctr: m.scratch(cpu) + m.C.LM_SIZE, iters } }));
      if (!r.ok) throw new Error(r.error);
      return summarize(this.name, m, r.clocks, r.wallMs, cpus * iters);
    },
  },
  {
    name: 'lock-protected increments, one lock',
    cpuCounts: [2, 8, 32, 64],
    async run(cpus) {
      // a FIFO ticket lock hands over to one specific (often sleeping) thread: keep 64-CPU runs short
      const iters = Math.max(200, Math.floor(16_000 / cpus));
      const m = new Machine({ cpus });
      const lock = m.hostAlloc(m.C.SL_SIZE);
      const counter = m.hostAlloc(16);
      m.host.core.spin_lock_init(lock, m.C.LOCK_CLASS_GENERIC);
      const r = await m.run(() => ({ program: 'lockInc', args: { lock, counter, iters } }));
      if (!r.ok) throw new Error(r.error);
      return summarize(this.name, m, r.clocks, r.wallMs, cpus * iters);
    },
  },
];

export function summarize(name: string, m: Machine, clocks: bigint[], wallMs: number, ops: number): SpeedResult {
  const vcycles = clocks.reduce((s, c) => s + Number(c), 0);
  const s = m.stats();
  const sec = wallMs / 1000;
  return {
    name, cpus: m.cfg.cpus, wallMs, ops,
    opsPerHostSec: ops / sec,
    vcyclesPerHostSec: vcycles / sec,
    barrierWaitsPerHostSec: Number(s.barrier_wait) / sec,
  };
}
