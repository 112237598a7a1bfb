/* tl_witness.c - see tl_witness.h for the design. */
#include "tl_witness.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct tl_span {
	int64_t start_ns;
	int64_t end_ns; /* 0 while the task runs */
	pthread_t thread;
};

struct tl_witness {
	pthread_mutex_t mu;
	size_t cap;
	size_t used;          /* guarded by mu: slots handed out */
	unsigned running;     /* guarded by mu */
	unsigned max_running; /* guarded by mu */
	struct tl_span *spans; /* guarded by mu */
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int tl_witness_create(tl_witness_t **out, size_t max_tasks)
{
	tl_witness_t *w = calloc(1, sizeof *w);

	if (!w || !(w->spans = calloc(max_tasks ? max_tasks : 1, sizeof *w->spans))) {
		free(w);
		return ENOMEM;
	}
	pthread_mutex_init(&w->mu, NULL);
	w->cap = max_tasks;
	*out = w;
	return 0;
}

void tl_witness_destroy(tl_witness_t *w)
{
	if (!w)
		return;
	pthread_mutex_destroy(&w->mu);
	free(w->spans);
	free(w);
}

size_t tl_witness_begin(tl_witness_t *w)
{
	size_t slot = (size_t)-1;

	pthread_mutex_lock(&w->mu);
	if (++w->running > w->max_running)
		w->max_running = w->running;
	if (w->used < w->cap) {
		slot = w->used++;
		w->spans[slot].start_ns = now_ns();
		w->spans[slot].end_ns = 0;
		w->spans[slot].thread = pthread_self();
	}
	pthread_mutex_unlock(&w->mu);
	return slot;
}

void tl_witness_end(tl_witness_t *w, size_t slot)
{
	pthread_mutex_lock(&w->mu);
	w->running--;
	if (slot < w->used)
		w->spans[slot].end_ns = now_ns();
	pthread_mutex_unlock(&w->mu);
}

unsigned tl_witness_running(tl_witness_t *w)
{
	unsigned n;

	pthread_mutex_lock(&w->mu);
	n = w->running;
	pthread_mutex_unlock(&w->mu);
	return n;
}

void tl_witness_analyze(tl_witness_t *w, struct tl_overlap *out)
{
	int64_t first = 0, last = 0, busy = 0;
	pthread_t *seen;

	pthread_mutex_lock(&w->mu);
	*out = (struct tl_overlap){ 0 };
	out->max_running = w->max_running;
	seen = calloc(w->used ? w->used : 1, sizeof *seen);
	for (size_t i = 0; i < w->used; i++) {
		const struct tl_span *s = &w->spans[i];
		size_t j;

		if (s->end_ns == 0)
			continue;
		if (out->tasks == 0 || s->start_ns < first)
			first = s->start_ns;
		if (out->tasks == 0 || s->end_ns > last)
			last = s->end_ns;
		busy += s->end_ns - s->start_ns;
		out->tasks++;
		for (j = 0; seen && j < out->threads; j++)
			if (pthread_equal(seen[j], s->thread))
				break;
		if (seen && j == out->threads)
			seen[out->threads++] = s->thread;
	}
	pthread_mutex_unlock(&w->mu);
	free(seen);
	out->busy_ms = (double)busy / 1e6;
	out->makespan_ms = (double)(last - first) / 1e6;
	out->avg_running = out->makespan_ms > 0 ? out->busy_ms / out->makespan_ms : 0;
}

void tl_witness_reset(tl_witness_t *w)
{
	pthread_mutex_lock(&w->mu);
	w->used = 0;
	w->running = 0;
	w->max_running = 0;
	pthread_mutex_unlock(&w->mu);
}

int tl_witness_write_timeline(tl_witness_t *w, const char *path)
{
	FILE *f = fopen(path, "w");
	int64_t first = 0;
	pthread_t *threads;
	size_t nthreads = 0;
	int rc = 0;

	if (!f)
		return errno;
	pthread_mutex_lock(&w->mu);
	threads = calloc(w->used ? w->used : 1, sizeof *threads);
	for (size_t i = 0; i < w->used; i++)
		if (i == 0 || w->spans[i].start_ns < first)
			first = w->spans[i].start_ns;
	fputc('[', f);
	for (size_t i = 0; i < w->used; i++) {
		const struct tl_span *s = &w->spans[i];
		size_t t;

		/* Threads are numbered in order of first appearance: pthread_t is opaque. */
		for (t = 0; threads && t < nthreads; t++)
			if (pthread_equal(threads[t], s->thread))
				break;
		if (threads && t == nthreads)
			threads[nthreads++] = s->thread;
		fprintf(f, "%s{\"start_ms\":%.3f,\"end_ms\":%.3f,\"thread\":%zu}", i ? "," : "",
			(double)(s->start_ns - first) / 1e6,
			s->end_ns ? (double)(s->end_ns - first) / 1e6 : -1.0, t);
	}
	fputs("]\n", f);
	pthread_mutex_unlock(&w->mu);
	free(threads);
	if (ferror(f))
		rc = EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = errno;
	return rc;
}
