/* Fuzzes the ledger transaction decoders: the envelope, membership and client bodies, the
 * validator set record and the genesis; the first input byte picks one. Property: whatever decodes
 * re-encodes to the same bytes (one encoding per value), and the state machine's check of any
 * envelope returns a status without failing. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz.h"
#include "ledger/genesis.h"
#include "ledger/state.h"
#include "ledger/tx.h"
#include "ledger/tx_client.h"
#include "ledger/tx_member.h"

enum {
    SEL_TX,
    SEL_NODE,
    SEL_REMOVE,
    SEL_CLIENT,
    SEL_CLIENT_REMOVE,
    SEL_VALSET,
    SEL_GENESIS,
    SEL_N
};

static uint8_t out[KQ_GENESIS_MAX_BYTES];

static void make_node(struct kq_member_node *n, uint32_t id)
{
    uint8_t seed[32], sk[64];
    memset(n, 0, sizeof *n);
    memset(seed, (int)id, sizeof seed);
    n->node_id = id;
    n->roles = KQ_ROLE_VALIDATOR;
    crypto_sign_seed_keypair(n->identity_pk, sk, seed);
    memcpy(n->tls_pk, n->identity_pk, 32);
    crypto_scalarmult_base(n->x25519_pk, seed);
    strcpy(n->api_addr, "a.example:443");
    strcpy(n->peer_addr, "[::1]:9000");
}

static struct kq_genesis *make_genesis(uint8_t admin_sk[64])
{
    struct kq_genesis *g = calloc(1, sizeof *g);
    uint8_t seed[32] = {0xad};
    if (g == NULL)
        abort();
    strcpy(g->chain_name, "fuzz");
    g->n_nodes = 2;
    make_node(&g->nodes[0], 1);
    make_node(&g->nodes[1], 2);
    g->n_admins = 1;
    crypto_sign_seed_keypair(g->admins[0], admin_sk, seed);
    return g;
}

static struct kq_smt *state(void)
{
    static struct kq_smt *st;
    if (st == NULL) {
        uint8_t sk[64];
        struct kq_genesis *g = make_genesis(sk);
        if (kq_state_genesis(g, &st) != KQ_OK)
            abort();
        free(g);
    }
    return st;
}

static void fuzz_tx(const uint8_t *d, size_t n)
{
    struct kq_tx tx;
    struct kq_tx_result res;
    struct kq_tx_ref ref = {.data = d, .len = n, .sig_verified = n % 2 == 0};
    if (kq_tx_decode(&tx, d, n) == KQ_OK) {
        KQ_FUZZ_CHECK(KQ_TX_BYTES(tx.body_len) == n && tx.raw == d);
        enum kq_err e = kq_tx_verify(&tx);
        KQ_FUZZ_CHECK(e == KQ_OK || e == KQ_ERR_BAD_SIGNATURE);
    }
    KQ_FUZZ_CHECK(kq_state_check_tx(state(), 1, &ref, &res) == KQ_OK);
    KQ_FUZZ_CHECK(res.status <= KQ_TX_STATE_FULL);
}

static void fuzz_bodies(unsigned sel, const uint8_t *d, size_t n)
{
    static struct kq_valset_entry v[KQ_LEDGER_STATE_MAX_VALIDATORS];
    struct kq_member_node node;
    struct kq_client c;
    char id[KQ_LEDGER_CLIENT_ID_MAX_BYTES + 1];
    uint32_t node_id;
    size_t len = 0, count;
    enum kq_err e = KQ_ERR_FORMAT;
    if (sel == SEL_NODE && (e = kq_member_node_decode(&node, d, n)) == KQ_OK)
        e = kq_member_node_encode(&node, out, sizeof out, &len);
    if (sel == SEL_REMOVE && (e = kq_member_remove_decode(&node_id, d, n)) == KQ_OK)
        e = kq_member_remove_encode(node_id, out, sizeof out, &len);
    if (sel == SEL_CLIENT && (e = kq_client_decode(&c, d, n)) == KQ_OK)
        e = kq_client_encode(&c, out, sizeof out, &len);
    if (sel == SEL_CLIENT_REMOVE && (e = kq_client_remove_decode(id, d, n)) == KQ_OK)
        e = kq_client_remove_encode(id, out, sizeof out, &len);
    if (sel == SEL_VALSET &&
        (e = kq_valset_decode(v, KQ_LEDGER_STATE_MAX_VALIDATORS, &count, d, n)) == KQ_OK)
        e = kq_valset_encode(v, count, out, sizeof out, &len);
    if (e == KQ_OK)
        KQ_FUZZ_CHECK(len == n && memcmp(out, d, n) == 0);
}

static void fuzz_genesis(const uint8_t *d, size_t n)
{
    static struct kq_genesis g;
    size_t len;
    kq_hash id;
    if (kq_genesis_decode(&g, d, n) != KQ_OK)
        return;
    KQ_FUZZ_CHECK(kq_genesis_encode(&g, out, sizeof out, &len) == KQ_OK);
    KQ_FUZZ_CHECK(len == n && memcmp(out, d, n) == 0);
    if (kq_genesis_chain_id(&g, &id) == KQ_OK) {
        struct kq_smt *st = NULL;
        KQ_FUZZ_CHECK(kq_state_genesis(&g, &st) == KQ_OK);
        kq_smt_unref(st);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kq_fuzz_init();
    if (size == 0)
        return 0;
    unsigned sel = data[0] % SEL_N;
    if (sel == SEL_TX)
        fuzz_tx(data + 1, size - 1);
    else if (sel == SEL_GENESIS)
        fuzz_genesis(data + 1, size - 1);
    else
        fuzz_bodies(sel, data + 1, size - 1);
    return 0;
}

static size_t seed_body(unsigned sel, uint8_t *buf, size_t cap)
{
    struct kq_member_node n;
    struct kq_client c = {.id = "alice", .auth_kind = 1, .roles = 3, .trust = 70, .flags = 3};
    struct kq_valset_entry v[2] = {{1, {1}}, {7, {7}}};
    size_t len = 0;
    enum kq_err e = KQ_ERR_FORMAT;
    make_node(&n, 3);
    memcpy(c.sign_pk, n.identity_pk, 32);
    memcpy(c.x25519_pk, n.x25519_pk, 32);
    if (sel == SEL_NODE)
        e = kq_member_node_encode(&n, buf, cap, &len);
    if (sel == SEL_REMOVE)
        e = kq_member_remove_encode(3, buf, cap, &len);
    if (sel == SEL_CLIENT)
        e = kq_client_encode(&c, buf, cap, &len);
    if (sel == SEL_CLIENT_REMOVE)
        e = kq_client_remove_encode("alice", buf, cap, &len);
    if (sel == SEL_VALSET)
        e = kq_valset_encode(v, 2, buf, cap, &len);
    return e == KQ_OK ? len : 0;
}

/* Seeds: a valid encoding per selector; envelopes signed by the genesis admin carrying each body
 * with its family and op (so mutations reach the family rules). */
