/*
 * Read routing and the hosts of a database: which host is the primary,
 * which replicas are healthy, and where a transaction runs.
 *
 * Owns: struct route_db (a database's hosts, its current primary, its
 * round-robin position) and the roles and health of struct route_target
 * (one host). health.c asks the hosts (every replica_check_period, and
 * while a read waits for a replica to catch up) and hands each answer to
 * route_check_succeeded / route_check_failed; this file judges it.
 *
 * Roles. host= with replicas=: as written. A host list (host=a,b,c): the
 * one host whose check says it is not in recovery is the primary. While two
 * say so there is none (writes wait rather than risk a split brain); while
 * the primary's checks fail and no other host claims the role, it stays
 * (its connections fail too, and clients wait for the next check).
 *
 * A replica is in the rotation while its last check succeeded, it is in
 * recovery and its replay position is within replica_max_lag bytes of the
 * primary's. A server of a replica that fails to connect or dies takes it
 * out at once, until its next good check.
 *
 * Must not send, close or touch a connection: every function here returns
 * its verdict (the primary moved, a host left the configuration, where a
 * transaction runs) and pool.c, health.c or client.c acts on it.
 */
#include "autoconf.h"

#include "route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "prepare.h"
#include "ryw.h"
#include "sqlclass.h"
#include "util/strbuf.h"

static const char *const tstate_names[] = { "unknown", "healthy", "lagging", "down", "not_in_recovery" };

static struct list all_dbs = LIST_INIT(all_dbs);

static bool elect(struct route_db *rd);

/* ---- targets ---- */

static bool is_primary(const struct route_target *t)
{
	return t->rd && t->rd->primary == t;
}

static struct route_target *target_new(struct route_db *rd, const char *host, int port, enum trole role)
{
	struct route_target *t = xcalloc(1, sizeof(*t));
	t->rd = rd;
	t->host = xstrdup(host);
	t->port = port;
	t->refs = 1;
	t->role = role;
	t->lag = -1;
	return t;
}

void route_target_ref(struct route_target *t)
{
	if (t)
		t->refs++;
}

void route_target_unref(struct route_target *t)
{
	/* health.c holds a reference while it checks t: no check is left
	 * running when the last one goes */
	if (!t || --t->refs)
		return;
	free(t->host);
	free(t);
}

const char *route_target_host(const struct route_target *t)
{
	return t->host;
}

int route_target_port(const struct route_target *t)
{
	return t->port;
}

/* Gone from the configuration: the caller stops its checks and its pools;
 * they keep it until they let go. */
static void target_drop(struct database *db, struct route_target *o, route_gone_fn gone)
{
	o->rd = NULL;
	gone(db, o);
	route_target_unref(o);
}

static struct route_target *take_target(struct route_db *rd, const char *host, int port, enum trole role)
{
	for (int j = 0; j < rd->n; j++) {
		struct route_target *o = rd->t[j];
		if (o && o->role == role && o->port == port && strcmp(o->host, host) == 0) {
			rd->t[j] = NULL;
			return o;
		}
	}
	return target_new(rd, host, port, role);
}

bool route_db_update(struct database *db, route_gone_fn gone)
{
	const struct db_config *dc = db->cfg;
	struct route_db *rd = db->route;
	if (dc->n_replicas == 0 && dc->n_hosts == 0) {
		if (rd) {
			for (int j = 0; j < rd->n; j++)
				target_drop(db, rd->t[j], gone);
			rd->n = 0;
			route_db_free(db, gone);
		}
		return false;
	}
	if (!rd) {
		rd = xcalloc(1, sizeof(*rd));
		rd->db = db;
		list_add_tail(&all_dbs, &rd->node);
		db->route = rd;
	}
	/* keep targets that stay (their health and counters), add new ones */
	int n = dc->n_hosts ? dc->n_hosts : dc->n_replicas + 1;
	struct route_target **nt = xcalloc((size_t)n, sizeof(*nt));
	struct route_target *old_primary = rd->primary;
	if (dc->n_hosts) {
		for (int i = 0; i < dc->n_hosts; i++)
			nt[i] = take_target(rd, dc->hosts[i].host, dc->hosts[i].port ? dc->hosts[i].port : dc->primary.port,
					    TR_ANY);
	} else {
		const char *phost = dc->primary.host && *dc->primary.host
					    ? dc->primary.host
					    : (*S()->unix_socket_dir ? S()->unix_socket_dir : "/tmp");
		nt[0] = take_target(rd, phost, dc->primary.port, TR_PRIMARY);
		for (int i = 0; i < dc->n_replicas; i++)
			nt[i + 1] = take_target(rd, dc->replicas[i].host, dc->replicas[i].port, TR_REPLICA);
	}
	for (int j = 0; j < rd->n; j++)
		if (rd->t[j])
			target_drop(db, rd->t[j], gone);
	free(rd->t);
	rd->t = nt;
	rd->n = n;
	rd->auto_roles = dc->n_hosts > 0;
	rd->primary = NULL;
	for (int i = 0; i < n; i++)
		if ((rd->auto_roles && nt[i] == old_primary) || nt[i]->role == TR_PRIMARY)
			rd->primary = nt[i];
	return rd->primary != old_primary;
}

