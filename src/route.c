/*
 * Read routing and the hosts of a database: which host is the primary,
 * which replicas are healthy, and where a transaction runs.
 *
 * Owns: struct route_db (a database's hosts, its current primary, its
 * round-robin position) and struct route_target (one host: its role and
 * health). Every replica_check_period each host is asked
 * pg_is_in_recovery() and its WAL position, over one of pgtide's own
 * server connections to it (a check connection of a pool whose user has
 * logged in: whatever lets pgtide open servers for that pool lets it check
 * the host), or, with replica_check_user set, over libpq's asynchronous
 * API driven by the event loop. Neither blocks.
 *
 * Roles. host= with replicas=: as written. A host list (host=a,b,c): the
 * one host whose check says it is not in recovery is the primary. While two
 * say so there is none (writes wait rather than risk a split brain); while
 * the primary's checks fail and no other host claims the role, it stays
 * (its connections fail too, and clients wait for the next check).
 *
 * A replica is in the rotation while its last check succeeded, it is in
 * recovery and its replay position is within replica_max_lag bytes of the
 * primary's. A server of a replica that fails to connect or dies takes it
 * out at once, until its next good check.
 *
 * Must not forward messages (client.c) or pick servers within a pool
 * (pool.c): a change of primary is handed to pool_primary_moved().
 */
#include "autoconf.h"

#include "route.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "client.h"
#include "dns.h"
#include "log.h"
#include "pool.h"
#include "prepare.h"
#include "ryw.h"
#include "server.h"
#include "sqlclass.h"
#include "sset.h"
#include "tls.h"
#include "util/strbuf.h"

enum tstate { TS_UNKNOWN, TS_HEALTHY, TS_LAGGING, TS_DOWN, TS_NOT_IN_RECOVERY };
static const char *const tstate_names[] = { "unknown", "healthy", "lagging", "down", "not_in_recovery" };

/* what the configuration says a host is */
enum trole { TR_PRIMARY, TR_REPLICA, TR_ANY };

enum phase { PH_IDLE, PH_RESOLVING, PH_CONNECTING, PH_QUERYING };

static const char health_sql[] =
	"SELECT pg_catalog.pg_is_in_recovery(), CASE WHEN pg_catalog.pg_is_in_recovery() "
	"THEN pg_catalog.pg_last_wal_replay_lsn() ELSE pg_catalog.pg_current_wal_lsn() END";

struct route_target {
	struct route_db *rd;    /* NULL once removed from its database */
	char *host;
	int port;
	int refs;
	enum trole role;
	enum tstate state;
	bool up;                /* its last check succeeded */
	bool forced_down;       /* a server failed: out until the next good check */
	bool in_recovery;       /* from its last good check */
	long long lag;          /* -1: unknown */
	uint64_t lsn;
	/* Order of the samples: a replica's position is compared with the
	 * primary's last position sampled before it, never after, or a burst
	 * of writes between two samples would look like lag. */
	uint64_t seq, sent_seq;
	uint64_t prev_lsn, prev_seq; /* the previous sample */
	usec_t last_check;
	uint64_t transactions;
	uint64_t ryw_reads;     /* reads with a read_your_writes floor sent here */
	usec_t last_probe;      /* a waiting read asked its position (ryw.c) */
	uint64_t check_failures;
	char reason[256];       /* why it is down or not checked; "" when fine */
	/* the check in progress */
	enum phase phase;
	usec_t phase_started;
	usec_t next_try;
	usec_t backoff;
	/* over libpq (replica_check_user) */
	PGconn *conn;
	struct event ev;
	bool ev_added;
	char addr[INET6_ADDRSTRLEN + 1];
	/* or over a check connection of a pool (server.c) */
	struct server *checker;
	bool row_seen;
	bool row_recovery;
	uint64_t row_lsn;
};

struct route_db {
	struct list node;
	struct database *db;
	struct route_target **t; /* every host: the primary and replicas as written, or the list */
	int n;
	bool auto_roles;         /* a host list: roles come from the checks */
	struct route_target *primary; /* where writes go; NULL: none known */
	bool split;              /* more than one host claims to be the primary */
	unsigned rr;
};

static struct list all_dbs = LIST_INIT(all_dbs);
static uint64_t sample_seq;
static struct event check_ev;
static bool check_started;

static void elect(struct route_db *rd);

/* ---- targets ---- */

