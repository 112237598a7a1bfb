/* check_pool.c - the Check tests of the worker pool with futures (see pool.h).
 *
 * DESIGN: every test makes its own pool. A test that needs a task to stay RUNNING (so that the
 * tasks behind it stay PENDING, on a pool of 1 worker) uses a "gate" task: it counts down
 * g->started and then waits for g->open, which the test opens when it is ready. Only the
 * "parallelism" tests need two tasks to run at the same time; every other test works on a pool
 * that runs one task at a time, so that a pool that serializes its tasks fails only the
 * parallelism claims (and the speedup check). Where a test needs "this thread is now blocked in
 * future_get", the thread counts down a latch right before the call and the test sleeps a settle
 * time after it: the claims checked afterwards hold whether or not the thread got there in time.
 * Threads other than the test's own never call ck_assert: they record what they saw and the test
 * checks it. A test that waits for something that might never happen waits with a deadline
 * (scaled by tl_slowdown()) and says what did not happen, except where the contract's own call
 * blocks for ever (pool_destroy, pool_shutdown with wait): a pool that hangs there is reported
 * as a hang by the test's timeout. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool.h"
#include "tl_test.h"

/* Scales a loose upper bound for slow runs (valgrind). */
#define SLOW(ms) ((long)((ms) * tl_slowdown()))

/* A settle time: long enough for a runnable thread to reach the call it is about to make, on a
 * loaded machine. Claims never depend on it. */
#define SETTLE_MS 100

static const char *state_name(enum future_state s)
{
	switch (s) {
	case FUTURE_PENDING: return "FUTURE_PENDING";
	case FUTURE_RUNNING: return "FUTURE_RUNNING";
	case FUTURE_DONE: return "FUTURE_DONE";
	case FUTURE_CANCELLED: return "FUTURE_CANCELLED";
	}
	return "an unknown state";
}

static pool_t *make_pool(size_t n)
{
	pool_t *p = NULL;
	int rc = pool_create(&p, n);

	ck_assert_msg(rc == 0 && p != NULL,
		      "pool_create(&p, %zu) returned %d (%s) and p = %p, expected 0 and a pool", n, rc,
		      tl_errname(rc), (void *)p);
	return p;
}

static future_t *submit(pool_t *p, pool_task_fn fn, void *arg)
{
	future_t *f = NULL;
	int rc = pool_submit(p, fn, arg, &f);

	ck_assert_msg(rc == 0 && f != NULL,
		      "pool_submit returned %d (%s) and future %p, expected 0 and a future", rc,
		      tl_errname(rc), (void *)f);
	return f;
}

/* How many more times l must be counted down before it opens. */
static unsigned latch_remaining(tl_latch_t *l)
{
	unsigned n;

	pthread_mutex_lock(&l->mu);
	n = l->count;
	pthread_mutex_unlock(&l->mu);
	return n;
}

/* ---- tasks ---- */

/* The gate: a task that stays RUNNING until the test opens it (or 10 s pass, so that a broken
 * test cannot keep a worker for ever). Stores the gate as its result. */
struct gate {
	tl_latch_t started;
	tl_latch_t open;
};

static void gate_init(struct gate *g)
{
	tl_latch_init(&g->started, 1);
	tl_latch_init(&g->open, 1);
}

static int gate_task(void *arg, void **result)
{
	struct gate *g = arg;

	tl_latch_count_down(&g->started);
	tl_latch_wait_ms(&g->open, SLOW(10000));
	*result = g;
	return 0;
}

/* Submits a gate task and waits until it runs, so that the tasks queued after it stay PENDING
 * (on a pool of one worker) until gate_open. */
static future_t *gate_submit(pool_t *p, struct gate *g)
{
	future_t *f;

	gate_init(g);
	f = submit(p, gate_task, g);
	ck_assert_msg(tl_latch_wait_ms(&g->started, SLOW(2000)),
		      "a task submitted to an idle pool did not start within 2 s");
	return f;
}

static void gate_open(struct gate *g)
{
	tl_latch_count_down(&g->open);
}

/* Counts its runs in a tl_counter; the result is the counter. */
static int count_task(void *arg, void **result)
{
	tl_counter_add(arg, 1);
	*result = arg;
	return 0;
}

/* Appends its id to a log: shows which tasks ran and in which order. */
struct log {
	pthread_mutex_t mu;
	int n;       /* guarded by mu */
	int ids[64]; /* guarded by mu */
};

struct log_item {
	struct log *log;
	int id;
};

static int log_task(void *arg, void **result)
{
	struct log_item *it = arg;

	pthread_mutex_lock(&it->log->mu);
	if (it->log->n < 64)
		it->log->ids[it->log->n] = it->id;
	it->log->n++;
	pthread_mutex_unlock(&it->log->mu);
	*result = it;
	return 0;
}

/* ---- threads blocked in future_get ---- */

struct getter {
	future_t *f;
	tl_latch_t *ready; /* counted down right before the call */
	tl_latch_t *woke;  /* counted down right after it returned */
	int rc;            /* read by the test only after `woke` opened */
	void *result;
	int task_err;
};

static void *getter_main(void *arg)
{
	struct getter *g = arg;

	tl_latch_count_down(g->ready);
	g->rc = future_get(g->f, -1, &g->result, &g->task_err);
	tl_latch_count_down(g->woke);
	return NULL;
}

/* Starts n threads blocked (after the settle time) in future_get(f, -1). */
static void getters_start(struct getter *gs, pthread_t *tids, size_t n, future_t *f,
			  tl_latch_t *ready, tl_latch_t *woke)
{
	tl_latch_init(ready, (unsigned)n);
	tl_latch_init(woke, (unsigned)n);
	for (size_t i = 0; i < n; i++)
		gs[i] = (struct getter){ .f = f, .ready = ready, .woke = woke, .rc = -1 };
	ck_assert_msg(tl_start_threads(tids, n, getter_main, gs, sizeof gs[0]) == 0,
		      "the test could not start its threads");
	tl_latch_wait(ready);
	tl_sleep_ms(SETTLE_MS);
}

/* ---- done callbacks ---- */

struct cb_log {
	pthread_mutex_t mu;
	int n;                        /* guarded by mu: calls so far */
	int order[8];                 /* guarded by mu: the ids, in call order */
	pthread_t thread[8];          /* guarded by mu: the thread of each call */
	enum future_state seen[8];    /* guarded by mu: future_state(f) inside the callback */
	future_t *f[8];               /* guarded by mu: the future each call received */
};

struct cb_arg {
	struct cb_log *log;
	int id;
};

static void cb_log_init(struct cb_log *l)
{
	memset(l, 0, sizeof *l);
	pthread_mutex_init(&l->mu, NULL);
}

