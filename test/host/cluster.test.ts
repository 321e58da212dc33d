import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync, existsSync, readdirSync, readFileSync, writeFileSync, statSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, readJson, expectSameResults, ROOT } from '../support/cluster-util.js';
import { indexRanges, arrayJobs, checkSlurmOptions } from '../../src/cluster/slurm.js';
import { pointIndex, readPlan, planPoint, checkPlanPoint } from '../../src/cluster/plan.js';
import { mergeCommand } from '../../src/cluster/commands.js';
import { UsageError } from '../../src/types.js';
import { writeFileAtomic, TEMP_PREFIX } from '../../src/cluster/atomic.js';

// sweep --plan, point, merge and the sbatch script, on this machine (no Slurm:
// test/host/slurm.test.ts submits to a real one).

const tmp = mkdtempSync(join(tmpdir(), 'faultline-cluster-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const run = (...args: string[]) => cli(tmp, args);

/** 4 short deterministic page-fault points */
const AXES = ['--workload', 'page_fault1', '--strategy', 'mmap_lock,pervma', '--cpus', '1,2', '--mode', 'deterministic', '--vcycles', '100000'];

describe('sweep --plan', () => {
  it('writes every point as a complete spec, in sweep order, and runs nothing', () => {
    const r = run('sweep', ...AXES, '--plan', 'plan.json', '--out', 'never');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/wrote plan plan\.json: 4 point\(s\), indices 0 to 3 \(nothing ran\)/);
    expect(existsSync(join(tmp, 'never'))).toBe(false);
    const plan = readJson(join(tmp, 'plan.json'));
    expect(plan.faultlinePlan).toBe(1);
    expect(plan.command.slice(0, 2)).toEqual(['faultline', 'sweep']);
    expect(plan.points.map((p: any) => [p.index, p.spec.strategy, p.spec.cpus])).toEqual([[0, 'mmap_lock', 1], [1, 'mmap_lock', 2], [2, 'pervma', 1], [3, 'pervma', 2]]);
    expect(plan.points[3].spec).toEqual({
      workload: 'page_fault1', strategy: 'pervma', cpus: 2, profile: 'intel-icx-2s', mode: 'deterministic', seed: 1, quantum: 10000, vcycles: 100000, engine: 'mn',
    });
  });

  it('--help names the cluster commands; --quiet writes the plan silently', () => {
    const h = run('--help');
    expect(h.code).toBe(0);
    for (const c of ['point', 'merge', 'slurm']) expect(h.stdout).toMatch(new RegExp(`^  ${c} \\[options\\]`, 'm'));
    const q = run('sweep', '--workload', 'spinlock', '--cpus', '1,2', '--plan', 'p-quiet.json', '--quiet');
    expect(q.code).toBe(0);
    expect(q.stdout + q.stderr).toBe('');
    expect(readJson(join(tmp, 'p-quiet.json')).points).toHaveLength(6);
  });

  it('the kernel variant (--munmap, --spf-lookup) is part of the spec: a plan with it runs, records it and skips on a rerun', () => {
    expect(run('sweep', '--workload', 'mmap1', '--strategy', 'spf', '--cpus', '2', '--munmap', 'downgrade', '--spf-lookup', 'v12', '--mode', 'deterministic', '--vcycles', '50000', '--plan', 'p-munmap.json').code).toBe(0);
    expect(readJson(join(tmp, 'p-munmap.json')).points[0].spec.munmap).toBe('downgrade');
    expect(readJson(join(tmp, 'p-munmap.json')).points[0].spec.spfLookup).toBe('v12');
    expect(run('point', '--plan', 'p-munmap.json', '--index', '0', '--out', 'munmap', '--quiet').code).toBe(0);
    expect(readJson(join(tmp, 'munmap', 'point-0.json')).result.kernel).toEqual({ munmap: 'downgrade', spfLookup: 'v12', pervma: null });
    expect(run('point', '--plan', 'p-munmap.json', '--index', '0', '--out', 'munmap').stdout).toMatch(/skipped/);
  });

  it('a profile given as a path is stored absolute (a task may run elsewhere)', () => {
    mkdirSync(join(tmp, 'prof'), { recursive: true });
    copyFileSync(join(ROOT, 'profiles', 'default.json'), join(tmp, 'prof', 'mine.json'));
    expect(run('sweep', '--workload', 'spinlock', '--cpus', '1', '--profile', 'prof/mine.json', '--plan', 'p-prof.json').code).toBe(0);
    expect(readJson(join(tmp, 'p-prof.json')).points[0].spec.profile).toBe(join(tmp, 'prof', 'mine.json'));
  });

  it('bad input exits 2 with one line before anything is written', () => {
    const r = run('sweep', '--workload', 'nope', '--plan', 'p-bad.json');
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(join(tmp, 'p-bad.json'))).toBe(false);
  });
});

