/* race_bqueue.c - the race driver of the bounded blocking queue (run under helgrind).
 *
 * DESIGN: two phases, each started with a barrier so that every thread enters the queue at once.
 * Phase 1 (normal shutdown): PRODUCERS producers put ITEMS_EACH items each, mixing the three kinds
 * of timeout (0 then retry, short timed, untimed); CONSUMERS consumers get with the same mix and
 * mark every item done; a monitor thread calls bqueue_size, bqueue_capacity and bqueue_join(q, 0)
 * all along. The main thread joins the queue (every item done), shuts it down and checks that
 * every item came out exactly once. Phase 2 (immediate shutdown): producers put until the queue
 * is shut down under their feet, consumers get until ESHUTDOWN, a joiner waits in bqueue_join; the
 * main thread shuts down with immediate == true once some items have moved, then checks that every
 * item whose put returned 0 was either got or freed by free_item, exactly once, and that the
 * joiner returned. The driver's own bookkeeping uses one mutex and no C11 atomics (helgrind must
 * see every synchronisation), so a race report that names bqueue.c is the student's. A watchdog
 * ends the driver with a message if the queue stops making progress (a lost wakeup), instead of
 * letting it run into the grader's timeout. Native run: well under 0.3 s.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bqueue.h"
#include "tl_test.h"

enum {
	PRODUCERS = 3,
	CONSUMERS = 3,
	ITEMS_EACH = 150,
	ITEMS = PRODUCERS * ITEMS_EACH,
	CAP1 = 4,
	CAP2 = 8,
	MAX2 = 4000,           /* phase 2: most items the producers may put */
	SHUTDOWN_AFTER = 120,  /* phase 2: shut down once this many items were got */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int errors;                 /* guarded by mu */
static unsigned char seen[MAX2 + 1];  /* guarded by mu: times each item was got */
static unsigned char freed[MAX2 + 1]; /* guarded by mu: times free_item ran on each item */
static unsigned char put_ok[MAX2 + 1]; /* guarded by mu: 1 when a put of the item returned 0 */
static long got;                   /* guarded by mu: items got in this phase */
static long next_item;             /* guarded by mu: phase 2 item numbers */
static bool stop_monitor;          /* guarded by mu */
static const char *phase = "";     /* guarded by mu */
static const char *step = "";      /* guarded by mu: what the main thread is waiting for */
static long progress;              /* guarded by mu: queue calls that returned, for the watchdog */
static long stats[3];              /* guarded by mu: phase 2 items put, got, freed */

static pthread_barrier_t start;

__attribute__((format(printf, 1, 2))) static void report(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&mu);
	if (errors++ < 10) {
		fprintf(stderr, "race_bqueue: %s: ", phase);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	pthread_mutex_unlock(&mu);
}

static void set_step(const char *what)
{
	pthread_mutex_lock(&mu);
	step = what;
	pthread_mutex_unlock(&mu);
}

static void tick(void)
{
	pthread_mutex_lock(&mu);
	progress++;
	pthread_mutex_unlock(&mu);
}

static void record_got(void *item, long max)
{
	long v = (long)(uintptr_t)item;

	pthread_mutex_lock(&mu);
	if (v < 1 || v > max || seen[v]++ > 0) {
		pthread_mutex_unlock(&mu);
		report("a get returned item %ld, which was not in the queue (never put, or got twice)",
		       v);
		return;
	}
	got++;
	progress++;
	pthread_mutex_unlock(&mu);
}

static void count_free(void *item)
{
	long v = (long)(uintptr_t)item;

	pthread_mutex_lock(&mu);
	if (v >= 1 && v <= MAX2)
		freed[v]++;
	pthread_mutex_unlock(&mu);
}

/* put with the timeout kind chosen by k: 0 then retry untimed, short timed then retry, untimed. */
static int put_mixed(bqueue_t *q, void *item, int k)
{
	int rc;

	switch (k % 3) {
	case 0:
		rc = bqueue_put(q, item, 0);
		return rc == EAGAIN ? bqueue_put(q, item, -1) : rc;
	case 1:
		while ((rc = bqueue_put(q, item, 2)) == ETIMEDOUT)
			;
		return rc;
	default:
		return bqueue_put(q, item, -1);
	}
}

