/* The ledger in a node (ledger_node.h). Owns the genesis, the validator set, the application
 * context and the signing key (sodium_malloc'd, wiped at free); the replica core owns the chain.
 * API handlers only read the core's state through its query functions, or send it requests and
 * answer when it replies (deferred HTTP replies, cancelled when the client leaves). */
#include "node/ledger_node.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/log.h"
#include "base/mem.h"
#include "ledger/app.h"
#include "ledger/genesis.h"
#include "ledger/replica.h"
#include "ledger/smt.h"
#include "ledger/tx_client.h"
#include "ledger/tx_member.h"
#include "net/http.h"
#include "net/pki.h"
#include "node/ledger_peers.h"
#include "wire/ledger_msg.h"

struct waiter {
    struct kq_ledger_node *ln;
    struct kq_http_req *req; /* NULL: free slot */
    uint64_t from, limit;
    struct kq_runtime_timer *timer;
};

struct kq_ledger_node {
    struct kq_runtime *rt;
    struct kq_core_host *host;
    struct kq_genesis *genesis;
    kq_hash chain_id;
    struct kq_valset *valset;
    struct kq_ledger_state_app app_ctx;
    struct kq_ledger_app app;
    struct kq_replica_config rcfg;
    uint8_t *sk;    /* guarded: libsodium Ed25519 secret key of this node's identity */
    bool validator; /* in the genesis set */
    uint32_t self_id;
    /* The peer set from the committed state (ledger_peers.h), re-derived on a timer after each
     * commit, never inside the step that committed. applied: the node is in the state and its
     * peer set is `peers`; otherwise it keeps the config's bootstrap peers. */
    struct kq_runtime_timer *peers_timer;
    struct kq_ledger_peers peers, scratch;
    bool applied;
    struct waiter waiters[KQ_LEDGER_NODE_MAX_WAITERS];
    kq_ledger_commit_fn commit_fn; /* the node's other parts following the ledger */
    void *commit_ctx;
    uint64_t notified_height;
};

/* ---- start-up ---- */

static enum kq_err load_genesis(struct kq_ledger_node *ln, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        KQ_LOG(KQ_LOG_ERROR, "genesis_unreadable", KQ_LS("path", path));
        return KQ_ERR_CONFIG;
    }
    uint8_t *buf = malloc(KQ_GENESIS_MAX_BYTES + 1);
    size_t n = buf != NULL ? fread(buf, 1, KQ_GENESIS_MAX_BYTES + 1, f) : 0;
    fclose(f);
    enum kq_err err = n == 0 || n > KQ_GENESIS_MAX_BYTES ? KQ_ERR_LIMIT : KQ_OK;
    if (err == KQ_OK)
        err = kq_genesis_decode(ln->genesis, buf, n);
    if (err == KQ_OK)
        err = kq_genesis_check(ln->genesis);
    if (err == KQ_OK)
        err = kq_genesis_chain_id(ln->genesis, &ln->chain_id);
    free(buf);
    if (err != KQ_OK) {
        KQ_LOG(KQ_LOG_ERROR, "genesis_invalid", KQ_LS("path", path),
               KQ_LS("reason", kq_errcode(err)));
        return KQ_ERR_CONFIG;
    }
    return KQ_OK;
}

/* The node's signing key is its identity key (the key of its certificate); the genesis must
 * record that key for this node id. */
static enum kq_err load_key(struct kq_ledger_node *ln, const struct kq_node_config *cfg)
{
    uint8_t seed[32], pk[32];
    ln->sk = kq_secure_alloc(crypto_sign_SECRETKEYBYTES);
    KQ_ENSURE(ln->sk != NULL, KQ_ERR_NOMEM);
    enum kq_err err = kq_pki_read_seed(cfg->tls_key, seed);
    if (err == KQ_OK && crypto_sign_seed_keypair(pk, ln->sk, seed) != 0)
        err = KQ_ERR_CRYPTO;
    kq_wipe(seed, sizeof seed);
    KQ_GUARD(err);
    const struct kq_member_node *me = NULL;
    for (size_t i = 0; i < ln->genesis->n_nodes; i++)
        if (ln->genesis->nodes[i].node_id == cfg->node_id)
            me = &ln->genesis->nodes[i];
    if (me != NULL && !kq_ct_eq(me->identity_pk, pk, sizeof pk)) {
        KQ_LOG(KQ_LOG_ERROR, "genesis_key_mismatch", KQ_LU("node", cfg->node_id));
        return KQ_ERR_CONFIG;
    }
    ln->validator = kq_valset_index(ln->valset, cfg->node_id) >= 0;
    return KQ_OK;
}

