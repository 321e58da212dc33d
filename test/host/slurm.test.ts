import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, chmodSync, rmSync, existsSync, readdirSync, readFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, readJson, expectSameResults, killPointMidRun, ROOT } from '../support/cluster-util.js';

// Against a REAL Slurm: scripts/slurm-local.sh starts munged, slurmctld and
// slurmd on this machine (Debian's slurm-wlm and munge; npm test's pretest installs them: scripts/ensure-system-deps.mjs),
// all state in a temporary directory, and stops them afterwards. If the cluster
// cannot start, the test fails with the script's reason: it never skips.

const tmp = mkdtempSync(join(tmpdir(), 'faultline-slurm-'));
// munged wants every directory above its socket traversable by all
chmodSync(tmp, 0o755);
const clusterDir = join(tmp, 'cluster');
const SCRIPT = join(ROOT, 'scripts', 'slurm-local.sh');
let env: NodeJS.ProcessEnv = process.env;
let started = false;

/** 6 short deterministic page-fault points: 3 strategies x 1, 4 CPUs */
const AXES = ['--workload', 'page_fault1', '--strategy', 'mmap_lock,spf,pervma', '--cpus', '1,4', '--mode', 'deterministic', '--vcycles', '200000'];
/** the 4-CPU pervma point: the one killed */
const KILLED = 5;

beforeAll(() => {
  const r = spawnSync('bash', [SCRIPT, 'start', clusterDir], { encoding: 'utf8', timeout: 120_000 });
  started = true;
  if (r.status !== 0) throw new Error(`the one-node Slurm cluster did not start (${SCRIPT} start): ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`);
  const conf = /^SLURM_CONF=(.+)$/m.exec(r.stdout)?.[1];
  if (!conf) throw new Error(`${SCRIPT} start printed no SLURM_CONF line: ${r.stdout}`);
  env = { ...process.env, SLURM_CONF: conf };
}, 150_000);

afterAll(() => {
  if (started) spawnSync('bash', [SCRIPT, 'stop', clusterDir], { encoding: 'utf8', timeout: 60_000 });
  rmSync(tmp, { recursive: true, force: true });
}, 90_000);

const run = (...args: string[]) => cli(tmp, args, env);

/** the tail of the cluster's logs, for a failure message */
function clusterLogs(): string {
  const dir = join(clusterDir, 'log');
  if (!existsSync(dir)) return '(no logs)';
  return readdirSync(dir).map((f) => `--- ${f}\n${readFileSync(join(dir, f), 'utf8').split('\n').slice(-15).join('\n')}`).join('\n');
}

/** submit with `faultline slurm --submit`; the job id */
function submit(out: string): { id: string; stdout: string } {
  const r = run('slurm', '--plan', 'plan.json', '--out', out, '--time', '10', '--cpus-per-task', '1', '--array-limit', '2', '--submit');
  if (r.code !== 0) throw new Error(`faultline slurm --submit exited ${r.code}: ${r.stderr}\n${clusterLogs()}`);
  const id = /^submitted job (\d+):/m.exec(r.stdout)?.[1];
  if (!id) throw new Error(`no job id in: ${r.stdout}`);
  return { id, stdout: r.stdout };
}

