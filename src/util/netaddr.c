/*
 * Socket addresses as text; see netaddr.h.
 */
#include "autoconf.h"

#include "netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

void netaddr_get(int fd, bool peer, char *addr, size_t alen, int *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	addr[0] = '\0';
	*port = 0;
	if (fd < 0 || (peer ? getpeername : getsockname)(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, (socklen_t)alen);
		*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, (socklen_t)alen);
		*port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	} else {
		snprintf(addr, alen, "unix");
	}
}

void netaddr_format(int fd, bool peer, char *buf, size_t len)
{
	char addr[64];
	int port;
	netaddr_get(fd, peer, addr, sizeof(addr), &port);
	if (!addr[0])
		snprintf(buf, len, "?");
	else if (!port)
		snprintf(buf, len, "%s", addr);
	else
		snprintf(buf, len, strchr(addr, ':') ? "[%s]:%d" : "%s:%d", addr, port);
}
