/* Labelled threshold KEM (TDH2-style): anyone holding the public key S wraps a DEK or a payload
 * under a label; holders of shares s_i of s (S = s*G) return partials Z_i = s_i*R with DLEQ
 * proofs, but only after checking the wrapper's proof of knowledge of r bound to (S, R, label);
 * a combiner interpolates Z = s*R and opens. The format is specified in docs/crypto/tkem.md. */
#ifndef KQ_CRYPTO_TKEM_H
#define KQ_CRYPTO_TKEM_H

#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/limits.h"
#include "crypto/group.h"
#include "crypto/label.h"

/* Domain-separation tags (docs/crypto/tkem.md lists what each one hashes). */
#define KQ_TKEM_POK_TAG     "keyquorum/v1/tkem/wrap-pok"
#define KQ_TKEM_KEK_TAG     "keyquorum/v1/tkem/kek"
#define KQ_TKEM_COMMIT_TAG  "keyquorum/v1/tkem/key-commit"
#define KQ_TKEM_PARTIAL_TAG "keyquorum/v1/tkem/partial"

#define KQ_TKEM_FORMAT_V1   0x01 /* first byte of every binary ciphertext */
#define KQ_TKEM_DEKBYTES    32
#define KQ_TKEM_KEKBYTES    32
#define KQ_TKEM_COMMITBYTES 32
#define KQ_TKEM_NONCEBYTES  24 /* XChaCha20-Poly1305 */
#define KQ_TKEM_TAGBYTES    16 /* Poly1305 */
/* format, type, version, R, proof, commitment, nonce, u32 sealed length */
#define KQ_TKEM_HEADERBYTES                                                                        \
    (1 + 1 + 4 + KQ_POINTBYTES + KQ_PROOFBYTES + KQ_TKEM_COMMITBYTES + KQ_TKEM_NONCEBYTES + 4)
/* Binary ciphertext size for a payload of n bytes. */
#define KQ_TKEM_CTBYTES(n) (KQ_TKEM_HEADERBYTES + (n) + KQ_TKEM_TAGBYTES)
#define KQ_TKEM_MAXCTBYTES KQ_TKEM_CTBYTES(KQ_MAX_DATA_PLAINTEXT_BYTES)
/* Text form "kq:v<u32 decimal>:<base64>": the prefix is at most 15 bytes. */
#define KQ_TKEM_TEXT_PREFIX_MAX 15
#define KQ_TKEM_TEXTBYTES(n)    (KQ_TKEM_TEXT_PREFIX_MAX + 4 * ((KQ_TKEM_CTBYTES(n) + 2) / 3) + 1)

size_t kq_tkem_headerbytes(void);
size_t kq_tkem_ctbytes(size_t payload_len);
size_t kq_tkem_textbytes(size_t payload_len);

/* A decoded ciphertext. sealed points into the buffer it was decoded from (zero copy): that
 * buffer must outlive this struct. */
struct kq_tkem_ct {
    uint8_t type; /* KQ_PURPOSE_DEK or KQ_PURPOSE_DATA */
    uint32_t version;
    uint8_t R[KQ_POINTBYTES];
    uint8_t proof[KQ_PROOFBYTES]; /* Schnorr proof of knowledge of r: c || z */
    uint8_t commit[KQ_TKEM_COMMITBYTES];
    uint8_t nonce[KQ_TKEM_NONCEBYTES];
    const uint8_t *sealed; /* AEAD ciphertext || tag */
    size_t sealed_len;
};

/* A holder's partial: Z_i = s_i * R and the DLEQ proof log_G S_i = log_R Z_i. */
struct kq_tkem_partial {
    uint32_t index;
    uint8_t Z[KQ_POINTBYTES];
    uint8_t proof[KQ_PROOFBYTES];
};

/* The wrapper's randomness, fixed only for test vectors: r (R = r*G), k (the proof nonce) and
 * the AEAD nonce. r and k must be canonical nonzero scalars. */
struct kq_tkem_coins {
    uint8_t r[KQ_SCALARBYTES];
    uint8_t k[KQ_SCALARBYTES];
    uint8_t nonce[KQ_TKEM_NONCEBYTES];
};

