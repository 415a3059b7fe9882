/* The ledger state in the store (src/ledger/replica.c with the real app): a single validator
 * commits blocks, each step's records go to an in-test store; a restart rebuilds the state from
 * the state records without verifying or executing any block, a damaged state record, a missing
 * one or a stale state height is refused (KQ_ERR_STORE), a store without state records replays
 * and then writes them, and a block whose state changes exceed the per-block bound is not made. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "base/limits.h"
#include "ledger/app.h"
#include "ledger/smt.h"
#include "ledger/tx_client.h"
#include "wire/ledger_msg.h"

#define MAX_RECS   1024
#define MAX_PEND   64
#define MAX_FRAMES 256
#define N_TIMERS   9

struct rec {
    char key[KQ_CORE_MAX_RECORD_KEY];
    uint8_t *val;
    size_t len;
};

struct frame {
    uint32_t from, to;
    uint16_t type;
    uint8_t *data;
    size_t len;
};

struct node {
    uint32_t id;
    void *core;
    struct rec recs[MAX_RECS];
    size_t n_recs;
    uint64_t timer_at[N_TIMERS];
    uint64_t pend[MAX_PEND]; /* WRITE_DONE tokens to deliver */
    size_t n_pend;
};

struct fx {
    struct kq_genesis *g;
    struct kq_ledger_state_app *ctx;
    struct kq_ledger_app app, bloat;
    kq_hash chain;
    uint8_t admin_sk[64], admin_pk[32], node_sk[64];
    struct kq_valset vs;
    struct kq_replica_config cfg;
    struct node nd[3]; /* [1] the validator, [2] a follower */
    struct node *cur;  /* the node stepping */
    struct kq_actions *acts;
    uint64_t now;
    uint64_t nonce;
    struct frame frames[MAX_FRAMES];
    size_t n_frames;
    bool linked;          /* frames between the nodes are delivered (else dropped) */
    uint16_t tamper_type; /* the next frame of this type is damaged (tamper()) */
    bool tampered;        /* it was, and then: */
    enum kq_err tamper_err;
    uint64_t syncing_after, height_after;
    size_t block_reqs_after; /* block requests the follower sent from then on */
    size_t busy_replies;     /* KQ_ERR_BUSY answers by the follower */
};

static size_t verifies;

static bool counting_verify(void *ctx, const uint8_t pk[KQ_LEDGER_PK_BYTES], const uint8_t *msg,
                            size_t len, const uint8_t sig[KQ_LEDGER_SIG_BYTES])
{
    verifies++;
    return kq_ledger_ed25519_verify(ctx, pk, msg, len, sig);
}

static void keypair(uint8_t pk[32], uint8_t sk[64], uint8_t tag)
{
    uint8_t seed[32];
    memset(seed, tag, sizeof seed);
    assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
}

/* The bloated app: a block with txs also sets more keys than one commit step may write. */

