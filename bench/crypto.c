/* bench/crypto: rates of the threshold-cryptography core on one core, each printed beside the
 * ristretto255 variable-base scalar multiplication rate (M) measured in the same run, so every
 * figure reads as a cost in M. Run: make bench (or build/bench/bench_crypto [budget_seconds]). */
#include <sodium.h>

#include "bench_util.h"

#include "base/mem.h"
#include "crypto/dkg_local.h"
#include "crypto/frost.h"
#include "crypto/group.h"
#include "crypto/label.h"
#include "crypto/partial.h"
#include "crypto/shamir.h"
#include "crypto/tkem.h"
#include "crypto/tprf.h"

#define T 3
#define N 5

static double g_budget = 0.3;

/* ---- primitives ---------------------------------------------------------------------------- */
static uint8_t g_s[32], g_p[32], g_q[32], g_edpk[32], g_edsk[64], g_edsig[64];

static void op_smul(void *c)
{
    (void)c;
    if (crypto_scalarmult_ristretto255(g_q, g_s, g_p) != 0)
        abort();
}

static void op_smul_base(void *c)
{
    (void)c;
    kq_pt_mul_base(g_q, g_s);
}

static void op_ed_sign(void *c)
{
    (void)c;
    crypto_sign_detached(g_edsig, NULL, g_p, 32, g_edsk);
}

static void op_ed_verify(void *c)
{
    (void)c;
    if (crypto_sign_verify_detached(g_edsig, g_p, 32, g_edpk) != 0)
        abort();
}

/* ---- Shamir ------------------------------------------------------------------------------ */
static void op_shamir(void *c)
{
    (void)c;
    static uint8_t secret[32], shares[N][33], out[32];
    const uint8_t *pick[3] = {shares[0], shares[2], shares[4]};
    if (kq_shamir_split(&shares[0][0], 33, secret, 32, 3, N) != KQ_OK ||
        kq_shamir_combine(out, pick, 3, 33) != KQ_OK)
        abort();
}

static uint8_t g_sh_secret[32], g_sh_shares[N][33];

static void op_shamir_split(void *c)
{
    (void)c;
    if (kq_shamir_split(&g_sh_shares[0][0], 33, g_sh_secret, 32, 3, N) != KQ_OK)
        abort();
}

