/* stacks.c - see stacks.h. */
#include "stacks.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"
#include "util.h"

struct frame {
	char *fn;
	char *file; /* basename, or NULL */
	int line;
};

struct thread {
	struct frame *frames;
	size_t n;
};

struct place {
	char *text;
	unsigned count;
};

static void parse_frame(const char *l, struct frame *f)
{
	const char *p = l + 1, *in, *at, *paren;

	*f = (struct frame){ 0 };
	while (*p >= '0' && *p <= '9')
		p++;
	while (*p == ' ')
		p++;
	if (p[0] == '0' && p[1] == 'x' && (in = strstr(p, " in ")) != NULL)
		p = in + 4;
	paren = strstr(p, " (");
	f->fn = paren ? strndup(p, (size_t)(paren - p)) : xstrdup(p);
	if ((at = strstr(l, ") at ")) != NULL) {
		const char *file = at + 5, *colon = strrchr(file, ':'), *slash;

		if (colon) {
			slash = memrchr(file, '/', (size_t)(colon - file));
			if (slash)
				file = slash + 1;
			f->file = strndup(file, (size_t)(colon - file));
			f->line = atoi(colon + 1);
		}
	}
}

static bool is_student(const struct frame *f, char *const *files, size_t n)
{
	for (size_t i = 0; f->file && i < n; i++)
		if (strcmp(f->file, files[i]) == 0)
			return true;
	return false;
}

/* "___pthread_cond_wait" -> "pthread_cond_wait"; sleeps and yields named plainly. */
static const char *call_name(const char *fn)
{
	if (strstr(fn, "cond_timedwait") || strstr(fn, "cond_clockwait"))
		return "pthread_cond_timedwait";
	if (strstr(fn, "cond_wait"))
		return "pthread_cond_wait";
	if (strstr(fn, "mutex_lock") || strstr(fn, "lll_lock"))
		return "pthread_mutex_lock";
	if (strstr(fn, "mutex_timedlock") || strstr(fn, "mutex_clocklock"))
		return "pthread_mutex_timedlock";
	if (strstr(fn, "pthread_join") || strstr(fn, "clockjoin"))
		return "pthread_join";
	if (strstr(fn, "barrier_wait"))
		return "pthread_barrier_wait";
	if (strstr(fn, "sem_") && strstr(fn, "wait"))
		return "sem_wait";
	if (strstr(fn, "nanosleep") || strstr(fn, "usleep") || strstr(fn, "sleep"))
		return "a sleep";
	if (strstr(fn, "sched_yield"))
		return "sched_yield";
	while (*fn == '_')
		fn++;
	return fn;
}

static char *describe(const struct thread *t, char *const *files, size_t n)
{
	size_t s = 0;
	const struct frame *below;

	while (s < t->n && !is_student(&t->frames[s], files, n))
		s++;
	if (s == t->n) {
		/* No student frame: name the first frame with a source file (test code). */
		size_t k = 0;

		while (k < t->n && !t->frames[k].file)
			k++;
		if (k == t->n || k == 0)
			return NULL;
		return xasprintf("in %s at %s:%d (in %s)", t->frames[k].fn, t->frames[k].file,
				 t->frames[k].line, call_name(t->frames[k - 1].fn));
	}
	if (s == 0)
		return xasprintf("running in %s at %s:%d (not blocked: spinning or looping?)",
				 t->frames[0].fn, t->frames[0].file, t->frames[0].line);
	below = &t->frames[s - 1];
	return xasprintf("blocked in %s at %s:%d (in %s)", t->frames[s].fn, t->frames[s].file,
			 t->frames[s].line, call_name(below->fn));
}

char *stacks_summarize(const char *path, char *const *files, size_t nfiles)
{
	size_t len;
	char *text = file_read(path, 4u << 20, &len), *save = NULL;
	struct thread *ts = NULL;
	size_t nt = 0;
	struct place *ps = NULL;
	size_t np = 0;
	struct strbuf sb = { 0 };

	if (!text)
		return NULL;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, "Thread ", 7) == 0) {
			ts = xrealloc(ts, (nt + 1) * sizeof *ts);
			ts[nt++] = (struct thread){ 0 };
		} else if (l[0] == '#' && nt > 0) {
			struct thread *t = &ts[nt - 1];

			t->frames = xrealloc(t->frames, (t->n + 1) * sizeof *t->frames);
			parse_frame(l, &t->frames[t->n++]);
		}
	}
	free(text);
	for (size_t i = 0; i < nt; i++) {
		char *d = describe(&ts[i], files, nfiles);
		size_t j;

		if (d) {
			for (j = 0; j < np && strcmp(ps[j].text, d) != 0; j++)
				;
			if (j < np) {
				ps[j].count++;
				free(d);
			} else {
				ps = xrealloc(ps, (np + 1) * sizeof *ps);
				ps[np++] = (struct place){ d, 1 };
			}
		}
		for (j = 0; j < ts[i].n; j++) {
			free(ts[i].frames[j].fn);
			free(ts[i].frames[j].file);
		}
		free(ts[i].frames);
	}
	free(ts);
	for (size_t j = 0; j < np; j++) {
		sb_addf(&sb, "%s%u thread%s %s", j ? "; " : "", ps[j].count,
			ps[j].count == 1 ? "" : "s", ps[j].text);
		free(ps[j].text);
	}
	free(ps);
	if (np == 0) {
		free(sb_take(&sb));
		return NULL;
	}
	return sb_take(&sb);
}

void stacks_capture(pid_t pid, const char *path)
{
	char spid[32];

	snprintf(spid, sizeof spid, "%d", (int)pid);
	char *argv[] = { "gdb", "-nx", "-batch", "-p", spid, "-iex", "set debuginfod enabled off",
			 "-ex", "set pagination off", "-ex", "set print frame-arguments none",
			 "-ex", "thread apply all bt 30", NULL };
	struct proc_opts o = { .argv = argv, .stdout_path = path, .stderr_path = path,
			       .timeout_s = 10 };
	struct proc_result r;

	proc_run(&o, &r);
}
