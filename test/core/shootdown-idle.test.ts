import { describe, it, expect } from 'vitest';
import { runPoint } from '../../src/experiment.js';

// Idle CPUs and shootdowns (assembly/ipi.ts "Idle CPUs"): a CPU whose task sleeps in
// mmap_lock's wait list runs the idle task, and x86 does not interrupt it for a
// shootdown of the mm it left: before 4.20 (PCID: switched to init_mm, out of
// mm_cpumask) never; from 4.20 (lazy TLB) only for a flush that frees page tables.
// page_fault1's munmap zaps 32,768 PTEs in batches (flushes that free nothing) and
// then frees the region's page tables (one flush that does); the other CPUs sleep
// behind it in the wait list.

const point = (munmap: 'write' | 'downgrade', mode: 'deterministic' | 'parallel' = 'deterministic') => ({
  workload: 'page_fault1', strategy: 'mmap_lock', munmap, cpus: 4, profile: 'intel-hsw-2s', mode,
  seed: 1, quantum: 10_000, loops: 1, workers: 1,
});

describe('shootdowns skip idle CPUs', () => {
  it('before 4.20 (munmap under the write lock): a sleeper is never interrupted', async () => {
    const r = await runPoint(point('write'));
    expect(r.ok, r.error ?? '').toBe(true);
    expect(r.stats.rwsem_sleep).toBeGreaterThan(0);
    expect(r.stats.shootdown_idle_skip).toBeGreaterThan(0);
    expect(r.stats.ipi_idle).toBe(0);
  });

  it('from 4.20 (lazy TLB): only the flushes that free page tables interrupt sleepers', async () => {
    const r = await runPoint(point('downgrade'));
    expect(r.ok, r.error ?? '').toBe(true);
    expect(r.stats.shootdown_idle_skip).toBeGreaterThan(0);
    expect(r.stats.ipi_idle).toBeGreaterThan(0);
    // one table-freeing flush per munmap, at most one IPI per other CPU each
    expect(r.stats.ipi_idle).toBeLessThanOrEqual(r.stats.munmap * 3);
  });

  it('parallel mode, 2 workers: sleepers skipped, every shootdown completes', async () => {
    const r = await runPoint({ ...point('write', 'parallel'), workers: 2 });
    expect(r.ok, r.error ?? '').toBe(true);
    expect(r.stats.shootdown_idle_skip).toBeGreaterThan(0);
    expect(r.stats.ipi_idle).toBe(0);
  });

  // A guest run queue (ebizzy's 2 threads per vCPU, C' of validate): a writer woken at the head of the
  // list runs on its vCPU after its wake-up (133 us of host C6 exit on kvm-hsw-16vcpu, charged in one go),
  // while a spinner that stole the lock unmaps. At that flush its vCPU was idle (out of mm_cpumask() before
  // 4.20), so the flush does not wait for that wake-up (ipi.ts IPI_ACK_AT_ARRIVAL); and the IPI it still
  // takes (its TLB) finds it awake already: no second idle exit (cpuidle.ts NOT_IDLE). Before both, each
  // such flush waited 2 C6 exits (~716k cycles) under the write lock, and C' drifted down with its window.
  it('a guest run queue: no flush waits for a vCPU\'s idle exit, and a woken task takes an IPI without another', async () => {
    const r = await runPoint({
      workload: 'ebizzy-mTRp', strategy: 'mmap_lock', munmap: 'write' as const, cpus: 16, profile: 'kvm-hsw-16vcpu',
      mode: 'deterministic' as const, seed: 1, quantum: 10_000, vcycles: 100_000_000, workers: 1,
    });
    expect(r.ok, r.error ?? '').toBe(true);
    expect(r.stats.vcpu_switch).toBeGreaterThan(0);
    expect(r.stats.halt_block).toBeGreaterThan(0); // host C-state exits happen in this run
    expect(r.stats.shootdown_remote).toBeGreaterThan(10);
    // the host's C1E exit is 26,000 cycles, its C6 345,800: every remote flush and every IPI below the first
    expect(r.stats.shootdown_wait_cycles).toBeLessThan(r.stats.shootdown_remote * 26_000);
    expect(r.stats.ipi_cycles).toBeLessThan(r.stats.ipi_received * 26_000);
  });
});
