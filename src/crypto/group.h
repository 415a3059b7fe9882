/* The ristretto255 layer every threshold construction stands on: domain-separated transcript
 * hashing, scalar and point checks, polynomials and Lagrange coefficients, Feldman VSS, and the
 * Schnorr and Chaum-Pedersen (DLEQ) proofs. Scalars and points are 32-byte arrays in libsodium's
 * encoding (scalars little-endian, reduced mod L). Nothing here keeps state between calls. */
#ifndef KQ_CRYPTO_GROUP_H
#define KQ_CRYPTO_GROUP_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"

#define KQ_SCALARBYTES 32
#define KQ_POINTBYTES  32
#define KQ_PROOFBYTES  64 /* Schnorr and DLEQ proofs: challenge c || response z */

size_t kq_scalarbytes(void);
size_t kq_pointbytes(void);
size_t kq_proofbytes(void);

/* ---- Transcript hashing ---------------------------------------------------------------------
 * SHA-512 over a domain-separation tag and length-prefixed fields:
 *   SHA-512( u64be(len(dst)) || dst || u64be(len(f1)) || f1 || ... )
 * so no two different field sequences hash alike. A transcript is copied by value to fork it
 * (bind a common prefix once, then finish several hashes). Finishing wipes the state. */
struct kq_ts {
    crypto_hash_sha512_state st;
};

void kq_ts_init(struct kq_ts *ts, const char *dst);
void kq_ts_put(struct kq_ts *ts, const void *data, size_t len);
void kq_ts_put_u32(struct kq_ts *ts, uint32_t v); /* as a 4-byte big-endian field */
/* Finish into a scalar: the 64-byte digest reduced mod L. */
void kq_ts_scalar(struct kq_ts *ts, uint8_t out[KQ_SCALARBYTES]);
/* Finish into a point: the 64-byte digest mapped by ristretto255 from_hash (RFC 9496 §4.3.4). */
void kq_ts_point(struct kq_ts *ts, uint8_t out[KQ_POINTBYTES]);
/* Finish into the raw 64-byte digest. */
void kq_ts_digest(struct kq_ts *ts, uint8_t out[64]);
/* Wipe without finishing (a transcript that absorbed a secret and is abandoned). */
void kq_ts_wipe(struct kq_ts *ts);

/* ---- Scalars ---------------------------------------------------------------------------- */
/* A uniformly random nonzero scalar. */
void kq_sc_random(uint8_t out[KQ_SCALARBYTES]);
/* A nonzero nonce scalar hedged with secret material: H(dst "kq/nonce", random32, secret). A
 * broken RNG then still yields distinct nonces for distinct secrets. */
void kq_sc_nonce(uint8_t out[KQ_SCALARBYTES], const uint8_t *secret, size_t secret_len);
/* 1 if s < L (the canonical encoding of a scalar), else 0. Constant time. */
int kq_sc_is_canonical(const uint8_t s[KQ_SCALARBYTES]);
/* 1 if s is zero. Constant time. */
int kq_sc_is_zero(const uint8_t s[KQ_SCALARBYTES]);
/* KQ_OK if s is canonical and nonzero, else KQ_ERR_BAD_SCALAR. */
KQ_MUST_USE enum kq_err kq_sc_check(const uint8_t s[KQ_SCALARBYTES]);
void kq_sc_from_u32(uint8_t out[KQ_SCALARBYTES], uint32_t v);

/* ---- Points ----------------------------------------------------------------------------- */
/* KQ_OK if p is a canonical ristretto255 encoding and not the identity, else KQ_ERR_BAD_POINT. */
KQ_MUST_USE enum kq_err kq_pt_check(const uint8_t p[KQ_POINTBYTES]);
/* Same, but the identity is accepted (commitments to a zero coefficient). */
KQ_MUST_USE enum kq_err kq_pt_check_allow_identity(const uint8_t p[KQ_POINTBYTES]);
int kq_pt_is_identity(const uint8_t p[KQ_POINTBYTES]);
/* out = s * p. KQ_ERR_BAD_POINT if p is invalid or the result is the identity (s = 0). */
KQ_MUST_USE enum kq_err kq_pt_mul(uint8_t out[KQ_POINTBYTES], const uint8_t s[KQ_SCALARBYTES],
                                  const uint8_t p[KQ_POINTBYTES]);