static int get_mixed(bqueue_t *q, void **item, int k)
{
	int rc;

	switch (k % 3) {
	case 0:
		rc = bqueue_get(q, item, 0);
		return rc == EAGAIN ? bqueue_get(q, item, -1) : rc;
	case 1:
		while ((rc = bqueue_get(q, item, 2)) == ETIMEDOUT)
			;
		return rc;
	default:
		return bqueue_get(q, item, -1);
	}
}

struct worker {
	bqueue_t *q;
	int index;
};

/* ---- phase 1 ---------------------------------------------------------------------------- */

static void *producer1(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(&start);
	for (int i = 0; i < ITEMS_EACH; i++) {
		long v = 1 + (long)w->index * ITEMS_EACH + i;
		int rc = put_mixed(w->q, (void *)(uintptr_t)v, i + w->index);

		if (rc != 0) {
			report("a producer's bqueue_put returned %s, expected 0", tl_errname(rc));
			break;
		}
		tick();
	}
	return NULL;
}

static void *consumer1(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(&start);
	for (int k = w->index;; k++) {
		void *item = NULL;
		int rc = get_mixed(w->q, &item, k);

		if (rc == ESHUTDOWN)
			break;
		if (rc != 0) {
			report("a consumer's bqueue_get returned %s, expected 0 or ESHUTDOWN",
			       tl_errname(rc));
			break;
		}
		record_got(item, ITEMS);
		rc = bqueue_task_done(w->q);
		if (rc != 0)
			report("bqueue_task_done after a get returned %s, expected 0", tl_errname(rc));
	}
	return NULL;
}

static void *monitor1(void *arg)
{
	struct worker *w = arg;
	bool stop = false;

	pthread_barrier_wait(&start);
	while (!stop) {
		size_t n = bqueue_size(w->q);
		size_t cap = bqueue_capacity(w->q);
		int rc = bqueue_join(w->q, 0);

		if (n > CAP1 || cap != CAP1)
			report("bqueue_size returned %zu and bqueue_capacity %zu on a queue of capacity "
			       "%d", n, cap, CAP1);
		if (rc != 0 && rc != EAGAIN)
			report("bqueue_join(q, 0) returned %s, expected 0 or EAGAIN", tl_errname(rc));
		usleep(100);
		pthread_mutex_lock(&mu);
		stop = stop_monitor;
		pthread_mutex_unlock(&mu);
	}
	return NULL;
}

static void phase1(void)
{
	pthread_t tids[PRODUCERS + CONSUMERS + 1];
	struct worker ws[PRODUCERS + CONSUMERS + 1];
	bqueue_t *q;
	int n = 0, rc;

	pthread_mutex_lock(&mu);
	phase = "phase 1 (normal shutdown)";
	pthread_mutex_unlock(&mu);
	if ((rc = bqueue_create(&q, CAP1, NULL)) != 0) {
		report("bqueue_create returned %s, expected 0", tl_errname(rc));
		return;
	}
	pthread_barrier_init(&start, NULL, PRODUCERS + CONSUMERS + 1);
	for (int i = 0; i < PRODUCERS; i++, n++) {
		ws[n] = (struct worker){ q, i };
		pthread_create(&tids[n], NULL, producer1, &ws[n]);
	}
	for (int i = 0; i < CONSUMERS; i++, n++) {
		ws[n] = (struct worker){ q, i };
		pthread_create(&tids[n], NULL, consumer1, &ws[n]);
	}
	ws[n] = (struct worker){ q, 0 };
	pthread_create(&tids[n], NULL, monitor1, &ws[n]);
	n++;
	set_step("waiting for the producers to put every item");
	tl_join_all(tids, PRODUCERS);
	set_step("in bqueue_join(q, -1), waiting for every item to be got and marked done");
	rc = bqueue_join(q, -1);
	if (rc != 0)
		report("bqueue_join(q, -1) returned %s after the producers finished, expected 0",
		       tl_errname(rc));
	bqueue_shutdown(q, false);
	set_step("waiting for the consumers blocked in bqueue_get to return ESHUTDOWN after "
		 "bqueue_shutdown(q, false)");
	tl_join_all(tids + PRODUCERS, CONSUMERS);
	pthread_mutex_lock(&mu);
	stop_monitor = true;
	pthread_mutex_unlock(&mu);
	pthread_join(tids[n - 1], NULL);

	pthread_mutex_lock(&mu);
	for (long v = 1; v <= ITEMS; v++)
		if (seen[v] != 1 && errors < 10) {
			fprintf(stderr, "race_bqueue: phase 1: item %ld came out %d times, expected "
				"once\n", v, seen[v]);
			errors++;
		}
	pthread_mutex_unlock(&mu);
	rc = bqueue_task_done(q);
	if (rc != EINVAL)
		report("an extra bqueue_task_done returned %s, expected EINVAL", tl_errname(rc));
	pthread_barrier_destroy(&start);
	bqueue_destroy(q);
}

