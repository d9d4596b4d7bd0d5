/*
 * Read your writes.
 *
 * Owns: struct ryw_db (a database's tenant positions, its floor and
 * counters), struct ryw_pos (one tenant's last commit position), the list
 * of reads waiting for a replica, and which of them may go now. A
 * client's own position lives in struct client (its ryw: lsn, pending).
 *
 * How a position is learned: when a transaction that may have written ends
 * on a primary server (its ReadyForQuery already went to the client),
 * server.c sends pg_current_wal_insert_lsn() on that server before it goes
 * back to the pool. Every WAL record of the commit is below that position,
 * so a replica whose replay position (route.c's checks, and probes while a
 * read waits) has reached it shows the transaction to any snapshot taken
 * after. The client is not delayed: its next request, if it comes first,
 * waits on that server for the answer (one local round trip), which also
 * means its own next read always knows its floor.
 *
 * Memory: a tenant's entry exists only while some replica may not have
 * replayed its last commit; the list of entries is in position order
 * (commits are learned in nearly that order), so dropping what every
 * replica has replayed pops from its head. The highest position dropped is
 * kept as the database's floor: a replica that was down, or is new, must
 * reach it before any read of a tenant without an entry goes there.
 *
 * Must not send, close, queue or resume: server.c and health.c act, and
 * client.c owns the timer of the reads that wait (client_ryw_wake): it
 * asks this file which reads may go (ryw_take_ready) and which databases
 * to probe (ryw_waiting_next), and resumes and probes itself. Nothing
 * here calls back up.
 */
#include "autoconf.h"

#include "ryw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "route.h"
#include "proto.h"
#include "tenant.h"

struct ryw_pos {
	struct hnode hn;
	struct list order;       /* struct ryw_db.order: oldest position first */
	uint64_t lsn;
	uint32_t pending;        /* commits whose position is being asked */
	uint32_t len;
	char id[];
};

struct ryw_db {
	struct htab tab;         /* struct ryw_pos by tenant id */
	struct list order;
	uint64_t floor;          /* highest position dropped */
	struct ryw_stats st;
};

static struct list waiting = LIST_INIT(waiting); /* struct client, by ryw.node */

static struct ryw_db *rdb_get(struct database *db)
{
	if (!db->ryw) {
		db->ryw = xcalloc(1, sizeof(*db->ryw));
		htab_init(&db->ryw->tab);
		list_init(&db->ryw->order);
	}
	return db->ryw;
}

void ryw_db_free(struct database *db)
{
	struct ryw_db *r = db->ryw;
	if (!r)
		return;
	while (!list_empty(&r->order)) {
		struct ryw_pos *e = container_of(list_first(&r->order), struct ryw_pos, order);
		list_del(&e->order);
		free(e);
	}
	htab_free(&r->tab);
	free(r);
	db->ryw = NULL;
}

struct pos_key {
	const char *id;
	uint32_t len;
};

static bool pos_eq(const struct hnode *n, const void *key)
{
	const struct ryw_pos *e = container_of(n, struct ryw_pos, hn);
	const struct pos_key *k = key;
	return e->len == k->len && memcmp(e->id, k->id, k->len) == 0;
}

static struct ryw_pos *pos_find(const struct ryw_db *r, const struct tenant *t)
{
	if (!r || !t)
		return NULL;
	struct pos_key k = { t->id, t->len };
	struct hnode *n = htab_find(&r->tab, hash_bytes(t->id, t->len), pos_eq, &k);
	return n ? container_of(n, struct ryw_pos, hn) : NULL;
}

static struct ryw_pos *pos_get(struct ryw_db *r, const struct tenant *t)
{
	struct ryw_pos *e = pos_find(r, t);
	if (e)
		return e;
	e = xcalloc(1, sizeof(*e) + t->len + 1);
	e->len = t->len;
	memcpy(e->id, t->id, t->len);
	/* a new entry starts at the floor: what was dropped still holds */
	e->lsn = r->floor;
	htab_insert(&r->tab, &e->hn, hash_bytes(t->id, t->len));
	list_add_tail(&r->order, &e->order);
	r->st.positions++;
	return e;
}

