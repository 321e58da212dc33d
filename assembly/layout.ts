// Shared-memory layout of one emulated machine.
//
// The host (src/machine.ts) carves the regions at start-up and writes their
// base addresses into the header; the Wasm core reads them back with the
// accessors at the bottom. Field offsets inside each struct are the named
// constants below; they are exported to the host through the ABI (index.ts
// re-exports this module), so both sides read ONE definition.
//
//   0 ............ 64 KiB  static data of the module (re-applied by every
//                          instantiation: constant only, never written)
//   HDR_BASE ..... header (4 KiB): config + global sync words
//   ...            regions, each 64-byte aligned, in this order:
//                  profile costs | mm | per-CPU blocks | frame table |
//                  page-table page meta | page-table pages | VMA slots |
//                  VMA index arrays
//
// Every struct shared between CPUs is a box of fixed offsets; u64 fields are
// 8-aligned so 64-bit atomics are legal on them.

import { NSTATS, NLOCK_CLASSES, LS_SIZE } from './generated';

export const HDR_BASE: u32 = 0x10000;
export const LAYOUT_MAGIC: u32 = 0x46544c4e; // "FTLN"
export const LAYOUT_VERSION: u32 = 4; // 2: MAX_CPUS 256, 128-byte line metadata, mailbox sized by the run; 3: mm_rb_lock, two-buffer VMA index; 4: NUMA node 1 zone/LRU locks and free list in the header
// The version of the raw Wasm ABI of the released core (docs/abi.md: imports,
// exports and their signatures, every exported constant). Bump it on ANY change
// of those, then run `npm run abi` (test/host/abi.test.ts fails until both are done).
export const ABI_VERSION: u32 = 35; // 35: IPI_ACK_AT_ARRIVAL (a flag of the IPI mailbox's kind: a guest run queue's target task that got its vCPU after the flush; its ack counts at the arrival); 34: FL_UNTOUCHED (+12 of a free list, inside FL_WORDS): the untouched frames and page-table pages of their lists, none written by machine_init; 33: the test call t_poll_flag (a poller beside a lost wake-up), FLAG_LOSE_WAKE also drops a WAIT_FLAG waiter's wake-up; 32: a KVM host's adaptive halt polling (cpuidle.ts): PC_VCPU_HALT_POLL (per-CPU +568), cost keys halt_poll_max, halt_block_wake, host_cpuidle1..3_exit_latency/_target_residency (NCOSTS 46), counters halt_poll_success, halt_block, halt_block_cycles; 31: counter wakeup_rescued (a lost wake-up the safety net ended), FLAG_LOSE_WAKE (test), WK_SLEEPING holds a sleep number (runq.ts sleep_begin), run-queue entry +24/+28 (the safety net's rescue mark); 30: a guest run queue (vcpu.ts): H_VCPUS, PC_ON_CPU, PC_NEED_RESCHED, PC_VRUNTIME, PC_VCPU_* (per-CPU +496..+512, +536..+568), WAIT_VCPU, cost key context_switch, counters vcpu_*; 29: cost key pte_first_access (COST_PTE_FIRST_ACCESS, NCOSTS 37): the re-executed access after a handled fault; 28: work stealing back (issue 24; off by default): RQ_OWN and OWN_*, WK_HUNGRY, WK_OFFERED, WK_STEALS, WK_STEALS_MIDCALL, WK_HANDBACK, WK_TIMEOUTS, WK_STEALS_MIDFAULT, WK_OFFER_MAP (WK_SIZE 1280), H_STEAL, H_HUNGRY, FLAG_STEAL_EAGER, FLAG_NO_SAFETY_NET, PC_STRESS_UFFD (per-CPU +512), PC_STATS 576 (was 512); 27: counters ipi_idle and shootdown_idle_skip, the test-core call flush_tlb_mm_range_freed_tables (a shootdown skips CPUs whose task sleeps: ipi.ts "Idle CPUs"); 26: the fault workloads' entry points take a host-written struct wl_args (WLA_*): wl_page_fault(mm, file, at, args), wl_mmap(mm, file, args), wl_tlb_flush(mm, file, args), wl_mte_tag(mm, args), wl_ebizzy(mm, me, window, args), wl_mapbench(mm, base, first, args), wl_mapbench_pipeline(mm, me, my_flags, prev_flags, args), wl_pft(mm, me, window, args); 25: FLAG_VMA_UNLINK_STALL (test: vma_unlink() held up before mm_rb_lock); 24: which words share a modelled line (FL_WORDS, SL_WORDS, RW_WORDS, SQ_WORDS, RC_WORDS, FILE_WORDS, VMA_WORDS, MM_LOCK_SEQ_WORDS, MM_RSS_WORDS, UFFD_WORDS; LW_*: the seam for shared words, shared.ts); 23: PC_WAKE_LINK (per-CPU +492: the rwsem wake order sorted once per release); 22: work stealing reverted (RQ_OWN, OWN_*, WK_HUNGRY..WK_OFFER_MAP, H_STEAL, H_HUNGRY, FLAG_STEAL_EAGER, FLAG_NO_SAFETY_NET, PC_STRESS_UFFD gone; WK_SIZE as before); 21: the test call t_set_flag_peek (a woken waiter's state seen by its waker); 20: work stealing (issue 24): RQ_OWN and OWN_* (the run-queue entry's ownership word, +20), WK_HUNGRY, WK_OFFERED, WK_STEALS, WK_STEALS_MIDCALL, WK_HANDBACK, WK_TIMEOUTS, WK_STEALS_MIDFAULT, WK_OFFER_MAP (WK_SIZE 1280), H_STEAL, H_HUNGRY, FLAG_STEAL_EAGER, FLAG_NO_SAFETY_NET, PC_STRESS_UFFD (per-CPU +492: the stress's userfaultfd mix, was module globals); 19: PC_WAKE_RANK (per-CPU +488: the rwsem's wake order), counter rwsem_wake_order_cycles; 18: the released core exports only what hosts call (kernel internals move to the test core: cpumask, line model, lock slow halves, walkers, TLB, RCU, VMA slots); stress_run(mm, base, npages, ops, mix, out) and stress_munmap_race(mm, base, race, out) take host-written structs (SMIX_*, SRACE_*); 17: the observability hooks only in the observe core (faultline-observe*.wasm): the released core refuses H_OBS != 0; 16: idle states: cost keys cpuidle1..3_exit_latency / _target_residency (COST_CPUIDLE*), PC_IDLE_SINCE (per-CPU +480), counter cpuidle_exit_cycles; 15: the flame graph and the timeline: FN_* kernel functions (spec/functions.json), FNODE_* (were FN_* node fields), TE_*, the trace and flame hooks; 14: the rwsem's wait list: RW_WAITLIST (was RW_WWAIT), RWSEM_FLAG_HANDOFF, RWSEM_WAITLIST_MASK, PC_RWQ / PC_RWQ_SINCE (per-CPU +464, +472), RWQ_READER / RWQ_WRITER; 13: observability (H_OBS_* header words, OBS_*, the obs region: LS_*, TR_*, TE_*, FLM_*, FN_*, FAULT_PATH_*, SYS_*, CTR_*; lockClasses carry kernel names); 12: userfaultfd as Linux 6.12 (PC_UFFD_MSG_TID/ADDR, FLAG_UFFD_QUEUE_STALL, the calls uffd_msg_address/uffd_msg_tid); 11: PC_SMT_EXTRA (per-CPU +104), cost key smt_slowdown (COST_SMT_SLOWDOWN), counter rwsem_sleep; SET_PERVMA_KERNEL (slot 52) and PERVMA_KERNEL_*, vma_start_read() returns 1/0/-1 (locked / not / detached), wl_ebizzy(mm, opts, ...) and EBIZZY_*; 10: wl_atomic_inc, wl_lock_inc, wl_rwsem_mix (the micro-workloads run on the released core; t_atomic_inc, t_lock_inc, t_rwsem_mix gone); 9: WAIT_FLAG and WAIT_POLL (a flag word and a polled word are no longer WAIT_SPIN), the test call t_await_handler_idle; 8: the fault workloads' loops take a steady-state block (wl_page_fault, wl_mmap, wl_tlb_flush, wl_ebizzy, wl_mapbench, wl_mte_tag, wl_pft: a last u32 argument); 7: PROT_NONE/READ/WRITE/EXEC exported; docs/abi.md prints 64-bit constants exactly; 6: machine_init() checks the layout (H_INIT_DONE, STOP_CPU_NONE, MIN_QUANTUM, MAX_TLB_WAYS, MAX_COST_CYCLES, ASYNC_STACK_MIN), NCALLS of the released core counts its own calls; 5: userfaultfd and shmem (uffd region, H_UFFD_*/H_SHMEM_*, shmem file slots, the uffd calls); 4: per-node zone/LRU locks and free list, STRATEGY_SPF_MMAPSEQ, wl_pft, HDR_SCRATCH 2560; 3: CALL_TABLE_HASH (the host refuses a core whose call table is not its own); 2: mm_rb_lock, the two-buffer VMA index (vmaIndex region 2 x max_vmas_per_mm u32 per mm), SET_SPF_LOOKUP
export const MAX_CPUS: u32 = 256;
// A CPU set (struct cpumask) is MAX_CPUS bits: CPUMASK_WORDS u64 words, CPU c
// is bit (c & 63) of word (c >> 6). Helpers in cpumask.ts.
export const CPUMASK_WORDS: u32 = MAX_CPUS / 64;
export const CPUMASK_SIZE: u32 = CPUMASK_WORDS * 8;
export const PAGE_SIZE: u32 = 4096;
export const PAGE_SHIFT: u32 = 12;
export const CACHE_LINE: u32 = 64;

