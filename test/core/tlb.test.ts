import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Machine, type MachineConfig } from '../../src/machine.js';
import * as P from '../../src/pte.js';

// The per-CPU TLB: lookups, FIFO replacement within a set, the 2 MiB array,
// invalidation and range flushes, side-effect-free probing, and a property
// test against a model of what may and may not hit.

const u64 = (x: bigint | number) => BigInt.asUintN(64, BigInt(x));
const pte = (pfn: number) => P.pfn_pte(BigInt(pfn), P.PAGE_SHARED);
const huge = (pfn: number) => P.pfn_pte(BigInt(pfn), P.PAGE_SHARED | P._PAGE_PSE);

function tlb(cfg: Partial<MachineConfig> = {}) {
  const m = new Machine({ cpus: 1, tlbSets: 4, tlbWays: 2, ...cfg });
  const core = m.host.core;
  core.cpu_bind(0);
  core.cpu_start();
  const lookup = (vpn: number | bigint) => u64(core.tlb_lookup(BigInt(vpn)));
  const probe = (vpn: number | bigint, cpu = 0) => u64(core.tlb_probe(cpu, BigInt(vpn)));
  const insert = (vpn: number | bigint, v: bigint) => core.tlb_insert(BigInt(vpn), v);
  /** this CPU's virtual clock, published */
  const clock = () => { core.sync_point(); return m.clock(0); };
  return { m, core, lookup, probe, insert, clock, valid: (cpu = 0): number => core.tlb_nr_valid(cpu) };
}

describe('TLB basics', () => {
  it('miss, insert, hit; each lookup costs a TLB access and is counted', () => {
    const { m, lookup, insert, clock } = tlb();
    const t0 = clock();
    expect(lookup(5)).toBe(0n);
    insert(5, pte(50));
    expect(lookup(5)).toBe(pte(50));
    expect(lookup(6)).toBe(0n);
    expect(clock() - t0).toBe(BigInt(3 * m.profile.cycles.tlb_hit));
    const s = m.stats();
    expect([s.tlb_hit, s.tlb_miss]).toEqual([1n, 2n]);
  });

  it('invlpg and flush_all drop entries and charge their cost', () => {
    const { m, core, lookup, insert, clock, valid } = tlb();
    insert(1, pte(1)); insert(2, pte(2)); insert(3, pte(3));
    const t0 = clock();
    core.tlb_invlpg(2n);
    expect(clock() - t0).toBe(BigInt(m.profile.cycles.invlpg));
    expect(lookup(2)).toBe(0n);
    expect(lookup(1)).toBe(pte(1));
    expect(valid()).toBe(2);
    const t1 = clock();
    core.tlb_flush_all();
    expect(clock() - t1).toBe(BigInt(m.profile.cycles.tlb_flush_all));
    expect(valid()).toBe(0);
    expect(lookup(1)).toBe(0n);
    const s = m.stats();
    expect([s.tlb_invlpg, s.tlb_flush_all]).toEqual([1n, 1n]);
  });

  it('a zero PTE is never cached', () => {
    const { insert, valid } = tlb();
    insert(7, 0n);
    expect(valid()).toBe(0);
  });
});

