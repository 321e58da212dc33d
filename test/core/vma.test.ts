import { describe, it, expect } from 'vitest';
import { layoutConsts } from '../../src/wasm.js';
import { PAGE, Vmas, vmaMachine, vmaAccounting, indexProblems, readIndex, setReader } from '../support/vma-util.js';

// Unit tests of the VMA slots, the per-mm index and RCU deferred freeing,
// driven from the host instance (CPU 0).

const C = layoutConsts();
const TOP = 0x800000000000n; // end of the 47-bit user address space
const A = 0x10000000n;

function setup(cfg = {}) {
  const m = vmaMachine(cfg);
  return { m, v: new Vmas(m) };
}

describe('layout', () => {
  it('RCU header fields fit between the VMA free list and the progress word; VMA fields inside the slot', () => {
    expect(C.H_RCU_EPOCH).toBeGreaterThanOrEqual(C.H_VMA_FREE + C.FL_SIZE);
    expect(C.H_RCU_LOCK % 8).toBe(0);
    expect(C.H_RCU_LOCK + C.SL_SIZE).toBeLessThanOrEqual(C.H_PROGRESS);
    expect(C.H_RCU_GP_TIME % 8).toBe(0);
    expect(C.H_RCU_GP_TIME + 8).toBeLessThanOrEqual(C.H_RCU_LOCK);
    // no two VMA fields overlap, all inside the slot
    const fields: [number, number][] = [[C.VMA_SEQ, C.SQ_SIZE], [C.VMA_REF, C.RC_SIZE], [C.VMA_LOCK, C.RW_SIZE],
      [C.VMA_LOCK_SEQ, 4], [C.VMA_STATE, 4], [C.VMA_GEN, 4], [C.VMA_CSUM, 4], [C.VMA_LINE, C.LM_SIZE]];
    fields.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < fields.length; i++) expect(fields[i - 1][0] + fields[i - 1][1]).toBeLessThanOrEqual(fields[i][0]);
    const last = fields[fields.length - 1];
    expect(last[0] + last[1]).toBeLessThanOrEqual(C.VMA_SIZE);
  });
});

describe('VMA slots', () => {
  it('hands out slots with state NEW and a new generation; exhaustion returns -1 and counts vma_alloc_fail', () => {
    const { m, v } = setup({ vmas: 3 });
    const got = [v.core.vma_alloc(), v.core.vma_alloc(), v.core.vma_alloc()];
    expect(got).toEqual([0, 1, 2]);
    for (const s of got) {
      expect(v.view(s).state).toBe(C.VMA_STATE_NEW);
      expect(v.view(s).gen).toBe(1);
    }
    expect(v.core.vma_alloc()).toBe(-1);
    expect(v.core.vma_alloc()).toBe(-1);
    expect(m.stats().vma_alloc_fail).toBe(2n);
    expect(m.stats().vma_alloc).toBe(3n);
    v.core.vma_free_new(1);
    expect(v.core.vma_alloc()).toBe(1);
    expect(v.view(1).gen).toBe(2); // bumped on every reuse
  });

  it('vma_split returns -1 when no slot is left', () => {
    const { m, v } = setup({ vmas: 2 });
    const s = v.add(A, A + 4n * PAGE);
    v.add(A + 8n * PAGE, A + 9n * PAGE);
    expect(v.split(s, A + PAGE)).toBe(-1);
    expect(m.stats().vma_alloc_fail).toBe(1n);
    expect(readIndex(m)).toHaveLength(2);
    expect(v.view(s).end).toBe(A + 4n * PAGE);
  });

  it('a full index rejects link and split with VMA_E_NOMEM', () => {
    const { m, v } = setup({ maxVmasPerMm: 2 });
    const a = v.add(A, A + 4n * PAGE);
    v.add(A + 8n * PAGE, A + 9n * PAGE);
    const c = v.make(A + 16n * PAGE, A + 17n * PAGE);
    expect(v.link(c)).toBe(C.VMA_E_NOMEM);
    expect(v.view(c).state).toBe(C.VMA_STATE_NEW);
    v.core.vma_free_new(c);
    const free = v.core.nr_free_vmas();
    expect(v.split(a, A + PAGE)).toBe(C.VMA_E_NOMEM);
    expect(v.core.nr_free_vmas()).toBe(free); // no slot consumed
    expect(indexProblems(m)).toEqual([]);
  });

  it('writers trap without mmap_lock held for write; locked lookups without mmap_lock', () => {
    const { v } = setup();
    const s = v.make(A, A + PAGE);
    expect(() => v.core.vma_link(0, s)).toThrow(/mmap_lock/);
    v.core.down_read(v.lock);
    expect(() => v.core.vma_link(0, s)).toThrow(/mmap_lock/);
    v.core.up_read(v.lock);
    expect(v.link(s)).toBe(0);
    expect(() => v.core.find_vma(0, A)).toThrow(/mmap_lock/);
    expect(() => v.core.vma_unlink(0, s)).toThrow(/mmap_lock/);
  });
});

