/* main.c - threadlab-grade: the command line.
 *
 *   threadlab-grade [--kit DIR] [--submission DIR] [--exercises "a b"] [--out DIR]
 *                   [--fail-under PERCENT] [--timeout-scale X] [--cc CC] [--verbose]
 *   threadlab-grade --gen-suite EX --output FILE [--kit DIR]
 *   threadlab-grade --hg-summary [--student-file F --workdir D] XML...
 *
 * Exit status: 0 whenever grading completed, whatever the score; 1 when --fail-under was given
 * and the score is below it; 2 when the grader itself could not run (bad arguments, a broken
 * kit). */
#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "grade.h"
#include "hgxml.h"
#include "races.h"
#include "report.h"
#include "sandbox.h"
#include "suitegen.h"
#include "util.h"

static void usage(FILE *f)
{
	fputs("usage: threadlab-grade [options]\n"
	      "  --kit DIR            the threadlab kit (default: $THREADLAB_KIT or .)\n"
	      "  --submission DIR     the submission: DIR/<ex>/<ex>.c or DIR/<ex>.c (default: KIT/solutions)\n"
	      "  --exercises LIST     exercises to grade, separated by spaces or commas (default: all)\n"
	      "  --out DIR            where reports go (default: threadlab-report)\n"
	      "  --fail-under PCT     exit 1 when the score is below PCT percent\n"
	      "  --timeout-scale X    multiply every time limit by X (slow machines; default 1)\n"
	      "  --cc CC              the C compiler (default: $CC or cc)\n"
	      "  --verbose            say what is being done; list passing tests too\n"
	      "  --prepare            only build the suite and drivers into OUT/work/<ex> (make suite)\n"
	      "  --strict             -Werror on the kit's own test sources (make test)\n"
	      "  --coverage           build the submission with --coverage (make coverage)\n"
	      "  --jobs N             run N test cases at once (default 2)\n"
	      "  --sandbox MODE       auto (default: bubblewrap if it works), bwrap, limits or none\n"
	      "  --autolab            end the output with Autolab's {\"scores\": ...} line\n"
	      "  --gen-suite EX --output FILE   write the generated Check suite of EX\n"
	      "  --hg-summary XML...  count helgrind errors by kind (used by make suite-hg)\n",
	      f);
}

static char *absolute(const char *p)
{
	char buf[PATH_MAX];

	if (realpath(p, buf))
		return xstrdup(buf);
	if (p[0] == '/')
		return xstrdup(p);
	if (!getcwd(buf, sizeof buf))
		return xstrdup(p);
	return xasprintf("%s/%s", buf, p);
}

static struct manifest *load(const char *kit, const char *name)
{
	char *path = xasprintf("%s/tests/%s/manifest.json", kit, name);
	struct manifest *m = NULL;
	char err[512];

	if (!file_exists(path))
		fprintf(stderr, "threadlab-grade: no exercise named '%s' (no %s)\n", name, path);
	else if (manifest_load(path, &m, err, sizeof err) != 0)
		fprintf(stderr, "threadlab-grade: %s\n", err);
	free(path);
	return m;
}

/* Every exercise the kit has, in name order. */
static char **all_exercises(const char *kit, size_t *n)
{
	char *pattern = xasprintf("%s/tests/*/manifest.json", kit);
	glob_t g = { 0 };
	char **names = NULL;

	*n = 0;
	if (glob(pattern, 0, NULL, &g) == 0) {
		names = xcalloc(g.gl_pathc + 1, sizeof *names);
		for (size_t i = 0; i < g.gl_pathc; i++) {
			char *p = g.gl_pathv[i], *end = strrchr(p, '/'), *start;

			*end = '\0';
			start = strrchr(p, '/');
			names[(*n)++] = xstrdup(start + 1);
		}
	}
	globfree(&g);
	free(pattern);
	return names;
}

static char **split(const char *list, size_t *n)
{
	char *copy = xstrdup(list), *save = NULL;
	char **v = NULL;

	*n = 0;
	for (char *w = strtok_r(copy, " ,\t\n", &save); w; w = strtok_r(NULL, " ,\t\n", &save)) {
		v = xrealloc(v, (*n + 1) * sizeof *v);
		v[(*n)++] = xstrdup(w);
	}
	free(copy);
	return v;
}

static int gen_suite(const char *kit, const char *ex, const char *output)
{
	struct manifest *m = load(kit, ex);
	int rc;

	if (!m)
		return 2;
	rc = suitegen_write(m, output);
	if (rc != 0)
		fprintf(stderr, "threadlab-grade: cannot write %s: %s\n", output, strerror(rc));
	manifest_free(m);
	return rc ? 2 : 0;
}

