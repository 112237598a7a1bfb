/* race_rlock.c - the RLock race driver: run under helgrind by the grader.
 *
 * DESIGN: THREADS threads start together on a barrier and, for ROUNDS rounds each, call every
 * rlock function on two shared locks, a and b: blocking, try and timed acquires, nested to
 * depths 1-3, release_all/reacquire, and the queries (count, is_owned, locked) both as the owner
 * and as a non-owner (a thread asking about a lock another thread is using is where an unlocked
 * read in the student's code races with the owner's writes). Each lock protects a plain,
 * non-atomic counter; b is only ever taken while holding a or alone, never a while holding b, so
 * the driver itself has no lock-order cycle. The driver adds no synchronisation of its own
 * between the threads beyond the start barrier and the final joins: the rlocks under test are the
 * only thing that orders the counter updates, so helgrind sees exactly what the student's
 * locking provides.
 * Each thread checks what it can see alone (counts, ownership, return codes) and records its
 * first failure in its own slot; main joins everyone, checks that no increment was lost, prints
 * what broke to stderr and exits 1 if anything did; a watchdog ends the run with a message if
 * the threads do not finish in time (a lost wakeup). Native run: a few ms. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "rlock.h"
#include "tl_test.h"

#define THREADS 5
#define ROUNDS 150
/* The run takes ~5 ms natively; the grader allows 5 s. Scaled by tl_slowdown(). */
#define WATCHDOG_MS 3000.0

struct shared {
	rlock_t *a, *b;
	pthread_barrier_t start;
	pthread_mutex_t wd_mu;
	bool finished; /* guarded by wd_mu: main joined every worker */
	long count_a; /* guarded by a */
	long count_b; /* guarded by b */
};

struct worker {
	struct shared *s;
	int id;
	unsigned seed;
	long done_a, done_b; /* increments this thread made (private) */
	char error[256];     /* private until joined */
};

