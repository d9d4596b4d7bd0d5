/*
 * Server connections: connect, log in, follow replies, run pgtide's own
 * queries.
 *
 * Owns: struct server. Every message a server sends answers something that
 * was sent to it, in order; the reply queue (rq) records what was sent, so
 * each reply is matched to its request: forwarded to the client, or consumed
 * when the request was pgtide's own (parameter syncs, checks, resets). The
 * queue also tells when a transaction is over (ReadyForQuery with nothing
 * left owed) and what a client still waits for if the server dies.
 * Must not choose clients (pool.c) or parse client messages (client.c).
 */
#include "autoconf.h"

#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "auth.h"
#include "client.h"
#include "dns.h"
#include "health.h"
#include "listen.h"
#include "log.h"
#include "pool.h"
#include "prepare.h"
#include "release.h"
#include "route.h"
#include "ryw.h"
#include "sendplan.h"
#include "session.h"
#include "tenant.h"
#include "tls.h"
#include "util/netaddr.h"
#include "util/strbuf.h"

struct server_login {
	struct scram_client scram;
	bool sasl_started;
	int n_params;
	char **names;
	char **values;
};

static const char *const state_names[] = {
	[SV_LOGIN] = "login", [SV_IDLE] = "idle", [SV_ACTIVE] = "active",
	[SV_TESTED] = "tested", [SV_LISTEN] = "listen", [SV_CHECK] = "check", [SV_JUSTFREE] = "closed",
};

const char *server_state_name(int st)
{
	return state_names[st];
}

const char *server_host(const struct server *s)
{
	if (s->pool->target)
		return route_target_host(s->pool->target);
	if (s->dest)
		return route_target_host(s->dest);
	const char *h = s->pool->db->cfg->primary.host;
	if (!h || !*h)
		h = *S()->unix_socket_dir ? S()->unix_socket_dir : "/tmp";
	return h;
}

int server_port(const struct server *s)
{
	if (s->pool->target)
		return route_target_port(s->pool->target);
	if (s->dest)
		return route_target_port(s->dest);
	return s->pool->db->cfg->primary.port;
}

const char *server_prefix(const struct server *s, char *buf, size_t len)
{
	snprintf(buf, len, "S-%u %s/%s@%s:%d", s->id, s->pool->db->name, s->pool->user->name, server_host(s),
		 server_port(s));
	return buf;
}

/*
 * The one place a server changes state: the list that holds it says what
 * state it is in (enum server_state), so the two never disagree. Idle
 * servers are taken from the head: the most recently used first, so the
 * others can age out (server_idle_timeout).
 */
/* Which state may follow which. A server is born logging in (on no list
 * yet) and goes to the justfree list once, for good; the pool's LISTEN
 * connection serves nothing else. Any other change is a bug: logged with
 * "please report this", which fails the tests. */
#define SV_BIT(st) (1u << (st))
static const unsigned sv_next[] = {
	[SV_LOGIN] = SV_BIT(SV_IDLE) | SV_BIT(SV_ACTIVE) | SV_BIT(SV_TESTED) | SV_BIT(SV_LISTEN) | SV_BIT(SV_CHECK) |
		     SV_BIT(SV_JUSTFREE),
	[SV_IDLE] = SV_BIT(SV_ACTIVE) | SV_BIT(SV_TESTED) | SV_BIT(SV_CHECK) | SV_BIT(SV_JUSTFREE),
	/* active -> active: handed straight to the next client (a waiter) */
	[SV_ACTIVE] = SV_BIT(SV_ACTIVE) | SV_BIT(SV_IDLE) | SV_BIT(SV_TESTED) | SV_BIT(SV_CHECK) | SV_BIT(SV_JUSTFREE),
	/* tested -> tested: a second query of pgtide's own (a reset, then a check) */
	[SV_TESTED] = SV_BIT(SV_TESTED) | SV_BIT(SV_IDLE) | SV_BIT(SV_ACTIVE) | SV_BIT(SV_CHECK) |
		      SV_BIT(SV_JUSTFREE),
	[SV_LISTEN] = SV_BIT(SV_JUSTFREE),
	[SV_CHECK] = SV_BIT(SV_IDLE) | SV_BIT(SV_ACTIVE) | SV_BIT(SV_TESTED) | SV_BIT(SV_JUSTFREE),
	[SV_JUSTFREE] = 0,
};

/* The three machines of a server share this check: a change their table
 * lacks is logged, and the tests fail on the line. */
static void check_transition(const struct server *s, const char *machine, const char *const *names,
			     const unsigned *next, unsigned from, unsigned to)
{
	if (!(next[from] & SV_BIT(to)))
		server_log(s, LV_WARNING, "%s %s -> %s is not expected: please report this", machine, names[from],
			   names[to]);
}

void server_set_state(struct server *s, enum server_state st)
{
	struct pool *p = s->pool;
	bool born = !list_linked(&s->node) && st == SV_LOGIN;
	if (!born)
		check_transition(s, "state", state_names, sv_next, s->state, st);
	list_del(&s->node);
	switch (st) {
	case SV_LOGIN: list_add_tail(&p->login_servers, &s->node); break;
	case SV_IDLE: list_add_head(&p->idle_servers, &s->node); break;
	case SV_ACTIVE: list_add_tail(&p->active_servers, &s->node); break;
	case SV_TESTED: list_add_tail(&p->tested_servers, &s->node); break;
	case SV_LISTEN: list_add_tail(&p->listen_servers, &s->node); break;
	case SV_CHECK: list_add_tail(&p->check_servers, &s->node); break;
	case SV_JUSTFREE: list_add_tail(&g.justfree_servers, &s->node); break;
	}
	s->state = st;
}

/* The extended protocol (enum server_sync): which change may follow
 * which, as its diagram in pgtide.h draws it. */
static const char *const sync_names[] = { "none", "open", "skipping" };
static const unsigned sync_next[] = {
	[SYNC_NONE] = SV_BIT(SYNC_OPEN) | SV_BIT(SYNC_SKIPPING),
	[SYNC_OPEN] = SV_BIT(SYNC_NONE) | SV_BIT(SYNC_SKIPPING),
	[SYNC_SKIPPING] = SV_BIT(SYNC_NONE),
};

void server_set_sync(struct server *s, enum server_sync to)
{
	if (s->sync != to)
		check_transition(s, "protocol", sync_names, sync_next, s->sync, to);
	s->sync = (uint8_t)to;
}

/* Where a linked server is in its client's transaction (enum
 * server_phase): its diagram in pgtide.h. Any phase may go back to
 * serving (the server is released, relinked or closed). */
static const char *const phase_names[] = { "serving", "exiting", "asking", "releasing" };
static const unsigned phase_next[] = {
	[TX_SERVING] = SV_BIT(TX_EXITING) | SV_BIT(TX_ASKING) | SV_BIT(TX_RELEASING),
	[TX_EXITING] = SV_BIT(TX_SERVING) | SV_BIT(TX_RELEASING),
	[TX_ASKING] = SV_BIT(TX_SERVING),
	[TX_RELEASING] = SV_BIT(TX_SERVING),
};

void server_set_phase(struct server *s, enum server_phase to)
{
	if (s->phase != to)
		check_transition(s, "phase", phase_names, phase_next, s->phase, to);
	s->phase = (uint8_t)to;
}

/* ---- reply queue ---- */

/* Refuse a client's request in the server's stream, where it stands: a
 * statement that raises the client's error takes the request's place, so
 * replies keep their order and an open transaction fails as Postgres
 * would fail it (client_deny decides when). */
