/* Tests for src/crypto/tkem.c and src/crypto/partial.c: wrap / holder partial / combine round
 * trips for several (t, n) and every t-subset, forged partials named and replaced by spares,
 * replays under another label, type and version mismatches, every tampered byte, the binary and
 * text decoders (truncation, mutation, unknown format, version mismatch), the known-answer
 * vector of docs/crypto/tkem.md, and the signed response with its evidence check. */
#include "../test_util.h"

#include "base/limits.h"
#include "base/mem.h"
#include "crypto/group.h"
#include "crypto/label.h"
#include "crypto/partial.h"
#include "crypto/tkem.h"

enum { MAXN = 9 };

/* docs/crypto/tkem.md, "Worked example" */
#define KAT_HEX                                                                                    \
    "01010000000144f53520926ec81fbd5a387845beb7df85a96a24ece18738bdcfa6a7822a176d59d81338"         \
    "7090f3ad823b1838e6a9d256c1259a9515c8c5b47ed7dbb2233a0607b36ea971c2c971b90fcac29fafb7"         \
    "252149083717977868f176e402e4f9962b01772b79979c2b9cac405063afe88669656b2097c833ded52a"         \
    "866599ce0702709c2424242424242424242424242424242424242424242424240000003047fa2abc15b8"         \
    "48a090e79479f094f6986005aec6d776783b5a965f10018ef7bbf8ef37a4a6a1b66103afba2006cd4151"
#define KAT_TEXT                                                                                   \
    "kq:v1:AQEAAAABRPU1IJJuyB+9Wjh4Rb6334WpaiTs4Yc4vc+mp4IqF21Z2BM4cJDzrYI7GDjmqdJWwSWalR"         \
    "XIxbR+19uyIzoGB7NuqXHCyXG5D8rCn6+3JSFJCDcXl3ho8XbkAuT5lisBdyt5l5wrnKxAUGOv6IZpZWsgl8"         \
    "gz3tUqhmWZzgcCcJwkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQAAAAwR/oqvBW4SKCQ55R58JT2mGAFrsbXdn"         \
    "g7WpZfEAGO97v47zekpqG2YQOvuiAGzUFR"

struct fx {
    size_t t, n;
    uint8_t coeffs[MAXN][32], commits[MAXN][32], shares[MAXN][32], pub[MAXN][32], S[32];
};

static struct fx F;
static struct kq_label LA, LB; /* large: static */

static void deal(struct fx *f, size_t t, size_t n)
{
    f->t = t;
    f->n = n;
    assert_int_equal(kq_vss_deal(f->coeffs, f->commits, f->shares, NULL, t, n), KQ_OK);
    memcpy(f->S, f->commits[0], 32);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(
            kq_vss_eval_commits(f->pub[i], (const uint8_t(*)[32])f->commits, t, (uint32_t)(i + 1)),
            KQ_OK);
}

static void label(struct kq_label *l, enum kq_purpose p, uint32_t version, const char *tenant)
{
    struct kq_ctx_pair c[2] = {
        {(const uint8_t *)"tenant", 6, (const uint8_t *)tenant, strlen(tenant)},
        {(const uint8_t *)"app", 3, (const uint8_t *)"billing", 7},
    };
    assert_int_equal(kq_label_build(l, (const uint8_t *)"key/orders", 10, version, p, c, 2), KQ_OK);
}

/* faulty[k] == want[k] - '0' for every k of the string want. */
static void expect_flags(const uint8_t *faulty, const char *want)
{
    for (size_t k = 0; want[k] != '\0'; k++)
        assert_int_equal(faulty[k], want[k] - '0');
}

