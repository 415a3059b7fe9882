/* RFC 6962 tree hash over tx hashes with tagged leaves and nodes. The root is computed streaming
 * with a stack of perfect subtrees (at most one per height, so KQ_MERKLE_MAX_PROOF_HASHES + 1
 * entries): no allocation and no recursion. Proof verification is RFC 9162 section 2.1.3.2. */
#include "ledger/merkle.h"

#include <string.h>

#define TAG_LEAF  "kq-ledger-v1/tx-leaf"
#define TAG_NODE  "kq-ledger-v1/tx-node"
#define TAG_EMPTY "kq-ledger-v1/tx-empty"

#define PROOF_VERSION 1

static void leaf_hash(const kq_hash *leaf, kq_hash *out)
{
    kq_hash_tagged(out, TAG_LEAF, leaf->b, KQ_HASH_BYTES);
}

static void node_hash(const kq_hash *l, const kq_hash *r, kq_hash *out)
{
    kq_hash_tagged2(out, TAG_NODE, l, r);
}

/* The tree hash of leaves[lo..hi), hi > lo. */
static void subtree_root(const kq_hash *leaves, size_t lo, size_t hi, kq_hash *out)
{
    kq_hash stack[KQ_MERKLE_MAX_PROOF_HASHES + 1];
    unsigned height[KQ_MERKLE_MAX_PROOF_HASHES + 1];
    size_t top = 0;
    KQ_ASSERT(lo < hi);
    for (size_t i = lo; i < hi; i++) {
        KQ_ASSERT(top <= KQ_MERKLE_MAX_PROOF_HASHES);
        leaf_hash(&leaves[i], &stack[top]);
        height[top++] = 0;
        while (top >= 2 && height[top - 1] == height[top - 2]) {
            node_hash(&stack[top - 2], &stack[top - 1], &stack[top - 2]);
            height[top - 2]++;
            top--;
        }
    }
    /* Heights strictly decrease up the stack: fold right to left (RFC 6962's split). */
    while (top >= 2) {
        node_hash(&stack[top - 2], &stack[top - 1], &stack[top - 2]);
        top--;
    }
    *out = stack[0];
}

/* Largest power of two strictly below n (n >= 2). */
static size_t split_point(size_t n)
{
    size_t k = 1;
    KQ_ASSERT(n >= 2);
    while (k << 1 < n)
        k <<= 1;
    return k;
}

enum kq_err kq_merkle_root(const kq_hash *leaves, size_t n, kq_hash *root)
{
    KQ_ASSERT(root != NULL);
    KQ_ASSERT(leaves != NULL || n == 0);
    memset(root, 0, sizeof *root);
    KQ_ENSURE(n <= KQ_LEDGER_MERKLE_MAX_LEAVES, KQ_ERR_LIMIT);
    if (n == 0)
        kq_hash_tagged(root, TAG_EMPTY, NULL, 0);
    else
        subtree_root(leaves, 0, n, root);
    return KQ_OK;
}

/* The number of siblings on the path of index in a tree of n leaves. */
static size_t path_length(size_t n, size_t index)
{
    size_t count = 0, lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t k = split_point(hi - lo);
        if (index - lo < k)
            hi = lo + k;
        else
            lo += k;
        count++;
    }
    return count;
}

enum kq_err kq_merkle_prove(const kq_hash *leaves, size_t n, size_t index, struct kq_buf *out)
{
    kq_hash path[KQ_MERKLE_MAX_PROOF_HASHES];
    size_t count = 0, lo = 0, hi = n;
    KQ_ASSERT(out != NULL);
    KQ_ASSERT(leaves != NULL || n == 0);
    KQ_ENSURE(n <= KQ_LEDGER_MERKLE_MAX_LEAVES, KQ_ERR_LIMIT);
    KQ_ENSURE(index < n, KQ_ERR_INVALID_ARG);
    while (hi - lo > 1) { /* top down; the proof lists siblings leaf side first */
        size_t k = split_point(hi - lo);
        KQ_ASSERT(count < KQ_MERKLE_MAX_PROOF_HASHES);
        if (index - lo < k) {
            subtree_root(leaves, lo + k, hi, &path[count++]);
            hi = lo + k;
        } else {
            subtree_root(leaves, lo, lo + k, &path[count++]);
            lo += k;
        }
    }
    KQ_ENSURE(kq_buf_room(out) >= 2 + count * KQ_HASH_BYTES, KQ_ERR_OVERFLOW);
    KQ_GUARD(kq_buf_put_u8(out, PROOF_VERSION));
    KQ_GUARD(kq_buf_put_u8(out, (uint8_t)count));
    for (size_t i = count; i-- > 0;)
        KQ_GUARD(kq_buf_put(out, path[i].b, KQ_HASH_BYTES));
    return KQ_OK;
}

enum kq_err kq_merkle_verify(const kq_hash *root, size_t n, size_t index, const kq_hash *leaf,
                             const uint8_t *proof, size_t proof_len)
{
    struct kq_buf r;
    uint8_t version, count;
    kq_hash h, sib;
    KQ_ASSERT(root != NULL && leaf != NULL);
    KQ_ASSERT(proof != NULL || proof_len == 0);
    KQ_ENSURE(n <= KQ_LEDGER_MERKLE_MAX_LEAVES, KQ_ERR_LIMIT);
    KQ_ENSURE(index < n, KQ_ERR_INVALID_ARG);
    kq_buf_reader(&r, proof, proof_len);
    KQ_GUARD(kq_buf_get_u8(&r, &version));
    KQ_ENSURE(version == PROOF_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_u8(&r, &count));
    KQ_ENSURE(count == path_length(n, index), KQ_ERR_FORMAT);
    KQ_ENSURE(kq_buf_remaining(&r) == (size_t)count * KQ_HASH_BYTES, KQ_ERR_FORMAT);
    size_t fn = index, sn = n - 1;
    leaf_hash(leaf, &h);
    for (unsigned i = 0; i < count; i++) {
        KQ_GUARD(kq_buf_get(&r, sib.b, KQ_HASH_BYTES));
        KQ_ASSERT(sn != 0); /* count == path_length(n, index) */
        if ((fn & 1) || fn == sn) {
            node_hash(&sib, &h, &h);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            node_hash(&h, &sib, &h);
        }
        fn >>= 1;
        sn >>= 1;
    }
    KQ_ASSERT(sn == 0);
    KQ_ENSURE(kq_hash_eq(&h, root), KQ_ERR_BAD_PROOF);
    return KQ_OK;
}
