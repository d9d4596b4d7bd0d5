/*
 * Unit tests: the SQL lexer and classifiers (src/sqlclass.c) with tricky
 * SQL: comments, nested comments, dollar quotes, E'' strings, quoted
 * identifiers, unterminated input.
 */
#include "autoconf.h"

#include <check.h>
#include <string.h>

#include "sqlclass.h"
#include "check_main.h"

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

static enum begin_mode bm(const char *q)
{
	return sql_begin_mode(q, strlen(q));
}

START_TEST(begin_modes)
{
	ck_assert_int_eq(bm("BEGIN"), BM_BEGIN);
	ck_assert_int_eq(bm("begin work;"), BM_BEGIN);
	ck_assert_int_eq(bm("BEGIN READ ONLY"), BM_READ_ONLY);
	ck_assert_int_eq(bm("begin transaction isolation level repeatable read, read only, deferrable"), BM_READ_ONLY);
	ck_assert_int_eq(bm("START TRANSACTION READ ONLY ISOLATION LEVEL SERIALIZABLE"), BM_READ_ONLY);
	ck_assert_int_eq(bm("start transaction not deferrable read only"), BM_READ_ONLY);
	ck_assert_int_eq(bm("BEGIN ISOLATION LEVEL READ COMMITTED"), BM_BEGIN);
	ck_assert_int_eq(bm("BEGIN ISOLATION LEVEL READ UNCOMMITTED READ WRITE"), BM_READ_WRITE);
	ck_assert_int_eq(bm("begin read write"), BM_READ_WRITE);
	ck_assert_int_eq(bm("/* c */ BeGiN rEaD oNlY; select 1"), BM_READ_ONLY);
	ck_assert_int_eq(bm("begin read only, read write"), BM_READ_WRITE);
	ck_assert_int_eq(bm("START something"), BM_NOT_BEGIN);
	ck_assert_int_eq(bm("select 'begin read only'"), BM_NOT_BEGIN);
	ck_assert_int_eq(bm("begin isolation"), BM_NOT_BEGIN);
	ck_assert_int_eq(bm("begin read"), BM_NOT_BEGIN);
}
END_TEST

static bool rd(const char *q)
{
	return sql_is_read(q, strlen(q));
}

START_TEST(single_statement)
{
	ck_assert(sql_single_statement("begin read only", 15));
	ck_assert(sql_single_statement("BEGIN;", 6));
	ck_assert(sql_single_statement("begin ; ;  -- done", 18));
	ck_assert(sql_single_statement("select ';' /* ; */", 18));
	ck_assert(!sql_single_statement("begin; select 1", 15));
	ck_assert(!sql_single_statement("", 0));
	ck_assert(!sql_single_statement(";", 1));
	ck_assert(!sql_single_statement("select 'x", 9));
}
END_TEST

START_TEST(read_classifier)
{
	ck_assert(rd("select 1"));
	ck_assert(rd("SELECT * FROM t WHERE id = $1;"));
	ck_assert(rd("with x as (select 1) select * from x"));
	ck_assert(rd("table accounts"));
	ck_assert(rd("values (1), (2)"));
	ck_assert(rd("show search_path"));
	ck_assert(rd("(select 1) union (select 2)"));
	ck_assert(rd("select 'insert into t' as s, \"update\" from t -- delete"));
	ck_assert(rd("select $$ for update $$"));
	ck_assert(rd("select * from orders order by id for update_later"));
	/* quoting: keywords inside strings, identifiers, comments */
	ck_assert(rd("select E'it\\'s for update; delete' from t"));
	ck_assert(rd("select $tag$ ; delete from t $tag$, $$x$$"));
	ck_assert(rd("select \"for\", \"into\" from \"update\""));
	ck_assert(rd("/* nested /* for update */ still comment */ select 1"));
	ck_assert(rd("select 1 -- ; delete from t\n"));
	ck_assert(rd("select for_update, into_x from t"));
	ck_assert(rd("select U&'d\\0061t' into_col from t"));
	ck_assert(rd("  \n\t/* lead */ -- c\n  with recursive r(n) as (values (1) union all select n + 1 from r where n < 3) select * from r"));
	ck_assert(!rd("select * from t for\n\tupdate"));
	ck_assert(!rd("select * from t /* c */ for /* c */ share"));
	ck_assert(!rd("select $$a$$ into t2"));
	ck_assert(!rd("select E'x\\'' into t2"));
	ck_assert(!rd("with x as (select 1), y as (insert into t values (1) returning 1) select 1"));
	ck_assert(!rd("select $a$ unterminated"));
	ck_assert(!rd("/* unterminated select 1"));
	ck_assert(!rd(""));
	ck_assert(!rd("-- only a comment"));
	ck_assert(!rd("select * from t for update"));
	ck_assert(!rd("select * from t for no key update"));
	ck_assert(!rd("select * from t FOR SHARE"));
	ck_assert(!rd("select * from t for key share skip locked"));
	ck_assert(!rd("select * into new_t from t"));
	ck_assert(!rd("with d as (delete from t returning *) select * from d"));
	ck_assert(!rd("with u as (update t set x = 1 returning x) select 1"));
	ck_assert(!rd("select nextval('s')"));
	ck_assert(!rd("select currval('s')"));
	ck_assert(!rd("select pg_advisory_lock(1)"));
	ck_assert(!rd("select 1; select 2"));
	ck_assert(!rd("select 1; delete from t"));
	ck_assert(!rd("insert into t values (1)"));
	ck_assert(!rd("explain select 1"));
	ck_assert(!rd("copy (select 1) to stdout"));
	ck_assert(!rd("select 'unterminated"));
	ck_assert(!rd("selectx 1"));
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
	tcase_add_test(tc, begin_modes);
	tcase_add_test(tc, read_classifier);
	tcase_add_test(tc, single_statement);
	suite_add_tcase(s, tc);
	return s;
}
