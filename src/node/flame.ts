// `run --flame DIR`: the flame graph's files (Node only: the API returns the
// folded stacks in PointResult.flame, the CLI writes them).
//   <workload>-<strategy>-<cpus>cpu.folded      all CPUs' stacks (flamegraph.pl, inferno, speedscope read it)
//   <workload>-<strategy>-<cpus>cpu-cpuN.folded one CPU's
//   <workload>-<strategy>-<cpus>cpu.svg         the flame graph (src/plot.ts flameSvg)

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PointResult } from '../experiment.js';
import { flameSvg } from '../plot.js';

/** write the flame graph files of a point into `dir` (which exists); returns their paths */
export async function writeFlame(dir: string, p: PointResult): Promise<string[]> {
  if (!p.flame) return [];
  const stem = `${p.workload}-${p.strategy}-${p.cpus}cpu`;
  const files: string[] = [];
  const put = (name: string, text: string) => { const f = join(dir, name); writeFileSync(f, text); files.push(f); };
  put(`${stem}.folded`, p.flame.folded);
  p.flame.foldedPerCpu.forEach((t, cpu) => put(`${stem}-cpu${cpu}.folded`, t));
  put(`${stem}.svg`, await flameSvg(p.flame.folded,
    `${p.workload}, ${p.strategy}, ${p.cpus} CPUs (${p.profile}, ${p.mode}): virtual cycles by kernel function`));
  return files;
}
