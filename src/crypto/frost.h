/* FROST(ristretto255, SHA-512), exactly RFC 9591: trusted-dealer key generation (Appendix C),
 * round one (commit), round two (sign), signature-share verification (identifiable abort),
 * aggregation and plain Schnorr verification. Invariants: round-one nonces live only in a
 * struct kq_frost_nonces in memory, are consumed and wiped by the one kq_frost_sign call they
 * serve, and nothing in this module serializes them; every point, scalar, identifier and list
 * that comes from outside is checked before use. */
#ifndef KQ_CRYPTO_FROST_H
#define KQ_CRYPTO_FROST_H

#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/limits.h"
#include "crypto/group.h"

/* RFC 9591 §6.2 contextString, prefixed (without NUL) to every H1, H2, H3, H4 and H5 input. */
#define KQ_FROST_CONTEXT_STRING "FROST-RISTRETTO255-SHA512-v1"

#define KQ_FROST_SIGBYTES       64 /* SerializeElement(R) || SerializeScalar(z) */
#define KQ_FROST_SHAREBYTES     32 /* a signature share z_i, SerializeScalar */
#define KQ_FROST_RANDOMBYTES    32 /* random_bytes(32) fed to nonce_generate */
#define KQ_FROST_HASHBYTES      64 /* SHA-512 output, H4 and H5 */
#define KQ_FROST_RHO_INPUTBYTES (KQ_POINTBYTES + 2 * KQ_FROST_HASHBYTES + KQ_SCALARBYTES)

size_t kq_frost_sigbytes(void);
size_t kq_frost_sharebytes(void);
size_t kq_frost_randombytes(void);

/* What one participant holds: its identifier (1..KQ_MAX_PARTICIPANTS), its signing share
 * secret_key_i (secret: keep it in kq_secure_alloc memory when long-lived, wipe it with
 * kq_frost_key_package_wipe), its verifying share public_key_i = secret_key_i * G, the group
 * public key and the threshold (MIN_PARTICIPANTS) of the sharing. */
struct kq_frost_key_package {
    uint32_t identifier;
    uint32_t threshold;
    uint8_t signing_share[KQ_SCALARBYTES];
    uint8_t verifying_share[KQ_POINTBYTES];
    uint8_t group_public_key[KQ_POINTBYTES];
};

/* RFC 9591 "group info", public: the threshold t, the number of participants n, the group
 * public key and verifying_shares[i-1] = public_key_i for i = 1..n. */
struct kq_frost_public_package {
    uint32_t threshold;
    uint32_t max_signers;
    uint8_t group_public_key[KQ_POINTBYTES];
    uint8_t verifying_shares[KQ_MAX_PARTICIPANTS][KQ_POINTBYTES];
};

/* A round-one commitment (i, hiding_nonce_commitment D_i, binding_nonce_commitment E_i). */
struct kq_frost_commitment {
    uint32_t identifier;
    uint8_t hiding[KQ_POINTBYTES];
    uint8_t binding[KQ_POINTBYTES];
};

/* Round-one secret state. Private to this module: callers only pass it, in place, from
 * kq_frost_commit to kq_frost_sign (or kq_frost_nonces_wipe). It holds the commitment it belongs
 * to, so sign can check that the coordinator's list carries this participant's own commitment,
 * and its own address, so a copy moved elsewhere (a struct assignment, a memcpy) is refused. */
struct kq_frost_nonces {
    const void *self; /* where commit wrote it */
    uint32_t identifier;
    uint32_t state; /* KQ_FROST_NONCES_FRESH, or anything else: unusable */
    uint8_t hiding[KQ_SCALARBYTES];
    uint8_t binding[KQ_SCALARBYTES];
    struct kq_frost_commitment commitment;
};
#define KQ_FROST_NONCES_FRESH 0x6e6f6e63u /* "nonc"; a zeroed or wiped struct is not fresh */

/* ---- Key generation ---------------------------------------------------------------------- */