static void log_callback(future_t *f, void *ud)
{
	struct cb_arg *a = ud;
	enum future_state s = future_state(f);

	pthread_mutex_lock(&a->log->mu);
	if (a->log->n < 8) {
		a->log->order[a->log->n] = a->id;
		a->log->thread[a->log->n] = pthread_self();
		a->log->seen[a->log->n] = s;
		a->log->f[a->log->n] = f;
	}
	a->log->n++;
	pthread_mutex_unlock(&a->log->mu);
}

static int cb_count(struct cb_log *l)
{
	int n;

	pthread_mutex_lock(&l->mu);
	n = l->n;
	pthread_mutex_unlock(&l->mu);
	return n;
}

/* Waits up to 2 s for n callbacks, then a settle time (to see a duplicate call, if any). */
static int cb_wait(struct cb_log *l, int n)
{
	int64_t t0 = tl_now_ns();

	while (cb_count(l) < n && tl_elapsed_ms(t0) < SLOW(2000))
		tl_sleep_ms(2);
	tl_sleep_ms(20);
	return cb_count(l);
}

/* ---- threads of the process ---- */

static int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	ck_assert_msg(d != NULL, "cannot open /proc/self/task");
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Waits up to 1 s for the number of threads to drop to at most `want` (a joined thread can be
 * listed for a moment after pthread_join returns); returns the last count. */
static int threads_settle(int want)
{
	int64_t t0 = tl_now_ns();
	int n;

	while ((n = count_threads()) > want && tl_elapsed_ms(t0) < SLOW(1000))
		tl_sleep_ms(5);
	return n;
}

/* ================================ basics ================================ */

START_TEST(test_pool_create_rejects_zero_workers)
{
	pool_t *p = (pool_t *)&p; /* not NULL: pool_create must set it */
	int rc = pool_create(&p, 0);

	ck_assert_msg(rc == EINVAL, "pool_create(&p, 0) returned %d (%s), expected EINVAL", rc,
		      tl_errname(rc));
	ck_assert_msg(p == NULL, "pool_create(&p, 0) failed but left p = %p, expected NULL",
		      (void *)p);
	rc = pool_create(NULL, 2);
	ck_assert_msg(rc == EINVAL, "pool_create(NULL, 2) returned %d (%s), expected EINVAL", rc,
		      tl_errname(rc));
}
END_TEST

START_TEST(test_pool_size_reports_nworkers)
{
	for (size_t n = 1; n <= 5; n += 2) {
		pool_t *p = make_pool(n);
		size_t got = pool_size(p);

		ck_assert_msg(got == n, "pool_size of a pool made with %zu workers returned %zu", n,
			      got);
		pool_destroy(p);
	}
}
END_TEST

struct square {
	long in;
	long out;
};

static int square_task(void *arg, void **result)
{
	struct square *s = arg;

	s->out = s->in * s->in;
	*result = s;
	return 0;
}

START_TEST(test_pool_results_come_back)
{
	enum { N = 40 };
	struct square sq[N];
	future_t *f[N];
	pool_t *p = make_pool(3);

	for (int i = 0; i < N; i++) {
		sq[i] = (struct square){ .in = i + 1, .out = -1 };
		f[i] = submit(p, square_task, &sq[i]);
	}
	for (int i = 0; i < N; i++) {
		for (int round = 0; round < 2; round++) { /* a second get gives the same answer */
			void *res = NULL;
			int err = -1;
			int rc = future_get(f[i], round == 0 ? SLOW(2000) : 0, &res, &err);

			ck_assert_msg(rc == 0,
				      "future_get (call %d) on task %d returned %d (%s), expected 0",
				      round + 1, i, rc, tl_errname(rc));
			ck_assert_msg(err == 0,
				      "future_get gave task_err %d for a task that returned 0", err);
			ck_assert_msg(res == &sq[i],
				      "future_get (call %d) on task %d gave result %p, expected %p "
				      "(what the task stored in *result)",
				      round + 1, i, res, (void *)&sq[i]);
			ck_assert_msg(sq[i].out == (long)(i + 1) * (i + 1),
				      "task %d did not run (or ran on the wrong argument)", i);
		}
		ck_assert_msg(future_state(f[i]) == FUTURE_DONE,
			      "future_state after future_get returned 0 is %s, expected FUTURE_DONE",
			      state_name(future_state(f[i])));
		future_release(f[i]);
	}
	pool_destroy(p);
}
END_TEST

START_TEST(test_pool_runs_tasks_in_submission_order)
{
	enum { N = 10 };
	struct log log = { .n = 0 };
	struct log_item items[N];
	struct gate g;
	pool_t *p = make_pool(1);
	future_t *f0 = gate_submit(p, &g);

	pthread_mutex_init(&log.mu, NULL);
	for (int i = 0; i < N; i++) {
		items[i] = (struct log_item){ .log = &log, .id = i };
		ck_assert_int_eq(pool_submit(p, log_task, &items[i], NULL), 0);
	}
	gate_open(&g);
	pool_destroy(p);
	ck_assert_msg(log.n == N, "%d of %d tasks ran before pool_destroy returned", log.n, N);
	for (int i = 0; i < N; i++)
		ck_assert_msg(log.ids[i] == i,
			      "on a pool of 1 worker, task %d ran in position %d: tasks must start "
			      "in the order they were submitted (FIFO)",
			      log.ids[i], i);
	future_release(f0);
}
END_TEST

START_TEST(test_pool_submit_without_future_still_runs_task)
{
	tl_counter_t runs;
	pool_t *p = make_pool(2);

	tl_counter_init(&runs);
	for (int i = 0; i < 5; i++) {
		int rc = pool_submit(p, count_task, &runs, NULL);

		ck_assert_msg(rc == 0, "pool_submit(p, fn, arg, NULL) returned %d (%s), expected 0",
			      rc, tl_errname(rc));
	}
	pool_shutdown(p, true, false);
	ck_assert_msg(tl_counter_get(&runs) == 5,
		      "%ld of 5 tasks submitted with out = NULL ran before pool_shutdown(wait) "
		      "returned: a task without a future must run all the same",
		      tl_counter_get(&runs));
	pool_destroy(p);
}
END_TEST

static int failing_task(void *arg, void **result)
{
	*result = arg;
	return EIO;
}

