/*
 * Growable byte/string buffer for cold paths (config, admin output, logs).
 *
 * Owns: its heap block. Never used on the per-message path, which works in
 * fixed buffers (see sbuf.c).
 */
#ifndef PGTIDE_UTIL_STRBUF_H
#define PGTIDE_UTIL_STRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf {
	char *data;
	size_t len;
	size_t cap;
	bool failed; /* an allocation failed; contents are truncated */
};

void strbuf_init(struct strbuf *sb);
void strbuf_free(struct strbuf *sb);
void strbuf_reset(struct strbuf *sb);
bool strbuf_reserve(struct strbuf *sb, size_t extra);
void strbuf_append(struct strbuf *sb, const void *data, size_t len);
void strbuf_puts(struct strbuf *sb, const char *s);
void strbuf_putc(struct strbuf *sb, char c);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vprintf(struct strbuf *sb, const char *fmt, va_list ap);
/* Take the heap block out of the buffer (NUL-terminated); caller frees. */
char *strbuf_steal(struct strbuf *sb);

/* Small string helpers. */
char *str_trim(char *s);
/* A double-quoted string at *p ("" stands for one quote), as auth_file and
 * pg_hba.conf write names: a new string, *p moved past the closing quote;
 * NULL when *p is not a quote or the string does not end on this line. */
char *str_read_dquoted(const char **p);
char *xstrdup(const char *s);
void *xcalloc(size_t n, size_t size);
void *xmalloc(size_t size);
void *xrealloc(void *p, size_t size);

#endif
