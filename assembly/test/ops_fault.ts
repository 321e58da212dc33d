// Loops and hooks for the fault-path tests (test/spf-aborts, fault-strategies,
// fault-deadlock). They build the exact situations in which each speculative
// fault abort happens: a CPU parked inside a VMA write section while another
// faults, a PMD changed behind a speculative walker's back, a PMD written by
// hand (devmap, migration entry, bad), a kernel-mode fault. Races are timed in
// virtual time: a poll loop charges a few cycles per round and passes an
// interrupt point, so in deterministic mode the token goes to whichever CPU
// is behind and the interleaving is exact and reproducible.
//
// Nothing here is used by a real run.

import { fault_classic } from '../access';
import {
  VMA_START, VMA_FLAGS, VM_READ, VM_WRITE, VM_EXEC, PC_IRQ_ON, PC_WAIT_OBJ, PC_CLOCK, PC_STATE, CPU_FINISHED, CPU_WAITING,
  WAIT_SPIN, MM_MMAP_LOCK, PC_STATS, PTM_NR_PRESENT, VMA_PROT, percpu, mm_addr,
} from '../layout';
import { now, DETERMINISTIC, charge, cost, stat_inc, stat_add } from '../cpu';
import {
  COST_FAULT_ENTRY, COST_PTE_FIRST_ACCESS, STAT_FAULT, STAT_FAULT_CYCLES, STAT_FAULT_SIGSEGV, STAT_SPF_FALLBACK, STAT_SPF_SUCCESS, STAT_SPF_TRYLOCK_RETRY,
} from '../generated';
import {
  op_done, sync_point, wait_prepare, wait_token, wait_sleep, wait_finish, wake_waiters, wait_until_at_least, spin_wait_round,
} from '../wait';
import { check_stop } from '../stop';
import { spin_lock, spin_unlock, spin_is_locked } from '../spinlock';
import { flush_tlb_mm_range, local_irq_disable, local_irq_enable, irq_relax } from '../ipi';
import {
  hw_walk, walk_lockless, walk_pmd_table, walk_pmd_slot, walk_pte_table, walk_orig_pmd, ptl_of, ptpage_addr,
  ptmeta_addr, ptpage_pfn, alloc_ptpage, free_ptpage, set_pte, table_nr_present, walk_pte_slot, mm_pgd, WALK_OK, LEVEL_PTE, LEVEL_PUD,
} from '../pgtable';
import { _PAGE_DEVMAP, _PAGE_PSE, _PAGE_PCD, PTE_PFN_MASK, pte_pfn, swp_entry, pfn_pte, pgprot_pack, pgprot_unpack, _PAGE_TABLE } from '../pte';
import { nframes } from '../frames';
import { rwsem_is_locked } from '../rwsem';
import { wait_handler_idle } from '../stress';
import { find_vma, vma_addr, vm_write_begin, vm_write_end } from '../vma';
import { handle_mm_fault, FAULT_FLAG_WRITE, FAULT_FLAG_USER, FAULT_FLAG_ALLOW_RETRY, VM_FAULT_RETRY, VM_FAULT_SIGSEGV } from '../fault';
import { handle_speculative_fault } from '../spf';
import { mmap_read_lock, mmap_read_unlock, mmap_write_lock, mmap_write_unlock } from '../mmap_lock';
import { strategy, STRATEGY_SPF } from '../strategy';

// ---- flags and waits --------------------------------------------------------

/** Set the u32 at `flag` to `value` and wake whoever sleeps on it (t_wait_flag). */
export function t_set_flag(flag: u32, value: u32): void {
  atomic.store<u32>(flag, value);
  wake_waiters(flag);
}

/**
 * t_set_flag, then the state (PC_STATE) of CPU `cpu` read at once: whether the
 * wake-up made a sleeper on the flag RUNNABLE before its own thread could run
 * (parallel mode, wait.ts wake_cpu: the barrier counts a woken waiter).
 * Returns the state | 0x100 if `cpu` slept on the flag when it was set | 0x200
 * if it still waits on the flag after the read (else it left that wait: it
 * may be in its next one already).
 */
export function t_set_flag_peek(flag: u32, value: u32, cpu: u32): u32 {
  const pc = percpu(cpu);
  const slept = atomic.load<u32>(pc + PC_WAIT_OBJ) == flag && atomic.load<u32>(pc + PC_STATE) == CPU_WAITING;
  t_set_flag(flag, value);
  const st = atomic.load<u32>(pc + PC_STATE);
  return st | (slept ? 0x100 : 0) | (atomic.load<u32>(pc + PC_WAIT_OBJ) == flag ? 0x200 : 0);
}

