// Seeded randomized stress of the fault path (host side; the loops are in
// assembly/stress.ts): N CPUs hammer ONE region with faults and mutators,
// then the invariant checker (src/checker.ts) reads the quiescent machine.
//
// Mixes:
//   random       each CPU runs `ops` operations picked by weight: reads and
//                writes of random pages, mmap(MAP_FIXED) of random
//                sub-ranges (anonymous, or file-backed private / shared;
//                RW or R), munmap, mprotect (R / RW) and MADV_DONTNEED, all
//                on the same region, so faults race every mutator; SIGSEGV
//                on unmapped / read-only pages is expected.
//   munmap-race  CPU 0 unmaps the region slot by slot (never remapping)
//                while every other CPU write-faults fresh pages of the slot
//                being unmapped: the race a speculative fault must lose.
// Options add the NUMA scanner (numaPeriod), MTE tag storage (tagStorage: a
// quarter of the mprotects become mprotect(RW|PROT_MTE), so faults meet
// fault-on-access entries and the pool can run dry), zap-flush-under-PTL and the
// planted bugs (settings.bug).
//
// A run is reproducible from its seed in deterministic mode; `replay` is the
// command line that re-runs it so. (A failure found in parallel mode depends
// on the host's thread interleaving: the replay re-runs the same
// configuration deterministically, which is not guaranteed to hit it again.)

import { Machine, type Engine, type Mode, type FaultSettings, type MunmapLock, type SpfLookup } from './machine.js';
import { checkInvariants, type Violation } from './checker.js';
import { strategies, strategyByName } from './strategies.js';
import { UsageError } from './types.js';
import { layoutConsts } from './wasm.js';

export type StressMix = 'random' | 'munmap-race';
export const STRESS_MIXES: readonly StressMix[] = ['random', 'munmap-race'];

/** relative weights of the random mix's operations */
export interface StressWeights {
  read: number; write: number; mmap: number; munmap: number; mprotect: number; madvise: number; mmapFile: number;
  /** userfaultfd (2 CPUs or more: the last CPU is then the handler and takes no part in the mix) */
  uffdRegister: number; uffdUnregister: number; uffdWriteprotect: number;
}
export const DEFAULT_WEIGHTS: StressWeights = {
  read: 30, write: 40, mmap: 8, munmap: 8, mprotect: 8, madvise: 6, mmapFile: 4, uffdRegister: 3, uffdUnregister: 2, uffdWriteprotect: 2,
};

/** planted bugs by name (assembly/layout.ts BUG_*) */
export const BUGS: Record<string, number> = { 'skip-vma-changed': 1, 'skip-shootdown': 2 };

export interface StressOptions {
  cpus: number;
  /** name (mmap_lock, spf, pervma) or id (0, 1, 2) */
  strategy: string | number;
  seed: number;
  /** operations per CPU (random mix); slots unmapped by CPU 0 (munmap-race: the others fault until they are gone) */
  ops: number;
  mode?: Mode;
  /** default: 'threads' in parallel mode (real host races between every pair of CPUs), 'mn' in deterministic mode */
  engine?: Engine;
  /** host workers of the mn engine (default: host cores; deterministic: 1) */
  workers?: number;
  mix?: StressMix;
  weights?: Partial<StressWeights>;
  /** region size in pages (random mix; default 1024: two PTE tables) */
  pages?: number;
  /** munmap-race: pages per slot (default 512: one PTE table each) */
  slotPages?: number;
  /** NUMA-balancing scan period in virtual cycles (0 = off) */
  numaPeriod?: number;
  zapFlushUnderPtl?: boolean;
  /** munmap's mmap_lock (default: the strategy's own, src/strategies.ts) */
  munmap?: MunmapLock;
  /** MTE tag-storage pool units (0/absent: none); with a pool, a quarter of the random mix's mprotects add PROT_MTE */
  tagStorage?: number;
  /** SPF's get_vma() (default v11) */
  spfLookup?: SpfLookup;
  /** planted bug (BUG_* value or a BUGS name) */
  bug?: number | string;
  quantum?: number;
  watchdogMs?: number;
  /** random mix: stop every this many operations per CPU and run the checker (0: only at the end; default ops / 8) */
  checkEvery?: number;
  /** any other fault-path settings (THP, SPF retry policy, batch sizes...); the options above win */
  settings?: Partial<FaultSettings>;
  /** test hooks (FLAG_*; the test core only), e.g. FLAG_STEAL_EAGER */
  flags?: number;
  /** work stealing between the mn engine's workers (MachineConfig.steal) */
  steal?: boolean;
}