// ---- header ---------------------------------------------------------------
//  +0   magic            +4   version         +8   ncpus          +12  mode
//  +16  strategy         +20  quantum (cyc)   +24  tlb_sets       +28  tlb_ways
//  +32  nframes          +36  nptpages        +40  nvmas          +44  max_vmas_per_mm
//  +48  profile_base     +52  mm_base         +56  percpu_base    +60  percpu_size
//  +64  frames_base      +68  ptmeta_base     +72  ptpages_base   +76  vmas_base
//  +80  vma_index_base   +84  total_bytes     +88  nmm            +92  flags (test hooks)
//  +96  ghz_milli        +100 topo sockets    +104 topo cores/socket +108 topo threads/core
//  +112 nworkers (host workers of the run)     +116 workers_base (WK_SIZE blocks)
//  +120 async_base (per-CPU Asyncify stacks)   +124 async_size (bytes per CPU)
//  --- sync words, one per cache line ---
//  +128 stop (0 = run, else STOP_* reason)    +132 stop_cpu (STOP_CPU_NONE: not a CPU)   +136 runq_base (sched.ts: RQ_SIZE bytes per CPU)
//  +140 init done (LAYOUT_MAGIC after machine_init() checked and built the machine)
//  +144 .. +192 observability (H_OBS_*: what to record and where; obs.ts)
//  +192 epoch (barrier, u32)                  +196 laggard (cpu + 1 that held the epoch back at the last look: the next look starts there)
//  +256 steal (1: idle workers of this run take runnable CPUs from busy ones; sched.ts)  +260 hungry (workers with none of their own CPUs runnable)
//  --- free lists (FL_SIZE = 144 each: head u64 tag<<32 | index+1, count, untouched (frame lists), line meta) ---
//  +320 frame free list    (.. 464)
//  +512 ptpage free list   (.. 656)
//  +704 vma free list      (.. 848)
//  --- RCU (rcu.ts): the epoch line and the deferred-free queue ---
//  +896 u32 global epoch (advanced by every call_rcu_vma)
//  +900 u32 deferred head (slot+1, 0 = empty: the OLDEST queued slot)
//  +904 u32 deferred tail (slot+1, 0 = empty: the newest)
//  +908 i32 deferred count                    +912 u32 synchronize_rcu() sleepers
//  +920 u64 latest rcu_read_unlock() time seen by a sleeper (virtual clock)
//  +960 spinlock (SL_SIZE = 160, .. 1120): serializes the deferred queue and the epoch advance
//  +1152 progress (u32, bumped on every completed operation)
//  +1216 started (u32: host workers ready to start; they start together)  +1220 rendezvous (u32: workers to wait for, set by the host's run())
//  +1224 vcpus (u32: the emulated CPUs the run's tasks share, vcpu.ts; 0 or ncpus: every task has a CPU of its own)
//  +1280 zone lock (spinlock, class zone, .. 1440)
//  +1472 LRU lock (spinlock, class lru, .. 1632)
//  +1664 page-cache files: u32 base, u32 count, u32 max pages per file, u32 index base
//  +1680 u32 per-CPU mm state base (PCM_*)
//  +1728 fault-path settings (SET_*, NSETTINGS u32 = 64 bytes, .. 1792, written by the host)
//  +1792 MTE tag-storage pool (mte.ts): spinlock (SL_SIZE = 160, class tag_storage, .. 1952),
//        +1952 u32 free units (one unit = the tag storage of one 4 KiB page), +1956 u32 total units
//  +1960 .. 1984 userfaultfd and shmem words (H_UFFD_*, H_SHMEM_*, below)
//  +1984 zone lock of NUMA node 1 (spinlock, class zone, .. 2144): CPUs of socket >= 1
//  +2176 LRU lock of NUMA node 1 (spinlock, class lru, .. 2336)
//  +2368 frame free list of NUMA node 1 (FL_SIZE, .. 2512): frames of the upper half when the profile has 2+ sockets
//  +2560 .. 4096 host scratch (test objects allocated by the host)
// Every lock and list head starts a 64-byte line of its own (the structs are
// longer than a line now that line metadata holds 256-bit CPU masks).
export const H_MAGIC: u32 = 0;
export const H_VERSION: u32 = 4;
export const H_NCPUS: u32 = 8;
export const H_MODE: u32 = 12;
export const H_STRATEGY: u32 = 16;
export const H_QUANTUM: u32 = 20;
export const H_TLB_SETS: u32 = 24;
export const H_TLB_WAYS: u32 = 28;
export const H_NFRAMES: u32 = 32;
export const H_NPTPAGES: u32 = 36;
export const H_NVMAS: u32 = 40;
export const H_MAX_VMAS_PER_MM: u32 = 44;
export const H_PROFILE_BASE: u32 = 48;
export const H_MM_BASE: u32 = 52;
export const H_PERCPU_BASE: u32 = 56;
export const H_PERCPU_SIZE: u32 = 60;
export const H_FRAMES_BASE: u32 = 64;
export const H_PTMETA_BASE: u32 = 68;
export const H_PTPAGES_BASE: u32 = 72;
export const H_VMAS_BASE: u32 = 76;
export const H_VMA_INDEX_BASE: u32 = 80;
export const H_TOTAL_BYTES: u32 = 84;
export const H_NMM: u32 = 88;
export const H_FLAGS: u32 = 92;
export const H_GHZ_MILLI: u32 = 96;
export const H_TOPO_SOCKETS: u32 = 100;
export const H_TOPO_CORES: u32 = 104;
export const H_TOPO_THREADS: u32 = 108;
export const H_NWORKERS: u32 = 112;
export const H_WORKERS_BASE: u32 = 116;
export const H_ASYNC_BASE: u32 = 120;
export const H_ASYNC_SIZE: u32 = 124;
export const H_STOP: u32 = 128;
export const H_STOP_CPU: u32 = 132; // the CPU that stopped the run, or STOP_CPU_NONE (the host stopped it, or a worker's scheduler found the deadlock)
export const STOP_CPU_NONE: u32 = 0xffffffff;
export const H_INIT_DONE: u32 = 140; // LAYOUT_MAGIC once machine_init() accepted the layout (sched_worker_bind refuses a machine without it)
export const H_RUNQ_BASE: u32 = 136;
// Observability (assembly/obs.ts): what a run asked to record. Header words
// +144 .. +192, written once by the host before any CPU runs (read-mostly:
// they share the stop line, which is written once per run).
export const H_OBS: u32 = 144; // OBS_* flags; 0 (every run that asks for nothing): no hook records anything
export const H_OBS_BASE: u32 = 148; // the obs region: OBS_GLOBAL_SIZE bytes, then one block per CPU, H_OBS_STRIDE apart
export const H_OBS_STRIDE: u32 = 152;
export const H_OBS_FLAME_OFF: u32 = 156; // offset of the flame part inside a CPU's block (0: not recorded)
export const H_OBS_TRACE_OFF: u32 = 160; // offset of the trace ring inside a CPU's block (0: not recorded)
export const H_OBS_TRACE_CAP: u32 = 164; // events per CPU's ring; later events are counted as dropped
export const H_OBS_FLAME_NODES: u32 = 168; // call-graph nodes per CPU
export const H_OBS_TRACE_START: u32 = 176; // u64: the trace window [start, end) in virtual cycles
export const H_OBS_TRACE_END: u32 = 184; // u64
export const OBS_LOCK_STAT: u32 = 1; // per lock class: bounces, wait and hold min/max/total (/proc/lock_stat)
export const OBS_TRACE: u32 = 2; // per-CPU ring of timeline events (faults, lock waits, shootdowns, IPIs, userfault waits, barriers, syscalls)
export const OBS_FLAME: u32 = 4; // per-CPU call graph of kernel functions with the virtual cycles spent in each