describe('point + merge', () => {
  it('give the results of the local sweep (deterministic mode)', () => {
    expect(run('sweep', ...AXES, '--out', 'local', '--quiet').code).toBe(0);
    for (let i = 0; i < 4; i++) {
      const r = run('point', '--plan', 'plan.json', '--index', String(i), '--out', 'shards');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^point ${i} of 4 \\(page_fault1 \\w+ \\d CPU\\(s\\), deterministic mode, seed 1\\): running\n`));
    }
    expect(readdirSync(join(tmp, 'shards')).sort()).toEqual(['point-0.json', 'point-1.json', 'point-2.json', 'point-3.json']);
    const m = run('merge', '--plan', 'plan.json', '--from', 'shards', '--out', 'merged');
    expect(m.stderr).toBe('');
    expect(m.code).toBe(0);
    expect(m.stdout).toMatch(/merged 4 of 4 point\(s\)/);
    expectSameResults(join(tmp, 'local'), join(tmp, 'merged'));
  });

  it('a point whose matching shard is there is skipped (the file untouched); --force runs it again', () => {
    const file = join(tmp, 'shards', 'point-1.json');
    const before = { text: readFileSync(file, 'utf8'), mtime: statSync(file).mtimeMs };
    const r = run('point', '--plan', 'plan.json', '--index', '1', '--out', 'shards');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/point-1\.json is there and matches the plan: skipped/);
    expect(r.stdout).not.toMatch(/running/);
    expect(readFileSync(file, 'utf8')).toBe(before.text);
    expect(statSync(file).mtimeMs).toBe(before.mtime);
    const f = run('point', '--plan', 'plan.json', '--index', '1', '--out', 'shards', '--force', '--quiet');
    expect(f.code).toBe(0);
    expect(f.stdout).toMatch(/running/);
    const [a, b] = [JSON.parse(before.text), readJson(file)];
    expect(b.result.stats).toEqual(a.result.stats);
    expect(b.createdAt).not.toBe(a.createdAt);
  });

  it('a shard that is not the plan\'s point is not merged (missing, exit 1) and is re-run by point', () => {
    const dir = join(tmp, 'wrong');
    mkdirSync(dir, { recursive: true });
    for (const i of [0, 1, 2]) copyFileSync(join(tmp, 'shards', `point-${i}.json`), join(dir, `point-${i}.json`));
    // point 3's file holds point 2's shard; point 1's is torn
    copyFileSync(join(tmp, 'shards', 'point-2.json'), join(dir, 'point-3.json'));
    writeFileSync(join(dir, 'point-1.json'), readFileSync(join(dir, 'point-1.json'), 'utf8').slice(0, 100));
    const m = run('merge', '--plan', 'plan.json', '--from', 'wrong', '--out', 'merged-wrong');
    expect(m.code).toBe(1);
    expect(m.stderr).toMatch(/2 of 4 point\(s\) missing \(the 2 found are kept\)/);
    expect(m.stderr).toMatch(/ 1 page_fault1 mmap_lock 2 CPU\(s\): .*point-1\.json: unreadable/);
    expect(m.stderr).toMatch(/ 3 page_fault1 pervma 2 CPU\(s\): .*point-3\.json: its point is not the plan's/);
    expect(m.stderr).toMatch(/run just these: faultline slurm --plan plan\.json --out wrong --submit/);
    // what it has is written
    expect(readJson(join(tmp, 'merged-wrong', 'results.json')).points.map((p: any) => [p.strategy, p.cpus])).toEqual([['mmap_lock', 1], ['pervma', 1]]);
    const r = run('point', '--plan', 'plan.json', '--index', '3', '--out', 'wrong', '--quiet');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/running/);
    expect(readJson(join(dir, 'point-3.json')).index).toBe(3);
  });

  it('merge notes shards written by another faultline version (and keeps them)', () => {
    const dir = join(tmp, 'old');
    mkdirSync(dir, { recursive: true });
    for (const i of [0, 1, 2, 3]) {
      const doc = readJson(join(tmp, 'shards', `point-${i}.json`));
      if (i === 2) doc.generator = 'faultline 0.0.9';
      writeFileSync(join(dir, `point-${i}.json`), JSON.stringify(doc));
    }
    const m = run('merge', '--plan', 'plan.json', '--from', 'old', '--out', 'merged-old', '--quiet');
    expect(m.code).toBe(0);
    expect(m.stderr).toMatch(/^faultline: note: 1 shard\(s\) written by faultline 0\.0\.9; this is faultline \d/);
    expect(readJson(join(tmp, 'merged-old', 'results.json')).points).toHaveLength(4);
  });

  it('merge takes the first usable shard over several --from directories', () => {
    const m = run('merge', '--plan', 'plan.json', '--from', 'wrong', 'shards', '--out', 'merged-two', '--quiet');
    expect(m.stderr).toBe('');
    expect(m.code).toBe(0);
    expectSameResults(join(tmp, 'local'), join(tmp, 'merged-two'));
  });

  it('a failed point: its shard records the failure, point exits 1, merge keeps it and names it, exit 1', () => {
    expect(run('sweep', '--workload', 'test-crash', '--strategy', 'mmap_lock', '--cpus', '2,4', '--plan', 'crash.json').code).toBe(0);
    expect(run('point', '--plan', 'crash.json', '--index', '0', '--out', 'crash').code).toBe(0);
    const p = run('point', '--plan', 'crash.json', '--index', '1', '--out', 'crash');
    expect(p.code).toBe(1);
    expect(p.stderr).toMatch(/test-crash mmap_lock 4 CPU\(s\): cpu 3 crashed at op #50/);
    expect(readJson(join(tmp, 'crash', 'point-1.json')).result.ok).toBe(false);
    const m = run('merge', '--plan', 'crash.json', '--from', 'crash', '--out', 'crash-merged');
    expect(m.code).toBe(1);
    expect(m.stderr).toMatch(/1 of 2 point\(s\) failed/);
    expect(m.stderr).not.toMatch(/missing/);
    expect(readJson(join(tmp, 'crash-merged', 'results.json')).points.map((q: any) => q.ok)).toEqual([true, false]);
  });

  it('bad input: one line, exit 2 (through the CLI), and each check names what is wrong', async () => {
    writeFileSync(join(tmp, 'not-json.json'), '{');
    writeFileSync(join(tmp, 'not-plan.json'), '{"points": []}');
    const plan = readJson(join(tmp, 'plan.json'));
    writeFileSync(join(tmp, 'bad-spec.json'), JSON.stringify({ ...plan, points: [{ index: 0, spec: { ...plan.points[0].spec, cpus: 'two' } }] }));
    writeFileSync(join(tmp, 'extra-field.json'), JSON.stringify({ ...plan, points: [{ index: 0, spec: { ...plan.points[0].spec, cpu: 2 } }] }));
    writeFileSync(join(tmp, 'bad-index.json'), JSON.stringify({ ...plan, points: [{ index: 1, spec: plan.points[0].spec }] }));
    writeFileSync(join(tmp, 'bad-workload.json'), JSON.stringify({ ...plan, points: [{ index: 0, spec: { ...plan.points[0].spec, workload: 'nope' } }] }));
    // the CLI path: exit 2, one line, nothing created
    const cases: [string[], RegExp][] = [
      [['point', '--plan', 'plan.json', '--index', '4', '--out', 'x'], /^faultline: --index 4: plan plan\.json has 4 point\(s\), indices 0 to 3$/],
      [['merge', '--plan', 'plan.json', '--from', 'no-such-dir', '--out', 'x'], /^faultline: --from no-such-dir: no such directory$/],
      [['slurm', '--plan', 'bad-workload.json', '--out', 'x'], /^faultline: plan bad-workload\.json: point 0: unknown workload "nope"/],
    ];
    for (const [args, msg] of cases) {
      const r = run(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim(), args.join(' ')).toMatch(msg);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
    expect(existsSync(join(tmp, 'x'))).toBe(false);
    // the same checks, in process
    const at = (f: string) => join(tmp, f);
    expect(() => readPlan(at('absent.json'))).toThrow(/absent\.json: no such file/);
    expect(() => readPlan(at('not-json.json'))).toThrow(/not JSON/);
    expect(() => readPlan(at('not-plan.json'))).toThrow(/not a faultline plan/);
    expect(() => readPlan(at('bad-spec.json'))).toThrow(/point 0: CPU count must be an integer from 1 to 256 \(got "two"\)/);
    expect(() => readPlan(at('extra-field.json'))).toThrow(/point 0: unknown spec field "cpu"/);
    expect(() => readPlan(at('bad-index.json'))).toThrow(/point 0: expected \{"index": 0/);
    const p = readPlan(at('plan.json'));
    expect(() => planPoint(p, 'plan.json', -1)).toThrow(/--index -1/);
    expect(() => planPoint(p, 'plan.json', 1.5)).toThrow(/--index 1\.5/);
    expect(() => checkPlanPoint('bad-workload.json', readPlan(at('bad-workload.json')).points[0])).toThrow(UsageError);
    await expect(mergeCommand({ plan: at('plan.json'), from: [at('not-json.json')], out: at('x') }, [])).rejects.toThrow(/not a directory/);
    for (const [o, msg] of [
      [{ time: '1:00:00:00' }, /--time: "1:00:00:00" is not a Slurm time/],
      [{ arrayLimit: 0 }, /--array-limit must be at least 1/],
      [{ partition: 'a b' }, /--partition/],
      [{ jobName: 'a;b' }, /--job-name/],
    ] as const) expect(() => checkSlurmOptions(o), JSON.stringify(o)).toThrow(msg);
    expect(existsSync(join(tmp, 'x'))).toBe(false);
  });
});

describe('faultline slurm (the script; submission: test/host/slurm.test.ts)', () => {
  it('an array over every point, one point per task, SLURM_ARRAY_TASK_ID as the index', () => {
    const r = run('slurm', '--plan', 'plan.json', '--out', 'sl', '--partition', 'short', '--time', '0:30', '--cpus-per-task', '2', '--array-limit', '3');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--array=0-3%3 \(points 0-3\)/);
    expect(r.stdout).toMatch(/submit with: sbatch .*faultline\.sbatch/);
    const s = readFileSync(join(tmp, 'sl', 'faultline.sbatch'), 'utf8');
    expect(s.startsWith('#!/bin/bash\n')).toBe(true);
    for (const line of ['#SBATCH --array=0-3%3', '#SBATCH --partition=short', '#SBATCH --time=0:30', '#SBATCH --cpus-per-task=2', `#SBATCH --output=${join(tmp, 'sl')}/logs/%A_%a.out`, `#SBATCH --error=${join(tmp, 'sl')}/logs/%A_%a.err`]) {
      expect(s).toContain(line + '\n');
    }
    expect(s).toContain(` point --plan '${join(tmp, 'plan.json')}' --index "$SLURM_ARRAY_TASK_ID" --out '${join(tmp, 'sl')}'\n`);
    expect(existsSync(join(tmp, 'sl', 'logs'))).toBe(true);
  });

  it('only the points without a matching shard; none: nothing to submit', () => {
    for (const i of [0, 2]) copyFileSync(join(tmp, 'shards', `point-${i}.json`), join(tmp, 'sl', `point-${i}.json`));
    const r = run('slurm', '--plan', 'plan.json', '--out', 'sl');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--array=1,3 \(points 1,3\)/);
    expect(r.stdout).toMatch(/the 2 of 4 point\(s\) without a shard/);
    expect(readFileSync(join(tmp, 'sl', 'faultline.sbatch'), 'utf8')).toContain('#SBATCH --array=1,3\n');
    const all = run('slurm', '--plan', 'plan.json', '--out', 'shards', '--submit');
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/all 4 point\(s\) of plan\.json have their shard in shards: nothing to submit/);
    expect(existsSync(join(tmp, 'shards', 'faultline.sbatch'))).toBe(false);
  });

  it('a recorded failure is not resubmitted unless --retry-failed (then with --force)', () => {
    const r = run('slurm', '--plan', 'crash.json', '--out', 'crash');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/all 2 point\(s\) of crash\.json have their shard in crash \(1 record a failed run: points 1; --retry-failed runs them again\): nothing to submit/);
    const f = run('slurm', '--plan', 'crash.json', '--out', 'crash', '--retry-failed');
    expect(f.code).toBe(0);
    expect(f.stdout).toMatch(/--array=1 \(points 1\)/);
    const s = readFileSync(join(tmp, 'crash', 'faultline.sbatch'), 'utf8');
    expect(s).toMatch(/ point --plan .* --index "\$SLURM_ARRAY_TASK_ID" --out '[^']*' --force\n/);
  });

  it('a plan larger than MaxArraySize becomes several arrays, each adding its base to the task id', () => {
    const r = run('slurm', '--plan', 'plan.json', '--out', 'sl-split', '--max-array-size', '3');
    expect(r.code).toBe(0);
    const [a, b] = ['faultline-0.sbatch', 'faultline-1.sbatch'].map((f) => readFileSync(join(tmp, 'sl-split', f), 'utf8'));
    expect(a).toContain('#SBATCH --array=0-2\n');
    expect(a).toContain('--index "$SLURM_ARRAY_TASK_ID"');
    expect(b).toContain('#SBATCH --array=0\n');
    expect(b).toContain('--index "$((SLURM_ARRAY_TASK_ID + 3))"');
  });

  it('index ranges and array splitting', () => {
    expect(indexRanges([7, 0, 1, 2, 5, 8])).toBe('0-2,5,7-8');
    expect(indexRanges([4])).toBe('4');
    const ids = [0, 1, 2, 1000, 1001, 2500].map(pointIndex);
    expect(arrayJobs(ids, { arrayLimit: 10 }).map((j) => [j.base, j.array])).toEqual([[0, '0-2,1000%10'], [1001, '0%10'], [2002, '498%10']]);
    expect(() => checkSlurmOptions({ time: '2-12:30' })).not.toThrow();
    expect(() => checkSlurmOptions({ time: '90' })).not.toThrow();
    expect(() => checkSlurmOptions({ time: 'soon' })).toThrow(/not a Slurm time/);
  });
});

describe('atomic writes', () => {
  it('leave the final name whole and no temporary behind', () => {
    const dir = join(tmp, 'atomic');
    mkdirSync(dir);
    const file = join(dir, 'f.json');
    writeFileAtomic(file, 'a'.repeat(1 << 20));
    writeFileAtomic(file, 'short');
    expect(readFileSync(file, 'utf8')).toBe('short');
    expect(readdirSync(dir)).toEqual(['f.json']);
    expect(() => writeFileAtomic(join(dir, 'no-dir', 'f.json'), 'x')).toThrow(/ENOENT/);
    expect(readdirSync(dir).filter((f) => f.startsWith(TEMP_PREFIX))).toEqual([]);
  });
});
