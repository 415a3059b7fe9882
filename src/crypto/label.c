/* Canonical label encoding. Layout (all through struct kq_buf, big-endian lengths):
 *   bytes16(tag) bytes16(key id) u32(version) u8(purpose) u16(npairs) {bytes16(key) bytes16(value)}
 * with pairs sorted by key bytes (memcmp order, a proper prefix first). Keys are unique. */
#include "crypto/label.h"

#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "crypto/group.h"

/* Fixed part: tag, key id, version, purpose, pair count, each with its length prefix. */
#define LABEL_FIXED_BYTES (2 + sizeof KQ_LABEL_TAG - 1 + 2 + KQ_MAX_KEY_ID_BYTES + 4 + 1 + 2)
#define LABEL_PAIR_BYTES  (2 + KQ_MAX_CONTEXT_KEY_BYTES + 2 + KQ_MAX_CONTEXT_VALUE_BYTES)
KQ_STATIC_ASSERT(LABEL_FIXED_BYTES + KQ_MAX_CONTEXT_PAIRS * LABEL_PAIR_BYTES <= KQ_MAX_LABEL_BYTES,
                 "the largest canonical label fits KQ_MAX_LABEL_BYTES");
KQ_STATIC_ASSERT(KQ_MAX_CONTEXT_PAIRS <= 255, "pair order indices fit a byte");
KQ_STATIC_ASSERT(KQ_MAX_CONTEXT_VALUE_BYTES <= UINT16_MAX, "values take a u16 length");
KQ_STATIC_ASSERT(KQ_LABEL_DIGESTBYTES <= 64, "digest is a SHA-512 prefix");

size_t kq_label_digestbytes(void)
{
    return KQ_LABEL_DIGESTBYTES;
}

size_t kq_label_maxbytes(void)
{
    return KQ_MAX_LABEL_BYTES;
}

/* memcmp order over the common prefix, then the shorter key first. */
static int key_cmp(const struct kq_ctx_pair *a, const struct kq_ctx_pair *b)
{
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(a->key, b->key, n);
    if (c != 0)
        return c;
    return (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

static enum kq_err check_pairs(const struct kq_ctx_pair *ctx, size_t npairs)
{
    KQ_ENSURE(npairs <= KQ_MAX_CONTEXT_PAIRS, KQ_ERR_LIMIT);
    KQ_ENSURE(npairs == 0 || ctx != NULL, KQ_ERR_INVALID_ARG);
    for (size_t i = 0; i < npairs; i++) {
        KQ_ENSURE(ctx[i].key_len > 0, KQ_ERR_FORMAT);
        KQ_ENSURE(ctx[i].key_len <= KQ_MAX_CONTEXT_KEY_BYTES, KQ_ERR_LIMIT);
        KQ_ENSURE(ctx[i].value_len <= KQ_MAX_CONTEXT_VALUE_BYTES, KQ_ERR_LIMIT);
        KQ_ENSURE(ctx[i].key != NULL, KQ_ERR_INVALID_ARG);
        KQ_ENSURE(ctx[i].value != NULL || ctx[i].value_len == 0, KQ_ERR_INVALID_ARG);
    }
    return KQ_OK;
}

/* Sorts order[0..n) by key (insertion sort, n <= KQ_MAX_CONTEXT_PAIRS); KQ_ERR_FORMAT on a
 * duplicate key. */
static enum kq_err sort_pairs(uint8_t *order, const struct kq_ctx_pair *ctx, size_t n)
{
    for (size_t i = 0; i < n; i++)
        order[i] = (uint8_t)i;
    for (size_t i = 1; i < n; i++) {
        uint8_t cur = order[i];
        size_t j = i;
        while (j > 0 && key_cmp(&ctx[order[j - 1]], &ctx[cur]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = cur;
    }
    for (size_t i = 1; i < n; i++)
        KQ_ENSURE(key_cmp(&ctx[order[i - 1]], &ctx[order[i]]) != 0, KQ_ERR_FORMAT);
    return KQ_OK;
}

static enum kq_err encode(struct kq_label *out, const struct kq_ctx_pair *ctx, const uint8_t *order,
                          size_t npairs)
{
    struct kq_buf b;
    kq_buf_writer(&b, out->bytes, sizeof out->bytes);
    KQ_GUARD(kq_buf_put_bytes16(&b, KQ_LABEL_TAG, sizeof KQ_LABEL_TAG - 1));
    KQ_GUARD(kq_buf_put_bytes16(&b, out->key_id, out->key_id_len));
    KQ_GUARD(kq_buf_put_u32(&b, out->version));
    KQ_GUARD(kq_buf_put_u8(&b, (uint8_t)out->purpose));
    KQ_GUARD(kq_buf_put_u16(&b, (uint16_t)npairs));
    for (size_t i = 0; i < npairs; i++) {
        const struct kq_ctx_pair *p = &ctx[order[i]];
        KQ_GUARD(kq_buf_put_bytes16(&b, p->key, p->key_len));
        KQ_GUARD(kq_buf_put_bytes16(&b, p->value, p->value_len));
    }
    out->len = kq_buf_len(&b);
    return KQ_OK;
}

enum kq_err kq_label_build(struct kq_label *out, const uint8_t *key_id, size_t key_id_len,
                           uint32_t version, enum kq_purpose purpose, const struct kq_ctx_pair *ctx,
                           size_t npairs)
{
    uint8_t order[KQ_MAX_CONTEXT_PAIRS];
    enum kq_err err = KQ_OK;
    KQ_ASSERT(out != NULL);
    out->len = 0;
    KQ_CHECK(purpose == KQ_PURPOSE_DEK || purpose == KQ_PURPOSE_DATA ||
                 purpose == KQ_PURPOSE_DERIVE,
             KQ_ERR_INVALID_ARG);
    KQ_CHECK(key_id != NULL && key_id_len > 0, KQ_ERR_INVALID_ARG);
    KQ_CHECK(key_id_len <= KQ_MAX_KEY_ID_BYTES, KQ_ERR_LIMIT);
    KQ_TRY(check_pairs(ctx, npairs));
    KQ_TRY(sort_pairs(order, ctx, npairs));
    memset(out->key_id, 0, sizeof out->key_id);
    memcpy(out->key_id, key_id, key_id_len);
    out->key_id_len = key_id_len;
    out->version = version;
    out->purpose = purpose;
    KQ_TRY(encode(out, ctx, order, npairs));
    KQ_ASSERT(out->len >= LABEL_FIXED_BYTES - KQ_MAX_KEY_ID_BYTES &&
              out->len <= KQ_MAX_LABEL_BYTES);
out:
    if (err != KQ_OK) {
        kq_wipe(out->key_id, sizeof out->key_id);
        out->key_id_len = 0;
        out->version = 0;
        out->len = 0;
    }
    return err;
}

void kq_label_digest(uint8_t out[KQ_LABEL_DIGESTBYTES], const struct kq_label *label)
{
    uint8_t h[64];
    struct kq_ts ts;
    KQ_ASSERT(label != NULL && label->len > 0 && label->len <= KQ_MAX_LABEL_BYTES);
    kq_ts_init(&ts, KQ_LABEL_DIGEST_TAG);
    kq_ts_put(&ts, label->bytes, label->len);
    kq_ts_digest(&ts, h);
    memcpy(out, h, KQ_LABEL_DIGESTBYTES);
}

int kq_label_equal(const struct kq_label *a, const struct kq_label *b)
{
    KQ_ASSERT(a != NULL && b != NULL);
    return a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}
