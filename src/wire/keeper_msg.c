/* Orchestrator <-> keeper frame codecs and the signed FROST response (docs/wire.md "Keeper
 * frames"). Invariants: decoders go through the kq_buf cursor, consume every byte or fail with the
 * output zeroed, and point into their input (zero copy); encoders refuse what the decoder would
 * refuse, so decode(encode(x)) == x and encode(decode(b)) == b. */
#include "wire/keeper_msg.h"

#include <string.h>

#include <sodium.h>

#include "base/buf.h"
#include "base/mem.h"
#include "ledger/tx_client.h"

#define FROST_BODY_MAXBYTES (KQ_FROST_RESP_MAX_BYTES - KQ_PARTIAL_SIGBYTES)
#define FROST_MSG_MAXBYTES  (2 + sizeof KQ_FROST_RESP_TAG - 1 + FROST_BODY_MAXBYTES)
#define FROST_DIGEST_TAG    KQ_FROST_RESP_TAG "/digest"
#define SEALED_MAXBYTES     (KQ_PARTIAL_MAXBYTES + crypto_box_SEALBYTES)

KQ_STATIC_ASSERT(KQ_KEY_NAME_MAX_BYTES <= UINT8_MAX, "a name length is a u8");
KQ_STATIC_ASSERT(KQ_LEDGER_CLIENT_ID_MAX_BYTES <= UINT8_MAX, "a client id length is a u8");
KQ_STATIC_ASSERT(KQ_MAX_CONTEXT_PAIRS <= UINT16_MAX, "a pair count is a u16");
KQ_STATIC_ASSERT(KQ_MAX_CONTEXT_VALUE_BYTES <= UINT16_MAX, "a context value length is a u16");
KQ_STATIC_ASSERT(KQ_DKG_MAX_N <= UINT16_MAX, "a commitment count is a u16");
KQ_STATIC_ASSERT(SEALED_MAXBYTES + KQ_FROST_RESP_MAX_BYTES + 64 <= KQ_KEEPER_RESP_MAX_BYTES,
                 "every response body fits");
KQ_STATIC_ASSERT(KQ_KEEPER_REQ_MAX_BYTES <= KQ_MAX_FRAME_PAYLOAD, "a request fits a frame");

/* ---- shared field helpers ---- */

/* A key name: the registry's rule (kq_key_name_ok). */
static bool name_ok(const char *name)
{
    return kq_key_name_ok(name, strnlen(name, KQ_KEY_NAME_MAX_BYTES + 1));
}

static bool client_ok(const char *client)
{
    size_t n = strnlen(client, KQ_LEDGER_CLIENT_ID_MAX_BYTES + 1);
    return n == 0 || (n <= KQ_LEDGER_CLIENT_ID_MAX_BYTES && kq_client_id_ok(client, n));
}

static bool op_ok(uint8_t op)
{
    return op >= KQ_KREQ_UNWRAP && op <= KQ_KREQ_FROST_SIGN;
}

static bool op_has_ctx(uint8_t op)
{
    return op == KQ_KREQ_UNWRAP || op == KQ_KREQ_DERIVE;
}

/* ---- requests ---- */

/* Field rules shared by the encoder (INVALID_ARG) and the decoder (FORMAT). */
static bool req_fields_ok(const struct kq_keeper_req *r)
{
    if (!op_ok(r->op) || !name_ok(r->name) || r->version == 0 || r->epoch == 0)
        return false;
    if (!client_ok(r->client) || (r->seal && (r->client[0] == 0 || !op_has_ctx(r->op))))
        return false;
    if (r->op == KQ_KREQ_UNWRAP && r->ct_type != KQ_PURPOSE_DEK && r->ct_type != KQ_PURPOSE_DATA)
        return false;
    return true;
}

static enum kq_err put_ctx(struct kq_buf *b, const struct kq_keeper_req *r)
{
    KQ_ENSURE(r->n_ctx <= KQ_MAX_CONTEXT_PAIRS, KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_put_u16(b, (uint16_t)r->n_ctx));
    for (size_t i = 0; i < r->n_ctx; i++) {
        const struct kq_ctx_pair *c = &r->ctx[i];
        KQ_ENSURE(c->key_len >= 1, KQ_ERR_INVALID_ARG);
        KQ_ENSURE(c->key_len <= KQ_MAX_CONTEXT_KEY_BYTES, KQ_ERR_LIMIT);
        KQ_ENSURE(c->value_len <= KQ_MAX_CONTEXT_VALUE_BYTES, KQ_ERR_LIMIT);
        KQ_GUARD(kq_buf_put_bytes16(b, c->key, c->key_len));
        KQ_GUARD(kq_buf_put_bytes16(b, c->value, c->value_len));
    }
    return KQ_OK;
}