static const uint8_t DEK[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

/* Wraps DEK under LA for F.S into bin and decodes it into *ct. */
static size_t wrap_dek(uint8_t *bin, size_t cap, struct kq_tkem_ct *ct)
{
    size_t len = 0;
    assert_int_equal(kq_tkem_wrap(bin, cap, &len, F.S, &LA, DEK, 32), KQ_OK);
    assert_int_equal(len, KQ_TKEM_CTBYTES(32));
    assert_int_equal(kq_tkem_decode(ct, bin, len), KQ_OK);
    return len;
}

/* Partials of every holder 1..n for ct under l. */
static void all_partials(struct kq_tkem_partial *p, const struct kq_tkem_ct *ct,
                         const struct kq_label *l)
{
    for (size_t i = 0; i < F.n; i++)
        assert_int_equal(kq_tkem_partial(&p[i], ct, l, F.S, F.shares[i], (uint32_t)(i + 1)), KQ_OK);
}

/* Combines the partials named by mask (bit i: holder i+1). */
static enum kq_err combine_mask(uint8_t *pt, size_t *pt_len, const struct kq_tkem_ct *ct,
                                const struct kq_label *l, const struct kq_tkem_partial *all,
                                unsigned mask, int verified)
{
    struct kq_tkem_partial sel[MAXN];
    uint8_t pub[MAXN][32], faulty[MAXN];
    size_t k = 0;
    for (size_t i = 0; i < F.n; i++) {
        if (mask & (1u << i)) {
            sel[k] = all[i];
            memcpy(pub[k++], F.pub[i], 32);
        }
    }
    if (verified)
        return kq_tkem_combine_verified(pt, 64, pt_len, faulty, ct, l, F.S, sel,
                                        (const uint8_t(*)[32])pub, k, F.t);
    return kq_tkem_combine(pt, 64, pt_len, faulty, ct, l, F.S, sel, (const uint8_t(*)[32])pub, k,
                           F.t);
}

static void roundtrip(size_t t, size_t n)
{
    uint8_t bin[KQ_TKEM_CTBYTES(32)], pt[64];
    struct kq_tkem_ct ct;
    struct kq_tkem_partial parts[MAXN];
    size_t pt_len = 0, subsets = 0;
    deal(&F, t, n);
    label(&LA, KQ_PURPOSE_DEK, 3, "acme");
    wrap_dek(bin, sizeof bin, &ct);
    all_partials(parts, &ct, &LA);
    for (unsigned mask = 0; mask < (1u << n); mask++) {
        if ((size_t)__builtin_popcount(mask) != t)
            continue;
        assert_int_equal(combine_mask(pt, &pt_len, &ct, &LA, parts, mask, 0), KQ_OK);
        assert_int_equal(pt_len, 32);
        assert_memory_equal(pt, DEK, 32);
        subsets++;
    }
    /* the fully verified variant, and every holder as spares */
    assert_int_equal(combine_mask(pt, &pt_len, &ct, &LA, parts, (1u << t) - 1, 1), KQ_OK);
    assert_memory_equal(pt, DEK, 32);
    assert_int_equal(combine_mask(pt, &pt_len, &ct, &LA, parts, (1u << n) - 1, 0), KQ_OK);
    assert_memory_equal(pt, DEK, 32);
    /* t-1 partials */
    if (t > 1) {
        assert_int_equal(combine_mask(pt, &pt_len, &ct, &LA, parts, (1u << (t - 1)) - 1, 0),
                         KQ_ERR_THRESHOLD);
        assert_int_equal(pt_len, 0);
    }
    assert_true(subsets > 0);
}

static void test_roundtrip_2_3(void **state)
{
    (void)state;
    roundtrip(2, 3);
}

static void test_roundtrip_3_5(void **state)
{
    (void)state;
    roundtrip(3, 5);
}

static void test_roundtrip_5_9(void **state)
{
    (void)state;
    roundtrip(5, 9);
}

static void test_data_payload(void **state)
{
    (void)state;
    static uint8_t msg[3000], bin[KQ_TKEM_CTBYTES(3000)], out[3000];
    struct kq_tkem_ct ct;
    struct kq_tkem_partial parts[MAXN];
    uint8_t faulty[MAXN];
    size_t len = 0, out_len = 0;
    deal(&F, 2, 3);
    label(&LA, KQ_PURPOSE_DATA, 1, "acme");
    randombytes_buf(msg, sizeof msg);
    for (size_t n = 0; n <= sizeof msg; n += 1500) {
        assert_int_equal(kq_tkem_wrap(bin, sizeof bin, &len, F.S, &LA, msg, n), KQ_OK);
        assert_int_equal(len, KQ_TKEM_CTBYTES(n));
        assert_int_equal(kq_tkem_decode(&ct, bin, len), KQ_OK);
        all_partials(parts, &ct, &LA);
        assert_int_equal(kq_tkem_combine(out, sizeof out, &out_len, faulty, &ct, &LA, F.S, parts,
                                         (const uint8_t(*)[32])F.pub, 2, 2),
                         KQ_OK);
        assert_int_equal(out_len, n);
        assert_memory_equal(out, msg, n);
        /* a plaintext buffer one byte short */
        if (n > 0)
            assert_int_equal(kq_tkem_combine(out, n - 1, &out_len, faulty, &ct, &LA, F.S, parts,
                                             (const uint8_t(*)[32])F.pub, 2, 2),
                             KQ_ERR_OVERFLOW);
    }
    /* size limits and output room */
    static uint8_t huge[KQ_MAX_DATA_PLAINTEXT_BYTES + 1];
    assert_int_equal(kq_tkem_wrap(huge, sizeof huge, &len, F.S, &LA, huge, sizeof huge),
                     KQ_ERR_LIMIT);
    assert_int_equal(kq_tkem_wrap(bin, KQ_TKEM_CTBYTES(10) - 1, &len, F.S, &LA, msg, 10),
                     KQ_ERR_OVERFLOW);
    assert_int_equal(len, 0);
    assert_int_equal(kq_tkem_ctbytes(10), KQ_TKEM_CTBYTES(10));
    assert_int_equal(kq_tkem_headerbytes(), 162);
}

static void test_wrap_rejects(void **state)
{
    (void)state;
    uint8_t bin[KQ_TKEM_CTBYTES(33)], zero[32] = {0}, bad[32];
    size_t len = 1;
    deal(&F, 2, 3);
    label(&LA, KQ_PURPOSE_DEK, 1, "acme");
    assert_int_equal(kq_tkem_wrap(bin, sizeof bin, &len, F.S, &LA, DEK, 31), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_tkem_wrap(bin, sizeof bin, &len, F.S, &LA, bin, 33), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_tkem_wrap(bin, sizeof bin, &len, zero, &LA, DEK, 32), KQ_ERR_BAD_POINT);
    memset(bad, 0xff, 32);
    assert_int_equal(kq_tkem_wrap(bin, sizeof bin, &len, bad, &LA, DEK, 32), KQ_ERR_BAD_POINT);
    /* S with bit 255 set: a non-canonical encoding of a valid key, refused (it would give a
     * ciphertext no holder can open) */
    memcpy(bad, F.S, 32);
    bad[31] |= 0x80;
    assert_int_equal(kq_tkem_wrap(bin, sizeof bin, &len, bad, &LA, DEK, 32), KQ_ERR_BAD_POINT);
    struct kq_pt_table *St = NULL;
    assert_int_equal(kq_pt_table_new(&St, bad), KQ_ERR_BAD_POINT);
    label(&LB, KQ_PURPOSE_DERIVE, 1, "acme");
    assert_int_equal(kq_tkem_wrap(bin, sizeof bin, &len, F.S, &LB, DEK, 32), KQ_ERR_TYPE);
    assert_int_equal(len, 0);
    /* coins must be canonical and nonzero */
    struct kq_tkem_coins coins;
    memset(&coins, 0, sizeof coins);
    kq_sc_random(coins.k);
    assert_int_equal(kq_tkem_wrap_with(bin, sizeof bin, &len, F.S, &LA, DEK, 32, &coins),
                     KQ_ERR_BAD_SCALAR);
    /* two wraps of the same DEK differ (fresh r, nonce) */
    uint8_t a[KQ_TKEM_CTBYTES(32)], b[KQ_TKEM_CTBYTES(32)];
    assert_int_equal(kq_tkem_wrap(a, sizeof a, &len, F.S, &LA, DEK, 32), KQ_OK);
    assert_int_equal(kq_tkem_wrap(b, sizeof b, &len, F.S, &LA, DEK, 32), KQ_OK);
    assert_memory_not_equal(a, b, sizeof a);
}

/* A forged partial is caught, named, and a spare takes its place. */
static void test_forged_partial_named(void **state)
{
    (void)state;
    uint8_t bin[KQ_TKEM_CTBYTES(32)], pt[64], faulty[MAXN], s[32];
    struct kq_tkem_ct ct;
    struct kq_tkem_partial parts[MAXN];
    size_t pt_len = 0;
    deal(&F, 3, 5);
    label(&LA, KQ_PURPOSE_DEK, 1, "acme");
    wrap_dek(bin, sizeof bin, &ct);
    all_partials(parts, &ct, &LA);
    const uint8_t(*pub)[32] = (const uint8_t(*)[32])F.pub;
    /* holder 2 returns a random point with its old proof */
    struct kq_tkem_partial forged = parts[1];
    kq_sc_random(s);
    kq_pt_mul_base(forged.Z, s);
    struct kq_tkem_partial set[4] = {parts[0], forged, parts[2], parts[3]};
    uint8_t setpub[4][32];
    memcpy(setpub[0], pub[0], 32);
    memcpy(setpub[1], pub[1], 32);
    memcpy(setpub[2], pub[2], 32);
    memcpy(setpub[3], pub[3], 32);
    for (int verified = 0; verified < 2; verified++) {
        memset(faulty, 0xaa, sizeof faulty);
        enum kq_err e = verified
                            ? kq_tkem_combine_verified(pt, sizeof pt, &pt_len, faulty, &ct, &LA,
                                                       F.S, set, (const uint8_t(*)[32])setpub, 4, 3)
                            : kq_tkem_combine(pt, sizeof pt, &pt_len, faulty, &ct, &LA, F.S, set,
                                              (const uint8_t(*)[32])setpub, 4, 3);
        assert_int_equal(e, KQ_OK);
        assert_memory_equal(pt, DEK, 32);
        const uint8_t want[4] = {0, 1, 0, 0};
        assert_memory_equal(faulty, want, 4);
    }
    /* without a spare: named, and the combine fails with a wiped output */
    memset(pt, 0x55, sizeof pt);
    assert_int_equal(kq_tkem_combine(pt, sizeof pt, &pt_len, faulty, &ct, &LA, F.S, set,
                                     (const uint8_t(*)[32])setpub, 3, 3),
                     KQ_ERR_BAD_PROOF);
    const uint8_t want3[3] = {0, 1, 0};
    assert_memory_equal(faulty, want3, 3);
    assert_int_equal(pt_len, 0);
    assert_true(sodium_is_zero(pt, sizeof pt));
    /* an invalid encoding and the identity as Z_i are named too */
    uint8_t bad[2][32] = {{0}, {0}};
    memset(bad[1], 0xff, 32);
    for (size_t b = 0; b < 2; b++) {
        memcpy(set[1].Z, bad[b], 32);
        assert_int_equal(kq_tkem_combine(pt, sizeof pt, &pt_len, faulty, &ct, &LA, F.S, set,
                                         (const uint8_t(*)[32])setpub, 4, 3),
                         KQ_OK);
        expect_flags(faulty, "0100");
    }
    /* an honest Z_i with a broken proof: the optimistic path need not notice, the verified
     * path names it */
    set[1] = parts[1];
    set[1].proof[40] ^= 1;
    assert_int_equal(kq_tkem_combine(pt, sizeof pt, &pt_len, faulty, &ct, &LA, F.S, set,
                                     (const uint8_t(*)[32])setpub, 4, 3),
                     KQ_OK);
    expect_flags(faulty, "0000");
    assert_int_equal(kq_tkem_combine_verified(pt, sizeof pt, &pt_len, faulty, &ct, &LA, F.S, set,
                                              (const uint8_t(*)[32])setpub, 4, 3),
                     KQ_OK);
    expect_flags(faulty, "0100");
    /* two liars out of four: fewer than t good remain */
    set[1] = forged;
    set[3].Z[0] ^= 0; /* honest */
    memcpy(set[2].Z, forged.Z, 32);
    assert_int_equal(kq_tkem_combine(pt, sizeof pt, &pt_len, faulty, &ct, &LA, F.S, set,
                                     (const uint8_t(*)[32])setpub, 4, 3),
                     KQ_ERR_BAD_PROOF);
    expect_flags(faulty, "0110");
}

/* The holder refuses a ciphertext presented under another label; partials made for one label
 * are useless under another. */
static void test_replay_other_label(void **state)
{
    (void)state;
    uint8_t bin[KQ_TKEM_CTBYTES(32)], pt[64], faulty[MAXN];
    struct kq_tkem_ct ct;
    struct kq_tkem_partial parts[MAXN], p;
    size_t pt_len = 0;
    deal(&F, 2, 3);
    label(&LA, KQ_PURPOSE_DEK, 1, "acme");
    wrap_dek(bin, sizeof bin, &ct);
    all_partials(parts, &ct, &LA);
    /* another context: the wrapper's proof does not verify, nothing is computed */
    label(&LB, KQ_PURPOSE_DEK, 1, "evil");
    assert_int_equal(kq_tkem_partial(&p, &ct, &LB, F.S, F.shares[0], 1), KQ_ERR_BAD_PROOF);
    assert_true(sodium_is_zero((const uint8_t *)&p, sizeof p));
    /* A's partials under B: the optimistic open fails, every proof fails under B */
    assert_int_equal(kq_tkem_combine(pt, sizeof pt, &pt_len, faulty, &ct, &LB, F.S, parts,
                                     (const uint8_t(*)[32])F.pub, 3, 2),
                     KQ_ERR_BAD_PROOF);
    expect_flags(faulty, "111");
    assert_true(sodium_is_zero(pt, sizeof pt));
    /* another version: named as a label mismatch before any proof check */
    label(&LB, KQ_PURPOSE_DEK, 2, "acme");
    assert_int_equal(kq_tkem_partial(&p, &ct, &LB, F.S, F.shares[0], 1), KQ_ERR_LABEL);
    assert_int_equal(kq_tkem_combine(pt, sizeof pt, &pt_len, faulty, &ct, &LB, F.S, parts,
                                     (const uint8_t(*)[32])F.pub, 2, 2),
                     KQ_ERR_LABEL);
    /* another type */
    label(&LB, KQ_PURPOSE_DATA, 1, "acme");
    assert_int_equal(kq_tkem_partial(&p, &ct, &LB, F.S, F.shares[0], 1), KQ_ERR_TYPE);
    assert_int_equal(kq_tkem_combine(pt, sizeof pt, &pt_len, faulty, &ct, &LB, F.S, parts,
                                     (const uint8_t(*)[32])F.pub, 2, 2),
                     KQ_ERR_TYPE);
    label(&LB, KQ_PURPOSE_DERIVE, 1, "acme");
    assert_int_equal(kq_tkem_partial(&p, &ct, &LB, F.S, F.shares[0], 1), KQ_ERR_TYPE);
    /* another public key: the proof is bound to S */
    struct fx other;
    deal(&other, 2, 3);
    assert_int_equal(kq_tkem_partial(&p, &ct, &LA, other.S, other.shares[0], 1), KQ_ERR_BAD_PROOF);
    /* the wrapper's proof grafted onto another R */
    struct kq_tkem_ct ct2 = ct;
    uint8_t r[32];
    kq_sc_random(r);
    kq_pt_mul_base(ct2.R, r);
    assert_int_equal(kq_tkem_partial(&p, &ct2, &LA, F.S, F.shares[0], 1), KQ_ERR_BAD_PROOF);
}

static void test_holder_rejects(void **state)
{
    (void)state;
    uint8_t bin[KQ_TKEM_CTBYTES(32)], zero[32] = {0}, big[32];
    struct kq_tkem_ct ct, bad;
    struct kq_tkem_partial p;
    deal(&F, 2, 3);
    label(&LA, KQ_PURPOSE_DEK, 1, "acme");
    wrap_dek(bin, sizeof bin, &ct);
    assert_int_equal(kq_tkem_partial(&p, &ct, &LA, F.S, F.shares[0], 0), KQ_ERR_ZERO_INDEX);
    assert_int_equal(kq_tkem_partial(&p, &ct, &LA, F.S, F.shares[0], KQ_MAX_PARTICIPANTS + 1),
                     KQ_ERR_LIMIT);
    assert_int_equal(kq_tkem_partial(&p, &ct, &LA, F.S, zero, 1), KQ_ERR_BAD_SCALAR);
    memset(big, 0xff, 32);
    assert_int_equal(kq_tkem_partial(&p, &ct, &LA, F.S, big, 1), KQ_ERR_BAD_SCALAR);
    assert_int_equal(kq_tkem_partial(&p, &ct, &LA, zero, F.shares[0], 1), KQ_ERR_BAD_POINT);
    /* identity R */
    bad = ct;
    memset(bad.R, 0, 32);
    assert_int_equal(kq_tkem_partial(&p, &bad, &LA, F.S, F.shares[0], 1), KQ_ERR_BAD_POINT);
    /* non-canonical proof scalars: c + L and z + L */
    static const uint8_t L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                  0xa2, 0xde, 0xf9, 0xde, 0x14, 0,    0,    0,    0,    0,    0,
                                  0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10};
    for (size_t half = 0; half < 2; half++) {
        bad = ct;
        uint8_t *sc = bad.proof + 32 * half;
        unsigned carry = 0;
        for (size_t i = 0; i < 32; i++) {
            unsigned v = sc[i] + L[i] + carry;
            sc[i] = (uint8_t)v;
            carry = v >> 8;
        }
        /* c, z < L < 2^253, so c + L < 2^254 fits: the same value mod L, not canonical */
        assert_int_equal(carry, 0);
        assert_false(kq_sc_is_canonical(sc));
        assert_int_equal(kq_tkem_partial(&p, &bad, &LA, F.S, F.shares[0], 1), KQ_ERR_BAD_PROOF);
        /* and the binary decoder rejects the same bytes */
        uint8_t enc[KQ_TKEM_CTBYTES(32)];
        struct kq_tkem_ct back;
        memcpy(enc, bin, sizeof enc);
        memcpy(enc + 38 + 32 * half, sc, 32);
        assert_int_equal(kq_tkem_decode(&back, enc, sizeof enc), KQ_ERR_BAD_SCALAR);
    }
    /* a canonical but wrong proof; a zero challenge */
    bad = ct;
    bad.proof[0] ^= 1;
    assert_int_equal(kq_tkem_partial(&p, &bad, &LA, F.S, F.shares[0], 1), KQ_ERR_BAD_PROOF);
    memset(bad.proof, 0, 32);
    assert_int_equal(kq_tkem_partial(&p, &bad, &LA, F.S, F.shares[0], 1), KQ_ERR_BAD_PROOF);
    /* an R that is not a valid encoding */
    bad = ct;
    memset(bad.R, 0xff, 32);
    assert_int_equal(kq_tkem_partial(&p, &bad, &LA, F.S, F.shares[0], 1), KQ_ERR_BAD_POINT);
    /* the holder's check is kq_schnorr_verify over (tag, S, L): an outside verifier agrees */
    struct kq_ts bind;
    kq_ts_init(&bind, KQ_TKEM_POK_TAG);
    kq_ts_put(&bind, F.S, 32);
    kq_ts_put(&bind, LA.bytes, LA.len);
    assert_int_equal(kq_schnorr_verify(ct.proof, &bind, ct.R), KQ_OK);
    bad = ct;
    bad.proof[40] ^= 1;
    assert_int_equal(kq_schnorr_verify(bad.proof, &bind, bad.R), KQ_ERR_BAD_PROOF);
    assert_int_equal(kq_tkem_partial(&p, &bad, &LA, F.S, F.shares[0], 1), KQ_ERR_BAD_PROOF);
}