export const RQ_SIZE: u32 = 32;
// Work stealing (parallel mode, M:N engine, sched.ts / runq.ts): which worker may touch a CPU's
// run-queue entry and run it. One u32 per CPU at RQ_OWN of its run-queue entry, changed only as
// drawn (every arrow is one atomic store or CAS by the named thread):
//
//        home: CAS (reclaim)              thief: CAS (steal)
//   HOME <------------------- OFFERED ------------------------> STOLEN
//    |  ----------------------->          (home: store)           |
//    |     home: store (runnable, with a call, not running;       | thief: store (the CPU parked,
//    |     taken out of home's heap first)                         | yielded or its call returned),
//    |                                                             | then its bit in home's WK_HANDBACK
//    +<------------------------- BACK <----------------------------+
//          home: store (sched_run, re-queues it)
//
// HOME: the home worker (PC_WORKER) owns the entry (its heap, bitmaps) and alone runs the CPU.
// OFFERED: runnable, out of home's heap; nobody runs it. STOLEN: only the thief's thread runs it
// and writes its entry (the CPU's own code: park token, spinning flag; the thief: RQ_SUSPENDED,
// RQ_HAS_CALL); home reads nothing of it and skips its wake-ups (the hand-back re-checks the
// wake token). BACK: nobody runs it; home takes it back at its next round. A CPU is resumed by
// one thread at a time because only HOME (home) and STOLEN (thief) run it, and each is entered
// from OFFERED by one CAS.
export const RQ_OWN: u32 = 20;
export const OWN_HOME: u32 = 0;
export const OWN_OFFERED: u32 = 1;
export const OWN_STOLEN: u32 = 2;
export const OWN_BACK: u32 = 3;
export const H_EPOCH: u32 = 192;
export const H_LAGGARD: u32 = 196;
export const H_STEAL: u32 = 256; // 1: work stealing on (the host: mn engine, parallel mode, 2+ workers, Asyncify stacks for every CPU)
export const H_HUNGRY: u32 = 260; // workers whose own CPUs are all parked or finished (WK_HUNGRY set): a busy worker offers CPUs while > 0
export const H_FRAME_FREE: u32 = 320;
export const H_PTPAGE_FREE: u32 = 512;
export const H_VMA_FREE: u32 = 704;
export const H_RCU_EPOCH: u32 = 896;
export const H_RCU_HEAD: u32 = 900;
export const H_RCU_TAIL: u32 = 904;
export const H_RCU_COUNT: u32 = 908;
export const H_RCU_GP_WAITERS: u32 = 912;
export const H_RCU_GP_TIME: u32 = 920;
export const H_RCU_LOCK: u32 = 960;
export const H_PROGRESS: u32 = 1152;
export const H_STARTED: u32 = 1216;
export const H_RENDEZVOUS: u32 = 1220;
export const H_VCPUS: u32 = 1224;
export const H_ZONE_LOCK: u32 = 1280;
export const H_LRU_LOCK: u32 = 1472;
// Linux keeps a zone (zone->lock) and an lruvec (lru_lock) per NUMA node
// (pgdat); a CPU allocates from and adds to its own node's under the default
// policy. Node n = min(socket, 1): the profiles have at most 2 sockets.
// Each node's zone has its own free list (frames.ts frame_node()).
export const H_ZONE_LOCK1: u32 = 1984;
export const H_LRU_LOCK1: u32 = 2176;
export const H_FRAME_FREE1: u32 = 2368;
export const H_FILES_BASE: u32 = 1664;
export const H_NFILES: u32 = 1668;
export const H_FILE_PAGES: u32 = 1672;
export const H_FILE_INDEX_BASE: u32 = 1676;
export const H_PCM_BASE: u32 = 1680; // per-CPU mm state (PCM_*), PCM_SIZE stride
// fault-path settings
export const H_TAG_LOCK: u32 = 1792;
export const H_TAG_FREE: u32 = 1952;
export const H_TAG_TOTAL: u32 = 1956;
export const H_SETTINGS: u32 = 1728;
export const SET_SPF_RETRY: u32 = 0; // SPF_RETRY_* or N > 0: trylock at most N times, then abort to the classic path
export const SET_THP: u32 = 4; // THP_*
export const SET_PCP_BATCH: u32 = 8; // pages moved between a per-CPU list and the zone per zone-lock hold (Linux: 63)
export const SET_PCP_HIGH: u32 = 12; // per-CPU list drains above this (Linux: 6 * batch)
export const SET_LRU_BATCH: u32 = 16; // pages per LRU-lock acquisition (Linux PAGEVEC_SIZE: 15)
export const SET_RSS_THRESH: u32 = 20; // per-CPU RSS events before folding into the mm (Linux TASK_RSS_EVENTS_THRESH: 64)
export const SET_NUMA_PERIOD: u32 = 24; // virtual cycles between NUMA-balancing scans (0 = off)
export const SET_NUMA_PAGES: u32 = 28; // pages marked protnone per scan (Linux: 256 MiB = 65536)
export const SET_ZAP_FLUSH_UNDER_PTL: u32 = 32; // 1: zap flushes the TLB before dropping each PTL (as for dirty shared pages)
export const SET_BUG: u32 = 36; // test-only planted bugs (BUG_*), 0 in every real run
export const SET_MM_USERS_ONE: u32 = 40; // 1: pretend the mm is single-threaded (SPF's mm_users == 1 rule)
export const SET_MUNMAP_DOWNGRADE: u32 = 44; // 1: munmap detaches the VMAs, then zaps under mmap_lock for read (Linux 4.20+); 0: all under the write lock
// what a speculative fault does when a userfaultfd registration landed after its start check
// (SPF v12 review, LKML 2019: Dufour's rule vs Glisse's): UFFD_RACE_*
export const SET_UFFD_SPF_RACE: u32 = 56;
export const SET_TAG_STORAGE: u32 = 60; // MTE tag-storage pool size in 4 KiB-page units (0 = no tag storage: PROT_MTE is EINVAL)
export const SET_SPF_LOOKUP: u32 = 48; // SPF_LOOKUP_*: how get_vma() finds the VMA
// the Linux release whose per-VMA locks the pervma strategy follows (PERVMA_KERNEL_*: major * 100 + minor)
export const SET_PERVMA_KERNEL: u32 = 52;
export const NSETTINGS: u32 = 16;
export const SPF_RETRY_UNBOUNDED: u32 = 0; // trylock + IRQ relax until it succeeds (as merged in the series)
export const SPF_RETRY_SPIN: u32 = 0xffffffff; // spin_lock with IRQs off: unsafe, shows the deadlock
export const SPF_LOOKUP_V11: u32 = 0; // read_lock(mm_rb_lock) + __find_vma (SPF v11, 2018): the default
export const SPF_LOOKUP_V12: u32 = 1; // find_vma_rcu(): mm_seq seqlock retry under RCU (SPF v12, 2019)
// pervma.ts: what each release handles under the VMA lock
export const PERVMA_KERNEL_6_4: u32 = 604; // anonymous VMAs with an anon_vma only (the per-VMA lock series as merged)
export const PERVMA_KERNEL_6_6: u32 = 606; // file VMAs and userfaultfd admitted; file faults drop the lock and retry
export const PERVMA_KERNEL_6_7: u32 = 607; // file read, COW and shared faults, write faults to RO file pages under the VMA lock
export const PERVMA_KERNEL_6_15: u32 = 615; // vm_refcnt replaces the VMA's rwsem and its detached flag
export const THP_NEVER: u32 = 0;
export const THP_ALWAYS: u32 = 1;
export const THP_MADVISE: u32 = 2;
export const BUG_SKIP_VMA_CHANGED: u32 = 1; // pte_map_lock() skips its second vma_has_changed()
export const BUG_SKIP_SHOOTDOWN: u32 = 2; // munmap skips the remote TLB shootdown
export const HDR_SIZE: u32 = 4096;
// limits machine_init() checks (init_check.ts; docs/abi.md "Header words")
export const MIN_QUANTUM: u32 = 100; // cycles
export const MAX_TLB_WAYS: u32 = 64;
export const MAX_COST_CYCLES: u32 = 10_000_000; // a cost-vector entry is below this (src/profile.ts MAX_CYCLES)
export const ASYNC_STACK_MIN: u32 = 4096; // bytes of Asyncify stack per CPU when a worker runs several (high-water mark ~1.2 KiB); the host gives 16 KiB
export const HDR_SCRATCH: u32 = 2560; // host scratch: HDR_SCRATCH .. HDR_SIZE (Machine.hostAlloc)

// run modes
export const MODE_PARALLEL: u32 = 0;
export const MODE_DETERMINISTIC: u32 = 1;

// stop reasons (H_STOP)
export const STOP_NONE: u32 = 0;
export const STOP_HOST: u32 = 1; // the host asked (error elsewhere, interrupt)
export const STOP_DEADLOCK: u32 = 2; // deterministic mode found no runnable CPU
export const STOP_CRASH: u32 = 3; // a CPU trapped
export const STOP_VCYCLES: u32 = 4; // a clock reached MAX_VCYCLES (the cache-line model's limit)

// header flags (test hooks; never set in normal runs)
export const FLAG_NO_LOCK: u32 = 1; // test: spin_lock/unlock do nothing (the lost-update control)
export const FLAG_NO_RCU_GRACE: u32 = 2; // test: rcu_reclaim() ignores readers (the use-after-free control)
export const FLAG_SPF_STALL: u32 = 4; // test: a speculative fault is held up (an interrupt) right after get_vma(), see spf.ts
export const FLAG_PERVMA_STALL: u32 = 8; // test: lock_vma_under_rcu() is held up between the lookup and vma_start_read(), see pervma.ts
export const FLAG_SPF_UFFD_STALL: u32 = 32; // test: a speculative anonymous fault stalls with the PTL held before its userfaultfd check (userfaultfd.ts)
export const FLAG_UFFD_QUEUE_STALL: u32 = 64; // test: handle_userfault() stalls before it queues its message, so a resolution can land first (userfaultfd.ts)
export const FLAG_STEAL_EAGER: u32 = 128; // test: every worker offers all its runnable CPUs and steals before it runs its own (migrations at every park)
export const FLAG_NO_SAFETY_NET: u32 = 256; // test: a worker's sleep that times out wakes no CPU (a lost wake-up hangs the run until the watchdog)
export const FLAG_SPF_STALL_WALK: u32 = 16; // test: a speculative fault is held up between its walk and handle_pte_fault(), see spf.ts
export const FLAG_VMA_UNLINK_STALL: u32 = 512; // test: vma_unlink() is held up before it takes mm_rb_lock / the index write section (as a get_vma() reader holds it up), see vma.ts
export const FLAG_LOSE_WAKE: u32 = 1024; // test: wake_cpu() drops the next wake-up of a spinlock or flag waiter (WAIT_SPIN, WAIT_FLAG; no token bump, no post) and clears this flag: one lost wake-up, which only the safety net ends (counter wakeup_rescued), see wait.ts

