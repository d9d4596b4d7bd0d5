/*
 * Client connections: login, authentication hand-off, and the per-message
 * state machine that forwards a client's traffic to its server.
 *
 * Owns: struct client's state machine (CL_*), the startup packet, the
 * welcome, cancel requests, and the emulation pgtide does when a client has
 * no server (lone Sync, an aborted transaction after a lost server). Must
 * not pick servers (pool.c) nor follow replies (server.c).
 */
#ifndef PGTIDE_CLIENT_H
#define PGTIDE_CLIENT_H

#include <stdbool.h>
#include <sys/socket.h>

#include "clientname.h"
#include "pgtide.h"

void client_module_init(void);
void client_module_free(void);
/* Positions of db changed (a commit's position learned, a replica
 * answered): the reads ryw.c says may go now are resumed, and db's
 * replicas are probed again while some still wait. */
void client_ryw_wake(struct database *db);
/* Act on a policy module's verdict about message m. */
enum sb_verdict client_act(struct client *c, const struct pmsg *m, enum verdict v, const struct refusal *r);
/* Change a client's state; the only writer of c->state. */
void client_set_state(struct client *c, enum client_state st, struct pool *p);
/* A new connection from a listener. */
void client_accept(struct listener *l, int fd, const struct sockaddr *sa, socklen_t salen);

/* Authentication succeeded (auth.c): finish the login. */
void client_auth_done(struct client *c);
/* Refuse the login: FATAL with SQLSTATE, then close. */
void client_login_fail(struct client *c, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The pool got its first server's parameters: finish waiting logins. */
void client_welcome_ready(struct pool *p);
/* Logged-in clients of p waiting for its first server's parameters. */
int client_login_waiters(const struct pool *p);

/* Close with an optional FATAL message to the client. */
void client_close(struct client *c, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The server under this client died or failed: the client gets errors for
 * what it is waiting for, keeps its connection, and its transaction fails. */
#define client_server_lost(c, ...) client_server_failed((c), "08006", __VA_ARGS__)
/* The same with the SQLSTATE the failure had (pgtide's own statement on
 * the server failed: Postgres skipped the client's messages). */
void client_server_failed(struct client *c, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The client's next request fails with "SQLSTATE message" (a waited-for
 * tenant SET failed); the request stays in the buffer and is answered. */
void client_fail_request(struct client *c, const char *state_and_msg);
/* Run the client's kept first request again (its replica failed or
 * refused a write); primary: on the primary. */
void client_replay(struct client *c, bool primary);
void client_replay_drop(struct client *c);
/* The one setter of c->begin_replay (enum begin_replay, pgtide.h). */
void client_begin_replay(struct client *c, enum begin_replay st);
/* A waiting client could not get a server (timeout, login failure). */
void client_wait_failed(struct client *c, const char *sqlstate, const char *msg);

/* Refuse one request where it stands (locally when nothing is in flight,
 * else as a server-side error in its place, keeping replies in order). */
enum sb_verdict client_deny(struct client *c, const struct pmsg *m, const char *sqlstate, const char *msg);

/* Answer a whole Query pgtide handled itself: CommandComplete(tag) and
 * ReadyForQuery. */
void client_reply_command(struct client *c, const char *tag);
/* LISTEN / NOTIFY, as listen.c decides: refuse a LISTEN; the LISTEN the
 * client waited for is answered (err: refused); a notification for the
 * client (held while it is in a transaction). */
void client_listen_fail(struct client *c, const char *sqlstate, const char *msg);
void client_listen_answer(struct client *c, const char *err);
void client_notify(struct client *c, const uint8_t *msg, size_t len);
/* listen.c has made sure the notifications c's transaction sent to itself
 * are in: deliver what is held, then the transaction's ReadyForQuery. */
void client_ready_after_sync(struct client *c, char status);

void client_free_pending(void);
struct client *client_by_id(uint32_t id);
const char *client_state_name(const struct client *c);

#endif
