/* Block, vote, certificate and proposal codecs and checks. Invariants: every decoder reads through
 * a bounded cursor, zeroes its output on failure and rejects trailing bytes; a signed message is
 * u8 len(tag) || tag || chain_id || the signed fields, so no two kinds of message collide. */
#include "ledger/block.h"

#include <string.h>

#include <sodium.h>

#include "ledger/merkle.h"

#define VOTE_TAG     "kq-ledger-v1/vote"
#define PROPOSAL_TAG "kq-ledger-v1/proposal"
/* Largest signed message: tag 1 + 21, chain id 32, fields of a vote (<= 58). */
#define SIGN_MSG_MAX 128

void kq_ledger_ed25519_sign(void *ctx, const uint8_t *msg, size_t len,
                            uint8_t sig[KQ_LEDGER_SIG_BYTES])
{
    KQ_ASSERT(ctx != NULL && msg != NULL && sig != NULL);
    KQ_ASSERT(crypto_sign_detached(sig, NULL, msg, len, ctx) == 0);
}

bool kq_ledger_ed25519_verify(void *ctx, const uint8_t pk[KQ_LEDGER_PK_BYTES], const uint8_t *msg,
                              size_t len, const uint8_t sig[KQ_LEDGER_SIG_BYTES])
{
    (void)ctx;
    KQ_ASSERT(pk != NULL && msg != NULL && sig != NULL);
    return crypto_sign_verify_detached(sig, msg, len, pk) == 0;
}

static void put_or_die(enum kq_err err)
{
    KQ_ASSERT(err == KQ_OK); /* signing messages are built in a buffer sized for the largest */
}

static void msg_start(struct kq_buf *b, uint8_t *mem, const char *tag, const kq_hash *chain_id)
{
    size_t n = strlen(tag);
    KQ_ASSERT(n < 64);
    kq_buf_writer(b, mem, SIGN_MSG_MAX);
    put_or_die(kq_buf_put_u8(b, (uint8_t)n));
    put_or_die(kq_buf_put(b, tag, n));
    put_or_die(kq_buf_put(b, chain_id->b, KQ_HASH_BYTES));
}

/* ---- header ---- */

enum kq_err kq_header_encode(const struct kq_header *h, struct kq_buf *out)
{
    KQ_ASSERT(h != NULL && out != NULL);
    KQ_ENSURE(kq_buf_room(out) >= KQ_HEADER_BYTES, KQ_ERR_OVERFLOW);
    size_t start = out->wpos;
    put_or_die(kq_buf_put_u8(out, KQ_BLOCK_VERSION));
    put_or_die(kq_buf_put(out, h->chain_id.b, KQ_HASH_BYTES));
    put_or_die(kq_buf_put_u64(out, h->height));
    put_or_die(kq_buf_put_u32(out, h->round));
    put_or_die(kq_buf_put(out, h->parent.b, KQ_HASH_BYTES));
    put_or_die(kq_buf_put_u32(out, h->proposer));
    put_or_die(kq_buf_put_u64(out, h->time_ms));
    put_or_die(kq_buf_put(out, h->tx_root.b, KQ_HASH_BYTES));
    put_or_die(kq_buf_put_u32(out, h->tx_count));
    put_or_die(kq_buf_put(out, h->state_root.b, KQ_HASH_BYTES));
    put_or_die(kq_buf_put(out, h->valset_hash.b, KQ_HASH_BYTES));
    put_or_die(kq_buf_put(out, h->next_valset_hash.b, KQ_HASH_BYTES));
    put_or_die(kq_buf_put(out, h->last_commit_hash.b, KQ_HASH_BYTES));
    KQ_ASSERT(out->wpos - start == KQ_HEADER_BYTES);
    return KQ_OK;
}