// ---- cache-line metadata (LM_SIZE = 128 bytes), embedded in every modeled object ----
//  +0   u64 state, one word updated with a CAS (cacheline.ts):
//
//        63                 25 24        16 15     9 8          0
//       +---------------------+------------+--------+------------+
//       | busy_until (39)     | bucket (9) | cnt (7)| owner+1 (9)|
//       +---------------------+------------+--------+------------+
//
//        busy_until: virtual cycles (runs stop before 2^39, see sched.ts)
//        bucket: the quantum bucket (clock / 2 quanta) of RECENT, mod 512 (parallel
//                mode). Only the signed difference current - stored matters; see
//                line_bucket_diff() in cacheline.ts for the wrap-around
//        count: exclusive accesses in that bucket (saturating at 127): is the line
//               hot? The hot rule compares count x (transfer + cost) with the
//               quantum: up to 10000 / 119 = 84 at the default quantum and profile
//        owner + 1: 0 = nobody wrote the line yet; 1..MAX_CPUS (9 bits hold 511)
//  +8   .. +32 spare (the masks start on 32-byte boundaries)
//  +32  cpumask sharers (CPUMASK_SIZE = 32: CPUs holding the line in Shared state)
//  +64  cpumask recent: CPUs that took the line exclusively in quantum bucket `bucket`
//  +96  cpumask previous: the same for bucket - 1
// A CPU tests its own sharer bit with ONE load: word cpu >> 6 of the sharers.
export const LM_STATE: u32 = 0;
export const LM_SHARERS: u32 = 32;
export const LM_RECENT: u32 = 64;
export const LM_PREV: u32 = 96;
export const LM_SIZE: u32 = 128;
export const LM_BUSY_SHIFT: u64 = 25;
export const LM_BUCKET_SHIFT: u64 = 16;
export const LM_BUCKET_BITS: u64 = 9;
export const LM_BUCKET_MASK: u64 = (<u64>1 << LM_BUCKET_BITS) - 1;
export const LM_COUNT_SHIFT: u64 = 9;
export const LM_COUNT_MASK: u64 = 0x7f;
export const LM_OWNER_MASK: u64 = 0x1ff;
export const MAX_VCYCLES: u64 = (<u64>1 << 39) - 1;

// ---- which words share a modelled line (shared.ts, the seam for shared words) ----
// Each struct below that embeds line metadata declares, next to its offsets, the
// words that line holds: a *_WORDS constant packs the line's metadata offset and
// up to two byte ranges [lo, hi) of the struct (offsets from its base, 10 bits
// each), and LW_EXT when the line also covers words outside the struct (the page
// cache's index slots, the userfaultfd queue's links: accessed with shared.ts ext_*).
// shared.ts charges the line (shared_read/rmw/write) and accesses its words
// (word_*); the test core traps on a word the constant does not list.
//   W = line | lo_a << 10 | hi_a << 20 | lo_b << 30 | hi_b << 40 | LW_EXT
// (offsets below 1024; W below 2^53, so a host reads it exactly as a number)
export const LW_LO_A: u64 = 10;
export const LW_HI_A: u64 = 20;
export const LW_LO_B: u64 = 30;
export const LW_HI_B: u64 = 40;
export const LW_FIELD: u64 = 0x3ff;
export const LW_EXT: u64 = <u64>1 << 50;

// ---- lock-free free list (Treiber stack with an ABA tag), FL_SIZE = 144 bytes ----
//  +0  u64 head = tag << 32 | (index + 1)   (index + 1 == 0: empty)
//  +8  i32 number of free elements      +12 u32 untouched: the lowest element never handed out (frame and page-table lists)
//  +16 line meta of the head word (LM_SIZE = 128, .. 144)
export const FL_HEAD: u32 = 0;
export const FL_COUNT: u32 = 8; // elements free: on the stack, plus the untouched ones
// the frame lists (frames.ts) and the page-table page list (pgtable.ts): the lowest element never
// handed out; it and every element above it up to the list's end (a node's last frame, the last
// page-table page) are free without being on the stack (machine_init touches none of them: a
// 256-CPU machine has millions of frames). Stack empty -> the next untouched one: the same order
// as a stack that held them all, lowest on top. 0 on the VMA slot list (all pushed at init).
export const FL_UNTOUCHED: u32 = 12;
export const FL_LINE: u32 = 16;
export const FL_SIZE: u32 = FL_LINE + LM_SIZE;
/** the head's line holds the head and the count */
export const FL_WORDS: u64 = <u64>FL_LINE | <u64>FL_HEAD << LW_LO_A | <u64>(FL_UNTOUCHED + 4) << LW_HI_A;

// ---- spinlock (SL_SIZE = 160 bytes, ticket lock) ----
//  +0  u32 next ticket      +4  u32 now serving
//  +8  u32 holder cpu + 1   +12 u32 lock class (LOCK_CLASS_*)
//  +16 u64 release time (virtual clock of the last unlock)
//  +24 u32 waiters (sleeping CPUs)   +28 u32 hold: cycles the last holder held it
//  +32 cache-line meta (LM_SIZE, .. 160)
// Acquisition in virtual time: if I asked at or after the last holder took
// it (release - hold), I wait until its release; otherwise its section lies
// in my virtual future (it ran ahead of me) and I do not wait for it.
export const SL_NEXT: u32 = 0;
export const SL_SERVING: u32 = 4;
export const SL_HOLDER: u32 = 8;
export const SL_CLASS: u32 = 12;
export const SL_RELEASE: u32 = 16;
export const SL_WAITERS: u32 = 24;
export const SL_HOLD: u32 = 28;
export const SL_LINE: u32 = 32;
export const SL_SIZE: u32 = SL_LINE + LM_SIZE;
/** the lock's one line holds every word above (+0 .. +32) */
export const SL_WORDS: u64 = <u64>SL_LINE | <u64>SL_NEXT << LW_LO_A | <u64>SL_LINE << LW_HI_A;

// ---- rwsem (RW_SIZE = 160 bytes): mmap_lock and the per-VMA lock ----
//  +0  i32 count: readers (> 0), RWSEM_WRITER (-1) when write-locked, 0 free
//  +4  u32 wait list: bits 0-30 the CPUs sleeping in it (FIFO by the time each
//      joined: PC_RWQ / PC_RWQ_SINCE of each), bit 31 RWSEM_FLAG_HANDOFF
//  +8  u32 writer cpu + 1   +12 u32 lock class of the READ side (write = class + 1)
//  +16 u64 release time: latest virtual time the lock became free/readable
//  +24 u32 waiters (parked CPUs: the wait list and spinning writers)  +28 u32 hold: cycles the last WRITER held it
//  +32 cache-line meta (LM_SIZE, .. 160)
export const RW_COUNT: u32 = 0;
export const RW_WAITLIST: u32 = 4;
export const RWSEM_FLAG_HANDOFF: u32 = 0x80000000;
export const RWSEM_WAITLIST_MASK: u32 = 0x7fffffff;
export const RW_WRITER: u32 = 8;
export const RW_CLASS: u32 = 12;
export const RW_RELEASE: u32 = 16;
export const RW_WAITERS: u32 = 24;
export const RW_HOLD: u32 = 28;
export const RW_LINE: u32 = 32;
export const RW_SIZE: u32 = RW_LINE + LM_SIZE;
export const RWSEM_WRITER: i32 = -1;
/** the count's line holds every word above (+0 .. +32) */
export const RW_WORDS: u64 = <u64>RW_LINE | <u64>RW_COUNT << LW_LO_A | <u64>RW_LINE << LW_HI_A;

// ---- seqcount (SQ_SIZE = 144 bytes) ----
//  +0  u32 sequence: EVEN = stable, ODD = a writer is inside write_begin/end.
//  +16 cache-line meta (LM_SIZE, .. 144)
export const SQ_SEQ: u32 = 0;
export const SQ_LINE: u32 = 16;
export const SQ_SIZE: u32 = SQ_LINE + LM_SIZE;
/** the sequence's line holds the sequence */
export const SQ_WORDS: u64 = <u64>SQ_LINE | <u64>SQ_SEQ << LW_LO_A | <u64>(SQ_SEQ + 4) << LW_HI_A;

// ---- refcount (RC_SIZE = 144 bytes) ----
//  +0 i32 count   +16 cache-line meta (LM_SIZE, .. 144)
export const RC_COUNT: u32 = 0;
export const RC_LINE: u32 = 16;
export const RC_SIZE: u32 = RC_LINE + LM_SIZE;
/** the count's line holds the count */
export const RC_WORDS: u64 = <u64>RC_LINE | <u64>RC_COUNT << LW_LO_A | <u64>(RC_COUNT + 4) << LW_HI_A;

