import { describe, it, expect } from 'vitest';
import { layoutConsts } from '../../src/wasm.js';
import { listProfiles, loadProfile } from '../../src/profile.js';

// The shared-memory layout (assembly/layout.ts): no two fields of a struct
// overlap, every field lies inside its struct, u64 fields (and the line
// metadata, whose first word is a u64 updated with a CAS) are 8-aligned.

const C = layoutConsts();

type Field = [name: string, offset: number, size: number];

/** every problem with a struct of `size` bytes made of `fields` (empty = fine) */
function layoutProblems(size: number, fields: Field[]): string[] {
  const p: string[] = [];
  const sorted = [...fields].sort((a, b) => a[1] - b[1]);
  for (const [name, off, sz] of sorted) {
    if (!Number.isInteger(off) || !Number.isInteger(sz)) p.push(`${name}: offset ${off} / size ${sz} undefined`);
    if (off < 0 || off + sz > size) p.push(`${name} [${off}, ${off + sz}) outside the struct (${size} bytes)`);
    if (sz >= 8 && off % 8 !== 0) p.push(`${name} at ${off} is not 8-aligned`);
  }
  for (let i = 1; i < sorted.length; i++) {
    const [an, ao, as] = sorted[i - 1];
    const [bn, bo] = sorted[i];
    if (ao + as > bo) p.push(`${an} [${ao}, ${ao + as}) overlaps ${bn} at ${bo}`);
  }
  return p;
}

const u32 = (name: string): Field => [name, C[name], 4];
const u64 = (name: string): Field => [name, C[name], 8];
const sub = (name: string, size: number): Field => [name, C[name], size];

