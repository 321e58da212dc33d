import { describe, it, expect } from 'vitest';
import { Machine } from '../../src/machine.js';
import { checkInvariants, formatViolations } from '../../src/checker.js';
import { workloadByName } from '../../src/workloads.js';
import { POINT_DEFAULTS, type PointSpec } from '../../src/experiment.js';
import { PAGE_READONLY, pfn_pte } from '../../src/pte.js';

// MAX_CPUS = 256: CPU sets are 4 x u64 (assembly/cpumask.ts), cache-line
// metadata carries 256-bit sharer / recent / previous masks and a 9-bit owner,
// the IPI mailbox is sized by the run's CPU count. The bit operations are
// driven through the core's exports on the host instance (cpu_bind(n) makes
// CPU n the current one); one short real run uses all 256 CPUs.

/** CPU ids at and around the word boundaries of a 256-bit mask */
const IDS = [0, 63, 64, 127, 200, 255];
const NOT = [1, 62, 65, 126, 128, 191, 192, 199, 201, 254];
const PROFILE = 'amd-epyc-rome'; // 2 x 64 x 2 = 256 hardware threads

function machine256() {
  return new Machine({ cpus: 256, profile: PROFILE, ptPages: 64, frames: 1024, vmas: 64 });
}

describe('cpumask (256 bits)', () => {
  const m = machine256();
  const core = m.host.core;
  const C = m.C;
  const mask = m.hostAlloc(C.CPUMASK_SIZE);
  const word = (w: number) => m.u64(mask + 8 * w);

  it('set / test / weight / first / clear for CPUs on both sides of every word boundary', () => {
    core.cpumask_clear(mask);
    expect(core.cpumask_empty(mask)).toBe(1);
    expect(core.cpumask_first(mask)).toBe(C.MAX_CPUS);
    for (const c of IDS) core.cpumask_set_cpu(c, mask);
    for (const c of IDS) expect(core.cpumask_test_cpu(c, mask), `cpu ${c}`).toBe(1);
    for (const c of NOT) expect(core.cpumask_test_cpu(c, mask), `cpu ${c}`).toBe(0);
    // bit c & 63 of word c >> 6
    expect([0, 1, 2, 3].map(word)).toEqual([1n | (1n << 63n), 1n | (1n << 63n), 0n, (1n << 8n) | (1n << 63n)]);
    expect(core.cpumask_weight(mask)).toBe(IDS.length);
    expect(core.cpumask_first(mask)).toBe(0);
    core.cpumask_clear_cpu(0, mask);
    core.cpumask_clear_cpu(63, mask);
    expect(core.cpumask_first(mask)).toBe(64);
    expect(core.cpumask_weight(mask)).toBe(4);
    core.cpumask_set_cpu(200, mask); // idempotent
    expect(core.cpumask_weight(mask)).toBe(4);
    for (const c of IDS) core.cpumask_clear_cpu(c, mask);
    expect(core.cpumask_empty(mask)).toBe(1);
    expect([0, 1, 2, 3].map(word)).toEqual([0n, 0n, 0n, 0n]);
  });

  it('fill(n) sets exactly CPUs 0 .. n-1; only / copy', () => {
    for (const n of [0, 1, 63, 64, 65, 127, 128, 200, 255, 256]) {
      core.cpumask_fill(mask, n);
      expect(core.cpumask_weight(mask), `n=${n}`).toBe(n);
      if (n > 0) expect(core.cpumask_test_cpu(n - 1, mask)).toBe(1);
      if (n < 256) expect(core.cpumask_test_cpu(n, mask)).toBe(0);
    }
    const other = m.hostAlloc(C.CPUMASK_SIZE);
    for (const c of IDS) {
      core.cpumask_only(c, mask);
      expect(core.cpumask_weight(mask)).toBe(1);
      expect(core.cpumask_first(mask)).toBe(c);
      core.cpumask_copy(other, mask);
      expect(core.cpumask_first(other)).toBe(c);
    }
  });

  it('the mm of a 256-CPU machine starts with all 256 CPUs in its cpumask', () => {
    const cm = m.regions.mm + C.MM_CPUMASK;
    expect(core.cpumask_weight(cm)).toBe(256);
    expect([0, 1, 2, 3].map((w) => m.u64(cm + 8 * w))).toEqual(Array(4).fill((1n << 64n) - 1n));
    const m200 = new Machine({ cpus: 200, profile: PROFILE, ptPages: 64, frames: 1024, vmas: 64 });
    const cm200 = m200.regions.mm + C.MM_CPUMASK;
    expect(m200.host.core.cpumask_weight(cm200)).toBe(200);
    expect(m200.u64(cm200 + 24)).toBe((1n << 8n) - 1n); // CPUs 192 .. 199
  });
});

