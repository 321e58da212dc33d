// `faultline validate --host`: this host's own kernel as a reference. Builds
// host/wis.c (faultline's re-expression of will-it-scale's page_fault1/2/3,
// mmap1 and tlb_flush1 in threads mode; will-it-scale's own code is not in
// this repository) with the C compiler found on PATH, runs each test at 1 and
// 2 threads, and compares the 2t/1t ratio and the absolute 1-thread rate with
// the emulator's on the profile that describes this host: the one `faultline
// calibrate --host` measured (out/calibrate/host.json, or --profile FILE),
// else the shipped kvm-epyc-2vcpu. Host numbers depend on host load: the load
// average is recorded beside them, and the absolute rate is also taken per
// second of CPU the thread got. Says plainly when it cannot build or run.

import { spawnSync } from 'node:child_process';
import { buildHostProgram } from './calibrate.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg, cpus as hostCpus, release } from 'node:os';
import { runWorkload, type StrategyName } from './api.js';
import { loadProfile } from './profile.js';
import { PACKAGE_ROOT } from './package-root.js';

export const HOST_TESTS = ['page_fault1', 'page_fault2', 'page_fault3', 'mmap1', 'tlb_flush1'] as const;
/** the shipped profile describing this host (a 2-vCPU KVM guest on AMD EPYC), when no calibrated one exists */
export const HOST_PROFILE = 'kvm-epyc-2vcpu';
/** where `faultline calibrate --host` writes its profile by default */
export const CALIBRATED_PROFILE = join('out', 'calibrate', 'host.json');

export interface HostRow {
  test: string;
  /** iterations per second at 1 and 2 threads on this host */
  host1: number | null;
  host2: number | null;
  hostRatio: number | null;
  emulatedRatio: number | null;
  /** emulated / host - 1 (the 2t/1t ratios) */
  error: number | null;
  /** iterations per second of CPU time at 1 thread (= host1 on an idle host) */
  hostCpu1: number | null;
  /** the emulated 1-CPU rate (ops per virtual second) */
  emulated1: number | null;
  /** emulated1 / hostCpu1 - 1: the absolute 1-thread rate */
  absError: number | null;
  /** page faults per iteration at 1 thread: the host's (its minor faults over the period) and the emulator's */
  hostFaultsPerOp: number | null;
  emulatedFaultsPerOp: number | null;
  note?: string;
}

export interface HostResult {
  built: boolean;
  /** why it could not build or run, in one sentence */
  reason?: string;
  compiler?: string;
  kernel: string;
  hostCpus: number;
  loadAvg: number[];
  strategy: string;
  profile: string;
  /** the profile was measured on this host by `faultline calibrate --host` */
  calibrated: boolean;
  seconds: number;
  rows: HostRow[];
}

export interface HostOptions {
  /** seconds per host run (default 2) */
  seconds?: number;
  /** compilers to try, in order (default $CC, cc, gcc, clang) */
  compilers?: string[];
  /** emulator budget per point (default: the workloads' own) */
  vcycles?: number;
  /** the host's profile (default: CALIBRATED_PROFILE when it exists, else HOST_PROFILE) */
  profile?: string;
}

/** per-VMA locks from Linux 6.4: the strategy the host's kernel uses */
function kernelStrategy(rel: string): StrategyName {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  if (!m) return 'mmap_lock';
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > 6 || (maj === 6 && min >= 4) ? 'pervma' : 'mmap_lock';
}

