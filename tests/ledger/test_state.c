/* Tests for the replicated state machine (src/ledger/state.c with the membership and client
 * families): genesis state, every rejection status made to happen, idempotent dedup, atomicity of
 * a refused tx, determinism, and mempool checks agreeing with apply. */
#include "../test_util.h"

#include "base/mem.h"
#include "ledger/state.h"
#include "ledger/tx_client.h"
#include "ledger/tx_member.h"

#define ADMIN_TAG 200
#define H         10 /* height of the blocks the tests build */

struct fx {
    struct kq_genesis *g;
    struct kq_smt *st;
    kq_hash chain;
    uint8_t admin_sk[64], admin_pk[32];
    uint64_t nonce;
};

static void keypair(uint8_t pk[32], uint8_t sk[64], uint8_t tag)
{
    uint8_t seed[32];
    memset(seed, tag, sizeof seed);
    assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
}

static void make_node(struct kq_member_node *n, uint32_t id, uint8_t roles)
{
    uint8_t sk[64], x[32];
    memset(n, 0, sizeof *n);
    n->node_id = id;
    n->roles = roles;
    keypair(n->identity_pk, sk, (uint8_t)id);
    keypair(n->tls_pk, sk, (uint8_t)(id + 1));
    memset(x, (int)id, sizeof x);
    crypto_scalarmult_base(n->x25519_pk, x);
    snprintf(n->api_addr, sizeof n->api_addr, "n%u:8443", (unsigned)id);
    snprintf(n->peer_addr, sizeof n->peer_addr, "n%u:9443", (unsigned)id);
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->g = calloc(1, sizeof *f->g);
    assert_non_null(f->g);
    strcpy(f->g->chain_name, "t");
    f->g->time_ms = 1000;
    f->g->n_nodes = 4;
    for (uint32_t i = 0; i < 4; i++)
        make_node(&f->g->nodes[i], i + 1, KQ_ROLE_VALIDATOR);
    keypair(f->admin_pk, f->admin_sk, ADMIN_TAG);
    f->g->n_admins = 1;
    memcpy(f->g->admins[0], f->admin_pk, 32);
    assert_int_equal(kq_state_genesis(f->g, &f->st), KQ_OK);
    assert_int_equal(kq_genesis_chain_id(f->g, &f->chain), KQ_OK);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    kq_smt_unref(f->st);
    free(f->g);
    free(f);
    return 0;
}

/* A signed tx in a heap buffer (the caller frees ref->data). */
static struct kq_tx_ref tx_full(struct fx *f, const uint8_t sk[64], uint16_t family, uint16_t op,
                                const uint8_t *body, size_t body_len, uint64_t expiry)
{
    struct kq_tx_fields tf = {.family = family,
                              .op = op,
                              .chain_id = f->chain,
                              .expiry_height = expiry,
                              .nonce = ++f->nonce,
                              .body = body,
                              .body_len = body_len};
    uint8_t *buf = malloc(KQ_TX_BYTES(body_len));
    size_t len;
    assert_non_null(buf);
    assert_int_equal(kq_tx_sign(&tf, sk, buf, KQ_TX_BYTES(body_len), &len), KQ_OK);
    return (struct kq_tx_ref){.data = buf, .len = len};
}

static struct kq_tx_ref tx_client_set(struct fx *f, const uint8_t sk[64], const struct kq_client *c)
{
    uint8_t body[KQ_CLIENT_MAX_BYTES];
    size_t len;
    assert_int_equal(kq_client_encode(c, body, sizeof body, &len), KQ_OK);
    return tx_full(f, sk, KQ_TX_FAMILY_CLIENT, KQ_CLIENT_OP_SET, body, len, H + 5);
}

static struct kq_tx_ref tx_node(struct fx *f, uint16_t op, const struct kq_member_node *n)
{
    uint8_t body[KQ_MEMBER_NODE_MAX_BYTES];
    size_t len;
    assert_int_equal(kq_member_node_encode(n, body, sizeof body, &len), KQ_OK);
    return tx_full(f, f->admin_sk, KQ_TX_FAMILY_MEMBER, op, body, len, H + 5);
}

