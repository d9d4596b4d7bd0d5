/*
 * Users, databases and pools, and the hand-over of servers to clients.
 *
 * Owns: the users and databases tables, struct pool and its lists, the
 * counting behind pool_size / reserve_pool / max_db_connections /
 * max_user_connections, and the FIFO of waiting clients. A server goes to
 * the longest-waiting client first; idle servers are reused most recently
 * released first (warm caches) unless server_round_robin is set.
 */
#include "autoconf.h"

#include "pool.h"

#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "auth.h"
#include "client.h"
#include "health.h"
#include "listen.h"
#include "log.h"
#include "route.h"
#include "ryw.h"
#include "release.h"
#include "server.h"
#include "schedule.h"
#include "session.h"
#include "util/strbuf.h"

static struct db_config *autodb_template;

static void kick_blocked_pools(struct pool *p);

/* tenant_xact_rate held a tenant of p, and schedule.c's timer says when it
 * may run again: serve the waiters that may go now. */
static void on_rate_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct pool *p = arg;
	if (sched_rate_timer(p))
		pool_serve_waiters(p);
}

static void check_admin_waits(void *arg)
{
	(void)arg;
	admin_check_waits();
}

static bool user_eq(const struct hnode *n, const void *key)
{
	return strcmp(container_of(n, struct user, hn)->name, key) == 0;
}

static bool db_eq(const struct hnode *n, const void *key)
{
	return strcmp(container_of(n, struct database, hn)->name, key) == 0;
}

void objects_init(void)
{
	htab_init(&g.users);
	htab_init(&g.databases);
	list_init(&g.pools);
}

struct user *user_find(const char *name)
{
	struct hnode *n = htab_find(&g.users, hash_str(name), user_eq, name);
	return n ? container_of(n, struct user, hn) : NULL;
}

struct user *user_find_or_add(const char *name)
{
	struct user *u = user_find(name);
	if (u)
		return u;
	u = xcalloc(1, sizeof(*u));
	u->name = xstrdup(name);
	u->pool_mode = -1;
	u->max_user_connections = -1;
	htab_insert(&g.users, &u->hn, hash_str(name));
	return u;
}

void user_set_secret(struct user *u, const char *secret)
{
	if (u->secret && secret && strcmp(u->secret, secret) == 0)
		return;
	free(u->secret);
	u->secret = secret ? xstrdup(secret) : NULL;
	u->kind = secret ? secret_kind_of(secret) : SECRET_NONE;
	u->have_client_key = false; /* learned keys belong to the old secret */
	if (u->kind == SECRET_SCRAM && !scram_parse_secret(secret, &u->scram)) {
		log_warn("user \"%s\": SCRAM secret in auth_file is malformed; treating as plain password", u->name);
		u->kind = SECRET_PLAIN;
	}
}

struct database *database_find(const char *name)
{
	struct hnode *n = htab_find(&g.databases, hash_str(name), db_eq, name);
	return n ? container_of(n, struct database, hn) : NULL;
}

static struct database *database_new(const char *name, struct db_config *cfg, bool autodb)
{
	struct database *db = xcalloc(1, sizeof(*db));
	db->name = xstrdup(name);
	db->cfg = cfg;
	db->autodb = autodb;
	db->last_used = now_usec();
	list_init(&db->pools);
	htab_insert(&g.databases, &db->hn, hash_str(name));
	return db;
}

/* Servers log in with these; a change means existing servers are stale. */
static bool db_conn_changed(const struct db_config *a, const struct db_config *b)
{
#define DIFF(f) ((a->f == NULL) != (b->f == NULL) || (a->f && strcmp(a->f, b->f) != 0))
	return DIFF(primary.host) || a->primary.port != b->primary.port || DIFF(dbname) || DIFF(user) ||
	       DIFF(password) || DIFF(client_encoding) || DIFF(datestyle) || DIFF(timezone) ||
	       DIFF(application_name) || DIFF(connect_query);
#undef DIFF
}

static void db_close_servers_later(struct database *db)
{
	struct list *pn;
	list_for_each(pn, &db->pools)
		pool_reconnect_pool(container_of(pn, struct pool, db_node), "database configuration changed");
}

static struct db_config *autodb_config(const char *name)
{
	struct db_config *c = db_config_dup(autodb_template);
	free(c->name);
	c->name = xstrdup(name);
	if (!c->dbname)
		c->dbname = xstrdup(name);
	return c;
}