/**
 * Sleep (not runnable: deterministic mode hands the token on, no polling)
 * until the u32 at `flag` is >= `value` (deterministic mode: resume at the
 * setter's virtual time).
 */
export function t_wait_flag(flag: u32, value: u32): void { wait_until_at_least(flag, value); }

/**
 * Poll (spin, no wake object: wait.ts spin_wait_round) until the u32 at `flag` is
 * >= `value`. While it polls, its worker's only runnable CPU may be this one: the
 * safety net must fire beside it too (sched.ts).
 */
export function t_poll_flag(flag: u32, value: u32): void {
  let spins: u32 = 0;
  // retry: nobody wakes a poller; it looks again at each round
  while (atomic.load<u32>(flag) < value) {
    check_stop();
    spin_wait_round(++spins, flag);
  }
  if (spins != 0) wait_finish();
}

/** Charge `c` cycles and pass an interrupt point. */
export function t_charge(c: u64): void { charge(c); sync_point(); }

/**
 * Wait (polling `step` cycles at a time) until statistics counter `stat`
 * (STAT_*) of CPU `cpu` reaches `value`. 1 when seen, 0 after `cap` cycles.
 */
export function t_await_stat(cpu: u32, stat: u32, value: u64, step: u64, cap: u64): u32 {
  const a = percpu(cpu) + PC_STATS + (stat << 3);
  const deadline = now() + cap;
  while (atomic.load<u64>(a) < value) if (!poll(step, deadline)) return 0;
  return 1;
}

@inline function irqs_off(cpu: u32): bool { return atomic.load<u32>(percpu(cpu) + PC_IRQ_ON) == 0; }
@inline function waits_on(cpu: u32, obj: u32): bool { return atomic.load<u32>(percpu(cpu) + PC_WAIT_OBJ) == obj; }

/**
 * One round of a timed poll: `step` cycles, an interrupt point. Returns false
 * once `deadline` (virtual) has passed: the awaited state never came.
 */
@inline function poll(step: u64, deadline: u64): bool {
  charge(step);
  sync_point();
  return now() < deadline;
}

/** wait until CPU `other` runs with IRQs off (inside a lockless walk / pte_map_lock); false on timeout */
function await_irqs_off(other: u32, step: u64, cap: u64): bool {
  const deadline = now() + cap;
  while (!irqs_off(other)) if (!poll(step, deadline)) return false;
  return true;
}

/** wait until CPU `other` has IRQs off and then on again (its lockless walk is over); false on timeout */
function await_walk_done(other: u32, step: u64, cap: u64): bool {
  if (!await_irqs_off(other, step, cap)) return false;
  const deadline = now() + cap;
  while (irqs_off(other)) if (!poll(step, deadline)) return false;
  return true;
}

/** wait until CPU `other` sleeps on `obj`; false on timeout */
function await_waiting_on(other: u32, obj: u32, step: u64, cap: u64): bool {
  const deadline = now() + cap;
  while (!waits_on(other, obj)) if (!poll(step, deadline)) return false;
  return true;
}

/**
 * Wait until CPU `other` is inside a lockless walk (IRQs off; `done` 0) or
 * has finished one (IRQs off, then on again; `done` 1). 1 when seen, 0 after `cap` cycles.
 */
export function t_await_walk(other: u32, done: u32, step: u64, cap: u64): u32 {
  return (done != 0 ? await_walk_done(other, step, cap) : await_irqs_off(other, step, cap)) ? 1 : 0;
}

// ---- a kernel-mode fault (no FAULT_FLAG_USER) -----------------------------------


/**
 * A kernel access to a user address (copy_to_user / copy_from_user): the MMU
 * walk as supervisor, and on a fault do_user_addr_fault() with the flags of a
 * kernel-mode fault, i.e. without FAULT_FLAG_USER. Under the spf strategy it
 * tries handle_speculative_fault() first, exactly as the user path does, so
 * the "not a user fault" abort is taken, then the classic path. 0 or VM_FAULT_*.
 */
