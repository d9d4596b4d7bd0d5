/*
 * Tenant scheduling: which waiting client of a pool gets the next server,
 * and the per-tenant limits (max_tenant_servers, tenant_xact_rate).
 *
 * Owns: struct sched_slot, one per (pool, tenant) that has clients waiting
 * in the pool or holds servers of it, and each pool's ring of slots that
 * may be served now. Decides only: pool.c links the client named here;
 * nothing is sent, queued or closed in this file.
 *
 * Fairness is weighted round-robin over the tenants that wait: the slot at
 * the head of the ring is served `weight` times (1 unless [tenants] says
 * more), then goes to the back. Within a tenant, first come, first served;
 * clients with no tenant form one group of their own. So a tenant with 100
 * waiting clients and one with 1 alternate, and the quiet one waits for at
 * most one server per other waiting tenant, not for the whole backlog.
 * With one tenant alone nothing changes: it gets every free server.
 *
 * Cost: O(1) per decision (a slot leaves the ring when a limit holds it, so
 * the head is served or removed); a slot exists only while its tenant
 * waits in or holds servers of the pool, and is reused from the pool's
 * spare list, so a transaction allocates nothing once a pool has seen its
 * busiest moment.
 */
#include "autoconf.h"

#include "schedule.h"

#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "tenant.h"
#include "util/strbuf.h"

enum slot_place { SP_NONE, SP_RING, SP_HELD };

struct sched_slot {
	struct hnode hn;         /* pool->sched.slots, keyed by tenant */
	struct tenant *t;        /* NULL: the clients with no tenant */
	struct list waiters;     /* clients (by sched.node), oldest first */
	struct list link;        /* in the ring, the held list or spare */
	enum slot_place where;
	int n_waiting;
	int n_servers;           /* servers its clients hold in this pool */
	int turns;               /* left in its current turn in the ring */
	char held;               /* a limit held its waiters since they began to
				  * wait: 'r' rate, 's' servers (for the message
				  * of a waiter that times out once back in the ring) */
};

static bool slot_eq(const struct hnode *n, const void *key)
{
	return container_of(n, struct sched_slot, hn)->t == key;
}

static uint64_t tenant_hash(const struct tenant *t)
{
	return hash_u64((uint64_t)(uintptr_t)t);
}

void sched_pool_init(struct pool *p, event_callback_fn on_rate_timer)
{
	htab_init(&p->sched.slots);
	list_init(&p->sched.ring);
	list_init(&p->sched.held);
	list_init(&p->sched.spare);
	evtimer_assign(&p->sched.timer, g.base, on_rate_timer, p);
}

void sched_pool_free(struct pool *p)
{
	if (p->sched.timer_armed)
		event_del(&p->sched.timer);
	p->sched.timer_armed = false;
	size_t it;
	struct hnode *n, *next;
	for (n = htab_next(&p->sched.slots, NULL, &it); n; n = next) {
		next = htab_next(&p->sched.slots, n, &it);
		struct sched_slot *sl = container_of(n, struct sched_slot, hn);
		htab_remove(&p->sched.slots, n);
		tenant_unref(sl->t);
		free(sl);
	}
	htab_free(&p->sched.slots);
	struct list *ln, *tmp;
	list_for_each_safe(ln, tmp, &p->sched.spare) {
		list_del(ln);
		free(container_of(ln, struct sched_slot, link));
	}
}

/* ---- limits ---- */

static int server_limit(const struct pool *p, const struct sched_slot *sl)
{
	return sl->t ? db_max_tenant_servers(g.cfg, p->db->cfg) : 0;
}

static bool at_server_limit(const struct pool *p, const struct sched_slot *sl)
{
	int limit = server_limit(p, sl);
	return limit > 0 && sl->n_servers >= limit;
}

/* The tenant's bucket, refilled to now: at most one second of rate. */
static void refill(struct tenant *t, usec_t now)
{
	int rate = S()->tenant_xact_rate;
	double burst = rate > 1 ? rate : 1;
	if (!t->tokens_at) {
		t->tokens = burst;
	} else {
		t->tokens += (double)(now - t->tokens_at) * rate / USEC;
		if (t->tokens > burst)
			t->tokens = burst;
	}
	t->tokens_at = now;
}