static enum kq_err header_read(struct kq_header *h, struct kq_buf *in)
{
    uint8_t version = 0;
    KQ_ENSURE(kq_buf_remaining(in) >= 1, KQ_ERR_TRUNCATED);
    KQ_GUARD(kq_buf_get_u8(in, &version));
    KQ_ENSURE(version == KQ_BLOCK_VERSION, KQ_ERR_VERSION);
    KQ_ENSURE(kq_buf_remaining(in) >= KQ_HEADER_BYTES - 1, KQ_ERR_TRUNCATED);
    KQ_GUARD(kq_buf_get(in, h->chain_id.b, KQ_HASH_BYTES));
    KQ_GUARD(kq_buf_get_u64(in, &h->height));
    KQ_GUARD(kq_buf_get_u32(in, &h->round));
    KQ_GUARD(kq_buf_get(in, h->parent.b, KQ_HASH_BYTES));
    KQ_GUARD(kq_buf_get_u32(in, &h->proposer));
    KQ_GUARD(kq_buf_get_u64(in, &h->time_ms));
    KQ_GUARD(kq_buf_get(in, h->tx_root.b, KQ_HASH_BYTES));
    KQ_GUARD(kq_buf_get_u32(in, &h->tx_count));
    KQ_GUARD(kq_buf_get(in, h->state_root.b, KQ_HASH_BYTES));
    KQ_GUARD(kq_buf_get(in, h->valset_hash.b, KQ_HASH_BYTES));
    KQ_GUARD(kq_buf_get(in, h->next_valset_hash.b, KQ_HASH_BYTES));
    KQ_GUARD(kq_buf_get(in, h->last_commit_hash.b, KQ_HASH_BYTES));
    KQ_ENSURE(h->height >= 1, KQ_ERR_FORMAT);
    return KQ_OK;
}

enum kq_err kq_header_decode(struct kq_header *h, const uint8_t *in, size_t len)
{
    KQ_ASSERT(h != NULL && (in != NULL || len == 0));
    struct kq_buf b;
    kq_buf_reader(&b, in, len);
    enum kq_err err = header_read(h, &b);
    if (err == KQ_OK)
        err = kq_buf_expect_end(&b);
    if (err != KQ_OK)
        memset(h, 0, sizeof *h);
    return err;
}

void kq_header_hash(const struct kq_header *h, kq_hash *out)
{
    uint8_t mem[KQ_HEADER_BYTES];
    struct kq_buf b;
    kq_buf_writer(&b, mem, sizeof mem);
    put_or_die(kq_header_encode(h, &b));
    kq_hash_tagged(out, "kq-ledger-v1/header", mem, sizeof mem);
}

void kq_block_tx_id(const uint8_t *tx, size_t len, kq_hash *out)
{
    kq_hash_tagged(out, "kq-ledger-v1/txid", tx, len);
}

/* ---- votes ---- */

static void vote_fields(const struct kq_vote *v, struct kq_buf *b)
{
    put_or_die(kq_buf_put_u8(b, v->type));
    put_or_die(kq_buf_put_u64(b, v->height));
    put_or_die(kq_buf_put_u32(b, v->round));
    put_or_die(kq_buf_put_u8(b, v->has_block ? 1 : 0));
    put_or_die(kq_buf_put(b, v->block.b, KQ_HASH_BYTES));
    put_or_die(kq_buf_put_u64(b, v->timestamp_ms));
    put_or_die(kq_buf_put_u32(b, v->validator));
}

enum kq_err kq_vote_encode(const struct kq_vote *v, struct kq_buf *out)
{
    KQ_ASSERT(v != NULL && out != NULL);
    KQ_ENSURE(kq_buf_room(out) >= KQ_VOTE_BYTES, KQ_ERR_OVERFLOW);
    put_or_die(kq_buf_put_u8(out, KQ_BLOCK_VERSION));
    vote_fields(v, out);
    put_or_die(kq_buf_put(out, v->sig, KQ_LEDGER_SIG_BYTES));
    return KQ_OK;
}

