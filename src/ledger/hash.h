/* Domain-separated SHA-256 for the ledger. Every ledger hash is H(len(tag) || tag || data) with an
 * ASCII tag naming its use ("kq-ledger-v1/smt-leaf"), so no two uses can collide; variable-length
 * parts inside data carry a u32 big-endian length prefix (kq_hasher_put_var). Pure: no state. */
#ifndef KQ_LEDGER_HASH_H
#define KQ_LEDGER_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"

#define KQ_HASH_BYTES 32
/* Lowercase hex of a hash plus the terminating NUL. */
#define KQ_HASH_HEX_BYTES (2 * KQ_HASH_BYTES + 1)
/* Longest tag: tags are short constant names, and the length is one byte. */
#define KQ_HASH_MAX_TAG_BYTES 64

typedef struct {
    uint8_t b[KQ_HASH_BYTES];
} kq_hash;

/* An incremental tagged hash. Initialise with a tag, feed parts, finalise once. The state is
 * OpenSSL's SHA-256 context, held opaquely (hash.c checks it fits). */
struct kq_hasher {
    _Alignas(16) uint8_t st[128];
};

/* Starts H(len(tag) || tag || ...). tag is a NUL-terminated ASCII string of 1..64 bytes. */
void kq_hasher_init(struct kq_hasher *h, const char *tag);
/* Appends n bytes as they are (fixed-size fields). p may be NULL when n is 0. */
void kq_hasher_put(struct kq_hasher *h, const void *p, size_t n);
/* Appends a u32 big-endian length then n bytes (variable-size fields); n <= UINT32_MAX. */
void kq_hasher_put_var(struct kq_hasher *h, const void *p, size_t n);
/* Appends integers big-endian. */
void kq_hasher_put_u32(struct kq_hasher *h, uint32_t v);
void kq_hasher_put_u64(struct kq_hasher *h, uint64_t v);
/* Writes the digest to out and wipes the state. */
void kq_hasher_final(struct kq_hasher *h, kq_hash *out);

/* out = H(len(tag) || tag || data[0..len)): one fixed part. */
void kq_hash_tagged(kq_hash *out, const char *tag, const void *data, size_t len);
/* out = H(len(tag) || tag || a || b): two fixed parts (Merkle nodes). */
void kq_hash_tagged2(kq_hash *out, const char *tag, const kq_hash *a, const kq_hash *b);

/* Equality of two hashes (not constant time: hashes here are public). */
bool kq_hash_eq(const kq_hash *a, const kq_hash *b);
/* True if every byte is zero (the empty-subtree value of the state tree). */
bool kq_hash_is_zero(const kq_hash *a);
/* Lowercase hex into out (KQ_HASH_HEX_BYTES, NUL-terminated). */
void kq_hash_hex(const kq_hash *h, char out[KQ_HASH_HEX_BYTES]);
/* Parses exactly 64 hex digits (either case) from hex[0..len). KQ_ERR_FORMAT otherwise; out is
 * zeroed on failure. */
KQ_MUST_USE enum kq_err kq_hash_from_hex(kq_hash *out, const char *hex, size_t len);

#endif
