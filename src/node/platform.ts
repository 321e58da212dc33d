// The Node side of the platform seam (src/platform.ts): the core read from
// build/ with fs, CPUs on piscina worker threads (dist/src/worker.js), profile
// files read from disk. Importing this module registers it.

import { readFileSync, existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism, cpus as hostCpus } from 'node:os';
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
  createPool(workers: number): CpuPool {
    const pool = new Piscina({
      filename: join(packageRoot(), 'dist', 'src', 'worker.js'),
      minThreads: workers,
      maxThreads: workers,
      concurrentTasksPerWorker: 1,
      idleTimeout: 1000,
      maxQueue: workers,
    });
    return {
      run: (job: WorkerJob) => pool.run(job) as Promise<WorkerResult>,
      destroy: () => pool.destroy(),
    };
  },
  hostInfo: () => ({ node: process.version, platform: process.platform, arch: process.arch, cpus: hostCpus().length }),
  readProfileFile,
};

setPlatform(nodePlatform);
