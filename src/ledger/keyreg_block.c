/* The key registry's lifecycle (docs/keys.md §2 "Lifecycle"): committees, starting DKG sessions,
 * and what happens at the end of every block: sessions finalized by replaying their transcripts,
 * versions activated, time rules (rotation period, deletion, min-version), the epoch advanced and
 * every live version refreshed or reshared into it. Deterministic: only the state, the height
 * and the BFT time are read. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/roles.h"
#include "ledger/keyreg_internal.h"
#include "ledger/state.h"

#define PENDING_KEY "keyv/pending"
#define RANK_TAG    "keyquorum/v1/keeper-rank"
#define SESSION_TAG "keyquorum/v1/dkg-session"

/* ---- the pending-activation list ---- */

static enum kq_err pending_encode(const struct kq_pending_list *l, uint8_t *out, size_t cap,
                                  size_t *out_len)
{
    struct kq_buf b;
    kq_buf_writer(&b, out, cap);
    KQ_ENSURE(l->count <= KQ_KEYREG_MAX_KEYS, KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_put_u8(&b, KQ_KEYREG_VERSION));
    KQ_GUARD(kq_buf_put_u16(&b, (uint16_t)l->count));
    for (uint32_t i = 0; i < l->count; i++) {
        size_t n = strlen(l->items[i].name);
        KQ_GUARD(kq_buf_put_u8(&b, (uint8_t)n));
        KQ_GUARD(kq_buf_put(&b, l->items[i].name, n));
        KQ_GUARD(kq_buf_put_u32(&b, l->items[i].version));
        KQ_GUARD(kq_buf_put_u64(&b, l->items[i].activate_height));
    }
    *out_len = kq_buf_len(&b);
    return KQ_OK;
}

static enum kq_err pending_decode(struct kq_pending_list *l, const uint8_t *in, size_t len)
{
    struct kq_buf b;
    uint8_t v, n;
    uint16_t count;
    kq_buf_reader(&b, in, len);
    l->count = 0;
    KQ_GUARD(kq_buf_get_u8(&b, &v));
    KQ_ENSURE(v == KQ_KEYREG_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_u16(&b, &count));
    KQ_ENSURE(count <= KQ_KEYREG_MAX_KEYS, KQ_ERR_LIMIT);
    for (uint32_t i = 0; i < count; i++) {
        KQ_GUARD(kq_buf_get_u8(&b, &n));
        KQ_ENSURE(n >= 1 && n <= KQ_KEY_NAME_MAX_BYTES, KQ_ERR_FORMAT);
        KQ_GUARD(kq_buf_get(&b, l->items[i].name, n));
        l->items[i].name[n] = '\0';
        KQ_ENSURE(kq_key_name_ok(l->items[i].name, n), KQ_ERR_FORMAT);
        KQ_GUARD(kq_buf_get_u32(&b, &l->items[i].version));
        KQ_GUARD(kq_buf_get_u64(&b, &l->items[i].activate_height));
    }
    KQ_GUARD(kq_buf_expect_end(&b));
    l->count = count;
    return KQ_OK;
}

enum kq_err kq_keyreg_pending(const struct kq_smt *st, struct kq_pending_list *l)
{
    const uint8_t *v;
    size_t len;
    enum kq_err err = kq_smt_get(st, (const uint8_t *)PENDING_KEY, strlen(PENDING_KEY), &v, &len);
    if (err == KQ_ERR_NOT_FOUND) {
        l->count = 0;
        return KQ_OK;
    }
    KQ_GUARD(err);
    return pending_decode(l, v, len);
}

enum kq_err kq_keyreg_put_pending(struct kq_smt **cur, const struct kq_pending_list *l)
{
    size_t cap = 3 + KQ_KEYREG_MAX_KEYS * (1 + KQ_KEY_NAME_MAX_BYTES + 12), len;
    uint8_t *buf = malloc(cap);
    KQ_ENSURE(buf != NULL, KQ_ERR_NOMEM);
    enum kq_err err = pending_encode(l, buf, cap, &len);
    if (err == KQ_OK)
        err = kq_state_put(cur, PENDING_KEY, buf, len);
    free(buf);
    return err;
}
KQ_STATIC_ASSERT(3 + KQ_KEYREG_MAX_KEYS * (1 + KQ_KEY_NAME_MAX_BYTES + 12) <=
                     KQ_LEDGER_MAX_VALUE_BYTES,
                 "the pending list fits a state value");

/* ---- context, genesis, busy ---- */

enum kq_err kq_keyreg_ctx_load(const struct kq_smt *st, const kq_hash *chain_id, uint64_t height,
                               uint64_t bft_ms, struct kq_keyreg_ctx *c)
{
    memset(c, 0, sizeof *c);
    c->chain_id = *chain_id;
    c->height = height;
    c->bft_ms = bft_ms;
    KQ_GUARD(kq_keyreg_params(st, &c->params));
    return kq_keyreg_epoch(st, &c->epoch);
}

