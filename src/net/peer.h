/* The node-to-node transport: one mutually authenticated TLS 1.3 connection per pair of nodes
 * (the lower id dials the higher), carrying frames (src/wire/frame.h). A connection is up only
 * once the peer's certificate names a configured node and carries that node's pinned Ed25519
 * key; a frame reaches on_frame only from such a connection and only with its sender field equal
 * to the authenticated id. The peer set may change while the net runs (kq_peer_net_set_peers).
 * Single-threaded: every function runs on the event_base's thread. */
#ifndef KQ_NET_PEER_H
#define KQ_NET_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "base/assert.h"
#include "base/limits.h"

struct event_base;
struct kq_peer_net;

/* Peers one net knows: every other node of a deployment. */
#define KQ_PEER_MAX_PEERS (KQ_MAX_NODES - 1)

/* One other node. host is a NUL-terminated name or numeric address (numeric keeps DNS from
 * blocking the loop); identity is its pinned raw Ed25519 public key. */
struct kq_peer_conf {
    uint32_t id;
    char host[64];
    uint16_t port;
    uint8_t identity[32];
};

/* Called on the loop's thread. Callbacks may call kq_peer_net_send, kq_peer_net_connected,
 * kq_peer_net_connected_count and kq_peer_net_stats, but must not free the net. */
struct kq_peer_callbacks {
    /* A frame from authenticated peer `peer`; payload (len bytes, NULL-safe when len is 0) is
     * borrowed until the callback returns. PING frames never arrive here: the net answers them. */
    void (*on_frame)(void *ctx, uint32_t peer, uint16_t type, const uint8_t *payload, size_t len);
    void (*on_up)(void *ctx, uint32_t peer);   /* authenticated connection established */
    void (*on_down)(void *ctx, uint32_t peer); /* that connection lost (or replaced by a newer) */
    /* May be NULL. event is a short name ("peer_up", "peer_down", "peer_rejected", "bad_frame",
     * "dial_failed", "accept_error", and from kq_peer_net_set_peers "peer_added",
     * "peer_removed", "peer_changed"); peer is 0 when not yet known; detail never holds
     * secrets. */
    void (*on_log)(void *ctx, const char *event, uint32_t peer, const char *detail);
};

/* Counters since kq_peer_net_new. bytes count whole frames (header and payload). reconnects
 * counts dials made by the backoff timer (retries after a failed dial or a lost connection). */
struct kq_peer_stats {
    uint64_t frames_in, frames_out, bytes_in, bytes_out, rejected_handshakes, bad_frames,
        reconnects;
};

/* A transport for node self_id (nonzero) on base. server_ctx: from kq_tls_ctx_new with
 * KQ_TLS_PEER_SERVER; client_ctx: KQ_TLS_CLIENT with this node's certificate (both borrowed,
 * must outlive the net). peers: the other nodes (copied; n_peers <= KQ_PEER_MAX_PEERS, distinct
 * nonzero ids other than self_id and UINT32_MAX, NUL-terminated hosts), each with its pinned
 * identity key. cb (copied) needs on_frame, on_up and on_down; cb_ctx is passed back. Sets
 * SIGPIPE to ignored if it has the default action: a peer closing its socket must not kill the
 * process. Returns NULL on an invalid peer list or an allocation failure. */
struct kq_peer_net *kq_peer_net_new(struct event_base *base, SSL_CTX *server_ctx,
                                    SSL_CTX *client_ctx, uint32_t self_id,
                                    const struct kq_peer_conf *peers, size_t n_peers,
                                    const struct kq_peer_callbacks *cb, void *cb_ctx);

/* Listens for peers on host (name or numeric address) and port (0: ephemeral), with
 * SO_REUSEADDR so a restarted node takes its port back at once. *bound_port (may be NULL) gets
 * the port bound, and is left unchanged on failure. Once per net. KQ_ERR_NET if the address does
 * not resolve or cannot be bound. */
KQ_MUST_USE enum kq_err kq_peer_net_listen(struct kq_peer_net *n, const char *host, uint16_t port,
                                           uint16_t *bound_port);

/* Begins dialing every peer with a higher id than ours; lost connections to them are redialed
 * with backoff from then on. Peers with lower ids dial us. Once per net. */
void kq_peer_net_start(struct kq_peer_net *n);

/* Queues one frame (type, payload of len bytes; payload may be NULL only if len is 0) to peer.
 * KQ_ERR_LIMIT if len > KQ_MAX_FRAME_PAYLOAD, KQ_ERR_INVALID_ARG if peer is not configured,
 * KQ_ERR_NET if it is not connected, KQ_ERR_BUSY if the frame would take its output queue over
 * KQ_PEER_MAX_OUTBUF_BYTES (the caller decides what to drop or retry), KQ_ERR_NOMEM if the queue
 * cannot grow. On any error nothing is queued and the connection stays as it was. */
KQ_MUST_USE enum kq_err kq_peer_net_send(struct kq_peer_net *n, uint32_t peer, uint16_t type,
                                         const uint8_t *payload, size_t len);

/* Replaces the peer set with peers (same rules as kq_peer_net_new; copied), all or nothing:
 * KQ_ERR_LIMIT for more than KQ_PEER_MAX_PEERS, KQ_ERR_INVALID_ARG for an invalid list (then
 * nothing changes). A peer no longer listed has its dial and connection closed (on_down for a
 * connection that was up), its redial cancelled, and is refused from then on. A new peer is dialed
 * at once if its id is above ours and the net is started (else it is accepted when it dials). A
 * peer whose pinned key changed has its dial and connection closed (on_down) and is dialed again
 * (if ours to dial) against the new pin; one whose address alone changed likewise if we dial it,
 * and is left connected if it dials us. Unchanged peers keep their connections. Callbacks
 * (on_down, on_log) run during the call. Not from inside a callback of the same net: the
 * connection being read may be the one closed. */
KQ_MUST_USE enum kq_err kq_peer_net_set_peers(struct kq_peer_net *n,
                                              const struct kq_peer_conf *peers, size_t n_peers);

/* The configured peer ids, in no particular order, into ids (up to cap); returns their count. */
size_t kq_peer_net_peers(const struct kq_peer_net *n, uint32_t *ids, size_t cap);

/* True iff peer has an authenticated connection now. */
bool kq_peer_net_connected(const struct kq_peer_net *n, uint32_t peer);
/* Peers with an authenticated connection now. */
size_t kq_peer_net_connected_count(const struct kq_peer_net *n);

void kq_peer_net_stats(const struct kq_peer_net *n, struct kq_peer_stats *out);

/* Closes every connection (TLS close_notify, best effort) and the listener, and frees the net
 * (NULL is allowed). No callback runs. Not from inside a callback of the same net. */
void kq_peer_net_free(struct kq_peer_net *n);

#endif
