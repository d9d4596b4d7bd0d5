/*
 * When a server's transaction ends: the one place that decides what
 * happens to the server next.
 *
 * Owns: the decision only (struct release_verdict). It reads the server,
 * its client and the configuration, and writes nothing; server.c (at a
 * ReadyForQuery) and pool.c (at the release) act on the verdict, in the
 * order its comment gives. Must not send, close, queue or change state.
 */
#ifndef PGTIDE_RELEASE_H
#define PGTIDE_RELEASE_H

#include <stdbool.h>

#include "pgtide.h"

/* When the question is asked. */
enum release_moment {
	/* The client's ReadyForQuery came with nothing owed and no group
	 * open, or pgtide's own questions about the transaction were
	 * answered (server.c): is the transaction over, and what first? */
	RM_READY,
	/* The client has read everything, or left (pool.c's
	 * pool_release_server): where does the server go? */
	RM_RELEASE,
};

enum release_what {
	/* RM_READY */
	RV_KEEP,          /* not over for the server: a transaction is open, or
			   * the client's session keeps it (session mode, bound) */
	RV_ASK,           /* over: ask what it left first (capture: the session's
			   * settings; position: the commit's WAL position); asked
			   * again at the answer */
	RV_HOLD,          /* over: released once the client has its replies
			   * (TX_RELEASING); at RM_RELEASE, once the client's
			   * message that is half forwarded is whole */
	/* both */
	RV_CLOSE,         /* closed, counted under reason; the client is told
			   * client_msg when there is one */
	/* RM_RELEASE */
	RV_RESET_SESSION, /* session mode: run sql (server_reset_query), then
			   * back to the pool */
	RV_PARK,          /* a cancel is in flight: held back until it is done */
	RV_RESET,         /* DISCARD ALL first: its last client left state */
	RV_READY,         /* to the next waiting client or the idle list */
};

struct release_verdict {
	enum release_what what;
	bool capture, position;     /* RV_ASK: which questions */
	enum release_what otherwise; /* RV_ASK: what holds when nothing could
				     * be asked (RV_HOLD, or RV_KEEP for a
				     * server the client's session keeps) */
	bool discard;               /* RM_RELEASE: the client left session state
				     * on it (session_state_unknown before acting) */
	enum close_reason reason;   /* RV_CLOSE */
	const char *client_msg;     /* RV_CLOSE: an error for the client, or NULL */
	const char *sql;            /* RV_RESET_SESSION */
	char why[200];              /* RV_CLOSE: for the log */
};

/* What happens to s now (c: its client; at RM_RELEASE NULL when it left
 * before). Reads s->status, the status of its last ReadyForQuery. */
void release_decide(const struct server *s, const struct client *c, enum release_moment when,
		    struct release_verdict *out);

#endif
