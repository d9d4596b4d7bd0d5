/*
 * Peers: forwarding CancelRequests to the process that owns the client.
 *
 * Owns: the peer bits of cancel keys (see peer.h), the forwarding
 * connections in flight (struct fwd) and per-peer counters. A forwarded
 * cancel carries PEER_FORWARDED and is never forwarded again, so a key
 * whose peer is misconfigured costs one hop, never a loop. The key itself
 * is checked only by its owner: forwarding adds no way to cancel anything
 * that a CancelRequest sent straight to the owner would not.
 *
 * Must not look up or act on clients: client.c does, with the client id
 * peer_route_cancel gives back. Nothing here blocks: names resolve through
 * dns.c, the connection is non-blocking, and a peer that does not answer
 * costs only its own cancel (after PEER_CANCEL_TIMEOUT_SEC).
 */
#include "autoconf.h"

#include "peer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "dns.h"
#include "log.h"
#include "pgtide.h"
#include "pktbuf.h"

struct fwd {
	struct list node;        /* in flight */
	int peer;
	int fd;
	bool resolving;
	struct event ev;
	bool ev_added;
	uint8_t pkt[16];
};

struct peer_stats {
	uint64_t forwarded, failed, received;
	usec_t logged_at;        /* its last failure that was logged */
	char last_error[96];
};

/* A failing peer is logged when its error changes, else once a minute:
 * anyone who can connect can send cancels for it. */
#define PEER_LOG_EVERY_USEC (60 * USEC)

static struct list in_flight = LIST_INIT(in_flight);
static struct peer_stats stats[PEER_ID_MAX + 1];

bool peer_enabled(void)
{
	return S()->peer_id > 0;
}

uint32_t peer_cancel_pid(uint32_t client_id)
{
	if (!peer_enabled())
		return PID_MARK | (client_id & CLIENT_ID_MASK);
	return PID_MARK | ((uint32_t)S()->peer_id << PEER_ID_SHIFT) | (client_id & PEER_CLIENT_MASK);
}

static void fwd_free(struct fwd *f)
{
	if (f->resolving)
		dns_cancel(f);
	if (f->ev_added)
		event_del(&f->ev);
	if (f->fd >= 0)
		close(f->fd);
	list_del(&f->node);
	free(f);
}

static void fwd_failed(struct fwd *f, const char *why)
{
	struct peer_stats *st = &stats[f->peer];
	st->failed++;
	usec_t now = now_usec();
	if (strcmp(st->last_error, why) != 0 || now - st->logged_at >= PEER_LOG_EVERY_USEC) {
		log_warn("could not forward a cancel request to peer %d: %s (%llu failed so far)", f->peer, why,
			 (unsigned long long)st->failed);
		st->logged_at = now;
	} else {
		log_debug("could not forward a cancel request to peer %d: %s", f->peer, why);
	}
	snprintf(st->last_error, sizeof(st->last_error), "%s", why);
	fwd_free(f);
}

static void fwd_writable(evutil_socket_t fd, short what, void *arg)
{
	struct fwd *f = arg;
	f->ev_added = false;
	if (what & EV_TIMEOUT) {
		fwd_failed(f, "connection timed out");
		return;
	}
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		fwd_failed(f, strerror(err));
		return;
	}
	/* 16 bytes on a fresh connection: written whole or not at all */
	if (send(fd, f->pkt, sizeof(f->pkt), MSG_NOSIGNAL) != (ssize_t)sizeof(f->pkt)) {
		fwd_failed(f, strerror(errno));
		return;
	}
	stats[f->peer].forwarded++;
	log_debug("cancel request forwarded to peer %d", f->peer);
	fwd_free(f);
}

static void fwd_resolved(void *arg, int err, const struct sockaddr *sa, socklen_t len)
{
	struct fwd *f = arg;
	f->resolving = false;
	if (err) {
		fwd_failed(f, "could not resolve the peer's host");
		return;
	}
	f->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (f->fd < 0) {
		fwd_failed(f, strerror(errno));
		return;
	}
	if (connect(f->fd, sa, len) < 0 && errno != EINPROGRESS && errno != EAGAIN) {
		fwd_failed(f, strerror(errno));
		return;
	}
	event_assign(&f->ev, g.base, f->fd, EV_WRITE, fwd_writable, f);
	struct timeval tv = { PEER_CANCEL_TIMEOUT_SEC, 0 };
	event_add(&f->ev, &tv);
	f->ev_added = true;
}

static void forward(const struct peer_config *p, uint32_t pid, uint32_t key)
{
	struct fwd *f = xcalloc(1, sizeof(*f));
	f->peer = p->id;
	f->fd = -1;
	list_add_tail(&in_flight, &f->node);
	struct pktbuf pb;
	pkt_init_fixed(&pb, f->pkt, sizeof(f->pkt));
	pkt_cancel_request(&pb, pid | PEER_FORWARDED, key);
	f->resolving = true;
	dns_resolve(p->host, p->port, fwd_resolved, f); /* may answer at once */
}

bool peer_route_cancel(uint32_t pid, uint32_t key, uint32_t *client_id)
{
	int self = S()->peer_id;
	bool forwarded = (pid & PEER_FORWARDED) != 0;
	pid &= ~PEER_FORWARDED;
	if (!(pid & PID_MARK)) {
		*client_id = 0; /* a real backend's pid, or garbage: no client of ours */
		return false;
	}
	pid &= ~PID_MARK;
	if (!self) {
		*client_id = pid;
		return false;
	}
	int owner = (int)(pid >> PEER_ID_SHIFT);
	*client_id = pid & PEER_CLIENT_MASK;
	if (owner == self) {
		if (forwarded)
			stats[self].received++;
		return false;
	}
	if (forwarded) {
		/* a peer sent us what is not ours: never a second hop */
		log_debug("forwarded cancel request for peer %d, not this one (%d): dropped", owner, self);
		return true;
	}
	const struct peer_config *p = config_find_peer(g.cfg, owner);
	if (!p) {
		log_debug("cancel request for unknown peer %d dropped", owner);
		return true;
	}
	forward(p, pid | PID_MARK, key);
	return true;
}

void peer_shutdown(void)
{
	while (!list_empty(&in_flight))
		fwd_free(container_of(list_first(&in_flight), struct fwd, node));
}

bool peer_info(int i, struct peer_info *out)
{
	if (i < 0 || i >= g.cfg->n_peers)
		return false;
	const struct peer_config *p = &g.cfg->peers[i];
	const struct peer_stats *st = &stats[p->id];
	out->id = p->id;
	out->host = p->host;
	out->port = p->port;
	out->self = p->id == S()->peer_id;
	out->forwarded = st->forwarded;
	out->failed = st->failed;
	out->received = st->received;
	out->last_error = st->last_error;
	out->in_flight = 0;
	struct list *ln;
	list_for_each(ln, &in_flight)
		out->in_flight += container_of(ln, struct fwd, node)->peer == p->id;
	return true;
}
