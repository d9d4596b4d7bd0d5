/*
 * LISTEN/NOTIFY through a shared listener connection per pool (see
 * listen.h).
 *
 * Owns: struct listen_pool (per pool, on the heap once a client listens),
 * struct listen_chan, struct listen_sub, struct listen_client and the
 * notifications held for busy clients. Asks server.c to run LISTEN and
 * UNLISTEN on the listener connection and client.c to answer and notify
 * clients; never touches a socket.
 */
#include "autoconf.h"

#include "listen.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "log.h"
#include "peer.h"
#include "pool.h"
#include "server.h"
#include "util/strbuf.h"

#define LISTEN_MAX_CHANNELS 10000 /* per client: more is refused (54000) */

enum { CH_IDLE, CH_SENT, CH_ACTIVE };

struct listen_chan {
	struct hnode hn;
	struct list subs;      /* struct listen_sub.chan_node */
	int n_subs;
	int in_flight;         /* its LISTEN / UNLISTEN not answered yet */
	uint8_t state;
	char name[];
};

struct listen_sub {
	struct list chan_node;
	struct list client_node;
	struct client *c;
	struct listen_chan *ch;
	bool waiting;          /* the client waits for this channel's LISTEN */
};

struct listen_client {
	struct list subs;      /* struct listen_sub.client_node */
	struct list pending;   /* struct note, oldest first */
	size_t pending_bytes;
	int n_subs;
	int waiting;           /* subscriptions waiting for their LISTEN */
	struct listen_op *sync; /* the listener's answer its ReadyForQuery waits for */
	char sync_status;       /* ... and that ReadyForQuery's status */
};

struct note {
	struct list node;
	size_t len;
	uint8_t msg[];
};

struct listen_op {
	struct list node;
	struct listen_chan *ch; /* NULL: an UNLISTEN of a channel already gone, or a sync */
	struct client *c;       /* a sync ('S'): the client waiting for it, or NULL once gone */
	char kind;
	bool failed;
	char err[200];
};

struct listen_pool {
	struct pool *pool;
	struct htab chans;
	int n_chans;
	struct server *conn;   /* the listener connection, or NULL */
	bool conn_ready;       /* logged in */
	struct list ops;       /* struct listen_op, in the order sent */
	struct event *retry;
};

static bool chan_eq(const struct hnode *n, const void *key)
{
	return strcmp(container_of(n, struct listen_chan, hn)->name, key) == 0;
}

static struct listen_pool *lpool(struct pool *p, bool create)
{
	if (!p->listen && create) {
		struct listen_pool *lp = xcalloc(1, sizeof(*lp));
		lp->pool = p;
		htab_init(&lp->chans);
		list_init(&lp->ops);
		p->listen = lp;
	}
	return p->listen;
}

static struct listen_client *lclient(struct client *c, bool create)
{
	if (!c->listen && create) {
		struct listen_client *lc = xcalloc(1, sizeof(*lc));
		list_init(&lc->subs);
		list_init(&lc->pending);
		c->listen = lc;
	}
	return c->listen;
}

/* ---- the listener connection ---- */

static void relaunch_cb(evutil_socket_t fd, short what, void *arg);

static void ensure_conn(struct listen_pool *lp)
{
	if (lp->conn || g.shutting_down)
		return;
	struct pool *p = lp->pool;
	usec_t now = now_usec();
	if (p->next_launch && now < p->next_launch) {
		/* the pool's servers fail to log in: try again with them */
		if (!lp->retry)
			lp->retry = evtimer_new(g.base, relaunch_cb, lp);
		usec_t d = p->next_launch - now;
		struct timeval tv = { (time_t)(d / USEC), (suseconds_t)(d % USEC) };
		evtimer_add(lp->retry, &tv);
		return;
	}
	lp->conn = server_launch_listener(p);
	lp->conn_ready = false;
}

static void relaunch_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct listen_pool *lp = arg;
	if (lp->n_chans)
		ensure_conn(lp);
}

static bool send_op(struct listen_pool *lp, struct listen_chan *ch, char kind, const char *name)
{
	struct strbuf sql;
	strbuf_init(&sql);
	strbuf_puts(&sql, kind == 'L' ? "LISTEN \"" : "UNLISTEN \"");
	for (const char *q = name; *q; q++) {
		if (*q == '"')
			strbuf_putc(&sql, '"');
		strbuf_putc(&sql, *q);
	}
	strbuf_putc(&sql, '"');
	bool ok = !sql.failed && server_own_query(lp->conn, sql.data, RQ_SIDE);
	strbuf_free(&sql);
	if (!ok)
		return false;
	struct listen_op *op = xcalloc(1, sizeof(*op));
	op->ch = ch;
	op->kind = kind;
	if (ch) {
		ch->in_flight++;
		if (kind == 'L')
			ch->state = CH_SENT;
	}
	list_add_tail(&lp->ops, &op->node);
	return true;
}

