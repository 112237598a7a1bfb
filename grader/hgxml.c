/* hgxml.c - see hgxml.h. */
#include "hgxml.h"

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

static xmlNode *child(xmlNode *parent, const char *name)
{
	for (xmlNode *c = parent->children; c; c = c->next)
		if (named(c, name))
			return c;
	return NULL;
}

static char *text_of(xmlNode *n)
{
	xmlChar *t;
	char *s;

	if (!n)
		return NULL;
	t = xmlNodeGetContent(n);
	s = xstrdup((const char *)t);
	xmlFree(t);
	text_sanitize(s);
	return s;
}

/* <xwhat> and <xauxwhat> hold their text in <text>; <auxwhat> is text itself. */
static char *label_of(xmlNode *n)
{
	xmlNode *t = child(n, "text");

	return text_of(t ? t : n);
}

static void read_stack(struct hg_stack *st, xmlNode *stack)
{
	for (xmlNode *f = stack->children; f; f = f->next) {
		struct hg_frame *fr;
		char *line;

		if (!named(f, "frame"))
			continue;
		st->frames = xrealloc(st->frames, (st->nframes + 1) * sizeof *st->frames);
		fr = &st->frames[st->nframes++];
		fr->fn = text_of(child(f, "fn"));
		fr->obj = text_of(child(f, "obj"));
		fr->file = text_of(child(f, "file"));
		fr->dir = text_of(child(f, "dir"));
		line = text_of(child(f, "line"));
		fr->line = line ? atoi(line) : 0;
		free(line);
	}
}

static void read_error(struct hg_report *r, xmlNode *e)
{
	struct hg_error *err;
	char *label = NULL;

	r->errors = xrealloc(r->errors, (r->nerrors + 1) * sizeof *r->errors);
	err = &r->errors[r->nerrors++];
	*err = (struct hg_error){ 0 };
	err->tool = "helgrind";
	err->kind = text_of(child(e, "kind"));
	if (!err->kind)
		err->kind = xstrdup("Unknown");
	for (xmlNode *c = e->children; c; c = c->next) {
		if (named(c, "xwhat") || named(c, "xauxwhat") || named(c, "auxwhat") || named(c, "what")) {
			free(label);
			label = label_of(c);
			if (!err->what && (named(c, "xwhat") || named(c, "what")))
				err->what = xstrdup(label);
		} else if (named(c, "stack")) {
			struct hg_stack *st;

			err->stacks = xrealloc(err->stacks, (err->nstacks + 1) * sizeof *err->stacks);
			st = &err->stacks[err->nstacks++];
			*st = (struct hg_stack){ label ? label : xstrdup(""), NULL, 0 };
			label = NULL;
			read_stack(st, c);
		}
	}
	free(label);
	if (!err->what)
		err->what = xstrdup("");
}

int hgxml_load(const char *path, struct hg_report *out)
{
	xmlDoc *doc = xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR |
						      XML_PARSE_NOWARNING | XML_PARSE_RECOVER);
	xmlNode *root;
	bool finished = false;

	if (!doc)
		return EINVAL;
	root = xmlDocGetRootElement(doc);
	if (!root || !named(root, "valgrindoutput")) {
		xmlFreeDoc(doc);
		return EINVAL;
	}
	for (xmlNode *c = root->children; c; c = c->next) {
		if (named(c, "error")) {
			read_error(out, c);
		} else if (named(c, "status")) {
			char *state = text_of(child(c, "state"));

			if (state && strcmp(state, "FINISHED") == 0)
				finished = true;
			free(state);
		}
	}
	out->finished = (out->nfiles == 0 || out->finished) && finished;
	out->nfiles++;
	xmlFreeDoc(doc);
	return 0;
}

void hgxml_free(struct hg_report *r)
{
	for (size_t i = 0; i < r->nerrors; i++) {
		struct hg_error *e = &r->errors[i];

		for (size_t j = 0; j < e->nstacks; j++) {
			for (size_t k = 0; k < e->stacks[j].nframes; k++) {
				free(e->stacks[j].frames[k].fn);
				free(e->stacks[j].frames[k].file);
				free(e->stacks[j].frames[k].dir);
				free(e->stacks[j].frames[k].obj);
			}
			free(e->stacks[j].frames);
			free(e->stacks[j].label);
		}
		free(e->stacks);
		free(e->kind);
		free(e->what);
	}
	free(r->errors);
	*r = (struct hg_report){ 0 };
}
