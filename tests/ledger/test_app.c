/* The state machine behind the replica's application interface (src/ledger/app.c): genesis state
 * and root, mempool admission with each status mapped to its error, a block whose results mark
 * the skipped txs, determinism of roots, the genesis validator set, and the status mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "ledger/app.h"
#include "ledger/smt.h"
#include "ledger/tx_client.h"

struct fx {
    struct kq_genesis *g;
    struct kq_ledger_state_app ctx;
    struct kq_ledger_app app;
    kq_hash chain;
    uint8_t admin_sk[64], admin_pk[32];
};

static void keypair(uint8_t pk[32], uint8_t sk[64], uint8_t tag)
{
    uint8_t seed[32];
    memset(seed, tag, sizeof seed);
    assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->g = calloc(1, sizeof *f->g);
    strcpy(f->g->chain_name, "app-test");
    f->g->time_ms = 5000;
    f->g->n_nodes = 5;
    for (uint32_t i = 0; i < 5; i++) {
        struct kq_member_node *n = &f->g->nodes[i];
        uint8_t sk[64], x[32];
        n->node_id = i + 1;
        n->roles = i == 4 ? KQ_ROLE_KEEPER : (KQ_ROLE_VALIDATOR | KQ_ROLE_KEEPER);
        keypair(n->identity_pk, sk, (uint8_t)(10 + i));
        memcpy(n->tls_pk, n->identity_pk, 32);
        memset(x, (int)(i + 1), sizeof x);
        crypto_scalarmult_base(n->x25519_pk, x);
        snprintf(n->api_addr, sizeof n->api_addr, "127.0.0.1:%u", 8000 + i);
        snprintf(n->peer_addr, sizeof n->peer_addr, "127.0.0.1:%u", 9000 + i);
    }
    keypair(f->admin_pk, f->admin_sk, 99);
    f->g->n_admins = 1;
    memcpy(f->g->admins[0], f->admin_pk, 32);
    assert_int_equal(kq_genesis_chain_id(f->g, &f->chain), KQ_OK);
    kq_ledger_state_app_init(&f->app, &f->ctx, f->g);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    free(f->g);
    free(f);
    return 0;
}

static size_t client_tx(struct fx *f, const uint8_t sk[64], const char *id, uint64_t nonce,
                        uint64_t expiry, uint8_t *out, size_t cap)
{
    struct kq_client c = {
        .auth_kind = KQ_CLIENT_AUTH_CERT, .roles = KQ_CLIENT_ROLE_USER, .trust = 70};
    strcpy(c.id, id);
    memset(c.auth, 0x42, sizeof c.auth);
    uint8_t body[KQ_CLIENT_MAX_BYTES];
    size_t body_len, len;
    assert_int_equal(kq_client_encode(&c, body, sizeof body, &body_len), KQ_OK);
    struct kq_tx_fields tf = {.family = KQ_TX_FAMILY_CLIENT,
                              .op = KQ_CLIENT_OP_SET,
                              .chain_id = f->chain,
                              .expiry_height = expiry,
                              .nonce = nonce,
                              .body = body,
                              .body_len = body_len};
    assert_int_equal(kq_tx_sign(&tf, sk, out, cap, &len), KQ_OK);
    return len;
}

static void test_genesis_and_admission(void **state)
{
    struct fx *f = *state;
    void *st;
    kq_hash root, root2;
    assert_int_equal(f->app.genesis(f->app.ctx, &st, &root), KQ_OK);
    void *st2;
    assert_int_equal(f->app.genesis(f->app.ctx, &st2, &root2), KQ_OK);
    assert_true(kq_hash_eq(&root, &root2)); /* deterministic */
    f->app.release(f->app.ctx, st2);

    uint8_t tx[1024], other_sk[64], other_pk[32];
    uint64_t expiry = 0;
    size_t len = client_tx(f, f->admin_sk, "alice", 1, 10, tx, sizeof tx);
    assert_int_equal(f->app.check_tx(f->app.ctx, st, 1, tx, len, &expiry), KQ_OK);
    assert_int_equal(expiry, 10);
    /* a non-admin submitter: forbidden */
    keypair(other_pk, other_sk, 7);
    len = client_tx(f, other_sk, "mallory", 2, 10, tx, sizeof tx);
    assert_int_equal(f->app.check_tx(f->app.ctx, st, 1, tx, len, &expiry), KQ_ERR_FORBIDDEN);
    /* expired by the block it would go into */
    len = client_tx(f, f->admin_sk, "bob", 3, 4, tx, sizeof tx);
    assert_int_equal(f->app.check_tx(f->app.ctx, st, 5, tx, len, &expiry), KQ_ERR_EXPIRED);
    /* a flipped signature byte */
    len = client_tx(f, f->admin_sk, "carol", 4, 10, tx, sizeof tx);
    tx[len - 1] ^= 1;
    assert_int_equal(f->app.check_tx(f->app.ctx, st, 1, tx, len, &expiry), KQ_ERR_BAD_SIGNATURE);
    /* garbage */
    assert_int_equal(f->app.check_tx(f->app.ctx, st, 1, tx, 7, &expiry), KQ_ERR_FORMAT);
    f->app.release(f->app.ctx, st);
}

