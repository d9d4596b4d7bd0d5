/*
 * Periodic maintenance, twice a second.
 *
 * Owns: the timer and the order of checks. Each check walks only the list
 * whose objects it can affect (waiting clients for query_wait_timeout,
 * idle servers for server_idle_timeout...), so the cost follows the number
 * of busy objects, not of all clients. Timeouts of 0 are off.
 */
#include "autoconf.h"

#include "janitor.h"

#include <malloc.h>
#include <stdio.h>

#include "admin.h"
#include "bufpool.h"
#include "auth.h"
#include "client.h"
#include "log.h"
#include "pgtide.h"
#include "pool.h"
#include "server.h"
#include "schedule.h"
#include "session.h"
#include "stats.h"

static struct event janitor_ev;
static usec_t last_stats;

/* A client waiting for its pool's first server has logged in: the limits
 * of a wait apply to it (query_wait_timeout, and query_timeout as in
 * PgBouncer), not client_login_timeout. What it is told names the limit
 * and the pool's last connection error. */
static bool welcome_wait_expired(struct client *c, usec_t now)
{
	const struct settings *s = S();
	usec_t waited = now - c->wait_start;
	const char *name = NULL;
	usec_t limit = 0;
	if (s->query_wait_timeout > 0 && waited > s->query_wait_timeout) {
		name = "query_wait_timeout";
		limit = s->query_wait_timeout;
	}
	if (s->query_timeout > 0 && waited > s->query_timeout && (!name || s->query_timeout < limit)) {
		name = "query_timeout";
		limit = s->query_timeout;
	}
	if (!name)
		return false;
	const struct pool *p = c->pool;
	client_login_fail(c, "08006", "%s (%lld s) reached waiting for a server connection%s%s", name,
			  (long long)(limit / USEC), p->last_error ? ": " : "", p->last_error ? p->last_error : "");
	return true;
}

static void check_login_clients(usec_t now)
{
	usec_t t = S()->client_login_timeout;
	struct list *ln, *tmp;
	list_for_each_safe(ln, tmp, &g.login_clients) {
		struct client *c = container_of(ln, struct client, node);
		if (c->login && c->login->wait_welcome)
			welcome_wait_expired(c, now);
		else if (t > 0 && now - c->connect_time > t)
			client_close(c, "08P01", "client_login_timeout (%lld s): login took too long",
				     (long long)(t / USEC));
	}
}

static void check_pool_clients(struct pool *p, usec_t now)
{
	const struct settings *s = S();
	struct list *ln, *tmp;
	if (s->query_wait_timeout > 0) {
		list_for_each_safe(ln, tmp, &p->waiting_clients) {
			struct client *c = container_of(ln, struct client, node);
			if (now - c->wait_start > s->query_wait_timeout) {
				char msg[300], why[160];
				sched_wait_reason(c, why, sizeof(why));
				snprintf(msg, sizeof(msg),
					 "query_wait_timeout (%lld s) exceeded waiting for a server connection%s%s",
					 (long long)(s->query_wait_timeout / USEC), why[0] ? ": " : "", why);
				client_log(c, LV_LOG, "%s", msg);
				client_wait_failed(c, "57014", msg);
			}
		}
	}
	if (s->client_idle_timeout > 0 || s->idle_transaction_timeout > 0) {
		list_for_each_safe(ln, tmp, &p->active_clients) {
			struct client *c = container_of(ln, struct client, node);
			struct server *sv = c->server;
			usec_t idle = now - c->request_time;
			if (!sv && s->client_idle_timeout > 0 && idle > s->client_idle_timeout) {
				client_close(c, "57P01", "client_idle_timeout (%lld s): closing idle connection",
					     (long long)(s->client_idle_timeout / USEC));
			} else if (sv && s->idle_transaction_timeout > 0 && sv->status != 'I' && rq_empty(sv) &&
				   idle > s->idle_transaction_timeout) {
				client_close(c, "25P03",
					     "idle transaction timeout (idle_transaction_timeout %lld s): terminating "
					     "connection idle in transaction",
					     (long long)(s->idle_transaction_timeout / USEC));
			}
		}
	}
}

