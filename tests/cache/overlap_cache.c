/* overlap_cache.c - the "compute_overlap" driver: do computations of different keys overlap?
 *
 * DESIGN: THREADS threads meet at a barrier, then each calls cache_get_or_compute for its own,
 * distinct, missing key. The computation is grader-owned code: it records a witness
 * (tl_witness_begin/end) around a 20 ms sleep. A cache that computes without its lock held lets
 * the THREADS computations run together (at most THREADS at once, about THREADS on average); one
 * that computes under its global lock runs them one at a time (a maximum of exactly 1, whatever the
 * machine's load). Sleeping computations do not compete for the CPU, so the verdict does not
 * depend on how many cores are free. ROUNDS rounds with fresh keys make it robust to one slow
 * thread start: the main thread meets the workers at a barrier before and after each round and
 * analyzes each round's witnesses on its own, so the time threads spend between rounds (waking up
 * at the barrier on a loaded machine) does not dilute the average. The verdict comes from the
 * witnesses only (the highest number of computations running at once over all rounds, and the
 * median over rounds of the average number running), never from wall-clock speedup. */
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
	pthread_barrier_t *start, *end; /* shared with the main thread */
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
		} else {
			if (*(int *)v != want)
				w->errors++;
			free(v);
		}
		pthread_barrier_wait(w->end);
	}
	return NULL;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(void)
{
	struct worker w[THREADS];
	pthread_t t[THREADS];
	pthread_barrier_t start, end;
	double avg[ROUNDS], median;
	unsigned max_running = 0;
	size_t tasks = 0;
	cache_t *c = NULL;
	int rc, errors = 0, last_rc = 0;

	if ((rc = cache_create(&c, THREADS * ROUNDS, &ops)) != 0 || c == NULL) {
		tl_result_write("fail", 0, "cache_create returned %d (%s): no computation could "
				"run", rc, tl_errname(rc));
		return 0;
	}
	if (tl_witness_create(&witness, THREADS * 2) != 0) {
		tl_result_write("inconclusive", 0, "the driver ran out of memory");
		return 0;
	}
	pthread_barrier_init(&start, NULL, THREADS + 1);
	pthread_barrier_init(&end, NULL, THREADS + 1);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .c = c, .start = &start, .end = &end, .id = i };
		if (pthread_create(&t[i], NULL, worker_main, &w[i]) != 0) {
			tl_result_write("inconclusive", 0, "the driver could not start its "
					"threads");
			return 0;
		}
	}
	for (int round = 0; round < ROUNDS; round++) {
		struct tl_overlap ov;

		pthread_barrier_wait(&start);
		pthread_barrier_wait(&end); /* every computation of this round has ended */
		tl_witness_analyze(witness, &ov);
		tl_witness_reset(witness);
		tasks += ov.tasks;
		avg[round] = ov.avg_running;
		if (ov.max_running > max_running)
			max_running = ov.max_running;
	}
	tl_join_all(t, THREADS);
	pthread_barrier_destroy(&start);
	pthread_barrier_destroy(&end);
	cache_destroy(c);
	tl_witness_destroy(witness);

	for (int i = 0; i < THREADS; i++) {
		errors += w[i].errors;
		if (w[i].last_rc)
			last_rc = w[i].last_rc;
	}
	qsort(avg, ROUNDS, sizeof avg[0], by_value);
	median = (avg[(ROUNDS - 1) / 2] + avg[ROUNDS / 2]) / 2;
	tl_result_metric("tasks", (double)tasks);
	tl_result_metric("max_running", max_running);
	tl_result_metric("avg_running", median);
	tl_result_metric("errors", errors);

	if (errors > 0 || tasks != THREADS * ROUNDS) {
		tl_result_write("fail", 0, "%d threads each asked for a different missing key: %d "
				"of %d calls failed or returned a wrong value (last error %d, %s) "
				"and %zu computations ran instead of %d, so the overlap of "
				"computations could not be measured", THREADS, errors,
				THREADS * ROUNDS, last_rc, tl_errname(last_rc), tasks,
				THREADS * ROUNDS);
		return 0;
	}
	if (max_running <= 1) {
		tl_result_write("fail", 0, "computations of different keys ran one at a time: your "
				"cache computes while holding its lock (%d threads, each computing "
				"its own key for %d ms, %d rounds: never two computations running "
				"at once)", THREADS, TASK_MS, ROUNDS);
		return 0;
	}
	if (max_running < THREADS - 1 || median < 2.0) {
		tl_result_write("fail", 0.5, "computations of different keys only partly "
				"overlapped: at most %u of %d ran at once, %.2f on average (a "
				"correct cache runs about %d at once): something serializes "
				"computations of different keys", max_running, THREADS, median,
				THREADS);
		return 0;
	}
	tl_result_write("pass", 1, "computations of different keys overlapped: up to %u at once, "
			"%.2f on average (%d threads)", max_running, median, THREADS);
	return 0;
}
