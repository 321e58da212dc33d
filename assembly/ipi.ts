// IRQ state, inter-processor interrupts and TLB shootdown.
//
// Each CPU has an IRQ-enabled flag and a mailbox with one slot per possible
// sender (layout.ts MB_*). A CPU takes pending IPIs only with IRQs on, at an
// interrupt point: sync_point between operations, a wait loop, the barrier,
// or local_irq_enable. A shootdown initiator posts to every other CPU in the
// mm's cpumask and waits (IRQs on) until each one acked.
//
// The slot's pending word is claimed with a CAS 1 -> 0 by whoever acks it:
// the target servicing it, or the initiator cancelling a request to a CPU
// that has FINISHED (it will never run again, its TLB no longer matters).

import {
  PC_IRQ_ON, PC_IPI_PENDING, PC_ACKS, PC_ACK_TIME, PC_STATE, CPU_FINISHED,
  MB_PENDING, MB_KIND, MB_START, MB_END, MB_ARRIVAL, MB_SIZE, IPI_TLB_FLUSH, IPI_ACK_AT_ARRIVAL, WAIT_IPI_ACK,
  MM_CPUMASK, percpu, mailbox_off, mm_addr,
} from './layout';
import { cpumask_bit } from './cpumask';
import { cpu_id, PC, NCPUS, NCPU_WORDS, RUNQ, now, cost, charge, set_clock, stat_inc, stat_add, stat_get, wait_excluding_ipi } from './cpu';
import {
  COST_IPI_SEND, COST_IPI_DELIVER, COST_IPI_HANDLER,
  STAT_IPI_SENT, STAT_IPI_RECEIVED, STAT_IPI_CYCLES, STAT_SHOOTDOWN, STAT_SHOOTDOWN_REMOTE,
  STAT_SHOOTDOWN_WAIT_CYCLES, STAT_IRQ_RELAX, COST_IRQ_RELAX,
} from './generated';
import { wake_cpu, wait_prepare, wait_token, wait_sleep, wait_finish, cpu_relax } from './wait';
import { tlb_flush_range } from './tlb';
import { fn_enter, fn_exit, tracing, trace_event } from './obs';
import { FN_FLUSH_TLB_FUNC, FN_FLUSH_TLB_MM_RANGE } from './generated';
import { TE_IPI, TE_SHOOTDOWN } from './layout';
import { cpuidle_enter, cpuidle_exit, cpuidle_idle } from './cpuidle';
import { rwsem_sleeping, rwsem_sleeping_on } from './rwsem';
import { SET_MUNMAP_DOWNGRADE, setting } from './layout';
import { STAT_SHOOTDOWN_IDLE_SKIP, STAT_IPI_IDLE, STAT_VCPU_IPI_SIBLING } from './generated';
import { task_on_cpu, vcpu_busy, task_exec_start } from './vcpu';

// ------------------------------------------------------------ IRQ state ---

@inline export function irqs_enabled(): bool { return atomic.load<u32>(PC + PC_IRQ_ON) != 0; }

export function local_irq_disable(): void { atomic.store<u32>(PC + PC_IRQ_ON, 0); }

/** Re-enable IRQs; interrupts that arrived meanwhile are taken now, as on hardware. */
export function local_irq_enable(): void {
  atomic.store<u32>(PC + PC_IRQ_ON, 1);
  if (atomic.load<u32>(PC + PC_IPI_PENDING) != 0) service_ipis();
}

/**
 * The "IRQ relax" of pte_map_lock(): briefly enable IRQs so a CPU that holds
 * the lock we want and waits for our ack can make progress, then disable again.
 */
export function irq_relax(): void {
  stat_inc(STAT_IRQ_RELAX);
  // sti; cli once (the IPIs taken in between charge their own handlers), then one
  // cpu_relax(), which charges its PAUSE: each cost once per relax
  charge(cost(COST_IRQ_RELAX));
  local_irq_enable();
  local_irq_disable();
  cpu_relax();
}

// ------------------------------------------------------------- service ----

