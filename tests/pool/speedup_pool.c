/* speedup_pool.c - the speedup driver of the worker pool: I/O-bound and CPU-bound work.
 *
 * DESIGN: grader-owned tasks run on the student's pool with 1, 4 and 8 workers:
 * - I/O-bound: IO_TASKS tasks that sleep 20 ms (0.64 s of sleep per run);
 * - CPU-bound: CPU_TASKS tasks of ~20 ms of computation each (calibrated on this machine's
 *   thread CPU clock before the runs).
 * Every task records its start and end in a tl_witness (tests/common/tl_witness.h). The verdict
 * comes ONLY from those witnesses, which hold on a loaded 2-core machine (FACTS.md: a correct
 * pool of 4 shows max 4 and an average concurrency >= 3.89, a serialized one max 1 and <= 1.00):
 * for a pool of N workers the most tasks running at once must be exactly N (never more), and the
 * average concurrency (sum of task durations / makespan) must reach 1 + (N - 1) / 2. A task that
 * is "running" here is between its start and its end, whether or not a core is executing it at
 * that instant, so the CPU-bound witness holds on one core too: time-sliced tasks overlap.
 * Wall-clock speedups are measured and reported with their ideal values, never judged: for
 * I/O-bound work the ideal is N (sleeping threads need no core); for CPU-bound work it is what
 * the machine gives plain pthreads doing the same work in the same run (the "available"
 * parallelism), which is 1.0x when the two vCPUs are busy or packed onto one core: that line
 * then says "inconclusive" instead of blaming the pool. Points: half for the I/O-bound
 * witnesses, half for the CPU-bound ones. Each run's timeline goes to $TL_ARTIFACTS/<run>.json
 * when TL_ARTIFACTS is set. Runtime: ~3 s idle, ~5 s under a CPU hog. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "tl_result.h"
#include "tl_test.h"
#include "tl_witness.h"

enum { IO_TASKS = 32, CPU_TASKS = 24, TASK_MS = 20 };

static const size_t sizes[] = { 1, 4, 8 };
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* ---- the work ---- */

static uint64_t cpu_iters; /* set by calibrate() before any thread starts, then read-only */

/* Pure computation: an LCG the compiler cannot fold away. */
static uint64_t spin(uint64_t iters)
{
	uint64_t x = 88172645463325252ULL;

	for (uint64_t i = 0; i < iters; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		__asm__ volatile("" : "+r"(x));
	}
	return x;
}

/* Finds how many iterations of spin() take TASK_MS of this thread's CPU time (best of 3). */
static void calibrate(void)
{
	uint64_t iters = 200000;
	int64_t best = INT64_MAX;

	spin(iters); /* warm up */
	for (int i = 0; i < 3; i++) {
		int64_t t0 = tl_thread_cpu_ns();

		spin(iters * 10);
		int64_t dt = tl_thread_cpu_ns() - t0;

		if (dt > 0 && dt < best)
			best = dt;
	}
	cpu_iters = (uint64_t)((double)iters * 10 * (TASK_MS * 1e6) / (double)best);
	if (cpu_iters == 0)
		cpu_iters = 1;
}

struct work {
	tl_witness_t *w; /* NULL: not witnessed (plain threads) */
	bool io;
};

static void do_one(const struct work *wk)
{
	size_t slot = wk->w ? tl_witness_begin(wk->w) : 0;

	if (wk->io)
		tl_sleep_ms(TASK_MS);
	else if (spin(cpu_iters) == 42)
		fputc(' ', stderr); /* keeps the result alive */
	if (wk->w)
		tl_witness_end(wk->w, slot);
}

static int pool_task(void *arg, void **result)
{
	(void)result;
	do_one(arg);
	return 0;
}

/* ---- one run ---- */

struct run {
	char name[16];       /* "io_n4", "cpu_n8", ... */
	size_t workers;
	bool io;
	double wall_ms;      /* first submit to last future_get */
	struct tl_overlap ov;
	bool ok;             /* the witnesses hold */
	char why[400];       /* when !ok */
};

static void save_timeline(tl_witness_t *w, const char *name)
{
	const char *dir = getenv("TL_ARTIFACTS");
	char path[4096];
	int rc;

	if (!dir || !*dir)
		return;
	snprintf(path, sizeof path, "%s/%s.json", dir, name);
	if ((rc = tl_witness_write_timeline(w, path)) != 0)
		fprintf(stderr, "speedup_pool: cannot write %s: %s\n", path, tl_errname(rc));
}

/* Runs the tasks on a pool of r->workers; false (with a verdict already written) if the pool
 * could not even run them. */
