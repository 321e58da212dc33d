#!/usr/bin/env node
// The faultline command line: run one point, sweep many, list what exists;
// plan a sweep, run its points anywhere (a Slurm job array) and merge them (src/cluster/).
// A thin client of the API (src/index.ts -> src/api.ts): it parses options,
// calls the API and writes what it returns; nothing runs any other way.
// Bad input -> one line "faultline: <problem>" on stderr, exit code 2.
// A sweep with failed points writes what finished, names the failures on
// stderr and exits 1.

import { Command, CommanderError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';
import { parseCount, parseCounts, parseNames, prepareOutDir, checkOutFile, isFsError, describeFsError } from './args.js';
import {
  sweep, expandSweep, checkPoints, DEFAULT_SWEEP, POINT_DEFAULTS, DEFAULT_LOOPS, loopWarning, listWorkloads, listStrategies, listProfiles, listKernels, loadProfile, maxCpus,
  ProfileError, UsageError, formatTable, formatDetails, version,
  runStress, formatStressTable, formatStressFailure, STRESS_MIXES, BUGS, runCalibration, beyond,
  SPEC_FLAGS, MODES, ENGINES, MUNMAP_LOCKS, SPF_LOOKUPS,
  type PointSpec, type PointResult, type SweepProgress, type Engine, type Mode, type MunmapLock, type SpfLookup, type PervmaKernel, type StressMix, type StressResult,
  type WorkloadName, type StrategyName,
} from './index.js';
import { firstLine } from './report.js';
import { formatLockStat, formatOtherWork } from './obs.js';
import { writeFlame } from './node/flame.js';
import { writeTrace } from './node/files.js';
import type { ObserveConfig } from './machine.js';
import { layoutConsts } from './wasm.js';
import { writeOutputs, formatFailures } from './outputs.js';
import { planCommand, pointCommand, mergeCommand, slurmCommand, type PointOpts, type MergeOpts } from './cluster/commands.js';
import { SLURM_MAX_ARRAY_SIZE } from './cluster/slurm.js';
import { serve, checkWebRoot } from './node/serve.js';
import { readCalibration, formatValidateTable, writeValidateOutputs, SHIPPED_SET } from './validate.js';

// ---------------------------------------------------------------------------
// Options shared by run and sweep

interface CommonOpts { profile?: string; mode: string; seed: string; quantum: string; vcycles?: string; loops?: string; watchdogMs?: string; engine: string; workers?: string; munmap?: string; spfLookup?: string; kernel?: string }

const ENGINE_HELP = 'mn: many emulated CPUs per host worker as coroutines (default); threads: one host thread per CPU (parallel mode only)';
const WORKERS_HELP = 'host workers of the mn engine (default: host cores, at most the CPU count; deterministic mode: 1)';
const SPF_LOOKUP_HELP = 'spf strategy: how get_vma() finds the VMA: v11 read_lock(mm_rb_lock) + __find_vma (default) or v12 find_vma_rcu() (seqlock under RCU)';
const KERNELS = listKernels();
const KERNEL_HELP = `pervma strategy: the Linux release whose per-VMA locks it follows (${KERNELS.map((k) => k.release).join(', ')}; default ${KERNELS.find((k) => k.default)?.release}; see \`faultline list\`)`;
const MUNMAP_HELP = 'munmap\'s mmap_lock: downgrade (detach the VMAs, zap under the read lock: Linux 4.20+) or write (all under the write lock: the kernels SPF was measured on); default: the strategy\'s own (see `faultline list`)';

/** the options of a point's common fields: one per SPEC_FLAGS entry (the table the API derives command lines from) */
function addCommonOptions(cmd: Command, modeDefault: Mode = POINT_DEFAULTS.mode): Command {
  const F = SPEC_FLAGS;
  return cmd
    .option(`${F.profile} <name|file>`, `cost profile: a shipped name (see \`faultline list\`) or a path to a profile JSON file (default: ${POINT_DEFAULTS.profile}; sweep: ${DEFAULT_SWEEP.profile})`)
    .addOption(new Option(`${F.mode} <mode>`, 'parallel (fast) or deterministic (bit-identical for a seed; a sweep\'s default: the points compare)').choices(MODES).default(modeDefault))
    .option(`${F.seed} <n>`, 'seed of the CPUs\' random streams', String(POINT_DEFAULTS.seed))
    .option(`${F.quantum} <cycles>`, 'lax-barrier quantum in virtual cycles (>= 100)', String(POINT_DEFAULTS.quantum))
    .option(`${F.vcycles} <cycles>`, 'per-CPU virtual-cycle budget; sets the amount of work (see docs/cli.md for each workload)')
    .option(`${F.loops} <n>`, `whole loops of its benchmark every CPU completes at least (fault workloads: the steady state; 0: the budget alone; default ${DEFAULT_LOOPS}, or 0 when --vcycles is given)`)
    .option(`${F.watchdogMs} <ms>`, 'host milliseconds without progress before the watchdog stops a run as a deadlock (default 5000)')
    .addOption(new Option(`${F.engine} <engine>`, ENGINE_HELP).choices(ENGINES).default('mn'))
    .option(`${F.workers} <n>`, WORKERS_HELP)
    .addOption(new Option(`${F.munmap} <lock>`, MUNMAP_HELP).choices(MUNMAP_LOCKS))
    .addOption(new Option(`${F.spfLookup} <version>`, SPF_LOOKUP_HELP).choices(SPF_LOOKUPS))
    .addOption(new Option(`${F.kernel} <release>`, KERNEL_HELP).choices(KERNELS.map((k) => k.release)));
}

function commonSpec(o: CommonOpts, defaultProfile: string = POINT_DEFAULTS.profile): Omit<PointSpec, 'workload' | 'strategy' | 'cpus'> {
  return {
    profile: o.profile ?? defaultProfile,
    mode: o.mode as Mode,
    seed: parseCount('--seed', o.seed),
    quantum: parseCount('--quantum', o.quantum),
    ...(o.vcycles !== undefined ? { vcycles: parseCount('--vcycles', o.vcycles) } : {}),
    ...(o.loops !== undefined ? { loops: parseCount('--loops', o.loops) } : {}),
    ...(o.watchdogMs !== undefined ? { watchdogMs: parseCount('--watchdog-ms', o.watchdogMs) } : {}),
    engine: o.engine as Engine,
    ...(o.workers !== undefined ? { workers: parseWorkers(o.workers) } : {}),
    ...(o.munmap !== undefined ? { munmap: o.munmap as MunmapLock } : {}),
    ...(o.spfLookup !== undefined ? { spfLookup: o.spfLookup as SpfLookup } : {}),
    ...(o.kernel !== undefined ? { kernel: o.kernel as PervmaKernel } : {}),
  };
}

function parseWorkers(text: string): number {
  const n = parseCount('--workers', text);
  if (n < 1) throw new UsageError(`--workers must be at least 1 (got ${n})`);
  return n;
}

// ---------------------------------------------------------------------------
// Running a plan: the one path for `run` and `sweep`

interface Plan {
  specs: PointSpec[];
  outDir?: string;
  jsonFile?: string;
  quiet: boolean;
  command: string[];
  /** run --trace FILE, --flame DIR */
  traceFile?: string;
  flameDir?: string;
}

function progressBar(plan: Plan): (p: SweepProgress) => void {
  if (plan.quiet || plan.specs.length < 2 || !process.stderr.isTTY) return () => {};
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: 'sweep [{bar}] {value}/{total} {point} | {duration_formatted} elapsed, eta {eta_formatted}',
    hideCursor: true,
    etaBuffer: 4,
  }, cliProgress.Presets.shades_classic);
  bar.start(plan.specs.length, 0, { point: '' });
  return (p) => {
    const s = p.running;
    bar.update(p.done, { point: s ? `${s.workload} ${s.strategy} ${s.cpus} CPU(s)` : 'done' });
    if (!s) bar.stop();
  };
}

