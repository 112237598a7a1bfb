/* util.h - allocation that cannot fail quietly, and small string and file helpers. */
#ifndef GRADER_UTIL_H
#define GRADER_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/* These abort with a message when memory runs out: the grader cannot grade without memory. */
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable string. */
struct strbuf {
	char *buf;
	size_t len, cap;
};
void sb_add(struct strbuf *sb, const char *s);
void sb_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *sb_take(struct strbuf *sb); /* returns the string (never NULL) and resets sb */

/* Reads at most max bytes of path; *len gets the size read; NULL on error (errno set). */
char *file_read(const char *path, size_t max, size_t *len);
/* Reads the first head and last tail bytes of path, joined with a line saying how much was cut;
 * invalid UTF-8 and NUL bytes are replaced so the text is safe for JSON. "" if unreadable. */
char *file_read_headtail(const char *path, size_t head, size_t tail);
int file_write(const char *path, const char *data, size_t len);
int file_copy(const char *from, const char *to, size_t max);
bool file_exists(const char *path);
bool dir_exists(const char *path);
/* mkdir -p. 0 or an errno. */
int mkdirs(const char *path, unsigned mode);
/* rm -rf, refusing "/" and "". 0 or an errno. */
int remove_tree(const char *path);
/* Replaces bytes that are not valid UTF-8 (and control characters other than \n, \t) by '?'. */
void text_sanitize(char *s);
/* Monotonic seconds. */
double now_s(void);

#endif
