/* A simulated node's durable records: a hash map from key to value (open addressing, linear
 * probing, backward-shift deletion) over a dense array, so a disk of KQ_SIM_MAX_RECORDS records
 * costs memory only as used. Internal to sim/. Invariants: every record is reachable from exactly
 * one slot; the map is at most half full; a record's key and value are one allocation. */
#ifndef KQ_SIM_SIM_STORE_H
#define KQ_SIM_SIM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"

struct sim_record {
    char *key;      /* NUL-terminated; owns the allocation, value points inside it */
    uint8_t *value; /* len bytes, right after the key */
    size_t len;
    uint64_t h; /* hash of the key */
};

struct sim_store {
    struct sim_record *recs; /* dense, in no particular order */
    size_t n, cap;
    uint32_t *slots; /* index + 1 into recs, 0 when empty; n_slots a power of two */
    size_t n_slots;
};

/* Fills *r with a copy of key and value (one allocation). KQ_ERR_NOMEM (*r zeroed). */
KQ_MUST_USE enum kq_err sim_record_make(struct sim_record *r, const char *key, const uint8_t *value,
                                        size_t len);
void sim_record_free(struct sim_record *r);

void sim_store_free(struct sim_store *s);
/* The record with this key, or NULL. Borrowed until the store changes. */
const struct sim_record *sim_store_get(const struct sim_store *s, const char *key);
/* Room for `total` records without allocating (so a group of puts cannot fail half-way).
 * KQ_ERR_LIMIT past max_records, KQ_ERR_NOMEM. */
KQ_MUST_USE enum kq_err sim_store_reserve(struct sim_store *s, size_t total, size_t max_records);
/* Inserts or replaces; takes ownership of *r (zeroed). Needs room reserved (asserted). */
void sim_store_put(struct sim_store *s, struct sim_record *r);
/* Deletes key if present. */
void sim_store_erase(struct sim_store *s, const char *key);
/* A malloc'd array of the n records' addresses in key order (strcmp), for RESTORE; NULL with
 * *n = 0 when empty. KQ_ERR_NOMEM. Valid until the store changes. */
KQ_MUST_USE enum kq_err sim_store_sorted(const struct sim_store *s, const struct sim_record ***out,
                                         size_t *n);

#endif
