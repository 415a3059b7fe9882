/* Tests for the key registry (src/ledger/keyreg*.c, tx_key.c) through the real state machine:
 * blocks applied with kq_state_apply_block, four in-test keepers that publish X25519 epoch keys
 * and run real DKG machines (src/crypto/dkg.h) from the sessions the ledger records, submitting
 * their messages as transactions. Covered: create -> version 1 active with the keepers' key;
 * rotation with its activation delay; refresh and reshare keeping S; a lost keeper restored by
 * resharing; a silent dealer tolerated; too few dealers -> retries -> FAILED; deletion (and its
 * cancel) by BFT time; min-version with grace; usage-triggered rotation; evidence (valid:
 * quarantine and reshare away; invalid: refused); authorisation; late and duplicate DKG
 * messages; record codecs; determinism. */
#include "../test_util.h"

#include "base/mem.h"
#include "crypto/partial.h"
#include "crypto/tkem.h"
#include "ledger/keyreg.h"
#include "ledger/state.h"
#include "ledger/tx_client.h"
#include "ledger/tx_member.h"

#define NK        4
#define MAX_TXS   256
#define MAX_HELD  64
#define MAX_MACH  16
#define ADMIN_TAG 200

struct held {
    bool used;
    char name[KQ_KEY_NAME_MAX_BYTES + 1];
    uint32_t version;
    uint64_t epoch;
    uint32_t index;
    uint8_t share[32];
};

struct mach {
    bool used, done;
    kq_hash id;
    struct kq_dkg *m;
    uint32_t delivered;
    uint64_t last_height;
};

struct keeper {
    uint32_t id;
    uint8_t sign_pk[32], sign_sk[64];
    uint8_t xpk[8][32], xsk[8][32]; /* per epoch 1..7 */
    bool published[8];
    bool silent;     /* sends no DKG message */
    bool bad_deal;   /* its deals carry a corrupted box for the next recipient */
    bool no_justify; /* sends no justification */
    struct held held[MAX_HELD];
    struct mach mach[MAX_MACH];
};

/* A recorded block (for replaying a run on a fresh state). */
#define MAX_LOGGED 400
struct logged {
    uint64_t height, ms;
    size_t n;
    struct kq_tx_ref *txs; /* owned copies */
    kq_hash root;          /* the state root after it */
};

struct fx {
    bool logging;
    size_t n_logged;
    struct logged *log; /* MAX_LOGGED when logging */
    struct kq_genesis *g;
    struct kq_smt *st;
    kq_hash chain;
    uint64_t height, now_ms, nonce;
    uint8_t admin_sk[64], admin_pk[32];
    struct keeper k[NK];
    size_t n_txs;
    struct kq_tx_ref txs[MAX_TXS];
    struct kq_tx_result res[MAX_TXS];
};

static void keypair(uint8_t pk[32], uint8_t sk[64], uint8_t tag)
{
    uint8_t seed[32];
    memset(seed, tag, sizeof seed);
    assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
}

static void make_node(struct kq_member_node *n, struct keeper *k, uint32_t id)
{
    uint8_t sk[64], x[32];
    memset(n, 0, sizeof *n);
    n->node_id = id;
    n->roles = KQ_ROLE_VALIDATOR | KQ_ROLE_KEEPER | KQ_ROLE_ORCHESTRATOR;
    keypair(k->sign_pk, k->sign_sk, (uint8_t)id);
    memcpy(n->identity_pk, k->sign_pk, 32);
    keypair(n->tls_pk, sk, (uint8_t)(id + 50));
    memset(x, (int)id, sizeof x);
    crypto_scalarmult_base(n->x25519_pk, x);
    snprintf(n->api_addr, sizeof n->api_addr, "n%u:8443", (unsigned)id);
    snprintf(n->peer_addr, sizeof n->peer_addr, "n%u:9443", (unsigned)id);
    k->id = id;
    for (int e = 0; e < 8; e++) {
        uint8_t seed[32];
        memset(seed, (int)(id * 16 + (uint32_t)e), sizeof seed);
        assert_int_equal(crypto_box_seed_keypair(k->xpk[e], k->xsk[e], seed), 0);
    }
}

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->g = calloc(1, sizeof *f->g);
    assert_non_null(f->g);
    strcpy(f->g->chain_name, "keys");
    f->g->time_ms = 1000000;
    f->g->n_nodes = NK;
    for (uint32_t i = 0; i < NK; i++)
        make_node(&f->g->nodes[i], &f->k[i], i + 1);
    keypair(f->admin_pk, f->admin_sk, ADMIN_TAG);
    f->g->n_admins = 1;
    memcpy(f->g->admins[0], f->admin_pk, 32);
    kq_keyparams_dev(&f->g->keys);
    f->g->keys.refresh_period_ms = 0;
    assert_int_equal(kq_state_genesis(f->g, &f->st), KQ_OK);
    assert_int_equal(kq_genesis_chain_id(f->g, &f->chain), KQ_OK);
    f->now_ms = f->g->time_ms;
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    for (size_t i = 0; i < NK; i++)
        for (size_t j = 0; j < MAX_MACH; j++)
            kq_dkg_free(f->k[i].mach[j].m);
    for (size_t i = 0; i < f->n_txs; i++)
        free((void *)f->txs[i].data);
    for (size_t i = 0; i < f->n_logged; i++) {
        for (size_t j = 0; j < f->log[i].n; j++)
            free((void *)f->log[i].txs[j].data);
        free(f->log[i].txs);
    }
    free(f->log);
    kq_smt_unref(f->st);
    free(f->g);
    free(f);
    return 0;
}

/* ---- transactions ---- */

static void queue(struct fx *f, const uint8_t sk[64], uint16_t family, uint16_t op,
                  const uint8_t *body, size_t len)
{
    assert_true(f->n_txs < MAX_TXS);
    struct kq_tx_fields tf = {.family = family,
                              .op = op,
                              .chain_id = f->chain,
                              .expiry_height = f->height + 100,
                              .nonce = ++f->nonce,
                              .body = body,
                              .body_len = len};
    uint8_t *buf = malloc(KQ_TX_BYTES(len));
    size_t n;
    assert_non_null(buf);
    assert_int_equal(kq_tx_sign(&tf, sk, buf, KQ_TX_BYTES(len), &n), KQ_OK);
    f->txs[f->n_txs++] = (struct kq_tx_ref){.data = buf, .len = n};
}

static void queue_key(struct fx *f, const uint8_t sk[64], uint16_t op, const struct kq_key_tx *b)
{
    uint8_t body[512];
    size_t len;
    assert_int_equal(kq_key_tx_encode(op, b, body, sizeof body, &len), KQ_OK);
    queue(f, sk, KQ_TX_FAMILY_KEY, op, body, len);
}

static void queue_keeper(struct fx *f, struct keeper *k, uint16_t op, const struct kq_keeper_tx *b)
{
    uint8_t *body = malloc(KQ_TX_MAX_BODY_BYTES);
    size_t len;
    assert_non_null(body);
    assert_int_equal(kq_keeper_tx_encode(op, b, body, KQ_TX_MAX_BODY_BYTES, &len), KQ_OK);
    queue(f, k->sign_sk, KQ_TX_FAMILY_KEEPER, op, body, len);
    free(body);
}

