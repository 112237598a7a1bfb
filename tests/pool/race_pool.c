/* race_pool.c - the race driver of the worker pool (run under helgrind by the grader).
 *
 * DESIGN: four phases, each started by a barrier so that the threads really overlap.
 * 0. Two threads each submit a task that waits on a gate and poll future_state (and nothing
 *    else) until it says RUNNING, then open the gate: the worker's write of RUNNING and the
 *    poller's reads are ordered only by the future's own lock, so a future_state that reads
 *    without it is reported whatever the timing. (The phases below sync through the driver's
 *    mutex and the pool's queue often enough that such a race could hide there.)
 * 1. Three submitters each queue ITEMS tasks on a pool of 3 workers and, right after each
 *    submit, race the workers with future_state, future_on_done, and (by item number)
 *    future_cancel or future_get(f, 0); a watcher thread meanwhile polls future_state and
 *    future_get(f, 0) on the futures the submitters publish. Then every submitter waits for its
 *    futures with future_get(f, -1).
 * 2. One thread shuts the pool down (cancelling what is queued, then waiting) while another
 *    keeps submitting (each submit is accepted or refused with ESHUTDOWN).
 * 3. pool_destroy, then every future is read once more and released.
 * Invariants checked: a future ends DONE (its task ran once, with the right result) or
 * CANCELLED (its task never ran, and future_cancel said true if it was the one that cancelled);
 * every done callback ran exactly once; future_get agrees with future_state; a submit after the
 * shutdown began is either refused or its task ends. What broke goes to stderr and the exit
 * status is 1. Every future is released only after pool_destroy: freeing a future whose own
 * mutex a worker has just unlocked is legal, but helgrind 3.19's pthread_mutex_destroy wrapper
 * reads the mutex and reports glibc's unlock writes as a race, which would blame a correct
 * design with a mutex inside each future. Shared driver state is guarded by one mutex (no atomics: helgrind must see
 * everything). Native run: a few tens of milliseconds. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>

#include "pool.h"
#include "tl_test.h"

enum { WORKERS = 3, SUBMITTERS = 3, ITEMS = 16, LATE = 8, WATCH_PASSES = 8 };

struct item {
	long in;
	long out;          /* written by the task */
	future_t *f;       /* guarded by mu once published (the watcher reads it) */
	int ran;           /* guarded by mu */
	int cb_calls;      /* guarded by mu */
	bool cancel_said;  /* owner thread only: future_cancel returned true */
	int submit_rc;     /* owner thread only */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int published;   /* guarded by mu: submitters still publishing */
static int failures;    /* guarded by mu */
static struct item items[SUBMITTERS][ITEMS];
static struct item late[LATE];
static pool_t *pool;
static pthread_barrier_t start, stop_watching, shut_start, gate_start;

__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pthread_mutex_lock(&mu);
	failures++;
	fprintf(stderr, "race_pool: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	pthread_mutex_unlock(&mu);
	va_end(ap);
}

static int task(void *arg, void **result)
{
	struct item *it = arg;
	long x = 0;

	for (long i = 0; i < 2000; i++) { /* a little work, so that queues form */
		x += i;
		__asm__ volatile("" : "+r"(x)); /* not folded away */
	}
	it->out = it->in * 2 + (x == -1); /* x is never -1 */
	pthread_mutex_lock(&mu);
	it->ran++;
	pthread_mutex_unlock(&mu);
	*result = it;
	return (int)(it->in % 3); /* 0, 1 or 2: the pool passes it on */
}

static void on_done(future_t *f, void *ud)
{
	struct item *it = ud;
	enum future_state s = future_state(f);

	if (s != FUTURE_DONE && s != FUTURE_CANCELLED)
		fail("a done callback saw state %d, expected DONE or CANCELLED", (int)s);
	pthread_mutex_lock(&mu);
	it->cb_calls++;
	pthread_mutex_unlock(&mu);
}

