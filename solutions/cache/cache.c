/* cache.c - a thread-safe LRU cache with single-flight get-or-compute (reference).
 *
 * DESIGN: one mutex `mu` guards everything shared: a chained hash table of entries, the doubly
 * linked recency list threaded through the same entries (mru at the front, lru at the back), the
 * list of computations in flight, and the counters. Every operation on stored entries is O(1)
 * under `mu` and never waits for anything else while holding it; the values handed out are copies
 * made with `mu` held, so an eviction by another thread (which also needs `mu`) can never free a
 * value while it is being copied. Memory is allocated before taking `mu`, and values and entries
 * that leave the cache are freed after releasing it, so the critical sections only relink.
 *
 * A computation is a `struct flight` on the computing thread's stack, linked into `flights` while
 * fn runs WITHOUT `mu` held (so computations of different keys overlap, and fn may call the
 * cache). It records the key, the computing thread (to answer EDEADLK when fn asks for its own
 * key) and the threads waiting for it. Each waiter links a `struct waiter` from its own stack into
 * the flight and sleeps on the cache-wide condition variable `done` until its node says done.
 * When fn returns, the computing thread takes `mu` once and, in that one critical section,
 * unlinks the flight (so later callers no longer find it: they hit the stored value or, after a
 * failure, start a new computation), stores the value, makes one copy for itself and one per
 * waiter (the stored value may be evicted as soon as `mu` is released, so waiters cannot copy it
 * later themselves), marks every waiter done and broadcasts. Errors go to every waiter the same
 * way and nothing is stored, so a failure is never cached. After that critical section nothing
 * refers to the flight or to the waiters' nodes any more, which is why they can live on stacks.
 * One condition variable for all flights means a finished flight wakes the waiters of others
 * too; they re-check their own node and sleep again. Flights are few (at most one per thread),
 * so the flight list is a plain list.
 *
 * Lock order: `mu` is the only lock of the cache. It is never held while calling fn; it is held
 * while calling ops->copy (the contract forbids ops from calling the cache).
 */
#include "cache.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	struct entry *chain;      /* guarded by mu: next entry in the same bucket */
	struct entry *newer;      /* guarded by mu: towards the mru end of the recency list */
	struct entry *older;      /* guarded by mu: towards the lru end */
	void *value;              /* guarded by mu: owned by the cache */
	uint64_t hash;            /* immutable */
	char key[];               /* immutable, NUL-terminated copy of the key */
};

struct waiter {
	struct waiter *next; /* guarded by mu */
	void *copy;          /* guarded by mu: set by the computing thread before done */
	int rc;              /* guarded by mu: set by the computing thread before done */
	bool done;           /* guarded by mu: the waiter sleeps until this is true */
};

struct flight {
	struct flight *next;     /* guarded by mu: next flight in c->flights */
	const char *key;         /* the computing caller's key: valid while the flight is linked */
	uint64_t hash;
	pthread_t owner;         /* the computing thread */
	struct waiter *waiters;  /* guarded by mu */
};

struct cache {
	pthread_mutex_t mu;          /* guards everything below that is not immutable */
	pthread_cond_t done;         /* broadcast when a flight with waiters finishes */
	struct cache_value_ops ops;  /* immutable */
	size_t capacity;             /* immutable */
	size_t mask;                 /* immutable: number of buckets - 1 (a power of two - 1) */
	struct entry **buckets;      /* guarded by mu */
	struct entry *mru, *lru;     /* guarded by mu: the ends of the recency list */
	size_t size;                 /* guarded by mu: entries stored, <= capacity */
	struct flight *flights;      /* guarded by mu: computations in progress */
	uint64_t hits, misses, evictions; /* guarded by mu */
};

/* FNV-1a, 64 bits: good enough spread for short string keys, and cheap. */
static uint64_t hash_key(const char *key)
{
	uint64_t h = 14695981039346656037ULL;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h;
}

/* A detached entry holding a copy of key, or NULL. Called without mu. */
static struct entry *entry_new(const char *key, uint64_t hash)
{
	size_t len = strlen(key) + 1;
	struct entry *e = malloc(sizeof(*e) + len);

	if (e == NULL)
		return NULL;
	memcpy(e->key, key, len);
	e->hash = hash;
	e->value = NULL;
	e->chain = e->newer = e->older = NULL;
	return e;
}