export function t_kernel_access(mm: u32, address: u64, write: bool): i32 {
  // retry: the access is re-executed after each fault, as after iret
  for (let tries = 0; tries < 8; tries++) {
    if (hw_walk(mm, address, write, false) != 0) return 0;
    const t0 = now();
    charge(cost(COST_FAULT_ENTRY));
    stat_inc(STAT_FAULT);
    const flags = write ? FAULT_FLAG_WRITE : 0;
    let r: i32 = VM_FAULT_RETRY;
    if (strategy() == STRATEGY_SPF) {
      r = handle_speculative_fault(mm, address, flags);
      if (r == VM_FAULT_RETRY) stat_inc(STAT_SPF_FALLBACK);
      else if (r == 0) stat_inc(STAT_SPF_SUCCESS);
    }
    if (r == VM_FAULT_RETRY) r = fault_classic(mm, address, flags);
    if (r == VM_FAULT_SIGSEGV) stat_inc(STAT_FAULT_SIGSEGV);
    else if (r == 0) charge(cost(COST_PTE_FIRST_ACCESS)); // the re-executed access, as do_user_addr_fault()
    stat_add(STAT_FAULT_CYCLES, now() - t0);
    op_done();
    if (r != 0) return r;
  }
  return VM_FAULT_RETRY;
}

// ---- vm_sequence races: a CPU inside vm_write_begin..end --------------------------

/**
 * CPU A's side of the vm_sequence races against CPU `other`'s fault on the
 * VMA at `addr`. Takes mmap_lock for write (as every vm_write_begin caller
 * does), then by `trigger`:
 *   0: vm_write_begin at once, then set `flag`: other's fault starts inside
 *      the write section (vm_sequence odd);
 *   1: set `flag`, wait until other runs with IRQs off (its lockless walk),
 *      then vm_write_begin: the sequence changed after other sampled it
 *      (read_seqcount_retry after the walk);
 *   2: set `flag`, wait until other's walk is over (IRQs off, then on),
 *      charge `delay`, then vm_write_begin: other is past the post-walk check
 *      and meets the change in pte_map_lock (vma_has_changed).
 *   3: set `flag`, wait until other's walk is over and it runs with IRQs off
 *      again (pte_map_lock), catch up with other's clock, charge `delay`,
 *      then vm_write_begin: timed to
 *      fall between pte_map_lock's two vma_has_changed() checks.
 * Then wait until other sleeps on mmap_lock (its classic fallback), end the
 * write section and unlock. Returns 1 when every awaited state was seen,
 * 0 when one did not come within `cap` cycles.
 */
export function t_vma_writer(mm: u32, addr: u64, other: u32, trigger: u32, delay: u64, flag: u32, cap: u64): u32 {
  const step: u64 = 4;
  let ok: u32 = 1;
  mmap_write_lock(mm);
  const vma = find_vma(mm, addr);
  if (vma < 0) { mmap_write_unlock(mm); return 0; }
  if (trigger == 0) {
    vm_write_begin(<u32>vma);
    t_set_flag(flag, 1);
  } else if (trigger == 3) {
    // other's walk is over; the next IRQs-off section is its pte_map_lock: change the
    // VMA `delay` cycles into it (after its first vma_has_changed, before its second)
    t_set_flag(flag, 1);
    if (!await_walk_done(other, step, cap) || !await_irqs_off(other, 1, cap)) ok = 0;
    // other may have run far ahead of us in virtual time before we saw it: catch up first
    const tb = atomic.load<u64>(percpu(other) + PC_CLOCK);
    if (tb > now()) charge(tb - now());
    charge(delay);
    vm_write_begin(<u32>vma);
  } else {
    t_set_flag(flag, 1);
    const seen = trigger == 1 ? await_irqs_off(other, step, cap) : await_walk_done(other, step, cap);
    if (!seen) ok = 0;
    if (trigger == 2) charge(delay);
    vm_write_begin(<u32>vma);
  }
  if (!await_waiting_on(other, mm_addr(mm) + MM_MMAP_LOCK, 50, cap)) ok = 0;
  vm_write_end(<u32>vma);
  mmap_write_unlock(mm);
  op_done();
  return ok;
}

// ---- PMD changes behind a speculative walker ----------------------------------------

