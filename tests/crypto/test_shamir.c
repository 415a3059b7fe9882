/* Tests for src/crypto/shamir.c: the field against a slow reference, split/combine over many
 * (k, n) and sizes, every k-subset, Vault's own shares, every rejection, and commitments. */
#include "../test_util.h"

#include "base/limits.h"
#include "base/mem.h"
#include "crypto/shamir.h"

/* ---- Slow references, written independently of the code under test ---------------------- */

/* Carry-less product, then long division by 0x11B. */
static uint8_t ref_mul(uint8_t a, uint8_t b)
{
    unsigned prod = 0;
    for (int i = 0; i < 8; i++)
        if (b & (1u << i))
            prod ^= (unsigned)a << i;
    for (int i = 14; i >= 8; i--)
        if (prod & (1u << i))
            prod ^= 0x11Bu << (i - 8);
    return (uint8_t)prod;
}

static uint8_t ref_inv(uint8_t a)
{
    for (unsigned b = 1; b < 256; b++)
        if (ref_mul(a, (uint8_t)b) == 1)
            return (uint8_t)b;
    return 0;
}

/* Vault-style Lagrange at 0 over shares of share_len bytes, byte by byte. */
static void ref_combine(uint8_t *out, const uint8_t *const *shares, size_t count, size_t share_len)
{
    size_t len = share_len - 1;
    for (size_t idx = 0; idx < len; idx++) {
        uint8_t acc = 0;
        for (size_t i = 0; i < count; i++) {
            uint8_t basis = 1, xi = shares[i][len];
            for (size_t j = 0; j < count; j++) {
                if (i == j)
                    continue;
                uint8_t xj = shares[j][len];
                basis = ref_mul(basis, ref_mul(xj, ref_inv((uint8_t)(xi ^ xj))));
            }
            acc ^= ref_mul(shares[i][idx], basis);
        }
        out[idx] = acc;
    }
}

/* ---- Helpers ------------------------------------------------------------------------------ */

enum { MAXN = KQ_SHAMIR_MAX_SHARES };

/* Splits a random secret of len bytes k-of-n with stride len + 1; the caller frees both. */
static void split_random(uint8_t **secret, uint8_t **shares, size_t len, unsigned k, unsigned n)
{
    *secret = malloc(len);
    *shares = malloc((size_t)n * (len + 1));
    assert_non_null(*secret);
    assert_non_null(*shares);
    randombytes_buf(*secret, len);
    assert_int_equal(kq_shamir_split(*shares, len + 1, *secret, len, k, n), KQ_OK);
}

/* Combines the shares picked by idx[0..count) and compares with secret: 1 if equal. */
static int combine_pick(const uint8_t *shares, size_t len, const unsigned *idx, size_t count,
                        const uint8_t *secret)
{
    const uint8_t *p[MAXN];
    uint8_t *out = malloc(len);
    assert_non_null(out);
    for (size_t i = 0; i < count; i++)
        p[i] = shares + (size_t)idx[i] * (len + 1);
    assert_int_equal(kq_shamir_combine(out, p, count, len + 1), KQ_OK);
    int eq = memcmp(out, secret, len) == 0;
    free(out);
    return eq;
}

static void split_combine_case(size_t len, unsigned k, unsigned n)
{
    uint8_t *secret, *shares;
    split_random(&secret, &shares, len, k, n);
    unsigned idx[MAXN] = {0};
    for (unsigned i = 0; i < k; i++) /* the last k shares */
        idx[i] = n - k + i;
    assert_true(combine_pick(shares, len, idx, k, secret));
    for (unsigned i = 0; i < n; i++) /* all n shares, more than k */
        idx[i] = i;
    assert_true(combine_pick(shares, len, idx, n, secret));
    if (k > 2) /* k - 1 shares interpolate some other value */
        assert_false(combine_pick(shares, len, idx, k - 1, secret) && len >= 16);
    free(secret);
    free(shares);
}

/* ---- The field ---------------------------------------------------------------------------- */

