/* grade.c - see grade.h. */
#include "grade.h"

#include <errno.h>
#include <glob.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckxml.h"
#include "hgxml.h"
#include "policy.h"
#include "proc.h"
#include "races.h"
#include "stacks.h"
#include "tsanlog.h"
#include "util.h"

#define MAX_SOURCE_BYTES (1u << 20)
#define HG_SLOWDOWN 25.0  /* helgrind runs threaded code 9-30x slower (FACTS.md) */
#define VALGRIND_START_S 5.0
#define OUT_HEAD 3000
#define OUT_TAIL 1500

struct ctx {
	const struct grade_opts *o;
	const struct manifest *m;
	struct exercise_result *ex;
	char *work;
	struct proc_sandbox sb;      /* native runs and helgrind: with a memory limit */
	struct proc_sandbox sb_tsan; /* ThreadSanitizer: no memory limit (it cannot run under one) */
	struct build_env env;        /* o->env with the sandbox for student compiles */
};

static void vlog(const struct ctx *c, const char *what)
{
	if (c->o->verbose)
		fprintf(stderr, "[%s] %s\n", c->m->name, what);
}

static char *check_id(const char *kind, const char *a, const char *b)
{
	return b ? xasprintf("%s/%s/%s", kind, a, b) : xasprintf("%s/%s", kind, a);
}

/* Adds every check from the suite on (or from the drivers on) as skipped, with its points. */
static void skip_rest(struct ctx *c, bool suite_too, bool policy_too, const char *why)
{
	const struct manifest *m = c->m;

	if (policy_too)
		ex_add_check(c->ex, "policy/source", "policy", CHECK_SKIPPED, 0, 0, why);
	if (suite_too) {
		for (size_t i = 0; i < m->ntcases; i++) {
			const struct manifest_tcase *t = &m->tcases[i];

			for (size_t j = 0; j < t->ntests; j++) {
				char *id = check_id("functional", t->name, t->tests[j]);
				struct check *k = ex_add_check(c->ex, id, "functional", CHECK_SKIPPED, 0,
							       t->points / (double)t->ntests, why);

				k->hidden = t->hidden;
				free(id);
			}
		}
	}
	for (size_t i = 0; i < m->ndrivers; i++) {
		const struct manifest_driver *d = &m->drivers[i];
		const char *kind = d->kind == DRIVER_RACES ? "races" : "speedup";
		char *id = check_id(kind, d->name, NULL);

		ex_add_check(c->ex, id, kind, CHECK_SKIPPED, 0, d->points, why);
		free(id);
	}
}

/* Finds each student file as <sub>/<ex>/<file> or <sub>/<file> and copies it into the work dir.
 * Returns 0, ENOENT when none was found, or another errno with *msg. */
static int fetch_sources(struct ctx *c, char **msg)
{
	const struct manifest *m = c->m;
	struct strbuf sb = { 0 };
	size_t found = 0;
	int rc = 0;

	for (size_t i = 0; i < m->nstudent_files; i++) {
		const char *f = m->student_files[i];
		char *a = xasprintf("%s/%s/%s", c->o->submission, m->name, f);
		char *b = xasprintf("%s/%s", c->o->submission, f);
		const char *src = file_exists(a) ? a : file_exists(b) ? b : NULL;
		char *dst = xasprintf("%s/%s", c->work, f);
		struct stat st;

		if (!src) {
			sb_addf(&sb, "%s is missing (looked for %s/%s/%s and %s/%s). ", f,
				c->o->submission, m->name, f, c->o->submission, f);
			rc = EINVAL;
		} else if (stat(src, &st) == 0 && st.st_size > (off_t)MAX_SOURCE_BYTES) {
			found++;
			sb_addf(&sb, "%s is %.1f MiB, more than the 1 MiB a source file may have; it "
				     "was not compiled. ", f, (double)st.st_size / (1 << 20));
			rc = EFBIG;
		} else if (file_copy(src, dst, MAX_SOURCE_BYTES) != 0) {
			found++;
			sb_addf(&sb, "%s cannot be read: %s. ", f, strerror(errno));
			rc = EIO;
		} else {
			found++;
		}
		free(a);
		free(b);
		free(dst);
	}
	*msg = sb_take(&sb);
	return found == 0 ? ENOENT : rc;
}

