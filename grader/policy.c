/* policy.c - see policy.h. */
#include "policy.h"

#include <fnmatch.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"
#include "util.h"

/* Runs a read-only binutils command on a student object and returns its stdout. */
static char *capture(const char *cwd, char **argv, const char *out)
{
	struct proc_opts o = { .argv = argv, .cwd = cwd, .stdout_path = out, .timeout_s = 60 };
	struct proc_result r;

	if (proc_run(&o, &r) != 0 || r.timed_out || r.signaled || r.exit_code != 0)
		return NULL;
	return file_read(out, 64u << 20, NULL);
}

/* The names libc exports, one per line, sorted by nm (computed once per grader run). */
static char *libc_exports(const struct build_env *env, const char *workdir)
{
	static char *names;

	if (!names) {
		char *argv1[] = { (char *)env->cc, "-print-file-name=libc.so.6", NULL };
		char *tmp = xasprintf("%s/.libc.path", workdir), *path = capture(workdir, argv1, tmp);

		free(tmp);
		if (path) {
			path[strcspn(path, "\n")] = '\0';
			char *argv2[] = { "nm", "-D", "--defined-only", "--format=just-symbols", path,
					  NULL };

			tmp = xasprintf("%s/.libc.nm", workdir);
			names = capture(workdir, argv2, tmp);
			free(tmp);
			free(path);
		}
		if (!names)
			names = xstrdup("");
	}
	return names;
}

static bool line_listed(const char *lines, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = lines; (p = strstr(p, name)) != NULL; p += n)
		if ((p == lines || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0' || p[n] == '@'))
			return true;
	return false;
}

static bool allowed(json_t *patterns, const char *sym)
{
	size_t i;
	json_t *p;

	json_array_foreach(patterns, i, p)
		if (fnmatch(json_string_value(p), sym, 0) == 0)
			return true;
	return false;
}

static const char *forbidden_why(json_t *rules, const char *sym)
{
	size_t i;
	json_t *r;

	json_array_foreach(rules, i, r)
		if (strcmp(json_string_value(json_object_get(r, "symbol")), sym) == 0)
			return json_string_value(json_object_get(r, "why"));
	return NULL;
}

__attribute__((format(printf, 3, 4))) static void violation(struct strbuf *sb, int *n,
							       const char *fmt, ...)
{
	va_list ap;
	char *line;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		line = NULL;
	va_end(ap);
	sb_addf(sb, "%s%s", *n ? "\n" : "", line ? line : "?");
	free(line);
	(*n)++;
}

int policy_check_objects(const struct build_env *env, const struct manifest *m,
			 const char *workdir, char **msg)
{
	char *ppath = xasprintf("%s/tests/common/policy.json", env->kit);
	json_t *policy = json_load_file(ppath, 0, NULL);
	json_t *allow = json_object_get(policy, "allowed_calls");
	json_t *deny = json_object_get(policy, "forbidden_calls");
	struct strbuf sb = { 0 };
	int n = 0;

	free(ppath);
	if (!json_is_array(allow) || !json_is_array(deny)) {
		json_decref(policy);
		*msg = xstrdup("the kit's tests/common/policy.json is missing or broken");
		return 1;
	}
	for (size_t i = 0; i < m->nstudent_files; i++) {
		const char *f = m->student_files[i];
		char *obj = xasprintf("%s.o", f), *tmp = xasprintf("%s/.policy.out", workdir);
		char *argv_u[] = { "nm", "-u", "--format=just-symbols", obj, NULL };
		char *argv_d[] = { "nm", "-g", "--defined-only", "--format=just-symbols", obj, NULL };
		char *argv_s[] = { "objdump", "-h", obj, NULL };
		char *undef = capture(workdir, argv_u, tmp);
		char *defs = capture(workdir, argv_d, tmp);
		char *sections = capture(workdir, argv_s, tmp);
		char *save = NULL;

		for (char *s = undef ? strtok_r(undef, "\n", &save) : NULL; s;
		     s = strtok_r(NULL, "\n", &save)) {
			const char *why = forbidden_why(deny, s);

			if (why)
				violation(&sb, &n, "%s calls %s: %s.", f, s, why);
			else if (!allowed(allow, s))
				violation(&sb, &n, "%s calls %s, which the exercises do not allow "
						   "(threads, memory, strings, time and printing are "
						   "allowed).", f, s);
		}
		for (char *s = defs ? strtok_r(defs, "\n", &save) : NULL; s;
		     s = strtok_r(NULL, "\n", &save)) {
			if (strcmp(s, "main") == 0)
				violation(&sb, &n, "%s defines %s: a library has no main (the tests "
						   "have theirs).", f, s);
			else if (strncmp(s, "tl_", 3) == 0)
				violation(&sb, &n, "%s defines %s: names starting with tl_ belong to the "
						   "grader's test code.", f, s);
			else if (line_listed(libc_exports(env, workdir), s))
				violation(&sb, &n, "%s defines %s, which the C library also defines: it "
						   "would replace the library's for the whole test program. "
						   "Rename it or make it static.", f, s);
		}
		if (sections && (strstr(sections, ".init_array") || strstr(sections, ".ctors") ||
				 strstr(sections, ".fini_array") || strstr(sections, ".dtors")))
			violation(&sb, &n, "%s has a constructor or destructor (code that runs before "
					   "or after the tests): not allowed.", f);
		if (!undef || !defs || !sections)
			violation(&sb, &n, "%s: the grader could not read %s with nm/objdump.", f, obj);
		free(undef);
		free(defs);
		free(sections);
		free(obj);
		free(tmp);
	}
	json_decref(policy);
	*msg = sb_take(&sb);
	return n;
}
