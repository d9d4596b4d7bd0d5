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

static unsigned se(const char *q)
{
	struct sql_session o;
	sql_session_effects(q, strlen(q), "app.current_tenant_id", &o);
	return o.flags;
}

static const char *se_names(const char *q)
{
	static char buf[SQL_SESS_NAMES * SQL_SESS_NAME_LEN];
	struct sql_session o;
	sql_session_effects(q, strlen(q), "app.current_tenant_id", &o);
	buf[0] = '\0';
	for (int i = 0; i < o.n_names; i++) {
		if (i)
			strcat(buf, ",");
		strcat(buf, o.names[i]);
	}
	return buf;
}

START_TEST(session_settings)
{
	ck_assert_uint_eq(se("select 1"), 0);
	ck_assert_uint_eq(se("update t set x = 1"), 0);
	ck_assert_uint_eq(se("set local work_mem = '1MB'"), 0);
	ck_assert_uint_eq(se("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"), 0);
	ck_assert_uint_eq(se("set constraints all deferred"), 0);
	ck_assert_uint_eq(se("set work_mem = '8MB'"), SE_SETTINGS);
	ck_assert_uint_eq(se("SET SESSION search_path TO a, \"B c\""), SE_SETTINGS);
	ck_assert_uint_eq(se("set role r1"), SE_SETTINGS);
	ck_assert_uint_eq(se("set session authorization r1"), SE_SETTINGS);
	ck_assert_uint_eq(se("set session characteristics as transaction read only"), SE_SETTINGS);
	ck_assert_uint_eq(se("set time zone 'UTC'"), SE_SETTINGS);
	ck_assert_uint_eq(se("reset role"), SE_SETTINGS);
	ck_assert_uint_eq(se("reset all"), SE_SETTINGS | SE_RESET_ALL);
	ck_assert_uint_eq(se("discard all"), SE_SETTINGS | SE_DISCARD_ALL | SE_DEALLOCATE);
	ck_assert_uint_eq(se("discard temp"), 0);
	ck_assert_str_eq(se_names("set app.user_id = 7"), "app.user_id");
	ck_assert_str_eq(se_names("SET \"My\".\"Var\" TO x; reset app.other"), "my.var,app.other");
	ck_assert_uint_eq(se("set work_mem = 1; select 2"), SE_SETTINGS | SE_MULTI);
	ck_assert_uint_eq(se("reset work_mem; set role r1"), SE_SETTINGS | SE_MULTI);
	/* the tenant setting is pgtide's own */
	ck_assert_uint_eq(se("set app.current_tenant_id = 't1'"), 0);
	ck_assert_uint_eq(se("select set_config('app.current_tenant_id', 't1', false)"), 0);
	/* set_config: local, named, computed */
	ck_assert_uint_eq(se("select set_config('work_mem', '1MB', true)"), 0);
	ck_assert_uint_eq(se("select set_config('work_mem', '1MB', 'on')"), 0);
	ck_assert_uint_eq(se("select set_config('work_mem', '1MB', false)"), SE_SETTINGS);
	ck_assert_uint_eq(se("select set_config('work_mem', f(1, 2), x)"), SE_SETTINGS);
	ck_assert_str_eq(se_names("select pg_catalog.set_config('App.X', 'v', false)"), "app.x");
	ck_assert_uint_eq(se("select set_config(name, 'v', false) from t"), SE_SETTINGS | SE_UNKNOWN);
	ck_assert_uint_eq(se("select 'set work_mem = 1'"), 0);
	ck_assert_uint_eq(se("select set_config"), 0);
	/* too many names to carry */
	ck_assert(se("set a.a=1;set a.b=1;set a.c=1;set a.d=1;set a.e=1;set a.f=1;set a.g=1;set a.h=1;set a.i=1") & SE_UNKNOWN);
}
END_TEST