static enum kq_err bloat_apply(void *ctx, const void *pre, uint64_t height, uint64_t time_ms,
                               const struct kq_tx_view *txs, size_t n, void **post, kq_hash *root,
                               enum kq_err *results)
{
    struct fx *f = ctx;
    KQ_GUARD(f->app.apply_block(f->app.ctx, pre, height, time_ms, txs, n, post, root, results));
    for (size_t i = 0; n > 0 && i <= KQ_LEDGER_MAX_BLOCK_DIFF_KEYS; i++) {
        char key[32];
        snprintf(key, sizeof key, "bloat/%zu", i);
        assert_int_equal(f->app.load(f->app.ctx, post, (const uint8_t *)key, strlen(key),
                                     (const uint8_t *)"", 0),
                         KQ_OK);
    }
    f->app.root(f->app.ctx, *post, root);
    return KQ_OK;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->g = calloc(1, sizeof *f->g);
    f->ctx = calloc(1, sizeof *f->ctx);
    f->acts = malloc(sizeof *f->acts);
    strcpy(f->g->chain_name, "state-test");
    f->g->time_ms = 5000;
    f->g->n_nodes = 1;
    struct kq_member_node *n = &f->g->nodes[0];
    uint8_t x[32];
    n->node_id = 1;
    n->roles = KQ_ROLE_VALIDATOR | KQ_ROLE_KEEPER;
    keypair(n->identity_pk, f->node_sk, 10);
    memcpy(n->tls_pk, n->identity_pk, 32);
    memset(x, 1, sizeof x);
    crypto_scalarmult_base(n->x25519_pk, x);
    strcpy(n->api_addr, "127.0.0.1:8000");
    strcpy(n->peer_addr, "127.0.0.1:9000");
    keypair(f->admin_pk, f->admin_sk, 99);
    f->g->n_admins = 1;
    memcpy(f->g->admins[0], f->admin_pk, 32);
    assert_int_equal(kq_genesis_chain_id(f->g, &f->chain), KQ_OK);
    kq_ledger_state_app_init(&f->app, f->ctx, f->g);
    f->bloat = f->app;
    f->bloat.ctx = f;
    f->bloat.apply_block = bloat_apply;
    /* the other functions take the smt state and ignore ctx; genesis and check_tx get wrappers */
    assert_int_equal(kq_ledger_genesis_valset(f->g, &f->vs), KQ_OK);
    f->nd[1].id = 1;
    f->nd[2].id = 2;
    f->cur = &f->nd[1];
    f->cfg = (struct kq_replica_config){
        .chain_id = f->chain,
        .genesis_time_ms = 5000,
        .valset = &f->vs,
        .crypto = {kq_ledger_ed25519_sign, f->node_sk, counting_verify, NULL},
        .app = &f->app,
        .propose_ms = 100,
        .prevote_ms = 100,
        .precommit_ms = 100,
        .delta_ms = 10,
        .commit_ms = 10,
        .sync_retry_ms = 100};
    *state = f;
    return 0;
}

static void core_free(struct fx *f)
{
    if (f->cur->core != NULL) {
        kq_replica_ops.fini(f->cur->core);
        free(f->cur->core);
        f->cur->core = NULL;
    }
}

static int teardown(void **state)
{
    struct fx *f = *state;
    for (int k = 1; k <= 2; k++) {
        f->cur = &f->nd[k];
        core_free(f);
        for (size_t i = 0; i < f->cur->n_recs; i++)
            free(f->cur->recs[i].val);
    }
    for (size_t i = 0; i < f->n_frames; i++)
        free(f->frames[i].data);
    free(f->acts);
    free(f->ctx);
    free(f->g);
    free(f);
    return 0;
}

static struct rec *rec_find(struct fx *f, const char *key)
{
    for (size_t i = 0; i < f->cur->n_recs; i++)
        if (strcmp(f->cur->recs[i].key, key) == 0)
            return &f->cur->recs[i];
    return NULL;
}

static void rec_drop(struct fx *f, struct rec *r)
{
    free(r->val);
    *r = f->cur->recs[--f->cur->n_recs];
}

static int rec_cmp(const void *a, const void *b)
{
    return strcmp(((const struct rec *)a)->key, ((const struct rec *)b)->key);
}

/* Applies a step's actions: every write durable at once, synced ones answered. */
static void apply_actions(struct fx *f)
{
    for (size_t i = 0; i < f->acts->count; i++) {
        const struct kq_action *a = &f->acts->items[i];
        struct rec *r = a->kind == KQ_ACT_PERSIST || a->kind == KQ_ACT_ERASE
                            ? rec_find(f, a->record_key)
                            : NULL;
        if (a->kind == KQ_ACT_ERASE && r != NULL)
            rec_drop(f, r);
        if (a->kind == KQ_ACT_PERSIST) {
            if (r == NULL) {
                assert_true(f->cur->n_recs < MAX_RECS);
                r = &f->cur->recs[f->cur->n_recs++];
                strcpy(r->key, a->record_key);
            } else {
                free(r->val);
            }
            r->val = malloc(a->payload_len + 1);
            memcpy(r->val, kq_action_payload(f->acts, a), a->payload_len);
            r->len = a->payload_len;
            if (a->sync) {
                assert_true(f->cur->n_pend < MAX_PEND);
                f->cur->pend[f->cur->n_pend++] = a->write_token;
            }
        }
        if (a->kind == KQ_ACT_TIMER) {
            assert_true(a->timer < N_TIMERS);
            f->cur->timer_at[a->timer] = f->now + a->after_ms;
        }
        if (a->kind == KQ_ACT_REPLY && f->cur->id == 2 && a->reply_status == KQ_ERR_BUSY)
            f->busy_replies++;
        if (a->kind == KQ_ACT_SEND && f->linked) {
            assert_true(f->n_frames < MAX_FRAMES);
            struct frame *fr = &f->frames[f->n_frames++];
            fr->from = f->cur->id;
            fr->to = a->peer == KQ_PEER_ALL ? 3 - f->cur->id : a->peer;
            fr->type = a->frame_type;
            fr->len = a->payload_len;
            fr->data = malloc(a->payload_len + 1);
            memcpy(fr->data, kq_action_payload(f->acts, a), a->payload_len);
        }
    }
}