int ryw_mode(const struct client *c)
{
	if (!c->db || !c->db->route)
		return RYW_OFF;
	int m = db_read_your_writes(g.cfg, c->db->cfg);
	if (m == RYW_TENANT && !c->tenant)
		return RYW_CLIENT; /* no tenant: its own writes still count */
	return m;
}

uint64_t ryw_floor(const struct client *c, bool *pending)
{
	uint64_t f = c->ryw.lsn;
	*pending = c->ryw.pending > 0;
	if (ryw_mode(c) == RYW_TENANT) {
		const struct ryw_db *r = c->db->ryw;
		const struct ryw_pos *e = pos_find(r, c->tenant);
		uint64_t t = e ? e->lsn : r ? r->floor : 0;
		if (t > f)
			f = t;
		if (e && e->pending)
			*pending = true;
	}
	return f;
}

/* ---- learning commit positions ---- */

const char ryw_position_sql[] = "SELECT pg_catalog.pg_current_wal_insert_lsn()";

void ryw_note_write(struct client *c)
{
	c->ryw.write = ryw_mode(c) != RYW_OFF;
}

void ryw_write_forget(struct client *c)
{
	c->ryw.write = false;
}

bool ryw_commit_due(const struct client *c)
{
	return c->ryw.write;
}

void ryw_commit_sent(struct server *s, struct client *c)
{
	c->ryw.pending++;
	s->pos.pending = true;
	s->pos.lsn = 0;
	if (ryw_mode(c) == RYW_TENANT) {
		pos_get(rdb_get(c->db), c->tenant)->pending++;
		s->pos.tenant = tenant_ref(c->tenant);
	}
}

uint64_t ryw_parse_lsn(const char *s, size_t len)
{
	char buf[40];
	unsigned long hi = 0, lo = 0;
	char tail;
	if (!s || len == 0 || len >= sizeof(buf))
		return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (strspn(buf, "0123456789abcdefABCDEF/") != len || sscanf(buf, "%8lX/%8lX%c", &hi, &lo, &tail) != 2)
		return 0;
	return ((uint64_t)hi << 32) | lo;
}

bool ryw_position_row(struct server *s, const struct pmsg *m)
{
	/* one column, the pg_lsn as text */
	struct preader r;
	preader_init(&r, m->body, m->body_len);
	if (preader_int16(&r) != 1)
		return false;
	uint32_t n = preader_int32(&r);
	const uint8_t *v = r.bad || n == 0xFFFFFFFFu ? NULL : preader_bytes(&r, n);
	if (!v || !preader_done(&r))
		return false;
	s->pos.lsn = ryw_parse_lsn((const char *)v, n);
	return s->pos.lsn != 0;
}

static void raise_to(uint64_t *at, uint64_t lsn)
{
	if (lsn > *at)
		*at = lsn;
}

bool ryw_commit_done(struct server *s, bool ok)
{
	if (!s->pos.pending)
		return false;
	s->pos.pending = false;
	struct database *db = s->pool->db;
	uint64_t lsn = ok ? s->pos.lsn : 0;
	if (!lsn)
		/* Not known (the server went, or the query failed): the
		 * highest position any host reported is the best bound left. */
		lsn = route_highest_lsn(db);
	struct ryw_db *r = rdb_get(db);
	r->st.commits++;
	struct client *c = s->client;
	if (c && c->ryw.pending) {
		c->ryw.pending--;
		raise_to(&c->ryw.lsn, lsn);
	}
	struct tenant *t = s->pos.tenant;
	s->pos.tenant = NULL;
	if (t) {
		struct ryw_pos *e = pos_find(r, t);
		if (e) {
			if (e->pending)
				e->pending--;
			raise_to(&e->lsn, lsn);
			/* keep the list in position order: the newest goes last */
			list_del(&e->order);
			list_add_tail(&r->order, &e->order);
		}
		tenant_unref(t);
	}
	return true;
}

