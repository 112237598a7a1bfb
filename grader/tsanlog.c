/* tsanlog.c - see tsanlog.h. */
#include "tsanlog.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *kind_of(const char *what)
{
	if (strncmp(what, "data race", 9) == 0)
		return "Race";
	if (strncmp(what, "lock-order-inversion", 20) == 0)
		return "LockOrder";
	if (strstr(what, "unlock of an unlocked mutex"))
		return "UnlockUnlocked";
	if (strstr(what, "double lock") || strstr(what, "destroy of a locked mutex") ||
	    strstr(what, "read lock of a write locked"))
		return "PthAPIerror";
	if (strstr(what, "use-after-free"))
		return "UseAfterFree";
	return "Misc";
}

/* "    #3 rlock_acquire /w/work/rlock/rlock.c:41 (check+0x12)" */
static void parse_frame(const char *l, struct hg_frame *f)
{
	const char *p = strchr(l, '#'), *sp;
	char *loc, *c1, *c2;

	*f = (struct hg_frame){ 0 };
	while (p && *p && !isspace((unsigned char)*p))
		p++;
	while (p && isspace((unsigned char)*p))
		p++;
	if (!p || !*p)
		return;
	sp = strchr(p, ' ');
	f->fn = sp ? strndup(p, (size_t)(sp - p)) : xstrdup(p);
	if (!sp)
		return;
	p = sp + 1;
	sp = strchr(p, ' ');
	loc = sp ? strndup(p, (size_t)(sp - p)) : xstrdup(p);
	if (sp && sp[1] == '(') {
		const char *plus = strchr(sp + 2, '+');

		f->obj = plus ? strndup(sp + 2, (size_t)(plus - sp - 2)) : NULL;
	}
	/* file:line or file:line:column */
	c2 = strrchr(loc, ':');
	if (c2 && isdigit((unsigned char)c2[1]) && loc[0] != '(') {
		*c2 = '\0';
		c1 = strrchr(loc, ':');
		if (c1 && isdigit((unsigned char)c1[1])) {
			*c1 = '\0';
			f->line = atoi(c1 + 1);
		} else {
			f->line = atoi(c2 + 1);
		}
		char *slash = strrchr(loc, '/');

		if (slash) {
			f->file = xstrdup(slash + 1);
			f->dir = strndup(loc, (size_t)(slash - loc));
		} else {
			f->file = xstrdup(loc);
		}
	}
	free(loc);
}

/* Helgrind's phrasing, which races.c knows how to shorten:
 * "Read of size 4 at 0x.. by main thread:"          -> "Possible data race during read of ..."
 * "Previous write of size 4 at 0x.. by thread T1:"  -> "This conflicts with a previous write ..." */
static char *label_of(const char *l, bool first_of_race)
{
	char *s;
	size_t n;

	while (isspace((unsigned char)*l))
		l++;
	s = xstrdup(l);
	n = strlen(s);
	if (n && s[n - 1] == ':')
		s[--n] = '\0';
	if (strncmp(s, "Previous ", 9) == 0) {
		char *t = xasprintf("This conflicts with a previous %s", s + 9);

		free(s);
		return t;
	}
	if (first_of_race && (strncmp(s, "Read", 4) == 0 || strncmp(s, "Write", 5) == 0 ||
			      strncmp(s, "Atomic", 6) == 0)) {
		char *t;

		s[0] = (char)tolower((unsigned char)s[0]);
		t = xasprintf("Possible data race during %s", s);
		free(s);
		return t;
	}
	return s;
}

int tsanlog_load(const char *path, struct hg_report *out)
{
	char *text = file_read(path, 16u << 20, NULL), *save = NULL;
	struct hg_error *cur = NULL;
	char *label = NULL;

	if (!text)
		return errno ? errno : EIO;
	text_sanitize(text);
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		const char *w = strstr(l, "WARNING: ThreadSanitizer: ");

		if (w) {
			char *what = xstrdup(w + 26), *pid = strstr(what, " (pid=");

			if (pid)
				*pid = '\0';
			out->errors = xrealloc(out->errors, (out->nerrors + 1) * sizeof *out->errors);
			cur = &out->errors[out->nerrors++];
			*cur = (struct hg_error){ "tsan", xstrdup(kind_of(what)), what, NULL, 0 };
			free(label);
			label = NULL;
			continue;
		}
		if (!cur)
			continue;
		if (strncmp(l, "SUMMARY:", 8) == 0 || strncmp(l, "=====", 5) == 0) {
			cur = NULL;
			continue;
		}
		if (strncmp(l, "    #", 5) == 0) {
			struct hg_stack *st;

			if (label || cur->nstacks == 0) {
				cur->stacks = xrealloc(cur->stacks, (cur->nstacks + 1) * sizeof *cur->stacks);
				st = &cur->stacks[cur->nstacks++];
				*st = (struct hg_stack){ label ? label : xstrdup(""), NULL, 0 };
				label = NULL;
			}
			st = &cur->stacks[cur->nstacks - 1];
			st->frames = xrealloc(st->frames, (st->nframes + 1) * sizeof *st->frames);
			parse_frame(l, &st->frames[st->nframes++]);
		} else if (strncmp(l, "  ", 2) == 0 && !isspace((unsigned char)l[2])) {
			free(label);
			label = label_of(l, strcmp(cur->kind, "Race") == 0 && cur->nstacks == 0);
		}
	}
	free(label);
	free(text);
	out->nfiles++;
	return 0;
}
