/* The replicated state machine. Each tx runs the same checks in the same order on every replica
 * (size, envelope, chain, expiry, dedup, family, signature, then the family's own rules) against
 * the version left by the tx before it; a refused tx leaves that version as it was. Only an
 * allocation failure stops a block, and then nothing of it is kept. */
#include "ledger/state.h"

#include <string.h>

#include <sodium.h>

#include "base/buf.h"
#include "ledger/keyreg.h"
#include "ledger/tx_client.h"
#include "ledger/tx_member.h"

#define CHAIN_VERSION 1
#define DEDUP_VERSION 1
#define ADMIN_PREFIX  "admin/"
#define TXID_PREFIX   "tx/"
#define STATE_KEY_MAX 80
#define CHAIN_BYTES   (1 + KQ_HASH_BYTES + 8)
#define DEDUP_BYTES   (1 + 8 + 4)

KQ_STATIC_ASSERT(STATE_KEY_MAX > sizeof ADMIN_PREFIX + 2 * KQ_HASH_BYTES, "state keys fit");
KQ_STATIC_ASSERT(STATE_KEY_MAX <= KQ_LEDGER_MAX_KEY_BYTES, "state keys fit the tree");

enum kq_err kq_state_put(struct kq_smt **cur, const char *key, const uint8_t *value,
                         size_t value_len)
{
    KQ_ASSERT(cur != NULL && *cur != NULL && key != NULL);
    return kq_smt_put(cur, (const uint8_t *)key, strlen(key), value, value_len);
}

static void hex_key(const char *prefix, const uint8_t b[32], char out[STATE_KEY_MAX])
{
    size_t n = strlen(prefix);
    memcpy(out, prefix, n);
    sodium_bin2hex(out + n, 2 * 32 + 1, b, 32);
}

bool kq_state_is_admin(const struct kq_smt *st, const uint8_t pk[32])
{
    char key[STATE_KEY_MAX];
    const uint8_t *v;
    size_t vlen;
    hex_key(ADMIN_PREFIX, pk, key);
    if (kq_smt_get(st, (const uint8_t *)key, strlen(key), &v, &vlen) == KQ_OK)
        return true;
    return kq_client_pk_is_admin(st, pk);
}

enum kq_err kq_state_chain_id(const struct kq_smt *st, kq_hash *chain_id)
{
    struct kq_buf b;
    const uint8_t *v;
    size_t vlen;
    uint8_t version;
    memset(chain_id, 0, sizeof *chain_id);
    KQ_GUARD(kq_smt_get(st, (const uint8_t *)KQ_STATE_CHAIN_KEY, sizeof KQ_STATE_CHAIN_KEY - 1, &v,
                        &vlen));
    KQ_ENSURE(vlen == CHAIN_BYTES, KQ_ERR_FORMAT);
    kq_buf_reader(&b, v, vlen);
    KQ_GUARD(kq_buf_get_u8(&b, &version));
    KQ_ENSURE(version == CHAIN_VERSION, KQ_ERR_FORMAT);
    return kq_buf_get(&b, chain_id->b, KQ_HASH_BYTES);
}

enum kq_err kq_state_tx_lookup(const struct kq_smt *st, const kq_hash *id, uint64_t *height,
                               uint32_t *index)
{
    char key[STATE_KEY_MAX];
    struct kq_buf b;
    const uint8_t *v;
    size_t vlen;
    uint8_t version;
    *height = 0;
    *index = 0;
    hex_key(TXID_PREFIX, id->b, key);
    KQ_GUARD(kq_smt_get(st, (const uint8_t *)key, strlen(key), &v, &vlen));
    kq_buf_reader(&b, v, vlen);
    KQ_GUARD(kq_buf_get_u8(&b, &version));
    KQ_ENSURE(version == DEDUP_VERSION, KQ_ERR_FORMAT);
    KQ_GUARD(kq_buf_get_u64(&b, height));
    KQ_GUARD(kq_buf_get_u32(&b, index));
    return kq_buf_expect_end(&b);
}

