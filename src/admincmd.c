/*
 * The admin console's command language (see admincmd.h).
 *
 * Owns: nothing; every write stays inside the fixed buffers of struct
 * admin_cmd, whatever the text.
 */
#include "autoconf.h"

#include "admincmd.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* "WORD rest": the word upper-cased into w; returns the rest. */
static const char *next_word(const char *p, char *w, size_t wlen)
{
	size_t n = 0;
	while (isspace((unsigned char)*p))
		p++;
	while (*p && !isspace((unsigned char)*p) && *p != ';' && n + 1 < wlen)
		w[n++] = (char)toupper((unsigned char)*p++);
	w[n] = '\0';
	while (isspace((unsigned char)*p))
		p++;
	return p;
}

/* A database argument, as written (quotes removed). */
static void arg_name(const char *p, char *out, size_t len)
{
	size_t n = 0;
	while (isspace((unsigned char)*p))
		p++;
	bool quoted = *p == '"';
	if (quoted)
		p++;
	while (*p && n + 1 < len) {
		if (quoted ? *p == '"' : (isspace((unsigned char)*p) || *p == ';'))
			break;
		out[n++] = *p++;
	}
	out[n] = '\0';
}

/* key = value | key to value; the value bare or quoted with '' */
static void parse_set(const char *p, struct admin_cmd *out)
{
	size_t n = 0;
	while (*p && (isalnum((unsigned char)*p) || *p == '_') && n + 1 < sizeof(out->key))
		out->key[n++] = *p++;
	out->key[n] = '\0';
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '=') {
		p++;
	} else if (strncasecmp(p, "to", 2) == 0 && isspace((unsigned char)p[2])) {
		p += 2;
	} else {
		out->bad_set = true;
		return;
	}
	while (isspace((unsigned char)*p))
		p++;
	n = 0;
	if (*p == '\'') {
		p++;
		while (*p && n + 1 < sizeof(out->value)) {
			if (*p == '\'' && p[1] == '\'') {
				out->value[n++] = '\'';
				p += 2;
				continue;
			}
			if (*p == '\'')
				break;
			out->value[n++] = *p++;
		}
	} else {
		while (*p && !isspace((unsigned char)*p) && *p != ';' && n + 1 < sizeof(out->value))
			out->value[n++] = *p++;
	}
	out->value[n] = '\0';
}

void admin_parse(const char *q, struct admin_cmd *out)
{
	static const struct {
		const char *word;
		enum admin_verb verb;
	} verbs[] = {
		{ "SHOW", AC_SHOW }, { "SET", AC_SET }, { "RELOAD", AC_RELOAD }, { "PAUSE", AC_PAUSE },
		{ "RESUME", AC_RESUME }, { "SUSPEND", AC_SUSPEND }, { "DISABLE", AC_DISABLE }, { "ENABLE", AC_ENABLE },
		{ "KILL", AC_KILL }, { "KILL_CLIENT", AC_KILL_CLIENT }, { "RECONNECT", AC_RECONNECT },
		{ "WAIT_CLOSE", AC_WAIT_CLOSE }, { "SHUTDOWN", AC_SHUTDOWN },
	};
	memset(out, 0, sizeof(*out));
	const char *rest = next_word(q, out->word, sizeof(out->word));
	if (!out->word[0]) {
		out->verb = AC_EMPTY;
		return;
	}
	out->verb = AC_UNKNOWN;
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(out->word, verbs[i].word) == 0)
			out->verb = verbs[i].verb;
	if (out->verb == AC_SHOW)
		next_word(rest, out->subject, sizeof(out->subject));
	else if (out->verb == AC_SET)
		parse_set(rest, out);
	else
		arg_name(rest, out->arg, sizeof(out->arg));
}
