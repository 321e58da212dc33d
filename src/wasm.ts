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

let cached: WebAssembly.Module | undefined;
export function coreModule(): WebAssembly.Module {
  if (!cached) {
    const file = join(packageRoot(), 'build', 'faultline.wasm');
    if (!existsSync(file)) throw new Error(`faultline: ${file} is missing; run "npm run build" first`);
    cached = new WebAssembly.Module(readFileSync(file));
  }
  return cached;
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

export function instantiate(memory: WebAssembly.Memory, module: WebAssembly.Module = coreModule()): Instance {
  const inst = new WebAssembly.Instance(module, {
    env: {
      memory,
      abort(msg: number, file: number, line: number, col: number) {
        throw new CoreAbort(`core abort: ${readString(memory, msg)} at ${readString(memory, file)}:${line}:${col}`);
      },
    },
  });
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
