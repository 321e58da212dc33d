// Shared by the cluster tests: the CLI as users run it, and "the same results"
// as a local sweep (every virtual figure equal; only host-time fields differ).

import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(ROOT, 'dist', 'src', 'cli.js');

export function cli(cwd: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, env, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

/** the fields of a point that are the emulator's own (host) time, not results */
const withoutHost = (p: Record<string, unknown>) => { const { host: _host, ...rest } = p; return rest; };

/** CSV without the host-time columns */
function csvWithoutHost(file: string): string[][] {
  const rows = readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split(','));
  const drop = new Set(['host_wall_ms', 'ops_per_host_sec'].map((c) => rows[0].indexOf(c)));
  expect(drop.has(-1)).toBe(false);
  return rows.map((r) => r.filter((_, i) => !drop.has(i)));
}

/**
 * `merged` holds what a local sweep wrote into `local`: the same files, the
 * same points in the same order with every virtual figure equal, the same CSV
 * but for host time, byte-identical plots.
 */
export function expectSameResults(local: string, merged: string): void {
  const files = (d: string) => readdirSync(d).sort();
  expect(files(merged)).toEqual(files(local));
  const [a, b] = [readJson(join(local, 'results.json')), readJson(join(merged, 'results.json'))];
  expect(b.schemaVersion).toBe(a.schemaVersion);
  expect(b.generator).toBe(a.generator);
  expect(b.points.length).toBe(a.points.length);
  expect(b.points.map(withoutHost)).toEqual(a.points.map(withoutHost));
  expect(csvWithoutHost(join(merged, 'results.csv'))).toEqual(csvWithoutHost(join(local, 'results.csv')));
  for (const f of files(local).filter((f) => f.endsWith('.svg'))) {
    expect(readFileSync(join(merged, f), 'utf8'), f).toBe(readFileSync(join(local, f), 'utf8'));
  }
}

/**
 * Start `faultline point` for `index`, SIGKILL it once it says it is running,
 * and return when it is dead without its shard. If the point finished before
 * the kill landed (its shard is there), remove the shard and try again: the
 * outcome checked is "killed before its shard was written", whatever the timing.
 */
export async function killPointMidRun(cwd: string, plan: string, index: number, outDir: string, shard: string): Promise<{ stdout: string; signal: string | null }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const child = spawn(process.execPath, [CLI, 'point', '--plan', plan, '--index', String(index), '--out', outDir], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    const ended = new Promise<string | null>((res) => child.on('exit', (_code, signal) => res(signal)));
    await new Promise<void>((res) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes(': running\n')) res();
      });
      child.on('exit', () => res());
    });
    child.kill('SIGKILL');
    const signal = await ended;
    if (!existsSync(shard)) return { stdout, signal };
    rmSync(shard);
  }
  throw new Error(`point ${index} finished before every one of 5 kills landed`);
}
