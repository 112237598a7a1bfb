/* report_json.c - results.json (the kit's schema) and gradescope.json, with jansson. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "report.h"
#include "util.h"

/* Scores are rounded to 1/1000 so that split points print cleanly. */
static json_t *num(double v)
{
	return json_real(round(v * 1000.0) / 1000.0);
}

static int dump(json_t *root, const char *path)
{
	int rc = json_dump_file(root, path, JSON_INDENT(2) | JSON_ENSURE_ASCII) == 0 ? 0 : EIO;

	json_decref(root);
	return rc;
}

int report_json(const char *path, const struct grade_result *g)
{
	json_t *root = json_object(), *exs = json_array();

	json_object_set_new(root, "schema", json_string("threadlab-results/1"));
	json_object_set_new(root, "submission", json_string(g->submission));
	json_object_set_new(root, "sandbox", json_string(g->sandbox ? g->sandbox : ""));
	json_object_set_new(root, "score", num(g->score));
	json_object_set_new(root, "max_score", num(g->max_score));
	json_object_set_new(root, "seconds", num(g->seconds));
	for (size_t i = 0; i < g->nexercises; i++) {
		const struct exercise_result *ex = g->exercises[i];
		json_t *e = json_object(), *checks = json_array();

		json_object_set_new(e, "name", json_string(ex->name));
		json_object_set_new(e, "title", json_string(ex->title));
		json_object_set_new(e, "score", num(ex->score));
		json_object_set_new(e, "max_score", num(ex->max_score));
		json_object_set_new(e, "status", json_string(exercise_status_name(ex->status)));
		json_object_set_new(e, "seconds", num(ex->seconds));
		json_object_set_new(e, "notes", json_string(ex->notes ? ex->notes : ""));
		for (size_t j = 0; j < ex->nchecks; j++) {
			const struct check *c = &ex->checks[j];

			json_array_append_new(
				checks,
				json_pack("{s:s, s:s, s:s, s:o, s:o, s:s, s:b}", "id", c->id, "kind",
					  c->kind, "status", check_status_name(c->status), "score",
					  num(c->score), "max_score", num(c->max_score), "message",
					  c->message, "hidden", c->hidden));
		}
		json_object_set_new(e, "checks", checks);
		json_array_append_new(exs, e);
	}
	json_object_set_new(root, "exercises", exs);
	return dump(root, path);
}

int report_gradescope(const char *path, const struct grade_result *g)
{
	json_t *root = json_object(), *tests = json_array();
	struct strbuf out = { 0 };

	for (size_t i = 0; i < g->nexercises; i++) {
		const struct exercise_result *ex = g->exercises[i];

		sb_addf(&out, "%s: %.1f/%.1f (%s)\n", ex->name, ex->score, ex->max_score,
			exercise_status_name(ex->status));
		for (size_t j = 0; j < ex->nchecks; j++) {
			const struct check *c = &ex->checks[j];
			char *name = xasprintf("%s: %s", ex->name, c->hidden ? "hidden test" : c->id);

			json_array_append_new(
				tests,
				json_pack("{s:s, s:o, s:o, s:s, s:s, s:s}", "name", name, "score",
					  num(c->score), "max_score", num(c->max_score), "status",
					  c->status == CHECK_PASS ? "passed" : "failed", "output",
					  c->message, "visibility",
					  c->hidden ? "after_published" : "visible"));
			free(name);
		}
	}
	json_object_set_new(root, "score", num(g->score));
	json_object_set_new(root, "execution_time", json_integer((json_int_t)ceil(g->seconds)));
	{
		char *o = sb_take(&out);

		json_object_set_new(root, "output", json_string(o));
		free(o);
	}
	json_object_set_new(root, "stdout_visibility", json_string("visible"));
	json_object_set_new(root, "tests", tests);
	return dump(root, path);
}