static void configure_replica(struct kq_ledger_node *ln, const struct kq_node_config *cfg)
{
    struct kq_replica_config *r = &ln->rcfg;
    r->chain_id = ln->chain_id;
    r->genesis_time_ms = ln->genesis->time_ms;
    r->valset = ln->valset;
    r->crypto.verify = kq_ledger_ed25519_verify;
    /* every node can sign: it votes whenever the committed state makes it a validator */
    r->crypto.sign = kq_ledger_ed25519_sign;
    r->crypto.sign_ctx = ln->sk;
    r->app = &ln->app;
    r->propose_ms = cfg->ledger_propose_ms;
    r->prevote_ms = cfg->ledger_prevote_ms;
    r->precommit_ms = cfg->ledger_precommit_ms;
    r->delta_ms = cfg->ledger_delta_ms;
    r->commit_ms = cfg->ledger_commit_ms;
    r->sync_retry_ms = cfg->ledger_sync_retry_ms;
    r->empty_block_ms = cfg->ledger_empty_block_ms;
}

/* ---- blocks and long-polls ---- */

static json_t *block_json(const struct kq_ledger_node *ln, uint64_t height)
{
    const void *st = kq_core_host_state(ln->host);
    const uint8_t *rec;
    size_t len;
    kq_hash hash;
    if (kq_replica_block_record(st, height, &rec, &len) != KQ_OK ||
        kq_replica_block_hash(st, height, &hash) != KQ_OK)
        return NULL;
    char hex[65];
    kq_hash_hex(&hash, hex);
    size_t b64_len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64_len);
    KQ_ASSERT(b64 != NULL);
    sodium_bin2base64(b64, b64_len, rec, len, sodium_base64_VARIANT_ORIGINAL);
    json_t *signers = json_array();
    struct kq_cert *cert = malloc(sizeof *cert);
    const uint8_t *raw;
    size_t raw_len;
    KQ_ASSERT(cert != NULL);
    if (kq_block_resp_decode(&raw, &raw_len, cert, rec, len) == KQ_OK) /* ours: it decodes */
        for (uint32_t i = 0; i < cert->count; i++)
            json_array_append_new(signers, json_integer(cert->sigs[i].validator));
    free(cert);
    json_t *j = json_pack("{s:I,s:s,s:s,s:o}", "height", (json_int_t)height, "hash", hex, "record",
                          b64, "signers", signers);
    free(b64);
    return j;
}

static void reply_blocks(struct kq_ledger_node *ln, struct kq_http_req *req, uint64_t from,
                         uint64_t limit)
{
    uint64_t height = kq_replica_height(kq_core_host_state(ln->host));
    json_t *blocks = json_array();
    for (uint64_t h = from; h <= height && h < from + limit; h++)
        json_array_append_new(blocks, block_json(ln, h));
    kq_http_reply_json(req, 200,
                       json_pack("{s:I,s:o}", "height", (json_int_t)height, "blocks", blocks));
}

static void waiter_release(struct waiter *w)
{
    kq_runtime_timer_free(w->timer);
    w->timer = NULL;
    w->req = NULL;
}

static void waiter_timeout(void *ctx)
{
    struct waiter *w = ctx;
    struct kq_http_req *req = w->req;
    struct kq_ledger_node *ln = w->ln;
    uint64_t from = w->from, limit = w->limit;
    waiter_release(w);
    reply_blocks(ln, req, from, limit); /* nothing new: an empty list and the current height */
}

static void waiter_cancel(void *ctx)
{
    waiter_release(ctx);
}

static void wake_waiters(struct kq_ledger_node *ln, uint64_t height)
{
    for (size_t i = 0; i < KQ_LEDGER_NODE_MAX_WAITERS; i++) {
        struct waiter *w = &ln->waiters[i];
        if (w->req != NULL && w->from <= height) {
            struct kq_http_req *req = w->req;
            uint64_t from = w->from, limit = w->limit;
            waiter_release(w);
            reply_blocks(ln, req, from, limit);
        }
    }
}

