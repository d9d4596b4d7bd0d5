/*
 * Buffered socket I/O: one receive buffer and one output queue per socket,
 * the message loop that feeds the owner's handler, and forwarding without
 * copies.
 *
 * Owns: the fd, its libevent event, the receive buffer (struct iobuf) and
 * the output queue (struct outq). Bytes read from one socket are forwarded
 * by reference: the peer's output queue points into this socket's buffer
 * ("pins" it) until they are written, so a forwarded message is copied once,
 * by the kernel. Messages pgtide generates go into the queue's own area, in
 * order with forwarded bytes. Knows message framing, not message meaning:
 * the owner (client.c, server.c) decides for each message.
 *
 *   iobuf:  data[0 .......... pos ........... end ...... cap]
 *                  handled          received,    free
 *                  (maybe pinned)   not parsed
 */
#ifndef PGTIDE_SBUF_H
#define PGTIDE_SBUF_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "pktbuf.h"
#include "proto.h"

struct iobuf {
	uint32_t cap;
	uint32_t pos;
	uint32_t end;
	bool heap;      /* oversized block from malloc (one big message) */
	uint8_t data[];
};

#define OUTQ_SEGS 64
#define OUTQ_HEAP 4
#define OUTQ_ORPHANS 4

struct outq {
	int head;               /* first unwritten segment */
	int nseg;
	size_t head_off;        /* bytes of seg[head] already written */
	struct sbuf *src;       /* socket whose iobuf the segments point into */
	uint32_t gen_len;       /* bytes used in gen[] */
	uint32_t gen_cap;
	int nheap;
	void *heap[OUTQ_HEAP];  /* large generated blocks, freed when drained */
	int norphan;
	struct iobuf *orphan[OUTQ_ORPHANS]; /* closed sources' buffers, kept until written */
	struct iovec seg[OUTQ_SEGS];
	uint8_t gen[];
};

/* What the owner decides for a message. */
enum sb_verdict {
	SB_FORWARD,  /* send it to sb->dst */
	SB_DROP,     /* consumed here */
	SB_STOP,     /* leave it unparsed; the owner will call sbuf_continue */
	SB_CLOSED,   /* the owner closed the connection; touch nothing */
};

struct sbuf;

struct sbuf_ops {
	/*
	 * A message header arrived. complete tells whether the whole message is
	 * in the buffer. An incomplete message reaches on_msg only if
	 * streamable() said so; otherwise the loop waits for all of it.
	 */
	enum sb_verdict (*on_msg)(struct sbuf *sb, const struct pmsg *m, bool complete);
	bool (*streamable)(struct sbuf *sb, uint8_t type);
	/* Bytes before the first typed message (startup packet, TLS request):
	 * return bytes consumed, 0 for "need more", or -1 after closing. */
	int (*on_raw)(struct sbuf *sb, const uint8_t *data, size_t len);
	/* The socket failed or the peer closed it (reason NULL: clean EOF). */
	void (*on_close)(struct sbuf *sb, const char *reason);
	/* The peer broke the protocol framing (bad length). */
	void (*on_bad)(struct sbuf *sb, const char *reason);
	/* Everything queued for this socket was written. */
	void (*on_drained)(struct sbuf *sb);
	/* The last bytes of a message forwarded in pieces (streamed) went
	 * into dst's queue: dst has the whole message now. May be NULL. */
	void (*on_forwarded)(struct sbuf *sb);
	/* The TLS handshake started by sbuf_tls_start finished (err NULL) or
	 * failed; on failure the owner closes the connection. */
	void (*on_tls)(struct sbuf *sb, const char *err);
};

enum sb_tls { SB_TLS_NONE, SB_TLS_HANDSHAKE, SB_TLS_ON };
struct ssl_st;

