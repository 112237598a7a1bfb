/* stacks.h - where the threads of a hung process were, from gdb's "thread apply all bt".
 *
 * The summary names student frames first and groups identical places:
 *   "3 threads blocked in rlock_acquire at rlock.c:57 (in pthread_cond_wait); the test's own
 *    thread in pthread_join at check_rlock.c:210". */
#ifndef GRADER_STACKS_H
#define GRADER_STACKS_H

#include <stddef.h>
#include <sys/types.h>

/* Summarizes a stacks file, either gdb's output or tests/common/tl_hang.c's (whose frames are
 * mapped to file:line with nm and addr2line on the executable, relative to cwd); NULL when the
 * file has no usable backtrace. */
char *stacks_summarize(const char *path, char *const *student_files, size_t nfiles,
		       const char *cwd);

/* Runs gdb in batch mode on pid and writes every thread's backtrace to path (at most 10 s). */
void stacks_capture(pid_t pid, const char *path);

#endif
