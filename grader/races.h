/* races.h - judge what a race detector found, by error kind and by frames in student code.
 *
 * Race, LockOrder and lock-misuse errors (UnlockUnlocked, UnlockForeign, UnlockBogus, PthAPIerror)
 * count against the student when any of their stacks reaches a student source file. Misc errors
 * (e.g. the legal "signal without the lock held" pattern, see ../shared/FACTS.md) never do; they
 * are only counted. Findings are deduplicated by kind and the student lines involved. */
#ifndef GRADER_RACES_H
#define GRADER_RACES_H

#include <stdbool.h>
#include <stddef.h>

#include "hgxml.h"

struct races_verdict {
	size_t findings;  /* distinct findings in student code */
	size_t misc;      /* Misc reports (ignored) */
	size_t foreign;   /* non-Misc reports with no student frame (ignored, kit or libc) */
	size_t set_aside; /* helgrind races ignored because the student uses atomics */
	char *message;    /* what to tell the student; "" when clean */
};

enum races_trust {
	RACES_HELGRIND,      /* helgrind alone ran: every finding counts */
	RACES_TSAN_TOO,      /* ThreadSanitizer ran too: helgrind's races whose access is inside
			      * the C library's own synchronization (a mutex freed just after
			      * another thread unlocked it: glibc's unlock still touches it, a
			      * known helgrind false alarm) are left to ThreadSanitizer */
	RACES_TSAN_ATOMICS,  /* the student uses atomics, which helgrind cannot see: all of
			      * helgrind's races are set aside, ThreadSanitizer's verdict stands */
};

/* workdir: where the student files were compiled (the frames' <dir>). Set-aside helgrind races
 * are counted in out->set_aside. */
void races_judge(const struct hg_report *r, char *const *student_files, size_t nfiles,
		 const char *workdir, enum races_trust trust, struct races_verdict *out);
void races_verdict_free(struct races_verdict *v);

#endif
