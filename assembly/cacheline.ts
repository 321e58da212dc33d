// Cache-line coherence model (virtual time only; the data itself is real).
//
// Every shared word that matters carries LM_SIZE bytes of line metadata
// (layout.ts LM_*): the last writer ("owner") with the virtual time the line
// is busy until, and a 256-bit CPU mask (cpumask.ts) of the CPUs holding it
// shared. A simplified MESI:
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
//
// Masks are scanned over the words that can hold a CPU of this run only
// (nr_words(): ncpus / 64 rounded up, cpu.ts NCPU_WORDS), with a one-word
// fast path: a run of up to 64 CPUs does what the u64 masks did. Mask words
// are written only when their value changes (a line this CPU keeps using
// costs no store to its sharers or recent set). The hot path, a read of a line this CPU already shares, is one
// load and test of ONE word (word cpu >> 6 of the sharers).

import {
  LM_STATE, LM_SHARERS, LM_RECENT, LM_PREV, LM_BUSY_SHIFT, LM_BUCKET_SHIFT, LM_BUCKET_BITS, LM_BUCKET_MASK,
  LM_COUNT_SHIFT, LM_COUNT_MASK, LM_OWNER_MASK, LM_SIZE, PC_SOCKET, PC_CORE, percpu, HDR_BASE, H_TOPO_SOCKETS,
} from './layout';
import { cpu_id, cpu_local, now, my_socket, my_core, DETERMINISTIC, NCPU_WORDS, cost, stat_inc, stat_add, set_clock } from './cpu';
import { cpumask_word, cpumask_bit } from './cpumask';
import {
  COST_XFER_FAR, COST_XFER_NEAR, COST_XFER_SMT, COST_L1_HIT, COST_ATOMIC_RMW, COST_STORE,
  STAT_LINE_TRANSFER_FAR, STAT_LINE_TRANSFER_NEAR, STAT_ATOMIC_RMW, STAT_LINE_WAIT_CYCLES,
} from './generated';
import { sched_sync } from './wait';
import { QUANTUM } from './runq';

/** cycles to bring a line last written by `owner` to this CPU (0 if it is ours) */
export function xfer_from(owner: u32): u64 {
  if (owner == cpu_id()) return 0;
  const o = percpu(owner);
  if (load<u32>(o + PC_SOCKET) != my_socket()) { stat_inc(STAT_LINE_TRANSFER_FAR); return cost(COST_XFER_FAR); }
  stat_inc(STAT_LINE_TRANSFER_NEAR);
  if (load<u32>(o + PC_CORE) == my_core()) return cost(COST_XFER_SMT);
  return cost(COST_XFER_NEAR);
}

/** the dearest transfer a line can cost on this machine: from the other socket if it has two */
@inline function xfer_worst(): u64 {
  return load<u32>(HDR_BASE + H_TOPO_SOCKETS) >= 2 ? cost(COST_XFER_FAR) : cost(COST_XFER_NEAR);
}

/** mask words that can hold a CPU of this run (CPUs >= ncpus never set a bit) */
@inline function nr_words(): u32 { return NCPU_WORDS; }

/**
 * Signed difference current - stored of two bucket fields (LM_BUCKET_BITS = 9
 * bits: the true bucket numbers modulo 512). The callers need three cases:
 * d <= 0 (the line's bucket is ours, or a CPU ahead of us in virtual time
 * already rotated it), d == 1 (it is our previous bucket), or older.
 *
 * Wrap-around: the field keeps the bucket mod 512, so the difference is
 * exact while the true difference lies in [-256, 255] buckets. A line idle
 * for longer (512 quanta: 5.1 M cycles at the default quantum of 10,000)
 * would give an effectively random d, and about half of those would read as
 * "current" and charge bounces from CPUs that used it long ago. So the
 * callers first apply line_idle(): busy_until never lies before the start of
 * the stored bucket (the CPU that rotated the line was in that bucket and
 * busy_until only grows), so busy_until + 2 buckets <= now proves the true
 * difference is >= 2, whatever the field says. That test never fires where
 * the unwrapped comparison would say "current" or "previous", and it catches
 * every line the field could misread: for the true difference to be >= 256
 * while busy_until is within 2 buckets of now, busy_until would have to run
 * 254 buckets past the stored bucket. Only a CPU still in the stored bucket
 * extends busy_until without rotating the line, and once its access ends in
 * a later bucket its next access rotates it: at most one such access per CPU,
 * so busy_until < (stored + 1) buckets + ncpus x (xfer_far + atomic_rmw),
 * about 120 k cycles at 256 CPUs, 6 buckets at the default quantum (the
 * bound breaks only for quanta below ~250 cycles).
 */
@inline export function line_bucket_diff(bucket: u64, stored: u64): i32 {
  const sh = <i32>(32 - LM_BUCKET_BITS);
  return <i32>(((bucket - stored) & LM_BUCKET_MASK) << <u64>sh) >> sh;
}

/** the line was last busy 2 buckets (4 quanta) or more before now: its stored bucket is older than our previous one */
@inline function line_idle(busy: u64): bool { return busy + (QUANTUM << 2) <= now(); }

