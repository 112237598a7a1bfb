/* pool_bench.c - the reference worker pool against GLib's GThreadPool.
 *
 * Build and run (what `make bench` does for this exercise):
 *   cc -std=gnu11 -D_GNU_SOURCE -O2 -pthread -Iexercises/pool bench/pool_bench.c \
 *      solutions/pool/pool.c $(pkg-config --cflags --libs glib-2.0) -o build/pool_bench
 *   build/pool_bench [scale]          (scale multiplies the task counts; default 1)
 *
 * DESIGN: three measures, each with 2 and then 4 workers, side by side in one run:
 * - empty-task throughput: EMPTY_TASKS tasks that do nothing, submitted by one thread as fast as
 *   it can (pool_submit with out = NULL; g_thread_pool_push), timed from the first submit until
 *   the pool has run them all and stopped (pool_shutdown(wait) then pool_destroy;
 *   g_thread_pool_free(wait = TRUE));
 * - throughput with futures: FUTURE_TASKS empty tasks, each with a future that the submitter
 *   waits on and releases after submitting them all. GThreadPool has no futures, so its side
 *   gets the textbook one: a heap-allocated completion (GMutex, GCond, done flag) per task that
 *   the task signals and the submitter waits on and frees;
 * - latency: one task at a time, submit to result (future_get returning; the completion
 *   signalled), LATENCY_ROUNDS times; median and 99th percentile.
 * Both pools are created (threads started: GThreadPool in exclusive mode) before the clock
 * starts. Each configuration runs REPS times and the best run counts (the machine is shared; the
 * best run is the least disturbed). Ratios are reference / GLib: above 1.0 means the reference
 * is faster for throughput; below 1.0 means it is faster for latency. Goals (issue): throughput
 * >= 1.0x, with futures >= 0.8x, median latency <= 1.2x. This is a benchmark, not a test: it
 * prints numbers and never fails. */
#include <glib.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool.h"

#define EMPTY_TASKS 200000
#define FUTURE_TASKS 100000
#define LATENCY_ROUNDS 4000
#define REPS 3

static long scale = 1;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "pool_bench: %s failed: %d\n", what, rc);
	exit(1);
}

/* ---- the reference pool ---- */

static int empty_task(void *arg, void **result)
{
	(void)arg;
	(void)result;
	return 0;
}

static double ref_empty(size_t workers, long n)
{
	pool_t *p;
	int64_t t0;
	int rc;

	if ((rc = pool_create(&p, workers)) != 0)
		die("pool_create", rc);
	t0 = now_ns();
	for (long i = 0; i < n; i++)
		if ((rc = pool_submit(p, empty_task, NULL, NULL)) != 0)
			die("pool_submit", rc);
	pool_shutdown(p, true, false);
	pool_destroy(p);
	return (double)(now_ns() - t0) / 1e9;
}

static double ref_futures(size_t workers, long n)
{
	future_t **f = malloc((size_t)n * sizeof *f);
	pool_t *p;
	int64_t t0;
	int rc;

	if ((rc = pool_create(&p, workers)) != 0)
		die("pool_create", rc);
	t0 = now_ns();
	for (long i = 0; i < n; i++)
		if ((rc = pool_submit(p, empty_task, NULL, &f[i])) != 0)
			die("pool_submit", rc);
	for (long i = 0; i < n; i++) {
		if ((rc = future_get(f[i], -1, NULL, NULL)) != 0)
			die("future_get", rc);
		future_release(f[i]);
	}
	double s = (double)(now_ns() - t0) / 1e9;

	pool_destroy(p);
	free(f);
	return s;
}

/* Fills lat[rounds] with submit-to-result times in ns. */
static void ref_latency(size_t workers, long rounds, double *lat)
{
	pool_t *p;
	int rc;

	if ((rc = pool_create(&p, workers)) != 0)
		die("pool_create", rc);
	for (long i = 0; i < rounds; i++) {
		future_t *f;
		int64_t t0 = now_ns();

		if ((rc = pool_submit(p, empty_task, NULL, &f)) != 0)
			die("pool_submit", rc);
		if ((rc = future_get(f, -1, NULL, NULL)) != 0)
			die("future_get", rc);
		lat[i] = (double)(now_ns() - t0);
		future_release(f);
	}
	pool_destroy(p);
}

/* ---- GLib's GThreadPool ---- */

static void g_empty_fn(gpointer data, gpointer user_data)
{
	(void)data;
	(void)user_data;
}

struct completion {
	GMutex mu;
	GCond cv;
	bool done; /* guarded by mu */
};

static void g_complete_fn(gpointer data, gpointer user_data)
{
	struct completion *c = data;

	(void)user_data;
	g_mutex_lock(&c->mu);
	c->done = true;
	g_cond_signal(&c->cv);
	g_mutex_unlock(&c->mu);
}

static struct completion *completion_new(void)
{
	struct completion *c = g_new(struct completion, 1);

	g_mutex_init(&c->mu);
	g_cond_init(&c->cv);
	c->done = false;
	return c;
}

