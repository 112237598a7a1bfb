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
		return xasprintf("(test code) in %s at %s:%d (in %s)", t->frames[k].fn, t->frames[k].file,
				 t->frames[k].line, call_name(t->frames[k - 1].fn));
	}
	if (s == 0)
		return xasprintf("running in %s at %s:%d (not blocked: spinning or looping?)",
				 t->frames[0].fn, t->frames[0].file, t->frames[0].line);
	below = &t->frames[s - 1];
	return xasprintf("blocked in %s at %s:%d (in %s)", t->frames[s].fn, t->frames[s].file,
			 t->frames[s].line, call_name(below->fn));
}

/* ---- stacks written by tests/common/tl_hang.c: "thread N" then backtrace_symbols lines ---- */

struct rawframe {
	char *obj; /* as printed: "./check_rlock", "/lib/x86_64-linux-gnu/libc.so.6" */
	char *sym; /* may be "" */
	unsigned long off;
};

static void parse_raw(const char *l, struct rawframe *r)
{
	const char *open = strchr(l, '('), *plus, *close;

	*r = (struct rawframe){ 0 };
	if (!open || !(close = strchr(open, ')'))) {
		r->obj = xstrdup(l);
		r->sym = xstrdup("");
		return;
	}
	r->obj = strndup(l, (size_t)(open - l));
	plus = memchr(open, '+', (size_t)(close - open));
	r->sym = strndup(open + 1, (size_t)((plus ? plus : close) - open - 1));
	r->off = plus ? strtoul(plus + 1, NULL, 16) : 0;
}

/* The address of each symbol of exe, from nm (static functions included). */
static unsigned long sym_addr(const char *nmout, const char *sym)
{
	size_t n = strlen(sym);

	/* Lines look like "0000000000001a2b T rlock_acquire". */
	for (const char *l = nmout; l && *l;) {
		const char *nl = strchr(l, '\n'), *end = nl ? nl : l + strlen(l);

		if ((size_t)(end - l) > n + 1 && end[-(long)n - 1] == ' ' &&
		    strncmp(end - n, sym, n) == 0)
			return strtoul(l, NULL, 16);
		l = nl ? nl + 1 : NULL;
	}
	return 0;
}

static char *run_capture(const char *cwd, char **argv, const char *outpath)
{
	struct proc_opts o = { .argv = argv, .cwd = cwd, .stdout_path = outpath,
			       .timeout_s = 30 };
	struct proc_result r;

	if (proc_run(&o, &r) != 0 || r.timed_out || r.exit_code != 0)
		return NULL;
	return file_read(outpath, 16u << 20, NULL);
}

/* Turns the raw frames of every thread into fn/file/line, with nm and addr2line on the
 * executable (one run of each). */
static void symbolize(struct thread *ts, size_t nt, struct rawframe **raw, const char *cwd)
{
	const char *exe = NULL;
	char *nmout = NULL, *a2l = NULL, *tmp;
	struct strbuf addrs = { 0 };
	size_t count = 0;

	for (size_t i = 0; i < nt && !exe; i++)
		for (size_t j = 0; j < ts[i].n && !exe; j++)
			if (strncmp(raw[i][j].obj, "./", 2) == 0)
				exe = raw[i][j].obj;
	if (exe) {
		char *argv[] = { "nm", (char *)exe, NULL };

		tmp = xasprintf("%s/.nm.out", cwd);
		nmout = run_capture(cwd, argv, tmp);
		free(tmp);
	}
	for (size_t i = 0; i < nt; i++) {
		for (size_t j = 0; j < ts[i].n; j++) {
			struct rawframe *r = &raw[i][j];
			unsigned long base = 0;

			if (!exe || strcmp(r->obj, exe) != 0)
				continue;
			if (*r->sym && nmout)
				base = sym_addr(nmout, r->sym);
			sb_addf(&addrs, "0x%lx ", base + r->off - (r->off > 0 ? 1 : 0));
			count++;
		}
	}
	if (count > 0) {
		char *list = sb_take(&addrs);
		char *argv_a2l[] = { "sh", "-c", NULL, NULL };

		argv_a2l[2] = xasprintf("addr2line -f -e '%s' %s", exe, list);
		tmp = xasprintf("%s/.a2l.out", cwd);
		a2l = run_capture(cwd, argv_a2l, tmp);
		free(tmp);
		free(argv_a2l[2]);
		free(list);
	} else {
		free(sb_take(&addrs));
	}
	/* addr2line -f prints two lines per address, in order: function, file:line. */
	char *save = NULL, *line = a2l ? strtok_r(a2l, "\n", &save) : NULL;

	for (size_t i = 0; i < nt; i++) {
		for (size_t j = 0; j < ts[i].n; j++) {
			struct rawframe *r = &raw[i][j];
			struct frame *f = &ts[i].frames[j];

			if (exe && strcmp(r->obj, exe) == 0 && line) {
				char *fileline = strtok_r(NULL, "\n", &save), *colon, *slash;

				f->fn = xstrdup(line);
				if (fileline && (colon = strrchr(fileline, ':')) && fileline[0] != '?') {
					slash = memrchr(fileline, '/', (size_t)(colon - fileline));
					f->file = strndup(slash ? slash + 1 : fileline,
							  (size_t)(colon - (slash ? slash + 1 : fileline)));
					f->line = atoi(colon + 1);
				}
				line = strtok_r(NULL, "\n", &save);
			} else {
				f->fn = xstrdup(*r->sym ? r->sym : "??");
			}
		}
	}
	free(nmout);
	free(a2l);
}