static void test_gf_mul_all_pairs(void **state)
{
    (void)state;
    assert_int_equal(kq_gf256_mul(0x57, 0x83), 0xC1); /* FIPS-197 section 4.2 */
    assert_int_equal(kq_gf256_mul(0x57, 0x13), 0xFE);
    uint8_t *a = malloc(65536), *b = malloc(65536), *out = malloc(65536);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(out);
    for (unsigned i = 0; i < 65536; i++) {
        a[i] = (uint8_t)(i >> 8);
        b[i] = (uint8_t)i;
        assert_int_equal(kq_gf256_mul(a[i], b[i]), ref_mul(a[i], b[i]));
    }
    kq_gf256_mul_vec(out, a, b, 65536);
    for (unsigned i = 0; i < 65536; i++)
        assert_int_equal(out[i], ref_mul(a[i], b[i]));
    /* odd lengths (partial blocks) and in-place use */
    static const size_t lens[] = {1, 7, 8, 9, 63, 64, 65, 129};
    for (size_t t = 0; t < sizeof lens / sizeof lens[0]; t++) {
        memcpy(out, a + 1000, lens[t]);
        kq_gf256_mul_vec(out, out, b + 1000, lens[t]);
        for (size_t i = 0; i < lens[t]; i++)
            assert_int_equal(out[i], ref_mul(a[1000 + i], b[1000 + i]));
    }
    free(a);
    free(b);
    free(out);
}

static void test_gf_inverse(void **state)
{
    (void)state;
    assert_int_equal(kq_gf256_inv(0), 0);
    for (unsigned a = 1; a < 256; a++) {
        uint8_t inv = kq_gf256_inv((uint8_t)a);
        assert_int_equal(ref_mul((uint8_t)a, inv), 1);
        assert_int_equal(inv, ref_inv((uint8_t)a));
    }
}

/* ---- Split and combine -------------------------------------------------------------------- */

static void test_sizes(void **state)
{
    (void)state;
    assert_int_equal(kq_shamir_share_bytes(32), 33);
    assert_int_equal(KQ_SHAMIR_SHARE_BYTES(1), 2);
    assert_int_equal(kq_shamir_share_overhead(), 1);
    assert_int_equal(kq_shamir_max_shares(), 255);
    assert_int_equal(kq_shamir_max_secret_bytes(), 65536);
    assert_int_equal(kq_shamir_commit_bytes(), 32);
    assert_int_equal(kq_shamir_salt_bytes(), 32);
}

static void test_secret_sizes(void **state)
{
    (void)state;
    static const size_t lens[] = {1, 2, 7, 8, 31, 32, 33, 63, 64, 65, 1000, 65536};
    for (size_t t = 0; t < sizeof lens / sizeof lens[0]; t++)
        split_combine_case(lens[t], 3, 5);
}

static void test_many_thresholds(void **state)
{
    (void)state;
    static const unsigned kn[][2] = {{2, 2}, {2, 3},   {2, 255}, {3, 3},   {3, 5},   {5, 9},
                                     {7, 7}, {10, 20}, {16, 16}, {32, 40}, {64, 65}, {100, 254}};
    for (size_t t = 0; t < sizeof kn / sizeof kn[0]; t++)
        split_combine_case(32, kn[t][0], kn[t][1]);
    split_combine_case(3, 255, 255);
    split_combine_case(70, 254, 255);
}

/* Every subset of {0..n) of size >= k reconstructs; every subset of size k - 1 (>= 2) fails. */
static void test_every_subset(void **state)
{
    (void)state;
    enum { N = 7, LEN = 32 };
    for (unsigned k = 2; k <= N; k++) {
        uint8_t *secret, *shares;
        split_random(&secret, &shares, LEN, k, N);
        for (unsigned mask = 0; mask < (1u << N); mask++) {
            unsigned idx[N] = {0}, count = 0;
            for (unsigned i = 0; i < N; i++)
                if (mask & (1u << i))
                    idx[count++] = i;
            if (count < 2)
                continue;
            int eq = combine_pick(shares, LEN, idx, count, secret);
            if (count >= k)
                assert_true(eq);
            else
                assert_false(eq);
        }
        free(secret);
        free(shares);
    }
}

