/* pool.c - a fixed-size worker pool with futures (reference).
 *
 * DESIGN: the pool is a FIFO queue of futures (the future itself is the queue node: `next`)
 * guarded by one mutex, p->mu, with two condition variables: `work` (a worker waits on it while
 * the queue is empty and the pool is not shut down; submit signals one worker per task, shutdown
 * wakes them all with a broadcast, since every one of them must see the flag and stop) and
 * `stopped` (pool_shutdown(wait) waits on it until the count of live workers is 0; the last
 * worker to stop broadcasts it, since any number of threads may be waiting). A worker stops only
 * when the pool is shut down AND the queue is empty, so shutdown(wait) means "drain, then stop".
 *
 * A future's state, result, callbacks and reference count are guarded by "the future's lock",
 * future_mu(f): one of FUTURE_LOCKS process-wide mutexes, picked by the future's address (lock
 * striping, as libc++ does for atomic shared_ptr). Each future has its own condition variable
 * f->done, on CLOCK_MONOTONIC so that future_get computes its absolute deadline once; the end of
 * a future (DONE or CANCELLED) broadcasts it, since every getter must wake. Why not a mutex
 * inside each future: a future is freed by whichever thread drops the last reference, often just
 * after another thread unlocked the future's lock. POSIX allows destroying a mutex then, but
 * helgrind (valgrind 3.19, glibc 2.36) reports the other thread's pthread_mutex_unlock as racing
 * with pthread_mutex_destroy, and the kit's reference must be helgrind-clean; static mutexes are
 * never destroyed. (A mutex per future is a correct design as well.) Futures that share a
 * mutex only share waiting for it, briefly: no code holds two futures' locks at once.
 *
 * A future has a reference count: 1 for the pool from submit until the worker is finished with
 * it (after the task and the callbacks registered before completion), or until a worker or
 * pool_shutdown drops it from the queue after it was cancelled; 1 more for the caller, dropped
 * by future_release. Whoever drops the count to 0 frees the future. future_cancel does not take
 * the task out of the queue (that would need p->mu, and a future may be cancelled after its pool
 * is gone): it only marks it CANCELLED under the future's lock, and the worker that later
 * dequeues it sees that and drops it. RUNNING is set under the future's lock by the worker only
 * if the state is still PENDING, so a task is either cancelled or run, never both. Tasks and
 * callbacks always run with no lock held: callbacks are unhooked from the future under its lock
 * and called after unlocking.
 *
 * Lock order: none is needed, because no code path holds two locks at once: p->mu and a future's
 * lock are never nested (the queue is handled under p->mu, the future's state under its lock,
 * one after the other). */
#include "pool.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

struct callback {
	void (*cb)(future_t *f, void *ud);
	void *ud;
	struct callback *next;
};

/* Every field marked "mu" is guarded by future_mu(f). */
struct future {
	pthread_cond_t done;       /* broadcast when state becomes DONE or CANCELLED; CLOCK_MONOTONIC */
	enum future_state state;   /* guarded by mu */
	unsigned refs;             /* guarded by mu: pool's + caller's references still held */
	void *result;              /* guarded by mu: valid once state == DONE */
	int err;                   /* guarded by mu: the task's return, valid once state == DONE */
	struct callback *cbs;      /* guarded by mu: registered callbacks, NULL once ended */
	struct callback **cbs_end; /* guarded by mu: where the next callback is appended */
	pool_task_fn fn;           /* set before the future is queued, then read-only */
	void *arg;                 /* set before the future is queued, then read-only */
	future_t *next;            /* guarded by the pool's mu while queued */
};

struct pool {
	pthread_mutex_t mu;      /* guards head, tail, shut and live */
	pthread_cond_t work;     /* signalled per submitted task, broadcast by shutdown */
	pthread_cond_t stopped;  /* broadcast when live drops to 0 */
	future_t *head, *tail;   /* guarded by mu: the queue, FIFO */
	bool shut;               /* guarded by mu: pool_shutdown was called */
	size_t live;             /* guarded by mu: workers that have not stopped */
	size_t nworkers;         /* set by pool_create, then read-only */
	pthread_t *threads;      /* set by pool_create, then read-only; joined by pool_destroy */
	pthread_condattr_t cattr; /* CLOCK_MONOTONIC; read-only, used for every future's cond */
};

#define FUTURE_LOCK_BITS 6
#define FUTURE_LOCKS (1 << FUTURE_LOCK_BITS)

static pthread_mutex_t future_locks[FUTURE_LOCKS] = {
	[0 ... FUTURE_LOCKS - 1] = PTHREAD_MUTEX_INITIALIZER,
};

/* The future's lock: one of the striped mutexes, always the same one for a given future. */
static pthread_mutex_t *future_mu(const future_t *f)
{
	uint64_t h = (uint64_t)(uintptr_t)f * 0x9E3779B97F4A7C15ULL; /* Fibonacci hashing */

	return &future_locks[h >> (64 - FUTURE_LOCK_BITS)];
}