bool server_queue_denial(struct server *s, uint8_t for_type, const char *sqlstate, const char *msg)
{
	char sql[1024], lit[600];
	if (!sql_quote_literal(msg, lit, sizeof(lit)))
		snprintf(lit, sizeof(lit), "'permission denied'");
	snprintf(sql, sizeof(sql),
		 "DO $pgtide_deny$ BEGIN RAISE EXCEPTION USING ERRCODE = '%.5s', MESSAGE = %s; END $pgtide_deny$",
		 sqlstate, lit);
	struct pktbuf pb;
	if (!sbuf_gen_begin(&s->sb, &pb))
		return false;
	if (for_type == FE_QUERY) {
		pkt_query(&pb, sql);
		if (pb.failed)
			return false;
		sbuf_gen_commit(&s->sb, &pb);
		rq_push(s, FE_QUERY, 0);
		server_group_sent(s, false);
		return true;
	}
	/* extended: the error takes the refused message's place; the server
	 * then skips the rest of the client's group up to its Sync */
	pkt_parse(&pb, "", sql);
	pkt_bind_noparams(&pb, "", "");
	pkt_execute(&pb, "", 0);
	if (pb.failed)
		return false;
	sbuf_gen_commit(&s->sb, &pb);
	rq_push(s, FE_PARSE, RQ_CONSUME);
	rq_push(s, FE_BIND, RQ_CONSUME);
	rq_push(s, FE_EXECUTE, 0);
	server_group_sent(s, true);
	return true;
}


static bool transaction_ended(struct server *s, struct client *c);
static bool holdback_release(struct server *s, bool keep_replay);

/* Emit the replies pgtide owes for RQ_SYNTH entries now at the head. */
static void emit_due(struct server *s)
{
	while (!rq_empty(s)) {
		struct rq_entry *e = rq_first(s);
		if (!(e->flags & RQ_SYNTH))
			return;
		uint16_t flags = e->flags;
		uint8_t type = e->type;
		char what = (char)e->aux;
		rq_pop(s);
		if (flags & RQ_MAPPED)
			prep_mapped_done(s, true);
		struct client *c = s->client;
		if (!c)
			continue;
		/* pgtide answers for the request itself: replies held back until
		 * it ran come first, and the request can no longer run elsewhere */
		if (s->holding && !holdback_release(s, false))
			return; /* closed */
		struct pktbuf pb;
		if (!sbuf_gen_begin(&c->sb, &pb)) {
			client_close(c, "53200", "out of memory");
			return;
		}
		pkt_synth(&pb, what);
		if (type == FE_QUERY) {
			pkt_rfq(&pb, s->status);
			c->status = s->status;
		}
		sbuf_gen_commit(&c->sb, &pb);
		if (type == FE_QUERY && rq_empty(s) && !server_unsynced(s) && s->status == 'I' &&
		    !transaction_ended(s, c))
			return;
	}
}

/* ---- lifecycle ---- */

static void server_free(void *arg);
static void cancels_forget(struct server *s);

void server_module_init(void)
{
	list_init(&g.justfree_servers);
}

static void login_free(struct server *s)
{
	struct server_login *l = s->login;
	if (!l)
		return;
	for (int i = 0; i < l->n_params; i++) {
		free(l->names[i]);
		free(l->values[i]);
	}
	free(l->names);
	free(l->values);
	memset(&l->scram, 0, sizeof(l->scram));
	free(l);
	s->login = NULL;
}