static void *submitter_main(void *arg)
{
	struct item *mine = arg;

	pthread_barrier_wait(&start);
	for (int j = 0; j < ITEMS; j++) {
		struct item *it = &mine[j];
		future_t *f = NULL;
		int rc = pool_submit(pool, task, it, &f);

		if (rc != 0 || f == NULL) {
			fail("pool_submit returned %d (%s) on a running pool", rc, tl_errname(rc));
			continue;
		}
		(void)future_state(f); /* races the worker that takes it */
		pthread_mutex_lock(&mu);
		it->f = f;
		pthread_mutex_unlock(&mu);
		if (future_on_done(f, on_done, it) != 0)
			fail("future_on_done failed on a fresh future");
		if (j % 4 == 1)
			it->cancel_said = future_cancel(f);
		else if (j % 4 == 2)
			(void)future_get(f, 0, NULL, NULL);
	}
	for (int j = 0; j < ITEMS; j++) {
		struct item *it = &mine[j];
		void *res = NULL;
		int err = -1, rc;

		if (it->f == NULL)
			continue;
		rc = future_get(it->f, -1, &res, &err);
		if (rc == 0 && (res != it || err != it->in % 3))
			fail("future_get gave a wrong result or task_err (item %ld, task_err %d)",
			     it->in, err);
		else if (rc != 0 && rc != ECANCELED)
			fail("future_get(f, -1) returned %d (%s) (item %ld)", rc, tl_errname(rc), it->in);
		else if (rc == 0 && it->cancel_said)
			fail("future_cancel returned true but the task ran (item %ld)", it->in);
	}
	pthread_mutex_lock(&mu);
	published--;
	pthread_mutex_unlock(&mu);
	pthread_barrier_wait(&stop_watching);
	return NULL;
}

static void *watcher_main(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&start);
	for (int pass = 0; pass < WATCH_PASSES; pass++) { /* bounded: helgrind is slow */
		bool more;

		for (int s = 0; s < SUBMITTERS; s++)
			for (int j = 0; j < ITEMS; j += 3) {
				future_t *f;

				pthread_mutex_lock(&mu);
				f = items[s][j].f;
				pthread_mutex_unlock(&mu);
				if (f != NULL) {
					(void)future_state(f);
					(void)future_get(f, 0, NULL, NULL);
				}
			}
		pthread_mutex_lock(&mu);
		more = published > 0;
		pthread_mutex_unlock(&mu);
		if (!more)
			break;
		sched_yield();
	}
	pthread_barrier_wait(&stop_watching);
	return NULL;
}

static void *shutter_main(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&shut_start);
	pool_shutdown(pool, false, true);
	pool_shutdown(pool, true, false);
	return NULL;
}

static void *late_submitter_main(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&shut_start);
	for (int j = 0; j < LATE; j++) {
		struct item *it = &late[j];

		it->submit_rc = pool_submit(pool, task, it, &it->f);
		if (it->submit_rc == 0)
			future_on_done(it->f, on_done, it);
		else if (it->submit_rc != ESHUTDOWN)
			fail("pool_submit during shutdown returned %d (%s), expected 0 or ESHUTDOWN",
			     it->submit_rc, tl_errname(it->submit_rc));
	}
	return NULL;
}

/* Phase 0: a task that stays RUNNING until its gate opens (or 10 s pass). */
static int gate_task(void *arg, void **result)
{
	tl_latch_wait_ms(arg, (long)(10000 * tl_slowdown()));
	*result = arg;
	return 0;
}

static void *poller_main(void *arg)
{
	future_t **out = arg; /* released by main after pool_destroy */
	tl_latch_t gate;
	future_t *f = NULL;
	int64_t t0;
	int rc;

	tl_latch_init(&gate, 1);
	pthread_barrier_wait(&gate_start);
	if ((rc = pool_submit(pool, gate_task, &gate, &f)) != 0) {
		fail("pool_submit returned %d (%s) on a running pool", rc, tl_errname(rc));
		return NULL;
	}
	t0 = tl_now_ns();
	while (future_state(f) != FUTURE_RUNNING && tl_elapsed_ms(t0) < 5000 * tl_slowdown())
		sched_yield(); /* no lock of ours here: only the future's lock orders the accesses */
	if (future_state(f) != FUTURE_RUNNING)
		fail("a task submitted to a pool with idle workers was not RUNNING after 5 s");
	tl_latch_count_down(&gate);
	if ((rc = future_get(f, -1, NULL, NULL)) != 0)
		fail("future_get on a finished gate task returned %d (%s)", rc, tl_errname(rc));
	*out = f;
	tl_latch_destroy(&gate); /* the task has returned: nobody uses the gate any more */
	return NULL;
}

