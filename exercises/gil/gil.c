/* gil.c - a Global Interpreter Lock. Your work: read gil.h first, it is the contract.
 *
 * DESIGN: (write here which mutex guards which field, which condition variable each waiter sleeps
 * on and who wakes it, and how a thread that hands the GIL over knows another thread took it.)
 *
 * Every function below compiles and returns ENOSYS ("not implemented") until you write it. */
#include "gil.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct gil {
	/* TODO: the GIL's state, each field marked with the lock that guards it. Hint: a mutex,
	 * who holds the GIL, a drop request, and condition variables for "the GIL was given up"
	 * and "the GIL was taken"; keep the switch interval too. */
	long interval_us;
};

int gil_create(gil_t **out, long interval_us)
{
	/* TODO: check the arguments (EINVAL), allocate (ENOMEM), initialise. A condition variable
	 * that is waited on with a deadline wants pthread_condattr_setclock(CLOCK_MONOTONIC). */
	(void)interval_us;
	if (out != NULL)
		*out = NULL;
	return ENOSYS;
}

void gil_destroy(gil_t *g)
{
	/* TODO: destroy what gil_create made and free it. */
	(void)g;
}

int gil_acquire(gil_t *g)
{
	/* TODO: EDEADLK for the holder; otherwise sleep until the GIL is free and take it. Wait one
	 * interval at a time: after an interval with no hand-over, ask the holder to drop it. */
	(void)g;
	return ENOSYS;
}

int gil_release(gil_t *g)
{
	/* TODO: EPERM unless the caller holds it; give it up and wake a waiter. */
	(void)g;
	return ENOSYS;
}

int gil_checkpoint(gil_t *g)
{
	/* TODO: EPERM unless the caller holds it. If a waiter asked, give the GIL up, wait until
	 * another thread has taken it, then take it back as gil_acquire does. Read the request
	 * with the lock held. */
	(void)g;
	return ENOSYS;
}

int gil_blocking_call(gil_t *g, void (*fn)(void *arg), void *arg)
{
	/* TODO: EINVAL, EPERM; give the GIL up, call fn(arg) with no lock held, take it back. */
	(void)g;
	(void)fn;
	(void)arg;
	return ENOSYS;
}

bool gil_held(gil_t *g)
{
	/* TODO: does the calling thread hold the GIL? Read the state with the lock held. */
	(void)g;
	return false;
}
