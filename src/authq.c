/*
 * auth_query: a client's secret looked up in Postgres (PgBouncer's
 * auth_user + auth_query), for users that are not in auth_file.
 *
 * Owns: the lookups in flight. One lookup per (database, user) at a time,
 * shared by every client waiting for it, over libpq's async API inside the
 * event loop (the host name is resolved by dns.c first, so libpq never
 * blocks). The answer is kept on the user for AUTHQ_TTL, so a burst of
 * logins costs one query. Must not authenticate: waiting clients go back
 * to auth_begin with the secret in place (or none, which fails them with
 * the same words as a wrong password).
 */
#include "autoconf.h"

#include "authq.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "client.h"
#include "dns.h"
#include "log.h"
#include "pool.h"
#include "tls.h"
#include "util/list.h"
#include "util/strbuf.h"

#define AUTHQ_TIMEOUT (15 * USEC)

enum aq_phase { AQ_RESOLVING, AQ_CONNECTING, AQ_QUERYING };

struct lookup {
	struct list node;
	char *db;                    /* pgtide database name */
	char *user;
	enum aq_phase phase;
	PGconn *conn;
	struct event ev, timer;
	bool ev_added;
	uint32_t *waiters;           /* client ids: a client may leave meanwhile */
	int nwait;
	/* what the connection needs, copied: a reload may free the config */
	char *host, *dbname, *auth_user, *password, *query;
	int port;
	char addr[64], port_s[16], timeout_s[16];
};

static struct list lookups = LIST_INIT(lookups);

static const struct db_config *db_config_for(const char *name)
{
	struct database *db = database_find(name);
	if (db)
		return db->cfg;
	const struct db_config *dc = config_find_db(g.cfg, name);
	return dc ? dc : config_find_db(g.cfg, "*");
}

static const char *auth_user_of(const struct db_config *dc)
{
	const char *u = dc && dc->auth_user && *dc->auth_user ? dc->auth_user : S()->auth_user;
	return u && *u ? u : NULL;
}

/* Where the lookup runs: the client's database, or the one auth_dbname
 * names (the database line's, else the global setting), so that one
 * database holds the lookup function for all. NULL: the login failed. */
static const struct db_config *auth_db_config(struct client *c, const struct db_config *dc)
{
	const char *name = dc->auth_dbname && *dc->auth_dbname ? dc->auth_dbname : S()->auth_dbname;
	if (!name || !*name)
		return dc;
	struct database *db = database_find(name);
	const struct db_config *adc = db && !db->removed ? db->cfg : config_find_db(g.cfg, name);
	if (!adc || strcmp(name, "*") == 0) {
		log_warn("authentication database \"%s\" is not configured (auth_dbname)", name);
		client_login_fail(c, "F0000", "bouncer config error: authentication database \"%s\" is not configured",
				  name);
		return NULL;
	}
	if (db && db->disabled) {
		client_login_fail(c, "57P03", "authentication database \"%s\" is disabled", name);
		return NULL;
	}
	return adc;
}

bool authq_wanted(struct client *c)
{
	struct login_state *l = c->login;
	if (l->authq_done)
		return false;
	const struct db_config *dc = db_config_for(l->db_name);
	if (!dc || !auth_user_of(dc))
		return false;
	struct user *u = user_find(l->user_name);
	if (u && u->in_auth_file)
		return false;
	return !u || !u->secret || !u->authq_time || now_usec() - u->authq_time > AUTHQ_TTL;
}

static void lookup_free(struct lookup *q)
{
	list_del(&q->node);
	if (q->phase == AQ_RESOLVING)
		dns_cancel(q);
	if (q->ev_added)
		event_del(&q->ev);
	event_del(&q->timer);
	if (q->conn)
		PQfinish(q->conn);
	free(q->waiters);
	free(q->db);
	free(q->user);
	free(q->host);
	free(q->dbname);
	free(q->auth_user);
	if (q->password)
		memset(q->password, 0, strlen(q->password));
	free(q->password);
	free(q->query);
	free(q);
}

