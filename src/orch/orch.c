/* The orchestrator core (orch.h, docs/keys.md §4). Each flow is a slot in a bounded table: what
 * the request named, the ledger facts it was started with (version, epoch, the sharing's
 * committee and public shares), the keepers asked and what they answered. Invariants: a flow
 * replies exactly once and is then wiped (plaintexts, partials and DEKs included); a keeper's
 * answer is used only if it matches the flow's request id, the keeper asked and its committee
 * index; a keeper named faulty is never asked again by the flow. */
#include "orch/orch.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/roles.h"
#include "crypto/frost.h"
#include "crypto/partial.h"
#include "crypto/tkem.h"
#include "crypto/tprf.h"
#include "ledger/keyreg.h"
#include "ledger/smt.h"
#include "ledger/tx_client.h"
#include "ledger/tx_member.h"
#include "orch/orch_msg.h"
#include "wire/keeper_msg.h"

#define ORCH_MAGIC 0x6f726368u
KQ_STATIC_ASSERT(KQ_ORCH_MAX_FLOWS <= 4096, "flows are searched linearly");

enum slot_state { SL_IDLE = 0, SL_ASKED, SL_DONE, SL_REFUSED, SL_FAULTY };

struct slot { /* one committee member, for one flow */
    uint8_t state;
    uint64_t sent_ms;
    enum kq_err refusal;
    struct kq_partial_resp resp; /* unwrap, derive */
    struct kq_frost_resp frost;  /* sign: round 1 then round 2 */
    uint8_t sealed[KQ_PARTIAL_MAXBYTES + crypto_box_SEALBYTES];
    size_t sealed_len;
};

struct flow {
    bool used;
    uint64_t request_id; /* the runtime's */
    uint8_t op, flags;
    uint8_t kreq_id[KQ_PARTIAL_REQIDBYTES];
    char name[KQ_KEY_NAME_MAX_BYTES + 1];
    char client[KQ_LEDGER_CLIENT_ID_MAX_BYTES + 1];
    uint32_t version;
    uint64_t epoch;
    uint8_t S[KQ_POINTBYTES];
    struct kq_sharing_rec sh;
    struct kq_label *label;
    uint8_t *ct; /* the binary ciphertext (decrypt, rewrap) */
    size_t ct_len;
    struct kq_tkem_ct dec;
    uint8_t *msg; /* sign */
    size_t msg_len;
    uint8_t round; /* sign: 1 or 2 */
    uint32_t retries;
    struct slot *slots; /* sh.n entries */
};

struct kstat { /* what this orchestrator saw of a keeper */
    uint32_t id;
    uint32_t inflight;
    uint64_t ewma_us;
};

struct table {
    bool used;
    uint8_t S[KQ_POINTBYTES];
    struct kq_pt_table *t;
    uint64_t last_use;
};

struct usage {
    char name[KQ_KEY_NAME_MAX_BYTES + 1];
    uint64_t ops;
};

struct orch {
    uint32_t magic;
    uint32_t self;
    struct kq_orch_config cfg;
    const struct kq_smt *st; /* valid until the next KQ_EV_LEDGER */
    uint64_t height, now_ms, use_clock;
    bool tick_armed, usage_armed;
    size_t n_flows;
    struct flow *flows; /* KQ_ORCH_MAX_FLOWS */
    struct kstat kstats[KQ_MAX_NODES];
    struct table tables[KQ_ORCH_MAX_TABLES];
    size_t n_usage;
    struct usage usage[KQ_KEYREG_MAX_USAGE_ITEMS];
    uint8_t buf[KQ_KEEPER_REQ_MAX_BYTES > KQ_ORCH_REQ_MAX_BYTES ? KQ_KEEPER_REQ_MAX_BYTES
                                                                : KQ_ORCH_REQ_MAX_BYTES];
};

static struct orch *state_of(void *state)
{
    struct orch *o = *(struct orch **)state;
    KQ_ASSERT(o != NULL && o->magic == ORCH_MAGIC);
    return o;
}

/* ---- keepers: stats and choice ---- */

static struct kstat *kstat(struct orch *o, uint32_t id)
{
    struct kstat *free_slot = NULL;
    for (size_t i = 0; i < KQ_MAX_NODES; i++) {
        if (o->kstats[i].id == id)
            return &o->kstats[i];
        if (o->kstats[i].id == 0 && free_slot == NULL)
            free_slot = &o->kstats[i];
    }
    if (free_slot == NULL)
        free_slot = &o->kstats[id % KQ_MAX_NODES];
    *free_slot = (struct kstat){.id = id};
    return free_slot;
}

static bool quarantined(const struct orch *o, uint32_t id)
{
    struct kq_keeper_rec k;
    return kq_keyreg_keeper(o->st, id, &k) == KQ_OK && k.quarantined;
}

/* The idle member to ask next: not quarantined, fewest in flight, then lowest latency. */
static int pick(struct orch *o, struct flow *f)
{
    int best = -1;
    uint64_t best_score = UINT64_MAX;
    for (uint32_t i = 0; i < f->sh.n; i++) {
        if (f->slots[i].state != SL_IDLE || quarantined(o, f->sh.keepers[i]))
            continue;
        struct kstat *s = kstat(o, f->sh.keepers[i]);
        uint64_t score = (uint64_t)s->inflight * 1000000u + s->ewma_us;
        if (score < best_score) {
            best_score = score;
            best = (int)i;
        }
    }
    return best;
}

static size_t count(const struct flow *f, uint8_t state)
{
    size_t n = 0;
    for (uint32_t i = 0; i < f->sh.n; i++)
        n += f->slots[i].state == state;
    return n;
}

/* ---- the flow table ---- */

static void flow_free(struct orch *o, struct flow *f)
{
    for (uint32_t i = 0; f->slots != NULL && i < f->sh.n; i++)
        if (f->slots[i].state == SL_ASKED) {
            struct kstat *s = kstat(o, f->sh.keepers[i]);
            if (s->inflight > 0)
                s->inflight--;
        }
    if (f->label != NULL) {
        kq_wipe(f->label, sizeof *f->label);
        free(f->label);
    }
    if (f->ct != NULL)
        free(f->ct);
    if (f->msg != NULL)
        free(f->msg);
    if (f->slots != NULL) {
        kq_wipe(f->slots, f->sh.n * sizeof *f->slots);
        free(f->slots);
    }
    kq_wipe(f, sizeof *f);
    KQ_ASSERT(o->n_flows > 0);
    o->n_flows--;
}