static bool rate_held(struct tenant *t, usec_t now)
{
	if (!t || S()->tenant_xact_rate <= 0)
		return false;
	refill(t, now);
	return t->tokens < 1;
}

/* ---- slots ---- */

static struct sched_slot *slot_find(const struct pool *p, const struct tenant *t)
{
	struct hnode *n = htab_find(&p->sched.slots, tenant_hash(t), slot_eq, t);
	return n ? container_of(n, struct sched_slot, hn) : NULL;
}

static struct sched_slot *slot_get(struct pool *p, struct tenant *t)
{
	struct sched_slot *sl = slot_find(p, t);
	if (sl)
		return sl;
	struct list *ln = list_first(&p->sched.spare);
	if (ln) {
		list_del(ln);
		sl = container_of(ln, struct sched_slot, link);
		memset(sl, 0, sizeof(*sl));
	} else {
		sl = xcalloc(1, sizeof(*sl));
	}
	sl->t = tenant_ref(t);
	list_init(&sl->waiters);
	list_init(&sl->link);
	htab_insert(&p->sched.slots, &sl->hn, tenant_hash(t));
	return sl;
}

static int weight_of(const struct sched_slot *sl)
{
	return sl->t ? config_tenant_weight(g.cfg, sl->t->id) : 1;
}

static void arm_timer(struct pool *p, usec_t wait)
{
	if (p->sched.timer_armed)
		return;
	if (wait < 1000)
		wait = 1000;
	struct timeval tv = { (time_t)(wait / USEC), (suseconds_t)(wait % USEC) };
	evtimer_add(&p->sched.timer, &tv);
	p->sched.timer_armed = true;
}

/*
 * Put a slot where its state says: in the ring (waiters, no limit holds
 * it), on the held list (its tenant is over tenant_xact_rate: a timer
 * brings it back), nowhere (no waiters, or max_tenant_servers: a server
 * it gives back brings it back), or back to the spare list when it has
 * neither waiters nor servers. Keeps p->sched.blocked in step.
 */
static void place(struct pool *p, struct sched_slot *sl, usec_t now)
{
	enum slot_place want = SP_NONE;
	if (sl->n_waiting > 0 && !at_server_limit(p, sl))
		want = rate_held(sl->t, now) ? SP_HELD : SP_RING;
	if (sl->where != SP_RING)
		p->sched.blocked -= sl->n_waiting;
	if (want != sl->where) {
		if (sl->where != SP_NONE)
			list_del(&sl->link);
		if (want == SP_RING) {
			list_add_tail(&p->sched.ring, &sl->link);
			sl->turns = weight_of(sl);
		} else if (want == SP_HELD) {
			list_add_tail(&p->sched.held, &sl->link);
			sl->t->held_by_rate++;
			sl->held = 'r';
		} else if (sl->n_waiting > 0) {
			sl->t->held_by_servers++; /* at max_tenant_servers */
			sl->held = 's';
		}
		sl->where = want;
	}
	if (sl->where == SP_HELD) {
		/* when its next token is due (a millisecond late rather than
		 * early: the bucket is a double) */
		int rate = S()->tenant_xact_rate;
		arm_timer(p, (usec_t)((1 - sl->t->tokens) * USEC / rate) + 1000);
	}
	if (sl->where != SP_RING)
		p->sched.blocked += sl->n_waiting;
	if (sl->n_waiting == 0)
		sl->held = 0;
	if (sl->n_waiting == 0 && sl->n_servers == 0) {
		htab_remove(&p->sched.slots, &sl->hn);
		tenant_unref(sl->t);
		sl->t = NULL;
		list_add_head(&p->sched.spare, &sl->link);
	}
}

/* A held slot's tenant may have tokens again: back into the ring. */
bool sched_rate_timer(struct pool *p)
{
	p->sched.timer_armed = false;
	usec_t now = now_usec();
	struct list *ln, *tmp;
	bool moved = false;
	list_for_each_safe(ln, tmp, &p->sched.held) {
		struct sched_slot *sl = container_of(ln, struct sched_slot, link);
		place(p, sl, now);
		moved |= sl->where == SP_RING;
	}
	return moved;
}

/* ---- the decisions ---- */

