/*
 * Health checks: asking each host of a database whether it is in recovery
 * and where its WAL is, every replica_check_period, and sooner while a
 * read waits for a replica to catch up (read_your_writes).
 *
 * Owns: the check in progress of each host (the check fields of struct
 * route_target, see route.h), over one of the pool's own servers lent for
 * the check and given back after it (so the pool's size, caps,
 * server_idle_timeout and server_lifetime account for every connection a
 * check uses), or, with replica_check_user set, over libpq's asynchronous
 * API driven by the event loop; never a blocking call. The
 * check timer. Judging an answer is route.c's (route_check_succeeded /
 * route_check_failed); acting on the verdict is here: a moved primary and
 * a host that fails are handed to pool.c. Must not judge roles or health
 * itself, nor route a transaction.
 */
#include "autoconf.h"

#include "health.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "client.h"
#include "dns.h"
#include "log.h"
#include "pool.h"
#include "route.h"
#include "ryw.h"
#include "server.h"
#include "sset.h"
#include "tls.h"

static const char health_sql[] =
	"SELECT pg_catalog.pg_is_in_recovery(), CASE WHEN pg_catalog.pg_is_in_recovery() "
	"THEN pg_catalog.pg_last_wal_replay_lsn() ELSE pg_catalog.pg_current_wal_lsn() END";

/* Failed checks are retried after the period, doubling up to this. */
#define HEALTH_BACKOFF_MAX (60 * USEC)

static uint64_t sample_seq; /* orders the samples of every host (route.h: seq) */
static struct event check_ev;
static bool check_started;

static usec_t period(void)
{
	return S()->replica_check_period > 0 ? S()->replica_check_period : 2 * USEC;
}

static void check_event(evutil_socket_t fd, short what, void *arg);

/* The check failed: stop it, retry after a growing pause, and let route.c
 * judge (its primary may have moved). */
static void fail(struct route_target *t, const char *reason)
{
	/* reason is often libpq's error buffer, which the stop frees */
	char why[256];
	snprintf(why, sizeof(why), "%s", reason ? reason : "?");
	health_check_stop(t);
	t->backoff = t->backoff ? t->backoff * 2 : period();
	if (t->backoff > HEALTH_BACKOFF_MAX)
		t->backoff = HEALTH_BACKOFF_MAX;
	t->next_try = now_usec() + t->backoff;
	if (route_check_failed(t, why, t->backoff))
		pool_primary_moved(t->rd->db, "the primary moved to another host");
}

/* A check's answer: in recovery or not, and the WAL position. The server
 * it ran on goes back to its pool. */
static void succeed(struct route_target *t, bool in_recovery, uint64_t lsn)
{
	t->phase = PH_IDLE;
	t->backoff = 0;
	struct server *s = t->checker;
	if (s) {
		t->checker = NULL;
		pool_check_return(s);
	}
	bool moved = route_check_succeeded(t, in_recovery, lsn, t->sent_seq);
	/* a replica's replay position is news to reads that wait for it */
	if (t->rd)
		client_ryw_wake(t->rd->db);
	if (moved)
		pool_primary_moved(t->rd->db, "the primary moved to another host");
}

void health_check_stop(struct route_target *t)
{
	if (t->ev_added)
		event_del(&t->ev);
	t->ev_added = false;
	if (t->conn)
		PQfinish(t->conn);
	t->conn = NULL;
	if (t->phase == PH_RESOLVING)
		dns_cancel(t);
	t->phase = PH_IDLE;
	struct server *s = t->checker;
	if (s) {
		t->checker = NULL;
		pool_checker_stop(s);
	}
}

static void watch(struct route_target *t, short what)
{
	if (t->ev_added)
		event_del(&t->ev);
	event_assign(&t->ev, g.base, PQsocket(t->conn), what, check_event, t);
	event_add(&t->ev, NULL);
	t->ev_added = true;
}

