/* Shamir over GF(2^8) mod 0x11B, bitsliced: 64 byte positions are transposed into 8 bit-planes
 * (uint64_t, plane i holds bit i of every position) and one field multiply is a fixed sequence of
 * ANDs, XORs and plane moves. Invariant: no branch and no table index depends on a secret byte
 * (secret, coefficient or y); only x coordinates and Lagrange coefficients, public, steer code. */
#include "crypto/shamir.h"

#include <sodium.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"

/* Byte positions handled by one bitsliced block: the width of a plane word. */
#define LANES 64
/* Bits of a GF(2^8) element: the number of planes. */
#define PLANES 8
/* Low byte of the reduction polynomial: x^8 = x^4 + x^3 + x + 1. */
#define GF_REDUCE 0x1Bu
/* Number of blocks of the largest secret: bounds the block loops. */
#define MAX_BLOCKS ((KQ_SHAMIR_MAX_SECRET_BYTES + LANES - 1) / LANES)

KQ_STATIC_ASSERT(KQ_SHAMIR_MAX_SHARES <= 255, "x is one nonzero byte");
KQ_STATIC_ASSERT(LANES == 8 * sizeof(uint64_t), "one lane per bit of a plane word");
KQ_STATIC_ASSERT(KQ_SHAMIR_COMMIT_BYTES >= crypto_generichash_BYTES_MIN &&
                     KQ_SHAMIR_COMMIT_BYTES <= crypto_generichash_BYTES_MAX,
                 "BLAKE2b output size");

typedef uint64_t planes[PLANES];

size_t kq_shamir_share_overhead(void)
{
    return KQ_SHAMIR_SHARE_OVERHEAD;
}

size_t kq_shamir_share_bytes(size_t secret_len)
{
    KQ_ASSERT(secret_len <= KQ_SHAMIR_MAX_SECRET_BYTES);
    return KQ_SHAMIR_SHARE_BYTES(secret_len);
}

size_t kq_shamir_max_shares(void)
{
    return KQ_SHAMIR_MAX_SHARES;
}

size_t kq_shamir_max_secret_bytes(void)
{
    return KQ_SHAMIR_MAX_SECRET_BYTES;
}

size_t kq_shamir_commit_bytes(void)
{
    return KQ_SHAMIR_COMMIT_BYTES;
}

size_t kq_shamir_salt_bytes(void)
{
    return KQ_SHAMIR_SALT_BYTES;
}

/* ---- Scalar field operations (constant time) -------------------------------------------- */

uint8_t kq_gf256_mul(uint8_t a, uint8_t b)
{
    unsigned r = 0, x = a, y = b;
    for (int i = 0; i < PLANES; i++) {
        r ^= (0u - (y & 1u)) & x; /* add x when this bit of b is set */
        x = ((x << 1) ^ ((0u - (x >> 7)) & GF_REDUCE)) & 0xFFu; /* x *= X, reduced */
        y >>= 1;
    }
    return (uint8_t)r;
}

uint8_t kq_gf256_inv(uint8_t a)
{
    /* a^254 = a^(2+4+...+128): the multiplicative group has order 255, and 0 stays 0. */
    uint8_t sq = kq_gf256_mul(a, a);
    uint8_t r = sq;
    for (int i = 1; i < PLANES - 1; i++) {
        sq = kq_gf256_mul(sq, sq);
        r = kq_gf256_mul(r, sq);
    }
    return r;
}

/* ---- Bitsliced core --------------------------------------------------------------------- */

/* Transposes the 8x8 bit matrix in w (byte r, bit c) to (byte c, bit r). */
static uint64_t transpose8(uint64_t w)
{
    uint64_t t;
    t = (w ^ (w >> 7)) & 0x00AA00AA00AA00AAull;
    w ^= t ^ (t << 7);
    t = (w ^ (w >> 14)) & 0x0000CCCC0000CCCCull;
    w ^= t ^ (t << 14);
    t = (w ^ (w >> 28)) & 0x00000000F0F0F0F0ull;
    w ^= t ^ (t << 28);
    return w;
}

