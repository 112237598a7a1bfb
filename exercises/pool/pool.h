/* pool.h - a fixed-size worker pool with futures, the contract.
 *
 * A pool owns nworkers threads (its workers) and a queue of tasks. pool_submit puts a task on the
 * queue and hands back a future: a handle on the task's outcome that any thread can wait on
 * (future_get), ask about (future_state), cancel while the task has not started (future_cancel)
 * or attach done callbacks to (future_on_done). It is the shape of Python's
 * concurrent.futures.ThreadPoolExecutor and Future, Java's ExecutorService and FutureTask, and
 * GLib's GThreadPool.
 *
 * Usage:
 *
 *     pool_t *p;
 *     future_t *f;
 *     void *res;
 *     int err;
 *
 *     if ((rc = pool_create(&p, 4)) != 0)        // 4 workers, waiting for tasks
 *             return rc;
 *     if ((rc = pool_submit(p, task, arg, &f)) != 0)   // queued; the caller holds f
 *             ...;
 *     future_on_done(f, report, ud);             // optional: report(f, ud) once f is over
 *     rc = future_get(f, 500, &res, &err);       // 0: task returned err and stored res;
 *                                                // ETIMEDOUT: not finished within 500 ms
 *     future_release(f);                         // the caller is done with f
 *     pool_shutdown(p, true, false);             // optional: no new tasks, wait for the queue
 *     pool_destroy(p);                           // shuts down (waiting), joins every worker
 *
 * The life of a task, as future_state reports it:
 *
 *     PENDING --(a worker takes it)--> RUNNING --(fn returned)--> DONE
 *        \--(future_cancel, or pool_shutdown with cancel_pending)--> CANCELLED
 *
 * DONE and CANCELLED are final. A RUNNING task is never interrupted: it can no longer be
 * cancelled. A CANCELLED task's function is never called.
 *
 * Futures are reference counted. A future has at most two owners: the caller of pool_submit
 * (when out is not NULL), whose reference future_release drops, and the pool, which holds its
 * own reference from pool_submit until it is finished with the task: after the task ran and
 * every done callback registered before completion has returned, or, for a cancelled task, once
 * the pool has dropped the task from its queue. The future's memory is freed when both are gone,
 * in whichever order that happens. So the caller may release a future before the task ran (that
 * does NOT cancel it: the task still runs and its callbacks are still called) or long after,
 * even after pool_destroy; and a future stays valid (for future_get, future_state,
 * future_cancel, future_on_done) after pool_destroy until its owner releases it. Using a future
 * after releasing it is undefined, as is releasing it twice.
 *
 * Done callbacks (future_on_done) run exactly once each, when the future becomes DONE or
 * CANCELLED:
 * - those registered before that moment run in the order they were registered, on the thread
 *   that ended the future: the worker that ran the task (after the task returned), or the thread
 *   that cancelled it (inside future_cancel or pool_shutdown, before that call returns);
 * - one registered after that moment runs at once, on the registering thread, inside
 *   future_on_done.
 * They run with no lock of the pool or of the future held, so a callback may call any function
 * of this API (future_get and future_state on its own future answer at once; it may submit more
 * work to the pool), with three exceptions: it must not call future_release on a future whose
 * reference it does not own (the future it is called for stays valid during the callback: the
 * pool's reference is dropped only after every callback returned; a callback may release the
 * caller's reference if the caller handed it over, e.g. through ud), nor pool_shutdown with
 * wait = true or pool_destroy on the pool that runs it (the pool would wait for itself). Waiters
 * in future_get are woken when the future ends, before its callbacks run: future_get can return
 * while a callback of the same future is still running.
 *
 * Conventions (shared by every threadlab exercise):
 * - Functions return 0 or a positive errno value (EINVAL, ETIMEDOUT, ESHUTDOWN, ...), never -1
 *   with errno set. After an error nothing has changed.
 * - long timeout_ms: -1 waits as long as it takes, 0 looks once without blocking, a positive
 *   value waits at most that many milliseconds measured on CLOCK_MONOTONIC (a change of the wall
 *   clock does not stretch or shorten it). Any other negative value is EINVAL.
 * - Every function may be called by any thread at any time, concurrently with any other call on
 *   the same pool or future, except pool_destroy (below). Shared state (the queue, a future's
 *   state, result and callbacks) is only read or written with the lock that guards it held,
 *   including in future_state.
 * - Misuse (NULL pool or future where one is required, a released future, a destroyed pool) is
 *   undefined behaviour unless a return code is given for it below.
 *
 * The exercise: one mutex and condition variable(s) for the pool's queue, and a mutex and
 * condition variable per future (or one shared by every future: your choice, explain it in your
 * DESIGN comment). Workers sleep on a condition variable while the queue is empty; they must
 * never hold a lock while a task or a callback runs. */
#ifndef POOL_H
#define POOL_H

#include <stdbool.h>
#include <stddef.h>

typedef struct pool pool_t;
typedef struct future future_t;

/* A task. Called on a worker thread with the arg given to pool_submit and a pointer to the
 * task's result slot, which holds NULL when the task starts. Returns 0 when it succeeded, or its
 * own error number (any non-zero int: the pool passes it on to future_get untouched, and the
 * worker goes on with the next task). The task may store a result in *result whatever it
 * returns; the pool never looks at or frees that pointer. */
typedef int (*pool_task_fn)(void *arg, void **result);

