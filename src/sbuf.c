/*
 * Buffered socket I/O and the per-socket message loop.
 *
 * Owns: fds, their events, iobufs and outqs. Must not interpret messages:
 * the owner's sbuf_ops decide. Never frees an owner: closing is the owner's
 * business and happens through its deferred-free list.
 *
 * The pump, for one socket: parse what is buffered and hand each message to
 * the owner; flush the peer's queue and our own; read once more if the last
 * read filled the buffer. One read normally drains the socket, one writev
 * sends a whole batch, and nothing is copied on the way through.
 *
 * TLS sockets take the same path with SSL_read/SSL_write in place of
 * read/writev; the one extra copy is the small-segment coalescing before
 * encryption, so a batch still leaves as few records as it can.
 *
 * A socket its owner closes with an error of its own lingers a moment
 * (written out, shut for writing, read to its end) so that the peer gets
 * that error rather than a reset: "lingering close" below.
 */
#include "autoconf.h"

#include "sbuf.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bufpool.h"
#include "log.h"

static struct event_base *ev_base;

/* ---- deferred work ---- */

struct defer_item {
	void (*fn)(void *);
	void *arg;
};

static struct event defer_ev;
static struct sbuf *sched_head, *sched_tail;
static struct defer_item *defer_items;
static size_t defer_n, defer_cap;
static bool defer_active;

static void defer_arm(void)
{
	if (!defer_active) {
		defer_active = true;
		event_active(&defer_ev, EV_TIMEOUT, 1);
	}
}

static void sbuf_pump(struct sbuf *sb, bool can_read);

static void defer_run(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	defer_active = false;
	for (int rounds = 0; rounds < 64 && (sched_head || defer_n); rounds++) {
		while (sched_head) {
			struct sbuf *sb = sched_head;
			sched_head = sb->next_sched;
			if (!sched_head)
				sched_tail = NULL;
			sb->next_sched = NULL;
			sb->scheduled = false;
			if (!sb->closing)
				sbuf_pump(sb, false);
		}
		/* Generic calls (deferred frees) run after the pumps they may follow. */
		size_t n = defer_n;
		struct defer_item *items = defer_items;
		defer_items = NULL;
		defer_n = defer_cap = 0;
		for (size_t i = 0; i < n; i++)
			items[i].fn(items[i].arg);
		if (items)
			free(items);
	}
	if (sched_head || defer_n)
		defer_arm();
}

void defer_run_now(void)
{
	defer_run(-1, 0, NULL);
	event_del(&defer_ev);
}

void defer_init(struct event_base *base)
{
	event_assign(&defer_ev, base, -1, 0, defer_run, NULL);
}

void defer_call(void (*fn)(void *), void *arg)
{
	if (defer_n == defer_cap) {
		size_t ncap = defer_cap ? defer_cap * 2 : 16;
		struct defer_item *n = realloc(defer_items, ncap * sizeof(*n));
		if (!n) {
			log_error("out of memory queueing deferred work");
			return;
		}
		defer_items = n;
		defer_cap = ncap;
	}
	defer_items[defer_n].fn = fn;
	defer_items[defer_n].arg = arg;
	defer_n++;
	defer_arm();
}

static void sbuf_schedule(struct sbuf *sb)
{
	if (sb->scheduled || sb->closing)
		return;
	sb->scheduled = true;
	sb->next_sched = NULL;
	if (sched_tail)
		sched_tail->next_sched = sb;
	else
		sched_head = sb;
	sched_tail = sb;
	defer_arm();
}

static void sbuf_unschedule(struct sbuf *sb)
{
	if (!sb->scheduled)
		return;
	struct sbuf **pp = &sched_head, *prev = NULL;
	while (*pp && *pp != sb) {
		prev = *pp;
		pp = &(*pp)->next_sched;
	}
	if (*pp) {
		*pp = sb->next_sched;
		if (sched_tail == sb)
			sched_tail = prev;
	}
	sb->next_sched = NULL;
	sb->scheduled = false;
}

/* ---- buffers ---- */

static struct iobuf *iobuf_new(void)
{
	struct iobuf *b = bufpool_get();
	if (!b)
		return NULL;
	b->cap = (uint32_t)(bufpool_block_size() - sizeof(struct iobuf));
	b->pos = b->end = 0;
	b->heap = false;
	return b;
}