/* A host left a database's configuration (or the database goes): its
 * check stops, and the pools that use it reconnect. */
static void host_gone(struct database *db, struct route_target *t)
{
	health_check_stop(t);
	struct list *pn;
	list_for_each(pn, &db->pools) {
		struct pool *p = container_of(pn, struct pool, db_node);
		if (p->target == t)
			pool_reconnect_pool(p, "host removed from the configuration");
	}
}

/* At exit the pools are gone already: only the checks stop. */
static void host_gone_at_exit(struct database *db, struct route_target *t)
{
	(void)db;
	health_check_stop(t);
}

/* Apply a database's hosts from its configuration, and act on route.c's
 * verdict. */
static void apply_hosts(struct database *db)
{
	if (route_db_update(db, host_gone))
		pool_primary_moved(db, "the database's primary host changed in the configuration");
}

void objects_apply_config(struct config *cfg, struct auth_entry *auth)
{
	/* users: auth_file entries, then [users] settings */
	size_t it;
	struct hnode *n, *next;
	for (n = htab_next(&g.users, NULL, &it); n; n = next) {
		next = htab_next(&g.users, n, &it);
		struct user *u = container_of(n, struct user, hn);
		u->in_auth_file = false;
		u->pool_mode = -1;
		u->max_user_connections = -1;
		istr_unref(u->tenant);
		u->tenant = NULL;
	}
	for (struct auth_entry *e = auth; e && e->user; e++) {
		struct user *u = user_find_or_add(e->user);
		user_set_secret(u, e->secret);
		u->in_auth_file = true;
	}
	for (n = htab_next(&g.users, NULL, &it); n; n = next) {
		next = htab_next(&g.users, n, &it);
		struct user *u = container_of(n, struct user, hn);
		if (!u->in_auth_file && u->secret) {
			user_set_secret(u, NULL); /* removed from auth_file, or an auth_query answer */
			u->authq_time = 0;
		}
	}
	for (int i = 0; i < cfg->n_users; i++) {
		const struct user_config *uc = cfg->users[i];
		struct user *u = user_find_or_add(uc->name);
		u->pool_mode = uc->pool_mode;
		u->max_user_connections = uc->max_user_connections;
		if (uc->tenant)
			u->tenant = istr_get(uc->tenant);
	}

	/* databases */
	for (n = htab_next(&g.databases, NULL, &it); n; n = next) {
		next = htab_next(&g.databases, n, &it);
		struct database *db = container_of(n, struct database, hn);
		if (!db->autodb)
			db->removed = true;
	}
	autodb_template = NULL;
	for (int i = 0; i < cfg->n_dbs; i++) {
		const struct db_config *dc = cfg->dbs[i];
		if (strcmp(dc->name, "*") == 0) {
			autodb_template = cfg->dbs[i];
			continue;
		}
		struct database *db = database_find(dc->name);
		struct db_config *copy = db_config_dup(dc);
		if (!copy->dbname)
			copy->dbname = xstrdup(dc->name);
		if (!db) {
			apply_hosts(database_new(dc->name, copy, false));
			continue;
		}
		if (db_conn_changed(db->cfg, copy))
			db_close_servers_later(db);
		db_config_free(db->cfg);
		db->cfg = copy;
		db->removed = false;
		db->autodb = false;
		apply_hosts(db);
	}
	for (n = htab_next(&g.databases, NULL, &it); n; n = next) {
		next = htab_next(&g.databases, n, &it);
		struct database *db = container_of(n, struct database, hn);
		if (!db->autodb)
			continue;
		if (!autodb_template) {
			db->removed = true;
			continue;
		}
		struct db_config *copy = autodb_config(db->name);
		if (db_conn_changed(db->cfg, copy))
			db_close_servers_later(db);
		db_config_free(db->cfg);
		db->cfg = copy;
		db->removed = false;
		apply_hosts(db);
	}
}

struct database *database_lookup_or_auto(const char *name)
{
	struct database *db = database_find(name);
	if (db && !db->removed)
		return db;
	if (!autodb_template)
		return NULL;
	if (db) {
		db_config_free(db->cfg);
		db->cfg = autodb_config(name);
		db->removed = false;
		db->autodb = true;
		apply_hosts(db);
	} else {
		db = database_new(name, autodb_config(name), true);
		apply_hosts(db);
	}
	log_info("registered new auto-database: %s (from the \"*\" line)", name);
	return db;
}