/* ---- the Check suite ---- */

/* tests/common/tl_hang.c stops a test that reached its time limit (with everything it started):
 * Check then reports signal 9 instead of its own timeout. The stacks file exists only when the
 * watchdog fired, i.e. at 90 % of the limit, so its presence is enough (under heavy load the
 * kill can land before the "stopped" line is written). */
static bool stopped_by_watchdog(struct ctx *c, const struct manifest_tcase *t, const char *test,
				const struct ck_test *ct)
{
	char *spath;
	bool fired;

	if (ct->result != CK_R_ERROR || !strstr(ct->message, "signal 9"))
		return false;
	spath = xasprintf("%s/hang/%s.%s.stacks", c->work, t->name, test);
	fired = file_exists(spath);
	free(spath);
	return fired;
}

static void functional_check(struct ctx *c, const struct manifest_tcase *t, const char *test,
			     const struct ck_log *log, const struct proc_result *run,
			     const char *run_out, bool *told)
{
	const struct ck_test *ct = ckxml_find(log, t->name, test);
	double max = t->points / (double)t->ntests;
	char *id = check_id("functional", t->name, test);
	enum check_status st;
	char *msg;

	if (!ct) {
		st = run->timed_out ? CHECK_TIMEOUT : CHECK_ERROR;
		/* The run's output is shown once, with the first test that is missing. */
		msg = xasprintf("this test did not report a result: the test run %s before it got "
				"there.%s%s",
				run->timed_out ? "was stopped at its overall time limit" : "ended",
				*told ? "" : *run_out ? " Its output:\n" : "", *told ? "" : run_out);
		*told = true;
	} else if (ct->result == CK_R_SUCCESS && ct->duration < 0) {
		/* FACTS.md: an exit(0) inside a forked test is reported as a pass with duration -1. */
		st = CHECK_ERROR;
		msg = xstrdup("the test process ended before the test finished (something called "
			      "exit or ended the thread): that is not a pass.");
	} else if (ct->result == CK_R_SUCCESS) {
		st = CHECK_PASS;
		msg = xstrdup("");
	} else if (strstr(ct->message, "Test timeout expired") || stopped_by_watchdog(c, t, test, ct)) {
		char *spath = xasprintf("%s/hang/%s.%s.stacks", c->work, t->name, test);
		char *where = stacks_summarize(spath, c->m->student_files, c->m->nstudent_files, c->work);

		st = CHECK_TIMEOUT;
		msg = xasprintf("did not finish within %g s (this test's time limit): a thread is "
				"probably blocked forever (a deadlock, a lost wakeup, a waiter that is "
				"never woken) or spinning.%s%s",
				t->timeout_s * c->o->scale,
				where ? "\nJust before the limit: " : "", where ? where : "");
		free(where);
		free(spath);
	} else if (ct->result == CK_R_ERROR) {
		st = CHECK_ERROR;
		if (strstr(ct->message, "Received signal"))
			msg = xasprintf("crashed: %s (last check reached: %s). Run `make suite EX=%s "
					"SUBMISSION=...` under gdb or valgrind to find where.",
					ct->message, ct->where ? ct->where : "?", c->m->name);
		else
			msg = xasprintf("%s (last check reached: %s)", ct->message,
					ct->where ? ct->where : "?");
	} else {
		st = CHECK_FAIL;
		msg = xstrdup(ct->message);
	}
	ex_add_check(c->ex, id, "functional", st, st == CHECK_PASS ? max : 0, max, msg)->hidden =
		t->hidden;
	free(id);
	free(msg);
}

/* Runs each TCase as its own process (check_main --tcase), jobs at a time: the suite takes half
 * the time on two cores, and a TCase that hangs costs only its own tests' time limits. */
