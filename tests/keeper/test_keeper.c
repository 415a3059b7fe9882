/* Tests for the keeper core (src/keeper/): four keeper cores driven by hand beside a ledger built
 * by applying real transactions (their own EPOCH_KEY and DKG_MSG submissions, an admin's key
 * ops): DKG to shares that match the ledger's public shares; unwrap, derive and FROST answers
 * that verify and combine; every refusal; sealed answers; restart from the persisted records;
 * the byzantine fault switch; erasure after an epoch change; a lost store reported and restored;
 * and no share or epoch secret in any persisted record in the clear. */
#include "keeper_world.h"

/* ---- requests ---- */

static enum kq_err ask(size_t node, const struct kq_keeper_req *r, struct kq_keeper_resp *resp)
{
    uint8_t frame[KQ_KEEPER_REQ_MAX_BYTES];
    size_t len = 0;
    assert_int_equal(kq_keeper_req_encode(r, frame, sizeof frame, &len), KQ_OK);
    struct kq_event ev = {.kind = KQ_EV_FRAME,
                          .peer = ORCH,
                          .frame_type = KQ_FRAME_KEEPER_REQ,
                          .payload = frame,
                          .payload_len = len,
                          .now_ms = W->time_ms,
                          .wall_ms = W->time_ms};
    W->resp_len = 0;
    assert_int_equal(step(&W->nodes[node], &ev), KQ_OK);
    assert_true(W->resp_len > 0);
    assert_int_equal(kq_keeper_resp_decode(resp, W->resp, W->resp_len), KQ_OK);
    assert_memory_equal(resp->request_id, r->request_id, sizeof r->request_id);
    assert_int_equal(resp->op, r->op);
    return (enum kq_err)resp->status;
}

static const uint8_t CTX_K[] = "purpose", CTX_V[] = "backup", CTX_V2[] = "other";

static void base_req(struct kq_keeper_req *r, uint8_t op, const char *name, uint32_t v)
{
    struct kq_keyver_rec vr;
    memset(r, 0, sizeof *r);
    randombytes_buf(r->request_id, sizeof r->request_id);
    r->op = op;
    strcpy(r->name, name);
    r->version = v;
    r->epoch = kq_keyreg_version(W->st, name, v, &vr) == KQ_OK && vr.epoch ? vr.epoch : 1;
    if (op == KQ_KREQ_UNWRAP || op == KQ_KREQ_DERIVE) {
        r->n_ctx = 1;
        r->ctx[0] = (struct kq_ctx_pair){CTX_K, sizeof CTX_K - 1, CTX_V, sizeof CTX_V - 1};
    }
}

/* A fresh DEK ciphertext of key `name` version v under context value `val`. */
static size_t wrap(const char *name, uint32_t v, const uint8_t *val, size_t val_len,
                   uint8_t dek[32], uint8_t *ct, size_t cap)
{
    uint8_t S[32];
    size_t len = 0;
    struct kq_ctx_pair p = {CTX_K, sizeof CTX_K - 1, val, val_len};
    pubkey(name, v, S);
    randombytes_buf(dek, 32);
    assert_int_equal(
        kq_label_build(&W->label, (const uint8_t *)name, strlen(name), v, KQ_PURPOSE_DEK, &p, 1),
        KQ_OK);
    assert_int_equal(kq_tkem_wrap(ct, cap, &len, S, &W->label, dek, 32), KQ_OK);
    return len;
}

static void unwrap_req(struct kq_keeper_req *r, const char *name, const uint8_t *ct, size_t len)
{
    struct kq_tkem_ct dec;
    assert_int_equal(kq_tkem_decode(&dec, ct, len), KQ_OK);
    base_req(r, KQ_KREQ_UNWRAP, name, dec.version);
    r->ct_type = dec.type;
    memcpy(r->R, dec.R, 32);
    memcpy(r->ct_proof, dec.proof, 64);
}

/* The verified partial in a response of node i (signature by its identity key). */
static void partial_of(const struct kq_keeper_resp *resp, size_t i, struct kq_partial_resp *p)
{
    assert_int_equal(resp->body_kind, KQ_KRESP_PARTIAL);
    assert_int_equal(kq_partial_decode(p, resp->body, resp->body_len), KQ_OK);
    assert_int_equal(kq_partial_verify(p, W->nodes[i].pk), KQ_OK);
}

static void sharing_of_key(const char *name, uint32_t v, struct kq_sharing_rec *s)
{
    struct kq_keyver_rec vr;
    assert_int_equal(kq_keyreg_version(W->st, name, v, &vr), KQ_OK);
    sharing(name, v, vr.epoch, s);
}

/* The index of node i in a sharing (0 if none). */
static uint32_t index_of(const struct kq_sharing_rec *s, size_t i)
{
    for (uint32_t j = 0; j < s->n; j++)
        if (s->keepers[j] == W->nodes[i].id)
            return j + 1;
    return 0;
}

/* ---- the world ---- */

