// One host thread (worker_threads): instantiate a core module on the shared
// memory, bind to host worker `worker`, meet the other threads, post one call
// per CPU and drive sched_run() until every CPU finished or the run stopped.
import { parentPort, workerData } from 'node:worker_threads';
import { coreImports } from './machine.mjs';

const { memory, wasm, worker, call, args, C } = workerData;
const core = new WebAssembly.Instance(new WebAssembly.Module(wasm), coreImports(memory)).exports;
const i32 = new Int32Array(memory.buffer);
const dv = new DataView(memory.buffer);
const word = (off) => (C.HDR_BASE + off) >>> 2;
const stopped = () => Atomics.load(i32, word(C.H_STOP)) !== 0;

const out = { worker, cpus: {}, stopped: false, error: null };
try {
  core.sched_worker_bind(worker);
  // start together: bump H_STARTED; the last one wakes the others (timed waits re-check the stop word)
  const want = Atomics.load(i32, word(C.H_RENDEZVOUS));
  if (Atomics.add(i32, word(C.H_STARTED), 1) + 1 >= want) Atomics.notify(i32, word(C.H_STARTED));
  else for (let v; (v = Atomics.load(i32, word(C.H_STARTED))) < want && !stopped();) Atomics.wait(i32, word(C.H_STARTED), v, 50);

  const wk = dv.getUint32(C.HDR_BASE + C.H_WORKERS_BASE, true) + worker * C.WK_SIZE;
  const first = dv.getUint32(wk + C.WK_FIRST, true), count = dv.getUint32(wk + C.WK_COUNT, true);
  for (let c = first; c < first + count; c++) {
    // arguments: one u64 slot each, in order
    const a = core.sched_call_args(c);
    args.forEach((v, i) => dv.setBigUint64(a + 8 * i, BigInt(v), true));
    core.sched_post_call(c, call);
  }
  for (;;) {
    let r;
    try {
      r = core.sched_run();
    } catch (e) {
      // a stop unwinds a CPU that is inside a call by a trap: that is the stop, not an error
      if (stopped()) { out.stopped = true; break; }
      throw e;
    }
    if (r === C.SCHED_DONE) break;
    if (r === C.SCHED_STOPPED) { out.stopped = true; break; }
    out.cpus[r] = String(core.sched_call_result(r)); // the call returned: this program has one call, so the CPU is done
    core.sched_cpu_finish(r);
  }
} catch (e) {
  out.error = e instanceof Error ? e.message : String(e);
  // stop the others: H_STOP from 0 to STOP_CRASH, then wake every CPU and worker
  if (Atomics.compareExchange(i32, word(C.H_STOP), 0, C.STOP_CRASH) === 0) { try { core.request_stop(C.STOP_CRASH); } catch { /* not bound */ } }
}
parentPort.postMessage(out);
