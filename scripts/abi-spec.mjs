// What the built core cannot say about itself, for docs/abi.md (scripts/abi.mjs):
// each header word's width, who writes it, its unit, default and valid range;
// each fault-path setting; the regions and their size formulas. Every exported
// H_* and SET_* constant must have an entry here (scripts/abi.mjs refuses
// otherwise), and test/host/abi.test.ts checks the defaults against what
// src/machine.ts writes for a default machine and the ranges against what
// machine_init() refuses.
//
// Formulas: integers, constant names, [H_FIELD] (the VALUE of that header
// word), + - *, and align(x, a) (x rounded up to a multiple of a).

/**
 * by: who writes the word: 'host' (before machine_init), 'region' (a region's
 * base address, host, before machine_init), 'run' (the host, before starting
 * the threads of a run), 'core' (machine_init and the CPUs: the host leaves it
 * alone; read it for state). def: what faultline's host writes by default
 * (number, or a formula / a note). range: what machine_init accepts.
 */
export const HEADER = {
  H_MAGIC: { w: 'u32', by: 'host', def: 'LAYOUT_MAGIC', range: '= LAYOUT_MAGIC', what: 'marks a faultline header' },
  H_VERSION: { w: 'u32', by: 'host', def: 'LAYOUT_VERSION', range: '= LAYOUT_VERSION', what: 'the layout this header follows' },
  H_NCPUS: { w: 'u32', by: 'host', unit: 'CPUs', def: 'the run\'s CPU count', range: '1 .. MAX_CPUS', what: 'emulated CPUs' },
  H_MODE: { w: 'u32', by: 'host', def: 0, range: 'MODE_PARALLEL (0), MODE_DETERMINISTIC (1)', what: 'deterministic mode needs H_NWORKERS = 1 (every CPU on one worker)' },
  H_STRATEGY: { w: 'u32', by: 'host', def: 0, range: 'STRATEGY_* (0 .. 3)', what: 'the fault path: STRATEGY_MMAP_LOCK, STRATEGY_SPF, STRATEGY_PERVMA, STRATEGY_SPF_MMAPSEQ' },
  H_QUANTUM: { w: 'u32', by: 'host', unit: 'cycles', def: 10000, range: 'MIN_QUANTUM .. 2^32-1', what: 'parallel mode: a CPU runs at most two quanta ahead of the slowest runnable CPU (the lax barrier); also the window of the hot-line rule' },
  H_TLB_SETS: { w: 'u32', by: 'host', unit: 'sets', def: 16, range: 'a power of 2 >= 1', what: 'per-CPU 4 KiB TLB: sets (set = vpn & (sets - 1))' },
  H_TLB_WAYS: { w: 'u32', by: 'host', unit: 'ways', def: 4, range: '1 .. MAX_TLB_WAYS', what: 'per-CPU 4 KiB TLB: ways per set' },
  H_NFRAMES: { w: 'u32', by: 'host', unit: '4 KiB frames', def: 65536, range: '>= 2', what: 'data frames (struct page); frame 0 is the zero page; with 2 sockets the upper half is NUMA node 1' },
  H_NPTPAGES: { w: 'u32', by: 'host', unit: 'pages', def: 4096, range: '>= 2', what: 'page-table pages' },
  H_NVMAS: { w: 'u32', by: 'host', unit: 'slots', def: 4096, range: '>= 2', what: 'VMA slots, machine-wide' },
  H_MAX_VMAS_PER_MM: { w: 'u32', by: 'host', unit: 'VMAs', def: 1024, range: '>= 1', what: 'capacity of one mm\'s VMA index (its region holds two buffers of this many u32)' },
  H_PROFILE_BASE: { w: 'u32', by: 'region', unit: 'address', what: 'the cost vector' },
  H_MM_BASE: { w: 'u32', by: 'region', unit: 'address', what: 'the mm structs' },
  H_PERCPU_BASE: { w: 'u32', by: 'region', unit: 'address', what: 'the per-CPU blocks' },
  H_PERCPU_SIZE: { w: 'u32', by: 'host', unit: 'bytes', def: 'the per-CPU formula', range: '>= the per-CPU formula, a multiple of 64', what: 'stride of the per-CPU blocks' },
  H_FRAMES_BASE: { w: 'u32', by: 'region', unit: 'address', what: 'the frame table' },
  H_PTMETA_BASE: { w: 'u32', by: 'region', unit: 'address', what: 'page-table page metadata' },
  H_PTPAGES_BASE: { w: 'u32', by: 'region', unit: 'address', what: 'the page-table pages' },
  H_VMAS_BASE: { w: 'u32', by: 'region', unit: 'address', what: 'the VMA slots' },
  H_VMA_INDEX_BASE: { w: 'u32', by: 'region', unit: 'address', what: 'the VMA index arrays' },
  H_TOTAL_BYTES: { w: 'u32', by: 'host', unit: 'bytes', def: 'end of the last region, rounded up to 65536', range: '>= the end of every region, <= the memory size', what: 'bytes of the machine (4 GiB - 64 KiB at most: 65536 pages of memory)' },
  H_NMM: { w: 'u32', by: 'host', unit: 'mms', def: 1, range: '>= 1', what: 'address spaces; every CPU runs a thread of mm 0' },
  H_FLAGS: { w: 'u32', by: 'host', def: 0, range: '0 (the released core)', what: 'test hooks (FLAG_*): the test core only' },
  H_GHZ_MILLI: { w: 'u32', by: 'host', unit: 'MHz', def: 'the profile\'s GHz x 1000 (2500)', range: 'any (the core does not read it)', what: 'the emulated clock, for hosts that turn cycles into time' },
  H_TOPO_SOCKETS: { w: 'u32', by: 'host', unit: 'sockets', def: 'the profile\'s (1)', range: '1 .. 2', what: 'topology; socket s >= 1 uses NUMA node 1' },
  H_TOPO_CORES: { w: 'u32', by: 'host', unit: 'cores per socket', def: 'the profile\'s (64)', range: '>= 1', what: 'topology' },
  H_TOPO_THREADS: { w: 'u32', by: 'host', unit: 'threads per core', def: 'the profile\'s (1)', range: '>= 1; sockets x cores x threads >= H_NCPUS', what: 'topology (SMT)' },
  H_NWORKERS: { w: 'u32', by: 'host', unit: 'host threads', def: 'host cores, at most H_NCPUS; 1 in deterministic mode', range: '1 .. H_NCPUS (1 in deterministic mode)', what: 'host workers; each runs a contiguous range of CPUs (WK_FIRST, WK_COUNT)' },
  H_WORKERS_BASE: { w: 'u32', by: 'region', unit: 'address', what: 'the worker blocks' },
  H_ASYNC_BASE: { w: 'u32', by: 'region', unit: 'address', what: 'the Asyncify stacks' },
  H_ASYNC_SIZE: { w: 'u32', by: 'host', unit: 'bytes per CPU', def: '16384 when a worker runs more than one CPU, else 0', range: '0, or >= ASYNC_STACK_MIN when a worker runs several CPUs; a multiple of 16', what: 'Asyncify stack of a suspended CPU (the mn module)' },
  H_STOP: { w: 'u32', by: 'core', def: 0, range: 'STOP_*', what: 'why the run stops (0: it does not); set with compare-exchange from 0' },
  H_STOP_CPU: { w: 'u32', by: 'core', def: 'STOP_CPU_NONE (machine_init)', range: 'a CPU, or STOP_CPU_NONE', what: 'the CPU that stopped the run; STOP_CPU_NONE when the host or a worker\'s scheduler (deadlock) did' },
  H_INIT_DONE: { w: 'u32', by: 'core', def: 'LAYOUT_MAGIC after machine_init', what: 'machine_init() accepted and built the machine; sched_worker_bind() refuses a machine without it' },
  H_RUNQ_BASE: { w: 'u32', by: 'region', unit: 'address', what: 'the run queue' },
  H_OBS: { w: 'u32', by: 'host', def: 0, range: '0 (the released core); in the observe core (faultline-observe.wasm, faultline-observe-mn.wasm) 0 or OBS_LOCK_STAT | OBS_TRACE | OBS_FLAME', what: 'what the run records for observability (assembly/obs.ts); 0: nothing, and the obs words below are not read. The released core has no hooks and refuses any other value' },
  H_OBS_BASE: { w: 'u32', by: 'host', unit: 'address', def: 0, range: 'when H_OBS != 0: a 64-byte aligned region of OBS_GLOBAL_SIZE + H_OBS_STRIDE * [H_NCPUS] bytes, after the others', what: 'the obs region (not in the table of regions: it exists only when H_OBS != 0; layout.ts has its box)' },
  H_OBS_STRIDE: { w: 'u32', by: 'host', unit: 'bytes', def: 0, range: '>= OBS_LOCK_BYTES and the parts below, a multiple of 64', what: 'stride of the per-CPU obs blocks' },
  H_OBS_FLAME_OFF: { w: 'u32', by: 'host', unit: 'bytes', def: 0, range: 'with OBS_FLAME: >= OBS_LOCK_BYTES; FLM_NODES + FN_SIZE * [H_OBS_FLAME_NODES] bytes fit the stride', what: 'offset of the flame part in a CPU\'s obs block' },
  H_OBS_TRACE_OFF: { w: 'u32', by: 'host', unit: 'bytes', def: 0, range: 'with OBS_TRACE: >= OBS_LOCK_BYTES; TR_EVENTS + TE_SIZE * [H_OBS_TRACE_CAP] bytes fit the stride', what: 'offset of the trace ring in a CPU\'s obs block' },
  H_OBS_TRACE_CAP: { w: 'u32', by: 'host', unit: 'events', def: 0, range: '>= 1 with OBS_TRACE', what: 'events a CPU\'s trace ring holds; later ones are counted in TR_DROPPED' },
  H_OBS_FLAME_NODES: { w: 'u32', by: 'host', unit: 'nodes', def: 0, range: '>= 1 with OBS_FLAME', what: 'call-graph nodes per CPU (node 0 is the root; FLM_USED starts at 1)' },
  H_OBS_TRACE_START: { w: 'u64', by: 'host', unit: 'cycles', def: '0 (the whole run)', range: '< H_OBS_TRACE_END', what: 'the trace window: events ending before it are not recorded' },
  H_OBS_TRACE_END: { w: 'u64', by: 'host', unit: 'cycles', def: 'MAX_VCYCLES', range: '> H_OBS_TRACE_START', what: 'the trace window: events starting at or after it are not recorded' },
  H_EPOCH: { w: 'u32', by: 'core', unit: 'quanta', what: 'parallel mode: the barrier epoch (min clock of the counted CPUs / H_QUANTUM)' },
  H_LAGGARD: { w: 'u32', by: 'core', what: 'CPU + 1 that held the epoch back last' },
  H_STEAL: { w: 'u32', by: 'host', def: 0, range: '0 or 1; 1 only for the mn engine in parallel mode with H_NWORKERS > 1 and Asyncify stacks (H_ASYNC_SIZE >= ASYNC_STACK_MIN); src/machine.ts sets it when MachineConfig.steal is true', what: 'work stealing (assembly/steal.ts): a worker none of whose own CPUs can run takes runnable CPUs of another (RQ_OWN)' },
  H_HUNGRY: { w: 'u32', by: 'core', what: 'work stealing: workers whose own CPUs are all parked or finished (the host zeroes it before a run)' },
  H_FRAME_FREE: { w: 'FL_SIZE', by: 'core', what: 'free list of frames (node 0)' },
  H_FRAME_FREE1: { w: 'FL_SIZE', by: 'core', what: 'free list of frames of NUMA node 1' },
  H_PTPAGE_FREE: { w: 'FL_SIZE', by: 'core', what: 'free list of page-table pages' },
  H_VMA_FREE: { w: 'FL_SIZE', by: 'core', what: 'free list of VMA slots' },
  H_RCU_EPOCH: { w: 'u32', by: 'core', what: 'RCU: global epoch' },
  H_RCU_HEAD: { w: 'u32', by: 'core', what: 'RCU: deferred-free queue head (slot + 1)' },
  H_RCU_TAIL: { w: 'u32', by: 'core', what: 'RCU: deferred-free queue tail (slot + 1)' },
  H_RCU_COUNT: { w: 'i32', by: 'core', what: 'RCU: slots queued' },
  H_RCU_GP_WAITERS: { w: 'u32', by: 'core', what: 'RCU: synchronize_rcu() sleepers' },
  H_RCU_GP_TIME: { w: 'u64', by: 'core', unit: 'cycles', what: 'RCU: latest rcu_read_unlock() time a sleeper saw' },
  H_RCU_LOCK: { w: 'SL_SIZE', by: 'core', what: 'RCU: spinlock of the deferred queue' },
  H_PROGRESS: { w: 'u32', by: 'core', unit: 'operations', what: 'bumped on every completed operation (a host watchdog reads it with the clocks)' },
  H_STARTED: { w: 'u32', by: 'run', def: 0, what: 'threads ready to start: each bumps it after sched_worker_bind(); the host zeroes it before a run' },
  H_RENDEZVOUS: { w: 'u32', by: 'run', unit: 'threads', def: 'the run\'s thread count', what: 'threads to wait for before any starts' },
  H_VCPUS: { w: 'u32', by: 'host', unit: 'CPUs', def: '0 (every task has a CPU of its own)', range: '0 or 1 .. H_NCPUS; the topology holds at least this many (H_NCPUS without a run queue)', what: 'a guest run queue (assembly/vcpu.ts): the emulated CPUs the H_NCPUS tasks share, task t on CPU t % H_VCPUS; 0 or H_NCPUS: off' },
  H_ZONE_LOCK: { w: 'SL_SIZE', by: 'core', what: 'zone lock of node 0' },
  H_ZONE_LOCK1: { w: 'SL_SIZE', by: 'core', what: 'zone lock of node 1' },
  H_LRU_LOCK: { w: 'SL_SIZE', by: 'core', what: 'LRU lock of node 0' },
  H_LRU_LOCK1: { w: 'SL_SIZE', by: 'core', what: 'LRU lock of node 1' },
  H_FILES_BASE: { w: 'u32', by: 'region', unit: 'address', what: 'the page-cache files (regular, then shmem)' },
  H_NFILES: { w: 'u32', by: 'host', unit: 'files', def: 8, range: '>= H_SHMEM_FIRST + H_SHMEM_MAX', what: 'file slots: H_SHMEM_FIRST regular files, then the shmem pool' },
  H_FILE_PAGES: { w: 'u32', by: 'host', unit: 'pages', def: 1024, range: 'any', what: 'stride of the file index: the largest file (regular file size, shmem object limit)' },
  H_FILE_INDEX_BASE: { w: 'u32', by: 'region', unit: 'address', what: 'the page-cache index (u32 pfn + 1 per file page)' },
  H_PCM_BASE: { w: 'u32', by: 'region', unit: 'address', what: 'per-CPU mm state (PCM_*)' },
  H_TAG_LOCK: { w: 'SL_SIZE', by: 'core', what: 'MTE tag-storage pool lock' },
  H_TAG_FREE: { w: 'u32', by: 'core', unit: 'pages', what: 'MTE tag storage free' },
  H_TAG_TOTAL: { w: 'u32', by: 'core', unit: 'pages', what: 'MTE tag storage in all (SET_TAG_STORAGE)' },
  H_SETTINGS: { w: 'NSETTINGS x u32', by: 'host', what: 'the fault-path settings (SET_*, below)' },
  H_UFFD_BASE: { w: 'u32', by: 'region', unit: 'address', what: 'the userfaultfd contexts and per-CPU wait entries' },
  H_SHMEM_FIRST: { w: 'u32', by: 'host', unit: 'file id', def: 0, range: 'H_SHMEM_FIRST + H_SHMEM_MAX <= H_NFILES', what: 'first shmem object = number of regular files' },
  H_SHMEM_MAX: { w: 'u32', by: 'host', unit: 'objects', def: 8, range: 'see H_SHMEM_FIRST', what: 'shmem objects the machine can create (MAP_SHARED|MAP_ANONYMOUS, memfd)' },
  H_SHMEM_NEXT: { w: 'u32', by: 'core', what: 'shmem objects created' },
  H_UFFD_MAX: { w: 'u32', by: 'host', unit: 'contexts', def: 15, range: '0 .. MAX_UFFD', what: 'userfaultfd contexts the machine can create' },
  H_UFFD_NEXT: { w: 'u32', by: 'core', what: 'userfaultfd contexts created' },
};