static void test_block_results(void **state)
{
    struct fx *f = *state;
    void *st, *post, *post2;
    kq_hash root, r1, r2;
    assert_int_equal(f->app.genesis(f->app.ctx, &st, &root), KQ_OK);
    uint8_t a[1024], b[1024], dup[1024];
    size_t la = client_tx(f, f->admin_sk, "alice", 1, 10, a, sizeof a);
    size_t lb = client_tx(f, f->admin_sk, "bob", 2, 10, b, sizeof b);
    memcpy(dup, a, la);
    struct kq_tx_view txs[3] = {{a, la}, {dup, la}, {b, lb}};
    enum kq_err results[3];
    assert_int_equal(f->app.apply_block(f->app.ctx, st, 1, 6000, txs, 3, &post, &r1, results),
                     KQ_OK);
    assert_int_equal(results[0], KQ_OK);
    assert_int_equal(results[1], KQ_ERR_DUPLICATE); /* same tx twice in one block: once */
    assert_int_equal(results[2], KQ_OK);
    assert_false(kq_hash_eq(&root, &r1));
    assert_int_equal(f->app.apply_block(f->app.ctx, st, 1, 6000, txs, 3, &post2, &r2, results),
                     KQ_OK);
    assert_true(kq_hash_eq(&r1, &r2)); /* the same block on the same state: the same root */
    /* an empty block changes nothing */
    void *post3;
    kq_hash r3;
    assert_int_equal(f->app.apply_block(f->app.ctx, post, 2, 6001, NULL, 0, &post3, &r3, results),
                     KQ_OK);
    assert_true(kq_hash_eq(&r1, &r3));
    f->app.release(f->app.ctx, post3);
    f->app.release(f->app.ctx, post2);
    f->app.release(f->app.ctx, post);
    f->app.release(f->app.ctx, st);
}

/* The verified-signature cache never vouches for bytes it did not verify: a tampered copy of an
 * admitted tx, and a tx that failed admission, are verified (and refused) at execution. */
static void test_verified_cache(void **state)
{
    struct fx *f = *state;
    void *st, *post;
    kq_hash root, r;
    assert_int_equal(f->app.genesis(f->app.ctx, &st, &root), KQ_OK);
    uint8_t a[1024], bad[1024];
    uint64_t expiry;
    size_t la = client_tx(f, f->admin_sk, "alice", 1, 10, a, sizeof a);
    assert_int_equal(f->app.check_tx(f->app.ctx, st, 1, a, la, &expiry), KQ_OK); /* cached */
    memcpy(bad, a, la);
    bad[la - 1] ^= 1; /* same body, broken signature: another id */
    assert_int_equal(f->app.check_tx(f->app.ctx, st, 1, bad, la, &expiry), KQ_ERR_BAD_SIGNATURE);
    struct kq_tx_view txs[2] = {{bad, la}, {a, la}};
    enum kq_err results[2];
    assert_int_equal(f->app.apply_block(f->app.ctx, st, 1, 6000, txs, 2, &post, &r, results),
                     KQ_OK);
    assert_int_equal(results[0], KQ_ERR_BAD_SIGNATURE);
    assert_int_equal(results[1], KQ_OK);
    f->app.release(f->app.ctx, post);
    f->app.release(f->app.ctx, st);
}

