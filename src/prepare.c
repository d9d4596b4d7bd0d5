/*
 * Named prepared statements in transaction and statement pool modes.
 *
 * Owns: struct pstmt (the shared cache), struct client_stmts (a client's
 * names), struct server_stmts (what a server has prepared, its LRU, the
 * FIFO of statements whose fate a pending reply decides, and the retained
 * copy of a group for a one-shot retry). Every message built here goes
 * into the server's output area in order with the client's forwarded
 * bytes; a Bind's parameters are forwarded by reference, never copied
 * (except into the small retained copy, for groups under 8 kB).
 *
 * Must not refuse a client or close a connection itself: it returns a
 * verdict (enum verdict with a struct refusal, enum prep_retry) and
 * client.c or server.c acts on it.
 */
#include "autoconf.h"

#include "prepare.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "pktbuf.h"
#include "sendplan.h"
#include "sqlclass.h"
#include "tenant.h"
#include "util/strbuf.h"

#define RETAIN_MAX 8192
#define RETAIN_MSGS 32

struct pstmt {
	struct hnode hn;
	uint32_t id;
	uint32_t refs;        /* client names and server copies */
	bool sql;             /* from SQL PREPARE: query is the text after the name */
	bool valid;           /* some server parsed it without error */
	unsigned sess_flags;  /* sql_session_effects of the text, 0 for nearly all */
	bool notifies;        /* the text may NOTIFY (QS_NOTIFY) */
	bool detached;        /* out of the cache: a Parse of its text makes a new one */
	uint16_t nparams;
	uint32_t qlen;
	uint8_t *types;       /* nparams * 4 bytes, protocol only */
	char query[];
};

struct cstmt {
	struct hnode hn;
	struct pstmt *ps;
	char name[];
};

struct client_stmts {
	struct htab tab;
	/* The client's unnamed statement is a DEALLOCATE pgtide answers
	 * itself (SYNTH_DEALLOCATE or SYNTH_DEALLOCATE_ALL; 0: it is the
	 * client's own, on a server), and its unnamed portal is bound to it. */
	char unnamed;
	bool unnamed_portal;
};

struct sstmt {
	struct hnode hn;
	struct list lru;      /* most recently used first */
	struct pstmt *ps;
	uint64_t used;        /* group number of its last use */
	bool pending;         /* Parse sent, reply not yet seen */
};

struct mrec {                 /* one per RQ_MAPPED entry, in queue order */
	struct pstmt *ps;
	char *client_name;    /* the client's Parse that created this name, or NULL */
};

struct retained {             /* allocated once per server, reused by every group */
	struct pstmt *ps;
	bool active;          /* a group is being kept */
	bool complete;        /* the group's Sync is in */
	int n;
	uint8_t types[RETAIN_MSGS];
	uint16_t flags[RETAIN_MSGS];
	struct pktbuf bytes;
};

struct server_stmts {
	struct htab tab;
	struct list lru;
	uint32_t count;
	uint64_t group;
	struct mrec *fifo;
	uint32_t fhead, flen, fcap;
	struct retained *retain;
};

static struct htab cache;
static bool cache_init;
static uint32_t next_id;

/* ---- the shared cache ---- */

struct pkey {
	bool sql;
	const char *query;
	size_t qlen;
	const uint8_t *types;
	uint16_t nparams;
};

static uint64_t pkey_hash(const struct pkey *k)
{
	uint64_t h = hash_bytes(k->query, k->qlen);
	if (k->nparams)
		h ^= hash_bytes(k->types, (size_t)k->nparams * 4) * 31;
	return h ^ (k->sql ? 0x9e3779b97f4a7c15ULL : 0);
}

static bool pkey_eq(const struct hnode *n, const void *key)
{
	const struct pstmt *p = container_of(n, struct pstmt, hn);
	const struct pkey *k = key;
	return p->sql == k->sql && p->qlen == k->qlen && p->nparams == k->nparams &&
	       memcmp(p->query, k->query, k->qlen) == 0 &&
	       (k->nparams == 0 || memcmp(p->types, k->types, (size_t)k->nparams * 4) == 0);
}

static struct pstmt *pstmt_get(const struct pkey *k)
{
	if (!cache_init) {
		htab_init(&cache);
		cache_init = true;
	}
	uint64_t h = pkey_hash(k);
	struct hnode *n = htab_find(&cache, h, pkey_eq, k);
	struct pstmt *p;
	if (n) {
		p = container_of(n, struct pstmt, hn);
	} else {
		p = xcalloc(1, sizeof(*p) + k->qlen + 1);
		p->id = ++next_id;
		p->sql = k->sql;
		p->qlen = (uint32_t)k->qlen;
		memcpy(p->query, k->query, k->qlen);
		p->nparams = k->nparams;
		struct sql_session se;
		sql_session_effects(k->query, k->qlen, g.tenant_setting, &se);
		p->sess_flags = se.flags;
		p->notifies = (se.scan & QS_NOTIFY) != 0;
		if (k->nparams) {
			p->types = xmalloc((size_t)k->nparams * 4);
			memcpy(p->types, k->types, (size_t)k->nparams * 4);
		}
		htab_insert(&cache, &p->hn, h);
	}
	p->refs++;
	return p;
}