void route_db_free(struct database *db, route_gone_fn gone)
{
	struct route_db *rd = db->route;
	if (!rd)
		return;
	for (int i = 0; i < rd->n; i++)
		target_drop(db, rd->t[i], gone);
	free(rd->t);
	list_del(&rd->node);
	free(rd);
	db->route = NULL;
}

/* ---- health ---- */

static void compute_state(struct route_target *t)
{
	if (t->forced_down || !t->up) {
		t->state = t->last_check || t->forced_down ? TS_DOWN : TS_UNKNOWN;
		t->lag = -1;
		return;
	}
	if (is_primary(t)) {
		t->state = t->in_recovery ? TS_UNKNOWN : TS_HEALTHY;
		t->lag = -1;
		return;
	}
	if (!t->in_recovery) {
		t->state = TS_NOT_IN_RECOVERY;
		t->lag = -1;
		return;
	}
	struct route_target *p = t->rd ? t->rd->primary : NULL;
	uint64_t plsn = 0;
	if (p && p->up && !p->in_recovery) {
		if (p->seq < t->seq)
			plsn = p->lsn;
		else if (p->prev_seq && p->prev_seq < t->seq)
			plsn = p->prev_lsn;
		else if (t->state == TS_HEALTHY || t->state == TS_LAGGING)
			return; /* no primary sample older than ours: judge at our next check */
		else if (p->lsn) {
			/* The first checks: the primary's only sample is later than
			 * ours, so measured against it the lag can only look larger
			 * than it was. Small enough even so: healthy now, not a
			 * check period later. Too large: unknown, judged at our
			 * next check (it may not be lag at all). */
			uint64_t bound = p->lsn > t->lsn ? p->lsn - t->lsn : 0;
			if (bound <= (uint64_t)S()->replica_max_lag) {
				t->lag = (long long)bound;
				t->state = TS_HEALTHY;
			}
			return;
		}
	}
	if (!plsn) {
		/* No primary to compare with (it is down, or being replaced): a
		 * replica cannot fall further behind a primary that writes
		 * nothing, so it keeps its last judgement and reads go on. */
		if (t->state != TS_HEALTHY && t->state != TS_LAGGING) {
			t->state = TS_UNKNOWN;
			t->lag = -1;
		}
		return;
	}
	t->lag = plsn > t->lsn ? (long long)(plsn - t->lsn) : 0;
	t->state = t->lag <= S()->replica_max_lag ? TS_HEALTHY : TS_LAGGING;
}

static void recompute_all(struct route_db *rd)
{
	for (int i = 0; i < rd->n; i++) {
		struct route_target *r = rd->t[i];
		enum tstate before = r->state;
		compute_state(r);
		if (before != r->state && !is_primary(r) && before != TS_UNKNOWN && r->state != TS_DOWN)
			log_info("%s %s:%d of database \"%s\" is %s (lag %lld bytes)",
				 r->in_recovery ? "replica" : "host", r->host, r->port, rd->db->name,
				 tstate_names[r->state], r->lag);
	}
}

static const char *clean_reason(const char *reason, char *buf, size_t len)
{
	snprintf(buf, len, "%s", reason ? reason : "?");
	size_t n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return buf;
}

