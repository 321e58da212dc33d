// The package as users get it: `npm pack`, then a fresh project installs the
// tarball offline (from the npm cache `npm ci` filled) and uses it from Node
// through the package name only: the API from JavaScript, the types from
// TypeScript, the example harness, and the `faultline` bin.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, copyFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let tmp: string;
let project: string;
let files: string[];

// what a user has: no FAULTLINE_CORE=test (vitest.config.ts sets it for the suite), so the released core runs
const { FAULTLINE_CORE: _testCore, ...userEnv } = process.env;
const run = (cmd: string, args: string[], cwd: string) => {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 180_000, env: { ...userEnv, npm_config_update_notifier: 'false' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
};

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'faultline-pack-'));
  const packed = JSON.parse(run(NPM, ['pack', '--json', '--pack-destination', tmp], ROOT)) as { filename: string; files: { path: string }[] }[];
  files = packed[0].files.map((f) => f.path);
  project = join(tmp, 'project');
  execFileSync('mkdir', ['-p', project]);
  const tarball = `file:../${packed[0].filename}`;
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'third-party-harness', private: true, type: 'module', dependencies: { faultline: tarball } }));
  // offline: `npm ci` fetches tarballs by integrity from the cache, never the registry's metadata. The
  // lock is ours, reduced to the runtime dependencies (not dev), with faultline itself from the tarball.
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, Record<string, unknown>> };
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const packages: Record<string, unknown> = { '': { name: 'third-party-harness', dependencies: { faultline: tarball } } };
  packages['node_modules/faultline'] = { version: pkg.version, resolved: tarball, dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines };
  for (const [k, v] of Object.entries(lock.packages)) if (k !== '' && !v.dev && !v.link) packages[k] = v;
  writeFileSync(join(project, 'package-lock.json'), JSON.stringify({ name: 'third-party-harness', lockfileVersion: 3, requires: true, packages }, null, 1));
  run(NPM, ['ci', '--offline', '--no-audit', '--no-fund'], project);
}, 240_000);

afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

describe('npm pack tarball, installed offline in a fresh project', () => {
  it('ships the built API, both cores, the web page and no sources or tests', () => {
    for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/browser.js', 'dist/src/worker.js', 'dist/src/cli.js',
      'build/faultline.wasm', 'build/faultline-mn.wasm', 'package.json', 'README.md', 'examples/mprotect-storm/harness.mjs']) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => /^(src|test|assembly|scripts|bench)\//.test(f) || f.startsWith('dist/bench/'))).toEqual([]);
    // the released and observe cores only: no test build, no t_* exports in what ships
    const cores = ['faultline-mn.wasm', 'faultline-observe-mn.wasm', 'faultline-observe.wasm', 'faultline.wasm'];
    expect(files.filter((f) => f.endsWith('.wasm')).sort()).toEqual([...cores.map((f) => `build/${f}`), ...cores.map((f) => `dist/web/${f}`)]);
    const pkgDir = join(project, 'node_modules', 'faultline');
    for (const f of cores) {
      const bytes = readFileSync(join(pkgDir, 'build', f));
      const names = WebAssembly.Module.exports(new WebAssembly.Module(bytes)).map((e) => e.name);
      expect(names).toContain('sched_run');
      expect(names.filter((n) => n.startsWith('t_'))).toEqual([]);
      expect(readFileSync(join(pkgDir, 'dist', 'web', f)).equals(bytes)).toBe(true); // the page runs the same core
    }
    for (const f of ['index.html', 'app.js', 'runner.js', 'cpu-worker.js']) expect(files).toContain(`dist/web/${f}`);
  });

  it('the API works from Node through the package name', () => {
    writeFileSync(join(project, 'use.mjs'), `
import { createMachine, runWorkload, statInfo, version } from 'faultline';
const m = await createMachine({ cpus: 2, mode: 'deterministic', strategy: 'pervma' });
const r = await m.run((cpu) => [{ op: 'map', len: 65536, as: 'a' }, { op: 'touch', addr: '$a', len: 65536, write: true }]);
const p = await runWorkload({ workload: 'page_fault1', cpus: 2, mode: 'deterministic', vcycles: 500000 });
console.log(JSON.stringify({ version, ok: r.ok, touched: r.results.map((x) => x[1]), faults: String(m.counters().fault),
  point: [p.ok, p.workload, p.cpus, p.ops > 0], units: statInfo().find((s) => s.name === 'fault_cycles').unit }));
`);
    const out = JSON.parse(run(process.execPath, ['use.mjs'], project));
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(out).toEqual({ version: pkg.version, ok: true, touched: [16, 16], faults: '32', point: [true, 'page_fault1', 2, true], units: 'cycles' });
  });

  it('the types resolve through "exports" (tsc, nodenext) and catch a misuse', () => {
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2022', 'dom'], types: [], strict: true, noEmit: true, skipLibCheck: true },
      files: ['use.ts'],
    }));
    writeFileSync(join(project, 'use.ts'), `
import { createMachine, sweep, type PointResult, type Op } from 'faultline';
const prog: Op[] = [{ op: 'map', len: 4096, as: 'a' }, { op: 'access', addr: '$a', write: true }];
export async function f(): Promise<PointResult[]> {
  const m = await createMachine({ cpus: 2 });
  await m.run([prog, prog]);
  return (await sweep({ workloads: ['page_fault1'], cpus: [1, 2] })).points;
}
`);
    expect(spawnSync(process.execPath, [tsc, '-p', '.'], { cwd: project, encoding: 'utf8' }).stdout).toBe('');
    writeFileSync(join(project, 'use.ts'), `import { createMachine } from 'faultline';\nvoid createMachine({ cpus: '2' });\n`);
    const bad = spawnSync(process.execPath, [tsc, '-p', '.'], { cwd: project, encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toMatch(/use\.ts.*error TS2322/);
  });

  it('the example harness runs in the fresh project', () => {
    copyFileSync(join(ROOT, 'examples', 'mprotect-storm', 'harness.mjs'), join(project, 'harness.mjs'));
    const lines = run(process.execPath, ['harness.mjs', '--cpus', '2', '--pages', '8', '--flips', '4'], project).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.strategy, l.ok, l.faults])).toEqual([['mmap_lock', true, 8], ['spf', true, 8], ['pervma', true, 8], ['spf-mmapseq', true, 8]]);
  });

  it('the bin: npx faultline in the fresh project', () => {
    const out = run(NPM, ['exec', '--offline', '--', 'faultline', 'list'], project);
    expect(out).toMatch(/^workloads \(--workload\):/);
    expect(out).toMatch(/page_fault1/);
  });
});

describe('npx faultline in the clone', () => {
  it('resolves to this package\'s own bin after the README set-up (npm ci && npm run build)', () => {
    const out = run(NPM, ['exec', '--offline', '--', 'faultline', '--version'], ROOT);
    expect(out.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  });
});