static void pstmt_unref(struct pstmt *p)
{
	if (!p || --p->refs)
		return;
	if (!p->detached)
		htab_remove(&cache, &p->hn);
	free(p->types);
	free(p);
}

static void server_name(const struct pstmt *p, char *buf, size_t len)
{
	snprintf(buf, len, "pgtide_%u", p->id);
}

void prep_module_free(void)
{
	if (cache_init)
		htab_free(&cache);
	cache_init = false;
}

/* ---- client names ---- */

static bool cstmt_eq(const struct hnode *n, const void *key)
{
	return strcmp(container_of(n, struct cstmt, hn)->name, key) == 0;
}

static struct cstmt *client_find(const struct client *c, const char *name)
{
	if (!c->stmts)
		return NULL;
	struct hnode *n = htab_find(&c->stmts->tab, hash_str(name), cstmt_eq, name);
	return n ? container_of(n, struct cstmt, hn) : NULL;
}

static struct client_stmts *cstmts(struct client *c)
{
	if (!c->stmts) {
		c->stmts = xcalloc(1, sizeof(*c->stmts));
		htab_init(&c->stmts->tab);
	}
	return c->stmts;
}

static void client_add(struct client *c, const char *name, struct pstmt *ps)
{
	cstmts(c);
	size_t len = strlen(name);
	struct cstmt *cs = xmalloc(sizeof(*cs) + len + 1);
	memcpy(cs->name, name, len + 1);
	cs->ps = ps;
	ps->refs++;
	htab_insert(&c->stmts->tab, &cs->hn, hash_str(name));
}

static void client_remove(struct client *c, struct cstmt *cs)
{
	htab_remove(&c->stmts->tab, &cs->hn);
	pstmt_unref(cs->ps);
	free(cs);
}

static void client_drop_all(struct client *c, bool detach)
{
	if (!c->stmts)
		return;
	size_t it;
	struct hnode *n, *next;
	for (n = htab_next(&c->stmts->tab, NULL, &it); n; n = next) {
		next = htab_next(&c->stmts->tab, n, &it);
		struct cstmt *cs = container_of(n, struct cstmt, hn);
		/* A client drops all its statements after a schema change
		 * (psycopg does after DROP and ALTER), to have them prepared
		 * afresh: so the same texts get new statements on the servers,
		 * not the shared ones made before the change (which may name a
		 * type that is gone). Those stay for whoever uses them. */
		if (detach && !cs->ps->detached) {
			htab_remove(&cache, &cs->ps->hn);
			cs->ps->detached = true;
		}
		client_remove(c, cs);
	}
}

void prep_client_discard(struct client *c)
{
	client_drop_all(c, true);
}

void prep_client_free(struct client *c)
{
	if (!c->stmts)
		return;
	client_drop_all(c, false); /* a client that leaves: its texts stay shared */
	htab_free(&c->stmts->tab);
	free(c->stmts);
	c->stmts = NULL;
}

const char *prep_client_stmt_text(struct client *c, const char *name, size_t *len)
{
	struct cstmt *cs = name && name[0] ? client_find(c, name) : NULL;
	if (!cs || cs->ps->sql)
		return NULL;
	*len = cs->ps->qlen;
	return cs->ps->query;
}

size_t prep_client_count(const struct client *c)
{
	return c->stmts ? c->stmts->tab.count : 0;
}

bool prep_enabled(const struct client *c)
{
	return S()->max_prepared_statements > 0 && c->pool &&
	       pool_mode_of(c->pool, c->user) != POOL_SESSION;
}

/* ---- server copies ---- */

static bool sstmt_eq(const struct hnode *n, const void *key)
{
	return container_of(n, struct sstmt, hn)->ps->id == *(const uint32_t *)key;
}

static struct server_stmts *sstmts(struct server *s)
{
	if (!s->stmts) {
		s->stmts = xcalloc(1, sizeof(*s->stmts));
		htab_init(&s->stmts->tab);
		list_init(&s->stmts->lru);
	}
	return s->stmts;
}

static struct sstmt *server_find(struct server *s, const struct pstmt *ps)
{
	if (!s->stmts)
		return NULL;
	struct hnode *n = htab_find(&s->stmts->tab, hash_u64(ps->id), sstmt_eq, &ps->id);
	return n ? container_of(n, struct sstmt, hn) : NULL;
}

static void server_drop(struct server *s, struct sstmt *ss)
{
	struct server_stmts *st = s->stmts;
	htab_remove(&st->tab, &ss->hn);
	list_del(&ss->lru);
	st->count--;
	pstmt_unref(ss->ps);
	free(ss);
}

static void touch(struct server *s, struct sstmt *ss)
{
	ss->used = s->stmts->group;
	list_del(&ss->lru);
	list_add_head(&s->stmts->lru, &ss->lru);
}

void prep_new_group(struct server *s)
{
	if (s->stmts)
		s->stmts->group++;
}