void server_close(struct server *s, enum close_reason why, const char *fmt, ...)
{
	if (s->state == SV_JUSTFREE)
		return;
	char reason[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if ((unsigned)why >= CR_N)
		why = CR_INTERNAL;
	s->pool->db->servers_closed[why]++;
	g.servers_closed[why]++;
	if (why == CR_UNCLEAN) {
		/* pgtide lost track of this connection's protocol state: the
		 * integration tests fail on this line */
		server_log(s, LV_WARNING, "closing because: %s: please report this", reason);
	} else if (S()->log_disconnections || s->state == SV_LOGIN) {
		/* a health check's connection: route.c reports its host's state
		 * once per change, not once per check */
		server_log(s, s->role == ROLE_CHECK ? LV_DEBUG : LV_LOG, "closing because: %s (age=%llds)", reason,
			   (long long)((now_usec() - s->connect_time) / USEC));
	}

	struct client *c = s->client;
	if (c) {
		bool complete = server_is_idle_for_txn(s) && !s->in_copy;
		if (complete) {
			/* the client has its whole answer, maybe still queued: it is
			 * written when the client's socket takes it */
			pool_unlink(c);
			sbuf_update_events(&c->sb);
		} else if (c->replay && (s->holding || c->begin_replay == BR_ANSWERED) &&
			   rq_pending_syncs(s) <= 1) {
			/* the server died before the client's first request ran (a
			 * replica's, or a BEGIN and what followed it): nothing reached
			 * the client, so run it elsewhere */
			if (s->pool->target)
				health_target_down(s->pool->target, reason);
			client_log(c, LV_LOG, "server connection lost (%s) before its first request ran: running it "
				   "again on another server", reason);
			pool_unlink(c);
			client_replay(c, false);
		} else {
			client_server_lost(c, "server connection lost (%s)", reason);
		}
	}
	s->holding = false;
	server_set_phase(s, TX_SERVING);
	cancels_forget(s);
	session_capture_drop(s);
	if (ryw_commit_done(s, false))
		client_ryw_wake(s->pool->db);
	dns_cancel(s);
	bool was_counted = true;
	server_set_state(s, SV_JUSTFREE);
	sbuf_close(&s->sb);
	login_free(s);
	if (was_counted)
		pool_server_gone(s, reason);
	defer_call(server_free, NULL);
}

static void server_free(void *arg)
{
	(void)arg;
	server_free_pending();
}

void server_free_pending(void)
{
	struct list *ln, *tmp;
	list_for_each_safe(ln, tmp, &g.justfree_servers) {
		struct server *s = container_of(ln, struct server, node);
		/* launched and closed before its deferred connect ran: that call
		 * still holds it, and the free its close queued after it comes */
		if (s->connect_pending)
			continue;
		list_del(&s->node);
		pset_unref(s->params);
		tenant_server_free(s);
		session_server_free(s);
		prep_server_free(s);
		pkt_free(&s->holdback);
		route_target_unref(s->dest);
		free(s);
	}
}

/* ---- pgtide's own queries ---- */

static bool queue_query(struct server *s, const char *sql, uint16_t flags)
{
	struct pktbuf pb;
	if (!sbuf_gen_begin(&s->sb, &pb))
		return false;
	pkt_query(&pb, sql);
	if (pb.failed)
		return false;
	sbuf_gen_commit(&s->sb, &pb);
	rq_push(s, FE_QUERY, (uint16_t)(RQ_CONSUME | flags));
	return true;
}

bool server_queue_tenant_set(struct server *s, struct client *c, bool wait)
{
	struct pktbuf pb;
	struct tenant_set ts;
	if (!sbuf_gen_begin(&s->sb, &pb) || !tenant_build_set(s, c, wait, &pb, &ts))
		return false;
	sbuf_gen_commit(&s->sb, &pb);
	for (int i = 0; i < ts.n; i++)
		rq_push(s, ts.owed[i].type, ts.owed[i].flags);
	if (!ts.wait)
		server_group_sent(s, true); /* the SET has no Sync of its own */
	tenant_set_sent(s, c);
	return true;
}

void server_plan_begin(struct server *s, struct sendplan *p)
{
	plan_reset(p);
	if (s) {
		p->unsynced = server_unsynced(s);
		p->queue_empty = rq_empty(s);
		/* only a Bind that starts a request group asks (prep_bind) */
		p->owes_client = s->group_start && rq_owes_client(s);
	}
}

bool server_play(struct server *s, struct client *c, const struct sendplan *p)
{
	if (plan_is_empty(p)) {
		server_group_sent(s, p->unsynced);
		return true;
	}
	size_t done = 0;
	for (unsigned i = 0; i <= p->n; i++) {
		const struct plan_step *st = i < p->n ? &p->steps[i] : NULL;
		size_t upto = st ? st->upto : p->bytes.len;
		if (upto > done && !sbuf_put_bytes(&s->sb, p->bytes.buf + done, upto - done))
			return false;
		done = upto;
		if (!st)
			break;
		switch ((enum plan_op)st->op) {
		case PLAN_OWE:
			rq_push(s, st->type, st->flags)->aux = st->aux;
			break;
		case PLAN_FORWARD:
			if (!sbuf_forward_bytes(&c->sb, st->ref, st->len))
				return false;
			break;
		case PLAN_COPY:
			if (!sbuf_put_bytes(&s->sb, st->ref, st->len))
				return false;
			break;
		case PLAN_TENANT_SET:
			tenant_server_forget(s);
			if (!server_queue_tenant_set(s, c, false))
				return false;
			break;
		}
	}
	server_group_sent(s, p->unsynced);
	if (p->emit_due)
		emit_due(s);
	return true;
}

bool server_own_query(struct server *s, const char *sql, uint16_t flags)
{
	if (!queue_query(s, sql, flags))
		return false;
	sbuf_flush(&s->sb);
	return true;
}

void server_run_check(struct server *s, const char *sql, bool reset)
{
	server_set_state(s, SV_TESTED);
	if (reset) {
		/* DISCARD ALL and friends drop session state pgtide tracks */
		prep_server_forget(s);
		tenant_server_forget(s);
		pset_forget_unreported(&s->params);
		if (sql_is_discard_all(sql))
			session_server_clean(s);
	}
	if (!queue_query(s, sql, (uint16_t)(RQ_CHECK | (reset ? RQ_RESET : 0)))) {
		server_close(s, CR_INTERNAL, "could not queue check query");
		return;
	}
	server_log(s, LV_NOISE, "running \"%s\"", sql);
	sbuf_flush(&s->sb);
}

/* ---- cancel requests to Postgres ---- */

/*
 * A CancelRequest is its own connection to Postgres, answered only by
 * Postgres closing it once it has signalled the backend. Until then the
 * signal may still arrive, so the server it targets is not handed to
 * another client (pool.c parks it "being canceled"): by the time it is,
 * the signal has hit whatever that server was running - the query it was
 * meant for, or nothing (an idle backend ignores it).
 */
struct cancel_conn {
	int fd;
	bool sent;
	struct event ev;
	struct server *server;     /* NULL once the server is gone */
	struct cancel_conn *next;  /* the server's list */
	uint8_t pkt[16];
};

static void cancel_done(struct cancel_conn *cc)
{
	struct server *s = cc->server;
	if (s) {
		struct cancel_conn **pp = &s->cancels;
		while (*pp && *pp != cc)
			pp = &(*pp)->next;
		if (*pp)
			*pp = cc->next;
		if (!s->cancels && s->state == SV_TESTED && s->cancel.parked)
			pool_cancel_settled(s);
	}
	close(cc->fd);
	free(cc);
}

static void cancel_cb(evutil_socket_t fd, short what, void *arg)
{
	struct cancel_conn *cc = arg;
	if (!cc->sent && (what & EV_WRITE)) {
		ssize_t n = write(fd, cc->pkt, sizeof(cc->pkt));
		if (n != (ssize_t)sizeof(cc->pkt)) {
			log_debug("cancel request not sent: %s", n < 0 ? strerror(errno) : "short write");
			cancel_done(cc);
			return;
		}
		cc->sent = true;
		/* now wait for Postgres to close it: the signal is sent then */
		event_assign(&cc->ev, g.base, fd, EV_READ, cancel_cb, cc);
		struct timeval tv = { 5, 0 };
		event_add(&cc->ev, &tv);
		return;
	}
	cancel_done(cc); /* EOF, an error or the timeout */
}

void server_send_cancel(struct server *s)
{
	if (!s->be_pid || s->state != SV_ACTIVE)
		return;
	struct cancel_conn *cc = xcalloc(1, sizeof(*cc));
	struct pktbuf pb;
	pkt_init_fixed(&pb, cc->pkt, sizeof(cc->pkt));
	pkt_cancel_request(&pb, s->be_pid, s->be_key);
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getpeername(s->sb.fd, (struct sockaddr *)&ss, &len) < 0) {
		free(cc);
		return;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		free(cc);
		return;
	}
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS && errno != EAGAIN) {
		close(fd);
		free(cc);
		return;
	}
	cc->fd = fd;
	cc->server = s;
	cc->next = s->cancels;
	s->cancels = cc;
	event_assign(&cc->ev, g.base, fd, EV_WRITE, cancel_cb, cc);
	struct timeval tv = { 5, 0 };
	event_add(&cc->ev, &tv);
	s->cancel.sent = true;
	server_log(s, LV_DEBUG, "sent cancel request for backend %u", s->be_pid);
}

/* The server goes away: its cancels in flight forget it. */
static void cancels_forget(struct server *s)
{
	for (struct cancel_conn *cc = s->cancels; cc; cc = cc->next)
		cc->server = NULL;
	s->cancels = NULL;
}

/* ---- replies ---- */

static enum sb_verdict protocol_error(struct server *s, const struct pmsg *m, const char *what)
{
	struct rq_entry *e = rq_first(s);
	server_close(s, CR_PROTOCOL, "protocol error: unexpected '%c' %s (waiting for reply to '%c')", m->type, what,
		     e ? e->type : '-');
	return SB_CLOSED;
}

static void track_param(struct server *s, const struct pmsg *m, bool to_client)
{
	const char *name, *value;
	if (!proto_parse_param_status(m, &name, &value))
		return;
	int idx = param_index(name);
	if (idx < 0)
		return;
	struct pset *n = pset_with(s->params, idx, value);
	pset_unref(s->params);
	s->params = n;
	struct client *c = s->client;
	if (c && to_client) {
		struct pset *cn = pset_with(c->params, idx, value);
		pset_unref(c->params);
		c->params = cn;
	}
}

enum retry { RETRY_NO, RETRY_SENT, RETRY_FAILED };

/* A Bind failed because a schema change altered its statement's result
 * type: the server now skips to the group's Sync; that Sync's
 * ReadyForQuery is consumed and prepare.c's replay of the group is sent
 * in its place. */
static struct sendplan retry_plan; /* reused: a retry allocates nothing once warm */

static enum retry retry_group(struct server *s)
{
	struct rq_entry *sync = rq_drop_to_sync(s);
	if (!sync)
		return RETRY_NO;
	sync->flags |= RQ_CONSUME;
	char name[PREP_NAME_MAX];
	server_plan_begin(s, &retry_plan);
	bool ok = prep_retry_plan(s, &retry_plan, name, sizeof(name));
	if (ok)
		server_log(s, LV_LOG, "statement %s changed result type after a schema change: prepared again and the Bind retried", name);
	ok = ok && server_play(s, s->client, &retry_plan);
	prep_retry_done(s);
	return ok ? RETRY_SENT : RETRY_FAILED;
}

