/* tl_result.c - see tl_result.h. Uses jansson so that messages are escaped correctly. */
#include "tl_result.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static json_t *metrics; /* only the driver's main thread calls these functions */

void tl_result_metric(const char *name, double value)
{
	if (!metrics)
		metrics = json_object();
	json_object_set_new(metrics, name, json_real(value));
}

void tl_result_write(const char *status, double fraction, const char *fmt, ...)
{
	char msg[4096];
	const char *path = getenv("TL_RESULT");
	json_t *root;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (fraction < 0)
		fraction = 0;
	if (fraction > 1)
		fraction = 1;
	root = json_pack("{s:s, s:f, s:s, s:o}", "status", status, "fraction", fraction,
			 "message", msg, "metrics", metrics ? metrics : json_object());
	metrics = NULL;
	if (path && *path) {
		if (json_dump_file(root, path, JSON_INDENT(2)) != 0)
			fprintf(stderr, "tl_result_write: cannot write %s\n", path);
	} else {
		json_dumpf(root, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
	}
	/* Always say it in plain words on stderr too, for a person running the driver by hand. */
	fprintf(stderr, "%s: %s\n", status, msg);
	json_decref(root);
}
