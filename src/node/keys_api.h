/* Internal to src/node: what keys_node.c (the registry API and the ledger feed) shares with
 * keys_api.c (the data routes, answered by the orchestrator core) and keys_cores.c (hosting the
 * keeper and orchestrator cores on the runtime). */
#ifndef KQ_NODE_KEYS_API_H
#define KQ_NODE_KEYS_API_H
#include <jansson.h>
#include <stdbool.h>
#include "ledger/keyreg.h"
#include "net/http.h"
#include "net/runtime.h"
#include "node/keys_node.h"

/* GET /v1/keys/{name} lists at most this many versions (the newest). */
#define KQ_KEYS_MAX_LISTED_VERSIONS 256
/* The longest rotation period a key may have: ten years. */
#define KQ_KEYS_MAX_PERIOD_S (10 * 366 * 24 * 3600)

/* The cores a node hosts for keys: NULL hosts for roles it does not play. */
struct kq_keys_cores {
    struct kq_runtime *rt;
    struct kq_ledger_node *ln;
    struct kq_core_host *keeper, *orch;
    void *keeper_cfg, *orch_cfg; /* owned; the keeper's holds its guarded secrets */
};
KQ_MUST_USE enum kq_err kq_keys_cores_start(struct kq_keys_cores *c, struct kq_runtime *rt,
                                            struct kq_store *store,
                                            const struct kq_node_config *cfg,
                                            struct kq_ledger_node *ln);
/* Gives the cores a committed state (kept alive by the caller until the next call). */
void kq_keys_cores_ledger(struct kq_keys_cores *c, const struct kq_smt *state, uint64_t height);
/* Adds the cores' figures to a health object. */
void kq_keys_cores_health(const struct kq_keys_cores *c, json_t *into);
void kq_keys_cores_free(struct kq_keys_cores *c);

/* The data routes (/v1/keys/{name}/{datakey,encrypt,decrypt,rewrap,sign,verify,derive}). */
KQ_MUST_USE enum kq_err kq_keys_api_routes(struct kq_keys_node *kn, struct kq_http_server *http);

/* Shared helpers (keys_node.c). */
const struct kq_smt *kq_keys_node_state(const struct kq_keys_node *kn, uint64_t *height);
struct kq_ledger_node *kq_keys_node_ledger(const struct kq_keys_node *kn);
const struct kq_keys_cores *kq_keys_node_cores(const struct kq_keys_node *kn);
const char *kq_key_usage_name(uint8_t usage);
unsigned kq_keys_principal_roles(const struct kq_keys_node *kn,
                                 const struct kq_http_principal *who);
/* 403 (replied) and false unless the caller is a client holding one of roles. */
bool kq_keys_authorize(const struct kq_keys_node *kn, struct kq_http_req *req, unsigned roles,
                       const char *what);
/* The key the route names, or a reply (400 bad name, 404 unknown) and false. */
bool kq_keys_lookup(const struct kq_keys_node *kn, struct kq_http_req *req, struct kq_key_rec *k,
                    uint64_t *height);
json_t *kq_keys_key_json(const struct kq_smt *st, const struct kq_key_rec *k, uint64_t height);

#endif