/* out = s * G, where s = 0 gives the identity (all-zero encoding). Never fails. */
void kq_pt_mul_base(uint8_t out[KQ_POINTBYTES], const uint8_t s[KQ_SCALARBYTES]);
/* out = a + b; identities allowed. KQ_ERR_BAD_POINT on an invalid encoding. */
KQ_MUST_USE enum kq_err kq_pt_add(uint8_t out[KQ_POINTBYTES], const uint8_t a[KQ_POINTBYTES],
                                  const uint8_t b[KQ_POINTBYTES]);
/* out = sum s[i] * p[i] over n terms; zero scalars and identity points contribute nothing and the
 * result may be the identity. KQ_ERR_BAD_POINT on an invalid encoding. */
KQ_MUST_USE enum kq_err kq_pt_lincomb(uint8_t out[KQ_POINTBYTES],
                                      const uint8_t (*s)[KQ_SCALARBYTES],
                                      const uint8_t (*p)[KQ_POINTBYTES], size_t n);

/* out = p[0] + ... + p[n-1] (identities allowed, n = 0 gives the identity), decoding each point
 * once: about 0.09 M per point instead of 0.28 M per libsodium addition. KQ_ERR_BAD_POINT on an
 * invalid encoding. */
KQ_MUST_USE enum kq_err kq_pt_sum(uint8_t out[KQ_POINTBYTES], const uint8_t (*p)[KQ_POINTBYTES],
                                  size_t n);

/* out = z*G - c*X for PUBLIC z, c, X only (signature and proof verification): variable time,
 * about 0.8 M. z and c canonical; KQ_ERR_BAD_POINT for an invalid X (the identity is allowed). */
KQ_MUST_USE enum kq_err kq_pt_base_minus_public(uint8_t out[KQ_POINTBYTES],
                                                const uint8_t z[KQ_SCALARBYTES],
                                                const uint8_t c[KQ_SCALARBYTES],
                                                const uint8_t X[KQ_POINTBYTES]);

/* A precomputed table of multiples of one public point P (about 9 KiB, about 1 M to build), so
 * that s*P costs about 0.3 M instead of 1 M. For a point used many times: a client wrapping data
 * keys under one key version's S. Public data: plain heap memory. */
struct kq_pt_table;
/* Builds the table of P. KQ_ERR_BAD_POINT for an invalid or identity P, KQ_ERR_NOMEM; *out is
 * NULL on failure. Free with kq_pt_table_free. */
KQ_MUST_USE enum kq_err kq_pt_table_new(struct kq_pt_table **out, const uint8_t P[KQ_POINTBYTES]);
void kq_pt_table_free(struct kq_pt_table *t);
/* The point the table was built from (32 bytes, owned by the table). */
const uint8_t *kq_pt_table_point(const struct kq_pt_table *t);
/* out = s * P, constant time in s (canonical; s = 0 gives the identity). */
void kq_pt_table_mul(uint8_t out[KQ_POINTBYTES], const struct kq_pt_table *t,
                     const uint8_t s[KQ_SCALARBYTES]);

/* ---- Polynomials and Lagrange ------------------------------------------------------------
 * Participants are numbered 1..KQ_MAX_PARTICIPANTS; index 0 is where the secret lives. */
/* out = f(x) for f with coefficients c[0..t) (c[0] the constant term). */
void kq_poly_eval(uint8_t out[KQ_SCALARBYTES], const uint8_t (*c)[KQ_SCALARBYTES], size_t t,
                  uint32_t x);