/* Applies the queued txs as the next block; returns the status of the first one. */
static enum kq_tx_status block_ms(struct fx *f, uint64_t dt_ms)
{
    struct kq_smt *post = NULL;
    f->height++;
    f->now_ms += dt_ms;
    assert_int_equal(
        kq_state_apply_block(f->st, f->height, f->now_ms, f->txs, f->n_txs, &post, f->res), KQ_OK);
    enum kq_tx_status first = f->n_txs > 0 ? f->res[0].status : KQ_TX_OK;
    if (f->logging) {
        assert_true(f->n_logged < MAX_LOGGED);
        struct logged *l = &f->log[f->n_logged++];
        *l = (struct logged){.height = f->height, .ms = f->now_ms, .n = f->n_txs};
        l->txs = calloc(f->n_txs ? f->n_txs : 1, sizeof *l->txs);
        assert_non_null(l->txs);
        memcpy(l->txs, f->txs, f->n_txs * sizeof *l->txs); /* takes the tx buffers */
        kq_smt_root(post, &l->root);
    } else {
        for (size_t i = 0; i < f->n_txs; i++)
            free((void *)f->txs[i].data);
    }
    f->n_txs = 0;
    kq_smt_unref(f->st);
    f->st = post;
    return first;
}

static enum kq_tx_status block(struct fx *f)
{
    return block_ms(f, 100);
}

/* ---- the in-test keepers ---- */

static struct held *held_find(struct keeper *k, const char *name, uint32_t v, uint64_t e)
{
    for (size_t i = 0; i < MAX_HELD; i++)
        if (k->held[i].used && strcmp(k->held[i].name, name) == 0 && k->held[i].version == v &&
            k->held[i].epoch == e)
            return &k->held[i];
    return NULL;
}

static void held_put(struct keeper *k, const char *name, uint32_t v, uint64_t e, uint32_t index,
                     const uint8_t share[32])
{
    for (size_t i = 0; i < MAX_HELD; i++)
        if (!k->held[i].used) {
            k->held[i] = (struct held){.used = true, .version = v, .epoch = e, .index = index};
            strcpy(k->held[i].name, name);
            memcpy(k->held[i].share, share, 32);
            return;
        }
    fail_msg("held full");
}

static void publish_keys(struct fx *f)
{
    struct kq_epoch_rec e;
    assert_int_equal(kq_keyreg_epoch(f->st, &e), KQ_OK);
    for (size_t i = 0; i < NK; i++)
        for (uint64_t ep = e.number; ep <= e.number + 1 && ep < 8; ep++) {
            uint8_t pk[32];
            if (kq_keyreg_epoch_key(f->st, f->k[i].id, ep, pk) == KQ_OK)
                continue;
            struct kq_keeper_tx b = {.epoch = ep};
            memcpy(b.pk, f->k[i].xpk[ep], 32);
            queue_keeper(f, &f->k[i], KQ_KEEPER_OP_EPOCH_KEY, &b);
        }
}

static int index_of(const uint32_t *ids, uint32_t n, uint32_t id)
{
    for (uint32_t i = 0; i < n; i++)
        if (ids[i] == id)
            return (int)i + 1;
    return 0;
}

static void emit(struct fx *f, struct keeper *k, const kq_hash *id,
                 const struct kq_dkg_actions *act)
{
    static uint8_t copy[KQ_DKG_MAX_MSG_BYTES];
    for (size_t i = 0; i < act->count && !k->silent; i++) {
        struct kq_dkg_msg m;
        size_t len = act->msgs[i].len;
        memcpy(copy, act->msgs[i].bytes, len);
        assert_int_equal(kq_dkg_msg_decode(copy, len, &m), KQ_OK);
        if (m.type == KQ_DKG_MSG_JUSTIFICATION && k->no_justify)
            continue;
        if (m.type == KQ_DKG_MSG_DEAL && k->bad_deal) { /* the next recipient cannot open its box */
            size_t at = (size_t)(m.boxes - copy) + (m.sender % m.nboxes) * KQ_DKG_BOXBYTES;
            copy[at] ^= 1;
        }
        struct kq_keeper_tx b = {.session = *id, .msg = copy, .msg_len = len};
        queue_keeper(f, k, KQ_KEEPER_OP_DKG_MSG, &b);
    }
}

/* Builds keeper k's machine for session s (NULL if it takes no part). */
static struct kq_dkg *machine_new(struct keeper *k, const struct kq_session_rec *s)
{
    struct kq_dkg_cfg cfg = {0};
    uint8_t seed[32];
    cfg.mode = (enum kq_dkg_mode)s->mode;
    memcpy(cfg.session, s->id.b, 32);
    cfg.n = s->n;
    cfg.t = s->t;
    cfg.pks = (const uint8_t(*)[32])s->pks;
    cfg.my_index = (uint32_t)index_of(s->keepers, s->n, k->id);
    const struct held *old = NULL;
    if (s->mode != KQ_DKG_FRESH) {
        cfg.old_commits = (const uint8_t(*)[32])s->old_commits;
        old = held_find(k, s->name, s->version, s->old_epoch);
        if (s->mode == KQ_DKG_RESHARE) {
            cfg.old_n = s->old_n;
            cfg.old_t = s->old_t;
            cfg.old_pks = (const uint8_t(*)[32])s->old_pks;
            cfg.my_old_index =
                old != NULL ? (uint32_t)index_of(s->old_keepers, s->old_n, k->id) : 0;
        }
        if (old != NULL)
            cfg.old_share = old->share;
        if (s->mode == KQ_DKG_REFRESH && old == NULL)
            return NULL;
    }
    if (cfg.my_index == 0 && cfg.my_old_index == 0)
        return NULL;
    cfg.epoch_sk = k->xsk[s->epoch];
    randombytes_buf(seed, sizeof seed);
    cfg.seed = seed;
    cfg.deal_deadline = s->deal_deadline;
    cfg.complaint_deadline = s->complaint_deadline;
    cfg.justify_deadline = s->justify_deadline;
    struct kq_dkg *m = NULL;
    assert_int_equal(kq_dkg_new(&m, &cfg), KQ_OK);
    return m;
}

static void keeper_session(struct fx *f, struct keeper *k, const kq_hash *id)
{
    struct kq_session_rec *s = malloc(sizeof *s);
    struct kq_session_msg *msg = malloc(sizeof *msg);
    struct kq_dkg_actions *act = malloc(sizeof *act);
    assert_non_null(s);
    assert_non_null(msg);
    assert_non_null(act);
    assert_int_equal(kq_keyreg_session(f->st, id, s), KQ_OK);
    struct mach *mc = NULL;
    for (size_t i = 0; i < MAX_MACH && mc == NULL; i++)
        if (k->mach[i].used && kq_hash_eq(&k->mach[i].id, id))
            mc = &k->mach[i];
    if (mc == NULL) {
        struct kq_dkg *m = machine_new(k, s);
        if (m == NULL)
            goto out;
        for (size_t i = 0; i < MAX_MACH && mc == NULL; i++)
            if (!k->mach[i].used)
                mc = &k->mach[i];
        assert_non_null(mc);
        *mc = (struct mach){.used = true, .id = *id, .m = m};
        if (kq_dkg_start(m, act) == KQ_OK)
            emit(f, k, id, act);
    }
    if (mc->done)
        goto out;
    for (; mc->delivered < s->msg_count; mc->delivered++) {
        assert_int_equal(kq_keyreg_session_msg(f->st, id, mc->delivered, msg), KQ_OK);
        if (kq_dkg_on_height(mc->m, msg->height, act) == KQ_OK)
            emit(f, k, id, act);
        if (kq_dkg_on_message(mc->m, msg->sender, msg->bytes, msg->len, act) == KQ_OK)
            emit(f, k, id, act);
    }
    if (kq_dkg_on_height(mc->m, f->height, act) == KQ_OK)
        emit(f, k, id, act);
    if (kq_dkg_status(mc->m) == KQ_DKG_DONE) {
        struct kq_dkg_result *r = malloc(sizeof *r);
        assert_non_null(r);
        assert_int_equal(kq_dkg_result(mc->m, r), KQ_OK);
        if (r->has_share)
            held_put(k, s->name, s->version, s->epoch, r->index, r->share);
        kq_dkg_result_wipe(r);
        free(r);
        mc->done = true;
    }
out:
    free(s);
    free(msg);
    free(act);
}

