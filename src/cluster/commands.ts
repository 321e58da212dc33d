// The cluster commands of the CLI: `sweep --plan`, `point`, `merge`, `slurm`.
// Each returns its exit code: 0 done, 1 a point failed or is missing,
// bad input throws UsageError (exit 2, one line, from src/cli.ts).

import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ResolvedPoint } from '../experiment.js';
import { checkOutFile, prepareOutDir } from '../args.js';
import { formatTable, resultsFile, toolVersion } from '../report.js';
import { writeOutputs, formatFailures } from '../outputs.js';
import { UsageError } from '../types.js';
import { makePlan, writePlan, readPlan, planPoint, checkPlanPoint, describeSpec, type PlanFile } from './plan.js';
import { runPlanPoint } from './point.js';
import { gatherShards, type MissingPoint } from './merge.js';
import { arrayJobs, checkSlurmOptions, indexRanges, sbatchScript, submit, writeScript, type SlurmOptions } from './slurm.js';

const out = (s: string) => process.stdout.write(s);
const err = (s: string) => process.stderr.write(s);

/** a path as a shell word (quoted only when it needs to be) */
const word = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

const mergeHint = (planArg: string, fromArg: string) => `faultline merge --plan ${word(planArg)} --from ${word(fromArg)} --out out`;

/** `faultline sweep ... --plan FILE`: write the points (resolved by the API: checkPoints), run nothing. */
export function planCommand(points: readonly ResolvedPoint[], file: string, command: string[], quiet = false): number {
  const plan = makePlan(points, command);
  writePlan(checkOutFile('--plan', file), plan);
  const n = plan.points.length;
  if (!quiet) out(`wrote plan ${file}: ${n} point(s), indices 0 to ${n - 1} (nothing ran)\n` +
    'run them on a Slurm cluster, or one at a time anywhere, then merge the shards:\n' +
    `  faultline slurm --plan ${word(file)} --out shards --submit\n` +
    `  faultline point --plan ${word(file)} --index <i> --out shards\n` +
    `  ${mergeHint(file, 'shards')}\n`);
  return 0;
}

export interface PointOpts { plan: string; index: string; out: string; force?: boolean; quiet?: boolean }

/** `faultline point`: run one point of a plan into its shard (skipped when a matching shard is there). */
export async function pointCommand(o: PointOpts, index: number, command: string[]): Promise<number> {
  const plan = readPlan(o.plan);
  const p = planPoint(plan, o.plan, index);
  const resolved = checkPlanPoint(o.plan, p);
  const dir = prepareOutDir(o.out);
  const what = `point ${p.index} of ${plan.points.length} (${describeSpec(p.spec)}, ${p.spec.mode} mode, seed ${p.spec.seed})`;
  const r = await runPlanPoint(plan, resolved, p.index, dir, command, {
    force: o.force,
    onStart: () => out(`${what}: running\n`),
  });
  if (r.skipped) {
    out(`${what}: ${r.file} is there and matches the plan: skipped (--force runs it again)\n`);
  } else {
    if (!o.quiet) out(formatTable([r.result]));
    out(`wrote ${r.file}\n`);
  }
  if (!r.result.ok) err(formatFailures([r.result], [r.result]));
  return r.result.ok ? 0 : 1;
}

export interface MergeOpts { plan: string; from: string[]; out: string; quiet?: boolean }

function checkDir(option: string, dir: string): string {
  const abs = resolve(dir);
  if (!existsSync(abs)) throw new UsageError(`${option} ${dir}: no such directory`);
  if (!statSync(abs).isDirectory()) throw new UsageError(`${option} ${dir}: not a directory`);
  return abs;
}

function formatMissing(plan: PlanFile, missing: MissingPoint[], o: MergeOpts): string {
  const n = plan.points.length;
  const lines = [`faultline: ${missing.length} of ${n} point(s) missing (the ${n - missing.length} found are kept):`];
  for (const m of missing) {
    const why = m.unusable.length ? m.unusable.map((u) => `${u.file}: ${u.why}`).join('; ') : `no shard in ${o.from.join(', ')}`;
    lines.push(`  ${m.point.index} ${describeSpec(m.point.spec)}: ${why}`);
  }
  const ids = indexRanges(missing.map((m) => m.point.index));
  lines.push(`  run just these: faultline slurm --plan ${word(o.plan)} --out ${word(o.from[0])} --submit`);
  const one = (i: string) => `faultline point --plan ${word(o.plan)} --index ${i} --out ${word(o.from[0])}`;
  lines.push(missing.length === 1 ? `  (or ${one(ids)})` : `  (or, for each i in ${ids}: ${one('i')})`);
  return lines.join('\n') + '\n';
}

