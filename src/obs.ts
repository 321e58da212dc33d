// What a run recorded for observability (assembly/obs.ts), read back from its
// obs region after the run: lock_stat per lock class (the table of
// /proc/lock_stat in virtual time), the timeline (Chrome Trace Event Format)
// and the flame graph (folded stacks of virtual cycles by kernel function).

import type { Machine } from './machine.js';
import { COUNTERS_SPEC, FUNCTIONS_SPEC } from './generated/assets.js';
import { counterNames } from './stats.js';

interface ObsSpec { lockClasses: [string, string, string][]; lockStat: [string, 'sum' | 'min' | 'max', string][] }
const spec = (): ObsSpec => COUNTERS_SPEC as ObsSpec;

/** One lock class as /proc/lock_stat reports it; times in virtual cycles. */
export interface LockStatRow {
  /** the class of spec/counters.json (lockClasses) */
  class: string;
  /** the kernel's name for it, as /proc/lock_stat prints it */
  name: string;
  conBounces: number;
  contentions: number;
  waittimeMin: number;
  waittimeMax: number;
  waittimeTotal: number;
  waittimeAvg: number;
  acqBounces: number;
  acquisitions: number;
  holdtimeMin: number;
  holdtimeMax: number;
  holdtimeTotal: number;
  holdtimeAvg: number;
  /** releases whose hold was measured (holdtime-avg = total / holds) */
  holds: number;
}

const U64_MAX = 0xffffffffffffffffn;

/**
 * lock_stat of a machine whose run recorded it: every class with at least one
 * acquisition, most contended first (as /proc/lock_stat sorts). Acquisitions,
 * contentions and the total wait are the lock-class counters of `stats`
 * (summed over CPUs); the rest comes from the obs blocks, combined over CPUs
 * as spec/counters.json lockStat says.
 */
export function readLockStat(m: Machine, stats: Record<string, bigint>): LockStatRow[] {
  const C = m.C;
  const s = spec();
  const rows: LockStatRow[] = [];
  s.lockClasses.forEach(([cls, , name], k) => {
    const f: Record<string, bigint> = {};
    s.lockStat.forEach(([field, how], i) => {
      let v = how === 'min' ? U64_MAX : 0n;
      for (let cpu = 0; cpu < m.cfg.cpus; cpu++) {
        const x = m.u64(m.obsBlock(cpu) + k * C.LS_SIZE + i * 8);
        v = how === 'sum' ? v + x : how === 'min' ? (x < v ? x : v) : (x > v ? x : v);
      }
      f[field] = how === 'min' && v === U64_MAX ? 0n : v;
    });
    const acquisitions = Number(stats[`${cls}_acquire`] ?? 0n);
    if (acquisitions === 0) return;
    const contentions = Number(stats[`${cls}_contended`] ?? 0n);
    const waitTotal = Number(stats[`${cls}_wait_cycles`] ?? 0n);
    const holds = Number(f.holds);
    rows.push({
      class: cls, name,
      conBounces: Number(f.con_bounces), contentions,
      waittimeMin: Number(f.wait_min), waittimeMax: Number(f.wait_max), waittimeTotal: waitTotal,
      waittimeAvg: contentions > 0 ? waitTotal / contentions : 0,
      acqBounces: Number(f.acq_bounces), acquisitions,
      holdtimeMin: Number(f.hold_min), holdtimeMax: Number(f.hold_max), holdtimeTotal: Number(f.hold_total),
      holdtimeAvg: holds > 0 ? Number(f.hold_total) / holds : 0, holds,
    });
  });
  return rows.sort((a, b) => b.contentions - a.contentions || b.acquisitions - a.acquisitions);
}

/**
 * The table in /proc/lock_stat's format (lock_stat version 0.4: kernel/locking/lockdep_proc.c):
 * times in microseconds of virtual time at the profile's clock, two decimals.
 */