static void test_partial_pub(void **state)
{
    (void)state;
    uint8_t bin[KQ_TKEM_CTBYTES(32)], digest[32];
    struct kq_tkem_ct ct;
    struct kq_tkem_partial a, b;
    deal(&F, 2, 3);
    label(&LA, KQ_PURPOSE_DEK, 1, "acme");
    wrap_dek(bin, sizeof bin, &ct);
    kq_label_digest(digest, &LA);
    assert_int_equal(kq_tkem_partial(&a, &ct, &LA, F.S, F.shares[2], 3), KQ_OK);
    assert_int_equal(kq_tkem_partial_pub(&b, &ct, &LA, F.S, F.shares[2], F.pub[2], 3), KQ_OK);
    assert_memory_equal(a.Z, b.Z, 32);
    assert_int_equal(kq_tkem_partial_verify(&a, digest, ct.R, F.pub[2]), KQ_OK);
    assert_int_equal(kq_tkem_partial_verify(&b, digest, ct.R, F.pub[2]), KQ_OK);
    /* verify fails for another holder's share, another R, another label digest, index 0 */
    assert_int_equal(kq_tkem_partial_verify(&b, digest, ct.R, F.pub[1]), KQ_ERR_BAD_PROOF);
    assert_int_equal(kq_tkem_partial_verify(&b, digest, F.S, F.pub[2]), KQ_ERR_BAD_PROOF);
    digest[0] ^= 1;
    assert_int_equal(kq_tkem_partial_verify(&b, digest, ct.R, F.pub[2]), KQ_ERR_BAD_PROOF);
    digest[0] ^= 1;
    b.index = 0;
    assert_int_equal(kq_tkem_partial_verify(&b, digest, ct.R, F.pub[2]), KQ_ERR_BAD_PROOF);
    /* a wrong S_i: the holder proves a falsehood, which verification catches */
    assert_int_equal(kq_tkem_partial_pub(&b, &ct, &LA, F.S, F.shares[2], F.pub[1], 3), KQ_OK);
    assert_int_equal(kq_tkem_partial_verify(&b, digest, ct.R, F.pub[2]), KQ_ERR_BAD_PROOF);
    assert_int_equal(kq_tkem_partial_verify(&b, digest, ct.R, F.pub[1]), KQ_ERR_BAD_PROOF);
}

