/*
 * Client connections: login, then the per-message state machine.
 *
 * Owns: struct client. A client is in exactly one list, named by its state
 * (pgtide.h). Every client message is decided here: forwarded to the linked
 * server (recording in the server's reply queue what it will answer),
 * answered by pgtide itself, or refused with an ErrorResponse. A message
 * that needs a server when none is free stays in the buffer (SB_STOP) until
 * pool.c links one and continues us. Must not pick servers or read server
 * replies.
 */
#include "autoconf.h"

#include "client.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin.h"
#include "auth.h"
#include "bufpool.h"
#include "health.h"
#include "listen.h"
#include "log.h"
#include "pool.h"
#include "prepare.h"
#include "peer.h"
#include "route.h"
#include "ryw.h"
#include "sendplan.h"
#include "server.h"
#include "session.h"
#include "sqlclass.h"
#include "tenant.h"
#include "tls.h"
#include "util/strbuf.h"

static void client_free(void *arg);

static bool id_eq(const struct hnode *n, const void *key)
{
	return container_of(n, struct client, id_hn)->id == *(const uint32_t *)key;
}

/* ---- reads that wait for a replica (read_your_writes) ----
 *
 * ryw.c decides which waiting reads may go; this acts: it resumes them,
 * asks replicas their position (health_probe), and owns the timer that
 * ends a wait (read_your_writes_timeout) and paces the probes. */
static struct event ryw_tick_ev;
static bool ryw_tick_armed;

static void ryw_arm(void)
{
	if (ryw_tick_armed || !ryw_waiting_next(NULL))
		return;
	struct timeval tv = { 0, RYW_PROBE_USEC };
	evtimer_add(&ryw_tick_ev, &tv);
	ryw_tick_armed = true;
}

static void ryw_resume_ready(struct database *db)
{
	/* all are taken first: a resumed read may wait again */
	struct list ready = LIST_INIT(ready);
	ryw_take_ready(db, &ready);
	struct client *c;
	while ((c = ryw_pop(&ready)))
		sbuf_continue(&c->sb);
}

void client_ryw_wake(struct database *db)
{
	if (!ryw_waiting_next(NULL))
		return;
	ryw_resume_ready(db);
	/* reads of db still wait: ask again as soon as the pace allows,
	 * rather than at the next tick */
	if (ryw_db_waits(db))
		health_probe(db);
}

static void ryw_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	ryw_tick_armed = false;
	ryw_resume_ready(NULL);
	/* ask the replicas of the databases still waited on where they are
	 * (once per run of waiters of one database, not once per waiter) */
	struct database *last = NULL;
	for (struct client *c = ryw_waiting_next(NULL); c; c = ryw_waiting_next(c)) {
		if (c->db != last)
			health_probe(c->db);
		last = c->db;
	}
	ryw_arm();
}

/* prepare.c's decisions come as a send plan; one is reused for every
 * message, so planning allocates nothing once warm. */
static struct sendplan plan;

void client_module_init(void)
{
	evtimer_assign(&ryw_tick_ev, g.base, ryw_tick, NULL);
	list_init(&g.login_clients);
	list_init(&g.admin_clients);
	list_init(&g.cancel_clients);
	list_init(&g.justfree_clients);
	htab_init(&g.clients_by_id);
}

void client_module_free(void)
{
	if (ryw_tick_armed)
		event_del(&ryw_tick_ev);
	ryw_tick_armed = false;
	plan_free(&plan);
}

struct client *client_by_id(uint32_t id)
{
	struct hnode *n = htab_find(&g.clients_by_id, hash_u64(id), id_eq, &id);
	return n ? container_of(n, struct client, id_hn) : NULL;
}

const char *client_state_name(const struct client *c)
{
	switch (c->state) {
	case CL_LOGIN:
		return "login";
	case CL_WAITING:
		return "waiting";
	case CL_ACTIVE:
		return "active";
	case CL_CANCEL:
		return "cancel";
	default:
		return "closed";
	}
}

/* ---- output helpers ---- */

static bool emit_error(struct client *c, const char *severity, const char *sqlstate, const char *fmt, va_list ap)
{
	struct pktbuf pb;
	if (!sbuf_gen_begin(&c->sb, &pb))
		return false;
	pkt_verror(&pb, severity, sqlstate, fmt, ap);
	if (pb.failed)
		return false;
	sbuf_gen_commit(&c->sb, &pb);
	return true;
}

static bool emit_errorf(struct client *c, const char *severity, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static bool emit_errorf(struct client *c, const char *severity, const char *sqlstate, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bool ok = emit_error(c, severity, sqlstate, fmt, ap);
	va_end(ap);
	return ok;
}

static void emit_simple(struct client *c, uint8_t type)
{
	struct pktbuf pb;
	if (!sbuf_gen_begin(&c->sb, &pb))
		return;
	pkt_empty(&pb, type);
	sbuf_gen_commit(&c->sb, &pb);
}

static void emit_rfq(struct client *c, char status)
{
	struct pktbuf pb;
	if (!sbuf_gen_begin(&c->sb, &pb))
		return;
	pkt_rfq(&pb, status);
	sbuf_gen_commit(&c->sb, &pb);
	c->status = status;
}

static void emit_command_complete(struct client *c, const char *tag)
{
	struct pktbuf pb;
	if (!sbuf_gen_begin(&c->sb, &pb))
		return;
	pkt_command_complete(&pb, tag);
	sbuf_gen_commit(&c->sb, &pb);
}

/* ---- closing ---- */

static void client_detach_server(struct client *c, const char *why)
{
	struct server *s = c->server;
	if (!s)
		return;
	if (sbuf_forwarding_partial(&c->sb)) {
		/* half a message of the client's is in the server's stream:
		 * nothing can make it whole */
		pool_unlink(c);
		server_close(s, CR_CLIENT_GONE, "%s in the middle of a message", why);
		return;
	}
	if (s->phase == TX_RELEASING || (server_is_idle_for_txn(s) && !s->in_copy &&
				   pool_mode_of(s->pool, c->user) != POOL_SESSION)) {
		pool_release_server(s);
		return;
	}
	if (pool_mode_of(s->pool, c->user) == POOL_SESSION && server_is_idle_for_txn(s)) {
		session_mode_used(s);
		pool_release_server(s);
		return;
	}
	/* The server is mid-transaction or owes replies: Postgres rolls back
	 * when we close it, which is the only safe ending. */
	pool_unlink(c);
	server_close(s, CR_CLIENT_GONE, "%s", why);
}

static void client_finish_close(struct client *c, const char *reason)
{
	if (c->state == CL_JUSTFREE)
		return;
	if (g.shutting_down)
		defer_call(pool_shutdown_progress, NULL);
	if (c->state != CL_LOGIN && c->state != CL_CANCEL && (S()->log_disconnections))
		client_log(c, LV_LOG, "closing because: %s (age=%llds)", reason ? reason : "client disconnected",
			   (long long)((now_usec() - c->connect_time) / USEC));
	client_detach_server(c, reason ? reason : "client disconnected during a transaction");
	if (c->state == CL_WAITING)
		pool_stop_waiting(c);
	ryw_forget(c);
	list_del(&c->node);
	if (c->id)
		htab_remove(&g.clients_by_id, &c->id_hn);
	if (c->counted) {
		if (c->db)
			c->db->client_count--;
		if (c->user)
			c->user->client_count--;
	}
	if (c->login) {
		auth_free_state(c->login);
		c->login = NULL;
	}
	listen_client_free(c);
	client_set_state(c, CL_JUSTFREE, NULL);
	g.n_clients--;
	/* Try to deliver what is queued (a FATAL message) before closing. */
	if (sbuf_has_output(&c->sb) && c->sb.fd >= 0)
		sbuf_flush(&c->sb);
	sbuf_close(&c->sb);
	defer_call(client_free, NULL);
}

/*
 * The one place a client changes state: its node moves to the list that
 * state keeps (enum client_state). p: the pool whose list it joins (the
 * pool it waits for, or its home pool when active); NULL for the global
 * lists and for an admin console client.
 */
/* Which state may follow which: a client is born logging in (on no list
 * yet); a cancel connection only closes; the justfree list is for good.
 * Anything else is a bug, logged with "please report this" (the tests fail
 * on it). */
#define CL_BIT(st) (1u << (st))
static const unsigned cl_next[] = {
	[CL_LOGIN] = CL_BIT(CL_WAITING) | CL_BIT(CL_ACTIVE) | CL_BIT(CL_CANCEL) | CL_BIT(CL_JUSTFREE),
	[CL_WAITING] = CL_BIT(CL_ACTIVE) | CL_BIT(CL_JUSTFREE),
	[CL_ACTIVE] = CL_BIT(CL_WAITING) | CL_BIT(CL_ACTIVE) | CL_BIT(CL_JUSTFREE),
	[CL_CANCEL] = CL_BIT(CL_JUSTFREE),
	[CL_JUSTFREE] = 0,
};

void client_set_state(struct client *c, enum client_state st, struct pool *p)
{
	bool born = !list_linked(&c->node) && st == CL_LOGIN;
	if (!born && !(cl_next[c->state] & CL_BIT(st))) {
		struct client probe = { .state = st };
		client_log(c, LV_WARNING, "state %s -> %s is not expected: please report this", client_state_name(c),
			   client_state_name(&probe));
	}
	list_del(&c->node);
	switch (st) {
	case CL_LOGIN: list_add_tail(&g.login_clients, &c->node); break;
	case CL_WAITING: list_add_tail(&p->waiting_clients, &c->node); break;
	case CL_ACTIVE: list_add_tail(p ? &p->active_clients : &g.admin_clients, &c->node); break;
	case CL_CANCEL: list_add_tail(&g.cancel_clients, &c->node); break;
	case CL_JUSTFREE: list_add_tail(&g.justfree_clients, &c->node); break;
	}
	c->state = st;
}

static void client_free(void *arg)
{
	(void)arg;
	client_free_pending();
}

void client_free_pending(void)
{
	struct list *ln, *tmp;
	list_for_each_safe(ln, tmp, &g.justfree_clients) {
		struct client *c = container_of(ln, struct client, node);
		list_del(&c->node);
		pset_unref(c->params);
		tenant_attach(c, NULL);
		prep_client_free(c);
		session_client_free(c);
		client_replay_drop(c);
		free(c->pending_error);
		free(c);
	}
}

void client_close(struct client *c, const char *sqlstate, const char *fmt, ...)
{
	char msg[512] = "";
	if (c->state == CL_JUSTFREE)
		return;
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	}
	/* no error in the middle of a message either way: the client would
	 * read it as the rest of that message */
	if (sqlstate && c->sb.fd >= 0 && !c->sb.fwd_partial && !(c->server && c->server->sb.fwd_partial)) {
		emit_errorf(c, "FATAL", sqlstate, "%s", msg);
		c->sb.linger = true; /* the client may still be sending: it gets this error, not a reset */
	}
	client_finish_close(c, fmt ? msg : NULL);
}