struct pool *pool_get_target(struct database *db, struct user *u, struct route_target *t)
{
	struct list *pn;
	list_for_each(pn, &db->pools) {
		struct pool *p = container_of(pn, struct pool, db_node);
		if (p->user == u && p->target == t)
			return p;
	}
	struct pool *p = xcalloc(1, sizeof(*p));
	p->db = db;
	p->user = u;
	p->target = t;
	if (t)
		route_target_ref(t);
	list_init(&p->idle_servers);
	list_init(&p->active_servers);
	list_init(&p->tested_servers);
	list_init(&p->login_servers);
	list_init(&p->listen_servers);
	list_init(&p->check_servers);
	list_init(&p->active_clients);
	list_init(&p->waiting_clients);
	sched_pool_init(p, on_rate_timer);
	list_add_tail(&db->pools, &p->db_node);
	list_add_tail(&g.pools, &p->all_node);
	if (!t && db->route)
		health_kick(db); /* its hosts may have waited for a login to check with */
	return p;
}

struct pool *pool_get(struct database *db, struct user *u)
{
	return pool_get_target(db, u, NULL);
}

/* ---- effective limits ---- */

static int pool_min_size(const struct pool *p)
{
	return p->db->cfg->min_pool_size >= 0 ? p->db->cfg->min_pool_size : S()->min_pool_size;
}

static int pool_reserve_size(const struct pool *p)
{
	return p->db->cfg->reserve_pool >= 0 ? p->db->cfg->reserve_pool : S()->reserve_pool_size;
}

static int db_max_connections(const struct database *db)
{
	return db->cfg->max_db_connections >= 0 ? db->cfg->max_db_connections : S()->max_db_connections;
}

static int user_max_connections(const struct user *u)
{
	return u->max_user_connections >= 0 ? u->max_user_connections : S()->max_user_connections;
}

bool pool_can_serve(const struct pool *p)
{
	/* a host list with no known primary: writes wait for the next check */
	return !g.paused && !p->db->paused && !p->db->disabled && (p->target || route_has_primary(p->db));
}

/* ---- linking ---- */

void pool_link(struct client *c, struct server *s)
{
	if (c->state == CL_WAITING)
		pool_stop_waiting(c);
	server_set_state(s, SV_ACTIVE);
	sched_linked(s->pool, c);
	s->client = c;
	s->last_client_id = c->id;
	s->cancel.sent = s->cancel.by_timeout = false; /* a query_timeout is the last client's */
	s->request_time = now_usec();
	session_linked(s, c);
	c->server = s;
	c->sb.dst = &s->sb;
	s->sb.dst = &c->sb;
}

void pool_unlink(struct client *c)
{
	struct server *s = c->server;
	if (!s)
		return;
	sched_unlinked(c);
	c->server = NULL;
	c->sb.dst = NULL;
	s->client = NULL;
	s->sb.dst = NULL;
	if (s->phase == TX_RELEASING)
		server_set_phase(s, TX_SERVING);
}

void pool_target_down(struct route_target *t)
{
	struct list *pn, *ln, *tmp;
	list_for_each(pn, &g.pools) {
		struct pool *p = container_of(pn, struct pool, all_node);
		if (p->target != t)
			continue;
		list_for_each_safe(ln, tmp, &p->idle_servers)
			server_close(container_of(ln, struct server, node), CR_RECONNECT, "its host left the rotation");
		list_for_each_safe(ln, tmp, &p->waiting_clients) {
			struct client *c = container_of(ln, struct client, node);
			pool_stop_waiting(c);
			sbuf_continue(&c->sb); /* routed again when its request is seen */
		}
	}
}

void pool_checker_stop(struct server *s)
{
	server_check_detach(s);
	if (s->state == SV_CHECK && rq_empty(s) && server_is_clean(s)) {
		pool_check_return(s); /* between checks: back to the pool */
		return;
	}
	server_close(s, CR_NOT_NEEDED, "its health check stopped in the middle");
}

