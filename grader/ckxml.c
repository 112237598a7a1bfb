/* ckxml.c - see ckxml.h. Elements are matched by local name: Check puts them in its namespace. */
#include "ckxml.h"

#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static bool named(xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static char *child_text(xmlNode *parent, const char *name)
{
	for (xmlNode *c = parent->children; c; c = c->next) {
		if (named(c, name)) {
			xmlChar *t = xmlNodeGetContent(c);
			char *s = xstrdup((const char *)t);

			xmlFree(t);
			return s;
		}
	}
	return NULL;
}

static void add_test(struct ck_log *log, xmlNode *t)
{
	xmlChar *res = xmlGetProp(t, (const xmlChar *)"result");
	struct ck_test *ct;
	char *dur;

	log->tests = xrealloc(log->tests, (log->ntests + 1) * sizeof *log->tests);
	ct = &log->tests[log->ntests++];
	ct->tcase = child_text(t, "description");
	ct->name = child_text(t, "id");
	ct->where = child_text(t, "fn");
	ct->message = child_text(t, "message");
	dur = child_text(t, "duration");
	ct->duration = dur ? strtod(dur, NULL) : -1;
	free(dur);
	if (res && strcmp((const char *)res, "success") == 0)
		ct->result = CK_R_SUCCESS;
	else if (res && strcmp((const char *)res, "failure") == 0)
		ct->result = CK_R_FAILURE;
	else
		ct->result = CK_R_ERROR;
	if (!ct->tcase)
		ct->tcase = xstrdup("");
	if (!ct->name)
		ct->name = xstrdup("");
	if (!ct->message)
		ct->message = xstrdup("");
	text_sanitize(ct->message);
	xmlFree(res);
}

int ckxml_load(const char *path, struct ck_log *out)
{
	xmlDoc *doc;
	xmlNode *root;

	if (!file_exists(path))
		return EINVAL;
	doc = xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
					      XML_PARSE_RECOVER);
	if (!doc)
		return EINVAL;
	root = xmlDocGetRootElement(doc);
	if (!root || !named(root, "testsuites")) {
		xmlFreeDoc(doc);
		return EINVAL;
	}
	for (xmlNode *s = root->children; s; s = s->next)
		if (named(s, "suite"))
			for (xmlNode *t = s->children; t; t = t->next)
				if (named(t, "test"))
					add_test(out, t);
	xmlFreeDoc(doc);
	return 0;
}

const struct ck_test *ckxml_find(const struct ck_log *log, const char *tcase, const char *name)
{
	for (size_t i = 0; i < log->ntests; i++)
		if (strcmp(log->tests[i].tcase, tcase) == 0 && strcmp(log->tests[i].name, name) == 0)
			return &log->tests[i];
	return NULL;
}

void ckxml_free(struct ck_log *log)
{
	for (size_t i = 0; i < log->ntests; i++) {
		free(log->tests[i].tcase);
		free(log->tests[i].name);
		free(log->tests[i].where);
		free(log->tests[i].message);
	}
	free(log->tests);
	*log = (struct ck_log){ 0 };
}