/* ---- DKG ---- */

static void test_dkg_shares(void **state)
{
    (void)state;
    const char *keys[] = {"enc", "drv", "sig"};
    struct kq_sharing_rec s;
    for (size_t k = 0; k < 3; k++) {
        sharing_of_key(keys[k], 1, &s);
        assert_int_equal(s.n, NK);
        assert_int_equal(s.t, 3);
        for (size_t i = 0; i < NK; i++) {
            assert_int_not_equal(index_of(&s, i), 0);
            assert_true(kq_keeper_has_share(W->nodes[i].state, keys[k], 1, s.epoch));
        }
    }
}

/* ---- unwrap ---- */

static void unwrap_all(const uint8_t *ct, size_t ct_len, const size_t *who, size_t n,
                       struct kq_tkem_partial *parts, uint8_t (*S_i)[32])
{
    struct kq_keeper_req r;
    struct kq_keeper_resp resp;
    struct kq_partial_resp p;
    struct kq_sharing_rec s;
    struct kq_tkem_ct dec;
    uint8_t digest[KQ_LABEL_DIGESTBYTES];
    assert_int_equal(kq_tkem_decode(&dec, ct, ct_len), KQ_OK);
    sharing_of_key("enc", dec.version, &s);
    unwrap_req(&r, "enc", ct, ct_len);
    kq_label_digest(digest, &W->label);
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(ask(who[k], &r, &resp), KQ_OK);
        partial_of(&resp, who[k], &p);
        assert_int_equal(kq_partial_unwrap_part(&parts[k], &p), KQ_OK);
        uint32_t idx = index_of(&s, who[k]);
        assert_int_equal(parts[k].index, idx);
        memcpy(S_i[k], s.public_shares[idx - 1], 32);
        assert_memory_equal(p.label_digest, digest, sizeof digest);
        assert_int_equal(kq_tkem_partial_verify(&parts[k], digest, dec.R, S_i[k]), KQ_OK);
    }
}

static void test_unwrap(void **state)
{
    (void)state;
    uint8_t dek[32], out[32], ct[KQ_TKEM_CTBYTES(32)], S[32];
    struct kq_tkem_partial parts[NK];
    uint8_t S_i[NK][32];
    struct kq_tkem_ct dec;
    size_t len = wrap("enc", 1, CTX_V, sizeof CTX_V - 1, dek, ct, sizeof ct), out_len = 0;
    const size_t all[NK] = {0, 1, 2, 3};
    unwrap_all(ct, len, all, NK, parts, S_i);
    assert_int_equal(kq_tkem_decode(&dec, ct, len), KQ_OK);
    pubkey("enc", 1, S);
    assert_int_equal(kq_tkem_combine(out, sizeof out, &out_len, NULL, &dec, &W->label, S, parts,
                                     (const uint8_t(*)[32])S_i, 3, 3),
                     KQ_OK);
    assert_memory_equal(out, dek, 32);
    assert_int_equal(kq_tkem_combine(out, sizeof out, &out_len, NULL, &dec, &W->label, S, parts + 1,
                                     (const uint8_t(*)[32])S_i + 1, 3, 3),
                     KQ_OK);
    assert_memory_equal(out, dek, 32);
}

/* ---- derive ---- */

static void derive_key(const size_t *who, uint8_t key[32])
{
    struct kq_keeper_req r;
    struct kq_keeper_resp resp;
    struct kq_partial_resp p;
    struct kq_sharing_rec s;
    struct kq_tprf_partial parts[3];
    uint8_t S_i[3][32], P[32], digest[KQ_LABEL_DIGESTBYTES];
    base_req(&r, KQ_KREQ_DERIVE, "drv", 1);
    sharing_of_key("drv", 1, &s);
    assert_int_equal(
        kq_label_build(&W->label, (const uint8_t *)"drv", 3, 1, KQ_PURPOSE_DERIVE, r.ctx, 1),
        KQ_OK);
    assert_int_equal(kq_tprf_point(P, &W->label), KQ_OK);
    kq_label_digest(digest, &W->label);
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(ask(who[k], &r, &resp), KQ_OK);
        partial_of(&resp, who[k], &p);
        assert_int_equal(p.kind, KQ_PARTIAL_DERIVE);
        assert_memory_equal(p.H, P, 32);
        parts[k].index = p.index;
        memcpy(parts[k].Y, p.Z, 32);
        memcpy(parts[k].proof, p.proof, 64);
        memcpy(S_i[k], s.public_shares[p.index - 1], 32);
        assert_int_equal(kq_tprf_partial_verify(&parts[k], digest, P, S_i[k]), KQ_OK);
    }
    assert_int_equal(kq_tprf_combine(key, NULL, &W->label, parts, (const uint8_t(*)[32])S_i, 3, 3),
                     KQ_OK);
}

static void test_derive(void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    const size_t w1[3] = {0, 1, 2}, w2[3] = {3, 2, 0};
    derive_key(w1, a);
    derive_key(w2, b);
    assert_memory_equal(a, b, 32);
}