static struct kq_tx_ref tx_node_remove(struct fx *f, uint32_t id)
{
    uint8_t body[KQ_MEMBER_REMOVE_BYTES];
    size_t len;
    assert_int_equal(kq_member_remove_encode(id, body, sizeof body, &len), KQ_OK);
    return tx_full(f, f->admin_sk, KQ_TX_FAMILY_MEMBER, KQ_MEMBER_OP_REMOVE, body, len, H + 5);
}

static void make_client(struct kq_client *c, const char *id, uint8_t roles, uint8_t key_tag)
{
    uint8_t sk[64];
    memset(c, 0, sizeof *c);
    strcpy(c->id, id);
    c->auth_kind = KQ_CLIENT_AUTH_CERT;
    memset(c->auth, 0x5a, 32);
    c->roles = roles;
    c->trust = 50;
    if (key_tag != 0) {
        c->flags = KQ_CLIENT_HAS_SIGN_PK;
        keypair(c->sign_pk, sk, key_tag);
    }
}

/* Applies one tx as a block of one at height H to f->st; returns its status. On OK f->st moves on;
 * otherwise the root must be unchanged. The tx buffer is freed. */
static enum kq_tx_status apply1(struct fx *f, struct kq_tx_ref ref)
{
    struct kq_smt *post = NULL;
    struct kq_tx_result res, chk;
    kq_hash before, after;
    kq_smt_root(f->st, &before);
    assert_int_equal(kq_state_check_tx(f->st, H, &ref, &chk), KQ_OK);
    assert_int_equal(kq_state_apply_block(f->st, H, 5000, &ref, 1, &post, &res), KQ_OK);
    assert_int_equal(chk.status, res.status); /* the mempool check agrees with apply */
    kq_smt_root(post, &after);
    if (res.status == KQ_TX_OK)
        assert_false(kq_hash_eq(&before, &after));
    else
        assert_true(kq_hash_eq(&before, &after));
    kq_smt_unref(f->st);
    f->st = post;
    free((void *)ref.data);
    return res.status;
}

static void test_genesis_state(void **state)
{
    struct fx *f = *state;
    struct kq_valset_entry v[8];
    struct kq_member_node n;
    kq_hash id;
    size_t count;
    uint8_t pk[32], sk[64];
    assert_int_equal(kq_state_chain_id(f->st, &id), KQ_OK);
    assert_true(kq_hash_eq(&id, &f->chain));
    assert_int_equal(kq_member_valset(f->st, v, 8, &count), KQ_OK);
    assert_int_equal(count, 4);
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(v[i].node_id, i + 1);
        assert_memory_equal(v[i].identity_pk, f->g->nodes[i].identity_pk, 32);
    }
    assert_int_equal(kq_member_get(f->st, 3, &n), KQ_OK);
    assert_memory_equal(&n, &f->g->nodes[2], sizeof n);
    assert_int_equal(kq_member_get(f->st, 5, &n), KQ_ERR_NOT_FOUND);
    assert_true(kq_state_is_admin(f->st, f->admin_pk));
    keypair(pk, sk, 1);
    assert_false(kq_state_is_admin(f->st, pk));
    /* a genesis that breaks a rule gives no state */
    struct kq_smt *st = (struct kq_smt *)1;
    f->g->n_admins = 0;
    assert_int_equal(kq_state_genesis(f->g, &st), KQ_ERR_INVALID_ARG);
    assert_null(st);
    f->g->n_admins = 1;
    /* and the same genesis gives the same root */
    kq_hash r1, r2;
    assert_int_equal(kq_state_genesis(f->g, &st), KQ_OK);
    kq_smt_root(st, &r1);
    kq_smt_root(f->st, &r2);
    assert_true(kq_hash_eq(&r1, &r2));
    kq_smt_unref(st);
}