/* Transient buffers that may hold secrets: heap, wiped before they are freed. */
static void tmp_free(uint8_t *p, size_t n)
{
    if (p == NULL)
        return;
    kq_wipe(p, n);
    free(p);
}

static enum kq_err reply_err(struct orch *o, struct flow *f, enum kq_err err,
                             struct kq_actions *out)
{
    uint64_t rid = f->request_id;
    flow_free(o, f);
    return kq_actions_reply(out, rid, err, NULL, 0);
}

static enum kq_err reply(struct orch *o, struct flow *f, const struct kq_orch_reply *r,
                         struct kq_actions *out)
{
    size_t len = 0;
    enum kq_err err = kq_orch_reply_encode(r, o->buf, sizeof o->buf, &len);
    uint64_t rid = f->request_id;
    if (err == KQ_OK)
        err = kq_actions_reply(out, rid, KQ_OK, o->buf, len);
    kq_wipe(o->buf, len);
    flow_free(o, f);
    return err;
}

/* ---- usage counting ---- */

static void count_use(struct orch *o, const char *name)
{
    for (size_t i = 0; i < o->n_usage; i++)
        if (strcmp(o->usage[i].name, name) == 0) {
            o->usage[i].ops++;
            return;
        }
    if (o->n_usage < KQ_KEYREG_MAX_USAGE_ITEMS) {
        snprintf(o->usage[o->n_usage].name, sizeof o->usage[0].name, "%s", name);
        o->usage[o->n_usage++].ops = 1;
    }
}

static enum kq_err submit_tx(struct orch *o, uint16_t family, uint16_t op, const uint8_t *body,
                             size_t len, struct kq_actions *out)
{
    uint8_t *p = malloc(4 + len);
    KQ_ENSURE(p != NULL, KQ_ERR_NOMEM);
    p[0] = (uint8_t)(family >> 8), p[1] = (uint8_t)family;
    p[2] = (uint8_t)(op >> 8), p[3] = (uint8_t)op;
    memcpy(p + 4, body, len);
    enum kq_err err = kq_actions_status_data(out, KQ_STATUS_SUBMIT_TX, o->self, op, p, 4 + len);
    free(p);
    return err;
}

static enum kq_err report_usage(struct orch *o, struct kq_actions *out)
{
    o->usage_armed = false;
    if (o->n_usage == 0)
        return KQ_OK;
    struct kq_keeper_tx *b = calloc(1, sizeof *b);
    uint8_t *body = malloc(KQ_TX_MAX_BODY_BYTES);
    enum kq_err err = b != NULL && body != NULL ? KQ_OK : KQ_ERR_NOMEM;
    size_t len = 0;
    if (err == KQ_OK) {
        b->n_usage = (uint32_t)o->n_usage;
        for (size_t i = 0; i < o->n_usage; i++) {
            memcpy(b->usage[i].name, o->usage[i].name, sizeof b->usage[i].name);
            b->usage[i].ops = o->usage[i].ops;
        }
        err = kq_keeper_tx_encode(KQ_KEEPER_OP_USAGE, b, body, KQ_TX_MAX_BODY_BYTES, &len);
    }
    if (err == KQ_OK)
        err = submit_tx(o, KQ_TX_FAMILY_KEEPER, KQ_KEEPER_OP_USAGE, body, len, out);
    if (err == KQ_OK)
        o->n_usage = 0;
    free(b);
    free(body);
    return err;
}

/* ---- public-key tables for wrapping ---- */

static enum kq_err table_for(struct orch *o, const uint8_t S[KQ_POINTBYTES],
                             const struct kq_pt_table **t)
{
    struct table *victim = &o->tables[0];
    for (size_t i = 0; i < KQ_ORCH_MAX_TABLES; i++) {
        struct table *e = &o->tables[i];
        if (e->used && memcmp(e->S, S, KQ_POINTBYTES) == 0) {
            e->last_use = ++o->use_clock;
            *t = e->t;
            return KQ_OK;
        }
        if (!e->used || (victim->used && e->last_use < victim->last_use))
            victim = e;
    }
    if (victim->used)
        kq_pt_table_free(victim->t);
    victim->used = false;
    KQ_GUARD(kq_pt_table_new(&victim->t, S));
    memcpy(victim->S, S, KQ_POINTBYTES);
    victim->used = true;
    victim->last_use = ++o->use_clock;
    *t = victim->t;
    return KQ_OK;
}

/* ---- ledger facts ---- */

/* The key, checked for usage and state. */
static enum kq_err key_for(const struct orch *o, const char *name, uint8_t usage,
                           struct kq_key_rec *k)
{
    KQ_ENSURE(o->st != NULL, KQ_ERR_BUSY);
    KQ_GUARD(kq_keyreg_key(o->st, name, k));
    KQ_ENSURE(k->state != KQ_KEY_DELETED, KQ_ERR_NOT_FOUND);
    KQ_ENSURE(k->usage == usage, KQ_ERR_TYPE);
    KQ_ENSURE(k->state == KQ_KEY_ENABLED, KQ_ERR_STATE);
    return KQ_OK;
}

/* Version v of k usable for `use` (new wraps and signatures: the active one; decrypt, derive and
 * verify: any live version >= min): its record and current sharing into f. */