/* ---- FROST ---- */

static void frost_pub(struct kq_frost_public_package *pub)
{
    struct kq_sharing_rec s;
    memset(pub, 0, sizeof *pub);
    sharing_of_key("sig", 1, &s);
    pub->threshold = s.t;
    pub->max_signers = s.n;
    pubkey("sig", 1, pub->group_public_key);
    memcpy(pub->verifying_shares, s.public_shares, s.n * 32u);
}

static void frost_commit_at(size_t node, struct kq_keeper_req *r, struct kq_frost_commitment *c)
{
    struct kq_keeper_resp resp;
    struct kq_frost_resp fr;
    assert_int_equal(ask(node, r, &resp), KQ_OK);
    assert_int_equal(resp.body_kind, KQ_KRESP_FROST);
    assert_int_equal(kq_frost_resp_decode(&fr, resp.body, resp.body_len), KQ_OK);
    assert_int_equal(kq_frost_resp_verify(&fr, W->nodes[node].pk), KQ_OK);
    assert_int_equal(fr.round, 1);
    *c = fr.commitment;
}

static void test_frost(void **state)
{
    (void)state;
    static const uint8_t msg[] = "transfer 10 to bob";
    struct kq_frost_public_package pub;
    struct kq_keeper_req r[3], sreq;
    struct kq_keeper_resp resp;
    struct kq_frost_resp fr;
    struct kq_frost_commitment list[3];
    uint8_t shares[3][32], sig[64], digest[64];
    const size_t who[3] = {2, 0, 1};
    frost_pub(&pub);
    for (size_t k = 0; k < 3; k++) {
        base_req(&r[k], KQ_KREQ_FROST_COMMIT, "sig", 1);
        frost_commit_at(who[k], &r[k], &list[k]);
    }
    /* sort by identifier, remembering who answered */
    size_t order[3] = {0, 1, 2};
    for (size_t i = 0; i < 3; i++)
        for (size_t j = i + 1; j < 3; j++)
            if (list[order[j]].identifier < list[order[i]].identifier) {
                size_t t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    struct kq_frost_commitment sorted[3];
    for (size_t i = 0; i < 3; i++)
        sorted[i] = list[order[i]];
    kq_frost_sign_digest(digest, msg, sizeof msg - 1, sorted, 3);
    for (size_t i = 0; i < 3; i++) {
        size_t k = order[i];
        sreq = r[k];
        sreq.op = KQ_KREQ_FROST_SIGN;
        sreq.msg = msg;
        sreq.msg_len = sizeof msg - 1;
        sreq.n_commits = 3;
        memcpy(sreq.commits, sorted, sizeof sorted);
        assert_int_equal(ask(who[k], &sreq, &resp), KQ_OK);
        assert_int_equal(kq_frost_resp_decode(&fr, resp.body, resp.body_len), KQ_OK);
        assert_int_equal(kq_frost_resp_verify(&fr, W->nodes[who[k]].pk), KQ_OK);
        assert_int_equal(fr.round, 2);
        assert_memory_equal(fr.digest, digest, 64);
        memcpy(shares[i], fr.share, 32);
        assert_int_equal(kq_frost_verify_share(&pub, sorted, 3, sorted[i].identifier, shares[i],
                                               msg, sizeof msg - 1),
                         KQ_OK);
        /* the nonce served once: the same round two again is refused */
        assert_int_equal(ask(who[k], &sreq, &resp), KQ_ERR_STATE);
        assert_int_equal(resp.body_kind, KQ_KRESP_NONE);
    }
    assert_int_equal(kq_frost_aggregate(sig, &pub, sorted, 3, (const uint8_t(*)[32])shares, msg,
                                        sizeof msg - 1, NULL),
                     KQ_OK);
    assert_int_equal(kq_frost_verify(sig, pub.group_public_key, msg, sizeof msg - 1), KQ_OK);
    assert_int_equal(kq_keeper_nonce_count(W->nodes[0].state), 0);
}

static void test_frost_refusals(void **state)
{
    (void)state;
    struct kq_keeper_req r, sreq;
    struct kq_keeper_resp resp;
    struct kq_frost_commitment c;
    /* round two without round one */
    base_req(&sreq, KQ_KREQ_FROST_SIGN, "sig", 1);
    sreq.msg = (const uint8_t *)"m";
    sreq.msg_len = 1;
    sreq.n_commits = 1;
    sreq.commits[0].identifier = 1;
    assert_int_equal(ask(0, &sreq, &resp), KQ_ERR_STATE);
    /* a commitment for one request, a round two naming another version: refused and dropped */
    base_req(&r, KQ_KREQ_FROST_COMMIT, "sig", 1);
    frost_commit_at(0, &r, &c);
    assert_int_equal(ask(0, &r, &resp), KQ_ERR_EXISTS); /* one commitment per request id */
    assert_int_equal(kq_keeper_nonce_count(W->nodes[0].state), 1);
    sreq = r;
    sreq.op = KQ_KREQ_FROST_SIGN;
    sreq.version = 2;
    sreq.msg = (const uint8_t *)"m";
    sreq.msg_len = 1;
    sreq.n_commits = 1;
    sreq.commits[0] = c;
    assert_int_equal(ask(0, &sreq, &resp), KQ_ERR_LABEL);
    assert_int_equal(kq_keeper_nonce_count(W->nodes[0].state), 0);
    /* fewer commitments than the threshold: the nonce is used up anyway */
    base_req(&r, KQ_KREQ_FROST_COMMIT, "sig", 1);
    frost_commit_at(0, &r, &c);
    sreq = r;
    sreq.op = KQ_KREQ_FROST_SIGN;
    sreq.msg = (const uint8_t *)"m";
    sreq.msg_len = 1;
    sreq.n_commits = 1;
    sreq.commits[0] = c;
    assert_int_equal(ask(0, &sreq, &resp), KQ_ERR_THRESHOLD);
    assert_int_equal(ask(0, &sreq, &resp), KQ_ERR_STATE);
    /* nonces expire on the timer */
    base_req(&r, KQ_KREQ_FROST_COMMIT, "sig", 1);
    frost_commit_at(1, &r, &c);
    assert_int_equal(kq_keeper_nonce_count(W->nodes[1].state), 1);
    struct kq_event early = {
        .kind = KQ_EV_TIMER, .timer = KQ_KEEPER_TIMER_NONCES, .now_ms = W->time_ms + 10};
    assert_int_equal(step(&W->nodes[1], &early), KQ_OK);
    assert_int_equal(kq_keeper_nonce_count(W->nodes[1].state), 1);
    struct kq_event late = early;
    late.now_ms = W->time_ms + W->nodes[1].cfg.frost_nonce_ttl_ms;
    assert_int_equal(step(&W->nodes[1], &late), KQ_OK);
    assert_int_equal(kq_keeper_nonce_count(W->nodes[1].state), 0);
    sreq = r;
    sreq.op = KQ_KREQ_FROST_SIGN;
    sreq.msg = (const uint8_t *)"m";
    sreq.msg_len = 1;
    sreq.n_commits = 1;
    sreq.commits[0] = c;
    assert_int_equal(ask(1, &sreq, &resp), KQ_ERR_STATE);
    /* FROST on a key of another usage */
    base_req(&r, KQ_KREQ_FROST_COMMIT, "enc", 1);
    assert_int_equal(ask(0, &r, &resp), KQ_ERR_TYPE);
}

/* ---- refusals ---- */

static void test_refusals(void **state)
{
    (void)state;
    uint8_t dek[32], ct[KQ_TKEM_CTBYTES(32)];
    size_t len = wrap("enc", 1, CTX_V, sizeof CTX_V - 1, dek, ct, sizeof ct);
    struct kq_keeper_req r;
    struct kq_keeper_resp resp;
#define REFUSED(change, want)                                                                      \
    do {                                                                                           \
        unwrap_req(&r, "enc", ct, len);                                                            \
        change;                                                                                    \
        assert_int_equal(ask(0, &r, &resp), want);                                                 \
        if ((want) != KQ_OK) {                                                                     \
            assert_int_equal(resp.body_kind, KQ_KRESP_NONE);                                       \
            assert_null(resp.body);                                                                \
        }                                                                                          \
    } while (0)
    REFUSED((void)0, KQ_OK);
    REFUSED(strcpy(r.name, "sig"), KQ_ERR_TYPE);       /* wrong usage */
    REFUSED(strcpy(r.name, "nope"), KQ_ERR_NOT_FOUND); /* unknown key */
    REFUSED(r.version = 9, KQ_ERR_NOT_FOUND);          /* unknown version */
    REFUSED(r.epoch = 77, KQ_ERR_NOT_FOUND);           /* an epoch this version is not in */
    REFUSED(r.ct_proof[0] ^= 1, KQ_ERR_BAD_PROOF);     /* the wrapper's proof */
    REFUSED(memset(r.R, 0xff, 32), KQ_ERR_BAD_POINT);  /* not a point */
    /* another context: the rebuilt label differs, so the wrapper's proof does not hold */
    REFUSED(r.ctx[0].value = CTX_V2, KQ_ERR_BAD_PROOF);
    REFUSED(r.n_ctx = 0, KQ_ERR_BAD_PROOF);
    REFUSED(r.ct_type = KQ_PURPOSE_DATA, KQ_ERR_BAD_PROOF);     /* another type: another label */
    REFUSED((r.ctx[1] = r.ctx[0], r.n_ctx = 2), KQ_ERR_FORMAT); /* the label builder refuses */
    REFUSED((r.seal = true, strcpy(r.client, "nox")), KQ_ERR_NOT_FOUND);   /* no X25519 key */
    REFUSED((r.seal = true, strcpy(r.client, "ghost")), KQ_ERR_NOT_FOUND); /* no such client */
    REFUSED(r.op = KQ_KREQ_DERIVE, KQ_ERR_TYPE); /* derive on an encrypt key */
#undef REFUSED
    /* malformed frames fail the step and are not answered */
    uint8_t junk[3] = {1, 2, 3};
    struct kq_event ev = {.kind = KQ_EV_FRAME,
                          .peer = ORCH,
                          .frame_type = KQ_FRAME_KEEPER_REQ,
                          .payload = junk,
                          .payload_len = sizeof junk};
    W->resp_len = 0;
    assert_int_equal(step(&W->nodes[0], &ev), KQ_ERR_TRUNCATED);
    ev.frame_type = KQ_FRAME_KEEPER_RESP;
    assert_int_equal(step(&W->nodes[0], &ev), KQ_ERR_TYPE);
    assert_int_equal(W->resp_len, 0);
}

/* ---- sealed answers ---- */

static void test_sealed(void **state)
{
    (void)state;
    uint8_t dek[32], ct[KQ_TKEM_CTBYTES(32)], opened[KQ_PARTIAL_MAXBYTES], other_pk[32],
        other_sk[32];
    size_t len = wrap("enc", 1, CTX_V, sizeof CTX_V - 1, dek, ct, sizeof ct);
    struct kq_keeper_req r;
    struct kq_keeper_resp resp;
    struct kq_partial_resp p;
    unwrap_req(&r, "enc", ct, len);
    r.seal = true;
    strcpy(r.client, "app");
    assert_int_equal(ask(1, &r, &resp), KQ_OK);
    assert_int_equal(resp.body_kind, KQ_KRESP_SEALED);
    size_t plen = resp.body_len - crypto_box_SEALBYTES;
    crypto_box_keypair(other_pk, other_sk);
    assert_int_not_equal(crypto_box_seal_open(opened, resp.body, resp.body_len, other_pk, other_sk),
                         0);
    assert_int_equal(
        crypto_box_seal_open(opened, resp.body, resp.body_len, W->client_pk, W->client_sk), 0);
    assert_int_equal(kq_partial_decode(&p, opened, plen), KQ_OK);
    assert_int_equal(kq_partial_verify(&p, W->nodes[1].pk), KQ_OK);
    assert_memory_equal(p.request_id, r.request_id, 16);
    /* sealed derivations too */
    base_req(&r, KQ_KREQ_DERIVE, "drv", 1);
    r.seal = true;
    strcpy(r.client, "app");
    assert_int_equal(ask(2, &r, &resp), KQ_OK);
    assert_int_equal(resp.body_kind, KQ_KRESP_SEALED);
}

/* ---- the byzantine switch ---- */

static void test_byzantine(void **state)
{
    (void)state;
    uint8_t dek[32], out[32], ct[KQ_TKEM_CTBYTES(32)], S[32];
    struct kq_tkem_partial parts[NK];
    uint8_t S_i[NK][32], faulty[NK];
    struct kq_keeper_req r;
    struct kq_keeper_resp resp;
    struct kq_partial_resp p;
    struct kq_tkem_ct dec;
    size_t len = wrap("enc", 1, CTX_V, sizeof CTX_V - 1, dek, ct, sizeof ct), out_len = 0;
    node_stop(&W->nodes[2]);
    node_boot(&W->nodes[2], true);
    unwrap_req(&r, "enc", ct, len);
    assert_int_equal(ask(2, &r, &resp), KQ_OK);
    partial_of(&resp, 2, &p); /* signed by the keeper */
    struct kq_sharing_rec s;
    sharing_of_key("enc", 1, &s);
    assert_int_equal(kq_partial_evidence_check(&p, W->nodes[2].pk, s.public_shares[p.index - 1]),
                     1);
    /* the combine names it and succeeds with a spare */
    const size_t who[NK] = {2, 0, 1, 3};
    struct kq_partial_resp ps;
    for (size_t k = 0; k < NK; k++) {
        assert_int_equal(ask(who[k], &r, &resp), KQ_OK);
        partial_of(&resp, who[k], &ps);
        assert_int_equal(kq_partial_unwrap_part(&parts[k], &ps), KQ_OK);
        memcpy(S_i[k], s.public_shares[ps.index - 1], 32);
    }
    assert_int_equal(kq_tkem_decode(&dec, ct, len), KQ_OK);
    pubkey("enc", 1, S);
    assert_int_equal(kq_tkem_combine(out, sizeof out, &out_len, faulty, &dec, &W->label, S, parts,
                                     (const uint8_t(*)[32])S_i, NK, 3),
                     KQ_OK);
    assert_memory_equal(out, dek, 32);
    assert_int_equal(faulty[0], 1);
    assert_int_equal(faulty[1] + faulty[2] + faulty[3], 0);
    /* derive answers are wrong too */
    base_req(&r, KQ_KREQ_DERIVE, "drv", 1);
    assert_int_equal(ask(2, &r, &resp), KQ_OK);
    partial_of(&resp, 2, &p);
    sharing_of_key("drv", 1, &s);
    assert_int_equal(kq_partial_evidence_check(&p, W->nodes[2].pk, s.public_shares[p.index - 1]),
                     1);
    node_stop(&W->nodes[2]);
    node_boot(&W->nodes[2], false);
}

/* ---- restart ---- */

static void test_restart(void **state)
{
    (void)state;
    uint8_t dek[32], ct[KQ_TKEM_CTBYTES(32)];
    struct kq_tkem_partial parts[1];
    uint8_t S_i[1][32], a[32], b[32];
    const size_t who[1] = {1}, w1[3] = {0, 1, 2};
    derive_key(w1, a);
    derive_key(w1, b);
    size_t len = wrap("enc", 1, CTX_V, sizeof CTX_V - 1, dek, ct, sizeof ct); /* W->label */
    for (size_t i = 0; i < NK; i++) {
        node_stop(&W->nodes[i]);
        node_boot(&W->nodes[i], false);
        assert_true(kq_keeper_share_count(W->nodes[i].state) >= 3);
    }
    unwrap_all(ct, len, who, 1, parts, S_i);
    derive_key(w1, b);
    assert_memory_equal(a, b, 32); /* the same key from the restarted keepers */
    /* a damaged wrapped secret fails the restore */
    struct node *n = &W->nodes[3];
    struct rec *x = NULL;
    for (size_t i = 0; i < n->n_recs && x == NULL; i++)
        if (strncmp(n->recs[i].key, KQ_KEEPER_REC_KE, strlen(KQ_KEEPER_REC_KE)) == 0)
            x = &n->recs[i];
    assert_non_null(x);
    void *st = calloc(1, kq_keeper_core.state_size);
    uint32_t peers[1] = {ORCH};
    assert_int_equal(kq_keeper_core.init(st, n->id, peers, 1, &n->cfg), KQ_OK);
    x->val[30] ^= 1;
    struct kq_event ev = {
        .kind = KQ_EV_RESTORE, .record_key = x->key, .payload = x->val, .payload_len = x->len};
    kq_actions_reset(W->acts);
    assert_int_equal(kq_keeper_core.step(st, &ev, W->acts), KQ_ERR_AUTH);
    x->val[30] ^= 1;
    assert_int_equal(kq_keeper_core.step(st, &ev, W->acts), KQ_OK);
    kq_keeper_core.fini(st);
    free(st);
}

/* ---- what is persisted ---- */

static bool contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return true;
    return false;
}

