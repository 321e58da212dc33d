// Micro-benchmarks of the core's structures, measured INSIDE Wasm loops
// (one JS->Wasm call per batch), so the numbers are the core's, not the
// boundary's. Each entry reports operations per host second.

import { Bench } from 'tinybench';
import { Machine } from '../src/machine.js';

export interface MicroResult { name: string; opsPerSec: number; rme: number }

/** A micro-benchmark: given a 1-CPU machine bound on the main thread, return one batch of `BATCH` ops. */
export interface Micro { name: string; setup(m: Machine): () => void }

export const BATCH = 10_000;

export const micros: Micro[] = [
  {
    name: 'spinlock lock+unlock (uncontended)',
    setup(m) {
      const l = m.hostAlloc(m.C.SL_SIZE);
      m.host.core.spin_lock_init(l, m.C.LOCK_CLASS_GENERIC);
      return () => m.host.core.t_lock_loop(l, BATCH);
    },
  },
  {
    name: 'cache-line model RMW (owned line)',
    setup(m) {
      const line = m.hostAlloc(64);
      return () => m.host.core.t_line_loop(line, BATCH);
    },
  },
];

export async function runMicro(list: Micro[] = micros, time = 300): Promise<MicroResult[]> {
  const out: MicroResult[] = [];
  for (const mb of list) {
    const m = new Machine({ cpus: 1 });
    m.host.core.cpu_bind(0);
    m.host.core.cpu_start();
    const fn = mb.setup(m);
    const bench = new Bench({ time, warmupTime: 50 });
    bench.add(mb.name, fn);
    await bench.run();
    const t = bench.tasks[0].result as unknown as { latency?: { mean: number; rme: number }; mean?: number; rme?: number };
    const meanMs = t.latency?.mean ?? t.mean ?? NaN;
    out.push({ name: mb.name, opsPerSec: (BATCH / meanMs) * 1000, rme: t.latency?.rme ?? t.rme ?? NaN });
  }
  return out;
}
