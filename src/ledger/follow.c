/* Ledger follower (follow.h). Trust comes from the validator set of the genesis and nothing
 * else: every header is accepted only with a quorum certificate from the set in force (the
 * genesis set, then each set a certified header names as the next one), and every value only with
 * a proof against a certified header. The replaying follower re-executes each block
 * with the same state machine the validators run. Not checked: the proposer schedule (a quorum
 * certified the block, whoever proposed it). */
#include "ledger/follow.h"

#include <stdlib.h>
#include <string.h>

#include "ledger/smt.h"
#include "wire/ledger_msg.h"

static const struct kq_ledger_crypto ed25519 = {.verify = kq_ledger_ed25519_verify};

/* Decodes a record into a (heap) block and its certificate. */
static enum kq_err decode_record(const uint8_t *record, size_t len, struct kq_block *b,
                                 struct kq_cert *cert)
{
    const uint8_t *block;
    size_t block_len;
    KQ_GUARD(kq_block_resp_decode(&block, &block_len, cert, record, len));
    return kq_block_decode(b, block, block_len);
}

enum kq_err kq_follow_check_record(const uint8_t *record, size_t len, const kq_hash *chain_id,
                                   const struct kq_valset *vs, struct kq_header *header)
{
    struct kq_block *b = calloc(1, sizeof *b);
    struct kq_cert *cert = calloc(1, sizeof *cert);
    enum kq_err err = b != NULL && cert != NULL ? KQ_OK : KQ_ERR_NOMEM;
    if (err == KQ_OK)
        err = decode_record(record, len, b, cert);
    if (err == KQ_OK && !kq_hash_eq(&b->header.chain_id, chain_id))
        err = KQ_ERR_LABEL;
    kq_hash hash;
    if (err == KQ_OK) {
        kq_header_hash(&b->header, &hash);
        err = kq_cert_verify(cert, chain_id, b->header.height, &hash, vs, &ed25519);
    }
    if (err == KQ_OK)
        *header = b->header;
    free(b);
    free(cert);
    return err;
}

enum kq_err kq_follow_check_value(const uint8_t *record, size_t len, const kq_hash *chain_id,
                                  const struct kq_valset *vs, const uint8_t *key, size_t key_len,
                                  const uint8_t *value, size_t value_len, const uint8_t *proof,
                                  size_t proof_len, struct kq_header *header)
{
    KQ_GUARD(kq_follow_check_record(record, len, chain_id, vs, header));
    return kq_smt_verify(&header->state_root, key, key_len, value, value_len, proof, proof_len);
}

enum kq_err kq_follow_valset_change(const uint8_t *record, size_t len, const kq_hash *chain_id,
                                    const struct kq_valset *vs, const struct kq_valset *next,
                                    struct kq_header *header)
{
    kq_hash have, want;
    KQ_GUARD(kq_follow_check_record(record, len, chain_id, vs, header));
    kq_valset_hash(vs, &have);
    kq_valset_hash(next, &want);
    KQ_ENSURE(kq_hash_eq(&header->valset_hash, &have), KQ_ERR_BAD_PROOF);
    KQ_ENSURE(kq_hash_eq(&header->next_valset_hash, &want), KQ_ERR_BAD_PROOF);
    return KQ_OK;
}

struct kq_follower {
    const struct kq_genesis *genesis;
    kq_hash chain_id;
    struct kq_valset vs;      /* the set of the next height */
    struct kq_valset prev_vs; /* the set that certified the tip */
    kq_hash valset_hash;
    struct kq_ledger_state_app app_ctx;
    struct kq_ledger_app app;
    void *state; /* struct kq_smt after the last applied block */
    kq_hash root;
    uint64_t height;
    kq_hash tip;       /* hash of the last applied header (zero at genesis) */
    uint64_t tip_time; /* its BFT time (genesis time at height 0) */
};

struct kq_follower *kq_follower_new(const struct kq_genesis *g)
{
    struct kq_follower *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->genesis = g;
    f->tip_time = g->time_ms;
    kq_ledger_state_app_init(&f->app, &f->app_ctx, g);
    if (kq_genesis_chain_id(g, &f->chain_id) != KQ_OK ||
        kq_ledger_genesis_valset(g, &f->vs) != KQ_OK ||
        f->app.genesis(f->app.ctx, &f->state, &f->root) != KQ_OK) {
        free(f);
        return NULL;
    }
    kq_valset_hash(&f->vs, &f->valset_hash);
    f->prev_vs = f->vs;
    return f;
}

void kq_follower_free(struct kq_follower *f)
{
    if (f == NULL)
        return;
    f->app.release(f->app.ctx, f->state);
    free(f);
}

