// CPU sets in shared memory (struct cpumask, include/linux/cpumask.h): a
// bitmap of MAX_CPUS bits, CPUMASK_WORDS u64 words (layout.ts CPUMASK_*).
//
//   word:   0                1                2                3
//         +----------------+----------------+----------------+----------------+
//   CPUs  | 0 .. 63        | 64 .. 127      | 128 .. 191     | 192 .. 255     |
//         +----------------+----------------+----------------+----------------+
//   CPU c is bit (c & 63) of the u64 at mask + (c >> 6) * 8.
//
// Used for the mm's cpumask (mm_cpumask) and the sharers / recent / previous
// sets of the cache-line metadata (cacheline.ts).
//
// INVARIANT: single-bit updates (set / clear) are atomic RMWs on one word, so
// CPUs on different host threads may set and clear their own bits of one
// mask concurrently without losing each other's. Operations over the whole
// mask (weight, first, copy, fill) read or write word by word: each word is
// read atomically, the set as a whole is a snapshot only when nobody changes
// it meanwhile (as for the kernel's cpumask_weight() on a live mm_cpumask).
// Argument order follows the kernel: the CPU first, then the mask.

import { CPUMASK_WORDS, MAX_CPUS } from './layout';

/** address of the word holding CPU `cpu` */
@inline export function cpumask_word(cpu: u32, mask: u32): u32 { return mask + ((cpu >> 6) << 3); }
/** the bit of CPU `cpu` inside its word */
@inline export function cpumask_bit(cpu: u32): u64 { return <u64>1 << <u64>(cpu & 63); }

export function cpumask_set_cpu(cpu: u32, mask: u32): void { atomic.or<u64>(cpumask_word(cpu, mask), cpumask_bit(cpu)); }
export function cpumask_clear_cpu(cpu: u32, mask: u32): void { atomic.and<u64>(cpumask_word(cpu, mask), ~cpumask_bit(cpu)); }
@inline export function cpumask_test_cpu(cpu: u32, mask: u32): bool {
  return (atomic.load<u64>(cpumask_word(cpu, mask)) & cpumask_bit(cpu)) != 0;
}

/** number of CPUs in the set */
export function cpumask_weight(mask: u32): u32 {
  let n: u32 = 0;
  for (let w: u32 = 0; w < CPUMASK_WORDS; w++) n += <u32>popcnt(atomic.load<u64>(mask + (w << 3)));
  return n;
}

/** lowest CPU in the set; MAX_CPUS if it is empty */
export function cpumask_first(mask: u32): u32 {
  for (let w: u32 = 0; w < CPUMASK_WORDS; w++) {
    const x = atomic.load<u64>(mask + (w << 3));
    if (x != 0) return (w << 6) + <u32>ctz(x);
  }
  return MAX_CPUS;
}

/** true if no CPU is in the set */
export function cpumask_empty(mask: u32): bool { return cpumask_first(mask) == MAX_CPUS; }

/** the set becomes {0, .., n - 1} (n <= MAX_CPUS) */
export function cpumask_fill(mask: u32, n: u32): void {
  for (let w: u32 = 0; w < CPUMASK_WORDS; w++) {
    const lo = w << 6;
    const x: u64 = n >= lo + 64 ? <u64>-1 : n <= lo ? 0 : (<u64>1 << <u64>(n - lo)) - 1;
    atomic.store<u64>(mask + (w << 3), x);
  }
}

/** the set becomes empty */
export function cpumask_clear(mask: u32): void {
  for (let w: u32 = 0; w < CPUMASK_WORDS; w++) atomic.store<u64>(mask + (w << 3), 0);
}

/** the set becomes {cpu} */
export function cpumask_only(cpu: u32, mask: u32): void {
  const mine = cpu >> 6;
  for (let w: u32 = 0; w < CPUMASK_WORDS; w++) atomic.store<u64>(mask + (w << 3), w == mine ? cpumask_bit(cpu) : 0);
}

/** dst = src, word by word */
export function cpumask_copy(dst: u32, src: u32): void {
  for (let w: u32 = 0; w < CPUMASK_WORDS; w++) atomic.store<u64>(dst + (w << 3), atomic.load<u64>(src + (w << 3)));
}