static enum kq_err version_for(struct orch *o, const struct kq_key_rec *k, uint32_t v, bool any,
                               struct flow *f)
{
    struct kq_keyver_rec rec;
    if (v == 0)
        v = k->active_version;
    KQ_ENSURE(v != 0, KQ_ERR_STATE); /* no active version yet */
    enum kq_err err = kq_keyreg_version(o->st, k->name, v, &rec);
    KQ_ENSURE(err != KQ_ERR_NOT_FOUND, KQ_ERR_NOT_FOUND);
    KQ_GUARD(err);
    if (!any)
        KQ_ENSURE(rec.state == KQ_KEYVER_ACTIVE, KQ_ERR_STATE);
    KQ_ENSURE(rec.state != KQ_KEYVER_RETIRED && v >= k->min_decryption_version, KQ_ERR_EXPIRED);
    KQ_ENSURE(rec.state == KQ_KEYVER_ACTIVE || rec.state == KQ_KEYVER_DECRYPT_ONLY ||
                  rec.state == KQ_KEYVER_PENDING,
              KQ_ERR_NOT_FOUND);
    f->version = v;
    f->epoch = rec.epoch;
    memcpy(f->S, rec.public_key, KQ_POINTBYTES);
    KQ_GUARD(kq_keyreg_sharing(o->st, k->name, v, rec.epoch, &f->sh));
    f->slots = calloc(f->sh.n, sizeof *f->slots);
    return f->slots != NULL ? KQ_OK : KQ_ERR_NOMEM;
}

/* ---- asking keepers ---- */

static enum kq_err send_req(struct orch *o, struct flow *f, uint32_t i, uint8_t op,
                            struct kq_actions *out, const struct kq_orch_req *q)
{
    struct kq_keeper_req *r = calloc(1, sizeof *r);
    KQ_ENSURE(r != NULL, KQ_ERR_NOMEM);
    memcpy(r->request_id, f->kreq_id, sizeof r->request_id);
    r->op = op;
    memcpy(r->name, f->name, sizeof r->name);
    r->version = f->version;
    r->epoch = f->epoch;
    memcpy(r->client, f->client, sizeof r->client);
    r->seal = (f->flags & KQ_ORCH_SEALED) != 0 && op == KQ_KREQ_UNWRAP;
    if (op == KQ_KREQ_UNWRAP) {
        r->ct_type = f->dec.type;
        memcpy(r->R, f->dec.R, KQ_POINTBYTES);
        memcpy(r->ct_proof, f->dec.proof, KQ_PROOFBYTES);
    }
    if (q != NULL && (op == KQ_KREQ_UNWRAP || op == KQ_KREQ_DERIVE)) {
        r->n_ctx = q->n_ctx;
        memcpy(r->ctx, q->ctx, q->n_ctx * sizeof q->ctx[0]);
    }
    if (op == KQ_KREQ_FROST_SIGN) {
        r->msg = f->msg;
        r->msg_len = f->msg_len;
        for (uint32_t j = 0; j < f->sh.n; j++)
            if (f->slots[j].state == SL_DONE || f->slots[j].state == SL_ASKED)
                r->commits[r->n_commits++] = f->slots[j].frost.commitment;
    }
    size_t len = 0;
    enum kq_err err = kq_keeper_req_encode(r, o->buf, sizeof o->buf, &len);
    free(r);
    if (err == KQ_OK)
        err = kq_actions_send(out, f->sh.keepers[i], KQ_FRAME_KEEPER_REQ, o->buf, len);
    KQ_GUARD(err);
    f->slots[i].state = SL_ASKED;
    f->slots[i].sent_ms = o->now_ms;
    kstat(o, f->sh.keepers[i])->inflight++;
    if (!o->tick_armed) {
        o->tick_armed = true;
        KQ_GUARD(kq_actions_timer(out, KQ_ORCH_TIMER_TICK, KQ_ORCH_TICK_MS));
    }
    return KQ_OK;
}

static uint8_t keeper_op(const struct flow *f)
{
    switch (f->op) {
    case KQ_ORCH_DECRYPT:
    case KQ_ORCH_REWRAP:
        return KQ_KREQ_UNWRAP;
    case KQ_ORCH_DERIVE:
        return KQ_KREQ_DERIVE;
    default:
        return f->round == 2 ? KQ_KREQ_FROST_SIGN : KQ_KREQ_FROST_COMMIT;
    }
}

/* The request a flow was made from, decoded again from the copy it keeps (f->msg holds the raw
 * request for unwrap and derive flows). */
static enum kq_err flow_request(const struct flow *f, struct kq_orch_req *q)
{
    return kq_orch_req_decode(q, f->msg, f->msg_len);
}

/* Asks idle members until t are asked or answered; false when too few remain. */
static enum kq_err fill(struct orch *o, struct flow *f, struct kq_actions *out, bool *short_of)
{
    struct kq_orch_req *q = NULL;
    *short_of = false;
    while (count(f, SL_ASKED) + count(f, SL_DONE) < f->sh.t) {
        int i = pick(o, f);
        if (i < 0) {
            *short_of = true;
            break;
        }
        if (q == NULL && f->op != KQ_ORCH_SIGN) {
            q = malloc(sizeof *q);
            KQ_ENSURE(q != NULL, KQ_ERR_NOMEM);
            enum kq_err err = flow_request(f, q);
            if (err != KQ_OK) {
                free(q);
                return err;
            }
        }
        enum kq_err err = send_req(o, f, (uint32_t)i, keeper_op(f), out, q);
        if (err != KQ_OK) {
            free(q);
            return err;
        }
    }
    free(q);
    return KQ_OK;
}

/* The most telling reason the flow failed: a refusal shared by the keepers (their verdict on
 * the request), else too few keepers. */
static enum kq_err failure(const struct flow *f)
{
    for (uint32_t i = 0; i < f->sh.n; i++)
        if (f->slots[i].state == SL_REFUSED && f->slots[i].refusal != KQ_ERR_TIMEOUT &&
            f->slots[i].refusal != KQ_ERR_BUSY && f->slots[i].refusal != KQ_ERR_NOT_FOUND)
            return f->slots[i].refusal;
    return KQ_ERR_THRESHOLD;
}

static enum kq_err advance(struct orch *o, struct flow *f, struct kq_actions *out);

/* ---- finishing flows ---- */

static enum kq_err finish_sealed(struct orch *o, struct flow *f, struct kq_actions *out)
{
    struct kq_orch_reply r = {
        .kind = KQ_ORCH_R_SEALED, .version = f->version, .epoch = f->epoch, .t = f->sh.t};
    for (uint32_t i = 0; i < f->sh.n && r.n_sealed < f->sh.t; i++)
        if (f->slots[i].state == SL_DONE)
            r.sealed[r.n_sealed++] = (struct kq_orch_sealed){.keeper = f->sh.keepers[i],
                                                             .index = i + 1,
                                                             .bytes = f->slots[i].sealed,
                                                             .len = f->slots[i].sealed_len};
    count_use(o, f->name);
    return reply(o, f, &r, out);
}

