// Observability: lock_stat, the timeline and the flame graph, recorded in the
// obs region (layout.ts OBS_*, H_OBS_*) only when a run asks (`run
// --lock-stat`, `--trace`, `--flame`). The host reads the region after the run
// (src/obs.ts) and writes /proc/lock_stat's table, Chrome Trace Event JSON and
// folded stacks.
//
// Invariant: nothing here moves a clock, a counter of spec/counters.json or a
// cache line. Recording is writes to this CPU's own obs block only, so a run
// gives the same deterministic results with or without it. The hooks exist only
// in the observe and test cores (build_flags.ts OBS_BUILD; cpu.ts obs_flags()):
// the release core has none on its fault path. In the observe core a run that
// asks for nothing pays one test of a module global per hook.

import {
  FL_WORDS, RW_WORDS, H_OBS_FLAME_OFF, H_OBS_TRACE_OFF, H_OBS_TRACE_CAP, H_OBS_FLAME_NODES, H_OBS_TRACE_START, H_OBS_TRACE_END, HDR_BASE, H_OBS_BASE,
  OBS_LOCK_STAT, OBS_TRACE, OBS_FLAME, OBS_READ_ACQ, LM_STATE, PC_STATS,
  TR_N, TR_DROPPED, TR_EVENTS, TR_SNAP, TE_START, TE_END, TE_TYPE, TE_A, TE_B, TE_SIZE, TE_LOCK_WAIT, TE_FAULT,
  FLM_CUR, FLM_USED, FLM_LOST, FLM_LOST_DEPTH, FLM_MARK, FLM_CATS, FLM_NODES, FNODE_PARENT, FNODE_FN, FNODE_CHILD, FNODE_SIBLING, FNODE_CYCLES, FNODE_CATS, FNODE_SIZE,
  OBS_MAX_CATS, TR_LAST_SAMPLE, H_QUANTUM, H_FRAME_FREE, H_FRAME_FREE1, FL_COUNT, MM_MMAP_LOCK, RW_COUNT, TE_COUNTER,
  CTR_FREE_FRAMES, CTR_MMAP_LOCK_READERS, mm_addr,
} from './layout';
import { obs_flags, OBS_CPU0, OBS_STRIDE, PC, cpu_id, now } from './cpu';
import {
  LS_SIZE, LS_CON_BOUNCES, LS_ACQ_BOUNCES, LS_WAIT_MIN, LS_WAIT_MAX, LS_HOLD_MIN, LS_HOLD_MAX, LS_HOLD_TOTAL, LS_HOLDS,
  STAT_FAULT_ANON_ZERO, STAT_FAULT_SIGBUS, STAT_SPF_ABORT_NOT_USER, STAT_PERVMA_LOCK_MISS, STAT_SPF_ABORT_UFFD_RACE, STAT_PERVMA_ABORT_UFFD,
} from './generated';
import { word_peek } from './shared';

/** this CPU's obs block */
@inline function obs_cpu(): u32 { return OBS_CPU0 + cpu_id() * OBS_STRIDE; }

/**
 * The cache line of a lock keeps, while a run traces, the CPU that last
 * released the lock (cpu + 1) in a spare word of its metadata: the waiter's
 * flow arrow starts there.
 */
const LM_OBS_RELEASER: u32 = LM_STATE + 8;

// ------------------------------------------------------------ lock_stat ---

/**
 * A lock of class `cls` was just acquired. `prev_owner`: the owner of its
 * line before this CPU's atomic (-1: none), so a line that came from another
 * CPU is a bounce, as lock_stat counts one when the lock was last taken on
 * another CPU. `contended`/`waited`: the acquisition had to wait, and for how
 * many cycles (the lock-class wait of spec/counters.json). `line`: the lock's
 * line; `t0`: when it was asked for; `read`: a read acquisition (its hold is
 * timed from here, per CPU and class).
 */
