import { describe, it, expect } from 'vitest';
import { Machine, type Mode } from '../../src/machine.js';

// TLB shootdown correctness: after flush_tlb_mm_range() returns, no CPU's TLB
// holds the invalidated translation (randomized rounds, 8+ CPUs on 2 cores).

async function rounds(cpus: number, mode: Mode, n: number, seed = 1) {
  const m = new Machine({ cpus, mode, seed, watchdogMs: 30_000 });
  const nvpn = 32;
  const gens = m.hostAlloc(nvpn * 4);
  const r = await m.run(() => ({ program: 'shootdownRounds', args: { base: 0x10000, nvpn, gens, rounds: n } }));
  return { m, r };
}

describe('TLB shootdown', () => {
  for (const [cpus, mode, n] of [[8, 'parallel', 1500], [16, 'parallel', 600], [8, 'deterministic', 300]] as [number, Mode, number][]) {
    it(`${cpus} CPUs, ${mode}: no stale translation survives a completed shootdown`, async () => {
      const { m, r } = await rounds(cpus, mode, n);
      expect(r.error).toBeUndefined();
      const s = m.stats();
      expect(s.shootdown_remote).toBeGreaterThan(BigInt(cpus * n / 8));
      // every IPI was taken, except those cancelled because their target had finished
      expect(s.ipi_received).toBeLessThanOrEqual(s.ipi_sent);
      expect(s.ipi_received).toBeGreaterThan(s.ipi_sent - BigInt(cpus * cpus));
      expect(r.cpus.reduce((t, c) => t + Number(c.value), 0)).toBe(0);
    });
  }

  it('control: the same check sees stale entries when the IPIs are skipped (so it can fail)', async () => {
    const m = new Machine({ cpus: 8, watchdogMs: 30_000 });
    const gens = m.hostAlloc(32 * 4);
    const r = await m.run(() => ({ program: 'shootdownRounds', args: { base: 0x10000, nvpn: 32, gens, rounds: 600, localOnly: 1 } }));
    expect(r.error).toBeUndefined();
    expect(r.cpus.reduce((t, c) => t + Number(c.value), 0)).toBeGreaterThan(0);
  });
});
