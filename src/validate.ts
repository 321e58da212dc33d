// `faultline validate`: run a calibration set (published scaling results,
// calibration/published.json, or a file of the user's in the same format)
// and compare the emulator's ratios with the published ones. A measurement,
// not a gate: the caller decides what an error means (--check PCT).
//
// Format (faultline-calibration/1):
//   { format, name, sets: [ { id, title, source, machine?, profile, mode?, seed?, vcycles?,
//       points?: [ { workload, strategy, cpus, value } ],          published absolute values (drawn only)
//       ratios:  [ { label, num: Ref, den: Ref, published } ] } ] } compared: emulated num/den vs published
//   Ref = { workload, strategy, cpus, kernel?, munmap? }   kernel: the per-VMA lock release (pervma); munmap: its mmap_lock
// Every point a ratio names is run once per set (same profile, mode, seed).

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runPoint, resolveSpec, POINT_DEFAULTS, type PointSpec, type PointResult } from './experiment.js';
import { UsageError } from './types.js';
import { checkPervmaKernel, type Mode, type PervmaKernel, type MunmapLock } from './machine.js';
import { PACKAGE_ROOT } from './package-root.js';
import { renderSvg } from './plot.js';
import type { TopLevelSpec } from 'vega-lite';
import type { HostResult } from './validate-host.js';

export const CALIBRATION_FORMAT = 'faultline-calibration/1';
/** the calibration set shipped with faultline */
export const SHIPPED_SET = join(PACKAGE_ROOT, 'calibration', 'published.json');

export interface PointRef { workload: string; strategy: string; cpus: number; kernel?: PervmaKernel; munmap?: MunmapLock }
export interface PublishedPoint extends PointRef { value: number }
export interface RatioSpec { label: string; num: PointRef; den: PointRef; published: number }
export interface CalibrationSet {
  id: string;
  title: string;
  source: string;
  machine?: string;
  profile: string;
  mode?: Mode;
  seed?: number;
  vcycles?: number;
  points?: PublishedPoint[];
  ratios: RatioSpec[];
}
export interface CalibrationFile { format: string; name: string; description?: string; sets: CalibrationSet[] }

export interface RatioResult {
  set: string;
  label: string;
  published: number;
  /** null when a point of the ratio failed */
  emulated: number | null;
  /** emulated / published - 1 (0.1 = 10 % high); null when not measured */
  error: number | null;
  num: PointRef;
  den: PointRef;
}

export interface SetResult {
  id: string;
  title: string;
  source: string;
  profile: string;
  mode: Mode;
  points: PointResult[];
  published: PublishedPoint[];
  ratios: RatioResult[];
}

export interface ValidateResult { name: string; file: string; sets: SetResult[]; failed: string[]; host?: HostResult }

// ---------------------------------------------------------------------------
// Reading and checking a set file (bad input: UsageError, one line)

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function str(o: Record<string, unknown>, k: string, where: string): string {
  const v = o[k];
  if (typeof v !== 'string' || v === '') throw new UsageError(`${where}: "${k}" must be a non-empty string`);
  return v;
}

function num(o: Record<string, unknown>, k: string, where: string, int = false): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (int && !Number.isSafeInteger(v))) {
    throw new UsageError(`${where}: "${k}" must be a positive ${int ? 'integer' : 'number'}`);
  }
  return v;
}

function ref(v: unknown, where: string): PointRef {
  if (!isObj(v)) throw new UsageError(`${where} must be an object { workload, strategy, cpus }`);
  if (v.munmap !== undefined && v.munmap !== 'downgrade' && v.munmap !== 'write') throw new UsageError(`${where}: "munmap" must be "downgrade" or "write"`);
  return { workload: str(v, 'workload', where), strategy: str(v, 'strategy', where), cpus: num(v, 'cpus', where, true),
    ...(v.kernel !== undefined ? { kernel: checkKernel(v.kernel, where) } : {}),
    ...(v.munmap !== undefined ? { munmap: v.munmap as MunmapLock } : {}) };
}

