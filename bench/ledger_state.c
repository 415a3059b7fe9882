/* bench/ledger_state: rates of the ledger's authenticated state on one core, each beside the
 * SHA-256 compression rate (H: one 64-byte block, libsodium) measured in the same run, so every
 * figure reads as a cost in H. An update should cost O(log N) H: about 2 log2(N) + a few.
 * Run: make bench (or build/bench/bench_ledger_state [budget_seconds] [keys]). */
#include <sodium.h>

#include "bench_util.h"

#include "base/buf.h"
#include "base/mem.h"
#include "ledger/merkle.h"
#include "ledger/smt.h"

#define MERKLE_LEAVES 1000
#define PROOFS        256

static double g_budget = 0.3;
static size_t g_keys = 100000;
static struct kq_smt *g_tree;
static uint64_t g_rng = 0x243f6a8885a308d3ull;
static uint8_t g_block[64], g_digest[32];
static uint8_t g_proof[PROOFS][KQ_SMT_MAX_PROOF_BYTES];
static size_t g_proof_len[PROOFS];
static kq_hash g_root, g_leaves[MERKLE_LEAVES];
static size_t g_next;

static uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

static size_t key_of(size_t i, char *k)
{
    return (size_t)snprintf(k, 32, "client/%zu", i);
}

static void op_sha_block(void *c)
{
    (void)c;
    /* 55 bytes: one compression with padding */
    crypto_hash_sha256(g_digest, g_block, 55);
    g_block[0] ^= g_digest[0];
}

static void op_update(void *c)
{
    (void)c;
    char k[32];
    uint64_t v = rnd();
    size_t kl = key_of((size_t)(v % g_keys), k);
    struct kq_smt *next;
    if (kq_smt_set(g_tree, (const uint8_t *)k, kl, (const uint8_t *)&v, sizeof v, &next) != KQ_OK)
        abort();
    kq_smt_unref(g_tree);
    g_tree = next;
    kq_smt_root(g_tree, &g_root); /* hashing is lazy: a version's cost is paid at its root */
}

/* A block's worth: 100 updates on a version the previous block still holds (kq_smt_put: the
 * first copies its path, later ones reuse what this block made), then one root. */
static void op_block(void *c)
{
    (void)c;
    struct kq_smt *cur = kq_smt_ref(g_tree);
    for (int i = 0; i < 100; i++) {
        char k[32];
        uint64_t v = rnd();
        size_t kl = key_of((size_t)(v % g_keys), k);
        if (kq_smt_put(&cur, (const uint8_t *)k, kl, (const uint8_t *)&v, sizeof v) != KQ_OK)
            abort();
    }
    kq_smt_root(cur, &g_root);
    kq_smt_unref(g_tree);
    g_tree = cur;
}

static void op_get(void *c)
{
    (void)c;
    char k[32];
    const uint8_t *p;
    size_t n, kl = key_of((size_t)(rnd() % g_keys), k);
    if (kq_smt_get(g_tree, (const uint8_t *)k, kl, &p, &n) != KQ_OK)
        abort();
}

static void op_prove(void *c)
{
    (void)c;
    char k[32];
    struct kq_buf w;
    size_t kl = key_of((size_t)(rnd() % g_keys), k);
    kq_buf_writer(&w, g_proof[0], sizeof g_proof[0]);
    if (kq_smt_prove(g_tree, (const uint8_t *)k, kl, &w) != KQ_OK)
        abort();
}

static void op_verify(void *c)
{
    (void)c;
    char k[32];
    size_t i = g_next++ % PROOFS, kl = key_of(i, k);
    const uint8_t *v;
    size_t vl;
    if (kq_smt_get(g_tree, (const uint8_t *)k, kl, &v, &vl) != KQ_OK ||
        kq_smt_verify(&g_root, (const uint8_t *)k, kl, v, vl, g_proof[i], g_proof_len[i]) != KQ_OK)
        abort();
}

static void op_merkle_root(void *c)
{
    (void)c;
    kq_hash r;
    if (kq_merkle_root(g_leaves, MERKLE_LEAVES, &r) != KQ_OK)
        abort();
}

static void setup(void)
{
    g_tree = kq_smt_new();
    for (size_t i = 0; i < g_keys; i++) {
        char k[32];
        uint64_t v = i;
        size_t kl = key_of(i, k);
        struct kq_smt *next;
        if (g_tree == NULL || kq_smt_set(g_tree, (const uint8_t *)k, kl, (const uint8_t *)&v,
                                         sizeof v, &next) != KQ_OK)
            abort();
        kq_smt_unref(g_tree);
        g_tree = next;
    }
    kq_smt_root(g_tree, &g_root);
    for (size_t i = 0; i < MERKLE_LEAVES; i++)
        kq_hash_tagged(&g_leaves[i], "bench-tx", &i, sizeof i);
}

/* Freezes the tree for the verification row: proofs of PROOFS keys under one root. */
static void setup_proofs(void)
{
    kq_smt_root(g_tree, &g_root);
    for (size_t i = 0; i < PROOFS; i++) {
        char k[32];
        struct kq_buf w;
        size_t kl = key_of(i, k);
        kq_buf_writer(&w, g_proof[i], sizeof g_proof[i]);
        if (kq_smt_prove(g_tree, (const uint8_t *)k, kl, &w) != KQ_OK)
            abort();
        g_proof_len[i] = kq_buf_len(&w);
    }
}

static void row(const char *name, bench_fn fn)
{
    double rate, cost;
    bench_pair(fn, op_sha_block, 2 * g_budget * BENCH_REPEATS, &rate, &cost);
    printf("| %-44s | %10.0f | %9.2f | %7.1f |\n", name, rate, 1e6 / rate, cost);
}

int main(int argc, char **argv)
{
    if (kq_init(0) != KQ_OK)
        return 1;
    if (argc > 1)
        g_budget = atof(argv[1]);
    if (argc > 2)
        g_keys = (size_t)atol(argv[2]);
    if (g_keys < PROOFS)
        g_keys = PROOFS;
    setup();
    setup_proofs();
    double h_rate = bench_rate(op_sha_block, NULL, g_budget);
    printf("bench/ledger_state: one core, a tree of %zu keys, about %.1fs per row\n", g_keys,
           2 * g_budget * BENCH_REPEATS);
    printf("H = one SHA-256 compression (libsodium, 55-byte input): %.3f us, %.0f/s;\n"
           "each row's cost in H is the median of %d ratios of paired bursts\n\n",
           1e6 / h_rate, h_rate, BENCH_PAIRS);
    printf("| %-44s | %10s | %9s | %7s |\n", "operation", "ops/s", "us/op", "H");
    printf("|----------------------------------------------|------------|-----------|---------|\n");
    row("SHA-256 compression (H)", op_sha_block);
    row("SMT verify inclusion proof (root only)", op_verify);
    row("SMT get", op_get);
    row("SMT prove", op_prove);
    row("SMT update + root (new version, old dropped)", op_update);
    row("SMT block: 100 updates (kq_smt_put) + root", op_block);
    row("Merkle root of 1000 tx hashes", op_merkle_root);
    printf("\nproof of the first key: %zu bytes\n", g_proof_len[0]);
    kq_smt_unref(g_tree);
    return 0;
}
