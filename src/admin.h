/*
 * The admin console: the virtual database "pgtide" (alias "pgbouncer").
 *
 * Owns: console sessions' commands and their output. Reads every other
 * object for SHOW, and changes them only through their modules' functions
 * (pool_pause_all, config reload, client_close...).
 */
#ifndef PGTIDE_ADMIN_H
#define PGTIDE_ADMIN_H

#include <stdbool.h>

#include "pgtide.h"

bool admin_is_console_db(const char *name);
/* Authenticated client asked for the console: check rights, say welcome. */
void admin_login(struct client *c);
enum sb_verdict admin_on_msg(struct client *c, const struct pmsg *m);
/* Answer PAUSE / WAIT_CLOSE commands whose condition now holds. */
void admin_check_waits(void);
void admin_free(void);

#endif
