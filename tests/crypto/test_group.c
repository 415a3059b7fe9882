/* Tests for src/crypto/group.c: transcripts, scalar/point checks, Lagrange, Feldman VSS, and the
 * Schnorr and DLEQ proofs, with a failing case for every check. */
#include "../test_util.h"

#include "base/limits.h"
#include "base/mem.h"
#include "crypto/group.h"

static void test_sizes(void **state)
{
    (void)state;
    assert_int_equal(kq_scalarbytes(), KQ_SCALARBYTES);
    assert_int_equal(kq_pointbytes(), KQ_POINTBYTES);
    assert_int_equal(kq_proofbytes(), KQ_PROOFBYTES);
    assert_int_equal(KQ_PROOFBYTES, 2 * KQ_SCALARBYTES);
}

static void test_transcript_separation(void **state)
{
    (void)state;
    uint8_t a[64], b[64];
    struct kq_ts t;
    /* ("ab","c") and ("a","bc") must differ: fields are length-prefixed */
    kq_ts_init(&t, "tag");
    kq_ts_put(&t, "ab", 2);
    kq_ts_put(&t, "c", 1);
    kq_ts_digest(&t, a);
    kq_ts_init(&t, "tag");
    kq_ts_put(&t, "a", 1);
    kq_ts_put(&t, "bc", 2);
    kq_ts_digest(&t, b);
    assert_memory_not_equal(a, b, 64);
    /* a different tag gives a different hash */
    kq_ts_init(&t, "tag2");
    kq_ts_put(&t, "ab", 2);
    kq_ts_put(&t, "c", 1);
    kq_ts_digest(&t, b);
    assert_memory_not_equal(a, b, 64);
}

static void test_scalar_checks(void **state)
{
    (void)state;
    uint8_t s[32], big[32];
    kq_sc_random(s);
    assert_int_equal(kq_sc_check(s), KQ_OK);
    memset(big, 0xff, 32);
    big[31] = 0x1f; /* > L */
    assert_false(kq_sc_is_canonical(big));
    assert_int_equal(kq_sc_check(big), KQ_ERR_BAD_SCALAR);
    uint8_t zero[32] = {0};
    assert_true(kq_sc_is_canonical(zero));
    assert_int_equal(kq_sc_check(zero), KQ_ERR_BAD_SCALAR);
}

static void test_point_checks(void **state)
{
    (void)state;
    uint8_t s[32], p[32], identity[32] = {0}, bad[32];
    kq_sc_random(s);
    kq_pt_mul_base(p, s);
    assert_int_equal(kq_pt_check(p), KQ_OK);
    assert_int_equal(kq_pt_check(identity), KQ_ERR_BAD_POINT);
    assert_int_equal(kq_pt_check_allow_identity(identity), KQ_OK);
    memset(bad, 0xff, 32); /* not canonical */
    assert_int_equal(kq_pt_check(bad), KQ_ERR_BAD_POINT);
    assert_int_equal(kq_pt_check_allow_identity(bad), KQ_ERR_BAD_POINT);
    uint8_t out[32];
    assert_int_equal(kq_pt_mul(out, s, identity), KQ_ERR_BAD_POINT);
    assert_int_equal(kq_pt_mul(out, s, bad), KQ_ERR_BAD_POINT);
    uint8_t zero[32] = {0};
    kq_pt_mul_base(out, zero);
    assert_true(kq_pt_is_identity(out));
}

/* RFC 9496 encodings have bit 255 clear; libsodium 1.0.18 ignores that bit when decoding, so the
 * group layer must reject it itself, everywhere a point enters. */
