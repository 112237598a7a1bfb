/* report_junit.c - JUnit XML with libxml2's writer: a <testsuite> per exercise, a <testcase>
 * per check; fail -> <failure>, error/timeout -> <error>, skipped/inconclusive -> <skipped>.
 * The points are in each testcase's properties, since JUnit has no notion of them. */
#include <errno.h>
#include <libxml/xmlwriter.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

static int count(const struct exercise_result *ex, enum check_status a, enum check_status b)
{
	int n = 0;

	for (size_t i = 0; i < ex->nchecks; i++)
		n += ex->checks[i].status == a || ex->checks[i].status == b;
	return n;
}

int report_junit(const char *path, const struct grade_result *g)
{
	xmlTextWriterPtr w = xmlNewTextWriterFilename(path, 0);
	int rc = 0;

	if (!w)
		return EIO;
	xmlTextWriterSetIndent(w, 1);
	rc |= xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL) < 0;
	rc |= xmlTextWriterStartElement(w, BAD_CAST "testsuites") < 0;
	xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST "threadlab");
	xmlTextWriterWriteFormatAttribute(w, BAD_CAST "time", "%.3f", g->seconds);
	for (size_t i = 0; i < g->nexercises; i++) {
		const struct exercise_result *ex = g->exercises[i];

		xmlTextWriterStartElement(w, BAD_CAST "testsuite");
		xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST ex->name);
		xmlTextWriterWriteFormatAttribute(w, BAD_CAST "tests", "%zu", ex->nchecks);
		xmlTextWriterWriteFormatAttribute(w, BAD_CAST "failures", "%d",
						  count(ex, CHECK_FAIL, CHECK_FAIL));
		xmlTextWriterWriteFormatAttribute(w, BAD_CAST "errors", "%d",
						  count(ex, CHECK_ERROR, CHECK_TIMEOUT));
		xmlTextWriterWriteFormatAttribute(w, BAD_CAST "skipped", "%d",
						  count(ex, CHECK_SKIPPED, CHECK_INCONCLUSIVE));
		xmlTextWriterWriteFormatAttribute(w, BAD_CAST "time", "%.3f", ex->seconds);
		for (size_t j = 0; j < ex->nchecks; j++) {
			const struct check *c = &ex->checks[j];
			const char *name = c->hidden ? "hidden test" : c->id;

			xmlTextWriterStartElement(w, BAD_CAST "testcase");
			xmlTextWriterWriteAttribute(w, BAD_CAST "classname", BAD_CAST ex->name);
			xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST name);
			xmlTextWriterStartElement(w, BAD_CAST "properties");
			xmlTextWriterStartElement(w, BAD_CAST "property");
			xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST "score");
			xmlTextWriterWriteFormatAttribute(w, BAD_CAST "value", "%.3f", c->score);
			xmlTextWriterEndElement(w);
			xmlTextWriterStartElement(w, BAD_CAST "property");
			xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST "max_score");
			xmlTextWriterWriteFormatAttribute(w, BAD_CAST "value", "%.3f", c->max_score);
			xmlTextWriterEndElement(w);
			xmlTextWriterEndElement(w); /* properties */
			if (c->status != CHECK_PASS) {
				const char *el = c->status == CHECK_FAIL ? "failure"
					       : c->status == CHECK_ERROR || c->status == CHECK_TIMEOUT
						       ? "error"
						       : "skipped";

				xmlTextWriterStartElement(w, BAD_CAST el);
				xmlTextWriterWriteAttribute(w, BAD_CAST "type",
							    BAD_CAST check_status_name(c->status));
				xmlTextWriterWriteAttribute(w, BAD_CAST "message",
							    BAD_CAST(strchr(c->message, '\n') ? "see text"
											       : c->message));
				xmlTextWriterWriteString(w, BAD_CAST c->message);
				xmlTextWriterEndElement(w);
			}
			xmlTextWriterEndElement(w); /* testcase */
		}
		xmlTextWriterEndElement(w); /* testsuite */
	}
	rc |= xmlTextWriterEndDocument(w) < 0;
	xmlFreeTextWriter(w);
	return rc ? EIO : 0;
}