/*
 * Failed logins are logged once per address every few seconds, with a
 * count of the ones not logged, so a password-guessing client cannot
 * flood the log. A small direct-mapped table: bounded memory whatever the
 * number of addresses; a collision only means an extra log line.
 */
#define FAIL_SLOTS 1024
#define FAIL_LOG_INTERVAL (10 * USEC)

static struct fail_slot {
	uint8_t family;
	uint8_t addr[16];
	usec_t logged_at;
	uint32_t suppressed;
} fail_slots[FAIL_SLOTS];

/* Should this failure be logged? *suppressed: failures skipped before it. */
static bool login_fail_should_log(const struct client *c, uint32_t *suppressed)
{
	*suppressed = 0;
	if (c->family == AF_UNIX)
		return true;
	struct fail_slot *f = &fail_slots[hash_bytes(c->addr, sizeof(c->addr)) % FAIL_SLOTS];
	usec_t now = now_usec();
	if (f->family == c->family && memcmp(f->addr, c->addr, sizeof(c->addr)) == 0 &&
	    now - f->logged_at < FAIL_LOG_INTERVAL) {
		f->suppressed++;
		return false;
	}
	if (f->family == c->family && memcmp(f->addr, c->addr, sizeof(c->addr)) == 0)
		*suppressed = f->suppressed;
	f->family = c->family;
	memcpy(f->addr, c->addr, sizeof(c->addr));
	f->logged_at = now;
	f->suppressed = 0;
	return true;
}

void client_login_fail(struct client *c, const char *sqlstate, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	uint32_t suppressed;
	if (login_fail_should_log(c, &suppressed)) {
		/* "closing because:" as PgBouncer logs it: tools grep for it */
		long long age = (long long)((now_usec() - c->connect_time) / USEC);
		if (suppressed)
			client_log(c, LV_WARNING,
				   "closing because: %s (age=%llds; login failed, and %u more failed logins from this "
				   "address not logged)",
				   msg, age, suppressed);
		else
			client_log(c, LV_WARNING, "closing because: %s (age=%llds; login failed)", msg, age);
	}
	client_close(c, sqlstate, "%s", msg);
}

/* ---- when the server under a client is lost ---- */

static void server_lost(struct client *c, const char *sqlstate, const char *msg);

void client_server_failed(struct client *c, const char *sqlstate, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	server_lost(c, sqlstate, msg);
}

static void server_lost(struct client *c, const char *sqlstate, const char *msg)
{
	struct server *s = c->server;
	if (!s)
		return;
	if (s->sb.fwd_partial && s->sb.stream_left) {
		/* half a message went out: the client's stream cannot be mended */
		pool_unlink(c);
		client_close(c, NULL, "%s, in the middle of a message", msg);
		return;
	}
	char was = s->status;
	int syncs = rq_pending_syncs(s);
	bool open_group = server_unsynced(s);
	bool told = rq_first_sync_failed(s); /* its error already went out */
	pool_unlink(c);
	client_log(c, LV_LOG, "%s", msg);

	/* The transaction is gone. Inside a block the client learns it from
	 * 'E' and must ROLLBACK; outside one its next statement starts afresh.
	 * A COMMIT or ROLLBACK in flight ended the block, whatever became of
	 * it: the client is outside one. */
	bool exiting = s->phase == TX_EXITING;
	char after = (was == 'I' || exiting) ? 'I' : 'E';
	bool first = true;
	for (int i = 0; i < syncs; i++) {
		if (first && told)
			; /* one error per request */
		else if (first && exiting)
			emit_errorf(c, "ERROR", sqlstate, "%s while the transaction was ending: it may or may not have "
				    "committed", msg);
		else if (first)
			emit_errorf(c, "ERROR", sqlstate, "%s; the transaction was rolled back", msg);
		else if (after == 'E')
			emit_errorf(c, "ERROR", "25P02",
				    "current transaction is aborted, commands ignored until end of transaction block");
		else
			emit_errorf(c, "ERROR", "08006", "%s; this statement did not run", msg);
		first = false;
		emit_rfq(c, after);
	}
	if (open_group) {
		if (first && !told)
			emit_errorf(c, "ERROR", sqlstate, "%s; the transaction was rolled back", msg);
		first = false;
		c->skip_to_sync = true;
	}
	if (first && after == 'E') {
		/* idle in a transaction: tell at the next statement */
		size_t n = strlen(msg) + 64;
		free(c->pending_error);
		c->pending_error = xmalloc(sizeof(*c->pending_error) + n);
		snprintf(c->pending_error->sqlstate, sizeof(c->pending_error->sqlstate), "%.5s", sqlstate);
		snprintf(c->pending_error->message, n, "%s; the transaction was rolled back", msg);
	}
	c->status = after;
	c->failed_block = after == 'E';
	c->in_copy = false;
	c->xact_start = 0;
	c->query_start = 0;
	if (sbuf_has_output(&c->sb))
		sbuf_flush(&c->sb);
	if (c->state == CL_ACTIVE && !c->sb.closing)
		sbuf_continue(&c->sb);
}

void client_fail_request(struct client *c, const char *state_and_msg)
{
	const char *msg = strlen(state_and_msg) > 6 ? state_and_msg + 6 : state_and_msg;
	size_t n = strlen(msg) + 1;
	free(c->pending_error);
	c->pending_error = xmalloc(sizeof(*c->pending_error) + n);
	snprintf(c->pending_error->sqlstate, sizeof(c->pending_error->sqlstate), "%.5s", state_and_msg);
	memcpy(c->pending_error->message, msg, n);
}

void client_wait_failed(struct client *c, const char *sqlstate, const char *msg)
{
	pool_stop_waiting(c);
	size_t n = strlen(msg) + 1;
	free(c->pending_error);
	c->pending_error = xmalloc(sizeof(*c->pending_error) + n);
	snprintf(c->pending_error->sqlstate, sizeof(c->pending_error->sqlstate), "%s", sqlstate);
	memcpy(c->pending_error->message, msg, n);
	sbuf_continue(&c->sb);
}

/* ---- LISTEN / NOTIFY (listen.c decides) ---- */

void client_reply_command(struct client *c, const char *tag)
{
	struct pktbuf pb;
	if (!sbuf_gen_begin(&c->sb, &pb))
		return;
	pkt_command_complete(&pb, tag);
	pkt_rfq(&pb, c->status);
	sbuf_gen_commit(&c->sb, &pb);
}

void client_listen_fail(struct client *c, const char *sqlstate, const char *msg)
{
	emit_errorf(c, "ERROR", sqlstate, "%s", msg);
	emit_rfq(c, c->status);
}

void client_listen_answer(struct client *c, const char *err)
{
	if (c->state == CL_JUSTFREE)
		return;
	if (listen_client_waiting(c))
		return; /* another channel of the same request is not ready yet */
	if (err)
		client_listen_fail(c, "08006", err);
	else
		client_reply_command(c, "LISTEN");
	sbuf_flush(&c->sb);
	sbuf_continue(&c->sb);
}

/* Between transactions a client may get a notification at once: nothing
 * of a server's reply can be half-written to it then. */
static bool notify_now(const struct client *c)
{
	return c->state == CL_ACTIVE && !listen_client_waiting(c) &&
	       (!c->server || (server_is_idle_for_txn(c->server) && !c->server->in_copy && c->server->phase != TX_ASKING));
}

void client_notify(struct client *c, const uint8_t *msg, size_t len)
{
	if (c->state == CL_JUSTFREE)
		return;
	if (notify_now(c) && !listen_has_pending(c)) {
		if (sbuf_put_bytes(&c->sb, msg, len))
			sbuf_flush(&c->sb);
		else
			client_close(c, "53200", "out of memory delivering a notification");
		return;
	}
	if (!listen_hold(c, msg, len))
		client_close(c, "53400", "notifications for this client waiting for its transaction to end exceed %u bytes",
			     LISTEN_PENDING_MAX);
}

/* Deliver what was held while the client was in a transaction. */
static void deliver_notifications(struct client *c)
{
	if (!notify_now(c))
		return;
	size_t len;
	void *msg;
	bool any = false;
	while ((msg = listen_take_pending(c, &len))) {
		bool ok = sbuf_queue_heap(&c->sb, msg, len);
		if (!ok) {
			client_close(c, "53200", "out of memory delivering a notification");
			return;
		}
		any = true;
	}
	if (any)
		sbuf_flush(&c->sb);
}

void client_ready_after_sync(struct client *c, char status)
{
	if (c->state == CL_JUSTFREE)
		return;
	deliver_notifications(c);
	emit_rfq(c, status);
	sbuf_flush(&c->sb);
	sbuf_continue(&c->sb);
}

/* ---- answering without a server ---- */

/* Refuse one request: Query/FunctionCall get their ReadyForQuery now;
 * extended-protocol messages make us skip to the client's Sync. */
/* A request group answered here is over: a server linked for it, idle
 * and owing nothing, goes back to the pool (unless the client keeps it). */
static void release_if_idle(struct client *c)
{
	struct server *s = c->server;
	if (s && server_is_idle_for_txn(s) && !s->in_copy && s->phase != TX_ASKING && !session_holds_server(c))
		pool_release_server(s);
}

