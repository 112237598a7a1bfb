/* hgxml.h - read valgrind's XML output (helgrind's errors), with libxml2.
 *
 * struct hg_report is also the grader's common model of what a race detector found:
 * tsanlog.c reads ThreadSanitizer's reports into it, so races.c judges both alike.
 *
 * An <error> is a kind, a headline (<xwhat>) and a sequence of stacks, each introduced by a label
 * (<xwhat>, <xauxwhat> or <auxwhat> text): for a Race the current access and the conflicting
 * previous one, for a LockOrder the acquisition that breaks the order and the ones that set it. */
#ifndef GRADER_HGXML_H
#define GRADER_HGXML_H

#include <stdbool.h>
#include <stddef.h>

struct hg_frame {
	char *fn, *file, *dir; /* any may be NULL (no debug info) */
	char *obj;             /* the binary or library; may be NULL */
	int line;
};

struct hg_stack {
	char *label;
	struct hg_frame *frames;
	size_t nframes;
};

struct hg_error {
	const char *tool; /* "helgrind" or "tsan" (static strings) */
	char *kind; /* Race, LockOrder, UnlockUnlocked, UnlockForeign, UnlockBogus, PthAPIerror, Misc */
	char *what;
	struct hg_stack *stacks;
	size_t nstacks;
};

struct hg_report {
	struct hg_error *errors;
	size_t nerrors;
	size_t nfiles;     /* XML files read */
	bool finished;     /* every file had <status><state>FINISHED */
};

/* Adds the errors of one XML file to out (zero it first). 0, or EINVAL when the file cannot be
 * parsed at all (valgrind killed before writing anything useful). */
int hgxml_load(const char *path, struct hg_report *out);
void hgxml_free(struct hg_report *r);

#endif