/* Hand the answer to every client still waiting, then go away. */
static void lookup_done(struct lookup *q, const char *secret, bool found, const char *err)
{
	if (err) {
		log_warn("auth_query for user \"%s\" in database \"%s\" failed: %s", q->user, q->db, err);
	} else if (found) {
		struct user *u = user_find_or_add(q->user);
		if (!u->in_auth_file) {
			user_set_secret(u, secret);
			u->authq_time = now_usec();
		}
	} else {
		/* Not found: forget an earlier answer, the role may be gone. */
		struct user *u = user_find(q->user);
		if (u && !u->in_auth_file && u->secret) {
			user_set_secret(u, NULL);
			u->authq_time = 0;
		}
	}
	uint32_t *ids = q->waiters;
	int n = q->nwait;
	q->waiters = NULL;
	q->nwait = 0;
	lookup_free(q);
	for (int i = 0; i < n; i++) {
		struct client *c = client_by_id(ids[i]);
		if (!c || c->state != CL_LOGIN || !c->login || !c->login->authq_waiting)
			continue;
		c->login->authq_waiting = false;
		c->login->authq_done = true;
		if (err) {
			client_login_fail(c, "08006", "could not look up the password for user \"%s\"", c->login->user_name);
			continue;
		}
		if (auth_begin(c))
			sbuf_continue(&c->sb);
	}
	free(ids);
}

static void on_event(evutil_socket_t fd, short what, void *arg);

static void rewatch(struct lookup *q, short what)
{
	if (q->ev_added)
		event_del(&q->ev);
	event_assign(&q->ev, g.base, PQsocket(q->conn), what, on_event, q);
	event_add(&q->ev, NULL);
	q->ev_added = true;
}

static void read_answer(struct lookup *q)
{
	if (!PQconsumeInput(q->conn)) {
		lookup_done(q, NULL, false, PQerrorMessage(q->conn));
		return;
	}
	if (PQisBusy(q->conn)) {
		rewatch(q, EV_READ);
		return;
	}
	PGresult *r;
	char err[256] = "";
	char *secret = NULL;
	bool found = false;
	while ((r = PQgetResult(q->conn))) {
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			snprintf(err, sizeof(err), "%s", PQresultErrorMessage(r));
		} else if (PQnfields(r) < 2) {
			snprintf(err, sizeof(err), "auth_query must return two columns (user name, password)");
		} else if (PQntuples(r) > 1) {
			snprintf(err, sizeof(err), "auth_query returned more than one row");
		} else if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 1)) {
			free(secret);
			secret = xstrdup(PQgetvalue(r, 0, 1));
			found = *secret != '\0';
		}
		PQclear(r);
	}
	lookup_done(q, secret, found, *err ? err : NULL);
	if (secret) {
		memset(secret, 0, strlen(secret));
		free(secret);
	}
}

static void send_query(struct lookup *q)
{
	const char *params[1] = { q->user };
	q->phase = AQ_QUERYING;
	if (!PQsendQueryParams(q->conn, q->query, 1, NULL, params, NULL, NULL, 0)) {
		lookup_done(q, NULL, false, PQerrorMessage(q->conn));
		return;
	}
	int f = PQflush(q->conn);
	if (f < 0) {
		lookup_done(q, NULL, false, PQerrorMessage(q->conn));
		return;
	}
	rewatch(q, (short)(f ? EV_READ | EV_WRITE : EV_READ));
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
	struct lookup *q = arg;
	(void)fd;
	q->ev_added = false;
	if (q->phase == AQ_CONNECTING) {
		switch (PQconnectPoll(q->conn)) {
		case PGRES_POLLING_READING:
			rewatch(q, EV_READ);
			return;
		case PGRES_POLLING_WRITING:
			rewatch(q, EV_WRITE);
			return;
		case PGRES_POLLING_OK:
			send_query(q);
			return;
		default:
			lookup_done(q, NULL, false, PQerrorMessage(q->conn));
			return;
		}
	}
	if (what & EV_WRITE) {
		int f = PQflush(q->conn);
		if (f < 0) {
			lookup_done(q, NULL, false, PQerrorMessage(q->conn));
			return;
		}
		if (f) {
			rewatch(q, EV_READ | EV_WRITE);
			return;
		}
	}
	read_answer(q);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	lookup_done(arg, NULL, false, "timed out");
}

