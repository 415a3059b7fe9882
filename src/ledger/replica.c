/* The ledger's consensus core: Tendermint's algorithm (docs/ledger.md) as events in, actions out.
 * Invariants: height = committed blocks + 1; a signed vote or proposal waits in the outbox until
 * the safety record holding it is durable; the last signed vote of each type only grows in
 * (height, round), so no two votes for one (h, r, type) differ; chain[i] holds block i + 1 with a
 * verified certificate and the application state is the result of applying all of them. */
#include "ledger/replica.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/limits.h"
#include "wire/ledger_msg.h"

#define RP_MAGIC     0x6b712d6c65646731ULL /* "kq-ledg1": the state was initialised */
#define MAXV         KQ_LEDGER_MAX_VALIDATORS
#define NROUNDS      KQ_LEDGER_ROUND_WINDOW
#define RP_MAX_PEERS (KQ_MAX_NODES - 1)
#define OUTBOX       16
#define N_TIMERS     9
/* Rules fired by one event: each fires at most once per round step, and a commit ends the loop. */
#define MAX_PROGRESS 64
/* The mempool's id index: twice its bound (linear probing stays short), a power of two. */
#define POOL_INDEX_SLOTS (2 * KQ_LEDGER_MEMPOOL_MAX_TXS)
/* version, height, round, step, locked round, locked hash, proposed round, two optional votes */
#define SAFETY_BYTES (1 + 8 + 4 + 1 + 4 + 32 + 4 + 2 * (1 + KQ_VOTE_BYTES))

KQ_STATIC_ASSERT(MAXV % 8 == 0, "signer bitmaps are whole bytes");
/* A commit step must never run out of actions or arena half-way (a failed step emits nothing, but
 * the replica would have moved on): the block record, its state diff, a reply per waiting request,
 * the re-broadcasts, the safety record and a few sends and timers fit, with room to spare. */
KQ_STATIC_ASSERT(KQ_LEDGER_MAX_BLOCK_DIFF_KEYS + KQ_LEDGER_MAX_WAITING_REQUESTS +
                         KQ_LEDGER_REGOSSIP_MAX + 64 <=
                     KQ_CORE_MAX_ACTIONS,
                 "a commit's actions fit one step");
KQ_STATIC_ASSERT((size_t)KQ_BLOCK_RESP_MAX_BYTES + KQ_LEDGER_MAX_BLOCK_DIFF_BYTES +
                         (size_t)KQ_LEDGER_MAX_BLOCK_DIFF_KEYS * (KQ_LEDGER_MAX_KEY_BYTES + 16) +
                         (size_t)KQ_LEDGER_MAX_WAITING_REQUESTS * 64 +
                         KQ_LEDGER_REGOSSIP_MAX_BYTES + 256 * 1024 <=
                     KQ_CORE_ACTION_ARENA,
                 "a commit's payloads fit the arena");
KQ_STATIC_ASSERT((POOL_INDEX_SLOTS & (POOL_INDEX_SLOTS - 1)) == 0, "the index masks its hash");
KQ_STATIC_ASSERT(KQ_LEDGER_MEMPOOL_MAX_TXS < UINT16_MAX, "a slot + 1 fits the index");
KQ_STATIC_ASSERT(KQ_LEDGER_MAX_WAITING_REQUESTS < UINT32_MAX, "a waiter + 1 fits a u32");
KQ_STATIC_ASSERT(sizeof(KQ_REPLICA_BLOCK_PREFIX) + 20 <= KQ_CORE_MAX_RECORD_KEY, "key fits");
KQ_STATIC_ASSERT(sizeof(KQ_REPLICA_STATE_PREFIX) + 2 * KQ_HASH_BYTES <= KQ_CORE_MAX_RECORD_KEY,
                 "a state record's key fits");
/* A commit step: the diff's records, and room left for the block, safety, status, timers and
 * replies to waiting requests (the diff's bytes, with the block record, within the arena). */
KQ_STATIC_ASSERT(
    KQ_LEDGER_MAX_BLOCK_DIFF_KEYS + KQ_LEDGER_MAX_WAITING_REQUESTS + 64 <= KQ_CORE_MAX_ACTIONS,
    "a commit or snapshot step: the diff's records, a reply per waiting request, the rest");
KQ_STATIC_ASSERT(KQ_LEDGER_MAX_BLOCK_DIFF_BYTES + KQ_BLOCK_RESP_MAX_BYTES +
                         (size_t)KQ_LEDGER_MAX_WAITING_REQUESTS * KQ_LEDGER_REPLY_BYTES + 65536 <=
                     KQ_CORE_ACTION_ARENA,
                 "a block's record and diff fit the step's arena");

enum rp_step { STEP_NEW_HEIGHT = 0, STEP_PROPOSE = 1, STEP_PREVOTE = 2, STEP_PRECOMMIT = 3 };

/* Votes and the proposal of one round of the height in progress. */
struct rp_round {
    bool used;
    uint32_t round;
    bool has_prevote[MAXV];
    bool has_precommit[MAXV];
    struct kq_vote prevote[MAXV];
    struct kq_vote precommit[MAXV];
    bool has_proposal; /* the first signed proposal of the round's proposer */
    uint32_t pol_round;
    uint8_t *raw; /* the encoded block (owned) */
    size_t raw_len;
    struct kq_block *block; /* decoded from raw (owned) */
    kq_hash hash;
    bool valid;
    void *post;           /* app state after the block, if valid (owned) */
    enum kq_err *results; /* per tx, if valid (owned) */
    bool has_pol;         /* a proposal carried a verified proof of lock for this round */
    kq_hash pol_hash;     /* the block that proof is for */
    bool polka_done;      /* rule 3 fired */
    bool prevote_timer;   /* PREVOTE timeout armed */
    bool precommit_timer; /* PRECOMMIT timeout armed */
};

struct rp_block { /* a committed block */
    uint8_t *rec; /* block response encoding: the block and its certificate (owned) */
    size_t rec_len;
    kq_hash hash;
    uint64_t time_ms;
    uint32_t *signers; /* ids of the validators in the block's last_commit, ascending (owned) */
    uint32_t n_signers;
};

struct rp_vchange { /* block `height` named a new validator set, in force from height + 1 */
    uint64_t height;
    uint32_t n;
    struct kq_validator *v; /* n validators, sorted (owned) */
};

struct rp_serve {    /* a snapshot this replica serves (state sync) */
    uint64_t height; /* 0: free */
    void *state;     /* the state at height, kept referenced while served (owned) */
    uint64_t used;   /* last use, for eviction */
};

struct rp_snap { /* the snapshot this replica fetches (state sync) */
    bool active;
    bool progress; /* a valid answer since the timer was armed */
    uint32_t peer;
    uint64_t height; /* 0: head not received yet */
    uint8_t *rec;    /* block response of `height` (owned) */
    size_t rec_len;
    kq_hash state_root;
    uint32_t n; /* window blocks height - n .. height - 1 */
    struct rp_block meta[KQ_LEDGER_SYNC_WINDOW];
    void *state; /* built from the chunks (owned) */
    kq_hash cursor;
    uint64_t chunks;
};

/* A mempool entry. pool[0..pool_n) holds them in no order (a removal moves the last entry into
 * the hole); prev/next (slot + 1, 0 at the ends) chain them in admission order from pool_head to
 * pool_tail; pool_index maps ids to slots. */
struct rp_tx {
    uint8_t *data;
    size_t len;
    kq_hash id;
    uint64_t expiry;
    uint32_t prev, next;
    uint32_t waiters;  /* the first request waiting for this tx (waiter + 1), 0: none */
    uint64_t gossip_h; /* height at which it was last broadcast (or received) */
};

/* A request waiting for its tx to commit or fail; its tx's entry chains it. Free ones chain from
 * waiter_free, and waiters[waiter_used..) were never used. */
struct rp_waiter {
    uint64_t request_id;
    uint32_t next; /* the next waiter of the same tx, or the next free one (waiter + 1), 0: none */
};

/* What must survive a crash before anything signed leaves. */
struct rp_safety {
    uint64_t height;
    uint32_t round;
    uint8_t step;
    uint32_t locked_round;
    kq_hash locked_hash;
    uint32_t proposed_round;
    bool has_prevote;
    bool has_precommit;
    struct kq_vote prevote; /* the last signed of each type */
    struct kq_vote precommit;
};

struct rp_out { /* a signed message waiting for its safety record (token 0: this step's) */
    bool used;
    uint64_t token;
    uint16_t type;
    uint8_t *payload;
    size_t len;
};

struct rp_state {
    uint64_t magic;
    uint32_t self;
    size_t n_peers;
    uint32_t peers[RP_MAX_PEERS];
    struct kq_replica_config cfg;
    struct kq_valset vs;        /* the validator set of the height in progress */
    struct kq_valset prev_vs;   /* the set of the height before (it certified the tip) */
    struct rp_vchange *changes; /* every change of the set along the chain, by height */
    size_t n_changes, changes_cap;
    kq_hash valset_hash;
    int32_t self_index; /* -1: not a validator */
    bool started;
    bool idle;         /* at a new height, waiting for a tx or a peer (empty_block_ms) */
    bool heard_height; /* a valid proposal or vote for the current height arrived */
    uint64_t wall_ms;
    struct rp_block *chain; /* chain[0..chain_len): blocks 1..chain_len */
    size_t chain_len, chain_cap;
    void *app_state;
    uint64_t height;
    uint32_t round;
    uint8_t step;
    uint32_t locked_round, valid_round;
    kq_hash locked_hash, valid_hash;
    uint32_t weights[MAXV];
    kq_hash seed;
    struct rp_round rounds[NROUNDS];
    struct rp_safety safety;
    bool safety_dirty;
    bool restored_safety;
    bool lock_dirty;        /* the lock changed this step: persist its block with the safety */
    uint8_t *restored_lock; /* the lock record read at RESTORE (owned until START) */
    size_t restored_lock_len;
    uint64_t next_token;
    struct rp_out outbox[OUTBOX];
    uint64_t timer_h[N_TIMERS];
    uint32_t timer_r[N_TIMERS];
    uint64_t sync_height; /* highest height a peer showed it is working on */
    uint32_t sync_peer;
    uint64_t sync_asked; /* height requested and not yet answered; 0: none */
    bool has_sent[2];    /* the last prevote and precommit sent (durable), for resends */
    struct kq_vote sent[2];
    uint8_t *sent_proposal; /* the last proposal sent (owned), for resends */
    size_t sent_proposal_len;
    uint64_t sent_proposal_h;
    uint32_t sent_proposal_r;
    struct rp_tx *pool;
    size_t pool_n, pool_bytes;
    uint32_t pool_head, pool_tail;         /* oldest and newest entry (slot + 1), 0: empty */
    uint16_t pool_index[POOL_INDEX_SLOTS]; /* open addressing on the id: slot + 1, 0: empty */
    struct rp_waiter *waiters;
    size_t n_waiters;
    /* the state's records (an app with persistence): */
    bool state_stored;     /* the store's state records are app_state at chain_len */
    bool has_state_height; /* RESTORE met KQ_REPLICA_STATE_HEIGHT */
    uint64_t state_height; /* its value */
    void *restored_state;  /* built from the restored state records (owned) */
    /* state sync: */
    uint64_t chain_base; /* blocks 1..chain_base are not held (rec NULL) */
    uint64_t meta_base;  /* blocks 1..meta_base: not even their hash and signers */
    bool has_sync_base;  /* RESTORE met KQ_REPLICA_SYNC_BASE: chain_base, meta_base, base_meta */
    struct rp_block base_meta[KQ_LEDGER_SYNC_WINDOW];
    struct rp_serve serving[KQ_LEDGER_SYNC_MAX_SNAPSHOTS];
    uint64_t serve_clock;
    struct rp_snap snap;
    uint32_t snap_skip; /* block requests to make before trying a snapshot again */
    uint32_t waiter_free, waiter_used;
};

static struct rp_state *state_of(void *state)
{
    struct rp_state *st = state;
    KQ_ASSERT(st != NULL && st->magic == RP_MAGIC);
    KQ_ASSERT(st->chain_len <= st->chain_cap && st->chain_len <= KQ_LEDGER_MAX_CHAIN_BLOCKS);
    return st;
}

static const struct rp_state *cstate_of(const void *state)
{
    return state_of((void *)(uintptr_t)state);
}

/* ---- small helpers ---- */

static uint32_t quorum(const struct rp_state *st)
{
    return kq_valset_quorum(&st->vs);
}

static uint32_t proposer_of(const struct rp_state *st, uint32_t round)
{
    return kq_valset_proposer(&st->vs, st->weights, &st->seed, round);
}

static uint64_t timeout_of(const struct rp_state *st, uint64_t base)
{
    return base + (uint64_t)st->round * st->cfg.delta_ms;
}

/* A quarter of the round's propose timeout: a proposal or vote lost on a link is sent again
 * before the peers' step timeouts give up on the round (a round that goes well ends first). */
static uint64_t resend_period(const struct rp_state *st)
{
    return timeout_of(st, st->cfg.propose_ms) / 4 + 1;
}

static enum kq_err arm(struct rp_state *st, struct kq_actions *out, uint32_t timer, uint64_t after)
{
    KQ_ASSERT(timer < N_TIMERS);
    st->timer_h[timer] = st->height;
    st->timer_r[timer] = st->round;
    return kq_actions_timer(out, timer, after);
}

/* A configured peer, or a node the committed state names as a member (one that joined). */
static bool is_peer(const struct rp_state *st, uint32_t id)
{
    for (size_t i = 0; i < st->n_peers; i++)
        if (st->peers[i] == id)
            return true;
    return id != st->self && st->cfg.app->is_node != NULL && st->app_state != NULL &&
           st->cfg.app->is_node(st->cfg.app->ctx, st->app_state, id);
}

/* The validator set `state` names for the next height. */
static enum kq_err next_valset(const struct rp_state *st, const void *state, struct kq_valset *vs)
{
    if (st->cfg.app->valset == NULL) {
        *vs = st->vs;
        return KQ_OK;
    }
    return st->cfg.app->valset(st->cfg.app->ctx, state, vs);
}

static enum kq_err next_valset_hash(const struct rp_state *st, const void *state, kq_hash *out)
{
    struct kq_valset *vs = malloc(sizeof *vs);
    KQ_ENSURE(vs != NULL, KQ_ERR_NOMEM);
    enum kq_err err = next_valset(st, state, vs);
    if (err == KQ_OK)
        kq_valset_hash(vs, out);
    free(vs);
    return err;
}

static void slot_clear(struct rp_state *st, struct rp_round *s)
{
    if (s->post != NULL)
        st->cfg.app->release(st->cfg.app->ctx, s->post);
    free(s->raw);
    free(s->block);
    free(s->results);
    memset(s, 0, sizeof *s);
}

static bool slot_protected(const struct rp_state *st, uint32_t r)
{
    return r == st->round || r == st->locked_round || r == st->valid_round;
}

/* The slot of round r, made if `create` (evicting an old round first, else the farthest future
 * round beyond r); NULL if none can be had. */
static struct rp_round *slot_get(struct rp_state *st, uint32_t r, bool create)
{
    struct rp_round *free_slot = NULL, *old = NULL, *far = NULL;
    for (size_t i = 0; i < NROUNDS; i++) {
        struct rp_round *s = &st->rounds[i];
        if (s->used && s->round == r)
            return s;
        if (!s->used) {
            free_slot = free_slot != NULL ? free_slot : s;
        } else if (!slot_protected(st, s->round)) {
            if (s->round < st->round && (old == NULL || s->round < old->round))
                old = s;
            if (s->round > r && s->round > st->round && (far == NULL || s->round > far->round))
                far = s;
        }
    }
    if (!create)
        return NULL;
    struct rp_round *s = free_slot != NULL ? free_slot : (old != NULL ? old : far);
    if (s == NULL)
        return NULL;
    slot_clear(st, s);
    s->used = true;
    s->round = r;
    s->pol_round = KQ_ROUND_NONE;
    return s;
}

static uint32_t count_prevotes(const struct rp_state *st, const struct rp_round *s,
                               const kq_hash *h)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < st->vs.n; i++)
        if (s->has_prevote[i] &&
            (h == NULL ? !s->prevote[i].has_block
                       : s->prevote[i].has_block && kq_hash_eq(&s->prevote[i].block, h)))
            n++;
    return n;
}

static uint32_t count_precommits(const struct rp_state *st, const struct rp_round *s,
                                 const kq_hash *h)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < st->vs.n; i++)
        if (s->has_precommit[i] && s->precommit[i].has_block &&
            kq_hash_eq(&s->precommit[i].block, h))
            n++;
    return n;
}

static uint32_t count_any(const struct rp_state *st, const struct rp_round *s, bool prevotes,
                          bool precommits)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < st->vs.n; i++)
        if ((prevotes && s->has_prevote[i]) || (precommits && s->has_precommit[i]))
            n++;
    return n;
}

/* ---- safety record ---- */

static void put_ok(enum kq_err err)
{
    KQ_ASSERT(err == KQ_OK); /* fixed-size records in buffers sized for them */
}

static size_t safety_encode(const struct rp_safety *s, uint8_t *mem)
{
    struct kq_buf b;
    kq_buf_writer(&b, mem, SAFETY_BYTES);
    put_ok(kq_buf_put_u8(&b, 1));
    put_ok(kq_buf_put_u64(&b, s->height));
    put_ok(kq_buf_put_u32(&b, s->round));
    put_ok(kq_buf_put_u8(&b, s->step));
    put_ok(kq_buf_put_u32(&b, s->locked_round));
    put_ok(kq_buf_put(&b, s->locked_hash.b, KQ_HASH_BYTES));
    put_ok(kq_buf_put_u32(&b, s->proposed_round));
    put_ok(kq_buf_put_u8(&b, s->has_prevote ? 1 : 0));
    if (s->has_prevote)
        put_ok(kq_vote_encode(&s->prevote, &b));
    put_ok(kq_buf_put_u8(&b, s->has_precommit ? 1 : 0));
    if (s->has_precommit)
        put_ok(kq_vote_encode(&s->precommit, &b));
    return kq_buf_len(&b);
}

