/*
 * Message builders: write protocol messages into a buffer.
 *
 * Owns: nothing but the optional heap block of a growable pktbuf. A fixed
 * pktbuf writes into caller memory (the per-connection output area, see
 * sbuf.c) and turns sticky-failed instead of overflowing; a growable one
 * (admin output, startup packets) reallocates. Parsing lives in proto.c.
 */
#ifndef PGTIDE_PKTBUF_H
#define PGTIDE_PKTBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pktbuf {
	uint8_t *buf;
	size_t cap;
	size_t len;
	size_t msg_start;  /* offset of the message being built */
	bool growable;
	bool failed;       /* out of room (fixed) or memory (growable) */
};

void pkt_init_fixed(struct pktbuf *pb, uint8_t *buf, size_t cap);
void pkt_init_growable(struct pktbuf *pb, size_t initial);
void pkt_free(struct pktbuf *pb);

void pkt_begin(struct pktbuf *pb, uint8_t type);
void pkt_begin_untyped(struct pktbuf *pb);   /* startup-phase packets */
void pkt_end(struct pktbuf *pb);
void pkt_end_untyped(struct pktbuf *pb);
void pkt_put_bytes(struct pktbuf *pb, const void *data, size_t len);
void pkt_put_cstr(struct pktbuf *pb, const char *s);

/* The small puts are inline: messages pgtide builds on the hot path (the
 * tenant SET, synthesized answers) are mostly these. The slow path (room
 * to grow, or a sticky failure) is pkt_put_bytes. */
static inline void pkt_put_byte(struct pktbuf *pb, uint8_t v)
{
	if (!pb->failed && pb->len < pb->cap)
		pb->buf[pb->len++] = v;
	else
		pkt_put_bytes(pb, &v, 1);
}

static inline void pkt_put_int16(struct pktbuf *pb, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	if (!pb->failed && pb->len + 2 <= pb->cap) {
		pb->buf[pb->len] = b[0];
		pb->buf[pb->len + 1] = b[1];
		pb->len += 2;
	} else {
		pkt_put_bytes(pb, b, 2);
	}
}

static inline void pkt_put_int32(struct pktbuf *pb, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	if (!pb->failed && pb->len + 4 <= pb->cap) {
		for (int i = 0; i < 4; i++)
			pb->buf[pb->len + (size_t)i] = b[i];
		pb->len += 4;
	} else {
		pkt_put_bytes(pb, b, 4);
	}
}

/*
 * Answers pgtide gives in the server's place (prepare.c decides them,
 * RQ_SYNTH entries and send plans carry them): an empty backend message
 * such as ParseComplete ('1'), or one of these, which are none of the
 * backend types pgtide synthesizes. pkt_synth writes one; for a Query the
 * caller adds the ReadyForQuery.
 */
enum synth_tag {
	SYNTH_PREPARE = 'P',        /* CommandComplete PREPARE */
	SYNTH_DEALLOCATE = 'A',     /* CommandComplete DEALLOCATE */
	SYNTH_DEALLOCATE_ALL = 'L', /* CommandComplete DEALLOCATE ALL */
	SYNTH_NO_PARAMS = 'Q',      /* Describe of a statement without parameters or rows: 't' (none) and 'n' */
};
void pkt_synth(struct pktbuf *pb, char what);

/* Whole messages. */
void pkt_error(struct pktbuf *pb, const char *severity, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void pkt_verror(struct pktbuf *pb, const char *severity, const char *sqlstate, const char *fmt, va_list ap);
void pkt_notice(struct pktbuf *pb, const char *sqlstate, const char *msg);
void pkt_rfq(struct pktbuf *pb, char status);
void pkt_param_status(struct pktbuf *pb, const char *name, const char *value);
void pkt_auth(struct pktbuf *pb, uint32_t code, const void *data, size_t len);
void pkt_backend_key(struct pktbuf *pb, uint32_t pid, uint32_t key);
void pkt_command_complete(struct pktbuf *pb, const char *tag);
void pkt_empty(struct pktbuf *pb, uint8_t type); /* '1','2','3','n','c','H'... with no body */
void pkt_query(struct pktbuf *pb, const char *sql);
void pkt_parse(struct pktbuf *pb, const char *name, const char *sql);
void pkt_bind_noparams(struct pktbuf *pb, const char *portal, const char *stmt);
void pkt_execute(struct pktbuf *pb, const char *portal, uint32_t max_rows);
void pkt_close(struct pktbuf *pb, char kind, const char *name);
/* One of pgtide's own statements in front of a client's request group
 * (no Sync: if it fails, Postgres skips the client's messages): Parse as
 * the unnamed statement, so no name of pgtide's shows in
 * pg_prepared_statements or meets a client's, then Bind and Execute. The
 * unnamed portal, or with portal set a named one closed again (the client
 * may have left its unnamed portal suspended). Returns the number of
 * replies the server owes for it: Parse, Bind, Execute (and Close). */
int pkt_own_statement(struct pktbuf *pb, const char *sql, size_t len, const char *portal);
/* The name pkt_own_statement's portal takes when one is needed, and the
 * frontend types of its messages in order (what the replies answer). */
#define PKT_OWN_PORTAL "_pgtide"
extern const uint8_t pkt_own_types[4];

void pkt_sync(struct pktbuf *pb);
void pkt_password(struct pktbuf *pb, const char *password);
void pkt_sasl_initial(struct pktbuf *pb, const char *mech, const void *data, size_t len);
void pkt_sasl_response(struct pktbuf *pb, const void *data, size_t len);
void pkt_cancel_request(struct pktbuf *pb, uint32_t pid, uint32_t key);
void pkt_negotiate_protocol(struct pktbuf *pb, uint32_t newest_minor, int nopts, const char *const *opts);

/* Row output for the admin console (text format). */
void pkt_row_description(struct pktbuf *pb, int ncols, const char *const *names, const uint32_t *type_oids);
void pkt_data_row(struct pktbuf *pb, int ncols, const char *const *values);

#define OID_TEXT 25u
#define OID_INT4 23u
#define OID_INT8 20u
#define OID_NUMERIC 1700u
#define OID_TIMESTAMPTZ 1184u

#endif
