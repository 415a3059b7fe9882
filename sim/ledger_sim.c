/* Ledger scenarios and invariants (ledger_sim.h). The world keeps the global commit table (first
 * hash seen per height: every later commit must match it), the committed tx table (each tx
 * decoded, signature checked and seen at one height only), every honest vote and proposal sent
 * (never two different ones for one slot) and every request with its reply. The adversary acts
 * through the simulator's intercept hook with the Byzantine nodes' own signing keys. */
#include "ledger_sim.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/buf.h"
#include "base/roles.h"
#include "ledger/app.h"
#include "ledger/block.h"
#include "ledger/genesis.h"
#include "ledger/replica.h"
#include "ledger/smt.h"
#include "ledger/tx_client.h"
#include "ledger/tx_member.h"
#include "wire/ledger_msg.h"

#define PLAN_STREAM  0x706c616e2d6c6731ULL /* "plan-lg1": the schedule's PRNG stream */
#define LIVE_EXPIRY  100000u               /* blocks: a live tx cannot expire within a run */
#define SLICE_MS     50u                   /* submissions are drawn between simulation slices */
#define HISTORY      4096u                 /* messages kept for replays */
#define MAX_REQS     (KQ_LSIM_MAX_TXS * 4u)
#define MAX_TX_SLOTS (KQ_LSIM_MAX_TXS * 2u + 256u) /* client txs, damaged ones, adversary's */
#define PROP_SIG_AT  21u                           /* offset of the signature in a proposal */
#define GENESIS_MS   1700000000000ULL
#define NV           (KQ_LSIM_MAX_VALIDATORS + 2) /* ids 1..n plus the reconfig spare */

struct ltx {
    uint8_t *bytes;
    size_t len;
    kq_hash id;
    bool live;       /* a long expiry: must commit once the faults heal */
    bool bad;        /* damaged signature: must never commit */
    uint64_t height; /* committed at; 0: not (yet) */
};

struct lreq {
    uint32_t tx, node, kind;
    bool answered;
    enum kq_err status;
    uint8_t payload[KQ_LEDGER_REPLY_BYTES];
    size_t len;
};

struct vslot { /* one honest (validator, height, round, type) and what it signed */
    bool used, has;
    uint8_t type;
    uint32_t validator, round;
    uint64_t height;
    kq_hash block;
};

struct equiv { /* the conflicting proposal a node sends for (height, round) */
    uint32_t src, round;
    uint64_t height;
    uint8_t *bytes;
    size_t len;
    kq_hash hash;
};

struct submit { /* one planned request */
    uint64_t at_ms;
    uint32_t tx, node, kind;
};

struct world {
    const struct kq_lsim_params *p;
    struct kq_lsim_result *r;
    struct kq_sim *sim;
    struct kq_sim_rng rng;
    uint32_t n;
    bool byz[NV];
    uint32_t victim; /* the honest node forged commits are aimed at */
    uint8_t sk[NV][crypto_sign_SECRETKEYBYTES];
    uint8_t admin_sk[crypto_sign_SECRETKEYBYTES];
    struct kq_genesis *g;
    kq_hash chain_id;
    struct kq_valset *vs;
    struct kq_ledger_state_app app_ctx;
    struct kq_ledger_app app, broken_app;
    struct kq_replica_config cfg[NV];
    struct kq_core_ops ops;
    struct ltx txs[MAX_TX_SLOTS];
    uint32_t n_txs;
    struct lreq reqs[MAX_REQS];
    uint32_t n_reqs;
    kq_hash *commits; /* [h - 1] */
    uint64_t n_commits, cap_commits;
    struct vslot *votes;
    size_t cap_votes, n_votes;
    struct equiv eq[8];
    uint64_t forged_at;         /* last height whose proposal was forged for the victim */
    uint32_t spare;             /* reconfig: the node that joins (w->n), else 0 */
    uint32_t join_tx, leave_tx; /* their tx slots (UINT32_MAX: not made) */
    uint32_t leaver;            /* the honest validator that retires */
    uint64_t leave_at;          /* not before this time, and only after the join committed */
    uint8_t *buf;               /* replacement bytes handed back to the simulator */
    size_t buf_cap;
    uint64_t nonce;
};

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t draw(struct world *w, uint64_t lo, uint64_t hi)
{
    return kq_sim_rng_range(&w->rng, lo, hi);
}

static void failf(struct world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(struct world *w, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    kq_sim_failf(w->sim, "%s", msg);
}

/* ---- signatures: keyed BLAKE2b-512 stand-in (the key is the Ed25519 seed, known only to the
 * signer and to this verifier), or Ed25519 ---- */

static void fake_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[KQ_LEDGER_SIG_BYTES])
{
    int rc = crypto_generichash(sig, KQ_LEDGER_SIG_BYTES, msg, len, ctx, 32);
    KQ_ASSERT(rc == 0);
}

static bool fake_verify(void *ctx, const uint8_t pk[KQ_LEDGER_PK_BYTES], const uint8_t *msg,
                        size_t len, const uint8_t sig[KQ_LEDGER_SIG_BYTES])
{
    const struct world *w = ctx;
    for (uint32_t i = 1; i <= w->n; i++) { /* every node: the reconfig spare signs once it joins */
        if (memcmp(w->g->nodes[i - 1].identity_pk, pk, KQ_LEDGER_PK_BYTES) != 0)
            continue;
        uint8_t want[KQ_LEDGER_SIG_BYTES];
        fake_sign((void *)w->sk[i], msg, len, want);
        return crypto_verify_64(want, sig) == 0;
    }
    return false;
}

static bool trust_verify(void *ctx, const uint8_t pk[KQ_LEDGER_PK_BYTES], const uint8_t *msg,
                         size_t len, const uint8_t sig[KQ_LEDGER_SIG_BYTES])
{
    (void)ctx;
    (void)pk;
    (void)msg;
    (void)len;
    (void)sig;
    return true;
}

/* ---- the core: the replica, each node with its own configuration (signing key, app) ---- */

/* A node's state: this head, then the replica's state at HEAD_BYTES. */
struct head {
    const struct world *w;
    uint32_t self;
};
#define HEAD_BYTES 64
_Static_assert(sizeof(struct head) <= HEAD_BYTES, "the head fits before the replica's state");

static void *inner(void *state)
{
    return (uint8_t *)state + HEAD_BYTES;
}

/* The replica state of node i, NULL while it is down. */
static const void *core_of(const struct world *w, uint32_t i)
{
    const void *st = kq_sim_state(w->sim, i);
    return st == NULL ? NULL : (const uint8_t *)st + HEAD_BYTES;
}

static enum kq_err node_init(void *state, uint32_t self, const uint32_t *peers, size_t n_peers,
                             const void *config)
{
    const struct world *w = config;
    KQ_ENSURE(self >= 1 && self <= w->n, KQ_ERR_INVALID_ARG);
    *(struct head *)state = (struct head){w, self};
    return kq_replica_ops.init(inner(state), self, peers, n_peers, &w->cfg[self]);
}

/* The broken variant FORGET_SAFETY: node 1 ignores its safety record at restart. */
static enum kq_err node_step(void *state, const struct kq_event *ev, struct kq_actions *out)
{
    const struct head *h = state;
    if (h->w->p->brk == KQ_LSIM_BREAK_FORGET_SAFETY && h->self == 1 && ev->kind == KQ_EV_RESTORE &&
        strcmp(ev->record_key, KQ_REPLICA_SAFETY_RECORD) == 0)
        return KQ_OK;
    return kq_replica_ops.step(inner(state), ev, out);
}

static void node_fini(void *state)
{
    kq_replica_ops.fini(inner(state));
}

/* The broken application: node 1's state gains a key its reported root does not show. */
static enum kq_err broken_apply(void *ctx, const void *pre, uint64_t height, uint64_t time_ms,
                                const struct kq_tx_view *txs, size_t n, void **post, kq_hash *root,
                                enum kq_err *results)
{
    const struct world *w = ctx;
    KQ_GUARD(w->app.apply_block(w->app.ctx, pre, height, time_ms, txs, n, post, root, results));
    struct kq_smt *bent = NULL;
    static const char key[] = "sim/corrupt";
    enum kq_err err =
        kq_smt_set(*post, (const uint8_t *)key, sizeof key - 1, (const uint8_t *)"x", 1, &bent);
    w->app.release(w->app.ctx, *post);
    *post = bent;
    return err;
}

