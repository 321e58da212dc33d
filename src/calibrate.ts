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
// a guest). It is measured, not fitted: the smallest fault there is (a read
// of fresh anonymous memory, which maps the shared zero page) is timed on
// the host, the emulator runs the same loop with fault_entry = 0 on the
// measured profile, and the difference per fault is fault_entry. The
// write fault of page_fault1 is never used to set it: validate --host
// compares against it.

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
  'zero', 'copy', 'hugezero', 'fault_read', 'fault_write', 'xfer', 'shootdown'] as const;

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

export interface CalibrateResult {
  file: string;
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

function cpuModel(): string {
  try { return /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? 'unknown CPU'; } catch { return 'unknown CPU'; }
}

/**
 * The emulator's cycles per page of the smallest fault loop (read one byte of
 * each page of fresh anonymous memory, the zero page mapped) on `profile`:
 * what the model charges besides fault_entry when fault_entry is 0.
 */
async function emulatedReadFault(profile: CostProfile): Promise<number> {
  const pages = 4096;
  const len = pages * 4096;
  const clock = async (touch: boolean): Promise<bigint> => {
    const m = new Machine({ cpus: 1, mode: 'deterministic', profile, workers: 1, frames: 16_384, ptPages: 512 });
    const steps: unknown[] = [{ op: 'mmap', len, as: 'r' }];
    if (touch) steps.push({ op: 'touch', addr: '$r', len, write: 0 });
    const r = await m.run(() => ({ program: 'faultScript', args: { steps } }));
    if (!r.ok) throw new Error(`the emulated read-fault loop failed: ${r.error}`);
    return r.clocks[0];
  };
  return Number((await clock(true)) - (await clock(false))) / pages;
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
  keep('invlpg', 'not measurable from user space (a privileged instruction)');
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
    set('ipi_deliver', Math.max(0, cyc(rt) - costs.ipi_handler.cycles - costs.ipi_send.cycles),
      `the round trip (mprotect of a touched page with a thread of the process spinning on CPU 1, ${ns('shootdown')}, minus the same with that thread asleep, ${ns('flushlocal')}: ${rt.toFixed(1)} ns) minus ipi_handler and ipi_send`);
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
  // figures the shipped profiles derive from cache latencies: the same formulas with this host's
  const l2 = costs.l2_hit.cycles, llc = costs.llc_hit.cycles;
  set('pagecache_lookup', 3 * (l2 + 8), `derived as the shipped profiles': an xarray walk of 3 levels, each an L2 hit (l2_hit ${l2}, measured) + 8 cycles`);
  set('vma_lookup_step', l2 + 8, `derived as the shipped profiles': one maple-tree node visit, an L2 hit (l2_hit ${l2}, measured) + 8 cycles of pivot scan`);
  keep('pte_op', 'ALU work and one store, not separable from user space');
  set('buddy_alloc', 2 * llc + 50, `derived as the shipped profiles': the free-area list head and the cold struct page, 2 LLC hits (llc_hit ${llc}, measured) + 50 cycles of list and counter updates`);
  set('lru_add', 3 * l2 + 10, `derived as the shipped profiles': list_add touching 3 lines at L2 (l2_hit ${l2}, measured) + 10 cycles`);
  set('tag_storage_reserve', costs.page_copy.cycles + costs.buddy_alloc.cycles, 'derived as the shipped profiles: page_copy + buddy_alloc of this profile (no MTE tag storage on this host)');

  // fault entry/exit: the smallest fault measured, minus what the model charges for it
  const name = opts.name ?? 'host';
  costs.fault_entry = { cycles: 0, source: '' };
  const ordered = (): Record<string, { cycles: number; source: string }> => Object.fromEntries(COST_KEYS.map((k) => [k, costs[k]]));
  const topoOut = { sockets: topo.sockets, coresPerSocket: topo.coresPerSocket, threadsPerCore: topo.threadsPerCore };
  const description = `This host measured by faultline calibrate --host, ${date}: ${cpuModel()}, ${hostCpus().length} CPUs (${topo.sockets} socket(s) x ${topo.coresPerSocket} cores x ${topo.threadsPerCore} thread(s)), ${ghz} GHz TSC, Linux ${release()}${guest ? ', a virtual machine (the CPU flags say hypervisor)' : ''}; load average ${loadavg()[0].toFixed(2)} while measuring`;
  if (has('fault_read')) {
    const draft = parseProfile({ name, description, ghz, topology: topoOut, costs: { ...ordered(), fault_entry: { cycles: 0, source: 'draft' } } }, 'calibrate draft');
    const rest = await emulatedReadFault(draft);
    const host = cyc(med.fault_read);
    const fe = Math.max(0, host - Math.round(rest));
    if (host < rest) notes.push(`the host's read fault (${host} cycles) is cheaper than the model's other charges for it (${Math.round(rest)}): fault_entry is 0`);
    set('fault_entry', fe, `the smallest fault (a read of fresh anonymous memory: the zero page mapped, no allocation), ${ns('fault_read')} = ${host} cycles per page on the host, minus the ${Math.round(rest)} cycles the emulator charges for the same loop with fault_entry 0 on this profile: what entry, exit and dispatch cost here${guest ? ' (a guest: its exits and page-table isolation included)' : ''}`);
  } else keep('fault_entry', 'no probe ran');

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
      medians: med, samples, notes,
    },
  };
  parseProfile(profile, file); // the file loads with --profile, or this throws
  mkdirSync(dirname(file) || '.', { recursive: true });
  writeFileSync(file, JSON.stringify(profile, null, 2) + '\n');
  return { file, profile, medians: med, notes };
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
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines.join('\n') + '\n';
}
