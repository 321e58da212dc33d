// Loading the core: the compiled module, its exports, and the layout constants
// it exports (offsets have ONE definition: assembly/layout.ts).

import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** package root, found from this file whether it runs from src/ (vitest) or dist/src/ */
export function packageRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json'))) {
    const p = dirname(d);
    if (p === d) throw new Error('faultline: cannot find the package root');
    d = p;
  }
  return d;
}

/**
 * The two builds of the core, from the same sources (scripts/build-wasm.mjs):
 * 'threads' runs one emulated CPU per host worker and is also the host's own
 * instance; 'mn' is the Asyncify build that runs many CPUs per worker.
 */
export type Build = 'threads' | 'mn';
/**
 * Each in two variants (assembly/build_flags.ts): 'release' carries only what
 * runs; 'test' adds the t_* loops and the test controls on hot paths (header
 * flags, planted bugs). A machine uses the test core only when it asks for one
 * of those, or when FAULTLINE_CORE=test (the test suite sets it: vitest.config.ts).
 */
export type Variant = 'release' | 'test';
const FILES: Record<Variant, Record<Build, string>> = {
  release: { threads: 'faultline.wasm', mn: 'faultline-mn.wasm' },
  test: { threads: 'faultline-test.wasm', mn: 'faultline-test-mn.wasm' },
};
/** the variant a machine uses when nothing it asks for needs the test core */
export function defaultVariant(): Variant {
  const v = process.env.FAULTLINE_CORE;
  return v === 'test' ? 'test' : 'release';
}
const cached = new Map<string, WebAssembly.Module>();
export function coreFile(build: Build = 'threads', variant: Variant = defaultVariant()): string {
  return join(packageRoot(), 'build', FILES[variant][build]);
}
export function coreModule(build: Build = 'threads', variant: Variant = defaultVariant()): WebAssembly.Module {
  const file = coreFile(build, variant);
  let m = cached.get(file);
  if (!m) {
    if (!existsSync(file)) throw new Error(`faultline: ${file} is missing; run "npm run build" first`);
    m = new WebAssembly.Module(readFileSync(file));
    cached.set(file, m);
  }
  return m;
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
        throw new CoreAbort(`core abort: ${readString(memory, msg)} at ${readString(memory, file)}:${line}:${col}`);
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
  return { core: core as Core, consts, memory };
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