static enum kq_err step(struct fx *f, struct kq_event *ev)
{
    ev->now_ms = ev->wall_ms = f->now;
    kq_actions_reset(f->acts);
    enum kq_err err = kq_replica_ops.step(f->cur->core, ev, f->acts);
    if (err == KQ_OK)
        apply_actions(f);
    return err;
}

/* A fresh core restored from the records (in key order) and started: START's result. */
static enum kq_err boot(struct fx *f, const struct kq_ledger_app *app)
{
    core_free(f);
    memset(f->cur->timer_at, 0, sizeof f->cur->timer_at);
    f->cur->n_pend = 0;
    f->cfg.crypto.sign = f->cur->id == 1 ? kq_ledger_ed25519_sign : NULL; /* 2: a follower */
    f->cfg.app = app;
    f->cur->core = calloc(1, kq_replica_ops.state_size);
    uint32_t peer = 3 - f->cur->id;
    assert_int_equal(kq_replica_ops.init(f->cur->core, f->cur->id, &peer, 1, &f->cfg), KQ_OK);
    qsort(f->cur->recs, f->cur->n_recs, sizeof f->cur->recs[0], rec_cmp);
    for (size_t i = 0; i < f->cur->n_recs; i++) {
        struct kq_event ev = {.kind = KQ_EV_RESTORE,
                              .record_key = f->cur->recs[i].key,
                              .payload = f->cur->recs[i].val,
                              .payload_len = f->cur->recs[i].len};
        enum kq_err err = step(f, &ev);
        if (err != KQ_OK)
            return err;
    }
    struct kq_event ev = {.kind = KQ_EV_START};
    return step(f, &ev);
}

static void submit_kind(struct fx *f, uint32_t kind)
{
    struct kq_client c = {
        .auth_kind = KQ_CLIENT_AUTH_CERT, .roles = KQ_CLIENT_ROLE_USER, .trust = 70};
    snprintf(c.id, sizeof c.id, "client-%" PRIu64, f->nonce);
    memset(c.auth, 0x42, sizeof c.auth);
    uint8_t body[KQ_CLIENT_MAX_BYTES], tx[4096];
    size_t body_len, len;
    assert_int_equal(kq_client_encode(&c, body, sizeof body, &body_len), KQ_OK);
    struct kq_tx_fields tf = {.family = KQ_TX_FAMILY_CLIENT,
                              .op = KQ_CLIENT_OP_SET,
                              .chain_id = f->chain,
                              .expiry_height = 1000,
                              .nonce = ++f->nonce,
                              .body = body,
                              .body_len = body_len};
    assert_int_equal(kq_tx_sign(&tf, f->admin_sk, tx, sizeof tx, &len), KQ_OK);
    struct kq_event ev = {.kind = KQ_EV_REQUEST,
                          .request_id = f->nonce,
                          .request_kind = kind,
                          .payload = tx,
                          .payload_len = len};
    assert_int_equal(step(f, &ev), KQ_OK);
}

static void submit(struct fx *f)
{
    submit_kind(f, KQ_LEDGER_REQ_SUBMIT_ASYNC);
}