/** Check everything (once: the points are resolved here), run the points, write and print the results; returns the exit code. */
async function execute(plan: Plan): Promise<number> {
  const points = checkPoints(plan.specs);
  const outDir = plan.outDir !== undefined ? prepareOutDir(plan.outDir) : undefined;
  const jsonFile = plan.jsonFile !== undefined ? checkOutFile('--json', plan.jsonFile) : undefined;
  const traceFile = plan.traceFile !== undefined ? checkOutFile('--trace', plan.traceFile) : undefined;
  const flameDir = plan.flameDir !== undefined ? prepareOutDir(plan.flameDir) : undefined;
  const bar = progressBar(plan);
  const t0 = performance.now();
  const { points: results, failed, document } = await sweep(points, { command: plan.command, onProgress: (e) => { if (e.type === 'point') bar(e); } });
  // the timeline goes to its own file, not into the results
  const observed: string[] = [];
  const unwritten: string[] = [];
  for (const p of results) {
    // a timeline that cannot be written costs the timeline, not the results (they are printed and written below)
    if (p.trace && traceFile) {
      try { writeTrace(traceFile, p.trace); observed.push(traceFile); } catch (e) { unwritten.push(`faultline: could not write the timeline to ${traceFile}: ${(e as Error).message}`); }
    }
    delete p.trace;
    if (p.flame && flameDir) observed.push(...await writeFlame(flameDir, p));
  }
  const written = [...observed, ...await writeOutputs(document, results, { outDir, jsonFile })];
  if (!plan.quiet) {
    process.stdout.write(formatTable(results));
    if (results.length === 1 && results[0].ok) process.stdout.write('\n' + formatDetails(results[0]));
    if (results.length === 1 && results[0].lockStat) process.stdout.write('\n' + formatLockStat(results[0].lockStat, results[0].ghz));
    if (results.length === 1 && results[0].flame) process.stdout.write('\n' + formatOtherWork(results[0]));
    if (written.length) process.stdout.write(`\nwrote ${written.join(', ')}\n`);
    // the emulator's own time (host seconds), never mixed with the virtual results above
    if (results.length > 1) process.stdout.write(`${results.length} points in ${((performance.now() - t0) / 1000).toFixed(1)} s of host time\n`);
  }
  for (const p of results) { const w = loopWarning(p); if (w) process.stderr.write(w + '\n'); }
  if (failed.length) process.stderr.write(formatFailures(results, failed));
  for (const u of unwritten) process.stderr.write(u + '\n');
  return failed.length || unwritten.length ? 1 : 0;
}