describe('layout: no field overlaps', () => {
  it('cache-line metadata: the masks hold MAX_CPUS bits; the state word fields tile 64 bits', () => {
    expect(C.MAX_CPUS).toBe(256);
    expect(C.CPUMASK_WORDS * 64).toBe(C.MAX_CPUS);
    expect(C.CPUMASK_WORDS).toBe(4); // flush_tlb_mm_range keeps its snapshot in 4 locals
    expect(C.CPUMASK_SIZE).toBe(C.CPUMASK_WORDS * 8);
    expect(layoutProblems(C.LM_SIZE, [u64('LM_STATE'), sub('LM_SHARERS', C.CPUMASK_SIZE), sub('LM_RECENT', C.CPUMASK_SIZE), sub('LM_PREV', C.CPUMASK_SIZE)])).toEqual([]);
    expect(C.LM_SIZE % 32).toBe(0); // PTM_LINES is an array of them
    const B = (x: number) => BigInt(x);
    const fields = [
      ['owner+1', B(C.LM_OWNER_MASK)],
      ['count', B(C.LM_COUNT_MASK) << B(C.LM_COUNT_SHIFT)],
      ['bucket', B(C.LM_BUCKET_MASK) << B(C.LM_BUCKET_SHIFT)],
      ['busy_until', B(C.MAX_VCYCLES) << B(C.LM_BUSY_SHIFT)],
    ] as [string, bigint][];
    let all = 0n;
    for (const [name, mask] of fields) {
      expect(all & mask, `${name} overlaps another field`).toBe(0n);
      all |= mask;
    }
    expect(all).toBe((1n << 64n) - 1n);
    expect(C.LM_OWNER_MASK).toBeGreaterThanOrEqual(C.MAX_CPUS); // owner + 1 up to MAX_CPUS
    expect(C.LM_BUCKET_MASK).toBe(2 ** C.LM_BUCKET_BITS - 1);
    expect(C.LM_BUCKET_BITS).toBe(9);
    expect(C.MAX_VCYCLES).toBe(2 ** 39 - 1);
  });

  it('the hot-line count fits its 7 bits on every shipped profile at the default quantum (or saturates, which counts as hot)', () => {
    // profiles whose transfers are so cheap that the count saturates first (cacheline.ts: a saturated count is hot)
    const SATURATING = ['kvm-epyc-2vcpu'];
    for (const { name } of listProfiles()) {
      const c = loadProfile(name).cycles;
      // line_access_excl: hot once count x (xfer_near + cost) >= quantum; the cheapest cost is a store
      const need = Math.ceil(10_000 / (c.xfer_near! + c.store!));
      if (SATURATING.includes(name)) expect(need, name).toBeGreaterThanOrEqual(C.LM_COUNT_MASK);
      else expect(need, name).toBeLessThan(C.LM_COUNT_MASK);
    }
  });

  it('primitives: free list, spinlock, rwsem, seqcount, refcount', () => {
    expect(layoutProblems(C.FL_SIZE, [u64('FL_HEAD'), u32('FL_COUNT'), sub('FL_LINE', C.LM_SIZE)])).toEqual([]);
    expect(layoutProblems(C.SL_SIZE, [u32('SL_NEXT'), u32('SL_SERVING'), u32('SL_HOLDER'), u32('SL_CLASS'), u64('SL_RELEASE'),
      u32('SL_WAITERS'), u32('SL_HOLD'), sub('SL_LINE', C.LM_SIZE)])).toEqual([]);
    expect(layoutProblems(C.RW_SIZE, [u32('RW_COUNT'), u32('RW_WAITLIST'), u32('RW_WRITER'), u32('RW_CLASS'), u64('RW_RELEASE'),
      u32('RW_WAITERS'), u32('RW_HOLD'), sub('RW_LINE', C.LM_SIZE)])).toEqual([]);
    expect(layoutProblems(C.SQ_SIZE, [u32('SQ_SEQ'), sub('SQ_LINE', C.LM_SIZE)])).toEqual([]);
    expect(layoutProblems(C.RC_SIZE, [u32('RC_COUNT'), sub('RC_LINE', C.LM_SIZE)])).toEqual([]);
  });

  it('header: sync words, free lists, RCU, locks, settings below the host scratch; each lock on its own line', () => {
    const cfg = ['H_MAGIC', 'H_VERSION', 'H_NCPUS', 'H_MODE', 'H_STRATEGY', 'H_QUANTUM', 'H_TLB_SETS', 'H_TLB_WAYS', 'H_NFRAMES',
      'H_NPTPAGES', 'H_NVMAS', 'H_MAX_VMAS_PER_MM', 'H_PROFILE_BASE', 'H_MM_BASE', 'H_PERCPU_BASE', 'H_PERCPU_SIZE',
      'H_FRAMES_BASE', 'H_PTMETA_BASE', 'H_PTPAGES_BASE', 'H_VMAS_BASE', 'H_VMA_INDEX_BASE', 'H_TOTAL_BYTES', 'H_NMM', 'H_FLAGS',
      'H_GHZ_MILLI', 'H_TOPO_SOCKETS', 'H_TOPO_CORES', 'H_TOPO_THREADS', 'H_NWORKERS', 'H_WORKERS_BASE', 'H_ASYNC_BASE',
      'H_ASYNC_SIZE'].map(u32);
    const fields: Field[] = [...cfg,
      u32('H_STOP'), u32('H_STOP_CPU'), u32('H_RUNQ_BASE'), u32('H_EPOCH'), u32('H_LAGGARD'),
      sub('H_FRAME_FREE', C.FL_SIZE), sub('H_PTPAGE_FREE', C.FL_SIZE), sub('H_VMA_FREE', C.FL_SIZE),
      u32('H_RCU_EPOCH'), u32('H_RCU_HEAD'), u32('H_RCU_TAIL'), u32('H_RCU_COUNT'), u32('H_RCU_GP_WAITERS'), u64('H_RCU_GP_TIME'),
      sub('H_RCU_LOCK', C.SL_SIZE), u32('H_PROGRESS'), u32('H_STARTED'), u32('H_RENDEZVOUS'),
      sub('H_ZONE_LOCK', C.SL_SIZE), sub('H_LRU_LOCK', C.SL_SIZE),
      u32('H_FILES_BASE'), u32('H_NFILES'), u32('H_FILE_PAGES'), u32('H_FILE_INDEX_BASE'), u32('H_PCM_BASE'),
      sub('H_SETTINGS', C.NSETTINGS * 4), ['host scratch', C.HDR_SCRATCH, C.HDR_SIZE - C.HDR_SCRATCH]];
    expect(layoutProblems(C.HDR_SIZE, fields)).toEqual([]);
    for (const k of ['H_STOP', 'H_EPOCH', 'H_FRAME_FREE', 'H_PTPAGE_FREE', 'H_VMA_FREE', 'H_RCU_EPOCH', 'H_RCU_LOCK',
      'H_PROGRESS', 'H_STARTED', 'H_ZONE_LOCK', 'H_LRU_LOCK', 'H_FILES_BASE', 'H_SETTINGS']) {
      expect(C[k] % C.CACHE_LINE, k).toBe(0);
    }
    // the settings the host writes all fit the settings block
    for (const k of Object.keys(C).filter((k) => k.startsWith('SET_'))) expect(C[k] + 4, k).toBeLessThanOrEqual(C.NSETTINGS * 4);
  });

  it('per-CPU block: fixed fields before the stats; mailbox slot', () => {
    const fields: Field[] = [u64('PC_CLOCK'), u32('PC_STATE'), u32('PC_WAKE'), u32('PC_WAIT_OBJ'), u32('PC_WAIT_KIND'), u32('PC_IRQ_ON'),
      u32('PC_IPI_PENDING'), u64('PC_WAKE_TIME'), u32('PC_EPOCH'), u32('PC_RCU_NEST'), u32('PC_RCU_EPOCH'), u32('PC_SOCKET'),
      u32('PC_CORE'), u32('PC_THREAD'), u64('PC_RNG'), u32('PC_ACKS'), u64('PC_ACK_TIME'), u32('PC_OP'), u32('PC_INJECT'),
      u32('PC_ID'), u32('PC_WORKER'), sub('PC_VMF', 72), sub('PC_WALK', 32), sub('PC_LOCAL', 64),
      u32('PC_CALL'), u64('PC_CALL_RESULT'), sub('PC_CALL_ARGS', C.CALL_MAX_ARGS * 8), u32('PC_RWQ'), u64('PC_RWQ_SINCE'), u64('PC_IDLE_SINCE'), u32('PC_WAKE_RANK'), u32('PC_WAKE_LINK')];
    expect(layoutProblems(C.PC_STATS, fields)).toEqual([]);
    expect(layoutProblems(C.MB_SIZE, [u32('MB_PENDING'), u32('MB_KIND'), u64('MB_START'), u64('MB_END'), u64('MB_ARRIVAL')])).toEqual([]);
  });

  it('host worker block: sync words, counters, one pending bit per CPU', () => {
    const fields: Field[] = [u32('WK_WAKE'), u32('WK_SLEEPING'), u32('WK_FIRST'), u32('WK_COUNT'), u32('WK_CURRENT'),
      u64('WK_SWITCHES'), u64('WK_SLEEPS'), u32('WK_ASYNC_HIGH'), sub('WK_PENDING', C.MAX_CPUS / 8), sub('WK_PICKABLE', C.MAX_CPUS / 8),
      sub('WK_URGENT', C.MAX_CPUS / 8), sub('WK_HEAP', C.MAX_CPUS * 4)];
    expect(layoutProblems(C.WK_SIZE, fields)).toEqual([]);
  });

  it('page-table page meta, page-cache file, VMA slot, mm', () => {
    expect(C.PTM_NLINES).toBe(64); // one line meta per 64-byte line of a 4 KiB table
    expect(layoutProblems(C.PTM_SIZE, [sub('PTM_PTL', C.SL_SIZE), u32('PTM_NR_PRESENT'), u32('PTM_LEVEL'), u32('PTM_NEXT'), u32('PTM_FLAGS'),
      sub('PTM_LINES', C.PTM_NLINES * C.LM_SIZE)])).toEqual([]);
    expect(C.PTM_SIZE % 64).toBe(0); // every table's meta (and its PTL) starts a line
    expect(layoutProblems(C.FILE_SIZE, [sub('FILE_LOCK', C.SL_SIZE), u32('FILE_NPAGES'), u32('FILE_CACHED'), sub('FILE_LINE', C.LM_SIZE)])).toEqual([]);
    expect(layoutProblems(C.VMA_SIZE, [u64('VMA_START'), u64('VMA_END'), u32('VMA_FLAGS'), u32('VMA_PROT'), u32('VMA_ANON'), u32('VMA_OPS'),
      u64('VMA_PGOFF'), u32('VMA_FILE'), u32('VMA_MPOL'), sub('VMA_SEQ', C.SQ_SIZE), sub('VMA_REF', C.RC_SIZE), u32('VMA_LOCK_SEQ'),
      u32('VMA_STATE'), u32('VMA_NEXT'), u32('VMA_RCU_EPOCH'), sub('VMA_LOCK', C.RW_SIZE), u32('VMA_MM'), u32('VMA_GEN'), u32('VMA_CSUM'),
      sub('VMA_LINE', C.LM_SIZE)])).toEqual([]);
    expect(C.VMA_SEQ).toBe(48); // the checksum covers +0..+47, the fields before vm_sequence
    expect(layoutProblems(C.MM_SIZE, [sub('MM_MMAP_LOCK', C.RW_SIZE), sub('MM_SEQ', C.SQ_SIZE), u32('MM_LOCK_SEQ'), u32('MM_USERS'),
      u32('MM_PGD'), u32('MM_NVMAS'), u32('MM_VMA_INDEX'), u32('MM_RSS_FILE'), u32('MM_RSS_ANON'), u64('MM_NUMA_NEXT'),
      u64('MM_NUMA_OFFSET'), sub('MM_CPUMASK', C.CPUMASK_SIZE), sub('MM_LOCK_SEQ_LINE', C.LM_SIZE), sub('MM_PT_LOCK', C.SL_SIZE),
      sub('MM_RSS_LINE', C.LM_SIZE), sub('MM_RB_LOCK', C.RW_SIZE), u32('MM_VMA_PUB'), u32('MM_VMA_BUF0')])).toEqual([]);
  });

  it('the checker finds an overlap (control)', () => {
    expect(layoutProblems(16, [['a', 0, 8], ['b', 4, 4]])).toEqual(['a [0, 8) overlaps b at 4']);
    expect(layoutProblems(16, [['a', 16, 8]])).toEqual(['a [16, 24) outside the struct (16 bytes)']);
    expect(layoutProblems(16, [['a', 4, 8]])).toEqual(['a at 4 is not 8-aligned']);
  });
});