static void test_share_layout(void **state)
{
    (void)state;
    enum { LEN = 5, N = 4, STRIDE = 9 };
    uint8_t secret[LEN] = {1, 2, 3, 4, 5}, shares[N * STRIDE];
    memset(shares, 0xEE, sizeof shares);
    assert_int_equal(kq_shamir_split(shares, STRIDE, secret, LEN, 2, N), KQ_OK);
    for (unsigned i = 0; i < N; i++) {
        assert_int_equal(shares[i * STRIDE + LEN], i + 1); /* x last, 1..n */
        for (unsigned p = LEN + 1; p < STRIDE; p++)        /* padding untouched */
            assert_int_equal(shares[i * STRIDE + p], 0xEE);
    }
    /* our shares combine under the independent Vault-style reference */
    const uint8_t *p[2] = {shares + 1 * STRIDE, shares + 3 * STRIDE};
    uint8_t out[LEN];
    ref_combine(out, p, 2, LEN + 1);
    assert_memory_equal(out, secret, LEN);
    /* two splits of one secret differ: the coefficients are fresh */
    uint8_t again[N * STRIDE];
    assert_int_equal(kq_shamir_split(again, STRIDE, secret, LEN, 2, N), KQ_OK);
    assert_memory_not_equal(again, shares, LEN);
}

static void test_split_xs(void **state)
{
    (void)state;
    enum { LEN = 40, N = 4 };
    uint8_t secret[LEN], shares[N][LEN + 1], out[LEN];
    const uint8_t xs[N] = {255, 17, 200, 1};
    randombytes_buf(secret, LEN);
    assert_int_equal(kq_shamir_split_xs(&shares[0][0], LEN + 1, secret, LEN, 3, xs, N), KQ_OK);
    for (unsigned i = 0; i < N; i++)
        assert_int_equal(shares[i][LEN], xs[i]);
    const uint8_t *p[3] = {shares[0], shares[2], shares[3]};
    assert_int_equal(kq_shamir_combine(out, p, 3, LEN + 1), KQ_OK);
    assert_memory_equal(out, secret, LEN);
    ref_combine(out, p, 3, LEN + 1);
    assert_memory_equal(out, secret, LEN);
}

/* Shares made by the independent reference (random polynomials, random x) combine with ours. */
static void test_reference_shares(void **state)
{
    (void)state;
    enum { LEN = 33, K = 4, N = 6 };
    uint8_t secret[LEN], shares[N][LEN + 1], coef[K], out[LEN];
    const uint8_t xs[N] = {9, 250, 3, 77, 128, 64};
    randombytes_buf(secret, LEN);
    for (size_t idx = 0; idx < LEN; idx++) {
        coef[0] = secret[idx];
        randombytes_buf(coef + 1, K - 1);
        for (size_t s = 0; s < N; s++) {
            uint8_t y = 0;
            for (size_t c = K; c-- > 0;)
                y = (uint8_t)(ref_mul(y, xs[s]) ^ coef[c]);
            shares[s][idx] = y;
        }
    }
    for (size_t s = 0; s < N; s++)
        shares[s][LEN] = xs[s];
    const uint8_t *p[N] = {shares[5], shares[1], shares[3], shares[0], shares[2], shares[4]};
    assert_int_equal(kq_shamir_combine(out, p, K, LEN + 1), KQ_OK);
    assert_memory_equal(out, secret, LEN);
    assert_int_equal(kq_shamir_combine(out, p, N, LEN + 1), KQ_OK);
    assert_memory_equal(out, secret, LEN);
}

/* ---- Vault's own shares ------------------------------------------------------------------- */

enum { VAULT_LINE = 1024, VAULT_MAX_SECRET = 256 };

struct vault_case {
    unsigned k, n;
    size_t len;
    uint8_t secret[VAULT_MAX_SECRET];
    uint8_t shares[MAXN][VAULT_MAX_SECRET + 1];
};

