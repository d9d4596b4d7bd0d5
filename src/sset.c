/*
 * Interned sets of session settings, their builder, row parser and apply
 * SQL (see sset.h).
 *
 * Owns: struct sset and the intern table. Values are interned strings
 * (params.c), so entries compare by pointer and a set hashes its pointers.
 */
#include "autoconf.h"

#include "sset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "params.h"
#include "proto.h"
#include "util/hash.h"

struct sset_entry {
	struct istr *name;   /* lowercase */
	struct istr *value;
};

struct sset {
	struct hnode hn;
	uint32_t refs;
	uint32_t n;
	struct sset_entry e[];
};

static struct htab tab;
static struct sset *empty;

static uint64_t set_hash(const struct sset_entry *e, uint32_t n)
{
	return n ? hash_bytes(e, sizeof(*e) * n) ^ n : 0;
}

struct set_key {
	const struct sset_entry *e;
	uint32_t n;
};

static bool set_eq(const struct hnode *hn, const void *key)
{
	const struct sset *s = container_of(hn, struct sset, hn);
	const struct set_key *k = key;
	return s->n == k->n && (k->n == 0 || memcmp(s->e, k->e, sizeof(*k->e) * k->n) == 0);
}

/* Takes over the references in e (sorted by name, no duplicates). */
static struct sset *intern(struct sset_entry *e, uint32_t n)
{
	struct set_key k = { e, n };
	uint64_t h = set_hash(e, n);
	struct hnode *hn = htab_find(&tab, h, set_eq, &k);
	if (hn) {
		struct sset *s = container_of(hn, struct sset, hn);
		s->refs++;
		for (uint32_t i = 0; i < n; i++) {
			istr_unref(e[i].name);
			istr_unref(e[i].value);
		}
		return s;
	}
	struct sset *s = xmalloc(sizeof(*s) + sizeof(*e) * n);
	s->refs = 1;
	s->n = n;
	if (n)
		memcpy(s->e, e, sizeof(*e) * n);
	htab_insert(&tab, &s->hn, h);
	return s;
}

void sset_module_init(void)
{
	htab_init(&tab);
	empty = intern(NULL, 0);
}

void sset_module_free(void)
{
	sset_unref(empty);
	empty = NULL;
	htab_free(&tab);
}

struct sset *sset_empty(void)
{
	return sset_ref(empty);
}

struct sset *sset_ref(struct sset *s)
{
	if (s)
		s->refs++;
	return s;
}

void sset_unref(struct sset *s)
{
	if (!s || --s->refs)
		return;
	htab_remove(&tab, &s->hn);
	for (uint32_t i = 0; i < s->n; i++) {
		istr_unref(s->e[i].name);
		istr_unref(s->e[i].value);
	}
	free(s);
}

size_t sset_len(const struct sset *s)
{
	return s ? s->n : 0;
}

size_t sset_count(void)
{
	return tab.count;
}

const char *sset_value(const struct sset *s, const char *name)
{
	for (uint32_t i = 0; s && i < s->n; i++)
		if (strcmp(s->e[i].name->s, name) == 0)
			return s->e[i].value->s;
	return NULL;
}

const char *sset_name_at(const struct sset *s, size_t i)
{
	return s && i < s->n ? s->e[i].name->s : NULL;
}

static const struct istr *get(const struct sset *s, const struct istr *name)
{
	for (uint32_t i = 0; s && i < s->n; i++)
		if (s->e[i].name == name)
			return s->e[i].value;
	return NULL;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sset_entry *)a)->name->s, ((const struct sset_entry *)b)->name->s);
}

bool sset_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > SSET_NAME_MAX || name[0] == '.' || (name[0] >= '0' && name[0] <= '9'))
		return false;
	for (const char *p = name; *p; p++) {
		char ch = *p;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
		      ch == '.'))
			return false;
	}
	return true;
}

static struct istr *lower_istr(const char *name, size_t n)
{
	char low[SSET_NAME_MAX * 4 + 1];
	if (n >= sizeof(low))
		n = sizeof(low) - 1;
	for (size_t j = 0; j < n; j++)
		low[j] = (char)(name[j] >= 'A' && name[j] <= 'Z' ? name[j] + 32 : name[j]);
	low[n] = '\0';
	return istr_get(low);
}

/* ---- builder ---- */

void sset_builder_init(struct sset_builder *b)
{
	memset(b, 0, sizeof(*b));
}

static void builder_clear(struct sset_builder *b)
{
	for (int i = 0; i < b->n; i++) {
		istr_unref(b->rows[i].name);
		istr_unref(b->rows[i].value);
	}
	b->n = 0;
	b->bytes = 0;
	b->overflow = false;
}

void sset_builder_free(struct sset_builder *b)
{
	builder_clear(b);
	free(b->rows);
	b->rows = NULL;
	b->cap = 0;
}

void sset_builder_add(struct sset_builder *b, const char *name, size_t nlen, const char *value, size_t vlen)
{
	if (b->overflow)
		return;
	b->bytes += nlen + vlen;
	if (b->n >= SSET_MAX_ENTRIES || b->bytes > SSET_MAX_BYTES || nlen == 0 || nlen > SSET_NAME_MAX * 4) {
		b->overflow = true;
		return;
	}
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 8;
		b->rows = xrealloc(b->rows, sizeof(*b->rows) * (size_t)b->cap);
	}
	char *v = xmalloc(vlen + 1);
	memcpy(v, value, vlen);
	v[vlen] = '\0';
	b->rows[b->n].name = lower_istr(name, nlen);
	b->rows[b->n].value = istr_get(v);
	free(v);
	b->n++;
}

