// Calibration sets: published scaling results the emulator is compared with
// (`faultline validate`, calibration/published.json or a set of the user's in
// the same format). A measurement, not a gate: the caller decides what an
// error means (--check PCT). Part of the API (no fs: the Node side that reads
// and writes files is src/validate.ts).
//
// Format (faultline-calibration/1; JSON Schema: schemas/calibration.schema.json,
// from src/schema.ts calibrationSchema):
//   { format, name, sets: [ { id, title, source, machine?, profile, mode?, seed?, vcycles?,
//       points?: [ { workload, strategy, cpus, value } ],          published absolute values (drawn only)
//       ratios:  [ { label, num: Ref, den: Ref, published } ] } ] } compared: emulated num/den vs published
//   Ref = { workload, strategy, cpus, kernel?, munmap? }   kernel: the per-VMA lock release (pervma); munmap: its mmap_lock
// Every point a ratio names is run once per set (same profile, mode, seed).

import { runPoint, resolvePoint, POINT_DEFAULTS, type PointSpec, type PointResult, type ResolvedPoint } from './experiment.js';
import { UsageError } from './types.js';
import { ProfileError } from './profile.js';
import type { Mode, MunmapLock, PervmaKernel } from './machine.js';
import type { StrategyName } from './strategies.js';
import type { WorkloadName } from './generated/assets.js';
import { calibrationFileSchema, parseOrThrow, CALIBRATION_FORMAT } from './schema.js';
import { layoutConsts } from './wasm.js';

export { CALIBRATION_FORMAT };

export interface PointRef { workload: WorkloadName; strategy: StrategyName; cpus: number; kernel?: PervmaKernel; munmap?: MunmapLock }
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

export interface ValidateResult {
  name: string; file: string; sets: SetResult[]; failed: string[];
  /** the host comparison (src/validate-host.ts HostResult, Node only), when it ran */
  host?: object;
}

// ---------------------------------------------------------------------------
// Checking a set (bad input: UsageError, one line)

const key = (p: PointRef) => `${p.workload}|${p.strategy}|${p.cpus}|${p.kernel ?? ''}|${p.munmap ?? ''}`;

/** the point a set runs for a reference */
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

/** the points of each set: every reference its ratios name, once, with its resolved point */
const resolvedSets = new WeakMap<CalibrationFile, Map<CalibrationSet, { ref: PointRef; point: ResolvedPoint }[]>>();

/**
 * Check a calibration set (parsed JSON; `origin` names it in messages) ONCE:
 * its fields (src/schema.ts calibrationSchema), then every point its ratios
 * name, through the API's door (resolvePoint). runCalibration runs them
 * without checking again.
 */
export function checkCalibration(json: unknown, origin: string): CalibrationFile {
  const j = parseOrThrow(calibrationFileSchema(layoutConsts().MAX_CPUS, layoutConsts().MAX_VCYCLES), json, (msg) => new UsageError(`${origin}: ${msg}`));
  const cal: CalibrationFile = { format: CALIBRATION_FORMAT, name: j.name ?? origin, ...(j.description !== undefined ? { description: j.description } : {}), sets: j.sets as CalibrationSet[] };
  const points = new Map<CalibrationSet, { ref: PointRef; point: ResolvedPoint }[]>();
  cal.sets.forEach((set, i) => {
    const refs = new Map<string, PointRef>();
    for (const r of set.ratios) for (const p of [r.num, r.den]) refs.set(key(p), p);
    points.set(set, [...refs.values()].map((p) => {
      try {
        return { ref: p, point: resolvePoint(specOf(set, p)) };
      } catch (e) {
        if (e instanceof UsageError || e instanceof ProfileError) throw new UsageError(`${origin}: sets[${i}] (${set.id}): ${e.message}`);
        throw e;
      }
    }));
  });
  resolvedSets.set(cal, points);
  return cal;
}

/** Parse and check a calibration file's text; `file` names it in messages. */
export function parseCalibration(text: string, file: string): CalibrationFile {
  let j: unknown;
  try { j = JSON.parse(text); } catch (e) {
    throw new UsageError(`${file}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  return checkCalibration(j, file);
}

// ---------------------------------------------------------------------------
// Running

export interface ValidateProgress { done: number; total: number; running?: PointSpec }

/** Run every point the sets' ratios name (once each) and compute the ratios. `cal`: from checkCalibration (checked again otherwise). */
export async function runCalibration(cal: CalibrationFile, file: string, progress?: (p: ValidateProgress) => void): Promise<ValidateResult> {
  const checked = resolvedSets.has(cal) ? cal : checkCalibration(cal, file);
  const resolved = resolvedSets.get(checked)!;
  const sets0 = checked.sets;
  const total = sets0.reduce((n, s) => n + resolved.get(s)!.length, 0);
  let done = 0;
  const sets: SetResult[] = [];
  const failed: string[] = [];
  for (const set of sets0) {
    const byKey = new Map<string, PointResult>();
    for (const { ref, point } of resolved.get(set)!) {
      progress?.({ done, total, running: point.spec });
      const r = await runPoint(point);
      if (!r.ok) failed.push(`set ${set.id}: ${ref.workload} ${ref.strategy} ${ref.cpus} CPUs: ${r.error}`);
      byKey.set(key(ref), r);
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
  return { name: checked.name, file, sets, failed };
}

/** the ratios whose |error| exceeds `pct` percent, or that could not be measured */
export function beyond(res: ValidateResult, pct: number): RatioResult[] {
  return res.sets.flatMap((s) => s.ratios).filter((r) => r.error === null || Math.abs(r.error) * 100 > pct);
}