static bool run_pool(struct run *r, tl_witness_t *w)
{
	size_t ntasks = r->io ? IO_TASKS : CPU_TASKS;
	struct work wk = { .w = w, .io = r->io };
	future_t *f[IO_TASKS > CPU_TASKS ? IO_TASKS : CPU_TASKS];
	pool_t *p = NULL;
	int64_t t0;
	int rc;

	tl_witness_reset(w);
	if ((rc = pool_create(&p, r->workers)) != 0) {
		tl_result_write("fail", 0, "pool_create(&p, %zu) returned %d (%s): the speedup "
				"check could not run", r->workers, rc, tl_errname(rc));
		return false;
	}
	t0 = tl_now_ns();
	for (size_t i = 0; i < ntasks; i++) {
		if ((rc = pool_submit(p, pool_task, &wk, &f[i])) != 0) {
			tl_result_write("fail", 0, "pool_submit returned %d (%s) on a pool of %zu "
					"workers: the speedup check could not run", rc,
					tl_errname(rc), r->workers);
			return false;
		}
	}
	for (size_t i = 0; i < ntasks; i++) {
		rc = future_get(f[i], (long)(10000 * tl_slowdown()), NULL, NULL);
		if (rc != 0) {
			tl_result_write("fail", 0, "on a pool of %zu workers, future_get on task %zu of "
					"%zu (%s-bound, %d ms each) returned %d (%s) after waiting up "
					"to 10 s: the pool does not finish its tasks", r->workers, i,
					ntasks, r->io ? "I/O" : "CPU", TASK_MS, rc, tl_errname(rc));
			return false; /* leave the pool as it is: it may be stuck */
		}
	}
	r->wall_ms = tl_elapsed_ms(t0);
	for (size_t i = 0; i < ntasks; i++)
		future_release(f[i]);
	pool_destroy(p);
	tl_witness_analyze(w, &r->ov);
	save_timeline(w, r->name);
	return true;
}

/* The witnesses of one run: max == N and never above; average well above 1. */
static void judge(struct run *r)
{
	size_t n = r->workers;
	double need = 1.0 + (double)(n - 1) / 2.0;
	const char *kind = r->io ? "I/O-bound: tasks that sleep 20 ms"
				 : "CPU-bound: tasks of 20 ms of computation";

	r->ok = true;
	if (r->ov.max_running > n) {
		r->ok = false;
		snprintf(r->why, sizeof r->why, "%u tasks were running at the same time on a pool of "
			 "%zu worker%s (%s): a pool must never run more than nworkers tasks at once",
			 r->ov.max_running, n, n == 1 ? "" : "s", kind);
	} else if (r->ov.max_running < n) {
		r->ok = false;
		snprintf(r->why, sizeof r->why, "on a pool of %zu workers at most %u task%s ran at "
			 "the same time (%s; average concurrency %.2f): every worker must run a task "
			 "while the others do. Does each worker let go of the pool's lock before it "
			 "runs a task, and are there really %zu worker threads?",
			 n, r->ov.max_running, r->ov.max_running == 1 ? "" : "s", kind,
			 r->ov.avg_running, n);
	} else if (n > 1 && r->ov.avg_running < need) {
		r->ok = false;
		snprintf(r->why, sizeof r->why, "on a pool of %zu workers the average concurrency "
			 "(sum of task durations / makespan) was %.2f (%s), expected at least %.1f: "
			 "a pool whose workers run tasks together scores close to %zu, one that runs "
			 "them one at a time 1.0", n, r->ov.avg_running, kind, need, n);
	}
}

/* ---- the machine's own parallelism: plain threads, same CPU work ---- */

struct plain {
	size_t index, nthreads;
};

static void *plain_main(void *arg)
{
	struct plain *pl = arg;
	struct work wk = { .w = NULL, .io = false };

	for (size_t i = pl->index; i < CPU_TASKS; i += pl->nthreads)
		do_one(&wk);
	return NULL;
}

/* Wall time of CPU_TASKS tasks on n plain threads (task i on thread i % n). */
static double plain_threads_ms(size_t n)
{
	pthread_t tids[8];
	struct plain pl[8];
	int64_t t0 = tl_now_ns();

	for (size_t i = 0; i < n; i++)
		pl[i] = (struct plain){ .index = i, .nthreads = n };
	if (tl_start_threads(tids, n, plain_main, pl, sizeof pl[0]) != 0)
		return -1;
	tl_join_all(tids, n);
	return tl_elapsed_ms(t0);
}

/* ---- main ---- */

