/*
 * Read routing and replica health.
 *
 * Owns: struct route_db (a database's replicas and its round-robin
 * position) and struct route_target (one replica, or the primary's own
 * check, with its health). Health checks use libpq's asynchronous API,
 * driven by libevent on the check connection's socket: names are resolved
 * first through dns.c and libpq is given the address, so nothing blocks.
 *
 * A replica is in the rotation while its last check succeeded, it is in
 * recovery, and its replay position is within replica_max_lag bytes of the
 * primary's current WAL position. A server of a replica that fails to
 * connect or dies takes it out at once, until its next good check.
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
#include "server.h"
#include "tls.h"
#include "sqlclass.h"
#include "util/strbuf.h"

enum tstate { TS_UNKNOWN, TS_HEALTHY, TS_LAGGING, TS_DOWN, TS_NOT_IN_RECOVERY };
static const char *const tstate_names[] = { "unknown", "healthy", "lagging", "down", "not_in_recovery" };

enum phase { PH_IDLE, PH_RESOLVING, PH_CONNECTING, PH_QUERYING };

struct route_target {
	struct route_db *rd;    /* NULL once removed from its database */
	char *host;
	int port;
	int refs;
	bool primary;           /* the primary's own check: gives the WAL position */
	enum tstate state;
	bool forced_down;       /* a server failed: out until the next good check */
	long long lag;          /* -1: unknown */
	uint64_t lsn;
	/* Order of the samples: a replica's position is compared with the
	 * primary's last position sampled before it, never after, or a burst
	 * of writes between two samples would look like lag. */
	uint64_t seq, sent_seq;
	uint64_t prev_lsn, prev_seq; /* the primary's sample before lsn */
	bool in_recovery;
	usec_t last_check;
	uint64_t transactions;
	/* the check in progress */
	enum phase phase;
	usec_t phase_started;
	usec_t next_try;
	usec_t backoff;
	PGconn *conn;
	struct event ev;
	bool ev_added;
	char addr[INET6_ADDRSTRLEN + 1];
};

struct route_db {
	struct list node;
	struct database *db;
	struct route_target *primary;
	struct route_target **replicas;
	int n;
	unsigned rr;
};

static struct list all_dbs = LIST_INIT(all_dbs);
static uint64_t sample_seq;
static struct event check_ev;
static bool check_started;

/* ---- targets ---- */