/** what the CPUs did (summed over CPUs) and what the core counted */
export interface StressStats {
  ops: number;
  reads: number;
  writes: number;
  /** page faults taken (the core's `fault` counter) */
  faults: number;
  sigsegv: number;
  sigbus: number;
  oom: number;
  retry: number;
  mmap: number;
  mmapFile: number;
  mmapFail: number;
  munmap: number;
  munmapFail: number;
  mprotect: number;
  mprotectFail: number;
  madvise: number;
  madviseFail: number;
  numaScans: number;
  uffdRegister: number;
  uffdRegisterFail: number;
  uffdUnregister: number;
  uffdWriteprotect: number;
  uffdWriteprotectFail: number;
  /** userfaults the handler CPU resolved (read and answered) */
  uffdResolved: number;
  /** every core counter, summed over CPUs (decimal strings: u64) */
  counters: Record<string, string>;
  /** final virtual clock of each CPU (decimal strings) */
  clocks: string[];
}

export interface StressResult {
  ok: boolean;
  violations: Violation[];
  stats: StressStats;
  seed: number;
  strategy: string;
  cpus: number;
  mode: Mode;
  /** the run did not complete (crash, deadlock): also reported as a run-failed violation */
  error?: string;
  /** re-run this configuration deterministically */
  replay: string;
  wallMs: number;
}

const REGION_BASE = 0x40000000n; // 1 GiB: 2 MiB aligned, far from the mmap hint's top-down area

function strategyName(s: string | number): string {
  if (typeof s === 'number') {
    const st = strategies.find((x) => x.id === s);
    if (!st) throw new UsageError(`unknown strategy id ${s} (${strategies.map((x) => `${x.id} ${x.name}`).join(', ')})`);
    return st.name;
  }
  if (/^\d+$/.test(s)) return strategyName(Number(s));
  return strategyByName(s).name;
}

function bugValue(b: number | string | undefined): number {
  if (b === undefined) return 0;
  if (typeof b === 'number') return b;
  if (/^\d+$/.test(b)) return Number(b);
  const v = BUGS[b];
  if (v === undefined) throw new UsageError(`unknown planted bug "${b}" (${Object.keys(BUGS).join(', ')})`);
  return v;
}

/** the command line that re-runs `o` in deterministic mode */
export function replayCommand(o: StressOptions): string {
  const parts = ['faultline stress', `--cpus ${o.cpus}`, `--strategy ${strategyName(o.strategy)}`, `--seed ${o.seed}`,
    '--mode deterministic', `--ops ${o.ops}`];
  if ((o.mix ?? 'random') !== 'random') parts.push(`--mix ${o.mix}`);
  if (o.pages !== undefined) parts.push(`--pages ${o.pages}`);
  if (o.numaPeriod) parts.push(`--numa-period ${o.numaPeriod}`);
  if (o.zapFlushUnderPtl) parts.push('--zap-flush-under-ptl');
  if (o.munmap) parts.push(`--munmap ${o.munmap}`);
  if (o.tagStorage) parts.push(`--tag-storage ${o.tagStorage}`);
  if (o.spfLookup) parts.push(`--spf-lookup ${o.spfLookup}`);
  if (o.checkEvery !== undefined) parts.push(`--check-every ${o.checkEvery}`);
  const bug = bugValue(o.bug);
  if (bug) parts.push(`--bug ${Object.keys(BUGS).find((k) => BUGS[k] === bug) ?? bug}`);
  return parts.join(' ');
}

const int = (what: string, v: number, lo: number, hi: number) => {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new UsageError(`${what} must be an integer from ${lo} to ${hi} (got ${v})`);
  return v;
};

