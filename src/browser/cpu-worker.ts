// Web Worker entry: one host worker running its share of the emulated CPUs
// (src/worker.ts), the browser counterpart of the piscina thread.
import runWorker, { type WorkerJob } from '../worker.js';

self.onmessage = async (e: MessageEvent<WorkerJob>) => {
  try {
    (self as unknown as Worker).postMessage({ ok: true, result: await runWorker(e.data) });
  } catch (err) {
    (self as unknown as Worker).postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) });
  }
};
