/* Threshold PRF. Invariants: P is always computed here from the label, never taken from a
 * caller; every partial's proof is checked before it enters the interpolation; Y, the terms
 * and the key are wiped on every failure path. */
#include "crypto/tprf.h"

#include <string.h>

#include "base/ct.h"
#include "base/mem.h"
#include "crypto/tkem.h"

KQ_STATIC_ASSERT(KQ_TPRF_KEYBYTES <= 64, "key is a SHA-512 prefix");

size_t kq_tprf_keybytes(void)
{
    return KQ_TPRF_KEYBYTES;
}

enum kq_err kq_tprf_point(uint8_t P[KQ_POINTBYTES], const struct kq_label *label)
{
    struct kq_ts ts;
    KQ_ASSERT(P != NULL && label != NULL);
    memset(P, 0, KQ_POINTBYTES);
    KQ_ENSURE(label->purpose == KQ_PURPOSE_DERIVE && label->len > 0, KQ_ERR_TYPE);
    kq_ts_init(&ts, KQ_TPRF_POINT_TAG);
    kq_ts_put(&ts, label->bytes, label->len);
    kq_ts_point(&ts, P);
    return KQ_OK;
}

static void partial_bind(struct kq_ts *ts, const uint8_t digest[KQ_LABEL_DIGESTBYTES],
                         uint32_t index)
{
    kq_ts_init(ts, KQ_TPRF_PARTIAL_TAG);
    kq_ts_put(ts, digest, KQ_LABEL_DIGESTBYTES);
    kq_ts_put_u32(ts, index);
}

enum kq_err kq_tprf_partial_pub(struct kq_tprf_partial *out, const struct kq_label *label,
                                const uint8_t share[KQ_SCALARBYTES],
                                const uint8_t S_i[KQ_POINTBYTES], uint32_t index)
{
    uint8_t P[KQ_POINTBYTES], digest[KQ_LABEL_DIGESTBYTES];
    struct kq_ts bind;
    enum kq_err err = KQ_OK;
    KQ_ASSERT(out != NULL && label != NULL && share != NULL && S_i != NULL);
    memset(out, 0, sizeof *out);
    KQ_TRY(kq_tprf_point(P, label));
    KQ_TRY(kq_sc_check(share));
    KQ_CHECK(index != 0, KQ_ERR_ZERO_INDEX);
    KQ_CHECK(index <= KQ_MAX_PARTICIPANTS, KQ_ERR_LIMIT);
    kq_label_digest(digest, label);
    partial_bind(&bind, digest, index);
    /* Y_i = s_i * P and the proof's k * P in one dual multiplication of P */
    KQ_TRY(kq_dleq_prove_mul(out->Y, out->proof, &bind, share, S_i, P));
    out->index = index;
out:
    if (err != KQ_OK)
        memset(out, 0, sizeof *out);
    return err;
}

enum kq_err kq_tprf_partial(struct kq_tprf_partial *out, const struct kq_label *label,
                            const uint8_t share[KQ_SCALARBYTES], uint32_t index)
{
    uint8_t S_i[KQ_POINTBYTES] = {0};
    KQ_ASSERT(share != NULL);
    if (kq_sc_is_canonical(share)) {
        kq_pt_mul_base(S_i, share);
        KQ_DECLASSIFY(S_i, sizeof S_i); /* the public share: on the ledger */
    }
    /* a zero or non-canonical share is refused by kq_tprf_partial_pub before S_i is used */
    return kq_tprf_partial_pub(out, label, share, S_i, index);
}

enum kq_err kq_tprf_partial_verify(const struct kq_tprf_partial *p,
                                   const uint8_t digest[KQ_LABEL_DIGESTBYTES],
                                   const uint8_t P[KQ_POINTBYTES], const uint8_t S_i[KQ_POINTBYTES])
{
    struct kq_ts bind;
    KQ_ASSERT(p != NULL && digest != NULL && P != NULL && S_i != NULL);
    KQ_ENSURE(p->index != 0 && p->index <= KQ_MAX_PARTICIPANTS, KQ_ERR_BAD_PROOF);
    partial_bind(&bind, digest, p->index);
    KQ_ENSURE(kq_dleq_verify(p->proof, &bind, NULL, S_i, P, p->Y) == KQ_OK, KQ_ERR_BAD_PROOF);
    return KQ_OK;
}