static void iobuf_free(struct iobuf *b)
{
	if (b->heap)
		free(b);
	else
		bufpool_put(b);
}

static struct outq *outq_new(void)
{
	struct outq *q = bufpool_get();
	if (!q)
		return NULL;
	q->head = q->nseg = 0;
	q->head_off = 0;
	q->src = NULL;
	q->gen_len = 0;
	q->gen_cap = (uint32_t)(bufpool_block_size() - sizeof(struct outq));
	q->nheap = 0;
	q->norphan = 0;
	return q;
}

static bool outq_ensure(struct sbuf *sb)
{
	if (!sb->out)
		sb->out = outq_new();
	return sb->out != NULL;
}

static void sbuf_unpinned(struct sbuf *src)
{
	if (src->pins == 0 && !src->in_pump && !src->closing)
		sbuf_schedule(src);
}

/* Everything in the queue was written: let go of what it pointed into. */
static void outq_release(struct sbuf *sb)
{
	struct outq *q = sb->out;
	if (!q)
		return;
	sb->out = NULL;
	struct sbuf *src = q->src;
	for (int i = 0; i < q->nheap; i++)
		free(q->heap[i]);
	for (int i = 0; i < q->norphan; i++)
		iobuf_free(q->orphan[i]);
	bufpool_put(q);
	if (src) {
		src->pins--;
		if (src->pinned_by == sb)
			src->pinned_by = NULL;
		sbuf_unpinned(src);
	}
	/* the linked peer may have waited for this queue to let go of another
	 * source's bytes (a server that came after one that closed) */
	if (sb->dst && sb->dst != src && !sb->dst->closing && sb->dst->in && sb->dst->in->pos < sb->dst->in->end)
		sbuf_schedule(sb->dst);
}

/* Forward n bytes of src's buffer to dst. false: no room, flush first. */
static bool outq_add_ref(struct sbuf *dst, struct sbuf *src, const uint8_t *p, size_t n)
{
	if (!outq_ensure(dst))
		return false;
	struct outq *q = dst->out;
	if (q->src && q->src != src)
		return false;
	if (q->nseg > q->head) {
		struct iovec *last = &q->seg[q->nseg - 1];
		if ((const uint8_t *)last->iov_base + last->iov_len == p) {
			last->iov_len += n;
			goto pinned;
		}
	}
	if (q->nseg == OUTQ_SEGS)
		return false;
	q->seg[q->nseg].iov_base = (void *)p;
	q->seg[q->nseg].iov_len = n;
	q->nseg++;
pinned:
	if (!q->src) {
		q->src = src;
		src->pins++;
		src->pinned_by = dst;
	}
	return true;
}

/* Can src forward into dst's queue now? Not while the queue points into
 * another source's buffer (its bytes go first), nor when it is nearly full. */
static bool outq_room_for_ref(struct sbuf *dst, const struct sbuf *src)
{
	return !dst->out || (dst->out->nseg < OUTQ_SEGS - 2 && (!dst->out->src || dst->out->src == src));
}

bool sbuf_gen_begin(struct sbuf *sb, struct pktbuf *pb)
{
	if (!outq_ensure(sb))
		return false;
	struct outq *q = sb->out;
	if (q->nseg >= OUTQ_SEGS - 1)
		return false;
	pkt_init_fixed(pb, q->gen + q->gen_len, q->gen_cap - q->gen_len);
	return true;
}

void sbuf_gen_commit(struct sbuf *sb, struct pktbuf *pb)
{
	struct outq *q = sb->out;
	if (pb->failed || pb->len == 0 || !q)
		return;
	uint8_t *start = q->gen + q->gen_len;
	q->gen_len += (uint32_t)pb->len;
	if (q->nseg > q->head) {
		struct iovec *last = &q->seg[q->nseg - 1];
		if ((uint8_t *)last->iov_base + last->iov_len == start) {
			last->iov_len += pb->len;
			return;
		}
	}
	q->seg[q->nseg].iov_base = start;
	q->seg[q->nseg].iov_len = pb->len;
	q->nseg++;
}

bool sbuf_queue_heap(struct sbuf *sb, void *block, size_t len)
{
	if (!outq_ensure(sb) || sb->out->nheap == OUTQ_HEAP || sb->out->nseg >= OUTQ_SEGS) {
		free(block);
		return false;
	}
	struct outq *q = sb->out;
	q->heap[q->nheap++] = block;
	q->seg[q->nseg].iov_base = block;
	q->seg[q->nseg].iov_len = len;
	q->nseg++;
	return true;
}

