import { describe, it, expect } from 'vitest';
import { Machine } from '../../src/machine.js';

// Concurrency claims of the primitives on real worker threads (more workers
// than the 2 host cores): exact counts with the lock, lost updates without.

async function lockInc(cpus: number, iters: number, flags = 0, mode: 'parallel' | 'deterministic' = 'parallel') {
  const m = new Machine({ cpus, flags, mode, watchdogMs: 20_000 });
  const lock = m.hostAlloc(m.C.SL_SIZE);
  const counter = m.hostAlloc(16);
  m.host.core.spin_lock_init(lock, m.C.LOCK_CLASS_GENERIC);
  const r = await m.run(() => ({ program: 'lockInc', args: { lock, counter, iters } }));
  return { m, r, count: m.u64(counter) };
}

describe('ticket spinlock', () => {
  for (const cpus of [1, 2, 4, 8]) {
    it(`${cpus} worker(s): every locked increment lands`, async () => {
      const { m, r, count } = await lockInc(cpus, 3000);
      expect(r.error).toBeUndefined();
      expect(count).toBe(BigInt(cpus * 3000));
      expect(m.stats().generic_acquire).toBe(BigInt(cpus * 3000));
    });
  }

  // Deterministic mode, so neither result depends on host timing: the critical
  // section has a scheduling point between its read and its write
  // (assembly/workloads.ts wl_lock_inc), where a CPU with a lower clock runs.
  it('control: without the lock, increments are lost (so the tests above can fail)', async () => {
    const { r, count } = await lockInc(4, 2000, 1 /* FLAG_NO_LOCK */, 'deterministic');
    expect(r.ok).toBe(true);
    expect(count).toBeLessThan(8000n);
    // the same run with the lock loses nothing
    const locked = await lockInc(4, 2000, 0, 'deterministic');
    expect(locked.count).toBe(8000n);
  });

  it('deterministic mode: exact count and identical clocks across runs', async () => {
    const a = await lockInc(4, 500, 0, 'deterministic');
    const b = await lockInc(4, 500, 0, 'deterministic');
    expect(a.r.error).toBeUndefined();
    expect(a.count).toBe(2000n);
    expect(a.r.clocks).toEqual(b.r.clocks);
    expect(a.m.stats()).toEqual(b.m.stats());
  });
});

describe('rwsem (mmap_lock)', () => {
  for (const cpus of [1, 2, 4, 8]) {
    it(`${cpus} worker(s): writers exclusive, every read and write counted`, async () => {
      const m = new Machine({ cpus, watchdogMs: 20_000 });
      const sem = m.hostAlloc(m.C.RW_SIZE);
      const counter = m.hostAlloc(16);
      m.host.core.rwsem_init(sem, m.C.LOCK_CLASS_MMAP_READ);
      const r = await m.run(() => ({ program: 'rwsemMix', args: { sem, counter, iters: 2000, writePct: 20 } }));
      expect(r.error).toBeUndefined();
      const s = m.stats();
      expect(m.u64(counter)).toBe(s.mmap_write_acquire);
      expect(BigInt(m.u32(counter + 8))).toBe(s.mmap_read_acquire);
      expect(s.mmap_read_acquire + s.mmap_write_acquire).toBe(BigInt(cpus * 2000));
      expect(m.i32(sem)).toBe(0);
    });
  }
});

describe('frame allocator under concurrency', () => {
  for (const cpus of [1, 2, 4, 8]) {
    it(`${cpus} worker(s): no frame handed out twice, none leaked`, async () => {
      const m = new Machine({ cpus, frames: 4096, scratchBytes: 4 * 64, watchdogMs: 20_000 });
      const free0 = m.host.core.nr_free_frames();
      const r = await m.run((cpu) => ({ program: 'frameChurn', args: { iters: 4000, hold: 64, scratch: m.scratch(cpu) } }));
      expect(r.error).toBeUndefined();
      expect(r.cpus.map((c) => c.value)).toEqual(Array(cpus).fill(0));
      expect(m.host.core.nr_free_frames()).toBe(free0);
      const s = m.stats();
      expect(s.frame_alloc).toBe(s.frame_free);
      expect(s.frame_alloc).toBeGreaterThan(BigInt(cpus * 1000));
    });
  }
});

// The seam for shared words (assembly/shared.ts): in the test core, an access to
// a word its line's *_WORDS (assembly/layout.ts) does not list traps.
describe('the seam for shared words traps on a word outside its line (test core)', () => {
  const m = new Machine({ cpus: 1, core: 'test' });
  const core = m.host.core;
  const C = m.C;
  const lock = m.hostAlloc(C.SL_SIZE);
  core.spin_lock_init(lock, C.LOCK_CLASS_GENERIC);

  it('a word of the line is read; the line metadata and a word past it are refused', () => {
    expect(core.shared_probe(0, lock, C.SL_SERVING)).toBe(0);
    expect(() => core.shared_probe(0, lock, C.SL_LINE)).toThrow(/outside the modelled line/);
    expect(() => core.shared_probe(0, lock, C.SL_HOLD + 2)).toThrow(/outside the modelled line/); // straddles the end
  });

  it('the VMA line holds both of its ranges and nothing between them', () => {
    const v = m.hostAlloc(C.VMA_SIZE);
    expect(core.shared_probe(1, v, C.VMA_MPOL)).toBe(0);
    expect(core.shared_probe(1, v, C.VMA_STATE)).toBe(0);
    expect(() => core.shared_probe(1, v, C.VMA_SEQ)).toThrow(/outside the modelled line/);
    expect(() => core.shared_probe(1, v, C.VMA_MM)).toThrow(/outside the modelled line/);
  });

  it('outside words only on a line that declares LW_EXT', () => {
    const x = m.hostAlloc(64);
    expect(core.shared_probe(3, x, 0)).toBe(0);
    expect(() => core.shared_probe(2, x, 0)).toThrow(/no LW_EXT/);
  });
});