// ---- per-CPU block (PERCPU_SIZE stride, set by the host) ----
//  +0   u64 clock (virtual cycles)
//  +8   u32 state (CPU_*)          +12  u32 wake (futex word: bumped to wake)
//  +16  u32 wait_obj (address)     +20  u32 wait_kind (WAIT_*)
//  +24  u32 irq_on (1 = IRQs enabled) +28 u32 ipi_pending (count)
//  +32  u64 wake_time (deterministic mode: virtual time of the last wake)
//  +40  u32 epoch seen at barrier  +44  u32 rcu nesting
//  +48  u32 rcu epoch (when nesting > 0)  +52 u32 socket
//  +56  u32 core                    +60  u32 thread
//  +64  u64 rng state               +72  i32 acks pending (my shootdown)
//  +80  u64 latest ack time         +88  u32 current op (for crash reports)
//  +92  u32 inject (test hook: trap at op N)
//  +96  u32 PKRU of the task on this CPU (x86 protection keys: bit 2k = access disable, 2k+1 = write disable of key k)
//  +100 u32 task mempolicy (MPOL_*: set_mempolicy(), used when the VMA has none)
//  +104 u32 SMT slowdown: extra cycles per 1024 charged while this CPU's core sibling runs a CPU of the run too (0: none; written by the host from the profile's smt_slowdown)
//  +108 u32 cpu id (written by the host)
//  +112 u32 worker: the host worker that runs this CPU (written by the host)
//  --- this CPU's private state (was module globals; only its CPU touches it) ---
//  +128 struct vm_fault (fault.ts VmFault, 72)
//  +200 result of the last page-table walk (pgtable.ts WalkResult, 32)
//  +256 scheduler and bookkeeping fields (cpu.ts CpuLocal, 64)
//  +320 the host call this CPU runs (calls.ts): u32 call id, u64 result at +328, 16 x u64 args at +336
//  +464 u32 rwsem wait-list entry: the rwsem's address | RWQ_READER, RWQ_WRITER or RWQ_SPINNER (its OSQ), 0 when none
//  +472 u64 when this CPU joined that wait list (virtual time: the list's FIFO order, ties by CPU id)
//  +480 u64 while it sleeps there: when its current idle period began (cpuidle.ts)
//  +488 u32 sleepers the releaser woke before this one (the rwsem's wake order: rwsem.ts), 0 when consumed
//  +492 u32 a releaser's link to the next granted reader (CPU + 1, 0 ends; rwsem.ts wake_order sorts them once)
//  +496 u32 on_cpu: this task's state on its vCPU (vcpu.ts TASK_*: off, queued for it, running on it)
//  +500 u32 need_resched: a sibling task's wake-up preemption asked this running task to give the vCPU up
//  +504 u64 vruntime: CFS's virtual runtime of this task (vcpu.ts; nice 0: runtime itself)
//  +512 the stress's userfaultfd mix (stress_uffd_setup; the same for every CPU of a run, per CPU
//       because a CPU may run on any worker's instance): u32 w_reg, w_unreg, w_wp, handler + 1 (0: none), u32 running
//  +536 the run queue of vCPU v, in the block of task v (the vCPU's first task; vcpu.ts, one per vCPU):
//       +536 u32 curr (the task running on it + 1; 0: idle)   +540 u32 tasks queued for it (woken, waiting to run)
//       +544 u64 when it last switched or went idle (virtual time)   +552 u64 when curr got it (exec_start)
//       +560 u64 min_vruntime   +568 u64 the vCPU's KVM halt-polling window (cpuidle.ts; every CPU's own block without a run queue)
//  +576 stats: NSTATS x u64 (NSTATS_ALIGNED: whole cache lines)
//  mailbox_off(): mailbox, ncpus x MB_SIZE rounded up to a cache line (slot s =
//       an IPI from CPU s): sized by the RUN's CPU count (H_NCPUS), not by
//       MAX_CPUS, so a 4-CPU machine carries 4 slots per CPU, not 256
//  tlb_off(): TLB, tlb_sets x tlb_ways x TLBE_SIZE 4 KiB entries,
//       then TLB2M_BYTES of 2 MiB entries (see the TLB box below)
//  then the host's per-CPU scratch (tests), rounded up to 4 KiB
//  The host computes the same offsets (src/machine.ts percpuLayout()).
export const PC_CLOCK: u32 = 0;
export const PC_STATE: u32 = 8;
export const PC_WAKE: u32 = 12;
export const PC_WAIT_OBJ: u32 = 16;
export const PC_WAIT_KIND: u32 = 20;
export const PC_IRQ_ON: u32 = 24;
export const PC_IPI_PENDING: u32 = 28;
export const PC_WAKE_TIME: u32 = 32;
export const PC_EPOCH: u32 = 40;
export const PC_RCU_NEST: u32 = 44;
export const PC_RCU_EPOCH: u32 = 48;
export const PC_SOCKET: u32 = 52;
export const PC_CORE: u32 = 56;
export const PC_THREAD: u32 = 60;
export const PC_RNG: u32 = 64;
export const PC_ACKS: u32 = 72;
export const PC_ACK_TIME: u32 = 80;
export const PC_OP: u32 = 88;
export const PC_INJECT: u32 = 92;
export const PC_PKRU: u32 = 96;
export const PC_MEMPOLICY: u32 = 100;
export const PC_SMT_EXTRA: u32 = 104;
export const PC_ID: u32 = 108;
export const PC_WORKER: u32 = 112;
export const PC_UFFD_MSG_TID: u32 = 116; // userfaultfd: the faulting CPU of the last message this CPU read (UFFD_FEATURE_THREAD_ID), else 0
export const PC_UFFD_MSG_ADDR: u32 = 120; // u64: its address as the message reports it (exact with UFFD_FEATURE_EXACT_ADDRESS)
export const PC_VMF: u32 = 128;
export const PC_WALK: u32 = 200;
export const PC_LOCAL: u32 = 256;
export const PC_CALL: u32 = 320;
export const PC_CALL_RESULT: u32 = 328;
export const PC_CALL_ARGS: u32 = 336;
export const PC_RWQ: u32 = 464;
export const PC_RWQ_SINCE: u32 = 472;
export const PC_IDLE_SINCE: u32 = 480;
export const PC_WAKE_RANK: u32 = 488; // u32: sleepers the releaser woke before this one (rwsem.ts wake order), 0 when consumed
export const PC_WAKE_LINK: u32 = 492; // u32: the next granted reader + 1 in a releaser's wake-order list (rwsem.ts), written by releasers only
export const PC_STRESS_UFFD: u32 = 512;
export const PC_ON_CPU: u32 = 496;
export const PC_NEED_RESCHED: u32 = 500;
export const PC_VRUNTIME: u32 = 504;
export const PC_VCPU_CURR: u32 = 536;
export const PC_VCPU_QUEUED: u32 = 540;
export const PC_VCPU_FREE: u32 = 544;
export const PC_VCPU_EXEC_START: u32 = 552;
export const PC_VCPU_MIN_VRUNTIME: u32 = 560;
export const PC_VCPU_HALT_POLL: u32 = 568; // u64: vcpu->halt_poll_ns in virtual cycles (cpuidle.ts), written by whoever ends the vCPU's idle period
export const RWQ_READER: u32 = 1;
export const RWQ_WRITER: u32 = 2;
export const RWQ_SPINNER: u32 = 3; // a writer spinning on the owner (the OSQ), not in the wait list
export const CALL_MAX_ARGS: u32 = 16;
export const PC_STATS: u32 = 576;

// ---- host worker (WK_SIZE stride, region at H_WORKERS_BASE): one per host thread ----
// A worker runs CPUs [first, first + count) as coroutines (sched.ts). Other
// workers wake one of its CPUs by setting the CPU's bit in `pending`, bumping
// `wake` and, if `sleeping`, notifying it: the worker's thread sleeps on its
// own futex word only when none of its CPUs can run.
//  +0  u32 wake (futex word)           +4  u32 sleeping: (sleep number << 1) | 1 while in atomic.wait (runq.ts sleep_begin)
//  +8  u32 first cpu                   +12 u32 count
//  +16 u32 current cpu + 1 (0 = in the scheduler)
//  +24 u64 switches (coroutine switches)   +32 u64 sleeps (futex waits)
//  +40 u32 asyncify high-water mark (bytes, max over its CPUs)
//  +64 pending wake-ups: MAX_CPUS / 32 u32 words, bit c = CPU c (only its own CPUs' bits)
//  +64 + MAX_CPUS / 8: pickable CPUs: MAX_CPUS / 64 u64 words, bit c = CPU c is runnable with a
//      call (sched.ts run queue; only the worker's own thread reads or writes it)
//  then urgent CPUs (the same bitmap form: runnable and owing an interrupt, parallel mode)
//  then the heap: MAX_CPUS u32 CPU ids in (key, id) heap order (sched.ts)
//  then hand-backs: MAX_CPUS / 32 u32 words, bit c = a thief gave CPU c back (RQ_OWN BACK; only its home's CPUs' bits)
//  then u64 safety-net timeouts (sleeps that ended after SLEEP_NS with no wake-up: sched.ts worker_sleep)
//  then u64 steals that resumed a CPU inside a page fault (counted by the test core only)
//  then offers: MAX_CPUS / 32 u32 words, bit c = CPU c is (or was a moment ago) OFFERED: where thieves
//      and the home's reclaim look (RQ_OWN decides; whoever takes it clears the bit)
//  +20 u32 hungry (1: none of its own CPUs is runnable: busy workers offer it theirs; counted in H_HUNGRY)
//  +44 u32 offered (its CPUs in RQ_OWN OFFERED now: a hungry worker looks at its entries only when > 0)
//  +48 u64 steals (slices it ran of other workers' CPUs)   +56 u64 of those, slices that resumed a CPU mid-call
export const WK_WAKE: u32 = 0;
export const WK_SLEEPING: u32 = 4;
export const WK_FIRST: u32 = 8;
export const WK_COUNT: u32 = 12;
export const WK_CURRENT: u32 = 16;
export const WK_SWITCHES: u32 = 24;
export const WK_SLEEPS: u32 = 32;
export const WK_ASYNC_HIGH: u32 = 40;
export const WK_PENDING: u32 = 64;
export const WK_PICKABLE: u32 = WK_PENDING + MAX_CPUS / 8;
export const WK_URGENT: u32 = WK_PICKABLE + MAX_CPUS / 8;
export const WK_HEAP: u32 = WK_URGENT + MAX_CPUS / 8;
export const WK_HANDBACK: u32 = WK_HEAP + MAX_CPUS * 4;
export const WK_HUNGRY: u32 = 20;
export const WK_OFFERED: u32 = 44;
export const WK_STEALS: u32 = 48;
export const WK_STEALS_MIDCALL: u32 = 56;
export const WK_TIMEOUTS: u32 = WK_HANDBACK + MAX_CPUS / 8;
export const WK_STEALS_MIDFAULT: u32 = WK_TIMEOUTS + 8;
export const WK_OFFER_MAP: u32 = WK_STEALS_MIDFAULT + 8;
export const WK_SIZE: u32 = (WK_OFFER_MAP + MAX_CPUS / 8 + 63) & ~63;

// CPU states
export const CPU_IDLE: u32 = 0; // not started
export const CPU_RUNNING: u32 = 1;
export const CPU_WAITING: u32 = 2; // blocked on wait_obj; not waited for at the barrier
export const CPU_AT_BARRIER: u32 = 3;
export const CPU_FINISHED: u32 = 4;
export const CPU_RUNNABLE: u32 = 5; // ready to run (woken, yielded, or between two host calls)

