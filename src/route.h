/*
 * Read routing: which host a transaction runs on (the primary, or one of
 * the database's healthy replicas, round-robin), which host is the primary,
 * and the hosts' health as the checks report it.
 *
 * Owns: a database's hosts (targets), their roles and health, and the
 * routing decision made from a transaction's first message. Decides only:
 * health.c runs the checks and acts on a moved primary, pool.c on hosts
 * that leave the configuration, client.c on where a transaction runs.
 */
#ifndef PGTIDE_ROUTE_H
#define PGTIDE_ROUTE_H

#include <libpq-fe.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "pgtide.h"
#include "proto.h"

enum tstate { TS_UNKNOWN, TS_HEALTHY, TS_LAGGING, TS_DOWN, TS_NOT_IN_RECOVERY };

/* what the configuration says a host is */
enum trole { TR_PRIMARY, TR_REPLICA, TR_ANY };

/* where a host's check is (health.c) */
enum check_phase { PH_IDLE, PH_RESOLVING, PH_CONNECTING, PH_QUERYING };

/* One host of a database. */
struct route_target {
	struct route_db *rd;    /* NULL once removed from its database */
	char *host;
	int port;
	int refs;
	/* route.c's: its role and health */
	enum trole role;
	enum tstate state;
	bool up;                /* its last check succeeded */
	bool forced_down;       /* a server failed: out until the next good check */
	bool in_recovery;       /* from its last good check */
	long long lag;          /* -1: unknown */
	uint64_t lsn;
	/* Order of the samples: a replica's position is compared with the
	 * primary's last position sampled before it, never after, or a burst
	 * of writes between two samples would look like lag. */
	uint64_t seq;
	uint64_t prev_lsn, prev_seq; /* the previous sample */
	usec_t last_check;
	uint64_t transactions;
	uint64_t ryw_reads;     /* reads with a read_your_writes floor sent here */
	uint64_t check_failures;
	char reason[256];       /* why it is down or not checked; "" when fine */
	/* health.c's: the check in progress */
	enum check_phase phase;
	uint64_t sent_seq;      /* the sample number of the check in flight */
	usec_t phase_started;
	usec_t next_try;
	usec_t backoff;
	usec_t last_probe;      /* a waiting read asked its position (ryw.c) */
	/* over libpq (replica_check_user) */
	PGconn *conn;
	struct event ev;
	bool ev_added;
	char addr[INET6_ADDRSTRLEN + 1];
	/* or over a check connection of a pool (server.c) */
	struct server *checker;
	bool row_seen;
	bool row_recovery;
	uint64_t row_lsn;
};

/* A database's hosts. */
struct route_db {
	struct list node;
	struct database *db;
	struct route_target **t; /* every host: the primary and replicas as written, or the list */
	int n;
	bool auto_roles;         /* a host list: roles come from the checks */
	struct route_target *primary; /* where writes go; NULL: none known */
	bool split;              /* more than one host claims to be the primary */
	unsigned rr;
};

/* Every database with hosts (struct route_db, by node). */
struct list *route_dbs(void);

/* A host left db's configuration (or db is going): the caller stops its
 * check and reconnects the pools that use it; route.c then lets it go. */
typedef void (*route_gone_fn)(struct database *db, struct route_target *t);
/* Build or rebuild a database's host list from its config; true when its
 * primary changed (the caller tells the pools). */
bool route_db_update(struct database *db, route_gone_fn gone);
void route_db_free(struct database *db, route_gone_fn gone);
/* Where db's writes go now: its primary, or NULL (none known yet, or two
 * hosts claim the role). route_has_primary: true also without hosts. */
struct route_target *route_write_target(const struct database *db);
bool route_has_primary(const struct database *db);

/* A check's outcome (health.c): judged here; true when the database's
 * primary moved (the caller tells the pools). failed: next_in, when the
 * next check will be (for the log); succeeded: seq, the sample's number. */
bool route_check_failed(struct route_target *t, const char *why, usec_t next_in);
bool route_check_succeeded(struct route_target *t, bool in_recovery, uint64_t lsn, uint64_t seq);
/* Is t in the rotation for reads? The position every readable replica of
 * db has replayed (0: none is). */
bool route_readable(const struct route_target *t);
uint64_t route_min_replay(const struct database *db);

void route_target_ref(struct route_target *t);
void route_target_unref(struct route_target *t);
const char *route_target_host(const struct route_target *t);
int route_target_port(const struct route_target *t);

/*
 * Where the transaction that m starts runs: the verdict, for client.c to
 * act on (route.c picks a host, never a server).
 */
enum route_where {
	ROUTE_HOME,    /* the client's own pool (the primary) */
	ROUTE_REPLICA, /* the pool of *t, a healthy replica */
	ROUTE_HOLD,    /* wait for a replica to replay the scope's commits
			* (read_your_writes: ryw_hold, route_pick again when resumed) */
	ROUTE_NONE,    /* no healthy replica and replica_fallback = error: *err */
};
enum route_where route_pick(struct client *c, const struct pmsg *m, const char *text, size_t tlen,
			    struct route_target **t, const char **err);

/* read_your_writes (ryw.c): the pace of probes (health_probe); has a
 * readable replica of db replayed floor; the highest position any host of
 * db reported. */
#define RYW_PROBE_USEC 250
bool route_caught_up(const struct database *db, uint64_t floor);
uint64_t route_highest_lsn(const struct database *db);

/* A server of a replica pool could not connect or log in, or died: the
 * replica is out of the rotation until its next good check (health.c
 * acts: health_target_down). true when the primary moved. */
bool route_target_down(struct route_target *t, const char *why);

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
