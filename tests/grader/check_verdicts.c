/* check_verdicts.c - the grader's own tests: every fixture submission got the verdict its
 * expect.json says (schema: docs/adding-an-exercise.md, "Fixtures").
 *
 * tools/run-tests grades each fixture first (in parallel) into $TL_RESULTS/<fixture>/; this suite
 * only reads results.json files, so each fixture is one fast loop iteration with a message that
 * lists every expectation it missed. */
#include <check.h>
#include <dirent.h>
#include <stdbool.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *fixtures_dir; /* tests/grader/fixtures */
static const char *results_dir;  /* build/test/fixtures */
static char **names;
static int nnames;

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_fixtures(void)
{
	DIR *d = opendir(fixtures_dir);
	struct dirent *e;

	if (!d) {
		fprintf(stderr, "check_verdicts: cannot open %s\n", fixtures_dir);
		exit(2);
	}
	while ((e = readdir(d)) != NULL) {
		char path[4096];
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s/expect.json", fixtures_dir, e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		fclose(f);
		names = realloc(names, (size_t)(nnames + 1) * sizeof *names);
		names[nnames++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, (size_t)nnames, sizeof *names, by_name);
}

struct problems {
	char text[3000]; /* Check cannot pass a much longer message from a forked test */
	size_t len;
	int n;
};

static void problem(struct problems *p, const char *fmt, ...)
{
	va_list ap;

	if (p->len + 2 >= sizeof p->text)
		return;
	p->text[p->len++] = '\n';
	va_start(ap, fmt);
	int w = vsnprintf(p->text + p->len, sizeof p->text - p->len, fmt, ap);
	va_end(ap);
	if (w > 0)
		p->len += (size_t)w < sizeof p->text - p->len ? (size_t)w : sizeof p->text - p->len - 1;
	p->n++;
}

static bool selected(json_t *check, json_t *sel)
{
	const char *id = json_string_value(json_object_get(check, "id"));
	const char *kind = json_string_value(json_object_get(check, "kind"));
	const char *want_id = json_string_value(json_object_get(sel, "id"));
	const char *prefix = json_string_value(json_object_get(sel, "id_prefix"));
	const char *want_kind = json_string_value(json_object_get(sel, "kind"));

	if (want_id && (!id || strcmp(id, want_id) != 0))
		return false;
	if (prefix && (!id || strncmp(id, prefix, strlen(prefix)) != 0))
		return false;
	if (want_kind && (!kind || strcmp(kind, want_kind) != 0))
		return false;
	return want_id || prefix || want_kind;
}

static char *describe_sel(json_t *sel)
{
	return json_dumps(sel, JSON_COMPACT);
}

static void verify_checks(struct problems *p, const char *ex, json_t *checks, json_t *sels)
{
	size_t i;
	json_t *sel;

	json_array_foreach(sels, i, sel) {
		json_t *statuses = json_object_get(sel, "status");
		json_t *contains = json_object_get(sel, "message_contains");
		const char *score = json_string_value(json_object_get(sel, "score"));
		double got = 0, max = 0;
		char *d = describe_sel(sel);
		size_t j, n = 0;
		json_t *c;

		json_array_foreach(checks, j, c) {
			const char *st = json_string_value(json_object_get(c, "status"));
			const char *msg = json_string_value(json_object_get(c, "message"));
			const char *id = json_string_value(json_object_get(c, "id"));
			size_t k;
			json_t *v;

			if (!selected(c, sel))
				continue;
			n++;
			got += json_number_value(json_object_get(c, "score"));
			max += json_number_value(json_object_get(c, "max_score"));
			if (json_is_array(statuses)) {
				bool ok = false;

				json_array_foreach(statuses, k, v)
					ok = ok || (st && strcmp(st, json_string_value(v)) == 0);
				if (!ok)
					problem(p, "%s: %s is %s, expected %s; its message: %.400s", ex, id,
						st, json_dumps(statuses, JSON_COMPACT), msg ? msg : "");
			}
			json_array_foreach(contains, k, v)
				if (!msg || !strstr(msg, json_string_value(v)))
					problem(p, "%s: %s's message lacks \"%s\": %.400s", ex, id,
						json_string_value(v), msg ? msg : "");
		}
		if (n == 0)
			problem(p, "%s: no check matches %s", ex, d);
		else if (score && strcmp(score, "full") == 0 && got < max - 1e-6)
			problem(p, "%s: %s scored %.2f of %.2f, expected full marks", ex, d, got, max);
		else if (score && strcmp(score, "zero") == 0 && got > 1e-6)
			problem(p, "%s: %s scored %.2f of %.2f, expected zero", ex, d, got, max);
		else if (score && strcmp(score, "some") == 0 && (got < 1e-6 || got > max - 1e-6))
			problem(p, "%s: %s scored %.2f of %.2f, expected some but not all", ex, d, got,
				max);
		free(d);
	}
}

START_TEST(test_fixture_gets_the_expected_verdict)
{
	const char *name = names[_i];
	char epath[4096], rpath[4096];
	json_error_t err;
	json_t *expect, *results, *exs;
	struct problems p = { .len = 0 };
	const char *key;
	json_t *want;

	snprintf(epath, sizeof epath, "%s/%s/expect.json", fixtures_dir, name);
	snprintf(rpath, sizeof rpath, "%s/%s/results.json", results_dir, name);
	expect = json_load_file(epath, 0, &err);
	ck_assert_msg(expect != NULL, "fixture %s: %s: %s", name, epath, err.text);
	results = json_load_file(rpath, 0, &err);
	ck_assert_msg(results != NULL, "fixture %s: the grader wrote no readable %s (%s); see %s/%s.log",
		      name, rpath, err.text, results_dir, name);
	exs = json_object_get(results, "exercises");
	json_object_foreach(json_object_get(expect, "expect"), key, want) {
		json_t *ex = NULL, *e;
		size_t i;

		json_array_foreach(exs, i, e)
			if (strcmp(json_string_value(json_object_get(e, "name")), key) == 0)
				ex = e;
		if (!ex) {
			problem(&p, "%s: not in results.json", key);
			continue;
		}
		const char *status = json_string_value(json_object_get(want, "status"));
		const char *got = json_string_value(json_object_get(ex, "status"));
		double score = json_number_value(json_object_get(ex, "score"));
		double max = json_number_value(json_object_get(ex, "max_score"));
		json_t *full = json_object_get(want, "full_marks");
		json_t *secs = json_object_get(want, "max_seconds");

		if (status && strcmp(status, got) != 0)
			problem(&p, "%s: status %s, expected %s", key, got, status);
		if (json_is_true(full) && score < max - 1e-6)
			problem(&p, "%s: %.2f of %.2f, expected full marks", key, score, max);
		if (json_is_false(full) && score > max - 1e-6)
			problem(&p, "%s: full marks, expected a loss of points", key);
		if (json_is_number(secs) &&
		    json_number_value(json_object_get(ex, "seconds")) > json_number_value(secs))
			problem(&p, "%s: graded in %.1f s, expected at most %.0f s", key,
				json_number_value(json_object_get(ex, "seconds")),
				json_number_value(secs));
		verify_checks(&p, key, json_object_get(ex, "checks"), json_object_get(want, "checks"));
	}
	/* "files_absent": what a sandboxed submission tried to write outside its work dir. */
	json_t *v;
	size_t k;

	json_array_foreach(json_object_get(expect, "files_absent"), k, v)
		if (access(json_string_value(v), F_OK) == 0)
			problem(&p, "%s exists: the submission wrote outside its work dir",
				json_string_value(v));
	/* "results_lack": text that must not reach any report (e.g. the reference solution). */
	json_array_foreach(json_object_get(expect, "results_lack"), k, v) {
		char *all = json_dumps(results, 0);

		if (all && strstr(all, json_string_value(v)))
			problem(&p, "results.json contains \"%s\"", json_string_value(v));
		free(all);
	}
	ck_assert_msg(p.n == 0, "fixture %s (%s): %d expectation(s) not met:%s", name,
		      json_string_value(json_object_get(expect, "why")), p.n, p.text);
	json_decref(expect);
	json_decref(results);
}
END_TEST

int main(int argc, char **argv)
{
	SRunner *sr;
	Suite *s;
	TCase *tc;
	int failed;

	if (argc != 3) {
		fprintf(stderr, "usage: %s FIXTURES_DIR RESULTS_DIR\n", argv[0]);
		return 2;
	}
	fixtures_dir = argv[1];
	results_dir = argv[2];
	list_fixtures();
	s = suite_create("grader verdicts");
	tc = tcase_create("fixtures");
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_fixture_gets_the_expected_verdict, 0, nnames);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_VERBOSE);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 && nnames > 0 ? 0 : 1;
}