static enum kq_err vote_read(struct kq_vote *v, struct kq_buf *in)
{
    uint8_t version = 0, has = 0;
    KQ_GUARD(kq_buf_get_u8(in, &version));
    KQ_ENSURE(version == KQ_BLOCK_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_u8(in, &v->type));
    KQ_GUARD(kq_buf_get_u64(in, &v->height));
    KQ_GUARD(kq_buf_get_u32(in, &v->round));
    KQ_GUARD(kq_buf_get_u8(in, &has));
    KQ_GUARD(kq_buf_get(in, v->block.b, KQ_HASH_BYTES));
    KQ_GUARD(kq_buf_get_u64(in, &v->timestamp_ms));
    KQ_GUARD(kq_buf_get_u32(in, &v->validator));
    KQ_GUARD(kq_buf_get(in, v->sig, KQ_LEDGER_SIG_BYTES));
    KQ_ENSURE(v->type == KQ_VOTE_PREVOTE || v->type == KQ_VOTE_PRECOMMIT, KQ_ERR_FORMAT);
    KQ_ENSURE(has <= 1 && (has == 1 || kq_hash_is_zero(&v->block)), KQ_ERR_FORMAT);
    KQ_ENSURE(v->height >= 1 && v->round != KQ_ROUND_NONE, KQ_ERR_FORMAT);
    v->has_block = has == 1;
    return KQ_OK;
}

enum kq_err kq_vote_decode(struct kq_vote *v, const uint8_t *in, size_t len)
{
    KQ_ASSERT(v != NULL && (in != NULL || len == 0));
    struct kq_buf b;
    kq_buf_reader(&b, in, len);
    enum kq_err err = vote_read(v, &b);
    if (err == KQ_OK)
        err = kq_buf_expect_end(&b);
    if (err != KQ_OK)
        memset(v, 0, sizeof *v);
    return err;
}

static size_t vote_msg(const struct kq_vote *v, const kq_hash *chain_id, uint8_t *mem)
{
    struct kq_buf b;
    msg_start(&b, mem, VOTE_TAG, chain_id);
    vote_fields(v, &b);
    return kq_buf_len(&b);
}

void kq_vote_sign(struct kq_vote *v, const kq_hash *chain_id, const struct kq_ledger_crypto *c)
{
    KQ_ASSERT(v != NULL && chain_id != NULL && c != NULL && c->sign != NULL);
    uint8_t mem[SIGN_MSG_MAX];
    size_t n = vote_msg(v, chain_id, mem);
    c->sign(c->sign_ctx, mem, n, v->sig);
}

enum kq_err kq_vote_verify(const struct kq_vote *v, const kq_hash *chain_id,
                           const uint8_t pk[KQ_LEDGER_PK_BYTES], const struct kq_ledger_crypto *c)
{
    KQ_ASSERT(v != NULL && chain_id != NULL && pk != NULL && c != NULL && c->verify != NULL);
    uint8_t mem[SIGN_MSG_MAX];
    size_t n = vote_msg(v, chain_id, mem);
    return c->verify(c->verify_ctx, pk, mem, n, v->sig) ? KQ_OK : KQ_ERR_BAD_SIGNATURE;
}

/* ---- certificates ---- */

enum kq_err kq_cert_encode(const struct kq_cert *c, struct kq_buf *out)
{
    KQ_ASSERT(c != NULL && out != NULL && c->count <= KQ_LEDGER_MAX_VALIDATORS);
    KQ_ENSURE(kq_buf_room(out) >= KQ_CERT_BYTES(c->count), KQ_ERR_OVERFLOW);
    put_or_die(kq_buf_put_u8(out, KQ_BLOCK_VERSION));
    put_or_die(kq_buf_put_u64(out, c->height));
    put_or_die(kq_buf_put_u32(out, c->round));
    put_or_die(kq_buf_put(out, c->block.b, KQ_HASH_BYTES));
    put_or_die(kq_buf_put_u16(out, (uint16_t)c->count));
    for (uint32_t i = 0; i < c->count; i++) {
        put_or_die(kq_buf_put_u32(out, c->sigs[i].validator));
        put_or_die(kq_buf_put_u64(out, c->sigs[i].timestamp_ms));
        put_or_die(kq_buf_put(out, c->sigs[i].sig, KQ_LEDGER_SIG_BYTES));
    }
    return KQ_OK;
}

