/*
 * Unit tests for src/route.c, read routing: who the primary of a host list
 * is as checks come in (never two), when a replica is healthy or lagging
 * (compared with the primary's sample taken before its own), and where a
 * transaction runs (route_pick's verdict) for reads, writes, explicit
 * read-only transactions, hostile SQL that hides a write, replicas going
 * down, replica_fallback. The database, pool and clients are bare structs:
 * no socket, no server.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "pgtide.h"
#include "proto.h"
#include "route.h"
#include "ryw.h"
#include "tenant.h"

#include "check_load.h"
#include "check_main.h"

static struct database db;
static struct pool home;
static struct user user;

static void gone_nothing(struct database *d, struct route_target *t)
{
	(void)d;
	(void)t;
}

static void setup_with(const char *line, const char *extra)
{
	char ini[512];
	snprintf(ini, sizeof(ini), "[databases]\napp = %s\n[pgtide]\nauth_type = trust\n%s", line, extra ? extra : "");
	check_load_config(ini);
	tenant_module_init();
	memset(&db, 0, sizeof(db));
	db.name = (char *)"app";
	db.cfg = (struct db_config *)config_find_db(g.cfg, "app");
	ck_assert_ptr_nonnull(db.cfg);
	memset(&user, 0, sizeof(user));
	user.pool_mode = -1;
	memset(&home, 0, sizeof(home));
	home.db = &db;
	home.user = &user;
	route_db_update(&db, gone_nothing);
}

static void teardown(void)
{
	route_db_free(&db, gone_nothing);
	ryw_db_free(&db);
	tenant_module_free();
	config_free(g.cfg);
	g.cfg = NULL;
}

static struct route_target *host(int i)
{
	ck_assert_ptr_nonnull(db.route);
	ck_assert_int_lt(i, db.route->n);
	return db.route->t[i];
}

static struct client *client_new(void)
{
	struct client *c = calloc(1, sizeof(*c));
	list_init(&c->ryw.node);
	c->db = &db;
	c->pool = &home;
	c->user = &user;
	return c;
}

static void client_done(struct client *c)
{
	ryw_forget(c);
	free(c);
}

/* route_pick for a simple Query */
static enum route_where pick(struct client *c, const char *sql, struct route_target **t)
{
	struct pmsg m = { .type = FE_QUERY };
	const char *err;
	return route_pick(c, &m, sql, strlen(sql), t, &err);
}

/* ---- who is the primary of a host list ---- */

static void setup_list(void)
{
	setup_with("host=a,b,c dbname=x", NULL);
}

START_TEST(elect_one_primary)
{
	ck_assert_int_eq(db.route->n, 3);
	ck_assert_ptr_null(route_write_target(&db)); /* nothing known before a check */
	ck_assert(!route_has_primary(&db));
	ck_assert(route_check_succeeded(host(1), false, 100, 1)); /* b: not in recovery */
	ck_assert_ptr_eq(route_write_target(&db), host(1));
	ck_assert(!route_check_succeeded(host(0), true, 90, 2)); /* a: a replica */
	ck_assert(!route_check_failed(host(2), "connection refused", USEC)); /* c: down */
	ck_assert_ptr_eq(route_write_target(&db), host(1));
	ck_assert(route_readable(host(0)));
	ck_assert(!route_readable(host(1))); /* the primary takes no reads */
	ck_assert(!route_readable(host(2)));
	/* the primary's checks fail (a restart): it stays while no one else
	 * claims the role */
	ck_assert(!route_check_failed(host(1), "timeout", USEC));
	ck_assert_ptr_eq(route_write_target(&db), host(1));
	/* ... and goes once a good check shows it in recovery (demoted) */
	ck_assert(route_check_succeeded(host(1), true, 100, 3));
	ck_assert_ptr_null(route_write_target(&db));
	/* a promoted replica is the primary */
	ck_assert(route_check_succeeded(host(0), false, 120, 4));
	ck_assert_ptr_eq(route_write_target(&db), host(0));
}
END_TEST

START_TEST(elect_never_two)
{
	route_check_succeeded(host(0), false, 100, 1);
	ck_assert_ptr_eq(route_write_target(&db), host(0));
	/* a second host claims the role (split brain): writes go nowhere */
	ck_assert(route_check_succeeded(host(2), false, 100, 2));
	ck_assert_ptr_null(route_write_target(&db));
	ck_assert(db.route->split);
	/* until only one claims it again */
	ck_assert(route_check_succeeded(host(0), true, 100, 3));
	ck_assert_ptr_eq(route_write_target(&db), host(2));
	ck_assert(!db.route->split);
	/* a server of the primary that failed does not demote it: no other
	 * host claims the role, and writes have nowhere else to go */
	ck_assert(!route_target_down(host(2), "server login failed"));
	ck_assert_ptr_eq(route_write_target(&db), host(2));
	ck_assert_int_eq(host(2)->state, TS_DOWN);
}
END_TEST