void prep_server_forget(struct server *s)
{
	struct server_stmts *st = s->stmts;
	if (!st)
		return;
	struct list *ln, *tmp;
	list_for_each_safe(ln, tmp, &st->lru)
		server_drop(s, container_of(ln, struct sstmt, lru));
}

/* Forget the kept group; its memory stays for the next one, so keeping
 * a Bind costs no allocation per transaction. */
static void retain_free(struct server_stmts *st)
{
	struct retained *r = st->retain;
	if (!r || !r->active)
		return;
	pstmt_unref(r->ps);
	r->ps = NULL;
	r->active = r->complete = false;
	r->n = 0;
	r->bytes.len = 0;
	r->bytes.failed = false;
}

static bool retain_active(const struct server_stmts *st)
{
	return st && st->retain && st->retain->active;
}

void prep_server_free(struct server *s)
{
	struct server_stmts *st = s->stmts;
	if (!st)
		return;
	prep_server_forget(s);
	while (st->flen) {
		struct mrec *r = &st->fifo[st->fhead];
		pstmt_unref(r->ps);
		free(r->client_name);
		st->fhead = (st->fhead + 1) % st->fcap;
		st->flen--;
	}
	free(st->fifo);
	retain_free(st);
	if (st->retain) {
		pkt_free(&st->retain->bytes);
		free(st->retain);
	}
	htab_free(&st->tab);
	free(st);
	s->stmts = NULL;
}

size_t prep_server_count(const struct server *s)
{
	return s->stmts ? s->stmts->count : 0;
}

static void fifo_push(struct server *s, struct pstmt *ps, const char *client_name)
{
	struct server_stmts *st = sstmts(s);
	if (st->flen == st->fcap) {
		uint32_t ncap = st->fcap ? st->fcap * 2 : 8;
		struct mrec *n = xcalloc(ncap, sizeof(*n));
		for (uint32_t i = 0; i < st->flen; i++)
			n[i] = st->fifo[(st->fhead + i) % st->fcap];
		free(st->fifo);
		st->fifo = n;
		st->fhead = 0;
		st->fcap = ncap;
	}
	struct mrec *r = &st->fifo[(st->fhead + st->flen) % st->fcap];
	r->ps = ps;
	ps->refs++;
	r->client_name = client_name ? xstrdup(client_name) : NULL;
	st->flen++;
}

void prep_mapped_done(struct server *s, bool ok)
{
	struct server_stmts *st = s->stmts;
	if (!st || !st->flen)
		return;
	struct mrec r = st->fifo[st->fhead];
	st->fhead = (st->fhead + 1) % st->fcap;
	st->flen--;
	struct sstmt *ss = server_find(s, r.ps);
	if (ok) {
		if (ss)
			ss->pending = false;
		r.ps->valid = true;
	} else {
		/* the Parse failed or was skipped: the server does not have it,
		 * and a name the client created with it does not exist either */
		if (ss)
			server_drop(s, ss);
		if (r.client_name && s->client) {
			struct cstmt *cs = client_find(s->client, r.client_name);
			if (cs && cs->ps == r.ps)
				client_remove(s->client, cs);
		}
	}
	pstmt_unref(r.ps);
	free(r.client_name);
}

/* Close the least recently used statements not needed by this group. */
static bool make_room(struct server *s, struct sendplan *p)
{
	struct server_stmts *st = sstmts(s);
	int max = S()->max_prepared_statements;
	while ((int)st->count >= max) {
		struct list *ln = list_last(&st->lru);
		struct sstmt *victim = NULL;
		for (; ln && ln != &st->lru; ln = ln->prev) {
			struct sstmt *ss = container_of(ln, struct sstmt, lru);
			if (!ss->pending && ss->used != st->group) {
				victim = ss;
				break;
			}
		}
		if (!victim)
			return true; /* all in use right now: go over the limit for a moment */
		char name[PREP_NAME_MAX];
		server_name(victim->ps, name, sizeof(name));
		/* Close works for SQL PREPAREd statements too, in any transaction
		 * state, and does not fail when the name is already gone */
		pkt_close(&p->bytes, 'S', name);
		if (p->bytes.failed)
			return false;
		plan_owe(p, FE_CLOSE, RQ_CONSUME, 0);
		server_drop(s, victim);
	}
	return true;
}

/* Queue a Parse (or SQL PREPARE) of ps for s. own_name: the client's Parse
 * that asked (its name is undone if this fails). */