enum kq_err kq_keyreg_genesis(struct kq_smt **cur, const struct kq_keyparams *p,
                              uint64_t genesis_ms)
{
    struct kq_epoch_rec e = {.number = 1, .start_ms = genesis_ms};
    KQ_GUARD(kq_keyreg_put_params(cur, p));
    return kq_keyreg_put_epoch(cur, &e);
}

bool kq_keyreg_busy(const struct kq_smt *st)
{
    struct kq_session_list *l = malloc(sizeof *l);
    struct kq_pending_list *p = malloc(sizeof *p);
    struct kq_epoch_rec e;
    bool busy = l == NULL || p == NULL; /* cannot tell: do not idle */
    if (!busy)
        busy = (kq_keyreg_sessions(st, l) == KQ_OK && l->count > 0) ||
               (kq_keyreg_pending(st, p) == KQ_OK && p->count > 0) ||
               (kq_keyreg_epoch(st, &e) == KQ_OK && e.advance_pending);
    free(l);
    free(p);
    return busy;
}

/* ---- committees ---- */

struct cand_ctx {
    const struct kq_smt *st;
    const char *name;
    uint32_t version;
    uint64_t epoch;
    size_t n, seen;
    struct {
        uint32_t id;
        kq_hash rank;
    } c[KQ_MAX_NODES];
};

static bool visit_candidate(void *ctx, const kq_hash *path, const uint8_t *key, size_t key_len,
                            const uint8_t *value, size_t value_len)
{
    (void)path;
    struct cand_ctx *cc = ctx;
    static const char prefix[] = "node/";
    struct kq_member_node m;
    struct kq_keeper_rec k;
    uint8_t pk[KQ_DKG_X25519BYTES];
    cc->seen++;
    if (key_len <= sizeof prefix - 1 || memcmp(key, prefix, sizeof prefix - 1) != 0 ||
        kq_member_node_decode(&m, value, value_len) != KQ_OK || !(m.roles & KQ_ROLE_KEEPER) ||
        cc->n >= KQ_MAX_NODES)
        return true;
    if (kq_keyreg_keeper(cc->st, m.node_id, &k) == KQ_OK && k.quarantined)
        return true;
    if (kq_keyreg_epoch_key(cc->st, m.node_id, cc->epoch, pk) != KQ_OK)
        return true;
    struct kq_hasher h;
    kq_hasher_init(&h, RANK_TAG);
    kq_hasher_put_var(&h, cc->name, strlen(cc->name));
    kq_hasher_put_u32(&h, cc->version);
    kq_hasher_put_u32(&h, m.node_id);
    cc->c[cc->n].id = m.node_id;
    kq_hasher_final(&h, &cc->c[cc->n].rank);
    cc->n++;
    return true;
}

static int cmp_rank(const void *a, const void *b)
{
    const struct {
        uint32_t id;
        kq_hash rank;
    } *x = a, *y = b;
    int c = memcmp(x->rank.b, y->rank.b, KQ_HASH_BYTES);
    return c != 0 ? c : (x->id > y->id) - (x->id < y->id);
}

enum kq_err kq_keyreg_candidates(const struct kq_smt *st, const char *name, uint32_t version,
                                 uint64_t epoch, uint32_t *out, size_t cap, size_t *n)
{
    struct cand_ctx *cc = calloc(1, sizeof *cc);
    KQ_ENSURE(cc != NULL, KQ_ERR_NOMEM);
    cc->st = st;
    cc->name = name;
    cc->version = version;
    cc->epoch = epoch;
    kq_smt_foreach(st, NULL, visit_candidate, cc);
    qsort(cc->c, cc->n, sizeof cc->c[0], cmp_rank);
    *n = cc->n < cap ? cc->n : cap;
    for (size_t i = 0; i < *n; i++)
        out[i] = cc->c[i].id;
    free(cc);
    return KQ_OK;
}

static void session_id(const struct kq_keyreg_ctx *c, const char *name, uint32_t version,
                       uint8_t mode, uint64_t epoch, uint32_t attempt, kq_hash *id)
{
    struct kq_hasher h;
    kq_hasher_init(&h, SESSION_TAG);
    kq_hasher_put(&h, c->chain_id.b, KQ_HASH_BYTES);
    kq_hasher_put_var(&h, name, strlen(name));
    kq_hasher_put_u32(&h, version);
    kq_hasher_put_u32(&h, mode);
    kq_hasher_put_u64(&h, epoch);
    kq_hasher_put_u32(&h, attempt);
    kq_hasher_final(&h, id);
}

static enum kq_err list_add(struct kq_smt **cur, const kq_hash *id, uint64_t due, bool *full)
{
    struct kq_session_list *l = malloc(sizeof *l);
    KQ_ENSURE(l != NULL, KQ_ERR_NOMEM);
    enum kq_err err = kq_keyreg_sessions(*cur, l);
    *full = err == KQ_OK && l->count >= KQ_KEYREG_MAX_SESSIONS;
    if (err == KQ_OK && !*full) {
        l->ids[l->count] = *id;
        l->due[l->count++] = due;
        err = kq_keyreg_put_sessions(cur, l);
    }
    free(l);
    return err;
}