static void run_suite(struct ctx *c)
{
	const struct manifest *m = c->m;
	size_t n = m->ntcases;
	char *exe = xasprintf("./check_%s", m->name);
	char *mult = xasprintf("CK_TIMEOUT_MULTIPLIER=%g", c->o->scale);
	char *slow = xasprintf("TL_SLOWDOWN=%g", c->o->scale);
	char *hangdir = xasprintf("%s/hang", c->work);
	char *hang = xasprintf("TL_HANG_DIR=%s", hangdir);
	char *env[] = { mult, slow, hang, "CK_FORK=yes", "CK_RUN_SUITE", "CK_RUN_CASE",
			"CK_INCLUDE_TAGS", "CK_EXCLUDE_TAGS", "CK_DEFAULT_TIMEOUT", NULL };
	struct proc_opts *po = xcalloc(n, sizeof *po);
	struct proc_result *r = xcalloc(n, sizeof *r);
	char **xml = xcalloc(n, sizeof *xml), **outp = xcalloc(n, sizeof *outp);
	char ***argv = xcalloc(n, sizeof *argv);

	vlog(c, "running the Check suite");
	mkdirs(hangdir, 0755);
	sandbox_give(c->o->sandbox, hangdir);
	for (size_t i = 0; i < n; i++) {
		const struct manifest_tcase *t = &m->tcases[i];

		xml[i] = xasprintf("%s/check.%s.xml", c->work, t->name);
		outp[i] = xasprintf("%s/check.%s.out", c->work, t->name);
		argv[i] = xcalloc(6, sizeof **argv);
		argv[i][0] = exe;
		argv[i][1] = "--xml";
		argv[i][2] = xml[i];
		argv[i][3] = "--tcase";
		argv[i][4] = t->name;
		unlink(xml[i]);
		po[i] = (struct proc_opts){ .argv = argv[i], .cwd = c->work, .env = env,
					    .sandbox = &c->sb,
					    .stdout_path = outp[i], .stderr_path = outp[i],
					    .timeout_s = (t->timeout_s * c->o->scale + 0.5) *
							 (double)t->ntests + 5 };
	}
	proc_run_many(po, n, r, c->o->jobs);
	for (size_t i = 0; i < n; i++) {
		const struct manifest_tcase *t = &m->tcases[i];
		struct ck_log log = { 0 };
		char *run_out = file_read_headtail(outp[i], OUT_HEAD, OUT_TAIL);
		bool told = false;

		ckxml_load(xml[i], &log);
		for (size_t j = 0; j < t->ntests; j++)
			functional_check(c, t, t->tests[j], &log, &r[i], run_out, &told);
		ckxml_free(&log);
		free(run_out);
		free(xml[i]);
		free(outp[i]);
		free(argv[i]);
	}
	free(po);
	free(r);
	free(xml);
	free(outp);
	free(argv);
	free(exe);
	free(mult);
	free(slow);
	free(hang);
	free(hangdir);
}

/* ---- drivers ---- */

static void capture_stacks(pid_t pid, void *path)
{
	stacks_capture(pid, path);
}

/* Runs a driver natively first: a hang shows where the threads were (gdb cannot follow a
 * program under valgrind), a broken invariant shows plainly, and the native time bounds the
 * helgrind run so that a hang under helgrind costs seconds, not minutes. Returns true when the
 * driver passed natively; otherwise adds the check. */
