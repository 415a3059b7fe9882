/* ristretto255 helpers over libsodium and libdecaf. libsodium's ristretto255 API encodes and
 * decodes at every call, so one point addition costs three inverse square roots (~0.28 M); the
 * multi-term paths (linear combinations, commitment evaluation, proof verification) therefore
 * decode each input once into libdecaf's representation, compute there, and encode once. Both
 * libraries implement the same group with the same encoding (RFC 9496), checked by the tests.
 * Invariants: every scalar handed to a scalar multiplication is canonical, every point from
 * outside is checked before use, the identity is rejected explicitly wherever it is forbidden
 * (libsodium's is_valid_point accepts it), and variable-time arithmetic only ever sees public
 * values (verification of public proofs, public indices). */
#include "crypto/group.h"

#include <decaf/point_255.h>
#include <stdlib.h>
#include <string.h>

#include "base/ct.h"
#include "base/limits.h"
#include "base/mem.h"

size_t kq_scalarbytes(void)
{
    return KQ_SCALARBYTES;
}

size_t kq_pointbytes(void)
{
    return KQ_POINTBYTES;
}

size_t kq_proofbytes(void)
{
    return KQ_PROOFBYTES;
}

KQ_STATIC_ASSERT(KQ_SCALARBYTES == crypto_core_ristretto255_SCALARBYTES, "scalar size");
KQ_STATIC_ASSERT(KQ_POINTBYTES == crypto_core_ristretto255_BYTES, "point size");
KQ_STATIC_ASSERT(KQ_PROOFBYTES == 2 * KQ_SCALARBYTES, "proof is c || z");
KQ_STATIC_ASSERT(KQ_POINTBYTES == DECAF_255_SER_BYTES, "libdecaf encodes points in 32 bytes");
KQ_STATIC_ASSERT(KQ_SCALARBYTES == DECAF_255_SCALAR_BYTES, "libdecaf scalars are 32 bytes");

/* ---- libdecaf bridge ----------------------------------------------------------------------- */

static enum kq_err dec_point(decaf_255_point_t out, const uint8_t in[KQ_POINTBYTES],
                             int allow_identity)
{
    decaf_error_t ok = decaf_255_point_decode(out, in, allow_identity ? DECAF_TRUE : DECAF_FALSE);
    KQ_ENSURE(ok == DECAF_SUCCESS, KQ_ERR_BAD_POINT);
    return KQ_OK;
}

/* s must be canonical (callers check untrusted scalars first): libdecaf reduces silently. */
static void dec_scalar(decaf_255_scalar_t out, const uint8_t s[KQ_SCALARBYTES])
{
    decaf_error_t ok = decaf_255_scalar_decode(out, s);
    KQ_DECLASSIFY(&ok, sizeof ok); /* "canonical": the same for every valid scalar */
    KQ_ASSERT(ok == DECAF_SUCCESS);
}

/* out = x * p for a public small x, by double-and-add on decoded points (variable time in x
 * only; x and p are public wherever this is used: indices and commitments). */
static void mul_small_public(decaf_255_point_t out, const decaf_255_point_t p, uint32_t x)
{
    decaf_255_point_t acc;
    decaf_255_point_copy(acc, decaf_255_point_identity);
    if (x == 0) {
        decaf_255_point_copy(out, acc);
        return;
    }
    for (int bit = 31 - __builtin_clz(x); bit >= 0; bit--) { /* from the top set bit */
        decaf_255_point_double(acc, acc);
        if ((x >> bit) & 1u)
            decaf_255_point_add(acc, acc, p);
    }
    decaf_255_point_copy(out, acc);
}

/* ---- Transcript ------------------------------------------------------------------------- */

static void ts_put_len(struct kq_ts *ts, uint64_t len)
{
    uint8_t be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (uint8_t)(len >> (56 - 8 * i));
    crypto_hash_sha512_update(&ts->st, be, sizeof be);
}

void kq_ts_init(struct kq_ts *ts, const char *dst)
{
    KQ_ASSERT(ts != NULL && dst != NULL);
    size_t n = strlen(dst);
    KQ_ASSERT(n > 0);
    crypto_hash_sha512_init(&ts->st);
    ts_put_len(ts, n);
    crypto_hash_sha512_update(&ts->st, (const uint8_t *)dst, n);
}

void kq_ts_put(struct kq_ts *ts, const void *data, size_t len)
{
    KQ_ASSERT(data != NULL || len == 0);
    ts_put_len(ts, len);
    if (len > 0)
        crypto_hash_sha512_update(&ts->st, data, len);
}