static void test_client_set_dedup_remove(void **state)
{
    struct fx *f = *state;
    struct kq_client c, got;
    uint64_t height;
    uint32_t index;
    kq_hash id;
    make_client(&c, "alice", KQ_CLIENT_ROLE_USER, 0);
    struct kq_tx_ref ref = tx_client_set(f, f->admin_sk, &c);
    struct kq_tx_ref copy = {.data = malloc(ref.len), .len = ref.len};
    assert_non_null(copy.data);
    memcpy((void *)copy.data, ref.data, ref.len);
    kq_tx_id(ref.data, ref.len, &id);
    assert_int_equal(apply1(f, ref), KQ_TX_OK);
    assert_int_equal(kq_client_get(f->st, "alice", &got), KQ_OK);
    assert_memory_equal(&c, &got, sizeof c);
    assert_int_equal(kq_state_tx_lookup(f->st, &id, &height, &index), KQ_OK);
    assert_int_equal(height, H);
    assert_int_equal(index, 0);
    assert_int_equal(apply1(f, copy), KQ_TX_DUPLICATE); /* a retry is not applied twice */
    /* set replaces */
    c.trust = 99;
    assert_int_equal(apply1(f, tx_client_set(f, f->admin_sk, &c)), KQ_TX_OK);
    assert_int_equal(kq_client_get(f->st, "alice", &got), KQ_OK);
    assert_int_equal(got.trust, 99);
    /* remove, then remove again */
    uint8_t body[KQ_CLIENT_REMOVE_MAX_BYTES];
    size_t len;
    assert_int_equal(kq_client_remove_encode("alice", body, sizeof body, &len), KQ_OK);
    assert_int_equal(apply1(f, tx_full(f, f->admin_sk, 2, KQ_CLIENT_OP_REMOVE, body, len, H)),
                     KQ_TX_OK);
    assert_int_equal(kq_client_get(f->st, "alice", &got), KQ_ERR_NOT_FOUND);
    assert_int_equal(apply1(f, tx_full(f, f->admin_sk, 2, KQ_CLIENT_OP_REMOVE, body, len, H)),
                     KQ_TX_NOT_FOUND);
    assert_int_equal(kq_client_remove_encode("no/pe", body, sizeof body, &len), KQ_OK);
    assert_int_equal(apply1(f, tx_full(f, f->admin_sk, 2, KQ_CLIENT_OP_REMOVE, body, len, H)),
                     KQ_TX_INVALID);
}

