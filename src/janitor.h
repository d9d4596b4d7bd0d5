/*
 * Periodic maintenance: timeouts, idle servers, minimum pool sizes, the
 * reserve pool, statistics logging and buffer trimming.
 *
 * Owns: the janitor timer. Acts only through other modules' functions
 * (client_close, server_close, pool_maybe_launch, ...).
 */
#ifndef PGTIDE_JANITOR_H
#define PGTIDE_JANITOR_H

void janitor_start(void);
void janitor_stop(void);
/* Run one pass now (after reload, pause/resume). */
void janitor_run(void);

#endif
