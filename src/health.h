/*
 * Health checks of a database's hosts (see health.c): the timer, the
 * checks in progress, and acting on route.c's verdicts about them.
 */
#ifndef PGTIDE_HEALTH_H
#define PGTIDE_HEALTH_H

#include <stdbool.h>

#include "pgtide.h"
#include "proto.h"

/* The check timer (every replica_check_period). */
void health_start(void);
void health_stop(void);
/* Check db's hosts now (its first client may be what checks need). */
void health_kick(struct database *db);
/* read_your_writes: ask db's readable replicas their position now (at
 * most every RYW_PROBE_USEC each); client.c calls it while reads wait. */
void health_probe(struct database *db);
/* Stop t's check (it left its database's configuration, or is suspect). */
void health_check_stop(struct route_target *t);

/* The server lent to a target's check (server.c, pool.c): it logged in
 * (false: the check does not want it any more: back to the pool); a
 * DataRow of the check (false: malformed); its ReadyForQuery; an error;
 * it closed (why NULL: pgtide closed it itself, no verdict on the host). */
bool health_checker_ready(struct server *s, struct route_target *t);
bool health_row(struct route_target *t, const struct pmsg *m);
void health_done(struct route_target *t);
void health_error(struct route_target *t, const char *msg);
void health_checker_gone(struct route_target *t, const char *why);

/* A server of a replica pool could not connect or log in, or died: the
 * replica leaves the rotation until its next good check, its check starts
 * afresh, and the clients waiting for it go elsewhere (NULL t: nothing). */
void health_target_down(struct route_target *t, const char *why);

#endif
