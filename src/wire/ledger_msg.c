/* Ledger frame codecs (block request, block response, tx gossip; proposals and votes are the
 * block.h encodings). Invariants: encoders write all or nothing; decoders consume everything or
 * fail with zeroed outputs. */
#include "wire/ledger_msg.h"

#include <string.h>

bool kq_ledger_frame_is(uint16_t type)
{
    return type >= KQ_FRAME_LEDGER_PROPOSAL && type <= KQ_FRAME_LEDGER_TX;
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
