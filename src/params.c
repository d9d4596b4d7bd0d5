/*
 * Tracked session parameters: interned strings and interned sets.
 *
 * Owns: the two intern tables. Nothing here knows about connections; the
 * owners hold references and drop them when they change or go away.
 */
#include "autoconf.h"

#include "params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/strbuf.h"

static const struct {
	const char *name;
	bool reported;
} param_table[NPARAMS] = {
	[P_CLIENT_ENCODING] = { "client_encoding", true },
	[P_DATESTYLE] = { "DateStyle", true },
	[P_TIMEZONE] = { "TimeZone", true },
	[P_STANDARD_CONFORMING_STRINGS] = { "standard_conforming_strings", true },
	[P_APPLICATION_NAME] = { "application_name", true },
	[P_INTERVALSTYLE] = { "IntervalStyle", true },
	[P_EXTRA_FLOAT_DIGITS] = { "extra_float_digits", false },
	[P_DEFAULT_TRANSACTION_READ_ONLY] = { "default_transaction_read_only", true },
};

/* Postgres's encoding names and aliases, keyed by the name lowercased with
 * everything but letters and digits dropped (as Postgres compares them). */
static const struct {
	const char *key;
	const char *name;
} encodings[] = {
	{ "alt", "WIN866" }, { "big5", "BIG5" }, { "euccn", "EUC_CN" }, { "eucjis2004", "EUC_JIS_2004" },
	{ "eucjp", "EUC_JP" }, { "euckr", "EUC_KR" }, { "euctw", "EUC_TW" }, { "gb18030", "GB18030" },
	{ "gbk", "GBK" }, { "iso88591", "LATIN1" }, { "iso885910", "LATIN6" }, { "iso885913", "LATIN7" },
	{ "iso885914", "LATIN8" }, { "iso885915", "LATIN9" }, { "iso885916", "LATIN10" }, { "iso88592", "LATIN2" },
	{ "iso88593", "LATIN3" }, { "iso88594", "LATIN4" }, { "iso88595", "ISO_8859_5" }, { "iso88596", "ISO_8859_6" },
	{ "iso88597", "ISO_8859_7" }, { "iso88598", "ISO_8859_8" }, { "iso88599", "LATIN5" }, { "johab", "JOHAB" },
	{ "koi8", "KOI8R" }, { "koi8r", "KOI8R" }, { "koi8u", "KOI8U" }, { "latin1", "LATIN1" },
	{ "latin10", "LATIN10" }, { "latin2", "LATIN2" }, { "latin3", "LATIN3" }, { "latin4", "LATIN4" },
	{ "latin5", "LATIN5" }, { "latin6", "LATIN6" }, { "latin7", "LATIN7" }, { "latin8", "LATIN8" },
	{ "latin9", "LATIN9" }, { "mskanji", "SJIS" }, { "muleinternal", "MULE_INTERNAL" }, { "shiftjis", "SJIS" },
	{ "shiftjis2004", "SHIFT_JIS_2004" }, { "sjis", "SJIS" }, { "sqlascii", "SQL_ASCII" }, { "tcvn", "WIN1258" },
	{ "tcvn5712", "WIN1258" }, { "uhc", "UHC" }, { "unicode", "UTF8" }, { "utf8", "UTF8" },
	{ "vscii", "WIN1258" }, { "win", "WIN1251" }, { "win1250", "WIN1250" }, { "win1251", "WIN1251" },
	{ "win1252", "WIN1252" }, { "win1253", "WIN1253" }, { "win1254", "WIN1254" }, { "win1255", "WIN1255" },
	{ "win1256", "WIN1256" }, { "win1257", "WIN1257" }, { "win1258", "WIN1258" }, { "win866", "WIN866" },
	{ "win874", "WIN874" }, { "win932", "SJIS" }, { "win936", "GBK" }, { "win949", "UHC" }, { "win950", "BIG5" },
	{ "windows1250", "WIN1250" }, { "windows1251", "WIN1251" }, { "windows1252", "WIN1252" },
	{ "windows1253", "WIN1253" }, { "windows1254", "WIN1254" }, { "windows1255", "WIN1255" },
	{ "windows1256", "WIN1256" }, { "windows1257", "WIN1257" }, { "windows1258", "WIN1258" },
	{ "windows866", "WIN866" }, { "windows874", "WIN874" }, { "windows932", "SJIS" }, { "windows936", "GBK" },
	{ "windows949", "UHC" }, { "windows950", "BIG5" },
};

const char *param_canonical(int idx, const char *value)
{
	if (idx != P_CLIENT_ENCODING || !value)
		return value;
	char key[32];
	size_t n = 0;
	for (const char *p = value; *p; p++) {
		char ch = *p;
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch + 32);
		if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
			if (n + 1 >= sizeof(key))
				return value;
			key[n++] = ch;
		}
	}
	key[n] = '\0';
	for (size_t i = 0; i < sizeof(encodings) / sizeof(encodings[0]); i++)
		if (strcmp(encodings[i].key, key) == 0)
			return encodings[i].name;
	return value;
}

static struct htab istr_tab, pset_tab;
static struct pset *empty_set;

int param_index(const char *name)
{
	for (int i = 0; i < NPARAMS; i++)
		if (strcasecmp(param_table[i].name, name) == 0)
			return i;
	return -1;
}

bool param_reported(int idx)
{
	return param_table[idx].reported;
}

