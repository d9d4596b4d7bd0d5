/*
 * Unit tests: sets of session settings (src/sset.c) - interning, the
 * builder and its limits, the parser of a server's rows (hostile ones
 * included), and the SQL that moves a session from one set to another
 * (hostile values included: it is client text put into SQL).
 */
#include "autoconf.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "params.h"
#include "proto.h"
#include "sset.h"
#include "check_main.h"

static void setup(void)
{
	params_init();
	sset_module_init();
}

static void teardown(void)
{
	sset_module_free();
	params_free();
}

static struct sset *pairs(int n, ...)
{
	char *names[16], *values[16];
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		names[i] = va_arg(ap, char *);
		values[i] = va_arg(ap, char *);
	}
	va_end(ap);
	return sset_from_pairs(names, values, n);
}

static const char *apply(const struct sset *have, const struct sset *want)
{
	static struct strbuf sb;
	strbuf_init(&sb);
	if (!sset_apply_sql(have, want, &sb)) {
		strbuf_free(&sb);
		return "";
	}
	static char out[4096];
	snprintf(out, sizeof(out), "%s", sb.data);
	strbuf_free(&sb);
	return out;
}

START_TEST(interning)
{
	struct sset *e = sset_empty();
	struct sset *a = pairs(2, "work_mem", "8MB", "App.X", "1");
	struct sset *b = pairs(2, "app.x", "1", "WORK_MEM", "8MB");
	ck_assert_ptr_eq(a, b); /* same contents, any order or case: one set */
	ck_assert_uint_eq(sset_len(a), 2);
	ck_assert_str_eq(sset_name_at(a, 0), "app.x");
	ck_assert_str_eq(sset_value(a, "work_mem"), "8MB");
	struct sset *c = pairs(2, "work_mem", "1MB", "work_mem", "2MB");
	ck_assert_str_eq(sset_value(c, "work_mem"), "2MB"); /* the later one wins */
	ck_assert_uint_eq(sset_len(c), 1);
	struct sset *d = pairs(0);
	ck_assert_ptr_eq(d, e);
	ck_assert_uint_eq(sset_count(), 3);
	sset_unref(a);
	sset_unref(b);
	sset_unref(c);
	sset_unref(d);
	sset_unref(e);
	ck_assert_uint_eq(sset_count(), 1); /* the empty set stays */
}
END_TEST

START_TEST(names)
{
	ck_assert(sset_name_ok("work_mem"));
	ck_assert(sset_name_ok("app.current_tenant_id"));
	ck_assert(sset_name_ok("A9_b.c"));
	ck_assert(!sset_name_ok(""));
	ck_assert(!sset_name_ok("9lives"));
	ck_assert(!sset_name_ok(".x"));
	ck_assert(!sset_name_ok("work mem"));
	ck_assert(!sset_name_ok("x'; drop table t; --"));
	ck_assert(!sset_name_ok("a\"b"));
	char longname[80];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ck_assert(!sset_name_ok(longname));
	longname[63] = '\0';
	ck_assert(sset_name_ok(longname));
}
END_TEST

START_TEST(builder)
{
	struct sset_builder b;
	sset_builder_init(&b);
	sset_builder_add(&b, "ZZ", 2, "1", 1);
	sset_builder_add(&b, "aa", 2, "first", 5);
	sset_builder_add(&b, "AA", 2, "second", 6);
	struct sset *s = sset_builder_finish(&b);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(sset_len(s), 2);
	ck_assert_str_eq(sset_value(s, "aa"), "first"); /* the first row of a name wins */
	ck_assert_str_eq(sset_name_at(s, 1), "zz");
	sset_unref(s);
	/* too many entries */
	for (int i = 0; i <= SSET_MAX_ENTRIES; i++) {
		char n[16];
		snprintf(n, sizeof(n), "a.n%d", i);
		sset_builder_add(&b, n, strlen(n), "v", 1);
	}
	ck_assert_ptr_null(sset_builder_finish(&b));
	/* too many bytes */
	char *big = malloc(SSET_MAX_BYTES);
	memset(big, 'x', SSET_MAX_BYTES);
	sset_builder_add(&b, "a.big", 5, big, SSET_MAX_BYTES);
	ck_assert_ptr_null(sset_builder_finish(&b));
	free(big);
	/* usable again after an overflow */
	sset_builder_add(&b, "x", 1, "y", 1);
	s = sset_builder_finish(&b);
	ck_assert_str_eq(sset_value(s, "x"), "y");
	sset_unref(s);
	sset_builder_free(&b);
}
END_TEST

static size_t row(uint8_t *buf, int n, const char *a, const char *b)
{
	size_t len = 0;
	buf[len++] = (uint8_t)(n >> 8);
	buf[len++] = (uint8_t)n;
	const char *cells[2] = { a, b };
	for (int i = 0; i < 2 && i < n; i++) {
		uint32_t l = cells[i] ? (uint32_t)strlen(cells[i]) : 0xFFFFFFFFu;
		proto_put32(buf + len, l);
		len += 4;
		if (cells[i]) {
			memcpy(buf + len, cells[i], l);
			len += l;
		}
	}
	return len;
}

