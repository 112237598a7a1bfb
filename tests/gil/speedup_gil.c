/* speedup_gil.c - the GIL experiment: CPU-bound and I/O-bound interpreter threads, with the
 * student's GIL and without any.
 *
 * DESIGN: the kit's interpreter (tinyvm.h) runs the two programs of the classic experiment on
 * 1, 2 and 4 threads:
 * - CPU-bound: a countdown of about CPU_MS of CPU time in all, split evenly over the threads
 *   (CPython: `def count(n): while n > 0: n -= 1`, run as count(N) on one thread, then
 *   count(N/2) on each of two threads);
 * - I/O-bound: each thread does IO_ROUNDS times a short countdown and a 20 ms sleep, the sleep
 *   inside gil_blocking_call (CPython's time.sleep releases the GIL).
 * Each program runs three ways: with one student GIL shared by every thread (CPython's
 * threads), with no GIL at all (plain C threads, or a free-threaded interpreter), and, for the
 * CPU-bound program, with one student GIL per thread (each thread its own interpreter: what
 * multiprocessing and per-interpreter GILs do).
 * The verdict comes only from witnesses recorded by kit code, never from a CPU-bound wall-clock
 * speedup (FACTS.md: on this 2-vCPU machine two CPU-bound threads get 1.03x to 2x depending on
 * the neighbours):
 * - CPU-bound under the GIL (half the points): the turns of the threads (tinyvm.h: the
 *   stretches during which each held the GIL and ran bytecode) never overlap, so at most 1 thread
 *   ran bytecode at any moment, and no increment of interpreter state was lost. That is the "no
 *   parallel speedup" of the GIL, measured on the bytecode itself, on any machine.
 * - I/O-bound under the GIL (half the points): the sleeps are witnessed (tl_witness.h); with N
 *   threads the most sleeps in progress at once must be N and the average number in progress
 *   (sum of sleep durations / makespan) at least 1 + (N - 1) / 2, as for a pool. Sleeping
 *   threads need no core, so this holds on a loaded machine (FACTS.md: correct >= 3.6 of 4,
 *   serialized <= 1.02). A run that misses runs once more and the second run decides (a stall
 *   of the machine that leaves the GIL's holder off the CPU for 100 ms or more also stops the
 *   others from starting their sleeps; it rarely hits two runs, a GIL held across the sleep
 *   fails both).
 * Wall times, speedups against 1 thread and the CPU time / wall time ("cores busy") are
 * reported side by side for information. The table goes to stdout (`make demo-gil` shows it,
 * with GIL_DEMO_REPEAT=3: each CPU-bound configuration runs 3 times and the median run is shown,
 * any run that breaks a witness wins); the verdict to TL_RESULT. Each run's turns go to $TL_ARTIFACTS/<run>.json. Runtime ~2 s idle,
 * ~4 s next to stress-ng --cpu 2. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gil.h"
#include "tinyvm.h"
#include "tl_result.h"
#include "tl_test.h"
#include "tl_witness.h"

enum { CPU_MS = 120, IO_ROUNDS = 8, IO_SLEEP_MS = 20, IO_WORK = 20000, MAXT = 4 };

enum mode { ONE_GIL, NO_GIL, GIL_EACH };

static const char *const mode_label[] = {
	[ONE_GIL] = "one GIL (CPython threads)",
	[NO_GIL] = "no GIL (C threads)",
	[GIL_EACH] = "a GIL per thread (processes)",
};

struct run {
	char name[24];          /* "cpu_gil_n2", ... */
	bool io;
	enum mode mode;
	size_t n;
	bool done;              /* it ran (every gil_create succeeded) */
	struct tv_stats s;      /* the turns */
	struct tl_overlap ov;   /* the sleeps (I/O-bound) */
	double speedup;         /* against the same mode on 1 thread (one GIL for GIL_EACH) */
	int attempts;           /* 2: the I/O-bound witnesses failed once and this is the rerun */
	bool ok;
	char why[600];
};

static long cpu_count; /* countdown for CPU_MS in all: set by main before any run */

static void append(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void append(char *buf, size_t size, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, size - used, fmt, ap);
	va_end(ap);
}