START_TEST(test_pool_failing_task_reports_error_and_worker_lives_on)
{
	static int marker;
	struct square sq[3];
	pool_t *p = make_pool(1);
	future_t *bad = submit(p, failing_task, &marker);
	void *res = NULL;
	int err = 0;
	int rc = future_get(bad, SLOW(2000), &res, &err);

	ck_assert_msg(rc == 0,
		      "future_get on a task that returned EIO gave %d (%s), expected 0 (the task "
		      "finished; its own error comes back in *task_err)",
		      rc, tl_errname(rc));
	ck_assert_msg(err == EIO, "future_get gave task_err %d (%s) for a task that returned EIO",
		      err, tl_errname(err));
	ck_assert_msg(res == &marker, "a failing task's stored result was not passed on");
	ck_assert_msg(future_state(bad) == FUTURE_DONE,
		      "a task that returned an error is in %s, expected FUTURE_DONE",
		      state_name(future_state(bad)));
	future_release(bad);
	/* The pool's only worker must still be there. */
	for (int i = 0; i < 3; i++) {
		future_t *f;

		sq[i] = (struct square){ .in = 7 + i, .out = 0 };
		f = submit(p, square_task, &sq[i]);
		rc = future_get(f, SLOW(2000), &res, &err);
		ck_assert_msg(rc == 0 && err == 0 && res == &sq[i],
			      "after a task failed, the next task on the same 1-worker pool gave "
			      "future_get %d (%s): the worker must live on after a failing task",
			      rc, tl_errname(rc));
		future_release(f);
	}
	pool_destroy(p);
}
END_TEST

START_TEST(test_pool_rejects_invalid_arguments)
{
	pool_t *p = make_pool(1);
	future_t *f = (future_t *)&f;
	void *res = &res;
	int rc = pool_submit(p, NULL, NULL, &f);

	ck_assert_msg(rc == EINVAL, "pool_submit with fn = NULL returned %d (%s), expected EINVAL",
		      rc, tl_errname(rc));
	ck_assert_msg(f == NULL, "pool_submit failed but left *out = %p, expected NULL",
		      (void *)f);
	f = submit(p, failing_task, NULL);
	ck_assert_int_eq(future_get(f, SLOW(2000), NULL, NULL), 0); /* NULL outs are allowed */
	rc = future_get(f, -2, &res, NULL);
	ck_assert_msg(rc == EINVAL, "future_get with timeout_ms = -2 returned %d (%s), expected "
		      "EINVAL", rc, tl_errname(rc));
	ck_assert_msg(res == &res, "future_get failed with EINVAL but wrote *result");
	rc = future_on_done(f, NULL, NULL);
	ck_assert_msg(rc == EINVAL, "future_on_done with cb = NULL returned %d (%s), expected "
		      "EINVAL", rc, tl_errname(rc));
	future_release(f);
	pool_destroy(p);
}
END_TEST

/* ================================ limits ================================ */

struct busy {
	tl_counter_t running; /* max = the most tasks seen running at once */
	tl_counter_t done;
};

static int busy_task(void *arg, void **result)
{
	struct busy *b = arg;

	(void)result;
	tl_counter_add(&b->running, 1);
	tl_sleep_ms(10);
	tl_counter_add(&b->running, -1);
	tl_counter_add(&b->done, 1);
	return 0;
}

START_TEST(test_pool_never_runs_more_than_nworkers_at_once)
{
	enum { WORKERS = 3, TASKS = 24 };
	struct busy b;
	future_t *f[TASKS];
	pool_t *p = make_pool(WORKERS);
	long most;

	tl_counter_init(&b.running);
	tl_counter_init(&b.done);
	for (int i = 0; i < TASKS; i++)
		f[i] = submit(p, busy_task, &b);
	for (int i = 0; i < TASKS; i++) {
		int rc = future_get(f[i], SLOW(5000), NULL, NULL);

		ck_assert_msg(rc == 0, "future_get on task %d returned %d (%s), expected 0", i, rc,
			      tl_errname(rc));
		future_release(f[i]);
	}
	most = tl_counter_max(&b.running);
	ck_assert_msg(most <= WORKERS,
		      "%ld tasks were running at the same time on a pool of %d workers: the pool "
		      "must never run more than nworkers tasks at once (no thread per task)",
		      most, WORKERS);
	ck_assert_msg(tl_counter_get(&b.done) == TASKS, "%ld of %d tasks ran",
		      tl_counter_get(&b.done), TASKS);
	pool_destroy(p);
}
END_TEST

/* ============================== parallelism ============================= */

/* n tasks that each wait until all n have arrived, with one shared absolute deadline so that a
 * pool that runs them one by one fails after ~2 s instead of hanging. */
struct rendezvous {
	pthread_mutex_t mu;
	pthread_cond_t cv;  /* CLOCK_MONOTONIC */
	int n;
	int arrived;        /* guarded by mu: tasks that have started */
	int inside;         /* guarded by mu: tasks started and not yet returned */
	int most_inside;    /* guarded by mu: the highest `inside` */
	int gave_up;        /* guarded by mu: tasks that left at the deadline */
	struct timespec deadline;
};

static int rendezvous_task(void *arg, void **result)
{
	struct rendezvous *r = arg;
	int rc = 0;

	(void)result;
	pthread_mutex_lock(&r->mu);
	r->arrived++;
	if (++r->inside > r->most_inside)
		r->most_inside = r->inside;
	pthread_cond_broadcast(&r->cv);
	while (r->arrived < r->n && rc == 0)
		rc = pthread_cond_timedwait(&r->cv, &r->mu, &r->deadline);
	if (r->arrived < r->n)
		r->gave_up++;
	r->inside--;
	pthread_mutex_unlock(&r->mu);
	return 0;
}

START_TEST(test_pool_runs_nworkers_tasks_together)
{
	enum { N = 4 };
	struct rendezvous r = { .n = N };
	pthread_condattr_t ca;
	future_t *f[N];
	pool_t *p = make_pool(N);
	long wait_ms = SLOW(2000);

	pthread_mutex_init(&r.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r.cv, &ca);
	clock_gettime(CLOCK_MONOTONIC, &r.deadline);
	r.deadline.tv_sec += wait_ms / 1000;
	r.deadline.tv_nsec += (wait_ms % 1000) * 1000000L;
	if (r.deadline.tv_nsec >= 1000000000L) {
		r.deadline.tv_sec++;
		r.deadline.tv_nsec -= 1000000000L;
	}
	for (int i = 0; i < N; i++)
		f[i] = submit(p, rendezvous_task, &r);
	for (int i = 0; i < N; i++) {
		int rc = future_get(f[i], SLOW(5000), NULL, NULL);

		ck_assert_msg(rc == 0, "future_get on task %d returned %d (%s), expected 0", i, rc,
			      tl_errname(rc));
		future_release(f[i]);
	}
	pthread_mutex_lock(&r.mu);
	ck_assert_msg(r.gave_up == 0,
		      "%d of %d tasks that wait for each other gave up after 2 s: the most running "
		      "at the same time was %d, on a pool of %d workers. A pool of n "
		      "workers must run n tasks together (does every worker thread exist, and does "
		      "a worker let go of the pool's lock before running its task?)",
		      r.gave_up, N, r.most_inside, N);
	pthread_mutex_unlock(&r.mu);
	pool_destroy(p);
}
END_TEST

