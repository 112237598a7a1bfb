/* gil.c - a Global Interpreter Lock (reference), CPython's "new GIL" (3.2+).
 *
 * DESIGN: the GIL's state is guarded by one mutex, g->mu: `locked` and `holder` say who holds it,
 * `switches` counts the times it was taken (CPython's switch_number), and `drop_request` is the
 * waiters' request that the holder hand it over. Two condition variables:
 * - `cv` (CLOCK_MONOTONIC): threads waiting for the GIL sleep on it, one interval at a time.
 *   Giving the GIL up signals it: one waiter is enough, since only one can take the GIL. A waiter
 *   whose interval ran out with the GIL still held and no hand-over in the meantime (`switches`
 *   unchanged) sets `drop_request`. Measuring "no hand-over during my interval" rather than "I
 *   waited an interval" is what makes turns last about one interval: a thread that just lost
 *   the GIL starts a fresh interval, so the new holder keeps the GIL at least that long.
 * - `switched`: a holder that drops the GIL on request waits on it until `switches` has moved,
 *   i.e. until another thread has really taken the GIL (CPython's FORCE_SWITCHING), and only
 *   then queues up for it again. Taking the GIL broadcasts it (there is at most one such
 *   thread, but a broadcast costs nothing more and cannot pick the wrong one).
 * Taking the GIL clears `drop_request`: a request is about the holder it was made against, and
 * the requester that is still waiting renews it after a full interval under the new holder. So a
 * pending request always has a waiter behind it, and the dropping thread's wait for a switch
 * ends.
 * Nobody spins: waiters sleep on `cv` (waking once per interval to make their request), the
 * dropping thread sleeps on `switched`. gil_checkpoint takes g->mu even when there is nothing to
 * do: the request is written by the waiters, and reading it without the lock would be a data race
 * (CPython reads it with an atomic load instead). Lock order: there is one lock; fn in
 * gil_blocking_call runs with none held. */
#include "gil.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct gil {
	pthread_mutex_t mu;
	pthread_cond_t cv;        /* signalled when the GIL is given up; CLOCK_MONOTONIC */
	pthread_cond_t switched;  /* broadcast when the GIL is taken (switches moved) */
	bool locked;              /* guarded by mu: some thread holds the GIL */
	pthread_t holder;         /* guarded by mu: who, valid while locked */
	unsigned long switches;   /* guarded by mu: how many times the GIL was taken */
	bool drop_request;        /* guarded by mu: a waiter asked the holder to hand it over */
	long interval_us;         /* set by gil_create, then read-only */
};

/* Whether the calling thread holds the GIL. Called with g->mu held. */
static bool held_locked(const gil_t *g)
{
	return g->locked && pthread_equal(g->holder, pthread_self());
}

/* The absolute CLOCK_MONOTONIC time one interval from now. */
static struct timespec interval_from_now(const gil_t *g)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += g->interval_us / 1000000;
	ts.tv_nsec += (g->interval_us % 1000000) * 1000;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* Waits until the GIL is free and takes it, asking the holder to drop it after every interval
 * that passed without a hand-over. Called with g->mu held, by a thread that does not hold it. */
static void take_locked(gil_t *g)
{
	assert(!held_locked(g));
	while (g->locked) {
		unsigned long seen = g->switches;
		struct timespec deadline = interval_from_now(g);
		int rc = pthread_cond_timedwait(&g->cv, &g->mu, &deadline);

		if (rc == ETIMEDOUT && g->locked && g->switches == seen)
			g->drop_request = true;
	}
	g->locked = true;
	g->holder = pthread_self();
	g->switches++;
	g->drop_request = false;
	pthread_cond_broadcast(&g->switched);
}

/* Gives the GIL up and wakes one waiter. Called with g->mu held, by the holder. */
static void drop_locked(gil_t *g)
{
	assert(held_locked(g));
	g->locked = false;
	pthread_cond_signal(&g->cv);
}

int gil_create(gil_t **out, long interval_us)
{
	pthread_condattr_t attr;
	gil_t *g;

	if (out == NULL)
		return EINVAL;
	*out = NULL;
	if (interval_us < 1 || interval_us > GIL_MAX_INTERVAL_US)
		return EINVAL;
	if ((g = calloc(1, sizeof *g)) == NULL)
		return ENOMEM;
	pthread_mutex_init(&g->mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cv, &attr);
	pthread_condattr_destroy(&attr);
	pthread_cond_init(&g->switched, NULL);
	g->interval_us = interval_us;
	*out = g;
	return 0;
}

void gil_destroy(gil_t *g)
{
	if (g == NULL)
		return;
	assert(!g->locked); /* the caller promises no thread uses g: no lock needed */
	pthread_cond_destroy(&g->switched);
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

int gil_acquire(gil_t *g)
{
	pthread_mutex_lock(&g->mu);
	if (held_locked(g)) {
		pthread_mutex_unlock(&g->mu);
		return EDEADLK;
	}
	take_locked(g);
	pthread_mutex_unlock(&g->mu);
	return 0;
}

int gil_release(gil_t *g)
{
	pthread_mutex_lock(&g->mu);
	if (!held_locked(g)) {
		pthread_mutex_unlock(&g->mu);
		return EPERM;
	}
	drop_locked(g);
	pthread_mutex_unlock(&g->mu);
	return 0;
}

int gil_checkpoint(gil_t *g)
{
	pthread_mutex_lock(&g->mu);
	if (!held_locked(g)) {
		pthread_mutex_unlock(&g->mu);
		return EPERM;
	}
	if (g->drop_request) {
		unsigned long seen = g->switches;

		drop_locked(g);
		/* A real hand-over: the requester (or another waiter) takes it first. */
		while (g->switches == seen)
			pthread_cond_wait(&g->switched, &g->mu);
		take_locked(g);
	}
	pthread_mutex_unlock(&g->mu);
	return 0;
}

int gil_blocking_call(gil_t *g, void (*fn)(void *arg), void *arg)
{
	if (fn == NULL)
		return EINVAL;
	pthread_mutex_lock(&g->mu);
	if (!held_locked(g)) {
		pthread_mutex_unlock(&g->mu);
		return EPERM;
	}
	drop_locked(g);
	pthread_mutex_unlock(&g->mu);

	fn(arg); /* no lock held: others take the GIL meanwhile */

	pthread_mutex_lock(&g->mu);
	take_locked(g);
	pthread_mutex_unlock(&g->mu);
	return 0;
}

bool gil_held(gil_t *g)
{
	bool held;

	pthread_mutex_lock(&g->mu);
	held = held_locked(g);
	pthread_mutex_unlock(&g->mu);
	return held;
}