static void op_shamir_combine(void *c)
{
    uint8_t out[32];
    const uint8_t *pick[3] = {g_sh_shares[0], g_sh_shares[2], g_sh_shares[4]};
    (void)c;
    if (kq_shamir_combine(out, pick, 3, 33) != KQ_OK)
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
static void op_wrap(void *c)
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
static void op_wrap_table(void *c)
{
    static uint8_t ct[KQ_TKEM_CTBYTES(32)];
    size_t len;
    uint8_t dek[32] = {1};
    (void)c;
    if (kq_tkem_wrap_table(ct, sizeof ct, &len, g_St, &g_label, dek, 32) != KQ_OK)
        abort();
}

/* A keeper knows its public share S_i (it is on the ledger); kq_tkem_partial recomputes it. */
static void op_partial_recompute(void *c)
{
    (void)c;
    struct kq_tkem_partial p;
    if (kq_tkem_partial(&p, &g_dec, &g_label, g_S, g_shares[0], 1) != KQ_OK)
        abort();
}

static void op_partial(void *c)
{
    (void)c;
    struct kq_tkem_partial p;
    if (kq_tkem_partial_pub(&p, &g_dec, &g_label, g_S, g_shares[0], g_pub[0], 1) != KQ_OK)
        abort();
}

static void op_partial_signed(void *c)
{
    (void)c;
    struct kq_tkem_partial p;
    uint8_t reqid[16] = {0};
    if (kq_tkem_partial_pub(&p, &g_dec, &g_label, g_S, g_shares[0], g_pub[0], 1) != KQ_OK ||
        kq_partial_respond(&g_resp, reqid, &g_label, 1, 0, 1, g_dec.R, &p, NULL, g_edsk) != KQ_OK)
        abort();
}

static void op_combine(void *c)
{
    (void)c;
    uint8_t pt[32];
    size_t n;
    if (kq_tkem_combine(pt, sizeof pt, &n, NULL, &g_dec, &g_label, g_S, g_parts,
                        (const uint8_t(*)[32])g_pub, T, T) != KQ_OK)
        abort();
}

static void op_combine_verified(void *c)
{
    (void)c;
    uint8_t pt[32];
    size_t n;
    if (kq_tkem_combine_verified(pt, sizeof pt, &n, NULL, &g_dec, &g_label, g_S, g_parts,
                                 (const uint8_t(*)[32])g_pub, T, T) != KQ_OK)
        abort();
}

static void op_prf_combine(void *c)
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
static void op_frost_sign(void *c)
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

/* ---- DKG --------------------------------------------------------------------------------- */
static uint32_t g_dkg_n, g_dkg_t;
static struct kq_dkg_result g_dkg_results[16];

/* One whole DKG: every participant deals, verifies every dealing and finalizes, in process. */
static void op_dkg(void *c)
{
    (void)c;
    struct kq_dkg_local_cfg cfg = {.mode = KQ_DKG_FRESH, .n = g_dkg_n, .t = g_dkg_t};
    if (kq_dkg_local_run(&cfg, g_dkg_results) != KQ_OK)
        abort();
    for (uint32_t i = 0; i < g_dkg_n; i++)
        kq_dkg_result_wipe(&g_dkg_results[i]);
}

/* ---- setup and report -------------------------------------------------------------------- */
static void setup(void)
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

static void print_row(const char *name, double r, double cost_m, const char *target, int met)
{
    printf("| %-40s | %10.0f | %9.2f | %7.3f | %-18s | %-6s |\n", name, r, 1e6 / r, cost_m, target,
           met < 0 ? "" : (met ? "met" : "MISSED"));
    fflush(stdout);
}

/* Each row alternates bursts of the operation and of M (bench_pair), so its cost in M is the
 * median of ratios taken on the same machine state. */
static void row(const char *name, bench_fn fn, const char *target, double target_m)
{
    double r, cost;
    bench_pair(fn, op_smul, 2 * g_budget * BENCH_REPEATS, &r, &cost);
    print_row(name, r, cost, target, target_m <= 0 ? -1 : cost <= target_m);
}

int main(int argc, char **argv)
{
    if (kq_init(0) != KQ_OK)
        return 1;
    if (argc > 1)
        g_budget = atof(argv[1]);
    setup();
    double m_rate = bench_rate(op_smul, NULL, g_budget);
    printf("bench/crypto: one core, about %.1fs per row\n", 2 * g_budget * BENCH_REPEATS);
    printf(
        "M = one ristretto255 variable-base scalar multiplication (libsodium): %.1f us, %.0f/s;\n"
        "each row's cost in M is the median of %d ratios, each from a burst of the operation\n"
        "beside a burst of M; ops/s is the median rate of the operation's bursts\n\n",
        1e6 / m_rate, m_rate, BENCH_PAIRS);
    printf("| %-40s | %10s | %9s | %7s | %-18s | %-6s |\n", "operation", "ops/s", "us/op", "M",
           "target", "");
    printf("|------------------------------------------|------------|-----------|---------|"
           "--------------------|--------|\n");
    row("ristretto255 scalarmult (M)", op_smul, "", 0);
    row("ristretto255 base scalarmult", op_smul_base, "", 0);
    row("Ed25519 sign", op_ed_sign, "", 0);
    row("Ed25519 verify", op_ed_verify, "", 0);
    double sh, sh_cost;
    bench_pair(op_shamir, op_smul, 2 * g_budget * BENCH_REPEATS, &sh, &sh_cost);
    print_row("Shamir split+combine 32B 3-of-5", sh, sh_cost, ">= 200000/s", sh >= 200000);
    op_shamir_split(NULL);
    row("  Shamir split 32B 3-of-5", op_shamir_split, "", 0);
    row("  Shamir combine 32B, 3 shares", op_shamir_combine, "", 0);
    row("wrap, cold (S decoded each time)", op_wrap, "", 0);
    row("wrap, client's prepared S (the path)", op_wrap_table, "<= 1.7 M", 1.7);
    row("holder partial, recomputing S_i", op_partial_recompute, "", 0);
    row("holder partial (checks+Z_i+DLEQ)", op_partial, "", 0);
    row("holder partial + signed response", op_partial_signed, "<= 4 M", 4.0);
    row("combine t=3, optimistic", op_combine, "<= t+0.5 = 3.5 M", 3.5);
    row("combine t=3, every proof verified", op_combine_verified, "", 0);
    row("PRF combine t=3 (proofs verified)", op_prf_combine, "", 0);
    row("FROST sign t=3 (3 signers + aggregate)", op_frost_sign, "", 0);
    g_dkg_n = 5;
    g_dkg_t = 3;
    row("DKG n=5 t=3 (all 5 parties, one process)", op_dkg, "", 0);
    g_dkg_n = 16;
    g_dkg_t = 11;
    row("DKG n=16 t=11 (all 16, one process)", op_dkg, "", 0);
    return 0;
}
