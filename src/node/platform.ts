// The Node side of the platform seam (src/platform.ts): the core read from
// build/ with fs, CPUs on piscina worker threads (dist/src/worker.js), profile
// files read from disk. Importing this module registers it.

import { readFileSync, existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism, cpus as hostCpus, totalmem } from 'node:os';
import { Piscina } from 'piscina';
import { setPlatform, type Platform, type CpuPool } from '../platform.js';
import { CORE_FILES, type Build, type Variant } from '../wasm.js';
import { ProfileError } from '../profile.js';
import type { WorkerJob, WorkerResult } from '../worker.js';

/** package root, found from this file whether it runs from src/node/ (vitest) or dist/src/node/ */
export function packageRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json'))) {
    const p = dirname(d);
    if (p === d) throw new Error('faultline: cannot find the package root');
    d = p;
  }
  return d;
}

const modules = new Map<string, WebAssembly.Module>();

/** the file of a build of the core */
export function coreFile(build: Build = 'threads', variant: Variant = 'release'): string {
  return join(packageRoot(), 'build', CORE_FILES[variant][build]);
}

function readProfileFile(nameOrPath: string): unknown {
  const file = resolve(nameOrPath);
  const fail = (problem: string): never => { throw new ProfileError(`profile ${nameOrPath}: ${problem}`); };
  if (existsSync(file) && statSync(file).isDirectory()) fail('is a directory, not a profile file');
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    fail(`cannot read ${file} (${err.code ?? err.message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    return fail(`malformed JSON: ${(e as Error).message}`);
  }
}

/** how long an idle pool of worker threads is kept for a later run before its threads end */
const POOL_IDLE_MS = 5_000;
/** idle pools by worker count: each serves one run at a time (a run's workers meet at a rendezvous, so they must all be free) */
const idlePools = new Map<number, Piscina[]>();
/** each idle pool's timer that ends it after POOL_IDLE_MS */
const poolTimers = new WeakMap<Piscina, ReturnType<typeof setTimeout>>();

/**
 * A pool of `workers` threads, reused between runs of one process (a sweep, the bench,
 * an API loop): a Node worker thread's start (its isolate, the imports of dist/src/worker.js)
 * and its JIT warm-up are paid once, not once per run (measured: 70-150 ms of a run's wall
 * time, most of a short run's). A pool is handed to one run and back: never two at once.
 * Idle threads are unref'd by piscina, so a kept pool does not hold the process open.
 */
function leasePool(workers: number): CpuPool {
  const kept = idlePools.get(workers)?.pop();
  const pool = kept ?? new Piscina({
    filename: join(packageRoot(), 'dist', 'src', 'worker.js'),
    minThreads: workers,
    maxThreads: workers,
    concurrentTasksPerWorker: 1,
    idleTimeout: 1000,
    maxQueue: workers,
  });
  const timer = kept ? poolTimers.get(kept) : undefined;
  if (timer) clearTimeout(timer);
  let done = false;
  return {
    run: (job: WorkerJob) => pool.run(job) as Promise<WorkerResult>,
    destroy: async () => { if (!done) { done = true; await pool.destroy(); } },
    release: async () => {
      if (done) return;
      done = true;
      const list = idlePools.get(workers) ?? [];
      list.push(pool);
      idlePools.set(workers, list);
      const t = setTimeout(() => {
        const l = idlePools.get(workers);
        const i = l?.indexOf(pool) ?? -1;
        if (i >= 0) { l!.splice(i, 1); void pool.destroy(); }
      }, POOL_IDLE_MS);
      t.unref();
      poolTimers.set(pool, t);
    },
  };
}
/** how many idle pools of `workers` threads the process keeps for its next runs */
export const keptPools = (workers: number): number => idlePools.get(workers)?.length ?? 0;

/** end every kept pool's threads now (their runs are over); the next run starts new ones */
export async function closeIdlePools(): Promise<void> {
  const all = [...idlePools.values()].flat();
  idlePools.clear();
  for (const p of all) { const t = poolTimers.get(p); if (t) clearTimeout(t); }
  await Promise.all(all.map((p) => p.destroy()));
}

export const nodePlatform: Platform = {
  name: 'node',
  coreModule(build: Build, variant: Variant): WebAssembly.Module {
    const file = coreFile(build, variant);
    let m = modules.get(file);
    if (!m) {
      if (!existsSync(file)) throw new Error(`faultline: ${file} is missing; run "npm run build" first`);
      m = new WebAssembly.Module(readFileSync(file));
      modules.set(file, m);
    }
    return m;
  },
  hostCores: () => availableParallelism(),
  hostMemoryBytes: () => totalmem(),
  createPool: leasePool,
  hostInfo: () => ({ node: process.version, platform: process.platform, arch: process.arch, cpus: hostCpus().length }),
  readProfileFile,
};

setPlatform(nodePlatform);