struct server *pool_check_server(struct pool *p, struct route_target *t)
{
	struct server *s = NULL;
	struct list *ln;
	list_for_each(ln, &p->idle_servers) {
		struct server *cand = container_of(ln, struct server, node);
		/* the host's own pool, or the home pool's server connected to
		 * that host (the primary): never one that went elsewhere */
		if (p->target || cand->dest == t) {
			s = cand;
			break;
		}
	}
	if (s) {
		server_set_state(s, SV_CHECK);
	} else {
		/* a pool nobody has opened a server of yet (a replica before its
		 * first read): one server, as a client would open it; a busy
		 * pool's host is checked at a later period */
		int maxdb = db_max_connections(p->db), maxuser = user_max_connections(p->user);
		if (p->n_servers || p->n_waiting || (maxdb > 0 && p->db->server_count >= maxdb) ||
		    (maxuser > 0 && p->user->server_count >= maxuser) || pool_size_of(p) < 1 || !(s = server_launch(p)))
			return NULL;
	}
	s->role = ROLE_CHECK;
	s->check_target = t;
	return s;
}

void pool_check_return(struct server *s)
{
	s->role = ROLE_POOL;
	s->check_target = NULL;
	pool_server_ready(s);
}

void pool_stop_waiting(struct client *c)
{
	if (c->state != CL_WAITING)
		return;
	struct pool *p = c->wait_pool;
	sched_unwait(c);
	p->n_waiting--;
	p->wait_time += (uint64_t)(now_usec() - c->wait_start);
	/* a client belongs to its home pool's list whatever serves it */
	client_set_state(c, CL_ACTIVE, c->pool);
	c->wait_start = 0;
	c->wait_pool = NULL;
}

static bool server_needs_check(const struct server *s)
{
	const char *q = S()->server_check_query;
	if (!q || !*q)
		return false;
	return now_usec() - s->release_time >= S()->server_check_delay;
}

/* Reset a server with DISCARD ALL; it comes back through pool_server_ready. */
static void reset_server(struct server *s, const char *why)
{
	server_log(s, LV_DEBUG, "DISCARD ALL before its next client: %s", why);
	server_run_check(s, "DISCARD ALL", true);
}

/* An idle server c may have without a reset, if any. */
static struct server *idle_without_reset(struct pool *p, const struct client *c)
{
	struct list *ln;
	list_for_each(ln, &p->idle_servers) {
		struct server *s = container_of(ln, struct server, node);
		if (!session_needs_reset(s, c))
			return s;
	}
	return NULL;
}

bool pool_acquire(struct client *c, struct pool *p)
{
	/* waiters held by a tenant limit do not stop another tenant */
	if (pool_can_serve(p) && sched_runnable(p) == 0 && sched_may_take(p, c)) {
		for (;;) {
			struct list *ln = S()->server_round_robin ? list_last(&p->idle_servers) : list_first(&p->idle_servers);
			if (!ln)
				break;
			struct server *s = container_of(ln, struct server, node);
			if (server_needs_check(s)) {
				server_run_check(s, S()->server_check_query, false);
				continue;
			}
			if (session_needs_reset(s, c)) {
				/* another tenant's server: prefer one that needs no reset */
				struct server *alt = idle_without_reset(p, c);
				if (!alt) {
					reset_server(s, "it passes to another tenant (tenant_switch_reset)");
					break; /* wait for it, first in line */
				}
				s = alt;
			}
			pool_link(c, s);
			return true;
		}
	}
	/* wait: schedule.c says who is served next (fair among tenants) */
	client_set_state(c, CL_WAITING, p);
	c->wait_pool = p;
	c->wait_start = now_usec();
	p->n_waiting++;
	sched_wait(p, c);
	pool_maybe_launch(p, false);
	return false;
}

/* The next waiting client schedule.c names gets s. false: none (s stays
 * where it is). */
static bool give_to_waiter(struct pool *p, struct server *s)
{
	if (!pool_can_serve(p))
		return false;
	struct client *c = sched_next(p);
	if (!c)
		return false;
	if (session_needs_reset(s, c)) {
		reset_server(s, "it passes to another tenant (tenant_switch_reset)");
		return true;
	}
	pool_link(c, s);
	sbuf_continue(&c->sb);
	return true;
}