static enum kq_err safety_vote_read(struct kq_buf *b, bool *has, struct kq_vote *v, uint8_t type)
{
    uint8_t flag = 0;
    const uint8_t *p = NULL;
    KQ_GUARD(kq_buf_get_u8(b, &flag));
    KQ_ENSURE(flag <= 1, KQ_ERR_FORMAT);
    *has = flag == 1;
    if (!*has)
        return KQ_OK;
    KQ_GUARD(kq_buf_get_ptr(b, &p, KQ_VOTE_BYTES));
    KQ_GUARD(kq_vote_decode(v, p, KQ_VOTE_BYTES));
    KQ_ENSURE(v->type == type, KQ_ERR_FORMAT);
    return KQ_OK;
}

static enum kq_err safety_decode(struct rp_safety *s, const uint8_t *in, size_t len)
{
    struct kq_buf b;
    uint8_t version = 0;
    kq_buf_reader(&b, in, len);
    memset(s, 0, sizeof *s);
    KQ_GUARD(kq_buf_get_u8(&b, &version));
    KQ_ENSURE(version == 1, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_u64(&b, &s->height));
    KQ_GUARD(kq_buf_get_u32(&b, &s->round));
    KQ_GUARD(kq_buf_get_u8(&b, &s->step));
    KQ_GUARD(kq_buf_get_u32(&b, &s->locked_round));
    KQ_GUARD(kq_buf_get(&b, s->locked_hash.b, KQ_HASH_BYTES));
    KQ_GUARD(kq_buf_get_u32(&b, &s->proposed_round));
    KQ_GUARD(safety_vote_read(&b, &s->has_prevote, &s->prevote, KQ_VOTE_PREVOTE));
    KQ_GUARD(safety_vote_read(&b, &s->has_precommit, &s->precommit, KQ_VOTE_PRECOMMIT));
    KQ_ENSURE(s->step <= STEP_PRECOMMIT && s->height >= 1, KQ_ERR_FORMAT);
    return kq_buf_expect_end(&b);
}

/* The lock record: the locked block and its proof of lock, so a replica that restarts locked can
 * still re-propose the block it is locked on (it would otherwise refuse every other block and
 * hold none to offer). version | height u64 | round u32 | pol length u32 | pol | block. */
static void gather_votes(const struct rp_state *st, const struct rp_round *s,
                         const struct kq_vote *votes, const bool *has, struct kq_cert *c);
static void store_vote(struct rp_state *st, const struct kq_vote *v, int32_t idx);
static enum kq_err check_block(struct rp_state *st, const struct kq_block *b, bool *valid,
                               void **post, enum kq_err **results);

static enum kq_err persist_lock(struct rp_state *st, struct kq_actions *out)
{
    struct rp_round *s = slot_get(st, st->locked_round, false);
    KQ_ASSERT(s != NULL && s->has_proposal && kq_hash_eq(&s->hash, &st->locked_hash));
    struct kq_cert *c = calloc(1, sizeof *c);
    KQ_ENSURE(c != NULL, KQ_ERR_NOMEM);
    gather_votes(st, s, s->prevote, s->has_prevote, c);
    KQ_ASSERT(c->count >= quorum(st)); /* a lock is taken on a polka */
    size_t pol_len = KQ_CERT_BYTES(c->count), cap = 1 + 8 + 4 + 4 + pol_len + s->raw_len;
    uint8_t *mem = malloc(cap);
    if (mem == NULL) {
        free(c);
        return KQ_ERR_NOMEM;
    }
    struct kq_buf w;
    kq_buf_writer(&w, mem, cap);
    put_ok(kq_buf_put_u8(&w, 1));
    put_ok(kq_buf_put_u64(&w, st->height));
    put_ok(kq_buf_put_u32(&w, st->locked_round));
    put_ok(kq_buf_put_u32(&w, (uint32_t)pol_len));
    put_ok(kq_cert_encode(c, &w));
    put_ok(kq_buf_put(&w, s->raw, s->raw_len));
    KQ_ASSERT(kq_buf_len(&w) == cap);
    enum kq_err err = kq_actions_persist(out, KQ_REPLICA_LOCK_RECORD, mem, cap, false, 0);
    free(mem);
    free(c);
    return err;
}

/* Puts the restored lock's block and prevotes back into the locked round's slot and makes it the
 * valid block, so propose() offers it again with its proof of lock. A record for another height or
 * round than the safety record's lock is stale (the lock moved on) and ignored; one that does not
 * check (bad encoding, wrong hash, proof of lock that does not verify) is a store error. */
static enum kq_err restore_lock(struct rp_state *st)
{
    struct kq_buf b;
    uint8_t version = 0;
    uint64_t h = 0;
    uint32_t r = 0, pol_len = 0;
    const uint8_t *pol = NULL;
    kq_buf_reader(&b, st->restored_lock, st->restored_lock_len);
    KQ_GUARD(kq_buf_get_u8(&b, &version));
    KQ_ENSURE(version == 1, KQ_ERR_STORE);
    KQ_GUARD(kq_buf_get_u64(&b, &h));
    KQ_GUARD(kq_buf_get_u32(&b, &r));
    if (h != st->height || r != st->locked_round)
        return KQ_OK;
    KQ_GUARD(kq_buf_get_u32(&b, &pol_len));
    KQ_GUARD(kq_buf_get_ptr(&b, &pol, pol_len));
    size_t raw_len = kq_buf_remaining(&b);
    KQ_ENSURE(raw_len >= KQ_HEADER_BYTES && raw_len <= KQ_BLOCK_MAX_BYTES, KQ_ERR_STORE);
    struct kq_cert *c = calloc(1, sizeof *c);
    struct kq_block *blk = calloc(1, sizeof *blk);
    uint8_t *raw = malloc(raw_len);
    enum kq_err err = KQ_ERR_NOMEM;
    kq_hash hash;
    if (c == NULL || blk == NULL || raw == NULL)
        goto out;
    memcpy(raw, st->restored_lock + (st->restored_lock_len - raw_len), raw_len);
    KQ_TRY(kq_block_decode(blk, raw, raw_len));
    kq_header_hash(&blk->header, &hash);
    KQ_CHECK(kq_hash_eq(&hash, &st->locked_hash), KQ_ERR_STORE);
    KQ_TRY(kq_cert_decode(c, pol, pol_len));
    KQ_TRY(kq_pol_verify(c, &st->cfg.chain_id, h, r, &hash, &st->vs, &st->cfg.crypto));
    struct rp_round *s = slot_get(st, r, true);
    KQ_ASSERT(s != NULL); /* the locked round's slot is protected and the window is empty */
    for (uint32_t i = 0; i < c->count; i++) {
        int32_t idx = kq_valset_index(&st->vs, c->sigs[i].validator);
        KQ_ASSERT(idx >= 0); /* kq_pol_verify checked membership */
        struct kq_vote v = {.type = KQ_VOTE_PREVOTE,
                            .height = h,
                            .round = r,
                            .has_block = true,
                            .block = hash,
                            .timestamp_ms = c->sigs[i].timestamp_ms,
                            .validator = c->sigs[i].validator};
        memcpy(v.sig, c->sigs[i].sig, KQ_LEDGER_SIG_BYTES);
        store_vote(st, &v, idx);
    }
    s->raw = raw;
    s->raw_len = raw_len;
    s->block = blk;
    s->hash = hash;
    s->has_proposal = true;
    s->has_pol = true;
    s->pol_hash = hash;
    s->polka_done = true;
    raw = NULL;
    blk = NULL;
    KQ_TRY(check_block(st, s->block, &s->valid, &s->post, &s->results));
    KQ_CHECK(s->valid, KQ_ERR_STORE); /* this replica locked on it, so it executed it */
    st->valid_round = r;
    st->valid_hash = hash;
out:
    free(raw);
    free(blk);
    free(c);
    return err == KQ_OK || err == KQ_ERR_NOMEM ? err : KQ_ERR_STORE;
}

/* Persists the safety record once per step if it changed; the step's outbox items wait for it. */
static enum kq_err flush_safety(struct rp_state *st, struct kq_actions *out)
{
    if (!st->safety_dirty)
        return KQ_OK;
    if (st->lock_dirty) /* same step, so the same atomic write as the lock it backs */
        KQ_GUARD(persist_lock(st, out));
    st->lock_dirty = false;
    uint8_t mem[SAFETY_BYTES];
    size_t n = safety_encode(&st->safety, mem);
    uint64_t token = ++st->next_token;
    KQ_GUARD(kq_actions_persist(out, KQ_REPLICA_SAFETY_RECORD, mem, n, true, token));
    for (size_t i = 0; i < OUTBOX; i++)
        if (st->outbox[i].used && st->outbox[i].token == 0)
            st->outbox[i].token = token;
    st->safety_dirty = false;
    return KQ_OK;
}

/* Queues a signed message (payload owned by the outbox). A full outbox drops its oldest entry:
 * not sending something signed is always safe. */
static void outbox_push(struct rp_state *st, uint16_t type, uint8_t *payload, size_t len)
{
    struct rp_out *slot = NULL;
    for (size_t i = 0; i < OUTBOX && slot == NULL; i++)
        if (!st->outbox[i].used)
            slot = &st->outbox[i];
    if (slot == NULL) {
        slot = &st->outbox[0];
        for (size_t i = 1; i < OUTBOX; i++)
            if (st->outbox[i].token != 0 && st->outbox[i].token < slot->token)
                slot = &st->outbox[i];
        free(slot->payload);
    }
    *slot = (struct rp_out){.used = true, .token = 0, .type = type, .payload = payload, .len = len};
    st->safety_dirty = true;
}

/* ---- signing ---- */

static void sign_guard(bool has, const struct kq_vote *last, uint64_t h, uint32_t r)
{
    /* the core's central safety invariant: never a second vote of a type for one (h, r) */
    KQ_ASSERT(!has || last->height < h || (last->height == h && last->round < r));
}

static enum kq_err sign_vote(struct rp_state *st, uint8_t type, const kq_hash *block)
{
    KQ_ASSERT(st->self_index >= 0);
    struct kq_vote v = {.type = type,
                        .height = st->height,
                        .round = st->round,
                        .has_block = block != NULL,
                        .timestamp_ms = st->wall_ms,
                        .validator = st->self};
    if (block != NULL)
        v.block = *block;
    struct rp_safety *s = &st->safety;
    if (type == KQ_VOTE_PREVOTE) {
        sign_guard(s->has_prevote, &s->prevote, v.height, v.round);
    } else {
        sign_guard(s->has_precommit, &s->precommit, v.height, v.round);
    }
    kq_vote_sign(&v, &st->cfg.chain_id, &st->cfg.crypto);
    uint8_t *payload = malloc(KQ_VOTE_BYTES);
    KQ_ENSURE(payload != NULL, KQ_ERR_NOMEM);
    struct kq_buf b;
    kq_buf_writer(&b, payload, KQ_VOTE_BYTES);
    put_ok(kq_vote_encode(&v, &b));
    if (type == KQ_VOTE_PREVOTE) {
        s->has_prevote = true;
        s->prevote = v;
    } else {
        s->has_precommit = true;
        s->precommit = v;
    }
    s->height = st->height;
    s->round = st->round;
    s->step = st->step;
    s->locked_round = st->locked_round;
    s->locked_hash = st->locked_hash;
    outbox_push(st, KQ_FRAME_LEDGER_VOTE, payload, KQ_VOTE_BYTES);
    return KQ_OK;
}

static enum kq_err do_prevote(struct rp_state *st, const kq_hash *block)
{
    st->step = STEP_PREVOTE;
    return sign_vote(st, KQ_VOTE_PREVOTE, block);
}

static enum kq_err do_precommit(struct rp_state *st, const kq_hash *block)
{
    st->step = STEP_PRECOMMIT;
    return sign_vote(st, KQ_VOTE_PRECOMMIT, block);
}

/* ---- blocks ---- */

static const struct rp_block *tip(const struct rp_state *st)
{
    return st->chain_len == 0 ? NULL : &st->chain[st->chain_len - 1];
}

static uint64_t expected_time(const struct rp_state *st, const struct kq_cert *last_commit)
{
    if (st->height == 1)
        return st->cfg.genesis_time_ms + 1;
    uint64_t t = kq_cert_median_time(last_commit), parent = tip(st)->time_ms;
    return t > parent ? t : parent + 1;
}

/* The header checks of a block for the height in progress (not the execution). */
static bool header_ok(const struct rp_state *st, const struct kq_block *b)
{
    const struct kq_header *h = &b->header;
    kq_hash zero = {{0}}, root, ch;
    if (!kq_hash_eq(&h->chain_id, &st->cfg.chain_id) || h->height != st->height ||
        h->proposer != proposer_of(st, h->round) || !kq_hash_eq(&h->valset_hash, &st->valset_hash))
        return false;
    if (st->height == 1) {
        if (!kq_hash_eq(&h->parent, &zero) || !kq_hash_eq(&h->last_commit_hash, &zero))
            return false;
    } else {
        if (!kq_hash_eq(&h->parent, &tip(st)->hash) ||
            kq_cert_verify(&b->last_commit, &st->cfg.chain_id, st->height - 1, &tip(st)->hash,
                           &st->prev_vs, &st->cfg.crypto) != KQ_OK)
            return false;
        kq_cert_hash(&b->last_commit, &ch);
        if (!kq_hash_eq(&ch, &h->last_commit_hash))
            return false;
    }
    if (h->time_ms != expected_time(st, &b->last_commit))
        return false;
    return kq_block_tx_root(b, &root) == KQ_OK && kq_hash_eq(&root, &h->tx_root);
}

/* ---- the state's records (docs/ledger-state.md "Storage") ---- */

static bool persists_state(const struct rp_state *st)
{
    const struct kq_ledger_app *a = st->cfg.app;
    return a->diff != NULL && a->foreach != NULL && a->load != NULL && a->root != NULL &&
           a->retain != NULL;
}

struct state_meter {
    size_t keys, bytes;
};

static bool meter_fn(void *fctx, const kq_hash *path, const uint8_t *key, size_t key_len,
                     const uint8_t *value, size_t value_len)
{
    (void)path, (void)key, (void)value;
    struct state_meter *m = fctx;
    m->keys++;
    m->bytes += 2 + key_len + value_len;
    return m->keys <= KQ_LEDGER_MAX_BLOCK_DIFF_KEYS && m->bytes <= KQ_LEDGER_MAX_BLOCK_DIFF_BYTES;
}

/* Whether the change pre -> post fits the records of one commit step (without persistence,
 * always). NULL pre: all of post. */
static bool diff_fits(const struct rp_state *st, const void *pre, const void *post)
{
    if (!persists_state(st))
        return true;
    struct state_meter m = {0, 0};
    const struct kq_ledger_app *a = st->cfg.app;
    if (pre != NULL)
        return a->diff(a->ctx, pre, post, meter_fn, &m);
    a->foreach (a->ctx, post, NULL, meter_fn, &m);
    return m.keys <= KQ_LEDGER_MAX_BLOCK_DIFF_KEYS && m.bytes <= KQ_LEDGER_MAX_BLOCK_DIFF_BYTES;
}

static void state_key(const kq_hash *path, char key[KQ_CORE_MAX_RECORD_KEY])
{
    static const char hex[] = "0123456789abcdef";
    size_t plen = strlen(KQ_REPLICA_STATE_PREFIX);
    memcpy(key, KQ_REPLICA_STATE_PREFIX, plen);
    for (size_t i = 0; i < KQ_HASH_BYTES; i++) {
        key[plen + 2 * i] = hex[path->b[i] >> 4];
        key[plen + 2 * i + 1] = hex[path->b[i] & 15];
    }
    key[plen + 2 * KQ_HASH_BYTES] = '\0';
}

struct state_writer {
    struct kq_actions *out;
    enum kq_err err;
};

/* One pair as a PERSIST (an ERASE when removed), unsynced: the step's block record is synced
 * and the step's writes are one transaction. */
static bool write_fn(void *fctx, const kq_hash *path, const uint8_t *key, size_t key_len,
                     const uint8_t *value, size_t value_len)
{
    struct state_writer *w = fctx;
    char rk[KQ_CORE_MAX_RECORD_KEY];
    state_key(path, rk);
    if (value == NULL) {
        w->err = kq_actions_erase(w->out, rk);
        return w->err == KQ_OK;
    }
    KQ_ASSERT(key_len >= 1 && key_len <= UINT16_MAX);
    size_t n = 2 + key_len + value_len;
    uint8_t *mem = malloc(n);
    w->err = mem != NULL ? KQ_OK : KQ_ERR_NOMEM;
    if (w->err == KQ_OK) {
        mem[0] = (uint8_t)(key_len >> 8);
        mem[1] = (uint8_t)key_len;
        memcpy(mem + 2, key, key_len);
        if (value_len > 0)
            memcpy(mem + 2 + key_len, value, value_len);
        w->err = kq_actions_persist(w->out, rk, mem, n, false, 0);
    }
    free(mem);
    return w->err == KQ_OK;
}

static enum kq_err persist_state_height(struct kq_actions *out, uint64_t height)
{
    uint8_t mem[8];
    struct kq_buf w;
    kq_buf_writer(&w, mem, sizeof mem);
    put_ok(kq_buf_put_u64(&w, height));
    return kq_actions_persist(out, KQ_REPLICA_STATE_HEIGHT, mem, sizeof mem, false, 0);
}

