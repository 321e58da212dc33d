// Worker-thread entry (piscina): one emulated CPU. Instantiates the core
// against the shared memory, binds to its CPU id, runs its program and
// reports. A trap while the machine is stopping is a clean stop, not a crash.

import { instantiate } from './wasm.js';
import { programs } from './programs.js';
import type { CpuResult, CpuTask } from './machine.js';

interface Job { memory: WebAssembly.Memory; module: WebAssembly.Module; cpu: number; task: CpuTask }

export default function runCpu(job: Job): CpuResult {
  const inst = instantiate(job.memory, job.module);
  const { core, consts: C } = inst;
  const u32 = new Uint32Array(job.memory.buffer);
  const stopped = () => u32[(C.HDR_BASE + C.H_STOP) >>> 2] !== 0;
  const prog = programs[job.task.program];
  if (!prog) return { cpu: job.cpu, ok: false, error: `unknown program "${job.task.program}"` };
  try {
    core.cpu_bind(job.cpu);
    core.cpu_start();
    const value = prog(inst, job.cpu, job.task.args ?? {});
    core.cpu_finish();
    return { cpu: job.cpu, ok: true, value };
  } catch (e) {
    if (stopped() && e instanceof WebAssembly.RuntimeError) return { cpu: job.cpu, ok: false, stopped: true, error: 'stopped' };
    // tell the other CPUs to stop: this run is over
    const i32 = new Int32Array(job.memory.buffer);
    Atomics.compareExchange(i32, (C.HDR_BASE + C.H_STOP) >>> 2, 0, C.STOP_CRASH);
    Atomics.store(i32, (C.HDR_BASE + C.H_STOP_CPU) >>> 2, job.cpu);
    throw e;
  }
}