void listen_conn_ready(struct server *s)
{
	struct listen_pool *lp = s->pool->listen;
	if (!lp || lp->conn != s) {
		server_close(s, CR_NOT_NEEDED, "listener connection no longer needed");
		return;
	}
	lp->conn_ready = true;
	server_log(s, LV_LOG, "listener connection ready: %d channel(s)", lp->n_chans);
	size_t it;
	struct hnode *n;
	for (n = htab_next(&lp->chans, NULL, &it); n; n = htab_next(&lp->chans, n, &it)) {
		struct listen_chan *ch = container_of(n, struct listen_chan, hn);
		if (ch->state == CH_IDLE && !send_op(lp, ch, 'L', ch->name)) {
			server_close(s, CR_INTERNAL, "could not queue LISTEN");
			return;
		}
	}
}

static void chan_free(struct listen_pool *lp, struct listen_chan *ch)
{
	htab_remove(&lp->chans, &ch->hn);
	lp->n_chans--;
	free(ch);
}

/* A channel nobody listens to any more: UNLISTEN it, then let it go. */
static void chan_maybe_drop(struct listen_pool *lp, struct listen_chan *ch)
{
	if (ch->n_subs || ch->in_flight)
		return;
	if (ch->state == CH_ACTIVE && lp->conn && lp->conn_ready)
		send_op(lp, NULL, 'U', ch->name);
	chan_free(lp, ch);
	if (!lp->n_chans && lp->conn && list_empty(&lp->ops))
		server_close(lp->conn, CR_NOT_NEEDED, "no client listens any more");
}

static void sub_free(struct listen_pool *lp, struct listen_sub *sub)
{
	struct listen_client *lc = sub->c->listen;
	list_del(&sub->chan_node);
	list_del(&sub->client_node);
	sub->ch->n_subs--;
	lc->n_subs--;
	if (sub->waiting)
		lc->waiting--;
	struct listen_chan *ch = sub->ch;
	free(sub);
	chan_maybe_drop(lp, ch);
}

/* Answer the clients that wait for ch's LISTEN. The caller holds ch (its
 * in_flight count), so ch outlives this. */
static void answer_waiters(struct listen_pool *lp, struct listen_chan *ch, const char *err)
{
	struct list *ln, *tmp;
	list_for_each_safe(ln, tmp, &ch->subs) {
		struct listen_sub *sub = container_of(ln, struct listen_sub, chan_node);
		if (!sub->waiting)
			continue;
		struct client *c = sub->c;
		sub->waiting = false;
		c->listen->waiting--;
		if (err)
			sub_free(lp, sub);
		client_listen_answer(c, err);
	}
}

void listen_conn_error(struct server *s, const char *err)
{
	struct listen_pool *lp = s->pool->listen;
	struct list *first = lp ? list_first(&lp->ops) : NULL;
	if (!first)
		return;
	struct listen_op *op = container_of(first, struct listen_op, node);
	op->failed = true;
	snprintf(op->err, sizeof(op->err), "%s", err);
}

/* A sync's answer is in: every notification committed before it was
 * sent has come through the listener (Postgres delivers them to an idle
 * session before its ReadyForQuery), so the client's may go on. */
static void sync_done(struct listen_op *op)
{
	struct client *c = op->c;
	op->c = NULL;
	c->listen->sync = NULL;
	client_ready_after_sync(c, c->listen->sync_status);
}

bool listen_sync(struct client *c, char status)
{
	struct listen_pool *lp = c->pool->listen;
	struct listen_client *lc = c->listen;
	if (!lp || !lc || !lc->n_subs || lc->sync || !lp->conn || !lp->conn_ready)
		return false;
	if (!server_own_query(lp->conn, "", RQ_SIDE))
		return false;
	struct listen_op *op = xcalloc(1, sizeof(*op));
	op->kind = 'S';
	op->c = c;
	list_add_tail(&lp->ops, &op->node);
	lc->sync = op;
	lc->sync_status = status;
	return true;
}

void listen_conn_done(struct server *s)
{
	struct listen_pool *lp = s->pool->listen;
	struct list *first = lp ? list_first(&lp->ops) : NULL;
	if (!first)
		return;
	struct listen_op *op = container_of(first, struct listen_op, node);
	list_del(&op->node);
	if (op->kind == 'S' && op->c)
		sync_done(op);
	struct listen_chan *ch = op->ch;
	if (ch) {
		if (op->kind == 'L') {
			char msg[300];
			snprintf(msg, sizeof(msg), "could not LISTEN: %s", op->err);
			ch->state = op->failed ? CH_IDLE : CH_ACTIVE;
			answer_waiters(lp, ch, op->failed ? msg : NULL);
		}
		ch->in_flight--;
		chan_maybe_drop(lp, ch);
	}
	free(op);
	if (!lp->n_chans && lp->conn && list_empty(&lp->ops))
		server_close(lp->conn, CR_NOT_NEEDED, "no client listens any more");
}