static void test_envelope_statuses(void **state)
{
    struct fx *f = *state;
    struct kq_client c;
    make_client(&c, "carol", KQ_CLIENT_ROLE_USER, 0);
    uint8_t body[KQ_CLIENT_MAX_BYTES];
    size_t len;
    assert_int_equal(kq_client_encode(&c, body, sizeof body, &len), KQ_OK);
    /* bad signature */
    struct kq_tx_ref r = tx_full(f, f->admin_sk, 2, 1, body, len, H);
    ((uint8_t *)r.data)[r.len - 1] ^= 1;
    assert_int_equal(apply1(f, r), KQ_TX_BAD_SIGNATURE);
    /* the same bytes, declared verified by the caller, skip the check (mempool pre-verification) */
    r = tx_full(f, f->admin_sk, 2, 1, body, len, H);
    ((uint8_t *)r.data)[r.len - 1] ^= 1;
    r.sig_verified = true;
    assert_int_equal(apply1(f, r), KQ_TX_OK);
    /* wrong chain */
    kq_hash good = f->chain;
    f->chain.b[0] ^= 1;
    assert_int_equal(apply1(f, tx_full(f, f->admin_sk, 2, 1, body, len, H)), KQ_TX_WRONG_CHAIN);
    f->chain = good;
    /* expiry: below the height is expired, equal is fine, too far is refused */
    assert_int_equal(apply1(f, tx_full(f, f->admin_sk, 2, 1, body, len, H - 1)), KQ_TX_EXPIRED);
    assert_int_equal(apply1(f, tx_full(f, f->admin_sk, 2, 1, body, len, H)), KQ_TX_OK);
    assert_int_equal(
        apply1(f, tx_full(f, f->admin_sk, 2, 1, body, len, H + KQ_LEDGER_TX_MAX_EXPIRY_BLOCKS)),
        KQ_TX_OK);
    assert_int_equal(
        apply1(f, tx_full(f, f->admin_sk, 2, 1, body, len, H + KQ_LEDGER_TX_MAX_EXPIRY_BLOCKS + 1)),
        KQ_TX_EXPIRY_TOO_FAR);
    assert_int_equal(apply1(f, tx_full(f, f->admin_sk, 2, 1, body, len, UINT64_MAX)),
                     KQ_TX_EXPIRY_TOO_FAR);
    /* unknown family (client range and system range) and unknown op */
    assert_int_equal(apply1(f, tx_full(f, f->admin_sk, 4, 1, body, len, H)), KQ_TX_UNKNOWN_TYPE);
    assert_int_equal(apply1(f, tx_full(f, f->admin_sk, 0x1ff, 1, body, len, H)),
                     KQ_TX_UNKNOWN_TYPE);
    /* a known family with a body of another family's shape */
    assert_int_equal(apply1(f, tx_full(f, f->admin_sk, 3, 1, body, len, H)), KQ_TX_MALFORMED);
    assert_int_equal(apply1(f, tx_full(f, f->admin_sk, 2, 3, body, len, H)), KQ_TX_UNKNOWN_TYPE);
    assert_int_equal(apply1(f, tx_full(f, f->admin_sk, 1, 0, body, len, H)), KQ_TX_UNKNOWN_TYPE);
    /* malformed body, malformed envelope, unknown envelope and body versions */
    assert_int_equal(apply1(f, tx_full(f, f->admin_sk, 2, 1, body, len - 1, H)), KQ_TX_MALFORMED);
    assert_int_equal(apply1(f, tx_full(f, f->admin_sk, 1, 1, body, len, H)), KQ_TX_MALFORMED);
    r = tx_full(f, f->admin_sk, 2, 1, body, len, H);
    r.len--;
    assert_int_equal(apply1(f, r), KQ_TX_MALFORMED);
    r = tx_full(f, f->admin_sk, 2, 1, body, len, H);
    ((uint8_t *)r.data)[0] = 2;
    assert_int_equal(apply1(f, r), KQ_TX_UNKNOWN_TYPE);
    body[0] = 2;
    assert_int_equal(apply1(f, tx_full(f, f->admin_sk, 2, 1, body, len, H)), KQ_TX_UNKNOWN_TYPE);
    /* oversized */
    uint8_t *big = calloc(1, KQ_LEDGER_TX_MAX_BYTES + 1);
    assert_non_null(big);
    assert_int_equal(apply1(f, (struct kq_tx_ref){.data = big, .len = KQ_LEDGER_TX_MAX_BYTES + 1}),
                     KQ_TX_OVERSIZED);
}

static void test_authorization(void **state)
{
    struct fx *f = *state;
    struct kq_client c, boss, user;
    uint8_t sk_boss[64], sk_user[64], pk[32];
    keypair(pk, sk_boss, 31);
    keypair(pk, sk_user, 32);
    make_client(&c, "dave", KQ_CLIENT_ROLE_USER, 0);
    /* a key the state does not know */
    assert_int_equal(apply1(f, tx_client_set(f, sk_boss, &c)), KQ_TX_UNAUTHORIZED);
    struct kq_member_node n;
    make_node(&n, 9, KQ_ROLE_KEEPER);
    uint8_t body[KQ_MEMBER_NODE_MAX_BYTES];
    size_t len;
    assert_int_equal(kq_member_node_encode(&n, body, sizeof body, &len), KQ_OK);
    assert_int_equal(apply1(f, tx_full(f, sk_boss, 1, KQ_MEMBER_OP_ADD, body, len, H)),
                     KQ_TX_UNAUTHORIZED);
    /* a client with the admin role and a tx key may submit; a user may not */
    make_client(&boss, "boss", KQ_CLIENT_ROLE_ADMIN, 31);
    make_client(&user, "user", KQ_CLIENT_ROLE_USER, 32);
    assert_int_equal(apply1(f, tx_client_set(f, f->admin_sk, &boss)), KQ_TX_OK);
    assert_int_equal(apply1(f, tx_client_set(f, f->admin_sk, &user)), KQ_TX_OK);
    assert_true(kq_state_is_admin(f->st, boss.sign_pk));
    assert_false(kq_state_is_admin(f->st, user.sign_pk));
    assert_int_equal(apply1(f, tx_client_set(f, sk_user, &c)), KQ_TX_UNAUTHORIZED);
    assert_int_equal(apply1(f, tx_client_set(f, sk_boss, &c)), KQ_TX_OK);
    assert_int_equal(apply1(f, tx_full(f, sk_boss, 1, KQ_MEMBER_OP_ADD, body, len, H)), KQ_TX_OK);
    /* a tx key speaks for one client only */
    make_client(&c, "eve", KQ_CLIENT_ROLE_USER, 31);
    assert_int_equal(apply1(f, tx_client_set(f, f->admin_sk, &c)), KQ_TX_EXISTS);
    /* demoting the boss (and dropping its key) takes its rights away */
    boss.roles = KQ_CLIENT_ROLE_USER;
    assert_int_equal(apply1(f, tx_client_set(f, f->admin_sk, &boss)), KQ_TX_OK);
    assert_int_equal(apply1(f, tx_client_set(f, sk_boss, &c)), KQ_TX_UNAUTHORIZED);
    boss.roles = KQ_CLIENT_ROLE_ADMIN;
    boss.flags = 0;
    memset(boss.sign_pk, 0, 32);
    assert_int_equal(apply1(f, tx_client_set(f, f->admin_sk, &boss)), KQ_TX_OK);
    keypair(pk, sk_boss, 31);
    assert_false(kq_state_is_admin(f->st, pk));      /* the signer index went with the key */
    make_client(&c, "eve", KQ_CLIENT_ROLE_USER, 31); /* the key is free again */
    assert_int_equal(apply1(f, tx_client_set(f, f->admin_sk, &c)), KQ_TX_OK);
    assert_int_equal(apply1(f, tx_client_set(f, sk_boss, &c)), KQ_TX_UNAUTHORIZED);
}

