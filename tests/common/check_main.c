/* check_main.c - the main of every generated Check suite.
 *
 * Usage: check_<ex> [--xml FILE] [--tcase NAME]
 * The suite itself (tl_suite) is generated from the exercise's manifest by
 * `threadlab-grade --gen-suite`. Fork mode is forced whatever CK_FORK says: a test that crashes or
 * hangs must not take the others with it. Exit status: 0 when every test ran and passed. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tl_guard.h"

Suite *tl_suite(void);
extern const int tl_suite_ntests;

static void fail_test(const char *msg)
{
	ck_abort_msg("%s", msg);
}

int main(int argc, char **argv)
{
	const char *xml = NULL, *tcase = NULL;
	SRunner *sr;
	int run, failed;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--xml") == 0 && i + 1 < argc)
			xml = argv[++i];
		else if (strcmp(argv[i], "--tcase") == 0 && i + 1 < argc)
			tcase = argv[++i];
		else {
			fprintf(stderr, "usage: %s [--xml FILE] [--tcase NAME]\n", argv[0]);
			return 2;
		}
	}
	tl_guard_fail = fail_test;
	sr = srunner_create(tl_suite());
	srunner_set_fork_status(sr, CK_FORK);
	if (xml)
		srunner_set_xml(sr, xml);
	srunner_run(sr, NULL, tcase, getenv("CK_VERBOSITY") ? CK_ENV : CK_NORMAL);
	run = srunner_ntests_run(sr);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (!tcase && run != tl_suite_ntests) {
		fprintf(stderr, "check_main: %d tests ran but the manifest lists %d\n", run,
			tl_suite_ntests);
		return 1;
	}
	return failed == 0 ? 0 : 1;
}
