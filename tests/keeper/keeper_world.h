/* The harness shared by the keeper and orchestrator tests: four keeper cores driven by hand beside
 * a ledger built by applying real transactions (their own EPOCH_KEY and DKG_MSG submissions, an
 * admin's key ops), with a store per node kept in memory and deterministic randomness. Included by
 * tests/keeper/test_keeper.c and tests/orch/test_orch.c (static inline: each uses a subset). */
#ifndef KQ_TESTS_KEEPER_WORLD_H
#define KQ_TESTS_KEEPER_WORLD_H
#include "../test_util.h"

#include "base/mem.h"
#include "crypto/frost.h"
#include "crypto/partial.h"
#include "crypto/tkem.h"
#include "crypto/tprf.h"
#include "keeper/keeper.h"
#include "ledger/keyreg.h"
#include "ledger/state.h"
#include "ledger/tx_client.h"
#include "ledger/tx_member.h"
#include "wire/keeper_msg.h"

#define NK        4
#define ORCH      9 /* the peer id requests come from */
#define MAX_RECS  512
#define MAX_TXS   512
#define ADMIN_TAG 200

struct rec {
    char key[KQ_CORE_MAX_RECORD_KEY];
    uint8_t *val;
    size_t len;
};

struct rng {
    uint8_t key[32];
    uint64_t ctr;
};

struct node {
    uint32_t id;
    uint8_t sk[64], pk[32];
    struct rng rng;
    struct kq_keeper_config cfg;
    void *state;
    size_t n_recs;
    struct rec recs[MAX_RECS];
};

struct world {
    struct kq_genesis *g;
    struct kq_smt *st;
    kq_hash chain;
    uint64_t height, time_ms, nonce;
    uint8_t admin_sk[64], admin_pk[32];
    struct node nodes[NK];
    size_t n_txs;
    struct kq_tx_ref txs[MAX_TXS];
    struct kq_tx_result results[MAX_TXS];
    struct kq_actions *acts;
    uint8_t resp[KQ_KEEPER_RESP_MAX_BYTES];
    size_t resp_len;
    struct kq_label label;
    uint8_t client_sk[32], client_pk[32];
};

static struct world *W;

/* ---- deterministic randomness for the cores ---- */

static inline void rng_fill(void *ctx, uint8_t *out, size_t len)
{
    struct rng *r = ctx;
    uint8_t seed[randombytes_SEEDBYTES];
    crypto_generichash(seed, sizeof seed, (const uint8_t *)&r->ctr, sizeof r->ctr, r->key,
                       sizeof r->key);
    r->ctr++;
    randombytes_buf_deterministic(out, len, seed);
}

/* ---- the records a node's store holds ---- */

static struct rec *rec_find(struct node *n, const char *key)
{
    for (size_t i = 0; i < n->n_recs; i++)
        if (strcmp(n->recs[i].key, key) == 0)
            return &n->recs[i];
    return NULL;
}

static inline void rec_put(struct node *n, const char *key, const uint8_t *v, size_t len)
{
    struct rec *r = rec_find(n, key);
    if (r == NULL) {
        assert_true(n->n_recs < MAX_RECS);
        r = &n->recs[n->n_recs++];
        memset(r, 0, sizeof *r);
        snprintf(r->key, sizeof r->key, "%s", key);
    }
    free(r->val);
    r->val = malloc(len ? len : 1);
    assert_non_null(r->val);
    memcpy(r->val, v, len);
    r->len = len;
}

static inline void rec_erase(struct node *n, const char *key)
{
    struct rec *r = rec_find(n, key);
    if (r == NULL)
        return;
    free(r->val);
    *r = n->recs[--n->n_recs];
    memset(&n->recs[n->n_recs], 0, sizeof n->recs[0]);
}

static inline void recs_clear(struct node *n)
{
    for (size_t i = 0; i < n->n_recs; i++)
        free(n->recs[i].val);
    n->n_recs = 0;
}

/* ---- stepping a core and executing its actions ---- */

static inline void add_tx(const uint8_t sk[64], uint16_t family, uint16_t op, const uint8_t *body,
                          size_t len)
{
    struct kq_tx_fields tf = {.family = family,
                              .op = op,
                              .chain_id = W->chain,
                              .expiry_height = W->height + 20,
                              .nonce = ++W->nonce,
                              .body = body,
                              .body_len = len};
    uint8_t *buf = malloc(KQ_TX_BYTES(len));
    size_t out_len = 0;
    assert_non_null(buf);
    assert_true(W->n_txs < MAX_TXS);
    assert_int_equal(kq_tx_sign(&tf, sk, buf, KQ_TX_BYTES(len), &out_len), KQ_OK);
    W->txs[W->n_txs++] = (struct kq_tx_ref){.data = buf, .len = out_len};
}