/* Called with mu held. */
static struct entry *table_find(cache_t *c, const char *key, uint64_t hash)
{
	for (struct entry *e = c->buckets[hash & c->mask]; e; e = e->chain)
		if (e->hash == hash && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

/* Unlinks e from its bucket. Called with mu held. */
static void table_unlink(cache_t *c, struct entry *e)
{
	struct entry **pp = &c->buckets[e->hash & c->mask];

	while (*pp != e)
		pp = &(*pp)->chain;
	*pp = e->chain;
}

/* Unlinks e from the recency list. Called with mu held. */
static void list_unlink(cache_t *c, struct entry *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		c->mru = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		c->lru = e->newer;
	e->newer = e->older = NULL;
}

/* Links a detached e at the mru end. Called with mu held. */
static void list_push_mru(cache_t *c, struct entry *e)
{
	e->newer = NULL;
	e->older = c->mru;
	if (c->mru)
		c->mru->newer = e;
	else
		c->lru = e;
	c->mru = e;
}

/* Makes e the most recently used. Called with mu held. */
static void touch(cache_t *c, struct entry *e)
{
	if (c->mru != e) {
		list_unlink(c, e);
		list_push_mru(c, e);
	}
	assert(c->mru == e);
}

/* What a store leaves for the caller to free after releasing mu. */
struct leftovers {
	struct entry *unused; /* the preallocated entry, when the key was already stored */
	struct entry *victim; /* the evicted entry (its value too) */
	void *old;            /* the replaced value */
};

/* Stores value under fresh->key, as cache_put describes. fresh is a detached entry for that key,
 * allocated before mu was taken; if the key is already stored, fresh is not used and is handed
 * back in lo->unused. Called with mu held; frees nothing itself. */
static void store(cache_t *c, struct entry *fresh, void *value, struct leftovers *lo)
{
	struct entry *e = table_find(c, fresh->key, fresh->hash);

	lo->unused = lo->victim = NULL;
	lo->old = NULL;
	if (e) {
		lo->old = e->value;
		lo->unused = fresh;
		e->value = value;
		touch(c, e);
		return;
	}
	if (c->size == c->capacity) {
		struct entry *v = c->lru;

		assert(v != NULL);
		list_unlink(c, v);
		table_unlink(c, v);
		c->size--;
		c->evictions++;
		lo->victim = v;
	}
	fresh->value = value;
	fresh->chain = c->buckets[fresh->hash & c->mask];
	c->buckets[fresh->hash & c->mask] = fresh;
	list_push_mru(c, fresh);
	c->size++;
	assert(c->size <= c->capacity);
}

/* Frees what store() left over. Called without mu. */
static void leftovers_free(cache_t *c, struct leftovers *lo)
{
	free(lo->unused);
	if (lo->old)
		c->ops.free(lo->old);
	if (lo->victim) {
		c->ops.free(lo->victim->value);
		free(lo->victim);
	}
}

/* Called with mu held. */
static struct flight *flight_find(cache_t *c, const char *key, uint64_t hash)
{
	for (struct flight *f = c->flights; f; f = f->next)
		if (f->hash == hash && strcmp(f->key, key) == 0)
			return f;
	return NULL;
}

/* Called with mu held. */
static void flight_unlink(cache_t *c, struct flight *f)
{
	struct flight **pp = &c->flights;

	while (*pp != f)
		pp = &(*pp)->next;
	*pp = f->next;
}

int cache_create(cache_t **out, size_t capacity, const struct cache_value_ops *ops)
{
	size_t nbuckets = 16;
	cache_t *c;

	if (out == NULL || ops == NULL || ops->copy == NULL || ops->free == NULL || capacity == 0)
		return EINVAL;
	/* About one bucket per entry; past 2^20 buckets the chains grow instead of the table. */
	while (nbuckets < capacity && nbuckets < ((size_t)1 << 20))
		nbuckets <<= 1;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return ENOMEM;
	if ((c->buckets = calloc(nbuckets, sizeof(*c->buckets))) == NULL)
		goto fail_buckets;
	if (pthread_mutex_init(&c->mu, NULL) != 0)
		goto fail_mu;
	/* Only untimed waits on `done`: its clock does not matter. */
	if (pthread_cond_init(&c->done, NULL) != 0)
		goto fail_cv;
	c->ops = *ops;
	c->capacity = capacity;
	c->mask = nbuckets - 1;
	*out = c;
	return 0;
fail_cv:
	pthread_mutex_destroy(&c->mu);
fail_mu:
	free(c->buckets);
fail_buckets:
	free(c);
	return ENOMEM;
}

void cache_destroy(cache_t *c)
{
	struct entry *e, *older;

	if (c == NULL)
		return;
	assert(c->flights == NULL); /* destroying during a computation is undefined: catch it */
	for (e = c->mru; e; e = older) {
		older = e->older;
		c->ops.free(e->value);
		free(e);
	}
	pthread_cond_destroy(&c->done);
	pthread_mutex_destroy(&c->mu);
	free(c->buckets);
	free(c);
}

int cache_get(cache_t *c, const char *key, void **copy)
{
	uint64_t hash;
	struct entry *e;
	void *cp = NULL;

	if (c == NULL || key == NULL || copy == NULL)
		return EINVAL;
	hash = hash_key(key);
	pthread_mutex_lock(&c->mu);
	if ((e = table_find(c, key, hash)) != NULL) {
		c->hits++;
		touch(c, e);
		cp = c->ops.copy(e->value); /* with mu held: nobody can free e->value meanwhile */
	} else {
		c->misses++;
	}
	pthread_mutex_unlock(&c->mu);
	if (e == NULL)
		return ENOENT;
	if (cp == NULL)
		return ENOMEM;
	*copy = cp;
	return 0;
}

int cache_put(cache_t *c, const char *key, void *value)
{
	struct leftovers lo;
	struct entry *fresh;

	if (c == NULL || key == NULL || value == NULL)
		return EINVAL;
	if ((fresh = entry_new(key, hash_key(key))) == NULL)
		return ENOMEM;
	pthread_mutex_lock(&c->mu);
	store(c, fresh, value, &lo);
	pthread_mutex_unlock(&c->mu);
	leftovers_free(c, &lo);
	return 0;
}

int cache_remove(cache_t *c, const char *key)
{
	uint64_t hash;
	struct entry *e;

	if (c == NULL || key == NULL)
		return EINVAL;
	hash = hash_key(key);
	pthread_mutex_lock(&c->mu);
	if ((e = table_find(c, key, hash)) != NULL) {
		list_unlink(c, e);
		table_unlink(c, e);
		c->size--;
	}
	pthread_mutex_unlock(&c->mu);
	if (e == NULL)
		return ENOENT;
	c->ops.free(e->value);
	free(e);
	return 0;
}

int cache_get_or_compute(cache_t *c, const char *key, cache_compute_fn fn, void *ud, void **copy)
{
	struct waiter waiter = { NULL, NULL, 0, false };
	struct flight flight, *f;
	struct leftovers lo = { NULL, NULL, NULL };
	struct entry *e, *fresh;
	void *value = NULL, *cp = NULL;
	uint64_t hash;
	int rc;

	if (c == NULL || key == NULL || fn == NULL || copy == NULL)
		return EINVAL;
	hash = hash_key(key);

	pthread_mutex_lock(&c->mu);
	if ((e = table_find(c, key, hash)) != NULL) {
		c->hits++;
		touch(c, e);
		cp = c->ops.copy(e->value);
		pthread_mutex_unlock(&c->mu);
		if (cp == NULL)
			return ENOMEM;
		*copy = cp;
		return 0;
	}
	if ((f = flight_find(c, key, hash)) != NULL) {
		if (pthread_equal(f->owner, pthread_self())) {
			/* fn asked for its own key: waiting would wait for ourselves for ever. */
			pthread_mutex_unlock(&c->mu);
			return EDEADLK;
		}
		c->hits++;
		/* Wait for the other thread's computation. Once our node is done, the flight is
		 * gone (it lived on the computing thread's stack): only our node may be touched. */
		waiter.next = f->waiters;
		f->waiters = &waiter;
		while (!waiter.done)
			pthread_cond_wait(&c->done, &c->mu);
		pthread_mutex_unlock(&c->mu);
		if (waiter.rc == 0)
			*copy = waiter.copy;
		return waiter.rc;
	}
	c->misses++;
	flight.key = key;
	flight.hash = hash;
	flight.owner = pthread_self();
	flight.waiters = NULL;
	flight.next = c->flights;
	c->flights = &flight;
	pthread_mutex_unlock(&c->mu);

	/* The computation, without mu: other keys compute meanwhile, and fn may call the cache. */
	if ((fresh = entry_new(key, hash)) == NULL) {
		rc = ENOMEM;
	} else {
		rc = fn(key, ud, &value);
		if (rc == 0 && value == NULL)
			rc = EINVAL;
	}

	pthread_mutex_lock(&c->mu);
	flight_unlink(c, &flight);
	if (rc == 0) {
		store(c, fresh, value, &lo);
		/* Copies for everyone now: the stored value may be evicted once mu is released. */
		cp = c->ops.copy(value);
	}
	for (struct waiter *w = flight.waiters; w; w = w->next) {
		w->rc = rc;
		if (rc == 0 && (w->copy = c->ops.copy(value)) == NULL)
			w->rc = ENOMEM;
		w->done = true;
	}
	if (flight.waiters)
		pthread_cond_broadcast(&c->done);
	assert(flight_find(c, key, hash) == NULL);
	pthread_mutex_unlock(&c->mu);

	if (rc != 0) {
		free(fresh); /* fn's failure: nothing stored, nothing remembered */
		return rc;
	}
	leftovers_free(c, &lo);
	if (cp == NULL)
		return ENOMEM;
	*copy = cp;
	return 0;
}

void cache_stats(cache_t *c, struct cache_stats *out)
{
	if (c == NULL || out == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	out->hits = c->hits;
	out->misses = c->misses;
	out->evictions = c->evictions;
	out->size = c->size;
	pthread_mutex_unlock(&c->mu);
}