static void completion_wait_free(struct completion *c)
{
	g_mutex_lock(&c->mu);
	while (!c->done)
		g_cond_wait(&c->cv, &c->mu);
	g_mutex_unlock(&c->mu);
	g_cond_clear(&c->cv);
	g_mutex_clear(&c->mu);
	g_free(c);
}

static GThreadPool *g_pool(GFunc fn, size_t workers)
{
	GError *err = NULL;
	GThreadPool *gp = g_thread_pool_new(fn, NULL, (gint)workers, TRUE, &err);

	if (!gp)
		die("g_thread_pool_new", err ? err->code : -1);
	return gp;
}

static double glib_empty(size_t workers, long n)
{
	static int token; /* GThreadPool refuses NULL data */
	GThreadPool *gp = g_pool(g_empty_fn, workers);
	int64_t t0 = now_ns();

	for (long i = 0; i < n; i++)
		g_thread_pool_push(gp, &token, NULL);
	g_thread_pool_free(gp, FALSE, TRUE);
	return (double)(now_ns() - t0) / 1e9;
}

static double glib_futures(size_t workers, long n)
{
	struct completion **c = malloc((size_t)n * sizeof *c);
	GThreadPool *gp = g_pool(g_complete_fn, workers);
	int64_t t0 = now_ns();

	for (long i = 0; i < n; i++) {
		c[i] = completion_new();
		g_thread_pool_push(gp, c[i], NULL);
	}
	for (long i = 0; i < n; i++)
		completion_wait_free(c[i]);
	double s = (double)(now_ns() - t0) / 1e9;

	g_thread_pool_free(gp, FALSE, TRUE);
	free(c);
	return s;
}

static void glib_latency(size_t workers, long rounds, double *lat)
{
	GThreadPool *gp = g_pool(g_complete_fn, workers);

	for (long i = 0; i < rounds; i++) {
		int64_t t0 = now_ns();
		struct completion *c = completion_new();

		g_thread_pool_push(gp, c, NULL);
		completion_wait_free(c);
		lat[i] = (double)(now_ns() - t0);
	}
	g_thread_pool_free(gp, FALSE, TRUE);
}

/* ---- reporting ---- */

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median and p99 of lat (sorted in place), in microseconds. */
static void percentiles(double *lat, long n, double *median, double *p99)
{
	qsort(lat, (size_t)n, sizeof *lat, by_value);
	*median = lat[n / 2] / 1e3;
	*p99 = lat[(n * 99) / 100] / 1e3;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 2, 4 };
	long n_empty, n_fut, n_lat;
	double *lat;

	if (argc > 1)
		scale = strtol(argv[1], NULL, 10) > 0 ? strtol(argv[1], NULL, 10) : 1;
	n_empty = EMPTY_TASKS * scale;
	n_fut = FUTURE_TASKS * scale;
	n_lat = LATENCY_ROUNDS * scale;
	lat = malloc((size_t)n_lat * sizeof *lat);

	printf("pool_bench: reference pool vs GLib %u.%u.%u GThreadPool (best of %d runs)\n",
	       glib_major_version, glib_minor_version, glib_micro_version, REPS);
	printf("%-8s %-26s %14s %14s %8s\n", "workers", "measure", "reference", "GThreadPool",
	       "ratio");
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		size_t w = sizes[k];
		double re = 1e30, ge = 1e30, rf = 1e30, gf = 1e30;
		double rmed = 1e30, rp99 = 1e30, gmed = 1e30, gp99 = 1e30;

		for (int r = 0; r < REPS; r++) {
			double m, p, t;

			/* Alternate the two pools so that both see the same machine. */
			if ((t = ref_empty(w, n_empty)) < re)
				re = t;
			if ((t = glib_empty(w, n_empty)) < ge)
				ge = t;
			if ((t = ref_futures(w, n_fut)) < rf)
				rf = t;
			if ((t = glib_futures(w, n_fut)) < gf)
				gf = t;
			ref_latency(w, n_lat, lat);
			percentiles(lat, n_lat, &m, &p);
			if (m < rmed) {
				rmed = m;
				rp99 = p;
			}
			glib_latency(w, n_lat, lat);
			percentiles(lat, n_lat, &m, &p);
			if (m < gmed) {
				gmed = m;
				gp99 = p;
			}
		}
		printf("%-8zu %-26s %10.0f k/s %10.0f k/s %7.2fx\n", w, "empty tasks",
		       n_empty / re / 1e3, n_empty / ge / 1e3, ge / re);
		printf("%-8zu %-26s %10.0f k/s %10.0f k/s %7.2fx\n", w, "tasks with futures",
		       n_fut / rf / 1e3, n_fut / gf / 1e3, gf / rf);
		printf("%-8zu %-26s %11.1f us %11.1f us %7.2fx\n", w, "latency, median", rmed, gmed,
		       rmed / gmed);
		printf("%-8zu %-26s %11.1f us %11.1f us %7.2fx\n", w, "latency, p99 (same run)", rp99,
		       gp99, rp99 / gp99);
	}
	printf("ratios: throughput = reference / GLib (goal >= 1.0, with futures >= 0.8); "
	       "latency = reference / GLib (goal median <= 1.2)\n");
	free(lat);
	return 0;
}
