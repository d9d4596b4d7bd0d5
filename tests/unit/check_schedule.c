/*
 * Unit tests for src/schedule.c, the state machine that decides which
 * waiting client of a pool is served next: round-robin among tenants,
 * first come first served within one, weights from [tenants], and the
 * slots that max_tenant_servers and tenant_xact_rate hold out of the ring.
 * Clients and the pool are bare structs: no socket is involved.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "pgtide.h"
#include "schedule.h"
#include "tenant.h"

#include "check_load.h"
#include "check_main.h"

static struct pool pool;
static struct database db;

/* The connection layer's part (pool.c): schedule.c's timer says a held
 * tenant may run again; pool.c would serve the waiters. */
static int rate_wakes;
static void on_rate_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	if (sched_rate_timer(arg))
		rate_wakes++;
}

static void setup_with(const char *extra)
{
	char ini[1024];
	snprintf(ini, sizeof(ini), "[databases]\napp = host=x\n[pgtide]\nauth_type = trust\n%s", extra);
	check_load_config(ini);
	if (!g.base)
		g.base = event_base_new();
	tenant_module_init();
	memset(&db, 0, sizeof(db));
	db.cfg = (struct db_config *)config_find_db(g.cfg, "app");
	memset(&pool, 0, sizeof(pool));
	pool.db = &db;
	sched_pool_init(&pool, on_rate_timer);
}

static void teardown(void)
{
	sched_pool_free(&pool);
	tenant_module_free();
	config_free(g.cfg);
	g.cfg = NULL;
}

/* a client of tenant id ("" = none) that starts waiting */
static struct client *waiter(const char *id)
{
	struct client *c = calloc(1, sizeof(*c));
	if (*id) {
		struct tenant *t = tenant_get(id);
		tenant_attach(c, t);
		tenant_unref(t);
	}
	c->wait_pool = &pool;
	c->wait_start = now_usec();
	pool.n_waiting++;
	sched_wait(&pool, c);
	return c;
}

/* what pool.c does when it gives c a server */
static void serve(struct client *c)
{
	sched_unwait(c);
	pool.n_waiting--;
	sched_linked(&pool, c);
}

static void done(struct client *c)
{
	sched_unlinked(c);
	tenant_attach(c, NULL);
	free(c);
}

static const char *tenant_of(const struct client *c)
{
	return c && c->tenant ? c->tenant->id : c ? "-" : "NULL";
}

/* the order sched_next serves everyone in, as "a b a -" */
static const char *drain(void)
{
	static char buf[4096];
	size_t n = 0;
	buf[0] = '\0';
	struct client *c;
	while ((c = sched_next(&pool))) {
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? " " : "", tenant_of(c));
		ck_assert_uint_lt(n, sizeof(buf));
		serve(c);
		done(c);
	}
	return buf;
}

START_TEST(round_robin_by_tenant)
{
	setup_with("");
	/* a flood from a, then one each from b, the tenant-less group, and c */
	for (int i = 0; i < 4; i++)
		waiter("a");
	waiter("b");
	waiter("");
	waiter("c");
	ck_assert_int_eq(sched_runnable(&pool), 7);
	/* one per tenant per round; within a tenant, first come first served */
	ck_assert_str_eq(drain(), "a b - c a a a");
	ck_assert_int_eq(sched_runnable(&pool), 0);
	ck_assert_ptr_null(sched_next(&pool));
	teardown();
}
END_TEST

START_TEST(fifo_within_a_tenant)
{
	setup_with("");
	struct client *first = waiter("a"), *second = waiter("a");
	ck_assert_ptr_eq(sched_next(&pool), first);
	ck_assert_ptr_eq(sched_next(&pool), first); /* not removed until served */
	serve(first);
	ck_assert_ptr_eq(sched_next(&pool), second);
	serve(second);
	done(first);
	done(second);
	teardown();
}
END_TEST

