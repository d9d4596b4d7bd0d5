/*
 * Unit tests for src/ryw.c, read your writes: the pg_lsn parser, the
 * parser of the position query's row (a server's bytes), and the positions
 * a read must see: per client, per tenant, pending while the position
 * query is in flight, never lowered, and dropped once every replica has
 * replayed them without weakening what a read must see.
 * Clients, servers and the pool are bare structs: no socket is involved.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "pgtide.h"
#include "ryw.h"
#include "tenant.h"

#include "check_load.h"
#include "check_main.h"

static struct pool pool;
static struct database db;
static int fake_route; /* ryw_mode only asks whether the database has hosts */

static void setup_mode(const char *mode)
{
	char ini[256];
	snprintf(ini, sizeof(ini), "[databases]\napp = host=x read_your_writes=%s\n[pgtide]\nauth_type = trust\n", mode);
	check_load_config(ini);
	tenant_module_init();
	memset(&db, 0, sizeof(db));
	db.cfg = (struct db_config *)config_find_db(g.cfg, "app");
	db.route = (struct route_db *)&fake_route;
	memset(&pool, 0, sizeof(pool));
	pool.db = &db;
}

static void setup_tenant(void)
{
	setup_mode("tenant");
}

static void setup_client(void)
{
	setup_mode("client");
}

static void teardown(void)
{
	ryw_db_free(&db);
	tenant_module_free();
	config_free(g.cfg);
	g.cfg = NULL;
}

static struct client *client_of(const char *tenant)
{
	struct client *c = calloc(1, sizeof(*c));
	list_init(&c->ryw.node);
	c->db = &db;
	c->pool = &pool;
	c->tenant = tenant ? tenant_get(tenant) : NULL;
	return c;
}

static void client_done(struct client *c)
{
	ryw_forget(c);
	if (c->tenant)
		tenant_unref(c->tenant);
	free(c);
}

/* A DataRow body of one text column ("" = NULL when null). */
static size_t row(uint8_t *buf, const char *v, bool null)
{
	size_t n = 0, len = v ? strlen(v) : 0;
	buf[n++] = 0;
	buf[n++] = 1;
	uint32_t l = null ? 0xFFFFFFFFu : (uint32_t)len;
	buf[n++] = (uint8_t)(l >> 24);
	buf[n++] = (uint8_t)(l >> 16);
	buf[n++] = (uint8_t)(l >> 8);
	buf[n++] = (uint8_t)l;
	if (!null) {
		memcpy(buf + n, v, len);
		n += len;
	}
	return n;
}

/* c's transaction ends on server s: its position is asked. */
static void commit_begin(struct server *s, struct client *c)
{
	memset(s, 0, sizeof(*s));
	s->pool = &pool;
	s->client = c;
	ryw_note_write(c);
	ck_assert(ryw_commit_due(c));
	ryw_write_forget(c); /* as server.c's ask_position */
	ryw_commit_sent(s, c);
	ck_assert(!ryw_commit_due(c));
}

/* ... and the position query answers lsn. */
static void commit_end(struct server *s, const char *lsn)
{
	uint8_t buf[64];
	struct pmsg m = { .type = 'D', .body = buf, .body_len = (uint32_t)row(buf, lsn, false) };
	ck_assert(ryw_position_row(s, &m));
	ck_assert(ryw_commit_done(s, true)); /* news for reads that wait */
	ck_assert(!ryw_commit_done(s, true)); /* once */
}

static void commit(struct server *s, struct client *c, const char *lsn)
{
	commit_begin(s, c);
	commit_end(s, lsn);
}

static uint64_t floor_of(const struct client *c, bool *pending)
{
	bool p;
	uint64_t f = ryw_floor(c, &p);
	if (pending)
		*pending = p;
	return f;
}

