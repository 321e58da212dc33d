// A plan: the points of a sweep written down, each a complete spec, so that
// any machine sharing the file system can run any one of them (`faultline
// point`) and the result shards can be merged later (`faultline merge`).
// Writing a plan runs nothing.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { resolveSpec, type PointSpec } from '../experiment.js';
import { isBareName, ProfileError } from '../profile.js';
import { toolVersion } from '../report.js';
import { UsageError } from '../types.js';
import { writeFileAtomic } from './atomic.js';

/** Bump on any incompatible change of PlanFile (and document it in docs/cli.md). */
export const PLAN_VERSION = 1;

/** A point's place in its plan: the array index of its Slurm task, the name of its shard. */
export type PointIndex = number & { readonly __brand: 'PointIndex' };
export const pointIndex = (n: number): PointIndex => n as PointIndex;

export interface PlanPoint { index: PointIndex; spec: PointSpec }

export interface PlanFile {
  faultlinePlan: number;
  generator: string;
  createdAt: string;
  /** the sweep command the plan was made from */
  command: string[];
  /** in the order a local sweep runs them (and merge writes them) */
  points: PlanPoint[];
}

/** every field a PointSpec may have in a plan, with its type; the plan's spec keys are checked against it (observe: `run` only, not in plans) */
const SPEC_FIELDS: Record<Exclude<keyof PointSpec, 'observe'>, { type: 'string' | 'number'; optional: boolean }> = {
  workload: { type: 'string', optional: false },
  strategy: { type: 'string', optional: false },
  cpus: { type: 'number', optional: false },
  profile: { type: 'string', optional: false },
  mode: { type: 'string', optional: false },
  seed: { type: 'number', optional: false },
  quantum: { type: 'number', optional: false },
  vcycles: { type: 'number', optional: true },
  loops: { type: 'number', optional: true },
  watchdogMs: { type: 'number', optional: true },
  engine: { type: 'string', optional: true },
  workers: { type: 'number', optional: true },
  munmap: { type: 'string', optional: true },
  spfLookup: { type: 'string', optional: true },
  kernel: { type: 'string', optional: true },
};

/** The spec with its keys in one order and no undefined fields: what a plan stores and shards are matched on. */
export function canonicalSpec(spec: PointSpec): PointSpec {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(SPEC_FIELDS) as Exclude<keyof PointSpec, 'observe'>[]) if (spec[k] !== undefined) out[k] = spec[k];
  return out as unknown as PointSpec;
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
 * The plan of these specs (checked: bad input throws before anything is
 * written). A profile given as a file path is made absolute, so a point run
 * from another directory (a Slurm task) reads the same file.
 */
export function makePlan(specs: PointSpec[], command: string[]): PlanFile {
  for (const s of specs) resolveSpec(s);
  return {
    faultlinePlan: PLAN_VERSION,
    generator: `faultline ${toolVersion()}`,
    createdAt: new Date().toISOString(),
    command,
    points: specs.map((s, i) => ({
      index: pointIndex(i),
      spec: canonicalSpec({ ...s, profile: isBareName(s.profile) ? s.profile : resolve(s.profile) }),
    })),
  };
}

export function writePlan(file: string, plan: PlanFile): void {
  writeFileAtomic(file, JSON.stringify(plan, null, 2) + '\n');
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Read and check a plan file; every problem is a UsageError naming the file (and the point). */
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
  if (!isObject(doc) || !('faultlinePlan' in doc)) return bad('not a faultline plan (write one with `faultline sweep ... --plan FILE`)');
  if (doc.faultlinePlan !== PLAN_VERSION) return bad(`plan version ${JSON.stringify(doc.faultlinePlan)}; this faultline reads version ${PLAN_VERSION}`);
  if (!Array.isArray(doc.points) || doc.points.length === 0) return bad('"points" must be a non-empty list');
  if (!Array.isArray(doc.command) || !doc.command.every((c) => typeof c === 'string')) return bad('"command" must be a list of strings');
  const points = doc.points.map((p: unknown, i: number): PlanPoint => {
    const at = `point ${i}`;
    if (!isObject(p) || p.index !== i) return bad(`${at}: expected {"index": ${i}, "spec": {...}}`);
    if (!isObject(p.spec)) return bad(`${at}: "spec" must be an object`);
    for (const [k, v] of Object.entries(p.spec)) {
      const f = (SPEC_FIELDS as Record<string, { type: string; optional: boolean } | undefined>)[k];
      if (!f) return bad(`${at}: unknown spec field "${k}"`);
      if (typeof v !== f.type) return bad(`${at}: spec field "${k}" must be a ${f.type} (got ${JSON.stringify(v)})`);
    }
    for (const [k, f] of Object.entries(SPEC_FIELDS)) if (!f.optional && !(k in p.spec)) bad(`${at}: spec has no "${k}"`);
    return { index: pointIndex(i), spec: canonicalSpec(p.spec as unknown as PointSpec) };
  });
  return {
    faultlinePlan: PLAN_VERSION,
    generator: typeof doc.generator === 'string' ? doc.generator : '',
    createdAt: typeof doc.createdAt === 'string' ? doc.createdAt : '',
    command: doc.command as string[],
    points,
  };
}

/** Check one point's spec (names, ranges) as a run would; the message names the plan and the point. */
export function checkPlanPoint(file: string, p: PlanPoint): void {
  try {
    resolveSpec(p.spec);
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
