/*
 * The admin console.
 *
 * Owns: parsing of console commands and building their result sets.
 * Output is built on the heap (a SHOW of 100,000 clients is large) and
 * queued as one block.
 */
#include "autoconf.h"

#include "admin.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "client.h"
#include "log.h"
#include "pool.h"
#include "util/strbuf.h"

bool admin_is_console_db(const char *name)
{
	return strcmp(name, "pgtide") == 0 || strcmp(name, "pgbouncer") == 0;
}

static void queue_block(struct client *c, struct pktbuf *pb)
{
	if (pb->failed || !sbuf_queue_heap(&c->sb, pb->buf, pb->len)) {
		if (!pb->failed)
			pb->buf = NULL;
		pkt_free(pb);
		client_close(c, "53200", "out of memory");
		return;
	}
}

void admin_login(struct client *c)
{
	const char *user = c->user->name;
	bool admin = cfg_list_contains(S()->admin_users, user);
	bool stats = cfg_list_contains(S()->stats_users, user);
	if (!admin && !stats) {
		client_login_fail(c, "28000", "not allowed to connect to the admin console (user \"%s\" is not in admin_users or stats_users)", user);
		return;
	}
	c->admin = true;
	c->admin_full = admin;
	struct pktbuf pb;
	pkt_init_growable(&pb, 512);
	pkt_auth(&pb, AUTH_REQ_OK, NULL, 0);
	pkt_param_status(&pb, "server_version", PACKAGE_VERSION "/pgtide");
	pkt_param_status(&pb, "client_encoding", "UTF8");
	pkt_param_status(&pb, "server_encoding", "UTF8");
	pkt_param_status(&pb, "DateStyle", "ISO");
	pkt_param_status(&pb, "TimeZone", "UTC");
	pkt_param_status(&pb, "standard_conforming_strings", "on");
	pkt_param_status(&pb, "integer_datetimes", "on");
	pkt_param_status(&pb, "application_name", "");
	pkt_backend_key(&pb, c->id, c->cancel_key);
	pkt_rfq(&pb, 'I');
	queue_block(c, &pb);
	if (c->login) {
		struct login_state *l = c->login;
		c->login = NULL;
		auth_free_state(l);
	}
	list_del(&c->node);
	list_add_tail(&g.admin_clients, &c->node);
	c->state = CL_ACTIVE;
	if (S()->log_connections)
		client_log(c, LV_LOG, "login attempt: db=pgtide user=%s (admin console)", user);
	sbuf_flush(&c->sb);
	sbuf_continue(&c->sb);
}

static void send_rows(struct client *c, int ncols, const char *const *names, const uint32_t *types, int nrows,
		      const char *const *cells, const char *tag)
{
	struct pktbuf pb;
	pkt_init_growable(&pb, 1024);
	pkt_row_description(&pb, ncols, names, types);
	for (int r = 0; r < nrows; r++)
		pkt_data_row(&pb, ncols, cells + (size_t)r * (size_t)ncols);
	pkt_command_complete(&pb, tag);
	pkt_rfq(&pb, 'I');
	queue_block(c, &pb);
}

static void send_error(struct client *c, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void send_error(struct client *c, const char *sqlstate, const char *fmt, ...)
{
	struct pktbuf pb;
	va_list ap;
	pkt_init_growable(&pb, 256);
	va_start(ap, fmt);
	pkt_verror(&pb, "ERROR", sqlstate, fmt, ap);
	va_end(ap);
	pkt_rfq(&pb, 'I');
	queue_block(c, &pb);
}

static void admin_command(struct client *c, const char *q)
{
	char cmd[256];
	size_t n = 0;
	while (isspace((unsigned char)*q))
		q++;
	for (; *q && *q != ';' && n + 1 < sizeof(cmd); q++)
		cmd[n++] = (char)toupper((unsigned char)*q);
	while (n > 0 && isspace((unsigned char)cmd[n - 1]))
		n--;
	cmd[n] = '\0';
	if (strcmp(cmd, "SHOW VERSION") == 0) {
		const char *names[] = { "version" };
		const uint32_t types[] = { OID_TEXT };
		const char *cells[] = { "pgtide " PACKAGE_VERSION };
		send_rows(c, 1, names, types, 1, cells, "SHOW");
		return;
	}
	send_error(c, "42601", "invalid command \"%s\"; try SHOW HELP", cmd);
}

enum sb_verdict admin_on_msg(struct client *c, const struct pmsg *m)
{
	switch (m->type) {
	case 'X':
		client_close(c, NULL, NULL);
		return SB_CLOSED;
	case 'Q': {
		const char *q;
		size_t len;
		if (!proto_parse_query(m, &q, &len)) {
			client_close(c, "08P01", "malformed Query message");
			return SB_CLOSED;
		}
		admin_command(c, q);
		return SB_DROP;
	}
	case 'S':
		send_error(c, "0A000", "the admin console speaks only the simple query protocol");
		return SB_DROP;
	default:
		return SB_DROP;
	}
}
