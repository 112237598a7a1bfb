/* rlock.h - a reentrant lock (RLock), the contract.
 *
 * A reentrant lock is a mutual-exclusion lock that the thread holding it may acquire again
 * without deadlocking itself, like Python's threading.RLock or Java's ReentrantLock. The lock
 * remembers its owner (the thread holding it) and a hold count: each successful acquire by the
 * owner adds one, each release takes one away, and the lock becomes free for other threads only
 * when the count is back to 0. That lets a function that takes the lock call another function
 * that takes the same lock.
 *
 * Usage:
 *
 *     rlock_t *l;
 *     if ((rc = rlock_create(&l)) != 0)       // once, before any thread uses it
 *             return rc;
 *     rlock_acquire(l, -1);                   // count 1: this thread owns l
 *     rlock_acquire(l, -1);                   // count 2: at once, the owner does not block
 *     rlock_release(l);                       // count 1: still owned
 *     rlock_release(l);                       // count 0: free; one waiting thread may take it
 *     ...
 *     rlock_destroy(l);                       // once, when no thread uses l any more
 *
 * and, to step out of the lock entirely for a while (what a condition variable built on an RLock
 * does in its wait; Python calls these _release_save and _acquire_restore):
 *
 *     unsigned saved;
 *     rlock_release_all(l, &saved);           // free, whatever the depth; saved = the old count
 *     ...                                     // other threads may take l here
 *     rlock_reacquire(l, saved, -1);          // owned again with the same count
 *
 * Conventions (shared by every threadlab exercise):
 * - Functions return 0 or a positive errno value (EBUSY, ETIMEDOUT, EPERM, ...), never -1 with
 *   errno set. After an error the lock is exactly as it was before the call.
 * - long timeout_ms: -1 waits as long as it takes, 0 tries once without blocking, a positive
 *   value waits at most that many milliseconds, measured on CLOCK_MONOTONIC (a change of the
 *   wall clock does not stretch or shorten it). Any other negative value is EINVAL, whoever
 *   calls and whatever state the lock is in.
 * - Every function may be called by any thread at any time, concurrently with any other call on
 *   the same lock, except rlock_destroy (below). The lock's shared state (owner, count) is only
 *   read or written with the lock's internal mutex held, including in rlock_count,
 *   rlock_is_owned and rlock_locked.
 * - Ownership belongs to a thread, not to a piece of code: only the owning thread may release.
 *   A thread that exits while holding the lock leaves it held for ever (undefined to rely on).
 *
 * The exercise: build the lock from ONE pthread mutex (protecting owner and count) and ONE OR
 * MORE condition variables (where non-owners wait). Wrapping a recursive pthread mutex
 * (PTHREAD_MUTEX_RECURSIVE and its _NP cousins) is forbidden: it is the thing you are building.
 * Waiting threads must sleep on a condition variable, not spin. */
#ifndef RLOCK_H
#define RLOCK_H

#include <stdbool.h>

typedef struct rlock rlock_t;

/* Creates a free lock (no owner, count 0) and stores it in *out.
 * Returns 0; ENOMEM when memory or another resource ran out (*out is then set to NULL);
 * EINVAL if out is NULL. The caller owns the lock and frees it with rlock_destroy. */
int rlock_create(rlock_t **out);

/* Frees the lock. l may be NULL (nothing happens). The lock must be free and no thread may be
 * using it or waiting on it: destroying a held or awaited lock is undefined behaviour. */
void rlock_destroy(rlock_t *l);

/* Acquires the lock for the calling thread.
 * - If the caller already owns it: adds 1 to the count and returns 0 at once, whatever
 *   timeout_ms is (a valid timeout is still required).
 * - If it is free: the caller becomes the owner with count 1; returns 0 at once.
 * - If another thread owns it: timeout 0 returns EBUSY at once; otherwise blocks (sleeping, not
 *   spinning) until the lock is free and this thread takes it (0), or until timeout_ms have
 *   passed (ETIMEDOUT). When several threads wait, which one gets the lock is not specified.
 * Returns 0, EBUSY, ETIMEDOUT, EAGAIN (the caller owns the lock and its count is already
 * UINT_MAX), or EINVAL (l is NULL or timeout_ms < -1). On any error the caller's count and the
 * lock's owner are unchanged. */
int rlock_acquire(rlock_t *l, long timeout_ms);

/* Undoes one acquire by the owner: subtracts 1 from the count; when the count reaches 0 the lock
 * becomes free and a thread waiting in rlock_acquire or rlock_reacquire (if any) can take it.
 * Never blocks (beyond taking the internal mutex). Returns 0; EPERM if the calling thread does
 * not own the lock (another thread owns it, or it is free): owner and count are then unchanged;
 * EINVAL if l is NULL. */
int rlock_release(rlock_t *l);

/* The calling thread's hold count: the count if the caller owns the lock, 0 otherwise (also
 * when l is NULL). Never blocks beyond taking the internal mutex. */
unsigned rlock_count(rlock_t *l);

/* true if the calling thread owns the lock (false for NULL). */
bool rlock_is_owned(rlock_t *l);

/* true if some thread (the caller or another) owns the lock (false for NULL). The answer can be
 * out of date as soon as it returns when other threads use the lock; it is exact when they do
 * not. */
bool rlock_locked(rlock_t *l);

/* Releases every hold the owner has at once: stores the count in *count and frees the lock (a
 * waiting thread can take it). Never blocks beyond taking the internal mutex.
 * Returns 0; EPERM if the calling thread does not own the lock (another thread owns it, or it is
 * free); EINVAL if l or count is NULL. On an error the lock is unchanged and *count is not
 * written. */
int rlock_release_all(rlock_t *l, unsigned *count);

/* Acquires the lock with a count of `count` in one step, blocking like rlock_acquire: the usual
 * use is to take back the holds that rlock_release_all gave up. If the caller already owns the
 * lock, count is added to its count at once (EAGAIN, with nothing changed, if the sum would
 * exceed UINT_MAX). Returns 0, EBUSY (timeout 0 and another thread owns it), ETIMEDOUT, EAGAIN,
 * or EINVAL (l is NULL, count is 0, or timeout_ms < -1). On any error the caller's count and the
 * lock's owner are unchanged. */
int rlock_reacquire(rlock_t *l, unsigned count, long timeout_ms);

#endif
