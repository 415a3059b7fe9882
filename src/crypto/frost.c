/* FROST(ristretto255, SHA-512) per RFC 9591 over libsodium. Invariants: H1..H5 are SHA-512 over
 * contextString || tag || m exactly as RFC 9591 §6.2 (no length prefixes, unlike kq_ts); a
 * commitment list is checked (sorted, distinct, valid non-identity points) before anything is
 * computed from it; nonces are consumed by the one sign call they serve; secrets are wiped at
 * every `out:` label and outputs wiped on failure. */
#include "crypto/frost.h"

#include <string.h>

#include "base/buf.h"
#include "base/ct.h"
#include "base/mem.h"

size_t kq_frost_sigbytes(void)
{
    return KQ_FROST_SIGBYTES;
}

size_t kq_frost_sharebytes(void)
{
    return KQ_FROST_SHAREBYTES;
}

size_t kq_frost_randombytes(void)
{
    return KQ_FROST_RANDOMBYTES;
}

KQ_STATIC_ASSERT(KQ_FROST_SIGBYTES == KQ_POINTBYTES + KQ_SCALARBYTES, "sig is R || z");
KQ_STATIC_ASSERT(KQ_FROST_SHAREBYTES == KQ_SCALARBYTES, "a share is a scalar");
KQ_STATIC_ASSERT(KQ_FROST_HASHBYTES == crypto_hash_sha512_BYTES, "H is SHA-512");
KQ_STATIC_ASSERT(KQ_MAX_PARTICIPANTS < 256, "identifiers 1..255 coincide with their scalars");

/* ---- H1..H5 (RFC 9591 §6.2) -------------------------------------------------------------- */

static void h_init(crypto_hash_sha512_state *st, const char *tag)
{
    crypto_hash_sha512_init(st);
    crypto_hash_sha512_update(st, (const uint8_t *)KQ_FROST_CONTEXT_STRING,
                              sizeof KQ_FROST_CONTEXT_STRING - 1);
    crypto_hash_sha512_update(st, (const uint8_t *)tag, strlen(tag));
}

static void h_update(crypto_hash_sha512_state *st, const uint8_t *m, size_t len)
{
    if (len > 0)
        crypto_hash_sha512_update(st, m, len);
}

/* Finish into a scalar: the digest as a little-endian integer mod L (RFC 9496 §4.4). */
static void h_final_scalar(crypto_hash_sha512_state *st, uint8_t out[KQ_SCALARBYTES])
{
    uint8_t h[KQ_FROST_HASHBYTES];
    crypto_hash_sha512_final(st, h);
    crypto_core_ristretto255_scalar_reduce(out, h);
    kq_wipe(h, sizeof h);
    kq_wipe(st, sizeof *st);
}

/* H4(msg) */
static void h4_msg(uint8_t out[KQ_FROST_HASHBYTES], const uint8_t *msg, size_t msg_len)
{
    crypto_hash_sha512_state st;
    h_init(&st, "msg");
    h_update(&st, msg, msg_len);
    crypto_hash_sha512_final(&st, out);
}

/* H5(encode_group_commitment_list(list)), hashing each encoded entry as it is produced. */
static void h5_commitments(uint8_t out[KQ_FROST_HASHBYTES], const struct kq_frost_commitment *list,
                           size_t n)
{
    crypto_hash_sha512_state st;
    uint8_t enc[KQ_SCALARBYTES + 2 * KQ_POINTBYTES], id[KQ_SCALARBYTES];
    struct kq_buf b;
    h_init(&st, "com");
    for (size_t k = 0; k < n; k++) {
        kq_sc_from_u32(id, list[k].identifier);
        kq_buf_writer(&b, enc, sizeof enc);
        KQ_ASSERT(kq_buf_put(&b, id, sizeof id) == KQ_OK);
        KQ_ASSERT(kq_buf_put(&b, list[k].hiding, KQ_POINTBYTES) == KQ_OK);
        KQ_ASSERT(kq_buf_put(&b, list[k].binding, KQ_POINTBYTES) == KQ_OK);
        KQ_ASSERT(kq_buf_len(&b) == sizeof enc);
        crypto_hash_sha512_update(&st, enc, sizeof enc);
    }
    crypto_hash_sha512_final(&st, out);
}

