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

/* Everything a client needs while logging in; freed once it is in. */
struct login_state {
	char *user_name;
	char *db_name;
	char *values[NPARAMS];      /* tracked parameters from the startup packet */
	char *tenant;               /* tenant from the startup packet, if any */
	int n_sets;                 /* other settings from the startup packet */
	char **set_names;           /* ... (session.c carries them) */
	char **set_values;
	bool wait_welcome;          /* authenticated; the pool has no parameters yet */
	bool peer_admin;            /* console user of pgtide's own OS uid (unix socket) */
	/* authentication exchange */
	int method;
	int step;
	uint8_t md5_salt[4];
	struct scram_server *scram;
	uint8_t cbind[64];          /* tls-server-end-point hash of our certificate */
	bool unknown_user;          /* go through the motions, then refuse */
	bool scram_from_plain;      /* SCRAM secret made up from a plain password */
	bool authq_waiting;         /* auth_query lookup in flight */
	bool authq_done;            /* looked up (found or not) */
};


/* Client authentication. auth_begin sends the first request (or finishes
 * at once for trust). auth_on_message handles the client's 'p' message. */
struct login_state;
bool auth_begin(struct client *c);
enum sb_verdict auth_on_message(struct client *c, const struct pmsg *m);
void auth_free_state(struct login_state *l);

/* pgtide logging in to Postgres: answer an 'R' request. Returns false with
 * a reason when it cannot (no usable secret, bad server message). */
bool auth_server_request(struct server *s, const struct pmsg *m, const char **err);

#endif