/* ================================ states ================================ */

START_TEST(test_future_state_goes_pending_running_done)
{
	struct gate g;
	tl_counter_t runs;
	pool_t *p = make_pool(1);
	future_t *f0 = gate_submit(p, &g);
	future_t *f1;
	enum future_state s;

	tl_counter_init(&runs);
	f1 = submit(p, count_task, &runs);
	s = future_state(f1);
	ck_assert_msg(s == FUTURE_PENDING,
		      "a task queued behind a running one on a 1-worker pool is in %s, expected "
		      "FUTURE_PENDING", state_name(s));
	s = future_state(f0);
	ck_assert_msg(s == FUTURE_RUNNING, "a task that has started and not returned is in %s, "
		      "expected FUTURE_RUNNING", state_name(s));
	gate_open(&g);
	ck_assert_int_eq(future_get(f1, SLOW(2000), NULL, NULL), 0);
	s = future_state(f0);
	ck_assert_msg(s == FUTURE_DONE, "a task that returned is in %s, expected FUTURE_DONE",
		      state_name(s));
	s = future_state(f1);
	ck_assert_msg(s == FUTURE_DONE, "a task whose future_get returned 0 is in %s, expected "
		      "FUTURE_DONE", state_name(s));
	future_release(f0);
	future_release(f1);
	pool_destroy(p);
}
END_TEST

START_TEST(test_future_cancel_pending_task_never_runs)
{
	struct gate g;
	tl_counter_t runs;
	pool_t *p = make_pool(1);
	future_t *f0 = gate_submit(p, &g);
	future_t *f1, *f2;
	void *res = &res;
	int rc;

	tl_counter_init(&runs);
	f1 = submit(p, count_task, &runs);
	f2 = submit(p, count_task, &runs);
	ck_assert_msg(future_cancel(f1), "future_cancel on a PENDING task returned false, "
		      "expected true");
	ck_assert_msg(future_state(f1) == FUTURE_CANCELLED,
		      "after future_cancel returned true the future is in %s, expected "
		      "FUTURE_CANCELLED", state_name(future_state(f1)));
	rc = future_get(f1, 0, &res, NULL);
	ck_assert_msg(rc == ECANCELED, "future_get on a cancelled future returned %d (%s), "
		      "expected ECANCELED", rc, tl_errname(rc));
	ck_assert_msg(res == &res, "future_get on a cancelled future wrote *result");
	ck_assert_msg(future_cancel(f1), "future_cancel on an already cancelled future returned "
		      "false, expected true (the task will never run)");
	gate_open(&g);
	pool_shutdown(p, true, false);
	ck_assert_msg(tl_counter_get(&runs) == 1,
		      "%ld tasks ran out of 2 queued, one of them cancelled: a cancelled task must "
		      "never run, the other one must", tl_counter_get(&runs));
	ck_assert_msg(future_state(f1) == FUTURE_CANCELLED,
		      "a cancelled future is in %s after the pool drained, expected "
		      "FUTURE_CANCELLED", state_name(future_state(f1)));
	ck_assert_int_eq(future_get(f2, 0, NULL, NULL), 0);
	future_release(f0);
	future_release(f1);
	future_release(f2);
	pool_destroy(p);
}
END_TEST

START_TEST(test_future_cancel_fails_once_started)
{
	struct gate g;
	pool_t *p = make_pool(1);
	future_t *f0 = gate_submit(p, &g);
	void *res = NULL;
	int rc;

	ck_assert_msg(!future_cancel(f0), "future_cancel on a RUNNING task returned true: a "
		      "running task cannot be cancelled");
	ck_assert_msg(future_state(f0) == FUTURE_RUNNING, "after a failed future_cancel a running "
		      "task is in %s, expected FUTURE_RUNNING", state_name(future_state(f0)));
	gate_open(&g);
	rc = future_get(f0, SLOW(2000), &res, NULL);
	ck_assert_msg(rc == 0 && res == &g, "a running task on which future_cancel was tried "
		      "gave future_get %d (%s), expected 0 and its result", rc, tl_errname(rc));
	ck_assert_msg(!future_cancel(f0), "future_cancel on a DONE task returned true");
	ck_assert_msg(future_state(f0) == FUTURE_DONE, "after future_cancel a DONE task is in %s",
		      state_name(future_state(f0)));
	ck_assert_int_eq(future_get(f0, 0, NULL, NULL), 0);
	future_release(f0);
	pool_destroy(p);
}
END_TEST

/* ================================ waiting =============================== */

START_TEST(test_future_get_timeout_zero_on_unfinished_is_etimedout)
{
	struct gate g;
	tl_counter_t runs;
	pool_t *p = make_pool(1);
	future_t *f0 = gate_submit(p, &g);
	future_t *f1;
	void *res = &res;
	int err = -7;
	int64_t t0;
	int rc;

	tl_counter_init(&runs);
	f1 = submit(p, count_task, &runs);
	t0 = tl_now_ns();
	rc = future_get(f0, 0, &res, &err);
	ck_assert_msg(rc == ETIMEDOUT, "future_get(f, 0) on a RUNNING task returned %d (%s), "
		      "expected ETIMEDOUT", rc, tl_errname(rc));
	rc = future_get(f1, 0, &res, &err);
	ck_assert_msg(rc == ETIMEDOUT, "future_get(f, 0) on a PENDING task returned %d (%s), "
		      "expected ETIMEDOUT", rc, tl_errname(rc));
	ck_assert_msg(tl_elapsed_ms(t0) < SLOW(500), "future_get(f, 0) took %.0f ms: timeout 0 "
		      "must not wait", tl_elapsed_ms(t0));
	ck_assert_msg(res == &res && err == -7, "future_get wrote *result or *task_err although "
		      "it returned ETIMEDOUT");
	gate_open(&g);
	ck_assert_int_eq(future_get(f1, -1, NULL, NULL), 0);
	future_release(f0);
	future_release(f1);
	pool_destroy(p);
}
END_TEST

