/*
 * When a server's transaction ends: the one place that decides what
 * happens to the server next (release.h lists the verdicts).
 *
 * Owns: release_decide() and nothing else. It reads the server, its client
 * and the configuration and writes nothing: server.c acts on the verdict
 * at a ReadyForQuery (on_ready, emit_due, the answers to pgtide's own
 * questions), pool.c at the release (pool_release_server). Must not send,
 * close, queue or change any state; a new rule about the end of a
 * transaction goes here, as a verdict, and the connection code acts.
 */
#include "autoconf.h"

#include "release.h"

#include <stdio.h>
#include <string.h>

#include "ryw.h"
#include "sbuf.h"
#include "session.h"

static void close_with(struct release_verdict *v, enum close_reason reason, const char *why)
{
	v->what = RV_CLOSE;
	v->reason = reason;
	snprintf(v->why, sizeof(v->why), "%s", why);
}

/* The client's ReadyForQuery (or pgtide's answers about its transaction):
 * is the transaction over, and must pgtide ask what it left first? */
static void at_ready(const struct server *s, const struct client *c, struct release_verdict *v)
{
	if (session_holds_server(c)) {
		/* The server is the client's; a transaction of a bound client's
		 * picked no route, so it may have written: its position is asked
		 * (session mode keeps no positions: its reads go where it is). */
		if (s->status == 'I' && pool_mode_of(s->pool, c->user) != POOL_SESSION && ryw_commit_due(c)) {
			v->what = RV_ASK;
			v->position = true;
			v->otherwise = RV_KEEP;
		} else {
			v->what = RV_KEEP;
		}
		return;
	}
	if (s->status != 'I') {
		if (pool_mode_of(s->pool, c->user) == POOL_STATEMENT) {
			close_with(v, CR_SESSION_STATE, "client used a transaction in statement pool mode");
			v->client_msg = "transaction blocks not allowed in statement pool mode";
		} else {
			v->what = RV_KEEP; /* its transaction goes on */
		}
		return;
	}
	v->what = RV_HOLD;
	v->otherwise = RV_HOLD;
	if (server_close_due(s))
		return; /* it closes at its release: nothing to ask */
	/* what the transaction left on the session (settings a client SET),
	 * and where its commit is (read_your_writes): both before the server
	 * goes, on the same server */
	v->capture = session_capture_due(s);
	v->position = ryw_commit_due(c);
	if (v->capture || v->position)
		v->what = RV_ASK;
}

/* The client has read everything (or left): where does the server go? */
static void at_release(const struct server *s, const struct client *c, struct release_verdict *v)
{
	if (c && sbuf_forwarding_partial(&c->sb)) {
		/* The client is half way through a message into this server (COPY
		 * data after the server failed the COPY, say): nobody else may
		 * have it before the rest. */
		v->what = RV_HOLD;
		return;
	}
	if (!server_is_clean(s)) {
		/* What pgtide believes of its protocol state is not "clean": it
		 * must not serve anyone else. */
		v->what = RV_CLOSE;
		v->reason = CR_UNCLEAN;
		snprintf(v->why, sizeof(v->why),
			 "released in an unclean protocol state (status %c, %u replies owed%s%s%s%s%s%s)", s->status,
			 (unsigned)s->rq_len, s->sync == SYNC_OPEN ? ", no Sync" : "",
			 server_skipping(s) ? ", skipping to Sync" : "", s->in_copy ? ", in COPY" : "",
			 s->phase == TX_ASKING ? ", a capture in flight" : "", s->holding ? ", replies held back" : "",
			 s->sb.fwd_partial ? ", a message half forwarded" : "");
		return;
	}
	enum sess_reset r = session_release_reset(s, c);
	v->discard = r == SR_DISCARD;
	if (server_close_due(s)) {
		/* no reset for a server that goes anyway */
		close_with(v, (enum close_reason)s->close_reason, s->close_why);
		return;
	}
	if (r == SR_CLOSE) {
		close_with(v, CR_SESSION_STATE, "a client loaded a library with LOAD, which nothing undoes");
		return;
	}
	usec_t life = S()->server_lifetime;
	if (life > 0 && now_usec() - s->connect_time >= life) {
		v->what = RV_CLOSE;
		v->reason = CR_LIFETIME;
		snprintf(v->why, sizeof(v->why), "server_lifetime (%lld s) reached", (long long)(life / USEC));
		return;
	}
	if (s->ses.dirty && pool_mode_of(s->pool, c ? c->user : NULL) == POOL_SESSION) {
		/* never handed on with its session: an empty reset query means
		 * DISCARD ALL (README "What a session keeps") */
		const char *reset = S()->server_reset_query;
		v->what = RV_RESET_SESSION;
		v->sql = reset && *reset ? reset : "DISCARD ALL";
		return;
	}
	if (s->cancels) {
		v->what = RV_PARK; /* a client's cancel may still land: no one else gets it before */
		return;
	}
	v->what = v->discard || s->ses.reset == SR_DISCARD ? RV_RESET : RV_READY;
}

void release_decide(const struct server *s, const struct client *c, enum release_moment when,
		    struct release_verdict *out)
{
	/* twice per transaction: the fields, not the 200-byte text */
	out->what = out->otherwise = RV_KEEP;
	out->capture = out->position = out->discard = false;
	out->reason = CR_INTERNAL;
	out->client_msg = out->sql = NULL;
	out->why[0] = '\0';
	if (when == RM_READY)
		at_ready(s, c, out);
	else
		at_release(s, c, out);
}