export function formatLockStat(rows: LockStatRow[], ghz: number): string {
  const us = (cycles: number) => (cycles / (ghz * 1000)).toFixed(2);
  const cols = ['con-bounces', 'contentions', 'waittime-min', 'waittime-max', 'waittime-total', 'waittime-avg',
    'acq-bounces', 'acquisitions', 'holdtime-min', 'holdtime-max', 'holdtime-total', 'holdtime-avg'];
  const width = 40 + 1 + cols.length * 15;
  const rule = '-'.repeat(width);
  let out = 'lock_stat version 0.4 (faultline: virtual time, us at ' + ghz + ' GHz)\n';
  out += rule + '\n';
  out += 'class name'.padStart(40) + ' ' + cols.map((c) => c.padStart(14)).join(' ') + '\n';
  out += rule + '\n';
  rows.forEach((r, i) => {
    if (i > 0) out += '\n' + '.'.repeat(width) + '\n\n';
    const v = [String(r.conBounces), String(r.contentions), us(r.waittimeMin), us(r.waittimeMax), us(r.waittimeTotal), us(r.waittimeAvg),
      String(r.acqBounces), String(r.acquisitions), us(r.holdtimeMin), us(r.holdtimeMax), us(r.holdtimeTotal), us(r.holdtimeAvg)];
    out += (r.name + ':').padStart(41) + v.map((x) => x.padStart(14)).join(' ') + '\n';
  });
  return out;
}

// ---------------------------------------------------------------------------
// The timeline: Chrome Trace Event Format (JSON object form), what
// ui.perfetto.dev, chrome://tracing and speedscope open.

/** one event of the Trace Event Format (https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU) */
export interface TraceEvent {
  name: string;
  ph: 'X' | 'M' | 'C' | 'i' | 's' | 'f';
  ts?: number;
  dur?: number;
  pid: number;
  tid?: number;
  cat?: string;
  id?: number;
  bp?: 'e';
  s?: 't' | 'p' | 'g';
  args?: Record<string, unknown>;
}

export interface TraceFile {
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ns';
  otherData: Record<string, unknown>;
}

export interface TraceWhat { workload: string; strategy: string; profile: string; ghz: number; cpus: number; mode: string; seed: number }

const FAULT_PATHS = ['classic (mmap_lock, find_vma)', 'speculative', 'speculative aborted, then classic', 'per-VMA lock', 'per-VMA lock failed, then classic'];
const SYSCALLS = ['', 'mmap', 'munmap', 'mprotect', 'madvise'];
const COUNTER_TRACKS = ['', 'free frames', 'mmap_lock readers'];
const hex = (v: bigint | number) => '0x' + BigInt(v).toString(16);

/**
 * The events the CPUs recorded, as a Trace Event file: one process (the
 * machine), one thread per emulated CPU (tid = CPU), timestamps in
 * microseconds of virtual time at the profile's clock. Flow arrows (v1 flow
 * events) go from the CPU whose release ended a lock wait to the waiter, and
 * from a shootdown's sender to each IPI handler. What the rings could not
 * hold is counted in otherData.droppedEvents and marked on the CPU's track.
 */