static bool query_u64(struct kq_http_req *req, const char *name, uint64_t dflt, uint64_t max,
                      uint64_t *out)
{
    const char *s = kq_http_query(req, name);
    *out = dflt;
    if (s == NULL)
        return true;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '\0' || *end != '\0' || *s == '-' || v > max) {
        kq_http_reply_error(req, 400, "invalid_argument", "%s must be an integer 0..%llu", name,
                            (unsigned long long)max);
        return false;
    }
    *out = v;
    return true;
}

static void h_blocks(struct kq_http_req *req, void *ctx)
{
    struct kq_ledger_node *ln = ctx;
    uint64_t from, limit, wait;
    if (!query_u64(req, "from", 1, UINT64_MAX - KQ_LEDGER_NODE_MAX_BLOCKS_PER_REPLY, &from) ||
        !query_u64(req, "limit", 16, KQ_LEDGER_NODE_MAX_BLOCKS_PER_REPLY, &limit) ||
        !query_u64(req, "wait", 0, KQ_LEDGER_NODE_MAX_WAIT_S, &wait))
        return;
    from = from == 0 ? 1 : from;
    limit = limit == 0 ? 1 : limit;
    uint64_t first = kq_replica_first_block(kq_core_host_state(ln->host));
    if (first > 1 && from < first) { /* state-synced: the blocks before its snapshot never came */
        kq_http_reply_error(req, 404, "not_found",
                            "this node holds blocks from height %llu (it joined by state sync); "
                            "ask another node for earlier ones",
                            (unsigned long long)first);
        return;
    }
    if (wait == 0 || from <= kq_replica_height(kq_core_host_state(ln->host))) {
        reply_blocks(ln, req, from, limit);
        return;
    }
    struct waiter *w = NULL;
    for (size_t i = 0; i < KQ_LEDGER_NODE_MAX_WAITERS && w == NULL; i++)
        if (ln->waiters[i].req == NULL)
            w = &ln->waiters[i];
    if (w == NULL) {
        kq_http_reply_error(req, 503, "busy", "too many long-polls waiting; retry");
        return;
    }
    *w = (struct waiter){.ln = ln, .req = req, .from = from, .limit = limit};
    w->timer = kq_runtime_timer_new(ln->rt, waiter_timeout, w);
    KQ_ASSERT(w->timer != NULL);
    kq_http_defer(req, waiter_cancel, w);
    kq_runtime_timer_arm(w->timer, wait * 1000);
}

static void h_head(struct kq_http_req *req, void *ctx)
{
    struct kq_ledger_node *ln = ctx;
    const void *st = kq_core_host_state(ln->host);
    uint64_t height = kq_replica_height(st);
    char chain[65];
    kq_hash_hex(&ln->chain_id, chain);
    json_t *head = height > 0 ? block_json(ln, height) : json_null();
    kq_http_reply_json(req, 200,
                       json_pack("{s:s,s:I,s:o,s:I}", "chain_id", chain, "height",
                                 (json_int_t)height, "head", head, "validators",
                                 (json_int_t)kq_replica_valset(st)->n));
}

/* GET /v1/ledger/valsets: every change of the validator set, oldest first, each with the
 * certified record of the block that names the new set and the set itself, so a follower that
 * knows only the genesis set moves from set to set (kq_follow_valset_change). */
static void h_valsets(struct kq_http_req *req, void *ctx)
{
    struct kq_ledger_node *ln = ctx;
    const void *st = kq_core_host_state(ln->host);
    json_t *changes = json_array();
    struct kq_valset *vs = malloc(sizeof *vs);
    KQ_ASSERT(vs != NULL);
    for (size_t i = 0; i < kq_replica_valset_changes(st); i++) {
        uint64_t height = 0;
        if (kq_replica_valset_change(st, i, &height, vs) != KQ_OK)
            break;
        json_t *vals = json_array();
        for (uint32_t k = 0; k < vs->n; k++) {
            char hex[65];
            sodium_bin2hex(hex, sizeof hex, vs->v[k].pk, sizeof vs->v[k].pk);
            json_array_append_new(
                vals, json_pack("{s:I,s:s}", "id", (json_int_t)vs->v[k].id, "key", hex));
        }
        json_t *block = block_json(ln, height);
        json_object_set_new(block, "validators", vals);
        json_array_append_new(changes, block);
    }
    free(vs);
    kq_http_reply_json(
        req, 200,
        json_pack("{s:I,s:o}", "height", (json_int_t)kq_replica_height(st), "changes", changes));
}