static enum kq_err list_remove(struct kq_smt **cur, const kq_hash *id)
{
    struct kq_session_list *l = malloc(sizeof *l);
    KQ_ENSURE(l != NULL, KQ_ERR_NOMEM);
    enum kq_err err = kq_keyreg_sessions(*cur, l);
    if (err == KQ_OK) {
        uint32_t w = 0;
        for (uint32_t i = 0; i < l->count; i++)
            if (!kq_hash_eq(&l->ids[i], id)) {
                l->ids[w] = l->ids[i];
                l->due[w++] = l->due[i];
            }
        l->count = w;
        err = kq_keyreg_put_sessions(cur, l);
    }
    free(l);
    return err;
}

/* Fills the session's deadlines and writes it with its list entry; *started false (nothing
 * written) when the running list is full. */
static enum kq_err session_open(struct kq_smt **cur, const struct kq_keyreg_ctx *c,
                                struct kq_session_rec *s, bool *started)
{
    s->state = KQ_SESSION_RUNNING;
    s->start_height = c->height;
    s->deal_deadline = c->height + c->params.dkg_deal_blocks;
    s->complaint_deadline = s->deal_deadline + c->params.dkg_complaint_blocks;
    s->justify_deadline = s->complaint_deadline + c->params.dkg_justify_blocks;
    bool full = false;
    KQ_GUARD(list_add(cur, &s->id, s->complaint_deadline, &full));
    *started = !full;
    return full ? KQ_OK : kq_keyreg_put_session(cur, s);
}

enum kq_err kq_keyreg_start_fresh(struct kq_smt **cur, const struct kq_keyreg_ctx *c,
                                  const struct kq_key_rec *k, uint32_t version, uint32_t attempt,
                                  bool *started, kq_hash *id)
{
    uint32_t ids[KQ_DKG_MAX_N];
    size_t n = 0;
    *started = false;
    KQ_GUARD(kq_keyreg_candidates(*cur, k->name, version, c->epoch.number, ids, k->n, &n));
    if (n < k->n)
        return KQ_OK;
    struct kq_session_rec *s = calloc(1, sizeof *s);
    KQ_ENSURE(s != NULL, KQ_ERR_NOMEM);
    snprintf(s->name, sizeof s->name, "%s", k->name);
    s->version = version;
    s->mode = KQ_DKG_FRESH;
    s->epoch = c->epoch.number;
    s->attempt = attempt;
    s->n = k->n;
    s->t = k->t;
    enum kq_err err = KQ_OK;
    for (uint32_t i = 0; i < s->n && err == KQ_OK; i++) {
        s->keepers[i] = ids[i];
        err = kq_keyreg_epoch_key(*cur, ids[i], s->epoch, s->pks[i]);
    }
    session_id(c, k->name, version, KQ_DKG_FRESH, s->epoch, attempt, &s->id);
    if (err == KQ_OK)
        err = session_open(cur, c, s, started);
    *id = s->id;
    free(s);
    return err;
}

/* ---- the index of time rules ---- */

static uint64_t next_due(const struct kq_key_rec *k)
{
    uint64_t due = UINT64_MAX;
    if (k->state == KQ_KEY_PENDING_DELETION)
        due = k->delete_at_ms;
    if (k->state == KQ_KEY_ENABLED && k->pending_min_version != 0 && k->pending_min_at_ms < due)
        due = k->pending_min_at_ms;
    uint64_t rot = k->active_since_ms + k->period_ms;
    rot = rot > k->retry_at_ms ? rot : k->retry_at_ms;
    if (k->state == KQ_KEY_ENABLED && k->period_ms > 0 && k->active_version > 0 &&
        k->generating_version == 0 && rot < due)
        due = rot;
    return due;
}

enum kq_err kq_keyreg_index_update(struct kq_smt **cur, const struct kq_key_rec *k)
{
    struct kq_key_index *ix = malloc(sizeof *ix);
    KQ_ENSURE(ix != NULL, KQ_ERR_NOMEM);
    enum kq_err err = kq_keyreg_index(*cur, ix);
    uint32_t i = 0;
    while (err == KQ_OK && i < ix->count && strcmp(ix->keys[i].name, k->name) != 0)
        i++;
    if (err == KQ_OK && i == ix->count) {
        if (ix->count >= KQ_KEYREG_MAX_KEYS)
            err = KQ_ERR_LIMIT;
        else
            snprintf(ix->keys[ix->count++].name, sizeof ix->keys[0].name, "%s", k->name);
    }
    if (err == KQ_OK) {
        uint64_t due = next_due(k);
        if (ix->keys[i].next_due_ms != due || i == ix->count - 1) {
            ix->keys[i].next_due_ms = due;
            err = kq_keyreg_put_index(cur, ix);
        }
    }
    free(ix);
    return err;
}

