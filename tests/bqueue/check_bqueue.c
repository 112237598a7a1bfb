/* check_bqueue.c - the Check tests of the bounded blocking queue (bqueue.h is the contract).
 *
 * DESIGN: each test makes its own queue and, when it needs them, its own threads. Threads are
 * coordinated with latches: a thread that must be blocked inside a call opens a latch just before
 * the call, and the test sleeps a short settle time (SETTLE_MS) after the latch opened; every claim
 * made after a settle is true for a correct queue whether or not the thread was already asleep.
 * Every wait of the test itself has a deadline (wake_ms(), stretched by tl_slowdown() under
 * valgrind), so a queue that loses a wakeup fails with a message that says so instead of hanging
 * until Check's timeout. Threads report to the test through mutex-guarded state (struct shared,
 * latches), never C11 atomics, so that the suite also runs cleanly under helgrind.
 * Tests that race threads against each other (recheck, many) repeat the race hundreds of times in
 * one run and check invariants that every correct queue keeps: each item comes out exactly once,
 * size() never exceeds the capacity, FIFO order per producer. Two tests read the kernel's view of
 * their threads (/proc/self/task/TID): the recheck tests wait until the other threads sleep
 * before each round, so that every round has a sleeping thread to wake, and the no_busy_wait
 * tests read a blocked thread's scheduler statistics (runnable time, runs) over a quiet window.
 * Consumer threads mark every item done before another consumer could need it (the stress tests
 * in pairs, see pc_consumer): a queue that lets one consumer in at a time until its task_done
 * (the io_overlap check's business) passes every functional test.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bqueue.h"
#include "tl_test.h"

#ifndef RUSAGE_THREAD
#define RUSAGE_THREAD 1 /* Linux; declared by <sys/resource.h> with _GNU_SOURCE */
#endif

#define SETTLE_MS 50     /* lets a thread that is about to call block inside the call */
#define TIMEOUT_MS 100   /* the timeout of the timed calls that are meant to time out */
#define LONG_WAIT_MS 10000 /* the timeout of timed calls that are meant to be woken early */

/* How long a thread that should be woken may take to return: generous, a shared machine. */
static long wake_ms(void)
{
	return (long)(2000 * tl_slowdown());
}

/* Items are small integers in pointers; 0 is NULL, a valid item too. */
#define TOK(i) ((void *)(uintptr_t)(i))
#define UNTOK(p) ((long)(uintptr_t)(p))
#define SENTINEL TOK(0x5e7)

static bqueue_t *make_queue(size_t capacity, void (*free_item)(void *))
{
	bqueue_t *q = NULL;
	int rc = bqueue_create(&q, capacity, free_item);

	ck_assert_msg(rc == 0 && q != NULL,
		      "bqueue_create(&q, %zu, ...) returned %s with q %s, expected 0 and a queue",
		      capacity, tl_errname(rc), q ? "set" : "NULL");
	return q;
}

/* put/get that must succeed at once. */
static void put_now(bqueue_t *q, void *item)
{
	int rc = bqueue_put(q, item, 0);

	ck_assert_msg(rc == 0,
		      "bqueue_put(q, item, 0) returned %s, expected 0: the queue holds %zu items "
		      "(bqueue_size) of %zu",
		      tl_errname(rc), bqueue_size(q), bqueue_capacity(q));
}

static void *get_now(bqueue_t *q)
{
	void *item = SENTINEL;
	int rc = bqueue_get(q, &item, 0);

	ck_assert_msg(rc == 0,
		      "bqueue_get(q, &item, 0) returned %s, expected 0: items were put and not yet "
		      "got (bqueue_size says %zu)",
		      tl_errname(rc), bqueue_size(q));
	return item;
}

static void expect_size(bqueue_t *q, size_t want, const char *when)
{
	size_t n = bqueue_size(q);

	ck_assert_msg(n == want, "bqueue_size returned %zu %s, expected %zu", n, when, want);
}

/* ---- free_item that counts: items are &tokens[i] ---------------------------------------- */

#define NTOKENS 16
static int tokens[NTOKENS];
static pthread_mutex_t freed_mu = PTHREAD_MUTEX_INITIALIZER;
static int freed[NTOKENS]; /* guarded by freed_mu: free_item calls per token */
static int freed_others;   /* guarded by freed_mu: free_item calls on anything else */

static void count_free(void *item)
{
	int *p = item;

	pthread_mutex_lock(&freed_mu);
	if (p >= tokens && p < tokens + NTOKENS)
		freed[p - tokens]++;
	else
		freed_others++;
	pthread_mutex_unlock(&freed_mu);
}

static int freed_times(int i)
{
	int n;

	pthread_mutex_lock(&freed_mu);
	n = freed[i];
	pthread_mutex_unlock(&freed_mu);
	return n;
}

static int freed_total(void)
{
	int n;

	pthread_mutex_lock(&freed_mu);
	n = freed_others;
	for (int i = 0; i < NTOKENS; i++)
		n += freed[i];
	pthread_mutex_unlock(&freed_mu);
	return n;
}

/* ---- the kernel's view of a thread (Linux /proc) ----------------------------------------- */

/* The kernel's view of a thread: false while it is runnable, true while it sleeps (state S or
 * D) or when that cannot be told (no /proc, thread gone). Used only to choose when to act (start a
 * round, take a sample), never as a verdict by itself. */
static bool thread_sleeps(pid_t tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
	if (tid == 0 || (fd = open(path, O_RDONLY)) < 0)
		return true;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the name before it may contain anything */
	return !p || p[1] != ' ' || p[2] == 'S' || p[2] == 'D';
}

struct sched_sample {
	bool ok;            /* false when /proc/self/task/TID/schedstat cannot be read */
	double runnable_ms; /* time on a CPU plus time waiting for one, since the thread started */
	long runs;          /* times it was put on a CPU */
};

static struct sched_sample sched_of(pid_t tid)
{
	struct sched_sample out = { 0 };
	unsigned long long cpu_ns, wait_ns;
	unsigned long runs;
	char path[64];
	FILE *f;

	snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", (int)tid);
	if (tid == 0 || (f = fopen(path, "r")) == NULL)
		return out;
	if (fscanf(f, "%llu %llu %lu", &cpu_ns, &wait_ns, &runs) == 3) {
		out.ok = true;
		out.runnable_ms = (double)(cpu_ns + wait_ns) / 1e6;
		out.runs = (long)runs;
	}
	fclose(f);
	return out;
}

/* ---- one call made by another thread ----------------------------------------------------- */

enum op { OP_PUT, OP_GET, OP_JOIN };

struct call {
	bqueue_t *q;
	enum op op;
	long timeout_ms;
	bool done_after;          /* OP_GET: call bqueue_task_done after a successful get */
	tl_latch_t about_to_call; /* opens just before the call */
	tl_latch_t returned;      /* opens when the call has returned; the fields below are then set */
	void *item;               /* OP_PUT: the item; OP_GET: the result (SENTINEL until written) */
	int rc;
	int done_rc;              /* the bqueue_task_done result, if done_after */
	double elapsed_ms;
	double cpu_ms;            /* the thread's CPU time spent inside the call */
	long wakeups;             /* voluntary context switches inside the call */
	pid_t ktid;               /* the thread's kernel id (set before about_to_call opens) */
	pthread_t tid;
};

static const char *op_name(enum op op)
{
	return op == OP_PUT ? "bqueue_put" : op == OP_GET ? "bqueue_get" : "bqueue_join";
}

static void *call_main(void *arg)
{
	struct call *c = arg;
	struct rusage ru0, ru1;
	int64_t t0, cpu0;

	c->ktid = (pid_t)syscall(SYS_gettid);
	tl_latch_count_down(&c->about_to_call);
	getrusage(RUSAGE_THREAD, &ru0);
	cpu0 = tl_thread_cpu_ns();
	t0 = tl_now_ns();
	switch (c->op) {
	case OP_PUT:
		c->rc = bqueue_put(c->q, c->item, c->timeout_ms);
		break;
	case OP_GET:
		c->rc = bqueue_get(c->q, &c->item, c->timeout_ms);
		break;
	case OP_JOIN:
		c->rc = bqueue_join(c->q, c->timeout_ms);
		break;
	}
	c->elapsed_ms = tl_elapsed_ms(t0);
	c->cpu_ms = (double)(tl_thread_cpu_ns() - cpu0) / 1e6;
	getrusage(RUSAGE_THREAD, &ru1);
	c->wakeups = ru1.ru_nvcsw - ru0.ru_nvcsw;
	if (c->op == OP_GET && c->done_after && c->rc == 0)
		c->done_rc = bqueue_task_done(c->q);
	tl_latch_count_down(&c->returned);
	return NULL;
}

/* Starts a thread that makes the call; returns once it is about to call. */
static void start_call(struct call *c, bqueue_t *q, enum op op, void *item, long timeout_ms)
{
	memset(c, 0, sizeof *c);
	c->q = q;
	c->op = op;
	c->item = op == OP_PUT ? item : SENTINEL;
	c->timeout_ms = timeout_ms;
	c->done_after = op == OP_GET;
	tl_latch_init(&c->about_to_call, 1);
	tl_latch_init(&c->returned, 1);
	ck_assert_msg(pthread_create(&c->tid, NULL, call_main, c) == 0, "pthread_create failed");
	tl_latch_wait(&c->about_to_call);
}

static bool has_returned(struct call *c)
{
	return tl_latch_wait_ms(&c->returned, 0);
}

static bool await_return(struct call *c, long ms)
{
	return tl_latch_wait_ms(&c->returned, ms);
}

/* After the call has returned. */
static void finish_call(struct call *c)
{
	pthread_join(c->tid, NULL);
	tl_latch_destroy(&c->about_to_call);
	tl_latch_destroy(&c->returned);
}

/* Asserts that the call is still blocked after the settle time. */
static void expect_blocked(struct call *c, const char *situation)
{
	tl_sleep_ms(SETTLE_MS);
	ck_assert_msg(!has_returned(c),
		      "%s(q, ..., %ld) %s returned %s after %.0f ms instead of waiting", op_name(c->op),
		      c->timeout_ms, situation, tl_errname(c->rc), c->elapsed_ms);
}

