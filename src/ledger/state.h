/* The replicated state machine: validates and applies transactions against the authenticated
 * state (a sparse Merkle tree version), deterministically: the same pre-state, height, BFT time
 * and transactions give the same post-state on every replica. A rejected tx changes nothing and
 * gets a status; the others still apply. Pure: no clock, I/O or randomness (docs/ledger-tx.md). */
#ifndef KQ_LEDGER_STATE_H
#define KQ_LEDGER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "ledger/genesis.h"
#include "ledger/smt.h"
#include "ledger/tx.h"

/* One transaction of a block: its encoding, and whether the caller has already verified its
 * signature over exactly these bytes (for instance at mempool admission), so apply skips it. */
struct kq_tx_ref {
    const uint8_t *data;
    size_t len;
    bool sig_verified;
};

struct kq_tx_result {
    enum kq_tx_status status;
    kq_hash id;        /* kq_tx_id of the encoding (all zero when oversized) */
    bool sig_verified; /* its signature was verified by this call and is valid */
};

/* State keys owned by the state machine itself. */
#define KQ_STATE_CHAIN_KEY "chain" /* version | chain_id | genesis time_ms u64 */
/* "admin/<hex key>" (empty value): admin keys from the genesis. "tx/<hex id>": version |
 * height u64 | index u32 of each applied transaction (dedup, idempotent retries). */

/* *out = the state at height 0 for a valid genesis (refcount 1): the chain record, the admin keys,
 * every node record and the validator set. KQ_ERR_INVALID_ARG if g fails kq_genesis_check,
 * KQ_ERR_LIMIT/KQ_ERR_NOMEM; *out NULL on failure. */
KQ_MUST_USE enum kq_err kq_state_genesis(const struct kq_genesis *g, struct kq_smt **out);

/* Applies the n transactions of the block at height (>= 1) with BFT time bft_time_ms to pre, in
 * order. results has n entries, each set. *post is the new version (refcount 1; equal in root to
 * pre when nothing applied). Only KQ_ERR_NOMEM (or KQ_ERR_INVALID_ARG for a pre-state without a
 * chain record) fails the whole call, leaving *post NULL; a bad tx never does. */
KQ_MUST_USE enum kq_err kq_state_apply_block(const struct kq_smt *pre, uint64_t height,
                                             uint64_t bft_time_ms, const struct kq_tx_ref *txs,
                                             size_t n, struct kq_smt **post,
                                             struct kq_tx_result *results);

/* Mempool admission: the status tx would get if it were the first tx of the block at height on
 * st (the latest committed state). Same rules as apply, state unchanged. KQ_ERR_NOMEM or
 * KQ_ERR_INVALID_ARG as kq_state_apply_block. */
KQ_MUST_USE enum kq_err kq_state_check_tx(const struct kq_smt *st, uint64_t height,
                                          const struct kq_tx_ref *tx, struct kq_tx_result *res);

/* The chain id recorded at genesis. KQ_ERR_NOT_FOUND or KQ_ERR_FORMAT if absent or damaged. */
KQ_MUST_USE enum kq_err kq_state_chain_id(const struct kq_smt *st, kq_hash *chain_id);
/* Where tx id was applied: KQ_OK with *height and *index, or KQ_ERR_NOT_FOUND. */
KQ_MUST_USE enum kq_err kq_state_tx_lookup(const struct kq_smt *st, const kq_hash *id,
                                           uint64_t *height, uint32_t *index);
/* For the families' apply steps: replaces *cur (a version the caller owns) by a version with key
 * set to value (value NULL removes key). KQ_ERR_LIMIT if a state limit would be exceeded,
 * KQ_ERR_NOMEM; on failure *cur is unchanged (still owned by the caller). */
KQ_MUST_USE enum kq_err kq_state_put(struct kq_smt **cur, const char *key, const uint8_t *value,
                                     size_t value_len);

/* True if pk may submit admin-only transactions: a genesis admin key, or the tx key of a client
 * with the admin role. */
bool kq_state_is_admin(const struct kq_smt *st, const uint8_t pk[32]);

#endif
