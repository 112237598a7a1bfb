/* race_gil.c - the race driver of the GIL (run under helgrind and ThreadSanitizer by the grader).
 *
 * DESIGN: one phase in which every function of the contract runs at once on one GIL with a short
 * switch interval (300 us), so that hand-overs, drop requests and blocking calls interleave:
 * - two interpreter threads (tinyvm.h) run CPU-bound rounds (a countdown of ~2 ms of CPU time,
 *   10 TV_INCG, a blocking call that does not sleep): the GIL changes hands at their
 *   checkpoints, so a waiter's drop request is written while the holder reads it;
 * - one interpreter thread runs I/O-bound rounds (a short countdown, 10 TV_INCG, a 1 ms sleep in
 *   gil_blocking_call);
 * - a prober thread, which is not an interpreter, alternates between calls a non-holder makes
 *   (gil_held must say false, gil_release, gil_checkpoint and gil_blocking_call must say EPERM:
 *   they read the GIL's state while the others change it) and a turn of its own: gil_acquire,
 *   gil_held, gil_acquire again (EDEADLK), three gil_checkpoint calls with work in between,
 *   gil_blocking_call, gil_release. Its turns are recorded as runs of the interpreter, so the
 *   overlap check covers them.
 * Invariants checked after the threads are joined: no gil_* call failed, no two runs (turns
 * holding the GIL) overlap in time, no thread found another's run in progress, no TV_INCG was
 * lost, every call by the prober returned what the contract says. The driver synchronises
 * through the GIL only (and the start barrier): no lock of its own, no atomics, so that the race
 * detectors see the student's synchronisation and nothing else. The CPU-bound work is calibrated
 * on the running machine, so it takes about as much CPU time natively as under a tool. What
 * broke goes to stderr and the exit status is 1. Native run: about 60 ms. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "gil.h"
#include "tinyvm.h"
#include "tl_test.h"

enum {
	INTERVAL_US = 300,
	CPU_THREADS = 2,
	CPU_ROUNDS = 6,
	IO_ROUNDS = 10,
	INCS = 10,
	PROBES = 30,
	NVM = CPU_THREADS + 1,
	PROBER_ID = NVM,
};

struct prober {
	struct tv_thread t;       /* its turns, recorded as runs */
	pthread_barrier_t *start;
	int failures;             /* written by the prober, read after the join */
	char first[300];
};

static void note(struct prober *p, const char *what, int rc, int want)
{
	if (p->failures++ == 0)
		snprintf(p->first, sizeof p->first, "%s returned %d (%s), expected %d (%s)", what, rc,
			 tl_errname(rc), want, tl_errname(want));
}

static void nop_fn(void *arg)
{
	(void)arg;
}

static void spin(void)
{
	for (int i = 0; i < 3000; i++)
		__asm__ volatile("" ::: "memory");
}

static void *prober_main(void *arg)
{
	struct prober *p = arg;
	gil_t *g = p->t.vm->gil;
	int rc;

	pthread_barrier_wait(p->start);
	p->t.begin_ns = tl_now_ns();
	for (int i = 0; i < PROBES; i++) {
		/* As a non-holder. */
		if (gil_held(g))
			note(p, "gil_held by a thread that does not hold the GIL", 1, 0);
		if ((rc = gil_release(g)) != EPERM)
			note(p, "gil_release by a thread that does not hold the GIL", rc, EPERM);
		if ((rc = gil_checkpoint(g)) != EPERM)
			note(p, "gil_checkpoint by a thread that does not hold the GIL", rc, EPERM);
		if ((rc = gil_blocking_call(g, nop_fn, NULL)) != EPERM)
			note(p, "gil_blocking_call by a thread that does not hold the GIL", rc, EPERM);

		/* A turn of its own. */
		int64_t asked = tl_now_ns();

		if ((rc = gil_acquire(g)) != 0) {
			note(p, "gil_acquire", rc, 0);
			break;
		}
		tv_run_begin(&p->t, asked);
		if (!gil_held(g))
			note(p, "gil_held by the holder", 0, 1);
		if ((rc = gil_acquire(g)) != EDEADLK)
			note(p, "gil_acquire by the holder", rc, EDEADLK);
		for (int k = 0; k < 3; k++) {
			spin();
			if (!tv_checkpoint(&p->t)) {
				note(p, "gil_checkpoint by the holder", p->t.err, 0);
				goto out;
			}
		}
		if (!tv_block(&p->t, 0)) {
			note(p, "gil_blocking_call by the holder", p->t.err, 0);
			goto out;
		}
		tv_check_owner(&p->t);
		tv_run_end(&p->t, tl_now_ns(), TV_END_RELEASE);
		if ((rc = gil_release(g)) != 0) {
			note(p, "gil_release by the holder", rc, 0);
			break;
		}
		tl_sleep_ms(1);
	}
out:
	p->t.end_ns = tl_now_ns();
	return NULL;
}

