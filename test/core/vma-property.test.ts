import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { layoutConsts } from '../../src/wasm.js';
import { PAGE, Vmas, initVma, vmaMachine, vmaAccounting, indexProblems, readIndex } from '../support/vma-util.js';

// Property: random sequences of link / unlink / split / merge / lookups on the
// core agree, step by step, with a plain TypeScript model (a sorted array),
// and the index stays sorted, non-overlapping and fully accounted for.

const C = layoutConsts();
const NP = 48; // pages in the playground
const TOP = 0x800000000000n;

interface MV { slot: number; start: bigint; end: bigint; flags: number; prot: number; anon: number; ops: number; file: number; pgoff: bigint; mpol: number }
type Attrs = Omit<MV, 'slot' | 'start' | 'end' | 'pgoff'>;

/** VMA kinds: 0 and 1 are identical (merge fodder); 4 is 3 with a file offset that never lines up */
const KINDS: Attrs[] = [
  { flags: 3, prot: 0x67, anon: 1, ops: 0, file: 0, mpol: 0 },
  { flags: 3, prot: 0x67, anon: 1, ops: 0, file: 0, mpol: 0 },
  { flags: 1, prot: 0x65, anon: 1, ops: 0, file: 0, mpol: 0 },
  { flags: 0xb, prot: 0x67, anon: 0, ops: 1, file: 7, mpol: 0 },
  { flags: 0xb, prot: 0x67, anon: 0, ops: 1, file: 7, mpol: 0 },
  { flags: 3, prot: 0x67, anon: 2, ops: 0, file: 0, mpol: 0 },
  { flags: 3, prot: 0x67, anon: 1, ops: 0, file: 0, mpol: 1 },
];

