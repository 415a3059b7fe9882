/* Keys inside a node (docs/keys.md): serves /v1/keys (the registry read from the committed state,
 * key ops submitted as ledger transactions on the calling admin's behalf), hosts the keeper and
 * orchestrator cores on the runtime, feeds them every committed state (KQ_EV_LEDGER) and submits
 * the transactions they ask for (KQ_STATUS_SUBMIT_TX) signed with the node's identity key. */
#ifndef KQ_NODE_KEYS_NODE_H
#define KQ_NODE_KEYS_NODE_H
#include <jansson.h>
#include "base/err.h"
#include "net/runtime.h"
#include "node/config.h"
#include "node/ledger_node.h"

/* Requests waiting for a key's first version (POST /v1/keys with wait) at once; more get 503. */
#define KQ_KEYS_NODE_MAX_WAITERS 64
/* How long POST /v1/keys waits for the DKG of version 1 before answering 504 (the key is
 * registered and keeps generating). */
#define KQ_KEYS_NODE_CREATE_WAIT_MS 30000

struct kq_keys_node;
struct kq_store;

/* Registers the routes and, per the node's roles, the keeper and orchestrator cores. */
KQ_MUST_USE enum kq_err kq_keys_node_start(struct kq_runtime *rt, struct kq_store *store,
                                           const struct kq_node_config *cfg,
                                           struct kq_ledger_node *ln, struct kq_keys_node **out);
/* Before kq_runtime_free: frees what lives on the loop. kq_keys_node_free after it. */
void kq_keys_node_stop(struct kq_keys_node *kn);
void kq_keys_node_free(struct kq_keys_node *kn);
/* {"keys", "epoch"} for /v1/sys/health. */
json_t *kq_keys_node_health(const struct kq_keys_node *kn);

#endif
