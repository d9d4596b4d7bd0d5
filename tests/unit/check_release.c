/*
 * Unit tests for src/release.c: what happens to a server when its client's
 * transaction ends, for every verdict release.h names. At the client's
 * ReadyForQuery: an open transaction keeps it, statement mode closes it,
 * a session or a bound client keeps it, questions (session settings, a
 * commit's position) come first, a server that closes anyway asks
 * nothing. At the release: a half-forwarded message holds it, any
 * protocol state but clean closes it as a bug (and says which), then in
 * order a close that was due, LOAD, server_lifetime, session mode's reset,
 * a cancel in flight, a reset for state left, and only then the pool.
 * The decision writes nothing: asking twice gives the same answer.
 * Clients and servers are bare structs: no socket, no server.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "params.h"
#include "pgtide.h"
#include "release.h"
#include "session.h"
#include "sqlclass.h"
#include "tenant.h"

#include "check_main.h"
#include "check_pool.h"

static void setup_with(const char *extra)
{
	char ini[512];
	snprintf(ini, sizeof(ini),
		 "[databases]\napp = host=x dbname=x pool_size=4\n[pgtide]\nauth_type = trust\npool_mode = transaction\n%s",
		 extra ? extra : "");
	check_pool_setup(ini);
	static bool params_ready;
	if (!params_ready)
		params_init();
	params_ready = true;
	tenant_module_init();
	session_module_init();
}

static void setup(void)
{
	setup_with(NULL);
}

static void teardown(void)
{
	session_module_free();
	tenant_module_free();
	config_free(g.cfg);
	g.cfg = NULL;
}

static struct client *client_new(void)
{
	struct client *c = calloc(1, sizeof(*c));
	c->db = &db;
	c->pool = &pool;
	c->user = &user;
	c->sess = sset_empty();
	return c;
}

static void client_done(struct client *c)
{
	session_client_free(c);
	free(c);
}

/* A server linked to c, idle after a clean transaction. */
static struct server *server_new(struct client *c)
{
	struct server *s = calloc(1, sizeof(*s));
	s->pool = &pool;
	s->client = c;
	s->status = 'I';
	s->connect_time = now_usec();
	s->ses.sess = sset_empty();
	if (c)
		c->server = s;
	return s;
}

static void server_done(struct server *s)
{
	session_server_free(s);
	free(s);
}

/* c's transaction on s ran sql (what session.c notes as it is sent). */
static void ran(struct client *c, struct server *s, const char *sql)
{
	struct sql_session se;
	sql_session_effects(sql, strlen(sql), "app.current_tenant_id", &se);
	session_note_sent(c, s, &se);
}

static struct release_verdict decide(const struct server *s, const struct client *c, enum release_moment when)
{
	struct release_verdict v, again;
	release_decide(s, c, when, &v);
	/* it writes nothing: the same question, the same answer */
	release_decide(s, c, when, &again);
	ck_assert_int_eq(v.what, again.what);
	ck_assert_str_eq(v.why, again.why);
	return v;
}

START_TEST(ready_transaction_mode)
{
	struct client *c = client_new();
	struct server *s = server_new(c);
	struct release_verdict v = decide(s, c, RM_READY);
	ck_assert_int_eq(v.what, RV_HOLD); /* over: released once the client has its replies */
	s->status = 'T';
	ck_assert_int_eq(decide(s, c, RM_READY).what, RV_KEEP); /* a transaction is open */
	s->status = 'E';
	ck_assert_int_eq(decide(s, c, RM_READY).what, RV_KEEP); /* ... failed, until its ROLLBACK */
	server_done(s);
	client_done(c);
}
END_TEST

START_TEST(ready_statement_mode_closes_a_transaction)
{
	user.pool_mode = POOL_STATEMENT;
	struct client *c = client_new();
	struct server *s = server_new(c);
	ck_assert_int_eq(decide(s, c, RM_READY).what, RV_HOLD);
	s->status = 'T';
	struct release_verdict v = decide(s, c, RM_READY);
	ck_assert_int_eq(v.what, RV_CLOSE);
	ck_assert_int_eq(v.reason, CR_SESSION_STATE);
	ck_assert_str_eq(v.client_msg, "transaction blocks not allowed in statement pool mode");
	server_done(s);
	client_done(c);
}
END_TEST

START_TEST(ready_session_keeps)
{
	user.pool_mode = POOL_SESSION;
	struct client *c = client_new();
	struct server *s = server_new(c);
	c->ryw.write = true; /* session mode asks no position */
	ck_assert_int_eq(decide(s, c, RM_READY).what, RV_KEEP);
	server_done(s);
	client_done(c);
}
END_TEST