void ryw_gc(struct database *db, uint64_t min_replay)
{
	struct ryw_db *r = db->ryw;
	if (!r || !min_replay)
		return;
	while (!list_empty(&r->order)) {
		struct ryw_pos *e = container_of(list_first(&r->order), struct ryw_pos, order);
		if (e->pending || e->lsn > min_replay)
			break;
		raise_to(&r->floor, e->lsn);
		list_del(&e->order);
		htab_remove(&r->tab, &e->hn);
		free(e);
		r->st.positions--;
	}
	if (list_empty(&r->order))
		htab_shrink(&r->tab);
}

/* ---- reads that wait ---- */

/* Could c's read go to a replica now? */
static bool satisfiable(const struct client *c)
{
	bool pending;
	uint64_t f = ryw_floor(c, &pending);
	return !pending && route_caught_up(c->db, f);
}

void ryw_take_ready(struct database *db, struct list *out)
{
	struct list *ln, *next;
	for (ln = waiting.next; ln != &waiting; ln = next) {
		next = ln->next;
		struct client *c = container_of(ln, struct client, ryw.node);
		if (db ? c->db != db || !satisfiable(c) : !ryw_wait_expired(c))
			continue;
		list_del(&c->ryw.node);
		list_add_tail(out, &c->ryw.node);
	}
}

struct client *ryw_pop(struct list *l)
{
	if (list_empty(l))
		return NULL;
	struct client *c = container_of(list_first(l), struct client, ryw.node);
	list_del(&c->ryw.node);
	return c;
}

struct client *ryw_waiting_next(const struct client *prev)
{
	const struct list *ln = prev ? prev->ryw.node.next : waiting.next;
	return ln == &waiting ? NULL : container_of(ln, struct client, ryw.node);
}

bool ryw_db_waits(const struct database *db)
{
	for (struct client *c = ryw_waiting_next(NULL); c; c = ryw_waiting_next(c))
		if (c->db == db)
			return true;
	return false;
}

void ryw_hold(struct client *c)
{
	if (!c->ryw.since)
		c->ryw.since = now_usec();
	if (!list_linked(&c->ryw.node))
		list_add_tail(&waiting, &c->ryw.node);
}

bool ryw_waiting(const struct client *c)
{
	return c->ryw.since != 0;
}

bool ryw_wait_expired(const struct client *c)
{
	return c->ryw.since && now_usec() - c->ryw.since >= S()->read_your_writes_timeout;
}

void ryw_routed(struct client *c, enum ryw_outcome o)
{
	struct ryw_db *r = rdb_get(c->db);
	usec_t waited = c->ryw.since ? now_usec() - c->ryw.since : 0;
	struct tenant *t = c->tenant;
	if (o == RYW_PRIMARY) {
		r->st.reads_primary++;
		if (t)
			t->ryw_primary++;
	} else if (c->ryw.since) {
		r->st.reads_waited++;
		if (t)
			t->ryw_waited++;
	} else {
		r->st.reads_replica++;
		if (t)
			t->ryw_replica++;
	}
	r->st.wait_usec += (uint64_t)waited;
	if (t)
		t->ryw_wait_time += (uint64_t)waited;
	ryw_forget(c);
}

void ryw_forget(struct client *c)
{
	c->ryw.since = 0;
	if (list_linked(&c->ryw.node))
		list_del(&c->ryw.node);
}

void ryw_db_stats(const struct database *db, struct ryw_stats *out)
{
	if (db->ryw)
		*out = db->ryw->st;
	else
		memset(out, 0, sizeof(*out));
}
