/*
 * How a client connection is named (see clientname.h). Owns nothing.
 */
#include "autoconf.h"

#include "clientname.h"

#include <arpa/inet.h>
#include <stdio.h>

void client_addr_string(const struct client *c, char *buf, size_t len)
{
	if (c->family == AF_INET)
		inet_ntop(AF_INET, c->addr, buf, (socklen_t)len);
	else if (c->family == AF_INET6)
		inet_ntop(AF_INET6, c->addr, buf, (socklen_t)len);
	else
		snprintf(buf, len, "unix");
}

const char *client_prefix(const struct client *c, char *buf, size_t len)
{
	char addr[64];
	client_addr_string(c, addr, sizeof(addr));
	const char *db = c->db ? c->db->name : (c->login && c->login->db_name ? c->login->db_name : "(login)");
	const char *user = c->user ? c->user->name : (c->login && c->login->user_name ? c->login->user_name : "");
	snprintf(buf, len, "C-%u %s/%s@%s:%u", c->id, db, user, addr, c->port);
	return buf;
}
