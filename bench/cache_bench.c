/* cache_bench.c - operations per second of the reference cache against a GLib LRU baseline.
 *
 * Build and run (what `make bench` does for this exercise):
 *   cc -std=gnu11 -D_GNU_SOURCE -O2 -pthread -Iexercises/cache bench/cache_bench.c \
 *      solutions/cache/cache.c $(pkg-config --cflags --libs glib-2.0) -o build/cache_bench
 *   build/cache_bench [ops_per_thread]
 *
 * DESIGN: the workload of the exercise's issue: 10,000 keys, capacity 1,000, 90% gets and 10%
 * puts, with keys drawn uniformly or from a hot set (90% of the operations on 1,000 hot keys),
 * run by 1 and then 2 threads. Both caches get the same value ops (a 32-byte value copied with
 * malloc + memcpy on every hit), the same pre-formatted key strings and the same per-thread
 * random sequence (xorshift, seeded per thread), and start prefilled with the same 1,000 keys.
 * The baseline is the textbook GLib LRU: a GHashTable from key to a GList link of a GQueue
 * (most recent at the head) under one GMutex; a hit moves the link to the head and copies the
 * value under the mutex, a put into a full cache pops the tail. Each configuration runs REPS
 * times per cache, alternating between the two, and the best run of each counts (the machine is
 * shared; the best run is the least disturbed).
 * This is a benchmark, not a test: it prints numbers and never fails. */
#include <glib.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"

#define NKEYS 10000
#define CAPACITY 1000
#define HOT 1000
#define VALUE_SIZE 32
#define REPS 5

static char keys[NKEYS][16];

static void *val_copy(const void *v)
{
	void *c = malloc(VALUE_SIZE);

	if (c)
		memcpy(c, v, VALUE_SIZE);
	return c;
}

static void *val_new(unsigned seed)
{
	unsigned char *v = malloc(VALUE_SIZE);

	memset(v, (int)(seed & 0xff), VALUE_SIZE);
	return v;
}

static const struct cache_value_ops value_ops = { val_copy, free };

/* ---- the GLib baseline ---- */

struct gent {
	char *key;
	void *value;
};

struct glru {
	GMutex mu;
	GHashTable *index; /* guarded by mu: key -> GList link in lru (data: struct gent) */
	GQueue lru;        /* guarded by mu: head = most recently used */
	size_t capacity;
};

static struct glru *glru_new(size_t capacity)
{
	struct glru *g = g_new0(struct glru, 1);

	g_mutex_init(&g->mu);
	g->index = g_hash_table_new(g_str_hash, g_str_equal);
	g_queue_init(&g->lru);
	g->capacity = capacity;
	return g;
}

static void glru_free(struct glru *g)
{
	struct gent *e;

	while ((e = g_queue_pop_head(&g->lru)) != NULL) {
		free(e->value);
		g_free(e->key);
		g_free(e);
	}
	g_hash_table_destroy(g->index);
	g_mutex_clear(&g->mu);
	g_free(g);
}

static int glru_get(struct glru *g, const char *key, void **copy)
{
	GList *link;
	void *cp = NULL;

	g_mutex_lock(&g->mu);
	if ((link = g_hash_table_lookup(g->index, key)) != NULL) {
		g_queue_unlink(&g->lru, link);
		g_queue_push_head_link(&g->lru, link);
		cp = val_copy(((struct gent *)link->data)->value);
	}
	g_mutex_unlock(&g->mu);
	if (!link)
		return 2;
	*copy = cp;
	return 0;
}

static int glru_put(struct glru *g, const char *key, void *value)
{
	GList *link;
	struct gent *e;

	g_mutex_lock(&g->mu);
	if ((link = g_hash_table_lookup(g->index, key)) != NULL) {
		e = link->data;
		free(e->value);
		e->value = value;
		g_queue_unlink(&g->lru, link);
		g_queue_push_head_link(&g->lru, link);
	} else {
		if (g->lru.length == g->capacity) {
			GList *tail = g_queue_pop_tail_link(&g->lru);
			struct gent *v = tail->data;

			g_hash_table_remove(g->index, v->key);
			free(v->value);
			g_free(v->key);
			g_free(v);
			g_list_free_1(tail);
		}
		e = g_new(struct gent, 1);
		e->key = g_strdup(key);
		e->value = value;
		link = g_list_alloc();
		link->data = e;
		g_queue_push_head_link(&g->lru, link);
		g_hash_table_insert(g->index, e->key, link);
	}
	g_mutex_unlock(&g->mu);
	return 0;
}