uint64_t kq_follower_height(const struct kq_follower *f)
{
    return f->height;
}

void kq_follower_state_root(const struct kq_follower *f, kq_hash *root)
{
    *root = f->root;
}

/* The header rules that need no execution; *why set on failure. */
static bool header_ok(const struct kq_follower *f, const struct kq_block *b, const char **why)
{
    const struct kq_header *h = &b->header;
    kq_hash zero = {{0}}, ch, root;
    if (h->height != f->height + 1)
        return *why = "not the next height", false;
    if (!kq_hash_eq(&h->parent, &f->tip))
        return *why = "parent hash is not the previous block", false;
    if (!kq_hash_eq(&h->valset_hash, &f->valset_hash))
        return *why = "validator set hash differs", false;
    if (h->height == 1) {
        if (!kq_hash_eq(&h->last_commit_hash, &zero) || h->time_ms != f->genesis->time_ms + 1)
            return *why = "first block's commit hash or time", false;
    } else {
        kq_cert_hash(&b->last_commit, &ch);
        uint64_t median = kq_cert_median_time(&b->last_commit);
        uint64_t want = median > f->tip_time ? median : f->tip_time + 1;
        if (kq_cert_verify(&b->last_commit, &f->chain_id, f->height, &f->tip, &f->prev_vs,
                           &ed25519) != KQ_OK ||
            !kq_hash_eq(&ch, &h->last_commit_hash))
            return *why = "the carried certificate of the parent does not verify", false;
        if (h->time_ms != want)
            return *why = "BFT time is not the median rule", false;
    }
    if (kq_block_tx_root(b, &root) != KQ_OK || !kq_hash_eq(&root, &h->tx_root))
        return *why = "tx root differs", false;
    return true;
}

enum kq_err kq_follower_apply(struct kq_follower *f, const uint8_t *record, size_t len,
                              const char **why)
{
    struct kq_block *b = calloc(1, sizeof *b);
    struct kq_cert *cert = calloc(1, sizeof *cert);
    enum kq_err *res = calloc(KQ_LEDGER_MAX_BLOCK_TXS + 1, sizeof *res);
    struct kq_valset *next = malloc(sizeof *next);
    enum kq_err err =
        b != NULL && cert != NULL && res != NULL && next != NULL ? KQ_OK : KQ_ERR_NOMEM;
    kq_hash hash, root;
    void *post = NULL;
    *why = "out of memory";
    if (err == KQ_OK && (err = decode_record(record, len, b, cert)) != KQ_OK)
        *why = "record does not decode";
    if (err == KQ_OK && !kq_hash_eq(&b->header.chain_id, &f->chain_id)) {
        err = KQ_ERR_LABEL;
        *why = "another chain";
    }
    if (err == KQ_OK) {
        kq_header_hash(&b->header, &hash);
        if ((err = kq_cert_verify(cert, &f->chain_id, b->header.height, &hash, &f->vs, &ed25519)) !=
            KQ_OK)
            *why = "commit certificate does not verify";
    }
    if (err == KQ_OK && !header_ok(f, b, why))
        err = KQ_ERR_BAD_PROOF;
    if (err == KQ_OK &&
        (err = f->app.apply_block(f->app.ctx, f->state, b->header.height, b->header.time_ms, b->txs,
                                  b->n_txs, &post, &root, res)) != KQ_OK)
        *why = "execution failed";
    if (err == KQ_OK && !kq_hash_eq(&root, &b->header.state_root)) {
        err = KQ_ERR_BAD_PROOF;
        *why = "state root differs from executing the block";
        f->app.release(f->app.ctx, post);
    }
    kq_hash next_hash;
    if (err == KQ_OK && (err = f->app.valset(f->app.ctx, post, next)) != KQ_OK) {
        *why = "the state names no valid validator set";
        f->app.release(f->app.ctx, post);
    }
    if (err == KQ_OK) {
        kq_valset_hash(next, &next_hash);
        if (!kq_hash_eq(&next_hash, &b->header.next_valset_hash)) {
            err = KQ_ERR_BAD_PROOF;
            *why = "next validator set hash differs from the state's set";
            f->app.release(f->app.ctx, post);
        }
    }
    if (err == KQ_OK) {
        f->prev_vs = f->vs;
        f->vs = *next;
        f->valset_hash = next_hash;
        f->app.release(f->app.ctx, f->state);
        f->state = post;
        f->root = root;
        f->height = b->header.height;
        f->tip = hash;
        f->tip_time = b->header.time_ms;
        *why = "ok";
    }
    free(b);
    free(cert);
    free(res);
    free(next);
    return err;
}
