/*
 * A send plan (see sendplan.h): an ordered list that policy fills and
 * server.c plays. Owns only the plan's own memory.
 */
#include "autoconf.h"

#include "sendplan.h"

#include <stdlib.h>
#include <string.h>

/* Room for a Close, a Parse and a Bind header of ordinary size; a long
 * statement text grows the buffer once and it stays grown. */
#define PLAN_BYTES_INITIAL 1024
#define PLAN_STEPS_INITIAL 16

void plan_reset(struct sendplan *p)
{
	if (!p->bytes.buf)
		pkt_init_growable(&p->bytes, PLAN_BYTES_INITIAL);
	p->bytes.len = 0;
	p->bytes.msg_start = 0;
	p->bytes.failed = false;
	p->n = 0;
	p->failed = false;
	p->unsynced = p->queue_empty = p->owes_client = p->emit_due = false;
	p->reply = 0;
	p->reply_tag = NULL;
}

void plan_free(struct sendplan *p)
{
	pkt_free(&p->bytes);
	free(p->steps);
	memset(p, 0, sizeof(*p));
}

static struct plan_step *add(struct sendplan *p, enum plan_op op)
{
	if (p->n == p->cap) {
		unsigned ncap = p->cap ? p->cap * 2 : PLAN_STEPS_INITIAL;
		struct plan_step *n = realloc(p->steps, ncap * sizeof(*n));
		if (!n) {
			p->failed = true;
			return NULL;
		}
		p->steps = n;
		p->cap = ncap;
	}
	struct plan_step *st = &p->steps[p->n++];
	memset(st, 0, sizeof(*st));
	st->op = (uint8_t)op;
	st->upto = p->bytes.len;
	return st;
}

void plan_owe(struct sendplan *p, uint8_t type, uint16_t flags, uint32_t aux)
{
	struct plan_step *st = add(p, PLAN_OWE);
	if (st) {
		st->type = type;
		st->flags = flags;
		st->aux = aux;
	}
}

static void add_ref(struct sendplan *p, enum plan_op op, const uint8_t *ref, size_t len)
{
	struct plan_step *st = add(p, op);
	if (st) {
		st->ref = ref;
		st->len = len;
	}
}

void plan_forward(struct sendplan *p, const uint8_t *ref, size_t len)
{
	add_ref(p, PLAN_FORWARD, ref, len);
}

void plan_copy(struct sendplan *p, const uint8_t *ref, size_t len)
{
	add_ref(p, PLAN_COPY, ref, len);
}

void plan_tenant_set(struct sendplan *p)
{
	add(p, PLAN_TENANT_SET);
}

bool plan_is_empty(const struct sendplan *p)
{
	return p->n == 0 && p->bytes.len == 0 && !p->emit_due;
}