static bool native_first(struct ctx *c, const struct manifest_driver *d, const char *id,
			 double *elapsed)
{
	char *exe = xasprintf("./%s", d->name);
	char *outp = xasprintf("%s/%s.native.out", c->work, d->name);
	char *spath = xasprintf("%s/%s.stacks", c->work, d->name);
	char *slow = xasprintf("TL_SLOWDOWN=%g", c->o->scale);
	char *argv[] = { exe, NULL };
	char *env[] = { slow, NULL };
	double limit = d->timeout_s * c->o->scale;
	struct proc_opts po = { .argv = argv, .cwd = c->work, .env = env, .stdout_path = outp,
				.stderr_path = outp, .timeout_s = limit, .sandbox = &c->sb,
				.on_timeout = capture_stacks, .ud = spath };
	struct proc_result r = { 0 };
	char desc[128], *out, *msg = NULL;

	vlog(c, "running the race driver natively");
	proc_run(&po, &r);
	*elapsed = r.elapsed_s;
	out = file_read_headtail(outp, OUT_HEAD, OUT_TAIL);
	if (r.timed_out) {
		char *where = stacks_summarize(spath, c->m->student_files, c->m->nstudent_files, c->work);

		msg = xasprintf("the race driver did not finish within %.0f s even without helgrind: "
				"a thread is probably blocked forever (deadlock or lost wakeup).%s%s\n%s",
				limit, where ? "\nJust before the limit: " : "", where ? where : "", out);
		ex_add_check(c->ex, id, "races", CHECK_TIMEOUT, 0, d->points, msg);
		free(where);
	} else if (r.signaled || r.exit_code != 0) {
		msg = xasprintf("the race driver's own checks failed (it %s) before any race could be "
				"looked for:\n%s",
				proc_describe(&r, desc, sizeof desc), out);
		ex_add_check(c->ex, id, "races", CHECK_FAIL, 0, d->points, msg);
	}
	free(msg);
	free(out);
	free(exe);
	free(outp);
	free(spath);
	free(slow);
	return !r.timed_out && !r.signaled && r.exit_code == 0;
}

/* Builds the ThreadSanitizer variant of a race driver; NULL on success, else why not. */
static char *build_tsan(struct ctx *c, const struct manifest_driver *d)
{
	struct build_env tenv = c->env;
	char *log = NULL, *why = NULL;

	tenv.tsan = true;
	if (build_common(&tenv, &log) != 0 || (free(log), log = NULL,
					       build_student(&tenv, c->m, c->work, &log) != 0) ||
	    (free(log), log = NULL, build_guard(&tenv, c->m, c->work, &log) != 0) ||
	    (free(log), log = NULL, build_driver(&tenv, c->m, d, c->work, &log) != 0))
		why = xasprintf("ThreadSanitizer could not be used (%.300s)", log ? log : "?");
	free(log);
	return why;
}

#define DETECTOR_RUNS 2 /* one schedule can hide a race: each detector runs the driver twice */

/* The race driver under helgrind and under ThreadSanitizer, DETECTOR_RUNS times each. The verdict
 * comes from what the tools report in student code, never from their exit codes; findings of
 * both are merged by the student lines involved. */
