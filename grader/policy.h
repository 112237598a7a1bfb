/* policy.h - what student code may call and define, read off its object file with nm.
 *
 * Kit-wide rules live in tests/common/policy.json: forbidden calls with their reason (fork, exec,
 * sockets, files, signals, raw syscalls...), and an allowlist every other call must match
 * (pthread_*, memory, strings, time, stdio output...). Whatever the exercise, student code must
 * not define main, constructors or destructors (code that runs before or after the tests), nor any
 * symbol the C library exports (pthread_mutex_lock, malloc...): the definition would replace the
 * library's for the whole test program, tests and grader code included. */
#ifndef GRADER_POLICY_H
#define GRADER_POLICY_H

#include "build.h"

/* Checks each student object in workdir. Returns the number of violations; *msg (never NULL)
 * names each one and says why, one per line. */
int policy_check_objects(const struct build_env *env, const struct manifest *m,
			 const char *workdir, char **msg);

#endif
