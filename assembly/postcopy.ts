// The postcopy workload (live migration with userfaultfd, as QEMU does it):
// the guest's memory is registered MISSING (or MINOR over a shmem file whose
// page cache was filled through a second mapping); vCPUs (toucher CPUs)
// write random pages of it; handler CPUs read the messages, spend their
// per-message cost (receiving the page) and resolve with UFFDIO_COPY (or
// UFFDIO_CONTINUE). A page two vCPUs fault at once is resolved once: the
// second resolution gets -EEXIST and only wakes (UFFDIO_WAKE), as QEMU does.

import { now, charge, rand_below } from './cpu';
import { sync_point } from './wait';
import { PAGE_SIZE } from './layout';
import { access } from './access';
import {
  uffd_read, uffd_fault_side_done, uffd_last_latency, uffd_last_woken, uffdio_copy, uffdio_continue, uffdio_wake, uffdio_zeropage,
  uffdio_writeprotect, UFFD_PAGEFAULT_FLAG_WP, UFFD_PAGEFAULT_FLAG_WRITE,
} from './userfaultfd';

const EEXIST: i32 = 17;

/**
 * A vCPU: `touches` writes to random pages of [base, base + npages pages).
 * Every access that went through the handler records its resolution latency
 * (virtual cycles from the message to the wake-up, saturated to u32) at
 * `lat` (room for `lat_cap`). Then tells the handlers (the u32 at `running`)
 * it is done. Returns the number of latencies recorded, or -(VM_FAULT_*).
 */
export function wl_postcopy_touch(mm: u32, ctx: u32, base: u64, npages: u32, touches: u32, running: u32, lat: u32, lat_cap: u32): i64 {
  let n: u32 = 0;
  let err: i64 = 0;
  for (let i: u32 = 0; i < touches; i++) {
    const a = base + rand_below(<u64>npages) * PAGE_SIZE;
    const t0 = now();
    const r = access(mm, a, true);
    if (r != 0) { err = -<i64>r; break; }
    // this access waited for a handler: its wake-up came after t0
    if (uffd_last_woken() > t0 && n < lat_cap) {
      const l = uffd_last_latency();
      store<u32>(lat + n * 4, l > 0xffffffff ? 0xffffffff : <u32>l);
      n++;
    }
    if ((i & 63) == 63) sync_point();
  }
  uffd_fault_side_done(ctx, running);
  return err != 0 ? err : <i64>n;
}

/**
 * A handler thread: read a message, spend `msg_cycles` (the page's transfer
 * and the handler's own work), resolve the page (mode 0: UFFDIO_COPY from a
 * buffer it owns, 1: UFFDIO_CONTINUE, 2 (the stress): by message, WP clears the
 * uffd-wp bit, a read gets the zero page, a write a copy), UFFDIO_WAKE after -EEXIST. Ends when
 * every vCPU is done (the u32 at `running` is 0) and nothing is pending.
 * Returns the messages it resolved, or -errno of a failed resolution.
 */
export function wl_uffd_handler(ctx: u32, mode: u32, msg_cycles: u64, running: u32): i64 {
  let n: i64 = 0;
  // retry: one message per round until the faulting side is done
  while (true) {
    const m = uffd_read(ctx, running);
    if (m < 0) break;
    charge(msg_cycles);
    const a = <u64>m & ~(<u64>PAGE_SIZE - 1);
    let r: i32;
    if (mode == 1) r = uffdio_continue(ctx, a, PAGE_SIZE, 0);
    else if (mode == 2 && (<u32>m & UFFD_PAGEFAULT_FLAG_WP) != 0) r = uffdio_writeprotect(ctx, a, PAGE_SIZE, 0);
    else if (mode == 2 && (<u32>m & UFFD_PAGEFAULT_FLAG_WRITE) == 0) r = uffdio_zeropage(ctx, a, PAGE_SIZE, 0);
    else r = uffdio_copy(ctx, a, 0, PAGE_SIZE, 0);
    // -EEXIST: resolved already (two faults on one page); mode 2 (the stress): any failure
    // (the range was unmapped or unregistered meanwhile) only wakes, and the fault retries
    if (r == -EEXIST || (r != 0 && mode == 2)) uffdio_wake(ctx, a, PAGE_SIZE);
    else if (r != 0) return <i64>r;
    n++;
    sync_point();
  }
  return n;
}
