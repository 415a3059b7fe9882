/* Tests for the ledger transaction codecs (src/ledger/tx.c, tx_member.c, tx_client.c, genesis.c):
 * round trips, every structural rejection and every field rule, each shown to fail. */
#include "../test_util.h"

#include "base/mem.h"
#include "ledger/genesis.h"
#include "ledger/tx.h"
#include "ledger/tx_client.h"
#include "ledger/tx_member.h"

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
    keypair(n->tls_pk, sk, (uint8_t)(id + 100));
    n->epoch = 7;
    memset(x, (int)id, sizeof x);
    crypto_scalarmult_base(n->x25519_pk, x);
    snprintf(n->api_addr, sizeof n->api_addr, "node%u.example:8443", (unsigned)id);
    snprintf(n->peer_addr, sizeof n->peer_addr, "[::1]:%u", 9000 + (unsigned)id % 1000);
}

static const uint8_t body[] = "hello body";

static size_t sign_sample(uint8_t *out, size_t cap, uint8_t sk[64], uint8_t pk[32])
{
    struct kq_tx_fields f = {.family = 2, .op = 1, .expiry_height = 99, .nonce = 5};
    size_t len;
    memset(f.chain_id.b, 0xc1, sizeof f.chain_id.b);
    f.body = body;
    f.body_len = sizeof body;
    keypair(pk, sk, 1);
    assert_int_equal(kq_tx_sign(&f, sk, out, cap, &len), KQ_OK);
    assert_int_equal(len, KQ_TX_BYTES(sizeof body));
    return len;
}

static void test_envelope_roundtrip(void **state)
{
    (void)state;
    uint8_t buf[512], sk[64], pk[32];
    struct kq_tx tx;
    kq_hash id1, id2;
    size_t len = sign_sample(buf, sizeof buf, sk, pk);
    assert_int_equal(kq_tx_decode(&tx, buf, len), KQ_OK);
    assert_int_equal(tx.version, KQ_TX_VERSION);
    assert_int_equal(tx.family, 2);
    assert_int_equal(tx.op, 1);
    assert_int_equal(tx.expiry_height, 99);
    assert_int_equal(tx.nonce, 5);
    assert_memory_equal(tx.submitter_pk, pk, 32);
    assert_int_equal(tx.body_len, sizeof body);
    assert_memory_equal(tx.body, body, sizeof body);
    assert_ptr_equal(tx.raw, buf);
    assert_int_equal(kq_tx_verify(&tx), KQ_OK);
    kq_tx_id(buf, len, &id1);
    kq_tx_id(buf, len, &id2);
    assert_true(kq_hash_eq(&id1, &id2));
    buf[len - 1] ^= 1; /* the id covers the signature too */
    kq_tx_id(buf, len, &id2);
    assert_false(kq_hash_eq(&id1, &id2));
}

static void test_envelope_rejects(void **state)
{
    (void)state;
    uint8_t buf[512], sk[64], pk[32];
    struct kq_tx tx;
    size_t len = sign_sample(buf, sizeof buf, sk, pk);
    for (size_t cut = 0; cut < len; cut++)
        assert_int_not_equal(kq_tx_decode(&tx, buf, cut), KQ_OK);
    assert_int_equal(kq_tx_decode(&tx, buf, len + 1), KQ_ERR_FORMAT); /* trailing byte */
    buf[0] = 2;
    assert_int_equal(kq_tx_decode(&tx, buf, len), KQ_ERR_VERSION);
    buf[0] = KQ_TX_VERSION;
    buf[KQ_TX_HEADERBYTES - 1] ^= 1; /* body length disagrees with the size */
    assert_int_equal(kq_tx_decode(&tx, buf, len), KQ_ERR_FORMAT);
    assert_int_equal(tx.raw, NULL); /* zeroed on failure */
    assert_int_equal(kq_tx_decode(&tx, buf, KQ_LEDGER_TX_MAX_BYTES + 1), KQ_ERR_LIMIT);
}

