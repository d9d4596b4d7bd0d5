/*
 * The admin console: the virtual database "pgtide" (alias "pgbouncer") and
 * everything on admin_listen_port.
 *
 * Owns: command parsing, the result sets of SHOW, and the console commands'
 * waiting (PAUSE and WAIT_CLOSE answer once their condition holds). Reads
 * every object; changes them only through their modules (pool_*,
 * client_close, server_close, daemon_ops->reload...). Output is built on the
 * heap and queued as one block: a SHOW CLIENTS of 100,000 clients is large.
 *
 * Column names, order and types of the SHOW commands are PgBouncer 1.18's
 * (recorded from a running 1.18 in tests/integration/t_admin.sh), so its
 * exporters and dashboards work; pgtide's own columns come after them.
 */
#include "autoconf.h"

#include "admin.h"
#include "admincmd.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "auth.h"
#include "bufpool.h"
#include "client.h"
#include "dns.h"
#include "log.h"
#include "pool.h"
#include "prepare.h"
#include "listen.h"
#include "peer.h"
#include "route.h"
#include "server.h"
#include "session.h"
#include "stats.h"
#include "tenant.h"
#include "tls.h"
#include "util/netaddr.h"
#include "util/strbuf.h"

#define T OID_TEXT
#define I OID_INT4
#define N OID_NUMERIC

/* Console commands that answer later: PAUSE and WAIT_CLOSE. */
struct admin_wait {
	struct admin_wait *next;
	uint32_t client_id;
	bool pause;          /* else WAIT_CLOSE */
	char *db;            /* NULL: all databases */
};
static struct admin_wait *waits;

bool admin_is_console_db(const char *name)
{
	return strcmp(name, "pgtide") == 0 || strcmp(name, "pgbouncer") == 0;
}

/* ---- output ---- */

struct result {
	struct pktbuf pb;
	int ncols;
	int nrows;
	const char **cells;   /* one row being built */
	char **owned;
	int nowned;
};

static void result_begin(struct result *r, int ncols, const char *const *names, const uint32_t *types)
{
	pkt_init_growable(&r->pb, 4096);
	pkt_row_description(&r->pb, ncols, names, types);
	r->ncols = ncols;
	r->nrows = 0;
	r->cells = xcalloc((size_t)ncols, sizeof(char *));
	r->owned = xcalloc((size_t)ncols, sizeof(char *));
	r->nowned = 0;
}

/* Cell helpers: each call appends one column of the current row. */
static void cell(struct result *r, const char *v)
{
	r->cells[r->nowned++] = v;
}

