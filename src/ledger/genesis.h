/* Genesis of a ledger: chain name, time, initial nodes (membership records) and admin keys, with
 * one canonical encoding (nodes by increasing id, admin keys in increasing byte order) whose
 * tagged hash is the chain id every signed ledger message carries. Pure. */
#ifndef KQ_LEDGER_GENESIS_H
#define KQ_LEDGER_GENESIS_H

#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/limits.h"
#include "ledger/hash.h"
#include "ledger/keyreg.h"
#include "ledger/tx_member.h"

#define KQ_GENESIS_VERSION 2
/* version | name_len u8 | name | time_ms u64 | n_nodes u16 | (len u16 | node record)* |
 * n_admins u16 | admin_pk* | key parameters (u64 x3, u32 x5) */
#define KQ_GENESIS_MAX_BYTES                                                                       \
    (1 + 1 + KQ_LEDGER_CHAIN_NAME_MAX_BYTES + 8 + 2 +                                              \
     KQ_LEDGER_GENESIS_MAX_NODES * (2 + KQ_MEMBER_NODE_MAX_BYTES) + 2 +                            \
     KQ_LEDGER_GENESIS_MAX_ADMINS * 32 + 3 * 8 + 5 * 4)

struct kq_genesis {
    char chain_name[KQ_LEDGER_CHAIN_NAME_MAX_BYTES + 1]; /* NUL-terminated, [A-Za-z0-9._-] */
    uint64_t time_ms;                                    /* BFT time of height 0 */
    size_t n_nodes;                                      /* 1..KQ_LEDGER_GENESIS_MAX_NODES */
    struct kq_member_node nodes[KQ_LEDGER_GENESIS_MAX_NODES];
    size_t n_admins; /* 1..KQ_LEDGER_GENESIS_MAX_ADMINS */
    uint8_t admins[KQ_LEDGER_GENESIS_MAX_ADMINS][32];
    /* The key registry's lifecycle parameters (keyreg.h); all zero means kq_keyparams_default. */
    struct kq_keyparams keys;
};
/* The key parameters g puts in effect: g->keys, or the defaults when it is all zero. */
void kq_genesis_keyparams(const struct kq_genesis *g, struct kq_keyparams *p);

/* Canonical-form rules: name, nodes valid (kq_member_node_check) with strictly increasing ids and
 * distinct identity keys, at least one validator, admin keys valid Ed25519 points in strictly
 * increasing order. KQ_OK or KQ_ERR_INVALID_ARG. */
KQ_MUST_USE enum kq_err kq_genesis_check(const struct kq_genesis *g);

/* Encodes g into out[0..cap) (KQ_GENESIS_MAX_BYTES always suffices). KQ_ERR_LIMIT for counts or
 * lengths past their limits, KQ_ERR_OVERFLOW if cap is short; *out_len 0 on failure. */
KQ_MUST_USE enum kq_err kq_genesis_encode(const struct kq_genesis *g, uint8_t *out, size_t cap,
                                          size_t *out_len);
/* Strict decode (structure only; call kq_genesis_check for the rules). KQ_ERR_VERSION,
 * KQ_ERR_TRUNCATED, KQ_ERR_FORMAT, KQ_ERR_LIMIT; g zeroed on failure. g is large: heap it. */
KQ_MUST_USE enum kq_err kq_genesis_decode(struct kq_genesis *g, const uint8_t *data, size_t len);

/* The chain id: H("kq-ledger-v1/genesis", canonical encoding of g). Fails as kq_genesis_encode
 * or kq_genesis_check does (only a valid genesis has an id); *id zeroed on failure. */
KQ_MUST_USE enum kq_err kq_genesis_chain_id(const struct kq_genesis *g, kq_hash *id);

#endif
