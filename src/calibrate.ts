// `faultline calibrate --host`: a cost profile of this machine, measured.
// Builds host/calibrate.c (small C probes: loads at each cache level, a TLB
// miss, a store, an uncontended atomic, PAUSE, a cache-line transfer between
// two host cores, a syscall, page zeroing and copying, read and write faults,
// a TLB-shootdown round trip and the target's interruption) with the C
// compiler on PATH, runs each probe `reps` times, and turns the medians into
// the schema of profiles/*.json (src/profile.ts validates it; `--profile
// FILE` loads it). Every figure's source says how it was obtained:
// measured, derived from measured figures (with the formula), or not
// measurable from user space (then the base profile's figure is kept, and
// the source says so). The raw samples are kept in the file under
// "$calibration" (a "$" key: profile readers ignore it).
//
// The fault entry/exit cost is what a host pays around every fault that the
// emulator does not model piece by piece (exception delivery, the kernel's
// entry work, page-table isolation's CR3 switches, a hypervisor's share on
// a guest). It is measured, not fitted, from the cheapest fault there is: a
// write to a page of a shared memfd mapping whose page is already in the page
// cache (no allocation, no zeroing: entry, lookup, map, exit). The access the
// fault was for then re-executes through the new PTE; on a shadow-paging
// guest (PVM) that first access exits to the hypervisor again, which fills
// its shadow PTE: pte_first_access, measured apart as the first write to
// pages MAP_POPULATE mapped (no fault). fault_entry is the cheapest fault
// minus pte_first_access minus what the emulator charges for the same loop
// with both at 0. The anonymous write fault of page_fault1 is never used to
// set a figure: the calibration reproduces it from the figures as a check
// ($calibration.checks), and validate --host compares against it.
// (The first calibration took fault_entry from an anonymous read fault,
// assuming it maps the shared zero page; a guest booted with PVM's
// pvm_no_zero_page allocates and zeroes a page there, and the probe says
// so: fault_read_alloc.)

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cpus as hostCpus, loadavg, release } from 'node:os';
import { PACKAGE_ROOT } from './package-root.js';
import { COST_KEYS, loadProfile, parseProfile, type CostProfile } from './profile.js';
import { Machine } from './machine.js';
import { UsageError } from './types.js';

/** the probes of host/calibrate.c, in the order they run */
export const PROBES = ['tsc', 'l1', 'l2', 'llc', 'dram', 'walkdense', 'walk', 'store', 'atomic', 'pause', 'syscall',
  'zero', 'copy', 'hugezero', 'fault_read', 'fault_write', 'fault_shared', 'first_access', 'dontneed', 'xfer', 'shootdown'] as const;

export interface CalibrateOptions {
  /** where to write the profile (default out/calibrate/host.json) */
  out?: string;
  /** samples per probe (default 9; the median is taken) */
  reps?: number;
  /** compilers to try, in order (default $CC, cc, gcc, clang) */
  compilers?: string[];
  /** the profile whose figures are kept for what user space cannot measure (default kvm-epyc-2vcpu when the host is a VM, else default) */
  base?: string;
  /** the profile's name (default "host-<hostname-less date>") */
  name?: string;
  /** progress, one line per probe */
  onProbe?: (probe: string, i: number, n: number) => void;
  /** skip the probes: use these samples (tests) */
  samples?: Record<string, number[]>;
}

/** a host probe the calibration reproduces from its figures: the emulator's loop on the written profile against the host's */
export interface CalibrationCheck {
  probe: string;
  what: string;
  hostNs: number;
  modelNs: number;
  /** modelNs / hostNs - 1 */
  error: number;
}

export interface CalibrateResult {
  file: string;
  checks: CalibrationCheck[];
  profile: Record<string, unknown>;
  medians: Record<string, number>;
  notes: string[];
}

/** the C compilers to try; the first that answers --version builds */
function findCompiler(list: (string | undefined)[]): string | undefined {
  for (const cc of list) {
    if (!cc) continue;
    const r = spawnSync(cc, ['--version'], { encoding: 'utf8' });
    if (r.status === 0) return cc;
  }
  return undefined;
}

/**
 * Build host/<name>.c into `dir` with the first C compiler that answers (CC, cc, gcc, clang, or
 * `compilers`); `why` says what the program is for. Never throws: a failure is one line in `reason`.
 */