/**
 * A THP-collapse-like replacement of the PTE table mapping `addr`, behind
 * CPU `other`'s speculative fault (khugepaged's order: mmap_lock for write,
 * but NOT vm_write_begin, so only the orig_pmd check of pte_map_lock can see
 * it). mmap_lock is taken first, then `flag` is set; once other's lockless
 * walk is over (IRQs off, then on) and `delay` cycles passed: under the PMD
 * table's lock clear the PMD, flush the TLB (pmdp_collapse_flush: no
 * lockless walker can still use the old table after the acks), take the old
 * table's PTL, copy its entries into a new table, install the new table in
 * the PMD, free the old one. The mapping is unchanged; the PMD value is not.
 * Returns 1 when done as planned, 0 if other's walk was not seen, -1 when
 * the walk at `addr` found no PTE table.
 */
export function t_pmd_replace(mm: u32, addr: u64, other: u32, delay: u64, flag: u32, cap: u64): i32 {
  mmap_write_lock(mm);
  t_set_flag(flag, 1);
  const seen = await_walk_done(other, 4, cap);
  charge(delay);
  if (walk_lockless(mm, addr) != WALK_OK) { mmap_write_unlock(mm); return -1; }
  const pmdt = <u32>walk_pmd_table();
  const slot = walk_pmd_slot();
  const old = <u32>walk_pte_table();
  const orig = walk_orig_pmd();
  const nt = alloc_ptpage(LEVEL_PTE);
  if (nt < 0) { mmap_write_unlock(mm); return -1; }
  spin_lock(ptl_of(pmdt));
  set_pte(pmdt, slot, 0);
  flush_tlb_mm_range(mm, 0, 0);
  spin_lock(ptl_of(old));
  memory.copy(ptpage_addr(<u32>nt), ptpage_addr(old), 4096);
  atomic.store<i32>(ptmeta_addr(<u32>nt) + PTM_NR_PRESENT, table_nr_present(old));
  atomic.store<i32>(ptmeta_addr(old) + PTM_NR_PRESENT, 0);
  spin_unlock(ptl_of(old));
  set_pte(pmdt, slot, (orig & ~PTE_PFN_MASK) | pfn_pte(ptpage_pfn(<u32>nt), 0));
  spin_unlock(ptl_of(pmdt));
  free_ptpage(old); // unreachable since the flush; its PTL is free
  mmap_write_unlock(mm);
  op_done();
  return seen ? 1 : 0;
}

/**
 * Write the PMD entry that maps `addr` by hand (the emulator never creates
 * these itself), under the PMD table's lock, then flush every TLB:
 *   kind 0: set _PAGE_DEVMAP on it (a ZONE_DEVICE huge mapping);
 *   kind 1: replace it by a migration-style swap entry of its pfn (type 31);
 *   kind 2: a table entry that names no page-table page (pmd_bad);
 *   kind 3: write `value` (restore what an earlier call returned).
 * Returns the previous value (0 if the walk did not reach the PMD level).
 */
export function t_pmd_poke(mm: u32, addr: u64, kind: u32, value: u64): u64 {
  walk_lockless(mm, addr);
  const slot = walk_pmd_slot();
  if (slot == 0) return 0;
  const t = <u32>walk_pmd_table();
  spin_lock(ptl_of(t));
  const old = atomic.load<u64>(slot);
  let nv = value;
  if (kind == 0) nv = old | _PAGE_DEVMAP;
  else if (kind == 1) nv = swp_entry(31, pte_pfn(old));
  else if (kind == 2) nv = pfn_pte(1, _PAGE_TABLE); // pfn 1 is a data frame, not a page-table page
  set_pte(t, slot, nv);
  spin_unlock(ptl_of(t));
  flush_tlb_mm_range(mm, 0, 0);
  op_done();
  return old;
}

// ---- the PTL / shootdown deadlock through the real fault path -------------------------

/**
 * Wait until the PTL of the PTE table mapping `addr` is held by someone.
 * Deterministic mode: poll `step` cycles at a time. Parallel mode: advance
 * the clock only while behind CPU `follow` (whose zap we wait for), so this
 * CPU never runs into the quantum barrier and sleeps through the window.
 * Returns 1 when seen, 0 on timeout (`cap` cycles) or when there is no table.
 */
export function t_wait_ptl_locked(mm: u32, addr: u64, follow: u32, step: u64, cap: u64): u32 {
  if (walk_lockless(mm, addr) != WALK_OK) return 0;
  const ptl = ptl_of(<u32>walk_pte_table());
  const deadline = now() + cap;
  const fpc = percpu(follow);
  let spins: u32 = 0;
  while (!spin_is_locked(ptl)) {
    if (atomic.load<u32>(fpc + PC_STATE) == CPU_FINISHED) return 0;
    if (DETERMINISTIC || now() + step <= atomic.load<u64>(fpc + PC_CLOCK)) charge(step);
    else if (++spins > 10_000_000) return 0;
    sync_point();
    if (now() >= deadline) return 0;
  }
  return 1;
}