describe('vma_link', () => {
  it('rejects overlap with VMA_E_EXIST in every shape; touching neighbours are fine', () => {
    const { m, v } = setup();
    v.add(A + 4n * PAGE, A + 8n * PAGE);
    for (const [s, e] of [[4n, 8n], [2n, 5n], [7n, 10n], [3n, 9n], [5n, 6n], [4n, 5n], [7n, 8n]]) {
      const x = v.make(A + s * PAGE, A + e * PAGE);
      expect(v.link(x), `[${s}, ${e})`).toBe(C.VMA_E_EXIST);
      v.core.vma_free_new(x);
    }
    v.add(A + 2n * PAGE, A + 4n * PAGE);
    v.add(A + 8n * PAGE, A + 9n * PAGE);
    expect(readIndex(m).map((x) => [x.start, x.end])).toEqual([
      [A + 2n * PAGE, A + 4n * PAGE], [A + 4n * PAGE, A + 8n * PAGE], [A + 8n * PAGE, A + 9n * PAGE]]);
    expect(indexProblems(m)).toEqual([]);
  });

  it('rejects empty, reversed and unaligned ranges, and linking twice, with VMA_E_INVAL', () => {
    const { v } = setup();
    for (const [s, e] of [[A, A], [A + PAGE, A], [A + 1n, A + PAGE], [A, A + PAGE + 1n]]) {
      const x = v.make(s, e);
      expect(v.link(x)).toBe(C.VMA_E_INVAL);
      v.core.vma_free_new(x);
    }
    const s = v.add(A, A + PAGE);
    expect(v.link(s)).toBe(C.VMA_E_INVAL);
    expect(() => v.core.vma_init(s, 0)).toThrow(/freshly allocated/);
    expect(() => v.core.vma_set_range(s, A, A + PAGE, 0n)).toThrow(/only a NEW slot is private/);
    expect(() => v.core.vma_free_new(s)).toThrow(/was linked/);
  });

  it('a one-page VMA: found at its only page, not one byte past it', () => {
    const { v } = setup();
    const s = v.add(A, A + PAGE);
    expect(v.lookup(A)).toBe(s);
    expect(v.lookup(A + PAGE - 1n)).toBe(s);
    expect(v.lookup(A + PAGE)).toBe(-1);
    expect(v.lookup(A - 1n)).toBe(-1);
    expect(v.findVma(A - 1n)).toBe(s);
    expect(v.lockless(A)).toBe(s);
    expect(v.lockless(A + PAGE)).toBe(-1);
    for (const at of [A, A + PAGE, A + 1n, A - PAGE]) expect(v.split(s, at)).toBe(C.VMA_E_INVAL);
  });

  it('a VMA at address 0', () => {
    const { v } = setup();
    const s = v.add(0n, 3n * PAGE);
    expect(v.findVma(0n)).toBe(s);
    expect(v.lookup(0n)).toBe(s);
    expect(v.lockless(0n)).toBe(s);
    expect(v.intersection(0n, 1n)).toBe(s);
    expect(v.lookup(3n * PAGE)).toBe(-1);
    const n = v.split(s, PAGE);
    expect(v.lookup(0n)).toBe(s);
    expect(v.lookup(PAGE)).toBe(n);
  });

  it('a VMA ending at the top of the 47-bit user space', () => {
    const { m, v } = setup();
    const s = v.add(TOP - 4n * PAGE, TOP);
    expect(v.lookup(TOP - 1n)).toBe(s);
    expect(v.lockless(TOP - 1n)).toBe(s);
    expect(v.lookup(TOP)).toBe(-1);
    expect(v.findVma(TOP)).toBe(-1);
    expect(v.lockless(TOP)).toBe(-1);
    expect(v.findVma(0n)).toBe(s);
    const n = v.split(s, TOP - PAGE);
    expect(n).toBeGreaterThanOrEqual(0);
    expect([v.view(n).start, v.view(n).end]).toEqual([TOP - PAGE, TOP]);
    expect(v.lookup(TOP - 1n)).toBe(n);
    expect(indexProblems(m)).toEqual([]);
  });
});

