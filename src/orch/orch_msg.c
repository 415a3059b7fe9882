/* Codec of the orchestrator core's requests and replies (orch_msg.h). Layout (big-endian):
 * request  = version | op | flags | name (u8 len) | client (u8 len) | version u32 |
 *            n_ctx u8 | (key u16 len, value u16 len)* | data (u32 len) | sig (u16 len)
 * reply    = version | kind | version u32 | valid u8 | data (u32 len) | extra (u16 len) |
 *            epoch u64 | t u32 | n u8 | (keeper u32, index u32, bytes u16 len)* */
#include "orch/orch_msg.h"

#include <string.h>

#include "base/buf.h"
#include "ledger/tx_client.h"

static enum kq_err put_bytes32(struct kq_buf *b, const uint8_t *p, size_t n)
{
    KQ_ENSURE(n <= UINT32_MAX, KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_put_u32(b, (uint32_t)n));
    return n > 0 ? kq_buf_put(b, p, n) : KQ_OK;
}

static enum kq_err get_bytes32(struct kq_buf *b, const uint8_t **p, size_t *n, size_t max)
{
    uint32_t len;
    KQ_GUARD(kq_buf_get_u32(b, &len));
    KQ_ENSURE(len <= max, KQ_ERR_LIMIT);
    *n = len;
    return kq_buf_get_ptr(b, p, len);
}

size_t kq_orch_req_size(const struct kq_orch_req *r)
{
    size_t n =
        3 + 1 + strlen(r->name) + 1 + strlen(r->client) + 4 + 1 + 4 + r->data_len + 2 + r->sig_len;
    for (size_t i = 0; i < r->n_ctx && i < KQ_MAX_CONTEXT_PAIRS; i++)
        n += 4 + r->ctx[i].key_len + r->ctx[i].value_len;
    return n;
}

enum kq_err kq_orch_req_encode(const struct kq_orch_req *r, uint8_t *out, size_t cap,
                               size_t *out_len)
{
    struct kq_buf b;
    kq_buf_writer(&b, out, cap);
    *out_len = 0;
    KQ_ENSURE(r->n_ctx <= KQ_MAX_CONTEXT_PAIRS, KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_put_u8(&b, KQ_ORCH_MSG_VERSION));
    KQ_GUARD(kq_buf_put_u8(&b, r->op));
    KQ_GUARD(kq_buf_put_u8(&b, r->flags));
    KQ_GUARD(kq_buf_put_str8(&b, r->name, KQ_KEY_NAME_MAX_BYTES));
    KQ_GUARD(kq_buf_put_str8(&b, r->client, KQ_LEDGER_CLIENT_ID_MAX_BYTES));
    KQ_GUARD(kq_buf_put_u32(&b, r->version));
    KQ_GUARD(kq_buf_put_u8(&b, (uint8_t)r->n_ctx));
    for (size_t i = 0; i < r->n_ctx; i++) {
        KQ_GUARD(kq_buf_put_bytes16(&b, r->ctx[i].key, r->ctx[i].key_len));
        KQ_GUARD(kq_buf_put_bytes16(&b, r->ctx[i].value, r->ctx[i].value_len));
    }
    KQ_GUARD(put_bytes32(&b, r->data, r->data_len));
    KQ_GUARD(kq_buf_put_bytes16(&b, r->sig, r->sig_len));
    *out_len = kq_buf_len(&b);
    return KQ_OK;
}

static enum kq_err req_fields(struct kq_buf *b, struct kq_orch_req *r)
{
    uint8_t v, n;
    KQ_GUARD(kq_buf_get_u8(b, &v));
    KQ_ENSURE(v == KQ_ORCH_MSG_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_u8(b, &r->op));
    KQ_ENSURE(r->op >= KQ_ORCH_DATAKEY && r->op <= KQ_ORCH_DERIVE, KQ_ERR_FORMAT);
    KQ_GUARD(kq_buf_get_u8(b, &r->flags));
    KQ_ENSURE((r->flags & ~KQ_ORCH_SEALED) == 0, KQ_ERR_FORMAT);
    KQ_GUARD(kq_buf_get_str8(b, r->name, KQ_KEY_NAME_MAX_BYTES));
    KQ_ENSURE(kq_key_name_ok(r->name, strlen(r->name)), KQ_ERR_FORMAT);
    KQ_GUARD(kq_buf_get_str8(b, r->client, KQ_LEDGER_CLIENT_ID_MAX_BYTES));
    KQ_GUARD(kq_buf_get_u32(b, &r->version));
    KQ_GUARD(kq_buf_get_u8(b, &n));
    KQ_ENSURE(n <= KQ_MAX_CONTEXT_PAIRS, KQ_ERR_LIMIT);
    for (size_t i = 0; i < n; i++) {
        struct kq_ctx_pair *c = &r->ctx[i];
        KQ_GUARD(kq_buf_get_bytes16(b, &c->key, &c->key_len, KQ_MAX_CONTEXT_KEY_BYTES));
        KQ_GUARD(kq_buf_get_bytes16(b, &c->value, &c->value_len, KQ_MAX_CONTEXT_VALUE_BYTES));
        KQ_ENSURE(c->key_len >= 1, KQ_ERR_FORMAT);
    }
    r->n_ctx = n;
    KQ_GUARD(get_bytes32(b, &r->data, &r->data_len, 2 * KQ_MAX_DATA_PLAINTEXT_BYTES));
    KQ_GUARD(kq_buf_get_bytes16(b, &r->sig, &r->sig_len, 64));
    return kq_buf_expect_end(b);
}

