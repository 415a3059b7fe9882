/* Tests for the DKG through the in-process driver (src/crypto/dkg_local.c): honest runs up to
 * n = 16, every injected fault excluded (or, for a falsely accused dealer, kept), too many
 * faults failing, refresh, resharing, share recovery, and transcript-only derivation. */
#include "../test_util.h"

#include "base/mem.h"
#include "crypto/dkg.h"
#include "crypto/dkg_local.h"

#define MAXN KQ_DKG_MAX_N

static struct kq_dkg_result *alloc_results(void)
{
    struct kq_dkg_result *r = calloc(MAXN, sizeof *r);
    assert_non_null(r);
    return r;
}

static void free_results(struct kq_dkg_result *r)
{
    for (size_t k = 0; k < MAXN; k++)
        kq_dkg_result_wipe(&r[k]);
    free(r);
}

static void seed_of(uint8_t seed[32], uint8_t v)
{
    memset(seed, v, 32);
}

/* s = sum lambda_j s_j over the listed indices (1-based into r). */
static void interpolate(uint8_t s[32], const struct kq_dkg_result *r, const uint32_t *xs, size_t k)
{
    uint8_t lam[32], term[32];
    memset(s, 0, 32);
    for (size_t j = 0; j < k; j++) {
        assert_true(r[xs[j] - 1].has_share);
        assert_int_equal(kq_lagrange(lam, xs, k, j, 0), KQ_OK);
        crypto_core_ristretto255_scalar_mul(term, lam, r[xs[j] - 1].share);
        crypto_core_ristretto255_scalar_add(s, s, term);
    }
}

static bool reconstructs(const struct kq_dkg_result *r, const uint32_t *xs, size_t k,
                         const uint8_t S[32])
{
    uint8_t s[32], P[32];
    interpolate(s, r, xs, k);
    kq_pt_mul_base(P, s);
    kq_wipe(s, sizeof s);
    return memcmp(P, S, 32) == 0;
}

/* Every holder agrees on S, commitments, public shares and QUAL; public shares match the
 * secret shares; t shares (first, last, spread) reconstruct S and t - 1 do not. */
static void check_consistent(const struct kq_dkg_result *r, uint32_t nodes, uint32_t n, uint32_t t)
{
    const struct kq_dkg_result *a = NULL;
    for (uint32_t k = 0; k < nodes; k++) {
        if (r[k].index == 0)
            continue;
        assert_int_equal(r[k].index, k + 1);
        assert_true(r[k].has_share);
        assert_int_equal(r[k].n, n);
        assert_int_equal(r[k].t, t);
        if (a == NULL)
            a = &r[k];
        assert_memory_equal(r[k].group_pk, a->group_pk, 32);
        assert_memory_equal(r[k].commits, a->commits, (size_t)t * 32);
        assert_memory_equal(r[k].public_shares, a->public_shares, (size_t)n * 32);
        assert_int_equal(r[k].qual_count, a->qual_count);
        assert_memory_equal(r[k].qual, a->qual, a->qual_count * sizeof a->qual[0]);
        uint8_t P[32];
        kq_pt_mul_base(P, r[k].share);
        assert_memory_equal(P, a->public_shares[k], 32);
    }
    assert_non_null(a);
    assert_memory_equal(a->group_pk, a->commits[0], 32);
    uint32_t xs[MAXN];
    for (uint32_t j = 0; j < t; j++)
        xs[j] = j + 1;
    assert_true(reconstructs(r, xs, t, a->group_pk));
    for (uint32_t j = 0; j < t; j++)
        xs[j] = n - j;
    assert_true(reconstructs(r, xs, t, a->group_pk));
    if (t >= 2)
        assert_false(reconstructs(r, xs, t - 1, a->group_pk));
    for (uint32_t j = 0; j < n; j++)
        xs[j] = j + 1;
    assert_true(reconstructs(r, xs, n, a->group_pk)); /* more than t points also interpolate */
}

static bool in_qual(const struct kq_dkg_result *r, uint32_t dealer)
{
    for (uint32_t q = 0; q < r->qual_count; q++)
        if (r->qual[q] == dealer)
            return true;
    return false;
}

