import { describe, it, expect } from 'vitest';
import { runPoint, type PointResult } from '../../src/experiment.js';

// A guest run queue (assembly/vcpu.ts): ebizzy runs its default 2 threads per
// CPU as tasks sharing the CPUs (task t on CPU t % cpus). The timeline records
// each task's runs on its CPU ("on CPU v" spans with their exact cycles); from
// it: two tasks of one CPU never run in overlapping virtual time, a task gives
// its CPU up only by sleeping, by a counted preemption (never before CFS's
// minimum granularity) or by ending; the shootdown IPIs go to the task that
// runs on a CPU.

interface Ev { name: string; ph: string; tid: number; ts: number; dur?: number; cat?: string; args?: Record<string, unknown> }

const CPUS = 4;
const point = (strategy: string, mode: 'deterministic' | 'parallel') => ({
  workload: 'ebizzy-mTRp', strategy, munmap: 'write' as const, cpus: CPUS, profile: 'kvm-hsw-16vcpu', mode,
  seed: 3, quantum: 10_000, vcycles: 3_000_000, loops: 1, ...(mode === 'deterministic' ? { workers: 1 } : {}),
  observe: { trace: { maxEventsPerCpu: 400_000 } },
});

interface Run { task: number; cpu: number; start: number; end: number; left: string }

function runsOf(r: PointResult): Run[] {
  const evs = (r.trace!.traceEvents as unknown as Ev[]).filter((e) => e.cat === 'sched');
  return evs.map((e) => ({ task: e.tid, cpu: e.args!.cpu as number, start: e.args!.startCycles as number, end: e.args!.endCycles as number, left: e.args!.left as string }));
}

function overlaps(runs: Run[]): string[] {
  const out: string[] = [];
  for (let v = 0; v < CPUS; v++) {
    const mine = runs.filter((x) => x.cpu === v).sort((a, b) => a.start - b.start || a.end - b.end);
    for (let i = 1; i < mine.length; i++) {
      const a = mine[i - 1], b = mine[i];
      if (b.start < a.end) out.push(`CPU ${v}: task ${b.task} runs from ${b.start} while task ${a.task} runs until ${a.end}`);
    }
  }
  return out;
}

