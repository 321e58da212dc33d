// The Linux constants a custom program passes to map, protect and advise, and
// the VM_FAULT_* bits an access returns: the uapi values, as the core uses them
// (test/api-types.test.ts checks each against the constant the core exports).

/** mmap/mprotect protection (uapi asm-generic/mman-common.h) */
export const PROT_NONE = 0x0;
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const PROT_EXEC = 0x4;
/** arm64 uapi: the mapping's pages carry MTE allocation tags (needs the tagStorage setting) */
export const PROT_MTE = 0x20;

/** mmap flags (uapi) */
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_GROWSDOWN = 0x100;

/** madvise advice: the one the core emulates */
export const MADV_DONTNEED = 4;

/** what an access's fault returned (include/linux/mm_types.h vm_fault_reason) */
export const VM_FAULT_OOM = 0x1;
export const VM_FAULT_SIGBUS = 0x2;
export const VM_FAULT_SIGSEGV = 0x40;
export const VM_FAULT_RETRY = 0x400;

/** userfaultfd() / UFFDIO_API features (uapi linux/userfaultfd.h, Linux 6.12: every bit is accepted, see the README) */
export const UFFD_FEATURE_PAGEFAULT_FLAG_WP = 1 << 0;
export const UFFD_FEATURE_EVENT_FORK = 1 << 1;
export const UFFD_FEATURE_EVENT_REMAP = 1 << 2;
export const UFFD_FEATURE_EVENT_REMOVE = 1 << 3;
export const UFFD_FEATURE_MISSING_HUGETLBFS = 1 << 4;
export const UFFD_FEATURE_MISSING_SHMEM = 1 << 5;
export const UFFD_FEATURE_EVENT_UNMAP = 1 << 6;
export const UFFD_FEATURE_SIGBUS = 1 << 7;
export const UFFD_FEATURE_THREAD_ID = 1 << 8;
export const UFFD_FEATURE_MINOR_HUGETLBFS = 1 << 9;
export const UFFD_FEATURE_MINOR_SHMEM = 1 << 10;
export const UFFD_FEATURE_EXACT_ADDRESS = 1 << 11;
export const UFFD_FEATURE_WP_HUGETLBFS_SHMEM = 1 << 12;
export const UFFD_FEATURE_WP_UNPOPULATED = 1 << 13;
export const UFFD_FEATURE_POISON = 1 << 14;
export const UFFD_FEATURE_WP_ASYNC = 1 << 15;
export const UFFD_FEATURE_MOVE = 1 << 16;
/** the flags of a uffdRead message (uffd_msg.arg.pagefault.flags) */
export const UFFD_PAGEFAULT_FLAG_WRITE = 1;
export const UFFD_PAGEFAULT_FLAG_WP = 2;
export const UFFD_PAGEFAULT_FLAG_MINOR = 4;
