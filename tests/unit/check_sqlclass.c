/*
 * Unit tests: the SQL lexer and classifiers (src/sqlclass.c) with tricky
 * SQL: comments, nested comments, dollar quotes, E'' strings, quoted
 * identifiers, unterminated input.
 */
#include "autoconf.h"

#include <check.h>
#include <string.h>

#include "sqlclass.h"

static int count_tokens(const char *q, enum sqltok_type *last)
{
	struct sqllex lx;
	sqllex_init(&lx, q, strlen(q));
	int n = 0;
	for (;;) {
		struct sqltok t = sqllex_next(&lx);
		*last = t.type;
		if (t.type == TK_EOF || t.type == TK_ERROR)
			return n;
		n++;
	}
}

START_TEST(lexer_basics)
{
	enum sqltok_type last;
	ck_assert_int_eq(count_tokens("select 1", &last), 2);
	ck_assert_int_eq(count_tokens("  -- only a comment\n", &last), 0);
	ck_assert_int_eq(count_tokens("/* a /* nested */ comment */ select", &last), 1);
	ck_assert_int_eq(count_tokens("select 'it''s', E'a\\'b', $$x;y$$, $tag$ $$ $tag$", &last), 8);
	ck_assert_int_eq(count_tokens("select \"we\"\"ird\", U&\"d\\0061\"", &last), 4);
	ck_assert_int_eq(count_tokens("select $1, a$b from t", &last), 6);
	ck_assert_int_eq(count_tokens("select 1;select 2", &last), 5);
	ck_assert_int_eq(last, TK_EOF);
	count_tokens("select 'open", &last);
	ck_assert_int_eq(last, TK_ERROR);
	count_tokens("select /* open", &last);
	ck_assert_int_eq(last, TK_ERROR);
	count_tokens("select $a$ open", &last);
	ck_assert_int_eq(last, TK_ERROR);
	count_tokens("select E'open\\'", &last);
	ck_assert_int_eq(last, TK_ERROR);
}
END_TEST

START_TEST(token_text)
{
	struct sqllex lx;
	const char *q = "SET \"App\".\"Tenant\" = 'it''s'";
	sqllex_init(&lx, q, strlen(q));
	struct sqltok t = sqllex_next(&lx);
	char buf[64];
	ck_assert(tok_is(&t, "set"));
	ck_assert(tok_text(&t, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "set");
	t = sqllex_next(&lx);
	ck_assert_int_eq(t.type, TK_QIDENT);
	ck_assert(tok_text(&t, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "App");
	t = sqllex_next(&lx);
	ck_assert_int_eq(t.type, TK_DOT);
	t = sqllex_next(&lx);
	t = sqllex_next(&lx);
	ck_assert_int_eq(t.type, TK_OP);
	t = sqllex_next(&lx);
	ck_assert_int_eq(t.type, TK_STRING);
	ck_assert(tok_text(&t, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "it's");
}
END_TEST

static bool exit_stmt(const char *q)
{
	return sql_is_txn_exit(q, strlen(q));
}

START_TEST(transaction_exit)
{
	ck_assert(exit_stmt("ROLLBACK"));
	ck_assert(exit_stmt("rollback;"));
	ck_assert(exit_stmt("  /* c */ abort work"));
	ck_assert(exit_stmt("COMMIT TRANSACTION"));
	ck_assert(exit_stmt("end"));
	ck_assert(exit_stmt("rollback and no chain"));
	ck_assert(!exit_stmt("rollback and chain"));
	ck_assert(!exit_stmt("ROLLBACK TO SAVEPOINT a"));
	ck_assert(!exit_stmt("rollback prepared 'x'"));
	ck_assert(!exit_stmt("commit prepared 'x'"));
	ck_assert(!exit_stmt("select 1"));
	ck_assert(!exit_stmt("rollback; select 1"));
	ck_assert(!exit_stmt("\"rollback\""));
	ck_assert(!exit_stmt(""));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("sqlclass");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, lexer_basics);
	tcase_add_test(tc, token_text);
	tcase_add_test(tc, transaction_exit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