static bool server_prepare(struct server *s, struct pstmt *ps, const char *own_name, uint16_t flags,
			   struct sendplan *p)
{
	struct pktbuf *pb = &p->bytes;
	if (!make_room(s, p))
		return false;
	char name[PREP_NAME_MAX];
	server_name(ps, name, sizeof(name));
	/* What pgtide believes a server has can be wrong where it had to guess
	 * (a DISCARD ALL that failed, dynamic SQL): a Close first makes the
	 * Parse succeed either way. */
	pkt_close(pb, 'S', name);
	if (pb->failed)
		return false;
	plan_owe(p, FE_CLOSE, RQ_CONSUME, 0);
	if (ps->sql) {
		struct strbuf sql;
		strbuf_init(&sql);
		strbuf_printf(&sql, "PREPARE %s ", name);
		strbuf_append(&sql, ps->query, ps->qlen);
		pkt_query(pb, sql.data);
		strbuf_free(&sql);
	} else {
		pkt_begin(pb, 'P');
		pkt_put_cstr(pb, name);
		pkt_put_bytes(pb, ps->query, ps->qlen);
		pkt_put_byte(pb, 0);
		pkt_put_int16(pb, ps->nparams);
		if (ps->nparams)
			pkt_put_bytes(pb, ps->types, (size_t)ps->nparams * 4);
		pkt_end(pb);
	}
	if (pb->failed || p->failed)
		return false;
	plan_owe(p, ps->sql ? FE_QUERY : FE_PARSE, (uint16_t)(flags | RQ_MAPPED), 0);
	fifo_push(s, ps, own_name);
	struct server_stmts *st = sstmts(s);
	struct sstmt *ss = xcalloc(1, sizeof(*ss));
	ss->ps = ps;
	ps->refs++;
	ss->pending = true;
	ss->used = st->group;
	list_add_head(&st->lru, &ss->lru);
	htab_insert(&st->tab, &ss->hn, hash_u64(ps->id));
	st->count++;
	s->pool->server_parse_count++;
	if (!ps->sql)
		p->unsynced = true;
	return true;
}

/* Make sure s has ps (or will, before the next message). */
static bool ensure_prepared(struct server *s, struct pstmt *ps, struct sendplan *p)
{
	struct sstmt *ss = server_find(s, ps);
	if (ss) {
		touch(s, ss);
		return true;
	}
	/* our own Parse: an error still reaches the client, as the error of
	 * the message that needed it */
	return server_prepare(s, ps, NULL, ps->sql ? RQ_CONSUME : RQ_CONSUME_OK, p);
}

/* pgtide answers this request itself, in its turn among the server's
 * replies (flags: more RQ_* for the entry). */
static void push_synth(struct sendplan *p, uint8_t for_type, char reply, uint16_t flags)
{
	if (for_type == FE_QUERY && p->unsynced) {
		/* The client's Query would have ended the implicit transaction
		 * our own messages (a tenant SET) opened, and made Postgres send
		 * their replies; it will not reach the server, so a Sync does. */
		pkt_sync(&p->bytes);
		plan_owe(p, FE_SYNC, RQ_CONSUME, 0);
		p->unsynced = false;
	}
	plan_owe(p, for_type, (uint16_t)(RQ_SYNTH | flags), (uint32_t)(unsigned char)reply);
	p->emit_due = true;
}

#define PLAN_FAILED(p) ((p)->failed || (p)->bytes.failed)

/* A refusal for client.c to act on (V_DENY: an ERROR for this request;
 * V_CLOSE: the connection goes). */
static enum verdict refuse(struct refusal *r, enum verdict v, const char *sqlstate, const char *msg)
{
	snprintf(r->sqlstate, sizeof(r->sqlstate), "%s", sqlstate);
	snprintf(r->msg, sizeof(r->msg), "%s", msg);
	return v;
}

#define OOM(r) refuse((r), V_CLOSE, "53200", "out of memory")

/* ---- retained groups, for the one retry after a plan change ---- */

static void retain_abort(struct server *s)
{
	if (s->stmts)
		retain_free(s->stmts);
}

static void retain_add(struct server *s, uint8_t type, uint16_t flags, const void *a, size_t alen, const void *b,
		       size_t blen)
{
	struct retained *r = retain_active(s->stmts) ? s->stmts->retain : NULL;
	if (!r || r->complete)
		return;
	if (r->n == RETAIN_MSGS || r->bytes.len + alen + blen > RETAIN_MAX) {
		retain_free(s->stmts);
		return;
	}
	r->types[r->n] = type;
	r->flags[r->n] = flags;
	r->n++;
	pkt_put_bytes(&r->bytes, a, alen);
	pkt_put_bytes(&r->bytes, b, blen);
	if (type == FE_SYNC)
		r->complete = true;
}

/* A retained group is replayed as sent; only messages that need nothing
 * else prepared may follow its Bind: Execute, Describe/Close of a portal,
 * Flush, Sync. */
void prep_retain(struct client *c, const struct pmsg *m)
{
	struct server *s = c->server;
	if (!s || !retain_active(s->stmts) || s->stmts->retain->complete)
		return;
	bool portal = (m->type == FE_DESCRIBE || m->type == FE_CLOSE) && m->body_len >= 1 && m->body[0] == 'P';
	if (!(m->type == FE_EXECUTE || m->type == FE_FLUSH || m->type == FE_SYNC || portal)) {
		retain_abort(s);
		return;
	}
	retain_add(s, m->type, 0, m->body - PROTO_HDR, m->len, NULL, 0);
}

void prep_group_end(struct server *s)
{
	if (retain_active(s->stmts))
		retain_free(s->stmts);
}