bool route_check_failed(struct route_target *t, const char *reason, usec_t next_in)
{
	char why[256];
	clean_reason(reason, why, sizeof(why));
	enum tstate before = t->state;
	bool was_up = t->up;
	t->last_check = now_usec();
	t->up = false;
	t->check_failures++;
	bool new_reason = strcmp(t->reason, why) != 0;
	snprintf(t->reason, sizeof(t->reason), "%s", why);
	compute_state(t);
	/* once per change of state (or of reason), not at every check */
	if (t->rd && (was_up || before != TS_DOWN || new_reason))
		log_warn("%s %s:%d of database \"%s\" is down: %s (next check in %.1f s)",
			 is_primary(t) ? "primary" : "host", t->host, t->port, t->rd->db->name, why,
			 (double)next_in / USEC);
	else
		log_debug("check of %s:%d failed: %s", t->host, t->port, why);
	if (!t->rd)
		return false;
	bool moved = elect(t->rd);
	recompute_all(t->rd);
	return moved;
}

bool route_check_succeeded(struct route_target *t, bool in_recovery, uint64_t lsn, uint64_t seq)
{
	bool was_up = t->up;
	enum tstate before = t->state;
	t->in_recovery = in_recovery;
	if (t->lsn) {
		t->prev_lsn = t->lsn;
		t->prev_seq = t->seq;
	}
	t->lsn = lsn;
	t->seq = seq;
	t->last_check = now_usec();
	t->forced_down = false;
	t->up = true;
	t->reason[0] = '\0';
	if (!t->rd)
		return false;
	struct route_db *rd = t->rd;
	bool moved = elect(rd);
	compute_state(t);
	if (is_primary(t)) {
		if (!was_up)
			log_info("primary %s:%d of database \"%s\" answers checks again", t->host, t->port, rd->db->name);
		recompute_all(rd); /* the replicas' lag is measured against this */
		return moved;
	}
	if (before != t->state)
		log_info("%s %s:%d of database \"%s\" is %s (lag %lld bytes)", in_recovery ? "replica" : "host",
			 t->host, t->port, rd->db->name, tstate_names[t->state], t->lag);
	return moved;
}

/*
 * Who is the primary of a host list. One host not in recovery: that one.
 * Two or more: none, until one remains (never two primaries). None: the
 * current one stays while its checks fail (a restart, a network blip), and
 * goes once a good check shows it in recovery (demoted).
 */
static bool elect(struct route_db *rd)
{
	if (!rd->auto_roles)
		return false;
	struct route_target *cand = NULL, *cur = rd->primary, *next = cur;
	int n = 0;
	struct strbuf names;
	strbuf_init(&names);
	for (int i = 0; i < rd->n; i++) {
		struct route_target *t = rd->t[i];
		if (t->up && !t->forced_down && !t->in_recovery) {
			cand = t;
			n++;
			strbuf_printf(&names, "%s%s:%d", n > 1 ? ", " : "", t->host, t->port);
		}
	}
	if (n == 1)
		next = cand;
	else if (n >= 2)
		next = NULL;
	else if (cur && cur->up && cur->in_recovery)
		next = NULL;
	if (n >= 2 && !rd->split)
		log_warn("database \"%s\": %d hosts claim to be the primary (%s): writes wait until only one does", rd->db->name,
			 n, names.data ? names.data : "");
	rd->split = n >= 2;
	strbuf_free(&names);
	if (next == cur)
		return false;
	rd->primary = next;
	if (next)
		log_info("database \"%s\": the primary is now %s:%d%s%s", rd->db->name, next->host, next->port,
			 cur ? ", was " : "", cur ? cur->host : "");
	else
		log_warn("database \"%s\": no primary%s: writes wait (up to query_wait_timeout)", rd->db->name,
			 rd->split ? " while two hosts claim the role" : " (it was demoted)");
	if (next)
		next->forced_down = false;
	return true;
}

/* ---- checks over libpq (replica_check_user) ---- */


/* ---- checks over a pool's check connection ---- */

/* ---- the timer ---- */

static bool readable(const struct route_target *t);

uint64_t route_min_replay(const struct database *db)
{
	const struct route_db *rd = db->route;
	uint64_t m = 0;
	for (int i = 0; rd && i < rd->n; i++) {
		const struct route_target *t = rd->t[i];
		if (readable(t) && (!m || t->lsn < m))
			m = t->lsn;
	}
	return m;
}

bool route_readable(const struct route_target *t)
{
	return readable(t);
}

struct list *route_dbs(void)
{
	return &all_dbs;
}

