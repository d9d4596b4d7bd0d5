/*
 * Unit tests for src/session.c's decisions: which statements bind a server
 * to its client (temporary objects, WITH HOLD cursors, session advisory
 * locks, LOAD), which are refused and with what SQLSTATE (a binding
 * statement routed to a replica, max_bound_servers reached, PREPARE inside
 * a multi-statement query), what a client that leaves does to its server
 * (DISCARD ALL, or a close after LOAD), and when tenant_switch_reset
 * resets a server between tenants. SQL that only looks like a binding
 * statement (in a string, a comment) binds nothing. The pool, clients and
 * servers are bare structs: no socket, no server.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "pgtide.h"
#include "params.h"
#include "session.h"
#include "sqlclass.h"
#include "tenant.h"

#include "check_main.h"
#include "check_pool.h"

static struct user bound_user;

static void setup_with(const char *extra)
{
	char ini[512];
	snprintf(ini, sizeof(ini),
		 "[databases]\napp = host=x dbname=x pool_size=4\n[pgtide]\nauth_type = trust\npool_mode = transaction\n"
		 "max_bound_servers = 1\n%s",
		 extra ? extra : "");
	check_pool_setup(ini);
	static bool params_ready;
	if (!params_ready)
		params_init();
	params_ready = true;
	tenant_module_init();
	session_module_init();
	bound_user = user;
	bound_user.name = (char *)"acme_app";
	bound_user.tenant = istr_get("acme");
}

static void setup(void)
{
	setup_with(NULL);
}

static void teardown(void)
{
	istr_unref(bound_user.tenant);
	session_module_free();
	tenant_module_free();
	config_free(g.cfg);
	g.cfg = NULL;
}

static struct client *client_new(struct user *u, const char *tenant)
{
	struct client *c = calloc(1, sizeof(*c));
	c->db = &db;
	c->pool = &pool;
	c->user = u;
	c->tenant = tenant ? tenant_get(tenant) : NULL;
	c->sess = sset_empty();
	return c;
}

static void client_done(struct client *c)
{
	session_client_free(c);
	if (c->tenant)
		tenant_unref(c->tenant);
	free(c);
}

static struct server *server_new(void)
{
	struct server *s = calloc(1, sizeof(*s));
	s->pool = &pool;
	s->ses.sess = sset_empty();
	return s;
}

static void server_done(struct server *s)
{
	session_server_free(s);
	free(s);
}

static enum sess_verdict check(struct client *c, struct server *s, const char *sql, char *state, char *msg,
			       size_t msglen)
{
	struct sql_session se;
	sql_session_effects(sql, strlen(sql), "app.current_tenant_id", &se);
	state[0] = '\0';
	msg[0] = '\0';
	return session_check(c, s, &se, state, msg, msglen);
}

START_TEST(binding_statements)
{
	struct client *c = client_new(&user, NULL);
	char st[6], msg[512];
	const char *forward[] = {
		"select 1",
		"insert into t values (1)",
		"select 'create temp table x (a int)'",
		"/* create temp table x (a int) */ select 1",
		"-- declare c cursor with hold for select 1\nselect 1",
		"declare c cursor for select 1", /* without hold: ends with its transaction */
		"select pg_advisory_xact_lock(1)",  /* transaction-level */
		"set search_path = a",              /* a setting: follows the client */
	};
	for (size_t i = 0; i < sizeof(forward) / sizeof(forward[0]); i++)
		ck_assert_msg(check(c, NULL, forward[i], st, msg, sizeof(msg)) == SESS_FORWARD, "[%s]: %s", forward[i],
			      msg);
	const char *bind[] = {
		"create temp table x (a int)",
		"CREATE TEMPORARY TABLE x (a int)",
		"create temporary view v as select 1",
		"declare c cursor with hold for select 1",
		"select pg_advisory_lock(1)",
		"select 1; create temp table x (a int)",
		"load 'auto_explain'",
	};
	for (size_t i = 0; i < sizeof(bind) / sizeof(bind[0]); i++)
		ck_assert_msg(check(c, NULL, bind[i], st, msg, sizeof(msg)) == SESS_BIND, "[%s] does not bind", bind[i]);
	client_done(c);
}
END_TEST

