import { describe, it, expect } from 'vitest';
import { runPoint } from '../../src/experiment.js';
import { Machine } from '../../src/machine.js';

// The rwsem's FIFO wait list and the OSQ of spinning writers (assembly/rwsem.ts):
// CPUs that all want mmap_lock for write (mmap1: mmap + munmap, munmap downgraded
// to read under pervma) take turns. Before the list, readers were refused while
// any writer waited and every waiter raced at each release: at 3 CPUs one CPU
// ran 8,035 loops and another 1,747; without the OSQ's order, two spinners
// passed the lock between them (13,819 loops each) and the third ran one.

const point = (cpus: number, strategy: string) => ({
  workload: 'mmap1', strategy, cpus, profile: 'default', mode: 'deterministic' as const, seed: 1, quantum: 10_000, vcycles: 5_000_000, loops: 1, workers: 1,
});

describe('rwsem wait list', () => {
  for (const [cpus, strategy, floor] of [[3, 'pervma', 0.9], [8, 'mmap_lock', 0.25], [8, 'spf', 0.25]] as const) {
    it(`mmap1 ${strategy} at ${cpus} CPUs: every CPU gets the lock in turn (fewest loops >= ${floor} x the most)`, async () => {
      const r = await runPoint(point(cpus, strategy));
      expect(r.ok, r.error ?? '').toBe(true);
      const loops = r.loops!.complete;
      expect(loops.length).toBe(cpus);
      const most = Math.max(...loops);
      expect(most).toBeGreaterThan(10);
      expect(Math.min(...loops), `loops per CPU ${loops.join(', ')}`).toBeGreaterThanOrEqual(floor * most);
    });
  }
});

// The rwsem follows the kernel the machine stands for (rwsem.ts rwsem_53()): a
// machine whose munmap keeps the write lock is a kernel before 4.20, whose
// rwsem-xadd.c writers never spin on readers: a writer that finds readers
// sleeps in the list at once. 5.3's writers spin on readers for up to
// rwsem_rspin_threshold() (10 us and more), longer than this loop's readers hold it.
describe('rwsem by kernel', () => {
  async function mix(munmap: 'write' | 'downgrade') {
    const m = new Machine({ cpus: 4, mode: 'deterministic', strategy: 0, settings: { munmap }, watchdogMs: 20_000 });
    const sem = m.hostAlloc(m.C.RW_SIZE);
    const counter = m.hostAlloc(16);
    m.host.core.rwsem_init(sem, m.C.LOCK_CLASS_MMAP_READ);
    const r = await m.run(() => ({ program: 'rwsemMix', args: { sem, counter, iters: 2000, writePct: 20 } }));
    expect(r.error).toBeUndefined();
    return m.stats();
  }
  it('writers behind readers sleep at once before 5.3 (--munmap write), spin on them under 5.3+', async () => {
    const old = await mix('write');
    const v53 = await mix('downgrade');
    expect(old.mmap_write_acquire).toBe(v53.mmap_write_acquire);
    expect(old.rwsem_sleep, `sleeps: before 5.3 ${old.rwsem_sleep}, 5.3+ ${v53.rwsem_sleep}`).toBeGreaterThan(v53.rwsem_sleep);
  });
});

// Wake order (rwsem.ts wake_order()): the readers one release grants are woken one
// after another (wake_up_q(): a try_to_wake_up(), and for a halted CPU a reschedule
// IPI, each), so the k-th of them waits k IPI sends more than the first. With two
// CPUs at most one sleeper waits behind the other's release: every rank is 0.
describe('rwsem wake order', () => {
  async function mix(cpus: number) {
    const m = new Machine({ cpus, mode: 'deterministic', strategy: 0, settings: { munmap: 'write' }, watchdogMs: 20_000 });
    const sem = m.hostAlloc(m.C.RW_SIZE);
    const counter = m.hostAlloc(16);
    m.host.core.rwsem_init(sem, m.C.LOCK_CLASS_MMAP_READ);
    const r = await m.run(() => ({ program: 'rwsemMix', args: { sem, counter, iters: 2000, writePct: 20 } }));
    expect(r.error).toBeUndefined();
    return { stats: m.stats(), send: m.profile.cycles.ipi_send! };
  }
  it('readers granted together reach the lock one IPI send apart; none with a single sleeper', async () => {
    const two = await mix(2);
    expect(Number(two.stats.rwsem_sleep)).toBeGreaterThan(0);
    expect(Number(two.stats.rwsem_wake_order_cycles)).toBe(0);
    const four = await mix(4);
    const order = Number(four.stats.rwsem_wake_order_cycles);
    expect(four.send).toBeGreaterThan(0);
    expect(order).toBeGreaterThan(0);
    // whole sends only, and at most two ahead of any reader (three other CPUs)
    expect(order % four.send).toBe(0);
    expect(order).toBeLessThanOrEqual(2 * four.send * Number(four.stats.rwsem_sleep));
  });
});