bool sbuf_put_bytes(struct sbuf *sb, const void *data, size_t len)
{
	struct pktbuf pb;
	if (sbuf_gen_begin(sb, &pb) && pb.cap - pb.len >= len) {
		pkt_put_bytes(&pb, data, len);
		sbuf_gen_commit(sb, &pb);
		return true;
	}
	void *copy = malloc(len);
	if (!copy)
		return false;
	memcpy(copy, data, len);
	return sbuf_queue_heap(sb, copy, len);
}

bool sbuf_forward_bytes(struct sbuf *src, const uint8_t *p, size_t n)
{
	if (!src->dst || n == 0)
		return n == 0;
	return outq_add_ref(src->dst, src, p, n);
}

bool sbuf_has_output(const struct sbuf *sb)
{
	return sb->out && sb->out->head < sb->out->nseg;
}

void sbuf_levels(const struct sbuf *sb, struct sbuf_levels *out)
{
	memset(out, 0, sizeof(*out));
	if (sb->in) {
		out->recv_pos = sb->in->pos;
		out->recv_end = sb->in->end;
		out->recv_cap = sb->in->cap;
	}
	out->stream_left = sb->stream_left;
	const struct outq *q = sb->out;
	for (int i = q ? q->head : 0; q && i < q->nseg; i++)
		out->send_pending += q->seg[i].iov_len; /* written parts are cut off the head */
}

bool sbuf_peek(struct sbuf *sb, size_t *off, struct pmsg *m)
{
	struct iobuf *b = sb->in;
	if (!b || sb->stream_left)
		return false;
	size_t at = b->pos + *off;
	if (at >= b->end)
		return false;
	if (proto_header(b->data + at, b->end - at, sb->max_msg, m) != PROTO_OK || m->len > b->end - at)
		return false;
	*off += m->len;
	return true;
}

bool sbuf_push_front(struct sbuf *sb, const uint8_t *data, size_t len)
{
	if (sb->pins || sb->stream_left || sb->closing)
		return false;
	size_t have = sb->in ? sb->in->end - sb->in->pos : 0;
	struct iobuf *nb = malloc(sizeof(*nb) + len + have + 1);
	if (!nb)
		return false;
	nb->cap = (uint32_t)(len + have);
	nb->heap = true;
	nb->pos = 0;
	nb->end = (uint32_t)(len + have);
	memcpy(nb->data, data, len);
	if (have)
		memcpy(nb->data + len, sb->in->data + sb->in->pos, have);
	if (sb->in)
		iobuf_free(sb->in);
	sb->in = nb;
	return true;
}

/* ---- lifecycle ---- */

static void sbuf_event_cb(evutil_socket_t fd, short what, void *arg);

void sbuf_global_init(struct event_base *base)
{
	ev_base = base;
	defer_init(base);
}

void sbuf_init(struct sbuf *sb, int fd, const struct sbuf_ops *ops)
{
	memset(sb, 0, sizeof(*sb));
	sb->fd = fd;
	sb->ops = ops;
	sb->max_msg = INT_MAX;
}

bool sbuf_start(struct sbuf *sb)
{
	sb->ev_flags = 0;
	sbuf_update_events(sb);
	return true;
}

/*
 * ---- lingering close ----
 *
 * close() on a socket whose peer has sent bytes not yet read makes the
 * kernel answer with a reset, and a reset makes the peer's stack drop what
 * it had not read: the error pgtide just sent to say why it closes (to a
 * client that sent a malformed message and then more) is lost, and with
 * it the end of the reply before it. So a connection pgtide ends with an
 * error of its own keeps its socket a moment longer: what was still queued
 * is copied out and written, then the socket is shut for writing (the
 * peer sees the end after the last byte), and what the peer still sends is
 * read and dropped until it closes its side or LINGER_SECONDS pass.
 *
 * Bounded: at most LINGER_MAX sockets linger, each with at most
 * LINGER_OUT_MAX bytes still to write; past either a socket closes at once,
 * as any other. Not for TLS: its records need the session, which goes (its
 * close_notify is sent, as before).
 */
#define LINGER_MAX 256
#define LINGER_SECONDS 5
#define LINGER_OUT_MAX (1u << 20)

