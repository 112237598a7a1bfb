/* check_rlock.c - the Check tests of the RLock exercise (see tests/rlock/manifest.json).
 *
 * DESIGN: most claims need "another thread": a test drives one or more agents, each a thread
 * that runs one rlock call at a time on request and reports what it returned, how long it took
 * and how much CPU it used. The test (the main thread) posts a call, then either waits for the
 * answer with a deadline (agent_call) or lets it block and checks later (agent_post, then
 * agent_wait_done / agent_is_done). "The agent is now blocked in the call" is never assumed from a
 * sleep alone: the test waits until the agent has picked the call up, lets it settle for a short
 * time, and asserts only what must hold either way (a call that may not return yet has not
 * returned). A stuck agent never hangs a test: every wait has a deadline scaled by tl_slowdown(),
 * and an assertion failure ends the forked test process. Witnesses of "who is inside" are kept
 * under their own mutex, never with C11 atomics, so everything here also runs under helgrind.
 *
 * Lock order: an agent's mu and the witness's mu are never held together, and neither is held
 * while calling into rlock. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RUSAGE_THREAD */
#endif
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "rlock.h"
#include "tl_test.h"

/* How long a call that should return at once, or a waiter that was just let in, may take before
 * the test calls it stuck (native; stretched under valgrind). */
#define PROMPT_MS 2000L
/* Time given to a thread that was told to block so that it is really inside the call. */
#define SETTLE_MS 30L

static long scaled_ms(long ms)
{
	return (long)((double)ms * tl_slowdown());
}

/* ck_assert_msg on a return code: "<what> returned EBUSY, expected 0". The call is evaluated
 * once. */
#define EXPECT_RC(call, want, what, ...)                                                      \
	do {                                                                                  \
		int rc_ = (call), want_ = (want);                                             \
		ck_assert_msg(rc_ == want_, what " returned %s, expected %s", ##__VA_ARGS__,  \
			      tl_errname(rc_), tl_errname(want_));                            \
	} while (0)

static rlock_t *new_lock(void)
{
	rlock_t *l = NULL;
	int rc = rlock_create(&l);

	ck_assert_msg(rc == 0 && l != NULL,
		      "rlock_create(&l) returned %s and %s, expected 0 and a lock", tl_errname(rc),
		      l ? "a lock" : "l == NULL");
	return l;
}

/* ------------------------------------------------------------------------------------------ */
/* Agents: threads that make one rlock call at a time for the test. */

enum agent_op {
	OP_ACQUIRE,	   /* rc = rlock_acquire(l, timeout_ms) */
	OP_RELEASE,	   /* rc = rlock_release(l) */
	OP_RELEASE_ALL,	   /* rc = rlock_release_all(l, &value) */
	OP_REACQUIRE,	   /* rc = rlock_reacquire(l, n, timeout_ms) */
	OP_COUNT,	   /* value = rlock_count(l) */
	OP_IS_OWNED,	   /* value = rlock_is_owned(l) */
	OP_LOCKED,	   /* value = rlock_locked(l) */
	OP_SLEEP_RELEASE,  /* sleeps timeout_ms, then rc = rlock_release(l) */
	OP_ACQUIRE_HOLD,   /* rlock_acquire(l, -1), inside the witness for n ms, rlock_release */
	OP_QUIT,
};

/* Who is inside the lock right now, as seen by the threads that hold it. */
struct witness {
	pthread_mutex_t mu;
	int inside;	    /* guarded by mu: threads between "got the lock" and "about to release" */
	int violations;	    /* guarded by mu: times a thread found another one inside */
	char first[256];    /* guarded by mu: what the first violation was */
};

struct agent {
	rlock_t *l;
	struct witness *w; /* for OP_ACQUIRE_HOLD; set before agent_start */
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* CLOCK_MONOTONIC; signalled when any counter below moves */
	/* All guarded by mu: */
	unsigned posted, taken, done; /* calls posted / picked up by the agent / finished */
	enum agent_op op;
	long timeout_ms;
	unsigned n;
	int rc, rc2;	/* what the call returned (rc2: the release of OP_ACQUIRE_HOLD) */
	unsigned value; /* rlock_count, the bools, release_all's count */
	double ms;	/* wall time of the call */
	int64_t cpu_ns; /* the agent thread's CPU time during the call */
	long switches;	/* context switches of the agent thread during the call */
};

static void witness_init(struct witness *w)
{
	pthread_mutex_init(&w->mu, NULL);
	w->inside = 0;
	w->violations = 0;
	w->first[0] = '\0';
}

static void witness_enter(struct witness *w, const char *who)
{
	pthread_mutex_lock(&w->mu);
	if (w->inside != 0 && w->violations++ == 0)
		snprintf(w->first, sizeof w->first,
			 "%s got the lock while %d other thread(s) held it", who, w->inside);
	w->inside++;
	pthread_mutex_unlock(&w->mu);
}

static void witness_leave(struct witness *w)
{
	pthread_mutex_lock(&w->mu);
	w->inside--;
	pthread_mutex_unlock(&w->mu);
}

static int witness_violations(struct witness *w, char *first, size_t len)
{
	int v;

	pthread_mutex_lock(&w->mu);
	v = w->violations;
	snprintf(first, len, "%s", w->first);
	pthread_mutex_unlock(&w->mu);
	return v;
}

static void witness_destroy(struct witness *w)
{
	pthread_mutex_destroy(&w->mu);
}

static const char *op_name(enum agent_op op)
{
	switch (op) {
	case OP_ACQUIRE: return "rlock_acquire";
	case OP_RELEASE: return "rlock_release";
	case OP_RELEASE_ALL: return "rlock_release_all";
	case OP_REACQUIRE: return "rlock_reacquire";
	case OP_COUNT: return "rlock_count";
	case OP_IS_OWNED: return "rlock_is_owned";
	case OP_LOCKED: return "rlock_locked";
	case OP_SLEEP_RELEASE: return "rlock_release";
	case OP_ACQUIRE_HOLD: return "rlock_acquire";
	case OP_QUIT: break;
	}
	return "?";
}

