/* Adapter from the replica's application interface to the state machine (app.h). Pure and
 * deterministic like both sides: no clock, no I/O; the only allocations are the per-block
 * scratch arrays, freed before returning. */
#include "ledger/app.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/keyreg.h"
#include "ledger/smt.h"
#include "ledger/state.h"
#include "ledger/tx_member.h"

enum kq_err kq_ledger_tx_err(enum kq_tx_status status)
{
    switch (status) {
    case KQ_TX_OK:
        return KQ_OK;
    case KQ_TX_MALFORMED:
        return KQ_ERR_FORMAT;
    case KQ_TX_OVERSIZED:
    case KQ_TX_VALSET_FULL:
    case KQ_TX_STATE_FULL:
        return KQ_ERR_LIMIT;
    case KQ_TX_WRONG_CHAIN:
    case KQ_TX_EXPIRY_TOO_FAR:
    case KQ_TX_UNKNOWN_TYPE:
    case KQ_TX_INVALID:
        return KQ_ERR_INVALID_ARG;
    case KQ_TX_BAD_SIGNATURE:
        return KQ_ERR_BAD_SIGNATURE;
    case KQ_TX_EXPIRED:
        return KQ_ERR_EXPIRED;
    case KQ_TX_DUPLICATE:
        return KQ_ERR_DUPLICATE;
    case KQ_TX_UNAUTHORIZED:
        return KQ_ERR_FORBIDDEN;
    case KQ_TX_NOT_FOUND:
        return KQ_ERR_NOT_FOUND;
    case KQ_TX_EXISTS:
        return KQ_ERR_EXISTS;
    case KQ_TX_EMPTY_VALSET:
    case KQ_TX_CONFLICT:
        return KQ_ERR_STATE;
    case KQ_TX_NO_KEEPERS:
        return KQ_ERR_THRESHOLD;
    }
    return KQ_ERR_INVALID_ARG;
}

/* The set of ways id may occupy: a set-associative cache, so ids evict each other only when
 * more than KQ_LEDGER_VERIFIED_WAYS of those in flight share a set. */
static kq_hash *cache_set(struct kq_ledger_state_app *a, const kq_hash *id)
{
    size_t v = 0;
    for (size_t i = 0; i < sizeof v; i++)
        v = v << 8 | id->b[i];
    return a->verified[v & (KQ_LEDGER_VERIFIED_SETS - 1)];
}

static bool cache_has(struct kq_ledger_state_app *a, const kq_hash *id)
{
    const kq_hash *set = cache_set(a, id);
    for (size_t i = 0; i < KQ_LEDGER_VERIFIED_WAYS; i++)
        if (kq_hash_eq(&set[i], id))
            return true;
    return false;
}

/* Records id as verified, evicting the oldest of its set (first in, first out). */
static void cache_put(struct kq_ledger_state_app *a, const kq_hash *id)
{
    if (cache_has(a, id))
        return;
    kq_hash *set = cache_set(a, id);
    memmove(&set[1], &set[0], (KQ_LEDGER_VERIFIED_WAYS - 1) * sizeof set[0]);
    set[0] = *id;
}

static enum kq_err app_genesis(void *ctx, void **state, kq_hash *root)
{
    const struct kq_ledger_state_app *a = ctx;
    struct kq_smt *st = NULL;
    KQ_GUARD(kq_state_genesis(a->genesis, &st));
    kq_smt_root(st, root);
    *state = st;
    return KQ_OK;
}

static enum kq_err app_check_tx(void *ctx, const void *state, uint64_t height, const uint8_t *tx,
                                size_t len, uint64_t *expiry_height)
{
    struct kq_ledger_state_app *a = ctx;
    struct kq_tx_ref ref = {.data = tx, .len = len};
    struct kq_tx_result res;
    kq_hash id;
    kq_tx_id(tx, len, &id);
    ref.sig_verified = cache_has(a, &id); /* a re-check (proposing): these bytes verified */
    KQ_GUARD(kq_state_check_tx(state, height, &ref, &res));
    if (res.sig_verified)
        cache_put(a, &res.id);
    KQ_GUARD(kq_ledger_tx_err(res.status));
    struct kq_tx decoded;
    KQ_GUARD(kq_tx_decode(&decoded, tx, len)); /* it decoded in the check: this cannot fail */
    *expiry_height = decoded.expiry_height;
    return KQ_OK;
}

static enum kq_err app_apply_block(void *ctx, const void *pre, uint64_t height, uint64_t time_ms,
                                   const struct kq_tx_view *txs, size_t n, void **post,
                                   kq_hash *root, enum kq_err *results)
{
    struct kq_ledger_state_app *a = ctx;
    struct kq_tx_ref *refs = calloc(n > 0 ? n : 1, sizeof *refs);
    struct kq_tx_result *res = calloc(n > 0 ? n : 1, sizeof *res);
    enum kq_err err = refs != NULL && res != NULL ? KQ_OK : KQ_ERR_NOMEM;
    for (size_t i = 0; i < n && err == KQ_OK; i++) {
        kq_hash id;
        kq_tx_id(txs[i].data, txs[i].len, &id);
        refs[i] = (struct kq_tx_ref){
            .data = txs[i].data, .len = txs[i].len, .sig_verified = cache_has(a, &id)};
    }
    struct kq_smt *out = NULL;
    if (err == KQ_OK)
        err = kq_state_apply_block(pre, height, time_ms, refs, n, &out, res);
    if (err == KQ_OK) {
        for (size_t i = 0; i < n; i++) {
            results[i] = kq_ledger_tx_err(res[i].status);
            if (res[i].sig_verified) /* verified here: a later block or check need not again */
                cache_put(a, &res[i].id);
        }
        kq_smt_root(out, root);
        *post = out;
    }
    free(refs);
    free(res);
    return err;
}