struct lingering {
	struct event ev;         /* assigned whenever the slot is used */
	int fd;
	bool used;
	bool peer_done;          /* the peer closed its side: stop reading */
	struct timespec deadline;
	uint8_t *out;            /* still to write (heap), NULL: all written */
	size_t out_len, out_pos;
};
static struct lingering lingers[LINGER_MAX];
static int n_lingering;

static void linger_end(struct lingering *l)
{
	event_del(&l->ev);
	close(l->fd);
	l->used = false;
	free(l->out);
	l->out = NULL;
	n_lingering--;
}

static void linger_cb(evutil_socket_t fd, short what, void *arg);

/* Wait for the next event, or the deadline. */
static void linger_arm(struct lingering *l)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long left = (long long)(l->deadline.tv_sec - now.tv_sec) * 1000000 +
			 (l->deadline.tv_nsec - now.tv_nsec) / 1000;
	short what = (short)((l->peer_done ? 0 : EV_READ) | (l->out ? EV_WRITE : 0));
	if (left <= 0 || !what) {
		linger_end(l);
		return;
	}
	struct timeval tv = { (time_t)(left / 1000000), (suseconds_t)(left % 1000000) };
	event_assign(&l->ev, ev_base, l->fd, what, linger_cb, l);
	event_add(&l->ev, &tv);
}

static void linger_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lingering *l = arg;
	if (what & EV_TIMEOUT) {
		linger_end(l);
		return;
	}
	if ((what & EV_WRITE) && l->out) {
		ssize_t n = write(fd, l->out + l->out_pos, l->out_len - l->out_pos);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			linger_end(l);
			return;
		}
		if (n > 0)
			l->out_pos += (size_t)n;
		if (l->out_pos == l->out_len) {
			free(l->out);
			l->out = NULL;
			shutdown(fd, SHUT_WR);
		}
	}
	if (what & EV_READ) {
		char buf[4096];
		/* a bounded drain per event: a peer that floods goes at the deadline */
		for (int i = 0; i < 16; i++) {
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n > 0)
				continue;
			if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
				l->peer_done = true;
			break;
		}
	}
	linger_arm(l);
}

/* Hand sb's socket to a linger slot, with what its queue still holds.
 * false: no room (the caller closes it at once). */
static bool linger_start(struct sbuf *sb)
{
	struct outq *q = sb->out;
	size_t pending = 0;
	for (int i = q ? q->head : 0; q && i < q->nseg; i++)
		pending += q->seg[i].iov_len;
	if (n_lingering >= LINGER_MAX || pending > LINGER_OUT_MAX || sb->tls)
		return false;
	struct lingering *l = NULL;
	for (int i = 0; i < LINGER_MAX && !l; i++)
		if (!lingers[i].used)
			l = &lingers[i];
	if (!l)
		return false;
	uint8_t *out = NULL;
	if (pending) {
		out = malloc(pending);
		if (!out)
			return false;
		size_t at = 0;
		for (int i = q->head; i < q->nseg; i++) {
			memcpy(out + at, q->seg[i].iov_base, q->seg[i].iov_len);
			at += q->seg[i].iov_len;
		}
	} else {
		shutdown(sb->fd, SHUT_WR);
	}
	l->fd = sb->fd;
	l->used = true;
	l->peer_done = false;
	l->out = out;
	l->out_len = pending;
	l->out_pos = 0;
	clock_gettime(CLOCK_MONOTONIC, &l->deadline);
	l->deadline.tv_sec += LINGER_SECONDS;
	n_lingering++;
	event_assign(&l->ev, ev_base, l->fd, 0, linger_cb, l);
	linger_arm(l);
	return true;
}

void sbuf_linger_free(void)
{
	for (int i = 0; i < LINGER_MAX; i++)
		if (lingers[i].used)
			linger_end(&lingers[i]);
}

