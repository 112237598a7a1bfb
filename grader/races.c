/* races.c - see races.h. */
#include "races.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MAX_SHOWN 6

struct finding {
	char *key;
	char *text;
	unsigned count;
	bool helgrind, tsan; /* which tools saw it */
};

static bool is_student_frame(const struct hg_frame *f, char *const *files, size_t n,
			     const char *workdir)
{
	if (!f->file || (f->dir && strcmp(f->dir, workdir) != 0))
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(f->file, files[i]) == 0)
			return true;
	return false;
}

static const struct hg_frame *student_frame(const struct hg_stack *st, char *const *files,
					    size_t n, const char *workdir)
{
	for (size_t i = 0; i < st->nframes; i++)
		if (is_student_frame(&st->frames[i], files, n, workdir))
			return &st->frames[i];
	return NULL;
}

/* The best frame to name: the student's, else the first with a source file. */
static const struct hg_frame *named_frame(const struct hg_stack *st, char *const *files, size_t n,
					  const char *workdir)
{
	const struct hg_frame *f = student_frame(st, files, n, workdir);

	for (size_t i = 0; !f && i < st->nframes; i++)
		if (st->frames[i].file)
			f = &st->frames[i];
	return f;
}

static char *where(const struct hg_frame *f)
{
	if (!f)
		return xstrdup("(unknown place)");
	return xasprintf("%s (%s:%d)", f->fn ? f->fn : "??", f->file, f->line);
}

/* "Possible data race during read of size 4 at 0x4A8B0C8 by thread #3" ->
 * "read of size 4 by thread #3". */
static char *access_words(const char *label)
{
	const char *p = strstr(label, "during ");
	char *s, *at;

	s = xstrdup(p ? p + 7 : label);
	if ((at = strstr(s, " at 0x")) != NULL) {
		char *by = strstr(at, " by ");

		if (by)
			memmove(at, by, strlen(by) + 1);
		else
			*at = '\0';
	}
	return s;
}

/* "This conflicts with a previous write of size 4 by thread #2" -> "a previous write ..." */
static char *conflict_words(const char *label)
{
	const char *p = strstr(label, "with ");

	return xstrdup(p ? p + 5 : label);
}

static char *describe(const struct hg_error *e, char *const *files, size_t n, const char *workdir)
{
	const struct hg_stack *s0 = e->nstacks > 0 ? &e->stacks[0] : NULL;
	const struct hg_stack *s1 = e->nstacks > 1 ? &e->stacks[1] : NULL;
	char *w0 = where(s0 ? named_frame(s0, files, n, workdir) : NULL), *w1 = NULL, *text;

	if (strcmp(e->kind, "Race") == 0 && s0) {
		char *acc = access_words(s0->label), *prev = NULL;

		if (s1 && strstr(s1->label, "conflicts")) {
			w1 = where(named_frame(s1, files, n, workdir));
			prev = conflict_words(s1->label);
			text = xasprintf("data race: %s in %s conflicts with %s in %s. Every access to "
					 "shared state must hold the same lock (or use atomics).",
					 acc, w0, prev, w1);
		} else {
			text = xasprintf("data race: %s in %s conflicts with an access by another "
					 "thread. Every access to shared state must hold the same lock.",
					 acc, w0);
		}
		free(acc);
		free(prev);
	} else if (strcmp(e->kind, "LockOrder") == 0) {
		w1 = s1 ? where(named_frame(s1, files, n, workdir)) : xstrdup("elsewhere");
		text = xasprintf("lock order violated: %s takes two locks in the opposite order to %s. "
				 "Two threads doing this at once deadlock; take locks in one fixed order.",
				 w0, w1);
	} else {
		text = xasprintf("%s: %s in %s", e->kind, e->what, w0);
	}
	free(w0);
	free(w1);
	return text;
}

/* Kind and the student lines of the first two stacks, as an unordered pair: the same conflict
 * seen from either side is one finding. */