/** Run one stress configuration, then check every invariant. */
export async function runStress(o: StressOptions): Promise<StressResult> {
  return (await stressMachine(o)).result;
}

/** runStress, also handing back the machine (quiescent unless the run failed) for inspection. */
export async function stressMachine(o: StressOptions): Promise<{ result: StressResult; machine: Machine }> {
  const strategy = strategyName(o.strategy);
  const mix = o.mix ?? 'random';
  if (!STRESS_MIXES.includes(mix)) throw new UsageError(`unknown stress mix "${mix}" (${STRESS_MIXES.join(', ')})`);
  int('ops', o.ops, 0, 10_000_000);
  int('seed', o.seed, 0, Number.MAX_SAFE_INTEGER);
  const pages = int('pages', o.pages ?? 1024, 1, 65536);
  const slots = mix === 'random' ? 0 : int('ops', o.ops, 1, 16384);
  const slotPages = int('slotPages', o.slotPages ?? 512, 1, 4096);
  const w = { ...DEFAULT_WEIGHTS, ...(o.weights ?? {}) };
  const weights = [w.read, w.write, w.mmap, w.munmap, w.mprotect, w.madvise, w.mmapFile];
  for (const x of weights) int('weights', x, 0, 1_000_000);
  const uffdW = [w.uffdRegister, w.uffdUnregister, w.uffdWriteprotect];
  for (const x of uffdW) int('weights', x, 0, 1_000_000);
  // the last CPU is the userfaultfd handler when the mix has userfaultfd operations (and another CPU runs the mix)
  const handler = mix === 'random' && o.cpus >= 2 && uffdW.some((x) => x > 0) ? o.cpus - 1 : -1;
  const settings: Partial<FaultSettings> = { ...(o.settings ?? {}), numaPeriod: o.numaPeriod ?? 0, zapFlushUnderPtl: !!o.zapFlushUnderPtl, bug: bugValue(o.bug),
    ...(o.munmap ? { munmap: o.munmap } : {}), ...(o.spfLookup ? { spfLookup: o.spfLookup } : {}), tagStorage: int('tagStorage', o.tagStorage ?? 0, 0, 1 << 24) };
  // page tables for the region and the pcp lists of every CPU, with room to spare
  // pages mapped at once: the region, or one slot of the munmap race
  const livePages = mix === 'random' ? pages : slotPages;
  const m = new Machine({
    cpus: o.cpus,
    mode: o.mode ?? 'parallel',
    engine: o.engine ?? ((o.mode ?? 'parallel') === 'parallel' ? 'threads' : 'mn'),
    ...(o.workers !== undefined ? { workers: Math.min(o.workers, o.cpus) } : {}),
    seed: o.seed,
    strategy: strategyByName(strategy).id,
    frames: 4096 + o.cpus * 512 + 3 * livePages, // mapped pages, page cache, free lists
    files: mix === 'random' ? 1 : 0,
    filePages: mix === 'random' ? pages : 0,
    ptPages: 64 + Math.ceil(livePages / 512) * 2,
    vmas: 2048,
    // the munmap race wants real concurrency, not virtual-time fidelity: a quantum
    // this long never parks a CPU at the barrier, so the host preempts faulting
    // threads at arbitrary points (inside the windows a race needs)
    quantum: o.quantum ?? (mix === 'random' ? 10_000 : 100_000_000),
    watchdogMs: o.watchdogMs ?? 20_000,
    // stress_run's per-CPU counters (STRESS_NCOUNTERS u32s): 64 bytes held 16 of its 22, and the rest ran past
    // the CPU's block (into the alignment slack, or for the last CPU into frame 0, the zero page, once the slack shrank)
    scratchBytes: 4 * layoutConsts().STRESS_NCOUNTERS,
    settings,
    ...(o.flags ? { flags: o.flags } : {}),
    ...(o.steal ? { steal: true } : {}),
  });
  const C = m.C;
  const sync = m.hostAlloc(4);
  const cursor = m.hostAlloc(4);
  const progress = m.hostAlloc(4);
  const next = m.hostAlloc(4);
  // checkpoints: CPU 0 posts a request number at ckpt, we check and answer at ckpt + 4
  const ckpt = m.hostAlloc(8);
  const running = m.hostAlloc(4);
  if (handler >= 0) {
    m.host.core.cpu_bind_setup(0);
    if ((m.host.core.sys_userfaultfd(0, 0) as number) !== 0) throw new Error('stress: userfaultfd() did not give context 0');
  }
  m.setU32(running, handler >= 0 ? o.cpus - 1 : 0);
  const checkEvery = mix === 'random' ? int('checkEvery', o.checkEvery ?? Math.max(10, Math.ceil(o.ops / 8)), 0, 10_000_000) : 0;
  // struct stress_mix / struct stress_race (assembly/stress.ts): what every CPU of the run reads
  const block = m.hostAlloc(Math.max(C.SMIX_SIZE, C.SRACE_SIZE));
  const put = (fields: [string, number][]) => { for (const [k, v] of fields) m.setU32(block + C[k], v); };
  if (mix === 'random') {
    put([['SMIX_W_READ', w.read], ['SMIX_W_WRITE', w.write], ['SMIX_W_MMAP', w.mmap], ['SMIX_W_MUNMAP', w.munmap],
      ['SMIX_W_MPROTECT', w.mprotect], ['SMIX_W_MADVISE', w.madvise], ['SMIX_W_MMAP_FILE', w.mmapFile], ['SMIX_MAX_LEN', 16],
      ['SMIX_CHECK_EVERY', checkEvery], ['SMIX_CKPT', ckpt], ['SMIX_SYNC', sync]]);
  } else {
    put([['SRACE_NSLOTS', slots], ['SRACE_SLOT_PAGES', slotPages], ['SRACE_OPS', slots * slotPages], ['SRACE_MIN_WRITES', Math.max(1, slotPages >> 3)],
      ['SRACE_SYNC', sync], ['SRACE_CURSOR', cursor], ['SRACE_NEXT', next], ['SRACE_PROGRESS', progress]]);
  }
  const early: Violation[] = [];
  let answered = 0;
  const i32 = new Int32Array(m.memory.buffer);
  const poll = setInterval(() => {
    const req = Atomics.load(i32, ckpt >>> 2);
    if (req === answered) return;
    // every CPU is between two operations (at a rendezvous): the machine is quiescent
    const at = `at the checkpoint after ${req * checkEvery} operations per CPU`;
    try {
      for (const v of checkInvariants(m)) early.push({ ...v, message: `${at}: ${v.message}` });
    } catch (e) {
      early.push({ kind: 'run-failed', message: `${at}: the checker itself failed: ${e instanceof Error ? e.message : String(e)}` });
    }
    answered = req; // answer whatever happened: CPU 0 waits for it
    Atomics.store(i32, (ckpt + 4) >>> 2, req);
    Atomics.notify(i32, (ckpt + 4) >>> 2);
  }, 1);
  const run = await m.run((cpu) => {
    const out = m.scratch(cpu);
    if (mix === 'random') {
      if (cpu === handler) return { program: 'uffdHandler', args: { ctx: 0, mode: 2, msgCycles: 0, running } };
      return { program: 'stress', args: { base: Number(REGION_BASE), pages, ops: o.ops, mix: block, out,
        uffd: handler >= 0 ? uffdW : [0, 0, 0], handler, running } };
    }
    return { program: 'stressMunmapRace', args: { base: Number(REGION_BASE), race: block, out } };
  }).finally(() => clearInterval(poll));
  // per-CPU counters (stress_run's STRESS_* words), read back from scratch
  const sum = (k: string) => [...Array(o.cpus).keys()].reduce((s, cpu) => s + m.u32(m.scratch(cpu) + 4 * C[`STRESS_${k}`]), 0);
  const core = m.stats();
  const stats: StressStats = {
    ops: sum('OPS'), reads: sum('READS'), writes: sum('WRITES'), faults: Number(core.fault),
    sigsegv: sum('SIGSEGV'), sigbus: sum('SIGBUS'), oom: sum('OOM'), retry: sum('RETRY'),
    mmap: sum('MMAP'), mmapFile: sum('MMAP_FILE'), mmapFail: sum('MMAP_FAIL'), munmap: sum('MUNMAP'), munmapFail: sum('MUNMAP_FAIL'),
    mprotect: sum('MPROTECT'), mprotectFail: sum('MPROTECT_FAIL'), madvise: sum('MADVISE'), madviseFail: sum('MADVISE_FAIL'),
    numaScans: sum('NUMA_SCANS'),
    uffdRegister: sum('UFFD_REGISTER'), uffdRegisterFail: sum('UFFD_REGISTER_FAIL'), uffdUnregister: sum('UFFD_UNREGISTER'),
    uffdWriteprotect: sum('UFFD_WRITEPROTECT'), uffdWriteprotectFail: sum('UFFD_WRITEPROTECT_FAIL'),
    uffdResolved: handler >= 0 ? ((run.cpus[handler]?.value as { resolved?: number } | undefined)?.resolved ?? 0) : 0,
    counters: Object.fromEntries(Object.entries(core).map(([k, v]) => [k, v.toString()])),
    clocks: run.clocks.map(String),
  };
  // a run that stopped part-way is checked too (for clues: a leaked page table
  // names the victim of a use-after-free the core trapped on), but CPUs stopped
  // mid-operation legitimately hold locks and batches: the failure comes first
  // (the run's error: one line, then every CPU's state when it stopped: formatStressFailure prints them all)
  const [why, ...cpuLines] = (run.error ?? 'unknown error').split('\n');
  const violations: Violation[] = run.ok ? [...early, ...checkInvariants(m)] : [
    { kind: 'run-failed', message: [`the stress run did not complete: ${why} (the violations after this one were read from the stopped machine and may include in-flight state)`, ...cpuLines].join('\n') },
    ...early,
    ...checkInvariants(m, { tlb: false }),
  ];
  const result: StressResult = {
    ok: run.ok && violations.length === 0,
    violations,
    stats,
    seed: o.seed,
    strategy,
    cpus: o.cpus,
    mode: o.mode ?? 'parallel',
    ...(run.ok ? {} : { error: run.error ?? 'run failed' }),
    replay: replayCommand(o),
    wallMs: run.wallMs,
  };
  return { result, machine: m };
}

