import { describe, it, expect } from 'vitest';
import { runScripts, PAGE, MAP_SHARED, MAP_PRIVATE, MAP_FIXED } from '../support/fault-util.js';
import type { PervmaKernel } from '../../src/machine.js';

// What each per-VMA lock release handles under the VMA lock (assembly/pervma.ts,
// fault.ts): one CPU, a shared and a private mapping of a file; a read fault,
// a write to the read-only page it mapped (wp_page_shared), a shared write
// fault, a COW fault in a VMA without anon_vma, a COW fault with one.
const F = 0x10_0000_0000;
const G = 0x20_0000_0000;

async function faults(kernel: PervmaKernel) {
  return runScripts({ cpus: 1, strategy: 2, files: 1, filePages: 16, settings: { pervmaKernel: kernel } }, () => [[
    { op: 'mmap', addr: F, len: 4 * PAGE, flags: MAP_SHARED | MAP_FIXED, file: 0 },
    { op: 'mmap', addr: G, len: 4 * PAGE, flags: MAP_PRIVATE | MAP_FIXED, file: 0 },
    { op: 'access', addr: F, write: 0 }, // do_read_fault
    { op: 'access', addr: F, write: 1 }, // do_wp_page -> wp_page_shared (a file with ->page_mkwrite)
    { op: 'access', addr: F + PAGE, write: 1 }, // do_shared_fault
    { op: 'access', addr: G, write: 1 }, // do_cow_fault, no anon_vma yet
    { op: 'access', addr: G + PAGE, write: 1 }, // do_cow_fault with the anon_vma
  ]]);
}

describe('per-VMA locks by release: which faults stay under the VMA lock', () => {
  it('6.4: a file VMA is refused at lookup; 6.6: admitted, but file faults and page_mkwrite drop the lock and retry', async () => {
    const a = await faults('6.4');
    expect(a.ok, a.error).toBe(true);
    expect(a.out[0].slice(2)).toEqual([0, 0, 0, 0, 0]);
    expect(a.stats.pervma_abort_not_anon).toBe(5n);
    expect(a.stats.pervma_success).toBe(0n);
    const b = await faults('6.6');
    expect(b.ok, b.error).toBe(true);
    expect(b.stats.pervma_abort_not_anon).toBe(0n);
    expect(b.stats.pervma_retry_file).toBe(4n);
    expect(b.stats.pervma_retry_mkwrite).toBe(1n);
    expect(b.stats.pervma_fallback).toBe(5n);
    expect(b.stats.pervma_success).toBe(0n);
  });

  it('6.7: every one under the VMA lock but the COW without anon_vma (vmf_anon_prepare); 6.15: that one too (mmap_lock trylock)', async () => {
    const c = await faults('6.7');
    expect(c.ok, c.error).toBe(true);
    expect(c.stats.pervma_retry_file + c.stats.pervma_retry_mkwrite).toBe(0n);
    expect(c.stats.pervma_retry_anon_vma).toBe(1n);
    expect(c.stats.pervma_success).toBe(4n);
    expect(c.stats.fault_file_cow).toBe(2n);
    const d = await faults('6.15');
    expect(d.ok, d.error).toBe(true);
    expect(d.stats.pervma_retry_anon_vma).toBe(0n);
    expect(d.stats.pervma_fallback).toBe(0n);
    expect(d.stats.pervma_success).toBe(5n);
    expect(d.stats.mmap_read_acquire).toBe(1n); // vmf_anon_prepare()'s trylock
  });
});
