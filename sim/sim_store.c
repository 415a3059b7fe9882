/* The simulated disk's record map (sim_store.h): FNV-1a hashed keys, linear probing at most half
 * full, deletion by backward shift (no tombstones), the dense array compacted by moving the last
 * record into the hole. Key order is only computed when a node restores. */
#include "sim_store.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_SLOTS 16u

static uint64_t key_hash(const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const char *p = key; *p != '\0'; p++) {
        h ^= (uint8_t)*p;
        h *= 0x100000001b3ULL;
    }
    return h;
}

enum kq_err sim_record_make(struct sim_record *r, const char *key, const uint8_t *value, size_t len)
{
    KQ_ASSERT(r != NULL && key != NULL && (value != NULL || len == 0));
    memset(r, 0, sizeof *r);
    size_t klen = strlen(key);
    KQ_ENSURE(len <= SIZE_MAX - klen - 1, KQ_ERR_LIMIT);
    char *mem = malloc(klen + 1 + len);
    KQ_ENSURE(mem != NULL, KQ_ERR_NOMEM);
    memcpy(mem, key, klen + 1);
    if (len > 0)
        memcpy(mem + klen + 1, value, len);
    r->key = mem;
    r->value = (uint8_t *)mem + klen + 1;
    r->len = len;
    r->h = key_hash(key);
    return KQ_OK;
}

void sim_record_free(struct sim_record *r)
{
    free(r->key);
    memset(r, 0, sizeof *r);
}

void sim_store_free(struct sim_store *s)
{
    for (size_t i = 0; i < s->n; i++)
        sim_record_free(&s->recs[i]);
    free(s->recs);
    free(s->slots);
    memset(s, 0, sizeof *s);
}

/* The slot holding `key` (hash h), or the empty slot where it would go. */
static size_t find_slot(const struct sim_store *s, const char *key, uint64_t h)
{
    size_t mask = s->n_slots - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        uint32_t v = s->slots[i];
        if (v == 0)
            return i;
        const struct sim_record *r = &s->recs[v - 1];
        if (r->h == h && strcmp(r->key, key) == 0)
            return i;
    }
}

const struct sim_record *sim_store_get(const struct sim_store *s, const char *key)
{
    KQ_ASSERT(key != NULL);
    if (s->n == 0)
        return NULL;
    uint32_t v = s->slots[find_slot(s, key, key_hash(key))];
    return v == 0 ? NULL : &s->recs[v - 1];
}

static enum kq_err rehash(struct sim_store *s, size_t n_slots)
{
    uint32_t *slots = calloc(n_slots, sizeof *slots);
    KQ_ENSURE(slots != NULL, KQ_ERR_NOMEM);
    free(s->slots);
    s->slots = slots;
    s->n_slots = n_slots;
    for (size_t i = 0; i < s->n; i++) {
        size_t k = find_slot(s, s->recs[i].key, s->recs[i].h);
        KQ_ASSERT(s->slots[k] == 0);
        s->slots[k] = (uint32_t)(i + 1);
    }
    return KQ_OK;
}

enum kq_err sim_store_reserve(struct sim_store *s, size_t total, size_t max_records)
{
    KQ_ASSERT(max_records <= UINT32_MAX - 1);
    KQ_ENSURE(total <= max_records, KQ_ERR_LIMIT);
    if (total > s->cap) {
        size_t cap = s->cap == 0 ? 8 : s->cap;
        while (cap < total)
            cap *= 2;
        struct sim_record *r = realloc(s->recs, cap * sizeof *r);
        KQ_ENSURE(r != NULL, KQ_ERR_NOMEM);
        s->recs = r;
        s->cap = cap;
    }
    size_t n_slots = s->n_slots == 0 ? FIRST_SLOTS : s->n_slots;
    while (n_slots < 2 * total)
        n_slots *= 2;
    if (n_slots != s->n_slots)
        KQ_GUARD(rehash(s, n_slots));
    return KQ_OK;
}

void sim_store_put(struct sim_store *s, struct sim_record *r)
{
    KQ_ASSERT(r != NULL && r->key != NULL && s->n_slots > 0);
    size_t k = find_slot(s, r->key, r->h);
    if (s->slots[k] != 0) {
        struct sim_record *old = &s->recs[s->slots[k] - 1];
        sim_record_free(old);
        *old = *r;
    } else {
        KQ_ASSERT(s->n < s->cap && 2 * (s->n + 1) <= s->n_slots); /* reserved */
        s->recs[s->n] = *r;
        s->slots[k] = (uint32_t)(++s->n);
    }
    memset(r, 0, sizeof *r);
}

/* Empties slot i and shifts later entries of its probe run back, so lookups stay correct. */
static void slot_remove(struct sim_store *s, size_t i)
{
    size_t mask = s->n_slots - 1;
    s->slots[i] = 0;
    for (size_t j = (i + 1) & mask; s->slots[j] != 0; j = (j + 1) & mask) {
        size_t home = (size_t)s->recs[s->slots[j] - 1].h & mask;
        bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            s->slots[i] = s->slots[j];
            s->slots[j] = 0;
            i = j;
        }
    }
}

void sim_store_erase(struct sim_store *s, const char *key)
{
    KQ_ASSERT(key != NULL);
    if (s->n == 0)
        return;
    size_t k = find_slot(s, key, key_hash(key));
    uint32_t v = s->slots[k];
    if (v == 0)
        return;
    slot_remove(s, k);
    sim_record_free(&s->recs[v - 1]);
    size_t last = s->n - 1;
    if (v - 1 != last) { /* move the last record into the hole and repoint its slot */
        size_t m = find_slot(s, s->recs[last].key, s->recs[last].h);
        KQ_ASSERT(s->slots[m] == last + 1);
        s->recs[v - 1] = s->recs[last];
        s->slots[m] = v;
    }
    s->n = last;
}

static int by_key(const void *a, const void *b)
{
    const struct sim_record *const *x = a, *const *y = b;
    return strcmp((*x)->key, (*y)->key);
}

enum kq_err sim_store_sorted(const struct sim_store *s, const struct sim_record ***out, size_t *n)
{
    KQ_ASSERT(out != NULL && n != NULL);
    *out = NULL;
    *n = 0;
    if (s->n == 0)
        return KQ_OK;
    const struct sim_record **v = malloc(s->n * sizeof *v);
    KQ_ENSURE(v != NULL, KQ_ERR_NOMEM);
    for (size_t i = 0; i < s->n; i++)
        v[i] = &s->recs[i];
    qsort(v, s->n, sizeof *v, by_key);
    *out = v;
    *n = s->n;
    return KQ_OK;
}