static void send_query(struct route_target *t)
{
	if (!PQsendQuery(t->conn, health_sql)) {
		fail(t, PQerrorMessage(t->conn));
		return;
	}
	t->phase = PH_QUERYING;
	t->phase_started = now_usec();
	t->sent_seq = ++sample_seq;
	int f = PQflush(t->conn);
	if (f < 0) {
		fail(t, PQerrorMessage(t->conn));
		return;
	}
	watch(t, (short)(f ? (EV_READ | EV_WRITE) : EV_READ));
}

static void read_result(struct route_target *t)
{
	if (!PQconsumeInput(t->conn)) {
		fail(t, PQerrorMessage(t->conn));
		return;
	}
	if (PQisBusy(t->conn)) {
		watch(t, EV_READ);
		return;
	}
	bool ok = false, rec = false;
	uint64_t lsn = 0;
	PGresult *r;
	char err[256] = "no result";
	while ((r = PQgetResult(t->conn))) {
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
			rec = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
			lsn = PQgetisnull(r, 0, 1) ? 0 : ryw_parse_lsn(PQgetvalue(r, 0, 1), strlen(PQgetvalue(r, 0, 1)));
			ok = true;
		} else {
			snprintf(err, sizeof(err), "%s", PQresultErrorMessage(r));
		}
		PQclear(r);
	}
	if (t->ev_added)
		event_del(&t->ev);
	t->ev_added = false;
	if (!ok)
		fail(t, err);
	else
		succeed(t, rec, lsn);
}

static void check_event(evutil_socket_t fd, short what, void *arg)
{
	struct route_target *t = arg;
	(void)fd;
	t->ev_added = false;
	if (t->phase == PH_CONNECTING) {
		switch (PQconnectPoll(t->conn)) {
		case PGRES_POLLING_READING:
			watch(t, EV_READ);
			return;
		case PGRES_POLLING_WRITING:
			watch(t, EV_WRITE);
			return;
		case PGRES_POLLING_OK:
			send_query(t);
			return;
		default:
			fail(t, PQerrorMessage(t->conn));
			return;
		}
	}
	if (t->phase == PH_QUERYING) {
		if (what & EV_WRITE) {
			int f = PQflush(t->conn);
			if (f < 0) {
				fail(t, PQerrorMessage(t->conn));
				return;
			}
			if (f) {
				watch(t, EV_READ | EV_WRITE);
				return;
			}
		}
		read_result(t);
	}
}

static void resolved(void *arg, int err, const struct sockaddr *sa, socklen_t len)
{
	struct route_target *t = arg;
	(void)len;
	if (t->phase != PH_RESOLVING || !t->rd)
		return;
	if (err) {
		fail(t, "could not resolve the host name");
		return;
	}
	const char *keys[18], *vals[18];
	int n = 0;
	char port[16], timeout[16];
	snprintf(port, sizeof(port), "%d", t->port);
	snprintf(timeout, sizeof(timeout), "%lld", (long long)(period() / USEC) + 2);
	if (sa->sa_family == AF_UNIX) {
		keys[n] = "host";
		vals[n++] = t->host;
	} else {
		const void *a = sa->sa_family == AF_INET ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
							 : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
		inet_ntop(sa->sa_family, a, t->addr, sizeof(t->addr));
		keys[n] = "hostaddr";
		vals[n++] = t->addr;
	}
	const struct settings *s = S();
	keys[n] = "port", vals[n++] = port;
	keys[n] = "dbname", vals[n++] = t->rd->db->cfg->dbname ? t->rd->db->cfg->dbname : t->rd->db->name;
	keys[n] = "user", vals[n++] = s->replica_check_user;
	if (s->replica_check_password && *s->replica_check_password)
		keys[n] = "password", vals[n++] = s->replica_check_password;
	keys[n] = "connect_timeout", vals[n++] = timeout;
	keys[n] = "application_name", vals[n++] = "pgtide host check";
	if (sa->sa_family == AF_UNIX)
		keys[n] = "sslmode", vals[n++] = "disable";
	else
		n = tls_libpq_params(keys, vals, n, t->host);
	keys[n] = NULL;
	vals[n] = NULL;
	t->conn = PQconnectStartParams(keys, vals, 0);
	if (!t->conn || PQstatus(t->conn) == CONNECTION_BAD) {
		fail(t, t->conn ? PQerrorMessage(t->conn) : "out of memory");
		return;
	}
	PQsetnonblocking(t->conn, 1);
	t->phase = PH_CONNECTING;
	t->phase_started = now_usec();
	watch(t, EV_WRITE);
}

