/* The ledger inside a node: loads the genesis, hosts the replica core (with the real state
 * machine) on the runtime, signs votes with the node's identity key (kept in guarded memory),
 * and serves the ledger API: POST /v1/ledger/tx, GET /v1/ledger/head, GET /v1/ledger/blocks
 * (long-poll) and GET /v1/ledger/proof. Derives the node's peer set from the committed node
 * records (kq_ledger_node_peers). */
#ifndef KQ_NODE_LEDGER_NODE_H
#define KQ_NODE_LEDGER_NODE_H

#include <jansson.h>
#include <stdint.h>

#include <stdbool.h>
#include "base/err.h"
#include "ledger/hash.h"
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

/* A tx the node signs itself expires this many blocks after the height it was made at. */
#define KQ_LEDGER_NODE_TX_EXPIRY_BLOCKS 1000
struct kq_smt;
/* Called once after each commit (coalesced: from a loop timer after the commit's step, never
 * inside it) with the committed state (borrowed: kq_smt_ref it to keep it) and its height; also
 * once at start-up with the restored state. One subscriber. */
typedef void (*kq_ledger_commit_fn)(void *ctx, const struct kq_smt *state, uint64_t height);
void kq_ledger_node_on_commit(struct kq_ledger_node *ln, kq_ledger_commit_fn fn, void *ctx);
/* The latest committed state (NULL before the replica starts) and its height. */
const struct kq_smt *kq_ledger_node_state(const struct kq_ledger_node *ln, uint64_t *height);
/* Signs a tx (family, op, body) with the node's identity key and submits it to the local replica:
 * wait = answer at commit (KQ_LEDGER_REQ_SUBMIT) or at admission. cb gets the replica's reply
 * (tx id | height | result, as POST /v1/ledger/tx); may run during the call. KQ_ERR_BUSY,
 * KQ_ERR_LIMIT (body too long), KQ_ERR_NOMEM. */
KQ_MUST_USE enum kq_err kq_ledger_node_submit(struct kq_ledger_node *ln, uint16_t family,
                                              uint16_t op, const uint8_t *body, size_t body_len,
                                              bool wait, kq_core_reply_fn cb, void *ctx,
                                              uint64_t *request_id);
void kq_ledger_node_cancel(struct kq_ledger_node *ln, uint64_t request_id);
const kq_hash *kq_ledger_node_chain_id(const struct kq_ledger_node *ln);
/* The node's Ed25519 identity secret key (64 bytes, guarded memory, owned by the ledger node). */
const uint8_t *kq_ledger_node_identity_sk(const struct kq_ledger_node *ln);
/* {"height", "round", "mempool", "validator"} for /v1/sys/health. */
json_t *kq_ledger_node_health(const struct kq_ledger_node *ln);

#endif