/* p[i] bit j = bit i of in[j] for j < n; lanes n..63 are zero. n (public) is 1..64. */
static void bytes_to_planes(planes p, const uint8_t *in, size_t n)
{
    KQ_ASSERT(n >= 1 && n <= LANES);
    for (int i = 0; i < PLANES; i++)
        p[i] = 0;
    for (size_t g = 0; 8 * g < n; g++) {
        size_t m = n - 8 * g < 8 ? n - 8 * g : 8;
        uint64_t w = 0;
        for (size_t j = 0; j < m; j++)
            w |= (uint64_t)in[8 * g + j] << (8 * j);
        w = transpose8(w);
        for (int i = 0; i < PLANES; i++)
            p[i] |= ((w >> (8 * i)) & 0xFFu) << (8 * g);
    }
}

/* The inverse of bytes_to_planes: out[j] for j < n from lane j of p. */
static void planes_to_bytes(uint8_t *out, size_t n, const planes p)
{
    KQ_ASSERT(n >= 1 && n <= LANES);
    for (size_t g = 0; 8 * g < n; g++) {
        size_t m = n - 8 * g < 8 ? n - 8 * g : 8;
        uint64_t w = 0;
        for (int i = 0; i < PLANES; i++)
            w |= ((p[i] >> (8 * g)) & 0xFFu) << (8 * i);
        w = transpose8(w);
        for (size_t j = 0; j < m; j++)
            out[8 * g + j] = (uint8_t)(w >> (8 * j));
    }
}

/* Every lane set to the public constant c. */
static void planes_broadcast(planes p, uint8_t c)
{
    for (int i = 0; i < PLANES; i++)
        p[i] = 0u - (uint64_t)(((unsigned)c >> i) & 1u);
}

/* One MSB-first shift-and-add step: r = r * X + a * bit, where bit is one plane of b. r * X
 * shifts the planes up and folds x^8 back as x^4 + x^3 + x + 1. */
#define MUL_STEP(bit)                                                                              \
    do {                                                                                           \
        uint64_t top_ = r7, m_ = (bit);                                                            \
        r7 = r6 ^ (a[7] & m_);                                                                     \
        r6 = r5 ^ (a[6] & m_);                                                                     \
        r5 = r4 ^ (a[5] & m_);                                                                     \
        r4 = r3 ^ top_ ^ (a[4] & m_);                                                              \
        r3 = r2 ^ top_ ^ (a[3] & m_);                                                              \
        r2 = r1 ^ (a[2] & m_);                                                                     \
        r1 = r0 ^ top_ ^ (a[1] & m_);                                                              \
        r0 = top_ ^ (a[0] & m_);                                                                   \
    } while (0)

/* r = a * b lane by lane: r may alias a or b. Only ANDs and XORs on registers, in a fixed
 * sequence: constant time in a and b. */
static void planes_mul(planes r, const planes a, const planes b)
{
    uint64_t r0 = 0, r1 = 0, r2 = 0, r3 = 0, r4 = 0, r5 = 0, r6 = 0, r7 = 0;
    MUL_STEP(b[7]);
    MUL_STEP(b[6]);
    MUL_STEP(b[5]);
    MUL_STEP(b[4]);
    MUL_STEP(b[3]);
    MUL_STEP(b[2]);
    MUL_STEP(b[1]);
    MUL_STEP(b[0]);
    r[0] = r0;
    r[1] = r1;
    r[2] = r2;
    r[3] = r3;
    r[4] = r4;
    r[5] = r5;
    r[6] = r6;
    r[7] = r7;
}

#undef MUL_STEP

static void planes_xor(planes r, const planes a)
{
    for (int i = 0; i < PLANES; i++)
        r[i] ^= a[i];
}

void kq_gf256_mul_vec(uint8_t *out, const uint8_t *a, const uint8_t *b, size_t n)
{
    KQ_ASSERT((out != NULL && a != NULL && b != NULL) || n == 0);
    planes pa, pb, pr;
    for (size_t off = 0; off < n; off += LANES) {
        size_t m = n - off < LANES ? n - off : LANES;
        bytes_to_planes(pa, a + off, m);
        bytes_to_planes(pb, b + off, m);
        planes_mul(pr, pa, pb);
        planes_to_bytes(out + off, m, pr);
    }
    kq_wipe(pa, sizeof pa);
    kq_wipe(pb, sizeof pb);
    kq_wipe(pr, sizeof pr);
}

/* ---- Split ------------------------------------------------------------------------------- */

/* The secret and random coefficients of one block, plus scratch; wiped by the caller. */
struct split_work {
    planes coef[KQ_SHAMIR_MAX_SHARES]; /* coef[0] the secret block, coef[1..k) random */
    planes acc;
};

