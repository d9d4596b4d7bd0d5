/*
 * Socket addresses as text, for logs and SHOW output.
 *
 * Owns: turning a connected socket's local or peer address into words.
 * Must not touch: the socket itself (only getsockname/getpeername).
 */
#ifndef PGTIDE_NETADDR_H
#define PGTIDE_NETADDR_H

#include <stdbool.h>
#include <stddef.h>

/* The address alone ("127.0.0.1", "::1", "unix") and its port (0 for a
 * unix socket). Empty when the socket has none. */
void netaddr_get(int fd, bool peer, char *addr, size_t alen, int *port);

/* "127.0.0.1:5432", "[::1]:5432" or "unix", the way PgBouncer's logs
 * write an address. */
void netaddr_format(int fd, bool peer, char *buf, size_t len);

#endif