static bool ended(const future_t *f)
{
	return f->state == FUTURE_DONE || f->state == FUTURE_CANCELLED;
}

/* Frees a future whose last reference is gone. */
static void future_free(future_t *f)
{
	assert(f->cbs == NULL);
	pthread_cond_destroy(&f->done);
	free(f);
}

/* Drops one reference (the pool's or the caller's); frees f with the last one. */
static void future_unref(future_t *f)
{
	bool last;

	pthread_mutex_lock(future_mu(f));
	assert(f->refs > 0);
	last = --f->refs == 0;
	pthread_mutex_unlock(future_mu(f));
	if (last)
		future_free(f);
}

/* Ends f in state `to` (DONE or CANCELLED) and returns its callbacks, to be run by the caller
 * after unlocking. Called with the future's lock held. */
static struct callback *future_end_locked(future_t *f, enum future_state to)
{
	struct callback *cbs = f->cbs;

	assert(!ended(f));
	f->state = to;
	f->cbs = NULL;
	f->cbs_end = &f->cbs;
	pthread_cond_broadcast(&f->done);
	return cbs;
}

/* Runs (in order) and frees a list unhooked by future_end_locked. Called with no lock held. */
static void run_callbacks(future_t *f, struct callback *cbs)
{
	while (cbs) {
		struct callback *next = cbs->next;

		cbs->cb(f, cbs->ud);
		free(cbs);
		cbs = next;
	}
}

/* PENDING -> CANCELLED, with its callbacks run here. true if f is CANCELLED afterwards. */
static bool future_cancel_pending(future_t *f)
{
	struct callback *cbs;
	bool cancelled;

	pthread_mutex_lock(future_mu(f));
	if (f->state != FUTURE_PENDING) {
		cancelled = f->state == FUTURE_CANCELLED;
		pthread_mutex_unlock(future_mu(f));
		return cancelled;
	}
	cbs = future_end_locked(f, FUTURE_CANCELLED);
	pthread_mutex_unlock(future_mu(f));
	run_callbacks(f, cbs);
	return true;
}

/* Runs one dequeued future on the calling worker, then drops the pool's reference. */
static void worker_run(future_t *f)
{
	struct callback *cbs;
	void *result = NULL;
	int err;

	pthread_mutex_lock(future_mu(f));
	if (f->state == FUTURE_CANCELLED) {
		pthread_mutex_unlock(future_mu(f));
		future_unref(f);
		return;
	}
	assert(f->state == FUTURE_PENDING);
	f->state = FUTURE_RUNNING;
	pthread_mutex_unlock(future_mu(f));

	err = f->fn(f->arg, &result); /* no lock held */

	pthread_mutex_lock(future_mu(f));
	f->result = result;
	f->err = err;
	cbs = future_end_locked(f, FUTURE_DONE);
	pthread_mutex_unlock(future_mu(f));
	run_callbacks(f, cbs); /* no lock held; the pool's reference keeps f valid */
	future_unref(f);
}

