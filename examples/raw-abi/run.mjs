#!/usr/bin/env node
// A harness of the faultline core written from docs/abi.md alone: it uses the
// two .wasm files and the document's JSON block, nothing of the package's
// JavaScript. It lays out a machine, starts its CPUs on worker_threads, runs
// will-it-scale page_fault1 (the wl_page_fault host call) on every CPU, stops
// early if asked, and prints the counters as JSON.
//
//   node examples/raw-abi/run.mjs --cpus 4 --strategy spf --mode parallel --workers 2
//   options: --cpus N  --strategy mmap_lock|spf|pervma|spf_mmapseq  --mode parallel|deterministic
//            --module mn|threads  --workers W (default: N with threads, 1 in deterministic mode, else min(2, N))
//            --vcycles N (each CPU's virtual-clock deadline)  --stop-after-ms MS (after every thread started)  --profile NAME
//            --poke H_FIELD=VALUE (write a header word after the layout: see machine_init refuse it)
//            --doc PATH (docs/abi.md)  --wasm-dir DIR (build/)
// Exit status: 0 the run completed or was stopped on request, 1 the core refused or failed, 2 bad options.
import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { readAbiDoc } from './abi-doc.mjs';
import { layMachine, readCores } from './machine.mjs';

const argv = process.argv.slice(2);
const opt = (name, dflt) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : dflt; };
const usage = (msg) => { console.error(`raw-abi: ${msg}`); process.exit(2); };
const int = (name, dflt) => { const v = opt(name, dflt); if (v === undefined) return undefined; if (!/^\d+$/.test(String(v))) usage(`--${name} must be an integer >= 0`); return Number(v); };

const docFile = opt('doc', new URL('../../docs/abi.md', import.meta.url).pathname);
const wasmDir = pathToFileURL(opt('wasm-dir', new URL('../../build/', import.meta.url).pathname) + '/');
const doc = readAbiDoc(docFile);
const C = Object.fromEntries(Object.entries(doc.constants).map(([k, v]) => [k, Number(v)]));
const cpus = int('cpus', '4');
const mode = opt('mode', 'parallel');
if (!['parallel', 'deterministic'].includes(mode)) usage('--mode is parallel or deterministic');
const module = opt('module', 'mn');
if (!['mn', 'threads'].includes(module)) usage('--module is mn or threads');
// the threads module runs one CPU per thread
const workers = int('workers', String(module === 'threads' ? cpus : mode === 'deterministic' ? 1 : Math.min(2, cpus)));
const strategy = opt('strategy', 'mmap_lock');
if (!(`STRATEGY_${strategy.toUpperCase()}` in C)) usage(`unknown strategy ${strategy}`);
const vcycles = int('vcycles', '2000000');
const stopAfter = int('stop-after-ms');
const poke = {};
for (let i = 0; i < argv.length; i++) if (argv[i] === '--poke') { const [f, v] = argv[i + 1].split('='); poke[f] = Number(v); }

const wasm = readCores(wasmDir);
// the document must describe these cores
const probe = new WebAssembly.Instance(new WebAssembly.Module(wasm.threads), { env: { memory: new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: true }), abort() {} }, asyncify: { start_unwind() {}, stop_unwind() {}, start_rewind() {}, stop_rewind() {} } }).exports;
if (probe.ABI_VERSION.value !== doc.abiVersion) {
  console.error(`raw-abi: ${docFile} documents ABI version ${doc.abiVersion}, the core is version ${probe.ABI_VERSION.value}`);
  process.exit(1);
}
for (const [name, g] of Object.entries(probe)) {
  if (!(g instanceof WebAssembly.Global)) continue;
  if (!(name in doc.constants)) { console.error(`raw-abi: the core exports ${name}, ${docFile} does not list it`); process.exit(1); }
  if (String(g.value) !== String(doc.constants[name])) { console.error(`raw-abi: docs say ${name} = ${doc.constants[name]}, the core exports ${g.value}`); process.exit(1); }
}

let m;
try {
  m = layMachine(doc, wasm, { cpus, mode, strategy, workers, module, profile: opt('profile', 'default'), poke });
} catch (e) {
  console.error(`raw-abi: ${e.message}`);
  process.exit(1);
}
const { memory } = m;
const i32 = new Int32Array(memory.buffer);
const dv = new DataView(memory.buffer);
const HDR = C.HDR_BASE;