void listen_conn_gone(struct server *s, const char *why)
{
	struct listen_pool *lp = s->pool->listen;
	if (!lp || lp->conn != s)
		return;
	bool failed_login = !lp->conn_ready;
	lp->conn = NULL;
	lp->conn_ready = false;
	/* what was in flight is lost with the connection */
	struct list *ln, *tmp;
	list_for_each_safe(ln, tmp, &lp->ops) {
		struct listen_op *op = container_of(ln, struct listen_op, node);
		list_del(&op->node);
		if (op->ch)
			op->ch->in_flight--;
		if (op->kind == 'S' && op->c)
			sync_done(op); /* what it waited for is lost with the connection */
		free(op);
	}
	if (!lp->n_chans)
		return;
	log_warn("pool %s/%s: listener connection lost (%s); notifications until it is back are lost", lp->pool->db->name,
		 lp->pool->user->name, why);
	size_t it;
	struct hnode *n, *next;
	for (n = htab_next(&lp->chans, NULL, &it); n; n = next) {
		next = htab_next(&lp->chans, n, &it);
		struct listen_chan *ch = container_of(n, struct listen_chan, hn);
		ch->state = CH_IDLE;
		if (failed_login || g.shutting_down) {
			/* clients still waiting for their first LISTEN hear why */
			char msg[300];
			snprintf(msg, sizeof(msg), "could not LISTEN: %s", why);
			ch->in_flight++;
			answer_waiters(lp, ch, msg);
			ch->in_flight--;
		}
		if (!ch->n_subs)
			chan_free(lp, ch);
	}
	if (lp->n_chans && !g.shutting_down) {
		if (!lp->retry)
			lp->retry = evtimer_new(g.base, relaunch_cb, lp);
		struct timeval tv = { 0, 250000 };
		evtimer_add(lp->retry, &tv);
	}
}

/* ---- clients ---- */

enum listen_verdict listen_request(struct client *c, char kind, const char *channel)
{
	struct pool *p = c->pool;
	struct listen_client *lc = lclient(c, kind == 'L');
	if (kind == 'U') {
		if (lc) {
			struct list *ln, *tmp;
			list_for_each_safe(ln, tmp, &lc->subs) {
				struct listen_sub *sub = container_of(ln, struct listen_sub, client_node);
				if (strcmp(channel, "*") == 0 || strcmp(sub->ch->name, channel) == 0)
					sub_free(p->listen, sub);
			}
		}
		client_reply_command(c, "UNLISTEN");
		return LV_ANSWERED;
	}
	struct list *ln;
	list_for_each(ln, &lc->subs) {
		struct listen_sub *sub = container_of(ln, struct listen_sub, client_node);
		if (strcmp(sub->ch->name, channel) == 0) {
			client_reply_command(c, "LISTEN");
			return LV_ANSWERED;
		}
	}
	if (lc->n_subs >= LISTEN_MAX_CHANNELS) {
		client_listen_fail(c, "54000", "a client may listen to at most 10000 channels through pgtide");
		return LV_ANSWERED;
	}
	struct listen_pool *lp = lpool(p, true);
	struct hnode *hn = htab_find(&lp->chans, hash_str(channel), chan_eq, channel);
	struct listen_chan *ch;
	if (hn) {
		ch = container_of(hn, struct listen_chan, hn);
	} else {
		size_t n = strlen(channel);
		ch = xcalloc(1, sizeof(*ch) + n + 1);
		memcpy(ch->name, channel, n + 1);
		list_init(&ch->subs);
		htab_insert(&lp->chans, &ch->hn, hash_str(channel));
		lp->n_chans++;
	}
	struct listen_sub *sub = xcalloc(1, sizeof(*sub));
	sub->c = c;
	sub->ch = ch;
	list_add_tail(&ch->subs, &sub->chan_node);
	list_add_tail(&lc->subs, &sub->client_node);
	ch->n_subs++;
	lc->n_subs++;
	if (ch->state == CH_ACTIVE) {
		client_reply_command(c, "LISTEN");
		return LV_ANSWERED;
	}
	sub->waiting = true;
	lc->waiting++;
	ensure_conn(lp);
	if (ch->state == CH_IDLE && lp->conn && lp->conn_ready && !send_op(lp, ch, 'L', ch->name))
		server_close(lp->conn, CR_INTERNAL, "could not queue LISTEN");
	return LV_WAIT;
}