describe('guest run queue (more tasks than CPUs)', () => {
  for (const mode of ['deterministic', 'parallel'] as const) {
    it(`${mode}: ebizzy's 2 threads per CPU run as tasks that never overlap on their CPU`, async () => {
      const r = await runPoint(point('mmap_lock', mode));
      expect(r.ok, r.error ?? '').toBe(true);
      expect(r.params.threads).toBe(2 * CPUS);
      expect(r.cpus).toBe(CPUS);
      expect(r.clocks.length).toBe(2 * CPUS);
      const runs = runsOf(r);
      for (const x of runs) {
        expect(x.cpu).toBe(x.task % CPUS);
        expect(x.end).toBeGreaterThanOrEqual(x.start);
      }
      // every task ran, and CPUs changed hands
      expect(new Set(runs.map((x) => x.task)).size).toBe(2 * CPUS);
      expect(r.stats.vcpu_switch).toBeGreaterThan(0);
      expect(overlaps(runs)).toEqual([]);
    }, 300_000);
  }

  it('a woken task runs only after its sibling slept, ended or was preempted (its slice used, or a counted wake-up preemption)', async () => {
    const r = await runPoint(point('spf', 'deterministic'));
    expect(r.ok, r.error ?? '').toBe(true);
    const runs = runsOf(r);
    const left = (x: Run) => x.left;
    // every thread ends once, in its last run; the preemptions are the counted ones
    for (let t = 0; t < 2 * CPUS; t++) {
      const mine = runs.filter((x) => x.task === t).sort((a, b) => a.start - b.start);
      expect(mine.filter((x) => left(x) === 'exit').length, `task ${t}`).toBe(1);
      expect(left(mine[mine.length - 1])).toBe('exit');
    }
    expect(runs.filter((x) => left(x) === 'preempted (tick)').length).toBe(r.stats.vcpu_preempt_tick);
    expect(runs.filter((x) => left(x) === 'preempted (wake-up)').length).toBeLessThanOrEqual(r.stats.vcpu_preempt_wakeup);
    // CFS at 4 CPUs (factor 1 + ilog2(4) = 3): min granularity 0.75 ms x 3; a tick preemption never comes earlier
    const minGran = 750 * 3 * r.ghz * 1000;
    let handovers = 0;
    for (let v = 0; v < CPUS; v++) {
      const mine = runs.filter((x) => x.cpu === v).sort((a, b) => a.start - b.start || a.end - b.end);
      for (let i = 1; i < mine.length; i++) {
        const a = mine[i - 1], b = mine[i];
        if (a.task === b.task) continue;
        handovers++;
        expect(b.start).toBeGreaterThanOrEqual(a.end);
        expect(['sleep', 'exit', 'preempted (tick)', 'preempted (wake-up)']).toContain(left(a));
        if (left(a) === 'preempted (tick)') {
          // its whole turn on the CPU (runs split by a tick with nobody queued are contiguous)
          let from = a.start;
          for (let k = i - 2; k >= 0 && mine[k].task === a.task && mine[k].end === from; k--) from = mine[k].start;
          expect(a.end - from).toBeGreaterThanOrEqual(minGran);
        }
      }
    }
    expect(handovers).toBeGreaterThan(0);
    // a woken task waited for its CPU while its sibling ran
    expect(r.stats.vcpu_queued_cycles).toBeGreaterThan(0);
  }, 300_000);

  it('a task that never sleeps is preempted at a tick once its slice is used, and its sibling runs', async () => {
    // one CPU, ebizzy -mT's two threads under SPF: the lone running task never contends (nothing to sleep
    // on), so only check_preempt_tick hands the CPU over. CFS at 1 CPU (factor 1): sched_latency 6 ms,
    // slice 3 ms each, min granularity 0.75 ms; 40 M cycles are ~18 ms at 2.3 GHz: several turns each
    const r = await runPoint({ workload: 'ebizzy-mT', strategy: 'spf', munmap: 'write', cpus: 1, profile: 'kvm-hsw-16vcpu',
      mode: 'deterministic', workers: 1, seed: 1, quantum: 10_000, vcycles: 40_000_000, loops: 1,
      observe: { trace: { maxEventsPerCpu: 400_000 } } });
    expect(r.ok, r.error ?? '').toBe(true);
    expect(r.clocks.length).toBe(2);
    expect(r.stats.vcpu_preempt_tick).toBeGreaterThanOrEqual(2);
    const runs = runsOf(r).sort((a, b) => a.start - b.start);
    const ticks = runs.filter((x) => x.left === 'preempted (tick)');
    expect(ticks.length).toBe(r.stats.vcpu_preempt_tick);
    // both tasks got turns, and a turn cut by a tick lasted at least a slice (3 ms) minus one record
    expect(new Set(ticks.map((x) => x.task)).size).toBe(2);
    const slice = 3000 * r.ghz * 1000;
    for (const x of ticks) expect(x.end - x.start).toBeGreaterThan(slice / 2);
    expect(overlaps(runs)).toEqual([]);
  }, 300_000);

  it('a shootdown interrupts the task that runs on a CPU, never a task off its CPU whose sibling runs there', async () => {
    const r = await runPoint(point('spf', 'deterministic'));
    expect(r.ok, r.error ?? '').toBe(true);
    expect(r.stats.vcpu_ipi_sibling).toBeGreaterThan(0);
    expect(r.stats.ipi_received).toBeGreaterThan(0);
    const runs = runsOf(r);
    const evs = r.trace!.traceEvents as unknown as Ev[];
    const ghzUs = r.ghz * 1000;
    // the IPI handlers a task ran: each inside one of its runs on its CPU, or while its CPU was idle
    // (a task that went to sleep after the initiator looked: it answers for its CPU)
    let offCpuBusy = 0;
    for (const e of evs) {
      if (e.cat !== 'ipi' || e.ph !== 'X') continue;
      const c = e.ts * ghzUs;
      const on = runs.some((x) => x.task === e.tid && x.start <= c + 1 && c <= x.end + 1);
      if (on) continue;
      const sibling = runs.some((x) => x.cpu === e.tid % CPUS && x.task !== e.tid && x.start < c - 1 && c + 1 < x.end);
      if (sibling) offCpuBusy++;
    }
    expect(offCpuBusy).toBe(0);
  }, 300_000);
});

describe('parallel mode: every strategy and both rwsems finish (every wait has its wake-up)', () => {
  // the default munmap is 4.20+'s downgrade, whose rwsem (5.3+) lets writers spin on readers: a granted reader
  // queued for its CPU must make the spinning sibling look again. (A lost wake-up there hung `run --workload
  // ebizzy-mTRp --strategy pervma --cpus 16` at its default budget, 1 run of 1; these short runs did not hit it
  // even without the fix, 5 tries: they check that parallel mode finishes, not that race.)
  for (const strategy of ['mmap_lock', 'spf', 'pervma', 'spf-mmapseq']) {
    it(`${strategy}: ebizzy-mTRp, 2 threads on each of 8 CPUs, 2 workers`, async () => {
      const r = await runPoint({ workload: 'ebizzy-mTRp', strategy, cpus: 8, profile: 'kvm-hsw-16vcpu', mode: 'parallel', workers: 2,
        seed: 1, quantum: 10_000, vcycles: 4_000_000, loops: 1 });
      expect(r.ok, r.error ?? '').toBe(true);
      expect(r.ops).toBeGreaterThan(0);
      expect(r.stats.vcpu_switch).toBeGreaterThan(0);
    }, 300_000);
  }
});

describe('one task per CPU where the benchmark runs one', () => {
  it('ebizzy-mTt (-t <cpus>) and the other workloads run one task per CPU, without the run queue', async () => {
    const r = await runPoint({ workload: 'ebizzy-mTt', strategy: 'spf', munmap: 'write', cpus: CPUS, profile: 'kvm-hsw-16vcpu', mode: 'deterministic',
      seed: 3, quantum: 10_000, vcycles: 1_000_000, workers: 1 });
    expect(r.ok, r.error ?? '').toBe(true);
    expect(r.params.threads).toBe(CPUS);
    expect(r.clocks.length).toBe(CPUS);
    expect(r.stats.vcpu_switch + r.stats.vcpu_queued_cycles + r.stats.vcpu_ipi_sibling).toBe(0);
  }, 300_000);
});