static void test_client_field_rules(void **state)
{
    struct fx *f = *state;
    struct kq_client c;
    make_client(&c, "frank", KQ_CLIENT_ROLE_USER, 0);
    c.trust = KQ_LEDGER_TRUST_MAX + 1;
    assert_int_equal(apply1(f, tx_client_set(f, f->admin_sk, &c)), KQ_TX_INVALID);
    c.trust = KQ_LEDGER_TRUST_MAX;
    strcpy(c.id, "fr ank");
    assert_int_equal(apply1(f, tx_client_set(f, f->admin_sk, &c)), KQ_TX_INVALID);
    strcpy(c.id, "frank");
    c.roles = 0;
    assert_int_equal(apply1(f, tx_client_set(f, f->admin_sk, &c)), KQ_TX_INVALID);
    c.roles = KQ_CLIENT_ROLE_USER;
    assert_int_equal(apply1(f, tx_client_set(f, f->admin_sk, &c)), KQ_TX_OK);
}

static void test_membership(void **state)
{
    struct fx *f = *state;
    struct kq_valset_entry v[8];
    struct kq_member_node n, got;
    size_t count;
    make_node(&n, 5, KQ_ROLE_VALIDATOR | KQ_ROLE_KEEPER);
    assert_int_equal(apply1(f, tx_node(f, KQ_MEMBER_OP_ADD, &n)), KQ_TX_OK);
    assert_int_equal(kq_member_valset(f->st, v, 8, &count), KQ_OK);
    assert_int_equal(count, 5);
    assert_int_equal(v[4].node_id, 5);
    assert_int_equal(apply1(f, tx_node(f, KQ_MEMBER_OP_ADD, &n)), KQ_TX_EXISTS); /* same id */
    make_node(&n, 6, KQ_ROLE_KEEPER);
    memcpy(n.identity_pk, f->g->nodes[0].identity_pk, 32); /* node 1's key */
    assert_int_equal(apply1(f, tx_node(f, KQ_MEMBER_OP_ADD, &n)), KQ_TX_EXISTS);
    assert_int_equal(apply1(f, tx_node(f, KQ_MEMBER_OP_UPDATE, &n)), KQ_TX_NOT_FOUND);
    n.roles = 0;
    assert_int_equal(apply1(f, tx_node(f, KQ_MEMBER_OP_ADD, &n)), KQ_TX_INVALID);
    /* update: node 5 leaves the validator set and takes a new key; its old key is free again */
    make_node(&n, 5, KQ_ROLE_KEEPER);
    uint8_t old_pk[32];
    memcpy(old_pk, n.identity_pk, 32);
    make_node(&got, 7, KQ_ROLE_KEEPER);
    memcpy(n.identity_pk, got.identity_pk, 32);
    assert_int_equal(apply1(f, tx_node(f, KQ_MEMBER_OP_UPDATE, &n)), KQ_TX_OK);
    assert_int_equal(kq_member_get(f->st, 5, &got), KQ_OK);
    assert_memory_equal(&got, &n, sizeof n);
    assert_int_equal(kq_member_valset(f->st, v, 8, &count), KQ_OK);
    assert_int_equal(count, 4);
    make_node(&n, 8, KQ_ROLE_ORCHESTRATOR);
    memcpy(n.identity_pk, old_pk, 32);
    assert_int_equal(apply1(f, tx_node(f, KQ_MEMBER_OP_ADD, &n)), KQ_TX_OK);
    /* remove: absent ids, then validators down to the last one, which stays */
    assert_int_equal(apply1(f, tx_node_remove(f, 99)), KQ_TX_NOT_FOUND);
    assert_int_equal(apply1(f, tx_node_remove(f, 8)), KQ_TX_OK);
    assert_int_equal(apply1(f, tx_node_remove(f, 8)), KQ_TX_NOT_FOUND);
    for (uint32_t id = 1; id <= 3; id++)
        assert_int_equal(apply1(f, tx_node_remove(f, id)), KQ_TX_OK);
    assert_int_equal(kq_member_valset(f->st, v, 8, &count), KQ_OK);
    assert_int_equal(count, 1);
    assert_int_equal(v[0].node_id, 4);
    assert_int_equal(apply1(f, tx_node_remove(f, 4)), KQ_TX_EMPTY_VALSET);
    make_node(&n, 4, KQ_ROLE_KEEPER); /* demoting the last validator is refused too */
    assert_int_equal(apply1(f, tx_node(f, KQ_MEMBER_OP_UPDATE, &n)), KQ_TX_EMPTY_VALSET);
    uint8_t bad[KQ_MEMBER_REMOVE_BYTES + 1] = {KQ_MEMBER_VERSION};
    assert_int_equal(apply1(f, tx_full(f, f->admin_sk, 1, KQ_MEMBER_OP_REMOVE, bad, sizeof bad, H)),
                     KQ_TX_MALFORMED);
    assert_int_equal(kq_member_get(f->st, 4, &got), KQ_OK);
}

