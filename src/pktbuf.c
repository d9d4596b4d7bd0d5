/*
 * Message builders.
 *
 * Owns: a growable pktbuf's heap block. Lengths are patched in pkt_end, so a
 * message is written once, in place, with no intermediate copy.
 */
#include "autoconf.h"

#include "pktbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

void pkt_init_fixed(struct pktbuf *pb, uint8_t *buf, size_t cap)
{
	pb->buf = buf;
	pb->cap = cap;
	pb->len = 0;
	pb->msg_start = 0;
	pb->growable = false;
	pb->failed = false;
}

void pkt_init_growable(struct pktbuf *pb, size_t initial)
{
	pkt_init_fixed(pb, NULL, 0);
	pb->growable = true;
	if (initial) {
		pb->buf = malloc(initial);
		if (pb->buf)
			pb->cap = initial;
		else
			pb->failed = true;
	}
}

void pkt_free(struct pktbuf *pb)
{
	if (pb->growable)
		free(pb->buf);
	pkt_init_fixed(pb, NULL, 0);
}

static bool pkt_room(struct pktbuf *pb, size_t n)
{
	if (pb->failed)
		return false;
	if (pb->len + n <= pb->cap)
		return true;
	if (!pb->growable) {
		pb->failed = true;
		return false;
	}
	size_t ncap = pb->cap ? pb->cap : 256;
	while (ncap < pb->len + n)
		ncap *= 2;
	uint8_t *nb = realloc(pb->buf, ncap);
	if (!nb) {
		pb->failed = true;
		return false;
	}
	pb->buf = nb;
	pb->cap = ncap;
	return true;
}

void pkt_put_bytes(struct pktbuf *pb, const void *data, size_t len)
{
	if (!pkt_room(pb, len))
		return;
	if (len)
		memcpy(pb->buf + pb->len, data, len);
	pb->len += len;
}

void pkt_put_cstr(struct pktbuf *pb, const char *s)
{
	pkt_put_bytes(pb, s, strlen(s) + 1);
}

void pkt_begin(struct pktbuf *pb, uint8_t type)
{
	pb->msg_start = pb->len;
	pkt_put_byte(pb, type);
	pkt_put_int32(pb, 0);
}

void pkt_begin_untyped(struct pktbuf *pb)
{
	pb->msg_start = pb->len;
	pkt_put_int32(pb, 0);
}

void pkt_end(struct pktbuf *pb)
{
	if (pb->failed)
		return;
	/* the length follows the type byte and counts itself, not the type */
	proto_put32(pb->buf + pb->msg_start + 1, (uint32_t)(pb->len - pb->msg_start - 1));
}

void pkt_end_untyped(struct pktbuf *pb)
{
	if (pb->failed)
		return;
	proto_put32(pb->buf + pb->msg_start, (uint32_t)(pb->len - pb->msg_start));
}

void pkt_verror(struct pktbuf *pb, const char *severity, const char *sqlstate, const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	pkt_begin(pb, 'E');
	pkt_put_byte(pb, 'S');
	pkt_put_cstr(pb, severity);
	pkt_put_byte(pb, 'V');
	pkt_put_cstr(pb, severity);
	pkt_put_byte(pb, 'C');
	pkt_put_cstr(pb, sqlstate);
	pkt_put_byte(pb, 'M');
	pkt_put_cstr(pb, msg);
	pkt_put_byte(pb, 0);
	pkt_end(pb);
}

void pkt_error(struct pktbuf *pb, const char *severity, const char *sqlstate, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pkt_verror(pb, severity, sqlstate, fmt, ap);
	va_end(ap);
}

void pkt_notice(struct pktbuf *pb, const char *sqlstate, const char *msg)
{
	pkt_begin(pb, 'N');
	pkt_put_byte(pb, 'S');
	pkt_put_cstr(pb, "WARNING");
	pkt_put_byte(pb, 'V');
	pkt_put_cstr(pb, "WARNING");
	pkt_put_byte(pb, 'C');
	pkt_put_cstr(pb, sqlstate);
	pkt_put_byte(pb, 'M');
	pkt_put_cstr(pb, msg);
	pkt_put_byte(pb, 0);
	pkt_end(pb);
}

void pkt_rfq(struct pktbuf *pb, char status)
{
	pkt_begin(pb, 'Z');
	pkt_put_byte(pb, (uint8_t)status);
	pkt_end(pb);
}

void pkt_param_status(struct pktbuf *pb, const char *name, const char *value)
{
	pkt_begin(pb, 'S');
	pkt_put_cstr(pb, name);
	pkt_put_cstr(pb, value);
	pkt_end(pb);
}

void pkt_auth(struct pktbuf *pb, uint32_t code, const void *data, size_t len)
{
	pkt_begin(pb, 'R');
	pkt_put_int32(pb, code);
	pkt_put_bytes(pb, data, len);
	pkt_end(pb);
}

void pkt_backend_key(struct pktbuf *pb, uint32_t pid, uint32_t key)
{
	pkt_begin(pb, 'K');
	pkt_put_int32(pb, pid);
	pkt_put_int32(pb, key);
	pkt_end(pb);
}

void pkt_command_complete(struct pktbuf *pb, const char *tag)
{
	pkt_begin(pb, 'C');
	pkt_put_cstr(pb, tag);
	pkt_end(pb);
}

void pkt_empty(struct pktbuf *pb, uint8_t type)
{
	pkt_begin(pb, type);
	pkt_end(pb);
}

void pkt_query(struct pktbuf *pb, const char *sql)
{
	pkt_begin(pb, 'Q');
	pkt_put_cstr(pb, sql);
	pkt_end(pb);
}

