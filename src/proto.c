/*
 * Postgres wire protocol v3: pure message parsing.
 *
 * Owns: nothing; no I/O, no allocation. Every read is checked against the
 * length it was given. Hostile input must end in PROTO_BAD, never in a read
 * past the buffer (tests/unit/check_proto.c and tests/fuzz/ exercise this).
 */
#include "autoconf.h"

#include "proto.h"

#include <string.h>

enum proto_result proto_header(const uint8_t *p, size_t avail, uint32_t max_len, struct pmsg *m)
{
	if (avail < PROTO_HDR)
		return PROTO_MORE;
	uint32_t len = proto_get32(p + 1);
	if (len < 4 || len > max_len - 1 || len > UINT32_MAX - 1)
		return PROTO_BAD;
	m->type = p[0];
	m->len = len + 1;
	m->body_len = len - 4;
	m->body = p + PROTO_HDR;
	return PROTO_OK;
}

uint8_t preader_byte(struct preader *r)
{
	if (r->bad || r->p + 1 > r->end) {
		r->bad = true;
		return 0;
	}
	return *r->p++;
}

uint16_t preader_int16(struct preader *r)
{
	if (r->bad || r->end - r->p < 2) {
		r->bad = true;
		return 0;
	}
	uint16_t v = proto_get16(r->p);
	r->p += 2;
	return v;
}

uint32_t preader_int32(struct preader *r)
{
	if (r->bad || r->end - r->p < 4) {
		r->bad = true;
		return 0;
	}
	uint32_t v = proto_get32(r->p);
	r->p += 4;
	return v;
}

const char *preader_cstr(struct preader *r)
{
	if (r->bad)
		return NULL;
	const uint8_t *nul = memchr(r->p, '\0', (size_t)(r->end - r->p));
	if (!nul) {
		r->bad = true;
		return NULL;
	}
	const char *s = (const char *)r->p;
	r->p = nul + 1;
	return s;
}

const uint8_t *preader_bytes(struct preader *r, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *s = r->p;
	r->p += n;
	return s;
}

enum proto_result proto_read_startup(const uint8_t *p, size_t avail, struct startup_packet *sp)
{
	sp->err = NULL;
	sp->nparams = 0;
	if (avail < 8)
		return PROTO_MORE;
	uint32_t len = proto_get32(p);
	uint32_t code = proto_get32(p + 4);
	if (len < 8 || len > PROTO_STARTUP_MAX) {
		sp->err = "invalid startup packet length";
		return PROTO_BAD;
	}
	if (avail < len)
		return PROTO_MORE;
	sp->len = len;
	switch (code) {
	case PROTO_SSL_CODE:
	case PROTO_GSSENC_CODE:
		if (len != 8) {
			sp->err = "invalid SSL or GSS encryption request";
			return PROTO_BAD;
		}
		sp->kind = code == PROTO_SSL_CODE ? SP_SSL : SP_GSSENC;
		return PROTO_OK;
	case PROTO_CANCEL_CODE:
		if (len != 16) {
			sp->err = "invalid cancel request";
			return PROTO_BAD;
		}
		sp->kind = SP_CANCEL;
		sp->cancel_pid = proto_get32(p + 8);
		sp->cancel_key = proto_get32(p + 12);
		return PROTO_OK;
	default:
		break;
	}
	if ((code >> 16) != 3) {
		sp->err = "unsupported frontend protocol: pgtide speaks protocol 3";
		return PROTO_BAD;
	}
	sp->kind = SP_STARTUP;
	sp->version = code;

	/* name\0value\0 ... \0 */
	struct preader r;
	preader_init(&r, p + 8, len - 8);
	for (;;) {
		const char *name = preader_cstr(&r);
		if (!name) {
			sp->err = "startup packet is not terminated";
			return PROTO_BAD;
		}
		if (!*name)
			break;
		const char *value = preader_cstr(&r);
		if (!value) {
			sp->err = "startup parameter without a value";
			return PROTO_BAD;
		}
		if (sp->nparams == STARTUP_MAX_PARAMS) {
			sp->err = "too many startup parameters";
			return PROTO_BAD;
		}
		for (int i = 0; i < sp->nparams; i++)
			if (strcmp(sp->params[i].name, name) == 0) {
				sp->err = "duplicate startup parameter";
				return PROTO_BAD;
			}
		sp->params[sp->nparams].name = name;
		sp->params[sp->nparams].value = value;
		sp->nparams++;
	}
	if (!preader_done(&r)) {
		sp->err = "trailing bytes after startup parameters";
		return PROTO_BAD;
	}
	return PROTO_OK;
}

const char *startup_param(const struct startup_packet *sp, const char *name)
{
	for (int i = 0; i < sp->nparams; i++)
		if (strcmp(sp->params[i].name, name) == 0)
			return sp->params[i].value;
	return NULL;
}