/* Opens a wrapped record as docs/crypto.md specifies: version | nonce | XChaCha20-Poly1305. */
static void open_rec(const struct rec *r, const uint8_t key[32], uint8_t out[32])
{
    unsigned long long plen = 0;
    assert_int_equal(r->len, 73);
    assert_int_equal(r->val[0], 1);
    assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(out, &plen, NULL, r->val + 25, 48,
                                                                (const uint8_t *)r->key,
                                                                strlen(r->key), r->val + 1, key),
                     0);
    assert_int_equal(plen, 32);
}

static void test_records_sealed(void **state)
{
    (void)state;
    for (size_t i = 0; i < NK; i++) {
        struct node *n = &W->nodes[i];
        size_t shares = 0;
        for (size_t j = 0; j < n->n_recs; j++) {
            const struct rec *r = &n->recs[j];
            uint8_t secret[32], ke[32], xpub[32];
            char name[80], kkey[KQ_CORE_MAX_RECORD_KEY];
            unsigned v = 0;
            unsigned long long e = 0;
            if (strncmp(r->key, "xsk/", 4) == 0) {
                open_rec(r, n->cfg.kek, secret);
                crypto_scalarmult_base(xpub, secret);
                assert_int_equal(
                    kq_keyreg_epoch_key(W->st, n->id, strtoull(r->key + 4, NULL, 10), ke), KQ_OK);
                assert_memory_equal(ke, xpub, 32); /* the published key's secret */
            } else if (strncmp(r->key, "ke/", 3) == 0) {
                open_rec(r, n->cfg.kek, secret);
            } else {
                assert_int_equal(sscanf(r->key, "share/%79[^/]/%u/%llu", name, &v, &e), 3);
                snprintf(kkey, sizeof kkey, "ke/%llu", e);
                struct rec *k = rec_find(n, kkey);
                assert_non_null(k);
                open_rec(k, n->cfg.kek, ke);
                open_rec(r, ke, secret);
                struct kq_sharing_rec s;
                uint8_t pub[32];
                sharing(name, v, e, &s);
                kq_pt_mul_base(pub, secret);
                assert_memory_equal(pub, s.public_shares[index_of(&s, i) - 1], 32);
                shares++;
            }
            /* the secret appears in no record in the clear */
            for (size_t q = 0; q < n->n_recs; q++)
                assert_false(contains(n->recs[q].val, n->recs[q].len, secret, 32));
            sodium_memzero(secret, sizeof secret);
        }
        assert_int_equal(shares, kq_keeper_share_count(n->state));
    }
}

