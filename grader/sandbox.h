/* sandbox.h - choose how untrusted code runs, once per grader run.
 *
 * DESIGN: a submission is untrusted: its compilation and every run of its code go through
 * proc_run() with a proc_sandbox. The best available is chosen at start-up:
 *   bubblewrap  no network, a read-only system, a private /tmp, the kit's solutions/ and tests/,
 *               the submission and the output folder hidden, only the exercise's work dir
 *               writable; as root, the code also runs as an unprivileged uid of its own (so that
 *               RLIMIT_NPROC holds: root ignores it);
 *   limits      bubblewrap is missing or does not work: rlimits and, as root, the unprivileged
 *               uid; the report warns that files outside the work dir were not protected;
 *   none        --sandbox=none, for debugging the grader only.
 * Rlimits always apply: processes/threads, CPU time, file size, open files, and an address-space
 * limit on native runs and helgrind (never on ThreadSanitizer, which cannot run under one). */
#ifndef GRADER_SANDBOX_H
#define GRADER_SANDBOX_H

#include <stdbool.h>

#include "proc.h"

struct sandbox {
	struct proc_sandbox base; /* writable is set per exercise */
	char *description;        /* for the report: "bubblewrap, uid 61234" */
	bool contained;           /* false when files outside the work dir were not protected */
	char *hide[8];
	char *kit;
	int lock_fd; /* holds this grader's uid range (see sandbox.c) */
};

/* mode: "auto", "bwrap", "limits" or "none". 0, or EINVAL (with *err) for a bad or unavailable
 * mode. */
int sandbox_choose(struct sandbox *sb, const char *mode, const char *kit, const char *submission,
		   const char *out, char **err);

/* A copy of sb->base for one exercise: writable work dir, and the memory limit for native runs
 * (mem) or none (ThreadSanitizer). */
struct proc_sandbox sandbox_for(const struct sandbox *sb, const char *workdir, bool mem_limit);

/* Hands dir (recursively) to the sandbox uid so that sandboxed code can write there. */
void sandbox_give(const struct sandbox *sb, const char *dir);

void sandbox_free(struct sandbox *sb);

#endif
