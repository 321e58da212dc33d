// Gathering a plan's shards back into one set of points, in plan order (the
// order a local sweep runs them), naming every point that has no usable shard.

import type { PointResult } from '../experiment.js';
import type { PlanFile, PlanPoint } from './plan.js';
import { lookupShard } from './point.js';

export interface MissingPoint {
  point: PlanPoint;
  /** files that are there but could not be used, with the reason; empty: no shard anywhere */
  unusable: { file: string; why: string }[];
}

export interface Gathered {
  /** the results found, in plan order */
  points: PointResult[];
  /** for each of `points`, the shard it came from and the point's plan index */
  files: string[];
  indices: PlanPoint['index'][];
  missing: MissingPoint[];
  /** the generator ("faultline 0.1.0") of each shard used, for each distinct value its count */
  generators: Map<string, number>;
}

/** For every point of the plan, the first usable shard in `dirs` (in the order given). */
export function gatherShards(plan: PlanFile, dirs: string[]): Gathered {
  const g: Gathered = { points: [], files: [], indices: [], missing: [], generators: new Map() };
  for (const p of plan.points) {
    const unusable: MissingPoint['unusable'] = [];
    let done = false;
    for (const dir of dirs) {
      const s = lookupShard(plan, p.index, dir);
      if (s.state === 'ok') {
        g.points.push(s.shard.result);
        g.files.push(s.file);
        g.indices.push(p.index);
        g.generators.set(s.shard.generator, (g.generators.get(s.shard.generator) ?? 0) + 1);
        done = true;
        break;
      }
      if (s.state === 'unusable') unusable.push({ file: s.file, why: s.why });
    }
    if (!done) g.missing.push({ point: p, unusable });
  }
  return g;
}