/* ---- epoch change and erasure ---- */

static void test_refresh_erasure(void **state)
{
    (void)state;
    struct kq_keyver_rec v;
    struct kq_key_tx b = {0};
    uint8_t dek[32], ct[KQ_TKEM_CTBYTES(32)];
    size_t len = wrap("enc", 1, CTX_V, sizeof CTX_V - 1, dek, ct, sizeof ct);
    struct kq_tkem_partial parts[NK];
    uint8_t S_i[NK][32];
    struct kq_keeper_req r;
    struct kq_keeper_resp resp;
    key_op(KQ_KEY_OP_REFRESH, &b);
    for (int i = 0; i < 200; i++) {
        advance(100);
        if (kq_keyreg_version(W->st, "enc", 1, &v) == KQ_OK && v.epoch == 2 &&
            kq_keyreg_version(W->st, "sig", 1, &v) == KQ_OK && v.epoch == 2 &&
            kq_keyreg_version(W->st, "drv", 1, &v) == KQ_OK && v.epoch == 2)
            break;
    }
    assert_int_equal(kq_keyreg_version(W->st, "enc", 1, &v), KQ_OK);
    assert_int_equal(v.epoch, 2);
    for (size_t i = 0; i < NK; i++)
        assert_true(kq_keeper_has_share(W->nodes[i].state, "enc", 1, 2));
    const size_t all[NK] = {0, 1, 2, 3};
    unwrap_all(ct, len, all, NK, parts, S_i); /* epoch 2 partials verify against epoch 2 */
    /* epoch 1 serves during its grace, then is erased with its sealing key */
    unwrap_req(&r, "enc", ct, len);
    r.epoch = 1;
    assert_int_equal(v.prev_epoch, 1);
    assert_true(W->height < v.prev_until_height);
    assert_int_equal(ask(0, &r, &resp), KQ_OK);
    while (W->height < v.prev_until_height + 1)
        advance(100);
    assert_int_equal(ask(0, &r, &resp), KQ_ERR_EXPIRED);
    for (size_t i = 0; i < NK; i++) {
        struct node *n = &W->nodes[i];
        assert_false(kq_keeper_has_share(n->state, "enc", 1, 1));
        assert_null(rec_find(n, "share/enc/1/1"));
        assert_false(kq_keeper_has_sealing_key(n->state, 1));
        assert_false(kq_keeper_has_epoch_secret(n->state, 1));
        assert_null(rec_find(n, "ke/1"));
        assert_null(rec_find(n, "xsk/1"));
        assert_non_null(rec_find(n, "share/enc/1/2"));
    }
}