describe('lookups at boundaries', () => {
  const { v } = setup();
  const lo = v.add(A, A + 4n * PAGE);
  const hi = v.add(A + 8n * PAGE, A + 10n * PAGE);

  it('find_vma: first VMA with end > va', () => {
    expect(v.findVma(0n)).toBe(lo);
    expect(v.findVma(A)).toBe(lo);
    expect(v.findVma(A + 4n * PAGE - 1n)).toBe(lo);
    expect(v.findVma(A + 4n * PAGE)).toBe(hi); // va == end: the next one, though it does not contain va
    expect(v.findVma(A + 8n * PAGE - 1n)).toBe(hi);
    expect(v.findVma(A + 10n * PAGE - 1n)).toBe(hi);
    expect(v.findVma(A + 10n * PAGE)).toBe(-1);
  });

  it('vma_lookup and find_vma_lockless: the containing VMA (va == start, end - 1) or -1 (va == end, holes)', () => {
    const cases: [bigint, number][] = [
      [A - 1n, -1], [A, lo], [A + PAGE + 123n, lo], [A + 4n * PAGE - 1n, lo], [A + 4n * PAGE, -1],
      [A + 8n * PAGE - 1n, -1], [A + 8n * PAGE, hi], [A + 10n * PAGE - 1n, hi], [A + 10n * PAGE, -1], [TOP - 1n, -1],
    ];
    for (const [va, want] of cases) {
      expect(v.lookup(va), `vma_lookup ${va.toString(16)}`).toBe(want);
      expect(v.lockless(va), `lockless ${va.toString(16)}`).toBe(want);
    }
  });

  it('find_vma_intersection: the first VMA meeting [start, end)', () => {
    expect(v.intersection(A - PAGE, A)).toBe(-1); // ends where lo starts
    expect(v.intersection(A - PAGE, A + 1n)).toBe(lo);
    expect(v.intersection(A + 4n * PAGE, A + 8n * PAGE)).toBe(-1); // exactly the hole
    expect(v.intersection(A + 4n * PAGE, A + 8n * PAGE + 1n)).toBe(hi);
    expect(v.intersection(A + 3n * PAGE, A + 9n * PAGE)).toBe(lo);
    expect(v.intersection(A + 10n * PAGE, TOP)).toBe(-1);
  });

  it('lookups charge virtual time per search step (worker run: lockless and under mmap_lock)', async () => {
    const m = vmaMachine({ cpus: 1 });
    m.host.core.cpu_bind(0);
    expect(m.host.core.t_vma_populate(0, A, 32, 2, 1)).toBe(32);
    const step = BigInt(m.profile.cycles.vma_lookup_step);
    const iters = 200;
    const r = await m.run([{ program: 'vmaLookup', args: { base: Number(A), npages: 96, iters, lockless: 1 } }]);
    expect(r.error).toBeUndefined();
    const lockless = BigInt(r.cpus[0].value as string);
    // a binary search over 32 VMAs takes 5 steps (log2 32)
    expect(lockless).toBeGreaterThanOrEqual(BigInt(iters) * 5n * step);
    const s = m.stats();
    expect(s.vma_lookup_lockless).toBe(BigInt(iters));
    expect(s.vma_lockless_retry).toBe(0n);
    const r2 = await m.run([{ program: 'vmaLookup', args: { base: Number(A), npages: 96, iters, lockless: 0 } }]);
    expect(r2.error).toBeUndefined();
    // the classic lookup pays mmap_lock's atomics on top of the same search
    expect(BigInt(r2.cpus[0].value as string)).toBeGreaterThan(lockless);
    expect(m.stats().vma_lookup).toBe(BigInt(iters));
  });
});