bool prep_retry_wanted(const struct server *s, const char *sqlstate, const char *message)
{
	const struct server_stmts *st = s->stmts;
	const struct retained *r = retain_active(st) ? st->retain : NULL;
	/* The statement was prepared before a schema change it cannot survive:
	 * its result type changed, or a type it names was dropped (and maybe
	 * made again: DROP TYPE, CREATE TYPE). Postgres itself would fail the
	 * same way, but a client that prepared afresh (psycopg clears its
	 * statements after DROP) gets pgtide's shared copy, made before. */
	return r && r->complete && s->client &&
	       ((strcmp(sqlstate, "0A000") == 0 && strstr(message, "cached plan must not change result type")) ||
		(strcmp(sqlstate, "XX000") == 0 && strncmp(message, "cache lookup failed for type", 28) == 0));
}

bool prep_retry_plan(struct server *s, struct sendplan *p, char *name, size_t nlen)
{
	/* The group is replayed with the statement prepared afresh. The
	 * failed Bind aborted the implicit transaction, tenant SET included:
	 * the tenant is set again before the replay. The retained bytes are
	 * copied when the plan is played, before retain_free below can reuse
	 * them: server.c plays the plan first and then calls prep_retry_done. */
	struct server_stmts *st = s->stmts;
	struct retained *r = st->retain;
	struct pstmt *ps = r->ps;
	r->ps = NULL;
	struct sstmt *ss = server_find(s, ps);
	if (ss)
		server_drop(s, ss);
	server_name(ps, name, nlen);
	pkt_close(&p->bytes, 'S', name);
	plan_owe(p, FE_CLOSE, RQ_CONSUME, 0);
	if (tenant_enabled())
		plan_tenant_set(p);
	bool ok = server_prepare(s, ps, NULL, RQ_CONSUME_OK, p);
	pstmt_unref(ps);
	if (!ok || PLAN_FAILED(p))
		return false;
	plan_copy(p, r->bytes.buf, r->bytes.len);
	for (int i = 0; i < r->n; i++)
		plan_owe(p, r->types[i], r->flags[i], 0);
	p->unsynced = false;
	return !PLAN_FAILED(p);
}

void prep_retry_done(struct server *s)
{
	if (s->stmts)
		retain_free(s->stmts);
}

/* ---- client messages ---- */

bool prep_parse_local(struct client *c, const struct msg_parse *mp, struct sendplan *p, enum verdict *v,
		      struct refusal *r)
{
	/* A statement some server already parsed needs no server to be
	 * named: answer ParseComplete now. Drivers that prepare
	 * synchronously (libpq's PQprepare) then need no free server to
	 * prepare, only to run. */
	if (!cache_init)
		return false;
	struct pkey k = { false, mp->query, mp->query_len, mp->param_types, mp->nparams };
	struct hnode *n = htab_find(&cache, pkey_hash(&k), pkey_eq, &k);
	struct pstmt *ps = n ? container_of(n, struct pstmt, hn) : NULL;
	if (!ps || !ps->valid)
		return false;
	if (client_find(c, mp->name)) {
		char msg[256];
		snprintf(msg, sizeof(msg), "prepared statement \"%.200s\" already exists", mp->name);
		*v = refuse(r, V_DENY, "42P05", msg);
		return true;
	}
	client_add(c, mp->name, ps);
	c->pool->client_parse_count++;
	p->reply = BE_PARSE_COMPLETE;
	*v = V_ANSWERED;
	return true;
}

enum verdict prep_parse(struct client *c, const struct msg_parse *mp, struct sendplan *p, struct refusal *r)
{
	struct server *s = c->server;
	if (server_skipping(s))
		return V_ANSWERED; /* Postgres skips it too: no statement is made */
	retain_abort(s);
	if (client_find(c, mp->name)) {
		char msg[256];
		snprintf(msg, sizeof(msg), "prepared statement \"%.200s\" already exists", mp->name);
		return refuse(r, V_DENY, "42P05", msg);
	}
	struct pkey k = { false, mp->query, mp->query_len, mp->param_types, mp->nparams };
	struct pstmt *ps = pstmt_get(&k);
	client_add(c, mp->name, ps);
	s->pool->client_parse_count++;
	struct sstmt *ss = server_find(s, ps);
	if (ss) {
		touch(s, ss);
		push_synth(p, FE_PARSE, BE_PARSE_COMPLETE, RQ_MAPPED);
		fifo_push(s, ps, mp->name);
		p->unsynced = true;
		pstmt_unref(ps);
		return PLAN_FAILED(p) ? OOM(r) : V_ANSWERED;
	}
	bool ok = server_prepare(s, ps, mp->name, 0, p);
	pstmt_unref(ps);
	return ok ? V_ANSWERED : OOM(r);
}