/** wait until the job has left the queue (every task ended), at most `limitS` seconds: a watchdog, not a timing claim */
async function waitForJob(id: string, limitS = 240): Promise<void> {
  const until = Date.now() + limitS * 1000;
  for (;;) {
    const q = spawnSync('squeue', ['-h', '-j', id, '-o', '%i %T %r'], { encoding: 'utf8', env });
    // squeue exits non-zero for a job id the controller has already purged
    if ((q.status === 0 && q.stdout.trim() === '') || (q.status !== 0 && /Invalid job id/i.test(q.stderr))) return;
    if (q.status !== 0) throw new Error(`squeue failed: ${q.stderr}\n${clusterLogs()}`);
    if (Date.now() > until) throw new Error(`job ${id} still queued after ${limitS} s:\n${q.stdout}\n${clusterLogs()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('a plan on a real one-node Slurm cluster', () => {
  it('submitted as a job array (one point per task), merged: the local sweep\'s results', async () => {
    expect(run('sweep', ...AXES, '--out', 'local', '--quiet').code).toBe(0);
    expect(run('sweep', ...AXES, '--plan', 'plan.json').code).toBe(0);
    const { id, stdout } = submit('shards');
    expect(stdout).toMatch(/wrote .*faultline\.sbatch: --array=0-5%2 \(points 0-5\)/);
    expect(stdout).toMatch(/when the job has ended: faultline merge --plan plan\.json --from shards --out out/);
    await waitForJob(id);
    // every task ran under Slurm, with its index from SLURM_ARRAY_TASK_ID, and logged apart
    for (let i = 0; i < 6; i++) {
      const log = join(tmp, 'shards', 'logs', `${id}_${i}.out`);
      expect(existsSync(log), `${log}\n${clusterLogs()}`).toBe(true);
      expect(readFileSync(log, 'utf8')).toMatch(new RegExp(`^point ${i} of 6 .*: running\n`));
      expect(readFileSync(join(tmp, 'shards', 'logs', `${id}_${i}.err`), 'utf8')).toBe('');
    }
    const m = run('merge', '--plan', 'plan.json', '--from', 'shards', '--out', 'merged');
    expect(m.stderr).toBe('');
    expect(m.code).toBe(0);
    expectSameResults(join(tmp, 'local'), join(tmp, 'merged'));
  });

  it('a point killed mid-run: merge names it missing (exit 1); resubmitting submits only it and completes the set', async () => {
    const dir = join(tmp, 'shards-killed');
    mkdirSync(dir);
    for (let i = 0; i < 6; i++) if (i !== KILLED) copyFileSync(join(tmp, 'shards', `point-${i}.json`), join(dir, `point-${i}.json`));
    const shard = join(dir, `point-${KILLED}.json`);
    const k = await killPointMidRun(tmp, 'plan.json', KILLED, dir, shard);
    expect(k.stdout).toMatch(new RegExp(`^point ${KILLED} of 6 .*: running\n`));
    expect(k.signal).toBe('SIGKILL');
    // no shard, and no half-written file under a shard's name
    expect(readdirSync(dir).filter((f) => /^point-\d+\.json$/.test(f)).sort()).toEqual(['point-0.json', 'point-1.json', 'point-2.json', 'point-3.json', 'point-4.json']);

    const m = run('merge', '--plan', 'plan.json', '--from', 'shards-killed', '--out', 'merged-killed');
    expect(m.code).toBe(1);
    expect(m.stderr).toMatch(new RegExp(`1 of 6 point\\(s\\) missing \\(the 5 found are kept\\):\n  ${KILLED} page_fault1 pervma 4 CPU\\(s\\): no shard in shards-killed\n`));
    expect(readJson(join(tmp, 'merged-killed', 'results.json')).points).toHaveLength(5);

    const { id, stdout } = submit('shards-killed');
    expect(stdout).toMatch(new RegExp(`--array=${KILLED}%2 \\(points ${KILLED}\\)`));
    expect(stdout).toMatch(new RegExp(`submitted job ${id}: 1 task\\(s\\), points ${KILLED};`));
    await waitForJob(id);
    expect(readdirSync(join(dir, 'logs')).sort()).toEqual([`${id}_${KILLED}.err`, `${id}_${KILLED}.out`]);
    const done = run('merge', '--plan', 'plan.json', '--from', 'shards-killed', '--out', 'merged-resubmitted');
    expect(done.stderr).toBe('');
    expect(done.code).toBe(0);
    expectSameResults(join(tmp, 'local'), join(tmp, 'merged-resubmitted'));
    // and now there is nothing left to submit
    expect(run('slurm', '--plan', 'plan.json', '--out', 'shards-killed', '--submit').stdout).toMatch(/nothing to submit/);
  });
});
