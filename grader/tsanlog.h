/* tsanlog.h - read ThreadSanitizer's text reports into the common race-report model.
 *
 * TSan writes one log per process (TSAN_OPTIONS=log_path=PREFIX gives PREFIX.<pid>). Each report
 * is "WARNING: ThreadSanitizer: <what>" followed by labelled stacks. Kinds are mapped to helgrind's
 * names so that races.c judges both tools alike: data race -> Race, lock-order-inversion ->
 * LockOrder, unlock of an unlocked mutex -> UnlockUnlocked, double lock / destroy of a locked
 * mutex -> PthAPIerror, heap-use-after-free -> UseAfterFree, thread leak and the rest -> Misc. */
#ifndef GRADER_TSANLOG_H
#define GRADER_TSANLOG_H

#include "hgxml.h"

/* Adds the reports of one log file to out. 0, or an errno when it cannot be read. */
int tsanlog_load(const char *path, struct hg_report *out);

#endif
