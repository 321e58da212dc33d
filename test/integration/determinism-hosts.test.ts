import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Machine } from '../../src/machine.js';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli.js');

/** the virtual part of a run's JSON (host wall time and dates removed) */
function virtualPart(file: string): unknown {
  const doc = JSON.parse(readFileSync(file, 'utf8'));
  return doc.points.map((p: Record<string, unknown>) => ({ ...p, host: undefined }));
}

// Deterministic mode replays bit-identically whatever the host gives it: the
// same mixed workload (faults racing mmap/munmap: ebizzy) on ONE host core
// (taskset) and on all of them gives the same statistics and clocks.
describe('determinism across host core counts', () => {
  it('ebizzy, 4 emulated CPUs: 1 host core vs all host cores, identical JSON', () => {
    // util-linux's taskset is part of every Debian system: missing, the test fails rather than skips
    expect(existsSync('/usr/bin/taskset'), '/usr/bin/taskset (util-linux) is missing').toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'fl-det-'));
    const args = [CLI, 'run', '--workload', 'ebizzy', '--strategy', 'spf', '--cpus', '4', '--mode', 'deterministic', '--seed', '5', '--vcycles', '3000000'];
    const one = spawnSync('/usr/bin/taskset', ['-c', '0', process.execPath, ...args, '--json', join(dir, 'one.json')], { encoding: 'utf8', timeout: 120_000 });
    const all = spawnSync(process.execPath, [...args, '--json', join(dir, 'all.json')], { encoding: 'utf8', timeout: 120_000 });
    expect(one.status, one.stderr).toBe(0);
    expect(all.status, all.stderr).toBe(0);
    expect(virtualPart(join(dir, 'one.json'))).toEqual(virtualPart(join(dir, 'all.json')));
  });
});

// The frame allocator against a reference set: any sequence of allocations and
// frees (one CPU, host-driven) hands out each frame at most once, returns -1
// exactly when the model says none is left, and the free count always matches.
describe('property: frame allocator vs a reference model', () => {
  it('random alloc/free sequences', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat(1000)), { minLength: 1, maxLength: 300 }), (ops) => {
      const m = new Machine({ cpus: 1, frames: 64 });
      const core = m.host.core;
      core.cpu_bind_setup(0);
      const free0: number = core.nr_free_frames();
      const held: number[] = [];
      const seen = new Set<number>();
      for (const [alloc, k] of ops) {
        if (alloc) {
          const f: number = core.alloc_frame(2);
          if (held.length === free0) { expect(f).toBe(-1); continue; }
          expect(f).toBeGreaterThan(0); // frame 0 is the zero page
          expect(seen.has(f)).toBe(false);
          seen.add(f);
          held.push(f);
        } else if (held.length > 0) {
          const f = held.splice(k % held.length, 1)[0];
          seen.delete(f);
          expect(core.put_frame(f)).toBe(1); // the last reference: freed
        }
        expect(core.nr_free_frames()).toBe(free0 - held.length);
      }
    }), { numRuns: 100 });
  });
});
