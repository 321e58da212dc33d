// Counter names from the one list (spec/counters.json), in the order of the
// STAT_* indices the core uses (scripts/gen-stats.mjs expands lock classes
// the same way).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from './wasm.js';

interface CounterSpec { counters: [string, string][]; lockClasses: [string, string][] }

let spec: CounterSpec | undefined;
function load(): CounterSpec {
  return (spec ??= JSON.parse(readFileSync(join(packageRoot(), 'spec', 'counters.json'), 'utf8')) as CounterSpec);
}

export function counterNames(): string[] {
  const s = load();
  const names = s.counters.map(([n]) => n);
  for (const [c] of s.lockClasses) names.push(`${c}_acquire`, `${c}_contended`, `${c}_wait_cycles`);
  return names;
}

/** one-line description of every counter, by name */
export function counterDescriptions(): Record<string, string> {
  const s = load();
  const d: Record<string, string> = Object.fromEntries(s.counters);
  for (const [c, what] of s.lockClasses) {
    d[`${c}_acquire`] = `${what}: acquisitions`;
    d[`${c}_contended`] = `${what}: acquisitions that had to wait`;
    d[`${c}_wait_cycles`] = `${what}: virtual cycles spent waiting`;
  }
  return d;
}

export function lockClasses(): string[] { return load().lockClasses.map(([c]) => c); }
