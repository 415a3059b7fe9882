/* Tests for the orchestrator core (src/orch/): the core driven by hand beside four real keeper
 * cores and the real key registry (tests/keeper/keeper_world.h), frames routed between them in
 * process: datakey then decrypt, encrypt, rewrap after a rotation, FROST sign and verify, derive;
 * a keeper that never answers (a spare after the timeout); a keeper signing wrong partials (named,
 * its evidence submitted, valid for every validator, and applied: quarantined); sealed delivery
 * combined with the client's secret; every refusal with its own error (an unknown version, more
 * than KQ_ORCH_MAX_FLOWS in flight); a signer silent in FROST round two; usage reports. */
#include "../keeper/keeper_world.h"

#include "orch/orch.h"
#include "orch/orch_msg.h"

#define MAX_Q 64

struct msg {
    bool to_orch;
    uint32_t peer;
    size_t len;
    uint8_t *bytes;
};

static struct {
    void *state;
    struct kq_orch_config cfg;
    struct rng rng;
    struct kq_actions *acts;
    uint64_t next_id;
    /* the last reply */
    bool replied;
    enum kq_err status;
    size_t len;
    uint8_t reply[KQ_ORCH_REQ_MAX_BYTES];
    /* observations */
    uint32_t faulty[8];
    size_t n_faulty, n_evidence, n_usage;
    uint8_t evidence[2048];
    size_t evidence_len;
    uint8_t usage[4096];
    size_t usage_len;
    bool drop[NK + 1];
    bool drop_sign[NK + 1]; /* drops only FROST round-two requests to that keeper */
    size_t n_dropped_sign;
    uint32_t asked; /* bit k: keeper k was sent a request */
    bool discard;   /* queues no frame (flows left in flight) */
    size_t qh, qn;
    struct msg q[MAX_Q];
} O;

static void push(bool to_orch, uint32_t peer, const uint8_t *p, size_t len)
{
    assert_true(O.qn < MAX_Q);
    struct msg *m = &O.q[(O.qh + O.qn++) % MAX_Q];
    m->to_orch = to_orch;
    m->peer = peer;
    m->len = len;
    m->bytes = malloc(len ? len : 1);
    assert_non_null(m->bytes);
    memcpy(m->bytes, p, len);
}

static enum kq_err orch_step(const struct kq_event *ev)
{
    kq_actions_reset(O.acts);
    enum kq_err err = kq_orch_core.step(O.state, ev, O.acts);
    for (size_t i = 0; err == KQ_OK && i < O.acts->count; i++) {
        const struct kq_action *a = &O.acts->items[i];
        const uint8_t *p = kq_action_payload(O.acts, a);
        if (a->kind == KQ_ACT_SEND) {
            assert_int_equal(a->frame_type, KQ_FRAME_KEEPER_REQ);
            if (a->peer <= NK)
                O.asked |= 1u << a->peer;
            if (!O.discard)
                push(false, a->peer, p, a->payload_len);
        } else if (a->kind == KQ_ACT_REPLY) {
            O.replied = true;
            O.status = a->reply_status;
            O.len = a->payload_len;
            memcpy(O.reply, p, a->payload_len);
        } else if (a->kind == KQ_ACT_STATUS && a->status == KQ_STATUS_KEEPER_FAULTY) {
            if (O.n_faulty < 8)
                O.faulty[O.n_faulty++] = (uint32_t)a->value;
        } else if (a->kind == KQ_ACT_STATUS && a->status == KQ_STATUS_SUBMIT_TX) {
            uint16_t family = (uint16_t)(p[0] << 8 | p[1]);
            if (family == KQ_TX_FAMILY_EVIDENCE && a->payload_len - 4 <= sizeof O.evidence) {
                O.n_evidence++;
                memcpy(O.evidence, p + 4, a->payload_len - 4);
                O.evidence_len = a->payload_len - 4;
            } else if (family == KQ_TX_FAMILY_KEEPER && a->payload_len - 4 <= sizeof O.usage) {
                O.n_usage++;
                memcpy(O.usage, p + 4, a->payload_len - 4);
                O.usage_len = a->payload_len - 4;
            }
        }
    }
    return err;
}