/* A keeper whose combine contribution was false: logged, its signed response submitted as
 * evidence when it is attributable, and never asked again by this flow. */
static enum kq_err blame(struct orch *o, struct flow *f, uint32_t i, bool evidence,
                         struct kq_actions *out)
{
    struct kq_member_node m;
    f->slots[i].state = SL_FAULTY;
    KQ_GUARD(kq_actions_status(out, KQ_STATUS_KEEPER_FAULTY, f->sh.keepers[i], f->sh.keepers[i]));
    if (!evidence || kq_member_get(o->st, f->sh.keepers[i], &m) != KQ_OK ||
        kq_partial_verify(&f->slots[i].resp, m.identity_pk) != KQ_OK)
        return KQ_OK; /* not attributable: no evidence */
    uint8_t resp[KQ_PARTIAL_MAXBYTES], body[KQ_PARTIAL_MAXBYTES + 256];
    size_t rlen = 0, blen = 0;
    KQ_GUARD(kq_partial_encode(resp, sizeof resp, &rlen, &f->slots[i].resp));
    struct kq_evidence_tx e = {.keeper = f->sh.keepers[i],
                               .version = f->version,
                               .epoch = f->epoch,
                               .response = resp,
                               .response_len = rlen};
    memcpy(e.name, f->name, sizeof e.name);
    KQ_GUARD(kq_evidence_tx_encode(&e, body, sizeof body, &blen));
    return submit_tx(o, KQ_TX_FAMILY_EVIDENCE, KQ_EVIDENCE_OP_PARTIAL, body, blen, out);
}

static enum kq_err rewrap_done(struct orch *o, struct flow *f, uint8_t *pt, size_t pt_len,
                               struct kq_actions *out)
{
    struct kq_key_rec k;
    struct kq_keyver_rec v;
    const struct kq_pt_table *t;
    struct kq_orch_req q;
    enum kq_err err = key_for(o, f->name, KQ_KEY_USAGE_ENCRYPT, &k);
    if (err == KQ_OK)
        err = kq_keyreg_version(o->st, f->name, k.active_version, &v);
    if (err == KQ_OK)
        err = table_for(o, v.public_key, &t);
    if (err == KQ_OK)
        err = flow_request(f, &q);
    if (err == KQ_OK)
        err = kq_label_build(f->label, (const uint8_t *)f->name, strlen(f->name), v.version,
                             (enum kq_purpose)f->dec.type, q.ctx, q.n_ctx);
    size_t cap = KQ_TKEM_CTBYTES(pt_len), len = 0, tlen = 0;
    uint8_t *bin = malloc(cap);
    char *text = malloc(KQ_TKEM_TEXTBYTES(pt_len));
    if (err == KQ_OK && (bin == NULL || text == NULL))
        err = KQ_ERR_NOMEM;
    if (err == KQ_OK)
        err = kq_tkem_wrap_table(bin, cap, &len, t, f->label, pt, pt_len);
    if (err == KQ_OK)
        err = kq_tkem_to_text(text, KQ_TKEM_TEXTBYTES(pt_len), &tlen, bin, len);
    kq_wipe(pt, pt_len);
    if (err == KQ_OK) {
        struct kq_orch_reply r = {.kind = KQ_ORCH_R_CIPHERTEXT,
                                  .version = v.version,
                                  .data = (const uint8_t *)text,
                                  .data_len = tlen};
        count_use(o, f->name);
        err = reply(o, f, &r, out);
    } else {
        err = reply_err(o, f, err, out);
    }
    free(bin);
    free(text);
    return err;
}

static enum kq_err unwrap_done(struct orch *o, struct flow *f, struct kq_actions *out)
{
    struct kq_tkem_partial parts[KQ_DKG_MAX_N];
    uint8_t S_i[KQ_DKG_MAX_N][KQ_POINTBYTES], faulty[KQ_DKG_MAX_N];
    uint32_t at[KQ_DKG_MAX_N];
    size_t n = 0;
    memset(parts, 0, sizeof parts);
    for (uint32_t i = 0; i < f->sh.n; i++)
        if (f->slots[i].state == SL_DONE &&
            kq_partial_unwrap_part(&parts[n], &f->slots[i].resp) == KQ_OK) {
            memcpy(S_i[n], f->sh.public_shares[i], KQ_POINTBYTES);
            at[n++] = i;
        }
    size_t cap = f->dec.sealed_len > 0 ? f->dec.sealed_len : 1, pt_len = 0;
    uint8_t *pt = malloc(cap); /* transient: wiped before it is freed */
    KQ_ENSURE(pt != NULL, KQ_ERR_NOMEM);
    memset(faulty, 0, sizeof faulty);
    enum kq_err err = kq_tkem_combine(pt, cap, &pt_len, faulty, &f->dec, f->label, f->S, parts,
                                      (const uint8_t(*)[KQ_POINTBYTES])S_i, n, f->sh.t);
    if (err == KQ_ERR_BAD_PROOF) { /* liars: blame them and ask spares */
        for (size_t j = 0; j < n && err != KQ_ERR_NOMEM; j++)
            if (faulty[j]) {
                enum kq_err e = blame(o, f, at[j], true, out);
                if (e != KQ_OK)
                    err = e;
            }
        tmp_free(pt, cap);
        if (err != KQ_ERR_BAD_PROOF)
            return err;
        return ++f->retries > KQ_ORCH_MAX_RETRIES ? reply_err(o, f, KQ_ERR_BAD_PROOF, out)
                                                  : advance(o, f, out);
    }
    if (err != KQ_OK) {
        tmp_free(pt, cap);
        return reply_err(o, f, err, out);
    }
    if (f->op == KQ_ORCH_REWRAP) {
        err = rewrap_done(o, f, pt, pt_len, out);
        tmp_free(pt, cap);
        return err;
    }
    struct kq_orch_reply r = {
        .kind = KQ_ORCH_R_PLAINTEXT, .version = f->version, .data = pt, .data_len = pt_len};
    count_use(o, f->name);
    err = reply(o, f, &r, out);
    tmp_free(pt, cap);
    return err;
}