static void run_fresh(uint32_t n, uint32_t t, uint8_t sv, const struct kq_dkg_fault *faults,
                      size_t nfaults, struct kq_dkg_result *r, struct kq_dkg_local_transcript *tr)
{
    uint8_t seed[32];
    seed_of(seed, sv);
    struct kq_dkg_local_cfg c = {.mode = KQ_DKG_FRESH,
                                 .n = n,
                                 .t = t,
                                 .seed = seed,
                                 .faults = faults,
                                 .nfaults = nfaults,
                                 .transcript = tr};
    assert_int_equal(kq_dkg_local_run(&c, r), KQ_OK);
    check_consistent(r, n, n, t);
}

/* The observer's replay of the transcript equals the participants' public result. */
static void check_transcript(const struct kq_dkg_local_transcript *tr,
                             const struct kq_dkg_result *r)
{
    struct kq_dkg_result *obs = calloc(1, sizeof *obs);
    assert_non_null(obs);
    assert_int_equal(kq_dkg_transcript_derive(&tr->pub, tr->msgs, tr->count, obs), KQ_OK);
    assert_false(obs->has_share);
    assert_int_equal(obs->index, 0);
    assert_memory_equal(obs->group_pk, r->group_pk, 32);
    assert_memory_equal(obs->commits, r->commits, sizeof obs->commits);
    assert_memory_equal(obs->public_shares, r->public_shares, sizeof obs->public_shares);
    assert_int_equal(obs->qual_count, r->qual_count);
    assert_memory_equal(obs->qual, r->qual, sizeof obs->qual);
    free(obs);
}

static void test_fresh_honest(void **state)
{
    (void)state;
    static const uint32_t tn[][2] = {{1, 1}, {1, 3}, {2, 3}, {3, 5}, {4, 7}, {7, 9}};
    struct kq_dkg_result *r = alloc_results();
    struct kq_dkg_local_transcript *tr = calloc(1, sizeof *tr);
    assert_non_null(tr);
    for (size_t k = 0; k < sizeof tn / sizeof tn[0]; k++) {
        run_fresh(tn[k][1], tn[k][0], (uint8_t)(k + 1), NULL, 0, r, tr);
        assert_int_equal(r[0].qual_count, tn[k][1]);
        /* deals only: no complaints, no justifications */
        assert_int_equal(tr->count, tn[k][1]);
        check_transcript(tr, &r[0]);
    }
    free(tr);
    free_results(r);
}

static void test_fresh_16(void **state)
{
    (void)state;
    struct kq_dkg_result *r = alloc_results();
    struct kq_dkg_local_transcript *tr = calloc(1, sizeof *tr);
    assert_non_null(tr);
    run_fresh(16, 11, 0x16, NULL, 0, r, tr);
    assert_int_equal(r[0].qual_count, 16);
    check_transcript(tr, &r[0]);
    free(tr);
    free_results(r);
}

static void test_deterministic(void **state)
{
    (void)state;
    struct kq_dkg_result *r1 = alloc_results(), *r2 = alloc_results();
    struct kq_dkg_local_transcript *t1 = calloc(1, sizeof *t1), *t2 = calloc(1, sizeof *t2);
    assert_non_null(t1);
    assert_non_null(t2);
    run_fresh(4, 2, 9, NULL, 0, r1, t1);
    run_fresh(4, 2, 9, NULL, 0, r2, t2);
    assert_int_equal(t1->count, t2->count);
    for (size_t k = 0; k < t1->count; k++)
        assert_memory_equal(t1->msgs[k].bytes, t2->msgs[k].bytes, t1->msgs[k].len);
    assert_memory_equal(r1[2].share, r2[2].share, 32);
    run_fresh(4, 2, 10, NULL, 0, r2, t2); /* another seed, another key */
    assert_memory_not_equal(r1[0].group_pk, r2[0].group_pk, 32);
    free(t1);
    free(t2);
    free_results(r1);
    free_results(r2);
}

