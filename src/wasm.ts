// Loading the core: the compiled module, its exports, and the layout constants
// it exports (offsets have ONE definition: assembly/layout.ts).

import { platform } from './platform.js';
import { CALL_TABLE_HASH } from './engine/calls.js';
import { counterNames } from './stats.js';

/**
 * The two builds of the core, from the same sources (scripts/build-wasm.mjs):
 * 'threads' runs one emulated CPU per host worker and is also the host's own
 * instance; 'mn' is the Asyncify build that runs many CPUs per worker.
 */
export type Build = 'threads' | 'mn';
/**
 * Each in three variants (assembly/build_flags.ts): 'release' carries only what
 * runs, with no observability hook on its fault path; 'observe' adds the hooks
 * of lock_stat, the timeline and the flame graph (assembly/obs.ts); 'test' adds
 * to those the t_* loops and the test controls on hot paths (header flags,
 * planted bugs). A machine uses the observe core only when it records something
 * (MachineConfig.observe), the test core only when it asks for a test control
 * or when FAULTLINE_CORE=test (the test suite sets it: vitest.config.ts; =observe
 * runs the observe core where the release one would run). The
 * package ships release and observe (the web page too).
 */
export type Variant = 'release' | 'observe' | 'test';
/** file names of the builds (build/ in the package; release and observe next to the page in dist/web/) */
export const CORE_FILES: Readonly<Record<Variant, Readonly<Record<Build, string>>>> = Object.freeze({
  release: Object.freeze({ threads: 'faultline.wasm', mn: 'faultline-mn.wasm' }),
  observe: Object.freeze({ threads: 'faultline-observe.wasm', mn: 'faultline-observe-mn.wasm' }),
  test: Object.freeze({ threads: 'faultline-test.wasm', mn: 'faultline-test-mn.wasm' }),
});
/** the variant a machine uses when nothing it asks for needs the observe or test core */
export function defaultVariant(): Variant {
  // no `process` in a browser
  const v = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.FAULTLINE_CORE;
  return v === 'test' || v === 'observe' ? v : 'release';
}
export function coreModule(build: Build = 'threads', variant: Variant = defaultVariant()): WebAssembly.Module {
  return platform().coreModule(build, variant);
}

/** Numeric constants the module exports (layout offsets, STAT_*, COST_*...). */
export type Consts = Record<string, number>;

/** The functions of the core (typed loosely: i64 results are bigint). */
export type Core = Record<string, (...a: any[]) => any> & { memory?: never };

export interface Instance { core: Core; consts: Consts; memory: WebAssembly.Memory }

function readString(mem: WebAssembly.Memory, ptr: number): string {
  if (!ptr) return '';
  const u8 = new Uint8Array(mem.buffer);
  const len = new Uint32Array(mem.buffer, ptr - 4, 1)[0] >>> 1;
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCharCode(u8[ptr + 2 * i] | (u8[ptr + 2 * i + 1] << 8));
  return s;
}

export class CoreAbort extends Error {}

/** The imports of the core: the shared memory, abort, and (threads build) the asyncify stubs. */
export function coreImports(memory: WebAssembly.Memory): WebAssembly.Imports {
  return {
    env: {
      memory,
      abort(msg: number, file: number, line: number, col: number) {
        // the core's own checks (machine_init, sched_*) pass no file: their message names the field
        throw new CoreAbort(`core abort: ${readString(memory, msg)}${file ? ` at ${readString(memory, file)}:${line}:${col}` : ''}`);
      },
    },
    // the threads build imports these (the M:N build has them inside); with one CPU
    // per worker nothing ever switches, so a call means a broken build
    asyncify: Object.fromEntries(['start_unwind', 'stop_unwind', 'start_rewind', 'stop_rewind'].map((n) => [n, () => {
      throw new CoreAbort(`core abort: asyncify.${n} called in the build without Asyncify (more than one CPU on a threads-engine worker?)`);
    }])),
  };
}

export function instantiate(memory: WebAssembly.Memory, module: WebAssembly.Module = coreModule()): Instance {
  const inst = new WebAssembly.Instance(module, coreImports(memory));
  const core: Record<string, any> = {};
  const consts: Consts = {};
  for (const [k, v] of Object.entries(inst.exports)) {
    if (typeof v === 'function') core[k] = v;
    else if (v instanceof WebAssembly.Global) consts[k] = Number(v.value);
  }
  checkCoreMatchesHost(consts);
  return { core: core as Core, consts, memory };
}

/**
 * A core built from other sources than this host (an old build/ after a
 * rebase) would post calls to the wrong functions or read counters at the
 * wrong indices, and a run could hang with no message: refuse it here.
 */
export class StaleCoreError extends Error {}
export function checkCoreMatchesHost(c: Consts): void {
  const why = (c.CALL_TABLE_HASH >>> 0) !== CALL_TABLE_HASH ? 'its call table differs from src/engine/calls.ts'
    : c.NSTATS !== counterNames().length ? `it has ${c.NSTATS} counters, spec/counters.json ${counterNames().length}` : undefined;
  if (why) throw new StaleCoreError(`faultline: the core in build/ was built from other sources than this host (${why}): run "npm run build"`);
}

/** Layout constants without a machine: instantiate against a scratch memory. */
let constsCache: Consts | undefined;
export function layoutConsts(): Consts {
  if (!constsCache) {
    const mem = new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: true });
    constsCache = instantiate(mem).consts;
  }
  return constsCache;
}