void sched_wait(struct pool *p, struct client *c)
{
	struct sched_slot *sl = slot_get(p, c->tenant);
	c->sched.wait = sl;
	list_add_tail(&sl->waiters, &c->sched.node);
	if (sl->where != SP_RING)
		p->sched.blocked++;
	sl->n_waiting++;
	place(p, sl, now_usec());
	if (sl->t)
		sl->t->waiting++;
}

void sched_unwait(struct client *c)
{
	struct sched_slot *sl = c->sched.wait;
	if (!sl)
		return;
	struct pool *p = c->wait_pool;
	c->sched.wait = NULL;
	list_del(&c->sched.node);
	if (sl->where != SP_RING)
		p->sched.blocked--;
	sl->n_waiting--;
	if (sl->t) {
		usec_t waited = now_usec() - c->wait_start;
		sl->t->waiting--;
		sl->t->wait_time += (uint64_t)waited;
		if (waited > sl->t->max_wait)
			sl->t->max_wait = waited;
	}
	place(p, sl, now_usec());
}

struct client *sched_next(struct pool *p)
{
	usec_t now = 0;
	struct list *ln;
	while ((ln = list_first(&p->sched.ring))) {
		struct sched_slot *sl = container_of(ln, struct sched_slot, link);
		if (sl->t && (S()->tenant_xact_rate > 0 || server_limit(p, sl) > 0)) {
			/* its tenant's tokens may have gone in another pool, or a
			 * reload lowered a limit: placed again, it may leave */
			if (!now)
				now = now_usec();
			place(p, sl, now);
			if (sl->where != SP_RING)
				continue;
		}
		struct client *c = container_of(list_first(&sl->waiters), struct client, sched.node);
		if (--sl->turns <= 0) {
			list_del(&sl->link);
			list_add_tail(&p->sched.ring, &sl->link);
			sl->turns = weight_of(sl);
		}
		return c;
	}
	return NULL;
}

bool sched_may_take(struct pool *p, const struct client *c)
{
	struct tenant *t = c->tenant;
	if (!t)
		return true;
	if (db_max_tenant_servers(g.cfg, p->db->cfg) > 0) {
		struct sched_slot *sl = slot_find(p, t);
		if (sl && at_server_limit(p, sl))
			return false;
	}
	return !rate_held(t, now_usec());
}

void sched_linked(struct pool *p, struct client *c)
{
	sched_unlinked(c);
	struct tenant *t = c->tenant;
	if (!t)
		return;
	c->sched.tenant = tenant_ref(t);
	t->servers++;
	if (S()->tenant_xact_rate > 0) {
		refill(t, now_usec());
		t->tokens -= 1;
	}
	/* servers are counted per pool only when a limit needs it: no slot
	 * to keep per transaction otherwise */
	if (db_max_tenant_servers(g.cfg, p->db->cfg) > 0) {
		struct sched_slot *sl = slot_get(p, t);
		c->sched.held = sl;
		c->sched.pool = p;
		sl->n_servers++;
		place(p, sl, now_usec()); /* it may be at its limit now */
	}
}

void sched_unlinked(struct client *c)
{
	struct tenant *t = c->sched.tenant;
	if (!t)
		return;
	c->sched.tenant = NULL;
	t->servers--;
	struct sched_slot *sl = c->sched.held;
	if (sl) {
		struct pool *p = c->sched.pool;
		c->sched.held = NULL;
		c->sched.pool = NULL;
		sl->n_servers--;
		place(p, sl, now_usec());
	}
	tenant_unref(t);
}

int sched_runnable(const struct pool *p)
{
	return p->n_waiting - p->sched.blocked;
}

const char *sched_wait_reason(const struct client *c, char *buf, size_t len)
{
	const struct sched_slot *sl = c->sched.wait;
	buf[0] = '\0';
	if (!sl || !sl->t)
		return buf;
	char kind = sl->where == SP_HELD ? 'r' : sl->where == SP_NONE ? 's' : sl->held;
	if (!kind)
		return buf;
	if (kind == 'r')
		snprintf(buf, len, "tenant \"%.64s\" is over tenant_xact_rate (%d transactions per second)", sl->t->id,
			 S()->tenant_xact_rate);
	else
		snprintf(buf, len, "tenant \"%.64s\" holds max_tenant_servers (%d) servers of this pool", sl->t->id,
			 server_limit(c->wait_pool, sl));
	return buf;
}