export function readTrace(m: Machine, what: TraceWhat): TraceFile {
  const C = m.C;
  const l = m.obs!;
  const us = (cycles: bigint | number) => Number(cycles) / (what.ghz * 1000);
  const names = counterNames();
  const classes = spec().lockClasses;
  const ev: TraceEvent[] = [];
  ev.push({ name: 'process_name', ph: 'M', pid: 0, args: { name: `faultline ${what.workload} ${what.strategy} ${what.cpus} CPUs (virtual time, ${what.profile} at ${what.ghz} GHz)` } });
  const dropped: number[] = [];
  let flow = 0;
  /** a flow arrow (Trace Event Format v1 's'/'f' pair) from CPU `from` at `fromTs` to CPU `to` at `toTs` (microseconds) */
  const arrow = (name: string, cat: string, from: number, fromTs: number, to: number, toTs: number) => {
    const id = ++flow;
    ev.push({ name, cat, ph: 's', id, ts: fromTs, pid: 0, tid: from });
    ev.push({ name, cat, ph: 'f', bp: 'e', id, ts: toTs, pid: 0, tid: to });
  };
  const u32 = new Uint32Array(m.memory.buffer);
  const u64 = new BigUint64Array(m.memory.buffer);
  // a track per emulated CPU; with a guest run queue (more tasks than CPUs: assembly/vcpu.ts) a track per task
  const vcpus = m.cfg.vcpus;
  for (let cpu = 0; cpu < m.cfg.cpus; cpu++) {
    ev.push({ name: 'thread_name', ph: 'M', pid: 0, tid: cpu, args: { name: vcpus < m.cfg.cpus ? `task ${cpu} (CPU ${cpu % vcpus})` : `CPU ${cpu}` } });
    ev.push({ name: 'thread_sort_index', ph: 'M', pid: 0, tid: cpu, args: { sort_index: cpu } });
    const tr = m.obsBlock(cpu) + l.traceOff;
    const n = u32[(tr + C.TR_N) >>> 2];
    dropped.push(u32[(tr + C.TR_DROPPED) >>> 2]);
    let last = 0n;
    for (let i = 0; i < n; i++) {
      const e = tr + C.TR_EVENTS + i * C.TE_SIZE;
      const start = u64[(e + C.TE_START) >>> 3], end = u64[(e + C.TE_END) >>> 3];
      const type = u32[(e + C.TE_TYPE) >>> 2], a = u32[(e + C.TE_A) >>> 2], b = u64[(e + C.TE_B) >>> 3];
      if (end > last) last = end;
      const span = { ph: 'X' as const, ts: us(start), dur: us(end - start), pid: 0, tid: cpu };
      switch (type) {
        case C.TE_FAULT: {
          const kind = (a >>> 8) & 0xff, abort = (a >>> 16) & 0xff;
          const k = kind ? names[kind - 1] : 'none counted';
          ev.push({ ...span, name: `fault ${k.replace(/^fault_/, '')}`, cat: 'fault', args: {
            address: hex(b), write: (a >>> 24) & 1 ? true : false, kind: k, path: FAULT_PATHS[a & 0xff] ?? String(a & 0xff),
            abortReason: abort ? names[abort - 1] : null, strategy: what.strategy, cycles: Number(end - start) } });
          break;
        }
        case C.TE_LOCK_WAIT: {
          const cls = a & 0xffff, rel = (a >>> 16) - 1;
          const [cname, , kname] = classes[cls] ?? [`class ${cls}`, '', `class ${cls}`];
          const w: TraceEvent = { ...span, name: `wait ${kname}`, cat: 'lock', args: { class: cname, lock: hex(b), holder: rel >= 0 ? `CPU ${rel}` : null, cycles: Number(end - start) } };
          ev.push(w);
          if (rel >= 0 && rel !== cpu) {
            ev.push({ name: `release ${kname}`, cat: 'lock', ph: 'X', ts: us(end), dur: 0, pid: 0, tid: rel, args: { class: cname, lock: hex(b), wakes: `CPU ${cpu}` } });
            arrow('lock handover', 'lock', rel, us(end), cpu, us(end));
          }
          break;
        }
        case C.TE_SHOOTDOWN:
          ev.push({ ...span, name: 'flush_tlb_mm_range (wait for acks)', cat: 'shootdown', args: { ipis: a, startVpn: hex(b), cycles: Number(end - start) } });
          break;
        case C.TE_IPI: {
          ev.push({ ...span, name: `flush_tlb_func (IPI from CPU ${a})`, cat: 'ipi', args: { sender: `CPU ${a}`, sent: us(b) } });
          if (a !== cpu) {
            arrow('TLB-flush IPI', 'ipi', a, us(b), cpu, us(start));
          }
          break;
        }
        case C.TE_UFFD_WAIT:
          ev.push({ ...span, name: 'handle_userfault (wait)', cat: 'userfault', args: { userfaultfd: a, address: hex(b), cycles: Number(end - start) } });
          break;
        case C.TE_BARRIER:
          ev.push({ ...span, name: 'barrier', cat: 'barrier', args: { barrier: hex(b), cycles: Number(end - start) } });
          break;
        case C.TE_SYSCALL:
          ev.push({ ...span, name: SYSCALLS[a] ?? `syscall ${a}`, cat: 'syscall', args: { address: hex(b), cycles: Number(end - start) } });
          break;
        case C.TE_ONCPU:
          // exact cycles too: test/core/runq.test.ts checks that two tasks of one CPU never overlap
          ev.push({ ...span, name: `on CPU ${a}`, cat: 'sched', args: { cpu: a, startCycles: Number(start), endCycles: Number(end), left: (['', 'sleep', 'preempted (tick)', 'preempted (wake-up)', 'exit'] as const)[Number(b)] ?? String(b) } });
          break;
        case C.TE_COUNTER:
          ev.push({ name: COUNTER_TRACKS[a] ?? `counter ${a}`, ph: 'C', ts: us(start), pid: 0, args: { value: Number(b) } });
          break;
        default:
          throw new Error(`trace of CPU ${cpu}: unknown event type ${type} at #${i}`);
      }
    }
    if (dropped[cpu] > 0) {
      ev.push({ name: `${dropped[cpu]} events dropped (ring full: --trace-events)`, cat: 'faultline', ph: 'i', s: 't', ts: us(last), pid: 0, tid: cpu });
    }
  }
  const total = dropped.reduce((x, y) => x + y, 0);
  return {
    traceEvents: ev,
    displayTimeUnit: 'ns',
    otherData: {
      generator: 'faultline', ...what, timeUnit: `microseconds of virtual time at ${what.ghz} GHz`,
      window: { startCycles: Number(m.u64(C.HDR_BASE + C.H_OBS_TRACE_START)), endCycles: Number(m.u64(C.HDR_BASE + C.H_OBS_TRACE_END)) },
      eventsPerCpu: l.traceCap,
      droppedEvents: total,
      droppedPerCpu: dropped,
      ...(total > 0 ? { note: `${total} events were dropped: a CPU's ring holds ${l.traceCap} events (--trace-events N, or a narrower --trace-window)` } : {}),
    },
  };
}

