/* cache.h - a thread-safe LRU cache with get-or-compute (one computation per key), the contract.
 *
 * A cache maps string keys to values. It holds at most `capacity` entries and, when a new key
 * arrives while it is full, evicts the least recently used entry, like Python's
 * functools.lru_cache. cache_get_or_compute returns the value of a key and, when the key is
 * missing, computes it with a function you pass and stores the result. When several threads ask
 * for the same missing key at the same time, only one of them computes; the others wait for its
 * result and share it, like Go's singleflight (golang.org/x/sync/singleflight): ten threads
 * asking for the same expensive page cause one computation, not ten.
 *
 * Usage:
 *
 *     static void *val_copy(const void *v);    // a new value equal to v, or NULL (no memory)
 *     static void val_free(void *v);           // frees a value (the cache's, or a copy)
 *     static const struct cache_value_ops ops = { val_copy, val_free };
 *
 *     cache_t *c;
 *     void *v;
 *     if ((rc = cache_create(&c, 1000, &ops)) != 0)   // once, before any thread uses it
 *             return rc;
 *     cache_put(c, "answer", make_value(42));         // the cache owns that value now
 *     if (cache_get(c, "answer", &v) == 0) {          // v is a fresh copy: yours
 *             use(v);
 *             val_free(v);
 *     }
 *     rc = cache_get_or_compute(c, "page:7", render_page, ctx, &v);  // 0 and a copy, or an error
 *     ...
 *     cache_destroy(c);                               // once, when no thread uses c any more
 *
 * Ownership:
 * - Keys are copied by the cache: the string passed to any call may change or be freed as soon
 *   as the call returns.
 * - Values given to the cache (by cache_put, or returned by a successful computation) belong to
 *   the cache. It frees each of them exactly once, with ops->free, when the value is replaced,
 *   removed, evicted, or when the cache is destroyed; never earlier.
 * - Callers never see a stored value, only copies: cache_get and cache_get_or_compute hand out a
 *   fresh value made by ops->copy while the entry is protected from every other thread (with the
 *   cache's lock held), so that a concurrent put, remove or eviction can never free the value
 *   being copied, nor the copy a caller holds. The caller owns each copy it receives and frees it
 *   with ops->free. Two calls never receive the same copy.
 *
 * Threads and callbacks:
 * - Every function may be called by any thread at any time, concurrently with any other call on
 *   the same cache, except cache_destroy (below).
 * - ops->copy and ops->free may be called with the cache's internal lock held, from any thread
 *   using the cache: they must be thread-safe and must not call the cache.
 * - A compute function is called by the thread that called cache_get_or_compute, WITHOUT any lock
 *   of the cache held: while it runs, other threads can use the cache, including computations of
 *   other keys. A compute function may call the cache itself (get, put, remove, and
 *   cache_get_or_compute for another key). Asking, from inside a computation, for the key the
 *   same thread is computing returns EDEADLK instead of waiting for ever for itself. Two threads
 *   whose computations each ask for the key the other is computing deadlock: the cache does not
 *   detect that, just as a mutex does not detect two locks taken in opposite orders.
 *
 * Recency: an entry becomes the most recently used when it is stored (cache_put, or a computed
 * value being stored) and each time cache_get or cache_get_or_compute finds it stored. Threads
 * that receive the result of another thread's computation do not touch recency again.
 *
 * Statistics (cache_stats), each updated with the cache's lock held:
 * - hits: calls of cache_get or cache_get_or_compute that found the key stored, plus calls of
 *   cache_get_or_compute that found another thread computing the key and waited for its result
 *   (counted once, when the call starts waiting, whatever the computation's outcome). So ten
 *   threads asking for the same missing key together count 1 miss and 9 hits.
 * - misses: calls of cache_get that returned ENOENT, plus calls of cache_get_or_compute that
 *   started a computation.
 * - evictions: entries removed to make room for a new key (not those removed by cache_remove,
 *   replaced by a put, or freed by cache_destroy).
 * - size: the number of entries stored now; never more than capacity. A key being computed is
 *   not an entry until its computation succeeds.
 * Calls that fail with EINVAL or EDEADLK count nothing, so after the calls have returned,
 * hits + misses = the number of cache_get and cache_get_or_compute calls that returned anything
 * else.
 *
 * Conventions (shared by every threadlab exercise): functions return 0 or a positive errno value
 * (ENOENT, EDEADLK, ENOMEM, EINVAL, ...), never -1 with errno set; results come back through
 * out-parameters, which are written only on success. */
#ifndef CACHE_H
#define CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cache cache_t;

/* How the cache copies and frees values. Both must be thread-safe, must not call the cache, and
 * may be called with the cache's lock held. copy returns a new value equal to value (owned by
 * whoever asked for it) or NULL when it cannot (the call that needed the copy then fails with
 * ENOMEM). free frees a value; it is never called with NULL. */
