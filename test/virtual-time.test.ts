import { describe, it, expect } from 'vitest';
import { Machine, type Mode } from '../src/machine.js';

// Contention is modeled in virtual time, not measured on the host: the same
// shapes must come out on this 2-core machine at 1..32 emulated CPUs.

const NS = [1, 2, 4, 8, 16, 32];

/** ops per virtual cycle of N CPUs doing atomic increments on one shared line or on private lines */
async function atomicRate(cpus: number, shared: boolean, mode: Mode, iters: number) {
  const m = new Machine({ cpus, mode, scratchBytes: 64, watchdogMs: 30_000 });
  const one = m.hostAlloc(64);
  const r = await m.run((cpu) => {
    const obj = shared ? one : m.scratch(cpu);
    return { program: 'atomicInc', args: { line: obj, ctr: obj + m.C.LM_SIZE, iters } };
  });
  expect(r.error).toBeUndefined();
  const total = shared ? m.u64(one + m.C.LM_SIZE) : [...Array(cpus).keys()].reduce((s, c) => s + m.u64(m.scratch(c) + m.C.LM_SIZE), 0n);
  expect(total).toBe(BigInt(cpus * iters));
  const maxClock = r.clocks.reduce((a, b) => (a > b ? a : b));
  return Number(total) / Number(maxClock);
}

describe.each([['parallel', 3000], ['deterministic', 300]] as [Mode, number][])('%s mode', (mode, iters) => {
  it('private lines scale linearly, one shared line flattens', async () => {
    const priv: number[] = [];
    const shared: number[] = [];
    for (const n of NS) {
      priv.push(await atomicRate(n, false, mode, iters));
      shared.push(await atomicRate(n, true, mode, iters));
    }
    console.log(mode, 'ops/kcycle private', priv.map((x) => (x * 1000).toFixed(1)).join(' '), '| shared', shared.map((x) => (x * 1000).toFixed(1)).join(' '));
    expect(priv[NS.indexOf(32)]).toBeGreaterThanOrEqual(25 * priv[0]);
    expect(shared[NS.indexOf(32)]).toBeLessThanOrEqual(2 * shared[NS.indexOf(2)]);
    // one shared line is bounded by one transfer + RMW per op
    expect(shared[NS.indexOf(32)]).toBeLessThan(priv[NS.indexOf(32)] / 10);
  });
});