static enum kq_err broken_genesis(void *ctx, void **state, kq_hash *root)
{
    const struct world *w = ctx;
    return w->app.genesis(w->app.ctx, state, root);
}

static enum kq_err broken_check(void *ctx, const void *state, uint64_t height, const uint8_t *tx,
                                size_t len, uint64_t *expiry)
{
    const struct world *w = ctx;
    return w->app.check_tx(w->app.ctx, state, height, tx, len, expiry);
}

static void broken_release(void *ctx, void *state)
{
    const struct world *w = ctx;
    w->app.release(w->app.ctx, state);
}

/* ---- genesis and transactions ---- */

static void seed_keypair(struct world *w, uint8_t pk[32], uint8_t sk[64])
{
    uint8_t s[32];
    for (size_t i = 0; i < sizeof s; i += 8) {
        uint64_t x = kq_sim_rng_next(&w->rng);
        memcpy(s + i, &x, 8);
    }
    int rc = crypto_sign_seed_keypair(pk, sk, s);
    KQ_ASSERT(rc == 0);
}

static enum kq_err make_genesis(struct world *w)
{
    struct kq_genesis *g = w->g;
    snprintf(g->chain_name, sizeof g->chain_name, "sim-%" PRIu64, w->p->seed);
    g->time_ms = GENESIS_MS;
    g->n_nodes = w->n;
    for (uint32_t i = 1; i <= w->n; i++) {
        struct kq_member_node *nd = &g->nodes[i - 1];
        uint8_t x[32];
        nd->node_id = i;
        nd->roles = i == w->spare ? KQ_ROLE_KEEPER : KQ_ROLE_VALIDATOR | KQ_ROLE_KEEPER;
        seed_keypair(w, nd->identity_pk, w->sk[i]);
        memcpy(nd->tls_pk, nd->identity_pk, 32);
        memset(x, (int)i, sizeof x);
        KQ_ENSURE(crypto_scalarmult_base(nd->x25519_pk, x) == 0, KQ_ERR_CRYPTO);
        snprintf(nd->api_addr, sizeof nd->api_addr, "10.0.0.%u:8443", i);
        snprintf(nd->peer_addr, sizeof nd->peer_addr, "10.0.0.%u:9443", i);
    }
    g->n_admins = 1;
    seed_keypair(w, g->admins[0], w->admin_sk);
    KQ_GUARD(kq_genesis_chain_id(g, &w->chain_id));
    KQ_GUARD(kq_ledger_genesis_valset(g, w->vs));
    kq_ledger_state_app_init(&w->app, &w->app_ctx, g);
    w->broken_app = (struct kq_ledger_app){.ctx = w,
                                           .genesis = broken_genesis,
                                           .check_tx = broken_check,
                                           .apply_block = broken_apply,
                                           .release = broken_release}; /* not stored: replays */
    return KQ_OK;
}

static void node_config(struct world *w, uint32_t i)
{
    struct kq_replica_config *c = &w->cfg[i];
    const struct kq_lsim_params *p = w->p;
    c->chain_id = w->chain_id;
    c->genesis_time_ms = GENESIS_MS;
    c->valset = w->vs;
    if (p->real_crypto)
        c->crypto = (struct kq_ledger_crypto){kq_ledger_ed25519_sign, w->sk[i],
                                              kq_ledger_ed25519_verify, NULL};
    else
        c->crypto = (struct kq_ledger_crypto){fake_sign, w->sk[i], fake_verify, w};
    if (p->brk == KQ_LSIM_BREAK_TRUST_SIGS)
        c->crypto.verify = trust_verify;
    c->app = p->brk == KQ_LSIM_BREAK_STATE && i == 1 ? &w->broken_app : &w->app;
    c->propose_ms = 100;
    c->prevote_ms = 150;
    c->precommit_ms = 150;
    c->delta_ms = 50;
    c->commit_ms = 20;
    c->sync_retry_ms = 150;
    c->empty_block_ms = p->empty_block_ms;
}

static enum kq_err request(struct world *w, uint64_t at, uint32_t tx, uint32_t node, uint32_t kind);
static uint32_t random_honest(struct world *w);

/* Signs f with the admin key (its signature damaged if `bad`) into a new tx slot *idx. */
static enum kq_err add_tx(struct world *w, const struct kq_tx_fields *f, bool live, bool bad,
                          uint32_t *idx)
{
    size_t len;
    KQ_ENSURE(w->n_txs < MAX_TX_SLOTS, KQ_ERR_LIMIT);
    uint8_t *out = malloc(KQ_TX_BYTES(f->body_len));
    KQ_ENSURE(out != NULL, KQ_ERR_NOMEM);
    enum kq_err err = kq_tx_sign(f, w->admin_sk, out, KQ_TX_BYTES(f->body_len), &len);
    if (err != KQ_OK) {
        free(out);
        return err;
    }
    if (bad)
        out[len - 1] ^= 0x01;
    struct ltx *t = &w->txs[w->n_txs];
    *t = (struct ltx){.bytes = out, .len = len, .live = live, .bad = bad};
    kq_tx_id(out, len, &t->id);
    *idx = w->n_txs++;
    return KQ_OK;
}

/* A new client-identity tx signed by the admin; *idx its slot. */
static enum kq_err make_tx(struct world *w, uint64_t expiry, bool live, bool bad, uint32_t *idx)
{
    KQ_ENSURE(w->n_txs < MAX_TX_SLOTS, KQ_ERR_LIMIT);
    struct kq_client c = {.auth_kind = KQ_CLIENT_AUTH_CERT,
                          .roles = KQ_CLIENT_ROLE_USER,
                          .trust = (uint8_t)draw(w, 0, KQ_LEDGER_TRUST_MAX)};
    uint64_t nonce = ++w->nonce;
    snprintf(c.id, sizeof c.id, "client-%" PRIu64, nonce % 16);
    for (size_t i = 0; i < sizeof c.auth; i++)
        c.auth[i] = (uint8_t)kq_sim_rng_next(&w->rng);
    uint8_t body[KQ_CLIENT_MAX_BYTES];
    size_t body_len;
    KQ_GUARD(kq_client_encode(&c, body, sizeof body, &body_len));
    struct kq_tx_fields f = {.family = KQ_TX_FAMILY_CLIENT,
                             .op = KQ_CLIENT_OP_SET,
                             .chain_id = w->chain_id,
                             .expiry_height = expiry,
                             .nonce = nonce,
                             .body = body,
                             .body_len = body_len};
    return add_tx(w, &f, live, bad, idx);
}

/* A membership update giving node `id` (a genesis node) `roles`, signed by the admin, live. */
static enum kq_err make_member_tx(struct world *w, uint32_t id, uint8_t roles, uint32_t *idx)
{
    KQ_ENSURE(w->n_txs < MAX_TX_SLOTS && id >= 1 && id <= w->n, KQ_ERR_LIMIT);
    struct kq_member_node nd = w->g->nodes[id - 1];
    nd.roles = roles;
    uint8_t body[KQ_MEMBER_NODE_MAX_BYTES];
    size_t body_len;
    KQ_GUARD(kq_member_node_encode(&nd, body, sizeof body, &body_len));
    struct kq_tx_fields f = {.family = KQ_TX_FAMILY_MEMBER,
                             .op = KQ_MEMBER_OP_UPDATE,
                             .chain_id = w->chain_id,
                             .expiry_height = w->n_commits + LIVE_EXPIRY,
                             .nonce = ++w->nonce,
                             .body = body,
                             .body_len = body_len};
    return add_tx(w, &f, true, false, idx);
}

/* Reconfig: the join at its planned time; the leave once the join committed and its time came
 * (never before: retiring first could leave a set where the Byzantine nodes exceed f). */
static enum kq_err reconfig_step(struct world *w, uint64_t join_at)
{
    if (w->spare == 0)
        return KQ_OK;
    uint64_t now = kq_sim_now(w->sim);
    if (w->join_tx == UINT32_MAX && now >= join_at) {
        KQ_GUARD(make_member_tx(w, w->spare, KQ_ROLE_VALIDATOR | KQ_ROLE_KEEPER, &w->join_tx));
        KQ_GUARD(request(w, now + 1, w->join_tx, random_honest(w), KQ_LEDGER_REQ_SUBMIT));
    }
    if (w->leave_tx == UINT32_MAX && w->join_tx != UINT32_MAX && w->txs[w->join_tx].height != 0 &&
        now >= w->leave_at) {
        KQ_GUARD(make_member_tx(w, w->leaver, KQ_ROLE_KEEPER, &w->leave_tx));
        KQ_GUARD(request(w, now + 1, w->leave_tx, random_honest(w), KQ_LEDGER_REQ_SUBMIT));
    }
    return KQ_OK;
}

