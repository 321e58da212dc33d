// The one door for every spec (src/schema.ts): the JSON Schemas editors use
// are the door's own (generated, not stale), the shipped files name them and
// pass them, the door and the JSON Schema refuse the same typos, and the
// command line derived from a point's spec gives that point back.
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import { parseProfile, ProfileError } from '../../src/profile.js';
import { checkCalibration } from '../../src/calibration.js';
import { commandOf, specOptionArgs, type PointSpec } from '../../src/experiment.js';
import { checkPoints, sweepCommand, sweepPoints, UsageError } from '../../src/index.js';
import { SPEC_FLAGS } from '../../src/schema.js';
import { readPlan } from '../../src/cluster/plan.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const readJson = (f: string) => JSON.parse(readFileSync(f, 'utf8'));
const ajv = new Ajv2020({ allErrors: false, strict: false });
const validator = (name: string) => ajv.compile(readJson(join(ROOT, 'schemas', `${name}.schema.json`)));

describe('JSON Schemas (schemas/*.schema.json)', () => {
  it('are what src/schema.ts generates (npm run build)', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'gen-schemas.mjs'), '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('every shipped profile and calibration set names its schema and passes it (and the door)', () => {
    for (const [dir, kind] of [['profiles', 'profile'], ['calibration', 'calibration']] as const) {
      const files = readdirSync(join(ROOT, dir)).filter((f) => f.endsWith('.json'));
      expect(files.length).toBeGreaterThan(0);
      const validate = validator(kind);
      for (const f of files) {
        const j = readJson(join(ROOT, dir, f));
        expect(j.$schema, f).toBe(`../schemas/${kind}.schema.json`);
        expect(existsSync(join(ROOT, dir, j.$schema)), f).toBe(true);
        expect(validate(j), `${f}: ${JSON.stringify(validate.errors)}`).toBe(true);
        if (kind === 'profile') expect(parseProfile(j, f).name).toBe(f.replace(/\.json$/, ''));
        else expect(checkCalibration(j, f).sets.length).toBeGreaterThan(0);
      }
    }
  });

  it('the JSON Schema and the door refuse the same mistakes in a profile', () => {
    const good = () => readJson(join(ROOT, 'profiles', 'intel-skx-2s.json'));
    const validate = validator('profile');
    const mutations: [string, (j: any) => void, RegExp][] = [
      ['typo at the top', (j) => { j.ghZ = 3; }, /unknown top-level key "ghZ"/],
      ['typo in a cost', (j) => { j.costs.l1_hit.cylces = 4; }, /unknown key costs\.l1_hit\.cylces/],
      ['unknown cost key', (j) => { j.costs.l4_hit = { cycles: 1, source: 'x' }; }, /unknown cost key costs\.l4_hit/],
      ['missing cost key', (j) => { delete j.costs.walk_step; }, /costs\.walk_step must be an object/],
      ['cycles as a word', (j) => { j.costs.dram.cycles = 'four'; }, /costs\.dram\.cycles must be an integer >= 0 \(got "four"\)/],
      ['cycles too large', (j) => { j.costs.dram.cycles = 10_000_000; }, /costs\.dram\.cycles must be < 10000000/],
      ['zero sockets', (j) => { j.topology.sockets = 0; }, /topology\.sockets must be a positive integer \(got 0\)/],
      ['ghz out of range', (j) => { j.ghz = 20; }, /ghz must be a finite number > 0 and < 20 \(got 20\)/],
      ['two-line description', (j) => { j.description = 'a\nb'; }, /description must be one line/],
    ];
    for (const [what, mutate, msg] of mutations) {
      const j = good();
      mutate(j);
      expect(validate(j), what).toBe(false);
      expect(() => parseProfile(j, 'p.json'), what).toThrow(ProfileError);
      expect(() => parseProfile(j, 'p.json'), what).toThrow(msg);
    }
    // "$"-keys are for editors and people, at every level
    const j = good();
    j.$comment = 'x';
    j.costs.dram.$note = 'y';
    expect(validate(j)).toBe(true);
    expect(parseProfile(j, 'p.json').name).toBe('intel-skx-2s');
  });

  it('a calibration set: the door names the set and the field', () => {
    const j = readJson(join(ROOT, 'calibration', 'published.json'));
    j.sets[0].ratios[0].num.workload = 'page_fault9';
    expect(() => checkCalibration(j, 'c.json')).toThrow(/c\.json: sets\[0\]\.ratios\[0\]\.num\.workload|unknown workload "page_fault9"/);
    expect(validator('calibration')(j)).toBe(false);
    const k = readJson(join(ROOT, 'calibration', 'published.json'));
    k.sets[1].id = k.sets[0].id;
    expect(() => checkCalibration(k, 'c.json')).toThrow(/c\.json: sets\[1\]: duplicate set id/);
    // a row's kernel release and munmap lock (sets C, C', D) go through the same door
    for (const [field, value, msg] of [['kernel', '6.5', /unknown kernel release "6.5" for per-VMA locks/], ['munmap', 'read', /unknown munmap lock "read"/]] as const) {
      const c = readJson(join(ROOT, 'calibration', 'published.json'));
      const d = c.sets.findIndex((s: { id: string }) => s.id === 'D');
      c.sets[d].ratios[0].num[field] = value;
      expect(() => checkCalibration(c, 'c.json'), field).toThrow(msg);
      expect(() => checkCalibration(c, 'c.json'), field).toThrow(/^c\.json: /);
      expect(validator('calibration')(c), field).toBe(false);
    }
  });
});

