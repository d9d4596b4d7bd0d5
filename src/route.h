/*
 * Read routing: which server a transaction runs on (the primary, or one of
 * the database's healthy replicas, round-robin), and replica health.
 *
 * Owns: replica targets, their health checks (libpq's asynchronous API
 * driven by the event loop: never a blocking call), the routing decision
 * made from a transaction's first message, and the replay of a first
 * request that a replica could not run. Must not forward messages
 * (client.c) or pick servers within a pool (pool.c).
 */
#ifndef PGTIDE_ROUTE_H
#define PGTIDE_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

#include "pgtide.h"
#include "proto.h"

/* Build or rebuild a database's replica list from its config. */
void route_db_update(struct database *db);
void route_db_free(struct database *db);
/* The health-check timer (every replica_check_period). */
void route_start(void);
void route_stop(void);

void route_target_ref(struct route_target *t);
void route_target_unref(struct route_target *t);
const char *route_target_host(const struct route_target *t);
int route_target_port(const struct route_target *t);

/*
 * Where the transaction that m starts runs: the home (primary) pool, or a
 * replica's pool. *replica tells which; *retain, that the request group
 * starting here should be kept for a replay on the primary (read_routing =
 * auto, or any replica: see route_replay). NULL with *err when no replica
 * is healthy and replica_fallback = error.
 */
struct pool *route_pick(struct client *c, const struct pmsg *m, const char *text, size_t tlen,
			bool *replica, const char **err);

/* A server of a replica pool could not connect or log in, or died: take
 * the replica out of the rotation until its next good check, and send the
 * clients waiting for it elsewhere. */
void route_target_down(struct route_target *t, const char *why);

/* Count a transaction that ran on a replica. */
void route_count(struct pool *p);

/* SHOW POOLS "target" column: "primary" or "host:port". */
const char *route_pool_target_name(const struct pool *p);

struct route_replica_info {
	const char *database;
	const char *host;
	int port;
	const char *state;      /* healthy, lagging, down, not_in_recovery, unknown */
	long long lag_bytes;    /* -1: unknown */
	uint64_t transactions;
	usec_t last_check;      /* monotonic, 0: never */
};
/* The i-th replica of any database; false past the last. */
bool route_replica_info(int i, struct route_replica_info *out);

#endif