/* ---- phase 2 ---------------------------------------------------------------------------- */

static void *producer2(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(&start);
	for (int k = w->index;; k++) {
		long v;
		int rc;

		pthread_mutex_lock(&mu);
		v = next_item < MAX2 ? ++next_item : 0;
		if (v)
			put_ok[v] = 1; /* undone below if the put fails */
		pthread_mutex_unlock(&mu);
		if (v == 0)
			break;
		rc = put_mixed(w->q, (void *)(uintptr_t)v, k);
		if (rc != 0) {
			pthread_mutex_lock(&mu);
			put_ok[v] = 0;
			pthread_mutex_unlock(&mu);
			if (rc != ESHUTDOWN)
				report("a producer's bqueue_put returned %s, expected 0 or ESHUTDOWN",
				       tl_errname(rc));
			break;
		}
		tick();
	}
	return NULL;
}

static void *consumer2(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(&start);
	for (int k = w->index;; k++) {
		void *item = NULL;
		int rc = get_mixed(w->q, &item, k);

		if (rc == ESHUTDOWN)
			break;
		if (rc != 0) {
			report("a consumer's bqueue_get returned %s, expected 0 or ESHUTDOWN",
			       tl_errname(rc));
			break;
		}
		record_got(item, MAX2);
		if (k % 4 == 0)
			(void)bqueue_size(w->q);
		rc = bqueue_task_done(w->q);
		if (rc != 0)
			report("bqueue_task_done after a get returned %s, expected 0", tl_errname(rc));
	}
	return NULL;
}

static void *joiner2(void *arg)
{
	struct worker *w = arg;
	int rc;

	pthread_barrier_wait(&start);
	while ((rc = bqueue_join(w->q, 1)) == ETIMEDOUT) {
		bool shut;

		pthread_mutex_lock(&mu);
		shut = got >= SHUTDOWN_AFTER;
		pthread_mutex_unlock(&mu);
		if (shut)
			break; /* from now on, wait for good */
	}
	if (rc == ETIMEDOUT)
		rc = bqueue_join(w->q, -1);
	if (rc != 0)
		report("bqueue_join returned %s, expected 0", tl_errname(rc));
	return NULL;
}

