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

#endif
