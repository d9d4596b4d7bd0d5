/*
 * Session state in transaction and statement pooling: what a client's
 * session carries beyond its transactions, and what a server still carries
 * from whoever used it last.
 *
 * Owns: interned sets of session settings (struct sset), the capture that
 * asks a server what a client's statements left in its session, the apply
 * that brings a server to a client's settings, binding a server to one
 * client, and the decision to reset a server before another client uses it.
 * Builds messages and returns verdicts; never sends, queues or closes:
 * client.c, server.c and pool.c act on what it decides.
 *
 * The rules (README "What a session keeps in transaction mode"):
 * - Settings follow the client. After a transaction in which the client
 *   may have changed a setting (the SQL lexer says so), pgtide asks that
 *   server for its session-level settings and keeps them as the client's.
 *   A server handed to a client whose settings differ gets, in the same
 *   write as the client's first message, one statement that resets what
 *   the client does not have and sets what it has. It runs before the
 *   client's messages with no Sync between, so if it fails the client's
 *   statements do not run (fail closed).
 * - State that cannot follow (temporary objects, WITH HOLD cursors, session
 *   advisory locks, LISTEN on a server, LOAD) binds the server to the client
 *   until it leaves; then the server is reset (DISCARD ALL) or, after LOAD,
 *   closed.
 * - What no lexer can see (functions, dynamic SQL): tenant_switch_reset
 *   resets a server with DISCARD ALL before it passes to another tenant.
 */
#ifndef PGTIDE_SESSION_H
#define PGTIDE_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "pgtide.h"
#include "proto.h"
#include "sqlclass.h"
#include "sset.h"

void session_module_init(void);
void session_module_free(void);

/* How a server is to be treated before another client may use it. */
enum sess_reset {
	SR_NONE,      /* clean, or only carries state pgtide knows and diffs */
	SR_DISCARD,   /* DISCARD ALL first */
	SR_CLOSE,     /* nothing resets it (LOAD): close it */
};

/* tenant_switch_reset values. */
enum tenant_switch_reset { TSR_OFF, TSR_BOUND, TSR_ALWAYS };

/* ---- per message (client.c) ---- */

/* A protocol-level named Parse when pgtide does not map names: the
 * statement would stay on the server. client.c adds it to the flags. */
#define SESS_NAMED_PARSE (1u << 20)
/* Words for a binding reason ("a temporary object"). */
const char *session_reason_words(unsigned flags);

enum sess_verdict {
	SESS_FORWARD,   /* go on */
	SESS_BIND,      /* go on, and keep this server for this client (session_bind) */
	SESS_DENY,      /* refuse the message: sqlstate and msg are set */
};
/*
 * A client message with SQL text is about to run on s (s may be NULL when
 * the client has no server yet: then the decision is made against its home
 * pool). se: what the text does to the session.
 */
enum sess_verdict session_check(const struct client *c, const struct server *s, const struct sql_session *se,
				char sqlstate[6], char *msg, size_t msglen);
/* Keep s for c until c leaves: transactions no longer release it. */
void session_bind(struct client *c, struct server *s, unsigned reason);
/* The message went to s: remember what to ask or undo afterwards. */
void session_note_sent(struct client *c, struct server *s, const struct sql_session *se);

/* Does the client keep its server between transactions (session pool
 * mode, or bound)? */
bool session_holds_server(const struct client *c);

/* ---- transaction start (client.c) ---- */

/*
 * The statement that brings s to c's settings, or NULL when s already has
 * them. The text lives in a buffer of this module until the next call.
 * Afterwards the caller sends it and calls session_applied.
 */
const char *session_apply_sql(const struct server *s, const struct client *c);
void session_applied(struct server *s, struct client *c);
/* The apply failed on s: c's settings are dropped (the error tells it). */
void session_apply_failed(struct server *s, struct client *c);

/* ---- transaction end and capture (server.c) ---- */

/* The client's transaction ended on s (ReadyForQuery 'I'). */
void session_txn_end(struct server *s, struct client *c);
/* Must pgtide ask s what the transaction that just ended left? */
bool session_capture_due(const struct server *s);
/* The capture query for s (buffer of this module, valid until the next call). */
const char *session_capture_sql(struct server *s);
/* A DataRow of the capture. false: malformed (the server is closed). */
bool session_capture_row(struct server *s, const struct pmsg *m);
/* The capture's ReadyForQuery: the rows become the settings of s and of
 * its client. false: the server is to be reset before reuse. */
bool session_capture_done(struct server *s);
/* The capture failed or its server went away. */
void session_capture_drop(struct server *s);

/* ---- hand-over (pool.c) ---- */

/* Before s goes to c: must it be reset first (tenant_switch_reset)? */
bool session_needs_reset(const struct server *s, const struct client *c);
/* s is linked to c: remember whose session it now carries. */
void session_linked(struct server *s, const struct client *c);
/* s goes back to the pool: what must happen first (release.c asks; it
 * writes nothing). session_on_release: a client that leaves a bound server
 * gives it up (pool.c, as it acts). */
enum sess_reset session_release_reset(const struct server *s, const struct client *c);
void session_on_release(struct server *s, struct client *c);
/* s was reset with DISCARD ALL: it carries nothing. */
void session_server_clean(struct server *s);
/* What s carries is not what pgtide believes (a failed apply or capture, a
 * question left unanswered): DISCARD ALL before its next client. */
void session_state_unknown(struct server *s);
/* Session pool mode: s served a session, which may be left on it; and
 * that session was reset (server_reset_query sent). */
void session_mode_used(struct server *s);
void session_mode_reset(struct server *s);
/* A new server's empty session. */
void session_server_init(struct server *s);
/* A client goes away. */
void session_client_free(struct client *c);
void session_server_free(struct server *s);

/* Words for SHOW CLIENTS: why the client holds a server ("" if it does not). */
const char *session_bound_reason(const struct client *c);

#endif