/* Every keeper follows the committed state: keys, sessions. */
static void keepers_step(struct fx *f)
{
    struct kq_session_list l;
    publish_keys(f);
    assert_int_equal(kq_keyreg_sessions(f->st, &l), KQ_OK);
    for (size_t i = 0; i < NK; i++) {
        for (uint32_t j = 0; j < l.count; j++)
            keeper_session(f, &f->k[i], &l.ids[j]);
        /* a session leaves the running list at the end of the block that finalized it: its
         * participants finish their machines from the session record */
        for (size_t j = 0; j < MAX_MACH; j++)
            if (f->k[i].mach[j].used && !f->k[i].mach[j].done)
                keeper_session(f, &f->k[i], &f->k[i].mach[j].id);
    }
}

/* Runs blocks (keepers acting after each) until pred holds or max blocks pass. */
static bool run_until(struct fx *f, bool (*pred)(struct fx *f, const void *arg), const void *arg,
                      int max)
{
    for (int i = 0; i < max; i++) {
        keepers_step(f);
        block(f);
        if (pred(f, arg))
            return true;
    }
    return false;
}

struct vstate {
    const char *name;
    uint32_t version;
    uint8_t state;
};

static bool version_is(struct fx *f, const void *arg)
{
    const struct vstate *w = arg;
    struct kq_keyver_rec v;
    return kq_keyreg_version(f->st, w->name, w->version, &v) == KQ_OK && v.state == w->state;
}

static bool no_sessions(struct fx *f, const void *arg)
{
    (void)arg;
    struct kq_session_list l;
    struct kq_epoch_rec e;
    return kq_keyreg_sessions(f->st, &l) == KQ_OK && l.count == 0 &&
           kq_keyreg_epoch(f->st, &e) == KQ_OK && !e.backlog && !e.advance_pending;
}

/* Checks that the shares the keepers hold for (name, v, e) match the sharing's public shares
 * and that any t of them interpolate to S (reconstruction here is the test's check only). */
static void check_sharing(struct fx *f, const char *name, uint32_t version, uint64_t e)
{
    keepers_step(f); /* the keepers see the block that finalized the sharing */
    struct kq_keyver_rec v;
    struct kq_sharing_rec *s = malloc(sizeof *s);
    assert_non_null(s);
    assert_int_equal(kq_keyreg_version(f->st, name, version, &v), KQ_OK);
    assert_int_equal(kq_keyreg_sharing(f->st, name, version, e, s), KQ_OK);
    assert_memory_equal(s->commits[0], v.public_key, 32);
    uint32_t xs[KQ_DKG_MAX_N];
    uint8_t shares[KQ_DKG_MAX_N][32], lam[KQ_DKG_MAX_N][32];
    uint32_t got = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        struct keeper *k = &f->k[s->keepers[i] - 1];
        struct held *h = held_find(k, name, version, e);
        assert_non_null(h);
        assert_int_equal(h->index, i + 1);
        uint8_t pub[32];
        kq_pt_mul_base(pub, h->share);
        assert_memory_equal(pub, s->public_shares[i], 32);
        if (got < s->t) {
            xs[got] = i + 1;
            memcpy(shares[got], h->share, 32);
            got++;
        }
    }
    assert_int_equal(kq_lagrange0(lam, xs, s->t), KQ_OK);
    uint8_t secret[32] = {0}, term[32], S[32];
    for (uint32_t i = 0; i < s->t; i++) {
        crypto_core_ristretto255_scalar_mul(term, lam[i], shares[i]);
        crypto_core_ristretto255_scalar_add(secret, secret, term);
    }
    kq_pt_mul_base(S, secret);
    assert_memory_equal(S, v.public_key, 32);
    kq_wipe(secret, sizeof secret);
    free(s);
}

static struct kq_key_tx key_body(const char *name)
{
    struct kq_key_tx b = {.usage = KQ_KEY_USAGE_ENCRYPT, .n = 4, .t = 3};
    strcpy(b.name, name);
    return b;
}

static void create_key(struct fx *f, const char *name)
{
    publish_keys(f);
    block(f);
    struct kq_key_tx b = key_body(name);
    queue_key(f, f->admin_sk, KQ_KEY_OP_CREATE, &b);
    assert_int_equal(block(f), KQ_TX_OK);
    struct vstate w = {name, 1, KQ_KEYVER_ACTIVE};
    assert_true(run_until(f, version_is, &w, 40));
}

/* ---- tests ---- */

static void test_create(void **state)
{
    struct fx *f = *state;
    struct kq_key_tx b = key_body("orders");
    /* no keeper has published a key yet: too few eligible keepers */
    queue_key(f, f->admin_sk, KQ_KEY_OP_CREATE, &b);
    assert_int_equal(block(f), KQ_TX_NO_KEEPERS);
    create_key(f, "orders");
    struct kq_key_rec k;
    assert_int_equal(kq_keyreg_key(f->st, "orders", &k), KQ_OK);
    assert_int_equal(k.active_version, 1);
    assert_int_equal(k.generating_version, 0);
    check_sharing(f, "orders", 1, 1);
    assert_false(kq_keyreg_busy(f->st));
    /* a second create of the name */
    queue_key(f, f->admin_sk, KQ_KEY_OP_CREATE, &b);
    assert_int_equal(block(f), KQ_TX_EXISTS);
    struct kq_key_index ix;
    assert_int_equal(kq_keyreg_index(f->st, &ix), KQ_OK);
    assert_int_equal(ix.count, 1);
}

/* Keeper k loses its store in epoch e: shares and machines gone, new X25519 keys for e and e + 1
 * reported by a LOST transaction (queued). */
static void lose_store(struct fx *f, struct keeper *k, uint64_t e)
{
    memset(k->held, 0, sizeof k->held);
    for (size_t i = 0; i < MAX_MACH; i++) {
        kq_dkg_free(k->mach[i].m);
        k->mach[i] = (struct mach){0};
    }
    struct kq_keeper_tx lost = {.epoch = e};
    uint8_t seed[32];
    memset(seed, 0x77, sizeof seed);
    assert_int_equal(crypto_box_seed_keypair(k->xpk[e], k->xsk[e], seed), 0);
    memset(seed, 0x78, sizeof seed);
    assert_int_equal(crypto_box_seed_keypair(k->xpk[e + 1], k->xsk[e + 1], seed), 0);
    memcpy(lost.pk, k->xpk[e], 32);
    memcpy(lost.next_pk, k->xpk[e + 1], 32);
    queue_keeper(f, k, KQ_KEEPER_OP_LOST, &lost);
}

