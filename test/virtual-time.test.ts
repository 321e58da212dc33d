import { describe, it, expect } from 'vitest';
import { Machine, type Engine, type Mode } from '../src/machine.js';
import { layoutConsts } from '../src/wasm.js';

/** one modeled line (its metadata) and the 8-byte counter after it */
const LINE_BYTES = layoutConsts().LM_SIZE + 8;

// Contention is modeled in virtual time, not measured on the host: the same
// shapes must come out on this 2-core machine at 1..32 emulated CPUs.

const NS = [1, 2, 4, 8, 16, 32];

/** ops per virtual cycle of N CPUs doing atomic increments on one shared line or on private lines */
async function atomicRate(cpus: number, shared: boolean, mode: Mode, iters: number, engine: Engine = 'mn') {
  const m = new Machine({ cpus, mode, engine, scratchBytes: LINE_BYTES, watchdogMs: 30_000 });
  const one = m.hostAlloc(LINE_BYTES);
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

/** lock-protected increments: ops per virtual kcycle */
async function lockRate(cpus: number, mode: Mode, iters: number, seed = 1, engine: Engine = 'mn') {
  const m = new Machine({ cpus, mode, seed, engine, watchdogMs: 30_000 });
  const lock = m.hostAlloc(m.C.SL_SIZE);
  const counter = m.hostAlloc(16);
  m.host.core.spin_lock_init(lock, m.C.LOCK_CLASS_GENERIC);
  const r = await m.run(() => ({ program: 'lockInc', args: { lock, counter, iters } }));
  expect(r.error).toBeUndefined();
  const maxClock = r.clocks.reduce((a, b) => (a > b ? a : b));
  return { rate: (cpus * iters * 1000) / Number(maxClock), m, r };
}

/** page_fault1-like: each CPU mmaps 4 MiB, writes every page, munmaps; faults per virtual kcycle */
async function faultRate(cpus: number, mode: Mode, strategy: number, engine: Engine = 'mn') {
  const m = new Machine({ cpus, mode, strategy, engine, frames: 16384 * cpus, watchdogMs: 30_000 });
  const r = await m.run(() => ({ program: 'pageFault', args: { kind: 0, size: 4 << 20, maxIters: 1500 } }));
  expect(r.error).toBeUndefined();
  const maxClock = r.clocks.reduce((a, b) => (a > b ? a : b));
  return (cpus * 1500 * 1000) / Number(maxClock);
}

// Measured on the idle 2-core host (see README): page faults agree within
// ~5% at 4 CPUs and ~20% at 8; one hammered line within ~15%. A hammered
// spinlock is NOT asserted: parallel mode was 35-65% optimistic there (its
// lock model lets a CPU that runs behind in virtual time take a lock whose
// previous section lies in its future); the numbers are printed. With
// the host loaded (load average 7 on 2 cores) page faults at 4 CPUs were seen
// 37% off: host scheduling leaks into parallel mode; deterministic mode is the
// reference. The tolerances below cover the idle-host measurements, made
// with one host thread per CPU (the threads engine). The M:N engine (2
// workers of n/2 CPUs, each worker running its CPUs up to a quantum apart) was
// measured 13-41% pessimistic on page faults at 8 CPUs (1.00-1.47 vs 1.69
// faults/kcycle over eight runs) and 1-19% at 4 (2026-12-01): it moves with
// host timing between the 2 workers (shootdown acks come at the clock of a
// target that may run up to two quanta ahead); its tolerance is 50%, a known
// weakness (README "Virtual time"). On the hammered line it was
// 7-38% optimistic (7.86-10.16 vs 7.36 increments per kcycle, also with a
// quarter-quantum slack inside the worker: it comes from the bucket rule
// between workers); tolerance 45%.
// At 64 CPUs it agrees within 10% (test/engine.test.ts).
describe.each([['threads', 0.3, 0.3], ['mn', 0.5, 0.45]] as [Engine, number, number][])('parallel (%s engine) and deterministic modes agree', (engine, tol, lineTol) => {
  it(`on page faults (${tol * 100}%) and one shared line (${lineTol * 100}%); a contended lock is reported`, async () => {
    for (const n of [4, 8]) {
      const fp = await faultRate(n, 'parallel', 1, engine);
      const fd = await faultRate(n, 'deterministic', 1);
      const p = (await lockRate(n, 'parallel', 1500, 1, engine)).rate;
      const d = (await lockRate(n, 'deterministic', 300)).rate;
      const ap = await atomicRate(n, true, 'parallel', 3000, engine);
      const ad = await atomicRate(n, true, 'deterministic', 300);
      console.log(`mode agreement (${engine}) n=${n}: page faults ${fp.toFixed(3)} vs ${fd.toFixed(3)} faults/kcycle; lock ${p.toFixed(2)} vs ${d.toFixed(2)} ops/kcycle; shared line ${(ap * 1000).toFixed(2)} vs ${(ad * 1000).toFixed(2)}`);
      expect(Math.abs(fp - fd) / fd).toBeLessThan(tol);
      expect(Math.abs(ap - ad) / ad).toBeLessThan(lineTol);
      // the lock: parallel is optimistic, never pessimistic
      expect(p).toBeGreaterThan(0.9 * d);
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