START_TEST(ready_asks_first)
{
	struct client *c = client_new();
	struct server *s = server_new(c);
	/* a SET in a transaction-mode transaction: its settings are asked for
	 * before the server goes */
	ran(c, s, "set work_mem = '64MB'");
	struct release_verdict v = decide(s, c, RM_READY);
	ck_assert_int_eq(v.what, RV_ASK);
	ck_assert(v.capture && !v.position);
	ck_assert_int_eq(v.otherwise, RV_HOLD);
	/* ... and the commit's position, when the transaction may have written */
	c->ryw.write = true;
	v = decide(s, c, RM_READY);
	ck_assert(v.capture && v.position);
	/* a server that closes at its release asks nothing */
	s->close_reason = CR_RECONNECT;
	s->close_why = "RECONNECT";
	v = decide(s, c, RM_READY);
	ck_assert_int_eq(v.what, RV_HOLD);
	ck_assert(!v.capture && !v.position);
	server_done(s);
	client_done(c);
}
END_TEST

START_TEST(ready_bound_client_asks_position_and_keeps)
{
	struct client *c = client_new();
	struct server *s = server_new(c);
	c->bound_flags = SE_TEMP; /* a temporary table: the server is the client's */
	ck_assert_int_eq(decide(s, c, RM_READY).what, RV_KEEP);
	c->ryw.write = true;
	struct release_verdict v = decide(s, c, RM_READY);
	ck_assert_int_eq(v.what, RV_ASK);
	ck_assert(v.position && !v.capture);
	ck_assert_int_eq(v.otherwise, RV_KEEP); /* nothing asked: it stays the client's */
	s->status = 'T';
	ck_assert_int_eq(decide(s, c, RM_READY).what, RV_KEEP); /* asked at the transaction's end */
	c->bound_flags = 0;
	server_done(s);
	client_done(c);
}
END_TEST

START_TEST(release_clean_goes_to_the_pool)
{
	struct client *c = client_new();
	struct server *s = server_new(c);
	struct release_verdict v = decide(s, c, RM_RELEASE);
	ck_assert_int_eq(v.what, RV_READY);
	ck_assert(!v.discard);
	ck_assert_int_eq(decide(s, NULL, RM_RELEASE).what, RV_READY); /* its client left */
	server_done(s);
	client_done(c);
}
END_TEST

/* Every way of not being clean is a bug pgtide closes, saying which. */
START_TEST(release_unclean_closes)
{
	struct client *c = client_new();
	struct server *s = server_new(c);
	s->status = 'T';
	struct release_verdict v = decide(s, c, RM_RELEASE);
	ck_assert_int_eq(v.what, RV_CLOSE);
	ck_assert_int_eq(v.reason, CR_UNCLEAN);
	ck_assert_ptr_nonnull(strstr(v.why, "status T"));
	s->status = 'I';
	s->sync = SYNC_OPEN;
	ck_assert_ptr_nonnull(strstr(decide(s, c, RM_RELEASE).why, "no Sync"));
	s->sync = SYNC_SKIPPING;
	ck_assert_ptr_nonnull(strstr(decide(s, c, RM_RELEASE).why, "skipping to Sync"));
	s->sync = SYNC_NONE;
	s->in_copy = true;
	ck_assert_ptr_nonnull(strstr(decide(s, c, RM_RELEASE).why, "in COPY"));
	s->in_copy = false;
	s->phase = TX_ASKING;
	ck_assert_ptr_nonnull(strstr(decide(s, c, RM_RELEASE).why, "a capture in flight"));
	s->phase = TX_SERVING;
	s->holding = true;
	ck_assert_ptr_nonnull(strstr(decide(s, c, RM_RELEASE).why, "replies held back"));
	s->holding = false;
	s->rq_len = 1;
	ck_assert_ptr_nonnull(strstr(decide(s, c, RM_RELEASE).why, "1 replies owed"));
	s->rq_len = 0;
	/* a hostile status byte is not 'I' either */
	s->status = '\x7f';
	ck_assert_int_eq(decide(s, c, RM_RELEASE).reason, CR_UNCLEAN);
	/* and an unclean server is never reset and handed on, even with a
	 * close due: the bug is what is counted */
	s->close_reason = CR_RECONNECT;
	s->close_why = "RECONNECT";
	ck_assert_int_eq(decide(s, c, RM_RELEASE).reason, CR_UNCLEAN);
	server_done(s);
	client_done(c);
}
END_TEST

START_TEST(release_waits_for_a_half_forwarded_message)
{
	struct client *c = client_new();
	struct server *s = server_new(c);
	c->sb.fwd_partial = true;
	c->sb.stream_left = 100;
	s->status = 'E'; /* unclean too: the client's message comes first */
	ck_assert_int_eq(decide(s, c, RM_RELEASE).what, RV_HOLD);
	c->sb.stream_left = 0;
	c->sb.fwd_partial = false;
	ck_assert_int_eq(decide(s, c, RM_RELEASE).what, RV_CLOSE);
	server_done(s);
	client_done(c);
}
END_TEST