static void test_rotate_refresh_lost(void **state)
{
    struct fx *f = *state;
    create_key(f, "k");
    struct kq_keyver_rec v1;
    assert_int_equal(kq_keyreg_version(f->st, "k", 1, &v1), KQ_OK);
    struct kq_key_tx b = key_body("k");
    queue_key(f, f->admin_sk, KQ_KEY_OP_ROTATE, &b);
    assert_int_equal(block(f), KQ_TX_OK);
    queue_key(f, f->admin_sk, KQ_KEY_OP_ROTATE, &b); /* deduplicated */
    assert_int_equal(block(f), KQ_TX_EXISTS);
    struct vstate pend = {"k", 2, KQ_KEYVER_PENDING}, act = {"k", 2, KQ_KEYVER_ACTIVE};
    assert_true(run_until(f, version_is, &pend, 40));
    assert_true(run_until(f, version_is, &act, 10));
    struct kq_keyver_rec v;
    assert_int_equal(kq_keyreg_version(f->st, "k", 1, &v), KQ_OK);
    assert_int_equal(v.state, KQ_KEYVER_DECRYPT_ONLY);
    check_sharing(f, "k", 2, 1);

    /* refresh: epoch 2, same committee, same S for both versions */
    struct kq_key_tx r = {0};
    queue_key(f, f->admin_sk, KQ_KEY_OP_REFRESH, &r);
    assert_int_equal(block(f), KQ_TX_OK);
    assert_true(run_until(f, no_sessions, NULL, 60));
    struct kq_epoch_rec e;
    assert_int_equal(kq_keyreg_epoch(f->st, &e), KQ_OK);
    assert_int_equal(e.number, 2);
    assert_int_equal(kq_keyreg_version(f->st, "k", 1, &v), KQ_OK);
    assert_int_equal(v.epoch, 2);
    assert_int_equal(v.prev_epoch, 1);
    assert_memory_equal(v.public_key, v1.public_key, 32);
    check_sharing(f, "k", 1, 2);
    check_sharing(f, "k", 2, 2);
    struct held *old = held_find(&f->k[0], "k", 1, 1), *now = held_find(&f->k[0], "k", 1, 2);
    assert_non_null(old);
    assert_non_null(now);
    assert_memory_not_equal(old->share, now->share, 32); /* refreshed */

    /* keeper 4 loses its store: new keys, a reshare gives it a new share; S unchanged */
    struct keeper *k4 = &f->k[3];
    lose_store(f, k4, 2);
    assert_int_equal(block(f), KQ_TX_OK);
    struct kq_keeper_rec kr;
    assert_int_equal(kq_keyreg_keeper(f->st, 4, &kr), KQ_OK);
    assert_int_equal(kr.lost_height, f->height);
    assert_true(run_until(f, no_sessions, NULL, 60));
    assert_int_equal(kq_keyreg_epoch(f->st, &e), KQ_OK);
    assert_int_equal(e.number, 3);
    check_sharing(f, "k", 1, 3);
    check_sharing(f, "k", 2, 3);
    assert_non_null(held_find(k4, "k", 2, 3));
    assert_int_equal(kq_keyreg_version(f->st, "k", 1, &v), KQ_OK);
    assert_memory_equal(v.public_key, v1.public_key, 32);
}

/* The epoch advances while a session runs (a fresh DKG, then a refresh): each version still ends
 * in the current epoch once its session is done. */
static void test_advance_during_session(void **state)
{
    struct fx *f = *state;
    publish_keys(f);
    block(f);
    struct kq_key_tx b = key_body("s"), r = {0};
    queue_key(f, f->admin_sk, KQ_KEY_OP_CREATE, &b);
    assert_int_equal(block(f), KQ_TX_OK);
    queue_key(f, f->admin_sk, KQ_KEY_OP_REFRESH, &r); /* while version 1's DKG runs */
    assert_int_equal(block(f), KQ_TX_OK);
    struct kq_epoch_rec e;
    assert_int_equal(kq_keyreg_epoch(f->st, &e), KQ_OK);
    assert_int_equal(e.number, 2);
    assert_true(run_until(f, no_sessions, NULL, 80));
    struct kq_keyver_rec v;
    assert_int_equal(kq_keyreg_version(f->st, "s", 1, &v), KQ_OK);
    assert_int_equal(v.state, KQ_KEYVER_ACTIVE);
    assert_int_equal(v.epoch, 2);
    check_sharing(f, "s", 1, 2);
    /* a refresh into epoch 3 runs; another request moves the epoch to 4 meanwhile */
    queue_key(f, f->admin_sk, KQ_KEY_OP_REFRESH, &r);
    assert_int_equal(block(f), KQ_TX_OK);
    assert_int_equal(kq_keyreg_version(f->st, "s", 1, &v), KQ_OK);
    assert_false(kq_hash_is_zero(&v.session));
    queue_key(f, f->admin_sk, KQ_KEY_OP_REFRESH, &r);
    assert_int_equal(block(f), KQ_TX_OK);
    assert_true(run_until(f, no_sessions, NULL, 80));
    assert_int_equal(kq_keyreg_epoch(f->st, &e), KQ_OK);
    assert_int_equal(e.number, 4);
    assert_int_equal(kq_keyreg_version(f->st, "s", 1, &v), KQ_OK);
    assert_int_equal(v.epoch, 4);
    check_sharing(f, "s", 1, 4);
}

/* Queues an update of node id's roles; returns the tx's index in the next block. */
static size_t set_roles(struct fx *f, uint32_t id, uint8_t roles)
{
    struct kq_member_node n;
    uint8_t body[KQ_MEMBER_NODE_MAX_BYTES];
    size_t len;
    assert_int_equal(kq_member_get(f->st, id, &n), KQ_OK);
    n.roles = roles;
    assert_int_equal(kq_member_node_encode(&n, body, sizeof body, &len), KQ_OK);
    queue(f, f->admin_sk, KQ_TX_FAMILY_MEMBER, KQ_MEMBER_OP_UPDATE, body, len);
    return f->n_txs - 1;
}

/* Membership changes: a removed keeper is reshared away (S and t unchanged); with fewer eligible
 * keepers than t the move waits (t is never lowered without an admin's RESHARE) and goes on once
 * a keeper is back. */
static void test_keeper_removed(void **state)
{
    struct fx *f = *state;
    create_key(f, "r");
    struct kq_keyver_rec v1, v;
    assert_int_equal(kq_keyreg_version(f->st, "r", 1, &v1), KQ_OK);
    uint8_t body[KQ_MEMBER_REMOVE_BYTES];
    size_t len;
    assert_int_equal(kq_member_remove_encode(4, body, sizeof body, &len), KQ_OK);
    queue(f, f->admin_sk, KQ_TX_FAMILY_MEMBER, KQ_MEMBER_OP_REMOVE, body, len);
    assert_int_equal(block(f), KQ_TX_OK);
    struct kq_epoch_rec e;
    assert_int_equal(kq_keyreg_epoch(f->st, &e), KQ_OK);
    assert_int_equal(e.number, 2);
    assert_true(run_until(f, no_sessions, NULL, 60));
    struct kq_sharing_rec *s = malloc(sizeof *s);
    assert_non_null(s);
    assert_int_equal(kq_keyreg_sharing(f->st, "r", 1, 2, s), KQ_OK);
    assert_int_equal(s->n, 3);
    assert_int_equal(s->t, 3);
    for (uint32_t i = 0; i < s->n; i++)
        assert_int_not_equal(s->keepers[i], 4);
    check_sharing(f, "r", 1, 2);
    /* node 3 stops being a keeper: two eligible keepers for t = 3 */
    size_t at = set_roles(f, 3, KQ_ROLE_VALIDATOR | KQ_ROLE_ORCHESTRATOR);
    block(f);
    assert_int_equal(f->res[at].status, KQ_TX_OK);
    assert_int_equal(kq_keyreg_epoch(f->st, &e), KQ_OK);
    assert_int_equal(e.number, 3);
    for (int i = 0; i < 10; i++) {
        keepers_step(f);
        block(f);
    }
    assert_int_equal(kq_keyreg_version(f->st, "r", 1, &v), KQ_OK);
    assert_int_equal(v.epoch, 2); /* still served by its sharing of epoch 2 */
    assert_true(kq_hash_is_zero(&v.session));
    assert_int_equal(kq_keyreg_sharing(f->st, "r", 1, 3, s), KQ_ERR_NOT_FOUND);
    assert_int_equal(kq_keyreg_epoch(f->st, &e), KQ_OK);
    assert_true(e.backlog);
    /* node 3 is a keeper again: the version moves into epoch 3 with t = 3 */
    at = set_roles(f, 3, KQ_ROLE_VALIDATOR | KQ_ROLE_ORCHESTRATOR | KQ_ROLE_KEEPER);
    block(f);
    assert_int_equal(f->res[at].status, KQ_TX_OK);
    assert_true(run_until(f, no_sessions, NULL, 60));
    assert_int_equal(kq_keyreg_sharing(f->st, "r", 1, 3, s), KQ_OK);
    assert_int_equal(s->t, 3);
    check_sharing(f, "r", 1, 3);
    assert_int_equal(kq_keyreg_version(f->st, "r", 1, &v), KQ_OK);
    assert_memory_equal(v.public_key, v1.public_key, 32);
    free(s);
}