static void test_combine_rejects(void **state)
{
    (void)state;
    uint8_t bin[KQ_TKEM_CTBYTES(32)], pt[64], faulty[MAXN];
    struct kq_tkem_ct ct;
    struct kq_tkem_partial parts[MAXN], set[3];
    size_t pt_len = 0;
    deal(&F, 2, 3);
    label(&LA, KQ_PURPOSE_DEK, 1, "acme");
    wrap_dek(bin, sizeof bin, &ct);
    all_partials(parts, &ct, &LA);
    const uint8_t(*pub)[32] = (const uint8_t(*)[32])F.pub;
    set[0] = parts[0];
    set[1] = parts[0];
    assert_int_equal(kq_tkem_combine(pt, sizeof pt, &pt_len, faulty, &ct, &LA, F.S, set, pub, 2, 2),
                     KQ_ERR_DUPLICATE_INDEX);
    set[1].index = 0;
    assert_int_equal(kq_tkem_combine(pt, sizeof pt, &pt_len, faulty, &ct, &LA, F.S, set, pub, 2, 2),
                     KQ_ERR_ZERO_INDEX);
    assert_int_equal(
        kq_tkem_combine(pt, sizeof pt, &pt_len, faulty, &ct, &LA, F.S, parts, pub, 1, 2),
        KQ_ERR_THRESHOLD);
    assert_int_equal(
        kq_tkem_combine(pt, sizeof pt, &pt_len, faulty, &ct, &LA, F.S, parts, pub, 2, 0),
        KQ_ERR_INVALID_ARG);
    /* bad key commitment: no holder is blamed, the ciphertext is */
    struct kq_tkem_ct bad = ct;
    bad.commit[5] ^= 0x10;
    assert_int_equal(
        kq_tkem_combine(pt, sizeof pt, &pt_len, faulty, &bad, &LA, F.S, parts, pub, 3, 2),
        KQ_ERR_AUTH);
    expect_flags(faulty, "000");
    assert_true(sodium_is_zero(pt, sizeof pt));
    assert_int_equal(
        kq_tkem_combine_verified(pt, sizeof pt, &pt_len, faulty, &bad, &LA, F.S, parts, pub, 3, 2),
        KQ_ERR_AUTH);
    /* a tampered sealed box with a correct commitment */
    uint8_t sealed[48];
    memcpy(sealed, ct.sealed, 48);
    sealed[47] ^= 1;
    bad = ct;
    bad.sealed = sealed;
    assert_int_equal(
        kq_tkem_combine(pt, sizeof pt, &pt_len, faulty, &bad, &LA, F.S, parts, pub, 2, 2),
        KQ_ERR_AUTH);
    assert_true(sodium_is_zero(pt, sizeof pt));
    /* a hand-built ciphertext with a sealed part shorter than a tag */
    bad = ct;
    bad.sealed_len = 15;
    assert_int_equal(
        kq_tkem_combine(pt, sizeof pt, &pt_len, faulty, &bad, &LA, F.S, parts, pub, 2, 2),
        KQ_ERR_FORMAT);
    /* a wrong public key */
    uint8_t zero[32] = {0};
    assert_int_equal(
        kq_tkem_combine(pt, sizeof pt, &pt_len, faulty, &ct, &LA, zero, parts, pub, 2, 2),
        KQ_ERR_BAD_POINT);
}