static void test_valset_full(void **state)
{
    struct fx *f = *state;
    struct kq_member_node n;
    struct kq_valset_entry *v = calloc(KQ_LEDGER_STATE_MAX_VALIDATORS, sizeof *v);
    size_t count;
    assert_non_null(v);
    for (uint32_t id = 5; id <= KQ_LEDGER_STATE_MAX_VALIDATORS; id++) {
        make_node(&n, id, KQ_ROLE_VALIDATOR);
        struct kq_tx_ref r = tx_node(f, KQ_MEMBER_OP_ADD, &n);
        assert_int_equal(apply1(f, r), KQ_TX_OK);
    }
    assert_int_equal(kq_member_valset(f->st, v, KQ_LEDGER_STATE_MAX_VALIDATORS, &count), KQ_OK);
    assert_int_equal(count, KQ_LEDGER_STATE_MAX_VALIDATORS);
    uint8_t sk[64];
    make_node(&n, 1000, KQ_ROLE_VALIDATOR);
    uint8_t seed[32] = {1, 2, 3};
    assert_int_equal(crypto_sign_seed_keypair(n.identity_pk, sk, seed), 0);
    assert_int_equal(apply1(f, tx_node(f, KQ_MEMBER_OP_ADD, &n)), KQ_TX_VALSET_FULL);
    n.roles = KQ_ROLE_KEEPER; /* a non-validator still joins */
    assert_int_equal(apply1(f, tx_node(f, KQ_MEMBER_OP_ADD, &n)), KQ_TX_OK);
    free(v);
}