static void check_pool_servers(struct pool *p, usec_t now)
{
	const struct settings *s = S();
	struct list *ln, *tmp;
	int min = p->db->cfg->min_pool_size >= 0 ? p->db->cfg->min_pool_size : s->min_pool_size;

	if (s->server_connect_timeout > 0) {
		list_for_each_safe(ln, tmp, &p->login_servers) {
			struct server *sv = container_of(ln, struct server, node);
			if (now - sv->connect_time > s->server_connect_timeout) {
				char msg[160];
				snprintf(msg, sizeof(msg), "connect timeout (server_connect_timeout %lld s): could not connect to %s:%d",
					 (long long)(s->server_connect_timeout / USEC), server_host(sv), server_port(sv));
				pool_login_failed(p, "08006", msg);
				server_close(sv, CR_LOGIN_FAILED, "%s", msg);
			}
		}
	}
	list_for_each_safe(ln, tmp, &p->idle_servers) {
		struct server *sv = container_of(ln, struct server, node);
		if (server_close_due(sv)) {
			server_close(sv, (enum close_reason)sv->close_reason, "%s", sv->close_why);
		} else if (s->server_lifetime > 0 && now - sv->connect_time > s->server_lifetime && p->n_servers > min) {
			server_close(sv, CR_LIFETIME, "server_lifetime (%lld s) reached", (long long)(s->server_lifetime / USEC));
		} else if (s->server_idle_timeout > 0 && now - sv->release_time > s->server_idle_timeout &&
			   p->n_servers > min) {
			server_close(sv, CR_IDLE_TIMEOUT, "server_idle_timeout (%lld s) reached", (long long)(s->server_idle_timeout / USEC));
		}
	}
	if (s->server_fast_close) {
		/* A server that must close does not wait for the end of the
		 * session that holds it (session mode, or a client bound by
		 * state that cannot move): between transactions the session is
		 * closed with it, as in PgBouncer. Other servers already go at
		 * their transaction's end. */
		list_for_each_safe(ln, tmp, &p->active_servers) {
			struct server *sv = container_of(ln, struct server, node);
			struct client *c = sv->client;
			if (server_close_due(sv) && c && session_holds_server(c) && server_is_idle_for_txn(sv) && !sv->in_copy)
				client_close(c, "57P01", "%s (server_fast_close): this session's server is closed",
					     sv->close_why);
		}
	}
	if (s->query_timeout > 0) {
		list_for_each_safe(ln, tmp, &p->active_servers) {
			struct server *sv = container_of(ln, struct server, node);
			if (!rq_empty(sv) && now - sv->query_start > s->query_timeout) {
				if (!sv->cancel.sent) {
					server_log(sv, LV_LOG, "query timeout (query_timeout %lld s): canceling the running query",
						   (long long)(s->query_timeout / USEC));
					server_send_cancel(sv);
					sv->cancel.by_timeout = true;
				} else if (now - sv->query_start > s->query_timeout + 5 * USEC) {
					server_close(sv, CR_QUERY_TIMEOUT, "query_timeout: the server did not stop after a cancel");
				}
			} else if (rq_empty(sv)) {
				sv->cancel.sent = false;
				sv->cancel.by_timeout = false;
			}
		}
	}
	/* reserve pool: clients waited long enough for a normal server */
	bool reserve = false;
	struct list *first = list_first(&p->waiting_clients);
	if (first) {
		struct client *c = container_of(first, struct client, node);
		int rsv = p->db->cfg->reserve_pool >= 0 ? p->db->cfg->reserve_pool : s->reserve_pool_size;
		if (rsv > 0 && now - c->wait_start > s->reserve_pool_timeout)
			reserve = true;
	}
	if (pool_wants_server(p) || p->n_servers < min)
		pool_maybe_launch(p, reserve);
}

static void check_shutdown(usec_t now)
{
	if (!g.shutting_down)
		return;
	if (pool_shutdown_done() || now >= g.shutdown_deadline)
		event_base_loopbreak(g.base);
}

/* After many clients left, hand their memory back: glibc keeps freed heap
 * pages otherwise, and an operator watching RSS after a burst would see the
 * peak forever. malloc_trim walks the heap, so only after a big drop. */
static void trim_after_exodus(void)
{
	static int high;
	if (g.n_clients > high) {
		high = g.n_clients;
	} else if (high - g.n_clients >= 1000 && g.n_clients < high / 2) {
		malloc_trim(0);
		high = g.n_clients;
	}
}

void janitor_run(void)
{
	usec_t now = now_usec();
	check_login_clients(now);
	struct list *pn, *ptmp;
	list_for_each_safe(pn, ptmp, &g.pools) {
		struct pool *p = container_of(pn, struct pool, all_node);
		check_pool_clients(p, now);
		check_pool_servers(p, now);
		/* a tenant limit that let go while no server came back */
		if (sched_runnable(p) > 0 && !list_empty(&p->idle_servers))
			pool_serve_waiters(p);
	}
	bufpool_trim();
	trim_after_exodus();
	admin_check_waits();
	if (S()->stats_period > 0 && now - last_stats >= S()->stats_period) {
		if (last_stats)
			stats_period_tick(S()->log_stats);
		last_stats = now;
	}
	check_shutdown(now);
}

static void janitor_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	janitor_run();
}

void janitor_start(void)
{
	struct timeval tv = { 0, 500000 };
	event_assign(&janitor_ev, g.base, -1, EV_PERSIST, janitor_cb, NULL);
	event_add(&janitor_ev, &tv);
	last_stats = now_usec();
}

void janitor_stop(void)
{
	event_del(&janitor_ev);
}