static enum kq_err split_check(size_t share_stride, size_t len, unsigned k, const uint8_t *xs,
                               unsigned n)
{
    KQ_ENSURE(k >= KQ_SHAMIR_MIN_THRESHOLD && k <= n && n <= KQ_SHAMIR_MAX_SHARES,
              KQ_ERR_INVALID_ARG);
    KQ_ENSURE(len >= 1, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(len <= KQ_SHAMIR_MAX_SECRET_BYTES, KQ_ERR_LIMIT);
    KQ_ENSURE(share_stride >= KQ_SHAMIR_SHARE_BYTES(len), KQ_ERR_INVALID_ARG);
    uint8_t seen[256] = {0};
    for (unsigned i = 0; i < n; i++) {
        KQ_ENSURE(xs[i] != 0, KQ_ERR_ZERO_INDEX);
        KQ_ENSURE(seen[xs[i]] == 0, KQ_ERR_DUPLICATE_INDEX);
        seen[xs[i]] = 1;
    }
    return KQ_OK;
}

/* Fills coef[1..k) with uniform planes straight from the OS CSPRNG: every lane of every plane
 * is an independent uniform bit, so each byte position gets uniform coefficients. */
static void split_coefficients(struct split_work *w, unsigned k)
{
    kq_random(w->coef[1], (k - 1) * sizeof(planes));
}

/* Evaluates the block's polynomial at every x (Horner) and stores the y-bytes of each share. */
static void split_block(struct split_work *w, uint8_t *shares_out, size_t share_stride, size_t off,
                        size_t m, unsigned k, const uint8_t *xs, unsigned n)
{
    for (unsigned s = 0; s < n; s++) {
        planes x;
        planes_broadcast(x, xs[s]);
        memcpy(w->acc, w->coef[k - 1], sizeof(planes));
        for (unsigned i = k - 1; i > 0; i--) {
            planes_mul(w->acc, w->acc, x);
            planes_xor(w->acc, w->coef[i - 1]);
        }
        planes_to_bytes(shares_out + (size_t)s * share_stride + off, m, w->acc);
    }
}

enum kq_err kq_shamir_split_xs(uint8_t *shares_out, size_t share_stride, const uint8_t *secret,
                               size_t len, unsigned k, const uint8_t *xs, unsigned n)
{
    KQ_ASSERT(shares_out != NULL && secret != NULL && xs != NULL);
    KQ_GUARD(split_check(share_stride, len, k, xs, n));
    struct split_work w; /* 16 KiB at k = 255; only coef[0..k) is used and wiped */
    size_t blocks = (len + LANES - 1) / LANES;
    KQ_ASSERT(blocks >= 1 && blocks <= MAX_BLOCKS);
    for (size_t b = 0; b < blocks; b++) {
        size_t off = b * LANES;
        size_t m = len - off < LANES ? len - off : LANES;
        bytes_to_planes(w.coef[0], secret + off, m);
        split_coefficients(&w, k);
        split_block(&w, shares_out, share_stride, off, m, k, xs, n);
    }
    for (unsigned s = 0; s < n; s++)
        shares_out[(size_t)s * share_stride + len] = xs[s];
    kq_wipe(w.coef, (size_t)k * sizeof(planes));
    kq_wipe(w.acc, sizeof w.acc);
    return KQ_OK;
}

enum kq_err kq_shamir_split(uint8_t *shares_out, size_t share_stride, const uint8_t *secret,
                            size_t len, unsigned k, unsigned n)
{
    uint8_t xs[KQ_SHAMIR_MAX_SHARES];
    KQ_ENSURE(n <= KQ_SHAMIR_MAX_SHARES, KQ_ERR_INVALID_ARG);
    for (unsigned i = 0; i < n; i++)
        xs[i] = (uint8_t)(i + 1);
    return kq_shamir_split_xs(shares_out, share_stride, secret, len, k, xs, n);
}

/* ---- Combine ----------------------------------------------------------------------------- */

static enum kq_err combine_check(const uint8_t *const *shares, size_t count, size_t share_len)
{
    KQ_ENSURE(count >= KQ_SHAMIR_MIN_THRESHOLD, KQ_ERR_THRESHOLD);
    KQ_ENSURE(count <= KQ_SHAMIR_MAX_SHARES, KQ_ERR_LIMIT);
    KQ_ENSURE(share_len >= KQ_SHAMIR_MIN_SHARE_BYTES, KQ_ERR_TRUNCATED);
    KQ_ENSURE(share_len <= KQ_SHAMIR_MAX_SHARE_BYTES, KQ_ERR_LIMIT);
    uint8_t seen[256] = {0};
    for (size_t i = 0; i < count; i++) {
        KQ_ASSERT(shares[i] != NULL);
        uint8_t x = shares[i][share_len - 1];
        KQ_ENSURE(x != 0, KQ_ERR_ZERO_INDEX);
        KQ_ENSURE(seen[x] == 0, KQ_ERR_DUPLICATE_INDEX);
        seen[x] = 1;
    }
    return KQ_OK;
}

/* lam[j] = prod_{m != j} x_m / (x_j + x_m): the Lagrange coefficients at 0 (public). */
static void combine_lagrange(uint8_t *lam, const uint8_t *xs, size_t count)
{
    for (size_t j = 0; j < count; j++) {
        uint8_t num = 1, den = 1;
        for (size_t m = 0; m < count; m++) {
            if (m == j)
                continue;
            num = kq_gf256_mul(num, xs[m]);
            den = kq_gf256_mul(den, (uint8_t)(xs[j] ^ xs[m]));
        }
        KQ_ASSERT(den != 0); /* distinct x: guaranteed by combine_check */
        lam[j] = kq_gf256_mul(num, kq_gf256_inv(den));
    }
}

/* One share's block, the running sum and scratch; wiped by the caller. */
struct combine_work {
    planes y, acc;
};

enum kq_err kq_shamir_combine(uint8_t *secret_out, const uint8_t *const *shares, size_t count,
                              size_t share_len)
{
    KQ_ASSERT(secret_out != NULL && (shares != NULL || count == 0));
    enum kq_err err = combine_check(shares, count, share_len);
    if (err != KQ_OK) {
        if (share_len >= KQ_SHAMIR_MIN_SHARE_BYTES)
            kq_wipe(secret_out, share_len - 1 < KQ_SHAMIR_MAX_SECRET_BYTES
                                    ? share_len - 1
                                    : KQ_SHAMIR_MAX_SECRET_BYTES);
        return err;
    }
    size_t len = share_len - 1;
    uint8_t xs[KQ_SHAMIR_MAX_SHARES], lam[KQ_SHAMIR_MAX_SHARES];
    for (size_t i = 0; i < count; i++)
        xs[i] = shares[i][len];
    combine_lagrange(lam, xs, count);
    struct combine_work w;
    for (size_t off = 0; off < len; off += LANES) {
        size_t m = len - off < LANES ? len - off : LANES;
        memset(w.acc, 0, sizeof w.acc);
        for (size_t j = 0; j < count; j++) {
            planes l;
            planes_broadcast(l, lam[j]);
            bytes_to_planes(w.y, shares[j] + off, m);
            planes_mul(w.y, w.y, l);
            planes_xor(w.acc, w.y);
        }
        planes_to_bytes(secret_out + off, m, w.acc);
    }
    kq_wipe(&w, sizeof w);
    return KQ_OK;
}

enum kq_err kq_shamir_combine_lens(uint8_t *secret_out, size_t secret_cap, size_t *secret_len,
                                   const uint8_t *const *shares, const size_t *share_lens,
                                   size_t count)
{
    KQ_ASSERT(secret_out != NULL && secret_len != NULL);
    KQ_ASSERT((shares != NULL && share_lens != NULL) || count == 0);
    enum kq_err err = KQ_OK;
    *secret_len = 0;
    KQ_CHECK(count >= KQ_SHAMIR_MIN_THRESHOLD, KQ_ERR_THRESHOLD);
    KQ_CHECK(count <= KQ_SHAMIR_MAX_SHARES, KQ_ERR_LIMIT);
    size_t share_len = share_lens[0];
    for (size_t i = 1; i < count; i++)
        KQ_CHECK(share_lens[i] == share_len, KQ_ERR_FORMAT);
    KQ_CHECK(share_len >= KQ_SHAMIR_MIN_SHARE_BYTES, KQ_ERR_TRUNCATED);
    KQ_CHECK(share_len <= KQ_SHAMIR_MAX_SHARE_BYTES, KQ_ERR_LIMIT);
    KQ_CHECK(share_len - 1 <= secret_cap, KQ_ERR_OVERFLOW);
    KQ_TRY(kq_shamir_combine(secret_out, shares, count, share_len));
    *secret_len = share_len - 1;
out:
    if (err != KQ_OK)
        kq_wipe(secret_out, secret_cap);
    return err;
}

/* ---- Share commitments ------------------------------------------------------------------ */

/* Absorbs u64be(len) || data. */
static void commit_field(crypto_generichash_state *st, const void *data, size_t len)
{
    uint8_t prefix[8];
    struct kq_buf b;
    kq_buf_writer(&b, prefix, sizeof prefix);
    enum kq_err err = kq_buf_put_u64(&b, (uint64_t)len);
    KQ_ASSERT(err == KQ_OK && kq_buf_len(&b) == sizeof prefix);
    crypto_generichash_update(st, prefix, sizeof prefix);
    if (len > 0)
        crypto_generichash_update(st, data, len);
}

static enum kq_err commit_compute(uint8_t out[KQ_SHAMIR_COMMIT_BYTES], const uint8_t *object_id,
                                  size_t object_id_len, uint64_t version,
                                  const uint8_t salt[KQ_SHAMIR_SALT_BYTES], const uint8_t *share,
                                  size_t share_len)
{
    KQ_ASSERT(out != NULL && salt != NULL);
    KQ_ASSERT(object_id != NULL || object_id_len == 0);
    KQ_ASSERT(share != NULL || share_len == 0);
    KQ_ENSURE(object_id_len >= 1 && object_id_len <= KQ_MAX_OBJECT_ID_BYTES, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(share_len >= KQ_SHAMIR_MIN_SHARE_BYTES && share_len <= KQ_SHAMIR_MAX_SHARE_BYTES,
              KQ_ERR_INVALID_ARG);
    uint8_t ver[8];
    struct kq_buf b;
    kq_buf_writer(&b, ver, sizeof ver);
    KQ_GUARD(kq_buf_put_u64(&b, version));
    crypto_generichash_state st;
    int rc = crypto_generichash_init(&st, NULL, 0, KQ_SHAMIR_COMMIT_BYTES);
    KQ_ASSERT(rc == 0);
    commit_field(&st, KQ_SHAMIR_COMMIT_TAG, sizeof KQ_SHAMIR_COMMIT_TAG - 1);
    commit_field(&st, object_id, object_id_len);
    commit_field(&st, ver, sizeof ver);
    commit_field(&st, salt, KQ_SHAMIR_SALT_BYTES);
    commit_field(&st, share, share_len);
    rc = crypto_generichash_final(&st, out, KQ_SHAMIR_COMMIT_BYTES);
    KQ_ASSERT(rc == 0);
    kq_wipe(&st, sizeof st);
    return KQ_OK;
}

void kq_shamir_salt(uint8_t salt[KQ_SHAMIR_SALT_BYTES])
{
    KQ_ASSERT(salt != NULL);
    kq_random(salt, KQ_SHAMIR_SALT_BYTES);
}

enum kq_err kq_shamir_commit(uint8_t out[KQ_SHAMIR_COMMIT_BYTES], const uint8_t *object_id,
                             size_t object_id_len, uint64_t version,
                             const uint8_t salt[KQ_SHAMIR_SALT_BYTES], const uint8_t *share,
                             size_t share_len)
{
    enum kq_err err =
        commit_compute(out, object_id, object_id_len, version, salt, share, share_len);
    if (err != KQ_OK)
        kq_wipe(out, KQ_SHAMIR_COMMIT_BYTES);
    return err;
}

enum kq_err kq_shamir_commit_verify(const uint8_t commit[KQ_SHAMIR_COMMIT_BYTES],
                                    const uint8_t *object_id, size_t object_id_len,
                                    uint64_t version, const uint8_t salt[KQ_SHAMIR_SALT_BYTES],
                                    const uint8_t *share, size_t share_len)
{
    KQ_ASSERT(commit != NULL);
    uint8_t want[KQ_SHAMIR_COMMIT_BYTES];
    enum kq_err err =
        commit_compute(want, object_id, object_id_len, version, salt, share, share_len);
    if (err == KQ_OK && !kq_ct_eq(want, commit, KQ_SHAMIR_COMMIT_BYTES))
        err = KQ_ERR_BAD_SHARE;
    kq_wipe(want, sizeof want);
    return err;
}
