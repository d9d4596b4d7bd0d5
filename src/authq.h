/*
 * auth_query: looking up a client's secret in Postgres for users that are
 * not in auth_file (auth_user + auth_query, globally or per database).
 *
 * Owns: lookups in flight and the answer's lifetime on struct user
 * (authq_time). Must not run the password exchange (auth.c does).
 */
#ifndef PGTIDE_AUTHQ_H
#define PGTIDE_AUTHQ_H

#include <stdbool.h>

#include "pgtide.h"

/* How long a looked-up secret is trusted before the next login asks again. */
#define AUTHQ_TTL (30 * USEC)

/* Should this login look its secret up first? */
bool authq_wanted(struct client *c);
/* Start (or join) the lookup; the client continues in auth_begin when the
 * answer is in. */
bool authq_start(struct client *c);
void authq_shutdown(void);

#endif