/* One fault in a 5-party, t = 3 run: the DKG succeeds and `dealer` is in QUAL iff kept. */
static void one_fault(enum kq_dkg_fault_kind kind, uint32_t dealer, uint32_t victim, bool kept,
                      size_t expect_msgs)
{
    struct kq_dkg_result *r = alloc_results();
    struct kq_dkg_local_transcript *tr = calloc(1, sizeof *tr);
    assert_non_null(tr);
    struct kq_dkg_fault f = {.kind = kind, .dealer = dealer, .victim = victim};
    run_fresh(5, 3, (uint8_t)(0x40 + kind), &f, 1, r, tr);
    assert_int_equal(r[0].qual_count, kept ? 5 : 4);
    assert_int_equal(in_qual(&r[0], dealer), kept);
    assert_int_equal(tr->count, expect_msgs);
    check_transcript(tr, &r[0]);
    free(tr);
    free_results(r);
}

static void test_fault_bad_share_justified(void **state)
{
    (void)state;
    one_fault(KQ_DKG_FAULT_BAD_SHARE, 2, 4, true, 5 + 1 + 1); /* deals, complaint, justification */
}

static void test_fault_bad_share_bad_justification(void **state)
{
    (void)state;
    one_fault(KQ_DKG_FAULT_BAD_SHARE_BAD_JUSTIFY, 3, 1, false, 5 + 1 + 1);
}

static void test_fault_bad_share_no_justification(void **state)
{
    (void)state;
    one_fault(KQ_DKG_FAULT_BAD_SHARE_SILENT, 5, 2, false, 5 + 1);
}

static void test_fault_false_complaint(void **state)
{
    (void)state;
    one_fault(KQ_DKG_FAULT_FALSE_COMPLAINT, 1, 3, true, 5 + 1 + 1);
}

static void test_fault_invalid_commitment(void **state)
{
    (void)state;
    one_fault(KQ_DKG_FAULT_BAD_COMMITMENT, 4, 0, false, 5); /* public: no complaint needed */
}

static void test_fault_wrong_commitment(void **state)
{
    (void)state;
    /* every other recipient complains (4 complaints; the dealer itself too: 5), the dealer's
     * justification of the true shares fails against the published commitments */
    one_fault(KQ_DKG_FAULT_WRONG_COMMITMENT, 2, 0, false, 5 + 5 + 1);
}

static void test_fault_bad_pok(void **state)
{
    (void)state;
    one_fault(KQ_DKG_FAULT_BAD_POK, 1, 0, false, 5);
}

static void test_fault_silent(void **state)
{
    (void)state;
    one_fault(KQ_DKG_FAULT_SILENT, 5, 0, false, 4);
}

static void test_faults_16(void **state)
{
    (void)state;
    const struct kq_dkg_fault f[] = {
        {KQ_DKG_FAULT_BAD_SHARE, 1, 2},        {KQ_DKG_FAULT_BAD_SHARE_BAD_JUSTIFY, 3, 4},
        {KQ_DKG_FAULT_BAD_SHARE_SILENT, 5, 6}, {KQ_DKG_FAULT_FALSE_COMPLAINT, 7, 8},
        {KQ_DKG_FAULT_BAD_COMMITMENT, 9, 0},   {KQ_DKG_FAULT_WRONG_COMMITMENT, 10, 0},
        {KQ_DKG_FAULT_BAD_POK, 11, 0},         {KQ_DKG_FAULT_SILENT, 12, 0},
    };
    static const bool out[17] = {[3] = 1, [5] = 1, [9] = 1, [10] = 1, [11] = 1, [12] = 1};
    struct kq_dkg_result *r = alloc_results();
    struct kq_dkg_local_transcript *tr = calloc(1, sizeof *tr);
    assert_non_null(tr);
    run_fresh(16, 5, 0x61, f, 8, r, tr);
    assert_int_equal(r[0].qual_count, 16 - 6);
    for (uint32_t d = 1; d <= 16; d++)
        assert_int_equal(in_qual(&r[0], d), !out[d]);
    check_transcript(tr, &r[0]);
    free(tr);
    free_results(r);
}

