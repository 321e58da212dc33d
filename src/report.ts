// What a run produces besides plots: the results document (JSON, versioned:
// docs/results-schema.md), the CSV of headline columns and the text table.

// No fs here (the core path: Node and browsers): src/node/files.ts writes them.

import { VERSION } from './generated/assets.js';
import { platform } from './platform.js';
import { CYCLE_CATEGORIES, categoryNames, snakeCase } from './breakdown.js';
import type { PointResult } from './experiment.js';

/** Bump on any incompatible change of ResultsFile / PointResult (and document it). */
export const SCHEMA_VERSION = 2;

export interface ResultsFile {
  schemaVersion: number;
  generator: string;
  createdAt: string;
  /** the command line that produced the file */
  command: string[];
  host: { node: string; platform: string; arch: string; cpus: number };
  points: PointResult[];
}

export function toolVersion(): string {
  return VERSION;
}

export function resultsFile(points: PointResult[], command: string[]): ResultsFile {
  return {
    schemaVersion: SCHEMA_VERSION,
    generator: `faultline ${toolVersion()}`,
    createdAt: new Date().toISOString(),
    command,
    host: platform().hostInfo(),
    points,
  };
}

/** the results file as text (what `faultline sweep` writes as results.json) */
export function jsonText(doc: ResultsFile): string {
  return JSON.stringify(doc, null, 2) + '\n';
}

// ---------------------------------------------------------------------------
// Speedup: against the 1-CPU point of the same series (both real runs)

function sameSeries(a: PointResult, b: PointResult): boolean {
  return a.workload === b.workload && a.strategy === b.strategy && a.profile === b.profile && a.mode === b.mode &&
    a.seed === b.seed && a.quantum === b.quantum && a.vcycles === b.vcycles && (a.loops?.required ?? null) === (b.loops?.required ?? null);
}

/** throughput at p.cpus over throughput at 1 CPU of the same series; null if either is missing */
export function speedup(points: PointResult[], p: PointResult): number | null {
  const base = points.find((b) => b.cpus === 1 && b.ok && sameSeries(b, p));
  if (!base || p.opsPerVirtualSec === null || !base.opsPerVirtualSec) return null;
  return p.opsPerVirtualSec / base.opsPerVirtualSec;
}

// ---------------------------------------------------------------------------
// CSV

const csvCell = (v: unknown): string => {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

const CSV_COLUMNS: [string, (p: PointResult, all: PointResult[]) => unknown][] = [
  ['workload', (p) => p.workload],
  ['strategy', (p) => p.strategy],
  ['strategy_used', (p) => p.strategyUsed],
  ['cpus', (p) => p.cpus],
  ['profile', (p) => p.profile],
  ['mode', (p) => p.mode],
  ['seed', (p) => p.seed],
  ['quantum', (p) => p.quantum],
  ['ok', (p) => p.ok],
  ['ops_unit', (p) => p.opsUnit],
  ['ops', (p) => p.ops],
  ['virtual_cycles', (p) => p.virtualCycles],
  ['ops_per_vsec', (p) => p.opsPerVirtualSec],
  ['ops_per_vsec_per_cpu', (p) => p.opsPerVirtualSecPerCpu],
  ['speedup_vs_1cpu', (p, all) => speedup(all, p)],
  ['clock_spread_pct', (p) => p.clockSpread.spreadPct],
  ...categoryNames().map((c): [string, (p: PointResult) => unknown] => [`${snakeCase(c)}_cycles`, (p) => p.cyclesByCategory[c]]),
  ['uffd_handlers', (p) => p.params.handlers ?? null],
  ['uffd_latency_p50_cycles', (p) => p.metrics?.latencyP50Cycles ?? null],
  ['uffd_latency_p99_cycles', (p) => p.metrics?.latencyP99Cycles ?? null],
  ['uffd_latency_max_cycles', (p) => p.metrics?.latencyMaxCycles ?? null],
  ['host_wall_ms', (p) => p.host.wallMs],
  ['ops_per_host_sec', (p) => p.host.opsPerHostSec],
  ['error', (p) => p.error],
];

/** the CSV column stem of a kernel function of the flame graph ("[user]": the workload's own code) */
const fnColumn = (fn: string): string => `other_work_in_${fn === '[user]' ? 'user_code' : fn.replace(/[^A-Za-z0-9_]/g, '_')}_cycles`;

/**
 * When a point recorded its flame graph (`sweep --flame`, `run --flame`, observe.flame): "other work"
 * split by the kernel function it was spent in, one column per function any point has (empty for a
 * point that did not record), then the overlap: for each such point, the other_work_in_* columns sum to
 * other_work_cycles + other_work_overlap_cycles (categories the breakdown counts twice, src/obs.ts
 * FlameResult.overlapCycles; 0 unless userfault waits overlap lock waits), so the categories with
 * other_work_cycles still sum to the CPUs' clocks.
 */
function otherWorkColumns(points: PointResult[]): [string, (p: PointResult) => unknown][] {
  const total = new Map<string, number>();
  for (const p of points) for (const [f, v] of Object.entries(p.flame?.otherWork ?? {})) total.set(f, (total.get(f) ?? 0) + v);
  if (total.size === 0) return [];
  const fns = [...total].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([f]) => f);
  return [
    ...fns.map((f): [string, (p: PointResult) => unknown] => [fnColumn(f), (p) => (p.flame ? p.flame.otherWork[f] ?? 0 : null)]),
    ['other_work_overlap_cycles', (p) => (p.flame ? p.flame.overlapCycles : null)],
  ];
}

