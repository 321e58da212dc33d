import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCalibration, SHIPPED_SET, parseCalibration } from '../../src/validate.js';
import { runHostValidation, HOST_TESTS } from '../../src/validate-host.js';

// `faultline validate`: a user-supplied set in the shipped format is read and
// run; --check fails on a planted mismatch and passes a wide tolerance; bad
// sets exit 2 with one line; the host comparison builds host/wis.c or says why.

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli.js');
const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });

/** a small set: page_fault1 2/1 CPUs on the default profile, with `published` as the published ratio */
function userSet(dir: string, published: number): string {
  const file = join(dir, `set-${published}.json`);
  writeFileSync(file, JSON.stringify({
    format: 'faultline-calibration/1', name: 'my set',
    sets: [{
      id: 'U', title: 'my measurement', source: 'my lab notebook', profile: 'default', mode: 'deterministic', vcycles: 400_000,
      points: [{ workload: 'page_fault1', strategy: 'pervma', cpus: 1, value: 1e6 }, { workload: 'page_fault1', strategy: 'pervma', cpus: 2, value: 1.9e6 }],
      ratios: [{ label: 'my page_fault1 2t/1t', num: { workload: 'page_fault1', strategy: 'pervma', cpus: 2 },
        den: { workload: 'page_fault1', strategy: 'pervma', cpus: 1 }, published }],
    }],
  }));
  return file;
}

describe('faultline validate', () => {
  it('the shipped calibration set parses and names its sources', () => {
    const cal = readCalibration(SHIPPED_SET);
    expect(cal.sets.map((s) => s.id)).toEqual(['A', 'B', 'C', "C'", 'D', 'E', "E'"]);
    for (const s of cal.sets) expect(s.source.length).toBeGreaterThan(20);
    expect(cal.sets[0].ratios.length).toBeGreaterThanOrEqual(8);
  });

  it('reads a user-supplied set, prints published vs emulated with the error, writes JSON and SVGs; exit 0 without --check', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fl-validate-'));
    const out = join(dir, 'out');
    const r = cli(['validate', '--set', userSet(dir, 1.9), '--out', out, '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/my page_fault1 2t\/1t\s+1\.90\s+\d\.\d\d\s+[+-]\d+\.\d%/);
    expect(r.stdout).toContain('source: my lab notebook');
    // the window the set's points ran (the set's vcycles; no whole loops when a budget is given)
    expect(r.stdout).toContain('set U: my measurement; profile default, deterministic mode, window 400k cycles per CPU\n');
    const j = JSON.parse(readFileSync(join(out, 'validate.json'), 'utf8'));
    const ratio = j.sets[0].ratios[0];
    expect(ratio.emulated).toBeGreaterThan(1);
    expect(ratio.error).toBeCloseTo(ratio.emulated / 1.9 - 1, 9);
    // the points behind the ratio are real runs, with their counters
    expect(j.sets[0].points.map((p: { cpus: number }) => p.cpus).sort()).toEqual([1, 2]);
    expect(Number(j.sets[0].points[0].stats.fault)).toBeGreaterThan(0);
    for (const f of ['validate-U-overlay.svg', 'validate-U-ratios.svg']) expect(readFileSync(join(out, f), 'utf8')).toMatch(/^<svg/);
  }, 120_000);

  it('--check PCT exits 1 on a planted mismatch (naming the ratio), 0 within a wide tolerance', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fl-validate-'));
    const bad = cli(['validate', '--set', userSet(dir, 50), '--out', join(dir, 'a'), '--quiet', '--check', '25']);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/BEYOND/);
    expect(bad.stderr).toMatch(/1 ratio\(s\) beyond 25%: my page_fault1 2t\/1t/);
    const good = cli(['validate', '--set', userSet(dir, 1.9), '--out', join(dir, 'b'), '--quiet', '--check', '200']);
    expect(good.status).toBe(0);
  }, 120_000);

  it('a bad set file, an unknown workload in it, or a bad --check: one line, exit 2, nothing run', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fl-validate-'));
    const notJson = join(dir, 'x.json');
    writeFileSync(notJson, '{ nope');
    const unknown = join(dir, 'u.json');
    writeFileSync(unknown, readFileSync(userSet(dir, 2), 'utf8').replaceAll('page_fault1', 'page_fault9'));
    for (const [args, msg] of [
      [['--set', notJson], /not valid JSON/],
      [['--set', unknown], /unknown workload "page_fault9"/],
      [['--set', join(dir, 'missing.json')], /cannot read the calibration set \(ENOENT\)/],
      [['--check', 'lots'], /--check must be a percentage/],
    ] as [string[], RegExp][]) {
      const r = cli(['validate', ...args, '--out', join(dir, 'o'), '--quiet']);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
    }
    expect(() => parseCalibration('{"format":"faultline-calibration/1","sets":[]}', 'f')).toThrow(/f: sets must be a non-empty array \(got \[\]\)/);
  }, 60_000);

  it('--host without a C compiler says so plainly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fl-host-'));
    const h = await runHostValidation(dir, { compilers: ['/nonexistent/cc'] });
    expect(h.built).toBe(false);
    expect(h.reason).toMatch(/no C compiler found \(tried \/nonexistent\/cc\)/);
  });

  it('--host builds host/wis.c with the compiler here and measures 1 and 2 threads of every test', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fl-host-'));
    const h = await runHostValidation(dir, { seconds: 0.2, vcycles: 300_000, profile: 'kvm-epyc-2vcpu' });
    // this test needs a C compiler (npm test's pretest installs gcc: scripts/ensure-system-deps.mjs): fail with the reason when there is none
    expect(h.reason).toBeUndefined();
    expect(h.built).toBe(true);
    expect(existsSync(join(dir, 'wis'))).toBe(true);
    expect(h.rows.map((r) => r.test)).toEqual([...HOST_TESTS]);
    for (const r of h.rows) {
      // the host runs completed and reported a rate (its size depends on host load: not asserted)
      expect(r.note, r.test).toBeUndefined();
      expect(typeof r.host1, r.test).toBe('number');
      expect(typeof r.host2, r.test).toBe('number');
      expect(r.emulatedRatio, r.test).toBeGreaterThan(0);
      // the absolute 1-thread rate: the host's per second of CPU it got, the emulator's per virtual second
      expect(r.hostCpu1, r.test).toBeGreaterThan(0);
      expect(r.emulated1, r.test).toBeGreaterThan(0);
      expect(r.absError, r.test).toBeCloseTo(r.emulated1! / r.hostCpu1! - 1, 9);
    }
    // faults per iteration, the host's (its minor faults) and the emulator's: page_fault1 one per page on both, mmap1 none
    // (page_fault3's host figure depends on the file system of /tmp: not asserted)
    const row = (t: string) => h.rows.find((r) => r.test === t)!;
    expect(row('page_fault1').hostFaultsPerOp).toBeGreaterThan(0.95);
    expect(row('page_fault1').hostFaultsPerOp).toBeLessThan(1.05);
    expect(row('page_fault1').emulatedFaultsPerOp).toBeCloseTo(1, 2);
    expect(row('mmap1').hostFaultsPerOp).toBeLessThan(0.01);
    expect(row('mmap1').emulatedFaultsPerOp).toBe(0);
    expect(h.calibrated).toBe(false);
  }, 120_000);
});