static enum kq_err cert_read(struct kq_cert *c, struct kq_buf *in)
{
    uint8_t version = 0;
    uint16_t count = 0;
    KQ_GUARD(kq_buf_get_u8(in, &version));
    KQ_ENSURE(version == KQ_BLOCK_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_u64(in, &c->height));
    KQ_GUARD(kq_buf_get_u32(in, &c->round));
    KQ_GUARD(kq_buf_get(in, c->block.b, KQ_HASH_BYTES));
    KQ_GUARD(kq_buf_get_u16(in, &count));
    KQ_ENSURE(count >= 1 && c->height >= 1 && c->round != KQ_ROUND_NONE, KQ_ERR_FORMAT);
    KQ_ENSURE(count <= KQ_LEDGER_MAX_VALIDATORS, KQ_ERR_LIMIT);
    for (uint32_t i = 0; i < count; i++) {
        struct kq_cert_sig *s = &c->sigs[i];
        KQ_GUARD(kq_buf_get_u32(in, &s->validator));
        KQ_GUARD(kq_buf_get_u64(in, &s->timestamp_ms));
        KQ_GUARD(kq_buf_get(in, s->sig, KQ_LEDGER_SIG_BYTES));
        KQ_ENSURE(i == 0 || s->validator > c->sigs[i - 1].validator, KQ_ERR_FORMAT);
    }
    c->count = count;
    return KQ_OK;
}

enum kq_err kq_cert_read(struct kq_cert *c, struct kq_buf *in)
{
    KQ_ASSERT(c != NULL && in != NULL);
    size_t rpos = in->rpos;
    enum kq_err err = cert_read(c, in);
    if (err != KQ_OK) {
        in->rpos = rpos;
        memset(c, 0, sizeof *c);
    }
    return err;
}

enum kq_err kq_cert_decode(struct kq_cert *c, const uint8_t *in, size_t len)
{
    KQ_ASSERT(c != NULL && (in != NULL || len == 0));
    struct kq_buf b;
    kq_buf_reader(&b, in, len);
    KQ_GUARD(kq_cert_read(c, &b));
    enum kq_err err = kq_buf_expect_end(&b);
    if (err != KQ_OK)
        memset(c, 0, sizeof *c);
    return err;
}

void kq_cert_hash(const struct kq_cert *c, kq_hash *out)
{
    KQ_ASSERT(c != NULL && out != NULL && c->count <= KQ_LEDGER_MAX_VALIDATORS);
    static const uint8_t version = KQ_BLOCK_VERSION;
    struct kq_hasher h;
    kq_hasher_init(&h, "kq-ledger-v1/cert");
    kq_hasher_put(&h, &version, 1);
    kq_hasher_put_u64(&h, c->height);
    kq_hasher_put_u32(&h, c->round);
    kq_hasher_put(&h, c->block.b, KQ_HASH_BYTES);
    kq_hasher_put_u32(&h, c->count);
    for (uint32_t i = 0; i < c->count; i++) {
        kq_hasher_put_u32(&h, c->sigs[i].validator);
        kq_hasher_put_u64(&h, c->sigs[i].timestamp_ms);
        kq_hasher_put(&h, c->sigs[i].sig, KQ_LEDGER_SIG_BYTES);
    }
    kq_hasher_final(&h, out);
}

