/* bqueue_bench.c - throughput of the reference bounded queue against GLib's GAsyncQueue.
 *
 * Build and run (what `make bench` does for this exercise):
 *   cc -std=gnu11 -D_GNU_SOURCE -O2 -pthread -Iexercises/bqueue bench/bqueue_bench.c \
 *      solutions/bqueue/bqueue.c $(pkg-config --cflags --libs glib-2.0) -o build/bqueue_bench
 *   build/bqueue_bench [items_per_run]
 *
 * DESIGN: P producers put ITEMS items in all (ITEMS / P each) and C consumers take them (ITEMS / C
 * each), for P/C = 1/1 and 4/4 and capacities 64 and 1024; the time is measured from a barrier
 * that releases every thread at once to the last join. Both queues move the same non-NULL
 * pointers, and the consumers check a checksum of what they took.
 * GAsyncQueue is unbounded, so it is bounded the cheapest fair way: a POSIX counting semaphore of
 * free slots, initialised to the capacity; a producer takes a slot (sem_wait) before
 * g_async_queue_push and a consumer gives it back (sem_post) after g_async_queue_timeout_pop. On
 * the uncontended path sem_wait/sem_post are one atomic instruction each (a futex call only when
 * the queue is full or a producer sleeps), so the bound costs GLib little, and without it the
 * producers would never block, which would measure a different, easier job. Our queue is called
 * the same way: an untimed put and a timed get (1 s timeout, as timeout_pop); task_done is not
 * called (GAsyncQueue has nothing like it).
 * Each configuration runs REPS interleaved pairs (ours then GLib, then GLib then ours, ...) and
 * the ratio of each pair is taken; the median ratio is printed (> 1.00x: ours is faster), with
 * the median throughput of each side. This is a benchmark, not a test: it prints numbers and
 * never fails, except when a queue loses or invents an item. */
#include <glib.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bqueue.h"

#define REPS 7
#define MAX_THREADS 8

enum kind { OURS, GLIB };

struct run {
	enum kind kind;
	int producers, consumers;
	long items;
	size_t capacity;
	bqueue_t *bq;             /* OURS */
	GAsyncQueue *gq;          /* GLIB */
	sem_t slots;              /* GLIB: free slots, the bound */
	pthread_barrier_t start;
	pthread_mutex_t mu;
	uint64_t checksum;        /* guarded by mu */
};

struct worker {
	struct run *r;
	int index;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *producer(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->r;
	long n = r->items / r->producers, first = 1 + w->index * n;

	pthread_barrier_wait(&r->start);
	for (long i = first; i < first + n; i++) {
		void *item = (void *)(uintptr_t)i;

		if (r->kind == OURS) {
			if (bqueue_put(r->bq, item, -1) != 0)
				abort();
		} else {
			while (sem_wait(&r->slots) != 0)
				;
			g_async_queue_push(r->gq, item);
		}
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->r;
	long n = r->items / r->consumers;
	uint64_t sum = 0;

	pthread_barrier_wait(&r->start);
	for (long i = 0; i < n; i++) {
		void *item = NULL;

		if (r->kind == OURS) {
			if (bqueue_get(r->bq, &item, 1000) != 0)
				abort();
		} else {
			item = g_async_queue_timeout_pop(r->gq, G_USEC_PER_SEC);
			if (item == NULL)
				abort();
			sem_post(&r->slots);
		}
		sum += (uint64_t)(uintptr_t)item;
	}
	pthread_mutex_lock(&r->mu);
	r->checksum += sum;
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* One run; returns the seconds it took. */
static double run_once(enum kind kind, int producers, int consumers, size_t capacity, long items)
{
	struct run r = { .kind = kind, .producers = producers, .consumers = consumers,
			 .items = items, .capacity = capacity };
	struct worker ws[MAX_THREADS];
	pthread_t tids[MAX_THREADS];
	int n = producers + consumers;
	uint64_t want = (uint64_t)items * (uint64_t)(items + 1) / 2;
	double t0, t;

	if (kind == OURS) {
		if (bqueue_create(&r.bq, capacity, NULL) != 0)
			abort();
	} else {
		r.gq = g_async_queue_new();
		sem_init(&r.slots, 0, (unsigned)capacity);
	}
	pthread_mutex_init(&r.mu, NULL);
	pthread_barrier_init(&r.start, NULL, (unsigned)n + 1);
	for (int i = 0; i < n; i++) {
		ws[i] = (struct worker){ &r, i < producers ? i : i - producers };
		pthread_create(&tids[i], NULL, i < producers ? producer : consumer, &ws[i]);
	}
	pthread_barrier_wait(&r.start);
	t0 = now_s();
	for (int i = 0; i < n; i++)
		pthread_join(tids[i], NULL);
	t = now_s() - t0;
	if (r.checksum != want) {
		fprintf(stderr, "bqueue_bench: %s lost or invented items (checksum %llu, want %llu)\n",
			kind == OURS ? "bqueue" : "GAsyncQueue", (unsigned long long)r.checksum,
			(unsigned long long)want);
		exit(1);
	}
	pthread_barrier_destroy(&r.start);
	pthread_mutex_destroy(&r.mu);
	if (kind == OURS) {
		bqueue_destroy(r.bq);
	} else {
		g_async_queue_unref(r.gq);
		sem_destroy(&r.slots);
	}
	return t;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	static const struct { int p, c; } pcs[] = { { 1, 1 }, { 4, 4 } };
	static const size_t caps[] = { 64, 1024 };
	long items = argc > 1 ? atol(argv[1]) : 400000;

	items -= items % 4;
	if (items <= 0) {
		fprintf(stderr, "usage: %s [items_per_run]\n", argv[0]);
		return 2;
	}
	printf("bqueue vs GAsyncQueue (bounded by a semaphore): %ld items per run, median of %d "
	       "interleaved pairs\n", items, REPS);
	printf("%-10s %8s %14s %14s %10s\n", "P/C", "capacity", "bqueue Mit/s", "GLib Mit/s",
	       "ratio");
	for (size_t i = 0; i < sizeof pcs / sizeof pcs[0]; i++)
		for (size_t j = 0; j < sizeof caps / sizeof caps[0]; j++) {
			double ours[REPS], glib[REPS], ratio[REPS];

			for (int k = 0; k < REPS; k++) {
				if (k % 2 == 0) {
					ours[k] = run_once(OURS, pcs[i].p, pcs[i].c, caps[j], items);
					glib[k] = run_once(GLIB, pcs[i].p, pcs[i].c, caps[j], items);
				} else {
					glib[k] = run_once(GLIB, pcs[i].p, pcs[i].c, caps[j], items);
					ours[k] = run_once(OURS, pcs[i].p, pcs[i].c, caps[j], items);
				}
				ratio[k] = glib[k] / ours[k];
			}
			printf("%d/%-8d %8zu %14.2f %14.2f %9.2fx\n", pcs[i].p, pcs[i].c, caps[j],
			       (double)items / median(ours, REPS) / 1e6,
			       (double)items / median(glib, REPS) / 1e6, median(ratio, REPS));
			fflush(stdout);
		}
	return 0;
}
