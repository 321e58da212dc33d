// SVG charts of a set of points: vega-lite 5 specs, compiled to vega 5 and
// rendered server-side (no browser, no canvas). Per workload:
//   <workload>-throughput.svg  operations per virtual second vs CPUs, one line per strategy
//   <workload>-breakdown.svg   where the cycles go, per strategy, at the largest CPU count
//   <workload>-handlers.svg    postcopy only: throughput and latency percentiles vs handler CPUs

import type * as Vega from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import { categoryNames, OTHER_WORK } from './breakdown.js';
import type { PointResult } from './experiment.js';

/**
 * vega and vega-lite, loaded on first use: importing them costs 300-500 ms of host time (measured:
 * `faultline list` 0.9 s wall, of which the two imports ~0.4 s), which a run, a point or a list
 * that draws nothing should not pay.
 */
let vegaLibs: Promise<{ vega: typeof Vega; compile: typeof import('vega-lite').compile }> | undefined;
const loadVega = () => (vegaLibs ??= Promise.all([import('vega'), import('vega-lite')]).then(([vega, vl]) => ({ vega, compile: vl.compile })));

const WIDTH = 520;
const HEIGHT = 320;

/** legend entries drawn as short lines, so the dashes show */
const LINE_LEGEND = { symbolType: 'stroke', symbolSize: 400, symbolStrokeWidth: 2 } as const;

/** "lock sections" -> "lock section" */
const singular = (unit: string) => unit.replace(/s$/, '');

function subtitle(points: PointResult[], marks: string): string[] {
  const p = points[0];
  const lines = [`profile ${p.profile} (${p.ghz} GHz), ${p.mode} mode, seed ${p.seed}`];
  if (!p.strategyUsed) {
    const why = p.mode === 'deterministic' ? 'are the same run repeated' : 'differ only by run-to-run variation';
    lines.push(`this workload does not use the fault-path strategy: the ${marks} ${why}`);
  }
  return lines;
}

/** ok points of one workload */
function pointsOf(points: PointResult[], workload: string): PointResult[] {
  return points.filter((p) => p.workload === workload && p.ok);
}

export function throughputSpec(points: PointResult[], workload: string): TopLevelSpec {
  const ps = pointsOf(points, workload);
  const cpus = [...new Set(ps.map((p) => p.cpus))].sort((a, b) => a - b);
  const strategies = [...new Set(ps.map((p) => p.strategy))];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: `${workload}: throughput vs CPUs`, subtitle: subtitle(ps, 'lines') },
    width: WIDTH,
    height: HEIGHT,
    data: { values: ps.map((p) => ({ cpus: p.cpus, strategy: p.strategy, rate: p.opsPerVirtualSec })) },
    mark: { type: 'line', point: true },
    encoding: {
      x: {
        field: 'cpus', type: 'quantitative', title: 'emulated CPUs',
        scale: { type: 'log', base: 2, domain: [cpus[0], cpus[cpus.length - 1]] },
        axis: { values: cpus, format: 'd' },
      },
      y: {
        field: 'rate', type: 'quantitative', title: `${ps[0].opsUnit} per virtual second`,
        axis: { format: '~s' }, scale: { zero: true },
      },
      color: { field: 'strategy', type: 'nominal', title: 'strategy', scale: { domain: strategies }, legend: LINE_LEGEND },
      // dashes keep overlapping lines apart (and do not rely on colour alone)
      strokeDash: { field: 'strategy', type: 'nominal', title: 'strategy', scale: { domain: strategies }, legend: LINE_LEGEND },
      tooltip: [{ field: 'strategy' }, { field: 'cpus' }, { field: 'rate', format: '.3~s' }],
    },
  };
}

/** kernel functions of "other work" drawn on their own in the breakdown (the rest: one segment) */
const SPLIT_FUNCTIONS = 8;

