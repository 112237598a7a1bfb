/* bqueue.c - reference solution: a bounded blocking queue (the contract is bqueue.h).
 *
 * DESIGN: one mutex, q->mu, guards every mutable field: a ring buffer of `capacity` slots (head,
 * count), the number of unfinished items and the shutdown flag. Three condition variables, all
 * used with q->mu and all on CLOCK_MONOTONIC:
 *   not_full   putters wait while the ring is full; each get signals one (it freed one slot);
 *   not_empty  getters wait while the ring is empty; each put signals one (it added one item);
 *   all_done   joiners wait while items are unfinished; broadcast when the count reaches 0.
 * Two condvars, one per side, are what make a single signal enough: a signal on not_empty can only
 * wake a getter, and any getter can use the item. (With one condvar for both sides, a put's signal
 * can wake another putter, which goes back to sleep: the wakeup is lost and the queue can stall.)
 * Every wait sits in a while loop that re-checks its predicate: the woken thread may find that a
 * thread which never slept took the item or the slot first, and condvars wake spuriously. A
 * waiter that times out re-checks the predicate once more before giving up, so that a signal it
 * consumed while timing out is not lost. shutdown broadcasts on all three condvars because every
 * waiter must see the flag. A timeout becomes one absolute deadline on entry, so spurious wakeups
 * and repeated waits cannot stretch it; the untimed path is the timed one with no deadline.
 * free_item is never called with q->mu held (it is user code): an immediate shutdown detaches the
 * items under the lock and frees them after unlocking; the detached slots cannot be reused because
 * no put succeeds after shutdown.
 * Lock order: there is one lock, q->mu; no user code runs while it is held.
 */
#include "bqueue.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct bqueue {
	pthread_mutex_t mu;
	pthread_cond_t not_full;     /* with mu: putters wait while count == capacity */
	pthread_cond_t not_empty;    /* with mu: getters wait while count == 0 */
	pthread_cond_t all_done;     /* with mu: joiners wait while unfinished > 0 */
	void (*free_item)(void *);   /* immutable */
	size_t capacity;             /* immutable, > 0 */
	void **slots;                /* the array pointer is immutable; its elements are guarded by mu */
	size_t head;                 /* guarded by mu: slot of the oldest item, < capacity */
	size_t count;                /* guarded by mu: items in the ring, <= capacity */
	size_t unfinished;           /* guarded by mu: items put and not yet done or dropped;
	                                unfinished - count items are out with getters */
	bool shut;                   /* guarded by mu: set once by bqueue_shutdown, never cleared */
};

/* For use only inside assert(), with q->mu held. */
static bool invariants_hold(const bqueue_t *q)
{
	return q->head < q->capacity && q->count <= q->capacity && q->unfinished >= q->count;
}

/* Turns a relative timeout into *deadline (NULL: no deadline). 0 or EINVAL. */
static int deadline_init(long timeout_ms, struct timespec *when, struct timespec **deadline)
{
	if (timeout_ms < -1)
		return EINVAL;
	*deadline = NULL;
	if (timeout_ms > 0) {
		clock_gettime(CLOCK_MONOTONIC, when);
		when->tv_sec += timeout_ms / 1000;
		when->tv_nsec += (timeout_ms % 1000) * 1000000L;
		if (when->tv_nsec >= 1000000000L) {
			when->tv_sec++;
			when->tv_nsec -= 1000000000L;
		}
		*deadline = when;
	}
	return 0;
}

/* One wait on cv: 0 when woken (perhaps spuriously), ETIMEDOUT once the deadline has passed. */
static int wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, const struct timespec *deadline)
{
	if (deadline == NULL)
		return pthread_cond_wait(cv, mu);
	return pthread_cond_timedwait(cv, mu, deadline);
}

static int cond_init_monotonic(pthread_cond_t *cv)
{
	pthread_condattr_t attr;
	int rc;

	if ((rc = pthread_condattr_init(&attr)) != 0)
		return rc;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(cv, &attr);
	pthread_condattr_destroy(&attr);
	return rc;
}

int bqueue_create(bqueue_t **out, size_t capacity, void (*free_item)(void *))
{
	bqueue_t *q;
	int rc;

	if (out == NULL || capacity == 0)
		return EINVAL;
	if ((q = calloc(1, sizeof *q)) == NULL)
		return ENOMEM;
	if ((q->slots = calloc(capacity, sizeof *q->slots)) == NULL) {
		free(q);
		return ENOMEM;
	}
	q->capacity = capacity;
	q->free_item = free_item;
	if ((rc = pthread_mutex_init(&q->mu, NULL)) != 0)
		goto fail_mu;
	if ((rc = cond_init_monotonic(&q->not_full)) != 0)
		goto fail_not_full;
	if ((rc = cond_init_monotonic(&q->not_empty)) != 0)
		goto fail_not_empty;
	if ((rc = cond_init_monotonic(&q->all_done)) != 0)
		goto fail_all_done;
	*out = q;
	return 0;

fail_all_done:
	pthread_cond_destroy(&q->not_empty);
fail_not_empty:
	pthread_cond_destroy(&q->not_full);
fail_not_full:
	pthread_mutex_destroy(&q->mu);
fail_mu:
	free(q->slots);
	free(q);
	return rc;
}