/* Runs decode, t holders and the combine on a possibly tampered ciphertext. */
static enum kq_err full_unwrap(const uint8_t *bin, size_t len)
{
    struct kq_tkem_ct ct;
    struct kq_tkem_partial parts[MAXN];
    uint8_t pt[64], faulty[MAXN];
    size_t pt_len = 0;
    enum kq_err e = kq_tkem_decode(&ct, bin, len);
    if (e != KQ_OK)
        return e;
    for (size_t i = 0; i < F.t; i++) {
        e = kq_tkem_partial(&parts[i], &ct, &LA, F.S, F.shares[i], (uint32_t)(i + 1));
        if (e != KQ_OK)
            return e;
    }
    e = kq_tkem_combine(pt, sizeof pt, &pt_len, faulty, &ct, &LA, F.S, parts,
                        (const uint8_t(*)[32])F.pub, F.t, F.t);
    if (e == KQ_OK)
        assert_memory_equal(pt, DEK, 32);
    return e;
}

static void test_every_byte_flip(void **state)
{
    (void)state;
    uint8_t bin[KQ_TKEM_CTBYTES(32)], mut[sizeof bin];
    struct kq_tkem_ct ct;
    deal(&F, 2, 3);
    label(&LA, KQ_PURPOSE_DEK, 1, "acme");
    size_t len = wrap_dek(bin, sizeof bin, &ct);
    assert_int_equal(full_unwrap(bin, len), KQ_OK);
    for (size_t i = 0; i < len; i++) {
        for (unsigned x = 0x01; x <= 0x80; x <<= 7) {
            memcpy(mut, bin, len);
            mut[i] ^= (uint8_t)x;
            assert_int_not_equal(full_unwrap(mut, len), KQ_OK);
        }
    }
}

static void test_decoder(void **state)
{
    (void)state;
    uint8_t bin[KQ_TKEM_CTBYTES(32) + 1], mut[sizeof bin];
    struct kq_tkem_ct ct;
    deal(&F, 2, 3);
    label(&LA, KQ_PURPOSE_DEK, 1, "acme");
    size_t len = wrap_dek(bin, sizeof bin, &ct);
    /* R (bytes 6..37) re-encoded with bit 255 set: refused as a bad point at decode time */
    memcpy(mut, bin, len);
    mut[6 + 31] |= 0x80;
    assert_int_equal(kq_tkem_decode(&ct, mut, len), KQ_ERR_BAD_POINT);
    /* every truncation */
    for (size_t n = 0; n < len; n++) {
        enum kq_err e = kq_tkem_decode(&ct, bin, n);
        assert_int_not_equal(e, KQ_OK);
        if (n > 0)
            assert_int_equal(e, KQ_ERR_TRUNCATED);
    }
    assert_true(sodium_is_zero((const uint8_t *)&ct, sizeof ct));
    /* a trailing byte */
    bin[len] = 0;
    assert_int_equal(kq_tkem_decode(&ct, bin, len + 1), KQ_ERR_FORMAT);
    /* unknown format, unknown type */
    memcpy(mut, bin, len);
    mut[0] = 0x02;
    assert_int_equal(kq_tkem_decode(&ct, mut, len), KQ_ERR_VERSION);
    mut[0] = 0x01;
    mut[1] = 3;
    assert_int_equal(kq_tkem_decode(&ct, mut, len), KQ_ERR_TYPE);
    mut[1] = 0;
    assert_int_equal(kq_tkem_decode(&ct, mut, len), KQ_ERR_TYPE);
    /* identity R, invalid R */
    memcpy(mut, bin, len);
    memset(mut + 6, 0, 32);
    assert_int_equal(kq_tkem_decode(&ct, mut, len), KQ_ERR_BAD_POINT);
    memset(mut + 6, 0xff, 32);
    assert_int_equal(kq_tkem_decode(&ct, mut, len), KQ_ERR_BAD_POINT);
    /* non-canonical c, z */
    for (size_t off = 38; off <= 70; off += 32) {
        memcpy(mut, bin, len);
        memset(mut + off, 0xff, 32);
        assert_int_equal(kq_tkem_decode(&ct, mut, len), KQ_ERR_BAD_SCALAR);
    }
    /* a DEK with a data-sized body; sealed length fields that lie */
    memcpy(mut, bin, len);
    mut[161] = 47;
    assert_int_equal(kq_tkem_decode(&ct, mut, len), KQ_ERR_FORMAT);
    mut[161] = 15;
    assert_int_equal(kq_tkem_decode(&ct, mut, len), KQ_ERR_FORMAT);
    mut[1] = KQ_PURPOSE_DATA;
    mut[158] = 0xff;
    assert_int_equal(kq_tkem_decode(&ct, mut, len), KQ_ERR_LIMIT);
    mut[158] = 0;
    mut[161] = 49;
    assert_int_equal(kq_tkem_decode(&ct, mut, len), KQ_ERR_TRUNCATED);
    /* random mutations of 1..8 bytes: the decoder or the unwrap rejects every one */
    uint8_t seed[randombytes_SEEDBYTES] = {7}, rnd[3 * 8];
    for (unsigned it = 0; it < 400; it++) {
        seed[1] = (uint8_t)it;
        seed[2] = (uint8_t)(it >> 8);
        randombytes_buf_deterministic(rnd, sizeof rnd, seed);
        memcpy(mut, bin, len);
        size_t nflips = 1 + rnd[0] % 8;
        for (size_t k = 0; k < nflips; k++) {
            size_t pos = (((size_t)rnd[1 + 2 * k] << 8) | rnd[2 + 2 * k]) % len;
            mut[pos] ^= (uint8_t)(1 + rnd[17 + k % 7]);
        }
        if (memcmp(mut, bin, len) != 0)
            assert_int_not_equal(full_unwrap(mut, len), KQ_OK);
    }
}