export function breakdownSpec(points: PointResult[], workload: string): TopLevelSpec {
  const ps = pointsOf(points, workload);
  const top = Math.max(...ps.map((p) => p.cpus));
  const at = ps.filter((p) => p.cpus === top);
  const cats = categoryNames();
  const perOp = (p: PointResult, v: number) => v / (p.ops || 1);
  // points that recorded their flame graph (--flame): "other work" split by the kernel function it was spent in,
  // the SPLIT_FUNCTIONS largest over the bars on their own; the split sums to "other work", so a bar is still the run's cycles
  const fnTotal = new Map<string, number>();
  for (const p of at) for (const [f, v] of Object.entries(p.flame?.otherWork ?? {})) fnTotal.set(f, (fnTotal.get(f) ?? 0) + perOp(p, v));
  const shown = [...fnTotal].sort((a, b) => b[1] - a[1]).slice(0, SPLIT_FUNCTIONS).map(([f]) => f);
  const label = (f: string) => `${OTHER_WORK}: ${f}`;
  const rest = `${OTHER_WORK}: other functions`;
  const split = shown.length ? [...shown.map(label), ...(fnTotal.size > shown.length ? [rest] : [])] : [];
  const domain = split.length ? [...cats.filter((c) => c !== OTHER_WORK), ...split, ...(at.some((p) => !p.flame) ? [OTHER_WORK] : [])] : cats;
  let scaled = false;
  const values = at.flatMap((p) => {
    const bar = (category: string, v: number) => ({ strategy: p.strategy, category, order: domain.indexOf(category), cycles: perOp(p, v) });
    const main = cats.filter((c) => !(p.flame && c === OTHER_WORK)).map((c) => bar(c, Number(p.cyclesByCategory[c] ?? 0)));
    if (!p.flame) return main;
    // the split sums to "other work" plus the cycles two categories both count (overlapCycles: a userfault
    // wait includes its lock wait); then each function's share is scaled to "other work"
    const other = Number(p.cyclesByCategory[OTHER_WORK] ?? 0);
    const sum = Object.values(p.flame.otherWork).reduce((a, b) => a + b, 0);
    const k = sum > 0 ? other / sum : 0;
    if (p.flame.overlapCycles > 0) scaled = true;
    const fns = shown.map((f) => bar(label(f), (p.flame!.otherWork[f] ?? 0) * k));
    const left = Object.entries(p.flame.otherWork).filter(([f]) => !shown.includes(f)).reduce((a, [, v]) => a + v, 0) * k;
    return [...main, ...fns, ...(split.includes(rest) ? [bar(rest, left)] : [])];
  });
  const sub = subtitle(at, 'bars');
  if (split.length) {
    sub.push(`"other work" split by kernel function (flame graph, --flame)${scaled ? '; scaled to "other work" where categories overlap (userfault waits include their lock waits)' : ''}`);
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: `${workload}: where the cycles go at ${top} CPUs`, subtitle: sub },
    width: Math.max(160, 120 * at.length),
    height: HEIGHT,
    data: { values },
    mark: { type: 'bar' },
    encoding: {
      x: { field: 'strategy', type: 'nominal', title: 'strategy', sort: at.map((p) => p.strategy), axis: { labelAngle: 0 } },
      y: {
        field: 'cycles', type: 'quantitative', stack: 'zero',
        title: `virtual cycles per ${singular(at[0].opsUnit)} (all CPUs)`, axis: { format: '~s' },
      },
      color: { field: 'category', type: 'nominal', title: 'cycles spent in', scale: { domain, ...(split.length ? { scheme: 'tableau20' } : {}) }, sort: domain,
        ...(split.length ? { legend: { labelLimit: 320 } } : {}) },
      order: { field: 'order', type: 'quantitative' },
      tooltip: [{ field: 'strategy' }, { field: 'category' }, { field: 'cycles', format: '.3~s' }],
    },
  };
}

/**
 * postcopy workloads: userfaults resolved per virtual second and the p50 / p99
 * resolution latency against the number of handler CPUs (params.handlers)
 */
export function handlersSpec(points: PointResult[], workload: string): TopLevelSpec {
  const ps = pointsOf(points, workload).filter((p) => p.params.handlers !== undefined);
  const strategies = [...new Set(ps.map((p) => p.strategy))];
  const values = ps.flatMap((p) => [
    { handlers: p.params.handlers, strategy: p.strategy, what: 'throughput', v: p.opsPerVirtualSec },
    { handlers: p.params.handlers, strategy: p.strategy, what: 'p50', v: p.metrics.latencyP50Us },
    { handlers: p.params.handlers, strategy: p.strategy, what: 'p99', v: p.metrics.latencyP99Us },
  ]);
  const color = { field: 'strategy', type: 'nominal', title: 'strategy', scale: { domain: strategies }, legend: LINE_LEGEND } as const;
  const x = { field: 'handlers', type: 'quantitative', title: 'userfaultfd handler CPUs', axis: { format: 'd', tickMinStep: 1 } } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: `${workload}: throughput and resolution latency vs handlers`, subtitle: subtitle(ps, 'lines') },
    data: { values },
    vconcat: [
      {
        width: WIDTH, height: HEIGHT / 2,
        transform: [{ filter: "datum.what === 'throughput'" }],
        mark: { type: 'line', point: true },
        encoding: { x, y: { field: 'v', type: 'quantitative', title: `${ps[0]?.opsUnit ?? 'ops'} per virtual second`, axis: { format: '~s' } }, color },
      },
      {
        width: WIDTH, height: HEIGHT / 2,
        transform: [{ filter: "datum.what !== 'throughput'" }],
        mark: { type: 'line', point: true },
        encoding: {
          x, y: { field: 'v', type: 'quantitative', title: 'resolution latency, virtual µs' }, color,
          strokeDash: { field: 'what', type: 'nominal', title: 'percentile', legend: LINE_LEGEND },
        },
      },
    ],
  };
}

