/*
 * Listening sockets and accept.
 *
 * Owns: struct listener objects. When accept fails with EMFILE/ENFILE the
 * listener would fire forever; instead a reserved fd is given up to accept
 * the client, tell it why it is refused, and close it, and accepting pauses
 * for a moment so the loop never spins.
 */
#include "autoconf.h"

#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "log.h"
#include "pgtide.h"
#include "pktbuf.h"
#include "util/strbuf.h"

static int spare_fd = -1;
static struct list closed = LIST_INIT(closed);

static void reserve_spare(void)
{
	if (spare_fd < 0)
		spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void listener_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;
	(void)fd;
	(void)what;
	l->paused = false;
	if (!g.shutting_down)
		event_add(&l->ev, NULL);
}

/* Out of fds: refuse one waiting client with a message, then rest 100 ms. */
static void refuse_for_fds(struct listener *l)
{
	if (spare_fd >= 0) {
		close(spare_fd);
		spare_fd = -1;
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			uint8_t buf[256];
			struct pktbuf pb;
			pkt_init_fixed(&pb, buf, sizeof(buf));
			pkt_error(&pb, "FATAL", "53300", "no more connections allowed: pgtide has reached its open-file limit");
			if (!pb.failed && write(fd, buf, pb.len) < 0) {
				/* the client went away; nothing to tell */
			}
			close(fd);
		}
		reserve_spare();
	}
	log_warn("accept: out of file descriptors; refusing new clients for 100 ms");
	event_del(&l->ev);
	l->paused = true;
	struct timeval tv = { 0, 100000 };
	evtimer_assign(&l->retry_ev, g.base, listener_resume_cb, l);
	evtimer_add(&l->retry_ev, &tv);
}

static void accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;
	(void)what;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int cfd = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
				return;
			if (errno == EMFILE || errno == ENFILE) {
				refuse_for_fds(l);
				return;
			}
			log_warn("accept failed: %s", strerror(errno));
			return;
		}
		if (ss.ss_family == AF_UNIX) {
			/* report the listener's port for unix clients */
			len = sizeof(struct sockaddr_un);
		}
		client_accept(l, cfd, (struct sockaddr *)&ss, len);
	}
}

static struct listener *listener_add(int fd, bool admin_only, bool unix_socket, const char *addr, int port)
{
	struct listener *l = xcalloc(1, sizeof(*l));
	l->fd = fd;
	l->admin_only = admin_only;
	l->unix_socket = unix_socket;
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	l->port = port;
	l->lock_fd = -1;
	event_assign(&l->ev, g.base, fd, EV_READ | EV_PERSIST, accept_cb, l);
	event_add(&l->ev, NULL);
	list_add_tail(&g.listeners, &l->node);
	return l;
}

static bool listen_tcp(const char *host, int port, bool admin_only)
{
	struct addrinfo hints, *res = NULL;
	char portstr[16];
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(portstr, sizeof(portstr), "%d", port);
	const char *h = strcmp(host, "*") == 0 ? NULL : host;
	int rc = getaddrinfo(h, portstr, &hints, &res);
	if (rc != 0) {
		log_error("could not resolve listen address \"%s\": %s", host, gai_strerror(rc));
		return false;
	}
	int bound = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (S()->so_reuseport)
			setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		char name[NI_MAXHOST] = "?";
		getnameinfo(ai->ai_addr, ai->ai_addrlen, name, sizeof(name), NULL, 0, NI_NUMERICHOST);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, S()->listen_backlog) < 0) {
			log_error("could not listen on %s:%d: %s", name, port, strerror(errno));
			close(fd);
			continue;
		}
		listener_add(fd, admin_only, false, name, port);
		log_info("listening on %s:%d%s", name, port, admin_only ? " (admin console only)" : "");
		bound++;
	}
	freeaddrinfo(res);
	return bound > 0;
}