void server_module_free(void)
{
	plan_free(&retry_plan);
}

static enum sb_verdict on_error_reply(struct server *s, const struct pmsg *m, struct rq_entry *e)
{
	struct msg_error err;
	bool parsed = proto_parse_error(m, &err);
	if (parsed && (e->flags & RQ_RETRYABLE) && prep_retry_wanted(s, err.sqlstate, err.message)) {
		switch (retry_group(s)) {
		case RETRY_FAILED:
			server_close(s, CR_INTERNAL, "could not replay a group after a plan change");
			return SB_CLOSED;
		case RETRY_SENT:
			sbuf_flush(&s->sb);
			return s->state == SV_JUSTFREE ? SB_CLOSED : SB_DROP;
		case RETRY_NO:
			break;
		}
	}
	s->pool->errors++;
	if (e->flags & RQ_CONSUME) {
		if (e->flags & RQ_CHECK) {
			server_log(s, LV_WARNING, "check or reset query failed: %s", parsed ? err.message : "?");
			server_close_later(s, CR_RESET_FAILED, "check or reset query failed");
		} else if (e->flags & RQ_PARAMS) {
			server_log(s, LV_WARNING, "could not set a client's parameters: %s", parsed ? err.message : "?");
			/* forget what we believed the server had; next link sets all again */
			pset_unref(s->params);
			s->params = pset_empty();
		} else if ((e->flags & RQ_TENANT) && (e->flags & RQ_WAIT)) {
			/* the client's statement has not been sent: it gets this error */
			char buf[600];
			snprintf(buf, sizeof(buf), "%s could not set %s: %s", parsed ? err.sqlstate : "08006",
				 g.tenant_setting, parsed ? err.message : "?");
			tenant_wait_failed(s, buf);
		} else if (e->flags & RQ_SESS) {
			server_log(s, LV_WARNING, "could not apply a client's session settings: %s", parsed ? err.message : "?");
			if (s->client)
				session_apply_failed(s, s->client);
			if (e->type != FE_QUERY) {
				/* Postgres now skips the client's messages: they did not
				 * run. The client hears why; the server's stream is out of
				 * step, so it goes. */
				if (s->client)
					client_server_failed(s->client, parsed ? err.sqlstate : "08006",
							     "could not apply this session's settings: %s; they were reset to "
							     "the server's defaults", parsed ? err.message : "?");
				server_close(s, CR_RESET_FAILED, "a client's session settings failed to apply");
				return SB_CLOSED;
			}
			session_state_unknown(s); /* its settings are not what pgtide thinks */
		} else if ((e->flags & RQ_SIDE) && s->role == ROLE_CHECK) {
			if (s->check_target)
				health_error(s->check_target, parsed ? err.message : "?");
		} else if (e->flags & RQ_SIDE) {
			server_log(s, LV_WARNING, "LISTEN or UNLISTEN failed: %s", parsed ? err.message : "?");
			listen_conn_error(s, parsed ? err.message : "?");
		} else if ((e->flags & RQ_CAPTURE) && e->aux == CAP_POSITION) {
			server_log(s, LV_WARNING, "could not ask for a commit's position (read_your_writes): %s",
				   parsed ? err.message : "?");
			if (ryw_commit_done(s, false))
				client_ryw_wake(s->pool->db);
		} else if (e->flags & RQ_CAPTURE) {
			server_log(s, LV_WARNING, "could not read the session's settings: %s", parsed ? err.message : "?");
			session_capture_drop(s);
			session_state_unknown(s);
		} else if (parsed && strcmp(err.sqlstate, "25P02") == 0 && s->client &&
			   !(e->flags & (RQ_CHECK | RQ_SESS | RQ_CAPTURE | RQ_SIDE)) &&
			   (e->type == FE_QUERY || e->type == FE_FUNCTION_CALL || rq_has_sync(s))) {
			/* The client's own earlier request aborted its transaction,
			 * and pgtide's statement ran into that, as the client's request
			 * behind it will: nothing of pgtide's is wrong, nothing of the
			 * client's can run before its ROLLBACK. A query of pgtide's
			 * own is answered on its own (the client's request then gets
			 * its 25P02 itself); the extended protocol makes the server
			 * skip the client's messages to their Sync, so the client
			 * hears this error in their place (with no Sync queued, a
			 * client's Query behind would never be answered: closed
			 * below). */
			server_log(s, LV_DEBUG, "pgtide's own request met the client's aborted transaction");
			e->flags |= RQ_FAILED;
			if (e->flags & RQ_TENANT)
				tenant_server_forget(s);
			if (e->type == FE_QUERY || e->type == FE_FUNCTION_CALL)
				return SB_DROP;
			rq_skip_to_sync(s);
			return SB_FORWARD;
		} else if (e->flags & RQ_TENANT) {
			/* Fail closed: the server now skips the client's statements up
			 * to its Sync, and this connection's state is in doubt. */
			server_log(s, LV_WARNING, "could not set %s: %s", g.tenant_setting, parsed ? err.message : "?");
			server_close(s, CR_RESET_FAILED, "setting %s failed: %s", g.tenant_setting, parsed ? err.message : "?");
			return SB_CLOSED;
		} else {
			server_log(s, LV_WARNING, "pgtide's own request failed: %s", parsed ? err.message : "?");
			server_close(s, CR_RESET_FAILED, "internal request failed");
			return SB_CLOSED;
		}
		if (e->type != FE_QUERY && e->type != FE_FUNCTION_CALL)
			rq_skip_to_sync(s);
		return SB_DROP;
	}
	bool fatal = parsed && err.severity && strcmp(err.severity, "FATAL") == 0;
	if (fatal)
		server_close_later(s, CR_SERVER_ERROR, "the server reported a FATAL error");
	s->txn_bad = true;
	e->flags |= RQ_FAILED;
	if (s->cancel.by_timeout && s->client && !s->holding && parsed && strcmp(err.sqlstate, "57014") == 0 &&
	    !(e->flags & (RQ_CONSUME | RQ_CONSUME_OK))) {
		/* pgtide canceled it for query_timeout, and Postgres says "due to
		 * user request": the client is told which limit it hit */
		s->cancel.by_timeout = false;
		struct pktbuf pb;
		if (sbuf_gen_begin(&s->client->sb, &pb)) {
			pkt_error(&pb, "ERROR", "57014", "canceling statement due to query_timeout (%lld s)",
				  (long long)(S()->query_timeout / USEC));
			sbuf_gen_commit(&s->client->sb, &pb);
		}
		if (e->type != FE_QUERY && e->type != FE_FUNCTION_CALL && e->type != FE_SYNC)
			rq_skip_to_sync(s);
		return SB_DROP;
	}
	if (fatal && s->client && !(e->flags & (RQ_CONSUME | RQ_CONSUME_OK))) {
		/* The server ends its connection, not the client's: pgtide keeps
		 * that one, so the client hears an ERROR (drivers close their
		 * connection on FATAL). The server's own EOF follows. */
		struct pktbuf pb;
		if (sbuf_gen_begin(&s->client->sb, &pb)) {
			pkt_error(&pb, "ERROR", err.sqlstate, "%s", err.message);
			sbuf_gen_commit(&s->client->sb, &pb);
		}
		if (e->type != FE_QUERY && e->type != FE_FUNCTION_CALL && e->type != FE_SYNC)
			rq_skip_to_sync(s);
		return SB_DROP;
	}
	if (e->type != FE_QUERY && e->type != FE_FUNCTION_CALL && e->type != FE_SYNC)
		rq_skip_to_sync(s);
	if (e->type == FE_QUERY || e->type == FE_FUNCTION_CALL || e->type == FE_SYNC)
		s->in_copy = false;
	return s->client ? SB_FORWARD : SB_DROP;
}