uint64_t route_highest_lsn(const struct database *db)
{
	uint64_t m = 0;
	const struct route_db *rd = db->route;
	for (int i = 0; rd && i < rd->n; i++)
		if (rd->t[i]->lsn > m)
			m = rd->t[i]->lsn;
	return m;
}

bool route_target_down(struct route_target *t, const char *why)
{
	char buf[256];
	clean_reason(why, buf, sizeof(buf));
	snprintf(t->reason, sizeof(t->reason), "%s", buf);
	if (!t->forced_down)
		log_warn("%s %s:%d%s%s%s leaves the rotation: %s", is_primary(t) ? "primary" : "replica", t->host,
			 t->port, t->rd ? " of database \"" : "", t->rd ? t->rd->db->name : "", t->rd ? "\"" : "", buf);
	t->forced_down = true;
	t->up = false;
	t->state = TS_DOWN;
	t->check_failures++;
	t->last_check = now_usec();
	return t->rd && elect(t->rd);
}

void route_count(struct pool *p)
{
	if (p->target)
		p->target->transactions++;
}

struct route_target *route_write_target(const struct database *db)
{
	return db->route ? db->route->primary : NULL;
}

bool route_has_primary(const struct database *db)
{
	return !db->route || db->route->primary;
}

/* ---- routing ---- */

static bool session_read_only(const struct client *c)
{
	const struct istr *v = c->params ? c->params->v[P_DEFAULT_TRANSACTION_READ_ONLY] : NULL;
	return v && (strcasecmp(v->s, "on") == 0 || strcasecmp(v->s, "true") == 0 || strcmp(v->s, "1") == 0);
}

/* read_routing = auto, extended protocol: the whole group must be in the
 * buffer already, run one statement, and that statement must be a read. */
static bool group_is_read(struct client *c)
{
	size_t off = 0;
	struct pmsg m;
	int executes = 0;
	bool read = false, known = false;
	while (sbuf_peek(&c->sb, &off, &m)) {
		switch (m.type) {
		case FE_PARSE: {
			struct msg_parse mp;
			if (!proto_parse_parse(&m, &mp))
				return false;
			read = sql_is_read(mp.query, mp.query_len);
			known = true;
			break;
		}
		case FE_BIND: {
			struct msg_bind b;
			if (!proto_parse_bind(&m, &b))
				return false;
			if (!known) {
				size_t len;
				const char *q = prep_client_stmt_text(c, b.stmt, &len);
				if (!q)
					return false;
				read = sql_is_read(q, len);
				known = true;
			}
			break;
		}
		case FE_EXECUTE:
			executes++;
			break;
		case FE_DESCRIBE:
		case FE_CLOSE:
		case FE_FLUSH:
			break;
		case FE_SYNC:
			return known && read && executes == 1;
		default:
			return false;
		}
		if (!read && known)
			return false;
	}
	return false; /* the group is not all here yet */
}

static bool readable(const struct route_target *t)
{
	return !is_primary(t) && t->role != TR_PRIMARY && t->state == TS_HEALTHY && !t->forced_down;
}

/* The next readable replica, round-robin, that has replayed floor. */
static struct route_target *pick_healthy(struct route_db *rd, uint64_t floor)
{
	for (int k = 0; k < rd->n; k++) {
		struct route_target *t = rd->t[(rd->rr + (unsigned)k) % (unsigned)rd->n];
		if (readable(t) && t->lsn >= floor) {
			rd->rr = (rd->rr + (unsigned)k + 1) % (unsigned)rd->n;
			return t;
		}
	}
	return NULL;
}

bool route_caught_up(const struct database *db, uint64_t floor)
{
	const struct route_db *rd = db->route;
	for (int i = 0; rd && i < rd->n; i++)
		if (readable(rd->t[i]) && rd->t[i]->lsn >= floor)
			return true;
	return false;
}

/* A transaction that may write goes to the primary: with read_your_writes,
 * its commit position is asked for when it ends. */
static enum route_where to_primary(struct client *c)
{
	ryw_forget(c); /* a read held before a reload changed the rules */
	ryw_note_write(c);
	return ROUTE_HOME;
}

/* A read: the next healthy replica, one that has replayed what the
 * client's scope committed (read_your_writes), or a wait for one. */
