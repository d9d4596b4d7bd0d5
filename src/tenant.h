/*
 * Tenant context: which tenant each client is, and setting it on the server
 * connection that runs the client's transaction.
 *
 * Owns: tenant records (one per distinct id, reference-counted, with the
 * per-tenant counters SHOW TENANTS reports), tenant id validation, and the
 * messages that set the tenant on a server. Must not decide when a
 * transaction starts (client.c) or follow replies (server.c).
 *
 * How the tenant reaches a server (see README "Multi-tenant row-level
 * security"): before the first message of each request group pgtide
 * sends, in the same write, Bind/Execute of a statement prepared on that
 * server as  SET "app"."current_tenant_id" TO '<id>'  with no Sync. The SET
 * takes no snapshot, so BEGIN ISOLATION LEVEL ... still works after it; if
 * it fails, Postgres skips everything up to the client's Sync, so no client
 * statement ever runs with a stale tenant (fail closed). Statements that
 * refuse to run in a pipeline (VACUUM, CREATE DATABASE, ...) get the SET as
 * a query of its own, and wait for it.
 */
#ifndef PGTIDE_TENANT_H
#define PGTIDE_TENANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pgtide.h"

struct tenant {
	struct hnode hn;
	struct list lru;         /* tenants no one holds, oldest first */
	uint32_t refs;           /* clients and servers pointing here */
	uint32_t clients;
	uint64_t xacts;
	uint64_t queries;
	uint64_t xact_time;
	usec_t last_used;
	/* sharing pools (schedule.c) */
	uint32_t waiting;        /* clients waiting for a server, all pools */
	uint32_t servers;        /* servers its clients hold, all pools */
	uint64_t wait_time;      /* usec, total */
	usec_t max_wait;
	uint64_t refused_connections; /* max_tenant_connections */
	uint64_t held_by_servers;     /* times max_tenant_servers held its waiters */
	uint64_t held_by_rate;        /* times tenant_xact_rate held its waiters */
	/* read_your_writes (ryw.c) */
	uint64_t ryw_replica;    /* reads sent to a replica that had caught up */
	uint64_t ryw_waited;     /* ... after waiting for one */
	uint64_t ryw_primary;    /* reads sent to the primary: none caught up in time */
	uint64_t ryw_wait_time;  /* usec, total */
	double tokens;           /* tenant_xact_rate bucket */
	usec_t tokens_at;        /* 0: full */
	uint32_t len;
	char id[];
};

void tenant_module_init(void);
void tenant_module_free(void);
/* After a (re)load: compile tenant_pattern, remember tenant_setting. */
bool tenant_configure(char *err, size_t errlen);
static inline bool tenant_enabled(void)
{
	return g.tenant_setting != NULL;
}

/* Is id acceptable? Else a message for SQLSTATE 22023 naming the setting. */
bool tenant_valid(const char *id, char *err, size_t errlen);
struct tenant *tenant_get(const char *id); /* +1 ref */
/* Would c taking tenant t pass max_tenant_connections? true: refuse with
 * SQLSTATE 53300 and err (which names the setting). */
bool tenant_over_client_limit(const struct client *c, struct tenant *t, char *err, size_t errlen);
struct tenant *tenant_ref(struct tenant *t);
void tenant_unref(struct tenant *t);
/* A client starts or stops being of tenant t (SHOW TENANTS "clients"). */
void tenant_attach(struct client *c, struct tenant *t);

/* Before a request group on s: does s certainly have c's tenant in
 * effect, whatever the replies still owed (replies_owed) turn out to be?
 * false: the SET goes in front of the group (after those replies, as a
 * query of its own, when some are owed). */
bool tenant_in_effect(const struct server *s, const struct client *c, bool replies_owed);
/*
 * The SET of c's tenant for s, ahead of the client's message: its bytes go
 * into pb, and ts says which replies they owe (for the server's reply
 * queue). wait: as a query of its own, whose ReadyForQuery the client waits
 * for. server.c writes and queues them (server_queue_tenant_set), then
 * tenant_set_sent records what s now has. false: out of memory.
 */
struct tenant_set {
	bool wait;
	int n;
	struct {
		uint8_t type;
		uint16_t flags;
	} owed[5];
};
struct pktbuf;
bool tenant_build_set(const struct server *s, const struct client *c, bool wait, struct pktbuf *pb,
		      struct tenant_set *ts);
void tenant_set_sent(struct server *s, const struct client *c);
/* Server bookkeeping hooks. */
void tenant_server_forget(struct server *s);       /* unknown state (DISCARD, reset, failures) */
/* A SET sent ahead of a client's held statement (RQ_WAIT) failed: keep the
 * error for that client (err: "SQLSTATE could not set ..."); the server's
 * tenant is unknown. */
void tenant_wait_failed(struct server *s, const char *err);
/* The held statement's turn came (its SET answered, status st): the error
 * to give the client (the caller frees it), or NULL to go on. */
char *tenant_wait_done(struct server *s, char st);
void tenant_server_txn_end(struct server *s);      /* ReadyForQuery 'I' from a client group */
void tenant_server_free(struct server *s);

/* A server-side refusal: a query that fails with SQLSTATE/message, used
 * where a refusal must keep its place among pipelined replies. */

/* Iterate for SHOW TENANTS and metrics. */
struct tenant *tenant_next(struct tenant *t, size_t *it);
size_t tenant_count(void);

#endif
