/*
 * sd_notify over $NOTIFY_SOCKET (see sdnotify.h).
 *
 * Owns: the socket path read at start. A failed send is ignored: the
 * service manager then times the start out, which says more than a log
 * line could.
 */
#include "autoconf.h"

#include "util/sdnotify.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static struct sockaddr_un addr;
static socklen_t addr_len;

void sdnotify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	addr_len = 0;
	if (!path || !*path || strlen(path) >= sizeof(addr.sun_path))
		return;
	if (path[0] != '/' && path[0] != '@')
		return; /* vsock and other kinds: not ours to support */
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, path, strlen(path));
	if (path[0] == '@')
		addr.sun_path[0] = '\0'; /* the abstract namespace */
	addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
}

void sdnotify(const char *fmt, ...)
{
	if (!addr_len)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	ssize_t r = sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (const struct sockaddr *)&addr, addr_len);
	(void)r;
	close(fd);
}