void pool_server_ready(struct server *s)
{
	struct pool *p = s->pool;
	server_set_phase(s, TX_SERVING); /* in the pool: nobody's transaction */
	if (s->role == ROLE_LISTENER) {
		/* the pool's LISTEN connection serves no client */
		server_set_state(s, SV_LISTEN);
		listen_conn_ready(s);
		return;
	}
	if (s->role == ROLE_CHECK) {
		/* launched for its host's check: that comes first */
		server_set_state(s, SV_CHECK);
		if (!s->check_target || !health_checker_ready(s, s->check_target))
			pool_check_return(s);
		return;
	}
	if (server_close_due(s) || (g.shutting_down && !p->n_waiting)) {
		if (server_close_due(s))
			server_close(s, (enum close_reason)s->close_reason, "%s", s->close_why);
		else
			server_close(s, CR_SHUTDOWN, "shutting down");
		return;
	}
	if (!give_to_waiter(p, s))
		server_set_state(s, SV_IDLE);
}

/* Idle servers to waiting clients a limit no longer holds (schedule.c calls
 * this when a tenant's rate allows it again). */
void pool_serve_waiters(struct pool *p)
{
	struct list *ln;
	while (sched_runnable(p) > 0 && (ln = list_first(&p->idle_servers))) {
		struct server *s = container_of(ln, struct server, node);
		if (!give_to_waiter(p, s))
			break;
	}
	pool_maybe_launch(p, false);
}

/* The client has read everything, or left: release.c decides where the
 * server goes, this carries it out. */
void pool_release_server(struct server *s)
{
	struct client *c = s->client;
	if (g.paused || s->pool->db->paused)
		defer_call(check_admin_waits, NULL);
	struct release_verdict v;
	release_decide(s, c, RM_RELEASE, &v);
	if (v.what == RV_HOLD) {
		server_set_phase(s, TX_RELEASING); /* client.c releases it when the message is whole */
		return;
	}
	if (v.what == RV_CLOSE && v.reason == CR_UNCLEAN) {
		if (c)
			pool_unlink(c);
		server_close(s, CR_UNCLEAN, "%s", v.why);
		return;
	}
	session_on_release(s, c);
	if (c)
		pool_unlink(c);
	s->release_time = now_usec();
	switch (v.what) {
	case RV_CLOSE:
		server_close(s, v.reason, "%s", v.why);
		return;
	case RV_RESET_SESSION:
		session_mode_reset(s);
		server_run_check(s, v.sql, true);
		return;
	default:
		break;
	}
	if (v.discard)
		session_state_unknown(s);
	switch (v.what) {
	case RV_PARK:
		server_set_state(s, SV_TESTED);
		s->cancel.parked = true;
		server_log(s, LV_DEBUG, "held back until its cancel request is done");
		return;
	case RV_RESET:
		reset_server(s, "its last client left session state on it");
		return;
	default:
		pool_server_ready(s);
		return;
	}
}

void pool_cancel_settled(struct server *s)
{
	s->cancel.parked = false;
	if (s->ses.reset == SR_DISCARD) {
		reset_server(s, "its last client left session state on it");
		return;
	}
	pool_server_ready(s);
}

/* During shutdown: leave as soon as no transaction is running. */
bool pool_shutdown_done(void)
{
	if (!list_empty(&g.login_clients))
		return false;
	struct list *pn;
	list_for_each(pn, &g.pools) {
		struct pool *p = container_of(pn, struct pool, all_node);
		if (!list_empty(&p->active_servers) || !list_empty(&p->active_clients) ||
		    !list_empty(&p->waiting_clients))
			return false;
	}
	return true;
}

/* During shutdown: leave once no client is left to serve. */
void pool_shutdown_progress(void *arg)
{
	(void)arg;
	if (g.shutting_down && pool_shutdown_done())
		event_base_loopbreak(g.base);
}

void pool_server_gone(struct server *s, const char *why)
{
	struct pool *p = s->pool;
	if (s->role == ROLE_LISTENER) {
		listen_conn_gone(s, why);
		return;
	}
	if (s->role == ROLE_CHECK) {
		/* one of the pool's servers, lent to its host's check */
		struct route_target *t = s->check_target;
		s->check_target = NULL;
		if (t)
			health_checker_gone(t, why);
	}
	defer_call(check_admin_waits, NULL);
	p->n_servers--;
	p->db->server_count--;
	p->user->server_count--;
	if (g.shutting_down) {
		defer_call(pool_shutdown_progress, NULL);
		if (!p->n_waiting)
			return;
	}
	/* someone may be waiting for room under a limit */
	if (pool_wants_server(p))
		pool_maybe_launch(p, false);
	else
		kick_blocked_pools(p);
}

