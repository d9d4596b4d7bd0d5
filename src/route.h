/*
 * Read routing: which server a transaction runs on (the primary or one of
 * the database's healthy replicas, round-robin), and replica health.
 *
 * Owns: replica targets, their health checks (libpq's async API inside the
 * event loop), and the routing decision made from a transaction's first
 * message. Must not forward messages (client.c) or pick servers within a
 * pool (pool.c).
 */
#ifndef PGTIDE_ROUTE_H
#define PGTIDE_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

#include "pgtide.h"

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
