/* Constant-time check of the crypto core, run by ctest under valgrind memcheck: every secret
 * input (shares, coefficients, nonces, wrap randomness, data keys) is marked undefined with
 * KQ_SECRET, so memcheck reports any branch or memory index that depends on it. Deliberate
 * public predicates are declassified in the code (src/base/ct.h). A clean run exits 0;
 * --error-exitcode makes any report fail the test. Outputs that are public by design (points
 * sent to others, decisions) are declassified here before they are compared. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/ct.h"
#include "base/mem.h"
#include "crypto/dkg_local.h"
#include "crypto/frost.h"
#include "crypto/group.h"
#include "crypto/label.h"
#include "crypto/shamir.h"
#include "crypto/tkem.h"
#include "crypto/tprf.h"

#define T 3
#define N 5
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "ct_check: %s failed (line %d)\n", #cond, __LINE__);                   \
            exit(2);                                                                               \
        }                                                                                          \
    } while (0)

static struct kq_label g_label, g_dlabel;
static uint8_t g_shares[N][32], g_pub[N][32], g_S[32];

/* The result of a call on secret inputs: its error code is public by design. */
static enum kq_err pub_err(enum kq_err e)
{
    KQ_DECLASSIFY(&e, sizeof e);
    return e;
}

static void check_shamir(void)
{
    uint8_t secret[32], shares[N][33], out[32];
    const uint8_t *pick[T] = {shares[0], shares[2], shares[4]};
    kq_random(secret, sizeof secret);
    KQ_SECRET(secret, sizeof secret);
    CHECK(pub_err(kq_shamir_split(&shares[0][0], 33, secret, 32, T, N)) == KQ_OK);
    KQ_SECRET(shares, sizeof shares);
    for (int i = 0; i < N; i++)
        KQ_DECLASSIFY(&shares[i][32], 1); /* x coordinates are public */
    CHECK(pub_err(kq_shamir_combine(out, pick, T, 33)) == KQ_OK);
    KQ_DECLASSIFY(out, sizeof out);
    KQ_DECLASSIFY(secret, sizeof secret);
    CHECK(memcmp(out, secret, 32) == 0);
}

static void check_proofs(void)
{
    uint8_t x[32], X[32], h[32], H[32], B[32], proof[64];
    struct kq_ts bind;
    kq_ts_init(&bind, "ct/proofs");
    kq_sc_random(x);
    kq_sc_random(h);
    kq_pt_mul_base(H, h);
    KQ_SECRET(x, sizeof x);
    kq_pt_mul_base(X, x);
    KQ_DECLASSIFY(X, sizeof X); /* a public key */
    CHECK(pub_err(kq_schnorr_prove(proof, &bind, x, X)) == KQ_OK);
    KQ_DECLASSIFY(proof, sizeof proof);
    CHECK(kq_schnorr_verify(proof, &bind, X) == KQ_OK);
    CHECK(pub_err(kq_dleq_prove_mul(B, proof, &bind, x, X, H)) == KQ_OK);
    KQ_DECLASSIFY(B, sizeof B);
    KQ_DECLASSIFY(proof, sizeof proof);
    CHECK(kq_dleq_verify(proof, &bind, NULL, X, H, B) == KQ_OK);
}

static void check_wrap_and_holder(void)
{
    uint8_t ct[KQ_TKEM_CTBYTES(32)], dek[32], pt[32];
    size_t len, pt_len;
    struct kq_tkem_coins coins;
    struct kq_tkem_ct dec;
    struct kq_tkem_partial parts[T];
    struct kq_pt_table *St = NULL;
    kq_random(dek, sizeof dek);
    kq_sc_random(coins.r);
    kq_sc_random(coins.k);
    kq_random(coins.nonce, sizeof coins.nonce);
    KQ_SECRET(dek, sizeof dek);
    KQ_SECRET(&coins, sizeof coins);
    CHECK(pub_err(kq_tkem_wrap_with(ct, sizeof ct, &len, g_S, &g_label, dek, 32, &coins)) == KQ_OK);
    KQ_DECLASSIFY(ct, sizeof ct); /* the ciphertext is public */
    KQ_DECLASSIFY(&len, sizeof len);
    CHECK(pub_err(kq_pt_table_new(&St, g_S)) == KQ_OK);
    uint8_t Z[32];
    kq_pt_table_mul(Z, St, coins.r); /* the client's prepared-S path */
    kq_pt_table_free(St);
    CHECK(kq_tkem_decode(&dec, ct, len) == KQ_OK);
    for (uint32_t i = 0; i < T; i++) {
        uint8_t share[32];
        memcpy(share, g_shares[i], 32);
        KQ_SECRET(share, sizeof share);
        CHECK(pub_err(kq_tkem_partial_pub(&parts[i], &dec, &g_label, g_S, share, g_pub[i],
                                          i + 1)) == KQ_OK);
        KQ_DECLASSIFY(&parts[i], sizeof parts[i]); /* a partial is sent to the combiner */
    }
    CHECK(kq_tkem_combine(pt, sizeof pt, &pt_len, NULL, &dec, &g_label, g_S, parts,
                          (const uint8_t(*)[32])g_pub, T, T) == KQ_OK);
    KQ_DECLASSIFY(pt, sizeof pt);
    KQ_DECLASSIFY(dek, sizeof dek);
    CHECK(memcmp(pt, dek, 32) == 0);
}

