/* A ledger follower: what an auditor, orchestrator or client needs to trust the ledger without
 * trusting the node it reads from. Two levels:
 *  - kq_follow_check_value: one certified block record (block + its commit certificate) and a
 *    state proof; checks the certificate against the validator set, then the value under the
 *    header's state root. No replay.
 *  - kq_follower_*: replays the chain from genesis, checking every certificate, the parent
 *    links, the certificate carried in each block, the tx root, BFT time monotonicity, and that
 *    executing the block yields the header's state root.
 * Pure: records in, verdicts out. */
#ifndef KQ_LEDGER_FOLLOW_H
#define KQ_LEDGER_FOLLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ledger/app.h"
#include "ledger/block.h"
#include "ledger/genesis.h"
#include "ledger/valset.h"

/* Verifies a block record (the block-response encoding: version | block_len | block | cert)
 * against chain_id and vs: the certificate commits this block's header at its height. On KQ_OK
 * *header is the verified header. KQ_ERR_FORMAT/TRUNCATED for a bad record, the cert's error
 * (BAD_PROOF, BAD_SIGNATURE, THRESHOLD) for a bad certificate, KQ_ERR_LABEL for another chain. */
KQ_MUST_USE enum kq_err kq_follow_check_record(const uint8_t *record, size_t len,
                                               const kq_hash *chain_id, const struct kq_valset *vs,
                                               struct kq_header *header);

/* kq_follow_check_record, then the state proof: key = value (value NULL: key absent) under the
 * verified header's state root (KQ_ERR_BAD_PROOF otherwise). */
KQ_MUST_USE enum kq_err kq_follow_check_value(const uint8_t *record, size_t len,
                                              const kq_hash *chain_id, const struct kq_valset *vs,
                                              const uint8_t *key, size_t key_len,
                                              const uint8_t *value, size_t value_len,
                                              const uint8_t *proof, size_t proof_len,
                                              struct kq_header *header);

/* One step of a validator-set change for a follower that does not replay: the record at height h
 * (its certificate checked against vs, the set in force at h, and its header naming vs) names next
 * as the set of h + 1 (header next_valset_hash). On KQ_OK the caller trusts next from h + 1 on.
 * KQ_ERR_BAD_PROOF when the header names another set; kq_follow_check_record's errors. */
KQ_MUST_USE enum kq_err kq_follow_valset_change(const uint8_t *record, size_t len,
                                                const kq_hash *chain_id, const struct kq_valset *vs,
                                                const struct kq_valset *next,
                                                struct kq_header *header);

/* Replaying follower (switches validator sets as the state names them). */
struct kq_follower;
/* From genesis g (borrowed; must outlive the follower). NULL on allocation failure or a genesis
 * that fails its checks. */
struct kq_follower *kq_follower_new(const struct kq_genesis *g);
void kq_follower_free(struct kq_follower *f);
/* Applies the next block record (height = kq_follower_height + 1). On failure the follower is
 * unchanged and *why names the failed check (a static string). */
KQ_MUST_USE enum kq_err kq_follower_apply(struct kq_follower *f, const uint8_t *record, size_t len,
                                          const char **why);
uint64_t kq_follower_height(const struct kq_follower *f);
/* The state root after the last applied block (the genesis root at height 0). */
void kq_follower_state_root(const struct kq_follower *f, kq_hash *root);

#endif
