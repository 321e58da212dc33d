// One point of a plan, run anywhere: its result is a shard, <dir>/point-<i>.json,
// written atomically (src/cluster/atomic.ts). A shard records the spec it was
// run from; it counts for a plan only when that spec is the plan's spec at the
// same index, so a shard of another plan (or an edited one) is never merged.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PointResult, ResolvedPoint } from '../experiment.js';
import { runWorkload } from '../api.js';
import { toolVersion } from '../report.js';
import { writeFileAtomic } from './atomic.js';
import { canonicalSpec, sameSpec, type PlanFile, type PlanPoint, type PointIndex } from './plan.js';

/** Bump on any incompatible change of ShardFile. */
export const SHARD_VERSION = 1;

export interface ShardFile {
  faultlineShard: number;
  generator: string;
  createdAt: string;
  /** the command that ran the point */
  command: string[];
  index: PointIndex;
  /** the plan's spec of this point, as run */
  spec: PlanPoint['spec'];
  /** the point's result, as a local sweep records it (docs/results-schema.md) */
  result: PointResult;
}

/** point-7.json; zero-padded to the plan's largest index, so a listing sorts in plan order */
export function shardName(plan: PlanFile, index: number): string {
  const width = String(plan.points.length - 1).length;
  return `point-${String(index).padStart(width, '0')}.json`;
}

export type ShardLookup =
  | { state: 'ok'; file: string; shard: ShardFile }
  | { state: 'absent'; file: string }
  /** a file is there but is not this point's shard */
  | { state: 'unusable'; file: string; why: string };

/** What `dir` holds for the plan's point `index`. */
export function lookupShard(plan: PlanFile, index: number, dir: string): ShardLookup {
  const file = join(dir, shardName(plan, index));
  if (!existsSync(file)) return { state: 'absent', file };
  let doc: Partial<ShardFile>;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8')) as Partial<ShardFile>;
  } catch (e) {
    return { state: 'unusable', file, why: `unreadable (${(e as Error).message})` };
  }
  if (typeof doc !== 'object' || doc === null || doc.faultlineShard !== SHARD_VERSION) return { state: 'unusable', file, why: 'not a faultline shard' };
  if (doc.index !== index || typeof doc.spec !== 'object' || doc.spec === null || !sameSpec(doc.spec, plan.points[index].spec)) {
    return { state: 'unusable', file, why: 'its point is not the plan\'s (another plan?)' };
  }
  const r = doc.result;
  if (typeof r !== 'object' || r === null || typeof r.ok !== 'boolean' || typeof r.workload !== 'string') {
    return { state: 'unusable', file, why: 'has no result' };
  }
  return { state: 'ok', file, shard: doc as ShardFile };
}

export interface PointOutcome {
  /** true: a matching shard was there and nothing ran */
  skipped: boolean;
  file: string;
  result: PointResult;
}

/**
 * Run the plan's point `index` (`point`: resolved by the caller, checkPlanPoint)
 * and write its shard into `dir` (checked by the caller), unless a matching
 * shard is there already (`force`: run anyway). `onStart` is called just
 * before the run starts.
 */
export async function runPlanPoint(
  plan: PlanFile, point: ResolvedPoint, index: PointIndex, dir: string, command: string[],
  opts: { force?: boolean; onStart?: () => void } = {},
): Promise<PointOutcome> {
  const found = lookupShard(plan, index, dir);
  if (found.state === 'ok' && !opts.force) return { skipped: true, file: found.file, result: found.shard.result };
  const spec = plan.points[index].spec;
  opts.onStart?.();
  const result = await runWorkload(point);
  const shard: ShardFile = {
    faultlineShard: SHARD_VERSION,
    generator: `faultline ${toolVersion()}`,
    createdAt: new Date().toISOString(),
    command,
    index,
    spec: canonicalSpec(spec),
    result,
  };
  writeFileAtomic(found.file, JSON.stringify(shard, null, 2) + '\n');
  return { skipped: false, file: found.file, result };
}
