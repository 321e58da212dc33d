// The fault-path strategies a run can choose (README "What is emulated"). The id is
// what the host writes to the header (H_STRATEGY) for the core to read.

import { UsageError } from './types.js';

export interface Strategy {
  name: string;
  /** value of the header's H_STRATEGY word */
  id: number;
  description: string;
  /**
   * munmap's mmap_lock by default (setting munmap: 'default'): the kernel the
   * strategy stands for. mmap_lock: a current kernel without per-VMA locks
   * (4.20+: downgrade); spf: the kernels the series was measured on (4.14 to
   * 5.1 trees; v11 in 2018 was before 4.20: write); pervma: 6.4+ (downgrade).
   */
  munmapLock: 'downgrade' | 'write';
}

export const strategies: readonly Strategy[] = Object.freeze([
  { name: 'mmap_lock', id: 0, munmapLock: 'downgrade', description: 'classic: faults take mmap_lock for read, mmap/munmap take it for write' },
  { name: 'spf', id: 1, munmapLock: 'write', description: 'speculative page faults (Dufour/Zijlstra v11): no mmap_lock, a VMA reference count and per-VMA seqcount checks, fall back to mmap_lock on abort' },
  { name: 'pervma', id: 2, munmapLock: 'downgrade', description: 'per-VMA locks (Linux 6.4+): read-lock only the faulting VMA, fall back to mmap_lock' },
  // the RFC was posted against Linux 5.12, which downgrades munmap (since 4.20)
  { name: 'spf-mmapseq', id: 3, munmapLock: 'downgrade', description: 'speculative page faults as Lespinasse\'s 2021 RFC: an mm-wide sequence count, the VMA read under RCU with no per-VMA atomics, validated before the PTE is installed' },
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
