/* ckxml.h - read the XML log that Check writes (srunner_set_xml), with libxml2. */
#ifndef GRADER_CKXML_H
#define GRADER_CKXML_H

#include <stddef.h>

enum ck_result { CK_R_SUCCESS, CK_R_FAILURE, CK_R_ERROR };

struct ck_test {
	char *tcase;    /* <description> */
	char *name;     /* <id> */
	char *where;    /* <fn>: file:line of the last check reached */
	enum ck_result result;
	double duration; /* seconds; -1 when Check did not time the test */
	char *message;
};

struct ck_log {
	struct ck_test *tests;
	size_t ntests;
};

/* Adds the tests of one XML log to out (zero it first). 0, or EINVAL when the file is missing,
 * empty or not a Check log (a partial log from a killed run is read as far as it goes). */
int ckxml_load(const char *path, struct ck_log *out);
/* The entry for tcase/name, or NULL. */
const struct ck_test *ckxml_find(const struct ck_log *log, const char *tcase, const char *name);
void ckxml_free(struct ck_log *log);

#endif
