// The M:N engine's coroutines (Binaryen Asyncify): a CPU's call runs on its
// worker until it parks or yields (sched_switch unwinds its stack into its own
// buffer) and is resumed later by rewinding. The installed host-call table is the
// coroutine's bottom frame. The `asyncify` imports are replaced by Asyncify's own
// functions, so a switch never leaves Wasm.

import { HDR_BASE, H_ASYNC_SIZE, H_ASYNC_BASE, PC_CALL, PC_CALL_ARGS, PC_CALL_RESULT, WK_ASYNC_HIGH } from './layout';
import { PC, cpu_id, cpu_local } from './cpu';
import { WK, COUNT, rq_flags, RQ_SUSPENDED } from './runq';

@external("asyncify", "start_unwind") declare function asyncify_start_unwind(data: usize): void;
@external("asyncify", "stop_unwind") declare function asyncify_stop_unwind(): void;
@external("asyncify", "start_rewind") declare function asyncify_start_rewind(data: usize): void;
@external("asyncify", "stop_rewind") declare function asyncify_stop_rewind(): void;

let REWINDING = false;
let UNWOUND = false;

@inline function async_buf(c: u32): u32 { return load<u32>(HDR_BASE + H_ASYNC_BASE) + c * load<u32>(HDR_BASE + H_ASYNC_SIZE); }

/**
 * Suspend the current CPU (its state says why: WAITING, AT_BARRIER or
 * RUNNABLE) and return to sched_run(); returns when the scheduler resumes
 * it. Asyncify's "top-most runtime": it calls start_unwind / stop_rewind, so
 * it is not instrumented but every caller is. MUST NOT be inlined
 * (scripts/noinline.mjs): inlined, its callers would be skipped and a switch
 * would silently corrupt them.
 */
export function sched_switch(): void {
  if (REWINDING) { REWINDING = false; asyncify_stop_rewind(); return; }
  UNWOUND = true;
  asyncify_start_unwind(async_buf(cpu_id()));
}

/** The host-call table: runs call `id` with its argument slots at `args` (calls.ts dispatch_call). */
export type CallTable = (id: u32, args: u32) => i64;
function no_call_table(id: u32, args: u32): i64 { abort('no host-call table installed (sched_set_call_table)'); return 0; }
// Installed by the module's entry (index.ts; the test build's test/index.ts adds the
// t_* calls): the scheduler below every kernel file does not import the calls above them.
let CALLS: CallTable = no_call_table;
let NCALLS: u32 = 0; // ids 0 .. NCALLS - 1 exist in this build
export function sched_set_call_table(t: CallTable, ncalls: u32): void { CALLS = t; NCALLS = ncalls; }
/** calls of the installed table (ids 0 .. call_count() - 1) */
@inline export function call_count(): u32 { return NCALLS; }

/**
 * The coroutine's bottom frame: run the call the host posted for the current
 * CPU. MUST NOT be inlined into coroutine_run (scripts/noinline.mjs):
 * coroutine_run is Asyncify's "bottom-most runtime" and is not instrumented.
 */
function cpu_entry(): void {
  const r = CALLS(load<u32>(PC + PC_CALL), PC + PC_CALL_ARGS);
  store<i64>(PC + PC_CALL_RESULT, r);
}

/** Start CPU `c`'s posted call, or resume it where it was suspended; returns when it returns or switches away. */
export function coroutine_run(c: u32): void {
  if (COUNT > 1) { // (with one CPU nothing unwinds, and the host sized no stacks)
    const buf = async_buf(c);
    if ((rq_flags(c) & RQ_SUSPENDED) != 0) {
      REWINDING = true;
      asyncify_start_rewind(buf);
    } else {
      store<u32>(buf, buf + 8); // Asyncify data: current position, end
      store<u32>(buf + 4, buf + load<u32>(HDR_BASE + H_ASYNC_SIZE));
    }
  }
  cpu_entry();
}

/** After coroutine_run(c): did the call switch away (true) rather than return? Records the stack high-water mark. */
export function coroutine_suspended(c: u32): bool {
  if (!UNWOUND) return false;
  UNWOUND = false;
  asyncify_stop_unwind();
  const l = cpu_local();
  const used = load<u32>(async_buf(c)) - (async_buf(c) + 8);
  if (used > l.async_high) {
    l.async_high = used;
    if (used > atomic.load<u32>(WK + WK_ASYNC_HIGH)) atomic.store<u32>(WK + WK_ASYNC_HIGH, used);
  }
  return true;
}
