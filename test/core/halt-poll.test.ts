import { describe, it, expect } from 'vitest';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { coreModule, coreImports } from '../../src/wasm.js';
import { runPoint } from '../../src/experiment.js';
import { loadProfile, type CostProfile } from '../../src/profile.js';

// A KVM host's adaptive halt polling (assembly/cpuidle.ts): a vCPU's halt that
// outlasts its window blocks the vCPU thread on the host, and its wake-up pays
// halt_block_wake plus the host CPU's idle exit; the window follows
// kvm_vcpu_block() (virt/kvm/kvm_main.c, Linux 4.16).

const memory = new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: true });
const ex = new WebAssembly.Instance(coreModule(), coreImports(memory)).exports as Record<string, any>;
const next = (w: bigint, idle: bigint, max: bigint, base: bigint) => BigInt.asUintN(64, BigInt(ex.halt_poll_next(w, idle, max, base)));

describe('halt_poll_next (kvm_vcpu_block, grow_halt_poll_ns, shrink_halt_poll_ns)', () => {
  const us = 2600n; // 2.6 GHz
  const max = 200n * us; // halt_poll_ns = KVM_HALT_POLL_NS_DEFAULT (x86)
  const base = 10n * us;
  it('a halt the window covers leaves it as it is (halt_successful_poll)', () => {
    expect(next(40n * us, 40n * us, max, base)).toBe(40n * us);
    expect(next(40n * us, 3n * us, max, base)).toBe(40n * us);
  });
  it('a short halt past the window grows it: 10 us from 0, then doubling, capped at halt_poll_ns', () => {
    let w = 0n;
    const seen: bigint[] = [];
    for (let i = 0; i < 7; i++) { w = next(w, 199n * us, max, base); seen.push(w / us); }
    expect(seen).toEqual([10n, 20n, 40n, 80n, 160n, 200n, 200n]);
  });
  it('a halt longer than halt_poll_ns resets a window to 0 (halt_poll_ns_shrink = 0), and leaves 0 at 0', () => {
    expect(next(160n * us, 201n * us, max, base)).toBe(0n);
    expect(next(0n, 5000n * us, max, base)).toBe(0n);
    // exactly halt_poll_ns: neither shrink (block_ns > halt_poll_ns) nor grow (block_ns < halt_poll_ns)
    expect(next(80n * us, max, max, base)).toBe(80n * us);
  });
});

/** `p` with some costs replaced (a profile file for runPoint) */
function variant(p: CostProfile, name: string, set: Record<string, number>): string {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-haltpoll-'));
  const f = join(dir, `${name}.json`);
  const costs = Object.fromEntries(Object.entries(p.cycles).map(([k, c]) => [k, { cycles: k in set ? set[k] : c, source: p.sources[k] }]));
  writeFileSync(f, JSON.stringify({ name, description: `${p.name} with ${Object.keys(set).join(', ')} changed (test)`, ghz: p.ghz, topology: p.topology, costs }));
  return f;
}

const point = (profile: string) => ({
  workload: 'ebizzy-mTRp', strategy: 'mmap_lock', munmap: 'write' as const, cpus: 8, profile, mode: 'deterministic' as const,
  seed: 1, quantum: 10_000, vcycles: 4_000_000, loops: 1, workers: 1,
});

describe('halt polling in a run', () => {
  it('blocked halts pay halt_block_wake plus at most the host\'s deepest idle exit; without a KVM host nothing is charged', async () => {
    const kvm = loadProfile('kvm-hsw-16vcpu');
    const on = await runPoint(point('kvm-hsw-16vcpu'));
    const off = await runPoint(point(variant(kvm, 'kvm-no-halt-poll', { halt_poll_max: 0 })));
    const free = await runPoint(point(variant(kvm, 'kvm-free-wake', {
      halt_block_wake: 0, host_cpuidle1_exit_latency: 0, host_cpuidle1_target_residency: 0, host_cpuidle2_exit_latency: 0,
      host_cpuidle2_target_residency: 0, host_cpuidle3_exit_latency: 0, host_cpuidle3_target_residency: 0,
    })));
    for (const r of [on, off, free]) expect(r.ok, r.error ?? '').toBe(true);
    expect(off.stats.halt_block + off.stats.halt_poll_success + off.stats.halt_block_cycles).toBe(0);
    expect(on.stats.halt_block).toBeGreaterThan(0);
    const wake = BigInt(kvm.cycles.halt_block_wake);
    const blocks = BigInt(on.stats.halt_block);
    expect(BigInt(on.stats.halt_block_cycles)).toBeGreaterThanOrEqual(blocks * wake);
    expect(BigInt(on.stats.halt_block_cycles)).toBeLessThanOrEqual(blocks * (wake + BigInt(kvm.cycles.host_cpuidle3_exit_latency)));
    // the window is tracked with the costs at 0 too; only the charge goes
    expect(free.stats.halt_block).toBeGreaterThan(0);
    expect(free.stats.halt_block_cycles).toBe(0);
    expect(on.opsPerVirtualSec!).toBeLessThan(off.opsPerVirtualSec!);
  });
});
