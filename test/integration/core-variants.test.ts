import { describe, it, expect, afterEach } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coreModule, layoutConsts, checkCoreMatchesHost, StaleCoreError } from '../../src/wasm.js';
import { coreFile } from '../../src/node/platform.js';
import { Machine } from '../../src/machine.js';
import { UsageError } from '../../src/types.js';
import { runPoint, type PointSpec } from '../../src/experiment.js';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli.js');

// The released core carries only what runs (assembly/build_flags.ts): the t_*
// loops and the test controls on hot paths are in the test build only.
describe('release and test builds of the core', () => {
  const saved = process.env.FAULTLINE_CORE;
  afterEach(() => { process.env.FAULTLINE_CORE = saved; });

  it('the released modules export what hosts call and no t_* function; the test modules add the t_* loops and kernel internals', () => {
    for (const build of ['threads', 'mn'] as const) {
      const rel = WebAssembly.Module.exports(coreModule(build, 'release')).filter((e) => e.kind === 'function').map((e) => e.name);
      const tst = WebAssembly.Module.exports(coreModule(build, 'test')).filter((e) => e.kind === 'function').map((e) => e.name);
      expect(rel.length).toBeGreaterThan(50);
      expect(rel.filter((n) => n.startsWith('t_')), coreFile(build, 'release')).toEqual([]);
      expect(tst.filter((n) => n.startsWith('t_')).length).toBeGreaterThan(20);
      // the test core exports the released ABI, plus kernel internals only tests drive
      expect(rel.filter((n) => !tst.includes(n))).toEqual([]);
      for (const internal of ['spin_lock', 'cpumask_weight', 'tlb_lookup', 'vma_init', 'line_rmw']) {
        expect(tst, internal).toContain(internal);
        expect(rel, internal).not.toContain(internal);
      }
    }
  });

  it('the observe modules export exactly what the released ones do', () => {
    for (const build of ['threads', 'mn'] as const) {
      const names = (v: 'release' | 'observe') => WebAssembly.Module.exports(coreModule(build, v)).map((e) => `${e.kind} ${e.name}`).sort();
      expect(names('observe')).toEqual(names('release'));
    }
  });

  it('the released module is smaller: the test controls and the observability hooks are compiled out, not just unexported', () => {
    // same exports minus t_*: the size left over is the hot-path checks and the loops
    const len = (f: string) => readFileSync(f).length;
    for (const build of ['threads', 'mn'] as const) {
      expect(len(coreFile(build, 'release'))).toBeLessThan(len(coreFile(build, 'test')));
      // the same sources and exports: what the observe core has more is the hooks (assembly/obs.ts)
      expect(len(coreFile(build, 'release'))).toBeLessThan(len(coreFile(build, 'observe')) - 4000);
    }
  });

  it('a machine uses the released core unless the run records (observe core) or needs the test core', () => {
    process.env.FAULTLINE_CORE = '';
    expect(new Machine({ cpus: 1 }).cfg.core).toBe('release');
    expect(new Machine({ cpus: 1, flags: 1 }).cfg.core).toBe('test');
    expect(new Machine({ cpus: 1, settings: { bug: 1 } }).cfg.core).toBe('test');
    expect(() => new Machine({ cpus: 1, flags: 1, core: 'release' })).toThrow(UsageError);
    expect(() => new Machine({ cpus: 1, flags: 1, core: 'observe' })).toThrow(UsageError);
    expect(new Machine({ cpus: 1, observe: { lockStat: true } }).cfg.core).toBe('observe');
    expect(new Machine({ cpus: 1, observe: { trace: {} } }).cfg.core).toBe('observe');
    expect(new Machine({ cpus: 1, observe: { flame: {} } }).cfg.core).toBe('observe');
    expect(new Machine({ cpus: 1, observe: { lockStat: false } }).cfg.core).toBe('release');
    expect(() => new Machine({ cpus: 1, observe: { flame: {} }, core: 'release' })).toThrow(/needs the observe core/);
    // the test core has the hooks too
    expect(new Machine({ cpus: 1, flags: 1, observe: { flame: {} } }).cfg.core).toBe('test');
    process.env.FAULTLINE_CORE = 'test';
    expect(new Machine({ cpus: 1, observe: { flame: {} } }).cfg.core).toBe('test');
  });

  it('a t_* call on the released core is a clear error naming the test core', async () => {
    const m = new Machine({ cpus: 1, mode: 'deterministic', core: 'release' });
    const r = await m.run(() => ({ program: 'faultScript', args: { steps: [{ op: 'charge', cycles: 10 }] } }));
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/t_charge exists only in the test core/);
  });

  it('same deterministic run on both cores: identical statistics and clocks', async () => {
    const spec: PointSpec = { workload: 'ebizzy', strategy: 'spf', cpus: 4, profile: 'default', mode: 'deterministic', seed: 3, quantum: 10_000, vcycles: 2_000_000 };
    process.env.FAULTLINE_CORE = 'release';
    const rel = await runPoint(spec);
    process.env.FAULTLINE_CORE = 'test';
    const tst = await runPoint(spec);
    expect(rel.host.engine.core).toBe('release');
    expect(tst.host.engine.core).toBe('test');
    expect(rel.ok).toBe(true);
    expect({ ...rel, host: undefined }).toEqual({ ...tst, host: undefined });
    // the observe core, recording nothing and recording everything: the same results
    process.env.FAULTLINE_CORE = 'observe';
    const obs = await runPoint(spec);
    expect(obs.host.engine.core).toBe('observe');
    expect({ ...obs, host: undefined }).toEqual({ ...rel, host: undefined });
    process.env.FAULTLINE_CORE = '';
    const rec = await runPoint({ ...spec, observe: { lockStat: true, flame: {}, trace: { maxEventsPerCpu: 1000 } } });
    expect(rec.host.engine.core).toBe('observe');
    expect(rec.stats).toEqual(rel.stats);
    expect(rec.clocks).toEqual(rel.clocks);
  });

  it('a core built from other sources than the host is refused with the command that fixes it, not run', () => {
    const C = layoutConsts();
    expect(() => checkCoreMatchesHost(C)).not.toThrow();
    expect(() => checkCoreMatchesHost({ ...C, CALL_TABLE_HASH: (C.CALL_TABLE_HASH + 1) >>> 0 })).toThrow(StaleCoreError);
    expect(() => checkCoreMatchesHost({ ...C, NSTATS: C.NSTATS - 1 })).toThrow(/run "npm run build"/);
  });

  it('the CLI runs the released core (outside the test suite\'s FAULTLINE_CORE=test)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fl-core-'));
    const env = { ...process.env }; delete env.FAULTLINE_CORE;
    const r = spawnSync(process.execPath, [CLI, 'run', '--workload', 'page_fault1', '--strategy', 'spf', '--cpus', '2', '--mode', 'deterministic', '--vcycles', '1000000', '--json', join(dir, 'r.json')], { encoding: 'utf8', env, timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'));
    expect(doc.points[0].host.engine.core).toBe('release');
    // and the observe core only when an option records something
    const o = spawnSync(process.execPath, [CLI, 'run', '--workload', 'page_fault1', '--strategy', 'spf', '--cpus', '2', '--mode', 'deterministic', '--vcycles', '1000000', '--lock-stat', '--json', join(dir, 'o.json')], { encoding: 'utf8', env, timeout: 60_000 });
    expect(o.status, o.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'o.json'), 'utf8')).points[0].host.engine.core).toBe('observe');
  });
});
