// Programs a CPU can run: the host side of a workload. Each drives the core
// one operation at a time; inner loops live in Wasm (assembly/workloads.ts,
// and the test core's t_* loops in assembly/test/), so the JS<->Wasm boundary
// is crossed per operation.
// A program awaits each call: inside the engine the call may park its CPU
// and let the other CPUs of the worker run (src/worker.ts).

import type { Consts } from './wasm.js';
import type { CpuCalls } from './engine/cpu-calls.js';
import { UsageError } from './types.js';

/** what a program works with: its CPU's calls into the core (spec/calls.json), the layout constants, the memory */
export interface ProgramContext { core: CpuCalls; consts: Consts; memory: WebAssembly.Memory }
export type Program = (inst: ProgramContext, cpu: number, args: Record<string, unknown>) => Promise<unknown>;

const num = (a: Record<string, unknown>, k: string, d?: number): number => {
  const v = a[k] ?? d;
  if (typeof v !== 'number') throw new Error(`program argument ${k} missing`);
  return v;
};

/** `n` u32 counters at `addr`, by the names of the `prefix`-ed constants the core exports (R_*, W_*) */
function counters(inst: ProgramContext, addr: number, prefix: string): Record<string, number> {
  const u32 = new Uint32Array(inst.memory.buffer);
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(inst.consts)) {
    if (k.startsWith(prefix) && k !== `${prefix}NCOUNTERS`) out[k.slice(prefix.length).toLowerCase()] = u32[(addr >>> 2) + v];
  }
  return out;
}

export const programs: Record<string, Program> = {
  // the micro-workloads' loops (assembly/workloads.ts; released core): each returns its iterations
  /** lock-protected non-atomic increments (the spinlock workload) */
  lockInc: async ({ core }, _cpu, a) => Number(await core.wl_lock_inc(num(a, 'lock'), num(a, 'counter'), num(a, 'iters'))),
  /** rwsem readers and writers (mmap-read, mmap-mixed) */
  rwsemMix: async ({ core }, _cpu, a) => Number(await core.wl_rwsem_mix(num(a, 'sem'), num(a, 'counter'), num(a, 'iters'), num(a, 'writePct', 10))),
  /** atomic increments on one modeled line (atomic-shared, atomic-private) */
  atomicInc: async ({ core }, _cpu, a) => Number(await core.wl_atomic_inc(num(a, 'line'), num(a, 'ctr'), num(a, 'iters'))),
  /** frame allocator churn; returns the number of double hand-outs seen */
  frameChurn: async ({ core }, _cpu, a) => await core.t_frame_churn(num(a, 'iters'), num(a, 'hold'), num(a, 'scratch')),
  /** page-table page allocator churn; returns the number of double hand-outs seen */
  ptpageChurn: async ({ core }, _cpu, a) => await core.t_ptpage_churn(num(a, 'iters'), num(a, 'hold'), num(a, 'scratch')),
  /** rounds of pte_alloc_walk racing on fresh tables (`sync`: a zeroed shared u32); returns the number of failed walks */
  pteAllocRace: async ({ core }, _cpu, a) =>
    await core.t_pte_alloc_race(num(a, 'mm', 0), num(a, 'rounds'), num(a, 'perRound'), num(a, 'sync')),
  /**
   * VMA index writer: random link/unlink/split/merge in [base, base + npages
   * pages) under mmap_lock (after linking `populate` VMAs first, if given),
   * `lookups` own lockless lookups per op; decrements
   * the u32 at `running` when done. `out` needs 4 * (W_NCOUNTERS +
   * R_NCOUNTERS) bytes. Returns {writer, reader} counters.
   */
  vmaChurn: async (inst, _cpu, a) => {
    const out = num(a, 'out');
    const rout = out + 4 * inst.consts.W_NCOUNTERS;
    // optional start: `populate` VMAs of 3 pages, 4 pages apart, from `base`
    if (num(a, 'populate', 0) > 0) await inst.core.t_vma_populate(num(a, 'mm', 0), BigInt(num(a, 'base')), num(a, 'populate'), 3, 4);
    await inst.core.t_vma_churn(num(a, 'mm', 0), BigInt(num(a, 'base')), num(a, 'npages'), num(a, 'iters'),
      num(a, 'lookups', 0), out, rout, num(a, 'syncAtEnd', 0), num(a, 'running', 0));
    return { writer: counters(inst, out, 'W_'), reader: counters(inst, rout, 'R_') };
  },
  /**
   * lockless VMA readers: validated lookups (getPct % through get_vma), at
   * least `iters`, and on while the u32 at `running` (writers left) is non-zero.
   * `out` needs 4 * R_NCOUNTERS bytes.
   */
  vmaReader: async (inst, _cpu, a) => {
    const out = num(a, 'out');
    await inst.core.t_vma_reader(num(a, 'mm', 0), BigInt(num(a, 'base')), num(a, 'npages'), num(a, 'iters'),
      num(a, 'getPct', 0), num(a, 'hold', 0), out, num(a, 'running', 0));
    return { reader: counters(inst, out, 'R_') };
  },
  /** VMA lookup benchmark: returns the virtual cycles spent (string: u64) */
  vmaLookup: async ({ core }, _cpu, a) => String(await core.t_vma_lookup(num(a, 'mm', 0), BigInt(num(a, 'base')), num(a, 'npages'),
    num(a, 'iters'), num(a, 'lockless', 1))),
};

/** the IPI/PTL deadlock scenario: CPU A holds a lock and shoots down; CPU B wants the lock with IRQs off */
programs.lockThenShootdown = async ({ core }, _cpu, a) => { await core.t_lock_then_shootdown(num(a, 'lock'), num(a, 'mm'), num(a, 'other')); return null; };
programs.spinIrqOff = async ({ core }, _cpu, a) => await core.t_spin_irqoff(num(a, 'lock'), num(a, 'relax')) >>> 0;