/* In the step that commits block `height` with state post: the records of the keys it changed
 * (pre -> post) and the state height. pre NULL: every pair of post (the state written whole). */
static enum kq_err store_state(struct rp_state *st, struct kq_actions *out, const void *pre,
                               const void *post, uint64_t height)
{
    struct state_writer w = {out, KQ_OK};
    const struct kq_ledger_app *a = st->cfg.app;
    KQ_ASSERT(persists_state(st));
    if (pre != NULL)
        (void)a->diff(a->ctx, pre, post, write_fn, &w);
    else
        a->foreach (a->ctx, post, NULL, write_fn, &w);
    KQ_GUARD(w.err);
    return persist_state_height(out, height);
}

/* Whether b is a valid next block; if so *post and *results (owned by the caller) hold its
 * execution. Errors are the application's failures only. */
static enum kq_err check_block(struct rp_state *st, const struct kq_block *b, bool *valid,
                               void **post, enum kq_err **results)
{
    *valid = false;
    *post = NULL;
    *results = NULL;
    if (!header_ok(st, b))
        return KQ_OK;
    enum kq_err *res = calloc(b->n_txs + 1, sizeof *res);
    KQ_ENSURE(res != NULL, KQ_ERR_NOMEM);
    kq_hash root;
    void *p = NULL;
    enum kq_err err = st->cfg.app->apply_block(st->cfg.app->ctx, st->app_state, st->height,
                                               b->header.time_ms, b->txs, b->n_txs, &p, &root, res);
    if (err != KQ_OK) {
        free(res);
        return err;
    }
    kq_hash next;
    err = next_valset_hash(st, p, &next);
    if (err != KQ_OK || !kq_hash_eq(&root, &b->header.state_root) ||
        !kq_hash_eq(&next, &b->header.next_valset_hash) || !diff_fits(st, st->app_state, p)) {
        st->cfg.app->release(st->cfg.app->ctx, p);
        free(res);
        return err == KQ_ERR_NOMEM ? err : KQ_OK; /* a state naming no valid set: invalid */
    }
    *valid = true;
    *post = p;
    *results = res;
    return KQ_OK;
}

static void schedule(struct rp_state *st)
{
    uint64_t h = st->height, s = h > KQ_LEDGER_SCHEDULE_LAG ? h - KQ_LEDGER_SCHEDULE_LAG : 0;
    uint32_t counts[MAXV] = {0};
    struct kq_hasher hs;
    kq_hasher_init(&hs, "kq-ledger-v1/schedule");
    kq_hasher_put_u64(&hs, h);
    if (s == 0) {
        kq_hasher_put(&hs, st->cfg.chain_id.b, KQ_HASH_BYTES);
    } else {
        KQ_ASSERT(s <= st->chain_len);
        kq_hasher_put(&hs, st->chain[s - 1].hash.b, KQ_HASH_BYTES);
        uint64_t from = s > KQ_LEDGER_SCHEDULE_WINDOW ? s - KQ_LEDGER_SCHEDULE_WINDOW + 1 : 1;
        for (uint64_t k = from; k <= s; k++) {
            const struct rp_block *e = &st->chain[k - 1];
            for (uint32_t j = 0; j < e->n_signers; j++) {
                int32_t i = kq_valset_index(&st->vs, e->signers[j]);
                if (i >= 0) /* a validator since removed counts for nobody */
                    counts[i]++;
            }
        }
    }
    kq_hasher_final(&hs, &st->seed);
    kq_valset_weights(&st->vs, counts, st->weights);
}

/* ---- mempool and requests ---- */

static size_t index_home(const kq_hash *id)
{
    return ((size_t)id->b[0] | (size_t)id->b[1] << 8 | (size_t)id->b[2] << 16) &
           (POOL_INDEX_SLOTS - 1);
}

/* The index position holding id, or the empty one where it would go. Ids are hashes, and an
 * entry passed the app's check (a valid signature), so clustering can't be cheaply forced. */
static size_t index_pos(const struct rp_state *st, const kq_hash *id)
{
    size_t p = index_home(id);
    while (st->pool_index[p] != 0 && !kq_hash_eq(&st->pool[st->pool_index[p] - 1].id, id))
        p = (p + 1) & (POOL_INDEX_SLOTS - 1); /* ends: the index is at most half full */
    return p;
}

/* Empties index position p, moving later entries of its probe run back (no tombstones). */
static void index_delete(struct rp_state *st, size_t p)
{
    for (size_t j = (p + 1) & (POOL_INDEX_SLOTS - 1); st->pool_index[j] != 0;
         j = (j + 1) & (POOL_INDEX_SLOTS - 1)) {
        size_t home = index_home(&st->pool[st->pool_index[j] - 1].id);
        bool stays = p <= j ? (p < home && home <= j) : (p < home || home <= j);
        if (!stays) { /* its probe from home passes p: move it there */
            st->pool_index[p] = st->pool_index[j];
            p = j;
        }
    }
    st->pool_index[p] = 0;
}

static bool pool_find(const struct rp_state *st, const kq_hash *id, size_t *at)
{
    size_t p = index_pos(st, id);
    if (st->pool_index[p] == 0)
        return false;
    *at = st->pool_index[p] - 1u;
    return true;
}

static uint32_t *link_to(struct rp_state *st, uint32_t from, bool next)
{
    if (from == 0)
        return next ? &st->pool_head : &st->pool_tail;
    return next ? &st->pool[from - 1].next : &st->pool[from - 1].prev;
}

/* Replies to the requests waiting for the tx in slot `at`: the reply a commit carries (id,
 * height, result) on KQ_OK, the bare error otherwise. */
static enum kq_err reply_slot(struct rp_state *st, struct kq_actions *out, size_t at,
                              enum kq_err status, uint64_t height, enum kq_err result)
{
    uint8_t mem[KQ_LEDGER_REPLY_BYTES];
    struct kq_buf b;
    kq_buf_writer(&b, mem, sizeof mem);
    put_ok(kq_buf_put(&b, st->pool[at].id.b, KQ_HASH_BYTES));
    put_ok(kq_buf_put_u64(&b, height));
    put_ok(kq_buf_put_u32(&b, (uint32_t)result));
    while (st->pool[at].waiters != 0) {
        uint32_t w = st->pool[at].waiters;
        size_t n = status == KQ_OK ? sizeof mem : 0;
        KQ_GUARD(kq_actions_reply(out, st->waiters[w - 1].request_id, status, mem, n));
        st->pool[at].waiters = st->waiters[w - 1].next;
        st->waiters[w - 1].next = st->waiter_free;
        st->waiter_free = w;
        KQ_ASSERT(st->n_waiters > 0);
        st->n_waiters--;
    }
    return KQ_OK;
}

static enum kq_err reply_waiters(struct rp_state *st, struct kq_actions *out, const kq_hash *id,
                                 enum kq_err status, uint64_t height, enum kq_err result)
{
    size_t at;
    return pool_find(st, id, &at) ? reply_slot(st, out, at, status, height, result) : KQ_OK;
}

/* Removes the entry in slot i (its waiters answered) and moves the last slot's entry into i;
 * *follow, a slot + 1 the caller holds, follows that move. */
static void pool_remove_at(struct rp_state *st, size_t i, uint32_t *follow)
{
    KQ_ASSERT(i < st->pool_n && st->pool_bytes >= st->pool[i].len);
    struct rp_tx *t = &st->pool[i];
    KQ_ASSERT(t->waiters == 0);
    st->pool_bytes -= t->len;
    free(t->data);
    *link_to(st, t->prev, true) = t->next;
    *link_to(st, t->next, false) = t->prev;
    index_delete(st, index_pos(st, &t->id));
    uint32_t last = (uint32_t)st->pool_n--;
    if (i + 1 == last)
        return;
    st->pool[i] = st->pool[last - 1];
    *link_to(st, st->pool[i].prev, true) = (uint32_t)i + 1;
    *link_to(st, st->pool[i].next, false) = (uint32_t)i + 1;
    st->pool_index[index_pos(st, &st->pool[i].id)] = (uint16_t)(i + 1);
    if (follow != NULL && *follow == last)
        *follow = (uint32_t)i + 1;
}

static void pool_remove(struct rp_state *st, size_t i)
{
    pool_remove_at(st, i, NULL);
}

/* Admits tx (copied) to the mempool after the app's check. Already there: KQ_OK. *at: its slot. */
static enum kq_err pool_add(struct rp_state *st, const uint8_t *tx, size_t len, kq_hash *id,
                            size_t *at)
{
    uint64_t expiry = UINT64_MAX;
    KQ_ENSURE(len >= 1 && len <= KQ_LEDGER_TX_MAX_BYTES, KQ_ERR_LIMIT);
    kq_block_tx_id(tx, len, id);
    if (pool_find(st, id, at))
        return KQ_OK;
    KQ_GUARD(st->cfg.app->check_tx(st->cfg.app->ctx, st->app_state, st->height, tx, len, &expiry));
    KQ_ENSURE(expiry >= st->height, KQ_ERR_TIMEOUT);
    KQ_ENSURE(st->pool_n < KQ_LEDGER_MEMPOOL_MAX_TXS, KQ_ERR_BUSY);
    KQ_ENSURE(st->pool_bytes + len <= KQ_LEDGER_MEMPOOL_MAX_BYTES, KQ_ERR_BUSY);
    uint8_t *copy = malloc(len);
    KQ_ENSURE(copy != NULL, KQ_ERR_NOMEM);
    memcpy(copy, tx, len);
    *at = st->pool_n++;
    uint32_t slot = (uint32_t)*at + 1;
    st->pool[*at] = (struct rp_tx){copy, len, *id, expiry, st->pool_tail, 0, 0, st->height};
    *link_to(st, st->pool_tail, true) = slot;
    st->pool_tail = slot;
    st->pool_index[index_pos(st, id)] = (uint16_t)slot;
    st->pool_bytes += len;
    return KQ_OK;
}

/* Broadcasts the tx in slot `at` to every peer. */
static enum kq_err gossip(struct rp_state *st, struct kq_actions *out, size_t at)
{
    const struct rp_tx *t = &st->pool[at];
    uint8_t *msg = malloc(1 + t->len);
    KQ_ENSURE(msg != NULL, KQ_ERR_NOMEM);
    struct kq_buf b;
    kq_buf_writer(&b, msg, 1 + t->len);
    put_ok(kq_tx_msg_encode(t->data, t->len, &b));
    enum kq_err err = kq_actions_send(out, KQ_PEER_ALL, KQ_FRAME_LEDGER_TX, msg, kq_buf_len(&b));
    free(msg);
    st->pool[at].gossip_h = st->height;
    return err;
}

/* A tx only this replica holds (its broadcast lost, refused by full mempools, or received from a
 * Byzantine node that sent it nowhere else) would wait until this replica builds a fresh block:
 * never for a non-validator, and possibly never for a validator that, whenever it proposes,
 * re-proposes a block it saw a polka for. So every replica broadcasts again, oldest first, the
 * txs that have waited KQ_LEDGER_REGOSSIP_BLOCKS heights since their last broadcast, within a
 * per-height budget (KQ_LEDGER_REGOSSIP_MAX txs, _MAX_BYTES). */
static enum kq_err regossip(struct rp_state *st, struct kq_actions *out)
{
    size_t sent = 0;
    size_t bytes = 0;
    for (uint32_t i = st->pool_head; i != 0 && sent < KQ_LEDGER_REGOSSIP_MAX;) {
        size_t at = i - 1;
        i = st->pool[at].next;
        if (st->pool[at].gossip_h + KQ_LEDGER_REGOSSIP_BLOCKS > st->height)
            continue;
        if (bytes + st->pool[at].len > KQ_LEDGER_REGOSSIP_MAX_BYTES)
            break;
        bytes += st->pool[at].len;
        KQ_GUARD(gossip(st, out, at));
        sent++;
    }
    return KQ_OK;
}

static enum kq_err on_request(struct rp_state *st, const struct kq_event *ev,
                              struct kq_actions *out)
{
    kq_hash id;
    size_t at;
    bool wait = ev->request_kind == KQ_LEDGER_REQ_SUBMIT;
    if (!wait && ev->request_kind != KQ_LEDGER_REQ_SUBMIT_ASYNC)
        return kq_actions_reply(out, ev->request_id, KQ_ERR_INVALID_ARG, NULL, 0);
    if (wait && st->n_waiters >= KQ_LEDGER_MAX_WAITING_REQUESTS)
        return kq_actions_reply(out, ev->request_id, KQ_ERR_BUSY, NULL, 0);
    size_t before = st->pool_n;
    enum kq_err err = pool_add(st, ev->payload, ev->payload_len, &id, &at);
    if (err != KQ_OK)
        return kq_actions_reply(out, ev->request_id, err, NULL, 0);
    if (st->pool_n > before || st->pool[at].gossip_h < st->height)
        KQ_GUARD(gossip(st, out, at)); /* new, or a client's retry of one that still waits */
    if (!wait)
        return kq_actions_reply(out, ev->request_id, KQ_OK, id.b, KQ_HASH_BYTES);
    uint32_t w = st->waiter_free;
    if (w != 0)
        st->waiter_free = st->waiters[w - 1].next;
    else
        w = ++st->waiter_used; /* n_waiters < the bound: room below it */
    KQ_ASSERT(w <= KQ_LEDGER_MAX_WAITING_REQUESTS);
    st->waiters[w - 1] = (struct rp_waiter){ev->request_id, st->pool[at].waiters};
    st->pool[at].waiters = w;
    st->n_waiters++;
    return KQ_OK;
}

/* Drops what can no longer commit at the height in progress; its waiters time out. */
static enum kq_err expire(struct rp_state *st, struct kq_actions *out)
{
    for (uint32_t i = st->pool_head; i != 0;) {
        size_t at = i - 1;
        i = st->pool[at].next;
        if (st->pool[at].expiry >= st->height)
            continue;
        KQ_GUARD(reply_slot(st, out, at, KQ_ERR_TIMEOUT, 0, KQ_ERR_TIMEOUT));
        pool_remove_at(st, at, &i);
    }
    return KQ_OK;
}

/* ---- committing ---- */

static enum kq_err chain_reserve(struct rp_state *st)
{
    KQ_ENSURE(st->chain_len < KQ_LEDGER_MAX_CHAIN_BLOCKS, KQ_ERR_LIMIT);
    if (st->chain_len < st->chain_cap)
        return KQ_OK;
    size_t cap = st->chain_cap == 0 ? 64 : 2 * st->chain_cap;
    if (cap > KQ_LEDGER_MAX_CHAIN_BLOCKS)
        cap = KQ_LEDGER_MAX_CHAIN_BLOCKS;
    struct rp_block *c = realloc(st->chain, cap * sizeof *c);
    KQ_ENSURE(c != NULL, KQ_ERR_NOMEM);
    memset(c + st->chain_cap, 0, (cap - st->chain_cap) * sizeof *c);
    st->chain = c;
    st->chain_cap = cap;
    return KQ_OK;
}

/* Remembers that block `height` names the set vs for the heights after it (GET
 * /v1/ledger/valsets lets a follower that does not replay move from set to set). */
static enum kq_err record_change(struct rp_state *st, uint64_t height, const struct kq_valset *vs)
{
    if (st->n_changes == st->changes_cap) {
        size_t cap = st->changes_cap == 0 ? 8 : 2 * st->changes_cap;
        struct rp_vchange *c = realloc(st->changes, cap * sizeof *c);
        KQ_ENSURE(c != NULL, KQ_ERR_NOMEM);
        st->changes = c;
        st->changes_cap = cap;
    }
    struct kq_validator *v = malloc(vs->n * sizeof *v);
    KQ_ENSURE(v != NULL, KQ_ERR_NOMEM);
    memcpy(v, vs->v, vs->n * sizeof *v);
    st->changes[st->n_changes++] = (struct rp_vchange){height, vs->n, v};
    return KQ_OK;
}

/* Appends the block (rec owned by the chain from here on success), moves the app state to post
 * and the validator sets on to the ones post names. Nothing changes on failure (NOMEM, or a state
 * naming no valid set, which check_block has refused before). */
static enum kq_err chain_append(struct rp_state *st, uint8_t *rec, size_t rec_len,
                                const struct kq_block *b, const kq_hash *hash, void *post)
{
    KQ_ASSERT(st->chain_len < st->chain_cap && b->header.height == st->chain_len + 1);
    uint32_t n = b->has_last_commit ? b->last_commit.count : 0;
    uint32_t *signers = malloc((n > 0 ? n : 1) * sizeof *signers);
    struct kq_valset *next = malloc(sizeof *next);
    enum kq_err err = signers != NULL && next != NULL ? next_valset(st, post, next) : KQ_ERR_NOMEM;
    if (err != KQ_OK) {
        free(signers);
        free(next);
        return err;
    }
    kq_hash next_hash;
    kq_valset_hash(next, &next_hash);
    if (!kq_hash_eq(&next_hash, &st->valset_hash))
        err = record_change(st, b->header.height, next);
    if (err != KQ_OK) {
        free(signers);
        free(next);
        return err;
    }
    for (uint32_t i = 0; i < n; i++)
        signers[i] = b->last_commit.sigs[i].validator;
    struct rp_block *e = &st->chain[st->chain_len++];
    memset(e, 0, sizeof *e);
    e->rec = rec;
    e->rec_len = rec_len;
    e->hash = *hash;
    e->time_ms = b->header.time_ms;
    e->signers = signers;
    e->n_signers = n;
    if (st->app_state != NULL)
        st->cfg.app->release(st->cfg.app->ctx, st->app_state);
    st->app_state = post;
    st->prev_vs = st->vs;
    st->vs = *next;
    free(next);
    kq_valset_hash(&st->vs, &st->valset_hash);
    st->self_index = st->cfg.crypto.sign != NULL ? kq_valset_index(&st->vs, st->self) : -1;
    return KQ_OK;
}

