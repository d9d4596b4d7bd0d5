/*
 * Session state in transaction and statement pooling (see session.h for
 * the rules).
 *
 * Owns: struct sset and its intern table, each server's capture state
 * (struct sess_capture, on the heap only while a capture is due), the
 * bound-server counts of pools, and the text of the apply and capture
 * statements. Must not send, queue or close anything.
 */
#include "autoconf.h"

#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clientname.h"
#include "log.h"
#include "prepare.h"
#include "sset.h"
#include "tenant.h"
#include "util/strbuf.h"

struct sess_capture {
	bool due;            /* ask at the end of the transaction */
	int n_names, cap_names;
	struct istr **names; /* custom settings to ask for by name */
	struct sset_builder rows;
};

static struct strbuf text; /* apply / capture statement, reused */

void session_module_init(void)
{
	sset_module_init();
	strbuf_init(&text);
}

void session_module_free(void)
{
	strbuf_free(&text);
	sset_module_free();
}

static void set_slot(struct sset **slot, struct sset *v)
{
	struct sset *old = *slot;
	*slot = sset_ref(v);
	sset_unref(old);
}

/* ---- policy helpers ---- */

static bool mapping_on(const struct client *c)
{
	return prep_enabled(c);
}

bool session_holds_server(const struct client *c)
{
	return c->bound_flags || pool_mode_of(c->pool, c->user) == POOL_SESSION;
}

static int max_bound(const struct pool *p)
{
	int v = p->db->cfg->max_bound_servers != MAX_BOUND_INHERIT ? p->db->cfg->max_bound_servers
								     : S()->max_bound_servers;
	if (v < 0)
		v = pool_size_of(p) / 2;
	return v;
}

enum sess_verdict session_check(const struct client *c, const struct server *s, const struct sql_session *se,
				char sqlstate[6], char *msg, size_t msglen)
{
	unsigned f = se->flags;
	if (!f || pool_mode_of(c->pool, c->user) == POOL_SESSION)
		return SESS_FORWARD;
	if ((f & SE_PREPARE_STMT) && (f & SE_MULTI) && mapping_on(c)) {
		snprintf(sqlstate, 6, "0A000");
		snprintf(msg, msglen, "PREPARE, EXECUTE and DEALLOCATE must each be sent as a query of their own "
			 "through pgtide: it maps statement names per client (max_prepared_statements)");
		return SESS_DENY;
	}
	unsigned binds = f & (SE_BINDS | SESS_NAMED_PARSE);
	if ((f & SE_PREPARE_STMT) && !mapping_on(c))
		binds |= SESS_NAMED_PARSE; /* the statement would stay on the server */
	if (!binds || c->bound_flags)
		return SESS_FORWARD;
	const char *what = session_reason_words(binds);
	if (s && s->pool->target) {
		snprintf(sqlstate, 6, "0A000");
		snprintf(msg, msglen, "%s needs a server of its own for this session, which a transaction routed to a "
			 "replica cannot have (read_routing): run it in a read-write transaction", what);
		return SESS_DENY;
	}
	const struct pool *p = s ? s->pool : c->pool;
	int limit = max_bound(p);
	if (p->n_bound >= limit) {
		snprintf(sqlstate, 6, "53400");
		snprintf(msg, msglen, "%s needs a server of its own for this session, and %d of pool \"%s/%s\" may be "
			 "kept that way (max_bound_servers = %d)", what, limit, p->db->name, p->user->name, limit);
		return SESS_DENY;
	}
	return SESS_BIND;
}

const char *session_reason_words(unsigned flags)
{
	if (flags & SESS_NAMED_PARSE)
		return "a prepared statement that pgtide does not map";
	return sql_session_bind_reason(flags);
}

void session_bind(struct client *c, struct server *s, unsigned reason)
{
	if (c->bound_flags)
		return;
	c->bound_flags = (uint16_t)(reason ? reason : SE_TEMP);
	s->pool->n_bound++;
	s->pool->bound_total++;
	client_log(c, LV_LOG, "server S-%u kept for this client until it disconnects: %s", s->id,
		   session_reason_words(reason));
	/* nothing to capture any more: the server stays with its settings */
	if (s->ses.cap)
		s->ses.cap->due = false;
}

static void unbind(struct client *c, struct pool *p)
{
	if (!c->bound_flags)
		return;
	c->bound_flags = 0;
	if (p->n_bound > 0)
		p->n_bound--;
}

const char *session_bound_reason(const struct client *c)
{
	return c->bound_flags ? session_reason_words(c->bound_flags) : "";
}

/* ---- what a message leaves ---- */

static struct sess_capture *cap_get(struct server *s)
{
	if (!s->ses.cap) {
		s->ses.cap = xcalloc(1, sizeof(*s->ses.cap));
		sset_builder_init(&s->ses.cap->rows);
	}
	return s->ses.cap;
}