describe('the command line of a point, derived in one place', () => {
  it('every common field of a spec has a CLI flag, and `faultline ... --plan` gives the same points back', () => {
    const spec: PointSpec = {
      workload: 'page_fault1', strategy: 'spf', cpus: 2, profile: 'intel-skx-2s', mode: 'parallel', seed: 7, quantum: 2000,
      vcycles: 100_000, loops: 0, watchdogMs: 9000, engine: 'mn', workers: 2, munmap: 'write', spfLookup: 'v12', kernel: '6.6',
    };
    // every field of SPEC_FLAGS is set above: the derived command line carries each one
    expect(Object.keys(SPEC_FLAGS).every((k) => spec[k as keyof PointSpec] !== undefined)).toBe(true);
    expect(specOptionArgs(spec)).toContain('--spf-lookup');
    expect(specOptionArgs(spec).join(' ')).toContain('--kernel 6.6');
    const dir = mkdtempSync(join(tmpdir(), 'fl-cmd-'));
    const cases: PointSpec[][] = [
      [spec],
      sweepPoints({ workloads: ['page_fault1', 'mmap1'], strategies: ['spf', 'pervma'], cpus: [1, 2], profile: 'default', spfLookup: 'v12', munmap: 'write', vcycles: 5000 }),
      sweepPoints({ workloads: ['page_fault3', 'ebizzy-mTRp'], strategies: ['pervma'], cpus: [2, 4], profile: 'intel-skx-2s', kernel: '6.4', loops: 1 }),
    ];
    for (const [i, specs] of cases.entries()) {
      const cmd = commandOf(specs)!;
      expect(cmd[0]).toBe('faultline');
      const plan = join(dir, `plan-${i}.json`);
      const r = spawnSync(process.execPath, [CLI, 'sweep', ...cmd.slice(2), '--plan', plan, '--quiet'], { encoding: 'utf8', timeout: 60_000 });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const doc = readJson(plan);
      expect(doc.points.map((p: { spec: PointSpec }) => p.spec)).toEqual(checkPoints(specs).map((p) => p.spec));
      // a plan file passes its own JSON Schema
      const v = validator('plan');
      expect(v(doc), JSON.stringify(v.errors)).toBe(true);
    }
    expect(sweepCommand({ workloads: ['page_fault1'], strategies: ['spf'], cpus: [1, 4], spfLookup: 'v12' })).toContain('v12');
    expect(sweepCommand({ workloads: ['page_fault3'], strategies: ['pervma'], cpus: [1, 4], kernel: '6.7' }).join(' ')).toContain('--kernel 6.7');
  });

  it('what a run records (observe) goes through the door, rides along with the point, and is no part of a plan', () => {
    const [p] = checkPoints([{ workload: 'page_fault1', cpus: 1, observe: { lockStat: true } }]);
    expect(p.spec.observe).toEqual({ lockStat: true });
    expect(p.machine.observe).toEqual({ lockStat: true });
    expect(commandOf([p.spec])).toContain('--lock-stat');
    // a sweep records nothing: points that ask for it have no sweep command line
    expect(commandOf(sweepPoints({ workloads: ['page_fault1'], strategies: ['spf'], cpus: [1, 2], observe: { lockStat: true } }))).toBeUndefined();
    for (const [observe, msg] of [
      [{ lockStat: 'yes' }, /^observe\.lockStat must be true or false \(got "yes"\)$/],
      [{ lockstat: true }, /^unknown key observe\.lockstat$/],
      [{ trace: { start: 10, end: 5 } }, /^the trace window must be START:END in virtual cycles with 0 <= START < END \(got 10:5\)$/],
      [{ flame: { nodes: 0 } }, /^observe\.flame\.nodes must be an integer from 1 to 1048576 \(got 0\)$/],
    ] as [object, RegExp][]) {
      expect(() => checkPoints([{ workload: 'page_fault1', cpus: 1, observe } as never]), JSON.stringify(observe)).toThrow(msg);
    }
    // a plan stores what points run, not what a run records
    const plan = join(mkdtempSync(join(tmpdir(), 'fl-obs-')), 'plan.json');
    writeFileSync(plan, JSON.stringify({ faultlinePlan: 1, generator: 'x', createdAt: 'x', command: [], points: [{ index: 0, spec: { ...p.spec } }] }));
    expect(() => readPlan(plan)).toThrow(/: point 0: unknown spec field "observe"$/);
  });

  it('points that are no sweep of axes have no command line', () => {
    const a = sweepPoints({ workloads: ['page_fault1'], strategies: ['spf'], cpus: [1] })[0];
    expect(commandOf([a, { ...a, seed: 9 }])).toBeUndefined();
  });

  it('a point is checked once: checked points pass through unchanged, bad ones name the field', () => {
    const [p] = checkPoints([{ workload: 'page_fault1', cpus: 2 }]);
    expect(checkPoints([p])[0]).toBe(p);
    expect(p.spec).toEqual({ workload: 'page_fault1', strategy: 'mmap_lock', cpus: 2, profile: 'default', mode: 'parallel', seed: 1, quantum: 10_000, engine: 'mn' });
    expect(Object.isFrozen(p.spec)).toBe(true);
    for (const [bad, msg] of [
      [{ workload: 'page_fault1', cpus: 2, seed: -1 }, /^seed must be an integer >= 0 \(got -1\)$/],
      [{ workload: 'page_fault1', cpus: 2, spfLookup: 'v13' }, /^unknown SPF lookup "v13" \(v11, v12\)$/],
      [{ workload: 'page_fault1', cpus: 2, munmap: 'read' }, /^unknown munmap lock "read" \(downgrade, write\)$/],
      [{ workload: 'page_fault1', strategy: 'pervma', cpus: 2, kernel: '6.5' }, /^unknown kernel release "6.5" for per-VMA locks \(6.4, 6.6, 6.7, 6.15\)$/],
      [{ workload: 'page_fault1', cpus: 2, loops: -1 }, /^loops must be an integer from 0 to 1000000 \(got -1\)$/],
      [{ workload: 'page_fault1', cpus: 2, cpu: 3 }, /^unknown top-level key "cpu"$/],
      [{ workload: 'postcopy', cpus: 1 }, /^workload postcopy needs at least 2 CPUs \(got 1\)$/],
      [{ workload: 'page_fault1', cpus: 80 }, /^profile default has 64 hardware threads; cannot emulate 80 CPUs$/],
      [{ workload: 'page_fault1', cpus: 2, quantum: 2 ** 32 }, /^quantum must be an integer from 100 to 4294967295 \(got 4294967296\)$/],
    ] as [object, RegExp][]) {
      expect(() => checkPoints([bad as never]), JSON.stringify(bad)).toThrow(UsageError);
      expect(() => checkPoints([bad as never]), JSON.stringify(bad)).toThrow(msg);
    }
  });
});

describe('names are typed from the lists (spec/strategies.json, spec/workloads.json)', () => {
  it('the generated unions are the registries, and strategy ids are the core\'s', async () => {
    const { STRATEGY_NAMES, WORKLOAD_NAMES } = await import('../../src/generated/assets.js');
    const { strategies } = await import('../../src/strategies.js');
    const { workloads } = await import('../../src/workloads.js');
    const { layoutConsts } = await import('../../src/wasm.js');
    expect(strategies.map((s) => s.name)).toEqual([...STRATEGY_NAMES]);
    expect(workloads.map((w) => w.name)).toEqual([...WORKLOAD_NAMES]);
    const C = layoutConsts();
    for (const s of strategies) {
      const k = `STRATEGY_${s.name.toUpperCase().replace(/-/g, '_')}`;
      expect(C[k], k).toBe(s.id);
    }
  });
});