START_TEST(release_closes_in_order)
{
	struct client *c = client_new();
	struct server *s = server_new(c);
	/* LOAD: nothing undoes it */
	c->bound_flags = SE_LOAD;
	struct release_verdict v = decide(s, c, RM_RELEASE);
	ck_assert_int_eq(v.what, RV_CLOSE);
	ck_assert_int_eq(v.reason, CR_SESSION_STATE);
	ck_assert_ptr_nonnull(strstr(v.why, "LOAD"));
	/* a close that was due comes first, counted under its own reason */
	s->close_reason = CR_RECONNECT;
	s->close_why = "RECONNECT";
	v = decide(s, c, RM_RELEASE);
	ck_assert_int_eq(v.reason, CR_RECONNECT);
	ck_assert_str_eq(v.why, "RECONNECT");
	c->bound_flags = 0;
	s->close_why = NULL;
	ck_assert_int_eq(decide(s, c, RM_RELEASE).what, RV_READY);
	server_done(s);
	client_done(c);
}
END_TEST

START_TEST(release_lifetime)
{
	teardown();
	setup_with("server_lifetime = 60\n");
	struct client *c = client_new();
	struct server *s = server_new(c);
	ck_assert_int_eq(decide(s, c, RM_RELEASE).what, RV_READY);
	s->connect_time = now_usec() - 61 * USEC;
	struct release_verdict v = decide(s, c, RM_RELEASE);
	ck_assert_int_eq(v.what, RV_CLOSE);
	ck_assert_int_eq(v.reason, CR_LIFETIME);
	ck_assert_str_eq(v.why, "server_lifetime (60 s) reached");
	server_done(s);
	client_done(c);
}
END_TEST

START_TEST(release_resets)
{
	struct client *c = client_new();
	struct server *s = server_new(c);
	/* a bound client leaves: what it kept goes with DISCARD ALL */
	c->bound_flags = SE_TEMP;
	struct release_verdict v = decide(s, c, RM_RELEASE);
	ck_assert_int_eq(v.what, RV_RESET);
	ck_assert(v.discard);
	c->bound_flags = 0;
	/* state pgtide could not follow */
	session_state_unknown(s);
	ck_assert_int_eq(decide(s, c, RM_RELEASE).what, RV_RESET);
	/* a cancel in flight holds it back first (the reset comes after) */
	s->cancels = (struct cancel_conn *)&pool;
	ck_assert_int_eq(decide(s, c, RM_RELEASE).what, RV_PARK);
	s->cancels = NULL;
	server_done(s);
	client_done(c);
}
END_TEST

START_TEST(release_session_mode_resets_its_session)
{
	user.pool_mode = POOL_SESSION;
	struct client *c = client_new();
	struct server *s = server_new(c);
	ck_assert_int_eq(decide(s, c, RM_RELEASE).what, RV_READY); /* never used */
	session_mode_used(s);
	struct release_verdict v = decide(s, c, RM_RELEASE);
	ck_assert_int_eq(v.what, RV_RESET_SESSION);
	ck_assert_str_eq(v.sql, "DISCARD ALL");
	server_done(s);
	client_done(c);
	teardown();
	setup_with("server_reset_query = RESET ALL\n");
	user.pool_mode = POOL_SESSION;
	c = client_new();
	s = server_new(c);
	session_mode_used(s);
	ck_assert_str_eq(decide(s, c, RM_RELEASE).sql, "RESET ALL");
	/* a close that is due wins: no reset for a server that goes */
	s->close_reason = CR_ADMIN;
	s->close_why = "KILL";
	ck_assert_int_eq(decide(s, c, RM_RELEASE).what, RV_CLOSE);
	server_done(s);
	client_done(c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("release");
	TCase *tc = tcase_create("ready");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, ready_transaction_mode);
	tcase_add_test(tc, ready_statement_mode_closes_a_transaction);
	tcase_add_test(tc, ready_session_keeps);
	tcase_add_test(tc, ready_asks_first);
	tcase_add_test(tc, ready_bound_client_asks_position_and_keeps);
	suite_add_tcase(s, tc);
	tc = tcase_create("release");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, release_clean_goes_to_the_pool);
	tcase_add_test(tc, release_unclean_closes);
	tcase_add_test(tc, release_waits_for_a_half_forwarded_message);
	tcase_add_test(tc, release_closes_in_order);
	tcase_add_test(tc, release_lifetime);
	tcase_add_test(tc, release_resets);
	tcase_add_test(tc, release_session_mode_resets_its_session);
	suite_add_tcase(s, tc);
	return s;
}