static enum kq_err votes_verify(const struct kq_cert *c, const kq_hash *chain_id, uint64_t height,
                                const kq_hash *block, const struct kq_valset *vs,
                                const struct kq_ledger_crypto *crypto, uint8_t type)
{
    KQ_ASSERT(c != NULL && chain_id != NULL && block != NULL && vs != NULL && crypto != NULL);
    KQ_ASSERT(c->count <= KQ_LEDGER_MAX_VALIDATORS);
    KQ_ENSURE(c->height == height && kq_hash_eq(&c->block, block), KQ_ERR_BAD_PROOF);
    for (uint32_t i = 1; i < c->count; i++) /* distinct signers (the decoder sorts them too) */
        KQ_ENSURE(c->sigs[i].validator > c->sigs[i - 1].validator, KQ_ERR_FORMAT);
    for (uint32_t i = 0; i < c->count; i++)
        KQ_ENSURE(kq_valset_index(vs, c->sigs[i].validator) >= 0, KQ_ERR_BAD_SIGNATURE);
    KQ_ENSURE(c->count >= kq_valset_quorum(vs), KQ_ERR_THRESHOLD);
    for (uint32_t i = 0; i < c->count; i++) {
        struct kq_vote v = {.type = type,
                            .height = c->height,
                            .round = c->round,
                            .has_block = true,
                            .block = c->block,
                            .timestamp_ms = c->sigs[i].timestamp_ms,
                            .validator = c->sigs[i].validator};
        memcpy(v.sig, c->sigs[i].sig, KQ_LEDGER_SIG_BYTES);
        int32_t idx = kq_valset_index(vs, v.validator);
        KQ_ASSERT(idx >= 0);
        KQ_GUARD(kq_vote_verify(&v, chain_id, vs->v[idx].pk, crypto));
    }
    return KQ_OK;
}

enum kq_err kq_cert_verify(const struct kq_cert *c, const kq_hash *chain_id, uint64_t height,
                           const kq_hash *block, const struct kq_valset *vs,
                           const struct kq_ledger_crypto *crypto)
{
    return votes_verify(c, chain_id, height, block, vs, crypto, KQ_VOTE_PRECOMMIT);
}

enum kq_err kq_pol_verify(const struct kq_cert *c, const kq_hash *chain_id, uint64_t height,
                          uint32_t round, const kq_hash *block, const struct kq_valset *vs,
                          const struct kq_ledger_crypto *crypto)
{
    KQ_ASSERT(c != NULL);
    KQ_ENSURE(c->round == round, KQ_ERR_BAD_PROOF);
    return votes_verify(c, chain_id, height, block, vs, crypto, KQ_VOTE_PREVOTE);
}

uint64_t kq_cert_median_time(const struct kq_cert *c)
{
    KQ_ASSERT(c != NULL && c->count >= 1 && c->count <= KQ_LEDGER_MAX_VALIDATORS);
    uint64_t t[KQ_LEDGER_MAX_VALIDATORS];
    for (uint32_t i = 0; i < c->count; i++) { /* insertion sort: count is small */
        uint64_t x = c->sigs[i].timestamp_ms;
        uint32_t j = i;
        for (; j > 0 && t[j - 1] > x; j--)
            t[j] = t[j - 1];
        t[j] = x;
    }
    return t[(c->count - 1) / 2];
}

/* ---- blocks ---- */

enum kq_err kq_block_encode(const struct kq_block *b, struct kq_buf *out)
{
    KQ_ASSERT(b != NULL && out != NULL);
    KQ_ENSURE(b->n_txs <= KQ_LEDGER_MAX_BLOCK_TXS, KQ_ERR_LIMIT);
    size_t total = 0, need = KQ_HEADER_BYTES + 4 + 1;
    for (uint32_t i = 0; i < b->n_txs; i++) {
        KQ_ASSERT(b->txs[i].data != NULL && b->txs[i].len <= KQ_LEDGER_TX_MAX_BYTES);
        total += b->txs[i].len;
        KQ_ENSURE(total <= KQ_LEDGER_MAX_BLOCK_TX_BYTES, KQ_ERR_LIMIT);
    }
    need += total + 4 * (size_t)b->n_txs;
    if (b->has_last_commit)
        need += KQ_CERT_BYTES(b->last_commit.count);
    KQ_ENSURE(kq_buf_room(out) >= need, KQ_ERR_OVERFLOW);
    put_or_die(kq_header_encode(&b->header, out));
    put_or_die(kq_buf_put_u32(out, b->n_txs));
    for (uint32_t i = 0; i < b->n_txs; i++) {
        put_or_die(kq_buf_put_u32(out, (uint32_t)b->txs[i].len));
        put_or_die(kq_buf_put(out, b->txs[i].data, b->txs[i].len));
    }
    put_or_die(kq_buf_put_u8(out, b->has_last_commit ? 1 : 0));
    if (b->has_last_commit)
        put_or_die(kq_cert_encode(&b->last_commit, out));
    return KQ_OK;
}