START_TEST(rows)
{
	uint8_t buf[256];
	const char *name, *value;
	uint32_t nl, vl;
	size_t n = row(buf, 2, "work_mem", "8MB");
	ck_assert(sset_parse_row(buf, n, &name, &nl, &value, &vl));
	ck_assert_int_eq(nl, 8);
	ck_assert(memcmp(name, "work_mem", 8) == 0);
	ck_assert_int_eq(vl, 3);
	n = row(buf, 2, "app.x", NULL);
	ck_assert(sset_parse_row(buf, n, &name, &nl, &value, &vl));
	ck_assert_ptr_null(value);
	/* hostile or broken rows */
	n = row(buf, 2, NULL, "v");
	ck_assert(!sset_parse_row(buf, n, &name, &nl, &value, &vl)); /* NULL name */
	n = row(buf, 1, "a", NULL);
	ck_assert(!sset_parse_row(buf, n, &name, &nl, &value, &vl)); /* one column */
	n = row(buf, 3, "a", "b");
	ck_assert(!sset_parse_row(buf, n, &name, &nl, &value, &vl)); /* says three */
	n = row(buf, 2, "work_mem", "8MB");
	for (size_t cut = 0; cut < n; cut++)
		ck_assert(!sset_parse_row(buf, cut, &name, &nl, &value, &vl)); /* every truncation */
	buf[n] = 'x';
	ck_assert(!sset_parse_row(buf, n + 1, &name, &nl, &value, &vl)); /* trailing byte */
	n = row(buf, 2, "work_mem", "8MB");
	proto_put32(buf + 2, 0x7FFFFFFF); /* a length far past the end */
	ck_assert(!sset_parse_row(buf, n, &name, &nl, &value, &vl));
	n = row(buf, 2, "ab", "cd");
	buf[7] = '\0'; /* a NUL inside the name */
	ck_assert(!sset_parse_row(buf, n, &name, &nl, &value, &vl));
	ck_assert(!sset_parse_row(buf, 0, &name, &nl, &value, &vl));
}
END_TEST

START_TEST(apply_sql)
{
	struct sset *e = sset_empty();
	struct sset *a = pairs(2, "work_mem", "8MB", "app.x", "1");
	struct sset *b = pairs(1, "work_mem", "16MB");
	ck_assert_str_eq(apply(e, e), "");
	ck_assert_str_eq(apply(a, a), "");
	ck_assert_str_eq(apply(e, a), "SELECT pg_catalog.set_config('app.x', '1', false), "
				      "pg_catalog.set_config('work_mem', '8MB', false)");
	ck_assert_str_eq(apply(a, b), "SELECT pg_catalog.set_config('app.x', NULL, false), "
				      "pg_catalog.set_config('work_mem', '16MB', false)");
	ck_assert_str_eq(apply(b, e), "SELECT pg_catalog.set_config('work_mem', NULL, false)");
	/* identity: back to the login's first, set last, authorization before role */
	struct sset *r = pairs(3, "role", "bypass", "session_authorization", "alice", "search_path", "x");
	ck_assert_str_eq(apply(e, r), "SELECT pg_catalog.set_config('search_path', 'x', false), "
				      "pg_catalog.set_config('session_authorization', 'alice', false), "
				      "pg_catalog.set_config('role', 'bypass', false)");
	ck_assert_str_eq(apply(r, e), "SELECT pg_catalog.set_config('session_authorization', NULL, false), "
				      "pg_catalog.set_config('role', NULL, false), "
				      "pg_catalog.set_config('search_path', NULL, false)");
	struct sset *r2 = pairs(1, "role", "other");
	ck_assert_str_eq(apply(r, r2), "SELECT pg_catalog.set_config('session_authorization', NULL, false), "
				       "pg_catalog.set_config('role', NULL, false), "
				       "pg_catalog.set_config('search_path', NULL, false), "
				       "pg_catalog.set_config('role', 'other', false)");
	/* values are client text: quoted so they stay one literal under either
	 * standard_conforming_strings */
	struct sset *h = pairs(2, "app.q", "it's'); DROP TABLE t; --", "app.bs", "a\\'b");
	ck_assert_str_eq(apply(e, h), "SELECT pg_catalog.set_config('app.bs', E'a\\\\''b', false), "
				      "pg_catalog.set_config('app.q', 'it''s''); DROP TABLE t; --', false)");
	sset_unref(e);
	sset_unref(a);
	sset_unref(b);
	sset_unref(r);
	sset_unref(r2);
	sset_unref(h);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("sset");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, interning);
	tcase_add_test(tc, names);
	tcase_add_test(tc, builder);
	tcase_add_test(tc, rows);
	tcase_add_test(tc, apply_sql);
	suite_add_tcase(s, tc);
	return s;
}