describe('vma_split', () => {
  it('at the first and at the last page: one-page pieces, vm_pgoff follows', () => {
    const { m, v } = setup();
    const s = v.add(A, A + 4n * PAGE, { ops: C.VMOPS_FILE, file: 3, pgoff: 100n });
    const g = v.view(s).gen;
    const seq = m.u32(v.addr(s) + C.VMA_SEQ);
    const b = v.split(s, A + PAGE);
    expect([v.view(s).start, v.view(s).end, v.view(s).pgoff]).toEqual([A, A + PAGE, 100n]);
    expect([v.view(b).start, v.view(b).end, v.view(b).pgoff]).toEqual([A + PAGE, A + 4n * PAGE, 101n]);
    expect(v.view(s).gen).toBe(g); // changed in place, not reused
    expect(m.u32(v.addr(s) + C.VMA_SEQ)).toBe(seq + 2); // vm_sequence bumped around the change
    expect(v.core.vma_has_changed(s, seq)).toBe(1);
    const c = v.split(b, A + 3n * PAGE);
    expect([v.view(b).start, v.view(b).end]).toEqual([A + PAGE, A + 3n * PAGE]);
    expect([v.view(c).start, v.view(c).end, v.view(c).pgoff]).toEqual([A + 3n * PAGE, A + 4n * PAGE, 103n]);
    for (const x of [s, b, c]) expect(v.view(x).file).toBe(3);
    expect(readIndex(m).map((x) => x.slot)).toEqual([s, b, c]);
    expect(v.lookup(A + 3n * PAGE - 1n)).toBe(b);
    expect(v.lookup(A + 3n * PAGE)).toBe(c);
    expect(m.stats().vma_split).toBe(2n);
    expect(indexProblems(m)).toEqual([]);
  });

  it('rejects an address outside the VMA, at its ends, or not page-aligned', () => {
    const { m, v } = setup();
    const s = v.add(A, A + 4n * PAGE);
    const other = v.add(A + 8n * PAGE, A + 12n * PAGE);
    for (const at of [A, A + 4n * PAGE, A - PAGE, A + 5n * PAGE, A + 9n * PAGE, 0n, A + PAGE + 8n]) {
      expect(v.split(s, at), at.toString(16)).toBe(C.VMA_E_INVAL);
    }
    expect(readIndex(m).map((x) => [x.slot, x.start, x.end])).toEqual([[s, A, A + 4n * PAGE], [other, A + 8n * PAGE, A + 12n * PAGE]]);
    const n = v.make(A + 20n * PAGE, A + 21n * PAGE); // not linked
    expect(v.split(n, A + 20n * PAGE)).toBe(C.VMA_E_INVAL);
    expect(m.stats().vma_split).toBe(0n);
  });
});

