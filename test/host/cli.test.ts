import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { counterNames } from '../../src/stats.js';
import { categoryNames } from '../../src/breakdown.js';

// The command line as users run it: `node dist/src/cli.js ...` (built by pretest).

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const tmp = mkdtempSync(join(tmpdir(), 'faultline-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function cliWithin(timeout: number, ...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: tmp, encoding: 'utf8', timeout });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const cli = (...args: string[]) => cliWithin(300_000, ...args);

const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));
/** the rows of a CSV file (RFC 4180: a quoted cell may hold commas, "" and newlines, as a failed point's error does) */
function csvRows(file: string): string[][] {
  const text = readFileSync(file, 'utf8').trim();
  const rows: string[][] = [[]];
  let cell = '', quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { cell += '"'; i++; } else if (ch === '"') quoted = false; else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { rows[rows.length - 1].push(cell); cell = ''; }
    else if (ch === '\n') { rows[rows.length - 1].push(cell); cell = ''; rows.push([]); }
    else cell += ch;
  }
  rows[rows.length - 1].push(cell);
  return rows;
}

/** small runs: about 4000 virtual cycles of uncontended work per CPU */
const SMALL = ['--vcycles', '4000'];

describe('faultline list and --help', () => {
  it('list names every workload, strategy and profile, but not the test-only workload', () => {
    const r = cli('list');
    expect(r.code).toBe(0);
    for (const name of ['atomic-shared', 'atomic-private', 'spinlock', 'mmap-read', 'mmap-mixed', 'mmap_lock', 'spf', 'pervma', 'default', 'intel-skx-2s', 'intel-icx-2s', 'amd-epyc-rome']) {
      expect(r.stdout).toContain(name);
    }
    expect(r.stdout).not.toContain('test-crash');
    expect(r.stdout).toContain('1 to 256');
  });

  for (const cmd of [[], ['run'], ['sweep'], ['list']]) {
    it(`${['faultline', ...cmd].join(' ')} --help`, () => {
      const r = cli(...cmd, '--help');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: faultline/);
      if (cmd[0] === 'run') expect(r.stdout).toMatch(/--workload[\s\S]*--cpus[\s\S]*--json/);
      if (cmd[0] === 'sweep') expect(r.stdout).toMatch(/--out[\s\S]*--quiet[\s\S]*--default/);
    });
  }
});

describe('faultline run', () => {
  it('runs one point, prints it and writes a schema-2 JSON whose numbers agree', () => {
    const file = join(tmp, 'point.json');
    const r = cli('run', '--workload', 'mmap-mixed', '--cpus', '2', '--strategy', 'spf', ...SMALL, '--json', file);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/mmap-mixed\s+spf\*\s+2\s/);
    expect(r.stdout).toContain('ops per host second');
    const doc = readJson(file);
    expect(doc.schemaVersion).toBe(2);
    expect(doc.points).toHaveLength(1);
    const p = doc.points[0];
    expect(p).toMatchObject({ workload: 'mmap-mixed', strategy: 'spf', strategyUsed: false, cpus: 2, profile: 'default', mode: 'parallel', seed: 1, quantum: 10000, vcycles: 4000, ok: true, error: null });
    // the work done is what the run did: every lock section of both CPUs
    expect(p.ops).toBe(2 * p.params.itersPerCpu);
    expect(Number(p.stats.mmap_read_acquire) + Number(p.stats.mmap_write_acquire)).toBe(p.ops);
    // throughput is ops per virtual second of the slowest CPU
    expect(p.virtualCycles).toBe(Math.max(...p.clocks));
    expect(p.opsPerVirtualSec).toBeCloseTo(p.ops / (Number(p.virtualCycles) / 2.5e9), 3);
    expect(p.opsPerVirtualSecPerCpu).toBeCloseTo(p.opsPerVirtualSec / 2, 3);
    expect(Object.keys(p.stats).sort()).toEqual(counterNames().sort());
    // counters are JSON numbers (integers), not strings: jq and pandas read them as they are
    for (const v of [...Object.values(p.stats), ...Object.values(p.cyclesByCategory), ...p.clocks, p.virtualCycles]) expect(Number.isSafeInteger(v)).toBe(true);
    expect(Object.keys(p.cyclesByCategory)).toEqual(categoryNames());
    const sum = Object.values(p.cyclesByCategory).reduce((a: number, b) => a + (b as number), 0);
    expect(sum).toBe(p.clocks.reduce((a: number, b: number) => a + b, 0));
    expect(p.host.wallMs).toBeGreaterThan(0);
    expect(p.host.opsPerHostSec).toBeGreaterThan(0);
  });

  it('deterministic mode: the same seed gives the same statistics', () => {
    const a = join(tmp, 'det-a.json');
    const b = join(tmp, 'det-b.json');
    for (const f of [a, b]) expect(cli('run', '--workload', 'spinlock', '--cpus', '3', '--mode', 'deterministic', '--seed', '9', ...SMALL, '--json', f).code).toBe(0);
    const [pa, pb] = [readJson(a).points[0], readJson(b).points[0]];
    expect(pa.stats).toEqual(pb.stats);
    expect(pa.clocks).toEqual(pb.clocks);
    expect(pa.stats.generic_acquire).toBe(pa.ops);
  });
});