static void test_top_bit_rejected(void **state)
{
    (void)state;
    uint8_t s[32], p[32], top[32], out[32], alias[32] = {0};
    kq_sc_random(s);
    kq_pt_mul_base(p, s);
    memcpy(top, p, 32);
    top[31] |= 0x80;
    alias[31] = 0x80; /* would alias the identity */
    assert_int_equal(kq_pt_check(p), KQ_OK);
    assert_int_equal(kq_pt_check(top), KQ_ERR_BAD_POINT);
    assert_int_equal(kq_pt_check_allow_identity(top), KQ_ERR_BAD_POINT);
    assert_int_equal(kq_pt_check(alias), KQ_ERR_BAD_POINT);
    assert_int_equal(kq_pt_check_allow_identity(alias), KQ_ERR_BAD_POINT);
    assert_int_equal(kq_pt_mul(out, s, top), KQ_ERR_BAD_POINT);
    assert_int_equal(kq_pt_add(out, p, top), KQ_ERR_BAD_POINT);
    assert_int_equal(kq_pt_add(out, top, p), KQ_ERR_BAD_POINT);
    uint8_t sc[1][32], pts[1][32];
    memcpy(sc[0], s, 32);
    memcpy(pts[0], top, 32);
    assert_int_equal(kq_pt_lincomb(out, sc, pts, 1), KQ_ERR_BAD_POINT);
    assert_int_equal(kq_pt_sum(out, pts, 1), KQ_ERR_BAD_POINT);
    /* proofs with a top-bit public key do not verify */
    uint8_t proof[64];
    struct kq_ts bind;
    kq_ts_init(&bind, "test/top-bit");
    assert_int_equal(kq_schnorr_prove(proof, &bind, s, p), KQ_OK);
    assert_int_equal(kq_schnorr_verify(proof, &bind, p), KQ_OK);
    assert_int_equal(kq_schnorr_verify(proof, &bind, top), KQ_ERR_BAD_PROOF);
}

static void test_lagrange_recovers_secret(void **state)
{
    (void)state;
    enum { T = 3, N = 6 };
    uint8_t coeffs[T][32], commits[T][32], shares[N][32];
    assert_int_equal(kq_vss_deal(coeffs, commits, shares, NULL, T, N), KQ_OK);
    uint32_t xs[T] = {2, 5, 6};
    uint8_t acc[32] = {0}, lam[32], term[32];
    for (size_t j = 0; j < T; j++) {
        assert_int_equal(kq_lagrange(lam, xs, T, j, 0), KQ_OK);
        crypto_core_ristretto255_scalar_mul(term, lam, shares[xs[j] - 1]);
        crypto_core_ristretto255_scalar_add(acc, acc, term);
    }
    assert_memory_equal(acc, coeffs[0], 32);
    /* interpolate at x = 1 gives share 1 (used by share recovery) */
    memset(acc, 0, 32);
    for (size_t j = 0; j < T; j++) {
        assert_int_equal(kq_lagrange(lam, xs, T, j, 1), KQ_OK);
        crypto_core_ristretto255_scalar_mul(term, lam, shares[xs[j] - 1]);
        crypto_core_ristretto255_scalar_add(acc, acc, term);
    }
    assert_memory_equal(acc, shares[0], 32);
}

static void test_lagrange_rejects_bad_indices(void **state)
{
    (void)state;
    uint8_t lam[32];
    uint32_t dup[3] = {1, 2, 2}, zero[3] = {0, 1, 2}, big[2] = {1, KQ_MAX_PARTICIPANTS + 1};
    assert_int_equal(kq_lagrange(lam, dup, 3, 0, 0), KQ_ERR_DUPLICATE_INDEX);
    assert_int_equal(kq_lagrange(lam, zero, 3, 1, 0), KQ_ERR_ZERO_INDEX);
    assert_int_equal(kq_lagrange(lam, big, 2, 0, 0), KQ_ERR_LIMIT);
    assert_int_equal(kq_lagrange(lam, dup, 3, 3, 0), KQ_ERR_INVALID_ARG);
}