static void app_release(void *ctx, void *state)
{
    (void)ctx;
    kq_smt_unref(state);
}

/* The "valset" record as a consensus set (the state machine keeps it non-empty and bounded). */
static enum kq_err app_valset(void *ctx, const void *state, struct kq_valset *vs)
{
    (void)ctx;
    struct kq_valset_entry *e = calloc(KQ_LEDGER_MAX_VALIDATORS, sizeof *e);
    struct kq_validator *v = calloc(KQ_LEDGER_MAX_VALIDATORS, sizeof *v);
    size_t n = 0;
    enum kq_err err = e != NULL && v != NULL ? KQ_OK : KQ_ERR_NOMEM;
    if (err == KQ_OK)
        err = kq_member_valset(state, e, KQ_LEDGER_MAX_VALIDATORS, &n);
    for (size_t i = 0; err == KQ_OK && i < n; i++) {
        v[i].id = e[i].node_id;
        memcpy(v[i].pk, e[i].identity_pk, sizeof v[i].pk);
    }
    if (err == KQ_OK)
        err = kq_valset_init(vs, v, n);
    free(e);
    free(v);
    return err;
}

static bool app_is_node(void *ctx, const void *state, uint32_t id)
{
    (void)ctx;
    char key[KQ_MEMBER_KEY_BYTES];
    size_t len = kq_member_node_key(id, key);
    const uint8_t *value;
    size_t value_len;
    return id >= 1 && id <= KQ_LEDGER_MAX_NODE_ID &&
           kq_smt_get(state, (const uint8_t *)key, len, &value, &value_len) == KQ_OK;
}

static bool app_diff(void *ctx, const void *pre, const void *post, kq_ledger_pair_fn fn, void *fctx)
{
    (void)ctx;
    return kq_smt_diff(pre, post, fn, fctx);
}

static void app_foreach(void *ctx, const void *state, const kq_hash *from, kq_ledger_pair_fn fn,
                        void *fctx)
{
    (void)ctx;
    kq_smt_foreach(state, from, fn, fctx);
}

static enum kq_err app_load(void *ctx, void **state, const uint8_t *key, size_t key_len,
                            const uint8_t *value, size_t value_len)
{
    (void)ctx;
    struct kq_smt *cur = *state, *fresh = NULL, *next = NULL;
    if (cur == NULL) {
        fresh = kq_smt_new();
        KQ_ENSURE(fresh != NULL, KQ_ERR_NOMEM);
    }
    enum kq_err err = kq_smt_set(cur != NULL ? cur : fresh, key, key_len,
                                 value != NULL ? value : (const uint8_t *)"", value_len, &next);
    kq_smt_unref(fresh);
    KQ_GUARD(err);
    kq_smt_unref(cur);
    *state = next;
    return KQ_OK;
}

static void app_root(void *ctx, const void *state, kq_hash *root)
{
    (void)ctx;
    kq_smt_root(state, root);
}

static void *app_retain(void *ctx, const void *state)
{
    (void)ctx;
    return kq_smt_ref((struct kq_smt *)(uintptr_t)state);
}

static bool app_busy(void *ctx, const void *state)
{
    (void)ctx;
    return kq_keyreg_busy(state);
}

void kq_ledger_state_app_init(struct kq_ledger_app *app, struct kq_ledger_state_app *ctx,
                              const struct kq_genesis *genesis)
{
    KQ_ASSERT(app != NULL && ctx != NULL && genesis != NULL);
    ctx->genesis = genesis;
    *app = (struct kq_ledger_app){.ctx = ctx,
                                  .genesis = app_genesis,
                                  .check_tx = app_check_tx,
                                  .apply_block = app_apply_block,
                                  .release = app_release,
                                  .valset = app_valset,
                                  .is_node = app_is_node,

                                  .diff = app_diff,
                                  .foreach = app_foreach,
                                  .load = app_load,
                                  .root = app_root,
                                  .retain = app_retain,
                                  .busy = app_busy};
}

enum kq_err kq_ledger_genesis_valset(const struct kq_genesis *g, struct kq_valset *vs)
{
    struct kq_validator v[KQ_LEDGER_GENESIS_MAX_NODES];
    size_t n = 0;
    for (size_t i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].roles & KQ_ROLE_VALIDATOR) {
            v[n].id = g->nodes[i].node_id;
            memcpy(v[n].pk, g->nodes[i].identity_pk, sizeof v[n].pk);
            n++;
        }
    KQ_ENSURE(n > 0, KQ_ERR_INVALID_ARG);
    return kq_valset_init(vs, v, n);
}