// ---------------------------------------------------------------------------
// Commands

interface RunOpts extends CommonOpts { workload: WorkloadName; strategy: StrategyName; cpus: string; json?: string; lockStat?: boolean;
  trace?: string; traceWindow?: string; traceEvents?: string; flame?: string }
interface SweepOpts extends CommonOpts { workload?: string; strategy?: string; cpus?: string; out: string; quiet?: boolean; default?: boolean; plan?: string; flame?: string }

function runPlan(o: RunOpts, command: string[]): Plan {
  const spec: PointSpec = { ...commonSpec(o), workload: o.workload, strategy: o.strategy, cpus: parseCount('--cpus', o.cpus) };
  const observe: ObserveConfig = {};
  if (o.lockStat) observe.lockStat = true;
  if ((o.traceWindow !== undefined || o.traceEvents !== undefined) && o.trace === undefined) throw new UsageError('--trace-window and --trace-events need --trace FILE');
  if (o.trace !== undefined) {
    observe.trace = {
      ...(o.traceWindow !== undefined ? parseWindow(o.traceWindow) : {}),
      ...(o.traceEvents !== undefined ? { maxEventsPerCpu: parseTraceEvents(o.traceEvents) } : {}),
    };
  }
  if (o.flame !== undefined) observe.flame = {};
  if (Object.keys(observe).length > 0) spec.observe = observe;
  return { specs: [spec], jsonFile: o.json, quiet: false, command, traceFile: o.trace, flameDir: o.flame };
}

function parseTraceEvents(text: string): number {
  const n = parseCount('--trace-events', text);
  if (n < 1 || n > 1 << 24) throw new UsageError(`--trace-events must be from 1 to ${1 << 24} events per CPU (got ${n})`);
  return n;
}

/** "START:END" in virtual cycles (either may be empty: the run's start / end) */
function parseWindow(text: string): { start?: number; end?: number } {
  const m = /^\s*(\d*)\s*:\s*(\d*)\s*$/.exec(text);
  if (!m) throw new UsageError(`--trace-window: "${text}" is not START:END in virtual cycles (e.g. 1000000:2000000, or 1000000: for the rest of the run)`);
  const w: { start?: number; end?: number } = {};
  if (m[1] !== '') w.start = parseCount('--trace-window', m[1]);
  if (m[2] !== '') w.end = parseCount('--trace-window', m[2]);
  if (w.end !== undefined && w.end <= (w.start ?? 0)) throw new UsageError(`--trace-window: END (${w.end}) must be above START (${w.start ?? 0})`);
  return w;
}