static void vault_check_case(const struct vault_case *c)
{
    const uint8_t *p[MAXN];
    uint8_t out[VAULT_MAX_SECRET];
    /* every subset of the n shares with at least k members */
    assert_true(c->n <= 9);
    for (unsigned mask = 0; mask < (1u << c->n); mask++) {
        size_t count = 0;
        for (unsigned i = 0; i < c->n; i++)
            if (mask & (1u << i))
                p[count++] = c->shares[i];
        if (count < 2)
            continue;
        assert_int_equal(kq_shamir_combine(out, p, count, c->len + 1), KQ_OK);
        if (count >= c->k)
            assert_memory_equal(out, c->secret, c->len);
        else if (c->len >= 16)
            assert_memory_not_equal(out, c->secret, c->len);
    }
}

static void test_vault_vectors(void **state)
{
    (void)state;
    FILE *f = fopen(kqt_path("tests/vectors/shamir_vault.txt"), "r");
    assert_non_null(f);
    static struct vault_case c;
    char line[VAULT_LINE], hex[VAULT_LINE];
    unsigned cases = 0, got = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (sscanf(line, "case %u %u %1000s", &c.k, &c.n, hex) == 3) {
            assert_true(c.k >= 2 && c.k <= c.n && c.n <= MAXN);
            c.len = strlen(hex) / 2;
            kqt_hex(c.secret, c.len, hex);
            got = 0;
            continue;
        }
        assert_int_equal(sscanf(line, "share %1000s", hex), 1);
        kqt_hex(c.shares[got++], c.len + 1, hex);
        if (got == c.n) {
            vault_check_case(&c);
            cases++;
        }
    }
    fclose(f);
    assert_int_equal(cases, 5);
}

/* ---- Rejections --------------------------------------------------------------------------- */

static void test_split_rejects(void **state)
{
    (void)state;
    enum { LEN = 16 };
    uint8_t secret[LEN] = {0}, shares[4 * (LEN + 1)], canary[sizeof shares];
    memset(shares, 0xA5, sizeof shares);
    memcpy(canary, shares, sizeof shares);
    assert_int_equal(kq_shamir_split(shares, LEN + 1, secret, LEN, 1, 4), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_shamir_split(shares, LEN + 1, secret, LEN, 0, 4), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_shamir_split(shares, LEN + 1, secret, LEN, 5, 4), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_shamir_split(shares, LEN + 1, secret, LEN, 2, 256), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_shamir_split(shares, LEN + 1, secret, 0, 2, 4), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_shamir_split(shares, LEN + 1, secret, KQ_SHAMIR_MAX_SECRET_BYTES + 1, 2, 4),
                     KQ_ERR_LIMIT);
    assert_int_equal(kq_shamir_split(shares, LEN, secret, LEN, 2, 4), KQ_ERR_INVALID_ARG);
    const uint8_t zero_x[4] = {1, 2, 0, 4}, dup_x[4] = {1, 2, 3, 2};
    assert_int_equal(kq_shamir_split_xs(shares, LEN + 1, secret, LEN, 2, zero_x, 4),
                     KQ_ERR_ZERO_INDEX);
    assert_int_equal(kq_shamir_split_xs(shares, LEN + 1, secret, LEN, 2, dup_x, 4),
                     KQ_ERR_DUPLICATE_INDEX);
    assert_memory_equal(shares, canary, sizeof shares); /* nothing written on failure */
}

static void expect_combine_fail(const uint8_t *const *p, size_t count, size_t share_len,
                                enum kq_err want)
{
    uint8_t out[64];
    memset(out, 0xA5, sizeof out);
    assert_int_equal(kq_shamir_combine(out, p, count, share_len), want);
    size_t wiped = share_len >= 2 ? share_len - 1 : 0;
    for (size_t i = 0; i < wiped && i < sizeof out; i++)
        assert_int_equal(out[i], 0);
}