// what a waiting CPU waits for (PC_WAIT_KIND)
export const WAIT_NONE: u32 = 0;
export const WAIT_SPIN: u32 = 1; // spinlock, IRQs as they are
export const WAIT_RWSEM_READ: u32 = 2;
export const WAIT_RWSEM_WRITE: u32 = 3;
export const WAIT_IPI_ACK: u32 = 4;
export const WAIT_BARRIER: u32 = 5;
export const WAIT_RCU: u32 = 7; // synchronize_rcu(): pre-existing readers to leave their sections
export const WAIT_UFFD: u32 = 8; // handle_userfault(): a handler to resolve the fault (wait_obj = the uffd context)
export const WAIT_UFFD_READ: u32 = 9; // a handler in read(uffd): a message to arrive (wait_obj = the context's read word)
export const WAIT_POLL: u32 = 10; // a spin loop with no wake object (wait.ts spin_wait_round): wait_obj = the word it polls
export const WAIT_FLAG: u32 = 11; // a shared u32 to change (meetings, flags, pipelines): wait_obj = the word; a CPU finishing wakes these
export const WAIT_VCPU: u32 = 12; // a woken task waits for its vCPU, which a sibling task runs (vcpu.ts): wait_obj = the vCPU's curr word

// ---- per-CPU mm state (PCM_SIZE stride, region at H_PCM_BASE) ----
//  +0  u32 pcp count (free frames on this CPU's list)
//  +4  u32 lru_add batch count      +8  u32 spare
//  +12 i32 rss anon delta           +16 i32 rss file delta   +20 u32 rss events
//  +64 u32 pcp list [PCP_MAX]       then u32 lru_add batch [LRU_MAX]
//  then u32 mmu_gather batch [GATHER_MAX] (pages zapped, freed after the flush)
//  then u32 VMA slots of the current mutator [MUT_VMAS_MAX]
export const PCM_PCP_COUNT: u32 = 0;
export const PCM_LRU_COUNT: u32 = 4;
export const PCM_RSS_ANON: u32 = 12;
export const PCM_RSS_FILE: u32 = 16;
export const PCM_RSS_EVENTS: u32 = 20;
export const PCM_PCP_LIST: u32 = 64;
export const PCP_MAX: u32 = 1024;
export const PCM_LRU_LIST: u32 = PCM_PCP_LIST + PCP_MAX * 4;
export const LRU_MAX: u32 = 64;
export const PCM_GATHER: u32 = PCM_LRU_LIST + LRU_MAX * 4;
export const GATHER_MAX: u32 = 512;
export const PCM_MUT_VMAS: u32 = PCM_GATHER + GATHER_MAX * 4;
export const MUT_VMAS_MAX: u32 = 256;
export const PCM_SIZE: u32 = PCM_MUT_VMAS + MUT_VMAS_MAX * 4;

// ---- page-cache file (FILE_SIZE = 320 bytes), region at H_FILES_BASE ----
//  +0   spinlock i_pages lock (SL_SIZE = 160, class pagecache)
//  +160 u32 size in pages (i_size)    +164 u32 cached pages    +168 u32 kind (FILE_KIND_*)
//  +192 line meta of the page-cache tree (LM_SIZE, .. 320)
// index array: H_FILE_INDEX_BASE + (file * file_pages + index) * 4 = pfn + 1 (0 = not cached)
export const FILE_LOCK: u32 = 0;
export const FILE_NPAGES: u32 = 160;
export const FILE_CACHED: u32 = 164;
export const FILE_LINE: u32 = 192;
export const FILE_SIZE: u32 = 320;
/** the page-cache tree's line: the cached-page count and (LW_EXT) the file's index slots */
export const FILE_WORDS: u64 = <u64>FILE_LINE | <u64>FILE_CACHED << LW_LO_A | <u64>(FILE_CACHED + 4) << LW_HI_A | LW_EXT;

// ---- IPI mailbox slot (32 bytes) in the TARGET's per-CPU block ----
//  +0 u32 pending (1 = request posted)  +4 u32 kind (IPI_*)
//  +8 u64 start vpn  +16 u64 end vpn (exclusive; 0,0 = flush all)
//  +24 u64 arrival time (sender clock + ipi_deliver)
export const MB_PENDING: u32 = 0;
export const MB_KIND: u32 = 4;
export const MB_START: u32 = 8;
export const MB_END: u32 = 16;
export const MB_ARRIVAL: u32 = 24;
export const MB_SIZE: u32 = 32;
export const IPI_TLB_FLUSH: u32 = 1;
export const IPI_NOP: u32 = 2;
/** a flag of the kind: the target was not on its vCPU at the flush in virtual time (ipi.ts): its ack counts at the arrival */
export const IPI_ACK_AT_ARRIVAL: u32 = 0x100;

// ---- TLB entry (16 bytes) ----
//  +0 u64 tag: vpn + 1 (0 = invalid)   +8 u64 cached PTE value
//  (a 2 MiB entry: tag = (vpn >> 9) + 1, value = the huge PMD)
export const TLBE_TAG: u32 = 0;
export const TLBE_PTE: u32 = 8;
export const TLBE_SIZE: u32 = 16;

// ---- per-CPU TLB (at tlb_off() in the per-CPU block; only its CPU writes it) ----
//  +0                               4 KiB entries: tlb_sets sets x tlb_ways ways, set-major;
//                                   set = vpn & (tlb_sets - 1); way 0 is the set's NEWEST entry
//  +tlb_sets*tlb_ways*TLBE_SIZE     2 MiB entries: TLB2M_SETS x TLB2M_WAYS (Skylake L1 DTLB: 32, 4-way);
//                                   set = (vpn >> 9) & (TLB2M_SETS - 1)
export const TLB2M_SETS: u32 = 8;
export const TLB2M_WAYS: u32 = 4;
export const TLB2M_BYTES: u32 = TLB2M_SETS * TLB2M_WAYS * TLBE_SIZE;

// ---- frame table entry (16 bytes), one per data frame (struct page) ----
//  +0 u32 flags (PG_*)   +4 i32 refcount   +8 i32 mapcount   +12 u32 next free (index+1)
export const FR_FLAGS: u32 = 0;
export const FR_REFCOUNT: u32 = 4;
export const FR_MAPCOUNT: u32 = 8;
export const FR_NEXT: u32 = 12;
export const FR_SIZE: u32 = 16;
export const PG_FREE: u32 = 1;
export const PG_ANON: u32 = 2;
export const PG_ZERO: u32 = 4; // the shared zero page (frame 0), never freed
export const PG_PAGECACHE: u32 = 8;
export const PG_HUGE: u32 = 16; // a 2 MiB THP, represented by one frame (its 512 subpages are not tracked)
export const PG_LRU: u32 = 32;
export const PG_TAG_RESERVED: u32 = 64; // MTE: tag storage reserved for this frame (PG_tag_storage_reserved)

// ---- page-table page metadata (PTM_SIZE = 8384 bytes), one per page-table page ----
//  +0   spinlock (SL_SIZE = 160): the split PTE lock (PTL) of this table
//  +160 i32 nr_present (entries in use)   +164 u32 level (4 = PGD .. 1 = PTE)
//  +168 u32 next free (index+1)           +172 u32 flags (PTP_*)
//  +192 line meta x PTM_NLINES (64): one per 64-byte line of the table (8 PTEs
//       each), LM_SIZE apart (.. 192 + 64 * 128 = 8384)
export const PTM_PTL: u32 = 0;
export const PTM_NR_PRESENT: u32 = 160;
export const PTM_LEVEL: u32 = 164;
export const PTM_NEXT: u32 = 168;
export const PTM_FLAGS: u32 = 172;
export const PTM_LINES: u32 = 192;
export const PTM_NLINES: u32 = PAGE_SIZE / CACHE_LINE;
export const PTM_SIZE: u32 = PTM_LINES + PTM_NLINES * LM_SIZE;
export const PTP_FREE: u32 = 1;

// ---- VMA slot (VMA_SIZE bytes) ----
//  +0   u64 vm_start (byte address)   +8   u64 vm_end (exclusive)
//  +16  u32 vm_flags (VM_*)           +20  u32 page_prot (PTE bits for present pages)
//  +24  u32 anon_vma (0 = none)       +28  u32 vm_ops (VMOPS_*)
//  +32  u64 vm_pgoff (file offset, pages)
//  +40  u32 file id                   +44  u32 mempolicy (MPOL_*)
//  +48  seqcount vm_sequence (SQ_SIZE = 144, .. 192)
//  +192 refcount (RC_SIZE = 144, .. 336)
//  +336 u32 vm_lock_seq               +340 u32 state (VMA_STATE_*)
//  +344 u32 next (free list / deferred list, slot+1)   +348 u32 rcu epoch at free
//  +352 rwsem vm_lock (RW_SIZE = 160, .. 512)
//  +512 u32 mm index                  +516 u32 generation (bumped at every reuse)
//  +520 u32 checksum of +0..+47 (debug: maintained inside vm_sequence, lets
//       tests catch a torn read that a reader accepted)
//  +524 .. 568 spare
//  +568 u32 access pids (vma_set_access_pid_bit: bit cpu % 32 set by a protnone fault; numab_state->pids_active)
//  +572 .. 576 spare
//  +576 line meta of the VMA's hot fields (LM_SIZE, .. 704)
//
// Lifetime: FREE (on the free list at H_VMA_FREE) -> NEW (vma_alloc) ->
// LIVE (vma_link: in its mm's index, refcount >= 1 for the index) ->
// DETACHED (unlinked; readers that found it earlier may still look) ->
// deferred queue once the refcount is 0 -> FREE after the grace period.
// The generation and vm_sequence are never reset, so a stale snapshot taken
// before a reuse can never match a value taken after it.

