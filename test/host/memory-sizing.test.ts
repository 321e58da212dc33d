import { describe, it, expect } from 'vitest';
import { Machine, checkMachineSize, MAX_SHARED_BYTES } from '../../src/machine.js';
import { runPoint, resolvePoint, POINT_DEFAULTS, type PointSpec } from '../../src/experiment.js';
import { listedWorkloads, workloadByName } from '../../src/workloads.js';
import { strategyByName } from '../../src/strategies.js';
import { createMachine } from '../../src/api.js';

// The emulated machine is sized from the workload's footprint (src/workloads.ts
// Workload.machine), as a real machine has the RAM its benchmark needs; what
// cannot fit the 4 GiB of shared memory is said before anything runs; an OOM
// inside a run names itself (issue 18: tlb_flush1's page cache outgrew its
// frames and the run ended with "access failed: VM_FAULT 0x1").

const spec = (workload: string, cpus: number, extra: Partial<PointSpec> = {}): PointSpec =>
  ({ ...POINT_DEFAULTS, workload, strategy: 'mmap_lock', cpus, ...extra });

describe('machine sizing', () => {
  it('tlb_flush1 at 1 CPU for 50M cycles (the issue\'s run): its page cache outgrew the old sizing, now it completes', async () => {
    const r = await runPoint(spec('tlb_flush1', 1, { mode: 'deterministic', vcycles: 50_000_000 }));
    expect(r.error).toBeNull();
    // each page written once per pass stays in the page cache (no reclaim): more pages than the old 9,472 frames
    expect(r.stats.pagecache_miss).toBeGreaterThan(9_472);
  });

  it('every listed workload fits the shared memory at the most CPUs a profile has, with a budget of 5e11 cycles (near the largest --vcycles)', () => {
    for (const w of listedWorkloads()) {
      for (const vcycles of [undefined, 5e11]) {
        const s = spec(w.name, 256, { profile: 'amd-epyc-rome', vcycles });
        expect(() => resolvePoint(s), `${w.name} ${vcycles}`).not.toThrow();
      }
    }
  });

  it('a machine that cannot fit says so before it starts: the size it needs, its largest parts, what to change', async () => {
    expect(() => checkMachineSize({ cpus: 1, frames: 300_000_000 })).toThrow(
      /^the machine needs 4\.\d\d GiB of shared memory \(page frames \(300,000,000\) 4577\.6 MiB, .*\); the limit is 4 GiB \(65,536 Wasm pages\): lower frames, ptPages, vmas or cpus$/);
    expect(() => new Machine({ cpus: 1, ptPages: 1_100_000 })).toThrow(/needs \d+\.\d\d GiB .*page-table (pages|metadata) \(1,100,000\)/);
    await expect(createMachine({ cpus: 2, frames: 300_000_000 })).rejects.toThrow(/the limit is 4 GiB/);
    expect(checkMachineSize({ cpus: 1 }).total).toBeLessThan(MAX_SHARED_BYTES);
  });

  it('a point whose workload sizes a machine beyond 4 GiB is refused when it is resolved (the door), naming the workload and what to lower', () => {
    const w = workloadByName('page_fault3');
    const orig = w.machine;
    try {
      (w as { machine?: typeof orig }).machine = (p) => ({ ...orig!(p), frames: 300_000_000 });
      expect(() => resolvePoint(spec('page_fault3', 2, { vcycles: 1_000_000 }))).toThrow(
        /^the machine needs 4\.\d\d GiB of shared memory \(page frames \(300,000,000\) .*: page_fault3 on 2 CPUs --vcycles 1000000 is sized from its footprint \(src\/workloads\.ts\): lower --cpus or --vcycles$/);
    } finally {
      (w as { machine?: typeof orig }).machine = orig;
    }
  });
});

/** run workload `name`'s loops on a machine with its own sizing overridden by `small` (what runPoint does, minus the sizing) */
async function runSmall(name: string, cpus: number, small: { frames?: number; ptPages?: number }, vcycles: number) {
  const w = workloadByName(name);
  const s = spec(name, cpus, { mode: 'deterministic', vcycles });
  const m = new Machine({ cpus, mode: 'deterministic', strategy: strategyByName('mmap_lock').id, ...w.machine?.(s), ...small });
  const ctx = w.setup(m, s);
  const run = await m.run((cpu) => w.task(cpu, ctx));
  expect(run.ok).toBe(true); // the loop returned its failure: the run itself ended cleanly
  return () => w.ops(m, run, ctx);
}

describe('an OOM inside a run names itself', () => {
  it('no page frame left: which CPU, which allocation, how many frames the machine has and what holds them', async () => {
    const ops = await runSmall('page_fault2', 2, { frames: 6_000 }, 20_000_000);
    expect(ops).toThrow(/^cpu [01]: out of memory: CPU [01] could not allocate a page frame \(frame_alloc_fail \d+\); the machine has 6,000 page frames \(23 MiB of emulated RAM\): [\d,]+ page cache, [\d,]+ anonymous, .*reclaim is not emulated.*\(access failed: VM_FAULT 0x1\)$/);
  });

  it('no page-table page left: says so, with the machine\'s count', async () => {
    const ops = await runSmall('page_fault1', 1, { ptPages: 4 }, 2_000_000);
    expect(ops).toThrow(/^cpu 0: out of memory: CPU 0 could not allocate a page-table page \(ptpage_alloc_fail \d+; the machine has 4, 0 free\)/);
  });

  it('through runPoint the point fails with that message, not as a host error', async () => {
    // a workload sized too small on purpose: its machine() is the sizing under test, so patch a copy
    const w = workloadByName('page_fault3');
    const orig = w.machine;
    try {
      (w as { machine?: typeof orig }).machine = (p) => ({ ...orig!(p), frames: 5_000 });
      const r = await runPoint(spec('page_fault3', 1, { mode: 'deterministic', vcycles: 30_000_000 }));
      expect(r.ok).toBe(false);
      expect(r.error).toMatch(/^cpu 0: out of memory: CPU 0 could not allocate a page frame/);
    } finally {
      (w as { machine?: typeof orig }).machine = orig;
    }
  });
});