// ---- workload programs (the loops are in assembly/workloads.ts) ----
const big = (a: Record<string, unknown>, k: string, d?: number): bigint => BigInt(num(a, k, d));
/** What a workload loop returned: iterations, or the failure it stopped on (the errno of a syscall, or an access's VM_FAULT_* bits). */
export interface LoopResult { iters: number; error?: string; errno?: number; vmFault?: number }
function loopResult(r: bigint): LoopResult {
  if (r >= 0n) return { iters: Number(r) };
  const v = -r;
  if (v >= 65536n) return { iters: 0, error: `syscall failed: errno ${v >> 16n}`, errno: Number(v >> 16n) };
  return { iters: 0, error: `access failed: VM_FAULT 0x${v.toString(16)}`, vmFault: Number(v) };
}
const BUDGET_MAX = 2 ** 50;


// the fault workloads' configuration is a struct wl_args the host wrote (`wl`: src/workloads.ts wlArgs); what differs per CPU stays an argument
programs.pageFault = async ({ core }, _cpu, a) => loopResult(await core.wl_page_fault(num(a, 'mm', 0), num(a, 'file', 0), big(a, 'at', 0), num(a, 'wl')));
programs.mmapLoop = async ({ core }, _cpu, a) => loopResult(await core.wl_mmap(num(a, 'mm', 0), num(a, 'file', 0), num(a, 'wl')));
programs.tlbFlush = async ({ core }, _cpu, a) => loopResult(await core.wl_tlb_flush(num(a, 'mm', 0), num(a, 'file', 0), num(a, 'wl')));
programs.touch = async ({ core }, _cpu, a) => loopResult(await core.wl_touch(num(a, 'mm', 0), big(a, 'base'), big(a, 'size'), num(a, 'write', 1),
  big(a, 'budget', BUDGET_MAX), big(a, 'maxIters', BUDGET_MAX)));
programs.ebizzy = async ({ core }, cpu, a) => loopResult(await core.wl_ebizzy(num(a, 'mm', 0), cpu, num(a, 'window'), num(a, 'wl')));
/** pft rounds (assembly/workloads.ts wl_pft): faults timed alone, between two barriers */
programs.pft = async ({ core }, cpu, a) => loopResult(await core.wl_pft(num(a, 'mm', 0), cpu, num(a, 'window'), num(a, 'wl')));
programs.mapbench = async ({ core }, _cpu, a) => loopResult(await core.wl_mapbench(num(a, 'mm', 0), big(a, 'base'), num(a, 'first'), num(a, 'wl')));
programs.mteTag = async ({ core }, _cpu, a) => loopResult(await core.wl_mte_tag(num(a, 'mm', 0), num(a, 'wl')));
/** map a region (for workloads that share one): returns its address */
programs.mmapRegion = async ({ core }, _cpu, a) => String(await core.sys_mmap(num(a, 'mm', 0), 0n, big(a, 'size'), 3, 0x22, 0, 0n));

/** TLB shootdown correctness rounds: returns the stale translations seen after a completed shootdown */
programs.shootdownRounds = async ({ core }, _cpu, a) => await core.t_shootdown_rounds(num(a, 'mm', 0), big(a, 'base'), num(a, 'nvpn'), num(a, 'gens'), num(a, 'rounds'), num(a, 'localOnly', 0));
// ---- fault-path test scripts (test/spf-aborts, fault-strategies, fault-deadlock) ----

/** One step of a faultScript. Addresses are numbers or "$name+offset" (an address an earlier mmap stored `as` name). */
export interface ScriptStep { op: string; [k: string]: unknown }

/**
 * Run `steps` in order on this CPU, one core call each (the races' timing
 * lives in the Wasm loops of assembly/test/ops_fault.ts). Returns one result
 * per step: the call's return value (i64 as a number; PMD values as hex).
 * Ops: mmap {len, prot=3, flags=0x22, addr=0, file=0, pgoff=0, as?},
 * munmap {addr, len}, mprotect {addr, len, prot}, madvise {addr, len, advice=4},
 * access {addr, write=0}, touch {addr, len, write=0, stride=4096},
 * kaccess {addr, write=0} (kernel-mode access), set {flag, value=1}, setPeek {flag, value=1, cpu} (set, then
 * that CPU's PC_STATE read at once),
 * wait {flag, value=1}, poll {flag, value=1} (spins: no wake object), charge {cycles}, vmaWriter {addr, other, trigger, delay=0, flag, cap},
 * pmdReplace {addr, other, delay=0, flag, cap}, pmdPoke {addr, kind, value="0"},
 * awaitStat {cpu, stat (STAT_* index), value=1, step=10, cap}, awaitWalk {cpu, done=0, step=4, cap},
 * waitPtlLocked {addr, follow, step=100, cap}, holdPtl {addr, flag, a, b, cap}, awaitPtlWaiter {addr, cpu, step=100, cap},
 * pkeyMprotect {addr, len, prot, pkey}, wrpkru {value}, setMempolicy {mode}, faultFlags {addr, write=0, extra=0},
 * ptePoke {addr, set="0", clear="0"}, vmaSetPageProt {addr, bits}, upperPoke {addr, level, kind, value="0"},
 * pmdClearHold {addr, other, flag, cap}, relax {n},
 * indexWriter {other, stat (STAT_* index), flag, cap} (a writer parked inside the VMA index write section).
 */