/* Runs until `height` blocks are committed: write completions first, then the next timer. */
static void run_to(struct fx *f, uint64_t height)
{
    for (int guard = 0; kq_replica_height(f->cur->core) < height; guard++) {
        assert_true(guard < 10000);
        struct kq_event ev = {0};
        if (f->cur->n_pend > 0) {
            ev.kind = KQ_EV_WRITE_DONE;
            ev.write_token = f->cur->pend[0];
            memmove(f->cur->pend, f->cur->pend + 1, --f->cur->n_pend * sizeof f->cur->pend[0]);
        } else {
            uint32_t t = 0;
            for (uint32_t i = 1; i < N_TIMERS; i++)
                if (f->cur->timer_at[i] != 0 &&
                    (t == 0 || f->cur->timer_at[i] < f->cur->timer_at[t]))
                    t = i;
            assert_true(t != 0);
            f->now = f->cur->timer_at[t];
            f->cur->timer_at[t] = 0;
            ev.kind = KQ_EV_TIMER;
            ev.timer = t;
        }
        assert_int_equal(step(f, &ev), KQ_OK);
    }
}

static size_t count_prefix(const struct fx *f, const char *prefix)
{
    size_t n = 0;
    for (size_t i = 0; i < f->cur->n_recs; i++)
        n += strncmp(f->cur->recs[i].key, prefix, strlen(prefix)) == 0;
    return n;
}

/* Runs a chain to height 6 with txs in blocks 2..4; *root is the state root after it. */
static void make_chain(struct fx *f, kq_hash *root)
{
    assert_int_equal(boot(f, &f->app), KQ_OK);
    run_to(f, 1);
    for (int i = 0; i < 3; i++) {
        submit(f);
        submit(f);
        run_to(f, kq_replica_height(f->cur->core) + 1);
    }
    run_to(f, 6);
    kq_smt_root(kq_replica_app_state(f->cur->core), root);
    const struct kq_smt *s = kq_replica_app_state(f->cur->core);
    assert_true(kq_smt_count(s) > 6); /* genesis keys, six clients, their tx records */
    assert_int_equal(count_prefix(f, KQ_REPLICA_STATE_PREFIX), kq_smt_count(s));
}

static void test_restart_without_replay(void **state)
{
    struct fx *f = *state;
    kq_hash root, again;
    make_chain(f, &root);
    verifies = 0;
    assert_int_equal(boot(f, &f->app), KQ_OK);
    assert_int_equal(verifies, 0); /* no certificate verified again, no block executed */
    assert_int_equal(kq_replica_height(f->cur->core), 6);
    kq_smt_root(kq_replica_app_state(f->cur->core), &again);
    assert_memory_equal(root.b, again.b, 32);
    run_to(f, 8); /* and it goes on committing, its records following */
    assert_int_equal(count_prefix(f, KQ_REPLICA_STATE_PREFIX),
                     kq_smt_count(kq_replica_app_state(f->cur->core)));
}

static void test_damaged_state_refused(void **state)
{
    struct fx *f = *state;
    kq_hash root;
    make_chain(f, &root);
    /* boot sorts the records: sort first so r stays where it is */
    qsort(f->cur->recs, f->cur->n_recs, sizeof f->cur->recs[0], rec_cmp);
    struct rec *r = NULL;
    for (size_t i = 0; i < f->cur->n_recs && r == NULL; i++)
        if (strncmp(f->cur->recs[i].key, KQ_REPLICA_STATE_PREFIX, 13) == 0)
            r = &f->cur->recs[i];
    assert_non_null(r);
    r->val[r->len - 1] ^= 1; /* a value changed: the root no longer matches the header */
    assert_int_equal(boot(f, &f->app), KQ_ERR_STORE);
    r->val[r->len - 1] ^= 1;
    assert_int_equal(boot(f, &f->app), KQ_OK);
    struct rec saved = *r; /* a record lost */
    *r = f->cur->recs[--f->cur->n_recs];
    assert_int_equal(boot(f, &f->app), KQ_ERR_STORE);
    f->cur->recs[f->cur->n_recs++] = saved;
    qsort(f->cur->recs, f->cur->n_recs, sizeof f->cur->recs[0], rec_cmp);
    /* a validator-set change record the chain's headers do not show */
    struct rec *v = &f->cur->recs[f->cur->n_recs++];
    snprintf(v->key, sizeof v->key, "%s%020d", KQ_REPLICA_VALSET_PREFIX, 3);
    v->len = 2 + 4 + 32;
    v->val = calloc(1, v->len);
    v->val[1] = 1; /* one validator */
    v->val[5] = 1; /* id 1, another key */
    v->val[6] = 0x77;
    char vkey[KQ_CORE_MAX_RECORD_KEY];
    strcpy(vkey, v->key);
    assert_int_equal(boot(f, &f->app), KQ_ERR_STORE);
    rec_drop(f, rec_find(f, vkey));
    assert_int_equal(boot(f, &f->app), KQ_OK);
    struct rec *h = rec_find(f, KQ_REPLICA_STATE_HEIGHT); /* a state of another height */
    assert_non_null(h);
    h->val[7] ^= 1;
    assert_int_equal(boot(f, &f->app), KQ_ERR_STORE);
    h->val[7] ^= 1;
    assert_int_equal(boot(f, &f->app), KQ_OK);
}