export function obs_lock_acquired(cls: u32, prev_owner: i32, contended: bool, waited: u64, line: u32, t0: u64, read: bool): void {
  const bounce = prev_owner >= 0 && <u32>prev_owner != cpu_id();
  if (obs_flags() & OBS_LOCK_STAT) {
    const s = obs_cpu() + cls * LS_SIZE;
    if (bounce) store<u64>(s + LS_ACQ_BOUNCES, load<u64>(s + LS_ACQ_BOUNCES) + 1);
    if (contended) {
      if (bounce) store<u64>(s + LS_CON_BOUNCES, load<u64>(s + LS_CON_BOUNCES) + 1);
      if (waited < load<u64>(s + LS_WAIT_MIN)) store<u64>(s + LS_WAIT_MIN, waited);
      if (waited > load<u64>(s + LS_WAIT_MAX)) store<u64>(s + LS_WAIT_MAX, waited);
    }
    if (read) store<u64>(obs_cpu() + OBS_READ_ACQ + (cls << 3), now());
  }
  if ((obs_flags() & OBS_TRACE) && waited > 0) {
    const rel = atomic.load<u32>(line + LM_OBS_RELEASER);
    trace_event(TE_LOCK_WAIT, t0, t0 + waited, cls | (rel << 16), <u64>line);
  }
}

/** A lock of class `cls` whose line is `line` was released after `hold` cycles (read: timed from obs_lock_acquired). */
export function obs_lock_released(cls: u32, line: u32, hold: u64, read: bool): void {
  if (obs_flags() & OBS_LOCK_STAT) {
    if (read) {
      const a = load<u64>(obs_cpu() + OBS_READ_ACQ + (cls << 3));
      hold = now() > a ? now() - a : 0;
    }
    const s = obs_cpu() + cls * LS_SIZE;
    if (hold < load<u64>(s + LS_HOLD_MIN)) store<u64>(s + LS_HOLD_MIN, hold);
    if (hold > load<u64>(s + LS_HOLD_MAX)) store<u64>(s + LS_HOLD_MAX, hold);
    store<u64>(s + LS_HOLD_TOTAL, load<u64>(s + LS_HOLD_TOTAL) + hold);
    store<u64>(s + LS_HOLDS, load<u64>(s + LS_HOLDS) + 1);
  }
  if (obs_flags() & OBS_TRACE) atomic.store<u32>(line + LM_OBS_RELEASER, cpu_id() + 1);
}

/** downgrade_write(): the write hold ends and a read hold of class `cls` starts now */
export function obs_read_start(cls: u32): void {
  if (obs_flags() & OBS_LOCK_STAT) store<u64>(obs_cpu() + OBS_READ_ACQ + (cls << 3), now());
}

// ------------------------------------------------------------- timeline ---

/**
 * Append one event to this CPU's ring if it overlaps the window; a full ring
 * counts it as dropped (the first events of the window are kept).
 */
export function trace_event(type: u32, start: u64, end: u64, a: u32, b: u64): void {
  if (end < load<u64>(HDR_BASE + H_OBS_TRACE_START) || start >= load<u64>(HDR_BASE + H_OBS_TRACE_END)) return;
  const tr = obs_cpu() + load<u32>(HDR_BASE + H_OBS_TRACE_OFF);
  const n = load<u32>(tr + TR_N);
  if (n >= load<u32>(HDR_BASE + H_OBS_TRACE_CAP)) {
    store<u32>(tr + TR_DROPPED, load<u32>(tr + TR_DROPPED) + 1);
    return;
  }
  const e = tr + TR_EVENTS + n * TE_SIZE;
  store<u64>(e + TE_START, start);
  store<u64>(e + TE_END, end);
  store<u32>(e + TE_TYPE, type);
  store<u32>(e + TE_A, a);
  store<u64>(e + TE_B, b);
  store<u32>(tr + TR_N, n + 1);
}

@inline export function tracing(): bool { return (obs_flags() & OBS_TRACE) != 0; }