START_TEST(session_binding)
{
	ck_assert_uint_eq(se("create temp table t (a int)"), SE_TEMP);
	ck_assert_uint_eq(se("CREATE GLOBAL TEMPORARY TABLE t (a int)"), SE_TEMP);
	ck_assert_uint_eq(se("create temp table t as select * from notes"), SE_TEMP);
	ck_assert_uint_eq(se("create or replace temp view v as select 1"), SE_TEMP);
	ck_assert_uint_eq(se("create temporary sequence s"), SE_TEMP);
	ck_assert_uint_eq(se("create table pg_temp.t (a int)"), SE_TEMP);
	ck_assert_uint_eq(se("create function pg_temp.f() returns int language sql as 'select 1'"), SE_TEMP);
	ck_assert_uint_eq(se("select * into temp t from notes"), SE_TEMP);
	ck_assert_uint_eq(se("select * into temporary table t from notes"), SE_TEMP);
	ck_assert_uint_eq(se("create temp table t (a int) on commit drop"), 0);
	ck_assert_uint_eq(se("create table temp (a int)"), SE_TEMP); /* conservative */
	ck_assert_uint_eq(se("create table t (temp int)"), SE_TEMP); /* conservative */
	ck_assert_uint_eq(se("select temp from t"), 0);
	ck_assert_uint_eq(se("select * from pg_temp.t"), 0);
	ck_assert_uint_eq(se("declare c cursor with hold for select 1"), SE_HOLD_CURSOR);
	ck_assert_uint_eq(se("DECLARE c NO SCROLL CURSOR WITH HOLD FOR select 1"), SE_HOLD_CURSOR);
	ck_assert_uint_eq(se("declare c cursor without hold for select 1"), 0);
	ck_assert_uint_eq(se("select pg_advisory_lock(42)"), SE_ADVISORY);
	ck_assert_uint_eq(se("select pg_try_advisory_lock_shared(1, 2)"), SE_ADVISORY);
	ck_assert_uint_eq(se("select pg_advisory_xact_lock(42)"), 0);
	ck_assert_uint_eq(se("select pg_advisory_unlock(42)"), 0);
	ck_assert_uint_eq(se("listen jobs"), SE_LISTEN);
	ck_assert_uint_eq(se("unlisten *"), SE_LISTEN);
	ck_assert_uint_eq(se("load 'auto_explain'"), SE_LOAD);
	ck_assert_uint_eq(se("explain analyze select pg_advisory_lock(1)"), SE_ADVISORY);
	ck_assert_uint_eq(se("explain (analyze, buffers) create temp table t as select 1"), SE_TEMP);
	/* what DO blocks and their dynamic SQL do */
	ck_assert_uint_eq(se("do $$ begin create temp table t (a int); end $$"), SE_TEMP);
	ck_assert_uint_eq(se("do $$ begin perform pg_advisory_lock(1); end $$"), SE_ADVISORY);
	ck_assert_uint_eq(se("do $$ begin execute 'listen x'; end $$"), SE_LISTEN);
	ck_assert_uint_eq(se("do $$ begin execute 'declare c cursor with hold for select 1'; end $$"), SE_HOLD_CURSOR);
	ck_assert_uint_eq(se("do $$ begin execute 'deallocate all'; end $$"), SE_DEALLOCATE);
	ck_assert_uint_eq(se("do $$ begin execute 'prepare x as select 1'; end $$"), SE_UNKNOWN);
	ck_assert_uint_eq(se("do language plpgsql 'begin if true then set work_mem = 1; end if; end'"), SE_SETTINGS);
	ck_assert_uint_eq(se("do $x$ begin perform set_config('a.b', 'c', false); end $x$"), SE_SETTINGS);
	ck_assert_uint_eq(se("do $$ begin raise notice 'x'; end $$"), 0);
	/* PREPARE / EXECUTE / DEALLOCATE */
	ck_assert_uint_eq(se("prepare p as select 1"), SE_PREPARE_STMT);
	ck_assert_uint_eq(se("select 1; deallocate all"), SE_PREPARE_STMT | SE_DEALLOCATE | SE_MULTI);
	ck_assert_uint_eq(se("select 1; execute p"), SE_PREPARE_STMT | SE_MULTI);
	/* two-phase commit is not a prepared statement */
	ck_assert_uint_eq(se("prepare transaction 'x'"), 0);
	ck_assert_uint_eq(se("begin; PREPARE TRANSACTION 'gid-1'"), SE_MULTI);
	ck_assert_uint_eq(se("prepare transaction as select 1"), SE_PREPARE_STMT); /* a statement named "transaction" */
	ck_assert_uint_eq(se("prepare transaction"), SE_PREPARE_STMT);          /* cut short: the conservative answer */
	/* hostile input: nothing is read past the end, nothing crashes */
	ck_assert_uint_eq(se("create temp table 'unterminated"), SE_TEMP);
	ck_assert_uint_eq(se("do $$ unterminated"), 0);
	ck_assert_uint_eq(se("do 'create temp table x(a int)"), 0);
	ck_assert_uint_eq(se("select set_config('a.b', 'c', (((("), SE_SETTINGS);
	ck_assert_uint_eq(se("do $$ $$"), 0);
	ck_assert_uint_eq(se(""), 0);
	ck_assert_uint_eq(se(";;;"), 0);
	ck_assert_str_eq(sql_session_bind_reason(SE_TEMP | SE_ADVISORY), "a temporary object");
}
END_TEST

START_TEST(listen_statements)
{
	char ch[64];
	ck_assert_int_eq(sql_listen_statement("LISTEN Jobs", 11, ch, sizeof(ch)), 'L');
	ck_assert_str_eq(ch, "jobs");
	ck_assert_int_eq(sql_listen_statement("listen \"Jobs X\";", 16, ch, sizeof(ch)), 'L');
	ck_assert_str_eq(ch, "Jobs X");
	ck_assert_int_eq(sql_listen_statement("unlisten *", 10, ch, sizeof(ch)), 'U');
	ck_assert_str_eq(ch, "*");
	ck_assert_int_eq(sql_listen_statement("unlisten jobs", 13, ch, sizeof(ch)), 'U');
	ck_assert_int_eq(sql_listen_statement("listen a; select 1", 18, ch, sizeof(ch)), 0);
	ck_assert_int_eq(sql_listen_statement("listen 'a'", 10, ch, sizeof(ch)), 0);
	ck_assert_int_eq(sql_listen_statement("listen", 6, ch, sizeof(ch)), 0);
	ck_assert_int_eq(sql_listen_statement("listen abc", 10, ch, 3), 0);
	ck_assert_int_eq(sql_listen_statement("notify jobs", 11, ch, sizeof(ch)), 0);
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
	tcase_add_test(tc, session_settings);
	tcase_add_test(tc, session_binding);
	tcase_add_test(tc, listen_statements);
	suite_add_tcase(s, tc);
	return s;
}
