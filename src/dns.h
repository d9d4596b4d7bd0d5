/*
 * Resolving server addresses without blocking the loop.
 *
 * Owns: libevent's evdns base and a small cache of answers. IP literals and
 * unix socket directories are answered at once; names go through evdns
 * (which reads /etc/hosts and resolv.conf) and are cached for a while.
 */
#ifndef PGTIDE_DNS_H
#define PGTIDE_DNS_H

#include <stdbool.h>
#include <sys/socket.h>

#include <event2/event.h>

typedef void (*dns_cb)(void *arg, int err, const struct sockaddr *sa, socklen_t len);

void dns_init(struct event_base *base);
void dns_shutdown(void);
/* Resolve host:port (or a unix socket directory) and call cb, possibly
 * before returning. err is 0 or an errno-style code. */
void dns_resolve(const char *host, int port, dns_cb cb, void *arg);
/* Cancel a pending resolution for arg (the caller is going away). */
void dns_cancel(void *arg);
/* The i-th cached answer (SHOW DNS_HOSTS): its host name, seconds it is
 * kept for yet, and the address; false past the last. */
bool dns_cached(int i, const char **host, long *ttl_left, char *addr, size_t alen);

#endif
