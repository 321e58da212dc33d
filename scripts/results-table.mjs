// Prints a markdown table of a sweep's results.csv (for the README):
// ops per virtual second by workload x strategy, one column per CPU count.
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'out/results.csv';
const [head, ...rows] = readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split(','));
const col = (n) => head.indexOf(n);
const cpus = [...new Set(rows.map((r) => Number(r[col('cpus')])))].sort((a, b) => a - b);
const fmt = (x) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(0)}k`);
const series = new Map();
for (const r of rows) {
  const k = `${r[col('workload')]} | ${r[col('strategy')]}`;
  if (!series.has(k)) series.set(k, {});
  series.get(k)[r[col('cpus')]] = r[col('ok')] === 'true' ? fmt(Number(r[col('ops_per_vsec')])) : 'failed';
}
console.log(`| workload | strategy | ${cpus.map((c) => `${c} CPU${c > 1 ? 's' : ''}`).join(' | ')} |`);
console.log(`|---|---|${cpus.map(() => '---:').join('|')}|`);
for (const [k, v] of series) console.log(`| ${k} | ${cpus.map((c) => v[c] ?? '').join(' | ')} |`);