int main(void)
{
	struct run io[NSIZES], cpu[NSIZES];
	double plain_ms[NSIZES];
	char cpu_lines[600] = "", io_lines[300] = "", failures[1400] = "";
	bool io_ok = true, cpu_ok = true;
	tl_witness_t *w;
	size_t used;

	if (tl_witness_create(&w, IO_TASKS + CPU_TASKS) != 0) {
		tl_result_write("inconclusive", 0, "the driver ran out of memory");
		return 1;
	}
	calibrate();

	/* I/O-bound first (it needs no core), then CPU-bound, each pool run right after the plain
	 * threads of the same size so that both see the same machine. */
	for (size_t k = 0; k < NSIZES; k++) {
		io[k] = (struct run){ .workers = sizes[k], .io = true };
		snprintf(io[k].name, sizeof io[k].name, "io_n%zu", sizes[k]);
		if (!run_pool(&io[k], w))
			return 0;
		judge(&io[k]);
	}
	for (size_t k = 0; k < NSIZES; k++) {
		plain_ms[k] = plain_threads_ms(sizes[k]);
		cpu[k] = (struct run){ .workers = sizes[k], .io = false };
		snprintf(cpu[k].name, sizeof cpu[k].name, "cpu_n%zu", sizes[k]);
		if (!run_pool(&cpu[k], w))
			return 0;
		judge(&cpu[k]);
	}
	tl_witness_destroy(w);

	for (size_t k = 0; k < NSIZES; k++) {
		char key[64];
		struct run *runs[2] = { &io[k], &cpu[k] };

		for (int j = 0; j < 2; j++) {
			struct run *r = runs[j];

			snprintf(key, sizeof key, "%s_max_running", r->name);
			tl_result_metric(key, r->ov.max_running);
			snprintf(key, sizeof key, "%s_avg_running", r->name);
			tl_result_metric(key, r->ov.avg_running);
			snprintf(key, sizeof key, "%s_wall_ms", r->name);
			tl_result_metric(key, r->wall_ms);
			if (!r->ok) {
				used = strlen(failures);
				snprintf(failures + used, sizeof failures - used, "%s%s",
					 used ? "\n" : "", r->why);
				if (r->io)
					io_ok = false;
				else
					cpu_ok = false;
			}
		}
		snprintf(key, sizeof key, "plain_threads_n%zu_wall_ms", sizes[k]);
		tl_result_metric(key, plain_ms[k]);
	}

	/* Wall-clock speedups, for information, with their ideal. */
	for (size_t k = 1; k < NSIZES; k++) {
		double sio = io[0].wall_ms / io[k].wall_ms;
		double scpu = cpu[0].wall_ms / cpu[k].wall_ms;
		double avail = plain_ms[0] / plain_ms[k];
		char key[64];

		snprintf(key, sizeof key, "io_n%zu_speedup", sizes[k]);
		tl_result_metric(key, sio);
		snprintf(key, sizeof key, "cpu_n%zu_speedup", sizes[k]);
		tl_result_metric(key, scpu);
		snprintf(key, sizeof key, "cpu_n%zu_available", sizes[k]);
		tl_result_metric(key, avail);
		used = strlen(io_lines);
		snprintf(io_lines + used, sizeof io_lines - used, "%s%zu workers %.1fx of %.1fx",
			 k > 1 ? ", " : "", sizes[k], sio, (double)sizes[k]);
		used = strlen(cpu_lines);
		if (avail < 1.3)
			snprintf(cpu_lines + used, sizeof cpu_lines - used,
				 "%s%zu workers %.1fx, inconclusive: the machine gave no spare core "
				 "(plain threads got %.1fx)", k > 1 ? "; " : "", sizes[k], scpu, avail);
		else
			snprintf(cpu_lines + used, sizeof cpu_lines - used,
				 "%s%zu workers %.1fx of an available %.1fx", k > 1 ? "; " : "",
				 sizes[k], scpu, avail);
	}

	tl_result_write(io_ok && cpu_ok ? "pass" : "fail", (io_ok ? 0.5 : 0) + (cpu_ok ? 0.5 : 0),
			"%s%s"
			"Witnesses (max tasks at once / average concurrency): I/O-bound %u/%.2f "
			"with 4 workers, %u/%.2f with 8; CPU-bound %u/%.2f with 4, %u/%.2f with 8.\n"
			"Wall-clock speedups over 1 worker (information only): I/O-bound (%d x %d ms "
			"sleep): %s. CPU-bound (%d x %d ms of computation): %s.",
			failures, *failures ? "\n" : "",
			io[1].ov.max_running, io[1].ov.avg_running, io[2].ov.max_running,
			io[2].ov.avg_running, cpu[1].ov.max_running, cpu[1].ov.avg_running,
			cpu[2].ov.max_running, cpu[2].ov.avg_running, IO_TASKS, TASK_MS, io_lines,
			CPU_TASKS, TASK_MS, cpu_lines);
	return 0;
}