static void reset_height(struct rp_state *st)
{
    for (size_t i = 0; i < NROUNDS; i++)
        slot_clear(st, &st->rounds[i]);
    st->height = st->chain_len + 1;
    st->round = 0;
    st->step = STEP_NEW_HEIGHT;
    st->idle = false;
    st->heard_height = false;
    st->locked_round = st->valid_round = KQ_ROUND_NONE;
    st->lock_dirty = false; /* a lock of a height now decided needs no record */
    memset(&st->locked_hash, 0, sizeof st->locked_hash);
    memset(&st->valid_hash, 0, sizeof st->valid_hash);
    schedule(st);
}

static enum kq_err maybe_sync(struct rp_state *st, struct kq_actions *out);
static enum kq_err persist_change(struct kq_actions *out, const struct rp_vchange *c);

/* The safety record of a height just entered: no round, no lock, nothing proposed; written with
 * the step that entered it. */
static void new_height_safety(struct rp_state *st)
{
    st->safety.height = st->height;
    st->safety.round = 0;
    st->safety.step = STEP_NEW_HEIGHT;
    st->safety.locked_round = KQ_ROUND_NONE;
    memset(&st->safety.locked_hash, 0, sizeof st->safety.locked_hash);
    st->safety.proposed_round = KQ_ROUND_NONE;
    st->safety_dirty = true;
}

/* Commits block b (raw bytes, certificate cert, execution post/results) at the height in
 * progress: one step persists the block record and the next height's safety record. */
static enum kq_err commit(struct rp_state *st, struct kq_actions *out, const uint8_t *raw,
                          size_t raw_len, const struct kq_block *b, const kq_hash *hash,
                          const struct kq_cert *cert, void *post, const enum kq_err *results)
{
    KQ_GUARD(chain_reserve(st));
    size_t cap = 5 + raw_len + KQ_CERT_BYTES(cert->count);
    uint8_t *rec = malloc(cap);
    KQ_ENSURE(rec != NULL, KQ_ERR_NOMEM);
    struct kq_buf w;
    kq_buf_writer(&w, rec, cap);
    put_ok(kq_block_resp_encode(raw, raw_len, cert, &w));
    char key[KQ_CORE_MAX_RECORD_KEY];
    snprintf(key, sizeof key, "%s%020" PRIu64, KQ_REPLICA_BLOCK_PREFIX, st->height);
    enum kq_err err = kq_actions_persist(out, key, rec, cap, true, ++st->next_token);
    if (err == KQ_OK && st->state_stored)
        err = store_state(st, out, st->app_state, post, st->height);
    if (err == KQ_OK)
        err = kq_actions_status_data(out, KQ_STATUS_COMMITTED, st->self, st->height, hash->b,
                                     KQ_HASH_BYTES);
    if (err != KQ_OK) {
        free(rec);
        return err;
    }
    uint64_t h = st->height;
    size_t changes = st->n_changes;
    err = chain_append(st, rec, cap, b, hash, post);
    if (err != KQ_OK) {
        free(rec);
        return err;
    }
    if (st->state_stored && st->n_changes > changes) /* with the block, for a restart */
        KQ_GUARD(persist_change(out, &st->changes[st->n_changes - 1]));
    reset_height(st);
    for (uint32_t i = 0; i < b->n_txs; i++) {
        kq_hash id;
        size_t at;
        kq_block_tx_id(b->txs[i].data, b->txs[i].len, &id);
        KQ_GUARD(reply_waiters(st, out, &id, KQ_OK, h, results[i]));
        if (pool_find(st, &id, &at))
            pool_remove(st, at);
    }
    new_height_safety(st);
    KQ_GUARD(expire(st, out));
    KQ_GUARD(regossip(st, out));
    KQ_GUARD(arm(st, out, KQ_REPLICA_TIMER_COMMIT, st->cfg.commit_ms));
    return maybe_sync(st, out);
}

/* Fills c (zeroed by the caller) with the votes of one kind in slot s that are for s's block:
 * a commit certificate from precommits, a proof of lock from prevotes. */
static void gather_votes(const struct rp_state *st, const struct rp_round *s,
                         const struct kq_vote *votes, const bool *has, struct kq_cert *c)
{
    c->height = st->height;
    c->round = s->round;
    c->block = s->hash;
    for (uint32_t i = 0; i < st->vs.n; i++) {
        const struct kq_vote *v = &votes[i];
        if (!has[i] || !v->has_block || !kq_hash_eq(&v->block, &s->hash))
            continue;
        struct kq_cert_sig *cs = &c->sigs[c->count++];
        cs->validator = v->validator;
        cs->timestamp_ms = v->timestamp_ms;
        memcpy(cs->sig, v->sig, KQ_LEDGER_SIG_BYTES);
    }
}

/* Rule 4 for one round: a valid known block with a quorum of precommits. */
static enum kq_err commit_round(struct rp_state *st, struct kq_actions *out, struct rp_round *s)
{
    struct kq_cert *cert = calloc(1, sizeof *cert);
    KQ_ENSURE(cert != NULL, KQ_ERR_NOMEM);
    gather_votes(st, s, s->precommit, s->has_precommit, cert);
    KQ_ASSERT(cert->count >= quorum(st));
    /* the slot's buffers are released by reset_height inside commit: take them first */
    uint8_t *raw = s->raw;
    struct kq_block *b = s->block;
    void *post = s->post;
    enum kq_err *results = s->results;
    s->raw = NULL;
    s->block = NULL;
    s->post = NULL;
    s->results = NULL;
    kq_hash hash = s->hash;
    enum kq_err err = commit(st, out, raw, s->raw_len, b, &hash, cert, post, results);
    if (err != KQ_OK && post != NULL && st->app_state != post)
        st->cfg.app->release(st->cfg.app->ctx, post);
    free(raw);
    free(b);
    free(results);
    free(cert);
    return err;
}

/* ---- block sync ---- */

static void note_ahead(struct rp_state *st, uint32_t peer, uint64_t height)
{
    if (height > st->sync_height && peer != st->self) {
        st->sync_height = height;
        st->sync_peer = peer;
    }
}

static bool snapshot_wanted(const struct rp_state *st);
static enum kq_err snapshot_start(struct rp_state *st, struct kq_actions *out);

static enum kq_err maybe_sync(struct rp_state *st, struct kq_actions *out)
{
    if (st->sync_height <= st->height || st->sync_asked == st->height || st->sync_peer == 0 ||
        st->snap.active)
        return KQ_OK;
    if (snapshot_wanted(st)) /* far behind: the state at a peer's tip, not its blocks */
        return snapshot_start(st, out);
    st->snap_skip -= st->snap_skip > 0 ? 1 : 0;
    uint8_t mem[KQ_BLOCK_REQ_BYTES];
    struct kq_buf b;
    kq_buf_writer(&b, mem, sizeof mem);
    put_ok(kq_block_req_encode(st->height, &b));
    KQ_GUARD(kq_actions_send(out, st->sync_peer, KQ_FRAME_LEDGER_BLOCK_REQ, mem, sizeof mem));
    st->sync_asked = st->height;
    return arm(st, out, KQ_REPLICA_TIMER_SYNC, st->cfg.sync_retry_ms);
}

static enum kq_err on_block_req(struct rp_state *st, uint32_t peer, const uint8_t *p, size_t n,
                                struct kq_actions *out)
{
    uint64_t h;
    KQ_GUARD(kq_block_req_decode(&h, p, n));
    if (h > st->chain_len || h <= st->chain_base)
        return KQ_OK; /* not held (below a state sync): the requester asks another peer */
    const struct rp_block *e = &st->chain[h - 1];
    return kq_actions_send(out, peer, KQ_FRAME_LEDGER_BLOCK, e->rec, e->rec_len);
}

static enum kq_err on_block(struct rp_state *st, const uint8_t *p, size_t n, struct kq_actions *out)
{
    const uint8_t *raw;
    size_t raw_len;
    bool valid;
    void *post = NULL;
    enum kq_err *results = NULL;
    kq_hash hash;
    struct kq_cert *cert = calloc(1, sizeof *cert);
    struct kq_block *b = calloc(1, sizeof *b);
    enum kq_err err = KQ_ERR_NOMEM;
    if (cert == NULL || b == NULL)
        goto out;
    KQ_TRY(kq_block_resp_decode(&raw, &raw_len, cert, p, n));
    KQ_TRY(kq_block_decode(b, raw, raw_len));
    if (b->header.height != st->height) /* stale or early: not an error */
        goto out;
    kq_header_hash(&b->header, &hash);
    KQ_TRY(kq_cert_verify(cert, &st->cfg.chain_id, st->height, &hash, &st->vs, &st->cfg.crypto));
    KQ_TRY(check_block(st, b, &valid, &post, &results));
    KQ_CHECK(valid, KQ_ERR_BAD_PROOF); /* certified yet invalid: more than f are faulty */
    st->sync_asked = 0;
    err = commit(st, out, raw, raw_len, b, &hash, cert, post, results);
    if (err == KQ_OK)
        post = NULL;
out:
    if (post != NULL)
        st->cfg.app->release(st->cfg.app->ctx, post);
    free(results);
    free(cert);
    free(b);
    return err;
}

/* ---- state sync (docs/ledger.md "State sync") ---- */

/* Block requests made after a failed snapshot before another is tried (from the next peer). */
#define SNAP_BACKOFF 4
/* A window block as KQ_REPLICA_SYNC_BASE stores it: hash, time, signer count and ids. */
#define META_BYTES      (KQ_HASH_BYTES + 8 + 2 + 4 * (size_t)MAXV)
#define SYNC_BASE_BYTES (1 + 8 + 1 + KQ_LEDGER_SYNC_WINDOW * META_BYTES)
KQ_STATIC_ASSERT(KQ_LEDGER_SYNC_WINDOW <= 255, "the window's length is a u8");

static void meta_clear(struct rp_block *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].signers);
        memset(&m[i], 0, sizeof m[i]);
    }
}

static void snap_clear(struct rp_state *st)
{
    struct rp_snap *sn = &st->snap;
    if (sn->state != NULL)
        st->cfg.app->release(st->cfg.app->ctx, sn->state);
    free(sn->rec);
    meta_clear(sn->meta, KQ_LEDGER_SYNC_WINDOW);
    memset(sn, 0, sizeof *sn);
}

/* Gives the snapshot up: block sync goes on from the next peer, and a snapshot is tried again
 * after SNAP_BACKOFF block requests. */
static void snap_fail(struct rp_state *st)
{
    snap_clear(st);
    st->snap_skip = SNAP_BACKOFF;
    st->sync_asked = 0;
    for (size_t i = 0; i < st->n_peers; i++)
        if (st->peers[i] == st->sync_peer) {
            st->sync_peer = st->peers[(i + 1) % st->n_peers];
            break;
        }
}

static bool snapshot_wanted(const struct rp_state *st)
{
    return persists_state(st) && !st->snap.active && st->snap_skip == 0 &&
           st->sync_height > st->height + KQ_LEDGER_STATE_SYNC_LAG;
}

static enum kq_err snapshot_start(struct rp_state *st, struct kq_actions *out)
{
    uint8_t mem[KQ_SNAPSHOT_REQ_BYTES];
    struct kq_buf b;
    kq_buf_writer(&b, mem, sizeof mem);
    put_ok(kq_snapshot_req_encode(0, &b));
    KQ_GUARD(kq_actions_send(out, st->sync_peer, KQ_FRAME_LEDGER_SNAPSHOT_REQ, mem, sizeof mem));
    snap_clear(st);
    st->snap.active = true;
    st->snap.peer = st->sync_peer;
    return kq_actions_timer(out, KQ_REPLICA_TIMER_SNAPSHOT, st->cfg.sync_retry_ms);
}

static enum kq_err on_snapshot_timer(struct rp_state *st, struct kq_actions *out)
{
    if (!st->snap.active)
        return KQ_OK;
    if (st->snap.progress) {
        st->snap.progress = false;
        return kq_actions_timer(out, KQ_REPLICA_TIMER_SNAPSHOT, st->cfg.sync_retry_ms);
    }
    snap_fail(st);
    return maybe_sync(st, out);
}

/* -- serving -- */

/* The served snapshot of `height` (refreshed as recently used), or with create a new one of the
 * current state replacing the least recently used; NULL if none. */
static struct rp_serve *serve_slot(struct rp_state *st, uint64_t height, bool create)
{
    struct rp_serve *lru = &st->serving[0];
    for (size_t i = 0; i < KQ_LEDGER_SYNC_MAX_SNAPSHOTS; i++) {
        struct rp_serve *sv = &st->serving[i];
        if (sv->height != 0 && sv->height == height) {
            sv->used = ++st->serve_clock;
            return sv;
        }
        if (sv->used < lru->used)
            lru = sv;
    }
    if (!create)
        return NULL;
    KQ_ASSERT(height == st->chain_len);
    if (lru->state != NULL)
        st->cfg.app->release(st->cfg.app->ctx, lru->state);
    lru->state = st->cfg.app->retain(st->cfg.app->ctx, st->app_state);
    lru->height = height;
    lru->used = ++st->serve_clock;
    return lru;
}

/* Block k's header (it leads the block's encoding) and its last commit re-encoded into
 * cert_mem (KQ_CERT_MAX_BYTES; *cert_len 0 for block 1). */
static enum kq_err window_entry(const struct rp_state *st, uint64_t k, struct kq_block *b,
                                struct kq_cert *cert, const uint8_t **header, uint8_t *cert_mem,
                                size_t *cert_len)
{
    const uint8_t *raw;
    size_t raw_len;
    const struct rp_block *e = &st->chain[k - 1];
    KQ_ENSURE(e->rec != NULL, KQ_ERR_NOT_FOUND);
    KQ_GUARD(kq_block_resp_decode(&raw, &raw_len, cert, e->rec, e->rec_len));
    KQ_GUARD(kq_block_decode(b, raw, raw_len));
    *header = raw;
    *cert_len = 0;
    if (!b->has_last_commit)
        return KQ_OK;
    struct kq_buf w;
    kq_buf_writer(&w, cert_mem, KQ_CERT_MAX_BYTES);
    KQ_GUARD(kq_cert_encode(&b->last_commit, &w));
    *cert_len = kq_buf_len(&w);
    return KQ_OK;
}

/* Answers with the committed tip's head, and keeps that state for the chunks. A replica whose
 * window is not all its own (it state-synced less than a window ago) does not answer. */
static enum kq_err on_snapshot_req(struct rp_state *st, uint32_t peer, const uint8_t *p, size_t n,
                                   struct kq_actions *out)
{
    uint64_t want;
    KQ_GUARD(kq_snapshot_req_decode(&want, p, n));
    uint64_t h = st->chain_len;
    uint32_t w = h - 1 < KQ_LEDGER_SYNC_WINDOW ? (uint32_t)(h - 1) : KQ_LEDGER_SYNC_WINDOW;
    if (!persists_state(st) || want != 0 || h == 0 || h - w <= st->chain_base)
        return KQ_OK;
    struct kq_snapshot_head *hd = calloc(1, sizeof *hd);
    struct kq_block *b = calloc(1, sizeof *b);
    struct kq_cert *cert = calloc(1, sizeof *cert);
    uint8_t *certs = malloc((size_t)KQ_LEDGER_SYNC_WINDOW * KQ_CERT_MAX_BYTES);
    uint8_t *mem = malloc(KQ_SNAPSHOT_HEAD_MAX_BYTES);
    enum kq_err err = KQ_ERR_NOMEM;
    if (hd == NULL || b == NULL || cert == NULL || certs == NULL || mem == NULL)
        goto out;
    err = KQ_OK;
    *hd = (struct kq_snapshot_head){
        .height = h, .rec = st->chain[h - 1].rec, .rec_len = st->chain[h - 1].rec_len, .n = w};
    for (uint32_t i = 0; i < w; i++) {
        hd->certs[i] = certs + (size_t)i * KQ_CERT_MAX_BYTES;
        KQ_TRY(window_entry(st, h - w + i, b, cert, &hd->headers[i],
                            certs + (size_t)i * KQ_CERT_MAX_BYTES, &hd->cert_lens[i]));
    }
    struct kq_buf wb;
    kq_buf_writer(&wb, mem, KQ_SNAPSHOT_HEAD_MAX_BYTES);
    KQ_TRY(kq_snapshot_head_encode(hd, &wb));
    (void)serve_slot(st, h, true);
    KQ_TRY(kq_actions_send(out, peer, KQ_FRAME_LEDGER_SNAPSHOT, mem, kq_buf_len(&wb)));
out:
    free(hd);
    free(b);
    free(cert);
    free(certs);
    free(mem);
    return err;
}

struct chunk_fill {
    struct kq_buf w;
    uint32_t n;
    bool more;
    kq_hash next;
    enum kq_err err;
};

/* Adds pairs until the chunk holds KQ_LEDGER_SYNC_CHUNK_BYTES; the first pair left out is where
 * the next chunk starts. */
static bool chunk_fn(void *fctx, const kq_hash *path, const uint8_t *key, size_t key_len,
                     const uint8_t *value, size_t value_len)
{
    struct chunk_fill *c = fctx;
    if (kq_buf_len(&c->w) >= KQ_LEDGER_SYNC_CHUNK_BYTES) {
        c->more = true;
        c->next = *path;
        return false;
    }
    c->err = kq_chunk_pair_put(key, key_len, value, value_len, &c->w);
    c->n += c->err == KQ_OK ? 1 : 0;
    return c->err == KQ_OK;
}

