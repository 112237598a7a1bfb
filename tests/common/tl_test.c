/* tl_test.c - see tl_test.h. */
#include "tl_test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t tl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double tl_elapsed_ms(int64_t start_ns)
{
	return (double)(tl_now_ns() - start_ns) / 1e6;
}

int64_t tl_thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void tl_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

const char *tl_errname(int err)
{
	static const struct { int err; const char *name; } names[] = {
		{ 0, "0" }, { EPERM, "EPERM" }, { ENOENT, "ENOENT" }, { EINTR, "EINTR" },
		{ EAGAIN, "EAGAIN" }, { ENOMEM, "ENOMEM" }, { EBUSY, "EBUSY" },
		{ EINVAL, "EINVAL" }, { EDEADLK, "EDEADLK" }, { ENOSYS, "ENOSYS" },
		{ ETIMEDOUT, "ETIMEDOUT" }, { ESHUTDOWN, "ESHUTDOWN" },
		{ ECANCELED, "ECANCELED" }, { EOVERFLOW, "EOVERFLOW" }, { EEXIST, "EEXIST" },
		{ ERANGE, "ERANGE" }, { EIO, "EIO" }, { EDOM, "EDOM" }, { E2BIG, "E2BIG" },
		{ -1, "-1 (return a positive errno, not -1)" },
	};
	static __thread char buf[32];

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].err == err)
			return names[i].name;
	snprintf(buf, sizeof buf, "errno %d", err);
	return buf;
}

double tl_slowdown(void)
{
	const char *s = getenv("TL_SLOWDOWN");
	double v = s ? strtod(s, NULL) : 1.0;

	return v >= 1.0 ? v : 1.0;
}

void tl_latch_init(tl_latch_t *l, unsigned count)
{
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	l->count = count;
}

void tl_latch_count_down(tl_latch_t *l)
{
	pthread_mutex_lock(&l->mu);
	if (l->count > 0 && --l->count == 0)
		pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

void tl_latch_wait(tl_latch_t *l)
{
	pthread_mutex_lock(&l->mu);
	while (l->count > 0)
		pthread_cond_wait(&l->cv, &l->mu);
	pthread_mutex_unlock(&l->mu);
}

bool tl_latch_wait_ms(tl_latch_t *l, long timeout_ms)
{
	/* The latch's condvar uses CLOCK_REALTIME (default attr); poll in short timed waits so that
	 * a clock step cannot stretch the wait beyond the monotonic deadline. */
	int64_t deadline = tl_now_ns() + (int64_t)timeout_ms * 1000000;
	bool open;

	pthread_mutex_lock(&l->mu);
	while (l->count > 0 && tl_now_ns() < deadline) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&l->cv, &l->mu, &ts);
	}
	open = l->count == 0;
	pthread_mutex_unlock(&l->mu);
	return open;
}

void tl_latch_destroy(tl_latch_t *l)
{
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
}

void tl_counter_init(tl_counter_t *c)
{
	pthread_mutex_init(&c->mu, NULL);
	c->value = 0;
	c->max = 0;
}

long tl_counter_add(tl_counter_t *c, long delta)
{
	long v;

	pthread_mutex_lock(&c->mu);
	v = c->value += delta;
	if (v > c->max)
		c->max = v;
	pthread_mutex_unlock(&c->mu);
	return v;
}

long tl_counter_get(tl_counter_t *c)
{
	long v;

	pthread_mutex_lock(&c->mu);
	v = c->value;
	pthread_mutex_unlock(&c->mu);
	return v;
}

long tl_counter_max(tl_counter_t *c)
{
	long v;

	pthread_mutex_lock(&c->mu);
	v = c->max;
	pthread_mutex_unlock(&c->mu);
	return v;
}

void tl_counter_destroy(tl_counter_t *c)
{
	pthread_mutex_destroy(&c->mu);
}

int tl_start_threads(pthread_t *tids, size_t n, void *(*fn)(void *), void *args, size_t arg_size)
{
	for (size_t i = 0; i < n; i++) {
		int rc = pthread_create(&tids[i], NULL, fn, (char *)args + i * arg_size);

		if (rc != 0) {
			fprintf(stderr, "tl_start_threads: pthread_create: %s\n", strerror(rc));
			return rc;
		}
	}
	return 0;
}

void tl_join_all(pthread_t *tids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pthread_join(tids[i], NULL);
}
