/* The real driver of the driver contract (src/core/core.h): one libevent loop that owns the TLS
 * contexts, the peer transport, the HTTP API server, core timers and signals. Frames reach the
 * core registered for their type range; a core's actions become frames, libevent timers, SQLite
 * writes (WRITE_DONE follows a durable commit) and status callbacks. Single-threaded. */
#ifndef KQ_NET_RUNTIME_H
#define KQ_NET_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "net/http.h"
#include "net/peer.h"

struct kq_store;
struct kq_runtime;
struct kq_core_host;

/* Cores one runtime hosts, and timers one core may have armed at once. */
#define KQ_RUNTIME_MAX_CORES       8
#define KQ_RUNTIME_MAX_CORE_TIMERS 64
/* Local requests (API calls waiting for a core's reply) one core may have in flight; more get
 * KQ_ERR_BUSY (503), never a silent drop. */
#define KQ_RUNTIME_MAX_REQUESTS 4096
/* Peers of one node (matches the config's bound). */
#define KQ_RUNTIME_MAX_PEERS 255

struct kq_runtime_config {
    uint32_t self_id;
    const struct kq_peer_conf *peers;
    size_t n_peers;
    const char *tls_ca, *tls_cert, *tls_key;
    const char *api_host;
    uint16_t api_port; /* 0 = ephemeral */
    const char *peer_host;
    uint16_t peer_port; /* 0 = ephemeral */
    struct kq_http_limits http_limits;
    kq_http_auth_fn auth;
    void *auth_ctx;
};

/* Called for every KQ_ACT_STATUS a hosted core emits. */
typedef void (*kq_core_status_fn)(void *ctx, struct kq_core_host *host,
                                  const struct kq_action *status);

/* Creates the loop, TLS contexts, peer transport and HTTP server and binds both listeners (the
 * bound ports are then available). *err gets the reason on failure (NULL returned). */
struct kq_runtime *kq_runtime_new(const struct kq_runtime_config *cfg, enum kq_err *err);
void kq_runtime_free(struct kq_runtime *rt);

uint16_t kq_runtime_api_port(const struct kq_runtime *rt);
uint16_t kq_runtime_peer_port(const struct kq_runtime *rt);
struct kq_http_server *kq_runtime_http(struct kq_runtime *rt);
struct kq_peer_net *kq_runtime_peers(struct kq_runtime *rt);

/* Hosts a core: frames with type in [type_lo, type_hi] go to it; its records persist in store
 * under namespace "core/<ops->name>". The core is restored and started by kq_runtime_run. */
struct kq_core_host *kq_runtime_add_core(struct kq_runtime *rt, const struct kq_core_ops *ops,
                                         const void *core_config, struct kq_store *store,
                                         uint16_t type_lo, uint16_t type_hi,
                                         kq_core_status_fn on_status, void *status_ctx);
/* Steps the core with ev (queued if the core is stepping): for events the node produces itself,
 * such as KQ_EV_LEDGER. Call it from the loop's own work (a runtime timer), not from inside
 * another core's status callback. A KQ_ACT_SEND to the node's own id reaches the core that owns
 * the frame type from the loop, as a frame from peer self_id. */
void kq_runtime_deliver(struct kq_core_host *host, const struct kq_event *ev);
/* The payload of an action the core emitted, for a status callback (valid during the call). */
const uint8_t *kq_core_host_payload(const struct kq_core_host *host, const struct kq_action *a);
/* The core's state, for read-only queries by the node (health). */
const void *kq_core_host_state(const struct kq_core_host *host);

/* A core's answer to a local request: status is the core's enum kq_err; payload borrowed. */
typedef void (*kq_core_reply_fn)(void *ctx, enum kq_err status, const uint8_t *payload, size_t len);
/* Sends a local request (KQ_EV_REQUEST of `kind`) to a hosted core; cb runs when the core
 * replies (possibly during this call). KQ_ERR_BUSY when KQ_RUNTIME_MAX_REQUESTS are in flight. */
__attribute__((warn_unused_result)) enum kq_err
kq_runtime_request(struct kq_core_host *host, uint32_t kind, const uint8_t *payload, size_t len,
                   kq_core_reply_fn cb, void *ctx, uint64_t *request_id);
/* Forgets a request whose requester went away: its reply, if any, is dropped. */
void kq_runtime_request_cancel(struct kq_core_host *host, uint64_t request_id);
/* An event of `kind` stamped with the runtime's monotonic and wall clocks. */
struct kq_event kq_runtime_event(enum kq_event_kind kind);

/* One-shot timers for the node's own bookkeeping (long-poll deadlines): cb runs on the loop. */
struct kq_runtime_timer;
struct kq_runtime_timer *kq_runtime_timer_new(struct kq_runtime *rt, void (*cb)(void *ctx),
                                              void *ctx);
void kq_runtime_timer_arm(struct kq_runtime_timer *t, uint64_t after_ms);
void kq_runtime_timer_free(struct kq_runtime_timer *t); /* NULL ok; a pending firing is dropped */

/* Replaces the peer set (kq_peer_net_set_peers: all or nothing, KQ_ERR_LIMIT or
 * KQ_ERR_INVALID_ARG for a list it refuses, then nothing changes): KQ_PEER_ALL sends go to the
 * new set, and once the cores run each gets KQ_EV_PEERS with it (after any PEER_DOWN of a peer
 * dropped). Frames from any configured peer reach the cores. Before kq_runtime_run the cores are
 * simply initialised with the new set. Call it from the loop's own work (a runtime timer), not
 * from a transport callback or a status callback: the connection being read may be closed. */
KQ_MUST_USE enum kq_err kq_runtime_set_peers(struct kq_runtime *rt,
                                             const struct kq_peer_conf *peers, size_t n_peers);

/* Restores and starts every core, starts dialing peers, and runs until SIGTERM or SIGINT (or
 * kq_runtime_stop). Returns KQ_OK on a graceful stop. */
enum kq_err kq_runtime_run(struct kq_runtime *rt);
void kq_runtime_stop(struct kq_runtime *rt);

/* Versions of the TLS library and of libevent, for /v1/sys/health. */
const char *kq_runtime_tls_version(void);
const char *kq_runtime_event_version(void);

/* Monotonic milliseconds, the clock the runtime gives cores. */
uint64_t kq_runtime_now_ms(void);

#endif
