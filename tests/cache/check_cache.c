/* check_cache.c - the Check tests of the cache exercise (START_TEST bodies; the suite is generated
 * from manifest.json).
 *
 * DESIGN: every value the tests give to the cache is a "tracked value": a slot in a static pool
 * that is never returned to malloc, with a state (live or freed) and an origin (made by the test,
 * or made by ops->copy). ops->free marks a slot freed and ops->copy checks that its source is
 * live, both under one mutex, so a double free, a copy of a freed value or a leak is an exact
 * observation, not undefined behaviour; and a pointer the cache returns can be checked to be a
 * copy that ops->copy made and not the stored value itself. Each test runs in its own process
 * (fork mode), so the pool starts empty every time.
 *
 * Threads meet with barriers and latches. Where a test needs "the other threads are now inside
 * get_or_compute", each thread counts itself just before calling; the compute function waits
 * (with a deadline) until every thread has counted itself and then gives the others a settle
 * time to reach the cache. The claims checked are true for a correct cache however late a thread
 * arrives (a late thread finds the value stored). Waits that a wrong cache could make endless have
 * deadlines scaled by tl_slowdown(), so most bugs fail with a message instead of a timeout. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "tl_test.h"

/* Sleeps about us microseconds: lets other threads run, even under helgrind (which switches
 * threads at system calls), without depending on free CPUs as sched_yield does (with CPU hogs
 * around, one sched_yield can cost a whole time slice). */
static void nap(long us)
{
	struct timespec ts = { 0, us * 1000 };

	nanosleep(&ts, NULL);
}

/* ---- tracked values ---------------------------------------------------------------------- */

#define TV_MAX 16384
#define TV_MAGIC 0x7ca7e5u

enum tv_state { TV_UNUSED, TV_LIVE, TV_FREED };
enum tv_origin { TV_MADE, TV_COPY };

struct tv {
	unsigned magic;
	int payload;   /* guarded by tv_mu */
	int origin;    /* guarded by tv_mu */
	int state;     /* guarded by tv_mu */
};

static pthread_mutex_t tv_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tv tv_pool[TV_MAX]; /* guarded by tv_mu */
static size_t tv_used;            /* guarded by tv_mu */
static char tv_err[512];          /* guarded by tv_mu: the first misuse seen */
static long tv_copy_nap_us;       /* set before threads start: makes ops->copy slow */

