/* The ledger inside a node: loads the genesis, hosts the replica core (with the real state
 * machine) on the runtime, signs votes with the node's identity key (kept in guarded memory),
 * and serves the ledger API: POST /v1/ledger/tx, GET /v1/ledger/head, GET /v1/ledger/blocks
 * (long-poll) and GET /v1/ledger/proof. Derives the node's peer set from the committed node
 * records (kq_ledger_node_peers). */
#ifndef KQ_NODE_LEDGER_NODE_H
#define KQ_NODE_LEDGER_NODE_H

#include <jansson.h>
#include <stdint.h>

#include "base/err.h"
#include "net/runtime.h"
#include "node/config.h"

/* Long-polls of /v1/ledger/blocks waiting at once; more get 503. */
#define KQ_LEDGER_NODE_MAX_WAITERS 256
/* Blocks one /v1/ledger/blocks reply carries at most, and the longest wait it accepts. */
#define KQ_LEDGER_NODE_MAX_BLOCKS_PER_REPLY 64
#define KQ_LEDGER_NODE_MAX_WAIT_S           60
/* State entries one listing scans at most (the state is small; the bound keeps a request cheap). */
#define KQ_LEDGER_NODE_MAX_SCAN 100000

struct kq_store;
struct kq_ledger_node;

/* Loads cfg->ledger_genesis, hosts the replica on rt with store, and registers the API routes.
 * KQ_ERR_CONFIG (logged with the reason) for an unreadable or invalid genesis or a node whose
 * key is not the one the genesis records for its id. */
KQ_MUST_USE enum kq_err kq_ledger_node_start(struct kq_runtime *rt, struct kq_store *store,
                                             const struct kq_node_config *cfg,
                                             struct kq_ledger_node **out);
/* Frees what lives on the runtime's loop (the peer-set timer): before kq_runtime_free. Then
 * kq_ledger_node_free after it (the replica core uses the ledger node until freed). */
void kq_ledger_node_stop(struct kq_ledger_node *ln);
void kq_ledger_node_free(struct kq_ledger_node *ln);

/* The peer set derived from the committed state (every other node record, pinned to its
 * tls_pk), applied to the runtime at start and after every commit that changes node records; n
 * peers, borrowed until the next commit. NULL (*n = 0) while the node is not in the state (a
 * joining node: its config's peers are its bootstrap). */
const struct kq_peer_conf *kq_ledger_node_peers(const struct kq_ledger_node *ln, size_t *n);

/* {"height", "round", "mempool", "validator"} for /v1/sys/health. */
json_t *kq_ledger_node_health(const struct kq_ledger_node *ln);

#endif