/** `faultline merge`: the shards of a plan -> results.json, results.csv and plots, as a local sweep writes them. */
export async function mergeCommand(o: MergeOpts, command: string[]): Promise<number> {
  const plan = readPlan(o.plan);
  const dirs = o.from.map((d) => checkDir('--from', d));
  const outDir = prepareOutDir(o.out);
  const g = gatherShards(plan, dirs);
  const written = await writeOutputs(resultsFile(g.points, command), g.points, { outDir });
  const failed = g.points.filter((p) => !p.ok);
  if (!o.quiet) {
    if (g.points.length) out(formatTable(g.points));
    out(`\nmerged ${g.points.length} of ${plan.points.length} point(s); wrote ${written.join(', ')}\n`);
  }
  // results of another version may differ from what this one computes: say so, keep them
  const self = `faultline ${toolVersion()}`;
  const others = [...g.generators].filter(([gen]) => gen !== self);
  if (others.length) err(`faultline: note: ${others.map(([gen, k]) => `${k} shard(s) written by ${gen || 'an unknown version'}`).join(', ')}; this is ${self}\n`);
  if (g.missing.length) err(formatMissing(plan, g.missing, o));
  if (failed.length) err(formatFailures(g.points, failed));
  return g.missing.length || failed.length ? 1 : 0;
}

export interface SlurmOpts extends SlurmOptions { plan: string; out: string; submit?: boolean; retryFailed?: boolean }

/** `faultline slurm`: sbatch script(s) for the points without a shard in --out; with --submit, submit them. */
export function slurmCommand(o: SlurmOpts, cli: string): number {
  const options = checkSlurmOptions(o);
  const plan = readPlan(o.plan);
  // every point checked now, not in a thousand tasks later
  for (const p of plan.points) checkPlanPoint(o.plan, p);
  const outDir = prepareOutDir(o.out);
  const planFile = resolve(o.plan);
  const n = plan.points.length;
  const g = gatherShards(plan, [outDir]);
  const failed = g.indices.filter((_, k) => !g.points[k].ok);
  // a recorded failure is a result (merge names it); only --retry-failed runs it again
  const missing = [...g.missing.map((m) => m.point.index), ...(o.retryFailed ? failed : [])].sort((a, b) => a - b);
  const merge = mergeHint(o.plan, o.out);
  if (missing.length === 0) {
    const note = failed.length ? ` (${failed.length} record a failed run: points ${indexRanges(failed)}; --retry-failed runs them again)` : '';
    out(`all ${n} point(s) of ${o.plan} have their shard in ${o.out}${note}: nothing to submit\nmerge them: ${merge}\n`);
    return 0;
  }
  const jobs = arrayJobs(missing, options);
  const files = jobs.map((job, k) => writeScript(outDir, jobs.length === 1 ? 'faultline.sbatch' : `faultline-${k}.sbatch`, sbatchScript({
    planFile, outDir, node: process.execPath, cli, total: n, job, options, force: !!o.retryFailed,
    mergeCommand: `faultline merge --plan ${word(planFile)} --from ${word(outDir)} --out out`,
  })));
  const scope = missing.length === n ? `all ${n} point(s)` : `the ${missing.length} of ${n} point(s) without a shard${o.retryFailed ? ' or with a failed run' : ''}`;
  jobs.forEach((job, k) => out(`wrote ${files[k]}: --array=${job.array} (points ${indexRanges(job.indices)})\n`));
  out(`covering ${scope}\n`);
  if (!o.submit) {
    out(`submit with: ${files.map((f) => `sbatch ${word(f)}`).join('; ')}\n`);
    return 0;
  }
  for (const [k, f] of files.entries()) {
    const id = submit(f);
    out(`submitted job ${id}: ${jobs[k].indices.length} task(s), points ${indexRanges(jobs[k].indices)}; logs in ${outDir}/logs/${id}_<task>.out\n`);
  }
  out(`when the job has ended: ${merge}\n` +
    `points that did not finish: run this command again (it submits only the points without a shard)\n`);
  return 0;
}