export const VMA_START: u32 = 0;
export const VMA_END: u32 = 8;
export const VMA_FLAGS: u32 = 16;
export const VMA_PROT: u32 = 20;
export const VMA_ANON: u32 = 24;
export const VMA_OPS: u32 = 28;
export const VMA_PGOFF: u32 = 32;
export const VMA_FILE: u32 = 40;
export const VMA_MPOL: u32 = 44;
export const VMA_SEQ: u32 = 48;
export const VMA_REF: u32 = 192;
export const VMA_LOCK_SEQ: u32 = 336;
export const VMA_STATE: u32 = 340;
export const VMA_NEXT: u32 = 344;
export const VMA_RCU_EPOCH: u32 = 348;
export const VMA_LOCK: u32 = 352;
export const VMA_MM: u32 = 512;
export const VMA_GEN: u32 = 516;
export const VMA_LINE: u32 = 576;
export const VMA_CSUM: u32 = 520;
export const VMA_ACCESS_PIDS: u32 = 568;
export const VMA_SIZE: u32 = 704;
/** the VMA's hot line: the fields +0 .. +48 (range .. policy) and vm_lock_seq / state (+336 .. +344) */
export const VMA_WORDS: u64 = <u64>VMA_LINE | <u64>VMA_START << LW_LO_A | <u64>(VMA_MPOL + 4) << LW_HI_A | <u64>VMA_LOCK_SEQ << LW_LO_B | <u64>(VMA_STATE + 4) << LW_HI_B;
export const VMA_STATE_FREE: u32 = 0;
export const VMA_STATE_LIVE: u32 = 1;
export const VMA_STATE_DETACHED: u32 = 2; // unlinked, waiting for the grace period
export const VMA_STATE_NEW: u32 = 3; // allocated by vma_alloc, not linked yet

// vm_flags
export const VM_READ: u32 = 0x1;
export const VM_WRITE: u32 = 0x2;
export const VM_EXEC: u32 = 0x4;
export const VM_SHARED: u32 = 0x8;
export const VM_GROWSDOWN: u32 = 0x100;
export const VM_GROWSUP: u32 = 0x200;
export const VM_UFFD_MISSING: u32 = 0x400;
export const VM_UFFD_MINOR: u32 = 0x800;
export const VM_UFFD_WP: u32 = 0x1000;
export const VM_HUGETLB: u32 = 0x2000;
export const VM_HUGEPAGE: u32 = 0x4000; // THP allowed (madvise(MADV_HUGEPAGE))
export const VM_LOCKED: u32 = 0x8000;
export const VM_MTE: u32 = 0x10000; // arm64 PROT_MTE: the VMA's pages need tag storage (sticky: mprotect never clears it)
// x86 protection keys: the VMA's pkey (0..15) in vm_flags bits 20..23 (Linux VM_PKEY_BIT0..3)
export const VM_PKEY_SHIFT: u32 = 20;
export const VM_PKEY_MASK: u32 = 0xf << VM_PKEY_SHIFT;

// vm_ops kinds
export const VMOPS_NONE: u32 = 0; // anonymous
export const VMOPS_FILE: u32 = 1;
export const VMOPS_SHMEM: u32 = 2;

// memory policies
export const MPOL_DEFAULT: u32 = 0;
export const MPOL_INTERLEAVE: u32 = 1;

// ---- mm (MM_SIZE = 1024 bytes), one per address space ----
//  +0   rwsem mmap_lock (RW_SIZE = 160)
//  +160 seqcount mm_seq (SQ_SIZE = 144, .. 304): guards the VMA index for lockless lookup
//  +304 u32 mm_lock_seq (per-VMA locks)   +308 i32 mm_users
//  +312 u32 pgd (page-table page index)   +316 u32 vma count
//  +320 u32 vma index array base (address of max_vmas_per_mm x u32 slot+1, sorted by vm_start)
//       The index and the count at +316 are the PUBLISHED buffer of two
//       (vma_pub at +960 says which); they change only inside mm_seq write
//       sections (vma.ts, mmap_lock held for write); entries [count, max) are 0.
//  +324 i32 rss file   +328 i32 rss anon
//  +336 u64 numa_next_scan (virtual time)   +344 u64 numa_scan_offset (address)
//  +352 cpumask mm_cpumask (CPUMASK_SIZE = 32, .. 384): CPUs that may cache
//       this mm's translations; bits set and cleared with atomics (cpumask.ts)
//  +384 line meta of mm_lock_seq (LM_SIZE, .. 512)
//  +512 spinlock page_table_lock (SL_SIZE = 160, .. 672): anon_vma_prepare
//  +672 line meta of the rss counters (LM_SIZE, .. 800)
//  +800 rwsem mm_rb_lock (RW_SIZE = 160, .. 960): SPF v11's rwlock around the
//       VMA tree; only the spf strategy with the v11 lookup takes it
//  +960 u32 vma_pub: the published index, (count << 1) | buffer; lockless
//       readers read it once (vma.ts: two buffers, RCU-style publication)
//  +964 u32 address of index buffer 0 (buffer 1 follows, max_vmas_per_mm x u32 each)
//  +968 .. 1024 spare
export const MM_MMAP_LOCK: u32 = 0;
export const MM_SEQ: u32 = 160;
export const MM_LOCK_SEQ: u32 = 304;
export const MM_USERS: u32 = 308;
export const MM_PGD: u32 = 312;
export const MM_NVMAS: u32 = 316;
export const MM_VMA_INDEX: u32 = 320;
export const MM_RSS_FILE: u32 = 324;
export const MM_RSS_ANON: u32 = 328;
export const MM_NUMA_NEXT: u32 = 336;
export const MM_NUMA_OFFSET: u32 = 344;
export const MM_CPUMASK: u32 = 352;
export const MM_LOCK_SEQ_LINE: u32 = 384;
export const MM_PT_LOCK: u32 = 512;
export const MM_RSS_LINE: u32 = 672;
export const MM_RB_LOCK: u32 = 800;
export const MM_VMA_PUB: u32 = 960;
export const MM_VMA_BUF0: u32 = 964;
export const MM_SIZE: u32 = 1024;
/** the line of mm_lock_seq holds mm_lock_seq */
export const MM_LOCK_SEQ_WORDS: u64 = <u64>MM_LOCK_SEQ_LINE | <u64>MM_LOCK_SEQ << LW_LO_A | <u64>(MM_LOCK_SEQ + 4) << LW_HI_A;
/** the rss line holds the two counters (file, anon) */
export const MM_RSS_WORDS: u64 = <u64>MM_RSS_LINE | <u64>MM_RSS_FILE << LW_LO_A | <u64>(MM_RSS_ANON + 4) << LW_HI_A;

// ---- userfaultfd and shmem (userfaultfd.ts, shmem.ts) ----------------------
// Header words (+1960 .. 1984 of the header):
//  +1960 u32 uffd region base   +1964 u32 first shmem file id (= regular files)
//  +1968 u32 shmem files allocated (atomic counter)  +1972 u32 uffd contexts allocated (atomic)
//  +1976 u32 max shmem files    +1980 u32 max uffd contexts
export const H_UFFD_BASE: u32 = 1960;
export const H_SHMEM_FIRST: u32 = 1964;
export const H_SHMEM_NEXT: u32 = 1968;
export const H_UFFD_NEXT: u32 = 1972;
export const H_SHMEM_MAX: u32 = 1976;
export const H_UFFD_MAX: u32 = 1980;
// The uffd context (struct userfaultfd_ctx, UFFD_SIZE = 320), MAX_UFFD of them at H_UFFD_BASE:
//  +0   spinlock fault_pending_wqh.lock (SL_SIZE = 160, class uffd)
//  +160 u32 in use              +164 u32 features (UFFD_FEATURE_*)
//  +168 u32 mm                  +172 u32 pending head (cpu + 1): queued, not read yet
//  +176 u32 pending tail        +180 u32 pending count
//  +184 u32 read word (bumped when a message is queued: handlers in read() wait on it)
//  +188 u32 released (close(uffd))  +192 line meta of the queue (LM_SIZE, .. 320)
// then the per-CPU uwq (struct userfaultfd_wait_queue, UWQ_SIZE = 64), MAX_CPUS of them:
//  +0  u64 address   +8 u32 flags (UFFD_PAGEFAULT_FLAG_*)   +12 u32 ctx + 1 (0 = none)
//  +16 u32 state (UWQ_*)   +20 u32 next (cpu + 1)   +24 u32 prev (cpu + 1)
//  +28 u32 wait pending: handle_userfault queued it, the fault path waits once its lock is dropped
//  +32 u64 virtual time queued   +40 u64 virtual time read by a handler
//  +48 u64 time woken (the waker writes its own time, the woken CPU resumes no earlier and writes its)
//  +56 u64 bytes this CPU's last resolution ioctl resolved (uffdio_copy.copy)
export const UFFD_LOCK: u32 = 0;
export const UFFD_INUSE: u32 = 160;
export const UFFD_FEATURES: u32 = 164;
export const UFFD_MM: u32 = 168;
export const UFFD_HEAD: u32 = 172;
export const UFFD_TAIL: u32 = 176;
export const UFFD_NPENDING: u32 = 180;
export const UFFD_READ_WORD: u32 = 184;
export const UFFD_RELEASED: u32 = 188;
export const UFFD_LINE: u32 = 192;
export const UFFD_SIZE: u32 = 320;
/** the queue's line: head .. released (+172 .. +192) and (LW_EXT) the uwq links of the queued CPUs */
export const UFFD_WORDS: u64 = <u64>UFFD_LINE | <u64>UFFD_HEAD << LW_LO_A | <u64>UFFD_LINE << LW_HI_A | LW_EXT;
export const MAX_UFFD: u32 = 15; // the ctx id + 1 rides in vm_flags bits 24..27
export const UWQ_ADDRESS: u32 = 0;
export const UWQ_FLAGS: u32 = 8;
export const UWQ_CTX: u32 = 12;
export const UWQ_STATE: u32 = 16;
export const UWQ_NEXT: u32 = 20;
export const UWQ_PREV: u32 = 24;
export const UWQ_WAIT: u32 = 28;
export const UWQ_T_QUEUED: u32 = 32;
export const UWQ_T_READ: u32 = 40;
export const UWQ_T_WOKEN: u32 = 48;
export const UWQ_COPIED: u32 = 56; // bytes the CPU's last UFFDIO_COPY/ZEROPAGE/CONTINUE resolved
export const UWQ_SIZE: u32 = 64;
export const UWQ_IDLE: u32 = 0;
export const UWQ_PENDING: u32 = 1; // on the context's pending list
export const UWQ_READ: u32 = 2; // a handler read the message; waits for the resolution
export const UWQ_WOKEN: u32 = 3; // UFFDIO_* woke it
/** bytes of the uffd region */
export const UFFD_REGION_SIZE: u32 = MAX_UFFD * UFFD_SIZE + MAX_CPUS * UWQ_SIZE;
// vm_userfaultfd_ctx: faultline packs the context id + 1 into vm_flags bits 24..27 (above the
// pkey bits), so a VMA split copies it and a merge requires it equal, as is_mergeable_vma() does
export const VM_UFFD_CTX_SHIFT: u32 = 24;
export const VM_UFFD_CTX_MASK: u32 = 0xf << VM_UFFD_CTX_SHIFT;
export const VM_UFFD_ANY: u32 = VM_UFFD_MISSING | VM_UFFD_MINOR | VM_UFFD_WP;
// page-cache file kind (FILE_KIND at +168 of the file box)
export const FILE_KIND: u32 = 168;
export const FILE_KIND_REGULAR: u32 = 0;
export const FILE_KIND_SHMEM: u32 = 1;
// SET_UFFD_SPF_RACE (with the other SET_* above): UFFD_RACE_*
export const UFFD_RACE_IGNORE: u32 = 0; // the series: ignore the registration this time (counted)
export const UFFD_RACE_ABORT: u32 = 1; // the reviewer: abort the speculative fault (counted)

