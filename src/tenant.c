/*
 * Tenant context.
 *
 * Owns: struct tenant records and their table, the compiled tenant_pattern,
 * and the SQL pgtide sends to put a tenant in effect on a server. A record
 * lives while a client or server holds it, then waits on an LRU list so
 * SHOW TENANTS keeps recent counters; the list is capped, so a million
 * distinct tenants cost a bounded amount of memory.
 *
 * Must not write to a connection: the SET is built here and queued by
 * server.c (server_queue_tenant_set).
 */
#include "autoconf.h"

#include "tenant.h"

#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pktbuf.h"
#include "proto.h"
#include "session.h"
#include "util/strbuf.h"

#define TENANT_ID_MAX 1024       /* hard cap, whatever tenant_pattern says */
#define TENANT_IDLE_KEEP 100000  /* unheld records kept for their counters */

static struct htab table;
static struct list idle = LIST_INIT(idle);
static size_t n_idle;
static regex_t pattern;
static bool have_pattern;
static char set_prefix[160]; /* SET "app"."current_tenant_id" TO ' */
static size_t set_prefix_len;

static bool tenant_eq(const struct hnode *n, const void *key)
{
	return strcmp(container_of(n, struct tenant, hn)->id, key) == 0;
}

void tenant_module_init(void)
{
	htab_init(&table);
}

static void tenant_destroy(struct tenant *t)
{
	htab_remove(&table, &t->hn);
	list_del(&t->lru);
	free(t);
}

void tenant_module_free(void)
{
	struct list *ln, *tmp;
	list_for_each_safe(ln, tmp, &idle) {
		struct tenant *t = container_of(ln, struct tenant, lru);
		tenant_destroy(t);
	}
	htab_free(&table);
	if (have_pattern)
		regfree(&pattern);
	have_pattern = false;
}

bool tenant_configure(char *err, size_t errlen)
{
	if (have_pattern)
		regfree(&pattern);
	have_pattern = false;
	const char *pat = S()->tenant_pattern;
	if (pat && *pat) {
		int rc = regcomp(&pattern, pat, REG_EXTENDED | REG_NOSUB);
		if (rc != 0) {
			regerror(rc, &pattern, err, errlen);
			return false;
		}
		have_pattern = true;
	}
	set_prefix[0] = '\0';
	if (g.tenant_setting) {
		/* each part double-quoted: any valid name, reserved words included */
		size_t n = (size_t)snprintf(set_prefix, sizeof(set_prefix), "SET \"");
		for (const char *p = g.tenant_setting; *p && n + 8 < sizeof(set_prefix); p++) {
			if (*p == '.') {
				memcpy(set_prefix + n, "\".\"", 3);
				n += 3;
			} else {
				set_prefix[n++] = *p;
			}
		}
		snprintf(set_prefix + n, sizeof(set_prefix) - n, "\" TO '");
	}
	set_prefix_len = strlen(set_prefix);
	return true;
}

bool tenant_valid(const char *id, char *err, size_t errlen)
{
	size_t len = strlen(id);
	const char *name = g.tenant_setting ? g.tenant_setting : "tenant";
	if (len == 0 || len > TENANT_ID_MAX) {
		snprintf(err, errlen, "invalid value for parameter \"%s\": a tenant id has 1 to %d bytes", name,
			 TENANT_ID_MAX);
		return false;
	}
	/* Never, whatever tenant_pattern allows: these could leave the quoted
	 * literal the SET is built with. */
	for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
		if (*p == '\'' || *p == '\\' || *p < 0x20 || *p == 0x7f) {
			snprintf(err, errlen, "invalid value for parameter \"%s\": quotes, backslashes and control "
				 "characters are not allowed in a tenant id", name);
			return false;
		}
	}
	if (have_pattern && regexec(&pattern, id, 0, NULL, 0) != 0) {
		snprintf(err, errlen, "invalid value for parameter \"%s\": \"%.64s%s\" does not match tenant_pattern",
			 name, id, len > 64 ? "..." : "");
		return false;
	}
	return true;
}

struct tenant *tenant_get(const char *id)
{
	uint64_t h = hash_str(id);
	struct hnode *n = htab_find(&table, h, tenant_eq, id);
	struct tenant *t;
	if (n) {
		t = container_of(n, struct tenant, hn);
		if (t->refs == 0) {
			list_del(&t->lru);
			n_idle--;
		}
	} else {
		size_t len = strlen(id);
		t = xcalloc(1, sizeof(*t) + len + 1);
		memcpy(t->id, id, len + 1);
		t->len = (uint32_t)len;
		list_init(&t->lru);
		htab_insert(&table, &t->hn, h);
	}
	t->refs++;
	t->last_used = now_usec();
	return t;
}

struct tenant *tenant_ref(struct tenant *t)
{
	if (t)
		t->refs++;
	return t;
}

void tenant_unref(struct tenant *t)
{
	if (!t || --t->refs)
		return;
	/* keep its counters a while; the oldest unheld record goes first */
	list_add_tail(&idle, &t->lru);
	n_idle++;
	while (n_idle > TENANT_IDLE_KEEP) {
		struct tenant *old = container_of(list_first(&idle), struct tenant, lru);
		n_idle--;
		tenant_destroy(old);
	}
}