static struct ltx *tx_find(struct world *w, const kq_hash *id)
{
    for (uint32_t i = 0; i < w->n_txs; i++)
        if (kq_hash_eq(&w->txs[i].id, id))
            return &w->txs[i];
    return NULL;
}

/* ---- commits ---- */

/* Decodes committed block `height` of node (*b heap, owned by the caller). */
static enum kq_err read_block(const void *st, uint64_t height, struct kq_block *b,
                              struct kq_cert *cert)
{
    const uint8_t *rec, *raw;
    size_t len, raw_len;
    KQ_GUARD(kq_replica_block_record(st, height, &rec, &len));
    KQ_GUARD(kq_block_resp_decode(&raw, &raw_len, cert, rec, len));
    return kq_block_decode(b, raw, raw_len);
}

/* Validity of a newly committed block: every tx decodes, verifies, is one of the harness's and
 * appears at no other height. */
static void check_block_txs(struct world *w, uint32_t node, uint64_t h)
{
    struct kq_block *b = calloc(1, sizeof *b);
    struct kq_cert *c = calloc(1, sizeof *c);
    if (b == NULL || c == NULL || read_block(core_of(w, node), h, b, c) != KQ_OK) {
        failf(w, "n%" PRIu32 " cannot read back its block %" PRIu64, node, h);
        goto out;
    }
    for (uint32_t i = 0; i < b->n_txs; i++) {
        struct kq_tx tx;
        kq_hash id;
        kq_tx_id(b->txs[i].data, b->txs[i].len, &id);
        struct ltx *t = tx_find(w, &id);
        if (kq_tx_decode(&tx, b->txs[i].data, b->txs[i].len) != KQ_OK || kq_tx_verify(&tx) != KQ_OK)
            failf(w, "block %" PRIu64 " commits an invalid tx", h);
        else if (t == NULL)
            failf(w, "block %" PRIu64 " commits a tx nobody made", h);
        else if (t->height != 0)
            failf(w, "tx %u committed at heights %" PRIu64 " and %" PRIu64, (unsigned)(t - w->txs),
                  t->height, h);
        else
            t->height = h;
    }
out:
    free(b);
    free(c);
}

/* The node's application state has the root its tip's header commits to. */
static void check_root(struct world *w, uint32_t node)
{
    const void *st = core_of(w, node);
    uint64_t h = kq_replica_height(st);
    const uint8_t *rec, *raw;
    size_t len, raw_len;
    struct kq_header hd;
    kq_hash root;
    if (h == 0)
        return;
    struct kq_cert *c = calloc(1, sizeof *c);
    KQ_ASSERT(c != NULL);
    if (kq_replica_block_record(st, h, &rec, &len) != KQ_OK ||
        kq_block_resp_decode(&raw, &raw_len, c, rec, len) != KQ_OK ||
        kq_header_decode(&hd, raw, KQ_HEADER_BYTES) != KQ_OK)
        failf(w, "n%" PRIu32 " cannot read back its tip %" PRIu64, node, h);
    free(c);
    if (kq_sim_failed(w->sim))
        return;
    kq_smt_root(kq_replica_app_state(st), &root);
    if (!kq_hash_eq(&root, &hd.state_root))
        failf(w, "n%" PRIu32 " state root differs from its block's at height %" PRIu64, node, h);
}

static void note_commit(struct world *w, uint32_t node, uint64_t h, const uint8_t *hash, size_t n)
{
    kq_hash x, mine;
    const void *st = core_of(w, node);
    if (n != KQ_HASH_BYTES || h == 0 || h > w->n_commits + 1) {
        failf(w, "n%" PRIu32 " reports commit %" PRIu64 " out of order", node, h);
        return;
    }
    memcpy(x.b, hash, KQ_HASH_BYTES);
    if (kq_replica_height(st) != h || kq_replica_block_hash(st, h, &mine) != KQ_OK ||
        !kq_hash_eq(&mine, &x)) {
        failf(w, "n%" PRIu32 " reports commit %" PRIu64 " it does not hold", node, h);
        return;
    }
    if (h <= w->n_commits) {
        if (!kq_hash_eq(&w->commits[h - 1], &x))
            failf(w, "agreement: n%" PRIu32 " committed another block at height %" PRIu64, node, h);
        return;
    }
    if (w->n_commits == w->cap_commits) {
        size_t cap = w->cap_commits == 0 ? 256 : 2 * w->cap_commits;
        kq_hash *c = realloc(w->commits, cap * sizeof *c);
        KQ_ASSERT(c != NULL);
        w->commits = c;
        w->cap_commits = cap;
    }
    w->commits[w->n_commits++] = x;
    check_block_txs(w, node, h);
}

static void check_step(void *ctx, struct kq_sim *sim, const struct kq_sim_step *s)
{
    struct world *w = ctx;
    (void)sim;
    if (s->kind != KQ_SIM_STEP_CORE || s->result != KQ_OK)
        return;
    bool committed = false;
    for (size_t i = 0; i < s->out->count && !kq_sim_failed(w->sim); i++) {
        const struct kq_action *a = &s->out->items[i];
        if (a->kind != KQ_ACT_STATUS || a->status != KQ_STATUS_COMMITTED)
            continue;
        note_commit(w, s->node, a->value, kq_action_payload(s->out, a), a->payload_len);
        committed = true;
    }
    if (committed && !kq_sim_failed(w->sim))
        check_root(w, s->node);
}

static void on_reply(void *ctx, struct kq_sim *sim, uint32_t node, uint64_t request_id,
                     enum kq_err status, const uint8_t *payload, size_t len)
{
    struct world *w = ctx;
    (void)sim;
    if (request_id == 0 || request_id > w->n_reqs || w->reqs[request_id - 1].node != node) {
        failf(w, "a reply to request %" PRIu64 " nobody sent to n%" PRIu32, request_id, node);
        return;
    }
    struct lreq *q = &w->reqs[request_id - 1];
    if (q->answered || len > sizeof q->payload) {
        failf(w, "request %" PRIu64 " answered twice or oversized", request_id);
        return;
    }
    q->answered = true;
    q->status = status;
    q->len = len;
    if (len > 0)
        memcpy(q->payload, payload, len);
}

/* ---- honest votes and proposals: never two different ones for one slot ---- */

static size_t vslot_hash(uint32_t v, uint64_t h, uint32_t r, uint8_t t)
{
    return (size_t)mix64(h * 0x100000001b3ULL ^ ((uint64_t)r << 32) ^ ((uint64_t)v << 8) ^ t);
}

static struct vslot *vslot_find(struct world *w, uint32_t v, uint64_t h, uint32_t r, uint8_t t,
                                bool *fresh)
{
    if (2 * (w->n_votes + 1) > w->cap_votes) {
        size_t cap = w->cap_votes == 0 ? 1024 : 2 * w->cap_votes;
        struct vslot *nv = calloc(cap, sizeof *nv);
        KQ_ASSERT(nv != NULL);
        for (size_t i = 0; i < w->cap_votes; i++) {
            const struct vslot *o = &w->votes[i];
            if (!o->used)
                continue;
            size_t k = vslot_hash(o->validator, o->height, o->round, o->type) & (cap - 1);
            while (nv[k].used)
                k = (k + 1) & (cap - 1);
            nv[k] = *o;
        }
        free(w->votes);
        w->votes = nv;
        w->cap_votes = cap;
    }
    size_t k = vslot_hash(v, h, r, t) & (w->cap_votes - 1);
    for (;; k = (k + 1) & (w->cap_votes - 1)) {
        struct vslot *s = &w->votes[k];
        if (!s->used) {
            *s = (struct vslot){.used = true, .type = t, .validator = v, .round = r, .height = h};
            w->n_votes++;
            *fresh = true;
            return s;
        }
        if (s->validator == v && s->height == h && s->round == r && s->type == t)
            return s;
    }
}

/* Records slot (v, h, r, t) -> (has, block); a different one for the same slot fails. */
static void note_signed(struct world *w, uint32_t v, uint64_t h, uint32_t r, uint8_t t, bool has,
                        const kq_hash *block)
{
    bool fresh = false;
    struct vslot *s = vslot_find(w, v, h, r, t, &fresh);
    if (fresh) {
        s->has = has;
        s->block = *block;
    } else if (s->has != has || !kq_hash_eq(&s->block, block)) {
        failf(w,
              "honest n%" PRIu32 " signed two different %s for height %" PRIu64 " round %" PRIu32,
              v, t == 0 ? "proposals" : "votes", h, r);
    }
}

