// Golden deterministic results: a fixed set of deterministic-mode points covering every strategy,
// every workload of `faultline list` and both munmap modes, compared byte for byte (every counter,
// every per-CPU clock, the workload's ops and metrics) with test/integration/golden/<group>.json.
// A refactor must leave these files unchanged. A change MEANT to move deterministic numbers
// regenerates them in the same commit and says in its message which numbers moved and why:
//
//   GOLDEN_UPDATE=1 npx vitest run test/integration/golden.test.ts
//
// (then `git diff test/integration/golden/` shows what moved).
import { describe, it, expect, afterAll } from 'vitest';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runPoint, type PointSpec, type PointResult } from '../../src/experiment.js';
import { listWorkloads, listStrategies } from '../../src/api.js';

const DIR = join(__dirname, 'golden');
const UPDATE = process.env.GOLDEN_UPDATE === '1';
const REGEN = 'GOLDEN_UPDATE=1 npx vitest run test/integration/golden.test.ts';

// Workloads whose loops are in the test build of the core only: run there (both cores give
// identical deterministic results: test/integration/core-variants.test.ts). Empty since the micro-workloads'
// loops moved to assembly/workloads.ts (issue 18): every listed workload runs on the released core.
const TEST_CORE_ONLY = new Set<string>([]);

const CPUS = 3;            // postcopy needs 2; 3 gives a handler beside 2 vCPUs and 3-way interleavings
const VCYCLES = 150_000;   // ~100 faults per point: every path taken, the whole file in under a minute
// mte-tag re-faults only after writing and mprotecting its 256 KiB: it needs more to reach its timed faults
const VCYCLES_OF: Record<string, number> = { 'mte-tag': 400_000 };
// budget-bound points (a --vcycles alone means --loops 0): a whole loop of page_fault1 is 32,768 faults
// per CPU; the steady-state rule (whole loops of every CPU) is covered by the `loops=1` points of the
// cheap-loop workloads below
const LOOPS_1 = new Set(['mte-tag', 'mmap1', 'ebizzy']);

interface GoldenPoint { name: string; spec: PointSpec; core: 'release' | 'test' }

function points(): Map<string, GoldenPoint[]> {
  const groups = new Map<string, GoldenPoint[]>();
  const add = (group: string, p: GoldenPoint) => { if (!groups.has(group)) groups.set(group, []); groups.get(group)!.push(p); };
  const workloads = listWorkloads();
  for (const w of workloads) {
    const base = { cpus: CPUS, profile: 'default', mode: 'deterministic' as const, seed: 7, quantum: 10_000, vcycles: VCYCLES_OF[w.name] ?? VCYCLES };
    const core = TEST_CORE_ONLY.has(w.name) ? 'test' : 'release';
    if (!w.usesStrategy) {
      add('micro', { name: w.name, spec: { ...base, workload: w.name, strategy: 'mmap_lock' }, core });
      continue;
    }
    listStrategies().forEach(({ name: strategy }) => {
      // both munmap modes for every strategy: each workload alternates, page_fault1 and ebizzy run both
      const modes: ('downgrade' | 'write')[] = w.name === 'page_fault1' || w.name === 'ebizzy'
        ? ['downgrade', 'write'] : [workloads.indexOf(w) % 2 === 0 ? 'downgrade' : 'write'];
      for (const munmap of modes) add(strategy, { name: `${w.name} munmap=${munmap}`, spec: { ...base, workload: w.name, strategy, munmap }, core });
      if (strategy === 'mmap_lock' && LOOPS_1.has(w.name)) add(strategy, { name: `${w.name} loops=1`, spec: { ...base, workload: w.name, strategy, loops: 1 }, core });
      // SPF's other get_vma() (v12, find_vma_rcu)
      if (strategy === 'spf' && (w.name === 'page_fault1' || w.name === 'mapbench-global' || w.name === 'ebizzy'))
        add(strategy, { name: `${w.name} spf-lookup=v12`, spec: { ...base, workload: w.name, strategy, spfLookup: 'v12' }, core });
      // per-VMA locks of the older releases (the default is the newest): what each handles under the VMA lock
      if (strategy === 'pervma' && (w.name === 'page_fault1' || w.name === 'page_fault2' || w.name === 'page_fault3' || w.name === 'postcopy'))
        for (const kernel of ['6.4', '6.6', '6.7'] as const)
          add('pervma-kernels', { name: `${w.name} kernel=${kernel}`, spec: { ...base, workload: w.name, strategy, kernel }, core });
    });
  }
  // The shipped machines' own mechanisms, which the 'default' profile above never reaches: idle
  // states (intel_idle's tables: a sleeper's exit latency), two sockets (far transfers, two zone
  // locks), a guest's run queue and its host's halt polling (kvm-hsw-16vcpu, 2 tasks per vCPU)
  const machine = { cpus: 8, mode: 'deterministic' as const, seed: 7, quantum: 10_000, vcycles: 2_000_000 };
  for (const [workload, strategy, profile, munmap] of [
    ['ebizzy-mTt', 'pervma', 'intel-icx-2s', undefined],
    ['ebizzy-mTt', 'mmap_lock', 'intel-hsw-2s', 'write'],
    ['ebizzy-mTRp', 'spf', 'kvm-hsw-16vcpu', 'write'],
    ['pft-private', 'pervma', 'intel-icx-2s', undefined],
  ] as const)
    add('machines', { name: `${workload} ${strategy} ${profile}${munmap ? ` munmap=${munmap}` : ''}`, spec: { ...machine, workload, strategy, profile, ...(munmap ? { munmap } : {}) }, core: 'release' });
  return groups;
}