/** the quantum bucket of virtual time t, as stored in the state word */
@inline function bucket_of(t: u64): u64 { return (t / (QUANTUM << 1)) & LM_BUCKET_MASK; }

/**
 * CPUs other than `cpu` in RECENT (and in PREVIOUS if `both`), over the
 * run's mask words: returns count << 16 | first such CPU (0xffff if none).
 */
@inline export function line_others(line: u32, both: bool, cpu: u32): u32 {
  if (nr_words() == 1) { // up to 64 CPUs: one word, what the u64 masks did
    let x = atomic.load<u64>(line + LM_RECENT);
    if (both) x |= atomic.load<u64>(line + LM_PREV);
    x &= ~cpumask_bit(cpu);
    return x == 0 ? 0xffff : (<u32>popcnt(x) << 16) | <u32>ctz(x);
  }
  const nw = nr_words();
  const mine = cpu >> 6;
  let n: u32 = 0;
  let first: u32 = 0xffff;
  for (let w: u32 = 0; w < nw; w++) {
    let x = atomic.load<u64>(line + LM_RECENT + (w << 3));
    if (both) x |= atomic.load<u64>(line + LM_PREV + (w << 3));
    if (w == mine) x &= ~cpumask_bit(cpu);
    if (x == 0) continue;
    n += <u32>popcnt(x);
    if (first == 0xffff) first = (w << 6) + <u32>ctz(x);
  }
  return (n << 16) | first;
}

/** does any CPU other than `cpu` share the line? */
@inline function other_sharers(line: u32, cpu: u32): bool {
  if (nr_words() == 1) return (atomic.load<u64>(line + LM_SHARERS) & ~cpumask_bit(cpu)) != 0;
  const nw = nr_words();
  const mine = cpu >> 6;
  for (let w: u32 = 0; w < nw; w++) {
    let x = atomic.load<u64>(line + LM_SHARERS + (w << 3));
    if (w == mine) x &= ~cpumask_bit(cpu);
    if (x != 0) return true;
  }
  return false;
}

/**
 * mask at `m` (sharers / recent / previous of a line) becomes {cpu}, over the
 * run's words; a word that already holds its value is not written (a line
 * this CPU keeps using: no store at all)
 */
@inline function mask_only(m: u32, cpu: u32): void {
  if (nr_words() == 1) {
    if (atomic.load<u64>(m) != cpumask_bit(cpu)) atomic.store<u64>(m, cpumask_bit(cpu));
    return;
  }
  const nw = nr_words();
  const mine = cpu >> 6;
  for (let w: u32 = 0; w < nw; w++) {
    const want: u64 = w == mine ? cpumask_bit(cpu) : 0;
    if (atomic.load<u64>(m + (w << 3)) != want) atomic.store<u64>(m + (w << 3), want);
  }
}

/** previous = recent; recent = {cpu} (the line moves on to a new bucket) */
function rotate_recent(line: u32, cpu: u32): void {
  const nw = nr_words();
  for (let w: u32 = 0; w < nw; w++) atomic.store<u64>(line + LM_PREV + (w << 3), atomic.load<u64>(line + LM_RECENT + (w << 3)));
  mask_only(line + LM_RECENT, cpu);
}

/** previous = {}; recent = {cpu} (the line was idle for two buckets or more) */
function reset_recent(line: u32, cpu: u32): void {
  const nw = nr_words();
  for (let w: u32 = 0; w < nw; w++) atomic.store<u64>(line + LM_PREV + (w << 3), 0);
  mask_only(line + LM_RECENT, cpu);
}

/** owner of the line (last exclusive user), -1 if nobody wrote it yet */
export function line_owner(line: u32): i32 { return <i32>(atomic.load<u64>(line + LM_STATE) & LM_OWNER_MASK) - 1; }

/**
 * A line this CPU just wrote in full with plain stores while nobody else can
 * see it (a freshly zeroed page-table page): owned by us, busy until now,
 * shared by us only, no recent users. Caller: the object is private.
 */
export function line_init_owned(line: u32): void {
  memory.fill(line, 0, LM_SIZE);
  const cpu = cpu_id();
  store<u64>(line + LM_STATE, (now() << LM_BUSY_SHIFT) | (<u64>cpu + 1));
  store<u64>(cpumask_word(cpu, line + LM_SHARERS), cpumask_bit(cpu));
}

/**
 * Exclusive access to the line at `line` costing `base` cycles once owned.
 * Advances CLOCK to the end of the access and returns the cycles spent
 * waiting for the line to become free (0 when uncontended in virtual time).
 */
@inline export function line_access_excl(line: u32, base: u64): u64 {
  sched_sync();
  return line_access_excl_synced(line, base);
}

/**
 * line_access_excl() after its clock-order check (sched_sync, inlined into the
 * caller): it never switches, so Binaryen's Asyncify leaves it (and line_read_synced)
 * uninstrumented, and a call to it needs no unwind check after it.
 */