struct sbuf {
	int fd;
	short ev_flags;          /* interest registered with libevent */
	uint8_t pins;            /* output queues pointing into in */
	struct sbuf *pinned_by;  /* the peer whose output queue points into in */
	bool raw;                /* before the first typed message */
	bool stopped;            /* owner said SB_STOP; no parsing until continue */
	bool closing;            /* owner is tearing the connection down */
	bool in_pump;
	bool scheduled;
	bool fwd_partial;        /* a streamed message is being forwarded */
	bool linger;             /* closed by pgtide with an error: sbuf_close lingers */
	uint8_t tls_state;       /* enum sb_tls */
	short tls_want;          /* events the TLS layer waits for (handshake, or a
	                            read that must write and vice versa) */
	uint32_t stream_left;    /* bytes of that message still to come */
	uint32_t max_msg;        /* largest message accepted */
	struct event ev;
	struct iobuf *in;
	struct outq *out;
	struct sbuf *dst;        /* where SB_FORWARD sends bytes */
	const struct sbuf_ops *ops;
	struct sbuf *next_sched; /* run queue link */
	struct ssl_st *tls;      /* OpenSSL connection, once TLS is started */
	uint64_t bytes_in, bytes_out;
};

void sbuf_global_init(struct event_base *base);
void sbuf_init(struct sbuf *sb, int fd, const struct sbuf_ops *ops);
/* Start watching the socket. */
bool sbuf_start(struct sbuf *sb);
/* Release buffers, stop events and close the fd. With sb->linger (a
 * connection pgtide ends with an error of its own) what is still queued is
 * written and what the peer still sends is read and dropped for a moment
 * before the fd closes, so that the peer gets the error, not a reset
 * ("lingering close" in sbuf.c). */
void sbuf_close(struct sbuf *sb);
/* Close the sockets that still linger (at exit). */
void sbuf_linger_free(void);

/* Switch the socket to TLS (after the plain 'S' answer or request): the
 * handshake runs from the event loop, then ops->on_tls reports. Takes
 * ownership of ssl. Every later byte goes through it. */
void sbuf_tls_start(struct sbuf *sb, struct ssl_st *ssl);

/* Owner resumes after SB_STOP (or after linking a peer). Runs soon, in this
 * loop iteration, never re-entrantly. */
void sbuf_continue(struct sbuf *sb);
/* Write what is queued now. false when the socket failed (on_close ran). */
bool sbuf_flush(struct sbuf *sb);
void sbuf_update_events(struct sbuf *sb);

/* Output. A pktbuf over free room in sb's queue: build messages into it,
 * then commit. Returns false when the queue has no room (flush first). */
bool sbuf_gen_begin(struct sbuf *sb, struct pktbuf *pb);
void sbuf_gen_commit(struct sbuf *sb, struct pktbuf *pb);
/* Queue a block built on the heap (large admin output); takes ownership. */
bool sbuf_queue_heap(struct sbuf *sb, void *block, size_t len);
/* Queue a copy of bytes that must outlive the caller's buffer: into the
 * output area when they fit, else as a heap block of their own. */
bool sbuf_put_bytes(struct sbuf *sb, const void *data, size_t len);
bool sbuf_has_output(const struct sbuf *sb);
/* Buffer levels for the console (SHOW SOCKETS). */
struct sbuf_levels {
	uint32_t recv_pos, recv_end, recv_cap; /* input: parsed up to, read up to, room */
	uint32_t stream_left;                  /* of a message forwarded in pieces */
	uint64_t send_pending;                 /* queued, not yet written */
};
void sbuf_levels(const struct sbuf *sb, struct sbuf_levels *out);
/* Is a message of sb's being forwarded in pieces, part of it already in
 * dst's queue? dst must then get the rest before anything else. */
static inline bool sbuf_forwarding_partial(const struct sbuf *sb)
{
	return sb->fwd_partial && sb->stream_left;
}
/* From on_msg: forward part of the current message (bytes inside sb's
 * buffer) to sb->dst, after whatever was generated for it; then return
 * SB_DROP. Used to rewrite a message's head and pass its tail untouched. */
bool sbuf_forward_bytes(struct sbuf *src, const uint8_t *p, size_t n);

/* Look ahead: the complete message *off bytes after the current one;
 * advances *off. false when the next message is not all here. */
bool sbuf_peek(struct sbuf *sb, size_t *off, struct pmsg *m);
/* Put bytes back in front of the unparsed input (a replayed request).
 * false while a peer's queue points into the buffer. */
bool sbuf_push_front(struct sbuf *sb, const uint8_t *data, size_t len);

/* Deferred work: run after the current callbacks, once per loop. */
void defer_init(struct event_base *base);
void defer_call(void (*fn)(void *), void *arg);
/* At exit: run what is queued. */
void defer_run_now(void);

#endif