static void test_vss_verify(void **state)
{
    (void)state;
    enum { T = 3, N = 5 };
    uint8_t coeffs[T][32], commits[T][32], shares[N][32];
    assert_int_equal(kq_vss_deal(coeffs, commits, shares, NULL, T, N), KQ_OK);
    for (uint32_t i = 1; i <= N; i++)
        assert_int_equal(kq_vss_verify_share(shares[i - 1], i, commits, T), KQ_OK);
    /* a share for another index, a tampered share, a tampered commitment, a bad encoding */
    assert_int_equal(kq_vss_verify_share(shares[0], 2, commits, T), KQ_ERR_BAD_SHARE);
    uint8_t bad[32];
    memcpy(bad, shares[0], 32);
    bad[0] ^= 1;
    assert_int_equal(kq_vss_verify_share(bad, 1, commits, T), KQ_ERR_BAD_SHARE);
    memset(bad, 0xff, 32);
    assert_int_equal(kq_vss_verify_share(bad, 1, commits, T), KQ_ERR_BAD_SCALAR);
    uint8_t other[32], c2[T][32];
    memcpy(c2, commits, sizeof c2);
    kq_sc_random(other);
    kq_pt_mul_base(c2[1], other);
    assert_int_equal(kq_vss_verify_share(shares[0], 1, c2, T), KQ_ERR_BAD_SHARE);
    memset(c2[2], 0xff, 32);
    assert_int_equal(kq_vss_verify_share(shares[0], 1, c2, T), KQ_ERR_BAD_POINT);
    /* public share from commitments equals share * G */
    uint8_t pub[32], expect[32];
    assert_int_equal(kq_vss_eval_commits(pub, commits, T, 4), KQ_OK);
    kq_pt_mul_base(expect, shares[3]);
    assert_memory_equal(pub, expect, 32);
    /* a zero secret (refresh) commits to the identity and still verifies */
    uint8_t zero[32] = {0};
    assert_int_equal(kq_vss_deal(coeffs, commits, shares, zero, T, N), KQ_OK);
    assert_true(kq_pt_is_identity(commits[0]));
    assert_int_equal(kq_vss_verify_share(shares[2], 3, commits, T), KQ_OK);
    assert_int_equal(kq_vss_deal(coeffs, commits, shares, NULL, 4, 3), KQ_ERR_INVALID_ARG);
    kq_wipe(coeffs, sizeof coeffs);
    kq_wipe(shares, sizeof shares);
}

static void test_schnorr(void **state)
{
    (void)state;
    uint8_t x[32], X[32], proof[64];
    struct kq_ts bind, other;
    kq_ts_init(&bind, "test/schnorr");
    kq_ts_put(&bind, "label", 5);
    kq_ts_init(&other, "test/schnorr");
    kq_ts_put(&other, "labex", 5);
    kq_sc_random(x);
    kq_pt_mul_base(X, x);
    assert_int_equal(kq_schnorr_prove(proof, &bind, x, X), KQ_OK);
    assert_int_equal(kq_schnorr_verify(proof, &bind, X), KQ_OK);
    /* bound to the label: another label fails */
    assert_int_equal(kq_schnorr_verify(proof, &other, X), KQ_ERR_BAD_PROOF);
    /* another public key fails */
    uint8_t y[32], Y[32];
    kq_sc_random(y);
    kq_pt_mul_base(Y, y);
    assert_int_equal(kq_schnorr_verify(proof, &bind, Y), KQ_ERR_BAD_PROOF);
    /* tampered c, tampered z, non-canonical z, identity key */
    for (size_t i = 0; i < 64; i += 32) {
        uint8_t bad[64];
        memcpy(bad, proof, 64);
        bad[i] ^= 1;
        assert_int_equal(kq_schnorr_verify(bad, &bind, X), KQ_ERR_BAD_PROOF);
    }
    uint8_t bad[64];
    memcpy(bad, proof, 64);
    memset(bad + 32, 0xff, 32);
    assert_int_equal(kq_schnorr_verify(bad, &bind, X), KQ_ERR_BAD_PROOF);
    uint8_t identity[32] = {0};
    assert_int_equal(kq_schnorr_verify(proof, &bind, identity), KQ_ERR_BAD_PROOF);
    kq_ts_wipe(&bind);
    kq_ts_wipe(&other);
}