enum verdict prep_bind(struct client *c, const struct pmsg *m, struct sendplan *p, struct refusal *r)
{
	struct server *s = c->server;
	struct msg_bind b;
	if (!proto_parse_bind(m, &b)) {
		return refuse(r, V_CLOSE, "08P01", "malformed Bind message");
	}
	if (!b.stmt[0])
		return V_FORWARD;
	if (server_skipping(s))
		return V_ANSWERED;
	struct cstmt *cs = client_find(c, b.stmt);
	if (!cs) {
		char msg[256];
		snprintf(msg, sizeof(msg), "prepared statement \"%.200s\" does not exist", b.stmt);
		return refuse(r, V_DENY, "26000", msg);
	}
	/* the first Bind of a group, outside a transaction block, with no
	 * other request of the client in flight, can be replayed after a
	 * plan change */
	bool retain = s->group_start && s->status == 'I' && m->len <= RETAIN_MAX && !p->owes_client;
	if (!ensure_prepared(s, cs->ps, p))
		return OOM(r);
	char name[PREP_NAME_MAX];
	server_name(cs->ps, name, sizeof(name));
	size_t plen = strlen(b.portal), nlen = strlen(name);
	size_t rest = m->body_len - b.names_len;
	struct pktbuf *pb = &p->bytes;
	size_t head = pb->len;
	pkt_put_byte(pb, FE_BIND);
	pkt_put_int32(pb, (uint32_t)(4 + plen + 1 + nlen + 1 + rest));
	pkt_put_bytes(pb, b.portal, plen + 1);
	pkt_put_bytes(pb, name, nlen + 1);
	if (PLAN_FAILED(p))
		return OOM(r);
	if (retain) {
		struct server_stmts *st = sstmts(s);
		retain_free(st);
		if (!st->retain) {
			st->retain = xcalloc(1, sizeof(*st->retain));
			pkt_init_growable(&st->retain->bytes, 256);
		}
		st->retain->active = true;
		st->retain->ps = cs->ps;
		cs->ps->refs++;
		retain_add(s, FE_BIND, 0, pb->buf + head, pb->len - head, m->body + b.names_len, rest);
	} else {
		retain_abort(s); /* a second Bind: replaying it could need more */
	}
	/* the parameters go by reference, never copied */
	plan_forward(p, m->body + b.names_len, rest);
	plan_owe(p, FE_BIND, retain ? RQ_RETRYABLE : 0, 0);
	p->unsynced = true;
	s->pool->bind_count++;
	return PLAN_FAILED(p) ? OOM(r) : V_ANSWERED;
}

enum verdict prep_describe(struct client *c, const struct pmsg *m, struct sendplan *p, struct refusal *r)
{
	struct server *s = c->server;
	char kind;
	const char *name;
	if (!proto_parse_describe_close(m, &kind, &name)) {
		return refuse(r, V_CLOSE, "08P01", "malformed Describe message");
	}
	if (kind != 'S' || !name[0])
		return V_FORWARD;
	if (server_skipping(s))
		return V_ANSWERED;
	struct cstmt *cs = client_find(c, name);
	if (!cs) {
		char msg[256];
		snprintf(msg, sizeof(msg), "prepared statement \"%.200s\" does not exist", name);
		return refuse(r, V_DENY, "26000", msg);
	}
	if (!ensure_prepared(s, cs->ps, p))
		return OOM(r);
	char sname[PREP_NAME_MAX];
	server_name(cs->ps, sname, sizeof(sname));
	pkt_begin(&p->bytes, FE_DESCRIBE);
	pkt_put_byte(&p->bytes, 'S');
	pkt_put_cstr(&p->bytes, sname);
	pkt_end(&p->bytes);
	retain_abort(s);
	plan_owe(p, FE_DESCRIBE, RQ_DESC_STMT, 0);
	p->unsynced = true;
	return PLAN_FAILED(p) ? OOM(r) : V_ANSWERED;
}

enum verdict prep_close(struct client *c, const struct pmsg *m, struct sendplan *p, struct refusal *r)
{
	struct server *s = c->server;
	char kind;
	const char *name;
	if (!proto_parse_describe_close(m, &kind, &name)) {
		return refuse(r, V_CLOSE, "08P01", "malformed Close message");
	}
	if (kind != 'S' || !name[0])
		return s ? V_FORWARD : V_ANSWERED;
	struct cstmt *cs = client_find(c, name);
	if (cs)
		client_remove(c, cs); /* the server's copy stays, for others */
	if (!s) {
		/* no server: nothing is in flight, answer now */
		p->reply = BE_CLOSE_COMPLETE;
		return V_ANSWERED;
	}
	if (server_skipping(s))
		return V_ANSWERED;
	retain_abort(s);
	push_synth(p, FE_CLOSE, BE_CLOSE_COMPLETE, 0);
	p->unsynced = true;
	return PLAN_FAILED(p) ? OOM(r) : V_ANSWERED;
}

static void stmt_session(const struct cstmt *cs, struct sql_session *se)
{
	if (cs && cs->ps->sess_flags)
		sql_session_effects(cs->ps->query, cs->ps->qlen, g.tenant_setting, se);
	if (cs && cs->ps->notifies)
		se->scan |= QS_NOTIFY; /* a Bind runs what its statement says */
}

void prep_bind_session(struct client *c, const struct pmsg *m, struct sql_session *se)
{
	struct msg_bind b;
	if (proto_parse_bind(m, &b) && b.stmt[0])
		stmt_session(client_find(c, b.stmt), se);
}