static bool is_primary(const struct route_target *t)
{
	return t->rd && t->rd->primary == t;
}

static struct route_target *target_new(struct route_db *rd, const char *host, int port, enum trole role)
{
	struct route_target *t = xcalloc(1, sizeof(*t));
	t->rd = rd;
	t->host = xstrdup(host);
	t->port = port;
	t->refs = 1;
	t->role = role;
	t->lag = -1;
	return t;
}

static void check_stop(struct route_target *t)
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

void route_target_ref(struct route_target *t)
{
	if (t)
		t->refs++;
}

void route_target_unref(struct route_target *t)
{
	if (!t || --t->refs)
		return;
	check_stop(t);
	free(t->host);
	free(t);
}

const char *route_target_host(const struct route_target *t)
{
	return t->host;
}

int route_target_port(const struct route_target *t)
{
	return t->port;
}

/* Gone from the configuration: pools keep it until they let go. */
static void target_drop(struct database *db, struct route_target *o)
{
	o->rd = NULL;
	check_stop(o);
	struct list *pn;
	list_for_each(pn, &db->pools) {
		struct pool *p = container_of(pn, struct pool, db_node);
		if (p->target == o)
			pool_reconnect_pool(p, "host removed from the configuration");
	}
	route_target_unref(o);
}

static struct route_target *take_target(struct route_db *rd, const char *host, int port, enum trole role)
{
	for (int j = 0; j < rd->n; j++) {
		struct route_target *o = rd->t[j];
		if (o && o->role == role && o->port == port && strcmp(o->host, host) == 0) {
			rd->t[j] = NULL;
			return o;
		}
	}
	return target_new(rd, host, port, role);
}

void route_db_update(struct database *db)
{
	const struct db_config *dc = db->cfg;
	struct route_db *rd = db->route;
	if (dc->n_replicas == 0 && dc->n_hosts == 0) {
		if (rd) {
			for (int j = 0; j < rd->n; j++)
				target_drop(db, rd->t[j]);
			rd->n = 0;
			route_db_free(db);
		}
		return;
	}
	if (!rd) {
		rd = xcalloc(1, sizeof(*rd));
		rd->db = db;
		list_add_tail(&all_dbs, &rd->node);
		db->route = rd;
	}
	/* keep targets that stay (their health and counters), add new ones */
	int n = dc->n_hosts ? dc->n_hosts : dc->n_replicas + 1;
	struct route_target **nt = xcalloc((size_t)n, sizeof(*nt));
	struct route_target *old_primary = rd->primary;
	if (dc->n_hosts) {
		for (int i = 0; i < dc->n_hosts; i++)
			nt[i] = take_target(rd, dc->hosts[i].host, dc->hosts[i].port ? dc->hosts[i].port : dc->primary.port,
					    TR_ANY);
	} else {
		const char *phost = dc->primary.host && *dc->primary.host
					    ? dc->primary.host
					    : (*S()->unix_socket_dir ? S()->unix_socket_dir : "/tmp");
		nt[0] = take_target(rd, phost, dc->primary.port, TR_PRIMARY);
		for (int i = 0; i < dc->n_replicas; i++)
			nt[i + 1] = take_target(rd, dc->replicas[i].host, dc->replicas[i].port, TR_REPLICA);
	}
	for (int j = 0; j < rd->n; j++)
		if (rd->t[j])
			target_drop(db, rd->t[j]);
	free(rd->t);
	rd->t = nt;
	rd->n = n;
	rd->auto_roles = dc->n_hosts > 0;
	rd->primary = NULL;
	for (int i = 0; i < n; i++)
		if ((rd->auto_roles && nt[i] == old_primary) || nt[i]->role == TR_PRIMARY)
			rd->primary = nt[i];
	if (rd->primary != old_primary)
		pool_primary_moved(db, "the database's primary host changed in the configuration");
}

void route_db_free(struct database *db)
{
	struct route_db *rd = db->route;
	if (!rd)
		return;
	for (int i = 0; i < rd->n; i++) {
		rd->t[i]->rd = NULL;
		route_target_unref(rd->t[i]);
	}
	free(rd->t);
	list_del(&rd->node);
	free(rd);
	db->route = NULL;
}

/* ---- health ---- */

