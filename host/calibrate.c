/*
 * faultline calibrate --host: small probes of this machine, for a cost profile
 * of it (src/calibrate.ts turns their output into profiles/<name>.json's
 * schema). Each probe times a loop of many operations with CLOCK_MONOTONIC
 * and prints one sample per repetition, in nanoseconds per operation:
 *
 *   usage: calibrate PROBE REPS        prints "PROBE ns ns ns ..." (REPS samples)
 *
 * Probes (x86-64 Linux; the others build but skip what needs x86):
 *   tsc          TSC ticks per ns (rdtsc against CLOCK_MONOTONIC over 20 ms; x86 only)
 *   l1 l2 llc dram   a dependent load: a pointer chase over 16 KiB, 256 KiB, 4 MiB, 256 MiB (the last on THP)
 *   walk         the same chase with one line per 4 KiB page over 16,384 pages (64 MiB, no THP) minus
 *                nothing: ns per load; src/calibrate.ts subtracts the dense chase over as many lines
 *   walkdense    the dense chase over the lines of `walk` (16,384 lines, 1 MiB), same order
 *   store        a plain store to a line this CPU owns
 *   atomic       a locked add (lock xadd) to a line this CPU owns, uncontended
 *   pause        one PAUSE (cpu_relax)
 *   xfer         one cache-line transfer between two cores: two threads bound to CPUs 0 and 1
 *                take turns writing one line; a round trip is two transfers
 *   syscall      getppid() through syscall(2): a kernel entry and exit
 *   zero         clear one 4 KiB page with rep stosb (the kernel's clear_page_erms), cold: 64 MiB of pages
 *   copy         copy one 4 KiB page with rep movsb (copy_page), cold
 *   hugezero     clear one 2 MiB page with rep stosb, cold
 *   fault_read   a read fault on fresh anonymous memory (maps the zero page: the smallest fault there is)
 *   fault_write  a write fault on fresh anonymous memory (page_fault1's fault)
 *                (each fault probe also prints PROBE_faults, the minor faults per page the thread took
 *                (getrusage), and fault_read prints fault_read_alloc, the resident pages each read fault
 *                added: 0 when it mapped the shared zero page, 1 when it allocated a page)
 *   fault_shared a write fault on a shared mapping of a memfd whose pages are already in its page cache
 *                (no allocation, no zeroing: entry, page-cache lookup, map, exit: the cheapest fault)
 *   first_access the first write to each page of anonymous memory mapped by MAP_POPULATE: no fault
 *                (its PTE is present, writable and dirty), a TLB miss; on a shadow-paging guest (PVM)
 *                the hypervisor's fill of its shadow PTE (first_access_faults must be 0)
 *   dontneed     madvise(MADV_DONTNEED) of one page just written (a PTE zapped, the page freed, a local
 *                flush of one page), ns per call; dontneed_none the same call on the untouched page beside it
 *                in the same VMA (the same syscall and walk, nothing to zap, no flush), interleaved
 *   shootdown    mprotect of one touched page (a TLB flush) while a second thread of the process spins on
 *                CPU 1 (so the flush must reach it: an IPI), ns per mprotect
 *   flushlocal   the same mprotect with the second thread asleep (no IPI: CPU 1 does not run this mm)
 *   ipigap       while `shootdown` runs, the interruptions the spinning thread on CPU 1 sees: ns each
 *                (the interrupt's entry, the flush handler and the exit on the target)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

/* this thread's CPU time (user + kernel on its behalf): what a loaded host does not inflate by descheduling it */
static double cpu_ns(void) {
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static void pin(int cpu) {
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	pthread_setaffinity_np(pthread_self(), sizeof(s), &s);
}

static void *map(size_t len, int huge) {
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) { perror("mmap"); exit(1); }
	madvise(p, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	return p;
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t xr(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

/* a random cyclic chase through `n` slots at `addr(i)`: each slot holds the address of the next */
static void **chase_build(char *base, size_t n, size_t (*addr)(size_t)) {
	size_t *perm = malloc(n * sizeof(size_t));
	for (size_t i = 0; i < n; i++) perm[i] = i;
	for (size_t i = n - 1; i > 0; i--) { size_t j = xr() % (i + 1); size_t t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
	for (size_t i = 0; i < n; i++) *(void **)(base + addr(perm[i])) = base + addr(perm[(i + 1) % n]);
	void **start = (void **)(base + addr(perm[0]));
	free(perm);
	return start;
}

static volatile void *sink;
static double chase_ns(void **p, long steps) {
	double t0 = cpu_ns();
	for (long i = 0; i < steps; i++) { p = (void **)*p; __asm__ volatile("" : "+r"(p)); }
	__asm__ volatile("" : : "r"(p) : "memory");
	double t = cpu_ns() - t0;
	sink = p;
	return t / steps;
}

static size_t line_addr(size_t i) { return i * 64; }
/* one line per page, the line index varying so the lines spread over the cache's sets */
static size_t page_addr(size_t i) { return i * 4096 + ((i * 7) % 64) * 64; }
/* the same lines packed: 16,384 lines in 1 MiB, set-spread as page_addr's */
static size_t dense_addr(size_t i) { return i * 64; }

#define WALK_PAGES 16384

static void chase(const char *name, size_t bytes, int huge, int reps) {
	char *b = map(bytes, huge);
	memset(b, 1, bytes);
	void **p = chase_build(b, bytes / 64, line_addr);
	chase_ns(p, 1000000);
	printf("%s", name);
	for (int r = 0; r < reps; r++) printf(" %.3f", chase_ns(p, 2000000));
	printf("\n");
}

static void walk(int reps, int dense) {
	size_t bytes = dense ? WALK_PAGES * 64 : (size_t)WALK_PAGES * 4096;
	char *b = map(bytes, 0);
	memset(b, 1, bytes);
	void **p = chase_build(b, WALK_PAGES, dense ? dense_addr : page_addr);
	chase_ns(p, 1000000);
	printf("%s", dense ? "walkdense" : "walk");
	for (int r = 0; r < reps; r++) printf(" %.3f", chase_ns(p, 2000000));
	printf("\n");
}

static void simple(const char *name, int reps) {
	long n = 20000000;
	static char line[128] __attribute__((aligned(64)));
	volatile long *v = (volatile long *)line;
	printf("%s", name);
	for (int r = 0; r < reps; r++) {
		double t0 = cpu_ns();
		if (!strcmp(name, "store")) for (long i = 0; i < n; i++) *v = i;
		else if (!strcmp(name, "atomic")) for (long i = 0; i < n; i++) __atomic_fetch_add((long *)line, 1, __ATOMIC_SEQ_CST);
		else if (!strcmp(name, "pause")) {
			n = 2000000;
#if defined(__x86_64__) || defined(__i386__)
			for (long i = 0; i < n; i++) __asm__ volatile("pause");
#endif
		} else if (!strcmp(name, "syscall")) { n = 500000; for (long i = 0; i < n; i++) syscall(SYS_getppid); }
		printf(" %.3f", (cpu_ns() - t0) / n);
	}
	printf("\n");
}

static void rep_stos(void *d, size_t n) {
#if defined(__x86_64__)
	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(0) : "memory");
#else
	memset(d, 0, n);
#endif
}
static void rep_movs(void *d, const void *s, size_t n) {
#if defined(__x86_64__)
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
#else
	memcpy(d, s, n);
#endif
}

/* 256 MiB of pages cycled through: each page is cold (evicted) when it comes round again */
static void zero_copy(const char *name, int reps) {
	size_t bytes = 256UL << 20, unit = !strcmp(name, "hugezero") ? 2UL << 20 : 4096;
	char *a = map(bytes, 1), *b = map(bytes, 1);
	memset(a, 1, bytes);
	memset(b, 1, bytes);
	size_t n = bytes / unit;
	printf("%s", name);
	for (int r = 0; r < reps; r++) {
		double t0 = cpu_ns();
		for (size_t i = 0; i < n; i++) {
			if (!strcmp(name, "copy")) rep_movs(a + i * unit, b + i * unit, unit);
			else rep_stos(a + i * unit, unit);
		}
		printf(" %.3f", (cpu_ns() - t0) / n);
	}
	printf("\n");
}

/* minor faults this thread took so far */
static long minflt(void) {
	struct rusage u;
	getrusage(RUSAGE_THREAD, &u);
	return u.ru_minflt;
}

/* resident pages of this process (statm) */
static long rss_pages(void) {
	long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) { if (fscanf(f, "%ld %ld", &size, &res) != 2) res = 0; fclose(f); }
	return res;
}

static void print_row(const char *name, const char *suffix, const double *v, int reps, const char *fmt) {
	printf("%s%s", name, suffix);
	for (int r = 0; r < reps; r++) printf(fmt, v[r]);
	printf("\n");
}

#define FAULT_BYTES (64UL << 20)
#define FAULT_PAGES (FAULT_BYTES / 4096)

/* one byte of each page of p: written, or read; ns per page in this thread's CPU time */
static double touch_pages(char *p, int write) {
	long sum = 0;
	double t0 = cpu_ns();
	for (size_t i = 0; i < FAULT_BYTES; i += 4096) { if (write) p[i] = 1; else sum += ((volatile char *)p)[i]; }
	double t = cpu_ns() - t0;
	sink = (void *)sum;
	return t / FAULT_PAGES;
}

static void faults(const char *name, int reps) {
	int write = strcmp(name, "fault_read") != 0;
	int shared = !strcmp(name, "fault_shared"), first = !strcmp(name, "first_access");
	double ns[64], fl[64], alloc[64];
	int fd = -1;
	if (shared) {
		/* the file's pages enter its page cache once, untimed: every timed fault finds its page there */
		fd = memfd_create("faultline-calibrate", 0);
		if (fd < 0 || ftruncate(fd, FAULT_BYTES) != 0) { perror("memfd"); exit(1); }
		char *p = mmap(NULL, FAULT_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) { perror("mmap"); exit(1); }
		touch_pages(p, 1);
		munmap(p, FAULT_BYTES);
	}
	for (int r = 0; r < reps; r++) {
		char *p;
		if (shared) {
			p = mmap(NULL, FAULT_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			if (p == MAP_FAILED) { perror("mmap"); exit(1); }
		} else if (first) {
			p = mmap(NULL, FAULT_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
			if (p == MAP_FAILED) { perror("mmap"); exit(1); }
			madvise(p, FAULT_BYTES, MADV_NOHUGEPAGE); /* already populated with small pages: keeps khugepaged off it */
		} else p = map(FAULT_BYTES, 0);
		long f0 = minflt(), r0 = rss_pages();
		ns[r] = touch_pages(p, write);
		fl[r] = (double)(minflt() - f0) / FAULT_PAGES;
		alloc[r] = (double)(rss_pages() - r0) / FAULT_PAGES;
		munmap(p, FAULT_BYTES);
	}
	if (fd >= 0) close(fd);
	print_row(name, "", ns, reps, " %.3f");
	print_row(name, "_faults", fl, reps, " %.4f");
	if (!write) print_row(name, "_alloc", alloc, reps, " %.4f");
}

/* madvise(MADV_DONTNEED) of a written page against the same of its untouched neighbour, one call timed at a time */
static void dontneed(int reps) {
	char *p = map(2 * 4096, 0);
	long n = 2000;
	double on[64], off[64];
	for (int r = -1; r < reps; r++) {
		double a = 0, b = 0;
		for (long i = 0; i < n; i++) {
			p[0] = 1; /* a fault: the page and its PTE are back */
			double t0 = cpu_ns();
			madvise(p, 4096, MADV_DONTNEED);
			double t1 = cpu_ns();
			madvise(p + 4096, 4096, MADV_DONTNEED);
			double t2 = cpu_ns();
			a += t1 - t0;
			b += t2 - t1;
		}
		if (r >= 0) { on[r] = a / n; off[r] = b / n; }
	}
	munmap(p, 2 * 4096);
	print_row("dontneed", "", on, reps, " %.3f");
	print_row("dontneed_none", "", off, reps, " %.3f");
}

/* ---- two cores ---- */
static volatile long turn __attribute__((aligned(128)));
static volatile int stop;
static volatile int spin_mode; /* 1: spin (touching the mm), 0: sleep */
static double gaps[1 << 16];
static volatile long ngaps;
static volatile long tprogress;

static void *pingpong(void *arg) {
	(void)arg;
	pin(1);
	for (long i = 1; !stop; i += 2) {
		while (turn != i) if (stop) return NULL;
		turn = i + 1;
	}
	return NULL;
}

static int cmpd(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }

#define BURSTS 400
/*
 * Bursts of 500 round trips, timed in wall time; a sample is the 10th-percentile burst: on a
 * loaded host a burst during which either thread was descheduled is far slower, and the low
 * end is the transfer itself.
 */
static void xfer(int reps) {
	pthread_t t;
	turn = 0;
	stop = 0;
	pthread_create(&t, NULL, pingpong, NULL);
	pin(0);
	long n = 500;
	long v = 0;
	static double b[BURSTS];
	printf("xfer");
	for (int r = -1; r < reps; r++) {
		int nb = 0;
		double start = now_ns();
		while (nb < BURSTS && (nb < 20 || now_ns() - start < 1e9)) {
			double t0 = now_ns();
			for (long i = 0; i < n; i++) { turn = v + 1; v += 2; while (turn != v) ; }
			b[nb++] = (now_ns() - t0) / n / 2; /* a round trip is two transfers */
		}
		qsort(b, nb, sizeof(double), cmpd);
		if (r >= 0) printf(" %.3f", b[nb / 10]);
	}
	printf("\n");
	stop = 1;
	turn = -1;
	pthread_join(t, NULL);
}

/* the target: spins on CPU 1 in this mm; every jump in its clock beyond 300 ns is an interruption */
static void *target(void *arg) {
	(void)arg;
	pin(1);
	double last = now_ns();
	while (!stop) {
		if (!spin_mode) { usleep(1000); last = now_ns(); continue; }
		double t = now_ns();
		if (t - last > 300 && t - last < 100000 && ngaps < (1 << 16)) gaps[ngaps++] = t - last;
		last = t;
		tprogress++;
	}
	return NULL;
}

/*
 * Bursts of 50 mprotect pairs timed in the initiator's CPU time (its wait for the acks is spinning,
 * so it counts). With the target spinning, only the bursts during which it ran (its loop advanced)
 * count; a sample is their median. The same with the target asleep gives the local flush.
 */
static void shootdown(int reps) {
	pthread_t t;
	stop = 0;
	spin_mode = 0;
	pthread_create(&t, NULL, target, NULL);
	pin(0);
	char *p = map(4096, 0);
	long n = 50;
	double sd[64], fl[64], gp[64];
	static double b[BURSTS];
	if (reps > 64) reps = 64;
	for (int r = -1; r < reps; r++) {
		for (int mode = 1; mode >= 0; mode--) {
			spin_mode = mode;
			usleep(5000); /* let the target settle: spinning in this mm, or asleep */
			ngaps = 0;
			int nb = 0;
			double start = now_ns();
			while (nb < BURSTS && now_ns() - start < 5e8) {
				long p0 = tprogress;
				double t0 = cpu_ns();
				for (long i = 0; i < n; i++) {
					p[0] = 1; /* the PTE is present and writable: the next mprotect must flush it */
					mprotect(p, 4096, PROT_READ);
					mprotect(p, 4096, PROT_READ | PROT_WRITE);
				}
				double ns = (cpu_ns() - t0) / (2.0 * n);
				if (!mode || tprogress - p0 > 2 * n) b[nb++] = ns;
			}
			qsort(b, nb, sizeof(double), cmpd);
			double m = nb ? b[nb / 2] : 0;
			if (r < 0) continue;
			if (mode) {
				sd[r] = m;
				long g = ngaps;
				qsort(gaps, g, sizeof(double), cmpd);
				gp[r] = g ? gaps[g / 2] : 0;
			} else fl[r] = m;
		}
	}
	stop = 1;
	pthread_join(t, NULL);
	printf("shootdown");
	for (int r = 0; r < reps; r++) printf(" %.3f", sd[r]);
	printf("\nflushlocal");
	for (int r = 0; r < reps; r++) printf(" %.3f", fl[r]);
	printf("\nipigap");
	for (int r = 0; r < reps; r++) printf(" %.3f", gp[r]);
	printf("\n");
}

static void tsc(int reps) {
#if defined(__x86_64__)
	printf("tsc");
	for (int r = 0; r < reps; r++) {
		unsigned lo, hi;
		__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
		uint64_t c0 = ((uint64_t)hi << 32) | lo;
		double t0 = now_ns();
		while (now_ns() - t0 < 20e6) ;
		__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
		uint64_t c1 = ((uint64_t)hi << 32) | lo;
		printf(" %.5f", (c1 - c0) / (now_ns() - t0));
	}
	printf("\n");
#else
	(void)reps;
	printf("tsc\n");
#endif
}

int main(int argc, char **argv) {
	if (argc != 3) { fprintf(stderr, "usage: calibrate PROBE REPS\n"); return 2; }
	const char *p = argv[1];
	int reps = atoi(argv[2]);
	if (reps < 1 || reps > 64) { fprintf(stderr, "calibrate: REPS must be 1 to 64\n"); return 2; }
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(p, "tsc")) tsc(reps);
	else if (!strcmp(p, "l1")) chase("l1", 16 << 10, 0, reps);
	else if (!strcmp(p, "l2")) chase("l2", 256 << 10, 0, reps);
	else if (!strcmp(p, "llc")) chase("llc", 4 << 20, 1, reps);
	else if (!strcmp(p, "dram")) chase("dram", 256 << 20, 1, reps);
	else if (!strcmp(p, "walk")) walk(reps, 0);
	else if (!strcmp(p, "walkdense")) walk(reps, 1);
	else if (!strcmp(p, "store") || !strcmp(p, "atomic") || !strcmp(p, "pause") || !strcmp(p, "syscall")) simple(p, reps);
	else if (!strcmp(p, "zero") || !strcmp(p, "copy") || !strcmp(p, "hugezero")) zero_copy(p, reps);
	else if (!strcmp(p, "fault_read") || !strcmp(p, "fault_write") || !strcmp(p, "fault_shared") || !strcmp(p, "first_access")) faults(p, reps);
	else if (!strcmp(p, "dontneed")) dontneed(reps);
	else if (!strcmp(p, "xfer") || !strcmp(p, "shootdown")) {
		if (ncpu < 2) { fprintf(stderr, "calibrate: %s needs 2 CPUs (this host has %ld)\n", p, ncpu); return 3; }
		if (!strcmp(p, "xfer")) xfer(reps); else shootdown(reps);
	} else { fprintf(stderr, "calibrate: unknown probe %s\n", p); return 2; }
	return 0;
}
