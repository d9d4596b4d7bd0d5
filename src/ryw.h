/*
 * Read your writes: a read-only transaction sent to a replica sees every
 * transaction its scope (the client, or every client of its tenant)
 * committed through pgtide before it began.
 *
 * Owns: the commit positions of each scope (struct ryw_db, per database:
 * one entry per tenant that wrote recently, dropped once every replica has
 * replayed it), the reads waiting for a replica to catch up, and their
 * counters. Decides only: route.c asks for a read's floor and picks the
 * replica, server.c asks the primary for a commit's position, client.c
 * holds a read that must wait, and resumes it when this file says it may
 * go (client_ryw_wake: the timer and the probes are client.c's).
 */
#ifndef PGTIDE_RYW_H
#define PGTIDE_RYW_H

#include <stdbool.h>
#include <stdint.h>

#include "pgtide.h"

void ryw_db_free(struct database *db);

/* The scope c's reads keep to (RYW_OFF, RYW_CLIENT, RYW_TENANT); off where
 * the database has no replicas to route to. */
int ryw_mode(const struct client *c);

/*
 * The position a read of c must see: the highest commit position of its
 * scope. *pending: a commit of its scope has no known position yet (its
 * query is in flight: wait for it).
 */
uint64_t ryw_floor(const struct client *c, bool *pending);

/* The transaction c runs on a primary server may write: ask for its commit
 * position when it ends (ryw_commit_due; server.c calls ryw_write_forget
 * and sends the query, then ryw_commit_sent). ryw_write_forget: nothing to
 * ask (asked now, or a new transaction is being routed). */
void ryw_note_write(struct client *c);
void ryw_write_forget(struct client *c);
bool ryw_commit_due(const struct client *c);
/* The query whose one row is the commit position. */
extern const char ryw_position_sql[];
void ryw_commit_sent(struct server *s, struct client *c);
/* Its row (false: malformed), and its end: lsn 0 when it failed or the
 * server went (the scope then takes every host's highest known position).
 * true: a position was learned, waiting reads of the server's database may
 * go now (the caller wakes them: client_ryw_wake). */
bool ryw_position_row(struct server *s, const struct pmsg *m);
bool ryw_commit_done(struct server *s, bool ok);

/* A read of c waits for a replica to catch up (client.c stops reading its
 * messages); it is resumed when positions change or its time is up. */
void ryw_hold(struct client *c);
/* The waiting reads that may go now, moved to out (a list of clients by
 * ryw.node): those a replica of db can take, or with db NULL those whose
 * time is up. ryw_pop takes them one by one (NULL: none left). */
void ryw_take_ready(struct database *db, struct list *out);
struct client *ryw_pop(struct list *l);
/* The reads still waiting, oldest first (prev NULL: the first; NULL: no
 * more), and whether one of db's is among them. */
struct client *ryw_waiting_next(const struct client *prev);
bool ryw_db_waits(const struct database *db);
bool ryw_waiting(const struct client *c);
bool ryw_wait_expired(const struct client *c);
/* Where the read went: counted, and the wait ends. */
enum ryw_outcome { RYW_REPLICA, RYW_PRIMARY };
void ryw_routed(struct client *c, enum ryw_outcome o);
/* The client goes while its read waits. */
void ryw_forget(struct client *c);
/* Every replica of db has replayed min_replay: positions below it need no
 * entry any more. */
void ryw_gc(struct database *db, uint64_t min_replay);

struct ryw_stats {
	uint64_t commits;       /* positions learned */
	uint64_t reads_replica; /* reads that went to a replica without waiting */
	uint64_t reads_waited;  /* ... after waiting for one to catch up */
	uint64_t reads_primary; /* reads sent to the primary: none caught up in time */
	uint64_t wait_usec;     /* total wait of the reads that waited */
	uint64_t positions;     /* tenant entries held now */
};
void ryw_db_stats(const struct database *db, struct ryw_stats *out);

/* "0/16B3748" from the text of pg_lsn; 0 when malformed. */
uint64_t ryw_parse_lsn(const char *s, size_t len);

#endif