static int servers_logging_in(const struct pool *p)
{
	return (int)list_count(&p->login_servers);
}

bool pool_wants_server(const struct pool *p)
{
	/* clients in wait, or logged-in clients waiting for the pool's first
	 * server to tell them its parameters (client.c) */
	return p->n_waiting > 0 || (!p->n_welcome && client_login_waiters(p) > 0);
}

/* Pools of p's database, and of its user when that has a limit, that wait
 * for room under max_db_connections / max_user_connections which p's
 * closed server just made. */
static void kick_blocked_pools(struct pool *p)
{
	struct list *pn;
	if (db_max_connections(p->db) > 0) {
		list_for_each(pn, &p->db->pools) {
			struct pool *o = container_of(pn, struct pool, db_node);
			if (o != p && pool_wants_server(o))
				pool_maybe_launch(o, false);
		}
	}
	if (user_max_connections(p->user) > 0) {
		list_for_each(pn, &g.pools) {
			struct pool *o = container_of(pn, struct pool, all_node);
			if (o != p && o->user == p->user && o->db != p->db && pool_wants_server(o))
				pool_maybe_launch(o, false);
		}
	}
}

static bool evict_candidate(const struct pool *o, const struct pool *p, struct server **victim)
{
	if (o == p || pool_wants_server(o) || list_empty(&o->idle_servers))
		return false;
	/* idle_servers is most recently released first: its tail has waited longest */
	struct server *s = container_of(o->idle_servers.prev, struct server, node);
	if (!*victim || s->release_time < (*victim)->release_time)
		*victim = s;
	return true;
}

/* p's clients wait, but the database's (by_db) or the user's limit is
 * taken, partly by servers other pools keep idle. The one idle longest is
 * closed so that the room goes to clients who wait; a pool with clients
 * of its own waiting keeps its servers. Only for waiting clients, never
 * for min_pool_size. */
static bool evict_for(struct pool *p, bool by_db)
{
	struct server *victim = NULL;
	struct list *pn;
	if (by_db) {
		list_for_each(pn, &p->db->pools)
			evict_candidate(container_of(pn, struct pool, db_node), p, &victim);
	} else {
		list_for_each(pn, &g.pools) {
			struct pool *o = container_of(pn, struct pool, all_node);
			if (o->user == p->user)
				evict_candidate(o, p, &victim);
		}
	}
	if (!victim)
		return false;
	server_close(victim, CR_EVICTED, "evicted: pool %s/%s waits for room under %s", p->db->name, p->user->name,
		     by_db ? "max_db_connections" : "max_user_connections");
	return true;
}

void pool_maybe_launch(struct pool *p, bool allow_reserve)
{
	if ((g.shutting_down && !pool_wants_server(p)) || !pool_can_serve(p))
		return;
	if (p->db->removed)
		return;
	if (p->next_launch && now_usec() < p->next_launch)
		return;
	int size = pool_size_of(p);
	int limit = size + (allow_reserve ? pool_reserve_size(p) : 0);
	int maxdb = db_max_connections(p->db);
	int maxuser = user_max_connections(p->user);
	int want = sched_runnable(p) - servers_logging_in(p) - (int)list_count(&p->tested_servers);
	bool demand = want > 0;
	if (p->n_servers == 0 && !p->n_welcome && client_login_waiters(p) > 0) {
		want = 1;
		demand = true;
	}
	int min = pool_min_size(p);
	if (p->n_servers + (want > 0 ? want : 0) < min)
		want = min - p->n_servers;
	while (want-- > 0) {
		if (p->n_servers >= limit)
			break; /* the janitor opens the reserve after reserve_pool_timeout */
		if (maxdb > 0 && p->db->server_count >= maxdb && !(demand && evict_for(p, true)))
			break;
		if (maxuser > 0 && p->user->server_count >= maxuser && !(demand && evict_for(p, false)))
			break;
		/* an eviction may have launched for us already (pool_server_gone) */
		if ((maxdb > 0 && p->db->server_count >= maxdb) || (maxuser > 0 && p->user->server_count >= maxuser))
			break;
		if (p->n_servers >= size)
			log_info("pool %s/%s: taking connection from reserve_pool (%d of reserve_pool_size %d)",
				 p->db->name, p->user->name, p->n_servers - size + 1, pool_reserve_size(p));
		if (!server_launch(p))
			break;
	}
}

