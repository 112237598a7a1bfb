/* report_html.c - one self-contained HTML page per submission: the score, every check with its
 * message, and each speedup driver's timelines drawn as SVG (one row per worker thread, one bar
 * per task), read from the JSON files in out_dir/work/<ex>/<driver>.artifacts/, as written by
 * tl_witness_write_timeline(). No script, no external resource: it opens anywhere. */
#include <errno.h>
#include <glob.h>
#include <jansson.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "util.h"

static void esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

static const char *css_class(enum check_status s)
{
	return s == CHECK_PASS ? "pass" : s == CHECK_SKIPPED || s == CHECK_INCONCLUSIVE ? "skip" : "fail";
}

/* Draws one timeline file; returns false when it holds no task. */
static bool timeline(FILE *f, const char *path)
{
	json_t *arr = json_load_file(path, 0, NULL), *t;
	double end = 0;
	size_t i, threads = 0;
	char *copy = xstrdup(path), *name = basename(copy);
	const double width = 760, row = 18;

	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		json_decref(arr);
		free(copy);
		return false;
	}
	json_array_foreach(arr, i, t) {
		double e = json_number_value(json_object_get(t, "end_ms"));
		size_t th = (size_t)json_integer_value(json_object_get(t, "thread"));

		if (e > end)
			end = e;
		if (th + 1 > threads)
			threads = th + 1;
	}
	if (end <= 0)
		end = 1;
	fprintf(f, "<figure><figcaption>");
	esc(f, name);
	fprintf(f, ": %zu tasks on %zu threads over %.0f ms</figcaption>\n", json_array_size(arr),
		threads, end);
	fprintf(f, "<svg class=\"timeline\" width=\"%.0f\" height=\"%.0f\" "
		   "xmlns=\"http://www.w3.org/2000/svg\">\n",
		width + 90, row * (double)threads + 24);
	for (size_t th = 0; th < threads; th++)
		fprintf(f, "<text x=\"0\" y=\"%.0f\" font-size=\"11\">thread %zu</text>\n",
			row * (double)th + 13, th);
	json_array_foreach(arr, i, t) {
		double s = json_number_value(json_object_get(t, "start_ms"));
		double e = json_number_value(json_object_get(t, "end_ms"));
		size_t th = (size_t)json_integer_value(json_object_get(t, "thread"));

		if (e < s)
			e = end; /* never ended */
		fprintf(f, "<rect class=\"task\" x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"%.0f\">"
			   "<title>task %zu: %.1f-%.1f ms</title></rect>\n",
			80 + s / end * width, row * (double)th + 2, (e - s) / end * width > 1 ? (e - s) / end * width : 1,
			row - 4, i, s, e);
	}
	fprintf(f, "<text x=\"80\" y=\"%.0f\" font-size=\"11\">0 ms</text>"
		   "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"end\">%.0f ms</text>\n",
		row * (double)threads + 18, 80 + width, row * (double)threads + 18, end);
	fputs("</svg></figure>\n", f);
	json_decref(arr);
	free(copy);
	return true;
}

int report_html(const char *path, const struct grade_result *g, const char *out_dir)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return errno;
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<title>threadlab report</title>\n<style>\n"
	      "body{font-family:sans-serif;margin:2em;max-width:70em}\n"
	      "table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3em;"
	      "vertical-align:top;text-align:left}td:nth-child(3){white-space:nowrap}\n"
	      "pre{white-space:pre-wrap;margin:0;font-size:90%}\n"
	      ".pass{background:#e8f6e8}.fail{background:#fbe9e9}.skip{background:#f3f3f3}\n"
	      "rect.task{fill:#4a7fc1;stroke:#1d3f6e;stroke-width:.5}\n"
	      "</style></head><body>\n", f);
	fputs("<h1>threadlab report</h1>\n<p>Submission: <code>", f);
	esc(f, g->submission);
	fprintf(f, "</code></p>\n<p id=\"total\">Total: <strong>%.1f / %.1f</strong> (%.0f%%), "
		   "graded in %.1f s</p>\n",
		g->score, g->max_score, g->max_score > 0 ? 100 * g->score / g->max_score : 0.0,
		g->seconds);
	if (g->sandbox) {
		fputs("<p><small>Sandbox: ", f);
		esc(f, g->sandbox);
		fputs("</small></p>\n", f);
	}
	for (size_t i = 0; i < g->nexercises; i++) {
		const struct exercise_result *ex = g->exercises[i];

		fprintf(f, "<section class=\"exercise\" id=\"ex-%s\">\n<h2>", ex->name);
		esc(f, ex->name);
		fputs(": ", f);
		esc(f, ex->title);
		fprintf(f, " <span class=\"score\">%.1f / %.1f</span> (%s)</h2>\n", ex->score,
			ex->max_score, exercise_status_name(ex->status));
		size_t passed = 0;

		/* What lost points first; passing functional tests folded away below. */
		fputs("<table><tr><th>check</th><th>status</th><th>points</th><th>message</th></tr>\n", f);
		for (size_t j = 0; j < ex->nchecks; j++) {
			const struct check *c = &ex->checks[j];

			if (c->status == CHECK_PASS && strcmp(c->kind, "functional") == 0) {
				passed++;
				continue;
			}
			fprintf(f, "<tr class=\"%s\"><td><code>", css_class(c->status));
			esc(f, c->hidden ? "hidden test" : c->id);
			fprintf(f, "</code></td><td>%s</td><td>%.1f / %.1f</td><td><pre>",
				check_status_name(c->status), c->score, c->max_score);
			esc(f, c->message);
			fputs("</pre></td></tr>\n", f);
		}
		fputs("</table>\n", f);
		if (passed > 0) {
			fprintf(f, "<details><summary>%zu functional test%s passed</summary><ul>\n", passed,
				passed == 1 ? "" : "s");
			for (size_t j = 0; j < ex->nchecks; j++) {
				const struct check *c = &ex->checks[j];

				if (c->status != CHECK_PASS || strcmp(c->kind, "functional") != 0)
					continue;
				fputs("<li><code>", f);
				esc(f, c->hidden ? "hidden test" : c->id);
				fprintf(f, "</code> %.1f / %.1f</li>\n", c->score, c->max_score);
			}
			fputs("</ul></details>\n", f);
		}
		if (ex->notes && *ex->notes) {
			fputs("<h3>Notes</h3><pre>", f);
			esc(f, ex->notes);
			fputs("</pre>\n", f);
		}
		{
			char *pattern = xasprintf("%s/work/%s/*.artifacts/*.json", out_dir, ex->name);
			glob_t gl = { 0 };

			if (glob(pattern, 0, NULL, &gl) == 0 && gl.gl_pathc > 0) {
				fputs("<h3>Timelines of the grader's tasks</h3>\n<p>Each bar is one task, "
				      "from its start to its end, on the thread that ran it: bars above "
				      "one another ran at the same time.</p>\n", f);
				for (size_t k = 0; k < gl.gl_pathc; k++)
					timeline(f, gl.gl_pathv[k]);
			}
			globfree(&gl);
			free(pattern);
		}
		fputs("</section>\n", f);
	}
	fputs("</body></html>\n", f);
	return fclose(f) == 0 ? 0 : errno;
}