static void *worker_main(void *arg)
{
	pool_t *p = arg;

	for (;;) {
		future_t *f;

		pthread_mutex_lock(&p->mu);
		while (p->head == NULL && !p->shut)
			pthread_cond_wait(&p->work, &p->mu);
		f = p->head;
		if (f == NULL) { /* shut down and drained: stop */
			if (--p->live == 0)
				pthread_cond_broadcast(&p->stopped);
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		p->head = f->next;
		if (p->head == NULL)
			p->tail = NULL;
		f->next = NULL;
		pthread_mutex_unlock(&p->mu);
		worker_run(f);
	}
}

int pool_create(pool_t **out, size_t nworkers)
{
	pool_t *p;
	size_t i;
	int rc = 0;

	if (out == NULL)
		return EINVAL;
	*out = NULL;
	if (nworkers == 0)
		return EINVAL;
	if ((p = calloc(1, sizeof *p)) == NULL)
		return ENOMEM;
	if ((p->threads = calloc(nworkers, sizeof *p->threads)) == NULL) {
		free(p);
		return ENOMEM;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->stopped, NULL);
	pthread_condattr_init(&p->cattr);
	pthread_condattr_setclock(&p->cattr, CLOCK_MONOTONIC);
	p->nworkers = nworkers;
	p->live = nworkers;
	for (i = 0; i < nworkers; i++) {
		if ((rc = pthread_create(&p->threads[i], NULL, worker_main, p)) != 0)
			break;
	}
	if (i < nworkers) {
		/* Stop and join the i workers already started: they see `shut` with an empty queue. */
		pthread_mutex_lock(&p->mu);
		p->shut = true;
		pthread_cond_broadcast(&p->work);
		pthread_mutex_unlock(&p->mu);
		for (size_t j = 0; j < i; j++)
			pthread_join(p->threads[j], NULL);
		pthread_condattr_destroy(&p->cattr);
		pthread_cond_destroy(&p->stopped);
		pthread_cond_destroy(&p->work);
		pthread_mutex_destroy(&p->mu);
		free(p->threads);
		free(p);
		return rc;
	}
	*out = p;
	return 0;
}

int pool_submit(pool_t *p, pool_task_fn fn, void *arg, future_t **out)
{
	future_t *f;

	if (out != NULL)
		*out = NULL;
	if (fn == NULL)
		return EINVAL;
	if ((f = calloc(1, sizeof *f)) == NULL)
		return ENOMEM;
	pthread_cond_init(&f->done, &p->cattr);
	f->state = FUTURE_PENDING;
	f->refs = out != NULL ? 2 : 1;
	f->cbs_end = &f->cbs;
	f->fn = fn;
	f->arg = arg;

	pthread_mutex_lock(&p->mu);
	if (p->shut) {
		pthread_mutex_unlock(&p->mu);
		future_free(f);
		return ESHUTDOWN;
	}
	if (p->tail != NULL)
		p->tail->next = f;
	else
		p->head = f;
	p->tail = f;
	pthread_cond_signal(&p->work); /* one task, one worker */
	pthread_mutex_unlock(&p->mu);
	if (out != NULL)
		*out = f;
	return 0;
}

int pool_shutdown(pool_t *p, bool wait, bool cancel_pending)
{
	future_t *victims = NULL;

	pthread_mutex_lock(&p->mu);
	p->shut = true;
	if (cancel_pending) { /* take the whole queue; the workers will find it empty */
		victims = p->head;
		p->head = p->tail = NULL;
	}
	pthread_cond_broadcast(&p->work); /* every idle worker must see `shut` */
	pthread_mutex_unlock(&p->mu);

	while (victims != NULL) {
		future_t *f = victims;

		victims = f->next; /* f is off the queue: only this thread sees `next` now */
		f->next = NULL;
		future_cancel_pending(f);
		future_unref(f); /* the pool's reference: the task left the queue */
	}

	if (wait) {
		pthread_mutex_lock(&p->mu);
		while (p->live > 0)
			pthread_cond_wait(&p->stopped, &p->mu);
		pthread_mutex_unlock(&p->mu);
	}
	return 0;
}

void pool_destroy(pool_t *p)
{
	if (p == NULL)
		return;
	pool_shutdown(p, true, false);
	for (size_t i = 0; i < p->nworkers; i++)
		pthread_join(p->threads[i], NULL);
	assert(p->head == NULL && p->live == 0); /* every worker is joined: no lock needed */
	pthread_condattr_destroy(&p->cattr);
	pthread_cond_destroy(&p->stopped);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->mu);
	free(p->threads);
	free(p);
}

size_t pool_size(pool_t *p)
{
	return p->nworkers;
}

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

int future_get(future_t *f, long timeout_ms, void **result, int *task_err)
{
	struct timespec deadline;
	int rc = 0;

	if (timeout_ms < -1)
		return EINVAL;
	if (timeout_ms > 0)
		deadline = deadline_after(timeout_ms); /* once: wakeups cannot stretch the wait */

	pthread_mutex_lock(future_mu(f));
	while (!ended(f) && rc == 0) {
		if (timeout_ms == 0)
			rc = ETIMEDOUT;
		else if (timeout_ms < 0)
			rc = pthread_cond_wait(&f->done, future_mu(f));
		else
			rc = pthread_cond_timedwait(&f->done, future_mu(f), &deadline);
	}
	/* The state decides, not rc: a timed wait may time out just as the future ends. */
	if (f->state == FUTURE_DONE) {
		if (result != NULL)
			*result = f->result;
		if (task_err != NULL)
			*task_err = f->err;
		rc = 0;
	} else if (f->state == FUTURE_CANCELLED) {
		rc = ECANCELED;
	} else {
		rc = ETIMEDOUT;
	}
	pthread_mutex_unlock(future_mu(f));
	return rc;
}

bool future_cancel(future_t *f)
{
	return future_cancel_pending(f);
}

enum future_state future_state(future_t *f)
{
	enum future_state s;

	pthread_mutex_lock(future_mu(f));
	s = f->state;
	pthread_mutex_unlock(future_mu(f));
	return s;
}

int future_on_done(future_t *f, void (*cb)(future_t *f, void *ud), void *ud)
{
	struct callback *c;

	if (cb == NULL)
		return EINVAL;
	/* Allocate before locking: no malloc under the future's lock, and no ENOMEM after deciding. */
	if ((c = malloc(sizeof *c)) == NULL)
		return ENOMEM;
	c->cb = cb;
	c->ud = ud;
	c->next = NULL;

	pthread_mutex_lock(future_mu(f));
	if (!ended(f)) {
		*f->cbs_end = c;
		f->cbs_end = &c->next;
		pthread_mutex_unlock(future_mu(f));
		return 0;
	}
	pthread_mutex_unlock(future_mu(f));
	free(c);
	cb(f, ud); /* already over: at once, on this thread, no lock held */
	return 0;
}

void future_release(future_t *f)
{
	if (f != NULL)
		future_unref(f);
}