static void run_races(struct ctx *c, const struct manifest_driver *d, bool atomics)
{
	char *id = check_id("races", d->name, NULL);
	char *exe = xasprintf("./%s", d->name), *texe = xasprintf("./%s.tsan", d->name);
	char *slow_hg = xasprintf("TL_SLOWDOWN=%g", HG_SLOWDOWN * c->o->scale);
	char *slow_ts = xasprintf("TL_SLOWDOWN=%g", 4 * c->o->scale);
	char *hg_env[] = { slow_hg, NULL };
	struct proc_opts po[2 * DETECTOR_RUNS];
	struct proc_result r[2 * DETECTOR_RUNS];
	char *argv[2 * DETECTOR_RUNS][8], *outs[2 * DETECTOR_RUNS], *tsopts[DETECTOR_RUNS];
	char *tsenv[DETECTOR_RUNS][3];
	struct hg_report rep = { 0 };
	struct races_verdict v = { 0 };
	struct strbuf why = { 0 };
	enum check_status st = CHECK_PASS;
	char desc[128], *msg = NULL, *tsan_missing = NULL, *pattern;
	size_t nruns = 0, failed_run = (size_t)-1, timed_out_run = (size_t)-1;
	double native, hg_limit, ts_limit;
	glob_t g = { 0 };

	if (!native_first(c, d, id, &native))
		goto out;
	vlog(c, "building the ThreadSanitizer variant");
	tsan_missing = build_tsan(c, d);
	/* Twice the slowest slowdown over the native time, with room for the tool to start, at most
	 * the manifest's budget times that slowdown. */
	hg_limit = native * HG_SLOWDOWN * 2 + VALGRIND_START_S + 15;
	if (hg_limit > d->timeout_s * HG_SLOWDOWN + VALGRIND_START_S)
		hg_limit = d->timeout_s * HG_SLOWDOWN + VALGRIND_START_S;
	ts_limit = native * 20 + 15;
	if (ts_limit > d->timeout_s * 10 + 5)
		ts_limit = d->timeout_s * 10 + 5;
	for (size_t k = 0; k < DETECTOR_RUNS; k++) {
		size_t i = nruns++;

		outs[i] = xasprintf("%s/%s.helgrind.%zu.out", c->work, d->name, k);
		argv[i][0] = "valgrind";
		argv[i][1] = "--tool=helgrind";
		argv[i][2] = "--xml=yes";
		argv[i][3] = xasprintf("--xml-file=%s/hg.%s.%zu.%%p.xml", c->work, d->name, k);
		argv[i][4] = "--child-silent-after-fork=yes";
		argv[i][5] = exe;
		argv[i][6] = NULL;
		po[i] = (struct proc_opts){ .argv = argv[i], .cwd = c->work, .env = hg_env,
					    .sandbox = &c->sb,
					    .stdout_path = outs[i], .stderr_path = outs[i],
					    .timeout_s = hg_limit * c->o->scale };
	}
	for (size_t k = 0; !tsan_missing && k < DETECTOR_RUNS; k++) {
		size_t i = nruns++;

		outs[i] = xasprintf("%s/%s.tsan.%zu.out", c->work, d->name, k);
		tsopts[k] = xasprintf("TSAN_OPTIONS=halt_on_error=0 exitcode=0 report_signal_unsafe=0 "
				      "second_deadlock_stack=1 log_path=%s/tsan.%s.%zu",
				      c->work, d->name, k);
		tsenv[k][0] = tsopts[k];
		tsenv[k][1] = slow_ts;
		tsenv[k][2] = NULL;
		argv[i][0] = texe;
		argv[i][1] = NULL;
		po[i] = (struct proc_opts){ .argv = argv[i], .cwd = c->work, .env = tsenv[k],
					    .sandbox = &c->sb_tsan,
					    .stdout_path = outs[i], .stderr_path = outs[i],
					    .timeout_s = ts_limit * c->o->scale };
	}
	vlog(c, "running the race driver under helgrind and ThreadSanitizer");
	proc_run_many(po, nruns, r, c->o->jobs);
	pattern = xasprintf("%s/hg.%s.*.xml", c->work, d->name);
	if (glob(pattern, 0, NULL, &g) == 0)
		for (size_t i = 0; i < g.gl_pathc; i++)
			hgxml_load(g.gl_pathv[i], &rep);
	globfree(&g);
	free(pattern);
	pattern = xasprintf("%s/tsan.%s.*", c->work, d->name);
	if (glob(pattern, 0, NULL, &g) == 0)
		for (size_t i = 0; i < g.gl_pathc; i++)
			tsanlog_load(g.gl_pathv[i], &rep);
	globfree(&g);
	free(pattern);
	for (size_t i = 0; i < nruns; i++) {
		if (r[i].timed_out && timed_out_run == (size_t)-1)
			timed_out_run = i;
		else if ((r[i].signaled || r[i].exit_code != 0) && failed_run == (size_t)-1)
			failed_run = i;
	}
	/* With atomics, helgrind's race reports are unreliable; trust ThreadSanitizer if it ran. */
	races_judge(&rep, c->m->student_files, c->m->nstudent_files, c->work,
		    tsan_missing ? RACES_HELGRIND : atomics ? RACES_TSAN_ATOMICS : RACES_TSAN_TOO, &v);
	if (v.findings > 0) {
		st = CHECK_FAIL;
		sb_addf(&why, "%zu problem%s found in your code:\n%s", v.findings,
			v.findings == 1 ? "" : "s", v.message);
	} else if (timed_out_run != (size_t)-1) {
		char *out = file_read_headtail(outs[timed_out_run], OUT_HEAD, OUT_TAIL);

		st = CHECK_TIMEOUT;
		sb_addf(&why, "under %s the race driver did not finish within %.0f s (natively it took "
			      "%.2f s): a thread is probably blocked forever (deadlock or lost wakeup) "
			      "in a schedule that the tool's slower timing exposed.\n%s",
			timed_out_run < DETECTOR_RUNS ? "helgrind" : "ThreadSanitizer",
			po[timed_out_run].timeout_s, native, out);
		free(out);
	} else if (failed_run != (size_t)-1) {
		char *out = file_read_headtail(outs[failed_run], OUT_HEAD, OUT_TAIL);

		st = CHECK_FAIL;
		sb_addf(&why, "no race was reported, but the race driver's own checks failed under %s "
			      "(it %s): the other schedule exposed a bug:\n%s",
			failed_run < DETECTOR_RUNS ? "helgrind" : "ThreadSanitizer",
			proc_describe(&r[failed_run], desc, sizeof desc), out);
		free(out);
	} else if (rep.nfiles == 0) {
		st = CHECK_ERROR;
		sb_add(&why, "the race detectors produced no report at all (see the work dir)");
	} else {
		sb_addf(&why, "no data race, lock-order or lock-misuse problem found in your code "
			      "(helgrind x%d%s)",
			DETECTOR_RUNS, tsan_missing ? "" : ", ThreadSanitizer x2");
		if (v.misc)
			sb_add(&why, "; notes about signalling a condition variable without holding "
				     "the mutex are legal and were ignored");
		if (v.set_aside && !atomics)
			sb_addf(&why, "; %zu helgrind report%s inside the C library's own locking (a "
				      "known false alarm) left to ThreadSanitizer",
				v.set_aside, v.set_aside == 1 ? "" : "s");
		sb_add(&why, ".");
	}
	if (atomics)
		sb_add(&why, tsan_missing
				     ? "\nNote: your code uses atomics, which helgrind cannot see; a race "
				       "reported on an atomic variable can be a false alarm."
				     : "\nYour code uses atomics, which helgrind cannot see: its race reports "
				       "were set aside and ThreadSanitizer's verdict used instead.");
	if (tsan_missing)
		sb_addf(&why, "\nNote: %s; helgrind alone was used.", tsan_missing);
	msg = sb_take(&why);
	ex_add_check(c->ex, id, "races", st, st == CHECK_PASS ? d->points : 0, d->points, msg);
	for (size_t i = 0; i < nruns; i++) {
		free(outs[i]);
		if (i < DETECTOR_RUNS)
			free(argv[i][3]);
		else
			free(tsopts[i - DETECTOR_RUNS]);
	}
out:
	races_verdict_free(&v);
	hgxml_free(&rep);
	free(msg);
	free(tsan_missing);
	free(exe);
	free(texe);
	free(slow_hg);
	free(slow_ts);
	free(id);
}