static void refuse(struct client *c, uint8_t type, const char *sqlstate, const char *msg)
{
	emit_errorf(c, "ERROR", sqlstate, "%s", msg);
	if (type == FE_QUERY || type == FE_FUNCTION_CALL || type == FE_SYNC) {
		emit_rfq(c, c->status);
		release_if_idle(c);
	} else {
		c->skip_to_sync = true;
	}
}

/* pgtide plays the server for a client whose transaction was lost: an
 * aborted block ends only with ROLLBACK (or COMMIT, which rolls back),
 * in the simple or the extended protocol. */
static enum sb_verdict emulate(struct client *c, const struct pmsg *m)
{
	if (m->type == FE_SYNC) {
		c->skip_to_sync = false;
		c->emu = EMU_NONE;
		/* a request refused here while a server is linked: that server's
		 * transaction status (emulate runs with nothing owed) */
		emit_rfq(c, c->failed_block ? 'E' : c->server ? c->server->status : 'I');
		release_if_idle(c);
		return SB_DROP;
	}
	if (c->skip_to_sync || m->type == FE_FLUSH)
		return SB_DROP;
	const char *q;
	size_t qlen;
	struct msg_parse mp;
	switch (m->type) {
	case FE_QUERY:
		if (proto_parse_query(m, &q, &qlen) && sql_is_txn_exit(q, qlen)) {
			emit_command_complete(c, "ROLLBACK");
			c->failed_block = false;
			emit_rfq(c, 'I');
		} else {
			emit_errorf(c, "ERROR", "25P02",
				    "current transaction is aborted, commands ignored until end of transaction block");
			emit_rfq(c, 'E');
		}
		return SB_DROP;
	case FE_PARSE:
		if (proto_parse_parse(m, &mp) && sql_is_txn_exit(mp.query, mp.query_len)) {
			emit_simple(c, BE_PARSE_COMPLETE);
			c->emu = EMU_EXIT_PARSED;
			return SB_DROP;
		}
		break;
	case FE_BIND:
	case FE_DESCRIBE:
		if (c->emu == EMU_EXIT_PARSED) {
			emit_simple(c, m->type == FE_BIND ? BE_BIND_COMPLETE : BE_NO_DATA);
			return SB_DROP;
		}
		break;
	case FE_EXECUTE:
		if (c->emu == EMU_EXIT_PARSED) {
			emit_command_complete(c, "ROLLBACK");
			c->failed_block = false;
			c->status = 'I'; /* what the group's Sync reports */
			c->emu = EMU_NONE;
			return SB_DROP;
		}
		break;
	case FE_CLOSE:
		emit_simple(c, BE_CLOSE_COMPLETE);
		return SB_DROP;
	default:
		return SB_DROP;
	}
	emit_errorf(c, "ERROR", "25P02",
		    "current transaction is aborted, commands ignored until end of transaction block");
	c->skip_to_sync = true;
	return SB_DROP;
}

/* Refuse a request where it stands: locally when nothing is in flight on a
 * server, else as a server-side error that takes the request's place, so
 * replies keep their order and an open transaction fails as Postgres
 * would fail it. */
enum sb_verdict client_act(struct client *c, const struct pmsg *m, enum verdict v, const struct refusal *r)
{
	switch (v) {
	case V_FORWARD: return SB_FORWARD;
	case V_ANSWERED: return SB_DROP;
	case V_WAIT: return SB_STOP;
	case V_DENY: return client_deny(c, m, r->sqlstate, r->msg);
	case V_CLOSE: break;
	}
	client_close(c, r->sqlstate, "%s", r->msg);
	return SB_CLOSED;
}

enum sb_verdict client_deny(struct client *c, const struct pmsg *m, const char *sqlstate, const char *msg)
{
	struct server *s = c->server;
	/* nothing of the client's owed (pgtide's own question after its
	 * transaction may be): the answer is the client's next */
	if (!s || (!rq_owes_client(s) && !server_unsynced(s) && s->status == 'I')) {
		refuse(c, m->type, sqlstate, msg);
		return SB_DROP;
	}
	if (server_skipping(s))
		return SB_DROP; /* an earlier error: the server skips this anyway */
	if (!server_queue_denial(s, m->type, sqlstate, msg)) {
		client_close(c, "53200", "out of memory");
		return SB_CLOSED;
	}
	return SB_DROP;
}

static void reply_tenant_set(struct client *c, enum tenant_stmt k, const char *value)
{
	struct pktbuf pb;
	if (!sbuf_gen_begin(&c->sb, &pb))
		return;
	if (k == TS_SET_CONFIG) {
		const char *names[] = { "set_config" };
		const uint32_t types[] = { OID_TEXT };
		const char *cells[] = { value };
		pkt_row_description(&pb, 1, names, types);
		pkt_data_row(&pb, 1, cells);
		pkt_command_complete(&pb, "SELECT 1");
	} else {
		pkt_command_complete(&pb, k == TS_RESET ? "RESET" : "SET");
	}
	pkt_rfq(&pb, 'I');
	if (!pb.failed)
		sbuf_gen_commit(&c->sb, &pb);
	c->status = 'I';
}

/* A whole SET/RESET/set_config of the tenant setting outside a
 * transaction: pgtide answers it, as Postgres would, and the new tenant
 * applies from the next statement on. false: not such a statement. */
static bool intercept_tenant_set(struct client *c, const struct pmsg *m, const char *q, size_t len)
{
	char value[1100], err[256];
	enum tenant_stmt k = sql_tenant_statement(q, len, g.tenant_setting, value, sizeof(value));
	if (k == TS_NONE)
		return false;
	struct istr *bound = c->user->tenant;
	if (k == TS_VALUE_TOO_LONG) {
		snprintf(err, sizeof(err), "invalid value for parameter \"%s\": value too long", g.tenant_setting);
		refuse(c, m->type, "22023", err);
		return true;
	}
	if (k != TS_RESET && !*value)
		k = k == TS_SET_CONFIG ? k : TS_RESET; /* '' means no tenant */
	bool clear = k == TS_RESET || !*value;
	if (!clear && !tenant_valid(value, err, sizeof(err))) {
		refuse(c, m->type, "22023", err);
		return true;
	}
	if (bound && (clear || strcmp(value, bound->s) != 0)) {
		snprintf(err, sizeof(err), "permission denied to set parameter \"%s\": user \"%s\" is bound to tenant \"%s\"",
			 g.tenant_setting, c->user->name, bound->s);
		refuse(c, m->type, "42501", err);
		return true;
	}
	struct tenant *t = clear ? NULL : tenant_get(value);
	if (tenant_over_client_limit(c, t, err, sizeof(err))) {
		tenant_unref(t);
		refuse(c, m->type, "53300", err);
		return true;
	}
	tenant_attach(c, t);
	tenant_unref(t);
	client_log(c, LV_DEBUG, "tenant %s%s%s", t ? "set to \"" : "cleared", t ? t->id : "", t ? "\"" : "");
	reply_tenant_set(c, k, value);
	return true;
}

/* ---- welcome ---- */

static void send_welcome(struct client *c)
{
	struct pool *p = c->pool;
	struct login_state *l = c->login;
	struct pktbuf pb;
	pkt_init_growable(&pb, 1024);
	pkt_auth(&pb, AUTH_REQ_OK, NULL, 0);

	struct pset *set = pset_ref(p->welcome_set);
	for (int i = 0; i < NPARAMS; i++) {
		if (l && l->values[i]) {
			struct pset *n = pset_with(set, i, param_canonical(i, l->values[i]));
			pset_unref(set);
			set = n;
		}
	}
	pset_unref(c->params);
	c->params = set;
	if (l && l->n_sets) {
		sset_unref(c->sess);
		c->sess = sset_from_pairs(l->set_names, l->set_values, l->n_sets);
	}
	for (int i = 0; i < p->n_welcome; i++) {
		const char *name = p->welcome_names[i]->s;
		const char *value = p->welcome_values[i]->s;
		int idx = param_index(name);
		if (idx >= 0 && set->v[idx])
			value = set->v[idx]->s;
		pkt_param_status(&pb, name, value);
	}
	pkt_backend_key(&pb, peer_cancel_pid(c->id), c->cancel_key);
	pkt_rfq(&pb, 'I');
	if (pb.failed || !sbuf_queue_heap(&c->sb, pb.buf, pb.len)) {
		if (!pb.failed)
			pb.buf = NULL;
		pkt_free(&pb);
		client_close(c, "53200", "out of memory");
		return;
	}
	c->status = 'I';
	if (l) {
		auth_free_state(l);
		c->login = NULL;
	}
	client_set_state(c, CL_ACTIVE, p);
	c->request_time = now_usec();
	if (S()->log_connections) {
		char d[128];
		client_log(c, LV_LOG, "login attempt: db=%s user=%s tls=%s", c->db->name, c->user->name,
			   c->sb.tls ? tls_describe(c->sb.tls, d, sizeof(d)) : "no");
	}
	sbuf_flush(&c->sb);
	sbuf_continue(&c->sb);
}

int client_login_waiters(const struct pool *p)
{
	int n = 0;
	struct list *ln;
	list_for_each(ln, &g.login_clients) {
		struct client *c = container_of(ln, struct client, node);
		if (c->pool == p && c->login && c->login->wait_welcome)
			n++;
	}
	return n;
}

void client_welcome_ready(struct pool *p)
{
	struct list *ln, *tmp;
	list_for_each_safe(ln, tmp, &g.login_clients) {
		struct client *c = container_of(ln, struct client, node);
		if (c->pool == p && c->login && c->login->wait_welcome)
			send_welcome(c);
	}
}

/* The client's tenant at login: its user's bound tenant, or the startup
 * parameter. A bad id refuses the connection. */
