/*
 * Unit tests for src/prepare.c's decisions, read from the send plans it
 * fills: a client's Parse becomes a Parse of pgtide's own name on the
 * server (a Close in front), and is answered by pgtide on a server that
 * has the statement already, whoever prepared it; a Bind on a server that
 * lacks the statement gets the Parse in front; names are per client (two
 * clients may use one name for different texts); the errors Postgres gives
 * (42P05 a name twice, 26000 an unknown name) and a close for a malformed
 * Bind; Close and DEALLOCATE answered locally while the server's copy
 * stays; SQL PREPARE/EXECUTE/DEALLOCATE; max_prepared_statements evicts
 * the least recently used copy. Clients, servers and the pool are bare
 * structs: no socket, no server.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "pgtide.h"
#include "pktbuf.h"
#include "prepare.h"
#include "proto.h"
#include "sendplan.h"

#include "check_main.h"
#include "check_pool.h"

static struct sendplan plan;

static void setup(void)
{
	check_pool_setup("[databases]\napp = host=x dbname=x\n[pgtide]\nauth_type = trust\npool_mode = transaction\n"
			 "max_prepared_statements = 2\n");
	memset(&plan, 0, sizeof(plan));
}

static void teardown(void)
{
	plan_free(&plan);
	prep_module_free();
	config_free(g.cfg);
	g.cfg = NULL;
}

static struct server *server_new(void)
{
	struct server *s = calloc(1, sizeof(*s));
	s->pool = &pool;
	s->status = 'I';
	s->group_start = true;
	return s;
}

static void server_done(struct server *s)
{
	prep_server_free(s);
	free(s);
}

static struct client *client_on(struct server *s)
{
	struct client *c = calloc(1, sizeof(*c));
	c->db = &db;
	c->pool = &pool;
	c->user = &user;
	c->server = s;
	return c;
}

static void client_done(struct client *c)
{
	prep_client_free(c);
	free(c);
}

static void fresh_plan(void)
{
	plan_reset(&plan);
	plan.queue_empty = true;
}

/* The types of the messages the plan generated, in order ("CP": a Close
 * then a Parse), and whether its bytes hold needle. */
static const char *plan_types(void)
{
	static char t[32];
	size_t n = 0;
	for (size_t at = 0; at + 5 <= plan.bytes.len && n + 1 < sizeof(t);) {
		t[n++] = (char)plan.bytes.buf[at];
		at += 1 + proto_get32(plan.bytes.buf + at + 1);
	}
	t[n] = '\0';
	return t;
}

static bool plan_has(const char *needle)
{
	return memmem(plan.bytes.buf, plan.bytes.len, needle, strlen(needle)) != NULL;
}

static enum verdict parse(struct client *c, const char *name, const char *sql, struct refusal *r)
{
	struct msg_parse mp = { .name = name, .query = sql, .query_len = strlen(sql) };
	fresh_plan();
	memset(r, 0, sizeof(*r));
	return prep_parse(c, &mp, &plan, r);
}

/* A Bind message: portal "", statement name, no parameters, no results. */
static size_t bind_msg(uint8_t *buf, const char *stmt)
{
	size_t n = 0, sl = strlen(stmt);
	buf[n++] = 'B';
	n += 4;
	buf[n++] = 0;
	memcpy(buf + n, stmt, sl + 1);
	n += sl + 1;
	memset(buf + n, 0, 6); /* 0 formats, 0 params, 0 result formats */
	n += 6;
	proto_put32(buf + 1, (uint32_t)(n - 1));
	return n;
}

static enum verdict bind_stmt(struct client *c, const char *stmt, struct refusal *r)
{
	static uint8_t buf[256];
	size_t n = bind_msg(buf, stmt);
	struct pmsg m = { .type = 'B', .len = (uint32_t)n, .body = buf + 5, .body_len = (uint32_t)(n - 5) };
	fresh_plan();
	memset(r, 0, sizeof(*r));
	return prep_bind(c, &m, &plan, r);
}

START_TEST(parse_is_mapped_and_shared)
{
	struct server *s = server_new();
	struct client *a = client_on(s), *b = client_on(s);
	struct refusal r;
	ck_assert_int_eq(parse(a, "s1", "select 1", &r), V_ANSWERED);
	/* a Close of the server name first (a guess may be wrong), then the Parse */
	ck_assert_str_eq(plan_types(), "CP");
	ck_assert(plan_has("pgtide_"));
	ck_assert(plan_has("select 1"));
	ck_assert(!plan_has("s1"));
	ck_assert_uint_eq(prep_client_count(a), 1);
	ck_assert_uint_eq(prep_server_count(s), 1);
	/* another client, another name, the same text: pgtide answers */
	ck_assert_int_eq(parse(b, "other", "select 1", &r), V_ANSWERED);
	ck_assert_str_eq(plan_types(), "");
	ck_assert_uint_eq(prep_server_count(s), 1);
	size_t len;
	const char *q = prep_client_stmt_text(b, "other", &len);
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq((int)len, 8);
	/* names are per client: b's s1 may be another text */
	ck_assert_int_eq(parse(b, "s1", "select 2", &r), V_ANSWERED);
	ck_assert(plan_has("select 2"));
	q = prep_client_stmt_text(a, "s1", &len);
	ck_assert(len == 8 && memcmp(q, "select 1", 8) == 0);
	client_done(a);
	client_done(b);
	server_done(s);
}
END_TEST

