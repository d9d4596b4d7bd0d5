/*
 * LISTEN/NOTIFY in transaction pooling: one listening server connection per
 * pool with listeners, shared by every client of that pool.
 *
 * Owns: each pool's channel table and listener connection state, each
 * client's subscriptions, and the notifications waiting for a client that
 * is busy in a transaction. Decides and keeps the books; client.c sends to
 * clients, server.c to the listener connection.
 *
 * A client's whole-statement LISTEN or UNLISTEN (simple protocol, outside
 * a transaction block) is answered by pgtide: LISTEN once the listener
 * connection runs LISTEN on that channel, so no notification sent after
 * the client's "LISTEN" answer is missed. A NotificationResponse arriving
 * on the listener goes to every client of the pool subscribed to its
 * channel, and to no other: at once when the client is between
 * transactions, else when its transaction ends (as Postgres delivers
 * them). LISTEN in any other form (inside a block, extended protocol)
 * binds the client's server instead (session.c).
 */
#ifndef PGTIDE_LISTEN_H
#define PGTIDE_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

#include "pgtide.h"
#include "proto.h"

#define LISTEN_PENDING_MAX (8u << 20) /* bytes of notifications held for a busy client */

enum listen_verdict {
	LV_ANSWERED,   /* answered now (CommandComplete + ReadyForQuery queued) */
	LV_WAIT,       /* the client waits for the listener; answered later */
	LV_NOT_MINE,   /* not a statement pgtide answers */
};
/* kind 'L' (LISTEN) or 'U' (UNLISTEN; channel "*" for all). */
enum listen_verdict listen_request(struct client *c, char kind, const char *channel);

/* The listener connection of a pool finished logging in. */
void listen_conn_ready(struct server *s);
/* Replies on the listener: an error for the LISTEN or UNLISTEN in flight,
 * then its ReadyForQuery. */
void listen_conn_error(struct server *s, const char *err);
void listen_conn_done(struct server *s);
/* A NotificationResponse on the listener. */
void listen_notification(struct server *s, const struct pmsg *m);
/* The listener connection went away (closed, login failed). */
void listen_conn_gone(struct server *s, const char *why);

/* A client leaves: its subscriptions go. */
void listen_client_free(struct client *c);
/* Does the client wait for its LISTEN to take effect? */
bool listen_client_waiting(const struct client *c);
/* c's transaction, which may have sent a notification c listens for, has
 * ended with status: true when c's ReadyForQuery is to wait for the pool's
 * listener to have delivered it (client_ready_after_sync sends it then);
 * false: send it now (no listener to ask). */
bool listen_sync(struct client *c, char status);
/* Keep a notification for a client in a transaction. false: over
 * LISTEN_PENDING_MAX (the caller closes the client). */
bool listen_hold(struct client *c, const uint8_t *msg, size_t len);
bool listen_has_pending(const struct client *c);
/* Notifications held for c, taken one at a time: a message, its length.
 * NULL when none. The caller frees the message with free(). */
void *listen_take_pending(struct client *c, size_t *len);
/* Channels a client listens to (SHOW CLIENTS). */
int listen_client_count(const struct client *c);
/* At exit. */
void listen_pool_free(struct pool *p);

#endif
