import { describe, it, expect } from 'vitest';
import { runPoint, type PointSpec } from '../../src/experiment.js';
import { loadProfile, type CostProfile } from '../../src/profile.js';

// SMT: two emulated CPUs on the two hardware threads of one core each run
// slower by the profile's smt_slowdown (extra cycles per 100 of work); a CPU
// alone on its core is not slowed. Where the CPUs land is the workload's:
// will-it-scale binds cores in order, pft and ebizzy leave it to the scheduler.

/** intel-skx-2s's figures on a topology of our choosing */
function skxWith(sockets: number, coresPerSocket: number, threadsPerCore: number): CostProfile {
  const p = loadProfile('intel-skx-2s');
  return { ...p, name: `skx-${sockets}x${coresPerSocket}x${threadsPerCore}`, topology: { sockets, coresPerSocket, threadsPerCore } };
}

const base = { workload: 'page_fault1', strategy: 'pervma', mode: 'deterministic' as const, seed: 1, quantum: 10_000, vcycles: 2_000_000, workers: 1 };

describe('SMT siblings', () => {
  it('two CPUs on one core run slower than on two cores; one CPU alone on a 2-thread core is not slowed', async () => {
    // a profile object is accepted where a name is (PointSpec.profile is a name or path: write temp files)
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'faultline-smt-'));
    const file = (p: CostProfile) => {
      const f = join(dir, `${p.name}.json`);
      const costs = Object.fromEntries(Object.entries(p.cycles).map(([k, c]) => [k, { cycles: c, source: p.sources[k] }]));
      writeFileSync(f, JSON.stringify({ name: p.name, description: 'test', ghz: p.ghz, topology: p.topology, costs }));
      return f;
    };
    const smt = file(skxWith(1, 1, 2));
    const two = file(skxWith(1, 2, 1));
    const run = (profile: string, cpus: number) => runPoint({ ...base, profile, cpus } as PointSpec);
    const [s2, t2, s1, t1] = [await run(smt, 2), await run(two, 2), await run(smt, 1), await run(two, 1)];
    for (const r of [s2, t2, s1, t1]) expect(r.ok, r.error ?? '').toBe(true);
    expect(s2.placement).toEqual({ policy: 'cores', smtSharedCpus: 2 });
    expect(t2.placement.smtSharedCpus).toBe(0);
    expect(s1.placement.smtSharedCpus).toBe(0);
    // 54 extra cycles per 100 of work: the siblings do at most 1/1.25 of what two cores do
    expect(s2.opsPerVirtualSec!).toBeLessThan(t2.opsPerVirtualSec! / 1.25);
    // alone on its core: exactly the same run as on a core of its own
    expect(s1.ops).toBe(t1.ops);
    expect(s1.clocks).toEqual(t1.clocks);
  }, 120_000);

  it('pft and ebizzy are left to the scheduler (spread), will-it-scale binds cores in order', async () => {
    const pft = await runPoint({ ...base, workload: 'pft-private', profile: 'intel-hsw-2s', cpus: 2 });
    expect(pft.placement.policy).toBe('spread');
    const wis = await runPoint({ ...base, profile: 'intel-hsw-2s', cpus: 2 });
    expect(wis.placement.policy).toBe('cores');
    // 48 CPUs on 24 cores x 2 threads: every core runs two
    const full = await runPoint({ ...base, profile: 'intel-hsw-2s', cpus: 48, vcycles: 300_000 });
    expect(full.placement.smtSharedCpus).toBe(48);
  }, 120_000);
});