/* RFC 9591 Appendix C trusted_dealer_keygen with a fresh random secret and coefficients:
 * fills pkgs[0..n) (secret; identifiers 1..n) and pub. 1 <= t <= n <= KQ_MAX_PARTICIPANTS,
 * else KQ_ERR_INVALID_ARG. The dealer's polynomial is wiped before returning. On failure pkgs
 * and pub are wiped. */
KQ_MUST_USE enum kq_err kq_frost_keygen_dealer(struct kq_frost_key_package *pkgs,
                                               struct kq_frost_public_package *pub, size_t t,
                                               size_t n);
/* The same with the polynomial given: coeffs[0] is the group secret key, coeffs[1..t) the
 * share_polynomial_coefficients (t canonical scalars, secret, not modified). For known-answer
 * tests (RFC 9591 Appendix E) and for callers that own their randomness. KQ_ERR_BAD_SCALAR for
 * a non-canonical coefficient or a zero secret. */
KQ_MUST_USE enum kq_err kq_frost_keygen_with_coefficients(struct kq_frost_key_package *pkgs,
                                                          struct kq_frost_public_package *pub,
                                                          const uint8_t (*coeffs)[KQ_SCALARBYTES],
                                                          size_t t, size_t n);
/* derive_group_info (RFC 9591 Appendix C.2) from a Feldman commitment vector commits[0..t)
 * such as a DKG's summed commitments: group key = commits[0], public_key_i = sum_j i^j C_j.
 * KQ_ERR_INVALID_ARG for bad t/n, KQ_ERR_BAD_POINT for an invalid commitment or an identity
 * group key or verifying share. pub is wiped on failure. */
KQ_MUST_USE enum kq_err kq_frost_public_from_commitments(struct kq_frost_public_package *pub,
                                                         const uint8_t (*commits)[KQ_POINTBYTES],
                                                         size_t t, size_t n);
/* Builds participant `identifier`'s key package from its share (a DKG's output, or a dealer's)
 * and the group info, after checking share * G == pub->verifying_shares[identifier - 1]
 * (KQ_ERR_BAD_SHARE otherwise; KQ_ERR_BAD_SCALAR for a non-canonical or zero share,
 * KQ_ERR_INVALID_ARG for an identifier outside 1..pub->max_signers). pkg is wiped on failure. */
KQ_MUST_USE enum kq_err kq_frost_key_package_from_share(struct kq_frost_key_package *pkg,
                                                        const struct kq_frost_public_package *pub,
                                                        uint32_t identifier,
                                                        const uint8_t share[KQ_SCALARBYTES]);
void kq_frost_key_package_wipe(struct kq_frost_key_package *pkg);

/* ---- Round one --------------------------------------------------------------------------- */

/* RFC 9591 commit(): hiding and binding nonces from nonce_generate(secret_key_i) =
 * H3(random_bytes(32) || SerializeScalar(secret_key_i)) with OS randomness, and their
 * commitment. nonces becomes fresh and must go to exactly one kq_frost_sign (or be wiped);
 * comm goes to the coordinator. On failure both are wiped. */
KQ_MUST_USE enum kq_err kq_frost_commit(struct kq_frost_nonces *nonces,
                                        struct kq_frost_commitment *comm,
                                        const struct kq_frost_key_package *kp);
/* For known-answer tests ONLY (RFC 9591 Appendix E): the same with the two random_bytes(32)
 * values given instead of drawn from the OS. Using it with anything but fresh uniform
 * randomness for each signature leaks the signing share. */
KQ_MUST_USE enum kq_err
kq_frost_commit_with_randomness(struct kq_frost_nonces *nonces, struct kq_frost_commitment *comm,
                                const struct kq_frost_key_package *kp,
                                const uint8_t hiding_randomness[KQ_FROST_RANDOMBYTES],
                                const uint8_t binding_randomness[KQ_FROST_RANDOMBYTES]);
