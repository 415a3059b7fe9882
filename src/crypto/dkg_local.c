/* In-process DKG driver. Invariants: the transcript is the only channel; every message goes
 * through it and reaches every machine in transcript order, after every machine has seen the
 * height it was sent at; faults rewrite bytes on the channel, never the machines. */
#include "crypto/dkg_local.h"

#include "base/ct.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

#define TAG_LOCAL "keyquorum/v1/dkg-local"

/* Node secrets, in guarded memory. */
struct run_secrets {
    uint8_t master[32];
    uint8_t seed[KQ_DKG_MAX_N][KQ_DKG_SEEDBYTES];
    uint8_t sk[KQ_DKG_MAX_N][KQ_DKG_X25519BYTES];
};

struct run {
    const struct kq_dkg_local_cfg *cfg;
    struct kq_dkg_local_transcript *tr;
    struct run_secrets *sec;
    struct kq_dkg_actions *act;
    uint32_t nodes;
    size_t delivered;
    struct kq_dkg *m[KQ_DKG_MAX_N];
};

uint32_t kq_dkg_local_nodes(const struct kq_dkg_local_cfg *cfg)
{
    if (cfg->mode == KQ_DKG_RESHARE && cfg->old != NULL && cfg->old[0].n > cfg->n)
        return cfg->old[0].n;
    return cfg->n;
}

/* 32 bytes of H(TAG_LOCAL, master, label, k). */
static void derive(const struct run *r, uint8_t out[32], const char *label, uint32_t k)
{
    uint8_t d[64];
    struct kq_ts ts;
    kq_ts_init(&ts, TAG_LOCAL);
    kq_ts_put(&ts, r->sec->master, sizeof r->sec->master);
    kq_ts_put(&ts, label, strlen(label));
    kq_ts_put_u32(&ts, k);
    kq_ts_digest(&ts, d);
    memcpy(out, d, 32);
    kq_wipe(d, sizeof d);
}

