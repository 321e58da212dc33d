import { describe, it, expect } from 'vitest';
import { Machine, type Engine, type Mode } from '../../src/machine.js';
import { atomicRate, lockRate, modeAgreement, LINE_BYTES } from '../../bench/agreement.js';

// Contention is modeled in virtual time, not measured on the host: the same
// shapes must come out on this 2-core machine at 1..32 emulated CPUs.

const NS = [1, 2, 4, 8, 16, 32];

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

// How far parallel mode comes out from the deterministic reference depends on
// the host (the interleaving between host workers is the host's): measured by
// `npm run bench` (bench/agreement.ts, quoted in README "Virtual time"), not
// asserted here. What no host can break: both modes run the same work to the
// same totals, and parallel mode stays within a factor of 2 of the reference
// (a broken barrier or a lost wake-up gives far more); a hammered lock in
// parallel mode is never pessimistic by more than that either.
describe.each([['threads'], ['mn']] as [Engine][])('parallel (%s engine) and deterministic modes', (engine) => {
  it('page faults, one shared line and a spinlock within a factor of 2', async () => {
    for (const a of await modeAgreement([engine], [4, 8])) {
      console.log(`mode agreement (${engine}) n=${a.cpus}: ${a.what} ${a.parallel.toFixed(3)} vs ${a.deterministic.toFixed(3)} per kcycle (${a.offPct.toFixed(1)}%)`);
      expect(a.parallel, `${a.what} at ${a.cpus} CPUs`).toBeGreaterThan(a.deterministic / 2);
      expect(a.parallel, `${a.what} at ${a.cpus} CPUs`).toBeLessThan(a.deterministic * 2);
    }
  });
});

describe('determinism', () => {
  it('two deterministic runs with the same seed give identical JSON', async () => {
    const run = async () => {
      const m = new Machine({ cpus: 6, mode: 'deterministic', seed: 42 });
      const lock = m.hostAlloc(m.C.SL_SIZE);
      const counter = m.hostAlloc(16);
      const sem = m.hostAlloc(m.C.RW_SIZE);
      const c2 = m.hostAlloc(16);
      m.host.core.spin_lock_init(lock, m.C.LOCK_CLASS_GENERIC);
      m.host.core.rwsem_init(sem, m.C.LOCK_CLASS_MMAP_READ);
      const r = await m.run((cpu) => cpu % 2
        ? { program: 'lockInc', args: { lock, counter, iters: 200 } }
        : { program: 'rwsemMix', args: { sem, counter: c2, iters: 200, writePct: 30 } });
      expect(r.error).toBeUndefined();
      return JSON.stringify({ clocks: r.clocks.map(String), stats: Object.fromEntries(Object.entries(m.stats()).map(([k, v]) => [k, String(v)])) });
    };
    const a = await run();
    const b = await run();
    expect(a).toBe(b);
    expect(a).toContain('det_yield');
  });

  it('a different seed gives a different interleaving', async () => {
    const a = await lockRate(4, 'deterministic', 200, 1);
    const b = await lockRate(4, 'deterministic', 200, 2);
    expect(a.r.clocks).not.toEqual(b.r.clocks);
  });
});

describe('many emulated CPUs on 2 host cores', () => {
  it('64 CPUs run to completion in parallel mode with exact virtual time on private lines', async () => {
    const m = new Machine({ cpus: 64, scratchBytes: LINE_BYTES, watchdogMs: 30_000 });
    const r = await m.run((cpu) => ({ program: 'atomicInc', args: { line: m.scratch(cpu), ctr: m.scratch(cpu) + m.C.LM_SIZE, iters: 2000 } }));
    expect(r.error).toBeUndefined();
    const rmw = BigInt(m.profile.cycles.atomic_rmw);
    for (const c of r.clocks) expect(c).toBe(2000n * rmw);
  });
});

// Parallel mode's rules on ONE worker: wake times, the slack within a worker,
// the barrier and the line model's parallel rules, without host races, so the
// numbers are the same on every host and run, and a change of those rules shows
// here before it hides in the host's spread (README "Virtual time", "Parallel
// mode's rules on one worker"). Measured 2026-12-06 (7022125), parallel /
// deterministic - 1 (released, observe and test cores alike, the same bits on
// every run and beside a CPU hog): page faults -2.1% (4 CPUs) and -11.4% (8
// CPUs: the slack with the hot-line rule); one shared line +34.5% / +30.1% and
// one spinlock +31.4% / +41.5% (the lock and line models let a CPU that runs
// behind take what a CPU ahead left in its future). Bands: 20% for faults,
// -20%..+60% for the line and the lock: a lost wake time or a broken
// barrier moves them more.
describe('parallel mode on one worker (reproducible) against deterministic mode', () => {
  it('page faults within 20%, one shared line and one spinlock within -20%..+60%', async () => {
    const rows = await modeAgreement(['mn'], [4, 8], 1);
    expect(rows.map((a) => `${a.cpus} ${a.what}`)).toEqual(['4 page faults', '4 shared line', '4 spinlock', '8 page faults', '8 shared line', '8 spinlock']);
    for (const a of rows) {
      const x = a.offPct / 100;
      console.log(`one worker, ${a.cpus} CPUs: ${a.what} ${a.offPct.toFixed(1)}%`);
      if (a.what === 'page faults') expect(Math.abs(x), `page faults at ${a.cpus} CPUs`).toBeLessThan(0.2);
      else {
        expect(x, `${a.what} at ${a.cpus} CPUs`).toBeGreaterThan(-0.2);
        expect(x, `${a.what} at ${a.cpus} CPUs`).toBeLessThan(0.6);
      }
    }
  });
});