static void resolved(void *arg, int err, const struct sockaddr *sa, socklen_t len)
{
	struct lookup *q = arg;
	(void)len;
	if (err) {
		q->phase = AQ_CONNECTING; /* nothing to cancel any more */
		lookup_done(q, NULL, false, "could not resolve the host name");
		return;
	}
	const char *keys[20], *vals[20];
	int n = 0;
	if (sa->sa_family == AF_UNIX) {
		keys[n] = "host", vals[n++] = q->host;
		keys[n] = "sslmode", vals[n++] = "disable";
	} else {
		const void *a = sa->sa_family == AF_INET ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
							 : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
		inet_ntop(sa->sa_family, a, q->addr, sizeof(q->addr));
		keys[n] = "hostaddr", vals[n++] = q->addr;
		n = tls_libpq_params(keys, vals, n, q->host);
	}
	keys[n] = "port", vals[n++] = q->port_s;
	keys[n] = "dbname", vals[n++] = q->dbname;
	keys[n] = "user", vals[n++] = q->auth_user;
	if (q->password)
		keys[n] = "password", vals[n++] = q->password;
	keys[n] = "connect_timeout", vals[n++] = q->timeout_s;
	keys[n] = "application_name", vals[n++] = "pgtide auth_query";
	keys[n] = NULL;
	vals[n] = NULL;
	q->phase = AQ_CONNECTING;
	q->conn = PQconnectStartParams(keys, vals, 0);
	if (!q->conn || PQstatus(q->conn) == CONNECTION_BAD) {
		lookup_done(q, NULL, false, q->conn ? PQerrorMessage(q->conn) : "out of memory");
		return;
	}
	PQsetnonblocking(q->conn, 1);
	rewatch(q, EV_WRITE);
}

static void start_resolve(void *arg)
{
	struct lookup *q = arg;
	struct list *ln;
	list_for_each(ln, &lookups)
		if (ln == &q->node) {
			dns_resolve(q->host, q->port, resolved, q);
			return;
		}
}

bool authq_start(struct client *c)
{
	struct login_state *l = c->login;
	struct list *ln;
	list_for_each(ln, &lookups) {
		struct lookup *q = container_of(ln, struct lookup, node);
		if (strcmp(q->db, l->db_name) == 0 && strcmp(q->user, l->user_name) == 0) {
			q->waiters = xrealloc(q->waiters, sizeof(*q->waiters) * (size_t)(q->nwait + 1));
			q->waiters[q->nwait++] = c->id;
			l->authq_waiting = true;
			return true;
		}
	}
	const struct db_config *dc = auth_db_config(c, db_config_for(l->db_name));
	if (!dc)
		return false;
	const char *au = auth_user_of(db_config_for(l->db_name)); /* the client's database's */
	struct lookup *q = xcalloc(1, sizeof(*q));
	q->db = xstrdup(l->db_name);
	q->user = xstrdup(l->user_name);
	q->host = xstrdup(dc->primary.host ? dc->primary.host : "127.0.0.1");
	q->port = dc->primary.port ? dc->primary.port : 5432;
	q->dbname = xstrdup(dc->dbname ? dc->dbname : l->db_name);
	q->auth_user = xstrdup(au);
	/* auth_user's password: the database line's when it logs in as that
	 * user, else a plain-text auth_file entry; else none (trust, .pgpass) */
	const char *pw = NULL;
	if (dc->user && dc->password && strcmp(dc->user, au) == 0)
		pw = dc->password;
	struct user *u = user_find(au);
	if (!pw && u && u->kind == SECRET_PLAIN)
		pw = u->secret;
	q->password = pw ? xstrdup(pw) : NULL;
	const struct db_config *cdc = db_config_for(l->db_name);
	const char *sql = cdc->auth_query && *cdc->auth_query ? cdc->auth_query : S()->auth_query;
	q->query = xstrdup(sql);
	snprintf(q->port_s, sizeof(q->port_s), "%d", q->port);
	snprintf(q->timeout_s, sizeof(q->timeout_s), "%lld", (long long)(AUTHQ_TIMEOUT / USEC));
	q->waiters = xmalloc(sizeof(*q->waiters));
	q->waiters[0] = c->id;
	q->nwait = 1;
	q->phase = AQ_RESOLVING;
	list_add_tail(&lookups, &q->node);
	evtimer_assign(&q->timer, g.base, on_timeout, q);
	struct timeval tv = { (time_t)(AUTHQ_TIMEOUT / USEC), 0 };
	evtimer_add(&q->timer, &tv);
	l->authq_waiting = true;
	client_log(c, LV_DEBUG, "looking up the password with auth_query as \"%s\"", au);
	/* from the deferred queue: an answer must not arrive inside the
	 * caller (auth_begin, inside the client's startup handler) */
	defer_call(start_resolve, q);
	return true;
}

void authq_shutdown(void)
{
	while (!list_empty(&lookups))
		lookup_free(container_of(lookups.next, struct lookup, node));
}