static void run_speedup(struct ctx *c, const struct manifest_driver *d)
{
	char *exe = xasprintf("./%s", d->name);
	char *resp = xasprintf("%s/%s.result.json", c->work, d->name);
	char *artdir = xasprintf("%s/%s.artifacts", c->work, d->name);
	char *outp = xasprintf("%s/%s.out", c->work, d->name);
	char *e1 = xasprintf("TL_RESULT=%s", resp);
	char *e2 = xasprintf("TL_ARTIFACTS=%s", artdir);
	char *e3 = xasprintf("TL_SLOWDOWN=%g", c->o->scale);
	char *id = check_id("speedup", d->name, NULL);
	char *argv[] = { exe, NULL };
	char *env[] = { e1, e2, e3, NULL };
	double limit = d->timeout_s * c->o->scale + 5;
	char *spath = xasprintf("%s/%s.stacks", c->work, d->name);
	struct proc_opts po = { .argv = argv, .cwd = c->work, .env = env, .stdout_path = outp,
				.stderr_path = outp, .timeout_s = limit, .sandbox = &c->sb,
				.on_timeout = capture_stacks, .ud = spath };
	struct proc_result r = { 0 };
	enum check_status st = CHECK_ERROR;
	double score = 0;
	char desc[128], *msg = NULL, *out;
	json_t *res = NULL;

	vlog(c, "running a speedup driver");
	mkdirs(artdir, 0755);
	sandbox_give(c->o->sandbox, artdir);
	unlink(resp);
	proc_run(&po, &r);
	out = file_read_headtail(outp, OUT_HEAD, OUT_TAIL);
	if (!r.timed_out)
		res = json_load_file(resp, 0, NULL);
	if (r.timed_out) {
		char *where = stacks_summarize(spath, c->m->student_files, c->m->nstudent_files, c->work);

		st = CHECK_TIMEOUT;
		msg = xasprintf("did not finish within %.0f s: a thread is probably blocked forever "
				"(deadlock or lost wakeup).%s%s\n%s",
				limit, where ? "\nJust before the limit: " : "", where ? where : "", out);
		free(where);
	} else if (!json_is_object(res) ||
		   !json_is_string(json_object_get(res, "status"))) {
		msg = xasprintf("the driver gave no verdict: it %s.\n%s",
				proc_describe(&r, desc, sizeof desc), out);
	} else {
		const char *s = json_string_value(json_object_get(res, "status"));
		const char *m = json_string_value(json_object_get(res, "message"));
		double f = json_number_value(json_object_get(res, "fraction"));

		st = strcmp(s, "pass") == 0 ? CHECK_PASS
		   : strcmp(s, "fail") == 0 ? CHECK_FAIL
					     : CHECK_INCONCLUSIVE;
		if (!(f >= 0 && f <= 1))
			f = 0;
		score = d->points * f;
		msg = xstrdup(m ? m : "");
	}
	ex_add_check(c->ex, id, "speedup", st, score, d->points, msg);
	json_decref(res);
	free(msg);
	free(out);
	free(exe);
	free(resp);
	free(artdir);
	free(outp);
	free(e1);
	free(e2);
	free(e3);
	free(id);
	free(spath);
}