START_TEST(test_future_timed_get_waits_at_least_its_timeout)
{
	struct gate g;
	tl_counter_t runs;
	pool_t *p = make_pool(1);
	future_t *f0 = gate_submit(p, &g);
	future_t *f1;

	tl_counter_init(&runs);
	f1 = submit(p, count_task, &runs);
	for (int i = 0; i < 2; i++) {
		future_t *f = i == 0 ? f0 : f1;
		const char *what = i == 0 ? "RUNNING" : "PENDING";
		long timeout = i == 0 ? 150 : 80;
		void *res = &res;
		int64_t t0 = tl_now_ns();
		int rc = future_get(f, timeout, &res, NULL);
		double ms = tl_elapsed_ms(t0);

		ck_assert_msg(rc == ETIMEDOUT, "future_get(f, %ld) on a %s task returned %d (%s), "
			      "expected ETIMEDOUT", timeout, what, rc, tl_errname(rc));
		ck_assert_msg(ms >= timeout - 1, "future_get(f, %ld) on a %s task returned "
			      "ETIMEDOUT after %.1f ms: a timed get must wait at least its timeout",
			      timeout, what, ms);
		ck_assert_msg(ms <= timeout + SLOW(1000), "future_get(f, %ld) on a %s task took "
			      "%.0f ms", timeout, what, ms);
		ck_assert_msg(res == &res, "future_get wrote *result although it returned "
			      "ETIMEDOUT");
	}
	gate_open(&g);
	ck_assert_int_eq(future_get(f1, SLOW(2000), NULL, NULL), 0);
	future_release(f0);
	future_release(f1);
	pool_destroy(p);
}
END_TEST

START_TEST(test_future_get_wakes_every_waiter_on_completion)
{
	enum { N = 4 };
	struct getter gs[N];
	pthread_t tids[N];
	tl_latch_t ready, woke;
	struct gate g;
	pool_t *p = make_pool(1);
	future_t *f0 = gate_submit(p, &g);
	unsigned stuck;

	getters_start(gs, tids, N, f0, &ready, &woke);
	gate_open(&g);
	tl_latch_wait_ms(&woke, SLOW(2000));
	stuck = latch_remaining(&woke);
	ck_assert_msg(stuck == 0,
		      "%u of %d threads blocked in future_get(f, -1) were still blocked 2 s after "
		      "the task finished: the end of a task must wake every waiter "
		      "(pthread_cond_broadcast, not pthread_cond_signal)",
		      stuck, N);
	tl_join_all(tids, N);
	for (int i = 0; i < N; i++)
		ck_assert_msg(gs[i].rc == 0 && gs[i].result == &g && gs[i].task_err == 0,
			      "waiter %d woke with future_get = %d (%s), expected 0 and the result",
			      i, gs[i].rc, tl_errname(gs[i].rc));
	future_release(f0);
	pool_destroy(p);
}
END_TEST

START_TEST(test_future_get_wakes_every_waiter_on_cancel)
{
	enum { N = 4 };
	struct getter gs[N];
	pthread_t tids[N];
	tl_latch_t ready, woke;
	struct gate g;
	tl_counter_t runs;
	pool_t *p = make_pool(1);
	future_t *f0 = gate_submit(p, &g);
	future_t *f1;
	unsigned stuck;

	tl_counter_init(&runs);
	f1 = submit(p, count_task, &runs);
	getters_start(gs, tids, N, f1, &ready, &woke);
	ck_assert_msg(future_cancel(f1), "future_cancel on a PENDING task returned false");
	tl_latch_wait_ms(&woke, SLOW(2000));
	stuck = latch_remaining(&woke);
	ck_assert_msg(stuck == 0,
		      "%u of %d threads blocked in future_get(f, -1) were still blocked 2 s after "
		      "future_cancel(f): cancelling must wake every waiter (broadcast)",
		      stuck, N);
	tl_join_all(tids, N);
	for (int i = 0; i < N; i++)
		ck_assert_msg(gs[i].rc == ECANCELED, "waiter %d woke from future_get on a cancelled "
			      "future with %d (%s), expected ECANCELED",
			      i, gs[i].rc, tl_errname(gs[i].rc));
	gate_open(&g);
	future_release(f0);
	future_release(f1);
	pool_destroy(p);
	ck_assert_msg(tl_counter_get(&runs) == 0, "a cancelled task ran");
}
END_TEST

/* =============================== callbacks ============================== */

START_TEST(test_future_callbacks_run_once_each_in_order)
{
	struct cb_log log;
	struct cb_arg args[3];
	struct gate g;
	pool_t *p = make_pool(1);
	future_t *f0 = gate_submit(p, &g);
	int n;

	cb_log_init(&log);
	for (int i = 0; i < 3; i++) {
		int rc;

		args[i] = (struct cb_arg){ .log = &log, .id = i };
		rc = future_on_done(f0, log_callback, &args[i]);
		ck_assert_msg(rc == 0, "future_on_done on a RUNNING future returned %d (%s)", rc,
			      tl_errname(rc));
	}
	ck_assert_msg(cb_count(&log) == 0, "a done callback ran while its task was still "
		      "running");
	gate_open(&g);
	ck_assert_int_eq(future_get(f0, SLOW(2000), NULL, NULL), 0);
	n = cb_wait(&log, 3); /* future_get may return before the callbacks ran */
	ck_assert_msg(n == 3, "%d callback calls for 3 callbacks registered before the task "
		      "finished: each must run exactly once", n);
	for (int i = 0; i < 3; i++) {
		ck_assert_msg(log.order[i] == i, "callback %d ran in position %d: callbacks run in "
			      "the order they were registered", log.order[i], i);
		ck_assert_msg(log.f[i] == f0, "a callback received future %p, expected its own "
			      "future %p", (void *)log.f[i], (void *)f0);
		ck_assert_msg(log.seen[i] == FUTURE_DONE, "inside a done callback future_state was "
			      "%s, expected FUTURE_DONE", state_name(log.seen[i]));
		ck_assert_msg(!pthread_equal(log.thread[i], pthread_self()),
			      "a callback registered before the task finished ran on the thread "
			      "that called future_get; it must run on the worker that ran the task");
	}
	future_release(f0);
	pool_destroy(p);
	ck_assert_msg(cb_count(&log) == 3, "callbacks ran again after the pool was destroyed");
}
END_TEST

