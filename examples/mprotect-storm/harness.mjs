#!/usr/bin/env node
// A third-party harness, written only against faultline's public API
// (`import ... from 'faultline'`): a custom workload the package does not ship.
//
// "mprotect storm": CPU 0 flips the protection of one page of a shared region
// back and forth (each mprotect takes mmap_lock for write and bumps the VMA
// sequence counts) while the other CPUs write-fault fresh pages of the region.
// Under mmap_lock every fault waits for the writer; SPF and per-VMA locks let
// the faults go on but abort when the writer changed their VMA. The harness
// runs the same programs under every strategy and prints one JSON line per
// strategy: faults taken, virtual cycles, and the counters that explain them.
//
//   node harness.mjs [--cpus 4] [--pages 64] [--flips 16]
import { createMachine, listStrategies } from 'faultline';

const arg = (name, d) => {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return d;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 1) { process.stderr.write(`harness: --${name} must be a positive integer\n`); process.exit(2); }
  return v;
};
const cpus = arg('cpus', 4);
const pages = arg('pages', 64);
const flips = arg('flips', 16);
const PAGE = 4096;
const len = (cpus - 1) * pages * PAGE + PAGE;

for (const { name } of listStrategies()) {
  const m = await createMachine({ cpus, strategy: name, mode: 'deterministic', seed: 1 });
  // first run: CPU 0 maps the shared region (the others have nothing to do); second run: the storm
  const base = 0x10000000;
  const setup = await m.run((cpu) => (cpu === 0 ? [{ op: 'map', addr: base, len, flags: 0x32 }] : [])); // MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED
  if (!setup.ok || setup.results[0][0] !== base) throw new Error(`harness: mmap failed: ${setup.error ?? setup.results[0][0]}`);
  const programs = (cpu) => cpu === 0
    ? [{ op: 'repeat', times: flips, steps: [
      { op: 'protect', addr: base, len: PAGE, prot: 1 },
      { op: 'protect', addr: base, len: PAGE, prot: 3 },
    ] }]
    : [{ op: 'touch', addr: base + PAGE + (cpu - 1) * pages * PAGE, len: pages * PAGE, write: true }];
  const run = await m.run(programs);
  const c = m.counters();
  const clock = run.clocks.reduce((a, b) => (a > b ? a : b), 0n);
  console.log(JSON.stringify({
    strategy: name, ok: run.ok, error: run.error,
    faults: Number(c.fault), virtualCycles: String(clock),
    mmapWriteWaitCycles: String(c.mmap_write_wait_cycles), mmapReadWaitCycles: String(c.mmap_read_wait_cycles),
    spfAbortsVmaChanged: Number(c.spf_abort_vma_changed), pervmaFallbacks: Number(c.pervma_fallback),
    units: Object.fromEntries(m.stats().filter((s) => ['fault', 'mmap_read_wait_cycles'].includes(s.name)).map((s) => [s.name, s.unit])),
  }));
}