bool listen_client_waiting(const struct client *c)
{
	return c->listen && (c->listen->waiting > 0 || c->listen->sync);
}

int listen_client_count(const struct client *c)
{
	return c->listen ? c->listen->n_subs : 0;
}

/* The client whose transaction ran on the server with backend pid be_pid
 * (0: not a server of this pool, or none yet). */
static uint32_t sender_client(const struct pool *p, uint32_t be_pid)
{
	const struct list *lists[] = { &p->active_servers, &p->idle_servers, &p->tested_servers, &p->check_servers };
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		const struct list *ln;
		list_for_each(ln, lists[i]) {
			const struct server *s = container_of(ln, struct server, node);
			if (s->be_pid == be_pid)
				return s->last_client_id;
		}
	}
	return 0;
}

void listen_notification(struct server *s, const struct pmsg *m)
{
	struct listen_pool *lp = s->pool->listen;
	struct preader r;
	preader_init(&r, m->body, m->body_len);
	preader_int32(&r);
	const char *channel = preader_cstr(&r);
	if (!lp || !channel || r.bad)
		return;
	struct hnode *hn = htab_find(&lp->chans, hash_str(channel), chan_eq, channel);
	if (!hn)
		return;
	struct listen_chan *ch = container_of(hn, struct listen_chan, hn);
	/* The sender is named by its backend pid; a client of this pool is
	 * told pgtide's pid for the client whose transaction sent it, the one
	 * that client was given (BackendKeyData), not its server's. Rewritten
	 * in place: the message is the listener's own, consumed here, and
	 * client_notify copies it into each subscriber's output. */
	uint32_t client_id = sender_client(lp->pool, proto_get32(m->body));
	if (client_id)
		proto_put32((uint8_t *)m->body, peer_cancel_pid(client_id));
	struct list *ln, *tmp;
	list_for_each_safe(ln, tmp, &ch->subs) {
		struct listen_sub *sub = container_of(ln, struct listen_sub, chan_node);
		if (!sub->waiting)
			client_notify(sub->c, m->body - PROTO_HDR, m->len);
	}
}

bool listen_hold(struct client *c, const uint8_t *msg, size_t len)
{
	struct listen_client *lc = lclient(c, true);
	if (lc->pending_bytes + len > LISTEN_PENDING_MAX)
		return false;
	struct note *n = xmalloc(sizeof(*n) + len);
	n->len = len;
	memcpy(n->msg, msg, len);
	list_add_tail(&lc->pending, &n->node);
	lc->pending_bytes += len;
	return true;
}

bool listen_has_pending(const struct client *c)
{
	return c->listen && !list_empty(&c->listen->pending);
}

void *listen_take_pending(struct client *c, size_t *len)
{
	struct listen_client *lc = c->listen;
	struct list *first = lc ? list_first(&lc->pending) : NULL;
	if (!first)
		return NULL;
	struct note *n = container_of(first, struct note, node);
	list_del(&n->node);
	lc->pending_bytes -= n->len;
	*len = n->len;
	/* hand over the bytes: move them to the front of the block */
	memmove(n, n->msg, n->len);
	return n;
}

void listen_client_free(struct client *c)
{
	struct listen_client *lc = c->listen;
	if (!lc)
		return;
	if (lc->sync)
		lc->sync->c = NULL; /* its answer finds no one */
	struct list *ln, *tmp;
	list_for_each_safe(ln, tmp, &lc->subs) {
		struct listen_sub *sub = container_of(ln, struct listen_sub, client_node);
		sub_free(c->pool->listen, sub);
	}
	list_for_each_safe(ln, tmp, &lc->pending) {
		struct note *n = container_of(ln, struct note, node);
		list_del(&n->node);
		free(n);
	}
	free(lc);
	c->listen = NULL;
}

void listen_pool_free(struct pool *p)
{
	struct listen_pool *lp = p->listen;
	if (!lp)
		return;
	size_t it;
	struct hnode *n, *next;
	for (n = htab_next(&lp->chans, NULL, &it); n; n = next) {
		next = htab_next(&lp->chans, n, &it);
		struct listen_chan *ch = container_of(n, struct listen_chan, hn);
		htab_remove(&lp->chans, n);
		free(ch);
	}
	htab_free(&lp->chans);
	struct list *ln, *tmp;
	list_for_each_safe(ln, tmp, &lp->ops) {
		list_del(ln);
		free(container_of(ln, struct listen_op, node));
	}
	if (lp->retry)
		event_free(lp->retry);
	free(lp);
	p->listen = NULL;
}