void kq_frost_nonce_generate(uint8_t nonce[KQ_SCALARBYTES],
                             const uint8_t random_bytes[KQ_FROST_RANDOMBYTES],
                             const uint8_t secret[KQ_SCALARBYTES])
{
    crypto_hash_sha512_state st;
    h_init(&st, "nonce");
    h_update(&st, random_bytes, KQ_FROST_RANDOMBYTES);
    h_update(&st, secret, KQ_SCALARBYTES);
    h_final_scalar(&st, nonce);
}

void kq_frost_challenge(uint8_t c[KQ_SCALARBYTES], const uint8_t R[KQ_POINTBYTES],
                        const uint8_t group_public_key[KQ_POINTBYTES], const uint8_t *msg,
                        size_t msg_len)
{
    crypto_hash_sha512_state st;
    h_init(&st, "chal");
    h_update(&st, R, KQ_POINTBYTES);
    h_update(&st, group_public_key, KQ_POINTBYTES);
    h_update(&st, msg, msg_len);
    h_final_scalar(&st, c);
}

/* ---- Lists, binding factors, group commitment (RFC 9591 §4) ----------------------------- */

enum kq_err kq_frost_check_commitments(const struct kq_frost_commitment *list, size_t n,
                                       uint32_t max_id)
{
    KQ_ENSURE(list != NULL && n >= 1 && n <= KQ_MAX_PARTICIPANTS, KQ_ERR_INVALID_ARG);
    KQ_ASSERT(max_id <= KQ_MAX_PARTICIPANTS);
    for (size_t k = 0; k < n; k++) {
        uint32_t id = list[k].identifier;
        KQ_ENSURE(id != 0, KQ_ERR_ZERO_INDEX);
        KQ_ENSURE(id <= max_id, KQ_ERR_LIMIT);
        if (k > 0) {
            KQ_ENSURE(id != list[k - 1].identifier, KQ_ERR_DUPLICATE_INDEX);
            KQ_ENSURE(id > list[k - 1].identifier, KQ_ERR_FORMAT);
        }
        KQ_GUARD(kq_pt_check(list[k].hiding));
        KQ_GUARD(kq_pt_check(list[k].binding));
    }
    return KQ_OK;
}

enum kq_err kq_frost_interpolating_value(uint8_t out[KQ_SCALARBYTES], const uint32_t *ids, size_t n,
                                         uint32_t id)
{
    /* RFC 9591 derive_interpolating_value: prod x_j / (x_j - x_i). Identifiers are public and
     * small, so kq_lagrange0 computes it without a scalar inversion (~0.5 M). */
    uint8_t lambda[KQ_MAX_PARTICIPANTS][KQ_SCALARBYTES];
    size_t found = 0, at = 0;
    KQ_GUARD(kq_indices_check(ids, n));
    for (size_t j = 0; j < n; j++) {
        if (ids[j] == id) {
            found++;
            at = j;
        }
    }
    KQ_ENSURE(found == 1, KQ_ERR_NOT_FOUND);
    KQ_GUARD(kq_lagrange0(lambda, ids, n));
    memcpy(out, lambda[at], KQ_SCALARBYTES);
    return KQ_OK;
}

/* rho_input_prefix = SerializeElement(PK) || H4(msg) || H5(encoded list). */
static void rho_prefix(uint8_t out[KQ_FROST_RHO_INPUTBYTES - KQ_SCALARBYTES],
                       const uint8_t group_public_key[KQ_POINTBYTES],
                       const struct kq_frost_commitment *list, size_t n, const uint8_t *msg,
                       size_t msg_len)
{
    struct kq_buf b;
    uint8_t *p = NULL;
    kq_buf_writer(&b, out, KQ_FROST_RHO_INPUTBYTES - KQ_SCALARBYTES);
    KQ_ASSERT(kq_buf_put(&b, group_public_key, KQ_POINTBYTES) == KQ_OK);
    KQ_ASSERT(kq_buf_reserve(&b, KQ_FROST_HASHBYTES, &p) == KQ_OK);
    h4_msg(p, msg, msg_len);
    KQ_ASSERT(kq_buf_reserve(&b, KQ_FROST_HASHBYTES, &p) == KQ_OK);
    h5_commitments(p, list, n);
    KQ_ASSERT(kq_buf_room(&b) == 0);
}

