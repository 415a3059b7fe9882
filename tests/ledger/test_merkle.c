/* Tests for src/ledger/merkle: roots against a recursive RFC 6962 reference written here with raw
 * SHA-256 (n = 0..70, odd counts), inclusion proofs for every index, wrong leaf, index, size and
 * root rejected, every tampered byte, truncation and extension rejected, and the bounds. */
#include "../test_util.h"

#include "base/buf.h"
#include "base/limits.h"
#include "base/mem.h"
#include "ledger/merkle.h"

#define MAX_N 70

static void ref_tagged(uint8_t out[32], const char *tag, const uint8_t *a, size_t alen,
                       const uint8_t *b, size_t blen)
{
    crypto_hash_sha256_state st;
    uint8_t n = (uint8_t)strlen(tag);
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &n, 1);
    crypto_hash_sha256_update(&st, (const uint8_t *)tag, n);
    crypto_hash_sha256_update(&st, a, alen);
    crypto_hash_sha256_update(&st, b, blen);
    crypto_hash_sha256_final(&st, out);
}

/* RFC 6962 section 2.1: MTH(D[n]) with k the largest power of two below n. */
static void ref_mth(const kq_hash *d, size_t n, uint8_t out[32])
{
    if (n == 0) {
        ref_tagged(out, "kq-ledger-v1/tx-empty", NULL, 0, NULL, 0);
        return;
    }
    if (n == 1) {
        ref_tagged(out, "kq-ledger-v1/tx-leaf", d[0].b, 32, NULL, 0);
        return;
    }
    size_t k = 1;
    while (2 * k < n)
        k *= 2;
    uint8_t l[32], r[32];
    ref_mth(d, k, l);
    ref_mth(d + k, n - k, r);
    ref_tagged(out, "kq-ledger-v1/tx-node", l, 32, r, 32);
}

static kq_hash leaves[MAX_N + 1];

static int setup(void **state)
{
    (void)state;
    if (kq_init(0) != KQ_OK)
        return -1;
    for (size_t i = 0; i <= MAX_N; i++)
        kq_hash_tagged(&leaves[i], "test-tx", &i, sizeof i);
    return 0;
}

static void test_roots(void **state)
{
    (void)state;
    kq_hash root;
    uint8_t want[32];
    for (size_t n = 0; n <= MAX_N; n++) {
        assert_int_equal(kq_merkle_root(leaves, n, &root), KQ_OK);
        ref_mth(leaves, n, want);
        assert_memory_equal(root.b, want, 32);
    }
    assert_int_equal(kq_merkle_root(NULL, 0, &root), KQ_OK); /* n = 0: fixed root, no leaves */
    ref_mth(leaves, 0, want);
    assert_memory_equal(root.b, want, 32);
    /* order matters, and a leaf is not a one-leaf tree's root */
    kq_hash swapped[2] = {leaves[1], leaves[0]}, r2;
    assert_int_equal(kq_merkle_root(leaves, 2, &root), KQ_OK);
    assert_int_equal(kq_merkle_root(swapped, 2, &r2), KQ_OK);
    assert_false(kq_hash_eq(&root, &r2));
    assert_int_equal(kq_merkle_root(leaves, 1, &root), KQ_OK);
    assert_false(kq_hash_eq(&root, &leaves[0]));
}

static size_t prove(size_t n, size_t i, uint8_t *buf, size_t cap)
{
    struct kq_buf w;
    kq_buf_writer(&w, buf, cap);
    assert_int_equal(kq_merkle_prove(leaves, n, i, &w), KQ_OK);
    return kq_buf_len(&w);
}

static void test_proofs(void **state)
{
    (void)state;
    uint8_t proof[KQ_MERKLE_MAX_PROOF_BYTES + 1];
    for (size_t n = 1; n <= MAX_N; n++) {
        kq_hash root, other_root;
        assert_int_equal(kq_merkle_root(leaves, n, &root), KQ_OK);
        assert_int_equal(kq_merkle_root(leaves, n + 1, &other_root), KQ_OK);
        for (size_t i = 0; i < n; i++) {
            size_t len = prove(n, i, proof, sizeof proof);
            const kq_hash *leaf = &leaves[i];
            assert_int_equal(kq_merkle_verify(&root, n, i, leaf, proof, len), KQ_OK);
            assert_int_equal(kq_merkle_verify(&root, n, i, &leaves[n], proof, len),
                             KQ_ERR_BAD_PROOF);
            assert_int_equal(kq_merkle_verify(&other_root, n, i, leaf, proof, len),
                             KQ_ERR_BAD_PROOF);
            if (i + 1 < n) /* a sibling's position: wrong count or wrong fold */
                assert_int_not_equal(kq_merkle_verify(&root, n, i + 1, leaf, proof, len), KQ_OK);
            /* A root does not bind n (the header's tx_count does): the size check is the
             * path length, e.g. a proof for 13 leaves never passes for 5. */
            if (n == 13)
                assert_int_equal(kq_merkle_verify(&root, 5, i % 5, leaf, proof, len),
                                 KQ_ERR_FORMAT);
        }
    }
    size_t len = prove(1, 0, proof, sizeof proof); /* n = 1: no siblings */
    assert_int_equal(len, 2);
}