/* ---- DEALLOCATE as the unnamed statement ----
 *
 * psycopg sends DEALLOCATE name as Parse, Bind, Describe and Execute of
 * the unnamed statement once its statement cache is full. The name is the
 * client's, known only to pgtide: so pgtide deallocates it at the Parse and
 * answers the four messages itself, each in its place among the server's
 * replies, with what Postgres would say. */

static char sql_kind(const char *q, size_t len, char *name, size_t nlen, const char **rest);

/* DEALLOCATE name | ALL for the client (the server's copies stay, for
 * others). false: no such name, r says so (26000). */
static bool deallocate(struct client *c, const char *name, bool all, struct refusal *r)
{
	if (all) {
		prep_client_discard(c);
		return true;
	}
	struct cstmt *cs = client_find(c, name);
	if (!cs) {
		char msg[256];
		snprintf(msg, sizeof(msg), "prepared statement \"%.200s\" does not exist", name);
		refuse(r, V_DENY, "26000", msg);
		return false;
	}
	client_remove(c, cs);
	return true;
}

/* Answer a message in the server's place: at once when nothing is in
 * flight, else in its turn (push_synth). */
static enum verdict answer(struct client *c, struct sendplan *p, struct refusal *r, uint8_t for_type, char what)
{
	struct server *s = c->server;
	if (s && server_skipping(s))
		return V_ANSWERED; /* Postgres skips it too: no answer */
	if (s && (!p->queue_empty || p->unsynced))
		push_synth(p, for_type, what, 0);
	else
		p->reply = (uint8_t)what;
	return PLAN_FAILED(p) ? OOM(r) : V_ANSWERED;
}

bool prep_unnamed_answered(const struct client *c)
{
	return c->stmts && c->stmts->unnamed;
}

enum verdict prep_parse_unnamed(struct client *c, const struct msg_parse *mp, unsigned scan, struct sendplan *p,
				struct refusal *r)
{
	char name[128];
	const char *rest;
	if (c->stmts) {
		/* a new unnamed statement replaces the one before */
		c->stmts->unnamed = 0;
		c->stmts->unnamed_portal = false;
	}
	/* DEALLOCATE starts with a word the scan looks for: nearly every Parse
	 * stops here */
	if (!(scan & QS_SESSION) || sql_kind(mp->query, mp->query_len, name, sizeof(name), &rest) != 'D')
		return V_FORWARD;
	if (mp->nparams)
		return V_FORWARD; /* not what a driver sends: Postgres says what is wrong */
	if (c->server && server_skipping(c->server))
		return V_ANSWERED; /* Postgres would skip it: nothing deallocated */
	bool all = strcmp(name, "all") == 0;
	if (!deallocate(c, name, all, r))
		return V_DENY;
	cstmts(c)->unnamed = all ? SYNTH_DEALLOCATE_ALL : SYNTH_DEALLOCATE;
	return answer(c, p, r, FE_PARSE, BE_PARSE_COMPLETE);
}

enum verdict prep_unnamed_message(struct client *c, const struct pmsg *m, struct sendplan *p, struct refusal *r)
{
	struct client_stmts *st = c->stmts;
	if (!st || !st->unnamed)
		return V_FORWARD;
	char kind;
	const char *name;
	struct msg_bind b;
	switch (m->type) {
	case FE_BIND:
		if (!proto_parse_bind(m, &b))
			return refuse(r, V_CLOSE, "08P01", "malformed Bind message");
		if (!b.portal[0])
			st->unnamed_portal = false; /* the unnamed portal is replaced */
		if (b.stmt[0] || b.portal[0])
			return V_FORWARD;
		st->unnamed_portal = true;
		return answer(c, p, r, FE_BIND, BE_BIND_COMPLETE);
	case FE_DESCRIBE:
		if (!proto_parse_describe_close(m, &kind, &name))
			return refuse(r, V_CLOSE, "08P01", "malformed Describe message");
		if (name[0] || (kind == 'P' && !st->unnamed_portal))
			return V_FORWARD;
		return answer(c, p, r, FE_DESCRIBE, kind == 'S' ? SYNTH_NO_PARAMS : BE_NO_DATA);
	case FE_EXECUTE:
		if (m->body_len < 1 || m->body[0] != '\0' || !st->unnamed_portal)
			return V_FORWARD;
		return answer(c, p, r, FE_EXECUTE, st->unnamed);
	case FE_CLOSE:
		if (!proto_parse_describe_close(m, &kind, &name))
			return refuse(r, V_CLOSE, "08P01", "malformed Close message");
		if (name[0])
			return V_FORWARD;
		if (kind == 'S')
			st->unnamed = 0;
		st->unnamed_portal = false;
		return answer(c, p, r, FE_CLOSE, BE_CLOSE_COMPLETE);
	case FE_QUERY:
		st->unnamed = 0; /* a simple query drops the unnamed statement */
		st->unnamed_portal = false;
		return V_FORWARD;
	default:
		return V_FORWARD;
	}
}

