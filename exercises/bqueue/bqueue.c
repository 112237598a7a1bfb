/* bqueue.c - a bounded blocking queue. YOUR CODE GOES HERE.
 *
 * The contract is bqueue.h: read it first, it is what the tests check. Every function below
 * compiles and returns ENOSYS (or does nothing) so that the tests fail fast instead of hanging.
 *
 * DESIGN: (replace this with yours, in a few sentences) which lock guards which field, which
 * condition variable each kind of waiter sleeps on and who wakes it (signal or broadcast, and
 * why that is enough), and what shutdown does to each kind of waiter.
 */
#include "bqueue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct bqueue {
	/* TODO: the items (a ring buffer of `capacity` slots is the usual choice), how many there
	 * are, how many items are not yet marked done, whether the queue is shut down, the lock
	 * that guards them and the condition variables that threads wait on.
	 * Mark each field with the lock that guards it. */
	size_t capacity;
};

int bqueue_create(bqueue_t **out, size_t capacity, void (*free_item)(void *))
{
	/* TODO: validate the arguments, allocate the queue and its storage, initialise the lock and
	 * the condition variables. Hint: pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) makes
	 * pthread_cond_timedwait take a CLOCK_MONOTONIC deadline. Undo what was done on failure. */
	(void)out;
	(void)capacity;
	(void)free_item;
	return ENOSYS;
}

void bqueue_destroy(bqueue_t *q)
{
	/* TODO: hand each item left to free_item (if any), then release everything. */
	(void)q;
}

int bqueue_put(bqueue_t *q, void *item, long timeout_ms)
{
	/* TODO: wait while the queue is full (and not shut down), then append the item and wake a
	 * thread that is waiting for an item. Hint: the thread you woke may find that another thread
	 * got there first; so may you. Compute the deadline once, before the first wait. */
	(void)q;
	(void)item;
	(void)timeout_ms;
	return ENOSYS;
}

int bqueue_get(bqueue_t *q, void **item, long timeout_ms)
{
	/* TODO: the mirror image of put. After a shutdown, items that are left are still handed out;
	 * only an empty queue answers ESHUTDOWN. */
	(void)q;
	(void)item;
	(void)timeout_ms;
	return ENOSYS;
}

size_t bqueue_size(bqueue_t *q)
{
	/* TODO: another thread may be changing the count right now. */
	(void)q;
	return 0;
}

size_t bqueue_capacity(bqueue_t *q)
{
	/* TODO */
	(void)q;
	return 0;
}

int bqueue_task_done(bqueue_t *q)
{
	/* TODO: one more item is finished; when none is left unfinished, every joiner may go.
	 * How do you know whether the caller got an item that is not yet marked done? */
	(void)q;
	return ENOSYS;
}

int bqueue_join(bqueue_t *q, long timeout_ms)
{
	/* TODO: wait until nothing is unfinished. */
	(void)q;
	(void)timeout_ms;
	return ENOSYS;
}

void bqueue_shutdown(bqueue_t *q, bool immediate)
{
	/* TODO: set the flag and wake every thread that is waiting (how many can be waiting?).
	 * immediate: drop the items left (free_item) and count them as done. Is it wise to call
	 * free_item, which is not your code, while you hold your lock? */
	(void)q;
	(void)immediate;
}