static void test_text_form(void **state)
{
    (void)state;
    uint8_t bin[KQ_TKEM_CTBYTES(32)], back[KQ_TKEM_CTBYTES(32) + 8];
    char text[KQ_TKEM_TEXTBYTES(32)], mut[sizeof text + 8];
    struct kq_tkem_ct ct;
    size_t tlen = 0, blen = 0;
    deal(&F, 2, 3);
    label(&LA, KQ_PURPOSE_DEK, 4294967295u, "acme");
    size_t len = wrap_dek(bin, sizeof bin, &ct);
    assert_int_equal(kq_tkem_to_text(text, sizeof text, &tlen, bin, len), KQ_OK);
    assert_int_equal(strlen(text), tlen);
    assert_memory_equal(text, "kq:v4294967295:", 15);
    assert_true(tlen <= kq_tkem_textbytes(32) - 1);
    assert_int_equal(kq_tkem_from_text(back, sizeof back, &blen, text, tlen), KQ_OK);
    assert_int_equal(blen, len);
    assert_memory_equal(back, bin, len);
    assert_int_equal(kq_tkem_to_text(text, 20, &tlen, bin, len), KQ_ERR_OVERFLOW);
    assert_int_equal(text[0], 0);
    assert_int_equal(kq_tkem_to_text(text, sizeof text, &tlen, bin, len - 1), KQ_ERR_TRUNCATED);
    /* version in the prefix differs from the binary one */
    label(&LA, KQ_PURPOSE_DEK, 7, "acme");
    len = wrap_dek(bin, sizeof bin, &ct);
    assert_int_equal(kq_tkem_to_text(text, sizeof text, &tlen, bin, len), KQ_OK);
    assert_memory_equal(text, "kq:v7:", 6);
    strcpy(mut, "kq:v8:");
    strcat(mut, text + 6);
    assert_int_equal(kq_tkem_from_text(back, sizeof back, &blen, mut, strlen(mut)), KQ_ERR_LABEL);
    assert_int_equal(blen, 0);
    /* malformed prefixes */
    const char *prefixes[] = {
        "kq:v07:",          "kq:v:",           "kq:7:",  "KQ:v7:", "kq:v7", "kq:v-7:",
        "kq:v42949672950:", "kq:v4294967296:", "kq:v7x:"};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        strcpy(mut, prefixes[i]);
        strcat(mut, text + 6);
        assert_int_equal(kq_tkem_from_text(back, sizeof back, &blen, mut, strlen(mut)),
                         KQ_ERR_FORMAT);
    }
    /* base64: a bad character, missing padding, trailing garbage, a truncated string */
    strcpy(mut, text);
    mut[10] = '*';
    assert_int_equal(kq_tkem_from_text(back, sizeof back, &blen, mut, tlen), KQ_ERR_FORMAT);
    strcpy(mut, text);
    strcat(mut, "AA");
    assert_int_equal(kq_tkem_from_text(back, sizeof back, &blen, mut, tlen + 2), KQ_ERR_FORMAT);
    /* padding: a 1-byte data payload gives 179 bytes, so one '=' */
    uint8_t one = 0x61, bin1[KQ_TKEM_CTBYTES(1)];
    char text1[KQ_TKEM_TEXTBYTES(1)];
    size_t len1 = 0, tlen1 = 0;
    label(&LB, KQ_PURPOSE_DATA, 7, "acme");
    assert_int_equal(kq_tkem_wrap(bin1, sizeof bin1, &len1, F.S, &LB, &one, 1), KQ_OK);
    assert_int_equal(kq_tkem_to_text(text1, sizeof text1, &tlen1, bin1, len1), KQ_OK);
    assert_int_equal(tlen1, 6 + 4 * 60);
    assert_int_equal(text1[tlen1 - 1], '=');
    assert_int_equal(kq_tkem_from_text(back, sizeof back, &blen, text1, tlen1), KQ_OK);
    assert_int_equal(kq_tkem_from_text(back, sizeof back, &blen, text1, tlen1 - 1), KQ_ERR_FORMAT);
    for (size_t n = 0; n < tlen; n++)
        assert_int_not_equal(kq_tkem_from_text(back, sizeof back, &blen, text, n), KQ_OK);
    /* URL-safe alphabet is not accepted */
    strcpy(mut, text);
    for (size_t i = 6; i < tlen; i++) {
        if (mut[i] == '+')
            mut[i] = '-';
        if (mut[i] == '/')
            mut[i] = '_';
    }
    if (strcmp(mut, text) != 0)
        assert_int_equal(kq_tkem_from_text(back, sizeof back, &blen, mut, tlen), KQ_ERR_FORMAT);
    assert_int_equal(kq_tkem_from_text(back, 10, &blen, text, tlen), KQ_ERR_OVERFLOW);
}

/* The worked example of docs/crypto/tkem.md: fixed secret, label, DEK and coins. */
static void test_known_answer(void **state)
{
    (void)state;
    uint8_t s[32], S[32], bin[KQ_TKEM_CTBYTES(32)], want[KQ_TKEM_CTBYTES(32)];
    char text[KQ_TKEM_TEXTBYTES(32)];
    struct kq_tkem_coins coins;
    size_t len = 0, tlen = 0;
    memset(s, 0, 32);
    s[0] = 42; /* s = 42 */
    kq_pt_mul_base(S, s);
    struct kq_ctx_pair c[1] = {{(const uint8_t *)"tenant", 6, (const uint8_t *)"acme", 4}};
    assert_int_equal(kq_label_build(&LA, (const uint8_t *)"orders", 6, 1, KQ_PURPOSE_DEK, c, 1),
                     KQ_OK);
    uint8_t dek[32];
    for (size_t i = 0; i < 32; i++)
        dek[i] = (uint8_t)i;
    memset(&coins, 0, sizeof coins);
    coins.r[0] = 7;
    coins.k[0] = 11;
    memset(coins.nonce, 0x24, sizeof coins.nonce);
    assert_int_equal(kq_tkem_wrap_with(bin, sizeof bin, &len, S, &LA, dek, 32, &coins), KQ_OK);
    kqt_hex(want, sizeof want, KAT_HEX);
    assert_memory_equal(bin, want, len);
    assert_int_equal(kq_tkem_to_text(text, sizeof text, &tlen, bin, len), KQ_OK);
    assert_string_equal(text, KAT_TEXT);
    /* and it opens with s shared 1-of-1 (the share is s itself) */
    struct kq_tkem_ct ct;
    struct kq_tkem_partial p;
    uint8_t pt[64], faulty[1];
    size_t pt_len = 0;
    assert_int_equal(kq_tkem_decode(&ct, bin, len), KQ_OK);
    assert_int_equal(kq_tkem_partial(&p, &ct, &LA, S, s, 1), KQ_OK);
    assert_int_equal(kq_tkem_combine(pt, sizeof pt, &pt_len, faulty, &ct, &LA, S, &p,
                                     (const uint8_t(*)[32])S, 1, 1),
                     KQ_OK);
    assert_memory_equal(pt, dek, 32);
}

static void test_lagrange0(void **state)
{
    (void)state;
    uint32_t sets[4][7] = {{1, 2, 3}, {255, 1, 128, 2, 254}, {9, 4, 7, 200, 33, 61, 100}, {5}};
    size_t sizes[4] = {3, 5, 7, 1};
    uint8_t fast[7][32], slow[32];
    for (size_t k = 0; k < 4; k++) {
        assert_int_equal(kq_lagrange0(fast, sets[k], sizes[k]), KQ_OK);
        for (size_t j = 0; j < sizes[k]; j++) {
            assert_int_equal(kq_lagrange(slow, sets[k], sizes[k], j, 0), KQ_OK);
            assert_memory_equal(fast[j], slow, 32);
        }
    }
    uint32_t dup[2] = {3, 3}, zero[2] = {0, 1}, over[1] = {256};
    assert_int_equal(kq_lagrange0(fast, dup, 2), KQ_ERR_DUPLICATE_INDEX);
    assert_int_equal(kq_lagrange0(fast, zero, 2), KQ_ERR_ZERO_INDEX);
    assert_int_equal(kq_lagrange0(fast, over, 1), KQ_ERR_LIMIT);
    assert_int_equal(kq_lagrange0(fast, dup, 0), KQ_ERR_INVALID_ARG);
}

/* ---- Signed responses and evidence ------------------------------------------------------- */

static void respond_fixture(struct kq_partial_resp *r, struct kq_tkem_ct *ct, uint8_t *bin,
                            uint8_t pk[32], uint8_t sk[64], int lie)
{
    struct kq_tkem_partial p;
    uint8_t reqid[16];
    memset(reqid, 0x5a, sizeof reqid);
    deal(&F, 2, 3);
    label(&LA, KQ_PURPOSE_DEK, 1, "acme");
    wrap_dek(bin, KQ_TKEM_CTBYTES(32), ct);
    crypto_sign_keypair(pk, sk);
    assert_int_equal(kq_tkem_partial(&p, ct, &LA, F.S, F.shares[1], 2), KQ_OK);
    if (lie) {
        uint8_t x[32];
        kq_sc_random(x);
        kq_pt_mul_base(p.Z, x);
    }
    assert_int_equal(kq_partial_respond(r, reqid, &LA, 9, 1700000000, 2, ct->R, &p, NULL, sk),
                     KQ_OK);
}