void kq_frost_binding_factor_input(uint8_t out[KQ_FROST_RHO_INPUTBYTES],
                                   const uint8_t group_public_key[KQ_POINTBYTES],
                                   const struct kq_frost_commitment *list, size_t n, size_t k,
                                   const uint8_t *msg, size_t msg_len)
{
    KQ_ASSERT(k < n && n <= KQ_MAX_PARTICIPANTS);
    rho_prefix(out, group_public_key, list, n, msg, msg_len);
    kq_sc_from_u32(out + KQ_FROST_RHO_INPUTBYTES - KQ_SCALARBYTES, list[k].identifier);
}

void kq_frost_binding_factors(uint8_t (*rho)[KQ_SCALARBYTES],
                              const uint8_t group_public_key[KQ_POINTBYTES],
                              const struct kq_frost_commitment *list, size_t n, const uint8_t *msg,
                              size_t msg_len)
{
    uint8_t prefix[KQ_FROST_RHO_INPUTBYTES - KQ_SCALARBYTES], id[KQ_SCALARBYTES];
    crypto_hash_sha512_state st;
    KQ_ASSERT(n >= 1 && n <= KQ_MAX_PARTICIPANTS);
    rho_prefix(prefix, group_public_key, list, n, msg, msg_len);
    for (size_t k = 0; k < n; k++) {
        kq_sc_from_u32(id, list[k].identifier);
        h_init(&st, "rho");
        h_update(&st, prefix, sizeof prefix);
        h_update(&st, id, sizeof id);
        h_final_scalar(&st, rho[k]);
    }
}

enum kq_err kq_frost_group_commitment(uint8_t R[KQ_POINTBYTES],
                                      const struct kq_frost_commitment *list, size_t n,
                                      const uint8_t (*rho)[KQ_SCALARBYTES])
{
    /* R = sum D_k + sum rho_k E_k: the hiding commitments summed on decoded points, the binding
     * ones through the group layer's linear combination (pairs of multiplications at ~1 M). */
    uint8_t acc[KQ_POINTBYTES], sum_d[KQ_POINTBYTES], sum_e[KQ_POINTBYTES];
    uint8_t d[KQ_MAX_PARTICIPANTS][KQ_POINTBYTES], e[KQ_MAX_PARTICIPANTS][KQ_POINTBYTES];
    KQ_ASSERT(n >= 1 && n <= KQ_MAX_PARTICIPANTS);
    for (size_t k = 0; k < n; k++) { /* kq_pt_sum and kq_pt_lincomb decode (validate) them */
        KQ_ENSURE(!kq_pt_is_identity(list[k].hiding), KQ_ERR_BAD_POINT);
        KQ_ENSURE(!kq_pt_is_identity(list[k].binding), KQ_ERR_BAD_POINT);
        memcpy(d[k], list[k].hiding, KQ_POINTBYTES);
        memcpy(e[k], list[k].binding, KQ_POINTBYTES);
    }
    KQ_GUARD(kq_pt_sum(sum_d, (const uint8_t(*)[KQ_POINTBYTES])d, n));
    KQ_GUARD(kq_pt_lincomb(sum_e, rho, (const uint8_t(*)[KQ_POINTBYTES])e, n));
    KQ_GUARD(kq_pt_add(acc, sum_d, sum_e));
    KQ_ENSURE(!kq_pt_is_identity(acc), KQ_ERR_BAD_POINT);
    memcpy(R, acc, KQ_POINTBYTES);
    return KQ_OK;
}

/* ---- Signing session: what sign, verify_share and aggregate all derive from the list ----- */

struct session {
    uint32_t ids[KQ_MAX_PARTICIPANTS];
    uint8_t rho[KQ_MAX_PARTICIPANTS][KQ_SCALARBYTES];
    uint8_t R[KQ_POINTBYTES];
    uint8_t c[KQ_SCALARBYTES];
};