void sbuf_close(struct sbuf *sb)
{
	sb->closing = true;
	sbuf_unschedule(sb);
	if (sb->ev_flags) {
		event_del(&sb->ev);
		sb->ev_flags = 0;
	}
	/* lingering: what is queued is copied out first; the socket is the
	 * slot's from here on */
	if (sb->linger && sb->fd >= 0 && linger_start(sb))
		sb->fd = -1;
	if (sb->out)
		outq_release(sb);
	/* A peer's queue may still point into our buffer (whether or not the
	 * two are still linked): those bytes were promised to the peer, so the
	 * queue inherits the buffer and frees it once they are written. */
	struct sbuf *peer = sb->pinned_by;
	if (peer && peer->out && peer->out->src == sb) {
		struct outq *q = peer->out;
		q->src = NULL;
		sb->pins--;
		sb->pinned_by = NULL;
		if (q->norphan < OUTQ_ORPHANS) {
			q->orphan[q->norphan++] = sb->in;
			sb->in = NULL;
			/* nothing else may write it out now: the peer's pump is not
			 * running and we were the one that flushed for it */
			sbuf_update_events(peer);
		} else {
			/* nowhere to keep it: the peer cannot get those bytes */
			peer->ops->on_close(peer, "too many closed connections' data queued");
		}
	}
	if (sb->in) {
		iobuf_free(sb->in);
		sb->in = NULL;
	}
	if (sb->tls) {
		/* close_notify, best effort: the socket is non-blocking */
		if (sb->tls_state == SB_TLS_ON)
			SSL_shutdown(sb->tls);
		SSL_free(sb->tls);
		ERR_clear_error();
		sb->tls = NULL;
		sb->tls_state = SB_TLS_NONE;
	}
	if (sb->fd >= 0) {
		close(sb->fd);
		sb->fd = -1;
	}
	sb->dst = NULL;
}

void sbuf_continue(struct sbuf *sb)
{
	sb->stopped = false;
	if (!sb->in_pump)
		sbuf_schedule(sb);
}

/* ---- events ---- */

static bool can_take_more(const struct sbuf *sb)
{
	const struct iobuf *b = sb->in;
	if (!b)
		return true;
	if (b->end < b->cap)
		return true;
	return !sb->pins && b->pos > 0;
}

void sbuf_update_events(struct sbuf *sb)
{
	if (sb->fd < 0 || sb->closing)
		return;
	short want = sb->tls_want;
	if (sbuf_has_output(sb))
		want |= EV_WRITE;
	if (sb->tls_state != SB_TLS_HANDSHAKE && can_take_more(sb))
		want |= EV_READ;
	if (want == sb->ev_flags)
		return;
	log_noise("sbuf fd=%d events %d -> %d (pins=%d in=%u/%u/%u out=%d)", sb->fd, sb->ev_flags, want, sb->pins,
		  sb->in ? sb->in->pos : 0, sb->in ? sb->in->end : 0, sb->in ? sb->in->cap : 0,
		  sb->out ? sb->out->nseg - sb->out->head : -1);
	if (sb->ev_flags)
		event_del(&sb->ev);
	sb->ev_flags = want;
	if (want) {
		event_assign(&sb->ev, ev_base, sb->fd, (short)(want | EV_PERSIST), sbuf_event_cb, sb);
		event_add(&sb->ev, NULL);
	}
}

/* ---- TLS ---- */

static void tls_error_text(int e, const char **why)
{
	static char buf[256];
	unsigned long code = ERR_get_error();
	if (code) {
		ERR_error_string_n(code, buf, sizeof(buf));
		ERR_clear_error();
	} else if (e == SSL_ERROR_SYSCALL && errno) {
		snprintf(buf, sizeof(buf), "%s", strerror(errno));
	} else {
		snprintf(buf, sizeof(buf), "TLS error %d", e);
	}
	*why = buf;
}

/*
 * One SSL_write: the head segment alone when it is big, else the next
 * segments gathered into one record's worth. After WANT_WRITE OpenSSL
 * wants the same bytes again; the queue only grows at its tail, so the
 * retry starts with exactly those bytes (and the buffer may move).
 * Returns bytes written, -1 with errno EAGAIN, or -2 with *why.
 */
static ssize_t tls_write(struct sbuf *sb, struct outq *q, const char **why)
{
	static uint8_t stage[16384];
	const void *p = q->seg[q->head].iov_base;
	size_t len = q->seg[q->head].iov_len;
	if (len < sizeof(stage) && q->nseg - q->head > 1) {
		len = 0;
		for (int i = q->head; i < q->nseg && len < sizeof(stage); i++) {
			size_t n = q->seg[i].iov_len;
			if (n > sizeof(stage) - len)
				n = sizeof(stage) - len;
			memcpy(stage + len, q->seg[i].iov_base, n);
			len += n;
		}
		p = stage;
	}
	if (len > INT_MAX)
		len = INT_MAX;
	sb->tls_want = 0;
	ERR_clear_error();
	int r = SSL_write(sb->tls, p, (int)len);
	if (r > 0)
		return r;
	int e = SSL_get_error(sb->tls, r);
	if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
		if (e == SSL_ERROR_WANT_READ)
			sb->tls_want = EV_READ;
		errno = EAGAIN;
		return -1;
	}
	tls_error_text(e, why);
	return -2;
}

