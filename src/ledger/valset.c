/* Validator set: sorted, distinct, nonzero ids; quorum arithmetic; the smooth weighted
 * round-robin proposer schedule. Invariant: every function reads only its arguments. */
#include "ledger/valset.h"

#include <string.h>

#include "core/core.h"

KQ_STATIC_ASSERT((uint64_t)KQ_LEDGER_MAX_VALIDATORS *KQ_LEDGER_WEIGHT_CAP < UINT32_MAX / 2,
                 "schedule sums fit a u32 and the round-robin counters an int64");

static void sort_by_id(struct kq_validator *v, size_t n)
{
    for (size_t i = 1; i < n; i++) { /* insertion sort: n <= KQ_LEDGER_MAX_VALIDATORS */
        struct kq_validator x = v[i];
        size_t j = i;
        for (; j > 0 && v[j - 1].id > x.id; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

enum kq_err kq_valset_init(struct kq_valset *vs, const struct kq_validator *v, size_t n)
{
    KQ_ASSERT(vs != NULL);
    memset(vs, 0, sizeof *vs);
    KQ_ENSURE(n >= 1 && v != NULL, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(n <= KQ_LEDGER_MAX_VALIDATORS, KQ_ERR_LIMIT);
    memcpy(vs->v, v, n * sizeof *v);
    sort_by_id(vs->v, n);
    for (size_t i = 0; i < n; i++) {
        enum kq_err err = KQ_OK;
        if (vs->v[i].id == 0 || vs->v[i].id == KQ_PEER_ALL)
            err = KQ_ERR_INVALID_ARG;
        else if (i > 0 && vs->v[i].id == vs->v[i - 1].id)
            err = KQ_ERR_DUPLICATE_INDEX;
        if (err != KQ_OK) {
            memset(vs, 0, sizeof *vs);
            return err;
        }
    }
    vs->n = (uint32_t)n;
    return KQ_OK;
}

uint32_t kq_valset_quorum(const struct kq_valset *vs)
{
    KQ_ASSERT(vs != NULL && vs->n >= 1 && vs->n <= KQ_LEDGER_MAX_VALIDATORS);
    return 2 * vs->n / 3 + 1;
}

uint32_t kq_valset_faulty(const struct kq_valset *vs)
{
    KQ_ASSERT(vs != NULL && vs->n >= 1 && vs->n <= KQ_LEDGER_MAX_VALIDATORS);
    return (vs->n - 1) / 3;
}

int32_t kq_valset_index(const struct kq_valset *vs, uint32_t id)
{
    KQ_ASSERT(vs != NULL && vs->n <= KQ_LEDGER_MAX_VALIDATORS);
    size_t lo = 0, hi = vs->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (vs->v[mid].id == id)
            return (int32_t)mid;
        if (vs->v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

void kq_valset_hash(const struct kq_valset *vs, kq_hash *out)
{
    KQ_ASSERT(vs != NULL && vs->n <= KQ_LEDGER_MAX_VALIDATORS && out != NULL);
    struct kq_hasher h;
    kq_hasher_init(&h, "kq-ledger-v1/valset");
    kq_hasher_put_u32(&h, vs->n);
    for (uint32_t i = 0; i < vs->n; i++) {
        kq_hasher_put_u32(&h, vs->v[i].id);
        kq_hasher_put(&h, vs->v[i].pk, KQ_LEDGER_PK_BYTES);
    }
    kq_hasher_final(&h, out);
}

void kq_valset_weights(const struct kq_valset *vs, const uint32_t *counts, uint32_t *weights)
{
    KQ_ASSERT(vs != NULL && counts != NULL && weights != NULL);
    for (uint32_t i = 0; i < vs->n; i++) {
        uint32_t w = counts[i];
        if (w < KQ_LEDGER_WEIGHT_FLOOR)
            w = KQ_LEDGER_WEIGHT_FLOOR;
        if (w > KQ_LEDGER_WEIGHT_CAP)
            w = KQ_LEDGER_WEIGHT_CAP;
        weights[i] = w;
    }
}

uint32_t kq_valset_proposer(const struct kq_valset *vs, const uint32_t *weights,
                            const kq_hash *seed, uint32_t round)
{
    KQ_ASSERT(vs != NULL && vs->n >= 1 && weights != NULL && seed != NULL);
    uint64_t total = 0;
    for (uint32_t i = 0; i < vs->n; i++) {
        KQ_ASSERT(weights[i] >= KQ_LEDGER_WEIGHT_FLOOR && weights[i] <= KQ_LEDGER_WEIGHT_CAP);
        total += weights[i];
    }
    uint64_t s = 0;
    for (size_t i = 0; i < 8; i++)
        s = (s << 8) | seed->b[i];
    uint64_t slot = (s % total + round % total) % total;
    int64_t current[KQ_LEDGER_MAX_VALIDATORS] = {0};
    uint32_t pick = 0;
    for (uint64_t k = 0; k <= slot; k++) { /* slot < total <= n * CAP steps */
        pick = 0;
        for (uint32_t i = 0; i < vs->n; i++) {
            current[i] += weights[i];
            if (current[i] > current[pick])
                pick = i;
        }
        current[pick] -= (int64_t)total;
    }
    KQ_ASSERT(pick < vs->n);
    return vs->v[pick].id;
}