/* ---- the adversary ---- */

static uint8_t *scratch(struct world *w, size_t len)
{
    if (len > w->buf_cap) {
        uint8_t *b = realloc(w->buf, len);
        KQ_ASSERT(b != NULL);
        w->buf = b;
        w->buf_cap = len;
    }
    return w->buf;
}

/* Whether dst is among the peers that see the other version of slot (h, r). */
static bool other_side(const struct world *w, uint64_t h, uint32_t r, uint32_t dst)
{
    return ((mix64(w->p->seed ^ (h << 20) ^ r) >> (dst % 64)) & 1) != 0;
}

static void watch_honest(struct world *w, const struct kq_sim_msg *m)
{
    if (m->frame_type == KQ_FRAME_LEDGER_VOTE) {
        struct kq_vote v;
        if (kq_vote_decode(&v, m->payload, m->len) != KQ_OK || v.validator != m->src)
            failf(w, "honest n%" PRIu32 " sent a malformed vote", m->src);
        else
            note_signed(w, v.validator, v.height, v.round, v.type, v.has_block, &v.block);
    } else if (m->frame_type == KQ_FRAME_LEDGER_PROPOSAL) {
        struct kq_proposal pr;
        struct kq_header hd;
        kq_hash hash;
        if (kq_proposal_decode(&pr, m->payload, m->len) != KQ_OK ||
            kq_header_decode(&hd, pr.block, KQ_HEADER_BYTES) != KQ_OK) {
            failf(w, "honest n%" PRIu32 " sent a malformed proposal", m->src);
            return;
        }
        kq_header_hash(&hd, &hash);
        note_signed(w, pr.proposer, pr.height, pr.round, 0, true, &hash);
    }
}

/* A block for pr's slot other than pr's (its last tx dropped, or a fresh tx added), executed on
 * node base's committed state, which must be at pr's height - 1. *out is malloc'd. */
static enum kq_err conflict_block(struct world *w, uint32_t base, const struct kq_proposal *pr,
                                  uint8_t **out, size_t *out_len, kq_hash *hash)
{
    const void *st = core_of(w, base);
    KQ_ENSURE(st != NULL && kq_replica_height(st) + 1 == pr->height, KQ_ERR_STATE);
    struct kq_block *b = calloc(1, sizeof *b);
    enum kq_err *res = calloc(KQ_LEDGER_MAX_BLOCK_TXS, sizeof *res);
    size_t cap = pr->block_len + KQ_LEDGER_TX_MAX_BYTES;
    uint8_t *mem = malloc(cap);
    void *post = NULL;
    uint32_t idx;
    enum kq_err err = KQ_ERR_NOMEM;
    if (b == NULL || res == NULL || mem == NULL)
        goto out;
    KQ_TRY(kq_block_decode(b, pr->block, pr->block_len));
    if (b->n_txs > 0) {
        b->n_txs--;
    } else {
        KQ_TRY(make_tx(w, pr->height + LIVE_EXPIRY, false, false, &idx));
        b->txs[b->n_txs++] = (struct kq_tx_view){w->txs[idx].bytes, w->txs[idx].len};
    }
    b->header.tx_count = b->n_txs;
    KQ_TRY(kq_block_tx_root(b, &b->header.tx_root));
    KQ_TRY(w->app.apply_block(w->app.ctx, kq_replica_app_state(st), pr->height, b->header.time_ms,
                              b->txs, b->n_txs, &post, &b->header.state_root, res));
    struct kq_buf wb;
    kq_buf_writer(&wb, mem, cap);
    KQ_TRY(kq_block_encode(b, &wb));
    kq_header_hash(&b->header, hash);
    *out = mem;
    *out_len = kq_buf_len(&wb);
    mem = NULL;
out:
    if (post != NULL)
        w->app.release(w->app.ctx, post);
    free(mem);
    free(res);
    free(b);
    return err;
}

/* e = a conflicting proposal for pr's slot, signed by `signer` (0: a garbage signature). */
static enum kq_err conflict_proposal(struct world *w, uint32_t signer, uint32_t base,
                                     const struct kq_proposal *pr, struct equiv *e)
{
    uint8_t *blk = NULL;
    size_t blen = 0;
    kq_hash hash;
    KQ_GUARD(conflict_block(w, base, pr, &blk, &blen, &hash));
    struct kq_proposal np = *pr;
    np.block = blk;
    np.block_len = blen;
    if (signer != 0)
        kq_proposal_sign(&np, &w->chain_id, &hash, &w->cfg[signer].crypto);
    else
        for (size_t i = 0; i < sizeof np.sig; i++)
            np.sig[i] = (uint8_t)kq_sim_rng_next(kq_sim_adversary_rng(w->sim));
    size_t cap = KQ_PROPOSAL_OVERHEAD + blen + pr->pol_len;
    uint8_t *mem = malloc(cap);
    enum kq_err err = KQ_ERR_NOMEM;
    struct kq_buf wb;
    if (mem != NULL) {
        kq_buf_writer(&wb, mem, cap);
        err = kq_proposal_encode(&np, &wb);
    }
    if (err == KQ_OK)
        *e = (struct equiv){pr->proposer, pr->round, pr->height, mem, kq_buf_len(&wb), hash};
    else
        free(mem);
    free(blk);
    return err;
}

static const struct equiv *equiv_find(const struct world *w, uint64_t h, uint32_t r)
{
    for (size_t i = 0; i < sizeof w->eq / sizeof w->eq[0]; i++)
        if (w->eq[i].bytes != NULL && w->eq[i].height == h && w->eq[i].round == r)
            return &w->eq[i];
    return NULL;
}

/* Byzantine proposer: the conflicting version of its proposal to the other side. */
static enum kq_sim_verdict equivocate(struct world *w, struct kq_sim_msg *m)
{
    struct kq_proposal pr;
    if (kq_proposal_decode(&pr, m->payload, m->len) != KQ_OK || pr.pol_round != KQ_ROUND_NONE ||
        !other_side(w, pr.height, pr.round, m->dst))
        return KQ_SIM_PASS;
    const struct equiv *e = equiv_find(w, pr.height, pr.round);
    if (e == NULL) {
        struct equiv *slot = &w->eq[(pr.height * 8 + pr.round) % 8];
        free(slot->bytes);
        slot->bytes = NULL;
        if (conflict_proposal(w, m->src, m->src, &pr, slot) != KQ_OK)
            return KQ_SIM_PASS;
        e = slot;
        w->r->equivocations++;
    }
    m->payload = e->bytes;
    m->len = e->len;
    return KQ_SIM_REPLACE;
}

/* Byzantine voter: to the other side, a vote for the conflicting block (or nil, or a block
 * nobody has), validly signed. */
static enum kq_sim_verdict double_vote(struct world *w, struct kq_sim_msg *m)
{
    struct kq_vote v;
    struct kq_sim_rng *ar = kq_sim_adversary_rng(w->sim);
    if (kq_vote_decode(&v, m->payload, m->len) != KQ_OK ||
        !other_side(w, v.height, v.round + 1000u * v.type, m->dst))
        return KQ_SIM_PASS;
    const struct equiv *e = equiv_find(w, v.height, v.round);
    if (v.type == KQ_VOTE_PREVOTE && v.has_block && kq_sim_rng_chance(ar, KQ_SIM_PPM / 3)) {
        v.has_block = false;
        memset(v.block.b, 0, sizeof v.block.b);
    } else if (e != NULL && !(v.has_block && kq_hash_eq(&v.block, &e->hash))) {
        v.has_block = true;
        v.block = e->hash;
    } else {
        v.has_block = true;
        for (size_t i = 0; i < sizeof v.block.b; i++)
            v.block.b[i] = (uint8_t)kq_sim_rng_next(ar);
    }
    kq_vote_sign(&v, &w->chain_id, &w->cfg[m->src].crypto);
    struct kq_buf wb;
    kq_buf_writer(&wb, scratch(w, KQ_VOTE_BYTES), KQ_VOTE_BYTES);
    if (kq_vote_encode(&v, &wb) != KQ_OK)
        return KQ_SIM_PASS;
    w->r->double_votes++;
    m->payload = w->buf;
    m->len = kq_buf_len(&wb);
    return KQ_SIM_REPLACE;
}

