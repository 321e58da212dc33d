// SVG charts of a set of points: vega-lite 5 specs, compiled to vega 5 and
// rendered server-side (no browser, no canvas). Per workload:
//   <workload>-throughput.svg  operations per virtual second vs CPUs, one line per strategy
//   <workload>-breakdown.svg   where the cycles go, per strategy, at the largest CPU count
//   <workload>-handlers.svg    postcopy only: throughput and latency percentiles vs handler CPUs

import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { categoryNames } from './breakdown.js';
import type { PointResult } from './experiment.js';

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

export function breakdownSpec(points: PointResult[], workload: string): TopLevelSpec {
  const ps = pointsOf(points, workload);
  const top = Math.max(...ps.map((p) => p.cpus));
  const at = ps.filter((p) => p.cpus === top);
  const cats = categoryNames();
  const values = at.flatMap((p) => cats.map((c, order) => ({
    strategy: p.strategy, category: c, order,
    cycles: Number(p.cyclesByCategory[c] ?? 0) / (p.ops || 1),
  })));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: `${workload}: where the cycles go at ${top} CPUs`, subtitle: subtitle(at, 'bars') },
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
      color: { field: 'category', type: 'nominal', title: 'cycles spent in', scale: { domain: cats }, sort: cats },
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
