/* Tests for src/crypto/frost.c: the RFC 9591 Appendix E FROST(ristretto255, SHA-512) vector
 * checked value by value from tests/vectors/frost_ristretto255_sha512.json, round trips with the
 * trusted dealer, and a failing case for every check (tampered signature, wrong message or key,
 * cheating signer, nonce reuse, duplicate, unsorted, identity, non-canonical, too few). */
#include "../test_util.h"

#include <jansson.h>

#include "base/limits.h"
#include "base/mem.h"
#include "crypto/frost.h"

/* L, the group order, little-endian: the smallest non-canonical scalar. */
static const char *const ORDER_HEX =
    "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";

/* ---- The RFC vector --------------------------------------------------------------------- */

struct vector {
    json_t *root;
    uint8_t secret[32], coeff1[32], pk[32], msg[64];
    size_t msg_len;
};

static const char *jstr(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    assert_non_null(v);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static void jhex(uint8_t *out, size_t n, json_t *obj, const char *key)
{
    kqt_hex(out, n, jstr(obj, key));
}

static void vector_load(struct vector *v)
{
    json_error_t jerr;
    v->root = json_load_file(kqt_path("tests/vectors/frost_ristretto255_sha512.json"), 0, &jerr);
    assert_non_null(v->root);
    json_t *in = json_object_get(v->root, "inputs");
    jhex(v->secret, 32, in, "group_secret_key");
    jhex(v->pk, 32, in, "group_public_key");
    const char *m = jstr(in, "message");
    v->msg_len = strlen(m) / 2;
    assert_true(v->msg_len <= sizeof v->msg);
    kqt_hex(v->msg, v->msg_len, m);
    json_t *coeffs = json_object_get(in, "share_polynomial_coefficients");
    assert_int_equal(json_array_size(coeffs), 1);
    kqt_hex(v->coeff1, 32, json_string_value(json_array_get(coeffs, 0)));
}

/* Dealer keygen with the vector's polynomial: 2-of-3. */
static void vector_keys(const struct vector *v, struct kq_frost_key_package pkgs[3],
                        struct kq_frost_public_package *pub)
{
    uint8_t coeffs[2][32];
    memcpy(coeffs[0], v->secret, 32);
    memcpy(coeffs[1], v->coeff1, 32);
    assert_int_equal(kq_frost_keygen_with_coefficients(pkgs, pub, coeffs, 2, 3), KQ_OK);
}

/* Appendix C keygen: group key and every participant share. */
static void vector_check_keys(const struct vector *v, const struct kq_frost_key_package pkgs[3],
                              const struct kq_frost_public_package *pub)
{
    assert_memory_equal(pub->group_public_key, v->pk, 32);
    json_t *shares = json_object_get(json_object_get(v->root, "inputs"), "participant_shares");
    assert_int_equal(json_array_size(shares), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *s = json_array_get(shares, i);
        uint8_t share[32];
        assert_int_equal(json_integer_value(json_object_get(s, "identifier")), i + 1);
        jhex(share, 32, s, "participant_share");
        assert_int_equal(pkgs[i].identifier, i + 1);
        assert_int_equal(pkgs[i].threshold, 2);
        assert_memory_equal(pkgs[i].signing_share, share, 32);
        assert_memory_equal(pkgs[i].group_public_key, v->pk, 32);
    }
}

/* Round one from the vector's randomness: nonce_generate outputs, nonces and commitments. */
static void vector_round_one(const struct vector *v, const struct kq_frost_key_package pkgs[3],
                             struct kq_frost_nonces nonces[2], struct kq_frost_commitment list[2])
{
    json_t *r1 = json_object_get(v->root, "round_one_outputs");
    assert_int_equal(json_array_size(r1), 2);
    for (size_t k = 0; k < 2; k++) {
        json_t *o = json_array_get(r1, k);
        uint32_t id = (uint32_t)json_integer_value(json_object_get(o, "identifier"));
        uint8_t hr[32], br[32], h[32], b[32], D[32], E[32], out[32];
        jhex(hr, 32, o, "hiding_nonce_randomness");
        jhex(br, 32, o, "binding_nonce_randomness");
        jhex(h, 32, o, "hiding_nonce");
        jhex(b, 32, o, "binding_nonce");
        jhex(D, 32, o, "hiding_nonce_commitment");
        jhex(E, 32, o, "binding_nonce_commitment");
        kq_frost_nonce_generate(out, hr, pkgs[id - 1].signing_share);
        assert_memory_equal(out, h, 32);
        kq_frost_nonce_generate(out, br, pkgs[id - 1].signing_share);
        assert_memory_equal(out, b, 32);
        assert_int_equal(
            kq_frost_commit_with_randomness(&nonces[k], &list[k], &pkgs[id - 1], hr, br), KQ_OK);
        assert_memory_equal(nonces[k].hiding, h, 32);
        assert_memory_equal(nonces[k].binding, b, 32);
        assert_int_equal(list[k].identifier, id);
        assert_memory_equal(list[k].hiding, D, 32);
        assert_memory_equal(list[k].binding, E, 32);
    }
    assert_int_equal(list[0].identifier, 1);
    assert_int_equal(list[1].identifier, 3);
}

/* Binding factor inputs and binding factors. */
static void vector_binding(const struct vector *v, const struct kq_frost_commitment list[2])
{
    json_t *r1 = json_object_get(v->root, "round_one_outputs");
    uint8_t rho[2][32];
    kq_frost_binding_factors(rho, v->pk, list, 2, v->msg, v->msg_len);
    for (size_t k = 0; k < 2; k++) {
        json_t *o = json_array_get(r1, k);
        uint8_t input[KQ_FROST_RHO_INPUTBYTES], want_input[KQ_FROST_RHO_INPUTBYTES], want[32];
        kq_frost_binding_factor_input(input, v->pk, list, 2, k, v->msg, v->msg_len);
        jhex(want_input, sizeof want_input, o, "binding_factor_input");
        assert_memory_equal(input, want_input, sizeof input);
        jhex(want, 32, o, "binding_factor");
        assert_memory_equal(rho[k], want, 32);
    }
}

/* Round two (each share also passes verify_share), aggregation and the final signature. */
static void vector_round_two(const struct vector *v, const struct kq_frost_key_package pkgs[3],
                             const struct kq_frost_public_package *pub,
                             struct kq_frost_nonces nonces[2],
                             const struct kq_frost_commitment list[2])
{
    json_t *r2 = json_object_get(v->root, "round_two_outputs");
    uint8_t z[2][32];
    assert_int_equal(json_array_size(r2), 2);
    for (size_t k = 0; k < 2; k++) {
        json_t *o = json_array_get(r2, k);
        uint8_t want[32];
        uint32_t id = list[k].identifier;
        assert_int_equal(json_integer_value(json_object_get(o, "identifier")), id);
        assert_int_equal(
            kq_frost_sign(z[k], &nonces[k], &pkgs[id - 1], list, 2, v->msg, v->msg_len), KQ_OK);
        jhex(want, 32, o, "sig_share");
        assert_memory_equal(z[k], want, 32);
        assert_int_equal(kq_frost_verify_share(pub, list, 2, id, z[k], v->msg, v->msg_len), KQ_OK);
    }
    uint8_t sig[64], want_sig[64];
    uint32_t culprit = 99;
    assert_int_equal(kq_frost_aggregate(sig, pub, list, 2, z, v->msg, v->msg_len, &culprit), KQ_OK);
    assert_int_equal(culprit, 0);
    jhex(want_sig, 64, json_object_get(v->root, "final_output"), "sig");
    assert_memory_equal(sig, want_sig, 64);
    assert_int_equal(kq_frost_verify(want_sig, v->pk, v->msg, v->msg_len), KQ_OK);
}

static void test_rfc9591_vector(void **state)
{
    (void)state;
    struct vector v;
    struct kq_frost_key_package pkgs[3];
    static struct kq_frost_public_package pub;
    struct kq_frost_nonces nonces[2];
    struct kq_frost_commitment list[2];
    vector_load(&v);
    json_t *cfg = json_object_get(v.root, "config");
    assert_int_equal(json_integer_value(json_object_get(cfg, "MIN_PARTICIPANTS")), 2);
    assert_int_equal(json_integer_value(json_object_get(cfg, "MAX_PARTICIPANTS")), 3);
    assert_string_equal(jstr(v.root, "context_string"), KQ_FROST_CONTEXT_STRING);
    vector_keys(&v, pkgs, &pub);
    vector_check_keys(&v, pkgs, &pub);
    vector_round_one(&v, pkgs, nonces, list);
    vector_binding(&v, list);
    vector_round_two(&v, pkgs, &pub, nonces, list);
    for (size_t i = 0; i < 3; i++)
        kq_frost_key_package_wipe(&pkgs[i]);
    json_decref(v.root);
}

/* ---- Helpers for random runs -------------------------------------------------------------- */

enum { T = 3, N = 5 };

struct run {
    struct kq_frost_key_package pkgs[N];
    struct kq_frost_public_package pub;
    struct kq_frost_nonces nonces[N];
    struct kq_frost_commitment list[N];
    uint8_t z[N][32];
    uint8_t sig[64];
};

static const uint8_t MSG[] = "keyquorum frost test message";

/* Signers ids[0..n) (sorted) run round one. */
static void run_commit(struct run *r, const uint32_t *ids, size_t n)
{
    for (size_t k = 0; k < n; k++)
        assert_int_equal(kq_frost_commit(&r->nonces[k], &r->list[k], &r->pkgs[ids[k] - 1]), KQ_OK);
}

static void run_sign(struct run *r, const uint32_t *ids, size_t n)
{
    for (size_t k = 0; k < n; k++)
        assert_int_equal(kq_frost_sign(r->z[k], &r->nonces[k], &r->pkgs[ids[k] - 1], r->list, n,
                                       MSG, sizeof MSG),
                         KQ_OK);
}

static struct run *run_new(void)
{
    struct run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    assert_int_equal(kq_frost_keygen_dealer(r->pkgs, &r->pub, T, N), KQ_OK);
    return r;
}

static void test_round_trip(void **state)
{
    (void)state;
    struct run *r = run_new();
    const uint32_t subsets[3][T] = {{1, 2, 3}, {2, 4, 5}, {1, 3, 5}};
    for (size_t s = 0; s < 3; s++) {
        run_commit(r, subsets[s], T);
        run_sign(r, subsets[s], T);
        for (size_t k = 0; k < T; k++)
            assert_int_equal(
                kq_frost_verify_share(&r->pub, r->list, T, subsets[s][k], r->z[k], MSG, sizeof MSG),
                KQ_OK);
        uint32_t culprit = 7;
        assert_int_equal(
            kq_frost_verify_shares(&r->pub, r->list, T, r->z, MSG, sizeof MSG, &culprit), KQ_OK);
        assert_int_equal(culprit, 0);
        assert_int_equal(
            kq_frost_aggregate(r->sig, &r->pub, r->list, T, r->z, MSG, sizeof MSG, NULL), KQ_OK);
        assert_int_equal(kq_frost_verify(r->sig, r->pub.group_public_key, MSG, sizeof MSG), KQ_OK);
    }
    /* all N signers, more than the threshold */
    const uint32_t all[N] = {1, 2, 3, 4, 5};
    run_commit(r, all, N);
    run_sign(r, all, N);
    assert_int_equal(kq_frost_aggregate(r->sig, &r->pub, r->list, N, r->z, MSG, sizeof MSG, NULL),
                     KQ_OK);
    free(r);
}

static void test_empty_message_and_t1(void **state)
{
    (void)state;
    struct kq_frost_key_package pkgs[2];
    static struct kq_frost_public_package pub;
    struct kq_frost_nonces nonces;
    struct kq_frost_commitment comm;
    uint8_t z[1][32], sig[64];
    assert_int_equal(kq_frost_keygen_dealer(pkgs, &pub, 1, 2), KQ_OK);
    assert_int_equal(kq_frost_commit(&nonces, &comm, &pkgs[1]), KQ_OK);
    assert_int_equal(kq_frost_sign(z[0], &nonces, &pkgs[1], &comm, 1, NULL, 0), KQ_OK);
    assert_int_equal(kq_frost_aggregate(sig, &pub, &comm, 1, z, NULL, 0, NULL), KQ_OK);
    assert_int_equal(kq_frost_verify(sig, pub.group_public_key, NULL, 0), KQ_OK);
    assert_int_equal(kq_frost_verify(sig, pub.group_public_key, MSG, 1), KQ_ERR_BAD_SIGNATURE);
}

/* A valid signature from a fresh 3-of-5 run over MSG, signers 1, 2, 4. */
static struct run *run_signed(void)
{
    struct run *r = run_new();
    const uint32_t ids[T] = {1, 2, 4};
    run_commit(r, ids, T);
    run_sign(r, ids, T);
    assert_int_equal(kq_frost_aggregate(r->sig, &r->pub, r->list, T, r->z, MSG, sizeof MSG, NULL),
                     KQ_OK);
    return r;
}

static void test_verify_rejects(void **state)
{
    (void)state;
    struct run *r = run_signed();
    const uint8_t *pk = r->pub.group_public_key;
    uint8_t bad[64];
    assert_int_equal(kq_frost_verify(r->sig, pk, MSG, sizeof MSG), KQ_OK);
    /* tampered R (a bit flip gives an invalid or different point) */
    memcpy(bad, r->sig, 64);
    bad[3] ^= 0x04;
    assert_int_equal(kq_frost_verify(bad, pk, MSG, sizeof MSG), KQ_ERR_BAD_SIGNATURE);
    /* R replaced by another valid point */
    memcpy(bad, r->sig, 64);
    memcpy(bad, r->pub.verifying_shares[0], 32);
    assert_int_equal(kq_frost_verify(bad, pk, MSG, sizeof MSG), KQ_ERR_BAD_SIGNATURE);
    /* R or the public key re-encoded with bit 255 set (libsodium 1.0.18 would decode both) */
    memcpy(bad, r->sig, 64);
    bad[31] |= 0x80;
    assert_int_equal(kq_frost_verify(bad, pk, MSG, sizeof MSG), KQ_ERR_BAD_SIGNATURE);
    uint8_t toppk[32];
    memcpy(toppk, pk, 32);
    toppk[31] |= 0x80;
    assert_int_equal(kq_frost_verify(r->sig, toppk, MSG, sizeof MSG), KQ_ERR_BAD_POINT);
    /* tampered z */
    memcpy(bad, r->sig, 64);
    bad[40] ^= 0x01;
    assert_int_equal(kq_frost_verify(bad, pk, MSG, sizeof MSG), KQ_ERR_BAD_SIGNATURE);
    /* non-canonical z: z + L is the same residue but must be refused */
    uint8_t L[32], zl[32];
    kqt_hex(L, 32, ORDER_HEX);
    unsigned carry = 0;
    for (size_t i = 0; i < 32; i++) {
        unsigned s = (unsigned)r->sig[32 + i] + L[i] + carry;
        zl[i] = (uint8_t)s;
        carry = s >> 8;
    }
    memcpy(bad, r->sig, 64);
    memcpy(bad + 32, zl, 32);
    if (carry == 0) /* z + L fits 256 bits (z < 2^256 - L, almost always) */
        assert_int_equal(kq_frost_verify(bad, pk, MSG, sizeof MSG), KQ_ERR_BAD_SIGNATURE);
    memcpy(bad + 32, L, 32);
    assert_int_equal(kq_frost_verify(bad, pk, MSG, sizeof MSG), KQ_ERR_BAD_SIGNATURE);
    /* identity R */
    memcpy(bad, r->sig, 64);
    memset(bad, 0, 32);
    assert_int_equal(kq_frost_verify(bad, pk, MSG, sizeof MSG), KQ_ERR_BAD_SIGNATURE);
    /* wrong message, longer message, empty message */
    assert_int_equal(kq_frost_verify(r->sig, pk, MSG, sizeof MSG - 1), KQ_ERR_BAD_SIGNATURE);
    uint8_t other[sizeof MSG];
    memcpy(other, MSG, sizeof MSG);
    other[0] ^= 1;
    assert_int_equal(kq_frost_verify(r->sig, pk, other, sizeof other), KQ_ERR_BAD_SIGNATURE);
    /* wrong public key, identity key, invalid key */
    assert_int_equal(kq_frost_verify(r->sig, r->pub.verifying_shares[1], MSG, sizeof MSG),
                     KQ_ERR_BAD_SIGNATURE);
    uint8_t id0[32] = {0}, inv[32];
    memset(inv, 0xff, 32);
    assert_int_equal(kq_frost_verify(r->sig, id0, MSG, sizeof MSG), KQ_ERR_BAD_POINT);
    assert_int_equal(kq_frost_verify(r->sig, inv, MSG, sizeof MSG), KQ_ERR_BAD_POINT);
    /* message over the limit */
    uint8_t *big = calloc(1, KQ_MAX_SIGN_MESSAGE_BYTES + 1);
    assert_non_null(big);
    assert_int_equal(kq_frost_verify(r->sig, pk, big, KQ_MAX_SIGN_MESSAGE_BYTES + 1), KQ_ERR_LIMIT);
    free(big);
    free(r);
}

static void test_cheater_identified(void **state)
{
    (void)state;
    struct run *r = run_new();
    const uint32_t ids[T] = {2, 3, 5};
    run_commit(r, ids, T);
    run_sign(r, ids, T);
    /* signer 3 (list index 1) sends a wrong but canonical share */
    uint8_t one[32];
    kq_sc_from_u32(one, 1);
    crypto_core_ristretto255_scalar_add(r->z[1], r->z[1], one);
    assert_int_equal(kq_frost_verify_share(&r->pub, r->list, T, 2, r->z[0], MSG, sizeof MSG),
                     KQ_OK);
    assert_int_equal(kq_frost_verify_share(&r->pub, r->list, T, 3, r->z[1], MSG, sizeof MSG),
                     KQ_ERR_BAD_SIGNATURE);
    assert_int_equal(kq_frost_verify_share(&r->pub, r->list, T, 5, r->z[2], MSG, sizeof MSG),
                     KQ_OK);
    uint32_t culprit = 0;
    assert_int_equal(kq_frost_verify_shares(&r->pub, r->list, T, r->z, MSG, sizeof MSG, &culprit),
                     KQ_ERR_BAD_SIGNATURE);
    assert_int_equal(culprit, 3);
    memset(r->sig, 0xaa, 64);
    assert_int_equal(
        kq_frost_aggregate(r->sig, &r->pub, r->list, T, r->z, MSG, sizeof MSG, &culprit),
        KQ_ERR_BAD_SIGNATURE);
    assert_int_equal(culprit, 3);
    uint8_t zero[64] = {0};
    assert_memory_equal(r->sig, zero, 64); /* no signature released */
    /* a non-canonical share is named as well */
    kqt_hex(r->z[2], 32, ORDER_HEX);
    crypto_core_ristretto255_scalar_sub(r->z[1], r->z[1], one);
    assert_int_equal(
        kq_frost_aggregate(r->sig, &r->pub, r->list, T, r->z, MSG, sizeof MSG, &culprit),
        KQ_ERR_BAD_SIGNATURE);
    assert_int_equal(culprit, 5);
    assert_int_equal(kq_frost_verify_share(&r->pub, r->list, T, 5, r->z[2], MSG, sizeof MSG),
                     KQ_ERR_BAD_SIGNATURE);
    /* a share checked against another participant's key fails */
    assert_int_equal(kq_frost_verify_share(&r->pub, r->list, T, 2, r->z[1], MSG, sizeof MSG),
                     KQ_ERR_BAD_SIGNATURE);
    /* an identifier not in the list */
    assert_int_equal(kq_frost_verify_share(&r->pub, r->list, T, 4, r->z[0], MSG, sizeof MSG),
                     KQ_ERR_NOT_FOUND);
    /* shares over another message fail */
    assert_int_equal(kq_frost_verify_share(&r->pub, r->list, T, 2, r->z[0], MSG, 3),
                     KQ_ERR_BAD_SIGNATURE);
    free(r);
}

static void test_nonce_one_use(void **state)
{
    (void)state;
    struct run *r = run_new();
    const uint32_t ids[T] = {1, 2, 3};
    run_commit(r, ids, T);
    assert_int_equal(
        kq_frost_sign(r->z[0], &r->nonces[0], &r->pkgs[0], r->list, T, MSG, sizeof MSG), KQ_OK);
    /* consumed and wiped: the second use is refused and yields nothing */
    uint8_t zero[32] = {0};
    assert_int_not_equal(r->nonces[0].state, KQ_FROST_NONCES_FRESH);
    assert_memory_equal(r->nonces[0].hiding, zero, 32);
    assert_memory_equal(r->nonces[0].binding, zero, 32);
    assert_int_equal(
        kq_frost_sign(r->z[0], &r->nonces[0], &r->pkgs[0], r->list, T, MSG, sizeof MSG),
        KQ_ERR_STATE);
    assert_memory_equal(r->z[0], zero, 32);
    /* a copy of fresh nonces (struct assignment) is refused; the original stays fresh */
    run_commit(r, ids, T);
    struct kq_frost_nonces *copy = malloc(sizeof *copy);
    assert_non_null(copy);
    *copy = r->nonces[0];
    uint8_t z[32];
    assert_int_equal(kq_frost_sign(z, copy, &r->pkgs[0], r->list, T, MSG, sizeof MSG),
                     KQ_ERR_STATE);
    free(copy);
    /* a failed sign consumes the nonces too: a coordinator cannot probe then retry */
    assert_int_equal(kq_frost_sign(z, &r->nonces[0], &r->pkgs[0], r->list, T - 1, MSG, sizeof MSG),
                     KQ_ERR_THRESHOLD);
    assert_int_equal(kq_frost_sign(z, &r->nonces[0], &r->pkgs[0], r->list, T, MSG, sizeof MSG),
                     KQ_ERR_STATE);
    /* wiped nonces are not fresh */
    kq_frost_nonces_wipe(&r->nonces[1]);
    assert_int_equal(kq_frost_sign(z, &r->nonces[1], &r->pkgs[1], r->list, T, MSG, sizeof MSG),
                     KQ_ERR_STATE);
    /* nonces of one participant do not serve another's key package */
    assert_int_equal(kq_frost_sign(z, &r->nonces[2], &r->pkgs[1], r->list, T, MSG, sizeof MSG),
                     KQ_ERR_INVALID_ARG);
    /* two commits give different nonces (hedged with fresh randomness) */
    struct kq_frost_nonces a, b;
    struct kq_frost_commitment ca, cb;
    assert_int_equal(kq_frost_commit(&a, &ca, &r->pkgs[0]), KQ_OK);
    assert_int_equal(kq_frost_commit(&b, &cb, &r->pkgs[0]), KQ_OK);
    assert_memory_not_equal(a.hiding, b.hiding, 32);
    assert_memory_not_equal(ca.binding, cb.binding, 32);
    /* the same randomness with another secret gives another nonce */
    uint8_t rnd[32] = {7}, n1[32], n2[32];
    kq_frost_nonce_generate(n1, rnd, r->pkgs[0].signing_share);
    kq_frost_nonce_generate(n2, rnd, r->pkgs[1].signing_share);
    assert_memory_not_equal(n1, n2, 32);
    kq_frost_nonces_wipe(&a);
    kq_frost_nonces_wipe(&b);
    free(r);
}

/* Signer 1 of a fresh run signs the list as modified by `mutate`; returns the error. */
static enum kq_err sign_mutated(struct run *r, void (*mutate)(struct kq_frost_commitment *l),
                                size_t n)
{
    const uint32_t ids[T] = {1, 2, 3};
    run_commit(r, ids, T);
    struct kq_frost_commitment l[T];
    memcpy(l, r->list, sizeof l);
    mutate(l);
    return kq_frost_sign(r->z[0], &r->nonces[0], &r->pkgs[0], l, n, MSG, sizeof MSG);
}

static void mut_dup(struct kq_frost_commitment *l)
{
    l[2].identifier = l[1].identifier;
}
static void mut_swap(struct kq_frost_commitment *l)
{
    struct kq_frost_commitment t = l[1];
    l[1] = l[2];
    l[2] = t;
}
static void mut_identity_d(struct kq_frost_commitment *l)
{
    memset(l[1].hiding, 0, 32);
}
static void mut_identity_e(struct kq_frost_commitment *l)
{
    memset(l[2].binding, 0, 32);
}
static void mut_invalid(struct kq_frost_commitment *l)
{
    memset(l[1].binding, 0xff, 32);
}
static void mut_zero_id(struct kq_frost_commitment *l)
{
    l[0].identifier = 0;
}
static void mut_big_id(struct kq_frost_commitment *l)
{
    l[2].identifier = KQ_MAX_PARTICIPANTS + 1;
}
static void mut_own_commitment(struct kq_frost_commitment *l)
{
    memcpy(l[0].hiding, l[1].hiding, 32);
}
static void mut_drop_self(struct kq_frost_commitment *l)
{
    l[0] = l[1];
    l[1] = l[2];
}
static void mut_none(struct kq_frost_commitment *l)
{
    (void)l;
}

static void test_sign_rejects_bad_lists(void **state)
{
    (void)state;
    struct run *r = run_new();
    assert_int_equal(sign_mutated(r, mut_dup, T), KQ_ERR_DUPLICATE_INDEX);
    assert_int_equal(sign_mutated(r, mut_swap, T), KQ_ERR_FORMAT);
    assert_int_equal(sign_mutated(r, mut_identity_d, T), KQ_ERR_BAD_POINT);
    assert_int_equal(sign_mutated(r, mut_identity_e, T), KQ_ERR_BAD_POINT);
    assert_int_equal(sign_mutated(r, mut_invalid, T), KQ_ERR_BAD_POINT);
    assert_int_equal(sign_mutated(r, mut_zero_id, T), KQ_ERR_ZERO_INDEX);
    assert_int_equal(sign_mutated(r, mut_big_id, T), KQ_ERR_LIMIT);
    assert_int_equal(sign_mutated(r, mut_own_commitment, T), KQ_ERR_NOT_FOUND);
    /* without the signer: 2 entries are below the threshold; with a 4th it is just absent */
    assert_int_equal(sign_mutated(r, mut_drop_self, T - 1), KQ_ERR_THRESHOLD);
    assert_int_equal(sign_mutated(r, mut_none, T - 1), KQ_ERR_THRESHOLD);
    assert_int_equal(sign_mutated(r, mut_none, 0), KQ_ERR_INVALID_ARG);
    const uint32_t ids[4] = {2, 3, 4, 5};
    run_commit(r, ids, 4);
    struct kq_frost_nonces mine;
    struct kq_frost_commitment c1;
    assert_int_equal(kq_frost_commit(&mine, &c1, &r->pkgs[0]), KQ_OK);
    assert_int_equal(kq_frost_sign(r->z[0], &mine, &r->pkgs[0], r->list, 4, MSG, sizeof MSG),
                     KQ_ERR_NOT_FOUND);
    /* message bounds */
    run_commit(r, (const uint32_t[]){1, 2, 3}, T);
    assert_int_equal(kq_frost_sign(r->z[0], &r->nonces[0], &r->pkgs[0], r->list, T, NULL, 5),
                     KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_frost_sign(r->z[1], &r->nonces[1], &r->pkgs[1], r->list, T, MSG,
                                   KQ_MAX_SIGN_MESSAGE_BYTES + 1),
                     KQ_ERR_LIMIT);
    free(r);
}

static void test_coordinator_rejects_bad_lists(void **state)
{
    (void)state;
    struct run *r = run_signed();
    struct kq_frost_commitment l[T];
    uint8_t sig[64];
    memcpy(l, r->list, sizeof l);
    l[1].identifier = l[0].identifier;
    assert_int_equal(kq_frost_aggregate(sig, &r->pub, l, T, r->z, MSG, sizeof MSG, NULL),
                     KQ_ERR_DUPLICATE_INDEX);
    assert_int_equal(kq_frost_verify_share(&r->pub, l, T, 1, r->z[0], MSG, sizeof MSG),
                     KQ_ERR_DUPLICATE_INDEX);
    assert_int_equal(kq_frost_verify_shares(&r->pub, l, T, r->z, MSG, sizeof MSG, NULL),
                     KQ_ERR_DUPLICATE_INDEX);
    memcpy(l, r->list, sizeof l);
    mut_swap(l);
    assert_int_equal(kq_frost_aggregate(sig, &r->pub, l, T, r->z, MSG, sizeof MSG, NULL),
                     KQ_ERR_FORMAT);
    memcpy(l, r->list, sizeof l);
    memset(l[0].hiding, 0, 32);
    assert_int_equal(kq_frost_aggregate(sig, &r->pub, l, T, r->z, MSG, sizeof MSG, NULL),
                     KQ_ERR_BAD_POINT);
    /* an identifier beyond the group's n */
    memcpy(l, r->list, sizeof l);
    l[2].identifier = N + 1;
    assert_int_equal(kq_frost_aggregate(sig, &r->pub, l, T, r->z, MSG, sizeof MSG, NULL),
                     KQ_ERR_LIMIT);
    /* too few signers */
    assert_int_equal(kq_frost_aggregate(sig, &r->pub, r->list, T - 1, r->z, MSG, sizeof MSG, NULL),
                     KQ_ERR_THRESHOLD);
    assert_int_equal(kq_frost_verify_share(&r->pub, r->list, T - 1, 1, r->z[0], MSG, sizeof MSG),
                     KQ_ERR_THRESHOLD);
    /* a subset of valid shares does not make a signature */
    struct kq_frost_public_package *weak = malloc(sizeof *weak);
    assert_non_null(weak);
    *weak = r->pub;
    weak->threshold = T - 1;
    uint32_t culprit = 9;
    assert_int_equal(kq_frost_aggregate(sig, weak, r->list, T - 1, r->z, MSG, sizeof MSG, &culprit),
                     KQ_ERR_BAD_SIGNATURE);
    free(weak);
    free(r);
}

static void test_interpolating_value(void **state)
{
    (void)state;
    const uint32_t ids[4] = {2, 5, 7, 200};
    uint8_t a[32], b[32];
    for (size_t j = 0; j < 4; j++) {
        assert_int_equal(kq_frost_interpolating_value(a, ids, 4, ids[j]), KQ_OK);
        assert_int_equal(kq_lagrange(b, ids, 4, j, 0), KQ_OK);
        assert_memory_equal(a, b, 32);
    }
    assert_int_equal(kq_frost_interpolating_value(a, ids, 4, 3), KQ_ERR_NOT_FOUND);
    const uint32_t dup[3] = {2, 5, 5};
    assert_int_equal(kq_frost_interpolating_value(a, dup, 3, 2), KQ_ERR_DUPLICATE_INDEX);
    const uint32_t zero[2] = {0, 5};
    assert_int_equal(kq_frost_interpolating_value(a, zero, 2, 5), KQ_ERR_ZERO_INDEX);
    const uint32_t big[2] = {1, KQ_MAX_PARTICIPANTS + 1};
    assert_int_equal(kq_frost_interpolating_value(a, big, 2, 1), KQ_ERR_LIMIT);
}

static void test_keygen(void **state)
{
    (void)state;
    struct kq_frost_key_package pkgs[N], pkg;
    static struct kq_frost_public_package pub, pub2;
    assert_int_equal(kq_frost_keygen_dealer(pkgs, &pub, 0, N), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_frost_keygen_dealer(pkgs, &pub, N + 1, N), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_frost_keygen_dealer(pkgs, &pub, 1, KQ_MAX_PARTICIPANTS + 1),
                     KQ_ERR_INVALID_ARG);
    /* zero or non-canonical secret refused */
    uint8_t coeffs[T][32];
    memset(coeffs, 0, sizeof coeffs);
    assert_int_equal(kq_frost_keygen_with_coefficients(pkgs, &pub, coeffs, T, N),
                     KQ_ERR_BAD_SCALAR);
    kq_sc_random(coeffs[0]);
    kqt_hex(coeffs[2], 32, ORDER_HEX);
    assert_int_equal(kq_frost_keygen_with_coefficients(pkgs, &pub, coeffs, T, N),
                     KQ_ERR_BAD_SCALAR);
    /* the DKG path: group info from Feldman commitments equals the dealer's */
    kq_sc_random(coeffs[1]);
    kq_sc_random(coeffs[2]);
    assert_int_equal(kq_frost_keygen_with_coefficients(pkgs, &pub, coeffs, T, N), KQ_OK);
    uint8_t commits[T][32];
    for (size_t j = 0; j < T; j++)
        kq_pt_mul_base(commits[j], coeffs[j]);
    assert_int_equal(kq_frost_public_from_commitments(&pub2, commits, T, N), KQ_OK);
    assert_memory_equal(&pub2, &pub, sizeof pub);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(
            kq_frost_key_package_from_share(&pkg, &pub2, (uint32_t)(i + 1), pkgs[i].signing_share),
            KQ_OK);
        assert_memory_equal(&pkg, &pkgs[i], sizeof pkg);
    }
    /* a share that does not match its verifying share, a bad identifier, a zero share */
    assert_int_equal(kq_frost_key_package_from_share(&pkg, &pub2, 2, pkgs[0].signing_share),
                     KQ_ERR_BAD_SHARE);
    assert_int_equal(kq_frost_key_package_from_share(&pkg, &pub2, 0, pkgs[0].signing_share),
                     KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_frost_key_package_from_share(&pkg, &pub2, N + 1, pkgs[0].signing_share),
                     KQ_ERR_INVALID_ARG);
    uint8_t zero[32] = {0};
    assert_int_equal(kq_frost_key_package_from_share(&pkg, &pub2, 1, zero), KQ_ERR_BAD_SCALAR);
    /* bad commitments */
    memset(commits[0], 0, 32);
    assert_int_equal(kq_frost_public_from_commitments(&pub2, commits, T, N), KQ_ERR_BAD_POINT);
    kq_pt_mul_base(commits[0], coeffs[0]);
    memset(commits[1], 0xff, 32);
    assert_int_equal(kq_frost_public_from_commitments(&pub2, commits, T, N), KQ_ERR_BAD_POINT);
    assert_int_equal(kq_frost_public_from_commitments(&pub2, commits, T + 1, T),
                     KQ_ERR_INVALID_ARG);
    /* commit refuses a package with a bad identifier */
    struct kq_frost_nonces nonces;
    struct kq_frost_commitment comm;
    pkg = pkgs[0];
    pkg.identifier = 0;
    assert_int_equal(kq_frost_commit(&nonces, &comm, &pkg), KQ_ERR_INVALID_ARG);
    assert_int_not_equal(nonces.state, KQ_FROST_NONCES_FRESH);
    kq_wipe(coeffs, sizeof coeffs);
}

static void test_sizes(void **state)
{
    (void)state;
    assert_int_equal(kq_frost_sigbytes(), 64);
    assert_int_equal(kq_frost_sharebytes(), 32);
    assert_int_equal(kq_frost_randombytes(), 32);
    assert_int_equal(KQ_FROST_RHO_INPUTBYTES, 192);
}

int main(void)
{
    if (kq_init(0) != KQ_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc9591_vector),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty_message_and_t1),
        cmocka_unit_test(test_verify_rejects),
        cmocka_unit_test(test_cheater_identified),
        cmocka_unit_test(test_nonce_one_use),
        cmocka_unit_test(test_sign_rejects_bad_lists),
        cmocka_unit_test(test_coordinator_rejects_bad_lists),
        cmocka_unit_test(test_interpolating_value),
        cmocka_unit_test(test_keygen),
        cmocka_unit_test(test_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
