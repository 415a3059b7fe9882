/* Genesis codec and canonical-form rules. The encoding is the only input of the chain id, so the
 * rules demand one encoding per genesis: nodes by increasing id, admin keys in increasing order,
 * no duplicates. */
#include "ledger/genesis.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/buf.h"
#include "ledger/tx_client.h"

#define GENESIS_ID_TAG "kq-ledger-v1/genesis"

KQ_STATIC_ASSERT(KQ_LEDGER_CHAIN_NAME_MAX_BYTES <= UINT8_MAX, "name length is a u8");
KQ_STATIC_ASSERT(KQ_MEMBER_NODE_MAX_BYTES <= UINT16_MAX, "node records are u16-prefixed");

static bool name_ok(const char *s)
{
    size_t n = strnlen(s, KQ_LEDGER_CHAIN_NAME_MAX_BYTES + 1);
    return n <= KQ_LEDGER_CHAIN_NAME_MAX_BYTES && kq_client_id_ok(s, n); /* same alphabet */
}

static enum kq_err check_nodes(const struct kq_genesis *g)
{
    bool validator = false;
    KQ_ENSURE(g->n_nodes >= 1 && g->n_nodes <= KQ_LEDGER_GENESIS_MAX_NODES, KQ_ERR_INVALID_ARG);
    for (size_t i = 0; i < g->n_nodes; i++) {
        const struct kq_member_node *n = &g->nodes[i];
        KQ_GUARD(kq_member_node_check(n));
        KQ_ENSURE(i == 0 || g->nodes[i - 1].node_id < n->node_id, KQ_ERR_INVALID_ARG);
        for (size_t j = 0; j < i; j++)
            KQ_ENSURE(memcmp(g->nodes[j].identity_pk, n->identity_pk, 32) != 0, KQ_ERR_INVALID_ARG);
        validator = validator || (n->roles & KQ_ROLE_VALIDATOR);
    }
    KQ_ENSURE(validator, KQ_ERR_INVALID_ARG);
    return KQ_OK;
}

enum kq_err kq_genesis_check(const struct kq_genesis *g)
{
    KQ_ENSURE(name_ok(g->chain_name), KQ_ERR_INVALID_ARG);
    KQ_GUARD(check_nodes(g));
    KQ_ENSURE(g->n_admins >= 1 && g->n_admins <= KQ_LEDGER_GENESIS_MAX_ADMINS, KQ_ERR_INVALID_ARG);
    for (size_t i = 0; i < g->n_admins; i++) {
        KQ_ENSURE(crypto_core_ed25519_is_valid_point(g->admins[i]) == 1, KQ_ERR_INVALID_ARG);
        KQ_ENSURE(i == 0 || memcmp(g->admins[i - 1], g->admins[i], 32) < 0, KQ_ERR_INVALID_ARG);
    }
    struct kq_keyparams p;
    kq_genesis_keyparams(g, &p);
    return kq_keyparams_check(&p);
}

static enum kq_err genesis_put(struct kq_buf *b, const struct kq_genesis *g)
{
    uint8_t rec[KQ_MEMBER_NODE_MAX_BYTES];
    size_t name_len = strnlen(g->chain_name, KQ_LEDGER_CHAIN_NAME_MAX_BYTES + 1), len;
    KQ_ENSURE(name_len <= KQ_LEDGER_CHAIN_NAME_MAX_BYTES, KQ_ERR_LIMIT);
    KQ_ENSURE(g->n_nodes <= KQ_LEDGER_GENESIS_MAX_NODES, KQ_ERR_LIMIT);
    KQ_ENSURE(g->n_admins <= KQ_LEDGER_GENESIS_MAX_ADMINS, KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_put_u8(b, KQ_GENESIS_VERSION));
    KQ_GUARD(kq_buf_put_u8(b, (uint8_t)name_len));
    KQ_GUARD(kq_buf_put(b, g->chain_name, name_len));
    KQ_GUARD(kq_buf_put_u64(b, g->time_ms));
    KQ_GUARD(kq_buf_put_u16(b, (uint16_t)g->n_nodes));
    for (size_t i = 0; i < g->n_nodes; i++) {
        KQ_GUARD(kq_member_node_encode(&g->nodes[i], rec, sizeof rec, &len));
        KQ_GUARD(kq_buf_put_bytes16(b, rec, len));
    }
    KQ_GUARD(kq_buf_put_u16(b, (uint16_t)g->n_admins));
    for (size_t i = 0; i < g->n_admins; i++)
        KQ_GUARD(kq_buf_put(b, g->admins[i], 32));
    const struct kq_keyparams *k = &g->keys;
    KQ_GUARD(kq_buf_put_u64(b, k->deletion_wait_ms));
    KQ_GUARD(kq_buf_put_u64(b, k->min_version_grace_ms));
    KQ_GUARD(kq_buf_put_u64(b, k->refresh_period_ms));
    KQ_GUARD(kq_buf_put_u32(b, k->activation_delay_blocks));
    KQ_GUARD(kq_buf_put_u32(b, k->epoch_grace_blocks));
    KQ_GUARD(kq_buf_put_u32(b, k->dkg_deal_blocks));
    KQ_GUARD(kq_buf_put_u32(b, k->dkg_complaint_blocks));
    return kq_buf_put_u32(b, k->dkg_justify_blocks);
}