// The counters a fault's kind and abort reason are read from: the fault
// handlers count exactly one kind (fault_*) and at most one abort reason
// (spf_abort_* / pervma_abort_*); the first of each range that moved during
// the fault names it. Three ranges of spec/counters.json, snapshotted at
// fault entry (TR_SNAP holds TR_SNAP_N: checked by the host at build time).
const KIND_LO = STAT_FAULT_ANON_ZERO, KIND_HI = STAT_FAULT_SIGBUS;
const ABORT_LO = STAT_SPF_ABORT_NOT_USER, ABORT_HI = STAT_PERVMA_LOCK_MISS;
const ABORT2_LO = STAT_SPF_ABORT_UFFD_RACE, ABORT2_HI = STAT_PERVMA_ABORT_UFFD;

@inline function snap_range(dst: u32, lo: i32, hi: i32): u32 {
  for (let i = lo; i <= hi; i++) { store<u64>(dst, load<u64>(PC + PC_STATS + (<u32>i << 3))); dst += 8; }
  return dst;
}
/** first counter of [lo, hi] that moved since the snapshot at `src` (+1), or 0; `src` advances past the range */
@inline function moved(src: u32, lo: i32, hi: i32): u32 {
  for (let i = lo; i <= hi; i++) {
    if (load<u64>(PC + PC_STATS + (<u32>i << 3)) != load<u64>(src + (<u32>(i - lo) << 3))) return <u32>i + 1;
  }
  return 0;
}

/** do_user_addr_fault() entry while tracing: snapshot the kind and abort counters */
export function trace_fault_begin(): void {
  let d = obs_cpu() + load<u32>(HDR_BASE + H_OBS_TRACE_OFF) + TR_SNAP;
  d = snap_range(d, KIND_LO, KIND_HI);
  d = snap_range(d, ABORT_LO, ABORT_HI);
  snap_range(d, ABORT2_LO, ABORT2_HI);
}

/** do_user_addr_fault() exit while tracing: one fault span with its path, kind and abort reason */
export function trace_fault_end(t0: u64, address: u64, write: bool, path: u32): void {
  const s = obs_cpu() + load<u32>(HDR_BASE + H_OBS_TRACE_OFF) + TR_SNAP;
  const kind = moved(s, KIND_LO, KIND_HI);
  const s2 = s + (<u32>(KIND_HI - KIND_LO + 1) << 3);
  let abort = moved(s2, ABORT_LO, ABORT_HI);
  if (abort == 0) abort = moved(s2 + (<u32>(ABORT_HI - ABORT_LO + 1) << 3), ABORT2_LO, ABORT2_HI);
  trace_event(TE_FAULT, t0, now(), path | (kind << 8) | (abort << 16) | (write ? 1 << 24 : 0), address);
  // counter tracks, sampled by each CPU at most once a quantum: free frames, mmap_lock readers
  const tr = obs_cpu() + load<u32>(HDR_BASE + H_OBS_TRACE_OFF);
  const t = now();
  if (t >= load<u64>(tr + TR_LAST_SAMPLE) + <u64>load<u32>(HDR_BASE + H_QUANTUM)) {
    store<u64>(tr + TR_LAST_SAMPLE, t);
    const free = word_peek<i32>(HDR_BASE + H_FRAME_FREE, FL_WORDS, FL_COUNT) + word_peek<i32>(HDR_BASE + H_FRAME_FREE1, FL_WORDS, FL_COUNT);
    trace_event(TE_COUNTER, t, t, CTR_FREE_FRAMES, <u64>(free > 0 ? free : 0));
    const c = word_peek<i32>(mm_addr(0) + MM_MMAP_LOCK, RW_WORDS, RW_COUNT);
    trace_event(TE_COUNTER, t, t, CTR_MMAP_LOCK_READERS, <u64>(c > 0 ? c : 0));
  }
}

// ---------------------------------------------------------- flame graph ---
//
// Each CPU keeps a calling-context tree of kernel functions (FN_* of
// spec/functions.json). At every function entry and exit the clock advance
// since the last transition, and the advance of each breakdown category's
// counters, are added to the node that was current: so the nodes' cycles sum
// to the CPU's clock (the host adds the part after the last transition), and
// each node's cycles minus its categories is its own "other work".

