/* report_text.c - the terminal summary: failures first-class, passes collapsed into counts. */
#include <math.h>
#include <string.h>

#include "report.h"

static const char *tag(enum check_status s)
{
	static const char *tags[] = { "PASS", "FAIL", "CRASH", "HANG", "??", "SKIP" };

	return tags[s];
}

/* Prints msg indented under a check, at most max_lines lines. */
static void indented(FILE *f, const char *msg, int max_lines)
{
	int lines = 0;

	while (msg && *msg && lines < max_lines) {
		const char *nl = strchr(msg, '\n');
		int len = nl ? (int)(nl - msg) : (int)strlen(msg);

		fprintf(f, "        %.*s\n", len, msg);
		lines++;
		msg = nl ? nl + 1 : msg + len;
	}
	if (msg && *msg)
		fprintf(f, "        [... more in results.json]\n");
}

static const char *pts(double v, char *buf, size_t len)
{
	if (fabs(v - round(v)) < 0.005)
		snprintf(buf, len, "%.0f", round(v));
	else
		snprintf(buf, len, "%.1f", v);
	return buf;
}

static void exercise(FILE *f, const struct exercise_result *ex, bool verbose)
{
	size_t fpass = 0, ftotal = 0;
	double fscore = 0, fmax = 0;
	char a[32], b[32];

	fprintf(f, "\n%s: %s  %s/%s  (%s, %.1f s)\n", ex->name, ex->title, pts(ex->score, a, sizeof a),
		pts(ex->max_score, b, sizeof b), exercise_status_name(ex->status), ex->seconds);
	for (size_t i = 0; i < ex->nchecks; i++) {
		const struct check *c = &ex->checks[i];

		if (strcmp(c->kind, "functional") == 0) {
			ftotal++;
			fscore += c->score;
			fmax += c->max_score;
			if (c->status == CHECK_PASS)
				fpass++;
		}
	}
	const char *last = NULL;

	for (size_t i = 0; i < ex->nchecks; i++) {
		const struct check *c = &ex->checks[i];
		bool functional = strcmp(c->kind, "functional") == 0;

		if (functional && c->status == CHECK_PASS && !verbose)
			continue;
		if (functional && c->status == CHECK_SKIPPED && ex->status != EX_GRADED && !verbose)
			continue;
		fprintf(f, "  %-5s %-58s %s/%s\n", tag(c->status),
			c->hidden ? "(hidden test)" : c->id, pts(c->score, a, sizeof a),
			pts(c->max_score, b, sizeof b));
		if (c->status != CHECK_PASS || !functional) {
			/* A starter fails every test for one reason: say it once. */
			if (last && *c->message && strcmp(last, c->message) == 0)
				fprintf(f, "        (same reason as above)\n");
			else
				indented(f, c->message, c->status == CHECK_PASS ? 3 : 14);
			last = c->message;
		}
	}
	if (ftotal > 0)
		fprintf(f, "  functional tests: %zu of %zu passed (%s/%s points)\n", fpass, ftotal,
			pts(fscore, a, sizeof a), pts(fmax, b, sizeof b));
	if (ex->notes)
		indented(f, ex->notes, 20);
}

void report_text(FILE *f, const struct grade_result *g, bool verbose)
{
	char a[32], b[32];

	fprintf(f, "threadlab grade of %s\n", g->submission);
	if (g->sandbox)
		fprintf(f, "sandbox: %s\n", g->sandbox);
	for (size_t i = 0; i < g->nexercises; i++)
		exercise(f, g->exercises[i], verbose);
	fprintf(f, "\nTotal: %s/%s (%.0f%%) in %.1f s\n", pts(g->score, a, sizeof a),
		pts(g->max_score, b, sizeof b),
		g->max_score > 0 ? 100.0 * g->score / g->max_score : 0.0, g->seconds);
}