/**
 * Parallel-mode ordering without a real-time race: hold the PTL of the PTE
 * table mapping `addr` (another CPU in a long critical section on that
 * table), set `flag`, and release it only once CPU `a` sleeps on it (a zap
 * that queued first: the ticket lock hands it over in order) and CPU `b`
 * either sleeps on it too (pte_map_lock spinning with IRQs off) or has
 * failed a speculative trylock (STAT_SPF_TRYLOCK_RETRY). 1 when both were
 * seen, 0 on timeout (`cap` cycles), -1 without a table.
 */
export function t_hold_ptl(mm: u32, addr: u64, flag: u32, a: u32, b: u32, cap: u64): i32 {
  if (walk_lockless(mm, addr) != WALK_OK) return -1;
  const ptl = ptl_of(<u32>walk_pte_table());
  spin_lock(ptl);
  t_set_flag(flag, 1);
  const retries = percpu(b) + PC_STATS + (<u32>STAT_SPF_TRYLOCK_RETRY << 3);
  const deadline = now() + cap;
  let ok: i32 = 1;
  while (!(waits_on(a, ptl) && (waits_on(b, ptl) || atomic.load<u64>(retries) > 0))) {
    if (!poll(100, deadline)) { ok = 0; break; }
  }
  spin_unlock(ptl);
  op_done();
  return ok;
}

/** Wait until CPU `cpu` sleeps on the PTL of the PTE table mapping `addr`. 1 when seen, 0 on timeout, -1 without a table. */
export function t_await_ptl_waiter(mm: u32, addr: u64, cpu: u32, step: u64, cap: u64): i32 {
  if (walk_lockless(mm, addr) != WALK_OK) return -1;
  return await_waiting_on(cpu, ptl_of(<u32>walk_pte_table()), step, cap) ? 1 : 0;
}

// ---- fault-lock rules, hand-written entries (test/fault-on-access, spf-aborts) ----------

/**
 * A fault as GUP raises it (get_user_pages: mmap_lock held for read by the
 * caller): handle_mm_fault with FAULT_FLAG_ALLOW_RETRY plus `extra`
 * (e.g. FAULT_FLAG_RETRY_NOWAIT), no retry loop. Returns the VM_FAULT_*
 * result | (1 << 16 if mmap_lock was still held for read on return). The
 * lock is dropped here if the handler kept it.
 */
export function t_fault_flags(mm: u32, address: u64, write: bool, extra: u32): i32 {
  mmap_read_lock(mm);
  const vma = find_vma(mm, address);
  if (vma < 0) { mmap_read_unlock(mm); return VM_FAULT_SIGSEGV; }
  const r = handle_mm_fault(mm, <u32>vma, address, FAULT_FLAG_USER | FAULT_FLAG_ALLOW_RETRY | extra | (write ? FAULT_FLAG_WRITE : 0));
  const held = rwsem_is_locked(mm_addr(mm) + MM_MMAP_LOCK);
  if (held) mmap_read_unlock(mm);
  op_done();
  return r | (held ? 1 << 16 : 0);
}

/**
 * Rewrite the PTE that maps `addr` under its PTL: clear `clear`, set `set`
 * (e.g. make it fault-on-access by hand), then flush every TLB. Returns the
 * old PTE, 0 when there is no PTE table.
 */
export function t_pte_poke(mm: u32, addr: u64, set: u64, clear: u64): u64 {
  if (walk_lockless(mm, addr) != WALK_OK) return 0;
  const t = <u32>walk_pte_table();
  const slot = walk_pte_slot();
  spin_lock(ptl_of(t));
  const old = atomic.load<u64>(slot);
  set_pte(t, slot, (old & ~clear) | set);
  spin_unlock(ptl_of(t));
  flush_tlb_mm_range(mm, 0, 0);
  op_done();
  return old;
}

/**
 * OR `bits` into vm_page_prot of the VMA at `addr` (mmap_lock for write,
 * inside the VMA's write section), leaving vm_flags alone: as a driver's
 * mmap does with pgprot_noncached(vma->vm_page_prot). 1 done, 0 no VMA.
 */