export function buildHostProgram(name: string, dir: string, why: string, compilers?: (string | undefined)[]):
  { bin: string; cc: string; reason?: undefined } | { reason: string; cc?: string } {
  const src = join(PACKAGE_ROOT, 'host', `${name}.c`);
  if (process.platform !== 'linux') return { reason: `this is ${process.platform}, not Linux: ${why} needs a Linux kernel` };
  if (!existsSync(src)) return { reason: `${src} is missing` };
  const tried = compilers ?? [process.env.CC, 'cc', 'gcc', 'clang'];
  const cc = findCompiler(tried);
  if (!cc) return { reason: `no C compiler found (tried ${tried.filter(Boolean).join(', ') || 'none'}): ${why} builds host/${name}.c with one (set CC, or install gcc)` };
  mkdirSync(dir, { recursive: true });
  const bin = join(dir, name);
  try {
    execFileSync(cc, ['-O2', '-pthread', '-o', bin, src], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const err = (e as { stderr?: Buffer }).stderr?.toString().split('\n').find((l) => l.trim() !== '') ?? String(e);
    return { cc, reason: `${cc} could not build host/${name}.c: ${err}` };
  }
  return { bin, cc };
}

/** one probe's samples (ns per operation; tsc: ticks per ns); a failed probe throws */
function runProbe(bin: string, probe: string, reps: number): Record<string, number[]> {
  const r = spawnSync(bin, [probe, String(reps)], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`probe ${probe} failed (exit ${r.status ?? r.signal}): ${(r.stderr ?? '').trim().split('\n')[0] ?? ''}`);
  const out: Record<string, number[]> = {};
  for (const line of r.stdout.split('\n')) {
    const [name, ...vals] = line.trim().split(/\s+/);
    if (name) out[name] = vals.map(Number).filter((v) => Number.isFinite(v));
  }
  return out;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** sockets, cores per socket and threads per core from sysfs (1 socket of N cores when it says nothing) */
/** this host's cpuidle states past POLL, shallowest first (sysfs: name, latency and residency in us) */
function cpuidleStates(): { name: string; latency: number; residency: number; dir: string }[] {
  const base = '/sys/devices/system/cpu/cpu0/cpuidle';
  const out: { name: string; latency: number; residency: number; dir: string }[] = [];
  try {
    for (const d of readdirSync(base).filter((n) => /^state\d+$/.test(n)).sort((x, y) => Number(x.slice(5)) - Number(y.slice(5)))) {
      const dir = join(base, d);
      const name = readFileSync(join(dir, 'name'), 'utf8').trim();
      const latency = Number(readFileSync(join(dir, 'latency'), 'utf8'));
      const residency = Number(readFileSync(join(dir, 'residency'), 'utf8'));
      if (name === 'POLL' || !Number.isFinite(latency) || !Number.isFinite(residency)) continue;
      out.push({ name, latency, residency, dir });
    }
  } catch { /* no cpuidle in sysfs */ }
  return out;
}

function topology(): { sockets: number; coresPerSocket: number; threadsPerCore: number } {
  const n = hostCpus().length;
  const base = '/sys/devices/system/cpu';
  const pkgs = new Set<string>();
  const cores = new Set<string>();
  try {
    for (const d of readdirSync(base).filter((x) => /^cpu\d+$/.test(x))) {
      const t = join(base, d, 'topology');
      const pkg = readFileSync(join(t, 'physical_package_id'), 'utf8').trim();
      pkgs.add(pkg);
      cores.add(`${pkg}/${readFileSync(join(t, 'core_id'), 'utf8').trim()}`);
    }
  } catch { /* no sysfs topology */ }
  const sockets = Math.max(1, pkgs.size);
  const coreCount = Math.max(1, cores.size || n);
  const threadsPerCore = Math.max(1, Math.round(n / coreCount));
  return { sockets, coresPerSocket: Math.max(1, Math.round(coreCount / sockets)), threadsPerCore };
}

/** the host is a virtual machine: the CPU flags say "hypervisor" */
function isGuest(): boolean {
  try { return /^flags\s*:.*\bhypervisor\b/m.test(readFileSync('/proc/cpuinfo', 'utf8')); } catch { return false; }
}

/** the kernel's command line ('' where unreadable) */
function procCmdline(): string {
  try { return readFileSync('/proc/cmdline', 'utf8'); } catch { return ''; }
}

function cpuModel(): string {
  try { return /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? 'unknown CPU'; } catch { return 'unknown CPU'; }
}

const LOOP_PAGES = 1024;
const MAP_SHARED = 0x01;
/** the emulated loops calibrate uses, 1,024 pages each: `setup` steps, then the timed `touch` of $t */
const LOOPS: Record<string, { what: string; setup: unknown[]; write: number }> = {
  // the cheapest fault: a shared memfd mapping whose pages are in its page cache (fault_shared)
  fault_shared: {
    what: 'a write fault on a shared memfd mapping, its pages already in the page cache',
    setup: [{ op: 'memfd', as: 'f' }, { op: 'ftruncate', file: '$f', pages: LOOP_PAGES },
      { op: 'mmap', len: LOOP_PAGES * 4096, flags: MAP_SHARED, file: '$f', as: 'w' }, { op: 'touch', addr: '$w', len: LOOP_PAGES * 4096, write: 1 },
      { op: 'munmap', addr: '$w', len: LOOP_PAGES * 4096 }, { op: 'mmap', len: LOOP_PAGES * 4096, flags: MAP_SHARED, file: '$f', as: 't' }],
    write: 1,
  },
  // page_fault1's fault (fault_write)
  fault_write: {
    what: 'a write fault on fresh anonymous memory (page_fault1\'s)',
    setup: [{ op: 'mmap', len: LOOP_PAGES * 4096, as: 't' }],
    write: 1,
  },
};

/** the emulator's clock after `steps` on one CPU of `profile` (a step that fails throws, naming it) */
async function emulatedClock(profile: CostProfile, what: string, steps: unknown[]): Promise<bigint> {
  const m = new Machine({ cpus: 1, mode: 'deterministic', profile, workers: 1, frames: 8_192, ptPages: 256 });
  const r = await m.run(() => ({ program: 'faultScript', args: { steps } }));
  if (!r.ok) throw new Error(`the emulated ${what} failed: ${r.error}`);
  const out = (r.cpus[0]?.value as unknown[] | undefined) ?? [];
  const bad = out.findIndex((v) => typeof v === 'number' && v < 0);
  if (bad >= 0) throw new Error(`the emulated ${what} failed at step ${bad} (${JSON.stringify(steps[bad])}): ${String(out[bad])}`);
  return r.clocks[0];
}

/**
 * The emulator's cycles for madvise(MADV_DONTNEED) of a written page over the same call on the untouched
 * page beside it (the dontneed probe's two arms): the zap, the freed page and the flush of one page.
 */
async function emulatedDontneed(profile: CostProfile): Promise<number> {
  const setup = [{ op: 'mmap', len: 2 * 4096, as: 't' }, { op: 'touch', addr: '$t', len: 4096, write: 1 }];
  const on = await emulatedClock(profile, 'dontneed loop', [...setup, { op: 'madvise', addr: '$t', len: 4096, advice: 4 }]);
  const off = await emulatedClock(profile, 'dontneed loop', [...setup, { op: 'madvise', addr: '$t+4096', len: 4096, advice: 4 }]);
  return Number(on - off);
}

/** the emulator's cycles per page of loop `name` on `profile` (its setup's clock subtracted) */
async function emulatedLoop(profile: CostProfile, name: keyof typeof LOOPS): Promise<number> {
  const l = LOOPS[name];
  const clock = async (touch: boolean): Promise<bigint> => {
    const m = new Machine({ cpus: 1, mode: 'deterministic', profile, workers: 1, frames: 8_192, ptPages: 256 });
    const steps = touch ? [...l.setup, { op: 'touch', addr: '$t', len: LOOP_PAGES * 4096, write: l.write }] : l.setup;
    const r = await m.run(() => ({ program: 'faultScript', args: { steps } }));
    if (!r.ok) throw new Error(`the emulated loop ${name} failed: ${r.error}`);
    const out = (r.cpus[0]?.value as unknown[] | undefined) ?? [];
    const bad = out.findIndex((v) => typeof v === 'number' && v < 0);
    if (bad >= 0) throw new Error(`the emulated loop ${name} failed at step ${bad} (${JSON.stringify(steps[bad])}): ${String(out[bad])}`);
    return r.clocks[0];
  };
  return Number((await clock(true)) - (await clock(false))) / LOOP_PAGES;
}

/**
 * Measure this host and write its profile. Throws UsageError for what the
 * user can fix (no compiler, not Linux, a build failure); a probe that fails
 * throws an Error naming it.
 */
export async function calibrateHost(opts: CalibrateOptions = {}): Promise<CalibrateResult> {
  const reps = opts.reps ?? 9;
  if (!Number.isSafeInteger(reps) || reps < 1 || reps > 64) throw new UsageError(`--reps must be an integer from 1 to 64 (got ${reps})`);
  const file = opts.out ?? join('out', 'calibrate', 'host.json');
  const date = new Date().toISOString().slice(0, 10);
  const topo = topology();
  const guest = isGuest();
  const base = loadProfile(opts.base ?? (guest ? 'kvm-epyc-2vcpu' : 'default'));
  const notes: string[] = [];
  let samples: Record<string, number[]>;
  let cc = 'none (samples given)';
  if (opts.samples) samples = opts.samples;
  else {
    const built = buildHostProgram('calibrate', join(dirname(file), 'build'), 'calibrate --host', opts.compilers);
    if (built.reason !== undefined) throw new UsageError(built.reason);
    cc = built.cc;
    samples = {};
    const probes = PROBES.filter((p) => !((p === 'xfer' || p === 'shootdown') && hostCpus().length < 2));
    probes.forEach((p, i) => { opts.onProbe?.(p, i, probes.length); Object.assign(samples, runProbe(built.bin, p, reps)); });
  }
  const med: Record<string, number> = {};
  for (const [k, v] of Object.entries(samples)) med[k] = median(v);

  // the clock: the TSC's rate (x86); elsewhere /proc/cpuinfo's MHz, else 2.5 GHz (a cycle count only converts ns)
  let ghz = med.tsc;
  if (!(ghz > 0.1 && ghz < 20)) {
    const mhz = /^cpu MHz\s*:\s*([\d.]+)/m.exec(existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '')?.[1];
    ghz = mhz ? Number(mhz) / 1000 : 2.5;
    notes.push(`no TSC rate measured: ${ghz} GHz from ${mhz ? '/proc/cpuinfo' : 'a default'} converts ns to cycles`);
  }
  ghz = Math.round(ghz * 1000) / 1000;
  const cyc = (ns: number) => Math.max(0, Math.round(ns * ghz));
  const M = `measured on this host by faultline calibrate, ${date}`;
  const ns = (k: string) => `${med[k].toFixed(2)} ns (median of ${samples[k].length} samples of probe ${k})`;
  const costs: Record<string, { cycles: number; source: string }> = {};
  const set = (k: string, cycles: number, how: string) => { costs[k] = { cycles: Math.min(9_999_999, Math.max(0, Math.round(cycles))), source: `${M}: ${how}` }; };
  const keep = (k: string, why: string) => { costs[k] = { cycles: base.cycles[k], source: `${M}: ${why}; the figure of profile ${base.name} is kept (${base.sources[k]})` }; };
  const has = (k: string) => Number.isFinite(med[k]);

  if (has('l1')) set('l1_hit', Math.max(1, cyc(med.l1)), `a pointer chase over 16 KiB: ${ns('l1')}`); else keep('l1_hit', 'no probe ran');
  if (has('l2')) set('l2_hit', Math.max(1, cyc(med.l2)), `a pointer chase over 256 KiB: ${ns('l2')}`); else keep('l2_hit', 'no probe ran');
  if (has('llc')) set('llc_hit', Math.max(1, cyc(med.llc)), `a pointer chase over 4 MiB (THP): ${ns('llc')}`); else keep('llc_hit', 'no probe ran');
  if (has('dram')) set('dram', Math.max(1, cyc(med.dram)), `a pointer chase over 256 MiB (THP): ${ns('dram')}`); else keep('dram', 'no probe ran');
  if (has('store')) set('store', Math.max(1, cyc(med.store)), `a plain store to an owned line in a loop: ${ns('store')}`); else keep('store', 'no probe ran');
  if (has('atomic')) set('atomic_rmw', Math.max(1, cyc(med.atomic)), `lock xadd on an owned line in a loop: ${ns('atomic')}`); else keep('atomic_rmw', 'no probe ran');
  if (has('pause')) set('cpu_relax', Math.max(1, cyc(med.pause)), `PAUSE in a loop: ${ns('pause')}`); else keep('cpu_relax', 'no probe ran (not x86)');
  if (has('xfer')) {
    set('xfer_near', Math.max(1, cyc(med.xfer)), `two threads bound to CPUs 0 and 1 take turns writing one line, half a round trip: ${ns('xfer')}`);
    if (topo.threadsPerCore === 1) set('xfer_smt', costs.xfer_near.cycles, `unused (no SMT: ${topo.threadsPerCore} thread per core); set to xfer_near`);
    else keep('xfer_smt', 'CPUs 0 and 1 are taken as two cores; the SMT pair was not measured');
    if (topo.sockets === 1) set('xfer_far', costs.xfer_near.cycles, 'unused (1 socket); set to xfer_near');
    else keep('xfer_far', 'only CPUs 0 and 1 were measured');
  } else for (const k of ['xfer_near', 'xfer_smt', 'xfer_far']) keep(k, 'one CPU: no transfer between cores to measure');
  set('tlb_hit', 1, 'not separable from an L1 hit (the chases above hit the TLB); one cycle, as every shipped profile');
  if (has('walk') && has('walkdense')) {
    const walk = Math.max(0, med.walk - med.walkdense);
    set('walk_step', Math.max(1, cyc(walk / 4)), `a chase with one line per 4 KiB page over 16,384 pages (64 MiB, no THP: every load a TLB miss) minus the same lines packed (1 MiB): ${ns('walk')} - ${ns('walkdense')} = ${walk.toFixed(2)} ns per walk, over 4 levels (a guest's walk goes through the host's tables too)`);
  } else keep('walk_step', 'no probe ran');
  keep('invlpg', 'not measured yet (the dontneed probe sets it below)');
  keep('tlb_flush_all', 'not measurable from user space (a CR3 write)');
  if (has('syscall')) set('syscall', cyc(med.syscall), `getppid() through syscall(2) in a loop: ${ns('syscall')}`); else keep('syscall', 'no probe ran');
  if (has('zero')) set('page_zero', cyc(med.zero), `rep stosb of 4 KiB (clear_page_erms) over 256 MiB of pages, each cold: ${ns('zero')}`); else keep('page_zero', 'no probe ran');
  if (has('copy')) set('page_copy', cyc(med.copy), `rep movsb of 4 KiB (copy_page) over 256 MiB, each cold: ${ns('copy')}`); else keep('page_copy', 'no probe ran');
  if (has('hugezero')) set('huge_page_zero', cyc(med.hugezero), `rep stosb of 2 MiB over 256 MiB, each cold: ${ns('hugezero')}`); else keep('huge_page_zero', 'no probe ran');
  // the shootdown: the initiator's extra time with a target running the mm, and what the target loses
  if (has('shootdown') && has('flushlocal') && has('ipigap')) {
    const rt = Math.max(0, med.shootdown - med.flushlocal);
    set('ipi_handler', cyc(med.ipigap), `the interruption a thread spinning on CPU 1 sees while CPU 0 mprotects a page of its mm (entry, the flush handler, exit): ${ns('ipigap')}`);
    keep('ipi_send', 'the APIC write is not separable from the delivery from user space');
    set('ipi_deliver', Math.max(0, cyc(rt) - cyc(med.ipigap) - costs.ipi_send.cycles),
      `the round trip (mprotect of a touched page with a thread of the process spinning on CPU 1, ${ns('shootdown')}, minus the same with that thread asleep, ${ns('flushlocal')}: ${rt.toFixed(1)} ns) minus the target's interruption (ipigap, ${cyc(med.ipigap)} cycles: ipi_handler + invlpg) and ipi_send`);
  } else for (const k of ['ipi_send', 'ipi_deliver', 'ipi_handler']) keep(k, 'one CPU: no shootdown to measure');
  keep('irq_relax', 'not measurable from user space (sti/cli are privileged)');
  // idle states: cpuidle lists them in sysfs (name, exit latency and target residency in us); the first three past POLL
  const idle = cpuidleStates();
  for (let i = 1; i <= 3; i++) {
    const st = idle[i - 1];
    if (st) {
      set(`cpuidle${i}_exit_latency`, st.latency * ghz * 1000, `cpuidle state ${st.name}: exit latency ${st.latency} us (${st.dir}/latency)`);
      set(`cpuidle${i}_target_residency`, st.residency * ghz * 1000, `cpuidle state ${st.name}: target residency ${st.residency} us (${st.dir}/residency)`);
    } else {
      const why = idle.length === 0 ? 'this host lists no cpuidle states (/sys/devices/system/cpu/cpu0/cpuidle): never applied' : `this host lists ${idle.length} cpuidle state(s) past POLL: never applied`;
      set(`cpuidle${i}_exit_latency`, 0, why);
      set(`cpuidle${i}_target_residency`, 0, why);
    }
  }
  // SMT: a sibling's slowdown needs two threads pinned to one core, which the probes do not run
  if (topo.threadsPerCore === 1) set('smt_slowdown', 0, `no SMT in this topology (${topo.threadsPerCore} thread per core): never applied`);
  else keep('smt_slowdown', 'two threads on one core were not measured');
  // a guest run queue's switch between two threads of one mm on one CPU: the probes pin no two threads to one CPU
  keep('context_switch', 'a switch between two threads on one CPU was not measured');
  // a KVM host's halt polling is the host's, not measurable from inside the guest's user space
  keep('halt_poll_max', 'the host\'s halt polling is not visible from inside the guest');
  keep('halt_block_wake', 'a wake-up of a vCPU whose host thread blocked was not measured');
  for (const i of [1, 2, 3]) for (const k of ['exit_latency', 'target_residency']) keep(`host_cpuidle${i}_${k}`, 'the idle states of a hypervisor below this host are not visible from inside it');
  // figures the shipped profiles derive from cache latencies: the same formulas with this host's
  const l2 = costs.l2_hit.cycles, llc = costs.llc_hit.cycles;
  set('pagecache_lookup', 3 * (l2 + 8), `derived as the shipped profiles': an xarray walk of 3 levels, each an L2 hit (l2_hit ${l2}, measured) + 8 cycles`);
  set('vma_lookup_step', l2 + 8, `derived as the shipped profiles': one maple-tree node visit, an L2 hit (l2_hit ${l2}, measured) + 8 cycles of pivot scan`);
  keep('pte_op', 'ALU work and one store, not separable from user space');
  set('buddy_alloc', 2 * llc + 50, `derived as the shipped profiles': the free-area list head and the cold struct page, 2 LLC hits (llc_hit ${llc}, measured) + 50 cycles of list and counter updates`);
  set('lru_add', 3 * l2 + 10, `derived as the shipped profiles': list_add touching 3 lines at L2 (l2_hit ${l2}, measured) + 10 cycles`);
  set('tag_storage_reserve', costs.page_copy.cycles + costs.buddy_alloc.cycles, 'derived as the shipped profiles: page_copy + buddy_alloc of this profile (no MTE tag storage on this host)');

  // the first access through a new PTE, then fault entry/exit: the cheapest fault measured, minus the
  // re-executed access and what the model charges for the rest of it
  const name = opts.name ?? 'host';
  const walk = 4 * costs.walk_step.cycles;
  if (has('first_access')) {
    const f = med.first_access_faults;
    if (f > 0.01) notes.push(`first_access took ${f.toFixed(3)} faults per page (0 expected: MAP_POPULATE maps every page): pte_first_access includes them`);
    set('pte_first_access', cyc(med.first_access) - walk, `the first write to each page of 64 MiB of anonymous memory MAP_POPULATE mapped (no fault: ${Number.isFinite(f) ? f.toFixed(3) : '?'} faults per page), ${ns('first_access')} = ${cyc(med.first_access)} cycles, minus the walk the model charges for it (4 walk_step = ${walk}): ${guest ? 'on this guest' : 'here'} the first use of a PTE the kernel just installed${guest ? ' (on a shadow-paging hypervisor such as PVM an exit that fills the shadow PTE from the guest\'s)' : ''}; charged once per handled fault, for the access it re-executes`);
  } else set('pte_first_access', 0, 'no probe ran: 0 (nothing beyond the walk)');
  costs.fault_entry = { cycles: 0, source: '' };
  const ordered = (): Record<string, { cycles: number; source: string }> => Object.fromEntries(COST_KEYS.map((k) => [k, costs[k]]));
  const topoOut = { sockets: topo.sockets, coresPerSocket: topo.coresPerSocket, threadsPerCore: topo.threadsPerCore };
  const description = `This host measured by faultline calibrate --host, ${date}: ${cpuModel()}, ${hostCpus().length} CPUs (${topo.sockets} socket(s) x ${topo.coresPerSocket} cores x ${topo.threadsPerCore} thread(s)), ${ghz} GHz TSC, Linux ${release()}${guest ? ', a virtual machine (the CPU flags say hypervisor)' : ''}; load average ${loadavg()[0].toFixed(2)} while measuring`;
  const checks: CalibrationCheck[] = [];
  // the flush of one page: madvise(MADV_DONTNEED) of a written page over the same call on an untouched one,
  // minus what the model charges for the zap and the freed page; the target of a shootdown flushes too, so
  // ipi_handler (the whole interruption it sees) gives that flush to invlpg
  if (has('dontneed') && has('dontneed_none')) {
    const draft = parseProfile({ name, description, ghz, topology: topoOut,
      costs: { ...ordered(), fault_entry: { cycles: 0, source: 'draft' }, invlpg: { cycles: 0, source: 'draft' } } }, 'calibrate draft');
    const rest = await emulatedDontneed(draft);
    const diff = cyc(med.dontneed) - cyc(med.dontneed_none);
    if (diff < rest) notes.push(`madvise(MADV_DONTNEED) of a written page costs the host ${diff} cycles more than of an untouched one, less than the model's ${rest} for the zap alone: invlpg is 0`);
    set('invlpg', Math.max(0, diff - rest), `madvise(MADV_DONTNEED) of a page just written, ${ns('dontneed')}, minus the same call on the untouched page beside it in the same VMA (the same syscall and walk, nothing to zap, no flush), ${ns('dontneed_none')}: ${diff} cycles, minus the ${rest} the emulator charges for the zap and the freed page with invlpg 0: the local flush of one page${guest ? ' (on a guest whose local TLB flushes are hypercalls, as PVM\'s, the hypercall and the hypervisor\'s work in it)' : ''}`);
    if (has('ipigap') && costs.ipi_handler && !/kept/.test(costs.ipi_handler.source)) {
      const h = cyc(med.ipigap);
      if (h < costs.invlpg.cycles) notes.push(`the interruption a shootdown's target sees (${h} cycles) is shorter than a local flush of one page (invlpg ${costs.invlpg.cycles}): ipi_handler is 0, and the target pays invlpg alone (a hypervisor may flush a remote vCPU otherwise than by an IPI: PVM's PVM_HC_FLUSH_TLB_MULTI)`);
      set('ipi_handler', Math.max(0, h - costs.invlpg.cycles), `the interruption a thread spinning on CPU 1 sees while CPU 0 mprotects a page of its mm (entry, the flush handler, exit): ${ns('ipigap')} = ${h} cycles, minus invlpg (${costs.invlpg.cycles}: the flush itself, which the model charges the target apart)`);
    }
  } else keep('invlpg', 'no probe ran');

  if (has('fault_read_alloc') && med.fault_read_alloc > 0.5) {
    notes.push(`an anonymous read fault allocates a page here (fault_read_alloc ${med.fault_read_alloc.toFixed(2)} resident pages per fault: no shared zero page${/\bpvm_no_zero_page=1\b/.test(procCmdline()) ? ', the kernel was booted with pvm_no_zero_page=1' : ''}): fault_read is kept as data, not used`);
  }
  if (has('fault_shared')) {
    const f = med.fault_shared_faults;
    if (Number.isFinite(f) && Math.abs(f - 1) > 0.05) notes.push(`fault_shared took ${f.toFixed(3)} faults per page (1 expected): fault_entry is per page, not per fault`);
    const pfa = costs.pte_first_access.cycles;
    const draft = parseProfile({ name, description, ghz, topology: topoOut,
      costs: { ...ordered(), fault_entry: { cycles: 0, source: 'draft' }, pte_first_access: { cycles: 0, source: 'draft' } } }, 'calibrate draft');
    const rest = Math.round(await emulatedLoop(draft, 'fault_shared'));
    const host = cyc(med.fault_shared);
    const fe = Math.max(0, host - pfa - rest);
    if (host < pfa + rest) notes.push(`the host's cheapest fault (${host} cycles) is cheaper than pte_first_access (${pfa}) and the model's other charges for it (${rest}): fault_entry is 0`);
    set('fault_entry', fe, `the cheapest fault: a write to each page of a shared memfd mapping whose pages are already in its page cache (no allocation, no zeroing; ${Number.isFinite(f) ? f.toFixed(3) : '?'} faults per page), ${ns('fault_shared')} = ${host} cycles per page, minus pte_first_access (${pfa}: the re-executed access, measured apart) and the ${rest} cycles the emulator charges for the same loop with both at 0 on this profile (page-cache lookup, PTE, locks): what entry, exit and dispatch cost here${guest ? ' (a guest: its exits and page-table isolation included)' : ''}`);
  } else keep('fault_entry', 'no probe ran');

  // the checks: loops the figures were not taken from, emulated on the profile as written
  const final = parseProfile({ name, description, ghz, topology: topoOut, costs: ordered() }, 'calibrate check');
  for (const [probe, loop] of [['fault_write', 'fault_write'], ['fault_shared', 'fault_shared']] as const) {
    if (!has(probe)) continue;
    const modelNs = (await emulatedLoop(final, loop)) / ghz;
    checks.push({ probe, what: LOOPS[loop].what, hostNs: Math.round(med[probe] * 10) / 10, modelNs: Math.round(modelNs * 10) / 10, error: Math.round((modelNs / med[probe] - 1) * 1000) / 1000 });
  }
  for (const c of checks) if (Math.abs(c.error) > 0.25) notes.push(`check ${c.probe}: the model gives ${c.modelNs.toFixed(0)} ns per page on this profile, the host ${c.hostNs.toFixed(0)} ns (${(c.error * 100).toFixed(0)}%): something the figures miss`);

  const profile = {
    name,
    description,
    ghz,
    topology: topoOut,
    costs: ordered(),
    $calibration: {
      tool: 'faultline calibrate --host', date: new Date().toISOString(), kernel: release(), cpu: cpuModel(), cpus: hostCpus().length, guest,
      compiler: cc, loadAverage: loadavg(), reps, base: base.name,
      method: 'each probe times a loop of many operations (CPU time of the thread for one-thread probes, so descheduling on a loaded host is not counted; wall time for the two-thread ones) and prints one sample per repetition, in ns per operation; every figure is the median of the samples',
      medians: med, samples, checks, notes,
    },
  };
  parseProfile(profile, file); // the file loads with --profile, or this throws
  mkdirSync(dirname(file) || '.', { recursive: true });
  writeFileSync(file, JSON.stringify(profile, null, 2) + '\n');
  return { file, profile, medians: med, checks, notes };
}

/** a short table of the figures the calibration measured */
export function formatCalibration(r: CalibrateResult): string {
  const p = r.profile as { name: string; ghz: number; costs: Record<string, { cycles: number; source: string }> };
  const w = Math.max(...Object.keys(p.costs).map((k) => k.length));
  const lines = [`profile ${p.name} (${p.ghz} GHz) written to ${r.file}:`];
  for (const [k, v] of Object.entries(p.costs)) {
    const how = v.source.replace(/^measured on this host by faultline calibrate, [\d-]+: /, '');
    lines.push(`  ${k.padEnd(w)} ${String(v.cycles).padStart(8)}  ${how.length > 110 ? how.slice(0, 107) + '...' : how}`);
  }
  for (const c of r.checks) lines.push(`check ${c.probe} (${c.what}): host ${c.hostNs.toFixed(0)} ns, model ${c.modelNs.toFixed(0)} ns per page on this profile (${c.error >= 0 ? '+' : ''}${(c.error * 100).toFixed(1)}%)`);
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines.join('\n') + '\n';
}