static void test_tamper(void **state)
{
    (void)state;
    static const uint8_t masks[] = {0x01, 0x80, 0xff};
    uint8_t proof[KQ_MERKLE_MAX_PROOF_BYTES + 1];
    const size_t sizes[] = {1, 2, 5, 13, 64, 70};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        kq_hash root;
        assert_int_equal(kq_merkle_root(leaves, n, &root), KQ_OK);
        for (size_t i = 0; i < n; i += 3) {
            size_t len = prove(n, i, proof, sizeof proof - 1);
            for (size_t b = 0; b < len; b++) {
                for (size_t m = 0; m < sizeof masks; m++) {
                    proof[b] ^= masks[m];
                    assert_int_not_equal(kq_merkle_verify(&root, n, i, &leaves[i], proof, len),
                                         KQ_OK);
                    proof[b] ^= masks[m];
                }
            }
            for (size_t cut = 0; cut < len; cut++)
                assert_int_not_equal(kq_merkle_verify(&root, n, i, &leaves[i], proof, cut), KQ_OK);
            proof[len] = 0;
            assert_int_equal(kq_merkle_verify(&root, n, i, &leaves[i], proof, len + 1),
                             KQ_ERR_FORMAT);
            assert_int_equal(kq_merkle_verify(&root, n, i, &leaves[i], proof, len), KQ_OK);
        }
    }
    size_t len = prove(5, 0, proof, sizeof proof);
    kq_hash root;
    assert_int_equal(kq_merkle_root(leaves, 5, &root), KQ_OK);
    proof[0] = 2;
    assert_int_equal(kq_merkle_verify(&root, 5, 0, &leaves[0], proof, len), KQ_ERR_VERSION);
    proof[0] = 1;
    proof[1]++;
    assert_int_equal(kq_merkle_verify(&root, 5, 0, &leaves[0], proof, len), KQ_ERR_FORMAT);
    assert_int_equal(kq_merkle_verify(&root, 5, 0, &leaves[0], proof, 0), KQ_ERR_TRUNCATED);
}

static void test_bounds(void **state)
{
    (void)state;
    uint8_t proof[KQ_MERKLE_MAX_PROOF_BYTES];
    kq_hash root;
    struct kq_buf w;
    assert_int_equal(kq_merkle_root(leaves, (size_t)KQ_LEDGER_MERKLE_MAX_LEAVES + 1, &root),
                     KQ_ERR_LIMIT);
    assert_true(kq_hash_is_zero(&root));
    kq_buf_writer(&w, proof, sizeof proof);
    assert_int_equal(kq_merkle_prove(leaves, (size_t)KQ_LEDGER_MERKLE_MAX_LEAVES + 1, 0, &w),
                     KQ_ERR_LIMIT);
    assert_int_equal(kq_merkle_prove(leaves, 5, 5, &w), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_merkle_prove(leaves, 0, 0, &w), KQ_ERR_INVALID_ARG);
    kq_buf_writer(&w, proof, 2 + 2 * 32); /* 5 leaves, index 0: three siblings */
    assert_int_equal(kq_merkle_prove(leaves, 5, 0, &w), KQ_ERR_OVERFLOW);
    assert_int_equal(kq_buf_len(&w), 0);
    size_t len = prove(5, 4, proof, sizeof proof); /* index 4: one sibling */
    assert_int_equal(len, 2 + 32);
    assert_int_equal(kq_merkle_root(leaves, 5, &root), KQ_OK);
    assert_int_equal(kq_merkle_verify(&root, 5, 5, &leaves[4], proof, len), KQ_ERR_INVALID_ARG);
    assert_int_equal(
        kq_merkle_verify(&root, (size_t)KQ_LEDGER_MERKLE_MAX_LEAVES + 1, 4, &leaves[4], proof, len),
        KQ_ERR_LIMIT);
    /* the largest tree's deepest path fits a proof */
    assert_true((size_t)1 << (KQ_MERKLE_MAX_PROOF_HASHES - 1) >= KQ_LEDGER_MERKLE_MAX_LEAVES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roots),
        cmocka_unit_test(test_proofs),
        cmocka_unit_test(test_tamper),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
