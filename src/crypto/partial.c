/* Signed holder responses: encoding, strict decoding, signing and the evidence check. The
 * signature covers u16(len tag) || tag || body, body being every field before the signature, so
 * a response can neither be re-purposed for another protocol nor altered without detection. */
#include "crypto/partial.h"

#include <string.h>

#include "base/buf.h"
#include "base/mem.h"

#define BODY_MAXBYTES (KQ_PARTIAL_MAXBYTES - KQ_PARTIAL_SIGBYTES)
#define MSG_MAXBYTES  (2 + sizeof KQ_PARTIAL_SIGN_TAG - 1 + BODY_MAXBYTES)
KQ_STATIC_ASSERT(KQ_PARTIAL_SIGBYTES == crypto_sign_BYTES, "Ed25519 signature");
KQ_STATIC_ASSERT(KQ_PARTIAL_PKBYTES == crypto_sign_PUBLICKEYBYTES, "Ed25519 public key");
KQ_STATIC_ASSERT(KQ_PARTIAL_SKBYTES == crypto_sign_SECRETKEYBYTES, "Ed25519 secret key");

size_t kq_partial_maxbytes(void)
{
    return KQ_PARTIAL_MAXBYTES;
}

static int is_zero(const uint8_t *p, size_t n)
{
    return sodium_is_zero(p, n);
}

static enum kq_err check_fields(const struct kq_partial_resp *r)
{
    KQ_ENSURE(r->key_id_len > 0, KQ_ERR_FORMAT);
    KQ_ENSURE(r->key_id_len <= KQ_MAX_KEY_ID_BYTES, KQ_ERR_LIMIT);
    KQ_ENSURE(r->index != 0, KQ_ERR_FORMAT);
    KQ_ENSURE(r->index <= KQ_MAX_PARTICIPANTS, KQ_ERR_LIMIT);
    KQ_ENSURE(r->kind == KQ_PARTIAL_UNWRAP || r->kind == KQ_PARTIAL_DERIVE, KQ_ERR_FORMAT);
    KQ_ENSURE(r->decision == KQ_DECISION_PERMIT || r->decision == KQ_DECISION_DENY, KQ_ERR_FORMAT);
    if (r->decision == KQ_DECISION_DENY)
        KQ_ENSURE(is_zero(r->Z, KQ_POINTBYTES) && is_zero(r->proof, KQ_PROOFBYTES), KQ_ERR_FORMAT);
    return KQ_OK;
}

static enum kq_err put_body(struct kq_buf *b, const struct kq_partial_resp *r)
{
    KQ_GUARD(kq_buf_put_u8(b, KQ_PARTIAL_FORMAT_V1));
    KQ_GUARD(kq_buf_put(b, r->request_id, KQ_PARTIAL_REQIDBYTES));
    KQ_GUARD(kq_buf_put_bytes16(b, r->key_id, r->key_id_len));
    KQ_GUARD(kq_buf_put_u32(b, r->key_version));
    KQ_GUARD(kq_buf_put_u64(b, r->epoch));
    KQ_GUARD(kq_buf_put(b, r->label_digest, KQ_LABEL_DIGESTBYTES));
    KQ_GUARD(kq_buf_put_u32(b, r->index));
    KQ_GUARD(kq_buf_put_u8(b, r->kind));
    KQ_GUARD(kq_buf_put_u8(b, r->decision));
    KQ_GUARD(kq_buf_put(b, r->H, KQ_POINTBYTES));
    KQ_GUARD(kq_buf_put(b, r->Z, KQ_POINTBYTES));
    KQ_GUARD(kq_buf_put(b, r->proof, KQ_PROOFBYTES));
    return kq_buf_put_u64(b, r->time);
}

static enum kq_err get_body(struct kq_buf *b, struct kq_partial_resp *r)
{
    uint8_t format = 0;
    const uint8_t *kid = NULL;
    KQ_GUARD(kq_buf_get_u8(b, &format));
    KQ_ENSURE(format == KQ_PARTIAL_FORMAT_V1, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get(b, r->request_id, KQ_PARTIAL_REQIDBYTES));
    KQ_GUARD(kq_buf_get_bytes16(b, &kid, &r->key_id_len, KQ_MAX_KEY_ID_BYTES));
    memcpy(r->key_id, kid, r->key_id_len);
    KQ_GUARD(kq_buf_get_u32(b, &r->key_version));
    KQ_GUARD(kq_buf_get_u64(b, &r->epoch));
    KQ_GUARD(kq_buf_get(b, r->label_digest, KQ_LABEL_DIGESTBYTES));
    KQ_GUARD(kq_buf_get_u32(b, &r->index));
    KQ_GUARD(kq_buf_get_u8(b, &r->kind));
    KQ_GUARD(kq_buf_get_u8(b, &r->decision));
    KQ_GUARD(kq_buf_get(b, r->H, KQ_POINTBYTES));
    KQ_GUARD(kq_buf_get(b, r->Z, KQ_POINTBYTES));
    KQ_GUARD(kq_buf_get(b, r->proof, KQ_PROOFBYTES));
    return kq_buf_get_u64(b, &r->time);
}

