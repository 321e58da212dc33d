// examples/raw-abi/: a harness written from docs/abi.md alone (the two .wasm
// files and the document's JSON block; nothing of src/ or dist/), run on the
// released core: every strategy, both modes, both modules, an early stop, and
// the layouts machine_init refuses. And the document and the harness cannot
// drift apart: the harness takes its numbers from the document, the document
// is checked against the core (test/abi.test.ts), and a document that says
// something else than the core is refused by the harness.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIR = join(ROOT, 'examples', 'raw-abi');
const RUN = join(DIR, 'run.mjs');
const run = (...args: string[]) => {
  const r = spawnSync(process.execPath, [RUN, ...args], { encoding: 'utf8', timeout: 120_000 });
  let report: Record<string, any> | undefined;
  try { report = JSON.parse(r.stdout); } catch { /* no report: the error is on stderr */ }
  return { status: r.status, stderr: r.stderr, report };
};

describe('examples/raw-abi: a harness from docs/abi.md alone', () => {
  it('imports nothing but node: builtins and its own files', () => {
    for (const f of readdirSync(DIR).filter((f) => f.endsWith('.mjs'))) {
      const src = readFileSync(join(DIR, f), 'utf8');
      for (const m of src.matchAll(/(?:import|from)\s*\(?\s*['"]([^'"]+)['"]/g)) {
        expect(m[1], `${f} imports ${m[1]}`).toMatch(/^(node:|\.\/[\w-]+\.mjs$)/);
      }
      expect(src, f).not.toMatch(/\bsrc\/|\bdist\//);
    }
  });

  for (const strategy of ['mmap_lock', 'spf', 'pervma', 'spf_mmapseq']) {
    it(`${strategy}: 4 CPUs on 2 mn workers in parallel mode fault every page they touch`, () => {
      const r = run('--cpus', '4', '--strategy', strategy, '--mode', 'parallel', '--workers', '2', '--vcycles', '1000000');
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const p = r.report!;
      expect(p.ok).toBe(true);
      expect(Object.keys(p.iterations)).toEqual(['0', '1', '2', '3']);
      // page_fault1: one write fault per page touched, each CPU ran until its clock passed the deadline
      const pages = Object.values(p.iterations as Record<string, string>).reduce((a, b) => a + Number(b), 0);
      expect(pages).toBeGreaterThan(4 * 10);
      expect(Number(p.counters.fault)).toBeGreaterThanOrEqual(pages);
      for (const c of p.clocks) expect(BigInt(c)).toBeGreaterThanOrEqual(1_000_000n);
      if (strategy === 'spf') expect(Number(p.counters.spf_attempt)).toBeGreaterThan(0);
      if (strategy === 'pervma') expect(Number(p.counters.pervma_attempt)).toBeGreaterThan(0);
    }, 120_000);
  }

  it('deterministic mode on one worker gives the same counters twice; the threads module runs one CPU per thread', () => {
    const a = run('--cpus', '3', '--strategy', 'spf', '--mode', 'deterministic', '--vcycles', '500000');
    const b = run('--cpus', '3', '--strategy', 'spf', '--mode', 'deterministic', '--vcycles', '500000');
    expect(a.status).toBe(0);
    expect(a.report!.workers).toBe(1);
    expect(a.report!.counters).toEqual(b.report!.counters);
    expect(a.report!.clocks).toEqual(b.report!.clocks);
    const t = run('--cpus', '2', '--strategy', 'pervma', '--module', 'threads', '--vcycles', '500000');
    expect(t.stderr).toBe('');
    expect(t.report!.workers).toBe(2);
    expect(t.report!.ok).toBe(true);
  }, 120_000);

  it('stops early on request: H_STOP is STOP_HOST, H_STOP_CPU names no CPU, the counters are read after', () => {
    const r = run('--cpus', '4', '--strategy', 'mmap_lock', '--workers', '2', '--vcycles', String(2 ** 38), '--stop-after-ms', '300');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const p = r.report!;
    expect(p.stopped).toBe(true);
    expect(p.stop).toBe(1); // STOP_HOST
    expect(p.stopCpu).toBe(null);
    expect(Number(p.counters.fault)).toBeGreaterThan(0);
    expect(p.wallMs).toBeLessThan(30_000);
  }, 120_000);

  it('a layout machine_init refuses: the field is named, the harness exits 1, nothing hangs', () => {
    for (const [poke, msg] of [
      ['H_TLB_SETS=0', /core abort: H_TLB_SETS must be a power of 2 \(1, 2, 4, \.\.\.\) \(got 0\)/],
      ['H_PERCPU_SIZE=1024', /core abort: H_PERCPU_SIZE must be at least \d+ .*\(got 1024\)/],
      ['H_PERCPU_SIZE=2048', /core abort: H_PERCPU_SIZE must be at least \d+ .*\(got 2048\)/],
      ['H_ASYNC_SIZE=512', /core abort: H_ASYNC_SIZE must be at least ASYNC_STACK_MIN/],
      ['H_MAX_VMAS_PER_MM=0', /core abort: H_MAX_VMAS_PER_MM must be at least 1/],
    ] as [string, RegExp][]) {
      const r = run('--cpus', '4', '--workers', '2', '--poke', poke);
      expect(r.status, poke).toBe(1);
      expect(r.stderr, poke).toMatch(msg);
    }
    // deterministic mode off one worker: refused by the core, not by this harness
    const d = run('--cpus', '4', '--mode', 'deterministic', '--workers', '2');
    expect(d.status).toBe(1);
    expect(d.stderr).toMatch(/core abort: H_NWORKERS must be 1 in deterministic mode \(every CPU on one worker\) \(got 2\)/);
  }, 120_000);

  it('a document that disagrees with the core is refused by the harness', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'raw-abi-'));
    try {
      const doc = readFileSync(join(ROOT, 'docs', 'abi.md'), 'utf8');
      // another ABI version
      writeFileSync(join(tmp, 'v.md'), doc.replace(/"abiVersion": (\d+)/, (_, v) => `"abiVersion": ${Number(v) + 1}`));
      const v = run('--doc', join(tmp, 'v.md'));
      expect(v.status).toBe(1);
      expect(v.stderr).toMatch(/documents ABI version \d+, the core is version \d+/);
      // one constant off: the harness checks every constant of the document against the core's exports
      writeFileSync(join(tmp, 'c.md'), doc.replace(/"PC_CLOCK": 0,/, '"PC_CLOCK": 8,'));
      const c = run('--doc', join(tmp, 'c.md'));
      expect(c.status).toBe(1);
      expect(c.stderr).toMatch(/docs say PC_CLOCK = 8, the core exports 0/);
      // a region formula off: machine_init refuses the layout it produced
      writeFileSync(join(tmp, 'f.md'), doc.replace('"bytes": "VMA_SIZE * [H_NVMAS]"', '"bytes": "VMA_SIZE"'));
      const f = run('--doc', join(tmp, 'f.md'));
      expect(f.status).toBe(1);
      expect(f.stderr).toMatch(/core abort: H_VMAS_BASE: the region \(\d+ bytes\) ends beyond H_TOTAL_BYTES|core abort: H_VMA_INDEX_BASE: the region overlaps H_VMAS_BASE/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 120_000);
});
