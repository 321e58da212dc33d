// What a run recorded for observability (assembly/obs.ts), read back from its
// obs region after the run: lock_stat per lock class (the table of
// /proc/lock_stat in virtual time), the timeline (Chrome Trace Event Format)
// and the flame graph (folded stacks of virtual cycles by kernel function).

import type { Machine } from './machine.js';
import { COUNTERS_SPEC } from './generated/assets.js';

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