static enum kq_err on_chunk_req(struct rp_state *st, uint32_t peer, const uint8_t *p, size_t n,
                                struct kq_actions *out)
{
    uint64_t h;
    kq_hash from;
    KQ_GUARD(kq_chunk_req_decode(&h, &from, p, n));
    struct rp_serve *sv = persists_state(st) ? serve_slot(st, h, false) : NULL;
    if (sv == NULL)
        return KQ_OK; /* not served (evicted, or never): the fetcher gives up on this peer */
    struct chunk_fill *c = calloc(1, sizeof *c);
    uint8_t *pairs = malloc(KQ_LEDGER_SYNC_CHUNK_BYTES + KQ_CHUNK_PAIR_MAX_BYTES);
    uint8_t *mem = malloc(KQ_CHUNK_MAX_BYTES);
    enum kq_err err = KQ_ERR_NOMEM;
    if (c == NULL || pairs == NULL || mem == NULL)
        goto out;
    kq_buf_writer(&c->w, pairs, KQ_LEDGER_SYNC_CHUNK_BYTES + KQ_CHUNK_PAIR_MAX_BYTES);
    st->cfg.app->foreach (st->cfg.app->ctx, sv->state, &from, chunk_fn, c);
    err = c->err;
    struct kq_state_chunk ch = {.height = h,
                                .from = from,
                                .more = c->more,
                                .next = c->next,
                                .n = c->n,
                                .pairs = pairs,
                                .pairs_len = kq_buf_len(&c->w)};
    struct kq_buf w;
    kq_buf_writer(&w, mem, KQ_CHUNK_MAX_BYTES);
    KQ_TRY(kq_state_chunk_encode(&ch, &w));
    KQ_TRY(kq_actions_send(out, peer, KQ_FRAME_LEDGER_CHUNK, mem, kq_buf_len(&w)));
out:
    free(c);
    free(pairs);
    free(mem);
    return err;
}

/* -- fetching -- */

/* The ids in a certificate (the schedule counts those still validators), into m->signers. */
static enum kq_err signers_of(const struct kq_cert *c, struct rp_block *m)
{
    m->signers = malloc((c->count > 0 ? c->count : 1) * sizeof *m->signers);
    KQ_ENSURE(m->signers != NULL, KQ_ERR_NOMEM);
    for (uint32_t i = 0; i < c->count; i++)
        m->signers[i] = c->sigs[i].validator;
    m->n_signers = c->count;
    return KQ_OK;
}

/* The window blocks chain to the tip by parent hashes and carry the last commits their headers
 * name; their hashes and signers go to snap.meta. */
static enum kq_err verify_window(struct rp_state *st, const struct kq_snapshot_head *hd,
                                 const struct kq_header *tip_header, struct kq_cert *cert)
{
    struct rp_snap *sn = &st->snap;
    uint32_t n =
        hd->height - 1 < KQ_LEDGER_SYNC_WINDOW ? (uint32_t)(hd->height - 1) : KQ_LEDGER_SYNC_WINDOW;
    KQ_ENSURE(hd->n == n, KQ_ERR_BAD_PROOF);
    kq_hash expect = tip_header->parent, ch;
    for (uint32_t i = n; i-- > 0;) {
        struct kq_header h;
        struct rp_block *m = &sn->meta[i];
        KQ_GUARD(kq_header_decode(&h, hd->headers[i], KQ_HEADER_BYTES));
        memset(m, 0, sizeof *m);
        kq_header_hash(&h, &m->hash);
        m->time_ms = h.time_ms;
        KQ_ENSURE(h.height == hd->height - n + i && kq_hash_eq(&m->hash, &expect),
                  KQ_ERR_BAD_PROOF);
        if (h.height == 1) {
            KQ_ENSURE(hd->cert_lens[i] == 0, KQ_ERR_BAD_PROOF);
        } else {
            KQ_GUARD(kq_cert_decode(cert, hd->certs[i], hd->cert_lens[i]));
            kq_cert_hash(cert, &ch);
            KQ_ENSURE(kq_hash_eq(&ch, &h.last_commit_hash), KQ_ERR_BAD_PROOF);
            KQ_GUARD(signers_of(cert, m));
        }
        expect = h.parent;
    }
    sn->n = n;
    return KQ_OK;
}

/* A head: the tip's certificate verifies with this replica's validator set, the window chains to
 * it. Then the tip's record is kept and the chunks are asked for. */
static enum kq_err accept_head(struct rp_state *st, const uint8_t *p, size_t n)
{
    struct rp_snap *sn = &st->snap;
    struct kq_snapshot_head *hd = calloc(1, sizeof *hd);
    struct kq_block *b = calloc(1, sizeof *b);
    struct kq_cert *cert = calloc(1, sizeof *cert);
    enum kq_err err = hd != NULL && b != NULL && cert != NULL ? KQ_OK : KQ_ERR_NOMEM;
    const uint8_t *raw;
    size_t raw_len;
    kq_hash hash;
    if (err != KQ_OK)
        goto out;
    KQ_TRY(kq_snapshot_head_decode(hd, p, n));
    KQ_TRY(kq_block_resp_decode(&raw, &raw_len, cert, hd->rec, hd->rec_len));
    KQ_TRY(kq_block_decode(b, raw, raw_len));
    kq_header_hash(&b->header, &hash);
    /* the tip's set must be this replica's: its certificate is checked with it, and it certified
     * the tip for the next block's last commit (after a set change: block sync) */
    KQ_CHECK(b->header.height == hd->height && hd->height > st->chain_len &&
                 kq_hash_eq(&b->header.valset_hash, &st->valset_hash),
             KQ_ERR_BAD_PROOF);
    KQ_TRY(kq_cert_verify(cert, &st->cfg.chain_id, hd->height, &hash, &st->vs, &st->cfg.crypto));
    KQ_TRY(verify_window(st, hd, &b->header, cert));
    sn->rec = malloc(hd->rec_len);
    KQ_CHECK(sn->rec != NULL, KQ_ERR_NOMEM);
    memcpy(sn->rec, hd->rec, hd->rec_len);
    sn->rec_len = hd->rec_len;
    sn->height = hd->height;
    sn->state_root = b->header.state_root;
    sn->progress = true;
out:
    free(hd);
    free(b);
    free(cert);
    return err;
}

static enum kq_err chunk_request(struct rp_state *st, struct kq_actions *out)
{
    uint8_t mem[KQ_CHUNK_REQ_BYTES];
    struct kq_buf b;
    kq_buf_writer(&b, mem, sizeof mem);
    put_ok(kq_chunk_req_encode(st->snap.height, &st->snap.cursor, &b));
    return kq_actions_send(out, st->snap.peer, KQ_FRAME_LEDGER_CHUNK_REQ, mem, sizeof mem);
}

static enum kq_err on_snapshot(struct rp_state *st, uint32_t peer, const uint8_t *p, size_t n,
                               struct kq_actions *out)
{
    if (!st->snap.active || st->snap.height != 0 || peer != st->snap.peer)
        return KQ_OK; /* not asked for */
    enum kq_err err = accept_head(st, p, n);
    if (err == KQ_ERR_NOMEM)
        return err;
    if (err != KQ_OK) { /* a bad head, or one this validator set cannot verify: block sync */
        snap_fail(st);
        return maybe_sync(st, out);
    }
    return chunk_request(st, out);
}

/* Loads a chunk's pairs; *done after the last, whose state must have the tip's state_root. */
static enum kq_err accept_chunk(struct rp_state *st, const struct kq_state_chunk *c, bool *done)
{
    struct rp_snap *sn = &st->snap;
    struct kq_buf pairs;
    KQ_ENSURE(++sn->chunks <= KQ_LEDGER_SYNC_MAX_CHUNKS, KQ_ERR_LIMIT);
    kq_buf_reader(&pairs, c->pairs, c->pairs_len);
    for (uint32_t i = 0; i < c->n; i++) {
        const uint8_t *k, *v;
        size_t kl, vl;
        KQ_GUARD(kq_chunk_pair_next(&pairs, &k, &kl, &v, &vl));
        KQ_GUARD(st->cfg.app->load(st->cfg.app->ctx, &sn->state, k, kl, v, vl));
    }
    sn->progress = true;
    *done = !c->more;
    if (c->more) {
        sn->cursor = c->next;
        return KQ_OK;
    }
    kq_hash root;
    KQ_ENSURE(sn->state != NULL, KQ_ERR_BAD_PROOF);
    st->cfg.app->root(st->cfg.app->ctx, sn->state, &root);
    KQ_ENSURE(kq_hash_eq(&root, &sn->state_root), KQ_ERR_BAD_PROOF);
    return KQ_OK;
}

/* Grows the chain array to hold `height` entries. */
static enum kq_err chain_cover(struct rp_state *st, uint64_t height)
{
    KQ_ENSURE(height <= KQ_LEDGER_MAX_CHAIN_BLOCKS, KQ_ERR_LIMIT);
    while (st->chain_cap < height) {
        size_t len = st->chain_len;
        st->chain_len = st->chain_cap; /* chain_reserve grows from the capacity */
        enum kq_err err = chain_reserve(st);
        st->chain_len = len;
        KQ_GUARD(err);
    }
    return KQ_OK;
}

static size_t sync_base_encode(const struct rp_snap *sn, uint8_t *mem)
{
    struct kq_buf w;
    kq_buf_writer(&w, mem, SYNC_BASE_BYTES);
    put_ok(kq_buf_put_u8(&w, 1));
    put_ok(kq_buf_put_u64(&w, sn->height));
    put_ok(kq_buf_put_u8(&w, (uint8_t)sn->n));
    for (uint32_t i = 0; i < sn->n; i++) {
        const struct rp_block *m = &sn->meta[i];
        KQ_ASSERT(m->n_signers <= MAXV);
        put_ok(kq_buf_put(&w, m->hash.b, KQ_HASH_BYTES));
        put_ok(kq_buf_put_u64(&w, m->time_ms));
        put_ok(kq_buf_put_u16(&w, (uint16_t)m->n_signers));
        for (uint32_t k = 0; k < m->n_signers; k++)
            put_ok(kq_buf_put_u32(&w, m->signers[k]));
    }
    return kq_buf_len(&w);
}

static enum kq_err meta_read(struct kq_buf *b, struct rp_block *m)
{
    uint16_t n = 0;
    KQ_GUARD(kq_buf_get(b, m->hash.b, KQ_HASH_BYTES));
    KQ_GUARD(kq_buf_get_u64(b, &m->time_ms));
    KQ_GUARD(kq_buf_get_u16(b, &n));
    KQ_ENSURE(n <= MAXV, KQ_ERR_STORE);
    m->signers = malloc((n > 0 ? n : 1) * sizeof *m->signers);
    KQ_ENSURE(m->signers != NULL, KQ_ERR_NOMEM);
    m->n_signers = n;
    for (uint32_t k = 0; k < n; k++)
        KQ_GUARD(kq_buf_get_u32(b, &m->signers[k]));
    return KQ_OK;
}

static enum kq_err sync_base_decode(struct rp_state *st, const uint8_t *in, size_t len)
{
    struct kq_buf b;
    uint8_t version = 0, n = 0;
    uint64_t h = 0;
    KQ_ENSURE(!st->has_sync_base, KQ_ERR_STORE);
    kq_buf_reader(&b, in, len);
    KQ_GUARD(kq_buf_get_u8(&b, &version));
    KQ_ENSURE(version == 1, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_u64(&b, &h));
    KQ_GUARD(kq_buf_get_u8(&b, &n));
    KQ_ENSURE(h >= 1 && h <= KQ_LEDGER_MAX_CHAIN_BLOCKS && n <= KQ_LEDGER_SYNC_WINDOW && n < h,
              KQ_ERR_STORE);
    st->has_sync_base = true; /* fini frees base_meta from here on */
    for (uint32_t i = 0; i < n; i++)
        KQ_GUARD(meta_read(&b, &st->base_meta[i]));
    KQ_GUARD(kq_buf_expect_end(&b));
    st->chain_base = h - 1;
    st->meta_base = h - 1 - n;
    return KQ_OK;
}

/* The step that installs the snapshot: its tip's block record (synced), the window (sync base)
 * and the state records (the difference from the stored state, or all of it). */
static enum kq_err persist_snapshot(struct rp_state *st, struct kq_actions *out, const void *pre)
{
    struct rp_snap *sn = &st->snap;
    char key[KQ_CORE_MAX_RECORD_KEY];
    uint8_t base[SYNC_BASE_BYTES];
    snprintf(key, sizeof key, "%s%020" PRIu64, KQ_REPLICA_BLOCK_PREFIX, sn->height);
    KQ_GUARD(kq_actions_persist(out, key, sn->rec, sn->rec_len, true, ++st->next_token));
    KQ_GUARD(
        kq_actions_persist(out, KQ_REPLICA_SYNC_BASE, base, sync_base_encode(sn, base), false, 0));
    return store_state(st, out, pre, sn->state, sn->height);
}

/* Moves the chain and the state to the snapshot: blocks below it are dropped, the window is known
 * by hash and signers, the tip is held, and the validator sets move on (chain_append: the set
 * that certified the tip is this replica's, accept_head checked it). */
static enum kq_err adopt_snapshot(struct rp_state *st, const struct kq_block *b,
                                  const kq_hash *hash)
{
    struct rp_snap *sn = &st->snap;
    uint64_t h = sn->height;
    for (uint64_t k = 1; k < h; k++) {
        free(st->chain[k - 1].rec);
        free(st->chain[k - 1].signers);
        memset(&st->chain[k - 1], 0, sizeof st->chain[k - 1]);
    }
    for (uint32_t i = 0; i < sn->n; i++) { /* the chain owns the signer lists from here */
        st->chain[h - sn->n + i - 1] = sn->meta[i];
        memset(&sn->meta[i], 0, sizeof sn->meta[i]);
    }
    st->chain_len = h - 1;
    st->chain_base = h - 1;
    st->meta_base = h - 1 - sn->n;
    KQ_GUARD(chain_append(st, sn->rec, sn->rec_len, b, hash, sn->state));
    sn->rec = NULL;
    sn->state = NULL;
    st->state_stored = true;
    return KQ_OK;
}

static enum kq_err install_snapshot(struct rp_state *st, struct kq_actions *out)
{
    struct rp_snap *sn = &st->snap;
    const void *pre = st->state_stored ? st->app_state : NULL;
    if (sn->height <= st->chain_len || !diff_fits(st, pre, sn->state)) {
        snap_fail(st); /* caught up meanwhile, or too big a change for one step: block sync */
        return maybe_sync(st, out);
    }
    struct kq_block *b = calloc(1, sizeof *b);
    struct kq_cert *cert = calloc(1, sizeof *cert);
    enum kq_err err = b != NULL && cert != NULL ? KQ_OK : KQ_ERR_NOMEM;
    const uint8_t *raw;
    size_t raw_len;
    kq_hash hash;
    uint64_t h = sn->height;
    if (err != KQ_OK)
        goto out;
    KQ_TRY(kq_block_resp_decode(&raw, &raw_len, cert, sn->rec, sn->rec_len));
    KQ_TRY(kq_block_decode(b, raw, raw_len));
    kq_header_hash(&b->header, &hash);
    kq_hash next;
    KQ_TRY(next_valset_hash(st, sn->state, &next));
    if (!kq_hash_eq(&next, &b->header.next_valset_hash)) { /* cannot be, at a matching root */
        snap_fail(st);
        KQ_TRY(maybe_sync(st, out));
        goto out;
    }
    KQ_TRY(chain_cover(st, h));
    KQ_TRY(persist_snapshot(st, out, pre));
    KQ_TRY(kq_actions_status_data(out, KQ_STATUS_COMMITTED, st->self, h, hash.b, KQ_HASH_BYTES));
    size_t changes = st->n_changes;
    KQ_TRY(adopt_snapshot(st, b, &hash));
    if (st->n_changes > changes)
        KQ_TRY(persist_change(out, &st->changes[st->n_changes - 1]));
    snap_clear(st);
    for (size_t at = 0; at < st->pool_n; at++) /* their txs may be in the blocks skipped */
        KQ_TRY(reply_slot(st, out, at, KQ_ERR_BUSY, 0, KQ_ERR_BUSY));
    KQ_ASSERT(st->n_waiters == 0);
    reset_height(st);
    st->sync_asked = 0;
    new_height_safety(st);
    KQ_TRY(expire(st, out));
    KQ_TRY(arm(st, out, KQ_REPLICA_TIMER_COMMIT, st->cfg.commit_ms));
    KQ_TRY(maybe_sync(st, out));
out:
    free(b);
    free(cert);
    return err;
}

static enum kq_err on_chunk(struct rp_state *st, uint32_t peer, const uint8_t *p, size_t n,
                            struct kq_actions *out)
{
    struct rp_snap *sn = &st->snap;
    struct kq_state_chunk c;
    KQ_GUARD(kq_state_chunk_decode(&c, p, n));
    if (!sn->active || sn->height == 0 || peer != sn->peer || c.height != sn->height ||
        !kq_hash_eq(&c.from, &sn->cursor))
        return KQ_OK; /* stale, duplicated or not asked for */
    bool done = false;
    enum kq_err err = accept_chunk(st, &c, &done);
    if (err == KQ_ERR_NOMEM)
        return err;
    if (err != KQ_OK) { /* a wrong pair, too many chunks, or the wrong root: block sync */
        snap_fail(st);
        return maybe_sync(st, out);
    }
    return done ? install_snapshot(st, out) : chunk_request(st, out);
}

/* ---- proposals and votes ---- */