programs.faultScript = async ({ core }, _cpu, a) => {
  const mm = num(a, 'mm', 0);
  const steps = (a.steps ?? []) as ScriptStep[];
  const vars: Record<string, number> = { ...((a.vars ?? {}) as Record<string, number>) };
  const addr = (v: unknown): bigint => {
    if (typeof v === 'number') return BigInt(v);
    const m = /^\$(\w+)(?:\+(\w+))?$/.exec(String(v));
    if (!m || vars[m[1]] === undefined) throw new Error(`faultScript: bad address ${String(v)}`);
    return BigInt(vars[m[1]]) + BigInt(m[2] ?? 0);
  };
  const n = (s: ScriptStep, k: string, d?: number) => num(s, k, d);
  /** a small id (file, uffd context): a number or "$var" */
  const id = (v: unknown): number => typeof v === 'number' ? v : Number(addr(v));
  const B = (s: ScriptStep, k: string, d?: number) => BigInt(num(s, k, d));
  const out: unknown[] = [];
  for (const s of steps) {
    let r: unknown;
    switch (s.op) {
      case 'mmap':
        r = Number(await core.sys_mmap(mm, s.addr === undefined ? 0n : addr(s.addr), B(s, 'len'), n(s, 'prot', 3), n(s, 'flags', 0x22),
          id(s.file ?? 0), B(s, 'pgoff', 0)));
        if (typeof s.as === 'string') vars[s.as] = r as number;
        break;
      case 'munmap': r = await core.sys_munmap(mm, addr(s.addr), B(s, 'len')); break;
      case 'mprotect': r = await core.sys_mprotect(mm, addr(s.addr), B(s, 'len'), n(s, 'prot')); break;
      case 'madvise': r = await core.sys_madvise(mm, addr(s.addr), B(s, 'len'), n(s, 'advice', 4)); break;
      case 'access': r = await core.access(mm, addr(s.addr), n(s, 'write', 0)); break;
      case 'touch': r = Number(await core.touch(mm, addr(s.addr), B(s, 'len'), B(s, 'stride', 4096), n(s, 'write', 0))); break;
      case 'kaccess': r = await core.t_kernel_access(mm, addr(s.addr), n(s, 'write', 0)); break;
      case 'set': await core.t_set_flag(n(s, 'flag'), n(s, 'value', 1)); r = null; break;
      case 'wait': await core.t_wait_flag(n(s, 'flag'), n(s, 'value', 1)); r = null; break;
      case 'poll': await core.t_poll_flag(n(s, 'flag'), n(s, 'value', 1)); r = null; break;
      case 'charge': await core.t_charge(B(s, 'cycles')); r = null; break;
      case 'indexWriter': r = await core.t_index_writer(mm, n(s, 'other'), n(s, 'stat'), n(s, 'flag'), B(s, 'cap', 10_000_000)); break;
      case 'vmaWriter':
        r = await core.t_vma_writer(mm, addr(s.addr), n(s, 'other'), n(s, 'trigger'), B(s, 'delay', 0), n(s, 'flag'), B(s, 'cap', 10_000_000));
        break;
      case 'pmdReplace': r = await core.t_pmd_replace(mm, addr(s.addr), n(s, 'other'), B(s, 'delay', 0), n(s, 'flag'), B(s, 'cap', 10_000_000)); break;
      case 'pmdPoke': r = '0x' + BigInt.asUintN(64, await core.t_pmd_poke(mm, addr(s.addr), n(s, 'kind'), BigInt(String(s.value ?? '0'))) as bigint).toString(16); break;
      case 'holdPtl': r = await core.t_hold_ptl(mm, addr(s.addr), n(s, 'flag'), n(s, 'a'), n(s, 'b'), B(s, 'cap', 100_000_000)); break;
      case 'awaitPtlWaiter': r = await core.t_await_ptl_waiter(mm, addr(s.addr), n(s, 'cpu'), B(s, 'step', 100), B(s, 'cap', 100_000_000)); break;
      case 'awaitWalk': r = await core.t_await_walk(n(s, 'cpu'), n(s, 'done', 0), B(s, 'step', 4), B(s, 'cap', 10_000_000)); break;
      case 'awaitStat': r = await core.t_await_stat(n(s, 'cpu'), n(s, 'stat'), B(s, 'value', 1), B(s, 'step', 10), B(s, 'cap', 10_000_000)); break;
      case 'pkeyMprotect': r = await core.sys_pkey_mprotect(mm, addr(s.addr), B(s, 'len'), n(s, 'prot'), n(s, 'pkey')); break;
      case 'wrpkru': await core.wrpkru(n(s, 'value')); r = null; break;
      case 'setMempolicy': r = await core.sys_set_mempolicy(n(s, 'mode')); break;
      case 'faultFlags': r = await core.t_fault_flags(mm, addr(s.addr), n(s, 'write', 0), n(s, 'extra', 0)); break;
      case 'ptePoke': r = '0x' + BigInt.asUintN(64, await core.t_pte_poke(mm, addr(s.addr), BigInt(String(s.set ?? '0')), BigInt(String(s.clear ?? '0'))) as bigint).toString(16); break;
      case 'vmaSetPageProt': r = await core.t_vma_set_page_prot(mm, addr(s.addr), BigInt(String(s.bits ?? '0'))); break;
      case 'upperPoke': r = '0x' + BigInt.asUintN(64, await core.t_upper_poke(mm, addr(s.addr), n(s, 'level'), n(s, 'kind'), BigInt(String(s.value ?? '0'))) as bigint).toString(16); break;
      case 'relax': r = Number(await core.t_relax(n(s, 'n'))); break;
      case 'awaitHandlerIdle': r = await core.t_await_handler_idle(n(s, 'cpu'), n(s, 'ctx', 0)); break;
      case 'setPeek': r = await core.t_set_flag_peek(n(s, 'flag'), n(s, 'value', 1), n(s, 'cpu')); break;
      case 'pmdClearHold': r = await core.t_pmd_clear_hold(mm, addr(s.addr), n(s, 'other'), n(s, 'flag'), B(s, 'cap', 10_000_000)); break;
      case 'waitPtlLocked': r = await core.t_wait_ptl_locked(mm, addr(s.addr), n(s, 'follow'), B(s, 'step', 100), B(s, 'cap', 100_000_000)); break;
      // shmem and userfaultfd (assembly/shmem.ts, assembly/userfaultfd.ts); `ctx`/`file` may name a var ("$u")
      case 'memfd': r = await core.sys_memfd_create(); break;
      case 'ftruncate': r = await core.sys_ftruncate(id(s.file), B(s, 'pages')); break;
      case 'punch': r = await core.sys_fallocate_punch(id(s.file), B(s, 'off'), B(s, 'pages')); break;
      case 'userfaultfd': r = await core.sys_userfaultfd(mm, n(s, 'features', 0)); break;
      case 'uffdRegister': r = await core.uffdio_register(id(s.ctx), addr(s.addr), B(s, 'len'), n(s, 'mode', 1)); break;
      case 'uffdUnregister': r = await core.uffdio_unregister(id(s.ctx), addr(s.addr), B(s, 'len')); break;
      case 'uffdRelease': r = await core.uffd_release(id(s.ctx)); break;
      case 'uffdRead': {
        const v = await core.uffd_read(id(s.ctx), n(s, 'running', 0)) as bigint;
        r = v < 0n ? Number(v) : { address: Number(v & ~0xfffn), flags: Number(v & 0xfffn) };
        break;
      }
      case 'uffdReadMsg': {
        // the message as uffd_msg carries it: its address (exact with UFFD_FEATURE_EXACT_ADDRESS) and ptid (UFFD_FEATURE_THREAD_ID)
        const v = await core.uffd_read(id(s.ctx), n(s, 'running', 0)) as bigint;
        r = v < 0n ? Number(v) : { address: Number(await core.uffd_msg_address()), flags: Number(v & 0xfffn), tid: await core.uffd_msg_tid() };
        break;
      }
      case 'uffdCopy': r = await core.uffdio_copy(id(s.ctx), addr(s.addr), s.src === undefined ? 0n : addr(s.src), B(s, 'len', 4096), n(s, 'mode', 0)); break;
      case 'uffdZeropage': r = await core.uffdio_zeropage(id(s.ctx), addr(s.addr), B(s, 'len', 4096), n(s, 'mode', 0)); break;
      case 'uffdContinue': r = await core.uffdio_continue(id(s.ctx), addr(s.addr), B(s, 'len', 4096), n(s, 'mode', 0)); break;
      case 'uffdWriteprotect': r = await core.uffdio_writeprotect(id(s.ctx), addr(s.addr), B(s, 'len', 4096), n(s, 'mode', 1)); break;
      case 'uffdWake': r = await core.uffdio_wake(id(s.ctx), addr(s.addr), B(s, 'len', 4096)); break;
      case 'uffdCopied': r = Number(await core.uffd_last_copied()); break;
      /** a handler loop: resolve messages (mode 0 COPY, 1 CONTINUE) until `count` are done */
      case 'uffdHandle': {
        let done = 0;
        while (done < n(s, 'count', 1)) {
          const v = await core.uffd_read(id(s.ctx), 0) as bigint;
          if (v < 0n) break;
          const a = v & ~0xfffn;
          const rr = n(s, 'mode', 0) === 1 ? await core.uffdio_continue(id(s.ctx), a, 4096n, 0) : await core.uffdio_copy(id(s.ctx), a, 0n, 4096n, 0);
          if (rr === -17) await core.uffdio_wake(id(s.ctx), a, 4096n);
          done++;
        }
        r = done;
        break;
      }
      default: throw new Error(`faultScript: unknown op ${s.op}`);
    }
    if (typeof s.as === 'string' && s.op !== 'mmap' && typeof r === 'number') vars[s.as] = r;
    out.push(r);
  }
  return out;
};