/** the fault-path settings: u32 at HDR_BASE + H_SETTINGS + SET_* (def: faultline's host default; byStrategy: a default that depends on H_STRATEGY) */
export const SETTINGS = {
  SET_SPF_RETRY: { def: 0, range: 'SPF_RETRY_UNBOUNDED (0), N (1 .. 2^32-2), SPF_RETRY_SPIN (0xffffffff)', what: 'pte_map_lock()\'s trylock: unbounded with IRQ relax (as merged), at most N tries then the classic path, or spin with IRQs off (unsafe: shows the deadlock)' },
  SET_THP: { def: 0, range: 'THP_NEVER (0), THP_ALWAYS (1), THP_MADVISE (2)', what: 'transparent huge pages' },
  SET_PCP_BATCH: { def: 63, range: '1 .. 512', unit: 'pages', what: 'pages moved between a per-CPU list and the zone per zone-lock hold (Linux: 63)' },
  SET_PCP_HIGH: { def: 378, range: 'SET_PCP_BATCH .. PCP_MAX - 1', unit: 'pages', what: 'a per-CPU list drains above this (Linux: 6 x batch)' },
  SET_LRU_BATCH: { def: 15, range: '1 .. LRU_MAX', unit: 'pages', what: 'pages per LRU-lock acquisition (Linux PAGEVEC_SIZE: 15)' },
  SET_RSS_THRESH: { def: 64, range: '1 .. 1048576', unit: 'events', what: 'per-CPU RSS events before folding into the mm (Linux TASK_RSS_EVENTS_THRESH: 64)' },
  SET_NUMA_PERIOD: { def: 0, range: 'any (0 = off)', unit: 'cycles', what: 'virtual cycles between NUMA-balancing scans' },
  SET_NUMA_PAGES: { def: 65536, range: '>= 1 when SET_NUMA_PERIOD != 0', unit: 'pages', what: 'PTEs marked protnone per scan (Linux: 256 MiB)' },
  SET_ZAP_FLUSH_UNDER_PTL: { def: 0, range: '0, 1', what: '1: zap flushes the TLB before dropping each PTL' },
  SET_BUG: { def: 0, range: '0 (the released core)', what: 'planted bugs (BUG_*): the test core only' },
  SET_MM_USERS_ONE: { def: 0, range: '0, 1', what: '1: pretend the mm is single-threaded (SPF\'s mm_users == 1 rule)' },
  SET_MUNMAP_DOWNGRADE: { def: 1, byStrategy: { STRATEGY_SPF: 0 }, range: '0, 1', what: '1: munmap detaches the VMAs, then zaps under mmap_lock for read (Linux 4.20+); 0: all under the write lock (the kernels the SPF series was measured on)' },
  SET_SPF_LOOKUP: { def: 0, range: 'SPF_LOOKUP_V11 (0), SPF_LOOKUP_V12 (1)', what: 'how the spf strategy\'s get_vma() finds the VMA' },
  SET_UFFD_SPF_RACE: { def: 0, range: 'UFFD_RACE_IGNORE (0), UFFD_RACE_ABORT (1)', what: 'a userfaultfd registration that lands during a speculative fault' },
  SET_PERVMA_KERNEL: { def: 615, range: 'PERVMA_KERNEL_6_4 (604), PERVMA_KERNEL_6_6 (606), PERVMA_KERNEL_6_7 (607), PERVMA_KERNEL_6_15 (615)', what: 'the Linux release whose per-VMA locks the pervma strategy follows (what each handles under the VMA lock: assembly/pervma.ts)' },
  SET_TAG_STORAGE: { def: 0, range: 'any (0 = none: PROT_MTE is EINVAL)', unit: 'pages', what: 'MTE tag-storage pool' },
};