static bool listen_unix(const char *dir, int port)
{
	struct sockaddr_un un;
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	int n = snprintf(un.sun_path, sizeof(un.sun_path), "%s/.s.PGSQL.%d", dir, port);
	if (n < 0 || (size_t)n >= sizeof(un.sun_path)) {
		log_error("unix socket path too long: %s/.s.PGSQL.%d", dir, port);
		return false;
	}
	/* A lock file says whether a live process owns the socket. */
	char lock[sizeof(un.sun_path) + 8];
	snprintf(lock, sizeof(lock), "%s.lock", un.sun_path);
	int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0) {
		log_error("could not open lock file \"%s\": %s", lock, strerror(errno));
		return false;
	}
	if (flock(lfd, LOCK_EX | LOCK_NB) < 0) {
		log_error("unix socket \"%s\" is in use by another process (lock file %s)", un.sun_path, lock);
		close(lfd);
		return false;
	}
	char pid[32];
	int pl = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(lfd, 0) < 0 || write(lfd, pid, (size_t)pl) < 0) {
		/* informational only */
	}
	unlink(un.sun_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0 || listen(fd, S()->listen_backlog) < 0) {
		log_error("could not listen on unix socket \"%s\": %s", un.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		close(lfd);
		unlink(lock);
		return false;
	}
	chmod(un.sun_path, (mode_t)S()->unix_socket_mode);
	if (S()->unix_socket_group && *S()->unix_socket_group) {
		struct group *gr = getgrnam(S()->unix_socket_group);
		if (!gr || chown(un.sun_path, (uid_t)-1, gr->gr_gid) < 0)
			log_warn("could not set group \"%s\" on %s", S()->unix_socket_group, un.sun_path);
	}
	struct listener *l = listener_add(fd, false, true, "unix", port);
	l->path = xstrdup(un.sun_path);
	l->lock_path = xstrdup(lock);
	l->lock_fd = lfd;
	log_info("listening on unix socket %s", un.sun_path);
	return true;
}

bool listeners_open(void)
{
	const struct settings *s = S();
	list_init(&g.listeners);
	reserve_spare();
	bool any = false;
	if (s->listen_addr && *s->listen_addr) {
		char *copy = xstrdup(s->listen_addr), *save = NULL;
		for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			tok = str_trim(tok);
			if (!*tok)
				continue;
			if (!listen_tcp(tok, s->listen_port, false)) {
				free(copy);
				return false;
			}
			any = true;
		}
		free(copy);
	}
	if (s->unix_socket_dir && *s->unix_socket_dir) {
		if (!listen_unix(s->unix_socket_dir, s->listen_port))
			return false;
		any = true;
	}
	if (s->admin_listen_port) {
		const char *a = (s->listen_addr && *s->listen_addr) ? s->listen_addr : "127.0.0.1";
		char *copy = xstrdup(a), *save = NULL;
		for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			tok = str_trim(tok);
			if (*tok && !listen_tcp(tok, s->admin_listen_port, true)) {
				free(copy);
				return false;
			}
		}
		free(copy);
	}
	if (!any)
		log_error("nothing to listen on");
	return any;
}

void listeners_pause(bool paused)
{
	struct list *ln;
	list_for_each(ln, &g.listeners) {
		struct listener *l = container_of(ln, struct listener, node);
		if (l->admin_only)
			continue; /* the way back in, to RESUME */
		if (paused)
			event_del(&l->ev);
		else if (!l->paused)
			event_add(&l->ev, NULL);
	}
}

void listeners_close(void)
{
	struct list *ln, *tmp;
	list_for_each_safe(ln, tmp, &g.listeners) {
		struct listener *l = container_of(ln, struct listener, node);
		event_del(&l->ev);
		if (l->paused)
			event_del(&l->retry_ev);
		close(l->fd);
		l->fd = -1;
		if (l->path) {
			unlink(l->path);
			free(l->path);
			l->path = NULL;
		}
		if (l->lock_path) {
			unlink(l->lock_path);
			free(l->lock_path);
			l->lock_path = NULL;
		}
		if (l->lock_fd >= 0)
			close(l->lock_fd);
		/* clients keep a pointer for SHOW CLIENTS: freed at exit */
		list_del(&l->node);
		list_add_tail(&closed, &l->node);
	}
	if (spare_fd >= 0) {
		close(spare_fd);
		spare_fd = -1;
	}
}

void listeners_free(void)
{
	struct list *ln, *tmp;
	list_for_each_safe(ln, tmp, &closed) {
		struct listener *l = container_of(ln, struct listener, node);
		list_del(&l->node);
		free(l);
	}
}