/* ---- rotation ---- */

enum kq_err kq_keyreg_rotate(struct kq_smt **cur, const struct kq_keyreg_ctx *c,
                             struct kq_key_rec *k, bool *started)
{
    uint32_t v = k->latest_version + 1;
    kq_hash id;
    KQ_ENSURE(k->latest_version < UINT32_MAX, KQ_ERR_LIMIT);
    KQ_GUARD(kq_keyreg_start_fresh(cur, c, k, v, 0, started, &id));
    if (!*started)
        return KQ_OK;
    struct kq_keyver_rec rec = {
        .version = v, .state = KQ_KEYVER_GENERATING, .created_height = c->height, .session = id};
    KQ_GUARD(kq_keyreg_put_version(cur, k->name, &rec));
    k->latest_version = v;
    k->generating_version = v;
    k->retry_at_ms = 0;
    KQ_GUARD(kq_keyreg_put_key(cur, k));
    return kq_keyreg_index_update(cur, k);
}

/* ---- refresh and reshare ---- */

static bool in_list(const uint32_t *ids, uint32_t n, uint32_t id)
{
    for (uint32_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

/* Whether node id can stay in a committee for epoch e: a keeper, not quarantined, with a key. */
static bool eligible(const struct kq_smt *st, uint32_t id, uint64_t e)
{
    struct kq_member_node m;
    struct kq_keeper_rec k;
    uint8_t pk[KQ_DKG_X25519BYTES];
    if (kq_member_get(st, id, &m) != KQ_OK || !(m.roles & KQ_ROLE_KEEPER))
        return false;
    if (kq_keyreg_keeper(st, id, &k) == KQ_OK && k.quarantined)
        return false;
    return kq_keyreg_epoch_key(st, id, e, pk) == KQ_OK;
}

/* A member that reported a lost store after its sharing was made holds no share. */
static bool lost_since(const struct kq_smt *st, uint32_t id, uint64_t height)
{
    struct kq_keeper_rec k;
    return kq_keyreg_keeper(st, id, &k) == KQ_OK && k.lost_height >= height;
}

/* Starts the session that moves version v of k from its sharing old into epoch e: REFRESH when
 * the committee stays and every member holds its share, else RESHARE to the eligible members
 * (in their order) topped up to k->n by rank, at least k->t of them. *started false when it
 * cannot start yet. */
static enum kq_err start_move(struct kq_smt **cur, const struct kq_keyreg_ctx *c,
                              const struct kq_key_rec *k, struct kq_keyver_rec *v,
                              const struct kq_sharing_rec *old, uint64_t e, bool *started)
{
    struct kq_session_rec *s = calloc(1, sizeof *s);
    KQ_ENSURE(s != NULL, KQ_ERR_NOMEM);
    enum kq_err err = KQ_OK;
    uint32_t n = 0, holders = 0;
    bool same = old->n == k->n && old->t == k->t;
    *started = false;
    for (uint32_t i = 0; i < old->n; i++) {
        bool ok = eligible(*cur, old->keepers[i], e);
        bool holds = !lost_since(*cur, old->keepers[i], old->effective_height);
        same = same && ok && holds;
        holders += holds;
        if (ok && n < k->n)
            s->keepers[n++] = old->keepers[i];
    }
    if (n < k->n) {
        uint32_t cand[KQ_DKG_MAX_N * 2];
        size_t nc = 0;
        err = kq_keyreg_candidates(*cur, k->name, v->version, e, cand, sizeof cand / sizeof cand[0],
                                   &nc);
        for (size_t i = 0; err == KQ_OK && i < nc && n < k->n; i++)
            if (!in_list(s->keepers, n, cand[i]))
                s->keepers[n++] = cand[i];
    }
    /* The committee may shrink below k->n, but never the threshold below k->t (only an admin's
     * RESHARE lowers it): with fewer eligible keepers the move waits for more. */
    uint32_t t = k->t;
    KQ_ASSERT(t >= 1);
    if (err != KQ_OK || n < t || holders < old->t)
        goto out; /* not yet: the end of a later block retries */
    snprintf(s->name, sizeof s->name, "%s", k->name);
    s->version = v->version;
    s->mode = same ? KQ_DKG_REFRESH : KQ_DKG_RESHARE;
    s->epoch = e;
    s->attempt = v->attempts;
    s->n = same ? old->n : n;
    s->t = same ? old->t : t;
    for (uint32_t i = 0; i < s->n && err == KQ_OK; i++)
        err = kq_keyreg_epoch_key(*cur, s->keepers[i], e, s->pks[i]);
    s->old_epoch = old->epoch;
    s->old_n = old->n;
    s->old_t = old->t;
    memcpy(s->old_keepers, old->keepers, sizeof s->old_keepers);
    memcpy(s->old_commits, old->commits, sizeof s->old_commits);
    for (uint32_t i = 0; i < old->n && err == KQ_OK; i++) /* a dealer without a key: zeros */
        if (kq_keyreg_epoch_key(*cur, old->keepers[i], e, s->old_pks[i]) != KQ_OK)
            memset(s->old_pks[i], 0, KQ_DKG_X25519BYTES);
    if (s->mode == KQ_DKG_REFRESH) /* refresh: dealers are the recipients */
        memcpy(s->old_pks, s->pks, sizeof s->pks);
    session_id(c, k->name, v->version, s->mode, e, s->attempt, &s->id);
    if (err == KQ_OK)
        err = session_open(cur, c, s, started);
    if (err == KQ_OK && *started)
        v->session = s->id;
out:
    free(s);
    return err;
}

/* ---- finalization ---- */

/* Builds the observer's configuration of a session (pointers into s). */
static void observer_cfg(const struct kq_session_rec *s, struct kq_dkg_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->mode = (enum kq_dkg_mode)s->mode;
    memcpy(cfg->session, s->id.b, KQ_DKG_SESSIONBYTES);
    cfg->n = s->n;
    cfg->t = s->t;
    cfg->pks = (const uint8_t(*)[KQ_DKG_X25519BYTES])s->pks;
    if (s->mode != KQ_DKG_FRESH) {
        cfg->old_n = s->mode == KQ_DKG_RESHARE ? s->old_n : 0;
        cfg->old_t = s->mode == KQ_DKG_RESHARE ? s->old_t : 0;
        cfg->old_pks = (const uint8_t(*)[KQ_DKG_X25519BYTES])s->old_pks;
        cfg->old_commits = (const uint8_t(*)[KQ_POINTBYTES])s->old_commits;
    }
    cfg->deal_deadline = s->deal_deadline;
    cfg->complaint_deadline = s->complaint_deadline;
    cfg->justify_deadline = s->justify_deadline;
}

/* Replays the session's recorded messages: KQ_OK with *res, or the DKG's failure. */
static enum kq_err replay(const struct kq_smt *st, const struct kq_session_rec *s,
                          struct kq_dkg_result *res)
{
    struct kq_dkg_cfg cfg;
    observer_cfg(s, &cfg);
    struct kq_session_msg *m = malloc((size_t)(s->msg_count ? s->msg_count : 1) * sizeof *m);
    struct kq_dkg_transcript_msg *t = malloc((size_t)(s->msg_count ? s->msg_count : 1) * sizeof *t);
    enum kq_err err = m != NULL && t != NULL ? KQ_OK : KQ_ERR_NOMEM;
    for (uint32_t i = 0; err == KQ_OK && i < s->msg_count; i++) {
        err = kq_keyreg_session_msg(st, &s->id, i, &m[i]);
        t[i] = (struct kq_dkg_transcript_msg){
            .height = m[i].height, .sender = m[i].sender, .bytes = m[i].bytes, .len = m[i].len};
    }
    if (err == KQ_OK)
        err = kq_dkg_transcript_derive(&cfg, t, s->msg_count, res);
    free(m);
    free(t);
    return err;
}

static enum kq_err pending_add(struct kq_smt **cur, const char *name, uint32_t version, uint64_t at)
{
    struct kq_pending_list *l = malloc(sizeof *l);
    KQ_ENSURE(l != NULL, KQ_ERR_NOMEM);
    enum kq_err err = kq_keyreg_pending(*cur, l);
    if (err == KQ_OK && l->count >= KQ_KEYREG_MAX_KEYS)
        err = KQ_ERR_LIMIT;
    if (err == KQ_OK) {
        snprintf(l->items[l->count].name, sizeof l->items[0].name, "%s", name);
        l->items[l->count].version = version;
        l->items[l->count].activate_height = at;
        l->count++;
        err = kq_keyreg_put_pending(cur, l);
    }
    free(l);
    return err;
}

/* Makes version v of k active (the previous active one decrypt-only). */
static enum kq_err activate(struct kq_smt **cur, const struct kq_keyreg_ctx *c,
                            struct kq_key_rec *k, struct kq_keyver_rec *v)
{
    if (k->active_version != 0 && k->active_version != v->version) {
        struct kq_keyver_rec prev;
        KQ_GUARD(kq_keyreg_version(*cur, k->name, k->active_version, &prev));
        if (prev.state == KQ_KEYVER_ACTIVE) {
            prev.state = KQ_KEYVER_DECRYPT_ONLY;
            KQ_GUARD(kq_keyreg_put_version(cur, k->name, &prev));
        }
    }
    v->state = KQ_KEYVER_ACTIVE;
    KQ_GUARD(kq_keyreg_put_version(cur, k->name, v));
    k->active_version = v->version;
    k->active_since_ms = c->bft_ms;
    k->ops = 0;
    if (k->generating_version == v->version)
        k->generating_version = 0;
    KQ_GUARD(kq_keyreg_put_key(cur, k));
    return kq_keyreg_index_update(cur, k);
}

static bool version_live(uint8_t state)
{
    return state == KQ_KEYVER_ACTIVE || state == KQ_KEYVER_DECRYPT_ONLY ||
           state == KQ_KEYVER_PENDING;
}

/* A session whose DKG failed: retried as a new session (attempt + 1), or given up. */
static enum kq_err session_failed(struct kq_smt **cur, const struct kq_keyreg_ctx *c,
                                  const struct kq_session_rec *s, struct kq_key_rec *k,
                                  struct kq_keyver_rec *v)
{
    memset(&v->session, 0, sizeof v->session);
    v->attempts++;
    if (s->mode == KQ_DKG_FRESH) {
        bool started = false;
        kq_hash id;
        if (v->attempts < KQ_KEYREG_MAX_ATTEMPTS && k->state == KQ_KEY_ENABLED)
            KQ_GUARD(kq_keyreg_start_fresh(cur, c, k, v->version, v->attempts, &started, &id));
        if (started) {
            v->session = id;
        } else {
            v->state = KQ_KEYVER_FAILED;
            k->generating_version = 0;
            KQ_GUARD(kq_keyreg_put_key(cur, k));
            KQ_GUARD(kq_keyreg_index_update(cur, k));
        }
        return kq_keyreg_put_version(cur, k->name, v);
    }
    /* attempts reaching the bound: move_versions gives up for this epoch (the version keeps
     * serving its current sharing) */
    KQ_GUARD(kq_keyreg_put_version(cur, k->name, v));
    return kq_keyreg_mark_advance_retry(cur);
}

static enum kq_err session_done(struct kq_smt **cur, const struct kq_keyreg_ctx *c,
                                const struct kq_session_rec *s, const struct kq_dkg_result *r,
                                struct kq_key_rec *k, struct kq_keyver_rec *v)
{
    if (s->mode != KQ_DKG_FRESH && memcmp(r->group_pk, v->public_key, KQ_POINTBYTES) != 0)
        return session_failed(cur, c, s, k, v); /* cannot happen with a correct DKG */
    struct kq_sharing_rec *sh = calloc(1, sizeof *sh);
    KQ_ENSURE(sh != NULL, KQ_ERR_NOMEM);
    sh->epoch = s->epoch;
    sh->n = r->n;
    sh->t = r->t;
    memcpy(sh->keepers, s->keepers, sizeof sh->keepers);
    memcpy(sh->commits, r->commits, sizeof sh->commits);
    memcpy(sh->public_shares, r->public_shares, sizeof sh->public_shares);
    sh->effective_height = c->height;
    sh->session = s->id;
    enum kq_err err = kq_keyreg_put_sharing(cur, k->name, v->version, sh);
    free(sh);
    KQ_GUARD(err);
    memset(&v->session, 0, sizeof v->session);
    v->attempts = 0;
    if (s->mode == KQ_DKG_FRESH) {
        memcpy(v->public_key, r->group_pk, KQ_POINTBYTES);
        v->epoch = s->epoch;
        v->want_epoch = s->epoch;
        v->finalized_height = c->height;
        if (v->version == 1 || k->active_version == 0)
            return activate(cur, c, k, v);
        v->state = KQ_KEYVER_PENDING;
        v->activate_height = c->height + c->params.activation_delay_blocks;
        KQ_GUARD(kq_keyreg_put_version(cur, k->name, v));
        return pending_add(cur, k->name, v->version, v->activate_height);
    }
    v->prev_epoch = v->epoch;
    v->prev_until_height = c->height + c->params.epoch_grace_blocks;
    v->epoch = s->epoch;
    return kq_keyreg_put_version(cur, k->name, v);
}

/* Finalizes session id if its deadline passed; *removed true when it left the running list. */
static enum kq_err finalize_one(struct kq_smt **cur, const struct kq_keyreg_ctx *c,
                                const kq_hash *id, bool *removed)
{
    *removed = false;
    struct kq_session_rec *s = malloc(sizeof *s);
    struct kq_dkg_result *r = malloc(sizeof *r);
    enum kq_err err = s != NULL && r != NULL ? KQ_OK : KQ_ERR_NOMEM;
    if (err == KQ_OK)
        err = kq_keyreg_session(*cur, id, s);
    bool due = err == KQ_OK && s->state == KQ_SESSION_RUNNING &&
               (c->height >= s->justify_deadline ||
                (c->height >= s->complaint_deadline && s->complaints == 0));
    if (err != KQ_OK || !due)
        goto out;
    struct kq_key_rec k;
    struct kq_keyver_rec v;
    enum kq_err dkg = replay(*cur, s, r);
    s->state = dkg == KQ_OK ? KQ_SESSION_DONE : KQ_SESSION_FAILED;
    if ((err = kq_keyreg_put_session(cur, s)) != KQ_OK || (err = list_remove(cur, id)) != KQ_OK)
        goto out;
    *removed = true;
    if (kq_keyreg_key(*cur, s->name, &k) != KQ_OK ||
        kq_keyreg_version(*cur, s->name, s->version, &v) != KQ_OK || !kq_hash_eq(&v.session, id) ||
        k.state == KQ_KEY_DELETED)
        goto out; /* superseded (deleted key, retired version): nothing to record */
    if (dkg == KQ_ERR_NOMEM)
        err = dkg;
    else if (dkg != KQ_OK)
        err = session_failed(cur, c, s, &k, &v);
    else
        err = session_done(cur, c, s, r, &k, &v);
    /* the epoch advanced while it ran (move_versions skipped the version then): move it on */
    if (err == KQ_OK && dkg == KQ_OK && s->epoch < c->epoch.number)
        err = kq_keyreg_mark_advance_retry(cur);
out:
    if (r != NULL)
        kq_dkg_result_wipe(r);
    free(r);
    free(s);
    return err;
}

static enum kq_err finalize_sessions(struct kq_smt **cur, const struct kq_keyreg_ctx *c)
{
    struct kq_session_list *l = malloc(sizeof *l);
    KQ_ENSURE(l != NULL, KQ_ERR_NOMEM);
    enum kq_err err = kq_keyreg_sessions(*cur, l);
    for (uint32_t i = 0; err == KQ_OK && i < l->count; i++) {
        bool removed;
        if (c->height >= l->due[i]) /* none finalizes before its complaint deadline */
            err = finalize_one(cur, c, &l->ids[i], &removed);
    }
    free(l);
    return err;
}

/* ---- activation and time rules ---- */

static enum kq_err activate_pending(struct kq_smt **cur, const struct kq_keyreg_ctx *c)
{
    struct kq_pending_list *l = malloc(sizeof *l);
    KQ_ENSURE(l != NULL, KQ_ERR_NOMEM);
    enum kq_err err = kq_keyreg_pending(*cur, l);
    uint32_t w = 0;
    bool changed = false;
    for (uint32_t i = 0; err == KQ_OK && i < l->count; i++) {
        struct kq_key_rec k;
        struct kq_keyver_rec v;
        if (l->items[i].activate_height > c->height) {
            l->items[w++] = l->items[i];
            continue;
        }
        changed = true;
        if (kq_keyreg_key(*cur, l->items[i].name, &k) == KQ_OK &&
            kq_keyreg_version(*cur, l->items[i].name, l->items[i].version, &v) == KQ_OK &&
            v.state == KQ_KEYVER_PENDING && k.state != KQ_KEY_DELETED)
            err = activate(cur, c, &k, &v);
    }
    if (err == KQ_OK && changed) {
        l->count = w;
        err = kq_keyreg_put_pending(cur, l);
    }
    free(l);
    return err;
}

static enum kq_err set_versions(struct kq_smt **cur, const struct kq_key_rec *k, uint32_t below,
                                uint8_t from_mask, uint8_t to)
{
    for (uint32_t ver = 1; ver < below && ver <= k->latest_version; ver++) {
        struct kq_keyver_rec v;
        enum kq_err err = kq_keyreg_version(*cur, k->name, ver, &v);
        if (err == KQ_ERR_NOT_FOUND)
            continue;
        KQ_GUARD(err);
        if (!(from_mask & (1u << v.state)))
            continue;
        v.state = to;
        memset(&v.session, 0, sizeof v.session);
        KQ_GUARD(kq_keyreg_put_version(cur, k->name, &v));
    }
    return KQ_OK;
}

static enum kq_err time_rule(struct kq_smt **cur, const struct kq_keyreg_ctx *c, const char *name)
{
    struct kq_key_rec k;
    KQ_GUARD(kq_keyreg_key(*cur, name, &k));
    if (k.state == KQ_KEY_PENDING_DELETION && k.delete_at_ms <= c->bft_ms) {
        k.state = KQ_KEY_DELETED;
        k.generating_version = 0;
        k.pending_min_version = 0;
        KQ_GUARD(set_versions(cur, &k, UINT32_MAX, 0xff, KQ_KEYVER_DELETED));
    }
    if (k.state == KQ_KEY_ENABLED && k.pending_min_version != 0 &&
        k.pending_min_at_ms <= c->bft_ms) {
        KQ_GUARD(set_versions(cur, &k, k.pending_min_version,
                              (uint8_t)(1u << KQ_KEYVER_DECRYPT_ONLY), KQ_KEYVER_RETIRED));
        k.min_decryption_version = k.pending_min_version;
        k.pending_min_version = 0;
    }
    if (k.state == KQ_KEY_ENABLED && k.period_ms > 0 && k.active_version > 0 &&
        k.generating_version == 0 && k.active_since_ms + k.period_ms <= c->bft_ms &&
        k.retry_at_ms <= c->bft_ms) {
        bool started = false;
        KQ_GUARD(kq_keyreg_rotate(cur, c, &k, &started)); /* writes the key and its index */
        if (started)
            return KQ_OK;
        k.retry_at_ms = c->bft_ms + KQ_KEYREG_RETRY_MS;
    }
    KQ_GUARD(kq_keyreg_put_key(cur, &k));
    return kq_keyreg_index_update(cur, &k);
}

static enum kq_err time_rules(struct kq_smt **cur, const struct kq_keyreg_ctx *c)
{
    uint64_t due;
    KQ_GUARD(kq_keyreg_next_due(*cur, &due));
    if (due > c->bft_ms)
        return KQ_OK;
    struct kq_key_index *ix = malloc(sizeof *ix);
    KQ_ENSURE(ix != NULL, KQ_ERR_NOMEM);
    enum kq_err err = kq_keyreg_index(*cur, ix);
    for (uint32_t i = 0; err == KQ_OK && i < ix->count; i++)
        if (ix->keys[i].next_due_ms <= c->bft_ms)
            err = time_rule(cur, c, ix->keys[i].name);
    free(ix);
    return err;
}

/* ---- epochs ---- */

enum kq_err kq_keyreg_mark_advance_retry(struct kq_smt **cur)
{
    struct kq_epoch_rec e;
    KQ_GUARD(kq_keyreg_epoch(*cur, &e));
    if (e.backlog)
        return KQ_OK;
    e.backlog = true;
    return kq_keyreg_put_epoch(cur, &e);
}

/* Every live version behind the epoch without a session gets one when it can; *left counts
 * those still waiting. */
static enum kq_err move_versions(struct kq_smt **cur, const struct kq_keyreg_ctx *c, uint32_t *left)
{
    struct kq_key_index *ix = malloc(sizeof *ix);
    struct kq_sharing_rec *old = malloc(sizeof *old);
    enum kq_err err = ix != NULL && old != NULL ? KQ_OK : KQ_ERR_NOMEM;
    if (err == KQ_OK)
        err = kq_keyreg_index(*cur, ix);
    *left = 0;
    for (uint32_t i = 0; err == KQ_OK && i < ix->count; i++) {
        struct kq_key_rec k;
        if ((err = kq_keyreg_key(*cur, ix->keys[i].name, &k)) != KQ_OK)
            break;
        if (k.state == KQ_KEY_DELETED)
            continue;
        for (uint32_t ver = k.min_decryption_version; err == KQ_OK && ver <= k.latest_version;
             ver++) {
            struct kq_keyver_rec v;
            if (kq_keyreg_version(*cur, k.name, ver, &v) != KQ_OK || !version_live(v.state) ||
                v.epoch == 0 || v.epoch >= c->epoch.number || !kq_hash_is_zero(&v.session))
                continue;
            if (v.want_epoch == c->epoch.number && v.attempts >= KQ_KEYREG_MAX_ATTEMPTS)
                continue; /* given up for this epoch: it keeps its sharing */
            if (v.want_epoch != c->epoch.number) {
                v.want_epoch = c->epoch.number;
                v.attempts = 0;
            }
            bool started = false;
            err = kq_keyreg_sharing(*cur, k.name, ver, v.epoch, old);
            if (err == KQ_OK)
                err = start_move(cur, c, &k, &v, old, c->epoch.number, &started);
            if (err == KQ_OK)
                err = kq_keyreg_put_version(cur, k.name, &v);
            *left += !started;
        }
    }
    free(ix);
    free(old);
    return err;
}

static enum kq_err epochs(struct kq_smt **cur, struct kq_keyreg_ctx *c)
{
    struct kq_epoch_rec e;
    KQ_GUARD(kq_keyreg_epoch(*cur, &e));
    bool period =
        c->params.refresh_period_ms > 0 && c->bft_ms >= e.start_ms + c->params.refresh_period_ms;
    if (e.advance_pending || period) {
        e.number++;
        e.start_height = c->height;
        e.start_ms = c->bft_ms;
        e.advance_pending = false;
        e.backlog = true;
        KQ_GUARD(kq_keyreg_put_epoch(cur, &e));
    }
    if (!e.backlog)
        return KQ_OK;
    c->epoch = e;
    uint32_t left = 0;
    KQ_GUARD(move_versions(cur, c, &left));
    if (left > 0)
        return KQ_OK;
    KQ_GUARD(kq_keyreg_epoch(*cur, &e));
    e.backlog = false;
    return kq_keyreg_put_epoch(cur, &e);
}

enum kq_err kq_keyreg_end_block(struct kq_smt **cur, const kq_hash *chain_id, uint64_t height,
                                uint64_t bft_time_ms)
{
    struct kq_keyreg_ctx c;
    enum kq_err err = kq_keyreg_ctx_load(*cur, chain_id, height, bft_time_ms, &c);
    if (err == KQ_ERR_NOT_FOUND)
        return KQ_OK; /* no registry in this state */
    KQ_GUARD(err);
    KQ_GUARD(finalize_sessions(cur, &c));
    KQ_GUARD(activate_pending(cur, &c));
    KQ_GUARD(time_rules(cur, &c));
    KQ_GUARD(kq_keyreg_epoch(*cur, &c.epoch));
    return epochs(cur, &c);
}