/* A FROST round-two request to a keeper whose round two is dropped. */
static bool round_two(const struct msg *m)
{
    if (!O.drop_sign[m->peer])
        return false;
    struct kq_keeper_req *r = malloc(sizeof *r);
    assert_non_null(r);
    assert_int_equal(kq_keeper_req_decode(r, m->bytes, m->len), KQ_OK);
    bool two = r->op == KQ_KREQ_FROST_SIGN;
    free(r);
    O.n_dropped_sign += two;
    return two;
}

/* Delivers queued frames until none is left (keepers answer at once). */
static void pump(void)
{
    while (O.qn > 0) {
        struct msg m = O.q[O.qh];
        O.qh = (O.qh + 1) % MAX_Q;
        O.qn--;
        if (m.to_orch) {
            struct kq_event ev = {.kind = KQ_EV_FRAME,
                                  .peer = m.peer,
                                  .frame_type = KQ_FRAME_KEEPER_RESP,
                                  .payload = m.bytes,
                                  .payload_len = m.len,
                                  .now_ms = W->time_ms,
                                  .wall_ms = W->time_ms};
            assert_int_equal(orch_step(&ev), KQ_OK);
        } else if (m.peer >= 1 && m.peer <= NK && !O.drop[m.peer] && !round_two(&m) &&
                   W->nodes[m.peer - 1].state != NULL) {
            struct kq_event ev = {.kind = KQ_EV_FRAME,
                                  .peer = ORCH,
                                  .frame_type = KQ_FRAME_KEEPER_REQ,
                                  .payload = m.bytes,
                                  .payload_len = m.len,
                                  .now_ms = W->time_ms,
                                  .wall_ms = W->time_ms};
            W->resp_len = 0;
            assert_int_equal(step(&W->nodes[m.peer - 1], &ev), KQ_OK);
            if (W->resp_len > 0)
                push(true, m.peer, W->resp, W->resp_len);
        }
        free(m.bytes);
    }
}

static void orch_ledger(void)
{
    struct kq_event le = {.kind = KQ_EV_LEDGER,
                          .ledger_state = W->st,
                          .ledger_height = W->height,
                          .now_ms = W->time_ms};
    assert_int_equal(orch_step(&le), KQ_OK);
}

static void orch_boot(void)
{
    memset(&O, 0, sizeof O);
    O.acts = malloc(sizeof *O.acts);
    assert_non_null(O.acts);
    memset(O.rng.key, 0x6f, sizeof O.rng.key);
    O.cfg = (struct kq_orch_config){.node_id = ORCH,
                                    .random = rng_fill,
                                    .random_ctx = &O.rng,
                                    .keeper_timeout_ms = 500,
                                    .usage_report_ms = 1000};
    O.state = calloc(1, kq_orch_core.state_size);
    assert_non_null(O.state);
    assert_int_equal(kq_orch_core.init(O.state, ORCH, NULL, 0, &O.cfg), KQ_OK);
    struct kq_event start = {.kind = KQ_EV_START};
    assert_int_equal(orch_step(&start), KQ_OK);
}

static int orch_setup(void **state)
{
    setup(state);
    orch_boot();
    orch_ledger();
    return 0;
}

static int orch_teardown(void **state)
{
    kq_orch_core.fini(O.state);
    free(O.state);
    free(O.acts);
    while (O.qn > 0) {
        free(O.q[O.qh].bytes);
        O.qh = (O.qh + 1) % MAX_Q;
        O.qn--;
    }
    return teardown(state);
}

/* Sends a request and runs until it is answered (firing the tick timer as time passes). */
static enum kq_err request(const struct kq_orch_req *q, struct kq_orch_reply *r)
{
    uint8_t *buf = malloc(KQ_ORCH_REQ_MAX_BYTES);
    size_t len = 0;
    assert_non_null(buf);
    assert_int_equal(kq_orch_req_encode(q, buf, KQ_ORCH_REQ_MAX_BYTES, &len), KQ_OK);
    struct kq_event ev = {.kind = KQ_EV_REQUEST,
                          .request_id = ++O.next_id,
                          .payload = buf,
                          .payload_len = len,
                          .now_ms = W->time_ms};
    O.replied = false;
    enum kq_err err = orch_step(&ev);
    free(buf);
    if (err != KQ_OK)
        return err; /* refused in the step: the runtime answers with this status */
    pump();
    for (int i = 0; i < 100 && !O.replied; i++) {
        W->time_ms += KQ_ORCH_TICK_MS;
        struct kq_event t = {
            .kind = KQ_EV_TIMER, .timer = KQ_ORCH_TIMER_TICK, .now_ms = W->time_ms};
        assert_int_equal(orch_step(&t), KQ_OK);
        pump();
    }
    assert_true(O.replied);
    if (O.status == KQ_OK)
        assert_int_equal(kq_orch_reply_decode(r, O.reply, O.len), KQ_OK);
    return O.status;
}

