/* race_cache.c - the race driver of the cache exercise: run under helgrind by the grader.
 *
 * DESIGN: THREADS threads start together (a barrier) and each runs ROUNDS rounds of a mixed,
 * seeded sequence of every operation (get, put, remove, get_or_compute with some failing
 * computations, stats) on KEYS keys in a cache of capacity CAP, much smaller than KEYS, so that
 * almost every insertion evicts while other threads are copying. Between rounds the threads meet
 * at the barrier again, so every round starts with all of them in the cache at once. Values are
 * slots of a static pool with a state (live, freed) guarded by one mutex, never returned to
 * malloc: ops->copy checks that its source is live before and after a slow middle part, and
 * ops->free catches double frees, so a copy made without protecting the entry, or a value freed
 * twice, is an observation and not undefined behaviour. The slow part is a short sleep: a system
 * call, at which helgrind switches threads too (sched_yield would cost a whole time slice per call
 * on a machine full of CPU hogs). Each value carries its key's number, so a
 * get that returns another key's value is seen too. At the end the driver checks the counters
 * (hits + misses = lookups, size <= capacity, size = keys removable), destroys the cache and
 * checks that every value was freed exactly once. It prints what broke to stderr and exits 1; 0
 * when nothing did. No C11 atomics: helgrind must understand every synchronisation here. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "tl_test.h"

#define THREADS 4
#define ROUNDS 4
#define OPS_PER_ROUND 60
#define KEYS 10
#define CAP 3
#define POOL 8192

enum { V_UNUSED, V_LIVE, V_FREED };

struct val {
	int key;    /* guarded by pool_mu */
	int copy;   /* guarded by pool_mu: made by ops->copy */
	int state;  /* guarded by pool_mu */
};

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static struct val pool[POOL]; /* guarded by pool_mu */
static size_t pool_used;      /* guarded by pool_mu */
static char failure[512];     /* guarded by pool_mu: the first thing that broke */
static long lookups;          /* guarded by pool_mu */

