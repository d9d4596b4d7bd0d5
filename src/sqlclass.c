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

bool sql_tenant_write_attempt(const char *q, size_t len, const char *setting)
{
	const char *last = strrchr(setting, '.');
	last = last ? last + 1 : setting;
	bool named = sql_icontains(q, len, last);
	bool setcfg = sql_icontains(q, len, "set_config");
	if (!named && !setcfg)
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
