// Loops driven by tests and benchmarks. They run inside Wasm so that what is
// measured is the core, not the JS<->Wasm boundary.

import { cpu_id, rand_below, charge } from '../cpu';
import { op_done, op_begin, sync_point } from '../wait';
import { spin_lock, spin_unlock, spin_trylock, spin_is_locked } from '../spinlock';
import { local_irq_disable, local_irq_enable, irq_relax, flush_tlb_mm_range } from '../ipi';
import { line_rmw } from '../cacheline';
import { alloc_frame, put_frame, frame } from '../frames';
import { FR_MAPCOUNT, PC_WAIT_OBJ, PC_IRQ_ON, MM_CPUMASK, percpu, ncpus, mm_addr } from '../layout';
import { tlb_insert, tlb_probe, tlb_flush_range } from '../tlb';
import { cpumask_test_cpu } from '../cpumask';
import { pfn_pte, pte_pfn, PAGE_READONLY } from '../pte';

/**
 * Allocator churn: keep up to `hold` frames, randomly alloc/free. A frame
 * handed out twice is caught by the CAS on its mapcount marker (returns the
 * number of such double hand-outs; must be 0). Frees everything at the end.
 */
export function t_frame_churn(iters: u32, hold: u32, scratch: u32): u32 {
  let n: u32 = 0;
  let dup: u32 = 0;
  for (let i: u32 = 0; i < iters; i++) {
    op_begin(3);
    if (n < hold && (n == 0 || rand_below(2) == 0)) {
      const p = alloc_frame(2);
      if (p >= 0) {
        if (atomic.cmpxchg<i32>(frame(<u32>p) + FR_MAPCOUNT, 0, <i32>cpu_id() + 1) != 0) dup++;
        store<u32>(scratch + n * 4, <u32>p);
        n++;
      }
    } else if (n > 0) {
      const k = <u32>rand_below(n);
      const p = load<u32>(scratch + k * 4);
      store<u32>(scratch + k * 4, load<u32>(scratch + (n - 1) * 4));
      n--;
      if (atomic.cmpxchg<i32>(frame(p) + FR_MAPCOUNT, <i32>cpu_id() + 1, 0) != <i32>cpu_id() + 1) dup++;
      put_frame(p);
    }
    op_done();
  }
  while (n > 0) {
    n--;
    const p = load<u32>(scratch + n * 4);
    if (atomic.cmpxchg<i32>(frame(p) + FR_MAPCOUNT, <i32>cpu_id() + 1, 0) != <i32>cpu_id() + 1) dup++;
    put_frame(p);
  }
  return dup;
}

// ---- the IPI / PTL deadlock scenario (virtual-time issue) ----

/**
 * CPU A: take `lock`, wait until CPU `other` spins on it or has IRQs off, then shoot down the
 * TLBs of `mm` while still holding the lock (as a zap under the PTL may).
 */
export function t_lock_then_shootdown(lock: u32, mm: u32, other: u32): void {
  op_begin(4);
  spin_lock(lock);
  // wait (charging time, so deterministic mode hands the token over) until the other CPU is stuck on the lock
  const o = percpu(other);
  while (atomic.load<u32>(o + PC_WAIT_OBJ) != lock && atomic.load<u32>(o + PC_IRQ_ON) != 0) { charge(100); sync_point(); }
  flush_tlb_mm_range(mm, 0, 0);
  spin_unlock(lock);
  op_done();
}

/**
 * CPU B: once `lock` is held, take it with IRQs disabled.
 * relax == 0: spin with IRQs off (unsafe: deadlocks against a shootdown);
 * relax > 0: spin_trylock + IRQ relax + retry, up to `relax` tries before
 * spinning with IRQs on (0xffffffff = unbounded, as merged in the SPF series).
 */
export function t_spin_irqoff(lock: u32, relax: u32): u32 {
  op_begin(5);
  while (!spin_is_locked(lock)) { charge(100); sync_point(); }
  local_irq_disable();
  let tries: u32 = 0;
  if (relax == 0) {
    spin_lock(lock);
  } else {
    // retry: the holder may be waiting for our ack; let its IPI in between tries
    while (!spin_trylock(lock)) {
      tries++;
      if (tries >= relax) { local_irq_enable(); spin_lock(lock); local_irq_disable(); break; }
      irq_relax();
      charge(50);
    }
  }
  spin_unlock(lock);
  local_irq_enable();
  op_done();
  return tries;
}

/** uncontended lock + unlock, `iters` times (benchmark) */
export function t_lock_loop(lock: u32, iters: u32): void {
  for (let i: u32 = 0; i < iters; i++) { spin_lock(lock); spin_unlock(lock); }
}

/** modeled RMWs on one line owned by this CPU (benchmark of the cache-line model) */
export function t_line_loop(line: u32, iters: u32): void {
  for (let i: u32 = 0; i < iters; i++) line_rmw(line);
}

/**
 * Shootdown correctness rounds. Each CPU caches translations of `nvpn` pages
 * (vpn base..base+nvpn) whose "PTE" is a generation number per page at
 * `gens` (u32 each); now and then it changes one page (bumps its generation)
 * and shoots it down. After flush_tlb_mm_range() returns, no CPU's TLB may
 * hold the old generation for that page. Returns the violations seen.
 * (A CPU reads a generation and fills its TLB with no interrupt point in
 * between, like a hardware walk: the IPI lands after the fill and removes it.)
 * `local_only`: flush only this CPU's TLB (the control that must fail).
 */
export function t_shootdown_rounds(mm: u32, base: u64, nvpn: u32, gens: u32, rounds: u32, local_only: bool): u32 {
  let bad: u32 = 0;
  const n = ncpus();
  for (let r: u32 = 0; r < rounds; r++) {
    op_begin(6);
    for (let k = 0; k < 4; k++) {
      const v = <u32>rand_below(nvpn);
      const g = atomic.load<u32>(gens + v * 4);
      tlb_insert(base + v, pfn_pte(<u64>g + 1, PAGE_READONLY));
    }
    charge(200);
    if (rand_below(4) == 0) {
      const v = <u32>rand_below(nvpn);
      const old = atomic.add<u32>(gens + v * 4, 1);
      if (local_only) tlb_flush_range(base + v, base + v + 1); // the control: no IPIs
      else flush_tlb_mm_range(mm, base + v, base + v + 1);
      // CPUs that left the mm (finished) keep whatever they cached: they never run it again
      const mask = mm_addr(mm) + MM_CPUMASK;
      for (let c: u32 = 0; c < n; c++) {
        if (!cpumask_test_cpu(c, mask)) continue;
        const e = tlb_probe(c, base + v);
        if (e != 0 && pte_pfn(e) == <u64>old + 1) bad++;
      }
    }
    op_done();
  }
  return bad;
}