void kq_ts_put_u32(struct kq_ts *ts, uint32_t v)
{
    uint8_t be[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    kq_ts_put(ts, be, sizeof be);
}

void kq_ts_digest(struct kq_ts *ts, uint8_t out[64])
{
    crypto_hash_sha512_final(&ts->st, out);
    kq_wipe(ts, sizeof *ts);
}

void kq_ts_scalar(struct kq_ts *ts, uint8_t out[KQ_SCALARBYTES])
{
    uint8_t h[64];
    kq_ts_digest(ts, h);
    crypto_core_ristretto255_scalar_reduce(out, h);
    kq_wipe(h, sizeof h);
}

void kq_ts_point(struct kq_ts *ts, uint8_t out[KQ_POINTBYTES])
{
    uint8_t h[64];
    kq_ts_digest(ts, h);
    crypto_core_ristretto255_from_hash(out, h);
    kq_wipe(h, sizeof h);
}

void kq_ts_wipe(struct kq_ts *ts)
{
    kq_wipe(ts, sizeof *ts);
}

/* ---- Scalars ---------------------------------------------------------------------------- */

void kq_sc_random(uint8_t out[KQ_SCALARBYTES])
{
    do {
        crypto_core_ristretto255_scalar_random(out);
    } while (kq_sc_is_zero(out));
}

void kq_sc_nonce(uint8_t out[KQ_SCALARBYTES], const uint8_t *secret, size_t secret_len)
{
    uint8_t rnd[32];
    struct kq_ts ts;
    do {
        kq_random(rnd, sizeof rnd);
        kq_ts_init(&ts, "keyquorum/v1/nonce");
        kq_ts_put(&ts, rnd, sizeof rnd);
        kq_ts_put(&ts, secret, secret_len);
        kq_ts_scalar(&ts, out);
    } while (kq_sc_is_zero(out));
    kq_wipe(rnd, sizeof rnd);
}

int kq_sc_is_canonical(const uint8_t s[KQ_SCALARBYTES])
{
    uint8_t wide[64] = {0};
    uint8_t red[KQ_SCALARBYTES];
    memcpy(wide, s, KQ_SCALARBYTES);
    crypto_core_ristretto255_scalar_reduce(red, wide);
    int eq = kq_ct_eq(red, s, KQ_SCALARBYTES);
    kq_wipe(wide, sizeof wide);
    kq_wipe(red, sizeof red);
    return kq_declassify_int(eq); /* a validity predicate: public by design */
}

int kq_sc_is_zero(const uint8_t s[KQ_SCALARBYTES])
{
    return kq_declassify_int(sodium_is_zero(s, KQ_SCALARBYTES)); /* validity predicate */
}

enum kq_err kq_sc_check(const uint8_t s[KQ_SCALARBYTES])
{
    KQ_ENSURE(kq_sc_is_canonical(s) && !kq_sc_is_zero(s), KQ_ERR_BAD_SCALAR);
    return KQ_OK;
}

void kq_sc_from_u32(uint8_t out[KQ_SCALARBYTES], uint32_t v)
{
    memset(out, 0, KQ_SCALARBYTES);
    for (int i = 0; i < 4; i++)
        out[i] = (uint8_t)(v >> (8 * i));
}

/* ---- Points ----------------------------------------------------------------------------- */

int kq_pt_is_identity(const uint8_t p[KQ_POINTBYTES])
{
    /* ristretto255 encodings are canonical; the identity's is all zeros. */
    return sodium_is_zero(p, KQ_POINTBYTES);
}

/* RFC 9496 encodings are 255-bit values with bit 255 clear. libsodium 1.0.18 (Debian 12's)
 * ignores that bit when decoding, so without this check every point would have a second
 * encoding (and 00..80 would alias the identity) that libsodium accepts and libdecaf rejects.
 * Every path that hands outside bytes to libsodium's point functions checks it first. */
static int top_bit_clear(const uint8_t p[KQ_POINTBYTES])
{
    return (p[KQ_POINTBYTES - 1] & 0x80) == 0;
}

enum kq_err kq_pt_check_allow_identity(const uint8_t p[KQ_POINTBYTES])
{
    KQ_ENSURE(top_bit_clear(p), KQ_ERR_BAD_POINT);
    KQ_ENSURE(crypto_core_ristretto255_is_valid_point(p) == 1, KQ_ERR_BAD_POINT);
    return KQ_OK;
}

enum kq_err kq_pt_check(const uint8_t p[KQ_POINTBYTES])
{
    KQ_GUARD(kq_pt_check_allow_identity(p));
    KQ_ENSURE(!kq_pt_is_identity(p), KQ_ERR_BAD_POINT);
    return KQ_OK;
}

enum kq_err kq_pt_mul(uint8_t out[KQ_POINTBYTES], const uint8_t s[KQ_SCALARBYTES],
                      const uint8_t p[KQ_POINTBYTES])
{
    KQ_ASSERT(kq_sc_is_canonical(s));
    if (!top_bit_clear(p) || /* a non-canonical encoding libsodium 1.0.18 would accept */
        kq_declassify_int(crypto_scalarmult_ristretto255(out, s, p)) != 0) { /* identity */
        memset(out, 0, KQ_POINTBYTES);
        return KQ_ERR_BAD_POINT;
    }
    return KQ_OK;
}

void kq_pt_mul_base(uint8_t out[KQ_POINTBYTES], const uint8_t s[KQ_SCALARBYTES])
{
    KQ_ASSERT(kq_sc_is_canonical(s));
    if (kq_declassify_int(crypto_scalarmult_ristretto255_base(out, s)) != 0)
        memset(out, 0, KQ_POINTBYTES); /* s = 0: the identity */
}

enum kq_err kq_pt_add(uint8_t out[KQ_POINTBYTES], const uint8_t a[KQ_POINTBYTES],
                      const uint8_t b[KQ_POINTBYTES])
{
    KQ_ENSURE(top_bit_clear(a) && top_bit_clear(b), KQ_ERR_BAD_POINT);
    KQ_ENSURE(crypto_core_ristretto255_add(out, a, b) == 0, KQ_ERR_BAD_POINT);
    return KQ_OK;
}

enum kq_err kq_pt_lincomb(uint8_t out[KQ_POINTBYTES], const uint8_t (*s)[KQ_SCALARBYTES],
                          const uint8_t (*p)[KQ_POINTBYTES], size_t n)
{
    /* Constant time in the scalars and points: pairs go through libdecaf's double scalar
     * multiplication (about the cost of one), sums are additions of decoded points. */
    decaf_255_point_t acc, a, b, term;
    decaf_255_scalar_t x, y;
    enum kq_err err = KQ_OK;
    decaf_255_point_copy(acc, decaf_255_point_identity);
    for (size_t i = 0; i < n; i += 2) {
        KQ_ASSERT(kq_sc_is_canonical(s[i]));
        KQ_TRY(dec_point(a, p[i], 1));
        dec_scalar(x, s[i]);
        if (i + 1 < n) {
            KQ_ASSERT(kq_sc_is_canonical(s[i + 1]));
            KQ_TRY(dec_point(b, p[i + 1], 1));
            dec_scalar(y, s[i + 1]);
            decaf_255_point_double_scalarmul(term, a, x, b, y);
        } else {
            decaf_255_point_scalarmul(term, a, x);
        }
        decaf_255_point_add(acc, acc, term);
    }
    decaf_255_point_encode(out, acc);
out:
    /* acc is the combined secret when interpolating partials (Z = s*R, Y = s*P) */
    decaf_255_scalar_destroy(x);
    decaf_255_scalar_destroy(y);
    decaf_255_point_destroy(term);
    decaf_255_point_destroy(acc);
    decaf_255_point_destroy(a);
    decaf_255_point_destroy(b);
    return err;
}

enum kq_err kq_pt_sum(uint8_t out[KQ_POINTBYTES], const uint8_t (*p)[KQ_POINTBYTES], size_t n)
{
    decaf_255_point_t acc, q;
    decaf_255_point_copy(acc, decaf_255_point_identity);
    for (size_t i = 0; i < n; i++) {
        KQ_GUARD(dec_point(q, p[i], 1));
        decaf_255_point_add(acc, acc, q);
    }
    decaf_255_point_encode(out, acc);
    return KQ_OK;
}

struct kq_pt_table {
    uint8_t P[KQ_POINTBYTES];
    decaf_255_precomputed_s *pre; /* aligned as libdecaf requires */
};

enum kq_err kq_pt_table_new(struct kq_pt_table **out, const uint8_t P[KQ_POINTBYTES])
{
    decaf_255_point_t p;
    struct kq_pt_table *t;
    size_t align = decaf_255_alignof_precomputed_s, size = decaf_255_sizeof_precomputed_s;
    *out = NULL;
    KQ_GUARD(dec_point(p, P, 0));
    if (align < sizeof(void *))
        align = sizeof(void *);
    t = calloc(1, sizeof *t);
    KQ_ENSURE(t != NULL, KQ_ERR_NOMEM);
    t->pre = aligned_alloc(align, (size + align - 1) / align * align);
    if (t->pre == NULL) {
        free(t);
        return KQ_ERR_NOMEM;
    }
    memcpy(t->P, P, KQ_POINTBYTES);
    decaf_255_precompute(t->pre, p);
    *out = t;
    return KQ_OK;
}

void kq_pt_table_free(struct kq_pt_table *t)
{
    if (t == NULL)
        return;
    decaf_255_precomputed_destroy(t->pre);
    free(t->pre);
    free(t);
}

const uint8_t *kq_pt_table_point(const struct kq_pt_table *t)
{
    return t->P;
}

void kq_pt_table_mul(uint8_t out[KQ_POINTBYTES], const struct kq_pt_table *t,
                     const uint8_t s[KQ_SCALARBYTES])
{
    decaf_255_point_t r;
    decaf_255_scalar_t x;
    KQ_ASSERT(kq_sc_is_canonical(s));
    dec_scalar(x, s);
    decaf_255_precomputed_scalarmul(r, t->pre, x);
    decaf_255_point_encode(out, r);
    decaf_255_scalar_destroy(x);
    decaf_255_point_destroy(r);
}

/* ---- Polynomials and Lagrange ------------------------------------------------------------ */

void kq_poly_eval(uint8_t out[KQ_SCALARBYTES], const uint8_t (*c)[KQ_SCALARBYTES], size_t t,
                  uint32_t x)
{
    uint8_t xs[KQ_SCALARBYTES];
    uint8_t acc[KQ_SCALARBYTES];
    KQ_ASSERT(t >= 1 && t <= KQ_MAX_THRESHOLD);
    kq_sc_from_u32(xs, x);
    memcpy(acc, c[t - 1], KQ_SCALARBYTES);
    for (size_t j = t - 1; j-- > 0;) {
        crypto_core_ristretto255_scalar_mul(acc, acc, xs);
        crypto_core_ristretto255_scalar_add(acc, acc, c[j]);
    }
    memcpy(out, acc, KQ_SCALARBYTES);
    kq_wipe(acc, sizeof acc);
}

enum kq_err kq_indices_check(const uint32_t *xs, size_t n)
{
    uint8_t seen[KQ_MAX_PARTICIPANTS + 1] = {0};
    KQ_ENSURE(n <= KQ_MAX_PARTICIPANTS, KQ_ERR_LIMIT);
    for (size_t i = 0; i < n; i++) {
        KQ_ENSURE(xs[i] != 0, KQ_ERR_ZERO_INDEX);
        KQ_ENSURE(xs[i] <= KQ_MAX_PARTICIPANTS, KQ_ERR_LIMIT);
        KQ_ENSURE(!seen[xs[i]], KQ_ERR_DUPLICATE_INDEX);
        seen[xs[i]] = 1;
    }
    return KQ_OK;
}

enum kq_err kq_lagrange(uint8_t out[KQ_SCALARBYTES], const uint32_t *xs, size_t n, size_t j,
                        uint32_t at)
{
    uint8_t num[KQ_SCALARBYTES], den[KQ_SCALARBYTES], a[KQ_SCALARBYTES], b[KQ_SCALARBYTES];
    uint8_t xj[KQ_SCALARBYTES], xm[KQ_SCALARBYTES], xat[KQ_SCALARBYTES];
    KQ_ENSURE(n >= 1 && j < n, KQ_ERR_INVALID_ARG);
    KQ_GUARD(kq_indices_check(xs, n));
    kq_sc_from_u32(num, 1);
    kq_sc_from_u32(den, 1);
    kq_sc_from_u32(xj, xs[j]);
    kq_sc_from_u32(xat, at);
    for (size_t m = 0; m < n; m++) {
        if (m == j)
            continue;
        kq_sc_from_u32(xm, xs[m]);
        crypto_core_ristretto255_scalar_sub(a, xat, xm);
        crypto_core_ristretto255_scalar_mul(num, num, a);
        crypto_core_ristretto255_scalar_sub(b, xj, xm);
        crypto_core_ristretto255_scalar_mul(den, den, b);
    }
    /* den is a product of nonzero differences of distinct indices < L: never zero. */
    KQ_ASSERT(crypto_core_ristretto255_scalar_invert(den, den) == 0);
    crypto_core_ristretto255_scalar_mul(out, num, den);
    return KQ_OK;
}

/* ---- Lagrange at 0 without scalar inversion, interpolation in the exponent -------------- */

/* The group order L as little-endian 32-bit limbs. */
static const uint32_t ORDER_L[8] = {0x5cf5d3edu, 0x5812631au, 0xa2f79cd6u, 0x14def9deu,
                                    0u,          0u,          0u,          0x10000000u};

/* out = a^-1 mod L for 1 <= a < KQ_MAX_PARTICIPANTS, in variable time (a is public):
 * find k < a with a | k*L + 1, then a^-1 = (k*L + 1) / a, which is below L. */
static void inv_small(uint8_t out[KQ_SCALARBYTES], uint32_t a)
{
    uint32_t prod[9];
    uint64_t rem = 0, carry = 1; /* the "+ 1" */
    uint32_t k = 0;
    KQ_ASSERT(a >= 1 && a < KQ_MAX_PARTICIPANTS);
    for (size_t i = 8; i-- > 0;)
        rem = ((rem << 32) | ORDER_L[i]) % a; /* rem = L mod a */
    while ((k * rem + 1) % a != 0) {
        k++;
        KQ_ASSERT(k < a); /* gcd(a, L) = 1: some k < a works */
    }
    for (size_t i = 0; i < 8; i++) {
        uint64_t v = (uint64_t)ORDER_L[i] * k + carry;
        prod[i] = (uint32_t)v;
        carry = v >> 32;
    }
    prod[8] = (uint32_t)carry;
    rem = 0;
    for (size_t i = 9; i-- > 0;) {
        uint64_t cur = (rem << 32) | prod[i];
        prod[i] = (uint32_t)(cur / a);
        rem = cur % a;
    }
    KQ_ASSERT(rem == 0 && prod[8] == 0);
    for (size_t i = 0; i < 8; i++)
        for (size_t j = 0; j < 4; j++)
            out[4 * i + j] = (uint8_t)(prod[i] >> (8 * j));
}

enum kq_err kq_lagrange0(uint8_t (*lambda)[KQ_SCALARBYTES], const uint32_t *xs, size_t n)
{
    uint8_t inv[KQ_MAX_PARTICIPANTS][KQ_SCALARBYTES];
    uint8_t have[KQ_MAX_PARTICIPANTS] = {0};
    uint8_t f[KQ_SCALARBYTES], xm[KQ_SCALARBYTES];
    KQ_ASSERT(lambda != NULL && xs != NULL);
    KQ_ENSURE(n >= 1, KQ_ERR_INVALID_ARG);
    KQ_GUARD(kq_indices_check(xs, n));
    for (size_t j = 0; j < n; j++) {
        kq_sc_from_u32(lambda[j], 1);
        for (size_t m = 0; m < n; m++) {
            if (m == j)
                continue;
            uint32_t d = xs[m] > xs[j] ? xs[m] - xs[j] : xs[j] - xs[m];
            if (!have[d]) {
                inv_small(inv[d], d);
                have[d] = 1;
            }
            kq_sc_from_u32(xm, xs[m]);
            crypto_core_ristretto255_scalar_mul(f, xm, inv[d]);
            if (xs[m] < xs[j])
                crypto_core_ristretto255_scalar_negate(f, f);
            crypto_core_ristretto255_scalar_mul(lambda[j], lambda[j], f);
        }
    }
    return KQ_OK;
}

enum kq_err kq_pt_interpolate0(uint8_t out[KQ_POINTBYTES], const uint32_t *xs,
                               const uint8_t (*pts)[KQ_POINTBYTES], size_t t)
{
    uint8_t lambda[KQ_MAX_THRESHOLD][KQ_SCALARBYTES];
    enum kq_err err = KQ_OK;
    KQ_ASSERT(t >= 1 && t <= KQ_MAX_THRESHOLD);
    for (size_t j = 0; j < t; j++)
        KQ_CHECK(!kq_pt_is_identity(pts[j]), KQ_ERR_BAD_POINT); /* lincomb would accept it */
    KQ_TRY(kq_lagrange0(lambda, xs, t));
    KQ_TRY(kq_pt_lincomb(out, (const uint8_t(*)[KQ_SCALARBYTES])lambda, pts, t));
out:
    if (err != KQ_OK)
        kq_wipe(out, KQ_POINTBYTES);
    return err;
}

/* ---- Feldman VSS -------------------------------------------------------------------------- */

enum kq_err kq_vss_deal(uint8_t (*coeffs)[KQ_SCALARBYTES], uint8_t (*commits)[KQ_POINTBYTES],
                        uint8_t (*shares)[KQ_SCALARBYTES], const uint8_t *secret, size_t t,
                        size_t n)
{
    KQ_ENSURE(t >= 1 && t <= n && n <= KQ_MAX_PARTICIPANTS, KQ_ERR_INVALID_ARG);
    if (secret != NULL) {
        KQ_ENSURE(kq_sc_is_canonical(secret), KQ_ERR_BAD_SCALAR);
        memcpy(coeffs[0], secret, KQ_SCALARBYTES);
    } else {
        kq_sc_random(coeffs[0]);
    }
    for (size_t j = 1; j < t; j++)
        kq_sc_random(coeffs[j]);
    for (size_t j = 0; j < t; j++)
        kq_pt_mul_base(commits[j], coeffs[j]);
    for (size_t i = 0; i < n; i++)
        kq_poly_eval(shares[i], (const uint8_t(*)[KQ_SCALARBYTES])coeffs, t, (uint32_t)(i + 1));
    return KQ_OK;
}

/* Horner on decoded points at each x in xs[0..count): acc = x * acc + C_j. x and the
 * commitments are public, so the small multiplications use double-and-add (about 0.02 M per
 * step for x < 256); each commitment is decoded once for all the x. */
static enum kq_err eval_decoded(uint8_t (*out)[KQ_POINTBYTES], const uint32_t *xs, size_t count,
                                const uint8_t (*commits)[KQ_POINTBYTES], size_t t)
{
    decaf_255_point_t c[KQ_MAX_THRESHOLD], acc;
    KQ_ENSURE(t >= 1 && t <= KQ_MAX_THRESHOLD, KQ_ERR_INVALID_ARG);
    for (size_t i = 0; i < count; i++)
        KQ_ENSURE(xs[i] >= 1 && xs[i] <= KQ_MAX_PARTICIPANTS, KQ_ERR_INVALID_ARG);
    for (size_t j = 0; j < t; j++)
        KQ_GUARD(dec_point(c[j], commits[j], 1));
    for (size_t i = 0; i < count; i++) {
        decaf_255_point_copy(acc, c[t - 1]);
        for (size_t j = t - 1; j-- > 0;) {
            mul_small_public(acc, acc, xs[i]);
            decaf_255_point_add(acc, acc, c[j]);
        }
        decaf_255_point_encode(out[i], acc);
    }
    return KQ_OK;
}

enum kq_err kq_vss_eval_commits(uint8_t out[KQ_POINTBYTES], const uint8_t (*commits)[KQ_POINTBYTES],
                                size_t t, uint32_t x)
{
    return eval_decoded((uint8_t(*)[KQ_POINTBYTES])out, &x, 1, commits, t);
}

enum kq_err kq_vss_public_shares(uint8_t (*out)[KQ_POINTBYTES], size_t n,
                                 const uint8_t (*commits)[KQ_POINTBYTES], size_t t)
{
    uint32_t xs[KQ_MAX_PARTICIPANTS];
    KQ_ENSURE(n >= 1 && n <= KQ_MAX_PARTICIPANTS, KQ_ERR_INVALID_ARG);
    for (size_t i = 0; i < n; i++)
        xs[i] = (uint32_t)(i + 1);
    return eval_decoded(out, xs, n, commits, t);
}

enum kq_err kq_vss_verify_share(const uint8_t share[KQ_SCALARBYTES], uint32_t x,
                                const uint8_t (*commits)[KQ_POINTBYTES], size_t t)
{
    uint8_t lhs[KQ_POINTBYTES], rhs[KQ_POINTBYTES];
    KQ_ENSURE(kq_sc_is_canonical(share), KQ_ERR_BAD_SCALAR);
    KQ_GUARD(kq_vss_eval_commits(rhs, commits, t, x));
    kq_pt_mul_base(lhs, share);
    KQ_DECLASSIFY(lhs, sizeof lhs); /* share * G is the holder's public share */
    KQ_ENSURE(kq_ct_eq(lhs, rhs, KQ_POINTBYTES), KQ_ERR_BAD_SHARE);
    return KQ_OK;
}

/* ---- Proofs ------------------------------------------------------------------------------ */

/* z = k + c * x */
static void sc_muladd(uint8_t z[KQ_SCALARBYTES], const uint8_t k[KQ_SCALARBYTES],
                      const uint8_t c[KQ_SCALARBYTES], const uint8_t x[KQ_SCALARBYTES])
{
    uint8_t cx[KQ_SCALARBYTES];
    crypto_core_ristretto255_scalar_mul(cx, c, x);
    crypto_core_ristretto255_scalar_add(z, k, cx);
    kq_wipe(cx, sizeof cx);
}

/* out = z * P - c * Q, P the base point when p is NULL: the commitment a verifier recomputes.
 * Only public values reach it, so with the base point it uses libdecaf's variable-time double
 * scalar multiplication (about 0.7 M instead of 1.6 M through libsodium's encoded API). */
static enum kq_err recompute(uint8_t out[KQ_POINTBYTES], const uint8_t z[KQ_SCALARBYTES],
                             const uint8_t *p, const uint8_t c[KQ_SCALARBYTES],
                             const uint8_t Q[KQ_POINTBYTES], int allow_identity)
{
    /* each point is decoded here exactly once: the decode is also its validity check */
    decaf_255_point_t P, q, r;
    decaf_255_scalar_t zs, cs, neg_c;
    KQ_GUARD(dec_point(q, Q, allow_identity));
    dec_scalar(zs, z);
    dec_scalar(cs, c);
    decaf_255_scalar_sub(neg_c, decaf_255_scalar_zero, cs);
    if (p == NULL) {
        decaf_255_base_double_scalarmul_non_secret(r, zs, q, neg_c);
    } else {
        KQ_GUARD(dec_point(P, p, allow_identity));
        decaf_255_point_double_scalarmul(r, P, zs, q, neg_c);
    }
    decaf_255_point_encode(out, r);
    return KQ_OK;
}

enum kq_err kq_pt_base_minus_public(uint8_t out[KQ_POINTBYTES], const uint8_t z[KQ_SCALARBYTES],
                                    const uint8_t c[KQ_SCALARBYTES], const uint8_t X[KQ_POINTBYTES])
{
    return recompute(out, z, NULL, c, X, 1);
}

void kq_schnorr_prove_with_nonce(uint8_t proof[KQ_PROOFBYTES], const struct kq_ts *bind,
                                 const uint8_t x[KQ_SCALARBYTES], const uint8_t X[KQ_POINTBYTES],
                                 const uint8_t k[KQ_SCALARBYTES])
{
    uint8_t T[KQ_POINTBYTES];
    struct kq_ts ts = *bind;
    KQ_ASSERT(kq_sc_is_canonical(k) && !kq_sc_is_zero(k));
    kq_pt_mul_base(T, k);
    kq_ts_put(&ts, X, KQ_POINTBYTES);
    kq_ts_put(&ts, T, KQ_POINTBYTES);
    kq_ts_scalar(&ts, proof);
    sc_muladd(proof + KQ_SCALARBYTES, k, proof, x);
}

enum kq_err kq_schnorr_prove(uint8_t proof[KQ_PROOFBYTES], const struct kq_ts *bind,
                             const uint8_t x[KQ_SCALARBYTES], const uint8_t X[KQ_POINTBYTES])
{
    uint8_t k[KQ_SCALARBYTES];
    KQ_GUARD(kq_pt_check(X));
    kq_sc_nonce(k, x, KQ_SCALARBYTES);
    kq_schnorr_prove_with_nonce(proof, bind, x, X, k);
    kq_wipe(k, sizeof k);
    return KQ_OK;
}

enum kq_err kq_schnorr_verify(const uint8_t proof[KQ_PROOFBYTES], const struct kq_ts *bind,
                              const uint8_t X[KQ_POINTBYTES])
{
    const uint8_t *c = proof, *z = proof + KQ_SCALARBYTES;
    uint8_t T[KQ_POINTBYTES], c2[KQ_SCALARBYTES];
    struct kq_ts ts = *bind;
    KQ_ENSURE(kq_sc_is_canonical(c) && kq_sc_is_canonical(z), KQ_ERR_BAD_PROOF);
    KQ_ENSURE(recompute(T, z, NULL, c, X, 0) == KQ_OK, KQ_ERR_BAD_PROOF); /* X: valid, not 0 */
    kq_ts_put(&ts, X, KQ_POINTBYTES);
    kq_ts_put(&ts, T, KQ_POINTBYTES);
    kq_ts_scalar(&ts, c2);
    KQ_ENSURE(kq_ct_eq(c, c2, KQ_SCALARBYTES), KQ_ERR_BAD_PROOF);
    return KQ_OK;
}

static void dleq_challenge(uint8_t c[KQ_SCALARBYTES], const struct kq_ts *bind, const uint8_t *g,
                           const uint8_t A[KQ_POINTBYTES], const uint8_t H[KQ_POINTBYTES],
                           const uint8_t B[KQ_POINTBYTES], const uint8_t T1[KQ_POINTBYTES],
                           const uint8_t T2[KQ_POINTBYTES])
{
    struct kq_ts ts = *bind;
    /* An empty field stands for the standard base point, so the two cases never collide. */
    kq_ts_put(&ts, g, g == NULL ? 0 : KQ_POINTBYTES);
    kq_ts_put(&ts, A, KQ_POINTBYTES);
    kq_ts_put(&ts, H, KQ_POINTBYTES);
    kq_ts_put(&ts, B, KQ_POINTBYTES);
    kq_ts_put(&ts, T1, KQ_POINTBYTES);
    kq_ts_put(&ts, T2, KQ_POINTBYTES);
    kq_ts_scalar(&ts, c);
}

enum kq_err kq_dleq_prove(uint8_t proof[KQ_PROOFBYTES], const struct kq_ts *bind,
                          const uint8_t x[KQ_SCALARBYTES], const uint8_t *g,
                          const uint8_t A[KQ_POINTBYTES], const uint8_t H[KQ_POINTBYTES],
                          const uint8_t B[KQ_POINTBYTES])
{
    uint8_t k[KQ_SCALARBYTES], T1[KQ_POINTBYTES], T2[KQ_POINTBYTES];
    enum kq_err err = KQ_OK;
    KQ_GUARD(kq_pt_check(H));
    if (g != NULL)
        KQ_GUARD(kq_pt_check(g));
    kq_sc_nonce(k, x, KQ_SCALARBYTES);
    if (g == NULL)
        kq_pt_mul_base(T1, k);
    else
        KQ_TRY(kq_pt_mul(T1, k, g));
    KQ_TRY(kq_pt_mul(T2, k, H));
    dleq_challenge(proof, bind, g, A, H, B, T1, T2);
    sc_muladd(proof + KQ_SCALARBYTES, k, proof, x);
out:
    kq_wipe(k, sizeof k);
    return err;
}

enum kq_err kq_dleq_prove_mul(uint8_t B[KQ_POINTBYTES], uint8_t proof[KQ_PROOFBYTES],
                              const struct kq_ts *bind, const uint8_t x[KQ_SCALARBYTES],
                              const uint8_t A[KQ_POINTBYTES], const uint8_t H[KQ_POINTBYTES])
{
    uint8_t k[KQ_SCALARBYTES], T1[KQ_POINTBYTES], T2[KQ_POINTBYTES];
    decaf_255_point_t h, b, t2;
    decaf_255_scalar_t xs, ks;
    enum kq_err err = KQ_OK;
    memset(B, 0, KQ_POINTBYTES);
    memset(proof, 0, KQ_PROOFBYTES);
    KQ_ASSERT(kq_sc_is_canonical(x) && !kq_sc_is_zero(x));
    /* A is the prover's own public share, only hashed here: a wrong A merely makes this proof
     * fail to verify, so it gets the cheap identity check, not a full decode */
    KQ_ENSURE(!kq_pt_is_identity(A), KQ_ERR_BAD_POINT);
    KQ_GUARD(dec_point(h, H, 0));
    kq_sc_nonce(k, x, KQ_SCALARBYTES);
    kq_pt_mul_base(T1, k);
    dec_scalar(xs, x);
    dec_scalar(ks, k);
    decaf_255_point_dual_scalarmul(b, t2, h, xs, ks); /* B = x*H and T2 = k*H together */
    decaf_255_point_encode(B, b);
    decaf_255_point_encode(T2, t2);
    dleq_challenge(proof, bind, NULL, A, H, B, T1, T2);
    sc_muladd(proof + KQ_SCALARBYTES, k, proof, x);
    kq_wipe(k, sizeof k);
    decaf_255_scalar_destroy(xs);
    decaf_255_scalar_destroy(ks);
    decaf_255_point_destroy(t2);
    return err;
}

enum kq_err kq_dleq_verify(const uint8_t proof[KQ_PROOFBYTES], const struct kq_ts *bind,
                           const uint8_t *g, const uint8_t A[KQ_POINTBYTES],
                           const uint8_t H[KQ_POINTBYTES], const uint8_t B[KQ_POINTBYTES])
{
    const uint8_t *c = proof, *z = proof + KQ_SCALARBYTES;
    uint8_t T1[KQ_POINTBYTES], T2[KQ_POINTBYTES], c2[KQ_SCALARBYTES];
    KQ_ENSURE(kq_sc_is_canonical(c) && kq_sc_is_canonical(z), KQ_ERR_BAD_PROOF);
    /* g (if given), A, H and B are each decoded once below, which rejects invalid encodings
     * and the identity */
    KQ_ENSURE(recompute(T1, z, g, c, A, 0) == KQ_OK, KQ_ERR_BAD_PROOF);
    KQ_ENSURE(recompute(T2, z, H, c, B, 0) == KQ_OK, KQ_ERR_BAD_PROOF);
    dleq_challenge(c2, bind, g, A, H, B, T1, T2);
    KQ_ENSURE(kq_ct_eq(c, c2, KQ_SCALARBYTES), KQ_ERR_BAD_PROOF);
    return KQ_OK;
}
