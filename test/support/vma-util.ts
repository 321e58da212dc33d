// Host-side helpers for the VMA tests: a small machine, calls into the core
// from the host instance (bound to CPU 0), and independent TypeScript readers
// of the index, the free list and the RCU deferred queue.

import { Machine, type MachineConfig } from '../../src/machine.js';

export const PAGE = 4096n;

export interface VmaView {
  slot: number; start: bigint; end: bigint; flags: number; prot: number; anon: number;
  ops: number; file: number; pgoff: bigint; mpol: number; state: number; gen: number; mm: number;
}

export interface VmaAttrs { flags?: number; prot?: number; anon?: number; ops?: number; file?: number; pgoff?: bigint; mpol?: number }

/**
 * a machine sized for VMA tests (few frames and page-table pages: fast to
 * create); the spf strategy unless told: vm_sequence exists only there
 */
export function vmaMachine(cfg: Partial<MachineConfig> = {}): Machine {
  return new Machine({ cpus: 1, frames: 16, ptPages: 16, vmas: 64, maxVmasPerMm: 64, strategy: 1, ...cfg });
}

/** Calls from the host instance, bound to CPU 0, with mmap_lock handling. */
export class Vmas {
  readonly core: Machine['host']['core'];
  readonly lock: number;
  constructor(readonly m: Machine, readonly mm = 0) {
    this.core = m.host.core;
    this.core.cpu_bind(0);
    this.lock = m.regions.mm + mm * m.C.MM_SIZE + m.C.MM_MMAP_LOCK;
  }
  addr(slot: number): number { return this.m.regions.vmas + slot * this.m.C.VMA_SIZE; }
  /** run `f` with mmap_lock held for write */
  w<T>(f: () => T): T { this.core.down_write(this.lock); try { return f(); } finally { this.core.up_write(this.lock); } }
  /** run `f` with mmap_lock held for read */
  r<T>(f: () => T): T { this.core.down_read(this.lock); try { return f(); } finally { this.core.up_read(this.lock); } }

  /** allocate + init a NEW slot (no lock needed: nobody can see it) */
  make(start: bigint, end: bigint, a: VmaAttrs = {}): number {
    const s = this.core.vma_alloc();
    if (s < 0) return s;
    initVma(this.core, s, this.mm, start, end, { ...a, pgoff: a.pgoff ?? start / PAGE });
    return s;
  }
  /** make + link under the lock; returns the slot, or throws with the error code */
  add(start: bigint, end: bigint, a: VmaAttrs = {}): number {
    const s = this.make(start, end, a);
    if (s < 0) throw new Error(`vma_alloc failed (${s})`);
    const e = this.w(() => this.core.vma_link(this.mm, s));
    if (e !== 0) { this.core.vma_free_new(s); throw new Error(`vma_link: ${e}`); }
    return s;
  }
  link(s: number): number { return this.w(() => this.core.vma_link(this.mm, s)); }
  unlink(s: number): number { return this.w(() => this.core.vma_unlink(this.mm, s)); }
  split(s: number, at: bigint): number { return this.w(() => this.core.vma_split(this.mm, s, at)); }
  merge(s: number): number { return this.w(() => this.core.vma_merge(this.mm, s)); }
  findVma(va: bigint): number { return this.r(() => this.core.find_vma(this.mm, va)); }
  lookup(va: bigint): number { return this.r(() => this.core.vma_lookup(this.mm, va)); }
  intersection(start: bigint, end: bigint): number { return this.r(() => this.core.find_vma_intersection(this.mm, start, end)); }
  lockless(va: bigint): number {
    this.core.rcu_read_lock();
    try { return this.core.find_vma_lockless(this.mm, va); } finally { this.core.rcu_read_unlock(); }
  }
  view(slot: number): VmaView { return vmaView(this.m, slot); }
}

export function vmaView(m: Machine, slot: number): VmaView {
  const C = m.C;
  const a = m.regions.vmas + slot * C.VMA_SIZE;
  return {
    slot, start: m.u64(a + C.VMA_START), end: m.u64(a + C.VMA_END), flags: m.u32(a + C.VMA_FLAGS),
    prot: m.u32(a + C.VMA_PROT), anon: m.u32(a + C.VMA_ANON), ops: m.u32(a + C.VMA_OPS), file: m.u32(a + C.VMA_FILE),
    pgoff: m.u64(a + C.VMA_PGOFF), mpol: m.u32(a + C.VMA_MPOL), state: m.u32(a + C.VMA_STATE), gen: m.u32(a + C.VMA_GEN),
    mm: m.u32(a + C.VMA_MM),
  };
}

/** the mm's index as TypeScript sees it in memory */
export function readIndex(m: Machine, mm = 0): VmaView[] {
  const C = m.C;
  const mma = m.regions.mm + mm * C.MM_SIZE;
  const n = m.u32(mma + C.MM_NVMAS);
  const idx = m.u32(mma + C.MM_VMA_INDEX);
  const out: VmaView[] = [];
  for (let i = 0; i < n; i++) out.push(vmaView(m, m.u32(idx + 4 * i) - 1));
  return out;
}