/* KQ_OK if every index is in 1..KQ_MAX_PARTICIPANTS and all are distinct; KQ_ERR_ZERO_INDEX,
 * KQ_ERR_LIMIT or KQ_ERR_DUPLICATE_INDEX otherwise. */
KQ_MUST_USE enum kq_err kq_indices_check(const uint32_t *xs, size_t n);
/* The Lagrange coefficient of xs[j] for interpolating at `at` over the points xs[0..n):
 *   prod_{m != j} (at - xs[m]) / (xs[j] - xs[m]).
 * Checks the indices as kq_indices_check does. `at` = 0 gives the coefficients that recover the
 * secret. */
KQ_MUST_USE enum kq_err kq_lagrange(uint8_t out[KQ_SCALARBYTES], const uint32_t *xs, size_t n,
                                    size_t j, uint32_t at);

/* Lagrange coefficients at 0 for the distinct indices xs[0..n): lambda[j] = prod_{m != j}
 * x_m / (x_m - x_j), the same values as kq_lagrange(.., j, 0). Indices are public, so the small
 * inverses are computed in variable time without a scalar inversion (a scalar inversion costs
 * ~0.5 M). Errors as kq_indices_check, KQ_ERR_INVALID_ARG for n = 0. */
KQ_MUST_USE enum kq_err kq_lagrange0(uint8_t (*lambda)[KQ_SCALARBYTES], const uint32_t *xs,
                                     size_t n);
/* Interpolation in the exponent: out = sum_j lambda_j(0) * P_j over the points P_j = s(x_j)*H
 * of distinct indices xs[0..t), giving s(0)*H (combining partials Z_i, Y_i). Constant time in
 * the points. KQ_ERR_BAD_POINT for an invalid or identity point, index errors as kq_lagrange0;
 * out is wiped on failure. */
KQ_MUST_USE enum kq_err kq_pt_interpolate0(uint8_t out[KQ_POINTBYTES], const uint32_t *xs,
                                           const uint8_t (*pts)[KQ_POINTBYTES], size_t t);

/* ---- Feldman VSS -------------------------------------------------------------------------- */
/* Deals secret (NULL: a fresh random nonzero secret) with threshold t among indices 1..n.
 * coeffs (t scalars, secret) receives the polynomial, commits (t points) C_j = c_j * G (the
 * identity when c_j = 0, as in a refresh), shares (n scalars, secret) f(1..n). The caller wipes
 * coeffs and shares. KQ_ERR_INVALID_ARG unless 1 <= t <= n <= KQ_MAX_PARTICIPANTS. */
KQ_MUST_USE enum kq_err kq_vss_deal(uint8_t (*coeffs)[KQ_SCALARBYTES],
                                    uint8_t (*commits)[KQ_POINTBYTES],
                                    uint8_t (*shares)[KQ_SCALARBYTES], const uint8_t *secret,
                                    size_t t, size_t n);
/* out = sum_j x^j * C_j: the public value f(x) * G implied by commitments (t points). */
KQ_MUST_USE enum kq_err kq_vss_eval_commits(uint8_t out[KQ_POINTBYTES],
                                            const uint8_t (*commits)[KQ_POINTBYTES], size_t t,
                                            uint32_t x);
/* out[i-1] = sum_j i^j C_j for i = 1..n: every participant's public share, decoding each
 * commitment once. KQ_ERR_INVALID_ARG for bad n or t, KQ_ERR_BAD_POINT for a malformed
 * commitment. */
KQ_MUST_USE enum kq_err kq_vss_public_shares(uint8_t (*out)[KQ_POINTBYTES], size_t n,
                                             const uint8_t (*commits)[KQ_POINTBYTES], size_t t);
/* KQ_OK if share * G == sum_j x^j C_j. KQ_ERR_BAD_SCALAR for a non-canonical share,
 * KQ_ERR_BAD_POINT for a malformed commitment, KQ_ERR_BAD_SHARE when the equation fails. */