void pkt_parse(struct pktbuf *pb, const char *name, const char *sql)
{
	pkt_begin(pb, 'P');
	pkt_put_cstr(pb, name);
	pkt_put_cstr(pb, sql);
	pkt_put_int16(pb, 0);
	pkt_end(pb);
}

void pkt_bind_noparams(struct pktbuf *pb, const char *portal, const char *stmt)
{
	pkt_begin(pb, 'B');
	pkt_put_cstr(pb, portal);
	pkt_put_cstr(pb, stmt);
	pkt_put_int16(pb, 0); /* parameter formats */
	pkt_put_int16(pb, 0); /* parameters */
	pkt_put_int16(pb, 0); /* result formats */
	pkt_end(pb);
}

void pkt_execute(struct pktbuf *pb, const char *portal, uint32_t max_rows)
{
	pkt_begin(pb, 'E');
	pkt_put_cstr(pb, portal);
	pkt_put_int32(pb, max_rows);
	pkt_end(pb);
}

void pkt_synth(struct pktbuf *pb, char what)
{
	switch (what) {
	case SYNTH_PREPARE:
		pkt_command_complete(pb, "PREPARE");
		break;
	case SYNTH_DEALLOCATE:
		pkt_command_complete(pb, "DEALLOCATE");
		break;
	case SYNTH_DEALLOCATE_ALL:
		pkt_command_complete(pb, "DEALLOCATE ALL");
		break;
	case SYNTH_NO_PARAMS:
		pkt_begin(pb, 't');
		pkt_put_int16(pb, 0);
		pkt_end(pb);
		pkt_empty(pb, 'n');
		break;
	default:
		pkt_empty(pb, (uint8_t)what);
		break;
	}
}

const uint8_t pkt_own_types[4] = { 'P', 'B', 'E', 'C' };

int pkt_own_statement(struct pktbuf *pb, const char *sql, size_t len, const char *portal)
{
	pkt_begin(pb, 'P');
	pkt_put_byte(pb, 0);
	pkt_put_bytes(pb, sql, len);
	pkt_put_byte(pb, 0);
	pkt_put_int16(pb, 0); /* no parameter types */
	pkt_end(pb);
	if (!portal) {
		/* Bind "" to "", Execute "": the same bytes every time */
		static const uint8_t run[] = { 'B', 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0,
					       'E', 0, 0, 0, 9, 0, 0, 0, 0, 0 };
		pkt_put_bytes(pb, run, sizeof(run));
		return 3;
	}
	pkt_bind_noparams(pb, portal, "");
	pkt_execute(pb, portal, 0);
	pkt_close(pb, 'P', portal);
	return 4;
}

void pkt_close(struct pktbuf *pb, char kind, const char *name)
{
	pkt_begin(pb, 'C');
	pkt_put_byte(pb, (uint8_t)kind);
	pkt_put_cstr(pb, name);
	pkt_end(pb);
}

void pkt_sync(struct pktbuf *pb)
{
	pkt_empty(pb, 'S');
}

void pkt_password(struct pktbuf *pb, const char *password)
{
	pkt_begin(pb, 'p');
	pkt_put_cstr(pb, password);
	pkt_end(pb);
}

void pkt_sasl_initial(struct pktbuf *pb, const char *mech, const void *data, size_t len)
{
	pkt_begin(pb, 'p');
	pkt_put_cstr(pb, mech);
	pkt_put_int32(pb, (uint32_t)len);
	pkt_put_bytes(pb, data, len);
	pkt_end(pb);
}

void pkt_sasl_response(struct pktbuf *pb, const void *data, size_t len)
{
	pkt_begin(pb, 'p');
	pkt_put_bytes(pb, data, len);
	pkt_end(pb);
}

void pkt_cancel_request(struct pktbuf *pb, uint32_t pid, uint32_t key)
{
	pkt_begin_untyped(pb);
	pkt_put_int32(pb, PROTO_CANCEL_CODE);
	pkt_put_int32(pb, pid);
	pkt_put_int32(pb, key);
	pkt_end_untyped(pb);
}

void pkt_negotiate_protocol(struct pktbuf *pb, uint32_t newest_minor, int nopts, const char *const *opts)
{
	pkt_begin(pb, 'v');
	pkt_put_int32(pb, (3u << 16) | newest_minor);
	pkt_put_int32(pb, (uint32_t)nopts);
	for (int i = 0; i < nopts; i++)
		pkt_put_cstr(pb, opts[i]);
	pkt_end(pb);
}

void pkt_row_description(struct pktbuf *pb, int ncols, const char *const *names, const uint32_t *type_oids)
{
	pkt_begin(pb, 'T');
	pkt_put_int16(pb, (uint16_t)ncols);
	for (int i = 0; i < ncols; i++) {
		pkt_put_cstr(pb, names[i]);
		pkt_put_int32(pb, 0);          /* table oid */
		pkt_put_int16(pb, 0);          /* column number */
		pkt_put_int32(pb, type_oids[i]);
		pkt_put_int16(pb, (uint16_t)(type_oids[i] == OID_INT8 ? 8 : type_oids[i] == OID_INT4 ? 4 : 0xFFFF));
		pkt_put_int32(pb, 0xFFFFFFFFu); /* typmod */
		pkt_put_int16(pb, 0);          /* text format */
	}
	pkt_end(pb);
}

void pkt_data_row(struct pktbuf *pb, int ncols, const char *const *values)
{
	pkt_begin(pb, 'D');
	pkt_put_int16(pb, (uint16_t)ncols);
	for (int i = 0; i < ncols; i++) {
		if (!values[i]) {
			pkt_put_int32(pb, 0xFFFFFFFFu);
			continue;
		}
		size_t len = strlen(values[i]);
		pkt_put_int32(pb, (uint32_t)len);
		pkt_put_bytes(pb, values[i], len);
	}
	pkt_end(pb);
}