static void *agent_main(void *arg)
{
	struct agent *a = arg;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		enum agent_op op;
		long timeout_ms;
		unsigned n, value = 0;
		int rc = 0, rc2 = 0;
		int64_t t0, c0;
		double ms;
		struct rusage ru0, ru1;

		while (a->taken == a->posted)
			pthread_cond_wait(&a->cv, &a->mu);
		op = a->op;
		timeout_ms = a->timeout_ms;
		n = a->n;
		a->taken++;
		pthread_cond_broadcast(&a->cv);
		if (op == OP_QUIT)
			break;
		pthread_mutex_unlock(&a->mu);

		if (op == OP_SLEEP_RELEASE)
			tl_sleep_ms(timeout_ms);
		getrusage(RUSAGE_THREAD, &ru0);
		t0 = tl_now_ns();
		c0 = tl_thread_cpu_ns();
		switch (op) {
		case OP_ACQUIRE: rc = rlock_acquire(a->l, timeout_ms); break;
		case OP_RELEASE: rc = rlock_release(a->l); break;
		case OP_RELEASE_ALL: rc = rlock_release_all(a->l, &value); break;
		case OP_REACQUIRE: rc = rlock_reacquire(a->l, n, timeout_ms); break;
		case OP_COUNT: value = rlock_count(a->l); break;
		case OP_IS_OWNED: value = rlock_is_owned(a->l); break;
		case OP_LOCKED: value = rlock_locked(a->l); break;
		case OP_SLEEP_RELEASE: rc = rlock_release(a->l); break;
		case OP_ACQUIRE_HOLD:
			rc = rlock_acquire(a->l, -1);
			if (rc == 0) {
				witness_enter(a->w, "a waiting thread");
				tl_sleep_ms(n);
				witness_leave(a->w);
				rc2 = rlock_release(a->l);
			}
			break;
		case OP_QUIT: break;
		}
		c0 = tl_thread_cpu_ns() - c0;
		ms = tl_elapsed_ms(t0);
		getrusage(RUSAGE_THREAD, &ru1);

		pthread_mutex_lock(&a->mu);
		a->rc = rc;
		a->rc2 = rc2;
		a->value = value;
		a->ms = ms;
		a->cpu_ns = c0;
		a->switches = (ru1.ru_nvcsw - ru0.ru_nvcsw) + (ru1.ru_nivcsw - ru0.ru_nivcsw);
		a->done++;
		pthread_cond_broadcast(&a->cv);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

static void agent_start(struct agent *a, rlock_t *l)
{
	pthread_condattr_t ca;
	int rc;

	a->l = l;
	a->posted = a->taken = a->done = 0;
	pthread_mutex_init(&a->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cv, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&a->tid, NULL, agent_main, a);
	ck_assert_msg(rc == 0, "test setup: pthread_create returned %s", tl_errname(rc));
}

/* Waits, with mu held, until *counter == target or the deadline passes; true if reached. */
static bool agent_wait_locked(struct agent *a, const unsigned *counter, unsigned target,
			      long timeout_ms)
{
	int64_t deadline = tl_now_ns() + (int64_t)timeout_ms * 1000000;
	struct timespec ts = { (time_t)(deadline / 1000000000), (long)(deadline % 1000000000) };

	while (*counter != target)
		if (pthread_cond_timedwait(&a->cv, &a->mu, &ts) == ETIMEDOUT)
			break;
	return *counter == target;
}

/* Posts a call without waiting for it. The agent must have finished its previous call. */
static void agent_post(struct agent *a, enum agent_op op, long timeout_ms, unsigned n)
{
	bool idle;

	pthread_mutex_lock(&a->mu);
	idle = a->done == a->posted;
	if (idle) {
		a->op = op;
		a->timeout_ms = timeout_ms;
		a->n = n;
		a->posted++;
		pthread_cond_broadcast(&a->cv);
	}
	pthread_mutex_unlock(&a->mu);
	ck_assert_msg(idle, "test bug: agent_post while the agent is busy");
}

/* Waits until the agent has picked up the posted call (it is about to make it or made it). */
static void agent_wait_taken(struct agent *a)
{
	bool taken;

	pthread_mutex_lock(&a->mu);
	taken = agent_wait_locked(a, &a->taken, a->posted, scaled_ms(PROMPT_MS));
	pthread_mutex_unlock(&a->mu);
	ck_assert_msg(taken, "test setup: a helper thread did not start its call");
}

/* Waits at most timeout_ms for the posted call to return; true if it did. */
static bool agent_wait_done(struct agent *a, long timeout_ms)
{
	bool done;

	pthread_mutex_lock(&a->mu);
	done = agent_wait_locked(a, &a->done, a->posted, timeout_ms);
	pthread_mutex_unlock(&a->mu);
	return done;
}

static bool agent_is_done(struct agent *a)
{
	return agent_wait_done(a, 0);
}

/* The results of the last finished call. */
static int agent_rc(struct agent *a)
{
	int rc;

	pthread_mutex_lock(&a->mu);
	rc = a->rc;
	pthread_mutex_unlock(&a->mu);
	return rc;
}

static int agent_rc2(struct agent *a)
{
	int rc;

	pthread_mutex_lock(&a->mu);
	rc = a->rc2;
	pthread_mutex_unlock(&a->mu);
	return rc;
}

static unsigned agent_value(struct agent *a)
{
	unsigned v;

	pthread_mutex_lock(&a->mu);
	v = a->value;
	pthread_mutex_unlock(&a->mu);
	return v;
}

static double agent_ms(struct agent *a)
{
	double ms;

	pthread_mutex_lock(&a->mu);
	ms = a->ms;
	pthread_mutex_unlock(&a->mu);
	return ms;
}

static int64_t agent_cpu_ns(struct agent *a)
{
	int64_t ns;

	pthread_mutex_lock(&a->mu);
	ns = a->cpu_ns;
	pthread_mutex_unlock(&a->mu);
	return ns;
}

static long agent_switches(struct agent *a)
{
	long n;

	pthread_mutex_lock(&a->mu);
	n = a->switches;
	pthread_mutex_unlock(&a->mu);
	return n;
}

/* Makes a call that must return promptly and returns its rc (or value for the queries). */
static int agent_call(struct agent *a, enum agent_op op, long timeout_ms, unsigned n)
{
	agent_post(a, op, timeout_ms, n);
	ck_assert_msg(agent_wait_done(a, scaled_ms(PROMPT_MS) + (timeout_ms > 0 ? timeout_ms : 0)),
		      "%s called by another thread did not return within %ld ms (it should not "
		      "block here)",
		      op_name(op), scaled_ms(PROMPT_MS) + (timeout_ms > 0 ? timeout_ms : 0));
	return (op == OP_COUNT || op == OP_IS_OWNED || op == OP_LOCKED) ? (int)agent_value(a)
									 : agent_rc(a);
}

/* Ends an agent that is idle. */
static void agent_stop(struct agent *a)
{
	agent_post(a, OP_QUIT, 0, 0);
	pthread_join(a->tid, NULL);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
}

/* Asserts what another thread (agent b) sees: not the owner, count 0, locked == want_locked. */
static void expect_seen_from_other(struct agent *b, bool want_locked, const char *state)
{
	unsigned count = (unsigned)agent_call(b, OP_COUNT, 0, 0);
	bool owned = agent_call(b, OP_IS_OWNED, 0, 0);
	bool locked = agent_call(b, OP_LOCKED, 0, 0);

	ck_assert_msg(count == 0,
		      "rlock_count called by a thread that does not own the lock returned %u, "
		      "expected 0 (%s)", count, state);
	ck_assert_msg(!owned,
		      "rlock_is_owned called by a thread that does not own the lock returned true "
		      "(%s)", state);
	ck_assert_msg(locked == want_locked,
		      "rlock_locked called by another thread returned %s, expected %s (%s)",
		      locked ? "true" : "false", want_locked ? "true" : "false", state);
}

/* Asserts the count that agent b sees of its own holding. */
static void expect_agent_count(struct agent *b, unsigned want, const char *state)
{
	unsigned count = (unsigned)agent_call(b, OP_COUNT, 0, 0);

	ck_assert_msg(count == want, "rlock_count returned %u, expected %u (%s)", count, want,
		      state);
}

/* Asserts what the calling thread sees of its own holding. */
#define EXPECT_MINE(l, want_count, state)                                                     \
	do {                                                                                  \
		unsigned c_ = rlock_count(l);                                                 \
		bool o_ = rlock_is_owned(l), k_ = rlock_locked(l);                            \
		ck_assert_msg(c_ == (unsigned)(want_count),                                   \
			      "rlock_count returned %u, expected %u (%s)", c_,                \
			      (unsigned)(want_count), state);                                 \
		ck_assert_msg(o_ == ((want_count) > 0),                                       \
			      "rlock_is_owned returned %s, expected %s (%s)",                 \
			      o_ ? "true" : "false", (want_count) > 0 ? "true" : "false", state); \
		if ((want_count) > 0)                                                         \
			ck_assert_msg(k_, "rlock_locked returned false, expected true (%s)",  \
				      state);                                                 \
	} while (0)

/* ------------------------------------------------------------------------------------------ */
/* basics */

START_TEST(test_rlock_new_lock_is_free)
{
	rlock_t *l = new_lock();
	struct agent b;

	EXPECT_MINE(l, 0, "a new lock");
	ck_assert_msg(!rlock_locked(l), "rlock_locked on a new lock returned true, expected false");
	agent_start(&b, l);
	expect_seen_from_other(&b, false, "a new lock, seen from another thread");
	EXPECT_RC(agent_call(&b, OP_ACQUIRE, 0, 0), 0,
		  "rlock_acquire(l, 0) on a new lock by another thread");
	EXPECT_RC(agent_call(&b, OP_RELEASE, 0, 0), 0, "rlock_release by that thread");
	agent_stop(&b);
	rlock_destroy(l);
	rlock_destroy(NULL); /* must do nothing */
}
END_TEST

START_TEST(test_rlock_null_arguments_are_einval)
{
	rlock_t *l = new_lock();
	unsigned saved = 12345;

	EXPECT_RC(rlock_create(NULL), EINVAL, "rlock_create(NULL)");
	EXPECT_RC(rlock_acquire(NULL, -1), EINVAL, "rlock_acquire(NULL, -1)");
	EXPECT_RC(rlock_acquire(NULL, 0), EINVAL, "rlock_acquire(NULL, 0)");
	EXPECT_RC(rlock_release(NULL), EINVAL, "rlock_release(NULL)");
	EXPECT_RC(rlock_release_all(NULL, &saved), EINVAL, "rlock_release_all(NULL, &count)");
	EXPECT_RC(rlock_reacquire(NULL, 1, -1), EINVAL, "rlock_reacquire(NULL, 1, -1)");
	ck_assert_msg(rlock_count(NULL) == 0, "rlock_count(NULL) returned %u, expected 0",
		      rlock_count(NULL));
	ck_assert_msg(!rlock_is_owned(NULL), "rlock_is_owned(NULL) returned true, expected false");
	ck_assert_msg(!rlock_locked(NULL), "rlock_locked(NULL) returned true, expected false");
	rlock_destroy(NULL);

	EXPECT_RC(rlock_acquire(l, -1), 0, "rlock_acquire(l, -1) on a free lock");
	EXPECT_RC(rlock_acquire(l, 0), 0, "rlock_acquire(l, 0) by the owner");
	EXPECT_RC(rlock_release_all(l, NULL), EINVAL, "rlock_release_all(l, NULL) by the owner");
	EXPECT_MINE(l, 2, "after rlock_release_all(l, NULL) failed: nothing may change");
	EXPECT_RC(rlock_release_all(l, &saved), 0, "rlock_release_all(l, &count) by the owner");
	ck_assert_msg(saved == 2, "rlock_release_all stored count %u, expected 2", saved);
	rlock_destroy(l);
}
END_TEST

START_TEST(test_rlock_acquire_then_release_frees_the_lock)
{
	rlock_t *l = new_lock();
	struct agent b;

	agent_start(&b, l);
	EXPECT_RC(rlock_acquire(l, -1), 0, "rlock_acquire(l, -1) on a free lock");
	EXPECT_MINE(l, 1, "after one rlock_acquire");
	EXPECT_RC(rlock_release(l), 0, "rlock_release by the owner");
	EXPECT_MINE(l, 0, "after acquire then release");
	ck_assert_msg(!rlock_locked(l),
		      "rlock_locked returned true after acquire then release, expected false");
	expect_seen_from_other(&b, false, "after the main thread acquired and released the lock");
	EXPECT_RC(agent_call(&b, OP_ACQUIRE, 0, 0), 0,
		  "rlock_acquire(l, 0) by another thread after the owner released the lock");
	EXPECT_RC(agent_call(&b, OP_RELEASE, 0, 0), 0, "rlock_release by that thread");
	EXPECT_RC(rlock_acquire(l, 0), 0, "rlock_acquire(l, 0) on a free lock");
	EXPECT_RC(rlock_release(l), 0, "rlock_release by the owner");
	agent_stop(&b);
	rlock_destroy(l);
}
END_TEST

START_TEST(test_rlock_bad_timeout_is_einval)
{
	rlock_t *l = new_lock();
	struct agent b;

	EXPECT_RC(rlock_acquire(l, -2), EINVAL, "rlock_acquire(l, -2) on a free lock");
	EXPECT_RC(rlock_acquire(l, LONG_MIN), EINVAL, "rlock_acquire(l, LONG_MIN) on a free lock");
	EXPECT_RC(rlock_reacquire(l, 1, -2), EINVAL, "rlock_reacquire(l, 1, -2) on a free lock");
	EXPECT_MINE(l, 0, "after calls that returned EINVAL on a free lock");
	ck_assert_msg(!rlock_locked(l), "rlock_locked returned true after calls that returned "
		      "EINVAL on a free lock: a failed call must not take the lock");

	EXPECT_RC(rlock_acquire(l, -1), 0, "rlock_acquire(l, -1) on a free lock");
	EXPECT_RC(rlock_acquire(l, -7), EINVAL, "rlock_acquire(l, -7) by the owner");
	EXPECT_MINE(l, 1, "the owner's rlock_acquire(l, -7) returned EINVAL: count unchanged");

	agent_start(&b, l);
	EXPECT_RC(agent_call(&b, OP_ACQUIRE, -5, 0), EINVAL,
		  "rlock_acquire(l, -5) by a thread while another thread holds the lock");
	EXPECT_RC(agent_call(&b, OP_REACQUIRE, -3, 2), EINVAL,
		  "rlock_reacquire(l, 2, -3) by a thread while another thread holds the lock");
	expect_seen_from_other(&b, true, "after its calls returned EINVAL");
	EXPECT_MINE(l, 1, "the owner, after another thread's calls returned EINVAL");
	EXPECT_RC(rlock_release(l), 0, "rlock_release by the owner");
	agent_stop(&b);
	rlock_destroy(l);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* reentrancy */

START_TEST(test_rlock_owner_reacquires_with_try)
{
	rlock_t *l = new_lock();

	EXPECT_RC(rlock_acquire(l, -1), 0, "rlock_acquire(l, -1) on a free lock");
	EXPECT_RC(rlock_acquire(l, 0), 0,
		  "rlock_acquire(l, 0) by the thread that already owns the lock (the owner must "
		  "re-acquire at once)");
	EXPECT_MINE(l, 2, "after acquire(-1) then acquire(0) by the same thread");
	EXPECT_RC(rlock_acquire(l, 0), 0, "a third rlock_acquire(l, 0) by the owner");
	EXPECT_MINE(l, 3, "after three acquires by the same thread");
	for (unsigned i = 3; i > 0; i--) {
		EXPECT_RC(rlock_release(l), 0, "rlock_release by the owner at count %u", i);
		EXPECT_MINE(l, i - 1, "each release undoes one acquire");
	}
	ck_assert_msg(!rlock_locked(l), "rlock_locked returned true after three acquires and "
		      "three releases, expected false");
	rlock_destroy(l);
}
END_TEST

START_TEST(test_rlock_owner_reacquires_with_timeout)
{
	rlock_t *l = new_lock();

	EXPECT_RC(rlock_acquire(l, 100), 0, "rlock_acquire(l, 100) on a free lock");
	EXPECT_RC(rlock_acquire(l, 100), 0,
		  "rlock_acquire(l, 100) by the thread that already owns the lock (the owner must "
		  "re-acquire at once, not wait for itself)");
	EXPECT_MINE(l, 2, "after two timed acquires by the same thread");
	EXPECT_RC(rlock_release(l), 0, "rlock_release by the owner at count 2");
	EXPECT_MINE(l, 1, "after two acquires and one release");
	EXPECT_RC(rlock_release(l), 0, "rlock_release by the owner at count 1");
	EXPECT_MINE(l, 0, "after two acquires and two releases");
	rlock_destroy(l);
}
END_TEST

START_TEST(test_rlock_owner_reacquires_blocking)
{
	rlock_t *l = new_lock();
	struct agent b;

	/* The owner is an agent so that a lock that makes the owner wait for itself fails this
	 * test with a message instead of hanging it. */
	agent_start(&b, l);
	for (unsigned i = 1; i <= 4; i++) {
		agent_post(&b, OP_ACQUIRE, -1, 0);
		ck_assert_msg(agent_wait_done(&b, scaled_ms(PROMPT_MS)),
			      "rlock_acquire(l, -1) number %u by the thread that already owns the "
			      "lock did not return within %ld ms: the owner must re-acquire at "
			      "once, without waiting for itself", i, scaled_ms(PROMPT_MS));
		EXPECT_RC(agent_rc(&b), 0, "rlock_acquire(l, -1) number %u by the same thread", i);
		ck_assert_msg((unsigned)agent_call(&b, OP_COUNT, 0, 0) == i,
			      "rlock_count by the owner returned %u after %u acquires, expected %u",
			      agent_value(&b), i, i);
	}
	ck_assert_msg(rlock_locked(l), "rlock_locked returned false while another thread holds "
		      "the lock 4 times");
	for (unsigned i = 4; i > 0; i--)
		EXPECT_RC(agent_call(&b, OP_RELEASE, 0, 0), 0,
			  "rlock_release by the owner at count %u", i);
	ck_assert_msg(!rlock_locked(l), "rlock_locked returned true after 4 acquires and 4 "
		      "releases, expected false");
	agent_stop(&b);
	rlock_destroy(l);
}
END_TEST

START_TEST(test_rlock_each_release_undoes_one_acquire)
{
	rlock_t *l = new_lock();
	struct agent b;

	agent_start(&b, l);
	EXPECT_RC(rlock_acquire(l, -1), 0, "rlock_acquire(l, -1) on a free lock");
	EXPECT_RC(rlock_acquire(l, 0), 0, "rlock_acquire(l, 0) by the owner");
	EXPECT_RC(rlock_acquire(l, 50), 0, "rlock_acquire(l, 50) by the owner");
	EXPECT_RC(rlock_acquire(l, -1), 0, "rlock_acquire(l, -1) by the owner");
	EXPECT_MINE(l, 4, "after 4 acquires by the same thread");
	for (unsigned i = 4; i > 0; i--) {
		/* While the owner still holds it, nobody else may get it. */
		int rc = agent_call(&b, OP_ACQUIRE, 0, 0);

		ck_assert_msg(rc == EBUSY,
			      "rlock_acquire(l, 0) by another thread returned %s while the owner "
			      "still held the lock with count %u, expected EBUSY: the lock is free "
			      "only after the last release", tl_errname(rc), i);
		EXPECT_RC(rlock_release(l), 0, "rlock_release by the owner at count %u", i);
		EXPECT_MINE(l, i - 1, "each release undoes exactly one acquire");
	}
	ck_assert_msg(!rlock_locked(l), "rlock_locked returned true after 4 acquires and 4 "
		      "releases, expected false");
	EXPECT_RC(agent_call(&b, OP_ACQUIRE, 0, 0), 0,
		  "rlock_acquire(l, 0) by another thread after the owner's last release");
	EXPECT_RC(agent_call(&b, OP_RELEASE, 0, 0), 0, "rlock_release by that thread");
	agent_stop(&b);
	rlock_destroy(l);
}
END_TEST

START_TEST(test_rlock_count_overflow_is_eagain)
{
	rlock_t *l = new_lock();

	EXPECT_RC(rlock_reacquire(l, UINT_MAX, -1), 0, "rlock_reacquire(l, UINT_MAX, -1) on a "
		  "free lock");
	EXPECT_MINE(l, UINT_MAX, "after rlock_reacquire(l, UINT_MAX, -1)");
	EXPECT_RC(rlock_acquire(l, 0), EAGAIN,
		  "rlock_acquire(l, 0) by the owner at count UINT_MAX");
	EXPECT_RC(rlock_acquire(l, -1), EAGAIN,
		  "rlock_acquire(l, -1) by the owner at count UINT_MAX");
	EXPECT_RC(rlock_reacquire(l, 1, 0), EAGAIN,
		  "rlock_reacquire(l, 1, 0) by the owner at count UINT_MAX");
	EXPECT_MINE(l, UINT_MAX, "after calls that returned EAGAIN: the count must not wrap");
	EXPECT_RC(rlock_release(l), 0, "rlock_release by the owner at count UINT_MAX");
	EXPECT_MINE(l, UINT_MAX - 1, "after one release from UINT_MAX");
	EXPECT_RC(rlock_reacquire(l, 2, 0), EAGAIN,
		  "rlock_reacquire(l, 2, 0) by the owner at count UINT_MAX - 1");
	EXPECT_RC(rlock_acquire(l, 0), 0, "rlock_acquire(l, 0) by the owner at count UINT_MAX - 1");
	EXPECT_MINE(l, UINT_MAX, "back at UINT_MAX");
	/* The lock stays held: freeing it would take 4 billion releases (or rlock_release_all,
	 * which the release_all tests cover), and the test process ends here anyway. */
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* ownership */

START_TEST(test_rlock_release_by_non_owner_is_eperm)
{
	rlock_t *l = new_lock();
	struct agent b;

	agent_start(&b, l);
	EXPECT_RC(rlock_acquire(l, -1), 0, "rlock_acquire(l, -1) on a free lock");
	EXPECT_RC(rlock_acquire(l, 0), 0, "rlock_acquire(l, 0) by the owner");
	EXPECT_RC(agent_call(&b, OP_RELEASE, 0, 0), EPERM,
		  "rlock_release by a thread that does not own the lock (the main thread holds "
		  "it twice)");
	EXPECT_MINE(l, 2, "the owner, after another thread's rlock_release returned EPERM: owner "
		    "and count must be unchanged");
	expect_seen_from_other(&b, true, "the thread whose rlock_release was refused");
	EXPECT_RC(agent_call(&b, OP_ACQUIRE, 0, 0), EBUSY,
		  "rlock_acquire(l, 0) by the thread whose rlock_release was refused (the main "
		  "thread still holds the lock)");
	EXPECT_RC(rlock_release(l), 0, "rlock_release by the owner at count 2");
	EXPECT_RC(agent_call(&b, OP_RELEASE, 0, 0), EPERM,
		  "rlock_release by a thread that does not own the lock (the main thread holds "
		  "it once)");
	EXPECT_MINE(l, 1, "the owner, after another thread's second refused rlock_release");
	EXPECT_RC(rlock_release(l), 0, "rlock_release by the owner at count 1");
	EXPECT_RC(agent_call(&b, OP_ACQUIRE, 0, 0), 0,
		  "rlock_acquire(l, 0) by another thread once the owner released the lock");
	EXPECT_RC(rlock_release(l), EPERM,
		  "rlock_release by the main thread while another thread holds the lock");
	expect_agent_count(&b, 1, "the owner, after another thread's refused release");
	EXPECT_RC(agent_call(&b, OP_RELEASE, 0, 0), 0, "rlock_release by the owner");
	agent_stop(&b);
	rlock_destroy(l);
}
END_TEST

START_TEST(test_rlock_release_of_free_lock_is_eperm)
{
	rlock_t *l = new_lock();
	struct agent b;

	EXPECT_RC(rlock_release(l), EPERM, "rlock_release of a new (free) lock");
	EXPECT_MINE(l, 0, "after rlock_release of a free lock returned EPERM");
	ck_assert_msg(!rlock_locked(l),
		      "rlock_locked returned true after a refused rlock_release of a free lock");
	EXPECT_RC(rlock_acquire(l, 0), 0, "rlock_acquire(l, 0) after a refused release");
	EXPECT_MINE(l, 1, "after a refused release then one acquire (the count must not have "
		    "gone below 0 or wrapped)");
	EXPECT_RC(rlock_release(l), 0, "rlock_release by the owner at count 1");
	EXPECT_RC(rlock_release(l), EPERM, "a second rlock_release after the lock became free");
	EXPECT_MINE(l, 0, "after one acquire and two releases");
	ck_assert_msg(!rlock_locked(l), "rlock_locked returned true, expected false");
	agent_start(&b, l);
	EXPECT_RC(agent_call(&b, OP_RELEASE, 0, 0), EPERM,
		  "rlock_release of a free lock by another thread");
	EXPECT_RC(agent_call(&b, OP_ACQUIRE, 0, 0), 0,
		  "rlock_acquire(l, 0) by another thread after refused releases");
	EXPECT_RC(agent_call(&b, OP_RELEASE, 0, 0), 0, "rlock_release by that thread");
	agent_stop(&b);
	rlock_destroy(l);
}
END_TEST

START_TEST(test_rlock_other_thread_sees_locked_with_count_zero)
{
	rlock_t *l = new_lock();
	struct agent b;

	agent_start(&b, l);
	for (int i = 0; i < 3; i++)
		EXPECT_RC(rlock_acquire(l, i ? 0 : -1), 0, "rlock_acquire(l, %d) number %d",
			  i ? 0 : -1, i + 1);
	expect_seen_from_other(&b, true, "the main thread holds the lock 3 times");
	EXPECT_MINE(l, 3, "the owner, after another thread looked at the lock");
	for (int i = 0; i < 3; i++)
		EXPECT_RC(rlock_release(l), 0, "rlock_release number %d", i + 1);

	EXPECT_RC(agent_call(&b, OP_ACQUIRE, -1, 0), 0, "rlock_acquire(l, -1) by another thread");
	EXPECT_RC(agent_call(&b, OP_ACQUIRE, 0, 0), 0, "rlock_acquire(l, 0) by the owner");
	ck_assert_msg(rlock_locked(l),
		      "rlock_locked returned false while another thread holds the lock twice");
	EXPECT_MINE(l, 0, "another thread holds the lock twice");
	expect_agent_count(&b, 2, "another thread that acquired the lock twice");
	EXPECT_RC(agent_call(&b, OP_RELEASE, 0, 0), 0, "rlock_release by the owner");
	EXPECT_RC(agent_call(&b, OP_RELEASE, 0, 0), 0, "rlock_release by the owner");
	ck_assert_msg(!rlock_locked(l), "rlock_locked returned true after the owner released "
		      "every hold");
	agent_stop(&b);
	rlock_destroy(l);
}
END_TEST

START_TEST(test_rlock_try_on_lock_held_elsewhere_is_ebusy)
{
	rlock_t *l = new_lock();
	struct agent b;
	int64_t t0;
	double ms;
	int rc;

	agent_start(&b, l);
	EXPECT_RC(agent_call(&b, OP_ACQUIRE, -1, 0), 0, "rlock_acquire(l, -1) by another thread");
	EXPECT_RC(agent_call(&b, OP_ACQUIRE, 0, 0), 0, "rlock_acquire(l, 0) by the owner");
	t0 = tl_now_ns();
	rc = rlock_acquire(l, 0);
	ms = tl_elapsed_ms(t0);
	EXPECT_RC(rc, EBUSY, "rlock_acquire(l, 0) while another thread holds the lock");
	ck_assert_msg(ms < scaled_ms(500),
		      "rlock_acquire(l, 0) on a lock held elsewhere took %.0f ms: timeout 0 must "
		      "try once and return at once", ms);
	t0 = tl_now_ns();
	rc = rlock_reacquire(l, 2, 0);
	ms = tl_elapsed_ms(t0);
	EXPECT_RC(rc, EBUSY, "rlock_reacquire(l, 2, 0) while another thread holds the lock");
	ck_assert_msg(ms < scaled_ms(500),
		      "rlock_reacquire(l, 2, 0) on a lock held elsewhere took %.0f ms: timeout 0 "
		      "must try once and return at once", ms);
	EXPECT_MINE(l, 0, "after rlock_acquire(l, 0) returned EBUSY");
	expect_agent_count(&b, 2, "the owner, after another thread's try failed");
	EXPECT_RC(agent_call(&b, OP_RELEASE, 0, 0), 0, "rlock_release by the owner");
	EXPECT_RC(rlock_acquire(l, 0), EBUSY,
		  "rlock_acquire(l, 0) while another thread still holds the lock once");
	EXPECT_RC(agent_call(&b, OP_RELEASE, 0, 0), 0, "rlock_release by the owner");
	EXPECT_RC(rlock_acquire(l, 0), 0, "rlock_acquire(l, 0) after the owner released the lock");
	EXPECT_MINE(l, 1, "after a successful try");
	EXPECT_RC(rlock_release(l), 0, "rlock_release by the owner");
	agent_stop(&b);
	rlock_destroy(l);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* release_all / reacquire */

START_TEST(test_rlock_release_all_reacquire_round_trips_count)
{
	rlock_t *l = new_lock();
	struct agent b;
	unsigned saved = 0;

	agent_start(&b, l);
	for (int i = 0; i < 3; i++)
		EXPECT_RC(rlock_acquire(l, i ? 0 : -1), 0, "rlock_acquire(l, %d) number %d",
			  i ? 0 : -1, i + 1);
	EXPECT_RC(rlock_release_all(l, &saved), 0, "rlock_release_all by the owner at count 3");
	ck_assert_msg(saved == 3, "rlock_release_all stored count %u, expected 3", saved);
	EXPECT_MINE(l, 0, "after rlock_release_all");
	ck_assert_msg(!rlock_locked(l), "rlock_locked returned true after rlock_release_all, "
		      "expected false: release_all frees the lock whatever the count");
	EXPECT_RC(agent_call(&b, OP_ACQUIRE, 0, 0), 0,
		  "rlock_acquire(l, 0) by another thread after the owner's rlock_release_all");
	EXPECT_RC(agent_call(&b, OP_RELEASE, 0, 0), 0, "rlock_release by that thread");
	EXPECT_RC(rlock_reacquire(l, saved, -1), 0, "rlock_reacquire(l, 3, -1) on a free lock");
	EXPECT_MINE(l, 3, "after rlock_reacquire(l, 3, -1)");
	EXPECT_RC(agent_call(&b, OP_ACQUIRE, 0, 0), EBUSY,
		  "rlock_acquire(l, 0) by another thread after the owner's rlock_reacquire");
	for (unsigned i = 3; i > 0; i--) {
		EXPECT_RC(rlock_release(l), 0, "rlock_release at count %u after rlock_reacquire", i);
		EXPECT_MINE(l, i - 1, "releasing what rlock_reacquire took");
	}
	ck_assert_msg(!rlock_locked(l), "rlock_locked returned true, expected false");

	/* Round trip again with a count of 1, and with a timed reacquire. */
	EXPECT_RC(rlock_acquire(l, 0), 0, "rlock_acquire(l, 0) on a free lock");
	EXPECT_RC(rlock_release_all(l, &saved), 0, "rlock_release_all by the owner at count 1");
	ck_assert_msg(saved == 1, "rlock_release_all stored count %u, expected 1", saved);
	EXPECT_RC(rlock_reacquire(l, saved, 100), 0, "rlock_reacquire(l, 1, 100) on a free lock");
	EXPECT_MINE(l, 1, "after rlock_reacquire(l, 1, 100)");
	EXPECT_RC(rlock_release(l), 0, "rlock_release at count 1");
	agent_stop(&b);
	rlock_destroy(l);
}
END_TEST

START_TEST(test_rlock_release_all_by_non_owner_is_eperm)
{
	rlock_t *l = new_lock();
	struct agent b;

	agent_start(&b, l);
	EXPECT_RC(rlock_acquire(l, -1), 0, "rlock_acquire(l, -1) on a free lock");
	EXPECT_RC(rlock_acquire(l, 0), 0, "rlock_acquire(l, 0) by the owner");
	EXPECT_RC(agent_call(&b, OP_RELEASE_ALL, 0, 0), EPERM,
		  "rlock_release_all by a thread that does not own the lock (the main thread "
		  "holds it twice)");
	EXPECT_MINE(l, 2, "the owner, after another thread's rlock_release_all returned EPERM");
	expect_seen_from_other(&b, true, "the thread whose rlock_release_all was refused");
	EXPECT_RC(agent_call(&b, OP_ACQUIRE, 0, 0), EBUSY,
		  "rlock_acquire(l, 0) by another thread after its refused rlock_release_all (the "
		  "main thread still holds the lock)");
	EXPECT_RC(rlock_release(l), 0, "rlock_release by the owner at count 2");
	EXPECT_RC(rlock_release(l), 0, "rlock_release by the owner at count 1");
	agent_stop(&b);
	rlock_destroy(l);
}
END_TEST

START_TEST(test_rlock_release_all_on_free_lock_is_eperm)
{
	rlock_t *l = new_lock();
	unsigned saved = 77;

	EXPECT_RC(rlock_release_all(l, &saved), EPERM, "rlock_release_all on a new (free) lock");
	EXPECT_MINE(l, 0, "after a refused rlock_release_all");
	ck_assert_msg(!rlock_locked(l), "rlock_locked returned true after a refused "
		      "rlock_release_all on a free lock");
	EXPECT_RC(rlock_acquire(l, 0), 0, "rlock_acquire(l, 0) after a refused release_all");
	EXPECT_MINE(l, 1, "after one acquire following a refused release_all");
	EXPECT_RC(rlock_release_all(l, &saved), 0, "rlock_release_all by the owner at count 1");
	EXPECT_RC(rlock_release_all(l, &saved), EPERM,
		  "a second rlock_release_all after the lock became free");
	ck_assert_msg(!rlock_locked(l), "rlock_locked returned true, expected false");
	rlock_destroy(l);
}
END_TEST

START_TEST(test_rlock_reacquire_count_zero_is_einval)
{
	rlock_t *l = new_lock();

	EXPECT_RC(rlock_reacquire(l, 0, -1), EINVAL, "rlock_reacquire(l, 0, -1) on a free lock");
	EXPECT_RC(rlock_reacquire(l, 0, 0), EINVAL, "rlock_reacquire(l, 0, 0) on a free lock");
	EXPECT_MINE(l, 0, "after rlock_reacquire with count 0 returned EINVAL");
	ck_assert_msg(!rlock_locked(l), "rlock_locked returned true after rlock_reacquire(l, 0, "
		      "...) was refused: a lock held with count 0 could never be released");
	EXPECT_RC(rlock_acquire(l, -1), 0, "rlock_acquire(l, -1) on a free lock");
	EXPECT_RC(rlock_acquire(l, 0), 0, "rlock_acquire(l, 0) by the owner");
	EXPECT_RC(rlock_reacquire(l, 0, 0), EINVAL, "rlock_reacquire(l, 0, 0) by the owner");
	EXPECT_MINE(l, 2, "the owner, after its rlock_reacquire with count 0 returned EINVAL");
	EXPECT_RC(rlock_release(l), 0, "rlock_release at count 2");
	EXPECT_RC(rlock_release(l), 0, "rlock_release at count 1");
	rlock_destroy(l);
}
END_TEST

START_TEST(test_rlock_reacquire_waits_while_held_elsewhere)
{
	rlock_t *l = new_lock();
	struct agent b;
	int64_t t0;
	double ms;
	int rc;

	agent_start(&b, l);
	EXPECT_RC(rlock_acquire(l, -1), 0, "rlock_acquire(l, -1) on a free lock");
	EXPECT_RC(agent_call(&b, OP_REACQUIRE, 0, 2), EBUSY,
		  "rlock_reacquire(l, 2, 0) by a thread while another thread holds the lock");
	t0 = tl_now_ns();
	EXPECT_RC(agent_call(&b, OP_REACQUIRE, 100, 2), ETIMEDOUT,
		  "rlock_reacquire(l, 2, 100) by a thread while another thread holds the lock");
	ms = tl_elapsed_ms(t0);
	ck_assert_msg(ms >= 99.0, "rlock_reacquire(l, 2, 100) returned ETIMEDOUT after %.1f ms, "
		      "expected at least 100 ms", ms);

	agent_post(&b, OP_REACQUIRE, -1, 4);
	agent_wait_taken(&b);
	ck_assert_msg(!agent_wait_done(&b, SETTLE_MS),
		      "rlock_reacquire(l, 4, -1) by another thread returned %s while the main "
		      "thread held the lock: it must wait until the lock is free",
		      tl_errname(agent_rc(&b)));
	EXPECT_MINE(l, 1, "the owner, while another thread waits in rlock_reacquire");
	EXPECT_RC(rlock_release(l), 0, "rlock_release by the owner");
	ck_assert_msg(agent_wait_done(&b, scaled_ms(PROMPT_MS)),
		      "rlock_reacquire(l, 4, -1) in another thread did not return within %ld ms "
		      "after the owner released the lock: a release that frees the lock must wake "
		      "a waiting thread", scaled_ms(PROMPT_MS));
	rc = agent_rc(&b);
	EXPECT_RC(rc, 0, "rlock_reacquire(l, 4, -1) after the lock became free");
	expect_agent_count(&b, 4, "after rlock_reacquire(l, 4, -1)");
	EXPECT_MINE(l, 0, "the main thread, after another thread reacquired the lock");
	EXPECT_RC(agent_call(&b, OP_RELEASE_ALL, 0, 0), 0, "rlock_release_all by the owner");
	ck_assert_msg(agent_value(&b) == 4, "rlock_release_all stored count %u, expected 4",
		      agent_value(&b));
	agent_stop(&b);
	rlock_destroy(l);
}
END_TEST

START_TEST(test_rlock_reacquire_by_owner_adds_count)
{
	rlock_t *l = new_lock();
	unsigned saved = 0;

	EXPECT_RC(rlock_acquire(l, -1), 0, "rlock_acquire(l, -1) on a free lock");
	EXPECT_RC(rlock_reacquire(l, 2, 0), 0,
		  "rlock_reacquire(l, 2, 0) by the thread that owns the lock at count 1");
	EXPECT_MINE(l, 3, "rlock_reacquire(l, 2, 0) by the owner adds 2 to its count 1");
	EXPECT_RC(rlock_reacquire(l, 3, -1), 0,
		  "rlock_reacquire(l, 3, -1) by the thread that owns the lock at count 3");
	EXPECT_MINE(l, 6, "rlock_reacquire(l, 3, -1) by the owner adds 3 to its count 3");
	EXPECT_RC(rlock_release_all(l, &saved), 0, "rlock_release_all by the owner");
	ck_assert_msg(saved == 6, "rlock_release_all stored count %u, expected 6", saved);
	rlock_destroy(l);
}
END_TEST

START_TEST(test_rlock_release_all_wakes_a_waiter)
{
	rlock_t *l = new_lock();
	struct agent b;
	unsigned saved = 0;

	agent_start(&b, l);
	EXPECT_RC(rlock_acquire(l, -1), 0, "rlock_acquire(l, -1) on a free lock");
	EXPECT_RC(rlock_acquire(l, 0), 0, "rlock_acquire(l, 0) by the owner");
	agent_post(&b, OP_ACQUIRE, -1, 0);
	agent_wait_taken(&b);
	ck_assert_msg(!agent_wait_done(&b, SETTLE_MS),
		      "rlock_acquire(l, -1) by another thread returned %s while the main thread "
		      "held the lock twice", tl_errname(agent_rc(&b)));
	EXPECT_RC(rlock_release_all(l, &saved), 0, "rlock_release_all by the owner at count 2");
	ck_assert_msg(agent_wait_done(&b, scaled_ms(PROMPT_MS)),
		      "a thread waiting in rlock_acquire(l, -1) did not get the lock within %ld ms "
		      "after the owner's rlock_release_all: release_all frees the lock, so it must "
		      "wake a waiter too", scaled_ms(PROMPT_MS));
	EXPECT_RC(agent_rc(&b), 0, "rlock_acquire(l, -1) by the waiting thread");
	EXPECT_RC(rlock_reacquire(l, saved, 0), EBUSY,
		  "rlock_reacquire(l, 2, 0) while the other thread holds the lock");
	EXPECT_RC(agent_call(&b, OP_RELEASE, 0, 0), 0, "rlock_release by the other thread");
	EXPECT_RC(rlock_reacquire(l, saved, -1), 0, "rlock_reacquire(l, 2, -1) on a free lock");
	EXPECT_MINE(l, 2, "after rlock_reacquire(l, 2, -1)");
	EXPECT_RC(rlock_release_all(l, &saved), 0, "rlock_release_all by the owner");
	agent_stop(&b);
	rlock_destroy(l);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* timeouts */

START_TEST(test_rlock_timed_acquire_times_out_when_held)
{
	rlock_t *l = new_lock();
	struct agent b;
	int64_t t0;
	double ms;
	int rc;

	agent_start(&b, l);
	EXPECT_RC(agent_call(&b, OP_ACQUIRE, -1, 0), 0, "rlock_acquire(l, -1) by another thread");
	t0 = tl_now_ns();
	rc = rlock_acquire(l, 100);
	ms = tl_elapsed_ms(t0);
	EXPECT_RC(rc, ETIMEDOUT, "rlock_acquire(l, 100) while another thread holds the lock for "
		  "longer");
	ck_assert_msg(ms >= 99.0,
		      "rlock_acquire(l, 100) returned ETIMEDOUT after %.1f ms, expected at least "
		      "100 ms", ms);
	ck_assert_msg(ms <= 100.0 + (double)scaled_ms(1000),
		      "rlock_acquire(l, 100) returned after %.0f ms, expected about 100 ms", ms);
	EXPECT_MINE(l, 0, "after a timed acquire that timed out");
	expect_agent_count(&b, 1, "the owner, after another thread timed out");
	/* The lock still works afterwards. */
	EXPECT_RC(agent_call(&b, OP_RELEASE, 0, 0), 0, "rlock_release by the owner");
	EXPECT_RC(rlock_acquire(l, 0), 0,
		  "rlock_acquire(l, 0) after an earlier timed-out acquire, on a free lock");
	EXPECT_MINE(l, 1, "after an acquire that followed a timeout");
	EXPECT_RC(agent_call(&b, OP_ACQUIRE, 0, 0), EBUSY,
		  "rlock_acquire(l, 0) by another thread after the lock was taken");
	EXPECT_RC(rlock_release(l), 0, "rlock_release by the owner");
	ck_assert_msg(!rlock_locked(l), "rlock_locked returned true, expected false");
	agent_stop(&b);
	rlock_destroy(l);
}
END_TEST

START_TEST(test_rlock_timed_acquire_succeeds_when_released_midway)
{
	rlock_t *l = new_lock();
	struct agent b;
	long timeout = scaled_ms(1500);
	int64_t t0;
	double ms;
	int rc;

	agent_start(&b, l);
	EXPECT_RC(agent_call(&b, OP_ACQUIRE, -1, 0), 0, "rlock_acquire(l, -1) by another thread");
	/* The other thread releases 50 ms from now, well before our deadline. */
	agent_post(&b, OP_SLEEP_RELEASE, 50, 0);
	t0 = tl_now_ns();
	rc = rlock_acquire(l, timeout);
	ms = tl_elapsed_ms(t0);
	ck_assert_msg(rc == 0,
		      "rlock_acquire(l, %ld) returned %s after %.0f ms, expected 0: the owner "
		      "released the lock after about 50 ms, and a timed waiter must wake up and "
		      "take it before its deadline", timeout, tl_errname(rc), ms);
	ck_assert_msg(ms < (double)timeout / 2,
		      "rlock_acquire(l, %ld) returned 0 only after %.0f ms, near its deadline: the "
		      "owner released the lock after about 50 ms, and the release that frees the "
		      "lock must wake a timed waiter too (it must not find out at its timeout)",
		      timeout, ms);
	EXPECT_MINE(l, 1, "after a timed acquire that succeeded");
	ck_assert_msg(agent_wait_done(&b, scaled_ms(PROMPT_MS)), "test setup: the releasing "
		      "thread did not finish");
	EXPECT_RC(agent_rc(&b), 0, "rlock_release by the thread that held the lock");
	EXPECT_RC(agent_call(&b, OP_ACQUIRE, 0, 0), EBUSY,
		  "rlock_acquire(l, 0) by another thread after the timed acquire succeeded");
	EXPECT_RC(rlock_release(l), 0, "rlock_release by the owner");
	agent_stop(&b);
	rlock_destroy(l);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* contention */

START_TEST(test_rlock_waiter_gets_lock_only_after_last_release)
{
	rlock_t *l = new_lock();
	struct agent b;

	agent_start(&b, l);
	for (int i = 0; i < 3; i++)
		EXPECT_RC(rlock_acquire(l, i ? 0 : -1), 0, "rlock_acquire(l, %d) number %d",
			  i ? 0 : -1, i + 1);
	agent_post(&b, OP_ACQUIRE, -1, 0);
	agent_wait_taken(&b);
	ck_assert_msg(!agent_wait_done(&b, SETTLE_MS),
		      "rlock_acquire(l, -1) by another thread returned %s while the main thread "
		      "held the lock 3 times", tl_errname(agent_rc(&b)));
	for (unsigned left = 2; left > 0; left--) {
		EXPECT_RC(rlock_release(l), 0, "rlock_release by the owner (count %u -> %u)",
			  left + 1, left);
		ck_assert_msg(!agent_wait_done(&b, SETTLE_MS),
			      "a thread waiting in rlock_acquire(l, -1) got the lock (returned %s) "
			      "when the owner went from count %u to %u: the lock must stay held "
			      "until the owner's LAST release", tl_errname(agent_rc(&b)), left + 1,
			      left);
		EXPECT_MINE(l, left, "the owner, while another thread waits");
	}
	EXPECT_RC(rlock_release(l), 0, "the owner's last rlock_release (count 1 -> 0)");
	ck_assert_msg(agent_wait_done(&b, scaled_ms(PROMPT_MS)),
		      "a thread waiting in rlock_acquire(l, -1) did not get the lock within %ld ms "
		      "after the owner's last release: the release that frees the lock must wake "
		      "a waiter", scaled_ms(PROMPT_MS));
	EXPECT_RC(agent_rc(&b), 0, "rlock_acquire(l, -1) by the waiting thread");
	expect_agent_count(&b, 1, "the thread that waited and got the lock");
	EXPECT_MINE(l, 0, "the former owner, after the waiter took the lock");
	ck_assert_msg(rlock_locked(l), "rlock_locked returned false while the former waiter "
		      "holds the lock");
	EXPECT_RC(agent_call(&b, OP_RELEASE, 0, 0), 0, "rlock_release by the new owner");
	agent_stop(&b);
	rlock_destroy(l);
}
END_TEST

#define WAITERS 3
#define ROUNDS 4

START_TEST(test_rlock_woken_waiter_rechecks_before_taking)
{
	rlock_t *l = new_lock();
	struct witness w;
	struct agent a[WAITERS];
	char first[256];

	/* Several threads wait; the owner releases and at once takes the lock again with a try,
	 * usually before a woken waiter runs. A waiter that takes the lock because it was woken,
	 * without checking again that the lock is free, becomes a second owner. */
	witness_init(&w);
	for (int i = 0; i < WAITERS; i++) {
		a[i].w = &w;
		agent_start(&a[i], l);
	}
	for (int round = 0; round < ROUNDS; round++) {
		int rc;

		EXPECT_RC(rlock_acquire(l, -1), 0, "rlock_acquire(l, -1) by the main thread");
		witness_enter(&w, "the main thread");
		for (int i = 0; i < WAITERS; i++)
			agent_post(&a[i], OP_ACQUIRE_HOLD, -1, 2);
		for (int i = 0; i < WAITERS; i++)
			agent_wait_taken(&a[i]);
		tl_sleep_ms(SETTLE_MS);
		for (int i = 0; i < WAITERS; i++)
			ck_assert_msg(!agent_is_done(&a[i]),
				      "rlock_acquire(l, -1) by a waiting thread returned %s while "
				      "the main thread held the lock", tl_errname(agent_rc(&a[i])));
		witness_leave(&w);
		EXPECT_RC(rlock_release(l), 0, "rlock_release by the main thread");
		rc = rlock_acquire(l, 0);
		if (rc == 0) {
			witness_enter(&w, "the main thread (re-taking the lock with a try right "
					  "after releasing it)");
			tl_sleep_ms(SETTLE_MS);
			witness_leave(&w);
			ck_assert_msg(witness_violations(&w, first, sizeof first) == 0,
				      "two threads held the lock at once: %s. The main thread "
				      "released the lock while %d threads waited, then took it "
				      "again at once with rlock_acquire(l, 0) -> 0; a waiter woken "
				      "by that release must check again that the lock is free "
				      "(while not if around the wait) and wait again",
				      first, WAITERS);
			EXPECT_RC(rlock_release(l), 0, "rlock_release by the main thread after it "
				  "re-took the lock (EPERM here means a woken waiter overwrote the "
				  "owner: a woken waiter must check again that the lock is free, while "
				  "not if around the wait)");
		} else {
			EXPECT_RC(rc, EBUSY, "rlock_acquire(l, 0) right after releasing the lock "
				  "with threads waiting");
		}
		for (int i = 0; i < WAITERS; i++) {
			ck_assert_msg(agent_wait_done(&a[i], scaled_ms(PROMPT_MS)),
				      "a thread waiting in rlock_acquire(l, -1) did not get the lock "
				      "within %ld ms after it was released (round %d): the release "
				      "that frees the lock must wake a waiter",
				      scaled_ms(PROMPT_MS), round + 1);
			EXPECT_RC(agent_rc(&a[i]), 0, "rlock_acquire(l, -1) by a waiting thread");
			EXPECT_RC(agent_rc2(&a[i]), 0, "rlock_release by a thread that waited and "
				  "then held the lock (EPERM here means another thread overwrote "
				  "the owner: a woken waiter must check again that the lock is free, "
				  "while not if around the wait)");
		}
		ck_assert_msg(witness_violations(&w, first, sizeof first) == 0,
			      "two threads held the lock at once: %s. Waiters woken by a release "
			      "must check again that the lock is free (while not if around the "
			      "wait)", first);
		ck_assert_msg(!rlock_locked(l), "rlock_locked returned true after every thread "
			      "released the lock");
	}
	for (int i = 0; i < WAITERS; i++)
		agent_stop(&a[i]);
	witness_destroy(&w);
	rlock_destroy(l);
}
END_TEST

#define STRESS_THREADS 8
#define STRESS_ITERS 300

struct stress {
	rlock_t *l;
	pthread_barrier_t start;
	tl_latch_t finished;   /* counted down by each thread when it returns */
	struct witness w;      /* also guards `stop` */
	bool stop;             /* guarded by w.mu: a thread failed, the others should stop */
	char error[256];       /* guarded by w.mu: the first failure, "" if none */
	long counter;          /* guarded by l (the lock under test), on purpose a plain long */
};

struct stress_arg {
	struct stress *s;
	unsigned seed;
};

static bool stress_stopped(struct stress *s)
{
	bool stop;

	pthread_mutex_lock(&s->w.mu);
	stop = s->stop;
	pthread_mutex_unlock(&s->w.mu);
	return stop;
}

/* Records the failure, tells the others to stop and gives up whatever this thread holds, so
 * that the others are not left waiting for a lock nobody will release. */
static void stress_fail(struct stress_arg *arg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void stress_fail(struct stress_arg *arg, const char *fmt, ...)
{
	struct stress *s = arg->s;
	va_list ap;
	unsigned ignored;

	pthread_mutex_lock(&s->w.mu);
	if (!s->stop) {
		va_start(ap, fmt);
		vsnprintf(s->error, sizeof s->error, fmt, ap);
		va_end(ap);
		s->stop = true;
	}
	pthread_mutex_unlock(&s->w.mu);
	(void)rlock_release_all(arg->s->l, &ignored);
}

/* One stress iteration: take the lock with a random mode, nest to a random depth, increment
 * the counter inside, sometimes step out with release_all/reacquire, release. false on a
 * failure (recorded). */
static bool stress_round(struct stress_arg *arg, int i)
{
	struct stress *s = arg->s;
	rlock_t *l = s->l;
	unsigned depth = 1 + (unsigned)rand_r(&arg->seed) % 4, c, saved = 0;
	int mode = rand_r(&arg->seed) % 3, rc;
	long v;

	if ((c = rlock_count(l)) != 0 || rlock_is_owned(l)) {
		stress_fail(arg, "rlock_count returned %u / rlock_is_owned returned true for a "
			    "thread that had released the lock", c);
		return false;
	}
	if (mode == 0)
		rc = rlock_acquire(l, -1);
	else if (mode == 1)
		rc = rlock_acquire(l, scaled_ms(20000));
	else if ((rc = rlock_acquire(l, 0)) == EBUSY)
		rc = rlock_acquire(l, -1);
	if (rc != 0) {
		stress_fail(arg, "rlock_acquire (%s) returned %s under contention, expected 0",
			    mode == 0   ? "timeout -1"
			    : mode == 1 ? "timeout 20 s"
					: "timeout 0, then -1",
			    tl_errname(rc));
		return false;
	}
	witness_enter(&s->w, "a thread");
	if ((c = rlock_count(l)) != 1 || !rlock_is_owned(l)) {
		stress_fail(arg, "right after rlock_acquire returned 0 under contention, "
			    "rlock_count returned %u (expected 1) or rlock_is_owned returned false: "
			    "another thread took the lock over", c);
		return false;
	}
	for (unsigned d = 2; d <= depth; d++) {
		rc = rlock_acquire(l, d % 2 ? -1 : 0);
		if (rc != 0 || (c = rlock_count(l)) != d) {
			stress_fail(arg, "nested rlock_acquire(l, %d) by the owner returned %s "
				    "(expected 0) with rlock_count %u after it (expected %u)",
				    d % 2 ? -1 : 0, tl_errname(rc), rlock_count(l), d);
			return false;
		}
	}
	v = s->counter;
	if (i % 8 == 0)
		sched_yield(); /* let the others pile up on the lock */
	s->counter = v + 1;
	if (i % 16 == 5) {
		witness_leave(&s->w);
		if ((rc = rlock_release_all(l, &saved)) != 0 || saved != depth) {
			stress_fail(arg, "rlock_release_all by the owner at count %u returned %s, "
				    "count %u", depth, tl_errname(rc), saved);
			return false;
		}
		if ((rc = rlock_reacquire(l, saved, -1)) != 0) {
			stress_fail(arg, "rlock_reacquire(l, %u, -1) returned %s under contention, "
				    "expected 0", saved, tl_errname(rc));
			return false;
		}
		witness_enter(&s->w, "a thread (after rlock_reacquire)");
		if ((c = rlock_count(l)) != depth) {
			stress_fail(arg, "rlock_count after rlock_reacquire(l, %u, -1) returned %u",
				    depth, c);
			return false;
		}
	}
	witness_leave(&s->w);
	for (unsigned d = depth; d > 0; d--) {
		if ((rc = rlock_release(l)) != 0) {
			stress_fail(arg, "rlock_release by the owner at count %u returned %s, "
				    "expected 0 (EPERM: another thread took the lock over)", d,
				    tl_errname(rc));
			return false;
		}
		if ((c = rlock_count(l)) != d - 1) {
			stress_fail(arg, "rlock_count after a release from count %u returned %u, "
				    "expected %u", d, c, d - 1);
			return false;
		}
	}
	return true;
}

static void *stress_main(void *p)
{
	struct stress_arg *arg = p;

	pthread_barrier_wait(&arg->s->start);
	for (int i = 0; i < STRESS_ITERS && !stress_stopped(arg->s); i++)
		if (!stress_round(arg, i))
			break;
	tl_latch_count_down(&arg->s->finished);
	return NULL;
}

START_TEST(test_rlock_stress_never_two_owners)
{
	struct stress s;
	struct stress_arg args[STRESS_THREADS];
	pthread_t tids[STRESS_THREADS];
	char first[256], error[256];
	int violations;
	bool finished;

	s.l = new_lock();
	s.counter = 0;
	s.stop = false;
	s.error[0] = '\0';
	witness_init(&s.w);
	tl_latch_init(&s.finished, STRESS_THREADS);
	pthread_barrier_init(&s.start, NULL, STRESS_THREADS);
	for (int i = 0; i < STRESS_THREADS; i++) {
		args[i].s = &s;
		args[i].seed = 7919u * (unsigned)i + 1;
	}
	ck_assert_msg(tl_start_threads(tids, STRESS_THREADS, stress_main, args, sizeof args[0]) ==
			      0,
		      "test setup: could not start threads");
	finished = tl_latch_wait_ms(&s.finished, scaled_ms(4000));
	pthread_mutex_lock(&s.w.mu);
	snprintf(error, sizeof error, "%s", s.error);
	pthread_mutex_unlock(&s.w.mu);
	ck_assert_msg(error[0] == '\0', "%d threads x %d rounds of nested acquire/release: %s",
		      STRESS_THREADS, STRESS_ITERS, error);
	if (!finished) {
		ck_abort_msg("%d threads x %d rounds of nested acquire/release did not finish "
			     "within %ld ms (natively it takes a few ms): threads waiting in "
			     "rlock_acquire/rlock_reacquire were not woken when the lock became free",
			     STRESS_THREADS, STRESS_ITERS, scaled_ms(4000));
	}
	tl_join_all(tids, STRESS_THREADS);
	violations = witness_violations(&s.w, first, sizeof first);
	ck_assert_msg(violations == 0,
		      "%d threads x %d rounds of nested acquire/release: two threads held the lock "
		      "at once %d time(s) (first: %s). Look for a waiter that takes the lock "
		      "without checking again after its wait that it is free (while not if), or "
		      "for an owner check that compares the wrong thing",
		      STRESS_THREADS, STRESS_ITERS, violations, first);
	ck_assert_msg(s.counter == (long)STRESS_THREADS * STRESS_ITERS,
		      "a counter incremented %d times under the lock ended at %ld: increments "
		      "were lost, so two threads were inside at once",
		      STRESS_THREADS * STRESS_ITERS, s.counter);
	ck_assert_msg(!rlock_locked(s.l), "rlock_locked returned true after every thread "
		      "released the lock");
	pthread_barrier_destroy(&s.start);
	tl_latch_destroy(&s.finished);
	witness_destroy(&s.w);
	rlock_destroy(s.l);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* no_busy_wait */

/* A thread that waits 200 ms for the lock may use at most this much of its own CPU time, and be
 * switched out at most this many times. A thread asleep in pthread_cond_wait uses ~0.1 ms and is
 * switched out once or twice. A spinning thread uses the whole 200 ms when a core is free; on a
 * loaded machine a spinner that yields (sched_yield, usleep) may get little CPU, but it is then
 * switched out at every turn (25-100 times in 200 ms here), so it fails the second bound. */
#define WAIT_CPU_MS 20.0
#define WAIT_SWITCHES 10.0

static void expect_slept(struct agent *b, const char *call, const char *wait_fn)
{
	double cpu_ms = (double)agent_cpu_ns(b) / 1e6;
	long switches = agent_switches(b);

	ck_assert_msg(cpu_ms < WAIT_CPU_MS * tl_slowdown(),
		      "a thread that waited %.0f ms in %s used %.1f ms of CPU time, expected under "
		      "%.0f ms: a waiting thread must sleep in %s, not spin (a loop with "
		      "sched_yield, trylock or usleep)",
		      agent_ms(b), call, cpu_ms, WAIT_CPU_MS * tl_slowdown(), wait_fn);
	ck_assert_msg((double)switches < WAIT_SWITCHES * tl_slowdown(),
		      "a thread that waited %.0f ms in %s was switched out %ld times (it kept "
		      "waking up to look at the lock), expected under %.0f: a waiting thread must "
		      "sleep in %s until it is signalled, not poll (a loop with sched_yield, "
		      "trylock or usleep)",
		      agent_ms(b), call, switches, WAIT_SWITCHES * tl_slowdown(), wait_fn);
}

START_TEST(test_rlock_blocked_waiter_does_not_spin)
{
	rlock_t *l = new_lock();
	struct agent b;

	agent_start(&b, l);
	EXPECT_RC(rlock_acquire(l, -1), 0, "rlock_acquire(l, -1) on a free lock");
	agent_post(&b, OP_ACQUIRE, -1, 0);
	agent_wait_taken(&b);
	ck_assert_msg(!agent_wait_done(&b, 200),
		      "rlock_acquire(l, -1) by another thread returned %s while the main thread "
		      "held the lock", tl_errname(agent_rc(&b)));
	EXPECT_RC(rlock_release(l), 0, "rlock_release by the owner");
	ck_assert_msg(agent_wait_done(&b, scaled_ms(PROMPT_MS)),
		      "a thread waiting in rlock_acquire(l, -1) did not get the lock within %ld ms "
		      "after the owner released it: the release that frees the lock must wake a "
		      "waiter", scaled_ms(PROMPT_MS));
	EXPECT_RC(agent_rc(&b), 0, "rlock_acquire(l, -1) by the waiting thread");
	expect_slept(&b, "rlock_acquire(l, -1)", "pthread_cond_wait");
	EXPECT_RC(agent_call(&b, OP_RELEASE, 0, 0), 0, "rlock_release by the new owner");
	agent_stop(&b);
	rlock_destroy(l);
}
END_TEST

START_TEST(test_rlock_timed_waiter_does_not_spin)
{
	rlock_t *l = new_lock();
	struct agent b;

	agent_start(&b, l);
	EXPECT_RC(rlock_acquire(l, -1), 0, "rlock_acquire(l, -1) on a free lock");
	EXPECT_RC(agent_call(&b, OP_ACQUIRE, 200, 0), ETIMEDOUT,
		  "rlock_acquire(l, 200) by another thread while the main thread held the lock");
	expect_slept(&b, "rlock_acquire(l, 200)", "pthread_cond_timedwait");
	EXPECT_RC(rlock_release(l), 0, "rlock_release by the owner");
	agent_stop(&b);
	rlock_destroy(l);
}
END_TEST