static enum kq_err check_parts(const struct kq_tprf_partial *parts, size_t nparts, size_t t)
{
    uint32_t xs[KQ_MAX_PARTICIPANTS] = {0};
    KQ_ENSURE(t >= 1 && t <= KQ_MAX_THRESHOLD, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(nparts >= t, KQ_ERR_THRESHOLD);
    KQ_ENSURE(nparts <= KQ_MAX_PARTICIPANTS, KQ_ERR_LIMIT);
    for (size_t k = 0; k < nparts; k++)
        xs[k] = parts[k].index;
    return kq_indices_check(xs, nparts);
}

/* Y = sum lambda_j Y_j over parts[sel[0..t)], all of which carry verified proofs (so every
 * Y_j is a valid non-identity point). */
static enum kq_err interpolate(uint8_t Y[KQ_POINTBYTES], const struct kq_tprf_partial *parts,
                               const uint8_t *sel, size_t t)
{
    uint8_t pts[KQ_MAX_THRESHOLD][KQ_POINTBYTES];
    uint32_t xs[KQ_MAX_THRESHOLD] = {0};
    KQ_ASSERT(t >= 1 && t <= KQ_MAX_THRESHOLD);
    for (size_t j = 0; j < t; j++) {
        xs[j] = parts[sel[j]].index;
        memcpy(pts[j], parts[sel[j]].Y, KQ_POINTBYTES);
    }
    enum kq_err err = kq_pt_interpolate0(Y, xs, (const uint8_t(*)[KQ_POINTBYTES])pts, t);
    kq_wipe(pts, t * KQ_POINTBYTES);
    return err;
}

/* Checks every partial into bad[], selects the first t good ones into sel; returns good count. */
static size_t screen(uint8_t *bad, uint8_t *sel, const struct kq_label *label,
                     const uint8_t P[KQ_POINTBYTES], const struct kq_tprf_partial *parts,
                     const uint8_t (*S_i)[KQ_POINTBYTES], size_t nparts, size_t t)
{
    uint8_t digest[KQ_LABEL_DIGESTBYTES];
    size_t good = 0;
    kq_label_digest(digest, label);
    for (size_t k = 0; k < nparts; k++) {
        bad[k] = kq_tprf_partial_verify(&parts[k], digest, P, S_i[k]) != KQ_OK;
        if (!bad[k] && good < t)
            sel[good++] = (uint8_t)k;
    }
    return good;
}

static void derive_key(uint8_t key[KQ_TPRF_KEYBYTES], const uint8_t Y[KQ_POINTBYTES],
                       const struct kq_label *label)
{
    uint8_t h[64];
    struct kq_ts ts;
    kq_ts_init(&ts, KQ_TPRF_KEY_TAG);
    kq_ts_put(&ts, Y, KQ_POINTBYTES);
    kq_ts_put(&ts, label->bytes, label->len);
    kq_ts_digest(&ts, h);
    memcpy(key, h, KQ_TPRF_KEYBYTES);
    kq_wipe(h, sizeof h);
}

enum kq_err kq_tprf_combine(uint8_t key[KQ_TPRF_KEYBYTES], uint8_t *faulty,
                            const struct kq_label *label, const struct kq_tprf_partial *parts,
                            const uint8_t (*S_i)[KQ_POINTBYTES], size_t nparts, size_t t)
{
    uint8_t P[KQ_POINTBYTES], Y[KQ_POINTBYTES] = {0};
    uint8_t bad[KQ_MAX_PARTICIPANTS] = {0}, sel[KQ_MAX_PARTICIPANTS] = {0};
    enum kq_err err = KQ_OK;
    KQ_ASSERT(key != NULL && label != NULL && parts != NULL && S_i != NULL);
    KQ_TRY(kq_tprf_point(P, label));
    KQ_TRY(check_parts(parts, nparts, t));
    KQ_CHECK(screen(bad, sel, label, P, parts, S_i, nparts, t) >= t, KQ_ERR_BAD_PROOF);
    KQ_TRY(interpolate(Y, parts, sel, t));
    derive_key(key, Y, label);
out:
    if (faulty != NULL && nparts <= KQ_MAX_PARTICIPANTS)
        memcpy(faulty, bad, nparts);
    kq_wipe(Y, sizeof Y);
    if (err != KQ_OK)
        kq_wipe(key, KQ_TPRF_KEYBYTES);
    return err;
}

enum kq_err kq_tprf_epoch_label(struct kq_label *out, const uint8_t *key_id, size_t key_id_len,
                                uint32_t version, uint64_t epoch)
{
    uint8_t be[8];
    for (size_t i = 0; i < sizeof be; i++)
        be[i] = (uint8_t)(epoch >> (56 - 8 * i));
    struct kq_ctx_pair pair = {(const uint8_t *)KQ_TPRF_EPOCH_CTX_KEY,
                               sizeof KQ_TPRF_EPOCH_CTX_KEY - 1, be, sizeof be};
    return kq_label_build(out, key_id, key_id_len, version, KQ_PURPOSE_DERIVE, &pair, 1);
}