static void compute_state(struct route_target *t)
{
	if (t->forced_down || !t->up) {
		t->state = t->last_check || t->forced_down ? TS_DOWN : TS_UNKNOWN;
		t->lag = -1;
		return;
	}
	if (is_primary(t)) {
		t->state = t->in_recovery ? TS_UNKNOWN : TS_HEALTHY;
		t->lag = -1;
		return;
	}
	if (!t->in_recovery) {
		t->state = TS_NOT_IN_RECOVERY;
		t->lag = -1;
		return;
	}
	struct route_target *p = t->rd ? t->rd->primary : NULL;
	uint64_t plsn = 0;
	if (p && p->up && !p->in_recovery) {
		if (p->seq < t->seq)
			plsn = p->lsn;
		else if (p->prev_seq < t->seq)
			plsn = p->prev_lsn;
		else if (t->state == TS_HEALTHY || t->state == TS_LAGGING)
			return; /* no primary sample older than ours: judge at our next check */
	}
	if (!plsn) {
		/* No primary to compare with (it is down, or being replaced): a
		 * replica cannot fall further behind a primary that writes
		 * nothing, so it keeps its last judgement and reads go on. */
		if (t->state != TS_HEALTHY && t->state != TS_LAGGING) {
			t->state = TS_UNKNOWN;
			t->lag = -1;
		}
		return;
	}
	t->lag = plsn > t->lsn ? (long long)(plsn - t->lsn) : 0;
	t->state = t->lag <= S()->replica_max_lag ? TS_HEALTHY : TS_LAGGING;
}

static void recompute_all(struct route_db *rd)
{
	for (int i = 0; i < rd->n; i++) {
		struct route_target *r = rd->t[i];
		enum tstate before = r->state;
		compute_state(r);
		if (before != r->state && !is_primary(r) && before != TS_UNKNOWN && r->state != TS_DOWN)
			log_info("%s %s:%d of database \"%s\" is %s (lag %lld bytes)",
				 r->in_recovery ? "replica" : "host", r->host, r->port, rd->db->name,
				 tstate_names[r->state], r->lag);
	}
}

static const char *clean_reason(const char *reason, char *buf, size_t len)
{
	snprintf(buf, len, "%s", reason ? reason : "?");
	size_t n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return buf;
}

static void check_failed(struct route_target *t, const char *reason)
{
	/* reason is often libpq's error buffer, which check_stop() frees */
	char why[256];
	clean_reason(reason, why, sizeof(why));
	enum tstate before = t->state;
	bool was_up = t->up;
	check_stop(t);
	usec_t period = S()->replica_check_period > 0 ? S()->replica_check_period : 2 * USEC;
	t->backoff = t->backoff ? t->backoff * 2 : period;
	if (t->backoff > 60 * USEC)
		t->backoff = 60 * USEC;
	t->next_try = now_usec() + t->backoff;
	t->last_check = now_usec();
	t->up = false;
	t->check_failures++;
	bool new_reason = strcmp(t->reason, why) != 0;
	snprintf(t->reason, sizeof(t->reason), "%s", why);
	compute_state(t);
	/* once per change of state (or of reason), not at every check */
	if (t->rd && (was_up || before != TS_DOWN || new_reason))
		log_warn("%s %s:%d of database \"%s\" is down: %s (next check in %.1f s)",
			 is_primary(t) ? "primary" : "host", t->host, t->port, t->rd->db->name, why,
			 (double)t->backoff / USEC);
	else
		log_debug("check of %s:%d failed: %s", t->host, t->port, why);
	if (t->rd) {
		elect(t->rd);
		recompute_all(t->rd);
	}
}

/* A check's answer: in recovery or not, and the WAL position. */
static void check_succeeded(struct route_target *t, bool in_recovery, uint64_t lsn)
{
	bool was_up = t->up;
	enum tstate before = t->state;
	t->in_recovery = in_recovery;
	if (t->lsn) {
		t->prev_lsn = t->lsn;
		t->prev_seq = t->seq;
	}
	t->lsn = lsn;
	t->seq = t->sent_seq;
	t->phase = PH_IDLE;
	t->backoff = 0;
	t->last_check = now_usec();
	t->forced_down = false;
	t->up = true;
	t->reason[0] = '\0';
	if (!t->rd)
		return;
	struct route_db *rd = t->rd;
	elect(rd);
	compute_state(t);
	if (is_primary(t)) {
		if (!was_up)
			log_info("primary %s:%d of database \"%s\" answers checks again", t->host, t->port, rd->db->name);
		recompute_all(rd); /* the replicas' lag is measured against this */
		return;
	}
	if (before != t->state)
		log_info("%s %s:%d of database \"%s\" is %s (lag %lld bytes)", in_recovery ? "replica" : "host",
			 t->host, t->port, rd->db->name, tstate_names[t->state], t->lag);
	ryw_positions_changed(rd->db);
}

