// The fault-path strategies (src/strategies.ts names them for the host): which
// design this machine's kernel runs, as the header word H_STRATEGY the host sets
// before time 0. A writer-side choice (vm_sequence, VMA write marks, the
// mmap_lock sequence) reads it here; a fault reads it once, at fault entry.

import { HDR_BASE, H_STRATEGY } from './layout';

/** mmap_lock for every fault (Linux before 6.4) */
export const STRATEGY_MMAP_LOCK: u32 = 0;
/** speculative page faults (Laurent Dufour's SPF series, v11/v12): vm_sequence per VMA */
export const STRATEGY_SPF: u32 = 1;
/** per-VMA locks (Linux 6.4+) */
export const STRATEGY_PERVMA: u32 = 2;
/** SPF with one mm-wide sequence count (Michel Lespinasse's mmap_seq design) */
export const STRATEGY_SPF_MMAPSEQ: u32 = 3;

/** this machine's strategy (STRATEGY_*) */
@inline export function strategy(): u32 { return load<u32>(HDR_BASE + H_STRATEGY); }
