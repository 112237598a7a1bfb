/* tl_hang.h - when a test is about to time out, write where every thread is.
 *
 * A hang is the hardest failure to debug: Check only says "Test timeout expired". The generated
 * suite calls tl_hang_arm() at the start of each test (in the forked test process). When the
 * environment variable TL_HANG_DIR is set, a watchdog thread sleeps until shortly before the
 * test's time limit and then has every other thread write its backtrace (a signal handler) to
 * TL_HANG_DIR/<tcase>.<test>.stacks; the grader turns that into "3 threads blocked
 * in rlock_acquire at rlock.c:57 (pthread_cond_wait)". Then it stops the test (and anything the
 * test started: each test is its own process group) a little before Check would. Without TL_HANG_DIR it does nothing (no
 * extra thread under helgrind, none when a student runs a suite by hand). */
#ifndef TL_HANG_H
#define TL_HANG_H

/* timeout_s: the TCase's timeout before CK_TIMEOUT_MULTIPLIER. */
void tl_hang_arm(const char *tcase, const char *test, double timeout_s);

#endif
