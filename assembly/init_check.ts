// machine_init()'s first step: check the layout and settings the host wrote
// (docs/abi.md "Laying out a machine") before anything is built on them.
//
// A wrong header does not fail where it is wrong: a TLB of 0 sets or a
// per-CPU block smaller than its contents makes sched_run spin forever or
// trap far away ("unaligned access", "unreachable"). So every field is
// checked here, in header order, and the FIRST bad one is reported by name
// through env.abort (messages are constant strings: the core allocates
// nothing). The host's own checks (src/machine.ts) come first and say the
// same in the API's words; these are for any other host (examples/raw-abi).

import {
  HDR_BASE, HDR_SIZE, H_MAGIC, H_VERSION, H_NCPUS, H_MODE, H_STRATEGY, H_QUANTUM, H_TLB_SETS, H_TLB_WAYS, H_NFRAMES, H_NPTPAGES,
  H_NVMAS, H_MAX_VMAS_PER_MM, H_PROFILE_BASE, H_MM_BASE, H_PERCPU_BASE, H_PERCPU_SIZE, H_FRAMES_BASE, H_PTMETA_BASE,
  H_PTPAGES_BASE, H_VMAS_BASE, H_VMA_INDEX_BASE, H_TOTAL_BYTES, H_NMM, H_FLAGS, H_TOPO_SOCKETS, H_TOPO_CORES, H_TOPO_THREADS, H_VCPUS,
  H_NWORKERS, H_WORKERS_BASE, H_ASYNC_BASE, H_ASYNC_SIZE, H_RUNQ_BASE, H_PCM_BASE, H_FILES_BASE, H_NFILES, H_FILE_PAGES,
  H_FILE_INDEX_BASE, H_SHMEM_FIRST, H_SHMEM_MAX, H_UFFD_BASE, H_UFFD_MAX, H_SETTINGS, H_OBS,
  SET_THP, SET_PCP_BATCH, SET_PCP_HIGH, SET_LRU_BATCH, SET_RSS_THRESH, SET_NUMA_PERIOD, SET_NUMA_PAGES, SET_ZAP_FLUSH_UNDER_PTL,
  SET_BUG, SET_MM_USERS_ONE, SET_MUNMAP_DOWNGRADE, SET_SPF_LOOKUP, SET_UFFD_SPF_RACE, SET_PERVMA_KERNEL,
  PERVMA_KERNEL_6_4, PERVMA_KERNEL_6_6, PERVMA_KERNEL_6_7, PERVMA_KERNEL_6_15,
  LAYOUT_MAGIC, LAYOUT_VERSION, MAX_CPUS, MODE_DETERMINISTIC, MM_SIZE, FR_SIZE, PTM_SIZE, VMA_SIZE, PCM_SIZE, WK_SIZE, RQ_SIZE,
  FILE_SIZE, UFFD_REGION_SIZE, MAX_UFFD, PAGE_SIZE, CACHE_LINE, MB_SIZE, TLBE_SIZE, TLB2M_BYTES, PCP_MAX, LRU_MAX,
  PC_ID, PC_WORKER, PC_SOCKET, PC_CORE, PC_THREAD, PC_RNG, PC_STATE, CPU_RUNNABLE, WK_FIRST, WK_COUNT,
  THP_MADVISE, SPF_LOOKUP_V12, UFFD_RACE_ABORT, ASYNC_STACK_MIN, MAX_TLB_WAYS, MIN_QUANTUM, MAX_COST_CYCLES,
  mailbox_off, mailbox_bytes,
} from './layout';
import { NCOSTS } from './generated';
import { STRATEGY_SPF_MMAPSEQ } from './strategy';
import { TEST_BUILD, OBS_BUILD } from './build_flags';

/**
 * Report the first bad field. The host's env.abort throws, so nothing after it
 * runs. The messages are built with the stub runtime's allocator: the few
 * bytes land above the static data (__heap_base, far below HDR_BASE), on the
 * host's own instance, before any CPU runs.
 */
function bad(msg: string): void { abort(msg, null, 0, 0); }
@inline function got(v: u64): string { return ' (got ' + v.toString() + ')'; }

@inline function hdr(f: u32): u32 { return load<u32>(HDR_BASE + f); }
@inline function set(k: u32): u32 { return load<u32>(HDR_BASE + H_SETTINGS + k); }