static void test_silent_and_failed(void **state)
{
    struct fx *f = *state;
    f->k[1].silent = true; /* one silent dealer of four, t = 3: QUAL = 3 */
    create_key(f, "a");
    struct kq_sharing_rec *s = malloc(sizeof *s);
    assert_non_null(s);
    assert_int_equal(kq_keyreg_sharing(f->st, "a", 1, 1, s), KQ_OK);
    free(s);
    f->k[2].silent = true; /* two of four silent: every attempt fails, then FAILED */
    struct kq_key_tx b = key_body("b");
    queue_key(f, f->admin_sk, KQ_KEY_OP_CREATE, &b);
    assert_int_equal(block(f), KQ_TX_OK);
    struct vstate w = {"b", 1, KQ_KEYVER_FAILED};
    assert_true(run_until(f, version_is, &w, 120));
    struct kq_key_rec k;
    assert_int_equal(kq_keyreg_key(f->st, "b", &k), KQ_OK);
    assert_int_equal(k.active_version, 0);
    assert_int_equal(k.generating_version, 0);
    struct kq_keyver_rec v;
    assert_int_equal(kq_keyreg_version(f->st, "b", 1, &v), KQ_OK);
    assert_int_equal(v.attempts, KQ_KEYREG_MAX_ATTEMPTS);
}

/* The complaints recorded for the session that made (name, version)'s sharing in epoch e. */
static uint32_t complaints(struct fx *f, const char *name, uint32_t version, uint64_t e)
{
    struct kq_sharing_rec *sh = malloc(sizeof *sh);
    struct kq_session_rec *s = malloc(sizeof *s);
    assert_non_null(sh);
    assert_non_null(s);
    assert_int_equal(kq_keyreg_sharing(f->st, name, version, e, sh), KQ_OK);
    assert_int_equal(kq_keyreg_session(f->st, &sh->session, s), KQ_OK);
    assert_int_equal(s->state, KQ_SESSION_DONE);
    uint32_t n = s->complaints;
    free(sh);
    free(s);
    return n;
}

/* A dealer whose deal carries a bad share: its recipient complains; the dealer justifies (stays
 * qualified) or does not (disqualified): the session finalizes at the justify deadline either
 * way, and every keeper's share matches the recorded public shares. */
static void test_bad_share(void **state)
{
    struct fx *f = *state;
    f->k[1].bad_deal = true;
    create_key(f, "j");
    assert_int_equal(complaints(f, "j", 1, 1), 1);
    check_sharing(f, "j", 1, 1);
    f->k[1].no_justify = true;
    create_key(f, "q");
    assert_int_equal(complaints(f, "q", 1, 1), 1);
    check_sharing(f, "q", 1, 1);
    struct kq_keyver_rec v;
    assert_int_equal(kq_keyreg_version(f->st, "q", 1, &v), KQ_OK);
    assert_int_equal(v.attempts, 0); /* the first session succeeded */
}

static void test_delete_and_min_version(void **state)
{
    struct fx *f = *state;
    create_key(f, "d");
    struct kq_key_tx b = key_body("d");
    queue_key(f, f->admin_sk, KQ_KEY_OP_DELETE, &b);
    assert_int_equal(block(f), KQ_TX_OK);
    struct kq_key_rec k;
    assert_int_equal(kq_keyreg_key(f->st, "d", &k), KQ_OK);
    assert_int_equal(k.state, KQ_KEY_PENDING_DELETION);
    queue_key(f, f->admin_sk, KQ_KEY_OP_CANCEL_DELETE, &b);
    assert_int_equal(block(f), KQ_TX_OK);
    block_ms(f, 20000); /* past the wait: cancelled, nothing happens */
    assert_int_equal(kq_keyreg_key(f->st, "d", &k), KQ_OK);
    assert_int_equal(k.state, KQ_KEY_ENABLED);
    queue_key(f, f->admin_sk, KQ_KEY_OP_CANCEL_DELETE, &b);
    assert_int_equal(block(f), KQ_TX_CONFLICT);

    /* min version: needs v2 active; grace by BFT time */
    queue_key(f, f->admin_sk, KQ_KEY_OP_ROTATE, &b);
    assert_int_equal(block(f), KQ_TX_OK);
    struct vstate act = {"d", 2, KQ_KEYVER_ACTIVE};
    assert_true(run_until(f, version_is, &act, 60));
    b.version = 3;
    queue_key(f, f->admin_sk, KQ_KEY_OP_SET_MIN_VERSION, &b); /* beyond the active version */
    assert_int_equal(block(f), KQ_TX_INVALID);
    b.version = 2;
    queue_key(f, f->admin_sk, KQ_KEY_OP_SET_MIN_VERSION, &b);
    assert_int_equal(block(f), KQ_TX_OK);
    struct kq_keyver_rec v;
    assert_int_equal(kq_keyreg_version(f->st, "d", 1, &v), KQ_OK);
    assert_int_equal(v.state, KQ_KEYVER_DECRYPT_ONLY); /* still in its grace */
    block_ms(f, 6000);
    assert_int_equal(kq_keyreg_version(f->st, "d", 1, &v), KQ_OK);
    assert_int_equal(v.state, KQ_KEYVER_RETIRED);
    assert_int_equal(kq_keyreg_key(f->st, "d", &k), KQ_OK);
    assert_int_equal(k.min_decryption_version, 2);

    /* deletion for real */
    queue_key(f, f->admin_sk, KQ_KEY_OP_DELETE, &b);
    assert_int_equal(block(f), KQ_TX_OK);
    block_ms(f, 5000);
    assert_int_equal(kq_keyreg_key(f->st, "d", &k), KQ_OK);
    assert_int_equal(k.state, KQ_KEY_PENDING_DELETION);
    block_ms(f, 6000);
    assert_int_equal(kq_keyreg_key(f->st, "d", &k), KQ_OK);
    assert_int_equal(k.state, KQ_KEY_DELETED);
    assert_int_equal(kq_keyreg_version(f->st, "d", 2, &v), KQ_OK);
    assert_int_equal(v.state, KQ_KEYVER_DELETED);
    queue_key(f, f->admin_sk, KQ_KEY_OP_ROTATE, &b);
    assert_int_equal(block(f), KQ_TX_CONFLICT);
    queue_key(f, f->admin_sk, KQ_KEY_OP_CREATE, &b); /* names are never reused */
    assert_int_equal(block(f), KQ_TX_EXISTS);
}

static void test_usage_rotation(void **state)
{
    struct fx *f = *state;
    publish_keys(f);
    block(f);
    struct kq_key_tx b = key_body("u");
    b.max_ops = 100;
    queue_key(f, f->admin_sk, KQ_KEY_OP_CREATE, &b);
    assert_int_equal(block(f), KQ_TX_OK);
    struct vstate a1 = {"u", 1, KQ_KEYVER_ACTIVE};
    assert_true(run_until(f, version_is, &a1, 40));
    struct kq_keeper_tx u = {.n_usage = 1};
    strcpy(u.usage[0].name, "u");
    u.usage[0].ops = 60;
    queue_keeper(f, &f->k[0], KQ_KEEPER_OP_USAGE, &u);
    assert_int_equal(block(f), KQ_TX_OK);
    struct kq_key_rec k;
    assert_int_equal(kq_keyreg_key(f->st, "u", &k), KQ_OK);
    assert_int_equal(k.ops, 60);
    assert_int_equal(k.generating_version, 0);
    queue_keeper(f, &f->k[1], KQ_KEEPER_OP_USAGE, &u);
    assert_int_equal(block(f), KQ_TX_OK);
    assert_int_equal(kq_keyreg_key(f->st, "u", &k), KQ_OK);
    assert_int_equal(k.generating_version, 2); /* 120 >= 100: a rotation is proposed */
    struct vstate a2 = {"u", 2, KQ_KEYVER_ACTIVE};
    assert_true(run_until(f, version_is, &a2, 60));
    assert_int_equal(kq_keyreg_key(f->st, "u", &k), KQ_OK);
    assert_int_equal(k.ops, 0);

    /* rotation by period, read from BFT time */
    struct kq_key_tx p = key_body("p");
    p.period_ms = 30000;
    queue_key(f, f->admin_sk, KQ_KEY_OP_CREATE, &p);
    assert_int_equal(block(f), KQ_TX_OK);
    struct vstate p1 = {"p", 1, KQ_KEYVER_ACTIVE}, p2 = {"p", 2, KQ_KEYVER_ACTIVE};
    assert_true(run_until(f, version_is, &p1, 40));
    block_ms(f, 31000);
    assert_int_equal(kq_keyreg_key(f->st, "p", &k), KQ_OK);
    assert_int_equal(k.generating_version, 2);
    assert_true(run_until(f, version_is, &p2, 60));
}

