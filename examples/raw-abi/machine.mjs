// Lays out one emulated machine on a shared WebAssembly.Memory the way
// docs/abi.md "Laying out a machine" says, from the document's JSON block
// alone (abi-doc.mjs): header defaults, region formulas, per-CPU block,
// settings, the cost vector of a shipped profile, then machine_init().
import { readFileSync } from 'node:fs';
import { evaluate } from './abi-doc.mjs';

/** env.abort: the core's message (UTF-16, byte length at ptr - 4) as an exception */
export function coreImports(memory) {
  const str = (ptr) => {
    if (!ptr) return '';
    const len = new Uint32Array(memory.buffer, ptr - 4, 1)[0];
    return String.fromCharCode(...new Uint16Array(memory.buffer.slice(ptr, ptr + len)));
  };
  const noAsyncify = () => { throw new Error('asyncify.* called on the threads module: one CPU per thread only'); };
  return {
    env: { memory, abort: (msg, file, line, col) => { throw new Error(`core abort: ${str(msg)}${file ? ` at ${str(file)}:${line}:${col}` : ''}`); } },
    asyncify: { start_unwind: noAsyncify, stop_unwind: noAsyncify, start_rewind: noAsyncify, stop_rewind: noAsyncify },
  };
}

/**
 * opts: { cpus, mode: 'parallel' | 'deterministic', strategy: 'mmap_lock' | 'spf' | 'pervma' | 'spf_mmapseq',
 *         workers, module: 'mn' | 'threads', profile, seed, poke: { H_FIELD: value } (written after the layout:
 *         to show what machine_init refuses) }
 */
export function layMachine(doc, wasmBytes, opts) {
  const C = doc.constants;
  const k = (name) => { if (!(name in C)) throw new Error(`docs/abi.md has no constant ${name}`); return Number(C[name]); };
  const { cpus, workers } = opts;
  const profile = doc.profiles[opts.profile ?? 'default'];
  if (!profile) throw new Error(`docs/abi.md lists no profile ${opts.profile}`);

  // 1. the header words: documented defaults, then this machine's counts
  const hv = {};
  for (const f of doc.header) if (typeof f.default === 'number') hv[f.name] = f.default;
  Object.assign(hv, {
    H_MAGIC: k('LAYOUT_MAGIC'), H_VERSION: k('LAYOUT_VERSION'), H_NCPUS: cpus, H_NWORKERS: workers,
    H_MODE: opts.mode === 'deterministic' ? k('MODE_DETERMINISTIC') : k('MODE_PARALLEL'),
    H_STRATEGY: k(`STRATEGY_${opts.strategy.toUpperCase()}`),
    H_TOPO_SOCKETS: profile.topology.sockets, H_TOPO_CORES: profile.topology.coresPerSocket, H_TOPO_THREADS: profile.topology.threadsPerCore,
    H_GHZ_MILLI: Math.round(profile.ghz * 1000),
    // an Asyncify stack per CPU when a worker runs several CPUs (the mn module)
    H_ASYNC_SIZE: opts.module === 'mn' && workers < cpus ? doc.asyncStackBytes : 0,
  });
  hv.H_PERCPU_SIZE = evaluate(doc.percpu.size, doc, hv);

  // 2. the regions, in the documented order, each aligned
  let off = evaluate(doc.firstRegion, doc, hv);
  const regions = {};
  for (const r of doc.regions) {
    off = Math.ceil(off / r.align) * r.align;
    regions[r.name] = off;
    hv[r.base] = off;
    off += evaluate(r.bytes, doc, hv);
  }
  hv.H_TOTAL_BYTES = Math.ceil(off / 65536) * 65536;
  Object.assign(hv, opts.poke ?? {});

  const memory = new WebAssembly.Memory({ initial: Math.max(2, hv.H_TOTAL_BYTES / 65536), maximum: 65536, shared: true });
  const host = new WebAssembly.Instance(new WebAssembly.Module(wasmBytes.threads), coreImports(memory)).exports;
  const dv = new DataView(memory.buffer);
  const HDR = k('HDR_BASE');
  for (const f of doc.header) if (f.name in hv) dv.setUint32(HDR + k(f.name), hv[f.name] >>> 0, true);
  for (const s of doc.settings) {
    const v = s.byStrategy?.[`STRATEGY_${opts.strategy.toUpperCase()}`] ?? s.default;
    dv.setUint32(HDR + k('H_SETTINGS') + k(s.name), v >>> 0, true);
  }
  // 3. the cost vector (u32 in COST_* order)
  profile.costs.forEach((c, i) => dv.setUint32(regions.profile + 4 * i, c, true));
  // 4. workers: contiguous CPU ranges; each CPU: id, worker, topology, seed, runnable
  const workerOf = [];
  for (let w = 0; w < workers; w++) {
    const lo = Math.floor((w * cpus) / workers), hi = Math.floor(((w + 1) * cpus) / workers);
    const wk = regions.workers + w * k('WK_SIZE');
    dv.setUint32(wk + k('WK_FIRST'), lo, true);
    dv.setUint32(wk + k('WK_COUNT'), hi - lo, true);
    for (let c = lo; c < hi; c++) workerOf[c] = w;
  }
  const t = profile.topology;
  for (let c = 0; c < cpus; c++) {
    const pc = regions.percpu + c * hv.H_PERCPU_SIZE;
    const perSocketRow = t.sockets * t.coresPerSocket;
    dv.setUint32(pc + k('PC_ID'), c, true);
    dv.setUint32(pc + k('PC_WORKER'), workerOf[c], true);
    dv.setUint32(pc + k('PC_THREAD'), Math.floor(c / perSocketRow), true);
    dv.setUint32(pc + k('PC_SOCKET'), Math.floor((c % perSocketRow) / t.coresPerSocket), true);
    dv.setUint32(pc + k('PC_CORE'), (c % perSocketRow) % t.coresPerSocket, true);
    dv.setBigUint64(pc + k('PC_RNG'), BigInt(opts.seed ?? 1) * 0x9E3779B97F4A7C15n + BigInt(c + 1) & 0xffffffffffffffffn || 1n, true);
    dv.setUint32(pc + k('PC_STATE'), k('CPU_RUNNABLE'), true);
  }
  // 5. machine_init checks all of it (a bad field: env.abort naming it), then builds the machine
  host.machine_init();
  // 6. after machine_init: regular files' sizes (none here) and the shmem pool start empty
  for (let f = 0; f < hv.H_NFILES; f++) dv.setUint32(regions.files + f * k('FILE_SIZE') + k('FILE_NPAGES'), 0, true);
  return { memory, host, hv, regions, percpu: (c) => regions.percpu + c * hv.H_PERCPU_SIZE };
}

/** the .wasm files */
export function readCores(dir) {
  return { threads: readFileSync(new URL('faultline.wasm', dir)), mn: readFileSync(new URL('faultline-mn.wasm', dir)) };
}
