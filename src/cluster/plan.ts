// A plan: the points of a sweep written down, each a complete spec, so that
// any machine sharing the file system can run any one of them (`faultline
// point`) and the result shards can be merged later (`faultline merge`).
// Writing a plan runs nothing.

import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { canonicalSpec, type PointSpec, type ResolvedPoint } from '../experiment.js';
import { checkPoints } from '../api.js';
import { isBareName, ProfileError } from '../profile.js';
import { toolVersion } from '../report.js';
import { planFileSchema, parseOrThrow, POINT_LABELS, PLAN_VERSION } from '../schema.js';
import { layoutConsts } from '../wasm.js';
import { PACKAGE_ROOT } from '../package-root.js';
import { UsageError } from '../types.js';
import { writeFileAtomic } from './atomic.js';

export { PLAN_VERSION, canonicalSpec };

/** A point's place in its plan: the array index of its Slurm task, the name of its shard. */
export type PointIndex = number & { readonly __brand: 'PointIndex' };
export const pointIndex = (n: number): PointIndex => n as PointIndex;

export interface PlanPoint { index: PointIndex; spec: PointSpec }

/** A plan file (its JSON Schema: schemas/plan.schema.json, from src/schema.ts planSchema) */
export interface PlanFile {
  faultlinePlan: number;
  generator: string;
  createdAt: string;
  /** the sweep command the plan was made from */
  command: string[];
  /** in the order a local sweep runs them (and merge writes them) */
  points: PlanPoint[];
}

/** Two specs are the same point when their canonical forms are equal. */
export function sameSpec(a: PointSpec, b: PointSpec): boolean {
  return JSON.stringify(canonicalSpec(a)) === JSON.stringify(canonicalSpec(b));
}

/** "page_fault1 spf 4 CPU(s)" */
export function describeSpec(s: PointSpec): string {
  return `${s.workload} ${s.strategy} ${s.cpus} CPU(s)`;
}

/**
 * The plan of these points (resolved: checked before anything is written,
 * by the API's door: checkPoints). A profile given as a file path is made
 * absolute, so a point run from another directory (a Slurm task) reads the
 * same file.
 */
export function makePlan(points: readonly ResolvedPoint[], command: string[]): PlanFile & { $schema: string } {
  return {
    $schema: pathToFileURL(join(PACKAGE_ROOT, 'schemas', 'plan.schema.json')).href,
    faultlinePlan: PLAN_VERSION,
    generator: `faultline ${toolVersion()}`,
    createdAt: new Date().toISOString(),
    command,
    points: points.map(({ spec: s }, i) => ({
      index: pointIndex(i),
      spec: canonicalSpec({ ...s, profile: isBareName(s.profile) ? s.profile : resolve(s.profile) }),
    })),
  };
}

export function writePlan(file: string, plan: PlanFile): void {
  writeFileAtomic(file, JSON.stringify(plan, null, 2) + '\n');
}

/** Read and check a plan file (src/schema.ts planSchema); every problem is a UsageError naming the file (and the point). */
export function readPlan(file: string): PlanFile {
  const bad = (why: string): never => { throw new UsageError(`plan ${file}: ${why}`); };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return bad(code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return bad(`not JSON (${(e as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || !('faultlinePlan' in doc)) return bad('not a faultline plan (write one with `faultline sweep ... --plan FILE`)');
  const plan = parseOrThrow(planFileSchema(layoutConsts().MAX_CPUS, layoutConsts().MAX_VCYCLES), doc, (msg) => new UsageError(`plan ${file}: ${msg}`), {
    context: (path) => { const m = /^points\[(\d+)\]/.exec(path); return m ? `point ${m[1]}: ` : ''; },
    label: (path) => { const m = /^points\[\d+\]\.spec\.(\w+)$/.exec(path); return m ? POINT_LABELS[m[1]] ?? m[1] : undefined; },
    unknownKey: (path, key) => (/^points\[\d+\]\.spec$/.test(path) ? `unknown spec field "${key}"` : undefined),
  });
  return { ...plan, points: plan.points.map((p, i) => ({ index: pointIndex(i), spec: canonicalSpec(p.spec) })) };
}

/** Check one point's spec (names, ranges, profile, engine) through the API's door; the message names the plan and the point. */
export function checkPlanPoint(file: string, p: PlanPoint): ResolvedPoint {
  try {
    return checkPoints([p.spec])[0];
  } catch (e) {
    if (e instanceof UsageError || e instanceof ProfileError) {
      throw new UsageError(`plan ${file}: point ${p.index}: ${e.message}`);
    }
    throw e;
  }
}
/** The plan's point at a command-line index; out of range is a UsageError. */
export function planPoint(plan: PlanFile, file: string, index: number): PlanPoint {
  const n = plan.points.length;
  if (!Number.isSafeInteger(index) || index < 0 || index >= n) {
    throw new UsageError(`--index ${index}: plan ${file} has ${n} point(s), indices 0 to ${n - 1}`);
  }
  return plan.points[index];
}
