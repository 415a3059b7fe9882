/* Tests for src/crypto/tprf.c: determinism, independence from the t-subset, context and version
 * separation, bad partials named (and replaced by spares), the holder computing P itself,
 * per-epoch ephemeral keys, and signed derive responses as evidence. */
#include "../test_util.h"

#include "base/limits.h"
#include "base/mem.h"
#include "crypto/group.h"
#include "crypto/label.h"
#include "crypto/partial.h"
#include "crypto/tprf.h"

enum { T = 3, N = 5 };

static uint8_t coeffs[T][32], commits[T][32], shares[N][32], pub[N][32];
static struct kq_label LA, LB;

static void deal(void)
{
    assert_int_equal(kq_vss_deal(coeffs, commits, shares, NULL, T, N), KQ_OK);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(
            kq_vss_eval_commits(pub[i], (const uint8_t(*)[32])commits, T, (uint32_t)(i + 1)),
            KQ_OK);
}

static void label(struct kq_label *l, uint32_t version, const char *purpose)
{
    struct kq_ctx_pair c[1] = {
        {(const uint8_t *)"purpose", 7, (const uint8_t *)purpose, strlen(purpose)}};
    assert_int_equal(
        kq_label_build(l, (const uint8_t *)"key/derive", 10, version, KQ_PURPOSE_DERIVE, c, 1),
        KQ_OK);
}

static void all_partials(struct kq_tprf_partial *p, const struct kq_label *l)
{
    for (size_t i = 0; i < N; i++)
        assert_int_equal(kq_tprf_partial(&p[i], l, shares[i], (uint32_t)(i + 1)), KQ_OK);
}

/* Combines the partials of the holders in mask (bit i: holder i + 1). */
static enum kq_err combine_mask(uint8_t key[32], uint8_t *faulty, const struct kq_label *l,
                                const struct kq_tprf_partial *all, unsigned mask)
{
    struct kq_tprf_partial sel[N];
    uint8_t p[N][32];
    size_t k = 0;
    for (size_t i = 0; i < N; i++) {
        if (mask & (1u << i)) {
            sel[k] = all[i];
            memcpy(p[k++], pub[i], 32);
        }
    }
    return kq_tprf_combine(key, faulty, l, sel, (const uint8_t(*)[32])p, k, T);
}

/* s * P computed directly from the dealt secret: what every subset must agree on. */
static void expected_key(uint8_t key[32], const struct kq_label *l)
{
    uint8_t P[32], Y[32], h[64];
    struct kq_ts ts;
    assert_int_equal(kq_tprf_point(P, l), KQ_OK);
    assert_int_equal(kq_pt_mul(Y, coeffs[0], P), KQ_OK);
    kq_ts_init(&ts, KQ_TPRF_KEY_TAG);
    kq_ts_put(&ts, Y, 32);
    kq_ts_put(&ts, l->bytes, l->len);
    kq_ts_digest(&ts, h);
    memcpy(key, h, 32);
}

static void test_deterministic_any_subset(void **state)
{
    (void)state;
    struct kq_tprf_partial parts[N], again[N];
    uint8_t key[32], want[32], faulty[N];
    deal();
    label(&LA, 1, "reports");
    all_partials(parts, &LA);
    expected_key(want, &LA);
    size_t subsets = 0;
    for (unsigned mask = 0; mask < (1u << N); mask++) {
        if (__builtin_popcount(mask) < T)
            continue; /* every t-subset, and every superset (spares) */
        assert_int_equal(combine_mask(key, faulty, &LA, parts, mask), KQ_OK);
        assert_memory_equal(key, want, 32);
        subsets++;
    }
    assert_int_equal(subsets, 16);
    /* fresh partials (fresh proof nonces) give the same key */
    all_partials(again, &LA);
    assert_int_equal(combine_mask(key, faulty, &LA, again, 0x19), KQ_OK);
    assert_memory_equal(key, want, 32);
    assert_int_equal(kq_tprf_keybytes(), 32);
}

static void test_separation(void **state)
{
    (void)state;
    struct kq_tprf_partial parts[N];
    uint8_t a[32], b[32], faulty[N];
    deal();
    label(&LA, 1, "reports");
    all_partials(parts, &LA);
    assert_int_equal(combine_mask(a, faulty, &LA, parts, 0x7), KQ_OK);
    label(&LB, 1, "reportz");
    all_partials(parts, &LB);
    assert_int_equal(combine_mask(b, faulty, &LB, parts, 0x7), KQ_OK);
    assert_memory_not_equal(a, b, 32);
    label(&LB, 2, "reports");
    all_partials(parts, &LB);
    assert_int_equal(combine_mask(b, faulty, &LB, parts, 0x7), KQ_OK);
    assert_memory_not_equal(a, b, 32);
    /* a different key (another sharing) gives another value for the same label */
    deal();
    all_partials(parts, &LA);
    assert_int_equal(combine_mask(b, faulty, &LA, parts, 0x7), KQ_OK);
    assert_memory_not_equal(a, b, 32);
}