/* ---- the workload ---- */

enum which { REF, GLIB };

struct run {
	enum which which;
	bool hot;
	long ops;
	cache_t *c;
	struct glru *g;
	pthread_barrier_t *start;
	unsigned seed;
	long hits; /* per thread, read after the join */
};

static uint32_t xorshift(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

static unsigned pick_key(uint32_t *s, bool hot)
{
	uint32_t r = xorshift(s);

	if (hot && r % 10 != 0)
		return (r >> 8) % HOT;
	return (r >> 8) % NKEYS;
}

static void *worker(void *p)
{
	struct run *r = p;
	uint32_t s = r->seed;
	long hits = 0;

	pthread_barrier_wait(r->start);
	for (long i = 0; i < r->ops; i++) {
		uint32_t op = xorshift(&s) % 10;
		const char *key = keys[pick_key(&s, r->hot)];
		void *v;

		if (op != 0) { /* 90% gets */
			int rc = r->which == REF ? cache_get(r->c, key, &v)
						 : glru_get(r->g, key, &v);

			if (rc == 0) {
				hits++;
				free(v);
			}
		} else if (r->which == REF) {
			cache_put(r->c, key, val_new(s));
		} else {
			glru_put(r->g, key, val_new(s));
		}
	}
	r->hits = hits;
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One run; returns operations per second and the hit rate in *hit_rate. */
static double run_once(enum which which, bool hot, int threads, long ops, double *hit_rate)
{
	struct run r[2];
	pthread_t t[2];
	pthread_barrier_t start;
	cache_t *c = NULL;
	struct glru *g = NULL;
	double t0, t1;
	long hits = 0;

	if (which == REF) {
		if (cache_create(&c, CAPACITY, &value_ops) != 0) {
			fprintf(stderr, "cache_create failed\n");
			exit(1);
		}
	} else {
		g = glru_new(CAPACITY);
	}
	for (unsigned k = 0; k < CAPACITY; k++) {
		const char *key = keys[hot ? k % HOT : k * (NKEYS / CAPACITY)];

		if (which == REF)
			cache_put(c, key, val_new(k));
		else
			glru_put(g, key, val_new(k));
	}
	pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
	for (int i = 0; i < threads; i++) {
		r[i] = (struct run){ which, hot, ops, c, g, &start, 0, 0 };
		r[i].seed = 2463534242u + 7919u * (unsigned)i;
		pthread_create(&t[i], NULL, worker, &r[i]);
	}
	pthread_barrier_wait(&start);
	t0 = now_s();
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	t1 = now_s();
	pthread_barrier_destroy(&start);
	for (int i = 0; i < threads; i++)
		hits += r[i].hits;
	*hit_rate = (double)hits / ((double)ops * threads * 0.9);
	if (which == REF)
		cache_destroy(c);
	else
		glru_free(g);
	return (double)ops * threads / (t1 - t0);
}

/* REPS runs of each cache, alternating, so that both see the same spells of a shared machine's
 * load; the best run of each counts. */
static void best_of(bool hot, int threads, long ops, double *ref, double *base, double *hit_rate)
{
	double hr;

	*ref = *base = 0;
	for (int i = 0; i < REPS; i++) {
		double v = run_once(REF, hot, threads, ops, hit_rate);

		if (v > *ref)
			*ref = v;
		v = run_once(GLIB, hot, threads, ops, &hr);
		if (v > *base)
			*base = v;
	}
}

int main(int argc, char **argv)
{
	long ops = argc > 1 ? atol(argv[1]) : 1000000;

	for (int i = 0; i < NKEYS; i++)
		snprintf(keys[i], sizeof keys[i], "key:%05d", i);
	printf("cache benchmark: %d keys, capacity %d, 90%% get / 10%% put, %ld ops per thread, "
	       "best of %d\n", NKEYS, CAPACITY, ops, REPS);
	printf("%-8s %7s %9s %14s %14s %7s\n", "keys", "threads", "hit rate", "reference op/s",
	       "GLib op/s", "ratio");
	for (int hot = 0; hot < 2; hot++) {
		for (int threads = 1; threads <= 2; threads++) {
			double hr, ref, base;

			best_of(hot, threads, ops, &ref, &base, &hr);

			printf("%-8s %7d %8.1f%% %14.0f %14.0f "
			       "%6.2fx\n", hot ? "hot-set" : "uniform",
			       threads, 100 * hr, ref, base, ref / base);
		}
	}
	return 0;
}