static void run_drivers(struct ctx *c, bool atomics)
{
	for (size_t i = 0; i < c->m->ndrivers; i++) {
		const struct manifest_driver *d = &c->m->drivers[i];
		char *log = NULL;

		if (build_driver(&c->env, c->m, d, c->work, &log) != 0) {
			const char *kind = d->kind == DRIVER_RACES ? "races" : "speedup";
			char *id = check_id(kind, d->name, NULL);
			char *msg = xasprintf("the %s driver could not be linked with your code:\n%s",
					      d->name, log);

			ex_add_check(c->ex, id, kind, CHECK_ERROR, 0, d->points, msg);
			free(id);
			free(msg);
		} else if (d->kind == DRIVER_RACES) {
			run_races(c, d, atomics);
		} else {
			run_speedup(c, d);
		}
		free(log);
	}
}

/* ---- one exercise ---- */

static void grade_steps(struct ctx *c)
{
	const struct manifest *m = c->m;
	char *msg = NULL, *log = NULL;
	bool atomics;
	int rc;

	rc = fetch_sources(c, &msg);
	if (rc == ENOENT) {
		c->ex->status = EX_NOT_SUBMITTED;
		free(msg);
		msg = xasprintf("not submitted: no %s found (put it in %s/ or at the top of your "
				"submission)", m->student_files[0], m->name);
		ex_add_check(c->ex, "build/compile", "build", CHECK_SKIPPED, 0, 0, msg);
		skip_rest(c, true, true, "not submitted");
		goto out;
	}
	if (rc != 0) {
		c->ex->status = EX_BUILD_FAILED;
		ex_add_check(c->ex, "build/compile", "build", CHECK_FAIL, 0, 0, msg);
		skip_rest(c, true, true, "not run: the code could not be built");
		goto out;
	}
	free(msg);
	msg = NULL;
	sandbox_give(c->o->sandbox, c->work);
	vlog(c, "compiling");
	if (build_student(&c->env, m, c->work, &log) != 0) {
		c->ex->status = EX_BUILD_FAILED;
		msg = xasprintf("your code does not compile:\n%s", log);
		ex_add_check(c->ex, "build/compile", "build", CHECK_FAIL, 0, 0, msg);
		skip_rest(c, true, true, "not run: the code does not compile");
		goto out;
	}
	ex_add_check(c->ex, "build/compile", "build", CHECK_PASS, 0, 0,
		     *log ? "compiled, with warnings (see notes)" : "compiled without warnings");
	if (*log)
		c->ex->notes = xasprintf("Compiler warnings (fix them: most are real bugs):\n%s", log);
	free(log);
	log = NULL;
	{
		/* The manifest's forbidden identifiers and symbols, then the kit-wide rules. A
		 * violation withholds every other point: the exercise was not solved as asked, or
		 * the code could subvert the tests. */
		char *mine = NULL, *kit = NULL;
		int n = build_policy(&c->env, m, c->work, &mine);

		/* A --coverage build (make coverage, on the reference) calls gcov's runtime. */
		if (!c->env.coverage)
			n += policy_check_objects(&c->env, m, c->work, &kit);
		else
			kit = xstrdup("");
		if (n > 0) {
			char *text = xasprintf("%s%s%s\nThe other checks were not run: the exercise must "
					       "be solved as asked, with nothing that could subvert the "
					       "tests.", mine, *mine && *kit ? "\n" : "", kit);

			ex_add_check(c->ex, "policy/source", "policy", CHECK_FAIL, 0, 0, text);
			free(text);
			free(mine);
			free(kit);
			skip_rest(c, true, false, "withheld: the policy check failed");
			goto out;
		}
		ex_add_check(c->ex, "policy/source", "policy", CHECK_PASS, 0, 0,
			     "calls and defines nothing the exercise forbids");
		free(mine);
		free(kit);
	}
	atomics = build_uses_atomics(m, c->work);
	if (build_guard(&c->env, m, c->work, &log) != 0) {
		c->ex->status = EX_GRADER_ERROR;
		msg = xasprintf("the grader could not prepare your object file (objcopy):\n%s", log);
		ex_add_check(c->ex, "build/link", "build", CHECK_ERROR, 0, 0, msg);
		skip_rest(c, true, false, "not run: grader error");
		goto out;
	}
	free(log);
	log = NULL;
	vlog(c, "linking the suite");
	if (build_suite(&c->env, m, c->work, &log) != 0) {
		c->ex->status = EX_BUILD_FAILED;
		msg = xasprintf("your code compiled but could not be linked with the tests (a "
				"function missing or misspelt, or a name the tests also define?):\n%s",
				log);
		ex_add_check(c->ex, "build/link", "build", CHECK_FAIL, 0, 0, msg);
		skip_rest(c, true, false, "not run: the code could not be linked");
		goto out;
	}
	if (c->o->prepare_only) {
		for (size_t i = 0; i < m->ndrivers; i++) {
			free(log);
			log = NULL;
			if (build_driver(&c->env, m, &m->drivers[i], c->work, &log) != 0)
				fprintf(stderr, "driver %s does not link:\n%s\n", m->drivers[i].name, log);
		}
		goto out;
	}
	run_suite(c);
	run_drivers(c, atomics);
out:
	free(msg);
	free(log);
}

struct exercise_result *grade_exercise(const struct grade_opts *o, const struct manifest *m)
{
	struct exercise_result *ex = xcalloc(1, sizeof *ex);
	struct ctx c = { o, m, ex, xasprintf("%s/work/%s", o->out, m->name), { 0 }, { 0 }, o->env };
	double start = now_s();

	c.sb = sandbox_for(o->sandbox, c.work, true);
	c.sb_tsan = sandbox_for(o->sandbox, c.work, false);
	c.env.sandbox = &c.sb;

	ex->name = xstrdup(m->name);
	ex->title = xstrdup(m->title);
	ex->status = EX_GRADED;
	remove_tree(c.work);
	if (mkdirs(c.work, 0755) != 0) {
		char *msg = xasprintf("cannot create the work dir %s: %s", c.work, strerror(errno));

		ex->status = EX_GRADER_ERROR;
		ex_add_check(ex, "build/compile", "build", CHECK_ERROR, 0, 0, msg);
		skip_rest(&c, true, true, "not run: grader error");
		free(msg);
	} else {
		grade_steps(&c);
	}
	ex_total(ex);
	ex->seconds = now_s() - start;
	free(c.work);
	return ex;
}