static void check_prf(void)
{
    struct kq_tprf_partial p;
    uint8_t share[32];
    memcpy(share, g_shares[1], 32);
    KQ_SECRET(share, sizeof share);
    CHECK(pub_err(kq_tprf_partial(&p, &g_dlabel, share, 2)) == KQ_OK);
}

static void check_frost(void)
{
    static struct kq_frost_key_package kp[N];
    static struct kq_frost_public_package pub;
    struct kq_frost_nonces nonces[T];
    struct kq_frost_commitment list[T];
    uint8_t z[T][32], sig[64];
    static const uint8_t msg[] = "constant time";
    CHECK(kq_frost_keygen_dealer(kp, &pub, T, N) == KQ_OK);
    for (int i = 0; i < T; i++) {
        KQ_SECRET(kp[i].signing_share, 32);
        CHECK(pub_err(kq_frost_commit(&nonces[i], &list[i], &kp[i])) == KQ_OK);
        KQ_DECLASSIFY(&list[i], sizeof list[i]); /* commitments are broadcast */
    }
    for (int i = 0; i < T; i++) {
        CHECK(pub_err(kq_frost_sign(z[i], &nonces[i], &kp[i], list, T, msg, sizeof msg)) == KQ_OK);
        KQ_DECLASSIFY(z[i], 32); /* signature shares are sent to the coordinator */
    }
    CHECK(kq_frost_aggregate(sig, &pub, list, T, (const uint8_t(*)[32])z, msg, sizeof msg, NULL) ==
          KQ_OK);
}

/* A whole DKG with its seed secret (every coefficient, epoch key and share derives from it), then
 * a refresh with the old shares secret too. Broadcasts, epoch public keys and public shares are
 * public by design and declassified where they are made. */
static void check_dkg(void)
{
    static struct kq_dkg_result old[N], fresh[N];
    uint8_t seed[32], seed2[32];
    kq_random(seed, sizeof seed);
    kq_random(seed2, sizeof seed2);
    KQ_SECRET(seed, sizeof seed);
    KQ_SECRET(seed2, sizeof seed2);
    struct kq_dkg_local_cfg cfg = {.mode = KQ_DKG_FRESH, .n = N, .t = T, .seed = seed};
    CHECK(pub_err(kq_dkg_local_run(&cfg, old)) == KQ_OK);
    for (int i = 0; i < N; i++)
        KQ_SECRET(old[i].share, 32);
    struct kq_dkg_local_cfg rcfg = {
        .mode = KQ_DKG_REFRESH, .n = N, .t = T, .seed = seed2, .old = old};
    CHECK(pub_err(kq_dkg_local_run(&rcfg, fresh)) == KQ_OK);
    for (int i = 0; i < N; i++) {
        kq_dkg_result_wipe(&old[i]);
        kq_dkg_result_wipe(&fresh[i]);
    }
}

int main(void)
{
    uint8_t coeffs[T][32], commits[T][32];
    CHECK(kq_init(0) == KQ_OK);
    CHECK(kq_vss_deal(coeffs, commits, g_shares, NULL, T, N) == KQ_OK);
    memcpy(g_S, commits[0], 32);
    for (int i = 0; i < N; i++)
        kq_pt_mul_base(g_pub[i], g_shares[i]);
    kq_wipe(coeffs, sizeof coeffs);
    CHECK(kq_label_build(&g_label, (const uint8_t *)"ct", 2, 1, KQ_PURPOSE_DEK, NULL, 0) == KQ_OK);
    CHECK(kq_label_build(&g_dlabel, (const uint8_t *)"ct", 2, 1, KQ_PURPOSE_DERIVE, NULL, 0) ==
          KQ_OK);
    check_shamir();
    check_proofs();
    check_wrap_and_holder();
    check_prf();
    check_frost();
    check_dkg();
    printf("ct_check: 6 passed, 0 failed\n");
    return 0;
}