START_TEST(weights)
{
	setup_with("[tenants]\na = weight=3\n");
	for (int i = 0; i < 6; i++)
		waiter("a");
	for (int i = 0; i < 3; i++)
		waiter("b");
	ck_assert_str_eq(drain(), "a a a b a a a b b");
	teardown();
}
END_TEST

START_TEST(max_tenant_servers_holds_a_slot)
{
	setup_with("max_tenant_servers = 2\n");
	struct client *a1 = waiter("a"), *a2 = waiter("a"), *a3 = waiter("a");
	serve(a1);
	serve(a2);
	/* a holds 2: its third waits, and does not count as runnable */
	ck_assert_int_eq(sched_runnable(&pool), 0);
	ck_assert_ptr_null(sched_next(&pool));
	ck_assert(!sched_may_take(&pool, a3));
	char why[200];
	ck_assert(strstr(sched_wait_reason(a3, why, sizeof(why)), "max_tenant_servers (2)"));
	/* another tenant is served at once */
	struct client *b = waiter("b");
	ck_assert_int_eq(sched_runnable(&pool), 1);
	ck_assert_ptr_eq(sched_next(&pool), b);
	serve(b);
	/* a server of a's comes back: a's third may run */
	done(a1);
	ck_assert_int_eq(sched_runnable(&pool), 1);
	ck_assert_ptr_eq(sched_next(&pool), a3);
	serve(a3);
	done(a2);
	done(a3);
	done(b);
	ck_assert_int_eq(pool.sched.blocked, 0);
	teardown();
}
END_TEST

START_TEST(rate_holds_then_releases)
{
	setup_with("tenant_xact_rate = 2\n");
	/* a bucket of 2: two at once, the third waits for a token */
	struct client *c[3];
	for (int i = 0; i < 3; i++)
		c[i] = waiter("r");
	ck_assert_ptr_eq(sched_next(&pool), c[0]);
	serve(c[0]);
	ck_assert_ptr_eq(sched_next(&pool), c[1]);
	serve(c[1]);
	ck_assert_ptr_null(sched_next(&pool));
	ck_assert_int_eq(sched_runnable(&pool), 0);
	char why[200];
	ck_assert(strstr(sched_wait_reason(c[2], why, sizeof(why)), "tenant_xact_rate (2 transactions per second)"));
	ck_assert_uint_ge(c[2]->tenant->held_by_rate, 1);
	/* half a second later a token is back: the pool's timer puts the
	 * slot back in the ring */
	usec_t t0 = now_usec();
	rate_wakes = 0;
	event_base_loop(g.base, EVLOOP_ONCE);
	ck_assert_uint_ge(now_usec() - t0, 400000); /* not before its token */
	ck_assert_int_eq(rate_wakes, 1); /* and pool.c is told to serve it */
	ck_assert_ptr_eq(sched_next(&pool), c[2]);
	serve(c[2]);
	for (int i = 0; i < 3; i++)
		done(c[i]);
	teardown();
}
END_TEST

START_TEST(slots_are_reused)
{
	setup_with("");
	/* many tenants come and go: slots go back to the pool's spare list */
	for (int round = 0; round < 3; round++) {
		char id[16];
		for (int i = 0; i < 100; i++) {
			snprintf(id, sizeof(id), "t%d", i);
			waiter(id);
		}
		ck_assert_int_eq((int)pool.sched.slots.count, 100);
		drain();
		ck_assert_int_eq((int)pool.sched.slots.count, 0);
		ck_assert_int_eq(pool.n_waiting, 0);
	}
	teardown();
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("schedule");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, round_robin_by_tenant);
	tcase_add_test(tc, fifo_within_a_tenant);
	tcase_add_test(tc, weights);
	tcase_add_test(tc, max_tenant_servers_holds_a_slot);
	tcase_add_test(tc, rate_holds_then_releases);
	tcase_add_test(tc, slots_are_reused);
	suite_add_tcase(s, tc);
	return s;
}
