// The one seam between the core path and its host environment. The core path
// (src/api.ts and everything it imports) never touches fs, path or piscina:
// what differs between Node and a browser is behind this interface, and an
// entry point registers its implementation before anything runs:
//   src/index.ts   (Node: package "exports" default) -> src/node/platform.ts
//   src/browser.ts (browsers: "exports" browser)     -> src/browser/platform.ts

import type { Build, Variant } from './wasm.js';
import type { WorkerJob, WorkerResult } from './worker.js';

/** host workers running emulated CPUs: one job (a share of the CPUs) per worker */
export interface CpuPool {
  run(job: WorkerJob): Promise<WorkerResult>;
  /** end the pool's threads: after a run that lost a worker, or when nothing will reuse it */
  destroy(): Promise<void>;
  /** the run is over and every worker returned: the pool may serve a later run (Node keeps it; without it, destroy) */
  release?(): Promise<void>;
}

/** what the results file records about the host (docs/results-schema.md) */
export interface HostInfo { node: string; platform: string; arch: string; cpus: number }

/** where a browser finds the two builds of one variant: URLs, bytes or compiled modules */
export type CoreSources = Partial<Record<Build, string | URL | BufferSource | WebAssembly.Module>>;

export interface Platform {
  readonly name: 'node' | 'browser';
  /** load what coreModule needs (browsers: fetch and compile the .wasm files) */
  init?(opts: { wasm?: CoreSources; observeWasm?: CoreSources; workerUrl?: string | URL }): Promise<void>;
  /** load a variant of the core before a machine needs it (browsers: the observe core on first use; Node: nothing) */
  loadVariant?(variant: Variant): Promise<void>;
  /** the compiled core; synchronous (Node reads the file; a browser has it from init() and loadVariant(), release and observe only) */
  coreModule(build: Build, variant: Variant): WebAssembly.Module;
  /** host threads available for workers */
  hostCores(): number;
  /** the host's memory in bytes, where the platform knows it (Node: os.totalmem(); a sweep runs points side by side within half of it) */
  hostMemoryBytes?(): number;
  /** start `workers` host workers (piscina threads or Web Workers) */
  createPool(workers: number): CpuPool;
  hostInfo(): HostInfo;
  /** a profile given as a file path: its parsed JSON (Node only; throws ProfileError) */
  readProfileFile?(path: string): unknown;
}

let current: Platform | undefined;

export function setPlatform(p: Platform): void { current = p; }

export function platform(): Platform {
  if (!current) {
    throw new Error('faultline: no platform registered: import "faultline" (src/index.ts in Node, src/browser.ts in a browser), not an internal module');
  }
  return current;
}