/* ---- retired versions and deleted keys ---- */

static void test_retire_delete(void **state)
{
    (void)state;
    struct kq_keyparams p;
    struct kq_key_tx b = {0};
    struct kq_keeper_req r;
    struct kq_keeper_resp resp;
    uint8_t dek[32], ct[KQ_TKEM_CTBYTES(32)];
    assert_int_equal(kq_keyreg_params(W->st, &p), KQ_OK);
    create_key("tmp", KQ_KEY_USAGE_ENCRYPT);
    size_t len = wrap("tmp", 1, CTX_V, sizeof CTX_V - 1, dek, ct, sizeof ct);
    strcpy(b.name, "tmp");
    key_op(KQ_KEY_OP_ROTATE, &b);
    advance(100);
    run_until_active("tmp", 2);
    unwrap_req(&r, "tmp", ct, len);
    assert_int_equal(ask(0, &r, &resp), KQ_OK); /* decrypt-only still serves */
    b.version = 2;
    key_op(KQ_KEY_OP_SET_MIN_VERSION, &b);
    advance(100);
    advance(p.min_version_grace_ms + 1);
    advance(100);
    assert_int_equal(version_state("tmp", 1), KQ_KEYVER_RETIRED);
    assert_int_equal(ask(0, &r, &resp), KQ_ERR_STATE);
    for (size_t i = 0; i < NK; i++)
        assert_false(kq_keeper_has_share(W->nodes[i].state, "tmp", 1, r.epoch));
    /* deletion */
    key_op(KQ_KEY_OP_DELETE, &b);
    advance(100);
    wrap("tmp", 2, CTX_V, sizeof CTX_V - 1, dek, ct, sizeof ct);
    unwrap_req(&r, "tmp", ct, len);
    assert_int_equal(ask(0, &r, &resp), KQ_ERR_STATE); /* pending deletion: nothing served */
    advance(p.deletion_wait_ms + 1);
    advance(100);
    for (size_t i = 0; i < NK; i++) {
        assert_false(kq_keeper_has_share(W->nodes[i].state, "tmp", 2, r.epoch));
        for (size_t j = 0; j < W->nodes[i].n_recs; j++)
            assert_null(strstr(W->nodes[i].recs[j].key, "share/tmp/"));
    }
    assert_int_equal(ask(0, &r, &resp), KQ_ERR_STATE);
}