/* The pool whose login the check uses: of a user who logged in to this
 * database (best: one whose pool has connected), towards this host: its
 * home pool for the primary, the host's own pool for a replica. */
static struct pool *check_pool(struct route_target *t)
{
	struct database *db = t->rd->db;
	struct pool *best = NULL;
	struct list *pn;
	list_for_each(pn, &db->pools) {
		struct pool *p = container_of(pn, struct pool, db_node);
		if (p->target)
			continue;
		if (p->n_welcome) {
			best = p;
			break;
		}
		if (!best)
			best = p;
	}
	/* none: no client has used this database yet, and no check runs for it */
	if (!best)
		return NULL;
	/* the primary is checked on the pool whose servers already go there
	 * (the home pool): a pool of its own would be a second pool_size of
	 * connections to the same host */
	if (route_write_target(db) == t)
		return best;
	return pool_get_target(db, best->user, t);
}

static void send_health(struct route_target *t)
{
	t->row_seen = false;
	if (!server_own_query(t->checker, health_sql, RQ_SIDE)) {
		fail(t, "could not send the check query");
		return;
	}
	t->phase = PH_QUERYING;
	t->phase_started = now_usec();
	t->sent_seq = ++sample_seq;
}

static void checker_launch(struct route_target *t)
{
	struct pool *p = check_pool(t);
	if (!p) {
		snprintf(t->reason, sizeof(t->reason),
			 "not checked yet: checks log in as a client of this database does, and none has logged in "
			 "(or set replica_check_user)");
		return;
	}
	if (p->next_launch && now_usec() < p->next_launch) {
		/* its logins fail: try again with the pool's own retry. For the
		 * primary (checked on the home pool, whose servers go there)
		 * that is the check's answer: the host does not take logins,
		 * and a promoted replica must not look like a second primary
		 * beside it. */
		if (!p->target)
			fail(t, "its pool's connections to it fail (server_login_retry)");
		return;
	}
	struct server *s = pool_check_server(p, t);
	if (!s)
		return; /* every server of the pool is busy: checked at a later period */
	t->checker = s;
	if (s->state == SV_CHECK) {
		send_health(t); /* an idle server, ready now */
		return;
	}
	t->phase = PH_CONNECTING; /* a new one: health_checker_ready */
	t->phase_started = now_usec();
}

bool health_checker_ready(struct server *s, struct route_target *t)
{
	if (t->checker != s || t->phase != PH_CONNECTING)
		return false;
	send_health(t);
	return true;
}

bool health_row(struct route_target *t, const struct pmsg *m)
{
	const char *rec, *lsn;
	uint32_t rlen, llen;
	if (!sset_parse_row(m->body, m->body_len, &rec, &rlen, &lsn, &llen))
		return false;
	t->row_seen = true;
	t->row_recovery = rlen == 1 && rec[0] == 't';
	t->row_lsn = lsn ? ryw_parse_lsn(lsn, llen) : 0;
	return true;
}

void health_done(struct route_target *t)
{
	if (t->phase != PH_QUERYING)
		return; /* it failed already */
	if (!t->row_seen)
		fail(t, "the check query returned no row");
	else
		succeed(t, t->row_recovery, t->row_lsn);
}

void health_error(struct route_target *t, const char *msg)
{
	if (t->phase == PH_QUERYING)
		fail(t, msg);
}