/* ---- transactions ---- */

struct submit {
    struct kq_ledger_node *ln;
    struct kq_http_req *req;
    uint64_t request_id;
    bool wait;
};

static void submit_cancel(void *ctx)
{
    struct submit *s = ctx;
    kq_runtime_request_cancel(s->ln->host, s->request_id);
    free(s);
}

static void submit_reply(void *ctx, enum kq_err status, const uint8_t *p, size_t len)
{
    struct submit *s = ctx;
    struct kq_http_req *req = s->req;
    bool wait = s->wait;
    free(s);
    if (status == KQ_ERR_TIMEOUT) {
        kq_http_reply_error(req, 504, "timeout", "the transaction expired uncommitted");
        return;
    }
    if (status != KQ_OK || len < KQ_HASH_BYTES) {
        enum kq_err why = status != KQ_OK ? status : KQ_ERR_STATE;
        char msg[160];
        snprintf(msg, sizeof msg, "the ledger refused the transaction: %s", kq_strerror(why));
        kq_http_reply_err(req, why, msg);
        return;
    }
    char id[65];
    kq_hash h;
    memcpy(h.b, p, KQ_HASH_BYTES);
    kq_hash_hex(&h, id);
    if (!wait || len < KQ_LEDGER_REPLY_BYTES) {
        kq_http_reply_json(req, 202, json_pack("{s:s,s:b}", "tx_id", id, "committed", false));
        return;
    }
    uint64_t height = 0;
    uint32_t result = 0;
    for (size_t i = 0; i < 8; i++)
        height = height << 8 | p[KQ_HASH_BYTES + i];
    for (size_t i = 0; i < 4; i++)
        result = result << 8 | p[KQ_HASH_BYTES + 8 + i];
    enum kq_err applied = (enum kq_err)result;
    kq_http_reply_json(req, applied == KQ_OK ? 200 : 409,
                       json_pack("{s:s,s:b,s:I,s:b,s:s}", "tx_id", id, "committed", true, "height",
                                 (json_int_t)height, "applied", applied == KQ_OK, "result",
                                 kq_errcode(applied)));
}