static const uint8_t K_PURPOSE[] = "purpose", V_BACKUP[] = "backup", V_OTHER[] = "other";

static struct kq_orch_req req(uint8_t op, const char *name, const uint8_t *ctx_value)
{
    struct kq_orch_req q = {.op = op};
    strcpy(q.name, name);
    strcpy(q.client, "nox");
    if (ctx_value != NULL) {
        q.n_ctx = 1;
        q.ctx[0] = (struct kq_ctx_pair){K_PURPOSE, sizeof K_PURPOSE - 1, ctx_value,
                                        strlen((const char *)ctx_value)};
    }
    return q;
}

/* A fresh DEK and its ciphertext text (into ct). */
static void datakey(char *ct, size_t cap, uint8_t dek[32])
{
    struct kq_orch_req q = req(KQ_ORCH_DATAKEY, "enc", V_BACKUP);
    struct kq_orch_reply r;
    assert_int_equal(request(&q, &r), KQ_OK);
    assert_int_equal(r.kind, KQ_ORCH_R_CIPHERTEXT);
    assert_int_equal(r.extra_len, 32);
    assert_true(r.data_len < cap);
    memcpy(ct, r.data, r.data_len);
    ct[r.data_len] = '\0';
    memcpy(dek, r.extra, 32);
}

static enum kq_err decrypt(const char *ct, const uint8_t *ctx_value, struct kq_orch_reply *r)
{
    struct kq_orch_req q = req(KQ_ORCH_DECRYPT, "enc", ctx_value);
    q.data = (const uint8_t *)ct;
    q.data_len = strlen(ct);
    return request(&q, r);
}

static void test_datakey_decrypt(void **state)
{
    (void)state;
    char ct[1024];
    uint8_t dek[32];
    struct kq_orch_reply r;
    datakey(ct, sizeof ct, dek);
    assert_true(strncmp(ct, "kq:v1:", 6) == 0);
    assert_int_equal(decrypt(ct, V_BACKUP, &r), KQ_OK);
    assert_int_equal(r.kind, KQ_ORCH_R_PLAINTEXT);
    assert_int_equal(r.data_len, 32);
    assert_memory_equal(r.data, dek, 32);
    /* another context: every keeper refuses (the wrapper's proof binds the label) */
    assert_int_equal(decrypt(ct, V_OTHER, &r), KQ_ERR_BAD_PROOF);
    /* an altered sealed payload: every partial is right, the AEAD fails */
    char bad[1024];
    strcpy(bad, ct);
    size_t n = strlen(bad);
    bad[n - 6] = bad[n - 6] == 'A' ? 'B' : 'A';
    enum kq_err e = decrypt(bad, V_BACKUP, &r);
    assert_true(e == KQ_ERR_AUTH || e == KQ_ERR_FORMAT);
    /* usage counted: the report lists the key */
    struct kq_event t = {.kind = KQ_EV_TIMER, .timer = KQ_ORCH_TIMER_USAGE, .now_ms = W->time_ms};
    assert_int_equal(orch_step(&t), KQ_OK);
    assert_int_equal(O.n_usage, 1);
    struct kq_keeper_tx *u = malloc(sizeof *u);
    assert_non_null(u);
    assert_int_equal(kq_keeper_tx_decode(KQ_KEEPER_OP_USAGE, u, O.usage, O.usage_len), KQ_OK);
    assert_string_equal(u->usage[0].name, "enc");
    assert_int_equal(u->usage[0].ops, 2); /* the datakey and the good decrypt */
    free(u);
}

