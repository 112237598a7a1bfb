/* report.h - the report formats, all written from one grade_result.
 *
 * results.json is the kit's own schema ("threadlab-results/1", documented in docs/grader.md);
 * gradescope.json follows Gradescope's autograder results format. */
#ifndef GRADER_REPORT_H
#define GRADER_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "results.h"

/* The summary a student reads in the terminal. verbose lists passing checks too. */
void report_text(FILE *f, const struct grade_result *g, bool verbose);
/* 0 or an errno. */
int report_json(const char *path, const struct grade_result *g);
int report_gradescope(const char *path, const struct grade_result *g);
/* JUnit XML: a testsuite per exercise, a testcase per check (report_junit.c). */
int report_junit(const char *path, const struct grade_result *g);
/* One self-contained HTML page per submission, with each speedup driver's timelines drawn from
 * out_dir/work/<ex>/<driver>.artifacts/ (report_html.c). */
int report_html(const char *path, const struct grade_result *g, const char *out_dir);
/* A Markdown summary, e.g. for GitHub's step summary (report_markdown.c). */
int report_markdown(const char *path, const struct grade_result *g);
/* Autolab's last line: {"scores": {"rlock": 100, ...}, "scoreboard": [...]} (report_autolab.c). */
void report_autolab(FILE *f, const struct grade_result *g);

#endif
