/* build.h - compile a submission against the kit's own header, check it against the policy, and
 * link the Check suite and the drivers around it.
 *
 * The student's files are copied into a private work dir with nothing else: their copy of the
 * header is never used (-I points at exercises/<ex>/ of the kit), so the contract cannot drift.
 * Student warnings are reported, never fatal. After compiling, exit/_exit/_Exit/quick_exit/
 * pthread_exit are renamed in the student's objects to guards (tests/common/tl_guard.h). */
#ifndef GRADER_BUILD_H
#define GRADER_BUILD_H

#include <stdbool.h>

#include "manifest.h"
#include "proc.h"

struct build_env {
	const char *kit;    /* the kit's root, absolute */
	const char *cc;     /* the C compiler */
	const char *common; /* where the kit's shared test objects go, absolute */
	bool strict;        /* -Werror on the kit's own sources (make test), never on students' */
	bool coverage;      /* build the student's code with --coverage (make coverage) */
	const struct proc_sandbox *sandbox; /* how student code is compiled; NULL: not confined */
	bool tsan;          /* the ThreadSanitizer variant: -fsanitize=thread everywhere, objects
			     * named <file>.tsan.o, programs <name>.tsan, common objects in
			     * <common>/tsan */
};

/* Compiles tests/common/ once into env->common. 0, or non-zero with *log set (a kit problem). */
int build_common(const struct build_env *env, char **log);

/* Compiles each student file in workdir (copied there already) into <file>.o. 0 when all
 * compiled; *log gets the compiler's output either way (warnings), "" when there was none. */
int build_student(const struct build_env *env, const struct manifest *m, const char *workdir,
		  char **log);

/* Checks the compiled objects and preprocessed sources against the manifest's policy. Returns
 * the number of violations; *msg explains each (with file:line for identifiers). */
int build_policy(const struct build_env *env, const struct manifest *m, const char *workdir,
		 char **msg);

/* True when the student's preprocessed sources use C11 or GCC atomics (helgrind cannot see
 * them). Call after build_policy (it reuses the preprocessed files). */
bool build_uses_atomics(const struct manifest *m, const char *workdir);

/* Renames the exit functions in the student objects (see tl_guard.h). 0 or non-zero + *log. */
int build_guard(const struct build_env *env, const struct manifest *m, const char *workdir,
		char **log);

/* Links workdir/check_<ex> from the generated suite, or workdir/<driver> from a driver source.
 * 0, or non-zero with the compiler/linker's output in *log. */
int build_suite(const struct build_env *env, const struct manifest *m, const char *workdir,
		char **log);
int build_driver(const struct build_env *env, const struct manifest *m,
		 const struct manifest_driver *d, const char *workdir, char **log);

#endif