static enum kq_err block_txs_read(struct kq_block *b, struct kq_buf *in)
{
    size_t total = 0;
    KQ_GUARD(kq_buf_get_u32(in, &b->n_txs));
    KQ_ENSURE(b->n_txs <= KQ_LEDGER_MAX_BLOCK_TXS, KQ_ERR_LIMIT);
    KQ_ENSURE(b->n_txs == b->header.tx_count, KQ_ERR_FORMAT);
    for (uint32_t i = 0; i < b->n_txs; i++) {
        uint32_t len = 0;
        KQ_GUARD(kq_buf_get_u32(in, &len));
        KQ_ENSURE(len >= 1, KQ_ERR_FORMAT);
        KQ_ENSURE(len <= KQ_LEDGER_TX_MAX_BYTES, KQ_ERR_LIMIT);
        total += len;
        KQ_ENSURE(total <= KQ_LEDGER_MAX_BLOCK_TX_BYTES, KQ_ERR_LIMIT);
        KQ_GUARD(kq_buf_get_ptr(in, &b->txs[i].data, len));
        b->txs[i].len = len;
    }
    return KQ_OK;
}

static enum kq_err block_read(struct kq_block *b, struct kq_buf *in)
{
    uint8_t has = 0;
    KQ_GUARD(header_read(&b->header, in));
    KQ_GUARD(block_txs_read(b, in));
    KQ_GUARD(kq_buf_get_u8(in, &has));
    KQ_ENSURE(has <= 1 && (has == 1) == (b->header.height > 1), KQ_ERR_FORMAT);
    b->has_last_commit = has == 1;
    if (b->has_last_commit)
        KQ_GUARD(kq_cert_read(&b->last_commit, in));
    return kq_buf_expect_end(in);
}

enum kq_err kq_block_decode(struct kq_block *b, const uint8_t *in, size_t len)
{
    KQ_ASSERT(b != NULL && (in != NULL || len == 0));
    struct kq_buf buf;
    kq_buf_reader(&buf, in, len);
    memset(b, 0, sizeof *b);
    enum kq_err err = block_read(b, &buf);
    if (err != KQ_OK)
        memset(b, 0, sizeof *b);
    return err;
}

enum kq_err kq_block_tx_root(const struct kq_block *b, kq_hash *root)
{
    KQ_ASSERT(b != NULL && root != NULL && b->n_txs <= KQ_LEDGER_MAX_BLOCK_TXS);
    kq_hash ids[KQ_LEDGER_MAX_BLOCK_TXS];
    for (uint32_t i = 0; i < b->n_txs; i++)
        kq_block_tx_id(b->txs[i].data, b->txs[i].len, &ids[i]);
    return kq_merkle_root(ids, b->n_txs, root);
}

/* ---- proposals ---- */

enum kq_err kq_proposal_encode(const struct kq_proposal *p, struct kq_buf *out)
{
    KQ_ASSERT(p != NULL && out != NULL && (p->block != NULL || p->block_len == 0));
    KQ_ASSERT(p->pol != NULL || p->pol_len == 0);
    KQ_ENSURE(p->block_len <= KQ_BLOCK_MAX_BYTES && p->pol_len <= KQ_CERT_MAX_BYTES, KQ_ERR_LIMIT);
    KQ_ENSURE((p->pol_len > 0) == (p->pol_round != KQ_ROUND_NONE), KQ_ERR_INVALID_ARG);
    KQ_ENSURE(kq_buf_room(out) >= KQ_PROPOSAL_OVERHEAD + p->block_len + p->pol_len,
              KQ_ERR_OVERFLOW);
    put_or_die(kq_buf_put_u8(out, KQ_BLOCK_VERSION));
    put_or_die(kq_buf_put_u64(out, p->height));
    put_or_die(kq_buf_put_u32(out, p->round));
    put_or_die(kq_buf_put_u32(out, p->pol_round));
    put_or_die(kq_buf_put_u32(out, p->proposer));
    put_or_die(kq_buf_put(out, p->sig, KQ_LEDGER_SIG_BYTES));
    put_or_die(kq_buf_put_u32(out, (uint32_t)p->block_len));
    put_or_die(kq_buf_put(out, p->block, p->block_len));
    put_or_die(kq_buf_put(out, p->pol, p->pol_len));
    return KQ_OK;
}

