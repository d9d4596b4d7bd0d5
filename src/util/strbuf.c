/*
 * Growable buffers and small string helpers.
 *
 * Owns: heap memory of strbufs. Out-of-memory for the x* helpers aborts:
 * they are used only while loading configuration or for objects whose
 * failure to allocate leaves nothing sensible to do.
 */
#include "autoconf.h"

#include "util/strbuf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void strbuf_init(struct strbuf *sb)
{
	sb->data = NULL;
	sb->len = 0;
	sb->cap = 0;
	sb->failed = false;
}

void strbuf_free(struct strbuf *sb)
{
	free(sb->data);
	strbuf_init(sb);
}

void strbuf_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->data)
		sb->data[0] = '\0';
	sb->failed = false;
}

bool strbuf_reserve(struct strbuf *sb, size_t extra)
{
	if (sb->failed)
		return false;
	if (sb->len + extra + 1 <= sb->cap)
		return true;
	size_t ncap = sb->cap ? sb->cap : 256;
	while (ncap < sb->len + extra + 1)
		ncap *= 2;
	char *n = realloc(sb->data, ncap);
	if (!n) {
		sb->failed = true;
		return false;
	}
	sb->data = n;
	sb->cap = ncap;
	return true;
}

void strbuf_append(struct strbuf *sb, const void *data, size_t len)
{
	if (!strbuf_reserve(sb, len))
		return;
	memcpy(sb->data + sb->len, data, len);
	sb->len += len;
	sb->data[sb->len] = '\0';
}

void strbuf_puts(struct strbuf *sb, const char *s)
{
	strbuf_append(sb, s, strlen(s));
}

void strbuf_putc(struct strbuf *sb, char c)
{
	strbuf_append(sb, &c, 1);
}

void strbuf_vprintf(struct strbuf *sb, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || !strbuf_reserve(sb, (size_t)n))
		return;
	vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
	sb->len += (size_t)n;
}

void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	strbuf_vprintf(sb, fmt, ap);
	va_end(ap);
}

char *strbuf_steal(struct strbuf *sb)
{
	char *p = sb->data;
	if (!p)
		p = xstrdup("");
	strbuf_init(sb);
	return p;
}

char *str_read_dquoted(const char **p)
{
	const char *s = *p;
	if (*s != '"')
		return NULL;
	s++;
	struct strbuf sb;
	strbuf_init(&sb);
	for (;;) {
		if (!*s || *s == '\n') {
			strbuf_free(&sb);
			return NULL;
		}
		if (*s == '"') {
			if (s[1] == '"') {
				strbuf_putc(&sb, '"');
				s += 2;
				continue;
			}
			s++;
			break;
		}
		strbuf_putc(&sb, *s++);
	}
	*p = s;
	return sb.data ? strbuf_steal(&sb) : xstrdup("");
}

char *str_trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		abort();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		abort();
	return p;
}

void *xrealloc(void *p, size_t size)
{
	void *n = realloc(p, size ? size : 1);
	if (!n)
		abort();
	return n;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");
	if (!p)
		abort();
	return p;
}