// the regions, in the order docs/abi.md lists them: the header field of the base, the name
const NREG: u32 = 15;
function reg_field(i: u32): u32 {
  switch (i) {
    case 0: return H_PROFILE_BASE; case 1: return H_MM_BASE; case 2: return H_PERCPU_BASE; case 3: return H_FRAMES_BASE;
    case 4: return H_PTMETA_BASE; case 5: return H_PTPAGES_BASE; case 6: return H_VMAS_BASE; case 7: return H_VMA_INDEX_BASE;
    case 8: return H_PCM_BASE; case 9: return H_WORKERS_BASE; case 10: return H_RUNQ_BASE; case 11: return H_ASYNC_BASE;
    case 12: return H_FILES_BASE; case 13: return H_FILE_INDEX_BASE; default: return H_UFFD_BASE;
  }
}
function reg_name(i: u32): string {
  switch (i) {
    case 0: return 'H_PROFILE_BASE'; case 1: return 'H_MM_BASE'; case 2: return 'H_PERCPU_BASE'; case 3: return 'H_FRAMES_BASE';
    case 4: return 'H_PTMETA_BASE'; case 5: return 'H_PTPAGES_BASE'; case 6: return 'H_VMAS_BASE'; case 7: return 'H_VMA_INDEX_BASE';
    case 8: return 'H_PCM_BASE'; case 9: return 'H_WORKERS_BASE'; case 10: return 'H_RUNQ_BASE'; case 11: return 'H_ASYNC_BASE';
    case 12: return 'H_FILES_BASE'; case 13: return 'H_FILE_INDEX_BASE'; default: return 'H_UFFD_BASE';
  }
}
/** bytes of region i (docs/abi.md "Regions") */
function reg_bytes(i: u32): u64 {
  const n = <u64>hdr(H_NCPUS), nmm = <u64>hdr(H_NMM), nf = <u64>hdr(H_NFILES);
  switch (i) {
    case 0: return <u64>NCOSTS * 4;
    case 1: return <u64>MM_SIZE * nmm;
    case 2: return <u64>hdr(H_PERCPU_SIZE) * n;
    case 3: return <u64>FR_SIZE * hdr(H_NFRAMES);
    case 4: return <u64>PTM_SIZE * hdr(H_NPTPAGES);
    case 5: return <u64>PAGE_SIZE * hdr(H_NPTPAGES);
    case 6: return <u64>VMA_SIZE * hdr(H_NVMAS);
    case 7: return <u64>8 * hdr(H_MAX_VMAS_PER_MM) * nmm;
    case 8: return <u64>PCM_SIZE * n;
    case 9: return <u64>WK_SIZE * hdr(H_NWORKERS);
    case 10: return <u64>RQ_SIZE * n;
    case 11: return <u64>hdr(H_ASYNC_SIZE) * n;
    case 12: return <u64>FILE_SIZE * nf;
    case 13: return <u64>4 * nf * hdr(H_FILE_PAGES);
    default: return <u64>UFFD_REGION_SIZE;
  }
}
@inline function reg_align(i: u32): u64 { return i == 5 ? PAGE_SIZE : i == 11 ? 16 : CACHE_LINE; }

/**
 * Check the header, the cost vector, the settings, the worker blocks and the
 * per-CPU identity fields the host wrote; abort naming the first bad one.
 */