static enum kq_err derive_done(struct orch *o, struct flow *f, struct kq_actions *out)
{
    struct kq_tprf_partial parts[KQ_DKG_MAX_N] = {{0}}; /* gcc -O2: maybe-uninitialized */
    uint8_t S_i[KQ_DKG_MAX_N][KQ_POINTBYTES], faulty[KQ_DKG_MAX_N], key[KQ_TPRF_KEYBYTES];
    memset(parts, 0, sizeof parts);
    uint32_t at[KQ_DKG_MAX_N];
    size_t n = 0;
    for (uint32_t i = 0; i < f->sh.n; i++)
        if (f->slots[i].state == SL_DONE) {
            const struct kq_partial_resp *r = &f->slots[i].resp;
            parts[n].index = r->index;
            memcpy(parts[n].Y, r->Z, KQ_POINTBYTES);
            memcpy(parts[n].proof, r->proof, KQ_PROOFBYTES);
            memcpy(S_i[n], f->sh.public_shares[i], KQ_POINTBYTES);
            at[n++] = i;
        }
    memset(faulty, 0, sizeof faulty);
    enum kq_err err = kq_tprf_combine(key, faulty, f->label, parts,
                                      (const uint8_t(*)[KQ_POINTBYTES])S_i, n, f->sh.t);
    if (err == KQ_ERR_BAD_PROOF || (err == KQ_ERR_THRESHOLD && n >= f->sh.t)) {
        for (size_t j = 0; j < n; j++)
            if (faulty[j])
                KQ_GUARD(blame(o, f, at[j], true, out));
        return ++f->retries > KQ_ORCH_MAX_RETRIES ? reply_err(o, f, KQ_ERR_BAD_PROOF, out)
                                                  : advance(o, f, out);
    }
    if (err != KQ_OK)
        return reply_err(o, f, err, out);
    struct kq_orch_reply r = {
        .kind = KQ_ORCH_R_KEY, .version = f->version, .data = key, .data_len = sizeof key};
    count_use(o, f->name);
    err = reply(o, f, &r, out);
    kq_wipe(key, sizeof key);
    return err;
}

static enum kq_err frost_pub(const struct flow *f, struct kq_frost_public_package *pub)
{
    return kq_frost_public_from_commitments(pub, (const uint8_t(*)[KQ_POINTBYTES])f->sh.commits,
                                            f->sh.t, f->sh.n);
}

/* Round one done: round two to the same signers, with the commitment list (slots in index order,
 * so sorted by identifier; a slot being asked stays in the list). */
static enum kq_err sign_round2(struct orch *o, struct flow *f, struct kq_actions *out)
{
    f->round = 2;
    for (uint32_t i = 0; i < f->sh.n; i++)
        if (f->slots[i].state == SL_DONE)
            KQ_GUARD(send_req(o, f, i, KQ_KREQ_FROST_SIGN, out, NULL));
    return KQ_OK;
}

/* Starts round one again with fresh nonces (a new request id), without the faulty. */
static enum kq_err sign_restart(struct orch *o, struct flow *f, struct kq_actions *out)
{
    if (++f->retries > KQ_ORCH_MAX_RETRIES)
        return reply_err(o, f, KQ_ERR_BAD_SIGNATURE, out);
    o->cfg.random(o->cfg.random_ctx, f->kreq_id, sizeof f->kreq_id);
    f->round = 1;
    for (uint32_t i = 0; i < f->sh.n; i++)
        if (f->slots[i].state == SL_DONE || f->slots[i].state == SL_ASKED) {
            if (f->slots[i].state == SL_ASKED && kstat(o, f->sh.keepers[i])->inflight > 0)
                kstat(o, f->sh.keepers[i])->inflight--;
            f->slots[i].state = SL_IDLE;
        }
    return advance(o, f, out);
}

static enum kq_err sign_done(struct orch *o, struct flow *f, struct kq_actions *out)
{
    struct kq_frost_commitment list[KQ_DKG_MAX_N];
    uint8_t shares[KQ_DKG_MAX_N][KQ_FROST_SHAREBYTES], sig[KQ_FROST_SIGBYTES];
    size_t n = 0;
    for (uint32_t i = 0; i < f->sh.n; i++)
        if (f->slots[i].state == SL_DONE) {
            list[n] = f->slots[i].frost.commitment;
            memcpy(shares[n], f->slots[i].frost.share, KQ_FROST_SHAREBYTES);
            n++;
        }
    struct kq_frost_public_package *pub = malloc(sizeof *pub);
    KQ_ENSURE(pub != NULL, KQ_ERR_NOMEM);
    uint32_t culprit = 0;
    enum kq_err err = frost_pub(f, pub);
    if (err == KQ_OK)
        err = kq_frost_aggregate(sig, pub, list, n, (const uint8_t(*)[KQ_FROST_SHAREBYTES])shares,
                                 f->msg, f->msg_len, &culprit);
    free(pub);
    if (err == KQ_OK)
        err = kq_frost_verify(sig, f->S, f->msg, f->msg_len);
    if (err != KQ_OK && culprit >= 1 && culprit <= f->sh.n) {
        KQ_GUARD(blame(o, f, culprit - 1, false, out));
        return sign_restart(o, f, out);
    }
    if (err != KQ_OK)
        return reply_err(o, f, err, out);
    struct kq_orch_reply r = {.kind = KQ_ORCH_R_SIGNATURE,
                              .version = f->version,
                              .data = sig,
                              .data_len = sizeof sig,
                              .extra = f->S,
                              .extra_len = KQ_POINTBYTES};
    count_use(o, f->name);
    return reply(o, f, &r, out);
}

