/* build.c - see build.h. */
#include "build.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"
#include "suitegen.h"
#include "util.h"

#ifndef TL_TEST_LIBS
#define TL_TEST_LIBS "-lcheck_pic -lrt -lm -lsubunit -ljansson"
#endif

#define LOG_HEAD 6000
#define LOG_TAIL 2000

static const char *common_sources[] = { "tl_test", "tl_witness", "tl_result", "tl_guard",
					"tl_hang", "check_main" };

struct argv {
	char **v;
	size_t n;
};

static void arg(struct argv *a, const char *s)
{
	a->v = xrealloc(a->v, (a->n + 2) * sizeof *a->v);
	a->v[a->n++] = xstrdup(s);
	a->v[a->n] = NULL;
}

static void argf(struct argv *a, const char *fmt, const char *s)
{
	char *t = xasprintf(fmt, s);

	arg(a, t);
	free(t);
}

static void arg_words(struct argv *a, const char *words)
{
	char *copy = xstrdup(words), *save = NULL;

	for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
		arg(a, w);
	free(copy);
}

static void argv_free(struct argv *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	*a = (struct argv){ 0 };
}

/* Runs a build tool; its output (stdout and stderr) goes to *log when log is not NULL. */
static int tool_in(const char *cwd, struct argv *a, const char *logpath, char **log,
		   const struct proc_sandbox *sb)
{
	struct proc_opts o = { .argv = a->v, .cwd = cwd, .stdout_path = logpath,
			       .stderr_path = logpath, .timeout_s = 120, .cpu_s = 120,
			       .sandbox = sb };
	struct proc_result r;
	char desc[128];
	int rc = proc_run(&o, &r);

	if (log) {
		char *out = file_read_headtail(logpath, LOG_HEAD, LOG_TAIL);

		if (rc != 0) {
			*log = xasprintf("%s could not be started: %s", a->v[0], strerror(rc));
			free(out);
		} else if (r.timed_out || r.signaled) {
			*log = xasprintf("%s%s %s", out, a->v[0], proc_describe(&r, desc, sizeof desc));
			free(out);
		} else {
			*log = out;
		}
	}
	argv_free(a);
	if (rc != 0)
		return rc;
	return r.timed_out || r.signaled ? -1 : r.exit_code;
}

/* The kit's own build steps: trusted, not confined. */
static int tool(const char *cwd, struct argv *a, const char *logpath, char **log)
{
	return tool_in(cwd, a, logpath, log, NULL);
}

static const char *osuf(const struct build_env *env)
{
	return env->tsan ? ".tsan.o" : ".o";
}

static char *common_dir(const struct build_env *env)
{
	return env->tsan ? xasprintf("%s/tsan", env->common) : xstrdup(env->common);
}

int build_common(const struct build_env *env, char **log)
{
	char *dir = common_dir(env);
	int rc = 0;

	*log = NULL;
	if (mkdirs(dir, 0755) != 0) {
		*log = xasprintf("cannot create %s: %s", dir, strerror(errno));
		free(dir);
		return -1;
	}
	for (size_t i = 0; i < sizeof common_sources / sizeof *common_sources; i++) {
		char *obj = xasprintf("%s/%s.o", dir, common_sources[i]);
		char *logpath = xasprintf("%s/%s.log", dir, common_sources[i]);
		struct argv a = { 0 };

		if (file_exists(obj)) {
			free(obj);
			free(logpath);
			continue;
		}
		arg(&a, env->cc);
		arg_words(&a, "-std=gnu11 -D_GNU_SOURCE -Wall -Wextra -g -O1 -pthread -c");
		if (env->strict)
			arg(&a, "-Werror");
		if (env->tsan)
			arg(&a, "-fsanitize=thread");
		argf(&a, "-I%s/tests/common", env->kit);
		{
			char *src = xasprintf("%s/tests/common/%s.c", env->kit, common_sources[i]);

			arg(&a, src);
			free(src);
		}
		arg(&a, "-o");
		arg(&a, obj);
		rc = tool(dir, &a, logpath, log);
		free(obj);
		free(logpath);
		if (rc != 0)
			break;
		free(*log);
		*log = NULL;
	}
	free(dir);
	return rc;
}

static void student_cflags(struct argv *a, const struct build_env *env, const struct manifest *m)
{
	char *inc = xasprintf("-I%s/exercises/%s", env->kit, m->name);

	arg(a, env->cc);
	/* -fno-inline keeps every student function in the race detector's stacks. */
	arg_words(a, "-std=gnu11 -D_GNU_SOURCE -Wall -Wextra -g -O1 -fno-inline "
		     "-fno-omit-frame-pointer -pthread");
	if (env->coverage)
		arg_words(a, "--coverage -O0");
	if (env->tsan)
		arg(a, "-fsanitize=thread");
	arg(a, inc);
	free(inc);
}