describe('cache-line metadata for 256 CPUs', () => {
  const m = machine256();
  const core = m.host.core;
  const C = m.C;
  const state = (line: number) => m.u64(line + C.LM_STATE);
  const owner1 = (line: number) => Number(state(line) & BigInt(C.LM_OWNER_MASK));
  const count = (line: number) => Number((state(line) >> BigInt(C.LM_COUNT_SHIFT)) & BigInt(C.LM_COUNT_MASK));

  it('readers join the sharers (one bit each, any word); a writer becomes owner and only sharer', () => {
    const line = m.hostAlloc(C.LM_SIZE);
    for (const c of IDS) { core.cpu_bind(c); core.line_read(line); }
    const sharers = line + C.LM_SHARERS;
    for (const c of IDS) expect(core.cpumask_test_cpu(c, sharers), `cpu ${c}`).toBe(1);
    for (const c of NOT) expect(core.cpumask_test_cpu(c, sharers), `cpu ${c}`).toBe(0);
    expect(core.cpumask_weight(sharers)).toBe(IDS.length);
    expect(core.line_owner(line)).toBe(-1); // nobody wrote it
    // a second read by a sharer is an L1 hit: one load of its word, no transfer
    core.cpu_bind(200);
    const t0 = m.clock(200);
    core.line_read(line);
    expect(m.clock(200) - t0).toBe(BigInt(m.profile.cycles.l1_hit));

    for (const [i, c] of IDS.entries()) {
      core.cpu_bind(c);
      core.line_rmw(line);
      // owner round-trip through the 9-bit field of the state word (owner + 1 = 256 for CPU 255)
      expect(owner1(line)).toBe(c + 1);
      expect(core.line_owner(line)).toBe(c);
      expect(core.cpumask_weight(sharers)).toBe(1);
      expect(core.cpumask_test_cpu(c, sharers)).toBe(1);
      // all in bucket 0 (clocks near 0): RECENT collects every writer, the count field counts them
      expect(core.cpumask_weight(line + C.LM_RECENT)).toBe(i + 1);
      expect(count(line)).toBe(i + 1);
      expect(core.line_busy_until(line)).toBe(m.clock(c)); // busy_until field intact under a large owner
    }
    // "other" CPUs of RECENT | PREVIOUS: popcount and lowest id over the 4 words (count << 16 | first)
    const others = (both: boolean, c: number) => { const x = core.line_others(line, both ? 1 : 0, c) >>> 0; return [x >>> 16, x & 0xffff]; };
    expect(others(true, 255)).toEqual([5, 0]);
    expect(others(true, 0)).toEqual([5, 63]);
    expect(others(false, 64)).toEqual([5, 0]);
    expect(others(true, 100)).toEqual([6, 0]); // a CPU that never used the line
  });

  it('the sharer word of each CPU is word cpu >> 6, bit cpu & 63', () => {
    for (const c of IDS) {
      const line = m.hostAlloc(C.LM_SIZE);
      core.cpu_bind(c);
      core.line_read(line);
      for (let w = 0; w < C.CPUMASK_WORDS; w++) {
        expect(m.u64(line + C.LM_SHARERS + 8 * w), `cpu ${c} word ${w}`).toBe(w === c >> 6 ? 1n << BigInt(c & 63) : 0n);
      }
    }
  });
});