START_TEST(test_future_callback_added_late_runs_at_once)
{
	struct cb_log log;
	struct cb_arg args[2];
	struct gate g;
	tl_counter_t runs;
	pool_t *p = make_pool(1);
	future_t *f0 = gate_submit(p, &g);
	future_t *f1;

	cb_log_init(&log);
	tl_counter_init(&runs);
	f1 = submit(p, count_task, &runs);
	ck_assert(future_cancel(f1));
	gate_open(&g);
	ck_assert_int_eq(future_get(f0, SLOW(2000), NULL, NULL), 0);
	for (int i = 0; i < 2; i++) {
		future_t *f = i == 0 ? f0 : f1;
		int rc;

		args[i] = (struct cb_arg){ .log = &log, .id = i };
		rc = future_on_done(f, log_callback, &args[i]);
		ck_assert_msg(rc == 0, "future_on_done on a %s future returned %d (%s)",
			      i == 0 ? "DONE" : "CANCELLED", rc, tl_errname(rc));
		ck_assert_msg(cb_count(&log) == i + 1, "future_on_done on a %s future returned "
			      "before the callback ran: a callback added late runs at once",
			      i == 0 ? "DONE" : "CANCELLED");
		ck_assert_msg(pthread_equal(log.thread[i], pthread_self()), "a callback added to "
			      "a future that had already ended ran on another thread, expected the "
			      "caller's thread");
		ck_assert_msg(log.f[i] == f, "a callback received the wrong future");
	}
	tl_sleep_ms(20);
	ck_assert_msg(cb_count(&log) == 2, "a callback added late ran more than once");
	future_release(f0);
	future_release(f1);
	pool_destroy(p);
}
END_TEST

/* Inside a callback: can another thread use the future and the pool right now? If the callback
 * ran with the future's (or the pool's) lock held, the helper thread blocks. */
struct probe {
	pool_t *pool;
	tl_counter_t *runs;
	tl_latch_t state_read; /* helper: future_state and future_get(f, 0) returned */
	tl_latch_t submitted;  /* helper: pool_submit returned */
	future_t *f;
	enum future_state seen; /* written by the helper before state_read opens */
	int get_rc;             /* written by the helper before state_read opens */
	bool state_ok, submit_ok; /* written by the callback */
	tl_latch_t finished;    /* the callback is about to return */
};

static void *probe_helper(void *arg)
{
	struct probe *pr = arg;

	pr->seen = future_state(pr->f);
	pr->get_rc = future_get(pr->f, 0, NULL, NULL);
	tl_latch_count_down(&pr->state_read);
	pool_submit(pr->pool, count_task, pr->runs, NULL);
	tl_latch_count_down(&pr->submitted);
	return NULL;
}

static void probe_callback(future_t *f, void *ud)
{
	struct probe *pr = ud;
	pthread_t tid;

	pr->f = f;
	if (pthread_create(&tid, NULL, probe_helper, pr) == 0) {
		pr->state_ok = tl_latch_wait_ms(&pr->state_read, SLOW(2000));
		pr->submit_ok = pr->state_ok && tl_latch_wait_ms(&pr->submitted, SLOW(2000));
		if (pr->submit_ok)
			pthread_join(tid, NULL);
		else
			pthread_detach(tid); /* stuck: the test fails */
	}
	tl_latch_count_down(&pr->finished);
}

static void probe_init(struct probe *pr, pool_t *p, tl_counter_t *runs)
{
	memset(pr, 0, sizeof *pr);
	pr->pool = p;
	pr->runs = runs;
	tl_latch_init(&pr->state_read, 1);
	tl_latch_init(&pr->submitted, 1);
	tl_latch_init(&pr->finished, 1);
}

static void probe_check(struct probe *pr, const char *how, enum future_state want,
			int want_rc)
{
	ck_assert_msg(tl_latch_wait_ms(&pr->finished, SLOW(4000)), "a done callback (%s) did not "
		      "run, or did not finish, within 4 s", how);
	ck_assert_msg(pr->state_ok, "while a done callback ran (%s), another thread's "
		      "future_state/future_get on the same future blocked for 2 s: callbacks must "
		      "run with no lock of the future held", how);
	ck_assert_msg(pr->submit_ok, "while a done callback ran (%s), another thread's "
		      "pool_submit on the pool blocked for 2 s: callbacks must run with no lock of "
		      "the pool held", how);
	ck_assert_msg(pr->seen == want && pr->get_rc == want_rc, "while a done callback ran "
		      "(%s), future_state was %s and future_get(f, 0) %s, expected %s and %s", how,
		      state_name(pr->seen), tl_errname(pr->get_rc), state_name(want),
		      tl_errname(want_rc));
}

START_TEST(test_future_callbacks_run_without_locks_held)
{
	struct probe on_done, on_cancel;
	struct gate g;
	tl_counter_t runs;
	pool_t *p = make_pool(1);
	future_t *f0 = gate_submit(p, &g);
	future_t *f1;

	tl_counter_init(&runs);
	f1 = submit(p, count_task, &runs);
	probe_init(&on_done, p, &runs);
	probe_init(&on_cancel, p, &runs);
	ck_assert_int_eq(future_on_done(f0, probe_callback, &on_done), 0);
	ck_assert_int_eq(future_on_done(f1, probe_callback, &on_cancel), 0);
	ck_assert(future_cancel(f1)); /* runs on_cancel's callback here, on this thread */
	probe_check(&on_cancel, "run by future_cancel", FUTURE_CANCELLED, ECANCELED);
	gate_open(&g);
	probe_check(&on_done, "run by the worker", FUTURE_DONE, 0);
	pool_shutdown(p, true, false);
	ck_assert_msg(tl_counter_get(&runs) == 2, "%ld of the 2 tasks submitted from threads "
		      "started by done callbacks ran", tl_counter_get(&runs));
	future_release(f0);
	future_release(f1);
	pool_destroy(p);
}
END_TEST

START_TEST(test_future_callbacks_run_on_cancel)
{
	struct cb_log log;
	struct cb_arg args[2];
	struct gate g;
	tl_counter_t runs;
	pool_t *p = make_pool(1);
	future_t *f0 = gate_submit(p, &g);
	future_t *f1;

	cb_log_init(&log);
	tl_counter_init(&runs);
	f1 = submit(p, count_task, &runs);
	for (int i = 0; i < 2; i++) {
		args[i] = (struct cb_arg){ .log = &log, .id = i };
		ck_assert_int_eq(future_on_done(f1, log_callback, &args[i]), 0);
	}
	ck_assert(future_cancel(f1));
	ck_assert_msg(cb_count(&log) == 2, "%d of 2 done callbacks had run when future_cancel "
		      "returned: cancelling ends the future and runs its callbacks",
		      cb_count(&log));
	for (int i = 0; i < 2; i++) {
		ck_assert_msg(log.order[i] == i, "callback %d ran in position %d", log.order[i], i);
		ck_assert_msg(log.seen[i] == FUTURE_CANCELLED, "inside a callback run by "
			      "future_cancel, future_state was %s, expected FUTURE_CANCELLED",
			      state_name(log.seen[i]));
	}
	ck_assert(future_cancel(f1));
	gate_open(&g);
	pool_shutdown(p, true, false);
	ck_assert_msg(cb_count(&log) == 2, "the callbacks of a cancelled future ran %d times in "
		      "all, expected once each (2)", cb_count(&log));
	future_release(f0);
	future_release(f1);
	pool_destroy(p);
}
END_TEST

