/*
 * TLS: the OpenSSL contexts for both sides and the per-connection objects
 * built from them.
 *
 * Owns: one SSL_CTX for accepting clients and one for connecting to
 * servers, built from the client_tls_* and server_tls_* settings and
 * rebuilt on reload (connections keep the context they started with).
 * Certificate checks and channel-binding data live here. Must not do I/O:
 * sbuf.c drives the SSL objects inside the event loop.
 */
#ifndef PGTIDE_TLS_H
#define PGTIDE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct ssl_st;

/* Build both contexts from c. On failure *err says why (with the file)
 * and the running contexts stay; *mismatch (may be NULL) tells whether
 * all that failed is a certificate and a key that are not a pair. */
bool tls_configure(const struct config *c, char *err, size_t errlen, bool *mismatch);
void tls_shutdown(void);

/* Is TLS offered to clients / used towards servers? */
bool tls_client_enabled(void);
bool tls_server_enabled(void);

/* A new connection object for an accepted client socket, or for a
 * connection to server host (checked against the certificate under
 * verify-full). NULL when TLS is off or OpenSSL failed. */
struct ssl_st *tls_accept_new(int fd);
struct ssl_st *tls_connect_new(int fd, const char *host);

/* The client certificate's common name, if the client sent one that
 * verified; false otherwise. */
bool tls_peer_cn(struct ssl_st *ssl, char *out, size_t len);
/* tls-server-end-point channel binding (RFC 5929): the hash of the
 * server's certificate (ours when we accepted, the peer's when we
 * connected). Returns its length, 0 when there is none. */
size_t tls_end_point_hash(struct ssl_st *ssl, bool accepted, uint8_t *out, size_t len);
/* Why the peer's certificate was refused ("hostname mismatch"), or NULL. */
const char *tls_verify_error(struct ssl_st *ssl);
/* "TLSv1.3/TLS_AES_256_GCM_SHA384" for logs and SHOW. */
const char *tls_describe(struct ssl_st *ssl, char *buf, size_t len);

/* Append the libpq connection keywords that give its connections (health
 * checks, auth_query) the same TLS settings as pgtide's own; host is the
 * name checked under verify-full. Returns the new count (at most 5 added). */
int tls_libpq_params(const char **keys, const char **vals, int n, const char *host);

/* Parse a protocols list ("secure", "tlsv1.2,tlsv1.3", "all", "legacy"):
 * the lowest and highest protocol version allowed. Used by config checks
 * and unit tests. */
bool tls_parse_protocols(const char *list, int *min_version, int *max_version);

#endif