static struct thread *parse_tl_hang(char *text, size_t *nt_out, const char *cwd)
{
	struct thread *ts = NULL;
	struct rawframe **raw = NULL;
	size_t nt = 0;
	char *save = NULL;

	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, "thread ", 7) == 0) {
			ts = xrealloc(ts, (nt + 1) * sizeof *ts);
			raw = xrealloc(raw, (nt + 1) * sizeof *raw);
			ts[nt] = (struct thread){ 0 };
			raw[nt++] = NULL;
		} else if (nt > 0) {
			struct thread *t = &ts[nt - 1];

			raw[nt - 1] = xrealloc(raw[nt - 1], (t->n + 1) * sizeof **raw);
			parse_raw(l, &raw[nt - 1][t->n]);
			t->frames = xrealloc(t->frames, (t->n + 1) * sizeof *t->frames);
			t->frames[t->n++] = (struct frame){ 0 };
		}
	}
	symbolize(ts, nt, raw, cwd);
	/* Drop the frames of the signal handler that took the stack, and the signal trampoline. */
	for (size_t i = 0; i < nt; i++) {
		size_t k = 0;

		for (size_t j = 0; j < ts[i].n; j++)
			if (ts[i].frames[j].fn && strcmp(ts[i].frames[j].fn, "on_signal") == 0)
				k = j + 2;
		for (size_t j = 0; j < k && j < ts[i].n; j++) {
			free(ts[i].frames[j].fn);
			free(ts[i].frames[j].file);
		}
		if (k > ts[i].n)
			k = ts[i].n;
		memmove(ts[i].frames, ts[i].frames + k, (ts[i].n - k) * sizeof *ts[i].frames);
		ts[i].n -= k;
		for (size_t j = 0; raw[i] && j < ts[i].n + k; j++) {
			free(raw[i][j].obj);
			free(raw[i][j].sym);
		}
		free(raw[i]);
	}
	free(raw);
	*nt_out = nt;
	return ts;
}

static struct thread *parse_gdb(char *text, size_t *nt_out)
{
	struct thread *ts = NULL;
	size_t nt = 0;
	char *save = NULL;

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
	*nt_out = nt;
	return ts;
}

char *stacks_summarize(const char *path, char *const *files, size_t nfiles, const char *cwd)
{
	char *text = file_read(path, 4u << 20, NULL);
	struct thread *ts;
	size_t nt = 0;
	struct place *ps = NULL;
	size_t np = 0;
	struct strbuf sb = { 0 };

	if (!text)
		return NULL;
	ts = strncmp(text, "thread ", 7) == 0 ? parse_tl_hang(text, &nt, cwd) : parse_gdb(text, &nt);
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

/* The deepest descendant of pid: the program itself when pid is bubblewrap or setpriv. */
static pid_t leaf_of(pid_t pid)
{
	for (int depth = 0; depth < 8; depth++) {
		char *path = xasprintf("/proc/%d/task/%d/children", (int)pid, (int)pid);
		char *kids = file_read(path, 4096, NULL);
		long next = kids ? strtol(kids, NULL, 10) : 0;

		free(path);
		free(kids);
		if (next <= 0)
			break;
		pid = (pid_t)next;
	}
	return pid;
}

void stacks_capture(pid_t pid, const char *path)
{
	char spid[32];

	pid = leaf_of(pid);
	snprintf(spid, sizeof spid, "%d", (int)pid);
	char *argv[] = { "gdb", "-nx", "-batch", "-p", spid, "-iex", "set debuginfod enabled off",
			 "-ex", "set pagination off", "-ex", "set print frame-arguments none",
			 "-ex", "thread apply all bt 30", NULL };
	struct proc_opts o = { .argv = argv, .stdout_path = path, .stderr_path = path,
			       .timeout_s = 10 };
	struct proc_result r;

	proc_run(&o, &r);
}