/* After pool_destroy: every future is over, and everything agrees. */
static void check_item(struct item *it)
{
	enum future_state s;
	void *res = NULL;
	int rc;

	if (it->f == NULL)
		return;
	s = future_state(it->f);
	rc = future_get(it->f, 0, &res, NULL);
	pthread_mutex_lock(&mu);
	if (s == FUTURE_DONE) {
		if (rc != 0 || res != it || it->ran != 1 || it->out != it->in * 2) {
			fprintf(stderr, "race_pool: item %ld is DONE but get = %d, ran %d times, "
				"out %ld\n", it->in, rc, it->ran, it->out);
			failures++;
		}
	} else if (s == FUTURE_CANCELLED) {
		if (rc != ECANCELED || it->ran != 0) {
			fprintf(stderr, "race_pool: item %ld is CANCELLED but get = %d and it ran %d "
				"times\n", it->in, rc, it->ran);
			failures++;
		}
	} else {
		fprintf(stderr, "race_pool: item %ld is still %s after pool_destroy\n", it->in,
			s == FUTURE_PENDING ? "PENDING" : "RUNNING");
		failures++;
	}
	if (it->cancel_said && s != FUTURE_CANCELLED) {
		fprintf(stderr, "race_pool: future_cancel said true for item %ld, which is not "
			"CANCELLED\n", it->in);
		failures++;
	}
	if (it->cb_calls != 1) {
		fprintf(stderr, "race_pool: the done callback of item %ld ran %d times, expected "
			"once\n", it->in, it->cb_calls);
		failures++;
	}
	pthread_mutex_unlock(&mu);
	future_release(it->f);
}

int main(void)
{
	pthread_t subs[SUBMITTERS], watcher, shutter, latecomer;
	future_t *gated[2] = { NULL, NULL };
	int rc;

	for (int s = 0; s < SUBMITTERS; s++)
		for (int j = 0; j < ITEMS; j++)
			items[s][j].in = s * 1000 + j;
	for (int j = 0; j < LATE; j++)
		late[j].in = 9000 + j;
	published = SUBMITTERS;
	if ((rc = pool_create(&pool, WORKERS)) != 0) {
		fprintf(stderr, "race_pool: pool_create returned %d (%s)\n", rc, tl_errname(rc));
		return 1;
	}
	pthread_barrier_init(&start, NULL, SUBMITTERS + 1);
	pthread_barrier_init(&stop_watching, NULL, SUBMITTERS + 1);
	pthread_barrier_init(&shut_start, NULL, 2);
	pthread_barrier_init(&gate_start, NULL, 2);

	/* Phase 0. */
	pthread_create(&subs[0], NULL, poller_main, &gated[0]);
	pthread_create(&subs[1], NULL, poller_main, &gated[1]);
	pthread_join(subs[0], NULL);
	pthread_join(subs[1], NULL);

	/* Phase 1. */
	for (int s = 0; s < SUBMITTERS; s++)
		pthread_create(&subs[s], NULL, submitter_main, items[s]);
	pthread_create(&watcher, NULL, watcher_main, NULL);
	for (int s = 0; s < SUBMITTERS; s++)
		pthread_join(subs[s], NULL);
	pthread_join(watcher, NULL);

	/* Phase 2. */
	pthread_create(&shutter, NULL, shutter_main, NULL);
	pthread_create(&latecomer, NULL, late_submitter_main, NULL);
	pthread_join(shutter, NULL);
	pthread_join(latecomer, NULL);
	rc = pool_submit(pool, task, &late[0], NULL);
	if (rc != ESHUTDOWN) {
		fprintf(stderr, "race_pool: pool_submit after pool_shutdown returned %d (%s), "
			"expected ESHUTDOWN\n", rc, tl_errname(rc));
		failures++;
	}

	/* Phase 3. */
	pool_destroy(pool);
	for (int s = 0; s < SUBMITTERS; s++)
		for (int j = 0; j < ITEMS; j++)
			check_item(&items[s][j]);
	for (int j = 0; j < LATE; j++)
		check_item(&late[j]);
	future_release(gated[0]);
	future_release(gated[1]);
	pthread_barrier_destroy(&start);
	pthread_barrier_destroy(&stop_watching);
	pthread_barrier_destroy(&shut_start);
	pthread_barrier_destroy(&gate_start);
	if (failures) {
		fprintf(stderr, "race_pool: %d invariant(s) broken\n", failures);
		return 1;
	}
	return 0;
}
