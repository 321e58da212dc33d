// Cache-line coherence model (virtual time only; the data itself is real).
//
// Every shared word that matters carries 16 bytes of line metadata (layout.ts
// LM_*): the last writer ("owner") with the virtual time the line is busy
// until, and a bitmask of CPUs holding it shared. A simplified MESI:
//   - line_rmw / line_write: exclusive access. It is SERIALIZED on the line:
//       start = max(my clock, busy_until); end = start + transfer + cost;
//     so N CPUs hammering one line get 1/(transfer+cost) aggregate throughput
//     however fast the host is. The writer becomes the only sharer.
//   - line_read: pays a transfer from the owner unless this CPU already
//     shares the line; then joins the sharers. Reads do not serialize.
// The metadata word is updated with a real CAS, so concurrent CPUs never lose
// each other's busy_until; only the sharers mask is approximate under races.
//
// Parallel mode adds one rule. Host threads interleave in coarse real-time
// slices (a woken thread often runs alone for hundreds of operations), so a
// CPU may do many RMWs on a line in a row that, in virtual time, interleave
// with other CPUs' RMWs on the same line (a transfer each). So each line
// remembers which CPUs took it exclusively in the current and the previous
// quantum bucket (clock / quantum) of virtual time; if another CPU did, this
// access is charged as a bounce from it. Deterministic mode runs CPUs in
// exact virtual-time order and needs no such rule. The cost of the rule: a
// line used heavily by one CPU and touched once by another is over-charged
// for up to two quanta (documented in the README).

import { LM_STATE, LM_SHARERS, LM_RECENT, LM_PREV, LM_BUSY_SHIFT, LM_BUCKET_SHIFT, LM_BUCKET_MASK, LM_COUNT_SHIFT, LM_COUNT_MASK, LM_OWNER_MASK, PC_SOCKET, PC_CORE, percpu } from './layout';
import { cpu_id, cpu_local, now, my_socket, my_core, DETERMINISTIC, cost, stat_inc, stat_add, set_clock } from './cpu';
import {
  COST_XFER_FAR, COST_XFER_NEAR, COST_XFER_SMT, COST_L1_HIT, COST_ATOMIC_RMW, COST_STORE,
  STAT_LINE_TRANSFER_FAR, STAT_LINE_TRANSFER_NEAR, STAT_ATOMIC_RMW, STAT_LINE_WAIT_CYCLES,
} from './generated';
import { sched_sync, QUANTUM } from './sched';

/** cycles to bring a line last written by `owner` to this CPU (0 if it is ours) */
export function xfer_from(owner: u32): u64 {
  if (owner == cpu_id()) return 0;
  const o = percpu(owner);
  if (load<u32>(o + PC_SOCKET) != my_socket()) { stat_inc(STAT_LINE_TRANSFER_FAR); return cost(COST_XFER_FAR); }
  stat_inc(STAT_LINE_TRANSFER_NEAR);
  if (load<u32>(o + PC_CORE) == my_core()) return cost(COST_XFER_SMT);
  return cost(COST_XFER_NEAR);
}

/**
 * Exclusive access to the line at `line` costing `base` cycles once owned.
 * Advances CLOCK to the end of the access and returns the cycles spent
 * waiting for the line to become free (0 when uncontended in virtual time).
 */