/* A signed response of keeper k for version 1 of name, with a false partial if lie. */
static void response(struct fx *f, struct keeper *k, const char *name, bool lie, uint8_t *out,
                     size_t *len)
{
    struct kq_keyver_rec v;
    keepers_step(f);
    struct kq_sharing_rec *s = malloc(sizeof *s);
    struct kq_label *label = malloc(sizeof *label);
    assert_non_null(s);
    assert_non_null(label);
    assert_int_equal(kq_keyreg_version(f->st, name, 1, &v), KQ_OK);
    assert_int_equal(kq_keyreg_sharing(f->st, name, 1, v.epoch, s), KQ_OK);
    assert_int_equal(
        kq_label_build(label, (const uint8_t *)name, strlen(name), 1, KQ_PURPOSE_DEK, NULL, 0),
        KQ_OK);
    uint8_t ct[KQ_TKEM_CTBYTES(32)], dek[32] = {9};
    size_t ct_len;
    struct kq_tkem_ct dec;
    assert_int_equal(kq_tkem_wrap(ct, sizeof ct, &ct_len, v.public_key, label, dek, 32), KQ_OK);
    assert_int_equal(kq_tkem_decode(&dec, ct, ct_len), KQ_OK);
    struct held *h = held_find(k, name, 1, v.epoch);
    assert_non_null(h);
    struct kq_tkem_partial p;
    assert_int_equal(kq_tkem_partial(&p, &dec, label, v.public_key, h->share, h->index), KQ_OK);
    if (lie) {
        uint8_t one[32] = {1}, g[32];
        kq_pt_mul_base(g, one);
        assert_int_equal(kq_pt_add(p.Z, p.Z, g), KQ_OK);
    }
    struct kq_partial_resp r;
    uint8_t reqid[16] = {1};
    assert_int_equal(
        kq_partial_respond(&r, reqid, label, v.epoch, 5, h->index, dec.R, &p, NULL, k->sign_sk),
        KQ_OK);
    assert_int_equal(kq_partial_encode(out, KQ_PARTIAL_MAXBYTES, len, &r), KQ_OK);
    free(s);
    free(label);
}

static void queue_evidence(struct fx *f, struct keeper *reporter, uint32_t keeper, const char *name,
                           const uint8_t *resp, size_t len)
{
    struct kq_keyver_rec v;
    assert_int_equal(kq_keyreg_version(f->st, name, 1, &v), KQ_OK);
    struct kq_evidence_tx e = {
        .keeper = keeper, .version = 1, .epoch = v.epoch, .response = resp, .response_len = len};
    strcpy(e.name, name);
    uint8_t body[1024];
    size_t blen;
    assert_int_equal(kq_evidence_tx_encode(&e, body, sizeof body, &blen), KQ_OK);
    queue(f, reporter->sign_sk, KQ_TX_FAMILY_EVIDENCE, KQ_EVIDENCE_OP_PARTIAL, body, blen);
}

static void test_evidence(void **state)
{
    struct fx *f = *state;
    create_key(f, "e");
    uint8_t resp[KQ_PARTIAL_MAXBYTES];
    size_t len;
    /* an honest response is not evidence */
    response(f, &f->k[1], "e", false, resp, &len);
    queue_evidence(f, &f->k[0], 2, "e", resp, len);
    assert_int_equal(block(f), KQ_TX_INVALID);
    /* a false one blamed on another keeper is not either */
    response(f, &f->k[1], "e", true, resp, &len);
    queue_evidence(f, &f->k[0], 3, "e", resp, len);
    assert_int_equal(block(f), KQ_TX_INVALID);
    /* evidence is reported by nodes only */
    struct keeper stranger = {0};
    keypair(stranger.sign_pk, stranger.sign_sk, 99);
    queue_evidence(f, &stranger, 2, "e", resp, len);
    assert_int_equal(block(f), KQ_TX_UNAUTHORIZED);
    /* the false one, attributed right: recorded once, keeper 2 quarantined */
    queue_evidence(f, &f->k[0], 2, "e", resp, len);
    assert_int_equal(block(f), KQ_TX_OK);
    queue_evidence(f, &f->k[2], 2, "e", resp, len);
    assert_int_equal(block(f), KQ_TX_EXISTS);
    struct kq_keeper_rec kr;
    assert_int_equal(kq_keyreg_keeper(f->st, 2, &kr), KQ_OK);
    assert_int_equal(kr.faults, 1);
    assert_true(kr.quarantined);
    /* resharing moves the key away from keeper 2, S unchanged */
    struct kq_keyver_rec before, after;
    assert_int_equal(kq_keyreg_version(f->st, "e", 1, &before), KQ_OK);
    assert_true(run_until(f, no_sessions, NULL, 60));
    assert_int_equal(kq_keyreg_version(f->st, "e", 1, &after), KQ_OK);
    assert_int_equal(after.epoch, 2);
    assert_memory_equal(after.public_key, before.public_key, 32);
    struct kq_sharing_rec *s = malloc(sizeof *s);
    assert_non_null(s);
    assert_int_equal(kq_keyreg_sharing(f->st, "e", 1, 2, s), KQ_OK);
    assert_int_equal(s->n, 3);
    for (uint32_t i = 0; i < s->n; i++)
        assert_int_not_equal(s->keepers[i], 2);
    free(s);
    check_sharing(f, "e", 1, 2);
}

