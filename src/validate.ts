// `faultline validate` on the Node side: read a calibration set file, write
// validate.json and the SVG overlays. Checking and running a set is the API's
// (src/calibration.ts: checkCalibration, runCalibration).

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCalibration, beyond, type CalibrationFile, type ValidateResult, type SetResult, type PointRef } from './calibration.js';
import { UsageError } from './types.js';
import { PACKAGE_ROOT } from './package-root.js';
import { renderSvg } from './plot.js';
import { si } from './report.js';
import type { TopLevelSpec } from 'vega-lite';

export { parseCalibration, beyond };
export { runCalibration as runValidation, checkCalibration, CALIBRATION_FORMAT } from './calibration.js';
export type { CalibrationFile, ValidateResult, SetResult, RatioResult, PointRef, CalibrationSet, ValidateProgress } from './calibration.js';

/** the calibration set shipped with faultline */
export const SHIPPED_SET = join(PACKAGE_ROOT, 'calibration', 'published.json');

export function readCalibration(file: string): CalibrationFile {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`${file}: cannot read the calibration set (${code ?? String(e)})`);
  }
  return parseCalibration(text, file);
}

// ---------------------------------------------------------------------------
// Output

const fmt = (v: number | null, d = 2) => (v === null ? '-' : v.toFixed(d));
const pctOf = (e: number | null) => (e === null ? 'failed' : `${e >= 0 ? '+' : ''}${(e * 100).toFixed(1)}%`);

/** the timed window its points ran (their budget per CPU, and the whole loops every CPU had to complete), as ', window ...' */
function windowOf(s: SetResult): string {
  const kinds = new Set(s.points.map((p) => {
    const budget = p.params.vcyclesBudget;
    const loops = p.loops?.required ?? 0;
    if (budget === undefined) return '';
    return `${si(budget)} cycles per CPU${loops > 0 ? ` and at least ${loops} whole loop${loops > 1 ? 's' : ''} of every CPU` : ''}`;
  }).filter((k) => k !== ''));
  return kinds.size === 0 ? '' : `, window ${[...kinds].join(' / ')}`;
}

/** The side-by-side table: one row per ratio. */
export function formatValidateTable(res: ValidateResult, checkPct?: number): string {
  const rows = res.sets.flatMap((s) => s.ratios.map((r) => [s.id, r.label, fmt(r.published), fmt(r.emulated), pctOf(r.error),
    checkPct === undefined ? '' : (r.error !== null && Math.abs(r.error) * 100 <= checkPct ? 'ok' : 'BEYOND')]));
  const head = ['set', 'ratio', 'published', 'emulated', 'error', checkPct === undefined ? '' : `within ${checkPct}%`];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ').trimEnd();
  const out = [line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)];
  for (const s of res.sets) out.push('', `set ${s.id}: ${s.title}; profile ${s.profile}, ${s.mode} mode${windowOf(s)}`, `  source: ${s.source}`);
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