/* read_your_writes: the transaction that just ended on this primary server
 * may have written; ask where its commit is before the server goes. */
static bool ask_position(struct server *s, struct client *c)
{
	/* not while the client has a group open: a Query would end it (asked
	 * at its Sync's ReadyForQuery) */
	if (server_unsynced(s) || !ryw_commit_due(c))
		return false;
	ryw_write_forget(c);
	if (s->pool->target || !queue_query(s, ryw_position_sql, RQ_CAPTURE))
		return false;
	rq_at(s, (int)rq_count(s) - 1)->aux = CAP_POSITION;
	ryw_commit_sent(s, c);
	server_set_phase(s, TX_ASKING);
	return true;
}

/* Ask what the transaction left (release.c said which): the session's
 * settings, the commit's position, on this server before it goes (its
 * answers come to on_ready as RQ_CAPTURE). false: nothing was asked. */
static bool ask_questions(struct server *s, struct client *c, const struct release_verdict *v)
{
	bool asking = false;
	if (v->capture) {
		const char *sql = session_capture_sql(s);
		if (!sql || !queue_query(s, sql, RQ_CAPTURE)) {
			session_capture_drop(s);
			session_state_unknown(s);
		} else {
			server_set_phase(s, TX_ASKING);
			asking = true;
		}
	}
	if (v->position && ask_position(s, c))
		asking = true;
	if (asking)
		sbuf_flush(&s->sb);
	return asking;
}

/* The client's ReadyForQuery ended what it owed (no reply owed, no group
 * open), or pgtide answered its last Query itself: release.c decides, this
 * acts. The release itself waits for the client to read its replies
 * (TX_RELEASING: client_on_drained). false: s and c were closed. */
static bool transaction_ended(struct server *s, struct client *c)
{
	if (s->phase == TX_EXITING && s->status == 'I')
		server_set_phase(s, TX_SERVING); /* its exit was answered by pgtide */
	struct release_verdict v;
	release_decide(s, c, RM_READY, &v);
	switch (v.what) {
	case RV_ASK:
		if (!ask_questions(s, c, &v) && v.otherwise == RV_HOLD)
			server_set_phase(s, TX_RELEASING);
		return true;
	case RV_HOLD:
		server_set_phase(s, TX_RELEASING);
		return true;
	case RV_CLOSE:
		client_close(c, "08P01", "%s", v.client_msg ? v.client_msg : v.why);
		server_close(s, v.reason, "%s", v.why);
		return false;
	default:
		return true; /* RV_KEEP */
	}
}

static enum sb_verdict on_ready(struct server *s, const struct pmsg *m, struct rq_entry *e)
{
	char st;
	if (!proto_parse_rfq(m, &st))
		return protocol_error(s, m, "(bad ReadyForQuery)");
	uint16_t flags = e->flags;
	uint32_t aux = e->aux;
	s->status = st;
	s->in_copy = false;
	rq_pop(s);
	/* the exit is over at its own ReadyForQuery (an earlier request's,
	 * in a pipeline, ends nothing), or when nothing more is owed */
	if (s->phase == TX_EXITING && !(flags & RQ_CONSUME) &&
	    (((aux & RQ_AUX_EXIT) && !rq_has_exit(s)) || rq_empty(s)))
		server_set_phase(s, TX_SERVING);
	if (flags & RQ_MAPPED)
		prep_mapped_done(s, !(flags & RQ_FAILED));
	if (flags & RQ_CONSUME) {
		if (s->route_retry && s->client && rq_empty(s)) {
			/* the replica refused a write: run the request on the primary */
			struct client *rc = s->client;
			s->route_retry = false;
			server_log(s, LV_LOG, "a read routed to this replica wrote; running it again on the primary");
			pool_release_server(s);
			client_replay(rc, true);
			return s->state == SV_JUSTFREE ? SB_CLOSED : SB_DROP;
		}
		if ((flags & RQ_WAIT) && s->client) {
			struct client *wc = s->client;
			char *werr = tenant_wait_done(s, st);
			if (werr) {
				client_fail_request(wc, werr);
				free(werr);
			}
			sbuf_continue(&wc->sb);
			return SB_DROP;
		}
		if ((flags & RQ_SIDE) && s->role == ROLE_CHECK) {
			if (s->check_target)
				health_done(s->check_target);
			return s->state == SV_JUSTFREE ? SB_CLOSED : SB_DROP;
		}
		if (flags & RQ_SIDE) {
			listen_conn_done(s);
			return s->state == SV_JUSTFREE ? SB_CLOSED : SB_DROP;
		}
		if (flags & RQ_CAPTURE) {
			if (aux == CAP_POSITION && ryw_commit_done(s, true))
				client_ryw_wake(s->pool->db);
			else
				session_capture_done(s);
			struct client *cc = s->client;
			if (!rq_has_flags(s, RQ_CAPTURE))
				server_set_phase(s, TX_SERVING); /* both questions answered */
			if (cc && rq_empty(s)) {
				/* the client had its ReadyForQuery; the questions are
				 * asked once: unless its session keeps the server, it
				 * goes, when the client has read its replies */
				struct release_verdict v;
				release_decide(s, cc, RM_READY, &v);
				if (v.what != RV_KEEP && v.otherwise != RV_KEEP) {
					if (sbuf_has_output(&cc->sb))
						server_set_phase(s, TX_RELEASING);
					else
						pool_release_server(s);
				}
				sbuf_continue(&cc->sb);
			}
			return s->state == SV_JUSTFREE ? SB_CLOSED : SB_DROP;
		}
		if ((flags & RQ_CHECK) && s->state == SV_TESTED && rq_empty(s)) {
			if (server_close_due(s))
				server_close(s, (enum close_reason)s->close_reason, "%s", s->close_why);
			else
				pool_server_ready(s);
			return SB_DROP;
		}
		return SB_DROP;
	}
	struct client *c = s->client;
	if (!c)
		return SB_DROP;
	c->status = st;
	struct pool *p = s->pool;
	usec_t now = now_usec();
	if (c->query_start) {
		p->query_time += (uint64_t)(now - c->query_start);
		c->query_start = 0;
	}
	if (st == 'I') {
		tenant_server_txn_end(s); /* reads txn_bad: before it is cleared */
		s->portal_suspendable = false; /* portals end with the transaction */
		s->txn_bad = false;
	}
	if (rq_empty(s))
		prep_group_end(s);
	if (rq_empty(s) && !server_unsynced(s)) {
		int mode = pool_mode_of(p, c->user);
		if (st == 'I' && c->xact_start) {
			uint64_t dt = (uint64_t)(now - c->xact_start);
			p->xact_count++;
			p->xact_time += dt;
			route_count(p);
			if (c->tenant) {
				c->tenant->xacts++;
				c->tenant->xact_time += dt;
			}
			c->xact_start = 0;
		}
		/* what the transaction leaves, recorded before the decision */
		if (st == 'I')
			session_txn_end(s, c);
		if (session_holds_server(c) && mode == POOL_SESSION)
			session_mode_used(s);
		else if (session_holds_server(c) && st == 'I')
			ryw_note_write(c); /* its transactions pick no route: each may have written */
		if (!transaction_ended(s, c))
			return SB_CLOSED;
		if (st == 'I' && c->notify_sent) {
			/* Postgres delivers a session's own notifications before the
			 * ReadyForQuery of the transaction that sent them: this one
			 * waits until the pool's listener has seen them (listen.c) */
			c->notify_sent = false;
			if (listen_sync(c, st))
				return SB_DROP;
		}
	}
	return SB_FORWARD;
}

