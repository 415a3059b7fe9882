/* Binary Merkle root of a block's transaction hashes, shaped as in RFC 6962 (the left subtree
 * holds the largest power of two below n) with tagged hashes: leaf = H("kq-ledger-v1/tx-leaf",
 * tx hash), node = H("kq-ledger-v1/tx-node", left || right), and a fixed root for n = 0. Plus
 * inclusion proofs a follower checks against the header's tx_root and tx_count alone. Pure. */
#ifndef KQ_LEDGER_MERKLE_H
#define KQ_LEDGER_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/limits.h"
#include "ledger/hash.h"

/* Siblings on a path: the tree height for at most KQ_LEDGER_MERKLE_MAX_LEAVES leaves. */
#define KQ_MERKLE_MAX_PROOF_HASHES 32
/* Encoded proof: version, sibling count, siblings (leaf side first). */
#define KQ_MERKLE_MAX_PROOF_BYTES (1 + 1 + KQ_MERKLE_MAX_PROOF_HASHES * KQ_HASH_BYTES)
KQ_STATIC_ASSERT(KQ_LEDGER_MERKLE_MAX_LEAVES <= (1ull << KQ_MERKLE_MAX_PROOF_HASHES),
                 "a path of the largest tree fits a proof");

/* root = the Merkle root of leaves[0..n) (n = 0 gives H("kq-ledger-v1/tx-empty")). KQ_ERR_LIMIT
 * if n > KQ_LEDGER_MERKLE_MAX_LEAVES (root zeroed). */
KQ_MUST_USE enum kq_err kq_merkle_root(const kq_hash *leaves, size_t n, kq_hash *root);

/* Appends to out the inclusion proof of leaves[index] (index < n). KQ_ERR_INVALID_ARG for a bad
 * index, KQ_ERR_LIMIT for n, KQ_ERR_OVERFLOW if out has no room (out unchanged). */
KQ_MUST_USE enum kq_err kq_merkle_prove(const kq_hash *leaves, size_t n, size_t index,
                                        struct kq_buf *out);

/* KQ_OK iff proof shows that leaf is leaf number index of a tree of n leaves with this root.
 * KQ_ERR_BAD_PROOF if not; KQ_ERR_VERSION / KQ_ERR_TRUNCATED / KQ_ERR_FORMAT if it does not
 * decode (a sibling count other than the one index and n imply is KQ_ERR_FORMAT);
 * KQ_ERR_INVALID_ARG if index >= n; KQ_ERR_LIMIT for n. */
KQ_MUST_USE enum kq_err kq_merkle_verify(const kq_hash *root, size_t n, size_t index,
                                         const kq_hash *leaf, const uint8_t *proof,
                                         size_t proof_len);

#endif