/** the per-CPU block: fixed fields and stats | IPI mailbox | TLB | host scratch */
export const PERCPU = {
  mailboxOff: 'PC_STATS + 8 * NSTATS_ALIGNED',
  mailboxBytes: 'align([H_NCPUS] * MB_SIZE, CACHE_LINE)',
  tlbOff: 'PC_STATS + 8 * NSTATS_ALIGNED + align([H_NCPUS] * MB_SIZE, CACHE_LINE)',
  tlbBytes: '[H_TLB_SETS] * [H_TLB_WAYS] * TLBE_SIZE + TLB2M_BYTES',
  size: 'align(PC_STATS + 8 * NSTATS_ALIGNED + align([H_NCPUS] * MB_SIZE, CACHE_LINE) + [H_TLB_SETS] * [H_TLB_WAYS] * TLBE_SIZE + TLB2M_BYTES, 4096)',
};

/** the regions, in order after the header (first at HDR_BASE + HDR_SIZE); align: what machine_init requires (the host's own layout, in brackets in the doc, may align more) */
export const REGIONS = [
  { name: 'profile', base: 'H_PROFILE_BASE', bytes: 'NCOSTS * 4', align: 64, what: 'the cost vector: u32 cycles per COST_* index' },
  { name: 'mm', base: 'H_MM_BASE', bytes: 'MM_SIZE * [H_NMM]', align: 64, what: 'one mm per address space' },
  { name: 'percpu', base: 'H_PERCPU_BASE', bytes: '[H_PERCPU_SIZE] * [H_NCPUS]', align: 64, hostAlign: 4096, what: 'one block per CPU (below)' },
  { name: 'frames', base: 'H_FRAMES_BASE', bytes: 'FR_SIZE * [H_NFRAMES]', align: 64, what: 'the frame table (struct page)' },
  { name: 'ptmeta', base: 'H_PTMETA_BASE', bytes: 'PTM_SIZE * [H_NPTPAGES]', align: 64, what: 'per page-table page: its PTL, counts, line metadata' },
  { name: 'ptpages', base: 'H_PTPAGES_BASE', bytes: '4096 * [H_NPTPAGES]', align: 4096, what: 'the page-table pages' },
  { name: 'vmas', base: 'H_VMAS_BASE', bytes: 'VMA_SIZE * [H_NVMAS]', align: 64, what: 'VMA slots' },
  { name: 'vmaIndex', base: 'H_VMA_INDEX_BASE', bytes: '4 * [H_MAX_VMAS_PER_MM] * 2 * [H_NMM]', align: 64, what: 'per mm: two index buffers of H_MAX_VMAS_PER_MM u32' },
  { name: 'pcm', base: 'H_PCM_BASE', bytes: 'PCM_SIZE * [H_NCPUS]', align: 64, what: 'per-CPU mm state: pcp lists, LRU and mmu_gather batches' },
  { name: 'workers', base: 'H_WORKERS_BASE', bytes: 'WK_SIZE * [H_NWORKERS]', align: 64, what: 'one block per host thread (WK_*)' },
  { name: 'runq', base: 'H_RUNQ_BASE', bytes: 'RQ_SIZE * [H_NCPUS]', align: 64, what: 'the scheduler\'s run-queue entries' },
  { name: 'async', base: 'H_ASYNC_BASE', bytes: '[H_ASYNC_SIZE] * [H_NCPUS]', align: 16, what: 'Asyncify stacks (0 bytes when H_ASYNC_SIZE is 0)' },
  { name: 'files', base: 'H_FILES_BASE', bytes: 'FILE_SIZE * [H_NFILES]', align: 64, what: 'page-cache files: regular, then the shmem pool' },
  { name: 'fileIndex', base: 'H_FILE_INDEX_BASE', bytes: '4 * [H_NFILES] * [H_FILE_PAGES]', align: 64, what: 'the page-cache index: file f page i at 4 * (f * H_FILE_PAGES + i)' },
  { name: 'uffd', base: 'H_UFFD_BASE', bytes: 'UFFD_REGION_SIZE', align: 64, what: 'userfaultfd contexts (MAX_UFFD x UFFD_SIZE) and per-CPU wait entries (MAX_CPUS x UWQ_SIZE)' },
];

/** bytes of Asyncify stack per CPU faultline's host gives (src/machine.ts ASYNC_STACK_BYTES) */
export const ASYNC_STACK_BYTES = 16384;