type Op =
  | { op: 'link'; page: number; len: number; kind: number }
  | { op: 'linkAfter'; i: number; len: number; kind: number }
  | { op: 'unlink'; i: number }
  | { op: 'split'; i: number; off: number }
  | { op: 'merge'; i: number }
  | { op: 'find'; page: number; byte: number; len: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('link' as const), page: fc.integer({ min: 0, max: NP - 1 }), len: fc.integer({ min: 1, max: 8 }), kind: fc.integer({ min: 0, max: KINDS.length - 1 }) }) },
  // right after an existing VMA: neighbours that may or may not be mergeable
  { weight: 3, arbitrary: fc.record({ op: fc.constant('linkAfter' as const), i: fc.nat(), len: fc.integer({ min: 1, max: 4 }), kind: fc.integer({ min: 0, max: KINDS.length - 1 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('unlink' as const), i: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('split' as const), i: fc.nat(), off: fc.integer({ min: -1, max: 9 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('merge' as const), i: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('find' as const), page: fc.integer({ min: -1, max: NP }), byte: fc.integer({ min: 0, max: 4095 }), len: fc.integer({ min: 1, max: 3 * 4096 }) }) },
);

function mergeable(a: MV, b: MV): boolean {
  if (a.end !== b.start || a.flags !== b.flags || a.prot !== b.prot || a.mpol !== b.mpol) return false;
  // is_mergeable_anon_vma(): either side without an anon_vma, or the same one
  if (a.anon !== 0 && b.anon !== 0 && a.anon !== b.anon) return false;
  if (a.ops !== b.ops || a.file !== b.file) return false;
  if (a.ops !== 0 || a.file !== 0) return a.pgoff + (a.end - a.start) / PAGE === b.pgoff;
  return true;
}

class Model {
  vmas: MV[] = [];
  findVma(va: bigint): number { const v = this.vmas.find((x) => x.end > va); return v ? v.slot : -1; }
  lookup(va: bigint): number { const v = this.vmas.find((x) => x.start <= va && va < x.end); return v ? v.slot : -1; }
  intersection(s: bigint, e: bigint): number { const v = this.vmas.find((x) => x.end > s); return v && v.start < e ? v.slot : -1; }
  overlaps(s: bigint, e: bigint): boolean { return this.vmas.some((x) => x.start < e && s < x.end); }
  insert(v: MV): void { this.vmas.push(v); this.vmas.sort((a, b) => (a.start < b.start ? -1 : 1)); }
  /** vma_merge as specified: the lowest survives */
  merge(i: number): number {
    let p = i;
    if (p > 0 && mergeable(this.vmas[p - 1], this.vmas[p])) {
      this.vmas[p - 1] = { ...this.vmas[p - 1], end: this.vmas[p].end, anon: this.vmas[p - 1].anon || this.vmas[p].anon };
      this.vmas.splice(p, 1);
      p--;
    }
    if (p + 1 < this.vmas.length && mergeable(this.vmas[p], this.vmas[p + 1])) {
      this.vmas[p] = { ...this.vmas[p], end: this.vmas[p + 1].end, anon: this.vmas[p].anon || this.vmas[p + 1].anon };
      this.vmas.splice(p + 1, 1);
    }
    return this.vmas[p].slot;
  }
}

function run(cfg: { vmas: number; max: number; base: bigint }, ops: Op[]): void {
  const m = vmaMachine({ vmas: cfg.vmas, maxVmasPerMm: cfg.max });
  const v = new Vmas(m);
  const core = v.core;
  const model = new Model();
  const at = (page: number) => cfg.base + BigInt(page) * PAGE;
  core.down_write(v.lock); // the whole sequence runs as one mmap_lock writer; locked lookups accept that

  const checkLookups = (va: bigint, len: bigint) => {
    if (va < 0n) return;
    expect(core.find_vma(0, va), `find_vma ${va.toString(16)}`).toBe(model.findVma(va));
    expect(core.vma_lookup(0, va), `vma_lookup ${va.toString(16)}`).toBe(model.lookup(va));
    expect(core.find_vma_intersection(0, va, va + len), `find_vma_intersection ${va.toString(16)}`).toBe(model.intersection(va, va + len));
    core.rcu_read_lock();
    expect(core.find_vma_lockless(0, va), `find_vma_lockless ${va.toString(16)}`).toBe(model.lookup(va));
    core.rcu_read_unlock();
  };

  for (const op of ops) {
    const n = model.vmas.length;
    let o = op;
    if (o.op === 'linkAfter') {
      const page = n ? Number((model.vmas[o.i % n].end - cfg.base) / PAGE) : 0;
      if (page >= NP) continue;
      o = { op: 'link', page, len: o.len, kind: o.kind };
    }
    switch (o.op) {
      case 'link': {
        const len = Math.min(o.len, NP - o.page);
        const start = at(o.page);
        const end = start + BigInt(len) * PAGE;
        const k = KINDS[o.kind];
        const pgoff = o.kind === 3 ? BigInt(o.page) : o.kind === 4 ? BigInt(o.page) * 3n + 1000n : start / PAGE;
        const s = core.vma_alloc();
        if (n === cfg.vmas) { expect(s).toBe(-1); break; }
        expect(s).toBeGreaterThanOrEqual(0);
        initVma(core, s, 0, start, end, { ...k, pgoff });
        const want = model.overlaps(start, end) ? C.VMA_E_EXIST : n >= cfg.max ? C.VMA_E_NOMEM : 0;
        expect(core.vma_link(0, s)).toBe(want);
        if (want === 0) model.insert({ slot: s, start, end, pgoff, ...k });
        else core.vma_free_new(s);
        break;
      }
      case 'unlink': {
        if (!n) break;
        const x = model.vmas[o.i % n];
        expect(core.vma_unlink(0, x.slot)).toBe(0);
        model.vmas.splice(o.i % n, 1);
        break;
      }
      case 'split': {
        if (!n) break;
        const i = o.i % n;
        const x = model.vmas[i];
        const a = x.start + BigInt(o.off) * PAGE;
        const want = a <= x.start || a >= x.end ? C.VMA_E_INVAL : n >= cfg.max ? C.VMA_E_NOMEM : n === cfg.vmas ? -1 : 'slot';
        const r = core.vma_split(0, x.slot, a);
        if (want !== 'slot') { expect(r).toBe(want); break; }
        expect(r).toBeGreaterThanOrEqual(0);
        model.vmas[i] = { ...x, end: a };
        model.insert({ ...x, slot: r, start: a, pgoff: x.pgoff + (a - x.start) / PAGE });
        break;
      }
      case 'merge': {
        if (!n) break;
        const i = o.i % n;
        const slot = model.vmas[i].slot;
        const want = model.merge(i);
        expect(core.vma_merge(0, slot)).toBe(want);
        break;
      }
      case 'find':
        checkLookups(o.page < 0 ? cfg.base - 1n : at(o.page) + BigInt(o.byte), BigInt(o.len));
        break;
    }
    // after every step: the index is the model, well formed, and every slot is accounted for
    const got = readIndex(m).map(({ slot, start, end, flags, prot, anon, ops: vo, file, pgoff, mpol }) => ({ slot, start, end, flags, prot, anon, ops: vo, file, pgoff, mpol }));
    expect(got).toEqual(model.vmas);
    expect(indexProblems(m)).toEqual([]);
    expect(core.vma_index_check(0)).toBe(0);
    const acc = vmaAccounting(m);
    expect(acc.problems).toEqual([]);
    expect(acc.live).toBe(model.vmas.length);
    // lookups at the edges of every VMA agree with the model
    for (const x of model.vmas) for (const va of [x.start - 1n, x.start, x.end - 1n, x.end]) checkLookups(va, PAGE);
  }
  for (const x of [...model.vmas]) expect(core.vma_unlink(0, x.slot)).toBe(0);
  core.up_write(v.lock);
  core.rcu_reclaim();
  expect(vmaAccounting(m)).toMatchObject({ live: 0, deferred: 0, free: cfg.vmas, problems: [] });
}

describe('VMA index against a reference model (fast-check)', () => {
  it('random link/unlink/split/merge/find sequences', () => {
    fc.assert(
      fc.property(
        fc.record({
          vmas: fc.constantFrom(8, 24),
          max: fc.constantFrom(6, 32),
          base: fc.constantFrom(0n, 0x7f0000000000n, TOP - BigInt(NP) * PAGE),
        }),
        fc.array(opArb, { minLength: 1, maxLength: 60 }),
        (cfg, ops) => { run(cfg, ops); },
      ),
      { numRuns: 300 },
    );
  });
});
