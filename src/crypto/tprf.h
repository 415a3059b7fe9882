/* Threshold PRF (derived keys, per-epoch ephemeral keys): F_s(L) = KDF(s * H2C(L), L). Holders
 * hash the label to the point P themselves (a requester never supplies P) and return Y_i = s_i*P
 * with a DLEQ proof; the combiner verifies every proof before it interpolates, since no AEAD
 * would catch a bad partial. Specified in docs/crypto/tprf.md. */
#ifndef KQ_CRYPTO_TPRF_H
#define KQ_CRYPTO_TPRF_H

#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/limits.h"
#include "crypto/group.h"
#include "crypto/label.h"

#define KQ_TPRF_POINT_TAG   "keyquorum/v1/tprf/point"
#define KQ_TPRF_PARTIAL_TAG "keyquorum/v1/tprf/partial"
#define KQ_TPRF_KEY_TAG     "keyquorum/v1/tprf/key"
/* The context key of an ephemeral per-epoch label; its value is the epoch as a u64 big-endian. */
#define KQ_TPRF_EPOCH_CTX_KEY "keyquorum/epoch"
#define KQ_TPRF_KEYBYTES      32

size_t kq_tprf_keybytes(void);

/* A holder's partial: Y_i = s_i * P and the DLEQ proof log_G S_i = log_P Y_i. */
struct kq_tprf_partial {
    uint32_t index;
    uint8_t Y[KQ_POINTBYTES];
    uint8_t proof[KQ_PROOFBYTES];
};

/* P = ristretto255 from_hash(SHA-512 transcript (KQ_TPRF_POINT_TAG, label bytes)). The label
 * must have purpose KQ_PURPOSE_DERIVE (else KQ_ERR_TYPE, P zeroed). */
KQ_MUST_USE enum kq_err kq_tprf_point(uint8_t P[KQ_POINTBYTES], const struct kq_label *label);

/* The holder's job: P from the label, Y_i = share * P, DLEQ proof bound to (label digest,
 * index). Errors: KQ_ERR_TYPE (not a DERIVE label), KQ_ERR_BAD_SCALAR (share non-canonical or
 * zero), KQ_ERR_ZERO_INDEX / KQ_ERR_LIMIT (index). Cost about 3.0 M (it recomputes S_i = share*G;
 * a keeper that keeps S_i, fixed for the epoch, uses kq_tprf_partial_pub at about 2.7 M). On
 * failure *out is zeroed. */
KQ_MUST_USE enum kq_err kq_tprf_partial(struct kq_tprf_partial *out, const struct kq_label *label,
                                        const uint8_t share[KQ_SCALARBYTES], uint32_t index);
/* The same for a holder that keeps its public share S_i = share * G (from the ledger); a wrong
 * S_i only makes the proof fail to verify. Same errors, plus KQ_ERR_BAD_POINT for an identity
 * S_i. */
KQ_MUST_USE enum kq_err kq_tprf_partial_pub(struct kq_tprf_partial *out,
                                            const struct kq_label *label,
                                            const uint8_t share[KQ_SCALARBYTES],
                                            const uint8_t S_i[KQ_POINTBYTES], uint32_t index);

/* Verifies a partial's proof for the point P and label digest against the public share S_i.
 * KQ_OK or KQ_ERR_BAD_PROOF (also for an invalid or identity Y_i). Cost about 2.7 M. */
KQ_MUST_USE enum kq_err kq_tprf_partial_verify(const struct kq_tprf_partial *p,
                                               const uint8_t digest[KQ_LABEL_DIGESTBYTES],
                                               const uint8_t P[KQ_POINTBYTES],
                                               const uint8_t S_i[KQ_POINTBYTES]);

/* Verifies every partial (parts[k] from the holder whose public share is S_i[k]), flags the bad
 * ones in faulty[k] (NULL, or nparts bytes set to 0/1), interpolates Y = s*P from the first t
 * good ones and writes key = SHA-512(KQ_TPRF_KEY_TAG, Y, label bytes)[0..32). Errors:
 * KQ_ERR_TYPE, KQ_ERR_THRESHOLD (nparts < t), KQ_ERR_ZERO_INDEX / KQ_ERR_DUPLICATE_INDEX /
 * KQ_ERR_LIMIT, KQ_ERR_BAD_PROOF (fewer than t good partials). key is wiped on failure; faulty is
 * meaningful on success and failure. Cost about nparts * 2.7 + t M. */
KQ_MUST_USE enum kq_err kq_tprf_combine(uint8_t key[KQ_TPRF_KEYBYTES], uint8_t *faulty,
                                        const struct kq_label *label,
                                        const struct kq_tprf_partial *parts,
                                        const uint8_t (*S_i)[KQ_POINTBYTES], size_t nparts,
                                        size_t t);

/* The label of the ephemeral key of an epoch: purpose DERIVE, context
 * {KQ_TPRF_EPOCH_CTX_KEY: u64be(epoch)}. Errors as kq_label_build. */
KQ_MUST_USE enum kq_err kq_tprf_epoch_label(struct kq_label *out, const uint8_t *key_id,
                                            size_t key_id_len, uint32_t version, uint64_t epoch);

#endif