static struct route_target *target_new(struct route_db *rd, const char *host, int port, bool primary)
{
	struct route_target *t = xcalloc(1, sizeof(*t));
	t->rd = rd;
	t->host = xstrdup(host);
	t->port = port;
	t->refs = 1;
	t->primary = primary;
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

void route_db_update(struct database *db)
{
	const struct db_config *dc = db->cfg;
	struct route_db *rd = db->route;
	if (!rd && dc->n_replicas == 0)
		return;
	if (!rd) {
		rd = xcalloc(1, sizeof(*rd));
		rd->db = db;
		list_add_tail(&all_dbs, &rd->node);
		db->route = rd;
	}
	const char *phost = dc->primary.host && *dc->primary.host ? dc->primary.host
				 : (*S()->unix_socket_dir ? S()->unix_socket_dir : "/tmp");
	if (!rd->primary || strcmp(rd->primary->host, phost) != 0 || rd->primary->port != dc->primary.port) {
		if (rd->primary) {
			rd->primary->rd = NULL;
			route_target_unref(rd->primary);
		}
		rd->primary = target_new(rd, phost, dc->primary.port, true);
	}
	/* keep targets that stay (their health and counters), add new ones */
	struct route_target **nr = xcalloc((size_t)(dc->n_replicas ? dc->n_replicas : 1), sizeof(*nr));
	for (int i = 0; i < dc->n_replicas; i++) {
		for (int j = 0; j < rd->n; j++) {
			struct route_target *o = rd->replicas[j];
			if (o && strcmp(o->host, dc->replicas[i].host) == 0 && o->port == dc->replicas[i].port) {
				nr[i] = o;
				rd->replicas[j] = NULL;
				break;
			}
		}
		if (!nr[i])
			nr[i] = target_new(rd, dc->replicas[i].host, dc->replicas[i].port, false);
	}
	for (int j = 0; j < rd->n; j++) {
		struct route_target *o = rd->replicas[j];
		if (!o)
			continue;
		/* gone from the config: pools keep it until they let go */
		o->rd = NULL;
		check_stop(o);
		struct list *pn;
		list_for_each(pn, &db->pools) {
			struct pool *p = container_of(pn, struct pool, db_node);
			if (p->target == o)
				pool_reconnect_pool(p, "replica removed from the configuration");
		}
		route_target_unref(o);
	}
	free(rd->replicas);
	rd->replicas = nr;
	rd->n = dc->n_replicas;
}

void route_db_free(struct database *db)
{
	struct route_db *rd = db->route;
	if (!rd)
		return;
	for (int i = 0; i < rd->n; i++) {
		rd->replicas[i]->rd = NULL;
		route_target_unref(rd->replicas[i]);
	}
	if (rd->primary) {
		rd->primary->rd = NULL;
		route_target_unref(rd->primary);
	}
	free(rd->replicas);
	list_del(&rd->node);
	free(rd);
	db->route = NULL;
}

/* ---- health ---- */

static uint64_t parse_lsn(const char *s)
{
	unsigned long hi = 0, lo = 0;
	if (!s || sscanf(s, "%lX/%lX", &hi, &lo) != 2)
		return 0;
	return ((uint64_t)hi << 32) | lo;
}

static void compute_state(struct route_target *t)
{
	if (t->primary) {
		t->state = TS_HEALTHY; /* reachable; its replicas judge the rest */
		return;
	}
	struct route_target *p = t->rd ? t->rd->primary : NULL;
	if (t->forced_down || !t->conn) {
		t->state = TS_DOWN;
		return;
	}
	if (!t->in_recovery) {
		t->state = TS_NOT_IN_RECOVERY;
		t->lag = -1;
		return;
	}
	uint64_t plsn = 0;
	if (p && p->seq < t->seq)
		plsn = p->lsn;
	else if (p && p->prev_seq < t->seq)
		plsn = p->prev_lsn;
	else if (p && t->state != TS_UNKNOWN && t->state != TS_DOWN)
		return; /* no primary sample older than ours: judge at our next check */
	if (!p || !plsn || p->in_recovery || p->state == TS_DOWN) {
		t->lag = -1;
		t->state = TS_UNKNOWN;
		return;
	}
	t->lag = plsn > t->lsn ? (long long)(plsn - t->lsn) : 0;
	t->state = t->lag <= S()->replica_max_lag ? TS_HEALTHY : TS_LAGGING;
}

static void check_failed(struct route_target *t, const char *reason)
{
	/* reason is often libpq's error buffer, which check_stop() frees */
	char why[256];
	snprintf(why, sizeof(why), "%s", reason);
	size_t n = strlen(why);
	while (n && (why[n - 1] == '\n' || why[n - 1] == ' '))
		why[--n] = 0;
	enum tstate before = t->state;
	check_stop(t);
	usec_t period = S()->replica_check_period > 0 ? S()->replica_check_period : 2 * USEC;
	t->backoff = t->backoff ? t->backoff * 2 : period;
	if (t->backoff > 60 * USEC)
		t->backoff = 60 * USEC;
	t->next_try = now_usec() + t->backoff;
	t->last_check = now_usec();
	t->state = TS_DOWN;
	t->lag = -1;
	if (before != TS_DOWN && t->rd)
		log_warn("%s %s:%d of database \"%s\" is down: %s (next check in %.1f s)",
			 t->primary ? "primary" : "replica", t->host, t->port, t->rd->db->name, why,
			 (double)t->backoff / USEC);
	else
		log_debug("check of %s:%d failed: %s", t->host, t->port, why);
}

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
	static const char sql[] =
		"SELECT pg_catalog.pg_is_in_recovery(), CASE WHEN pg_catalog.pg_is_in_recovery() "
		"THEN pg_catalog.pg_last_wal_replay_lsn() ELSE pg_catalog.pg_current_wal_lsn() END";
	if (!PQsendQuery(t->conn, sql)) {
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
	bool ok = false;
	PGresult *r;
	char err[256] = "no result";
	while ((r = PQgetResult(t->conn))) {
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
			t->in_recovery = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
			if (t->primary && t->lsn) {
				t->prev_lsn = t->lsn;
				t->prev_seq = t->seq;
			}
			t->lsn = PQgetisnull(r, 0, 1) ? 0 : parse_lsn(PQgetvalue(r, 0, 1));
			t->seq = t->sent_seq;
			ok = true;
		} else {
			snprintf(err, sizeof(err), "%s", PQresultErrorMessage(r));
		}
		PQclear(r);
	}
	if (t->ev_added)
		event_del(&t->ev);
	t->ev_added = false;
	if (!ok) {
		check_failed(t, err);
		return;
	}
	enum tstate before = t->state;
	t->phase = PH_IDLE;
	t->backoff = 0;
	t->last_check = now_usec();
	t->forced_down = false;
	compute_state(t);
	if (t->primary) {
		/* the replicas' lag is measured against this */
		for (int i = 0; t->rd && i < t->rd->n; i++)
			if (t->rd->replicas[i]->conn && t->rd->replicas[i]->phase == PH_IDLE)
				compute_state(t->rd->replicas[i]);
		return;
	}
	if (before != t->state && t->rd)
		log_info("replica %s:%d of database \"%s\" is %s (lag %lld bytes)", t->host, t->port, t->rd->db->name,
			 tstate_names[t->state], t->lag);
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

/* Health checks log in as the database's user= (with its password=), else
 * as auth_user, else as postgres; a password comes from the database line
 * or from a plain-text auth_file entry. */
static void check_credentials(const struct route_target *t, const char **user, const char **password)
{
	const struct db_config *dc = t->rd->db->cfg;
	*user = dc->user ? dc->user : (S()->auth_user && *S()->auth_user ? S()->auth_user : "postgres");
	*password = dc->password;
	if (!*password) {
		struct user *u = user_find(*user);
		if (u && u->kind == SECRET_PLAIN)
			*password = u->secret;
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
	const char *user, *password;
	check_credentials(t, &user, &password);
	keys[n] = "port", vals[n++] = port;
	keys[n] = "dbname", vals[n++] = t->rd->db->cfg->dbname ? t->rd->db->cfg->dbname : t->rd->db->name;
	keys[n] = "user", vals[n++] = user;
	if (password)
		keys[n] = "password", vals[n++] = password;
	keys[n] = "connect_timeout", vals[n++] = timeout;
	keys[n] = "application_name", vals[n++] = "pgtide replica check";
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
}

static void check_all(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	struct list *ln;
	list_for_each(ln, &all_dbs) {
		struct route_db *rd = container_of(ln, struct route_db, node);
		if (!rd->n)
			continue;
		if (rd->primary)
			check_start(rd->primary);
		for (int i = 0; i < rd->n; i++)
			check_start(rd->replicas[i]);
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

void route_stop(void)
{
	if (check_started)
		event_del(&check_ev);
	check_started = false;
	struct list *ln;
	list_for_each(ln, &all_dbs) {
		struct route_db *rd = container_of(ln, struct route_db, node);
		if (rd->primary)
			check_stop(rd->primary);
		for (int i = 0; i < rd->n; i++)
			check_stop(rd->replicas[i]);
	}
}

void route_target_down(struct route_target *t, const char *why)
{
	if (!t || t->primary)
		return;
	if (!t->forced_down)
		log_warn("replica %s:%d leaves the rotation: %s", t->host, t->port, why);
	t->forced_down = true;
	t->state = TS_DOWN;
	/* the check connection is as suspect as the servers: start afresh */
	check_stop(t);
	t->next_try = 0;
	/* clients waiting for it go elsewhere; its idle servers are likely dead */
	struct list *pn, *ln, *tmp;
	list_for_each(pn, &g.pools) {
		struct pool *p = container_of(pn, struct pool, all_node);
		if (p->target != t)
			continue;
		list_for_each_safe(ln, tmp, &p->idle_servers)
			server_close(container_of(ln, struct server, node), "replica left the rotation");
		list_for_each_safe(ln, tmp, &p->waiting_clients) {
			struct client *c = container_of(ln, struct client, node);
			pool_stop_waiting(c);
			sbuf_continue(&c->sb); /* routed again when its request is seen */
		}
	}
}

void route_count(struct pool *p)
{
	if (p->target)
		p->target->transactions++;
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
		case 'P': {
			struct msg_parse mp;
			if (!proto_parse_parse(&m, &mp))
				return false;
			read = sql_is_read(mp.query, mp.query_len);
			known = true;
			break;
		}
		case 'B': {
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
		case 'E':
			executes++;
			break;
		case 'D':
		case 'C':
		case 'H':
			break;
		case 'S':
			return known && read && executes == 1;
		default:
			return false;
		}
		if (!read && known)
			return false;
	}
	return false; /* the group is not all here yet */
}

static struct route_target *pick_healthy(struct route_db *rd)
{
	for (int k = 0; k < rd->n; k++) {
		struct route_target *t = rd->replicas[(rd->rr + (unsigned)k) % (unsigned)rd->n];
		if (t->state == TS_HEALTHY && !t->forced_down) {
			rd->rr = (rd->rr + (unsigned)k + 1) % (unsigned)rd->n;
			return t;
		}
	}
	return NULL;
}

struct pool *route_pick(struct client *c, const struct pmsg *m, const char *text, size_t tlen,
			bool *replica, const char **err)
{
	struct pool *home = c->pool;
	struct route_db *rd = c->db->route;
	*replica = false;
	*err = NULL;
	if (c->route_primary) {
		c->route_primary = false;
		return home;
	}
	if (!rd || !rd->n)
		return home;
	int mode = db_read_routing(g.cfg, c->db->cfg);
	if (mode == RR_OFF || pool_mode_of(home, c->user) == POOL_SESSION)
		return home;
	bool ro;
	if (text) {
		enum begin_mode bm = sql_begin_mode(text, tlen);
		if (bm == BM_READ_WRITE)
			return home;
		if (bm == BM_READ_ONLY)
			ro = true;
		else if (bm == BM_BEGIN)
			ro = session_read_only(c);
		else
			ro = session_read_only(c) ||
			     (mode == RR_AUTO && (m->type == 'Q' ? sql_is_read(text, tlen) : group_is_read(c)));
	} else {
		ro = session_read_only(c) || (mode == RR_AUTO && m->type == 'B' && group_is_read(c));
	}
	if (!ro)
		return home;
	struct route_target *t = pick_healthy(rd);
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

bool route_replica_info(int i, struct route_replica_info *out)
{
	struct list *ln;
	list_for_each(ln, &all_dbs) {
		struct route_db *rd = container_of(ln, struct route_db, node);
		if (i < rd->n) {
			struct route_target *t = rd->replicas[i];
			out->database = rd->db->name;
			out->host = t->host;
			out->port = t->port;
			out->state = tstate_names[t->forced_down ? TS_DOWN : t->state];
			out->lag_bytes = t->lag;
			out->transactions = t->transactions;
			out->last_check = t->last_check;
			return true;
		}
		i -= rd->n;
	}
	return false;
}
