// Worker threads kept between runs (src/node/platform.ts leasePool): a run hands its pool back
// when every worker returned, the next run of the same worker count takes it, two runs at once
// never share one (their workers meet at a rendezvous), and a kept pool serves correctly after a
// run whose CPU failed.
import { describe, it, expect, afterAll } from 'vitest';
import { Machine } from '../../src/machine.js';
import { closeIdlePools, keptPools } from '../../src/node/platform.js';
import { LINE_BYTES } from '../../bench/agreement.js';

/** private-line increments on every CPU; checks the sum, returns the run */
async function increments(cpus: number, workers: number, iters = 2000) {
  const m = new Machine({ cpus, workers, scratchBytes: LINE_BYTES, watchdogMs: 30_000 });
  const r = await m.run((cpu) => ({ program: 'atomicInc', args: { line: m.scratch(cpu), ctr: m.scratch(cpu) + m.C.LM_SIZE, iters } }));
  expect(r.ok, r.error).toBe(true);
  const total = [...Array(cpus).keys()].reduce((s, c) => s + m.u64(m.scratch(c) + m.C.LM_SIZE), 0n);
  expect(total).toBe(BigInt(cpus * iters));
  return r;
}

afterAll(() => closeIdlePools());

describe('worker threads kept between runs', () => {
  it('a run hands its pool back and the next run of the same worker count takes it', async () => {
    await closeIdlePools();
    expect(keptPools(2)).toBe(0);
    await increments(8, 2);
    expect(keptPools(2)).toBe(1);
    await increments(16, 2);
    expect(keptPools(2)).toBe(1); // taken and handed back, not a second one
    await increments(4, 1);
    expect(keptPools(1)).toBe(1);
    expect(keptPools(2)).toBe(1);
  });

  it('two runs at once each get a pool of their own, and both finish', async () => {
    await closeIdlePools();
    await Promise.all([increments(8, 2, 5000), increments(8, 2, 5000), increments(4, 2, 5000)]);
    expect(keptPools(2)).toBe(3);
  });

  it('after a run whose CPU failed, the kept pool runs the next machine correctly', async () => {
    await closeIdlePools();
    const m = new Machine({ cpus: 4, workers: 2, watchdogMs: 30_000 });
    const r = await m.run((cpu) => ({ program: cpu === 1 ? 'no-such-program' : 'atomicInc', args: { line: m.hostAlloc(LINE_BYTES), ctr: 0, iters: 0 } }));
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/unknown program "no-such-program"/);
    expect(keptPools(2)).toBe(1);
    await increments(8, 2);
    expect(keptPools(2)).toBe(1);
  });

  it('closeIdlePools ends the kept threads; the next run starts new ones', async () => {
    await increments(4, 2);
    expect(keptPools(2)).toBeGreaterThan(0);
    await closeIdlePools();
    expect(keptPools(2)).toBe(0);
    await increments(4, 2);
    expect(keptPools(2)).toBe(1);
  });
});