// ---------------------------------------------------------------------------
// The flame graph: folded stacks of virtual cycles by kernel function.

interface FunctionsSpec { functions: [string, string, string][] }

export interface FlameResult {
  /** folded stacks (Brendan Gregg's FlameGraph convention: "a;b;c cycles" per line), all CPUs together */
  folded: string;
  /** per CPU, the same */
  foldedPerCpu: string[];
  /** the breakdown's "other work" split by the kernel function it was spent in (self cycles minus the categories); sums to "other work" (plus overlapCycles) */
  otherWork: Record<string, number>;
  /** sum of every stack: the sum of the CPUs' clocks */
  totalCycles: number;
  /** calls not recorded because a CPU's node table was full (their cycles stay with the caller) */
  lostFrames: number;
  /**
   * category cycles that exceeded the cycles of the function they were counted in (the breakdown
   * counts them twice: a userfault wait includes the wait for its context's lock): left out of the
   * graph, so otherWork sums to the breakdown's "other work" plus these
   */
  overlapCycles: number;
}

/**
 * The call graphs the CPUs kept (assembly/obs.ts), closed at each CPU's final
 * clock: each node's cycles minus its categories' cycles is a stack of the
 * function itself; each category (lock waits, cache-line waits, walks, ...)
 * is a frame "[category]" under the function it happened in. The stacks sum
 * to the sum of the CPUs' clocks.
 */