/* Determinism and per-tx atomicity inside one block. */
static void test_block(void **state)
{
    struct fx *f = *state;
    struct kq_client c;
    struct kq_tx_ref txs[5];
    struct kq_tx_result res[5], res2[5];
    struct kq_smt *p1 = NULL, *p2 = NULL;
    kq_hash r1, r2;
    make_client(&c, "g1", KQ_CLIENT_ROLE_USER, 0);
    txs[0] = tx_client_set(f, f->admin_sk, &c);
    c.trust = 101;
    txs[1] = tx_client_set(f, f->admin_sk, &c); /* refused */
    make_client(&c, "g2", KQ_CLIENT_ROLE_USER, 0);
    txs[2] = tx_client_set(f, f->admin_sk, &c);
    txs[3] = txs[2]; /* the same tx twice in one block: the second is a duplicate */
    make_client(&c, "g3", KQ_CLIENT_ROLE_ADMIN, 0);
    txs[4] = tx_client_set(f, f->admin_sk, &c);
    assert_int_equal(kq_state_apply_block(f->st, H, 1, txs, 5, &p1, res), KQ_OK);
    assert_int_equal(kq_state_apply_block(f->st, H, 1, txs, 5, &p2, res2), KQ_OK);
    kq_smt_root(p1, &r1);
    kq_smt_root(p2, &r2);
    assert_true(kq_hash_eq(&r1, &r2));
    assert_memory_equal(res, res2, sizeof res);
    assert_int_equal(res[0].status, KQ_TX_OK);
    assert_int_equal(res[1].status, KQ_TX_INVALID);
    assert_int_equal(res[2].status, KQ_TX_OK);
    assert_int_equal(res[3].status, KQ_TX_DUPLICATE);
    assert_int_equal(res[4].status, KQ_TX_OK);
    assert_true(kq_hash_eq(&res[2].id, &res[3].id));
    struct kq_client got;
    uint64_t height;
    uint32_t index;
    assert_int_equal(kq_client_get(p1, "g1", &got), KQ_OK);
    assert_int_equal(got.trust, 50);
    assert_int_equal(kq_client_get(p1, "g3", &got), KQ_OK);
    assert_int_equal(kq_state_tx_lookup(p1, &res[4].id, &height, &index), KQ_OK);
    assert_int_equal(index, 4);
    assert_int_equal(kq_state_tx_lookup(p1, &res[1].id, &height, &index), KQ_ERR_NOT_FOUND);
    kq_smt_unref(p2);
    /* the pre-state is untouched, and a different height gives a different root */
    assert_int_equal(kq_client_get(f->st, "g1", &got), KQ_ERR_NOT_FOUND);
    assert_int_equal(kq_state_apply_block(f->st, H + 1, 1, txs, 5, &p2, res2), KQ_OK);
    kq_smt_root(p2, &r2);
    assert_false(kq_hash_eq(&r1, &r2));
    kq_smt_unref(p2);
    /* an empty block changes nothing */
    assert_int_equal(kq_state_apply_block(p1, H + 1, 2, NULL, 0, &p2, NULL), KQ_OK);
    kq_smt_root(p2, &r2);
    assert_true(kq_hash_eq(&r1, &r2));
    kq_smt_unref(p2);
    kq_smt_unref(p1);
    for (size_t i = 0; i < 5; i++)
        if (i != 3)
            free((void *)txs[i].data);
}

static void test_bad_calls(void **state)
{
    struct fx *f = *state;
    struct kq_smt *post = (struct kq_smt *)1, *empty = kq_smt_new();
    struct kq_tx_result res;
    struct kq_tx_ref r = {.data = (const uint8_t *)"", .len = 0};
    assert_non_null(empty);
    assert_int_equal(kq_state_apply_block(f->st, 0, 0, NULL, 0, &post, NULL), KQ_ERR_INVALID_ARG);
    assert_null(post);
    assert_int_equal(kq_state_apply_block(empty, 1, 0, NULL, 0, &post, NULL), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_state_check_tx(empty, 1, &r, &res), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_state_check_tx(f->st, 1, &r, &res), KQ_OK);
    assert_int_equal(res.status, KQ_TX_MALFORMED);
    kq_smt_unref(empty);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_genesis_state),      T(test_client_set_dedup_remove),
        T(test_envelope_statuses),  T(test_authorization),
        T(test_client_field_rules), T(test_membership),
        T(test_valset_full),        T(test_block),
        T(test_bad_calls),
    };
#undef T
    if (kq_init(0) != KQ_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
