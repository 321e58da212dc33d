import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { si, toCsv, keyWaits, formatTable, formatDetails, speedup, SCHEMA_VERSION, PARALLEL_NOTE } from '../../src/report.js';
import { CYCLE_CATEGORIES, categoryNames, cyclesByCategory } from '../../src/breakdown.js';
import { counterNames } from '../../src/stats.js';
import { workloads, workloadByName, microIters } from '../../src/workloads.js';
import { strategies } from '../../src/strategies.js';
import type { PointResult, PointSpec } from '../../src/experiment.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** a hand-made point: only for formatting tests (never written as a result) */
function point(over: Partial<PointResult> = {}): PointResult {
  const cats = Object.fromEntries(categoryNames().map((c) => [c, '0']));
  return {
    workload: 'spinlock', strategy: 'mmap_lock', strategyUsed: false, cpus: 1, profile: 'default', ghz: 2.5,
    mode: 'parallel', seed: 1, quantum: 10000, vcycles: null, params: { itersPerCpu: 10 }, ok: true, error: null,
    opsUnit: 'lock sections', ops: 10, virtualCycles: '250', opsPerVirtualSec: 1e8, opsPerVirtualSecPerCpu: 1e8,
    clocks: ['250'], clockSpread: { min: '250', max: '250', mean: 250, spreadPct: 0 },
    cyclesByCategory: { ...cats, 'other work': '250' }, stats: {}, host: { wallMs: 10, opsPerHostSec: 1000 },
    ...over,
  };
}

describe('report', () => {
  it('si() keeps 3 significant digits', () => {
    expect([0, 7, 999, 1234, 130_230_942, 13_000_000, 999_700, 8.89e9].map(si)).toEqual(['0', '7', '999', '1.23k', '130M', '13M', '1M', '8.89G']);
  });

  it('CSV quotes cells with commas, quotes and newlines (a deadlock message)', () => {
    const csv = toCsv([point({ ok: false, error: 'watchdog: stuck, "cpu 1"\n  cpu 1 -> ptl', ops: null })]);
    const [header, row] = csv.split(/\n(?=spinlock)/);
    expect(header.split(',')).toContain('error');
    expect(row).toContain('"watchdog: stuck, ""cpu 1""\n  cpu 1 -> ptl"');
  });

  it('speedup is against the 1-CPU point of the same series only', () => {
    const one = point();
    const four = point({ cpus: 4, opsPerVirtualSec: 3e8 });
    const otherSeed = point({ cpus: 4, seed: 2, opsPerVirtualSec: 3e8 });
    expect(speedup([one, four], four)).toBeCloseTo(3);
    expect(speedup([one, otherSeed], otherSeed)).toBeNull();
  });

  it('key waits name the wait categories by share of cycles', () => {
    const p = point({ cyclesByCategory: { ...point().cyclesByCategory, 'mmap_lock wait': '600', 'PTL wait': '5', 'other work': '395' } });
    expect(keyWaits(p)).toBe('mmap_lock wait 60%');
    expect(keyWaits(point())).toBe('none');
  });

  it('a multi-CPU parallel-mode point says how to compare strategies; deterministic and 1-CPU points do not', () => {
    expect(formatDetails(point({ cpus: 4, clocks: ['250', '250', '250', '250'] })).split('\n')[1]).toBe(PARALLEL_NOTE);
    expect(PARALLEL_NOTE).toContain('--mode deterministic');
    expect(formatDetails(point({ cpus: 4, mode: 'deterministic' }))).not.toContain(PARALLEL_NOTE);
    expect(formatDetails(point())).not.toContain(PARALLEL_NOTE);
  });

  it('the table marks failed points and ignored strategies', () => {
    const t = formatTable([point(), point({ cpus: 4, ok: false, error: 'cpu 3 crashed\nmore', ops: null, opsPerVirtualSec: null })]);
    expect(t).toMatch(/spinlock\s+mmap_lock\*\s+4\s+FAILED\s+cpu 3 crashed\n/);
    expect(t).toContain('* the workload does not use the fault-path strategy');
  });
});

describe('registries', () => {
  it('cycle categories are made of counters that exist, each used once', () => {
    const names = new Set(counterNames());
    const used = CYCLE_CATEGORIES.flatMap((c) => c.counters);
    for (const n of used) expect(names.has(n), n).toBe(true);
    expect(new Set(used).size).toBe(used.length);
  });

  it('docs/results-schema.md lists every category with exactly its counters', () => {
    const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'results-schema.md'), 'utf8');
    for (const c of CYCLE_CATEGORIES) expect(doc).toContain(`| \`${c.name}\` | ${c.counters.map((n) => `\`${n}\``).join(' + ')} |`);
  });

  it('every lock class\'s wait cycles belong to a category (a new lock cannot fall into "other work" unseen)', () => {
    const used = new Set(CYCLE_CATEGORIES.flatMap((c) => c.counters));
    expect(counterNames().filter((n) => n.endsWith('_wait_cycles') && !used.has(n))).toEqual([]);
  });

  it('"other work" is what the categories leave of the total', () => {
    const stats = Object.fromEntries(counterNames().map((n) => [n, 0n]));
    stats.mmap_read_wait_cycles = 30n;
    stats.ptl_wait_cycles = 20n;
    const c = cyclesByCategory(stats, 100n);
    expect(c['mmap_lock wait']).toBe(30n);
    expect(c['other work']).toBe(50n);
  });

  it('workload and strategy names are unique; strategy ids are 0, 1, 2, 3', () => {
    expect(new Set(workloads.map((w) => w.name)).size).toBe(workloads.length);
    expect(strategies.map((s) => [s.name, s.id])).toEqual([['mmap_lock', 0], ['spf', 1], ['pervma', 2], ['spf-mmapseq', 3]]);
    expect(workloadByName('test-crash').hidden).toBe(true);
  });

  it('--vcycles scales the iteration count', () => {
    const spec = { vcycles: 36_000 } as PointSpec;
    expect(microIters(spec, 1000, 18)).toBe(2000);
    expect(microIters({} as PointSpec, 1000, 18)).toBe(1000);
    expect(microIters({ vcycles: 5 } as PointSpec, 1000, 18)).toBe(1);
  });
});

describe('docs/results-schema.md', () => {
  it('documents the current schema version and every field of a point', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'results-schema.md'), 'utf8');
    expect(doc).toContain(`schemaVersion\` | number | \`${SCHEMA_VERSION}\``);
    const keys = (o: object, prefix = ''): string[] => Object.entries(o).flatMap(([k, v]) =>
      v && typeof v === 'object' && !Array.isArray(v) && !['params', 'stats', 'cyclesByCategory'].includes(k)
        ? keys(v, `${prefix}${k}.`) : [`${prefix}${k}`]);
    for (const k of keys(point())) expect(doc, k).toContain(`\`${k}\``);
  });
});