/* Wraps pt (pt_len bytes: exactly KQ_TKEM_DEKBYTES for a DEK label, at most
 * KQ_MAX_DATA_PLAINTEXT_BYTES for a DATA label) under label for the public key S. Writes the
 * binary ciphertext, KQ_TKEM_CTBYTES(pt_len) bytes, into out (out_cap bytes) and its length to
 * *out_len. Cost about 1.75 M. Errors: KQ_ERR_TYPE for a DERIVE label, KQ_ERR_INVALID_ARG for a
 * wrong payload length, KQ_ERR_LIMIT for an oversized payload, KQ_ERR_BAD_POINT for an invalid or
 * identity S, KQ_ERR_OVERFLOW if out is too small. On failure out is wiped and *out_len is 0. */
KQ_MUST_USE enum kq_err kq_tkem_wrap(uint8_t *out, size_t out_cap, size_t *out_len,
                                     const uint8_t S[KQ_POINTBYTES], const struct kq_label *label,
                                     const uint8_t *pt, size_t pt_len);
/* The same for a client that wraps many payloads under one key version: St is the table of S
 * (kq_pt_table_new, built once when the client fetched and verified S), which brings r*S from
 * about 1 M to about 0.3 M, so a wrap costs about 1 M. Same output format and errors. */
KQ_MUST_USE enum kq_err kq_tkem_wrap_table(uint8_t *out, size_t out_cap, size_t *out_len,
                                           const struct kq_pt_table *St,
                                           const struct kq_label *label, const uint8_t *pt,
                                           size_t pt_len);
/* The same with caller-chosen randomness: for known-answer tests only, never in production
 * (reusing coins reveals the payload's keystream and the proof nonce reveals r). */
KQ_MUST_USE enum kq_err kq_tkem_wrap_with(uint8_t *out, size_t out_cap, size_t *out_len,
                                          const uint8_t S[KQ_POINTBYTES],
                                          const struct kq_label *label, const uint8_t *pt,
                                          size_t pt_len, const struct kq_tkem_coins *coins);

/* Strict decode of a binary ciphertext (in, len bytes) into *ct. Errors, each distinct:
 * KQ_ERR_TRUNCATED (short input), KQ_ERR_VERSION (unknown format byte), KQ_ERR_TYPE (unknown
 * type), KQ_ERR_BAD_POINT (R invalid or identity), KQ_ERR_BAD_SCALAR (non-canonical proof
 * scalar), KQ_ERR_LIMIT (sealed length over the data limit), KQ_ERR_FORMAT (a DEK whose sealed
 * length is not 48, or trailing bytes). On failure *ct is zeroed. */
KQ_MUST_USE enum kq_err kq_tkem_decode(struct kq_tkem_ct *ct, const uint8_t *in, size_t len);

/* Text form "kq:v<version>:<base64 of the binary form>" (standard alphabet, padded), NUL
 * terminated, into out (out_cap bytes, KQ_TKEM_TEXTBYTES(payload) suffice); *out_len excludes
 * the NUL. Errors: KQ_ERR_TRUNCATED/VERSION/... as kq_tkem_decode for a bad binary input,
 * KQ_ERR_OVERFLOW if out is too small. On failure out[0] is NUL (when out_cap > 0). */
KQ_MUST_USE enum kq_err kq_tkem_to_text(char *out, size_t out_cap, size_t *out_len,
                                        const uint8_t *bin, size_t bin_len);
/* Parses the text form (text, text_len bytes, no NUL needed) into the binary form in bin (bin_cap
 * bytes) and checks it with kq_tkem_decode. Errors: KQ_ERR_FORMAT for a bad prefix, version
 * number or base64, KQ_ERR_LABEL when the prefix version differs from the binary one,
 * KQ_ERR_LIMIT when too long, else kq_tkem_decode's. On failure bin is wiped and *bin_len 0. */
KQ_MUST_USE enum kq_err kq_tkem_from_text(uint8_t *bin, size_t bin_cap, size_t *bin_len,
                                          const char *text, size_t text_len);

/* The holder's job. First checks ct against label (type: KQ_ERR_TYPE, version: KQ_ERR_LABEL),
 * R and S (KQ_ERR_BAD_POINT) and the wrapper's proof bound to (S, R, label) (KQ_ERR_BAD_PROOF);
 * only then computes Z_i = share * R and the DLEQ proof bound to (label digest, index, R).
 * share is canonical and nonzero (KQ_ERR_BAD_SCALAR), index in 1..KQ_MAX_PARTICIPANTS
 * (KQ_ERR_ZERO_INDEX / KQ_ERR_LIMIT). S is the holder's verified copy of the public key (only
 * the identity is rejected: S is hashed, never multiplied). An invalid R gives KQ_ERR_BAD_POINT.
 * Cost about 3.9 M. On failure *out is zeroed. */
