/* rlock.c - a reentrant lock built from one mutex and one condition variable (reference).
 *
 * DESIGN: the lock is two fields, owner and count, both guarded by one pthread mutex `mu`.
 * count == 0 means free (owner is then meaningless: pthread_t has no "nobody" value, so count is
 * the only truth); count > 0 means `owner` holds it that many times. The owner touches only
 * count, at once, and never waits. A non-owner waits on the condition variable `cv` in a while
 * loop until count == 0, then makes itself the owner: the loop re-checks after every wakeup
 * because a wakeup is only a hint (spurious wakeups, and a third thread may have taken the lock
 * between the signal and this thread getting `mu` back). The release that brings count to 0
 * signals one waiter: every waiter waits for the same thing (a free lock) and one free lock can
 * satisfy only one of them, so waking one is enough. A waiter whose wait times out looks at the
 * lock once more and takes it if it is free, so it gives up only while another thread holds the
 * lock, and that thread's last release signals again: no wakeup is lost. Every wait has one
 * absolute CLOCK_MONOTONIC deadline computed before the first wait, so spurious wakeups cannot
 * stretch it; the untimed wait is the same loop with no deadline. `mu` is the only lock here and
 * is never held while calling out, so there is no lock order to state. */
#include "rlock.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct rlock {
	pthread_mutex_t mu; /* guards owner and count */
	pthread_cond_t cv;  /* signalled when count drops to 0; waited on by non-owners */
	pthread_t owner;    /* guarded by mu: the holder; valid only while count > 0 */
	unsigned count;     /* guarded by mu: 0 = free, else the owner's hold count */
};

/* Does the calling thread own the lock? Called with mu held. */
static bool owned_by_caller(const rlock_t *l)
{
	return l->count > 0 && pthread_equal(l->owner, pthread_self());
}

#ifndef NDEBUG
/* For use only inside assert() (as SQLite's mutex_unix.c does): the caller owns the lock with
 * exactly n holds / the caller does not own the lock. Called with mu held. */
static bool held(const rlock_t *l, unsigned n)
{
	return owned_by_caller(l) && l->count == n;
}

static bool notheld(const rlock_t *l)
{
	return !owned_by_caller(l);
}
#endif

/* The absolute CLOCK_MONOTONIC time timeout_ms (> 0) from now. */
static struct timespec deadline_after(long timeout_ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* Waits on cv until signalled or until *deadline (NULL: no deadline). Called with mu held. */
static int rlock_wait(rlock_t *l, const struct timespec *deadline)
{
	if (deadline == NULL)
		return pthread_cond_wait(&l->cv, &l->mu);
	return pthread_cond_timedwait(&l->cv, &l->mu, deadline);
}

/* Takes n holds for the calling thread: rlock_acquire is n = 1, rlock_reacquire any n > 0. */
static int rlock_take(rlock_t *l, unsigned n, long timeout_ms)
{
	struct timespec deadline, *dl = NULL;
	int rc = 0;

	if (l == NULL || n == 0 || timeout_ms < -1)
		return EINVAL;
	if (timeout_ms > 0) {
		deadline = deadline_after(timeout_ms); /* once: wakeups must not stretch the wait */
		dl = &deadline;
	}

	pthread_mutex_lock(&l->mu);
	if (owned_by_caller(l)) {
		/* The owner never waits: it only counts. */
		if (l->count > UINT_MAX - n)
			rc = EAGAIN;
		else
			l->count += n;
		pthread_mutex_unlock(&l->mu);
		return rc;
	}
	for (;;) {
		if (l->count == 0) {
			/* Free: even after a timeout we take it rather than report a timeout. */
			l->owner = pthread_self();
			l->count = n;
			rc = 0;
			break;
		}
		if (timeout_ms == 0) {
			rc = EBUSY;
			break;
		}
		if (rc == ETIMEDOUT)
			break;
		rc = rlock_wait(l, dl);
		if (rc != 0 && rc != ETIMEDOUT)
			break; /* cannot happen with a valid mu/cv; pass it up rather than spin */
	}
	assert(rc != 0 || held(l, n));
	assert(rc == 0 || notheld(l));
	pthread_mutex_unlock(&l->mu);
	return rc;
}

int rlock_create(rlock_t **out)
{
	pthread_condattr_t ca;
	rlock_t *l;

	if (out == NULL)
		return EINVAL;
	*out = NULL;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return ENOMEM;
	if (pthread_mutex_init(&l->mu, NULL) != 0) {
		free(l);
		return ENOMEM;
	}
	if (pthread_condattr_init(&ca) != 0) {
		pthread_mutex_destroy(&l->mu);
		free(l);
		return ENOMEM;
	}
	/* Timed waits use CLOCK_MONOTONIC deadlines: setting the wall clock must not matter. */
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&l->cv, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		pthread_mutex_destroy(&l->mu);
		free(l);
		return ENOMEM;
	}
	pthread_condattr_destroy(&ca);
	l->count = 0;
	*out = l;
	return 0;
}

void rlock_destroy(rlock_t *l)
{
	if (l == NULL)
		return;
	assert(l->count == 0); /* destroying a held lock is undefined; catch it in debug builds */
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

int rlock_acquire(rlock_t *l, long timeout_ms)
{
	return rlock_take(l, 1, timeout_ms);
}

int rlock_release(rlock_t *l)
{
	if (l == NULL)
		return EINVAL;
	pthread_mutex_lock(&l->mu);
	if (!owned_by_caller(l)) {
		pthread_mutex_unlock(&l->mu);
		return EPERM;
	}
	if (--l->count == 0)
		pthread_cond_signal(&l->cv); /* one free lock satisfies one waiter (see DESIGN) */
	assert(l->count > 0 ? held(l, l->count) : notheld(l));
	pthread_mutex_unlock(&l->mu);
	return 0;
}

unsigned rlock_count(rlock_t *l)
{
	unsigned n;

	if (l == NULL)
		return 0;
	pthread_mutex_lock(&l->mu);
	n = owned_by_caller(l) ? l->count : 0;
	pthread_mutex_unlock(&l->mu);
	return n;
}

bool rlock_is_owned(rlock_t *l)
{
	bool owned;

	if (l == NULL)
		return false;
	pthread_mutex_lock(&l->mu);
	owned = owned_by_caller(l);
	pthread_mutex_unlock(&l->mu);
	return owned;
}

bool rlock_locked(rlock_t *l)
{
	bool locked;

	if (l == NULL)
		return false;
	pthread_mutex_lock(&l->mu);
	locked = l->count > 0;
	pthread_mutex_unlock(&l->mu);
	return locked;
}

int rlock_release_all(rlock_t *l, unsigned *count)
{
	if (l == NULL || count == NULL)
		return EINVAL;
	pthread_mutex_lock(&l->mu);
	if (!owned_by_caller(l)) {
		pthread_mutex_unlock(&l->mu);
		return EPERM;
	}
	*count = l->count;
	l->count = 0;
	pthread_cond_signal(&l->cv);
	assert(notheld(l));
	pthread_mutex_unlock(&l->mu);
	return 0;
}

int rlock_reacquire(rlock_t *l, unsigned count, long timeout_ms)
{
	return rlock_take(l, count, timeout_ms);
}