static void test_refusals(void **state)
{
    (void)state;
    char ct[1024];
    uint8_t dek[32];
    struct kq_orch_reply r;
    datakey(ct, sizeof ct, dek);
    struct kq_orch_req q = req(KQ_ORCH_DECRYPT, "nope", V_BACKUP);
    q.data = (const uint8_t *)ct;
    q.data_len = strlen(ct);
    assert_int_equal(request(&q, &r), KQ_ERR_NOT_FOUND); /* unknown key */
    strcpy(q.name, "sig");
    assert_int_equal(request(&q, &r), KQ_ERR_TYPE); /* a sign key cannot decrypt */
    char v9[1024];
    snprintf(v9, sizeof v9, "kq:v9:%s", ct + 6);
    strcpy(q.name, "enc");
    q.data = (const uint8_t *)v9;
    q.data_len = strlen(v9);
    assert_int_equal(request(&q, &r), KQ_ERR_LABEL); /* the prefix contradicts the binary */
    q.data = (const uint8_t *)"kq:v1:!!!";
    q.data_len = 9;
    assert_int_equal(request(&q, &r), KQ_ERR_FORMAT);
    /* a data ciphertext is opened by the orchestrator, a dek one as such: wrong usage for sign */
    struct kq_orch_req s = req(KQ_ORCH_SIGN, "enc", NULL);
    s.data = (const uint8_t *)"m";
    s.data_len = 1;
    assert_int_equal(request(&s, &r), KQ_ERR_TYPE);
    /* a malformed request payload */
    uint8_t junk[3] = {1, 99, 0};
    struct kq_event ev = {.kind = KQ_EV_REQUEST,
                          .request_id = 77,
                          .payload = junk,
                          .payload_len = sizeof junk,
                          .now_ms = W->time_ms};
    assert_int_equal(orch_step(&ev), KQ_ERR_FORMAT);
    /* a keeper answer for no flow is ignored; an unexpected frame type is refused */
    struct kq_event fr = {.kind = KQ_EV_FRAME,
                          .peer = 1,
                          .frame_type = KQ_FRAME_KEEPER_REQ,
                          .payload = junk,
                          .payload_len = sizeof junk};
    assert_int_equal(orch_step(&fr), KQ_ERR_TYPE);
}

static void test_before_ledger(void **state)
{
    (void)state;
    /* a fresh orchestrator that has seen no committed state yet */
    kq_orch_core.fini(O.state);
    memset(O.state, 0, kq_orch_core.state_size);
    assert_int_equal(kq_orch_core.init(O.state, ORCH, NULL, 0, &O.cfg), KQ_OK);
    struct kq_orch_req q = req(KQ_ORCH_DATAKEY, "enc", NULL);
    struct kq_orch_reply r;
    assert_int_equal(request(&q, &r), KQ_ERR_BUSY);
}

static void test_encrypt_rewrap(void **state)
{
    (void)state;
    static const uint8_t msg[] = "hello world";
    struct kq_orch_req q = req(KQ_ORCH_ENCRYPT, "enc", V_BACKUP);
    q.data = msg;
    q.data_len = sizeof msg - 1;
    struct kq_orch_reply r;
    char ct[2048];
    assert_int_equal(request(&q, &r), KQ_OK);
    memcpy(ct, r.data, r.data_len);
    ct[r.data_len] = '\0';
    /* rotate: version 2 becomes active */
    struct kq_key_tx b = {0};
    strcpy(b.name, "enc");
    key_op(KQ_KEY_OP_ROTATE, &b);
    advance(100);
    run_until_active("enc", 2);
    orch_ledger();
    struct kq_orch_req w = req(KQ_ORCH_REWRAP, "enc", V_BACKUP);
    w.data = (const uint8_t *)ct;
    w.data_len = strlen(ct);
    assert_int_equal(request(&w, &r), KQ_OK);
    assert_int_equal(r.kind, KQ_ORCH_R_CIPHERTEXT);
    assert_int_equal(r.version, 2);
    assert_int_equal(r.extra_len, 0); /* never the plaintext */
    char ct2[2048];
    memcpy(ct2, r.data, r.data_len);
    ct2[r.data_len] = '\0';
    assert_true(strncmp(ct2, "kq:v2:", 6) == 0);
    assert_int_equal(decrypt(ct2, V_BACKUP, &r), KQ_OK);
    assert_int_equal(r.data_len, sizeof msg - 1);
    assert_memory_equal(r.data, msg, sizeof msg - 1);
    assert_int_equal(decrypt(ct, V_BACKUP, &r), KQ_OK); /* version 1 still decrypts */
}