static void test_authorization(void **state)
{
    struct fx *f = *state;
    publish_keys(f);
    block(f);
    uint8_t pk[32], sk[64];
    keypair(pk, sk, 99);
    struct kq_key_tx b = key_body("x");
    queue_key(f, sk, KQ_KEY_OP_CREATE, &b); /* a stranger */
    assert_int_equal(block(f), KQ_TX_UNAUTHORIZED);
    strcpy(b.client, "bob"); /* a node acting for a client the ledger does not know */
    queue_key(f, f->k[0].sign_sk, KQ_KEY_OP_CREATE, &b);
    assert_int_equal(block(f), KQ_TX_UNAUTHORIZED);
    struct kq_client c = {
        .auth_kind = KQ_CLIENT_AUTH_CERT, .roles = KQ_CLIENT_ROLE_USER, .trust = 50};
    strcpy(c.id, "bob");
    memset(c.auth, 1, 32);
    uint8_t body[KQ_CLIENT_MAX_BYTES];
    size_t len;
    assert_int_equal(kq_client_encode(&c, body, sizeof body, &len), KQ_OK);
    queue(f, f->admin_sk, KQ_TX_FAMILY_CLIENT, KQ_CLIENT_OP_SET, body, len);
    assert_int_equal(block(f), KQ_TX_OK);
    queue_key(f, f->k[0].sign_sk, KQ_KEY_OP_CREATE, &b); /* bob is a user, not an admin */
    assert_int_equal(block(f), KQ_TX_UNAUTHORIZED);
    c.roles = KQ_CLIENT_ROLE_ADMIN;
    assert_int_equal(kq_client_encode(&c, body, sizeof body, &len), KQ_OK);
    queue(f, f->admin_sk, KQ_TX_FAMILY_CLIENT, KQ_CLIENT_OP_SET, body, len);
    assert_int_equal(block(f), KQ_TX_OK);
    queue_key(f, f->k[0].sign_sk, KQ_KEY_OP_CREATE, &b); /* now an orchestrator may act for bob */
    assert_int_equal(block(f), KQ_TX_OK);
    struct kq_key_rec k;
    assert_int_equal(kq_keyreg_key(f->st, "x", &k), KQ_OK);
    assert_string_equal(k.creator, "bob");
    /* keeper ops need a node's key; epoch keys only for the current and next epoch, once */
    struct kq_keeper_tx e = {.epoch = 1};
    memset(e.pk, 3, 32);
    uint8_t tx_body[64];
    assert_int_equal(kq_keeper_tx_encode(KQ_KEEPER_OP_EPOCH_KEY, &e, tx_body, sizeof tx_body, &len),
                     KQ_OK);
    queue(f, sk, KQ_TX_FAMILY_KEEPER, KQ_KEEPER_OP_EPOCH_KEY, tx_body, len);
    assert_int_equal(block(f), KQ_TX_UNAUTHORIZED);
    queue_keeper(f, &f->k[0], KQ_KEEPER_OP_EPOCH_KEY, &e);
    assert_int_equal(block(f), KQ_TX_EXISTS);
    e.epoch = 5;
    queue_keeper(f, &f->k[0], KQ_KEEPER_OP_EPOCH_KEY, &e);
    assert_int_equal(block(f), KQ_TX_INVALID);
    /* a node without the orchestrator role may not act for an admin client, nor report usage;
     * one without the keeper role may not publish epoch keys, DKG messages or lost stores */
    size_t at = set_roles(f, 4, KQ_ROLE_VALIDATOR);
    block(f);
    assert_int_equal(f->res[at].status, KQ_TX_OK);
    struct kq_key_tx y = key_body("y");
    strcpy(y.client, "bob");
    queue_key(f, f->k[3].sign_sk, KQ_KEY_OP_CREATE, &y);
    assert_int_equal(block(f), KQ_TX_UNAUTHORIZED);
    struct kq_keeper_tx u = {.n_usage = 1};
    strcpy(u.usage[0].name, "x");
    u.usage[0].ops = 1;
    queue_keeper(f, &f->k[3], KQ_KEEPER_OP_USAGE, &u);
    assert_int_equal(block(f), KQ_TX_UNAUTHORIZED);
    e.epoch = 2;
    queue_keeper(f, &f->k[3], KQ_KEEPER_OP_EPOCH_KEY, &e);
    assert_int_equal(block(f), KQ_TX_UNAUTHORIZED);
    struct kq_keeper_tx lost = {.epoch = 1};
    memset(lost.pk, 4, 32);
    memset(lost.next_pk, 5, 32);
    queue_keeper(f, &f->k[3], KQ_KEEPER_OP_LOST, &lost);
    assert_int_equal(block(f), KQ_TX_UNAUTHORIZED);
    struct kq_keeper_tx dm = {.msg = (const uint8_t *)"x", .msg_len = 1};
    queue_keeper(f, &f->k[3], KQ_KEEPER_OP_DKG_MSG, &dm);
    assert_int_equal(block(f), KQ_TX_UNAUTHORIZED);
    /* unknown key */
    struct kq_key_tx r = key_body("nope");
    queue_key(f, f->admin_sk, KQ_KEY_OP_ROTATE, &r);
    assert_int_equal(block(f), KQ_TX_NOT_FOUND);
    /* bad fields */
    r = key_body("bad");
    r.t = 5;
    queue_key(f, f->admin_sk, KQ_KEY_OP_CREATE, &r);
    assert_int_equal(block(f), KQ_TX_INVALID);
}

/* A complaint of recipient `from` against dealer `against` in session s. */
static void complaint(const struct kq_session_rec *s, uint32_t from, uint32_t against,
                      uint8_t out[256], size_t *len)
{
    struct kq_dkg_msg m = {.type = KQ_DKG_MSG_COMPLAINT, .sender = from, .count = 1};
    memcpy(m.session, s->id.b, 32);
    m.idx[0] = against;
    assert_int_equal(kq_dkg_msg_encode(&m, out, 256, len), KQ_OK);
}

static void test_dkg_message_rules(void **state)
{
    struct fx *f = *state;
    publish_keys(f);
    block(f);
    struct kq_key_tx b = key_body("m");
    queue_key(f, f->admin_sk, KQ_KEY_OP_CREATE, &b);
    assert_int_equal(block(f), KQ_TX_OK);
    struct kq_keyver_rec v;
    assert_int_equal(kq_keyreg_version(f->st, "m", 1, &v), KQ_OK);
    struct kq_session_rec *s = malloc(sizeof *s);
    assert_non_null(s);
    assert_int_equal(kq_keyreg_session(f->st, &v.session, s), KQ_OK);
    /* keeper 1 deals; its deal again is a duplicate; keeper 1's deal sent by keeper 2 is not its */
    keepers_step(f);
    size_t queued = f->n_txs;
    assert_true(queued >= 4);
    struct kq_tx first;
    assert_int_equal(kq_tx_decode(&first, f->txs[0].data, f->txs[0].len), KQ_OK);
    struct kq_keeper_tx deal;
    assert_int_equal(kq_keeper_tx_decode(KQ_KEEPER_OP_DKG_MSG, &deal, first.body, first.body_len),
                     KQ_OK);
    uint8_t *copy = malloc(deal.msg_len);
    assert_non_null(copy);
    memcpy(copy, deal.msg, deal.msg_len);
    struct kq_keeper_tx again = {.session = deal.session, .msg = copy, .msg_len = deal.msg_len};
    queue_keeper(f, &f->k[0], KQ_KEEPER_OP_DKG_MSG, &again);
    queue_keeper(f, &f->k[1], KQ_KEEPER_OP_DKG_MSG, &again);
    block(f);
    assert_int_equal(f->res[0].status, KQ_TX_OK);
    assert_int_equal(f->res[queued].status, KQ_TX_EXISTS);
    assert_int_equal(f->res[queued + 1].status, KQ_TX_INVALID);
    /* a complaint before the deal deadline is outside its window */
    uint32_t j = (uint32_t)index_of(s->keepers, s->n, f->k[0].id);
    assert_true(j >= 1);
    uint8_t cbuf[256];
    struct kq_keeper_tx cm = {.session = s->id, .msg = cbuf};
    complaint(s, j, j % s->n + 1, cbuf, &cm.msg_len);
    queue_keeper(f, &f->k[0], KQ_KEEPER_OP_DKG_MSG, &cm);
    assert_int_equal(block(f), KQ_TX_EXPIRED);
    /* in the block at the deal deadline: a deal is late; complaints are in their window, once
     * per sender, each from its own index */
    while (f->height + 1 < s->deal_deadline)
        block(f);
    queue_keeper(f, &f->k[0], KQ_KEEPER_OP_DKG_MSG, &again);
    queue_keeper(f, &f->k[1], KQ_KEEPER_OP_DKG_MSG, &cm); /* keeper 1's complaint */
    queue_keeper(f, &f->k[0], KQ_KEEPER_OP_DKG_MSG, &cm);
    queue_keeper(f, &f->k[0], KQ_KEEPER_OP_DKG_MSG, &cm);
    block(f);
    assert_int_equal(f->height, s->deal_deadline);
    assert_int_equal(f->res[0].status, KQ_TX_EXPIRED);
    assert_int_equal(f->res[1].status, KQ_TX_INVALID);
    assert_int_equal(f->res[2].status, KQ_TX_OK);
    assert_int_equal(f->res[3].status, KQ_TX_EXISTS);
    assert_int_equal(kq_keyreg_session(f->st, &v.session, s), KQ_OK);
    assert_int_equal(s->complaints, 1);
    /* a finished session takes no message; an unknown one is not found */
    while (f->height <= s->justify_deadline)
        block(f);
    assert_int_equal(kq_keyreg_session(f->st, &v.session, s), KQ_OK);
    assert_int_not_equal(s->state, KQ_SESSION_RUNNING);
    queue_keeper(f, &f->k[0], KQ_KEEPER_OP_DKG_MSG, &again);
    assert_int_equal(block(f), KQ_TX_CONFLICT);
    again.session.b[0] ^= 1;
    queue_keeper(f, &f->k[0], KQ_KEEPER_OP_DKG_MSG, &again);
    assert_int_equal(block(f), KQ_TX_NOT_FOUND);
    free(copy);
    free(s);
}

