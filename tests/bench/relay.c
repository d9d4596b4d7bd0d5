/*
 * A 1:1 TCP relay for the benchmarks: every client connection gets a
 * connection of its own to the upstream, and bytes pass both ways with one
 * read and one write per event, parsed never. No pooler can do less work
 * per byte, so its CPU per transaction is the floor the poolers' costs are
 * read against (tests/bench/compare.sh).
 *
 *   relay LISTEN_PORT UPSTREAM_PORT      (both on 127.0.0.1; one thread, epoll)
 *
 * Back-pressure: a side whose peer could not take everything stops being
 * read until the peer has written the rest.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFSZ (64 * 1024)

struct side {
	int fd;
	struct side *peer;
	char *pend;      /* bytes read here that the peer has not taken yet */
	size_t pend_off, pend_len;
	char buf[BUFSZ];
};

static int ep;

static void watch(struct side *s, int op, unsigned events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };
	epoll_ctl(ep, op, s->fd, &ev);
}

static void close_pair(struct side *s)
{
	struct side *p = s->peer;
	close(s->fd);
	close(p->fd);
	free(s);
	free(p);
}

static int nodelay(int fd)
{
	int one = 1;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void accept_one(int lfd, int upstream_port)
{
	int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
	if (cfd < 0)
		return;
	int ufd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)upstream_port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (ufd < 0 || connect(ufd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		/* a blocking connect on loopback: the benchmark opens few */
		close(cfd);
		if (ufd >= 0)
			close(ufd);
		return;
	}
	nodelay(cfd);
	nodelay(ufd);
	struct side *c = calloc(1, sizeof(*c)), *u = calloc(1, sizeof(*u));
	if (!c || !u) {
		close(cfd);
		close(ufd);
		free(c);
		free(u);
		return;
	}
	c->fd = cfd;
	u->fd = ufd;
	c->peer = u;
	u->peer = c;
	watch(c, EPOLL_CTL_ADD, EPOLLIN);
	watch(u, EPOLL_CTL_ADD, EPOLLIN);
}

/* s is readable: one read, one write to the peer. false: the pair closed. */
static int on_read(struct side *s)
{
	ssize_t n = read(s->fd, s->buf, BUFSZ);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		return 0;
	if (n < 0)
		return 1;
	ssize_t w = write(s->peer->fd, s->buf, (size_t)n);
	if (w < 0 && errno != EAGAIN)
		return 0;
	if (w < 0)
		w = 0;
	if (w < n) {
		s->pend = s->buf;
		s->pend_off = (size_t)w;
		s->pend_len = (size_t)n;
		watch(s, EPOLL_CTL_MOD, 0);                   /* stop reading s */
		watch(s->peer, EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT);
	}
	return 1;
}

/* s is writable: the rest of what its peer read. */
static int on_write(struct side *s)
{
	struct side *src = s->peer;
	if (!src->pend) {
		watch(s, EPOLL_CTL_MOD, EPOLLIN);
		return 1;
	}
	ssize_t w = write(s->fd, src->pend + src->pend_off, src->pend_len - src->pend_off);
	if (w < 0 && errno != EAGAIN)
		return 0;
	if (w > 0)
		src->pend_off += (size_t)w;
	if (src->pend_off == src->pend_len) {
		src->pend = NULL;
		watch(s, EPOLL_CTL_MOD, EPOLLIN);
		watch(src, EPOLL_CTL_MOD, EPOLLIN);
	}
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: relay LISTEN_PORT UPSTREAM_PORT\n");
		return 2;
	}
	int upstream = atoi(argv[2]);
	signal(SIGPIPE, SIG_IGN);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 1024) < 0) {
		perror("relay: listen");
		return 1;
	}
	ep = epoll_create1(0);
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
	struct epoll_event evs[256];
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int i = 0; i < n; i++) {
			struct side *s = evs[i].data.ptr;
			if (!evs[i].events)
				continue; /* its pair closed earlier in this batch */
			if (!s) {
				accept_one(lfd, upstream);
				continue;
			}
			int ok = 1;
			if (evs[i].events & EPOLLOUT)
				ok = on_write(s);
			if (ok && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !s->pend)
				ok = on_read(s);
			if (!ok) {
				/* the other side may come later in this batch: drop it */
				for (int j = i + 1; j < n; j++)
					if (evs[j].data.ptr == s->peer)
						evs[j].events = 0;
				close_pair(s);
			}
		}
	}
}