enum future_state {
	FUTURE_PENDING,   /* queued, not started */
	FUTURE_RUNNING,   /* a worker is running the task */
	FUTURE_DONE,      /* the task returned (successfully or with its own error) */
	FUTURE_CANCELLED, /* cancelled before it started; the task never runs */
};

/* Creates a pool of nworkers worker threads and stores it in *out. The workers wait for tasks.
 * Returns 0; EINVAL if nworkers is 0 or out is NULL; ENOMEM if memory ran out; EAGAIN (or the
 * error pthread_create gave) if a thread could not be started. On any error *out is set to NULL
 * (when out is not NULL) and nothing is left behind: every thread already started has been
 * stopped and joined, every allocation freed. The caller owns the pool and ends it with
 * pool_destroy. */
int pool_create(pool_t **out, size_t nworkers);

/* Queues fn(arg, &result) to run on a worker; tasks start in the order they were submitted (they
 * may finish in any order). Never blocks beyond taking the pool's lock: the queue is unbounded.
 * If out is not NULL, *out receives a new future in state PENDING, with one reference owned by
 * the caller (drop it with future_release). If out is NULL the task runs all the same and the
 * caller gets no handle on it ("fire and forget").
 * Returns 0; EINVAL if fn is NULL; ESHUTDOWN if pool_shutdown has been called on p (the task is
 * not queued and never runs); ENOMEM if memory ran out. On any error *out is set to NULL (when out
 * is not NULL) and nothing was queued. */
int pool_submit(pool_t *p, pool_task_fn fn, void *arg, future_t **out);

/* Stops the pool taking new tasks: every later pool_submit returns ESHUTDOWN.
 * - cancel_pending = true: every task still queued (PENDING) is cancelled, exactly as
 *   future_cancel would: it becomes CANCELLED, its waiters in future_get wake with ECANCELED and
 *   its done callbacks run on the calling thread before pool_shutdown returns. Tasks already
 *   RUNNING are not interrupted.
 * - cancel_pending = false: queued tasks stay queued and the workers still run every one of them
 *   before they stop.
 * - wait = true: blocks until every worker has finished its last task (and that task's done
 *   callbacks) and stopped: every submitted task is then DONE or CANCELLED. The worker threads
 *   themselves are joined by pool_destroy. wait = false returns at once; the workers drain the
 *   queue in the background.
 * Idempotent: it may be called any number of times, from any threads; a later call still
 * cancels what is queued if it asks to, and still waits if it asks to. Returns 0.
 * Calling it with wait = true from a task or a done callback running on this pool is undefined
 * (the pool would wait for itself). */
int pool_shutdown(pool_t *p, bool wait, bool cancel_pending);

/* pool_shutdown(p, true, false), then joins every worker thread and frees the pool. Every queued
 * task has run when it returns; futures handed out stay valid until their owners release them
 * (see above). p may be NULL (nothing happens). No other call may use p during or after
 * pool_destroy, and it must not be called from a task or callback of this pool. */
void pool_destroy(pool_t *p);

/* The number of workers given to pool_create. Never blocks. */
size_t pool_size(pool_t *p);

/* Waits until the task is over, at most timeout_ms milliseconds.
 * Returns 0 when the task ran (state DONE): *result receives what the task stored in its result
 * slot and *task_err what it returned (0 or its own error number; a task that failed still makes
 * future_get return 0). Returns ECANCELED if it was cancelled (state CANCELLED; *result and
 * *task_err are not written). Returns ETIMEDOUT if it is still PENDING or RUNNING when the
 * timeout expires (timeout 0: at once), and EINVAL for a timeout below -1; *result and *task_err
 * are then not written. result and task_err may each be NULL (not wanted).
 * Any number of threads may wait on the same future at once; all of them wake when it ends, by
 * completion or by cancellation. It may be called again after it returned: a DONE future gives
 * the same answer every time. Waiting from a task for a future queued behind it on a pool whose
 * every worker is busy waits for ever (or until the timeout). */
int future_get(future_t *f, long timeout_ms, void **result, int *task_err);

/* Cancels the task if it has not started: a PENDING future becomes CANCELLED, its waiters wake
 * with ECANCELED, its done callbacks run on the calling thread before this returns, and its
 * function is never called. Returns true if the future is CANCELLED when this returns (also when
 * an earlier call cancelled it: the task will never run), false if the task is RUNNING or DONE
 * (nothing changes: a running task is never interrupted). Never blocks beyond taking the
 * future's lock (and running the callbacks). */
bool future_cancel(future_t *f);

/* The future's state right now. Never blocks beyond taking the future's lock. The answer may be
 * out of date as soon as it returns while a worker runs the task, except that DONE and CANCELLED
 * never change. */
enum future_state future_state(future_t *f);

/* Arranges for cb(f, ud) to be called once, when the future ends (DONE or CANCELLED): see "Done
 * callbacks" above for the thread and the order. If the future has already ended, cb runs at
 * once on the calling thread, before future_on_done returns. Any number of callbacks may be
 * added to a future.
 * Returns 0; EINVAL if cb is NULL; ENOMEM if memory ran out (cb will then never be called). */
int future_on_done(future_t *f, void (*cb)(future_t *f, void *ud), void *ud);

/* Drops the caller's reference to f (f may be NULL: nothing happens). It does not cancel the
 * task and never blocks beyond taking the future's lock. Valid whatever the state: before the
 * task ran, while it runs, after it ended, and after pool_destroy. The caller must not use f
 * afterwards; the memory is freed once the pool is finished with the task too. */
void future_release(future_t *f);

#endif
