/* Tests for src/node/ledger_peers.c: the peer set derived from node records (every node but self,
 * pinned to tls_pk, at peer_addr), whether self is listed, records with unusable addresses
 * skipped, the digest moving with node records only, the scan bound, and address parsing. */
#include "../test_util.h"

#include <sodium.h>

#include "base/mem.h"

#include "ledger/tx_member.h"
#include "node/ledger_peers.h"

static struct kq_member_node member(uint32_t id, const char *peer_addr)
{
    struct kq_member_node m;
    memset(&m, 0, sizeof m);
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    m.node_id = id;
    m.roles = KQ_ROLE_VALIDATOR;
    crypto_sign_keypair(m.identity_pk, sk);
    crypto_sign_keypair(m.tls_pk, sk);
    m.x25519_pk[0] = 1;
    m.epoch = 1;
    snprintf(m.api_addr, sizeof m.api_addr, "127.0.0.1:%u", 1000 + id);
    snprintf(m.peer_addr, sizeof m.peer_addr, "%s", peer_addr);
    return m;
}

static struct kq_smt *insert(struct kq_smt *st, const struct kq_member_node *m)
{
    struct kq_smt *next = NULL;
    enum kq_tx_status status = KQ_TX_OK;
    assert_int_equal(kq_member_insert(st, m, &next, &status), KQ_OK);
    assert_non_null(next);
    kq_smt_unref(st);
    return next;
}

static const struct kq_peer_conf *find(const struct kq_ledger_peers *p, uint32_t id)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->peers[i].id == id)
            return &p->peers[i];
    return NULL;
}

static void test_derive(void **state)
{
    (void)state;
    struct kq_smt *st = kq_smt_new();
    assert_non_null(st);
    struct kq_member_node m1 = member(1, "127.0.0.1:7001"), m2 = member(2, "[::1]:7002"),
                          m3 = member(3, "10.0.0.3:7003");
    st = insert(st, &m1);
    st = insert(st, &m2);
    st = insert(st, &m3);
    struct kq_ledger_peers *p = malloc(sizeof *p), *q = malloc(sizeof *q);
    assert_non_null(p);
    assert_non_null(q);
    assert_int_equal(kq_ledger_peers_derive(st, 1, 1000, p), KQ_OK);
    assert_true(p->self_listed);
    assert_int_equal(p->n, 2);
    assert_int_equal(p->skipped, 0);
    assert_null(find(p, 1));
    const struct kq_peer_conf *c2 = find(p, 2), *c3 = find(p, 3);
    assert_non_null(c2);
    assert_non_null(c3);
    assert_string_equal(c2->host, "::1");
    assert_int_equal(c2->port, 7002);
    assert_memory_equal(c2->identity, m2.tls_pk, 32); /* the TLS pin, not the identity key */
    assert_string_equal(c3->host, "10.0.0.3");
    assert_int_equal(c3->port, 7003);

    /* a node not in the state sees them all, and that it is not listed */
    assert_int_equal(kq_ledger_peers_derive(st, 5, 1000, q), KQ_OK);
    assert_false(q->self_listed);
    assert_int_equal(q->n, 3);
    assert_true(kq_hash_eq(&p->digest, &q->digest)); /* the digest is of the records alone */

    /* another key does not move the digest; a new node record does */
    struct kq_smt *other = NULL;
    assert_int_equal(
        kq_smt_set(st, (const uint8_t *)"client/x", 8, (const uint8_t *)"v", 1, &other), KQ_OK);
    assert_int_equal(kq_ledger_peers_derive(other, 1, 1000, q), KQ_OK);
    assert_true(kq_hash_eq(&p->digest, &q->digest));
    kq_smt_unref(other);
    struct kq_member_node m5 = member(5, "127.0.0.1:7005");
    st = insert(st, &m5);
    assert_int_equal(kq_ledger_peers_derive(st, 5, 1000, q), KQ_OK);
    assert_true(q->self_listed);
    assert_int_equal(q->n, 3);
    assert_false(kq_hash_eq(&p->digest, &q->digest));

    /* the scan bound: stopped early, refused */
    assert_int_equal(kq_ledger_peers_derive(st, 1, 2, q), KQ_ERR_LIMIT);
    free(p);
    free(q);
    kq_smt_unref(st);
}

/* A record whose address does not fit the transport's host field is skipped, not truncated. */
static void test_unusable_address_skipped(void **state)
{
    (void)state;
    char longhost[KQ_LEDGER_ADDR_MAX_BYTES + 1];
    memset(longhost, 'a', 100);
    snprintf(longhost + 100, sizeof longhost - 100, ":7000");
    struct kq_smt *st = kq_smt_new();
    struct kq_member_node m1 = member(1, "127.0.0.1:7001"), m2 = member(2, longhost);
    st = insert(st, &m1);
    st = insert(st, &m2);
    struct kq_ledger_peers *p = malloc(sizeof *p);
    assert_non_null(p);
    assert_int_equal(kq_ledger_peers_derive(st, 1, 1000, p), KQ_OK);
    assert_int_equal(p->n, 0);
    assert_int_equal(p->skipped, 1);
    free(p);
    kq_smt_unref(st);
}

static void test_addr(void **state)
{
    (void)state;
    struct kq_peer_conf c;
    assert_true(kq_ledger_peers_addr("127.0.0.1:1", &c));
    assert_string_equal(c.host, "127.0.0.1");
    assert_int_equal(c.port, 1);
    assert_true(kq_ledger_peers_addr("[fe80::1]:65535", &c));
    assert_string_equal(c.host, "fe80::1");
    assert_int_equal(c.port, 65535);
    const char *bad[] = {"127.0.0.1", ":80", "h:0", "h:65536", "h:", "h:8x", "[]:80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(kq_ledger_peers_addr(bad[i], &c));
}

int main(void)
{
    if (kq_init(0) != KQ_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_derive),
        cmocka_unit_test(test_unusable_address_skipped),
        cmocka_unit_test(test_addr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