export function line_access_excl(line: u32, base: u64): u64 {
  sched_sync();
  const me: u64 = <u64>cpu_id() + 1;
  const bit: u64 = <u64>1 << cpu_id();
  // buckets of two quanta: a CPU can run at most 2 quanta ahead of the slowest, so
  // CPUs that used the line recently are still in RECENT or PREVIOUS when a
  // late-waking one runs alone in real time
  const bucket: u64 = (now() / (QUANTUM << 1)) & LM_BUCKET_MASK;
  const xb = cost(COST_XFER_NEAR) + base;
  let waited: u64 = 0;
  let end: u64 = 0;
  // retry: another CPU updated the line's state between our load and CAS
  while (true) {
    const st = atomic.load<u64>(line + LM_STATE);
    const busy = st >> LM_BUSY_SHIFT;
    const owner1 = st & LM_OWNER_MASK;
    let nb = (st >> LM_BUCKET_SHIFT) & LM_BUCKET_MASK;
    let count = (st >> LM_COUNT_SHIFT) & LM_COUNT_MASK;
    // parallel mode: CPUs that used the line near our point in virtual time
    let other: u64 = 0;
    let rotate = 0; // 0 keep, 1 shift recent -> previous, 2 reset both
    let start = now() > busy ? now() : busy;
    if (!DETERMINISTIC) {
      const d = <i32>(((bucket - nb) & LM_BUCKET_MASK) << 21) >> 21; // signed 11-bit difference
      if (d <= 0) other = (atomic.load<u64>(line + LM_RECENT) | atomic.load<u64>(line + LM_PREV)) & ~bit;
      else if (d == 1) { other = atomic.load<u64>(line + LM_RECENT) & ~bit; rotate = 1; }
      else rotate = 2;
      if (rotate != 0) { nb = bucket; count = 0; }
      if (count < LM_COUNT_MASK) count++;
      // A busy_until beyond the queue of the CPUs that use the line was left
      // by a CPU running AHEAD of us in virtual time: our access comes before
      // theirs and does not wait (no leader drag). Unless the line is hot:
      // accesses in this bucket fill half of it, so a real queue exists.
      const hot = count * xb >= QUANTUM;
      if (!hot && busy > now() && busy - now() > (<u64>popcnt(other) + 1) * xb) start = now();
    }
    let x: u64 = 0;
    if (owner1 != 0 && owner1 != me) x = xfer_from(<u32>(owner1 - 1));
    else if (other != 0) x = xfer_from(<u32>ctz(other));
    else if ((atomic.load<u64>(line + LM_SHARERS) & ~bit) != 0) x = cost(COST_XFER_NEAR); // invalidate sharers
    end = start + x + base;
    const nbusy = end > busy ? end : busy;
    const ns = (nbusy << LM_BUSY_SHIFT) | (nb << LM_BUCKET_SHIFT) | (count << LM_COUNT_SHIFT) | me;
    if (atomic.cmpxchg<u64>(line + LM_STATE, st, ns) == st) {
      if (rotate == 1) { atomic.store<u64>(line + LM_PREV, atomic.load<u64>(line + LM_RECENT)); atomic.store<u64>(line + LM_RECENT, bit); }
      else if (rotate == 2) { atomic.store<u64>(line + LM_PREV, 0); atomic.store<u64>(line + LM_RECENT, bit); }
      else if (!DETERMINISTIC) atomic.or<u64>(line + LM_RECENT, bit);
      waited = start - now();
      break;
    }
  }
  atomic.store<u64>(line + LM_SHARERS, bit);
  set_clock(end);
  if (!cpu_local().line_wait_uncounted && waited != 0) stat_add(STAT_LINE_WAIT_CYCLES, waited);
  return waited;
}

/** false while a lock acquisition runs: its line waits are part of the lock wait */
export function line_wait_accounting(on: bool): void { cpu_local().line_wait_uncounted = !on; }

/** atomic read-modify-write on a modeled line (lock word, refcount, seqcount bump) */
@inline export function line_rmw(line: u32): u64 {
  stat_inc(STAT_ATOMIC_RMW);
  return line_access_excl(line, cost(COST_ATOMIC_RMW));
}

/** plain store to a modeled line (needs the line exclusive, but no locked op) */
@inline export function line_write(line: u32): u64 { return line_access_excl(line, cost(COST_STORE)); }

/** read of a modeled line: transfer unless we already share it */
export function line_read(line: u32): void {
  sched_sync();
  const bit: u64 = <u64>1 << cpu_id();
  if ((atomic.load<u64>(line + LM_SHARERS) & bit) != 0) { set_clock(now() + cost(COST_L1_HIT)); return; }
  const owner1 = atomic.load<u64>(line + LM_STATE) & LM_OWNER_MASK;
  const x: u64 = owner1 == 0 ? cost(COST_L1_HIT) : xfer_from(<u32>(owner1 - 1)) + cost(COST_L1_HIT);
  atomic.or<u64>(line + LM_SHARERS, bit);
  set_clock(now() + x);
}

/** virtual time the line is busy until (e.g. a lock's last release) */
@inline export function line_busy_until(line: u32): u64 { return atomic.load<u64>(line + LM_STATE) >> LM_BUSY_SHIFT; }

/**
 * Parallel mode: is the line hot, i.e. did exclusive accesses in the current
 * bucket fill half of it? Then waits behind it are a real queue, not the
 * artifact of a CPU running ahead (see line_access_excl). Locks use it too.
 */
export function line_is_hot(line: u32): bool {
  if (DETERMINISTIC) return true;
  const st = atomic.load<u64>(line + LM_STATE);
  const bucket: u64 = (now() / (QUANTUM << 1)) & LM_BUCKET_MASK;
  const nb = (st >> LM_BUCKET_SHIFT) & LM_BUCKET_MASK;
  const d = <i32>(((bucket - nb) & LM_BUCKET_MASK) << 21) >> 21;
  if (d > 1) return false;
  const count = (st >> LM_COUNT_SHIFT) & LM_COUNT_MASK;
  return count * (cost(COST_XFER_NEAR) + cost(COST_ATOMIC_RMW)) >= QUANTUM;
}
