/* tl_guard.h - guards against student code ending the process on purpose.
 *
 * In Check's fork mode a test that calls exit(0) or _exit(0) is reported as a PASS, and
 * pthread_exit() on the test's own thread is too. The grader therefore renames, in the student's
 * object file only (objcopy --redefine-sym), exit, _exit, _Exit, quick_exit and pthread_exit to
 * the tl_guard_* functions below. They fail the test with a message that names the caller;
 * pthread_exit is passed through on threads other than the main one (a worker thread the student
 * started may legitimately end that way). */
#ifndef TL_GUARD_H
#define TL_GUARD_H

/* How a guard reports: set by check_main.c to fail the current Check test; the default prints to
 * stderr and ends the process with TL_GUARD_STATUS. */
extern void (*tl_guard_fail)(const char *msg);

#define TL_GUARD_STATUS 86

void tl_guard_exit(int status) __attribute__((noreturn));
void tl_guard__exit(int status) __attribute__((noreturn));
void tl_guard__Exit(int status) __attribute__((noreturn));
void tl_guard_quick_exit(int status) __attribute__((noreturn));
void tl_guard_pthread_exit(void *retval) __attribute__((noreturn));

#endif