/** Take every pending IPI (caller: IRQs are on, or the CPU is idle/finished). */
export function service_ipis(): void {
  const mb = PC + mailbox_off();
  // PC_IPI_PENDING >= the slots pending (a sender counts before it marks its slot, a
  // taker or canceller clears the slot before it uncounts): at 0 the slots left are
  // empty, so the look ends there instead of reading every sender's slot
  for (let s: u32 = 0; s < NCPUS && atomic.load<u32>(PC + PC_IPI_PENDING) != 0; s++) {
    const slot = mb + s * MB_SIZE;
    if (atomic.load<u32>(slot + MB_PENDING) == 0) continue;
    const arrival = atomic.load<u64>(slot + MB_ARRIVAL);
    const kind = atomic.load<u32>(slot + MB_KIND);
    const before = now();
    fn_enter(FN_FLUSH_TLB_FUNC);
    // the handler runs from max(now, arrival); it steals its own cycles from us, and an idle CPU
    // (its task asleep in an rwsem's wait list) first leaves its idle state (cpuidle.ts)
    // (a woken task that still waits in the list runs: it left its idle state when it woke)
    const idle = rwsem_sleeping() && cpuidle_idle();
    if (idle) cpuidle_exit();
    charge(cost(COST_IPI_HANDLER));
    if ((kind & ~IPI_ACK_AT_ARRIVAL) == IPI_TLB_FLUSH) tlb_flush_range(atomic.load<u64>(slot + MB_START), atomic.load<u64>(slot + MB_END));
    const spent = now() - before;
    if (tracing()) trace_event(TE_IPI, before, now(), s, arrival - cost(COST_IPI_DELIVER));
    if (idle) cpuidle_enter(); // back to idle after the handler
    // (IPI_ACK_AT_ARRIVAL: the sender found us on our vCPU only from after its flush: see send_ipi)
    const ack: u64 = ((kind & IPI_ACK_AT_ARRIVAL) != 0 || before < arrival ? arrival : before) + spent;
    const taken = atomic.cmpxchg<u32>(slot + MB_PENDING, 1, 0) == 1; // else cancelled by the sender
    if (taken) {
      atomic.sub<u32>(PC + PC_IPI_PENDING, 1);
      stat_inc(STAT_IPI_RECEIVED);
      stat_add(STAT_IPI_CYCLES, spent);
    }
    fn_exit(); // after the IPI cycles are counted: the flame graph puts them in this frame with the clock's advance
    if (taken) ack_to(s, ack);
  }
}

/** Record an ack at virtual time `t` for CPU `s`'s request and wake it. */
function ack_to(s: u32, t: u64): void {
  const spc = percpu(s);
  // atomic max on the initiator's latest-ack time
  while (true) {
    const cur = atomic.load<u64>(spc + PC_ACK_TIME);
    if (cur >= t || atomic.cmpxchg<u64>(spc + PC_ACK_TIME, cur, t) == cur) break;
  }
  atomic.sub<i32>(spc + PC_ACKS, 1);
  wake_cpu(s, t);
}

// ------------------------------------------------------------- sending ----

/** Post one IPI of `kind` to CPU `t`. Returns false if `t` has finished (nothing to do). */
function send_ipi(t: u32, kind: u32, start: u64, end: u64): void {
  const tpc = percpu(t);
  const slot = tpc + mailbox_off() + cpu_id() * MB_SIZE;
  charge(cost(COST_IPI_SEND));
  stat_inc(STAT_IPI_SENT);
  const arrival = now() + cost(COST_IPI_DELIVER);
  // A guest run queue: a target task that got its vCPU only after now, in virtual time (woken meanwhile,
  // its wake-up charged in one go: rwsem.ts run_woken), ran ahead of our flush on the host; at the flush
  // its vCPU was idle, out of mm_cpumask() (see "Idle CPUs"), and the kernel would not have waited for
  // it. It still takes the IPI (its TLB is flushed), but we do not wait for its wake-up: acked at arrival.
  if (RUNQ && task_on_cpu(t) && task_exec_start(t) > now()) kind |= IPI_ACK_AT_ARRIVAL;
  atomic.store<u32>(slot + MB_KIND, kind);
  atomic.store<u64>(slot + MB_START, start);
  atomic.store<u64>(slot + MB_END, end);
  atomic.store<u64>(slot + MB_ARRIVAL, arrival);
  atomic.add<u32>(tpc + PC_IPI_PENDING, 1);
  atomic.store<u32>(slot + MB_PENDING, 1);
  // a target that already finished will never take it: claim it back
  if (atomic.load<u32>(tpc + PC_STATE) == CPU_FINISHED) {
    if (atomic.cmpxchg<u32>(slot + MB_PENDING, 1, 0) == 1) {
      atomic.sub<u32>(tpc + PC_IPI_PENDING, 1);
      ack_to(cpu_id(), arrival);
    }
    return;
  }
  if (atomic.load<u32>(tpc + PC_IRQ_ON) != 0) wake_cpu(t, arrival);
}

