/*
 * Tenant scheduling: which waiting client of a pool is served next, and
 * the per-tenant limits on servers and transaction rate.
 */
#ifndef PGTIDE_SCHEDULE_H
#define PGTIDE_SCHEDULE_H

#include "pgtide.h"

/* p's scheduler. on_rate_timer is the connection layer's callback (pool.c)
 * for the timer this file arms when tenant_xact_rate holds a tenant: it
 * asks sched_rate_timer() and serves the waiters that may go. Nothing
 * here calls back up. */
void sched_pool_init(struct pool *p, event_callback_fn on_rate_timer);
void sched_pool_free(struct pool *p);
/* The rate timer fired: true when a held tenant may run again (its
 * waiters are back in the ring: serve them). */
bool sched_rate_timer(struct pool *p);

/* c starts waiting in p (its state is CL_WAITING already). */
void sched_wait(struct pool *p, struct client *c);
/* c stops waiting (served, failed, closed); adds its wait to its tenant. */
void sched_unwait(struct client *c);
/* The client to serve next in p, or NULL when every waiter is held by a
 * limit (or none waits). Does not remove it: linking does. */
struct client *sched_next(struct pool *p);
/* May c take a server of p now, with no one waiting? (its tenant's limits) */
bool sched_may_take(struct pool *p, const struct client *c);
/* c was given a server of p / gave it back: counts against its tenant. */
void sched_linked(struct pool *p, struct client *c);
void sched_unlinked(struct client *c);
/* Waiting clients a new server could serve now (not held by a limit). */
int sched_runnable(const struct pool *p);
/* Why c still waits, for query_wait_timeout's message ("" if no limit). */
const char *sched_wait_reason(const struct client *c, char *buf, size_t len);

#endif
