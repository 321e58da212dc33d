import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Machine } from '../../src/machine.js';
import { stressMachine } from '../../src/stress.js';
import { formatViolations } from '../../src/checker.js';
import { layoutConsts } from '../../src/wasm.js';
import { runScripts, dumpLeaves, ANON, MAP_FIXED, PAGE } from '../support/fault-util.js';

// Work stealing (issue 24, assembly/steal.ts): a worker with none of its own
// CPUs runnable runs another worker's. The test core's FLAG_STEAL_EAGER makes
// every worker offer all its runnable CPUs and steal before it runs its own, so
// CPUs change worker at nearly every park, in the middle of faults; with
// FLAG_NO_SAFETY_NET a lost wake-up is not papered over by the 20 ms safety
// timeout: the run would hang until the watchdog stops it.

const ROOT = join(__dirname, '..', '..');
const C = layoutConsts();
const EAGER = C.FLAG_STEAL_EAGER | C.FLAG_NO_SAFETY_NET;

describe('a CPU can run on any worker: no per-CPU state in module globals', () => {
  // Wasm globals are per instance; a CPU resumed by another worker's instance sees that
  // instance's. Every mutable global of the core is listed here with why it may stay one
  // (steal.ts): a new one fails this test until someone decides which kind it is.
  const PER_WORKER = ['runq/WK', 'runq/FIRST', 'runq/COUNT', 'runq/RQ', 'runq/QUANTUM', 'runq/SLACK', 'runq/LIVE', 'runq/HEAP_N',
    'runq/HOST_SETUP', 'runq/STEAL', 'coroutine/REWINDING', 'coroutine/UNWOUND',
    'steal/ME', 'steal/NW', 'steal/EAGER', 'steal/HUNGRY', 'steal/OUT', 'steal/MAYBE_OFFERED'];
  const MACHINE_WIDE = ['cpu/NCPUS', 'cpu/NCPU_WORDS', 'cpu/TLB_OFF', 'cpu/DETERMINISTIC', 'cpu/COSTS', 'cpu/OBS', 'cpu/OBS_CPU0',
    'cpu/OBS_STRIDE', 'cpu/NVCPUS', 'cpu/RUNQ', 'coroutine/CALLS', 'coroutine/NCALLS'];
  const SET_AT_EVERY_SWITCH = ['cpu/PC'];
  for (const file of ['faultline.wat', 'faultline-test.wat', 'faultline-observe.wat']) {
    it(`${file}: every mutable global is per worker, machine-wide or the current-CPU pointer`, () => {
      const wat = readFileSync(join(ROOT, 'build', file), 'utf8');
      const globals = [...wat.matchAll(/^\s*\(global \$([^\s]+) \(mut/gm)].map((m) => m[1].replace(/^assembly\//, ''))
        .filter((g) => g !== '~lib/rt/stub/offset'); // the stub allocator's bump pointer: the core allocates nothing at run time
      expect(globals.length).toBeGreaterThan(10);
      const known = new Set([...PER_WORKER, ...MACHINE_WIDE, ...SET_AT_EVERY_SWITCH]);
      expect(globals.filter((g) => !known.has(g))).toEqual([]);
    });
  }
});

describe('work stealing, forced at every park (FLAG_STEAL_EAGER, no safety net)', () => {
  it('32 CPUs on 2 workers fault one shared region: every page faulted once, mapped once, while CPUs moved mid-fault', async () => {
    const cpus = 32, per = 128, base = 0x10000000;
    // how many steals land inside a fault depends on host timing: a steal needs both workers'
    // threads on a host core at once, which a loaded host grants seldom (at load 11-17, one run of
    // the file in five had three tries with none). Every run is checked in full, and one of up to ten must have
    // moved a CPU mid-fault. Mid-call steals are as host-bound (CI once saw a run with 15 slices stolen,
    // none mid-call, at load ~5): counted over the runs, like the mid-fault ones
    let midFault = 0;
    let midCall = 0;
    for (let run = 0; run < 10 && midFault === 0; run++) {
      const r = await runScripts({ cpus, mode: 'parallel', engine: 'mn', workers: 2, steal: true, strategy: 1, flags: EAGER, watchdogMs: 20_000, frames: 8192 }, (flags) =>
        [...Array(cpus).keys()].map((cpu) => [
          ...(cpu === 0 ? [{ op: 'mmap', addr: base, len: cpus * per * PAGE, flags: ANON | MAP_FIXED }, { op: 'set', flag: flags[0] }] : [{ op: 'wait', flag: flags[0] }]),
          // CPU i writes pages i, i + 32, ...: every CPU faults in the same PTE tables (the PTL, the zone lock)
          { op: 'touch', addr: base + cpu * PAGE, len: cpus * per * PAGE, stride: cpus * PAGE, write: 1 },
        ]));
      expect(r.error).toBeUndefined();
      expect(r.ok).toBe(true);
      for (let cpu = 0; cpu < cpus; cpu++) expect(r.out[cpu].at(-1)).toBe(per); // each of its pages faulted once
      expect(Number(r.stats.fault)).toBe(cpus * per);
      const leaves = dumpLeaves(r.m);
      expect(leaves.length).toBe(cpus * per);
      expect(new Set(leaves.map((l) => l.entry >> 12n)).size).toBe(cpus * per); // distinct frames
      const e = r.m.engineStats();
      console.log(`steal: ${e.steals} slices stolen, ${e.stealsMidCall} mid-call, ${e.stealsMidFault} mid-fault, ${e.switches} switches, ${e.safetyTimeouts} safety timeouts`);
      midCall += e.stealsMidCall;
      midFault = e.stealsMidFault;
    }
    expect(midCall).toBeGreaterThan(0);
    expect(midFault).toBeGreaterThan(0);
  });

  for (const strategy of ['spf', 'pervma', 'mmap_lock'] as const) {
    it(`stress, 32 CPUs on 2 workers, ${strategy}: the invariant checker finds nothing`, async () => {
      const { result: r, machine: m } = await stressMachine({ cpus: 32, strategy, seed: 3, ops: 200, mode: 'parallel', engine: 'mn', workers: 2, steal: true, flags: EAGER });
      const e = m.engineStats();
      console.log(`stress ${strategy} x32 eager: ${r.stats.ops} ops, ${r.stats.faults} faults, ${r.violations.length} violation(s); ` +
        `${e.steals} steals, ${e.stealsMidCall} mid-call, ${e.stealsMidFault} mid-fault, ${e.safetyTimeouts} safety timeouts, ${Math.round(r.wallMs)} ms`);
      expect(r.error).toBeUndefined();
      expect(formatViolations(r.violations)).toBe('');
      expect(r.ok).toBe(true);
      expect(r.stats.ops).toBe(31 * 200); // CPU 31 is the userfaultfd handler
      expect(e.stealsMidFault).toBeGreaterThan(0);
    });
  }
});

describe('work stealing as it runs when asked (steal: true; a worker steals only when none of its own CPUs can run)', () => {
  it('64 CPUs on 2 workers, one hammered lock: every increment lands, no wake-up lost (no safety net)', async () => {
    const m = new Machine({ cpus: 64, workers: 2, steal: true, flags: C.FLAG_NO_SAFETY_NET, watchdogMs: 20_000 });
    const lock = m.hostAlloc(m.C.SL_SIZE);
    const counter = m.hostAlloc(16);
    m.host.core.spin_lock_init(lock, m.C.LOCK_CLASS_GENERIC);
    const r = await m.run(() => ({ program: 'lockInc', args: { lock, counter, iters: 200 } }));
    expect(r.error).toBeUndefined();
    expect(m.u32(counter)).toBe(64 * 200);
  });

  it('stress, 64 CPUs on 2 workers (spf): clean, no safety net', async () => {
    const { result: r, machine: m } = await stressMachine({ cpus: 64, strategy: 'spf', seed: 4, ops: 150, mode: 'parallel', engine: 'mn', workers: 2, steal: true, flags: C.FLAG_NO_SAFETY_NET });
    const e = m.engineStats();
    console.log(`stress spf x64: ${r.stats.ops} ops, ${r.violations.length} violation(s); ${e.steals} steals, ${e.stealsMidFault} mid-fault, ${Math.round(r.wallMs)} ms`);
    expect(r.error).toBeUndefined();
    expect(formatViolations(r.violations)).toBe('');
    expect(r.ok).toBe(true);
  });

  it('stealing only when asked, and only where it can run: never in deterministic mode (one worker) or on the threads engine', async () => {
    const on = (cfg: ConstructorParameters<typeof Machine>[0]) => { const m = new Machine(cfg); return m.u32(m.C.HDR_BASE + m.C.H_STEAL); };
    expect(on({ cpus: 8, workers: 2 })).toBe(0); // default off (README "Emulator speed": slower on 2 host cores)
    expect(on({ cpus: 8, workers: 2, steal: true })).toBe(1);
    expect(on({ cpus: 8, mode: 'deterministic', steal: true })).toBe(0);
    expect(on({ cpus: 4, engine: 'threads', steal: true })).toBe(0);
    expect(on({ cpus: 8, workers: 1, steal: true })).toBe(0);
    expect(() => new Machine({ cpus: 8, steal: 'yes' as unknown as boolean })).toThrow(/steal must be true or false/);
  });
});