struct cache_value_ops {
	void *(*copy)(const void *value);
	void (*free)(void *value);
};

/* A snapshot of the cache's counters, all read in one critical section (see "Statistics"). */
struct cache_stats {
	uint64_t hits, misses, evictions;
	size_t size;
};

/* Computes the value of key. ud is the pointer given to cache_get_or_compute. Returns 0 and
 * stores a new, non-NULL value in *value (the cache takes ownership of it), or returns a positive
 * errno (then *value is ignored: the function keeps and frees whatever it made). key is valid
 * only during the call. Runs without the cache's lock held (see "Threads and callbacks"). */
typedef int (*cache_compute_fn)(const char *key, void *ud, void **value);

/* Creates an empty cache that holds at most capacity entries and stores it in *out. ops is copied
 * (the struct may go away after the call). Returns 0; EINVAL if out or ops is NULL, if ops->copy
 * or ops->free is NULL, or if capacity is 0; ENOMEM when memory or another resource ran out.
 * On error *out is not written. The caller frees the cache with cache_destroy. */
int cache_create(cache_t **out, size_t capacity, const struct cache_value_ops *ops);

/* Frees the cache: every stored value once with ops->free, every key, and the cache itself.
 * Copies handed out earlier belong to their callers and are not touched. c may be NULL (nothing
 * happens). No thread may be using the cache, and no computation may be in progress: destroying
 * a cache in use is undefined behaviour. */
void cache_destroy(cache_t *c);

/* Looks key up. If it is stored: makes it the most recently used entry, counts a hit, stores a
 * fresh copy of its value in *copy (the caller owns it) and returns 0. Otherwise counts a miss
 * and returns ENOENT. Never waits for a computation: a key that another thread is computing
 * and that is not stored yet is ENOENT. Blocks only to take the cache's lock.
 * Returns 0, ENOENT, ENOMEM (ops->copy returned NULL: the entry stays stored and the hit
 * counts), or EINVAL (c, key or copy is NULL). On error *copy is not written. */
int cache_get(cache_t *c, const char *key, void **copy);

/* Stores value under key and makes it the most recently used entry; the cache owns value from
 * now on. If key is already stored, its old value is replaced and freed once with ops->free, and
 * the size does not change. If key is new and the cache is full, the least recently used entry
 * is evicted first (its value freed once, evictions + 1). If another thread is computing key,
 * the put takes effect now and the computation's value replaces it when the computation
 * succeeds. Blocks only to take the cache's lock.
 * Returns 0; EINVAL (c, key or value is NULL) or ENOMEM: the cache is then unchanged and the
 * caller still owns value. */
int cache_put(cache_t *c, const char *key, void *value);

/* Removes key and frees its value once with ops->free. A computation of key in progress is not
 * affected (its value is stored when it succeeds). Blocks only to take the cache's lock.
 * Returns 0, ENOENT (key is not stored: nothing changes) or EINVAL (c or key is NULL). */
int cache_remove(cache_t *c, const char *key);

/* Returns a copy of the value of key, computing the value first if it is missing:
 * - key stored: like cache_get (a hit, the entry becomes the most recently used); fn is not
 *   called.
 * - key being computed by another thread: counts a hit and waits (as long as it takes) for that
 *   computation. If it succeeds, returns 0 and a fresh copy of the computed value (even if
 *   that value was already evicted or replaced by the time this thread wakes up); if it fails,
 *   returns the same error.
 * - key being computed by the calling thread (this call comes from inside that computation):
 *   returns EDEADLK at once; nothing is counted.
 * - otherwise: counts a miss and calls fn(key, ud, &value) on the calling thread without the
 *   cache's lock held. Other threads asking for key meanwhile wait for this computation (they do
 *   not call fn). If fn returns 0, value is stored as if by cache_put at that moment (replacing
 *   any value put meanwhile, evicting the least recently used entry if the cache is full), the
 *   caller and every waiting thread each receive their own copy, and the call returns 0. If fn
 *   fails, the caller and every waiting thread receive fn's error; nothing is stored and the
 *   failure is not remembered: the next call for key computes again. If fn returns 0 with a NULL
 *   value, that is a failure with EINVAL.
 * Returns 0, fn's error, EDEADLK, ENOMEM (no memory for the bookkeeping, in which case fn is not
 * called, or ops->copy returned NULL for this caller) or EINVAL (c, key, fn or copy is NULL).
 * On error *copy is not written. */
int cache_get_or_compute(cache_t *c, const char *key, cache_compute_fn fn, void *ud, void **copy);

/* Stores a consistent snapshot of the counters in *out (see "Statistics"): all four are read in
 * one critical section. Blocks only to take the cache's lock. Does nothing if c or out is NULL. */
void cache_stats(cache_t *c, struct cache_stats *out);

#endif