/*
 * Who is the primary of a host list. One host not in recovery: that one.
 * Two or more: none, until one remains (never two primaries). None: the
 * current one stays while its checks fail (a restart, a network blip), and
 * goes once a good check shows it in recovery (demoted).
 */
static void elect(struct route_db *rd)
{
	if (!rd->auto_roles)
		return;
	struct route_target *cand = NULL, *cur = rd->primary, *next = cur;
	int n = 0;
	struct strbuf names;
	strbuf_init(&names);
	for (int i = 0; i < rd->n; i++) {
		struct route_target *t = rd->t[i];
		if (t->up && !t->forced_down && !t->in_recovery) {
			cand = t;
			n++;
			strbuf_printf(&names, "%s%s:%d", n > 1 ? ", " : "", t->host, t->port);
		}
	}
	if (n == 1)
		next = cand;
	else if (n >= 2)
		next = NULL;
	else if (cur && cur->up && cur->in_recovery)
		next = NULL;
	if (n >= 2 && !rd->split)
		log_warn("database \"%s\": %d hosts claim to be the primary (%s): writes wait until only one does", rd->db->name,
			 n, names.data ? names.data : "");
	rd->split = n >= 2;
	strbuf_free(&names);
	if (next == cur)
		return;
	rd->primary = next;
	if (next)
		log_info("database \"%s\": the primary is now %s:%d%s%s", rd->db->name, next->host, next->port,
			 cur ? ", was " : "", cur ? cur->host : "");
	else
		log_warn("database \"%s\": no primary%s: writes wait (up to query_wait_timeout)", rd->db->name,
			 rd->split ? " while two hosts claim the role" : " (it was demoted)");
	if (next)
		next->forced_down = false;
	pool_primary_moved(rd->db, "the primary moved to another host");
}

/* ---- checks over libpq (replica_check_user) ---- */

static void check_event(evutil_socket_t fd, short what, void *arg);

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
		check_failed(t, PQerrorMessage(t->conn));
		return;
	}
	t->phase = PH_QUERYING;
	t->phase_started = now_usec();
	t->sent_seq = ++sample_seq;
	int f = PQflush(t->conn);
	if (f < 0) {
		check_failed(t, PQerrorMessage(t->conn));
		return;
	}
	watch(t, (short)(f ? (EV_READ | EV_WRITE) : EV_READ));
}

static void read_result(struct route_target *t)
{
	if (!PQconsumeInput(t->conn)) {
		check_failed(t, PQerrorMessage(t->conn));
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
		check_failed(t, err);
	else
		check_succeeded(t, rec, lsn);
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
			check_failed(t, PQerrorMessage(t->conn));
			return;
		}
	}
	if (t->phase == PH_QUERYING) {
		if (what & EV_WRITE) {
			int f = PQflush(t->conn);
			if (f < 0) {
				check_failed(t, PQerrorMessage(t->conn));
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
		check_failed(t, "could not resolve the host name");
		return;
	}
	const char *keys[18], *vals[18];
	int n = 0;
	char port[16], timeout[16];
	snprintf(port, sizeof(port), "%d", t->port);
	usec_t period = S()->replica_check_period > 0 ? S()->replica_check_period : 2 * USEC;
	snprintf(timeout, sizeof(timeout), "%lld", (long long)(period / USEC) + 2);
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
		check_failed(t, t->conn ? PQerrorMessage(t->conn) : "out of memory");
		return;
	}
	PQsetnonblocking(t->conn, 1);
	t->phase = PH_CONNECTING;
	t->phase_started = now_usec();
	watch(t, EV_WRITE);
}

/* ---- checks over a pool's check connection ---- */

/* The pool whose login the check uses: of a user who logged in to this
 * database (best: one whose pool has connected), towards this host. */
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
	if (!best && db->cfg->user)
		/* every pool of the database logs in as its user= */
		return pool_get_target(db, user_find_or_add(db->cfg->user), t);
	return best ? pool_get_target(db, best->user, t) : NULL;
}

