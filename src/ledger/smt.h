/* Authenticated ledger state: a sparse Merkle tree of depth 256 over key paths
 * path = H("kq-ledger-v1/smt-key", key), compressed (a subtree holding one leaf is that leaf, an
 * empty subtree is the all-zero hash), persistent (a set returns a new version sharing every
 * untouched node; versions and nodes are refcounted) and canonical (the root depends only on the
 * set of (key, value) pairs). Pure: no clock, I/O or global state. docs/ledger-state.md. */
#ifndef KQ_LEDGER_SMT_H
#define KQ_LEDGER_SMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/limits.h"
#include "ledger/hash.h"

/* Depth of the tree: one level per bit of a path. */
#define KQ_SMT_DEPTH 256
/* Largest encoded proof: version, depth, bitmap, every sibling, terminal kind and a leaf. */
#define KQ_SMT_MAX_PROOF_BYTES                                                                     \
    (1 + 2 + KQ_SMT_DEPTH / 8 + KQ_SMT_DEPTH * KQ_HASH_BYTES + 1 + 2 * KQ_HASH_BYTES)

/* One immutable version of the tree. Opaque; every function taking one leaves it unchanged. */
struct kq_smt;

/* A new empty tree (refcount 1) bounded by KQ_LEDGER_SMT_MAX_KEYS and
 * KQ_LEDGER_SMT_MAX_STATE_BYTES, or NULL if out of memory. */
struct kq_smt *kq_smt_new(void);
/* The same with tighter bounds (max_keys <= KQ_LEDGER_SMT_MAX_KEYS, max_bytes <=
 * KQ_LEDGER_SMT_MAX_STATE_BYTES), inherited by every version derived from it. */
struct kq_smt *kq_smt_new_bounded(size_t max_keys, size_t max_bytes);
/* Takes another reference to t and returns t. */
struct kq_smt *kq_smt_ref(struct kq_smt *t);
/* Drops a reference (NULL is allowed); the last one frees the nodes no other version shares. */
void kq_smt_unref(struct kq_smt *t);

/* The path of key: H("kq-ledger-v1/smt-key", key). */
void kq_smt_path(const uint8_t *key, size_t key_len, kq_hash *path);

/* Looks key up. On KQ_OK *value points into the tree (valid while t is referenced) and
 * *value_len is its length. KQ_ERR_NOT_FOUND if absent, KQ_ERR_LIMIT if key_len is out of
 * range; then *value is NULL and *value_len 0. */
KQ_MUST_USE enum kq_err kq_smt_get(const struct kq_smt *t, const uint8_t *key, size_t key_len,
                                   const uint8_t **value, size_t *value_len);

/* *out = a new version of t (refcount 1) with key set to value, or key removed when value is
 * NULL (removing an absent key gives a version equal to t). Keys are 1..KQ_LEDGER_MAX_KEY_BYTES
 * bytes, values 0..KQ_LEDGER_MAX_VALUE_BYTES (copied). t is unchanged. KQ_ERR_LIMIT past a key,
 * value, key-count or state-bytes limit, KQ_ERR_NOMEM; on failure *out is NULL. */
KQ_MUST_USE enum kq_err kq_smt_set(const struct kq_smt *t, const uint8_t *key, size_t key_len,
                                   const uint8_t *value, size_t value_len, struct kq_smt **out);

/* Like kq_smt_set, but replaces *t (a reference the caller owns) by the new version. When the
 * caller's is the only reference, the update happens in place, reusing the nodes only *t holds
 * (a block's many versions then copy each shared path once, not once per update). Same limits
 * and errors; on failure *t is unchanged. */
KQ_MUST_USE enum kq_err kq_smt_put(struct kq_smt **t, const uint8_t *key, size_t key_len,
                                   const uint8_t *value, size_t value_len);

/* The root hash (all zero for the empty tree). */
void kq_smt_root(const struct kq_smt *t, kq_hash *root);
/* Number of keys, and bytes of keys plus values held (what the state-bytes limit counts). */
size_t kq_smt_count(const struct kq_smt *t);
size_t kq_smt_bytes(const struct kq_smt *t);

/* Appends to out a proof of the value of key in t: of inclusion if present, of absence if not
 * (at most KQ_SMT_MAX_PROOF_BYTES). KQ_ERR_OVERFLOW if out has no room (out unchanged),
 * KQ_ERR_LIMIT for a bad key length. */
KQ_MUST_USE enum kq_err kq_smt_prove(const struct kq_smt *t, const uint8_t *key, size_t key_len,
                                     struct kq_buf *out);

/* A follower's check, needing only the root: KQ_OK iff proof shows key = value under root, or,
 * with value NULL, that key is absent. KQ_ERR_BAD_PROOF if it does not verify; KQ_ERR_VERSION,
 * KQ_ERR_TRUNCATED or KQ_ERR_FORMAT (non-canonical encodings included) if it does not decode;
 * KQ_ERR_LIMIT for a bad key or value length. */
KQ_MUST_USE enum kq_err kq_smt_verify(const kq_hash *root, const uint8_t *key, size_t key_len,
                                      const uint8_t *value, size_t value_len, const uint8_t *proof,
                                      size_t proof_len);

/* Called for each pair in path order; return false to stop. Pointers valid while t lives. */
typedef bool (*kq_smt_visit_fn)(void *ctx, const kq_hash *path, const uint8_t *key, size_t key_len,
                                const uint8_t *value, size_t value_len);
/* Visits the pairs whose path is >= *from (every pair when from is NULL), in increasing path
 * order, until fn returns false; at most kq_smt_count(t) calls. Resuming from the path after
 * the last one visited pages through the state (state sync, persistence). */
void kq_smt_foreach(const struct kq_smt *t, const kq_hash *from, kq_smt_visit_fn fn, void *ctx);

/* Calls fn once for every key whose value differs between a and b, in increasing path order:
 * with b's value for a key set or changed in b, with value NULL (and value_len 0) for a key of a
 * that b lacks (key points into a). Subtrees the two versions share are skipped, so the cost is
 * about (changes x depth) when b was derived from a. Returns false iff fn stopped the walk. */
bool kq_smt_diff(const struct kq_smt *a, const struct kq_smt *b, kq_smt_visit_fn fn, void *ctx);

#endif
