/*
 * Authentication: the auth_file, checking clients' passwords, and the
 * password side of pgtide's own logins to Postgres.
 *
 * Owns: the per-login authentication exchange state and the parsing of
 * auth_file. Must not decide pools or routing: a successful login is
 * handed back to client.c (client_auth_done).
 */
#ifndef PGTIDE_AUTH_H
#define PGTIDE_AUTH_H

#include <stdbool.h>

#include "config.h"
#include "authfile.h"
#include "pgtide.h"

/* struct login_state (a client's login in progress) is in pgtide.h. */


/* Client authentication. auth_begin sends the first request (or finishes
 * at once for trust). auth_on_message handles the client's 'p' message. */
bool auth_begin(struct client *c);
enum sb_verdict auth_on_message(struct client *c, const struct pmsg *m);
void auth_free_state(struct login_state *l);

/* pgtide logging in to Postgres: answer an 'R' request. Returns false with
 * a reason when it cannot (no usable secret, bad server message). */
bool auth_server_request(struct server *s, const struct pmsg *m, const char **err);

#endif