export function machine_check(): void {
  if (hdr(H_MAGIC) != LAYOUT_MAGIC) return bad('H_MAGIC must be LAYOUT_MAGIC (is the header at HDR_BASE?)');
  if (hdr(H_VERSION) != LAYOUT_VERSION) return bad('H_VERSION must be LAYOUT_VERSION (a layout for another version of the core)');
  const n = hdr(H_NCPUS);
  if (n < 1 || n > MAX_CPUS) return bad('H_NCPUS must be 1..MAX_CPUS (256)' + got(n));
  const mode = hdr(H_MODE);
  if (mode > MODE_DETERMINISTIC) return bad('H_MODE must be MODE_PARALLEL (0) or MODE_DETERMINISTIC (1)' + got(mode));
  if (hdr(H_STRATEGY) > STRATEGY_SPF_MMAPSEQ) return bad('H_STRATEGY must be one of STRATEGY_* (0..3)' + got(hdr(H_STRATEGY)));
  if (hdr(H_QUANTUM) < MIN_QUANTUM) return bad('H_QUANTUM must be at least MIN_QUANTUM (100) cycles' + got(hdr(H_QUANTUM)));
  const sets = hdr(H_TLB_SETS), ways = hdr(H_TLB_WAYS);
  if (sets == 0 || (sets & (sets - 1)) != 0) return bad('H_TLB_SETS must be a power of 2 (1, 2, 4, ...)' + got(sets));
  if (ways < 1 || ways > MAX_TLB_WAYS) return bad('H_TLB_WAYS must be 1..MAX_TLB_WAYS (64)' + got(ways));
  if (hdr(H_NFRAMES) < 2) return bad('H_NFRAMES must be at least 2 (frame 0 is the zero page)' + got(hdr(H_NFRAMES)));
  if (hdr(H_NPTPAGES) < 2) return bad('H_NPTPAGES must be at least 2' + got(hdr(H_NPTPAGES)));
  if (hdr(H_NVMAS) < 2) return bad('H_NVMAS must be at least 2' + got(hdr(H_NVMAS)));
  const maxv = hdr(H_MAX_VMAS_PER_MM);
  if (maxv < 1) return bad('H_MAX_VMAS_PER_MM must be at least 1 (its VMA index would have 0 bytes)');
  const nmm = hdr(H_NMM);
  if (nmm < 1) return bad('H_NMM must be at least 1' + got(nmm));
  if (!TEST_BUILD && hdr(H_FLAGS) != 0) return bad('H_FLAGS must be 0: test flags exist only in the test core' + got(hdr(H_FLAGS)));
  if (!OBS_BUILD && hdr(H_OBS) != 0) return bad('H_OBS must be 0: the observability hooks exist only in the observe core (faultline-observe.wasm)' + got(hdr(H_OBS)));
  const sockets = hdr(H_TOPO_SOCKETS), cores = hdr(H_TOPO_CORES), threads = hdr(H_TOPO_THREADS);
  if (sockets < 1 || sockets > 2) return bad('H_TOPO_SOCKETS must be 1 or 2' + got(sockets));
  if (cores < 1) return bad('H_TOPO_CORES must be at least 1' + got(cores));
  if (threads < 1) return bad('H_TOPO_THREADS must be at least 1' + got(threads));
  const vcpus = hdr(H_VCPUS);
  if (vcpus > n) return bad('H_VCPUS must be 0 (a CPU per task) or at most H_NCPUS (the tasks)' + got(vcpus));
  const cpus = vcpus == 0 ? n : vcpus; // a guest run queue: the tasks share H_VCPUS CPUs (vcpu.ts)
  if (<u64>sockets * <u64>cores * <u64>threads < <u64>cpus) return bad(vcpus == 0 ? 'H_TOPO_SOCKETS x H_TOPO_CORES x H_TOPO_THREADS must be at least H_NCPUS' : 'H_TOPO_SOCKETS x H_TOPO_CORES x H_TOPO_THREADS must be at least H_VCPUS');
  const nw = hdr(H_NWORKERS);
  if (nw < 1 || nw > n) return bad('H_NWORKERS must be 1..H_NCPUS' + got(nw));
  if (mode == MODE_DETERMINISTIC && nw != 1) return bad('H_NWORKERS must be 1 in deterministic mode (every CPU on one worker)' + got(nw));

  // the per-CPU block: fixed fields and stats | mailbox | TLB | host scratch
  const pcs = hdr(H_PERCPU_SIZE);
  const need = <u64>mailbox_off() + <u64>mailbox_bytes(n) + <u64>sets * <u64>ways * TLBE_SIZE + TLB2M_BYTES;
  if (<u64>pcs < need) return bad('H_PERCPU_SIZE must be at least ' + need.toString() + ' = PC_STATS + 8 * NSTATS_ALIGNED + mailbox (H_NCPUS * MB_SIZE, whole lines) + H_TLB_SETS * H_TLB_WAYS * TLBE_SIZE + TLB2M_BYTES' + got(pcs));
  if ((pcs & (CACHE_LINE - 1)) != 0) return bad('H_PERCPU_SIZE must be a multiple of CACHE_LINE (64)' + got(pcs));

  // the Asyncify stacks: needed when a worker runs more than one CPU
  let multi = false;
  for (let w: u32 = 0; w < nw; w++) if (load<u32>(hdr(H_WORKERS_BASE) + w * WK_SIZE + WK_COUNT) > 1) multi = true;
  const asz = hdr(H_ASYNC_SIZE);
  if (multi && asz < ASYNC_STACK_MIN) return bad('H_ASYNC_SIZE must be at least ASYNC_STACK_MIN (' + ASYNC_STACK_MIN.toString() + ') when a worker runs more than one CPU' + got(asz));
  if ((asz & 15) != 0) return bad('H_ASYNC_SIZE must be a multiple of 16' + got(asz));

  // files: regular files, then the shmem pool
  const nf = hdr(H_NFILES), fp = hdr(H_FILE_PAGES);
  if (<u64>hdr(H_SHMEM_FIRST) + <u64>hdr(H_SHMEM_MAX) > <u64>nf) return bad('H_SHMEM_FIRST + H_SHMEM_MAX must be at most H_NFILES');
  if (hdr(H_UFFD_MAX) > MAX_UFFD) return bad('H_UFFD_MAX must be 0..MAX_UFFD (15)' + got(hdr(H_UFFD_MAX)));

  // every region inside [HDR_BASE + HDR_SIZE, H_TOTAL_BYTES), H_TOTAL_BYTES inside the memory, no two overlapping
  const mem = <u64>memory.size() << 16;
  const total = <u64>hdr(H_TOTAL_BYTES);
  if (total == 0 || total > mem) return bad('H_TOTAL_BYTES must be set and at most the memory size, ' + mem.toString() + ' bytes' + got(total));
  for (let i: u32 = 0; i < NREG; i++) {
    const base = <u64>hdr(reg_field(i)), bytes = reg_bytes(i), al = reg_align(i);
    if (bytes == 0) continue;
    if (base < <u64>(HDR_BASE + HDR_SIZE)) return bad(reg_name(i) + ': the region must start after the header (HDR_BASE + HDR_SIZE)' + got(base));
    if ((base & (al - 1)) != 0) return bad(reg_name(i) + ': the region must be ' + al.toString() + '-byte aligned' + got(base));
    if (base + bytes > total) return bad(reg_name(i) + ': the region (' + bytes.toString() + ' bytes) ends beyond H_TOTAL_BYTES' + got(base));
  }
  for (let i: u32 = 1; i < NREG; i++) {
    const bi = <u64>hdr(reg_field(i)), ei = bi + reg_bytes(i);
    if (ei == bi) continue;
    for (let j: u32 = 0; j < i; j++) {
      const bj = <u64>hdr(reg_field(j)), ej = bj + reg_bytes(j);
      if (ej != bj && bi < ej && bj < ei) return bad(reg_name(i) + ': the region overlaps ' + reg_name(j));
    }
  }

  // the worker blocks: contiguous CPU ranges covering 0..H_NCPUS in order
  let next: u32 = 0;
  for (let w: u32 = 0; w < nw; w++) {
    const wk = hdr(H_WORKERS_BASE) + w * WK_SIZE;
    if (load<u32>(wk + WK_FIRST) != next) return bad('WK_FIRST: each worker starts where the previous one ended (worker 0 at CPU 0)');
    const c = load<u32>(wk + WK_COUNT);
    if (c < 1) return bad('WK_COUNT must be at least 1');
    next += c;
    if (next > n) return bad('WK_COUNT: the workers run more than H_NCPUS CPUs');
  }
  if (next != n) return bad('WK_COUNT: the workers must run all H_NCPUS CPUs');

  // each CPU's identity, written by the host
  for (let c: u32 = 0; c < n; c++) {
    const pc = hdr(H_PERCPU_BASE) + c * pcs;
    if (load<u32>(pc + PC_ID) != c) return bad('CPU ' + c.toString() + ': PC_ID must be the CPU number');
    const w = load<u32>(pc + PC_WORKER);
    if (w >= nw) return bad('CPU ' + c.toString() + ': PC_WORKER must be < H_NWORKERS');
    const wk = hdr(H_WORKERS_BASE) + w * WK_SIZE;
    if (c < load<u32>(wk + WK_FIRST) || c - load<u32>(wk + WK_FIRST) >= load<u32>(wk + WK_COUNT)) return bad('CPU ' + c.toString() + ': PC_WORKER must be the worker whose range holds the CPU');
    if (load<u32>(pc + PC_SOCKET) >= sockets) return bad('CPU ' + c.toString() + ': PC_SOCKET must be < H_TOPO_SOCKETS');
    if (load<u32>(pc + PC_CORE) >= cores) return bad('CPU ' + c.toString() + ': PC_CORE must be < H_TOPO_CORES');
    if (load<u32>(pc + PC_THREAD) >= threads) return bad('CPU ' + c.toString() + ': PC_THREAD must be < H_TOPO_THREADS');
    if (load<u64>(pc + PC_RNG) == 0) return bad('CPU ' + c.toString() + ': PC_RNG must not be 0 (xorshift state)');
    if (load<u32>(pc + PC_STATE) != CPU_RUNNABLE) return bad('CPU ' + c.toString() + ': PC_STATE must be CPU_RUNNABLE');
  }

  // the cost vector: every entry below MAX_COST_CYCLES, not all 0 (an unwritten profile)
  const costs = hdr(H_PROFILE_BASE);
  let any: u32 = 0;
  for (let i: i32 = 0; i < NCOSTS; i++) {
    const v = load<u32>(costs + (<u32>i << 2));
    if (v >= MAX_COST_CYCLES) return bad('H_PROFILE_BASE: a COST_* entry is MAX_COST_CYCLES or more');
    any |= v;
  }
  if (any == 0) return bad('H_PROFILE_BASE: every COST_* entry is 0 (the profile was not written)');

  // the settings (0 is not a valid value of most)
  if (set(SET_THP) > THP_MADVISE) return bad('SET_THP must be one of THP_* (0..2)' + got(set(SET_THP)));
  const batch = set(SET_PCP_BATCH);
  if (batch < 1 || batch > 512) return bad('SET_PCP_BATCH must be 1..512' + got(batch));
  const high = set(SET_PCP_HIGH);
  if (high < batch || high >= PCP_MAX) return bad('SET_PCP_HIGH must be SET_PCP_BATCH..PCP_MAX - 1 (1023)' + got(high));
  const lru = set(SET_LRU_BATCH);
  if (lru < 1 || lru > LRU_MAX) return bad('SET_LRU_BATCH must be 1..LRU_MAX (64)' + got(lru));
  const rss = set(SET_RSS_THRESH);
  if (rss < 1 || rss > (1 << 20)) return bad('SET_RSS_THRESH must be 1..1048576' + got(rss));
  if (set(SET_NUMA_PERIOD) != 0 && set(SET_NUMA_PAGES) == 0) return bad('SET_NUMA_PAGES must be at least 1 when SET_NUMA_PERIOD is not 0');
  if (set(SET_ZAP_FLUSH_UNDER_PTL) > 1) return bad('SET_ZAP_FLUSH_UNDER_PTL must be 0 or 1');
  if (!TEST_BUILD && set(SET_BUG) != 0) return bad('SET_BUG must be 0: planted bugs exist only in the test core');
  if (set(SET_MM_USERS_ONE) > 1) return bad('SET_MM_USERS_ONE must be 0 or 1');
  if (set(SET_MUNMAP_DOWNGRADE) > 1) return bad('SET_MUNMAP_DOWNGRADE must be 0 or 1');
  if (set(SET_SPF_LOOKUP) > SPF_LOOKUP_V12) return bad('SET_SPF_LOOKUP must be one of SPF_LOOKUP_*');
  if (set(SET_UFFD_SPF_RACE) > UFFD_RACE_ABORT) return bad('SET_UFFD_SPF_RACE must be one of UFFD_RACE_*');
  const rel = set(SET_PERVMA_KERNEL);
  if (rel != PERVMA_KERNEL_6_4 && rel != PERVMA_KERNEL_6_6 && rel != PERVMA_KERNEL_6_7 && rel != PERVMA_KERNEL_6_15) {
    return bad('SET_PERVMA_KERNEL must be one of PERVMA_KERNEL_* (604, 606, 607, 615)' + got(rel));
  }
}
