/* overlap_bqueue.c - the "io_overlap" speedup driver of the bounded blocking queue.
 *
 * DESIGN: a producer (the main thread) puts ITEMS items into the student's queue; CONSUMERS
 * consumer threads each loop get -> "I/O" -> task_done, where the I/O is a 20 ms sleep in grader
 * code wrapped in tl_witness_begin/end. The producer starts once the consumers are asleep in
 * their first get (a latch, then a settle time), so every consumer must be woken by a put. Sleeping tasks overlap whatever the machine's load (FACTS:
 * 4 of 4 run at once even on one loaded core), so the witness's maximum and average number of
 * tasks running at once say whether the queue lets consumers work in parallel. A correct queue
 * hands an item out and returns at once, so 4 consumers show max 4 and an average near 4. A queue
 * that makes a consumer wait for another consumer to finish its item (a token held from get to
 * task_done, one wakeup per burst of puts, a lock held across calls) shows max 1, average 1.0.
 * Verdict: pass when max_running >= 3 and avg_running >= 2.0; fail with no points when
 * max_running <= 1; half the points in between. The wall-clock speedup against one consumer is
 * measured too and reported as information only (never a verdict: FACTS). Every queue call has a
 * deadline, so a broken queue ends the driver with a message instead of a hang; the consumers are
 * stopped with stop items, so that the check does not depend on shutdown (it has tests of its
 * own). The witness and the bookkeeping use mutexes, no C11 atomics.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bqueue.h"
#include "tl_result.h"
#include "tl_test.h"
#include "tl_witness.h"

enum { CONSUMERS = 4, ITEMS = 32, IO_MS = 20, CAPACITY = 8, SETTLE_MS = 50 };
#define STOP_ITEM ((void *)(uintptr_t)(ITEMS + 1)) /* one per consumer, after the real items */

struct run {
	bqueue_t *q;
	tl_witness_t *w;
	long limit_ms;            /* deadline of every queue call */
	tl_latch_t ready;         /* opens when every consumer is about to make its first get */
	pthread_mutex_t mu;
	char error[512];          /* guarded by mu: the first thing that went wrong, "" if none */
	long done;                /* guarded by mu: items processed */
	unsigned char seen[ITEMS + 1]; /* guarded by mu */
};

static void run_error(struct run *r, const char *fmt, const char *call, int rc)
{
	pthread_mutex_lock(&r->mu);
	if (r->error[0] == '\0')
		snprintf(r->error, sizeof r->error, fmt, call, tl_errname(rc));
	pthread_mutex_unlock(&r->mu);
}

static void *consumer(void *arg)
{
	struct run *r = arg;

	tl_latch_count_down(&r->ready);
	for (;;) {
		void *item = NULL;
		int rc = bqueue_get(r->q, &item, r->limit_ms);
		long v = (long)(uintptr_t)item;
		size_t slot;

		if (rc != 0) {
			run_error(r, "a consumer's %s returned %s, expected 0", "bqueue_get", rc);
			break;
		}
		if (item == STOP_ITEM) {
			bqueue_task_done(r->q);
			break;
		}
		/* The "I/O": grader code, outside every queue call. */
		slot = tl_witness_begin(r->w);
		tl_sleep_ms(IO_MS);
		tl_witness_end(r->w, slot);
		pthread_mutex_lock(&r->mu);
		if (v < 1 || v > ITEMS || r->seen[v]++ > 0) {
			if (r->error[0] == '\0')
				snprintf(r->error, sizeof r->error, "a consumer got item %ld, which was "
					 "not in the queue (never put, or got twice)", v);
		} else {
			r->done++;
		}
		pthread_mutex_unlock(&r->mu);
		rc = bqueue_task_done(r->q);
		if (rc != 0) {
			run_error(r, "a consumer's %s returned %s after a successful get, expected 0",
				  "bqueue_task_done", rc);
			break;
		}
	}
	return NULL;
}

