// The page's sweep runner: a dedicated Worker (browsers compile a large Wasm
// module only asynchronously on the main thread, and the API's machine wants
// its core synchronously), itself starting the CPUs' Web Workers. It runs the
// sweep's points one at a time through the public API (src/browser.ts), posts
// what happens and each finished point, and on "stop" ends the sweep with the
// points finished so far: the page then terminates this Worker, which ends the
// running point (its CPUs' Workers go with it).
import { init, runWorkload, checkPoints, sweepPoints, sweepCommand, resultsFile, jsonText, toCsv, type SweepAxes, type SweepEvent, type PointResult } from '../src/browser.js';

export type ToRunner = { type: 'run'; axes: SweepAxes } | { type: 'stop' };
/** what the last point recorded (the observe core): its timeline (Trace Event JSON) and flame graph (folded stacks) */
export interface LastPointObs { label: string; trace: string; folded: string; droppedEvents: number; window: { start: number; end: number } }
export type FromRunner =
  | { type: 'event'; event: SweepEvent }
  | { type: 'done'; json: string; csv: string; failed: number; stopped: boolean; last?: LastPointObs }
  | { type: 'error'; message: string };

/**
 * Timeline events kept per CPU of the last point (the first ones of the run; the file counts the rest
 * as dropped): a few MB of JSON at 8 CPUs, which the viewer draws at once.
 */
const LAST_TRACE_EVENTS = 4000;

/**
 * The window the viewer shows first (double-click there: all): TRACE_WINDOW_US in the middle of the time
 * every CPU's ring still recorded faults (each ring keeps its CPU's first events).
 */
const TRACE_WINDOW_US = 10;
function firstWindow(evs: readonly { cat?: string; ts?: number; tid?: number }[]): { start: number; end: number } {
  const range = new Map<number, [number, number]>();
  for (const e of evs) {
    if (e.cat !== 'fault' || typeof e.ts !== 'number' || e.tid === undefined) continue;
    const r = range.get(e.tid);
    range.set(e.tid, r ? [Math.min(r[0], e.ts), Math.max(r[1], e.ts)] : [e.ts, e.ts]);
  }
  const lo = Math.max(...[...range.values()].map((r) => r[0])), hi = Math.min(...[...range.values()].map((r) => r[1]));
  const mid = range.size && hi > lo ? (lo + hi) / 2 : 0;
  return { start: mid, end: mid + TRACE_WINDOW_US };
}

const post = (m: FromRunner) => (self as unknown as Worker).postMessage(m);
const base = new URL('./', self.location.href);
let finish: ((stopped: boolean) => void) | undefined;

self.onmessage = async (e: MessageEvent<ToRunner>) => {
  if (e.data.type === 'stop') { finish?.(true); return; }
  if (e.data.type !== 'run') return;
  try {
    await init({
      wasm: { threads: new URL('faultline.wasm', base), mn: new URL('faultline-mn.wasm', base) },
      observeWasm: { threads: new URL('faultline-observe.wasm', base), mn: new URL('faultline-observe-mn.wasm', base) },
      workerUrl: new URL('cpu-worker.js', base),
    });
    const axes = e.data.axes;
    // the same checks, and so the same one-line messages, as the CLI's (once: the points run resolved)
    const resolved = checkPoints(sweepPoints(axes));
    const specs = resolved.map((p) => p.spec);
    const command = sweepCommand(axes);
    const points: PointResult[] = [];
    let last: LastPointObs | undefined;
    let over = false;
    finish = (stopped) => {
      if (over) return;
      over = true;
      post({ type: 'done', json: jsonText(resultsFile(points, command)), csv: toCsv(points), failed: points.filter((p) => !p.ok).length, stopped, ...(last ? { last } : {}) });
    };
    // as sweep() does (src/experiment.ts runSweep), one point at a time so a stop keeps the finished ones
    for (let index = 0; index < specs.length && !over; index++) {
      const spec = specs[index];
      post({ type: 'event', event: { type: 'point', done: index, total: specs.length, running: spec } });
      // the last point also records its timeline and flame graph (the observe core; recording moves no result):
      // they are shown beside the plots, and left out of the results, which stay the CLI's for the same command
      const isLast = index === specs.length - 1;
      const point = isLast ? checkPoints([{ ...spec, observe: { trace: { maxEventsPerCpu: LAST_TRACE_EVENTS }, flame: {} } }])[0] : resolved[index];
      const r = await runWorkload(point, { sampleMs: 50, onProgress: (cpus) => { if (!over) post({ type: 'event', event: { type: 'cpus', index, spec, cpus } }); } });
      const { trace, flame, ...plain } = r;
      if (isLast && r.ok && trace && flame) {
        last = { label: `${r.workload} ${r.strategy}, ${r.cpus} CPU(s)`, trace: JSON.stringify(trace), folded: flame.folded,
          droppedEvents: Number((trace.otherData as { droppedEvents?: number } | undefined)?.droppedEvents ?? 0), window: firstWindow(trace.traceEvents) };
      }
      if (!over) points.push(plain);
    }
    if (!over) post({ type: 'event', event: { type: 'point', done: points.length, total: specs.length } });
    finish(false);
  } catch (err) {
    post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  }
};
