import { it } from 'vitest';
import { Machine } from '../src/machine.js';
it('smoke', async () => {
  for (const strategy of [0, 1, 2]) for (const cpus of [1, 4]) {
    const m = new Machine({ cpus, strategy, watchdogMs: 10000 });
    const r = await m.run(() => ({ program: 'pageFault', args: { kind: 0, size: 4 << 20, maxIters: 3000 } }));
    const s = m.stats();
    console.log(strategy, cpus, r.ok, r.error, JSON.stringify(r.cpus.map(c => c.value)), 'clock', r.clocks[0], 'faults', s.fault, 'spf ok', s.spf_success, 'fb', s.spf_fallback, 'pervma ok', s.pervma_success, 'anon', s.fault_anon, 'frees', s.frame_free, 'wall', r.wallMs.toFixed(0));
  }
});
