// Worker-thread entry (piscina): one host worker running emulated CPUs
// [first, first + tasks.length). It instantiates the core against the shared
// memory, binds to its worker block, starts every CPU's program and then
// drives the core's scheduler (assembly/sched.ts sched_run): the scheduler
// runs the CPUs as coroutines inside Wasm and comes back here only when one
// CPU's call returned, so the program of that CPU can post its next call.
// With one CPU per worker (the threads engine) the same loop runs one CPU.
//
// A trap while a CPU runs stops the run with that CPU named; a trap in the
// middle of a coroutine switch loses every CPU of this worker (their saved
// stacks cannot be trusted): that is reported, never left hanging.

import { instantiate } from './wasm.js';
import { programs, OpError } from './programs.js';
import { cpuCalls } from './engine/cpu-calls.js';
import type { CpuResult, CpuTask } from './machine.js';

/** what a host worker is given: the shared memory, the compiled core, its worker block and its CPUs' tasks */
export interface WorkerJob { memory: WebAssembly.Memory; module: WebAssembly.Module; worker: number; first: number; tasks: CpuTask[] }

/** what a worker reports: one result per CPU, and the crash that ended the run, if one of its CPUs crashed */
export interface WorkerResult {
  cpus: CpuResult[];
  crash?: { cpu: number; message: string; lostWorker: boolean };
  /** CPUs whose core call had not returned when the run ended (stopped inside the core: what they held is lost) */
  midCall: number[];
}

export default async function runWorker(job: WorkerJob): Promise<WorkerResult> {
  const inst = instantiate(job.memory, job.module);
  const { core, consts: C } = inst;
  const i32 = new Int32Array(job.memory.buffer);
  const word = (off: number) => (C.HDR_BASE + off) >>> 2;
  const stopped = () => Atomics.load(i32, word(C.H_STOP)) !== 0;
  const stopRun = (cpu: number) => {
    if (Atomics.compareExchange(i32, word(C.H_STOP), 0, C.STOP_CRASH) === 0) Atomics.store(i32, word(C.H_STOP_CPU), cpu);
    core.request_stop(C.STOP_CRASH); // wakes every worker (the reason stays the first one set)
  };
  const { first, tasks } = job;
  const results: (CpuResult | undefined)[] = new Array(tasks.length);

  core.sched_worker_bind(job.worker);
  // start together: worker threads come up tens of ms apart in real time
  const want = Atomics.load(i32, word(C.H_RENDEZVOUS));
  if (want > 0) {
    if (Atomics.add(i32, word(C.H_STARTED), 1) + 1 >= want) Atomics.notify(i32, word(C.H_STARTED));
    // retry: another worker is still starting (the safety timeout re-checks stop)
    else for (;;) {
      const v = Atomics.load(i32, word(C.H_STARTED));
      if (v >= want || stopped()) break;
      Atomics.wait(i32, word(C.H_STARTED), v, 50);
    }
  }

  // ---- the programs: each awaits its calls; `turn` is the loop waiting for the CPU it resumed ----
  const settles = new Map<number, () => void>();
  let turnDone: (() => void) | null = null;
  const turn = () => new Promise<void>((r) => { turnDone = r; });
  const endTurn = () => { const t = turnDone; turnDone = null; t?.(); };
  const onPost = (cpu: number, settle: () => void) => { settles.set(cpu, settle); endTurn(); };

  for (let i = 0; i < tasks.length; i++) {
    const cpu = first + i;
    const task = tasks[i];
    const prog = programs[task.program];
    if (!prog) {
      results[i] = { cpu, ok: false, error: `unknown program "${task.program}"` };
      stopRun(cpu);
      continue;
    }
    const t = turn();
    const ctx = { core: cpuCalls(core, inst.memory, cpu, onPost), consts: C, memory: inst.memory };
    Promise.resolve()
      .then(() => prog(ctx, cpu, task.args ?? {}))
      .then((value) => {
        core.sched_cpu_finish(cpu);
        results[i] = { cpu, ok: true, value };
      }, (e: unknown) => {
        results[i] = { cpu, ok: false, error: e instanceof Error ? e.message : String(e) };
        // a bad op found between two core calls (programs.ops): this CPU's program ends
        // and the core is consistent, so the CPU finishes and the others run on
        if (e instanceof OpError) core.sched_cpu_finish(cpu);
        else stopRun(cpu);
      })
      .finally(endTurn);
    await t;
  }

  let crash: WorkerResult['crash'];
  // one round per returned call: hand the result to its program, wait until it posted the next call or ended
  for (;;) {
    let r: number;
    try {
      r = core.sched_run();
    } catch (e) {
      const cpu = core.sched_current() as number;
      if (!(stopped() && e instanceof WebAssembly.RuntimeError)) {
        // a trap or a core abort while `cpu` ran (or mid-switch: Asyncify state not normal)
        const lostWorker = typeof core.asyncify_get_state === 'function' && core.asyncify_get_state() !== 0;
        crash = { cpu, message: e instanceof Error ? e.message : String(e), lostWorker };
        stopRun(cpu);
      }
      break;
    }
    if (r === C.SCHED_DONE || r === C.SCHED_STOPPED) break;
    const settle = settles.get(r);
    if (!settle) throw new Error(`worker ${job.worker}: the scheduler returned cpu ${r}, which had no call`);
    settles.delete(r);
    const t = turn();
    settle();
    await t;
  }
  const cpus = tasks.map((_, i) => results[i] ?? { cpu: first + i, ok: false, stopped: true, error: 'stopped' });
  if (crash) {
    const i = crash.cpu - first;
    if (i >= 0 && i < cpus.length) cpus[i] = { cpu: crash.cpu, ok: false, error: crash.message };
  }
  return { cpus, crash, midCall: [...settles.keys()] };
}
