// Helpers shared by the fault-path tests: a machine that runs one faultScript
// per CPU, and a host-side dump of the page tables through the shared memory.

import { Machine, type MachineConfig } from '../../src/machine.js';
import type { ScriptStep } from '../../src/programs.js';
import type { WaitEdge, CpuState } from '../../src/waitgraph.js';
import { PTE_PFN_MASK, PTE_PFN_SHIFT, _PAGE_PSE, _PAGE_ACCESSED, _PAGE_DIRTY } from '../../src/pte.js';

export type Script = ScriptStep[];

export const PAGE = 4096;
export const MiB = 1 << 20;
// mmap flags (assembly/mmap.ts) and protections
export const MAP_SHARED = 0x01, MAP_PRIVATE = 0x02, MAP_FIXED = 0x10, MAP_ANONYMOUS = 0x20, MAP_GROWSDOWN = 0x100;
export const MAP_X_HUGEPAGE = 0x1000000, MAP_X_INTERLEAVE = 0x2000000, MAP_X_UFFD_MISSING = 0x4000000;
export const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
export const PROT_READ = 1, PROT_WRITE = 2, RW = 3;
// VM_FAULT_* (assembly/fault.ts)
export const VM_FAULT_OOM = 0x1, VM_FAULT_SIGBUS = 0x2, VM_FAULT_SIGSEGV = 0x40, VM_FAULT_RETRY = 0x400;

export interface ScriptRun {
  m: Machine;
  ok: boolean;
  error?: string;
  /** the wait-for graph when the run deadlocked */
  deadlock?: WaitEdge[];
  /** every CPU's state when the run stopped */
  cpuStates?: CpuState[];
  /** per CPU: the results of its steps */
  out: unknown[][];
  stats: Record<string, bigint>;
  clocks: bigint[];
}

/**
 * A machine with one script per CPU (`scripts(flags, C)` gets `nflags` zeroed
 * u32 flag words in host scratch and the core's constants). Deterministic mode and the spf strategy
 * unless the config says otherwise.
 */
export async function runScripts(cfg: Partial<MachineConfig> & { cpus: number }, scripts: (flags: number[], C: Record<string, number>) => Script[],
  nflags = 4): Promise<ScriptRun> {
  const m = new Machine({ mode: 'deterministic', strategy: 1, watchdogMs: 10_000, ...cfg });
  const base = m.hostAlloc(64 * nflags);
  const flags = [...Array(nflags).keys()].map((i) => base + 64 * i);
  const list = scripts(flags, m.C);
  if (list.length !== cfg.cpus) throw new Error(`need ${cfg.cpus} scripts, got ${list.length}`);
  const r = await m.run((cpu) => ({ program: 'faultScript', args: { steps: list[cpu] } }));
  return { m, ok: r.ok, error: r.error, deadlock: r.deadlock, cpuStates: r.cpuStates, out: r.cpus.map((c) => (c.value ?? []) as unknown[]), stats: m.stats(), clocks: r.clocks };
}

/** A leaf of the page tables: a 4 KiB PTE or a 2 MiB PMD. */
export interface Leaf { va: bigint; huge: boolean; entry: bigint }

/** Every non-none leaf entry reachable from mm 0's PGD, in address order (host-side, read-only). */
export function dumpLeaves(m: Machine): Leaf[] {
  const C = m.C;
  const mem = new BigUint64Array(m.memory.buffer);
  const nframes = BigInt(m.cfg.frames);
  const entry = (t: number, k: number) => mem[(m.regions.ptpages + t * 4096 + k * 8) / 8];
  const out: Leaf[] = [];
  const visit = (t: number, level: number, base: bigint) => {
    const shift = BigInt(12 + 9 * (level - 1));
    for (let k = 0; k < (level === 4 ? 256 : 512); k++) {
      const e = entry(t, k);
      if (e === 0n) continue;
      const va = base + (BigInt(k) << shift);
      if (level === 1) { out.push({ va, huge: false, entry: e }); continue; }
      if (level === 2 && (e & _PAGE_PSE) !== 0n) { out.push({ va, huge: true, entry: e }); continue; }
      visit(Number(((e & PTE_PFN_MASK) >> PTE_PFN_SHIFT) - nframes), level - 1, va);
    }
  };
  visit(m.u32(m.regions.mm + C.MM_PGD), 4, 0n);
  return out;
}

export const pfnOf = (e: bigint) => Number((e & PTE_PFN_MASK) >> PTE_PFN_SHIFT);
/** the entry without the bits the MMU sets on its own (A, D) and without the frame number */
export const flagsOf = (e: bigint) => e & ~PTE_PFN_MASK & ~(_PAGE_ACCESSED | _PAGE_DIRTY);

/** frames in use: all minus the free list minus every per-CPU page list */
export function framesInUse(m: Machine): number {
  let free = m.host.core.nr_free_frames() as number;
  for (let c = 0; c < m.cfg.cpus; c++) free += m.host.core.pcp_count(c) as number;
  return m.cfg.frames - free;
}