export function toCsv(points: PointResult[]): string {
  // the split right after the categories
  const at = CSV_COLUMNS.findIndex(([name]) => name === 'uffd_handlers');
  const cols = [...CSV_COLUMNS.slice(0, at), ...otherWorkColumns(points), ...CSV_COLUMNS.slice(at)];
  const lines = [cols.map(([name]) => name).join(',')];
  for (const p of points) lines.push(cols.map(([, get]) => csvCell(get(p, points))).join(','));
  return lines.join('\n') + '\n';
}


// ---------------------------------------------------------------------------
// Text table

/** 3 significant digits with an SI suffix: 1234567 -> "1.23M" */
export function si(v: number): string {
  if (v === 0) return '0';
  const units = ['', 'k', 'M', 'G', 'T', 'P'];
  let i = 0;
  while (Math.abs(v) >= 999.5 && i < units.length - 1) { v /= 1000; i++; }
  return `${Number(v.toPrecision(3))}${units[i]}`;
}

/** wait categories that take >= 1% of the CPUs' cycles, largest first */
export function keyWaits(p: PointResult): string {
  const total = categoryNames().reduce((s, c) => s + Number(p.cyclesByCategory[c] ?? 0), 0);
  if (total <= 0) return '-';
  const waits = CYCLE_CATEGORIES
    .map((c) => ({ name: c.name, share: Number(p.cyclesByCategory[c.name] ?? 0) / total }))
    .filter((w) => w.share >= 0.01)
    .sort((a, b) => b.share - a.share);
  return waits.length ? waits.map((w) => `${w.name} ${Math.round(w.share * 100)}%`).join(', ') : 'none';
}

function row(p: PointResult, all: PointResult[]): string[] {
  const strategy = p.strategyUsed ? p.strategy : `${p.strategy}*`;
  if (!p.ok) return [p.workload, strategy, String(p.cpus), 'FAILED', '', '', firstLine(p.error)];
  const up = speedup(all, p);
  return [
    p.workload, strategy, String(p.cpus),
    si(p.opsPerVirtualSec ?? 0), si(p.opsPerVirtualSecPerCpu ?? 0),
    up === null ? '-' : `${up.toFixed(2)}x`,
    keyWaits(p),
  ];
}

export function firstLine(s: string | null): string {
  return (s ?? '').split('\n')[0];
}

const HEADER = ['workload', 'strategy', 'cpus', 'ops/vsec', 'ops/vsec/cpu', 'speedup', 'key waits (share of cycles)'];
/** columns aligned right (numbers) */
const RIGHT = new Set([2, 3, 4, 5]);

/** The table users read: one row per point. */
export function formatTable(points: PointResult[]): string {
  const rows = [HEADER, ...points.map((p) => row(p, points))];
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const fmt = (r: string[]) => r.map((c, i) => (RIGHT.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  const lines = [fmt(HEADER), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(fmt)];
  const notes = ['ops/vsec = operations per virtual second (ops / (max CPU clock / GHz)); speedup = vs the 1-CPU point'];
  if (points.some((p) => !p.strategyUsed)) notes.push('* the workload does not use the fault-path strategy (recorded as asked)');
  return [...lines, '', ...notes].join('\n') + '\n';
}

/** formatDetails()' line under a multi-CPU parallel-mode point */
export const PARALLEL_NOTE = '  note:            parallel mode: the CPUs interleave as the host runs them, which can move a point far enough from deterministic mode to swap two strategies at high CPU counts; compare strategies with --mode deterministic (README, "Virtual time")';

/** Extra lines for a single point: clocks, cycles by category, the emulator's own speed. */
export function formatDetails(p: PointResult): string {
  const s = p.clockSpread;
  const total = categoryNames().reduce((sum, c) => sum + Number(p.cyclesByCategory[c] ?? 0), 0);
  const cats = categoryNames()
    .map((c) => `${c} ${total > 0 ? ((Number(p.cyclesByCategory[c] ?? 0) / total) * 100).toFixed(1) : '0.0'}%`)
    .join(', ');
  const lines = [
    `${p.workload} on ${p.cpus} CPU(s), profile ${p.profile} (${p.ghz} GHz), ${p.mode} mode, seed ${p.seed}, quantum ${p.quantum}`,
    // a comparison that points the wrong way costs more than a slow one: say where parallel mode stands
    ...(p.mode === 'parallel' && p.cpus > 1 ? [PARALLEL_NOTE] : []),
    `  operations:      ${p.ops ?? '-'} ${p.opsUnit} (${Object.entries(p.params).map(([k, v]) => `${k} ${v}`).join(', ')})`,
    `  virtual cycles:  ${p.virtualCycles ?? '-'} (max over CPUs; min ${s.min}, spread ${s.spreadPct.toFixed(1)}%)`
      + (p.timedCycles !== null && p.timedCycles !== p.virtualCycles ? `; timed phase ${p.timedCycles}` : ''),
    `  cycles by category (all CPUs): ${cats}`,
    ...(p.loops ? [`  whole loops:     ${Math.min(...p.loops.complete)} to ${Math.max(...p.loops.complete)} per CPU (asked: ${p.loops.required}; a loop: ${p.loops.unit})`] : []),
    `  emulator speed:  ${p.host.opsPerHostSec === null ? '-' : si(p.host.opsPerHostSec)} ops per host second (host wall ${p.host.wallMs.toFixed(0)} ms; not a virtual figure)`,
  ];
  return lines.join('\n') + '\n';
}