/* ---- a lost store ---- */

static void test_lost_store(void **state)
{
    (void)state;
    struct node *n = &W->nodes[3];
    struct kq_keyver_rec v;
    uint8_t dek[32], ct[KQ_TKEM_CTBYTES(32)];
    node_stop(n);
    recs_clear(n);
    n->rng.ctr += 1000; /* another life: other randomness */
    node_boot(n, false);
    assert_int_equal(kq_keeper_share_count(n->state), 0);
    for (int i = 0; i < 300 && !(kq_keyreg_version(W->st, "enc", 1, &v) == KQ_OK &&
                                 kq_keeper_has_share(n->state, "enc", 1, v.epoch));
         i++)
        advance(100);
    assert_int_equal(kq_keyreg_version(W->st, "enc", 1, &v), KQ_OK);
    assert_true(kq_keeper_has_share(n->state, "enc", 1, v.epoch));
    struct kq_keeper_rec kr;
    assert_int_equal(kq_keyreg_keeper(W->st, n->id, &kr), KQ_OK);
    assert_true(kr.lost_height > 0); /* it reported LOST, and was reshared to */
    uint8_t pk[32];
    assert_int_equal(kq_keyreg_epoch_key(W->st, n->id, v.epoch, pk), KQ_OK);
    assert_true(kq_keeper_has_epoch_secret(n->state, v.epoch));
    struct kq_tkem_partial parts[1];
    uint8_t S_i[1][32];
    const size_t who[1] = {3};
    size_t len = wrap("enc", 1, CTX_V, sizeof CTX_V - 1, dek, ct, sizeof ct);
    unwrap_all(ct, len, who, 1, parts, S_i);
}

