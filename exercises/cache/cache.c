/* cache.c - a thread-safe LRU cache with get-or-compute (starter).
 *
 * DESIGN: (write yours here before the code: what each lock guards, where threads wait and for
 * what, what happens to the threads waiting for a computation that fails, and the lock order.)
 *
 * Every function below compiles and returns ENOSYS (or does nothing) so that the test suite runs
 * and fails fast. Replace each TODO with the behaviour cache.h describes. */
#include "cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct cache {
	/* TODO: the lock, the entries (a hash table for lookups and a doubly linked list for
	 * recency make every operation O(1)), the computations in progress, the counters.
	 * Mark each field with the lock that guards it. */
	int unused;
};

int cache_create(cache_t **out, size_t capacity, const struct cache_value_ops *ops)
{
	/* TODO: EINVAL for a NULL out/ops/ops->copy/ops->free or a capacity of 0; keep a copy of
	 * *ops. */
	(void)out;
	(void)capacity;
	(void)ops;
	return ENOSYS;
}

void cache_destroy(cache_t *c)
{
	/* TODO: free every stored value exactly once with ops.free, then everything else. */
	(void)c;
}

int cache_get(cache_t *c, const char *key, void **copy)
{
	/* TODO: a hit makes the entry the most recently used and returns a COPY made while no other
	 * thread can free the value. Hint: what could another thread do to the stored value between
	 * your unlock and your copy? */
	(void)c;
	(void)key;
	(void)copy;
	return ENOSYS;
}

int cache_put(cache_t *c, const char *key, void *value)
{
	/* TODO: the cache copies the key and owns the value; replace (freeing the old value once)
	 * or insert, evicting the least recently used entry when full. */
	(void)c;
	(void)key;
	(void)value;
	return ENOSYS;
}

int cache_remove(cache_t *c, const char *key)
{
	/* TODO: ENOENT when the key is not stored. */
	(void)c;
	(void)key;
	return ENOSYS;
}

int cache_get_or_compute(cache_t *c, const char *key, cache_compute_fn fn, void *ud, void **copy)
{
	/* TODO: one computation per key at a time, run WITHOUT the cache's lock held. Hint: the
	 * threads that arrive while a key is being computed need something to find and to wait on,
	 * and that something must disappear on every way the computation can end. */
	(void)c;
	(void)key;
	(void)fn;
	(void)ud;
	(void)copy;
	return ENOSYS;
}

void cache_stats(cache_t *c, struct cache_stats *out)
{
	/* TODO: a consistent snapshot, read with the lock held. */
	(void)c;
	if (out)
		memset(out, 0, sizeof(*out));
}
