// `npm run bench`: micro-benchmarks (tinybench, loops inside Wasm) and whole
// runs at several CPU counts. Prints tables and writes bench-results/latest.json
// (the previous latest.json is kept as previous.json and compared against).
// `npm run bench [micro|speed|agreement]` runs one part only.

import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { execSync } from 'node:child_process';
import { runMicro, type MicroResult } from './micro.js';
import { speedCases, measureStartup, medianRun, REPEATS, type SpeedResult, type Startup } from './speed.js';
import { modeAgreement, pftAgreement64, type Agreement } from './agreement.js';
import { packageRoot } from '../src/node/platform.js';

/** a fault-speed figure as a ratio to the 1-CPU parallel (mn engine) figure of the same workload in the same run */
interface Ratio {
  name: string; cpus: number; mode: string; engine: string; workers: number; opsPerHostSec: number; ratio: number; target?: number; met?: boolean;
  /** a parallel point on the host's workers: twice the same point's ratio on ONE worker (what a second host core could add at most) */
  limit2?: number;
}
interface BenchFile { date: string; commit: string; host: string; loadAvg: number[]; startup?: Startup; micro: MicroResult[]; speed: SpeedResult[]; ratios: Ratio[]; agreement: Agreement[] }

/** the issue's targets on the 2-core host: [mode, engine, cpus] -> minimum ratio to the 1-CPU mn figure */
const TARGETS: [string, string, number, number, string][] = [
  ['parallel', 'mn', 64, 0.8, '64 CPUs >= 0.8x the 1-CPU speed'],
  ['parallel', 'mn', 256, 0.6, '256 CPUs >= 0.6x'],
  ['deterministic', 'mn', 64, 0.4, 'deterministic 64 CPUs >= 0.4x'],
];

/** ratios of one run's fault-speed figures; the threads-engine 1-CPU point is the build without Asyncify */
function ratios(speed: SpeedResult[]): Ratio[] {
  const out: Ratio[] = [];
  for (const r of speed) {
    const base = speed.find((x) => x.name === r.name && x.cpus === 1 && x.mode === 'parallel' && x.engine === 'mn');
    if (!base || !r.name.includes('(spf)')) continue;
    const ratio = r.opsPerHostSec / base.opsPerHostSec;
    // a parallel point on one worker (beside the same point on the host's workers) has no target: it bounds the other
    const oneWorker = r.mode === 'parallel' && r.cpus > 1 && r.workers === 1;
    const t = oneWorker ? undefined : TARGETS.find(([m, e, n]) => m === r.mode && e === r.engine && n === r.cpus);
    const w1 = r.mode === 'parallel' && r.workers > 1 ? speed.find((x) => x.name === r.name && x.cpus === r.cpus && x.mode === 'parallel' && x.engine === r.engine && x.workers === 1) : undefined;
    // the Asyncify build at 1 CPU vs the build without it: no more than 10 % slower
    const asy = r.engine === 'threads' && r.cpus === 1 ? base.opsPerHostSec / r.opsPerHostSec : undefined;
    out.push({ name: r.name, cpus: r.cpus, mode: r.mode, engine: r.engine, workers: r.workers, opsPerHostSec: r.opsPerHostSec, ratio,
      ...(w1 ? { limit2: (2 * w1.opsPerHostSec) / base.opsPerHostSec } : {}),
      ...(t ? { target: t[3], met: ratio >= t[3] } : {}), ...(asy !== undefined ? { target: 0.9, met: asy >= 0.9 } : {}) });
  }
  return out;
}

const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(1));

function delta(prev: number | undefined, cur: number): string {
  if (!prev) return '';
  const d = ((cur - prev) / prev) * 100;
  return ` (${d >= 0 ? '+' : ''}${d.toFixed(1)}% vs previous)`;
}