static inline enum kq_err step(struct node *n, const struct kq_event *ev)
{
    uint64_t tokens[64];
    size_t n_tokens = 0;
    kq_actions_reset(W->acts);
    enum kq_err err = kq_keeper_core.step(n->state, ev, W->acts);
    if (err != KQ_OK)
        return err;
    for (size_t i = 0; i < W->acts->count; i++) {
        const struct kq_action *a = &W->acts->items[i];
        const uint8_t *p = kq_action_payload(W->acts, a);
        switch (a->kind) {
        case KQ_ACT_PERSIST:
            rec_put(n, a->record_key, p, a->payload_len);
            if (a->sync && n_tokens < 64)
                tokens[n_tokens++] = a->write_token;
            break;
        case KQ_ACT_ERASE:
            rec_erase(n, a->record_key);
            break;
        case KQ_ACT_STATUS:
            if (a->status == KQ_STATUS_SUBMIT_TX) {
                assert_true(a->payload_len >= 4);
                add_tx(n->sk, (uint16_t)(p[0] << 8 | p[1]), (uint16_t)(p[2] << 8 | p[3]), p + 4,
                       a->payload_len - 4);
            }
            break;
        case KQ_ACT_SEND:
            assert_int_equal(a->frame_type, KQ_FRAME_KEEPER_RESP);
            assert_true(a->payload_len <= sizeof W->resp);
            memcpy(W->resp, p, a->payload_len);
            W->resp_len = a->payload_len;
            break;
        default:
            break;
        }
    }
    for (size_t i = 0; i < n_tokens; i++) {
        struct kq_event wd = {.kind = KQ_EV_WRITE_DONE, .write_token = tokens[i]};
        assert_int_equal(step(n, &wd), KQ_OK);
    }
    return KQ_OK;
}

static inline void node_boot(struct node *n, bool byzantine)
{
    uint32_t peers[1] = {ORCH};
    n->cfg.node_id = n->id;
    memcpy(n->cfg.identity_sk, n->sk, 64);
    memset(n->cfg.kek, (int)(0x40 + n->id), sizeof n->cfg.kek);
    n->cfg.random = rng_fill;
    n->cfg.random_ctx = &n->rng;
    n->cfg.frost_nonce_ttl_ms = 1000;
    n->cfg.byzantine_partials = byzantine;
    n->state = calloc(1, kq_keeper_core.state_size);
    assert_non_null(n->state);
    assert_int_equal(kq_keeper_core.init(n->state, n->id, peers, 1, &n->cfg), KQ_OK);
    for (size_t i = 0; i < n->n_recs; i++) {
        struct kq_event ev = {.kind = KQ_EV_RESTORE,
                              .record_key = n->recs[i].key,
                              .payload = n->recs[i].val,
                              .payload_len = n->recs[i].len};
        assert_int_equal(step(n, &ev), KQ_OK);
    }
    struct kq_event start = {.kind = KQ_EV_START};
    assert_int_equal(step(n, &start), KQ_OK);
    if (W->st != NULL) {
        struct kq_event le = {
            .kind = KQ_EV_LEDGER, .ledger_state = W->st, .ledger_height = W->height};
        assert_int_equal(step(n, &le), KQ_OK);
    }
}

static inline void node_stop(struct node *n)
{
    kq_keeper_core.fini(n->state);
    free(n->state);
    n->state = NULL;
}

/* One block with the pending txs, then every keeper sees its state. */
static inline void advance(uint64_t dt_ms)
{
    struct kq_smt *post = NULL;
    W->time_ms += dt_ms;
    assert_int_equal(
        kq_state_apply_block(W->st, W->height + 1, W->time_ms, W->txs, W->n_txs, &post, W->results),
        KQ_OK);
    for (size_t i = 0; i < W->n_txs; i++)
        free((void *)W->txs[i].data);
    W->n_txs = 0;
    kq_smt_unref(W->st);
    W->st = post;
    W->height++;
    for (size_t i = 0; i < NK; i++) {
        if (W->nodes[i].state == NULL)
            continue;
        struct kq_event le = {.kind = KQ_EV_LEDGER,
                              .ledger_state = W->st,
                              .ledger_height = W->height,
                              .now_ms = W->time_ms,
                              .wall_ms = W->time_ms};
        assert_int_equal(step(&W->nodes[i], &le), KQ_OK);
    }
}

static inline uint8_t version_state(const char *name, uint32_t v)
{
    struct kq_keyver_rec r;
    if (kq_keyreg_version(W->st, name, v, &r) != KQ_OK)
        return 0;
    return r.state;
}

static inline void run_until_active(const char *name, uint32_t v)
{
    for (int i = 0; i < 200 && version_state(name, v) != KQ_KEYVER_ACTIVE; i++)
        advance(100);
    assert_int_equal(version_state(name, v), KQ_KEYVER_ACTIVE);
}

static inline void key_op(uint16_t op, const struct kq_key_tx *b)
{
    uint8_t body[512];
    size_t len = 0;
    assert_int_equal(kq_key_tx_encode(op, b, body, sizeof body, &len), KQ_OK);
    add_tx(W->admin_sk, KQ_TX_FAMILY_KEY, op, body, len);
}

static inline void create_key(const char *name, uint8_t usage)
{
    struct kq_key_tx b = {.usage = usage, .n = NK, .t = 3};
    strcpy(b.name, name);
    key_op(KQ_KEY_OP_CREATE, &b);
    advance(100);
    run_until_active(name, 1);
}

