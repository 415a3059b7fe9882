/* The ledger's real application: the replicated state machine of state.h (families, dedup,
 * expiry, authorisation, sparse Merkle state) behind the replica's application interface
 * (replica.h). Application states are struct kq_smt versions; the replica owns and releases them.
 * Transaction statuses become enum kq_err results (kq_ledger_tx_err), which the API maps to HTTP.
 */
#ifndef KQ_LEDGER_APP_H
#define KQ_LEDGER_APP_H

#include "ledger/genesis.h"
#include "ledger/replica.h"
#include "ledger/tx.h"
#include "ledger/valset.h"

/* Ids of transactions whose signature verified (at admission or in a block), so re-checking them
 * when proposing or executing them in a block does not verify the same bytes again (the id is the
 * hash of the whole signed encoding, so a hit means exactly those bytes verified; a miss only
 * costs a verification). Sets of ways, a power of two; room for 8x the mempool's bound. */
#define KQ_LEDGER_VERIFIED_SETS 8192
#define KQ_LEDGER_VERIFIED_WAYS 4

/* The context the interface functions use: the genesis (borrowed, must outlive the app) and the
 * verified-signature cache (1 MiB: allocate the context, don't stack it). */
struct kq_ledger_state_app {
    const struct kq_genesis *genesis;
    kq_hash verified[KQ_LEDGER_VERIFIED_SETS][KQ_LEDGER_VERIFIED_WAYS];
};

/* Fills app with the state machine's functions over ctx. */
void kq_ledger_state_app_init(struct kq_ledger_app *app, struct kq_ledger_state_app *ctx,
                              const struct kq_genesis *genesis);

/* The error a transaction status stands for: KQ_OK only for KQ_TX_OK; malformed/oversized ->
 * FORMAT/LIMIT, wrong chain/invalid/unknown/too-far expiry -> INVALID_ARG, bad signature ->
 * BAD_SIGNATURE, expired -> EXPIRED, duplicate -> DUPLICATE, unauthorised -> FORBIDDEN, not found
 * -> NOT_FOUND, exists -> EXISTS, empty validator set -> STATE, full set or state -> LIMIT. */
enum kq_err kq_ledger_tx_err(enum kq_tx_status status);

/* The consensus validator set of a genesis (its validator-role nodes with their identity keys). */
KQ_MUST_USE enum kq_err kq_ledger_genesis_valset(const struct kq_genesis *g, struct kq_valset *vs);

#endif