size_t kq_fuzz_seed(unsigned i, uint8_t *buf, size_t cap)
{
    static const uint16_t fam_op[][3] = {{SEL_NODE, 1, 1},
                                         {SEL_NODE, 1, 2},
                                         {SEL_REMOVE, 1, 3},
                                         {SEL_CLIENT, 2, 1},
                                         {SEL_CLIENT_REMOVE, 2, 2}};
    uint8_t body[KQ_MEMBER_NODE_MAX_BYTES], sk[64];
    size_t len = 0;
    kq_fuzz_init();
    if (cap < 2)
        return 0;
    if (i < SEL_N && i != SEL_TX && i != SEL_GENESIS) {
        buf[0] = (uint8_t)i;
        len = seed_body(i, buf + 1, cap - 1);
        return len ? len + 1 : 0;
    }
    struct kq_genesis *g = make_genesis(sk);
    if (i == SEL_GENESIS && kq_genesis_encode(g, buf + 1, cap - 1, &len) == KQ_OK) {
        buf[0] = SEL_GENESIS;
        len++;
    }
    unsigned k = i == SEL_TX ? 0 : i - SEL_N + 1;
    if ((i == SEL_TX || i >= SEL_N) && k < sizeof fam_op / sizeof *fam_op) {
        struct kq_tx_fields f = {.family = fam_op[k][1], .op = fam_op[k][2], .expiry_height = 5};
        f.body_len = seed_body(fam_op[k][0], body, sizeof body);
        f.body = body;
        if (kq_genesis_chain_id(g, &f.chain_id) == KQ_OK &&
            kq_tx_sign(&f, sk, buf + 1, cap - 1, &len) == KQ_OK) {
            buf[0] = SEL_TX;
            len++;
        }
    }
    free(g);
    return len;
}