function sweepPlan(o: SweepOpts, command: string[]): Plan {
  if (!o.workload && !o.default) throw new UsageError('sweep needs --workload <list> (or --default for the default sweep)');
  // names are checked with the points (checkPoints): one message for a CLI, a plan and the API
  const axes = {
    workloads: o.workload ? parseNames('--workload', o.workload) as WorkloadName[] : DEFAULT_SWEEP.workloads,
    strategies: o.strategy ? parseNames('--strategy', o.strategy) as StrategyName[] : DEFAULT_SWEEP.strategies,
    cpus: o.cpus ? parseCounts('--cpus', o.cpus) : DEFAULT_SWEEP.cpus,
  };
  const specs = expandSweep(axes, commonSpec(o, DEFAULT_SWEEP.profile));
  if (o.flame !== undefined) {
    // every point records its flame graph (the observe core): the CSV and the breakdown plot split "other work" by function
    if (o.plan !== undefined) throw new UsageError('--flame records while the sweep runs; a plan (--plan) stores no recording: run the sweep without --plan');
    for (const sp of specs) sp.observe = { flame: {} };
  }
  return { specs, outDir: o.out, quiet: !!o.quiet, command, flameDir: o.flame };
}

interface StressOpts { cpus: string; strategy: string; seeds: string; seed?: string; ops: string; mode: string; engine?: string; workers?: string; mix: string; pages?: string; numaPeriod?: string; zapFlushUnderPtl?: boolean; munmap?: string; tagStorage?: string; checkEvery?: string; spfLookup?: string; bug?: string }

/** `faultline stress`: every strategy x seed asked, then the invariant checker; 1 if any run failed. */
interface ValidateOpts { set?: string; out: string; check?: string; host?: boolean; profile?: string; quiet?: boolean }

const EXAMPLES_VALIDATE = `
Examples:
  faultline validate                          the shipped calibration set (calibration/published.json)
  faultline validate --set mine.json --check 25
  faultline validate --host                   also compare with this host's kernel
  faultline calibrate --host && faultline validate --host    ... on a profile measured on this host`;

/** `validate`: a measurement, exit 0 whatever the error unless --check PCT is given */
async function validateCommand(o: ValidateOpts): Promise<number> {
  const check = o.check === undefined ? undefined : parsePercent(o.check);
  const file = o.set ?? SHIPPED_SET;
  const cal = readCalibration(file);
  const dir = prepareOutDir(o.out);
  const tty = !o.quiet && process.stderr.isTTY;
  const res = await runCalibration(cal, file, (p) => {
    if (tty) process.stderr.write(`\r\x1b[Kvalidate: ${p.done}/${p.total}${p.running ? ` ${p.running.workload} ${p.running.strategy} ${p.running.cpus} CPUs` : ''}`);
  });
  if (tty) process.stderr.write('\r\x1b[K');
  process.stdout.write(formatValidateTable(res, check));
  let code = 0;
  if (o.host) {
    const { runHostValidation, formatHostTable } = await import('./validate-host.js');
    const h = await runHostValidation(join(dir, 'host'), o.profile !== undefined ? { profile: o.profile } : {});
    process.stdout.write('\n' + formatHostTable(h));
    res.host = h;
    if (check !== undefined && h.rows.some((r) => r.error === null || Math.abs(r.error) * 100 > check)) code = 1;
  }
  const files = await writeValidateOutputs(dir, res, commandLine());
  process.stdout.write(`\nwrote ${files.map((f) => join(dir, f)).join(', ')}\n`);
  if (check !== undefined) {
    const off = beyond(res, check);
    if (off.length > 0) {
      process.stderr.write(`faultline: ${off.length} ratio(s) beyond ${check}%: ${off.map((r) => r.label).join('; ')}\n`);
      code = 1;
    }
  }
  return code;
}

function parsePercent(text: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v < 0) throw new UsageError(`--check must be a percentage >= 0 (got "${text}")`);
  return v;
}