/** The deterministic part of a result: everything but the host's own measurements. */
function golden(r: PointResult): Omit<PointResult, 'host'> {
  const { host: _host, ...rest } = r;
  return rest;
}

/** Paths (a.b.c) whose values differ between two JSON values. */
function diffPaths(a: unknown, b: unknown, path = ''): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => diffPaths((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k));
  }
  return [`${path || '(root)'}: ${JSON.stringify(a)} -> ${JSON.stringify(b)}`];
}

const saved = process.env.FAULTLINE_CORE;
afterAll(() => { process.env.FAULTLINE_CORE = saved; });

describe('golden deterministic results (regenerate: ' + REGEN + ')', () => {
  for (const [group, list] of points()) {
    it(`${group}: ${list.length} points identical to test/integration/golden/${group}.json`, async () => {
      const got: Record<string, unknown> = {};
      for (const p of list) {
        process.env.FAULTLINE_CORE = p.core;
        const r = await runPoint(p.spec);
        expect(r.ok, `${p.name}: ${r.error}`).toBe(true);
        expect(r.ops, `${p.name} did no work`).toBeGreaterThan(0);
        expect(r.host.engine.core).toBe(p.core);
        got[p.name] = golden(r);
      }
      const file = join(DIR, `${group}.json`);
      const text = JSON.stringify(got, null, 1) + '\n';
      if (UPDATE) {
        mkdirSync(DIR, { recursive: true });
        writeFileSync(file, text);
        return;
      }
      expect(existsSync(file), `${file} is missing; generate it with: ${REGEN}`).toBe(true);
      const want = readFileSync(file, 'utf8');
      if (want !== text) {
        const diffs = diffPaths(JSON.parse(want), JSON.parse(text));
        const shown = diffs.slice(0, 40).join('\n  ');
        expect.fail(`deterministic results of group ${group} differ from ${file} (${diffs.length} field(s), stored -> now):\n  ${shown}` +
          `${diffs.length > 40 ? `\n  ... and ${diffs.length - 40} more` : ''}\n` +
          `If the change is MEANT to move these numbers, regenerate with: ${REGEN}\n` +
          'and say in the commit message which numbers moved and why.');
      }
    }, 900_000); // a group takes ~10 s on an idle host; several minutes beside a full machine
  }
});