static void test_sign_verify_derive(void **state)
{
    (void)state;
    static const uint8_t msg[] = "release 1.0.0";
    struct kq_orch_req q = req(KQ_ORCH_SIGN, "sig", NULL);
    q.data = msg;
    q.data_len = sizeof msg - 1;
    struct kq_orch_reply r;
    assert_int_equal(request(&q, &r), KQ_OK);
    assert_int_equal(r.kind, KQ_ORCH_R_SIGNATURE);
    uint8_t sig[64], S[32];
    memcpy(sig, r.data, 64);
    pubkey("sig", 1, S);
    assert_memory_equal(r.extra, S, 32);
    assert_int_equal(kq_frost_verify(sig, S, msg, sizeof msg - 1), KQ_OK);
    struct kq_orch_req v = req(KQ_ORCH_VERIFY, "sig", NULL);
    v.data = msg;
    v.data_len = sizeof msg - 1;
    v.sig = sig;
    v.sig_len = 64;
    assert_int_equal(request(&v, &r), KQ_OK);
    assert_true(r.valid);
    v.data_len--;
    assert_int_equal(request(&v, &r), KQ_OK);
    assert_false(r.valid);
    /* derive: the same context twice gives the same key, another context another */
    uint8_t k1[32], k2[32];
    struct kq_orch_req d = req(KQ_ORCH_DERIVE, "drv", V_BACKUP);
    assert_int_equal(request(&d, &r), KQ_OK);
    assert_int_equal(r.data_len, 32);
    memcpy(k1, r.data, 32);
    d.version = 1;
    assert_int_equal(request(&d, &r), KQ_OK);
    assert_memory_equal(r.data, k1, 32);
    d = req(KQ_ORCH_DERIVE, "drv", V_OTHER);
    assert_int_equal(request(&d, &r), KQ_OK);
    memcpy(k2, r.data, 32);
    assert_memory_not_equal(k1, k2, 32);
}

static void test_spare(void **state)
{
    (void)state;
    char ct[1024];
    uint8_t dek[32];
    struct kq_orch_reply r;
    datakey(ct, sizeof ct, dek);
    for (uint32_t dead = 1; dead <= NK; dead++) { /* whichever keeper is silent */
        memset(O.drop, 0, sizeof O.drop);
        O.drop[dead] = true;
        uint64_t t0 = W->time_ms;
        assert_int_equal(decrypt(ct, V_BACKUP, &r), KQ_OK);
        assert_memory_equal(r.data, dek, 32);
        (void)t0;
    }
    /* two silent keepers of four with t = 3: too few answer */
    O.drop[1] = O.drop[2] = true;
    assert_int_equal(decrypt(ct, V_BACKUP, &r), KQ_ERR_THRESHOLD);
    memset(O.drop, 0, sizeof O.drop);
    /* signing survives a silent signer too (round one or round two) */
    static const uint8_t msg[] = "m";
    struct kq_orch_req q = req(KQ_ORCH_SIGN, "sig", NULL);
    q.data = msg;
    q.data_len = 1;
    O.drop[3] = true;
    assert_int_equal(request(&q, &r), KQ_OK);
    uint8_t S[32];
    pubkey("sig", 1, S);
    assert_int_equal(kq_frost_verify(r.data, S, msg, 1), KQ_OK);
    memset(O.drop, 0, sizeof O.drop);
}