static bool fail(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	if (w->error[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(w->error, sizeof w->error, fmt, ap);
		va_end(ap);
	}
	return false;
}

/* Takes l for the first time (depth 1) with a mode picked by the round. */
static int take(rlock_t *l, int mode)
{
	int rc;

	switch (mode) {
	case 0:
		return rlock_acquire(l, -1);
	case 1:
		return rlock_acquire(l, (long)(30000 * tl_slowdown()));
	case 2:
		if ((rc = rlock_acquire(l, 0)) == EBUSY)
			rc = rlock_acquire(l, -1);
		return rc;
	default:
		return rlock_reacquire(l, 1, -1);
	}
}

/* Non-owner view of a lock this thread does not hold: count 0, not owned. */
static bool look_from_outside(struct worker *w, rlock_t *l, const char *name)
{
	unsigned c = rlock_count(l);

	if (c != 0)
		return fail(w, "rlock_count(%s) by a thread that does not hold it returned %u", name,
			    c);
	if (rlock_is_owned(l))
		return fail(w, "rlock_is_owned(%s) by a thread that does not hold it returned true",
			    name);
	(void)rlock_locked(l); /* any answer is right; the call must not race */
	return true;
}

/* Nests l to `depth` holds (the first already taken), checking the count at every level. */
static bool nest(struct worker *w, rlock_t *l, const char *name, unsigned depth)
{
	for (unsigned d = 2; d <= depth; d++) {
		int rc = rlock_acquire(l, d % 2 ? 100 : 0);
		unsigned c;

		if (rc != 0)
			return fail(w, "nested rlock_acquire(%s) by its owner returned %s", name,
				    tl_errname(rc));
		if ((c = rlock_count(l)) != d)
			return fail(w, "rlock_count(%s) by its owner returned %u, expected %u", name,
				    c, d);
	}
	return true;
}

static bool unwind(struct worker *w, rlock_t *l, const char *name, unsigned depth)
{
	for (unsigned d = depth; d > 0; d--) {
		int rc = rlock_release(l);

		if (rc != 0)
			return fail(w, "rlock_release(%s) by its owner at count %u returned %s", name,
				    d, tl_errname(rc));
	}
	return true;
}

static bool round_once(struct worker *w, int r)
{
	struct shared *s = w->s;
	unsigned depth = 1 + (unsigned)rand_r(&w->seed) % 3, saved = 0;
	int rc, mode = (r + w->id) % 4;
	long v, timeout;

	if (!look_from_outside(w, s->a, "a") || !look_from_outside(w, s->b, "b"))
		return false;
	if ((rc = take(s->a, mode)) != 0)
		return fail(w, "taking lock a (mode %d) returned %s", mode, tl_errname(rc));
	if (!rlock_is_owned(s->a) || !rlock_locked(s->a))
		return fail(w, "rlock_is_owned/rlock_locked(a) by its owner returned false");
	if (!nest(w, s->a, "a", depth))
		return false;
	v = s->count_a;
	if (r % 5 == 0)
		sched_yield();
	s->count_a = v + 1;
	w->done_a++;

	if (r % 3 == 0) {
		/* b inside a (order a then b, never the reverse). */
		if ((rc = take(s->b, (mode + 1) % 4)) != 0)
			return fail(w, "taking lock b inside a returned %s", tl_errname(rc));
		if (!nest(w, s->b, "b", 2))
			return false;
		s->count_b++;
		w->done_b++;
		if (!unwind(w, s->b, "b", 2))
			return false;
	}
	if (r % 4 == 1) {
		/* Step out of a entirely, let the others in, come back with the same depth. */
		if ((rc = rlock_release_all(s->a, &saved)) != 0 || saved != depth)
			return fail(w, "rlock_release_all(a) at depth %u returned %s with count %u",
				    depth, tl_errname(rc), saved);
		if (!look_from_outside(w, s->a, "a"))
			return false;
		timeout = r % 8 == 1 ? -1 : (long)(30000 * tl_slowdown());
		if ((rc = rlock_reacquire(s->a, saved, timeout)) != 0)
			return fail(w, "rlock_reacquire(a, %u) returned %s", saved, tl_errname(rc));
		if (rlock_count(s->a) != depth)
			return fail(w, "rlock_count(a) after rlock_reacquire(a, %u) returned %u",
				    depth, rlock_count(s->a));
		v = s->count_a;
		s->count_a = v + 1;
		w->done_a++;
	}
	if (!unwind(w, s->a, "a", depth))
		return false;

	if (r % 3 == 2) {
		/* b alone, with a release by a non-owner attempted on a first. */
		if ((rc = rlock_release(s->a)) != EPERM)
			return fail(w, "rlock_release(a) by a thread that does not hold it returned %s",
				    tl_errname(rc));
		if ((rc = take(s->b, mode)) != 0)
			return fail(w, "taking lock b returned %s", tl_errname(rc));
		s->count_b++;
		w->done_b++;
		if ((rc = rlock_release_all(s->b, &saved)) != 0 || saved != 1)
			return fail(w, "rlock_release_all(b) at depth 1 returned %s with count %u",
				    tl_errname(rc), saved);
	}
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(&w->s->start);
	for (int r = 0; r < ROUNDS; r++)
		if (!round_once(w, r))
			break;
	/* Let nobody wait for a lock this thread still holds after a failure. */
	if (w->error[0] != '\0') {
		unsigned ignored;

		(void)rlock_release_all(w->s->b, &ignored);
		(void)rlock_release_all(w->s->a, &ignored);
	}
	return NULL;
}

/* A lost wakeup must end the run with a message, not leave it to the grader's time limit. The
 * watchdog polls with plain sleeps (no condition variable, so helgrind has nothing to say about
 * it) and ends the process if the workers are not all joined in time. */
static void *watchdog_main(void *arg)
{
	struct shared *s = arg;
	int64_t deadline = tl_now_ns() + (int64_t)(WATCHDOG_MS * tl_slowdown() * 1e6);

	for (;;) {
		bool finished;

		pthread_mutex_lock(&s->wd_mu);
		finished = s->finished;
		pthread_mutex_unlock(&s->wd_mu);
		if (finished)
			return NULL;
		if (tl_now_ns() > deadline) {
			fprintf(stderr, "race_rlock: %d threads x %d rounds did not finish within "
				"%.0f ms (natively they take about 5 ms): a thread waiting for a lock "
				"was probably never woken (a lost wakeup: the release that frees the "
				"lock must wake a waiter), or a deadlock\n",
				THREADS, ROUNDS, WATCHDOG_MS * tl_slowdown());
			fflush(stderr);
			_exit(1);
		}
		tl_sleep_ms(10);
	}
}

int main(void)
{
	struct shared s = { 0 };
	struct worker w[THREADS];
	pthread_t tids[THREADS], wd;
	long want_a = 0, want_b = 0;
	int rc, bad = 0;

	if ((rc = rlock_create(&s.a)) != 0 || (rc = rlock_create(&s.b)) != 0) {
		fprintf(stderr, "race_rlock: rlock_create returned %s, expected 0\n",
			tl_errname(rc));
		return 1;
	}
	pthread_barrier_init(&s.start, NULL, THREADS);
	pthread_mutex_init(&s.wd_mu, NULL);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .s = &s, .id = i, .seed = 4099u * (unsigned)i + 17 };
		w[i].error[0] = '\0';
	}
	if (tl_start_threads(tids, THREADS, worker_main, w, sizeof w[0]) != 0)
		return 2;
	if ((rc = pthread_create(&wd, NULL, watchdog_main, &s)) != 0)
		return 2;
	tl_join_all(tids, THREADS);
	pthread_mutex_lock(&s.wd_mu);
	s.finished = true;
	pthread_mutex_unlock(&s.wd_mu);
	pthread_join(wd, NULL);

	for (int i = 0; i < THREADS; i++) {
		if (w[i].error[0] != '\0') {
			fprintf(stderr, "race_rlock: thread %d: %s\n", i, w[i].error);
			bad = 1;
		}
		want_a += w[i].done_a;
		want_b += w[i].done_b;
	}
	if (s.count_a != want_a || s.count_b != want_b) {
		fprintf(stderr,
			"race_rlock: counters protected by the locks ended at a=%ld b=%ld, expected "
			"a=%ld b=%ld: increments were lost, so two threads held a lock at once\n",
			s.count_a, s.count_b, want_a, want_b);
		bad = 1;
	}
	if (rlock_locked(s.a) || rlock_locked(s.b)) {
		fprintf(stderr, "race_rlock: rlock_locked is true after every thread released "
			"both locks\n");
		bad = 1;
	}
	pthread_barrier_destroy(&s.start);
	pthread_mutex_destroy(&s.wd_mu);
	if (!bad) {
		rlock_destroy(s.a);
		rlock_destroy(s.b);
	}
	return bad;
}