static void test_envelope_signature(void **state)
{
    (void)state;
    uint8_t buf[512], sk[64], pk[32];
    struct kq_tx tx;
    size_t len = sign_sample(buf, sizeof buf, sk, pk);
    /* every byte is covered: version, family, op, chain, expiry, nonce, key, length, body, sig */
    for (size_t i = 1; i < len; i++) {
        if (i >= KQ_TX_HEADERBYTES - 4 && i < KQ_TX_HEADERBYTES)
            continue; /* a changed length does not decode at all (tested above) */
        buf[i] ^= 0x10;
        assert_int_equal(kq_tx_decode(&tx, buf, len), KQ_OK);
        assert_int_equal(kq_tx_verify(&tx), KQ_ERR_BAD_SIGNATURE);
        buf[i] ^= 0x10;
    }
}

static void test_envelope_sign_limits(void **state)
{
    (void)state;
    static uint8_t big[KQ_LEDGER_TX_MAX_BYTES + 1], out[KQ_LEDGER_TX_MAX_BYTES + 64];
    uint8_t sk[64], pk[32];
    struct kq_tx_fields f = {.family = 1, .op = 1, .body = big};
    struct kq_tx tx;
    size_t len = 1;
    keypair(pk, sk, 3);
    f.body_len = KQ_TX_MAX_BODY_BYTES + 1;
    assert_int_equal(kq_tx_sign(&f, sk, out, sizeof out, &len), KQ_ERR_LIMIT);
    assert_int_equal(len, 0);
    f.body_len = KQ_TX_MAX_BODY_BYTES; /* the largest envelope decodes */
    assert_int_equal(kq_tx_sign(&f, sk, out, sizeof out, &len), KQ_OK);
    assert_int_equal(len, KQ_LEDGER_TX_MAX_BYTES);
    assert_int_equal(kq_tx_decode(&tx, out, len), KQ_OK);
    assert_int_equal(kq_tx_verify(&tx), KQ_OK);
    f.body_len = 10;
    assert_int_equal(kq_tx_sign(&f, sk, out, KQ_TX_BYTES(10) - 1, &len), KQ_ERR_OVERFLOW);
    f.body = NULL;
    f.body_len = 0;
    assert_int_equal(kq_tx_sign(&f, sk, out, sizeof out, &len), KQ_OK);
    assert_int_equal(kq_tx_decode(&tx, out, len), KQ_OK);
    assert_int_equal(tx.body_len, 0);
}

static void test_system_family_and_names(void **state)
{
    (void)state;
    assert_false(kq_tx_is_system(KQ_TX_FAMILY_MEMBER));
    assert_false(kq_tx_is_system(KQ_TX_FAMILY_CLIENT));
    assert_false(kq_tx_is_system(0xff));
    assert_true(kq_tx_is_system(0x100));
    assert_true(kq_tx_is_system(0xffff));
    for (int s = KQ_TX_OK; s <= KQ_TX_STATE_FULL; s++) {
        assert_string_not_equal(kq_tx_status_name((enum kq_tx_status)s), "unknown");
        for (int t = KQ_TX_OK; t < s; t++)
            assert_string_not_equal(kq_tx_status_name((enum kq_tx_status)s),
                                    kq_tx_status_name((enum kq_tx_status)t));
    }
}

