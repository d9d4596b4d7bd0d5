/*
 * Named prepared statements in transaction and statement pool modes.
 *
 * Owns: the global statement cache (one record per distinct query text and
 * parameter types, shared by every client that prepares it), each client's
 * names for its statements, each server's set of statements prepared on it
 * (LRU, at most max_prepared_statements), and the one-shot retry of a Bind
 * that a schema change broke. Must not pick servers or follow replies
 * beyond the hooks server.c calls.
 *
 * A client's Parse of "s1" becomes, on the server it runs on, a Parse of
 * "pgtide_<n>" the first time that server needs it; afterwards pgtide
 * answers the client's Parse itself (ParseComplete, in order). A Bind or
 * Describe of "s1" on a server that lacks it gets the Parse in front, in
 * the same write. Close answers itself; the server copy stays for others.
 */
#ifndef PGTIDE_PREPARE_H
#define PGTIDE_PREPARE_H

#include <stdbool.h>
#include <stddef.h>

#include "pgtide.h"
#include "proto.h"

/* Is mapping in effect for this client (non-session pool mode, feature on)? */
bool prep_enabled(const struct client *c);

/* Client messages while linked (c->server set). Each rewrites the message
 * for the server (or answers it) and returns its verdict: V_ANSWERED when
 * rewritten or answered, V_FORWARD to send it as it is, V_DENY / V_CLOSE
 * with r filled for client.c to act on. */
enum verdict prep_parse(struct client *c, const struct msg_parse *mp, struct refusal *r);
/* Without a server: name a statement some server already parsed. */
bool prep_parse_local(struct client *c, const struct msg_parse *mp, enum verdict *v, struct refusal *r);
enum verdict prep_bind(struct client *c, const struct pmsg *m, struct refusal *r);
enum verdict prep_describe(struct client *c, const struct pmsg *m, struct refusal *r);
enum verdict prep_close(struct client *c, const struct pmsg *m, struct refusal *r);
/* PREPARE / EXECUTE / DEALLOCATE in a simple Query. false: not one of
 * them (the caller goes on). Needs no server for DEALLOCATE. */
bool prep_query(struct client *c, const char *q, size_t len, enum verdict *v, struct refusal *r);
/* Before a message needs a server: does prep_query answer it locally? */
bool prep_query_local(const char *q, size_t len);
/* What a named statement does to the session (session.c), for a Bind of
 * it or an SQL EXECUTE of it: se is filled from the statement's text. */
struct sql_session;
void prep_bind_session(struct client *c, const struct pmsg *m, struct sql_session *se);
void prep_sql_session(struct client *c, const char *q, size_t len, struct sql_session *se);
/* Messages that follow a retained Bind are kept for its retry. */
void prep_retain(struct client *c, const struct pmsg *m);

/* A new request group starts on s (statements used in it are not evicted). */
void prep_new_group(struct server *s);

/* Lifecycle. */
void prep_client_free(struct client *c);
void prep_client_discard(struct client *c); /* DISCARD ALL / DEALLOCATE ALL */
void prep_server_free(struct server *s);
void prep_server_forget(struct server *s);  /* the server dropped its statements */
size_t prep_client_count(const struct client *c);
/* The text of a client's named protocol statement (read routing). */
const char *prep_client_stmt_text(struct client *c, const char *name, size_t *len);
size_t prep_server_count(const struct server *s);
void prep_module_free(void);

/* server.c hooks: an RQ_MAPPED entry left the queue (ok: its reply came;
 * else an error or a skip), a reply for a retryable Bind failed, and a
 * request group ended. */
void prep_mapped_done(struct server *s, bool ok);
enum prep_retry {
	RETRY_NO,     /* not a plan change pgtide retries: the error goes on */
	RETRY_SENT,   /* the group is queued again (flush the server) */
	RETRY_FAILED, /* the server is half rewritten: close it */
};
enum prep_retry prep_try_retry(struct server *s, const char *sqlstate, const char *message);
void prep_group_end(struct server *s);

#endif
