/*
 * SQL lexer and statement classifiers.
 *
 * Owns: nothing. Reads at most len bytes and never more; an unterminated
 * construct yields TK_ERROR and classifiers then answer "unknown", which
 * every caller treats as the safe choice.
 */
#include "autoconf.h"

#include "sqlclass.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

void sqllex_init(struct sqllex *lx, const char *s, size_t len)
{
	lx->p = s;
	lx->end = s + len;
}

static bool ident_start(unsigned char c)
{
	return isalpha(c) || c == '_' || c >= 0x80;
}

static bool ident_cont(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

/* Skip whitespace and comments; false on an unterminated comment. */
static bool skip_space(struct sqllex *lx)
{
	while (lx->p < lx->end) {
		unsigned char c = (unsigned char)*lx->p;
		if (isspace(c)) {
			lx->p++;
		} else if (c == '-' && lx->p + 1 < lx->end && lx->p[1] == '-') {
			while (lx->p < lx->end && *lx->p != '\n' && *lx->p != '\r')
				lx->p++;
		} else if (c == '/' && lx->p + 1 < lx->end && lx->p[1] == '*') {
			int depth = 1;
			lx->p += 2;
			while (depth > 0) {
				if (lx->p + 1 >= lx->end) {
					lx->p = lx->end;
					return false;
				}
				if (lx->p[0] == '/' && lx->p[1] == '*') {
					depth++;
					lx->p += 2;
				} else if (lx->p[0] == '*' && lx->p[1] == '/') {
					depth--;
					lx->p += 2;
				} else {
					lx->p++;
				}
			}
		} else {
			return true;
		}
	}
	return true;
}

/* A quoted run starting after the opening quote; q is the quote char.
 * Doubled quotes escape; with backslashes on, \x escapes too. */
static bool skip_quoted(struct sqllex *lx, char q, bool backslashes)
{
	while (lx->p < lx->end) {
		char c = *lx->p++;
		if (backslashes && c == '\\') {
			if (lx->p >= lx->end)
				return false;
			lx->p++;
		} else if (c == q) {
			if (lx->p < lx->end && *lx->p == q) {
				lx->p++;
				continue;
			}
			return true;
		}
	}
	return false;
}

/* $tag$...$tag$ starting at '$'; false if this is not a dollar quote
 * (then nothing is consumed) or it is unterminated (then all is). */
static int skip_dollar(struct sqllex *lx)
{
	const char *s = lx->p + 1;
	while (s < lx->end && *s != '$') {
		if (!(s == lx->p + 1 ? ident_start((unsigned char)*s) : (ident_cont((unsigned char)*s) && *s != '$')))
			return 0;
		s++;
	}
	if (s >= lx->end)
		return 0;
	size_t taglen = (size_t)(s - lx->p) + 1; /* "$tag$" */
	const char *tag = lx->p;
	const char *body = s + 1;
	for (const char *q = body; q + taglen <= lx->end; q++) {
		if (*q == '$' && memcmp(q, tag, taglen) == 0) {
			lx->p = q + taglen;
			return 1;
		}
	}
	lx->p = lx->end;
	return -1;
}

struct sqltok sqllex_next(struct sqllex *lx)
{
	struct sqltok t = { TK_EOF, lx->p, 0 };
	if (!skip_space(lx)) {
		t.type = TK_ERROR;
		return t;
	}
	t.start = lx->p;
	if (lx->p >= lx->end)
		return t;
	unsigned char c = (unsigned char)*lx->p;
	const char *next = lx->p + 1;
	bool has_next = next < lx->end;

	/* prefixed strings and identifiers: E'..' B'..' X'..' N'..' U&'..' U&".." */
	if ((c == 'E' || c == 'e') && has_next && *next == '\'') {
		lx->p += 2;
		t.type = skip_quoted(lx, '\'', true) ? TK_STRING : TK_ERROR;
	} else if ((c == 'B' || c == 'b' || c == 'X' || c == 'x' || c == 'N' || c == 'n') && has_next && *next == '\'') {
		lx->p += 2;
		t.type = skip_quoted(lx, '\'', false) ? TK_STRING : TK_ERROR;
	} else if ((c == 'U' || c == 'u') && has_next && *next == '&' && lx->p + 2 < lx->end &&
		   (lx->p[2] == '\'' || lx->p[2] == '"')) {
		char q = lx->p[2];
		lx->p += 3;
		bool ok = skip_quoted(lx, q, false);
		t.type = ok ? (q == '"' ? TK_QIDENT : TK_STRING) : TK_ERROR;
	} else if (ident_start(c)) {
		while (lx->p < lx->end && ident_cont((unsigned char)*lx->p))
			lx->p++;
		t.type = TK_WORD;
	} else if (c == '\'') {
		lx->p++;
		t.type = skip_quoted(lx, '\'', false) ? TK_STRING : TK_ERROR;
	} else if (c == '"') {
		lx->p++;
		t.type = skip_quoted(lx, '"', false) ? TK_QIDENT : TK_ERROR;
	} else if (c == '$') {
		if (has_next && isdigit((unsigned char)*next)) {
			lx->p++;
			while (lx->p < lx->end && isdigit((unsigned char)*lx->p))
				lx->p++;
			t.type = TK_PARAM;
		} else {
			int r = skip_dollar(lx);
			if (r > 0)
				t.type = TK_STRING;
			else if (r < 0)
				t.type = TK_ERROR;
			else {
				lx->p++;
				t.type = TK_OP;
			}
		}
	} else if (isdigit(c) || (c == '.' && has_next && isdigit((unsigned char)*next))) {
		while (lx->p < lx->end && (isalnum((unsigned char)*lx->p) || *lx->p == '.' || *lx->p == '_' ||
					   ((*lx->p == '+' || *lx->p == '-') && (lx->p[-1] == 'e' || lx->p[-1] == 'E'))))
			lx->p++;
		t.type = TK_NUMBER;
	} else if (c == ';') {
		lx->p++;
		t.type = TK_SEMI;
	} else if (c == '(') {
		lx->p++;
		t.type = TK_LPAREN;
	} else if (c == ')') {
		lx->p++;
		t.type = TK_RPAREN;
	} else if (c == ',') {
		lx->p++;
		t.type = TK_COMMA;
	} else if (c == '.') {
		lx->p++;
		t.type = TK_DOT;
	} else {
		/* operator characters run together, but a comment start ends them */
		static const char opchars[] = "+-*/<>=~!@#%^&|`?:[]";
		lx->p++;
		if (strchr(opchars, (char)c)) {
			while (lx->p < lx->end && *lx->p && strchr(opchars, *lx->p) &&
			       !(lx->p + 1 < lx->end && ((lx->p[0] == '-' && lx->p[1] == '-') ||
							  (lx->p[0] == '/' && lx->p[1] == '*'))))
				lx->p++;
		}
		t.type = TK_OP;
	}
	t.len = (size_t)(lx->p - t.start);
	return t;
}

bool tok_is(const struct sqltok *t, const char *kw)
{
	size_t n = strlen(kw);
	return t->type == TK_WORD && t->len == n && strncasecmp(t->start, kw, n) == 0;
}

bool tok_text(const struct sqltok *t, char *buf, size_t len)
{
	size_t n = 0;
	const char *s = t->start, *e = t->start + t->len;
	if (len == 0)
		return false;
	if (t->type == TK_WORD) {
		for (; s < e && n + 1 < len; s++)
			buf[n++] = (char)tolower((unsigned char)*s);
		buf[n] = '\0';
		return true;
	}
	if (t->type == TK_QIDENT || (t->type == TK_STRING && (*s == '\'' || *s == 'N' || *s == 'n'))) {
		if (*s == 'N' || *s == 'n')
			s++;
		char q = *s;
		s++;
		e--; /* closing quote */
		for (; s < e && n + 1 < len; s++) {
			if (*s == q && s + 1 < e && s[1] == q)
				s++;
			buf[n++] = *s;
		}
		buf[n] = '\0';
		return true;
	}
	return false;
}

/* First word tokens of a single-statement query, uppercase-compared. */
bool sql_is_txn_exit(const char *q, size_t len)
{
	struct sqllex lx;
	sqllex_init(&lx, q, len);
	struct sqltok t = sqllex_next(&lx);
	if (!(tok_is(&t, "rollback") || tok_is(&t, "abort") || tok_is(&t, "commit") || tok_is(&t, "end")))
		return false;
	bool rollback = tok_is(&t, "rollback") || tok_is(&t, "abort");
	for (;;) {
		t = sqllex_next(&lx);
		if (t.type == TK_EOF)
			return true;
		if (t.type == TK_SEMI) {
			t = sqllex_next(&lx);
			return t.type == TK_EOF;
		}
		if (tok_is(&t, "prepared"))
			return false;
		if (rollback && tok_is(&t, "to"))
			return false;
		if (tok_is(&t, "and")) {
			/* AND CHAIN opens a new transaction: not something to emulate */
			t = sqllex_next(&lx);
			if (!tok_is(&t, "no"))
				return false;
			t = sqllex_next(&lx);
			if (!tok_is(&t, "chain"))
				return false;
			continue;
		}
		if (!(tok_is(&t, "work") || tok_is(&t, "transaction")))
			return false;
	}
}
