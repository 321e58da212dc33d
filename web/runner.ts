// The page's sweep runner: a dedicated Worker (browsers compile a large Wasm
// module only asynchronously on the main thread, and the API's machine wants
// its core synchronously), itself starting the CPUs' Web Workers. It runs the
// sweep's points one at a time through the public API (src/browser.ts), posts
// what happens and each finished point, and on "stop" ends the sweep with the
// points finished so far: the page then terminates this Worker, which ends the
// running point (its CPUs' Workers go with it).
import { init, runWorkload, checkPoints, sweepPoints, sweepCommand, resultsFile, jsonText, toCsv, type SweepAxes, type SweepEvent, type PointResult } from '../src/browser.js';

export type ToRunner = { type: 'run'; axes: SweepAxes } | { type: 'stop' };
export type FromRunner =
  | { type: 'event'; event: SweepEvent }
  | { type: 'done'; json: string; csv: string; failed: number; stopped: boolean }
  | { type: 'error'; message: string };

const post = (m: FromRunner) => (self as unknown as Worker).postMessage(m);
const base = new URL('./', self.location.href);
let finish: ((stopped: boolean) => void) | undefined;

self.onmessage = async (e: MessageEvent<ToRunner>) => {
  if (e.data.type === 'stop') { finish?.(true); return; }
  if (e.data.type !== 'run') return;
  try {
    await init({ wasm: { threads: new URL('faultline.wasm', base), mn: new URL('faultline-mn.wasm', base) }, workerUrl: new URL('cpu-worker.js', base) });
    const axes = e.data.axes;
    // the same checks, and so the same one-line messages, as the CLI's (once: the points run resolved)
    const resolved = checkPoints(sweepPoints(axes));
    const specs = resolved.map((p) => p.spec);
    const command = sweepCommand(axes);
    const points: PointResult[] = [];
    let over = false;
    finish = (stopped) => {
      if (over) return;
      over = true;
      post({ type: 'done', json: jsonText(resultsFile(points, command)), csv: toCsv(points), failed: points.filter((p) => !p.ok).length, stopped });
    };
    // as sweep() does (src/experiment.ts runSweep), one point at a time so a stop keeps the finished ones
    for (let index = 0; index < specs.length && !over; index++) {
      const spec = specs[index];
      post({ type: 'event', event: { type: 'point', done: index, total: specs.length, running: spec } });
      const r = await runWorkload(resolved[index], { sampleMs: 50, onProgress: (cpus) => { if (!over) post({ type: 'event', event: { type: 'cpus', index, spec, cpus } }); } });
      if (!over) points.push(r);
    }
    if (!over) post({ type: 'event', event: { type: 'point', done: points.length, total: specs.length } });
    finish(false);
  } catch (err) {
    post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  }
};
