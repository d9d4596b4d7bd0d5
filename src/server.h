/*
 * Server connections: connecting and logging in to Postgres, following the
 * replies a server owes, and pgtide's own queries (checks, resets,
 * parameter syncs).
 *
 * Owns: struct server's state machine (SV_*), its reply queue and its
 * login. Must not decide which client gets a server (pool.c) nor interpret
 * client messages (client.c).
 */
#ifndef PGTIDE_SERVER_H
#define PGTIDE_SERVER_H

#include <stdbool.h>

#include "pgtide.h"
#include "replyq.h"

void server_module_init(void);
void server_module_free(void);
/* Queue a statement that fails with sqlstate/msg in place of the client's
 * request of type for_type (see client_deny). false: out of memory. */
bool server_queue_denial(struct server *s, uint8_t for_type, const char *sqlstate, const char *msg);
/* Change a server's state; the only writer of s->state. */
void server_set_state(struct server *s, enum server_state st);
/* Open a new connection for pool p (counted in the pool at once). */
struct server *server_launch(struct pool *p);
/* Close now; the linked client (if any) is told its transaction failed.
 * why is what the close is counted under (SHOW SERVER_CLOSES, /metrics);
 * the message is for the log. */
void server_close(struct server *s, enum close_reason why, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Close s when it is next released, not now (it serves a transaction):
 * counted under why, logged with words (a static string, not NULL). */
static inline void server_close_later(struct server *s, enum close_reason why, const char *words)
{
	s->close_reason = (uint8_t)why;
	s->close_why = words ? words : "close needed";
}
/* The two machines inside a state (enum server_sync, enum server_phase in
 * pgtide.h, with their diagrams): the only writers of s->sync and
 * s->phase; a change the diagram lacks is logged "please report this". */
void server_set_sync(struct server *s, enum server_sync to);
void server_set_phase(struct server *s, enum server_phase to);
/* What sending the client's (or pgtide's) messages does to the group:
 * open: an extended message went (SYNC_NONE -> SYNC_OPEN); not open: a
 * Query or a plan that ends the group went (SYNC_OPEN -> SYNC_NONE). A
 * server that skips to Sync stays so: only a Sync ends that. */
static inline void server_group_sent(struct server *s, bool open)
{
	if (open && s->sync == SYNC_NONE)
		server_set_sync(s, SYNC_OPEN);
	else if (!open && s->sync == SYNC_OPEN)
		server_set_sync(s, SYNC_NONE);
}
/* Open the pool's LISTEN connection (listen.c); no pool limit counts it. */
struct server *server_launch_listener(struct pool *p);
/* A server lent to a host's check (pool_check_server) is no longer wanted
 * by it. */
void server_check_detach(struct server *s);
/* Queue the SET of c's tenant ahead of c's next message (tenant.c builds
 * it). wait: as a query of its own, whose ReadyForQuery c waits for. */
bool server_queue_tenant_set(struct server *s, struct client *c, bool wait);
/* Queue and send one of pgtide's own queries (replies consumed; flags
 * say what they are for). */
/* A send plan (sendplan.h) for s: begin resets p with what the planner
 * reads of s; play carries it out in order (c: the client whose message
 * the plan forwards from). false: out of memory, s is half written. */
struct sendplan;
void server_plan_begin(struct server *s, struct sendplan *p);
bool server_play(struct server *s, struct client *c, const struct sendplan *p);
bool server_own_query(struct server *s, const char *sql, uint16_t flags);
/* Hold back the replies to a replica-routed request until it shows it ran. */
void server_holdback_begin(struct server *s);
/* Run pgtide's own query on an unlinked server; when its ReadyForQuery
 * arrives the server goes back to the pool (or closes on error). */
void server_run_check(struct server *s, const char *sql, bool reset);
/* Free servers on the justfree list (deferred). */
void server_free_pending(void);


/* "S-7 db/user@host:port" */
const char *server_prefix(const struct server *s, char *buf, size_t len);
#define server_log(s, lv, ...) log_conn(lv, server_prefix, s, __VA_ARGS__)

/* Send a CancelRequest for the query s is running (query_timeout, clients). */
void server_send_cancel(struct server *s);
const char *server_state_name(int st);
/* The SCRAM exchange of a server that is logging in (auth.c). */
struct scram_client *server_scram(struct server *s);
const char *server_host(const struct server *s);
int server_port(const struct server *s);

#endif