/* A damaged signature on half of its votes and proposals. */
static enum kq_sim_verdict bad_sig(struct world *w, struct kq_sim_msg *m)
{
    struct kq_sim_rng *ar = kq_sim_adversary_rng(w->sim);
    bool vote = m->frame_type == KQ_FRAME_LEDGER_VOTE;
    if ((!vote && m->frame_type != KQ_FRAME_LEDGER_PROPOSAL) || m->len < PROP_SIG_AT + 64 ||
        !kq_sim_rng_chance(ar, KQ_SIM_PPM / 2))
        return KQ_SIM_PASS;
    uint8_t *b = scratch(w, m->len);
    memcpy(b, m->payload, m->len);
    size_t at = (vote ? m->len - 64 : PROP_SIG_AT) + (size_t)kq_sim_rng_range(ar, 0, 63);
    b[at] ^= (uint8_t)(1u << kq_sim_rng_range(ar, 0, 7));
    w->r->bad_sigs++;
    m->payload = b;
    return KQ_SIM_REPLACE;
}

/* Forged precommits of a quorum (garbage signatures, in the names of the first q validators)
 * for e's block, injected to the victim from a Byzantine node. */
static void forge_commit(struct world *w, uint32_t from, const struct equiv *e)
{
    struct kq_sim_rng *ar = kq_sim_adversary_rng(w->sim);
    uint8_t mem[KQ_VOTE_BYTES];
    for (uint32_t i = 0; i < kq_valset_quorum(w->vs); i++) {
        struct kq_vote v = {.type = KQ_VOTE_PRECOMMIT,
                            .height = e->height,
                            .round = e->round,
                            .has_block = true,
                            .block = e->hash,
                            .timestamp_ms = kq_sim_wall(w->sim, w->victim),
                            .validator = w->vs->v[i].id};
        for (size_t k = 0; k < sizeof v.sig; k++)
            v.sig[k] = (uint8_t)kq_sim_rng_next(ar);
        struct kq_buf wb;
        kq_buf_writer(&wb, mem, sizeof mem);
        if (kq_vote_encode(&v, &wb) == KQ_OK &&
            kq_sim_inject_at(w->sim, kq_sim_now(w->sim), from, w->victim, KQ_FRAME_LEDGER_VOTE, mem,
                             kq_buf_len(&wb)) == KQ_OK)
            w->r->forged++;
    }
}

/* An honest proposal to the victim is swapped (once per height) for a forged conflicting one,
 * followed by a forged commit for it: both carry invalid signatures. */
static enum kq_sim_verdict forge(struct world *w, struct kq_sim_msg *m)
{
    struct kq_proposal pr;
    uint32_t from = 0;
    for (uint32_t i = 1; i <= w->n && from == 0; i++)
        from = w->byz[i] ? i : 0;
    if (from == 0 || m->frame_type != KQ_FRAME_LEDGER_PROPOSAL || m->dst != w->victim ||
        kq_proposal_decode(&pr, m->payload, m->len) != KQ_OK || pr.pol_round != KQ_ROUND_NONE ||
        pr.height <= w->forged_at)
        return KQ_SIM_PASS;
    w->forged_at = pr.height; /* one try per height, on a quarter of them unless testing */
    if (w->p->brk != KQ_LSIM_BREAK_TRUST_SIGS &&
        !kq_sim_rng_chance(kq_sim_adversary_rng(w->sim), KQ_SIM_PPM / 4))
        return KQ_SIM_PASS;
    struct equiv e;
    if (conflict_proposal(w, 0, m->src, &pr, &e) != KQ_OK)
        return KQ_SIM_PASS;
    uint8_t *b = scratch(w, e.len);
    memcpy(b, e.bytes, e.len);
    m->payload = b;
    m->len = e.len;
    forge_commit(w, from, &e);
    free(e.bytes);
    w->r->forged++;
    return KQ_SIM_REPLACE;
}

static void maybe_replay(struct world *w)
{
    struct kq_sim_rng *ar = kq_sim_adversary_rng(w->sim);
    uint32_t ppm = w->p->adversary == KQ_LSIM_REPLAY ? 30000 : 10000;
    uint64_t count = kq_sim_history_count(w->sim);
    if (count == 0 || !kq_sim_rng_chance(ar, ppm))
        return;
    uint64_t seq = kq_sim_rng_range(ar, count > HISTORY ? count - HISTORY : 0, count - 1);
    uint64_t at = kq_sim_now(w->sim) + kq_sim_rng_range(ar, 0, 2000);
    if (kq_sim_replay_at(w->sim, at, seq, 0) == KQ_OK)
        w->r->replayed++;
}

static bool stalled(const struct kq_sim_msg *m)
{
    struct kq_proposal pr;
    return m->frame_type == KQ_FRAME_LEDGER_PROPOSAL &&
           kq_proposal_decode(&pr, m->payload, m->len) == KQ_OK && pr.height > 2;
}

/* With a trace: what a vote or proposal says, as the sender's core sent it. */
static void trace_msg(const struct world *w, const struct kq_sim_msg *m)
{
    struct kq_vote v;
    struct kq_proposal pr;
    struct kq_header hd;
    kq_hash hash;
    FILE *f = w->p->trace;
    if (m->frame_type == KQ_FRAME_LEDGER_VOTE && kq_vote_decode(&v, m->payload, m->len) == KQ_OK)
        fprintf(f,
                "                  n%" PRIu32 "->n%" PRIu32 " %s h%" PRIu64 " r%" PRIu32
                " %02x%02x%02x%02x\n",
                m->src, m->dst, v.type == KQ_VOTE_PREVOTE ? "prevote" : "precommit", v.height,
                v.round, v.block.b[0], v.block.b[1], v.block.b[2], v.block.b[3]);
    if (m->frame_type != KQ_FRAME_LEDGER_PROPOSAL ||
        kq_proposal_decode(&pr, m->payload, m->len) != KQ_OK ||
        kq_header_decode(&hd, pr.block, KQ_HEADER_BYTES) != KQ_OK)
        return;
    kq_header_hash(&hd, &hash);
    fprintf(f,
            "                  n%" PRIu32 "->n%" PRIu32 " proposal h%" PRIu64 " r%" PRIu32
            " pol %" PRId32 " %02x%02x%02x%02x (%" PRIu32 " txs)\n",
            m->src, m->dst, pr.height, pr.round, (int32_t)pr.pol_round, hash.b[0], hash.b[1],
            hash.b[2], hash.b[3], hd.tx_count);
}

static enum kq_sim_verdict intercept(void *ctx, struct kq_sim *sim, struct kq_sim_msg *m)
{
    struct world *w = ctx;
    enum kq_lsim_adversary a = w->p->adversary;
    if (!w->byz[m->src])
        watch_honest(w, m);
    if (w->p->trace != NULL)
        trace_msg(w, m);
    if (kq_sim_failed(sim))
        return KQ_SIM_PASS;
    if (w->p->brk == KQ_LSIM_BREAK_STALL && stalled(m))
        return KQ_SIM_DROP;
    if (a == KQ_LSIM_REPLAY || a == KQ_LSIM_MIXED)
        maybe_replay(w);
    if (!w->byz[m->src])
        return a == KQ_LSIM_BAD_SIG || a == KQ_LSIM_MIXED ? forge(w, m) : KQ_SIM_PASS;
    if (a == KQ_LSIM_MIXED)
        a = (enum kq_lsim_adversary)(KQ_LSIM_EQUIVOCATE +
                                     kq_sim_rng_range(kq_sim_adversary_rng(sim), 0, 3));
    switch (a) {
    case KQ_LSIM_EQUIVOCATE:
        return m->frame_type == KQ_FRAME_LEDGER_PROPOSAL ? equivocate(w, m) : KQ_SIM_PASS;
    case KQ_LSIM_DOUBLE_VOTE:
        return m->frame_type == KQ_FRAME_LEDGER_VOTE ? double_vote(w, m) : KQ_SIM_PASS;
    case KQ_LSIM_BAD_SIG:
        return bad_sig(w, m);
    case KQ_LSIM_WITHHOLD:
        return ((mix64(w->p->seed) >> m->dst) & 1) != 0 ||
                       kq_sim_rng_chance(kq_sim_adversary_rng(sim), KQ_SIM_PPM / 5)
                   ? KQ_SIM_DROP
                   : KQ_SIM_PASS;
    case KQ_LSIM_HONEST:
    case KQ_LSIM_REPLAY:
    case KQ_LSIM_MIXED:
        break;
    }
    return KQ_SIM_PASS;
}