/* Runs one configuration. Returns 0, or the error of gil_create (r->done stays false). */
static int run_one(struct run *r, tl_witness_t *w)
{
	gil_t *gils[MAXT] = { NULL };
	struct tv_vm vms[MAXT];
	struct tv_thread t[MAXT];
	struct tv_prog p;
	size_t ngils = r->mode == ONE_GIL ? 1 : r->mode == GIL_EACH ? r->n : 0;
	int rc = 0;

	for (size_t i = 0; i < ngils; i++)
		if ((rc = gil_create(&gils[i], GIL_DEFAULT_INTERVAL_US)) != 0 || gils[i] == NULL)
			return rc ? rc : EINVAL;
	if (r->io)
		tv_prog_io(&p, IO_ROUNDS, IO_WORK, 0, IO_SLEEP_MS);
	else
		tv_prog_countdown(&p, cpu_count / (long)r->n);
	tl_witness_reset(w);
	for (size_t i = 0; i < r->n; i++) {
		struct tv_vm *vm = &vms[r->mode == GIL_EACH ? i : 0];

		if (r->mode == GIL_EACH || i == 0)
			tv_vm_init(vm, r->mode == NO_GIL ? NULL : gils[r->mode == GIL_EACH ? i : 0],
				   1000, w);
		tv_thread_init(&t[i], vm, &p, (int)i);
	}
	if ((rc = tv_run_threads(t, r->n)) != 0) {
		tl_result_write("inconclusive", 0, "the driver could not start its threads (%s)",
				tl_errname(rc));
		exit(0);
	}
	tv_analyze(t, r->n, &r->s);
	tl_witness_analyze(w, &r->ov);
	tv_write_timeline(t, r->n, r->name);
	r->done = true;
	for (size_t i = 0; i < r->n; i++)
		tv_thread_free(&t[i]);
	if (r->s.err == 0)
		for (size_t i = 0; i < ngils; i++)
			gil_destroy(gils[i]);
	return 0;
}

/* Runs a configuration `reps` times and keeps one run: a run whose witnesses show a problem
 * (an error, two threads running bytecode at once) if there is one, else the run with the median
 * wall time. Returns 0 or the error of gil_create. */
static int run_reps(struct run *r, tl_witness_t *w, int reps)
{
	struct run best[9];
	int n = 0, rc;

	if (reps < 1)
		reps = 1;
	if (reps > 9)
		reps = 9;
	for (; n < reps; n++) {
		best[n] = *r;
		if ((rc = run_one(&best[n], w)) != 0)
			return rc;
		if (best[n].s.err != 0 || best[n].s.max_running > 1 || best[n].s.violations > 0) {
			*r = best[n];
			return 0;
		}
	}
	/* Insertion sort by wall time; keep the middle one. */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && best[j].s.makespan_ms < best[j - 1].s.makespan_ms; j--) {
			struct run tmp = best[j];

			best[j] = best[j - 1];
			best[j - 1] = tmp;
		}
	*r = best[n / 2];
	return 0;
}

/* The witnesses of one run under the student's GIL. */
static void judge(struct run *r)
{
	const struct tv_stats *s = &r->s;

	r->ok = true;
	r->why[0] = '\0';
	if (s->err != 0) {
		r->ok = false;
		snprintf(r->why, sizeof r->why, "%s returned %d (%s) to an interpreter thread that "
			 "uses the GIL correctly (%zu %s-bound thread%s)", s->err_call, s->err,
			 tl_errname(s->err), r->n, r->io ? "I/O" : "CPU", r->n == 1 ? "" : "s");
	} else if (r->mode != ONE_GIL || r->n == 1) {
		return;
	} else if (s->max_running > 1 || s->violations > 0) {
		r->ok = false;
		snprintf(r->why, sizeof r->why, "%zu %s-bound interpreter threads sharing one GIL: "
			 "%u of them ran bytecode at the same moment (for %.1f ms in all; a thread "
			 "found another's turn in progress %ld times): the GIL must let only one "
			 "thread hold it at a time", r->n, r->io ? "I/O" : "CPU", s->max_running,
			 s->overlap_ms, s->violations);
	} else if (r->io) {
		double need = 1.0 + (double)(r->n - 1) / 2.0;

		if (r->ov.max_running < r->n || r->ov.avg_running < need) {
			r->ok = false;
			snprintf(r->why, sizeof r->why, "%zu I/O-bound interpreter threads sharing one "
				 "GIL, each sleeping %d x %d ms inside gil_blocking_call: at most %u "
				 "sleep%s in progress at once, %.2f on average (expected %zu, and at "
				 "least %.1f on average)%s: the GIL must be given up while fn runs, so "
				 "that the other threads run (and start their own sleeps) meanwhile",
				 r->n, IO_ROUNDS, IO_SLEEP_MS, r->ov.max_running,
				 r->ov.max_running == 1 ? " was" : "s were", r->ov.avg_running, r->n,
				 need, r->attempts == 2 ? ", the same in a second run" : "");
		}
	}
}

/* One group of columns: wall ms, speedup, threads running bytecode at once, cores busy. */
static void print_cpu_cells(const struct run *r)
{
	if (r->done)
		printf(" | %7.0f %6.2fx %7.2f %5.2f", r->s.makespan_ms, r->speedup, r->s.avg_running,
		       r->s.cores);
	else
		printf(" | %7s %7s %7s %5s", "", "", "", "");
}

