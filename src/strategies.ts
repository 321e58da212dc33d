// The fault-path strategies a run can choose (README "What is emulated"). The id is
// what the host writes to the header (H_STRATEGY) for the core to read.

import { UsageError } from './types.js';

export interface Strategy {
  name: string;
  /** value of the header's H_STRATEGY word */
  id: number;
  description: string;
}

export const strategies: readonly Strategy[] = Object.freeze([
  { name: 'mmap_lock', id: 0, description: 'classic: faults take mmap_lock for read, mmap/munmap take it for write' },
  { name: 'spf', id: 1, description: 'speculative page faults: no mmap_lock, per-VMA seqcount checks, fall back to mmap_lock on abort' },
  { name: 'pervma', id: 2, description: 'per-VMA locks (Linux 6.4+): read-lock only the faulting VMA, fall back to mmap_lock' },
]);

export function strategyNames(): string[] {
  return strategies.map((s) => s.name);
}

/** The strategy called `name`; a UsageError naming the known ones otherwise. */
export function strategyByName(name: string): Strategy {
  const s = strategies.find((x) => x.name === name);
  if (!s) throw new UsageError(`unknown strategy "${name}"; available strategies: ${strategyNames().join(', ')}`);
  return s;
}