void kq_genesis_keyparams(const struct kq_genesis *g, struct kq_keyparams *p)
{
    static const struct kq_keyparams zero;
    if (memcmp(&g->keys, &zero, sizeof zero) == 0)
        kq_keyparams_default(p);
    else
        *p = g->keys;
}

enum kq_err kq_genesis_encode(const struct kq_genesis *g, uint8_t *out, size_t cap, size_t *out_len)
{
    struct kq_buf b;
    *out_len = 0;
    kq_buf_writer(&b, out, cap);
    KQ_GUARD(genesis_put(&b, g));
    *out_len = kq_buf_len(&b);
    KQ_ASSERT(*out_len <= KQ_GENESIS_MAX_BYTES);
    return KQ_OK;
}

static enum kq_err genesis_get(struct kq_buf *b, struct kq_genesis *g)
{
    uint8_t version, name_len;
    uint16_t count;
    const uint8_t *p;
    size_t len;
    KQ_GUARD(kq_buf_get_u8(b, &version));
    KQ_ENSURE(version == KQ_GENESIS_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_u8(b, &name_len));
    KQ_ENSURE(name_len <= KQ_LEDGER_CHAIN_NAME_MAX_BYTES, KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_get_ptr(b, &p, name_len));
    KQ_ENSURE(memchr(p, 0, name_len) == NULL, KQ_ERR_FORMAT);
    memcpy(g->chain_name, p, name_len);
    KQ_GUARD(kq_buf_get_u64(b, &g->time_ms));
    KQ_GUARD(kq_buf_get_u16(b, &count));
    KQ_ENSURE(count <= KQ_LEDGER_GENESIS_MAX_NODES, KQ_ERR_LIMIT);
    for (g->n_nodes = 0; g->n_nodes < count; g->n_nodes++) {
        KQ_GUARD(kq_buf_get_bytes16(b, &p, &len, KQ_MEMBER_NODE_MAX_BYTES));
        KQ_GUARD(kq_member_node_decode(&g->nodes[g->n_nodes], p, len));
    }
    KQ_GUARD(kq_buf_get_u16(b, &count));
    KQ_ENSURE(count <= KQ_LEDGER_GENESIS_MAX_ADMINS, KQ_ERR_LIMIT);
    for (g->n_admins = 0; g->n_admins < count; g->n_admins++)
        KQ_GUARD(kq_buf_get(b, g->admins[g->n_admins], 32));
    struct kq_keyparams *k = &g->keys;
    KQ_GUARD(kq_buf_get_u64(b, &k->deletion_wait_ms));
    KQ_GUARD(kq_buf_get_u64(b, &k->min_version_grace_ms));
    KQ_GUARD(kq_buf_get_u64(b, &k->refresh_period_ms));
    KQ_GUARD(kq_buf_get_u32(b, &k->activation_delay_blocks));
    KQ_GUARD(kq_buf_get_u32(b, &k->epoch_grace_blocks));
    KQ_GUARD(kq_buf_get_u32(b, &k->dkg_deal_blocks));
    KQ_GUARD(kq_buf_get_u32(b, &k->dkg_complaint_blocks));
    KQ_GUARD(kq_buf_get_u32(b, &k->dkg_justify_blocks));
    return kq_buf_expect_end(b);
}

enum kq_err kq_genesis_decode(struct kq_genesis *g, const uint8_t *data, size_t len)
{
    struct kq_buf b;
    memset(g, 0, sizeof *g);
    kq_buf_reader(&b, data, len);
    enum kq_err err = genesis_get(&b, g);
    if (err != KQ_OK)
        memset(g, 0, sizeof *g);
    return err;
}

enum kq_err kq_genesis_chain_id(const struct kq_genesis *g, kq_hash *id)
{
    size_t len;
    memset(id, 0, sizeof *id);
    KQ_GUARD(kq_genesis_check(g));
    uint8_t *buf = malloc(KQ_GENESIS_MAX_BYTES);
    KQ_ENSURE(buf != NULL, KQ_ERR_NOMEM);
    enum kq_err err = kq_genesis_encode(g, buf, KQ_GENESIS_MAX_BYTES, &len);
    if (err == KQ_OK)
        kq_hash_tagged(id, GENESIS_ID_TAG, buf, len);
    free(buf);
    return err;
}