static enum kq_err store_proposal(struct rp_state *st, const struct kq_proposal *pr,
                                  struct kq_block *b, const kq_hash *hash)
{
    struct rp_round *s = slot_get(st, pr->round, true);
    if (s == NULL || s->has_proposal) /* outside the window, or a second proposal: ignored */
        return KQ_OK;
    uint8_t *raw = malloc(pr->block_len);
    KQ_ENSURE(raw != NULL, KQ_ERR_NOMEM);
    memcpy(raw, pr->block, pr->block_len);
    enum kq_err err = kq_block_decode(b, raw, pr->block_len); /* re-point into our copy */
    KQ_ASSERT(err == KQ_OK);
    s->raw = raw;
    s->raw_len = pr->block_len;
    s->block = b;
    s->hash = *hash;
    s->pol_round = pr->pol_round;
    s->has_proposal = true;
    if (b->header.round > pr->round)
        return KQ_OK; /* stored as invalid */
    return check_block(st, b, &s->valid, &s->post, &s->results);
}

/* Verifies the proposal's proof of lock and records the polka it shows in its round. */
static enum kq_err accept_pol(struct rp_state *st, const struct kq_proposal *pr,
                              const kq_hash *hash)
{
    struct kq_cert *c = calloc(1, sizeof *c);
    KQ_ENSURE(c != NULL, KQ_ERR_NOMEM);
    enum kq_err err = kq_cert_decode(c, pr->pol, pr->pol_len);
    if (err == KQ_OK)
        err = kq_pol_verify(c, &st->cfg.chain_id, st->height, pr->pol_round, hash, &st->vs,
                            &st->cfg.crypto);
    free(c);
    KQ_GUARD(err);
    struct rp_round *s = slot_get(st, pr->pol_round, true);
    if (s != NULL && !s->has_pol) {
        s->has_pol = true;
        s->pol_hash = *hash;
    }
    return KQ_OK;
}

static enum kq_err on_proposal(struct rp_state *st, uint32_t peer, const uint8_t *p, size_t n)
{
    struct kq_proposal pr;
    kq_hash hash;
    KQ_GUARD(kq_proposal_decode(&pr, p, n));
    if (pr.height != st->height) {
        if (pr.height > st->height)
            note_ahead(st, peer, pr.height);
        return KQ_OK;
    }
    int32_t idx = kq_valset_index(&st->vs, pr.proposer);
    KQ_ENSURE(idx >= 0 && pr.proposer == proposer_of(st, pr.round), KQ_ERR_PEER_IDENTITY);
    st->heard_height = true;
    struct kq_block *b = calloc(1, sizeof *b);
    KQ_ENSURE(b != NULL, KQ_ERR_NOMEM);
    enum kq_err err = kq_block_decode(b, pr.block, pr.block_len);
    if (err == KQ_OK) {
        kq_header_hash(&b->header, &hash);
        err = kq_proposal_verify(&pr, &st->cfg.chain_id, &hash, st->vs.v[idx].pk, &st->cfg.crypto);
    }
    if (err == KQ_OK && pr.pol_round != KQ_ROUND_NONE)
        err = accept_pol(st, &pr, &hash);
    if (err == KQ_OK) {
        struct rp_round *s = slot_get(st, pr.round, false);
        if (s == NULL || !s->has_proposal) {
            err = store_proposal(st, &pr, b, &hash);
            if (slot_get(st, pr.round, false) != NULL && slot_get(st, pr.round, false)->block == b)
                return err; /* the slot owns b */
        }
    }
    free(b);
    return err;
}

static void store_vote(struct rp_state *st, const struct kq_vote *v, int32_t idx)
{
    struct rp_round *s = slot_get(st, v->round, true);
    if (s == NULL)
        return;
    bool *has = v->type == KQ_VOTE_PREVOTE ? s->has_prevote : s->has_precommit;
    struct kq_vote *slot = v->type == KQ_VOTE_PREVOTE ? s->prevote : s->precommit;
    if (has[idx]) /* a duplicate, or an equivocation (the first stays) */
        return;
    has[idx] = true;
    slot[idx] = *v;
}

static enum kq_err on_vote(struct rp_state *st, uint32_t peer, const uint8_t *p, size_t n)
{
    struct kq_vote v;
    KQ_GUARD(kq_vote_decode(&v, p, n));
    if (v.height < st->height) /* stale (its signer may have left the set since): no use */
        return KQ_OK;
    int32_t idx = kq_valset_index(&st->vs, v.validator);
    if (v.height > st->height && idx < 0) { /* perhaps a validator of a later set: a hint only */
        note_ahead(st, peer, v.height);
        return KQ_OK;
    }
    KQ_ENSURE(idx >= 0, KQ_ERR_PEER_IDENTITY);
    KQ_GUARD(kq_vote_verify(&v, &st->cfg.chain_id, st->vs.v[idx].pk, &st->cfg.crypto));
    if (v.height != st->height) {
        if (v.height > st->height)
            note_ahead(st, peer, v.height);
        return KQ_OK;
    }
    st->heard_height = true;
    store_vote(st, &v, idx);
    return KQ_OK;
}

/* ---- proposing ---- */

static enum kq_err select_txs(struct rp_state *st, struct kq_block *b, struct kq_actions *out)
{
    size_t bytes = 0;
    for (uint32_t i = st->pool_head;
         i != 0 && b->n_txs < KQ_LEDGER_MAX_BLOCK_TXS - KQ_LEDGER_BLOCK_SYSTEM_TXS;) {
        size_t at = i - 1;
        struct rp_tx *t = &st->pool[at];
        uint64_t expiry;
        i = t->next;
        enum kq_err err = st->cfg.app->check_tx(st->cfg.app->ctx, st->app_state, st->height,
                                                t->data, t->len, &expiry);
        if (err != KQ_OK) { /* no longer valid on the latest state */
            KQ_GUARD(reply_slot(st, out, at, err, 0, err));
            pool_remove_at(st, at, &i);
            continue;
        }
        if (bytes + t->len > KQ_LEDGER_MAX_BLOCK_TX_BYTES)
            break;
        bytes += t->len;
        b->txs[b->n_txs++] = (struct kq_tx_view){t->data, t->len};
    }
    b->header.tx_count = b->n_txs;
    return kq_block_tx_root(b, &b->header.tx_root);
}

/* A new block for the height in progress, encoded into *raw (malloc'd). */
static enum kq_err build_block(struct rp_state *st, struct kq_actions *out, uint8_t **raw,
                               size_t *raw_len)
{
    enum kq_err err;
    void *post = NULL;
    enum kq_err *res = NULL;
    uint8_t *mem = NULL;
    struct kq_block *b = calloc(1, sizeof *b);
    KQ_ENSURE(b != NULL, KQ_ERR_NOMEM);
    struct kq_header *h = &b->header;
    *h = (struct kq_header){.chain_id = st->cfg.chain_id,
                            .height = st->height,
                            .round = st->round,
                            .proposer = st->self,
                            .valset_hash = st->valset_hash};
    if (st->height > 1) {
        const uint8_t *pb;
        size_t pl;
        h->parent = tip(st)->hash;
        KQ_TRY(kq_block_resp_decode(&pb, &pl, &b->last_commit, tip(st)->rec, tip(st)->rec_len));
        b->has_last_commit = true;
        kq_cert_hash(&b->last_commit, &h->last_commit_hash);
    }
    h->time_ms = expected_time(st, &b->last_commit);
    KQ_TRY(select_txs(st, b, out));
    res = calloc(b->n_txs + 1, sizeof *res);
    KQ_CHECK(res != NULL, KQ_ERR_NOMEM);
    KQ_TRY(st->cfg.app->apply_block(st->cfg.app->ctx, st->app_state, st->height, h->time_ms, b->txs,
                                    b->n_txs, &post, &h->state_root, res));
    while (!diff_fits(st, st->app_state, post)) { /* too many changes for one commit step */
        KQ_CHECK(b->n_txs > 0, KQ_ERR_LIMIT);     /* halving ends at the empty block */
        st->cfg.app->release(st->cfg.app->ctx, post);
        post = NULL;
        b->n_txs /= 2;
        h->tx_count = b->n_txs;
        KQ_TRY(kq_block_tx_root(b, &h->tx_root));
        KQ_TRY(st->cfg.app->apply_block(st->cfg.app->ctx, st->app_state, st->height, h->time_ms,
                                        b->txs, b->n_txs, &post, &h->state_root, res));
    }
    KQ_TRY(next_valset_hash(st, post, &h->next_valset_hash));
    mem = malloc(KQ_BLOCK_MAX_BYTES);
    KQ_CHECK(mem != NULL, KQ_ERR_NOMEM);
    struct kq_buf w;
    kq_buf_writer(&w, mem, KQ_BLOCK_MAX_BYTES);
    KQ_TRY(kq_block_encode(b, &w));
    *raw_len = kq_buf_len(&w);
    *raw = mem;
    mem = NULL;
out:
    if (post != NULL)
        st->cfg.app->release(st->cfg.app->ctx, post);
    free(mem);
    free(res);
    free(b);
    return err;
}

/* The proof of lock for the valid block: its prevotes in the valid round, as a certificate
 * encoding in *pol (malloc'd). */
static enum kq_err make_pol(const struct rp_state *st, const struct rp_round *s, uint8_t **pol,
                            size_t *pol_len)
{
    struct kq_cert *c = calloc(1, sizeof *c);
    KQ_ENSURE(c != NULL, KQ_ERR_NOMEM);
    gather_votes(st, s, s->prevote, s->has_prevote, c);
    KQ_ASSERT(c->count >= quorum(st)); /* the valid round is where this replica saw the polka */
    size_t cap = KQ_CERT_BYTES(c->count);
    *pol = malloc(cap);
    if (*pol == NULL) {
        free(c);
        return KQ_ERR_NOMEM;
    }
    struct kq_buf w;
    kq_buf_writer(&w, *pol, cap);
    put_ok(kq_cert_encode(c, &w));
    *pol_len = cap;
    free(c);
    return KQ_OK;
}

static enum kq_err propose(struct rp_state *st, struct kq_actions *out)
{
    uint8_t *raw = NULL, *polb = NULL;
    size_t raw_len = 0, pol_len = 0;
    uint32_t pol = KQ_ROUND_NONE;
    struct rp_round *vs =
        st->valid_round == KQ_ROUND_NONE ? NULL : slot_get(st, st->valid_round, false);
    if (vs != NULL && vs->has_proposal && kq_hash_eq(&vs->hash, &st->valid_hash)) {
        KQ_GUARD(make_pol(st, vs, &polb, &pol_len));
        raw = malloc(vs->raw_len);
        if (raw == NULL) {
            free(polb);
            return KQ_ERR_NOMEM;
        }
        memcpy(raw, vs->raw, vs->raw_len);
        raw_len = vs->raw_len;
        pol = st->valid_round;
    } else {
        KQ_GUARD(build_block(st, out, &raw, &raw_len));
    }
    struct kq_header hd;
    KQ_ASSERT(kq_header_decode(&hd, raw, KQ_HEADER_BYTES) == KQ_OK);
    kq_hash hash;
    kq_header_hash(&hd, &hash);
    struct kq_proposal pr = {.height = st->height,
                             .round = st->round,
                             .pol_round = pol,
                             .proposer = st->self,
                             .block = raw,
                             .block_len = raw_len,
                             .pol = polb,
                             .pol_len = pol_len};
    kq_proposal_sign(&pr, &st->cfg.chain_id, &hash, &st->cfg.crypto);
    size_t cap = KQ_PROPOSAL_OVERHEAD + raw_len + pol_len;
    uint8_t *payload = malloc(cap);
    if (payload == NULL) {
        free(raw);
        free(polb);
        return KQ_ERR_NOMEM;
    }
    struct kq_buf w;
    kq_buf_writer(&w, payload, cap);
    put_ok(kq_proposal_encode(&pr, &w));
    free(raw);
    free(polb);
    st->safety.height = st->height;
    st->safety.round = st->round;
    st->safety.step = st->step;
    st->safety.proposed_round = st->round;
    outbox_push(st, KQ_FRAME_LEDGER_PROPOSAL, payload, cap);
    return KQ_OK;
}

static enum kq_err start_round(struct rp_state *st, struct kq_actions *out, uint32_t r)
{
    st->round = r;
    st->step = STEP_PROPOSE;
    (void)slot_get(st, r, true);
    bool proposed = st->safety.height == st->height && st->safety.proposed_round != KQ_ROUND_NONE &&
                    st->safety.proposed_round >= r;
    if (st->self_index >= 0 && proposer_of(st, r) == st->self && !proposed)
        KQ_GUARD(propose(st, out));
    KQ_GUARD(arm(st, out, KQ_REPLICA_TIMER_RESEND, resend_period(st)));
    return arm(st, out, KQ_REPLICA_TIMER_PROPOSE, timeout_of(st, st->cfg.propose_ms));
}

/* Sends again the last prevote and precommit this replica sent at this height (of whatever
 * round: a peer a round behind may need them to reach its quorum) and its proposal of this
 * round. */
static enum kq_err resend(struct rp_state *st, struct kq_actions *out)
{
    for (size_t i = 0; i < 2; i++) {
        const struct kq_vote *v = &st->sent[i];
        if (!st->has_sent[i] || v->height != st->height)
            continue;
        uint8_t mem[KQ_VOTE_BYTES];
        struct kq_buf w;
        kq_buf_writer(&w, mem, sizeof mem);
        put_ok(kq_vote_encode(v, &w));
        KQ_GUARD(kq_actions_send(out, KQ_PEER_ALL, KQ_FRAME_LEDGER_VOTE, mem, sizeof mem));
    }
    if (st->sent_proposal != NULL && st->sent_proposal_h == st->height &&
        st->sent_proposal_r == st->round)
        KQ_GUARD(kq_actions_send(out, KQ_PEER_ALL, KQ_FRAME_LEDGER_PROPOSAL, st->sent_proposal,
                                 st->sent_proposal_len));
    return arm(st, out, KQ_REPLICA_TIMER_RESEND, resend_period(st));
}

/* ---- the rules ---- */

static enum kq_err rule_decide(struct rp_state *st, struct kq_actions *out, bool *fired)
{
    for (size_t i = 0; i < NROUNDS; i++) {
        struct rp_round *s = &st->rounds[i];
        if (!s->used)
            continue;
        if (s->has_proposal && s->valid && count_precommits(st, s, &s->hash) >= quorum(st)) {
            *fired = true;
            return commit_round(st, out, s);
        }
        for (uint32_t k = 0; k < st->vs.n; k++) { /* a certified block we lack: fetch it */
            const struct kq_vote *v = &s->precommit[k];
            if (s->has_precommit[k] && v->has_block && v->validator != st->self &&
                count_precommits(st, s, &v->block) >= quorum(st)) {
                note_ahead(st, v->validator, st->height + 1);
                return maybe_sync(st, out);
            }
        }
    }
    return KQ_OK;
}

static enum kq_err rule_skip(struct rp_state *st, struct kq_actions *out, bool *fired)
{
    for (size_t i = 0; i < NROUNDS; i++) {
        struct rp_round *s = &st->rounds[i];
        if (s->used && s->round > st->round &&
            count_any(st, s, true, true) >= kq_valset_faulty(&st->vs) + 1) {
            *fired = true;
            return start_round(st, out, s->round);
        }
    }
    return KQ_OK;
}

static enum kq_err rule_prevote(struct rp_state *st, struct rp_round *s, bool *fired)
{
    if (st->step != STEP_PROPOSE || !s->has_proposal || st->self_index < 0)
        return KQ_OK;
    bool unlocked = st->locked_round == KQ_ROUND_NONE || kq_hash_eq(&st->locked_hash, &s->hash);
    if (s->pol_round != KQ_ROUND_NONE) {
        struct rp_round *pol = slot_get(st, s->pol_round, false);
        bool polka = pol != NULL && ((pol->has_pol && kq_hash_eq(&pol->pol_hash, &s->hash)) ||
                                     count_prevotes(st, pol, &s->hash) >= quorum(st));
        if (!polka)
            return KQ_OK; /* wait for the polka (or the timeout) */
        unlocked = unlocked || st->locked_round <= s->pol_round;
    }
    *fired = true;
    return do_prevote(st, s->valid && unlocked ? &s->hash : NULL);
}

static enum kq_err rule_polka(struct rp_state *st, struct kq_actions *out, struct rp_round *s,
                              bool *fired)
{
    /* Tendermint arms these on q votes of any kind; arming them on entering the step as well
     * keeps a round moving when frames are lost (a timeout only ever votes nil or moves on) */
    if (st->step == STEP_PREVOTE && !s->prevote_timer) {
        s->prevote_timer = true;
        KQ_GUARD(arm(st, out, KQ_REPLICA_TIMER_PREVOTE, timeout_of(st, st->cfg.prevote_ms)));
    }
    if (st->step >= STEP_PREVOTE && s->has_proposal && s->valid && !s->polka_done &&
        count_prevotes(st, s, &s->hash) >= quorum(st)) {
        s->polka_done = true;
        *fired = true;
        st->valid_round = st->round;
        st->valid_hash = s->hash;
        if (st->step == STEP_PREVOTE && st->self_index >= 0) {
            st->locked_round = st->round;
            st->locked_hash = s->hash;
            st->lock_dirty = true;
            return do_precommit(st, &s->hash);
        }
        return KQ_OK;
    }
    if (st->step == STEP_PREVOTE && st->self_index >= 0 &&
        count_prevotes(st, s, NULL) >= quorum(st)) {
        *fired = true;
        return do_precommit(st, NULL);
    }
    if (!s->precommit_timer &&
        (st->step == STEP_PRECOMMIT || count_any(st, s, false, true) >= quorum(st))) {
        s->precommit_timer = true;
        KQ_GUARD(arm(st, out, KQ_REPLICA_TIMER_PRECOMMIT, timeout_of(st, st->cfg.precommit_ms)));
    }
    return KQ_OK;
}