/* The signed message: u16(len tag) || tag || body. */
static enum kq_err signed_message(uint8_t msg[MSG_MAXBYTES], size_t *len,
                                  const struct kq_partial_resp *r)
{
    struct kq_buf b;
    kq_buf_writer(&b, msg, MSG_MAXBYTES);
    KQ_GUARD(kq_buf_put_bytes16(&b, KQ_PARTIAL_SIGN_TAG, sizeof KQ_PARTIAL_SIGN_TAG - 1));
    KQ_GUARD(put_body(&b, r));
    *len = kq_buf_len(&b);
    return KQ_OK;
}

static enum kq_err fill(struct kq_partial_resp *out, const struct kq_label *label,
                        const uint8_t H[KQ_POINTBYTES], const struct kq_tkem_partial *unwrap,
                        const struct kq_tprf_partial *derive)
{
    KQ_ENSURE(unwrap == NULL || derive == NULL, KQ_ERR_INVALID_ARG);
    out->kind = label->purpose == KQ_PURPOSE_DERIVE ? KQ_PARTIAL_DERIVE : KQ_PARTIAL_UNWRAP;
    KQ_ENSURE(unwrap == NULL || out->kind == KQ_PARTIAL_UNWRAP, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(derive == NULL || out->kind == KQ_PARTIAL_DERIVE, KQ_ERR_INVALID_ARG);
    memcpy(out->key_id, label->key_id, label->key_id_len);
    out->key_id_len = label->key_id_len;
    out->key_version = label->version;
    kq_label_digest(out->label_digest, label);
    memcpy(out->H, H, KQ_POINTBYTES);
    out->decision = KQ_DECISION_DENY;
    if (unwrap != NULL) {
        KQ_ENSURE(unwrap->index == out->index, KQ_ERR_INVALID_ARG);
        out->decision = KQ_DECISION_PERMIT;
        memcpy(out->Z, unwrap->Z, KQ_POINTBYTES);
        memcpy(out->proof, unwrap->proof, KQ_PROOFBYTES);
    } else if (derive != NULL) {
        KQ_ENSURE(derive->index == out->index, KQ_ERR_INVALID_ARG);
        out->decision = KQ_DECISION_PERMIT;
        memcpy(out->Z, derive->Y, KQ_POINTBYTES);
        memcpy(out->proof, derive->proof, KQ_PROOFBYTES);
    }
    return KQ_OK;
}

enum kq_err
kq_partial_respond(struct kq_partial_resp *out, const uint8_t request_id[KQ_PARTIAL_REQIDBYTES],
                   const struct kq_label *label, uint64_t epoch, uint64_t time, uint32_t index,
                   const uint8_t H[KQ_POINTBYTES], const struct kq_tkem_partial *unwrap,
                   const struct kq_tprf_partial *derive, const uint8_t sk[KQ_PARTIAL_SKBYTES])
{
    uint8_t msg[MSG_MAXBYTES];
    size_t len = 0;
    enum kq_err err = KQ_OK;
    KQ_ASSERT(out != NULL && request_id != NULL && label != NULL && H != NULL && sk != NULL);
    memset(out, 0, sizeof *out);
    out->index = index;
    memcpy(out->request_id, request_id, KQ_PARTIAL_REQIDBYTES);
    out->epoch = epoch;
    out->time = time;
    KQ_TRY(fill(out, label, H, unwrap, derive));
    KQ_TRY(check_fields(out));
    KQ_TRY(signed_message(msg, &len, out));
    KQ_CHECK(crypto_sign_detached(out->sig, NULL, msg, len, sk) == 0, KQ_ERR_CRYPTO);
out:
    if (err != KQ_OK)
        memset(out, 0, sizeof *out);
    return err;
}

enum kq_err kq_partial_encode(uint8_t *out, size_t out_cap, size_t *out_len,
                              const struct kq_partial_resp *r)
{
    struct kq_buf b;
    enum kq_err err = KQ_OK;
    KQ_ASSERT(out != NULL && out_len != NULL && r != NULL);
    *out_len = 0;
    KQ_CHECK(check_fields(r) == KQ_OK, KQ_ERR_INVALID_ARG);
    kq_buf_writer(&b, out, out_cap);
    KQ_TRY(put_body(&b, r));
    KQ_TRY(kq_buf_put(&b, r->sig, KQ_PARTIAL_SIGBYTES));
    *out_len = kq_buf_len(&b);
    KQ_ASSERT(*out_len <= KQ_PARTIAL_MAXBYTES);
out:
    return err;
}

enum kq_err kq_partial_decode(struct kq_partial_resp *r, const uint8_t *in, size_t len)
{
    struct kq_buf b;
    enum kq_err err = KQ_OK;
    KQ_ASSERT(r != NULL && (in != NULL || len == 0));
    memset(r, 0, sizeof *r);
    kq_buf_reader(&b, in, len);
    KQ_TRY(get_body(&b, r));
    KQ_TRY(kq_buf_get(&b, r->sig, KQ_PARTIAL_SIGBYTES));
    KQ_TRY(kq_buf_expect_end(&b));
    KQ_TRY(check_fields(r));
out:
    if (err != KQ_OK)
        memset(r, 0, sizeof *r);
    return err;
}

enum kq_err kq_partial_verify(const struct kq_partial_resp *r, const uint8_t pk[KQ_PARTIAL_PKBYTES])
{
    uint8_t msg[MSG_MAXBYTES];
    size_t len = 0;
    KQ_ASSERT(r != NULL && pk != NULL);
    KQ_ENSURE(check_fields(r) == KQ_OK, KQ_ERR_BAD_SIGNATURE);
    KQ_ENSURE(signed_message(msg, &len, r) == KQ_OK, KQ_ERR_BAD_SIGNATURE);
    KQ_ENSURE(crypto_sign_verify_detached(r->sig, msg, len, pk) == 0, KQ_ERR_BAD_SIGNATURE);
    return KQ_OK;
}

enum kq_err kq_partial_unwrap_part(struct kq_tkem_partial *out, const struct kq_partial_resp *r)
{
    KQ_ASSERT(out != NULL && r != NULL);
    memset(out, 0, sizeof *out);
    KQ_ENSURE(r->kind == KQ_PARTIAL_UNWRAP && r->decision == KQ_DECISION_PERMIT,
              KQ_ERR_INVALID_ARG);
    out->index = r->index;
    memcpy(out->Z, r->Z, KQ_POINTBYTES);
    memcpy(out->proof, r->proof, KQ_PROOFBYTES);
    return KQ_OK;
}

/* 1 if the partial in r has a valid DLEQ proof under the binding of its kind. */
static int proof_holds(const struct kq_partial_resp *r, const uint8_t S_i[KQ_POINTBYTES])
{
    if (r->kind == KQ_PARTIAL_UNWRAP) {
        struct kq_tkem_partial p;
        p.index = r->index;
        memcpy(p.Z, r->Z, KQ_POINTBYTES);
        memcpy(p.proof, r->proof, KQ_PROOFBYTES);
        return kq_tkem_partial_verify(&p, r->label_digest, r->H, S_i) == KQ_OK;
    }
    struct kq_tprf_partial q;
    q.index = r->index;
    memcpy(q.Y, r->Z, KQ_POINTBYTES);
    memcpy(q.proof, r->proof, KQ_PROOFBYTES);
    return kq_tprf_partial_verify(&q, r->label_digest, r->H, S_i) == KQ_OK;
}

int kq_partial_evidence_check(const struct kq_partial_resp *r, const uint8_t pk[KQ_PARTIAL_PKBYTES],
                              const uint8_t S_i[KQ_POINTBYTES])
{
    KQ_ASSERT(r != NULL && pk != NULL && S_i != NULL);
    if (kq_partial_verify(r, pk) != KQ_OK)
        return 0; /* not attributable to the holder */
    if (r->decision != KQ_DECISION_PERMIT)
        return 0; /* a refusal computes nothing */
    if (kq_pt_check(S_i) != KQ_OK)
        return 0; /* a malformed public share proves nothing about the holder */
    return !proof_holds(r, S_i);
}

int kq_partial_evidence_check_request(const struct kq_partial_resp *r,
                                      const uint8_t pk[KQ_PARTIAL_PKBYTES],
                                      const uint8_t S_i[KQ_POINTBYTES], const uint8_t *expected_H,
                                      const uint8_t *expected_digest)
{
    KQ_ASSERT(r != NULL && pk != NULL && S_i != NULL);
    if (kq_partial_verify(r, pk) != KQ_OK || r->decision != KQ_DECISION_PERMIT)
        return 0;
    if (expected_H != NULL && memcmp(expected_H, r->H, KQ_POINTBYTES) != 0)
        return 1; /* signed a partial for a point it was not asked about */
    if (expected_digest != NULL &&
        memcmp(expected_digest, r->label_digest, KQ_LABEL_DIGESTBYTES) != 0)
        return 1; /* signed a partial under a label it was not asked about */
    return kq_partial_evidence_check(r, pk, S_i);
}
