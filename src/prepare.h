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

/* Room for a statement's name on a server: "pgtide_" and a 32-bit number. */
#define PREP_NAME_MAX 32

/* Is mapping in effect for this client (non-session pool mode, feature on)? */
bool prep_enabled(const struct client *c);

/* Client messages while linked (c->server set). Each decides and writes
 * what should happen into p (sendplan.h: the messages for the server, the
 * client's parameters by reference, the replies owed, or the client's
 * answer), and returns its verdict: V_ANSWERED when p says it all (the
 * caller plays p: server_play, and the client's reply), V_FORWARD to send
 * the message as it is, V_DENY / V_CLOSE with r filled for client.c to act
 * on. The caller resets p with the server's unsynced / queue_empty /
 * owes_client before the call. Nothing here writes to a connection. */
struct sendplan;
enum verdict prep_parse(struct client *c, const struct msg_parse *mp, struct sendplan *p, struct refusal *r);
/* Without a server: name a statement some server already parsed. */
bool prep_parse_local(struct client *c, const struct msg_parse *mp, struct sendplan *p, enum verdict *v,
		      struct refusal *r);
enum verdict prep_bind(struct client *c, const struct pmsg *m, struct sendplan *p, struct refusal *r);
/* DEALLOCATE sent as the unnamed statement (psycopg's statement cache):
 * prep_parse_unnamed deallocates the client's name and answers; it and
 * prep_unnamed_message answer what follows for that statement and its
 * portal (Bind through prep_bind), V_FORWARD for everything else.
 * prep_unnamed_answered: is the client's unnamed statement one of these? */
enum verdict prep_parse_unnamed(struct client *c, const struct msg_parse *mp, unsigned scan, struct sendplan *p,
				struct refusal *r);
enum verdict prep_unnamed_message(struct client *c, const struct pmsg *m, struct sendplan *p, struct refusal *r);
bool prep_unnamed_answered(const struct client *c);
enum verdict prep_describe(struct client *c, const struct pmsg *m, struct sendplan *p, struct refusal *r);
enum verdict prep_close(struct client *c, const struct pmsg *m, struct sendplan *p, struct refusal *r);
/* PREPARE / EXECUTE / DEALLOCATE in a simple Query. false: not one of
 * them (the caller goes on). Needs no server for DEALLOCATE. */
bool prep_query(struct client *c, const char *q, size_t len, struct sendplan *p, enum verdict *v, struct refusal *r);
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
 * else an error or a skip), and a request group ended with nothing owed. */
void prep_mapped_done(struct server *s, bool ok);
void prep_group_end(struct server *s);
/* The one retry of a Bind a schema change broke ("cached plan must not
 * change result type"). wanted: is this error that case, with the group
 * kept? Then server.c drops the queue to the group's Sync, and plan fills
 * p with the replay (name: the statement's server name, for the log);
 * false: the server is half rewritten and must close. done: after p was
 * played, the kept group is let go. */
bool prep_retry_wanted(const struct server *s, const char *sqlstate, const char *message);
bool prep_retry_plan(struct server *s, struct sendplan *p, char *name, size_t nlen);
void prep_retry_done(struct server *s);

#endif