static struct route_target *pick_read(struct client *c, struct route_db *rd, bool *hold)
{
	bool pending;
	if (ryw_mode(c) == RYW_OFF) {
		ryw_forget(c);
		return pick_healthy(rd, 0);
	}
	uint64_t floor = ryw_floor(c, &pending);
	struct route_target *t = pending ? NULL : pick_healthy(rd, floor);
	if (t) {
		t->ryw_reads++;
		ryw_routed(c, RYW_REPLICA);
		return t;
	}
	if (!pick_healthy(rd, 0)) {
		ryw_forget(c); /* no replica at all: the usual fallback */
		return NULL;
	}
	if (!ryw_wait_expired(c)) {
		*hold = true;
		return NULL;
	}
	ryw_routed(c, RYW_PRIMARY);
	return NULL;
}

enum route_where route_pick(struct client *c, const struct pmsg *m, const char *text, size_t tlen,
			    struct route_target **tp, const char **err)
{
	struct pool *home = c->pool;
	struct route_db *rd = c->db->route;
	bool hold = false;
	*tp = NULL;
	*err = NULL;
	ryw_write_forget(c);
	if (c->route_primary) {
		c->route_primary = false;
		return to_primary(c);
	}
	if (!rd || rd->n < 2)
		return ROUTE_HOME;
	int mode = db_read_routing(g.cfg, c->db->cfg);
	if (mode == RR_OFF || pool_mode_of(home, c->user) == POOL_SESSION) {
		ryw_forget(c);
		return ROUTE_HOME;
	}
	bool ro;
	if (text) {
		enum begin_mode bm = sql_begin_mode(text, tlen);
		if (bm == BM_READ_WRITE)
			return to_primary(c);
		if (bm == BM_READ_ONLY)
			ro = true;
		else if (bm == BM_BEGIN)
			ro = session_read_only(c);
		else
			ro = session_read_only(c) ||
			     (mode == RR_AUTO && (m->type == FE_QUERY ? sql_is_read(text, tlen) : group_is_read(c)));
	} else {
		ro = session_read_only(c) || (mode == RR_AUTO && m->type == FE_BIND && group_is_read(c));
	}
	if (!ro)
		return to_primary(c);
	struct route_target *t = pick_read(c, rd, &hold);
	if (hold)
		return ROUTE_HOLD;
	if (!t && ryw_mode(c) != RYW_OFF && pick_healthy(rd, 0))
		return ROUTE_HOME; /* replicas are healthy, but none caught up in time */
	if (!t) {
		if (S()->replica_fallback == RF_ERROR) {
			*err = "no healthy replica (replica_fallback = error)";
			return ROUTE_NONE;
		}
		return ROUTE_HOME;
	}
	*tp = t;
	return ROUTE_REPLICA;
}

/* ---- reporting ---- */

const char *route_pool_target_name(const struct pool *p)
{
	static char buf[300];
	if (!p->target)
		return "primary";
	snprintf(buf, sizeof(buf), "%s:%d", p->target->host, p->target->port);
	return buf;
}

static void fill_info(const struct route_db *rd, const struct route_target *t, struct route_host_info *out)
{
	out->database = rd->db->name;
	out->host = t->host;
	out->port = t->port;
	out->role = is_primary(t) ? "primary" : (t->up && t->in_recovery) || t->role == TR_REPLICA ? "replica"
					      : t->up ? "primary_candidate" : "unknown";
	out->state = tstate_names[t->forced_down ? TS_DOWN : t->state];
	out->lag_bytes = t->lag;
	out->transactions = t->transactions;
	out->ryw_reads = t->ryw_reads;
	out->last_check = t->last_check;
	out->check_failures = t->check_failures;
	out->reason = t->reason[0] ? t->reason : (rd->split && !t->in_recovery && t->up)
							 ? "another host also claims to be the primary: writes wait"
							 : "";
	out->is_primary = is_primary(t);
}

bool route_host_info(int i, bool replicas_only, struct route_host_info *out)
{
	struct list *ln;
	list_for_each(ln, &all_dbs) {
		struct route_db *rd = container_of(ln, struct route_db, node);
		for (int k = 0; k < rd->n; k++) {
			struct route_target *t = rd->t[k];
			if (replicas_only && (is_primary(t) || t->role == TR_PRIMARY))
				continue;
			if (i-- == 0) {
				fill_info(rd, t, out);
				return true;
			}
		}
	}
	return false;
}