START_TEST(parse_lsn)
{
	ck_assert_uint_eq(ryw_parse_lsn("0/16B3748", 9), 0x16B3748);
	ck_assert_uint_eq(ryw_parse_lsn("1/0", 3), 1ULL << 32);
	ck_assert_uint_eq(ryw_parse_lsn("FFFFFFFF/FFFFFFFF", 17), UINT64_MAX);
	ck_assert_uint_eq(ryw_parse_lsn("a/b", 3), (0xaULL << 32) | 0xb);
	/* only the length given counts */
	ck_assert_uint_eq(ryw_parse_lsn("0/10junk", 4), 0x10);
	/* malformed: 0, never a guess */
	const char *bad[] = { "", "0", "0/", "/1", "g/1", "0/1g", "1/2/3", " 0/1", "0/ 1", "-1/2", "0x1/2",
			      "123456789/0", "0/123456789", "+1/2" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(ryw_parse_lsn(bad[i], strlen(bad[i])) == 0, "accepted [%s]", bad[i]);
	ck_assert_uint_eq(ryw_parse_lsn(NULL, 3), 0);
	char big[100];
	memset(big, '1', sizeof(big));
	ck_assert_uint_eq(ryw_parse_lsn(big, sizeof(big)), 0);
	ck_assert_uint_eq(ryw_parse_lsn("0/1\0/2", 5), 0);
}
END_TEST

START_TEST(position_row_hostile)
{
	struct server s;
	memset(&s, 0, sizeof(s));
	uint8_t buf[64];
	struct pmsg m = { .type = 'D', .body = buf };
	m.body_len = (uint32_t)row(buf, NULL, true);
	ck_assert(!ryw_position_row(&s, &m)); /* NULL */
	m.body_len = (uint32_t)row(buf, "nonsense", false);
	ck_assert(!ryw_position_row(&s, &m));
	m.body_len = (uint32_t)row(buf, "0/10", false);
	ck_assert(ryw_position_row(&s, &m));
	ck_assert_uint_eq(s.pos.lsn, 0x10);
	for (uint32_t cut = 0; cut < m.body_len; cut++) {
		struct pmsg t = m;
		t.body_len = cut;
		ck_assert_msg(!ryw_position_row(&s, &t), "accepted a row cut at %u", cut);
	}
	/* trailing bytes, two columns, a length past the end */
	uint8_t more[64];
	size_t n = row(more, "0/10", false);
	more[n] = 'x';
	struct pmsg t = { .type = 'D', .body = more, .body_len = (uint32_t)n + 1 };
	ck_assert(!ryw_position_row(&s, &t));
	more[1] = 2;
	t.body_len = (uint32_t)n;
	ck_assert(!ryw_position_row(&s, &t));
	more[1] = 1;
	more[5] = 200;
	ck_assert(!ryw_position_row(&s, &t));
}
END_TEST

START_TEST(tenant_scope)
{
	struct client *a = client_of("acme"), *b = client_of("acme"), *o = client_of("other");
	struct server s;
	ck_assert_int_eq(ryw_mode(a), RYW_TENANT);
	ck_assert_uint_eq(floor_of(b, NULL), 0);

	/* while a's position is asked, b's read must wait for it */
	commit_begin(&s, a);
	bool pending;
	floor_of(b, &pending);
	ck_assert(pending);
	floor_of(o, &pending);
	ck_assert(!pending); /* another tenant does not wait */
	commit_end(&s, "0/3000");
	ck_assert_uint_eq(floor_of(b, &pending), 0x3000);
	ck_assert(!pending);
	ck_assert_uint_eq(floor_of(a, NULL), 0x3000);
	ck_assert_uint_eq(floor_of(o, NULL), 0);

	/* never lowered by a position learned late */
	commit(&s, b, "0/2000");
	ck_assert_uint_eq(floor_of(a, NULL), 0x3000);
	ck_assert_uint_eq(floor_of(b, NULL), 0x3000);

	struct ryw_stats st;
	ryw_db_stats(&db, &st);
	ck_assert_uint_eq(st.commits, 2);
	ck_assert_uint_eq(st.positions, 1);

	/* replicas behind it: kept */
	ryw_gc(&db, 0x2fff);
	ryw_db_stats(&db, &st);
	ck_assert_uint_eq(st.positions, 1);
	/* every replica has replayed it: dropped, and every read still has to
	 * see it (a replica that was down, or is new, must catch up first) */
	ryw_gc(&db, 0x3000);
	ryw_db_stats(&db, &st);
	ck_assert_uint_eq(st.positions, 0);
	struct client *late = client_of("acme");
	ck_assert_uint_eq(floor_of(late, NULL), 0x3000);
	ck_assert_uint_eq(floor_of(o, NULL), 0x3000);
	/* a new commit of a dropped tenant starts from there */
	commit(&s, o, "0/5000");
	ck_assert_uint_eq(floor_of(o, NULL), 0x5000);
	ck_assert_uint_eq(floor_of(late, NULL), 0x3000);

	/* an entry whose position is still asked is never dropped */
	commit_begin(&s, late);
	ryw_gc(&db, 0xffffff);
	ryw_db_stats(&db, &st);
	ck_assert_uint_eq(st.positions, 1);
	floor_of(a, &pending);
	ck_assert(pending);
	commit_end(&s, "0/6000");
	ryw_gc(&db, 0xffffff);
	ryw_db_stats(&db, &st);
	ck_assert_uint_eq(st.positions, 0);
	ck_assert_uint_eq(floor_of(a, NULL), 0x6000);

	client_done(a);
	client_done(b);
	client_done(o);
	client_done(late);
}
END_TEST

START_TEST(client_scope)
{
	struct client *a = client_of("acme"), *b = client_of("acme"), *none = client_of(NULL);
	struct server s;
	ck_assert_int_eq(ryw_mode(a), RYW_CLIENT);
	commit(&s, a, "0/100");
	ck_assert_uint_eq(floor_of(a, NULL), 0x100);
	ck_assert_uint_eq(floor_of(b, NULL), 0); /* another client: not its scope */
	commit(&s, none, "0/200");
	ck_assert_uint_eq(floor_of(none, NULL), 0x200);
	/* a read that waits, then goes somewhere: counted, and no longer waits */
	a->ryw.since = 1;
	ryw_routed(a, RYW_PRIMARY);
	ck_assert(!ryw_waiting(a));
	ryw_routed(b, RYW_REPLICA);
	struct ryw_stats st;
	ryw_db_stats(&db, &st);
	ck_assert_uint_eq(st.reads_primary, 1);
	ck_assert_uint_eq(st.reads_replica, 1);
	ck_assert_uint_eq(a->tenant->ryw_primary, 1);
	ck_assert_uint_eq(a->tenant->ryw_replica, 1);
	client_done(a);
	client_done(b);
	client_done(none);
}
END_TEST

START_TEST(tenant_without_tenant_is_client)
{
	struct client *c = client_of(NULL);
	ck_assert_int_eq(ryw_mode(c), RYW_CLIENT);
	db.route = NULL; /* no replicas: nothing to do */
	ck_assert_int_eq(ryw_mode(c), RYW_OFF);
	ryw_note_write(c);
	ck_assert(!ryw_commit_due(c));
	client_done(c);
}
END_TEST

/* Reads that wait: ryw.c says which may go, oldest first, and resumes
 * nothing itself (client.c does). A read whose scope has a commit in
 * flight never goes to a replica; one whose time is up goes (to the
 * primary: route.c). */
START_TEST(waiting_reads)
{
	struct client *c1 = client_of("a"), *c2 = client_of("b");
	struct server s1, s2;
	ck_assert_ptr_null(ryw_waiting_next(NULL));
	ck_assert(!ryw_db_waits(&db));
	/* both tenants have a commit without a position yet: neither read may
	 * go to a replica, whatever the replicas say */
	commit_begin(&s1, c1);
	commit_begin(&s2, c2);
	ryw_hold(c1);
	ryw_hold(c2);
	ryw_hold(c1); /* held again when resumed too early: still one entry */
	ck_assert_ptr_eq(ryw_waiting_next(NULL), c1);
	ck_assert_ptr_eq(ryw_waiting_next(c1), c2);
	ck_assert_ptr_null(ryw_waiting_next(c2));
	ck_assert(ryw_db_waits(&db));

	struct list ready = LIST_INIT(ready);
	ryw_take_ready(NULL, &ready); /* nobody's time is up */
	ck_assert_ptr_null(ryw_pop(&ready));
	ryw_take_ready(&db, &ready); /* positions pending: nobody goes */
	ck_assert_ptr_null(ryw_pop(&ready));

	c1->ryw.since = now_usec() - S()->read_your_writes_timeout - 1; /* its time is up */
	ck_assert(ryw_wait_expired(c1));
	ryw_take_ready(NULL, &ready);
	ck_assert_ptr_eq(ryw_pop(&ready), c1);
	ck_assert_ptr_null(ryw_pop(&ready));
	ryw_routed(c1, RYW_PRIMARY);
	ck_assert(!ryw_waiting(c1));
	ck_assert_ptr_eq(ryw_waiting_next(NULL), c2);
	commit_end(&s1, "0/10"); /* news for the reads that wait (asserted there) */
	commit_end(&s2, "0/20");
	client_done(c1);
	client_done(c2);
	ck_assert_ptr_null(ryw_waiting_next(NULL));
	ck_assert(!ryw_db_waits(&db));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("ryw");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, parse_lsn);
	tcase_add_test(tc, position_row_hostile);
	suite_add_tcase(s, tc);
	tc = tcase_create("tenant");
	tcase_add_checked_fixture(tc, setup_tenant, teardown);
	tcase_add_test(tc, tenant_scope);
	tcase_add_test(tc, tenant_without_tenant_is_client);
	tcase_add_test(tc, waiting_reads);
	suite_add_tcase(s, tc);
	tc = tcase_create("client");
	tcase_add_checked_fixture(tc, setup_client, teardown);
	tcase_add_test(tc, client_scope);
	suite_add_tcase(s, tc);
	return s;
}