/* ---- state shared by the threads of the stress tests ------------------------------------- */

struct shared {
	pthread_mutex_t mu;
	pthread_cond_t cv;  /* broadcast when finished grows or a failure is recorded */
	char failure[768];  /* guarded by mu: the first failure, "" if none */
	int finished;       /* guarded by mu: threads that have ended */
	long moved;         /* guarded by mu: items got so far */
};

static void shared_init(struct shared *s)
{
	memset(s, 0, sizeof *s);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
}

/* With s->mu held. */
__attribute__((format(printf, 2, 3))) static void fail_locked(struct shared *s, const char *fmt,
							     ...)
{
	va_list ap;

	if (s->failure[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(s->failure, sizeof s->failure, fmt, ap);
		va_end(ap);
	}
	pthread_cond_broadcast(&s->cv);
}

static bool failed(struct shared *s)
{
	bool f;

	pthread_mutex_lock(&s->mu);
	f = s->failure[0] != '\0';
	pthread_mutex_unlock(&s->mu);
	return f;
}

static void thread_finished(struct shared *s)
{
	pthread_mutex_lock(&s->mu);
	s->finished++;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Waits until n threads finished or a failure was recorded, at most ms; true if all finished. */
static bool await_finished(struct shared *s, int n, long ms)
{
	int64_t deadline = tl_now_ns() + (int64_t)ms * 1000000;
	bool all;

	pthread_mutex_lock(&s->mu);
	while (s->finished < n && s->failure[0] == '\0' && tl_now_ns() < deadline) {
		struct timespec ts;

		/* s->cv is on CLOCK_REALTIME: wait in short slices against the monotonic deadline. */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&s->cv, &s->mu, &ts);
	}
	all = s->finished >= n && s->failure[0] == '\0';
	pthread_mutex_unlock(&s->mu);
	return all;
}

/* Fails the test with the recorded failure, if any. */
static void check_shared(struct shared *s)
{
	char msg[sizeof s->failure];

	pthread_mutex_lock(&s->mu);
	memcpy(msg, s->failure, sizeof msg);
	pthread_mutex_unlock(&s->mu);
	ck_assert_msg(msg[0] == '\0', "%s", msg);
}

/* =============================== basics ================================================== */

START_TEST(test_bqueue_create_rejects_capacity_zero)
{
	bqueue_t *q = NULL;
	int rc = bqueue_create(&q, 0, NULL);

	ck_assert_msg(rc == EINVAL,
		      "bqueue_create(&q, 0, NULL) returned %s, expected EINVAL: a queue must be able "
		      "to hold at least one item",
		      tl_errname(rc));
}
END_TEST

START_TEST(test_bqueue_new_queue_is_empty)
{
	bqueue_t *q = make_queue(5, NULL);
	bqueue_t *one = make_queue(1, NULL);

	expect_size(q, 0, "on a new queue");
	ck_assert_msg(bqueue_capacity(q) == 5, "bqueue_capacity returned %zu for a queue created "
		      "with capacity 5", bqueue_capacity(q));
	ck_assert_msg(bqueue_capacity(one) == 1, "bqueue_capacity returned %zu for a queue created "
		      "with capacity 1", bqueue_capacity(one));
	bqueue_destroy(one);
	bqueue_destroy(q);
}
END_TEST

START_TEST(test_bqueue_put_fills_exactly_capacity)
{
	static const size_t caps[] = { 1, 3, 16 };

	for (size_t k = 0; k < sizeof caps / sizeof caps[0]; k++) {
		size_t cap = caps[k];
		bqueue_t *q = make_queue(cap, NULL);
		int rc;

		for (size_t i = 0; i < cap; i++) {
			rc = bqueue_put(q, TOK(i + 1), 0);
			ck_assert_msg(rc == 0,
				      "put #%zu with timeout 0 on a queue of capacity %zu returned %s, "
				      "expected 0: the queue had room",
				      i + 1, cap, tl_errname(rc));
			ck_assert_msg(bqueue_size(q) == i + 1,
				      "bqueue_size returned %zu after %zu puts, expected %zu",
				      bqueue_size(q), i + 1, i + 1);
		}
		rc = bqueue_put(q, TOK(99), 0);
		ck_assert_msg(rc == EAGAIN,
			      "put with timeout 0 on a full queue (%zu items, capacity %zu) returned "
			      "%s, expected EAGAIN",
			      cap, cap, tl_errname(rc));
		expect_size(q, cap, "after a put on a full queue failed");
		bqueue_destroy(q);
	}
}
END_TEST

START_TEST(test_bqueue_get_on_empty_queue_is_eagain)
{
	bqueue_t *q = make_queue(2, NULL);
	void *item = SENTINEL;
	int rc = bqueue_get(q, &item, 0);

	ck_assert_msg(rc == EAGAIN, "bqueue_get(q, &item, 0) on an empty queue returned %s, "
		      "expected EAGAIN", tl_errname(rc));
	ck_assert_msg(item == SENTINEL, "bqueue_get wrote *item although it failed with EAGAIN "
		      "(the header says *item is not written on error)");
	put_now(q, TOK(7));
	item = get_now(q);
	ck_assert_msg(item == TOK(7), "bqueue_get returned item %ld, expected 7 (the only item)",
		      UNTOK(item));
	rc = bqueue_get(q, &item, 0);
	ck_assert_msg(rc == EAGAIN, "bqueue_get(q, &item, 0) on a queue emptied again returned %s, "
		      "expected EAGAIN", tl_errname(rc));
	bqueue_destroy(q);
}
END_TEST

START_TEST(test_bqueue_null_is_a_valid_item)
{
	bqueue_t *q = make_queue(4, NULL);
	void *want[] = { NULL, TOK(1), NULL };
	int rc;

	for (int i = 0; i < 3; i++) {
		rc = bqueue_put(q, want[i], 0);
		ck_assert_msg(rc == 0, "bqueue_put(q, %s, 0) returned %s, expected 0: NULL is a valid "
			      "item", want[i] ? "item" : "NULL", tl_errname(rc));
	}
	expect_size(q, 3, "after putting NULL, an item and NULL");
	for (int i = 0; i < 3; i++) {
		void *item = SENTINEL;

		rc = bqueue_get(q, &item, 0);
		ck_assert_msg(rc == 0, "get #%d returned %s, expected 0: three items (two of them NULL) "
			      "were put", i + 1, tl_errname(rc));
		ck_assert_msg(item == want[i], "get #%d returned %p, expected %p (NULL is an item like "
			      "any other)", i + 1, item, want[i]);
	}
	expect_size(q, 0, "after getting all three items");
	bqueue_destroy(q);
}
END_TEST

START_TEST(test_bqueue_bad_timeout_is_einval)
{
	bqueue_t *q = make_queue(2, NULL);
	void *item = SENTINEL;
	int rc;

	/* Each call would succeed at once with a valid timeout, so a wrong answer cannot hang. */
	rc = bqueue_join(q, -2);
	ck_assert_msg(rc == EINVAL, "bqueue_join(q, -2) returned %s, expected EINVAL (only -1 means "
		      "wait forever)", tl_errname(rc));
	rc = bqueue_put(q, TOK(1), -2);
	ck_assert_msg(rc == EINVAL, "bqueue_put(q, item, -2) returned %s, expected EINVAL (only -1 "
		      "means wait forever)", tl_errname(rc));
	rc = bqueue_put(q, TOK(1), -1000);
	ck_assert_msg(rc == EINVAL, "bqueue_put(q, item, -1000) returned %s, expected EINVAL",
		      tl_errname(rc));
	expect_size(q, 0, "after puts that failed with EINVAL");
	put_now(q, TOK(1));
	rc = bqueue_get(q, &item, -2);
	ck_assert_msg(rc == EINVAL, "bqueue_get(q, &item, -2) returned %s, expected EINVAL",
		      tl_errname(rc));
	expect_size(q, 1, "after a get that failed with EINVAL");
	bqueue_destroy(q);
}
END_TEST

/* =============================== order =================================================== */

START_TEST(test_bqueue_gets_in_fifo_order)
{
	bqueue_t *q = make_queue(8, NULL);

	for (long i = 1; i <= 8; i++)
		put_now(q, TOK(i));
	for (long i = 1; i <= 8; i++) {
		long got = UNTOK(get_now(q));

		ck_assert_msg(got == i,
			      "get #%ld returned item %ld, expected %ld: items 1..8 were put in that "
			      "order and must come out in the same order (FIFO)%s",
			      i, got, i,
			      got == 9 - i ? "; the newest item came out first (LIFO, a stack?)" : "");
	}
	bqueue_destroy(q);
}
END_TEST

START_TEST(test_bqueue_fifo_order_survives_wraparound)
{
	/* A fixed pseudo-random mix of puts and gets on capacity 3, checked against a model. */
	bqueue_t *q = make_queue(3, NULL);
	unsigned seed = 12345;
	long next_put = 1, next_get = 1;
	size_t n = 0;

	for (int step = 1; step <= 300; step++) {
		void *item = SENTINEL;
		int rc;

		seed = seed * 1103515245u + 12345u;
		if ((seed >> 16) & 1) {
			rc = bqueue_put(q, TOK(next_put), 0);
			if (n < 3) {
				ck_assert_msg(rc == 0, "step %d: put on a queue with %zu of 3 items "
					      "returned %s, expected 0", step, n, tl_errname(rc));
				next_put++;
				n++;
			} else {
				ck_assert_msg(rc == EAGAIN, "step %d: put with timeout 0 on a full queue "
					      "returned %s, expected EAGAIN", step, tl_errname(rc));
			}
		} else {
			rc = bqueue_get(q, &item, 0);
			if (n > 0) {
				ck_assert_msg(rc == 0, "step %d: get on a queue with %zu items returned "
					      "%s, expected 0", step, n, tl_errname(rc));
				ck_assert_msg(UNTOK(item) == next_get,
					      "step %d: get returned item %ld, expected %ld: after "
					      "puts and gets that wrap around the end of the storage, "
					      "items must still come out in the order they were put",
					      step, UNTOK(item), next_get);
				next_get++;
				n--;
			} else {
				ck_assert_msg(rc == EAGAIN, "step %d: get with timeout 0 on an empty "
					      "queue returned %s, expected EAGAIN", step, tl_errname(rc));
			}
		}
		ck_assert_msg(bqueue_size(q) == n, "step %d: bqueue_size returned %zu, expected %zu",
			      step, bqueue_size(q), n);
	}
	ck_assert_msg(next_get > 60, "the test's own mix is broken (only %ld gets)", next_get);
	bqueue_destroy(q);
}
END_TEST

struct producer_arg {
	bqueue_t *q;
	long n;
	struct shared *sh;
};

static void *ordered_producer(void *arg)
{
	struct producer_arg *a = arg;

	for (long i = 1; i <= a->n; i++) {
		int rc = bqueue_put(a->q, TOK(i), -1);

		if (rc != 0) {
			pthread_mutex_lock(&a->sh->mu);
			fail_locked(a->sh, "the producer's bqueue_put(q, item %ld, -1) returned %s, "
				    "expected 0", i, tl_errname(rc));
			pthread_mutex_unlock(&a->sh->mu);
			break;
		}
	}
	thread_finished(a->sh);
	return NULL;
}

START_TEST(test_bqueue_fifo_order_between_two_threads)
{
	enum { N = 600 };
	bqueue_t *q = make_queue(4, NULL);
	struct shared sh;
	struct producer_arg a = { q, N, &sh };
	pthread_t tid;

	shared_init(&sh);
	ck_assert(pthread_create(&tid, NULL, ordered_producer, &a) == 0);
	for (long i = 1; i <= N; i++) {
		void *item = SENTINEL;
		int rc = bqueue_get(q, &item, wake_ms());

		check_shared(&sh);
		ck_assert_msg(rc == 0, "get #%ld of %d (timeout %ld ms) returned %s, expected 0: one "
			      "producer thread puts items 1..%d into a queue of capacity 4 while this "
			      "thread gets them", i, N, wake_ms(), tl_errname(rc), N);
		ck_assert_msg(UNTOK(item) == i, "get #%ld returned item %ld, expected %ld: items put "
			      "by one thread must come out in the order it put them (FIFO)", i,
			      UNTOK(item), i);
	}
	pthread_join(tid, NULL);
	check_shared(&sh);
	bqueue_destroy(q);
}
END_TEST

/* =============================== timeouts ================================================ */

static void expect_timed_out(int rc, double ms, const char *call, const char *situation)
{
	double max_ms = TIMEOUT_MS + 1000 * tl_slowdown();

	ck_assert_msg(rc == ETIMEDOUT, "%s with a %d ms timeout %s returned %s after %.0f ms, "
		      "expected ETIMEDOUT", call, TIMEOUT_MS, situation, tl_errname(rc), ms);
	ck_assert_msg(ms >= TIMEOUT_MS - 1, "%s with a %d ms timeout %s returned ETIMEDOUT after "
		      "only %.1f ms: it must wait at least the timeout", call, TIMEOUT_MS, situation,
		      ms);
	ck_assert_msg(ms <= max_ms, "%s with a %d ms timeout %s took %.0f ms to return ETIMEDOUT "
		      "(allowed: %.0f ms): the deadline is too late", call, TIMEOUT_MS, situation,
		      ms, max_ms);
}

START_TEST(test_bqueue_put_times_out_when_full)
{
	bqueue_t *q = make_queue(2, NULL);
	int64_t t0;
	int rc;

	put_now(q, TOK(1));
	put_now(q, TOK(2));
	t0 = tl_now_ns();
	rc = bqueue_put(q, TOK(3), TIMEOUT_MS);
	expect_timed_out(rc, tl_elapsed_ms(t0), "bqueue_put", "on a full queue");
	expect_size(q, 2, "after a put timed out on a full queue of 2");
	ck_assert_msg(UNTOK(get_now(q)) == 1 && UNTOK(get_now(q)) == 2,
		      "after a put timed out, the queue no longer holds the two items put before "
		      "in order");
	bqueue_destroy(q);
}
END_TEST

START_TEST(test_bqueue_get_times_out_when_empty)
{
	bqueue_t *q = make_queue(2, NULL);
	void *item = SENTINEL;
	int64_t t0 = tl_now_ns();
	int rc = bqueue_get(q, &item, TIMEOUT_MS);

	expect_timed_out(rc, tl_elapsed_ms(t0), "bqueue_get", "on an empty queue");
	ck_assert_msg(item == SENTINEL, "bqueue_get wrote *item although it failed with ETIMEDOUT "
		      "(the header says *item is not written on error)");
	expect_size(q, 0, "after a get timed out on an empty queue");
	put_now(q, TOK(5));
	ck_assert_msg(UNTOK(get_now(q)) == 5, "after a get timed out, put then get did not return "
		      "the item put");
	bqueue_destroy(q);
}
END_TEST

START_TEST(test_bqueue_join_times_out_while_work_is_outstanding)
{
	bqueue_t *q = make_queue(2, NULL);
	int64_t t0;
	int rc;

	put_now(q, TOK(1));
	t0 = tl_now_ns();
	rc = bqueue_join(q, TIMEOUT_MS);
	expect_timed_out(rc, tl_elapsed_ms(t0), "bqueue_join", "with one item put and not done");
	rc = bqueue_join(q, 0);
	ck_assert_msg(rc == EAGAIN, "bqueue_join(q, 0) with one item put and not done returned %s, "
		      "expected EAGAIN", tl_errname(rc));
	get_now(q);
	rc = bqueue_join(q, 0);
	ck_assert_msg(rc == EAGAIN, "bqueue_join(q, 0) with one item got but not marked done "
		      "returned %s, expected EAGAIN: join waits for task_done, not for get",
		      tl_errname(rc));
	rc = bqueue_task_done(q);
	ck_assert_msg(rc == 0, "bqueue_task_done after one get returned %s, expected 0",
		      tl_errname(rc));
	rc = bqueue_join(q, 0);
	ck_assert_msg(rc == 0, "bqueue_join(q, 0) after the only item was marked done returned "
		      "%s, expected 0", tl_errname(rc));
	bqueue_destroy(q);
}
END_TEST

/* =============================== wakeups ================================================= */

static void blocked_get_is_woken_by_put(long timeout_ms)
{
	bqueue_t *q = make_queue(2, NULL);
	struct call c;
	long ms = wake_ms();
	int rc;

	start_call(&c, q, OP_GET, NULL, timeout_ms);
	expect_blocked(&c, "on an empty queue");
	put_now(q, TOK(42));
	ck_assert_msg(await_return(&c, ms),
		      "a bqueue_get(q, &item, %ld) blocked on an empty queue did not return within "
		      "%ld ms after another thread put an item: the put must wake a waiting getter "
		      "(signal the condition variable it waits on)%s",
		      timeout_ms, ms, timeout_ms > 0 ? "; a timed wait must wake up when signalled, "
		      "not only at its deadline" : "");
	ck_assert_msg(c.rc == 0 && c.item == TOK(42),
		      "the woken bqueue_get returned %s with item %ld, expected 0 with item 42",
		      tl_errname(c.rc), UNTOK(c.item));
	ck_assert_msg(c.done_rc == 0, "bqueue_task_done after the woken get returned %s, expected 0",
		      tl_errname(c.done_rc));
	finish_call(&c);
	expect_size(q, 0, "after the woken getter took the only item");
	rc = bqueue_get(q, &c.item, 0);
	ck_assert_msg(rc == EAGAIN, "get on the emptied queue returned %s, expected EAGAIN",
		      tl_errname(rc));
	bqueue_destroy(q);
}

static void blocked_put_is_woken_by_get(long timeout_ms)
{
	bqueue_t *q = make_queue(1, NULL);
	struct call c;
	long ms = wake_ms();
	void *item;

	put_now(q, TOK(1));
	start_call(&c, q, OP_PUT, TOK(2), timeout_ms);
	expect_blocked(&c, "on a full queue");
	item = get_now(q);
	ck_assert_msg(item == TOK(1), "get on a full queue of capacity 1 returned item %ld, "
		      "expected 1 (the item put before the blocked put)", UNTOK(item));
	ck_assert_msg(await_return(&c, ms),
		      "a bqueue_put(q, item, %ld) blocked on a full queue did not return within "
		      "%ld ms after another thread got an item: the get must wake a waiting putter%s",
		      timeout_ms, ms, timeout_ms > 0 ? "; a timed wait must wake up when signalled, "
		      "not only at its deadline" : "");
	ck_assert_msg(c.rc == 0, "the woken bqueue_put returned %s, expected 0", tl_errname(c.rc));
	finish_call(&c);
	item = get_now(q);
	ck_assert_msg(item == TOK(2), "get returned item %ld, expected 2 (the woken put's item)",
		      UNTOK(item));
	bqueue_destroy(q);
}

START_TEST(test_bqueue_blocked_get_returns_when_item_is_put)
{
	blocked_get_is_woken_by_put(-1);
}
END_TEST

START_TEST(test_bqueue_blocked_put_returns_when_room_is_made)
{
	blocked_put_is_woken_by_get(-1);
}
END_TEST

START_TEST(test_bqueue_timed_get_returns_early_when_item_is_put)
{
	blocked_get_is_woken_by_put(LONG_WAIT_MS);
}
END_TEST

START_TEST(test_bqueue_timed_put_returns_early_when_room_is_made)
{
	blocked_put_is_woken_by_get(LONG_WAIT_MS);
}
END_TEST

/* Several threads blocked on the same side; the other side makes room for (or puts) one item per
 * thread in quick succession: each of them must be woken, not only the first (a queue that
 * signals only when it goes from empty to non-empty, or from full to not full, wakes one). */
static void every_waiter_is_woken(enum op op)
{
	enum { N = 3 };
	bqueue_t *q = make_queue(op == OP_GET ? N + 1 : N, NULL);
	struct call c[N];
	long ms = wake_ms();
	int woke = 0;
	int64_t t0;

	if (op == OP_PUT)
		for (long i = 1; i <= N; i++)
			put_now(q, TOK(i));
	for (int i = 0; i < N; i++)
		start_call(&c[i], q, op, TOK(10 + i), -1);
	tl_sleep_ms(SETTLE_MS);
	for (int i = 0; i < N; i++)
		ck_assert_msg(!has_returned(&c[i]), "%s(q, ..., -1) on a%s queue returned %s instead "
			      "of waiting", op_name(op), op == OP_GET ? "n empty" : " full",
			      tl_errname(c[i].rc));
	for (long i = 1; i <= N; i++)
		if (op == OP_GET)
			put_now(q, TOK(i));
		else
			get_now(q);
	t0 = tl_now_ns();
	for (int i = 0; i < N; i++) {
		long left = ms - (long)tl_elapsed_ms(t0);

		woke += await_return(&c[i], left > 0 ? left : 0);
	}
	ck_assert_msg(woke == N,
		      "%d threads were blocked in %s on a%s queue and %s %d items one after the "
		      "other; only %d of them returned within %ld ms. Every %s must wake a waiting "
		      "%s, not only the one that %s", N, op_name(op),
		      op == OP_GET ? "n empty" : " full",
		      op == OP_GET ? "this thread put" : "this thread got", N, woke, ms,
		      op == OP_GET ? "put" : "get", op == OP_GET ? "getter" : "putter",
		      op == OP_GET ? "makes the queue non-empty" : "makes a full queue non-full");
	for (int i = 0; i < N; i++) {
		ck_assert_msg(c[i].rc == 0, "a woken %s returned %s, expected 0", op_name(op),
			      tl_errname(c[i].rc));
		finish_call(&c[i]);
	}
	bqueue_destroy(q);
}

START_TEST(test_bqueue_every_put_wakes_a_blocked_getter)
{
	every_waiter_is_woken(OP_GET);
}
END_TEST

START_TEST(test_bqueue_every_get_wakes_a_blocked_putter)
{
	every_waiter_is_woken(OP_PUT);
}
END_TEST

/* =============================== recheck ================================================= */
/* A thread woken in put or get must re-check the queue: a thread that never slept may have
 * taken the item (or the slot) between the wakeup and the moment the woken thread got the lock.
 * The main thread provokes exactly that, hundreds of times: on a capacity-1 queue it puts an
 * item (waking a sleeping getter) and at once tries to get it back itself; or it gets an item
 * from a full queue (waking a sleeping putter) and at once puts one of its own. Before each round
 * it waits (yielding the CPU, at most a few ms) until the kernel shows every other thread asleep,
 * so that each round has a sleeping thread to wake and the race really happens (measured under
 * load: a getter without the `while` is caught about 50 times in 300 rounds; without the wait,
 * the main thread outruns the woken threads and the race happens only once or twice). These
 * tests do
 * not use shutdown (it has tests of its own): the threads are stopped with stop items / a flag. */

enum { RECHECK_ROUNDS = 300, RECHECK_THREADS = 3 };

/* Fails the test if the rounds take far longer than they should (a queue whose waiters spin). */
static void check_round_budget(int64_t t0, long round)
{
	long budget = (long)(3000 * tl_slowdown());

	ck_assert_msg(tl_elapsed_ms(t0) < budget, "%ld rounds of put and get on a capacity-1 queue "
		      "took more than %ld ms (they take a few ms): the queue is extremely slow while "
		      "other threads wait in it. Do waiting threads spin (busy-wait) on the lock?",
		      round, budget);
}
#define STOP_ITEM TOK(-1L) /* tells a recheck getter to stop */

struct recheck {
	bqueue_t *q;
	struct shared sh;
	tl_latch_t started;
	long ntokens;             /* items are 1..ntokens */
	long putter_items;        /* recheck_putter draws items 1..putter_items */
	long drawn;               /* guarded by sh.mu: items drawn by the putters */
	bool stop;                /* guarded by sh.mu: putters stop after their current put */
	unsigned char *got;       /* guarded by sh.mu: times each item was got */
	unsigned char *put_ok;    /* guarded by sh.mu: 1 when the item is (being) put */
	pid_t tids[RECHECK_THREADS]; /* guarded by sh.mu: kernel thread ids, 0 until known */
};

static void register_thread(struct recheck *r)
{
	pthread_mutex_lock(&r->sh.mu);
	for (int i = 0; i < RECHECK_THREADS; i++)
		if (r->tids[i] == 0) {
			r->tids[i] = (pid_t)syscall(SYS_gettid);
			break;
		}
	pthread_mutex_unlock(&r->sh.mu);
}

/* Waits (yielding, at most 2 ms) until every other thread of the test sleeps. */
static void await_others_asleep(struct recheck *r)
{
	int64_t deadline = tl_now_ns() + 2000000;
	pid_t tids[RECHECK_THREADS];

	pthread_mutex_lock(&r->sh.mu);
	memcpy(tids, r->tids, sizeof tids);
	pthread_mutex_unlock(&r->sh.mu);
	for (int i = 0; i < RECHECK_THREADS; i++)
		while (!thread_sleeps(tids[i]) && tl_now_ns() < deadline)
			sched_yield();
}

static void recheck_init(struct recheck *r, bqueue_t *q, long ntokens)
{
	memset(r, 0, sizeof *r);
	r->q = q;
	shared_init(&r->sh);
	tl_latch_init(&r->started, RECHECK_THREADS);
	r->ntokens = ntokens;
	r->got = calloc((size_t)ntokens + 1, 1);
	r->put_ok = calloc((size_t)ntokens + 1, 1);
	ck_assert(r->got && r->put_ok);
}

static void recheck_fail(struct recheck *r, const char *msg, int rc)
{
	pthread_mutex_lock(&r->sh.mu);
	fail_locked(&r->sh, msg, tl_errname(rc));
	pthread_mutex_unlock(&r->sh.mu);
}

/* Records that who got item; false (and a failure) if the queue did not hold it. */
static bool record_got(struct recheck *r, void *item, const char *who, long round)
{
	long v = UNTOK(item);
	bool ok = false;

	pthread_mutex_lock(&r->sh.mu);
	if (v < 1 || v > r->ntokens || !r->put_ok[v])
		fail_locked(&r->sh, "round %ld: %s got %p, which was never put: a woken thread took "
			    "an item from an empty queue. Another thread may have emptied the queue "
			    "between the wakeup and the moment the woken one got the lock: wait in "
			    "a `while (queue is empty)` loop, not an `if`", round, who, item);
	else if (r->got[v]++ > 0)
		fail_locked(&r->sh, "round %ld: %s got item %ld a second time: either a woken getter "
			    "took an item from an empty queue (a stale slot), or a woken putter "
			    "wrote into a full queue. Another thread may have taken the item (or "
			    "the slot) between the wakeup and the moment the woken one got the "
			    "lock: wait in a `while` loop that re-checks the condition, not an `if`",
			    round, who, v);
	else
		ok = true;
	pthread_mutex_unlock(&r->sh.mu);
	return ok;
}

static void check_size_bound(struct recheck *r, const char *when)
{
	size_t n = bqueue_size(r->q);

	if (n > 1) {
		pthread_mutex_lock(&r->sh.mu);
		fail_locked(&r->sh, "bqueue_size returned %zu %s on a queue of capacity 1: a woken "
			    "putter added an item to a full queue. Another thread may have filled "
			    "the slot between the wakeup and the moment the woken one got the "
			    "lock: wait in a `while (queue is full)` loop, not an `if`", n, when);
		pthread_mutex_unlock(&r->sh.mu);
	}
}

static void *recheck_getter(void *arg)
{
	struct recheck *r = arg;

	register_thread(r);
	tl_latch_count_down(&r->started);
	while (!failed(&r->sh)) {
		void *item = SENTINEL;
		int rc = bqueue_get(r->q, &item, -1);

		if (rc != 0) {
			recheck_fail(r, rc == ESHUTDOWN
				     ? "a getter's bqueue_get(q, &item, -1) returned %s, but nobody "
				       "shut the queue down: a woken getter found the queue empty "
				       "(another thread took the item first) and gave up instead of "
				       "waiting again; wait in a `while (queue is empty)` loop"
				     : "a getter's bqueue_get(q, &item, -1) returned %s, expected 0", rc);
			break;
		}
		if (item == STOP_ITEM) {
			bqueue_task_done(r->q);
			break;
		}
		if (!record_got(r, item, "a getter woken by a put", 0))
			break;
		bqueue_task_done(r->q);
	}
	thread_finished(&r->sh);
	return NULL;
}

START_TEST(test_bqueue_woken_getter_rechecks_before_taking)
{
	bqueue_t *q = make_queue(1, NULL);
	struct recheck r;
	pthread_t tids[RECHECK_THREADS];
	long ms = wake_ms();
	long mine = 0;

	int64_t t0;

	recheck_init(&r, q, RECHECK_ROUNDS);
	for (int i = 0; i < RECHECK_THREADS; i++)
		ck_assert(pthread_create(&tids[i], NULL, recheck_getter, &r) == 0);
	tl_latch_wait(&r.started);
	await_others_asleep(&r); /* the getters fall asleep on the empty queue */
	t0 = tl_now_ns();
	for (long i = 1; i <= RECHECK_ROUNDS && !failed(&r.sh); i++) {
		void *item = SENTINEL;
		int rc;

		check_round_budget(t0, i - 1);
		pthread_mutex_lock(&r.sh.mu);
		r.put_ok[i] = 1;
		pthread_mutex_unlock(&r.sh.mu);
		rc = bqueue_put(q, TOK(i), 0);
		if (rc != 0) {
			check_shared(&r.sh); /* a getter's report explains it better */
			ck_abort_msg("round %ld: bqueue_put(q, item, 0) on a queue of capacity 1 that "
				     "should be empty returned %s (bqueue_size says %zu); every item "
				     "put before was got", i, tl_errname(rc), bqueue_size(q));
		}
		check_size_bound(&r, "right after a put");
		/* Race the getter that the put woke: a correct queue hands the item to one of us. */
		rc = bqueue_get(q, &item, 0);
		if (rc == 0) {
			mine++;
			if (!record_got(&r, item, "the main thread", i))
				break;
			bqueue_task_done(q);
		} else if (rc != EAGAIN) {
			check_shared(&r.sh);
			ck_abort_msg("round %ld: bqueue_get(q, &item, 0) returned %s, expected 0 or "
				     "EAGAIN", i, tl_errname(rc));
		}
		await_others_asleep(&r);
	}
	check_shared(&r.sh);
	/* One stop item per getter (each getter stops at the first it gets). */
	for (int i = 0; i < RECHECK_THREADS; i++) {
		int rc = bqueue_put(q, STOP_ITEM, ms);

		check_shared(&r.sh);
		ck_assert_msg(rc == 0, "putting a stop item for the getters returned %s (timeout %ld "
			      "ms), expected 0", tl_errname(rc), ms);
	}
	if (!await_finished(&r.sh, RECHECK_THREADS, ms)) {
		check_shared(&r.sh);
		ck_abort_msg("the getters did not all return within %ld ms after one stop item per "
			     "getter was put", ms);
	}
	tl_join_all(tids, RECHECK_THREADS);
	check_shared(&r.sh);
	pthread_mutex_lock(&r.sh.mu);
	for (long v = 1; v <= RECHECK_ROUNDS; v++)
		if (r.got[v] != 1) {
			int n = r.got[v];

			pthread_mutex_unlock(&r.sh.mu);
			ck_abort_msg("item %ld of %d came out %d times, expected once (the main thread "
				     "got %ld items)", v, RECHECK_ROUNDS, n, mine);
		}
	pthread_mutex_unlock(&r.sh.mu);
	bqueue_destroy(q);
}
END_TEST

static void *recheck_putter(void *arg)
{
	struct recheck *r = arg;

	register_thread(r);
	tl_latch_count_down(&r->started);
	while (!failed(&r->sh)) {
		long v;
		int rc;

		/* Draw the next unused item number; mark it before the put (the main thread may get
		 * it at once) and undo that if the put fails. */
		pthread_mutex_lock(&r->sh.mu);
		if (r->stop || r->drawn >= r->putter_items) {
			pthread_mutex_unlock(&r->sh.mu);
			break;
		}
		v = ++r->drawn;
		r->put_ok[v] = 1;
		pthread_mutex_unlock(&r->sh.mu);
		rc = bqueue_put(r->q, TOK(v), -1);
		if (rc != 0) {
			pthread_mutex_lock(&r->sh.mu);
			r->put_ok[v] = 0;
			pthread_mutex_unlock(&r->sh.mu);
			recheck_fail(r, rc == ESHUTDOWN
				     ? "a putter's bqueue_put(q, item, -1) returned %s, but nobody "
				       "shut the queue down: a woken putter found the queue full "
				       "(another thread filled it first) and gave up instead of "
				       "waiting again; wait in a `while (queue is full)` loop"
				     : "a putter's bqueue_put(q, item, -1) returned %s, expected 0", rc);
			break;
		}
		check_size_bound(r, "after a woken put returned");
	}
	thread_finished(&r->sh);
	return NULL;
}

START_TEST(test_bqueue_woken_putter_rechecks_before_adding)
{
	/* Items 1..P come from the putters, at most one per round plus one per putter at the end;
	 * the main thread's own items are P+1..P+N, and P+N+1 fills the queue first. The queue is
	 * full at the top of every round. */
	enum { N = RECHECK_ROUNDS, P = RECHECK_ROUNDS + 2 * RECHECK_THREADS, ALL = P + N + 1 };
	bqueue_t *q = make_queue(1, NULL);
	struct recheck r;
	pthread_t tids[RECHECK_THREADS];
	long ms = wake_ms();
	int64_t t0;
	void *item;
	int rc;

	recheck_init(&r, q, ALL);
	r.putter_items = P;
	r.put_ok[ALL] = 1; /* no thread started yet */
	put_now(q, TOK(ALL));
	for (int i = 0; i < RECHECK_THREADS; i++)
		ck_assert(pthread_create(&tids[i], NULL, recheck_putter, &r) == 0);
	tl_latch_wait(&r.started);
	await_others_asleep(&r); /* the putters fall asleep on the full queue */
	t0 = tl_now_ns();
	for (long i = 1; i <= N && !failed(&r.sh); i++) {
		check_round_budget(t0, i - 1);
		item = SENTINEL;
		rc = bqueue_get(q, &item, 0);
		if (rc != 0) {
			check_shared(&r.sh);
			ck_abort_msg("round %ld: bqueue_get(q, &item, 0) on a queue that should be "
				     "full (capacity 1) returned %s (bqueue_size says %zu)", i,
				     tl_errname(rc), bqueue_size(q));
		}
		if (!record_got(&r, item, "the main thread", i))
			break;
		bqueue_task_done(q);
		/* Race the putter that the get woke: a correct queue gives the slot to one of us. */
		pthread_mutex_lock(&r.sh.mu);
		r.put_ok[P + i] = 1;
		pthread_mutex_unlock(&r.sh.mu);
		rc = bqueue_put(q, TOK(P + i), 0);
		if (rc != 0) {
			pthread_mutex_lock(&r.sh.mu);
			r.put_ok[P + i] = 0;
			pthread_mutex_unlock(&r.sh.mu);
			check_shared(&r.sh);
			ck_assert_msg(rc == EAGAIN, "round %ld: bqueue_put(q, item, 0) returned %s, "
				      "expected 0 or EAGAIN", i, tl_errname(rc));
		}
		check_size_bound(&r, "after a put");
		await_others_asleep(&r);
	}
	check_shared(&r.sh);
	/* Stop the putters: each stops after its current put, for which the main thread makes
	 * room; then drain. Every item marked put must come out exactly once. */
	pthread_mutex_lock(&r.sh.mu);
	r.stop = true;
	pthread_mutex_unlock(&r.sh.mu);
	for (int64_t t_drain = tl_now_ns();;) {
		bool all;

		pthread_mutex_lock(&r.sh.mu);
		all = r.sh.finished == RECHECK_THREADS;
		pthread_mutex_unlock(&r.sh.mu);
		item = SENTINEL;
		rc = bqueue_get(q, &item, all ? 0 : 10);
		check_shared(&r.sh);
		if (rc == 0) {
			if (!record_got(&r, item, "the main thread", N + 1))
				check_shared(&r.sh);
			bqueue_task_done(q);
		} else if (all && rc == EAGAIN) {
			break;
		} else {
			ck_assert_msg(!all && rc == ETIMEDOUT, "draining the queue while the putters "
				      "stop: bqueue_get returned %s, expected 0 or %s", tl_errname(rc),
				      all ? "EAGAIN" : "ETIMEDOUT");
			ck_assert_msg(tl_elapsed_ms(t_drain) < ms, "the putters did not stop within %ld ms "
				      "while this thread kept getting items", ms);
		}
	}
	tl_join_all(tids, RECHECK_THREADS);
	check_shared(&r.sh);
	for (long v = 1; v <= ALL; v++)
		ck_assert_msg(r.put_ok[v] == r.got[v],
			      "item %ld was put (the put returned 0) but came out %d times: a woken "
			      "putter probably overwrote an item in a full queue; wait in a "
			      "`while (queue is full)` loop, not an `if`", v, r.got[v]);
	bqueue_destroy(q);
}
END_TEST

/* =============================== many ==================================================== */

struct pc_run {
	bqueue_t *q;
	size_t capacity;
	int producers, consumers;
	long per_producer, total;
	struct shared sh;
	unsigned char *seen; /* guarded by sh.mu: times each item 1..total was got */
	tl_latch_t go;
};

struct pc_thread {
	struct pc_run *run;
	int index;
};

static void pc_fail_op(struct pc_run *r, const char *who, const char *call, int rc)
{
	pthread_mutex_lock(&r->sh.mu);
	if (rc == ETIMEDOUT)
		fail_locked(&r->sh, "no progress for %ld ms: %ld items of %ld moved, then a %s "
			    "waited that long in %s (capacity %zu, %d producers, %d consumers). A "
			    "wakeup was probably lost: a put must wake a waiting getter and a get a "
			    "waiting putter; with one condition variable for both sides, "
			    "pthread_cond_signal can wake a thread of the wrong kind (use two "
			    "condition variables, or broadcast)", wake_ms(), r->sh.moved, r->total,
			    who, call, r->capacity, r->producers, r->consumers);
	else if (rc == ESHUTDOWN)
		fail_locked(&r->sh, "a %s's %s returned ESHUTDOWN, but nobody shut the queue down "
			    "(%ld of %ld items moved): a woken thread probably found the queue %s "
			    "again (another thread got there first) and gave up instead of waiting "
			    "again; wait in a `while` loop that re-checks the condition", who, call,
			    r->sh.moved, r->total, strcmp(who, "consumer") == 0 ? "empty" : "full");
	else
		fail_locked(&r->sh, "a %s's %s returned %s, expected 0 (%ld of %ld items moved)",
			    who, call, tl_errname(rc), r->sh.moved, r->total);
	pthread_mutex_unlock(&r->sh.mu);
}

static void *pc_producer(void *arg)
{
	struct pc_thread *t = arg;
	struct pc_run *r = t->run;

	tl_latch_wait(&r->go);
	for (long s = 0; s < r->per_producer && !failed(&r->sh); s++) {
		int rc = bqueue_put(r->q, TOK(1 + t->index * r->per_producer + s), wake_ms());

		if (rc != 0) {
			pc_fail_op(r, "producer", "bqueue_put", rc);
			break;
		}
	}
	thread_finished(&r->sh);
	return NULL;
}

static void *pc_consumer(void *arg)
{
	struct pc_thread *t = arg;
	struct pc_run *r = t->run;
	long quota = r->total / r->consumers;
	long last[16];

	for (int p = 0; p < 16; p++)
		last[p] = -1;
	tl_latch_wait(&r->go);
	for (long k = 0; k < quota && !failed(&r->sh); k++) {
		void *item = SENTINEL;
		int rc = bqueue_get(r->q, &item, wake_ms());
		long v = UNTOK(item), p, s;
		size_t n;

		if (rc != 0) {
			pc_fail_op(r, "consumer", "bqueue_get", rc);
			break;
		}
		n = bqueue_size(r->q);
		pthread_mutex_lock(&r->sh.mu);
		if (v < 1 || v > r->total) {
			fail_locked(&r->sh, "a consumer got %p, which was never put: a woken thread "
				    "took an item from an empty queue (`if` instead of `while` around "
				    "the wait?)", item);
		} else if (r->seen[v]++ > 0) {
			fail_locked(&r->sh, "item %ld was got twice: a woken thread took an item from "
				    "an empty queue (`if` instead of `while` around the wait?), or a "
				    "woken putter overwrote a slot", v);
		} else if (n > r->capacity) {
			fail_locked(&r->sh, "bqueue_size returned %zu on a queue of capacity %zu: a "
				    "woken putter added to a full queue (`if` instead of `while`?)",
				    n, r->capacity);
		} else {
			p = (v - 1) / r->per_producer;
			s = (v - 1) % r->per_producer;
			if (s <= last[p])
				fail_locked(&r->sh, "a consumer got item #%ld of producer %ld after item "
					    "#%ld of the same producer: items must leave in the order "
					    "they were put (FIFO)", s, p, last[p]);
			last[p] = s;
			r->sh.moved++;
		}
		pthread_mutex_unlock(&r->sh.mu);
		/* Items are marked done in pairs: a consumer holds one item while it waits for the
		 * next, so the count of unfinished items does not fall to 0 whenever the queue runs
		 * empty (a queue that shares one condition variable between join and the two sides
		 * would otherwise be rescued from a lost wakeup by task_done's broadcast). */
		for (int d = 0; d < 2 && k % 2 == 1; d++) {
			rc = bqueue_task_done(r->q);
			if (rc != 0) {
				pc_fail_op(r, "consumer", "bqueue_task_done", rc);
				k = quota;
				break;
			}
		}
	}
	thread_finished(&r->sh);
	return NULL;
}

static void run_producers_consumers(size_t capacity, int producers, int consumers, long total)
{
	struct pc_run r = { 0 };
	struct pc_thread ts[16];
	pthread_t tids[16];
	int n = producers + consumers;
	long budget = (long)(8000 * tl_slowdown());
	int rc;

	ck_assert(n <= 16 && producers <= 16 && total % producers == 0 &&
		  total % (2 * consumers) == 0);
	r.q = make_queue(capacity, NULL);
	r.capacity = capacity;
	r.producers = producers;
	r.consumers = consumers;
	r.total = total;
	r.per_producer = total / producers;
	shared_init(&r.sh);
	r.seen = calloc((size_t)total + 1, 1);
	ck_assert(r.seen);
	tl_latch_init(&r.go, 1);
	for (int i = 0; i < n; i++) {
		ts[i].run = &r;
		ts[i].index = i < producers ? i : i - producers;
		ck_assert(pthread_create(&tids[i], NULL, i < producers ? pc_producer : pc_consumer,
					 &ts[i]) == 0);
	}
	tl_latch_count_down(&r.go);
	if (!await_finished(&r.sh, n, budget)) {
		long moved;

		check_shared(&r.sh);
		pthread_mutex_lock(&r.sh.mu);
		moved = r.sh.moved;
		pthread_mutex_unlock(&r.sh.mu);
		ck_abort_msg("%d producers and %d consumers did not finish in %ld ms (%ld of %ld items "
			     "moved) although every call they make has a timeout of %ld ms",
			     producers, consumers, budget, moved, total, wake_ms());
	}
	tl_join_all(tids, (size_t)n);
	check_shared(&r.sh);
	ck_assert_msg(r.sh.moved == total, "%ld of %ld items were got", r.sh.moved, total);
	expect_size(r.q, 0, "after every item was got");
	rc = bqueue_join(r.q, 0);
	ck_assert_msg(rc == 0, "bqueue_join(q, 0) returned %s after every item was got and marked "
		      "done, expected 0", tl_errname(rc));
	bqueue_destroy(r.q);
	free(r.seen);
}

START_TEST(test_bqueue_many_producers_many_consumers_move_every_item_once)
{
	run_producers_consumers(4, 4, 4, 2000);
}
END_TEST

START_TEST(test_bqueue_capacity_one_many_threads_lose_no_wakeup)
{
	run_producers_consumers(1, 3, 3, 1500);
}
END_TEST

/* =============================== join ==================================================== */

START_TEST(test_bqueue_join_returns_at_once_when_nothing_is_outstanding)
{
	bqueue_t *q = make_queue(2, NULL);
	int64_t t0;
	int rc;

	rc = bqueue_join(q, 0);
	ck_assert_msg(rc == 0, "bqueue_join(q, 0) on a new queue returned %s, expected 0",
		      tl_errname(rc));
	t0 = tl_now_ns();
	rc = bqueue_join(q, LONG_WAIT_MS);
	ck_assert_msg(rc == 0 && tl_elapsed_ms(t0) < 500 * tl_slowdown(),
		      "bqueue_join(q, %d) on a new queue returned %s after %.0f ms, expected 0 at "
		      "once", LONG_WAIT_MS, tl_errname(rc), tl_elapsed_ms(t0));
	put_now(q, TOK(1));
	get_now(q);
	rc = bqueue_task_done(q);
	ck_assert_msg(rc == 0, "bqueue_task_done returned %s, expected 0", tl_errname(rc));
	rc = bqueue_join(q, 0);
	ck_assert_msg(rc == 0, "bqueue_join(q, 0) after put, get and task_done returned %s, "
		      "expected 0", tl_errname(rc));
	bqueue_destroy(q);
}
END_TEST

START_TEST(test_bqueue_join_waits_for_every_task_done)
{
	bqueue_t *q = make_queue(4, NULL);
	struct call c;
	long ms = wake_ms();
	int rc;

	for (long i = 1; i <= 3; i++)
		put_now(q, TOK(i));
	start_call(&c, q, OP_JOIN, NULL, -1);
	expect_blocked(&c, "with 3 items put and none got");
	for (int i = 0; i < 3; i++)
		get_now(q);
	for (int i = 0; i < 2; i++) {
		rc = bqueue_task_done(q);
		ck_assert_msg(rc == 0, "bqueue_task_done #%d returned %s, expected 0", i + 1,
			      tl_errname(rc));
	}
	expect_blocked(&c, "with 3 items got and only 2 of them marked done");
	rc = bqueue_task_done(q);
	ck_assert_msg(rc == 0, "bqueue_task_done #3 returned %s, expected 0", tl_errname(rc));
	ck_assert_msg(await_return(&c, ms), "bqueue_join(q, -1) did not return within %ld ms after "
		      "the last item was marked done: task_done must wake the joiners when nothing "
		      "is left unfinished", ms);
	ck_assert_msg(c.rc == 0, "bqueue_join returned %s, expected 0", tl_errname(c.rc));
	finish_call(&c);
	bqueue_destroy(q);
}
END_TEST

START_TEST(test_bqueue_extra_task_done_is_einval)
{
	bqueue_t *q = make_queue(4, NULL);
	int rc;

	rc = bqueue_task_done(q);
	ck_assert_msg(rc == EINVAL, "bqueue_task_done on a new queue returned %s, expected EINVAL "
		      "(no item was got)", tl_errname(rc));
	put_now(q, TOK(1));
	put_now(q, TOK(2));
	get_now(q);
	get_now(q);
	for (int i = 0; i < 2; i++) {
		rc = bqueue_task_done(q);
		ck_assert_msg(rc == 0, "bqueue_task_done #%d after 2 gets returned %s, expected 0",
			      i + 1, tl_errname(rc));
	}
	rc = bqueue_task_done(q);
	ck_assert_msg(rc == EINVAL, "a third bqueue_task_done after 2 gets returned %s, expected "
		      "EINVAL", tl_errname(rc));
	rc = bqueue_join(q, 0);
	ck_assert_msg(rc == 0, "bqueue_join(q, 0) returned %s after 2 gets, 2 task_done and an "
		      "extra one, expected 0", tl_errname(rc));
	put_now(q, TOK(3));
	rc = bqueue_join(q, 0);
	ck_assert_msg(rc == EAGAIN, "bqueue_join(q, 0) with one new item put returned %s, expected "
		      "EAGAIN: did the extra task_done change the count?", tl_errname(rc));
	rc = bqueue_task_done(q);
	ck_assert_msg(rc == EINVAL, "bqueue_task_done with one item put but not yet got returned "
		      "%s, expected EINVAL: only items that were got can be marked done",
		      tl_errname(rc));
	bqueue_destroy(q);
}
END_TEST

/* =============================== shutdown ================================================ */

START_TEST(test_bqueue_put_after_shutdown_is_eshutdown)
{
	bqueue_t *q = make_queue(2, NULL);
	bqueue_t *full = make_queue(1, NULL);
	long limit = (long)(500 * tl_slowdown());
	int64_t t0;
	int rc;

	put_now(q, TOK(1));
	bqueue_shutdown(q, false);
	rc = bqueue_put(q, TOK(2), 0);
	ck_assert_msg(rc == ESHUTDOWN, "bqueue_put(q, item, 0) after bqueue_shutdown returned %s, "
		      "expected ESHUTDOWN", tl_errname(rc));
	t0 = tl_now_ns();
	rc = bqueue_put(q, TOK(2), LONG_WAIT_MS);
	ck_assert_msg(rc == ESHUTDOWN && tl_elapsed_ms(t0) < limit,
		      "bqueue_put(q, item, %d) after bqueue_shutdown returned %s after %.0f ms, "
		      "expected ESHUTDOWN at once", LONG_WAIT_MS, tl_errname(rc), tl_elapsed_ms(t0));
	expect_size(q, 1, "after puts failed on a shut-down queue that held 1 item");

	put_now(full, TOK(1));
	bqueue_shutdown(full, false);
	rc = bqueue_put(full, TOK(2), 0);
	ck_assert_msg(rc == ESHUTDOWN, "bqueue_put(q, item, 0) on a full, shut-down queue returned "
		      "%s, expected ESHUTDOWN (it takes precedence over EAGAIN)", tl_errname(rc));
	t0 = tl_now_ns();
	rc = bqueue_put(full, TOK(2), LONG_WAIT_MS);
	ck_assert_msg(rc == ESHUTDOWN && tl_elapsed_ms(t0) < limit,
		      "bqueue_put(q, item, %d) on a full, shut-down queue returned %s after %.0f ms, "
		      "expected ESHUTDOWN at once", LONG_WAIT_MS, tl_errname(rc), tl_elapsed_ms(t0));
	expect_size(full, 1, "after puts failed on a full, shut-down queue");
	bqueue_destroy(full);
	bqueue_destroy(q);
}
END_TEST

START_TEST(test_bqueue_get_drains_then_fails_after_shutdown)
{
	bqueue_t *q = make_queue(4, NULL);
	void *want[] = { TOK(1), NULL, TOK(3) };
	long limit = (long)(500 * tl_slowdown());
	void *item = SENTINEL;
	int64_t t0;
	int rc;

	for (int i = 0; i < 3; i++)
		put_now(q, want[i]);
	bqueue_shutdown(q, false);
	expect_size(q, 3, "after a normal shutdown of a queue holding 3 items (they stay)");
	for (int i = 0; i < 3; i++) {
		item = SENTINEL;
		rc = bqueue_get(q, &item, 0);
		ck_assert_msg(rc == 0 && item == want[i], "get #%d after a normal shutdown returned %s "
			      "with %p, expected 0 with %p: the items left must still be handed out, "
			      "in order", i + 1, tl_errname(rc), item, want[i]);
	}
	item = SENTINEL;
	rc = bqueue_get(q, &item, 0);
	ck_assert_msg(rc == ESHUTDOWN, "bqueue_get(q, &item, 0) on a shut-down, drained queue "
		      "returned %s, expected ESHUTDOWN", tl_errname(rc));
	ck_assert_msg(item == SENTINEL, "bqueue_get wrote *item although it failed with ESHUTDOWN");
	t0 = tl_now_ns();
	rc = bqueue_get(q, &item, LONG_WAIT_MS);
	ck_assert_msg(rc == ESHUTDOWN && tl_elapsed_ms(t0) < limit,
		      "bqueue_get(q, &item, %d) on a shut-down, drained queue returned %s after %.0f "
		      "ms, expected ESHUTDOWN at once", LONG_WAIT_MS, tl_errname(rc),
		      tl_elapsed_ms(t0));
	for (int i = 0; i < 3; i++) {
		rc = bqueue_task_done(q);
		ck_assert_msg(rc == 0, "bqueue_task_done #%d after shutdown returned %s, expected 0 "
			      "(task_done works after shutdown)", i + 1, tl_errname(rc));
	}
	rc = bqueue_join(q, 0);
	ck_assert_msg(rc == 0, "bqueue_join(q, 0) after every item was got and marked done "
		      "returned %s, expected 0", tl_errname(rc));
	bqueue_destroy(q);
}
END_TEST

enum { NWAITERS = 4 };

/* Starts NWAITERS calls of op (half untimed, half with a long timeout), shuts the queue down and
 * checks that every one of them returns ESHUTDOWN promptly. */
static void shutdown_wakes_all(bqueue_t *q, enum op op, const char *situation)
{
	struct call c[NWAITERS];
	long ms = wake_ms();
	int woke = 0;
	int64_t t0;

	for (int i = 0; i < NWAITERS; i++)
		start_call(&c[i], q, op, TOK(100 + i), i % 2 ? LONG_WAIT_MS : -1);
	tl_sleep_ms(SETTLE_MS);
	for (int i = 0; i < NWAITERS; i++)
		ck_assert_msg(!has_returned(&c[i]), "%s(q, ..., %ld) %s returned %s instead of "
			      "waiting", op_name(op), c[i].timeout_ms, situation, tl_errname(c[i].rc));
	bqueue_shutdown(q, false);
	t0 = tl_now_ns();
	for (int i = 0; i < NWAITERS; i++) {
		long left = ms - (long)tl_elapsed_ms(t0);

		woke += await_return(&c[i], left > 0 ? left : 0);
	}
	ck_assert_msg(woke == NWAITERS,
		      "%d of %d threads blocked in %s %s returned within %ld ms of bqueue_shutdown, "
		      "expected all %d: shutdown must wake every blocked caller "
		      "(pthread_cond_broadcast, not pthread_cond_signal)",
		      woke, NWAITERS, op_name(op), situation, ms, NWAITERS);
	for (int i = 0; i < NWAITERS; i++) {
		ck_assert_msg(c[i].rc == ESHUTDOWN, "a %s(q, ..., %ld) %s woken by bqueue_shutdown "
			      "returned %s, expected ESHUTDOWN", op_name(op), c[i].timeout_ms,
			      situation, tl_errname(c[i].rc));
		finish_call(&c[i]);
	}
}

START_TEST(test_bqueue_shutdown_wakes_every_blocked_getter)
{
	bqueue_t *q = make_queue(2, NULL);
	void *item = SENTINEL;
	int rc;

	shutdown_wakes_all(q, OP_GET, "on an empty queue");
	rc = bqueue_get(q, &item, 0);
	ck_assert_msg(rc == ESHUTDOWN, "bqueue_get after shutdown returned %s, expected ESHUTDOWN",
		      tl_errname(rc));
	bqueue_destroy(q);
}
END_TEST

START_TEST(test_bqueue_shutdown_wakes_every_blocked_putter)
{
	bqueue_t *q = make_queue(1, NULL);
	void *item = SENTINEL;
	int rc;

	put_now(q, TOK(1));
	shutdown_wakes_all(q, OP_PUT, "on a full queue");
	expect_size(q, 1, "after a normal shutdown woke the blocked putters (their items are not "
		    "added)");
	rc = bqueue_get(q, &item, 0);
	ck_assert_msg(rc == 0 && item == TOK(1), "get after the shutdown returned %s with item %ld, "
		      "expected 0 with item 1 (the item put before)", tl_errname(rc), UNTOK(item));
	rc = bqueue_get(q, &item, 0);
	ck_assert_msg(rc == ESHUTDOWN, "get on the shut-down, drained queue returned %s, expected "
		      "ESHUTDOWN", tl_errname(rc));
	bqueue_destroy(q);
}
END_TEST

START_TEST(test_bqueue_shutdown_is_idempotent)
{
	bqueue_t *q = make_queue(4, count_free);
	int rc;

	put_now(q, &tokens[0]);
	put_now(q, &tokens[1]);
	bqueue_shutdown(q, false);
	bqueue_shutdown(q, false);
	expect_size(q, 2, "after two normal shutdowns of a queue holding 2 items");
	ck_assert_msg(freed_total() == 0, "a normal shutdown called free_item %d times, expected "
		      "none (the items stay for the getters)", freed_total());
	bqueue_shutdown(q, true);
	expect_size(q, 0, "after an immediate shutdown that followed a normal one");
	ck_assert_msg(freed_times(0) == 1 && freed_times(1) == 1 && freed_total() == 2,
		      "an immediate shutdown after a normal one must drop the 2 items left, calling "
		      "free_item once on each; free_item was called %d times", freed_total());
	bqueue_shutdown(q, true);
	bqueue_shutdown(q, false);
	ck_assert_msg(freed_total() == 2, "shutting down again called free_item again (%d calls "
		      "in all, expected 2)", freed_total());
	rc = bqueue_put(q, &tokens[2], 0);
	ck_assert_msg(rc == ESHUTDOWN, "put after repeated shutdowns returned %s, expected "
		      "ESHUTDOWN", tl_errname(rc));
	bqueue_destroy(q);
	ck_assert_msg(freed_total() == 2, "bqueue_destroy called free_item on items that the "
		      "immediate shutdown had already dropped (%d calls in all, expected 2)",
		      freed_total());
}
END_TEST

/* =============================== dropped ================================================= */

START_TEST(test_bqueue_immediate_shutdown_drops_every_item_once)
{
	bqueue_t *q = make_queue(4, count_free);
	void *item = SENTINEL;
	int rc;

	/* Wrap around the storage: put 0..3, get 0 and 1, put 4 and 5; 2..5 are left. */
	for (int i = 0; i < 4; i++)
		put_now(q, &tokens[i]);
	for (int i = 0; i < 2; i++) {
		get_now(q);
		bqueue_task_done(q);
	}
	put_now(q, &tokens[4]);
	put_now(q, &tokens[5]);
	bqueue_shutdown(q, true);
	expect_size(q, 0, "after an immediate shutdown");
	for (int i = 0; i < 6; i++) {
		int want = i >= 2;

		ck_assert_msg(freed_times(i) == want, "after bqueue_shutdown(q, true) returned, "
			      "free_item had been called %d times on item %d, expected %d (the "
			      "queue held items 2..5; 0 and 1 had been got)", freed_times(i), i, want);
	}
	ck_assert_msg(freed_total() == 4, "free_item was called %d times, expected 4",
		      freed_total());
	rc = bqueue_get(q, &item, 0);
	ck_assert_msg(rc == ESHUTDOWN, "get after an immediate shutdown returned %s, expected "
		      "ESHUTDOWN (the queue is empty)", tl_errname(rc));
	rc = bqueue_put(q, &tokens[6], 0);
	ck_assert_msg(rc == ESHUTDOWN, "put after an immediate shutdown returned %s, expected "
		      "ESHUTDOWN", tl_errname(rc));
	rc = bqueue_join(q, 0);
	ck_assert_msg(rc == 0, "bqueue_join(q, 0) returned %s, expected 0: the 4 dropped items "
		      "count as done and the 2 got were marked done", tl_errname(rc));
	bqueue_destroy(q);
	ck_assert_msg(freed_total() == 4, "bqueue_destroy called free_item on dropped items again "
		      "(%d calls in all, expected 4)", freed_total());
}
END_TEST

START_TEST(test_bqueue_immediate_shutdown_releases_joiners)
{
	bqueue_t *q = make_queue(4, count_free);
	struct call c[2];
	long ms = wake_ms();

	for (int i = 0; i < 3; i++)
		put_now(q, &tokens[i]);
	start_call(&c[0], q, OP_JOIN, NULL, -1);
	start_call(&c[1], q, OP_JOIN, NULL, LONG_WAIT_MS);
	expect_blocked(&c[0], "with 3 items put and none done");
	bqueue_shutdown(q, true);
	for (int i = 0; i < 2; i++) {
		ck_assert_msg(await_return(&c[i], ms), "bqueue_join(q, %ld) did not return within %ld "
			      "ms of an immediate shutdown that dropped every unfinished item: the "
			      "dropped items count as done, so the joiners must be woken",
			      c[i].timeout_ms, ms);
		ck_assert_msg(c[i].rc == 0, "bqueue_join returned %s after an immediate shutdown, "
			      "expected 0", tl_errname(c[i].rc));
		finish_call(&c[i]);
	}
	ck_assert_msg(freed_total() == 3, "free_item was called %d times, expected 3",
		      freed_total());
	bqueue_destroy(q);
}
END_TEST

START_TEST(test_bqueue_immediate_shutdown_waits_for_items_already_got)
{
	bqueue_t *q = make_queue(4, count_free);
	struct call c;
	long ms = wake_ms();
	void *item;
	int rc;

	for (int i = 0; i < 3; i++)
		put_now(q, &tokens[i]);
	item = get_now(q);
	ck_assert_msg(item == &tokens[0], "get returned the wrong item (FIFO)");
	start_call(&c, q, OP_JOIN, NULL, -1);
	expect_blocked(&c, "with 3 items put and none done");
	bqueue_shutdown(q, true);
	ck_assert_msg(freed_times(1) == 1 && freed_times(2) == 1 && freed_times(0) == 0,
		      "an immediate shutdown must call free_item once on each item still in the "
		      "queue (items 1 and 2), never on an item already got (item 0)");
	expect_blocked(&c, "after an immediate shutdown, with one item got and not yet marked "
		       "done");
	rc = bqueue_task_done(q);
	ck_assert_msg(rc == 0, "bqueue_task_done for the item got before the shutdown returned %s, "
		      "expected 0", tl_errname(rc));
	ck_assert_msg(await_return(&c, ms), "bqueue_join(q, -1) did not return within %ld ms after "
		      "the last unfinished item was marked done", ms);
	ck_assert_msg(c.rc == 0, "bqueue_join returned %s, expected 0", tl_errname(c.rc));
	finish_call(&c);
	rc = bqueue_task_done(q);
	ck_assert_msg(rc == EINVAL, "an extra bqueue_task_done after an immediate shutdown returned "
		      "%s, expected EINVAL: dropped items are already counted as done",
		      tl_errname(rc));
	bqueue_destroy(q);
}
END_TEST

START_TEST(test_bqueue_destroy_frees_each_remaining_item_once)
{
	bqueue_t *q = make_queue(4, count_free);

	for (int i = 0; i < 4; i++)
		put_now(q, &tokens[i]);
	get_now(q);
	get_now(q);
	put_now(q, &tokens[4]);
	put_now(q, &tokens[5]);
	ck_assert_msg(freed_total() == 0, "free_item was called %d times before bqueue_destroy",
		      freed_total());
	bqueue_destroy(q);
	for (int i = 0; i < 6; i++) {
		int want = i >= 2;

		ck_assert_msg(freed_times(i) == want, "bqueue_destroy called free_item %d times on "
			      "item %d, expected %d (items 2..5 were left in the queue, across the "
			      "end of its storage; 0 and 1 had been got)", freed_times(i), i, want);
	}
	ck_assert_msg(freed_total() == 4, "bqueue_destroy called free_item %d times, expected 4",
		      freed_total());
}
END_TEST

START_TEST(test_bqueue_destroy_without_free_item_leaves_items_alone)
{
	/* The items are not heap pointers: calling free() on them would crash the test. */
	bqueue_t *q = make_queue(3, NULL);
	bqueue_t *shut = make_queue(3, NULL);

	put_now(q, &tokens[0]);
	put_now(q, NULL);
	put_now(q, &tokens[1]);
	bqueue_destroy(q);
	put_now(shut, &tokens[2]);
	put_now(shut, &tokens[3]);
	bqueue_shutdown(shut, true);
	expect_size(shut, 0, "after an immediate shutdown with free_item NULL");
	bqueue_destroy(shut);
}
END_TEST

/* =============================== no busy waiting ========================================= */
/* A thread blocked in the queue must sleep until another thread wakes it. The test watches it
 * from the outside through the kernel's per-thread scheduler statistics: once the thread sleeps
 * (or after a short wait, if it never does), BLOCK_MS of nothing happening must add almost no
 * runnable time (a spinning thread is runnable the whole time, however loaded the machine is)
 * and almost no runs (a thread that polls, sleeping a little and looking again, is put on a CPU
 * at every poll). The thread's own CPU time over the whole call is checked too. */

enum { BLOCK_MS = 200 };

struct watch {
	struct sched_sample before, after; /* the window of BLOCK_MS in which nothing happens */
};

static void watch_blocked(struct call *c, struct watch *w, int n)
{
	int64_t deadline = tl_now_ns() + (int64_t)(200 * tl_slowdown()) * 1000000;

	for (int i = 0; i < n; i++)
		while (!thread_sleeps(c[i].ktid) && tl_now_ns() < deadline)
			tl_sleep_ms(1);
	for (int i = 0; i < n; i++)
		w[i].before = sched_of(c[i].ktid);
	tl_sleep_ms(BLOCK_MS);
	for (int i = 0; i < n; i++)
		w[i].after = sched_of(c[i].ktid);
	for (int i = 0; i < n; i++)
		ck_assert_msg(!has_returned(&c[i]), "%s(q, ..., %ld) returned %s instead of waiting",
			      op_name(c[i].op), c[i].timeout_ms, tl_errname(c[i].rc));
}

static void expect_quiet(struct call *c, struct watch *w, const char *situation)
{
	double cpu_limit = 20 * tl_slowdown();
	double runnable_limit = 50 * tl_slowdown();
	long runs_limit = (long)(5 * tl_slowdown());
	long wake_limit = (long)(10 * tl_slowdown());

	ck_assert_msg(c->cpu_ms < cpu_limit,
		      "%s(q, ..., %ld) blocked %s for %.0f ms used %.1f ms of CPU time (limit %.0f "
		      "ms): it is busy-waiting (spinning on the lock or the count). Sleep on a "
		      "condition variable until another thread signals it", op_name(c->op),
		      c->timeout_ms, situation, c->elapsed_ms, c->cpu_ms, cpu_limit);
	if (w->before.ok && w->after.ok) {
		double runnable = w->after.runnable_ms - w->before.runnable_ms;
		long runs = w->after.runs - w->before.runs;

		ck_assert_msg(runnable < runnable_limit && runs <= runs_limit,
			      "%s(q, ..., %ld) blocked %s did not sleep: in %d ms in which nothing "
			      "happened it was runnable (on a CPU or waiting for one) for %.0f ms "
			      "(limit %.0f) and was put on a CPU %ld times (limit %ld). It spins "
			      "(busy-waits) or polls (sleeps a little and looks again). Sleep on a "
			      "condition variable until another thread signals it", op_name(c->op),
			      c->timeout_ms, situation, BLOCK_MS, runnable, runnable_limit, runs,
			      runs_limit);
	} else {
		ck_assert_msg(c->wakeups <= wake_limit,
			      "%s(q, ..., %ld) blocked %s for %.0f ms went to sleep and woke up %ld "
			      "times (limit %ld): it polls (sleeps a little and looks again). Sleep on "
			      "a condition variable until another thread signals it", op_name(c->op),
			      c->timeout_ms, situation, c->elapsed_ms, c->wakeups, wake_limit);
	}
}

START_TEST(test_bqueue_blocked_get_does_not_busy_wait)
{
	bqueue_t *q = make_queue(2, NULL);
	struct call c[2];
	struct watch w[2];
	long ms = wake_ms();

	start_call(&c[0], q, OP_GET, NULL, -1);
	start_call(&c[1], q, OP_GET, NULL, LONG_WAIT_MS);
	watch_blocked(c, w, 2);
	put_now(q, TOK(1));
	put_now(q, TOK(2));
	for (int i = 0; i < 2; i++) {
		ck_assert_msg(await_return(&c[i], ms), "a blocked bqueue_get(q, &item, %ld) did not "
			      "return within %ld ms after two items were put for two getters",
			      c[i].timeout_ms, ms);
		ck_assert_msg(c[i].rc == 0, "the woken bqueue_get returned %s, expected 0",
			      tl_errname(c[i].rc));
		expect_quiet(&c[i], &w[i], "on an empty queue");
		finish_call(&c[i]);
	}
	bqueue_destroy(q);
}
END_TEST

START_TEST(test_bqueue_blocked_put_does_not_busy_wait)
{
	bqueue_t *q = make_queue(1, NULL);
	struct call c[2];
	struct watch w[2];
	long ms = wake_ms();
	void *item = SENTINEL;
	int rc;

	put_now(q, TOK(1));
	start_call(&c[0], q, OP_PUT, TOK(2), -1);
	start_call(&c[1], q, OP_PUT, TOK(3), LONG_WAIT_MS);
	watch_blocked(c, w, 2);
	for (int k = 0; k < 2; k++) {
		rc = bqueue_get(q, &item, ms);
		ck_assert_msg(rc == 0, "get #%d on a full queue (timeout %ld ms) returned %s, "
			      "expected 0", k + 1, ms, tl_errname(rc));
	}
	for (int i = 0; i < 2; i++) {
		ck_assert_msg(await_return(&c[i], ms), "a blocked bqueue_put(q, item, %ld) did not "
			      "return within %ld ms after room was made for it", c[i].timeout_ms, ms);
		ck_assert_msg(c[i].rc == 0, "the woken bqueue_put returned %s, expected 0",
			      tl_errname(c[i].rc));
		expect_quiet(&c[i], &w[i], "on a full queue");
		finish_call(&c[i]);
	}
	bqueue_destroy(q);
}
END_TEST
