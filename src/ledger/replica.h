/* The ledger's consensus core (Tendermint-style BFT; docs/ledger.md): a pure state machine behind
 * struct kq_core_ops ("ledger"). Events in (frames, timers, local requests, durable writes),
 * actions out. Invariants: a vote or proposal leaves only after the safety record that contains it
 * is durable (WRITE_DONE), and the core never signs two different votes for one (height, round,
 * type), across restarts too; a block is committed only with a quorum certificate for it. */
#ifndef KQ_LEDGER_REPLICA_H
#define KQ_LEDGER_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "ledger/block.h"
#include "ledger/valset.h"

/* A (key, value) pair of an application state at `path` (the key's position, which orders pairs);
 * value NULL (value_len 0) for a key removed. Return false to stop the walk. */
typedef bool (*kq_ledger_pair_fn)(void *fctx, const kq_hash *path, const uint8_t *key,
                                  size_t key_len, const uint8_t *value, size_t value_len);

/* The application the ledger orders (the state machine of docs/ledger-state.md, or a test app).
 * States are opaque handles owned by the core once returned, and given back through release. All
 * functions are deterministic: every replica computes the same roots from the same blocks. */
struct kq_ledger_app {
    void *ctx;
    /* The genesis state and its root. */
    enum kq_err (*genesis)(void *ctx, void **state, kq_hash *root);
    /* Mempool admission of tx against the latest committed state for the block at `height`:
     * KQ_OK or the reason it would fail; *expiry_height is the last height at which it may
     * commit (UINT64_MAX: none). */
    enum kq_err (*check_tx)(void *ctx, const void *state, uint64_t height, const uint8_t *tx,
                            size_t len, uint64_t *expiry_height);
    /* Executes the block's txs on pre: *post is the new state and *root its root; results[i] is
     * KQ_OK for an applied tx, else why it was skipped. An error means the app failed (NOMEM),
     * not that a tx was bad; nothing is returned then. */
    enum kq_err (*apply_block)(void *ctx, const void *pre, uint64_t height, uint64_t time_ms,
                               const struct kq_tx_view *txs, size_t n, void **post, kq_hash *root,
                               enum kq_err *results);
    void (*release)(void *ctx, void *state);
    /* Optional (NULL: the configured set for ever). The validator set a state names: the set of
     * the height after the block that produced it (header next_valset_hash). */
    enum kq_err (*valset)(void *ctx, const void *state, struct kq_valset *vs);
    /* Optional (NULL: only the configured peers). Whether node `id` is a member in the state: its
     * frames are accepted even if it is not a configured peer (a node that joined). */
    bool (*is_node)(void *ctx, const void *state, uint32_t id);
    /* Persistence and state sync: all five or none. Without them (NULL) the state is not stored,
     * a restart replays every block and state sync is off (block sync only). */
    /* Calls fn for every key whose value differs from pre to post (value NULL: removed), in path
     * order, at a cost of about (changes x depth); false iff fn stopped. */
    bool (*diff)(void *ctx, const void *pre, const void *post, kq_ledger_pair_fn fn, void *fctx);
    /* Visits the pairs of state whose path is >= *from (all when from is NULL) in path order. */
    void (*foreach)(void *ctx, const void *state, const kq_hash *from, kq_ledger_pair_fn fn,
                    void *fctx);
    /* Sets key = value in *state (NULL: starts from the empty state), replacing *state by the new
     * version (the old one released). KQ_ERR_LIMIT, KQ_ERR_NOMEM; *state unchanged on failure. */
    enum kq_err (*load)(void *ctx, void **state, const uint8_t *key, size_t key_len,
                        const uint8_t *value, size_t value_len);
    /* The root of state. */
    void (*root)(void *ctx, const void *state, kq_hash *root);
    /* Another reference to state (released by release). */
    void *(*retain)(void *ctx, const void *state);
    /* Optional (NULL: never). True while the committed state needs blocks to progress (the key
     * registry's DKG deadlines are heights): the replica then starts the next height at once
     * instead of idling for empty_block_ms. */
    bool (*busy)(void *ctx, const void *state);
};

/* Configuration (copied by init, except app and the crypto contexts, which must outlive the
 * core). The node is a validator iff its id is in valset; crypto.sign may be NULL otherwise.
 * Timeouts: each step's is base + round * delta_ms; commit_ms is the pause after a commit before
 * the next height starts (lets late precommits in); sync_retry_ms re-asks for a missing block. */
struct kq_replica_config {
    kq_hash chain_id;
    uint64_t genesis_time_ms;
    const struct kq_valset *valset;
    struct kq_ledger_crypto crypto;
    const struct kq_ledger_app *app;
    uint64_t propose_ms;
    uint64_t prevote_ms;
    uint64_t precommit_ms;
    uint64_t delta_ms;
    uint64_t commit_ms;
    uint64_t sync_retry_ms;
    /* 0: a new height starts at once, so blocks follow each other even when empty. Otherwise a
     * replica with an empty mempool idles at a new height until a tx arrives (by request or
     * gossip), a peer's proposal or vote for the height arrives, or this many ms pass: an idle
     * chain makes one empty block per interval instead of one per round trip. */
    uint64_t empty_block_ms;
};

/* Local requests (KQ_EV_REQUEST, payload = the tx). SUBMIT is answered once the tx commits with
 * payload id[32] | height u64 | result u32 (an enum kq_err from apply), or KQ_ERR_TIMEOUT once its
 * expiry height passes uncommitted; SUBMIT_ASYNC at once with id[32]. Either answers KQ_ERR_BUSY
 * when the mempool or the waiting list is full, and check_tx's error for a tx it rejects. */
