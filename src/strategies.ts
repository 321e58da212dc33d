// The fault-path strategies a run can choose (README "What is emulated"): the
// ONE list is spec/strategies.json (bundled in src/generated/assets.ts, with
// the StrategyName union generated from it). The id is what the host writes to
// the header (H_STRATEGY) for the core to read.

import { UsageError } from './types.js';
import { STRATEGIES_SPEC, STRATEGY_NAMES, type StrategyName } from './generated/assets.js';

export type { StrategyName };
export { STRATEGY_NAMES };

/** munmap's mmap_lock: 'downgrade' (Linux 4.20+) or 'write' (before) */
export type MunmapLock = 'downgrade' | 'write';

export interface Strategy {
  name: StrategyName;
  /** value of the header's H_STRATEGY word */
  id: number;
  description: string;
  /**
   * munmap's mmap_lock by default (setting munmap: 'default'): the kernel the
   * strategy stands for (spec/strategies.json says which and why).
   */
  munmapLock: MunmapLock;
}

export const strategies: readonly Strategy[] = Object.freeze(STRATEGIES_SPEC.map((s) => Object.freeze({ ...s })));

export function strategyNames(): StrategyName[] {
  return strategies.map((s) => s.name);
}

/** a known strategy name (narrows a string to the union) */
export function isStrategyName(name: unknown): name is StrategyName {
  return typeof name === 'string' && (STRATEGY_NAMES as readonly string[]).includes(name);
}

/** The strategy called `name`; a UsageError naming the known ones otherwise. */
export function strategyByName(name: string): Strategy {
  const s = strategies.find((x) => x.name === name);
  if (!s) throw new UsageError(unknownStrategy(name));
  return s;
}

/** the message for a name that is not a strategy */
export function unknownStrategy(name: unknown): string {
  return `unknown strategy ${typeof name === 'string' ? `"${name}"` : String(name)}; available strategies: ${strategyNames().join(', ')}`;
}