static void cap_add_name(struct sess_capture *cap, const char *name)
{
	struct istr *n = istr_get(name);
	for (int i = 0; i < cap->n_names; i++) {
		if (cap->names[i] == n) {
			istr_unref(n);
			return;
		}
	}
	if (cap->n_names == cap->cap_names) {
		cap->cap_names = cap->cap_names ? cap->cap_names * 2 : 8;
		cap->names = xrealloc(cap->names, sizeof(*cap->names) * (size_t)cap->cap_names);
	}
	cap->names[cap->n_names++] = n;
}

void session_capture_drop(struct server *s)
{
	struct sess_capture *cap = s->ses.cap;
	if (!cap)
		return;
	sset_builder_free(&cap->rows);
	for (int i = 0; i < cap->n_names; i++)
		istr_unref(cap->names[i]);
	free(cap->names);
	free(cap);
	s->ses.cap = NULL;
}

void session_note_sent(struct client *c, struct server *s, const struct sql_session *se)
{
	unsigned f = se->flags;
	if (!f)
		return;
	if (f & SE_DEALLOCATE) {
		/* the server's statements may be gone */
		prep_server_forget(s);
	}
	if (f & SE_DISCARD_ALL) {
		prep_client_discard(c);
		s->ses.discard_seen = true;
	}
	if (f & (SE_DISCARD_ALL | SE_RESET_ALL)) {
		tenant_server_forget(s);
		/* parameters Postgres does not report cannot be followed
		 * through a RESET ALL: forgotten on both sides, so they are
		 * not put back */
		pset_forget_unreported(&s->params);
		pset_forget_unreported(&c->params);
	}
	if (session_holds_server(c))
		return; /* the server is the client's: nothing to carry elsewhere */
	if (f & SE_UNKNOWN) {
		if (s->ses.reset < SR_DISCARD)
			s->ses.reset = SR_DISCARD;
		client_log(c, LV_LOG, "a statement changed session state pgtide cannot follow by name: S-%u is reset "
			   "before another client uses it, and this client's next transaction may not see that change",
			   s->id);
	}
	if (f & SE_SETTINGS) {
		struct sess_capture *cap = cap_get(s);
		cap->due = true;
		for (int i = 0; i < se->n_names; i++)
			cap_add_name(cap, se->names[i]);
	}
}

/* ---- apply ---- */

const char *session_apply_sql(const struct server *s, const struct client *c)
{
	return sset_apply_sql(s->ses.sess, c->sess, &text) ? text.data : NULL;
}

void session_applied(struct server *s, struct client *c)
{
	set_slot(&s->ses.sess, c->sess);
}

void session_apply_failed(struct server *s, struct client *c)
{
	(void)s;
	client_log(c, LV_WARNING, "could not restore this client's session settings on S-%u: they are reset to the "
		   "defaults", s->id);
	struct sset *e = sset_empty();
	set_slot(&c->sess, e);
	sset_unref(e);
}

/* ---- capture ---- */

bool session_capture_due(const struct server *s)
{
	return s->ses.cap && s->ses.cap->due && s->client && !session_holds_server(s->client);
}

const char *session_capture_sql(struct server *s)
{
	struct sess_capture *cap = s->ses.cap;
	const struct sset *cur = s->client ? s->client->sess : NULL;
	/* custom (dotted) settings the client has are asked for by name too:
	 * pg_settings does not list them */
	const char *name;
	for (size_t i = 0; (name = sset_name_at(cur, i)); i++)
		if (strchr(name, '.'))
			cap_add_name(cap, name);
	cap->due = false;
	sset_builder_free(&cap->rows);
	strbuf_reset(&text);
	strbuf_puts(&text, "SELECT name, setting FROM pg_catalog.pg_settings WHERE source = 'session' "
			   "UNION ALL SELECT 'role', pg_catalog.current_setting('role') "
			   "UNION ALL SELECT 'session_authorization', pg_catalog.current_setting('session_authorization')");
	if (cap->n_names) {
		strbuf_puts(&text, " UNION ALL SELECT n, pg_catalog.current_setting(n, true) FROM (VALUES ");
		for (int i = 0; i < cap->n_names; i++) {
			char lit[2 * SQL_SESS_NAME_LEN + 8];
			if (!sql_quote_literal(cap->names[i]->s, lit, sizeof(lit)))
				continue;
			strbuf_printf(&text, "%s(%s)", i ? ", " : "", lit);
		}
		strbuf_puts(&text, ") v(n)");
	}
	return text.failed ? NULL : text.data;
}