/* One SSL_read: bytes, 0 at EOF, -1 with errno EAGAIN, -2 with *why. */
static ssize_t tls_read(struct sbuf *sb, uint8_t *buf, size_t room, const char **why)
{
	if (room > INT_MAX)
		room = INT_MAX;
	sb->tls_want = 0;
	ERR_clear_error();
	errno = 0;
	int r = SSL_read(sb->tls, buf, (int)room);
	if (r > 0)
		return r;
	int e = SSL_get_error(sb->tls, r);
	switch (e) {
	case SSL_ERROR_WANT_READ:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		sb->tls_want = EV_WRITE;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0 && errno == 0)
			return 0;
		/* fall through */
	default:
		tls_error_text(e, why);
		return -2;
	}
}

void sbuf_tls_start(struct sbuf *sb, struct ssl_st *ssl)
{
	sb->tls = ssl;
	sb->tls_state = SB_TLS_HANDSHAKE;
	sb->tls_want = 0;
	if (!sb->in_pump)
		sbuf_schedule(sb);
}

/* Drive the handshake one step; called from events, never from a pump. */
static void tls_handshake_step(struct sbuf *sb)
{
	if (sbuf_has_output(sb)) {
		/* the plain answer that precedes the handshake ('S', SSLRequest) */
		sb->tls_state = SB_TLS_NONE;
		bool ok = sbuf_flush(sb);
		if (sb->closing || !ok)
			return;
		sb->tls_state = SB_TLS_HANDSHAKE;
		if (sbuf_has_output(sb)) {
			sbuf_update_events(sb);
			return;
		}
	}
	ERR_clear_error();
	int r = SSL_do_handshake(sb->tls);
	if (r == 1) {
		sb->tls_state = SB_TLS_ON;
		sb->tls_want = 0;
		sb->ops->on_tls(sb, NULL);
		if (!sb->closing)
			sbuf_pump(sb, true);
		return;
	}
	int e = SSL_get_error(sb->tls, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		sb->tls_want = e == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE;
		sbuf_update_events(sb);
		return;
	}
	const char *why;
	tls_error_text(e, &why);
	sb->ops->on_tls(sb, why);
}

bool sbuf_flush(struct sbuf *sb)
{
	struct outq *q = sb->out;
	if (!q || sb->fd < 0)
		return true;
	if (q->head == q->nseg) {
		/* allocated, never used */
		outq_release(sb);
		return true;
	}
	if (sb->tls_state == SB_TLS_HANDSHAKE)
		return true; /* plain bytes queued before the handshake went out; later ones wait for it */
	while (q->head < q->nseg) {
		ssize_t n;
		if (sb->tls_state == SB_TLS_ON) {
			const char *why = NULL;
			n = tls_write(sb, q, &why);
			if (n == -2) {
				sb->ops->on_close(sb, why);
				return false;
			}
		} else {
			int cnt = q->nseg - q->head;
			if (cnt > IOV_MAX)
				cnt = IOV_MAX;
			n = writev(sb->fd, &q->seg[q->head], cnt);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				sbuf_update_events(sb);
				return true;
			}
			sb->ops->on_close(sb, strerror(errno));
			return false;
		}
		sb->bytes_out += (uint64_t)n;
		size_t left = (size_t)n;
		while (left > 0 && q->head < q->nseg) {
			struct iovec *v = &q->seg[q->head];
			if (left >= v->iov_len) {
				left -= v->iov_len;
				q->head++;
			} else {
				v->iov_base = (uint8_t *)v->iov_base + left;
				v->iov_len -= left;
				left = 0;
			}
		}
	}
	outq_release(sb);
	if (sb->ops->on_drained)
		sb->ops->on_drained(sb);
	if (!sb->in_pump)
		sbuf_update_events(sb);
	return !sb->closing;
}

/* Make the buffer big enough for one message of len bytes (only while
 * nothing points into it). */