static void test_byzantine(void **state)
{
    (void)state;
    char ct[1024];
    uint8_t dek[32];
    struct kq_orch_reply r;
    datakey(ct, sizeof ct, dek);
    /* keeper 2 restarts lying; keeper 4 is silent, so keeper 2 must be asked */
    node_stop(&W->nodes[1]);
    node_boot(&W->nodes[1], true);
    O.drop[4] = true;
    assert_int_equal(decrypt(ct, V_BACKUP, &r), KQ_ERR_THRESHOLD); /* 1, 3 and a liar: short */
    assert_true(O.n_faulty >= 1);
    assert_int_equal(O.faulty[0], 2);
    O.drop[4] = false;
    assert_int_equal(decrypt(ct, V_BACKUP, &r), KQ_OK); /* with keeper 4 back: 1, 3, 4 */
    assert_memory_equal(r.data, dek, 32);
    /* the evidence: keeper 2's own signed false response, valid for any judge */
    assert_true(O.n_evidence >= 1);
    struct kq_evidence_tx e;
    struct kq_partial_resp p;
    struct kq_sharing_rec sh;
    assert_int_equal(kq_evidence_tx_decode(&e, O.evidence, O.evidence_len), KQ_OK);
    assert_int_equal(e.keeper, 2);
    assert_int_equal(kq_partial_decode(&p, e.response, e.response_len), KQ_OK);
    sharing("enc", e.version, e.epoch, &sh);
    assert_int_equal(kq_partial_evidence_check(&p, W->nodes[1].pk, sh.public_shares[p.index - 1]),
                     1);
    /* submitted by a node, every validator's state machine re-verifies it: quarantine */
    add_tx(W->nodes[0].sk, KQ_TX_FAMILY_EVIDENCE, KQ_EVIDENCE_OP_PARTIAL, O.evidence,
           O.evidence_len);
    advance(100);
    struct kq_keeper_rec k;
    assert_int_equal(kq_keyreg_keeper(W->st, 2, &k), KQ_OK);
    assert_true(k.quarantined);
    assert_int_equal(k.faults, 1);
    /* derive checks every proof: the liar is named there too */
    orch_ledger();
    O.n_faulty = 0;
    O.drop[4] = true;
    struct kq_orch_req d = req(KQ_ORCH_DERIVE, "drv", V_BACKUP);
    assert_int_equal(request(&d, &r), KQ_ERR_THRESHOLD); /* quarantined: not asked; 4 silent */
    O.drop[4] = false;
    assert_int_equal(request(&d, &r), KQ_OK);
}

static void test_sealed(void **state)
{
    (void)state;
    char ct[1024];
    uint8_t dek[32];
    struct kq_orch_reply r;
    datakey(ct, sizeof ct, dek);
    struct kq_orch_req q = req(KQ_ORCH_DECRYPT, "enc", V_BACKUP);
    strcpy(q.client, "app"); /* its ledger record holds W->client_pk */
    q.flags = KQ_ORCH_SEALED;
    q.data = (const uint8_t *)ct;
    q.data_len = strlen(ct);
    assert_int_equal(request(&q, &r), KQ_OK);
    assert_int_equal(r.kind, KQ_ORCH_R_SEALED);
    assert_int_equal(r.n_sealed, 3);
    /* the client opens and combines; the orchestrator held only sealed boxes */
    struct kq_sharing_rec sh;
    sharing("enc", r.version, r.epoch, &sh);
    struct kq_tkem_partial parts[3];
    uint8_t S_i[3][32], S[32], bin[KQ_TKEM_CTBYTES(32)], pt[32];
    for (size_t i = 0; i < 3; i++) {
        uint8_t opened[KQ_PARTIAL_MAXBYTES];
        struct kq_partial_resp p;
        size_t n = r.sealed[i].len - crypto_box_SEALBYTES;
        assert_int_equal(crypto_box_seal_open(opened, r.sealed[i].bytes, r.sealed[i].len,
                                              W->client_pk, W->client_sk),
                         0);
        assert_int_equal(kq_partial_decode(&p, opened, n), KQ_OK);
        assert_int_equal(kq_partial_unwrap_part(&parts[i], &p), KQ_OK);
        memcpy(S_i[i], sh.public_shares[r.sealed[i].index - 1], 32);
    }
    size_t blen = 0, plen = 0;
    struct kq_tkem_ct dec;
    assert_int_equal(kq_tkem_from_text(bin, sizeof bin, &blen, ct, strlen(ct)), KQ_OK);
    assert_int_equal(kq_tkem_decode(&dec, bin, blen), KQ_OK);
    struct kq_ctx_pair pair = {K_PURPOSE, sizeof K_PURPOSE - 1, V_BACKUP, sizeof V_BACKUP - 1};
    assert_int_equal(
        kq_label_build(&W->label, (const uint8_t *)"enc", 3, r.version, KQ_PURPOSE_DEK, &pair, 1),
        KQ_OK);
    pubkey("enc", r.version, S);
    assert_int_equal(kq_tkem_combine(pt, sizeof pt, &plen, NULL, &dec, &W->label, S, parts,
                                     (const uint8_t(*)[32])S_i, 3, 3),
                     KQ_OK);
    assert_memory_equal(pt, dek, 32);
}