/* Records the first misuse. Called with tv_mu held. */
static void tv_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void tv_error(const char *fmt, ...)
{
	va_list ap;

	if (tv_err[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(tv_err, sizeof tv_err, fmt, ap);
	va_end(ap);
}

static struct tv *tv_slot(const void *p)
{
	const struct tv *v = p;

	if (v < tv_pool || v >= tv_pool + TV_MAX)
		return NULL;
	if ((size_t)((const char *)v - (const char *)tv_pool) % sizeof(*v) != 0)
		return NULL;
	return (struct tv *)v;
}

/* Called with tv_mu held. */
static struct tv *tv_alloc(int payload, int origin)
{
	struct tv *v;

	if (tv_used == TV_MAX) {
		tv_error("the test ran out of tracked values (%d): a bug in the test", TV_MAX);
		return NULL;
	}
	v = &tv_pool[tv_used++];
	v->magic = TV_MAGIC;
	v->payload = payload;
	v->origin = origin;
	v->state = TV_LIVE;
	return v;
}

static void *tv_new(int payload)
{
	struct tv *v;

	pthread_mutex_lock(&tv_mu);
	v = tv_alloc(payload, TV_MADE);
	pthread_mutex_unlock(&tv_mu);
	return v;
}

/* ops->copy */
static void *tv_copy(const void *src)
{
	struct tv *s = tv_slot(src), *v = NULL;
	long nap_us = tv_copy_nap_us;

	pthread_mutex_lock(&tv_mu);
	if (s == NULL || s->state == TV_UNUSED)
		tv_error("ops->copy was called on %p, which is not a value given to the cache",
			 src);
	else if (s->state == TV_FREED)
		tv_error("ops->copy was called on a value that had already been freed (payload "
			 "%d): a use after free", s->payload);
	else
		v = tv_alloc(s->payload, TV_COPY);
	pthread_mutex_unlock(&tv_mu);
	if (v && nap_us > 0) {
		/* A slow copy: if the cache copies without protecting the entry, another thread has
		 * time to free the source meanwhile, which the second look below sees. */
		nap(nap_us);
		pthread_mutex_lock(&tv_mu);
		if (s->state != TV_LIVE)
			tv_error("a value was freed while ops->copy was copying it (payload %d): "
				 "copies must be made while no other thread can free the "
				 "entry", s->payload);
		pthread_mutex_unlock(&tv_mu);
	}
	return v;
}

/* ops->free */
static void tv_free(void *p)
{
	struct tv *v = tv_slot(p);

	pthread_mutex_lock(&tv_mu);
	if (v == NULL || v->state == TV_UNUSED)
		tv_error("ops->free was called on %p, which is not a value of the cache", p);
	else if (v->state == TV_FREED)
		tv_error("a value was freed twice (payload %d): double free", v->payload);
	else {
		v->state = TV_FREED;
	}
	pthread_mutex_unlock(&tv_mu);
}

static const struct cache_value_ops tv_ops = { tv_copy, tv_free };

static int tv_state(const void *p)
{
	struct tv *v = tv_slot(p);
	int st;

	if (v == NULL)
		return TV_UNUSED;
	pthread_mutex_lock(&tv_mu);
	st = v->state;
	pthread_mutex_unlock(&tv_mu);
	return st;
}

static int tv_payload(const void *p)
{
	struct tv *v = tv_slot(p);
	int pl;

	if (v == NULL)
		return -1;
	pthread_mutex_lock(&tv_mu);
	pl = v->payload;
	pthread_mutex_unlock(&tv_mu);
	return pl;
}

static bool tv_is_copy(const void *p)
{
	struct tv *v = tv_slot(p);
	bool c;

	if (v == NULL)
		return false;
	pthread_mutex_lock(&tv_mu);
	c = v->origin == TV_COPY && v->state != TV_UNUSED;
	pthread_mutex_unlock(&tv_mu);
	return c;
}

/* The number of tracked values still live (made or copied, not yet freed). */
static long tv_live(void)
{
	long n = 0;

	pthread_mutex_lock(&tv_mu);
	for (size_t i = 0; i < tv_used; i++)
		n += tv_pool[i].state == TV_LIVE;
	pthread_mutex_unlock(&tv_mu);
	return n;
}

/* Fails the test if ops saw a misuse (double free, use after free, ...). */
static void tv_assert_clean(void)
{
	char msg[sizeof tv_err];

	pthread_mutex_lock(&tv_mu);
	memcpy(msg, tv_err, sizeof msg);
	pthread_mutex_unlock(&tv_mu);
	ck_assert_msg(msg[0] == '\0', "%s", msg);
}

/* ---- helpers --------------------------------------------------------------------------------- */

static cache_t *new_cache(size_t capacity)
{
	cache_t *c = NULL;
	int rc = cache_create(&c, capacity, &tv_ops);

	ck_assert_msg(rc == 0 && c != NULL,
		      "cache_create(&c, %zu, &ops) returned %d (%s) and c = %p, expected 0 and a "
		      "cache",
		      capacity, rc, tl_errname(rc), (void *)c);
	return c;
}

static struct cache_stats stats_of(cache_t *c)
{
	struct cache_stats st;

	memset(&st, 0xab, sizeof st);
	cache_stats(c, &st);
	return st;
}

/* Checks that cp, returned by `what`, is a live copy made by ops->copy (not the stored value
 * `stored`, which may be NULL if unknown) with the expected payload; frees it. */
static void check_copy(void *cp, const void *stored, int payload, const char *what)
{
	ck_assert_msg(cp != NULL, "%s returned 0 but left the copy pointer NULL", what);
	ck_assert_msg(stored == NULL || cp != stored,
		      "%s returned the stored value itself instead of a copy: the caller owns what "
		      "it gets and will free it, and an eviction would free it under the caller's "
		      "feet",
		      what);
	ck_assert_msg(tv_is_copy(cp),
		      "%s returned a pointer that ops->copy did not make: return a fresh copy made "
		      "with ops->copy", what);
	ck_assert_msg(tv_state(cp) == TV_LIVE,
		      "%s returned a copy that has already been freed", what);
	ck_assert_msg(tv_payload(cp) == payload, "%s returned a value with payload %d, expected %d",
		      what, tv_payload(cp), payload);
	tv_free(cp);
}

/* cache_get, expecting a hit with the given payload. */
static void expect_get(cache_t *c, const char *key, int payload, const void *stored)
{
	void *cp = NULL;
	char what[96];
	int rc = cache_get(c, key, &cp);

	ck_assert_msg(rc == 0, "cache_get(\"%s\") returned %d (%s), expected 0: the key should be "
		      "stored", key, rc, tl_errname(rc));
	snprintf(what, sizeof what, "cache_get(\"%s\")", key);
	check_copy(cp, stored, payload, what);
}

static void expect_remove(cache_t *c, const char *key)
{
	int rc = cache_remove(c, key);

	ck_assert_msg(rc == 0, "cache_remove(\"%s\") returned %d (%s), expected 0: the key should "
		      "be stored", key, rc, tl_errname(rc));
}

static void expect_missing(cache_t *c, const char *key, const char *why)
{
	void *cp = NULL;
	int rc = cache_get(c, key, &cp);

	ck_assert_msg(rc == ENOENT, "cache_get(\"%s\") returned %d (%s), expected ENOENT: %s", key,
		      rc, tl_errname(rc), why);
}

static void expect_put(cache_t *c, const char *key, void *value)
{
	int rc = cache_put(c, key, value);

	ck_assert_msg(rc == 0, "cache_put(\"%s\") returned %d (%s), expected 0", key, rc,
		      tl_errname(rc));
}

/* A compute function for sequential tests: makes a value whose payload is atoi(key) * 10, and
 * counts its calls in *(int *)ud. */
static int compute_times_ten(const char *key, void *ud, void **value)
{
	(*(int *)ud)++;
	*value = tv_new(atoi(key) * 10);
	return 0;
}

/* A compute function that must not run. */
static int compute_never(const char *key, void *ud, void **value)
{
	(void)value;
	(void)ud;
	ck_abort_msg("cache_get_or_compute(\"%s\") called the compute function although the key "
		     "was stored", key);
	return EIO;
}

static int compute_fail_eio(const char *key, void *ud, void **value)
{
	(void)key;
	(void)value;
	(*(int *)ud)++;
	return EIO;
}

/* How long a helper thread may take for something that should be prompt, in ms. */
static long deadline_ms(long base)
{
	return (long)(base * tl_slowdown());
}

/* Runs fn(arg) on a helper thread and waits for it at most ms; true if it finished. The helper is
 * left running (and the test fails) if it does not: the process ends with the test. */
struct helper {
	void (*fn)(void *);
	void *arg;
	tl_latch_t done;
};

static void *helper_main(void *p)
{
	struct helper *h = p;

	h->fn(h->arg);
	tl_latch_count_down(&h->done);
	return NULL;
}

static bool run_with_deadline(void (*fn)(void *), void *arg, long ms)
{
	static struct helper h; /* outlives the call if the helper never finishes */
	pthread_t t;
	bool finished;

	h.fn = fn;
	h.arg = arg;
	tl_latch_init(&h.done, 1);
	ck_assert_int_eq(pthread_create(&t, NULL, helper_main, &h), 0);
	finished = tl_latch_wait_ms(&h.done, ms);
	if (finished)
		pthread_join(t, NULL);
	else
		pthread_detach(t);
	return finished;
}

/* ---- basics ---------------------------------------------------------------------------------- */

START_TEST(test_cache_create_rejects_invalid_arguments)
{
	struct cache_value_ops no_copy = { NULL, tv_free }, no_free = { tv_copy, NULL };
	cache_t *c = NULL;
	int rc;

	rc = cache_create(&c, 0, &tv_ops);
	ck_assert_msg(rc == EINVAL, "cache_create with capacity 0 returned %d (%s), expected "
		      "EINVAL",
		      rc, tl_errname(rc));
	rc = cache_create(&c, 4, NULL);
	ck_assert_msg(rc == EINVAL, "cache_create with ops == NULL returned %d (%s), expected "
		      "EINVAL",
		      rc, tl_errname(rc));
	rc = cache_create(&c, 4, &no_copy);
	ck_assert_msg(rc == EINVAL, "cache_create with ops->copy == NULL returned %d (%s), "
		      "expected EINVAL", rc, tl_errname(rc));
	rc = cache_create(&c, 4, &no_free);
	ck_assert_msg(rc == EINVAL, "cache_create with ops->free == NULL returned %d (%s), "
		      "expected EINVAL", rc, tl_errname(rc));
	rc = cache_create(NULL, 4, &tv_ops);
	ck_assert_msg(rc == EINVAL, "cache_create(NULL, ...) returned %d (%s), expected EINVAL",
		      rc, tl_errname(rc));
	c = new_cache(1);
	cache_destroy(c);
	cache_destroy(NULL); /* allowed: does nothing */
}
END_TEST

START_TEST(test_cache_get_missing_is_enoent)
{
	cache_t *c = new_cache(4);
	struct cache_stats st;

	expect_missing(c, "nothing", "the cache is empty");
	expect_put(c, "a", tv_new(1));
	expect_missing(c, "b", "only \"a\" was put");
	st = stats_of(c);
	ck_assert_msg(st.misses == 2 && st.hits == 0,
		      "after two cache_get calls that returned ENOENT, stats say hits %llu misses "
		      "%llu, expected hits 0 misses 2", (unsigned long long)st.hits,
		      (unsigned long long)st.misses);
	cache_destroy(c);
	tv_assert_clean();
}
END_TEST

START_TEST(test_cache_get_returns_a_fresh_copy)
{
	cache_t *c = new_cache(4);
	void *v = tv_new(42), *cp1 = NULL, *cp2 = NULL;
	struct cache_stats st;
	int rc;

	expect_put(c, "answer", v);
	rc = cache_get(c, "answer", &cp1);
	ck_assert_msg(rc == 0, "cache_get(\"answer\") after cache_put(\"answer\") returned %d "
		      "(%s), expected 0", rc, tl_errname(rc));
	rc = cache_get(c, "answer", &cp2);
	ck_assert_msg(rc == 0, "a second cache_get(\"answer\") returned %d (%s), expected 0", rc,
		      tl_errname(rc));
	ck_assert_msg(cp1 != v && cp2 != v, "cache_get returned the stored value itself instead of "
		      "a copy: the caller owns what it gets and will free it, and an eviction "
		      "would free it under the caller's feet");
	ck_assert_msg(cp1 != cp2, "two cache_get calls returned the same pointer: each caller must "
		      "receive its own copy (each will free it)");
	ck_assert_msg(tv_state(v) == TV_LIVE, "cache_get freed the stored value");
	check_copy(cp1, v, 42, "cache_get(\"answer\")");
	check_copy(cp2, v, 42, "the second cache_get(\"answer\")");
	ck_assert_msg(tv_state(v) == TV_LIVE, "freeing the copies freed the stored value: copies "
		      "must be separate values made by ops->copy");
	expect_get(c, "answer", 42, v);
	st = stats_of(c);
	ck_assert_msg(st.hits == 3 && st.misses == 0 && st.size == 1,
		      "after a put and three cache_get hits, stats say hits %llu misses %llu size "
		      "%zu, expected 3, 0, 1", (unsigned long long)st.hits,
		      (unsigned long long)st.misses, st.size);
	cache_destroy(c);
	tv_assert_clean();
}
END_TEST

START_TEST(test_cache_keys_are_copied)
{
	cache_t *c = new_cache(4);
	char key[16];
	int calls = 0, rc;
	void *cp = NULL;

	strcpy(key, "alpha");
	expect_put(c, key, tv_new(1));
	strcpy(key, "omega"); /* the caller's buffer changes: the cache must have its own copy */
	expect_get(c, "alpha", 1, NULL);
	expect_missing(c, "omega", "only \"alpha\" was put; the caller reused its key buffer after "
		       "the put, and the cache must have kept its own copy of the key");
	strcpy(key, "30");
	rc = cache_get_or_compute(c, key, compute_times_ten, &calls, &cp);
	ck_assert_msg(rc == 0, "cache_get_or_compute(\"30\") returned %d (%s), expected 0", rc,
		      tl_errname(rc));
	check_copy(cp, NULL, 300, "cache_get_or_compute(\"30\")");
	strcpy(key, "xx");
	expect_get(c, "30", 300, NULL);
	expect_missing(c, "xx", "the key buffer of an earlier get_or_compute was reused");
	cache_destroy(c);
	tv_assert_clean();
}
END_TEST

START_TEST(test_cache_put_replaces_and_frees_old_value_once)
{
	cache_t *c = new_cache(4);
	void *v1 = tv_new(1), *v2 = tv_new(2);
	struct cache_stats st;

	expect_put(c, "k", v1);
	expect_put(c, "other", tv_new(9));
	expect_put(c, "k", v2);
	tv_assert_clean();
	ck_assert_msg(tv_state(v1) == TV_FREED, "cache_put on a stored key did not free the old "
		      "value (a leak): the cache owns it and must free it once when it is "
		      "replaced");
	ck_assert_msg(tv_state(v2) == TV_LIVE, "cache_put freed the new value it was given");
	expect_get(c, "k", 2, v2);
	st = stats_of(c);
	ck_assert_msg(st.size == 2, "after putting \"k\", \"other\" and \"k\" again, size is %zu, "
		      "expected 2: a replaced key must not be stored twice", st.size);
	ck_assert_msg(st.evictions == 0, "replacing a value counted %llu evictions, expected 0",
		      (unsigned long long)st.evictions);
	cache_destroy(c);
	tv_assert_clean();
}
END_TEST

START_TEST(test_cache_remove_then_get_is_enoent)
{
	cache_t *c = new_cache(4);
	void *va = tv_new(1), *vb = tv_new(2);
	int rc;

	expect_put(c, "a", va);
	expect_put(c, "b", vb);
	rc = cache_remove(c, "a");
	ck_assert_msg(rc == 0, "cache_remove(\"a\") of a stored key returned %d (%s), "
		      "expected 0", rc, tl_errname(rc));
	tv_assert_clean();
	ck_assert_msg(tv_state(va) == TV_FREED, "cache_remove did not free the removed value once "
		      "with ops->free (a leak)");
	expect_missing(c, "a", "\"a\" was removed");
	rc = cache_remove(c, "a");
	ck_assert_msg(rc == ENOENT, "removing \"a\" a second time returned %d (%s), expected "
		      "ENOENT",
		      rc, tl_errname(rc));
	rc = cache_remove(c, "never");
	ck_assert_msg(rc == ENOENT, "cache_remove of a key never stored returned %d (%s), expected "
		      "ENOENT", rc, tl_errname(rc));
	ck_assert_msg(stats_of(c).size == 1, "after two puts and one remove, size is %zu, "
		      "expected 1",
		      stats_of(c).size);
	expect_get(c, "b", 2, vb);
	cache_destroy(c);
	tv_assert_clean();
}
END_TEST

START_TEST(test_cache_destroy_frees_every_value_once)
{
	cache_t *c = new_cache(4);
	void *held[3];
	char key[16];
	int rc;

	for (int i = 0; i < 10; i++) { /* 6 evictions */
		snprintf(key, sizeof key, "k%d", i);
		expect_put(c, key, tv_new(i));
	}
	expect_put(c, "k8", tv_new(80)); /* a replacement */
	expect_remove(c, "k9");
	for (int i = 0; i < 3; i++) {
		snprintf(key, sizeof key, "k%d", 6 + i);
		rc = cache_get(c, key, &held[i]);
		ck_assert_msg(rc == 0, "cache_get(\"%s\") returned %d (%s), expected 0", key, rc,
			      tl_errname(rc));
	}
	cache_destroy(c);
	tv_assert_clean();
	for (int i = 0; i < 3; i++)
		ck_assert_msg(tv_state(held[i]) == TV_LIVE, "cache_destroy freed a copy that a "
			      "caller held: copies belong to their callers");
	for (int i = 0; i < 3; i++)
		tv_free(held[i]);
	tv_assert_clean();
	ck_assert_msg(tv_live() == 0, "%ld values were never freed after cache_destroy: destroy "
		      "must free every stored value once, and evictions, replacements and removes "
		      "must free theirs", tv_live());
}
END_TEST

/* ---- LRU ------------------------------------------------------------------------------------- */

START_TEST(test_cache_lru_sequence_counts_hits_and_misses)
{
	/* functools.lru_cache's test_lru: with maxsize 2 this sequence makes 4 misses. */
	static const int seq[] = { 7, 9, 7, 9, 7, 9, 8, 8, 8, 9, 9, 9, 8, 8, 8, 7 };
	cache_t *c = new_cache(2);
	struct cache_stats st;
	int calls = 0;
	char key[16];

	for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
		void *cp = NULL;
		char what[64];
		int rc;

		snprintf(key, sizeof key, "%d", seq[i]);
		rc = cache_get_or_compute(c, key, compute_times_ten, &calls, &cp);
		ck_assert_msg(rc == 0, "call %zu: cache_get_or_compute(\"%s\") returned %d (%s), "
			      "expected 0", i + 1, key, rc, tl_errname(rc));
		snprintf(what, sizeof what, "call %zu: cache_get_or_compute(\"%s\")", i + 1, key);
		check_copy(cp, NULL, seq[i] * 10, what);
	}
	st = stats_of(c);
	ck_assert_msg(calls == 4, "the sequence 7,9,7,9,7,9,8,8,8,9,9,9,8,8,8,7 with capacity 2 "
		      "called the compute function %d times, expected 4", calls);
	ck_assert_msg(st.hits == 12 && st.misses == 4 && st.size == 2 && st.evictions == 2,
		      "after the sequence 7,9,7,9,7,9,8,8,8,9,9,9,8,8,8,7 with capacity 2, stats "
		      "say hits %llu misses %llu evictions %llu size %zu, expected 12, 4, 2, 2",
		      (unsigned long long)st.hits, (unsigned long long)st.misses,
		      (unsigned long long)st.evictions, st.size);
	cache_destroy(c);
	tv_assert_clean();
	ck_assert_msg(tv_live() == 0, "%ld values leaked", tv_live());
}
END_TEST

START_TEST(test_cache_evicts_least_recently_used)
{
	cache_t *c = new_cache(3);
	void *va = tv_new(1);

	expect_put(c, "a", va);
	expect_put(c, "b", tv_new(2));
	expect_put(c, "c", tv_new(3));
	expect_put(c, "d", tv_new(4)); /* full: "a" is the least recently used */
	tv_assert_clean();
	ck_assert_msg(stats_of(c).evictions == 1, "putting a 4th key into a full cache of capacity "
		      "3 counted %llu evictions, expected 1",
		      (unsigned long long)stats_of(c).evictions);
	ck_assert_msg(tv_state(va) == TV_FREED, "after putting a,b,c,d into a cache of capacity 3, "
		      "the value of \"a\" (the least recently used) was not freed: \"a\" should "
		      "have been evicted");
	expect_missing(c, "a", "after putting a,b,c,d into a cache of capacity 3, \"a\" is the "
		       "least recently used and must have been evicted");
	expect_get(c, "b", 2, NULL);
	expect_get(c, "c", 3, NULL);
	expect_get(c, "d", 4, NULL);
	ck_assert_msg(stats_of(c).size == 3, "size is %zu, expected 3", stats_of(c).size);
	cache_destroy(c);
	tv_assert_clean();
}
END_TEST

START_TEST(test_cache_get_refreshes_recency)
{
	cache_t *c = new_cache(3);

	expect_put(c, "a", tv_new(1));
	expect_put(c, "b", tv_new(2));
	expect_put(c, "c", tv_new(3));
	expect_get(c, "a", 1, NULL); /* now b is the least recently used */
	expect_put(c, "d", tv_new(4));
	expect_missing(c, "b", "after put a,b,c, get a, put d (capacity 3), \"b\" is the least "
		       "recently used and must be the one evicted");
	expect_get(c, "a", 1, NULL);
	cache_destroy(c);
	tv_assert_clean();
}
END_TEST

START_TEST(test_cache_get_or_compute_hit_refreshes_recency)
{
	cache_t *c = new_cache(3);
	void *cp = NULL;
	int rc;

	expect_put(c, "a", tv_new(1));
	expect_put(c, "b", tv_new(2));
	expect_put(c, "c", tv_new(3));
	rc = cache_get_or_compute(c, "a", compute_never, NULL, &cp);
	ck_assert_msg(rc == 0, "cache_get_or_compute(\"a\") of a stored key returned %d (%s)", rc,
		      tl_errname(rc));
	check_copy(cp, NULL, 1, "cache_get_or_compute(\"a\")");
	expect_put(c, "d", tv_new(4));
	expect_missing(c, "b", "after put a,b,c, get_or_compute a (a hit), put d (capacity 3), "
		       "\"b\" is the least recently used and must be the one evicted");
	expect_get(c, "a", 1, NULL);
	cache_destroy(c);
	tv_assert_clean();
}
END_TEST

START_TEST(test_cache_put_refreshes_recency)
{
	cache_t *c = new_cache(3);

	expect_put(c, "a", tv_new(1));
	expect_put(c, "b", tv_new(2));
	expect_put(c, "c", tv_new(3));
	expect_put(c, "a", tv_new(10)); /* a replacement makes "a" the most recently used */
	expect_put(c, "d", tv_new(4));
	expect_missing(c, "b", "after put a,b,c, put a again, put d (capacity 3), \"b\" is the "
		       "least recently used and must be the one evicted");
	expect_get(c, "a", 10, NULL);
	cache_destroy(c);
	tv_assert_clean();
}
END_TEST

START_TEST(test_cache_size_never_exceeds_capacity)
{
	cache_t *c = new_cache(5);
	struct cache_stats st;
	char key[16];
	int calls = 0;

	for (int i = 0; i < 24; i++) {
		size_t want = i + 1 < 5 ? (size_t)i + 1 : 5;
		void *cp;
		int rc;

		snprintf(key, sizeof key, "%d", 100 + i);
		if (i % 2 == 0) {
			expect_put(c, key, tv_new(i));
		} else {
			rc = cache_get_or_compute(c, key, compute_times_ten, &calls, &cp);
			ck_assert_msg(rc == 0, "cache_get_or_compute(\"%s\") returned %d (%s)", key,
				      rc, tl_errname(rc));
			tv_free(cp);
		}
		st = stats_of(c);
		ck_assert_msg(st.size == want, "after storing %d distinct keys in a cache of "
			      "capacity 5, size is %zu, expected %zu", i + 1, st.size, want);
		ck_assert_msg(st.evictions == (uint64_t)(i + 1 - want), "after storing %d distinct "
			      "keys in a cache of capacity 5, evictions is %llu, expected %zu",
			      i + 1,
			      (unsigned long long)st.evictions, (size_t)(i + 1) - want);
	}
	cache_destroy(c);
	tv_assert_clean();
	ck_assert_msg(tv_live() == 0, "%ld values leaked: each evicted value must be freed once",
		      tv_live());
}
END_TEST

/* ---- get_or_compute -------------------------------------------------------------------------- */

struct seen {
	int calls;
	char key[32];
	void *ud;
	void *made; /* the value the compute function returned */
};

static int compute_recording(const char *key, void *ud, void **value)
{
	struct seen *s = ud;

	s->calls++;
	snprintf(s->key, sizeof s->key, "%s", key);
	s->ud = ud;
	s->made = *value = tv_new(7);
	return 0;
}

START_TEST(test_cache_get_or_compute_miss_computes_and_stores)
{
	cache_t *c = new_cache(4);
	struct seen s = { 0 };
	struct cache_stats st;
	void *cp = NULL;
	int rc;

	rc = cache_get_or_compute(c, "seven", compute_recording, &s, &cp);
	ck_assert_msg(rc == 0, "cache_get_or_compute(\"seven\") on an empty cache returned %d "
		      "(%s), expected 0", rc, tl_errname(rc));
	ck_assert_msg(s.calls == 1, "the compute function ran %d times for one miss, expected 1",
		      s.calls);
	ck_assert_msg(strcmp(s.key, "seven") == 0 && s.ud == &s, "the compute function received "
		      "key \"%s\" and ud %p, expected \"seven\" and %p", s.key, s.ud, (void *)&s);
	check_copy(cp, s.made, 7, "cache_get_or_compute(\"seven\")");
	ck_assert_msg(tv_state(s.made) == TV_LIVE, "the computed value was freed: it belongs to "
		      "the cache now, which must keep it stored");
	expect_get(c, "seven", 7, s.made);
	rc = cache_get_or_compute(c, "seven", compute_recording, &s, &cp);
	ck_assert_msg(rc == 0 && s.calls == 1, "a second cache_get_or_compute(\"seven\") returned "
		      "%d (%s) and the compute function has now run %d times, expected 0 and 1 "
		      "(the value is stored)", rc, tl_errname(rc), s.calls);
	check_copy(cp, s.made, 7, "the second cache_get_or_compute(\"seven\")");
	st = stats_of(c);
	ck_assert_msg(st.misses == 1 && st.hits == 2 && st.size == 1,
		      "after a computing get_or_compute, a get and a get_or_compute hit, stats say "
		      "hits %llu misses %llu size %zu, expected 2, 1, 1",
		      (unsigned long long)st.hits, (unsigned long long)st.misses, st.size);
	cache_destroy(c);
	tv_assert_clean();
	ck_assert_msg(tv_live() == 0, "%ld values leaked", tv_live());
}
END_TEST

START_TEST(test_cache_get_or_compute_hit_does_not_compute)
{
	cache_t *c = new_cache(4);
	void *v = tv_new(5), *cp = NULL;
	int rc;

	expect_put(c, "five", v);
	rc = cache_get_or_compute(c, "five", compute_never, NULL, &cp);
	ck_assert_msg(rc == 0, "cache_get_or_compute(\"five\") of a stored key returned %d (%s), "
		      "expected 0", rc, tl_errname(rc));
	check_copy(cp, v, 5, "cache_get_or_compute(\"five\") of a stored key");
	ck_assert_msg(stats_of(c).hits == 1, "a get_or_compute that found its key counted %llu "
		      "hits, expected 1", (unsigned long long)stats_of(c).hits);
	cache_destroy(c);
	tv_assert_clean();
}
END_TEST

struct nested {
	cache_t *c;
	int outer_rc, inner_rc, get_rc, put_rc, inner_calls;
	void *outer_copy;
};

static int compute_inner(const char *key, void *ud, void **value)
{
	struct nested *n = ud;

	(void)key;
	n->inner_calls++;
	*value = tv_new(2);
	return 0;
}

/* Computes "outer" by asking the cache for "inner" (computed too), putting "side" and getting
 * "inner" again. */
static int compute_outer(const char *key, void *ud, void **value)
{
	struct nested *n = ud;
	void *cp = NULL;

	(void)key;
	n->inner_rc = cache_get_or_compute(n->c, "inner", compute_inner, n, &cp);
	if (n->inner_rc == 0)
		tv_free(cp);
	n->put_rc = cache_put(n->c, "side", tv_new(3));
	n->get_rc = cache_get(n->c, "inner", &cp);
	if (n->get_rc == 0)
		tv_free(cp);
	*value = tv_new(1);
	return 0;
}

static void nested_run(void *p)
{
	struct nested *n = p;

	n->outer_rc = cache_get_or_compute(n->c, "outer", compute_outer, n, &n->outer_copy);
}

START_TEST(test_cache_compute_may_call_cache_for_another_key)
{
	static struct nested n; /* static: outlives the test's frame if the helper is stuck */
	long ms = deadline_ms(2000);

	n.c = new_cache(4);
	ck_assert_msg(run_with_deadline(nested_run, &n, ms),
		      "cache_get_or_compute(\"outer\"), whose compute function calls "
		      "cache_get_or_compute(\"inner\"), cache_put and cache_get, did not return "
		      "within %ld ms: the compute function must run without the cache's lock "
		      "held", ms);
	ck_assert_msg(n.inner_rc == 0 && n.put_rc == 0 && n.get_rc == 0,
		      "inside the computation of \"outer\": get_or_compute(\"inner\") returned %d "
		      "(%s), put(\"side\") %d (%s), get(\"inner\") %d (%s); expected 0 for all",
		      n.inner_rc, tl_errname(n.inner_rc), n.put_rc, tl_errname(n.put_rc), n.get_rc,
		      tl_errname(n.get_rc));
	ck_assert_msg(n.outer_rc == 0, "cache_get_or_compute(\"outer\") returned %d (%s), "
		      "expected 0", n.outer_rc, tl_errname(n.outer_rc));
	check_copy(n.outer_copy, NULL, 1, "cache_get_or_compute(\"outer\")");
	ck_assert_msg(n.inner_calls == 1, "\"inner\" was computed %d times, expected 1",
		      n.inner_calls);
	expect_get(n.c, "outer", 1, NULL);
	expect_get(n.c, "inner", 2, NULL);
	expect_get(n.c, "side", 3, NULL);
	ck_assert_msg(stats_of(n.c).size == 3, "size is %zu, expected 3", stats_of(n.c).size);
	cache_destroy(n.c);
	tv_assert_clean();
}
END_TEST

struct selfask {
	cache_t *c;
	int outer_rc, inner_rc, inner_calls;
	void *outer_copy;
};

static int compute_self_inner(const char *key, void *ud, void **value)
{
	struct selfask *s = ud;

	(void)key;
	s->inner_calls++;
	*value = tv_new(99);
	return 0;
}

static int compute_asks_itself(const char *key, void *ud, void **value)
{
	struct selfask *s = ud;
	void *cp = NULL;

	s->inner_rc = cache_get_or_compute(s->c, key, compute_self_inner, s, &cp);
	if (s->inner_rc == 0)
		tv_free(cp);
	*value = tv_new(1);
	return 0;
}

static void selfask_run(void *p)
{
	struct selfask *s = p;

	s->outer_rc = cache_get_or_compute(s->c, "me", compute_asks_itself, s, &s->outer_copy);
}

START_TEST(test_cache_same_thread_same_key_is_edeadlk)
{
	static struct selfask s;
	long ms = deadline_ms(2000);

	s.c = new_cache(4);
	ck_assert_msg(run_with_deadline(selfask_run, &s, ms),
		      "a compute function that asks for its own key did not return within %ld ms: "
		      "cache_get_or_compute must return EDEADLK when the calling thread is the one "
		      "computing that key, instead of waiting for itself", ms);
	ck_assert_msg(s.inner_rc == EDEADLK, "inside the computation of \"me\", "
		      "cache_get_or_compute(\"me\") on the same thread returned %d (%s), expected "
		      "EDEADLK", s.inner_rc, tl_errname(s.inner_rc));
	ck_assert_msg(s.inner_calls == 0, "the nested cache_get_or_compute(\"me\") ran its compute "
		      "function: the key is already being computed by this very thread");
	ck_assert_msg(s.outer_rc == 0, "the outer cache_get_or_compute(\"me\") returned %d (%s), "
		      "expected 0", s.outer_rc, tl_errname(s.outer_rc));
	check_copy(s.outer_copy, NULL, 1, "the outer cache_get_or_compute(\"me\")");
	expect_get(s.c, "me", 1, NULL);
	cache_destroy(s.c);
	tv_assert_clean();
}
END_TEST

/* A computation that holds until the test releases it (or a deadline passes). */
struct gate {
	cache_t *c;
	tl_latch_t started, release;
	long hold_ms;
	bool released; /* written by the compute function: the release came before the deadline */
	int rc;
	void *copy;
	void *made;
};

static int compute_gated(const char *key, void *ud, void **value)
{
	struct gate *g = ud;

	(void)key;
	tl_latch_count_down(&g->started);
	g->released = tl_latch_wait_ms(&g->release, g->hold_ms);
	g->made = *value = tv_new(123);
	return 0;
}

static void *gated_thread(void *p)
{
	struct gate *g = p;

	g->rc = cache_get_or_compute(g->c, "slow", compute_gated, g, &g->copy);
	return NULL;
}

static void gate_start(struct gate *g, pthread_t *t)
{
	g->c = new_cache(4);
	g->hold_ms = deadline_ms(2000);
	tl_latch_init(&g->started, 1);
	tl_latch_init(&g->release, 1);
	ck_assert_int_eq(pthread_create(t, NULL, gated_thread, g), 0);
	ck_assert_msg(tl_latch_wait_ms(&g->started, deadline_ms(5000)),
		      "cache_get_or_compute(\"slow\") on an empty cache did not call the compute "
		      "function within 5 s");
}

START_TEST(test_cache_get_does_not_wait_for_a_computation)
{
	static struct gate g;
	pthread_t t;
	int64_t t0;
	void *cp = NULL;
	double ms;
	int rc;

	gate_start(&g, &t);
	t0 = tl_now_ns();
	rc = cache_get(g.c, "slow", &cp); /* "slow" is being computed, not stored */
	ms = tl_elapsed_ms(t0);
	tl_latch_count_down(&g.release);
	pthread_join(t, NULL);
	ck_assert_msg(rc == ENOENT && g.released,
		      "cache_get(\"slow\") while another thread was computing \"slow\" returned %d "
		      "(%s) after %.0f ms, expected ENOENT at once: cache_get never waits for a "
		      "computation, and the computation must run without the cache's lock "
		      "held", rc, tl_errname(rc),
		      ms);
	ck_assert_msg(g.rc == 0, "the computing cache_get_or_compute returned %d (%s), expected 0",
		      g.rc, tl_errname(g.rc));
	check_copy(g.copy, g.made, 123, "cache_get_or_compute(\"slow\")");
	expect_get(g.c, "slow", 123, g.made);
	cache_destroy(g.c);
	tv_assert_clean();
}
END_TEST

START_TEST(test_cache_put_during_compute_keeps_one_entry)
{
	static struct gate g;
	void *vput = tv_new(55);
	struct cache_stats st;
	pthread_t t;
	int rc;

	gate_start(&g, &t);
	rc = cache_put(g.c, "slow", vput); /* while "slow" is being computed */
	tl_latch_count_down(&g.release);
	pthread_join(t, NULL);
	ck_assert_msg(rc == 0 && g.released,
		      "cache_put(\"slow\") while another thread was computing \"slow\" returned %d "
		      "(%s)%s", rc, tl_errname(rc), g.released ? "" : " only after the computation "
		      "gave up waiting: a put must not wait for a computation, and the computation "
		      "must run without the cache's lock held");
	ck_assert_msg(g.rc == 0, "the computing cache_get_or_compute returned %d (%s), expected 0",
		      g.rc, tl_errname(g.rc));
	check_copy(g.copy, g.made, 123, "cache_get_or_compute(\"slow\")");
	tv_assert_clean();
	st = stats_of(g.c);
	ck_assert_msg(st.size == 1, "after a put and a computation of the same key, size is %zu, "
		      "expected 1: a key must never be stored twice", st.size);
	ck_assert_msg(tv_state(vput) == TV_FREED, "the value put during the computation was not "
		      "freed when the computed value replaced it");
	expect_get(g.c, "slow", 123, g.made);
	expect_remove(g.c, "slow");
	rc = cache_remove(g.c, "slow");
	ck_assert_msg(rc == ENOENT, "a second cache_remove(\"slow\") returned %d (%s), expected "
		      "ENOENT: the key was stored twice", rc, tl_errname(rc));
	cache_destroy(g.c);
	tv_assert_clean();
	ck_assert_msg(tv_live() == 0, "%ld values leaked", tv_live());
}
END_TEST

/* ---- errors ---------------------------------------------------------------------------------- */

struct later {
	cache_t *c;
	int calls, rc;
	void *copy;
};

static int compute_77(const char *key, void *ud, void **value)
{
	struct later *l = ud;

	(void)key;
	l->calls++;
	*value = tv_new(77);
	return 0;
}

static void *later_thread(void *p)
{
	struct later *l = p;

	l->rc = cache_get_or_compute(l->c, "flaky", compute_77, l, &l->copy);
	return NULL;
}

START_TEST(test_cache_error_is_returned_and_not_cached)
{
	cache_t *c = new_cache(4);
	struct later l = { .c = c };
	void *cp = NULL;
	int fails = 0, rc;
	pthread_t t;

	rc = cache_get_or_compute(c, "flaky", compute_fail_eio, &fails, &cp);
	ck_assert_msg(rc == EIO, "cache_get_or_compute(\"flaky\") whose compute function fails "
		      "with EIO returned %d (%s), expected EIO (the compute function's error)", rc,
		      tl_errname(rc));
	ck_assert_msg(fails == 1, "the failing compute function ran %d times, expected 1", fails);
	ck_assert_msg(stats_of(c).size == 0, "a failed computation left size %zu, expected 0: "
		      "nothing is stored when the computation fails", stats_of(c).size);
	expect_missing(c, "flaky", "its only computation failed, so nothing may be stored");
	/* Another thread asks again (a hang here: the failed computation left its in-flight marker
	 * behind and later callers wait for a computation that has already ended). */
	ck_assert_int_eq(pthread_create(&t, NULL, later_thread, &l), 0);
	pthread_join(t, NULL);
	ck_assert_msg(l.rc == 0 && l.calls == 1,
		      "after a failed computation of \"flaky\", cache_get_or_compute(\"flaky\") "
		      "from another thread returned %d (%s) and called its compute function %d "
		      "times, expected 0 and 1: an error must not be cached, the next call "
		      "computes again",
		      l.rc, tl_errname(l.rc), l.calls);
	check_copy(l.copy, NULL, 77, "cache_get_or_compute(\"flaky\") after a failure");
	expect_get(c, "flaky", 77, NULL);
	cache_destroy(c);
	tv_assert_clean();
}
END_TEST

/* ---- single flight --------------------------------------------------------------------------- */

#define CROWD 10

/* CROWD threads asking for the same missing key at the same time. */
struct crowd {
	cache_t *c;
	pthread_barrier_t start;
	tl_counter_t calling;   /* threads about to call cache_get_or_compute */
	tl_counter_t computing; /* computations started */
	int fail_with;          /* 0: the computation succeeds */
	long wait_ms;           /* how long a computation waits for the others to call */
	int rc[CROWD];
	void *copy[CROWD];
};

struct crowd_arg {
	struct crowd *cr;
	int i;
};

/* Waits (with a deadline) until every thread of the crowd is about to call, then gives them a
 * settle time to get into the cache, so that they find this computation in flight. */
static int compute_crowd(const char *key, void *ud, void **value)
{
	struct crowd *cr = ud;
	int64_t t0 = tl_now_ns();

	(void)key;
	tl_counter_add(&cr->computing, 1);
	while (tl_counter_get(&cr->calling) < CROWD && tl_elapsed_ms(t0) < cr->wait_ms)
		tl_sleep_ms(1);
	tl_sleep_ms(50);
	if (cr->fail_with)
		return cr->fail_with;
	*value = tv_new(42);
	return 0;
}

static void *crowd_thread(void *p)
{
	struct crowd_arg *a = p;
	struct crowd *cr = a->cr;

	pthread_barrier_wait(&cr->start);
	tl_counter_add(&cr->calling, 1);
	cr->rc[a->i] = cache_get_or_compute(cr->c, "hot", compute_crowd, cr, &cr->copy[a->i]);
	return NULL;
}

static void crowd_run(struct crowd *cr, int fail_with)
{
	struct crowd_arg args[CROWD];
	pthread_t t[CROWD];

	memset(cr, 0, sizeof(*cr));
	cr->c = new_cache(4);
	cr->fail_with = fail_with;
	cr->wait_ms = deadline_ms(3000);
	tl_counter_init(&cr->calling);
	tl_counter_init(&cr->computing);
	pthread_barrier_init(&cr->start, NULL, CROWD);
	for (int i = 0; i < CROWD; i++)
		args[i] = (struct crowd_arg){ cr, i };
	ck_assert_int_eq(tl_start_threads(t, CROWD, crowd_thread, args, sizeof args[0]), 0);
	tl_join_all(t, CROWD);
	pthread_barrier_destroy(&cr->start);
}

START_TEST(test_cache_error_reaches_every_waiter)
{
	static struct crowd cr;

	crowd_run(&cr, EIO);
	for (int i = 0; i < CROWD; i++)
		ck_assert_msg(cr.rc[i] == EIO, "%d threads asked for the same missing key while "
			      "its computation failed with EIO; thread %d got %d (%s), expected "
			      "EIO: every thread waiting for a computation that fails receives its "
			      "error", CROWD, i, cr.rc[i], tl_errname(cr.rc[i]));
	ck_assert_msg(stats_of(cr.c).size == 0, "failed computations left size %zu, expected 0",
		      stats_of(cr.c).size);
	cache_destroy(cr.c);
	tv_assert_clean();
}
END_TEST

START_TEST(test_cache_concurrent_misses_compute_once)
{
	static struct crowd cr;
	long computations;

	crowd_run(&cr, 0);
	computations = tl_counter_get(&cr.computing);
	ck_assert_msg(computations == 1, "%d threads asked for the same missing key at the same "
		      "time and the compute function ran %ld times, expected 1: threads that find "
		      "the key being computed must wait for that computation, not start their own",
		      CROWD, computations);
	for (int i = 0; i < CROWD; i++) {
		ck_assert_msg(cr.rc[i] == 0, "thread %d of %d asking for the same missing key got "
			      "%d (%s), expected 0 and the computed value", i, CROWD, cr.rc[i],
			      tl_errname(cr.rc[i]));
		for (int j = 0; j < i; j++)
			ck_assert_msg(cr.copy[i] != cr.copy[j], "threads %d and %d received the "
				      "same pointer: every caller, waiting or computing, must "
				      "receive its own copy", j, i);
	}
	for (int i = 0; i < CROWD; i++) {
		char what[96];

		snprintf(what, sizeof what, "cache_get_or_compute(\"hot\") in thread %d of %d", i,
			 CROWD);
		check_copy(cr.copy[i], NULL, 42, what);
	}
	expect_get(cr.c, "hot", 42, NULL);
	cache_destroy(cr.c);
	tv_assert_clean();
	ck_assert_msg(tv_live() == 0, "%ld values leaked", tv_live());
}
END_TEST

START_TEST(test_cache_concurrent_misses_count_one_miss)
{
	static struct crowd cr;
	struct cache_stats st;

	crowd_run(&cr, 0);
	st = stats_of(cr.c);
	ck_assert_msg(st.misses == 1 && st.hits == CROWD - 1 && st.size == 1,
		      "%d threads asked for the same missing key at the same time (the compute "
		      "function ran %ld times); stats say hits %llu misses %llu size %zu, expected "
		      "hits %d misses 1 size 1: the computing call is the one miss, every call "
		      "that waits for it (or finds the value stored) is a hit", CROWD,
		      tl_counter_get(&cr.computing), (unsigned long long)st.hits,
		      (unsigned long long)st.misses, st.size, CROWD - 1);
	for (int i = 0; i < CROWD; i++)
		if (cr.rc[i] == 0)
			tv_free(cr.copy[i]);
	cache_destroy(cr.c);
	tv_assert_clean();
}
END_TEST

/* Two computations of different keys that can only finish if they run at the same time. */
struct pair {
	cache_t *c;
	tl_latch_t both;
	long wait_ms;
	bool met[2];
	int rc[2];
	void *copy[2];
};

struct pair_arg {
	struct pair *p;
	int i;
};

static int compute_meet(const char *key, void *ud, void **value)
{
	struct pair_arg *a = ud;

	(void)key;
	tl_latch_count_down(&a->p->both);
	a->p->met[a->i] = tl_latch_wait_ms(&a->p->both, a->p->wait_ms);
	*value = tv_new(a->i + 1);
	return 0;
}

static void *pair_thread(void *p)
{
	struct pair_arg *a = p;

	a->p->rc[a->i] = cache_get_or_compute(a->p->c, a->i ? "right" : "left", compute_meet, a,
					      &a->p->copy[a->i]);
	return NULL;
}

START_TEST(test_cache_different_keys_compute_concurrently)
{
	static struct pair p;
	struct pair_arg args[2] = { { &p, 0 }, { &p, 1 } };
	pthread_t t[2];

	p.c = new_cache(4);
	p.wait_ms = deadline_ms(2000);
	tl_latch_init(&p.both, 2);
	ck_assert_int_eq(tl_start_threads(t, 2, pair_thread, args, sizeof args[0]), 0);
	tl_join_all(t, 2);
	ck_assert_msg(p.met[0] && p.met[1], "the computations of \"left\" and \"right\" (two "
		      "different keys, asked for by two threads) did not run at the same time: "
		      "each waited up to %ld ms for the other to start. Compute without holding "
		      "the cache's lock", p.wait_ms);
	for (int i = 0; i < 2; i++) {
		ck_assert_msg(p.rc[i] == 0, "cache_get_or_compute(\"%s\") returned %d (%s), "
			      "expected 0", i ? "right" : "left", p.rc[i], tl_errname(p.rc[i]));
		check_copy(p.copy[i], NULL, i + 1, i ? "cache_get_or_compute(\"right\")" :
			   "cache_get_or_compute(\"left\")");
	}
	cache_destroy(p.c);
	tv_assert_clean();
}
END_TEST

/* ---- stress ---------------------------------------------------------------------------------- */

#define MIX_THREADS 4
#define MIX_KEYS 12
#define MIX_CAP 4
#define MIX_OPS 300

struct mix {
	cache_t *c;
	pthread_barrier_t start;
	pthread_mutex_t mu;
	char fail[256]; /* guarded by mu: the first broken invariant */
	long lookups;   /* guarded by mu: get and get_or_compute calls */
};

struct mix_arg {
	struct mix *m;
	int i;
	int serial;
	int key; /* the key being computed */
};

static void mix_fail(struct mix *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mix_fail(struct mix *m, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&m->mu);
	if (m->fail[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(m->fail, sizeof m->fail, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&m->mu);
}

/* Payloads say which key they belong to: key * 100000 + a serial number. */
static int compute_mix(const char *key, void *ud, void **value)
{
	struct mix_arg *a = ud;

	(void)key;
	if (++a->serial % 8 == 0)
		return EIO; /* some computations fail */
	nap(10);
	*value = tv_new(a->key * 100000 + a->i * 10000 + a->serial);
	return 0;
}

static void mix_check_copy(struct mix *m, void *cp, int k, const char *op)
{
	if (!tv_is_copy(cp) || tv_state(cp) != TV_LIVE)
		mix_fail(m, "%s(\"m%d\") returned a pointer that is not a live copy made by "
			 "ops->copy",
			 op, k);
	else if (tv_payload(cp) / 100000 != k)
		mix_fail(m, "%s(\"m%d\") returned the value of key \"m%d\"", op, k,
			 tv_payload(cp) / 100000);
	tv_free(cp);
}

static void *mix_thread(void *p)
{
	struct mix_arg *a = p;
	struct mix *m = a->m;
	unsigned seed = 7919u * (unsigned)a->i + 1;
	long lookups = 0;
	char key[16];

	pthread_barrier_wait(&m->start);
	for (int n = 0; n < MIX_OPS; n++) {
		unsigned r = (unsigned)rand_r(&seed) % 100;
		int k = rand_r(&seed) % MIX_KEYS, rc;
		struct cache_stats st;
		void *cp = NULL;

		snprintf(key, sizeof key, "m%d", k);
		if (r < 35) {
			lookups++;
			rc = cache_get(m->c, key, &cp);
			if (rc == 0)
				mix_check_copy(m, cp, k, "cache_get");
			else if (rc != ENOENT)
				mix_fail(m, "cache_get(\"%s\") returned %d "
					 "(%s)", key, rc, tl_errname(rc));
		} else if (r < 60) {
			lookups++;
			a->key = k;
			rc = cache_get_or_compute(m->c, key, compute_mix, a, &cp);
			if (rc == 0)
				mix_check_copy(m, cp, k, "cache_get_or_compute");
			else if (rc != EIO)
				mix_fail(m, "cache_get_or_compute(\"%s\") returned %d (%s), "
					 "expected 0 or EIO (the compute function's "
					 "error)", key, rc, tl_errname(rc));
		} else if (r < 80) {
			rc = cache_put(m->c, key, tv_new(k * 100000 + a->i * 10000 + ++a->serial));
			if (rc != 0)
				mix_fail(m, "cache_put(\"%s\") returned %d "
					 "(%s)", key, rc, tl_errname(rc));
		} else if (r < 90) {
			rc = cache_remove(m->c, key);
			if (rc != 0 && rc != ENOENT)
				mix_fail(m, "cache_remove(\"%s\") returned %d (%s)", key, rc,
					 tl_errname(rc));
		} else {
			cache_stats(m->c, &st);
			if (st.size > MIX_CAP)
				mix_fail(m, "cache_stats says size %zu in a cache of "
					 "capacity %d", st.size, MIX_CAP);
		}
	}
	pthread_mutex_lock(&m->mu);
	m->lookups += lookups;
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

START_TEST(test_cache_concurrent_mixed_ops_keep_invariants)
{
	static struct mix m;
	struct mix_arg args[MIX_THREADS];
	struct cache_stats st;
	pthread_t t[MIX_THREADS];
	size_t removed = 0;
	char key[16];

	tv_copy_nap_us = 20; /* slow copies: a copy made without protecting the entry gets caught */
	m.c = new_cache(MIX_CAP);
	pthread_mutex_init(&m.mu, NULL);
	pthread_barrier_init(&m.start, NULL, MIX_THREADS);
	for (int i = 0; i < MIX_THREADS; i++)
		args[i] = (struct mix_arg){ &m, i, 0, 0 };
	ck_assert_int_eq(tl_start_threads(t, MIX_THREADS, mix_thread, args, sizeof args[0]), 0);
	tl_join_all(t, MIX_THREADS);
	tv_assert_clean();
	ck_assert_msg(m.fail[0] == '\0', "%d threads mixing get, put, remove, get_or_compute and "
		      "stats on a cache of capacity %d: %s", MIX_THREADS, MIX_CAP, m.fail);
	st = stats_of(m.c);
	ck_assert_msg(st.size <= MIX_CAP, "size %zu exceeds the capacity %d", st.size, MIX_CAP);
	ck_assert_msg(st.hits + st.misses == (uint64_t)m.lookups, "%ld get and get_or_compute "
		      "calls were made but hits + misses = %llu + %llu: every lookup counts "
		      "exactly once (are the counters updated under the lock?)", m.lookups,
		      (unsigned long long)st.hits, (unsigned long long)st.misses);
	for (int k = 0; k < MIX_KEYS; k++) {
		snprintf(key, sizeof key, "m%d", k);
		removed += cache_remove(m.c, key) == 0;
	}
	ck_assert_msg(removed == st.size, "stats said size %zu but %zu keys could be removed",
		      st.size, removed);
	ck_assert_msg(stats_of(m.c).size == 0, "after removing every key, size is %zu: some key "
		      "was stored twice or the size is miscounted", stats_of(m.c).size);
	cache_destroy(m.c);
	tv_assert_clean();
	ck_assert_msg(tv_live() == 0, "%ld values were never freed (leaked) after the mixed run "
		      "and cache_destroy", tv_live());
}
END_TEST

#define SAME_THREADS 4
#define SAME_ROUNDS 40

struct same {
	cache_t *c;
	pthread_barrier_t round;
};

struct same_arg {
	struct same *s;
	int i;
	int bad_rc; /* written by its thread, read after the join */
};

static int compute_same(const char *key, void *ud, void **value)
{
	(void)ud;
	nap(10);
	*value = tv_new(atoi(key + 1));
	return 0;
}

static void *same_thread(void *p)
{
	struct same_arg *a = p;
	struct same *s = a->s;
	char key[16];

	for (int r = 0; r < SAME_ROUNDS; r++) {
		void *cp = NULL;
		int rc;

		snprintf(key, sizeof key, "d%d", r % 3);
		pthread_barrier_wait(&s->round); /* everyone on the same key at the same time */
		if (a->i % 2 == 0) {
			rc = cache_get_or_compute(s->c, key, compute_same, NULL, &cp);
			if (rc == 0)
				tv_free(cp);
		} else {
			rc = cache_put(s->c, key, tv_new(r % 3));
		}
		if (rc != 0 && a->bad_rc == 0)
			a->bad_rc = rc;
	}
	return NULL;
}

START_TEST(test_cache_key_is_never_stored_twice)
{
	static struct same s;
	struct same_arg args[SAME_THREADS];
	pthread_t t[SAME_THREADS];
	struct cache_stats st;
	char key[16];

	s.c = new_cache(16);
	pthread_barrier_init(&s.round, NULL, SAME_THREADS);
	for (int i = 0; i < SAME_THREADS; i++)
		args[i] = (struct same_arg){ &s, i, 0 };
	ck_assert_int_eq(tl_start_threads(t, SAME_THREADS, same_thread, args, sizeof args[0]), 0);
	tl_join_all(t, SAME_THREADS);
	for (int i = 0; i < SAME_THREADS; i++)
		ck_assert_msg(args[i].bad_rc == 0, "thread %d: a %s of a key that other threads "
			      "were putting and computing at the same time returned %d (%s), "
			      "expected 0", i,
			      i % 2 ? "cache_put" : "cache_get_or_compute", args[i].bad_rc,
			      tl_errname(args[i].bad_rc));
	tv_assert_clean();
	st = stats_of(s.c);
	ck_assert_msg(st.size == 3, "%d threads put and computed the same 3 keys at the same time "
		      "(capacity 16); size is %zu, expected 3: a key must never be stored twice",
		      SAME_THREADS, st.size);
	for (int k = 0; k < 3; k++) {
		int rc;

		snprintf(key, sizeof key, "d%d", k);
		expect_get(s.c, key, k, NULL);
		expect_remove(s.c, key);
		rc = cache_remove(s.c, key);
		ck_assert_msg(rc == ENOENT, "after removing \"%s\", a second cache_remove returned "
			      "%d (%s), expected ENOENT: the key was stored twice", key, rc,
			      tl_errname(rc));
	}
	cache_destroy(s.c);
	tv_assert_clean();
	ck_assert_msg(tv_live() == 0, "%ld values leaked", tv_live());
}
END_TEST