static void test_too_many_faulty(void **state)
{
    (void)state;
    uint8_t seed[32];
    seed_of(seed, 0x77);
    const struct kq_dkg_fault f[] = {{KQ_DKG_FAULT_SILENT, 1, 0},
                                     {KQ_DKG_FAULT_BAD_POK, 2, 0},
                                     {KQ_DKG_FAULT_BAD_SHARE_SILENT, 3, 4}};
    struct kq_dkg_result *r = alloc_results();
    struct kq_dkg_local_transcript *tr = calloc(1, sizeof *tr);
    assert_non_null(tr);
    struct kq_dkg_local_cfg c = {.mode = KQ_DKG_FRESH,
                                 .n = 5,
                                 .t = 3,
                                 .seed = seed,
                                 .faults = f,
                                 .nfaults = 3,
                                 .transcript = tr};
    assert_int_equal(kq_dkg_local_run(&c, r), KQ_ERR_THRESHOLD);
    uint8_t zero[sizeof *r] = {0};
    assert_memory_equal(&r[0], zero, sizeof *r); /* wiped */
    struct kq_dkg_result *obs = calloc(1, sizeof *obs);
    assert_non_null(obs);
    assert_int_equal(kq_dkg_transcript_derive(&tr->pub, tr->msgs, tr->count, obs),
                     KQ_ERR_THRESHOLD);
    free(obs);
    free(tr);
    free_results(r);
}

static void test_local_bad_cfg(void **state)
{
    (void)state;
    struct kq_dkg_result *r = alloc_results();
    struct kq_dkg_local_cfg c = {.mode = KQ_DKG_FRESH, .n = 3, .t = 4};
    assert_int_equal(kq_dkg_local_run(&c, r), KQ_ERR_INVALID_ARG);
    c = (struct kq_dkg_local_cfg){.mode = KQ_DKG_FRESH, .n = MAXN + 1, .t = 1};
    assert_int_equal(kq_dkg_local_run(&c, r), KQ_ERR_INVALID_ARG);
    c = (struct kq_dkg_local_cfg){.mode = KQ_DKG_REFRESH, .n = 3, .t = 2}; /* no old results */
    assert_int_equal(kq_dkg_local_run(&c, r), KQ_ERR_INVALID_ARG);
    c = (struct kq_dkg_local_cfg){
        .mode = KQ_DKG_FRESH, .n = 3, .t = 2, .nfaults = KQ_DKG_LOCAL_MAX_FAULTS + 1};
    assert_int_equal(kq_dkg_local_run(&c, r), KQ_ERR_LIMIT);
    /* without a seed the driver draws one: two runs differ */
    c = (struct kq_dkg_local_cfg){.mode = KQ_DKG_FRESH, .n = 2, .t = 2};
    assert_int_equal(kq_dkg_local_run(&c, r), KQ_OK);
    uint8_t S[32];
    memcpy(S, r[0].group_pk, 32);
    assert_int_equal(kq_dkg_local_run(&c, r), KQ_OK);
    assert_memory_not_equal(S, r[0].group_pk, 32);
    free_results(r);
}

/* ---- Refresh ------------------------------------------------------------------------------ */