/** Build and run; never throws for a missing compiler or a failed run (the result says why). */
export async function runHostValidation(dir: string, opts: HostOptions = {}): Promise<HostResult> {
  const seconds = opts.seconds ?? 2;
  const kernel = release();
  const strategy = kernelStrategy(kernel);
  const profile = opts.profile ?? (existsSync(CALIBRATED_PROFILE) ? CALIBRATED_PROFILE : HOST_PROFILE);
  let calibrated = false;
  if (profile !== HOST_PROFILE) {
    const p = loadProfile(profile); // a bad file: ProfileError, one line
    calibrated = Object.values(p.sources).every((s) => s.startsWith('measured on this host by faultline calibrate'));
  }
  const base: HostResult = { built: false, kernel, hostCpus: hostCpus().length, loadAvg: loadavg(), strategy, profile, calibrated, seconds, rows: [] };
  const built = buildHostProgram('wis', dir, 'the host comparison', opts.compilers);
  if (built.reason !== undefined) return { ...base, compiler: built.cc, reason: built.reason };
  const { bin, cc } = built;
  const rows: HostRow[] = [];
  for (const test of HOST_TESTS) {
    const rate = (n: number): [number | null, number | null, number | null] => {
      const r = spawnSync(bin, [test, String(n), String(seconds)], { encoding: 'utf8', timeout: (seconds + 10) * 1000 });
      const m = /\S+ \d+ (\d+) (\d+)(?: ([\d.]+))?/.exec(r.stdout ?? '');
      return r.status === 0 && m ? [Number(m[1]), Number(m[2]) || null, m[3] !== undefined ? Number(m[3]) : null] : [null, null, null];
    };
    const [host1, hostCpu1, hostFaultsPerOp] = rate(1);
    const [host2] = rate(2);
    const hostRatio = host1 && host2 !== null ? host2 / host1 : null;
    const em = async (cpus: number) => runWorkload({ workload: test, strategy, cpus, profile,
      mode: 'deterministic', workers: 1, ...(opts.vcycles !== undefined ? { vcycles: opts.vcycles } : {}) });
    const p1 = await em(1);
    const e1 = p1.opsPerVirtualSec;
    const e2 = (await em(2)).opsPerVirtualSec;
    const emulatedFaultsPerOp = p1.ops ? (p1.stats.fault ?? 0) / p1.ops : null;
    const emulatedRatio = e1 && e2 !== null ? e2 / e1 : null;
    rows.push({ test, host1, host2, hostRatio, emulatedRatio,
      error: hostRatio && emulatedRatio !== null ? emulatedRatio / hostRatio - 1 : null,
      hostCpu1, emulated1: e1, absError: hostCpu1 && e1 !== null ? e1 / hostCpu1 - 1 : null, hostFaultsPerOp, emulatedFaultsPerOp,
      ...(host1 === null || host2 === null ? { note: 'the host run failed' } : {}) });
  }
  return { ...base, built: true, compiler: cc, loadAvg: loadavg(), rows };
}

const f = (v: number | null, d = 2) => (v === null ? '-' : v.toFixed(d));
const k = (v: number | null) => (v === null ? '-' : v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : `${(v / 1e3).toFixed(1)}k`);

export function formatHostTable(h: HostResult): string {
  if (!h.built) return `host comparison: not run: ${h.reason}\n`;
  const pct = (e: number | null, note = '-') => (e === null ? note : `${e >= 0 ? '+' : ''}${(e * 100).toFixed(1)}%`);
  const head = ['test', 'host 1t/s', 'host 2t/s', 'host 2t/1t', 'emulated 2t/1t', 'error', 'host 1t/cpu-s', 'emulated 1t/s', '1t error', 'faults/op host', 'emulated'];
  const rows = h.rows.map((r) => [r.test, k(r.host1), k(r.host2), f(r.hostRatio), f(r.emulatedRatio), pct(r.error, r.note),
    k(r.hostCpu1), k(r.emulated1), pct(r.absError), f(r.hostFaultsPerOp, 3), f(r.emulatedFaultsPerOp, 3)]);
  const w = head.map((x, i) => Math.max(x.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  const load = h.loadAvg.map((x) => x.toFixed(2)).join(' ');
  return [
    `host comparison: Linux ${h.kernel} (${h.hostCpus} CPUs, load average ${load}), ${h.seconds} s per run, built with ${h.compiler};`,
    `emulator: ${h.strategy} (the host kernel's), profile ${h.profile}${h.calibrated ? ' (measured on this host by faultline calibrate)' : ' (not measured here: run faultline calibrate --host)'}, deterministic mode, whole loops (--loops 1);`,
    'host 1t/cpu-s: iterations per second of CPU time the thread got (its wall rate on an idle host); 1t error: emulated 1t/s against it;',
    'faults/op: page faults per iteration at 1 thread (the host\'s minor faults; below 1 where its kernel maps several pages per fault, a file\'s large folio)',
    line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line),
    h.loadAvg[0] > h.hostCpus ? `note: the host is loaded (load average ${h.loadAvg[0].toFixed(1)} on ${h.hostCpus} CPUs): its ratios measure the load as much as the kernel` : '',
  ].filter((l) => l !== '').join('\n') + '\n';
}

/** for tests: the text of host/wis.c (so a test can check what it builds) */
export const wisSource = () => readFileSync(join(PACKAGE_ROOT, 'host', 'wis.c'), 'utf8');