/* Sleeps about us microseconds. */
static void nap(long us)
{
	struct timespec ts = { 0, us * 1000 };

	nanosleep(&ts, NULL);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&pool_mu);
	if (failure[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(failure, sizeof failure, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&pool_mu);
}

static struct val *slot(const void *p)
{
	const struct val *v = p;

	if (v < pool || v >= pool + POOL)
		return NULL;
	return (struct val *)v;
}

static void *val_new(int key, int copy)
{
	struct val *v = NULL;

	pthread_mutex_lock(&pool_mu);
	if (pool_used < POOL) {
		v = &pool[pool_used++];
		v->key = key;
		v->copy = copy;
		v->state = V_LIVE;
	}
	pthread_mutex_unlock(&pool_mu);
	if (v == NULL)
		fail("the driver ran out of values (a bug in the driver)");
	return v;
}

static void *val_copy(const void *p)
{
	struct val *s = slot(p);
	int key = -1, state;

	pthread_mutex_lock(&pool_mu);
	state = s ? s->state : V_UNUSED;
	if (s)
		key = s->key;
	pthread_mutex_unlock(&pool_mu);
	if (state != V_LIVE) {
		fail(state == V_FREED
			     ? "ops->copy was called on a value already freed (use after free)"
			     : "ops->copy was called on a pointer that is not a value");
		return NULL;
	}
	/* Slow copy: an entry left unprotected during the copy gets evicted and freed meanwhile. */
	nap(30);
	pthread_mutex_lock(&pool_mu);
	state = s->state;
	pthread_mutex_unlock(&pool_mu);
	if (state != V_LIVE)
		fail("a value was freed while ops->copy was copying it: copies must be made while "
		     "no other thread can free the entry (with the cache's lock held)");
	return val_new(key, 1);
}

static void val_free(void *p)
{
	struct val *v = slot(p);
	int state;

	pthread_mutex_lock(&pool_mu);
	state = v ? v->state : V_UNUSED;
	if (state == V_LIVE)
		v->state = V_FREED;
	pthread_mutex_unlock(&pool_mu);
	if (state == V_FREED)
		fail("a value was freed twice (double free)");
	else if (state != V_LIVE)
		fail("ops->free was called on a pointer that is not a value");
}

static const struct cache_value_ops ops = { val_copy, val_free };

/* Checks a value returned for key k and frees it. */
static void check_copy(void *p, int k, const char *op)
{
	struct val *v = slot(p);
	int key = -1, copy = 0, state = V_UNUSED;

	pthread_mutex_lock(&pool_mu);
	if (v) {
		key = v->key;
		copy = v->copy;
		state = v->state;
	}
	pthread_mutex_unlock(&pool_mu);
	if (state != V_LIVE || !copy)
		fail("%s(\"k%d\") returned a pointer that is not a live copy made by ops->copy "
		     "(the stored value itself?)", op, k);
	else if (key != k)
		fail("%s(\"k%d\") returned the value of \"k%d\"", op, k, key);
	if (state == V_LIVE)
		val_free(p);
}

struct worker {
	cache_t *c;
	pthread_barrier_t *start;
	int id;
	int key;      /* the key this worker computes */
	int computed; /* computations by this worker */
};

static int compute(const char *key, void *ud, void **value)
{
	struct worker *w = ud;

	(void)key;
	if (++w->computed % 5 == 0)
		return EIO; /* some computations fail: their waiters must get EIO */
	nap(10);
	*value = val_new(w->key, 0);
	return *value ? 0 : ENOMEM;
}

static void *worker_main(void *p)
{
	struct worker *w = p;
	unsigned seed = 2654435761u * (unsigned)(w->id + 1);
	long my_lookups = 0;
	char key[16];

	for (int round = 0; round < ROUNDS; round++) {
		pthread_barrier_wait(w->start);
		for (int n = 0; n < OPS_PER_ROUND; n++) {
			unsigned r = (unsigned)rand_r(&seed) % 100;
			int k = rand_r(&seed) % KEYS, rc;
			struct cache_stats st;
			void *v = NULL;

			snprintf(key, sizeof key, "k%d", k);
			if (r < 35) {
				my_lookups++;
				if ((rc = cache_get(w->c, key, &v)) == 0)
					check_copy(v, k, "cache_get");
				else if (rc != ENOENT)
					fail("cache_get returned %d (%s)", rc, tl_errname(rc));
			} else if (r < 65) {
				my_lookups++;
				w->key = k;
				rc = cache_get_or_compute(w->c, key, compute, w, &v);
				if (rc == 0)
					check_copy(v, k, "cache_get_or_compute");
				else if (rc != EIO)
					fail("cache_get_or_compute returned %d (%s)",
					     rc, tl_errname(rc));
			} else if (r < 85) {
				void *nv = val_new(k, 0);

				if (nv && (rc = cache_put(w->c, key, nv)) != 0)
					fail("cache_put returned %d (%s)", rc, tl_errname(rc));
			} else if (r < 95) {
				rc = cache_remove(w->c, key);
				if (rc != 0 && rc != ENOENT)
					fail("cache_remove returned %d (%s)", rc, tl_errname(rc));
			} else {
				cache_stats(w->c, &st);
				if (st.size > CAP)
					fail("cache_stats says size %zu, more than the "
					     "capacity %d", st.size, CAP);
			}
		}
	}
	pthread_mutex_lock(&pool_mu);
	lookups += my_lookups;
	pthread_mutex_unlock(&pool_mu);
	return NULL;
}

int main(void)
{
	struct worker w[THREADS];
	pthread_t t[THREADS];
	pthread_barrier_t start;
	struct cache_stats st;
	cache_t *c = NULL;
	size_t removed = 0, live = 0;
	char key[16];
	int rc;

	if ((rc = cache_create(&c, CAP, &ops)) != 0 || c == NULL) {
		fprintf(stderr, "race_cache: cache_create returned %d (%s)\n", rc, tl_errname(rc));
		return 1;
	}
	pthread_barrier_init(&start, NULL, THREADS);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .c = c, .start = &start, .id = i };
		if (pthread_create(&t[i], NULL, worker_main, &w[i]) != 0) {
			fprintf(stderr, "race_cache: pthread_create failed\n");
			return 1;
		}
	}
	tl_join_all(t, THREADS);
	pthread_barrier_destroy(&start);

	cache_stats(c, &st);
	if (st.size > CAP)
		fail("size %zu exceeds the capacity %d", st.size, CAP);
	if (st.hits + st.misses != (uint64_t)lookups)
		fail("%ld lookups (get and get_or_compute) but hits + misses = %llu: counters must "
		     "be updated with the lock held", lookups,
		     (unsigned long long)(st.hits + st.misses));
	for (int k = 0; k < KEYS; k++) {
		snprintf(key, sizeof key, "k%d", k);
		removed += cache_remove(c, key) == 0;
	}
	if (removed != st.size)
		fail("cache_stats said size %zu but %zu keys could be removed", st.size, removed);
	cache_destroy(c);
	for (size_t i = 0; i < pool_used; i++)
		live += pool[i].state == V_LIVE;
	if (live)
		fail("%zu values were never freed (leaked)", live);
	if (failure[0]) {
		fprintf(stderr, "race_cache: %s\n", failure);
		return 1;
	}
	return 0;
}