int build_student(const struct build_env *env, const struct manifest *m, const char *workdir,
		  char **log)
{
	struct strbuf sb = { 0 };
	int failed = 0;

	for (size_t i = 0; i < m->nstudent_files; i++) {
		const char *f = m->student_files[i];
		struct argv a = { 0 };
		char *obj = xasprintf("%s%s", f, osuf(env));
		char *logpath = xasprintf("%s/compile.%zu%s.log", workdir, i, env->tsan ? ".tsan" : "");
		char *out = NULL;

		student_cflags(&a, env, m);
		arg(&a, "-c");
		arg(&a, f);
		arg(&a, "-o");
		arg(&a, obj);
		if (tool_in(workdir, &a, logpath, &out, env->sandbox) != 0)
			failed = 1;
		sb_add(&sb, out ? out : "");
		free(out);
		free(obj);
		free(logpath);
	}
	*log = sb_take(&sb);
	return failed;
}

/* Scans a preprocessed file for identifiers, in lines that come from the student's file only. */
static void scan_identifiers(const char *ipath, const char *student_file,
			     const struct manifest_rule *rules, size_t nrules, struct strbuf *msg,
			     int *violations, bool *atomics)
{
	size_t len;
	char *text = file_read(ipath, 64u << 20, &len);
	char *save = NULL;
	bool mine = false;
	long line = 0;

	if (!text)
		return;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *p = l;

		/* Line markers: # 12 "rlock.c" 2 */
		if (l[0] == '#' && l[1] == ' ' && isdigit((unsigned char)l[2])) {
			char *q = strchr(l, '"');

			line = strtol(l + 2, NULL, 10) - 1;
			mine = q && strncmp(q + 1, student_file, strlen(student_file)) == 0 &&
			       q[1 + strlen(student_file)] == '"';
			continue;
		}
		line++;
		if (!mine)
			continue;
		while (*p) {
			char *start;

			if (!(isalpha((unsigned char)*p) || *p == '_')) {
				if (*p == '"' || *p == '\'') { /* skip string and char literals */
					char q = *p++;

					while (*p && *p != q)
						p += (*p == '\\' && p[1]) ? 2 : 1;
					if (*p)
						p++;
					continue;
				}
				p++;
				continue;
			}
			start = p;
			while (isalnum((unsigned char)*p) || *p == '_')
				p++;
			{
				size_t n = (size_t)(p - start);

				for (size_t r = 0; r < nrules; r++) {
					if (strlen(rules[r].what) == n &&
					    strncmp(start, rules[r].what, n) == 0) {
						sb_addf(msg, "%s%s:%ld uses %s: %s", *violations ? "\n" : "",
							student_file, line, rules[r].what, rules[r].why);
						(*violations)++;
					}
				}
				if (atomics && ((n == 7 && strncmp(start, "_Atomic", 7) == 0) ||
						strncmp(start, "atomic_", 7) == 0 ||
						strncmp(start, "__atomic_", 9) == 0 ||
						strncmp(start, "__sync_", 7) == 0))
					*atomics = true;
			}
		}
	}
	free(text);
}

int build_policy(const struct build_env *env, const struct manifest *m, const char *workdir,
		 char **msg)
{
	struct strbuf sb = { 0 };
	int violations = 0;

	for (size_t i = 0; i < m->nstudent_files; i++) {
		const char *f = m->student_files[i];
		char *ipath = xasprintf("%s/%s.i", workdir, f);
		char *nmpath = xasprintf("%s/%s.nm", workdir, f);
		char *obj = xasprintf("%s.o", f);
		struct argv a = { 0 };
		char *out = NULL;

		student_cflags(&a, env, m);
		arg_words(&a, "-E -o");
		arg(&a, ipath);
		arg(&a, f);
		tool_in(workdir, &a, NULL, NULL, env->sandbox);
		scan_identifiers(ipath, f, m->forbidden_identifiers, m->nforbidden_identifiers, &sb,
				 &violations, NULL);
		if (m->nforbidden_symbols > 0) {
			arg(&a, "nm");
			arg_words(&a, "-P -u");
			arg(&a, obj);
		}
		if (m->nforbidden_symbols > 0 && tool(workdir, &a, nmpath, &out) == 0) {
			char *save = NULL;

			for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
				char *sp = strchr(l, ' ');

				if (sp)
					*sp = '\0';
				for (size_t r = 0; r < m->nforbidden_symbols; r++) {
					if (strcmp(l, m->forbidden_symbols[r].what) == 0) {
						sb_addf(&sb, "%s%s calls %s: %s", violations ? "\n" : "",
							f, l, m->forbidden_symbols[r].why);
						violations++;
					}
				}
			}
		}
		free(out);
		free(ipath);
		free(nmpath);
		free(obj);
	}
	*msg = sb_take(&sb);
	return violations;
}