static enum kq_err proposal_read(struct kq_proposal *p, struct kq_buf *in)
{
    uint8_t version = 0;
    uint32_t len = 0;
    KQ_GUARD(kq_buf_get_u8(in, &version));
    KQ_ENSURE(version == KQ_BLOCK_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_u64(in, &p->height));
    KQ_GUARD(kq_buf_get_u32(in, &p->round));
    KQ_GUARD(kq_buf_get_u32(in, &p->pol_round));
    KQ_GUARD(kq_buf_get_u32(in, &p->proposer));
    KQ_GUARD(kq_buf_get(in, p->sig, KQ_LEDGER_SIG_BYTES));
    KQ_GUARD(kq_buf_get_u32(in, &len));
    KQ_ENSURE(p->height >= 1 && p->round != KQ_ROUND_NONE, KQ_ERR_FORMAT);
    KQ_ENSURE(p->pol_round == KQ_ROUND_NONE || p->pol_round < p->round, KQ_ERR_FORMAT);
    KQ_ENSURE(len <= KQ_BLOCK_MAX_BYTES, KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_get_ptr(in, &p->block, len));
    p->block_len = len;
    p->pol_len = kq_buf_remaining(in);
    KQ_ENSURE((p->pol_len > 0) == (p->pol_round != KQ_ROUND_NONE), KQ_ERR_FORMAT);
    KQ_ENSURE(p->pol_len <= KQ_CERT_MAX_BYTES, KQ_ERR_LIMIT);
    return kq_buf_get_ptr(in, &p->pol, p->pol_len);
}

enum kq_err kq_proposal_decode(struct kq_proposal *p, const uint8_t *in, size_t len)
{
    KQ_ASSERT(p != NULL && (in != NULL || len == 0));
    struct kq_buf b;
    kq_buf_reader(&b, in, len);
    enum kq_err err = proposal_read(p, &b);
    if (err != KQ_OK)
        memset(p, 0, sizeof *p);
    return err;
}

static size_t proposal_msg(const struct kq_proposal *p, const kq_hash *chain_id,
                           const kq_hash *block, uint8_t *mem)
{
    struct kq_buf b;
    msg_start(&b, mem, PROPOSAL_TAG, chain_id);
    put_or_die(kq_buf_put_u64(&b, p->height));
    put_or_die(kq_buf_put_u32(&b, p->round));
    put_or_die(kq_buf_put_u32(&b, p->pol_round));
    put_or_die(kq_buf_put_u32(&b, p->proposer));
    put_or_die(kq_buf_put(&b, block->b, KQ_HASH_BYTES));
    return kq_buf_len(&b);
}

void kq_proposal_sign(struct kq_proposal *p, const kq_hash *chain_id, const kq_hash *block,
                      const struct kq_ledger_crypto *c)
{
    KQ_ASSERT(p != NULL && chain_id != NULL && block != NULL && c != NULL && c->sign != NULL);
    uint8_t mem[SIGN_MSG_MAX];
    size_t n = proposal_msg(p, chain_id, block, mem);
    c->sign(c->sign_ctx, mem, n, p->sig);
}

enum kq_err kq_proposal_verify(const struct kq_proposal *p, const kq_hash *chain_id,
                               const kq_hash *block, const uint8_t pk[KQ_LEDGER_PK_BYTES],
                               const struct kq_ledger_crypto *c)
{
    KQ_ASSERT(p != NULL && chain_id != NULL && block != NULL && pk != NULL && c != NULL);
    uint8_t mem[SIGN_MSG_MAX];
    size_t n = proposal_msg(p, chain_id, block, mem);
    return c->verify(c->verify_ctx, pk, mem, n, p->sig) ? KQ_OK : KQ_ERR_BAD_SIGNATURE;
}