/* Moves a flow on after any change: finish when t answers are in, ask spares, or fail. */
static enum kq_err advance(struct orch *o, struct flow *f, struct kq_actions *out)
{
    if (count(f, SL_DONE) >= f->sh.t && count(f, SL_ASKED) == 0) {
        if (f->op == KQ_ORCH_SIGN)
            return f->round == 1 ? sign_round2(o, f, out) : sign_done(o, f, out);
        if (f->flags & KQ_ORCH_SEALED)
            return finish_sealed(o, f, out);
        return f->op == KQ_ORCH_DERIVE ? derive_done(o, f, out) : unwrap_done(o, f, out);
    }
    if (f->op == KQ_ORCH_SIGN && f->round == 2) {
        if (count(f, SL_ASKED) > 0)
            return KQ_OK;
        return sign_restart(o, f, out); /* a signer of round two refused or timed out */
    }
    bool short_of = false;
    KQ_GUARD(fill(o, f, out, &short_of));
    if (short_of && count(f, SL_ASKED) == 0 && count(f, SL_DONE) < f->sh.t)
        return reply_err(o, f, failure(f), out);
    return KQ_OK;
}

/* ---- starting flows ---- */

static struct flow *flow_new(struct orch *o, uint64_t request_id, const struct kq_orch_req *q)
{
    for (size_t i = 0; i < KQ_ORCH_MAX_FLOWS; i++)
        if (!o->flows[i].used) {
            struct flow *f = &o->flows[i];
            memset(f, 0, sizeof *f);
            f->used = true;
            f->request_id = request_id;
            f->op = q->op;
            f->flags = q->flags;
            memcpy(f->name, q->name, sizeof f->name);
            memcpy(f->client, q->client, sizeof f->client);
            f->round = 1;
            o->cfg.random(o->cfg.random_ctx, f->kreq_id, sizeof f->kreq_id);
            o->n_flows++;
            return f;
        }
    return NULL;
}

/* Datakey and encrypt: a wrap under the active version, no keeper. */
static enum kq_err do_wrap(struct orch *o, const struct kq_event *ev, const struct kq_orch_req *q,
                           struct kq_actions *out)
{
    struct kq_key_rec k;
    struct kq_keyver_rec v;
    const struct kq_pt_table *t;
    KQ_GUARD(key_for(o, q->name, KQ_KEY_USAGE_ENCRYPT, &k));
    KQ_ENSURE(k.active_version != 0, KQ_ERR_STATE);
    KQ_GUARD(kq_keyreg_version(o->st, q->name, k.active_version, &v));
    KQ_GUARD(table_for(o, v.public_key, &t));
    bool dek = q->op == KQ_ORCH_DATAKEY;
    KQ_ENSURE(dek || q->data_len <= KQ_MAX_DATA_PLAINTEXT_BYTES, KQ_ERR_LIMIT);
    struct kq_label *label = malloc(sizeof *label);
    uint8_t key[KQ_TKEM_DEKBYTES];
    size_t pt_len = dek ? KQ_TKEM_DEKBYTES : q->data_len, cap = KQ_TKEM_CTBYTES(pt_len);
    uint8_t *bin = malloc(cap), *rep = malloc(KQ_TKEM_TEXTBYTES(pt_len) + 256);
    char *text = malloc(KQ_TKEM_TEXTBYTES(pt_len));
    enum kq_err err =
        label != NULL && bin != NULL && rep != NULL && text != NULL ? KQ_OK : KQ_ERR_NOMEM;
    size_t len = 0, tlen = 0, rlen = 0;
    if (err == KQ_OK)
        err = kq_label_build(label, (const uint8_t *)q->name, strlen(q->name), v.version,
                             dek ? KQ_PURPOSE_DEK : KQ_PURPOSE_DATA, q->ctx, q->n_ctx);
    if (err == KQ_OK && dek)
        o->cfg.random(o->cfg.random_ctx, key, KQ_TKEM_DEKBYTES);
    if (err == KQ_OK)
        err = kq_tkem_wrap_table(bin, cap, &len, t, label, dek ? key : q->data, pt_len);
    if (err == KQ_OK)
        err = kq_tkem_to_text(text, KQ_TKEM_TEXTBYTES(pt_len), &tlen, bin, len);
    struct kq_orch_reply r = {.kind = KQ_ORCH_R_CIPHERTEXT,
                              .version = v.version,
                              .data = (const uint8_t *)text,
                              .data_len = tlen,
                              .extra = dek ? key : NULL,
                              .extra_len = dek ? KQ_TKEM_DEKBYTES : 0};
    if (err == KQ_OK)
        err = kq_orch_reply_encode(&r, rep, KQ_TKEM_TEXTBYTES(pt_len) + 256, &rlen);
    if (err == KQ_OK) {
        count_use(o, q->name);
        err = kq_actions_reply(out, ev->request_id, KQ_OK, rep, rlen);
        kq_wipe(rep, rlen);
    }
    kq_wipe(key, sizeof key);
    free(label);
    free(bin);
    free(rep);
    free(text);
    return err;
}

static enum kq_err do_verify(struct orch *o, const struct kq_event *ev, const struct kq_orch_req *q,
                             struct kq_actions *out)
{
    struct kq_key_rec k;
    struct kq_keyver_rec v;
    KQ_GUARD(kq_keyreg_key(o->st, q->name, &k));
    KQ_ENSURE(k.state != KQ_KEY_DELETED, KQ_ERR_NOT_FOUND);
    KQ_ENSURE(k.usage == KQ_KEY_USAGE_SIGN, KQ_ERR_TYPE);
    uint32_t ver = q->version != 0 ? q->version : k.active_version;
    KQ_ENSURE(ver != 0, KQ_ERR_STATE);
    enum kq_err err = kq_keyreg_version(o->st, q->name, ver, &v);
    KQ_GUARD(err);
    KQ_ENSURE(v.epoch != 0, KQ_ERR_STATE);
    KQ_ENSURE(q->sig_len == KQ_FROST_SIGBYTES, KQ_ERR_FORMAT);
    struct kq_orch_reply r = {
        .kind = KQ_ORCH_R_VALID,
        .version = ver,
        .valid = kq_frost_verify(q->sig, v.public_key, q->data, q->data_len) == KQ_OK};
    size_t len = 0;
    KQ_GUARD(kq_orch_reply_encode(&r, o->buf, sizeof o->buf, &len));
    return kq_actions_reply(out, ev->request_id, KQ_OK, o->buf, len);
}