// ---- randomized stress (assembly/stress.ts; host side src/stress.ts) ----
/**
 * The random mix on one shared region: `mix` the address of a host-written
 * struct stress_mix (weights, checkpoint period and words: assembly/stress.ts);
 * `out` STRESS_NCOUNTERS u32s of per-CPU scratch. Returns the counters by name.
 */
programs.stress = async (inst, _cpu, a) => {
  const u = (a.uffd ?? [0, 0, 0]) as number[];
  await inst.core.stress_uffd_setup(u[0], u[1], u[2], num(a, 'handler', -1), num(a, 'running', 0));
  await inst.core.stress_run(num(a, 'mm', 0), big(a, 'base'), num(a, 'pages'), num(a, 'ops'), num(a, 'mix'), num(a, 'out'));
  return counters(inst, num(a, 'out'), 'STRESS_');
};
/** the munmap race (`race`: a host-written struct stress_race): CPU 0 unmaps slot after slot while the others write-fault fresh pages of the current one */
programs.stressMunmapRace = async (inst, _cpu, a) => {
  await inst.core.stress_munmap_race(num(a, 'mm', 0), big(a, 'base'), num(a, 'race'), num(a, 'out'));
  return counters(inst, num(a, 'out'), 'STRESS_');
};
/** postcopy vCPU (assembly/postcopy.ts): random writes; latencies of the userfaults at `lat` */
programs.postcopyTouch = async ({ core }, _cpu, a) => {
  const r = await core.wl_postcopy_touch(num(a, 'mm', 0), num(a, 'ctx'), big(a, 'base'), num(a, 'npages'), num(a, 'touches'), num(a, 'running'),
    num(a, 'lat'), num(a, 'latCap')) as bigint;
  return r >= 0n ? { samples: Number(r) } : { samples: 0, error: `access failed: VM_FAULT 0x${(-r).toString(16)}` };
};
/** postcopy handler thread: returns the messages it resolved */
programs.uffdHandler = async ({ core }, _cpu, a) => {
  const r = await core.wl_uffd_handler(num(a, 'ctx'), num(a, 'mode', 0), big(a, 'msgCycles', 0), num(a, 'running')) as bigint;
  return r >= 0n ? { resolved: Number(r) } : { resolved: 0, error: `resolution failed: errno ${-r}` };
};
programs.mapbenchPipeline = async ({ core }, cpu, a) => loopResult(await core.wl_mapbench_pipeline(num(a, 'mm', 0), cpu,
  num(a, 'myFlags'), num(a, 'prevFlags'), num(a, 'wl')));