static void test_codecs(void **state)
{
    (void)state;
    struct kq_key_rec k = {.usage = 1,
                           .state = 1,
                           .n = 4,
                           .t = 3,
                           .latest_version = 2,
                           .active_version = 1,
                           .min_decryption_version = 1};
    strcpy(k.name, "a.b-c_d");
    strcpy(k.creator, "admin");
    uint8_t buf[512];
    size_t len;
    assert_int_equal(kq_key_rec_encode(&k, buf, sizeof buf, &len), KQ_OK);
    struct kq_key_rec d;
    assert_int_equal(kq_key_rec_decode(&d, buf, len), KQ_OK);
    assert_memory_equal(&d, &k, sizeof k);
    assert_int_equal(kq_key_rec_decode(&d, buf, len - 1), KQ_ERR_TRUNCATED);
    buf[len] = 0;
    assert_int_equal(kq_key_rec_decode(&d, buf, len + 1), KQ_ERR_FORMAT);
    buf[0] = 9;
    assert_int_equal(kq_key_rec_decode(&d, buf, len), KQ_ERR_VERSION);
    k.t = 5; /* t > n */
    assert_int_equal(kq_key_rec_encode(&k, buf, sizeof buf, &len), KQ_OK);
    assert_int_equal(kq_key_rec_decode(&d, buf, len), KQ_ERR_FORMAT);
    k.t = 3;
    strcpy(k.name, "bad name");
    assert_int_equal(kq_key_rec_encode(&k, buf, sizeof buf, &len), KQ_OK);
    assert_int_equal(kq_key_rec_decode(&d, buf, len), KQ_ERR_FORMAT);
    assert_false(kq_key_name_ok("", 0));
    assert_false(kq_key_name_ok("a/b", 3));
    assert_true(kq_key_name_ok("A-z.0_9", 7));
    /* key tx bodies: a refresh names no key; others need one */
    struct kq_key_tx t = {0};
    assert_int_equal(kq_key_tx_encode(KQ_KEY_OP_REFRESH, &t, buf, sizeof buf, &len), KQ_OK);
    struct kq_key_tx td;
    assert_int_equal(kq_key_tx_decode(KQ_KEY_OP_REFRESH, &td, buf, len), KQ_OK);
    assert_int_equal(kq_key_tx_decode(KQ_KEY_OP_ROTATE, &td, buf, len), KQ_ERR_FORMAT);
    assert_int_equal(kq_key_tx_decode(99, &td, buf, len), KQ_ERR_FORMAT);
    struct kq_keeper_tx kt = {.epoch = 1};
    assert_int_equal(kq_keeper_tx_encode(KQ_KEEPER_OP_EPOCH_KEY, &kt, buf, sizeof buf, &len),
                     KQ_OK);
    struct kq_keeper_tx ktd;
    assert_int_equal(kq_keeper_tx_decode(KQ_KEEPER_OP_EPOCH_KEY, &ktd, buf, len), KQ_ERR_FORMAT);
    /* a full running-session list is one state value */
    struct kq_session_list *l = calloc(1, sizeof *l), *ld = calloc(1, sizeof *ld);
    assert_non_null(l);
    assert_non_null(ld);
    for (uint32_t i = 0; i < KQ_KEYREG_MAX_SESSIONS; i++) {
        l->ids[i].b[0] = (uint8_t)i;
        l->ids[i].b[1] = (uint8_t)(i >> 8);
        l->due[i] = 1000 + i;
    }
    l->count = KQ_KEYREG_MAX_SESSIONS;
    struct kq_smt *st = kq_smt_new();
    assert_non_null(st);
    assert_int_equal(kq_keyreg_put_sessions(&st, l), KQ_OK);
    assert_int_equal(kq_keyreg_sessions(st, ld), KQ_OK);
    assert_memory_equal(ld, l, sizeof *l);
    l->count++;
    assert_int_equal(kq_keyreg_put_sessions(&st, l), KQ_ERR_LIMIT);
    kq_smt_unref(st);
    free(l);
    free(ld);
    struct kq_keyparams p;
    kq_keyparams_default(&p);
    assert_int_equal(kq_keyparams_check(&p), KQ_OK);
    p.dkg_deal_blocks = 0;
    assert_int_equal(kq_keyparams_check(&p), KQ_ERR_INVALID_ARG);
}

/* The same blocks give the same states on two independent runs: a whole lifecycle (create,
 * rotation, activation, refresh, a keeper's lost store and its reshare) recorded block by block,
 * then replayed from a fresh genesis state with the root compared after every block. The DKG
 * randomness is the keepers' own and is in the recorded messages; every registry decision
 * (committees, sessions, finalization by transcript replay, epochs) must be reproduced. */
static void test_determinism(void **state)
{
    struct fx *f = *state;
    f->log = calloc(MAX_LOGGED, sizeof *f->log);
    assert_non_null(f->log);
    f->logging = true;
    create_key(f, "det");
    struct kq_key_tx b = key_body("det"), r = {0};
    queue_key(f, f->admin_sk, KQ_KEY_OP_ROTATE, &b);
    assert_int_equal(block(f), KQ_TX_OK);
    struct vstate act = {"det", 2, KQ_KEYVER_ACTIVE};
    assert_true(run_until(f, version_is, &act, 60));
    queue_key(f, f->admin_sk, KQ_KEY_OP_REFRESH, &r);
    assert_int_equal(block(f), KQ_TX_OK);
    assert_true(run_until(f, no_sessions, NULL, 60));
    lose_store(f, &f->k[2], 2);
    assert_int_equal(block(f), KQ_TX_OK);
    assert_true(run_until(f, no_sessions, NULL, 60));
    check_sharing(f, "det", 1, 3);
    f->logging = false;
    assert_true(f->n_logged > 30);
    struct kq_smt *st = NULL;
    assert_int_equal(kq_state_genesis(f->g, &st), KQ_OK);
    struct kq_tx_result *res = calloc(MAX_TXS, sizeof *res);
    assert_non_null(res);
    for (size_t i = 0; i < f->n_logged; i++) {
        const struct logged *l = &f->log[i];
        struct kq_smt *post = NULL;
        assert_int_equal(kq_state_apply_block(st, l->height, l->ms, l->txs, l->n, &post, res),
                         KQ_OK);
        kq_hash root;
        kq_smt_root(post, &root);
        assert_true(kq_hash_eq(&root, &l->root));
        kq_smt_unref(st);
        st = post;
    }
    kq_hash a, c;
    kq_smt_root(st, &a);
    kq_smt_root(f->st, &c);
    assert_true(kq_hash_eq(&a, &c));
    free(res);
    kq_smt_unref(st);
}

int main(void)
{
    if (kq_init(0) != KQ_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codecs),
        cmocka_unit_test_setup_teardown(test_create, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rotate_refresh_lost, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_advance_during_session, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_keeper_removed, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_silent_and_failed, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_share, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_delete_and_min_version, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_usage_rotation, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_evidence, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_authorization, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_dkg_message_rules, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_determinism, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
