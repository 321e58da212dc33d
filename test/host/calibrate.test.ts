// `faultline calibrate --host`: the probes build with the compiler here (gcc: .ci/run installs it),
// run, and give a profile that loads with --profile FILE and runs a point; every figure says it was
// measured here (or how it was derived, or why it could not be); the raw samples are in the file.
// A missing or broken compiler is one clear line, exit 2.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProfile, COST_KEYS } from '../../src/profile.js';
import { runPoint, POINT_DEFAULTS } from '../../src/experiment.js';
import { median, calibrateHost } from '../../src/calibrate.js';
import { runHostValidation } from '../../src/validate-host.js';

const CLI = join(__dirname, '..', '..', 'dist', 'src', 'cli.js');
const cli = (args: string[], env: NodeJS.ProcessEnv = process.env, cwd?: string) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env, cwd, timeout: 600_000 });

describe('faultline calibrate --host', () => {
  it('measures this host and writes a profile that loads and runs a point', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fl-cal-'));
    const file = join(dir, 'me.json');
    // three samples a probe, the medians kept: with one, a single probe measured while the suite's other
    // files loaded the host put the model 51% off the host's fault (CI on beac171: 15.4 us vs 10.1 us);
    // quiet, one sample or three give 11% (about 8 s against 14 s)
    const r = cli(['calibrate', '--host', '--reps', '3', '--out', file]);
    expect(r.stderr, r.stderr).toMatch(/calibrate: probe 1\/\d+ tsc/);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/profile host \([\d.]+ GHz\) written to /);
    const json = JSON.parse(readFileSync(file, 'utf8'));
    const date = new Date().toISOString().slice(0, 10);
    // every figure says where it comes from: this host, this tool, today
    expect(Object.keys(json.costs)).toEqual([...COST_KEYS]);
    for (const [k, v] of Object.entries(json.costs as Record<string, { cycles: number; source: string }>)) {
      expect(v.source, k).toMatch(new RegExp(`^measured on this host by faultline calibrate, ${date}: `));
    }
    // the raw samples and their medians are kept beside the figures
    expect(json.$calibration.reps).toBe(3);
    for (const p of ['l1', 'atomic', 'syscall', 'zero', 'fault_read', 'fault_write', 'fault_shared', 'first_access', 'dontneed', 'dontneed_none']) {
      expect(json.$calibration.samples[p], p).toHaveLength(3);
      expect(json.$calibration.medians[p], p).toBeGreaterThan(0);
    }
    // measured figures, not the base profile's: a fault costs more than a syscall, zeroing a page more than a store
    expect(json.costs.fault_entry.source).toMatch(/the cheapest fault: a write to each page of a shared memfd mapping/);
    // the cheapest fault faults once per page; the first access after MAP_POPULATE not at all
    expect(json.$calibration.medians.fault_shared_faults).toBeGreaterThan(0.9);
    expect(json.$calibration.medians.fault_shared_faults).toBeLessThan(1.1);
    expect(json.$calibration.medians.first_access_faults).toBeLessThan(0.01);
    // the first access through a new PTE: measured here (a TLB miss at least, an exit under shadow paging)
    expect(json.costs.pte_first_access.source).toMatch(new RegExp(`^measured on this host by faultline calibrate, ${date}: the first write to each page .* MAP_POPULATE`));
    expect(json.costs.pte_first_access.cycles).toBeGreaterThan(0);
    // the local flush of one page: madvise(MADV_DONTNEED) of a written page against an untouched one, measured here
    expect(json.$calibration.medians.dontneed).toBeGreaterThan(json.$calibration.medians.dontneed_none);
    expect(json.costs.invlpg.source).toMatch(/: madvise\(MADV_DONTNEED\) of a page just written/);
    expect(json.costs.invlpg.cycles).toBeGreaterThan(0);
    // the figures reproduce the fault they were not taken from (page_fault1's) within a bound
    const check = (json.$calibration.checks as { probe: string; hostNs: number; modelNs: number; error: number }[]).find((c) => c.probe === 'fault_write');
    expect(check, JSON.stringify(json.$calibration.checks)).toBeDefined();
    expect(Math.abs(check!.error), JSON.stringify(check)).toBeLessThan(0.5);
    expect(json.costs.page_zero.cycles).toBeGreaterThan(json.costs.store.cycles);
    const p = loadProfile(file);
    expect(p.name).toBe('host');
    const pt = await runPoint({ ...POINT_DEFAULTS, workload: 'page_fault1', strategy: 'pervma', cpus: 1, profile: file, mode: 'deterministic', vcycles: 2_000_000 });
    expect(pt.error).toBeNull();
    expect(pt.ops).toBeGreaterThan(0);
    expect(pt.profile).toBe('host');
    // validate --host on it: the profile is recognised as measured here
    const h = await runHostValidation(join(dir, 'v'), { seconds: 0.2, vcycles: 300_000, profile: file });
    expect(h.reason).toBeUndefined();
    expect(h.calibrated).toBe(true);
    expect(h.profile).toBe(file);
    for (const row of h.rows) expect(row.emulated1, row.test).toBeGreaterThan(0);
  }, 600_000);

  it('without a C compiler, or with one that fails, says so in one line and exits 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fl-cal-'));
    const none = cli(['calibrate', '--host', '--out', join(dir, 'a.json')], { PATH: join(dir, 'empty') });
    expect(none.status).toBe(2);
    expect(none.stderr.trim().split('\n')).toHaveLength(1);
    expect(none.stderr).toMatch(/^faultline: no C compiler found \(tried cc, gcc, clang\): calibrate --host builds host\/calibrate\.c/);
    const bad = join(dir, 'badcc');
    writeFileSync(bad, '#!/bin/sh\nif [ "$1" = --version ]; then echo badcc 1.0; exit 0; fi\necho "calibrate.c:1: error: no such thing" >&2\nexit 1\n');
    chmodSync(bad, 0o755);
    const broken = cli(['calibrate', '--host', '--out', join(dir, 'b.json')], { PATH: join(dir, 'empty'), CC: bad });
    expect(broken.status).toBe(2);
    expect(broken.stderr).toMatch(/^faultline: .*badcc could not build host\/calibrate\.c: calibrate\.c:1: error: no such thing\n$/);
    expect(existsSync(join(dir, 'b.json'))).toBe(false);
    const noHost = cli(['calibrate']);
    expect(noHost.status).toBe(2);
    expect(noHost.stderr).toMatch(/^faultline: calibrate needs --host/);
  }, 120_000);

  it('splits the cheapest fault into pte_first_access, the modelled work and fault_entry (given samples)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fl-cal-'));
    // a 2 GHz host whose first access after MAP_POPULATE costs 2.5 us and whose cheapest fault costs 5 us
    const samples = { tsc: [2], walk: [90, 80, 100], walkdense: [10, 10, 10], fault_shared: [5000, 5200, 4800], fault_shared_faults: [1, 1, 1],
      first_access: [2500], first_access_faults: [0], fault_write: [5600], fault_write_faults: [1], fault_read: [5500], fault_read_alloc: [1],
      dontneed: [4000], dontneed_none: [1500], shootdown: [9000], flushlocal: [4000], ipigap: [3000] };
    const r = await calibrateHost({ out: join(dir, 'h.json'), samples, base: 'default' });
    const c = (r.profile as { costs: Record<string, { cycles: number; source: string }> }).costs;
    expect(c.walk_step.cycles).toBe(40); // (90 - 10) ns / 4 levels at 2 GHz
    expect(c.pte_first_access.cycles).toBe(5000 - 4 * 40); // 2.5 us, minus the walk the model charges for it
    expect(c.pte_first_access.source).toMatch(/^measured on this host by faultline calibrate, [\d-]+: the first write to each page/);
    // fault_entry: the cheapest fault (10,000 cycles) minus pte_first_access minus the model's own charges
    expect(c.fault_entry.cycles).toBeGreaterThan(0);
    expect(c.fault_entry.cycles).toBeLessThan(10_000 - c.pte_first_access.cycles);
    expect(c.fault_entry.source).toMatch(/minus pte_first_access \(4840: the re-executed access, measured apart\) and the (\d+) cycles the emulator charges/);
    const rest = Number(/and the (\d+) cycles the emulator charges/.exec(c.fault_entry.source)![1]);
    expect(c.fault_entry.cycles + c.pte_first_access.cycles + rest).toBe(10_000);
    // so the profile reproduces the cheapest fault, and the anonymous write fault is a check with its error
    const shared = r.checks.find((x) => x.probe === 'fault_shared')!;
    expect(Math.abs(shared.error)).toBeLessThan(0.01);
    const write = r.checks.find((x) => x.probe === 'fault_write')!;
    expect(write.hostNs).toBe(5600);
    expect(write.modelNs).toBeGreaterThan(shared.modelNs); // an allocation and a zeroed page on top of the cheapest fault
    expect(r.notes.join('\n')).toMatch(/an anonymous read fault allocates a page here/);
    expect(loadProfile(r.file).cycles.pte_first_access).toBe(4840);
    // invlpg: madvise(MADV_DONTNEED) of a written page over an untouched one (5,000 cycles) minus the model's zap;
    // the shootdown target's interruption (6,000 cycles) keeps the flush apart: ipi_handler + invlpg = the interruption
    const zap = Number(/: 5000 cycles, minus the (\d+) the emulator charges for the zap/.exec(c.invlpg.source)![1]);
    expect(zap).toBeGreaterThan(0);
    expect(zap).toBeLessThan(1000);
    expect(c.invlpg.cycles).toBe(5000 - zap);
    expect(c.ipi_handler.cycles + c.invlpg.cycles).toBe(6000);
    expect(c.ipi_deliver.cycles).toBe(2 * (9000 - 4000) - 6000 - c.ipi_send.cycles);
  }, 120_000);

  it('the median of the samples', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});