/* ---- the schedule ---- */

/* The long-down fault: the last honest validator stays down most of the faulty phase, so it
 * comes back far behind and must state-sync (no draw: the other faults stay as the seed has
 * them). */
static enum kq_err plan_long_down(struct world *w)
{
    uint32_t x = (uint32_t)w->p->validators;
    while (x > 1 && w->byz[x])
        x--;
    if (!w->p->long_down || w->byz[x])
        return KQ_OK;
    return kq_sim_crash_at(w->sim, 150, x, w->p->fault_ms - 300);
}

static enum kq_err plan_faults(struct world *w)
{
    uint64_t end = w->p->fault_ms;
    uint32_t side[KQ_LSIM_MAX_VALIDATORS];
    for (uint64_t at = 150; w->p->brk == KQ_LSIM_BREAK_FORGET_SAFETY && at < end; at += 150)
        KQ_GUARD(kq_sim_crash_at(w->sim, at + draw(w, 0, 100), 1, draw(w, 1, 20)));
    KQ_GUARD(plan_long_down(w));
    if (!w->p->faults)
        return KQ_OK;
    for (uint64_t k = draw(w, 0, 3); k > 0; k--) { /* partitions of any proper subset */
        uint64_t at = draw(w, 200, end / 2), heal = at + draw(w, 50, end / 3);
        uint64_t mask = draw(w, 1, (1ULL << w->n) - 2);
        size_t ns = 0;
        for (uint32_t i = 1; i <= w->n; i++)
            if ((mask >> (i - 1)) & 1)
                side[ns++] = i;
        KQ_GUARD(kq_sim_partition_at(w->sim, at, heal, side, ns));
    }
    for (uint64_t k = draw(w, 0, 2); k > 0; k--) {
        uint64_t at = draw(w, 200, end / 2);
        uint32_t a = (uint32_t)draw(w, 1, w->n), b = (uint32_t)draw(w, 1, w->n - 1);
        KQ_GUARD(kq_sim_cut_at(w->sim, at, at + draw(w, 50, end / 3), a, b >= a ? b + 1 : b));
    }
    for (uint64_t k = draw(w, 0, 3); k > 0; k--) { /* crash-restarts, back before the end */
        uint64_t at = draw(w, 200, end / 2);
        KQ_GUARD(kq_sim_crash_at(w->sim, at, (uint32_t)draw(w, 1, w->n), draw(w, 1, end / 3)));
    }
    return KQ_OK;
}

/* Requests: each tx once at a random time to a random node (waiting or async); a third again,
 * with the same bytes, to others; two with a damaged signature. Sorted by time. */
static size_t plan_submits(struct world *w, struct submit *s, uint32_t *kinds)
{
    size_t n = 0;
    for (uint32_t i = 0; i < w->p->txs; i++) {
        kinds[i] = i < 2 && w->p->txs >= 4 ? 2u : (draw(w, 0, 3) == 0 ? 1u : 0u); /* bad, short */
        uint64_t at = draw(w, 100, w->p->fault_ms - 100);
        for (uint64_t k = draw(w, 0, 2) == 0 ? draw(w, 1, 2) : 0;; k--) {
            uint32_t kind = draw(w, 0, 9) < 7 ? KQ_LEDGER_REQ_SUBMIT : KQ_LEDGER_REQ_SUBMIT_ASYNC;
            s[n++] = (struct submit){at, i, (uint32_t)draw(w, 1, w->n), kind};
            at = at + draw(w, 20, 1500);
            if (k == 0 || at >= w->p->fault_ms)
                break;
        }
    }
    for (size_t i = 1; i < n; i++) /* insertion sort: stable, n small */
        for (size_t k = i; k > 0 && s[k].at_ms < s[k - 1].at_ms; k--) {
            struct submit t = s[k];
            s[k] = s[k - 1];
            s[k - 1] = t;
        }
    return n;
}

static enum kq_err request(struct world *w, uint64_t at, uint32_t tx, uint32_t node, uint32_t kind)
{
    KQ_ENSURE(w->n_reqs < MAX_REQS, KQ_ERR_LIMIT);
    uint64_t id = 0;
    w->reqs[w->n_reqs++] = (struct lreq){.tx = tx, .node = node, .kind = kind};
    KQ_GUARD(kq_sim_request_at(w->sim, at, node, kind, w->txs[tx].bytes, w->txs[tx].len, &id));
    KQ_ENSURE(id == w->n_reqs, KQ_ERR_STATE);
    return KQ_OK;
}

/* The faulty phase: submissions between simulation slices (expiry from the height reached). */
static enum kq_err run_faulty(struct world *w)
{
    struct submit *s = calloc(MAX_REQS, sizeof *s);
    uint32_t kinds[KQ_LSIM_MAX_TXS], slot[KQ_LSIM_MAX_TXS];
    KQ_ENSURE(s != NULL, KQ_ERR_NOMEM);
    size_t n = plan_submits(w, s, kinds);
    enum kq_err err = KQ_OK;
    for (uint32_t i = 0; i < w->p->txs; i++)
        slot[i] = UINT32_MAX;
    uint64_t join_at = w->spare != 0 ? draw(w, 200, w->p->fault_ms / 2) : 0;
    w->leave_at = w->spare != 0 ? join_at + draw(w, 100, w->p->fault_ms / 2) : 0;
    for (size_t i = 0; i < n && err == KQ_OK; i++) {
        if (!kq_sim_run(w->sim, s[i].at_ms, 0))
            break;
        err = reconfig_step(w, join_at);
        if (err != KQ_OK)
            break;
        uint32_t t = s[i].tx;
        if (slot[t] == UINT32_MAX) {
            bool live = kinds[t] != 1;
            uint64_t exp = w->n_commits + (live ? LIVE_EXPIRY : draw(w, 1, 3));
            err = make_tx(w, exp, kinds[t] == 0, kinds[t] == 2, &slot[t]);
        }
        if (err == KQ_OK)
            err = request(w, kq_sim_now(w->sim) + 1, slot[t], s[i].node, s[i].kind);
    }
    free(s);
    KQ_GUARD(err);
    for (uint64_t at = kq_sim_now(w->sim) + SLICE_MS; w->spare != 0 && at < w->p->fault_ms;
         at += SLICE_MS) { /* the reconfig's steps past the last submission */
        if (!kq_sim_run(w->sim, at, 0))
            break;
        KQ_GUARD(reconfig_step(w, join_at));
    }
    (void)kq_sim_run(w->sim, w->p->fault_ms, 0);
    return KQ_OK;
}

static uint32_t random_honest(struct world *w)
{
    for (;;) {
        uint32_t i = (uint32_t)draw(w, 1, w->n);
        if (!w->byz[i])
            return i;
    }
}

/* Faults healed: the client sends every live tx not yet committed again, to an honest node. */
static enum kq_err run_quiet(struct world *w)
{
    uint64_t at = kq_sim_now(w->sim) + 1;
    for (uint32_t i = 0; i < w->n_txs && !kq_sim_failed(w->sim); i++) {
        if (!w->txs[i].live || w->txs[i].height != 0)
            continue;
        KQ_GUARD(request(w, at++, i, random_honest(w), KQ_LEDGER_REQ_SUBMIT));
        w->r->resubmitted++;
    }
    /* a leave still due goes out once the join commits, early enough to commit in the phase */
    uint64_t end = w->p->fault_ms + w->p->quiet_ms;
    for (uint64_t t = at + SLICE_MS; w->spare != 0 && w->leave_tx == UINT32_MAX && t < end / 2;
         t += SLICE_MS) {
        if (!kq_sim_run(w->sim, t, 0))
            break;
        KQ_GUARD(reconfig_step(w, 0));
    }
    (void)kq_sim_run(w->sim, end, 0);
    return KQ_OK;
}

/* ---- final invariants ---- */

