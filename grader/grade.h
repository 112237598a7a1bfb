/* grade.h - grade one exercise of a submission: locate, build, policy, suite, drivers, score.
 *
 * Every step that runs student code goes through proc_run() with a time limit; a step that fails
 * turns into checks with a message and the rest of the grading goes on. grade_exercise() never
 * fails: whatever happens is in the result it returns. */
#ifndef GRADER_GRADE_H
#define GRADER_GRADE_H

#include <stdbool.h>

#include "build.h"
#include "manifest.h"
#include "results.h"
#include "sandbox.h"

struct grade_opts {
	struct build_env env;
	const char *submission; /* absolute */
	const char *out;        /* absolute */
	double scale;           /* multiplies every time limit (a slow machine), >= 1 */
	size_t jobs;            /* TCases run at once (default 2: the machines have 2 cores) */
	const struct sandbox *sandbox;
	bool verbose;
	bool prepare_only; /* build the suite and drivers, run nothing (make suite/driver) */
};

struct exercise_result *grade_exercise(const struct grade_opts *o, const struct manifest *m);

#endif