/* ---- committee membership, a full nonce table, FROST on an older version ---- */

static void test_more_refusals(void **state)
{
    (void)state;
    struct kq_keeper_req r;
    struct kq_keeper_resp resp;
    struct kq_sharing_rec s;
    struct kq_frost_commitment c;
    struct kq_key_tx b = {.usage = KQ_KEY_USAGE_DERIVE, .n = 3, .t = 2};
    strcpy(b.name, "small");
    key_op(KQ_KEY_OP_CREATE, &b);
    advance(100);
    run_until_active("small", 1);
    sharing_of_key("small", 1, &s);
    size_t outsider = NK;
    for (size_t i = 0; i < NK; i++)
        if (index_of(&s, i) == 0)
            outsider = i;
    assert_true(outsider < NK);
    base_req(&r, KQ_KREQ_DERIVE, "small", 1);
    assert_int_equal(ask(outsider, &r, &resp), KQ_ERR_FORBIDDEN);
    assert_int_equal(ask((outsider + 1) % NK, &r, &resp), KQ_OK);
    /* the nonce table is bounded */
    for (size_t i = 0; i < KQ_KEEPER_MAX_FROST_NONCES; i++) {
        base_req(&r, KQ_KREQ_FROST_COMMIT, "sig", 1);
        assert_int_equal(ask(0, &r, &resp), KQ_OK);
    }
    base_req(&r, KQ_KREQ_FROST_COMMIT, "sig", 1);
    assert_int_equal(ask(0, &r, &resp), KQ_ERR_BUSY);
    struct kq_event late = {.kind = KQ_EV_TIMER,
                            .timer = KQ_KEEPER_TIMER_NONCES,
                            .now_ms = W->time_ms + W->nodes[0].cfg.frost_nonce_ttl_ms};
    assert_int_equal(step(&W->nodes[0], &late), KQ_OK);
    assert_int_equal(kq_keeper_nonce_count(W->nodes[0].state), 0);
    /* FROST signs with the active version only */
    memset(&b, 0, sizeof b);
    strcpy(b.name, "sig");
    key_op(KQ_KEY_OP_ROTATE, &b);
    advance(100);
    run_until_active("sig", 2);
    base_req(&r, KQ_KREQ_FROST_COMMIT, "sig", 1);
    assert_int_equal(ask(0, &r, &resp), KQ_ERR_STATE);
    base_req(&r, KQ_KREQ_FROST_COMMIT, "sig", 2);
    frost_commit_at(0, &r, &c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dkg_shares),      cmocka_unit_test(test_unwrap),
        cmocka_unit_test(test_derive),          cmocka_unit_test(test_frost),
        cmocka_unit_test(test_frost_refusals),  cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_sealed),          cmocka_unit_test(test_byzantine),
        cmocka_unit_test(test_restart),         cmocka_unit_test(test_records_sealed),
        cmocka_unit_test(test_refresh_erasure), cmocka_unit_test(test_retire_delete),
        cmocka_unit_test(test_lost_store),      cmocka_unit_test(test_more_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
