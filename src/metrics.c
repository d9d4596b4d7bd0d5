/*
 * Prometheus metrics over HTTP.
 *
 * Owns: the evhttp server. Per-tenant series are written only for the
 * metrics_top_tenants busiest tenants, so a million tenants cannot turn
 * into a million series.
 */
#include "autoconf.h"

#include "metrics.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pgtide.h"
#include "peer.h"
#include "pool.h"
#include "route.h"
#include "ryw.h"
#include "server.h"
#include "stats.h"
#include "tenant.h"
#include "util/strbuf.h"

static struct evhttp *http;

/* Label values: backslash, double quote and newline escaped. */
static void label(struct strbuf *sb, const char *v)
{
	strbuf_putc(sb, '"');
	for (const char *p = v ? v : ""; *p; p++) {
		if (*p == '\\' || *p == '"')
			strbuf_putc(sb, '\\');
		if (*p == '\n') {
			strbuf_puts(sb, "\\n");
			continue;
		}
		strbuf_putc(sb, *p);
	}
	strbuf_putc(sb, '"');
}

static void help(struct strbuf *sb, const char *name, const char *type, const char *text)
{
	strbuf_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

static void pool_labels(struct strbuf *sb, const struct pool *p)
{
	strbuf_puts(sb, "{database=");
	label(sb, p->db->name);
	strbuf_puts(sb, ",user=");
	label(sb, p->user->name);
	strbuf_puts(sb, ",target=");
	label(sb, route_pool_target_name(p));
}

static int cmp_tenant(const void *a, const void *b)
{
	const struct tenant *x = *(const struct tenant *const *)a, *y = *(const struct tenant *const *)b;
	return x->xacts < y->xacts ? 1 : x->xacts > y->xacts ? -1 : strcmp(x->id, y->id);
}

static void render_tenants(struct strbuf *sb)
{
	int n = S()->metrics_top_tenants;
	help(sb, "pgtide_tenants", "gauge", "Tenant records kept (clients connected or recently seen).");
	strbuf_printf(sb, "pgtide_tenants %zu\n", tenant_count());
	if (n <= 0)
		return;
	/* keep the n busiest: a small sorted array, one pass over all tenants */
	struct tenant **top = xcalloc((size_t)n, sizeof(*top));
	int have = 0;
	size_t it = 0;
	for (struct tenant *t = tenant_next(NULL, &it); t; t = tenant_next(t, &it)) {
		if (have < n) {
			top[have++] = t;
			qsort(top, (size_t)have, sizeof(*top), cmp_tenant);
		} else if (cmp_tenant(&t, &top[n - 1]) < 0) {
			top[n - 1] = t;
			qsort(top, (size_t)n, sizeof(*top), cmp_tenant);
		}
	}
	static const struct {
		const char *name, *type, *help;
	} tm[] = {
		{ "pgtide_tenant_transactions_total", "counter", "Transactions of the busiest tenants." },
		{ "pgtide_tenant_queries_total", "counter", "Queries of the busiest tenants." },
		{ "pgtide_tenant_transaction_seconds_total", "counter", "Transaction time of the busiest tenants." },
		{ "pgtide_tenant_clients", "gauge", "Connected clients of the busiest tenants." },
		{ "pgtide_tenant_waiting_clients", "gauge", "Clients of the tenant waiting for a server." },
		{ "pgtide_tenant_servers", "gauge", "Servers the tenant's clients hold." },
		{ "pgtide_tenant_wait_seconds_total", "counter", "Time the tenant's clients waited for a server." },
		{ "pgtide_tenant_max_wait_seconds", "gauge", "Longest wait of one of the tenant's clients." },
		{ "pgtide_tenant_refused_connections_total", "counter", "Logins and SETs refused by max_tenant_connections." },
		{ "pgtide_tenant_held_total", "counter",
		  "Waits a limit made: limit=\"servers\" (max_tenant_servers), limit=\"rate\" (tenant_xact_rate)." },
		{ "pgtide_tenant_ryw_reads_total", "counter",
		  "Reads of the tenant under read_your_writes, by outcome (replica, waited, primary)." },
	};
	for (size_t k = 0; k < sizeof(tm) / sizeof(tm[0]); k++) {
		help(sb, tm[k].name, tm[k].type, tm[k].help);
		for (int i = 0; i < have; i++) {
			const struct tenant *t = top[i];
			static const char *const outcome[] = { "replica", "waited", "primary" };
			for (int lim = 0; lim < (k == 9 ? 2 : k == 10 ? 3 : 1); lim++) {
				strbuf_printf(sb, "%s{tenant=", tm[k].name);
				label(sb, t->id);
				if (k == 9)
					strbuf_puts(sb, lim ? ",limit=\"rate\"" : ",limit=\"servers\"");
				if (k == 10)
					strbuf_printf(sb, ",outcome=\"%s\"", outcome[lim]);
				strbuf_puts(sb, "} ");
				switch (k) {
				case 0: strbuf_printf(sb, "%llu\n", (unsigned long long)t->xacts); break;
				case 1: strbuf_printf(sb, "%llu\n", (unsigned long long)t->queries); break;
				case 2: strbuf_printf(sb, "%.6f\n", (double)t->xact_time / USEC); break;
				case 3: strbuf_printf(sb, "%u\n", t->clients); break;
				case 4: strbuf_printf(sb, "%u\n", t->waiting); break;
				case 5: strbuf_printf(sb, "%u\n", t->servers); break;
				case 6: strbuf_printf(sb, "%.6f\n", (double)t->wait_time / USEC); break;
				case 7: strbuf_printf(sb, "%.6f\n", (double)t->max_wait / USEC); break;
				case 8: strbuf_printf(sb, "%llu\n", (unsigned long long)t->refused_connections); break;
				case 10:
					strbuf_printf(sb, "%llu\n", (unsigned long long)(lim == 0   ? t->ryw_replica
											  : lim == 1 ? t->ryw_waited
												     : t->ryw_primary));
					break;
				default:
					strbuf_printf(sb, "%llu\n",
						      (unsigned long long)(lim ? t->held_by_rate : t->held_by_servers));
					break;
				}
			}
		}
	}
	free(top);
}

/* read_your_writes, per database that has replicas */
static void render_ryw(struct strbuf *sb)
{
	static const struct { const char *name, *type, *help; } rm[] = {
		{ "pgtide_ryw_reads_total", "counter",
		  "Reads under read_your_writes: outcome=\"replica\" (one had caught up), \"waited\" (after waiting "
		  "for one), \"primary\" (none caught up within read_your_writes_timeout)." },
		{ "pgtide_ryw_wait_seconds_total", "counter", "Time reads waited for a replica to catch up." },
		{ "pgtide_ryw_commits_total", "counter", "Commit positions learned from the primary." },
		{ "pgtide_ryw_tenant_positions", "gauge", "Tenants whose last commit some replica may not have replayed." },
	};
	for (size_t k = 0; k < sizeof(rm) / sizeof(rm[0]); k++) {
		help(sb, rm[k].name, rm[k].type, rm[k].help);
		size_t it;
		struct hnode *n;
		for (n = htab_next(&g.databases, NULL, &it); n; n = htab_next(&g.databases, n, &it)) {
			struct database *db = container_of(n, struct database, hn);
			if (!db->route)
				continue;
			struct ryw_stats st;
			ryw_db_stats(db, &st);
			if (k == 0) {
				static const char *const outcome[] = { "replica", "waited", "primary" };
				const uint64_t v[] = { st.reads_replica, st.reads_waited, st.reads_primary };
				for (int o = 0; o < 3; o++) {
					strbuf_printf(sb, "%s{database=", rm[k].name);
					label(sb, db->name);
					strbuf_printf(sb, ",outcome=\"%s\"} %llu\n", outcome[o], (unsigned long long)v[o]);
				}
				continue;
			}
			strbuf_printf(sb, "%s{database=", rm[k].name);
			label(sb, db->name);
			if (k == 1)
				strbuf_printf(sb, "} %.6f\n", (double)st.wait_usec / USEC);
			else
				strbuf_printf(sb, "} %llu\n", (unsigned long long)(k == 2 ? st.commits : st.positions));
		}
	}
}

/* [peers]: cancels forwarded to each, and those it could not take */
static void render_peers(struct strbuf *sb)
{
	static const struct { const char *name, *help; } pm[] = {
		{ "pgtide_peer_cancels_forwarded_total", "Cancel requests forwarded to the peer that owns the client." },
		{ "pgtide_peer_cancel_failures_total", "Cancel requests that could not be forwarded to the peer." },
	};
	for (size_t k = 0; k < sizeof(pm) / sizeof(pm[0]); k++) {
		help(sb, pm[k].name, "counter", pm[k].help);
		struct peer_info pi;
		for (int i = 0; peer_info(i, &pi); i++)
			strbuf_printf(sb, "%s{peer=\"%d\"} %llu\n", pm[k].name, pi.id,
				      (unsigned long long)(k ? pi.failed : pi.forwarded));
	}
}

char *metrics_render(void)
{
	struct strbuf sb;
	strbuf_init(&sb);
	usec_t now = now_usec();
	help(&sb, "pgtide_up", "gauge", "1 while pgtide serves.");
	strbuf_printf(&sb, "pgtide_up %d\n", g.shutting_down ? 0 : 1);
	help(&sb, "pgtide_info", "gauge", "Version of pgtide.");
	strbuf_printf(&sb, "pgtide_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	help(&sb, "pgtide_client_connections", "gauge", "Client connections, all states.");
	strbuf_printf(&sb, "pgtide_client_connections %d\n", g.n_clients);
	help(&sb, "pgtide_max_client_conn", "gauge", "The max_client_conn setting.");
	strbuf_printf(&sb, "pgtide_max_client_conn %d\n", S()->max_client_conn);
	help(&sb, "pgtide_paused", "gauge", "1 while PAUSE or SUSPEND is in effect.");
	strbuf_printf(&sb, "pgtide_paused %d\n", g.paused || g.suspended);

	struct list *pn, *ln;
	static const char *const cstates[] = { "active", "waiting" };
	help(&sb, "pgtide_pool_clients", "gauge", "Clients of a pool by state (active: logged in; waiting: for a server).");
	list_for_each(pn, &g.pools) {
		struct pool *p = container_of(pn, struct pool, all_node);
		size_t counts[2] = { list_count(&p->active_clients), (size_t)p->n_waiting };
		for (int i = 0; i < 2; i++) {
			strbuf_puts(&sb, "pgtide_pool_clients");
			pool_labels(&sb, p);
			strbuf_printf(&sb, ",state=\"%s\"} %zu\n", cstates[i], counts[i]);
		}
	}
	static const char *const sstates[] = { "active", "idle", "tested", "login", "listen" };
	help(&sb, "pgtide_pool_servers", "gauge", "Server connections of a pool by state.");
	list_for_each(pn, &g.pools) {
		struct pool *p = container_of(pn, struct pool, all_node);
		size_t counts[5] = { list_count(&p->active_servers), list_count(&p->idle_servers),
				     list_count(&p->tested_servers), list_count(&p->login_servers),
				     list_count(&p->listen_servers) };
		for (int i = 0; i < 5; i++) {
			strbuf_puts(&sb, "pgtide_pool_servers");
			pool_labels(&sb, p);
			strbuf_printf(&sb, ",state=\"%s\"} %zu\n", sstates[i], counts[i]);
		}
	}
	help(&sb, "pgtide_pool_bound_servers", "gauge",
	     "Servers kept for one client for the rest of its session (temporary objects, WITH HOLD cursors, ...).");
	list_for_each(pn, &g.pools) {
		struct pool *p = container_of(pn, struct pool, all_node);
		strbuf_puts(&sb, "pgtide_pool_bound_servers");
		pool_labels(&sb, p);
		strbuf_printf(&sb, "} %d\n", p->n_bound);
	}
	help(&sb, "pgtide_pool_bindings_total", "counter", "Times a server was kept for one client.");
	list_for_each(pn, &g.pools) {
		struct pool *p = container_of(pn, struct pool, all_node);
		strbuf_puts(&sb, "pgtide_pool_bindings_total");
		pool_labels(&sb, p);
		strbuf_printf(&sb, "} %llu\n", (unsigned long long)p->bound_total);
	}
	help(&sb, "pgtide_pool_size", "gauge", "Servers a pool may open (default_pool_size or the database's pool_size).");
	list_for_each(pn, &g.pools) {
		struct pool *p = container_of(pn, struct pool, all_node);
		strbuf_puts(&sb, "pgtide_pool_size");
		pool_labels(&sb, p);
		strbuf_printf(&sb, "} %d\n", pool_size_of(p));
	}
	help(&sb, "pgtide_pool_max_wait_seconds", "gauge", "How long the oldest waiting client of a pool has waited.");
	list_for_each(pn, &g.pools) {
		struct pool *p = container_of(pn, struct pool, all_node);
		ln = list_first(&p->waiting_clients);
		double w = ln ? (double)(now - container_of(ln, struct client, node)->wait_start) / USEC : 0;
		strbuf_puts(&sb, "pgtide_pool_max_wait_seconds");
		pool_labels(&sb, p);
		strbuf_printf(&sb, "} %.6f\n", w);
	}

	static const struct { const char *name, *type, *help; } dbm[] = {
		{ "pgtide_transactions_total", "counter", "Transactions pooled." },
		{ "pgtide_queries_total", "counter", "Queries pooled (Query and Execute messages)." },
		{ "pgtide_received_bytes_total", "counter", "Bytes received from clients." },
		{ "pgtide_sent_bytes_total", "counter", "Bytes sent to clients." },
		{ "pgtide_transaction_seconds_total", "counter", "Time clients spent in transactions." },
		{ "pgtide_query_seconds_total", "counter", "Time clients spent in queries." },
		{ "pgtide_wait_seconds_total", "counter", "Time clients spent waiting for a server." },
		{ "pgtide_errors_total", "counter", "Errors returned by servers." },
	};
	for (size_t k = 0; k < sizeof(dbm) / sizeof(dbm[0]); k++) {
		help(&sb, dbm[k].name, dbm[k].type, dbm[k].help);
		size_t it;
		struct hnode *n;
		for (n = htab_next(&g.databases, NULL, &it); n; n = htab_next(&g.databases, n, &it)) {
			struct database *db = container_of(n, struct database, hn);
			struct stat_totals t;
			stats_db_totals(db, &t);
			strbuf_printf(&sb, "%s{database=", dbm[k].name);
			label(&sb, db->name);
			switch (k) {
			case 0: strbuf_printf(&sb, "} %llu\n", (unsigned long long)t.xact_count); break;
			case 1: strbuf_printf(&sb, "} %llu\n", (unsigned long long)t.query_count); break;
			case 2: strbuf_printf(&sb, "} %llu\n", (unsigned long long)t.bytes_in); break;
			case 3: strbuf_printf(&sb, "} %llu\n", (unsigned long long)t.bytes_out); break;
			case 4: strbuf_printf(&sb, "} %.6f\n", (double)t.xact_time / USEC); break;
			case 5: strbuf_printf(&sb, "} %.6f\n", (double)t.query_time / USEC); break;
			case 6: strbuf_printf(&sb, "} %.6f\n", (double)t.wait_time / USEC); break;
			default: strbuf_printf(&sb, "} %llu\n", (unsigned long long)t.errors); break;
			}
		}
	}

	/* Every reason, zeros too, so that a rate() over "unclean" or
	 * "server_lifetime" exists before the first close. */
	help(&sb, "pgtide_server_opened_total", "counter", "Server connections that logged in.");
	strbuf_printf(&sb, "pgtide_server_opened_total %llu\n", (unsigned long long)g.servers_opened);
	help(&sb, "pgtide_server_closed_total", "counter",
	     "Server connections pgtide closed, by reason (\"unclean\" is a bug: please report it).");
	for (int r = 0; r < CR_N; r++)
		strbuf_printf(&sb, "pgtide_server_closed_total{reason=\"%s\"} %llu\n",
			      stats_close_reason_name((enum close_reason)r), (unsigned long long)g.servers_closed[r]);

	/* one series per host and metric: replicas' first, then every host's */
	static const struct {
		const char *name, *type, *help;
		bool replicas_only;
	} hm[] = {
		{ "pgtide_replica_up", "gauge", "1 when the replica is in the rotation (healthy).", true },
		{ "pgtide_replica_lag_bytes", "gauge", "Replay lag behind the primary, bytes of WAL.", true },
		{ "pgtide_replica_transactions_total", "counter", "Transactions routed to the replica.", true },
		{ "pgtide_replica_ryw_reads_total", "counter",
		  "Reads with a read_your_writes floor routed to the replica.", true },
		{ "pgtide_host_primary", "gauge", "1 for the host writes go to now.", false },
		{ "pgtide_host_up", "gauge", "1 when the host's last check succeeded (0 also before a first check).",
		  false },
		{ "pgtide_host_check_failures_total", "counter",
		  "Failed checks of the host, and its servers that failed to connect or died.", false },
	};
	for (size_t k = 0; k < sizeof(hm) / sizeof(hm[0]); k++) {
		struct route_host_info info;
		help(&sb, hm[k].name, hm[k].type, hm[k].help);
		for (int i = 0; route_host_info(i, hm[k].replicas_only, &info); i++) {
			if (k == 1 && info.lag_bytes < 0)
				continue; /* not measured */
			strbuf_printf(&sb, "%s{database=", hm[k].name);
			label(&sb, info.database);
			strbuf_puts(&sb, ",host=");
			label(&sb, info.host);
			strbuf_printf(&sb, ",port=\"%d\"} ", info.port);
			switch (k) {
			case 0: strbuf_printf(&sb, "%d\n", strcmp(info.state, "healthy") == 0); break;
			case 1: strbuf_printf(&sb, "%lld\n", info.lag_bytes); break;
			case 2: strbuf_printf(&sb, "%llu\n", (unsigned long long)info.transactions); break;
			case 3: strbuf_printf(&sb, "%llu\n", (unsigned long long)info.ryw_reads); break;
			case 4: strbuf_printf(&sb, "%d\n", info.is_primary); break;
			case 5:
				strbuf_printf(&sb, "%d\n",
					      strcmp(info.state, "down") != 0 && strcmp(info.state, "unknown") != 0);
				break;
			default: strbuf_printf(&sb, "%llu\n", (unsigned long long)info.check_failures); break;
			}
		}
	}
	render_ryw(&sb);
	render_peers(&sb);
	render_tenants(&sb);
	return strbuf_steal(&sb);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	(void)arg;
	const char *uri = evhttp_request_get_uri(req);
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_send_error(req, 405, "only GET");
		return;
	}
	if (!uri || (strcmp(uri, "/metrics") != 0 && strncmp(uri, "/metrics?", 9) != 0)) {
		evhttp_send_error(req, HTTP_NOTFOUND, "try /metrics");
		return;
	}
	char *text = metrics_render();
	struct evbuffer *out = evbuffer_new();
	evbuffer_add(out, text, strlen(text));
	free(text);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain; version=0.0.4");
	evhttp_send_reply(req, HTTP_OK, "OK", out);
	evbuffer_free(out);
}

bool metrics_start(void)
{
	if (!S()->metrics_port)
		return true;
	http = evhttp_new(g.base);
	if (!http)
		return false;
	evhttp_set_gencb(http, on_request, NULL);
	evhttp_set_timeout(http, 10);
	const char *addr = S()->metrics_listen_addr && *S()->metrics_listen_addr ? S()->metrics_listen_addr :
			   (S()->listen_addr && *S()->listen_addr ? S()->listen_addr : "127.0.0.1");
	char *copy = xstrdup(addr), *save = NULL;
	bool ok = true;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		tok = str_trim(tok);
		const char *bind = strcmp(tok, "*") == 0 ? "0.0.0.0" : tok;
		if (!evhttp_bind_socket_with_handle(http, bind, (ev_uint16_t)S()->metrics_port)) {
			log_error("could not listen for metrics on %s:%d", bind, S()->metrics_port);
			ok = false;
		} else {
			log_info("metrics on http://%s:%d/metrics", bind, S()->metrics_port);
		}
	}
	free(copy);
	return ok;
}

void metrics_stop(void)
{
	if (http)
		evhttp_free(http);
	http = NULL;
}