static void test_replay_without_state_records(void **state)
{
    struct fx *f = *state;
    kq_hash root, again;
    make_chain(f, &root);
    for (size_t i = 0; i < f->cur->n_recs;)
        if (strncmp(f->cur->recs[i].key, KQ_REPLICA_STATE_PREFIX, 13) == 0 ||
            strcmp(f->cur->recs[i].key, KQ_REPLICA_STATE_HEIGHT) == 0)
            rec_drop(f, &f->cur->recs[i]);
        else
            i++;
    verifies = 0;
    assert_int_equal(boot(f, &f->app), KQ_OK); /* a store from before: replayed */
    assert_true(verifies >= 6);
    kq_smt_root(kq_replica_app_state(f->cur->core), &again);
    assert_memory_equal(root.b, again.b, 32);
    /* the state was written whole at that start: the next one replays nothing */
    assert_int_equal(count_prefix(f, KQ_REPLICA_STATE_PREFIX),
                     kq_smt_count(kq_replica_app_state(f->cur->core)));
    verifies = 0;
    assert_int_equal(boot(f, &f->app), KQ_OK);
    assert_int_equal(verifies, 0);
    kq_smt_root(kq_replica_app_state(f->cur->core), &again);
    assert_memory_equal(root.b, again.b, 32);
}

static enum kq_err bloat_genesis(void *ctx, void **state, kq_hash *root)
{
    struct fx *f = ctx;
    return f->app.genesis(f->app.ctx, state, root);
}

static enum kq_err bloat_check(void *ctx, const void *state, uint64_t height, const uint8_t *tx,
                               size_t len, uint64_t *expiry)
{
    struct fx *f = ctx;
    return f->app.check_tx(f->app.ctx, state, height, tx, len, expiry);
}

static void test_diff_bound(void **state)
{
    struct fx *f = *state;
    f->bloat.genesis = bloat_genesis;
    f->bloat.check_tx = bloat_check;
    /* the bloated app's blocks with txs change more keys than a step may write: its proposer
     * leaves the tx out (halving to the empty block), so the chain goes on without it */
    assert_int_equal(boot(f, &f->bloat), KQ_OK);
    run_to(f, 1);
    submit(f);
    run_to(f, 4);
    assert_int_equal(kq_replica_mempool_count(f->cur->core), 1);
    const uint8_t *v;
    size_t vl;
    assert_int_equal(
        kq_smt_get(kq_replica_app_state(f->cur->core), (const uint8_t *)"bloat/0", 7, &v, &vl),
        KQ_ERR_NOT_FOUND);
    assert_int_equal(count_prefix(f, KQ_REPLICA_STATE_PREFIX),
                     kq_smt_count(kq_replica_app_state(f->cur->core)));
}

/* ---- two nodes: the validator and a follower that state-syncs ---- */

/* Damages a frame: in a snapshot head the last byte of the tip's record (a certificate
 * signature), in a chunk the first byte of its first key (another key: another root). */