static bool login_tenant(struct client *c)
{
	const char *want = c->login->tenant;
	struct istr *bound = c->user->tenant;
	char err[256];
	struct tenant *t = NULL;
	if (bound) {
		if (want && strcmp(want, bound->s) != 0) {
			client_login_fail(c, "42501", "permission denied to set parameter \"%s\": user \"%s\" is bound to tenant \"%s\"",
					  g.tenant_setting, c->user->name, bound->s);
			return false;
		}
		t = tenant_get(bound->s);
	} else if (want && *want) {
		if (!tenant_valid(want, err, sizeof(err))) {
			client_login_fail(c, "22023", "%s", err);
			return false;
		}
		t = tenant_get(want);
	}
	if (tenant_over_client_limit(c, t, err, sizeof(err))) {
		tenant_unref(t);
		client_login_fail(c, "53300", "%s", err);
		return false;
	}
	tenant_attach(c, t);
	tenant_unref(t);
	return true;
}

void client_auth_done(struct client *c)
{
	struct login_state *l = c->login;
	const char *dbname = l->db_name;

	if (admin_is_console_db(dbname) || c->admin_listener) {
		admin_login(c);
		return;
	}
	struct database *db = database_lookup_or_auto(dbname);
	if (!db) {
		client_login_fail(c, "3D000", "no such database: %s", dbname);
		return;
	}
	if (db->disabled) {
		client_login_fail(c, "57P03", "database \"%s\" is disabled (DISABLE)", dbname);
		return;
	}
	if (tenant_enabled() && !login_tenant(c))
		return;
	struct user *pool_user = c->user;
	if (db->cfg->user)
		pool_user = user_find_or_add(db->cfg->user);
	c->db = db;
	c->pool = pool_get(db, pool_user);
	c->counted = true;
	db->client_count++;
	c->user->client_count++;
	db->last_used = now_usec();

	if (c->pool->n_welcome) {
		send_welcome(c);
		return;
	}
	/* The pool has never logged in: its first server tells us what to
	 * report to clients. */
	struct pool *p = c->pool;
	if (p->last_error && p->last_definitive && p->next_launch && now_usec() < p->next_launch &&
	    p->n_servers == 0) {
		/* the last attempt was refused in a way retrying cannot change */
		client_login_fail(c, p->last_sqlstate[0] ? p->last_sqlstate : "08006", "%s", p->last_error);
		return;
	}
	/* Otherwise wait, as PgBouncer does, while the pool connects or retries
	 * after server_login_retry: a restarting Postgres costs a delay, not an
	 * error. query_wait_timeout bounds the wait (janitor.c). */
	l->wait_welcome = true;
	c->wait_start = now_usec();
	pool_maybe_launch(p, false);
}

/* ---- the startup packet ---- */

static bool user_ignored(const char *name)
{
	return cfg_list_contains(S()->ignore_startup_parameters, name);
}

/* Any other setting a client asks for at login follows it like a SET
 * (session.c); Postgres checks it when it is first applied. */
static bool add_startup_setting(struct client *c, const char *name, const char *value, char *err, size_t errlen)
{
	struct login_state *l = c->login;
	if (!sset_name_ok(name)) {
		snprintf(err, errlen, "invalid startup parameter name \"%.100s\"", name);
		return false;
	}
	if (l->n_sets >= STARTUP_MAX_PARAMS) {
		snprintf(err, errlen, "too many startup parameters");
		return false;
	}
	l->set_names = xrealloc(l->set_names, sizeof(char *) * (size_t)(l->n_sets + 1));
	l->set_values = xrealloc(l->set_values, sizeof(char *) * (size_t)(l->n_sets + 1));
	l->set_names[l->n_sets] = xstrdup(name);
	l->set_values[l->n_sets] = xstrdup(value);
	l->n_sets++;
	return true;
}

/* -c name=value / --name=value in "options", as libpq's PGOPTIONS sends
 * them; backslash escapes a space. */
static bool parse_options(struct client *c, const char *opts, char *err, size_t errlen)
{
	struct login_state *l = c->login;
	const char *p = opts;
	char tok[1024];
	bool want_value = false;
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		size_t n = 0;
		while (*p && *p != ' ' && *p != '\t') {
			if (*p == '\\' && p[1])
				p++;
			if (n + 1 < sizeof(tok))
				tok[n++] = *p;
			p++;
		}
		tok[n] = '\0';
		const char *setting;
		if (want_value) {
			setting = tok;
			want_value = false;
		} else if (strcmp(tok, "-c") == 0) {
			want_value = true;
			continue;
		} else if (strncmp(tok, "-c", 2) == 0) {
			setting = tok + 2;
		} else if (strncmp(tok, "--", 2) == 0) {
			setting = tok + 2;
		} else {
			snprintf(err, errlen, "unsupported startup option \"%.200s\" in options", tok);
			return false;
		}
		char *eq = strchr(setting, '=');
		if (!eq) {
			snprintf(err, errlen, "option \"%.200s\" has no value", setting);
			return false;
		}
		*eq = '\0';
		const char *name = setting, *value = eq + 1;
		int idx = param_index(name);
		if (idx >= 0) {
			free(l->values[idx]);
			l->values[idx] = xstrdup(value);
		} else if (g.tenant_setting && strcasecmp(name, g.tenant_setting) == 0) {
			free(l->tenant);
			l->tenant = xstrdup(value);
		} else if (!user_ignored(name) && !add_startup_setting(c, name, value, err, errlen)) {
			return false;
		}
	}
	return true;
}

static void negotiate_protocol(struct client *c, const struct startup_packet *sp)
{
	const char *opts[STARTUP_MAX_PARAMS];
	int n = 0;
	for (int i = 0; i < sp->nparams; i++)
		if (strncmp(sp->params[i].name, "_pq_.", 5) == 0)
			opts[n++] = sp->params[i].name;
	if ((sp->version & 0xFFFF) == 0 && n == 0)
		return;
	struct pktbuf pb;
	if (!sbuf_gen_begin(&c->sb, &pb))
		return;
	pkt_negotiate_protocol(&pb, 0, n, opts);
	sbuf_gen_commit(&c->sb, &pb);
}

static void handle_cancel(struct client *c, const struct startup_packet *sp)
{
	uint32_t id;
	if (peer_route_cancel(sp->cancel_pid, sp->cancel_key, &id))
		return; /* another peer's client: forwarded there (peer.c) */
	struct client *target = client_by_id(id);
	if (!target || target->cancel_key != sp->cancel_key || target == c) {
		log_debug("cancel request for unknown client %u ignored", id);
		return;
	}
	if (target->server && target->server->state == SV_ACTIVE) {
		client_log(target, LV_LOG, "cancel request forwarded to backend %u", target->server->be_pid);
		server_send_cancel(target->server);
	} else if (target->state == CL_WAITING) {
		client_log(target, LV_LOG, "cancel request: query dropped before it reached a server");
		client_wait_failed(target, "57014", "canceling statement due to user request");
	}
}

static int on_startup(struct client *c, const uint8_t *data, size_t len)
{
	struct startup_packet sp;
	enum proto_result r = proto_read_startup(data, len, &sp);
	if (r == PROTO_MORE)
		return 0;
	if (r == PROTO_BAD) {
		client_close(c, "08P01", "%s", sp.err);
		return -1;
	}
	switch (sp.kind) {
	case SP_SSL:
		if (c->sb.tls) {
			client_close(c, "08P01", "SSL request received on an encrypted connection");
			return -1;
		}
		if (c->family != AF_UNIX && tls_client_enabled()) {
			/* The client speaks TLS only after our 'S': anything already
			 * here was sent in the clear and must not pass as if it had
			 * been encrypted (CVE-2021-23214). */
			if (len > sp.len) {
				client_close(c, "08P01", "received unencrypted data after SSL request");
				return -1;
			}
			struct ssl_st *ssl = tls_accept_new(c->sb.fd);
			struct pktbuf pb;
			if (!ssl || !sbuf_gen_begin(&c->sb, &pb)) {
				if (ssl)
					SSL_free(ssl);
				client_close(c, "53200", "could not set up TLS for this connection");
				return -1;
			}
			pkt_put_byte(&pb, 'S');
			sbuf_gen_commit(&c->sb, &pb);
			sbuf_tls_start(&c->sb, ssl);
			return (int)sp.len;
		}
		/* fall through - TLS is not offered here */
	case SP_GSSENC: {
		/* Say 'N'; the client decides whether to go on in the clear. */
		struct pktbuf pb;
		if (sbuf_gen_begin(&c->sb, &pb)) {
			pkt_put_byte(&pb, 'N');
			sbuf_gen_commit(&c->sb, &pb);
		}
		return (int)sp.len;
	}
	case SP_CANCEL:
		handle_cancel(c, &sp);
		client_set_state(c, CL_CANCEL, NULL);
		client_finish_close(c, "cancel request done");
		return -1;
	case SP_STARTUP:
		break;
	}

	struct login_state *l = c->login;
	const char *user = startup_param(&sp, "user");
	if (!user || !*user) {
		client_close(c, "28000", "no PostgreSQL user name specified in startup packet");
		return -1;
	}
	l->user_name = xstrdup(user);
	const char *db = startup_param(&sp, "database");
	l->db_name = xstrdup(db && *db ? db : user);
	if (!c->sb.tls && c->family != AF_UNIX && S()->client_tls_sslmode >= TLS_REQUIRE) {
		client_log(c, LV_LOG, "refused: TLS is required (client_tls_sslmode=%s)", tls_mode_name(S()->client_tls_sslmode));
		client_close(c, "28000", "SSL required");
		return -1;
	}
	if (g.n_clients > S()->max_client_conn) {
		client_log(c, LV_WARNING, "refused: max_client_conn (%d) reached", S()->max_client_conn);
		client_close(c, "53300", "no more connections allowed (max_client_conn=%d)", S()->max_client_conn);
		return -1;
	}
	char err[512];
	for (int i = 0; i < sp.nparams; i++) {
		const char *name = sp.params[i].name, *value = sp.params[i].value;
		if (strcmp(name, "user") == 0 || strcmp(name, "database") == 0 || strncmp(name, "_pq_.", 5) == 0)
			continue;
		if (strcmp(name, "replication") == 0) {
			bool on = true;
			if (parse_bool(value, &on) && !on)
				continue;
			client_close(c, "08P01", "replication connections are not supported by pgtide");
			return -1;
		}
		if (strcmp(name, "options") == 0) {
			if (!parse_options(c, value, err, sizeof(err))) {
				if (user_ignored("options"))
					continue;
				client_close(c, "08P01", "%s", err);
				return -1;
			}
			continue;
		}
		int idx = param_index(name);
		if (idx >= 0) {
			free(l->values[idx]);
			l->values[idx] = xstrdup(value);
			continue;
		}
		if (g.tenant_setting && strcasecmp(name, g.tenant_setting) == 0) {
			free(l->tenant);
			l->tenant = xstrdup(value);
			continue;
		}
		if (user_ignored(name))
			continue;
		if (!add_startup_setting(c, name, value, err, sizeof(err))) {
			client_close(c, "08P01", "%s", err);
			return -1;
		}
	}
	negotiate_protocol(c, &sp);
	c->sb.raw = false;
	if (!auth_begin(c))
		return -1;
	return (int)sp.len;
}