// ---- custom programs of the public API (src/api.ts runPrograms) ----
/**
 * One operation of a custom program (the API's `Op`): only released-core calls.
 * Addresses are numbers or "$name+offset" (a name an earlier map stored `as`).
 */
export type Op =
  | { op: 'map'; len: number; prot?: number; flags?: number; addr?: number | string; file?: number; pgoff?: number; as?: string }
  | { op: 'unmap'; addr: number | string; len: number }
  | { op: 'protect'; addr: number | string; len: number; prot: number }
  | { op: 'advise'; addr: number | string; len: number; advice?: number }
  | { op: 'access'; addr: number | string; write?: boolean }
  | { op: 'touch'; addr: number | string; len: number; write?: boolean; stride?: number }
  | { op: 'repeat'; times: number; steps: Op[] }
  // shmem and userfaultfd (Linux 6.12 semantics; README "userfaultfd and shmem"). `ctx` and `file`
  // are a number or "$name" of an earlier op's `as`; the results are Linux's (0 or -errno).
  | { op: 'memfd'; pages: number; as?: string }
  | { op: 'userfaultfd'; features?: number; as?: string }
  | { op: 'uffdRegister'; ctx: number | string; addr: number | string; len: number; mode: UffdMode[] }
  | { op: 'uffdUnregister'; ctx: number | string; addr: number | string; len: number }
  | { op: 'uffdRead'; ctx: number | string; as?: string }
  | { op: 'uffdCopy'; ctx: number | string; addr: number | string; src?: number | string; len?: number; wp?: boolean; dontwake?: boolean }
  | { op: 'uffdZeropage'; ctx: number | string; addr: number | string; len?: number; dontwake?: boolean }
  | { op: 'uffdContinue'; ctx: number | string; addr: number | string; len?: number; wp?: boolean; dontwake?: boolean }
  | { op: 'uffdWriteprotect'; ctx: number | string; addr: number | string; len?: number; wp: boolean; dontwake?: boolean }
  | { op: 'uffdWake'; ctx: number | string; addr: number | string; len?: number }
  | { op: 'uffdHandle'; ctx: number | string; count?: number; resolve?: 'copy' | 'zeropage' | 'continue' | 'auto' }
  | { op: 'uffdClose'; ctx: number | string };

/** UFFDIO_REGISTER modes */
export type UffdMode = 'missing' | 'wp' | 'minor';

/** the public ops, in the order of the union above */
export const OP_NAMES: readonly string[] = ['map', 'unmap', 'protect', 'advise', 'access', 'touch', 'repeat',
  'memfd', 'userfaultfd', 'uffdRegister', 'uffdUnregister', 'uffdRead', 'uffdCopy', 'uffdZeropage', 'uffdContinue',
  'uffdWriteprotect', 'uffdWake', 'uffdHandle', 'uffdClose'];

// include/uapi/linux/userfaultfd.h
const UFFDIO_REGISTER_MODE: Record<UffdMode, number> = { missing: 1, wp: 2, minor: 4 };
const UFFDIO_COPY_MODE_DONTWAKE = 1, UFFDIO_COPY_MODE_WP = 2;
const UFFDIO_WRITEPROTECT_MODE_WP = 1, UFFDIO_WRITEPROTECT_MODE_DONTWAKE = 2;
const UFFD_PAGEFAULT_FLAG_WRITE = 1, UFFD_PAGEFAULT_FLAG_WP = 2;
const EEXIST = 17;
// the ioctl numbers (_UFFDIO_*) of uffdio_register.ioctls
const _UFFDIO_WAKE = 2, _UFFDIO_COPY = 3, _UFFDIO_ZEROPAGE = 4, _UFFDIO_WRITEPROTECT = 6, _UFFDIO_CONTINUE = 7;
/**
 * uffdio_register.ioctls as userfaultfd_register() fills it for `mode`: the
 * range ioctls, WRITEPROTECT only with WP, CONTINUE only with MINOR. (The
 * kernel's UFFD_API_RANGE_IOCTLS also has MOVE and POISON, which are not emulated.)
 */
export function uffdRegisterIoctls(mode: number): number {
  let io = (1 << _UFFDIO_WAKE) | (1 << _UFFDIO_COPY) | (1 << _UFFDIO_ZEROPAGE) | (1 << _UFFDIO_WRITEPROTECT) | (1 << _UFFDIO_CONTINUE);
  if (!(mode & UFFDIO_REGISTER_MODE.wp)) io &= ~(1 << _UFFDIO_WRITEPROTECT);
  if (!(mode & UFFDIO_REGISTER_MODE.minor)) io &= ~(1 << _UFFDIO_CONTINUE);
  return io;
}