static void cellf(struct result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cellf(struct result *r, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	r->owned[r->nowned] = xstrdup(buf);
	r->cells[r->nowned] = r->owned[r->nowned];
	r->nowned++;
}

static void cell_int(struct result *r, long long v)
{
	cellf(r, "%lld", v);
}

static void cell_u64(struct result *r, uint64_t v)
{
	cellf(r, "%llu", (unsigned long long)v);
}

static void row_end(struct result *r)
{
	pkt_data_row(&r->pb, r->ncols, r->cells);
	for (int i = 0; i < r->nowned; i++) {
		free(r->owned[i]);
		r->owned[i] = NULL;
	}
	r->nowned = 0;
	r->nrows++;
}

static void queue_block(struct client *c, struct pktbuf *pb)
{
	if (pb->failed || !sbuf_queue_heap(&c->sb, pb->buf, pb->len)) {
		if (!pb->failed)
			pb->buf = NULL;
		pkt_free(pb);
		client_close(c, "53200", "out of memory");
	}
}

static void result_end(struct client *c, struct result *r, const char *tag)
{
	char t[64];
	snprintf(t, sizeof(t), "%s", tag);
	pkt_command_complete(&r->pb, t);
	pkt_rfq(&r->pb, 'I');
	free(r->cells);
	free(r->owned);
	queue_block(c, &r->pb);
}

static void reply_tag(struct client *c, const char *tag)
{
	struct pktbuf pb;
	pkt_init_growable(&pb, 64);
	pkt_command_complete(&pb, tag);
	pkt_rfq(&pb, 'I');
	queue_block(c, &pb);
}

static void reply_error(struct client *c, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void reply_error(struct client *c, const char *sqlstate, const char *fmt, ...)
{
	struct pktbuf pb;
	va_list ap;
	pkt_init_growable(&pb, 256);
	va_start(ap, fmt);
	pkt_verror(&pb, "ERROR", sqlstate, fmt, ap);
	va_end(ap);
	pkt_rfq(&pb, 'I');
	queue_block(c, &pb);
}

static void flush_now(struct client *c)
{
	if (c->state != CL_JUSTFREE)
		sbuf_flush(&c->sb);
}

/* ---- formatting ---- */

static void fmt_time(usec_t mono, char *buf, size_t len)
{
	if (!mono) {
		buf[0] = '\0';
		return;
	}
	time_t t = (time_t)((g.start_time + (mono - g.start_mono)) / USEC);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static const char *param_value(const struct pset *p, int idx)
{
	return p && p->v[idx] ? p->v[idx]->s : "";
}

/* ---- SHOW ---- */

static void show_version(struct client *c)
{
	static const char *const names[] = { "version" };
	static const uint32_t types[] = { T };
	struct result r;
	result_begin(&r, 1, names, types);
	cell(&r, "pgtide " PACKAGE_VERSION);
	row_end(&r);
	result_end(c, &r, "SHOW");
}

static void show_help(struct client *c)
{
	struct pktbuf pb;
	pkt_init_growable(&pb, 1024);
	pkt_begin(&pb, 'N');
	pkt_put_byte(&pb, 'S');
	pkt_put_cstr(&pb, "NOTICE");
	pkt_put_byte(&pb, 'V');
	pkt_put_cstr(&pb, "NOTICE");
	pkt_put_byte(&pb, 'C');
	pkt_put_cstr(&pb, "00000");
	pkt_put_byte(&pb, 'M');
	pkt_put_cstr(&pb, "Console usage");
	pkt_put_byte(&pb, 'D');
	pkt_put_cstr(&pb, "\n\tSHOW HELP|VERSION|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS\n"
			  "\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS|LISTS|MEM|STATE|DNS_HOSTS|DNS_ZONES\n"
			  "\tSHOW TENANTS|REPLICAS|HOSTS|PEERS|PEER_POOLS|SOCKETS|ACTIVE_SOCKETS|SERVER_CLOSES\n"
			  "\tSET key = arg\n\tRELOAD\n\tPAUSE [<db>]\n\tRESUME [<db>]\n\tSUSPEND\n"
			  "\tDISABLE <db>\n\tENABLE <db>\n\tRECONNECT [<db>]\n\tKILL <db>\n\tKILL_CLIENT <id>\n"
			  "\tWAIT_CLOSE [<db>]\n\tSHUTDOWN\n");
	pkt_put_byte(&pb, 0);
	pkt_end(&pb);
	pkt_command_complete(&pb, "SHOW");
	pkt_rfq(&pb, 'I');
	queue_block(c, &pb);
}

static void show_config(struct client *c)
{
	static const char *const names[] = { "key", "value", "default", "changeable" };
	static const uint32_t types[] = { T, T, T, T };
	struct result r;
	result_begin(&r, 4, names, types);
	for (int i = 0; i < config_key_count(); i++) {
		const struct cfg_key_info *k = config_key(i);
		char v[1024];
		config_format(g.cfg, i, v, sizeof(v));
		cell(&r, k->name);
		cell(&r, v);
		cell(&r, k->def);
		cell(&r, (k->flags & CF_RELOAD) && !(k->flags & CF_COMPAT) ? "yes" : "no");
		row_end(&r);
	}
	result_end(c, &r, "SHOW");
}

static int db_pool_mode_or(const struct database *db)
{
	return db->cfg->pool_mode;
}

static void show_databases(struct client *c)
{
	static const char *const names[] = { "name", "host", "port", "database", "force_user", "pool_size",
					     "min_pool_size", "reserve_pool", "pool_mode", "max_connections",
					     "current_connections", "paused", "disabled",
					     /* pgtide */ "replicas", "read_routing", "tenant_required", "read_your_writes" };
	static const uint32_t types[] = { T, T, I, T, T, I, I, I, T, I, I, I, I, T, T, I, T };
	struct result r;
	result_begin(&r, 17, names, types);
	size_t it;
	struct hnode *n;
	for (n = htab_next(&g.databases, NULL, &it); n; n = htab_next(&g.databases, n, &it)) {
		struct database *db = container_of(n, struct database, hn);
		if (db->removed)
			continue;
		const struct db_config *dc = db->cfg;
		cell(&r, db->name);
		if (dc->n_hosts) {
			/* a host list, as written (SHOW HOSTS says who is what) */
			struct strbuf hs;
			strbuf_init(&hs);
			for (int i = 0; i < dc->n_hosts; i++)
				strbuf_printf(&hs, dc->hosts[i].port ? "%s%s:%d" : "%s%s", i ? "," : "", dc->hosts[i].host,
					      dc->hosts[i].port);
			cellf(&r, "%s", hs.data ? hs.data : "");
			strbuf_free(&hs);
		} else {
			cell(&r, dc->primary.host);
		}
		cell_int(&r, dc->primary.port);
		cell(&r, dc->dbname ? dc->dbname : db->name);
		cell(&r, dc->user);
		cell_int(&r, db_pool_size(g.cfg, dc));
		cell_int(&r, dc->min_pool_size >= 0 ? dc->min_pool_size : S()->min_pool_size);
		cell_int(&r, dc->reserve_pool >= 0 ? dc->reserve_pool : S()->reserve_pool_size);
		cell(&r, db_pool_mode_or(db) >= 0 ? pool_mode_name(db_pool_mode_or(db)) : NULL);
		cell_int(&r, dc->max_db_connections >= 0 ? dc->max_db_connections : S()->max_db_connections);
		cell_int(&r, db->server_count);
		cell_int(&r, db->paused || g.paused);
		cell_int(&r, db->disabled);
		struct strbuf rs;
		strbuf_init(&rs);
		for (int i = 0; i < dc->n_replicas; i++)
			strbuf_printf(&rs, "%s%s:%d", i ? "," : "", dc->replicas[i].host, dc->replicas[i].port);
		cellf(&r, "%s", rs.data ? rs.data : "");
		strbuf_free(&rs);
		cell(&r, read_routing_name(db_read_routing(g.cfg, dc)));
		cell_int(&r, db_tenant_required(g.cfg, dc));
		cell(&r, read_your_writes_name(db_read_your_writes(g.cfg, dc)));
		row_end(&r);
	}
	/* the console itself, as PgBouncer lists it */
	cell(&r, "pgtide");
	cell(&r, NULL);
	cell_int(&r, S()->listen_port);
	cell(&r, "pgtide");
	cell(&r, "pgtide");
	cell_int(&r, 2);
	cell_int(&r, 0);
	cell_int(&r, 0);
	cell(&r, "statement");
	cell_int(&r, 0);
	cell_int(&r, 0);
	cell_int(&r, 0);
	cell_int(&r, 0);
	cell(&r, "");
	cell(&r, "off");
	cell_int(&r, 0);
	cell(&r, "off");
	row_end(&r);
	result_end(c, &r, "SHOW");
}

static bool server_needs_check_now(const struct server *s)
{
	const char *q = S()->server_check_query;
	return q && *q && now_usec() - s->release_time >= S()->server_check_delay;
}

static void show_pools(struct client *c)
{
	static const char *const names[] = { "database", "user", "cl_active", "cl_waiting", "cl_active_cancel_req",
					     "cl_waiting_cancel_req", "sv_active", "sv_active_cancel",
					     "sv_being_canceled", "sv_idle", "sv_used", "sv_tested", "sv_login",
					     "maxwait", "maxwait_us", "pool_mode",
					     /* pgtide */ "pool_size", "target", "sv_bound", "sv_listen" };
	static const uint32_t types[] = { T, T, I, I, I, I, I, I, I, I, I, I, I, I, I, T, I, T, I, I };
	struct result r;
	result_begin(&r, 20, names, types);
	usec_t now = now_usec();
	struct list *pn;
	list_for_each(pn, &g.pools) {
		struct pool *p = container_of(pn, struct pool, all_node);
		/* a host's pool that only carries its health check (the primary's,
		 * or a replica no client has read from yet): SHOW HOSTS shows it */
		if (p->target && p->n_servers == 0 && list_empty(&p->active_clients) &&
		    list_empty(&p->waiting_clients))
			continue;
		int idle = 0, used = 0;
		struct list *ln;
		list_for_each(ln, &p->idle_servers) {
			struct server *s = container_of(ln, struct server, node);
			if (server_needs_check_now(s))
				used++;
			else
				idle++;
		}
		usec_t maxwait = 0;
		struct list *first = list_first(&p->waiting_clients);
		if (first)
			maxwait = now - container_of(first, struct client, node)->wait_start;
		cell(&r, p->db->name);
		cell(&r, p->user->name);
		cell_int(&r, (long long)list_count(&p->active_clients));
		cell_int(&r, p->n_waiting);
		cell_int(&r, 0);
		cell_int(&r, 0);
		int canceling = 0, tested = 0;
		list_for_each(ln, &p->tested_servers) {
			if (container_of(ln, struct server, node)->cancel.parked)
				canceling++;
			else
				tested++;
		}
		cell_int(&r, (long long)list_count(&p->active_servers));
		cell_int(&r, 0);
		cell_int(&r, canceling);
		cell_int(&r, idle);
		cell_int(&r, used);
		cell_int(&r, tested);
		cell_int(&r, (long long)list_count(&p->login_servers));
		cell_int(&r, (long long)(maxwait / USEC));
		cell_int(&r, (long long)(maxwait % USEC));
		cell(&r, pool_mode_name(pool_mode_of(p, NULL)));
		cell_int(&r, pool_size_of(p));
		cell(&r, route_pool_target_name(p));
		cell_int(&r, p->n_bound);
		cell_int(&r, (long long)list_count(&p->listen_servers));
		row_end(&r);
	}
	result_end(c, &r, "SHOW");
}

static const char *const conn_cols[] = { "type", "user", "database", "state", "addr", "port", "local_addr",
					 "local_port", "connect_time", "request_time", "wait", "wait_us",
					 "close_needed", "ptr", "link", "remote_pid", "tls", "application_name",
					 /* pgtide */ "id", "tenant", "prepared_statements", "bound", "listens" };
static const uint32_t conn_types[] = { T, T, T, T, T, I, T, I, T, T, I, I, I, T, T, I, T, T, I, T, I, T, I };
#define CONN_NCOLS 23
#define CONN_PGB_NCOLS 18 /* up to application_name: PgBouncer's */

/* PgBouncer's "tls" column: protocol/cipher, empty when not on TLS. */
static void tls_cell(struct result *r, struct sbuf *sb)
{
	char d[128];
	cellf(r, "%s", sb->tls && sb->tls_state == SB_TLS_ON ? tls_describe(sb->tls, d, sizeof(d)) : "");
}

static void socket_cells(struct result *r, const struct sbuf *sb);

/* levels: SHOW SOCKETS's buffer columns after PgBouncer's own */
static void client_row_cells(struct result *r, struct client *c, usec_t now, bool levels)
{
	char addr[64], laddr[64], t1[40], t2[40];
	int lport;
	client_addr_string(c, addr, sizeof(addr));
	netaddr_get(c->sb.fd, false, laddr, sizeof(laddr), &lport);
	fmt_time(c->connect_time, t1, sizeof(t1));
	fmt_time(c->request_time, t2, sizeof(t2));
	usec_t wait = c->state == CL_WAITING ? now - c->wait_start : 0;
	cell(r, "C");
	cell(r, c->user ? c->user->name : (c->login && c->login->user_name ? c->login->user_name : ""));
	cell(r, c->admin ? "pgtide" : c->db ? c->db->name : (c->login && c->login->db_name ? c->login->db_name : ""));
	cell(r, client_state_name(c));
	cellf(r, "%s", addr);
	cell_int(r, c->port);
	cellf(r, "%s", laddr);
	cell_int(r, lport);
	cellf(r, "%s", t1);
	cellf(r, "%s", t2);
	cell_int(r, (long long)(wait / USEC));
	cell_int(r, (long long)(wait % USEC));
	cell_int(r, c->close_after_xact);
	cellf(r, "%p", (void *)c);
	if (c->server)
		cellf(r, "%p", (void *)c->server);
	else
		cell(r, "");
	cell_int(r, 0);
	tls_cell(r, &c->sb);
	cellf(r, "%s", param_value(c->params, P_APPLICATION_NAME));
	if (levels)
		socket_cells(r, &c->sb);
	cell_int(r, c->id);
	cellf(r, "%s", c->tenant ? c->tenant->id : "");
	cell_int(r, (long long)prep_client_count(c));
	cellf(r, "%s", session_bound_reason(c));
	cell_int(r, listen_client_count(c));
}

static void client_row(struct result *r, struct client *c, usec_t now)
{
	client_row_cells(r, c, now, false);
	row_end(r);
}

static void show_clients(struct client *c)
{
	struct result r;
	result_begin(&r, CONN_NCOLS, conn_cols, conn_types);
	usec_t now = now_usec();
	struct list *ln, *pn;
	list_for_each(ln, &g.login_clients)
		client_row(&r, container_of(ln, struct client, node), now);
	list_for_each(pn, &g.pools) {
		struct pool *p = container_of(pn, struct pool, all_node);
		list_for_each(ln, &p->active_clients)
			client_row(&r, container_of(ln, struct client, node), now);
		list_for_each(ln, &p->waiting_clients)
			client_row(&r, container_of(ln, struct client, node), now);
	}
	list_for_each(ln, &g.admin_clients)
		client_row(&r, container_of(ln, struct client, node), now);
	result_end(c, &r, "SHOW");
}

static void server_row_cells(struct result *r, struct server *s, bool levels)
{
	char addr[64], laddr[64], t1[40], t2[40];
	int port, lport;
	netaddr_get(s->sb.fd, true, addr, sizeof(addr), &port);
	if (!addr[0]) {
		snprintf(addr, sizeof(addr), "%s", server_host(s));
		port = server_port(s);
	}
	netaddr_get(s->sb.fd, false, laddr, sizeof(laddr), &lport);
	fmt_time(s->connect_time, t1, sizeof(t1));
	fmt_time(s->request_time, t2, sizeof(t2));
	const char *state = server_state_name(s->state);
	if (s->state == SV_IDLE && server_needs_check_now(s))
		state = "used";
	else if (s->state == SV_CHECK)
		state = "tested"; /* PgBouncer's word for the pooler's own query */
	cell(r, "S");
	cell(r, s->pool->user->name);
	cell(r, s->pool->db->name);
	cell(r, state);
	cellf(r, "%s", addr);
	cell_int(r, port);
	cellf(r, "%s", laddr);
	cell_int(r, lport);
	cellf(r, "%s", t1);
	cellf(r, "%s", t2);
	cell_int(r, 0);
	cell_int(r, 0);
	cell_int(r, server_close_due(s));
	cellf(r, "%p", (void *)s);
	if (s->client)
		cellf(r, "%p", (void *)s->client);
	else
		cell(r, "");
	cell_int(r, s->be_pid);
	tls_cell(r, &s->sb);
	cellf(r, "%s", s->client ? param_value(s->client->params, P_APPLICATION_NAME) : "");
	if (levels)
		socket_cells(r, &s->sb);
	cell_int(r, s->id);
	cellf(r, "%s", s->ten.known && s->ten.val ? s->ten.val->id : "");
	cell_int(r, (long long)prep_server_count(s));
	cellf(r, "%s", s->client ? session_bound_reason(s->client) : "");
	cell_int(r, 0);
}

static void server_row(struct result *r, struct server *s)
{
	server_row_cells(r, s, false);
	row_end(r);
}

static void show_servers(struct client *c)
{
	struct result r;
	result_begin(&r, CONN_NCOLS, conn_cols, conn_types);
	struct list *pn, *ln;
	list_for_each(pn, &g.pools) {
		struct pool *p = container_of(pn, struct pool, all_node);
		struct list *lists[] = { &p->active_servers, &p->idle_servers, &p->tested_servers, &p->login_servers,
					 &p->listen_servers, &p->check_servers };
		for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
			list_for_each(ln, lists[i])
				server_row(&r, container_of(ln, struct server, node));
	}
	result_end(c, &r, "SHOW");
}

/* SHOW SOCKETS, SHOW ACTIVE_SOCKETS: every client and server with its
 * buffer levels, PgBouncer's columns (pkt_pos is where parsing stands,
 * pkt_remain what a message forwarded in pieces still lacks). ACTIVE:
 * only those with bytes buffered either way. */
static bool socket_active(const struct sbuf *sb)
{
	struct sbuf_levels lv;
	sbuf_levels(sb, &lv);
	return lv.recv_end > lv.recv_pos || lv.send_pending || lv.stream_left;
}

static void socket_cells(struct result *r, const struct sbuf *sb)
{
	struct sbuf_levels lv;
	sbuf_levels(sb, &lv);
	cell_int(r, lv.recv_end);
	cell_int(r, lv.recv_pos);
	cell_int(r, lv.stream_left);
	cell_int(r, 0);
	cell_u64(r, lv.send_pending);
	cell_int(r, lv.recv_cap - lv.recv_end);
	cell_int(r, 0);
}

static void show_sockets_rows(struct client *c, bool active_only)
{
	static const char *const lv_names[] = { "recv_pos", "pkt_pos", "pkt_remain", "send_pos", "send_remain",
						"pkt_avail", "send_avail" };
	const char *names[CONN_NCOLS + 7];
	uint32_t types[CONN_NCOLS + 7];
	/* PgBouncer's connection columns, its buffer columns, then pgtide's */
	int n = 0;
	for (int i = 0; i < CONN_PGB_NCOLS; i++, n++)
		names[n] = conn_cols[i], types[n] = conn_types[i];
	for (int i = 0; i < 7; i++, n++)
		names[n] = lv_names[i], types[n] = I;
	for (int i = CONN_PGB_NCOLS; i < CONN_NCOLS; i++, n++)
		names[n] = conn_cols[i], types[n] = conn_types[i];
	struct result r;
	result_begin(&r, CONN_NCOLS + 7, names, types);
	usec_t now = now_usec();
	struct list *ln, *pn;
	list_for_each(pn, &g.pools) {
		struct pool *p = container_of(pn, struct pool, all_node);
		struct list *cl[] = { &p->active_clients, &p->waiting_clients };
		for (size_t i = 0; i < sizeof(cl) / sizeof(cl[0]); i++)
			list_for_each(ln, cl[i]) {
				struct client *x = container_of(ln, struct client, node);
				if (active_only && !socket_active(&x->sb))
					continue;
				client_row_cells(&r, x, now, true);
				row_end(&r);
			}
		struct list *sl[] = { &p->active_servers, &p->idle_servers, &p->tested_servers, &p->login_servers,
				      &p->listen_servers, &p->check_servers };
		for (size_t i = 0; i < sizeof(sl) / sizeof(sl[0]); i++)
			list_for_each(ln, sl[i]) {
				struct server *x = container_of(ln, struct server, node);
				if (active_only && !socket_active(&x->sb))
					continue;
				server_row_cells(&r, x, true);
				row_end(&r);
			}
	}
	result_end(c, &r, "SHOW");
}

static void show_sockets(struct client *c)
{
	show_sockets_rows(c, false);
}

static void show_active_sockets(struct client *c)
{
	show_sockets_rows(c, true);
}

static void show_stats(struct client *c, int kind)
{
	/* 0: STATS, 1: STATS_TOTALS, 2: STATS_AVERAGES */
	static const char *const stats_names[] = { "database", "total_xact_count", "total_query_count",
						   "total_received", "total_sent", "total_xact_time",
						   "total_query_time", "total_wait_time", "avg_xact_count",
						   "avg_query_count", "avg_recv", "avg_sent", "avg_xact_time",
						   "avg_query_time", "avg_wait_time",
						   /* pgtide; total_requests keeps pre-1.8 exporters working */
						   "total_requests", "total_errors", "total_client_parse_count",
						   "total_server_parse_count", "total_bind_count",
						   "total_server_opened", "total_server_closed" };
	static const uint32_t stats_types[] = { T, N, N, N, N, N, N, N, N, N, N, N, N, N, N, N, N, N, N, N, N, N };
	static const char *const tot_names[] = { "database", "xact_count", "query_count", "bytes_received",
						 "bytes_sent", "xact_time", "query_time", "wait_time" };
	static const uint32_t tot_types[] = { T, N, N, N, N, N, N, N };
	struct result r;
	if (kind == 0)
		result_begin(&r, 22, stats_names, stats_types);
	else
		result_begin(&r, 8, tot_names, tot_types);
	size_t it;
	struct hnode *n;
	for (n = htab_next(&g.databases, NULL, &it); n; n = htab_next(&g.databases, n, &it)) {
		struct database *db = container_of(n, struct database, hn);
		struct stat_totals t, a;
		stats_db_totals(db, &t);
		stats_db_averages(db, &a);
		cell(&r, db->name);
		if (kind != 2) {
			cell_u64(&r, t.xact_count);
			cell_u64(&r, t.query_count);
			cell_u64(&r, t.bytes_in);
			cell_u64(&r, t.bytes_out);
			cell_u64(&r, t.xact_time);
			cell_u64(&r, t.query_time);
			cell_u64(&r, t.wait_time);
		}
		if (kind != 1) {
			cell_u64(&r, a.xact_count);
			cell_u64(&r, a.query_count);
			cell_u64(&r, a.bytes_in);
			cell_u64(&r, a.bytes_out);
			cell_u64(&r, a.xact_time);
			cell_u64(&r, a.query_time);
			cell_u64(&r, a.wait_time);
		}
		if (kind == 0) {
			cell_u64(&r, t.query_count);
			cell_u64(&r, t.errors);
			cell_u64(&r, t.client_parse_count);
			cell_u64(&r, t.server_parse_count);
			cell_u64(&r, t.bind_count);
			uint64_t closed = 0;
			for (int k = 0; k < CR_N; k++)
				closed += db->servers_closed[k];
			cell_u64(&r, db->servers_opened);
			cell_u64(&r, closed);
		}
		row_end(&r);
	}
	result_end(c, &r, "SHOW");
}

/* SHOW TOTALS: SHOW STATS summed over every database, as name/value rows
 * (PgBouncer's shape); the average times weighted by each database's
 * transactions (or queries). */
static void show_totals(struct client *c)
{
	static const char *const names[] = { "name", "value" };
	static const uint32_t types[] = { T, N };
	struct stat_totals t = { 0 }, a = { 0 };
	uint64_t axt = 0, aqt = 0, awt = 0;
	size_t it;
	struct hnode *n;
	for (n = htab_next(&g.databases, NULL, &it); n; n = htab_next(&g.databases, n, &it)) {
		struct database *db = container_of(n, struct database, hn);
		struct stat_totals dt, da;
		stats_db_totals(db, &dt);
		stats_db_averages(db, &da);
		t.xact_count += dt.xact_count, t.query_count += dt.query_count;
		t.bytes_in += dt.bytes_in, t.bytes_out += dt.bytes_out;
		t.xact_time += dt.xact_time, t.query_time += dt.query_time, t.wait_time += dt.wait_time;
		a.xact_count += da.xact_count, a.query_count += da.query_count;
		a.bytes_in += da.bytes_in, a.bytes_out += da.bytes_out;
		axt += da.xact_time * da.xact_count, aqt += da.query_time * da.query_count;
		awt += da.wait_time * da.xact_count;
	}
	const struct {
		const char *name;
		uint64_t v;
	} rows[] = {
		{ "total_xact_count", t.xact_count }, { "total_query_count", t.query_count },
		{ "total_received", t.bytes_in }, { "total_sent", t.bytes_out },
		{ "total_xact_time", t.xact_time }, { "total_query_time", t.query_time },
		{ "total_wait_time", t.wait_time }, { "avg_xact_count", a.xact_count },
		{ "avg_query_count", a.query_count }, { "avg_recv", a.bytes_in }, { "avg_sent", a.bytes_out },
		{ "avg_xact_time", a.xact_count ? axt / a.xact_count : 0 },
		{ "avg_query_time", a.query_count ? aqt / a.query_count : 0 },
		{ "avg_wait_time", a.xact_count ? awt / a.xact_count : 0 },
	};
	struct result r;
	result_begin(&r, 2, names, types);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		cell(&r, rows[i].name);
		cell_u64(&r, rows[i].v);
		row_end(&r);
	}
	result_end(c, &r, "SHOW");
}

/* SHOW DNS_HOSTS: the resolver's cache. SHOW DNS_ZONES: PgBouncer's
 * columns, no rows: pgtide keeps no zone serials (a name is asked again
 * when its answer is 30 s old). */
static void show_dns_hosts(struct client *c)
{
	static const char *const names[] = { "hostname", "ttl", "addrs" };
	static const uint32_t types[] = { T, N, T };
	struct result r;
	result_begin(&r, 3, names, types);
	const char *host;
	long ttl;
	char addr[64];
	for (int i = 0; dns_cached(i, &host, &ttl, addr, sizeof(addr)); i++) {
		cellf(&r, "%s", host);
		cell_int(&r, ttl);
		cellf(&r, "%s", addr);
		row_end(&r);
	}
	result_end(c, &r, "SHOW");
}

static void show_dns_zones(struct client *c)
{
	static const char *const names[] = { "zonename", "serial", "count" };
	static const uint32_t types[] = { T, N, I };
	struct result r;
	result_begin(&r, 3, names, types);
	result_end(c, &r, "SHOW");
}

/* pgtide: why servers were closed, per database (rows only for reasons
 * that happened). "unclean" is a bug. */
static void show_server_closes(struct client *c)
{
	static const char *const names[] = { "database", "reason", "closed" };
	static const uint32_t types[] = { T, T, N };
	struct result r;
	result_begin(&r, 3, names, types);
	size_t it;
	struct hnode *n;
	for (n = htab_next(&g.databases, NULL, &it); n; n = htab_next(&g.databases, n, &it)) {
		struct database *db = container_of(n, struct database, hn);
		for (int k = 0; k < CR_N; k++) {
			if (!db->servers_closed[k])
				continue;
			cell(&r, db->name);
			cell(&r, stats_close_reason_name((enum close_reason)k));
			cell_u64(&r, db->servers_closed[k]);
			row_end(&r);
		}
	}
	result_end(c, &r, "SHOW");
}

static void show_users(struct client *c)
{
	static const char *const names[] = { "name", "pool_mode", /* pgtide */ "tenant", "max_user_connections",
					     "current_connections" };
	static const uint32_t types[] = { T, T, T, I, I };
	struct result r;
	result_begin(&r, 5, names, types);
	size_t it;
	struct hnode *n;
	for (n = htab_next(&g.users, NULL, &it); n; n = htab_next(&g.users, n, &it)) {
		struct user *u = container_of(n, struct user, hn);
		cell(&r, u->name);
		cell(&r, u->pool_mode >= 0 ? pool_mode_name(u->pool_mode) : NULL);
		cell(&r, u->tenant ? u->tenant->s : NULL);
		cell_int(&r, u->max_user_connections >= 0 ? u->max_user_connections : S()->max_user_connections);
		cell_int(&r, u->server_count);
		row_end(&r);
	}
	result_end(c, &r, "SHOW");
}

static void show_lists(struct client *c)
{
	static const char *const names[] = { "list", "items" };
	static const uint32_t types[] = { T, I };
	struct result r;
	result_begin(&r, 2, names, types);
	int pools = 0, used_servers = 0, login = (int)list_count(&g.login_clients);
	struct list *pn;
	list_for_each(pn, &g.pools) {
		struct pool *p = container_of(pn, struct pool, all_node);
		pools++;
		used_servers += p->n_servers;
	}
	const struct { const char *k; long long v; } rows[] = {
		{ "databases", (long long)g.databases.count }, { "users", (long long)g.users.count },
		{ "pools", pools }, { "free_clients", 0 }, { "used_clients", g.n_clients },
		{ "login_clients", login }, { "free_servers", 0 }, { "used_servers", used_servers },
		{ "dns_names", 0 }, { "dns_zones", 0 }, { "dns_queries", 0 }, { "dns_pending", 0 },
		/* pgtide */
		{ "tenants", (long long)tenant_count() }, { "param_sets", (long long)pset_count() },
		{ "setting_sets", (long long)sset_count() },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		cell(&r, rows[i].k);
		cell_int(&r, rows[i].v);
		row_end(&r);
	}
	result_end(c, &r, "SHOW");
}

static void show_mem(struct client *c)
{
	static const char *const names[] = { "name", "size", "used", "free", "memtotal" };
	static const uint32_t types[] = { T, I, I, I, I };
	struct result r;
	result_begin(&r, 5, names, types);
	struct bufpool_stats bs;
	bufpool_stats(&bs);
	int servers = 0;
	struct list *pn;
	list_for_each(pn, &g.pools)
		servers += container_of(pn, struct pool, all_node)->n_servers;
	const struct { const char *k; size_t size, used, free; } rows[] = {
		{ "client_cache", sizeof(struct client), (size_t)g.n_clients, 0 },
		{ "server_cache", sizeof(struct server), (size_t)servers, 0 },
		{ "pool_cache", sizeof(struct pool), (size_t)list_count(&g.pools), 0 },
		{ "iobuf_cache", bs.block_size, bs.used, bs.free },
		{ "tenant_cache", sizeof(struct tenant), tenant_count(), 0 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		cell(&r, rows[i].k);
		cell_int(&r, (long long)rows[i].size);
		cell_int(&r, (long long)rows[i].used);
		cell_int(&r, (long long)rows[i].free);
		cell_int(&r, (long long)(rows[i].size * (rows[i].used + rows[i].free)));
		row_end(&r);
	}
	result_end(c, &r, "SHOW");
}

static void show_state(struct client *c)
{
	static const char *const names[] = { "key", "value" };
	static const uint32_t types[] = { T, T };
	struct result r;
	result_begin(&r, 2, names, types);
	const struct { const char *k; bool v; } rows[] = {
		{ "active", !g.paused && !g.suspended && !g.shutting_down },
		{ "paused", g.paused },
		{ "suspended", g.suspended },
		{ "shutting_down", g.shutting_down },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		cell(&r, rows[i].k);
		cell(&r, rows[i].v ? "yes" : "no");
		row_end(&r);
	}
	result_end(c, &r, "SHOW");
}

static void show_tenants(struct client *c)
{
	static const char *const names[] = { "tenant", "clients", "transactions", "queries", "avg_transaction_time",
					     /* sharing pools (schedule.c) */
					     "waiting", "servers", "wait_time", "max_wait", "weight",
					     "refused_connections", "held_by_servers", "held_by_rate",
					     /* read_your_writes (ryw.c) */
					     "ryw_replica_reads", "ryw_waited_reads", "ryw_wait_time", "ryw_primary_reads" };
	static const uint32_t types[] = { T, I, N, N, N, I, I, N, N, I, N, N, N, N, N, N, N };
	struct result r;
	result_begin(&r, 17, names, types);
	size_t it = 0;
	for (struct tenant *t = tenant_next(NULL, &it); t; t = tenant_next(t, &it)) {
		cell(&r, t->id);
		cell_int(&r, t->clients);
		cell_u64(&r, t->xacts);
		cell_u64(&r, t->queries);
		cell_u64(&r, t->xacts ? t->xact_time / t->xacts : 0);
		cell_int(&r, t->waiting);
		cell_int(&r, t->servers);
		cell_u64(&r, t->wait_time);
		cell_u64(&r, (uint64_t)t->max_wait);
		cell_int(&r, config_tenant_weight(g.cfg, t->id));
		cell_u64(&r, t->refused_connections);
		cell_u64(&r, t->held_by_servers);
		cell_u64(&r, t->held_by_rate);
		cell_u64(&r, t->ryw_replica);
		cell_u64(&r, t->ryw_waited);
		cell_u64(&r, t->ryw_wait_time);
		cell_u64(&r, t->ryw_primary);
		row_end(&r);
	}
	result_end(c, &r, "SHOW");
}

/* SHOW REPLICAS (replicas_only) and SHOW HOSTS: one row per host. */
static void show_hosts_rows(struct client *c, bool replicas_only)
{
	static const char *const rnames[] = { "database", "host", "port", "state", "lag_bytes", "transactions",
					      "last_check", "reason", "ryw_reads" };
	static const uint32_t rtypes[] = { T, T, I, T, N, N, T, T, N };
	static const char *const hnames[] = { "database", "host", "port", "role", "state", "lag_bytes",
					      "transactions", "last_check", "failures", "reason", "ryw_reads" };
	static const uint32_t htypes[] = { T, T, I, T, T, N, N, T, N, T, N };
	struct result r;
	if (replicas_only)
		result_begin(&r, 9, rnames, rtypes);
	else
		result_begin(&r, 11, hnames, htypes);
	struct route_host_info info;
	for (int i = 0; route_host_info(i, replicas_only, &info); i++) {
		char t[40];
		fmt_time(info.last_check, t, sizeof(t));
		cellf(&r, "%s", info.database);
		cellf(&r, "%s", info.host);
		cell_int(&r, info.port);
		if (!replicas_only)
			cellf(&r, "%s", info.role);
		cellf(&r, "%s", info.state);
		if (info.lag_bytes >= 0)
			cell_int(&r, info.lag_bytes);
		else
			cell(&r, NULL);
		cell_u64(&r, info.transactions);
		cellf(&r, "%s", t);
		if (!replicas_only)
			cell_u64(&r, info.check_failures);
		cellf(&r, "%s", info.reason);
		cell_u64(&r, info.ryw_reads);
		row_end(&r);
	}
	result_end(c, &r, "SHOW");
}

static void show_replicas(struct client *c)
{
	show_hosts_rows(c, true);
}

static void show_hosts(struct client *c)
{
	show_hosts_rows(c, false);
}

/* SHOW PEERS: the [peers] section, this process marked, cancels forwarded. */
static void show_peers(struct client *c)
{
	static const char *const names[] = { "peer_id", "host", "port", "self", "cancels_forwarded", "cancels_failed",
					     "cancels_received", "last_error" };
	static const uint32_t types[] = { I, T, I, T, N, N, N, T };
	struct result r;
	result_begin(&r, 8, names, types);
	struct peer_info pi;
	for (int i = 0; peer_info(i, &pi); i++) {
		cell_int(&r, pi.id);
		cellf(&r, "%s", pi.host);
		cell_int(&r, pi.port);
		cell(&r, pi.self ? "yes" : "no");
		cell_u64(&r, pi.forwarded);
		cell_u64(&r, pi.failed);
		cell_u64(&r, pi.received);
		cellf(&r, "%s", pi.last_error);
		row_end(&r);
	}
	result_end(c, &r, "SHOW");
}

/* SHOW PEER_POOLS: PgBouncer's view of the cancels on their way to each
 * other peer. pgtide forwards a cancel at once on a connection of its own
 * and closes the client's cancel connection, so no client waits: only
 * sv_login (forwards resolving or connecting) is ever above 0. */
static void show_peer_pools(struct client *c)
{
	static const char *const names[] = { "peer_id", "cl_active_cancel_req", "cl_waiting_cancel_req",
					     "sv_active_cancel", "sv_login" };
	static const uint32_t types[] = { I, I, I, I, I };
	struct result r;
	result_begin(&r, 5, names, types);
	struct peer_info pi;
	for (int i = 0; peer_info(i, &pi); i++) {
		if (pi.self)
			continue;
		cell_int(&r, pi.id);
		cell_int(&r, 0);
		cell_int(&r, 0);
		cell_int(&r, 0);
		cell_int(&r, pi.in_flight);
		row_end(&r);
	}
	result_end(c, &r, "SHOW");
}

/* ---- commands ---- */

static struct database *db_arg(struct client *c, const char *name)
{
	struct database *db = database_find(name);
	if (!db || db->removed) {
		reply_error(c, "08P01", "no such database: %s", name);
		return NULL;
	}
	return db;
}

static bool db_busy(const struct database *db)
{
	const struct list *pn;
	list_for_each(pn, &db->pools) {
		const struct pool *p = container_of(pn, struct pool, db_node);
		if (!list_empty(&p->active_servers) || !list_empty(&p->tested_servers))
			return true;
	}
	return false;
}

static bool db_has_close_needed(const struct database *db)
{
	const struct list *pn, *ln;
	list_for_each(pn, &db->pools) {
		const struct pool *p = container_of(pn, struct pool, db_node);
		const struct list *lists[] = { &p->active_servers, &p->tested_servers, &p->idle_servers, &p->login_servers };
		for (size_t i = 0; i < 4; i++)
			list_for_each(ln, lists[i])
				if (server_close_due(container_of(ln, struct server, node)))
					return true;
	}
	return false;
}

static void close_idle_servers(struct database *db)
{
	struct list *pn, *ln, *tmp;
	list_for_each(pn, &db->pools) {
		struct pool *p = container_of(pn, struct pool, db_node);
		list_for_each_safe(ln, tmp, &p->idle_servers)
			server_close(container_of(ln, struct server, node), CR_ADMIN, "PAUSE");
	}
}

/* Is the condition a waiting PAUSE or WAIT_CLOSE wants true now? */
static bool wait_done(const struct admin_wait *w)
{
	size_t it;
	struct hnode *n;
	for (n = htab_next(&g.databases, NULL, &it); n; n = htab_next(&g.databases, n, &it)) {
		struct database *db = container_of(n, struct database, hn);
		if (w->db && strcmp(w->db, db->name) != 0)
			continue;
		if (w->pause ? db_busy(db) : db_has_close_needed(db))
			return false;
	}
	return true;
}

void admin_check_waits(void)
{
	struct admin_wait **pp = &waits;
	while (*pp) {
		struct admin_wait *w = *pp;
		struct client *c = client_by_id(w->client_id);
		if (!c || c->state == CL_JUSTFREE) {
			*pp = w->next;
			free(w->db);
			free(w);
			continue;
		}
		if (!wait_done(w)) {
			pp = &w->next;
			continue;
		}
		if (w->pause) {
			/* PgBouncer closes the servers of a paused database */
			size_t it;
			struct hnode *n;
			for (n = htab_next(&g.databases, NULL, &it); n; n = htab_next(&g.databases, n, &it)) {
				struct database *db = container_of(n, struct database, hn);
				if (!w->db || strcmp(w->db, db->name) == 0)
					close_idle_servers(db);
			}
		}
		reply_tag(c, w->pause ? "PAUSE" : "WAIT_CLOSE");
		flush_now(c);
		*pp = w->next;
		free(w->db);
		free(w);
	}
}

static void add_wait(struct client *c, bool pause, const char *db)
{
	struct admin_wait *w = xcalloc(1, sizeof(*w));
	w->client_id = c->id;
	w->pause = pause;
	w->db = db ? xstrdup(db) : NULL;
	w->next = waits;
	waits = w;
	admin_check_waits();
}

static void cmd_set(struct client *c, const struct admin_cmd *cmd)
{
	if (cmd->bad_set) {
		reply_error(c, "42601", "syntax error: expected SET key = value");
		return;
	}
	char msg[512], notice[700];
	if (!daemon_ops->set_setting(cmd->key, cmd->value, msg, sizeof(msg), notice, sizeof(notice))) {
		reply_error(c, "22023", "%s", msg);
		return;
	}
	if (notice[0]) {
		struct pktbuf pb;
		pkt_init_growable(&pb, 256);
		pkt_notice(&pb, "01000", notice);
		queue_block(c, &pb);
	}
	reply_tag(c, "SET");
}

static void admin_command(struct client *c, const char *q)
{
	struct admin_cmd cmd;
	admin_parse(q, &cmd);
	const char *w1 = cmd.word, *w2 = cmd.subject, *arg = cmd.arg;
	if (cmd.verb == AC_EMPTY) {
		reply_tag(c, "");
		return;
	}
	bool is_show = cmd.verb == AC_SHOW;
	if (!is_show && !c->admin_full) {
		reply_error(c, "42501", "admin access needed: user \"%s\" is in stats_users, not admin_users", c->user->name);
		return;
	}
	if (is_show) {
		static const struct {
			const char *name;
			void (*fn)(struct client *);
		} shows[] = {
			{ "HELP", show_help }, { "VERSION", show_version }, { "CONFIG", show_config },
			{ "DATABASES", show_databases }, { "POOLS", show_pools }, { "CLIENTS", show_clients },
			{ "SERVERS", show_servers }, { "USERS", show_users }, { "LISTS", show_lists },
			{ "MEM", show_mem }, { "STATE", show_state }, { "TENANTS", show_tenants },
			{ "REPLICAS", show_replicas }, { "HOSTS", show_hosts }, { "PEERS", show_peers },
			{ "PEER_POOLS", show_peer_pools }, { "SOCKETS", show_sockets },
			{ "ACTIVE_SOCKETS", show_active_sockets }, { "TOTALS", show_totals },
			{ "DNS_HOSTS", show_dns_hosts }, { "DNS_ZONES", show_dns_zones },
			{ "SERVER_CLOSES", show_server_closes },
		};
		for (size_t i = 0; i < sizeof(shows) / sizeof(shows[0]); i++)
			if (strcmp(w2, shows[i].name) == 0) {
				shows[i].fn(c);
				return;
			}
		if (strcmp(w2, "STATS") == 0)
			show_stats(c, 0);
		else if (strcmp(w2, "STATS_TOTALS") == 0)
			show_stats(c, 1);
		else if (strcmp(w2, "STATS_AVERAGES") == 0)
			show_stats(c, 2);
		else
			reply_error(c, "08P01", "invalid command 'SHOW %s', use SHOW HELP;", w2);
		return;
	}
	struct database *db = NULL;
	switch (cmd.verb) {
	case AC_SET:
		cmd_set(c, &cmd);
		break;
	case AC_RELOAD:
		if (daemon_ops->reload())
			reply_tag(c, "RELOAD");
		else
			reply_error(c, "F0000", "reload failed: the configuration has errors (see the log); the running one stays");
		break;
	case AC_PAUSE:
		if (arg[0]) {
			if (!(db = db_arg(c, arg)))
				return;
			db->paused = true;
			log_info("PAUSE %s", db->name);
		} else {
			daemon_ops->pause(true);
		}
		add_wait(c, true, arg[0] ? arg : NULL);
		break;
	case AC_RESUME:
		if (arg[0]) {
			if (!(db = db_arg(c, arg)))
				return;
			db->paused = false;
			log_info("RESUME %s", db->name);
			pool_pause_all(g.paused); /* wakes waiters */
		} else {
			if (g.suspended)
				daemon_ops->suspend(false);
			daemon_ops->pause(false);
		}
		reply_tag(c, "RESUME");
		break;
	case AC_SUSPEND:
		daemon_ops->suspend(true);
		reply_tag(c, "SUSPEND");
		break;
	case AC_DISABLE:
	case AC_ENABLE:
		if (!arg[0]) {
			reply_error(c, "42601", "%s needs a database name", w1);
			return;
		}
		if (!(db = db_arg(c, arg)))
			return;
		db->disabled = strcmp(w1, "DISABLE") == 0;
		log_info("%s %s", w1, db->name);
		reply_tag(c, w1);
		break;
	case AC_KILL:
		if (!arg[0]) {
			reply_error(c, "42601", "KILL needs a database name");
			return;
		}
		if (!(db = db_arg(c, arg)))
			return;
		log_info("KILL %s", db->name);
		db->paused = true; /* new clients wait until RESUME, as in PgBouncer */
		pool_kill_db(db);
		reply_tag(c, "KILL");
		break;
	case AC_KILL_CLIENT: {
		char *end;
		unsigned long id = strtoul(arg, &end, 0);
		struct client *victim = (*arg && !*end) ? client_by_id((uint32_t)id) : NULL;
		if (!victim) {
			reply_error(c, "08P01", "no such client: %s (give the id column of SHOW CLIENTS)", arg);
			return;
		}
		client_log(victim, LV_LOG, "killed by KILL_CLIENT from C-%u", c->id);
		client_close(victim, "57P01", "terminated by the administrator (KILL_CLIENT)");
		reply_tag(c, "KILL_CLIENT");
		break;
	}
	case AC_RECONNECT: {
		size_t it;
		struct hnode *n;
		if (arg[0] && !db_arg(c, arg))
			return;
		for (n = htab_next(&g.databases, NULL, &it); n; n = htab_next(&g.databases, n, &it)) {
			struct database *d = container_of(n, struct database, hn);
			if (!arg[0] || strcmp(arg, d->name) == 0)
				pool_reconnect_db(d);
		}
		reply_tag(c, "RECONNECT");
		break;
	}
	case AC_WAIT_CLOSE:
		if (arg[0] && !db_arg(c, arg))
			return;
		add_wait(c, false, arg[0] ? arg : NULL);
		break;
	case AC_SHUTDOWN:
		reply_tag(c, "SHUTDOWN");
		flush_now(c);
		daemon_ops->shutdown(false);
		break;
	default:
		reply_error(c, "08P01", "invalid command '%s', use SHOW HELP;", w1);
		break;
	}
}

/* ---- sessions ---- */

void admin_login(struct client *c)
{
	const char *user = c->user->name;
	bool admin = cfg_list_contains(S()->admin_users, user) || (c->login && c->login->peer_admin);
	bool stats = cfg_list_contains(S()->stats_users, user);
	if (!admin && !stats) {
		client_login_fail(c, "28000",
				  "not allowed to connect to the admin console: user \"%s\" is in neither admin_users nor stats_users",
				  user);
		return;
	}
	c->admin = true;
	c->admin_full = admin;
	struct pktbuf pb;
	pkt_init_growable(&pb, 512);
	pkt_auth(&pb, AUTH_REQ_OK, NULL, 0);
	pkt_param_status(&pb, "server_version", PACKAGE_VERSION "/pgtide");
	pkt_param_status(&pb, "client_encoding", "UTF8");
	pkt_param_status(&pb, "server_encoding", "UTF8");
	pkt_param_status(&pb, "DateStyle", "ISO");
	pkt_param_status(&pb, "TimeZone", "UTC");
	pkt_param_status(&pb, "standard_conforming_strings", "on");
	pkt_param_status(&pb, "integer_datetimes", "on");
	pkt_param_status(&pb, "IntervalStyle", "postgres");
	pkt_param_status(&pb, "is_superuser", "off");
	pkt_param_status(&pb, "application_name", "");
	pkt_backend_key(&pb, peer_cancel_pid(c->id), c->cancel_key);
	pkt_rfq(&pb, 'I');
	queue_block(c, &pb);
	if (c->login) {
		struct login_state *l = c->login;
		c->login = NULL;
		auth_free_state(l);
	}
	client_set_state(c, CL_ACTIVE, NULL);
	c->request_time = now_usec();
	if (S()->log_connections)
		client_log(c, LV_LOG, "login attempt: db=pgtide user=%s (admin console%s)", user, admin ? "" : ", SHOW only");
	flush_now(c);
	sbuf_continue(&c->sb);
}

enum sb_verdict admin_on_msg(struct client *c, const struct pmsg *m)
{
	c->request_time = now_usec();
	switch (m->type) {
	case FE_TERMINATE:
		client_close(c, NULL, NULL);
		return SB_CLOSED;
	case FE_QUERY: {
		const char *q;
		size_t len;
		if (!proto_parse_query(m, &q, &len)) {
			client_close(c, "08P01", "malformed Query message");
			return SB_CLOSED;
		}
		admin_command(c, q);
		return SB_DROP;
	}
	case FE_SYNC:
		if (c->skip_to_sync) {
			c->skip_to_sync = false;
			struct pktbuf pb;
			pkt_init_growable(&pb, 16);
			pkt_rfq(&pb, 'I');
			queue_block(c, &pb);
		}
		return SB_DROP;
	case FE_PARSE: case FE_BIND: case FE_DESCRIBE: case FE_EXECUTE: case FE_CLOSE: case FE_FUNCTION_CALL:
		if (!c->skip_to_sync) {
			struct pktbuf pb;
			pkt_init_growable(&pb, 128);
			pkt_error(&pb, "ERROR", "0A000", "the admin console speaks only the simple query protocol");
			queue_block(c, &pb);
			c->skip_to_sync = true;
		}
		return SB_DROP;
	case FE_FLUSH:
		return SB_DROP;
	default:
		client_close(c, "08P01", "invalid frontend message type %d", m->type);
		return SB_CLOSED;
	}
}

void admin_free(void)
{
	while (waits) {
		struct admin_wait *w = waits;
		waits = w->next;
		free(w->db);
		free(w);
	}
}