/* ================================ shutdown ============================== */

START_TEST(test_pool_submit_after_shutdown_is_eshutdown)
{
	tl_counter_t runs;
	pool_t *p = make_pool(2);

	tl_counter_init(&runs);
	for (int round = 0; round < 2; round++) {
		future_t *f = (future_t *)&f;
		int rc;

		ck_assert_int_eq(pool_shutdown(p, round == 1, false), 0);
		rc = pool_submit(p, count_task, &runs, &f);
		ck_assert_msg(rc == ESHUTDOWN, "pool_submit after pool_shutdown(p, %s, false) "
			      "returned %d (%s), expected ESHUTDOWN", round ? "true" : "false",
			      rc, tl_errname(rc));
		ck_assert_msg(f == NULL, "pool_submit failed with ESHUTDOWN but left *out = %p",
			      (void *)f);
	}
	pool_destroy(p);
	ck_assert_msg(tl_counter_get(&runs) == 0, "a task refused with ESHUTDOWN ran");
}
END_TEST

START_TEST(test_pool_shutdown_wait_finishes_queued_tasks)
{
	enum { N = 6 };
	struct gate g;
	tl_counter_t runs;
	future_t *f[N];
	pool_t *p = make_pool(1);
	future_t *f0 = gate_submit(p, &g);
	enum future_state s;
	int rc;

	tl_counter_init(&runs);
	for (int i = 0; i < N; i++)
		f[i] = submit(p, count_task, &runs);
	/* The tasks are certainly still queued when the pool hears of the shutdown. */
	rc = pool_shutdown(p, false, false);
	ck_assert_msg(rc == 0, "pool_shutdown(p, false, false) returned %d (%s)", rc,
		      tl_errname(rc));
	s = future_state(f0);
	ck_assert_msg(s == FUTURE_RUNNING, "after pool_shutdown(p, wait=false, false) the running "
		      "task is in %s, expected FUTURE_RUNNING (shutdown does not stop tasks)",
		      state_name(s));
	gate_open(&g);
	rc = pool_shutdown(p, true, false);
	ck_assert_msg(rc == 0, "pool_shutdown(p, true, false) returned %d (%s)", rc,
		      tl_errname(rc));
	ck_assert_msg(tl_counter_get(&runs) == N,
		      "pool_shutdown(p, wait=true, false) returned when %ld of %d queued tasks had "
		      "run: after a shutdown the workers must still run every queued task before "
		      "they stop", tl_counter_get(&runs), N);
	for (int i = 0; i < N; i++) {
		s = future_state(f[i]);
		ck_assert_msg(s == FUTURE_DONE, "after pool_shutdown(p, true, false) returned, a "
			      "queued task is in %s, expected FUTURE_DONE", state_name(s));
		future_release(f[i]);
	}
	future_release(f0);
	pool_destroy(p);
}
END_TEST

struct shutdown_caller {
	pool_t *p;
	tl_latch_t *ready;
	int rc;
};

static void *shutdown_main(void *arg)
{
	struct shutdown_caller *c = arg;

	tl_latch_count_down(c->ready);
	c->rc = pool_shutdown(c->p, true, false);
	return NULL;
}

START_TEST(test_pool_shutdown_can_be_called_again)
{
	struct shutdown_caller callers[2];
	pthread_t tids[2];
	tl_latch_t ready;
	struct gate g;
	tl_counter_t runs;
	pool_t *p = make_pool(1);
	future_t *f0 = gate_submit(p, &g);
	future_t *f1;

	tl_counter_init(&runs);
	f1 = submit(p, count_task, &runs);
	/* Two threads wait in pool_shutdown(wait) at the same time. */
	tl_latch_init(&ready, 2);
	for (int i = 0; i < 2; i++)
		callers[i] = (struct shutdown_caller){ .p = p, .ready = &ready, .rc = -1 };
	ck_assert(tl_start_threads(tids, 2, shutdown_main, callers, sizeof callers[0]) == 0);
	tl_latch_wait(&ready);
	tl_sleep_ms(20);
	gate_open(&g);
	tl_join_all(tids, 2);
	for (int i = 0; i < 2; i++)
		ck_assert_msg(callers[i].rc == 0, "pool_shutdown(p, true, false), called by two "
			      "threads at once, returned %d (%s) in one of them, expected 0",
			      callers[i].rc, tl_errname(callers[i].rc));
	ck_assert_msg(tl_counter_get(&runs) == 1, "the queued task did not run before "
		      "pool_shutdown(p, true, false) returned");
	/* ... and once more, every way. */
	for (int i = 0; i < 4; i++) {
		int rc = pool_shutdown(p, i & 1, i & 2);

		ck_assert_msg(rc == 0, "pool_shutdown(p, %d, %d) on a pool already shut down "
			      "returned %d (%s), expected 0 (it is idempotent)", i & 1, !!(i & 2),
			      rc, tl_errname(rc));
	}
	ck_assert_int_eq(future_get(f1, 0, NULL, NULL), 0);
	future_release(f0);
	future_release(f1);
	pool_destroy(p);
}
END_TEST

START_TEST(test_pool_shutdown_cancel_pending_cancels_and_wakes_waiters)
{
	enum { N = 3 };
	struct getter gs[1];
	pthread_t tids[1];
	tl_latch_t ready, woke;
	struct cb_log log;
	struct cb_arg args[N];
	struct gate g;
	tl_counter_t runs;
	future_t *f[N];
	pool_t *p = make_pool(1);
	future_t *f0 = gate_submit(p, &g);
	int rc;

	cb_log_init(&log);
	tl_counter_init(&runs);
	for (int i = 0; i < N; i++) {
		f[i] = submit(p, count_task, &runs);
		args[i] = (struct cb_arg){ .log = &log, .id = i };
		ck_assert_int_eq(future_on_done(f[i], log_callback, &args[i]), 0);
	}
	getters_start(gs, tids, 1, f[1], &ready, &woke);
	rc = pool_shutdown(p, false, true);
	ck_assert_msg(rc == 0, "pool_shutdown(p, false, true) returned %d (%s)", rc,
		      tl_errname(rc));
	for (int i = 0; i < N; i++)
		ck_assert_msg(future_state(f[i]) == FUTURE_CANCELLED, "after pool_shutdown(p, "
			      "false, cancel_pending=true) a queued task is in %s, expected "
			      "FUTURE_CANCELLED", state_name(future_state(f[i])));
	ck_assert_msg(cb_count(&log) == N, "%d of the %d cancelled tasks' callbacks had run when "
		      "pool_shutdown(p, false, true) returned", cb_count(&log), N);
	ck_assert_msg(tl_latch_wait_ms(&woke, SLOW(2000)), "a thread blocked in future_get on a "
		      "queued task was still blocked 2 s after pool_shutdown(p, false, "
		      "cancel_pending=true): cancelling must wake the waiters");
	tl_join_all(tids, 1);
	ck_assert_msg(gs[0].rc == ECANCELED, "a waiter on a task cancelled by pool_shutdown woke "
		      "with %d (%s), expected ECANCELED", gs[0].rc, tl_errname(gs[0].rc));
	ck_assert_msg(future_state(f0) == FUTURE_RUNNING, "pool_shutdown(p, false, true) changed "
		      "the running task to %s: running tasks are not cancelled",
		      state_name(future_state(f0)));
	gate_open(&g);
	pool_shutdown(p, true, false);
	ck_assert_msg(future_state(f0) == FUTURE_DONE, "the task that was running during "
		      "pool_shutdown(cancel_pending) ended in %s, expected FUTURE_DONE",
		      state_name(future_state(f0)));
	ck_assert_msg(tl_counter_get(&runs) == 0, "%ld tasks cancelled by pool_shutdown ran",
		      tl_counter_get(&runs));
	ck_assert_msg(cb_count(&log) == N, "cancelled tasks' callbacks ran %d times, expected %d",
		      cb_count(&log), N);
	for (int i = 0; i < N; i++)
		future_release(f[i]);
	future_release(f0);
	pool_destroy(p);
}
END_TEST

