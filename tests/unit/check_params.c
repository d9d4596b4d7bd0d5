/*
 * Unit tests for src/params.c: the quoting every client value goes through
 * on its way into SQL pgtide writes itself (sql_quote_literal), and the
 * SET/RESET text that brings a server's settings to a client's
 * (pset_diff_sql).
 */
#include "autoconf.h"

#include <check.h>
#include <string.h>

#include "params.h"

#include "check_main.h"

static const char *quote(const char *s, size_t len)
{
	static char buf[256];
	ck_assert_uint_le(len, sizeof(buf));
	return sql_quote_literal(s, buf, len) ? buf : NULL;
}

START_TEST(quote_literal)
{
	ck_assert_str_eq(quote("", 256), "''");
	ck_assert_str_eq(quote("acme", 256), "'acme'");
	/* a quote is doubled: the literal cannot be left */
	ck_assert_str_eq(quote("a'b", 256), "'a''b'");
	ck_assert_str_eq(quote("'; DROP TABLE t; --", 256), "'''; DROP TABLE t; --'");
	/* a backslash makes it E'' with backslashes doubled: the same value
	 * whatever standard_conforming_strings is */
	ck_assert_str_eq(quote("a\\b", 256), "E'a\\\\b'");
	ck_assert_str_eq(quote("\\'", 256), "E'\\\\'''");
	ck_assert_str_eq(quote("x\\", 256), "E'x\\\\'");
	/* bytes above 0x7f pass as they are (the server checks the encoding) */
	ck_assert_str_eq(quote("caf\xc3\xa9", 256), "'caf\xc3\xa9'");
}
END_TEST

START_TEST(quote_literal_buffer_edges)
{
	/* "'ab'" needs 5 bytes with its terminator: 5 fits, 4 does not */
	ck_assert_str_eq(quote("ab", 5), "'ab'");
	ck_assert_ptr_null(quote("ab", 4));
	ck_assert_str_eq(quote("", 3), "''");
	ck_assert_ptr_null(quote("", 2));
	ck_assert_ptr_null(quote("", 1));
	/* a doubled quote needs its two bytes: never half a pair */
	ck_assert_str_eq(quote("'", 5), "''''");
	ck_assert_ptr_null(quote("'", 4));
	ck_assert_str_eq(quote("\\", 6), "E'\\\\'");
	ck_assert_ptr_null(quote("\\", 5));
	/* every length of a hostile value: either a whole literal or nothing */
	const char *v = "x'\\'y";
	for (size_t len = 1; len < 32; len++) {
		char buf[32];
		memset(buf, '#', sizeof(buf));
		if (sql_quote_literal(v, buf, len)) {
			ck_assert_str_eq(buf, "E'x''\\\\''y'");
			ck_assert_uint_le(strlen(buf) + 1, len);
		}
		ck_assert_int_eq(buf[len], '#'); /* nothing written past len */
	}
}
END_TEST

START_TEST(diff_sets_and_resets)
{
	params_init();
	int app = param_index("application_name"), tz = param_index("timezone");
	ck_assert_int_ge(app, 0);
	ck_assert_int_ge(tz, 0);
	ck_assert_int_eq(param_index("TimeZone"), tz); /* names are case-insensitive */
	ck_assert_int_eq(param_index("no_such_parameter"), -1);

	struct pset *empty = pset_empty();
	struct pset *want = pset_with(empty, app, "it's \\ mine");
	struct pset *want2 = pset_with(want, tz, "UTC");
	char buf[512];
	ck_assert_int_eq(pset_diff_sql(empty, want2, buf, sizeof(buf)), 2);
	ck_assert_str_eq(buf, "SET TimeZone = 'UTC';SET application_name = E'it''s \\\\ mine';");
	/* the way back: what the client never set is RESET */
	ck_assert_int_eq(pset_diff_sql(want2, empty, buf, sizeof(buf)), 2);
	ck_assert_str_eq(buf, "RESET TimeZone;RESET application_name;");
	/* equal sets (interned: the same object) need nothing */
	struct pset *again = pset_with(empty, app, "it's \\ mine");
	ck_assert_ptr_eq(again, want);
	ck_assert_int_eq(pset_diff_sql(want, again, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");
	/* a buffer too small for the second statement keeps only whole ones */
	ck_assert_int_eq(pset_diff_sql(empty, want2, buf, 30), 1);
	ck_assert_str_eq(buf, "SET TimeZone = 'UTC';");
	pset_unref(again);
	pset_unref(want2);
	pset_unref(want);
	pset_unref(empty);
}
END_TEST

START_TEST(forget_unreported)
{
	/* after a RESET ALL pgtide cannot know the server's value of a
	 * parameter Postgres does not report: it is forgotten, the reported
	 * ones stay */
	params_init();
	int app = param_index("application_name"), efd = param_index("extra_float_digits");
	ck_assert(param_reported(app));
	ck_assert(!param_reported(efd));
	struct pset *empty = pset_empty();
	struct pset *a = pset_with(empty, app, "web");
	struct pset *p = pset_with(a, efd, "3");
	pset_forget_unreported(&p);
	ck_assert_ptr_nonnull(p->v[app]);
	ck_assert_str_eq(p->v[app]->s, "web");
	ck_assert_ptr_null(p->v[efd]);
	ck_assert_ptr_eq(p, a); /* interned: the same set as without it */
	struct pset *same = p;
	pset_forget_unreported(&p); /* nothing to forget: unchanged */
	ck_assert_ptr_eq(p, same);
	pset_unref(p);
	pset_unref(a);
	pset_unref(empty);
}
END_TEST

START_TEST(canonical_encoding)
{
	int enc = param_index("client_encoding");
	ck_assert_str_eq(param_canonical(enc, "utf8"), "UTF8");
	ck_assert_str_eq(param_canonical(enc, "UTF-8"), "UTF8");
	ck_assert_str_eq(param_canonical(enc, "unicode"), "UTF8");
	ck_assert_str_eq(param_canonical(enc, "eucjp"), "EUC_JP");
	ck_assert_str_eq(param_canonical(enc, "EUC_JP"), "EUC_JP");
	ck_assert_str_eq(param_canonical(enc, "iso-8859-1"), "LATIN1");
	ck_assert_str_eq(param_canonical(enc, "Windows-1252"), "WIN1252");
	ck_assert_str_eq(param_canonical(enc, "sql_ascii"), "SQL_ASCII");
	/* not an encoding Postgres knows: as given, Postgres refuses it */
	ck_assert_str_eq(param_canonical(enc, "klingon"), "klingon");
	ck_assert_str_eq(param_canonical(enc, ""), "");
	const char *longname = "utf8utf8utf8utf8utf8utf8utf8utf8utf8utf8utf8";
	ck_assert_str_eq(param_canonical(enc, longname), longname);
	/* other parameters are as given */
	ck_assert_str_eq(param_canonical(param_index("application_name"), "utf8"), "utf8");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("params");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, quote_literal);
	tcase_add_test(tc, quote_literal_buffer_edges);
	tcase_add_test(tc, diff_sets_and_resets);
	tcase_add_test(tc, forget_unreported);
	tcase_add_test(tc, canonical_encoding);
	suite_add_tcase(s, tc);
	return s;
}
