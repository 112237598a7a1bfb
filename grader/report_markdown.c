/* report_markdown.c - a Markdown summary (GitHub's step summary, pull-request comments). */
#include <errno.h>
#include <string.h>

#include "report.h"

/* Markdown table cells: no newlines, no pipes. */
static void cell(FILE *f, const char *s, size_t max)
{
	size_t n = 0;

	for (; *s && n < max; s++, n++) {
		if (*s == '\n')
			fputs("<br>", f);
		else if (*s == '|')
			fputs("\\|", f);
		else
			fputc(*s, f);
	}
	if (*s)
		fputs(" ...", f);
}

int report_markdown(const char *path, const struct grade_result *g)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return errno;
	fprintf(f, "## threadlab: %.1f / %.1f (%.0f%%)\n\n", g->score, g->max_score,
		g->max_score > 0 ? 100.0 * g->score / g->max_score : 0.0);
	fputs("| exercise | score | status |\n| --- | ---: | --- |\n", f);
	for (size_t i = 0; i < g->nexercises; i++) {
		const struct exercise_result *ex = g->exercises[i];

		fprintf(f, "| %s | %.1f / %.1f | %s |\n", ex->name, ex->score, ex->max_score,
			exercise_status_name(ex->status));
	}
	for (size_t i = 0; i < g->nexercises; i++) {
		const struct exercise_result *ex = g->exercises[i];
		bool header = false;

		for (size_t j = 0; j < ex->nchecks; j++) {
			const struct check *c = &ex->checks[j];

			if (c->status == CHECK_PASS || (c->status == CHECK_SKIPPED && ex->status != EX_GRADED))
				continue;
			if (!header) {
				fprintf(f, "\n### %s: what lost points\n\n| check | status | points | why |\n"
					   "| --- | --- | ---: | --- |\n", ex->name);
				header = true;
			}
			fprintf(f, "| `%s` | %s | %.1f / %.1f | ", c->hidden ? "hidden test" : c->id,
				check_status_name(c->status), c->score, c->max_score);
			cell(f, c->message, 600);
			fputs(" |\n", f);
		}
	}
	if (g->sandbox)
		fprintf(f, "\n<sub>sandbox: %s</sub>\n", g->sandbox);
	return fclose(f) == 0 ? 0 : errno;
}
