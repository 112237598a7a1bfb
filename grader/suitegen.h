/* suitegen.h - writes the Check suite of an exercise from its manifest.
 *
 * The manifest is the one list of tests: the generated file #includes the exercise's test source
 * and adds exactly the listed tests, in order, with each TCase's timeout. A START_TEST that is not
 * listed stays unused and fails -Werror (-Wunused-variable); a listed test that does not exist
 * fails to compile. */
#ifndef GRADER_SUITEGEN_H
#define GRADER_SUITEGEN_H

#include "manifest.h"

/* Writes the suite source to out_path. 0 or an errno (EINVAL for an unusable path). */
int suitegen_write(const struct manifest *m, const char *out_path);

#endif