static void test_refresh(void **state)
{
    (void)state;
    struct kq_dkg_result *old = alloc_results(), *r = alloc_results();
    struct kq_dkg_local_transcript *tr = calloc(1, sizeof *tr);
    assert_non_null(tr);
    run_fresh(5, 3, 0x21, NULL, 0, old, NULL);
    uint8_t seed[32];
    seed_of(seed, 0x22);
    const struct kq_dkg_fault f = {KQ_DKG_FAULT_BAD_SHARE_SILENT, 2, 5};
    struct kq_dkg_local_cfg c = {.mode = KQ_DKG_REFRESH,
                                 .n = 5,
                                 .t = 3,
                                 .seed = seed,
                                 .old = old,
                                 .faults = &f,
                                 .nfaults = 1,
                                 .transcript = tr};
    assert_int_equal(kq_dkg_local_run(&c, r), KQ_OK);
    check_consistent(r, 5, 5, 3);
    check_transcript(tr, &r[0]);
    assert_false(in_qual(&r[0], 2));
    assert_memory_equal(r[0].group_pk, old[0].group_pk, 32); /* S unchanged */
    for (uint32_t k = 0; k < 5; k++) {
        assert_memory_not_equal(r[k].share, old[k].share, 32);
        assert_memory_not_equal(r[0].public_shares[k], old[0].public_shares[k], 32);
    }
    /* all new or all old reconstruct S; any mix of old and new does not */
    const uint32_t xs[3] = {1, 3, 5};
    assert_true(reconstructs(r, xs, 3, old[0].group_pk));
    assert_true(reconstructs(old, xs, 3, old[0].group_pk));
    struct kq_dkg_result *mix = alloc_results();
    for (uint32_t mask = 1; mask < 7; mask++) { /* bit k set: holder xs[k] uses its new share */
        for (uint32_t k = 0; k < 3; k++)
            mix[xs[k] - 1] = (mask >> k) & 1 ? r[xs[k] - 1] : old[xs[k] - 1];
        assert_false(reconstructs(mix, xs, 3, old[0].group_pk));
    }
    free_results(mix);
    free(tr);
    free_results(old);
    free_results(r);
}

/* A refresh dealer whose constant commitment is not the identity (t = 1 makes the wrong
 * commitment the constant one) is excluded; S is still unchanged. */
static void test_refresh_nonzero_constant(void **state)
{
    (void)state;
    struct kq_dkg_result *old = alloc_results(), *r = alloc_results();
    run_fresh(3, 1, 0x23, NULL, 0, old, NULL);
    uint8_t seed[32];
    seed_of(seed, 0x24);
    const struct kq_dkg_fault f = {KQ_DKG_FAULT_WRONG_COMMITMENT, 3, 0};
    struct kq_dkg_local_cfg c = {.mode = KQ_DKG_REFRESH,
                                 .n = 3,
                                 .t = 1,
                                 .seed = seed,
                                 .old = old,
                                 .faults = &f,
                                 .nfaults = 1};
    assert_int_equal(kq_dkg_local_run(&c, r), KQ_OK);
    check_consistent(r, 3, 3, 1);
    assert_int_equal(r[0].qual_count, 2);
    assert_false(in_qual(&r[0], 3));
    assert_memory_equal(r[0].group_pk, old[0].group_pk, 32);
    free_results(old);
    free_results(r);
}

/* ---- Resharing and recovery -------------------------------------------------------------- */

static void reshare(const struct kq_dkg_result *old, uint32_t n, uint32_t t, uint32_t lost,
                    const struct kq_dkg_fault *f, size_t nf, uint8_t sv, struct kq_dkg_result *r)
{
    uint8_t seed[32];
    seed_of(seed, sv);
    struct kq_dkg_local_transcript *tr = calloc(1, sizeof *tr);
    assert_non_null(tr);
    struct kq_dkg_local_cfg c = {.mode = KQ_DKG_RESHARE,
                                 .n = n,
                                 .t = t,
                                 .seed = seed,
                                 .old = old,
                                 .lost = lost,
                                 .faults = f,
                                 .nfaults = nf,
                                 .transcript = tr};
    assert_int_equal(kq_dkg_local_run(&c, r), KQ_OK);
    check_consistent(r, kq_dkg_local_nodes(&c), n, t);
    assert_memory_equal(r[0].group_pk, old[0].group_pk, 32); /* S unchanged */
    check_transcript(tr, &r[0]);
    free(tr);
}