/* wall ms, speedup, sleeps in progress at once (most / average). */
static void print_io_cells(const struct run *r)
{
	printf(" | %7.0f %6.2fx %6u / %5.2f", r->s.makespan_ms, r->speedup, r->ov.max_running,
	       r->ov.avg_running);
}

static void metrics(const struct run *r)
{
	char key[64];

	snprintf(key, sizeof key, "%s_wall_ms", r->name);
	tl_result_metric(key, r->s.makespan_ms);
	snprintf(key, sizeof key, "%s_speedup", r->name);
	tl_result_metric(key, r->speedup);
	snprintf(key, sizeof key, "%s_bytecode_running", r->name);
	tl_result_metric(key, r->s.avg_running);
	snprintf(key, sizeof key, "%s_max_bytecode_running", r->name);
	tl_result_metric(key, r->s.max_running);
	snprintf(key, sizeof key, "%s_cores", r->name);
	tl_result_metric(key, r->s.cores);
	if (r->io) {
		snprintf(key, sizeof key, "%s_sleeps_max", r->name);
		tl_result_metric(key, r->ov.max_running);
		snprintf(key, sizeof key, "%s_sleeps_avg", r->name);
		tl_result_metric(key, r->ov.avg_running);
	}
}

int main(void)
{
	static const size_t ns[] = { 1, 2, 4 };
	struct run cpu[3][3], io[2][3]; /* [mode][n index] */
	char failures[2400] = "", table[1600] = "";
	bool cpu_ok = true, io_ok = true;
	tl_witness_t *w;
	int rc, reps = 1;

	if (tl_witness_create(&w, MAXT * IO_ROUNDS + 8) != 0) {
		tl_result_write("inconclusive", 0, "the driver ran out of memory");
		return 1;
	}
	cpu_count = tv_calibrate_countdown(CPU_MS);
	if (getenv("GIL_DEMO_REPEAT") != NULL) /* tools/demo-gil: steadier CPU-bound numbers */
		reps = atoi(getenv("GIL_DEMO_REPEAT"));

	/* I/O-bound first (it needs no core), then CPU-bound; in each, the GIL runs first. */
	for (int m = 0; m < 2; m++)
		for (size_t k = 0; k < 3; k++) {
			struct run *r = &io[m][k];

			*r = (struct run){ .io = true, .mode = (enum mode)m, .n = ns[k] };
			snprintf(r->name, sizeof r->name, "io_%s_n%zu", m == ONE_GIL ? "gil" : "nogil",
				 ns[k]);
			if ((rc = run_one(r, w)) != 0)
				goto create_failed;
			if (m != ONE_GIL || ns[k] == 1)
				continue;
			judge(r);
			if (!r->ok && r->s.err == 0 && r->s.max_running <= 1 && r->s.violations == 0) {
				/* Sleeps that did not overlap enough: once more, in case the machine
				 * stalled; a GIL held across the sleep fails both runs. */
				struct run again = { .io = true, .mode = ONE_GIL, .n = ns[k],
						     .attempts = 2 };

				memcpy(again.name, r->name, sizeof again.name);
				if ((rc = run_one(&again, w)) != 0)
					goto create_failed;
				*r = again;
			}
		}
	for (int m = 0; m < 3; m++)
		for (size_t k = 0; k < 3; k++) {
			struct run *r = &cpu[m][k];

			*r = (struct run){ .io = false, .mode = (enum mode)m, .n = ns[k] };
			snprintf(r->name, sizeof r->name, "cpu_%s_n%zu",
				 m == ONE_GIL ? "gil" : m == NO_GIL ? "nogil" : "gileach", ns[k]);
			if (m == GIL_EACH && k == 0)
				continue; /* the same as one GIL on one thread */
			if ((rc = run_reps(r, w, reps)) != 0)
				goto create_failed;
		}
	tl_witness_destroy(w);

	/* Speedups: time for the same total work (CPU), time per sleep (I/O). */
	for (int m = 0; m < 3; m++)
		for (size_t k = 0; k < 3; k++) {
			struct run *r = &cpu[m][k], *base = &cpu[m == GIL_EACH ? ONE_GIL : m][0];

			if (r->done && r->s.makespan_ms > 0)
				r->speedup = base->s.makespan_ms / r->s.makespan_ms;
		}
	for (int m = 0; m < 2; m++)
		for (size_t k = 0; k < 3; k++) {
			struct run *r = &io[m][k];

			if (r->s.makespan_ms > 0)
				r->speedup = io[m][0].s.makespan_ms * (double)r->n / r->s.makespan_ms;
		}

	printf("CPU-bound: a countdown of %ld instructions (~%d ms of CPU) split over the threads\n",
	       2 * cpu_count, CPU_MS);
	printf("        | %-29s | %-29s | %-29s\n", mode_label[ONE_GIL], mode_label[NO_GIL],
	       mode_label[GIL_EACH]);
	printf("threads");
	for (int m = 0; m < 3; m++)
		printf(" | %7s %7s %7s %5s", "wall ms", "speedup", "at once", "cores");
	printf("\n");
	for (size_t k = 0; k < 3; k++) {
		printf("%7zu", ns[k]);
		for (int m = 0; m < 3; m++)
			print_cpu_cells(&cpu[m][k]);
		printf("\n");
	}
	printf("\nI/O-bound: each thread sleeps %d x %d ms, a short countdown before each sleep\n",
	       IO_ROUNDS, IO_SLEEP_MS);
	printf("        | %-30s | %-30s\n", mode_label[ONE_GIL], mode_label[NO_GIL]);
	printf("threads");
	for (int m = 0; m < 2; m++)
		printf(" | %7s %7s %14s", "wall ms", "speedup", "sleeps at once");
	printf("\n");
	for (size_t k = 0; k < 3; k++) {
		printf("%7zu", ns[k]);
		for (int m = 0; m < 2; m++)
			print_io_cells(&io[m][k]);
		printf("\n");
	}
	printf("\nat once: threads running bytecode at the same moment, on average (sleeps: most / "
	       "average);\ncores: CPU time / wall time; speedup: against 1 thread of the same kind, "
	       "for the same total\ncount (CPU) or per sleep (I/O). Ideal: the number of threads for "
	       "I/O, the free cores for CPU.\n");
	fflush(stdout);

	for (size_t k = 0; k < 3; k++) {
		judge(&cpu[ONE_GIL][k]);
		judge(&io[ONE_GIL][k]);
		if (!cpu[ONE_GIL][k].ok) {
			cpu_ok = false;
			append(failures, sizeof failures, "%s\n", cpu[ONE_GIL][k].why);
		}
		if (!io[ONE_GIL][k].ok) {
			io_ok = false;
			append(failures, sizeof failures, "%s\n", io[ONE_GIL][k].why);
		}
	}
	for (int m = 0; m < 3; m++)
		for (size_t k = 0; k < 3; k++)
			if (cpu[m][k].done)
				metrics(&cpu[m][k]);
	for (int m = 0; m < 2; m++)
		for (size_t k = 0; k < 3; k++)
			metrics(&io[m][k]);

	append(table, sizeof table, "CPU-bound countdown, 1/2/4 threads: wall %.0f/%.0f/%.0f ms "
	       "with your GIL (bytecode running at once %.2f/%.2f/%.2f, at most %u), %.0f/%.0f/%.0f "
	       "ms with no GIL (%.2f/%.2f/%.2f; cores busy %.2f/%.2f/%.2f), %.0f/%.0f ms on 2/4 "
	       "threads with a GIL each.\n",
	       cpu[0][0].s.makespan_ms, cpu[0][1].s.makespan_ms, cpu[0][2].s.makespan_ms,
	       cpu[0][0].s.avg_running, cpu[0][1].s.avg_running, cpu[0][2].s.avg_running,
	       cpu[0][2].s.max_running > cpu[0][1].s.max_running ? cpu[0][2].s.max_running
								 : cpu[0][1].s.max_running,
	       cpu[1][0].s.makespan_ms, cpu[1][1].s.makespan_ms, cpu[1][2].s.makespan_ms,
	       cpu[1][0].s.avg_running, cpu[1][1].s.avg_running, cpu[1][2].s.avg_running,
	       cpu[1][0].s.cores, cpu[1][1].s.cores, cpu[1][2].s.cores,
	       cpu[2][1].s.makespan_ms, cpu[2][2].s.makespan_ms);
	append(table, sizeof table, "I/O-bound (%d x %d ms sleeps per thread), 2/4 threads: "
	       "speedup %.1fx/%.1fx with your GIL (sleeps at once: most %u/%u, average "
	       "%.2f/%.2f), %.1fx/%.1fx with no GIL; ideal 2x/4x.",
	       IO_ROUNDS, IO_SLEEP_MS, io[0][1].speedup, io[0][2].speedup, io[0][1].ov.max_running,
	       io[0][2].ov.max_running, io[0][1].ov.avg_running, io[0][2].ov.avg_running,
	       io[1][1].speedup, io[1][2].speedup);
	tl_result_write(cpu_ok && io_ok ? "pass" : "fail", (cpu_ok ? 0.5 : 0) + (io_ok ? 0.5 : 0),
			"%s%s\nWall-clock speedups are information only, never graded: what is "
			"graded is that bytecode never ran on two threads at once under the GIL, and "
			"that sleeps overlapped.", failures, table);
	return 0;

create_failed:
	tl_result_write("fail", 0, "gil_create(&g, %ld) returned %d (%s): the experiment could not "
			"run", GIL_DEFAULT_INTERVAL_US, rc, tl_errname(rc));
	return 0;
}