/** vega-lite -> vega -> SVG text, headless */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const { vega, compile } = await loadVega();
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Both charts of every workload that has a finished point: file name -> spec (src/node/files.ts writes them) */
export function plotSpecs(points: PointResult[]): { file: string; spec: TopLevelSpec }[] {
  const out: { file: string; spec: TopLevelSpec }[] = [];
  const workloads = [...new Set(points.filter((p) => p.ok).map((p) => p.workload))];
  for (const w of workloads) {
    out.push({ file: `${w}-throughput.svg`, spec: throughputSpec(points, w) });
    out.push({ file: `${w}-breakdown.svg`, spec: breakdownSpec(points, w) });
    if (points.some((p) => p.workload === w && p.ok && p.params.handlers !== undefined)) out.push({ file: `${w}-handlers.svg`, spec: handlersSpec(points, w) });
  }
  return out;
}

/**
 * A flame graph (Brendan Gregg's layout: the root at the bottom, callees above,
 * each frame as wide as its cycles) of folded stacks ("a;b;c value" lines),
 * drawn by vega's partition layout and rendered to SVG like the plots above.
 * Frames are coloured by name (warm hues; the categories "[...]", waits, in
 * blue); each has a tooltip with its cycles and share.
 */
export async function flameSvg(folded: string, title: string, width = 1200): Promise<string> {
  interface Node { id: string; parent: string | null; name: string; self: number; fill: string }
  const nodes = new Map<string, Node>();
  let total = 0;
  for (const line of folded.split('\n')) {
    const at = line.lastIndexOf(' ');
    if (at <= 0) continue;
    const v = Number(line.slice(at + 1));
    if (!Number.isFinite(v) || v < 0) throw new Error(`flame graph: bad folded line "${line}"`);
    total += v;
    const frames = line.slice(0, at).split(';');
    let id = '';
    frames.forEach((name, d) => {
      const parent = d === 0 ? null : id;
      id = d === 0 ? name : `${id};${name}`;
      if (!nodes.has(id)) nodes.set(id, { id, parent, name, self: 0, fill: frameColor(name) });
    });
    nodes.get(id)!.self += v;
  }
  const roots = [...nodes.values()].filter((n) => n.parent === null);
  if (roots.length !== 1) throw new Error(`flame graph: the stacks must share one root (got ${roots.length})`);
  const depth = Math.max(...[...nodes.keys()].map((k) => k.split(';').length));
  const rowH = 17;
  const spec = {
    $schema: 'https://vega.github.io/schema/vega/v5.json',
    width, height: depth * rowH, padding: 5,
    title: { text: title, subtitle: `${total.toLocaleString('en-US')} virtual cycles; width = cycles; [..] = waits of the breakdown's categories` },
    data: [{
      name: 'tree', values: [...nodes.values()],
      transform: [
        { type: 'stratify', key: 'id', parentKey: 'parent' },
        { type: 'partition', field: 'self', sort: { field: 'name' }, size: [{ signal: 'width' }, { signal: 'height' }] },
        { type: 'filter', expr: 'datum.x1 - datum.x0 >= 0.5' },
      ],
    }],
    marks: [
      { type: 'rect', from: { data: 'tree' }, encode: { enter: {
        x: { field: 'x0' }, x2: { field: 'x1' }, y: { signal: 'height - datum.y1' }, y2: { signal: 'height - datum.y0' },
        fill: { field: 'fill' }, stroke: { value: 'white' }, strokeWidth: { value: 0.5 },
        tooltip: { signal: `datum.name + ': ' + format(datum.value, ',') + ' cycles (' + format(datum.value / ${total || 1}, '.1%') + ')'` },
      } } },
      { type: 'text', from: { data: 'tree' }, encode: { enter: {
        x: { signal: 'datum.x0 + 3' }, y: { signal: 'height - (datum.y0 + datum.y1) / 2' }, baseline: { value: 'middle' }, fontSize: { value: 11 },
        font: { value: 'Verdana, sans-serif' }, fill: { value: 'black' },
        text: { signal: "datum.x1 - datum.x0 > 30 ? (length(datum.name) * 6.5 < datum.x1 - datum.x0 - 6 ? datum.name : slice(datum.name, 0, max(0, floor((datum.x1 - datum.x0 - 12) / 6.5))) + '..') : ''" },
      } } },
    ],
  };
  const { vega } = await loadVega();
  const view = new vega.View(vega.parse(spec as Vega.Spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** flamegraph.pl's "hot" palette, stable per name; the categories (waits) in blue */
function frameColor(name: string): string {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  const r = (h % 1000) / 1000;
  if (name.startsWith('[')) return `rgb(${Math.round(80 + 60 * r)},${Math.round(130 + 60 * r)},230)`;
  return `rgb(${Math.round(205 + 50 * r)},${Math.round(80 + 150 * ((h >>> 10) % 1000) / 1000)},${Math.round(30 + 40 * r)})`;
}
