// A plan on a Slurm cluster: an sbatch script per job array, one point per
// array task (`faultline point`, SLURM_ARRAY_TASK_ID as the index), written
// for the points that have no matching shard yet, so running it again after
// failures submits only what is missing. Slurm does the scheduling; faultline
// only writes the script and, if asked, calls sbatch.
//
// Slurm's MaxArraySize (default 1001: task ids 0..1000) bounds one array: a
// larger plan is split into arrays of at most maxArraySize tasks, each with a
// base added to its task id (base 0 for the first, so a plan that fits is one
// array whose task ids are the plan's indices).

import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../types.js';
import { writeFileAtomic } from './atomic.js';
import type { PointIndex } from './plan.js';

/** Slurm's default MaxArraySize (slurm.conf(5)) */
export const SLURM_MAX_ARRAY_SIZE = 1001;

export interface SlurmOptions {
  partition?: string;
  /** Slurm time limit per task: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS */
  time?: string;
  cpusPerTask?: number;
  /** at most this many tasks of an array at once (the %N of --array) */
  arrayLimit?: number;
  jobName?: string;
  /** task ids of one array are below this (the cluster's MaxArraySize) */
  maxArraySize?: number;
}

/** The time formats sbatch --time accepts (sbatch(1)). */
const SLURM_TIME = /^(\d+-\d+(:\d+){0,2}|\d+(:\d+){0,2}|unlimited|infinite)$/i;

/** Check the options (UsageError naming the option); returns them unchanged. */
export function checkSlurmOptions(o: SlurmOptions): SlurmOptions {
  if (o.time !== undefined && !SLURM_TIME.test(o.time)) {
    throw new UsageError(`--time: "${o.time}" is not a Slurm time (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)`);
  }
  if (o.partition !== undefined && !/^[\w.-]+(,[\w.-]+)*$/.test(o.partition)) {
    throw new UsageError(`--partition: "${o.partition}" is not a partition name (or a comma-separated list of them)`);
  }
  if (o.jobName !== undefined && !/^[\w.+-]+$/.test(o.jobName)) {
    throw new UsageError(`--job-name: "${o.jobName}" may hold only letters, digits and _ . + -`);
  }
  for (const [opt, v] of [['--cpus-per-task', o.cpusPerTask], ['--array-limit', o.arrayLimit], ['--max-array-size', o.maxArraySize]] as const) {
    if (v !== undefined && v < 1) throw new UsageError(`${opt} must be at least 1 (got ${v})`);
  }
  return o;
}

/** [0,1,2,5,7,8] -> "0-2,5,7-8" */
export function indexRanges(ids: readonly number[]): string {
  const sorted = [...new Set(ids)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** single-quoted for bash */
const sh = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export interface ArrayJob {
  /** added to SLURM_ARRAY_TASK_ID to give the plan index */
  base: number;
  /** plan indices this array runs */
  indices: PointIndex[];
  /** the --array value */
  array: string;
}

/** The arrays that run `indices` (plan indices), none with a task id of maxArraySize or more. */
export function arrayJobs(indices: readonly PointIndex[], o: SlurmOptions): ArrayJob[] {
  const max = o.maxArraySize ?? SLURM_MAX_ARRAY_SIZE;
  const byBase = new Map<number, PointIndex[]>();
  for (const i of [...indices].sort((a, b) => a - b)) {
    const base = Math.floor(i / max) * max;
    byBase.set(base, [...(byBase.get(base) ?? []), i]);
  }
  return [...byBase].map(([base, ids]) => ({
    base,
    indices: ids,
    array: indexRanges(ids.map((i) => i - base)) + (o.arrayLimit !== undefined ? `%${o.arrayLimit}` : ''),
  }));
}

export interface ScriptInput {
  /** absolute paths */
  planFile: string;
  outDir: string;
  node: string;
  cli: string;
  total: number;
  job: ArrayJob;
  options: SlurmOptions;
  mergeCommand: string;
  /** pass --force to point (re-run recorded failures) */
  force?: boolean;
}

/** The sbatch script of one array job. */
export function sbatchScript(s: ScriptInput): string {
  const o = s.options;
  const logs = join(s.outDir, 'logs');
  const index = s.job.base === 0 ? '"$SLURM_ARRAY_TASK_ID"' : `"$((SLURM_ARRAY_TASK_ID + ${s.job.base}))"`;
  const lines = [
    '#!/bin/bash',
    `#SBATCH --job-name=${o.jobName ?? 'faultline'}`,
    `#SBATCH --array=${s.job.array}`,
    `#SBATCH --output=${logs}/%A_%a.out`,
    `#SBATCH --error=${logs}/%A_%a.err`,
    ...(o.partition !== undefined ? [`#SBATCH --partition=${o.partition}`] : []),
    ...(o.time !== undefined ? [`#SBATCH --time=${o.time}`] : []),
    ...(o.cpusPerTask !== undefined ? [`#SBATCH --cpus-per-task=${o.cpusPerTask}`] : []),
    '#',
    '# Written by `faultline slurm`: one point of a faultline plan per array task.',
    `#   plan:   ${s.planFile} (${s.total} points)`,
    `#   points: ${indexRanges(s.job.indices)} (${s.job.indices.length} task(s)${s.job.base ? `; plan index = task id + ${s.job.base}` : '; plan index = task id'})`,
    `#   shards: ${s.outDir}/point-<index>.json (a task whose shard is there and matches the plan does nothing)`,
    '# When every task has ended:',
    `#   ${s.mergeCommand}`,
    '# It names the points that did not finish; `faultline slurm` with the same --plan and --out',
    '# then writes (and with --submit submits) an array of just those.',
    'set -euo pipefail',
    `exec ${sh(s.node)} ${sh(s.cli)} point --plan ${sh(s.planFile)} --index ${index} --out ${sh(s.outDir)}${s.force ? ' --force' : ''}`,
  ];
  return lines.join('\n') + '\n';
}

/** Write a script (and the logs directory its tasks write to); the script's path. */
export function writeScript(outDir: string, name: string, text: string): string {
  mkdirSync(join(outDir, 'logs'), { recursive: true });
  const file = join(outDir, name);
  writeFileAtomic(file, text);
  return file;
}

/** `sbatch --parsable FILE`; the job id. sbatch missing or refusing is a UsageError with its message. */
export function submit(file: string): string {
  const r = spawnSync('sbatch', ['--parsable', file], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? 'sbatch not found on PATH (run `faultline slurm --submit` where Slurm\'s commands are installed)' : `sbatch: ${r.error.message}`);
  }
  if (r.status !== 0) {
    const why = (r.stderr || r.stdout || '').trim().split('\n')[0] || `exit status ${r.status}`;
    throw new UsageError(`sbatch ${file}: ${why}`);
  }
  // --parsable prints "jobid" or "jobid;cluster"
  const id = r.stdout.trim().split(';')[0];
  if (!/^\d+$/.test(id)) throw new UsageError(`sbatch ${file}: unexpected output "${r.stdout.trim()}"`);
  return id;
}