/* ---- sbuf callbacks ---- */

static int client_on_raw(struct sbuf *sb, const uint8_t *data, size_t len)
{
	struct client *c = container_of(sb, struct client, sb);
	return on_startup(c, data, len);
}

static enum sb_verdict login_message(struct client *c, const struct pmsg *m)
{
	if (c->login && c->login->wait_welcome) {
		client_close(c, "08P01", "unexpected message before login completed");
		return SB_CLOSED;
	}
	if (m->type != FE_PASSWORD) {
		client_close(c, "08P01", "expected password response, got message type %d", m->type);
		return SB_CLOSED;
	}
	return auth_on_message(c, m);
}

/*
 * Replays. The first request of a transaction routed to a replica (a
 * Query, or an extended group up to its Sync, if all of it is here) is
 * kept so it can run again elsewhere if the replica dies or refuses it as
 * a write before anything reached the client. When that request is a lone
 * BEGIN, the client has its answer before it sends anything else, so the
 * next request joins the replay too: a replica that dies then costs the
 * client nothing either (the BEGIN runs again, its answer consumed).
 * Only small requests: at most 64 kB in all.
 */
#define REPLAY_MAX 65536

/* Bytes of the request starting at m, or 0 when it cannot be kept. */
static size_t request_len(struct client *c, const struct pmsg *m)
{
	if (m->type == FE_QUERY)
		return m->len;
	size_t off = 0;
	struct pmsg n;
	while (sbuf_peek(&c->sb, &off, &n))
		if (n.type == FE_SYNC)
			return off;
	return 0; /* the group is not all here */
}

static bool replay_append(struct client *c, const uint8_t *data, size_t len)
{
	struct replay *r = c->replay;
	size_t have = r ? r->len : 0;
	if (!len || have + len > REPLAY_MAX)
		return false;
	size_t room = r ? (r->pooled ? bufpool_block_size() - sizeof(*r) : r->len) : 0;
	if (have + len > room) {
		/* most requests fit a pooled block: no allocation per transaction */
		bool pooled = sizeof(*r) + have + len <= bufpool_block_size();
		struct replay *n = pooled ? bufpool_get() : malloc(sizeof(*n) + have + len);
		if (!n)
			return false;
		n->pooled = pooled;
		if (r)
			memcpy(n->data, r->data, have);
		if (r && r->pooled)
			bufpool_put(r);
		else
			free(r);
		c->replay = r = n;
	}
	memcpy(r->data + have, data, len);
	r->len = have + len;
	return true;
}

static void retain_request(struct client *c, const struct pmsg *m, const char *text, size_t tlen)
{
	client_replay_drop(c);
	if (!replay_append(c, m->body - PROTO_HDR, request_len(c, m))) {
		client_replay_drop(c);
		return;
	}
	/* a BEGIN alone, as a Query or as one extended statement (psycopg 3);
	 * one being replayed stays so until its replies were swallowed */
	bool lone_begin = text && (m->type == FE_QUERY || m->type == FE_PARSE) &&
			  sql_begin_mode(text, tlen) != BM_NOT_BEGIN && sql_single_statement(text, tlen);
	if (c->begin_replay != BR_REPLAYING)
		client_begin_replay(c, lone_begin ? BR_KEPT : BR_NONE);
}

void client_begin_replay(struct client *c, enum begin_replay st)
{
	/* the transitions of enum begin_replay's diagram (pgtide.h); any
	 * state may end in BR_NONE */
	static const unsigned from[] = {
		[BR_NONE] = ~0u,
		[BR_KEPT] = 1u << BR_NONE,
		[BR_ANSWERED] = 1u << BR_KEPT | 1u << BR_REPLAYING,
		[BR_JOINED] = 1u << BR_ANSWERED,
		[BR_REPLAYING] = 1u << BR_ANSWERED | 1u << BR_JOINED,
	};
	static const char *const name[] = { "none", "kept", "answered", "joined", "replaying" };
	if (!(from[st] & 1u << c->begin_replay))
		client_log(c, LV_WARNING, "replay of a BEGIN: %s -> %s is not expected: please report this",
			   name[c->begin_replay], name[st]);
	c->begin_replay = st;
}

/* The request after an answered BEGIN joins the replay. */
static void join_request(struct client *c, struct server *s, const struct pmsg *m)
{
	client_begin_replay(c, BR_JOINED);
	if (!replay_append(c, m->body - PROTO_HDR, request_len(c, m))) {
		client_replay_drop(c);
		return;
	}
	server_holdback_begin(s);
}

void client_replay_drop(struct client *c)
{
	struct replay *r = c->replay;
	c->replay = NULL;
	if (c->begin_replay != BR_REPLAYING)
		client_begin_replay(c, BR_NONE);
	if (!r)
		return;
	if (r->pooled)
		bufpool_put(r);
	else
		free(r);
}

void client_replay(struct client *c, bool primary)
{
	struct replay *r = c->replay;
	if (!r)
		return;
	/* a BEGIN the client has the answer to is sent again silently */
	bool answered = c->begin_replay == BR_ANSWERED || c->begin_replay == BR_JOINED;
	client_begin_replay(c, answered ? BR_REPLAYING : BR_NONE);
	c->route_primary = primary;
	c->xact_start = 0;
	c->query_start = 0;
	/* the request was consumed from the buffer: put it back in front */
	bool ok = sbuf_push_front(&c->sb, r->data, r->len);
	client_replay_drop(c);
	if (!ok) {
		client_close(c, "08006", "could not run a request again after its replica failed");
		return;
	}
	sbuf_continue(&c->sb);
}

/* Queue a message built outside the output area (a large one). */
static bool queue_built(struct server *s, struct pktbuf *big)
{
	if (big->failed) {
		pkt_free(big);
		return false;
	}
	if (!sbuf_queue_heap(&s->sb, big->buf, big->len))
		return false; /* the block was freed */
	return true;
}

/* The statement that brings s to c's session settings (session.c), in
 * front of the client's first message. Normally Parse/Bind/Execute with
 * no Sync: if it fails, Postgres skips the client's messages, which so
 * never run with another client's settings. A statement that must run in
 * a transaction of its own (wait) gets it as a query before it. */
static bool apply_session(struct client *c, struct server *s, bool wait)
{
	const char *sql = session_apply_sql(s, c);
	if (!sql)
		return true;
	struct pktbuf pb, big;
	struct pktbuf *b = &pb;
	bool fits = sbuf_gen_begin(&s->sb, &pb) && pb.cap - pb.len > strlen(sql) + 64;
	if (!fits) {
		pkt_init_growable(&big, strlen(sql) + 64);
		b = &big;
	}
	int n = 0;
	if (wait)
		pkt_query(b, sql);
	else
		n = pkt_own_statement(b, sql, strlen(sql), s->portal_suspendable ? PKT_OWN_PORTAL : NULL);
	if (fits) {
		if (pb.failed)
			return false;
		sbuf_gen_commit(&s->sb, &pb);
	} else if (!queue_built(s, &big)) {
		return false;
	}
	if (wait) {
		rq_push(s, FE_QUERY, RQ_CONSUME | RQ_SESS);
	} else {
		for (int i = 0; i < n; i++)
			rq_push(s, pkt_own_types[i], RQ_CONSUME | RQ_SESS);
		server_group_sent(s, true);
	}
	session_applied(s, c);
	return true;
}

/* Start of a transaction on a linked server: bring its session parameters
 * and settings in line with the client's, in the same write as the
 * client's request. */
static bool prepare_server(struct client *c, struct server *s, bool wait)
{
	if (s->params != c->params) {
		char sql[4096];
		int n = pset_diff_sql(s->params, c->params, sql, sizeof(sql));
		if (n > 0) {
			struct pktbuf pb;
			if (sbuf_gen_begin(&s->sb, &pb)) {
				pkt_query(&pb, sql);
				if (!pb.failed) {
					sbuf_gen_commit(&s->sb, &pb);
					rq_push(s, FE_QUERY, RQ_CONSUME | RQ_PARAMS);
				}
			}
		}
		pset_unref(s->params);
		s->params = pset_ref(c->params);
	}
	return apply_session(c, s, wait);
}

/* What the statement text of this message does to the session. */
static void session_effects(struct client *c, const struct pmsg *m, const char *text, size_t tlen,
			    const struct msg_parse *mp, struct sql_session *se)
{
	se->flags = 0;
	se->n_names = 0;
	se->scan = 0;
	if (text) {
		sql_session_effects(text, tlen, g.tenant_setting, se);
		if (m->type == FE_PARSE && mp->name[0]) {
			if (prep_enabled(c))
				se->flags &= ~(unsigned)(SE_BINDS | SE_SETTINGS | SE_UNKNOWN); /* decided at Bind */
			else
				se->flags |= SESS_NAMED_PARSE;
		}
		if (m->type == FE_PARSE && !mp->name[0] && (se->flags & SE_PREPARE_STMT) && (se->flags & SE_DEALLOCATE) &&
		    !(se->flags & SE_MULTI) && prep_enabled(c)) {
			/* DEALLOCATE as the unnamed statement: prepare.c answers it,
			 * nothing reaches a server */
			se->flags = 0;
			se->n_names = 0;
		}
		if (m->type == FE_QUERY && (se->flags & SE_PREPARE_STMT) && !(se->flags & SE_MULTI) && prep_enabled(c)) {
			/* prepare.c maps it: nothing of it reaches a server as
			 * written; EXECUTE runs what its statement does */
			se->flags = 0;
			se->n_names = 0;
			prep_sql_session(c, text, tlen, se);
		}
	} else if (m->type == FE_BIND && prep_enabled(c)) {
		prep_bind_session(c, m, se);
	}
}

