/* Validator set and proposer schedule. A set is sorted by id, ids distinct and nonzero; each
 * validator has one vote, so q(n) = floor(2n/3) + 1 and f(n) = floor((n-1)/3). The proposer of a
 * round is a deterministic function of the set, participation weights and a seed, so every
 * replica that agrees on the chain agrees on it (docs/ledger.md, "Proposer schedule"). Pure. */
#ifndef KQ_LEDGER_VALSET_H
#define KQ_LEDGER_VALSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/limits.h"
#include "ledger/hash.h"

#define KQ_LEDGER_PK_BYTES  32
#define KQ_LEDGER_SIG_BYTES 64

struct kq_validator {
    uint32_t id;
    uint8_t pk[KQ_LEDGER_PK_BYTES]; /* Ed25519 identity key */
};

struct kq_valset {
    uint32_t n;
    struct kq_validator v[KQ_LEDGER_MAX_VALIDATORS]; /* v[0..n) sorted by id */
};

/* vs = the n validators of v, sorted by id. KQ_ERR_INVALID_ARG for n = 0, a zero id or
 * KQ_PEER_ALL, KQ_ERR_DUPLICATE_INDEX for a repeated id, KQ_ERR_LIMIT for n over
 * KQ_LEDGER_MAX_VALIDATORS. On failure vs is zeroed. */
KQ_MUST_USE enum kq_err kq_valset_init(struct kq_valset *vs, const struct kq_validator *v,
                                       size_t n);

/* q(n) = floor(2n/3) + 1 and f(n) = floor((n-1)/3) for the set's n (n >= 1). */
uint32_t kq_valset_quorum(const struct kq_valset *vs);
uint32_t kq_valset_faulty(const struct kq_valset *vs);
/* Index of validator id in vs->v, or -1 if it is not in the set. */
int32_t kq_valset_index(const struct kq_valset *vs, uint32_t id);
/* H("kq-ledger-v1/valset", n || (id || pk)...) over the sorted set. */
void kq_valset_hash(const struct kq_valset *vs, kq_hash *out);

/* weights[i] = counts[i] clamped to [KQ_LEDGER_WEIGHT_FLOOR, KQ_LEDGER_WEIGHT_CAP], for the n
 * validators of vs (counts: precommits each had in the window of certificates). */
void kq_valset_weights(const struct kq_valset *vs, const uint32_t *counts, uint32_t *weights);
/* The proposer id: slot (seed + round) mod sum(weights) of the smooth weighted round-robin order
 * of the set (ties to the lower index). weights as kq_valset_weights makes them (each in
 * [FLOOR, CAP]). Consecutive rounds take consecutive slots. */
uint32_t kq_valset_proposer(const struct kq_valset *vs, const uint32_t *weights,
                            const kq_hash *seed, uint32_t round);

#endif