describe('vma_merge', () => {
  it('merges compatible neighbours on both sides; the lowest survives; the others go through RCU', () => {
    const { m, v } = setup();
    const a = v.add(A, A + 2n * PAGE);
    const b = v.add(A + 2n * PAGE, A + 3n * PAGE);
    const c = v.add(A + 3n * PAGE, A + 6n * PAGE);
    const d = v.add(A + 7n * PAGE, A + 8n * PAGE); // a hole before it: stays
    const seqB = m.u32(v.addr(b) + C.VMA_SEQ);
    expect(v.merge(b)).toBe(a);
    expect(readIndex(m).map((x) => [x.slot, x.start, x.end])).toEqual([[a, A, A + 6n * PAGE], [d, A + 7n * PAGE, A + 8n * PAGE]]);
    expect(v.view(b).state).toBe(C.VMA_STATE_DETACHED);
    expect(v.view(c).state).toBe(C.VMA_STATE_DETACHED);
    expect(v.core.vma_has_changed(b, seqB)).toBe(1);
    expect(m.stats().vma_merge).toBe(2n);
    expect(m.stats().vma_deferred).toBe(2n);
    expect(v.merge(d)).toBe(d); // nothing to merge with
    expect(v.lookup(A + 5n * PAGE)).toBe(a);
    expect(indexProblems(m)).toEqual([]);
  });

  it('merges file VMAs with contiguous pgoff; the survivor keeps its pgoff', () => {
    const { m, v } = setup();
    const f = { ops: C.VMOPS_FILE, file: 9 };
    const a = v.add(A, A + 2n * PAGE, { ...f, pgoff: 10n });
    const b = v.add(A + 2n * PAGE, A + 5n * PAGE, { ...f, pgoff: 12n });
    expect(v.merge(a)).toBe(a);
    expect(readIndex(m).map((x) => [x.slot, x.start, x.end, x.pgoff])).toEqual([[a, A, A + 5n * PAGE, 10n]]);
    expect(v.view(b).state).toBe(C.VMA_STATE_DETACHED);
  });

  it('refuses incompatible neighbours: prot, flags, anon_vma, vm_ops, file, mempolicy, non-contiguous file pgoff', () => {
    const base = { flags: 3, prot: 0x67, anon: 1, ops: 0, file: 0, mpol: 0 };
    const variants: [string, Record<string, unknown>, Record<string, unknown>][] = [
      ['prot', {}, { prot: 0x65 }],
      ['flags', {}, { flags: 1 }],
      ['anon_vma', {}, { anon: 2 }],
      ['vm_ops', {}, { ops: C.VMOPS_SHMEM }],
      ['mempolicy', {}, { mpol: C.MPOL_INTERLEAVE }],
      ['file', { ops: C.VMOPS_FILE, file: 1, pgoff: 0n }, { ops: C.VMOPS_FILE, file: 2, pgoff: 2n }],
      ['file pgoff gap', { ops: C.VMOPS_FILE, file: 1, pgoff: 0n }, { ops: C.VMOPS_FILE, file: 1, pgoff: 3n }],
      ['file pgoff overlap', { ops: C.VMOPS_FILE, file: 1, pgoff: 5n }, { ops: C.VMOPS_FILE, file: 1, pgoff: 6n }],
    ];
    for (const [what, lo, hi] of variants) {
      const { m, v } = setup();
      const a = v.add(A, A + 2n * PAGE, { ...base, ...lo });
      const b = v.add(A + 2n * PAGE, A + 4n * PAGE, { ...base, ...hi });
      expect(v.merge(a), what).toBe(a);
      expect(v.merge(b), what).toBe(b);
      expect(readIndex(m).map((x) => x.slot), what).toEqual([a, b]);
      expect(m.stats().vma_merge, what).toBe(0n);
    }
  });

  it('merging back the pieces of a split restores the original', () => {
    const { m, v } = setup();
    const s = v.add(A, A + 8n * PAGE, { ops: C.VMOPS_FILE, file: 4, pgoff: 50n });
    const b = v.split(s, A + 3n * PAGE);
    v.split(b, A + 5n * PAGE);
    expect(readIndex(m)).toHaveLength(3);
    expect(v.merge(b)).toBe(s);
    expect(readIndex(m).map((x) => [x.slot, x.start, x.end, x.pgoff])).toEqual([[s, A, A + 8n * PAGE, 50n]]);
  });
});

