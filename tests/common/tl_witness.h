/* tl_witness.h - witnesses of parallelism, recorded inside grader-owned tasks.
 *
 * DESIGN: on a time-shared 2-core machine a CPU-bound wall-clock speedup says little. What holds
 * under load is what the tasks themselves see: how many grader-owned tasks are running at the same
 * moment. Each task calls tl_witness_begin() first and tl_witness_end() last; the witness keeps the
 * live number of running tasks (and its maximum) under one mutex, and every task's start and end
 * (CLOCK_MONOTONIC) and thread, so that tl_witness_analyze() can compute the average concurrency
 * (sum of task durations / makespan). A queue or pool that serializes its users shows a maximum of 1
 * and an average of ~1.0, whatever the machine. The mutex is held only for a few instructions and
 * never while a task runs, so it cannot serialize the tasks it measures. No C11 atomics: helgrind
 * must be able to run code that uses this. */
#ifndef TL_WITNESS_H
#define TL_WITNESS_H

#include <stddef.h>
#include <stdint.h>

typedef struct tl_witness tl_witness_t;

struct tl_overlap {
	size_t tasks;           /* tasks that ended */
	unsigned max_running;   /* the most tasks running at one moment */
	double avg_running;     /* sum of task durations / makespan */
	double makespan_ms;     /* first start to last end */
	double busy_ms;         /* sum of task durations */
	unsigned threads;       /* distinct threads that ran tasks */
};

/* Room for max_tasks begin/end pairs. 0 or ENOMEM. */
int tl_witness_create(tl_witness_t **out, size_t max_tasks);
void tl_witness_destroy(tl_witness_t *w);

/* Marks the start of a task on the calling thread; returns its slot for tl_witness_end, or
 * (size_t)-1 when max_tasks slots are used up (the task is then counted live but not timed). */
size_t tl_witness_begin(tl_witness_t *w);
void tl_witness_end(tl_witness_t *w, size_t slot);

/* The number of tasks running right now. */
unsigned tl_witness_running(tl_witness_t *w);

/* Fills out from the tasks that ended. Call after every task has ended. */
void tl_witness_analyze(tl_witness_t *w, struct tl_overlap *out);

/* Forgets every recorded task (the witness can be reused for the next run). */
void tl_witness_reset(tl_witness_t *w);

/* Writes the timeline as a JSON array of {"start_ms","end_ms","thread"} (relative to the first
 * start) to path; 0 or an errno. */
int tl_witness_write_timeline(tl_witness_t *w, const char *path);

#endif
