/*
 * Users, databases and pools: the objects the configuration describes, and
 * the hand-over of servers to clients.
 *
 * Owns: the users and databases tables, every pool, and the rules of
 * acquire and release (pool size, reserve pool, max_db_connections,
 * max_user_connections, FIFO waiting). Must not parse messages or touch
 * sockets: linking is bookkeeping, the bytes belong to client.c/server.c.
 */
#ifndef PGTIDE_POOL_H
#define PGTIDE_POOL_H

#include <stdbool.h>

#include "pgtide.h"

struct auth_entry;

void objects_init(void);
/* At exit: free users, databases and pools. */
void objects_free(void);
/* Make runtime objects match a (new) config and its auth_file. */
void objects_apply_config(struct config *cfg, struct auth_entry *auth);

struct user *user_find(const char *name);
/* A user object for a name with no auth_file entry (trust without auth_file,
 * forced users): created on demand, no secret. */
struct user *user_find_or_add(const char *name);
/* Replace a user's secret (auth_file, auth_query); NULL removes it. */
void user_set_secret(struct user *u, const char *secret);
/* The database a client asked for, created from "*" when allowed. */
struct database *database_find(const char *name);
struct database *database_lookup_or_auto(const char *name);
struct pool *pool_get(struct database *db, struct user *u);
/* The pool of a replica target (NULL target: the primary's). */
struct pool *pool_get_target(struct database *db, struct user *u, struct route_target *t);

/* pool_size_of() and pool_mode_of() are in pgtide.h: reads of the configuration. */

/* Give c a server of pool p now if one is free (true), or queue it there. */
bool pool_acquire(struct client *c, struct pool *p);
void pool_link(struct client *c, struct server *s);
void pool_unlink(struct client *c);
/* The client's transaction is over: the server goes back to the pool. */
void pool_release_server(struct server *s);
/* A released server's last cancel request is done: it may serve again. */
void pool_cancel_settled(struct server *s);
/* A server became usable: logged in, checked or reset. */
void pool_server_ready(struct server *s);
/* Bookkeeping for a server that is going away. */
void pool_server_gone(struct server *s, const char *why);
/* Idle servers to waiting clients no tenant limit holds any more; then
 * launch for the rest (schedule.c's rate timer, the janitor). */
void pool_serve_waiters(struct pool *p);
/* A client stops waiting (closed, timed out). */
void pool_stop_waiting(struct client *c);
/* A host left the rotation (route.c decided): its pools' idle servers
 * close, their waiting clients are routed again. */
void pool_target_down(struct route_target *t);
/* Health checks run on the pools' own servers (health.c): a server of p
 * for t's check (an idle one, moved to SV_CHECK, or a new one if p has
 * none), NULL when p is busy; pool_check_return gives it back; and
 * pool_checker_stop when the check is abandoned (back to the pool if
 * nothing is in flight, else closed). */
struct server *pool_check_server(struct pool *p, struct route_target *t);
void pool_check_return(struct server *s);
void pool_checker_stop(struct server *s);
/* Open new servers if clients wait and limits allow. */
void pool_maybe_launch(struct pool *p, bool allow_reserve);
/* Clients of p wait for a server (or for its first server's welcome). */
bool pool_wants_server(const struct pool *p);
/* A server login failed: back off, and tell clients that cannot be served. */
void pool_login_failed(struct pool *p, const char *sqlstate, const char *msg);
void pool_login_succeeded(struct pool *p);
/* Capture the first server's ParameterStatus list for new clients. */
void pool_set_welcome(struct pool *p, int n, const char *const *names, const char *const *values);

/* Graceful shutdown: is no client left to serve? The deferred check that
 * ends the loop when so. */
bool pool_shutdown_done(void);
void pool_shutdown_progress(void *arg);

/* PAUSE / RESUME / RECONNECT: whole process or one database. */
void pool_pause_all(bool on);
void pool_reconnect_db(struct database *db);
/* Replace every server of one pool: idle ones now, the others when they
 * are released (or, with server_fast_close, when their session's
 * transaction ends; janitor.c). why: static words, kept until they close. */
void pool_reconnect_pool(struct pool *p, const char *why);
/* db's primary is another host now (route.c): the primary pools' servers
 * are replaced, and their waiting clients served from the new one. why:
 * static words. */
void pool_primary_moved(struct database *db, const char *why);
/* KILL: close every client and server of db now. */
void pool_kill_db(struct database *db);
bool pool_can_serve(const struct pool *p);

#endif