/* The caller-nonce form is the same proof (what the DKG and the KEM wrap use): deterministic for a
 * given nonce, verified by kq_schnorr_verify, bound like the hedged form. */
static void test_schnorr_with_nonce(void **state)
{
    (void)state;
    uint8_t x[32], X[32], k[32], p1[64], p2[64];
    struct kq_ts bind, other;
    kq_ts_init(&bind, "test/schnorr-nonce");
    kq_ts_init(&other, "test/schnorr-nonce2");
    kq_sc_random(x);
    kq_pt_mul_base(X, x);
    kq_sc_random(k);
    kq_schnorr_prove_with_nonce(p1, &bind, x, X, k);
    kq_schnorr_prove_with_nonce(p2, &bind, x, X, k);
    assert_memory_equal(p1, p2, 64);
    assert_int_equal(kq_schnorr_verify(p1, &bind, X), KQ_OK);
    assert_int_equal(kq_schnorr_verify(p1, &other, X), KQ_ERR_BAD_PROOF);
    /* T = k*G is what the proof commits to: z*G - c*X recomputes it */
    uint8_t T[32], T2[32];
    kq_pt_mul_base(T, k);
    assert_int_equal(kq_pt_base_minus_public(T2, p1 + 32, p1, X), KQ_OK);
    assert_memory_equal(T, T2, 32);
}

static void test_dleq(void **state)
{
    (void)state;
    uint8_t x[32], A[32], h[32], H[32], B[32], proof[64];
    struct kq_ts bind;
    kq_ts_init(&bind, "test/dleq");
    kq_sc_random(x);
    kq_pt_mul_base(A, x);
    kq_sc_random(h);
    kq_pt_mul_base(H, h);
    assert_int_equal(kq_pt_mul(B, x, H), KQ_OK);
    assert_int_equal(kq_dleq_prove(proof, &bind, x, NULL, A, H, B), KQ_OK);
    assert_int_equal(kq_dleq_verify(proof, &bind, NULL, A, H, B), KQ_OK);
    /* a B with another exponent (a forged partial) fails */
    uint8_t y[32], B2[32];
    kq_sc_random(y);
    assert_int_equal(kq_pt_mul(B2, y, H), KQ_OK);
    assert_int_equal(kq_dleq_verify(proof, &bind, NULL, A, H, B2), KQ_ERR_BAD_PROOF);
    /* a proof for B2 made with the wrong secret fails */
    uint8_t proof2[64];
    assert_int_equal(kq_dleq_prove(proof2, &bind, x, NULL, A, H, B2), KQ_OK);
    assert_int_equal(kq_dleq_verify(proof2, &bind, NULL, A, H, B2), KQ_ERR_BAD_PROOF);
    /* the proof does not transfer to another base H */
    uint8_t H2[32];
    kq_pt_mul_base(H2, y);
    assert_int_equal(kq_dleq_verify(proof, &bind, NULL, A, H2, B), KQ_ERR_BAD_PROOF);
    /* identity points are rejected */
    uint8_t identity[32] = {0};
    assert_int_equal(kq_dleq_verify(proof, &bind, NULL, A, H, identity), KQ_ERR_BAD_PROOF);
    assert_int_equal(kq_dleq_verify(proof, &bind, NULL, identity, H, B), KQ_ERR_BAD_PROOF);
    assert_int_equal(kq_dleq_prove(proof2, &bind, x, NULL, A, identity, B), KQ_ERR_BAD_POINT);
    /* another binding fails */
    struct kq_ts other;
    kq_ts_init(&other, "test/dleq2");
    assert_int_equal(kq_dleq_verify(proof, &other, NULL, A, H, B), KQ_ERR_BAD_PROOF);
    /* with an explicit base g */
    uint8_t g[32], gx[32];
    kq_sc_random(y);
    kq_pt_mul_base(g, y);
    assert_int_equal(kq_pt_mul(gx, x, g), KQ_OK);
    assert_int_equal(kq_dleq_prove(proof, &bind, x, g, gx, H, B), KQ_OK);
    assert_int_equal(kq_dleq_verify(proof, &bind, g, gx, H, B), KQ_OK);
    assert_int_equal(kq_dleq_verify(proof, &bind, NULL, gx, H, B), KQ_ERR_BAD_PROOF);
}