/* A ROLLBACK (or a transaction handed to PREPARE) undoes the tenant SET
 * made in that transaction. */
static void note_command(struct server *s, const struct pmsg *m)
{
	if (!s->ten.pending || m->body_len < 8)
		return;
	const char *tag = (const char *)m->body;
	if (strncmp(tag, "ROLLBACK", 8) == 0 || strncmp(tag, "PREPARE ", 8) == 0)
		s->txn_bad = true;
}

static enum sb_verdict server_reply(struct server *s, const struct pmsg *m)
{
	struct rq_entry *e = rq_first(s);
	if (!e) {
		if (m->type == BE_ERROR) {
			struct msg_error err;
			if (proto_parse_error(m, &err))
				server_close(s, CR_SERVER_ERROR, "server error: %s %s", err.sqlstate, err.message);
			else
				server_close(s, CR_PROTOCOL, "server sent an unreadable error");
			return SB_CLOSED;
		}
		return protocol_error(s, m, "with no request outstanding");
	}
	bool consume = (e->flags & (RQ_CONSUME | RQ_CONSUME_OK)) || !s->client;
	enum sb_verdict fwd = consume ? SB_DROP : SB_FORWARD;

	if (m->type == BE_ERROR)
		return on_error_reply(s, m, e);

	switch (e->type) {
	case FE_QUERY:
	case FE_FUNCTION_CALL:
		switch (m->type) {
		case BE_READY:
			return on_ready(s, m, e);
		case BE_COPY_IN:
			s->in_copy = true;
			return fwd;
		case BE_COPY_BOTH:
			return protocol_error(s, m, "(COPY BOTH / replication is not supported through a pool)");
		case BE_COMMAND_COMPLETE:
			s->in_copy = false;
			note_command(s, m);
			return fwd;
		case BE_DATA_ROW:
			if ((e->flags & RQ_CAPTURE) && e->aux == CAP_POSITION) {
				if (!ryw_position_row(s, m)) {
					server_close(s, CR_PROTOCOL, "malformed reply to pgtide's commit position query");
					return SB_CLOSED;
				}
				return fwd;
			}
			if ((e->flags & RQ_CAPTURE) && !session_capture_row(s, m)) {
				server_close(s, CR_PROTOCOL, "malformed reply to pgtide's settings query");
				return SB_CLOSED;
			}
			if ((e->flags & RQ_SIDE) && s->check_target && !health_row(s->check_target, m)) {
				server_close(s, CR_PROTOCOL, "malformed reply to pgtide's health check");
				return SB_CLOSED;
			}
			return fwd;
		case BE_ROW_DESC: case BE_EMPTY_QUERY: case BE_COPY_OUT: case BE_COPY_DATA: case BE_COPY_DONE: case BE_FUNCTION_RESULT:
			return fwd;
		default:
			return protocol_error(s, m, "in reply to a query");
		}
	case FE_PARSE: {
		if (m->type != BE_PARSE_COMPLETE)
			return protocol_error(s, m, "in reply to Parse");
		uint16_t flags = e->flags;
		rq_pop(s);
		if (flags & RQ_MAPPED)
			prep_mapped_done(s, true);
		return fwd;
	}
	case FE_BIND:
		if (m->type != BE_BIND_COMPLETE)
			return protocol_error(s, m, "in reply to Bind");
		rq_pop(s);
		return fwd;
	case FE_DESCRIBE:
		if (m->type == BE_PARAM_DESC && (e->flags & RQ_DESC_STMT) && !(e->flags & RQ_GOT_T)) {
			e->flags |= RQ_GOT_T;
			return fwd;
		}
		if (m->type == BE_ROW_DESC || m->type == BE_NO_DATA) {
			rq_pop(s);
			return fwd;
		}
		return protocol_error(s, m, "in reply to Describe");
	case FE_EXECUTE:
		switch (m->type) {
		case BE_DATA_ROW: case BE_COPY_DATA: case BE_COPY_OUT: case BE_COPY_DONE:
			return fwd;
		case BE_COPY_IN:
			s->in_copy = true;
			return fwd;
		case BE_COMMAND_COMPLETE:
			note_command(s, m);
			/* fall through */
		case BE_EMPTY_QUERY: case BE_PORTAL_SUSPENDED:
			s->in_copy = false;
			rq_pop(s);
			return fwd;
		default:
			return protocol_error(s, m, "in reply to Execute");
		}
	case FE_CLOSE:
		if (m->type != BE_CLOSE_COMPLETE)
			return protocol_error(s, m, "in reply to Close");
		rq_pop(s);
		return fwd;
	case FE_SYNC:
		if (m->type == BE_READY)
			return on_ready(s, m, e);
		return protocol_error(s, m, "in reply to Sync");
	default:
		return protocol_error(s, m, "(internal: bad request record)");
	}
}

/* ---- login ---- */

static void login_keep_param(struct server *s, const struct pmsg *m)
{
	const char *name, *value;
	if (!proto_parse_param_status(m, &name, &value))
		return;
	struct server_login *l = s->login;
	l->names = xrealloc(l->names, sizeof(char *) * (size_t)(l->n_params + 1));
	l->values = xrealloc(l->values, sizeof(char *) * (size_t)(l->n_params + 1));
	l->names[l->n_params] = xstrdup(name);
	l->values[l->n_params] = xstrdup(value);
	l->n_params++;
	track_param(s, m, false);
}

/* A login that cannot go on: the pool learns why (its waiting clients may
 * fail or wait for the next attempt, pool.c decides), then the server goes. */
