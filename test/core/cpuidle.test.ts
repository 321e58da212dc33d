import { describe, it, expect } from 'vitest';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { runPoint } from '../../src/experiment.js';
import { loadProfile, type CostProfile } from '../../src/profile.js';

// Idle states (assembly/cpuidle.ts): a CPU whose task sleeps in mmap_lock's wait
// list is idle; the shootdown IPIs that reach it and its wake-up first pay the
// exit latency of the idle state its idle period covers (the profile's
// cpuidle1..3, intel_idle.c's C1/C1E/C6 on intel-hsw-2s). The same profile
// without idle states charges nothing, and runs faster.

function withoutIdleStates(p: CostProfile): string {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-cpuidle-'));
  const f = join(dir, 'hsw-no-idle.json');
  const costs = Object.fromEntries(Object.entries(p.cycles).map(([k, c]) => [k, { cycles: k.startsWith('cpuidle') ? 0 : c, source: p.sources[k] }]));
  writeFileSync(f, JSON.stringify({ name: 'hsw-no-idle', description: 'intel-hsw-2s without idle states (test)', ghz: p.ghz, topology: p.topology, costs }));
  return f;
}

const point = (profile: string) => ({
  workload: 'ebizzy-mTRp', strategy: 'mmap_lock', munmap: 'write' as const, cpus: 8, profile, mode: 'deterministic' as const,
  seed: 1, quantum: 10_000, vcycles: 4_000_000, loops: 1, workers: 1,
});

describe('cpuidle exit latency', () => {
  it('sleepers in the wait list pay their idle state\'s exit latency; a profile without idle states pays none', async () => {
    const hsw = await runPoint(point('intel-hsw-2s'));
    const none = await runPoint(point(withoutIdleStates(loadProfile('intel-hsw-2s'))));
    expect(hsw.ok, hsw.error ?? '').toBe(true);
    expect(none.ok, none.error ?? '').toBe(true);
    expect(none.stats.rwsem_sleep).toBeGreaterThan(0);
    expect(none.stats.cpuidle_exit_cycles).toBe(0);
    expect(hsw.stats.cpuidle_exit_cycles).toBeGreaterThan(0);
    // at least C1's 2 us (5,200 cycles at 2.6 GHz) per sleeper woken, never more than C6's 133 us each
    const woken = hsw.stats.rwsem_sleep + hsw.stats.ipi_received;
    expect(hsw.stats.cpuidle_exit_cycles).toBeLessThanOrEqual(woken * 345_800);
    expect(hsw.opsPerVirtualSec!).toBeLessThan(none.opsPerVirtualSec!);
  });
});