/*
 * The path of one client message, in stages. Each stage either decides the
 * message's fate (a verdict: forward, answered here, wait, denied, closed)
 * or passes it on to the next; client_on_msg is the table of contents.
 * A new per-message rule goes into the stage whose question it answers;
 * policy modules (tenant, session, prepare, route) are asked, and this
 * file acts on what they say.
 */

/* What the stages learn about the message as it goes. */
struct request {
	const struct pmsg *m;
	bool complete;            /* the whole message is in the buffer */
	const char *text;         /* SQL of a Query or Parse, else NULL */
	size_t tlen;
	struct msg_parse mp;      /* a Parse's fields */
	struct sql_session se;    /* what the text does to the session */
	bool write_attempt;       /* the text may change the tenant setting */
	bool txn_exit;            /* a COMMIT or ROLLBACK (ready_server) */
};

/* A stage's answer: go on, or stop with this verdict. */
struct step {
	bool done;
	enum sb_verdict v;
};
static const struct step NEXT = { false, SB_FORWARD };

static struct step stop(enum sb_verdict v)
{
	return (struct step){ true, v };
}

/* 1. Message types: Terminate, COPY messages outside COPY, unknown types. */
static struct step check_type(struct client *c, struct request *rq)
{
	const struct pmsg *m = rq->m;
	switch (m->type) {
	case FE_TERMINATE:
		client_finish_close(c, NULL);
		return stop(SB_CLOSED);
	case FE_COPY_DATA:
	case FE_COPY_DONE:
	case FE_COPY_FAIL:
		/* outside COPY, Postgres ignores these too */
		return stop(c->server ? SB_FORWARD : SB_DROP);
	case FE_QUERY: case FE_PARSE: case FE_BIND: case FE_DESCRIBE: case FE_EXECUTE: case FE_CLOSE: case FE_SYNC: case FE_FLUSH: case FE_FUNCTION_CALL:
		break;
	default:
		client_close(c, "08P01", "invalid frontend message type %d", m->type);
		return stop(SB_CLOSED);
	}
	if (listen_client_waiting(c))
		return stop(SB_STOP); /* its LISTEN is not answered yet */
	return NEXT;
}

/* 2. Read the request: its SQL, and what that does to the session. A
 * client whose transaction was lost is answered by emulate(). */
static struct step read_request(struct client *c, struct request *rq)
{
	const struct pmsg *m = rq->m;
	c->request_time = now_usec();
	if (log_enabled(LV_NOISE))
		client_log(c, LV_NOISE, "message '%c' (server S-%u rq %u)", m->type, c->server ? c->server->id : 0,
			   c->server ? rq_count(c->server) : 0);
	if (m->type == FE_QUERY || m->type == FE_PARSE) {
		bool ok = m->type == FE_QUERY ? proto_parse_query(m, &rq->text, &rq->tlen) : proto_parse_parse(m, &rq->mp);
		if (!ok) {
			client_close(c, "08P01", "malformed %s message", m->type == FE_QUERY ? "Query" : "Parse");
			return stop(SB_CLOSED);
		}
		if (m->type == FE_PARSE) {
			rq->text = rq->mp.query;
			rq->tlen = rq->mp.query_len;
		}
	}
	/* skipping to the Sync after a refusal: nothing of the client's is
	 * owed by its server (pgtide's own question may be in flight) */
	if (c->skip_to_sync && (!c->server || !rq_owes_client(c->server)))
		return stop(emulate(c, m));
	session_effects(c, m, rq->text, rq->tlen, &rq->mp, &rq->se);
	if ((rq->se.scan & QS_NOTIFY) && listen_client_count(c))
		c->notify_sent = true; /* its ReadyForQuery waits for its own notification */
	return NEXT;
}

/* 3. Tenant rules: a tenant SET between transactions is taken here; a
 * bound user may not change its tenant; tenant_required. */
static struct step tenant_rules(struct client *c, struct request *rq)
{
	const struct pmsg *m = rq->m;
	if (!tenant_enabled() || c->failed_block || c->pending_error)
		return NEXT;
	bool outside = !c->server || (server_is_idle_for_txn(c->server) && !c->server->in_copy);
	/* a tenant SET / RESET / set_config has a word the scan looks for */
	if (m->type == FE_QUERY && outside && (rq->se.scan & QS_SESSION) && intercept_tenant_set(c, m, rq->text, rq->tlen))
		return stop(SB_DROP);
	if (rq->text && sql_tenant_write_attempt_scanned(rq->text, rq->tlen, g.tenant_setting, rq->se.scan)) {
		if (c->user->tenant) {
			char err[256];
			snprintf(err, sizeof(err),
				 "permission denied to set parameter \"%s\": user \"%s\" is bound to tenant \"%s\"",
				 g.tenant_setting, c->user->name, c->user->tenant->s);
			client_log(c, LV_LOG, "refused a statement that changes %s", g.tenant_setting);
			return stop(client_deny(c, m, "42501", err));
		}
		rq->write_attempt = true;
	}
	if (!c->tenant && outside && m->type != FE_SYNC && m->type != FE_FLUSH && db_tenant_required(g.cfg, c->db->cfg)) {
		char err[256];
		snprintf(err, sizeof(err), "a tenant is required: set \"%s\" first (tenant_required = 1)",
			 g.tenant_setting);
		return stop(client_deny(c, m, "28000", err));
	}
	return NEXT;
}

/* 4. LISTEN / UNLISTEN between transactions: the pool's shared listener
 * does it, and no server is bound. */
static struct step listen_locally(struct client *c, struct request *rq)
{
	if (!(rq->se.flags & SE_LISTEN) || rq->m->type != FE_QUERY || c->status != 'I' || c->failed_block ||
	    c->pending_error || session_holds_server(c) ||
	    (c->server && (!server_is_idle_for_txn(c->server) || c->server->phase == TX_ASKING)) || rq->tlen >= 512)
		return NEXT;
	char channel[256];
	char kind = sql_listen_statement(rq->text, rq->tlen, channel, sizeof(channel));
	if (!kind)
		return NEXT;
	listen_request(c, kind, channel);
	if (c->server && !listen_client_waiting(c) && sbuf_has_output(&c->sb))
		sbuf_flush(&c->sb);
	return stop(SB_DROP);
}

/* 5. Session state the client cannot take along (session.c decides):
 * refused, or the client is bound to its server. Asked first before a
 * server is picked (a refusal is then local, and a binding goes to the
 * primary), and again once the server is there (server_session_rules). */
static struct step session_rules(struct client *c, struct request *rq)
{
	if (!(rq->se.flags & (SE_BINDS | SESS_NAMED_PARSE | SE_PREPARE_STMT)) || c->failed_block ||
	    c->pending_error || c->skip_to_sync || (c->server && server_skipping(c->server)))
		return NEXT;
	char sqlstate[6], smsg[400];
	enum sess_verdict sv = session_check(c, c->server, &rq->se, sqlstate, smsg, sizeof(smsg));
	if (sv == SESS_DENY) {
		client_log(c, LV_LOG, "refused: %s", smsg);
		return stop(client_deny(c, rq->m, sqlstate, smsg));
	}
	if (sv == SESS_BIND && !c->server)
		c->route_primary = true;
	return NEXT;
}

static struct step server_session_rules(struct client *c, struct request *rq)
{
	struct server *s = c->server;
	if (!(rq->se.flags & (SE_BINDS | SESS_NAMED_PARSE | SE_PREPARE_STMT)) || server_skipping(s) || c->bound_flags)
		return NEXT;
	char sqlstate[6], smsg[400];
	enum sess_verdict sv = session_check(c, s, &rq->se, sqlstate, smsg, sizeof(smsg));
	if (sv == SESS_DENY) {
		client_log(c, LV_LOG, "refused: %s", smsg);
		enum sb_verdict v = client_deny(c, rq->m, sqlstate, smsg);
		/* a server taken for this message alone goes back */
		if (v == SB_DROP && c->server == s && server_is_idle_for_txn(s) && !session_holds_server(c))
			pool_release_server(s);
		return stop(v);
	}
	if (sv == SESS_BIND)
		session_bind(c, s, rq->se.flags);
	return NEXT;
}

/* 6. An error the client has not heard yet (its server was lost while it
 * was idle in a transaction) answers this request. */
static struct step answer_pending_error(struct client *c, struct request *rq)
{
	if (!c->pending_error || (c->server && (!rq_empty(c->server) || server_unsynced(c->server))))
		return NEXT;
	struct pending_error *pe = c->pending_error;
	c->pending_error = NULL;
	if (c->failed_block && rq->text && sql_is_txn_exit(rq->text, rq->tlen)) {
		/* The transaction was lost while the client was idle in it and
		 * now it ends it: ROLLBACK is what happened; COMMIT hears that it
		 * did not commit. Either way the block is over, as in Postgres. */
		char w[16];
		sql_first_word(rq->text, rq->tlen, w, sizeof(w));
		c->failed_block = false;
		c->status = 'I';
		if (strcmp(w, "rollback") == 0 || strcmp(w, "abort") == 0) {
			free(pe);
			return stop(emulate(c, rq->m));
		}
	}
	refuse(c, rq->m->type, pe->sqlstate, pe->message);
	free(pe);
	return stop(SB_DROP);
}

/* Act on prepare.c's verdict: V_ANSWERED means the plan says it all (the
 * server's part, then the client's answer if it has one). */