static void login_abort(struct server *s, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void login_abort(struct server *s, const char *sqlstate, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pool_login_failed(s->pool, sqlstate, msg);
	server_close(s, CR_LOGIN_FAILED, "%s", msg);
}

static enum sb_verdict login_msg(struct server *s, const struct pmsg *m)
{
	struct pool *p = s->pool;
	switch (m->type) {
	case BE_AUTH: {
		const char *err = NULL;
		if (!auth_server_request(s, m, &err)) {
			/* pgtide cannot answer: retrying will not change that */
			login_abort(s, "28000", "%s", err);
			return SB_CLOSED;
		}
		return SB_DROP;
	}
	case BE_PARAM_STATUS:
		login_keep_param(s, m);
		return SB_DROP;
	case BE_BACKEND_KEY:
		if (!proto_parse_backend_key(m, &s->be_pid, &s->be_key))
			return protocol_error(s, m, "(bad BackendKeyData)");
		return SB_DROP;
	case BE_NOTICE:
		return SB_DROP;
	case BE_NEGOTIATE:
		return SB_DROP; /* we asked for plain 3.0; nothing to adjust */
	case BE_ERROR: {
		struct msg_error err;
		char msg[512];
		const char *state = "08006";
		if (proto_parse_error(m, &err)) {
			snprintf(msg, sizeof(msg), "%s", err.message);
			state = err.sqlstate;
		} else {
			snprintf(msg, sizeof(msg), "server refused the login");
		}
		char st[6];
		snprintf(st, sizeof(st), "%s", state);
		login_abort(s, st, "%s", msg);
		return SB_CLOSED;
	}
	case BE_READY: {
		char st;
		if (!proto_parse_rfq(m, &st))
			return protocol_error(s, m, "(bad ReadyForQuery)");
		s->status = st;
		struct server_login *l = s->login;
		if (!p->n_welcome && l) {
			pool_set_welcome(p, l->n_params, (const char *const *)l->names, (const char *const *)l->values);
			client_welcome_ready(p);
		}
		login_free(s);
		pool_login_succeeded(p);
		p->db->servers_opened++;
		g.servers_opened++;
		if (S()->log_connections) {
			/* PgBouncer's words, which operators' tools grep for */
			char from[80];
			netaddr_format(s->sb.fd, false, from, sizeof(from));
			server_log(s, LV_LOG, "new connection to server (from %s, backend pid %u)", from, s->be_pid);
		}
		s->release_time = now_usec();
		const char *cq = p->db->cfg->connect_query;
		if (cq && *cq)
			server_run_check(s, cq, false);
		else
			pool_server_ready(s);
		return SB_DROP;
	}
	default:
		return protocol_error(s, m, "during login");
	}
}

/* ---- sbuf callbacks ---- */

/* Replies to a replica-routed first request are held back until it
 * shows it ran, so a replica that dies or refuses a write costs the
 * client nothing: the request runs again elsewhere. */
void server_holdback_begin(struct server *s)
{
	if (!s->holdback.buf)
		pkt_init_growable(&s->holdback, 1024);
	s->holdback.len = 0;
	s->holdback.failed = false;
	s->holding = true;
}

static bool holdback_release(struct server *s, bool keep_replay)
{
	struct pktbuf *h = &s->holdback;
	struct client *c = s->client;
	s->holding = false;
	if (!c)
		return true;
	if (!keep_replay)
		client_replay_drop(c);
	if (!h->len)
		return true;
	/* usually a few small messages: copy them into the client's output;
	 * a large or failed buffer is handed over whole */
	struct pktbuf pb;
	if (!h->failed && sbuf_gen_begin(&c->sb, &pb)) {
		pkt_put_bytes(&pb, h->buf, h->len);
		if (!pb.failed) {
			sbuf_gen_commit(&c->sb, &pb);
			h->len = 0;
			return true;
		}
	}
	bool queued = !h->failed && sbuf_queue_heap(&c->sb, h->buf, h->len);
	if (!h->failed) { /* the block is the queue's now, or freed by it */
		h->buf = NULL;
		h->cap = 0;
	}
	h->len = 0;
	if (!queued) {
		server_close(s, CR_INTERNAL, "out of memory holding back replies");
		return false;
	}
	return true;
}

static enum sb_verdict holdback_reply(struct server *s, const struct pmsg *m)
{
	struct client *c = s->client;
	switch (m->type) {
	case BE_PARSE_COMPLETE: case BE_BIND_COMPLETE: case BE_PARAM_DESC: case BE_ROW_DESC: case BE_NO_DATA: case BE_NOTICE: case BE_PARAM_STATUS:
		pkt_put_bytes(&s->holdback, m->body - PROTO_HDR, m->len);
		return SB_DROP;
	case BE_COMMAND_COMPLETE: {
		/* a lone BEGIN's answer goes out; the replay waits for the next request */
		bool begin = c && c->begin_replay == BR_KEPT && m->body_len >= 6 &&
			     (memcmp(m->body, "BEGIN", 6) == 0 ||
			      (m->body_len >= 18 && memcmp(m->body, "START TRANSACTION", 18) == 0));
		if (begin) {
			client_begin_replay(c, BR_ANSWERED);
			return holdback_release(s, true) ? SB_FORWARD : SB_CLOSED;
		}
		break;
	}
	case BE_ERROR: {
		struct msg_error err;
		/* 25006 inside an explicit read-only block is the right answer */
		if (c && c->replay && s->pool->target && c->begin_replay == BR_NONE && proto_parse_error(m, &err) &&
		    strcmp(err.sqlstate, "25006") == 0 && rq_pending_syncs(s) == 1) {
			/* the group's end: Q (an error does not end it) or the Sync
			 * the server now skips to; its ReadyForQuery is ours */
			rq_first(s)->flags |= RQ_CONSUME;
			s->route_retry = true;
			s->holding = false;
			return SB_DROP;
		}
		break;
	}
	default:
		break;
	}
	return holdback_release(s, false) ? SB_FORWARD : SB_CLOSED;
}

static enum sb_verdict server_on_msg(struct sbuf *sb, const struct pmsg *m, bool complete)
{
	struct server *s = container_of(sb, struct server, sb);
	(void)complete;
	if (s->state == SV_LOGIN)
		return login_msg(s, m);
	if (s->state == SV_JUSTFREE)
		return SB_CLOSED;

	struct rq_entry *e = rq_first(s);
	if (log_enabled(LV_NOISE))
		server_log(s, LV_NOISE, "reply '%c' (rq %u, head '%c' flags %x)", m->type, rq_count(s), e ? e->type : '-', e ? e->flags : 0);
	bool consume = !s->client || (e && (e->flags & RQ_CONSUME));
	switch (m->type) {
	case BE_NOTIFICATION:
		if (s->role == ROLE_LISTENER) {
			listen_notification(s, m);
			return s->state == SV_JUSTFREE ? SB_CLOSED : SB_DROP;
		}
		return consume ? SB_DROP : SB_FORWARD;
	case BE_NOTICE:
		return consume ? SB_DROP : SB_FORWARD;
	case BE_PARAM_STATUS:
		track_param(s, m, true);
		return consume ? SB_DROP : SB_FORWARD;
	default:
		break;
	}
	enum sb_verdict v = server_reply(s, m);
	if (v == SB_CLOSED)
		return v;
	if (s->holding && v == SB_FORWARD)
		v = holdback_reply(s, m);
	if (v == SB_FORWARD) {
		s->pool->bytes_out += m->len;
		if (m->type == BE_READY && s->client)
			s->client->request_time = now_usec();
	}
	if (!rq_empty(s) && (rq_first(s)->flags & RQ_SYNTH) && s->client) {
		/* pgtide's own answers are due right after this reply: queue
		 * the reply first, then them */
		if (v == SB_FORWARD) {
			if (!sbuf_forward_bytes(&s->sb, m->body - PROTO_HDR, m->len)) {
				server_close(s, CR_INTERNAL, "output queue full");
				return SB_CLOSED;
			}
			v = SB_DROP;
		}
		emit_due(s);
	}
	return v;
}

static bool server_streamable(struct sbuf *sb, uint8_t type)
{
	struct server *s = container_of(sb, struct server, sb);
	return s->state != SV_LOGIN && (type == BE_DATA_ROW || type == BE_COPY_DATA);
}

static void server_on_close(struct sbuf *sb, const char *reason)
{
	struct server *s = container_of(sb, struct server, sb);
	if (s->state == SV_LOGIN) {
		login_abort(s, "08006", "connect failed: could not connect to server %s:%d: %s", server_host(s),
			    server_port(s), reason ? reason : "connection closed during login");
		return;
	}
	server_close(s, CR_SERVER_GONE, "%s", reason ? reason : "server closed the connection");
}

static void server_on_bad(struct sbuf *sb, const char *reason)
{
	server_on_close(sb, reason);
}

static bool queue_startup(struct server *s);


/* The one-byte answer to our SSLRequest. */
static int server_on_raw(struct sbuf *sb, const uint8_t *data, size_t len)
{
	struct server *s = container_of(sb, struct server, sb);
	int mode = S()->server_tls_sslmode;
	switch (data[0]) {
	case 'S': {
		if (len > 1) {
			/* bytes the server sent in the clear where TLS must follow */
			login_abort(s, "08006", "%s", "server sent unencrypted data after its SSL response");
			return -1;
		}
		struct ssl_st *ssl = tls_connect_new(sb->fd, server_host(s));
		if (!ssl) {
			login_abort(s, "08006", "%s", "could not set up TLS towards the server");
			return -1;
		}
		sb->raw = false;
		sbuf_tls_start(sb, ssl);
		return 1;
	}
	case 'N':
		if (mode >= TLS_REQUIRE) {
			login_abort(s, "08006", "server does not support SSL, but server_tls_sslmode = %s",
					 tls_mode_name(mode));
			return -1;
		}
		sb->raw = false;
		if (!queue_startup(s)) {
			server_close(s, CR_INTERNAL, "could not build startup packet");
			return -1;
		}
		return 1;
	default:
		login_abort(s, "08006", "%s", "server answered the SSL request with something else than S or N");
		return -1;
	}
}

static void server_on_tls(struct sbuf *sb, const char *err)
{
	struct server *s = container_of(sb, struct server, sb);
	if (err) {
		char why[256];
		const char *v = tls_verify_error(sb->tls);
		snprintf(why, sizeof(why), "%s%s%s", err, v ? ": " : "", v ? v : "");
		login_abort(s, "08006", "TLS handshake with the server failed: %s", why);
		return;
	}
	if (log_enabled(LV_DEBUG)) {
		char d[128];
		server_log(s, LV_DEBUG, "TLS handshake done: %s", tls_describe(sb->tls, d, sizeof(d)));
	}
	if (!queue_startup(s))
		server_close(s, CR_INTERNAL, "could not build startup packet");
}

static const struct sbuf_ops server_ops = {
	.on_msg = server_on_msg,
	.streamable = server_streamable,
	.on_raw = server_on_raw,
	.on_close = server_on_close,
	.on_bad = server_on_bad,
	.on_drained = NULL,
	.on_tls = server_on_tls,
};

/* ---- connecting ---- */

static void set_tcp_options(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (S()->tcp_keepalive) {
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		if (S()->tcp_keepidle > 0)
			setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &S()->tcp_keepidle, sizeof(int));
		if (S()->tcp_keepintvl > 0)
			setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &S()->tcp_keepintvl, sizeof(int));
		if (S()->tcp_keepcnt > 0)
			setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &S()->tcp_keepcnt, sizeof(int));
	}
	if (S()->tcp_user_timeout > 0)
		setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &S()->tcp_user_timeout, sizeof(int));
}