/* ---- SQL-level PREPARE / EXECUTE / DEALLOCATE ---- */

/* "PREPARE name ..." / "EXECUTE name ..." / "DEALLOCATE [PREPARE] name|ALL":
 * kind 'P', 'E', 'D' or 0; name and the text after it. */
static char sql_kind(const char *q, size_t len, char *name, size_t nlen, const char **rest)
{
	struct sqllex lx;
	sqllex_init(&lx, q, len);
	struct sqltok t = sqllex_next(&lx);
	char kind = tok_is(&t, "prepare") ? 'P' : tok_is(&t, "execute") ? 'E' : tok_is(&t, "deallocate") ? 'D' : 0;
	if (!kind || (kind == 'P' && sql_is_prepare_transaction(&lx)))
		return 0; /* PREPARE TRANSACTION 'id' is two-phase commit */
	t = sqllex_next(&lx);
	if (kind == 'D' && tok_is(&t, "prepare"))
		t = sqllex_next(&lx);
	if ((t.type != TK_WORD && t.type != TK_QIDENT) || !tok_text(&t, name, nlen))
		return 0;
	if (t.type == TK_WORD)
		for (char *p = name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	*rest = lx.p;
	return kind;
}

void prep_sql_session(struct client *c, const char *q, size_t len, struct sql_session *se)
{
	char name[128];
	const char *rest;
	if (sql_kind(q, len, name, sizeof(name), &rest) == 'E')
		stmt_session(client_find(c, name), se);
}

bool prep_query_local(const char *q, size_t len)
{
	char name[128];
	const char *rest;
	return sql_kind(q, len, name, sizeof(name), &rest) == 'D';
}

bool prep_query(struct client *c, const char *q, size_t len, struct sendplan *p, enum verdict *v, struct refusal *r)
{
	char name[128];
	const char *rest;
	char kind = sql_kind(q, len, name, sizeof(name), &rest);
	if (!kind)
		return false;
	struct server *s = c->server;
	if (s && server_skipping(s)) {
		/* Postgres ignores a Query while it skips to a Sync: no answer,
		 * and nothing deallocated or prepared (a Sync of pgtide's own
		 * here would end the skip the client asked for) */
		*v = V_ANSWERED;
		return true;
	}
	const char *end = q + len;
	while (end > rest && (isspace((unsigned char)end[-1]) || end[-1] == ';'))
		end--;
	if (kind == 'D') {
		bool all = strcmp(name, "all") == 0;
		if (!deallocate(c, name, all, r)) {
			*v = V_DENY;
			return true;
		}
		/* the server's copies stay for other clients; answer in place */
		if (s && (!p->queue_empty || p->unsynced))
			push_synth(p, FE_QUERY, all ? SYNTH_DEALLOCATE_ALL : SYNTH_DEALLOCATE, 0);
		else
			p->reply_tag = all ? "DEALLOCATE ALL" : "DEALLOCATE";
		*v = PLAN_FAILED(p) ? OOM(r) : V_ANSWERED;
		return true;
	}
	if (!s)
		return false;
	if (kind == 'P') {
		if (client_find(c, name)) {
			char msg[256];
			snprintf(msg, sizeof(msg), "prepared statement \"%.200s\" already exists", name);
			*v = refuse(r, V_DENY, "42P05", msg);
			return true;
		}
		struct pkey k = { true, rest, (size_t)(end - rest), NULL, 0 };
		struct pstmt *ps = pstmt_get(&k);
		client_add(c, name, ps);
		s->pool->client_parse_count++;
		struct sstmt *ss = server_find(s, ps);
		bool ok;
		if (ss && s->status != 'E') {
			touch(s, ss);
			push_synth(p, FE_QUERY, SYNTH_PREPARE, 0);
			ok = true;
		} else {
			if (ss)
				server_drop(s, ss);
			ok = server_prepare(s, ps, name, 0, p);
		}
		pstmt_unref(ps);
		*v = ok && !PLAN_FAILED(p) ? V_ANSWERED : OOM(r);
		return true;
	}
	/* EXECUTE name [(args)] */
	struct cstmt *cs = client_find(c, name);
	if (!cs || !cs->ps->sql) {
		char msg[256];
		snprintf(msg, sizeof(msg), "prepared statement \"%.200s\" does not exist", name);
		*v = refuse(r, V_DENY, "26000", msg);
		return true;
	}
	if (!ensure_prepared(s, cs->ps, p)) {
		*v = OOM(r);
		return true;
	}
	char sname[PREP_NAME_MAX];
	server_name(cs->ps, sname, sizeof(sname));
	struct strbuf sql;
	strbuf_init(&sql);
	strbuf_printf(&sql, "EXECUTE %s", sname);
	strbuf_append(&sql, rest, (size_t)(q + len - rest));
	pkt_query(&p->bytes, sql.data);
	strbuf_free(&sql);
	plan_owe(p, FE_QUERY, 0, 0);
	p->unsynced = false;
	*v = PLAN_FAILED(p) ? OOM(r) : V_ANSWERED;
	return true;
}