static void phase2(void)
{
	pthread_t tids[PRODUCERS + CONSUMERS + 1];
	struct worker ws[PRODUCERS + CONSUMERS + 1];
	bqueue_t *q;
	long put_total = 0, got_total = 0, freed_total = 0;
	int n = 0, rc;

	pthread_mutex_lock(&mu);
	phase = "phase 2 (immediate shutdown)";
	memset(seen, 0, sizeof seen);
	got = 0;
	pthread_mutex_unlock(&mu);
	if ((rc = bqueue_create(&q, CAP2, count_free)) != 0) {
		report("bqueue_create returned %s, expected 0", tl_errname(rc));
		return;
	}
	pthread_barrier_init(&start, NULL, PRODUCERS + CONSUMERS + 2);
	for (int i = 0; i < PRODUCERS; i++, n++) {
		ws[n] = (struct worker){ q, i };
		pthread_create(&tids[n], NULL, producer2, &ws[n]);
	}
	for (int i = 0; i < CONSUMERS; i++, n++) {
		ws[n] = (struct worker){ q, i };
		pthread_create(&tids[n], NULL, consumer2, &ws[n]);
	}
	ws[n] = (struct worker){ q, 0 };
	pthread_create(&tids[n], NULL, joiner2, &ws[n]);
	n++;
	pthread_barrier_wait(&start);
	set_step("waiting for items to move before the immediate shutdown");
	for (bool enough = false; !enough;) {
		usleep(200);
		pthread_mutex_lock(&mu);
		enough = got >= SHUTDOWN_AFTER || next_item >= MAX2 || errors > 0;
		pthread_mutex_unlock(&mu);
	}
	bqueue_shutdown(q, true);
	set_step("waiting for the producers, consumers and joiner to return after "
		 "bqueue_shutdown(q, true)");
	tl_join_all(tids, (size_t)n);
	if (bqueue_size(q) != 0)
		report("bqueue_size returned %zu after an immediate shutdown, expected 0",
		       bqueue_size(q));

	pthread_mutex_lock(&mu);
	for (long v = 1; v <= MAX2; v++) {
		put_total += put_ok[v];
		got_total += seen[v];
		freed_total += freed[v];
		if (put_ok[v] != seen[v] + freed[v] && errors < 10) {
			fprintf(stderr, "race_bqueue: phase 2: item %ld: put %d time(s), got %d, "
				"freed %d: every item put must be got or freed, exactly once\n", v,
				put_ok[v], seen[v], freed[v]);
			errors++;
		}
	}
	pthread_mutex_unlock(&mu);
	pthread_mutex_lock(&mu);
	stats[0] = put_total;
	stats[1] = got_total;
	stats[2] = freed_total;
	pthread_mutex_unlock(&mu);
	if (got_total < 1)
		report("no item was got before the immediate shutdown (%ld put, %ld freed)",
		       put_total, freed_total);
	pthread_barrier_destroy(&start);
	bqueue_destroy(q);
	pthread_mutex_lock(&mu);
	for (long v = 1; v <= MAX2; v++)
		if (freed[v] > 1 && errors < 10) {
			fprintf(stderr, "race_bqueue: phase 2: free_item ran %d times on item %ld "
				"(destroy after an immediate shutdown must not free again)\n",
				freed[v], v);
			errors++;
		}
	pthread_mutex_unlock(&mu);
}

/* ---- watchdog --------------------------------------------------------------------------- */

static void *watchdog(void *arg)
{
	long limit_ms = (long)(2000 * tl_slowdown());
	long last = -1;
	int64_t since = tl_now_ns();

	(void)arg;
	for (;;) {
		long now;
		const char *ph, *st;

		tl_sleep_ms(50);
		pthread_mutex_lock(&mu);
		now = progress + got;
		ph = phase;
		st = step;
		pthread_mutex_unlock(&mu);
		if (now != last) {
			last = now;
			since = tl_now_ns();
		} else if (tl_elapsed_ms(since) > limit_ms) {
			fprintf(stderr, "race_bqueue: %s: no progress for %ld ms (%ld queue calls had "
				"returned) while the main thread was %s: a thread is blocked in the "
				"queue for good (a lost wakeup, or a waiter that shutdown did not "
				"wake)\n", ph, limit_ms, now, st);
			fflush(stderr);
			_exit(3);
		}
	}
	return NULL;
}

int main(void)
{
	pthread_t dog;
	int e;

	pthread_create(&dog, NULL, watchdog, NULL);
	pthread_detach(dog);
	phase1();
	phase2();
	pthread_mutex_lock(&mu);
	e = errors;
	pthread_mutex_unlock(&mu);
	if (e) {
		fprintf(stderr, "race_bqueue: %d problem(s) found\n", e);
		return 1;
	}
	pthread_mutex_lock(&mu);
	fprintf(stderr, "race_bqueue: ok (phase 1: %d items; phase 2: %ld put, %ld got, %ld freed "
		"by the immediate shutdown)\n", ITEMS, stats[0], stats[1], stats[2]);
	pthread_mutex_unlock(&mu);
	return 0;
}