/** the fields of each op: required or not, and their kind (u64: a length or offset, u32: flags, addr: a number or "$name+offset", id: a context or file, a number or "$name") */
type FieldKind = 'u64' | 'u32' | 'flag' | 'bool' | 'addr' | 'id' | 'name' | 'steps' | 'modes' | 'resolve';
const OP_FIELDS: Record<string, Record<string, { kind: FieldKind; required: boolean }>> = {
  map: { len: { kind: 'u64', required: true }, prot: { kind: 'u32', required: false }, flags: { kind: 'u32', required: false }, addr: { kind: 'addr', required: false },
    file: { kind: 'id', required: false }, pgoff: { kind: 'u64', required: false }, as: { kind: 'name', required: false } },
  unmap: { addr: { kind: 'addr', required: true }, len: { kind: 'u64', required: true } },
  protect: { addr: { kind: 'addr', required: true }, len: { kind: 'u64', required: true }, prot: { kind: 'u32', required: true } },
  advise: { addr: { kind: 'addr', required: true }, len: { kind: 'u64', required: true }, advice: { kind: 'u32', required: false } },
  access: { addr: { kind: 'addr', required: true }, write: { kind: 'flag', required: false } },
  touch: { addr: { kind: 'addr', required: true }, len: { kind: 'u64', required: true }, write: { kind: 'flag', required: false }, stride: { kind: 'u64', required: false } },
  repeat: { times: { kind: 'u64', required: true }, steps: { kind: 'steps', required: true } },
  memfd: { pages: { kind: 'u64', required: true }, as: { kind: 'name', required: false } },
  userfaultfd: { features: { kind: 'u64', required: false }, as: { kind: 'name', required: false } },
  uffdRegister: { ctx: { kind: 'id', required: true }, addr: { kind: 'addr', required: true }, len: { kind: 'u64', required: true }, mode: { kind: 'modes', required: true } },
  uffdUnregister: { ctx: { kind: 'id', required: true }, addr: { kind: 'addr', required: true }, len: { kind: 'u64', required: true } },
  uffdRead: { ctx: { kind: 'id', required: true }, as: { kind: 'name', required: false } },
  uffdCopy: { ctx: { kind: 'id', required: true }, addr: { kind: 'addr', required: true }, src: { kind: 'addr', required: false }, len: { kind: 'u64', required: false },
    wp: { kind: 'bool', required: false }, dontwake: { kind: 'bool', required: false } },
  uffdZeropage: { ctx: { kind: 'id', required: true }, addr: { kind: 'addr', required: true }, len: { kind: 'u64', required: false }, dontwake: { kind: 'bool', required: false } },
  uffdContinue: { ctx: { kind: 'id', required: true }, addr: { kind: 'addr', required: true }, len: { kind: 'u64', required: false },
    wp: { kind: 'bool', required: false }, dontwake: { kind: 'bool', required: false } },
  uffdWriteprotect: { ctx: { kind: 'id', required: true }, addr: { kind: 'addr', required: true }, len: { kind: 'u64', required: false },
    wp: { kind: 'bool', required: true }, dontwake: { kind: 'bool', required: false } },
  uffdWake: { ctx: { kind: 'id', required: true }, addr: { kind: 'addr', required: true }, len: { kind: 'u64', required: false } },
  uffdHandle: { ctx: { kind: 'id', required: true }, count: { kind: 'u64', required: false }, resolve: { kind: 'resolve', required: false } },
  uffdClose: { ctx: { kind: 'id', required: true } },
};
/** the ops whose `as` stores a name (map: its address; memfd: the file; userfaultfd: the context; uffdRead: the fault's page) */
const STORES_NAME = new Set(['map', 'memfd', 'userfaultfd', 'uffdRead']);
const ADDR_RE = /^\$(\w+)(?:\+(\d+|0x[0-9a-fA-F]+))?$/;

/** a bad op, found before the run (checkOps) or while it runs: `where` is its path ("cpu 0, op #2 (repeat) > op #1 (map)") */
export class OpError extends UsageError {
  constructor(readonly where: string, readonly field: string | undefined, why: string) {
    super(`${where}: ${field === undefined ? '' : `${field} `}${why}`);
    this.name = 'OpError';
  }
}

/**
 * Check one CPU's program of Ops before anything runs: known ops, every
 * required field present, no unknown field, each field of its kind (lengths,
 * offsets and flags non-negative safe integers, flags up to 2^32-1; write a
 * boolean or 0/1; addresses a number or "$name+offset" of a name an EARLIER
 * map of this program stored with `as`; repeat a count and an array of ops).
 * Throws OpError naming the op's path and the field. `names`: the names
 * stored so far (in program order; a repeat's body counts when it runs at
 * least once).
 */
export function checkOps(p: unknown, where: string, names: Set<string> = new Set()): void {
  if (!Array.isArray(p)) throw new OpError(where, undefined, `a program must be an array of ops (got ${p === null ? 'null' : typeof p})`);
  p.forEach((s, i) => {
    const at = `${where}${where.endsWith(')') ? ' >' : ','} op #${i}`;
    if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new OpError(at, undefined, `an op must be an object like { op: "map", len: 4096 } (got ${JSON.stringify(s)})`);
    const o = s as Record<string, unknown>;
    const op = o.op;
    if (typeof op !== 'string' || !OP_NAMES.includes(op)) throw new OpError(at, undefined, `unknown op ${JSON.stringify(op)} (${OP_NAMES.join(', ')})`);
    const here = `${at} (${op})`;
    const fields = OP_FIELDS[op];
    for (const k of Object.keys(o)) {
      if (k !== 'op' && !(k in fields)) throw new OpError(here, `field "${k}"`, `is not a field of ${op} (${Object.keys(fields).join(', ')})`);
    }
    for (const [k, f] of Object.entries(fields)) {
      const v = o[k];
      if (v === undefined) {
        if (f.required) throw new OpError(here, k, `is required (${describe(f.kind)})`);
        continue;
      }
      const bad = () => new OpError(here, k, `must be ${describe(f.kind)} (got ${JSON.stringify(v)})`);
      switch (f.kind) {
        case 'u64': if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(); break;
        case 'u32': if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > 0xffffffff) throw bad(); break;
        case 'flag': if (typeof v !== 'boolean' && v !== 0 && v !== 1) throw bad(); break;
        case 'name': if (typeof v !== 'string' || !/^\w+$/.test(v)) throw bad(); break;
        case 'addr': {
          if (typeof v === 'number') { if (!Number.isSafeInteger(v) || v < 0) throw bad(); break; }
          const m = typeof v === 'string' ? ADDR_RE.exec(v) : null;
          if (!m) throw bad();
          if (!names.has(m[1])) {
            throw new OpError(here, k, `names $${m[1]}, which no earlier op of this program stored (e.g. map with as: "${m[1]}")` +
              (names.size ? ` (stored so far: ${[...names].map((n) => '$' + n).join(', ')})` : ''));
          }
          break;
        }
        case 'bool': if (typeof v !== 'boolean') throw bad(); break;
        case 'modes': if (!Array.isArray(v) || v.some((x) => !(x in UFFDIO_REGISTER_MODE))) throw bad(); break;
        case 'resolve': if (!['copy', 'zeropage', 'continue', 'auto'].includes(v as string)) throw bad(); break;
        case 'id': {
          if (typeof v === 'number') { if (!Number.isSafeInteger(v) || v < 0) throw bad(); break; }
          const m = typeof v === 'string' ? /^\$(\w+)$/.exec(v) : null;
          if (!m) throw bad();
          if (!names.has(m[1])) throw new OpError(here, k, `names $${m[1]}, which no earlier op of this program stored (as: "${m[1]}")`);
          break;
        }
        case 'steps': break;
      }
    }
    if (STORES_NAME.has(op) && typeof o.as === 'string') names.add(o.as);
    if (op === 'repeat') {
      // the body's names exist after it ran once; with times 0 it never runs
      const inner = new Set(names);
      checkOps(o.steps, here, inner);
      if ((o.times as number) > 0) for (const n of inner) names.add(n);
    }
  });
}