/* Decrypt, rewrap, derive and sign: a flow that asks keepers. */
static enum kq_err do_flow(struct orch *o, const struct kq_event *ev, const struct kq_orch_req *q,
                           struct kq_actions *out)
{
    struct kq_key_rec k;
    uint8_t usage = q->op == KQ_ORCH_SIGN     ? KQ_KEY_USAGE_SIGN
                    : q->op == KQ_ORCH_DERIVE ? KQ_KEY_USAGE_DERIVE
                                              : KQ_KEY_USAGE_ENCRYPT;
    KQ_GUARD(key_for(o, q->name, usage, &k));
    struct flow *f = flow_new(o, ev->request_id, q);
    KQ_ENSURE(f != NULL, KQ_ERR_BUSY);
    enum kq_err err = KQ_OK;
    uint32_t version = q->version;
    if (q->op == KQ_ORCH_DECRYPT || q->op == KQ_ORCH_REWRAP) {
        f->ct = malloc(KQ_TKEM_MAXCTBYTES);
        err = f->ct != NULL ? kq_tkem_from_text(f->ct, KQ_TKEM_MAXCTBYTES, &f->ct_len,
                                                (const char *)q->data, q->data_len)
                            : KQ_ERR_NOMEM;
        if (err == KQ_OK)
            err = kq_tkem_decode(&f->dec, f->ct, f->ct_len);
        version = f->dec.version;
        if (err == KQ_OK && version == 0)
            err = KQ_ERR_NOT_FOUND;
        if (err == KQ_OK && q->op == KQ_ORCH_REWRAP)
            f->flags &= (uint8_t)~KQ_ORCH_SEALED; /* the orchestrator re-wraps itself */
        if (err == KQ_OK && f->dec.type != KQ_PURPOSE_DEK)
            f->flags &= (uint8_t)~KQ_ORCH_SEALED; /* data ciphertexts are opened here */
    }
    if (err == KQ_OK)
        err = version_for(o, &k, version, q->op != KQ_ORCH_SIGN, f);
    if (err == KQ_OK && q->op == KQ_ORCH_SIGN) {
        f->msg = malloc(q->data_len > 0 ? q->data_len : 1);
        err = f->msg != NULL ? KQ_OK : KQ_ERR_NOMEM;
        if (err == KQ_OK) {
            memcpy(f->msg, q->data, q->data_len);
            f->msg_len = q->data_len;
        }
    } else if (err == KQ_OK) { /* keep the request: spares need its context */
        f->msg = malloc(ev->payload_len);
        err = f->msg != NULL ? KQ_OK : KQ_ERR_NOMEM;
        if (err == KQ_OK) {
            memcpy(f->msg, ev->payload, ev->payload_len);
            f->msg_len = ev->payload_len;
        }
        f->label = malloc(sizeof *f->label);
        if (err == KQ_OK && f->label == NULL)
            err = KQ_ERR_NOMEM;
        enum kq_purpose purpose =
            q->op == KQ_ORCH_DERIVE ? KQ_PURPOSE_DERIVE : (enum kq_purpose)f->dec.type;
        if (err == KQ_OK)
            err = kq_label_build(f->label, (const uint8_t *)q->name, strlen(q->name), f->version,
                                 purpose, q->ctx, q->n_ctx);
    }
    if (err != KQ_OK) {
        flow_free(o, f);
        return err;
    }
    return advance(o, f, out);
}

static enum kq_err on_request(struct orch *o, const struct kq_event *ev, struct kq_actions *out)
{
    struct kq_orch_req *q = malloc(sizeof *q);
    KQ_ENSURE(q != NULL, KQ_ERR_NOMEM);
    enum kq_err err = kq_orch_req_decode(q, ev->payload, ev->payload_len);
    if (err == KQ_OK && o->st == NULL)
        err = KQ_ERR_BUSY;
    if (err == KQ_OK) {
        if (q->op == KQ_ORCH_DATAKEY || q->op == KQ_ORCH_ENCRYPT)
            err = do_wrap(o, ev, q, out);
        else if (q->op == KQ_ORCH_VERIFY)
            err = do_verify(o, ev, q, out);
        else
            err = do_flow(o, ev, q, out);
    }
    free(q);
    if (err == KQ_OK && !o->usage_armed && o->n_usage > 0) {
        o->usage_armed = true;
        err = kq_actions_timer(out, KQ_ORCH_TIMER_USAGE, o->cfg.usage_report_ms);
    }
    return err;
}

/* ---- keeper answers ---- */

static struct flow *flow_by_kreq(struct orch *o, const uint8_t id[KQ_PARTIAL_REQIDBYTES])
{
    for (size_t i = 0; i < KQ_ORCH_MAX_FLOWS; i++)
        if (o->flows[i].used && sodium_memcmp(o->flows[i].kreq_id, id, KQ_PARTIAL_REQIDBYTES) == 0)
            return &o->flows[i];
    return NULL;
}

static int member(const struct flow *f, uint32_t node)
{
    for (uint32_t i = 0; i < f->sh.n; i++)
        if (f->sh.keepers[i] == node)
            return (int)i;
    return -1;
}

/* Takes a keeper's body into its slot; false if it does not fit the request. */
static bool take(struct flow *f, uint32_t i, const struct kq_keeper_resp *r)
{
    struct slot *s = &f->slots[i];
    if (r->body_kind == KQ_KRESP_SEALED && (f->flags & KQ_ORCH_SEALED) &&
        r->body_len <= sizeof s->sealed) {
        memcpy(s->sealed, r->body, r->body_len);
        s->sealed_len = r->body_len;
        return true;
    }
    if (r->body_kind == KQ_KRESP_PARTIAL && f->op != KQ_ORCH_SIGN && !(f->flags & KQ_ORCH_SEALED))
        return kq_partial_decode(&s->resp, r->body, r->body_len) == KQ_OK &&
               s->resp.index == i + 1 && s->resp.key_version == f->version &&
               s->resp.epoch == f->epoch && s->resp.decision == KQ_DECISION_PERMIT &&
               memcmp(s->resp.request_id, f->kreq_id, KQ_PARTIAL_REQIDBYTES) == 0;
    if (r->body_kind == KQ_KRESP_FROST && f->op == KQ_ORCH_SIGN) {
        struct kq_frost_resp fr;
        if (kq_frost_resp_decode(&fr, r->body, r->body_len) != KQ_OK || fr.index != i + 1 ||
            fr.round != f->round || fr.version != f->version || fr.epoch != f->epoch)
            return false;
        if (f->round == 1)
            s->frost = fr;
        else
            memcpy(s->frost.share, fr.share, KQ_FROST_SHAREBYTES);
        return f->round == 2 || fr.commitment.identifier == i + 1;
    }
    return false;
}