static enum kq_err check_cfg(const struct kq_dkg_local_cfg *c)
{
    KQ_ENSURE(c->t >= 1 && c->t <= c->n && c->n <= KQ_DKG_MAX_N, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(c->nfaults <= KQ_DKG_LOCAL_MAX_FAULTS, KQ_ERR_LIMIT);
    KQ_ENSURE(c->nfaults == 0 || c->faults != NULL, KQ_ERR_INVALID_ARG);
    if (c->mode == KQ_DKG_FRESH)
        return KQ_OK;
    KQ_ENSURE(c->old != NULL, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(c->mode != KQ_DKG_REFRESH || (c->old[0].n == c->n && c->old[0].t == c->t),
              KQ_ERR_INVALID_ARG);
    KQ_ENSURE(c->old[0].n >= 1 && c->old[0].n <= KQ_DKG_MAX_N, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(c->lost <= c->old[0].n, KQ_ERR_INVALID_ARG);
    for (uint32_t k = 1; k <= c->old[0].n; k++)
        KQ_ENSURE(c->old[k - 1].index == k, KQ_ERR_INVALID_ARG);
    return KQ_OK;
}

/* The public config: session, keys, committees, old commitments and deadlines. */
static void setup_public(struct run *r)
{
    const struct kq_dkg_local_cfg *c = r->cfg;
    struct kq_dkg_local_transcript *tr = r->tr;
    struct kq_dkg_cfg *p = &tr->pub;
    uint8_t lost_sk[KQ_DKG_X25519BYTES];
    memset(p, 0, sizeof *p);
    p->mode = c->mode;
    derive(r, p->session, "session", (uint32_t)c->mode);
    KQ_DECLASSIFY(p->session, sizeof p->session); /* public: it names the run on the ledger */
    p->n = c->n;
    p->t = c->t;
    for (uint32_t k = 1; k <= r->nodes; k++) {
        derive(r, r->sec->seed[k - 1], "seed", k);
        derive(r, r->sec->sk[k - 1], "epoch", k);
        KQ_ASSERT(crypto_scalarmult_base(tr->old_pks[k - 1], r->sec->sk[k - 1]) == 0);
        KQ_DECLASSIFY(tr->old_pks[k - 1], KQ_DKG_X25519BYTES); /* published epoch key */
        if (k <= c->n)
            memcpy(tr->pks[k - 1], tr->old_pks[k - 1], KQ_DKG_X25519BYTES);
    }
    p->pks = (const uint8_t(*)[KQ_DKG_X25519BYTES])tr->pks;
    if (c->mode != KQ_DKG_FRESH) {
        memcpy(tr->old_commits, c->old[0].commits, sizeof tr->old_commits);
        p->old_commits = (const uint8_t(*)[KQ_POINTBYTES])tr->old_commits;
    }
    if (c->mode == KQ_DKG_RESHARE) {
        p->old_n = c->old[0].n;
        p->old_t = c->old[0].t;
        p->old_pks = (const uint8_t(*)[KQ_DKG_X25519BYTES])tr->old_pks;
        if (c->lost != 0) { /* the dead node's key; its replacement has a new one */
            derive(r, lost_sk, "epoch-lost", c->lost);
            KQ_ASSERT(crypto_scalarmult_base(tr->old_pks[c->lost - 1], lost_sk) == 0);
            KQ_DECLASSIFY(tr->old_pks[c->lost - 1], KQ_DKG_X25519BYTES);
            kq_wipe(lost_sk, sizeof lost_sk);
        }
    }
    p->deal_deadline = KQ_DKG_LOCAL_DEAL_DEADLINE;
    p->complaint_deadline = KQ_DKG_LOCAL_COMPLAINT_DEADLINE;
    p->justify_deadline = KQ_DKG_LOCAL_JUSTIFY_DEADLINE;
}

static enum kq_err new_machine(struct run *r, uint32_t k)
{
    const struct kq_dkg_local_cfg *c = r->cfg;
    struct kq_dkg_cfg mc = r->tr->pub;
    bool reshare = c->mode == KQ_DKG_RESHARE;
    mc.my_index = k <= c->n ? k : 0;
    mc.my_old_index = reshare && k <= mc.old_n && k != c->lost ? k : 0;
    mc.epoch_sk = r->sec->sk[k - 1];
    mc.seed = r->sec->seed[k - 1];
    if (c->mode == KQ_DKG_REFRESH || (reshare && mc.my_old_index != 0)) {
        KQ_ENSURE(c->old[k - 1].has_share, KQ_ERR_INVALID_ARG);
        mc.old_share = c->old[k - 1].share;
    }
    return kq_dkg_new(&r->m[k - 1], &mc);
}

/* ---- The channel ------------------------------------------------------------------------- */

static enum kq_err push(struct run *r, uint64_t height, const uint8_t *bytes, size_t len)
{
    struct kq_dkg_local_transcript *tr = r->tr;
    struct kq_dkg_msg h;
    KQ_ENSURE(tr->count < KQ_DKG_LOCAL_MAX_MSGS - 1, KQ_ERR_LIMIT); /* last slot: scratch */
    KQ_ASSERT(len <= KQ_DKG_MAX_MSG_BYTES);
    KQ_GUARD(kq_dkg_msg_decode_header(bytes, len, &h));
    memmove(tr->store[tr->count], bytes, len);
    tr->msgs[tr->count] = (struct kq_dkg_transcript_msg){
        .height = height, .sender = h.sender, .bytes = tr->store[tr->count], .len = len};
    tr->count++;
    return KQ_OK;
}

/* Offset of a decoded field inside the buffer it was decoded from. */
static size_t off(const uint8_t *field, const uint8_t *base)
{
    KQ_ASSERT(field >= base);
    return (size_t)(field - base);
}

/* Rewrites one deal in place for the faults of its dealer; *drop for a silent dealer. */
static enum kq_err fault_deal(const struct kq_dkg_fault *f, uint8_t *buf, size_t len, bool *drop)
{
    struct kq_dkg_msg d;
    uint8_t one[KQ_SCALARBYTES], g[KQ_POINTBYTES];
    KQ_GUARD(kq_dkg_msg_decode(buf, len, &d));
    uint8_t *last = buf + off(d.commits, buf) + (size_t)(d.t - 1) * KQ_POINTBYTES;
    switch (f->kind) {
    case KQ_DKG_FAULT_SILENT:
        *drop = true;
        break;
    case KQ_DKG_FAULT_BAD_SHARE:
    case KQ_DKG_FAULT_BAD_SHARE_BAD_JUSTIFY:
    case KQ_DKG_FAULT_BAD_SHARE_SILENT:
        KQ_ENSURE(f->victim >= 1 && f->victim <= d.nboxes, KQ_ERR_INVALID_ARG);
        buf[off(d.boxes, buf) + (size_t)(f->victim - 1) * KQ_DKG_BOXBYTES] ^= 1;
        break;
    case KQ_DKG_FAULT_BAD_COMMITMENT:
        memset(last, 0xff, KQ_POINTBYTES);
        break;
    case KQ_DKG_FAULT_WRONG_COMMITMENT:
        kq_sc_from_u32(one, 1);
        kq_pt_mul_base(g, one);
        KQ_GUARD(kq_pt_add(last, last, g));
        break;
    case KQ_DKG_FAULT_BAD_POK:
        if (d.has_pok)
            buf[off(d.pok, buf)] ^= 1;
        break;
    case KQ_DKG_FAULT_NONE:
    case KQ_DKG_FAULT_FALSE_COMPLAINT:
        break;
    }
    return KQ_OK;
}

/* Rewrites one justification in place: a wrong share for the victim, or nothing at all. */
static enum kq_err fault_justification(const struct kq_dkg_fault *f, uint8_t *buf, size_t len,
                                       bool *drop)
{
    struct kq_dkg_msg j;
    uint8_t one[KQ_SCALARBYTES];
    KQ_GUARD(kq_dkg_msg_decode(buf, len, &j));
    if (f->kind == KQ_DKG_FAULT_BAD_SHARE_SILENT)
        *drop = true;
    if (f->kind != KQ_DKG_FAULT_BAD_SHARE_BAD_JUSTIFY)
        return KQ_OK;
    kq_sc_from_u32(one, 1);
    for (uint32_t k = 0; k < j.count; k++) {
        if (j.idx[k] != f->victim)
            continue;
        uint8_t *s = buf + off(j.shares, buf) + (size_t)k * KQ_SCALARBYTES;
        crypto_core_ristretto255_scalar_add(s, s, one);
    }
    return KQ_OK;
}

/* Queues what node k emitted at height, after its dealer faults. */
static enum kq_err collect(struct run *r, uint64_t height)
{
    uint8_t *buf = r->tr->store[KQ_DKG_LOCAL_MAX_MSGS - 1]; /* scratch: the last slot */
    for (size_t a = 0; a < r->act->count; a++) {
        struct kq_dkg_msg h;
        size_t len = r->act->msgs[a].len;
        bool drop = false;
        KQ_ENSURE(r->tr->count < KQ_DKG_LOCAL_MAX_MSGS - 1, KQ_ERR_LIMIT);
        memcpy(buf, r->act->msgs[a].bytes, len);
        KQ_GUARD(kq_dkg_msg_decode_header(buf, len, &h));
        for (size_t k = 0; k < r->cfg->nfaults; k++) {
            const struct kq_dkg_fault *f = &r->cfg->faults[k];
            if (f->dealer != h.sender || h.type == KQ_DKG_MSG_COMPLAINT)
                continue;
            if (h.type == KQ_DKG_MSG_DEAL)
                KQ_GUARD(fault_deal(f, buf, len, &drop));
            else
                KQ_GUARD(fault_justification(f, buf, len, &drop));
        }
        if (!drop)
            KQ_GUARD(push(r, height, buf, len));
    }
    return KQ_OK;
}

/* Adds `dealer` to the victim's complaint queued since `from`, or queues a new complaint. */
static enum kq_err false_complaint(struct run *r, const struct kq_dkg_fault *f, size_t from,
                                   uint64_t height)
{
    struct kq_dkg_msg c = {.type = KQ_DKG_MSG_COMPLAINT, .sender = f->victim};
    uint8_t *buf = r->tr->store[KQ_DKG_LOCAL_MAX_MSGS - 1];
    size_t len = 0, at = r->tr->count;
    for (size_t k = from; k < r->tr->count; k++)
        if (r->tr->msgs[k].sender == f->victim)
            at = k;
    if (at < r->tr->count)
        KQ_GUARD(kq_dkg_msg_decode(r->tr->msgs[at].bytes, r->tr->msgs[at].len, &c));
    memcpy(c.session, r->tr->pub.session, KQ_DKG_SESSIONBYTES);
    uint32_t pos = 0;
    while (pos < c.count && c.idx[pos] < f->dealer)
        pos++;
    if (pos == c.count || c.idx[pos] != f->dealer) {
        KQ_ENSURE(c.count < KQ_DKG_MAX_N, KQ_ERR_LIMIT);
        memmove(&c.idx[pos + 1], &c.idx[pos], (c.count - pos) * sizeof c.idx[0]);
        c.idx[pos] = f->dealer;
        c.count++;
    }
    KQ_GUARD(kq_dkg_msg_encode(&c, buf, KQ_DKG_MAX_MSG_BYTES, &len));
    if (at == r->tr->count)
        return push(r, height, buf, len);
    memcpy(r->tr->store[at], buf, len);
    r->tr->msgs[at].len = len;
    return KQ_OK;
}

/* Delivers every queued, undelivered message to every machine, in queue order. */
static void deliver(struct run *r)
{
    for (; r->delivered < r->tr->count; r->delivered++) {
        const struct kq_dkg_transcript_msg *msg = &r->tr->msgs[r->delivered];
        for (uint32_t k = 0; k < r->nodes; k++) {
            /* Rejections are the machine's verdict; the test reads dealer states. */
            enum kq_err rejected =
                kq_dkg_on_message(r->m[k], msg->sender, msg->bytes, msg->len, r->act);
            (void)rejected;
            KQ_ASSERT(r->act->count == 0); /* machines speak only on start and deadlines */
        }
    }
}

static enum kq_err run_phases(struct run *r)
{
    const uint64_t deadlines[3] = {KQ_DKG_LOCAL_DEAL_DEADLINE, KQ_DKG_LOCAL_COMPLAINT_DEADLINE,
                                   KQ_DKG_LOCAL_JUSTIFY_DEADLINE};
    for (uint32_t k = 0; k < r->nodes; k++) {
        KQ_GUARD(kq_dkg_start(r->m[k], r->act));
        KQ_GUARD(collect(r, 1));
    }
    deliver(r);
    for (size_t p = 0; p < 3; p++) {
        size_t from = r->tr->count;
        for (uint32_t k = 0; k < r->nodes; k++) {
            enum kq_err failed = kq_dkg_on_height(r->m[k], deadlines[p], r->act);
            (void)failed; /* read back from the machine's status below */
            KQ_GUARD(collect(r, deadlines[p]));
        }
        for (size_t f = 0; p == 0 && f < r->cfg->nfaults; f++)
            if (r->cfg->faults[f].kind == KQ_DKG_FAULT_FALSE_COMPLAINT)
                KQ_GUARD(false_complaint(r, &r->cfg->faults[f], from, deadlines[p]));
        deliver(r);
    }
    return KQ_OK;
}

static enum kq_err gather(struct run *r, struct kq_dkg_result *results)
{
    for (uint32_t k = 0; k < r->nodes; k++)
        KQ_ENSURE(kq_dkg_status(r->m[k]) == KQ_DKG_DONE, kq_dkg_error(r->m[k]));
    for (uint32_t k = 0; k < r->nodes; k++)
        KQ_GUARD(kq_dkg_result(r->m[k], &results[k]));
    return KQ_OK;
}

enum kq_err kq_dkg_local_run(const struct kq_dkg_local_cfg *cfg, struct kq_dkg_result *results)
{
    enum kq_err err = KQ_OK;
    struct run r = {.cfg = cfg};
    KQ_ASSERT(cfg != NULL && results != NULL);
    KQ_GUARD(check_cfg(cfg));
    r.nodes = kq_dkg_local_nodes(cfg);
    r.sec = kq_secure_alloc(sizeof *r.sec);
    r.act = calloc(1, sizeof *r.act);
    r.tr = cfg->transcript != NULL ? cfg->transcript : calloc(1, sizeof *r.tr);
    KQ_CHECK(r.sec != NULL && r.act != NULL && r.tr != NULL, KQ_ERR_NOMEM);
    r.tr->count = 0;
    if (cfg->seed != NULL)
        memcpy(r.sec->master, cfg->seed, sizeof r.sec->master);
    else
        kq_random(r.sec->master, sizeof r.sec->master);
    setup_public(&r);
    for (uint32_t k = 1; k <= r.nodes; k++)
        KQ_TRY(new_machine(&r, k));
    KQ_TRY(run_phases(&r));
    KQ_TRY(gather(&r, results));
out:
    for (uint32_t k = 0; k < r.nodes; k++)
        kq_dkg_free(r.m[k]);
    if (err != KQ_OK)
        for (uint32_t k = 0; k < r.nodes; k++)
            kq_dkg_result_wipe(&results[k]);
    kq_secure_free(r.sec);
    free(r.act);
    if (r.tr != cfg->transcript)
        free(r.tr);
    return err;
}