// The seam for shared words (assembly/shared.ts): each struct's *_WORDS names its
// line's metadata and the byte ranges of the words that line holds.
describe('layout: which words share a modelled line (*_WORDS)', () => {
  const decode = (w: number) => {
    expect(Number.isSafeInteger(w)).toBe(true); // the host reads it exactly
    const v = BigInt(w);
    const f = (s: number) => Number((v >> BigInt(s)) & BigInt(C.LW_FIELD));
    return { line: f(0), ranges: [[f(C.LW_LO_A), f(C.LW_HI_A)], [f(C.LW_LO_B), f(C.LW_HI_B)]].filter(([lo, hi]) => hi > lo) };
  };
  const cases: [string, string, number, string[]][] = [
    ['SL_WORDS', 'SL_LINE', C.SL_SIZE, ['SL_NEXT', 'SL_SERVING', 'SL_HOLDER', 'SL_CLASS', 'SL_RELEASE', 'SL_WAITERS', 'SL_HOLD']],
    ['RW_WORDS', 'RW_LINE', C.RW_SIZE, ['RW_COUNT', 'RW_WAITLIST', 'RW_WRITER', 'RW_CLASS', 'RW_RELEASE', 'RW_WAITERS', 'RW_HOLD']],
    ['SQ_WORDS', 'SQ_LINE', C.SQ_SIZE, ['SQ_SEQ']],
    ['RC_WORDS', 'RC_LINE', C.RC_SIZE, ['RC_COUNT']],
    ['FL_WORDS', 'FL_LINE', C.FL_SIZE, ['FL_HEAD', 'FL_COUNT']],
    ['FILE_WORDS', 'FILE_LINE', C.FILE_SIZE, ['FILE_CACHED']],
    ['VMA_WORDS', 'VMA_LINE', C.VMA_SIZE, ['VMA_START', 'VMA_END', 'VMA_FLAGS', 'VMA_PROT', 'VMA_ANON', 'VMA_OPS', 'VMA_PGOFF', 'VMA_FILE', 'VMA_MPOL', 'VMA_LOCK_SEQ', 'VMA_STATE']],
    ['MM_LOCK_SEQ_WORDS', 'MM_LOCK_SEQ_LINE', C.MM_SIZE, ['MM_LOCK_SEQ']],
    ['MM_RSS_WORDS', 'MM_RSS_LINE', C.MM_SIZE, ['MM_RSS_FILE', 'MM_RSS_ANON']],
    ['UFFD_WORDS', 'UFFD_LINE', C.UFFD_SIZE, ['UFFD_HEAD', 'UFFD_TAIL', 'UFFD_NPENDING', 'UFFD_READ_WORD', 'UFFD_RELEASED']],
  ];
  for (const [w, line, size, words] of cases) {
    it(`${w}: the metadata of ${line}, ranges inside the struct and clear of the metadata, holding ${words.length} word(s)`, () => {
      const d = decode(C[w]);
      expect(d.line).toBe(C[line]);
      for (const [lo, hi] of d.ranges) {
        expect(hi).toBeLessThanOrEqual(size);
        expect(hi <= d.line || lo >= d.line + C.LM_SIZE, `[${lo}, ${hi}) overlaps the line metadata`).toBe(true);
      }
      for (const f of words) expect(d.ranges.some(([lo, hi]) => C[f] >= lo && C[f] + 4 <= hi), f).toBe(true);
    });
  }
});