/** problems with the index (empty = well formed): sorted, non-overlapping, every entry LIVE */
export function indexProblems(m: Machine, mm = 0): string[] {
  const C = m.C;
  const p: string[] = [];
  const mma = m.regions.mm + mm * C.MM_SIZE;
  const n = m.u32(mma + C.MM_NVMAS);
  if (n > m.cfg.maxVmasPerMm) return [`count ${n} > max`];
  const idx = m.u32(mma + C.MM_VMA_INDEX);
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) {
    const e = m.u32(idx + 4 * i);
    if (e === 0 || e > m.cfg.vmas) { p.push(`entry ${i} = ${e}`); continue; }
    if (seen.has(e)) p.push(`slot ${e - 1} twice`);
    seen.add(e);
  }
  if (p.length) return p;
  const v = readIndex(m, mm);
  v.forEach((x, i) => {
    if (x.state !== C.VMA_STATE_LIVE) p.push(`slot ${x.slot} state ${x.state}`);
    if (x.mm !== mm) p.push(`slot ${x.slot} of mm ${x.mm}`);
    if (x.start >= x.end || x.start % PAGE || x.end % PAGE) p.push(`slot ${x.slot} range ${x.start}-${x.end}`);
    if (i > 0 && x.start < v[i - 1].end) p.push(`slot ${x.slot} overlaps / unsorted after slot ${v[i - 1].slot}`);
  });
  for (let i = n; i < m.cfg.maxVmasPerMm; i++) if (m.u32(idx + 4 * i) !== 0) p.push(`stale entry ${i}`);
  return p;
}

/** follow a slot+1 chain through VMA_NEXT (bounded: a cycle shows up as an overlong list) */
function chain(m: Machine, first: number): number[] {
  const out: number[] = [];
  for (let e = first; e !== 0 && out.length <= m.cfg.vmas; e = m.u32(m.regions.vmas + (e - 1) * m.C.VMA_SIZE + m.C.VMA_NEXT)) out.push(e - 1);
  return out;
}

/** every slot's whereabouts: in the index, on the free list, on the RCU deferred queue */
export function vmaAccounting(m: Machine, mm = 0) {
  const C = m.C;
  const live = readIndex(m, mm).map((v) => v.slot);
  const free = chain(m, Number(m.u64(C.HDR_BASE + C.H_VMA_FREE + C.FL_HEAD) & 0xffffffffn));
  const deferred = chain(m, m.u32(C.HDR_BASE + C.H_RCU_HEAD));
  const where = new Map<number, string[]>();
  const put = (s: number, w: string) => where.set(s, [...(where.get(s) ?? []), w]);
  live.forEach((s) => put(s, 'live'));
  free.forEach((s) => put(s, 'free'));
  deferred.forEach((s) => put(s, 'deferred'));
  const problems: string[] = [];
  for (let s = 0; s < m.cfg.vmas; s++) {
    const w = where.get(s) ?? [];
    if (w.length !== 1) problems.push(`slot ${s}: ${w.length ? w.join('+') : 'nowhere'} (state ${vmaView(m, s).state})`);
  }
  const want: Record<string, number> = { live: C.VMA_STATE_LIVE, free: C.VMA_STATE_FREE, deferred: C.VMA_STATE_DETACHED };
  for (const [s, w] of where) if (w.length === 1 && vmaView(m, s).state !== want[w[0]]) problems.push(`slot ${s} ${w[0]} in state ${vmaView(m, s).state}`);
  if (free.length !== m.i32(C.HDR_BASE + C.H_VMA_FREE + C.FL_COUNT)) problems.push(`free list ${free.length} != count ${m.i32(C.HDR_BASE + C.H_VMA_FREE + C.FL_COUNT)}`);
  if (deferred.length !== m.i32(C.HDR_BASE + C.H_RCU_COUNT)) problems.push(`deferred ${deferred.length} != count ${m.i32(C.HDR_BASE + C.H_RCU_COUNT)}`);
  return { live: live.length, free: free.length, deferred: deferred.length, total: m.cfg.vmas, problems };
}

/** pretend CPU `cpu` is inside rcu_read_lock() since epoch `epoch` (nest 0 = outside) */
export function setReader(m: Machine, cpu: number, nest: number, epoch?: number): void {
  const C = m.C;
  m.setU32(m.percpu(cpu) + C.PC_RCU_EPOCH, epoch ?? m.u32(C.HDR_BASE + C.H_RCU_EPOCH));
  m.setU32(m.percpu(cpu) + C.PC_RCU_NEST, nest);
}

/** fill a NEW slot as assembly/vma.ts builds a VMA: vma_init(), then the setters (defaults: RW anonymous, anon_vma prepared) */
export function initVma(core: Machine['host']['core'], s: number, mm: number, start: bigint, end: bigint, a: VmaAttrs & { pgoff: bigint }): void {
  core.vma_init(s, mm);
  core.vma_set_range(s, start, end, a.pgoff);
  core.vm_flags_init(s, a.flags ?? 3, a.prot ?? 0x67);
  core.vma_set_anon_vma(s, a.anon ?? 1);
  core.vma_set_file(s, a.ops ?? 0, a.file ?? 0);
  core.vma_set_policy(s, a.mpol ?? 0);
}