static char *key_of(const struct hg_error *e, char *const *files, size_t n, const char *workdir)
{
	char *loc[2];

	for (size_t i = 0; i < 2; i++) {
		const struct hg_frame *f =
			i < e->nstacks ? student_frame(&e->stacks[i], files, n, workdir) : NULL;

		loc[i] = xasprintf("%s:%d", f ? f->file : "-", f ? f->line : 0);
	}
	char *key = strcmp(loc[0], loc[1]) <= 0 ? xasprintf("%s|%s|%s", e->kind, loc[0], loc[1])
						: xasprintf("%s|%s|%s", e->kind, loc[1], loc[0]);
	free(loc[0]);
	free(loc[1]);
	return key;
}

/* Is the racing access itself (the top frame of either stack) inside the C library or helgrind's
 * own wrappers, rather than in code that touches the object directly? */
static bool inside_libc(const struct hg_error *e)
{
	for (size_t i = 0; i < e->nstacks && i < 2; i++) {
		const struct hg_frame *f = e->stacks[i].nframes ? &e->stacks[i].frames[0] : NULL;

		if (f && f->obj && (strstr(f->obj, "vgpreload_helgrind") || strstr(f->obj, "/libc.so")))
			return true;
		if (f && f->fn && strncmp(f->fn, "__pthread_", 10) == 0)
			return true;
	}
	return false;
}

void races_judge(const struct hg_report *r, char *const *files, size_t n, const char *workdir,
		 enum races_trust trust, struct races_verdict *out)
{
	struct finding *fs = NULL;
	size_t nfs = 0;
	struct strbuf sb = { 0 };

	*out = (struct races_verdict){ 0 };
	for (size_t i = 0; i < r->nerrors; i++) {
		const struct hg_error *e = &r->errors[i];
		bool mine = false;
		char *key;
		size_t j;

		if (strcmp(e->kind, "Misc") == 0) {
			out->misc++;
			continue;
		}
		if (trust != RACES_HELGRIND && strcmp(e->tool, "helgrind") == 0 &&
		    strcmp(e->kind, "Race") == 0 &&
		    (trust == RACES_TSAN_ATOMICS || inside_libc(e))) {
			out->set_aside++;
			continue;
		}
		for (j = 0; j < e->nstacks && !mine; j++)
			mine = student_frame(&e->stacks[j], files, n, workdir) != NULL;
		if (!mine) {
			out->foreign++;
			continue;
		}
		key = key_of(e, files, n, workdir);
		for (j = 0; j < nfs; j++)
			if (strcmp(fs[j].key, key) == 0)
				break;
		if (j < nfs) {
			fs[j].count++;
			free(key);
		} else {
			fs = xrealloc(fs, (nfs + 1) * sizeof *fs);
			fs[nfs++] = (struct finding){ key, describe(e, files, n, workdir), 1, false,
						      false };
		}
		if (strcmp(e->tool, "tsan") == 0)
			fs[j].tsan = true;
		else
			fs[j].helgrind = true;
	}
	out->findings = nfs;
	for (size_t j = 0; j < nfs; j++) {
		if (j < MAX_SHOWN) {
			sb_addf(&sb, "%s- %s [%s%s%s", j ? "\n" : "", fs[j].text,
				fs[j].helgrind ? "helgrind" : "", fs[j].helgrind && fs[j].tsan ? ", " : "",
				fs[j].tsan ? "ThreadSanitizer" : "");
			if (fs[j].count > 1)
				sb_addf(&sb, "; seen %u times", fs[j].count);
			sb_add(&sb, "]");
		}
		free(fs[j].key);
		free(fs[j].text);
	}
	if (nfs > MAX_SHOWN)
		sb_addf(&sb, "\n- ... and %zu more distinct findings", nfs - MAX_SHOWN);
	free(fs);
	out->message = sb_take(&sb);
}

void races_verdict_free(struct races_verdict *v)
{
	free(v->message);
	v->message = NULL;
}
