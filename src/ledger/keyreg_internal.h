/* Internal to the key registry (keyreg.c, tx_key.c, keyreg_block.c): the pieces the transaction
 * rules and the end-of-block rules share. */
#ifndef KQ_LEDGER_KEYREG_INTERNAL_H
#define KQ_LEDGER_KEYREG_INTERNAL_H
#include "ledger/keyreg.h"
#include "ledger/tx_member.h"

/* "keyv/pending": versions waiting for their activation height. */
struct kq_pending_list {
    uint32_t count;
    struct {
        char name[KQ_KEY_NAME_MAX_BYTES + 1];
        uint32_t version;
        uint64_t activate_height;
    } items[KQ_KEYREG_MAX_KEYS];
};
KQ_MUST_USE enum kq_err kq_keyreg_pending(const struct kq_smt *st, struct kq_pending_list *l);
KQ_MUST_USE enum kq_err kq_keyreg_put_pending(struct kq_smt **cur, const struct kq_pending_list *l);

/* "keys/due": the earliest next_due_ms of the "keys" index (written with it by
 * kq_keyreg_put_index), so a block with no time rule due reads 9 bytes, not the index.
 * 0 when the record is absent (the caller reads the index). */
KQ_MUST_USE enum kq_err kq_keyreg_next_due(const struct kq_smt *st, uint64_t *due_ms);

/* What a rule needs about the block. */
struct kq_keyreg_ctx {
    kq_hash chain_id;
    uint64_t height;
    uint64_t bft_ms;
    struct kq_keyparams params;
    struct kq_epoch_rec epoch;
};
KQ_MUST_USE enum kq_err kq_keyreg_ctx_load(const struct kq_smt *st, const kq_hash *chain_id,
                                           uint64_t height, uint64_t bft_ms,
                                           struct kq_keyreg_ctx *c);

/* The node whose identity key is pk: KQ_OK, KQ_ERR_NOT_FOUND. */
KQ_MUST_USE enum kq_err kq_keyreg_node_by_pk(const struct kq_smt *st, const uint8_t pk[32],
                                             struct kq_member_node *n);

/* Starts the DKG of a new version (FRESH) of key k: chooses the committee, writes the session
 * and adds it to the running list; *started false (nothing written) when too few keepers are
 * eligible. */
KQ_MUST_USE enum kq_err kq_keyreg_start_fresh(struct kq_smt **cur, const struct kq_keyreg_ctx *c,
                                              const struct kq_key_rec *k, uint32_t version,
                                              uint32_t attempt, bool *started, kq_hash *id);
/* Proposes a rotation of k (state ENABLED, an active version, none generating): version
 * latest + 1 GENERATING with its session; updates and writes k and its index entry. *started
 * false (nothing written) when too few keepers are eligible. */
KQ_MUST_USE enum kq_err kq_keyreg_rotate(struct kq_smt **cur, const struct kq_keyreg_ctx *c,
                                         struct kq_key_rec *k, bool *started);
/* A due rotation that could not start waits this long before it is tried again. */
#define KQ_KEYREG_RETRY_MS 60000
/* Sets epoch.backlog (the end of each block tries again to move live versions). */
KQ_MUST_USE enum kq_err kq_keyreg_mark_advance_retry(struct kq_smt **cur);
/* Keeper nodes eligible for a committee of key `name` version `version` in epoch e, ranked; at
 * most cap ids into out, *n set. */
KQ_MUST_USE enum kq_err kq_keyreg_candidates(const struct kq_smt *st, const char *name,
                                             uint32_t version, uint64_t epoch, uint32_t *out,
                                             size_t cap, size_t *n);
/* Sets the key's entry in the "keys" index to its next time-rule due time (adds it if absent). */
KQ_MUST_USE enum kq_err kq_keyreg_index_update(struct kq_smt **cur, const struct kq_key_rec *k);
/* Sets epoch.advance_pending (the end of the block advances the epoch). */
KQ_MUST_USE enum kq_err kq_keyreg_mark_advance(struct kq_smt **cur);

#endif