static enum kq_err on_keeper(struct orch *o, const struct kq_event *ev, struct kq_actions *out)
{
    struct kq_keeper_resp r;
    KQ_GUARD(kq_keeper_resp_decode(&r, ev->payload, ev->payload_len));
    struct flow *f = flow_by_kreq(o, r.request_id);
    if (f == NULL)
        return KQ_OK; /* late: the flow is done */
    int i = member(f, ev->peer);
    if (i < 0 || f->slots[i].state != SL_ASKED)
        return KQ_OK;
    struct kstat *s = kstat(o, ev->peer);
    if (s->inflight > 0)
        s->inflight--;
    uint64_t us = (ev->now_ms - f->slots[i].sent_ms) * 1000u;
    s->ewma_us = s->ewma_us == 0 ? us : (s->ewma_us * 7 + us) / 8;
    if (r.status == KQ_OK && take(f, (uint32_t)i, &r)) {
        f->slots[i].state = SL_DONE;
    } else {
        f->slots[i].state = SL_REFUSED;
        f->slots[i].refusal = r.status != KQ_OK ? (enum kq_err)r.status : KQ_ERR_FORMAT;
    }
    return advance(o, f, out);
}

/* ---- timers ---- */

static enum kq_err on_tick(struct orch *o, struct kq_actions *out)
{
    o->tick_armed = false;
    for (size_t k = 0; k < KQ_ORCH_MAX_FLOWS; k++) {
        struct flow *f = &o->flows[k];
        if (!f->used)
            continue;
        bool changed = false;
        for (uint32_t i = 0; i < f->sh.n; i++)
            if (f->slots[i].state == SL_ASKED &&
                o->now_ms - f->slots[i].sent_ms >= o->cfg.keeper_timeout_ms) {
                struct kstat *s = kstat(o, f->sh.keepers[i]);
                if (s->inflight > 0)
                    s->inflight--;
                s->ewma_us += o->cfg.keeper_timeout_ms * 1000u; /* slow: ask others first */
                f->slots[i].state = SL_REFUSED;
                f->slots[i].refusal = KQ_ERR_TIMEOUT;
                changed = true;
            }
        if (changed)
            KQ_GUARD(advance(o, f, out));
    }
    if (o->n_flows > 0 && !o->tick_armed) {
        o->tick_armed = true;
        return kq_actions_timer(out, KQ_ORCH_TIMER_TICK, KQ_ORCH_TICK_MS);
    }
    return KQ_OK;
}

/* ---- the core ---- */

static enum kq_err orch_init(void *state, uint32_t self, const uint32_t *peers, size_t n_peers,
                             const void *config)
{
    const struct kq_orch_config *cfg = config;
    (void)peers;
    (void)n_peers;
    KQ_ENSURE(cfg != NULL && cfg->random != NULL && cfg->node_id == self, KQ_ERR_INVALID_ARG);
    struct orch *o = calloc(1, sizeof *o);
    KQ_ENSURE(o != NULL, KQ_ERR_NOMEM);
    o->flows = calloc(KQ_ORCH_MAX_FLOWS, sizeof *o->flows);
    if (o->flows == NULL) {
        free(o);
        return KQ_ERR_NOMEM;
    }
    o->magic = ORCH_MAGIC;
    o->self = self;
    o->cfg = *cfg;
    if (o->cfg.keeper_timeout_ms == 0)
        o->cfg.keeper_timeout_ms = 2000;
    if (o->cfg.usage_report_ms == 0)
        o->cfg.usage_report_ms = 1000;
    *(struct orch **)state = o;
    return KQ_OK;
}

static void orch_fini(void *state)
{
    struct orch *o = *(struct orch **)state;
    if (o == NULL)
        return;
    for (size_t i = 0; i < KQ_ORCH_MAX_FLOWS; i++)
        if (o->flows[i].used)
            flow_free(o, &o->flows[i]);
    for (size_t i = 0; i < KQ_ORCH_MAX_TABLES; i++)
        if (o->tables[i].used)
            kq_pt_table_free(o->tables[i].t);
    free(o->flows);
    kq_wipe(o, sizeof *o);
    free(o);
    *(struct orch **)state = NULL;
}

static enum kq_err orch_step(void *state, const struct kq_event *ev, struct kq_actions *out)
{
    struct orch *o = state_of(state);
    if (ev->now_ms > o->now_ms)
        o->now_ms = ev->now_ms;
    switch (ev->kind) {
    case KQ_EV_LEDGER:
        o->st = ev->ledger_state;
        o->height = ev->ledger_height;
        return KQ_OK;
    case KQ_EV_REQUEST:
        return on_request(o, ev, out);
    case KQ_EV_FRAME:
        KQ_ENSURE(ev->frame_type == KQ_FRAME_KEEPER_RESP, KQ_ERR_TYPE);
        KQ_ENSURE(o->st != NULL, KQ_ERR_STATE);
        return on_keeper(o, ev, out);
    case KQ_EV_TIMER:
        if (ev->timer == KQ_ORCH_TIMER_USAGE)
            return report_usage(o, out);
        return o->st != NULL ? on_tick(o, out) : KQ_OK;
    default: /* restore, start, links, peers, writes: nothing to do */
        return KQ_OK;
    }
}

size_t kq_orch_flow_count(const void *state)
{
    const struct orch *o = *(struct orch *const *)state;
    return o != NULL ? o->n_flows : 0;
}

const struct kq_core_ops kq_orch_core = {
    .name = "orch",
    .state_size = sizeof(struct orch *),
    .init = orch_init,
    .step = orch_step,
    .fini = orch_fini,
};