KQ_MUST_USE enum kq_err kq_vss_verify_share(const uint8_t share[KQ_SCALARBYTES], uint32_t x,
                                            const uint8_t (*commits)[KQ_POINTBYTES], size_t t);

/* ---- Proofs ------------------------------------------------------------------------------
 * Both proofs are (c, z), 64 bytes, Fiat-Shamir over a caller-prepared binding transcript: the
 * caller initialises `bind` with its own tag and absorbs whatever the proof must be bound to
 * (public key, label, request id). The proof functions copy bind and never modify it. */
/* Schnorr proof of knowledge of x with X = x*G. T = k*G, c = H(bind, X, T), z = k + c*x. */
KQ_MUST_USE enum kq_err kq_schnorr_prove(uint8_t proof[KQ_PROOFBYTES], const struct kq_ts *bind,
                                         const uint8_t x[KQ_SCALARBYTES],
                                         const uint8_t X[KQ_POINTBYTES]);
/* The same proof with the nonce k supplied (canonical, nonzero, secret, never used for two
 * statements), for callers that must be replayable or reproduce a known-answer vector: the DKG
 * (nonce from its injected seed) and the KEM wrap (nonce from its coins). X = x*G is the caller's
 * own value and is only hashed, not checked. Costs one base multiplication. */
void kq_schnorr_prove_with_nonce(uint8_t proof[KQ_PROOFBYTES], const struct kq_ts *bind,
                                 const uint8_t x[KQ_SCALARBYTES], const uint8_t X[KQ_POINTBYTES],
                                 const uint8_t k[KQ_SCALARBYTES]);
/* KQ_OK or KQ_ERR_BAD_PROOF (also for non-canonical c, z or an invalid X). Costs ~0.9 M. */
KQ_MUST_USE enum kq_err kq_schnorr_verify(const uint8_t proof[KQ_PROOFBYTES],
                                          const struct kq_ts *bind, const uint8_t X[KQ_POINTBYTES]);

/* Chaum-Pedersen proof that log_G A = log_H B (= x), G the base point when g is NULL.
 * T1 = k*G, T2 = k*H, c = H(bind, G?, A, H, B, T1, T2), z = k + c*x. */
KQ_MUST_USE enum kq_err kq_dleq_prove(uint8_t proof[KQ_PROOFBYTES], const struct kq_ts *bind,
                                      const uint8_t x[KQ_SCALARBYTES], const uint8_t *g,
                                      const uint8_t A[KQ_POINTBYTES],
                                      const uint8_t H[KQ_POINTBYTES],
                                      const uint8_t B[KQ_POINTBYTES]);
/* The holder's form: computes B = x*H AND the proof above for (G, A, H, B) in one pass, x*H and
 * the nonce's k*H through one dual multiplication of H (about 1.6 M for both instead of 2 M).
 * A = x*G is the caller's public share (not recomputed, only hashed: a wrong A only makes the
 * proof fail). KQ_ERR_BAD_POINT for an invalid or identity H or an identity A; on failure B and
 * proof are zeroed. */
KQ_MUST_USE enum kq_err kq_dleq_prove_mul(uint8_t B[KQ_POINTBYTES], uint8_t proof[KQ_PROOFBYTES],
                                          const struct kq_ts *bind, const uint8_t x[KQ_SCALARBYTES],
                                          const uint8_t A[KQ_POINTBYTES],
                                          const uint8_t H[KQ_POINTBYTES]);
/* KQ_OK or KQ_ERR_BAD_PROOF. A, H, B must be valid non-identity points. Costs ~2 M. */
KQ_MUST_USE enum kq_err kq_dleq_verify(const uint8_t proof[KQ_PROOFBYTES], const struct kq_ts *bind,
                                       const uint8_t *g, const uint8_t A[KQ_POINTBYTES],
                                       const uint8_t H[KQ_POINTBYTES],
                                       const uint8_t B[KQ_POINTBYTES]);

#endif