function describe(kind: FieldKind): string {
  switch (kind) {
    case 'u64': return 'a non-negative integer';
    case 'u32': return 'an integer from 0 to 4294967295';
    case 'flag': return 'true, false, 0 or 1';
    case 'name': return 'a name of letters, digits and _';
    case 'addr': return 'a non-negative integer or "$name+offset"';
    case 'steps': return 'an array of ops';
    case 'bool': return 'true or false';
    case 'id': return 'a non-negative integer or "$name" of an earlier op\'s as';
    case 'modes': return "an array of 'missing', 'wp', 'minor' (empty: the kernel's -EINVAL)";
    case 'resolve': return "'copy', 'zeropage', 'continue' or 'auto'";
  }
}

/** the signal a fault raised, as a process would receive it */
export type Signal = 'SIGSEGV' | 'SIGBUS';

/** what uffdRead returns: the uffd_msg of a page fault (uffd_msg.arg.pagefault: address, flags UFFD_PAGEFAULT_FLAG_*, feat.ptid) */
export interface UffdMessage { address: number; flags: number; tid: number }

/**
 * The result of one op: map: the address or -errno; unmap, protect, advise:
 * 0 or -errno; access: 0 (no fault, or a fault handled) or the VM_FAULT_*
 * bits of a fault that failed otherwise, or the signal it raised; touch: the
 * number of accesses that faulted, or the signal that stopped it; repeat: the
 * results of its last pass. memfd, userfaultfd: the file or context id, or
 * -errno; uffdRegister: uffdio_register.ioctls, or -errno; uffdRead: the
 * message (UffdMessage), or -errno (-EBADF: the context was closed);
 * uffdHandle: the faults it resolved; the other uffd ops: 0 or -errno.
 */
export type OpResult = number | Signal | UffdMessage | OpResult[];

/** the signal of failed-fault bits (VM_FAULT_SIGSEGV 0x40, VM_FAULT_SIGBUS 0x2), if any */
function signalOf(vmFault: number): Signal | undefined {
  return vmFault & 0x40 ? 'SIGSEGV' : vmFault & 0x2 ? 'SIGBUS' : undefined;
}

/**
 * Run a list of Ops on this CPU, one core call each. Returns the result of
 * every step (OpResult; repeat: of its last pass). The list was checked
 * before the run (checkOps); what can still fail here is a name whose map
 * failed at run time: an OpError between two core calls, which ends this
 * CPU's program and leaves the machine consistent (src/worker.ts).
 */