static bool istr_eq(const struct hnode *n, const void *key)
{
	const struct istr *s = container_of(n, struct istr, hn);
	return strcmp(s->s, key) == 0;
}

struct istr *istr_get(const char *s)
{
	uint64_t h = hash_str(s);
	struct hnode *n = htab_find(&istr_tab, h, istr_eq, s);
	if (n) {
		struct istr *is = container_of(n, struct istr, hn);
		is->refs++;
		return is;
	}
	size_t len = strlen(s);
	struct istr *is = xmalloc(sizeof(*is) + len + 1);
	is->refs = 1;
	is->len = (uint32_t)len;
	memcpy(is->s, s, len + 1);
	htab_insert(&istr_tab, &is->hn, h);
	return is;
}

struct istr *istr_ref(struct istr *s)
{
	if (s)
		s->refs++;
	return s;
}

void istr_unref(struct istr *s)
{
	if (!s || --s->refs)
		return;
	htab_remove(&istr_tab, &s->hn);
	free(s);
}

static uint64_t pset_hash(struct istr *const v[NPARAMS])
{
	return hash_bytes(v, sizeof(struct istr *) * NPARAMS);
}

static bool pset_eq(const struct hnode *n, const void *key)
{
	const struct pset *p = container_of(n, struct pset, hn);
	return memcmp(p->v, key, sizeof(p->v)) == 0;
}

/* Takes over the references in v. */
static struct pset *pset_intern(struct istr *v[NPARAMS])
{
	uint64_t h = pset_hash(v);
	struct hnode *n = htab_find(&pset_tab, h, pset_eq, v);
	if (n) {
		struct pset *p = container_of(n, struct pset, hn);
		p->refs++;
		for (int i = 0; i < NPARAMS; i++)
			istr_unref(v[i]);
		return p;
	}
	struct pset *p = xcalloc(1, sizeof(*p));
	p->refs = 1;
	memcpy(p->v, v, sizeof(p->v));
	htab_insert(&pset_tab, &p->hn, h);
	return p;
}

void params_init(void)
{
	htab_init(&istr_tab);
	htab_init(&pset_tab);
	struct istr *v[NPARAMS] = { 0 };
	empty_set = pset_intern(v);
}

struct pset *pset_empty(void)
{
	return pset_ref(empty_set);
}

struct pset *pset_ref(struct pset *p)
{
	if (p)
		p->refs++;
	return p;
}

void pset_unref(struct pset *p)
{
	if (!p || --p->refs)
		return;
	htab_remove(&pset_tab, &p->hn);
	for (int i = 0; i < NPARAMS; i++)
		istr_unref(p->v[i]);
	free(p);
}

struct pset *pset_with(struct pset *p, int idx, const char *value)
{
	struct istr *v[NPARAMS];
	for (int i = 0; i < NPARAMS; i++)
		v[i] = istr_ref(p->v[i]);
	istr_unref(v[idx]);
	v[idx] = value ? istr_get(value) : NULL;
	return pset_intern(v);
}

void pset_forget_unreported(struct pset **p)
{
	for (int i = 0; i < NPARAMS; i++) {
		if (!param_reported(i) && (*p)->v[i]) {
			struct pset *n = pset_with(*p, i, NULL);
			pset_unref(*p);
			*p = n;
		}
	}
}

bool sql_quote_literal(const char *s, char *buf, size_t len)
{
	/* E'' with doubled backslashes reads the same whatever
	 * standard_conforming_strings is; plain '' is used when there is no
	 * backslash, so the common case stays readable in server logs. */
	bool backslash = strchr(s, '\\') != NULL;
	size_t n = 0;
	/* room for the opening, the closing quote and the terminator first
	 * (check_params found "" written as 3 bytes into 2), then for each
	 * character with the closing two still to come */
	if (len < (backslash ? 4u : 3u))
		return false;
	if (backslash)
		buf[n++] = 'E';
	buf[n++] = '\'';
	for (const char *p = s; *p; p++) {
		size_t need = (*p == '\'' || (*p == '\\' && backslash)) ? 2 : 1;
		if (n + need + 2 > len)
			return false;
		if (need == 2)
			buf[n++] = *p;
		buf[n++] = *p;
	}
	buf[n++] = '\'';
	buf[n] = '\0';
	return true;
}

int pset_diff_sql(const struct pset *have, const struct pset *want, char *buf, size_t len)
{
	int count = 0;
	size_t n = 0;
	buf[0] = '\0';
	for (int i = 0; i < NPARAMS; i++) {
		if (want->v[i] == have->v[i])
			continue;
		if (!want->v[i]) {
			/* the client never set it: back to the server's default */
			int w = snprintf(buf + n, len - n, "RESET %s;", param_table[i].name);
			if (w < 0 || (size_t)w >= len - n) {
				buf[n] = '\0';
				break;
			}
			n += (size_t)w;
			count++;
			continue;
		}
		char lit[1024];
		if (!sql_quote_literal(want->v[i]->s, lit, sizeof(lit)))
			continue; /* absurdly long value: leave the server's */
		int w = snprintf(buf + n, len - n, "SET %s = %s;", param_table[i].name, lit);
		if (w < 0 || (size_t)w >= len - n) {
			buf[n] = '\0';
			break;
		}
		n += (size_t)w;
		count++;
	}
	return count;
}

size_t pset_count(void)
{
	return pset_tab.count;
}

void params_free(void)
{
	pset_unref(empty_set);
	empty_set = NULL;
	htab_free(&istr_tab);
	htab_free(&pset_tab);
}
