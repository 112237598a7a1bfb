/* manifest.c - load and validate tests/<ex>/manifest.json with jansson. */
#include "manifest.h"

#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return EINVAL;
}

static char *str_or_null(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

static bool is_c_identifier(const char *s)
{
	if (!s || !*s || !(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return false;
	for (; *s; s++)
		if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

static int load_rules(json_t *arr, const char *key, struct manifest_rule **out, size_t *n,
		      char *err, size_t errlen)
{
	size_t i;
	json_t *r;

	if (!arr)
		return 0;
	if (!json_is_array(arr))
		return bad(err, errlen, "policy.%ss must be an array", key);
	*out = xcalloc(json_array_size(arr) + 1, sizeof **out);
	json_array_foreach(arr, i, r) {
		char *what = str_or_null(r, key), *why = str_or_null(r, "why");

		if (!is_c_identifier(what) || !why) {
			free(what);
			free(why);
			return bad(err, errlen, "policy.forbidden_%ss[%zu] needs \"%s\" (a C name) and \"why\"",
				   key, i, key);
		}
		(*out)[(*n)++] = (struct manifest_rule){ what, why };
	}
	return 0;
}

static int load_tcases(struct manifest *m, json_t *suite, char *err, size_t errlen)
{
	json_t *tcs = json_object_get(suite, "tcases"), *tc;
	size_t i;

	if (!json_is_array(tcs) || json_array_size(tcs) == 0)
		return bad(err, errlen, "suite.tcases must be a non-empty array");
	m->tcases = xcalloc(json_array_size(tcs), sizeof *m->tcases);
	json_array_foreach(tcs, i, tc) {
		struct manifest_tcase *t = &m->tcases[m->ntcases++];
		json_t *tests = json_object_get(tc, "tests"), *name;
		size_t j;

		t->name = str_or_null(tc, "name");
		t->points = json_number_value(json_object_get(tc, "points"));
		t->timeout_s = json_number_value(json_object_get(tc, "timeout_s"));
		t->hidden = json_is_true(json_object_get(tc, "hidden"));
		if (!is_c_identifier(t->name))
			return bad(err, errlen, "suite.tcases[%zu].name must be a C-like name", i);
		if (t->points < 0 || t->timeout_s <= 0)
			return bad(err, errlen, "tcase %s: points must be >= 0 and timeout_s > 0", t->name);
		if (!json_is_array(tests) || json_array_size(tests) == 0)
			return bad(err, errlen, "tcase %s: tests must be a non-empty array", t->name);
		t->tests = xcalloc(json_array_size(tests), sizeof *t->tests);
		json_array_foreach(tests, j, name) {
			if (!is_c_identifier(json_string_value(name)))
				return bad(err, errlen, "tcase %s: test %zu is not a C name", t->name, j);
			t->tests[t->ntests++] = xstrdup(json_string_value(name));
		}
	}
	return 0;
}

static int load_drivers(struct manifest *m, json_t *drivers, char *err, size_t errlen)
{
	json_t *d;
	size_t i;

	if (!drivers)
		return 0;
	if (!json_is_array(drivers))
		return bad(err, errlen, "drivers must be an array");
	m->drivers = xcalloc(json_array_size(drivers) + 1, sizeof *m->drivers);
	json_array_foreach(drivers, i, d) {
		struct manifest_driver *v = &m->drivers[m->ndrivers++];
		const char *kind = json_string_value(json_object_get(d, "kind"));

		v->name = str_or_null(d, "name");
		v->source = str_or_null(d, "source");
		v->points = json_number_value(json_object_get(d, "points"));
		v->timeout_s = json_number_value(json_object_get(d, "timeout_s"));
		if (!is_c_identifier(v->name) || !v->source)
			return bad(err, errlen, "drivers[%zu] needs a name (C-like) and a source", i);
		if (kind && strcmp(kind, "races") == 0)
			v->kind = DRIVER_RACES;
		else if (kind && strcmp(kind, "speedup") == 0)
			v->kind = DRIVER_SPEEDUP;
		else
			return bad(err, errlen, "driver %s: kind must be \"races\" or \"speedup\"", v->name);
		if (v->points < 0 || v->timeout_s <= 0)
			return bad(err, errlen, "driver %s: points must be >= 0 and timeout_s > 0", v->name);
	}
	return 0;
}

int manifest_load(const char *path, struct manifest **out, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr), *files, *suite, *policy, *f;
	struct manifest *m;
	char *pathcopy;
	size_t i;
	int rc;

	*out = NULL;
	if (!root)
		return bad(err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
	m = xcalloc(1, sizeof *m);
	pathcopy = xstrdup(path);
	m->dir = xstrdup(dirname(pathcopy));
	free(pathcopy);
	m->name = str_or_null(root, "name");
	m->title = str_or_null(root, "title");
	m->header = str_or_null(root, "header");
	files = json_object_get(root, "student_files");
	suite = json_object_get(root, "suite");
	policy = json_object_get(root, "policy");
	if (!is_c_identifier(m->name) || !m->header) {
		rc = bad(err, errlen, "%s: needs \"name\" (a C-like name) and \"header\"", path);
		goto fail;
	}
	if (!m->title)
		m->title = xstrdup(m->name);
	if (!json_is_array(files) || json_array_size(files) == 0) {
		rc = bad(err, errlen, "%s: student_files must be a non-empty array", path);
		goto fail;
	}
	m->student_files = xcalloc(json_array_size(files), sizeof *m->student_files);
	json_array_foreach(files, i, f) {
		const char *s = json_string_value(f);

		if (!s || !*s || strchr(s, '/') || s[0] == '.') {
			rc = bad(err, errlen, "%s: student_files[%zu] must be a plain file name", path, i);
			goto fail;
		}
		m->student_files[m->nstudent_files++] = xstrdup(s);
	}
	if (!json_is_object(suite) || !(m->suite_source = str_or_null(suite, "source"))) {
		rc = bad(err, errlen, "%s: suite.source is missing", path);
		goto fail;
	}
	m->hidden_source = str_or_null(suite, "hidden_source");
	if ((rc = load_tcases(m, suite, err, errlen)) != 0 ||
	    (rc = load_drivers(m, json_object_get(root, "drivers"), err, errlen)) != 0)
		goto fail;
	if (policy) {
		/* Policy is pass/fail with no points of its own: points for "used nothing
		 * forbidden" would reward an empty starter. A gate withholds every other point. */
		if (json_object_get(policy, "points")) {
			rc = bad(err, errlen, "%s: policy has no points (it is a gate); move them to "
					      "the suite or the drivers", path);
			goto fail;
		}
		if ((rc = load_rules(json_object_get(policy, "forbidden_symbols"), "symbol",
				     &m->forbidden_symbols, &m->nforbidden_symbols, err, errlen)) != 0 ||
		    (rc = load_rules(json_object_get(policy, "forbidden_identifiers"), "identifier",
				     &m->forbidden_identifiers, &m->nforbidden_identifiers, err, errlen)) != 0)
			goto fail;
	}
	json_decref(root);
	*out = m;
	return 0;
fail:
	json_decref(root);
	manifest_free(m);
	return rc;
}

static void free_rules(struct manifest_rule *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].what);
		free(r[i].why);
	}
	free(r);
}

void manifest_free(struct manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->ntcases; i++) {
		for (size_t j = 0; j < m->tcases[i].ntests; j++)
			free(m->tcases[i].tests[j]);
		free(m->tcases[i].tests);
		free(m->tcases[i].name);
	}
	for (size_t i = 0; i < m->ndrivers; i++) {
		free(m->drivers[i].name);
		free(m->drivers[i].source);
	}
	for (size_t i = 0; i < m->nstudent_files; i++)
		free(m->student_files[i]);
	free_rules(m->forbidden_symbols, m->nforbidden_symbols);
	free_rules(m->forbidden_identifiers, m->nforbidden_identifiers);
	free(m->student_files);
	free(m->tcases);
	free(m->drivers);
	free(m->name);
	free(m->title);
	free(m->dir);
	free(m->header);
	free(m->suite_source);
	free(m->hidden_source);
	free(m);
}

size_t manifest_ntests(const struct manifest *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->ntcases; i++)
		n += m->tcases[i].ntests;
	return n;
}

double manifest_max_score(const struct manifest *m)
{
	double s = 0;

	for (size_t i = 0; i < m->ntcases; i++)
		s += m->tcases[i].points;
	for (size_t i = 0; i < m->ndrivers; i++)
		s += m->drivers[i].points;
	return s;
}
