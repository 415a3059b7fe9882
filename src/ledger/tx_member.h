/* Membership and node keys (transaction family 1): add, update and remove a node with its roles,
 * Ed25519 identity key, TLS key pin, per-epoch X25519 key and addresses. The node record is also
 * the state value of "node/<id>"; validators are mirrored in "valset" (sorted by id). Codec,
 * validation and apply live here; only admins may submit (docs/ledger-tx.md). */
#ifndef KQ_LEDGER_TX_MEMBER_H
#define KQ_LEDGER_TX_MEMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/limits.h"
#include "base/roles.h"
#include "ledger/smt.h"
#include "ledger/tx.h"

#define KQ_MEMBER_VERSION 1

enum kq_member_op {
    KQ_MEMBER_OP_ADD = 1,    /* body: node record; the id must be new */
    KQ_MEMBER_OP_UPDATE = 2, /* body: node record; replaces the record of an existing id */
    KQ_MEMBER_OP_REMOVE = 3, /* body: version | node_id */
};

/* Role bits of a node. */

/* version | node_id u32 | roles u8 | identity_pk | tls_pk | epoch u64 | x25519_pk |
 * api_addr (u16 len) | peer_addr (u16 len) */
#define KQ_MEMBER_NODE_MAX_BYTES (1 + 4 + 1 + 32 + 32 + 8 + 32 + 2 * (2 + KQ_LEDGER_ADDR_MAX_BYTES))
#define KQ_MEMBER_REMOVE_BYTES   (1 + 4)

struct kq_member_node {
    uint32_t node_id;        /* 1..KQ_LEDGER_MAX_NODE_ID */
    uint8_t roles;           /* KQ_ROLE_* bits, at least one */
    uint8_t identity_pk[32]; /* Ed25519: signs votes, proposals and system txs */
    uint8_t tls_pk[32];      /* raw Ed25519 key of its TLS certificate (what peers pin) */
    uint64_t epoch;          /* epoch of x25519_pk */
    uint8_t x25519_pk[32];   /* per-epoch encryption key (not all zero) */
    char api_addr[KQ_LEDGER_ADDR_MAX_BYTES + 1];  /* "host:port", NUL-terminated */
    char peer_addr[KQ_LEDGER_ADDR_MAX_BYTES + 1]; /* "host:port", NUL-terminated */
};

/* One entry of the validator set record. */
struct kq_valset_entry {
    uint32_t node_id;
    uint8_t identity_pk[32];
};

/* Encodes a node record into out[0..cap), *out_len set. KQ_ERR_LIMIT if an address is too long,
 * KQ_ERR_OVERFLOW if cap is short (out unchanged as far as *out_len is concerned: 0). Does not
 * validate the fields (kq_member_node_check does). */
KQ_MUST_USE enum kq_err kq_member_node_encode(const struct kq_member_node *n, uint8_t *out,
                                              size_t cap, size_t *out_len);
/* Decodes a node record (strict: no trailing bytes, no NUL inside addresses). KQ_ERR_VERSION,
 * KQ_ERR_TRUNCATED, KQ_ERR_FORMAT, KQ_ERR_LIMIT; n is zeroed on failure. */
KQ_MUST_USE enum kq_err kq_member_node_decode(struct kq_member_node *n, const uint8_t *data,
                                              size_t len);
/* Field rules: id in range, roles nonzero and known, identity and TLS keys valid Ed25519 points
 * of large order, X25519 key not all zero, both addresses "host:port". KQ_OK or
 * KQ_ERR_INVALID_ARG. */
KQ_MUST_USE enum kq_err kq_member_node_check(const struct kq_member_node *n);
/* True if s is "host:port": host of [A-Za-z0-9.-] or "[" IPv6 "]", port 1..65535 without
 * leading zeros. */
bool kq_member_addr_ok(const char *s);

/* The remove body. */
KQ_MUST_USE enum kq_err kq_member_remove_encode(uint32_t node_id, uint8_t *out, size_t cap,
                                                size_t *out_len);
KQ_MUST_USE enum kq_err kq_member_remove_decode(uint32_t *node_id, const uint8_t *data, size_t len);

/* The validator set record: version | count u16 | (node_id u32 | identity_pk)*, ids strictly
 * increasing, count 1..KQ_LEDGER_STATE_MAX_VALIDATORS. out holds cap entries. */
KQ_MUST_USE enum kq_err kq_valset_encode(const struct kq_valset_entry *v, size_t n, uint8_t *out,
                                         size_t cap, size_t *out_len);
KQ_MUST_USE enum kq_err kq_valset_decode(struct kq_valset_entry *v, size_t cap, size_t *n,
                                         const uint8_t *data, size_t len);

/* State keys: "node/<decimal id>" and "nodekey/<hex identity key>" (the index that keeps identity
 * keys unique) into out (at least KQ_MEMBER_KEY_BYTES); return the key length. */
#define KQ_MEMBER_KEY_BYTES 80
size_t kq_member_node_key(uint32_t node_id, char out[KQ_MEMBER_KEY_BYTES]);
#define KQ_MEMBER_VALSET_KEY "valset"

/* Writes node into state (record, key index, validator set if a validator) as the genesis does:
 * *out a new version, *status KQ_TX_EXISTS/KQ_TX_VALSET_FULL/KQ_TX_STATE_FULL when refused (then
 * *out NULL and KQ_OK returned). KQ_ERR_NOMEM on allocation failure. */
KQ_MUST_USE enum kq_err kq_member_insert(const struct kq_smt *st, const struct kq_member_node *node,
                                         struct kq_smt **out, enum kq_tx_status *status);

/* Validates and applies one membership tx (signature, chain, expiry and dedup already checked by
 * the state machine): *status says the outcome; on KQ_TX_OK *out is the new version (refcount 1),
 * otherwise *out is NULL and st is untouched. Returns KQ_ERR_NOMEM only for allocation failure. */
KQ_MUST_USE enum kq_err kq_member_apply(const struct kq_smt *st, const struct kq_tx *tx,
                                        struct kq_smt **out, enum kq_tx_status *status);

/* Reads the record of node_id from st: KQ_OK, KQ_ERR_NOT_FOUND, or a decode error. */
KQ_MUST_USE enum kq_err kq_member_get(const struct kq_smt *st, uint32_t node_id,
                                      struct kq_member_node *n);
/* Reads the validator set from st into v (cap entries): KQ_OK or KQ_ERR_NOT_FOUND/decode error. */
KQ_MUST_USE enum kq_err kq_member_valset(const struct kq_smt *st, struct kq_valset_entry *v,
                                         size_t cap, size_t *n);

#endif
