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