// ---- reporting (the CLI's `stress` command) ----

const HEADER = ['strategy', 'cpus', 'seed', 'ops', 'faults', 'sigsegv', 'violations', 'wall ms'];

/** The table of a set of stress runs: one row per run. */
export function formatStressTable(results: StressResult[]): string {
  const rows = results.map((r) => [r.strategy, String(r.cpus), String(r.seed), String(r.stats.ops), String(r.stats.faults),
    String(r.stats.sigsegv), r.ok ? '0' : (r.error ? `${r.violations.length} (run failed)` : String(r.violations.length)), String(Math.round(r.wallMs))]);
  const widths = HEADER.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [fmt(HEADER), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n') + '\n';
}

/** What a failed run prints: its violations (the first `max`), the seed and the replay command. */
export function formatStressFailure(r: StressResult, max = 10): string {
  const lines = [`stress FAILED: ${r.strategy}, ${r.cpus} CPU(s), seed ${r.seed}: ${r.violations.length} violation(s)`];
  for (const v of r.violations.slice(0, max)) {
    const [first, ...rest] = v.message.split('\n');
    lines.push(`  [${v.kind}] ${first}`);
    // a run that did not complete: every CPU's state when it stopped (the wait-for graph)
    if (v.kind === 'run-failed') for (const l of rest) lines.push(`    ${l.trim()}`);
  }
  if (r.violations.length > max) lines.push(`  ... and ${r.violations.length - max} more`);
  lines.push(`  seed: ${r.seed}`, `  replay: ${r.replay}`);
  if (r.mode === 'parallel') lines.push('  (found in parallel mode: the replay re-runs this configuration deterministically; a race that needed this host\'s interleaving may not recur)');
  return lines.join('\n') + '\n';
}