/* Discards round-one state that will not be used. */
void kq_frost_nonces_wipe(struct kq_frost_nonces *nonces);

/* ---- Round two --------------------------------------------------------------------------- */

/* RFC 9591 sign(): writes the signature share z_i over msg[0..msg_len) for the commitment list
 * list[0..n) (sorted by identifier, strictly ascending). Checks: nonces fresh and at the address
 * commit wrote them (KQ_ERR_STATE otherwise: a second use, or a copy), msg_len <=
 * KQ_MAX_SIGN_MESSAGE_BYTES (KQ_ERR_LIMIT), the list (see kq_frost_check_commitments), n >=
 * kp->threshold (KQ_ERR_THRESHOLD), the signer's own identifier and exact commitment in the list
 * (KQ_ERR_NOT_FOUND), nonces made for another participant's key (KQ_ERR_INVALID_ARG). The nonces
 * are consumed and wiped by this call whatever its result, so they
 * can never sign twice. z_i is wiped on failure. */
KQ_MUST_USE enum kq_err kq_frost_sign(uint8_t z_i[KQ_FROST_SHAREBYTES],
                                      struct kq_frost_nonces *nonces,
                                      const struct kq_frost_key_package *kp,
                                      const struct kq_frost_commitment *list, size_t n,
                                      const uint8_t *msg, size_t msg_len);

/* ---- Coordinator ------------------------------------------------------------------------- */

/* RFC 9591 verify_signature_share for the participant `identifier` of list[0..n): KQ_OK, or
 * KQ_ERR_BAD_SIGNATURE when z_i * G != D_i + rho_i E_i + (c lambda_i) public_key_i or z_i is
 * not canonical. Input errors as kq_frost_sign (list, threshold against pub, message), and
 * KQ_ERR_NOT_FOUND when identifier is not in the list. */
KQ_MUST_USE enum kq_err kq_frost_verify_share(const struct kq_frost_public_package *pub,
                                              const struct kq_frost_commitment *list, size_t n,
                                              uint32_t identifier,
                                              const uint8_t z_i[KQ_FROST_SHAREBYTES],
                                              const uint8_t *msg, size_t msg_len);
/* verify_signature_share for every signer at once (the list derived once, so n + 1 scalar
 * multiplications per share instead of 2n): shares[k] belongs to list[k].identifier. KQ_OK if
 * all are valid; otherwise KQ_ERR_BAD_SIGNATURE and *culprit (may be NULL) receives the first
 * invalid signer's identifier. Input errors as kq_frost_verify_share (*culprit 0). */
KQ_MUST_USE enum kq_err kq_frost_verify_shares(const struct kq_frost_public_package *pub,
                                               const struct kq_frost_commitment *list, size_t n,
                                               const uint8_t (*shares)[KQ_FROST_SHAREBYTES],
                                               const uint8_t *msg, size_t msg_len,
                                               uint32_t *culprit);
/* RFC 9591 aggregate(): sig = R || z with R the group commitment and z = sum z_i, where
 * shares[k] is the share of list[k].identifier; then the signature is verified under the group
 * key before it is released. If it does not verify, every share is checked
 * (identifiable abort): *culprit (may be NULL) receives the identifier of the first signer
 * whose share is invalid (0 if none could be named) and KQ_ERR_BAD_SIGNATURE is returned with
 * sig wiped. Input errors as kq_frost_verify_share. */
KQ_MUST_USE enum kq_err kq_frost_aggregate(uint8_t sig[KQ_FROST_SIGBYTES],
                                           const struct kq_frost_public_package *pub,
                                           const struct kq_frost_commitment *list, size_t n,
                                           const uint8_t (*shares)[KQ_FROST_SHAREBYTES],
                                           const uint8_t *msg, size_t msg_len, uint32_t *culprit);

/* ---- Verification ------------------------------------------------------------------------ */