describe('associativity and FIFO replacement', () => {
  it('the oldest entry of a full set is evicted; other sets are untouched', () => {
    const { lookup, probe, insert, valid } = tlb(); // 4 sets x 2 ways
    insert(1, pte(100)); // set 1
    insert(0, pte(0)); insert(4, pte(4)); // set 0 full
    insert(8, pte(8)); // set 0: evicts vpn 0
    expect(probe(0)).toBe(0n);
    expect(lookup(4)).toBe(pte(4));
    expect(lookup(8)).toBe(pte(8));
    expect(lookup(1)).toBe(pte(100));
    expect(valid()).toBe(3);
  });

  it('re-inserting a vpn replaces its entry (no duplicate) and makes it the newest', () => {
    const { probe, insert, valid } = tlb();
    insert(0, pte(1)); insert(4, pte(2));
    insert(0, P.pte_mkdirty(pte(1))); // D set by a later write walk
    expect(valid()).toBe(2);
    expect(probe(0)).toBe(P.pte_mkdirty(pte(1)));
    insert(8, pte(3)); // evicts 4, now the oldest
    expect(probe(4)).toBe(0n);
    expect(probe(0)).toBe(P.pte_mkdirty(pte(1)));
  });

  it('re-inserting behind an invalidated way still leaves one entry, so one invlpg drops it', () => {
    const { core, probe, insert, valid } = tlb();
    insert(0, pte(1)); insert(4, pte(2)); // set 0: [4, 0]
    core.tlb_invlpg(4n); // [-, 0]
    insert(0, pte(3));
    expect(valid()).toBe(1);
    core.tlb_invlpg(0n);
    expect(probe(0)).toBe(0n);
  });

  it('an invalidated way is reused before anything is evicted', () => {
    const { core, probe, insert, valid } = tlb();
    insert(0, pte(1)); insert(4, pte(2));
    core.tlb_invlpg(0n);
    insert(8, pte(3));
    expect([probe(4), probe(8), probe(0)]).toEqual([pte(2), pte(3), 0n]);
    expect(valid()).toBe(2);
  });
});

describe('2 MiB entries', () => {
  it('one PS entry covers its 512 pages; invlpg of any of them drops it; a 4 KiB entry wins', () => {
    const { core, lookup, insert, valid } = tlb();
    const base = 512 * 3;
    insert(base + 7, huge(2048));
    expect(valid()).toBe(1);
    expect(lookup(base)).toBe(huge(2048));
    expect(lookup(base + 511)).toBe(huge(2048));
    expect(lookup(base + 512)).toBe(0n);
    expect(lookup(base - 1)).toBe(0n);
    insert(base + 1, pte(9));
    expect(lookup(base + 1)).toBe(pte(9));
    expect(lookup(base + 2)).toBe(huge(2048));
    core.tlb_invlpg(BigInt(base + 300));
    expect(lookup(base + 2)).toBe(0n);
    expect(lookup(base + 1)).toBe(pte(9));
  });
});

describe('tlb_flush_range', () => {
  it('up to 33 pages: one invlpg each, other entries survive', () => {
    const { m, core, probe, insert, clock } = tlb({ tlbSets: 64, tlbWays: 4 });
    for (let v = 0; v < 40; v++) insert(v, pte(v + 1));
    const t0 = clock();
    core.tlb_flush_range(2n, 35n);
    expect(clock() - t0).toBe(BigInt(33 * m.profile.cycles.invlpg));
    for (let v = 0; v < 40; v++) expect(probe(v) !== 0n, `vpn ${v}`).toBe(v < 2 || v >= 35);
    const s = m.stats();
    expect([s.tlb_invlpg, s.tlb_flush_all]).toEqual([33n, 0n]);
  });

  it('more than 33 pages, or (0, 0): the whole TLB', () => {
    const { m, core, probe, insert, clock, valid } = tlb({ tlbSets: 64, tlbWays: 4 });
    for (let v = 0; v < 40; v++) insert(v, pte(v + 1));
    insert(100_000, pte(7));
    const t0 = clock();
    core.tlb_flush_range(0n, 34n);
    expect(clock() - t0).toBe(BigInt(m.profile.cycles.tlb_flush_all));
    expect(valid()).toBe(0);
    expect(probe(100_000)).toBe(0n);
    insert(3, pte(3));
    core.tlb_flush_range(0n, 0n);
    expect(valid()).toBe(0);
    expect(m.stats().tlb_flush_all).toBe(2n);
    expect(m.stats().tlb_invlpg).toBe(0n);
  });
});

describe('tlb_probe', () => {
  it('reads any CPU\'s TLB without cost, counters or change', () => {
    const { m, core, probe, insert, clock } = tlb({ cpus: 2 });
    core.cpu_bind(1);
    insert(42, pte(4200));
    core.cpu_bind(0);
    const t0 = clock();
    const s0 = m.stats();
    expect(probe(42, 1)).toBe(pte(4200));
    expect(probe(42, 0)).toBe(0n);
    expect(clock()).toBe(t0);
    expect(m.stats()).toEqual(s0);
    expect(core.tlb_nr_valid(1)).toBe(1);
  });
});