static enum sb_verdict act_planned(struct client *c, const struct pmsg *m, enum verdict v, const struct refusal *r)
{
	struct server *s = c->server;
	if (v == V_CLOSE && s && strcmp(r->sqlstate, "53200") == 0) {
		/* out of memory half way through a plan: prepare.c's record of
		 * what s has prepared no longer matches what s was sent */
		server_close_later(s, CR_INTERNAL, "out of memory while rewriting a prepared statement");
	}
	if (v != V_ANSWERED)
		return client_act(c, m, v, r);
	if (s && !server_play(s, c, &plan)) {
		server_close_later(s, CR_INTERNAL, "out of memory while rewriting a prepared statement");
		client_close(c, "53200", "out of memory");
		return SB_CLOSED;
	}
	if (plan.reply) {
		struct pktbuf pb;
		if (sbuf_gen_begin(&c->sb, &pb)) {
			pkt_synth(&pb, (char)plan.reply);
			sbuf_gen_commit(&c->sb, &pb);
		}
	}
	if (plan.reply_tag)
		client_reply_command(c, plan.reply_tag);
	return SB_DROP;
}

/* 7. Prepared-statement requests that need no server: closing or
 * deallocating a name, a Parse pgtide already has. */
static struct step prepared_without_server(struct client *c, struct request *rq)
{
	const struct pmsg *m = rq->m;
	if (c->server || !prep_enabled(c))
		return NEXT;
	enum verdict pv;
	struct refusal r;
	server_plan_begin(NULL, &plan);
	if (c->skip_to_sync)
		return NEXT; /* Postgres would skip these: emulate() does */
	if (m->type == FE_CLOSE && m->body_len >= 1 && m->body[0] == 'S')
		return stop(act_planned(c, m, prep_close(c, m, &plan, &r), &r));
	/* DEALLOCATE in an aborted transaction fails as any statement does */
	if (m->type == FE_QUERY && !c->failed_block && (rq->se.scan & QS_SESSION) &&
	    prep_query_local(rq->text, rq->tlen) && prep_query(c, rq->text, rq->tlen, &plan, &pv, &r))
		return stop(act_planned(c, m, pv, &r));
	if (m->type == FE_PARSE && rq->mp.name[0] && !c->failed_block &&
	    prep_parse_local(c, &rq->mp, &plan, &pv, &r))
		return stop(act_planned(c, m, pv, &r));
	/* DEALLOCATE as the unnamed statement, and what follows it */
	if (m->type == FE_PARSE && !rq->mp.name[0] && !c->failed_block &&
	    (pv = prep_parse_unnamed(c, &rq->mp, rq->se.scan, &plan, &r)) != V_FORWARD)
		return stop(act_planned(c, m, pv, &r));
	if (m->type != FE_PARSE && prep_unnamed_answered(c) && (pv = prep_unnamed_message(c, m, &plan, &r)) != V_FORWARD)
		return stop(act_planned(c, m, pv, &r));
	return NEXT;
}

/* 8. A server for the transaction: route.c picks the pool (primary or a
 * replica), pool.c gives a server or makes the client wait. */
static struct step get_server(struct client *c, struct request *rq)
{
	const struct pmsg *m = rq->m;
	if (c->server && c->server->phase == TX_RELEASING && c->server->pool->target)
		/* The replica's transaction is over; only its answer is still
		 * being written to the client. The next one is routed afresh:
		 * it may write, and only a routed request is kept for a replay
		 * should its replica die before it runs. */
		pool_release_server(c->server);
	if (c->server)
		return NEXT;
	if (c->skip_to_sync || c->failed_block)
		return stop(emulate(c, m));
	if (m->type == FE_FLUSH)
		return stop(SB_DROP);
	if (m->type == FE_SYNC) {
		/* nothing is pending: Postgres would just say it is ready */
		emit_rfq(c, c->status);
		return stop(SB_DROP);
	}
	if (g.shutting_down && c->served) {
		client_close(c, "57P01", "pgtide is shutting down");
		return stop(SB_CLOSED);
	}
	c->served = true;
	struct route_target *target;
	const char *rerr;
	enum route_where where = route_pick(c, m, rq->text, rq->tlen, &target, &rerr);
	if (where == ROUTE_HOLD) {
		ryw_hold(c); /* a replica catches up, or its time is up: resumed */
		health_probe(c->db);
		ryw_arm();
		return stop(SB_STOP);
	}
	bool replica = where == ROUTE_REPLICA;
	struct pool *tp = replica ? pool_get_target(c->db, c->pool->user, target) : c->pool;
	if (where == ROUTE_NONE) {
		char msg[256];
		if (c->begin_replay == BR_REPLAYING) {
			/* the client has its BEGIN's answer: the transaction is lost */
			client_begin_replay(c, BR_NONE);
			c->status = 'E';
			c->failed_block = true;
			snprintf(msg, sizeof(msg), "08006 server connection lost; %s for database \"%s\"; "
				 "the transaction was rolled back", rerr, c->db->name);
			client_fail_request(c, msg);
			return stop(SB_DROP);
		}
		snprintf(msg, sizeof(msg), "%s for database \"%s\"", rerr, c->db->name);
		return stop(client_deny(c, m, "08006", msg));
	}
	client_replay_drop(c);
	if (replica) {
		retain_request(c, m, rq->text, rq->tlen);
	} else if (rq->se.scan & QS_TXN_BEGIN) {
		/* a lone BEGIN, and the request after it, may run again on
		 * another server if theirs dies before anything reached the
		 * client: the open transaction died with it */
		retain_request(c, m, rq->text, rq->tlen);
		if (c->begin_replay == BR_NONE)
			client_replay_drop(c);
	}
	if (!pool_acquire(c, tp))
		return stop(SB_STOP);
	return NEXT;
}

/* 9. Room on the server: a full reply queue waits for replies. */
static struct step server_room(struct client *c, struct request *rq)
{
	(void)rq;
	struct server *s = c->server;
	if (s->phase == TX_ASKING)
		return stop(SB_STOP); /* pgtide asks what the last transaction left; continued after */
	if (rq_full(s)) {
		/* Too many replies owed: wait for some. Postgres holds replies
		 * until its output buffer fills or it sees Sync or Flush, so ask
		 * it to send what it has, or a long pipeline would wait forever. */
		struct pktbuf pb;
		if (rq_block(s) && sbuf_gen_begin(&s->sb, &pb)) {
			pkt_empty(&pb, FE_FLUSH);
			sbuf_gen_commit(&s->sb, &pb);
			sbuf_flush(&s->sb);
		}
		return stop(SB_STOP);
	}
	if (s->phase == TX_RELEASING)
		server_set_phase(s, TX_SERVING); /* the client goes on with it */
	return NEXT;
}

/* 10. The server takes on the client's session before its first request
 * of a transaction: settings, session state, the tenant (in the same
 * write as the request, or as queries of their own, waited for, before a
 * statement that refuses to run in a pipeline). */
static struct step ready_server(struct client *c, struct request *rq)
{
	const struct pmsg *m = rq->m;
	struct server *s = c->server;
	/* replies owed for the client's earlier requests (not for what this
	 * stage puts in front of this one) */
	bool owed = !rq_empty(s);
	int wait = -1;
#define WAIT() (wait < 0 ? (wait = rq->text && sql_needs_own_transaction(rq->text, rq->tlen)) : wait)
	/* Decided before pgtide puts anything of its own in front: its
	 * messages leave the server mid-group. */
	bool group_start = !server_unsynced(s) && m->type != FE_SYNC && m->type != FE_FLUSH;
	if (server_is_idle_for_txn(s)) {
		if (!c->xact_start)
			c->xact_start = now_usec();
		if ((s->params != c->params || s->ses.sess != c->sess) && !prepare_server(c, s, WAIT())) {
			client_close(c, "53200", "out of memory");
			return stop(SB_CLOSED);
		}
		if (c->replay && !s->holding)
			server_holdback_begin(s);
	} else if (c->begin_replay == BR_ANSWERED && !server_unsynced(s) && m->type != FE_SYNC && m->type != FE_FLUSH) {
		join_request(c, s, m);
	}
	s->group_start = group_start;
	if (group_start)
		prep_new_group(s);
	/* Each request group starts with the client's tenant in effect. An
	 * aborted transaction runs nothing but its end: no SET needed. When
	 * replies are still owed, what they answer may have ended or aborted
	 * the transaction: the SET goes after them as a query of its own and
	 * the request waits for its answer (a SET refused in a transaction
	 * the client's own earlier request aborted is that request's 25P02,
	 * not a server to close). */
	if (tenant_enabled() && group_start && !server_skipping(s) && s->status != 'E' && !tenant_in_effect(s, c, owed)) {
		bool w = owed || WAIT();
		if (!server_queue_tenant_set(s, c, w)) {
			client_close(c, "53200", "out of memory");
			return stop(SB_CLOSED);
		}
		if (w)
			return stop(SB_STOP); /* continued when the SET's ReadyForQuery arrives */
	}
#undef WAIT
	if ((rq->se.scan & QS_TXN_END) && (m->type == FE_QUERY || m->type == FE_PARSE) && sql_is_txn_exit(rq->text, rq->tlen)) {
		server_set_phase(s, TX_EXITING); /* if the server dies now, the transaction is over anyway */
		rq->txn_exit = true;
	}
	session_note_sent(c, s, &rq->se);
	if (rq->write_attempt)
		tenant_server_forget(s);
	return NEXT;
}

/* 11. Prepared statements in transaction mode: prepare.c maps the
 * client's names to the server's. */