/* Prints the number of helgrind errors by kind; exit 1 when any is not Misc. */
static int hg_summary(int argc, char **argv, const char *student_file, const char *workdir)
{
	struct hg_report r = { 0 };
	const char *kinds[] = { "Race", "LockOrder", "UnlockUnlocked", "UnlockForeign",
				"UnlockBogus", "PthAPIerror", "Misc" };
	size_t serious = 0;

	for (int i = 0; i < argc; i++)
		if (hgxml_load(argv[i], &r) != 0)
			fprintf(stderr, "threadlab-grade: cannot read %s\n", argv[i]);
	for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
		size_t n = 0;

		for (size_t i = 0; i < r.nerrors; i++)
			n += strcmp(r.errors[i].kind, kinds[k]) == 0;
		if (n)
			printf("helgrind: %zu %s\n", n, kinds[k]);
		if (strcmp(kinds[k], "Misc") != 0)
			serious += n;
	}
	if (student_file && workdir) {
		char *files[] = { (char *)student_file };
		struct races_verdict v;

		races_judge(&r, files, 1, workdir, RACES_HELGRIND, &v);
		if (v.findings)
			printf("%s\n", v.message);
		races_verdict_free(&v);
	}
	printf("helgrind: %zu files, %zu errors (%zu not Misc)\n", r.nfiles, r.nerrors, serious);
	hgxml_free(&r);
	return serious ? 1 : 0;
}

