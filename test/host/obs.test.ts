// Observability (issue 23): lock_stat, the timeline and the flame graph a run
// records when asked (assembly/obs.ts, src/obs.ts). Recording must not move a
// single deterministic number, so every case also compares the run with the
// same run that recorded nothing.
import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPoint, type PointSpec, type PointResult } from '../../src/experiment.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const tmp = mkdtempSync(join(tmpdir(), 'faultline-obs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: tmp, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

const BASE: PointSpec = { workload: 'pft-private', strategy: 'spf', cpus: 4, profile: 'default', mode: 'deterministic', seed: 3, quantum: 10_000, vcycles: 1_500_000 };

/** the deterministic part of a result, without what the observation added */
function virtual(r: PointResult): unknown {
  const { host: _h, lockStat: _l, ...rest } = r;
  return rest;
}

describe('lock_stat (run --lock-stat)', () => {
  it('per lock class: figures consistent with the lock-class counters, and the run unchanged by recording them', async () => {
    const plain = await runPoint(BASE);
    const r = await runPoint({ ...BASE, observe: { lockStat: true } });
    expect(r.ok, r.error ?? '').toBe(true);
    expect(virtual(r)).toEqual(virtual(plain));
    expect(plain.lockStat).toBeUndefined();
    const rows = r.lockStat!;
    const by = Object.fromEntries(rows.map((x) => [x.class, x]));
    // SPF v11 takes mm_rb_lock for read around every get_vma(); faults take the PTL; pft refills from the zone
    for (const c of ['mm_rb_read', 'ptl', 'zone']) expect(by[c], c).toBeDefined();
    expect(by.mm_rb_read.name).toBe('&mm->mm_rb_lock-R');
    for (const x of rows) {
      expect(x.acquisitions).toBe(r.stats[`${x.class}_acquire`]);
      expect(x.contentions).toBe(r.stats[`${x.class}_contended`]);
      expect(x.waittimeTotal).toBe(r.stats[`${x.class}_wait_cycles`]);
      expect(x.acqBounces).toBeLessThanOrEqual(x.acquisitions);
      expect(x.conBounces).toBeLessThanOrEqual(x.contentions);
      expect(x.waittimeMin).toBeLessThanOrEqual(x.waittimeMax);
      if (x.contentions > 0) expect(x.waittimeAvg).toBeLessThanOrEqual(x.waittimeMax);
      // every lock taken in the run was released by its end: one hold per acquisition
      expect(x.holds, x.class).toBe(x.acquisitions);
      expect(x.holdtimeMin).toBeLessThanOrEqual(x.holdtimeAvg);
      expect(x.holdtimeAvg).toBeLessThanOrEqual(x.holdtimeMax);
    }
    // 4 CPUs share mm_rb_lock's line: most read acquisitions find it on another CPU
    expect(by.mm_rb_read.acqBounces).toBeGreaterThan(by.mm_rb_read.acquisitions / 2);
    // a PTL is held across the PTE update: never 0 cycles, and each CPU faults its own tables (few bounces)
    expect(by.ptl.holdtimeMin).toBeGreaterThan(0);
    expect(by.ptl.acqBounces).toBeLessThan(by.ptl.acquisitions / 10);
    // sorted as /proc/lock_stat: most contended first
    for (let i = 1; i < rows.length; i++) expect(rows[i - 1].contentions).toBeGreaterThanOrEqual(rows[i].contentions);
  }, 120_000);

  it('the CLI prints the table in /proc/lock_stat\'s format', () => {
    const r = cli('run', '--workload', 'spinlock', '--cpus', '2', '--mode', 'deterministic', '--vcycles', '200000', '--lock-stat');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    const at = lines.findIndex((l) => l.startsWith('lock_stat version 0.4'));
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 2].trim().split(/\s+/)).toEqual(['class', 'name', 'con-bounces', 'contentions', 'waittime-min', 'waittime-max', 'waittime-total',
      'waittime-avg', 'acq-bounces', 'acquisitions', 'holdtime-min', 'holdtime-max', 'holdtime-total', 'holdtime-avg']);
    // the spinlock micro-workload hammers one lock from both CPUs: contended, bounced, held
    const row = lines.slice(at + 4).find((l) => l.includes('page_table_lock') || l.includes('generic'));
    expect(row, r.stdout).toBeDefined();
    const v = row!.split(':').pop()!.trim().split(/\s+/).map(Number);
    expect(v).toHaveLength(12);
    const [conB, cont, wmin, wmax, , , acqB, acq, hmin, hmax] = v;
    expect(cont).toBeGreaterThan(0);
    expect(conB).toBeGreaterThan(0);
    expect(acqB).toBeGreaterThan(0);
    expect(acq).toBeGreaterThan(cont);
    expect(wmax).toBeGreaterThanOrEqual(wmin);
    expect(hmax).toBeGreaterThanOrEqual(hmin);
  }, 120_000);
});