static void test_lincomb(void **state)
{
    (void)state;
    uint8_t s[3][32], p[3][32], out[32], expect[32], sum[32] = {0}, t[32];
    for (int i = 0; i < 3; i++) {
        uint8_t k[32];
        kq_sc_random(s[i]);
        kq_sc_random(k);
        kq_pt_mul_base(p[i], k);
        assert_int_equal(kq_pt_mul(t, s[i], p[i]), KQ_OK);
        assert_int_equal(kq_pt_add(sum, sum, t), KQ_OK);
    }
    assert_int_equal(kq_pt_lincomb(out, s, p, 3), KQ_OK);
    memcpy(expect, sum, 32);
    assert_memory_equal(out, expect, 32);
    memset(p[1], 0xff, 32);
    assert_int_equal(kq_pt_lincomb(out, s, p, 3), KQ_ERR_BAD_POINT);
}

/* The multi-term paths run on libdecaf; they must agree with libsodium's encoded arithmetic to
 * the byte, including zero scalars, identity points and the largest index. */
static void test_decaf_agrees_with_libsodium(void **state)
{
    (void)state;
    uint8_t s[4][32], p[4][32], out[32], sum[32] = {0}, term[32], k[32];
    for (int i = 0; i < 4; i++) {
        kq_sc_random(s[i]);
        kq_sc_random(k);
        kq_pt_mul_base(p[i], k);
    }
    memset(s[1], 0, 32); /* a zero scalar */
    memset(p[2], 0, 32); /* the identity */
    for (int i = 0; i < 4; i++) {
        if (kq_sc_is_zero(s[i]) || kq_pt_is_identity(p[i]))
            continue;
        assert_int_equal(kq_pt_mul(term, s[i], p[i]), KQ_OK);
        assert_int_equal(kq_pt_add(sum, sum, term), KQ_OK);
    }
    for (size_t n = 1; n <= 4; n++) { /* odd and even term counts */
        uint8_t partial[32] = {0};
        for (size_t i = 0; i < n; i++) {
            if (kq_sc_is_zero(s[i]) || kq_pt_is_identity(p[i]))
                continue;
            assert_int_equal(kq_pt_mul(term, s[i], p[i]), KQ_OK);
            assert_int_equal(kq_pt_add(partial, partial, term), KQ_OK);
        }
        assert_int_equal(kq_pt_lincomb(out, s, p, n), KQ_OK);
        assert_memory_equal(out, partial, 32);
    }
    assert_memory_equal(out, sum, 32);
    /* commitment evaluation at every index of a 4-term vector, against libsodium */
    enum { T = 4 };
    uint8_t coeffs[T][32], commits[T][32], shares[T][32], expect[32], got[32];
    assert_int_equal(kq_vss_deal(coeffs, commits, shares, NULL, T, T), KQ_OK);
    for (uint32_t x = 1; x <= KQ_MAX_PARTICIPANTS; x += 37) {
        uint8_t f[32];
        kq_poly_eval(f, coeffs, T, x);
        kq_pt_mul_base(expect, f);
        assert_int_equal(kq_vss_eval_commits(got, commits, T, x), KQ_OK);
        assert_memory_equal(got, expect, 32);
    }
    uint8_t all[KQ_MAX_PARTICIPANTS][32];
    assert_int_equal(kq_vss_public_shares(all, KQ_MAX_PARTICIPANTS, commits, T), KQ_OK);
    for (uint32_t x = 1; x <= KQ_MAX_PARTICIPANTS; x += 23) {
        assert_int_equal(kq_vss_eval_commits(got, commits, T, x), KQ_OK);
        assert_memory_equal(all[x - 1], got, 32);
    }
    assert_int_equal(kq_vss_public_shares(all, 0, commits, T), KQ_ERR_INVALID_ARG);
    kq_poly_eval(term, coeffs, T, KQ_MAX_PARTICIPANTS);
    kq_pt_mul_base(expect, term);
    assert_int_equal(kq_vss_eval_commits(got, commits, T, KQ_MAX_PARTICIPANTS), KQ_OK);
    assert_memory_equal(got, expect, 32);
    kq_wipe(coeffs, sizeof coeffs);
}

