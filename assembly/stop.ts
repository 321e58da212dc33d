// Stop: the host, a deadlock, a crash or the virtual-cycle bound ends the run;
// every CPU sees the stop word at its next check and unwinds by trapping.

import { HDR_BASE, H_STOP, H_STOP_CPU, STOP_NONE, STOP_CPU_NONE } from './layout';
import { NCPUS } from './cpu';
import { WK, wake_cpu_raw, sched_current } from './runq';

/** Stop requested (host, deadlock, crash)? Unwind by trapping: the worker sees the stop flag. */
@inline export function check_stop(): void {
  if (atomic.load<u32>(HDR_BASE + H_STOP) != STOP_NONE) unreachable();
}

/** Ask every CPU to stop with `reason`, remember who asked, wake everyone. */
export function request_stop(reason: u32): void {
  if (atomic.cmpxchg<u32>(HDR_BASE + H_STOP, STOP_NONE, reason) == STOP_NONE) {
    // the CPU running on this instance now; STOP_CPU_NONE from a worker's scheduler or the host
    atomic.store<u32>(HDR_BASE + H_STOP_CPU, WK != 0 ? <u32>sched_current() : STOP_CPU_NONE);
  }
  for (let c: u32 = 0; c < NCPUS; c++) wake_cpu_raw(c);
}