static bool error_is_definitive(const char *sqlstate)
{
	/* authentication, missing database, privilege: retrying will not help */
	return sqlstate && (strncmp(sqlstate, "28", 2) == 0 || strcmp(sqlstate, "3D000") == 0 ||
			    strcmp(sqlstate, "42501") == 0 || strcmp(sqlstate, "08P01") == 0);
}

static void fail_waiters(void *arg);

void pool_login_failed(struct pool *p, const char *sqlstate, const char *msg)
{
	if (p->target) {
		/* a replica: its waiting clients go elsewhere, no one fails */
		health_target_down(p->target, msg);
		usec_t max = S()->server_login_retry;
		p->retry_delay = p->retry_delay ? p->retry_delay * 2 : (max < USEC ? max : USEC / 4);
		if (p->retry_delay > max)
			p->retry_delay = max;
		p->next_launch = now_usec() + p->retry_delay;
		return;
	}
	usec_t max = S()->server_login_retry;
	usec_t first = max < USEC ? max : USEC / 4;
	p->retry_delay = p->retry_delay ? p->retry_delay * 2 : first;
	if (p->retry_delay > max)
		p->retry_delay = max;
	p->next_launch = now_usec() + p->retry_delay;
	free(p->last_error);
	p->last_error = xstrdup(msg);
	snprintf(p->last_sqlstate, sizeof(p->last_sqlstate), "%s", sqlstate ? sqlstate : "08006");

	/* Clients no other server of this pool can serve learn why. Deferred:
	 * the failed server is still counted while our caller closes it. */
	p->last_definitive = error_is_definitive(sqlstate);
	defer_call(fail_waiters, p);
}

/* When retrying cannot help (the server refused the login itself), every
 * client no other server of this pool can serve fails now with the
 * server's words: those in wait and those waiting for a welcome. Otherwise
 * (connect failed, timed out, the server is starting up) they wait for the
 * next attempt, after server_login_retry, up to query_wait_timeout. */
static void fail_waiters(void *arg)
{
	struct pool *p = arg;
	if (p->n_servers > 0 || !p->last_error || !p->last_definitive)
		return;
	const char *msg = p->last_error;
	struct list *ln, *tmp;
	list_for_each_safe(ln, tmp, &p->waiting_clients) {
		struct client *c = container_of(ln, struct client, node);
		client_wait_failed(c, p->last_sqlstate, msg);
	}
	list_for_each_safe(ln, tmp, &g.login_clients) {
		struct client *c = container_of(ln, struct client, node);
		if (c->pool == p && c->login && c->login->wait_welcome)
			client_login_fail(c, p->last_sqlstate, "%s", msg);
	}
}

void pool_login_succeeded(struct pool *p)
{
	p->retry_delay = 0;
	p->next_launch = 0;
	free(p->last_error);
	p->last_error = NULL;
	p->last_sqlstate[0] = '\0';
}

void pool_set_welcome(struct pool *p, int n, const char *const *names, const char *const *values)
{
	for (int i = 0; i < p->n_welcome; i++) {
		istr_unref(p->welcome_names[i]);
		istr_unref(p->welcome_values[i]);
	}
	free(p->welcome_names);
	free(p->welcome_values);
	pset_unref(p->welcome_set);
	p->welcome_names = xcalloc((size_t)(n ? n : 1), sizeof(struct istr *));
	p->welcome_values = xcalloc((size_t)(n ? n : 1), sizeof(struct istr *));
	struct pset *set = pset_empty();
	for (int i = 0; i < n; i++) {
		p->welcome_names[i] = istr_get(names[i]);
		p->welcome_values[i] = istr_get(values[i]);
		int idx = param_index(names[i]);
		if (idx >= 0) {
			struct pset *nset = pset_with(set, idx, values[i]);
			pset_unref(set);
			set = nset;
		}
	}
	p->n_welcome = n;
	p->welcome_set = set;
}