/* One reply against the committed chain. */
static void check_reply(struct world *w, uint32_t i)
{
    const struct lreq *q = &w->reqs[i];
    const struct ltx *t = &w->txs[q->tx];
    if (!q->answered && w->byz[q->node])
        return; /* a Byzantine node owes its clients nothing */
    if (!q->answered) {
        const void *st = core_of(w, q->node);
        failf(w,
              "request %" PRIu32 " (tx %" PRIu32 " to n%" PRIu32 ", kind %" PRIu32
              ", committed at %" PRIu64 ", node at height %" PRIu64 ") never answered",
              i + 1, q->tx, q->node, q->kind, t->height, st != NULL ? kq_replica_height(st) : 0);
        return;
    }
    bool ok = true;
    size_t want = q->kind == KQ_LEDGER_REQ_SUBMIT ? KQ_LEDGER_REPLY_BYTES : KQ_HASH_BYTES;
    if (q->status == KQ_OK) {
        struct kq_buf b;
        kq_hash id;
        uint64_t h = 0;
        uint32_t result = 0;
        kq_buf_reader(&b, q->payload, q->len);
        ok = q->len == want && kq_buf_get(&b, id.b, KQ_HASH_BYTES) == KQ_OK &&
             kq_hash_eq(&id, &t->id) && !t->bad;
        if (ok && want == KQ_LEDGER_REPLY_BYTES)
            ok = kq_buf_get_u64(&b, &h) == KQ_OK && kq_buf_get_u32(&b, &result) == KQ_OK &&
                 h == t->height && result == KQ_OK;
    } else if (q->status == KQ_ERR_TIMEOUT) {
        ok = t->height == 0;
    } else if (q->status == KQ_ERR_DUPLICATE) {
        ok = t->height != 0;
    } else if (q->status == KQ_ERR_BAD_SIGNATURE) {
        ok = t->bad;
    } else {
        ok = q->status == KQ_ERR_NET || q->status == KQ_ERR_BUSY || q->status == KQ_ERR_EXPIRED;
    }
    if (!ok)
        failf(w, "request %" PRIu32 " (tx %" PRIu32 ", committed at %" PRIu64 ") answered %s",
              i + 1, q->tx, t->height, kq_strerror(q->status));
    int cls = q->status == KQ_OK                                    ? 0
              : q->status == KQ_ERR_TIMEOUT                         ? 1
              : q->status == KQ_ERR_NET || q->status == KQ_ERR_BUSY ? 2
                                                                    : 3;
    w->r->replies[cls]++;
}

/* "n1 5/0 n2 5/1 ...": each running node's height/round, for liveness failures. */
static void describe(const struct world *w, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t i = 1; i <= w->n && used < cap; i++) {
        const void *st = core_of(w, i);
        int k = st == NULL
                    ? snprintf(buf + used, cap - used, " n%" PRIu32 " down", i)
                    : snprintf(buf + used, cap - used, " n%" PRIu32 "%s %" PRIu64 "/%" PRIu32, i,
                               w->byz[i] ? "*" : "", kq_replica_height(st), kq_replica_round(st));
        used += k > 0 ? (size_t)k : 0;
    }
}

/* Liveness: every live tx committed, and held by every honest node, all of them running. */
static void check_live(struct world *w)
{
    for (uint32_t i = 1; i <= w->n && !kq_sim_failed(w->sim); i++) {
        if (w->byz[i])
            continue;
        if (!kq_sim_running(w->sim, i)) {
            failf(w, "liveness: honest n%" PRIu32 " is not running at the end", i);
            return;
        }
        uint64_t h = kq_replica_height(core_of(w, i));
        w->r->height = w->r->height == 0 || h < w->r->height ? h : w->r->height;
        for (uint32_t k = 0; k < w->n_txs && !kq_sim_failed(w->sim); k++) {
            const struct ltx *t = &w->txs[k];
            if (t->live && (t->height == 0 || t->height > h)) {
                char d[200];
                describe(w, d, sizeof d);
                failf(w,
                      "liveness: live tx %" PRIu32 " not committed at n%" PRIu32 " %" PRIu64
                      " ms after the faults healed; height/round:%s",
                      k, i, w->p->quiet_ms, d);
            }
        }
        if (!kq_sim_failed(w->sim))
            check_root(w, i);
    }
}

/* Re-executes the committed chain from genesis: each header's state root, strictly increasing
 * BFT time, and every tx applied (each appears once: check_block_txs). */
static enum kq_err check_replay(struct world *w, uint32_t node)
{
    const void *st = core_of(w, node);
    struct kq_block *b = calloc(1, sizeof *b);
    struct kq_cert *c = calloc(1, sizeof *c);
    enum kq_err *res = calloc(KQ_LEDGER_MAX_BLOCK_TXS, sizeof *res);
    void *cur = NULL, *post = NULL;
    kq_hash root, hash;
    uint64_t time_ms = GENESIS_MS;
    enum kq_err err = KQ_ERR_NOMEM;
    if (b == NULL || c == NULL || res == NULL)
        goto out;
    KQ_TRY(w->app.genesis(w->app.ctx, &cur, &root));
    for (uint64_t h = 1; h <= kq_replica_height(st) && !kq_sim_failed(w->sim); h++) {
        KQ_TRY(read_block(st, h, b, c));
        KQ_TRY(w->app.apply_block(w->app.ctx, cur, h, b->header.time_ms, b->txs, b->n_txs, &post,
                                  &root, res));
        w->app.release(w->app.ctx, cur);
        cur = post;
        post = NULL;
        kq_header_hash(&b->header, &hash);
        if (!kq_hash_eq(&root, &b->header.state_root) || !kq_hash_eq(&hash, &w->commits[h - 1]))
            failf(w, "replay: block %" PRIu64 " root or hash differs", h);
        if (b->header.time_ms <= time_ms)
            failf(w, "replay: BFT time of block %" PRIu64 " does not grow", h);
        time_ms = b->header.time_ms;
        for (uint32_t i = 0; i < b->n_txs; i++)
            if (res[i] != KQ_OK)
                failf(w, "replay: tx %" PRIu32 " of block %" PRIu64 " not applied: %s", i, h,
                      kq_strerror(res[i]));
    }
out:
    if (cur != NULL)
        w->app.release(w->app.ctx, cur);
    free(res);
    free(c);
    free(b);
    return err;
}

static enum kq_err final_checks(struct world *w)
{
    uint32_t best = 0;
    check_live(w);
    for (uint32_t i = 0; i < w->n_reqs && !kq_sim_failed(w->sim); i++)
        check_reply(w, i);
    for (uint32_t i = 1; i <= w->n; i++) {
        if (w->byz[i] || !kq_sim_running(w->sim, i))
            continue;
        if (kq_replica_first_block(core_of(w, i)) > 1) { /* state-synced: no chain to replay */
            w->r->state_synced++;
            continue;
        }
        if (best == 0 || kq_replica_height(core_of(w, i)) > kq_replica_height(core_of(w, best)))
            best = i;
    }
    if (kq_sim_failed(w->sim) || best == 0)
        return KQ_OK;
    return check_replay(w, best);
}

/* ---- running one seed ---- */

static void sim_config(struct world *w, struct kq_sim_config *c)
{
    const struct kq_lsim_params *p = w->p;
    w->ops = (struct kq_core_ops){"ledger", HEAD_BYTES + kq_replica_ops.state_size, node_init,
                                  node_step, node_fini};
    *c = (struct kq_sim_config){
        .seed = p->seed,
        .n_nodes = w->n,
        .ops = &w->ops,
        .core_config = w,
        .net = {1, p->faults ? 30 : 15, p->faults ? 20000 : 0, p->faults ? 20000 : 0, 3},
        .disk = {1, 10, 20, 200},
        .boot_spread_ms = 100,
        .check = check_step,
        .check_ctx = w,
        .trace = p->trace,
        .on_reply = on_reply,
        .reply_ctx = w,
        .wall_start_ms = GENESIS_MS,
        .max_clock_skew_ms = p->faults ? 2000 : 0,
        .max_clock_drift_ppm = p->faults ? 2000 : 0,
        .clock_step_on_restart = p->faults,
        .intercept = intercept,
        .intercept_ctx = w,
        .history = p->adversary == KQ_LSIM_REPLAY || p->adversary == KQ_LSIM_MIXED ? HISTORY : 0,
    };
}