static bool iobuf_grow(struct sbuf *sb, uint32_t len)
{
	struct iobuf *b = sb->in;
	size_t have = b->end - b->pos;
	struct iobuf *nb = malloc(sizeof(*nb) + len);
	if (!nb)
		return false;
	nb->cap = len;
	nb->heap = true;
	nb->pos = 0;
	nb->end = (uint32_t)have;
	memcpy(nb->data, b->data + b->pos, have);
	iobuf_free(b);
	sb->in = nb;
	return true;
}

enum input_result { IN_OK, IN_STOPPED, IN_BLOCKED, IN_CLOSED };

static enum input_result handle_input(struct sbuf *sb)
{
	struct iobuf *b = sb->in;
	while (b->pos < b->end) {
		uint8_t *p = b->data + b->pos;
		size_t avail = b->end - b->pos;

		if (sb->stream_left) {
			size_t n = avail < sb->stream_left ? avail : sb->stream_left;
			if (sb->fwd_partial) {
				if (!sb->dst || !outq_add_ref(sb->dst, sb, p, n)) {
					if (!sb->dst) {
						sb->fwd_partial = false;
						continue;
					}
					return IN_BLOCKED;
				}
			}
			b->pos += (uint32_t)n;
			sb->stream_left -= (uint32_t)n;
			if (!sb->stream_left && sb->fwd_partial) {
				/* the message is whole on the other side */
				sb->fwd_partial = false;
				if (sb->ops->on_forwarded) {
					sb->ops->on_forwarded(sb);
					if (sb->closing)
						return IN_CLOSED;
				}
			}
			continue;
		}
		if (sb->raw) {
			int used = sb->ops->on_raw(sb, p, avail);
			if (used < 0)
				return IN_CLOSED;
			if (used == 0)
				return sb->stopped ? IN_STOPPED : IN_OK;
			b->pos += (uint32_t)used;
			if (sb->stopped)
				return IN_STOPPED;
			continue;
		}

		struct pmsg m;
		enum proto_result r = proto_header(p, avail, sb->max_msg, &m);
		if (r == PROTO_MORE)
			return IN_OK;
		if (r == PROTO_BAD) {
			sb->ops->on_bad(sb, "invalid message length");
			return IN_CLOSED;
		}
		bool complete = avail >= m.len;
		if (!complete && !sb->ops->streamable(sb, m.type)) {
			if (m.len > b->cap) {
				if (sb->pins)
					return IN_BLOCKED;
				if (!iobuf_grow(sb, m.len)) {
					sb->ops->on_close(sb, "out of memory for a large message");
					return IN_CLOSED;
				}
				b = sb->in;
			}
			return IN_OK;
		}
		if (sb->dst && !outq_room_for_ref(sb->dst, sb))
			return IN_BLOCKED;
		enum sb_verdict v = sb->ops->on_msg(sb, &m, complete);
		/* The owner may have closed us inside on_msg whatever it returned
		 * (a release that found the server unclean): the buffer is gone. */
		if (sb->closing)
			return IN_CLOSED;
		switch (v) {
		case SB_FORWARD:
		case SB_DROP: {
			size_t n = complete ? m.len : avail;
			if (v == SB_FORWARD && !outq_add_ref(sb->dst, sb, p, n)) {
				/* on_msg linked a peer, or queued pgtide's own messages in
				 * front: write what can be written and try once more */
				sbuf_flush(sb->dst);
				if (!sb->dst || !outq_add_ref(sb->dst, sb, p, n)) {
					log_error("internal error: no room to forward a message");
					sb->ops->on_close(sb, "internal error: output queue full");
					return IN_CLOSED;
				}
			}
			b->pos += (uint32_t)n;
			if (!complete) {
				sb->stream_left = m.len - (uint32_t)n;
				sb->fwd_partial = v == SB_FORWARD;
			}
			break;
		}
		case SB_STOP:
			if (sb->closing)
				return IN_CLOSED;
			sb->stopped = true;
			return IN_STOPPED;
		case SB_CLOSED:
			return IN_CLOSED;
		}
		if (sb->closing)
			return IN_CLOSED;
		b = sb->in;
		if (!b)
			return IN_OK;
	}
	return IN_OK;
}

