// Micro-benchmarks of the core's structures, measured INSIDE Wasm loops
// (one JS->Wasm call per batch), so the numbers are the core's, not the
// boundary's. Each entry reports operations per host second.

import { Bench } from 'tinybench';
import { Machine } from '../src/machine.js';

export interface MicroResult { name: string; opsPerSec: number; rme: number }

/** A micro-benchmark: given a 1-CPU machine bound on the main thread, return one batch of `BATCH` ops. */
export interface Micro { name: string; setup(m: Machine): () => void }

export const BATCH = 10_000;

/** map and fault in `pages` pages of anonymous memory on the host's setup binding; returns the address */
function mapped(m: Machine, pages: number): bigint {
  const C = m.host.consts;
  const a = m.host.core.sys_mmap(0, 0n, BigInt(pages * 4096), 3, C.MAP_PRIVATE | C.MAP_ANONYMOUS, 0, 0n) as bigint;
  const r = m.host.core.wl_touch(0, a, BigInt(pages * 4096), 1, 2n ** 50n, BigInt(pages)) as bigint;
  if (a < 0n || r < 0n) throw new Error('bench setup: mmap/touch failed');
  return a;
}

export const micros: Micro[] = [
  {
    name: 'TLB lookup, hit',
    setup(m) { return () => m.host.core.t_tlb_hit_loop(BATCH); },
  },
  {
    name: 'TLB lookup, miss',
    setup(m) { return () => m.host.core.t_tlb_miss_loop(BATCH); },
  },
  {
    name: 'full hardware page walk (4 levels)',
    setup(m) {
      const a = mapped(m, 1);
      return () => m.host.core.t_walk_loop(0, a, BATCH);
    },
  },
  {
    name: 'access loop, TLB hits (emulated accesses)',
    setup(m) {
      // 16 pages fit the TLB: every access after the first pass hits
      const a = mapped(m, 16);
      return () => m.host.core.wl_touch(0, a, BigInt(16 * 4096), 0, 2n ** 50n, BigInt(BATCH));
    },
  },
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
      const line = m.hostAlloc(m.C.LM_SIZE);
      return () => m.host.core.t_line_loop(line, BATCH);
    },
  },
];

export async function runMicro(list: Micro[] = micros, time = 300): Promise<MicroResult[]> {
  const out: MicroResult[] = [];
  for (const mb of list) {
    // the t_* loops are in the test build of the core (assembly/build_flags.ts)
    const m = new Machine({ cpus: 1, core: 'test' });
    m.host.core.cpu_bind_setup(0);
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