enum kq_err kq_orch_req_decode(struct kq_orch_req *r, const uint8_t *in, size_t len)
{
    struct kq_buf b;
    kq_buf_reader(&b, in, len);
    memset(r, 0, sizeof *r);
    enum kq_err err = req_fields(&b, r);
    if (err != KQ_OK)
        memset(r, 0, sizeof *r);
    return err;
}

enum kq_err kq_orch_reply_encode(const struct kq_orch_reply *r, uint8_t *out, size_t cap,
                                 size_t *out_len)
{
    struct kq_buf b;
    kq_buf_writer(&b, out, cap);
    *out_len = 0;
    KQ_ENSURE(r->n_sealed <= KQ_ORCH_MAX_SEALED, KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_put_u8(&b, KQ_ORCH_MSG_VERSION));
    KQ_GUARD(kq_buf_put_u8(&b, r->kind));
    KQ_GUARD(kq_buf_put_u32(&b, r->version));
    KQ_GUARD(kq_buf_put_u8(&b, r->valid ? 1 : 0));
    KQ_GUARD(put_bytes32(&b, r->data, r->data_len));
    KQ_GUARD(kq_buf_put_bytes16(&b, r->extra, r->extra_len));
    KQ_GUARD(kq_buf_put_u64(&b, r->epoch));
    KQ_GUARD(kq_buf_put_u32(&b, r->t));
    KQ_GUARD(kq_buf_put_u8(&b, (uint8_t)r->n_sealed));
    for (size_t i = 0; i < r->n_sealed; i++) {
        KQ_GUARD(kq_buf_put_u32(&b, r->sealed[i].keeper));
        KQ_GUARD(kq_buf_put_u32(&b, r->sealed[i].index));
        KQ_GUARD(kq_buf_put_bytes16(&b, r->sealed[i].bytes, r->sealed[i].len));
    }
    *out_len = kq_buf_len(&b);
    return KQ_OK;
}

static enum kq_err reply_fields(struct kq_buf *b, struct kq_orch_reply *r)
{
    uint8_t v, valid, n;
    KQ_GUARD(kq_buf_get_u8(b, &v));
    KQ_ENSURE(v == KQ_ORCH_MSG_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_u8(b, &r->kind));
    KQ_ENSURE(r->kind >= KQ_ORCH_R_CIPHERTEXT && r->kind <= KQ_ORCH_R_SEALED, KQ_ERR_FORMAT);
    KQ_GUARD(kq_buf_get_u32(b, &r->version));
    KQ_GUARD(kq_buf_get_u8(b, &valid));
    KQ_ENSURE(valid <= 1, KQ_ERR_FORMAT);
    r->valid = valid == 1;
    KQ_GUARD(get_bytes32(b, &r->data, &r->data_len, 2 * KQ_MAX_DATA_PLAINTEXT_BYTES));
    KQ_GUARD(kq_buf_get_bytes16(b, &r->extra, &r->extra_len, 64));
    KQ_GUARD(kq_buf_get_u64(b, &r->epoch));
    KQ_GUARD(kq_buf_get_u32(b, &r->t));
    KQ_GUARD(kq_buf_get_u8(b, &n));
    KQ_ENSURE(n <= KQ_ORCH_MAX_SEALED, KQ_ERR_LIMIT);
    for (size_t i = 0; i < n; i++) {
        KQ_GUARD(kq_buf_get_u32(b, &r->sealed[i].keeper));
        KQ_GUARD(kq_buf_get_u32(b, &r->sealed[i].index));
        KQ_GUARD(kq_buf_get_bytes16(b, &r->sealed[i].bytes, &r->sealed[i].len, 4096));
    }
    r->n_sealed = n;
    return kq_buf_expect_end(b);
}

enum kq_err kq_orch_reply_decode(struct kq_orch_reply *r, const uint8_t *in, size_t len)
{
    struct kq_buf b;
    kq_buf_reader(&b, in, len);
    memset(r, 0, sizeof *r);
    enum kq_err err = reply_fields(&b, r);
    if (err != KQ_OK)
        memset(r, 0, sizeof *r);
    return err;
}