int main(int argc, char **argv)
{
	enum { O_KIT = 256, O_SUB, O_EX, O_OUT, O_FAIL, O_SCALE, O_CC, O_GEN, O_OUTPUT, O_HG,
	       O_SFILE, O_WDIR, O_PREP, O_STRICT, O_COV, O_JOBS, O_SANDBOX, O_AUTOLAB };
	static const struct option opts[] = {
		{ "kit", 1, 0, O_KIT },		{ "submission", 1, 0, O_SUB },
		{ "exercises", 1, 0, O_EX },	{ "out", 1, 0, O_OUT },
		{ "fail-under", 1, 0, O_FAIL }, { "timeout-scale", 1, 0, O_SCALE },
		{ "cc", 1, 0, O_CC },		{ "gen-suite", 1, 0, O_GEN },
		{ "output", 1, 0, O_OUTPUT },	{ "hg-summary", 0, 0, O_HG },
		{ "student-file", 1, 0, O_SFILE }, { "workdir", 1, 0, O_WDIR },
		{ "prepare", 0, 0, O_PREP },	{ "strict", 0, 0, O_STRICT },
		{ "coverage", 0, 0, O_COV },	{ "jobs", 1, 0, O_JOBS },
		{ "sandbox", 1, 0, O_SANDBOX },	{ "autolab", 0, 0, O_AUTOLAB },
		{ "verbose", 0, 0, 'v' },	{ "help", 0, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *kit_arg = getenv("THREADLAB_KIT"), *sub_arg = NULL, *ex_arg = NULL;
	const char *out_arg = "threadlab-report", *gen = NULL, *output = NULL, *sfile = NULL;
	const char *wdir = NULL, *sandbox_mode = "auto";
	struct sandbox sandbox = { 0 };
	const char *cc = getenv("CC") && *getenv("CC") ? getenv("CC") : "cc";
	double fail_under = -1, scale = 1;
	bool verbose = false, hg = false, autolab = false;
	struct grade_result g = { 0 };
	struct grade_opts o = { 0 };
	char **names, *log = NULL;
	size_t n;
	int c, status = 0;

	if (getenv("TL_TIMEOUT_SCALE"))
		scale = strtod(getenv("TL_TIMEOUT_SCALE"), NULL);
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case O_KIT: kit_arg = optarg; break;
		case O_SUB: sub_arg = optarg; break;
		case O_EX: ex_arg = optarg; break;
		case O_OUT: out_arg = optarg; break;
		case O_FAIL: fail_under = strtod(optarg, NULL); break;
		case O_SCALE: scale = strtod(optarg, NULL); break;
		case O_CC: cc = optarg; break;
		case O_GEN: gen = optarg; break;
		case O_OUTPUT: output = optarg; break;
		case O_HG: hg = true; break;
		case O_SFILE: sfile = optarg; break;
		case O_WDIR: wdir = optarg; break;
		case O_PREP: o.prepare_only = true; break;
		case O_STRICT: o.env.strict = true; break;
		case O_COV: o.env.coverage = true; break;
		case O_JOBS: o.jobs = (size_t)strtoul(optarg, NULL, 10); break;
		case O_SANDBOX: sandbox_mode = optarg; break;
		case O_AUTOLAB: autolab = true; break;
		case 'v': verbose = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (hg)
		return hg_summary(argc - optind, argv + optind, sfile, wdir);
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!(scale >= 1 && scale <= 100)) {
		fprintf(stderr, "threadlab-grade: --timeout-scale must be between 1 and 100\n");
		return 2;
	}
	o.env.kit = absolute(kit_arg ? kit_arg : ".");
	if (!dir_exists(o.env.kit) || !dir_exists(xasprintf("%s/tests/common", o.env.kit))) {
		fprintf(stderr, "threadlab-grade: %s is not a threadlab kit (no tests/common); use --kit\n",
			o.env.kit);
		return 2;
	}
	if (gen) {
		if (!output) {
			usage(stderr);
			return 2;
		}
		return gen_suite(o.env.kit, gen, output);
	}
	o.submission = sub_arg ? absolute(sub_arg) : xasprintf("%s/solutions", o.env.kit);
	if (!dir_exists(o.submission)) {
		fprintf(stderr, "threadlab-grade: the submission %s is not a directory\n", o.submission);
		return 2;
	}
	if (mkdirs(out_arg, 0755) != 0) {
		fprintf(stderr, "threadlab-grade: cannot create %s: %s\n", out_arg, strerror(errno));
		return 2;
	}
	o.out = absolute(out_arg);
	o.env.cc = cc;
	if (sandbox_choose(&sandbox, sandbox_mode, o.env.kit, o.submission, o.out, &log) != 0) {
		fprintf(stderr, "threadlab-grade: %s\n", log);
		return 2;
	}
	o.sandbox = &sandbox;
	o.env.common = xasprintf("%s/work/.common", o.out);
	o.scale = scale;
	if (o.jobs == 0)
		o.jobs = 2;
	if (o.jobs > 15)
		o.jobs = 15; /* each command running at once gets its own uid (sandbox.h) */
	o.verbose = verbose;
	names = ex_arg ? split(ex_arg, &n) : all_exercises(o.env.kit, &n);
	if (n == 0) {
		fprintf(stderr, "threadlab-grade: no exercises to grade\n");
		return 2;
	}
	/* Load every manifest first: a typo in EXERCISES must not cost a half-finished run. */
	struct manifest **ms = xcalloc(n, sizeof *ms);
	for (size_t i = 0; i < n; i++)
		if (!(ms[i] = load(o.env.kit, names[i])))
			return 2;
	remove_tree(o.env.common);
	if (build_common(&o.env, &log) != 0) {
		fprintf(stderr, "threadlab-grade: the kit's test support does not build:\n%s\n", log);
		return 2;
	}
	g.submission = xstrdup(o.submission);
	g.sandbox = xstrdup(sandbox.description);
	if (!sandbox.contained && verbose)
		fprintf(stderr, "threadlab-grade: %s\n", sandbox.description);
	double start = now_s();
	for (size_t i = 0; i < n; i++) {
		if (verbose)
			fprintf(stderr, "grading %s ...\n", names[i]);
		grade_add(&g, grade_exercise(&o, ms[i]));
		manifest_free(ms[i]);
		free(names[i]);
	}
	g.seconds = now_s() - start;
	free(ms);
	free(names);
	if (o.prepare_only) {
		for (size_t i = 0; i < g.nexercises; i++) {
			const struct exercise_result *ex = g.exercises[i];

			for (size_t j = 0; j < ex->nchecks; j++)
				if (ex->checks[j].status == CHECK_FAIL || ex->checks[j].status == CHECK_ERROR)
					fprintf(stderr, "%s: %s\n", ex->checks[j].id, ex->checks[j].message);
			if (ex->status != EX_GRADED)
				status = 1;
			else
				printf("built in %s/work/%s\n", o.out, ex->name);
		}
		grade_free(&g);
		return status;
	}
	{
		char *rj = xasprintf("%s/results.json", o.out), *gs = xasprintf("%s/gradescope.json", o.out);
		char *st = xasprintf("%s/summary.txt", o.out);
		char *ju = xasprintf("%s/junit.xml", o.out), *ht = xasprintf("%s/report.html", o.out);
		char *md = xasprintf("%s/summary.md", o.out);
		FILE *f;
		int rc;

		if ((rc = report_json(rj, &g)) != 0 || (rc = report_gradescope(gs, &g)) != 0 ||
		    (rc = report_junit(ju, &g)) != 0 || (rc = report_html(ht, &g, o.out)) != 0 ||
		    (rc = report_markdown(md, &g)) != 0) {
			fprintf(stderr, "threadlab-grade: cannot write reports in %s: %s\n", o.out,
				strerror(rc));
			status = 2;
		}
		if ((f = fopen(st, "w")) != NULL) {
			report_text(f, &g, true);
			fclose(f);
		}
		report_text(stdout, &g, verbose);
		printf("Reports: %s (also gradescope.json, junit.xml, report.html, summary.md)\n", rj);
		if (autolab)
			report_autolab(stdout, &g); /* Autolab reads the last line of the output */
		free(ju);
		free(ht);
		free(md);
		free(rj);
		free(gs);
		free(st);
	}
	if (status == 0 && fail_under >= 0 && g.max_score > 0 &&
	    100.0 * g.score / g.max_score < fail_under - 1e-9) {
		printf("Score below --fail-under %g%%\n", fail_under);
		status = 1;
	}
	grade_free(&g);
	sandbox_free(&sandbox);
	return status;
}