static void test_bad_partial_named(void **state)
{
    (void)state;
    struct kq_tprf_partial parts[N];
    uint8_t key[32], want[32], faulty[N], s[32];
    deal();
    label(&LA, 1, "reports");
    all_partials(parts, &LA);
    expected_key(want, &LA);
    /* holder 2 returns a random point: named, and holders 1, 3, 4 carry the result */
    kq_sc_random(s);
    kq_pt_mul_base(parts[1].Y, s);
    memset(faulty, 0xaa, sizeof faulty);
    assert_int_equal(combine_mask(key, faulty, &LA, parts, 0xf), KQ_OK);
    assert_memory_equal(key, want, 32);
    const uint8_t w1[4] = {0, 1, 0, 0};
    assert_memory_equal(faulty, w1, 4);
    /* without a spare the combine fails and the key is wiped */
    memset(key, 0x55, 32);
    assert_int_equal(combine_mask(key, faulty, &LA, parts, 0x7), KQ_ERR_BAD_PROOF);
    assert_true(sodium_is_zero(key, 32));
    const uint8_t w2[3] = {0, 1, 0};
    assert_memory_equal(faulty, w2, 3);
    /* a partial made for another label is a bad partial here */
    label(&LB, 1, "other");
    assert_int_equal(kq_tprf_partial(&parts[1], &LB, shares[1], 2), KQ_OK);
    assert_int_equal(combine_mask(key, faulty, &LA, parts, 0x7), KQ_ERR_BAD_PROOF);
    assert_memory_equal(faulty, w2, 3);
    /* invalid and identity Y, a broken proof */
    all_partials(parts, &LA);
    memset(parts[0].Y, 0, 32);
    memset(parts[2].Y, 0xff, 32);
    parts[3].proof[33] ^= 1;
    assert_int_equal(combine_mask(key, faulty, &LA, parts, 0x1f), KQ_ERR_BAD_PROOF);
    const uint8_t w3[5] = {1, 0, 1, 1, 0};
    assert_memory_equal(faulty, w3, 5);
}

static void test_rejects(void **state)
{
    (void)state;
    struct kq_tprf_partial parts[N], p;
    uint8_t key[32], faulty[N], zero[32] = {0}, P[32];
    deal();
    label(&LA, 1, "reports");
    all_partials(parts, &LA);
    /* the holder computes P from the label, and only for DERIVE labels */
    struct kq_ctx_pair c[1] = {{(const uint8_t *)"purpose", 7, (const uint8_t *)"reports", 7}};
    assert_int_equal(
        kq_label_build(&LB, (const uint8_t *)"key/derive", 10, 1, KQ_PURPOSE_DEK, c, 1), KQ_OK);
    assert_int_equal(kq_tprf_point(P, &LB), KQ_ERR_TYPE);
    assert_int_equal(kq_tprf_partial(&p, &LB, shares[0], 1), KQ_ERR_TYPE);
    assert_int_equal(kq_tprf_combine(key, faulty, &LB, parts, (const uint8_t(*)[32])pub, N, T),
                     KQ_ERR_TYPE);
    assert_int_equal(kq_tprf_partial(&p, &LA, zero, 1), KQ_ERR_BAD_SCALAR);
    assert_int_equal(kq_tprf_partial(&p, &LA, shares[0], 0), KQ_ERR_ZERO_INDEX);
    assert_int_equal(kq_tprf_partial(&p, &LA, shares[0], KQ_MAX_PARTICIPANTS + 1), KQ_ERR_LIMIT);
    assert_true(sodium_is_zero((const uint8_t *)&p, sizeof p));
    /* t - 1 partials, duplicate and zero indices */
    assert_int_equal(combine_mask(key, faulty, &LA, parts, 0x3), KQ_ERR_THRESHOLD);
    struct kq_tprf_partial dup[3] = {parts[0], parts[0], parts[1]};
    assert_int_equal(kq_tprf_combine(key, faulty, &LA, dup, (const uint8_t(*)[32])pub, 3, T),
                     KQ_ERR_DUPLICATE_INDEX);
    dup[1].index = 0;
    assert_int_equal(kq_tprf_combine(key, faulty, &LA, dup, (const uint8_t(*)[32])pub, 3, T),
                     KQ_ERR_ZERO_INDEX);
    /* a wrong public share makes an honest partial fail its proof */
    uint8_t wrong[N][32];
    memcpy(wrong, pub, sizeof wrong);
    memcpy(wrong[0], pub[1], 32);
    assert_int_equal(kq_tprf_combine(key, faulty, &LA, parts, (const uint8_t(*)[32])wrong, 3, T),
                     KQ_ERR_BAD_PROOF);
    assert_int_equal(faulty[0], 1);
    /* partial verify on its own */
    uint8_t digest[32];
    kq_label_digest(digest, &LA);
    assert_int_equal(kq_tprf_point(P, &LA), KQ_OK);
    assert_int_equal(kq_tprf_partial_verify(&parts[2], digest, P, pub[2]), KQ_OK);
    assert_int_equal(kq_tprf_partial_verify(&parts[2], digest, P, pub[3]), KQ_ERR_BAD_PROOF);
    digest[0] ^= 1;
    assert_int_equal(kq_tprf_partial_verify(&parts[2], digest, P, pub[2]), KQ_ERR_BAD_PROOF);
}

