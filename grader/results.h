/* results.h - what grading found: checks, scores, and the submission's totals.
 *
 * Every report format (terminal, results.json, Gradescope) is written from these structures only,
 * so that all of them always agree. */
#ifndef GRADER_RESULTS_H
#define GRADER_RESULTS_H

#include <stdbool.h>
#include <stddef.h>

enum check_status {
	CHECK_PASS,
	CHECK_FAIL,
	CHECK_ERROR,        /* crashed */
	CHECK_TIMEOUT,      /* hung */
	CHECK_INCONCLUSIVE, /* could not be judged (no points) */
	CHECK_SKIPPED,      /* not run: an earlier step failed (no points) */
};

struct check {
	char *id;      /* "functional/<tcase>/<test>", "races/helgrind", "build/compile", ... */
	char *kind;    /* build | policy | functional | races | speedup */
	enum check_status status;
	double score, max_score;
	char *message; /* for the student */
	bool hidden;
};

enum exercise_status { EX_GRADED, EX_NOT_SUBMITTED, EX_BUILD_FAILED, EX_GRADER_ERROR };

struct exercise_result {
	char *name, *title;
	enum exercise_status status;
	double score, max_score;
	double seconds;
	char *notes;   /* compiler warnings and other remarks, for the student; may be NULL */
	struct check *checks;
	size_t nchecks, cap;
};

struct grade_result {
	char *submission;
	char *sandbox; /* how student code was confined (sandbox.h) */
	double score, max_score;
	double seconds;
	struct exercise_result **exercises;
	size_t nexercises;
};

const char *check_status_name(enum check_status s);
const char *exercise_status_name(enum exercise_status s);

/* Adds a check (strings are copied) and returns it. */
struct check *ex_add_check(struct exercise_result *ex, const char *id, const char *kind,
			   enum check_status st, double score, double max_score, const char *message);
/* Sums the checks into ex->score. */
void ex_total(struct exercise_result *ex);
void ex_free(struct exercise_result *ex);

void grade_add(struct grade_result *g, struct exercise_result *ex);
void grade_free(struct grade_result *g);

#endif
