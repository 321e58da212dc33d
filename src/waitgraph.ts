// The wait-for graph of a stuck machine: for every CPU that waits, what it
// waits for and who holds it, with its IRQ state. Read from the per-CPU
// blocks and the lock words in shared memory.

import type { Machine } from './machine.js';
import { lockClasses } from './stats.js';

export interface WaitEdge {
  cpu: number;
  /** the WAIT_* kind (layout.ts) */
  kind?: number;
  state: string;
  irqs: 'on' | 'off';
  waitsFor: string;
  /** CPUs that hold / owe what this CPU waits for */
  holders: number[];
  text: string;
}

export const CPU_STATES: readonly string[] = ['idle', 'running', 'waiting', 'at-barrier', 'finished', 'runnable'];
const STATES = CPU_STATES;

export function waitForGraph(m: Machine): WaitEdge[] {
  const classes = lockClasses();
  const edges: WaitEdge[] = [];
  for (let cpu = 0; cpu < m.cfg.cpus; cpu++) {
    const e = waitEdge(m, cpu, classes);
    if (e) edges.push(e);
  }
  return edges;
}

/** One CPU of a stopped machine: its state and, if it waits, what for and who holds it. */
export interface CpuState {
  cpu: number;
  state: string;
  irqs: 'on' | 'off';
  /** virtual clock, cycles */
  clock: bigint;
  /** operations it began (the stress's op number: PC_OP) */
  op: number;
  /** what it waits for (null: it does not wait) */
  waitsFor: string | null;
  /** CPUs that hold / owe what it waits for */
  holders: number[];
  text: string;
}

/**
 * Every CPU's state, whatever stopped the run (deadlock detector, watchdog,
 * crash, stop): a waiting CPU with its wait-for edge, the others with what
 * they were doing. `crashed`: the CPU whose trap stopped it.
 */
export function cpuStates(m: Machine, crashed?: number): CpuState[] {
  const classes = lockClasses();
  return [...Array(m.cfg.cpus).keys()].map((cpu) => {
    const pc = m.percpu(cpu);
    const e = waitEdge(m, cpu, classes);
    const state = e?.state ?? STATES[m.u32(pc + m.C.PC_STATE)] ?? 'unknown';
    const irqs = m.u32(pc + m.C.PC_IRQ_ON) ? 'on' : 'off';
    const op = m.u32(pc + m.C.PC_OP);
    const clock = m.clock(cpu);
    const what = cpu === crashed ? 'failed: this stopped the run (the error above)' : e ? e.text.slice(e.text.indexOf('] ') + 2)
      : state === 'finished' ? 'has finished' : state === 'idle' ? 'has not started' : 'waits for nothing (it runs)';
    return { cpu, state, irqs, clock, op, waitsFor: e?.waitsFor ?? null, holders: e?.holders ?? [], text: `cpu ${cpu} [${state}, IRQs ${irqs}, clock ${clock}, op #${op}] ${what}` };
  });
}