static void test_dleq_prove_mul(void **state)
{
    (void)state;
    uint8_t x[32], A[32], h[32], H[32], B[32], expect[32], proof[64];
    struct kq_ts bind;
    kq_ts_init(&bind, "test/dleq-mul");
    kq_sc_random(x);
    kq_pt_mul_base(A, x);
    kq_sc_random(h);
    kq_pt_mul_base(H, h);
    assert_int_equal(kq_dleq_prove_mul(B, proof, &bind, x, A, H), KQ_OK);
    assert_int_equal(kq_pt_mul(expect, x, H), KQ_OK);
    assert_memory_equal(B, expect, 32); /* the product is x*H */
    assert_int_equal(kq_dleq_verify(proof, &bind, NULL, A, H, B), KQ_OK);
    /* the proof is bound: another public share or another binding fails */
    uint8_t y[32], Y[32];
    kq_sc_random(y);
    kq_pt_mul_base(Y, y);
    assert_int_equal(kq_dleq_verify(proof, &bind, NULL, Y, H, B), KQ_ERR_BAD_PROOF);
    struct kq_ts other;
    kq_ts_init(&other, "test/dleq-mul2");
    assert_int_equal(kq_dleq_verify(proof, &other, NULL, A, H, B), KQ_ERR_BAD_PROOF);
    /* a public share that is not x*G gives a proof that does not verify */
    assert_int_equal(kq_dleq_prove_mul(B, proof, &bind, x, Y, H), KQ_OK);
    assert_int_equal(kq_dleq_verify(proof, &bind, NULL, Y, H, B), KQ_ERR_BAD_PROOF);
    /* identity or invalid H or A: refused, outputs zeroed */
    uint8_t identity[32] = {0}, bad[32], zero[32] = {0};
    memset(bad, 0xff, 32);
    assert_int_equal(kq_dleq_prove_mul(B, proof, &bind, x, A, identity), KQ_ERR_BAD_POINT);
    assert_memory_equal(B, zero, 32);
    assert_int_equal(kq_dleq_prove_mul(B, proof, &bind, x, A, bad), KQ_ERR_BAD_POINT);
    assert_int_equal(kq_dleq_prove_mul(B, proof, &bind, x, bad, H), KQ_OK); /* only hashed */
    assert_int_equal(kq_dleq_verify(proof, &bind, NULL, bad, H, B), KQ_ERR_BAD_PROOF);
    assert_int_equal(kq_dleq_prove_mul(B, proof, &bind, x, identity, H), KQ_ERR_BAD_POINT);
}