START_TEST(refusals)
{
	struct client *c = client_new(&user, NULL);
	char st[6], msg[512];
	/* PREPARE among other statements: pgtide maps names per client */
	ck_assert_int_eq(check(c, NULL, "prepare p as select 1; select 1", st, msg, sizeof(msg)), SESS_DENY);
	ck_assert_str_eq(st, "0A000");
	ck_assert(strstr(msg, "max_prepared_statements") != NULL);
	/* on its own it is mapped: no binding */
	ck_assert_int_eq(check(c, NULL, "prepare p as select 1", st, msg, sizeof(msg)), SESS_FORWARD);
	/* a binding statement in a transaction routed to a replica */
	struct route_target *fake = (struct route_target *)&db;
	struct pool replica = pool;
	replica.target = fake;
	struct server *rs = server_new();
	rs->pool = &replica;
	ck_assert_int_eq(check(c, rs, "create temp table x (a int)", st, msg, sizeof(msg)), SESS_DENY);
	ck_assert_str_eq(st, "0A000");
	ck_assert(strstr(msg, "read_routing") != NULL);
	rs->pool = &pool;
	server_done(rs);
	/* max_bound_servers reached: 53400, naming the setting and the pool */
	struct server *s = server_new();
	ck_assert_int_eq(check(c, s, "create temp table x (a int)", st, msg, sizeof(msg)), SESS_BIND);
	session_bind(c, s, SE_TEMP);
	ck_assert_int_eq(pool.n_bound, 1);
	ck_assert(session_holds_server(c));
	ck_assert_str_eq(session_bound_reason(c), sql_session_bind_reason(SE_TEMP));
	struct client *d = client_new(&user, NULL);
	ck_assert_int_eq(check(d, NULL, "declare c cursor with hold for select 1", st, msg, sizeof(msg)), SESS_DENY);
	ck_assert_str_eq(st, "53400");
	ck_assert(strstr(msg, "max_bound_servers = 1") != NULL);
	ck_assert(strstr(msg, "\"app/alice\"") != NULL);
	/* a client already bound binds nothing more */
	ck_assert_int_eq(check(c, s, "select pg_advisory_lock(2)", st, msg, sizeof(msg)), SESS_FORWARD);
	/* it leaves: its server is reset, the pool has room again */
	ck_assert_int_eq(session_release_reset(s, c), SR_DISCARD);
	ck_assert_int_eq(pool.n_bound, 1); /* asking changes nothing */
	session_on_release(s, c);
	ck_assert_int_eq(pool.n_bound, 0);
	ck_assert(!session_holds_server(c));
	ck_assert_int_eq(check(d, NULL, "declare c cursor with hold for select 1", st, msg, sizeof(msg)), SESS_BIND);
	client_done(d);
	client_done(c);
	server_done(s);
}
END_TEST

START_TEST(load_closes)
{
	struct client *c = client_new(&user, NULL);
	struct server *s = server_new();
	session_bind(c, s, SE_LOAD);
	/* nothing takes a loaded library out of a session */
	ck_assert_int_eq(session_release_reset(s, c), SR_CLOSE);
	session_on_release(s, c);
	client_done(c);
	server_done(s);
}
END_TEST

START_TEST(session_mode_forwards_everything)
{
	user.pool_mode = POOL_SESSION;
	struct client *c = client_new(&user, NULL);
	char st[6], msg[512];
	ck_assert_int_eq(check(c, NULL, "create temp table x (a int)", st, msg, sizeof(msg)), SESS_FORWARD);
	ck_assert_int_eq(check(c, NULL, "prepare p as select 1; select 1", st, msg, sizeof(msg)), SESS_FORWARD);
	ck_assert(session_holds_server(c));
	client_done(c);
}
END_TEST

/* tenant_switch_reset: a server used by one tenant, then wanted by another */
static bool reset_between(const char *t1, struct user *u1, const char *t2, struct user *u2)
{
	struct client *a = client_new(u1, t1), *b = client_new(u2, t2);
	struct server *s = server_new();
	ck_assert(!session_needs_reset(s, a)); /* a fresh server */
	session_linked(s, a);
	bool r = session_needs_reset(s, b);
	ck_assert(!session_needs_reset(s, a)); /* the same tenant again: never */
	server_done(s);
	client_done(a);
	client_done(b);
	return r;
}

START_TEST(tenant_switch_bound)
{
	/* the default, bound: a reset when a bound user is on either side */
	ck_assert(!reset_between("t1", &user, "t2", &user));
	ck_assert(reset_between("acme", &bound_user, "t2", &user));
	ck_assert(reset_between("t1", &user, "acme", &bound_user));
	ck_assert(reset_between(NULL, &user, "acme", &bound_user));
}
END_TEST

static void setup_always(void)
{
	setup_with("tenant_switch_reset = always\n");
}

START_TEST(tenant_switch_always)
{
	ck_assert(reset_between("t1", &user, "t2", &user));
	ck_assert(reset_between("t1", &user, NULL, &user));
}
END_TEST

static void setup_off(void)
{
	setup_with("tenant_switch_reset = off\n");
}

START_TEST(tenant_switch_off)
{
	ck_assert(!reset_between("acme", &bound_user, "t2", &user));
	/* but a server marked for a reset is reset whatever the setting */
	struct client *c = client_new(&user, NULL);
	struct server *s = server_new();
	s->ses.reset = SR_DISCARD;
	ck_assert(session_needs_reset(s, c));
	server_done(s);
	client_done(c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("session");
	TCase *tc = tcase_create("check");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, binding_statements);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, load_closes);
	tcase_add_test(tc, session_mode_forwards_everything);
	tcase_add_test(tc, tenant_switch_bound);
	suite_add_tcase(s, tc);
	tc = tcase_create("always");
	tcase_add_checked_fixture(tc, setup_always, teardown);
	tcase_add_test(tc, tenant_switch_always);
	suite_add_tcase(s, tc);
	tc = tcase_create("off");
	tcase_add_checked_fixture(tc, setup_off, teardown);
	tcase_add_test(tc, tenant_switch_off);
	suite_add_tcase(s, tc);
	return s;
}
