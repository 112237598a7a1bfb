/* results.c - see results.h. */
#include "results.h"

#include <stdlib.h>

#include "util.h"

const char *check_status_name(enum check_status s)
{
	static const char *names[] = { "pass", "fail", "error", "timeout", "inconclusive", "skipped" };

	return names[s];
}

const char *exercise_status_name(enum exercise_status s)
{
	static const char *names[] = { "graded", "not_submitted", "build_failed", "grader_error" };

	return names[s];
}

struct check *ex_add_check(struct exercise_result *ex, const char *id, const char *kind,
			   enum check_status st, double score, double max_score, const char *message)
{
	struct check *c;

	if (ex->nchecks == ex->cap) {
		ex->cap = ex->cap ? ex->cap * 2 : 16;
		ex->checks = xrealloc(ex->checks, ex->cap * sizeof *ex->checks);
	}
	c = &ex->checks[ex->nchecks++];
	*c = (struct check){ xstrdup(id), xstrdup(kind), st, score, max_score, xstrdup(message), false };
	return c;
}

void ex_total(struct exercise_result *ex)
{
	ex->score = 0;
	ex->max_score = 0;
	for (size_t i = 0; i < ex->nchecks; i++) {
		ex->score += ex->checks[i].score;
		ex->max_score += ex->checks[i].max_score;
	}
	/* Points split three ways must still add up to a whole when every part passes. */
	if (ex->max_score - ex->score < 1e-6)
		ex->score = ex->max_score;
}

void ex_free(struct exercise_result *ex)
{
	if (!ex)
		return;
	for (size_t i = 0; i < ex->nchecks; i++) {
		free(ex->checks[i].id);
		free(ex->checks[i].kind);
		free(ex->checks[i].message);
	}
	free(ex->checks);
	free(ex->name);
	free(ex->title);
	free(ex->notes);
	free(ex);
}

void grade_add(struct grade_result *g, struct exercise_result *ex)
{
	g->exercises = xrealloc(g->exercises, (g->nexercises + 1) * sizeof *g->exercises);
	g->exercises[g->nexercises++] = ex;
	g->score += ex->score;
	g->max_score += ex->max_score;
}

void grade_free(struct grade_result *g)
{
	for (size_t i = 0; i < g->nexercises; i++)
		ex_free(g->exercises[i]);
	free(g->exercises);
	free(g->submission);
	free(g->sandbox);
}