static void send_health(struct route_target *t)
{
	t->row_seen = false;
	if (!server_own_query(t->checker, health_sql, RQ_SIDE)) {
		check_failed(t, "could not send the check query");
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
	if (p->next_launch && now_usec() < p->next_launch)
		return; /* its logins fail: try again with the pool's own retry */
	t->checker = server_launch_checker(p, t);
	if (!t->checker) {
		check_failed(t, "out of memory");
		return;
	}
	t->phase = PH_CONNECTING;
	t->phase_started = now_usec();
}

void route_checker_ready(struct server *s, struct route_target *t)
{
	if (t->checker != s || t->phase != PH_CONNECTING)
		return;
	send_health(t);
}

bool route_health_row(struct route_target *t, const struct pmsg *m)
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

void route_health_done(struct route_target *t)
{
	if (t->phase != PH_QUERYING)
		return; /* it failed already */
	if (!t->row_seen)
		check_failed(t, "the check query returned no row");
	else
		check_succeeded(t, t->row_recovery, t->row_lsn);
}

void route_health_error(struct route_target *t, const char *msg)
{
	if (t->phase == PH_QUERYING)
		check_failed(t, msg);
}

void route_checker_gone(struct route_target *t, const char *why)
{
	t->checker = NULL;
	if (t->phase != PH_IDLE)
		check_failed(t, why);
}

/* ---- the timer ---- */

static void check_start(struct route_target *t)
{
	usec_t now = now_usec();
	usec_t period = S()->replica_check_period > 0 ? S()->replica_check_period : 2 * USEC;
	usec_t limit = period * 2 > 3 * USEC ? period * 2 : 3 * USEC;
	if (t->phase != PH_IDLE) {
		if (now - t->phase_started > limit)
			check_failed(t, "the check took too long");
		return;
	}
	if (now < t->next_try)
		return;
	const char *cu = S()->replica_check_user;
	if (cu && *cu) {
		if (t->checker)
			check_stop(t); /* the setting was turned on */
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

static bool readable(const struct route_target *t);

/* The position every readable replica has replayed; 0 when none is. */
static uint64_t min_replay(const struct route_db *rd)
{
	uint64_t m = 0;
	for (int i = 0; i < rd->n; i++) {
		const struct route_target *t = rd->t[i];
		if (readable(t) && (!m || t->lsn < m))
			m = t->lsn;
	}
	return m;
}

static void check_all(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	struct list *ln;
	list_for_each(ln, &all_dbs) {
		struct route_db *rd = container_of(ln, struct route_db, node);
		for (int i = 0; i < rd->n; i++)
			check_start(rd->t[i]);
		ryw_gc(rd->db, min_replay(rd));
	}
	route_start(); /* re-arm: the period may have changed on reload */
}

void route_start(void)
{
	usec_t period = S()->replica_check_period > 0 ? S()->replica_check_period : 2 * USEC;
	struct timeval tv = { (time_t)(period / USEC), (suseconds_t)(period % USEC) };
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

void route_probe(struct database *db)
{
	/* a read waits for a replica to replay a commit: ask the readable
	 * ones where they are now, at most once per period below */
	struct route_db *rd = db->route;
	if (!rd)
		return;
	usec_t now = now_usec();
	for (int i = 0; i < rd->n; i++) {
		struct route_target *t = rd->t[i];
		if (!readable(t) || t->phase != PH_IDLE || now - t->last_probe < RYW_PROBE_USEC)
			continue;
		t->last_probe = now;
		if (t->checker)
			send_health(t);
		else if (t->conn && PQstatus(t->conn) == CONNECTION_OK)
			send_query(t);
	}
}

uint64_t route_highest_lsn(const struct database *db)
{
	uint64_t m = 0;
	const struct route_db *rd = db->route;
	for (int i = 0; rd && i < rd->n; i++)
		if (rd->t[i]->lsn > m)
			m = rd->t[i]->lsn;
	return m;
}

void route_kick(struct database *db)
{
	/* a first client of a database whose hosts were never checked (they
	 * had no login to check with): check now, not a period later */
	if (!check_started || !db->route)
		return;
	struct timeval soon = { 0, 1000 };
	evtimer_add(&check_ev, &soon);
}

void route_stop(void)
{
	if (check_started)
		event_del(&check_ev);
	check_started = false;
	struct list *ln;
	list_for_each(ln, &all_dbs) {
		struct route_db *rd = container_of(ln, struct route_db, node);
		for (int i = 0; i < rd->n; i++)
			check_stop(rd->t[i]);
	}
}

void route_target_down(struct route_target *t, const char *why)
{
	if (!t)
		return;
	char buf[256];
	clean_reason(why, buf, sizeof(buf));
	snprintf(t->reason, sizeof(t->reason), "%s", buf);
	if (!t->forced_down)
		log_warn("%s %s:%d%s%s%s leaves the rotation: %s", is_primary(t) ? "primary" : "replica", t->host,
			 t->port, t->rd ? " of database \"" : "", t->rd ? t->rd->db->name : "", t->rd ? "\"" : "", buf);
	t->forced_down = true;
	t->up = false;
	t->state = TS_DOWN;
	t->check_failures++;
	t->last_check = now_usec();
	/* the check connection is as suspect as the servers: start afresh */
	check_stop(t);
	t->next_try = 0;
	/* clients waiting for it go elsewhere; its idle servers are likely dead */
	pool_target_down(t);
	if (t->rd)
		elect(t->rd);
}

void route_count(struct pool *p)
{
	if (p->target)
		p->target->transactions++;
}

struct route_target *route_write_target(const struct database *db)
{
	return db->route ? db->route->primary : NULL;
}

bool route_has_primary(const struct database *db)
{
	return !db->route || db->route->primary;
}

/* ---- routing ---- */

static bool session_read_only(const struct client *c)
{
	const struct istr *v = c->params ? c->params->v[P_DEFAULT_TRANSACTION_READ_ONLY] : NULL;
	return v && (strcasecmp(v->s, "on") == 0 || strcasecmp(v->s, "true") == 0 || strcmp(v->s, "1") == 0);
}

/* read_routing = auto, extended protocol: the whole group must be in the
 * buffer already, run one statement, and that statement must be a read. */
static bool group_is_read(struct client *c)
{
	size_t off = 0;
	struct pmsg m;
	int executes = 0;
	bool read = false, known = false;
	while (sbuf_peek(&c->sb, &off, &m)) {
		switch (m.type) {
		case FE_PARSE: {
			struct msg_parse mp;
			if (!proto_parse_parse(&m, &mp))
				return false;
			read = sql_is_read(mp.query, mp.query_len);
			known = true;
			break;
		}
		case FE_BIND: {
			struct msg_bind b;
			if (!proto_parse_bind(&m, &b))
				return false;
			if (!known) {
				size_t len;
				const char *q = prep_client_stmt_text(c, b.stmt, &len);
				if (!q)
					return false;
				read = sql_is_read(q, len);
				known = true;
			}
			break;
		}
		case FE_EXECUTE:
			executes++;
			break;
		case FE_DESCRIBE:
		case FE_CLOSE:
		case FE_FLUSH:
			break;
		case FE_SYNC:
			return known && read && executes == 1;
		default:
			return false;
		}
		if (!read && known)
			return false;
	}
	return false; /* the group is not all here yet */
}

static bool readable(const struct route_target *t)
{
	return !is_primary(t) && t->role != TR_PRIMARY && t->state == TS_HEALTHY && !t->forced_down;
}

/* The next readable replica, round-robin, that has replayed floor. */
static struct route_target *pick_healthy(struct route_db *rd, uint64_t floor)
{
	for (int k = 0; k < rd->n; k++) {
		struct route_target *t = rd->t[(rd->rr + (unsigned)k) % (unsigned)rd->n];
		if (readable(t) && t->lsn >= floor) {
			rd->rr = (rd->rr + (unsigned)k + 1) % (unsigned)rd->n;
			return t;
		}
	}
	return NULL;
}

bool route_caught_up(const struct database *db, uint64_t floor)
{
	const struct route_db *rd = db->route;
	for (int i = 0; rd && i < rd->n; i++)
		if (readable(rd->t[i]) && rd->t[i]->lsn >= floor)
			return true;
	return false;
}

/* A transaction that may write goes to the primary: with read_your_writes,
 * its commit position is asked for when it ends. */
static struct pool *to_primary(struct client *c)
{
	ryw_forget(c); /* a read held before a reload changed the rules */
	ryw_note_write(c);
	return c->pool;
}

/* A read: the next healthy replica, one that has replayed what the
 * client's scope committed (read_your_writes), or a wait for one. */
static struct route_target *pick_read(struct client *c, struct route_db *rd, bool *hold)
{
	bool pending;
	if (ryw_mode(c) == RYW_OFF) {
		ryw_forget(c);
		return pick_healthy(rd, 0);
	}
	uint64_t floor = ryw_floor(c, &pending);
	struct route_target *t = pending ? NULL : pick_healthy(rd, floor);
	if (t) {
		t->ryw_reads++;
		ryw_routed(c, RYW_REPLICA);
		return t;
	}
	if (!pick_healthy(rd, 0)) {
		ryw_forget(c); /* no replica at all: the usual fallback */
		return NULL;
	}
	if (!ryw_wait_expired(c)) {
		*hold = true;
		return NULL;
	}
	ryw_routed(c, RYW_PRIMARY);
	return NULL;
}

struct pool *route_pick(struct client *c, const struct pmsg *m, const char *text, size_t tlen,
			bool *replica, bool *hold, const char **err)
{
	struct pool *home = c->pool;
	struct route_db *rd = c->db->route;
	*replica = false;
	*hold = false;
	*err = NULL;
	c->ryw_write = false;
	if (c->route_primary) {
		c->route_primary = false;
		return to_primary(c);
	}
	if (!rd || rd->n < 2)
		return home;
	int mode = db_read_routing(g.cfg, c->db->cfg);
	if (mode == RR_OFF || pool_mode_of(home, c->user) == POOL_SESSION) {
		ryw_forget(c);
		return home;
	}
	bool ro;
	if (text) {
		enum begin_mode bm = sql_begin_mode(text, tlen);
		if (bm == BM_READ_WRITE)
			return to_primary(c);
		if (bm == BM_READ_ONLY)
			ro = true;
		else if (bm == BM_BEGIN)
			ro = session_read_only(c);
		else
			ro = session_read_only(c) ||
			     (mode == RR_AUTO && (m->type == FE_QUERY ? sql_is_read(text, tlen) : group_is_read(c)));
	} else {
		ro = session_read_only(c) || (mode == RR_AUTO && m->type == FE_BIND && group_is_read(c));
	}
	if (!ro)
		return to_primary(c);
	struct route_target *t = pick_read(c, rd, hold);
	if (*hold)
		return NULL;
	if (!t && ryw_mode(c) != RYW_OFF && pick_healthy(rd, 0))
		return home; /* replicas are healthy, but none caught up in time */
	if (!t) {
		if (S()->replica_fallback == RF_ERROR) {
			*err = "no healthy replica (replica_fallback = error)";
			return NULL;
		}
		return home;
	}
	*replica = true;
	return pool_get_target(c->db, home->user, t);
}

/* ---- reporting ---- */

const char *route_pool_target_name(const struct pool *p)
{
	static char buf[300];
	if (!p->target)
		return "primary";
	snprintf(buf, sizeof(buf), "%s:%d", p->target->host, p->target->port);
	return buf;
}

static void fill_info(const struct route_db *rd, const struct route_target *t, struct route_host_info *out)
{
	out->database = rd->db->name;
	out->host = t->host;
	out->port = t->port;
	out->role = is_primary(t) ? "primary" : (t->up && t->in_recovery) || t->role == TR_REPLICA ? "replica"
					      : t->up ? "primary_candidate" : "unknown";
	out->state = tstate_names[t->forced_down ? TS_DOWN : t->state];
	out->lag_bytes = t->lag;
	out->transactions = t->transactions;
	out->ryw_reads = t->ryw_reads;
	out->last_check = t->last_check;
	out->check_failures = t->check_failures;
	out->reason = t->reason[0] ? t->reason : (rd->split && !t->in_recovery && t->up)
							 ? "another host also claims to be the primary: writes wait"
							 : "";
	out->is_primary = is_primary(t);
}

bool route_host_info(int i, bool replicas_only, struct route_host_info *out)
{
	struct list *ln;
	list_for_each(ln, &all_dbs) {
		struct route_db *rd = container_of(ln, struct route_db, node);
		for (int k = 0; k < rd->n; k++) {
			struct route_target *t = rd->t[k];
			if (replicas_only && (is_primary(t) || t->role == TR_PRIMARY))
				continue;
			if (i-- == 0) {
				fill_info(rd, t, out);
				return true;
			}
		}
	}
	return false;
}
