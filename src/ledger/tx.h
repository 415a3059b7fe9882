/* Ledger transaction envelope: a typed body signed by its submitter (Ed25519), bound to one chain
 * and an expiry height, identified by the tagged hash of its whole encoding (docs/ledger-tx.md).
 * Decoding is zero-copy and strict (no trailing bytes); the signature is checked separately. */
#ifndef KQ_LEDGER_TX_H
#define KQ_LEDGER_TX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/limits.h"
#include "ledger/hash.h"

#define KQ_TX_VERSION  1
#define KQ_TX_PKBYTES  32
#define KQ_TX_SIGBYTES 64
#define KQ_TX_SKBYTES  64 /* libsodium's Ed25519 secret key: seed || public key */
/* version | family | op | chain_id | expiry_height | nonce | submitter_pk | body_len */
#define KQ_TX_HEADERBYTES     (1 + 2 + 2 + KQ_HASH_BYTES + 8 + 8 + KQ_TX_PKBYTES + 4)
#define KQ_TX_BYTES(body_len) (KQ_TX_HEADERBYTES + (size_t)(body_len) + KQ_TX_SIGBYTES)
/* Largest body an envelope within KQ_LEDGER_TX_MAX_BYTES can carry. */
#define KQ_TX_MAX_BODY_BYTES (KQ_LEDGER_TX_MAX_BYTES - KQ_TX_HEADERBYTES - KQ_TX_SIGBYTES)

/* Families. Numbers below 0x100 are client-submitted; 0x100 and above are system transactions
 * (DKG, evidence, audit) for which the block builder reserves space. */
enum kq_tx_family {
    KQ_TX_FAMILY_MEMBER = 1, /* membership and node keys (tx_member.h) */
    KQ_TX_FAMILY_CLIENT = 2, /* client identity (tx_client.h) */
    KQ_TX_FAMILY_SYSTEM_MIN = 0x100,
};

/* Outcome of validating and applying one transaction. Stable numbers: results are reported to
 * clients and recorded, so never renumber. Only KQ_TX_OK changes the state. */
enum kq_tx_status {
    KQ_TX_OK = 0,
    KQ_TX_MALFORMED = 1,      /* envelope or body does not decode (trailing bytes included) */
    KQ_TX_OVERSIZED = 2,      /* encoding longer than KQ_LEDGER_TX_MAX_BYTES */
    KQ_TX_WRONG_CHAIN = 3,    /* chain_id is not this chain's */
    KQ_TX_BAD_SIGNATURE = 4,  /* the submitter's signature does not verify */
    KQ_TX_EXPIRED = 5,        /* expiry_height < height of the block */
    KQ_TX_EXPIRY_TOO_FAR = 6, /* expiry_height beyond height + KQ_LEDGER_TX_MAX_EXPIRY_BLOCKS */
    KQ_TX_DUPLICATE = 7,      /* a tx with this id is already committed */
    KQ_TX_UNKNOWN_TYPE = 8,   /* no such family or op (or an unknown body version) */
    KQ_TX_UNAUTHORIZED = 9,   /* the submitter may not submit this op */
    KQ_TX_INVALID = 10,       /* a field outside its range (trust, id, roles, address, key) */
    KQ_TX_NOT_FOUND = 11,     /* update or remove of a record that does not exist */
    KQ_TX_EXISTS = 12,        /* add of an id or key already recorded */
    KQ_TX_EMPTY_VALSET = 13,  /* the validator set would become empty */
    KQ_TX_VALSET_FULL = 14,   /* the validator set would exceed KQ_LEDGER_STATE_MAX_VALIDATORS */
    KQ_TX_STATE_FULL = 15,    /* the state tree's key or byte limit would be exceeded */
    KQ_TX_NO_KEEPERS = 16,    /* fewer eligible keepers than the committee needs */
    KQ_TX_CONFLICT = 17,      /* the record's state does not allow the op (e.g. a deleted key) */
};
/* Stable identifier such as "bad_signature" for JSON and logs. Never NULL. */
const char *kq_tx_status_name(enum kq_tx_status s);

/* A decoded envelope. body and the raw encoding point into the decoded bytes (zero-copy). */
struct kq_tx {
    uint8_t version;
    uint16_t family;
    uint16_t op;
    kq_hash chain_id;
    uint64_t expiry_height;
    uint64_t nonce; /* chosen by the submitter so equal requests can be distinct transactions */
    uint8_t submitter_pk[KQ_TX_PKBYTES];
    const uint8_t *body;
    size_t body_len;
    uint8_t sig[KQ_TX_SIGBYTES];
    const uint8_t *raw; /* the whole encoding */
    size_t raw_len;
};

/* The fields a submitter chooses; kq_tx_sign derives submitter_pk from the secret key. */
struct kq_tx_fields {
    uint16_t family;
    uint16_t op;
    kq_hash chain_id;
    uint64_t expiry_height;
    uint64_t nonce;
    const uint8_t *body; /* may be NULL when body_len is 0 */
    size_t body_len;     /* <= KQ_TX_MAX_BODY_BYTES */
};

/* True for system families (>= KQ_TX_FAMILY_SYSTEM_MIN), which have reserved block space. */
bool kq_tx_is_system(uint16_t family);

/* Decodes data[0..len) into tx (pointers into data, which must outlive tx). KQ_ERR_LIMIT if len
 * exceeds KQ_LEDGER_TX_MAX_BYTES, KQ_ERR_VERSION for an unknown version, KQ_ERR_TRUNCATED or
 * KQ_ERR_FORMAT (body length disagreeing with the size, trailing bytes). Does not check the
 * signature. tx is zeroed on failure. */
KQ_MUST_USE enum kq_err kq_tx_decode(struct kq_tx *tx, const uint8_t *data, size_t len);

/* KQ_OK iff tx->sig is the submitter's Ed25519 signature over
 * "kq-ledger-v1/tx" || chain_id || the encoding up to the signature. KQ_ERR_BAD_SIGNATURE
 * otherwise, KQ_ERR_NOMEM if the message buffer cannot be allocated. */
KQ_MUST_USE enum kq_err kq_tx_verify(const struct kq_tx *tx);

/* The transaction id: H("kq-ledger-v1/txid", whole encoding). */
void kq_tx_id(const uint8_t *data, size_t len, kq_hash *id);

/* Encodes and signs an envelope into out[0..cap) and sets *out_len (KQ_TX_BYTES(body_len)). sk is
 * a libsodium Ed25519 secret key (KQ_TX_SKBYTES). KQ_ERR_LIMIT if the body is too long,
 * KQ_ERR_OVERFLOW if cap is too small, KQ_ERR_CRYPTO if signing fails; out is zeroed on
 * failure and *out_len is 0. */
KQ_MUST_USE enum kq_err kq_tx_sign(const struct kq_tx_fields *f, const uint8_t sk[KQ_TX_SKBYTES],
                                   uint8_t *out, size_t cap, size_t *out_len);

#endif