START_TEST(errors_as_postgres_gives_them)
{
	struct server *s = server_new();
	struct client *c = client_on(s);
	struct refusal r;
	ck_assert_int_eq(parse(c, "s1", "select 1", &r), V_ANSWERED);
	ck_assert_int_eq(parse(c, "s1", "select 1", &r), V_DENY);
	ck_assert_str_eq(r.sqlstate, "42P05");
	ck_assert(strstr(r.msg, "\"s1\" already exists") != NULL);
	ck_assert_int_eq(bind_stmt(c, "nope", &r), V_DENY);
	ck_assert_str_eq(r.sqlstate, "26000");
	ck_assert(strstr(r.msg, "\"nope\" does not exist") != NULL);
	/* a Bind whose names run past its end closes the client */
	uint8_t bad[] = { 'B', 0, 0, 0, 7, 'x', 'y', 'z' };
	struct pmsg m = { .type = 'B', .len = sizeof(bad), .body = bad + 5, .body_len = 3 };
	fresh_plan();
	ck_assert_int_eq(prep_bind(c, &m, &plan, &r), V_CLOSE);
	ck_assert_str_eq(r.sqlstate, "08P01");
	/* the unnamed statement is not pgtide's business */
	ck_assert_int_eq(bind_stmt(c, "", &r), V_FORWARD);
	client_done(c);
	server_done(s);
}
END_TEST

START_TEST(bind_on_another_server)
{
	struct server *s1 = server_new(), *s2 = server_new();
	struct client *c = client_on(s1);
	struct refusal r;
	ck_assert_int_eq(parse(c, "s1", "select 1", &r), V_ANSWERED);
	ck_assert_int_eq(bind_stmt(c, "s1", &r), V_ANSWERED);
	ck_assert_str_eq(plan_types(), "B"); /* s1 has it: the Bind alone, renamed */
	ck_assert(plan_has("pgtide_"));
	/* the client's next transaction runs on s2, which lacks it */
	c->server = s2;
	ck_assert_int_eq(bind_stmt(c, "s1", &r), V_ANSWERED);
	ck_assert_str_eq(plan_types(), "CPB");
	ck_assert(plan_has("select 1"));
	ck_assert_uint_eq(prep_server_count(s2), 1);
	client_done(c);
	server_done(s1);
	server_done(s2);
}
END_TEST

START_TEST(close_and_deallocate_are_local)
{
	struct server *s = server_new();
	struct client *c = client_on(s);
	struct refusal r;
	ck_assert_int_eq(parse(c, "s1", "select 1", &r), V_ANSWERED);
	uint8_t buf[] = { 'C', 0, 0, 0, 8, 'S', 's', '1', 0 };
	struct pmsg m = { .type = 'C', .len = sizeof(buf), .body = buf + 5, .body_len = 4 };
	fresh_plan();
	ck_assert_int_eq(prep_close(c, &m, &plan, &r), V_ANSWERED);
	ck_assert_str_eq(plan_types(), ""); /* nothing for the server */
	ck_assert_uint_eq(prep_client_count(c), 0);
	ck_assert_uint_eq(prep_server_count(s), 1); /* the copy stays for others */
	/* SQL: PREPARE goes to the server as pgtide's own name, DEALLOCATE is answered */
	enum verdict v;
	fresh_plan();
	ck_assert(prep_query(c, "PREPARE p2 AS select 2", 22, &plan, &v, &r));
	ck_assert_int_eq(v, V_ANSWERED);
	ck_assert(plan_has("PREPARE pgtide_"));
	ck_assert(!plan_has("p2 "));
	ck_assert(prep_query_local("deallocate p2", 13));
	fresh_plan();
	ck_assert(prep_query(c, "deallocate p2", 13, &plan, &v, &r));
	ck_assert_int_eq(v, V_ANSWERED);
	ck_assert_str_eq(plan.reply_tag, "DEALLOCATE");
	ck_assert_uint_eq(prep_client_count(c), 0);
	fresh_plan();
	ck_assert(prep_query(c, "deallocate nope", 15, &plan, &v, &r));
	ck_assert_int_eq(v, V_DENY);
	ck_assert_str_eq(r.sqlstate, "26000");
	/* not one of them: the caller goes on */
	fresh_plan();
	ck_assert(!prep_query(c, "select 'deallocate x'", 21, &plan, &v, &r));
	client_done(c);
	server_done(s);
}
END_TEST

START_TEST(lru_eviction)
{
	struct server *s = server_new();
	struct client *c = client_on(s);
	struct refusal r;
	/* each Parse answered by the server (server.c's hooks), its group over */
	ck_assert_int_eq(parse(c, "a", "select 'a'", &r), V_ANSWERED);
	prep_mapped_done(s, true);
	prep_group_end(s);
	ck_assert_int_eq(parse(c, "b", "select 'b'", &r), V_ANSWERED);
	prep_mapped_done(s, true);
	prep_group_end(s);
	ck_assert_uint_eq(prep_server_count(s), 2);
	/* a third text on a server that holds max_prepared_statements = 2:
	 * the least recently used copy is closed in the same write */
	s->group_start = true;
	prep_new_group(s);
	ck_assert_int_eq(parse(c, "c", "select 'c'", &r), V_ANSWERED);
	ck_assert_uint_eq(prep_server_count(s), 2);
	ck_assert_str_eq(plan_types(), "CCP");
	/* the client keeps every name: "a" is prepared again where needed */
	ck_assert_uint_eq(prep_client_count(c), 3);
	ck_assert_int_eq(bind_stmt(c, "a", &r), V_ANSWERED);
	ck_assert(plan_has("select 'a'"));
	client_done(c);
	server_done(s);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("prepare");
	TCase *tc = tcase_create("mapping");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, parse_is_mapped_and_shared);
	tcase_add_test(tc, errors_as_postgres_gives_them);
	tcase_add_test(tc, bind_on_another_server);
	tcase_add_test(tc, close_and_deallocate_are_local);
	tcase_add_test(tc, lru_eviction);
	suite_add_tcase(s, tc);
	return s;
}