/* ---- ledger reads ---- */

static inline void sharing(const char *name, uint32_t v, uint64_t epoch, struct kq_sharing_rec *s)
{
    assert_int_equal(kq_keyreg_sharing(W->st, name, v, epoch, s), KQ_OK);
}

static inline void pubkey(const char *name, uint32_t v, uint8_t S[32])
{
    struct kq_keyver_rec vr;
    assert_int_equal(kq_keyreg_version(W->st, name, v, &vr), KQ_OK);
    memcpy(S, vr.public_key, 32);
}

/* ---- the world: genesis of 4 keeper nodes, clients, three keys ---- */

static inline void keypair(uint8_t pk[32], uint8_t sk[64], uint8_t tag)
{
    uint8_t seed[32];
    memset(seed, tag, sizeof seed);
    assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
}

static inline void make_member(struct kq_member_node *m, struct node *n, uint32_t id)
{
    uint8_t sk[64], x[32];
    memset(m, 0, sizeof *m);
    n->id = id;
    keypair(n->pk, n->sk, (uint8_t)id);
    m->node_id = id;
    m->roles = KQ_ROLE_VALIDATOR | KQ_ROLE_KEEPER;
    memcpy(m->identity_pk, n->pk, 32);
    keypair(m->tls_pk, sk, (uint8_t)(id + 100));
    memset(x, (int)id, sizeof x);
    crypto_scalarmult_base(m->x25519_pk, x);
    snprintf(m->api_addr, sizeof m->api_addr, "n%u:8443", (unsigned)id);
    snprintf(m->peer_addr, sizeof m->peer_addr, "n%u:9443", (unsigned)id);
    memset(n->rng.key, (int)id, sizeof n->rng.key);
}

static inline void register_client(const char *id, bool with_x25519)
{
    struct kq_client c;
    uint8_t body[KQ_CLIENT_MAX_BYTES];
    size_t len = 0;
    memset(&c, 0, sizeof c);
    strcpy(c.id, id);
    c.auth_kind = KQ_CLIENT_AUTH_CERT;
    memset(c.auth, 0x5a, 32);
    c.roles = KQ_CLIENT_ROLE_USER;
    c.trust = 50;
    if (with_x25519) {
        c.flags = KQ_CLIENT_HAS_X25519;
        memcpy(c.x25519_pk, W->client_pk, 32);
    }
    assert_int_equal(kq_client_encode(&c, body, sizeof body, &len), KQ_OK);
    add_tx(W->admin_sk, KQ_TX_FAMILY_CLIENT, KQ_CLIENT_OP_SET, body, len);
}

static inline int setup(void **state)
{
    (void)state;
    assert_int_equal(kq_init(0), KQ_OK);
    W = calloc(1, sizeof *W);
    assert_non_null(W);
    W->acts = malloc(sizeof *W->acts);
    W->g = calloc(1, sizeof *W->g);
    assert_non_null(W->acts);
    assert_non_null(W->g);
    strcpy(W->g->chain_name, "keeper-test");
    W->g->time_ms = W->time_ms = 1000;
    W->g->n_nodes = NK;
    for (uint32_t i = 0; i < NK; i++)
        make_member(&W->g->nodes[i], &W->nodes[i], i + 1);
    keypair(W->admin_pk, W->admin_sk, ADMIN_TAG);
    W->g->n_admins = 1;
    memcpy(W->g->admins[0], W->admin_pk, 32);
    kq_keyparams_dev(&W->g->keys);
    W->g->keys.refresh_period_ms = 0; /* epochs advance only when a test asks */
    assert_int_equal(kq_state_genesis(W->g, &W->st), KQ_OK);
    assert_int_equal(kq_genesis_chain_id(W->g, &W->chain), KQ_OK);
    crypto_box_keypair(W->client_pk, W->client_sk);
    for (size_t i = 0; i < NK; i++)
        node_boot(&W->nodes[i], false);
    register_client("app", true);
    register_client("nox", false);
    for (int i = 0; i < 6; i++)
        advance(100);
    for (size_t i = 0; i < NK; i++) {
        uint8_t pk[32];
        assert_int_equal(kq_keyreg_epoch_key(W->st, W->nodes[i].id, 1, pk), KQ_OK);
        assert_int_equal(kq_keyreg_epoch_key(W->st, W->nodes[i].id, 2, pk), KQ_OK);
    }
    create_key("enc", KQ_KEY_USAGE_ENCRYPT);
    create_key("drv", KQ_KEY_USAGE_DERIVE);
    create_key("sig", KQ_KEY_USAGE_SIGN);
    return 0;
}

static inline int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < NK; i++) {
        if (W->nodes[i].state != NULL)
            node_stop(&W->nodes[i]);
        recs_clear(&W->nodes[i]);
    }
    for (size_t i = 0; i < W->n_txs; i++)
        free((void *)W->txs[i].data);
    kq_smt_unref(W->st);
    free(W->acts);
    free(W->g);
    free(W);
    return 0;
}

#endif