/* ---- a replica's lag ---- */

static void setup_replicas(void)
{
	setup_with("host=p dbname=x replicas=r1:5432,r2:5432 read_routing=auto", "replica_max_lag = 1000\n");
}

START_TEST(lag_against_the_earlier_sample)
{
	struct route_target *p = host(0), *r1 = host(1);
	ck_assert_ptr_eq(route_write_target(&db), p);
	route_check_succeeded(p, false, 10000, 1);
	route_check_succeeded(r1, true, 9500, 2);
	ck_assert_int_eq(r1->state, TS_HEALTHY);
	ck_assert_int_eq(r1->lag, 500);
	/* the primary writes 5000 bytes: measured at the replica's next check */
	route_check_succeeded(p, false, 15000, 3);
	route_check_succeeded(r1, true, 9600, 4);
	ck_assert_int_eq(r1->state, TS_LAGGING);
	ck_assert_int_eq(r1->lag, 5400);
	ck_assert(!route_readable(r1));
	/* caught up */
	route_check_succeeded(r1, true, 15000, 5);
	ck_assert_int_eq(r1->state, TS_HEALTHY);
	/* a replica that is not in recovery is no replica */
	route_check_succeeded(r1, false, 15000, 6);
	ck_assert_int_eq(r1->state, TS_NOT_IN_RECOVERY);
	ck_assert(!route_readable(r1));
	/* nor one that is down */
	route_check_failed(r1, "gone", USEC);
	ck_assert_int_eq(r1->state, TS_DOWN);
}
END_TEST

START_TEST(healthy_at_the_first_answer)
{
	struct route_target *p = host(0), *r1 = host(1), *r2 = host(2);
	/* the first checks answer together; the replicas' answers come first,
	 * the primary's (a later sample) after them */
	route_check_succeeded(r1, true, 9900, 1);
	route_check_succeeded(r2, true, 5000, 2);
	ck_assert_int_eq(r1->state, TS_UNKNOWN); /* nothing to compare with yet */
	route_check_succeeded(p, false, 10000, 3);
	/* measured against a later primary position the lag can only be
	 * overstated: 100 bytes is healthy at once, not a period later */
	ck_assert_int_eq(r1->state, TS_HEALTHY);
	ck_assert(route_readable(r1));
	/* 5000 may be lag or only the writes between the samples: unknown,
	 * judged at its next check, never called lagging on that evidence */
	ck_assert_int_eq(r2->state, TS_UNKNOWN);
	ck_assert(!route_readable(r2));
	route_check_succeeded(r2, true, 10000, 4);
	ck_assert_int_eq(r2->state, TS_HEALTHY);
}
END_TEST

/* Both replicas healthy. */
static void replicas_up(void)
{
	route_check_succeeded(host(0), false, 1000, 1);
	route_check_succeeded(host(1), true, 1000, 2);
	route_check_succeeded(host(2), true, 1000, 3);
	ck_assert(route_readable(host(1)) && route_readable(host(2)));
}

START_TEST(pick_reads_and_writes)
{
	replicas_up();
	struct client *c = client_new();
	struct route_target *t, *first;
	ck_assert_int_eq(pick(c, "select 1", &first), ROUTE_REPLICA);
	ck_assert_int_eq(pick(c, "SELECT * FROM t", &t), ROUTE_REPLICA);
	ck_assert_ptr_ne(t, first); /* round-robin */
	ck_assert_int_eq(pick(c, "select 1", &t), ROUTE_REPLICA);
	ck_assert_ptr_eq(t, first);
	ck_assert_int_eq(pick(c, "begin read only", &t), ROUTE_REPLICA);
	ck_assert_int_eq(pick(c, "START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", &t), ROUTE_REPLICA);
	/* writes, and what may write */
	const char *home_sql[] = {
		"insert into t values (1)",
		"update t set a = 1",
		"begin",
		"begin read write",
		"select nextval('s')",
		"with d as (delete from t returning *) select * from d",
		"select 1; delete from t",
		"/* select */ delete from t",
		"select * from t for update",
		"create table x (a int)",
		"copy t from stdin",
		"lock table t",
		"",
	};
	for (size_t i = 0; i < sizeof(home_sql) / sizeof(home_sql[0]); i++) {
		ck_assert_msg(pick(c, home_sql[i], &t) == ROUTE_HOME, "[%s] went to a replica", home_sql[i]);
		ck_assert_ptr_null(t);
	}
	client_done(c);
}
END_TEST

