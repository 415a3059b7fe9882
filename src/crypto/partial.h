/* A holder's signed response to an unwrap or derive request. The Ed25519 signature over the
 * whole response is at once the holder's attestation and, when the partial's DLEQ proof is
 * false, evidence of misbehaviour that any third party can check with public data only. The
 * encoder and the strict decoder share partial.c; docs/crypto/tkem.md gives the byte layout. */
#ifndef KQ_CRYPTO_PARTIAL_H
#define KQ_CRYPTO_PARTIAL_H

#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/limits.h"
#include "crypto/group.h"
#include "crypto/label.h"
#include "crypto/tkem.h"
#include "crypto/tprf.h"

#define KQ_PARTIAL_SIGN_TAG   "keyquorum/v1/partial-response"
#define KQ_PARTIAL_FORMAT_V1  0x01
#define KQ_PARTIAL_REQIDBYTES 16
#define KQ_PARTIAL_SIGBYTES   64 /* Ed25519 */
#define KQ_PARTIAL_PKBYTES    32
#define KQ_PARTIAL_SKBYTES    64
/* format, request id, key id (u16 length), version, epoch, digest, index, kind, decision, H, Z_i,
 * proof, time, signature */
#define KQ_PARTIAL_MAXBYTES                                                                        \
    (1 + KQ_PARTIAL_REQIDBYTES + 2 + KQ_MAX_KEY_ID_BYTES + 4 + 8 + KQ_LABEL_DIGESTBYTES + 4 + 1 +  \
     1 + 2 * KQ_POINTBYTES + KQ_PROOFBYTES + 8 + KQ_PARTIAL_SIGBYTES)

size_t kq_partial_maxbytes(void);

/* What the partial opens: an unwrap (H = the ciphertext's R) or a derivation (H = the PRF point
 * P). The kind selects the DLEQ binding tag. */
enum kq_partial_kind {
    KQ_PARTIAL_UNWRAP = 1,
    KQ_PARTIAL_DERIVE = 2,
};

enum kq_decision {
    KQ_DECISION_PERMIT = 1, /* Z and proof carry the partial */
    KQ_DECISION_DENY = 2,   /* Z and proof are all zero */
};

struct kq_partial_resp {
    uint8_t request_id[KQ_PARTIAL_REQIDBYTES];
    uint8_t key_id[KQ_MAX_KEY_ID_BYTES];
    size_t key_id_len;
    uint32_t key_version;
    uint64_t epoch;
    uint8_t label_digest[KQ_LABEL_DIGESTBYTES];
    uint32_t index;
    uint8_t kind;             /* enum kq_partial_kind */
    uint8_t decision;         /* enum kq_decision */
    uint8_t H[KQ_POINTBYTES]; /* the point the holder multiplied: R or P */
    uint8_t Z[KQ_POINTBYTES]; /* Z_i = s_i * H */
    uint8_t proof[KQ_PROOFBYTES];
    uint64_t time; /* supplied by the caller: cores read no clock */
    uint8_t sig[KQ_PARTIAL_SIGBYTES];
};

/* Fills *out from the request (request_id, label, epoch, time), the holder's index, the point H
 * it was asked to multiply, its decision and, for a permit, its partial (a DEK/DATA label:
 * *unwrap with H = R; a DERIVE label: *derive with H = P; the other pointer NULL; both NULL for a
 * deny), and signs it with the holder's Ed25519 secret key sk (64 bytes). Errors:
 * KQ_ERR_INVALID_ARG for an inconsistent combination (wrong kind, index differing from the
 * partial's), KQ_ERR_FORMAT / KQ_ERR_LIMIT for an index out of range. On failure *out is
 * zeroed. */
KQ_MUST_USE enum kq_err
kq_partial_respond(struct kq_partial_resp *out, const uint8_t request_id[KQ_PARTIAL_REQIDBYTES],
                   const struct kq_label *label, uint64_t epoch, uint64_t time, uint32_t index,
                   const uint8_t H[KQ_POINTBYTES], const struct kq_tkem_partial *unwrap,
                   const struct kq_tprf_partial *derive, const uint8_t sk[KQ_PARTIAL_SKBYTES]);

/* Encodes *r (signature included) into out (out_cap bytes, KQ_PARTIAL_MAXBYTES suffice).
 * KQ_ERR_OVERFLOW if out is too small, KQ_ERR_INVALID_ARG for out-of-range fields. On failure
 * *out_len is 0. */
KQ_MUST_USE enum kq_err kq_partial_encode(uint8_t *out, size_t out_cap, size_t *out_len,
                                          const struct kq_partial_resp *r);
/* Strict decode: KQ_ERR_TRUNCATED (short), KQ_ERR_VERSION (format byte), KQ_ERR_FORMAT (trailing
 * bytes, bad kind or decision, nonzero Z/proof in a deny, empty key id, index 0),
 * KQ_ERR_LIMIT (key id or index over its limit). Does not check the signature. On failure *r is
 * zeroed. */
KQ_MUST_USE enum kq_err kq_partial_decode(struct kq_partial_resp *r, const uint8_t *in, size_t len);

/* KQ_OK if r->sig is the holder's (pk) Ed25519 signature over the response, else
 * KQ_ERR_BAD_SIGNATURE. */
KQ_MUST_USE enum kq_err kq_partial_verify(const struct kq_partial_resp *r,
                                          const uint8_t pk[KQ_PARTIAL_PKBYTES]);

/* The unwrap partial inside a verified permit response. KQ_ERR_INVALID_ARG for a deny or a
 * derive response (*out zeroed then). */
KQ_MUST_USE enum kq_err kq_partial_unwrap_part(struct kq_tkem_partial *out,
                                               const struct kq_partial_resp *r);

/* 1 if r is valid evidence that holder pk misbehaved: its signature verifies, it is a permit,
 * and its DLEQ proof is false for (S_i, H, Z_i, label digest, index); 0 otherwise (bad
 * signature: not attributable; deny or true proof: honest). S_i must be the holder's public
 * share taken from the ledger for (key, version, epoch, index), never from the accuser. */
int kq_partial_evidence_check(const struct kq_partial_resp *r, const uint8_t pk[KQ_PARTIAL_PKBYTES],
                              const uint8_t S_i[KQ_POINTBYTES]);

/* The same for a judge who also holds the request the response answers (from the ledger):
 * additionally 1 when the signed permit names another point H than expected_H (the request's R,
 * or P recomputed from its label) or another label digest than expected_digest, since an
 * honest holder signs exactly what it was asked. Either expectation may be NULL to skip it. */
int kq_partial_evidence_check_request(const struct kq_partial_resp *r,
                                      const uint8_t pk[KQ_PARTIAL_PKBYTES],
                                      const uint8_t S_i[KQ_POINTBYTES], const uint8_t *expected_H,
                                      const uint8_t *expected_digest);

#endif