/* =============================== lifecycle ============================== */

START_TEST(test_pool_destroy_stops_idle_workers)
{
	/* A pool whose workers never had a task, and one whose workers went back to waiting after
	 * tasks: pool_destroy must wake every one of them (a hang here is reported as a timeout). */
	pool_t *p = make_pool(4);
	struct square sq[6];

	tl_sleep_ms(SETTLE_MS);
	pool_destroy(p);
	p = make_pool(3);
	for (int i = 0; i < 6; i++) {
		future_t *f;

		sq[i] = (struct square){ .in = i };
		f = submit(p, square_task, &sq[i]);
		ck_assert_int_eq(future_get(f, SLOW(2000), NULL, NULL), 0);
		future_release(f);
	}
	tl_sleep_ms(SETTLE_MS);
	pool_destroy(p);
}
END_TEST

START_TEST(test_pool_future_valid_after_destroy)
{
	struct cb_log log;
	struct cb_arg args[2];
	struct square sq = { .in = 9 };
	struct gate g;
	tl_counter_t runs;
	pool_t *p = make_pool(1);
	future_t *f0 = gate_submit(p, &g);
	future_t *f1, *f2;
	void *res = NULL;
	int rc;

	cb_log_init(&log);
	tl_counter_init(&runs);
	f1 = submit(p, square_task, &sq);
	f2 = submit(p, count_task, &runs);
	ck_assert(future_cancel(f2));
	gate_open(&g);
	pool_destroy(p); /* waits for the queue: f1 runs */
	ck_assert_msg(future_state(f1) == FUTURE_DONE, "after pool_destroy a task that was queued "
		      "is in %s, expected FUTURE_DONE (destroy runs the queue first)",
		      state_name(future_state(f1)));
	rc = future_get(f1, 0, &res, NULL);
	ck_assert_msg(rc == 0 && res == &sq && sq.out == 81, "future_get after pool_destroy "
		      "returned %d (%s): futures stay valid until released", rc, tl_errname(rc));
	rc = future_get(f2, 0, NULL, NULL);
	ck_assert_msg(rc == ECANCELED, "future_get on a cancelled future after pool_destroy "
		      "returned %d (%s), expected ECANCELED", rc, tl_errname(rc));
	ck_assert(!future_cancel(f1));
	ck_assert(future_cancel(f2));
	for (int i = 0; i < 2; i++) {
		args[i] = (struct cb_arg){ .log = &log, .id = i };
		ck_assert_int_eq(future_on_done(i ? f2 : f1, log_callback, &args[i]), 0);
	}
	ck_assert_msg(cb_count(&log) == 2, "future_on_done after pool_destroy did not run the "
		      "callback at once");
	future_release(f0);
	future_release(f1);
	future_release(f2);
}
END_TEST

struct released {
	tl_counter_t runs;
	struct cb_log log;
};

START_TEST(test_future_release_before_completion_still_runs_task)
{
	struct released r;
	struct cb_arg arg;
	struct gate g;
	pool_t *p = make_pool(1);
	future_t *f0 = gate_submit(p, &g);
	future_t *f1;

	tl_counter_init(&r.runs);
	cb_log_init(&r.log);
	f1 = submit(p, count_task, &r.runs);
	arg = (struct cb_arg){ .log = &r.log, .id = 0 };
	ck_assert_int_eq(future_on_done(f1, log_callback, &arg), 0);
	future_release(f1); /* not a cancel: the task still runs, the callback still comes */
	future_release(f0);
	gate_open(&g);
	pool_destroy(p);
	ck_assert_msg(tl_counter_get(&r.runs) == 1, "a task whose future was released before it "
		      "ran did not run: future_release does not cancel");
	ck_assert_msg(cb_count(&r.log) == 1, "the done callback of a future released before its "
		      "task ran was called %d times, expected once", cb_count(&r.log));
	ck_assert_msg(r.log.seen[0] == FUTURE_DONE, "inside that callback future_state was %s, "
		      "expected FUTURE_DONE", state_name(r.log.seen[0]));
}
END_TEST

START_TEST(test_pool_leaks_no_thread)
{
	int before = count_threads();
	int after;
	pool_t *p = NULL;

	if (pool_create(&p, 0) == 0) /* wrong (another test says so), but must not leak */
		pool_destroy(p);
	after = threads_settle(before);
	ck_assert_msg(after == before, "pool_create(&p, 0) left %d thread(s) behind",
		      after - before);
	for (int round = 0; round < 2; round++) {
		p = make_pool(4);
		if (round == 1) {
			struct busy b;
			future_t *f[8];

			tl_counter_init(&b.running);
			tl_counter_init(&b.done);
			for (int i = 0; i < 8; i++)
				f[i] = submit(p, busy_task, &b);
			for (int i = 0; i < 8; i++) {
				ck_assert_int_eq(future_get(f[i], SLOW(2000), NULL, NULL), 0);
				future_release(f[i]);
			}
		}
		pool_destroy(p);
		after = threads_settle(before);
		ck_assert_msg(after == before, "after pool_destroy of a pool of 4 workers%s, the "
			      "process has %d thread(s) more than before pool_create: every worker "
			      "must stop and be joined", round ? " that ran 8 tasks" : "",
			      after - before);
	}
}
END_TEST
