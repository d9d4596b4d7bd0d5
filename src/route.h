/*
 * Read routing: which host a transaction runs on (the primary, or one of
 * the database's healthy replicas, round-robin), which host is the primary,
 * and the hosts' health.
 *
 * Owns: a database's hosts (targets), their roles and health checks (over a
 * pool's own check connection, or libpq's asynchronous API: never a
 * blocking call), and the routing decision made from a transaction's first
 * message. Must not forward messages (client.c) or pick servers within a
 * pool (pool.c).
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
/* Check db's hosts now (its first client may be what checks need). */
void route_kick(struct database *db);
/* Where db's writes go now: its primary, or NULL (none known yet, or two
 * hosts claim the role). route_has_primary: true also without hosts. */
struct route_target *route_write_target(const struct database *db);
bool route_has_primary(const struct database *db);

/* The check connection of a target (server.c, pool.c): it logged in; a
 * DataRow of the check (false: malformed); its ReadyForQuery; an error;
 * it closed. */
void route_checker_ready(struct server *s, struct route_target *t);
bool route_health_row(struct route_target *t, const struct pmsg *m);
void route_health_done(struct route_target *t);
void route_health_error(struct route_target *t, const char *msg);
void route_checker_gone(struct route_target *t, const char *why);

void route_target_ref(struct route_target *t);
void route_target_unref(struct route_target *t);
const char *route_target_host(const struct route_target *t);
int route_target_port(const struct route_target *t);

/*
 * Where the transaction that m starts runs: the home (primary) pool, or a
 * replica's pool. *replica tells which; *retain, that the request group
 * starting here should be kept for a replay on the primary (read_routing =
 * auto, or any replica: see route_replay). NULL with *err when no replica
 * is healthy and replica_fallback = error; NULL with *hold when the read
 * waits for a replica to replay its scope's commits (read_your_writes:
 * ryw_hold, and route_pick again when resumed).
 */
struct pool *route_pick(struct client *c, const struct pmsg *m, const char *text, size_t tlen,
			bool *replica, bool *hold, const char **err);

/* read_your_writes (ryw.c): ask db's readable replicas their position now
 * (at most every RYW_PROBE_USEC each); has one of them replayed floor; the
 * highest position any host of db reported. */
#define RYW_PROBE_USEC 250
void route_probe(struct database *db);
bool route_caught_up(const struct database *db, uint64_t floor);
uint64_t route_highest_lsn(const struct database *db);

/* A server of a replica pool could not connect or log in, or died: take
 * the replica out of the rotation until its next good check, and send the
 * clients waiting for it elsewhere. */
void route_target_down(struct route_target *t, const char *why);

/* Count a transaction that ran on a replica. */
void route_count(struct pool *p);

/* SHOW POOLS "target" column: "primary" or "host:port". */
const char *route_pool_target_name(const struct pool *p);

struct route_host_info {
	const char *database;
	const char *host;
	int port;
	const char *role;       /* primary, replica, primary_candidate, unknown */
	const char *state;      /* healthy, lagging, down, not_in_recovery, unknown */
	long long lag_bytes;    /* -1: unknown */
	uint64_t transactions;
	uint64_t ryw_reads;     /* reads with a read_your_writes floor */
	usec_t last_check;      /* monotonic, 0: never */
	uint64_t check_failures;
	const char *reason;     /* why down or not checked; "" */
	bool is_primary;
};
/* The i-th host of any database (replicas_only: not the primary); false
 * past the last. */
bool route_host_info(int i, bool replicas_only, struct route_host_info *out);

#endif