enum kq_ledger_request { KQ_LEDGER_REQ_SUBMIT = 1, KQ_LEDGER_REQ_SUBMIT_ASYNC = 2 };
#define KQ_LEDGER_REPLY_BYTES (KQ_HASH_BYTES + 8 + 4)

/* Timers the core arms. */
#define KQ_REPLICA_TIMER_PROPOSE   1u
#define KQ_REPLICA_TIMER_PREVOTE   2u
#define KQ_REPLICA_TIMER_PRECOMMIT 3u
#define KQ_REPLICA_TIMER_COMMIT    4u
#define KQ_REPLICA_TIMER_SYNC      5u
/* Re-broadcasts this round's sent votes and proposal (links may lose frames) every quarter of the
 * propose timeout while the round lasts, so a lost message is sent again before the round's step
 * timeouts fire. */
#define KQ_REPLICA_TIMER_RESEND 6u
/* Ends an idle new height (empty_block_ms) with an empty block. */
#define KQ_REPLICA_TIMER_IDLE 7u
/* Gives up a state sync that made no progress since it was last armed (sync_retry_ms). */
#define KQ_REPLICA_TIMER_SNAPSHOT 8u

/* Records: the safety record, and one per committed block (block response encoding: the block
 * and its certificate) under KQ_REPLICA_BLOCK_PREFIX followed by the height in 20 digits. */
#define KQ_REPLICA_SAFETY_RECORD "ledger/safety"
/* The block this replica is locked on with its proof of lock, written with the safety record that
 * takes the lock (a restarted replica re-proposes it; docs/ledger.md "Locks across restarts"). */
#define KQ_REPLICA_LOCK_RECORD  "ledger/locked"
#define KQ_REPLICA_BLOCK_PREFIX "ledger/block/"
/* With an app that persists (diff ... retain set): one record per state key under
 * KQ_REPLICA_STATE_PREFIX followed by the key's path in 64 lowercase hex digits (value: key_len
 * u16 | key | value), written or erased in the step that commits the block changing it, and
 * KQ_REPLICA_STATE_HEIGHT (height u64): the height those records are the state after. START
 * rebuilds the state from them, checks its root against the last block's header and replays
 * nothing; without the height record (a store from before) it replays every block and then
 * writes the state. docs/ledger-state.md "Storage". */
#define KQ_REPLICA_STATE_PREFIX "ledger/state/"
#define KQ_REPLICA_STATE_HEIGHT "ledger/state_height"
/* After a state sync to height H: version | H u64 | n u8 | n x (hash [32] | time_ms u64 | signer
 * bitmap): blocks H - n .. H - 1, known by hash and signers only (the proposer schedule reads
 * them); blocks below H are not held. docs/ledger.md "State sync". */
#define KQ_REPLICA_SYNC_BASE "ledger/sync_base"
/* With stored state: the validator set block H named for the heights after it (when it differs
 * from the set before), under this prefix and H in 20 digits: n u16 | n x (id u32 | pk [32]). */
#define KQ_REPLICA_VALSET_PREFIX "ledger/valset/"

/* The core. init: peers as for every core; config a struct kq_replica_config (KQ_ERR_INVALID_ARG
 * for a missing app, valset, verify function, zero timeouts, or a validator without sign).
 * step: a malformed frame fails with its decoder's error, a frame with a bad signature with
 * KQ_ERR_BAD_SIGNATURE, a frame from an unknown peer with KQ_ERR_PEER_IDENTITY; such events
 * change nothing. Stale and duplicate messages are ignored (KQ_OK). fini frees the blocks, the
 * mempool and the application states. */
extern const struct kq_core_ops kq_replica_ops;

/* Queries for drivers and tests, on a started core. */
/* Committed blocks (the next height is this + 1). */
uint64_t kq_replica_height(const void *state);
/* Current round of the height in progress. */
uint32_t kq_replica_round(const void *state);
/* Hash of committed block `height` (1..kq_replica_height); KQ_ERR_NOT_FOUND otherwise, and for
 * the blocks before a state sync's window. */
KQ_MUST_USE enum kq_err kq_replica_block_hash(const void *state, uint64_t height, kq_hash *out);
/* The stored record of committed block `height` (block response encoding), borrowed until the
 * next step; KQ_ERR_NOT_FOUND otherwise, and for the blocks a state-synced replica never held
 * (below kq_replica_first_block). */
KQ_MUST_USE enum kq_err kq_replica_block_record(const void *state, uint64_t height,
                                                const uint8_t **rec, size_t *len);
/* The lowest height whose block this replica holds: 1, or the height of the last snapshot it
 * installed by state sync (0 before any block). */
uint64_t kq_replica_first_block(const void *state);
/* The height of the snapshot being fetched by state sync, 0 if none (or its head not yet in). */
uint64_t kq_replica_syncing(const void *state);
/* The application state after the last committed block (borrowed). */
const void *kq_replica_app_state(const void *state);
/* The validator set of the height in progress (borrowed). */
const struct kq_valset *kq_replica_valset(const void *state);
/* Changes of the validator set along the committed chain, oldest first: change i says block
 * *height named vs as the set of the heights after it. KQ_ERR_NOT_FOUND past the last. */
size_t kq_replica_valset_changes(const void *state);
KQ_MUST_USE enum kq_err kq_replica_valset_change(const void *state, size_t i, uint64_t *height,
                                                 struct kq_valset *vs);
/* Txs waiting in the mempool. */
size_t kq_replica_mempool_count(const void *state);

#endif