static struct step map_prepared(struct client *c, struct request *rq)
{
	const struct pmsg *m = rq->m;
	if (!prep_enabled(c))
		return NEXT;
	if (m->type != FE_PARSE && m->type != FE_BIND && m->type != FE_DESCRIBE && m->type != FE_CLOSE &&
	    m->type != FE_QUERY && m->type != FE_EXECUTE) {
		prep_retain(c, m);
		return NEXT;
	}
	enum verdict pv = V_FORWARD;
	struct refusal r;
	server_plan_begin(c->server, &plan);
	/* the unnamed statement or portal of a DEALLOCATE pgtide answers */
	if (m->type != FE_PARSE)
		pv = prep_unnamed_message(c, m, &plan, &r);
	if (pv == V_FORWARD) {
		switch (m->type) {
		case FE_PARSE:
			if (rq->mp.name && rq->mp.name[0])
				pv = prep_parse(c, &rq->mp, &plan, &r);
			else
				pv = prep_parse_unnamed(c, &rq->mp, rq->se.scan, &plan, &r);
			break;
		case FE_BIND:
			pv = prep_bind(c, m, &plan, &r);
			break;
		case FE_DESCRIBE:
			pv = prep_describe(c, m, &plan, &r);
			break;
		case FE_CLOSE:
			pv = prep_close(c, m, &plan, &r);
			break;
		case FE_QUERY:
			/* PREPARE / EXECUTE / DEALLOCATE start with a word the scan looks for */
			if (!(rq->se.scan & QS_SESSION) || !prep_query(c, rq->text, rq->tlen, &plan, &pv, &r))
				pv = V_FORWARD;
			break;
		default:
			break;
		}
	}
	if (pv != V_FORWARD) {
		if (m->type == FE_QUERY && c->tenant)
			c->tenant->queries++;
		return stop(act_planned(c, m, pv, &r));
	}
	prep_retain(c, m);
	return NEXT;
}

/* 12. Forward: the reply queue learns what the server now owes. */
static enum sb_verdict forward(struct client *c, struct request *rq)
{
	const struct pmsg *m = rq->m;
	struct server *s = c->server;
	if (!c->query_start)
		c->query_start = now_usec();
	/* a replayed BEGIN the client already has the answer to */
	uint16_t cf = c->begin_replay == BR_REPLAYING ? RQ_CONSUME : 0;
	if (cf && (m->type == FE_SYNC || m->type == FE_QUERY)) {
		client_begin_replay(c, BR_ANSWERED);
		s->holding = false;
	}
	switch (m->type) {
	case FE_SYNC:
		server_set_sync(s, SYNC_NONE);
		c->skip_to_sync = false; /* the server's ReadyForQuery ends it */
		/* a COMMIT or ROLLBACK may be in the group it ends (a Parse of
		 * one): the exit lasts until its ReadyForQuery */
		rq_push(s, FE_SYNC, cf)->aux = s->phase == TX_EXITING ? RQ_AUX_EXIT : 0;
		break;
	case FE_FLUSH:
		break;
	case FE_QUERY:
	case FE_FUNCTION_CALL:
		/* While the server skips to a Sync it discards these too and
		 * answers nothing: it still waits for that Sync. */
		if (!server_skipping(s)) {
			rq_push(s, m->type, cf)->aux = rq->txn_exit ? RQ_AUX_EXIT : 0;
			server_group_sent(s, false);
		}
		if (m->type == FE_QUERY) {
			s->pool->query_count++;
			if (c->tenant)
				c->tenant->queries++;
		}
		break;
	case FE_DESCRIBE: {
		char kind = 'P';
		const char *name;
		if (!server_skipping(s)) {
			if (rq->complete && proto_parse_describe_close(m, &kind, &name) && kind == 'S')
				rq_push(s, FE_DESCRIBE, (uint16_t)(RQ_DESC_STMT | cf));
			else
				rq_push(s, FE_DESCRIBE, cf);
		}
		server_group_sent(s, true);
		break;
	}
	case FE_EXECUTE:
		s->pool->query_count++;
		if (c->tenant)
			c->tenant->queries++;
		/* an unnamed portal run with a row limit may be continued later */
		if (rq->complete && m->body_len >= 5 && m->body[0] == '\0' && proto_get32(m->body + 1) != 0)
			s->portal_suspendable = true;
		/* fall through */
	default:
		if (!server_skipping(s))
			rq_push(s, m->type, cf);
		server_group_sent(s, true);
		break;
	}
	s->query_start = now_usec();
	return SB_FORWARD;
}

static enum sb_verdict client_request_chain(struct client *c, struct request *rq);

static enum sb_verdict client_on_msg(struct sbuf *sb, const struct pmsg *m, bool complete)
{
	struct client *c = container_of(sb, struct client, sb);
	if (c->state == CL_LOGIN)
		return login_message(c, m);
	if (c->admin)
		return admin_on_msg(c, m);

	/* A stage that stops (SB_STOP: wait for a server, for room, for a
	 * LISTEN) has the whole chain run again from the top when the client
	 * continues, so every stage must be safe to run twice for one message:
	 * each decides from the message and the connections' state alone and
	 * changes that state only on the way to its final verdict. What is
	 * counted once per message is counted here, at the verdict. */
	struct request rq = { .m = m, .complete = complete };
	enum sb_verdict v = client_request_chain(c, &rq);
	if (v == SB_FORWARD || v == SB_DROP)
		c->pool->bytes_in += m->len;
	return v;
}

static enum sb_verdict client_request_chain(struct client *c, struct request *rq_)
{
	struct request rq = *rq_;
	struct step st;
	if ((st = check_type(c, &rq)).done ||             /* Terminate, COPY, unknown types */
	    (st = read_request(c, &rq)).done ||           /* the SQL; a lost transaction's answers */
	    (st = tenant_rules(c, &rq)).done ||           /* tenant SET, bound users, tenant_required */
	    (st = listen_locally(c, &rq)).done ||         /* LISTEN/UNLISTEN on the shared listener */
	    (st = session_rules(c, &rq)).done ||          /* session state: refuse or bind */
	    (st = answer_pending_error(c, &rq)).done ||   /* an error the client has not heard */
	    (st = prepared_without_server(c, &rq)).done ||/* Close/DEALLOCATE/known Parse locally */
	    (st = get_server(c, &rq)).done ||             /* route, then a server or wait */
	    (st = server_room(c, &rq)).done ||            /* a full reply queue waits */
	    (st = server_session_rules(c, &rq)).done ||   /* again, now with the server */
	    (st = ready_server(c, &rq)).done ||           /* settings, session, tenant in front */
	    (st = map_prepared(c, &rq)).done)             /* prepared statement names */
		return st.v;
	return forward(c, &rq);
}

static bool client_streamable(struct sbuf *sb, uint8_t type)
{
	struct client *c = container_of(sb, struct client, sb);
	return type == FE_COPY_DATA && c->state == CL_ACTIVE;
}

static void client_on_close(struct sbuf *sb, const char *reason)
{
	struct client *c = container_of(sb, struct client, sb);
	client_finish_close(c, reason ? reason : "client closed the connection");
}

static void client_on_bad(struct sbuf *sb, const char *reason)
{
	struct client *c = container_of(sb, struct client, sb);
	client_close(c, "08P01", "%s", reason);
}

static void client_on_drained(struct sbuf *sb)
{
	struct client *c = container_of(sb, struct client, sb);
	struct server *s = c->server;
	if (s && s->phase == TX_RELEASING) {
		pool_release_server(s);
		if (c->close_after_xact) {
			client_close(c, "57P01", "pgtide is shutting down");
			return;
		}
	}
	if (c->listen)
		deliver_notifications(c);
}

/* A message the client sent in pieces is whole on its server: a release
 * that waited for it goes on. */
static void client_on_forwarded(struct sbuf *sb)
{
	struct client *c = container_of(sb, struct client, sb);
	struct server *s = c->server;
	if (s && s->phase == TX_RELEASING && !sbuf_has_output(&c->sb))
		pool_release_server(s);
}

static void client_on_tls(struct sbuf *sb, const char *err)
{
	struct client *c = container_of(sb, struct client, sb);
	if (err) {
		/* Nothing can be said to the client: the channel is broken. */
		const char *v = tls_verify_error(sb->tls);
		client_log(c, LV_LOG, "TLS handshake failed: %s%s%s", err, v ? ": " : "", v ? v : "");
		client_finish_close(c, "TLS handshake failed");
		return;
	}
	if (log_enabled(LV_DEBUG)) {
		char d[128];
		client_log(c, LV_DEBUG, "TLS handshake done: %s", tls_describe(sb->tls, d, sizeof(d)));
	}
}

static const struct sbuf_ops client_ops = {
	.on_msg = client_on_msg,
	.streamable = client_streamable,
	.on_raw = client_on_raw,
	.on_close = client_on_close,
	.on_bad = client_on_bad,
	.on_drained = client_on_drained,
	.on_forwarded = client_on_forwarded,
	.on_tls = client_on_tls,
};

/* ---- accept ---- */

void client_accept(struct listener *l, int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct client *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	(void)salen;
	sbuf_init(&c->sb, fd, &client_ops);
	list_init(&c->ryw.node);
	c->sb.raw = true;
	c->sb.max_msg = (uint32_t)S()->max_packet_size;
	c->admin_listener = l->admin_only;
	c->family = (uint8_t)sa->sa_family;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		memcpy(c->addr, &in->sin_addr, 4);
		c->port = ntohs(in->sin_port);
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		memcpy(c->addr, &in6->sin6_addr, 16);
		c->port = ntohs(in6->sin6_port);
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (S()->tcp_keepalive && sa->sa_family != AF_UNIX) {
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	}
	/* in a peer group an id must fit the cancel key's client bits */
	uint32_t mask = peer_enabled() ? PEER_CLIENT_MASK : CLIENT_ID_MASK;
	do {
		c->id = ++g.next_client_id & mask;
	} while (c->id == 0 || client_by_id(c->id));
	uint32_t key = 0;
	if (RAND_bytes((unsigned char *)&key, sizeof(key)) != 1)
		key = (uint32_t)random();
	c->cancel_key = key;
	htab_insert(&g.clients_by_id, &c->id_hn, hash_u64(c->id));
	c->status = 'I';
	c->connect_time = now_usec();
	c->request_time = c->connect_time;
	c->params = pset_empty();
	c->sess = sset_empty();
	c->login = xcalloc(1, sizeof(*c->login));
	list_init(&c->node);
	client_set_state(c, CL_LOGIN, NULL);
	g.n_clients++;
	sbuf_start(&c->sb);
}