@inline function flame_base(): u32 { return obs_cpu() + load<u32>(HDR_BASE + H_OBS_FLAME_OFF); }

/** charge the time and category counters since the last transition to the current node */
function flame_account(f: u32): void {
  const node = f + FLM_NODES + load<u32>(f + FLM_CUR) * FNODE_SIZE;
  const t = now();
  store<u64>(node + FNODE_CYCLES, load<u64>(node + FNODE_CYCLES) + (t - load<u64>(f + FLM_MARK)));
  store<u64>(f + FLM_MARK, t);
  // the category pairs (stat | cat << 16) the host wrote in the region's global part
  const g = load<u32>(HDR_BASE + H_OBS_BASE);
  const np = load<u32>(g);
  let cat: u32 = 0xffffffff;
  let sum: u64 = 0;
  for (let i: u32 = 0; i <= np; i++) {
    const p = i < np ? load<u32>(g + 4 + (i << 2)) : 0xffffffff;
    const c = p >> 16;
    if (c != cat) {
      if (cat != 0xffffffff && cat < OBS_MAX_CATS) {
        const last = f + FLM_CATS + (cat << 3);
        const nc = node + FNODE_CATS + (cat << 3);
        store<u64>(nc, load<u64>(nc) + (sum - load<u64>(last)));
        store<u64>(last, sum);
      }
      cat = c;
      sum = 0;
    }
    if (i < np) sum += load<u64>(PC + PC_STATS + ((p & 0xffff) << 3));
  }
}

/** entry of kernel function `fn` (FN_*) on this CPU */
export function flame_enter(fn: u32): void {
  const f = flame_base();
  if (load<u32>(f + FLM_LOST_DEPTH) != 0) { store<u32>(f + FLM_LOST_DEPTH, load<u32>(f + FLM_LOST_DEPTH) + 1); return; }
  flame_account(f);
  const cur = load<u32>(f + FLM_CUR);
  const node = f + FLM_NODES + cur * FNODE_SIZE;
  // the child of the current node for `fn`, made on first use
  let c = load<u32>(node + FNODE_CHILD);
  while (c != 0) {
    if (load<u32>(f + FLM_NODES + (c - 1) * FNODE_SIZE + FNODE_FN) == fn) break;
    c = load<u32>(f + FLM_NODES + (c - 1) * FNODE_SIZE + FNODE_SIBLING);
  }
  if (c == 0) {
    const used = load<u32>(f + FLM_USED);
    if (used >= load<u32>(HDR_BASE + H_OBS_FLAME_NODES)) {
      // table full: this call's time stays with the caller's node (counted, reported)
      store<u32>(f + FLM_LOST, load<u32>(f + FLM_LOST) + 1);
      store<u32>(f + FLM_LOST_DEPTH, 1);
      return;
    }
    store<u32>(f + FLM_USED, used + 1);
    const nn = f + FLM_NODES + used * FNODE_SIZE;
    store<u32>(nn + FNODE_PARENT, cur);
    store<u32>(nn + FNODE_FN, fn);
    store<u32>(nn + FNODE_SIBLING, load<u32>(node + FNODE_CHILD));
    store<u32>(node + FNODE_CHILD, used + 1);
    c = used + 1;
  }
  store<u32>(f + FLM_CUR, c - 1);
}

/** exit of the function entered last on this CPU */
export function flame_exit(): void {
  const f = flame_base();
  const lost = load<u32>(f + FLM_LOST_DEPTH);
  if (lost != 0) { store<u32>(f + FLM_LOST_DEPTH, lost - 1); return; }
  flame_account(f);
  const cur = load<u32>(f + FLM_CUR);
  if (cur != 0) store<u32>(f + FLM_CUR, load<u32>(f + FLM_NODES + cur * FNODE_SIZE + FNODE_PARENT));
}

/** hooks for the fault path: none in the release core; one test of the global when nothing is recorded */
@inline export function fn_enter(fn: u32): void { if (obs_flags() & OBS_FLAME) flame_enter(fn); }
@inline export function fn_exit(): void { if (obs_flags() & OBS_FLAME) flame_exit(); }