static enum kq_err genesis_records(struct kq_smt **cur, const struct kq_genesis *g,
                                   const kq_hash *chain_id)
{
    char key[STATE_KEY_MAX];
    uint8_t rec[CHAIN_BYTES];
    struct kq_buf b;
    kq_buf_writer(&b, rec, sizeof rec);
    KQ_GUARD(kq_buf_put_u8(&b, CHAIN_VERSION));
    KQ_GUARD(kq_buf_put(&b, chain_id->b, KQ_HASH_BYTES));
    KQ_GUARD(kq_buf_put_u64(&b, g->time_ms));
    KQ_GUARD(kq_state_put(cur, KQ_STATE_CHAIN_KEY, rec, kq_buf_len(&b)));
    for (size_t i = 0; i < g->n_admins; i++) {
        hex_key(ADMIN_PREFIX, g->admins[i], key);
        KQ_GUARD(kq_state_put(cur, key, (const uint8_t *)"", 0));
    }
    for (size_t i = 0; i < g->n_nodes; i++) {
        struct kq_smt *next = NULL;
        enum kq_tx_status status = KQ_TX_OK;
        KQ_GUARD(kq_member_insert(*cur, &g->nodes[i], &next, &status));
        KQ_ENSURE(status == KQ_TX_OK, KQ_ERR_INVALID_ARG); /* kq_genesis_check rules it out */
        kq_smt_unref(*cur);
        *cur = next;
    }
    struct kq_keyparams p;
    kq_genesis_keyparams(g, &p);
    return kq_keyreg_genesis(cur, &p, g->time_ms);
}

enum kq_err kq_state_genesis(const struct kq_genesis *g, struct kq_smt **out)
{
    kq_hash chain_id;
    KQ_ASSERT(g != NULL && out != NULL);
    *out = NULL;
    KQ_GUARD(kq_genesis_chain_id(g, &chain_id)); /* checks g */
    struct kq_smt *cur = kq_smt_new();
    KQ_ENSURE(cur != NULL, KQ_ERR_NOMEM);
    enum kq_err err = genesis_records(&cur, g, &chain_id);
    if (err != KQ_OK) {
        kq_smt_unref(cur);
        return err;
    }
    *out = cur;
    return KQ_OK;
}

/* What one block shares with each of its txs. */
struct block_ctx {
    kq_hash chain_id;
    uint64_t height;
    uint64_t bft_time_ms; /* the only clock a rule may read */
};

/* Checks that need no family: the envelope, chain, expiry window and dedup. */
static enum kq_tx_status envelope_status(const struct kq_smt *st, const struct block_ctx *ctx,
                                         const struct kq_tx_ref *ref, struct kq_tx *tx,
                                         const kq_hash *id)
{
    char key[STATE_KEY_MAX];
    const uint8_t *v;
    size_t vlen;
    enum kq_err err = kq_tx_decode(tx, ref->data, ref->len);
    if (err != KQ_OK)
        return err == KQ_ERR_VERSION ? KQ_TX_UNKNOWN_TYPE : KQ_TX_MALFORMED;
    if (!kq_hash_eq(&tx->chain_id, &ctx->chain_id))
        return KQ_TX_WRONG_CHAIN;
    if (tx->expiry_height < ctx->height)
        return KQ_TX_EXPIRED;
    if (tx->expiry_height - ctx->height > KQ_LEDGER_TX_MAX_EXPIRY_BLOCKS)
        return KQ_TX_EXPIRY_TOO_FAR;
    hex_key(TXID_PREFIX, id->b, key);
    if (kq_smt_get(st, (const uint8_t *)key, strlen(key), &v, &vlen) == KQ_OK)
        return KQ_TX_DUPLICATE;
    if (tx->family != KQ_TX_FAMILY_MEMBER && tx->family != KQ_TX_FAMILY_CLIENT &&
        tx->family != KQ_TX_FAMILY_KEY && tx->family != KQ_TX_FAMILY_KEEPER &&
        tx->family != KQ_TX_FAMILY_EVIDENCE)
        return KQ_TX_UNKNOWN_TYPE;
    return KQ_TX_OK;
}

static enum kq_err record_tx(struct kq_smt **cur, const struct block_ctx *ctx, const kq_hash *id,
                             uint32_t index, enum kq_tx_status *status)
{
    char key[STATE_KEY_MAX];
    uint8_t rec[DEDUP_BYTES];
    struct kq_buf b;
    kq_buf_writer(&b, rec, sizeof rec);
    KQ_GUARD(kq_buf_put_u8(&b, DEDUP_VERSION));
    KQ_GUARD(kq_buf_put_u64(&b, ctx->height));
    KQ_GUARD(kq_buf_put_u32(&b, index));
    hex_key(TXID_PREFIX, id->b, key);
    enum kq_err err = kq_state_put(cur, key, rec, kq_buf_len(&b));
    if (err == KQ_ERR_LIMIT) {
        *status = KQ_TX_STATE_FULL;
        return KQ_OK;
    }
    return err;
}