KQ_MUST_USE enum kq_err kq_tkem_partial(struct kq_tkem_partial *out, const struct kq_tkem_ct *ct,
                                        const struct kq_label *label,
                                        const uint8_t S[KQ_POINTBYTES],
                                        const uint8_t share[KQ_SCALARBYTES], uint32_t index);

/* The same, for a holder that keeps its public share S_i = share * G (computed once when it
 * received the share): saves a base multiplication, about 3.6 M. S_i must be share * G, or the
 * holder signs a false proof, which is evidence against it. */
KQ_MUST_USE enum kq_err kq_tkem_partial_pub(struct kq_tkem_partial *out,
                                            const struct kq_tkem_ct *ct,
                                            const struct kq_label *label,
                                            const uint8_t S[KQ_POINTBYTES],
                                            const uint8_t share[KQ_SCALARBYTES],
                                            const uint8_t S_i[KQ_POINTBYTES], uint32_t index);

/* Verifies a partial's DLEQ proof against the holder's public share S_i, the ciphertext's R and
 * the label digest. KQ_OK or KQ_ERR_BAD_PROOF (also for invalid points). Cost about 2.7 M. */
KQ_MUST_USE enum kq_err kq_tkem_partial_verify(const struct kq_tkem_partial *p,
                                               const uint8_t digest[KQ_LABEL_DIGESTBYTES],
                                               const uint8_t R[KQ_POINTBYTES],
                                               const uint8_t S_i[KQ_POINTBYTES]);

/* Combines partials and opens ct under label. parts[0..nparts) are the partials, S_i[k] the
 * public share of the holder of parts[k]; t is the threshold; extra partials are spares.
 * Optimistic: interpolates from the first t usable partials without checking proofs (one
 * kq_pt_lincomb over t terms, 2.5 M for t = 3); only if the key commitment or the AEAD fails does
 * it verify every proof, flag the liars in faulty[k] (faulty may be NULL, else nparts bytes, set to
 * 0/1) and retry with t good partials. The payload (ct->sealed_len - 16 bytes) goes to pt (pt_cap
 * bytes), its length to *pt_len. Errors: KQ_ERR_INVALID_ARG (t = 0 or t over KQ_MAX_THRESHOLD),
 * KQ_ERR_THRESHOLD (nparts < t), KQ_ERR_ZERO_INDEX /
 * KQ_ERR_DUPLICATE_INDEX / KQ_ERR_LIMIT (indices), KQ_ERR_TYPE / KQ_ERR_LABEL (ct does not match
 * label), KQ_ERR_OVERFLOW (pt too small), KQ_ERR_BAD_PROOF (faulty partials left fewer than t good
 * ones), KQ_ERR_AUTH (every proof holds but the ciphertext does not open: it was tampered with).
 * A partial whose Z_i is not a valid non-identity point is flagged faulty without a proof check.
 * On failure pt is wiped and *pt_len is 0; faulty is meaningful on success and failure. */
KQ_MUST_USE enum kq_err kq_tkem_combine(uint8_t *pt, size_t pt_cap, size_t *pt_len, uint8_t *faulty,
                                        const struct kq_tkem_ct *ct, const struct kq_label *label,
                                        const uint8_t S[KQ_POINTBYTES],
                                        const struct kq_tkem_partial *parts,
                                        const uint8_t (*S_i)[KQ_POINTBYTES], size_t nparts,
                                        size_t t);
/* Same contract, but verifies every proof before combining (cost about 2.7 M per partial plus the
 * optimistic path). */
KQ_MUST_USE enum kq_err
kq_tkem_combine_verified(uint8_t *pt, size_t pt_cap, size_t *pt_len, uint8_t *faulty,
                         const struct kq_tkem_ct *ct, const struct kq_label *label,
                         const uint8_t S[KQ_POINTBYTES], const struct kq_tkem_partial *parts,
                         const uint8_t (*S_i)[KQ_POINTBYTES], size_t nparts, size_t t);

#endif
