/*
 * Statistics over stats_period.
 *
 * Owns: per-database snapshots taken each period (a small side table keyed
 * by database pointer) from which SHOW STATS_AVERAGES is computed.
 */
#include "autoconf.h"

#include "stats.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util/strbuf.h"

struct db_snap {
	struct hnode hn;
	const struct database *db;
	struct stat_totals prev;
	struct stat_totals avg;
};

static struct htab snaps;
static bool snaps_init;
static usec_t last_tick;

static bool snap_eq(const struct hnode *n, const void *key)
{
	return container_of(n, struct db_snap, hn)->db == key;
}

static struct db_snap *snap_get(const struct database *db, bool create)
{
	if (!snaps_init) {
		htab_init(&snaps);
		snaps_init = true;
	}
	uint64_t h = hash_u64((uint64_t)(uintptr_t)db);
	struct hnode *n = htab_find(&snaps, h, snap_eq, db);
	if (n || !create)
		return n ? container_of(n, struct db_snap, hn) : NULL;
	struct db_snap *s = xcalloc(1, sizeof(*s));
	s->db = db;
	htab_insert(&snaps, &s->hn, h);
	return s;
}

const char *stats_close_reason_name(enum close_reason r)
{
	static const char *const names[CR_N] = {
		[CR_UNCLEAN] = "unclean",
		[CR_CLIENT_GONE] = "client_gone",
		[CR_SERVER_GONE] = "server_gone",
		[CR_SERVER_ERROR] = "server_error",
		[CR_PROTOCOL] = "protocol_error",
		[CR_LOGIN_FAILED] = "login_failed",
		[CR_LIFETIME] = "server_lifetime",
		[CR_IDLE_TIMEOUT] = "server_idle_timeout",
		[CR_QUERY_TIMEOUT] = "query_timeout",
		[CR_RECONNECT] = "reconnect",
		[CR_ADMIN] = "admin",
		[CR_EVICTED] = "evicted",
		[CR_SHUTDOWN] = "shutdown",
		[CR_RESET_FAILED] = "reset_failed",
		[CR_SESSION_STATE] = "session_state",
		[CR_NOT_NEEDED] = "not_needed",
		[CR_INTERNAL] = "internal",
	};
	return (unsigned)r < CR_N && names[r] ? names[r] : "internal";
}

void stats_db_totals(const struct database *db, struct stat_totals *t)
{
	memset(t, 0, sizeof(*t));
	const struct list *pn;
	list_for_each(pn, &db->pools) {
		const struct pool *p = container_of(pn, struct pool, db_node);
		t->xact_count += p->xact_count;
		t->query_count += p->query_count;
		t->bytes_in += p->bytes_in;
		t->bytes_out += p->bytes_out;
		t->xact_time += p->xact_time;
		t->query_time += p->query_time;
		t->wait_time += p->wait_time;
		t->errors += p->errors;
		t->client_parse_count += p->client_parse_count;
		t->server_parse_count += p->server_parse_count;
		t->bind_count += p->bind_count;
	}
}

void stats_db_averages(const struct database *db, struct stat_totals *avg)
{
	struct db_snap *s = snap_get(db, false);
	if (s)
		*avg = s->avg;
	else
		memset(avg, 0, sizeof(*avg));
}

void stats_period_tick(bool log)
{
	usec_t now = now_usec();
	double secs = last_tick ? (double)(now - last_tick) / USEC : (double)S()->stats_period / USEC;
	if (secs <= 0)
		secs = 1;
	last_tick = now;
	size_t it;
	struct hnode *n;
	for (n = htab_next(&g.databases, NULL, &it); n; n = htab_next(&g.databases, n, &it)) {
		struct database *db = container_of(n, struct database, hn);
		struct db_snap *s = snap_get(db, true);
		struct stat_totals t, d;
		stats_db_totals(db, &t);
		d.xact_count = t.xact_count - s->prev.xact_count;
		d.query_count = t.query_count - s->prev.query_count;
		d.bytes_in = t.bytes_in - s->prev.bytes_in;
		d.bytes_out = t.bytes_out - s->prev.bytes_out;
		d.xact_time = t.xact_time - s->prev.xact_time;
		d.query_time = t.query_time - s->prev.query_time;
		d.wait_time = t.wait_time - s->prev.wait_time;
		s->avg.xact_count = (uint64_t)((double)d.xact_count / secs);
		s->avg.query_count = (uint64_t)((double)d.query_count / secs);
		s->avg.bytes_in = (uint64_t)((double)d.bytes_in / secs);
		s->avg.bytes_out = (uint64_t)((double)d.bytes_out / secs);
		s->avg.xact_time = d.xact_count ? d.xact_time / d.xact_count : 0;
		s->avg.query_time = d.query_count ? d.query_time / d.query_count : 0;
		s->avg.wait_time = d.xact_count ? d.wait_time / d.xact_count : 0;
		s->prev = t;
		if (log && (d.xact_count || d.query_count))
			log_info("stats: %s: %llu xacts/s, %llu queries/s, in %llu B/s, out %llu B/s, xact %llu us, query %llu us, wait %llu us",
				 db->name, (unsigned long long)s->avg.xact_count, (unsigned long long)s->avg.query_count,
				 (unsigned long long)s->avg.bytes_in, (unsigned long long)s->avg.bytes_out,
				 (unsigned long long)s->avg.xact_time, (unsigned long long)s->avg.query_time,
				 (unsigned long long)s->avg.wait_time);
	}
}

void stats_free(void)
{
	if (!snaps_init)
		return;
	size_t it;
	struct hnode *n, *next;
	for (n = htab_next(&snaps, NULL, &it); n; n = next) {
		next = htab_next(&snaps, n, &it);
		htab_remove(&snaps, n);
		free(container_of(n, struct db_snap, hn));
	}
	htab_free(&snaps);
	snaps_init = false;
}