static void tamper(struct frame *fr)
{
    size_t at;
    if (fr->type == KQ_FRAME_LEDGER_SNAPSHOT) {
        uint32_t rec_len = (uint32_t)fr->data[9] << 24 | (uint32_t)fr->data[10] << 16 |
                           (uint32_t)fr->data[11] << 8 | fr->data[12];
        at = 13 + rec_len - 1;
    } else {
        at = 1 + 8 + 32 + 1 + 32 + 4 + 2;
    }
    assert_true(at < fr->len);
    fr->data[at] ^= 0x55;
}

static struct node *next_timer(struct fx *f, uint32_t *timer)
{
    struct node *best = NULL;
    for (int k = 1; k <= 2; k++)
        for (uint32_t i = 1; i < N_TIMERS; i++)
            if (f->nd[k].core != NULL && f->nd[k].timer_at[i] != 0 &&
                (best == NULL || f->nd[k].timer_at[i] < best->timer_at[*timer])) {
                best = &f->nd[k];
                *timer = i;
            }
    return best;
}

static void deliver_frame(struct fx *f)
{
    struct frame fr = f->frames[0];
    memmove(f->frames, f->frames + 1, --f->n_frames * sizeof f->frames[0]);
    bool damaged = !f->tampered && fr.type == f->tamper_type && f->tamper_type != 0;
    if (damaged)
        tamper(&fr);
    f->cur = &f->nd[fr.to];
    struct kq_event ev = {.kind = KQ_EV_FRAME,
                          .peer = fr.from,
                          .frame_type = fr.type,
                          .payload = fr.data,
                          .payload_len = fr.len};
    enum kq_err err = step(f, &ev);
    if (damaged) {
        f->tampered = true;
        f->tamper_err = err;
        f->syncing_after = kq_replica_syncing(f->nd[2].core);
        f->height_after = kq_replica_height(f->nd[2].core);
    } else {
        assert_int_equal(err, KQ_OK);
    }
    free(fr.data);
}

/* Runs both nodes until the follower has caught up with the validator at `height` or more:
 * write completions first, then frames in order, then the earliest timer. */
static void run_both(struct fx *f, uint64_t height)
{
    for (int guard = 0;; guard++) {
        uint64_t ha = kq_replica_height(f->nd[1].core), hb = kq_replica_height(f->nd[2].core);
        if (hb >= height && ha == hb)
            return;
        assert_true(guard < 200000);
        struct node *n = f->nd[1].n_pend > 0 ? &f->nd[1] : f->nd[2].n_pend > 0 ? &f->nd[2] : NULL;
        struct kq_event ev = {0};
        if (n != NULL) {
            ev.kind = KQ_EV_WRITE_DONE;
            ev.write_token = n->pend[0];
            memmove(n->pend, n->pend + 1, --n->n_pend * sizeof n->pend[0]);
        } else if (f->n_frames > 0) {
            size_t before = f->n_frames;
            deliver_frame(f);
            for (size_t i = 0; f->tampered && i < f->n_frames; i++)
                f->block_reqs_after += i >= before - 1 && f->frames[i].from == 2 &&
                                       f->frames[i].type == KQ_FRAME_LEDGER_BLOCK_REQ;
            continue;
        } else {
            uint32_t t = 0;
            n = next_timer(f, &t);
            assert_non_null(n);
            f->now = n->timer_at[t] > f->now ? n->timer_at[t] : f->now;
            n->timer_at[t] = 0;
            ev.kind = KQ_EV_TIMER;
            ev.timer = t;
        }
        f->cur = n;
        assert_int_equal(step(f, &ev), KQ_OK);
    }
}

/* The validator commits 80 blocks (txs in a few) while the follower hears nothing; then they are
 * linked and the follower, 80 behind, fetches a snapshot. */
static void sync_scenario(struct fx *f)
{
    f->cur = &f->nd[2];
    assert_int_equal(boot(f, &f->app), KQ_OK);
    submit_kind(f, KQ_LEDGER_REQ_SUBMIT); /* waits at the follower */
    f->cur = &f->nd[1];
    assert_int_equal(boot(f, &f->app), KQ_OK);
    run_to(f, 1);
    for (int i = 0; i < 4; i++) {
        submit(f);
        run_to(f, kq_replica_height(f->cur->core) + 1);
    }
    run_to(f, 80);
    f->linked = true;
    run_both(f, 85);
}