function line_access_excl_synced(line: u32, base: u64): u64 {
  const cpu = cpu_id();
  const me: u64 = <u64>cpu + 1;
  // buckets of two quanta: a CPU can run at most 2 quanta ahead of the slowest, so
  // CPUs that used the line recently are still in RECENT or PREVIOUS when a
  // late-waking one runs alone in real time
  const bucket = bucket_of(now());
  const xb = cost(COST_XFER_NEAR) + base;
  let waited: u64 = 0;
  let end: u64 = 0;
  let rotate = 0; // 0 keep, 1 shift recent -> previous, 2 reset both
  // retry: another CPU updated the line's state between our load and CAS
  while (true) {
    const st = atomic.load<u64>(line + LM_STATE);
    const busy = st >> LM_BUSY_SHIFT;
    const owner1 = st & LM_OWNER_MASK;
    let nb = (st >> LM_BUCKET_SHIFT) & LM_BUCKET_MASK;
    let count = (st >> LM_COUNT_SHIFT) & LM_COUNT_MASK;
    // parallel mode: CPUs that used the line near our point in virtual time
    let others: u32 = 0xffff; // count << 16 | first (see line_others)
    rotate = 0;
    let start = now() > busy ? now() : busy;
    if (!DETERMINISTIC) {
      const d = line_bucket_diff(bucket, nb);
      if (line_idle(busy) || d > 1) rotate = 2;
      else if (d == 1) { others = line_others(line, false, cpu); rotate = 1; }
      else others = line_others(line, true, cpu); // d <= 0
      if (rotate != 0) { nb = bucket; count = 0; }
      if (count < LM_COUNT_MASK) count++;
      // A busy_until beyond the queue of the CPUs that use the line was left
      // by a CPU running AHEAD of us in virtual time: our access comes before
      // theirs and does not wait (no leader drag). Unless the line is hot:
      // accesses in this bucket fill half of it, so a real queue exists.
      // The queue is bounded at the dearest transfer (xfer_worst): on two sockets a
      // saturated line's queue holds far transfers, and a near-transfer
      // bound let accesses early in each bucket skip it (pft-private,
      // mmap_lock, 64 CPUs on intel-icx-2s: x1.43 of deterministic mode).
      // a saturated count is hot too: with cheap transfers (a 2-vCPU guest) the product may never reach the quantum
      const hot = count == LM_COUNT_MASK || count * xb >= QUANTUM;
      if (!hot && busy > now() && busy - now() > (<u64>(others >> 16) + 1) * (xfer_worst() + base)) start = now();
    }
    const first = others & 0xffff;
    let x: u64 = 0;
    if (owner1 != 0 && owner1 != me) x = xfer_from(<u32>(owner1 - 1));
    else if (first != 0xffff) x = xfer_from(first);
    else if (other_sharers(line, cpu)) x = cost(COST_XFER_NEAR); // invalidate sharers
    end = start + x + base;
    const nbusy = end > busy ? end : busy;
    const ns = (nbusy << LM_BUSY_SHIFT) | (nb << LM_BUCKET_SHIFT) | (count << LM_COUNT_SHIFT) | me;
    if (atomic.cmpxchg<u64>(line + LM_STATE, st, ns) == st) {
      if (rotate == 1) rotate_recent(line, cpu);
      else if (rotate == 2) reset_recent(line, cpu);
      else if (!DETERMINISTIC) {
        const rw = cpumask_word(cpu, line + LM_RECENT);
        if ((atomic.load<u64>(rw) & cpumask_bit(cpu)) == 0) atomic.or<u64>(rw, cpumask_bit(cpu));
      }
      waited = start - now();
      break;
    }
  }
  // the writer becomes the only sharer (not atomic as a whole: approximate under races)
  mask_only(line + LM_SHARERS, cpu);
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
@inline export function line_read(line: u32): void {
  sched_sync();
  line_read_synced(line);
}
function line_read_synced(line: u32): void {
  const cpu = cpu_id();
  // the hot path: one load + test of this CPU's word of the sharers
  const word = cpumask_word(cpu, line + LM_SHARERS);
  const bit = cpumask_bit(cpu);
  if ((atomic.load<u64>(word) & bit) != 0) { set_clock(now() + cost(COST_L1_HIT)); return; }
  const owner1 = atomic.load<u64>(line + LM_STATE) & LM_OWNER_MASK;
  const x: u64 = owner1 == 0 ? cost(COST_L1_HIT) : xfer_from(<u32>(owner1 - 1)) + cost(COST_L1_HIT);
  atomic.or<u64>(word, bit);
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
  if (line_idle(st >> LM_BUSY_SHIFT)) return false;
  if (line_bucket_diff(bucket_of(now()), (st >> LM_BUCKET_SHIFT) & LM_BUCKET_MASK) > 1) return false;
  const count = (st >> LM_COUNT_SHIFT) & LM_COUNT_MASK;
  return count == LM_COUNT_MASK || count * (cost(COST_XFER_NEAR) + cost(COST_ATOMIC_RMW)) >= QUANTUM;
}
