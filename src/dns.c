/*
 * Non-blocking name resolution for server addresses.
 *
 * Owns: the evdns base, pending lookups and a cache (30 s) of answers.
 * Never blocks: IP literals are parsed here, everything else is asked of
 * evdns in the loop.
 */
#include "autoconf.h"

#include "dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/dns.h>
#include <event2/util.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "log.h"
#include "pgtide.h"
#include "util/strbuf.h"

#define DNS_TTL (30 * USEC)

struct dns_cache {
	struct dns_cache *next;
	char *host;
	usec_t expires;
	struct sockaddr_storage addr;
	socklen_t len;
};

struct dns_req {
	struct dns_req *next;
	struct evdns_getaddrinfo_request *req;
	char *host;
	int port;
	dns_cb cb;
	void *arg;
};

static struct evdns_base *dnsbase;
static struct dns_cache *cache;
static struct dns_req *pending;

void dns_init(struct event_base *base)
{
	dnsbase = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (!dnsbase) {
		/* No resolv.conf: /etc/hosts and literals still work. */
		dnsbase = evdns_base_new(base, 0);
		if (dnsbase)
			evdns_base_load_hosts(dnsbase, NULL);
	}
}

void dns_shutdown(void)
{
	while (pending) {
		struct dns_req *r = pending;
		pending = r->next;
		if (r->req)
			evdns_getaddrinfo_cancel(r->req);
	}
	if (dnsbase)
		evdns_base_free(dnsbase, 0);
	dnsbase = NULL;
	while (cache) {
		struct dns_cache *c = cache;
		cache = c->next;
		free(c->host);
		free(c);
	}
}

static void set_port(struct sockaddr *sa, int port)
{
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
	else if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
}

static struct dns_cache *cache_find(const char *host)
{
	usec_t now = now_usec();
	for (struct dns_cache **pp = &cache; *pp;) {
		struct dns_cache *c = *pp;
		if (c->expires < now) {
			*pp = c->next;
			free(c->host);
			free(c);
			continue;
		}
		if (strcmp(c->host, host) == 0)
			return c;
		pp = &c->next;
	}
	return NULL;
}

bool dns_cached(int i, const char **host, long *ttl_left, char *addr, size_t alen)
{
	usec_t now = now_usec();
	const struct dns_cache *c = cache;
	for (; c && (c->expires < now || i > 0); c = c->next)
		if (c->expires >= now)
			i--;
	if (!c)
		return false;
	*host = c->host;
	*ttl_left = (long)((c->expires - now) / USEC);
	const struct sockaddr *sa = (const struct sockaddr *)&c->addr;
	const void *a = sa->sa_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
						  : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
	if (!inet_ntop(sa->sa_family, a, addr, (socklen_t)alen))
		snprintf(addr, alen, "?");
	return true;
}

static void dns_done(int result, struct evutil_addrinfo *res, void *arg)
{
	struct dns_req *r = arg;
	/* unlink */
	for (struct dns_req **pp = &pending; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	if (result == EVUTIL_EAI_CANCEL) {
		free(r->host);
		free(r);
		return;
	}
	if (!r->cb) {
		/* the asker went away */
	} else if (result != 0 || !res) {
		log_warn("could not resolve \"%s\": %s", r->host, evutil_gai_strerror(result));
		r->cb(r->arg, EHOSTUNREACH, NULL, 0);
	} else {
		struct dns_cache *c = xcalloc(1, sizeof(*c));
		c->host = xstrdup(r->host);
		c->expires = now_usec() + DNS_TTL;
		memcpy(&c->addr, res->ai_addr, res->ai_addrlen);
		c->len = (socklen_t)res->ai_addrlen;
		c->next = cache;
		cache = c;
		struct sockaddr_storage ss;
		memcpy(&ss, res->ai_addr, res->ai_addrlen);
		set_port((struct sockaddr *)&ss, r->port);
		r->cb(r->arg, 0, (struct sockaddr *)&ss, (socklen_t)res->ai_addrlen);
	}
	if (res)
		evutil_freeaddrinfo(res);
	free(r->host);
	free(r);
}

void dns_resolve(const char *host, int port, dns_cb cb, void *arg)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (host[0] == '/') {
		struct sockaddr_un *un = (struct sockaddr_un *)&ss;
		un->sun_family = AF_UNIX;
		int n = snprintf(un->sun_path, sizeof(un->sun_path), "%s/.s.PGSQL.%d", host, port);
		if (n < 0 || (size_t)n >= sizeof(un->sun_path)) {
			cb(arg, ENAMETOOLONG, NULL, 0);
			return;
		}
		cb(arg, 0, (struct sockaddr *)un, sizeof(*un));
		return;
	}
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		cb(arg, 0, (struct sockaddr *)in4, sizeof(*in4));
		return;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		cb(arg, 0, (struct sockaddr *)in6, sizeof(*in6));
		return;
	}
	struct dns_cache *c = cache_find(host);
	if (c) {
		memcpy(&ss, &c->addr, c->len);
		set_port((struct sockaddr *)&ss, port);
		cb(arg, 0, (struct sockaddr *)&ss, c->len);
		return;
	}
	if (!dnsbase) {
		cb(arg, EHOSTUNREACH, NULL, 0);
		return;
	}
	struct dns_req *r = xcalloc(1, sizeof(*r));
	r->host = xstrdup(host);
	r->port = port;
	r->cb = cb;
	r->arg = arg;
	r->next = pending;
	pending = r;
	struct evutil_addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
	/* evdns may answer inside this call (hosts file), freeing r: only a
	 * non-NULL handle means r is still pending. */
	struct evdns_getaddrinfo_request *req = evdns_getaddrinfo(dnsbase, host, NULL, &hints, dns_done, r);
	if (req)
		r->req = req;
}

void dns_cancel(void *arg)
{
	for (struct dns_req *r = pending; r; r = r->next)
		if (r->arg == arg) {
			r->cb = NULL;
			r->arg = NULL;
		}
}