describe('faultline sweep', () => {
  it('writes results.json, results.csv and two SVGs per workload, and prints the table', () => {
    const out = join(tmp, 'sweep');
    const r = cli('sweep', '--workload', 'atomic-private,spinlock', '--strategy', 'mmap_lock,pervma', '--cpus', '2,1', ...SMALL, '--out', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const doc = readJson(join(out, 'results.json'));
    expect(doc.points.map((p: any) => `${p.workload}/${p.strategy}/${p.cpus}`)).toEqual([
      'atomic-private/mmap_lock/1', 'atomic-private/mmap_lock/2', 'atomic-private/pervma/1', 'atomic-private/pervma/2',
      'spinlock/mmap_lock/1', 'spinlock/mmap_lock/2', 'spinlock/pervma/1', 'spinlock/pervma/2',
    ]);
    expect(doc.points.every((p: any) => p.ok)).toBe(true);
    // a sweep without --mode compares its points in deterministic mode (DEFAULT_SWEEP.mode); `run` stays parallel
    expect(doc.points.every((p: any) => p.mode === 'deterministic')).toBe(true);
    const rows = csvRows(join(out, 'results.csv'));
    expect(rows).toHaveLength(9);
    expect(rows[0].slice(0, 4)).toEqual(['workload', 'strategy', 'strategy_used', 'cpus']);
    expect(rows[0]).toContain('ops_per_vsec');
    expect(rows[0]).toContain('ops_per_host_sec');
    expect(readdirSync(out).filter((f) => f.endsWith('.svg')).sort()).toEqual([
      'atomic-private-breakdown.svg', 'atomic-private-throughput.svg', 'spinlock-breakdown.svg', 'spinlock-throughput.svg',
    ]);
    expect(r.stdout).toMatch(/ops\/vsec/);
    expect(r.stdout.split('\n').filter((l) => /^(atomic-private|spinlock)\s/.test(l))).toHaveLength(8);
  });

  it('--quiet prints nothing but still writes the files', () => {
    const out = join(tmp, 'quiet');
    const r = cli('sweep', '--workload', 'atomic-shared', '--strategy', 'mmap_lock', '--cpus', '1', ...SMALL, '--out', out, '--quiet');
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toBe('');
    expect(existsSync(join(out, 'results.json'))).toBe(true);
  });

  it('a point that crashes: the finished points are kept and written, the failure is reported, exit 1', () => {
    const out = join(tmp, 'crash');
    const r = cli('sweep', '--workload', 'test-crash', '--strategy', 'mmap_lock', '--cpus', '1,2,4', '--out', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/1 of 3 point\(s\) failed/);
    expect(r.stderr).toMatch(/test-crash mmap_lock 4 CPU\(s\): cpu 3 crashed at op #50/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    const points = readJson(join(out, 'results.json')).points;
    expect(points.map((p: any) => [p.cpus, p.ok])).toEqual([[1, true], [2, true], [4, false]]);
    expect(points[2].error).toMatch(/crashed/);
    expect(points[2].opsPerVirtualSec).toBeNull();
    expect(points[1].ops).toBe(2 * points[1].params.itersPerCpu);
    const rows = csvRows(join(out, 'results.csv'));
    expect(rows).toHaveLength(4);
    const ok = rows[0].indexOf('ok');
    expect(rows.slice(1).map((row) => row[ok])).toEqual(['true', 'true', 'false']);
    // the failed point's error: the crash, then every CPU's state when it stopped (issue 18)
    const err = rows[3][rows[0].indexOf('error')].split('\n');
    expect(err[0]).toMatch(/^cpu 3 crashed at op #50/);
    expect(err.slice(1).map((l) => /^ {2}cpu (\d) \[/.exec(l)?.[1])).toEqual(['0', '1', '2', '3']);
    expect(err[4]).toMatch(/cpu 3 \[running.*\] failed: this stopped the run \(the error above\)$/);
    expect(existsSync(join(out, 'test-crash-throughput.svg'))).toBe(true);
    expect(r.stdout).toMatch(/test-crash\s+mmap_lock\*\s+4\s+FAILED/);
  });
});

describe('bad input: one line on stderr, exit code 2, no stack trace', () => {
  const badProfile = join(tmp, 'bad-profile.json');
  writeFileSync(badProfile, '{ "name": "oops", ');
  const tinyProfile = join(tmp, 'tiny.json');
  const tiny = JSON.parse(readFileSync(join(ROOT, 'profiles', 'default.json'), 'utf8'));
  tiny.name = 'tiny';
  tiny.topology = { sockets: 1, coresPerSocket: 2, threadsPerCore: 1 };
  writeFileSync(tinyProfile, JSON.stringify(tiny));
  const aFile = join(tmp, 'a-file');
  writeFileSync(aFile, 'x');

  const cases: [string, string[], RegExp][] = [
    ['unknown workload', ['run', '--workload', 'nope', '--cpus', '2'], /unknown workload "nope"; available workloads: atomic-shared/],
    ['unknown workload in a list', ['sweep', '--workload', 'spinlock,nope', '--cpus', '1'], /unknown workload "nope"/],
    ['unknown strategy', ['run', '--workload', 'spinlock', '--strategy', 'rcu', '--cpus', '2'], /unknown strategy "rcu"; available strategies: mmap_lock, spf, pervma, spf-mmapseq/],
    ['unknown profile', ['run', '--workload', 'spinlock', '--cpus', '2', '--profile', 'cray'], /unknown profile "cray"/],
    ['malformed profile JSON', ['run', '--workload', 'spinlock', '--cpus', '2', '--profile', badProfile], /profile .*bad-profile\.json: malformed JSON/],
    ['0 CPUs', ['run', '--workload', 'spinlock', '--cpus', '0'], /CPU count must be an integer from 1 to 256 \(got 0\)/],
    ['CPUs above MAX_CPUS', ['sweep', '--workload', 'spinlock', '--cpus', '1,257'], /CPU count must be an integer from 1 to 256 \(got 257\)/],
    ['CPUs above the profile', ['run', '--workload', 'spinlock', '--cpus', '4', '--profile', tinyProfile], /profile tiny has 2 hardware threads; cannot emulate 4 CPUs/],
    ['malformed CPU count', ['run', '--workload', 'spinlock', '--cpus', '4x'], /--cpus: "4x" is not a whole number/],
    ['malformed CPU list', ['sweep', '--workload', 'spinlock', '--cpus', '1,2,4x'], /--cpus: "4x" is not a whole number/],
    ['malformed seed', ['run', '--workload', 'spinlock', '--cpus', '1', '--seed', '-3'], /--seed: "-3" is not a whole number/],
    ['malformed vcycles', ['run', '--workload', 'spinlock', '--cpus', '1', '--vcycles', '1e6'], /--vcycles: "1e6" is not a whole number/],
    ['quantum too small', ['run', '--workload', 'spinlock', '--cpus', '1', '--quantum', '10'], /quantum must be an integer from 100 to 4294967295 \(got 10\)/],
    ['unknown mode', ['run', '--workload', 'spinlock', '--cpus', '1', '--mode', 'fast'], /'fast' is invalid. Allowed choices are parallel, deterministic/],
    ['unknown engine', ['run', '--workload', 'spinlock', '--cpus', '2', '--engine', 'fibers'], /'fibers' is invalid. Allowed choices are mn, threads/],
    ['0 workers', ['run', '--workload', 'spinlock', '--cpus', '2', '--workers', '0'], /--workers must be at least 1 \(got 0\)/],
    ['malformed workers', ['sweep', '--workload', 'spinlock', '--cpus', '2', '--workers', 'two'], /--workers: "two" is not a whole number/],
    ['threads engine, deterministic', ['run', '--workload', 'spinlock', '--cpus', '2', '--engine', 'threads', '--mode', 'deterministic'], /deterministic mode runs every CPU on one worker: use --engine mn/],
    ['workers in deterministic mode', ['run', '--workload', 'spinlock', '--cpus', '4', '--mode', 'deterministic', '--workers', '2'], /deterministic mode runs every CPU on one worker \(got --workers 2\)/],
    ['workers with the threads engine', ['run', '--workload', 'spinlock', '--cpus', '4', '--engine', 'threads', '--workers', '2'], /--workers applies to the mn engine/],
    ['stress: unknown engine', ['stress', '--cpus', '2', '--engine', 'gpu'], /'gpu' is invalid. Allowed choices are mn, threads/],
    ['unwritable output dir', ['sweep', '--workload', 'spinlock', '--cpus', '1', '--out', join(aFile, 'out')], /cannot write output directory ".*a-file\/out": a parent is not a directory/],
    ['unwritable JSON file', ['run', '--workload', 'spinlock', '--cpus', '1', '--json', join(aFile, 'p.json')], /--json: cannot write ".*a-file\/p\.json"/],
    // Node's recursive mkdir never returns under /proc: this once ran for 10 minutes before it said anything
    ['output dir under /proc', ['sweep', '--workload', 'spinlock', '--cpus', '1', '--out', '/proc/forbidden'], /cannot write output directory "\/proc\/forbidden": no such file or directory/],
    ['output dir deep under /proc', ['sweep', '--workload', 'spinlock', '--cpus', '1', '--out', '/proc/self/x/y'], /cannot write output directory "\/proc\/self\/x\/y"/],
    ['output dir that is a file', ['sweep', '--workload', 'spinlock', '--cpus', '1', '--out', aFile], /cannot write output directory ".*a-file": it exists and is not a directory/],
    ['JSON file under /proc', ['run', '--workload', 'spinlock', '--cpus', '1', '--json', '/proc/forbidden.json'], /--json: cannot write "\/proc\/forbidden\.json"/],
    ['missing --workload', ['run', '--cpus', '2'], /required option '--workload <name>' not specified/],
    ['sweep without workloads', ['sweep', '--cpus', '2'], /sweep needs --workload/],
    ['unknown option', ['run', '--workload', 'spinlock', '--cpus', '1', '--cpu', '2'], /unknown option '--cpu'/],
    ['unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
  ];

  for (const [what, args, message] of cases) {
    it(what, () => {
      // bad input is refused before anything runs: a hang (no exit within 30 s) is a failure, not a slow pass
      const r = cliWithin(30_000, ...args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/^faultline: /);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(r.stdout).toBe('');
    });
  }

  it('nothing runs and nothing is written when one point of a sweep is bad', () => {
    const out = join(tmp, 'never');
    const r = cli('sweep', '--workload', 'spinlock', '--strategy', 'mmap_lock,nope', '--cpus', '1', '--out', out);
    expect(r.code).toBe(2);
    expect(existsSync(out)).toBe(false);
  });
});
