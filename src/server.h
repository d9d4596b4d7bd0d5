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

void server_module_init(void);
/* Queue a statement that fails with sqlstate/msg in place of the client's
 * request of type for_type (see client_deny). false: out of memory. */
bool server_queue_denial(struct server *s, uint8_t for_type, const char *sqlstate, const char *msg);
/* Change a server's state; the only writer of s->state. */
void server_set_state(struct server *s, enum server_state st);
/* Open a new connection for pool p (counted in the pool at once). */
struct server *server_launch(struct pool *p);
/* Close now; the linked client (if any) is told its transaction failed. */
void server_close(struct server *s, const char *reason, ...) __attribute__((format(printf, 2, 3)));
/* Open the pool's LISTEN connection (listen.c); no pool limit counts it. */
struct server *server_launch_listener(struct pool *p);
/* Open the check connection of host t, in p (a pool towards t); no pool
 * limit counts it. server_check_detach: t no longer wants it. */
struct server *server_launch_checker(struct pool *p, struct route_target *t);
void server_check_detach(struct server *s);
/* Queue the SET of c's tenant ahead of c's next message (tenant.c builds
 * it). wait: as a query of its own, whose ReadyForQuery c waits for. */
bool server_queue_tenant_set(struct server *s, struct client *c, bool wait);
/* Queue and send one of pgtide's own queries (replies consumed; flags
 * say what they are for). */
bool server_own_query(struct server *s, const char *sql, uint16_t flags);
/* Hold back the replies to a replica-routed request until it shows it ran. */
void server_holdback_begin(struct server *s);
/* Run pgtide's own query on an unlinked server; when its ReadyForQuery
 * arrives the server goes back to the pool (or closes on error). */
void server_run_check(struct server *s, const char *sql, bool reset);
/* Values of parameters Postgres does not report are unknown after RESET ALL. */
void server_forget_unreported_params(struct server *s);
/* Free servers on the justfree list (deferred). */
void server_free_pending(void);

/*
 * The reply queue: what the server owes, in order (struct rq_entry). These
 * are its only operations; no other code indexes s->rq.
 */
static inline bool rq_full(const struct server *s)
{
	return s->rq_len >= RQ_CAP;
}
/* Nothing owed: every request sent has had its reply. */
static inline bool rq_empty(const struct server *s)
{
	return s->rq_len == 0;
}
static inline unsigned rq_count(const struct server *s)
{
	return s->rq_len;
}
/* The entry at position i from the head (0 = next reply). */
static inline struct rq_entry *rq_at(struct server *s, int i)
{
	return &s->rq[(s->rq_head + i) % RQ_CAP];
}
/* Append an entry; returns it, for its aux field. */
struct rq_entry *rq_push(struct server *s, uint8_t type, uint16_t flags);
/* Drop the entries before the first Sync (their replies will not come:
 * the server skips to it after an error); returns that Sync's entry, or
 * NULL when none is queued yet. Wakes a client the full queue stopped. */
struct rq_entry *rq_drop_to_sync(struct server *s);
/* Does s owe the client replies (beyond pgtide's own requests)? */
bool rq_owes_client(struct server *s);
/* Emit the replies pgtide owes for RQ_SYNTH entries now at the head. */
void rq_emit_due(struct server *s);
bool server_is_idle_for_txn(const struct server *s);
/* Nothing owed either way, no transaction, no COPY, no half-forwarded
 * message: the only state in which a server may serve another client. */
bool server_is_clean(const struct server *s);
/* Count the sync points (Sync, Query, FunctionCall) a client waits for. */
int server_pending_syncs(const struct server *s);
/* Did the first of those already get its error (it died after)? */
bool server_first_sync_failed(const struct server *s);

/* "S-7 db/user@host:port" */
const char *server_prefix(const struct server *s, char *buf, size_t len);
#define server_log(s, lv, ...)                                                           \
	do {                                                                                \
		if (log_enabled(lv)) {                                                      \
			char _pfx[192];                                                     \
			log_msg((lv), server_prefix((s), _pfx, sizeof(_pfx)), __VA_ARGS__); \
		}                                                                           \
	} while (0)

/* Send a CancelRequest for the query s is running (query_timeout, clients). */
void server_send_cancel(struct server *s);
const char *server_state_name(int st);
/* The SCRAM exchange of a server that is logging in (auth.c). */
struct scram_client *server_scram(struct server *s);
const char *server_host(const struct server *s);
int server_port(const struct server *s);

#endif