describe('IPI mailbox sized by the run', () => {
  it('one slot per CPU of the run, whole cache lines; the TLB follows it (core and host agree)', () => {
    const sizes: Record<number, number> = {};
    for (const n of [1, 4, 64, 65, 256]) {
      const m = new Machine({ cpus: n, profile: PROFILE, ptPages: 16, frames: 256, vmas: 16 });
      const C = m.C;
      const pl = m.percpuLayout;
      expect(pl.mailboxBytes).toBe(Math.ceil((n * C.MB_SIZE) / 64) * 64);
      expect(pl.mailboxOff).toBe(m.host.core.mailbox_off());
      expect(pl.tlbOff).toBe(m.host.core.tlb_off());
      expect(pl.tlbOff).toBe(pl.mailboxOff + pl.mailboxBytes);
      expect(pl.mailboxOff + n * C.MB_SIZE).toBeLessThanOrEqual(pl.tlbOff); // the slot of the last sender fits
      sizes[n] = m.u32(C.HDR_BASE + C.H_PERCPU_SIZE);
    }
    const C = new Machine({ cpus: 1 }).C;
    expect(sizes[4]).toBeLessThan(sizes[256]);
    // a 4-CPU machine does not carry MAX_CPUS slots per CPU
    expect(sizes[4]).toBeLessThan(C.PC_STATS + C.NSTATS_ALIGNED * 8 + C.MAX_CPUS * C.MB_SIZE);
    console.log(`per-CPU block: ${Object.entries(sizes).map(([n, s]) => `${n} CPUs ${s} B`).join(', ')}`);
  });

  it('a TLB entry of CPU 255 is where the host checker looks for it', () => {
    const m = machine256();
    const core = m.host.core;
    core.cpu_bind(255);
    const vpn = 0x12345n;
    core.tlb_insert(vpn, pfn_pte(7n, PAGE_READONLY));
    expect(core.tlb_probe(255, vpn)).not.toBe(0n);
    // nothing maps vpn: the checker must find CPU 255's entry stale (it reads the TLB at percpuLayout.tlbOff)
    const vs = checkInvariants(m);
    expect(vs.map((v) => `${v.kind} ${v.cpu}`)).toEqual(['tlb-stale 255']);
  });
});

describe('a 256-CPU run', () => {
  it('pft-private on 256 CPUs: faults complete, every CPU shoots down, IPIs reach CPUs in every mask word, invariants hold', async () => {
    const w = workloadByName('pft-private');
    // a tiny budget: the cost is the 256 worker threads (~15 s on 2 host cores), not the virtual cycles
    const spec: PointSpec = { ...POINT_DEFAULTS, workload: w.name, strategy: 'mmap_lock', cpus: 256, profile: PROFILE, vcycles: 20_000 };
    const m = new Machine({ cpus: 256, profile: PROFILE, strategy: 0, watchdogMs: 30_000, ...w.machine?.(spec) });
    const ctx = w.setup(m, spec);
    const r = await m.run((cpu) => w.task(cpu, ctx));
    expect(r.error).toBeUndefined();
    expect(w.ops(m, r, ctx)).toBeGreaterThan(0);
    const perCpu = [...Array(256).keys()].map((c) => m.stats(c));
    // every CPU munmapped its region: one flush_tlb_mm_range each, over the 4 words of mm_cpumask
    for (const [c, s] of perCpu.entries()) expect(s.shootdown, `cpu ${c}`).toBeGreaterThan(0n);
    const receivers = perCpu.map((s, c) => (s.ipi_received > 0n ? c : -1)).filter((c) => c >= 0);
    expect(receivers.length).toBeGreaterThan(128);
    for (let wd = 0; wd < 4; wd++) expect(receivers.some((c) => c >> 6 === wd), `word ${wd}`).toBe(true);
    // every CPU left the mm's cpumask when it finished (cpu_finish: cpumask_clear_cpu)
    expect(m.host.core.cpumask_weight(m.regions.mm + m.C.MM_CPUMASK)).toBe(0);
    expect(formatViolations(checkInvariants(m))).toBe('');
  }, 180_000);
});
