/*
 * Postgres wire protocol v3: pure parsing of messages held in memory.
 *
 * Owns: nothing. Every function here is a function of (bytes, length); none
 * does I/O or allocates, none reads past the length it is given, and every
 * length read from the wire is checked before it is believed. A parser says
 * "need more bytes", "message" or "malformed" (PROTO_MORE / PROTO_OK /
 * PROTO_BAD), like h2o's picohttpparser. Message builders live in pktbuf.c.
 */
#ifndef PGTIDE_PROTO_H
#define PGTIDE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Message types, named by direction (the protocol chapter's "Message
 * Formats"): the same letter means different messages each way ('D' is
 * Describe from a client, DataRow from a server), so code says which.
 */
enum fe_msg {            /* frontend: client to server */
	FE_BIND = 'B',
	FE_CLOSE = 'C',
	FE_COPY_DATA = 'd',
	FE_COPY_DONE = 'c',
	FE_COPY_FAIL = 'f',
	FE_DESCRIBE = 'D',
	FE_EXECUTE = 'E',
	FE_FLUSH = 'H',
	FE_FUNCTION_CALL = 'F',
	FE_PARSE = 'P',
	FE_PASSWORD = 'p',   /* also SASL and GSS responses */
	FE_QUERY = 'Q',
	FE_SYNC = 'S',
	FE_TERMINATE = 'X',
};
enum be_msg {            /* backend: server to client */
	BE_AUTH = 'R',
	BE_BACKEND_KEY = 'K',
	BE_BIND_COMPLETE = '2',
	BE_CLOSE_COMPLETE = '3',
	BE_COMMAND_COMPLETE = 'C',
	BE_COPY_BOTH = 'W',
	BE_COPY_DATA = 'd',
	BE_COPY_DONE = 'c',
	BE_COPY_IN = 'G',
	BE_COPY_OUT = 'H',
	BE_DATA_ROW = 'D',
	BE_EMPTY_QUERY = 'I',
	BE_ERROR = 'E',
	BE_FUNCTION_RESULT = 'V',
	BE_NEGOTIATE = 'v',
	BE_NO_DATA = 'n',
	BE_NOTICE = 'N',
	BE_NOTIFICATION = 'A',
	BE_PARAM_DESC = 't',
	BE_PARAM_STATUS = 'S',
	BE_PARSE_COMPLETE = '1',
	BE_PORTAL_SUSPENDED = 's',
	BE_READY = 'Z',
	BE_ROW_DESC = 'T',
};

enum proto_result { PROTO_OK = 0, PROTO_MORE = 1, PROTO_BAD = -1 };

#define PROTO_V3 196608u          /* 3.0 */
#define PROTO_SSL_CODE 80877103u
#define PROTO_GSSENC_CODE 80877104u
#define PROTO_CANCEL_CODE 80877102u
#define PROTO_STARTUP_MAX 10000u  /* longest startup packet accepted */
#define PROTO_HDR 5u              /* type byte + int32 length */

/* Authentication request codes ('R'). */
enum {
	AUTH_REQ_OK = 0,
	AUTH_REQ_PASSWORD = 3,
	AUTH_REQ_MD5 = 5,
	AUTH_REQ_SASL = 10,
	AUTH_REQ_SASL_CONT = 11,
	AUTH_REQ_SASL_FIN = 12,
};

static inline uint32_t proto_get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline uint16_t proto_get16(const uint8_t *p)
{
	return (uint16_t)(((uint16_t)p[0] << 8) | p[1]);
}

static inline void proto_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void proto_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* A regular message: type byte, then int32 length that counts itself. */
struct pmsg {
	uint8_t type;
	uint32_t len;          /* whole message including the type byte */
	const uint8_t *body;   /* after the header; valid only when complete */
	uint32_t body_len;
};

/*
 * Read a message header at p (avail bytes). PROTO_MORE if fewer than 5
 * bytes; PROTO_BAD if the length is below 4 or above max_len. On PROTO_OK
 * m->type and m->len are set; the body may not be complete yet.
 */
