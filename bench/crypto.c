/* bench/crypto: rates of the threshold-cryptography core on one core, each printed beside the
 * ristretto255 variable-base scalar multiplication rate (M) measured in the same run, so every
 * figure reads as a cost in M. Run: make bench (or build/bench/bench_crypto [budget_seconds]). */
#include <sodium.h>

#include "bench_util.h"
#include "crypto_ops.h"

#include "base/mem.h"
#include "crypto/dkg_local.h"
#include "crypto/frost.h"
#include "crypto/group.h"
#include "crypto/label.h"
#include "crypto/partial.h"
#include "crypto/shamir.h"
#include "crypto/tkem.h"
#include "crypto/tprf.h"

static double g_budget = 0.3;

/* ---- primitives ---------------------------------------------------------------------------- */

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

/* ---- report ---------------------------------------------------------------------------- */
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
    crypto_ops_setup();
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
