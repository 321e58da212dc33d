import { describe, it, expect } from 'vitest';
import { Machine, type Mode } from '../../src/machine.js';

// The deadlock SPF's pte_map_lock() avoids: CPU 0 holds a lock and waits for
// TLB-shootdown acks; CPU 1 spins for that lock with IRQs off, so it never
// takes the IPI. `relax` 0 = spin with IRQs off; N = trylock + IRQ relax, N tries.

async function scenario(mode: Mode, relax: number, watchdogMs = 1500) {
  const m = new Machine({ cpus: 2, mode, watchdogMs });
  const lock = m.hostAlloc(m.C.SL_SIZE);
  m.host.core.spin_lock_init(lock, m.C.LOCK_CLASS_PTL);
  const mm = 0; // mm index
  // mm_cpumask = {0, 1}: word 0 of the 256-bit mask, the other words empty
  for (let w = 0; w < m.C.CPUMASK_WORDS; w++) m.setU64(m.regions.mm + m.C.MM_CPUMASK + 8 * w, w === 0 ? 0b11n : 0n);
  const t0 = performance.now();
  const r = await m.run((cpu) => cpu === 0
    ? { program: 'lockThenShootdown', args: { lock, mm, other: 1 } }
    : { program: 'spinIrqOff', args: { lock, relax } });
  return { m, r, ms: performance.now() - t0 };
}

describe.each(['parallel', 'deterministic'] as Mode[])('%s mode', (mode) => {
  it('spin with IRQs off deadlocks; the watchdog reports the wait-for graph', async () => {
    const { r, ms } = await scenario(mode, 0);
    expect(r.ok).toBe(false);
    expect(ms).toBeLessThan(10_000);
    expect(r.error).toMatch(mode === 'parallel' ? /watchdog/ : /deadlock/);
    // the graph names both sides and the IRQ state
    expect(r.error).toMatch(/cpu 0 .*IRQs on.* waits for TLB-shootdown acks .*cpu 1/);
    expect(r.error).toMatch(/cpu 1 .*IRQs off.* waits for spinlock .*class ptl.* held by.* cpu 0/);
    expect(r.deadlock?.map((e) => e.holders)).toEqual([[1], [0]]);
  });

  it('trylock + IRQ relax (unbounded) completes', async () => {
    const { m, r } = await scenario(mode, 0xffffffff);
    expect(r.error).toBeUndefined();
    const s = m.stats();
    expect(s.ipi_received).toBe(1n);
    expect(s.irq_relax).toBeGreaterThan(0n);
    expect(Number(r.cpus[1].value)).toBeGreaterThan(0);
  });

  it('bounded trylock (4 tries) completes and the bounded retries are counted', async () => {
    const { m, r } = await scenario(mode, 4);
    expect(r.error).toBeUndefined();
    expect(m.stats().trylock_fail).toBeGreaterThan(0n);
    expect(Number(r.cpus[1].value)).toBeLessThanOrEqual(4);
  });
});
