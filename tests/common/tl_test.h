/* tl_test.h - small helpers shared by the Check suites and the drivers.
 *
 * DESIGN: tests measure time with CLOCK_MONOTONIC and a thread's own CPU time with
 * CLOCK_THREAD_CPUTIME_ID; they coordinate threads with barriers and latches, never with sleeps
 * for ordering. Nothing here uses C11 atomics, so helgrind sees every synchronisation. */
#ifndef TL_TEST_H
#define TL_TEST_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Monotonic time in nanoseconds. */
int64_t tl_now_ns(void);

/* Milliseconds elapsed since start_ns (from tl_now_ns). */
double tl_elapsed_ms(int64_t start_ns);

/* CPU time used so far by the calling thread, in nanoseconds. */
int64_t tl_thread_cpu_ns(void);

/* Sleeps ms milliseconds, resuming after signals. */
void tl_sleep_ms(long ms);

/* "EPERM", "ETIMEDOUT", ... for an error number; "0" for 0; "errno N" for unknown ones. */
const char *tl_errname(int err);

/* How much to stretch timing bounds: 1.0 natively; larger under valgrind (env TL_SLOWDOWN,
 * set by the grader). Use for loose upper bounds, never for lower bounds. */
double tl_slowdown(void);

/* A one-shot latch: tl_latch_wait blocks until the count reaches zero. */
typedef struct tl_latch {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned count; /* guarded by mu */
} tl_latch_t;

void tl_latch_init(tl_latch_t *l, unsigned count);
void tl_latch_count_down(tl_latch_t *l);
void tl_latch_wait(tl_latch_t *l);
/* Waits at most timeout_ms; returns true if the latch opened. */
bool tl_latch_wait_ms(tl_latch_t *l, long timeout_ms);
void tl_latch_destroy(tl_latch_t *l);

/* A counter guarded by a mutex, for tests and drivers that count across threads. */
typedef struct tl_counter {
	pthread_mutex_t mu;
	long value; /* guarded by mu */
	long max;   /* guarded by mu: highest value seen */
} tl_counter_t;

void tl_counter_init(tl_counter_t *c);
long tl_counter_add(tl_counter_t *c, long delta); /* returns the new value */
long tl_counter_get(tl_counter_t *c);
long tl_counter_max(tl_counter_t *c);
void tl_counter_destroy(tl_counter_t *c);

/* Starts n threads running fn(arg_i) where arg_i = (char *)args + i * arg_size; aborts the test
 * (returns non-zero) if a thread cannot be created. tl_join_all joins them. */
int tl_start_threads(pthread_t *tids, size_t n, void *(*fn)(void *), void *args, size_t arg_size);
void tl_join_all(pthread_t *tids, size_t n);

#endif
