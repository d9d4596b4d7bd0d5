/*
 * Peers: several pgtide processes (or hosts) that serve one service. A
 * CancelRequest reaches whichever process the kernel or a load balancer
 * picks; the cancel key says which peer owns the client, and a peer that
 * does not own it forwards it there, once.
 *
 * Owns: the peer part of cancel keys, the forwarding connections (one short
 * outbound connection per forwarded cancel) and their counters. Must not
 * look up or act on clients (client.c does, with the id this returns).
 */
#ifndef PGTIDE_PEER_H
#define PGTIDE_PEER_H

#include <stdbool.h>
#include <stdint.h>

/* A cancel key's process id: bits 20..30 the peer, bits 0..19 the client;
 * bit 31 set only on a forwarded cancel. */
#define PEER_ID_SHIFT 20
#define PEER_CLIENT_MASK 0xFFFFFu
#define PEER_FORWARDED 0x80000000u
/* How long a forwarded cancel may take to reach its peer. */
#define PEER_CANCEL_TIMEOUT_SEC 2

/* The client ids of a process in a peer group fit PEER_CLIENT_MASK. */
bool peer_enabled(void);
/* The process id to hand a client in BackendKeyData. */
uint32_t peer_cancel_pid(uint32_t client_id);
/*
 * A CancelRequest for (pid, key) arrived. false: it is ours, *client_id is
 * the client to look up. true: it was forwarded to its peer (or dropped: a
 * forwarded cancel that is not ours, an unknown peer); nothing more to do.
 */
bool peer_route_cancel(uint32_t pid, uint32_t key, uint32_t *client_id);
/* Forwarding connections still in flight go (shutdown). */
void peer_shutdown(void);

struct peer_info {
	int id;
	const char *host;
	int port;
	bool self;
	uint64_t forwarded;     /* cancels sent to it */
	uint64_t failed;        /* ... that could not be delivered */
	uint64_t received;      /* forwarded cancels it sent us (self: from any peer) */
	const char *last_error;
};
/* The i-th configured peer; false past the last. */
bool peer_info(int i, struct peer_info *out);

#endif