/* An unknown version is refused as such; a signer silent in round two only (after its
 * commitment was used) makes the flow restart round one without it, and it still signs; more
 * flows than KQ_ORCH_MAX_FLOWS in flight are refused busy. */
static void test_version_round_two_busy(void **state)
{
    (void)state;
    struct kq_orch_reply r;
    struct kq_orch_req d = req(KQ_ORCH_DERIVE, "drv", V_BACKUP);
    d.version = 9;
    assert_int_equal(request(&d, &r), KQ_ERR_NOT_FOUND);
    static const uint8_t msg[] = "round two";
    struct kq_orch_req v = req(KQ_ORCH_VERIFY, "sig", NULL);
    uint8_t sig[64] = {0};
    v.data = msg;
    v.data_len = sizeof msg - 1;
    v.sig = sig;
    v.sig_len = 64;
    v.version = 9;
    assert_int_equal(request(&v, &r), KQ_ERR_NOT_FOUND);
    uint8_t S[32];
    pubkey("sig", 1, S);
    for (uint32_t k = 1; k <= NK; k++) { /* whichever signer stalls in round two */
        memset(O.drop_sign, 0, sizeof O.drop_sign);
        O.drop_sign[k] = true;
        O.n_dropped_sign = 0;
        struct kq_orch_req q = req(KQ_ORCH_SIGN, "sig", NULL);
        q.data = msg;
        q.data_len = sizeof msg - 1;
        assert_int_equal(request(&q, &r), KQ_OK);
        assert_int_equal(r.kind, KQ_ORCH_R_SIGNATURE);
        assert_int_equal(kq_frost_verify(r.data, S, msg, sizeof msg - 1), KQ_OK);
        assert_true(O.n_dropped_sign >= 1); /* it was chosen, stalled, and replaced */
    }
    memset(O.drop_sign, 0, sizeof O.drop_sign);
    assert_int_equal(kq_orch_flow_count(O.state), 0);
    /* fill every flow slot with decrypts whose keepers never answer */
    char ct[1024];
    uint8_t dek[32];
    datakey(ct, sizeof ct, dek);
    uint8_t *buf = malloc(KQ_ORCH_REQ_MAX_BYTES);
    assert_non_null(buf);
    struct kq_orch_req q = req(KQ_ORCH_DECRYPT, "enc", V_BACKUP);
    q.data = (const uint8_t *)ct;
    q.data_len = strlen(ct);
    size_t len = 0;
    assert_int_equal(kq_orch_req_encode(&q, buf, KQ_ORCH_REQ_MAX_BYTES, &len), KQ_OK);
    O.discard = true;
    for (size_t i = 0; i <= KQ_ORCH_MAX_FLOWS; i++) {
        struct kq_event ev = {.kind = KQ_EV_REQUEST,
                              .request_id = ++O.next_id,
                              .payload = buf,
                              .payload_len = len,
                              .now_ms = W->time_ms};
        O.replied = false;
        enum kq_err e = orch_step(&ev);
        if (i < KQ_ORCH_MAX_FLOWS) {
            assert_int_equal(e, KQ_OK);
            assert_false(O.replied);
        } else {
            assert_true(e == KQ_ERR_BUSY || (O.replied && O.status == KQ_ERR_BUSY));
        }
    }
    assert_int_equal(kq_orch_flow_count(O.state), KQ_ORCH_MAX_FLOWS);
    free(buf);
    /* they all give up once their keepers time out, freeing the slots */
    for (int i = 0; i < 200 && kq_orch_flow_count(O.state) > 0; i++) {
        W->time_ms += KQ_ORCH_TICK_MS;
        struct kq_event t = {
            .kind = KQ_EV_TIMER, .timer = KQ_ORCH_TIMER_TICK, .now_ms = W->time_ms};
        assert_int_equal(orch_step(&t), KQ_OK);
    }
    assert_int_equal(kq_orch_flow_count(O.state), 0);
    O.discard = false;
    assert_int_equal(decrypt(ct, V_BACKUP, &r), KQ_OK);
    assert_memory_equal(r.data, dek, 32);
}