async function main() {
  const root = packageRoot();
  const dir = join(root, 'bench-results');
  mkdirSync(dir, { recursive: true });
  const only = process.argv[2];
  if (only !== undefined && !['micro', 'speed', 'agreement'].includes(only)) throw new Error(`unknown part "${only}" (micro, speed or agreement)`);
  // a partial run writes its own file and leaves the full one alone
  const latest = join(dir, only ? `latest-${only}.json` : 'latest.json');
  const prev: BenchFile | undefined = existsSync(latest) ? JSON.parse(readFileSync(latest, 'utf8')) : undefined;

  console.log('micro-benchmarks (operations per host second, measured inside Wasm loops)');
  const micro = only === undefined || only === 'micro' ? await runMicro() : [];
  for (const r of micro) {
    const p = prev?.micro.find((x) => x.name === r.name)?.opsPerSec;
    console.log(`  ${r.name.padEnd(44)} ${fmt(r.opsPerSec).padStart(10)} ops/s ±${r.rme.toFixed(1)}%${delta(p, r.opsPerSec)}`);
  }

  console.log('\nemulator speed on whole runs (host seconds; virtual numbers are not mixed in)');
  const speed: SpeedResult[] = [];
  let startup: Startup | undefined;
  if (only === undefined || only === 'speed') {
    startup = await measureStartup();
    console.log(`  a run's start-up and end (page_fault1, 2 CPUs, 10^6 cycles each): ${startup.freshMs.toFixed(0)} ms on new worker threads, ${startup.keptMs.toFixed(0)} ms on the threads the process kept from its last run (medians of ${startup.samples}); the points below run on kept threads`);
    console.log(`  a CLI command's whole process (faultline list): ${startup.cliMs.toFixed(0)} ms (median of ${startup.samples})`);
    const show = (r: SpeedResult) => {
      const p = prev?.speed.find((x) => x.name === r.name && x.cpus === r.cpus && x.mode === r.mode && x.engine === r.engine && x.workers === r.workers)?.opsPerHostSec;
      console.log(`  ${r.name.padEnd(36)} ${r.mode.slice(0, 5)} ${r.engine.padEnd(7)} cpus=${String(r.cpus).padStart(3)} w=${r.workers}  ${fmt(r.opsPerHostSec).padStart(9)} ops/s  ${fmt(r.vcyclesPerHostSec).padStart(9)} vcycles/s  switches ${fmt(r.switchesPerHostSec)}/s  barrier waits ${fmt(r.barrierWaitsPerHostSec)}/s  wall ${r.wallMs.toFixed(0)} ms${r.setupMs === undefined ? '' : ` (+${r.setupMs.toFixed(0)} ms set-up)`}${delta(p, r.opsPerHostSec)}`);
    };
    // the fault-speed points: REPEATS rounds over all of them, then each point's median
    const points = speedCases.filter((c) => c.interleaved).flatMap((c) => c.cpuCounts.map((n) => ({ c, n, runs: [] as SpeedResult[] })));
    for (let round = 0; round < REPEATS; round++) for (const pt of points) pt.runs.push(await pt.c.run(pt.n));
    for (const pt of points) { const r = medianRun(pt.runs); speed.push(r); show(r); }
    for (const c of speedCases.filter((x) => !x.interleaved)) for (const n of c.cpuCounts) { const r = await c.run(n); speed.push(r); show(r); }
  }

  const rs = ratios(speed);
  if (rs.length) {
    console.log('\nemulated faults per host second as a ratio to 1 CPU (parallel, mn engine) of the same run');
    for (const r of rs) {
      const what = r.engine === 'threads' ? '1 CPU without Asyncify (threads engine)' : `${r.mode} ${r.cpus} CPU(s)${r.cpus > 1 ? ` on ${r.workers} worker${r.workers > 1 ? 's' : ''}` : ''}`;
      const tgt = r.target === undefined ? '' : r.engine === 'threads'
        ? `  Asyncify build at 1 CPU = ${(1 / r.ratio).toFixed(2)}x of this (target >= 0.90x): ${r.met ? 'met' : 'MISSED'}`
        : `  target >= ${r.target}x: ${r.met ? 'met' : 'MISSED'}`;
      const lim = r.limit2 === undefined ? '' : `  (2 x one worker = ${r.limit2.toFixed(2)}x: ${((r.ratio / r.limit2) * 100).toFixed(0)}% of it)`;
      console.log(`  ${r.name.padEnd(22)} ${what.padEnd(42)} ${fmt(r.opsPerHostSec).padStart(9)}/s  ${r.ratio.toFixed(2)}x${tgt}${lim}`);
    }
  }

  const agreement: Agreement[] = [];
  if (only === undefined || only === 'agreement') {
    console.log(`\nparallel vs deterministic mode on the same runs (host load average ${loadavg()[0].toFixed(1)}; per virtual kcycle)`);
    const row = (label: string, a: Agreement) => {
      agreement.push(a);
      console.log(`  ${label.padEnd(7)} ${String(a.cpus).padStart(2)} CPUs  ${a.what.padEnd(12)} parallel ${a.parallel.toFixed(3).padStart(8)}  deterministic ${a.deterministic.toFixed(3).padStart(8)}  ${a.offPct >= 0 ? '+' : ''}${a.offPct.toFixed(1)}%`);
    };
    for (const a of await modeAgreement()) row(a.engine, a);
    const p = await pftAgreement64();
    for (const [what, off] of [['parallel', p.quietOffPct], ['parallel beside a CPU hog', p.loadedOffPct]] as const) {
      agreement.push({ engine: 'mn', cpus: 64, what: `pft-private spf, ${what}`, parallel: p[what === 'parallel' ? 'quiet' : 'loaded'].opsPerVirtualSec ?? NaN, deterministic: p.det.opsPerVirtualSec ?? NaN, offPct: off });
      console.log(`  mn      64 CPUs  pft-private spf faults/s, ${what}: ${off >= 0 ? '+' : ''}${off.toFixed(1)}% from deterministic`);
    }
    // the same rules without host races: what parallel mode's rules cost, apart from what the host's interleaving adds
    console.log('  parallel mode on ONE worker (its rules without host races: the same bits on every host and run)');
    for (const a of await modeAgreement(['mn'], [4, 8], 1)) row('mn/1w', a);
    agreement.push({ engine: 'mn', cpus: 64, what: 'pft-private spf, parallel on one worker', parallel: p.oneWorker.opsPerVirtualSec ?? NaN, deterministic: p.det.opsPerVirtualSec ?? NaN, offPct: p.oneWorkerOffPct, workers: 1 });
    console.log(`  mn/1w   64 CPUs  pft-private spf faults/s: ${p.oneWorkerOffPct >= 0 ? '+' : ''}${p.oneWorkerOffPct.toFixed(1)}% from deterministic`);
  }

  let commit = 'unknown';
  try { commit = execSync('git rev-parse --short HEAD', { cwd: root }).toString().trim(); } catch { /* not a git checkout */ }
  const out: BenchFile = { date: new Date().toISOString(), commit, host: `${process.version} ${process.platform}/${process.arch}`, loadAvg: loadavg(), ...(startup ? { startup } : {}), micro, speed, ratios: rs, agreement };
  if (existsSync(latest)) renameSync(latest, join(dir, only ? `previous-${only}.json` : 'previous.json'));
  writeFileSync(latest, JSON.stringify(out, null, 2));
  console.log(`\nwrote ${latest}`);
}

main().catch((e) => { console.error(`bench: ${e instanceof Error ? e.message : e}`); process.exit(1); });