static void test_response_roundtrip(void **state)
{
    (void)state;
    struct kq_partial_resp r, d;
    struct kq_tkem_ct ct;
    struct kq_tkem_partial p;
    uint8_t bin[KQ_TKEM_CTBYTES(32)], pk[32], sk[64], enc[KQ_PARTIAL_MAXBYTES], pk2[32], sk2[64];
    size_t len = 0;
    respond_fixture(&r, &ct, bin, pk, sk, 0);
    assert_int_equal(kq_partial_verify(&r, pk), KQ_OK);
    assert_int_equal(kq_partial_encode(enc, sizeof enc, &len, &r), KQ_OK);
    assert_int_equal(len, KQ_PARTIAL_MAXBYTES - KQ_MAX_KEY_ID_BYTES + 10);
    assert_int_equal(kq_partial_decode(&d, enc, len), KQ_OK);
    assert_int_equal(kq_partial_verify(&d, pk), KQ_OK);
    assert_int_equal(d.index, 2);
    assert_int_equal(d.epoch, 9);
    assert_int_equal(d.time, 1700000000);
    assert_int_equal(d.key_version, 1);
    assert_int_equal(d.key_id_len, 10);
    assert_memory_equal(d.key_id, "key/orders", 10);
    /* the partial inside combines like the original */
    assert_int_equal(kq_partial_unwrap_part(&p, &d), KQ_OK);
    uint8_t digest[32];
    kq_label_digest(digest, &LA);
    assert_int_equal(kq_tkem_partial_verify(&p, digest, ct.R, F.pub[1]), KQ_OK);
    /* another signer's key */
    crypto_sign_keypair(pk2, sk2);
    assert_int_equal(kq_partial_verify(&d, pk2), KQ_ERR_BAD_SIGNATURE);
    /* every field is covered: change one, the signature fails */
    d.time++;
    assert_int_equal(kq_partial_verify(&d, pk), KQ_ERR_BAD_SIGNATURE);
    d.time--;
    d.epoch++;
    assert_int_equal(kq_partial_verify(&d, pk), KQ_ERR_BAD_SIGNATURE);
    d.epoch--;
    d.label_digest[3] ^= 1;
    assert_int_equal(kq_partial_verify(&d, pk), KQ_ERR_BAD_SIGNATURE);
    assert_int_equal(kq_partial_encode(enc, 10, &len, &r), KQ_ERR_OVERFLOW);
    assert_int_equal(len, 0);
    assert_int_equal(kq_partial_maxbytes(), KQ_PARTIAL_MAXBYTES);
}

static void test_response_deny_and_args(void **state)
{
    (void)state;
    struct kq_partial_resp r, d;
    struct kq_tkem_ct ct;
    struct kq_tkem_partial p, up;
    uint8_t bin[KQ_TKEM_CTBYTES(32)], pk[32], sk[64], enc[KQ_PARTIAL_MAXBYTES], reqid[16] = {1};
    size_t len = 0;
    respond_fixture(&r, &ct, bin, pk, sk, 0);
    assert_int_equal(kq_partial_respond(&r, reqid, &LA, 9, 5, 3, ct.R, NULL, NULL, sk), KQ_OK);
    assert_int_equal(r.decision, KQ_DECISION_DENY);
    assert_int_equal(kq_partial_verify(&r, pk), KQ_OK);
    assert_int_equal(kq_partial_unwrap_part(&up, &r), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_partial_evidence_check(&r, pk, F.pub[2]), 0);
    assert_int_equal(kq_partial_encode(enc, sizeof enc, &len, &r), KQ_OK);
    assert_int_equal(kq_partial_decode(&d, enc, len), KQ_OK);
    /* a deny that carries a Z is malformed */
    enc[len - 64 - 8 - 64 - 32] = 1;
    assert_int_equal(kq_partial_decode(&d, enc, len), KQ_ERR_FORMAT);
    /* inconsistent arguments */
    assert_int_equal(kq_tkem_partial(&p, &ct, &LA, F.S, F.shares[0], 1), KQ_OK);
    assert_int_equal(kq_partial_respond(&r, reqid, &LA, 9, 5, 2, ct.R, &p, NULL, sk),
                     KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_partial_respond(&r, reqid, &LA, 9, 5, 0, ct.R, NULL, NULL, sk),
                     KQ_ERR_FORMAT);
    assert_true(sodium_is_zero((const uint8_t *)&r, sizeof r));
    struct kq_tprf_partial q;
    memset(&q, 0, sizeof q);
    q.index = 1;
    assert_int_equal(kq_partial_respond(&r, reqid, &LA, 9, 5, 1, ct.R, NULL, &q, sk),
                     KQ_ERR_INVALID_ARG);
}

static void test_evidence(void **state)
{
    (void)state;
    struct kq_partial_resp r, d;
    struct kq_tkem_ct ct;
    uint8_t bin[KQ_TKEM_CTBYTES(32)], pk[32], sk[64], enc[KQ_PARTIAL_MAXBYTES];
    size_t len = 0;
    /* an honest response is not evidence */
    respond_fixture(&r, &ct, bin, pk, sk, 0);
    assert_int_equal(kq_partial_evidence_check(&r, pk, F.pub[1]), 0);
    /* nor with the public share re-encoded with bit 255 set (libsodium 1.0.18 would accept that
     * encoding, libdecaf rejects it): an honest keeper cannot be framed that way */
    uint8_t top[32];
    memcpy(top, F.pub[1], 32);
    top[31] |= 0x80;
    assert_int_equal(kq_partial_evidence_check(&r, pk, top), 0);
    /* a lying holder's signed response is, and stays so after encode/decode */
    respond_fixture(&r, &ct, bin, pk, sk, 1);
    assert_int_equal(kq_partial_verify(&r, pk), KQ_OK);
    assert_int_equal(kq_partial_evidence_check(&r, pk, F.pub[1]), 1);
    assert_int_equal(kq_partial_encode(enc, sizeof enc, &len, &r), KQ_OK);
    assert_int_equal(kq_partial_decode(&d, enc, len), KQ_OK);
    assert_int_equal(kq_partial_evidence_check(&d, pk, F.pub[1]), 1);
    /* a lie with a broken signature is not attributable */
    d.sig[0] ^= 1;
    assert_int_equal(kq_partial_evidence_check(&d, pk, F.pub[1]), 0);
    /* nor under another holder's key, nor with a malformed public share */
    uint8_t pk2[32], sk2[64], zero[32] = {0};
    crypto_sign_keypair(pk2, sk2);
    assert_int_equal(kq_partial_evidence_check(&r, pk2, F.pub[1]), 0);
    assert_int_equal(kq_partial_evidence_check(&r, pk, zero), 0);
    /* a judge holding the request: an honest response for the requested R and label is not
     * evidence; a valid proof for a point or label the holder was not asked about is */
    uint8_t digest[32], x[32], other_R[32];
    struct kq_tkem_partial p;
    uint8_t reqid[16] = {0x5a};
    respond_fixture(&r, &ct, bin, pk, sk, 0);
    kq_label_digest(digest, &LA);
    assert_int_equal(kq_partial_evidence_check_request(&r, pk, F.pub[1], ct.R, digest), 0);
    assert_int_equal(kq_partial_evidence_check_request(&r, pk, F.pub[1], NULL, NULL), 0);
    kq_sc_random(x);
    kq_pt_mul_base(other_R, x);
    assert_int_equal(kq_pt_mul(p.Z, F.shares[1], other_R), KQ_OK);
    struct kq_ts bind;
    kq_ts_init(&bind, KQ_TKEM_PARTIAL_TAG);
    kq_ts_put(&bind, digest, 32);
    kq_ts_put_u32(&bind, 2);
    assert_int_equal(kq_dleq_prove(p.proof, &bind, F.shares[1], NULL, F.pub[1], other_R, p.Z),
                     KQ_OK);
    p.index = 2;
    assert_int_equal(kq_partial_respond(&r, reqid, &LA, 9, 1, 2, other_R, &p, NULL, sk), KQ_OK);
    assert_int_equal(kq_partial_evidence_check(&r, pk, F.pub[1]), 0); /* consistent in itself */
    assert_int_equal(kq_partial_evidence_check_request(&r, pk, F.pub[1], ct.R, digest), 1);
    digest[0] ^= 1;
    assert_int_equal(kq_partial_evidence_check_request(&r, pk, F.pub[1], NULL, digest), 1);
    r.sig[0] ^= 1;
    assert_int_equal(kq_partial_evidence_check_request(&r, pk, F.pub[1], ct.R, digest), 0);
}