function checkKernel(k: unknown, where: string): PervmaKernel {
  try { return checkPervmaKernel(k); } catch (e) { throw new UsageError(`${where}: ${e instanceof Error ? e.message : String(e)}`); }
}

/** Parse and check a calibration file's text; `file` names it in messages. */
export function parseCalibration(text: string, file: string): CalibrationFile {
  let j: unknown;
  try { j = JSON.parse(text); } catch (e) {
    throw new UsageError(`${file}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!isObj(j)) throw new UsageError(`${file}: must be a JSON object`);
  if (j.format !== CALIBRATION_FORMAT) throw new UsageError(`${file}: "format" must be "${CALIBRATION_FORMAT}"`);
  if (!Array.isArray(j.sets) || j.sets.length === 0) throw new UsageError(`${file}: "sets" must be a non-empty array`);
  const ids = new Set<string>();
  const sets = j.sets.map((s: unknown, i: number): CalibrationSet => {
    const where = `${file}: sets[${i}]`;
    if (!isObj(s)) throw new UsageError(`${where} must be an object`);
    const id = str(s, 'id', where);
    if (ids.has(id)) throw new UsageError(`${where}: duplicate set id "${id}"`);
    ids.add(id);
    if (s.mode !== undefined && s.mode !== 'parallel' && s.mode !== 'deterministic') {
      throw new UsageError(`${where}: "mode" must be "parallel" or "deterministic"`);
    }
    if (!Array.isArray(s.ratios) || s.ratios.length === 0) throw new UsageError(`${where}: "ratios" must be a non-empty array`);
    if (s.points !== undefined && !Array.isArray(s.points)) throw new UsageError(`${where}: "points" must be an array`);
    const set: CalibrationSet = {
      id,
      title: str(s, 'title', where),
      source: str(s, 'source', where),
      ...(typeof s.machine === 'string' ? { machine: s.machine } : {}),
      profile: str(s, 'profile', where),
      ...(s.mode !== undefined ? { mode: s.mode as Mode } : {}),
      ...(s.seed !== undefined ? { seed: num(s, 'seed', where, true) } : {}),
      ...(s.vcycles !== undefined ? { vcycles: num(s, 'vcycles', where, true) } : {}),
      points: ((s.points ?? []) as unknown[]).map((p, k) => {
        const pw = `${where}.points[${k}]`;
        if (!isObj(p)) throw new UsageError(`${pw} must be an object`);
        return { ...ref(p, pw), value: num(p, 'value', pw) };
      }),
      ratios: (s.ratios as unknown[]).map((r, k) => {
        const rw = `${where}.ratios[${k}]`;
        if (!isObj(r)) throw new UsageError(`${rw} must be an object`);
        return { label: str(r, 'label', rw), num: ref(r.num, `${rw}.num`), den: ref(r.den, `${rw}.den`), published: num(r, 'published', rw) };
      }),
    };
    // names and CPU counts are checked against the registry and the profile before anything runs
    for (const r of set.ratios) for (const p of [r.num, r.den]) resolveSpec(specOf(set, p));
    return set;
  });
  return { format: CALIBRATION_FORMAT, name: typeof j.name === 'string' ? j.name : file, sets };
}

export function readCalibration(file: string): CalibrationFile {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`${file}: cannot read the calibration set (${code ?? String(e)})`);
  }
  return parseCalibration(text, file);
}

// ---------------------------------------------------------------------------
// Running

const key = (p: PointRef) => `${p.workload}|${p.strategy}|${p.cpus}|${p.kernel ?? ''}|${p.munmap ?? ''}`;

function specOf(set: CalibrationSet, p: PointRef): PointSpec {
  const mode = set.mode ?? 'deterministic';
  return {
    workload: p.workload, strategy: p.strategy, cpus: p.cpus, profile: set.profile, mode,
    ...(p.kernel !== undefined ? { kernel: p.kernel } : {}),
    ...(p.munmap !== undefined ? { munmap: p.munmap } : {}),
    seed: set.seed ?? POINT_DEFAULTS.seed, quantum: POINT_DEFAULTS.quantum,
    ...(set.vcycles !== undefined ? { vcycles: set.vcycles } : {}),
    // deterministic mode runs every CPU on one worker
    ...(mode === 'deterministic' ? { workers: 1 } : {}),
  };
}

export interface ValidateProgress { done: number; total: number; running?: PointSpec }

/** Run every point the sets' ratios name (once each) and compute the ratios. */
export async function runValidation(cal: CalibrationFile, file: string, progress?: (p: ValidateProgress) => void): Promise<ValidateResult> {
  const plan = cal.sets.map((set) => {
    const refs = new Map<string, PointRef>();
    for (const r of set.ratios) for (const p of [r.num, r.den]) refs.set(key(p), p);
    return { set, refs: [...refs.values()] };
  });
  const total = plan.reduce((n, p) => n + p.refs.length, 0);
  let done = 0;
  const sets: SetResult[] = [];
  const failed: string[] = [];
  for (const { set, refs } of plan) {
    const byKey = new Map<string, PointResult>();
    for (const p of refs) {
      const spec = specOf(set, p);
      progress?.({ done, total, running: spec });
      const r = await runPoint(spec);
      if (!r.ok) failed.push(`set ${set.id}: ${p.workload} ${p.strategy} ${p.cpus} CPUs: ${r.error}`);
      byKey.set(key(p), r);
      done++;
    }
    const rate = (p: PointRef) => byKey.get(key(p))?.opsPerVirtualSec ?? null;
    const ratios = set.ratios.map((r): RatioResult => {
      const n = rate(r.num);
      const d = rate(r.den);
      const emulated = n !== null && d !== null && d > 0 ? n / d : null;
      return { set: set.id, label: r.label, published: r.published, emulated, error: emulated === null ? null : emulated / r.published - 1, num: r.num, den: r.den };
    });
    sets.push({ id: set.id, title: set.title, source: set.source, profile: set.profile, mode: set.mode ?? 'deterministic',
      points: [...byKey.values()], published: set.points ?? [], ratios });
  }
  progress?.({ done, total });
  return { name: cal.name, file, sets, failed };
}

/** the ratios whose |error| exceeds `pct` percent, or that could not be measured */
export function beyond(res: ValidateResult, pct: number): RatioResult[] {
  return res.sets.flatMap((s) => s.ratios).filter((r) => r.error === null || Math.abs(r.error) * 100 > pct);
}

// ---------------------------------------------------------------------------
// Output

const fmt = (v: number | null, d = 2) => (v === null ? '-' : v.toFixed(d));
const pctOf = (e: number | null) => (e === null ? 'failed' : `${e >= 0 ? '+' : ''}${(e * 100).toFixed(1)}%`);

/** The side-by-side table: one row per ratio. */
export function formatValidateTable(res: ValidateResult, checkPct?: number): string {
  const rows = res.sets.flatMap((s) => s.ratios.map((r) => [s.id, r.label, fmt(r.published), fmt(r.emulated), pctOf(r.error),
    checkPct === undefined ? '' : (r.error !== null && Math.abs(r.error) * 100 <= checkPct ? 'ok' : 'BEYOND')]));
  const head = ['set', 'ratio', 'published', 'emulated', 'error', checkPct === undefined ? '' : `within ${checkPct}%`];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ').trimEnd();
  const out = [line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)];
  for (const s of res.sets) out.push('', `set ${s.id}: ${s.title}; profile ${s.profile}, ${s.mode} mode`, `  source: ${s.source}`);
  const all = res.sets.flatMap((s) => s.ratios).filter((r) => r.error !== null);
  if (all.length > 0) {
    const worst = all.reduce((a, b) => (Math.abs(b.error!) > Math.abs(a.error!) ? b : a));
    const within25 = all.filter((r) => Math.abs(r.error!) <= 0.25).length;
    out.push('', `${within25} of ${all.length} ratios within 25%; largest error ${pctOf(worst.error)} (${worst.label})`);
  }
  if (res.failed.length > 0) out.push('', 'failed points:', ...res.failed.map((f) => `  ${f}`));
  return out.join('\n') + '\n';
}

/** JSON of a validation (the points carry every counter, as `run --json`) */
export function validateJson(res: ValidateResult, command: string[]): unknown {
  return { format: 'faultline-validate/1', command, createdAt: new Date().toISOString(), ...res };
}

// ---------------------------------------------------------------------------
// Plots: published points over the emulated curves, and every ratio side by side

/** throughput vs CPUs: the emulated curves (lines) with the published points (diamonds) over them */
export function overlaySpec(s: SetResult): TopLevelSpec {
  // a set that compares kernel releases draws one line per release
  const byKernel = s.ratios.some((r) => r.num.kernel !== undefined || r.den.kernel !== undefined);
  const series = (w: string, st: string, k?: string | null) => `${w} ${st}${byKernel && k ? ` ${k}` : ''}`;
  const emulated = s.points.filter((p) => p.ok).map((p) => ({ cpus: p.cpus, series: series(p.workload, p.strategy, p.kernel.pervma), rate: p.opsPerVirtualSec, kind: 'emulated' }));
  const published = s.published.map((p) => ({ cpus: p.cpus, series: series(p.workload, p.strategy, p.kernel), rate: p.value, kind: 'published' }));
  const cpus = [...new Set([...emulated, ...published].map((p) => p.cpus))].sort((a, b) => a - b);
  const x = { field: 'cpus', type: 'quantitative' as const, title: 'CPUs (threads)', scale: { type: 'log' as const, base: 2 }, axis: { values: cpus, format: 'd' } };
  const y = { field: 'rate', type: 'quantitative' as const, title: 'operations per second', axis: { format: '~s' } };
  const color = { field: 'series', type: 'nominal' as const, title: 'workload, strategy' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: `set ${s.id}: emulated (lines) vs published (diamonds)`, subtitle: [s.title, `profile ${s.profile}, ${s.mode} mode`] },
    width: 520, height: 320,
    layer: [
      { data: { values: emulated }, mark: { type: 'line', point: true }, encoding: { x, y, color } },
      { data: { values: published }, mark: { type: 'point', shape: 'diamond', size: 120, filled: true, opacity: 0.8 }, encoding: { x, y, color } },
    ],
  };
}

/** every ratio of a set: published and emulated bars side by side, the error in the tooltip */
export function ratiosSpec(s: SetResult): TopLevelSpec {
  const values = s.ratios.flatMap((r) => [
    { label: r.label, kind: 'published', ratio: r.published, error: pctOf(r.error) },
    ...(r.emulated !== null ? [{ label: r.label, kind: 'emulated', ratio: r.emulated, error: pctOf(r.error) }] : []),
  ]);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: `set ${s.id}: ratios, published vs emulated`, subtitle: [s.title] },
    width: Math.max(240, 46 * s.ratios.length), height: 280,
    data: { values },
    mark: 'bar',
    encoding: {
      x: { field: 'label', type: 'nominal', title: null, sort: null, axis: { labelAngle: -40, labelLimit: 260 } },
      xOffset: { field: 'kind', type: 'nominal', sort: ['published', 'emulated'] },
      y: { field: 'ratio', type: 'quantitative', title: 'ratio' },
      color: { field: 'kind', type: 'nominal', title: null, sort: ['published', 'emulated'] },
      tooltip: [{ field: 'label' }, { field: 'kind' }, { field: 'ratio', format: '.3f' }, { field: 'error' }],
    },
  };
}

/** Write validate.json and the SVGs into `dir` (exists); returns the file names. */
export async function writeValidateOutputs(dir: string, res: ValidateResult, command: string[]): Promise<string[]> {
  const files = ['validate.json'];
  writeFileSync(join(dir, 'validate.json'), JSON.stringify(validateJson(res, command), null, 2) + '\n');
  for (const s of res.sets) {
    if (s.published.length > 0 && s.points.some((p) => p.ok)) {
      const f = `validate-${s.id}-overlay.svg`;
      writeFileSync(join(dir, f), await renderSvg(overlaySpec(s)));
      files.push(f);
    }
    const f = `validate-${s.id}-ratios.svg`;
    writeFileSync(join(dir, f), await renderSvg(ratiosSpec(s)));
    files.push(f);
  }
  return files;
}
