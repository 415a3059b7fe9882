/* Ledger frame codecs (block request, block response, tx gossip, state sync; proposals and votes
 * are the block.h encodings). Invariants: encoders write all or nothing; decoders consume
 * everything or fail with zeroed outputs. */
#include "wire/ledger_msg.h"

#include <string.h>

bool kq_ledger_frame_is(uint16_t type)
{
    return type >= KQ_FRAME_LEDGER_PROPOSAL && type <= KQ_FRAME_LEDGER_CHUNK;
}

enum kq_err kq_block_req_encode(uint64_t height, struct kq_buf *out)
{
    KQ_ASSERT(out != NULL);
    KQ_ENSURE(height >= 1, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(kq_buf_room(out) >= KQ_BLOCK_REQ_BYTES, KQ_ERR_OVERFLOW);
    KQ_GUARD(kq_buf_put_u8(out, KQ_LEDGER_MSG_VERSION));
    return kq_buf_put_u64(out, height);
}

static enum kq_err block_req_read(uint64_t *height, struct kq_buf *in)
{
    uint8_t version = 0;
    KQ_GUARD(kq_buf_get_u8(in, &version));
    KQ_ENSURE(version == KQ_LEDGER_MSG_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_u64(in, height));
    KQ_ENSURE(*height >= 1, KQ_ERR_FORMAT);
    return kq_buf_expect_end(in);
}

enum kq_err kq_block_req_decode(uint64_t *height, const uint8_t *in, size_t len)
{
    KQ_ASSERT(height != NULL && (in != NULL || len == 0));
    struct kq_buf b;
    kq_buf_reader(&b, in, len);
    enum kq_err err = block_req_read(height, &b);
    if (err != KQ_OK)
        *height = 0;
    return err;
}

enum kq_err kq_block_resp_encode(const uint8_t *block, size_t block_len, const struct kq_cert *cert,
                                 struct kq_buf *out)
{
    KQ_ASSERT(block != NULL && cert != NULL && out != NULL);
    KQ_ENSURE(block_len <= KQ_BLOCK_MAX_BYTES, KQ_ERR_LIMIT);
    KQ_ENSURE(kq_buf_room(out) >= 5 + block_len + KQ_CERT_BYTES(cert->count), KQ_ERR_OVERFLOW);
    KQ_GUARD(kq_buf_put_u8(out, KQ_LEDGER_MSG_VERSION));
    KQ_GUARD(kq_buf_put_u32(out, (uint32_t)block_len));
    KQ_GUARD(kq_buf_put(out, block, block_len));
    return kq_cert_encode(cert, out);
}

static enum kq_err block_resp_read(const uint8_t **block, size_t *block_len, struct kq_cert *cert,
                                   struct kq_buf *in)
{
    uint8_t version = 0;
    uint32_t n = 0;
    KQ_GUARD(kq_buf_get_u8(in, &version));
    KQ_ENSURE(version == KQ_LEDGER_MSG_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_u32(in, &n));
    KQ_ENSURE(n <= KQ_BLOCK_MAX_BYTES, KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_get_ptr(in, block, n));
    *block_len = n;
    KQ_GUARD(kq_cert_read(cert, in));
    return kq_buf_expect_end(in);
}

enum kq_err kq_block_resp_decode(const uint8_t **block, size_t *block_len, struct kq_cert *cert,
                                 const uint8_t *in, size_t len)
{
    KQ_ASSERT(block != NULL && block_len != NULL && cert != NULL && (in != NULL || len == 0));
    struct kq_buf b;
    kq_buf_reader(&b, in, len);
    enum kq_err err = block_resp_read(block, block_len, cert, &b);
    if (err != KQ_OK) {
        *block = NULL;
        *block_len = 0;
        memset(cert, 0, sizeof *cert);
    }
    return err;
}

enum kq_err kq_tx_msg_encode(const uint8_t *tx, size_t len, struct kq_buf *out)
{
    KQ_ASSERT(tx != NULL && out != NULL);
    KQ_ENSURE(len >= 1, KQ_ERR_FORMAT);
    KQ_ENSURE(len <= KQ_LEDGER_TX_MAX_BYTES, KQ_ERR_LIMIT);
    KQ_ENSURE(kq_buf_room(out) >= 1 + len, KQ_ERR_OVERFLOW);
    KQ_GUARD(kq_buf_put_u8(out, KQ_LEDGER_MSG_VERSION));
    return kq_buf_put(out, tx, len);
}

enum kq_err kq_tx_msg_decode(const uint8_t **tx, size_t *tx_len, const uint8_t *in, size_t len)
{
    KQ_ASSERT(tx != NULL && tx_len != NULL && (in != NULL || len == 0));
    *tx = NULL;
    *tx_len = 0;
    KQ_ENSURE(len >= 1, KQ_ERR_TRUNCATED);
    KQ_ENSURE(in[0] == KQ_LEDGER_MSG_VERSION, KQ_ERR_VERSION);
    KQ_ENSURE(len >= 2, KQ_ERR_FORMAT);
    KQ_ENSURE(len - 1 <= KQ_LEDGER_TX_MAX_BYTES, KQ_ERR_LIMIT);
    *tx = in + 1;
    *tx_len = len - 1;
    return KQ_OK;
}

/* ---- state sync ---- */

enum kq_err kq_snapshot_req_encode(uint64_t height, struct kq_buf *out)
{
    KQ_ASSERT(out != NULL);
    KQ_ENSURE(kq_buf_room(out) >= KQ_SNAPSHOT_REQ_BYTES, KQ_ERR_OVERFLOW);
    KQ_GUARD(kq_buf_put_u8(out, KQ_LEDGER_MSG_VERSION));
    return kq_buf_put_u64(out, height);
}

enum kq_err kq_snapshot_req_decode(uint64_t *height, const uint8_t *in, size_t len)
{
    KQ_ASSERT(height != NULL && (in != NULL || len == 0));
    struct kq_buf b;
    uint8_t version = 0;
    kq_buf_reader(&b, in, len);
    enum kq_err err = kq_buf_get_u8(&b, &version);
    if (err == KQ_OK && version != KQ_LEDGER_MSG_VERSION)
        err = KQ_ERR_VERSION;
    if (err == KQ_OK)
        err = kq_buf_get_u64(&b, height);
    if (err == KQ_OK)
        err = kq_buf_expect_end(&b);
    if (err != KQ_OK)
        *height = 0;
    return err;
}

enum kq_err kq_chunk_req_encode(uint64_t height, const kq_hash *from, struct kq_buf *out)
{
    KQ_ASSERT(from != NULL && out != NULL);
    KQ_ENSURE(height >= 1, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(kq_buf_room(out) >= KQ_CHUNK_REQ_BYTES, KQ_ERR_OVERFLOW);
    KQ_GUARD(kq_buf_put_u8(out, KQ_LEDGER_MSG_VERSION));
    KQ_GUARD(kq_buf_put_u64(out, height));
    return kq_buf_put(out, from->b, KQ_HASH_BYTES);
}

static enum kq_err chunk_req_read(uint64_t *height, kq_hash *from, struct kq_buf *in)
{
    uint8_t version = 0;
    KQ_GUARD(kq_buf_get_u8(in, &version));
    KQ_ENSURE(version == KQ_LEDGER_MSG_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_u64(in, height));
    KQ_ENSURE(*height >= 1, KQ_ERR_FORMAT);
    KQ_GUARD(kq_buf_get(in, from->b, KQ_HASH_BYTES));
    return kq_buf_expect_end(in);
}

enum kq_err kq_chunk_req_decode(uint64_t *height, kq_hash *from, const uint8_t *in, size_t len)
{
    KQ_ASSERT(height != NULL && from != NULL && (in != NULL || len == 0));
    struct kq_buf b;
    kq_buf_reader(&b, in, len);
    enum kq_err err = chunk_req_read(height, from, &b);
    if (err != KQ_OK) {
        *height = 0;
        memset(from, 0, sizeof *from);
    }
    return err;
}

static bool head_shape_ok(const struct kq_snapshot_head *h)
{
    return h->height >= 1 && h->n <= KQ_LEDGER_SYNC_WINDOW && h->n <= h->height - 1 &&
           h->rec_len >= 1;
}

enum kq_err kq_snapshot_head_encode(const struct kq_snapshot_head *h, struct kq_buf *out)
{
    KQ_ASSERT(h != NULL && out != NULL && h->rec != NULL);
    KQ_ENSURE(head_shape_ok(h), KQ_ERR_INVALID_ARG);
    KQ_ENSURE(h->rec_len <= KQ_BLOCK_RESP_MAX_BYTES, KQ_ERR_LIMIT);
    size_t need = 1 + 8 + 4 + h->rec_len + 1;
    for (uint32_t i = 0; i < h->n; i++) {
        KQ_ENSURE(h->cert_lens[i] <= KQ_CERT_MAX_BYTES, KQ_ERR_LIMIT);
        need += KQ_HEADER_BYTES + 4 + h->cert_lens[i];
    }
    KQ_ENSURE(kq_buf_room(out) >= need, KQ_ERR_OVERFLOW);
    KQ_GUARD(kq_buf_put_u8(out, KQ_LEDGER_MSG_VERSION));
    KQ_GUARD(kq_buf_put_u64(out, h->height));
    KQ_GUARD(kq_buf_put_u32(out, (uint32_t)h->rec_len));
    KQ_GUARD(kq_buf_put(out, h->rec, h->rec_len));
    KQ_GUARD(kq_buf_put_u8(out, (uint8_t)h->n));
    for (uint32_t i = 0; i < h->n; i++) {
        KQ_GUARD(kq_buf_put(out, h->headers[i], KQ_HEADER_BYTES));
        KQ_GUARD(kq_buf_put_u32(out, (uint32_t)h->cert_lens[i]));
        if (h->cert_lens[i] > 0)
            KQ_GUARD(kq_buf_put(out, h->certs[i], h->cert_lens[i]));
    }
    return KQ_OK;
}

static enum kq_err head_read(struct kq_snapshot_head *h, struct kq_buf *in)
{
    uint8_t version = 0, n = 0;
    uint32_t len = 0;
    KQ_GUARD(kq_buf_get_u8(in, &version));
    KQ_ENSURE(version == KQ_LEDGER_MSG_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_u64(in, &h->height));
    KQ_GUARD(kq_buf_get_u32(in, &len));
    KQ_ENSURE(len <= KQ_BLOCK_RESP_MAX_BYTES, KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_get_ptr(in, &h->rec, len));
    h->rec_len = len;
    KQ_GUARD(kq_buf_get_u8(in, &n));
    h->n = n;
    KQ_ENSURE(head_shape_ok(h), KQ_ERR_FORMAT);
    for (uint32_t i = 0; i < h->n; i++) {
        KQ_GUARD(kq_buf_get_ptr(in, &h->headers[i], KQ_HEADER_BYTES));
        KQ_GUARD(kq_buf_get_u32(in, &len));
        KQ_ENSURE(len <= KQ_CERT_MAX_BYTES, KQ_ERR_LIMIT);
        h->cert_lens[i] = len;
        if (len > 0)
            KQ_GUARD(kq_buf_get_ptr(in, &h->certs[i], len));
    }
    return kq_buf_expect_end(in);
}

enum kq_err kq_snapshot_head_decode(struct kq_snapshot_head *h, const uint8_t *in, size_t len)
{
    KQ_ASSERT(h != NULL && (in != NULL || len == 0));
    struct kq_buf b;
    memset(h, 0, sizeof *h);
    kq_buf_reader(&b, in, len);
    enum kq_err err = head_read(h, &b);
    if (err != KQ_OK)
        memset(h, 0, sizeof *h);
    return err;
}

enum kq_err kq_chunk_pair_put(const uint8_t *key, size_t key_len, const uint8_t *value,
                              size_t value_len, struct kq_buf *out)
{
    KQ_ASSERT(key != NULL && (value != NULL || value_len == 0) && out != NULL);
    KQ_ENSURE(key_len >= 1 && key_len <= KQ_LEDGER_MAX_KEY_BYTES, KQ_ERR_LIMIT);
    KQ_ENSURE(value_len <= KQ_LEDGER_MAX_VALUE_BYTES, KQ_ERR_LIMIT);
    KQ_ENSURE(kq_buf_room(out) >= 6 + key_len + value_len, KQ_ERR_OVERFLOW);
    KQ_GUARD(kq_buf_put_u16(out, (uint16_t)key_len));
    KQ_GUARD(kq_buf_put(out, key, key_len));
    KQ_GUARD(kq_buf_put_u32(out, (uint32_t)value_len));
    return value_len > 0 ? kq_buf_put(out, value, value_len) : KQ_OK;
}

enum kq_err kq_chunk_pair_next(struct kq_buf *pairs, const uint8_t **key, size_t *key_len,
                               const uint8_t **value, size_t *value_len)
{
    uint16_t kl = 0;
    uint32_t vl = 0;
    KQ_ASSERT(pairs != NULL && key != NULL && key_len != NULL && value != NULL &&
              value_len != NULL);
    KQ_GUARD(kq_buf_get_u16(pairs, &kl));
    KQ_ENSURE(kl >= 1 && kl <= KQ_LEDGER_MAX_KEY_BYTES, KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_get_ptr(pairs, key, kl));
    KQ_GUARD(kq_buf_get_u32(pairs, &vl));
    KQ_ENSURE(vl <= KQ_LEDGER_MAX_VALUE_BYTES, KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_get_ptr(pairs, value, vl));
    *key_len = kl;
    *value_len = vl;
    return KQ_OK;
}

/* Every pair of the area decodes, there are exactly n, and the area is in its bound. */
static enum kq_err pairs_check(const struct kq_state_chunk *c)
{
    struct kq_buf b;
    const uint8_t *k, *v;
    size_t kl, vl;
    KQ_ENSURE(c->pairs_len <= KQ_LEDGER_SYNC_CHUNK_BYTES + KQ_CHUNK_PAIR_MAX_BYTES, KQ_ERR_LIMIT);
    kq_buf_reader(&b, c->pairs, c->pairs_len);
    for (uint32_t i = 0; i < c->n; i++)
        KQ_GUARD(kq_chunk_pair_next(&b, &k, &kl, &v, &vl));
    return kq_buf_expect_end(&b);
}

static bool chunk_shape_ok(const struct kq_state_chunk *c)
{
    static const kq_hash zero;
    if (c->height < 1 || (c->n == 0 && c->more))
        return false;
    if (!c->more)
        return memcmp(c->next.b, zero.b, KQ_HASH_BYTES) == 0;
    return memcmp(c->next.b, c->from.b, KQ_HASH_BYTES) > 0;
}

enum kq_err kq_state_chunk_encode(const struct kq_state_chunk *c, struct kq_buf *out)
{
    KQ_ASSERT(c != NULL && out != NULL && (c->pairs != NULL || c->pairs_len == 0));
    KQ_ENSURE(chunk_shape_ok(c), KQ_ERR_INVALID_ARG);
    KQ_GUARD(pairs_check(c));
    KQ_ENSURE(kq_buf_room(out) >= 1 + 8 + 2 * KQ_HASH_BYTES + 1 + 4 + c->pairs_len,
              KQ_ERR_OVERFLOW);
    KQ_GUARD(kq_buf_put_u8(out, KQ_LEDGER_MSG_VERSION));
    KQ_GUARD(kq_buf_put_u64(out, c->height));
    KQ_GUARD(kq_buf_put(out, c->from.b, KQ_HASH_BYTES));
    KQ_GUARD(kq_buf_put_u8(out, c->more ? 1 : 0));
    KQ_GUARD(kq_buf_put(out, c->next.b, KQ_HASH_BYTES));
    KQ_GUARD(kq_buf_put_u32(out, c->n));
    return c->pairs_len > 0 ? kq_buf_put(out, c->pairs, c->pairs_len) : KQ_OK;
}

static enum kq_err chunk_read(struct kq_state_chunk *c, struct kq_buf *in)
{
    uint8_t version = 0, more = 0;
    KQ_GUARD(kq_buf_get_u8(in, &version));
    KQ_ENSURE(version == KQ_LEDGER_MSG_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_u64(in, &c->height));
    KQ_GUARD(kq_buf_get(in, c->from.b, KQ_HASH_BYTES));
    KQ_GUARD(kq_buf_get_u8(in, &more));
    KQ_ENSURE(more <= 1, KQ_ERR_FORMAT);
    c->more = more == 1;
    KQ_GUARD(kq_buf_get(in, c->next.b, KQ_HASH_BYTES));
    KQ_GUARD(kq_buf_get_u32(in, &c->n));
    KQ_ENSURE(chunk_shape_ok(c), KQ_ERR_FORMAT);
    c->pairs_len = kq_buf_remaining(in);
    KQ_GUARD(kq_buf_get_ptr(in, &c->pairs, c->pairs_len));
    return pairs_check(c);
}

enum kq_err kq_state_chunk_decode(struct kq_state_chunk *c, const uint8_t *in, size_t len)
{
    KQ_ASSERT(c != NULL && (in != NULL || len == 0));
    struct kq_buf b;
    memset(c, 0, sizeof *c);
    kq_buf_reader(&b, in, len);
    enum kq_err err = chunk_read(c, &b);
    if (err != KQ_OK)
        memset(c, 0, sizeof *c);
    return err;
}