/* RFC 9591 Appendix B prime_order_verify: c = H2(R || PK || msg), accept iff z*G == R + c*PK.
 * KQ_OK; KQ_ERR_BAD_POINT for an invalid or identity public key; KQ_ERR_BAD_SIGNATURE for an
 * invalid or identity R, a non-canonical z or a failed equation; KQ_ERR_LIMIT for
 * msg_len > KQ_MAX_SIGN_MESSAGE_BYTES. */
KQ_MUST_USE enum kq_err kq_frost_verify(const uint8_t sig[KQ_FROST_SIGBYTES],
                                        const uint8_t public_key[KQ_POINTBYTES], const uint8_t *msg,
                                        size_t msg_len);

/* ---- RFC 9591 §4 helpers, public for known-answer tests ----------------------------------- */

/* KQ_OK if 1 <= n <= KQ_MAX_PARTICIPANTS, every identifier is in 1..max_id and strictly
 * ascending, and every commitment is a valid non-identity point. KQ_ERR_INVALID_ARG (n),
 * KQ_ERR_ZERO_INDEX, KQ_ERR_LIMIT (identifier > max_id), KQ_ERR_DUPLICATE_INDEX, KQ_ERR_FORMAT
 * (not sorted), KQ_ERR_BAD_POINT. */
KQ_MUST_USE enum kq_err kq_frost_check_commitments(const struct kq_frost_commitment *list, size_t n,
                                                   uint32_t max_id);
/* derive_interpolating_value(L = ids[0..n), x_i = id): prod x_j / prod (x_j - x_i) over
 * x_j != x_i. KQ_ERR_ZERO_INDEX / KQ_ERR_LIMIT / KQ_ERR_DUPLICATE_INDEX for a bad list,
 * KQ_ERR_NOT_FOUND when id is not in it. */
KQ_MUST_USE enum kq_err kq_frost_interpolating_value(uint8_t out[KQ_SCALARBYTES],
                                                     const uint32_t *ids, size_t n, uint32_t id);
/* rho_input for list[k]: SerializeElement(PK) || H4(msg) || H5(encode_group_commitment_list)
 * || SerializeScalar(identifier). The list is assumed checked. */
void kq_frost_binding_factor_input(uint8_t out[KQ_FROST_RHO_INPUTBYTES],
                                   const uint8_t group_public_key[KQ_POINTBYTES],
                                   const struct kq_frost_commitment *list, size_t n, size_t k,
                                   const uint8_t *msg, size_t msg_len);
/* compute_binding_factors: rho[k] = H1(rho_input for list[k]), k = 0..n. The list must pass
 * kq_frost_check_commitments (asserted n bound). */
void kq_frost_binding_factors(uint8_t (*rho)[KQ_SCALARBYTES],
                              const uint8_t group_public_key[KQ_POINTBYTES],
                              const struct kq_frost_commitment *list, size_t n, const uint8_t *msg,
                              size_t msg_len);
/* compute_group_commitment: R = sum (D_k + rho_k E_k). KQ_ERR_BAD_POINT for an invalid point
 * or an identity result (which SerializeElement refuses). */
KQ_MUST_USE enum kq_err kq_frost_group_commitment(uint8_t R[KQ_POINTBYTES],
                                                  const struct kq_frost_commitment *list, size_t n,
                                                  const uint8_t (*rho)[KQ_SCALARBYTES]);
/* compute_challenge: c = H2(R || PK || msg). */
void kq_frost_challenge(uint8_t c[KQ_SCALARBYTES], const uint8_t R[KQ_POINTBYTES],
                        const uint8_t group_public_key[KQ_POINTBYTES], const uint8_t *msg,
                        size_t msg_len);
/* H3(m) for a nonce: nonce_generate with the given random bytes (RFC 9591 §4.1). */
void kq_frost_nonce_generate(uint8_t nonce[KQ_SCALARBYTES],
                             const uint8_t random_bytes[KQ_FROST_RANDOMBYTES],
                             const uint8_t secret[KQ_SCALARBYTES]);

#endif
