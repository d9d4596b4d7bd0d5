/*
 * The reply queue of a server connection: what the server owes, in order
 * (struct rq_entry in pgtide.h, the ring in struct server). See replyq.c.
 */
#ifndef PGTIDE_REPLYQ_H
#define PGTIDE_REPLYQ_H

#include <stdbool.h>
#include <stdint.h>

#include "pgtide.h"

static inline bool rq_full(const struct server *s)
{
	return s->rq_len >= RQ_CAP;
}
/* Nothing owed: every request sent has had its reply. */
static inline bool rq_empty(const struct server *s)
{
	return s->rq_len == 0;
}
static inline unsigned rq_count(const struct server *s)
{
	return s->rq_len;
}
/* The entry at position i from the head (0 = next reply). */
static inline struct rq_entry *rq_at(struct server *s, int i)
{
	return &s->rq[(s->rq_head + i) % RQ_CAP];
}
/* The head (the next reply's entry), or NULL when nothing is owed. */
struct rq_entry *rq_first(struct server *s);
/* Append an entry; returns it, for its aux field. */
struct rq_entry *rq_push(struct server *s, uint8_t type, uint16_t flags);
/* The head's reply is complete: drop it. Wakes the client a full queue
 * stopped once half the ring is free. */
void rq_pop(struct server *s);
/* Drop the entries before the first Sync (their replies will not come:
 * the server skips to it after an error); returns that Sync's entry, or
 * NULL when none is queued yet. */
struct rq_entry *rq_drop_to_sync(struct server *s);
/* After an error in the extended protocol: drop to the Sync and mark its
 * group failed, or, with no Sync queued yet, note that the server skips. */
void rq_skip_to_sync(struct server *s);
/* Is a Sync queued (an error now would skip to it, not past everything)? */
bool rq_has_sync(const struct server *s);
/* Is an entry with any of these RQ_* flags queued? */
bool rq_has_flags(const struct server *s, uint16_t flags);
/* A ReadyForQuery still owed ends a transaction the client ended
 * (RQ_AUX_EXIT). */
bool rq_has_exit(const struct server *s);
/* Does s owe the client replies (beyond pgtide's own requests)? */
bool rq_owes_client(struct server *s);
/* The sync points (Sync, Query, FunctionCall) the client waits for; did
 * the first of them already get its error (the server died after)? */
int rq_pending_syncs(const struct server *s);
bool rq_first_sync_failed(const struct server *s);
/* The ring is full and stops the client; true the first time (the caller
 * asks the server to flush what it holds). */
bool rq_block(struct server *s);

#endif