static void test_state_sync(void **state)
{
    struct fx *f = *state;
    sync_scenario(f);
    const void *a = f->nd[1].core, *b = f->nd[2].core;
    kq_hash ra, rb;
    kq_smt_root(kq_replica_app_state(a), &ra);
    kq_smt_root(kq_replica_app_state(b), &rb);
    assert_memory_equal(ra.b, rb.b, 32);
    uint64_t first = kq_replica_first_block(b);
    assert_true(first >= 80 && first <= 85); /* a snapshot, not 80 blocks */
    assert_int_equal(f->busy_replies, 1);    /* its tx may be in a skipped block: retry */
    const uint8_t *rec;
    size_t len;
    kq_hash h1, h2;
    assert_int_equal(kq_replica_block_record(b, 1, &rec, &len), KQ_ERR_NOT_FOUND);
    assert_int_equal(kq_replica_block_hash(b, 1, &h1), KQ_ERR_NOT_FOUND);
    assert_int_equal(kq_replica_block_hash(b, first - 1, &h1), KQ_OK); /* the window */
    assert_int_equal(kq_replica_block_hash(a, first - 1, &h2), KQ_OK);
    assert_memory_equal(h1.b, h2.b, 32);
    assert_int_equal(kq_replica_block_record(b, first, &rec, &len), KQ_OK);
    /* a block it does not hold is answered with nothing */
    uint8_t req[KQ_BLOCK_REQ_BYTES];
    struct kq_buf w;
    kq_buf_writer(&w, req, sizeof req);
    assert_int_equal(kq_block_req_encode(1, &w), KQ_OK);
    f->cur = &f->nd[2];
    struct kq_event ev = {.kind = KQ_EV_FRAME,
                          .peer = 1,
                          .frame_type = KQ_FRAME_LEDGER_BLOCK_REQ,
                          .payload = req,
                          .payload_len = sizeof req};
    assert_int_equal(step(f, &ev), KQ_OK);
    for (size_t i = 0; i < f->acts->count; i++)
        assert_int_not_equal(f->acts->items[i].kind, KQ_ACT_SEND);
    /* its restart: the state from its records, the window from the sync base */
    uint64_t hb = kq_replica_height(b);
    kq_smt_root(kq_replica_app_state(b), &rb);
    verifies = 0;
    assert_int_equal(boot(f, &f->app), KQ_OK);
    assert_int_equal(verifies, 0);
    b = f->nd[2].core;
    assert_int_equal(kq_replica_height(b), hb);
    assert_int_equal(kq_replica_first_block(b), first);
    kq_smt_root(kq_replica_app_state(b), &ra);
    assert_memory_equal(ra.b, rb.b, 32);
    assert_int_equal(kq_replica_block_hash(b, first - 1, &h1), KQ_OK);
    assert_memory_equal(h1.b, h2.b, 32);
    run_both(f, hb + 3); /* and it follows on */
}

/* A head whose certificate does not verify (a forged one, or a validator set that changed) or a
 * chunk that does not give the header's root is refused: nothing installed, block sync asked
 * for at once, and the follower still catches up (a later snapshot, untampered). */
static void refused(struct fx *f, uint16_t type)
{
    f->tamper_type = type;
    sync_scenario(f);
    assert_true(f->tampered);
    assert_int_equal(f->tamper_err, KQ_OK);
    assert_int_equal(f->syncing_after, 0);
    assert_true(f->height_after < 10);
    assert_true(f->block_reqs_after > 0);
    kq_hash ra, rb;
    kq_smt_root(kq_replica_app_state(f->nd[1].core), &ra);
    kq_smt_root(kq_replica_app_state(f->nd[2].core), &rb);
    assert_memory_equal(ra.b, rb.b, 32);
}

static void test_sync_bad_certificate(void **state)
{
    refused(*state, KQ_FRAME_LEDGER_SNAPSHOT);
}

static void test_sync_wrong_chunk(void **state)
{
    refused(*state, KQ_FRAME_LEDGER_CHUNK);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_restart_without_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_state_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_without_state_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_diff_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_bad_certificate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_wrong_chunk, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
