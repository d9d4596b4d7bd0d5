/*
 * The auth_file parser (see authfile.h).
 *
 * Owns: struct auth_entry arrays. Lines are parsed one at a time from a
 * NUL-terminated copy, so a NUL byte ends a line's content as it ends a C
 * string, whatever the file holds. Secrets are wiped when freed.
 */
#include "autoconf.h"

#include "authfile.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"

enum secret_kind secret_kind_of(const char *secret)
{
	if (!secret || !*secret)
		return SECRET_NONE;
	if (strncmp(secret, "md5", 3) == 0 && strlen(secret) == 35) {
		bool hex = true;
		for (int i = 3; i < 35; i++)
			hex &= isxdigit((unsigned char)secret[i]) != 0;
		if (hex)
			return SECRET_MD5;
	}
	if (strncmp(secret, "SCRAM-SHA-256$", 14) == 0)
		return SECRET_SCRAM;
	return SECRET_PLAIN;
}

/* One line (NUL-terminated): an entry appended to *list, or a problem. */
static void parse_line(const char *line, const char *name, int lineno, struct auth_entry **list, int *n,
		       struct cfg_diag *d)
{
	const char *p = line;
	while (isspace((unsigned char)*p))
		p++;
	if (!*p || *p == ';' || *p == '#')
		return;
	char *user = str_read_dquoted(&p);
	while (*p == ' ' || *p == '\t')
		p++;
	char *secret = user ? str_read_dquoted(&p) : NULL;
	if (!user || !secret) {
		strbuf_printf(&d->text, "%s:%d: expected \"user\" \"password\"\n", name, lineno);
		d->errors++;
		free(user);
		free(secret);
		return;
	}
	*list = xrealloc(*list, sizeof(**list) * (size_t)(*n + 2));
	(*list)[*n].user = user;
	(*list)[*n].secret = secret;
	(*list)[*n].line = lineno;
	(*n)++;
	(*list)[*n].user = NULL;
}

struct auth_entry *auth_file_parse(const char *text, size_t len, const char *name, struct cfg_diag *d)
{
	struct auth_entry *list = xcalloc(1, sizeof(*list));
	int n = 0, lineno = 0;
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *line = xmalloc(l + 1);
		memcpy(line, p, l);
		line[l] = '\0';
		parse_line(line, name, ++lineno, &list, &n, d);
		free(line);
		p += l + (nl ? 1 : 0);
	}
	return list;
}

struct auth_entry *auth_file_load(const char *path, struct cfg_diag *d)
{
	struct strbuf text;
	strbuf_init(&text);
	if (!cfg_read_file(path, "auth_file", &text, d)) {
		strbuf_free(&text);
		return NULL;
	}
	struct auth_entry *list = auth_file_parse(text.data ? text.data : "", text.len, path, d);
	if (text.data)
		memset(text.data, 0, text.len); /* passwords */
	strbuf_free(&text);
	return list;
}

void auth_entries_free(struct auth_entry *e)
{
	if (!e)
		return;
	for (struct auth_entry *p = e; p->user; p++) {
		free(p->user);
		if (p->secret)
			memset(p->secret, 0, strlen(p->secret));
		free(p->secret);
	}
	free(e);
}