enum proto_result proto_header(const uint8_t *p, size_t avail, uint32_t max_len, struct pmsg *m);

/* Cursor over a message body: every read is bounds-checked and sticky-bad. */
struct preader {
	const uint8_t *p;
	const uint8_t *end;
	bool bad;
};

static inline void preader_init(struct preader *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->end = p + len;
	r->bad = false;
}

uint8_t preader_byte(struct preader *r);
uint16_t preader_int16(struct preader *r);
uint32_t preader_int32(struct preader *r);
/* A NUL-terminated string inside the bounds; NULL (and bad) if unterminated. */
const char *preader_cstr(struct preader *r);
/* n raw bytes; NULL (and bad) if fewer remain. */
const uint8_t *preader_bytes(struct preader *r, size_t n);
static inline size_t preader_left(const struct preader *r)
{
	return r->bad ? 0 : (size_t)(r->end - r->p);
}
static inline bool preader_done(const struct preader *r)
{
	return !r->bad && r->p == r->end;
}

/* ---- startup-phase packets (no type byte) ---- */

enum startup_kind { SP_STARTUP, SP_SSL, SP_GSSENC, SP_CANCEL };

struct startup_param {
	const char *name;
	const char *value;
};

#define STARTUP_MAX_PARAMS 64

struct startup_packet {
	enum startup_kind kind;
	uint32_t len;
	uint32_t version;      /* SP_STARTUP */
	uint32_t cancel_pid;   /* SP_CANCEL */
	uint32_t cancel_key;
	int nparams;
	struct startup_param params[STARTUP_MAX_PARAMS];
	const char *err;       /* why PROTO_BAD */
};

/*
 * Parse the first packet of a connection. PROTO_MORE until the whole packet
 * is present. Rejects lengths outside 8..PROTO_STARTUP_MAX, unknown codes,
 * unterminated or duplicated parameters and protocol majors other than 3.
 */
enum proto_result proto_read_startup(const uint8_t *p, size_t avail, struct startup_packet *sp);
const char *startup_param(const struct startup_packet *sp, const char *name);

/* ---- messages pgtide looks inside ---- */

struct msg_error {           /* 'E' ErrorResponse / 'N' NoticeResponse */
	const char *severity;    /* 'V' (or 'S') */
	const char *sqlstate;    /* 'C' */
	const char *message;     /* 'M' */
};
bool proto_parse_error(const struct pmsg *m, struct msg_error *e);

bool proto_parse_param_status(const struct pmsg *m, const char **name, const char **value);
bool proto_parse_rfq(const struct pmsg *m, char *status);
bool proto_parse_backend_key(const struct pmsg *m, uint32_t *pid, uint32_t *key);
bool proto_parse_auth(const struct pmsg *m, uint32_t *code, const uint8_t **data, size_t *len);
bool proto_parse_command_complete(const struct pmsg *m, const char **tag);

struct msg_parse {           /* 'P' Parse */
	const char *name;
	const char *query;
	size_t query_len;
	uint16_t nparams;
	const uint8_t *param_types; /* nparams * int32 */
};
bool proto_parse_parse(const struct pmsg *m, struct msg_parse *p);

struct msg_bind {            /* 'B' Bind: names only; the rest is opaque */
	const char *portal;
	const char *stmt;
	size_t names_len;        /* bytes of body taken by the two names */
};
bool proto_parse_bind(const struct pmsg *m, struct msg_bind *b);

/* 'D' Describe / 'C' Close: a kind byte ('S' or 'P') and a name. */
bool proto_parse_describe_close(const struct pmsg *m, char *kind, const char **name);

/* 'Q' Query: the text (NUL inside the body ends it, as in Postgres). */
bool proto_parse_query(const struct pmsg *m, const char **query, size_t *len);

/* Is this a message type a v3 frontend may send after login? */
bool proto_frontend_type_valid(uint8_t type);
/* Is this a message type a v3 backend may send? */
bool proto_backend_type_valid(uint8_t type);

#endif