static void test_combine_rejects(void **state)
{
    (void)state;
    enum { LEN = 32 };
    uint8_t secret[LEN], shares[3][LEN + 1];
    randombytes_buf(secret, LEN);
    assert_int_equal(kq_shamir_split(&shares[0][0], LEN + 1, secret, LEN, 2, 3), KQ_OK);
    const uint8_t *p[3] = {shares[0], shares[1], shares[2]};
    expect_combine_fail(p, 0, LEN + 1, KQ_ERR_THRESHOLD);
    expect_combine_fail(p, 1, LEN + 1, KQ_ERR_THRESHOLD);
    expect_combine_fail(p, 2, 1, KQ_ERR_TRUNCATED);
    expect_combine_fail(p, 2, 0, KQ_ERR_TRUNCATED);
    const uint8_t *many[MAXN + 1];
    for (size_t i = 0; i <= MAXN; i++)
        many[i] = shares[0];
    expect_combine_fail(many, MAXN + 1, LEN + 1, KQ_ERR_LIMIT);
    /* a share of 65538 bytes claims a secret over the limit: rejected before it is read */
    uint8_t *big = calloc(1, KQ_SHAMIR_MAX_SHARE_BYTES + 1);
    uint8_t *big_out = malloc(KQ_SHAMIR_MAX_SECRET_BYTES);
    assert_non_null(big);
    assert_non_null(big_out);
    const uint8_t *pb[2] = {big, big};
    assert_int_equal(kq_shamir_combine(big_out, pb, 2, KQ_SHAMIR_MAX_SHARE_BYTES + 1),
                     KQ_ERR_LIMIT);
    free(big);
    free(big_out);
    /* x = 0 */
    uint8_t zero[LEN + 1];
    memcpy(zero, shares[1], sizeof zero);
    zero[LEN] = 0;
    const uint8_t *pz[2] = {shares[0], zero};
    expect_combine_fail(pz, 2, LEN + 1, KQ_ERR_ZERO_INDEX);
    /* the same share twice, and two shares with one x */
    const uint8_t *pd[3] = {shares[0], shares[1], shares[0]};
    expect_combine_fail(pd, 3, LEN + 1, KQ_ERR_DUPLICATE_INDEX);
    uint8_t samex[LEN + 1];
    memcpy(samex, shares[2], sizeof samex);
    samex[LEN] = shares[1][LEN];
    const uint8_t *ps[2] = {shares[1], samex};
    expect_combine_fail(ps, 2, LEN + 1, KQ_ERR_DUPLICATE_INDEX);
}

static void test_combine_lens(void **state)
{
    (void)state;
    enum { LEN = 20 };
    uint8_t secret[LEN], shares[3][LEN + 1], out[LEN + 8];
    size_t out_len = 99;
    randombytes_buf(secret, LEN);
    assert_int_equal(kq_shamir_split(&shares[0][0], LEN + 1, secret, LEN, 2, 3), KQ_OK);
    const uint8_t *p[3] = {shares[0], shares[1], shares[2]};
    size_t lens[3] = {LEN + 1, LEN + 1, LEN + 1};
    assert_int_equal(kq_shamir_combine_lens(out, sizeof out, &out_len, p, lens, 3), KQ_OK);
    assert_int_equal(out_len, LEN);
    assert_memory_equal(out, secret, LEN);
    /* different lengths */
    size_t bad[3] = {LEN + 1, LEN, LEN + 1};
    memset(out, 0xA5, sizeof out);
    assert_int_equal(kq_shamir_combine_lens(out, sizeof out, &out_len, p, bad, 3), KQ_ERR_FORMAT);
    assert_int_equal(out_len, 0);
    for (size_t i = 0; i < sizeof out; i++)
        assert_int_equal(out[i], 0);
    /* the secret does not fit */
    assert_int_equal(kq_shamir_combine_lens(out, LEN - 1, &out_len, p, lens, 3), KQ_ERR_OVERFLOW);
    assert_int_equal(out_len, 0);
    /* too few, too short, too long, and errors passed through from combine */
    assert_int_equal(kq_shamir_combine_lens(out, sizeof out, &out_len, p, lens, 1),
                     KQ_ERR_THRESHOLD);
    assert_int_equal(kq_shamir_combine_lens(out, sizeof out, &out_len, p, lens, MAXN + 1),
                     KQ_ERR_LIMIT);
    size_t shorts[2] = {1, 1};
    assert_int_equal(kq_shamir_combine_lens(out, sizeof out, &out_len, p, shorts, 2),
                     KQ_ERR_TRUNCATED);
    size_t longs[2] = {KQ_SHAMIR_MAX_SHARE_BYTES + 1, KQ_SHAMIR_MAX_SHARE_BYTES + 1};
    assert_int_equal(kq_shamir_combine_lens(out, sizeof out, &out_len, p, longs, 2), KQ_ERR_LIMIT);
    const uint8_t *pd[2] = {shares[2], shares[2]};
    assert_int_equal(kq_shamir_combine_lens(out, sizeof out, &out_len, pd, lens, 2),
                     KQ_ERR_DUPLICATE_INDEX);
    assert_int_equal(out_len, 0);
}