START_TEST(pick_when_replicas_are_down)
{
	replicas_up();
	struct client *c = client_new();
	struct route_target *t;
	route_target_down(host(1), "server died");
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pick(c, "select 1", &t), ROUTE_REPLICA);
		ck_assert_ptr_eq(t, host(2)); /* only the one left */
	}
	route_check_failed(host(2), "gone", USEC);
	ck_assert_int_eq(pick(c, "select 1", &t), ROUTE_HOME); /* replica_fallback = primary */
	ck_assert_ptr_null(t);
	client_done(c);
}
END_TEST

static void setup_fallback_error(void)
{
	setup_with("host=p dbname=x replicas=r1:5432 read_routing=auto", "replica_fallback = error\n");
}

START_TEST(pick_fallback_error)
{
	route_check_succeeded(host(0), false, 1000, 1);
	struct client *c = client_new();
	struct route_target *t;
	struct pmsg m = { .type = FE_QUERY };
	const char *err = NULL;
	ck_assert_int_eq(route_pick(c, &m, "select 1", 8, &t, &err), ROUTE_NONE);
	ck_assert_ptr_nonnull(err);
	ck_assert(strstr(err, "replica_fallback") != NULL);
	/* a write is never refused for want of a replica */
	ck_assert_int_eq(route_pick(c, &m, "insert into t values (1)", 24, &t, &err), ROUTE_HOME);
	client_done(c);
}
END_TEST

static void setup_explicit(void)
{
	setup_with("host=p dbname=x replicas=r1:5432,r2:5432 read_routing=explicit", NULL);
}

START_TEST(pick_explicit)
{
	replicas_up();
	struct client *c = client_new();
	struct route_target *t;
	/* explicit: only a transaction that says it reads goes to a replica */
	ck_assert_int_eq(pick(c, "select 1", &t), ROUTE_HOME);
	ck_assert_int_eq(pick(c, "begin transaction read only", &t), ROUTE_REPLICA);
	ck_assert_int_eq(pick(c, "begin", &t), ROUTE_HOME);
	/* a session pool never moves: its session is on one server */
	user.pool_mode = POOL_SESSION;
	ck_assert_int_eq(pick(c, "begin read only", &t), ROUTE_HOME);
	client_done(c);
}
END_TEST

static void setup_off(void)
{
	setup_with("host=p dbname=x replicas=r1:5432 read_routing=off", NULL);
}

START_TEST(pick_off)
{
	route_check_succeeded(host(0), false, 1000, 1);
	route_check_succeeded(host(1), true, 1000, 2);
	struct client *c = client_new();
	struct route_target *t;
	ck_assert_int_eq(pick(c, "begin read only", &t), ROUTE_HOME);
	ck_assert_int_eq(pick(c, "select 1", &t), ROUTE_HOME);
	client_done(c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("route");
	TCase *tc = tcase_create("elect");
	tcase_add_checked_fixture(tc, setup_list, teardown);
	tcase_add_test(tc, elect_one_primary);
	tcase_add_test(tc, elect_never_two);
	suite_add_tcase(s, tc);
	tc = tcase_create("replicas");
	tcase_add_checked_fixture(tc, setup_replicas, teardown);
	tcase_add_test(tc, lag_against_the_earlier_sample);
	tcase_add_test(tc, healthy_at_the_first_answer);
	tcase_add_test(tc, pick_reads_and_writes);
	tcase_add_test(tc, pick_when_replicas_are_down);
	suite_add_tcase(s, tc);
	tc = tcase_create("fallback");
	tcase_add_checked_fixture(tc, setup_fallback_error, teardown);
	tcase_add_test(tc, pick_fallback_error);
	suite_add_tcase(s, tc);
	tc = tcase_create("explicit");
	tcase_add_checked_fixture(tc, setup_explicit, teardown);
	tcase_add_test(tc, pick_explicit);
	suite_add_tcase(s, tc);
	tc = tcase_create("off");
	tcase_add_checked_fixture(tc, setup_off, teardown);
	tcase_add_test(tc, pick_off);
	suite_add_tcase(s, tc);
	return s;
}