programs.ops = async ({ core }, cpu, a) => {
  const mm = num(a, 'mm', 0);
  const steps = a.steps as Op[];
  checkOps(steps, `cpu ${cpu}`);
  const vars: Record<string, bigint> = {};
  const failed: Record<string, string> = {};
  const run = async (list: Op[], where: string): Promise<OpResult[]> => {
    const out: OpResult[] = [];
    for (let i = 0; i < list.length; i++) {
      const s = list[i];
      const o = s as unknown as Record<string, unknown>;
      const here = `${where} op #${i} (${s.op})`;
      const addr = (v: unknown): bigint => {
        if (typeof v === 'number') return BigInt(v);
        const m = ADDR_RE.exec(String(v))!;
        if (vars[m[1]] === undefined) throw new OpError(here, 'addr', `names $${m[1]}, which is not set: ${failed[m[1]] ?? 'its map has not run'}`);
        return vars[m[1]] + BigInt(m[2] ?? 0);
      };
      const int = (k: string, d = 0): number => { const v = o[k] ?? d; return typeof v === 'boolean' ? (v ? 1 : 0) : v as number; };
      const bool = (k: string): boolean => o[k] === true || o[k] === 1;
      /** a context or file: a number or "$name" */
      const id = (k: string): number => {
        const v = o[k];
        if (typeof v === 'number') return v;
        const n = String(v).slice(1);
        if (vars[n] === undefined) throw new OpError(here, k, `names $${n}, which is not set: ${failed[n] ?? 'the op that stores it has not run'}`);
        return Number(vars[n]);
      };
      const uffdModes = (): number => (o.mode as UffdMode[]).reduce((a, x) => a | UFFDIO_REGISTER_MODE[x], 0);
      /** store a result under the op's `as`, or record why it is not set */
      const store = (ok: boolean, v: bigint, r: unknown): void => {
        if (typeof o.as !== 'string') return;
        if (ok) { vars[o.as] = v; delete failed[o.as]; } else { delete vars[o.as]; failed[o.as] = `the op that stores it (${here}) failed with ${String(r)}`; }
      };
      switch (s.op) {
        case 'map': {
          const r = BigInt.asIntN(64, BigInt(await core.sys_mmap(mm, s.addr === undefined ? 0n : addr(s.addr), BigInt(int('len')),
            int('prot', 3), int('flags', 0x22), o.file === undefined ? 0 : id('file'), BigInt(int('pgoff', 0)))));
          out.push(Number(r));
          if (typeof s.as === 'string') {
            if (r >= 0n) { vars[s.as] = r; delete failed[s.as]; } else { delete vars[s.as]; failed[s.as] = `the map that stores it (${here}) failed with ${r}`; }
          }
          break;
        }
        case 'unmap': out.push(Number(await core.sys_munmap(mm, addr(s.addr), BigInt(int('len'))))); break;
        case 'protect': out.push(Number(await core.sys_mprotect(mm, addr(s.addr), BigInt(int('len')), int('prot')))); break;
        case 'advise': out.push(Number(await core.sys_madvise(mm, addr(s.addr), BigInt(int('len')), int('advice', 4)))); break;
        case 'access': {
          const r = Number(await core.access(mm, addr(s.addr), int('write', 0)));
          out.push(signalOf(r) ?? r);
          break;
        }
        case 'touch': {
          // the faulting accesses, or -VM_FAULT_* of the one that failed
          const r = Number(await core.touch(mm, addr(s.addr), BigInt(int('len')), BigInt(int('stride', 4096)), int('write', 0)));
          out.push(r < 0 ? signalOf(-r) ?? r : r);
          break;
        }
        case 'memfd': {
          const f = Number(await core.sys_memfd_create());
          const r = f < 0 ? f : Number(await core.sys_ftruncate(f, BigInt(int('pages'))));
          out.push(r < 0 ? r : f);
          store(r >= 0, BigInt(f), r < 0 ? r : f);
          break;
        }
        case 'userfaultfd': {
          const r = Number(await core.sys_userfaultfd(mm, int('features', 0)));
          out.push(r);
          store(r >= 0, BigInt(Math.max(r, 0)), r);
          break;
        }
        case 'uffdRegister': {
          const mode = uffdModes();
          const r = Number(await core.uffdio_register(id('ctx'), addr(o.addr), BigInt(int('len')), mode));
          // success: uffdio_register.ioctls (never 0: WAKE is always in it)
          out.push(r < 0 ? r : uffdRegisterIoctls(mode));
          break;
        }
        case 'uffdUnregister': out.push(Number(await core.uffdio_unregister(id('ctx'), addr(o.addr), BigInt(int('len'))))); break;
        case 'uffdRead': {
          const v = BigInt(await core.uffd_read(id('ctx'), 0));
          if (v < 0n) { out.push(Number(v === -1n ? -9 : v)); store(false, 0n, Number(v === -1n ? -9 : v)); break; } // -1: the context was closed (EBADF)
          const address = BigInt(await core.uffd_msg_address());
          const msg: UffdMessage = { address: Number(address), flags: Number(v & 0xfffn), tid: Number(await core.uffd_msg_tid()) };
          out.push(msg);
          store(true, address & ~0xfffn, 0);
          break;
        }
        case 'uffdCopy': {
          const mode = (bool('dontwake') ? UFFDIO_COPY_MODE_DONTWAKE : 0) | (bool('wp') ? UFFDIO_COPY_MODE_WP : 0);
          out.push(Number(await core.uffdio_copy(id('ctx'), addr(o.addr), o.src === undefined ? 0n : addr(o.src), BigInt(int('len', 4096)), mode)));
          break;
        }
        case 'uffdZeropage':
          out.push(Number(await core.uffdio_zeropage(id('ctx'), addr(o.addr), BigInt(int('len', 4096)), bool('dontwake') ? UFFDIO_COPY_MODE_DONTWAKE : 0)));
          break;
        case 'uffdContinue': {
          const mode = (bool('dontwake') ? UFFDIO_COPY_MODE_DONTWAKE : 0) | (bool('wp') ? UFFDIO_COPY_MODE_WP : 0);
          out.push(Number(await core.uffdio_continue(id('ctx'), addr(o.addr), BigInt(int('len', 4096)), mode)));
          break;
        }
        case 'uffdWriteprotect': {
          const mode = (o.wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0) | (bool('dontwake') ? UFFDIO_WRITEPROTECT_MODE_DONTWAKE : 0);
          out.push(Number(await core.uffdio_writeprotect(id('ctx'), addr(o.addr), BigInt(int('len', 4096)), mode)));
          break;
        }
        case 'uffdWake': out.push(Number(await core.uffdio_wake(id('ctx'), addr(o.addr), BigInt(int('len', 4096))))); break;
        case 'uffdClose': out.push(Number(await core.uffd_release(id('ctx')))); break;
        case 'uffdHandle': {
          // a handler thread: read a message, resolve its page, until `count` are resolved or the context is closed
          const ctx = id('ctx');
          const how = o.resolve ?? 'copy';
          const count = o.count === undefined ? Infinity : int('count');
          let done = 0;
          while (done < count) {
            const v = BigInt(await core.uffd_read(ctx, 0));
            if (v < 0n) break;
            const a = v & ~0xfffn;
            const fl = Number(v & 0xfffn);
            let r: number;
            if (how === 'continue') r = Number(await core.uffdio_continue(ctx, a, 4096n, 0));
            else if (how === 'auto' && (fl & UFFD_PAGEFAULT_FLAG_WP)) r = Number(await core.uffdio_writeprotect(ctx, a, 4096n, 0));
            else if (how === 'zeropage' || (how === 'auto' && !(fl & UFFD_PAGEFAULT_FLAG_WRITE))) r = Number(await core.uffdio_zeropage(ctx, a, 4096n, 0));
            else r = Number(await core.uffdio_copy(ctx, a, 0n, 4096n, 0));
            // resolved already (two faults on one page): only wake, as QEMU does
            if (r === -EEXIST) await core.uffdio_wake(ctx, a, 4096n);
            else if (r < 0) throw new OpError(here, undefined, `resolving ${'0x' + a.toString(16)} failed: errno ${-r}`);
            done++;
          }
          out.push(done);
          break;
        }
        case 'repeat': {
          let last: OpResult[] = [];
          for (let k = 0; k < int('times'); k++) last = await run(s.steps, `${here} >`);
          out.push(last);
          break;
        }
      }
    }
    return out;
  };
  return run(steps, `cpu ${cpu},`);
};