/**
 * Idle CPUs: a CPU whose task sleeps (in an rwsem's wait list: the emulator's
 * only sleep; each thread has a CPU of its own) runs the idle task, and x86
 * does not interrupt it for a shootdown of the mm it left:
 *  - 4.14 to 4.19 with PCID (every x86 server core since Westmere; a KVM
 *    guest has it with the host's CPU model): enter_lazy_tlb() switches to
 *    init_mm at once (tlb_defer_switch_to_init_mm() is false with PCID,
 *    arch/x86/mm/tlb.c, commit 10af6235e0d3 "x86/mm: Implement PCID based
 *    optimization: try to preserve old TLB entries using PCID", 4.14), and
 *    switch_mm_irqs_off() clears the CPU from mm_cpumask(): no flush IPI at
 *    all until the task runs again. The emulator's kernels before 4.20 are
 *    those whose munmap keeps the write lock (SET_MUNMAP_DOWNGRADE 0).
 *  - 4.20 and later: the CPU stays in lazy TLB mode, still in mm_cpumask, and
 *    native_flush_tlb_others() / native_flush_tlb_multi() skip lazy CPUs
 *    (on_each_cpu_cond_mask(tlb_is_not_lazy, ...)) unless the flush frees page
 *    tables (info->freed_tables): commits 95b0e6357d3e "x86/mm/tlb: Always use
 *    lazy TLB mode" and 64482aafe55f "x86/mm/tlb: Only send page table free
 *    TLB flush to lazy TLB CPUs" (Rik van Riel, 4.20).
 * When the task runs again, switch_mm_irqs_off() finds the mm's tlb_gen moved
 * and flushes. The emulator flushes a CPU's TLB as its task goes to sleep
 * (rwsem.ts rwq_join(), before it counts as asleep), so a skipped CPU holds
 * nothing stale and refills by page walks; an initiator reads each target's
 * sleep state after it cleared the PTEs (both atomic), so a target that
 * wakes meanwhile walks the new ones.
 * With a guest run queue (several tasks per vCPU, vcpu.ts) the rule is per
 * vCPU: a vCPU is idle when none of its tasks runs; while one runs it stays
 * in mm_cpumask() and that task takes the IPI for the vCPU (its siblings,
 * off the vCPU, dropped their translations as they left it).
 */
@inline function skips_idle(freed_tables: bool): bool { return setting(SET_MUNMAP_DOWNGRADE) == 0 || !freed_tables; }

/**
 * flush_tlb_mm_range(): invalidate [start, end) (vpns; 0,0 = everything) on
 * every CPU that may cache translations of `mm`, and return only when all of
 * them have acked. Caller may hold spinlocks (that is how the PTL/IPI deadlock
 * arises) but must have IRQs enabled, as smp_call_function_many() requires.
 * `freed_tables`: page tables were detached (mmu_gather's freed_tables): idle
 * CPUs are interrupted too on 4.20+ (see "Idle CPUs").
 */