bool session_capture_row(struct server *s, const struct pmsg *m)
{
	struct sess_capture *cap = s->ses.cap;
	if (!cap)
		return true;
	const char *name, *value;
	uint32_t nlen, vlen;
	if (!sset_parse_row(m->body, m->body_len, &name, &nlen, &value, &vlen))
		return false;
	if (!value)
		return true; /* a custom setting this session never had */
	char low[SSET_NAME_MAX * 4 + 1];
	if (nlen >= sizeof(low)) {
		cap->rows.overflow = true;
		return true;
	}
	for (uint32_t i = 0; i < nlen; i++)
		low[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
	low[nlen] = '\0';
	/* what pgtide follows elsewhere, and what is everyone's default */
	if (param_index(low) >= 0 || (g.tenant_setting && strcmp(low, g.tenant_setting) == 0))
		return true;
	/* A transaction's own modes: every transaction starts them afresh,
	 * but after one SET TRANSACTION pg_settings shows them as "session"
	 * for good. Carried to another server they would only fail there
	 * (on a replica, "transaction read-write mode must be set before any
	 * query"). */
	if (strncmp(low, "transaction_", 12) == 0 &&
	    (strcmp(low + 12, "read_only") == 0 || strcmp(low + 12, "isolation") == 0 ||
	     strcmp(low + 12, "deferrable") == 0))
		return true;
	if (strcmp(low, "role") == 0 && vlen == 4 && memcmp(value, "none", 4) == 0)
		return true;
	if (strcmp(low, "session_authorization") == 0 && vlen == strlen(s->pool->user->name) &&
	    memcmp(value, s->pool->user->name, vlen) == 0)
		return true;
	if (strchr(low, '.') && vlen == 0)
		return true;
	sset_builder_add(&cap->rows, low, nlen, value, vlen);
	return true;
}

bool session_capture_done(struct server *s)
{
	struct sess_capture *cap = s->ses.cap;
	if (!cap)
		return true;
	struct sset *set = sset_builder_finish(&cap->rows);
	bool ok = set != NULL;
	if (!ok) {
		set = sset_empty();
		if (s->ses.reset < SR_DISCARD)
			s->ses.reset = SR_DISCARD;
		if (s->client)
			client_log(s->client, LV_WARNING, "session settings over %d entries or %d bytes are not carried "
				   "to other servers: this client's were reset", SSET_MAX_ENTRIES, SSET_MAX_BYTES);
	}
	set_slot(&s->ses.sess, set);
	if (s->client)
		set_slot(&s->client->sess, set);
	sset_unref(set);
	if (!cap->due)
		session_capture_drop(s);
	return ok;
}

/* ---- hand-over ---- */

bool session_needs_reset(const struct server *s, const struct client *c)
{
	if (s->ses.reset != SR_NONE)
		return true;
	int mode = S()->tenant_switch_reset;
	if (mode == TSR_OFF || !s->ses.used || s->ses.last_tenant == c->tenant)
		return false;
	if (mode == TSR_ALWAYS)
		return true;
	return s->ses.last_bound_user || c->user->tenant != NULL;
}

void session_linked(struct server *s, const struct client *c)
{
	if (s->ses.last_tenant != c->tenant) {
		tenant_unref(s->ses.last_tenant);
		s->ses.last_tenant = tenant_ref(c->tenant);
	}
	s->ses.last_bound_user = c->user->tenant != NULL;
	s->ses.used = true;
}

enum sess_reset session_release_reset(const struct server *s, const struct client *c)
{
	if (c && c->bound_flags) /* the client leaves: what it kept on the server goes */
		return (c->bound_flags & SE_LOAD) ? SR_CLOSE : SR_DISCARD;
	return (enum sess_reset)s->ses.reset;
}

void session_on_release(struct server *s, struct client *c)
{
	if (!c || !c->bound_flags)
		return;
	client_log(c, LV_DEBUG, "gives up S-%u: %s", s->id,
		   session_release_reset(s, c) == SR_CLOSE ? "closing it" : "resetting it");
	unbind(c, s->pool);
}

void session_txn_end(struct server *s, struct client *c)
{
	if (!s->ses.discard_seen)
		return;
	/* DISCARD ALL ran: nothing the client kept is left on the server */
	s->ses.discard_seen = false;
	if (c->bound_flags && !(c->bound_flags & SE_LOAD)) {
		client_log(c, LV_DEBUG, "DISCARD ALL: S-%u is no longer kept for this client", s->id);
		unbind(c, s->pool);
	}
	struct sset *e = sset_empty();
	set_slot(&c->sess, e);
	set_slot(&s->ses.sess, e);
	sset_unref(e);
	if (s->ses.cap)
		s->ses.cap->due = false;
}

void session_state_unknown(struct server *s)
{
	if (s->ses.reset < SR_DISCARD)
		s->ses.reset = SR_DISCARD;
}

void session_mode_used(struct server *s)
{
	s->ses.dirty = true;
}

void session_mode_reset(struct server *s)
{
	s->ses.dirty = false;
}

void session_server_init(struct server *s)
{
	s->ses.sess = sset_empty();
}

void session_server_clean(struct server *s)
{
	struct sset *e = sset_empty();
	set_slot(&s->ses.sess, e);
	sset_unref(e);
	s->ses.reset = SR_NONE;
	s->ses.used = false;
	s->ses.discard_seen = false;
	tenant_unref(s->ses.last_tenant);
	s->ses.last_tenant = NULL;
	session_capture_drop(s);
}

void session_client_free(struct client *c)
{
	if (c->bound_flags && c->pool)
		unbind(c, c->pool);
	sset_unref(c->sess);
	c->sess = NULL;
}

void session_server_free(struct server *s)
{
	session_capture_drop(s);
	sset_unref(s->ses.sess);
	s->ses.sess = NULL;
	tenant_unref(s->ses.last_tenant);
	s->ses.last_tenant = NULL;
}
