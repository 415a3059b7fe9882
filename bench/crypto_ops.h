/* Operations of the threshold-cryptography core on locally dealt shares, shared by
 * bench/crypto (their rates in M) and bench/keys (the cluster's floors: what one operation costs
 * the keepers and the combiner). Static inline: each bench uses a subset. */
#ifndef KQ_BENCH_CRYPTO_OPS_H
#define KQ_BENCH_CRYPTO_OPS_H
#include <sodium.h>
#include <stdlib.h>

#include "base/mem.h"
#include "crypto/frost.h"
#include "crypto/group.h"
#include "crypto/label.h"
#include "crypto/partial.h"
#include "crypto/tkem.h"
#include "crypto/tprf.h"

#define T 3
#define N 5

static uint8_t g_s[32], g_p[32], g_q[32], g_edpk[32], g_edsk[64], g_edsig[64];

static inline void op_smul(void *c)
{
    (void)c;
    if (crypto_scalarmult_ristretto255(g_q, g_s, g_p) != 0)
        abort();
}

/* ---- threshold encryption ---------------------------------------------------------------- */
static struct kq_label g_label, g_dlabel;
static uint8_t g_shares[N][32], g_pub[N][32], g_S[32], g_ct[KQ_TKEM_CTBYTES(32)];
static size_t g_ct_len;
static struct kq_tkem_ct g_dec;
static struct kq_tkem_partial g_parts[N];
static struct kq_tprf_partial g_dparts[N];
static struct kq_partial_resp g_resp;

/* Wraps into its own buffer: g_ct stays the ciphertext that g_dec points into. */
static inline void op_wrap(void *c)
{
    static uint8_t ct[KQ_TKEM_CTBYTES(32)];
    size_t len;
    uint8_t dek[32] = {1};
    uint8_t *out = c == NULL ? ct : g_ct;
    if (kq_tkem_wrap(out, sizeof ct, c == NULL ? &len : &g_ct_len, g_S, &g_label, dek, 32) != KQ_OK)
        abort();
}

static struct kq_pt_table *g_St;

/* The client library's path: S's table was built once, when S was fetched and verified. */
static inline void op_wrap_table(void *c)
{
    static uint8_t ct[KQ_TKEM_CTBYTES(32)];
    size_t len;
    uint8_t dek[32] = {1};
    (void)c;
    if (kq_tkem_wrap_table(ct, sizeof ct, &len, g_St, &g_label, dek, 32) != KQ_OK)
        abort();
}

/* A keeper knows its public share S_i (it is on the ledger); kq_tkem_partial recomputes it. */
static inline void op_partial_recompute(void *c)
{
    (void)c;
    struct kq_tkem_partial p;
    if (kq_tkem_partial(&p, &g_dec, &g_label, g_S, g_shares[0], 1) != KQ_OK)
        abort();
}

static inline void op_partial(void *c)
{
    (void)c;
    struct kq_tkem_partial p;
    if (kq_tkem_partial_pub(&p, &g_dec, &g_label, g_S, g_shares[0], g_pub[0], 1) != KQ_OK)
        abort();
}

static inline void op_partial_signed(void *c)
{
    (void)c;
    struct kq_tkem_partial p;
    uint8_t reqid[16] = {0};
    if (kq_tkem_partial_pub(&p, &g_dec, &g_label, g_S, g_shares[0], g_pub[0], 1) != KQ_OK ||
        kq_partial_respond(&g_resp, reqid, &g_label, 1, 0, 1, g_dec.R, &p, NULL, g_edsk) != KQ_OK)
        abort();
}

static inline void op_combine(void *c)
{
    (void)c;
    uint8_t pt[32];
    size_t n;
    if (kq_tkem_combine(pt, sizeof pt, &n, NULL, &g_dec, &g_label, g_S, g_parts,
                        (const uint8_t(*)[32])g_pub, T, T) != KQ_OK)
        abort();
}

static inline void op_combine_verified(void *c)
{
    (void)c;
    uint8_t pt[32];
    size_t n;
    if (kq_tkem_combine_verified(pt, sizeof pt, &n, NULL, &g_dec, &g_label, g_S, g_parts,
                                 (const uint8_t(*)[32])g_pub, T, T) != KQ_OK)
        abort();
}

static inline void op_prf_combine(void *c)
{
    (void)c;
    uint8_t key[32];
    if (kq_tprf_combine(key, NULL, &g_dlabel, g_dparts, (const uint8_t(*)[32])g_pub, T, T) != KQ_OK)
        abort();
}

/* ---- FROST ------------------------------------------------------------------------------- */
static struct kq_frost_key_package g_kp[N];
static struct kq_frost_public_package g_fpub;

/* One whole signature: T signers commit and sign, the coordinator aggregates (and verifies). */
static inline void op_frost_sign(void *c)
{
    (void)c;
    struct kq_frost_nonces nonces[T];
    struct kq_frost_commitment list[T];
    uint8_t z[T][32], sig[64];
    static const uint8_t msg[32] = {7};
    for (int i = 0; i < T; i++)
        if (kq_frost_commit(&nonces[i], &list[i], &g_kp[i]) != KQ_OK)
            abort();
    for (int i = 0; i < T; i++)
        if (kq_frost_sign(z[i], &nonces[i], &g_kp[i], list, T, msg, sizeof msg) != KQ_OK)
            abort();
    if (kq_frost_aggregate(sig, &g_fpub, list, T, (const uint8_t(*)[32])z, msg, sizeof msg, NULL) !=
        KQ_OK)
        abort();
}

static inline void crypto_ops_setup(void)
{
    uint8_t coeffs[T][32], commits[T][32];
    static const uint8_t ctx_k[] = "tenant", ctx_v[] = "acme";
    struct kq_ctx_pair ctx = {ctx_k, 6, ctx_v, 4};
    kq_sc_random(g_s);
    kq_sc_random(g_q);
    kq_pt_mul_base(g_p, g_q);
    crypto_sign_keypair(g_edpk, g_edsk);
    crypto_sign_detached(g_edsig, NULL, g_p, 32, g_edsk);
    if (kq_vss_deal(coeffs, commits, g_shares, NULL, T, N) != KQ_OK)
        abort();
    kq_pt_mul_base(g_S, coeffs[0]);
    for (int i = 0; i < N; i++)
        kq_pt_mul_base(g_pub[i], g_shares[i]);
    kq_wipe(coeffs, sizeof coeffs);
    if (kq_label_build(&g_label, (const uint8_t *)"bench-key", 9, 1, KQ_PURPOSE_DEK, &ctx, 1) !=
            KQ_OK ||
        kq_label_build(&g_dlabel, (const uint8_t *)"bench-key", 9, 1, KQ_PURPOSE_DERIVE, &ctx, 1) !=
            KQ_OK)
        abort();
    op_wrap(g_ct); /* non-NULL: into g_ct */
    if (kq_pt_table_new(&g_St, g_S) != KQ_OK)
        abort();
    if (kq_tkem_decode(&g_dec, g_ct, g_ct_len) != KQ_OK)
        abort();
    for (uint32_t i = 0; i < N; i++)
        if (kq_tkem_partial(&g_parts[i], &g_dec, &g_label, g_S, g_shares[i], i + 1) != KQ_OK ||
            kq_tprf_partial(&g_dparts[i], &g_dlabel, g_shares[i], i + 1) != KQ_OK)
            abort();
    if (kq_frost_keygen_dealer(g_kp, &g_fpub, T, N) != KQ_OK)
        abort();
}

#endif