struct sset *sset_builder_finish(struct sset_builder *b)
{
	if (b->overflow) {
		builder_clear(b);
		return NULL;
	}
	/* a stable sort keeps the first row of a name first */
	for (int i = 1; i < b->n; i++) {
		struct sset_entry x = b->rows[i];
		int j = i - 1;
		while (j >= 0 && entry_cmp(&b->rows[j], &x) > 0) {
			b->rows[j + 1] = b->rows[j];
			j--;
		}
		b->rows[j + 1] = x;
	}
	uint32_t n = 0;
	for (int i = 0; i < b->n; i++) {
		if (n && b->rows[n - 1].name == b->rows[i].name) {
			istr_unref(b->rows[i].name);
			istr_unref(b->rows[i].value);
			continue;
		}
		b->rows[n++] = b->rows[i];
	}
	struct sset *s = intern(b->rows, n);
	b->n = 0; /* the set holds the references now */
	b->bytes = 0;
	return s;
}

struct sset *sset_from_pairs(char *const *names, char *const *values, int n)
{
	struct sset_builder b;
	sset_builder_init(&b);
	/* later names win: add from the last */
	for (int i = n - 1; i >= 0; i--)
		sset_builder_add(&b, names[i], strlen(names[i]), values[i], strlen(values[i]));
	struct sset *s = sset_builder_finish(&b);
	sset_builder_free(&b);
	return s ? s : sset_empty();
}

/* ---- rows ---- */

bool sset_parse_row(const uint8_t *body, size_t len, const char **name, uint32_t *nlen, const char **value,
		    uint32_t *vlen)
{
	struct preader r;
	preader_init(&r, body, len);
	if (preader_int16(&r) != 2)
		return false;
	const char *cell[2] = { NULL, NULL };
	uint32_t cl[2] = { 0, 0 };
	for (int i = 0; i < 2; i++) {
		uint32_t n = preader_int32(&r);
		if (r.bad)
			return false;
		if (n == 0xFFFFFFFFu)
			continue; /* NULL */
		const uint8_t *p = preader_bytes(&r, n);
		if (!p || memchr(p, 0, n))
			return false;
		cell[i] = (const char *)p;
		cl[i] = n;
	}
	if (!preader_done(&r) || !cell[0])
		return false;
	*name = cell[0];
	*nlen = cl[0];
	*value = cell[1];
	*vlen = cl[1];
	return true;
}

/* ---- apply ---- */

static bool is_identity(const struct istr *name)
{
	return strcmp(name->s, "role") == 0 || strcmp(name->s, "session_authorization") == 0;
}

static void put_set(struct strbuf *sb, const char *name, const struct istr *value)
{
	if (sb->len > strlen("SELECT "))
		strbuf_puts(sb, ", ");
	size_t cap = 2 * (value ? value->len : 0) + 2 * strlen(name) + 16;
	char *lit = xmalloc(cap);
	sql_quote_literal(name, lit, cap);
	strbuf_printf(sb, "pg_catalog.set_config(%s, ", lit);
	if (value) {
		sql_quote_literal(value->s, lit, cap);
		strbuf_puts(sb, lit);
	} else {
		strbuf_puts(sb, "NULL");
	}
	strbuf_puts(sb, ", false)");
	free(lit);
}

bool sset_apply_sql(const struct sset *have, const struct sset *want, struct strbuf *sb)
{
	if (have == want)
		return false;
	strbuf_reset(sb);
	strbuf_puts(sb, "SELECT ");
	bool ident_differs = false, have_ident = false;
	for (uint32_t i = 0; i < have->n; i++) {
		if (is_identity(have->e[i].name)) {
			have_ident = true;
			if (get(want, have->e[i].name) != have->e[i].value)
				ident_differs = true;
		}
	}
	for (uint32_t i = 0; i < want->n; i++)
		if (is_identity(want->e[i].name) && get(have, want->e[i].name) != want->e[i].value)
			ident_differs = true;
	if (ident_differs && have_ident) {
		put_set(sb, "session_authorization", NULL);
		put_set(sb, "role", NULL);
	}
	for (uint32_t i = 0; i < have->n; i++) {
		const struct istr *n = have->e[i].name;
		if (!is_identity(n) && !get(want, n))
			put_set(sb, n->s, NULL);
	}
	for (uint32_t i = 0; i < want->n; i++) {
		const struct istr *n = want->e[i].name;
		if (!is_identity(n) && get(have, n) != want->e[i].value)
			put_set(sb, n->s, want->e[i].value);
	}
	if (ident_differs) {
		static const char *const order[] = { "session_authorization", "role" };
		for (int k = 0; k < 2; k++)
			for (uint32_t i = 0; i < want->n; i++)
				if (strcmp(want->e[i].name->s, order[k]) == 0)
					put_set(sb, order[k], want->e[i].value);
	}
	return !sb->failed && sb->len > strlen("SELECT ");
}
