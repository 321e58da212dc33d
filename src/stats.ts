// Counter names from the one list (spec/counters.json, bundled as data in
// src/generated/assets.ts), in the order of the STAT_* indices the core uses
// (scripts/gen-stats.mjs expands lock classes the same way).

import { COUNTERS_SPEC } from './generated/assets.js';

interface CounterSpec { counters: [string, string][]; lockClasses: [string, string][] }

const load = (): CounterSpec => COUNTERS_SPEC as CounterSpec;

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

/** A counter with its unit: "cycles" (virtual CPU cycles) for *_cycles, "events" for every other counter. */
export interface StatInfo { name: string; unit: 'cycles' | 'events'; description: string }

/** Every counter of spec/counters.json with its unit and description, in STAT_* order. */
export function statInfo(): StatInfo[] {
  const d = counterDescriptions();
  return counterNames().map((name) => ({ name, unit: name.endsWith('_cycles') ? 'cycles' : 'events', description: d[name] }));
}