static bool cached(const struct fx *f, const kq_hash *id)
{
    for (size_t i = 0; i < KQ_LEDGER_VERIFIED_SETS; i++)
        for (size_t w = 0; w < KQ_LEDGER_VERIFIED_WAYS; w++)
            if (kq_hash_eq(&f->ctx.verified[i][w], id))
                return true;
    return false;
}

/* Signatures verified while executing a block are cached too (a tx first seen in a proposal is
 * not verified again when it comes back), refused ones are not; a re-check (proposing) of cached
 * bytes takes the cache's word: seeded with the id of a tampered tx, its check passes. */
static void test_verified_cache_fills_and_serves(void **state)
{
    struct fx *f = *state;
    void *st, *post;
    kq_hash root, r, id_b, id_bad;
    assert_int_equal(f->app.genesis(f->app.ctx, &st, &root), KQ_OK);
    uint8_t b[1024], bad[1024];
    uint64_t expiry;
    size_t lb = client_tx(f, f->admin_sk, "bob", 2, 10, b, sizeof b);
    memcpy(bad, b, lb);
    bad[lb - 1] ^= 1;
    kq_tx_id(b, lb, &id_b);
    kq_tx_id(bad, lb, &id_bad);
    assert_false(cached(f, &id_b));
    struct kq_tx_view txs[2] = {{bad, lb}, {b, lb}};
    enum kq_err results[2];
    assert_int_equal(f->app.apply_block(f->app.ctx, st, 1, 6000, txs, 2, &post, &r, results),
                     KQ_OK);
    assert_int_equal(results[0], KQ_ERR_BAD_SIGNATURE);
    assert_int_equal(results[1], KQ_OK);
    assert_true(cached(f, &id_b));
    assert_false(cached(f, &id_bad));
    assert_int_equal(f->app.check_tx(f->app.ctx, st, 1, bad, lb, &expiry), KQ_ERR_BAD_SIGNATURE);
    size_t set = 0;
    for (size_t i = 0; i < sizeof set; i++)
        set = set << 8 | id_bad.b[i];
    f->ctx.verified[set & (KQ_LEDGER_VERIFIED_SETS - 1)][0] = id_bad; /* vouch for it */
    assert_int_equal(f->app.check_tx(f->app.ctx, st, 1, bad, lb, &expiry), KQ_OK);
    f->app.release(f->app.ctx, post);
    f->app.release(f->app.ctx, st);
}

static void test_valset_and_mapping(void **state)
{
    struct fx *f = *state;
    struct kq_valset *vs = calloc(1, sizeof *vs);
    assert_int_equal(kq_ledger_genesis_valset(f->g, vs), KQ_OK);
    assert_int_equal(vs->n, 4); /* node 5 is a keeper only */
    assert_int_equal(kq_valset_quorum(vs), 3);
    assert_memory_equal(vs->v[0].pk, f->g->nodes[0].identity_pk, 32);
    for (uint32_t i = 0; i < 5; i++)
        f->g->nodes[i].roles = KQ_ROLE_KEEPER;
    assert_int_equal(kq_ledger_genesis_valset(f->g, vs), KQ_ERR_INVALID_ARG);
    free(vs);
    assert_int_equal(kq_ledger_tx_err(KQ_TX_OK), KQ_OK);
    for (int s = KQ_TX_MALFORMED; s <= KQ_TX_STATE_FULL; s++)
        assert_int_not_equal(kq_ledger_tx_err((enum kq_tx_status)s), KQ_OK);
    assert_int_equal(kq_ledger_tx_err(KQ_TX_UNAUTHORIZED), KQ_ERR_FORBIDDEN);
    assert_int_equal(kq_ledger_tx_err(KQ_TX_EXISTS), KQ_ERR_EXISTS);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_genesis_and_admission, setup, teardown),
        cmocka_unit_test_setup_teardown(test_block_results, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verified_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verified_cache_fills_and_serves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_valset_and_mapping, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