/** what CPU `cpu` waits for now (undefined: it does not wait) */
export function waitEdge(m: Machine, cpu: number, classes: string[] = lockClasses()): WaitEdge | undefined {
  const C = m.C;
  const pc = m.percpu(cpu);
  const state = STATES[m.u32(pc + C.PC_STATE)] ?? 'unknown';
  const kind = m.u32(pc + C.PC_WAIT_KIND);
  const obj = m.u32(pc + C.PC_WAIT_OBJ);
  const irqs = m.u32(pc + C.PC_IRQ_ON) ? 'on' : 'off';
  if (state !== 'waiting' && kind === C.WAIT_NONE) return undefined;
  let waitsFor = 'nothing';
  let holders: number[] = [];
  if (kind === C.WAIT_SPIN) {
    const h = m.u32(obj + C.SL_HOLDER) - 1;
    holders = h >= 0 ? [h] : [];
    waitsFor = `spinlock ${objName(m, obj)} (class ${classes[m.u32(obj + C.SL_CLASS)] ?? '?'})`;
  } else if (kind === C.WAIT_FLAG) {
    waitsFor = `a change of the shared word ${objName(m, obj)} (now ${m.u32(obj)}: a meeting, a flag or a hand-off)`;
  } else if (kind === C.WAIT_POLL) {
    const pcpu = percpuOf(m, obj);
    if (pcpu !== undefined) {
      holders = [pcpu];
      const other = waitEdge(m, pcpu, classes);
      const st = STATES[m.u32(m.percpu(pcpu) + C.PC_STATE)] ?? 'unknown';
      waitsFor = `cpu ${pcpu} to change state (polled; it is ${st}${other ? `, waiting for ${other.waitsFor}` : ''})`;
    } else {
      waitsFor = `a change of ${objName(m, obj)} (polled)`;
    }
  } else if (kind === C.WAIT_RWSEM_READ || kind === C.WAIT_RWSEM_WRITE) {
    const count = m.i32(obj + C.RW_COUNT);
    const w = m.u32(obj + C.RW_WRITER) - 1;
    holders = w >= 0 ? [w] : [];
    waitsFor = `${kind === C.WAIT_RWSEM_READ ? 'read' : 'write'} lock of ${objName(m, obj)}` +
      (count === C.RWSEM_WRITER ? '' : ` (held by ${count} reader(s))`);
  } else if (kind === C.WAIT_IPI_ACK) {
    waitsFor = 'TLB-shootdown acks';
    for (let t = 0; t < m.cfg.cpus; t++) {
      const slot = m.percpu(t) + m.percpuLayout.mailboxOff + cpu * C.MB_SIZE;
      if (m.u32(slot + C.MB_PENDING)) holders.push(t);
    }
  } else if (kind === C.WAIT_RCU) {
    waitsFor = 'an RCU grace period (synchronize_rcu)';
    for (let t = 0; t < m.cfg.cpus; t++) if (t !== cpu && m.u32(m.percpu(t) + C.PC_RCU_NEST)) holders.push(t);
  } else if (kind === C.WAIT_UFFD) {
    const ctx = Math.floor((obj - m.regions.uffd) / C.UFFD_SIZE);
    const addr = m.host.core.uffd_uwq_address(cpu) as bigint;
    waitsFor = `a resolution of 0x${addr.toString(16)} from userfaultfd ${ctx}`;
    for (let t = 0; t < m.cfg.cpus; t++) {
      if (t !== cpu && m.u32(m.percpu(t) + C.PC_WAIT_KIND) === C.WAIT_UFFD_READ && m.u32(m.percpu(t) + C.PC_WAIT_OBJ) === obj + C.UFFD_READ_WORD) holders.push(t);
    }
  } else if (kind === C.WAIT_UFFD_READ) {
    waitsFor = `a message on userfaultfd ${Math.floor((obj - C.UFFD_READ_WORD - m.regions.uffd) / C.UFFD_SIZE)}`;
  } else if (kind === C.WAIT_VCPU) {
    // a guest run queue (assembly/vcpu.ts): obj is the vCPU's curr word (task + 1 running on it, 0: idle)
    const curr = m.u32(obj) - 1;
    holders = curr >= 0 ? [curr] : [];
    const vcpus = m.cfg.vcpus;
    waitsFor = `its CPU ${cpu % vcpus}, which ${curr >= 0 ? `task ${curr} runs` : 'is idle'} (a woken task waits for its sibling to sleep or be preempted)`;
  } else if (kind === C.WAIT_BARRIER) {
    // it may run while clock < (epoch + 2) * quantum; the epoch follows the slowest
    // CPU the barrier counts (running, at the barrier, runnable): those it needs to move
    const q = BigInt(m.cfg.quantum);
    const epoch = BigInt(m.u32(C.HDR_BASE + C.H_EPOCH));
    const need = m.clock(cpu) / q - 1n;
    for (let t = 0; t < m.cfg.cpus; t++) {
      const st = m.u32(m.percpu(t) + C.PC_STATE);
      if (t !== cpu && (st === C.CPU_RUNNING || st === C.CPU_AT_BARRIER || st === C.CPU_RUNNABLE) && m.clock(t) / q < need) holders.push(t);
    }
    waitsFor = `the quantum barrier (epoch ${epoch}, it needs ${need})`;
  }
  const who = holders.length ? ` held by/owed by cpu ${holders.join(', cpu ')}` : '';
  return {
    cpu, kind, state, irqs, waitsFor, holders,
    text: `cpu ${cpu} [${state}, IRQs ${irqs}, clock ${m.clock(cpu)}] waits for ${waitsFor}${who}`,
  };
}

/** the CPU whose per-CPU block holds address `a`, if any */
function percpuOf(m: Machine, a: number): number | undefined {
  const base = m.regions.percpu;
  const size = m.u32(m.C.HDR_BASE + m.C.H_PERCPU_SIZE);
  if (a < base || a >= base + size * m.cfg.cpus) return undefined;
  return Math.floor((a - base) / size);
}

/** a readable name for a lock address */
export function objName(m: Machine, a: number): string {
  const C = m.C;
  const r = m.regions;
  if (a >= r.ptmeta && a < r.ptmeta + C.PTM_SIZE * m.cfg.ptPages) return `PTL of page-table page ${Math.floor((a - r.ptmeta) / C.PTM_SIZE)}`;
  if (a >= r.mm && a < r.mm + C.MM_SIZE) {
    if (a - r.mm === C.MM_MMAP_LOCK) return 'mmap_lock';
    if (a - r.mm === C.MM_SEQ + C.SQ_SEQ) return 'mm_seq (the VMA index seqcount; its writer to leave)';
    return `mm+${a - r.mm}`;
  }
  if (a >= r.vmas && a < r.vmas + C.VMA_SIZE * m.cfg.vmas) return `vm_lock of VMA slot ${Math.floor((a - r.vmas) / C.VMA_SIZE)}`;
  if (a >= C.HDR_BASE + C.HDR_SCRATCH && a < C.HDR_BASE + C.HDR_SIZE) return `@0x${a.toString(16)} (host scratch)`;
  return `@0x${a.toString(16)}`;
}

/**
 * Faulting CPUs parked in handle_userfault() in a stuck machine: a lost
 * wake-up (the handler never answered). One line naming them and the
 * context(s), or undefined.
 */
export function lostUserfaultWakeups(m: Machine, edges: WaitEdge[]): string | undefined {
  const w = edges.filter((e) => e.kind === m.C.WAIT_UFFD);
  if (!w.length) return undefined;
  const ctxs = [...new Set(w.map((e) => /userfaultfd (\d+)/.exec(e.waitsFor)?.[1] ?? '?'))];
  return `lost wake-up: cpu ${w.map((e) => e.cpu).join(', cpu ')} wait${w.length === 1 ? 's' : ''} in handle_userfault() for userfaultfd ${ctxs.join(', ')} and no handler answers`;
}
