// `npm run bench`: micro-benchmarks (tinybench, loops inside Wasm) and whole
// runs at several CPU counts. Prints tables and writes bench-results/latest.json
// (the previous latest.json is kept as previous.json and compared against).

import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execSync } from 'node:child_process';
import { runMicro, type MicroResult } from './micro.js';
import { speedCases, type SpeedResult } from './speed.js';
import { packageRoot } from '../src/wasm.js';

interface BenchFile { date: string; commit: string; host: string; micro: MicroResult[]; speed: SpeedResult[] }

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
  const latest = join(dir, 'latest.json');
  const prev: BenchFile | undefined = existsSync(latest) ? JSON.parse(readFileSync(latest, 'utf8')) : undefined;
  const only = process.argv[2];

  console.log('micro-benchmarks (operations per host second, measured inside Wasm loops)');
  const micro = only === 'speed' ? [] : await runMicro();
  for (const r of micro) {
    const p = prev?.micro.find((x) => x.name === r.name)?.opsPerSec;
    console.log(`  ${r.name.padEnd(44)} ${fmt(r.opsPerSec).padStart(10)} ops/s ±${r.rme.toFixed(1)}%${delta(p, r.opsPerSec)}`);
  }

  console.log('\nemulator speed on whole runs (host seconds; virtual numbers are not mixed in)');
  const speed: SpeedResult[] = [];
  if (only !== 'micro') {
    for (const c of speedCases) {
      for (const n of c.cpuCounts) {
        const r = await c.run(n);
        speed.push(r);
        const p = prev?.speed.find((x) => x.name === r.name && x.cpus === n)?.opsPerHostSec;
        console.log(`  ${r.name.padEnd(38)} cpus=${String(n).padStart(2)}  ${fmt(r.opsPerHostSec).padStart(9)} ops/s  ${fmt(r.vcyclesPerHostSec).padStart(9)} vcycles/s  barrier waits ${fmt(r.barrierWaitsPerHostSec)}/s  wall ${r.wallMs.toFixed(0)} ms${delta(p, r.opsPerHostSec)}`);
      }
    }
  }

  let commit = 'unknown';
  try { commit = execSync('git rev-parse --short HEAD', { cwd: root }).toString().trim(); } catch { /* not a git checkout */ }
  const out: BenchFile = { date: new Date().toISOString(), commit, host: `${process.version} ${process.platform}/${process.arch}`, micro, speed };
  if (existsSync(latest)) renameSync(latest, join(dir, 'previous.json'));
  writeFileSync(latest, JSON.stringify(out, null, 2));
  console.log(`\nwrote ${latest}`);
}

main().catch((e) => { console.error(`bench: ${e instanceof Error ? e.message : e}`); process.exit(1); });
