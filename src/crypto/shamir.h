/* Shamir secret sharing over GF(2^8) with the AES polynomial x^8+x^4+x^3+x+1 (0x11B), byte-wise
 * as HashiCorp Vault does: a share is the secret's length in y-bytes followed by one x byte
 * (y-bytes || x). Arithmetic on secret bytes is bitsliced and constant time; x coordinates and
 * Lagrange coefficients are public. Also: salted BLAKE2b commitments that pin a share. */
#ifndef KQ_CRYPTO_SHAMIR_H
#define KQ_CRYPTO_SHAMIR_H

#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/limits.h"

/* A share carries one x byte after the y-bytes. */
#define KQ_SHAMIR_SHARE_OVERHEAD 1
/* Bytes of a share of a len-byte secret. */
#define KQ_SHAMIR_SHARE_BYTES(len) ((len) + KQ_SHAMIR_SHARE_OVERHEAD)
/* Smallest and largest share sizes combine accepts. */
#define KQ_SHAMIR_MIN_SHARE_BYTES KQ_SHAMIR_SHARE_BYTES(1)
#define KQ_SHAMIR_MAX_SHARE_BYTES KQ_SHAMIR_SHARE_BYTES(KQ_SHAMIR_MAX_SECRET_BYTES)
/* Smallest threshold: k = 1 would hand the secret out in every share. */
#define KQ_SHAMIR_MIN_THRESHOLD 2

/* Share commitments: BLAKE2b-256 over length-prefixed fields (see kq_shamir_commit). */
#define KQ_SHAMIR_COMMIT_BYTES 32
#define KQ_SHAMIR_SALT_BYTES   32
#define KQ_SHAMIR_COMMIT_TAG   "keyquorum/v1/shamir-commit"

size_t kq_shamir_share_overhead(void);
size_t kq_shamir_share_bytes(size_t secret_len);
size_t kq_shamir_max_shares(void);
size_t kq_shamir_max_secret_bytes(void);
size_t kq_shamir_commit_bytes(void);
size_t kq_shamir_salt_bytes(void);

/* ---- The field --------------------------------------------------------------------------
 * Constant time in both operands: no branch and no table index on a or b. */
/* a * b in GF(2^8) mod 0x11B. */
uint8_t kq_gf256_mul(uint8_t a, uint8_t b);
/* a^-1 (a^254); 0 maps to 0. */
uint8_t kq_gf256_inv(uint8_t a);
/* out[i] = a[i] * b[i] for i < n, through the bitsliced multiplier used by split and combine.
 * out may alias a or b. Any n. */
void kq_gf256_mul_vec(uint8_t *out, const uint8_t *a, const uint8_t *b, size_t n);

/* ---- Split ------------------------------------------------------------------------------- */
/* Splits secret[0..len) into n shares, any k of which recover it; share i (0-based) has x = i + 1
 * and is written at shares_out + i * share_stride as KQ_SHAMIR_SHARE_BYTES(len) bytes:
 * y_0 .. y_{len-1} || x. Each secret byte gets its own random polynomial of degree k - 1 (the
 * top coefficient may be zero, as in Vault); the coefficients are wiped before returning.
 * Requires 2 <= k <= n <= KQ_SHAMIR_MAX_SHARES (else KQ_ERR_INVALID_ARG), 1 <= len <=
 * KQ_SHAMIR_MAX_SECRET_BYTES (0: KQ_ERR_INVALID_ARG, more: KQ_ERR_LIMIT) and share_stride >=
 * KQ_SHAMIR_SHARE_BYTES(len) (else KQ_ERR_INVALID_ARG). The caller owns both buffers and wipes
 * the shares when done; secret must not overlap shares_out. Every argument is checked before
 * anything is written: on failure shares_out is untouched. Cost: about n * (k - 1) * ceil(len / 64)
 * bitsliced multiplies (a 32-byte secret 3-of-5 splits and combines in under 2 us here). */
KQ_MUST_USE enum kq_err kq_shamir_split(uint8_t *shares_out, size_t share_stride,
                                        const uint8_t *secret, size_t len, unsigned k, unsigned n);
/* Same with the caller's x coordinates xs[0..n): share i gets x = xs[i]. Besides the checks
 * above, KQ_ERR_ZERO_INDEX for an x of 0 and KQ_ERR_DUPLICATE_INDEX for a repeated x. */