describe('RCU: deferred freeing of unlinked slots', () => {
  it('an unlinked slot is not reused while another CPU reads since before the unlink; it is after', () => {
    const { m, v } = setup({ cpus: 2, vmas: 2 });
    const a = v.add(A, A + PAGE);
    v.add(A + 2n * PAGE, A + 3n * PAGE);
    const e = v.core.rcu_epoch();
    setReader(m, 1, 1, e); // CPU 1 inside rcu_read_lock since the current epoch
    const gen = v.view(a).gen;
    expect(v.unlink(a)).toBe(0);
    expect(v.view(a).state).toBe(C.VMA_STATE_DETACHED);
    expect(v.core.rcu_deferred_count()).toBe(1);
    expect(v.core.vma_alloc()).toBe(-1); // free list empty, grace period not over
    expect(v.core.rcu_reclaim()).toBe(0);
    expect(m.stats().vma_alloc_fail).toBe(1n);
    expect(v.view(a).gen).toBe(gen);
    setReader(m, 1, 2, e); // nested deeper: still the same section
    expect(v.core.rcu_reclaim()).toBe(0);
    setReader(m, 1, 0); // CPU 1 left its section
    expect(v.core.vma_alloc()).toBe(a);
    expect(v.view(a).gen).toBe(gen + 1);
    const s = m.stats();
    expect([s.vma_deferred, s.vma_free, s.rcu_grace]).toEqual([1n, 1n, 1n]);
  });

  it('a reader that entered after the unlink does not hold the slot back', () => {
    const { m, v } = setup({ cpus: 3, vmas: 4 });
    const a = v.add(A, A + PAGE);
    const b = v.add(A + 2n * PAGE, A + 3n * PAGE);
    setReader(m, 1, 1);
    const e0 = v.core.rcu_epoch();
    v.unlink(a);
    expect(v.core.rcu_epoch()).toBe(e0 + 1); // call_rcu advanced the epoch
    setReader(m, 2, 1); // CPU 2 entered after: it cannot have found `a`
    v.unlink(b);
    setReader(m, 1, 0);
    // `a` was unlinked before CPU 2 started reading: free. `b` after: CPU 2 may hold it.
    expect(v.core.rcu_reclaim()).toBe(1);
    expect(v.view(a).state).toBe(C.VMA_STATE_FREE);
    expect(v.view(b).state).toBe(C.VMA_STATE_DETACHED);
    setReader(m, 2, 0);
    expect(v.core.rcu_reclaim()).toBe(1);
    expect(vmaAccounting(m)).toMatchObject({ live: 0, free: 4, deferred: 0, problems: [] });
  });

  it('the host CPU\'s own read-side section nests and holds back reclaim until the outermost unlock', () => {
    const { m, v } = setup({ vmas: 4 });
    const a = v.add(A, A + PAGE);
    v.core.rcu_read_lock();
    v.core.rcu_read_lock();
    expect(v.core.rcu_read_lock_held()).toBe(2);
    expect(v.core.find_vma_lockless(0, A)).toBe(a);
    v.unlink(a);
    expect(v.core.rcu_reclaim()).toBe(0);
    v.core.rcu_read_unlock();
    expect(v.core.rcu_reclaim()).toBe(0);
    v.core.rcu_read_unlock();
    expect(v.core.rcu_reclaim()).toBe(1);
    expect(() => v.core.rcu_read_unlock()).toThrow(); // unbalanced
    expect(vmaAccounting(m).problems).toEqual([]);
  });

  it('get_vma keeps an unlinked VMA off the deferred queue until put_vma', () => {
    const { m, v } = setup({ vmas: 4 });
    const a = v.add(A, A + 2n * PAGE);
    expect(v.core.get_vma(0, A + PAGE)).toBe(a);
    expect(v.core.get_vma(0, A + 2n * PAGE)).toBe(-1);
    expect(m.i32(v.addr(a) + C.VMA_REF)).toBe(2);
    const seq = m.u32(v.addr(a) + C.VMA_SEQ);
    expect(v.core.vma_has_changed(a, seq)).toBe(0);
    v.unlink(a);
    expect(v.core.vma_has_changed(a, seq)).toBe(1);
    expect(v.view(a).state).toBe(C.VMA_STATE_DETACHED);
    expect(v.core.rcu_deferred_count()).toBe(0); // still referenced
    v.core.put_vma(a);
    expect(v.core.rcu_deferred_count()).toBe(1);
    expect(v.core.rcu_reclaim()).toBe(1);
    expect(vmaAccounting(m)).toMatchObject({ live: 0, deferred: 0, free: 4, problems: [] });
  });

  it('synchronize_rcu with no reader reclaims everything queued', () => {
    const { m, v } = setup({ cpus: 2, vmas: 4 });
    for (let i = 0n; i < 4n; i++) v.add(A + 2n * i * PAGE, A + (2n * i + 1n) * PAGE);
    for (const x of readIndex(m)) v.unlink(x.slot);
    expect(v.core.rcu_deferred_count()).toBe(4);
    expect(v.core.synchronize_rcu()).toBe(4);
    expect(vmaAccounting(m)).toMatchObject({ live: 0, free: 4, deferred: 0, problems: [] });
  });

  it('unlink of a slot that is not linked is rejected', () => {
    const { v } = setup();
    const a = v.add(A, A + PAGE);
    expect(v.unlink(a)).toBe(0);
    expect(v.unlink(a)).toBe(C.VMA_E_INVAL);
    expect(v.merge(a)).toBe(C.VMA_E_INVAL);
  });
});
