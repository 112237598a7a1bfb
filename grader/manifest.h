/* manifest.h - an exercise described as data (tests/<ex>/manifest.json).
 *
 * The grader is generic: everything it knows about an exercise comes from its manifest. The schema
 * is documented in docs/adding-an-exercise.md. manifest_load() validates it fully, so the rest of
 * the grader can trust every field it reads. */
#ifndef GRADER_MANIFEST_H
#define GRADER_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>

struct manifest_tcase {
	char *name;
	double points;    /* split evenly between the tests */
	double timeout_s; /* per test, native */
	char **tests;
	size_t ntests;
	bool hidden;      /* names never shown to students */
};

enum driver_kind { DRIVER_RACES, DRIVER_SPEEDUP };

struct manifest_driver {
	char *name;
	enum driver_kind kind;
	char *source;     /* relative to the manifest's directory */
	double points;
	double timeout_s; /* native wall clock */
};

struct manifest_rule {
	char *what; /* a symbol or an identifier */
	char *why;
};

struct manifest {
	char *name;
	char *title;
	char *dir;           /* tests/<ex>: where the manifest and its sources are */
	char *header;        /* exercises/<ex>/<header> */
	char **student_files;
	size_t nstudent_files;
	char *suite_source;  /* relative to dir */
	char *hidden_source; /* relative to dir, or NULL: the hidden TCases' tests (not handed out) */
	struct manifest_tcase *tcases;
	size_t ntcases;
	struct manifest_driver *drivers;
	size_t ndrivers;
	struct manifest_rule *forbidden_symbols;
	size_t nforbidden_symbols;
	struct manifest_rule *forbidden_identifiers;
	size_t nforbidden_identifiers;
};

/* Loads and validates path. On error returns EINVAL (or an errno) with a message in err. */
int manifest_load(const char *path, struct manifest **out, char *err, size_t errlen);
void manifest_free(struct manifest *m);

/* The number of tests over every TCase, and the exercise's maximum score. */
size_t manifest_ntests(const struct manifest *m);
double manifest_max_score(const struct manifest *m);

#endif
