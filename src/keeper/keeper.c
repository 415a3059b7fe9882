/* The keeper core: events, the ledger-driven duties (epoch keys, DKG participation, erasure, a
 * lost store) and the core contract (docs/keys.md §3). Invariants: an epoch key is submitted only
 * once its wrapped secret is durable; a DKG machine is rebuilt from the ledger alone (its seed is
 * KDF(epoch X25519 secret, session id)); a share is sealed and persisted (sync) the step its
 * machine finishes; nothing served is erased, and nothing erased is still served. */
#include "keeper/keeper.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/buf.h"
#include "base/mem.h"
#include "keeper/keeper_internal.h"

#define SEED_TAG "keyquorum/v1/keeper/dkg-seed"

static struct keeper *state_of(void *state)
{
    struct keeper *k = state;
    KQ_ASSERT(k != NULL && k->magic == KS_MAGIC && k->sec != NULL);
    return k;
}

static const struct keeper *cstate_of(const void *state)
{
    const struct keeper *k = state;
    KQ_ASSERT(k != NULL && k->magic == KS_MAGIC);
    return k;
}

static enum kq_err keeper_init(void *state, uint32_t self, const uint32_t *peers, size_t n_peers,
                               const void *config)
{
    struct keeper *k = state;
    const struct kq_keeper_config *cfg = config;
    (void)peers;
    (void)n_peers;
    KQ_ASSERT(k != NULL);
    KQ_ENSURE(cfg != NULL && cfg->random != NULL, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(cfg->node_id == self && self != 0 && self != KQ_PEER_ALL, KQ_ERR_INVALID_ARG);
    memset(k, 0, sizeof *k);
    k->sec = kq_secure_alloc(sizeof *k->sec);
    KQ_ENSURE(k->sec != NULL, KQ_ERR_NOMEM);
    memcpy(k->sec->identity_sk, cfg->identity_sk, sizeof k->sec->identity_sk);
    memcpy(k->sec->kek, cfg->kek, sizeof k->sec->kek);
    k->self = self;
    k->random = cfg->random;
    k->random_ctx = cfg->random_ctx;
    k->nonce_ttl_ms =
        cfg->frost_nonce_ttl_ms ? cfg->frost_nonce_ttl_ms : KQ_KEEPER_DEFAULT_NONCE_TTL_MS;
    k->resubmit_blocks =
        cfg->resubmit_blocks ? cfg->resubmit_blocks : KQ_KEEPER_DEFAULT_RESUBMIT_BLOCKS;
    k->byzantine = cfg->byzantine_partials;
    k->next_token = 1;
    k->magic = KS_MAGIC;
    return KQ_OK;
}

static void session_free(struct keeper *k, size_t i)
{
    struct ks_session *s = k->sessions[i];
    if (s == NULL)
        return;
    kq_dkg_free(s->m);
    free(s);
    k->sessions[i] = NULL;
}

static void keeper_fini(void *state)
{
    struct keeper *k = state;
    if (k == NULL || k->magic != KS_MAGIC)
        return;
    for (size_t i = 0; i < KQ_KEYREG_MAX_SESSIONS; i++)
        session_free(k, i);
    ks_nonces_drop_key(k, NULL);
    kq_secure_free(k->sec);
    k->sec = NULL;
    k->magic = 0;
}

enum kq_err ks_submit(struct keeper *k, uint16_t op, const struct kq_keeper_tx *b,
                      struct kq_actions *out)
{
    size_t len = 0;
    k->txbuf[0] = (uint8_t)(KQ_TX_FAMILY_KEEPER >> 8);
    k->txbuf[1] = (uint8_t)KQ_TX_FAMILY_KEEPER;
    k->txbuf[2] = (uint8_t)(op >> 8);
    k->txbuf[3] = (uint8_t)op;
    KQ_GUARD(kq_keeper_tx_encode(op, b, k->txbuf + 4, sizeof k->txbuf - 4, &len));
    return kq_actions_status_data(out, KQ_STATUS_SUBMIT_TX, k->self, op, k->txbuf, len + 4);
}

/* ---- epoch keys and a lost store ---- */

static bool due(const struct keeper *k, uint64_t last)
{
    return last == 0 || k->height >= last + k->resubmit_blocks;
}

/* True if the ledger holds an epoch key of ours for E that no durable local secret matches. */
static bool ledger_key_unmatched(struct keeper *k, uint64_t epoch)
{
    uint8_t pk[KQ_DKG_X25519BYTES];
    if (kq_keyreg_epoch_key(k->ledger, k->self, epoch, pk) != KQ_OK)
        return false;
    struct ks_epoch *e = ks_epoch_find(k, epoch);
    return e == NULL || !e->has_x || memcmp(e->x_pk, pk, sizeof pk) != 0;
}

/* Our store lost the secrets of keys the ledger publishes for us: fresh keys for the current and
 * next epoch, persisted, then LOST (resubmitted until the ledger shows them). */
static enum kq_err report_lost(struct keeper *k, struct kq_actions *out)
{
    uint64_t cur = k->cur_epoch;
    if (k->lost_token != 0)
        return KQ_OK; /* the fresh keys are not durable yet */
    if (k->lost_epoch != cur) {
        uint64_t token = k->next_token++;
        KQ_GUARD(ks_epoch_generate(k, cur, token, out));
        KQ_GUARD(ks_epoch_generate(k, cur + 1, token, out));
        k->lost_token = token;
        k->lost_epoch = cur;
        k->lost_at = 0;
        return KQ_OK;
    }
    struct ks_epoch *a = ks_epoch_find(k, cur), *b = ks_epoch_find(k, cur + 1);
    KQ_ASSERT(a != NULL && b != NULL && a->durable && b->durable);
    if (!due(k, k->lost_at))
        return KQ_OK;
    memset(&k->tx, 0, sizeof k->tx);
    k->tx.epoch = cur;
    memcpy(k->tx.pk, a->x_pk, sizeof k->tx.pk);
    memcpy(k->tx.next_pk, b->x_pk, sizeof k->tx.next_pk);
    KQ_GUARD(ks_submit(k, KQ_KEEPER_OP_LOST, &k->tx, out));
    k->lost_at = k->height;
    return KQ_OK;
}

static enum kq_err publish_epoch_key(struct keeper *k, uint64_t epoch, struct kq_actions *out)
{
    uint8_t pk[KQ_DKG_X25519BYTES];
    if (kq_keyreg_epoch_key(k->ledger, k->self, epoch, pk) == KQ_OK)
        return KQ_OK;
    struct ks_epoch *e = ks_epoch_find(k, epoch);
    if (e == NULL || !e->has_x || !e->has_k)
        return ks_epoch_generate(k, epoch, k->next_token++, out);
    if (!e->durable || !due(k, e->submitted_at))
        return KQ_OK;
    memset(&k->tx, 0, sizeof k->tx);
    k->tx.epoch = epoch;
    memcpy(k->tx.pk, e->x_pk, sizeof k->tx.pk);
    KQ_GUARD(ks_submit(k, KQ_KEEPER_OP_EPOCH_KEY, &k->tx, out));
    e->submitted_at = k->height;
    return KQ_OK;
}

static enum kq_err epoch_keys(struct keeper *k, struct kq_actions *out)
{
    uint64_t cur = k->cur_epoch;
    if (ledger_key_unmatched(k, cur) || ledger_key_unmatched(k, cur + 1) || k->lost_token != 0)
        return report_lost(k, out);
    k->lost_epoch = 0;
    k->lost_at = 0;
    KQ_GUARD(publish_epoch_key(k, cur, out));
    return publish_epoch_key(k, cur + 1, out);
}

/* ---- DKG sessions ---- */

static uint32_t position(const uint32_t *ids, uint32_t n, uint32_t self)
{
    for (uint32_t i = 0; i < n && i < KQ_DKG_MAX_N; i++)
        if (ids[i] == self)
            return i + 1;
    return 0;
}

static struct ks_session *session_find(struct keeper *k, const kq_hash *id, size_t *at)
{
    for (size_t i = 0; i < KQ_KEYREG_MAX_SESSIONS; i++) {
        if (k->sessions[i] != NULL && memcmp(&k->sessions[i]->id, id, sizeof *id) == 0) {
            *at = i;
            return k->sessions[i];
        }
    }
    return NULL;
}

static void note_out(struct ks_session *s, const struct kq_dkg_actions *a)
{
    struct kq_dkg_msg h;
    for (size_t i = 0; i < a->count; i++) {
        if (s->n_out >= KS_MAX_OUT ||
            kq_dkg_msg_decode_header(a->msgs[i].bytes, a->msgs[i].len, &h) != KQ_OK)
            continue;
        struct ks_out_msg *o = &s->out[s->n_out++];
        memset(o, 0, sizeof *o);
        o->type = h.type;
        o->sender = h.sender;
        o->len = a->msgs[i].len;
        memcpy(o->bytes, a->msgs[i].bytes, o->len);
    }
}

/* The machine finished: seal and persist its share (if any), free it. */
static enum kq_err settle(struct keeper *k, struct ks_session *s, struct kq_actions *out)
{
    enum kq_err err = KQ_OK;
    if (kq_dkg_status(s->m) == KQ_DKG_RUNNING)
        return KQ_OK;
    if (kq_dkg_status(s->m) == KQ_DKG_DONE) {
        KQ_TRY(kq_dkg_result(s->m, &k->sec->result));
        if (k->sec->result.has_share) {
            memcpy(k->sec->share, k->sec->result.share, KQ_SCALARBYTES);
            KQ_TRY(ks_share_store(k, s->name, s->version, s->epoch, out));
        }
        s->finished = true;
    } else {
        s->dead = true;
    }
out:
    kq_dkg_result_wipe(&k->sec->result);
    kq_wipe(k->sec->share, sizeof k->sec->share);
    kq_dkg_free(s->m);
    s->m = NULL;
    if (err != KQ_OK && err != KQ_ERR_NOMEM)
        s->dead = true; /* e.g. no sealing key for the epoch: cannot hold the share */
    return err == KQ_ERR_OVERFLOW || err == KQ_ERR_NOMEM ? err : KQ_OK;
}

static enum kq_err feed_height(struct keeper *k, struct ks_session *s, uint64_t h,
                               struct kq_actions *out)
{
    if (s->m == NULL || h <= s->fed_height)
        return KQ_OK;
    s->fed_height = h;
    enum kq_err err = kq_dkg_on_height(s->m, h, &k->dact);
    (void)err; /* a failure shows in the machine's status, which settle reads */
    note_out(s, &k->dact);
    return settle(k, s, out);
}

/* Feeds the recorded messages not yet delivered, each height before its messages, then the
 * ledger's height. */
static enum kq_err feed(struct keeper *k, struct ks_session *s, uint32_t msg_count,
                        struct kq_actions *out)
{
    struct kq_dkg_msg h;
    for (uint32_t i = s->delivered; i < msg_count && s->m != NULL; i++) {
        KQ_GUARD(kq_keyreg_session_msg(k->ledger, &s->id, i, &k->smsg));
        KQ_GUARD(feed_height(k, s, k->smsg.height, out));
        if (kq_dkg_msg_decode_header(k->smsg.bytes, k->smsg.len, &h) == KQ_OK)
            for (size_t j = 0; j < s->n_out; j++)
                if (s->out[j].type == h.type && s->out[j].sender == k->smsg.sender)
                    s->out[j].seen = true;
        if (s->m != NULL) {
            /* a rejected message has no effect on the machine: nothing to do */
            enum kq_err err =
                kq_dkg_on_message(s->m, k->smsg.sender, k->smsg.bytes, k->smsg.len, &k->dact);
            (void)err;
            note_out(s, &k->dact);
            KQ_GUARD(settle(k, s, out));
        }
        s->delivered = i + 1;
    }
    return feed_height(k, s, k->height, out);
}

static enum kq_err submit_out(struct keeper *k, struct ks_session *s, struct kq_actions *out)
{
    for (size_t i = 0; i < s->n_out; i++) {
        struct ks_out_msg *o = &s->out[i];
        uint8_t t = o->type;
        uint64_t deadline = t >= 1 && t <= 3 ? s->deadlines[t - 1] : 0;
        if (o->seen || k->height >= deadline || !due(k, o->submitted_at))
            continue;
        memset(&k->tx, 0, sizeof k->tx);
        memcpy(&k->tx.session, &s->id, sizeof s->id);
        k->tx.msg = o->bytes;
        k->tx.msg_len = o->len;
        KQ_GUARD(ks_submit(k, KQ_KEEPER_OP_DKG_MSG, &k->tx, out));
        o->submitted_at = k->height;
    }
    return KQ_OK;
}

/* My X25519 secret whose public key is pk (the session's record of my published key). */
static struct ks_epoch *secret_for(struct keeper *k, const uint8_t pk[KQ_DKG_X25519BYTES])
{
    for (size_t i = 0; i < KQ_KEEPER_MAX_EPOCHS; i++)
        if (k->epochs[i].used && k->epochs[i].has_x &&
            memcmp(k->epochs[i].x_pk, pk, KQ_DKG_X25519BYTES) == 0)
            return &k->epochs[i];
    return NULL;
}

static void derive_seed(struct keeper *k, const uint8_t x_sk[32], const kq_hash *id)
{
    struct kq_ts ts;
    uint8_t d[64];
    kq_ts_init(&ts, SEED_TAG);
    kq_ts_put(&ts, x_sk, 32);
    kq_ts_put(&ts, id, sizeof *id);
    kq_ts_digest(&ts, d);
    memcpy(k->sec->seed, d, KQ_DKG_SEEDBYTES);
    kq_wipe(d, sizeof d);
}

/* Builds the machine of session record k->srec for this keeper (my_index / my_old as found);
 * *dead when it cannot take part (its secrets are gone). */
static enum kq_err build_machine(struct keeper *k, struct ks_session *s, uint32_t me,
                                 uint32_t me_old, struct kq_actions *out)
{
    const struct kq_session_rec *r = &k->srec;
    enum kq_err err = KQ_OK;
    bool reshare = r->mode == KQ_DKG_RESHARE;
    struct ks_share *old =
        r->mode == KQ_DKG_FRESH ? NULL : ks_share_find(k, r->name, r->version, r->old_epoch);
    if (reshare && old == NULL)
        me_old = 0; /* no old share (a lost store): only receive */
    if (me == 0 && me_old == 0) {
        s->finished = true;
        return KQ_OK;
    }
    const uint8_t *pk = me != 0 ? r->pks[me - 1] : r->old_pks[me_old - 1];
    struct ks_epoch *e = secret_for(k, pk);
    uint32_t dealer = reshare ? me_old : me;
    KQ_CHECK(e != NULL, KQ_ERR_NOT_FOUND);
    if (r->mode != KQ_DKG_FRESH && dealer != 0) {
        KQ_CHECK(old != NULL, KQ_ERR_NOT_FOUND);
        KQ_TRY(ks_share_open(k, old));
    }
    s->xsk_epoch = e->epoch;
    derive_seed(k, k->sec->epochs[ks_epoch_at(k, e)].x_sk, &r->id);
    struct kq_dkg_cfg cfg = {
        .mode = (enum kq_dkg_mode)r->mode,
        .n = r->n,
        .t = r->t,
        .pks = r->pks,
        .old_n = r->old_n,
        .old_t = r->old_t,
        .old_pks = reshare ? r->old_pks : NULL,
        .old_commits = r->mode == KQ_DKG_FRESH ? NULL : r->old_commits,
        .my_index = me,
        .my_old_index = reshare ? me_old : 0,
        .epoch_sk = k->sec->epochs[ks_epoch_at(k, e)].x_sk,
        .old_share = r->mode != KQ_DKG_FRESH && dealer != 0 ? k->sec->share : NULL,
        .seed = k->sec->seed,
        .deal_deadline = r->deal_deadline,
        .complaint_deadline = r->complaint_deadline,
        .justify_deadline = r->justify_deadline,
    };
    memcpy(cfg.session, &r->id, sizeof cfg.session);
    KQ_TRY(kq_dkg_new(&s->m, &cfg));
    KQ_TRY(kq_dkg_start(s->m, &k->dact));
    note_out(s, &k->dact);
out:
    kq_wipe(k->sec->share, sizeof k->sec->share);
    kq_wipe(k->sec->seed, sizeof k->sec->seed);
    (void)out;
    if (err != KQ_OK) {
        kq_dkg_free(s->m);
        s->m = NULL;
        s->dead = true;
    }
    return err == KQ_ERR_NOMEM ? err : KQ_OK;
}

/* A slot for session id (read into k->srec): a participant gets a machine, an observer a
 * slot that only remembers it need not look again. */
static enum kq_err session_open(struct keeper *k, const kq_hash *id, struct ks_session **out_s,
                                struct kq_actions *out)
{
    size_t at = 0;
    struct ks_session *s = session_find(k, id, &at);
    *out_s = s;
    if (s != NULL)
        return KQ_OK;
    for (at = 0; at < KQ_KEYREG_MAX_SESSIONS && k->sessions[at] != NULL; at++)
        ;
    KQ_ENSURE(at < KQ_KEYREG_MAX_SESSIONS, KQ_ERR_LIMIT);
    KQ_GUARD(kq_keyreg_session(k->ledger, id, &k->srec));
    s = calloc(1, sizeof *s);
    KQ_ENSURE(s != NULL, KQ_ERR_NOMEM);
    k->sessions[at] = s;
    *out_s = s;
    s->id = *id;
    snprintf(s->name, sizeof s->name, "%s", k->srec.name);
    s->version = k->srec.version;
    s->epoch = k->srec.epoch;
    s->deadlines[0] = k->srec.deal_deadline;
    s->deadlines[1] = k->srec.complaint_deadline;
    s->deadlines[2] = k->srec.justify_deadline;
    uint32_t me = position(k->srec.keepers, k->srec.n, k->self);
    uint32_t me_old =
        k->srec.mode == KQ_DKG_RESHARE ? position(k->srec.old_keepers, k->srec.old_n, k->self) : 0;
    if (me == 0 && me_old == 0) {
        s->finished = true; /* an observer: nothing to do */
        return KQ_OK;
    }
    return build_machine(k, s, me, me_old, out);
}

/* Drives one session to the ledger's height; submits what it has to say. */
static enum kq_err session_drive(struct keeper *k, struct ks_session *s, struct kq_actions *out)
{
    if (s->m == NULL)
        return KQ_OK;
    enum kq_err err = kq_keyreg_session(k->ledger, &s->id, &k->srec);
    if (err == KQ_ERR_NOT_FOUND) {
        kq_dkg_free(s->m);
        s->m = NULL;
        s->dead = true;
        return KQ_OK;
    }
    KQ_GUARD(err);
    KQ_GUARD(feed(k, s, k->srec.msg_count, out));
    if (k->srec.state != KQ_SESSION_RUNNING)
        return KQ_OK;
    return submit_out(k, s, out);
}

static enum kq_err run_sessions(struct keeper *k, struct kq_actions *out)
{
    enum kq_err err = kq_keyreg_sessions(k->ledger, &k->slist);
    if (err == KQ_ERR_NOT_FOUND)
        k->slist.count = 0;
    else
        KQ_GUARD(err);
    for (size_t i = 0; i < KQ_KEYREG_MAX_SESSIONS; i++)
        if (k->sessions[i] != NULL)
            k->sessions[i]->seen_live = false;
    for (uint32_t i = 0; i < k->slist.count && i < KQ_KEYREG_MAX_SESSIONS; i++) {
        struct ks_session *s = NULL;
        KQ_GUARD(session_open(k, &k->slist.ids[i], &s, out));
        s->seen_live = true;
        KQ_GUARD(session_drive(k, s, out));
    }
    /* sessions that left dkg/active (finalized at this height): finish them, then forget */
    for (size_t i = 0; i < KQ_KEYREG_MAX_SESSIONS; i++) {
        struct ks_session *s = k->sessions[i];
        if (s == NULL || s->seen_live)
            continue;
        KQ_GUARD(session_drive(k, s, out));
        session_free(k, i);
    }
    return KQ_OK;
}

/* ---- recovery of shares the ledger says we hold (restart, epoch change) ---- */

static enum kq_err recover_sharing(struct keeper *k, const char *name, uint32_t v, uint64_t epoch,
                                   struct kq_actions *out)
{
    struct ks_session *s = NULL;
    size_t at = 0;
    if (epoch == 0 || ks_share_find(k, name, v, epoch) != NULL)
        return KQ_OK;
    if (kq_keyreg_sharing(k->ledger, name, v, epoch, &k->sharing) != KQ_OK)
        return KQ_OK;
    if (position(k->sharing.keepers, k->sharing.n, k->self) == 0)
        return KQ_OK;
    kq_hash id = k->sharing.session;
    if (session_find(k, &id, &at) != NULL || kq_keyreg_session(k->ledger, &id, &k->srec) != KQ_OK)
        return KQ_OK;
    KQ_GUARD(session_open(k, &id, &s, out));
    KQ_GUARD(session_drive(k, s, out));
    KQ_ASSERT(session_find(k, &id, &at) == s);
    session_free(k, at);
    return KQ_OK;
}

static enum kq_err recover_key(struct keeper *k, const char *name, struct kq_actions *out)
{
    struct kq_key_rec key;
    struct kq_keyver_rec v;
    if (kq_keyreg_key(k->ledger, name, &key) != KQ_OK || key.state == KQ_KEY_DELETED)
        return KQ_OK;
    for (uint32_t ver = key.min_decryption_version; ver >= 1 && ver <= key.latest_version; ver++) {
        if (kq_keyreg_version(k->ledger, name, ver, &v) != KQ_OK)
            continue;
        if (v.state != KQ_KEYVER_ACTIVE && v.state != KQ_KEYVER_DECRYPT_ONLY &&
            v.state != KQ_KEYVER_PENDING)
            continue;
        KQ_GUARD(recover_sharing(k, name, ver, v.epoch, out));
        if (v.prev_until_height > k->height)
            KQ_GUARD(recover_sharing(k, name, ver, v.prev_epoch, out));
    }
    return KQ_OK;
}

static enum kq_err recover_all(struct keeper *k, struct kq_actions *out)
{
    enum kq_err err = kq_keyreg_index(k->ledger, &k->index);
    if (err == KQ_ERR_NOT_FOUND)
        return KQ_OK;
    KQ_GUARD(err);
    for (uint32_t i = 0; i < k->index.count && i < KQ_KEYREG_MAX_KEYS; i++)
        KQ_GUARD(recover_key(k, k->index.keys[i].name, out));
    return KQ_OK;
}

/* ---- erasure ---- */

static bool share_served(struct keeper *k, const struct ks_share *s)
{
    struct kq_key_rec key;
    struct kq_keyver_rec v;
    enum kq_err err = kq_keyreg_key(k->ledger, s->name, &key);
    if (err != KQ_OK)
        return true; /* unknown to this state: keep rather than guess */
    if (key.state == KQ_KEY_DELETED)
        return false;
    if (kq_keyreg_version(k->ledger, s->name, s->version, &v) != KQ_OK)
        return true;
    if (v.state == KQ_KEYVER_RETIRED || v.state == KQ_KEYVER_DELETED || v.state == KQ_KEYVER_FAILED)
        return false;
    if (s->epoch >= v.epoch)
        return true; /* current, or made by a refresh the version has not switched to yet */
    return s->epoch == v.prev_epoch && k->height < v.prev_until_height;
}

/* Whether a running machine still needs the epoch's sealing key (its share will be sealed under
 * K_E of the session's epoch) or X25519 secret (the one it was built with). */
static bool epoch_in_use(const struct keeper *k, uint64_t epoch, bool x)
{
    for (size_t i = 0; i < KQ_KEYREG_MAX_SESSIONS; i++) {
        const struct ks_session *s = k->sessions[i];
        if (s != NULL && s->m != NULL && (x ? s->xsk_epoch : s->epoch) == epoch)
            return true;
    }
    return false;
}

static enum kq_err erase_unserved(struct keeper *k, struct kq_actions *out)
{
    char key[KQ_CORE_MAX_RECORD_KEY];
    for (size_t i = 0; i < KQ_KEEPER_MAX_SHARES; i++)
        if (k->shares[i].used && !share_served(k, &k->shares[i]))
            KQ_GUARD(ks_share_erase(k, &k->shares[i], out));
    for (size_t i = 0; i < KQ_KEEPER_MAX_EPOCHS; i++) {
        struct ks_epoch *e = &k->epochs[i];
        if (!e->used || e->epoch >= k->cur_epoch)
            continue;
        bool shares = false;
        for (size_t j = 0; j < KQ_KEEPER_MAX_SHARES && !shares; j++)
            shares = k->shares[j].used && k->shares[j].epoch == e->epoch;
        if (e->has_k && !shares && !epoch_in_use(k, e->epoch, false)) {
            ks_key_ke(key, e->epoch);
            KQ_GUARD(kq_actions_erase(out, key));
            ks_epoch_drop_k(k, e);
        }
        /* x_E stays while a share of E is held: dealing from E (refresh, reshare) needs both */
        if (e->used && e->has_x && !shares && !epoch_in_use(k, e->epoch, true)) {
            ks_key_xsk(key, e->epoch);
            KQ_GUARD(kq_actions_erase(out, key));
            ks_epoch_drop_x(k, e);
        }
    }
    return KQ_OK;
}

/* ---- events ---- */

static enum kq_err on_ledger(struct keeper *k, const struct kq_event *ev, struct kq_actions *out)
{
    struct kq_epoch_rec er;
    KQ_ENSURE(k->started, KQ_ERR_STATE);
    KQ_ENSURE(ev->ledger_state != NULL, KQ_ERR_INVALID_ARG);
    k->ledger = ev->ledger_state;
    k->height = ev->ledger_height;
    enum kq_err err = kq_keyreg_epoch(k->ledger, &er);
    if (err == KQ_ERR_NOT_FOUND)
        return KQ_OK; /* no key registry on this chain (yet) */
    KQ_GUARD(err);
    k->cur_epoch = er.number;
    KQ_GUARD(epoch_keys(k, out));
    KQ_GUARD(run_sessions(k, out));
    if (k->scanned_epoch != k->cur_epoch) {
        KQ_GUARD(recover_all(k, out));
        k->scanned_epoch = k->cur_epoch;
    }
    return erase_unserved(k, out);
}

static enum kq_err on_write_done(struct keeper *k, const struct kq_event *ev,
                                 struct kq_actions *out)
{
    bool any = false;
    if (ev->write_token == 0)
        return KQ_OK; /* a share record: nothing waits for it */
    for (size_t i = 0; i < KQ_KEEPER_MAX_EPOCHS; i++) {
        struct ks_epoch *e = &k->epochs[i];
        if (e->used && e->write_token == ev->write_token) {
            e->durable = true;
            e->write_token = 0;
            any = true;
        }
    }
    if (k->lost_token != 0 && k->lost_token == ev->write_token)
        k->lost_token = 0;
    if (!any || k->ledger == NULL || k->cur_epoch == 0)
        return KQ_OK;
    return epoch_keys(k, out); /* publish now: the ledger may be idle */
}

static enum kq_err keeper_step(void *state, const struct kq_event *ev, struct kq_actions *out)
{
    struct keeper *k = state_of(state);
    KQ_ASSERT(ev != NULL && out != NULL);
    switch (ev->kind) {
    case KQ_EV_RESTORE:
        KQ_ENSURE(!k->started && ev->record_key != NULL, KQ_ERR_STATE);
        return ks_restore(k, ev->record_key, ev->payload, ev->payload_len);
    case KQ_EV_START:
        KQ_ENSURE(!k->started, KQ_ERR_STATE);
        k->started = true;
        return kq_actions_status(out, KQ_STATUS_READY, k->self, 0);
    case KQ_EV_LEDGER:
        return on_ledger(k, ev, out);
    case KQ_EV_FRAME:
        KQ_ENSURE(k->started, KQ_ERR_STATE);
        return ks_on_request(k, ev, out);
    case KQ_EV_TIMER:
        KQ_ENSURE(k->started && ev->timer == KQ_KEEPER_TIMER_NONCES, KQ_ERR_STATE);
        return ks_on_nonce_timer(k, ev->now_ms, out);
    case KQ_EV_WRITE_DONE:
        KQ_ENSURE(k->started, KQ_ERR_STATE);
        return on_write_done(k, ev, out);
    case KQ_EV_PEER_UP:
    case KQ_EV_PEER_DOWN:
    case KQ_EV_PEERS:
        return KQ_OK; /* the keeper answers whoever asks; the ledger says who may */
    case KQ_EV_REQUEST:
        return KQ_ERR_INVALID_ARG;
    }
    return KQ_ERR_INVALID_ARG;
}

const struct kq_core_ops kq_keeper_core = {
    .name = "keeper",
    .state_size = sizeof(struct keeper),
    .init = keeper_init,
    .step = keeper_step,
    .fini = keeper_fini,
};

/* ---- queries ---- */

size_t kq_keeper_share_count(const void *state)
{
    return cstate_of(state)->n_shares;
}

bool kq_keeper_has_share(const void *state, const char *name, uint32_t version, uint64_t epoch)
{
    return ks_share_find((struct keeper *)(uintptr_t)cstate_of(state), name, version, epoch) !=
           NULL;
}

bool kq_keeper_has_epoch_secret(const void *state, uint64_t epoch)
{
    struct ks_epoch *e = ks_epoch_find((struct keeper *)(uintptr_t)cstate_of(state), epoch);
    return e != NULL && e->has_x;
}

bool kq_keeper_has_sealing_key(const void *state, uint64_t epoch)
{
    struct ks_epoch *e = ks_epoch_find((struct keeper *)(uintptr_t)cstate_of(state), epoch);
    return e != NULL && e->has_k;
}

size_t kq_keeper_nonce_count(const void *state)
{
    return cstate_of(state)->n_nonces;
}