/* ---- Commitments -------------------------------------------------------------------------- */

/* The commitment rebuilt from its byte-exact specification in shamir.h. */
static void spec_commit(uint8_t out[32], const char *oid, uint64_t version, const uint8_t *salt,
                        const uint8_t *share, size_t share_len)
{
    uint8_t msg[512];
    size_t pos = 0;
    const char *tag = "keyquorum/v1/shamir-commit";
    const void *fields[4] = {tag, oid, NULL, salt};
    size_t lens[4] = {strlen(tag), strlen(oid), 8, 32};
    uint8_t ver[8];
    for (int i = 0; i < 8; i++)
        ver[i] = (uint8_t)(version >> (56 - 8 * i));
    fields[2] = ver;
    for (int f = 0; f < 5; f++) {
        size_t n = f < 4 ? lens[f] : share_len;
        const void *d = f < 4 ? fields[f] : share;
        for (int i = 0; i < 8; i++)
            msg[pos++] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
        memcpy(msg + pos, d, n);
        pos += n;
    }
    assert_int_equal(crypto_generichash(out, 32, msg, pos, NULL, 0), 0);
}

static void test_commit(void **state)
{
    (void)state;
    enum { LEN = 32 };
    uint8_t secret[LEN], shares[3][LEN + 1], other[3][LEN + 1], salt[32], c[32], want[32];
    const char *oid = "objects/invoice-2026-0001";
    const size_t oid_len = strlen(oid);
    const uint8_t *id = (const uint8_t *)oid;
    randombytes_buf(secret, LEN);
    assert_int_equal(kq_shamir_split(&shares[0][0], LEN + 1, secret, LEN, 2, 3), KQ_OK);
    assert_int_equal(kq_shamir_split(&other[0][0], LEN + 1, secret, LEN, 2, 3), KQ_OK);
    kq_shamir_salt(salt);
    assert_int_equal(kq_shamir_commit(c, id, oid_len, 7, salt, shares[1], LEN + 1), KQ_OK);
    spec_commit(want, oid, 7, salt, shares[1], LEN + 1);
    assert_memory_equal(c, want, 32);
    assert_int_equal(kq_shamir_commit_verify(c, id, oid_len, 7, salt, shares[1], LEN + 1), KQ_OK);
    /* every single flipped bit of the share is caught */
    for (size_t i = 0; i < LEN + 1; i++) {
        for (int bit = 0; bit < 8; bit++) {
            shares[1][i] ^= (uint8_t)(1u << bit);
            assert_int_equal(kq_shamir_commit_verify(c, id, oid_len, 7, salt, shares[1], LEN + 1),
                             KQ_ERR_BAD_SHARE);
            shares[1][i] ^= (uint8_t)(1u << bit);
        }
    }
    /* another share, a share of another split, another object, version or salt */
    assert_int_equal(kq_shamir_commit_verify(c, id, oid_len, 7, salt, shares[2], LEN + 1),
                     KQ_ERR_BAD_SHARE);
    assert_int_equal(kq_shamir_commit_verify(c, id, oid_len, 7, salt, other[1], LEN + 1),
                     KQ_ERR_BAD_SHARE);
    assert_int_equal(kq_shamir_commit_verify(c, id, oid_len - 1, 7, salt, shares[1], LEN + 1),
                     KQ_ERR_BAD_SHARE);
    assert_int_equal(kq_shamir_commit_verify(c, (const uint8_t *)"objects/other", 13, 7, salt,
                                             shares[1], LEN + 1),
                     KQ_ERR_BAD_SHARE);
    assert_int_equal(kq_shamir_commit_verify(c, id, oid_len, 8, salt, shares[1], LEN + 1),
                     KQ_ERR_BAD_SHARE);
    assert_int_equal(kq_shamir_commit_verify(c, id, oid_len, 7, salt, shares[1], LEN),
                     KQ_ERR_BAD_SHARE);
    uint8_t salt2[32];
    memcpy(salt2, salt, 32);
    salt2[31] ^= 1;
    assert_int_equal(kq_shamir_commit_verify(c, id, oid_len, 7, salt2, shares[1], LEN + 1),
                     KQ_ERR_BAD_SHARE);
    c[0] ^= 0x80; /* a tampered commitment */
    assert_int_equal(kq_shamir_commit_verify(c, id, oid_len, 7, salt, shares[1], LEN + 1),
                     KQ_ERR_BAD_SHARE);
}