static void test_response_decoder(void **state)
{
    (void)state;
    struct kq_partial_resp r, d;
    struct kq_tkem_ct ct;
    uint8_t bin[KQ_TKEM_CTBYTES(32)], pk[32], sk[64], enc[KQ_PARTIAL_MAXBYTES + 1], mut[sizeof enc];
    size_t len = 0;
    respond_fixture(&r, &ct, bin, pk, sk, 0);
    assert_int_equal(kq_partial_encode(enc, sizeof enc, &len, &r), KQ_OK);
    for (size_t n = 0; n < len; n++) {
        assert_int_not_equal(kq_partial_decode(&d, enc, n), KQ_OK);
        assert_true(sodium_is_zero((const uint8_t *)&d, sizeof d));
    }
    enc[len] = 0;
    assert_int_equal(kq_partial_decode(&d, enc, len + 1), KQ_ERR_FORMAT);
    memcpy(mut, enc, len);
    mut[0] = 2;
    assert_int_equal(kq_partial_decode(&d, mut, len), KQ_ERR_VERSION);
    /* every single-byte change: rejected by the decoder or by the signature */
    for (size_t i = 0; i < len; i++) {
        memcpy(mut, enc, len);
        mut[i] ^= 0x41;
        if (kq_partial_decode(&d, mut, len) == KQ_OK)
            assert_int_equal(kq_partial_verify(&d, pk), KQ_ERR_BAD_SIGNATURE);
    }
    /* random multi-byte mutations */
    uint8_t seed[randombytes_SEEDBYTES] = {9}, rnd[24];
    for (unsigned it = 0; it < 500; it++) {
        seed[1] = (uint8_t)it;
        seed[2] = (uint8_t)(it >> 8);
        randombytes_buf_deterministic(rnd, sizeof rnd, seed);
        memcpy(mut, enc, len);
        for (size_t k = 0; k < 1u + rnd[0] % 6u; k++)
            mut[(((size_t)rnd[1 + 2 * k] << 8) | rnd[2 + 2 * k]) % len] ^= (uint8_t)(1 + rnd[20]);
        if (memcmp(mut, enc, len) != 0 && kq_partial_decode(&d, mut, len) == KQ_OK)
            assert_int_equal(kq_partial_verify(&d, pk), KQ_ERR_BAD_SIGNATURE);
    }
    /* field checks: key id length 0 and over the limit, index 0, bad kind, bad decision */
    struct kq_partial_resp bad = r;
    bad.kind = 3;
    assert_int_equal(kq_partial_encode(mut, sizeof mut, &len, &bad), KQ_ERR_INVALID_ARG);
    bad = r;
    bad.decision = 0;
    assert_int_equal(kq_partial_encode(mut, sizeof mut, &len, &bad), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_partial_encode(enc, sizeof enc, &len, &r), KQ_OK);
    memcpy(mut, enc, len);
    mut[1 + 16] = 0;
    mut[1 + 16 + 1] = 0; /* key id length 0 */
    assert_int_not_equal(kq_partial_decode(&d, mut, len), KQ_OK);
    mut[1 + 16 + 1] = KQ_MAX_KEY_ID_BYTES + 1;
    assert_int_equal(kq_partial_decode(&d, mut, len), KQ_ERR_LIMIT);
}

/* A client that prepared S's table wraps ciphertexts the holders open like any other; the table
 * path keeps every check of the cold path (type, payload length). */
static void test_wrap_table(void **state)
{
    (void)state;
    uint8_t bin[KQ_TKEM_CTBYTES(32)], pt[64];
    size_t len = 0, pt_len = 0;
    struct kq_tkem_ct ct;
    struct kq_tkem_partial parts[MAXN];
    struct kq_pt_table *St = NULL;
    deal(&F, 3, 5);
    label(&LA, KQ_PURPOSE_DEK, 3, "acme");
    assert_int_equal(kq_pt_table_new(&St, F.S), KQ_OK);
    for (int rep = 0; rep < 3; rep++) {
        assert_int_equal(kq_tkem_wrap_table(bin, sizeof bin, &len, St, &LA, DEK, 32), KQ_OK);
        assert_int_equal(len, KQ_TKEM_CTBYTES(32));
        assert_int_equal(kq_tkem_decode(&ct, bin, len), KQ_OK);
        all_partials(parts, &ct, &LA);
        assert_int_equal(combine_mask(pt, &pt_len, &ct, &LA, parts, 0x15, 0), KQ_OK);
        assert_memory_equal(pt, DEK, 32);
    }
    label(&LB, KQ_PURPOSE_DERIVE, 3, "acme");
    assert_int_equal(kq_tkem_wrap_table(bin, sizeof bin, &len, St, &LB, DEK, 32), KQ_ERR_TYPE);
    assert_int_equal(kq_tkem_wrap_table(bin, sizeof bin, &len, St, &LA, DEK, 31),
                     KQ_ERR_INVALID_ARG);
    assert_int_equal(len, 0);
    kq_pt_table_free(St);
}

int main(void)
{
    if (kq_init(0) != KQ_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_2_3),
        cmocka_unit_test(test_roundtrip_3_5),
        cmocka_unit_test(test_roundtrip_5_9),
        cmocka_unit_test(test_wrap_table),
        cmocka_unit_test(test_data_payload),
        cmocka_unit_test(test_wrap_rejects),
        cmocka_unit_test(test_forged_partial_named),
        cmocka_unit_test(test_replay_other_label),
        cmocka_unit_test(test_holder_rejects),
        cmocka_unit_test(test_partial_pub),
        cmocka_unit_test(test_combine_rejects),
        cmocka_unit_test(test_every_byte_flip),
        cmocka_unit_test(test_decoder),
        cmocka_unit_test(test_text_form),
        cmocka_unit_test(test_known_answer),
        cmocka_unit_test(test_lagrange0),
        cmocka_unit_test(test_response_roundtrip),
        cmocka_unit_test(test_response_deny_and_args),
        cmocka_unit_test(test_evidence),
        cmocka_unit_test(test_response_decoder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
