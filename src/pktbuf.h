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
void pkt_put_byte(struct pktbuf *pb, uint8_t v);
void pkt_put_int16(struct pktbuf *pb, uint16_t v);
void pkt_put_int32(struct pktbuf *pb, uint32_t v);
void pkt_put_bytes(struct pktbuf *pb, const void *data, size_t len);
void pkt_put_cstr(struct pktbuf *pb, const char *s);

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