bool tenant_over_client_limit(const struct client *c, struct tenant *t, char *err, size_t errlen)
{
	int limit = S()->max_tenant_connections;
	if (!t || limit <= 0 || c->tenant == t || t->clients < (uint32_t)limit)
		return false;
	t->refused_connections++;
	snprintf(err, errlen, "too many connections for tenant \"%.64s\" (max_tenant_connections = %d)", t->id, limit);
	return true;
}

void tenant_attach(struct client *c, struct tenant *t)
{
	if (c->tenant == t)
		return;
	if (c->tenant) {
		c->tenant->clients--;
		tenant_unref(c->tenant);
	}
	c->tenant = tenant_ref(t);
	if (t)
		t->clients++;
}

/* ---- servers ---- */

bool tenant_in_effect(const struct server *s, const struct client *c, bool replies_owed)
{
	/* The value this client needs, with no group open that could still
	 * undo it. Set for this very client; or for another, when the two are
	 * application clients (no bound user, whose SQL is not trusted, on
	 * either side) of the same tenant or both of none: then nothing pgtide
	 * can see changed it (its lexer forgets the value on any statement that
	 * names the setting), and what a trusted client's own functions do to
	 * it is the application's business, as for any setting between its own
	 * clients. tenant_switch_reset = always asks for the SET every time. */
	if (!s->ten.known || server_unsynced(s) || s->ten.val != c->tenant)
		return false;
	if (s->ten.client != c->id &&
	    (s->ten.bound || c->user->tenant || S()->tenant_switch_reset == TSR_ALWAYS))
		return false;
	/* A reply still owed may end the transaction the SET is part of and
	 * roll it back. Not when the SET is committed, nor inside an explicit
	 * block no COMMIT or ROLLBACK was sent to since (a ROLLBACK TO
	 * SAVEPOINT there brings back only values this client's own
	 * transaction set). */
	return !replies_owed || !s->ten.pending || (s->status == 'T' && s->phase != TX_EXITING);
}

static void set_val(struct tenant **slot, struct tenant *t)
{
	if (*slot == t)
		return;
	tenant_unref(*slot);
	*slot = tenant_ref(t);
}

void tenant_server_forget(struct server *s)
{
	s->ten.known = false;
	s->ten.pending = false;
}

void tenant_wait_failed(struct server *s, const char *err)
{
	free(s->ten.wait_error);
	s->ten.wait_error = xstrdup(err);
	tenant_server_forget(s);
}

char *tenant_wait_done(struct server *s, char st)
{
	char *err = s->ten.wait_error;
	s->ten.wait_error = NULL;
	if (!err && st == 'I')
		s->ten.pending = false; /* its own transaction committed */
	return err;
}

void tenant_server_txn_end(struct server *s)
{
	if (s->ten.pending && s->txn_bad)
		s->ten.known = false; /* rolled back: the SET went with it */
	s->ten.pending = false;
}

void tenant_server_free(struct server *s)
{
	tenant_unref(s->ten.val);
	s->ten.val = NULL;
	free(s->ten.wait_error);
	s->ten.wait_error = NULL;
}

static void owe(struct tenant_set *ts, uint8_t type, uint16_t flags)
{
	ts->owed[ts->n].type = type;
	ts->owed[ts->n].flags = flags;
	ts->n++;
}

bool tenant_build_set(const struct server *s, const struct client *c, bool wait, struct pktbuf *pb,
		      struct tenant_set *ts)
{
	/* SET "a"."b" TO 'id' (tenant_valid keeps quotes and backslashes out
	 * of an id), put together without printf: this runs for most
	 * transactions */
	const struct tenant *t = c->tenant;
	char sql[sizeof(set_prefix) + TENANT_ID_MAX + 2];
	size_t idlen = t ? strlen(t->id) : 0;
	memcpy(sql, set_prefix, set_prefix_len);
	memcpy(sql + set_prefix_len, t ? t->id : "", idlen);
	sql[set_prefix_len + idlen] = '\'';
	sql[set_prefix_len + idlen + 1] = '\0';
	memset(ts, 0, sizeof(*ts));
	ts->wait = wait;
	if (wait) {
		pkt_query(pb, sql);
		owe(ts, FE_QUERY, RQ_CONSUME | RQ_TENANT | RQ_WAIT);
		return !pb->failed;
	}
	/* a named portal when the client may have left its unnamed one
	 * suspended to fetch more rows later */
	int n = pkt_own_statement(pb, sql, set_prefix_len + idlen + 1, s->portal_suspendable ? PKT_OWN_PORTAL : NULL);
	for (int i = 0; i < n; i++)
		owe(ts, pkt_own_types[i], RQ_CONSUME | RQ_TENANT);
	return !pb->failed;
}

void tenant_set_sent(struct server *s, const struct client *c)
{
	struct tenant *t = c->tenant;
	set_val(&s->ten.val, t);
	s->ten.known = true;
	s->ten.pending = true;
	s->ten.client = c->id;
	s->ten.bound = c->user->tenant != NULL;
}

struct tenant *tenant_next(struct tenant *t, size_t *it)
{
	struct hnode *n = htab_next(&table, t ? &t->hn : NULL, it);
	return n ? container_of(n, struct tenant, hn) : NULL;
}

size_t tenant_count(void)
{
	return table.count;
}