static void h_tx(struct kq_http_req *req, void *ctx)
{
    struct kq_ledger_node *ln = ctx;
    json_t *body = kq_http_body(req);
    json_t *tx = json_object_get(body, "tx"), *wait = json_object_get(body, "wait");
    uint8_t *bin = malloc(KQ_LEDGER_TX_MAX_BYTES);
    size_t len = 0;
    KQ_ASSERT(bin != NULL);
    if (!json_is_string(tx) || (wait != NULL && !json_is_boolean(wait)) ||
        sodium_base642bin(bin, KQ_LEDGER_TX_MAX_BYTES, json_string_value(tx),
                          json_string_length(tx), NULL, &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        len == 0) {
        free(bin);
        kq_http_reply_error(req, 400, "invalid_argument",
                            "body must be {\"tx\": \"<base64, at most %d bytes>\", \"wait\": bool}",
                            KQ_LEDGER_TX_MAX_BYTES);
        return;
    }
    struct submit *s = calloc(1, sizeof *s);
    KQ_ASSERT(s != NULL);
    *s = (struct submit){.ln = ln, .req = req, .wait = wait == NULL || json_is_true(wait)};
    kq_http_defer(req, submit_cancel, s);
    uint32_t kind = s->wait ? KQ_LEDGER_REQ_SUBMIT : KQ_LEDGER_REQ_SUBMIT_ASYNC;
    /* The reply may come during this call (a refusal, an async id): s is freed by then. */
    enum kq_err err = kq_runtime_request(ln->host, kind, bin, len, submit_reply, s, &s->request_id);
    free(bin);
    if (err != KQ_OK) {
        free(s);
        kq_http_reply_err(req, err, "the node cannot take more requests now");
    }
}

/* ---- state proofs ---- */

static char *b64(const uint8_t *p, size_t len)
{
    size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(n);
    KQ_ASSERT(s != NULL);
    sodium_bin2base64(s, n, p, len, sodium_base64_VARIANT_ORIGINAL);
    return s;
}

static void h_proof(struct kq_http_req *req, void *ctx)
{
    struct kq_ledger_node *ln = ctx;
    const char *key = kq_http_query(req, "key");
    size_t klen = key != NULL ? strlen(key) : 0;
    if (klen == 0 || klen > KQ_LEDGER_MAX_KEY_BYTES) {
        kq_http_reply_error(req, 400, "invalid_argument", "key must be 1..%d bytes",
                            KQ_LEDGER_MAX_KEY_BYTES);
        return;
    }
    const void *st = kq_core_host_state(ln->host);
    uint64_t height = kq_replica_height(st);
    if (height == 0) {
        kq_http_reply_error(req, 409, "bad_state", "no block is committed yet");
        return;
    }
    const struct kq_smt *smt = kq_replica_app_state(st);
    const uint8_t *value = NULL;
    size_t vlen = 0;
    enum kq_err err = kq_smt_get(smt, (const uint8_t *)key, klen, &value, &vlen);
    uint8_t proof[KQ_SMT_MAX_PROOF_BYTES];
    struct kq_buf out;
    kq_buf_writer(&out, proof, sizeof proof);
    if ((err != KQ_OK && err != KQ_ERR_NOT_FOUND) ||
        kq_smt_prove(smt, (const uint8_t *)key, klen, &out) != KQ_OK) {
        kq_http_reply_err(req, KQ_ERR_STATE, "cannot prove this key");
        return;
    }
    char *pv = b64(proof, kq_buf_len(&out));
    char *vv = err == KQ_OK ? b64(value, vlen) : NULL;
    json_t *block = block_json(ln, height);
    kq_http_reply_json(req, 200,
                       json_pack("{s:s,s:o,s:s,s:I,s:o}", "key", key, "value",
                                 vv != NULL ? json_string(vv) : json_null(), "proof", pv, "height",
                                 (json_int_t)height, "block", block));
    free(pv);
    free(vv);
}

/* ---- client identities ---- */

struct client_list {
    json_t *arr;
    size_t seen;
};

static json_t *client_json(const struct kq_client *c)
{
    char auth[65];
    sodium_bin2hex(auth, sizeof auth, c->auth, sizeof c->auth);
    json_t *roles = json_array();
    if (c->roles & KQ_CLIENT_ROLE_USER)
        json_array_append_new(roles, json_string("user"));
    if (c->roles & KQ_CLIENT_ROLE_ADMIN)
        json_array_append_new(roles, json_string("admin"));
    json_t *j = json_pack("{s:s,s:s,s:s,s:o,s:i}", "id", c->id, "auth_kind",
                          c->auth_kind == KQ_CLIENT_AUTH_TOKEN ? "token_sha256" : "cert_sha256",
                          "auth", auth, "roles", roles, "trust", (int)c->trust);
    if (c->flags & KQ_CLIENT_HAS_X25519) {
        char x[65];
        sodium_bin2hex(x, sizeof x, c->x25519_pk, sizeof c->x25519_pk);
        json_object_set_new(j, "x25519_pk", json_string(x));
    }
    if (c->flags & KQ_CLIENT_HAS_SIGN_PK) {
        char x[65];
        sodium_bin2hex(x, sizeof x, c->sign_pk, sizeof c->sign_pk);
        json_object_set_new(j, "sign_pk", json_string(x));
    }
    return j;
}

static bool visit_client(void *ctx, const kq_hash *path, const uint8_t *key, size_t key_len,
                         const uint8_t *value, size_t value_len)
{
    (void)path;
    struct client_list *l = ctx;
    static const char prefix[] = "client/";
    struct kq_client c;
    if (key_len > sizeof prefix - 1 && memcmp(key, prefix, sizeof prefix - 1) == 0 &&
        kq_client_decode(&c, value, value_len) == KQ_OK)
        json_array_append_new(l->arr, client_json(&c));
    return ++l->seen < KQ_LEDGER_NODE_MAX_SCAN;
}

/* GET /v1/clients: the client identities in the latest committed state (not proofs: for a
 * verified read of one client, GET /v1/ledger/proof?key=client/<id>). */
static void h_clients(struct kq_http_req *req, void *ctx)
{
    struct kq_ledger_node *ln = ctx;
    const void *st = kq_core_host_state(ln->host);
    struct client_list l = {.arr = json_array()};
    kq_smt_foreach(kq_replica_app_state(st), NULL, visit_client, &l);
    kq_http_reply_json(
        req, 200,
        json_pack("{s:I,s:o}", "height", (json_int_t)kq_replica_height(st), "clients", l.arr));
}

/* ---- the peer set ---- */

/* Re-derives the peer set from the committed state; applies it when the node records changed and
 * the node is one of them, or has been (a joining node keeps dialing its configured bootstrap
 * peers; a removed one keeps following the ledger, whose members now refuse it). */
static void peers_refresh(void *ctx)
{
    struct kq_ledger_node *ln = ctx;
    const struct kq_smt *smt = kq_replica_app_state(kq_core_host_state(ln->host));
    if (smt == NULL)
        return;
    uint64_t height = kq_replica_height(kq_core_host_state(ln->host));
    if (ln->commit_fn != NULL && (height > ln->notified_height || ln->notified_height == 0)) {
        ln->notified_height = height;
        ln->commit_fn(ln->commit_ctx, smt, height);
    }
    struct kq_ledger_peers *next = &ln->scratch;
    enum kq_err err = kq_ledger_peers_derive(smt, ln->self_id, KQ_LEDGER_NODE_MAX_SCAN, next);
    if (err != KQ_OK) {
        KQ_LOG(KQ_LOG_WARN, "peer_set_unread", KQ_LS("reason", kq_errcode(err)));
        return;
    }
    if (kq_hash_eq(&next->digest, &ln->peers.digest) && (ln->applied || !next->self_listed))
        return;
    if (next->skipped > 0)
        KQ_LOG(KQ_LOG_WARN, "peer_records_skipped", KQ_LU("count", next->skipped));
    if (!next->self_listed && !ln->applied) { /* joining: keep dialing the bootstrap peers */
        KQ_LOG(KQ_LOG_INFO, "peer_set_bootstrap", KQ_LU("ledger_nodes", next->n));
        ln->peers.digest = next->digest;
        return;
    }
    err = kq_runtime_set_peers(ln->rt, next->peers, next->n);
    if (err != KQ_OK) {
        KQ_LOG(KQ_LOG_WARN, "peer_set_refused", KQ_LS("reason", kq_errcode(err)));
        return;
    }
    ln->peers = *next;
    ln->applied = true;
    KQ_LOG(KQ_LOG_INFO, "peer_set_from_ledger", KQ_LU("peers", next->n),
           KQ_LU("height", kq_replica_height(kq_core_host_state(ln->host))));
}

void kq_ledger_node_on_commit(struct kq_ledger_node *ln, kq_ledger_commit_fn fn, void *ctx)
{
    ln->commit_fn = fn;
    ln->commit_ctx = ctx;
    kq_runtime_timer_arm(ln->peers_timer, 0);
}

const struct kq_smt *kq_ledger_node_state(const struct kq_ledger_node *ln, uint64_t *height)
{
    const void *st = kq_core_host_state(ln->host);
    if (height != NULL)
        *height = kq_replica_height(st);
    return kq_replica_app_state(st);
}

enum kq_err kq_ledger_node_submit(struct kq_ledger_node *ln, uint16_t family, uint16_t op,
                                  const uint8_t *body, size_t body_len, bool wait,
                                  kq_core_reply_fn cb, void *ctx, uint64_t *request_id)
{
    uint64_t height = kq_replica_height(kq_core_host_state(ln->host));
    struct kq_tx_fields f = {.family = family,
                             .op = op,
                             .chain_id = ln->chain_id,
                             .expiry_height = height + KQ_LEDGER_NODE_TX_EXPIRY_BLOCKS,
                             .body = body,
                             .body_len = body_len};
    randombytes_buf(&f.nonce, sizeof f.nonce);
    uint8_t *tx = malloc(KQ_LEDGER_TX_MAX_BYTES);
    KQ_ENSURE(tx != NULL, KQ_ERR_NOMEM);
    size_t len = 0;
    enum kq_err err = kq_tx_sign(&f, ln->sk, tx, KQ_LEDGER_TX_MAX_BYTES, &len);
    uint64_t scratch = 0;
    /* the id is written before the request is delivered: the reply (which may free the caller's
     * context) can come during the call */
    if (err == KQ_OK)
        err = kq_runtime_request(ln->host, wait ? KQ_LEDGER_REQ_SUBMIT : KQ_LEDGER_REQ_SUBMIT_ASYNC,
                                 tx, len, cb, ctx, request_id != NULL ? request_id : &scratch);
    free(tx);
    return err;
}

void kq_ledger_node_cancel(struct kq_ledger_node *ln, uint64_t request_id)
{
    kq_runtime_request_cancel(ln->host, request_id);
}

const kq_hash *kq_ledger_node_chain_id(const struct kq_ledger_node *ln)
{
    return &ln->chain_id;
}

const uint8_t *kq_ledger_node_identity_sk(const struct kq_ledger_node *ln)
{
    return ln->sk;
}

const struct kq_peer_conf *kq_ledger_node_peers(const struct kq_ledger_node *ln, size_t *n)
{
    *n = ln->applied ? ln->peers.n : 0;
    return ln->applied ? ln->peers.peers : NULL;
}

/* ---- node records ---- */

static bool visit_node(void *ctx, const kq_hash *path, const uint8_t *key, size_t key_len,
                       const uint8_t *value, size_t value_len)
{
    (void)path;
    struct client_list *l = ctx;
    static const char prefix[] = "node/";
    static const char *const names[] = {"validator", "keeper", "orchestrator"};
    struct kq_member_node m;
    if (key_len > sizeof prefix - 1 && memcmp(key, prefix, sizeof prefix - 1) == 0 &&
        kq_member_node_decode(&m, value, value_len) == KQ_OK) {
        char id_pk[65], tls_pk[65], x[65];
        sodium_bin2hex(id_pk, sizeof id_pk, m.identity_pk, 32);
        sodium_bin2hex(tls_pk, sizeof tls_pk, m.tls_pk, 32);
        sodium_bin2hex(x, sizeof x, m.x25519_pk, 32);
        json_t *roles = json_array();
        for (size_t i = 0; i < 3; i++)
            if (m.roles & (1u << i))
                json_array_append_new(roles, json_string(names[i]));
        json_array_append_new(l->arr,
                              json_pack("{s:I,s:o,s:s,s:s,s:I,s:s,s:s,s:s}", "id",
                                        (json_int_t)m.node_id, "roles", roles, "identity_pk", id_pk,
                                        "tls_pk", tls_pk, "epoch", (json_int_t)m.epoch, "x25519_pk",
                                        x, "api_addr", m.api_addr, "peer_addr", m.peer_addr));
    }
    return ++l->seen < KQ_LEDGER_NODE_MAX_SCAN;
}

/* GET /v1/nodes: the node records in the latest committed state (for a verified read of one,
 * GET /v1/ledger/proof?key=node/<id>). */
static void h_nodes(struct kq_http_req *req, void *ctx)
{
    struct kq_ledger_node *ln = ctx;
    const void *st = kq_core_host_state(ln->host);
    struct client_list l = {.arr = json_array()};
    kq_smt_foreach(kq_replica_app_state(st), NULL, visit_node, &l);
    kq_http_reply_json(
        req, 200,
        json_pack("{s:I,s:o}", "height", (json_int_t)kq_replica_height(st), "nodes", l.arr));
}

/* ---- status, health, lifecycle ---- */

static void on_status(void *ctx, struct kq_core_host *host, const struct kq_action *a)
{
    (void)host;
    struct kq_ledger_node *ln = ctx;
    if (a->status == KQ_STATUS_COMMITTED) {
        KQ_LOG(KQ_LOG_DEBUG, "block_committed", KQ_LU("height", a->value));
        wake_waiters(ln, a->value);
        kq_runtime_timer_arm(ln->peers_timer, 0); /* after this step: not inside a callback */
    } else if (a->status == KQ_STATUS_READY) {
        KQ_LOG(KQ_LOG_INFO, "ledger_ready", KQ_LU("height", a->value));
    }
}

json_t *kq_ledger_node_health(const struct kq_ledger_node *ln)
{
    const void *st = kq_core_host_state(ln->host);
    return json_pack("{s:I,s:I,s:I,s:b}", "height", (json_int_t)kq_replica_height(st), "round",
                     (json_int_t)kq_replica_round(st), "mempool",
                     (json_int_t)kq_replica_mempool_count(st), "validator",
                     kq_valset_index(kq_replica_valset(st), ln->self_id) >= 0);
}

static enum kq_err add_routes(struct kq_ledger_node *ln)
{
    struct kq_http_server *http = kq_runtime_http(ln->rt);
    KQ_GUARD(kq_http_route(http, "POST", "/v1/ledger/tx", KQ_ROUTE_JSON_BODY, h_tx, ln));
    KQ_GUARD(kq_http_route(http, "GET", "/v1/ledger/head", 0, h_head, ln));
    KQ_GUARD(kq_http_route(http, "GET", "/v1/ledger/blocks", 0, h_blocks, ln));
    KQ_GUARD(kq_http_route(http, "GET", "/v1/ledger/valsets", 0, h_valsets, ln));
    KQ_GUARD(kq_http_route(http, "GET", "/v1/clients", 0, h_clients, ln));
    KQ_GUARD(kq_http_route(http, "GET", "/v1/nodes", 0, h_nodes, ln));
    return kq_http_route(http, "GET", "/v1/ledger/proof", 0, h_proof, ln);
}

enum kq_err kq_ledger_node_start(struct kq_runtime *rt, struct kq_store *store,
                                 const struct kq_node_config *cfg, struct kq_ledger_node **out)
{
    struct kq_ledger_node *ln = calloc(1, sizeof *ln);
    KQ_ENSURE(ln != NULL, KQ_ERR_NOMEM);
    *out = ln;
    ln->rt = rt;
    ln->genesis = calloc(1, sizeof *ln->genesis);
    ln->valset = calloc(1, sizeof *ln->valset);
    KQ_ENSURE(ln->genesis != NULL && ln->valset != NULL, KQ_ERR_NOMEM);
    KQ_GUARD(load_genesis(ln, cfg->ledger_genesis));
    KQ_GUARD(kq_ledger_genesis_valset(ln->genesis, ln->valset));
    KQ_GUARD(load_key(ln, cfg));
    kq_ledger_state_app_init(&ln->app, &ln->app_ctx, ln->genesis);
    configure_replica(ln, cfg);
    ln->host =
        kq_runtime_add_core(rt, &kq_replica_ops, &ln->rcfg, store, 0x0100, 0x01FF, on_status, ln);
    ln->self_id = cfg->node_id;
    ln->peers_timer = kq_runtime_timer_new(rt, peers_refresh, ln);
    KQ_ENSURE(ln->peers_timer != NULL, KQ_ERR_NOMEM);
    kq_runtime_timer_arm(ln->peers_timer, 0); /* runs once the loop runs: the restored state */
    char chain[65];
    kq_hash_hex(&ln->chain_id, chain);
    KQ_LOG(KQ_LOG_INFO, "ledger", KQ_LS("chain_id", chain), KQ_LU("validators", ln->valset->n),
           KQ_LB("validator", ln->validator));
    return add_routes(ln);
}

void kq_ledger_node_stop(struct kq_ledger_node *ln)
{
    if (ln == NULL)
        return;
    kq_runtime_timer_free(ln->peers_timer);
    ln->peers_timer = NULL;
}

void kq_ledger_node_free(struct kq_ledger_node *ln)
{
    if (ln == NULL)
        return;
    for (size_t i = 0; i < KQ_LEDGER_NODE_MAX_WAITERS; i++)
        kq_runtime_timer_free(ln->waiters[i].timer);
    kq_runtime_timer_free(ln->peers_timer);
    kq_secure_free(ln->sk);
    free(ln->genesis);
    free(ln->valset);
    free(ln);
}