/* A lying keeper among four with t = 3 and every other keeper answering: decrypt and derive
 * still succeed with the right values (a spare replaces the liar), and each flow that asked it
 * names it and submits its response as evidence. */
static void test_byzantine_served(void **state)
{
    (void)state;
    char ct[1024];
    uint8_t dek[32], k1[32];
    struct kq_orch_reply r;
    datakey(ct, sizeof ct, dek);
    /* the liar: a keeper the orchestrator asks first for both keys (it prefers the fastest;
     * all answer at once here, so the order is the sharing's) */
    O.asked = 0;
    assert_int_equal(decrypt(ct, V_BACKUP, &r), KQ_OK);
    uint32_t both = O.asked;
    O.asked = 0;
    struct kq_orch_req d = req(KQ_ORCH_DERIVE, "drv", V_BACKUP);
    assert_int_equal(request(&d, &r), KQ_OK);
    memcpy(k1, r.data, 32);
    both &= O.asked;
    uint32_t liar = 1;
    while (liar <= NK && !(both & (1u << liar)))
        liar++;
    assert_true(liar <= NK);
    node_stop(&W->nodes[liar - 1]);
    node_boot(&W->nodes[liar - 1], true);
    size_t named_dec = 0, named_drv = 0;
    for (int i = 0; i < 6; i++) {
        O.n_faulty = 0;
        assert_int_equal(decrypt(ct, V_BACKUP, &r), KQ_OK);
        assert_memory_equal(r.data, dek, 32);
        for (size_t j = 0; j < O.n_faulty; j++)
            assert_int_equal(O.faulty[j], liar);
        named_dec += O.n_faulty;
        O.n_faulty = 0;
        size_t ev0 = O.n_evidence;
        assert_int_equal(request(&d, &r), KQ_OK);
        assert_memory_equal(r.data, k1, 32);
        for (size_t j = 0; j < O.n_faulty; j++)
            assert_int_equal(O.faulty[j], liar);
        named_drv += O.n_faulty;
        assert_int_equal(O.n_evidence - ev0, O.n_faulty); /* one evidence tx per naming */
        if (O.n_faulty > 0) {
            struct kq_evidence_tx e;
            struct kq_partial_resp p;
            struct kq_sharing_rec sh;
            assert_int_equal(kq_evidence_tx_decode(&e, O.evidence, O.evidence_len), KQ_OK);
            assert_int_equal(e.keeper, liar);
            assert_int_equal(kq_partial_decode(&p, e.response, e.response_len), KQ_OK);
            sharing("drv", e.version, e.epoch, &sh);
            assert_int_equal(
                kq_partial_evidence_check(&p, W->nodes[liar - 1].pk, sh.public_shares[p.index - 1]),
                1);
        }
    }
    assert_true(named_dec >= 1);
    assert_true(named_drv >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_datakey_decrypt, orch_setup, orch_teardown),
        cmocka_unit_test_setup_teardown(test_refusals, orch_setup, orch_teardown),
        cmocka_unit_test_setup_teardown(test_before_ledger, orch_setup, orch_teardown),
        cmocka_unit_test_setup_teardown(test_encrypt_rewrap, orch_setup, orch_teardown),
        cmocka_unit_test_setup_teardown(test_sign_verify_derive, orch_setup, orch_teardown),
        cmocka_unit_test_setup_teardown(test_spare, orch_setup, orch_teardown),
        cmocka_unit_test_setup_teardown(test_byzantine, orch_setup, orch_teardown),
        cmocka_unit_test_setup_teardown(test_sealed, orch_setup, orch_teardown),
        cmocka_unit_test_setup_teardown(test_version_round_two_busy, orch_setup, orch_teardown),
        cmocka_unit_test_setup_teardown(test_byzantine_served, orch_setup, orch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
