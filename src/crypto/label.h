/* Canonical labels: the byte string that names what a ciphertext or a derived key is for (key id,
 * key version, purpose, encryption context). Equal inputs in any context order give identical
 * bytes; any change of any field gives different bytes. Labels are built once and never parsed. */
#ifndef KQ_CRYPTO_LABEL_H
#define KQ_CRYPTO_LABEL_H

#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/limits.h"

/* The domain-separation tag that opens every label, and the one of the label digest. */
#define KQ_LABEL_TAG         "keyquorum/v1/label"
#define KQ_LABEL_DIGEST_TAG  "keyquorum/v1/label-digest"
#define KQ_LABEL_DIGESTBYTES 32

size_t kq_label_digestbytes(void);
size_t kq_label_maxbytes(void);

/* What the label is for. DEK and DATA are ciphertext types (the ciphertext type byte carries the
 * same value); DERIVE is the threshold PRF's. Values are stable: they appear in encodings. */
enum kq_purpose {
    KQ_PURPOSE_DEK = 1,    /* a wrapped 32-byte data-encryption key */
    KQ_PURPOSE_DATA = 2,   /* a sealed payload of up to KQ_MAX_DATA_PLAINTEXT_BYTES */
    KQ_PURPOSE_DERIVE = 3, /* a threshold-PRF derived key */
};

/* One encryption-context pair. Keys are 1..KQ_MAX_CONTEXT_KEY_BYTES bytes, values
 * 0..KQ_MAX_CONTEXT_VALUE_BYTES; both arbitrary bytes. Not owned. */
struct kq_ctx_pair {
    const uint8_t *key;
    size_t key_len;
    const uint8_t *value;
    size_t value_len;
};

/* A built label: its canonical bytes and the fields it was built from. */
struct kq_label {
    uint8_t key_id[KQ_MAX_KEY_ID_BYTES];
    size_t key_id_len;
    uint32_t version;
    enum kq_purpose purpose;
    size_t len;
    uint8_t bytes[KQ_MAX_LABEL_BYTES];
};

/* Builds the canonical label into *out (caller-owned, about 75 KB: do not put many on a small
 * stack). key_id is 1..KQ_MAX_KEY_ID_BYTES bytes; ctx holds npairs pairs (npairs 0 is allowed,
 * ctx may then be NULL) in any order. Errors: KQ_ERR_INVALID_ARG for an unknown purpose or empty
 * key id, KQ_ERR_LIMIT for any field or count over its limit, KQ_ERR_FORMAT for an empty context
 * key or two pairs with the same key. On failure out->len and out->key_id_len are 0. */
KQ_MUST_USE enum kq_err kq_label_build(struct kq_label *out, const uint8_t *key_id,
                                       size_t key_id_len, uint32_t version, enum kq_purpose purpose,
                                       const struct kq_ctx_pair *ctx, size_t npairs);

/* out = first 32 bytes of SHA-512 transcript (KQ_LABEL_DIGEST_TAG, label bytes). */
void kq_label_digest(uint8_t out[KQ_LABEL_DIGESTBYTES], const struct kq_label *label);

/* 1 if a and b have identical canonical bytes, else 0. */
int kq_label_equal(const struct kq_label *a, const struct kq_label *b);

#endif
