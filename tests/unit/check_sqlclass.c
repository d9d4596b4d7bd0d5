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

#define SETTING "app.current_tenant_id"

static enum tenant_stmt ts(const char *q, char *val)
{
	return sql_tenant_statement(q, strlen(q), SETTING, val, 64);
}

START_TEST(tenant_statements)
{
	char v[64];
	ck_assert_int_eq(ts("set app.current_tenant_id = 'acme'", v), TS_SET);
	ck_assert_str_eq(v, "acme");
	ck_assert_int_eq(ts("SET SESSION App.Current_Tenant_Id TO acme;", v), TS_SET);
	ck_assert_str_eq(v, "acme");
	ck_assert_int_eq(ts("set \"app\".\"current_tenant_id\" = 'a''b'", v), TS_SET);
	ck_assert_str_eq(v, "a'b");
	ck_assert_int_eq(ts("set app.current_tenant_id to E'x\\'y\\x41'", v), TS_SET);
	ck_assert_str_eq(v, "x'yA");
	ck_assert_int_eq(ts("/* hi */ set app.current_tenant_id = 42", v), TS_SET);
	ck_assert_str_eq(v, "42");
	ck_assert_int_eq(ts("set app.current_tenant_id to default", v), TS_RESET);
	ck_assert_int_eq(ts("reset app.current_tenant_id", v), TS_RESET);
	ck_assert_int_eq(ts("select set_config('app.current_tenant_id', 't9', false)", v), TS_SET_CONFIG);
	ck_assert_str_eq(v, "t9");
	ck_assert_int_eq(ts("SELECT pg_catalog.set_config('APP.current_tenant_id','t9',false);", v), TS_SET_CONFIG);
	ck_assert_int_eq(ts("set app.current_tenant_id = 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'", v),
			 TS_VALUE_TOO_LONG);
	/* not the session-wide whole statement */
	ck_assert_int_eq(ts("set local app.current_tenant_id = 'x'", v), TS_NONE);
	ck_assert_int_eq(ts("select set_config('app.current_tenant_id', 't9', true)", v), TS_NONE);
	ck_assert_int_eq(ts("set app.current_tenant_id = 'a'; select 1", v), TS_NONE);
	ck_assert_int_eq(ts("set app.other = 'a'", v), TS_NONE);
	ck_assert_int_eq(ts("set app.current_tenant_id = 'a', 'b'", v), TS_NONE);
	ck_assert_int_eq(ts("set session authorization bob", v), TS_NONE);
	ck_assert_int_eq(ts("select 1", v), TS_NONE);
	ck_assert_int_eq(ts("set app.current_tenant_id = $$x$$", v), TS_NONE);
	ck_assert_int_eq(ts("set app.current_tenant_id = 'unterminated", v), TS_NONE);
}
END_TEST

static bool wa(const char *q)
{
	return sql_tenant_write_attempt(q, strlen(q), SETTING);
}

START_TEST(tenant_write_attempts)
{
	ck_assert(!wa("select * from items where id = 1"));
	ck_assert(!wa("select current_setting('app.current_tenant_id')"));
	ck_assert(!wa("select pg_catalog.current_setting('app.current_tenant_id', true) as t"));
	ck_assert(!wa("show app.current_tenant_id"));
	ck_assert(!wa("-- set app.current_tenant_id in a comment\nselect 1"));
	ck_assert(!wa("select set_config('statement_timeout', '5s', false)"));
	ck_assert(wa("set app.current_tenant_id = 'x'"));
	ck_assert(wa("SET LOCAL \"app\".\"CURRENT_TENANT_ID\" TO 'x'"));
	ck_assert(wa("reset app.current_tenant_id"));
	ck_assert(wa("select set_config('app.current_tenant_id', 'x', true)"));
	ck_assert(wa("select set_config('app.' || 'current_tenant_id', 'x', true)"));
	ck_assert(wa("select set_config($1, $2, false)"));
	ck_assert(wa("select set_config(E'app\\x2ecurrent_tenant_id', 'x', false)"));
	ck_assert(wa("do $$ begin perform set_config('a', 'b', false); end $$"));
	ck_assert(wa("alter role bob set app.current_tenant_id = 'x'"));
	ck_assert(wa("select 1; set app.current_tenant_id = 'x'"));
	ck_assert(wa("select 'x' where 'current_tenant_id' = 'y'"));
	ck_assert(wa("select 'unterminated current_tenant_id"));
}
END_TEST

static bool own(const char *q)
{
	return sql_needs_own_transaction(q, strlen(q));
}

START_TEST(own_transaction)
{
	ck_assert(own("VACUUM"));
	ck_assert(own("vacuum analyze items"));
	ck_assert(own("create database x"));
	ck_assert(own("DROP DATABASE x"));
	ck_assert(own("create index concurrently i on t(x)"));
	ck_assert(own("create unique index concurrently if not exists i on t(x)"));
	ck_assert(own("drop index concurrently i"));
	ck_assert(own("reindex table concurrently t"));
	ck_assert(own("alter system set work_mem = '1MB'"));
	ck_assert(own("commit prepared 'x'"));
	ck_assert(own("discard all"));
	ck_assert(own("call my_proc()"));
	ck_assert(!own("create index i on t(x)"));
	ck_assert(!own("select 'vacuum'"));
	ck_assert(!own("commit"));
	ck_assert(!own("discard plans"));
	ck_assert(!own("insert into concurrently values (1)"));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("sqlclass");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, lexer_basics);
	tcase_add_test(tc, token_text);
	tcase_add_test(tc, transaction_exit);
	tcase_add_test(tc, tenant_statements);
	tcase_add_test(tc, tenant_write_attempts);
	tcase_add_test(tc, own_transaction);
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