export function readFlame(m: Machine, root: string, categories: string[]): FlameResult {
  const C = m.C;
  const l = m.obs!;
  const fns = (FUNCTIONS_SPEC as FunctionsSpec).functions;
  const u32 = new Uint32Array(m.memory.buffer);
  const u64 = new BigUint64Array(m.memory.buffer);
  const g = m.regions.obs;
  const npairs = u32[g >>> 2];
  const pairs = [...Array(npairs).keys()].map((i) => u32[(g + 4 + 4 * i) >>> 2]);
  const total = new Map<string, bigint>();
  const other = new Map<string, bigint>();
  const perCpu: string[] = [];
  let sum = 0n, lost = 0, overlap = 0n;
  for (let cpu = 0; cpu < m.cfg.cpus; cpu++) {
    const f = m.obsBlock(cpu) + l.flameOff;
    const node = (i: number) => f + C.FLM_NODES + i * C.FNODE_SIZE;
    const used = u32[(f + C.FLM_USED) >>> 2];
    lost += u32[(f + C.FLM_LOST) >>> 2];
    // close the graph at the CPU's clock: what came after the last transition belongs to the current node
    const cur = u32[(f + C.FLM_CUR) >>> 2];
    const cycles = [...Array(used).keys()].map((i) => u64[(node(i) + C.FNODE_CYCLES) >>> 3]);
    cycles[cur] += m.clock(cpu) - u64[(f + C.FLM_MARK) >>> 3];
    const cats = [...Array(used).keys()].map((i) => categories.map((_, c) => u64[(node(i) + C.FNODE_CATS + 8 * c) >>> 3]));
    const stats = m.percpu(cpu) + C.PC_STATS;
    categories.forEach((_, c) => {
      const now = pairs.filter((p) => p >>> 16 === c).reduce((a, p) => a + u64[(stats + 8 * (p & 0xffff)) >>> 3], 0n);
      cats[cur][c] += now - u64[(f + C.FLM_CATS + 8 * c) >>> 3];
    });
    const stackOf: string[] = [];
    const mine = new Map<string, bigint>();
    const add = (map: Map<string, bigint>, k: string, v: bigint) => { if (v !== 0n) map.set(k, (map.get(k) ?? 0n) + v); };
    for (let i = 0; i < used; i++) {
      const fn = u32[(node(i) + C.FNODE_FN) >>> 2];
      const name = i === 0 ? root : (fns[fn]?.[1] ?? `fn${fn}`);
      stackOf[i] = i === 0 ? name : `${stackOf[u32[(node(i) + C.FNODE_PARENT) >>> 2]]};${name}`;
      let catSum = cats[i].reduce((a, b) => a + b, 0n);
      if (catSum > cycles[i]) {
        // counters of two categories (or of a category and a child's own time) cover the same cycles: the
        // breakdown counts them twice (a userfault wait includes the wait for the context's lock); the
        // graph keeps the node's cycles and reports the excess, taken from its largest categories
        let excess = catSum - cycles[i];
        overlap += excess;
        for (const k of cats[i].map((v, k) => ({ v, k })).sort((a, b) => (b.v > a.v ? 1 : b.v < a.v ? -1 : 0)).map((x) => x.k)) {
          const take = cats[i][k] < excess ? cats[i][k] : excess;
          cats[i][k] -= take; excess -= take;
          if (excess === 0n) break;
        }
        catSum = cycles[i];
      }
      const self = cycles[i] - catSum;
      add(mine, stackOf[i], self);
      add(other, i === 0 ? fns[0][1] : name, self);
      categories.forEach((c, k) => add(mine, `${stackOf[i]};[${c}]`, cats[i][k]));
      sum += cycles[i];
    }
    perCpu.push(fold(mine));
    for (const [k, v] of mine) add(total, k, v);
  }
  return {
    folded: fold(total), foldedPerCpu: perCpu,
    otherWork: Object.fromEntries([...other].sort((a, b) => (b[1] > a[1] ? 1 : b[1] < a[1] ? -1 : 0)).map(([k, v]) => [k, Number(v)])),
    totalCycles: Number(sum), lostFrames: lost, overlapCycles: Number(overlap),
  };
}

/** "stack value" lines, sorted by stack (what flamegraph.pl and inferno read) */
function fold(m: Map<string, bigint>): string {
  return [...m].filter(([, v]) => v !== 0n).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([k, v]) => `${k} ${v}`).join('\n') + '\n';
}

/** the breakdown's "other work" split by kernel function, for the CLI (top 12, then the rest) */
export function formatOtherWork(p: { flame?: FlameResult; clocks: number[]; cyclesByCategory: Record<string, number> }): string {
  if (!p.flame) return '';
  const total = p.clocks.reduce((a, b) => a + b, 0);
  const pct = (v: number) => `${total > 0 ? ((v / total) * 100).toFixed(1) : '0.0'}%`;
  const rows = Object.entries(p.flame.otherWork);
  const top = rows.slice(0, 12).map(([k, v]) => `${k} ${pct(v)}`);
  const rest = rows.slice(12).reduce((a, [, v]) => a + v, 0);
  let out = `"other work" (${pct(p.cyclesByCategory['other work'] ?? 0)} of all CPUs' cycles) by kernel function: ${top.join(', ')}`;
  if (rest > 0) out += `, ${rows.length - 12} others ${pct(rest)}`;
  out += '\n';
  if (p.flame.lostFrames > 0) out += `  (${p.flame.lostFrames} calls not recorded: a CPU's call graph was full; their cycles stay with the caller)\n`;
  if (p.flame.overlapCycles > 0) out += `  (${p.flame.overlapCycles} cycles of categories overlap other categories or callees' time and are left out of the graph)\n`;
  return out;
}