describe('property: against a model of what may hit', () => {
  type Op =
    | { k: 'ins'; vpn: number; pfn: number }
    | { k: 'ins2m'; vpn: number; pfn: number }
    | { k: 'inv'; vpn: number }
    | { k: 'all' }
    | { k: 'range'; start: number; len: number };
  const VPNS = 4 * 512; // four 2 MiB pages' worth, so 4 KiB and 2 MiB entries overlap
  // mostly a few vpns (collisions in a set, re-inserts after invalidations), sometimes anywhere
  const vpn = fc.oneof({ weight: 3, arbitrary: fc.nat({ max: 11 }) }, fc.nat({ max: 31 }), fc.nat({ max: VPNS - 1 }));
  const op = (with2m: boolean): fc.Arbitrary<Op> => fc.oneof(
    { weight: 6, arbitrary: fc.record({ k: fc.constant('ins' as const), vpn, pfn: fc.nat({ max: 1 << 20 }) }) },
    { weight: with2m ? 1 : 0, arbitrary: fc.record({ k: fc.constant('ins2m' as const), vpn, pfn: fc.nat({ max: 1 << 20 }) }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('inv' as const), vpn }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('all' as const) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('range' as const), start: vpn, len: fc.nat({ max: 40 }) }) },
  );

  for (const with2m of [false, true]) {
    it(`every hit is the last insert of a valid translation; capacity holds${with2m ? ' (with 2 MiB entries)' : ''}`, () => {
      const h = tlb({ tlbSets: 4, tlbWays: 2 });
      const cap = 4 * 2 + (with2m ? h.m.C.TLB2M_SETS * h.m.C.TLB2M_WAYS : 0);
      fc.assert(fc.property(fc.array(op(with2m), { maxLength: 80, size: 'max' }), (ops) => {
        h.core.tlb_flush_all();
        const m4 = new Map<number, bigint>();
        const m2 = new Map<number, bigint>();
        const touched = new Set<number>();
        const drop = (v: number) => { m4.delete(v); m2.delete(v >> 9); };
        for (const o of ops) {
          switch (o.k) {
            case 'ins': h.insert(o.vpn, pte(o.pfn + 1)); m4.set(o.vpn, pte(o.pfn + 1)); touched.add(o.vpn); break;
            case 'ins2m': h.insert(o.vpn, huge(o.pfn + 1)); m2.set(o.vpn >> 9, huge(o.pfn + 1)); touched.add(o.vpn); break;
            case 'inv': h.core.tlb_invlpg(BigInt(o.vpn)); drop(o.vpn); break;
            case 'all': h.core.tlb_flush_all(); m4.clear(); m2.clear(); break;
            case 'range':
              h.core.tlb_flush_range(BigInt(o.start), BigInt(o.start + o.len));
              if ((o.start === 0 && o.len === 0) || o.len > 33) { m4.clear(); m2.clear(); } else for (let v = o.start; v < o.start + o.len; v++) drop(v);
              break;
          }
          expect(h.valid()).toBeLessThanOrEqual(cap);
          for (const v of touched) {
            const got = h.probe(v);
            if (got === 0n) continue;
            const allowed = [m4.get(v), m2.get(v >> 9)];
            expect(allowed, `vpn ${v} after ${JSON.stringify(o)}`).toContain(got);
            expect(h.lookup(v)).toBe(got);
          }
        }
      }), { numRuns: 200 });
    });
  }
});

describe('benchmark loops run and count', () => {
  it('t_tlb_hit_loop hits, t_tlb_miss_loop misses', () => {
    const { m, core } = tlb({ tlbSets: 16, tlbWays: 4 });
    core.t_tlb_hit_loop(1000);
    expect(m.stats().tlb_hit).toBe(1000n);
    expect(m.stats().tlb_miss).toBe(0n);
    core.t_tlb_miss_loop(1000);
    expect(m.stats().tlb_miss).toBe(1000n);
  });
});
