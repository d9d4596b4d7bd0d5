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

/*
 * The process id a client is told (BackendKeyData), which its cancel
 * requests name: never a real backend's, so that a client that runs
 * pg_terminate_backend() on it hits nothing. Linux pids stay below 2^22
 * (pid_max is at most 4194304), so bit 30 is always set. With [peers],
 * bits 19..29 are the peer and 0..18 the client; without, bits 0..29 the
 * client. Bit 31 is set only on a cancel one peer forwards to another.
 */
#define PID_MARK 0x40000000u
#define PEER_ID_SHIFT 19
#define PEER_CLIENT_MASK 0x7FFFFu
#define CLIENT_ID_MASK 0x3FFFFFFFu
#define PEER_FORWARDED 0x80000000u
/* How long a forwarded cancel may take to reach its peer. */
#define PEER_CANCEL_TIMEOUT_SEC 2

/* The client ids of a process in a peer group fit PEER_CLIENT_MASK
 * (else CLIENT_ID_MASK). */
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
	int in_flight;          /* cancels on their way to it (resolving or connecting) */
	const char *last_error;
};
/* The i-th configured peer; false past the last. */
bool peer_info(int i, struct peer_info *out);

#endif