/* Room to read into; compacts when nothing points into the buffer. */
static size_t read_room(struct sbuf *sb)
{
	struct iobuf *b = sb->in;
	if (!b) {
		b = sb->in = iobuf_new();
		if (!b)
			return 0;
	}
	if (!sb->pins && b->pos > 0) {
		/* What is left is at most one partial message: cheap to move. */
		memmove(b->data, b->data + b->pos, b->end - b->pos);
		b->end -= b->pos;
		b->pos = 0;
	}
	return b->cap - b->end;
}

static void release_idle_buffer(struct sbuf *sb)
{
	struct iobuf *b = sb->in;
	if (b && b->pos == b->end && !sb->pins && !sb->stream_left) {
		iobuf_free(b);
		sb->in = NULL;
	}
}

static void sbuf_pump(struct sbuf *sb, bool can_read)
{
	if (sb->closing || sb->in_pump)
		return;
	if (sb->tls_state == SB_TLS_HANDSHAKE) {
		tls_handshake_step(sb);
		return;
	}
	bool handshake = false;
	sb->in_pump = true;
	for (int round = 0;; round++) {
		enum input_result r = IN_OK;
		if (!sb->stopped && sb->in && sb->in->pos < sb->in->end)
			r = handle_input(sb);
		if (r == IN_CLOSED || sb->closing)
			break;
		if (sb->dst && sb->dst->out && !sbuf_flush(sb->dst)) {
			if (sb->closing)
				break;
		}
		if (sb->closing)
			break;
		if (sb->out && !sbuf_flush(sb))
			break;
		if (sb->closing)
			break;
		if (r == IN_BLOCKED) {
			/* Output filled up; go on only if the flush emptied it. */
			if ((sb->dst && sbuf_has_output(sb->dst)) || sbuf_has_output(sb))
				break;
			/* Or another connection's queue still holds bytes of our
			 * buffer (a server handed on before it wrote what our client
			 * sent it): nothing here can free them, so wait; that queue
			 * lets go once written, and sbuf_unpinned() resumes us.
			 * Going round again would spin without end and keep the
			 * loop from writing that queue. */
			if (sb->pins && sb->pinned_by != sb->dst)
				break;
			if (round >= 15) {
				/* no progress in sight: yield, retried after the others */
				sbuf_schedule(sb);
				break;
			}
			continue;
		}
		if (sb->tls_state == SB_TLS_HANDSHAKE) {
			handshake = true;
			break;
		}
		/* OpenSSL may hold decrypted bytes the socket no longer signals */
		if (!can_read && !(sb->tls && SSL_pending(sb->tls) > 0))
			break;
		if (round == 15) {
			/* a busy socket yields to the others and goes on later */
			sbuf_schedule(sb);
			break;
		}
		size_t room = read_room(sb);
		if (room == 0)
			break;
		ssize_t n;
		const char *why = NULL;
		if (sb->tls_state == SB_TLS_ON)
			n = tls_read(sb, sb->in->data + sb->in->end, room, &why);
		else
			n = read(sb->fd, sb->in->data + sb->in->end, room);
		if (n == -2) {
			sb->ops->on_close(sb, why);
			break;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			sb->ops->on_close(sb, strerror(errno));
			break;
		}
		if (n == 0) {
			sb->ops->on_close(sb, NULL);
			break;
		}
		sb->in->end += (uint32_t)n;
		sb->bytes_in += (uint64_t)n;
		if ((size_t)n < room)
			can_read = false; /* drained: parse it, then wait for the next event */
		if (sb->stopped && !sb->raw)
			continue;
	}
	sb->in_pump = false;
	if (sb->closing)
		return;
	if (handshake) {
		tls_handshake_step(sb);
		return;
	}
	release_idle_buffer(sb);
	sbuf_update_events(sb);
}

static void sbuf_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sbuf *sb = arg;
	(void)fd;
	if (sb->tls_state == SB_TLS_HANDSHAKE) {
		tls_handshake_step(sb);
		return;
	}
	if (sb->tls_want) {
		/* a TLS read that had to write, or a write that had to read */
		short w = sb->tls_want;
		sb->tls_want = 0;
		if (w == EV_WRITE && (what & EV_WRITE))
			what |= EV_READ;
		if (w == EV_READ && (what & EV_READ))
			what |= EV_WRITE;
	}
	if (what & EV_WRITE) {
		if (!sbuf_flush(sb) || sb->closing)
			return;
	}
	if (what & EV_READ)
		sbuf_pump(sb, true);
	else if (!sb->closing)
		sbuf_update_events(sb);
}