static void test_commit_rejects(void **state)
{
    (void)state;
    uint8_t salt[32] = {0}, share[3] = {1, 2, 3}, c[32];
    uint8_t id[KQ_MAX_OBJECT_ID_BYTES + 1];
    memset(id, 'a', sizeof id);
    memset(c, 0xA5, sizeof c);
    assert_int_equal(kq_shamir_commit(c, id, 0, 1, salt, share, 3), KQ_ERR_INVALID_ARG);
    for (size_t i = 0; i < sizeof c; i++)
        assert_int_equal(c[i], 0); /* output zeroed on failure */
    assert_int_equal(kq_shamir_commit(c, id, sizeof id, 1, salt, share, 3), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_shamir_commit(c, id, sizeof id - 1, 1, salt, share, 3), KQ_OK);
    assert_int_equal(kq_shamir_commit(c, id, 4, 1, salt, share, 1), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_shamir_commit(c, id, 4, 1, salt, share, KQ_SHAMIR_MAX_SHARE_BYTES + 1),
                     KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_shamir_commit_verify(c, id, 0, 1, salt, share, 3), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_shamir_commit_verify(c, id, 4, 1, salt, share, 1), KQ_ERR_INVALID_ARG);
    /* distinct salts give distinct commitments of one share */
    uint8_t s1[32], s2[32], c1[32], c2[32];
    kq_shamir_salt(s1);
    kq_shamir_salt(s2);
    assert_memory_not_equal(s1, s2, 32);
    assert_int_equal(kq_shamir_commit(c1, id, 4, 1, s1, share, 3), KQ_OK);
    assert_int_equal(kq_shamir_commit(c2, id, 4, 1, s2, share, 3), KQ_OK);
    assert_memory_not_equal(c1, c2, 32);
}

int main(void)
{
    if (kq_init(0) != KQ_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gf_mul_all_pairs),
        cmocka_unit_test(test_gf_inverse),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_secret_sizes),
        cmocka_unit_test(test_many_thresholds),
        cmocka_unit_test(test_every_subset),
        cmocka_unit_test(test_share_layout),
        cmocka_unit_test(test_split_xs),
        cmocka_unit_test(test_reference_shares),
        cmocka_unit_test(test_vault_vectors),
        cmocka_unit_test(test_split_rejects),
        cmocka_unit_test(test_combine_rejects),
        cmocka_unit_test(test_combine_lens),
        cmocka_unit_test(test_commit),
        cmocka_unit_test(test_commit_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