void pool_pause_all(bool on)
{
	g.paused = on;
	if (on)
		return;
	struct list *pn;
	list_for_each(pn, &g.pools) {
		struct pool *p = container_of(pn, struct pool, all_node);
		pool_serve_waiters(p);
	}
}

void pool_reconnect_db(struct database *db)
{
	db_close_servers_later(db);
}

void pool_reconnect_pool(struct pool *p, const char *why)
{
	struct list *lists[] = { &p->idle_servers, &p->active_servers, &p->tested_servers, &p->login_servers,
				 &p->listen_servers, &p->check_servers };
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		struct list *sn, *tmp;
		list_for_each_safe(sn, tmp, lists[i]) {
			struct server *s = container_of(sn, struct server, node);
			if (s->role == ROLE_CHECK && s->check_target) {
				/* its check is not the host's failure: it runs again */
				struct route_target *t = s->check_target;
				s->check_target = NULL;
				health_checker_gone(t, NULL);
			}
			server_close_later(s, CR_RECONNECT, why);
			/* a listener or a check connection comes back at once */
			if (s->state == SV_IDLE || s->state == SV_LISTEN || s->state == SV_CHECK)
				server_close(s, CR_RECONNECT, "%s", why);
		}
	}
}

void pool_primary_moved(struct database *db, const char *why)
{
	struct list *pn;
	list_for_each(pn, &db->pools) {
		struct pool *p = container_of(pn, struct pool, db_node);
		if (p->target)
			continue;
		/* its servers are on the old primary: replaced as they are
		 * released; and no waiting for a retry meant for the old host */
		pool_reconnect_pool(p, why);
		p->next_launch = 0;
		p->retry_delay = 0;
		if (pool_wants_server(p))
			pool_maybe_launch(p, false);
	}
}

void objects_free(void)
{
	struct list *pn, *ptmp;
	list_for_each_safe(pn, ptmp, &g.pools) {
		struct pool *p = container_of(pn, struct pool, all_node);
		list_del(&p->all_node);
		for (int i = 0; i < p->n_welcome; i++) {
			istr_unref(p->welcome_names[i]);
			istr_unref(p->welcome_values[i]);
		}
		free(p->welcome_names);
		free(p->welcome_values);
		pset_unref(p->welcome_set);
		free(p->last_error);
		route_target_unref(p->target);
		listen_pool_free(p);
		sched_pool_free(p);
		free(p);
	}
	size_t it;
	struct hnode *n, *next;
	for (n = htab_next(&g.databases, NULL, &it); n; n = next) {
		next = htab_next(&g.databases, n, &it);
		struct database *db = container_of(n, struct database, hn);
		htab_remove(&g.databases, n);
		route_db_free(db, host_gone_at_exit);
		ryw_db_free(db);
		db_config_free(db->cfg);
		free(db->name);
		free(db);
	}
	for (n = htab_next(&g.users, NULL, &it); n; n = next) {
		next = htab_next(&g.users, n, &it);
		struct user *u = container_of(n, struct user, hn);
		htab_remove(&g.users, n);
		free(u->name);
		free(u->secret);
		istr_unref(u->tenant);
		free(u);
	}
	htab_free(&g.databases);
	htab_free(&g.users);
}

void pool_kill_db(struct database *db)
{
	struct list *pn, *ln, *tmp;
	list_for_each(pn, &db->pools) {
		struct pool *p = container_of(pn, struct pool, db_node);
		struct list *clists[] = { &p->waiting_clients, &p->active_clients };
		for (size_t i = 0; i < 2; i++)
			list_for_each_safe(ln, tmp, clists[i])
				client_close(container_of(ln, struct client, node), "57P01",
					     "database \"%s\" killed by the administrator (KILL)", db->name);
		struct list *slists[] = { &p->active_servers, &p->idle_servers, &p->tested_servers, &p->login_servers,
					  &p->listen_servers, &p->check_servers };
		for (size_t i = 0; i < 5; i++)
			list_for_each_safe(ln, tmp, slists[i])
				server_close(container_of(ln, struct server, node), CR_ADMIN, "KILL %s", db->name);
	}
	list_for_each_safe(ln, tmp, &g.login_clients) {
		struct client *c = container_of(ln, struct client, node);
		if (c->db == db || (c->pool && c->pool->db == db))
			client_close(c, "57P01", "database \"%s\" killed by the administrator (KILL)", db->name);
	}
}