KQ_MUST_USE enum kq_err kq_shamir_split_xs(uint8_t *shares_out, size_t share_stride,
                                           const uint8_t *secret, size_t len, unsigned k,
                                           const uint8_t *xs, unsigned n);

/* ---- Combine ----------------------------------------------------------------------------- */
/* Recovers the secret from count shares of share_len bytes each (y-bytes || x, Vault's layout)
 * into secret_out, which holds share_len - 1 bytes. Interpolates at 0 through every share given,
 * so more than k consistent shares work too; fewer than k give a wrong secret, undetectably
 * (use commitments to catch wrong shares). secret_out must not overlap a share. Errors: count < 2
 * KQ_ERR_THRESHOLD; count > KQ_SHAMIR_MAX_SHARES KQ_ERR_LIMIT; share_len <
 * KQ_SHAMIR_MIN_SHARE_BYTES KQ_ERR_TRUNCATED; share_len > KQ_SHAMIR_MAX_SHARE_BYTES KQ_ERR_LIMIT;
 * an x of 0 KQ_ERR_ZERO_INDEX; a repeated x KQ_ERR_DUPLICATE_INDEX. On failure the first
 * min(share_len - 1, KQ_SHAMIR_MAX_SECRET_BYTES) bytes of secret_out are zeroed (nothing when
 * share_len < 2). */
KQ_MUST_USE enum kq_err kq_shamir_combine(uint8_t *secret_out, const uint8_t *const *shares,
                                          size_t count, size_t share_len);
/* Same for shares whose lengths come separately (share_lens[i] for shares[i]), as read from
 * untrusted input: shares of different lengths give KQ_ERR_FORMAT, and a secret longer than
 * secret_cap gives KQ_ERR_OVERFLOW. On success *secret_len is the secret's length; on failure
 * it is 0 and secret_out[0..secret_cap) is zeroed. */
KQ_MUST_USE enum kq_err kq_shamir_combine_lens(uint8_t *secret_out, size_t secret_cap,
                                               size_t *secret_len, const uint8_t *const *shares,
                                               const size_t *share_lens, size_t count);

/* ---- Share commitments -------------------------------------------------------------------
 * commit = BLAKE2b-256 (unkeyed, libsodium crypto_generichash) over
 *   u64be(26) || "keyquorum/v1/shamir-commit" || u64be(len(object_id)) || object_id ||
 *   u64be(8) || u64be(version) || u64be(32) || salt || u64be(len(share)) || share
 * where share is the whole y-bytes || x encoding. The salt (32 random bytes, one per share,
 * chosen by the splitter) travels with the share and is not published with the commitment, so
 * a published commitment reveals nothing even about a short share. */
/* Fills salt with fresh randomness. */
void kq_shamir_salt(uint8_t salt[KQ_SHAMIR_SALT_BYTES]);
/* Computes the commitment of share under (object_id, version, salt). object_id is 1 to
 * KQ_MAX_OBJECT_ID_BYTES bytes and the share KQ_SHAMIR_MIN_SHARE_BYTES to
 * KQ_SHAMIR_MAX_SHARE_BYTES bytes; otherwise KQ_ERR_INVALID_ARG and out is zeroed. */
KQ_MUST_USE enum kq_err kq_shamir_commit(uint8_t out[KQ_SHAMIR_COMMIT_BYTES],
                                         const uint8_t *object_id, size_t object_id_len,
                                         uint64_t version, const uint8_t salt[KQ_SHAMIR_SALT_BYTES],
                                         const uint8_t *share, size_t share_len);
/* KQ_OK if commit is the commitment of share under (object_id, version, salt), compared in
 * constant time; KQ_ERR_BAD_SHARE if not; KQ_ERR_INVALID_ARG for out-of-range sizes. */
KQ_MUST_USE enum kq_err kq_shamir_commit_verify(const uint8_t commit[KQ_SHAMIR_COMMIT_BYTES],
                                                const uint8_t *object_id, size_t object_id_len,
                                                uint64_t version,
                                                const uint8_t salt[KQ_SHAMIR_SALT_BYTES],
                                                const uint8_t *share, size_t share_len);

#endif
