// The browser side of the platform seam (src/platform.ts): the core fetched and
// compiled by init(), emulated CPUs on Web Workers (src/browser/cpu-worker.ts,
// bundled as cpu-worker.js next to the page), no profile files (pass a parsed
// profile or a shipped name). Importing this module registers it.

import { setPlatform, type Platform, type CpuPool } from '../platform.js';
import { CORE_FILES, type Build, type Variant } from '../wasm.js';
import type { WorkerJob, WorkerResult } from '../worker.js';

type Source = string | URL | BufferSource | WebAssembly.Module;

/** the compiled builds of each variant loaded so far (release by init(), observe on first use) */
const modules: { release: Partial<Record<Build, WebAssembly.Module>>; observe: Partial<Record<Build, WebAssembly.Module>> } = { release: {}, observe: {} };
let workerUrl: string | URL | undefined;
let ready: Promise<void> | undefined;
let observeReady: Promise<void> | undefined;
let observeFrom: Partial<Record<Build, Source>> = {};

async function compile(src: Source): Promise<WebAssembly.Module> {
  if (src instanceof WebAssembly.Module) return src;
  if (typeof src === 'string' || src instanceof URL) {
    const res = await fetch(src);
    if (!res.ok) throw new Error(`faultline: cannot fetch ${String(src)} (HTTP ${res.status})`);
    return WebAssembly.compile(await res.arrayBuffer());
  }
  return WebAssembly.compile(src);
}

const base = (): string => (globalThis as { location?: { href: string } }).location?.href ?? import.meta.url;

/**
 * Web Workers kept between runs of a page (as src/node/platform.ts keeps its threads): a run hands
 * its workers back when every one returned and the next run takes them instead of loading
 * cpu-worker.js again; each serves one job at a time (src/browser/cpu-worker.ts answers each
 * message with one result), and an idle one is terminated after WORKER_IDLE_MS.
 */
const WORKER_IDLE_MS = 5_000;
const idleWorkers = new Map<string, { w: Worker; timer: ReturnType<typeof setTimeout> }[]>();
function takeWorker(url: string): Worker {
  const kept = idleWorkers.get(url)?.pop();
  if (kept) { clearTimeout(kept.timer); return kept.w; }
  return new Worker(url, { type: 'module' });
}
function keepWorker(url: string, w: Worker): void {
  const list = idleWorkers.get(url) ?? [];
  const entry = {
    w,
    timer: setTimeout(() => {
      const i = list.indexOf(entry);
      if (i >= 0) { list.splice(i, 1); w.terminate(); }
    }, WORKER_IDLE_MS),
  };
  list.push(entry);
  idleWorkers.set(url, list);
}

export const browserPlatform: Platform = {
  name: 'browser',
  init(opts) {
    if (opts.workerUrl) workerUrl = opts.workerUrl;
    if (opts.observeWasm) { observeFrom = opts.observeWasm; observeReady = undefined; modules.observe = {}; }
    if (opts.wasm || !ready) {
      const want = opts.wasm ?? {};
      ready = Promise.all((['threads', 'mn'] as Build[]).map(async (b) => {
        modules.release[b] = await compile(want[b] ?? new URL(CORE_FILES.release[b], base()));
      })).then(() => undefined);
      // a failed load may be retried with other locations
      ready.catch(() => { ready = undefined; });
    }
    return ready;
  },
  loadVariant(variant: Variant): Promise<void> {
    if (variant !== 'observe') return Promise.resolve();
    if (!observeReady) {
      observeReady = Promise.all((['threads', 'mn'] as Build[]).map(async (b) => {
        modules.observe[b] = await compile(observeFrom[b] ?? new URL(CORE_FILES.observe[b], base()));
      })).then(() => undefined);
      observeReady.catch(() => { observeReady = undefined; });
    }
    return observeReady;
  },
  coreModule(build: Build, variant: Variant): WebAssembly.Module {
    if (variant === 'test') throw new Error('faultline: the test core (test flags, planted bugs) is not available in a browser');
    const m = modules[variant][build];
    if (!m) throw new Error(variant === 'observe' ? 'faultline: the observe core (lockStat, trace, flame) is not loaded: the API loads it before a run that records' : 'faultline: the core is not loaded: await init() first');
    return m;
  },
  hostCores: () => Math.max(1, (globalThis.navigator?.hardwareConcurrency ?? 1)),
  // navigator.deviceMemory (GiB, rounded, at most 8; Chromium only): without it a sweep runs one point at a time
  hostMemoryBytes: () => ((globalThis.navigator as { deviceMemory?: number } | undefined)?.deviceMemory ?? 0) * 2 ** 30,
  createPool(workers: number): CpuPool {
    if (typeof SharedArrayBuffer === 'undefined' || (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === false) {
      throw new Error('faultline: shared memory needs a cross-origin-isolated page (serve it with COOP: same-origin and COEP: require-corp)');
    }
    const url = String(workerUrl ?? new URL('cpu-worker.js', base()));
    const mine = new Set<Worker>(); // this run's workers
    let done = false;
    return {
      run(job: WorkerJob): Promise<WorkerResult> {
        const w = takeWorker(url);
        mine.add(w);
        return new Promise<WorkerResult>((resolve, reject) => {
          w.onmessage = (e: MessageEvent<{ ok: boolean; result?: WorkerResult; error?: string }>) => {
            w.onmessage = null; w.onerror = null;
            if (e.data.ok) resolve(e.data.result as WorkerResult);
            else reject(new Error(e.data.error ?? 'worker failed'));
          };
          w.onerror = (e: ErrorEvent) => { w.onmessage = null; w.onerror = null; mine.delete(w); w.terminate(); reject(new Error(`worker script ${url}: ${e.message || 'failed to load'}`)); };
          w.postMessage(job);
        });
      },
      async destroy() { done = true; for (const w of mine) w.terminate(); mine.clear(); },
      async release() {
        if (done) return;
        done = true;
        for (const w of mine) keepWorker(url, w);
        mine.clear();
      },
    };
  },
  hostInfo: () => ({ node: 'none (browser)', platform: 'browser', arch: globalThis.navigator?.userAgent ?? 'unknown', cpus: browserPlatform.hostCores() }),
};

setPlatform(browserPlatform);