static enum kq_err get_ctx(struct kq_buf *b, struct kq_keeper_req *r)
{
    uint16_t n = 0;
    KQ_GUARD(kq_buf_get_u16(b, &n));
    KQ_ENSURE(n <= KQ_MAX_CONTEXT_PAIRS, KQ_ERR_LIMIT);
    for (size_t i = 0; i < n; i++) {
        struct kq_ctx_pair *c = &r->ctx[i];
        KQ_GUARD(kq_buf_get_bytes16(b, &c->key, &c->key_len, KQ_MAX_CONTEXT_KEY_BYTES));
        KQ_ENSURE(c->key_len >= 1, KQ_ERR_FORMAT);
        KQ_GUARD(kq_buf_get_bytes16(b, &c->value, &c->value_len, KQ_MAX_CONTEXT_VALUE_BYTES));
    }
    r->n_ctx = n;
    return KQ_OK;
}

static enum kq_err put_commits(struct kq_buf *b, const struct kq_frost_commitment *list, size_t n)
{
    KQ_ENSURE(n >= 1, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(n <= KQ_DKG_MAX_N, KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_put_u16(b, (uint16_t)n));
    for (size_t i = 0; i < n; i++) {
        KQ_ENSURE(list[i].identifier != 0, KQ_ERR_INVALID_ARG);
        KQ_ENSURE(i == 0 || list[i].identifier > list[i - 1].identifier, KQ_ERR_INVALID_ARG);
        KQ_GUARD(kq_buf_put_u32(b, list[i].identifier));
        KQ_GUARD(kq_buf_put(b, list[i].hiding, KQ_POINTBYTES));
        KQ_GUARD(kq_buf_put(b, list[i].binding, KQ_POINTBYTES));
    }
    return KQ_OK;
}

static enum kq_err get_commits(struct kq_buf *b, struct kq_frost_commitment *list, size_t *n_out)
{
    uint16_t n = 0;
    KQ_GUARD(kq_buf_get_u16(b, &n));
    KQ_ENSURE(n >= 1, KQ_ERR_FORMAT);
    KQ_ENSURE(n <= KQ_DKG_MAX_N, KQ_ERR_LIMIT);
    for (size_t i = 0; i < n; i++) {
        KQ_GUARD(kq_buf_get_u32(b, &list[i].identifier));
        KQ_ENSURE(list[i].identifier != 0, KQ_ERR_FORMAT);
        KQ_ENSURE(i == 0 || list[i].identifier > list[i - 1].identifier, KQ_ERR_FORMAT);
        KQ_GUARD(kq_buf_get(b, list[i].hiding, KQ_POINTBYTES));
        KQ_GUARD(kq_buf_get(b, list[i].binding, KQ_POINTBYTES));
    }
    *n_out = n;
    return KQ_OK;
}

static enum kq_err put_req_body(struct kq_buf *b, const struct kq_keeper_req *r)
{
    switch (r->op) {
    case KQ_KREQ_UNWRAP:
        KQ_GUARD(kq_buf_put_u8(b, r->ct_type));
        KQ_GUARD(kq_buf_put(b, r->R, KQ_POINTBYTES));
        KQ_GUARD(kq_buf_put(b, r->ct_proof, KQ_PROOFBYTES));
        return put_ctx(b, r);
    case KQ_KREQ_DERIVE:
        return put_ctx(b, r);
    case KQ_KREQ_FROST_COMMIT:
        return KQ_OK;
    case KQ_KREQ_FROST_SIGN:
        KQ_ENSURE(r->msg != NULL || r->msg_len == 0, KQ_ERR_INVALID_ARG);
        KQ_ENSURE(r->msg_len <= KQ_MAX_SIGN_MESSAGE_BYTES, KQ_ERR_LIMIT);
        KQ_GUARD(kq_buf_put_u32(b, (uint32_t)r->msg_len));
        KQ_GUARD(kq_buf_put(b, r->msg, r->msg_len));
        return put_commits(b, r->commits, r->n_commits);
    }
    return KQ_ERR_INVALID_ARG;
}

enum kq_err kq_keeper_req_encode(const struct kq_keeper_req *r, uint8_t *out, size_t cap,
                                 size_t *out_len)
{
    KQ_ASSERT(r != NULL && out != NULL && out_len != NULL);
    *out_len = 0;
    KQ_ENSURE(req_fields_ok(r), KQ_ERR_INVALID_ARG);
    struct kq_buf b;
    kq_buf_writer(&b, out, cap);
    KQ_GUARD(kq_buf_put_u8(&b, KQ_KEEPER_MSG_VERSION));
    KQ_GUARD(kq_buf_put(&b, r->request_id, KQ_PARTIAL_REQIDBYTES));
    KQ_GUARD(kq_buf_put_u8(&b, r->op));
    KQ_GUARD(kq_buf_put_str8(&b, r->name, KQ_KEY_NAME_MAX_BYTES));
    KQ_GUARD(kq_buf_put_u32(&b, r->version));
    KQ_GUARD(kq_buf_put_u64(&b, r->epoch));
    KQ_GUARD(kq_buf_put_str8(&b, r->client, KQ_LEDGER_CLIENT_ID_MAX_BYTES));
    KQ_GUARD(kq_buf_put_u8(&b, r->seal ? 1 : 0));
    KQ_GUARD(put_req_body(&b, r));
    KQ_ASSERT(kq_buf_len(&b) <= KQ_KEEPER_REQ_MAX_BYTES);
    *out_len = kq_buf_len(&b);
    return KQ_OK;
}

static enum kq_err get_req_body(struct kq_buf *b, struct kq_keeper_req *r)
{
    uint32_t n = 0;
    switch (r->op) {
    case KQ_KREQ_UNWRAP:
        KQ_GUARD(kq_buf_get_u8(b, &r->ct_type));
        KQ_GUARD(kq_buf_get(b, r->R, KQ_POINTBYTES));
        KQ_GUARD(kq_buf_get(b, r->ct_proof, KQ_PROOFBYTES));
        return get_ctx(b, r);
    case KQ_KREQ_DERIVE:
        return get_ctx(b, r);
    case KQ_KREQ_FROST_SIGN:
        KQ_GUARD(kq_buf_get_u32(b, &n));
        KQ_ENSURE(n <= KQ_MAX_SIGN_MESSAGE_BYTES, KQ_ERR_LIMIT);
        KQ_GUARD(kq_buf_get_ptr(b, &r->msg, n));
        r->msg_len = n;
        return get_commits(b, r->commits, &r->n_commits);
    default:
        return KQ_OK; /* FROST_COMMIT: no body */
    }
}

static enum kq_err req_read(struct kq_keeper_req *r, struct kq_buf *b)
{
    uint8_t version = 0, seal = 0;
    KQ_GUARD(kq_buf_get_u8(b, &version));
    KQ_ENSURE(version == KQ_KEEPER_MSG_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get(b, r->request_id, KQ_PARTIAL_REQIDBYTES));
    KQ_GUARD(kq_buf_get_u8(b, &r->op));
    KQ_ENSURE(op_ok(r->op), KQ_ERR_FORMAT);
    KQ_GUARD(kq_buf_get_str8(b, r->name, KQ_KEY_NAME_MAX_BYTES));
    KQ_GUARD(kq_buf_get_u32(b, &r->version));
    KQ_GUARD(kq_buf_get_u64(b, &r->epoch));
    KQ_GUARD(kq_buf_get_str8(b, r->client, KQ_LEDGER_CLIENT_ID_MAX_BYTES));
    KQ_GUARD(kq_buf_get_u8(b, &seal));
    KQ_ENSURE(seal <= 1, KQ_ERR_FORMAT);
    r->seal = seal == 1;
    KQ_GUARD(get_req_body(b, r));
    KQ_ENSURE(req_fields_ok(r), KQ_ERR_FORMAT);
    return kq_buf_expect_end(b);
}

enum kq_err kq_keeper_req_decode(struct kq_keeper_req *r, const uint8_t *in, size_t len)
{
    KQ_ASSERT(r != NULL && (in != NULL || len == 0));
    struct kq_buf b;
    memset(r, 0, sizeof *r);
    kq_buf_reader(&b, in, len);
    enum kq_err err = req_read(r, &b);
    if (err != KQ_OK)
        memset(r, 0, sizeof *r);
    return err;
}

/* ---- responses ---- */

static bool body_kind_fits(uint8_t op, uint8_t kind)
{
    if (kind == KQ_KRESP_PARTIAL || kind == KQ_KRESP_SEALED)
        return op_has_ctx(op);
    if (kind == KQ_KRESP_FROST)
        return op == KQ_KREQ_FROST_COMMIT || op == KQ_KREQ_FROST_SIGN;
    return kind == KQ_KRESP_NONE;
}

static size_t body_max(uint8_t kind)
{
    switch (kind) {
    case KQ_KRESP_PARTIAL:
        return KQ_PARTIAL_MAXBYTES;
    case KQ_KRESP_SEALED:
        return SEALED_MAXBYTES;
    case KQ_KRESP_FROST:
        return KQ_FROST_RESP_MAX_BYTES;
    default:
        return 0;
    }
}

/* Shared rules: an error carries no body, a success carries a non-empty body of a kind that
 * answers the op. Returns FORMAT or LIMIT (the encoder maps FORMAT to INVALID_ARG). */
static enum kq_err resp_fields_check(const struct kq_keeper_resp *r)
{
    KQ_ENSURE(op_ok(r->op), KQ_ERR_FORMAT);
    KQ_ENSURE(r->body_kind <= KQ_KRESP_FROST, KQ_ERR_FORMAT);
    KQ_ENSURE(body_kind_fits(r->op, r->body_kind), KQ_ERR_FORMAT);
    KQ_ENSURE((r->status == KQ_OK) == (r->body_kind != KQ_KRESP_NONE), KQ_ERR_FORMAT);
    KQ_ENSURE((r->body_len == 0) == (r->body_kind == KQ_KRESP_NONE), KQ_ERR_FORMAT);
    KQ_ENSURE(r->body_len <= body_max(r->body_kind), KQ_ERR_LIMIT);
    return KQ_OK;
}

enum kq_err kq_keeper_resp_encode(const struct kq_keeper_resp *r, uint8_t *out, size_t cap,
                                  size_t *out_len)
{
    KQ_ASSERT(r != NULL && out != NULL && out_len != NULL);
    *out_len = 0;
    enum kq_err err = resp_fields_check(r);
    KQ_ENSURE(err != KQ_ERR_FORMAT, KQ_ERR_INVALID_ARG);
    KQ_GUARD(err);
    KQ_ENSURE(r->body != NULL || r->body_len == 0, KQ_ERR_INVALID_ARG);
    struct kq_buf b;
    kq_buf_writer(&b, out, cap);
    KQ_GUARD(kq_buf_put_u8(&b, KQ_KEEPER_MSG_VERSION));
    KQ_GUARD(kq_buf_put(&b, r->request_id, KQ_PARTIAL_REQIDBYTES));
    KQ_GUARD(kq_buf_put_u8(&b, r->op));
    KQ_GUARD(kq_buf_put_u32(&b, r->status));
    KQ_GUARD(kq_buf_put_u8(&b, r->body_kind));
    KQ_GUARD(kq_buf_put_u32(&b, (uint32_t)r->body_len));
    KQ_GUARD(kq_buf_put(&b, r->body, r->body_len));
    *out_len = kq_buf_len(&b);
    return KQ_OK;
}

static enum kq_err resp_read(struct kq_keeper_resp *r, struct kq_buf *b)
{
    uint8_t version = 0;
    uint32_t n = 0;
    KQ_GUARD(kq_buf_get_u8(b, &version));
    KQ_ENSURE(version == KQ_KEEPER_MSG_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get(b, r->request_id, KQ_PARTIAL_REQIDBYTES));
    KQ_GUARD(kq_buf_get_u8(b, &r->op));
    KQ_GUARD(kq_buf_get_u32(b, &r->status));
    KQ_GUARD(kq_buf_get_u8(b, &r->body_kind));
    KQ_GUARD(kq_buf_get_u32(b, &n));
    KQ_ENSURE(n <= KQ_KEEPER_RESP_MAX_BYTES, KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_get_ptr(b, &r->body, n));
    r->body_len = n;
    if (n == 0)
        r->body = NULL;
    KQ_GUARD(resp_fields_check(r));
    return kq_buf_expect_end(b);
}

enum kq_err kq_keeper_resp_decode(struct kq_keeper_resp *r, const uint8_t *in, size_t len)
{
    KQ_ASSERT(r != NULL && (in != NULL || len == 0));
    struct kq_buf b;
    memset(r, 0, sizeof *r);
    kq_buf_reader(&b, in, len);
    enum kq_err err = resp_read(r, &b);
    if (err != KQ_OK)
        memset(r, 0, sizeof *r);
    return err;
}

/* ---- signed FROST responses ---- */

static bool frost_fields_ok(const struct kq_frost_resp *r)
{
    if (!name_ok(r->name) || r->version == 0 || r->epoch == 0)
        return false;
    if (r->index == 0 || r->index > KQ_DKG_MAX_N)
        return false;
    if (r->round == 1)
        return r->commitment.identifier == r->index;
    return r->round == 2;
}

static enum kq_err put_frost_body(struct kq_buf *b, const struct kq_frost_resp *r)
{
    KQ_GUARD(kq_buf_put_u8(b, KQ_KEEPER_MSG_VERSION));
    KQ_GUARD(kq_buf_put(b, r->request_id, KQ_PARTIAL_REQIDBYTES));
    KQ_GUARD(kq_buf_put_str8(b, r->name, KQ_KEY_NAME_MAX_BYTES));
    KQ_GUARD(kq_buf_put_u32(b, r->version));
    KQ_GUARD(kq_buf_put_u64(b, r->epoch));
    KQ_GUARD(kq_buf_put_u32(b, r->index));
    KQ_GUARD(kq_buf_put_u8(b, r->round));
    if (r->round == 1) {
        KQ_GUARD(kq_buf_put_u32(b, r->commitment.identifier));
        KQ_GUARD(kq_buf_put(b, r->commitment.hiding, KQ_POINTBYTES));
        KQ_GUARD(kq_buf_put(b, r->commitment.binding, KQ_POINTBYTES));
    } else {
        KQ_GUARD(kq_buf_put(b, r->digest, sizeof r->digest));
        KQ_GUARD(kq_buf_put(b, r->share, KQ_FROST_SHAREBYTES));
    }
    return kq_buf_put_u64(b, r->time);
}

static enum kq_err get_frost_body(struct kq_buf *b, struct kq_frost_resp *r)
{
    uint8_t version = 0;
    KQ_GUARD(kq_buf_get_u8(b, &version));
    KQ_ENSURE(version == KQ_KEEPER_MSG_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get(b, r->request_id, KQ_PARTIAL_REQIDBYTES));
    KQ_GUARD(kq_buf_get_str8(b, r->name, KQ_KEY_NAME_MAX_BYTES));
    KQ_GUARD(kq_buf_get_u32(b, &r->version));
    KQ_GUARD(kq_buf_get_u64(b, &r->epoch));
    KQ_GUARD(kq_buf_get_u32(b, &r->index));
    KQ_GUARD(kq_buf_get_u8(b, &r->round));
    if (r->round == 1) {
        KQ_GUARD(kq_buf_get_u32(b, &r->commitment.identifier));
        KQ_GUARD(kq_buf_get(b, r->commitment.hiding, KQ_POINTBYTES));
        KQ_GUARD(kq_buf_get(b, r->commitment.binding, KQ_POINTBYTES));
    } else if (r->round == 2) {
        KQ_GUARD(kq_buf_get(b, r->digest, sizeof r->digest));
        KQ_GUARD(kq_buf_get(b, r->share, KQ_FROST_SHAREBYTES));
    } else {
        return KQ_ERR_FORMAT;
    }
    return kq_buf_get_u64(b, &r->time);
}

/* The signed message: u16(len tag) || tag || body (every field but the signature). */
static enum kq_err frost_signed_message(uint8_t msg[FROST_MSG_MAXBYTES], size_t *len,
                                        const struct kq_frost_resp *r)
{
    struct kq_buf b;
    KQ_ENSURE(frost_fields_ok(r), KQ_ERR_INVALID_ARG);
    kq_buf_writer(&b, msg, FROST_MSG_MAXBYTES);
    KQ_GUARD(kq_buf_put_bytes16(&b, KQ_FROST_RESP_TAG, sizeof KQ_FROST_RESP_TAG - 1));
    KQ_GUARD(put_frost_body(&b, r));
    *len = kq_buf_len(&b);
    return KQ_OK;
}

enum kq_err kq_frost_resp_sign(struct kq_frost_resp *r, const uint8_t sk[KQ_PARTIAL_SKBYTES])
{
    uint8_t msg[FROST_MSG_MAXBYTES];
    size_t len = 0;
    KQ_ASSERT(r != NULL && sk != NULL);
    memset(r->sig, 0, sizeof r->sig);
    KQ_GUARD(frost_signed_message(msg, &len, r));
    KQ_ENSURE(crypto_sign_detached(r->sig, NULL, msg, len, sk) == 0, KQ_ERR_CRYPTO);
    return KQ_OK;
}

enum kq_err kq_frost_resp_verify(const struct kq_frost_resp *r,
                                 const uint8_t pk[KQ_PARTIAL_PKBYTES])
{
    uint8_t msg[FROST_MSG_MAXBYTES];
    size_t len = 0;
    KQ_ASSERT(r != NULL && pk != NULL);
    KQ_ENSURE(frost_signed_message(msg, &len, r) == KQ_OK, KQ_ERR_BAD_SIGNATURE);
    KQ_ENSURE(crypto_sign_verify_detached(r->sig, msg, len, pk) == 0, KQ_ERR_BAD_SIGNATURE);
    return KQ_OK;
}

enum kq_err kq_frost_resp_encode(const struct kq_frost_resp *r, uint8_t *out, size_t cap,
                                 size_t *out_len)
{
    KQ_ASSERT(r != NULL && out != NULL && out_len != NULL);
    *out_len = 0;
    KQ_ENSURE(frost_fields_ok(r), KQ_ERR_INVALID_ARG);
    struct kq_buf b;
    kq_buf_writer(&b, out, cap);
    KQ_GUARD(put_frost_body(&b, r));
    KQ_GUARD(kq_buf_put(&b, r->sig, KQ_PARTIAL_SIGBYTES));
    KQ_ASSERT(kq_buf_len(&b) <= KQ_FROST_RESP_MAX_BYTES);
    *out_len = kq_buf_len(&b);
    return KQ_OK;
}

static enum kq_err frost_read(struct kq_frost_resp *r, struct kq_buf *b)
{
    KQ_GUARD(get_frost_body(b, r));
    KQ_GUARD(kq_buf_get(b, r->sig, KQ_PARTIAL_SIGBYTES));
    KQ_ENSURE(frost_fields_ok(r), KQ_ERR_FORMAT);
    return kq_buf_expect_end(b);
}

enum kq_err kq_frost_resp_decode(struct kq_frost_resp *r, const uint8_t *in, size_t len)
{
    KQ_ASSERT(r != NULL && (in != NULL || len == 0));
    struct kq_buf b;
    memset(r, 0, sizeof *r);
    kq_buf_reader(&b, in, len);
    enum kq_err err = frost_read(r, &b);
    if (err != KQ_OK)
        memset(r, 0, sizeof *r);
    return err;
}

void kq_frost_sign_digest(uint8_t out[64], const uint8_t *msg, size_t msg_len,
                          const struct kq_frost_commitment *list, size_t n)
{
    struct kq_ts ts;
    KQ_ASSERT(out != NULL && (msg != NULL || msg_len == 0) && (list != NULL || n == 0));
    KQ_ASSERT(n <= KQ_MAX_PARTICIPANTS);
    kq_ts_init(&ts, FROST_DIGEST_TAG);
    kq_ts_put(&ts, msg, msg_len);
    kq_ts_put_u32(&ts, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        kq_ts_put_u32(&ts, list[i].identifier);
        kq_ts_put(&ts, list[i].hiding, KQ_POINTBYTES);
        kq_ts_put(&ts, list[i].binding, KQ_POINTBYTES);
    }
    kq_ts_digest(&ts, out);
}