static enum kq_err progress(struct rp_state *st, struct kq_actions *out)
{
    for (int i = 0; i < MAX_PROGRESS; i++) {
        bool fired = false;
        KQ_GUARD(rule_decide(st, out, &fired));
        if (fired || st->step == STEP_NEW_HEIGHT)
            return KQ_OK; /* after a commit the next height starts on its timer */
        KQ_GUARD(rule_skip(st, out, &fired));
        struct rp_round *s = slot_get(st, st->round, true);
        if (!fired && s != NULL)
            KQ_GUARD(rule_prevote(st, s, &fired));
        if (!fired && s != NULL)
            KQ_GUARD(rule_polka(st, out, s, &fired));
        if (!fired)
            return KQ_OK;
    }
    return KQ_OK;
}

/* ---- events ---- */

static enum kq_err on_timer(struct rp_state *st, uint32_t timer, struct kq_actions *out)
{
    if (timer == KQ_REPLICA_TIMER_SNAPSHOT)
        return on_snapshot_timer(st, out);
    KQ_ENSURE(timer >= KQ_REPLICA_TIMER_PROPOSE && timer <= KQ_REPLICA_TIMER_IDLE, KQ_ERR_STATE);
    bool current = st->timer_h[timer] == st->height && st->timer_r[timer] == st->round;
    switch (timer) {
    case KQ_REPLICA_TIMER_PROPOSE:
        if (current && st->step == STEP_PROPOSE && st->self_index >= 0)
            return do_prevote(st, NULL);
        return KQ_OK;
    case KQ_REPLICA_TIMER_PREVOTE:
        if (current && st->step == STEP_PREVOTE && st->self_index >= 0)
            return do_precommit(st, NULL);
        return KQ_OK;
    case KQ_REPLICA_TIMER_PRECOMMIT:
        if (current && st->step != STEP_NEW_HEIGHT)
            return start_round(st, out, st->round + 1);
        return KQ_OK;
    case KQ_REPLICA_TIMER_COMMIT:
        if (st->timer_h[timer] != st->height || st->step != STEP_NEW_HEIGHT)
            return KQ_OK;
        if (st->cfg.empty_block_ms > 0 && st->pool_n == 0 && !st->heard_height &&
            !(st->cfg.app->busy != NULL && st->app_state != NULL &&
              st->cfg.app->busy(st->cfg.app->ctx, st->app_state))) {
            st->idle = true; /* nothing to order: wait for a tx, a peer or the interval */
            return arm(st, out, KQ_REPLICA_TIMER_IDLE, st->cfg.empty_block_ms);
        }
        return start_round(st, out, 0);
    case KQ_REPLICA_TIMER_IDLE:
        if (st->idle && st->timer_h[timer] == st->height && st->step == STEP_NEW_HEIGHT) {
            st->idle = false;
            return start_round(st, out, 0);
        }
        return KQ_OK;
    case KQ_REPLICA_TIMER_RESEND:
        if (current && st->step != STEP_NEW_HEIGHT)
            return resend(st, out);
        return KQ_OK;
    default: /* ask the next peer: the last one may be down or unreachable */
        st->sync_asked = 0;
        {
            size_t i = 0;
            while (i < st->n_peers && st->peers[i] != st->sync_peer)
                i++;
            /* the next configured peer; the first if this one is not (or no longer) listed */
            if (st->n_peers > 0)
                st->sync_peer = st->peers[i < st->n_peers ? (i + 1) % st->n_peers : 0];
        }
        return maybe_sync(st, out);
    }
}

static enum kq_err on_frame(struct rp_state *st, const struct kq_event *ev, struct kq_actions *out)
{
    KQ_ENSURE(is_peer(st, ev->peer), KQ_ERR_PEER_IDENTITY);
    KQ_ENSURE(ev->payload != NULL || ev->payload_len == 0, KQ_ERR_INVALID_ARG);
    switch (ev->frame_type) {
    case KQ_FRAME_LEDGER_PROPOSAL:
        KQ_GUARD(on_proposal(st, ev->peer, ev->payload, ev->payload_len));
        return maybe_sync(st, out);
    case KQ_FRAME_LEDGER_VOTE:
        KQ_GUARD(on_vote(st, ev->peer, ev->payload, ev->payload_len));
        return maybe_sync(st, out);
    case KQ_FRAME_LEDGER_BLOCK_REQ:
        return on_block_req(st, ev->peer, ev->payload, ev->payload_len, out);
    case KQ_FRAME_LEDGER_BLOCK:
        return on_block(st, ev->payload, ev->payload_len, out);
    case KQ_FRAME_LEDGER_SNAPSHOT_REQ:
        return on_snapshot_req(st, ev->peer, ev->payload, ev->payload_len, out);
    case KQ_FRAME_LEDGER_SNAPSHOT:
        return on_snapshot(st, ev->peer, ev->payload, ev->payload_len, out);
    case KQ_FRAME_LEDGER_CHUNK_REQ:
        return on_chunk_req(st, ev->peer, ev->payload, ev->payload_len, out);
    case KQ_FRAME_LEDGER_CHUNK:
        return on_chunk(st, ev->peer, ev->payload, ev->payload_len, out);
    case KQ_FRAME_LEDGER_TX: {
        const uint8_t *tx;
        size_t len;
        kq_hash id;
        size_t at;
        KQ_GUARD(kq_tx_msg_decode(&tx, &len, ev->payload, ev->payload_len));
        enum kq_err err = pool_add(st, tx, len, &id, &at);
        /* a full pool or a tx the app refuses (expired, already committed) is dropped */
        return err == KQ_ERR_NOMEM ? err : KQ_OK;
    }
    default:
        return KQ_ERR_TYPE;
    }
}

/* Sends what the durable write `token` covers; own votes and proposals count when they leave. */
static enum kq_err on_write_done(struct rp_state *st, uint64_t token, struct kq_actions *out)
{
    for (size_t i = 0; i < OUTBOX; i++) {
        struct rp_out *o = &st->outbox[i];
        if (!o->used || o->token == 0 || o->token > token)
            continue;
        KQ_GUARD(kq_actions_send(out, KQ_PEER_ALL, o->type, o->payload, o->len));
        enum kq_err err = KQ_OK;
        if (o->type == KQ_FRAME_LEDGER_VOTE) {
            struct kq_vote v;
            put_ok(kq_vote_decode(&v, o->payload, o->len));
            st->has_sent[v.type - 1] = true;
            st->sent[v.type - 1] = v;
            if (v.height == st->height)
                store_vote(st, &v, st->self_index);
        } else {
            struct kq_proposal pr;
            put_ok(kq_proposal_decode(&pr, o->payload, o->len));
            err = on_proposal(st, st->self, o->payload, o->len);
            free(st->sent_proposal);
            st->sent_proposal = o->payload;
            st->sent_proposal_len = o->len;
            st->sent_proposal_h = pr.height;
            st->sent_proposal_r = pr.round;
            o->payload = NULL;
        }
        free(o->payload);
        memset(o, 0, sizeof *o);
        KQ_GUARD(err);
    }
    return KQ_OK;
}

/* ---- restore and start ---- */

/* A state record: key_len u16 | key | value, loaded into the state being rebuilt. An app
 * without persistence ignores them (it replays). */
static enum kq_err restore_state_record(struct rp_state *st, const struct kq_event *ev)
{
    if (!persists_state(st))
        return KQ_OK;
    struct kq_buf b;
    uint16_t key_len = 0;
    const uint8_t *key = NULL;
    kq_buf_reader(&b, ev->payload, ev->payload_len);
    KQ_GUARD(kq_buf_get_u16(&b, &key_len));
    KQ_ENSURE(key_len >= 1, KQ_ERR_STORE);
    KQ_GUARD(kq_buf_get_ptr(&b, &key, key_len));
    size_t value_len = kq_buf_remaining(&b);
    const uint8_t *value = NULL;
    KQ_GUARD(kq_buf_get_ptr(&b, &value, value_len));
    return st->cfg.app->load(st->cfg.app->ctx, &st->restored_state, key, key_len, value, value_len);
}

static enum kq_err restore_change(struct rp_state *st, const struct kq_event *ev);

static enum kq_err on_restore(struct rp_state *st, const struct kq_event *ev)
{
    KQ_ENSURE(ev->record_key != NULL && (ev->payload != NULL || ev->payload_len == 0),
              KQ_ERR_INVALID_ARG);
    if (strcmp(ev->record_key, KQ_REPLICA_SAFETY_RECORD) == 0) {
        KQ_GUARD(safety_decode(&st->safety, ev->payload, ev->payload_len));
        st->restored_safety = true;
        return KQ_OK;
    }
    if (strcmp(ev->record_key, KQ_REPLICA_LOCK_RECORD) == 0) {
        KQ_ENSURE(st->restored_lock == NULL, KQ_ERR_STORE);
        KQ_ENSURE(ev->payload_len <= 17 + KQ_CERT_MAX_BYTES + KQ_BLOCK_MAX_BYTES, KQ_ERR_STORE);
        st->restored_lock = malloc(ev->payload_len + 1);
        KQ_ENSURE(st->restored_lock != NULL, KQ_ERR_NOMEM);
        memcpy(st->restored_lock, ev->payload, ev->payload_len);
        st->restored_lock_len = ev->payload_len;
        return KQ_OK;
    }
    if (strncmp(ev->record_key, KQ_REPLICA_STATE_PREFIX, strlen(KQ_REPLICA_STATE_PREFIX)) == 0)
        return restore_state_record(st, ev);
    if (strcmp(ev->record_key, KQ_REPLICA_SYNC_BASE) == 0)
        return sync_base_decode(st, ev->payload, ev->payload_len);
    if (strncmp(ev->record_key, KQ_REPLICA_VALSET_PREFIX, strlen(KQ_REPLICA_VALSET_PREFIX)) == 0)
        return restore_change(st, ev);
    if (strcmp(ev->record_key, KQ_REPLICA_STATE_HEIGHT) == 0) {
        KQ_ENSURE(ev->payload_len == 8, KQ_ERR_STORE);
        struct kq_buf b;
        kq_buf_reader(&b, ev->payload, ev->payload_len);
        KQ_GUARD(kq_buf_get_u64(&b, &st->state_height));
        st->has_state_height = persists_state(st);
        return KQ_OK;
    }
    size_t plen = strlen(KQ_REPLICA_BLOCK_PREFIX);
    KQ_ENSURE(strncmp(ev->record_key, KQ_REPLICA_BLOCK_PREFIX, plen) == 0, KQ_ERR_STORE);
    const char *digits = ev->record_key + plen;
    KQ_ENSURE(strlen(digits) == 20, KQ_ERR_STORE);
    uint64_t h = 0;
    for (size_t i = 0; i < 20; i++) {
        KQ_ENSURE(digits[i] >= '0' && digits[i] <= '9', KQ_ERR_STORE);
        h = h * 10 + (uint64_t)(digits[i] - '0');
    }
    KQ_ENSURE(h >= 1 && h <= KQ_LEDGER_MAX_CHAIN_BLOCKS, KQ_ERR_LIMIT);
    while (st->chain_cap < h) {
        size_t len = st->chain_len;
        st->chain_len = st->chain_cap; /* chain_reserve grows from the capacity */
        enum kq_err err = chain_reserve(st);
        st->chain_len = len;
        KQ_GUARD(err);
    }
    struct rp_block *e = &st->chain[h - 1];
    KQ_ENSURE(e->rec == NULL, KQ_ERR_STORE);
    e->rec = malloc(ev->payload_len + 1);
    KQ_ENSURE(e->rec != NULL, KQ_ERR_NOMEM);
    memcpy(e->rec, ev->payload, ev->payload_len);
    e->rec_len = ev->payload_len;
    if (h > st->chain_len)
        st->chain_len = h; /* provisional: replay checks there is no gap */
    return KQ_OK;
}

/* Re-executes the restored blocks in order, checking each as a synced block is checked. */
static enum kq_err replay(struct rp_state *st)
{
    size_t n = st->chain_len;
    for (size_t i = 0; i < n; i++)
        KQ_ENSURE(st->chain[i].rec != NULL, KQ_ERR_STORE);
    struct kq_block *b = calloc(1, sizeof *b);
    struct kq_cert *cert = calloc(1, sizeof *cert);
    enum kq_err err = KQ_ERR_NOMEM, *res = NULL;
    void *post = NULL;
    if (b == NULL || cert == NULL)
        goto out;
    err = KQ_OK;
    for (size_t i = 0; i < n && err == KQ_OK; i++) {
        const uint8_t *raw;
        size_t raw_len;
        bool valid;
        kq_hash hash;
        uint8_t *rec = st->chain[i].rec;
        size_t rec_len = st->chain[i].rec_len;
        /* rec stays owned by chain[i]: chain_append keeps it, fini frees it on failure */
        st->chain_len = i;
        reset_height(st);
        KQ_TRY(kq_block_resp_decode(&raw, &raw_len, cert, rec, rec_len));
        KQ_TRY(kq_block_decode(b, raw, raw_len));
        kq_header_hash(&b->header, &hash);
        KQ_TRY(kq_cert_verify(cert, &st->cfg.chain_id, i + 1, &hash, &st->vs, &st->cfg.crypto));
        KQ_TRY(check_block(st, b, &valid, &post, &res));
        KQ_CHECK(valid, KQ_ERR_STORE);
        KQ_TRY(chain_append(st, rec, rec_len, b, &hash, post));
        post = NULL;
        free(res);
        res = NULL;
    }
out:
    if (post != NULL)
        st->cfg.app->release(st->cfg.app->ctx, post);
    free(res);
    free(b);
    free(cert);
    return err;
}

/* The restored blocks without executing them (the state comes from its records): each decodes,
 * is the block of its height, chains to its parent and names known validators in its last
 * commit. Their certificates were verified before they were stored. */
/* After a state sync: the blocks below its tip are dropped (older records stay in the store,
 * unused) and the window is placed; *parent is the hash the tip's header must name. */
/* The tip's block bytes inside its record (its header leads them). */
static const uint8_t *tip_raw(const struct rp_state *st)
{
    const struct rp_block *e = tip(st);
    KQ_ASSERT(e != NULL && e->rec != NULL && e->rec_len >= 5 + KQ_HEADER_BYTES);
    return e->rec + 5; /* version u8 | block_len u32 | block */
}

static void place_sync_base(struct rp_state *st, kq_hash *parent)
{
    uint64_t n = st->chain_base - st->meta_base;
    for (uint64_t k = 1; k <= st->chain_base; k++) {
        free(st->chain[k - 1].rec);
        free(st->chain[k - 1].signers);
        memset(&st->chain[k - 1], 0, sizeof st->chain[k - 1]);
    }
    for (uint64_t i = 0; i < n; i++) { /* the chain owns the signer lists from here */
        st->chain[st->meta_base + i] = st->base_meta[i];
        memset(&st->base_meta[i], 0, sizeof st->base_meta[i]);
    }
    if (n > 0)
        *parent = st->chain[st->chain_base - 1].hash;
}

/* A restored block into chain[i] without executing it: its hash, time and signers. */
static enum kq_err chain_load(struct rp_state *st, size_t i, const struct kq_block *b,
                              const kq_hash *hash)
{
    struct rp_block *e = &st->chain[i];
    uint32_t n = b->has_last_commit ? b->last_commit.count : 0;
    e->signers = malloc((n > 0 ? n : 1) * sizeof *e->signers);
    KQ_ENSURE(e->signers != NULL, KQ_ERR_NOMEM);
    for (uint32_t k = 0; k < n; k++)
        e->signers[k] = b->last_commit.sigs[k].validator;
    e->n_signers = n;
    e->hash = *hash;
    e->time_ms = b->header.time_ms;
    st->chain_len = i + 1;
    return KQ_OK;
}

static enum kq_err load_blocks(struct rp_state *st)
{
    size_t n = st->chain_len, base = (size_t)st->chain_base;
    kq_hash parent = {{0}};
    KQ_ENSURE(n > base || !st->has_sync_base, KQ_ERR_STORE);
    place_sync_base(st, &parent);
    for (size_t i = base; i < n; i++)
        KQ_ENSURE(st->chain[i].rec != NULL, KQ_ERR_STORE);
    struct kq_block *b = calloc(1, sizeof *b);
    struct kq_cert *cert = calloc(1, sizeof *cert);
    enum kq_err err = b != NULL && cert != NULL ? KQ_OK : KQ_ERR_NOMEM;
    st->chain_len = base;
    for (size_t i = base; i < n && err == KQ_OK; i++) {
        const uint8_t *raw;
        size_t raw_len;
        kq_hash hash;
        KQ_TRY(kq_block_resp_decode(&raw, &raw_len, cert, st->chain[i].rec, st->chain[i].rec_len));
        KQ_TRY(kq_block_decode(b, raw, raw_len));
        kq_header_hash(&b->header, &hash);
        KQ_CHECK(b->header.height == i + 1 && kq_hash_eq(&b->header.parent, &parent) &&
                     cert->height == i + 1 && kq_hash_eq(&cert->block, &hash),
                 KQ_ERR_STORE);
        KQ_TRY(chain_load(st, i, b, &hash));
        parent = hash;
    }
out:
    free(b);
    free(cert);
    return err;
}

/* ---- validator-set changes in the store (for a restart without replay) ---- */

/* "ledger/valset/<20-digit height>": n u16 | n x (id u32 | pk [32]), the set block `height`
 * named for the heights after it, written in the step that commits it. */
#define VALSET_REC_BYTES (2 + (size_t)MAXV * (4 + KQ_LEDGER_PK_BYTES))