static void test_reshare_grow_and_shrink(void **state)
{
    (void)state;
    struct kq_dkg_result *old = alloc_results(), *big = alloc_results(), *small = alloc_results();
    run_fresh(5, 3, 0x31, NULL, 0, old, NULL);
    reshare(old, 7, 4, 0, NULL, 0, 0x32, big); /* (3,5) -> (4,7) */
    assert_int_equal(big[0].qual_count, 5);
    reshare(big, 3, 2, 0, NULL, 0, 0x33, small); /* (4,7) -> (2,3): members 4..7 leave */
    for (uint32_t k = 3; k < 7; k++) {
        assert_int_equal(small[k].index, 0);
        assert_false(small[k].has_share);
    }
    free_results(old);
    free_results(big);
    free_results(small);
}

static void test_reshare_faults(void **state)
{
    (void)state;
    struct kq_dkg_result *old = alloc_results(), *r = alloc_results();
    run_fresh(5, 3, 0x34, NULL, 0, old, NULL);
    /* t' = 1: the wrong commitment is C_0, which must equal the dealer's public share S_i */
    const struct kq_dkg_fault f[] = {{KQ_DKG_FAULT_WRONG_COMMITMENT, 2, 0},
                                     {KQ_DKG_FAULT_BAD_SHARE, 4, 1}};
    reshare(old, 3, 1, 0, f, 2, 0x35, r);
    assert_int_equal(r[0].qual_count, 4);
    assert_false(in_qual(&r[0], 2));
    assert_true(in_qual(&r[0], 4));
    free_results(old);
    free_results(r);
}

static void test_reshare_too_few_dealers(void **state)
{
    (void)state;
    struct kq_dkg_result *old = alloc_results(), *r = alloc_results();
    run_fresh(4, 3, 0x36, NULL, 0, old, NULL);
    uint8_t seed[32];
    seed_of(seed, 0x37);
    const struct kq_dkg_fault f = {KQ_DKG_FAULT_SILENT, 1, 0};
    /* 4 old members, one lost, one silent: 2 dealers < old t = 3 */
    struct kq_dkg_local_cfg c = {.mode = KQ_DKG_RESHARE,
                                 .n = 4,
                                 .t = 3,
                                 .seed = seed,
                                 .old = old,
                                 .lost = 3,
                                 .faults = &f,
                                 .nfaults = 1};
    assert_int_equal(kq_dkg_local_run(&c, r), KQ_ERR_THRESHOLD);
    free_results(old);
    free_results(r);
}

static void test_recovery(void **state)
{
    (void)state;
    struct kq_dkg_result *old = alloc_results(), *r = alloc_results();
    run_fresh(5, 3, 0x38, NULL, 0, old, NULL);
    /* keeper 2 lost its disk: the others reshare to the same committee, 2 replaced */
    reshare(old, 5, 3, 2, NULL, 0, 0x39, r);
    assert_int_equal(r[0].qual_count, 4);
    assert_false(in_qual(&r[0], 2));
    assert_true(r[1].has_share);
    assert_memory_not_equal(r[1].share, old[1].share, 32);
    /* the replacement's new share works with the others' new shares */
    const uint32_t xs[3] = {2, 4, 5};
    assert_true(reconstructs(r, xs, 3, old[0].group_pk));
    free_results(old);
    free_results(r);
}

int main(void)
{
    assert_int_equal(kq_init(0), KQ_OK);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_honest),
        cmocka_unit_test(test_fresh_16),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_fault_bad_share_justified),
        cmocka_unit_test(test_fault_bad_share_bad_justification),
        cmocka_unit_test(test_fault_bad_share_no_justification),
        cmocka_unit_test(test_fault_false_complaint),
        cmocka_unit_test(test_fault_invalid_commitment),
        cmocka_unit_test(test_fault_wrong_commitment),
        cmocka_unit_test(test_fault_bad_pok),
        cmocka_unit_test(test_fault_silent),
        cmocka_unit_test(test_faults_16),
        cmocka_unit_test(test_too_many_faulty),
        cmocka_unit_test(test_local_bad_cfg),
        cmocka_unit_test(test_refresh),
        cmocka_unit_test(test_refresh_nonzero_constant),
        cmocka_unit_test(test_reshare_grow_and_shrink),
        cmocka_unit_test(test_reshare_faults),
        cmocka_unit_test(test_reshare_too_few_dealers),
        cmocka_unit_test(test_recovery),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
