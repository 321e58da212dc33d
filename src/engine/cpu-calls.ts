// The host side of a CPU's calls into the core (M:N engine and threads engine
// alike): a program (src/programs.ts) calls `core.sys_mmap(...)` and awaits
// the result; the call is posted to the CPU (id + u64 argument slots, see
// assembly/calls.ts) and runs inside the worker's scheduler, where it may park
// and let the worker's other CPUs run. The result comes back when the
// scheduler reports that CPU (src/worker.ts).

import { CALLS, type CallSig } from './calls.js';
import type { Core } from '../wasm.js';

/** What a program sees as `core`: every function of spec/calls.json, asynchronous. */
export type CpuCalls = Record<string, (...a: any[]) => Promise<any>>;

const isWide = (t: string) => t === 'u64' || t === 'i64';

/** Write the arguments of `sig` into the argument slots at `addr` (u64 each). */
function writeArgs(mem: WebAssembly.Memory, addr: number, name: string, sig: CallSig, args: unknown[]): void {
  if (args.length !== sig.params.length) throw new Error(`core.${name}: ${sig.params.length} arguments expected, got ${args.length}`);
  const u32 = new Uint32Array(mem.buffer);
  const i64 = new BigInt64Array(mem.buffer);
  sig.params.forEach((t, i) => {
    const v = args[i];
    const slot = addr + 8 * i;
    if (isWide(t)) i64[slot >>> 3] = BigInt.asIntN(64, typeof v === 'bigint' ? v : BigInt(v as number));
    else {
      u32[slot >>> 2] = t === 'bool' ? (v ? 1 : 0) : Number(v) >>> 0;
      u32[(slot >>> 2) + 1] = 0;
    }
  });
}

/** A call's result as a direct call of the export would give it: i64 as a (signed) bigint, 32-bit types as signed numbers. */
export function readResult(core: Core, cpu: number, sig: CallSig): unknown {
  if (sig.result === 'void') return undefined;
  const r = core.sched_call_result(cpu) as bigint;
  return isWide(sig.result) ? r : Number(BigInt.asIntN(32, r));
}

/**
 * The calls of CPU `cpu`: each posts the call to the core and returns a
 * promise that `settle` (called by the worker loop when the scheduler reports
 * this CPU's call returned) resolves.
 */
export function cpuCalls(core: Core, mem: WebAssembly.Memory, cpu: number, onPost: (cpu: number, settle: () => void) => void): CpuCalls {
  const calls: CpuCalls = {};
  // the test core exports its t_* loops; the released one has none (assembly/build_flags.ts)
  const testCore = Object.keys(core).some((k) => k.startsWith('t_'));
  for (const [name, sig] of Object.entries(CALLS)) {
    if (sig.test && !testCore) {
      calls[name] = () => Promise.reject(new Error(`core.${name} exists only in the test core (Machine config core: 'test', or FAULTLINE_CORE=test)`));
      continue;
    }
    calls[name] = (...args: unknown[]) => new Promise((resolve) => {
      writeArgs(mem, core.sched_call_args(cpu) as number, name, sig, args);
      core.sched_post_call(cpu, sig.id);
      onPost(cpu, () => resolve(readResult(core, cpu, sig)));
    });
  }
  return calls;
}
