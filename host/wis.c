/*
 * faultline's re-expression of five will-it-scale tests in threads mode, for
 * `faultline validate --host`. Not will-it-scale's code: the loops follow
 * the behaviour of its tests/page_fault1.c, page_fault2.c, page_fault3.c,
 * mmap1.c and tlb_flush1.c (github.com/antonblanchard/will-it-scale), and
 * the harness follows main.c's threads mode: N threads, each bound to a CPU,
 * each bumping its own cache-line-padded iteration counter forever; the
 * parent samples the sum once per period and reports iterations per second.
 * hwloc is not needed: threads are bound with pthread_setaffinity_np.
 *
 * usage: wis TEST THREADS SECONDS     prints "TEST THREADS iterations_per_second iterations_per_cpu_second faults_per_iteration"
 *
 * The second rate divides by the CPU time the threads got (CLOCK_PROCESS_CPUTIME_ID; the
 * parent sleeps) instead of the wall time: on a loaded host, what a thread does per second
 * it runs (equal to the first on an idle host, where each bound thread runs all the time).
 * The third is the process's minor faults (getrusage) over the period per iteration: 1 when
 * each page of page_fault1/2/3 takes a fault of its own, less when the kernel maps several
 * pages per fault (a file's large folio), 0 for mmap1.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MEMSIZE (128UL * 1024 * 1024)

struct counter { volatile unsigned long long n; char pad[120]; } __attribute__((aligned(128)));
static struct counter *counters;

/* a private file of MEMSIZE bytes, unlinked (page_fault2/3, tlb_flush1: one per thread) */
static int tmpfile_fd(void) {
	char name[] = "/tmp/faultline-wis.XXXXXX";
	int fd = mkstemp(name);
	assert(fd >= 0);
	assert(ftruncate(fd, MEMSIZE) == 0);
	unlink(name);
	return fd;
}

/* mmap, write one byte per page, munmap; flags/fd select anonymous private, file private or file shared */
static void page_fault_loop(volatile unsigned long long *it, int flags, int fd) {
	long pg = getpagesize();
	for (;;) {
		char *c = mmap(NULL, MEMSIZE, PROT_READ | PROT_WRITE, flags, fd, 0);
		assert(c != MAP_FAILED);
		for (unsigned long i = 0; i < MEMSIZE; i += pg) { c[i] = 0; (*it)++; }
		munmap(c, MEMSIZE);
	}
}

static void mmap_loop(volatile unsigned long long *it) {
	for (;;) {
		char *c = mmap(NULL, MEMSIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		assert(c != MAP_FAILED);
		munmap(c, MEMSIZE);
		(*it)++;
	}
}

/* per page of a private file mapping: write it (COW), MADV_DONTNEED it (a TLB flush on every CPU running the mm) */
static void tlb_flush_loop(volatile unsigned long long *it, int fd) {
	long pg = getpagesize();
	for (;;) {
		char *a = mmap(NULL, MEMSIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
		assert(a != MAP_FAILED);
		for (unsigned long i = 0; i < MEMSIZE; i += pg) {
			a[i] = 1;
			madvise(a + i, pg, MADV_DONTNEED);
			(*it)++;
		}
		munmap(a, MEMSIZE);
	}
}

static const char *test;
static long ncpu;

static void *worker(void *arg) {
	long nr = (long)arg;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(nr % ncpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	volatile unsigned long long *it = &counters[nr].n;
	if (!strcmp(test, "page_fault1")) page_fault_loop(it, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	else if (!strcmp(test, "page_fault2")) page_fault_loop(it, MAP_PRIVATE, tmpfile_fd());
	else if (!strcmp(test, "page_fault3")) page_fault_loop(it, MAP_SHARED, tmpfile_fd());
	else if (!strcmp(test, "mmap1")) mmap_loop(it);
	else if (!strcmp(test, "tlb_flush1")) tlb_flush_loop(it, tmpfile_fd());
	return NULL;
}

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu_now(void) {
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static long minflt(void) {
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return u.ru_minflt;
}

static unsigned long long total(long n) {
	unsigned long long s = 0;
	for (long i = 0; i < n; i++) s += counters[i].n;
	return s;
}

int main(int argc, char **argv) {
	if (argc != 4) { fprintf(stderr, "usage: wis TEST THREADS SECONDS\n"); return 2; }
	test = argv[1];
	long n = atol(argv[2]);
	double secs = atof(argv[3]);
	const char *known[] = { "page_fault1", "page_fault2", "page_fault3", "mmap1", "tlb_flush1" };
	int ok = 0;
	for (unsigned i = 0; i < sizeof(known) / sizeof(known[0]); i++) ok |= !strcmp(test, known[i]);
	if (!ok || n < 1 || n > 1024 || secs <= 0) { fprintf(stderr, "wis: bad arguments\n"); return 2; }
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	counters = aligned_alloc(128, n * sizeof(*counters));
	memset(counters, 0, n * sizeof(*counters));
	for (long i = 0; i < n; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, worker, (void *)i)) { perror("pthread_create"); return 1; }
	}
	/* warm up, then measure over the period (main.c samples once a second and averages) */
	usleep(200000);
	unsigned long long c0 = total(n);
	double t0 = now(), u0 = cpu_now();
	long f0 = minflt();
	usleep((useconds_t)(secs * 1e6));
	unsigned long long c1 = total(n);
	long f1 = minflt();
	double t1 = now(), u1 = cpu_now();
	/* per thread-second of CPU, times the threads: the rate had each thread had its CPU */
	printf("%s %ld %.0f %.0f %.4f\n", test, n, (c1 - c0) / (t1 - t0), u1 > u0 ? (c1 - c0) / ((u1 - u0) / n) : 0.0,
	       c1 > c0 ? (double)(f1 - f0) / (double)(c1 - c0) : 0.0);
	fflush(stdout);
	_exit(0);
}