// wl_page_fault(mm 0, file 0, at 0, args): the loop's configuration is a struct wl_args (WLA_*), written here into the
// header's host scratch (HDR_SCRATCH): kind 0 = anonymous private, length 128 KiB, budget: deadline on the CPU's clock,
// max iterations, steady 0 = no steady-state block (the budget alone ends the loop)
const wla = HDR + C.HDR_SCRATCH;
dv.setUint32(wla + C.WLA_KIND, 0, true);
dv.setUint32(wla + C.WLA_STEADY, 0, true);
dv.setBigUint64(wla + C.WLA_LENGTH, BigInt(128 * 1024), true);
dv.setBigUint64(wla + C.WLA_BUDGET, BigInt(vcycles), true);
dv.setBigUint64(wla + C.WLA_MAX_ITERS, 2n ** 50n, true);
const call = doc.calls.find((c) => c.name === 'wl_page_fault');
const args = [0, 0, 0, wla];
if (args.length !== call.params.length) { console.error('raw-abi: wl_page_fault takes other arguments than this harness passes'); process.exit(1); }

/** stop: H_STOP from 0 to a reason, then wake every CPU (PC_WAKE) and every worker (WK_WAKE + notify) */
function stop(reason) {
  Atomics.compareExchange(i32, (HDR + C.H_STOP) >>> 2, 0, reason);
  for (let c = 0; c < cpus; c++) Atomics.add(i32, (m.percpu(c) + C.PC_WAKE) >>> 2, 1);
  for (let w = 0; w < workers; w++) {
    const a = (m.regions.workers + w * C.WK_SIZE + C.WK_WAKE) >>> 2;
    Atomics.add(i32, a, 1);
    Atomics.notify(i32, a);
  }
}

dv.setUint32(HDR + C.H_STARTED, 0, true);
dv.setUint32(HDR + C.H_RENDEZVOUS, workers, true);
const t0 = performance.now();
const results = await new Promise((done) => {
  const got = [];
  const threads = [...Array(workers).keys()].map((w) => new Worker(new URL('./cpu-worker.mjs', import.meta.url), {
    workerData: { memory, wasm: module === 'mn' ? wasm.mn : wasm.threads, worker: w, call: call.id, args, C },
  }));
  const timers = [];
  // an early stop: MS after every thread started (compiling the module takes a while on a loaded host)
  if (stopAfter !== undefined) {
    const started = setInterval(() => {
      if (dv.getUint32(HDR + C.H_STARTED, true) < workers) return;
      clearInterval(started);
      timers.push(setTimeout(() => stop(C.STOP_HOST), stopAfter));
    }, 10);
    timers.push(started);
  }
  // the watchdog: no run of this harness takes a minute
  timers.push(setTimeout(() => { stop(C.STOP_HOST); got.push({ error: 'watchdog: the run did not end within 60 s' }); }, 60_000));
  timers.push(setTimeout(() => threads.forEach((t) => t.terminate()), 65_000));
  let exited = 0;
  for (const t of threads) {
    t.on('message', (r) => got.push(r));
    t.on('error', (e) => got.push({ error: e.message }));
    t.on('exit', () => { if (++exited === threads.length) { timers.forEach((t) => { clearTimeout(t); clearInterval(t); }); done(got); } });
  }
});

const u64 = (a) => dv.getBigUint64(a, true);
const counters = {};
for (const [name, idx] of Object.entries(C)) {
  if (!name.startsWith('STAT_')) continue;
  let sum = 0n;
  for (let c = 0; c < cpus; c++) sum += u64(m.percpu(c) + C.PC_STATS + 8 * idx);
  counters[name.slice(5).toLowerCase()] = String(sum);
}
const stopWord = dv.getUint32(HDR + C.H_STOP, true);
const stopCpu = dv.getUint32(HDR + C.H_STOP_CPU, true);
const error = results.find((r) => r.error)?.error ?? null;
const report = {
  ok: !error && stopWord === 0,
  error,
  stopped: results.some((r) => r.stopped),
  stop: stopWord,
  stopCpu: stopCpu === (C.STOP_CPU_NONE >>> 0) ? null : stopCpu,
  cpus, mode, strategy, workers, module,
  wallMs: Math.round(performance.now() - t0),
  iterations: Object.assign({}, ...results.map((r) => r.cpus ?? {})),
  clocks: [...Array(cpus).keys()].map((c) => String(u64(m.percpu(c) + C.PC_CLOCK))),
  counters,
};
console.log(JSON.stringify(report, null, 1));
process.exit(error ? 1 : 0);