static enum kq_err params_ok(const struct kq_lsim_params *p)
{
    KQ_ENSURE(p->validators >= KQ_LSIM_MIN_VALIDATORS && p->validators <= KQ_LSIM_MAX_VALIDATORS,
              KQ_ERR_INVALID_ARG);
    KQ_ENSURE(kq_lsim_adversary_name(p->adversary) != NULL, KQ_ERR_INVALID_ARG);
    KQ_ENSURE((p->byzantine == 0) == (p->adversary == KQ_LSIM_HONEST), KQ_ERR_INVALID_ARG);
    KQ_ENSURE(p->byzantine <= (p->validators - 1) / 3, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(p->txs >= 1 && p->txs <= KQ_LSIM_MAX_TXS, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(p->fault_ms >= 1000 && p->quiet_ms >= 1000, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(p->brk <= KQ_LSIM_BREAK_FORGET_SAFETY, KQ_ERR_INVALID_ARG);
    return KQ_OK;
}

/* Byzantine nodes drawn from the seed; the victim of forgeries is the lowest honest one. */
static void choose_byzantine(struct world *w)
{
    for (size_t k = 0; k < w->p->byzantine;) {
        uint32_t i = (uint32_t)draw(w, 1, w->p->validators); /* never the spare */
        if (!w->byz[i]) {
            w->byz[i] = true;
            k++;
        }
    }
    for (uint32_t i = w->n; i >= 1; i--)
        w->victim = w->byz[i] ? w->victim : i;
    for (uint32_t i = 1; w->spare != 0 && i <= w->p->validators; i++)
        w->leaver = w->byz[i] || i == w->victim ? w->leaver : i; /* the highest honest one */
}

static enum kq_err run_world(struct world *w)
{
    struct kq_sim_config cfg;
    kq_sim_rng_seed(&w->rng, w->p->seed ^ PLAN_STREAM);
    choose_byzantine(w);
    KQ_GUARD(make_genesis(w));
    for (uint32_t i = 1; i <= w->n; i++)
        node_config(w, i);
    sim_config(w, &cfg);
    KQ_GUARD(kq_sim_new(&cfg, &w->sim));
    KQ_GUARD(plan_faults(w));
    KQ_GUARD(run_faulty(w));
    if (!kq_sim_failed(w->sim))
        KQ_GUARD(run_quiet(w));
    if (!kq_sim_failed(w->sim))
        KQ_GUARD(final_checks(w));
    return KQ_OK;
}

static void world_free(struct world *w)
{
    kq_sim_free(w->sim);
    for (uint32_t i = 0; i < w->n_txs; i++)
        free(w->txs[i].bytes);
    for (size_t i = 0; i < sizeof w->eq / sizeof w->eq[0]; i++)
        free(w->eq[i].bytes);
    sodium_memzero(w->sk, sizeof w->sk);
    sodium_memzero(w->admin_sk, sizeof w->admin_sk);
    free(w->commits);
    free(w->votes);
    free(w->buf);
    free(w->g);
    free(w->vs);
    free(w);
}

enum kq_err kq_lsim_run(const struct kq_lsim_params *p, struct kq_lsim_result *r)
{
    KQ_ASSERT(p != NULL && r != NULL);
    memset(r, 0, sizeof *r);
    KQ_GUARD(params_ok(p));
    KQ_ENSURE(sodium_init() >= 0, KQ_ERR_CRYPTO);
    struct world *w = calloc(1, sizeof *w);
    KQ_ENSURE(w != NULL, KQ_ERR_NOMEM);
    w->p = p;
    w->r = r;
    w->n = (uint32_t)p->validators + (p->reconfig ? 1 : 0);
    w->spare = p->reconfig ? w->n : 0;
    w->join_tx = w->leave_tx = UINT32_MAX;
    w->g = calloc(1, sizeof *w->g);
    w->vs = calloc(1, sizeof *w->vs);
    enum kq_err err = w->g != NULL && w->vs != NULL ? run_world(w) : KQ_ERR_NOMEM;
    if (err == KQ_OK) {
        r->ok = !kq_sim_failed(w->sim);
        snprintf(r->failure, sizeof r->failure, "%s", kq_sim_failure(w->sim));
        r->trace_hash = kq_sim_trace_hash(w->sim);
        r->end_ms = kq_sim_now(w->sim);
        r->stats = *kq_sim_stats(w->sim);
        for (uint32_t i = 0; i < w->n_txs; i++)
            r->txs_committed += w->txs[i].height != 0;
        r->joins = w->join_tx != UINT32_MAX && w->txs[w->join_tx].height != 0;
        r->leaves = w->leave_tx != UINT32_MAX && w->txs[w->leave_tx].height != 0;
    }
    world_free(w);
    return err;
}

/* ---- parameters, names, replay ---- */

void kq_lsim_params_for_seed(uint64_t seed, struct kq_lsim_params *p)
{
    static const size_t sizes[] = {4, 5, 6, 7, 10};
    uint64_t h = mix64(seed ^ 0x6c65646765722d73ULL);
    memset(p, 0, sizeof *p);
    p->seed = seed;
    p->validators = sizes[h % 5];
    p->adversary = (enum kq_lsim_adversary)(KQ_LSIM_HONEST + (h / 5) % 7);
    size_t f = (p->validators - 1) / 3;
    p->byzantine = p->adversary == KQ_LSIM_HONEST ? 0 : 1 + (size_t)((h / 35) % f);
    p->faults = (h / 245) % 4 != 0;
    p->real_crypto = seed % 10 == 0;
    p->empty_block_ms = (h / 980) % 2 == 0 ? 0 : 1000;
    p->reconfig = (h / 1960) % 4 == 0;
    p->txs = 16;
    p->fault_ms = 3000;
    p->quiet_ms = 15000;
    /* a quorum stays up without the long-down validator (at most f - 1 Byzantine ones), and
     * blocks come fast enough (no idling, no network faults) to leave it far behind */
    p->long_down = !p->faults && !p->reconfig && p->empty_block_ms == 0 && p->byzantine + 1 <= f;
    p->fault_ms = p->long_down ? 12000 : p->fault_ms;
}

const char *kq_lsim_adversary_name(enum kq_lsim_adversary a)
{
    switch (a) {
    case KQ_LSIM_HONEST:
        return "honest";
    case KQ_LSIM_EQUIVOCATE:
        return "equivocate";
    case KQ_LSIM_DOUBLE_VOTE:
        return "double-vote";
    case KQ_LSIM_BAD_SIG:
        return "bad-sig";
    case KQ_LSIM_WITHHOLD:
        return "withhold";
    case KQ_LSIM_REPLAY:
        return "replay";
    case KQ_LSIM_MIXED:
        return "mixed";
    }
    return NULL;
}

enum kq_err kq_lsim_adversary_parse(const char *name, enum kq_lsim_adversary *out)
{
    KQ_ASSERT(name != NULL && out != NULL);
    for (int a = KQ_LSIM_HONEST; a <= KQ_LSIM_MIXED; a++) {
        if (strcmp(name, kq_lsim_adversary_name((enum kq_lsim_adversary)a)) == 0) {
            *out = (enum kq_lsim_adversary)a;
            return KQ_OK;
        }
    }
    return KQ_ERR_INVALID_ARG;
}

void kq_lsim_replay_command(char *buf, size_t cap, const char *prog, const struct kq_lsim_params *p)
{
    struct kq_lsim_params d;
    char args[320];
    kq_lsim_params_for_seed(p->seed, &d);
    d.trace = p->trace;
    if (memcmp(&d, p, sizeof d) == 0)
        snprintf(args, sizeof args, "--core ledger");
    else
        snprintf(args, sizeof args,
                 "--core ledger --nodes %zu --byzantine %zu --adversary %s --faults %d "
                 "--ed25519 %d --txs %zu --ms %" PRIu64 " --quiet-ms %" PRIu64
                 " --empty-block-ms %" PRIu64 " --reconfig %d --long-down %d",
                 p->validators, p->byzantine, kq_lsim_adversary_name(p->adversary),
                 p->faults ? 1 : 0, p->real_crypto ? 1 : 0, p->txs, p->fault_ms, p->quiet_ms,
                 p->empty_block_ms, p->reconfig ? 1 : 0, p->long_down ? 1 : 0);
    kq_sim_replay_format(buf, cap, prog != NULL ? prog : "build/kq_sim", p->seed, args);
}

bool kq_lsim_seed(void *ctx, uint64_t seed, struct kq_sim_seed_report *rep)
{
    struct kq_lsim_params p;
    struct kq_lsim_result r;
    kq_lsim_params_for_seed(seed, &p);
    enum kq_err err = kq_lsim_run(&p, &r);
    if (err == KQ_OK && r.ok)
        return true;
    if (err != KQ_OK)
        snprintf(rep->failure, sizeof rep->failure, "run error: %s", kq_strerror(err));
    else
        snprintf(rep->failure, sizeof rep->failure, "%s", r.failure);
    kq_lsim_replay_command(rep->replay, sizeof rep->replay, ctx, &p);
    return false;
}
