/*
 * How a client connection is named in log lines and SHOW output:
 * "C-17 app/alice@127.0.0.1:5123".
 *
 * Owns nothing; reads a struct client. Below the policy layer so that
 * policy modules (session.c) can log about a client without reaching up
 * to client.c.
 */
#ifndef PGTIDE_CLIENTNAME_H
#define PGTIDE_CLIENTNAME_H

#include <stddef.h>

#include "log.h"
#include "pgtide.h"

/* "C-17 app/alice@127.0.0.1:5123" */
const char *client_prefix(const struct client *c, char *buf, size_t len);
/* The peer address alone ("127.0.0.1", "::1", "unix"). */
void client_addr_string(const struct client *c, char *buf, size_t len);

#define client_log(c, lv, ...) log_conn(lv, client_prefix, c, __VA_ARGS__)

#endif