async function stressCommand(o: StressOpts): Promise<number> {
  const known = listStrategies().map((s) => s.name);
  const names = o.strategy === 'all' ? known : parseNames('--strategy', o.strategy);
  for (const n of names) if (!known.includes(n)) throw new UsageError(`unknown strategy "${n}"; available strategies: ${known.join(', ')}`);
  const seeds = o.seed !== undefined ? [parseCount('--seed', o.seed)] : parseCounts('--seeds', o.seeds);
  const base = {
    cpus: parseCount('--cpus', o.cpus), ops: parseCount('--ops', o.ops), mode: o.mode as Mode, mix: o.mix as StressMix,
    ...(o.engine !== undefined ? { engine: o.engine as Engine } : {}),
    ...(o.workers !== undefined ? { workers: parseWorkers(o.workers) } : {}),
    ...(o.pages !== undefined ? { pages: parseCount('--pages', o.pages) } : {}),
    ...(o.numaPeriod !== undefined ? { numaPeriod: parseCount('--numa-period', o.numaPeriod) } : {}),
    ...(o.tagStorage !== undefined ? { tagStorage: parseCount('--tag-storage', o.tagStorage) } : {}),
    ...(o.checkEvery !== undefined ? { checkEvery: parseCount('--check-every', o.checkEvery) } : {}),
    zapFlushUnderPtl: !!o.zapFlushUnderPtl, bug: o.bug,
    ...(o.munmap !== undefined ? { munmap: o.munmap as MunmapLock } : {}),
    ...(o.spfLookup !== undefined ? { spfLookup: o.spfLookup as SpfLookup } : {}),
  };
  const results: StressResult[] = [];
  for (const strategy of names) for (const seed of seeds) results.push(await runStress({ ...base, strategy, seed }));
  process.stdout.write(formatStressTable(results));
  const failed = results.filter((r) => !r.ok);
  for (const r of failed) process.stderr.write(formatStressFailure(r));
  return failed.length ? 1 : 0;
}

const EXAMPLES_STRESS = `
Examples:
  faultline stress --cpus 16 --seeds 1,2,3
  faultline stress --cpus 8 --strategy spf --seed 7 --mode deterministic --ops 300
  faultline stress --cpus 16 --strategy spf --mix munmap-race --ops 1024 --bug skip-vma-changed   # must fail`;

function listText(): string {
  const ws = listWorkloads();
  const strategies = listStrategies();
  const pad = (s: string, n: number) => s.padEnd(n);
  const wn = Math.max(...ws.map((w) => w.name.length));
  const lines = ['workloads (--workload):'];
  for (const w of ws) {
    lines.push(`  ${pad(w.name, wn)}  ${w.description} [${w.opsUnit}${w.usesStrategy ? '' : '; ignores --strategy'}]`);
    if (w.usesStrategy) lines.push(`  ${pad('', wn)}    timed: ${w.timed ?? 'the whole run'}; threads: ${w.placement === 'spread'
      ? 'left to the scheduler (idle cores first, sockets level, SMT siblings last)' : 'bound to cores in order (socket 0 first, SMT siblings last)'}` +
      (w.threadsPerCpu > 1 ? `; ${w.threadsPerCpu} threads per CPU, its default (--cpus 16: ${w.threadsPerCpu * 16} tasks share the 16 CPUs: a guest run queue, CFS; at most ${layoutConsts().MAX_CPUS} tasks)` : ''));
  }
  lines.push('', 'strategies (--strategy):');
  const sn = Math.max(...strategies.map((s) => s.name.length));
  for (const s of strategies) lines.push(`  ${pad(s.name, sn)}  ${s.description}; munmap: ${s.munmapLock}`);
  lines.push(`  (munmap: downgrade = VMAs detached, then zap/shootdown/table freeing under mmap_lock for read, Linux 4.20+;`,
    `   write = all under the write lock, as before 4.20; --munmap overrides)`);
  lines.push('', 'per-VMA lock releases (--kernel, pervma only; the default is the newest):');
  for (const k of KERNELS) lines.push(`  ${pad(k.release, 5)}  ${k.description}${k.default ? ' [default]' : ''}`);
  lines.push('', 'profiles (--profile):');
  const ps = listProfiles();
  const pn = Math.max(...ps.map((p) => p.name.length));
  for (const { name, description } of ps) {
    const p = loadProfile(name);
    const hw = p.topology.sockets * p.topology.coresPerSocket * p.topology.threadsPerCore;
    lines.push(`  ${pad(name, pn)}  ${p.ghz} GHz, ${hw} hardware threads: ${description}`);
  }
  lines.push('', `CPU counts (--cpus): 1 to ${maxCpus()}, and at most the profile's hardware threads`);
  return lines.join('\n') + '\n';
}

const EXAMPLES_RUN = `
Examples:
  faultline run --workload mmap-read --cpus 8
  faultline run --workload spinlock --strategy spf --cpus 16 --mode deterministic --seed 7 --json point.json`;

const EXAMPLES_SWEEP = `
Examples:
  faultline sweep --default --out out
  faultline sweep --workload atomic-shared,mmap-read --strategy mmap_lock,pervma --cpus 1,2,4,8 --out out/quick

Every axis left out comes from the default sweep: workloads ${DEFAULT_SWEEP.workloads.join(',')};
strategies ${DEFAULT_SWEEP.strategies.join(',')}; CPUs ${DEFAULT_SWEEP.cpus.join(',')}. A sweep runs in ${DEFAULT_SWEEP.mode} mode
unless --mode says otherwise (its points compare); points run side by side while their workers fit in the host's cores
and their machines' memory in half the host's.`;