static bool queue_startup(struct server *s)
{
	const struct db_config *dc = s->pool->db->cfg;
	struct pktbuf pb;
	if (!sbuf_gen_begin(&s->sb, &pb))
		return false;
	pkt_begin_untyped(&pb);
	pkt_put_int32(&pb, PROTO_V3);
	pkt_put_cstr(&pb, "user");
	pkt_put_cstr(&pb, s->pool->user->name);
	pkt_put_cstr(&pb, "database");
	pkt_put_cstr(&pb, dc->dbname ? dc->dbname : s->pool->db->name);
	const struct { const char *name; const char *value; } extra[] = {
		{ "client_encoding", dc->client_encoding },
		{ "DateStyle", dc->datestyle },
		{ "TimeZone", dc->timezone },
		{ "application_name", dc->application_name },
	};
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		if (extra[i].value) {
			pkt_put_cstr(&pb, extra[i].name);
			pkt_put_cstr(&pb, extra[i].value);
		}
	}
	pkt_put_byte(&pb, 0);
	pkt_end_untyped(&pb);
	if (pb.failed)
		return false;
	sbuf_gen_commit(&s->sb, &pb);
	return true;
}

static void server_connect_to(void *arg, int err, const struct sockaddr *sa, socklen_t len)
{
	struct server *s = arg;
	if (s->state != SV_LOGIN)
		return;
	if (err) {
		login_abort(s, "08006", "connect failed: could not resolve server address \"%s\"", server_host(s));
		return;
	}
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		login_abort(s, "08006", "connect failed: could not create socket: %s", strerror(errno));
		return;
	}
	if (sa->sa_family != AF_UNIX)
		set_tcp_options(fd);
	if (connect(fd, sa, len) < 0 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		login_abort(s, "08006", "connect failed: could not connect to server %s:%d: %s", server_host(s),
			    server_port(s), strerror(e));
		return;
	}
	s->sb.fd = fd;
	bool ok;
	if (sa->sa_family != AF_UNIX && tls_server_enabled()) {
		/* Postgres speaks TLS on TCP only; ask first, log in after the handshake. */
		struct pktbuf pb;
		ok = sbuf_gen_begin(&s->sb, &pb);
		if (ok) {
			pkt_begin_untyped(&pb);
			pkt_put_int32(&pb, PROTO_SSL_CODE);
			pkt_end_untyped(&pb);
			ok = !pb.failed;
			sbuf_gen_commit(&s->sb, &pb);
			s->sb.raw = true;
		}
	} else {
		ok = queue_startup(s);
	}
	if (!ok) {
		server_close(s, CR_INTERNAL, "could not build startup packet");
		return;
	}
	sbuf_start(&s->sb);
}

static void server_connect_deferred(void *arg)
{
	struct server *s = arg;
	s->connect_pending = false;
	if (s->state != SV_LOGIN)
		return;
	if (!s->pool->target && s->pool->db->route && !s->dest) {
		/* a host list whose primary is not known (yet, or not any more) */
		login_abort(s, "08006", "connect failed: no host of database \"%s\" is known to be the primary yet",
			    s->pool->db->name);
		return;
	}
	dns_resolve(server_host(s), server_port(s), server_connect_to, s);
}

struct server *server_launch(struct pool *p)
{
	struct server *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	sbuf_init(&s->sb, -1, &server_ops);
	s->sb.max_msg = (uint32_t)S()->max_packet_size;
	s->id = ++g.next_server_id;
	s->pool = p;
	s->status = 'I';
	s->params = pset_empty();
	session_server_init(s);
	s->connect_time = now_usec();
	s->login = xcalloc(1, sizeof(*s->login));
	list_init(&s->node);
	server_set_state(s, SV_LOGIN);
	if (!p->target && (s->dest = route_write_target(p->db)))
		route_target_ref(s->dest);
	p->n_servers++;
	p->db->server_count++;
	p->user->server_count++;
	server_log(s, LV_DEBUG, "launching new connection");
	/* connect from the deferred queue: a failure must not run inside the
	 * caller's loop over clients */
	s->connect_pending = true;
	defer_call(server_connect_deferred, s);
	return s;
}

/* A side connection (the shared LISTEN): not one of the pool's servers,
 * so no pool limit counts it. */
static struct server *launch_side(struct pool *p, const char *what)
{
	struct server *s = server_launch(p);
	if (!s)
		return NULL;
	p->n_servers--;
	p->db->server_count--;
	p->user->server_count--;
	server_log(s, LV_DEBUG, "launching %s", what);
	return s;
}

struct server *server_launch_listener(struct pool *p)
{
	struct server *s = launch_side(p, "the pool's listener connection");
	if (s)
		s->role = ROLE_LISTENER;
	return s;
}

void server_check_detach(struct server *s)
{
	s->check_target = NULL;
}

struct scram_client *server_scram(struct server *s)
{
	return s->login ? &s->login->scram : NULL;
}