static enum kq_err persist_change(struct kq_actions *out, const struct rp_vchange *c)
{
    char key[KQ_CORE_MAX_RECORD_KEY];
    uint8_t *mem = malloc(VALSET_REC_BYTES);
    KQ_ENSURE(mem != NULL, KQ_ERR_NOMEM);
    struct kq_buf w;
    kq_buf_writer(&w, mem, VALSET_REC_BYTES);
    put_ok(kq_buf_put_u16(&w, (uint16_t)c->n));
    for (uint32_t i = 0; i < c->n; i++) {
        put_ok(kq_buf_put_u32(&w, c->v[i].id));
        put_ok(kq_buf_put(&w, c->v[i].pk, KQ_LEDGER_PK_BYTES));
    }
    snprintf(key, sizeof key, "%s%020" PRIu64, KQ_REPLICA_VALSET_PREFIX, c->height);
    enum kq_err err = kq_actions_persist(out, key, mem, kq_buf_len(&w), false, 0);
    free(mem);
    return err;
}

static enum kq_err restore_change(struct rp_state *st, const struct kq_event *ev)
{
    const char *digits = ev->record_key + strlen(KQ_REPLICA_VALSET_PREFIX);
    uint64_t h = 0;
    uint16_t n = 0;
    KQ_ENSURE(strlen(digits) == 20, KQ_ERR_STORE);
    for (size_t i = 0; i < 20; i++) {
        KQ_ENSURE(digits[i] >= '0' && digits[i] <= '9', KQ_ERR_STORE);
        h = h * 10 + (uint64_t)(digits[i] - '0');
    }
    struct kq_buf b;
    kq_buf_reader(&b, ev->payload, ev->payload_len);
    KQ_GUARD(kq_buf_get_u16(&b, &n));
    KQ_ENSURE(n >= 1 && n <= MAXV, KQ_ERR_STORE);
    struct kq_validator *v = calloc(n, sizeof *v);
    struct kq_valset *vs = malloc(sizeof *vs);
    enum kq_err err = v != NULL && vs != NULL ? KQ_OK : KQ_ERR_NOMEM;
    for (uint32_t i = 0; i < n && err == KQ_OK; i++) {
        err = kq_buf_get_u32(&b, &v[i].id);
        if (err == KQ_OK)
            err = kq_buf_get(&b, v[i].pk, KQ_LEDGER_PK_BYTES);
    }
    if (err == KQ_OK)
        err = kq_buf_expect_end(&b);
    if (err == KQ_OK)
        err = kq_valset_init(vs, v, n);
    if (err == KQ_OK)
        err = record_change(st, h, vs);
    free(v);
    free(vs);
    return err == KQ_OK || err == KQ_ERR_NOMEM ? err : KQ_ERR_STORE;
}

static void drop_changes(struct rp_state *st)
{
    for (size_t i = 0; i < st->n_changes; i++)
        free(st->changes[i].v);
    st->n_changes = 0;
}

/* After a restart without replay: the set in force at the tip (the last change below it, else
 * the configured one) and the set its state names for the next height, each checked against the
 * tip's header (a missing change record is a store error). */
static enum kq_err adopt_valsets(struct rp_state *st, const struct kq_valset *configured)
{
    struct kq_valset *prev = malloc(sizeof *prev), *next = malloc(sizeof *next);
    enum kq_err err = prev != NULL && next != NULL ? KQ_OK : KQ_ERR_NOMEM;
    kq_hash ph, nh;
    if (err == KQ_OK) {
        *prev = *configured;
        for (size_t i = 0; i < st->n_changes && err == KQ_OK; i++)
            if (st->changes[i].height < st->chain_len)
                err = kq_valset_init(prev, st->changes[i].v, st->changes[i].n);
    }
    if (err == KQ_OK)
        err = next_valset(st, st->app_state, next);
    if (err == KQ_OK && st->chain_len > 0) {
        struct kq_header hd;
        err = kq_header_decode(&hd, tip_raw(st), KQ_HEADER_BYTES);
        kq_valset_hash(prev, &ph);
        kq_valset_hash(next, &nh);
        if (err == KQ_OK &&
            (!kq_hash_eq(&ph, &hd.valset_hash) || !kq_hash_eq(&nh, &hd.next_valset_hash)))
            err = KQ_ERR_STORE;
    }
    if (err == KQ_OK) {
        st->prev_vs = *prev;
        st->vs = *next;
        kq_valset_hash(&st->vs, &st->valset_hash);
        st->self_index = st->cfg.crypto.sign != NULL ? kq_valset_index(&st->vs, st->self) : -1;
    }
    free(prev);
    free(next);
    return err;
}

/* The state rebuilt from its records replaces the genesis state, if it is the state after the
 * last restored block: its height record names that block and its root is that block's
 * state_root (never run on a state its certified header does not match). */
static enum kq_err adopt_restored_state(struct rp_state *st, const kq_hash *genesis_root)
{
    kq_hash want = *genesis_root, got;
    KQ_ENSURE(st->state_height == st->chain_len && st->restored_state != NULL, KQ_ERR_STORE);
    if (st->chain_len > 0) {
        struct kq_header hd;
        const uint8_t *raw;
        size_t raw_len;
        struct kq_cert *cert = calloc(1, sizeof *cert);
        KQ_ENSURE(cert != NULL, KQ_ERR_NOMEM);
        enum kq_err err =
            kq_block_resp_decode(&raw, &raw_len, cert, tip(st)->rec, tip(st)->rec_len);
        free(cert);
        KQ_GUARD(err);
        KQ_ENSURE(raw_len >= KQ_HEADER_BYTES, KQ_ERR_STORE);
        KQ_GUARD(kq_header_decode(&hd, raw, KQ_HEADER_BYTES));
        want = hd.state_root;
    }
    st->cfg.app->root(st->cfg.app->ctx, st->restored_state, &got);
    KQ_ENSURE(kq_hash_eq(&got, &want), KQ_ERR_STORE);
    st->cfg.app->release(st->cfg.app->ctx, st->app_state);
    st->app_state = st->restored_state;
    st->restored_state = NULL;
    st->state_stored = true;
    return KQ_OK;
}

/* The whole state and the set changes, in the START step after a replay (if they fit a step). */
static enum kq_err store_all(struct rp_state *st, struct kq_actions *out)
{
    if (!persists_state(st) || !diff_fits(st, NULL, st->app_state) || st->n_changes > MAXV)
        return KQ_OK; /* not stored: the next start replays again */
    KQ_GUARD(store_state(st, out, NULL, st->app_state, st->chain_len));
    for (size_t i = 0; i < st->n_changes; i++)
        KQ_GUARD(persist_change(out, &st->changes[i]));
    st->state_stored = true;
    return KQ_OK;
}

/* The state at the restored tip: from its records when the store has them, else by replaying
 * every block (a store from before they existed, or an app without persistence), after which
 * the state is written whole if it fits one step. */
static enum kq_err recover_state(struct rp_state *st, struct kq_actions *out)
{
    kq_hash root;
    KQ_GUARD(st->cfg.app->genesis(st->cfg.app->ctx, &st->app_state, &root));
    if (st->has_state_height) {
        struct kq_valset *configured = malloc(sizeof *configured);
        KQ_ENSURE(configured != NULL, KQ_ERR_NOMEM);
        *configured = st->vs; /* no block applied yet: the configured set */
        enum kq_err err = load_blocks(st);
        if (err == KQ_OK)
            err = adopt_restored_state(st, &root);
        if (err == KQ_OK)
            err = adopt_valsets(st, configured);
        free(configured);
        return err;
    }
    KQ_ENSURE(!st->has_sync_base, KQ_ERR_STORE); /* no blocks to replay below a state sync */
    drop_changes(st);                            /* the replay records them again */
    KQ_GUARD(replay(st));
    return store_all(st, out);
}

static enum kq_err on_start(struct rp_state *st, struct kq_actions *out)
{
    KQ_GUARD(recover_state(st, out));
    reset_height(st);
    st->started = true;
    KQ_GUARD(kq_actions_status(out, KQ_STATUS_READY, st->self, st->chain_len));
    if (!st->restored_safety || st->safety.height != st->height) {
        KQ_ENSURE(!st->restored_safety || st->safety.height < st->height, KQ_ERR_STORE);
        st->safety.height = st->height;
        st->safety.round = 0;
        st->safety.proposed_round = KQ_ROUND_NONE;
        st->safety.locked_round = KQ_ROUND_NONE;
        return arm(st, out, KQ_REPLICA_TIMER_COMMIT, st->cfg.commit_ms);
    }
    /* resume the recorded round: its votes are resent, never signed anew */
    st->locked_round = st->safety.locked_round;
    st->locked_hash = st->safety.locked_hash;
    if (st->locked_round != KQ_ROUND_NONE && st->restored_lock != NULL)
        KQ_GUARD(restore_lock(st));
    KQ_GUARD(start_round(st, out, st->safety.round));
    st->step = st->safety.step > STEP_PROPOSE ? st->safety.step : STEP_PROPOSE;
    const struct kq_vote *votes[2] = {st->safety.has_prevote ? &st->safety.prevote : NULL,
                                      st->safety.has_precommit ? &st->safety.precommit : NULL};
    for (size_t i = 0; i < 2; i++) {
        const struct kq_vote *v = votes[i];
        if (v == NULL || v->height != st->height || v->round != st->round)
            continue;
        uint8_t mem[KQ_VOTE_BYTES];
        struct kq_buf w;
        kq_buf_writer(&w, mem, sizeof mem);
        put_ok(kq_vote_encode(v, &w));
        KQ_GUARD(kq_actions_send(out, KQ_PEER_ALL, KQ_FRAME_LEDGER_VOTE, mem, sizeof mem));
        store_vote(st, v, st->self_index);
        st->has_sent[i] = true;
        st->sent[i] = *v;
    }
    return KQ_OK;
}

/* ---- the core ---- */

static enum kq_err rp_init(void *state, uint32_t self, const uint32_t *peers, size_t n_peers,
                           const void *config)
{
    struct rp_state *st = state;
    const struct kq_replica_config *cfg = config;
    KQ_ASSERT(st != NULL);
    KQ_ENSURE(cfg != NULL && cfg->app != NULL && cfg->valset != NULL, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(cfg->crypto.verify != NULL && cfg->valset->n >= 1, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(cfg->propose_ms > 0 && cfg->prevote_ms > 0 && cfg->precommit_ms > 0 &&
                  cfg->sync_retry_ms > 0,
              KQ_ERR_INVALID_ARG);
    KQ_ENSURE(n_peers <= RP_MAX_PEERS && (peers != NULL || n_peers == 0), KQ_ERR_LIMIT);
    KQ_ENSURE(self != 0 && self != KQ_PEER_ALL, KQ_ERR_INVALID_ARG);
    for (size_t i = 0; i < n_peers; i++)
        KQ_ENSURE(peers[i] != self && peers[i] != 0 && peers[i] != KQ_PEER_ALL, KQ_ERR_INVALID_ARG);
    int32_t idx = kq_valset_index(cfg->valset, self);
    KQ_ENSURE(idx < 0 || cfg->crypto.sign != NULL, KQ_ERR_INVALID_ARG);
    struct rp_tx *pool = calloc(KQ_LEDGER_MEMPOOL_MAX_TXS, sizeof *pool);
    struct rp_waiter *waiters = calloc(KQ_LEDGER_MAX_WAITING_REQUESTS, sizeof *waiters);
    if (pool == NULL || waiters == NULL) {
        free(pool);
        free(waiters);
        return KQ_ERR_NOMEM;
    }
    memset(st, 0, sizeof *st);
    st->magic = RP_MAGIC;
    st->self = self;
    st->n_peers = n_peers;
    if (n_peers > 0)
        memcpy(st->peers, peers, n_peers * sizeof *peers);
    st->cfg = *cfg;
    st->vs = *cfg->valset;
    st->cfg.valset = &st->vs;
    st->prev_vs = st->vs;
    kq_valset_hash(&st->vs, &st->valset_hash);
    st->self_index = idx;
    st->pool = pool;
    st->waiters = waiters;
    st->locked_round = st->valid_round = KQ_ROUND_NONE;
    st->safety.locked_round = st->safety.proposed_round = KQ_ROUND_NONE;
    return KQ_OK;
}

static enum kq_err rp_step(void *state, const struct kq_event *ev, struct kq_actions *out)
{
    struct rp_state *st = state_of(state);
    KQ_ASSERT(ev != NULL && out != NULL);
    st->wall_ms = ev->wall_ms;
    enum kq_err err = KQ_OK;
    switch (ev->kind) {
    case KQ_EV_RESTORE:
        KQ_ENSURE(!st->started, KQ_ERR_STATE);
        return on_restore(st, ev);
    case KQ_EV_START:
        KQ_ENSURE(!st->started, KQ_ERR_STATE);
        err = on_start(st, out);
        free(st->restored_lock);
        st->restored_lock = NULL;
        break;
    case KQ_EV_PEER_UP:
    case KQ_EV_PEER_DOWN:
        return KQ_OK;
    case KQ_EV_PEERS: { /* the set to sync from and accept frames from (besides state members) */
        uint32_t ids[RP_MAX_PEERS];
        size_t n = 0;
        KQ_GUARD(
            kq_peers_event_decode(ev->payload, ev->payload_len, st->self, ids, RP_MAX_PEERS, &n));
        memcpy(st->peers, ids, n * sizeof ids[0]);
        st->n_peers = n;
        return KQ_OK;
    }
    default:
        KQ_ENSURE(st->started, KQ_ERR_STATE);
        if (ev->kind == KQ_EV_TIMER)
            err = on_timer(st, ev->timer, out);
        else if (ev->kind == KQ_EV_FRAME)
            err = on_frame(st, ev, out);
        else if (ev->kind == KQ_EV_WRITE_DONE)
            err = on_write_done(st, ev->write_token, out);
        else if (ev->kind == KQ_EV_REQUEST)
            err = on_request(st, ev, out);
        else
            err = KQ_ERR_STATE;
        break;
    }
    if (err == KQ_OK && st->idle && st->step == STEP_NEW_HEIGHT &&
        (st->pool_n > 0 || st->heard_height)) {
        st->idle = false; /* a tx or a peer's round for this height: start it now */
        err = start_round(st, out, 0);
    }
    if (err == KQ_OK)
        err = progress(st, out);
    if (err == KQ_OK || st->safety_dirty) /* whatever was signed is recorded before it leaves */
        KQ_GUARD(flush_safety(st, out));
    return err;
}

static void rp_fini(void *state)
{
    struct rp_state *st = state;
    if (st == NULL || st->magic != RP_MAGIC)
        return;
    for (size_t i = 0; i < NROUNDS; i++)
        slot_clear(st, &st->rounds[i]);
    for (size_t i = 0; i < st->chain_cap; i++) {
        free(st->chain[i].rec);
        free(st->chain[i].signers);
    }
    for (size_t i = 0; i < st->n_changes; i++)
        free(st->changes[i].v);
    free(st->changes);
    free(st->chain);
    for (size_t i = 0; i < st->pool_n; i++)
        free(st->pool[i].data);
    free(st->pool);
    free(st->waiters);
    free(st->sent_proposal);
    free(st->restored_lock);
    for (size_t i = 0; i < OUTBOX; i++)
        free(st->outbox[i].payload);
    if (st->app_state != NULL)
        st->cfg.app->release(st->cfg.app->ctx, st->app_state);
    if (st->restored_state != NULL)
        st->cfg.app->release(st->cfg.app->ctx, st->restored_state);
    snap_clear(st);
    meta_clear(st->base_meta, KQ_LEDGER_SYNC_WINDOW);
    for (size_t i = 0; i < KQ_LEDGER_SYNC_MAX_SNAPSHOTS; i++)
        if (st->serving[i].state != NULL)
            st->cfg.app->release(st->cfg.app->ctx, st->serving[i].state);
    memset(st, 0, sizeof *st);
}

const struct kq_core_ops kq_replica_ops = {
    .name = "ledger",
    .state_size = sizeof(struct rp_state),
    .init = rp_init,
    .step = rp_step,
    .fini = rp_fini,
};

/* ---- queries ---- */

uint64_t kq_replica_height(const void *state)
{
    return cstate_of(state)->chain_len;
}

uint32_t kq_replica_round(const void *state)
{
    return cstate_of(state)->round;
}

enum kq_err kq_replica_block_hash(const void *state, uint64_t height, kq_hash *out)
{
    const struct rp_state *st = cstate_of(state);
    KQ_ENSURE(height > st->meta_base && height <= st->chain_len, KQ_ERR_NOT_FOUND);
    *out = st->chain[height - 1].hash;
    return KQ_OK;
}

enum kq_err kq_replica_block_record(const void *state, uint64_t height, const uint8_t **rec,
                                    size_t *len)
{
    const struct rp_state *st = cstate_of(state);
    KQ_ENSURE(height > st->chain_base && height <= st->chain_len, KQ_ERR_NOT_FOUND);
    *rec = st->chain[height - 1].rec;
    *len = st->chain[height - 1].rec_len;
    return KQ_OK;
}

uint64_t kq_replica_first_block(const void *state)
{
    const struct rp_state *st = cstate_of(state);
    return st->chain_len == 0 ? 0 : st->chain_base + 1;
}

uint64_t kq_replica_syncing(const void *state)
{
    return cstate_of(state)->snap.height;
}

const void *kq_replica_app_state(const void *state)
{
    return cstate_of(state)->app_state;
}

size_t kq_replica_mempool_count(const void *state)
{
    return cstate_of(state)->pool_n;
}

size_t kq_replica_valset_changes(const void *state)
{
    return cstate_of(state)->n_changes;
}

enum kq_err kq_replica_valset_change(const void *state, size_t i, uint64_t *height,
                                     struct kq_valset *vs)
{
    const struct rp_state *st = cstate_of(state);
    KQ_ENSURE(i < st->n_changes, KQ_ERR_NOT_FOUND);
    *height = st->changes[i].height;
    return kq_valset_init(vs, st->changes[i].v, st->changes[i].n);
}

const struct kq_valset *kq_replica_valset(const void *state)
{
    return &cstate_of(state)->vs;
}