const EXAMPLES_POINT = `
Examples:
  faultline sweep --workload page_fault1 --cpus 1,2,4 --mode deterministic --plan plan.json
  faultline point --plan plan.json --index 0 --out shards`;

const EXAMPLES_MERGE = `
Examples:
  faultline merge --plan plan.json --from shards --out out
  faultline merge --plan plan.json --from shards-a shards-b --out out`;

const EXAMPLES_SLURM = `
Examples:
  faultline slurm --plan plan.json --out shards --partition short --time 30 --array-limit 50 --submit
  faultline merge --plan plan.json --from shards --out out
  faultline slurm --plan plan.json --out shards --submit    # again: only the points without a shard`;

interface SlurmCliOpts { plan: string; out: string; submit?: boolean; retryFailed?: boolean; partition?: string; time?: string; jobName?: string; cpusPerTask?: string; arrayLimit?: string; maxArraySize?: string }

function buildProgram(exit: { code: number }): Command {
  const program = new Command('faultline')
    .description('Cycle-approximate multi-core emulator of the Linux page-fault path: mmap_lock vs SPF vs per-VMA locks')
    .version(version)
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(`faultline: ${str.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim()}\n`) });

  addCommonOptions(program.command('run')
    .description('run one workload under one strategy on N emulated CPUs and print the result')
    .requiredOption('--workload <name>', 'workload (see `faultline list`)')
    .option('--strategy <name>', `fault-path strategy: ${listStrategies().map((s) => s.name).join(', ')}`, 'mmap_lock')
    .requiredOption('--cpus <n>', 'number of emulated CPUs'))
    .option('--json <file>', 'also write the result to this JSON file (docs/results-schema.md)')
    .option('--lock-stat', 'print /proc/lock_stat per lock class (virtual time) and add it to the JSON (lockStat)')
    .option('--trace <file>', 'write the timeline to FILE: Chrome Trace Event JSON (ui.perfetto.dev, chrome://tracing, speedscope), one track per CPU in virtual microseconds')
    .option('--trace-window <start:end>', 'with --trace: only events overlapping [START, END) virtual cycles')
    .option('--trace-events <n>', 'with --trace: events kept per CPU (default 200000); the file counts the rest as dropped')
    .option('--flame <dir>', 'write folded stacks of virtual cycles by kernel function and an SVG flame graph to DIR; print "other work" by function')
    .addHelpText('after', EXAMPLES_RUN)
    .action(async (o: RunOpts) => { exit.code = await execute(runPlan(o, commandLine())); });

  addCommonOptions(program.command('sweep')
    .description('run every combination of workloads x strategies x CPU counts; write results.json, results.csv and SVG plots')
    .option('--workload <list>', 'comma-separated workloads')
    .option('--strategy <list>', 'comma-separated strategies')
    .option('--cpus <list>', 'comma-separated CPU counts, e.g. 1,2,4,8')
    .option('--default', 'the default sweep (for any axis not given)'), DEFAULT_SWEEP.mode)
    .option('--out <dir>', 'output directory (created if missing)', 'out')
    .option('--quiet', 'no progress bar and no table (files and errors only)')
    .option('--plan <file>', 'write the points to this plan file and run nothing (then `faultline point`/`slurm` and `merge`)')
    .option('--flame <dir>', 'record every point\'s flame graph (the observe core; slower): its folded stacks and SVG to DIR, and "other work" split by kernel function in results.csv and the breakdown plots')
    .addHelpText('after', EXAMPLES_SWEEP)
    .action(async (o: SweepOpts) => {
      const plan = sweepPlan(o, commandLine());
      exit.code = o.plan !== undefined ? planCommand(checkPoints(plan.specs), o.plan, plan.command, plan.quiet) : await execute(plan);
    });

  program.command('point')
    .description('run one point of a plan and write its result shard <out>/point-<index>.json (atomically); skipped when a shard matching the plan is there')
    .requiredOption('--plan <file>', 'plan file (`faultline sweep ... --plan FILE`)')
    .requiredOption('--index <i>', 'the point\'s index in the plan (from 0; a Slurm array task passes $SLURM_ARRAY_TASK_ID)')
    .requiredOption('--out <dir>', 'shard directory (created if missing)')
    .option('--force', 'run even when a matching shard is there (and replace it)')
    .option('--quiet', 'no result table')
    .addHelpText('after', EXAMPLES_POINT)
    .action(async (o: PointOpts) => { exit.code = await pointCommand(o, parseCount('--index', o.index), commandLine()); });

  program.command('merge')
    .description('gather the shards of a plan into results.json, results.csv and plots (as a local sweep writes them); names missing and failed points, exit 1 if any')
    .requiredOption('--plan <file>', 'plan file')
    .requiredOption('--from <dir...>', 'shard directories (the first usable shard of each point wins)')
    .requiredOption('--out <dir>', 'output directory (created if missing)')
    .option('--quiet', 'no table')
    .addHelpText('after', EXAMPLES_MERGE)
    .action(async (o: MergeOpts) => { exit.code = await mergeCommand(o, commandLine()); });

  program.command('slurm')
    .description('write an sbatch job-array script over the plan\'s points that have no shard in --out (one point per task); --submit submits it')
    .requiredOption('--plan <file>', 'plan file')
    .requiredOption('--out <dir>', 'shard directory of the tasks (created if missing; the script and logs/ go there too)')
    .option('--partition <name>', 'Slurm partition (default: the cluster\'s)')
    .option('--time <limit>', 'time limit per task, in sbatch --time form (e.g. 30, 1:00:00, 1-0)')
    .option('--cpus-per-task <n>', 'CPUs per task (a parallel-mode point uses as many host workers as it is given)')
    .option('--array-limit <n>', 'at most n tasks of the array at once (--array=...%n)')
    .option('--job-name <name>', 'Slurm job name', 'faultline')
    .option('--max-array-size <n>', `the cluster's MaxArraySize: a plan with more points is split into several arrays (default ${SLURM_MAX_ARRAY_SIZE})`)
    .option('--retry-failed', 'also the points whose shard records a failed run (deadlock, crash); their tasks run with --force')
    .option('--submit', 'submit with sbatch and print the job id and the merge command')
    .addHelpText('after', EXAMPLES_SLURM)
    .action((o: SlurmCliOpts) => {
      const count = (opt: string, v?: string) => (v === undefined ? undefined : parseCount(opt, v));
      exit.code = slurmCommand({
        plan: o.plan, out: o.out, submit: o.submit, retryFailed: o.retryFailed, partition: o.partition, time: o.time, jobName: o.jobName,
        cpusPerTask: count('--cpus-per-task', o.cpusPerTask), arrayLimit: count('--array-limit', o.arrayLimit),
        maxArraySize: count('--max-array-size', o.maxArraySize),
      }, fileURLToPath(import.meta.url));
    });

  program.command('stress')
    .description('randomized stress: faults race mmap/munmap/mprotect/madvise on one region, then every invariant is checked; exit 1 on a violation')
    .option('--cpus <n>', 'number of emulated CPUs', '4')
    .option('--strategy <name|all>', `fault-path strategy (${listStrategies().map((s) => s.name).join(', ')}) or a comma-separated list, or all`, 'all')
    .option('--seeds <list>', 'comma-separated seeds, one run each', '1')
    .option('--seed <n>', 'one seed (instead of --seeds)')
    .option('--ops <n>', 'operations per CPU (munmap-race: slots unmapped)', '500')
    .addOption(new Option('--mode <mode>', 'parallel (real races) or deterministic (replayable)').choices(['parallel', 'deterministic']).default('parallel'))
    .addOption(new Option('--engine <engine>', 'threads: one host thread per CPU, real host races (default in parallel mode); mn: CPUs as coroutines (deterministic mode always)').choices(['mn', 'threads']))
    .option('--workers <n>', 'host workers of the mn engine')
    .addOption(new Option('--mix <mix>', 'random: weighted mix of accesses and mutators; munmap-race: one CPU unmaps while the others fault').choices([...STRESS_MIXES]).default('random'))
    .option('--pages <n>', 'region size in pages (random mix; default 1024)')
    .option('--numa-period <cycles>', 'run the NUMA-balancing scanner every this many virtual cycles')
    .option('--zap-flush-under-ptl', 'zap flushes the TLB before dropping each PTL')
    .addOption(new Option('--munmap <lock>', MUNMAP_HELP).choices(['downgrade', 'write']))
    .option('--tag-storage <units>', 'MTE tag-storage pool (4 KiB-page units); a quarter of the mprotects then add PROT_MTE')
    .addOption(new Option('--spf-lookup <version>', SPF_LOOKUP_HELP).choices(['v11', 'v12']))
    .option('--check-every <n>', 'random mix: run the checker every n operations per CPU as well (0: only at the end; default ops/8)')
    .addOption(new Option('--bug <name>', 'plant a bug, to see the checker catch it').choices(Object.keys(BUGS)))
    .addHelpText('after', EXAMPLES_STRESS)
    .action(async (o: StressOpts) => { exit.code = await stressCommand(o); });

  program.command('serve')
    .description('serve the web page (run sweeps in the browser) on a local static server with COOP/COEP set; Ctrl-C stops it')
    .option('--port <n>', 'TCP port (0: any free port)', '8080')
    .option('--host <addr>', 'address to bind (default: loopback only)', '127.0.0.1')
    .action(async (o: { port: string; host: string }) => {
      const port = parseCount('--port', o.port);
      if (port > 65535) throw new UsageError(`--port must be from 0 to 65535 (got ${port})`);
      const root = checkWebRoot();
      const { url } = await serve({ host: o.host, port, root });
      process.stdout.write(`faultline: serving ${root} at ${url}\n`);
      // keep running until a signal
      await new Promise<never>(() => {});
    });

  program.command('validate')
    .description('run the calibration set (published scaling results) and print emulated vs published ratios with their errors; writes validate.json and SVG overlays')
    .option('--set <file>', 'a calibration set of your own (same JSON format as calibration/published.json)')
    .option('--out <dir>', 'output directory (created if missing)', 'out/validate')
    .option('--check <pct>', 'exit 1 when any ratio is further off than PCT percent (default: always exit 0)')
    .option('--host', 'also build faultline\'s C re-expression of will-it-scale page_fault1/2/3, mmap1, tlb_flush1 (threads mode), run 1 and 2 threads on this host, and compare 2t/1t with the emulator')
    .option('--profile <file>', 'with --host: the host\'s profile (default: out/calibrate/host.json when `faultline calibrate --host` wrote it, else kvm-epyc-2vcpu)')
    .option('--quiet', 'no progress line')
    .addHelpText('after', EXAMPLES_VALIDATE)
    .action(async (o: ValidateOpts) => { exit.code = await validateCommand(o); });

  program.command('calibrate')
    .description('measure this host with small C programs (caches, TLB miss, atomics, a cache-line transfer, a syscall, page zeroing, faults, a TLB shootdown) and write a cost profile of it, usable with --profile FILE')
    .option('--host', 'measure this machine (required: the one source there is)')
    .option('--out <file>', 'the profile to write', join('out', 'calibrate', 'host.json'))
    .option('--reps <n>', 'samples per probe; each figure is their median', '9')
    .option('--quiet', 'no progress lines, no table')
    .action(async (o: { host?: boolean; out: string; reps: string; quiet?: boolean }) => {
      if (!o.host) throw new UsageError('calibrate needs --host (it measures this machine)');
      const reps = parseCount('--reps', o.reps);
      prepareOutDir(dirname(o.out) || '.');
      const out = checkOutFile('--out', o.out);
      const { calibrateHost, formatCalibration } = await import('./calibrate.js');
      const r = await calibrateHost({ out, reps, onProbe: o.quiet ? undefined : (p, i, n) => process.stderr.write(`calibrate: probe ${i + 1}/${n} ${p}\n`) });
      if (!o.quiet) process.stdout.write(formatCalibration(r));
      exit.code = 0;
    });

  program.command('list')
    .description('list workloads, strategies and cost profiles')
    .action(() => { process.stdout.write(listText()); });

  return program;
}

/** the command line, recorded in the results file */
const commandLine = (): string[] => ['faultline', ...process.argv.slice(2)];

/** One line for the errors that are the user's to fix; undefined for internal errors. */
function userMessage(e: unknown): string | undefined {
  if (e instanceof UsageError || e instanceof ProfileError) return e.message;
  if (isFsError(e)) return `${e.path ?? ''}${e.path ? ': ' : ''}${describeFsError(e)}`;
  return undefined;
}

async function main(argv: string[]): Promise<number> {
  const exit = { code: 0 };
  try {
    await buildProgram(exit).parseAsync(argv);
    return exit.code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    const msg = userMessage(e);
    if (msg === undefined) throw e;
    process.stderr.write(`faultline: ${firstLine(msg)}\n`);
    return 2;
  }
}

process.exitCode = await main(process.argv);