static void test_addr(void **state)
{
    (void)state;
    static const char *good[] = {"a:1",           "node-1.example.com:65535",
                                 "10.0.0.1:8443", "[::1]:9000",
                                 "[fe80::1]:1",   "[::ffff:10.0.0.1]:80"};
    static const char *bad[] = {"",           "host",     "host:",      ":80",      "host:0",
                                "host:65536", "host:080", "host:8a",    "ho st:80", "h_st:80",
                                "[]:80",      "[::1:80",  "[zz::1]:80", "::1:80",   "host:123456"};
    char longest[KQ_LEDGER_ADDR_MAX_BYTES + 2];
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_true(kq_member_addr_ok(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(kq_member_addr_ok(bad[i]));
    memset(longest, 'a', sizeof longest);
    memcpy(longest + KQ_LEDGER_ADDR_MAX_BYTES - 3, ":80", 4);
    assert_true(kq_member_addr_ok(longest));
    memset(longest, 'a', sizeof longest);
    memcpy(longest + KQ_LEDGER_ADDR_MAX_BYTES - 2, ":80", 4);
    assert_false(kq_member_addr_ok(longest));
}

static void test_member_node_codec(void **state)
{
    (void)state;
    struct kq_member_node n, m;
    uint8_t buf[KQ_MEMBER_NODE_MAX_BYTES + 1];
    size_t len;
    make_node(&n, 42, KQ_ROLE_VALIDATOR | KQ_ROLE_KEEPER);
    assert_int_equal(kq_member_node_check(&n), KQ_OK);
    assert_int_equal(kq_member_node_encode(&n, buf, sizeof buf, &len), KQ_OK);
    assert_int_equal(kq_member_node_decode(&m, buf, len), KQ_OK);
    assert_memory_equal(&n, &m, sizeof n);
    for (size_t cut = 0; cut < len; cut++)
        assert_int_not_equal(kq_member_node_decode(&m, buf, cut), KQ_OK);
    buf[len] = 0;
    assert_int_equal(kq_member_node_decode(&m, buf, len + 1), KQ_ERR_FORMAT);
    buf[0] = 9;
    assert_int_equal(kq_member_node_decode(&m, buf, len), KQ_ERR_VERSION);
    buf[0] = KQ_MEMBER_VERSION;
    buf[len - 2] = 0; /* a NUL inside an address */
    assert_int_equal(kq_member_node_decode(&m, buf, len), KQ_ERR_FORMAT);
    assert_int_equal(kq_member_node_encode(&n, buf, 10, &len), KQ_ERR_OVERFLOW);
    memset(n.api_addr, 'a', KQ_LEDGER_ADDR_MAX_BYTES + 1);
    assert_int_equal(kq_member_node_encode(&n, buf, sizeof buf, &len), KQ_ERR_LIMIT);
}

static void test_member_node_rules(void **state)
{
    (void)state;
    struct kq_member_node n;
    static const uint8_t small_order[32] = {1}; /* the identity point */
#define BREAK(stmt)                                                                                \
    do {                                                                                           \
        make_node(&n, 5, KQ_ROLE_VALIDATOR);                                                       \
        stmt;                                                                                      \
        assert_int_equal(kq_member_node_check(&n), KQ_ERR_INVALID_ARG);                            \
    } while (0)
    BREAK(n.node_id = 0);
    BREAK(n.node_id = KQ_LEDGER_MAX_NODE_ID + 1);
    BREAK(n.roles = 0);
    BREAK(n.roles = 0x08);
    BREAK(memcpy(n.identity_pk, small_order, 32));
    BREAK(memset(n.identity_pk, 0xff, 32)); /* not a point */
    BREAK(memcpy(n.tls_pk, small_order, 32));
    BREAK(memset(n.x25519_pk, 0, 32));
    BREAK(strcpy(n.api_addr, "nowhere"));
    BREAK(strcpy(n.peer_addr, "host:0"));
#undef BREAK
    make_node(&n, KQ_LEDGER_MAX_NODE_ID, KQ_ROLE_NODE_ALL);
    assert_int_equal(kq_member_node_check(&n), KQ_OK);
}

static void test_member_remove_and_valset_codec(void **state)
{
    (void)state;
    uint8_t buf[3 + 3 * 36 + 1];
    size_t len, n;
    uint32_t id;
    struct kq_valset_entry v[3] = {{1, {1}}, {4, {4}}, {9, {9}}}, w[3];
    assert_int_equal(kq_member_remove_encode(77, buf, sizeof buf, &len), KQ_OK);
    assert_int_equal(len, KQ_MEMBER_REMOVE_BYTES);
    assert_int_equal(kq_member_remove_decode(&id, buf, len), KQ_OK);
    assert_int_equal(id, 77);
    assert_int_equal(kq_member_remove_decode(&id, buf, len - 1), KQ_ERR_TRUNCATED);
    assert_int_equal(kq_member_remove_decode(&id, buf, len + 1), KQ_ERR_FORMAT);
    buf[0] = 0;
    assert_int_equal(kq_member_remove_decode(&id, buf, len), KQ_ERR_VERSION);

    assert_int_equal(kq_valset_encode(v, 3, buf, sizeof buf, &len), KQ_OK);
    assert_int_equal(kq_valset_decode(w, 3, &n, buf, len), KQ_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(v, w, sizeof v);
    assert_int_equal(kq_valset_decode(w, 2, &n, buf, len), KQ_ERR_LIMIT);
    assert_int_equal(kq_valset_decode(w, 3, &n, buf, len + 1), KQ_ERR_FORMAT);
    buf[3 + 36 + 3] = 0; /* second id 0 < first id 1: unsorted */
    assert_int_equal(kq_valset_decode(w, 3, &n, buf, len), KQ_ERR_FORMAT);
    assert_int_equal(kq_valset_encode(v, 0, buf, sizeof buf, &len), KQ_ERR_LIMIT);
    buf[1] = 0, buf[2] = 0; /* count 0 */
    assert_int_equal(kq_valset_decode(w, 3, &n, buf, 3), KQ_ERR_FORMAT);
}

static void make_client(struct kq_client *c, const char *id)
{
    uint8_t sk[64], x[32];
    memset(c, 0, sizeof *c);
    strcpy(c->id, id);
    c->auth_kind = KQ_CLIENT_AUTH_TOKEN;
    memset(c->auth, 0xab, 32);
    c->roles = KQ_CLIENT_ROLE_USER;
    c->trust = 100;
    c->flags = KQ_CLIENT_HAS_X25519 | KQ_CLIENT_HAS_SIGN_PK;
    memset(x, 3, sizeof x);
    crypto_scalarmult_base(c->x25519_pk, x);
    keypair(c->sign_pk, sk, 77);
}

static void test_client_codec(void **state)
{
    (void)state;
    struct kq_client c, d;
    uint8_t buf[KQ_CLIENT_MAX_BYTES + 1];
    char id[KQ_LEDGER_CLIENT_ID_MAX_BYTES + 1];
    size_t len;
    for (uint8_t flags = 0; flags <= KQ_CLIENT_FLAGS_ALL; flags++) {
        make_client(&c, "svc.billing-01_a");
        c.flags = flags;
        if (!(flags & KQ_CLIENT_HAS_X25519))
            memset(c.x25519_pk, 0, 32);
        if (!(flags & KQ_CLIENT_HAS_SIGN_PK))
            memset(c.sign_pk, 0, 32);
        assert_int_equal(kq_client_check(&c), KQ_OK);
        assert_int_equal(kq_client_encode(&c, buf, sizeof buf, &len), KQ_OK);
        assert_int_equal(kq_client_decode(&d, buf, len), KQ_OK);
        assert_memory_equal(&c, &d, sizeof c);
        for (size_t cut = 0; cut < len; cut++)
            assert_int_not_equal(kq_client_decode(&d, buf, cut), KQ_OK);
        assert_int_equal(kq_client_decode(&d, buf, len + 1), KQ_ERR_FORMAT);
    }
    make_client(&c, "x");
    assert_int_equal(kq_client_encode(&c, buf, sizeof buf, &len), KQ_OK);
    buf[1 + 1 + 1 + 1 + 32 + 2] = 0x04; /* unknown flag bit: the layout would be ambiguous */
    assert_int_equal(kq_client_decode(&d, buf, len), KQ_ERR_FORMAT);
    buf[0] = 2;
    assert_int_equal(kq_client_decode(&d, buf, len), KQ_ERR_VERSION);
    buf[0] = KQ_CLIENT_VERSION;
    buf[1] = 0; /* empty id */
    assert_int_equal(kq_client_decode(&d, buf, len), KQ_ERR_LIMIT);
    c.id[0] = '\0';
    assert_int_equal(kq_client_encode(&c, buf, sizeof buf, &len), KQ_ERR_LIMIT);

    assert_int_equal(kq_client_remove_encode("alice", buf, sizeof buf, &len), KQ_OK);
    assert_int_equal(kq_client_remove_decode(id, buf, len), KQ_OK);
    assert_string_equal(id, "alice");
    assert_int_equal(kq_client_remove_decode(id, buf, len + 1), KQ_ERR_FORMAT);
    assert_int_equal(kq_client_remove_decode(id, buf, len - 1), KQ_ERR_TRUNCATED);
    buf[2] = 0;
    assert_int_equal(kq_client_remove_decode(id, buf, len), KQ_ERR_FORMAT); /* NUL in the id */
    assert_string_equal(id, "");
}

static void test_client_rules(void **state)
{
    (void)state;
    struct kq_client c;
    char longest[KQ_LEDGER_CLIENT_ID_MAX_BYTES + 2];
    memset(longest, 'a', sizeof longest);
    assert_true(kq_client_id_ok(longest, KQ_LEDGER_CLIENT_ID_MAX_BYTES));
    assert_false(kq_client_id_ok(longest, KQ_LEDGER_CLIENT_ID_MAX_BYTES + 1));
    assert_false(kq_client_id_ok("", 0));
    assert_false(kq_client_id_ok("a/b", 3));
    assert_false(kq_client_id_ok("a b", 3));
    assert_false(kq_client_id_ok("caf\xc3\xa9", 5));
#define BREAK(stmt)                                                                                \
    do {                                                                                           \
        make_client(&c, "bob");                                                                    \
        stmt;                                                                                      \
        assert_int_equal(kq_client_check(&c), KQ_ERR_INVALID_ARG);                                 \
    } while (0)
    BREAK(strcpy(c.id, "bob!"));
    BREAK(c.trust = KQ_LEDGER_TRUST_MAX + 1);
    BREAK(c.auth_kind = 0);
    BREAK(c.auth_kind = 3);
    BREAK(c.roles = 0);
    BREAK(c.roles = 0x04);
    BREAK(c.flags = 0x04);
    BREAK(memset(c.x25519_pk, 0, 32));
    BREAK(memset(c.sign_pk, 0, 32));
#undef BREAK
    make_client(&c, "bob");
    c.trust = 0;
    memset(c.x25519_pk, 0, 32);
    c.flags = KQ_CLIENT_HAS_SIGN_PK; /* the x25519 key is not looked at when absent */
    assert_int_equal(kq_client_check(&c), KQ_OK);
}

static struct kq_genesis *make_genesis(void)
{
    struct kq_genesis *g = calloc(1, sizeof *g);
    uint8_t sk[64];
    assert_non_null(g);
    strcpy(g->chain_name, "test-chain");
    g->time_ms = 1700000000000ull;
    g->n_nodes = 3;
    for (uint32_t i = 0; i < 3; i++)
        make_node(&g->nodes[i], i + 1, i == 2 ? KQ_ROLE_KEEPER : KQ_ROLE_VALIDATOR);
    g->n_admins = 2;
    keypair(g->admins[0], sk, 200);
    keypair(g->admins[1], sk, 201);
    if (memcmp(g->admins[0], g->admins[1], 32) > 0) {
        uint8_t t[32];
        memcpy(t, g->admins[0], 32);
        memcpy(g->admins[0], g->admins[1], 32);
        memcpy(g->admins[1], t, 32);
    }
    return g;
}

static void test_genesis_codec(void **state)
{
    (void)state;
    struct kq_genesis *g = make_genesis(), *h = calloc(1, sizeof *h);
    uint8_t *buf = malloc(KQ_GENESIS_MAX_BYTES + 1);
    size_t len;
    kq_hash id1, id2;
    assert_non_null(h);
    assert_non_null(buf);
    assert_int_equal(kq_genesis_check(g), KQ_OK);
    assert_int_equal(kq_genesis_encode(g, buf, KQ_GENESIS_MAX_BYTES, &len), KQ_OK);
    assert_int_equal(kq_genesis_decode(h, buf, len), KQ_OK);
    assert_memory_equal(g, h, sizeof *g);
    for (size_t cut = 0; cut < len; cut++)
        assert_int_not_equal(kq_genesis_decode(h, buf, cut), KQ_OK);
    buf[len] = 0;
    assert_int_equal(kq_genesis_decode(h, buf, len + 1), KQ_ERR_FORMAT);
    buf[0] = 0;
    assert_int_equal(kq_genesis_decode(h, buf, len), KQ_ERR_VERSION);
    assert_int_equal(kq_genesis_encode(g, buf, len - 1, &len), KQ_ERR_OVERFLOW);
    /* the chain id depends on every field */
    assert_int_equal(kq_genesis_chain_id(g, &id1), KQ_OK);
    g->time_ms++;
    assert_int_equal(kq_genesis_chain_id(g, &id2), KQ_OK);
    assert_false(kq_hash_eq(&id1, &id2));
    g->time_ms--;
    g->nodes[1].epoch++;
    assert_int_equal(kq_genesis_chain_id(g, &id2), KQ_OK);
    assert_false(kq_hash_eq(&id1, &id2));
    g->nodes[1].epoch--;
    assert_int_equal(kq_genesis_chain_id(g, &id2), KQ_OK);
    assert_true(kq_hash_eq(&id1, &id2));
    free(g);
    free(h);
    free(buf);
}

static void test_genesis_rules(void **state)
{
    (void)state;
    struct kq_genesis *g;
    kq_hash id;
#define BREAK(stmt)                                                                                \
    do {                                                                                           \
        g = make_genesis();                                                                        \
        stmt;                                                                                      \
        assert_int_equal(kq_genesis_check(g), KQ_ERR_INVALID_ARG);                                 \
        assert_int_equal(kq_genesis_chain_id(g, &id), KQ_ERR_INVALID_ARG);                         \
        assert_true(kq_hash_is_zero(&id));                                                         \
        free(g);                                                                                   \
    } while (0)
    BREAK(strcpy(g->chain_name, ""));
    BREAK(strcpy(g->chain_name, "bad name"));
    BREAK(g->n_nodes = 0);
    BREAK(g->nodes[1].node_id = 1);                                      /* ids not increasing */
    BREAK(g->nodes[0].roles = g->nodes[1].roles = KQ_ROLE_KEEPER);       /* no validator */
    BREAK(memcpy(g->nodes[2].identity_pk, g->nodes[0].identity_pk, 32)); /* shared key */
    BREAK(g->nodes[2].roles = 0); /* a node fails its own rules */
    BREAK(g->n_admins = 0);
    BREAK(memcpy(g->admins[1], g->admins[0], 32)); /* duplicate admin */
    BREAK(memset(g->admins[1], 0xff, 32));         /* not a point */
    BREAK({
        uint8_t t[32];
        memcpy(t, g->admins[0], 32);
        memcpy(g->admins[0], g->admins[1], 32);
        memcpy(g->admins[1], t, 32);
    }); /* admins out of order */
#undef BREAK
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_roundtrip),
        cmocka_unit_test(test_envelope_rejects),
        cmocka_unit_test(test_envelope_signature),
        cmocka_unit_test(test_envelope_sign_limits),
        cmocka_unit_test(test_system_family_and_names),
        cmocka_unit_test(test_addr),
        cmocka_unit_test(test_member_node_codec),
        cmocka_unit_test(test_member_node_rules),
        cmocka_unit_test(test_member_remove_and_valset_codec),
        cmocka_unit_test(test_client_codec),
        cmocka_unit_test(test_client_rules),
        cmocka_unit_test(test_genesis_codec),
        cmocka_unit_test(test_genesis_rules),
    };
    if (kq_init(0) != KQ_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