/* Moves ITEMS items through a fresh queue with n consumers. 0, or 1 with *msg set. */
static int run_once(int n, tl_witness_t *w, double *wall_ms, char *msg, size_t msgsize)
{
	struct run r;
	pthread_t tids[CONSUMERS];
	int started = 0, rc;
	int64_t t0;

	memset(&r, 0, sizeof r);
	pthread_mutex_init(&r.mu, NULL);
	r.w = w;
	r.limit_ms = (long)(5000 * tl_slowdown());
	tl_latch_init(&r.ready, (unsigned)n);
	rc = bqueue_create(&r.q, CAPACITY, NULL);
	if (rc != 0) {
		snprintf(msg, msgsize, "bqueue_create(&q, %d, NULL) returned %s, expected 0",
			 CAPACITY, tl_errname(rc));
		return 1;
	}
	t0 = tl_now_ns();
	for (; started < n; started++)
		if (pthread_create(&tids[started], NULL, consumer, &r) != 0) {
			snprintf(msg, msgsize, "the driver could not start its threads");
			break;
		}
	/* Let the consumers fall asleep in their first get: then every item put must wake one. */
	if (started == n) {
		tl_latch_wait(&r.ready);
		tl_sleep_ms(SETTLE_MS);
	}
	for (long i = 1; i <= ITEMS && started == n; i++) {
		rc = bqueue_put(r.q, (void *)(uintptr_t)i, r.limit_ms);
		if (rc != 0) {
			run_error(&r, "the producer's %s returned %s, expected 0", "bqueue_put", rc);
			break;
		}
	}
	if (started == n && r.error[0] == '\0') {
		rc = bqueue_join(r.q, r.limit_ms);
		if (rc != 0)
			run_error(&r, "the producer's %s returned %s once every item was put, "
				  "expected 0 after the consumers marked every item done",
				  "bqueue_join", rc);
	}
	*wall_ms = tl_elapsed_ms(t0);
	/* Stop items, not shutdown: this check is about overlap only. A consumer that failed has
	 * already stopped; the others stop at their stop item or at their get's deadline. */
	for (int i = 0; i < started; i++)
		if (bqueue_put(r.q, STOP_ITEM, r.limit_ms) != 0)
			break;
	tl_join_all(tids, (size_t)started);
	if (started == n) {
		pthread_mutex_lock(&r.mu);
		if (r.error[0] != '\0')
			snprintf(msg, msgsize, "%s", r.error);
		else if (r.done != ITEMS)
			snprintf(msg, msgsize, "only %ld of %d items put were processed", r.done,
				 ITEMS);
		pthread_mutex_unlock(&r.mu);
	}
	bqueue_destroy(r.q);
	tl_latch_destroy(&r.ready);
	pthread_mutex_destroy(&r.mu);
	return msg[0] != '\0';
}

int main(void)
{
	struct tl_overlap par, one;
	tl_witness_t *w;
	double wall_par, wall_one, speedup;
	char msg[640] = "";

	if (tl_witness_create(&w, ITEMS) != 0) {
		fprintf(stderr, "overlap_bqueue: out of memory\n");
		return 2;
	}
	if (run_once(CONSUMERS, w, &wall_par, msg, sizeof msg) != 0) {
		tl_result_write("fail", 0, "the overlap check could not run: %s", msg);
		return 0;
	}
	tl_witness_analyze(w, &par);
	tl_witness_reset(w);
	if (run_once(1, w, &wall_one, msg, sizeof msg) != 0) {
		tl_result_write("fail", 0, "the overlap check could not run (one consumer): %s", msg);
		return 0;
	}
	tl_witness_analyze(w, &one);
	tl_witness_destroy(w);
	speedup = wall_par > 0 ? wall_one / wall_par : 0;

	tl_result_metric("consumers", CONSUMERS);
	tl_result_metric("items", ITEMS);
	tl_result_metric("io_ms", IO_MS);
	tl_result_metric("max_running", par.max_running);
	tl_result_metric("avg_running", par.avg_running);
	tl_result_metric("makespan_ms", par.makespan_ms);
	tl_result_metric("threads", par.threads);
	tl_result_metric("wall_ms", wall_par);
	tl_result_metric("wall_ms_one_consumer", wall_one);
	tl_result_metric("speedup_vs_one_consumer", speedup);

	if (par.max_running >= 3 && par.avg_running >= 2.0)
		tl_result_write("pass", 1, "%d consumers each spent %d ms per item on %d items; up to "
				"%u ran at a time (average %.2f): the queue lets consumers work in "
				"parallel (wall-clock speedup %.2fx against one consumer, for "
				"information)", CONSUMERS, IO_MS, ITEMS, par.max_running,
				par.avg_running, speedup);
	else if (par.max_running <= 1)
		tl_result_write("fail", 0, "%d consumers each spent %d ms per item (outside the queue "
				"calls); at most %u ran at a time (average %.2f): your queue lets only "
				"one consumer work at a time. A get must hand out an item and return "
				"at once: nothing in the queue may make a consumer wait until another "
				"consumer has finished its item (task_done), and every waiting consumer "
				"must be woken when an item is there for it (wall-clock speedup %.2fx "
				"against one consumer)", CONSUMERS, IO_MS, par.max_running,
				par.avg_running, speedup);
	else
		tl_result_write("fail", 0.5, "%d consumers each spent %d ms per item (outside the "
				"queue calls); at most %u ran at a time (average %.2f, expected at least "
				"3 at a time and 2.0 on average): the consumers overlap only partly. "
				"Does every put wake a waiting consumer, or does a consumer wait for "
				"another one somewhere in your queue? (wall-clock speedup %.2fx against "
				"one consumer)", CONSUMERS, IO_MS, par.max_running, par.avg_running,
				speedup);
	return 0;
}