bool proto_parse_error(const struct pmsg *m, struct msg_error *e)
{
	struct preader r;
	e->severity = e->sqlstate = e->message = NULL;
	preader_init(&r, m->body, m->body_len);
	const char *sev_s = NULL;
	for (;;) {
		uint8_t code = preader_byte(&r);
		if (r.bad)
			return false;
		if (code == 0)
			break;
		const char *v = preader_cstr(&r);
		if (!v)
			return false;
		switch (code) {
		case 'V': e->severity = v; break;
		case 'S': sev_s = v; break;
		case 'C': e->sqlstate = v; break;
		case 'M': e->message = v; break;
		default: break;
		}
	}
	if (!e->severity)
		e->severity = sev_s;
	return e->severity && e->sqlstate && e->message;
}

bool proto_parse_param_status(const struct pmsg *m, const char **name, const char **value)
{
	struct preader r;
	preader_init(&r, m->body, m->body_len);
	*name = preader_cstr(&r);
	*value = preader_cstr(&r);
	return preader_done(&r);
}

bool proto_parse_rfq(const struct pmsg *m, char *status)
{
	if (m->body_len != 1)
		return false;
	*status = (char)m->body[0];
	return *status == 'I' || *status == 'T' || *status == 'E';
}

bool proto_parse_backend_key(const struct pmsg *m, uint32_t *pid, uint32_t *key)
{
	if (m->body_len != 8)
		return false;
	*pid = proto_get32(m->body);
	*key = proto_get32(m->body + 4);
	return true;
}

bool proto_parse_auth(const struct pmsg *m, uint32_t *code, const uint8_t **data, size_t *len)
{
	if (m->body_len < 4)
		return false;
	*code = proto_get32(m->body);
	*data = m->body + 4;
	*len = m->body_len - 4;
	return true;
}

bool proto_parse_command_complete(const struct pmsg *m, const char **tag)
{
	struct preader r;
	preader_init(&r, m->body, m->body_len);
	*tag = preader_cstr(&r);
	return preader_done(&r);
}

bool proto_parse_parse(const struct pmsg *m, struct msg_parse *p)
{
	struct preader r;
	preader_init(&r, m->body, m->body_len);
	p->name = preader_cstr(&r);
	p->query = preader_cstr(&r);
	p->nparams = preader_int16(&r);
	p->param_types = preader_bytes(&r, (size_t)p->nparams * 4);
	if (!preader_done(&r))
		return false;
	p->query_len = strlen(p->query);
	return true;
}

bool proto_parse_bind(const struct pmsg *m, struct msg_bind *b)
{
	struct preader r;
	preader_init(&r, m->body, m->body_len);
	b->portal = preader_cstr(&r);
	b->stmt = preader_cstr(&r);
	if (r.bad)
		return false;
	b->names_len = (size_t)(r.p - m->body);
	/* The rest must at least be well-formed enough to walk. */
	uint16_t nfmt = preader_int16(&r);
	preader_bytes(&r, (size_t)nfmt * 2);
	uint16_t nparams = preader_int16(&r);
	for (unsigned i = 0; i < nparams && !r.bad; i++) {
		uint32_t plen = preader_int32(&r);
		if (plen != 0xFFFFFFFFu)
			preader_bytes(&r, plen);
	}
	uint16_t nres = preader_int16(&r);
	preader_bytes(&r, (size_t)nres * 2);
	return preader_done(&r);
}

bool proto_parse_describe_close(const struct pmsg *m, char *kind, const char **name)
{
	struct preader r;
	preader_init(&r, m->body, m->body_len);
	*kind = (char)preader_byte(&r);
	*name = preader_cstr(&r);
	return preader_done(&r) && (*kind == 'S' || *kind == 'P');
}

bool proto_parse_query(const struct pmsg *m, const char **query, size_t *len)
{
	const uint8_t *nul = memchr(m->body, '\0', m->body_len);
	if (!nul)
		return false;
	*query = (const char *)m->body;
	*len = (size_t)(nul - m->body);
	return true;
}

bool proto_frontend_type_valid(uint8_t type)
{
	switch (type) {
	case 'Q': case 'P': case 'B': case 'D': case 'E': case 'C': case 'S': case 'H':
	case 'F': case 'd': case 'c': case 'f': case 'X': case 'p':
		return true;
	default:
		return false;
	}
}

bool proto_backend_type_valid(uint8_t type)
{
	switch (type) {
	case 'R': case 'K': case 'S': case 'Z': case 'T': case 'D': case 'C': case 'I':
	case 'E': case 'N': case 'A': case '1': case '2': case '3': case 't': case 'n':
	case 's': case 'G': case 'H': case 'W': case 'd': case 'c': case 'V': case 'v':
		return true;
	default:
		return false;
	}
}