bool build_uses_atomics(const struct manifest *m, const char *workdir)
{
	bool atomics = false;
	struct strbuf dummy = { 0 };
	int n = 0;

	for (size_t i = 0; i < m->nstudent_files && !atomics; i++) {
		char *ipath = xasprintf("%s/%s.i", workdir, m->student_files[i]);

		scan_identifiers(ipath, m->student_files[i], NULL, 0, &dummy, &n, &atomics);
		free(ipath);
	}
	free(sb_take(&dummy));
	return atomics;
}

int build_guard(const struct build_env *env, const struct manifest *m, const char *workdir,
		char **log)
{
	static const char *renames[] = {
		"exit=tl_guard_exit", "_exit=tl_guard__exit", "_Exit=tl_guard__Exit",
		"quick_exit=tl_guard_quick_exit", "pthread_exit=tl_guard_pthread_exit",
	};

	*log = NULL;
	for (size_t i = 0; i < m->nstudent_files; i++) {
		char *obj = xasprintf("%s%s", m->student_files[i], osuf(env));
		char *logpath = xasprintf("%s/objcopy.log", workdir);
		struct argv a = { 0 };
		int rc;

		arg(&a, "objcopy");
		for (size_t r = 0; r < sizeof renames / sizeof *renames; r++) {
			arg(&a, "--redefine-sym");
			arg(&a, renames[r]);
		}
		arg(&a, obj);
		rc = tool(workdir, &a, logpath, log);
		free(obj);
		free(logpath);
		if (rc != 0)
			return rc;
		free(*log);
		*log = NULL;
	}
	return 0;
}

/* Compiles one kit source and links it with the student's objects and the common objects. */
static int link_program(const struct build_env *env, const struct manifest *m,
			const char *source, const char *exe, bool with_check_main,
			const char *workdir, char **log)
{
	struct argv a = { 0 };
	char *logpath = xasprintf("%s/link.%s.log", workdir, exe);
	int rc;

	arg(&a, env->cc);
	arg_words(&a, "-std=gnu11 -D_GNU_SOURCE -Wall -Wextra -g -O1 -pthread "
		      "-fno-omit-frame-pointer -rdynamic");
	if (env->strict)
		arg(&a, "-Werror");
	if (env->coverage)
		arg(&a, "--coverage");
	if (env->tsan)
		arg(&a, "-fsanitize=thread");
	{
		char *i1 = xasprintf("-I%s/exercises/%s", env->kit, m->name);
		char *i2 = xasprintf("-I%s/tests/common", env->kit);
		char *i3 = xasprintf("-I%s", m->dir);

		arg(&a, i1);
		arg(&a, i2);
		arg(&a, i3);
		free(i1);
		free(i2);
		free(i3);
	}
	arg(&a, "-o");
	arg(&a, exe);
	arg(&a, source);
	for (size_t i = 0; i < m->nstudent_files; i++) {
		char *obj = xasprintf("%s%s", m->student_files[i], osuf(env));

		arg(&a, obj);
		free(obj);
	}
	char *dir = common_dir(env);
	for (size_t i = 0; i < sizeof common_sources / sizeof *common_sources; i++) {
		char *obj;

		if (!with_check_main && strcmp(common_sources[i], "check_main") == 0)
			continue;
		obj = xasprintf("%s/%s.o", dir, common_sources[i]);
		arg(&a, obj);
		free(obj);
	}
	free(dir);
	arg_words(&a, TL_TEST_LIBS);
	arg(&a, "-ldl");
	rc = tool(workdir, &a, logpath, log);
	free(logpath);
	return rc;
}

int build_suite(const struct build_env *env, const struct manifest *m, const char *workdir,
		char **log)
{
	char *gen = xasprintf("%s/suite_%s.c", workdir, m->name);
	char *exe = xasprintf("check_%s", m->name);
	int rc = suitegen_write(m, gen);

	if (rc != 0) {
		*log = xasprintf("cannot generate the suite for %s: %s", m->name, strerror(rc));
	} else {
		rc = link_program(env, m, gen, exe, true, workdir, log);
	}
	free(gen);
	free(exe);
	return rc;
}

int build_driver(const struct build_env *env, const struct manifest *m,
		 const struct manifest_driver *d, const char *workdir, char **log)
{
	char *src = xasprintf("%s/%s", m->dir, d->source);
	char *exe = xasprintf("%s%s", d->name, env->tsan ? ".tsan" : "");
	int rc = link_program(env, m, src, exe, false, workdir, log);

	free(src);
	free(exe);
	return rc;
}