int main(void)
{
	struct tv_thread t[NVM + 1]; /* the interpreters, then a copy of the prober's record */
	struct tv_prog cpu, io;
	struct tv_vm vm;
	struct tv_stats s;
	struct prober pr;
	pthread_barrier_t start;
	pthread_t tids[NVM], ptid;
	long work, expected;
	int failures = 0;
	gil_t *g = NULL;
	int rc;

	work = tv_calibrate_countdown(2); /* ~2 ms of CPU per round */
	if ((rc = gil_create(&g, INTERVAL_US)) != 0 || g == NULL) {
		fprintf(stderr, "race_gil: gil_create(&g, %d) returned %d (%s)\n", INTERVAL_US, rc,
			tl_errname(rc));
		return 1;
	}
	tv_vm_init(&vm, g, 1000, NULL);
	tv_prog_io(&cpu, CPU_ROUNDS, work, INCS, 0);
	tv_prog_io(&io, IO_ROUNDS, 2000, INCS, 1);
	pthread_barrier_init(&start, NULL, NVM + 1);
	for (int i = 0; i < NVM; i++) {
		tv_thread_init(&t[i], &vm, i < CPU_THREADS ? &cpu : &io, i);
		t[i].start = &start;
	}
	pr = (struct prober){ .start = &start };
	tv_thread_init(&pr.t, &vm, &cpu, PROBER_ID);

	for (int i = 0; i < NVM; i++)
		if (pthread_create(&tids[i], NULL, tv_thread_main, &t[i]) != 0) {
			fprintf(stderr, "race_gil: cannot start a thread\n");
			return 1;
		}
	if (pthread_create(&ptid, NULL, prober_main, &pr) != 0) {
		fprintf(stderr, "race_gil: cannot start a thread\n");
		return 1;
	}
	for (int i = 0; i < NVM; i++)
		pthread_join(tids[i], NULL);
	pthread_join(ptid, NULL);
	pthread_barrier_destroy(&start);

	t[NVM] = pr.t;
	tv_analyze(t, NVM + 1, &s);
	expected = (long)(CPU_THREADS * CPU_ROUNDS + IO_ROUNDS) * INCS;
	if (s.err != 0) {
		fprintf(stderr, "race_gil: %s returned %d (%s) to an interpreter thread that uses the "
			"GIL correctly\n", s.err_call, s.err, tl_errname(s.err));
		failures++;
	}
	if (pr.failures > 0) {
		fprintf(stderr, "race_gil: %d call(s) by the prober thread returned the wrong thing; "
			"the first: %s\n", pr.failures, pr.first);
		failures++;
	}
	if (s.max_running > 1) {
		fprintf(stderr, "race_gil: %u threads held the GIL at the same moment (for %.2f ms "
			"in all): the GIL must let only one thread hold it\n", s.max_running,
			s.overlap_ms);
		failures++;
	}
	if (s.violations > 0) {
		fprintf(stderr, "race_gil: a thread holding the GIL found another thread's turn in "
			"progress %ld times: two threads held the GIL at once\n", s.violations);
		failures++;
	}
	if (s.err == 0 && vm.global != expected) {
		fprintf(stderr, "race_gil: a counter incremented %ld times by bytecode ended at %ld: "
			"increments were lost, so two threads ran bytecode at once\n", expected,
			vm.global);
		failures++;
	}
	if (s.err == 0 && gil_held(g)) {
		fprintf(stderr, "race_gil: gil_held is true on the main thread, which never took "
			"the GIL\n");
		failures++;
	}
	if (s.err == 0 && pr.failures == 0 && failures == 0) {
		/* Every thread released it: it is free. */
		if ((rc = gil_acquire(g)) != 0 || (rc = gil_release(g)) != 0) {
			fprintf(stderr, "race_gil: after every thread released the GIL, the main "
				"thread's gil_acquire/gil_release returned %d (%s)\n", rc,
				tl_errname(rc));
			failures++;
		}
		gil_destroy(g);
	}
	for (int i = 0; i < NVM; i++)
		tv_thread_free(&t[i]);
	tv_thread_free(&pr.t);
	if (failures) {
		fprintf(stderr, "race_gil: %d invariant(s) broken\n", failures);
		return 1;
	}
	printf("race_gil: %zu turns, %zu hand-overs at checkpoints, %ld instructions\n", s.runs,
	       s.switches, s.executed);
	return 0;
}