/* Checks the request (message bound, list, threshold) before anything is computed from it. */
static enum kq_err check_request(const struct kq_frost_commitment *list, size_t n, uint32_t max_id,
                                 uint32_t threshold, const uint8_t *msg, size_t msg_len)
{
    KQ_ENSURE(msg != NULL || msg_len == 0, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(msg_len <= KQ_MAX_SIGN_MESSAGE_BYTES, KQ_ERR_LIMIT);
    KQ_GUARD(kq_frost_check_commitments(list, n, max_id));
    KQ_ENSURE(threshold >= 1 && n >= threshold, KQ_ERR_THRESHOLD);
    return KQ_OK;
}

static enum kq_err session_init(struct session *s, const uint8_t group_public_key[KQ_POINTBYTES],
                                const struct kq_frost_commitment *list, size_t n,
                                const uint8_t *msg, size_t msg_len)
{
    KQ_GUARD(kq_pt_check(group_public_key));
    for (size_t k = 0; k < n; k++)
        s->ids[k] = list[k].identifier;
    kq_frost_binding_factors(s->rho, group_public_key, list, n, msg, msg_len);
    KQ_GUARD(kq_frost_group_commitment(s->R, list, n, (const uint8_t(*)[KQ_SCALARBYTES])s->rho));
    kq_frost_challenge(s->c, s->R, group_public_key, msg, msg_len);
    return KQ_OK;
}

static enum kq_err find_index(const struct kq_frost_commitment *list, size_t n, uint32_t id,
                              size_t *k)
{
    for (size_t j = 0; j < n; j++) {
        if (list[j].identifier == id) {
            *k = j;
            return KQ_OK;
        }
    }
    return KQ_ERR_NOT_FOUND;
}

/* verify_signature_share for list[k] with public_key_i = Y, the session already derived. */
static enum kq_err share_check(const struct session *s, const struct kq_frost_commitment *list,
                               size_t n, size_t k, const uint8_t Y[KQ_POINTBYTES],
                               const uint8_t z_i[KQ_FROST_SHAREBYTES])
{
    uint8_t lam[KQ_SCALARBYTES], cl[KQ_SCALARBYTES];
    uint8_t l[KQ_POINTBYTES], r[KQ_POINTBYTES], t[KQ_POINTBYTES];
    KQ_ENSURE(kq_sc_is_canonical(z_i), KQ_ERR_BAD_SIGNATURE);
    KQ_GUARD(kq_frost_interpolating_value(lam, s->ids, n, list[k].identifier));
    /* z_i G == D_i + rho_i E_i + (c lambda_i) Y_i, checked as z_i G - (c lambda_i) Y_i (all
     * public: variable time) against D_i + rho_i E_i. */
    KQ_GUARD(kq_pt_mul(t, s->rho[k], list[k].binding));
    KQ_GUARD(kq_pt_add(r, list[k].hiding, t));
    crypto_core_ristretto255_scalar_mul(cl, s->c, lam);
    KQ_ENSURE(kq_pt_check(Y) == KQ_OK, KQ_ERR_BAD_SIGNATURE);
    KQ_ENSURE(kq_pt_base_minus_public(l, z_i, cl, Y) == KQ_OK, KQ_ERR_BAD_SIGNATURE);
    KQ_ENSURE(kq_ct_eq(l, r, KQ_POINTBYTES), KQ_ERR_BAD_SIGNATURE);
    return KQ_OK;
}

/* ---- Key generation ----------------------------------------------------------------------- */

static void public_wipe(struct kq_frost_public_package *pub)
{
    kq_wipe(pub, sizeof *pub);
}

enum kq_err kq_frost_public_from_commitments(struct kq_frost_public_package *pub,
                                             const uint8_t (*commits)[KQ_POINTBYTES], size_t t,
                                             size_t n)
{
    enum kq_err err = KQ_OK;
    KQ_CHECK(t >= 1 && t <= n && n <= KQ_MAX_PARTICIPANTS, KQ_ERR_INVALID_ARG);
    KQ_TRY(kq_pt_check(commits[0]));
    pub->threshold = (uint32_t)t;
    pub->max_signers = (uint32_t)n;
    memcpy(pub->group_public_key, commits[0], KQ_POINTBYTES);
    KQ_TRY(kq_vss_public_shares(pub->verifying_shares, n, commits, t));
    for (size_t i = 1; i <= n; i++) /* a verifying share may not be the identity */
        KQ_CHECK(!kq_pt_is_identity(pub->verifying_shares[i - 1]), KQ_ERR_BAD_POINT);
out:
    if (err != KQ_OK)
        public_wipe(pub);
    return err;
}

enum kq_err kq_frost_key_package_from_share(struct kq_frost_key_package *pkg,
                                            const struct kq_frost_public_package *pub,
                                            uint32_t identifier,
                                            const uint8_t share[KQ_SCALARBYTES])
{
    uint8_t Y[KQ_POINTBYTES];
    enum kq_err err = KQ_OK;
    KQ_CHECK(identifier >= 1 && identifier <= pub->max_signers, KQ_ERR_INVALID_ARG);
    KQ_CHECK(pub->max_signers <= KQ_MAX_PARTICIPANTS, KQ_ERR_INVALID_ARG);
    KQ_CHECK(pub->threshold >= 1 && pub->threshold <= pub->max_signers, KQ_ERR_INVALID_ARG);
    KQ_TRY(kq_sc_check(share));
    kq_pt_mul_base(Y, share);
    KQ_CHECK(kq_ct_eq(Y, pub->verifying_shares[identifier - 1], KQ_POINTBYTES), KQ_ERR_BAD_SHARE);
    pkg->identifier = identifier;
    pkg->threshold = pub->threshold;
    memcpy(pkg->signing_share, share, KQ_SCALARBYTES);
    memcpy(pkg->verifying_share, Y, KQ_POINTBYTES);
    memcpy(pkg->group_public_key, pub->group_public_key, KQ_POINTBYTES);
out:
    if (err != KQ_OK)
        kq_frost_key_package_wipe(pkg);
    return err;
}

void kq_frost_key_package_wipe(struct kq_frost_key_package *pkg)
{
    kq_wipe(pkg, sizeof *pkg);
}

/* pub from the dealer's own shares: public_key_i = s_i * G directly (cheaper than evaluating
 * the commitment polynomial, and the same value). */
static enum kq_err dealer_public(struct kq_frost_public_package *pub,
                                 const uint8_t (*coeffs)[KQ_SCALARBYTES], size_t t, size_t n,
                                 uint8_t share[KQ_SCALARBYTES])
{
    pub->threshold = (uint32_t)t;
    pub->max_signers = (uint32_t)n;
    kq_pt_mul_base(pub->group_public_key, coeffs[0]);
    for (size_t i = 1; i <= n; i++) {
        kq_poly_eval(share, coeffs, t, (uint32_t)i);
        KQ_GUARD(kq_sc_check(share)); /* a zero share has probability 2^-252 */
        kq_pt_mul_base(pub->verifying_shares[i - 1], share);
    }
    return KQ_OK;
}

enum kq_err kq_frost_keygen_with_coefficients(struct kq_frost_key_package *pkgs,
                                              struct kq_frost_public_package *pub,
                                              const uint8_t (*coeffs)[KQ_SCALARBYTES], size_t t,
                                              size_t n)
{
    uint8_t share[KQ_SCALARBYTES];
    enum kq_err err = KQ_OK;
    size_t done = 0;
    KQ_CHECK(t >= 1 && t <= n && n <= KQ_MAX_PARTICIPANTS, KQ_ERR_INVALID_ARG);
    for (size_t j = 0; j < t; j++)
        KQ_CHECK(kq_sc_is_canonical(coeffs[j]), KQ_ERR_BAD_SCALAR);
    KQ_CHECK(!kq_sc_is_zero(coeffs[0]), KQ_ERR_BAD_SCALAR);
    KQ_TRY(dealer_public(pub, coeffs, t, n, share));
    for (; done < n; done++) {
        kq_poly_eval(share, coeffs, t, (uint32_t)(done + 1));
        KQ_TRY(kq_frost_key_package_from_share(&pkgs[done], pub, (uint32_t)(done + 1), share));
    }
out:
    kq_wipe(share, sizeof share);
    if (err != KQ_OK) {
        for (size_t i = 0; i < done; i++)
            kq_frost_key_package_wipe(&pkgs[i]);
        public_wipe(pub);
    }
    return err;
}

enum kq_err kq_frost_keygen_dealer(struct kq_frost_key_package *pkgs,
                                   struct kq_frost_public_package *pub, size_t t, size_t n)
{
    uint8_t(*coeffs)[KQ_SCALARBYTES] = NULL;
    enum kq_err err = KQ_OK;
    KQ_ENSURE(t >= 1 && t <= n && n <= KQ_MAX_PARTICIPANTS, KQ_ERR_INVALID_ARG);
    coeffs = kq_secure_alloc(t * KQ_SCALARBYTES);
    KQ_ENSURE(coeffs != NULL, KQ_ERR_NOMEM);
    kq_sc_random(coeffs[0]); /* the group secret: nonzero */
    for (size_t j = 1; j < t; j++)
        crypto_core_ristretto255_scalar_random(coeffs[j]);
    err = kq_frost_keygen_with_coefficients(pkgs, pub, (const uint8_t(*)[KQ_SCALARBYTES])coeffs, t,
                                            n);
    kq_secure_free(coeffs); /* wipes */
    return err;
}

/* ---- Round one ------------------------------------------------------------------------------ */

void kq_frost_nonces_wipe(struct kq_frost_nonces *nonces)
{
    kq_wipe(nonces, sizeof *nonces); /* state 0: not fresh */
}

enum kq_err kq_frost_commit_with_randomness(struct kq_frost_nonces *nonces,
                                            struct kq_frost_commitment *comm,
                                            const struct kq_frost_key_package *kp,
                                            const uint8_t hiding_randomness[KQ_FROST_RANDOMBYTES],
                                            const uint8_t binding_randomness[KQ_FROST_RANDOMBYTES])
{
    enum kq_err err = KQ_OK;
    kq_frost_nonces_wipe(nonces);
    KQ_CHECK(kp->identifier >= 1 && kp->identifier <= KQ_MAX_PARTICIPANTS, KQ_ERR_INVALID_ARG);
    KQ_CHECK(kq_sc_is_canonical(kp->signing_share), KQ_ERR_BAD_SCALAR);
    kq_frost_nonce_generate(nonces->hiding, hiding_randomness, kp->signing_share);
    kq_frost_nonce_generate(nonces->binding, binding_randomness, kp->signing_share);
    /* A zero nonce (probability 2^-251) would commit to the identity, which no list accepts. */
    KQ_CHECK(!kq_sc_is_zero(nonces->hiding) && !kq_sc_is_zero(nonces->binding), KQ_ERR_CRYPTO);
    comm->identifier = kp->identifier;
    kq_pt_mul_base(comm->hiding, nonces->hiding);
    kq_pt_mul_base(comm->binding, nonces->binding);
    KQ_DECLASSIFY(comm, sizeof *comm); /* commitments are broadcast: public by design */
    nonces->identifier = kp->identifier;
    nonces->commitment = *comm;
    nonces->self = nonces;
    nonces->state = KQ_FROST_NONCES_FRESH;
out:
    if (err != KQ_OK) {
        kq_frost_nonces_wipe(nonces);
        kq_wipe(comm, sizeof *comm);
    }
    return err;
}

enum kq_err kq_frost_commit(struct kq_frost_nonces *nonces, struct kq_frost_commitment *comm,
                            const struct kq_frost_key_package *kp)
{
    uint8_t rnd[2][KQ_FROST_RANDOMBYTES];
    kq_random(rnd, sizeof rnd);
    enum kq_err err = kq_frost_commit_with_randomness(nonces, comm, kp, rnd[0], rnd[1]);
    kq_wipe(rnd, sizeof rnd);
    return err;
}

/* ---- Round two ------------------------------------------------------------------------------ */

/* sig_share = hiding + binding * rho + lambda * secret_key_i * c */
static void share_compute(uint8_t z_i[KQ_FROST_SHAREBYTES], const struct kq_frost_nonces *nonces,
                          const uint8_t rho[KQ_SCALARBYTES], const uint8_t lam[KQ_SCALARBYTES],
                          const uint8_t sk[KQ_SCALARBYTES], const uint8_t c[KQ_SCALARBYTES])
{
    uint8_t a[KQ_SCALARBYTES], b[KQ_SCALARBYTES];
    crypto_core_ristretto255_scalar_mul(a, nonces->binding, rho);
    crypto_core_ristretto255_scalar_add(a, nonces->hiding, a);
    crypto_core_ristretto255_scalar_mul(b, lam, sk);
    crypto_core_ristretto255_scalar_mul(b, b, c);
    crypto_core_ristretto255_scalar_add(z_i, a, b);
    kq_wipe(a, sizeof a);
    kq_wipe(b, sizeof b);
}

enum kq_err kq_frost_sign(uint8_t z_i[KQ_FROST_SHAREBYTES], struct kq_frost_nonces *nonces,
                          const struct kq_frost_key_package *kp,
                          const struct kq_frost_commitment *list, size_t n, const uint8_t *msg,
                          size_t msg_len)
{
    struct session s;
    uint8_t lam[KQ_SCALARBYTES];
    size_t k = 0;
    enum kq_err err = KQ_OK;
    KQ_CHECK(nonces->state == KQ_FROST_NONCES_FRESH && nonces->self == nonces, KQ_ERR_STATE);
    KQ_CHECK(nonces->identifier == kp->identifier, KQ_ERR_INVALID_ARG);
    KQ_CHECK(kq_sc_is_canonical(kp->signing_share), KQ_ERR_BAD_SCALAR);
    KQ_TRY(check_request(list, n, KQ_MAX_PARTICIPANTS, kp->threshold, msg, msg_len));
    KQ_TRY(find_index(list, n, kp->identifier, &k));
    /* The coordinator must carry exactly the commitment these nonces belong to. */
    KQ_CHECK(kq_ct_eq(list[k].hiding, nonces->commitment.hiding, KQ_POINTBYTES) &&
                 kq_ct_eq(list[k].binding, nonces->commitment.binding, KQ_POINTBYTES),
             KQ_ERR_NOT_FOUND);
    KQ_TRY(session_init(&s, kp->group_public_key, list, n, msg, msg_len));
    KQ_TRY(kq_frost_interpolating_value(lam, s.ids, n, kp->identifier));
    share_compute(z_i, nonces, s.rho[k], lam, kp->signing_share, s.c);
out:
    kq_frost_nonces_wipe(nonces); /* consumed whatever happened: a nonce never signs twice */
    kq_wipe(lam, sizeof lam);
    if (err != KQ_OK)
        kq_wipe(z_i, KQ_FROST_SHAREBYTES);
    return err;
}

/* ---- Coordinator ------------------------------------------------------------------------- */

static enum kq_err check_public(const struct kq_frost_public_package *pub)
{
    KQ_ENSURE(pub->max_signers >= 1 && pub->max_signers <= KQ_MAX_PARTICIPANTS, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(pub->threshold >= 1 && pub->threshold <= pub->max_signers, KQ_ERR_INVALID_ARG);
    return KQ_OK;
}

enum kq_err kq_frost_verify_share(const struct kq_frost_public_package *pub,
                                  const struct kq_frost_commitment *list, size_t n,
                                  uint32_t identifier, const uint8_t z_i[KQ_FROST_SHAREBYTES],
                                  const uint8_t *msg, size_t msg_len)
{
    struct session s;
    size_t k = 0;
    KQ_GUARD(check_public(pub));
    KQ_GUARD(check_request(list, n, pub->max_signers, pub->threshold, msg, msg_len));
    KQ_GUARD(find_index(list, n, identifier, &k));
    KQ_GUARD(session_init(&s, pub->group_public_key, list, n, msg, msg_len));
    return share_check(&s, list, n, k, pub->verifying_shares[identifier - 1], z_i);
}

/* Identifiable abort: the identifier of the first signer whose share fails, 0 if none. */
static uint32_t name_culprit(const struct session *s, const struct kq_frost_public_package *pub,
                             const struct kq_frost_commitment *list, size_t n,
                             const uint8_t (*shares)[KQ_FROST_SHAREBYTES])
{
    for (size_t k = 0; k < n; k++) {
        uint32_t id = list[k].identifier;
        if (share_check(s, list, n, k, pub->verifying_shares[id - 1], shares[k]) != KQ_OK)
            return id;
    }
    return 0;
}

enum kq_err kq_frost_verify_shares(const struct kq_frost_public_package *pub,
                                   const struct kq_frost_commitment *list, size_t n,
                                   const uint8_t (*shares)[KQ_FROST_SHAREBYTES], const uint8_t *msg,
                                   size_t msg_len, uint32_t *culprit)
{
    struct session s;
    uint32_t bad = 0;
    if (culprit != NULL)
        *culprit = 0;
    KQ_GUARD(check_public(pub));
    KQ_GUARD(check_request(list, n, pub->max_signers, pub->threshold, msg, msg_len));
    KQ_GUARD(session_init(&s, pub->group_public_key, list, n, msg, msg_len));
    bad = name_culprit(&s, pub, list, n, shares);
    if (culprit != NULL)
        *culprit = bad;
    KQ_ENSURE(bad == 0, KQ_ERR_BAD_SIGNATURE);
    return KQ_OK;
}

enum kq_err kq_frost_aggregate(uint8_t sig[KQ_FROST_SIGBYTES],
                               const struct kq_frost_public_package *pub,
                               const struct kq_frost_commitment *list, size_t n,
                               const uint8_t (*shares)[KQ_FROST_SHAREBYTES], const uint8_t *msg,
                               size_t msg_len, uint32_t *culprit)
{
    struct session s;
    uint8_t z[KQ_SCALARBYTES] = {0};
    enum kq_err err = KQ_OK;
    int canonical = 1;
    if (culprit != NULL)
        *culprit = 0;
    KQ_TRY(check_public(pub));
    KQ_TRY(check_request(list, n, pub->max_signers, pub->threshold, msg, msg_len));
    KQ_TRY(session_init(&s, pub->group_public_key, list, n, msg, msg_len));
    for (size_t k = 0; k < n; k++) {
        canonical &= kq_sc_is_canonical(shares[k]);
        crypto_core_ristretto255_scalar_add(z, z, shares[k]);
    }
    memcpy(sig, s.R, KQ_POINTBYTES);
    memcpy(sig + KQ_POINTBYTES, z, KQ_SCALARBYTES);
    if (!canonical || kq_frost_verify(sig, pub->group_public_key, msg, msg_len) != KQ_OK) {
        if (culprit != NULL)
            *culprit = name_culprit(&s, pub, list, n, shares);
        err = KQ_ERR_BAD_SIGNATURE;
    }
out:
    kq_wipe(z, sizeof z);
    if (err != KQ_OK)
        kq_wipe(sig, KQ_FROST_SIGBYTES);
    return err;
}

/* ---- Verification ------------------------------------------------------------------------ */

enum kq_err kq_frost_verify(const uint8_t sig[KQ_FROST_SIGBYTES],
                            const uint8_t public_key[KQ_POINTBYTES], const uint8_t *msg,
                            size_t msg_len)
{
    const uint8_t *R = sig, *z = sig + KQ_POINTBYTES;
    uint8_t c[KQ_SCALARBYTES], l[KQ_POINTBYTES];
    KQ_ENSURE(msg != NULL || msg_len == 0, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(msg_len <= KQ_MAX_SIGN_MESSAGE_BYTES, KQ_ERR_LIMIT);
    KQ_GUARD(kq_pt_check(public_key));
    KQ_ENSURE(kq_pt_check(R) == KQ_OK, KQ_ERR_BAD_SIGNATURE);
    KQ_ENSURE(kq_sc_is_canonical(z), KQ_ERR_BAD_SIGNATURE);
    kq_frost_challenge(c, R, public_key, msg, msg_len);
    /* z G == R + c PK, checked as z G - c PK == R (public values: variable time) */
    KQ_ENSURE(kq_pt_base_minus_public(l, z, c, public_key) == KQ_OK, KQ_ERR_BAD_SIGNATURE);
    KQ_ENSURE(kq_ct_eq(l, R, KQ_POINTBYTES), KQ_ERR_BAD_SIGNATURE);
    return KQ_OK;
}
