/*
 * The reply queue of a server connection: what the server owes, in order.
 *
 * Owns: the ring in struct server (rq, rq_head, rq_len) and rq_blocked,
 * the flag that stopped the client while the ring was full. These are its
 * only operations; no other code indexes s->rq. server.c reads replies
 * against the head; client.c, prepare.c's send plans (played by server.c)
 * and pgtide's own queries append. Must not send or read messages: waking
 * the client it stopped is the one thing it does to a connection.
 */
#include "autoconf.h"

#include "replyq.h"

#include "client.h"
#include "params.h"
#include "prepare.h"
#include "ryw.h"
#include "server.h"
#include "session.h"
#include "tenant.h"

struct rq_entry *rq_push(struct server *s, uint8_t type, uint16_t flags)
{
	struct rq_entry *e = &s->rq[(s->rq_head + s->rq_len) % RQ_CAP];
	e->type = type;
	e->flags = flags;
	e->aux = 0;
	s->rq_len++;
	return e;
}

struct rq_entry *rq_first(struct server *s)
{
	return s->rq_len ? &s->rq[s->rq_head] : NULL;
}

void rq_pop(struct server *s)
{
	s->rq_head = (uint16_t)((s->rq_head + 1) % RQ_CAP);
	s->rq_len--;
	if (s->rq_blocked && s->rq_len < RQ_CAP / 2 && s->client) {
		s->rq_blocked = false;
		sbuf_continue(&s->client->sb);
	}
}

bool rq_first_sync_failed(const struct server *s)
{
	if (server_skipping(s))
		return true; /* the open group already had its error */
	for (int i = 0; i < s->rq_len; i++) {
		const struct rq_entry *e = &s->rq[(s->rq_head + i) % RQ_CAP];
		if (!(e->flags & RQ_CONSUME) && (e->type == FE_SYNC || e->type == FE_QUERY || e->type == FE_FUNCTION_CALL))
			return (e->flags & RQ_FAILED) != 0;
	}
	return false;
}

int rq_pending_syncs(const struct server *s)
{
	int n = 0;
	for (int i = 0; i < s->rq_len; i++) {
		const struct rq_entry *e = &s->rq[(s->rq_head + i) % RQ_CAP];
		if (!(e->flags & RQ_CONSUME) && (e->type == FE_SYNC || e->type == FE_QUERY || e->type == FE_FUNCTION_CALL))
			n++;
	}
	return n;
}

/* Postgres skipped the request (an error earlier in its group): what it
 * was to do did not happen. pgtide's own statements among them leave its
 * record of the session wrong unless it forgets. */
static void rq_skipped(struct server *s, uint16_t flags)
{
	if (flags & RQ_MAPPED)
		prep_mapped_done(s, false);
	if (flags & RQ_TENANT)
		tenant_server_forget(s); /* set again before the next group */
	if (flags & RQ_PARAMS) {
		pset_unref(s->params);
		s->params = pset_empty(); /* every parameter set again */
	}
	if (flags & RQ_SESS)
		session_state_unknown(s); /* its settings are not what pgtide thinks */
	if ((flags & RQ_WAIT) && s->client)
		sbuf_continue(&s->client->sb); /* what the client waits for will not come */
	if (flags & RQ_CAPTURE) {
		/* its question is not answered: what the session holds is unknown */
		session_capture_drop(s);
		if (ryw_commit_done(s, false))
			client_ryw_wake(s->pool->db);
		if (!rq_has_flags(s, RQ_CAPTURE))
			server_set_phase(s, TX_SERVING);
		session_state_unknown(s);
	}
}

struct rq_entry *rq_drop_to_sync(struct server *s)
{
	while (s->rq_len) {
		struct rq_entry *e = rq_first(s);
		if (e->type == FE_SYNC)
			return e;
		uint16_t flags = e->flags;
		rq_pop(s);
		rq_skipped(s, flags);
	}
	return NULL;
}

bool rq_owes_client(struct server *s)
{
	for (int i = 0; i < s->rq_len; i++)
		if (!(rq_at(s, i)->flags & RQ_CONSUME))
			return true;
	return false;
}

bool rq_has_sync(const struct server *s)
{
	for (int i = 0; i < s->rq_len; i++)
		if (s->rq[(s->rq_head + i) % RQ_CAP].type == FE_SYNC)
			return true;
	return false;
}

bool rq_has_exit(const struct server *s)
{
	for (int i = 0; i < s->rq_len; i++) {
		const struct rq_entry *e = &s->rq[(s->rq_head + i) % RQ_CAP];
		if ((e->type == FE_QUERY || e->type == FE_SYNC) && !(e->flags & (RQ_SYNTH | RQ_CAPTURE)) &&
		    (e->aux & RQ_AUX_EXIT))
			return true;
	}
	return false;
}

bool rq_has_flags(const struct server *s, uint16_t flags)
{
	for (int i = 0; i < s->rq_len; i++)
		if (s->rq[(s->rq_head + i) % RQ_CAP].flags & flags)
			return true;
	return false;
}

void rq_skip_to_sync(struct server *s)
{
	struct rq_entry *sync = rq_drop_to_sync(s);
	if (sync)
		sync->flags |= RQ_FAILED; /* its group had an error */
	else
		server_set_sync(s, SYNC_SKIPPING); /* the Sync is not sent yet */
}

bool rq_block(struct server *s)
{
	bool first = !s->rq_blocked;
	s->rq_blocked = true;
	return first;
}
