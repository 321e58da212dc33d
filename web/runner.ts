// The page's sweep runner: a dedicated Worker (browsers compile a large Wasm
// module only asynchronously on the main thread, and the API's machine wants
// its core synchronously), itself starting the CPUs' Web Workers. It runs the
// sweep through the public API (src/browser.ts) and posts what happens.
import { init, sweep, checkPoints, sweepPoints, sweepCommand, jsonText, toCsv, type SweepAxes, type SweepEvent } from '../src/browser.js';

export type ToRunner = { type: 'run'; axes: SweepAxes };
export type FromRunner =
  | { type: 'event'; event: SweepEvent }
  | { type: 'done'; json: string; csv: string; failed: number }
  | { type: 'error'; message: string };

const post = (m: FromRunner) => (self as unknown as Worker).postMessage(m);
const base = new URL('./', self.location.href);

self.onmessage = async (e: MessageEvent<ToRunner>) => {
  if (e.data.type !== 'run') return;
  try {
    await init({ wasm: { threads: new URL('faultline.wasm', base), mn: new URL('faultline-mn.wasm', base) }, workerUrl: new URL('cpu-worker.js', base) });
    const axes = e.data.axes;
    // the same checks, and so the same one-line messages, as the CLI's
    checkPoints(sweepPoints(axes));
    const r = await sweep(axes, { onProgress: (event) => post({ type: 'event', event }), sampleMs: 50, command: sweepCommand(axes) });
    post({ type: 'done', json: jsonText(r.document), csv: toCsv(r.points), failed: r.failed.length });
  } catch (err) {
    post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  }
};