static void test_interpolate0(void **state)
{
    (void)state;
    enum { T = 3, N = 6 };
    uint8_t coeffs[T][32], commits[T][32], shares[N][32], h[32], H[32], pts[T][32], out[32];
    uint8_t expect[32], lam[T][32], slow[32];
    uint32_t xs[T] = {6, 2, 4};
    assert_int_equal(kq_vss_deal(coeffs, commits, shares, NULL, T, N), KQ_OK);
    kq_sc_random(h);
    kq_pt_mul_base(H, h);
    for (int j = 0; j < T; j++)
        assert_int_equal(kq_pt_mul(pts[j], shares[xs[j] - 1], H), KQ_OK);
    assert_int_equal(kq_pt_interpolate0(out, xs, pts, T), KQ_OK);
    assert_int_equal(kq_pt_mul(expect, coeffs[0], H), KQ_OK);
    assert_memory_equal(out, expect, 32); /* s(0) * H */
    assert_int_equal(kq_lagrange0(lam, xs, T), KQ_OK);
    for (size_t j = 0; j < T; j++) { /* the same coefficients as the inverting kq_lagrange */
        assert_int_equal(kq_lagrange(slow, xs, T, j, 0), KQ_OK);
        assert_memory_equal(lam[j], slow, 32);
    }
    uint8_t saved[32];
    memcpy(saved, pts[1], 32);
    memset(pts[1], 0, 32);
    assert_int_equal(kq_pt_interpolate0(out, xs, pts, T), KQ_ERR_BAD_POINT);
    memset(pts[1], 0xff, 32);
    assert_int_equal(kq_pt_interpolate0(out, xs, pts, T), KQ_ERR_BAD_POINT);
    memcpy(pts[1], saved, 32);
    xs[2] = 6;
    assert_int_equal(kq_pt_interpolate0(out, xs, pts, T), KQ_ERR_DUPLICATE_INDEX);
    kq_wipe(coeffs, sizeof coeffs);
    kq_wipe(shares, sizeof shares);
}

static void test_pt_table(void **state)
{
    (void)state;
    uint8_t p[32], P[32], s[32], a[32], b[32], zero[32] = {0}, identity[32] = {0}, bad[32];
    struct kq_pt_table *t = NULL;
    kq_sc_random(p);
    kq_pt_mul_base(P, p);
    assert_int_equal(kq_pt_table_new(&t, P), KQ_OK);
    assert_memory_equal(kq_pt_table_point(t), P, 32);
    for (int i = 0; i < 8; i++) {
        kq_sc_random(s);
        kq_pt_table_mul(a, t, s);
        assert_int_equal(kq_pt_mul(b, s, P), KQ_OK);
        assert_memory_equal(a, b, 32);
    }
    kq_pt_table_mul(a, t, zero);
    assert_true(kq_pt_is_identity(a));
    kq_pt_table_free(t);
    kq_pt_table_free(NULL);
    memset(bad, 0xff, 32);
    t = (struct kq_pt_table *)1;
    assert_int_equal(kq_pt_table_new(&t, identity), KQ_ERR_BAD_POINT);
    assert_null(t);
    assert_int_equal(kq_pt_table_new(&t, bad), KQ_ERR_BAD_POINT);
    assert_null(t);
}

int main(void)
{
    if (kq_init(0) != KQ_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_transcript_separation),
        cmocka_unit_test(test_scalar_checks),
        cmocka_unit_test(test_point_checks),
        cmocka_unit_test(test_top_bit_rejected),
        cmocka_unit_test(test_lagrange_recovers_secret),
        cmocka_unit_test(test_lagrange_rejects_bad_indices),
        cmocka_unit_test(test_vss_verify),
        cmocka_unit_test(test_schnorr),
        cmocka_unit_test(test_schnorr_with_nonce),
        cmocka_unit_test(test_dleq),
        cmocka_unit_test(test_lincomb),
        cmocka_unit_test(test_decaf_agrees_with_libsodium),
        cmocka_unit_test(test_dleq_prove_mul),
        cmocka_unit_test(test_pt_table),
        cmocka_unit_test(test_interpolate0),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