/* Validates and applies txs[index] to st: *next is the new version if res->status is OK. */
static enum kq_err apply_one(const struct kq_smt *st, const struct block_ctx *ctx,
                             const struct kq_tx_ref *ref, uint32_t index, struct kq_smt **next,
                             struct kq_tx_result *res)
{
    struct kq_tx tx;
    *next = NULL;
    memset(res, 0, sizeof *res);
    if (ref->len > KQ_LEDGER_TX_MAX_BYTES) {
        res->status = KQ_TX_OVERSIZED;
        return KQ_OK;
    }
    kq_tx_id(ref->data, ref->len, &res->id);
    res->status = envelope_status(st, ctx, ref, &tx, &res->id);
    if (res->status != KQ_TX_OK)
        return KQ_OK;
    if (!ref->sig_verified) {
        enum kq_err err = kq_tx_verify(&tx);
        if (err == KQ_ERR_BAD_SIGNATURE) {
            res->status = KQ_TX_BAD_SIGNATURE;
            return KQ_OK;
        }
        KQ_GUARD(err);
        res->sig_verified = true;
    }
    if (tx.family == KQ_TX_FAMILY_MEMBER) {
        KQ_GUARD(kq_member_apply(st, &tx, next, &res->status));
        if (res->status == KQ_TX_OK)
            KQ_GUARD(kq_keyreg_member_changed(st, &tx, next));
    } else if (tx.family == KQ_TX_FAMILY_CLIENT) {
        KQ_GUARD(kq_client_apply(st, &tx, next, &res->status));
    } else {
        KQ_GUARD(kq_keyreg_apply(st, &tx, &ctx->chain_id, ctx->height, ctx->bft_time_ms, next,
                                 &res->status));
    }
    if (res->status != KQ_TX_OK)
        return KQ_OK;
    KQ_ASSERT(*next != NULL);
    enum kq_err err = record_tx(next, ctx, &res->id, index, &res->status);
    if (err != KQ_OK || res->status != KQ_TX_OK) {
        kq_smt_unref(*next);
        *next = NULL;
    }
    return err;
}

static enum kq_err block_ctx_init(struct block_ctx *ctx, const struct kq_smt *st, uint64_t height,
                                  uint64_t bft_time_ms)
{
    KQ_ENSURE(height >= 1, KQ_ERR_INVALID_ARG);
    enum kq_err err = kq_state_chain_id(st, &ctx->chain_id);
    KQ_ENSURE(err == KQ_OK, KQ_ERR_INVALID_ARG);
    ctx->height = height;
    ctx->bft_time_ms = bft_time_ms;
    return KQ_OK;
}

enum kq_err kq_state_apply_block(const struct kq_smt *pre, uint64_t height, uint64_t bft_time_ms,
                                 const struct kq_tx_ref *txs, size_t n, struct kq_smt **post,
                                 struct kq_tx_result *results)
{
    struct block_ctx ctx;
    KQ_ASSERT(pre != NULL && post != NULL);
    KQ_ASSERT(n == 0 || (txs != NULL && results != NULL));
    *post = NULL;
    KQ_ENSURE(n <= UINT32_MAX, KQ_ERR_LIMIT);
    KQ_GUARD(block_ctx_init(&ctx, pre, height, bft_time_ms));
    struct kq_smt *cur = kq_smt_ref((struct kq_smt *)pre);
    for (size_t i = 0; i < n; i++) {
        struct kq_smt *next = NULL;
        enum kq_err err = apply_one(cur, &ctx, &txs[i], (uint32_t)i, &next, &results[i]);
        if (err != KQ_OK) {
            kq_smt_unref(cur);
            return err;
        }
        if (next != NULL) {
            kq_smt_unref(cur);
            cur = next;
        }
    }
    /* The registry's end-of-block rules; if they cannot complete (a state limit), every replica
     * alike keeps the block's state without them, and the rules run again next block. */
    struct kq_smt *ended = kq_smt_ref(cur);
    enum kq_err err = kq_keyreg_end_block(&ended, &ctx.chain_id, height, bft_time_ms);
    if (err == KQ_ERR_NOMEM) {
        kq_smt_unref(ended);
        kq_smt_unref(cur);
        return err;
    }
    if (err == KQ_OK) {
        kq_smt_unref(cur);
        cur = ended;
    } else {
        kq_smt_unref(ended);
    }
    *post = cur;
    return KQ_OK;
}

enum kq_err kq_state_check_tx(const struct kq_smt *st, uint64_t height, const struct kq_tx_ref *tx,
                              struct kq_tx_result *res)
{
    struct block_ctx ctx;
    struct kq_smt *next = NULL;
    KQ_ASSERT(st != NULL && tx != NULL && res != NULL);
    memset(res, 0, sizeof *res);
    KQ_GUARD(block_ctx_init(&ctx, st, height, 0));
    KQ_GUARD(apply_one(st, &ctx, tx, 0, &next, res));
    kq_smt_unref(next);
    return KQ_OK;
}
