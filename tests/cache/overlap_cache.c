/* overlap_cache.c - the "compute_overlap" driver: do computations of different keys overlap?
 *
 * DESIGN: THREADS threads meet at a barrier, then each calls cache_get_or_compute for its own,
 * distinct, missing key. The computation is grader-owned code: it records a witness
 * (tl_witness_begin/end) around a 20 ms sleep. A cache that computes without its lock held lets
 * the THREADS computations run together (at most THREADS at once, about THREADS on average); one
 * that computes under its global lock runs them one at a time (a maximum of exactly 1, whatever the
 * machine's load). Sleeping computations do not compete for the CPU, so the verdict does not
 * depend on how many cores are free. ROUNDS rounds with fresh keys make it robust to one slow
 * thread start. The verdict comes from the witnesses only, never from wall-clock speedup. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "cache.h"
#include "tl_result.h"
#include "tl_test.h"
#include "tl_witness.h"

#define THREADS 4
#define ROUNDS 6
#define TASK_MS 20

static tl_witness_t *witness;

struct worker {
	cache_t *c;
	pthread_barrier_t *start;
	int id;
	int errors;  /* calls that failed or returned a wrong value */
	int last_rc; /* the last failing return code */
};

static void *val_copy(const void *v)
{
	int *c = malloc(sizeof *c);

	if (c)
		*c = *(const int *)v;
	return c;
}

static const struct cache_value_ops ops = { val_copy, free };

/* Grader-owned: the witness says how many computations run at the same moment. */
static int compute(const char *key, void *ud, void **value)
{
	size_t slot = tl_witness_begin(witness);
	int *v;

	(void)key;
	tl_sleep_ms(TASK_MS);
	tl_witness_end(witness, slot);
	if ((v = malloc(sizeof *v)) == NULL)
		return ENOMEM;
	*v = *(int *)ud;
	*value = v;
	return 0;
}

static void *worker_main(void *p)
{
	struct worker *w = p;
	char key[32];

	for (int round = 0; round < ROUNDS; round++) {
		int want = round * THREADS + w->id, rc;
		void *v = NULL;

		snprintf(key, sizeof key, "r%d-t%d", round, w->id);
		pthread_barrier_wait(w->start);
		rc = cache_get_or_compute(w->c, key, compute, &want, &v);
		if (rc != 0) {
			w->errors++;
			w->last_rc = rc;
			continue;
		}
		if (*(int *)v != want)
			w->errors++;
		free(v);
	}
	return NULL;
}

int main(void)
{
	struct worker w[THREADS];
	pthread_t t[THREADS];
	pthread_barrier_t start;
	struct tl_overlap ov;
	cache_t *c = NULL;
	int rc, errors = 0, last_rc = 0;

	if ((rc = cache_create(&c, THREADS * ROUNDS, &ops)) != 0 || c == NULL) {
		tl_result_write("fail", 0, "cache_create returned %d (%s): no computation could "
				"run", rc, tl_errname(rc));
		return 0;
	}
	if (tl_witness_create(&witness, THREADS * ROUNDS * 2) != 0) {
		tl_result_write("inconclusive", 0, "the driver ran out of memory");
		return 0;
	}
	pthread_barrier_init(&start, NULL, THREADS);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .c = c, .start = &start, .id = i };
		if (pthread_create(&t[i], NULL, worker_main, &w[i]) != 0) {
			tl_result_write("inconclusive", 0, "the driver could not start its "
					"threads");
			return 0;
		}
	}
	tl_join_all(t, THREADS);
	pthread_barrier_destroy(&start);
	cache_destroy(c);

	for (int i = 0; i < THREADS; i++) {
		errors += w[i].errors;
		if (w[i].last_rc)
			last_rc = w[i].last_rc;
	}
	tl_witness_analyze(witness, &ov);
	tl_witness_destroy(witness);
	tl_result_metric("tasks", (double)ov.tasks);
	tl_result_metric("max_running", ov.max_running);
	tl_result_metric("avg_running", ov.avg_running);
	tl_result_metric("makespan_ms", ov.makespan_ms);
	tl_result_metric("errors", errors);

	if (errors > 0 || ov.tasks != THREADS * ROUNDS) {
		tl_result_write("fail", 0, "%d threads each asked for a different missing key: %d "
				"of %d calls failed or returned a wrong value (last error %d, %s) "
				"and %zu computations ran instead of %d, so the overlap of "
				"computations could not be "
				"measured", THREADS, errors, THREADS * ROUNDS, last_rc,
				tl_errname(last_rc), ov.tasks, THREADS * ROUNDS);
		return 0;
	}
	if (ov.max_running <= 1) {
		tl_result_write("fail", 0, "computations of different keys ran one at a time: your "
				"cache computes while holding its lock (%d threads, each computing "
				"its own key for %d ms, never had two computations running at "
				"once; average %.2f)", THREADS, TASK_MS, ov.avg_running);
		return 0;
	}
	if (ov.max_running < THREADS - 1 || ov.avg_running < 2.0) {
		tl_result_write("fail", 0.5, "computations of different keys only partly "
				"overlapped: at most %u of %d ran at once, %.2f on average (a "
				"correct cache runs about %d at once): something serializes "
				"computations of different "
				"keys", ov.max_running, THREADS, ov.avg_running, THREADS);
		return 0;
	}
	tl_result_write("pass", 1, "computations of different keys overlapped: up to %u at once, "
			"%.2f on average (%d threads)", ov.max_running, ov.avg_running, THREADS);
	return 0;
}