export function t_vma_set_page_prot(mm: u32, addr: u64, bits: u64): u32 {
  mmap_write_lock(mm);
  const vma = find_vma(mm, addr);
  if (vma < 0) { mmap_write_unlock(mm); return 0; }
  const a = vma_addr(<u32>vma) + VMA_PROT;
  vm_write_begin(<u32>vma);
  atomic.store<u32>(a, pgprot_pack(pgprot_unpack(atomic.load<u32>(a)) | bits));
  vm_write_end(<u32>vma);
  mmap_write_unlock(mm);
  op_done();
  return 1;
}

/**
 * Write the PGD (level 4) or PUD (level 3) entry that maps `addr` by hand,
 * under mmap_lock for write, then flush every TLB:
 *   kind 0: a 1 GiB leaf (P RW US A D PS, frame 1) in place of the entry;
 *   kind 1: the same table entry plus PCD (pud_bad / pgd_bad: a flag outside _PAGE_TABLE);
 *   kind 3: write `value` (restore what an earlier call returned).
 * Returns the previous value (0 if the walk did not reach that level).
 */
export function t_upper_poke(mm: u32, addr: u64, level: u32, kind: u32, value: u64): u64 {
  mmap_write_lock(mm);
  let t = mm_pgd(mm);
  let slot = ptpage_addr(t) + ((<u32>(addr >> 39) & 511) << 3);
  if (level == LEVEL_PUD) {
    const pgde = atomic.load<u64>(slot);
    if (pgde == 0) { mmap_write_unlock(mm); return 0; }
    t = <u32>(pte_pfn(pgde) - <u64>nframes());
    slot = ptpage_addr(t) + ((<u32>(addr >> 30) & 511) << 3);
  }
  const old = atomic.load<u64>(slot);
  let nv = value;
  if (kind == 0) nv = pfn_pte(1, _PAGE_TABLE | _PAGE_PSE);
  else if (kind == 1) nv = old | _PAGE_PCD;
  spin_lock(ptl_of(t));
  set_pte(t, slot, nv);
  spin_unlock(ptl_of(t));
  mmap_write_unlock(mm);
  flush_tlb_mm_range(mm, 0, 0);
  op_done();
  return old;
}

/**
 * A collapse's first step behind CPU `other`'s speculative fault: with
 * mmap_lock for write (and `flag` set), once other's lockless walk is over,
 * clear the PMD that maps `addr` under the PMD table's lock and flush the
 * TLBs; keep it none until other sleeps on mmap_lock (its classic
 * fallback), then put the old table back. 1 when every awaited state was
 * seen, 0 on a timeout, -1 without a PTE table at `addr`.
 */
export function t_pmd_clear_hold(mm: u32, addr: u64, other: u32, flag: u32, cap: u64): i32 {
  mmap_write_lock(mm);
  t_set_flag(flag, 1);
  let ok: i32 = await_walk_done(other, 4, cap) ? 1 : 0;
  if (walk_lockless(mm, addr) != WALK_OK) { mmap_write_unlock(mm); return -1; }
  const pmdt = <u32>walk_pmd_table();
  const slot = walk_pmd_slot();
  const orig = walk_orig_pmd();
  spin_lock(ptl_of(pmdt));
  set_pte(pmdt, slot, 0);
  spin_unlock(ptl_of(pmdt));
  flush_tlb_mm_range(mm, 0, 0);
  if (!await_waiting_on(other, mm_addr(mm) + MM_MMAP_LOCK, 50, cap)) ok = 0;
  spin_lock(ptl_of(pmdt));
  set_pte(pmdt, slot, orig);
  spin_unlock(ptl_of(pmdt));
  mmap_write_unlock(mm);
  op_done();
  return ok;
}

/** `n` IRQ relaxes of a spin loop, IRQs off in between (as pte_map_lock runs them): the cycles they took */
export function t_relax(n: u32): u64 {
  local_irq_disable();
  const t0 = now();
  for (let i: u32 = 0; i < n; i++) irq_relax();
  const d = now() - t0;
  local_irq_enable();
  op_done();
  return d;
}

/**
 * The stress checkpoint's poll (stress.ts wait_handler_idle): until CPU
 * `handler` sleeps in read() of userfaultfd `ctx` with nothing pending, or
 * has finished. 1 when it returns. (Issue 18's hang: a poller behind the
 * epoch held back the barrier its handler waited at.)
 */
export function t_await_handler_idle(handler: u32, ctx: u32): u32 {
  wait_handler_idle(handler, ctx);
  return 1;
}
