import { describe, it, expect } from 'vitest';
import { runPoint } from '../../src/experiment.js';

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