// ---- accessors (header fields are written once by the host before any CPU runs) ----

@inline export function ncpus(): u32 { return load<u32>(HDR_BASE + H_NCPUS); }
@inline export function percpu(cpu: u32): u32 {
  return load<u32>(HDR_BASE + H_PERCPU_BASE) + cpu * load<u32>(HDR_BASE + H_PERCPU_SIZE);
}
@inline export function worker_addr(w: u32): u32 { return load<u32>(HDR_BASE + H_WORKERS_BASE) + w * WK_SIZE; }
@inline export function mm_addr(mm: u32): u32 { return load<u32>(HDR_BASE + H_MM_BASE) + mm * MM_SIZE; }
@inline export function cost_base(): u32 { return load<u32>(HDR_BASE + H_PROFILE_BASE); }
@inline export function setting(k: u32): u32 { return load<u32>(HDR_BASE + H_SETTINGS + k); }
@inline export function pcm(cpu: u32): u32 { return load<u32>(HDR_BASE + H_PCM_BASE) + cpu * PCM_SIZE; }
@inline export function mailbox_off(): u32 { return PC_STATS + <u32>NSTATS_ALIGNED * 8; }
/** bytes of one CPU's mailbox on a machine of `n` CPUs: one slot per sender, whole cache lines */
@inline export function mailbox_bytes(n: u32): u32 { return (n * MB_SIZE + CACHE_LINE - 1) & ~(CACHE_LINE - 1); }
@inline export function tlb_off(): u32 { return mailbox_off() + mailbox_bytes(ncpus()); }

// stats area rounded up to a whole number of cache lines
export const NSTATS_ALIGNED: i32 = (NSTATS + 7) & ~7;
import { LOCK_STAT_BASE } from './generated';
export const LOCK_STAT_BASE_OFF: i32 = LOCK_STAT_BASE;

// ---- observability region (obs.ts), at H_OBS_BASE, only when H_OBS != 0 ----
//  +0   global part (OBS_GLOBAL_SIZE = 256): u32 number of category pairs, then
//       u32 pairs (stat index | category << 16): the counters of the breakdown's
//       categories (src/breakdown.ts, written by the host), for the flame graph
//  +256 one block per CPU (H_OBS_STRIDE bytes each):
//       +0 lock_stat: NLOCK_CLASSES x LS_SIZE (generated.ts LS_*; min fields start at all-ones)
//       +OBS_READ_ACQ: u64 per lock class: when this CPU took its read lock of that class
//          (a CPU holds at most one read lock of a class at a time: mmap_lock, its VMA's lock, mm_rb_lock)
//       +H_OBS_FLAME_OFF: the flame part (FL_* below), +H_OBS_TRACE_OFF: the trace ring (TR_*)
export const OBS_GLOBAL_SIZE: u32 = 256;
export const OBS_MAX_CAT_PAIRS: u32 = 60;
export const OBS_READ_ACQ: u32 = NLOCK_CLASSES * LS_SIZE;
export const OBS_LOCK_BYTES: u32 = (OBS_READ_ACQ + NLOCK_CLASSES * 8 + 63) & ~63;
// trace ring (TR_*): +0 u32 events kept, +4 u32 events dropped (ring full), +16 u64 time of the last counter sample,
//  +64 the fault's snapshot of the kind/abort counters (TR_SNAP, TR_SNAP_N u64), then TE_SIZE-byte events:
//  +0 u64 start (virtual cycles)  +8 u64 end  +16 u32 type (TE_*)  +20 u32 a  +24 u64 b   (a, b: per type, obs.ts)
export const TR_N: u32 = 0;
export const TR_DROPPED: u32 = 4;
export const TR_LAST_SAMPLE: u32 = 16;
export const TR_SNAP: u32 = 64;
export const TR_SNAP_N: u32 = 72;
export const TR_EVENTS: u32 = TR_SNAP + TR_SNAP_N * 8;
export const TE_START: u32 = 0;
export const TE_END: u32 = 8;
export const TE_TYPE: u32 = 16;
export const TE_A: u32 = 20;
export const TE_B: u32 = 24;
export const TE_SIZE: u32 = 32;
export const TE_FAULT: u32 = 1; // a: path | (kind stat + 1) << 8 | (abort stat + 1) << 16 | write << 24; b: address
export const TE_LOCK_WAIT: u32 = 2; // a: lock class | (releaser cpu + 1) << 16 (0: not known); b: the lock's address
export const TE_SHOOTDOWN: u32 = 3; // flush_tlb_mm_range waiting for acks: a: IPIs sent; b: start vpn
export const TE_IPI: u32 = 4; // the TLB-flush IPI handler on the target: a: sender cpu; b: send time
export const TE_UFFD_WAIT: u32 = 5; // handle_userfault() parked: a: context; b: address
export const TE_BARRIER: u32 = 6; // a virtual-time barrier of the workload (pft's rounds): a: 0; b: the barrier's address
export const TE_SYSCALL: u32 = 7; // a mutator: a: SYS_* below; b: address
export const TE_COUNTER: u32 = 8; // a counter sample (start = end): a: CTR_*; b: value
export const TE_ONCPU: u32 = 9; // a guest run queue (vcpu.ts): a task ran on its vCPU from start to end (then slept, was preempted or ended): a: the vCPU; b: why it left (vcpu.ts PUT_*)
export const FAULT_PATH_CLASSIC: u32 = 0; // mmap_lock, find_vma, handle_mm_fault
export const FAULT_PATH_SPECULATIVE: u32 = 1; // SPF handled it
export const FAULT_PATH_SPF_FALLBACK: u32 = 2; // SPF aborted, then the classic path
export const FAULT_PATH_VMA_LOCK: u32 = 3; // lock_vma_under_rcu handled it
export const FAULT_PATH_VMA_FALLBACK: u32 = 4; // the per-VMA lock failed, then the classic path
export const SYS_MMAP: u32 = 1;
export const SYS_MUNMAP: u32 = 2;
export const SYS_MPROTECT: u32 = 3;
export const SYS_MADVISE: u32 = 4;
export const CTR_FREE_FRAMES: u32 = 1;
export const CTR_MMAP_LOCK_READERS: u32 = 2;
// flame part (FLM_*): +0 u32 current node, +4 u32 nodes used, +8 u32 enters that found the table full
//  (their cycles stay with the caller's node), +12 u32 depth of those unrecorded frames,
//  +16 u64 mark: this CPU's clock at the last transition, +24 u64 category sums at the last transition
//  (OBS_MAX_CATS), then FLM_NODES: FNODE_SIZE-byte nodes, node 0 = the root (the workload's own code):
//  +0 u32 parent  +4 u32 function (FN_*)  +8 u32 first child + 1  +12 u32 next sibling + 1
//  +16 u64 cycles (clock advance while this node was current)  +24 u64 per category (OBS_MAX_CATS)
export const OBS_MAX_CATS: u32 = 12;
export const FLM_CUR: u32 = 0;
export const FLM_USED: u32 = 4;
export const FLM_LOST: u32 = 8;
export const FLM_LOST_DEPTH: u32 = 12;
export const FLM_MARK: u32 = 16;
export const FLM_CATS: u32 = 24;
export const FLM_NODES: u32 = 128;
export const FNODE_PARENT: u32 = 0;
export const FNODE_FN: u32 = 4;
export const FNODE_CHILD: u32 = 8;
export const FNODE_SIBLING: u32 = 12;
export const FNODE_CYCLES: u32 = 16;
export const FNODE_CATS: u32 = 24;
export const FNODE_SIZE: u32 = FNODE_CATS + OBS_MAX_CATS * 8;