static void test_epoch_keys(void **state)
{
    (void)state;
    struct kq_tprf_partial parts[N];
    uint8_t k1[32], k2[32], k1b[32], faulty[N];
    deal();
    assert_int_equal(kq_tprf_epoch_label(&LA, (const uint8_t *)"node/7", 6, 1, 41), KQ_OK);
    all_partials(parts, &LA);
    assert_int_equal(combine_mask(k1, faulty, &LA, parts, 0x7), KQ_OK);
    assert_int_equal(combine_mask(k1b, faulty, &LA, parts, 0x1c), KQ_OK);
    assert_memory_equal(k1, k1b, 32);
    assert_int_equal(kq_tprf_epoch_label(&LB, (const uint8_t *)"node/7", 6, 1, 42), KQ_OK);
    all_partials(parts, &LB);
    assert_int_equal(combine_mask(k2, faulty, &LB, parts, 0x7), KQ_OK);
    assert_memory_not_equal(k1, k2, 32);
    assert_int_equal(kq_tprf_epoch_label(&LB, (const uint8_t *)"node/7", 0, 1, 42),
                     KQ_ERR_INVALID_ARG);
}

static void test_signed_derive_response(void **state)
{
    (void)state;
    struct kq_tprf_partial p;
    struct kq_partial_resp r;
    uint8_t pk[32], sk[64], P[32], reqid[16] = {3}, s[32];
    deal();
    label(&LA, 1, "reports");
    crypto_sign_keypair(pk, sk);
    assert_int_equal(kq_tprf_point(P, &LA), KQ_OK);
    assert_int_equal(kq_tprf_partial(&p, &LA, shares[3], 4), KQ_OK);
    assert_int_equal(kq_partial_respond(&r, reqid, &LA, 2, 77, 4, P, NULL, &p, sk), KQ_OK);
    assert_int_equal(r.kind, KQ_PARTIAL_DERIVE);
    assert_int_equal(kq_partial_verify(&r, pk), KQ_OK);
    assert_int_equal(kq_partial_evidence_check(&r, pk, pub[3]), 0);
    /* a derive response is not an unwrap partial */
    struct kq_tkem_partial up;
    assert_int_equal(kq_partial_unwrap_part(&up, &r), KQ_ERR_INVALID_ARG);
    /* a lying holder's signed derive response is evidence */
    kq_sc_random(s);
    kq_pt_mul_base(p.Y, s);
    assert_int_equal(kq_partial_respond(&r, reqid, &LA, 2, 77, 4, P, NULL, &p, sk), KQ_OK);
    assert_int_equal(kq_partial_evidence_check(&r, pk, pub[3]), 1);
    r.sig[10] ^= 1;
    assert_int_equal(kq_partial_evidence_check(&r, pk, pub[3]), 0);
}

/* A keeper that keeps its public share uses kq_tprf_partial_pub: same key; a wrong S_i only gives
 * a partial whose proof fails (named by the combiner); shares are still checked first. */
static void test_partial_pub(void **state)
{
    (void)state;
    struct kq_tprf_partial parts[N];
    uint8_t key[32], want[32], faulty[N], zero[32] = {0};
    deal();
    label(&LA, 2, "pub");
    expected_key(want, &LA);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(kq_tprf_partial_pub(&parts[i], &LA, shares[i], pub[i], (uint32_t)(i + 1)),
                         KQ_OK);
    assert_int_equal(combine_mask(key, faulty, &LA, parts, 0x07), KQ_OK);
    assert_memory_equal(key, want, 32);
    /* holder 2 passes someone else's public share: its proof fails, it is named, a spare
     * (holder 4) takes its place */
    assert_int_equal(kq_tprf_partial_pub(&parts[1], &LA, shares[1], pub[0], 2), KQ_OK);
    assert_int_equal(combine_mask(key, faulty, &LA, parts, 0x0f), KQ_OK);
    assert_int_equal(faulty[1], 1);
    assert_memory_equal(key, want, 32);
    /* the share is checked before S_i is used; an identity S_i is refused */
    assert_int_equal(kq_tprf_partial_pub(&parts[0], &LA, zero, pub[0], 1), KQ_ERR_BAD_SCALAR);
    assert_int_equal(kq_tprf_partial_pub(&parts[0], &LA, shares[0], zero, 1), KQ_ERR_BAD_POINT);
}

int main(void)
{
    if (kq_init(0) != KQ_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic_any_subset),
        cmocka_unit_test(test_separation),
        cmocka_unit_test(test_bad_partial_named),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_epoch_keys),
        cmocka_unit_test(test_signed_derive_response),
        cmocka_unit_test(test_partial_pub),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
