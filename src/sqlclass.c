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

bool sql_icontains(const char *q, size_t len, const char *needle)
{
	size_t n = strlen(needle);
	if (n == 0 || len < n)
		return false;
	char c0 = needle[0];
	char c1 = (char)toupper((unsigned char)c0);
	for (size_t i = 0; i + n <= len; i++) {
		if ((q[i] == c0 || q[i] == c1) && strncasecmp(q + i, needle, n) == 0)
			return true;
	}
	return false;
}

void sql_first_word(const char *q, size_t len, char *buf, size_t buflen)
{
	struct sqllex lx;
	sqllex_init(&lx, q, len);
	struct sqltok t = sqllex_next(&lx);
	if (t.type != TK_WORD || !tok_text(&t, buf, buflen))
		buf[0] = '\0';
}

/* Read a possibly dotted, possibly quoted name starting at t; lowercase
 * result in buf. Leaves lx after the name and *t at the next token. */
static bool read_name(struct sqllex *lx, struct sqltok *t, char *buf, size_t buflen)
{
	size_t n = 0;
	buf[0] = '\0';
	for (;;) {
		char part[128];
		if ((t->type != TK_WORD && t->type != TK_QIDENT) || !tok_text(t, part, sizeof(part)))
			return false;
		for (char *p = part; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		size_t pl = strlen(part);
		if (n + pl + 2 > buflen)
			return false;
		memcpy(buf + n, part, pl);
		n += pl;
		buf[n] = '\0';
		*t = sqllex_next(lx);
		if (t->type != TK_DOT)
			return true;
		buf[n++] = '.';
		buf[n] = '\0';
		*t = sqllex_next(lx);
	}
}

/* The statement ends here: optional ';' then nothing. */
static bool at_end(struct sqllex *lx, struct sqltok *t)
{
	if (t->type == TK_SEMI)
		*t = sqllex_next(lx);
	return t->type == TK_EOF;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode an E'...' literal the way Postgres does (\n \t \xHH \ooo
 * \uXXXX...); false if it does not fit. */
static bool e_string(const struct sqltok *t, char *buf, size_t buflen)
{
	const char *p = t->start + 2, *end = t->start + t->len - 1;
	size_t n = 0;
	while (p < end) {
		unsigned long ch;
		if (*p == '\'' && p + 1 < end && p[1] == '\'') {
			ch = '\'';
			p += 2;
		} else if (*p == '\\' && p + 1 < end) {
			p++;
			switch (*p) {
			case 'b': ch = '\b'; p++; break;
			case 'f': ch = '\f'; p++; break;
			case 'n': ch = '\n'; p++; break;
			case 'r': ch = '\r'; p++; break;
			case 't': ch = '\t'; p++; break;
			case 'x': {
				ch = 0;
				p++;
				for (int i = 0; i < 2 && p < end && hexval(*p) >= 0; i++, p++)
					ch = ch * 16 + (unsigned long)hexval(*p);
				break;
			}
			case 'u':
			case 'U': {
				int digits = *p == 'u' ? 4 : 8;
				ch = 0;
				p++;
				for (int i = 0; i < digits && p < end && hexval(*p) >= 0; i++, p++)
					ch = ch * 16 + (unsigned long)hexval(*p);
				break;
			}
			default:
				if (*p >= '0' && *p <= '7') {
					ch = 0;
					for (int i = 0; i < 3 && p < end && *p >= '0' && *p <= '7'; i++, p++)
						ch = ch * 8 + (unsigned long)(*p - '0');
				} else {
					ch = (unsigned char)*p++;
				}
			}
		} else {
			ch = (unsigned char)*p++;
		}
		/* encode as UTF-8 */
		unsigned char tmp[4];
		size_t k;
		if (ch < 0x80) {
			tmp[0] = (unsigned char)ch;
			k = 1;
		} else if (ch < 0x800) {
			tmp[0] = (unsigned char)(0xC0 | (ch >> 6));
			tmp[1] = (unsigned char)(0x80 | (ch & 0x3F));
			k = 2;
		} else if (ch < 0x10000) {
			tmp[0] = (unsigned char)(0xE0 | (ch >> 12));
			tmp[1] = (unsigned char)(0x80 | ((ch >> 6) & 0x3F));
			tmp[2] = (unsigned char)(0x80 | (ch & 0x3F));
			k = 3;
		} else {
			tmp[0] = (unsigned char)(0xF0 | ((ch >> 18) & 0x07));
			tmp[1] = (unsigned char)(0x80 | ((ch >> 12) & 0x3F));
			tmp[2] = (unsigned char)(0x80 | ((ch >> 6) & 0x3F));
			tmp[3] = (unsigned char)(0x80 | (ch & 0x3F));
			k = 4;
		}
		if (n + k + 1 > buflen)
			return false;
		memcpy(buf + n, tmp, k);
		n += k;
	}
	buf[n] = '\0';
	return true;
}

/* A '...' or E'...' literal (not U&'', $$): value into buf. */
static bool plain_string(const struct sqltok *t, char *buf, size_t buflen, bool *too_long)
{
	*too_long = false;
	if (t->type == TK_STRING && (t->start[0] == 'E' || t->start[0] == 'e') && t->len >= 3) {
		if (!e_string(t, buf, buflen))
			*too_long = true;
		return true;
	}
	if (t->type != TK_STRING || t->start[0] != '\'')
		return false;
	/* count the unescaped length first */
	size_t need = 0;
	for (size_t i = 1; i + 1 < t->len; i++) {
		if (t->start[i] == '\'' )
			i++;
		need++;
	}
	if (need + 1 > buflen) {
		*too_long = true;
		return true;
	}
	return tok_text(t, buf, buflen);
}

enum tenant_stmt sql_tenant_statement(const char *q, size_t len, const char *setting, char *value, size_t vlen)
{
	struct sqllex lx;
	sqllex_init(&lx, q, len);
	struct sqltok t = sqllex_next(&lx);
	char name[256];
	bool too_long;

	if (tok_is(&t, "reset")) {
		t = sqllex_next(&lx);
		if (!read_name(&lx, &t, name, sizeof(name)) || strcmp(name, setting) != 0)
			return TS_NONE;
		return at_end(&lx, &t) ? TS_RESET : TS_NONE;
	}
	if (tok_is(&t, "set")) {
		t = sqllex_next(&lx);
		if (tok_is(&t, "session")) {
			t = sqllex_next(&lx);
			if (tok_is(&t, "authorization") || tok_is(&t, "characteristics"))
				return TS_NONE;
		}
		if (tok_is(&t, "local"))
			return TS_NONE; /* no lasting effect: not an interception */
		if (!read_name(&lx, &t, name, sizeof(name)) || strcmp(name, setting) != 0)
			return TS_NONE;
		if (!(tok_is(&t, "to") || (t.type == TK_OP && t.len == 1 && t.start[0] == '=')))
			return TS_NONE;
		t = sqllex_next(&lx);
		if (tok_is(&t, "default")) {
			t = sqllex_next(&lx);
			return at_end(&lx, &t) ? TS_RESET : TS_NONE;
		}
		if (t.type == TK_STRING) {
			if (!plain_string(&t, value, vlen, &too_long))
				return TS_NONE;
		} else if (t.type == TK_WORD || t.type == TK_NUMBER) {
			if (t.len + 1 > vlen)
				too_long = true;
			else {
				too_long = false;
				memcpy(value, t.start, t.len);
				value[t.len] = '\0';
			}
		} else {
			return TS_NONE;
		}
		t = sqllex_next(&lx);
		if (!at_end(&lx, &t))
			return TS_NONE; /* a list, or more statements */
		return too_long ? TS_VALUE_TOO_LONG : TS_SET;
	}
	if (tok_is(&t, "select")) {
		t = sqllex_next(&lx);
		if (tok_is(&t, "pg_catalog")) {
			t = sqllex_next(&lx);
			if (t.type != TK_DOT)
				return TS_NONE;
			t = sqllex_next(&lx);
		}
		if (!tok_is(&t, "set_config"))
			return TS_NONE;
		t = sqllex_next(&lx);
		if (t.type != TK_LPAREN)
			return TS_NONE;
		t = sqllex_next(&lx);
		if (!plain_string(&t, name, sizeof(name), &too_long) || too_long)
			return TS_NONE;
		for (char *p = name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (strcmp(name, setting) != 0)
			return TS_NONE;
		t = sqllex_next(&lx);
		if (t.type != TK_COMMA)
			return TS_NONE;
		t = sqllex_next(&lx);
		if (!plain_string(&t, value, vlen, &too_long))
			return TS_NONE;
		t = sqllex_next(&lx);
		if (t.type != TK_COMMA)
			return TS_NONE;
		t = sqllex_next(&lx);
		if (!(tok_is(&t, "false") || (t.type == TK_STRING && t.len == 3 && (t.start[1] == 'f' || t.start[1] == 'F'))))
			return TS_NONE;
		t = sqllex_next(&lx);
		if (t.type != TK_RPAREN)
			return TS_NONE;
		t = sqllex_next(&lx);
		if (!at_end(&lx, &t))
			return TS_NONE;
		return too_long ? TS_VALUE_TOO_LONG : TS_SET_CONFIG;
	}
	return TS_NONE;
}

/* The part of a dotted setting name a statement must contain to name it. */
static const char *setting_last_part(const char *setting)
{
	const char *last = strrchr(setting, '.');
	return last ? last + 1 : setting;
}

bool sql_tenant_write_attempt(const char *q, size_t len, const char *setting)
{
	return sql_tenant_write_attempt_scanned(q, len, setting, sql_quick_scan(q, len, setting_last_part(setting)));
}

bool sql_tenant_write_attempt_scanned(const char *q, size_t len, const char *setting, unsigned qs)
{
	const char *last = setting_last_part(setting);
	bool named = qs & QS_WORD;
	if (!named && !(qs & QS_SET_CONFIG))
		return false; /* the fast path: nearly every statement */

	struct sqllex lx;
	sqllex_init(&lx, q, len);
	struct sqltok prev2 = { TK_EOF, q, 0 }, prev = { TK_EOF, q, 0 };
	bool stmt_start = true, show = false;
	for (;;) {
		struct sqltok t = sqllex_next(&lx);
		if (t.type == TK_EOF)
			return false;
		if (t.type == TK_ERROR)
			return named; /* cannot tell: refuse if the name is there */
		if (stmt_start) {
			show = tok_is(&t, "show");
			stmt_start = false;
		}
		if (t.type == TK_SEMI) {
			stmt_start = true;
			prev2 = prev;
			prev = t;
			continue;
		}
		bool has_name = (t.type == TK_WORD || t.type == TK_QIDENT || t.type == TK_STRING) &&
				sql_icontains(t.start, t.len, last);
		if (has_name) {
			bool read = show;
			if (t.type == TK_STRING && t.start[0] == '\'' && prev.type == TK_LPAREN &&
			    tok_is(&prev2, "current_setting"))
				read = true;
			if (!read)
				return true;
		}
		if (t.type == TK_STRING && t.start[0] != '\'' && sql_icontains(t.start, t.len, "set_config"))
			return true; /* set_config inside a DO body or E'' string */
		if (tok_is(&t, "set_config")) {
			struct sqllex save = lx;
			struct sqltok paren = sqllex_next(&lx);
			struct sqltok arg = sqllex_next(&lx);
			lx = save;
			char name[256];
			bool too_long;
			if (paren.type != TK_LPAREN)
				continue;
			if (!plain_string(&arg, name, sizeof(name), &too_long) || too_long)
				return true; /* computed or odd name: could be ours */
			for (char *p = name; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			if (strcmp(name, setting) == 0)
				return true;
		}
		prev2 = prev;
		prev = t;
	}
}

bool sql_needs_own_transaction(const char *q, size_t len)
{
	struct sqllex lx;
	sqllex_init(&lx, q, len);
	struct sqltok t = sqllex_next(&lx);
	if (tok_is(&t, "vacuum") || tok_is(&t, "cluster") || tok_is(&t, "reindex") || tok_is(&t, "call"))
		return true;
	if (tok_is(&t, "discard")) {
		t = sqllex_next(&lx);
		return tok_is(&t, "all");
	}
	if (tok_is(&t, "commit") || tok_is(&t, "rollback")) {
		t = sqllex_next(&lx);
		return tok_is(&t, "prepared");
	}
	bool ddl = tok_is(&t, "create") || tok_is(&t, "drop") || tok_is(&t, "alter");
	if (!ddl)
		return false;
	t = sqllex_next(&lx);
	if (tok_is(&t, "database") || tok_is(&t, "tablespace") || tok_is(&t, "subscription") || tok_is(&t, "system"))
		return true;
	/* CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY, DETACH ... CONCURRENTLY */
	for (int i = 0; i < 64 && t.type != TK_EOF && t.type != TK_SEMI; i++) {
		if (tok_is(&t, "concurrently"))
			return true;
		t = sqllex_next(&lx);
	}
	return false;
}

enum begin_mode sql_begin_mode(const char *q, size_t len)
{
	struct sqllex lx;
	sqllex_init(&lx, q, len);
	struct sqltok t = sqllex_next(&lx);
	if (tok_is(&t, "begin")) {
		t = sqllex_next(&lx);
		if (tok_is(&t, "work") || tok_is(&t, "transaction"))
			t = sqllex_next(&lx);
	} else if (tok_is(&t, "start")) {
		t = sqllex_next(&lx);
		if (!tok_is(&t, "transaction"))
			return BM_NOT_BEGIN;
		t = sqllex_next(&lx);
	} else {
		return BM_NOT_BEGIN;
	}
	enum begin_mode mode = BM_BEGIN;
	for (;;) {
		if (t.type == TK_EOF || t.type == TK_SEMI)
			return mode;
		if (t.type == TK_COMMA) {
			t = sqllex_next(&lx);
			continue;
		}
		if (tok_is(&t, "isolation")) {
			t = sqllex_next(&lx);
			if (!tok_is(&t, "level"))
				return BM_NOT_BEGIN;
			t = sqllex_next(&lx);
			if (tok_is(&t, "serializable")) {
				t = sqllex_next(&lx);
			} else if (tok_is(&t, "repeatable") || tok_is(&t, "read")) {
				t = sqllex_next(&lx); /* READ | COMMITTED | UNCOMMITTED */
				t = sqllex_next(&lx);
			} else {
				return BM_NOT_BEGIN;
			}
			continue;
		}
		if (tok_is(&t, "read")) {
			t = sqllex_next(&lx);
			if (tok_is(&t, "only"))
				mode = BM_READ_ONLY;
			else if (tok_is(&t, "write"))
				mode = BM_READ_WRITE;
			else
				return BM_NOT_BEGIN;
			t = sqllex_next(&lx);
			continue;
		}
		if (tok_is(&t, "not")) {
			t = sqllex_next(&lx);
			if (!tok_is(&t, "deferrable"))
				return BM_NOT_BEGIN;
			t = sqllex_next(&lx);
			continue;
		}
		if (tok_is(&t, "deferrable")) {
			t = sqllex_next(&lx);
			continue;
		}
		return BM_NOT_BEGIN; /* something Postgres would reject: leave it alone */
	}
}

bool sql_single_statement(const char *q, size_t len)
{
	struct sqllex lx;
	sqllex_init(&lx, q, len);
	bool seen = false, ended = false;
	for (;;) {
		struct sqltok t = sqllex_next(&lx);
		if (t.type == TK_EOF)
			return seen;
		if (t.type == TK_SEMI) {
			ended = seen;
			continue;
		}
		if (ended || t.type == TK_ERROR)
			return false;
		seen = true;
	}
}

bool sql_is_read(const char *q, size_t len)
{
	struct sqllex lx;
	sqllex_init(&lx, q, len);
	struct sqltok t = sqllex_next(&lx);
	while (t.type == TK_LPAREN) /* (SELECT ...) */
		t = sqllex_next(&lx);
	if (!(tok_is(&t, "select") || tok_is(&t, "with") || tok_is(&t, "table") || tok_is(&t, "values") ||
	      tok_is(&t, "show")))
		return false;
	struct sqltok prev = t;
	for (;;) {
		t = sqllex_next(&lx);
		if (t.type == TK_EOF)
			return true;
		if (t.type == TK_ERROR)
			return false;
		if (t.type == TK_SEMI) {
			t = sqllex_next(&lx);
			return t.type == TK_EOF; /* one statement only */
		}
		if (t.type == TK_WORD) {
			static const char *const writes[] = {
				"into", "insert", "update", "delete", "merge", "currval", "lastval", "pg_notify",
				"pg_advisory_lock", "pg_advisory_xact_lock", "pg_advisory_lock_shared",
				"pg_advisory_xact_lock_shared", "pg_try_advisory_lock", "pg_try_advisory_xact_lock",
				"pg_try_advisory_lock_shared", "pg_try_advisory_xact_lock_shared", "nextval", "setval",
				"txid_current", "pg_current_xact_id", NULL,
			};
			for (int i = 0; writes[i]; i++)
				if (tok_is(&t, writes[i]))
					return false;
			/* FOR UPDATE / FOR SHARE / FOR NO KEY UPDATE / FOR KEY SHARE */
			if (tok_is(&prev, "for") && (tok_is(&t, "share") || tok_is(&t, "no") || tok_is(&t, "key")))
				return false;
		}
		prev = t;
	}
}

/* ---- session effects ---- */

#define SESS_DEPTH_MAX 3 /* DO body, EXECUTE string in it, one more */

struct sess_walk {
	struct sql_session *o;
	const char *ignore;
};

static void sess_walk_text(struct sess_walk *w, const char *q, size_t len, int depth);

static void sess_name(struct sess_walk *w, const char *name)
{
	struct sql_session *o = w->o;
	if (w->ignore && strcmp(name, w->ignore) == 0)
		return;
	o->flags |= SE_SETTINGS;
	if (!strchr(name, '.'))
		return; /* a built-in setting: pg_settings lists it */
	for (int i = 0; i < o->n_names; i++)
		if (strcmp(o->names[i], name) == 0)
			return;
	if (o->n_names == SQL_SESS_NAMES || strlen(name) >= SQL_SESS_NAME_LEN) {
		o->flags |= SE_UNKNOWN;
		return;
	}
	memcpy(o->names[o->n_names++], name, strlen(name) + 1);
}

/* The body of a string token, for a walk one level down: a '...' string
 * (doubled quotes left as they are, which only splits words) or a
 * dollar-quoted one. */
static bool string_body(const struct sqltok *t, const char **b, size_t *n)
{
	const char *s = t->start, *e = t->start + t->len;
	if (t->len >= 2 && s[0] == '\'') {
		*b = s + 1;
		*n = t->len - 2;
		return true;
	}
	if (t->len >= 2 && (s[0] == 'E' || s[0] == 'e') && s[1] == '\'') {
		*b = s + 2;
		*n = t->len >= 3 ? t->len - 3 : 0;
		return true;
	}
	if (s[0] == '$') {
		const char *tag_end = memchr(s + 1, '$', t->len - 1);
		if (!tag_end)
			return false;
		size_t taglen = (size_t)(tag_end - s) + 1;
		if (t->len < 2 * taglen)
			return false;
		*b = s + taglen;
		*n = t->len - 2 * taglen;
		(void)e;
		return true;
	}
	return false;
}

/* set_config(name, value, is_local) at t (the word set_config). */
static void sess_set_config(struct sess_walk *w, struct sqllex *lx)
{
	struct sqllex save = *lx;
	struct sqltok t = sqllex_next(lx);
	if (t.type != TK_LPAREN) {
		*lx = save;
		return;
	}
	char name[256];
	bool too_long, named = false;
	t = sqllex_next(lx);
	if (plain_string(&t, name, sizeof(name), &too_long) && !too_long) {
		for (char *p = name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		named = true;
		t = sqllex_next(lx);
	}
	/* skip to the third argument: two commas at this level */
	int depth = 0, commas = named ? 0 : -1;
	if (named && t.type == TK_COMMA)
		commas = 1;
	while (commas != -1 && commas < 2) {
		t = sqllex_next(lx);
		if (t.type == TK_EOF || t.type == TK_ERROR || t.type == TK_SEMI)
			break;
		if (t.type == TK_LPAREN)
			depth++;
		else if (t.type == TK_RPAREN && depth-- == 0)
			break;
		else if (t.type == TK_COMMA && depth == 0)
			commas++;
	}
	bool local = false;
	if (commas == 2) {
		struct sqltok a = sqllex_next(lx);
		struct sqltok close = sqllex_next(lx);
		char v[8];
		if (close.type == TK_RPAREN &&
		    (tok_is(&a, "true") || (a.type == TK_STRING && tok_text(&a, v, sizeof(v)) &&
					    (strcasecmp(v, "t") == 0 || strcasecmp(v, "true") == 0 ||
					     strcasecmp(v, "on") == 0 || strcasecmp(v, "yes") == 0))))
			local = true;
	}
	*lx = save; /* the caller's scan goes on inside the arguments */
	if (local)
		return;
	if (named)
		sess_name(w, name);
	else
		w->o->flags |= SE_SETTINGS | SE_UNKNOWN; /* a computed name */
}

static bool is_advisory_session_lock(const struct sqltok *t)
{
	return tok_is(t, "pg_advisory_lock") || tok_is(t, "pg_advisory_lock_shared") ||
	       tok_is(t, "pg_try_advisory_lock") || tok_is(t, "pg_try_advisory_lock_shared");
}

/* A setting named at t: remember it; returns the token after the name. */
static struct sqltok sess_named(struct sess_walk *w, struct sqllex *lx, struct sqltok t)
{
	char name[256];
	if (read_name(lx, &t, name, sizeof(name)))
		sess_name(w, name);
	else
		w->o->flags |= SE_SETTINGS | SE_UNKNOWN;
	return t;
}

/* SET ... at the head of a statement (t is the word after SET); returns
 * the last token read. */
static struct sqltok sess_set(struct sess_walk *w, struct sqllex *lx, struct sqltok t)
{
	if (tok_is(&t, "local") || tok_is(&t, "transaction") || tok_is(&t, "constraints"))
		return t; /* ends with the transaction */
	if (tok_is(&t, "session")) {
		t = sqllex_next(lx);
		if (tok_is(&t, "authorization") || tok_is(&t, "characteristics")) {
			w->o->flags |= SE_SETTINGS;
			return t;
		}
	}
	if (tok_is(&t, "role") || tok_is(&t, "time") || tok_is(&t, "names") || tok_is(&t, "schema") ||
	    tok_is(&t, "xml")) {
		w->o->flags |= SE_SETTINGS;
		return t;
	}
	return sess_named(w, lx, t);
}

static struct sqltok sess_reset(struct sess_walk *w, struct sqllex *lx, struct sqltok t)
{
	if (tok_is(&t, "all")) {
		w->o->flags |= SE_SETTINGS | SE_RESET_ALL;
		return t;
	}
	if (tok_is(&t, "role") || tok_is(&t, "session")) {
		w->o->flags |= SE_SETTINGS;
		return t;
	}
	return sess_named(w, lx, t);
}

static void skip_statement(struct sqllex *lx)
{
	for (;;) {
		struct sqltok t = sqllex_next(lx);
		if (t.type == TK_EOF || t.type == TK_ERROR || t.type == TK_SEMI)
			return;
	}
}

bool sql_is_prepare_transaction(const struct sqllex *after_prepare)
{
	struct sqllex lx = *after_prepare;
	struct sqltok t = sqllex_next(&lx);
	if (!tok_is(&t, "transaction"))
		return false;
	t = sqllex_next(&lx);
	return t.type == TK_STRING;
}

/* One statement, from its first token to its ';' (consumed) or the end. */
static void sess_statement(struct sess_walk *w, struct sqllex *lx, struct sqltok t, int depth)
{
	struct sql_session *o = w->o;
	if (tok_is(&t, "explain")) {
		/* EXPLAIN ANALYZE runs its statement */
		t = sqllex_next(lx);
		if (t.type == TK_LPAREN) {
			int d = 1;
			while (d > 0) {
				t = sqllex_next(lx);
				if (t.type == TK_EOF || t.type == TK_ERROR)
					return;
				d += t.type == TK_LPAREN ? 1 : t.type == TK_RPAREN ? -1 : 0;
			}
			t = sqllex_next(lx);
		}
		while (tok_is(&t, "analyze") || tok_is(&t, "analyse") || tok_is(&t, "verbose"))
			t = sqllex_next(lx);
	}
	bool create = false, do_block = false, temp = false, on_commit_drop = false;
	bool head = true;
	struct sqltok prev = { TK_EOF, NULL, 0 };
	for (;; prev = t, t = sqllex_next(lx)) {
		if (t.type == TK_EOF || t.type == TK_ERROR || t.type == TK_SEMI)
			break;
		/* inside a PL/pgSQL body, a statement may follow these */
		if (depth > 0 && (tok_is(&t, "begin") || tok_is(&t, "then") || tok_is(&t, "else") ||
				  tok_is(&t, "loop"))) {
			head = true;
			continue;
		}
		if (head) {
			head = false;
			if (tok_is(&t, "set") || tok_is(&t, "reset")) {
				/* values are literals: nothing else to find in them */
				struct sqltok last = tok_is(&t, "set") ? sess_set(w, lx, sqllex_next(lx))
								       : sess_reset(w, lx, sqllex_next(lx));
				if (last.type != TK_EOF && last.type != TK_ERROR && last.type != TK_SEMI)
					skip_statement(lx);
				return;
			}
			if (tok_is(&t, "discard")) {
				struct sqltok n = sqllex_next(lx);
				if (tok_is(&n, "all"))
					o->flags |= SE_DISCARD_ALL | SE_DEALLOCATE | SE_SETTINGS;
				t = n;
				continue;
			}
			if (tok_is(&t, "listen") || tok_is(&t, "unlisten")) {
				o->flags |= SE_LISTEN;
				continue;
			}
			if (tok_is(&t, "load")) {
				o->flags |= SE_LOAD;
				continue;
			}
			if (tok_is(&t, "prepare") && sql_is_prepare_transaction(lx))
				continue; /* PREPARE TRANSACTION 'id': two-phase commit */
			if (tok_is(&t, "prepare") || tok_is(&t, "execute") || tok_is(&t, "deallocate")) {
				if (depth == 0)
					o->flags |= SE_PREPARE_STMT;
				else if (tok_is(&t, "prepare"))
					o->flags |= SE_UNKNOWN; /* a statement pgtide does not know of */
				if (tok_is(&t, "deallocate"))
					o->flags |= SE_DEALLOCATE;
				continue;
			}
			if (tok_is(&t, "create")) {
				create = true;
				continue;
			}
			if (tok_is(&t, "do") && depth == 0) {
				do_block = true;
				continue;
			}
		}
		if (t.type == TK_WORD) {
			if (is_advisory_session_lock(&t)) {
				o->flags |= SE_ADVISORY;
			} else if (tok_is(&t, "set_config")) {
				sess_set_config(w, lx);
			} else if (tok_is(&t, "hold") && tok_is(&prev, "with")) {
				o->flags |= SE_HOLD_CURSOR;
			} else if ((tok_is(&t, "temp") || tok_is(&t, "temporary")) && (create || tok_is(&prev, "into"))) {
				temp = true;
			} else if (tok_is(&t, "pg_temp") && (create || tok_is(&prev, "into"))) {
				struct sqllex save = *lx;
				struct sqltok n = sqllex_next(lx);
				*lx = save;
				if (n.type == TK_DOT)
					temp = true;
			} else if (tok_is(&t, "drop") && tok_is(&prev, "commit")) {
				on_commit_drop = true;
			} else if (depth > 0 && (tok_is(&t, "listen") || tok_is(&t, "unlisten"))) {
				o->flags |= SE_LISTEN;
			}
		} else if (t.type == TK_STRING && depth < SESS_DEPTH_MAX &&
			   (do_block || (depth > 0 && (tok_is(&prev, "execute") || prev.type == TK_LPAREN)))) {
			/* a DO body, or dynamic SQL inside one */
			const char *b;
			size_t n;
			if (string_body(&t, &b, &n))
				sess_walk_text(w, b, n, depth + 1);
		}
	}
	if (temp && !on_commit_drop)
		o->flags |= SE_TEMP;
}

static void sess_walk_text(struct sess_walk *w, const char *q, size_t len, int depth)
{
	struct sqllex lx;
	sqllex_init(&lx, q, len);
	int n = 0;
	for (;;) {
		struct sqltok t = sqllex_next(&lx);
		if (t.type == TK_EOF || t.type == TK_ERROR)
			break;
		if (t.type == TK_SEMI)
			continue;
		n++;
		sess_statement(w, &lx, t, depth);
	}
	if (depth == 0 && n > 1)
		w->o->flags |= SE_MULTI;
}

/*
 * Nearly every statement leaves nothing in the session; this tells them
 * apart in one pass over the bytes, much cheaper than lexing. It looks at
 * runs of identifier characters (in strings and comments too, which only
 * errs on the side of a full look): the words that matter anywhere
 * (set_config, the session advisory lock functions, TEMP, HOLD, pg_temp),
 * and the ones that matter only where a statement starts (SET, CREATE,
 * DO, ...), at the start or after a ';'. false: no effect at all.
 */
static bool word_is(const unsigned char *s, const char *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c + 32);
		if (c != (unsigned char)w[i])
			return false;
	}
	return true;
}

static bool trigger_word(const unsigned char *s, size_t n, bool head)
{
	switch (n) {
	case 2:
		return head && word_is(s, "do", 2);
	case 3:
		return head && word_is(s, "set", 3);
	case 4:
		return word_is(s, "temp", 4) || word_is(s, "hold", 4) || (head && word_is(s, "load", 4));
	case 5:
		return head && word_is(s, "reset", 5);
	case 6:
		return head && (word_is(s, "create", 6) || word_is(s, "listen", 6));
	case 7:
		return word_is(s, "pg_temp", 7) ||
		       (head && (word_is(s, "discard", 7) || word_is(s, "declare", 7) || word_is(s, "prepare", 7) ||
				 word_is(s, "execute", 7) || word_is(s, "explain", 7)));
	case 8:
		return head && word_is(s, "unlisten", 8);
	case 9:
		return word_is(s, "temporary", 9);
	case 10:
		return word_is(s, "set_config", 10) || (head && word_is(s, "deallocate", 10));
	case 16:
		return word_is(s, "pg_advisory_lock", 16);
	case 20:
		return word_is(s, "pg_try_advisory_lock", 20);
	case 23:
		return word_is(s, "pg_advisory_lock_shared", 23);
	case 27:
		return word_is(s, "pg_try_advisory_lock_shared", 27);
	default:
		return false;
	}
}

/* Identifier characters, lowercased (0: not one). */
static unsigned char ident_lower[256];

static void ident_table(void)
{
	for (int c = 0; c < 256; c++) {
		if (c >= 'A' && c <= 'Z')
			ident_lower[c] = (unsigned char)(c + 32);
		else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '$' || c >= 0x80)
			ident_lower[c] = (unsigned char)c;
	}
}

/* Does a run of identifier characters contain word (lowercase)? */
static bool run_contains(const unsigned char *s, size_t n, const char *word, size_t wn)
{
	for (size_t i = 0; i + wn <= n; i++) {
		size_t k = 0;
		while (k < wn && ident_lower[s[i + k]] == (unsigned char)word[k])
			k++;
		if (k == wn)
			return true;
	}
	return false;
}

unsigned sql_quick_scan(const char *q, size_t len, const char *word)
{
	if (!ident_lower['a'])
		ident_table();
	const unsigned char *p = (const unsigned char *)q, *end = p + len;
	size_t wn = word ? strlen(word) : 0;
	unsigned out = 0;
	bool head = true;
	while (p < end) {
		if (!ident_lower[*p]) {
			if (*p == ';')
				head = true;
			p++;
			continue;
		}
		const unsigned char *w = p;
		while (p < end && ident_lower[*p])
			p++;
		size_t n = (size_t)(p - w);
		if (trigger_word(w, n, head)) {
			out |= QS_SESSION;
			if (n == 10 && word_is(w, "set_config", 10))
				out |= QS_SET_CONFIG;
		}
		if (head && ((n == 6 && word_is(w, "commit", 6)) || (n == 8 && word_is(w, "rollback", 8)) ||
			     (n == 3 && word_is(w, "end", 3)) || (n == 5 && word_is(w, "abort", 5))))
			out |= QS_TXN_END;
		if (head && ((n == 5 && word_is(w, "begin", 5)) || (n == 5 && word_is(w, "start", 5))))
			out |= QS_TXN_BEGIN;
		if ((head && n == 6 && word_is(w, "notify", 6)) || (n == 9 && word_is(w, "pg_notify", 9)))
			out |= QS_NOTIFY;
		if (wn && n >= wn && run_contains(w, n, word, wn))
			out |= QS_WORD;
		head = false;
	}
	return out;
}

void sql_session_effects(const char *q, size_t len, const char *ignore, struct sql_session *out)
{
	out->flags = 0;
	out->n_names = 0;
	/* the tenant setting's name as the word: sql_tenant_write_attempt_scanned
	 * reads it from scan */
	out->scan = sql_quick_scan(q, len, ignore ? setting_last_part(ignore) : NULL);
	if (!(out->scan & QS_SESSION))
		return;
	struct sess_walk w = { out, ignore };
	sess_walk_text(&w, q, len, 0);
}

const char *sql_session_bind_reason(unsigned flags)
{
	if (flags & SE_TEMP)
		return "a temporary object";
	if (flags & SE_HOLD_CURSOR)
		return "a WITH HOLD cursor";
	if (flags & SE_ADVISORY)
		return "a session advisory lock";
	if (flags & SE_LISTEN)
		return "LISTEN";
	if (flags & SE_LOAD)
		return "LOAD";
	return "session state";
}

char sql_listen_statement(const char *q, size_t len, char *channel, size_t clen)
{
	struct sqllex lx;
	sqllex_init(&lx, q, len);
	struct sqltok t = sqllex_next(&lx);
	char kind = tok_is(&t, "listen") ? 'L' : tok_is(&t, "unlisten") ? 'U' : 0;
	if (!kind || clen < 2)
		return 0;
	t = sqllex_next(&lx);
	if (kind == 'U' && t.type == TK_OP && t.len == 1 && t.start[0] == '*') {
		channel[0] = '*';
		channel[1] = '\0';
	} else if (t.type == TK_WORD || t.type == TK_QIDENT) {
		/* identifiers: unquoted ones fold to lower case, as Postgres does */
		if (t.len >= clen || !tok_text(&t, channel, clen))
			return 0;
	} else {
		return 0;
	}
	t = sqllex_next(&lx);
	return at_end(&lx, &t) ? kind : 0;
}

bool sql_is_discard_all(const char *q)
{
	struct sqllex lx;
	sqllex_init(&lx, q, strlen(q));
	struct sqltok t = sqllex_next(&lx);
	if (!tok_is(&t, "discard"))
		return false;
	t = sqllex_next(&lx);
	if (!tok_is(&t, "all"))
		return false;
	t = sqllex_next(&lx);
	return at_end(&lx, &t);
}