void bqueue_destroy(bqueue_t *q)
{
	if (q == NULL)
		return;
	/* No other thread may use q now, so no lock is needed; the items left are ours to drop. */
	if (q->free_item)
		for (size_t i = 0; i < q->count; i++)
			q->free_item(q->slots[(q->head + i) % q->capacity]);
	pthread_cond_destroy(&q->all_done);
	pthread_cond_destroy(&q->not_empty);
	pthread_cond_destroy(&q->not_full);
	pthread_mutex_destroy(&q->mu);
	free(q->slots);
	free(q);
}

int bqueue_put(bqueue_t *q, void *item, long timeout_ms)
{
	struct timespec when, *deadline;
	int rc;

	if ((rc = deadline_init(timeout_ms, &when, &deadline)) != 0)
		return rc;
	pthread_mutex_lock(&q->mu);
	while (!q->shut && q->count == q->capacity && rc == 0)
		rc = timeout_ms == 0 ? EAGAIN : wait_until(&q->not_full, &q->mu, deadline);
	/* Re-check even after a timeout: a slot may have been freed for us as the clock ran out. */
	if (q->shut) {
		rc = ESHUTDOWN;
	} else if (q->count < q->capacity) {
		q->slots[(q->head + q->count) % q->capacity] = item;
		q->count++;
		q->unfinished++;
		rc = 0;
		pthread_cond_signal(&q->not_empty); /* one new item: one getter can use it */
	}
	assert(invariants_hold(q));
	pthread_mutex_unlock(&q->mu);
	return rc;
}

int bqueue_get(bqueue_t *q, void **item, long timeout_ms)
{
	struct timespec when, *deadline;
	int rc;

	if ((rc = deadline_init(timeout_ms, &when, &deadline)) != 0)
		return rc;
	pthread_mutex_lock(&q->mu);
	while (!q->shut && q->count == 0 && rc == 0)
		rc = timeout_ms == 0 ? EAGAIN : wait_until(&q->not_empty, &q->mu, deadline);
	/* Items left after a normal shutdown are still handed out: shutdown only matters when empty. */
	if (q->count > 0) {
		*item = q->slots[q->head];
		q->head = (q->head + 1) % q->capacity;
		q->count--;
		rc = 0;
		pthread_cond_signal(&q->not_full); /* one free slot: one putter can use it */
	} else if (q->shut) {
		rc = ESHUTDOWN;
	}
	assert(invariants_hold(q));
	pthread_mutex_unlock(&q->mu);
	return rc;
}

size_t bqueue_size(bqueue_t *q)
{
	size_t n;

	pthread_mutex_lock(&q->mu);
	n = q->count;
	pthread_mutex_unlock(&q->mu);
	return n;
}

size_t bqueue_capacity(bqueue_t *q)
{
	return q->capacity; /* immutable: no lock needed */
}

int bqueue_task_done(bqueue_t *q)
{
	int rc = 0;

	pthread_mutex_lock(&q->mu);
	if (q->unfinished == q->count)
		rc = EINVAL; /* every item that was got has already been marked done */
	else if (--q->unfinished == 0)
		pthread_cond_broadcast(&q->all_done);
	assert(invariants_hold(q));
	pthread_mutex_unlock(&q->mu);
	return rc;
}

int bqueue_join(bqueue_t *q, long timeout_ms)
{
	struct timespec when, *deadline;
	int rc;

	if ((rc = deadline_init(timeout_ms, &when, &deadline)) != 0)
		return rc;
	pthread_mutex_lock(&q->mu);
	while (q->unfinished > 0 && rc == 0)
		rc = timeout_ms == 0 ? EAGAIN : wait_until(&q->all_done, &q->mu, deadline);
	if (q->unfinished == 0)
		rc = 0;
	pthread_mutex_unlock(&q->mu);
	return rc;
}

void bqueue_shutdown(bqueue_t *q, bool immediate)
{
	size_t first = 0, dropped = 0;

	pthread_mutex_lock(&q->mu);
	q->shut = true;
	if (immediate && q->count > 0) {
		/* Detach the items; they are freed below, after unlocking. */
		first = q->head;
		dropped = q->count;
		q->head = (q->head + q->count) % q->capacity;
		q->count = 0;
		q->unfinished -= dropped;
		if (q->unfinished == 0)
			pthread_cond_broadcast(&q->all_done);
	}
	/* Every blocked putter and getter must see the flag, not just one of them. */
	pthread_cond_broadcast(&q->not_full);
	pthread_cond_broadcast(&q->not_empty);
	assert(invariants_hold(q));
	pthread_mutex_unlock(&q->mu);

	/* The detached slots are ours: no put can succeed after shutdown, so none reuses them. */
	if (q->free_item)
		for (size_t i = 0; i < dropped; i++)
			q->free_item(q->slots[(first + i) % q->capacity]);
}