void health_checker_gone(struct route_target *t, const char *why)
{
	t->checker = NULL;
	if (t->phase == PH_IDLE)
		return;
	if (!why) {
		/* pgtide closed it itself (the pool reconnects after the
		 * primary moved): no verdict on the host; checked again at once */
		t->phase = PH_IDLE;
		t->next_try = 0;
		return;
	}
	fail(t, why);
}

static void check_start(struct route_target *t)
{
	usec_t now = now_usec();
	usec_t limit = period() * 2 > 3 * USEC ? period() * 2 : 3 * USEC;
	if (t->phase != PH_IDLE) {
		if (now - t->phase_started > limit)
			fail(t, "the check took too long");
		return;
	}
	if (now < t->next_try)
		return;
	const char *cu = S()->replica_check_user;
	if (cu && *cu) {
		if (t->checker)
			health_check_stop(t); /* the setting was turned on */
		if (t->conn && PQstatus(t->conn) == CONNECTION_OK) {
			send_query(t);
			return;
		}
		if (t->conn) {
			PQfinish(t->conn);
			t->conn = NULL;
		}
		t->phase = PH_RESOLVING;
		t->phase_started = now;
		dns_resolve(t->host, t->port, resolved, t);
		return;
	}
	if (t->conn) {
		PQfinish(t->conn); /* the setting was turned off */
		t->conn = NULL;
	}
	if (t->checker)
		send_health(t);
	else
		checker_launch(t);
}


static void check_all(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	struct list *ln;
	list_for_each(ln, route_dbs()) {
		struct route_db *rd = container_of(ln, struct route_db, node);
		for (int i = 0; i < rd->n; i++)
			check_start(rd->t[i]);
		ryw_gc(rd->db, route_min_replay(rd->db));
	}
	health_start(); /* re-arm: the period may have changed on reload */
}

void health_start(void)
{
	struct timeval tv = { (time_t)(period() / USEC), (suseconds_t)(period() % USEC) };
	if (!check_started) {
		evtimer_assign(&check_ev, g.base, check_all, NULL);
		check_started = true;
		/* first checks right away */
		struct timeval now = { 0, 1000 };
		evtimer_add(&check_ev, &now);
		return;
	}
	evtimer_add(&check_ev, &tv);
}

void health_probe(struct database *db)
{
	/* a read waits for a replica to replay a commit: ask the readable
	 * ones where they are now, at most once per period below */
	struct route_db *rd = db->route;
	if (!rd)
		return;
	usec_t now = now_usec();
	for (int i = 0; i < rd->n; i++) {
		struct route_target *t = rd->t[i];
		if (!route_readable(t) || t->phase != PH_IDLE || now - t->last_probe < RYW_PROBE_USEC)
			continue;
		t->last_probe = now;
		if (t->conn && PQstatus(t->conn) == CONNECTION_OK)
			send_query(t);
		else if (!t->conn && t->phase == PH_IDLE)
			checker_launch(t);
	}
}

void health_kick(struct database *db)
{
	/* a first client of a database whose hosts were never checked (they
	 * had no login to check with): check now, not a period later */
	if (!check_started || !db->route)
		return;
	struct timeval soon = { 0, 1000 };
	evtimer_add(&check_ev, &soon);
}

void health_stop(void)
{
	if (check_started)
		event_del(&check_ev);
	check_started = false;
	struct list *ln;
	list_for_each(ln, route_dbs()) {
		struct route_db *rd = container_of(ln, struct route_db, node);
		for (int i = 0; i < rd->n; i++)
			health_check_stop(rd->t[i]);
	}
}

void health_target_down(struct route_target *t, const char *why)
{
	if (!t)
		return;
	bool moved = route_target_down(t, why);
	/* the check connection is as suspect as the servers: start afresh */
	health_check_stop(t);
	t->next_try = 0;
	/* clients waiting for it go elsewhere; its idle servers are likely dead */
	pool_target_down(t);
	if (moved)
		pool_primary_moved(t->rd->db, "the primary moved to another host");
}