function flush_tlb_mm_range__body(mm: u32, start: u64, end: u64, freed_tables: bool): void {
  stat_inc(STAT_SHOOTDOWN);
  tlb_flush_range(start, end);
  // Snapshot of mm_cpumask without this CPU, one local per mask word
  // (CPUMASK_WORDS == 4, checked by test/core/layout.test.ts), so the ack count and
  // the IPIs sent agree while other CPUs leave the mask (cpu_finish); a CPU
  // that left after the snapshot is cancelled by send_ipi. Only the words that
  // can hold a CPU of this run are read.
  const me = cpu_id();
  const cm = mm_addr(mm) + MM_CPUMASK;
  const nw = NCPU_WORDS;
  let w0: u64 = 0, w1: u64 = 0, w2: u64 = 0, w3: u64 = 0;
  let n: i32 = 0;
  const skip = skips_idle(freed_tables);
  for (let w: u32 = 0; w < nw; w++) {
    let x = atomic.load<u64>(cm + (w << 3));
    if (w == me >> 6) x &= ~cpumask_bit(me);
    // idle CPUs (their task asleep) are not interrupted unless the flush frees tables on 4.20+: see "Idle CPUs"
    let y = x;
    while (y != 0) {
      const c = (w << 6) + <u32>ctz(y);
      y &= y - 1;
      if (RUNQ) {
        // a guest run queue (vcpu.ts): the IPI goes to the vCPU, i.e. to the task running on it; a task off
        // its vCPU holds no translations (dropped as it left) and is covered by the sibling that runs there
        if (task_on_cpu(c)) continue;
        if (vcpu_busy(c)) { x &= ~cpumask_bit(c); stat_inc(STAT_VCPU_IPI_SIBLING); continue; }
      } else if (!rwsem_sleeping_on(percpu(c))) continue;
      if (skip) { x &= ~cpumask_bit(c); stat_inc(STAT_SHOOTDOWN_IDLE_SKIP); } else stat_inc(STAT_IPI_IDLE);
    }
    n += <i32>popcnt(x);
    if (w == 0) w0 = x; else if (w == 1) w1 = x; else if (w == 2) w2 = x; else w3 = x;
  }
  if (n == 0) return;
  stat_inc(STAT_SHOOTDOWN_REMOTE);
  const ts = now();
  atomic.store<u64>(PC + PC_ACK_TIME, 0);
  atomic.store<i32>(PC + PC_ACKS, n);
  for (let w: u32 = 0; w < nw; w++) {
    // iterate the set bits of the word (lowest first)
    let x = w == 0 ? w0 : w == 1 ? w1 : w == 2 ? w2 : w3;
    while (x != 0) {
      send_ipi((w << 6) + <u32>ctz(x), IPI_TLB_FLUSH, start, end);
      x &= x - 1;
    }
  }
  const c0 = now();
  const ipi0 = stat_get(STAT_IPI_CYCLES); // IPIs we serve while waiting are counted as IPI work, not as waiting
  if (atomic.load<i32>(PC + PC_ACKS) != 0) {
    wait_prepare(PC + PC_ACKS, WAIT_IPI_ACK);
    // retry: woken by one ack (or an IPI to us) while others are still due
    while (true) {
      const w = wait_token();
      if (atomic.load<i32>(PC + PC_ACKS) == 0) break;
      wait_sleep(w);
    }
    wait_finish();
  }
  const t = atomic.load<u64>(PC + PC_ACK_TIME);
  if (t > now()) set_clock(t);
  stat_add(STAT_SHOOTDOWN_WAIT_CYCLES, wait_excluding_ipi(now() - c0, ipi0));
  if (tracing()) trace_event(TE_SHOOTDOWN, ts, now(), <u32>n, start);
}
/** flush_tlb_mm_range() as a frame of the flame graph (obs.ts) */
@inline export function flush_tlb_mm_range(mm: u32, start: u64, end: u64): void {
  fn_enter(FN_FLUSH_TLB_MM_RANGE);
  flush_tlb_mm_range__body(mm, start, end, false);
  fn_exit();
}
/** flush_tlb_mm_range() of a flush that frees page tables (mmu_gather's freed_tables: see "Idle CPUs") */
@inline export function flush_tlb_mm_range_freed_tables(mm: u32, start: u64, end: u64): void {
  fn_enter(FN_FLUSH_TLB_MM_RANGE);
  flush_tlb_mm_range__body(mm, start, end, true);
  fn_exit();
}
