/* Tests for the DKG message codec (src/crypto/dkg_msg.c) and for the state machine driven by
 * hand (src/crypto/dkg.c): every truncation and random byte flips fail cleanly, every
 * structural check fails on its own, and every rejection and disqualification rule fires. */
#include "../test_util.h"

#include "base/mem.h"
#include "crypto/dkg.h"
#include "crypto/dkg_local.h"

#define N          3
#define T          2
#define DEAL_H     10
#define COMPLAIN_H 20
#define JUSTIFY_H  30

/* Three machines (fresh unless set up otherwise) and the deals they emitted at start. */
struct harness {
    uint8_t sk[N][32], pks[N][32], seed[N][32];
    struct kq_dkg_cfg cfg;
    struct kq_dkg *m[N];
    struct kq_dkg_actions *act;
    uint8_t deal[N][KQ_DKG_MAX_MSG_BYTES];
    size_t deal_len[N];
};

static void base_cfg(struct harness *h, enum kq_dkg_mode mode)
{
    for (int k = 0; k < N; k++) {
        memset(h->sk[k], 0x10 + k, 32);
        memset(h->seed[k], 0x20 + k, 32);
        assert_int_equal(crypto_scalarmult_base(h->pks[k], h->sk[k]), 0);
    }
    memset(&h->cfg, 0, sizeof h->cfg);
    h->cfg.mode = mode;
    memset(h->cfg.session, 0xaa, 32);
    h->cfg.n = N;
    h->cfg.t = T;
    h->cfg.pks = (const uint8_t(*)[32])h->pks;
    h->cfg.deal_deadline = DEAL_H;
    h->cfg.complaint_deadline = COMPLAIN_H;
    h->cfg.justify_deadline = JUSTIFY_H;
}

static struct kq_dkg_cfg member_cfg(const struct harness *h, uint32_t k)
{
    struct kq_dkg_cfg c = h->cfg;
    c.my_index = k;
    c.epoch_sk = h->sk[k - 1];
    c.seed = h->seed[k - 1];
    return c;
}

/* Creates and starts the machines; old: refresh holders (NULL for fresh). */
static void start_all(struct harness *h, const struct kq_dkg_result *old)
{
    h->act = calloc(1, sizeof *h->act);
    assert_non_null(h->act);
    for (uint32_t k = 1; k <= N; k++) {
        struct kq_dkg_cfg c = member_cfg(h, k);
        if (old != NULL)
            c.old_share = old[k - 1].share;
        assert_int_equal(kq_dkg_new(&h->m[k - 1], &c), KQ_OK);
        assert_int_equal(kq_dkg_start(h->m[k - 1], h->act), KQ_OK);
        assert_int_equal(h->act->count, 1);
        assert_int_equal(h->act->status, KQ_DKG_RUNNING);
        memcpy(h->deal[k - 1], h->act->msgs[0].bytes, h->act->msgs[0].len);
        h->deal_len[k - 1] = h->act->msgs[0].len;
    }
}

static void stop_all(struct harness *h)
{
    for (int k = 0; k < N; k++)
        kq_dkg_free(h->m[k]);
    free(h->act);
}

static void setup_fresh(struct harness *h)
{
    base_cfg(h, KQ_DKG_FRESH);
    start_all(h, NULL);
}

/* Delivers msg from sender to every machine; returns the first machine's verdict. */
static enum kq_err to_all(struct harness *h, uint32_t sender, const uint8_t *msg, size_t len)
{
    enum kq_err first = KQ_OK;
    for (int k = 0; k < N; k++) {
        enum kq_err e = kq_dkg_on_message(h->m[k], sender, msg, len, h->act);
        assert_int_equal(h->act->count, 0);
        if (k == 0)
            first = e;
        else
            assert_int_equal(e, first); /* everyone decides alike */
    }
    return first;
}

static void heights(struct harness *h, uint64_t height)
{
    for (int k = 0; k < N; k++) {
        enum kq_err e = kq_dkg_on_height(h->m[k], height, h->act);
        (void)e;
    }
}

static void expect_dq(struct harness *h, uint32_t dealer, enum kq_err why)
{
    for (int k = 0; k < N; k++) {
        enum kq_err reason = KQ_OK;
        assert_int_equal(kq_dkg_dealer_state(h->m[k], dealer, &reason), KQ_DKG_DEALER_DISQUALIFIED);
        assert_int_equal(reason, why);
    }
}

/* Re-encodes deal k of h with its commitments replaced / its proof toggled. */
static size_t reencode_deal(const struct harness *h, uint32_t k, uint8_t *out,
                            const uint8_t (*commits)[32], uint32_t t, int pok, uint32_t nboxes)
{
    struct kq_dkg_msg d;
    size_t len = 0;
    assert_int_equal(kq_dkg_msg_decode(h->deal[k - 1], h->deal_len[k - 1], &d), KQ_OK);
    if (commits != NULL) {
        d.commits = &commits[0][0];
        d.t = t;
    }
    static const uint8_t junk_pok[64] = {1};
    if (pok >= 0)
        d.has_pok = pok == 1;
    if (d.has_pok && d.pok == NULL)
        d.pok = junk_pok;
    if (nboxes != 0)
        d.nboxes = nboxes;
    assert_int_equal(kq_dkg_msg_encode(&d, out, KQ_DKG_MAX_MSG_BYTES, &len), KQ_OK);
    return len;
}

/* ---- Codec ---------------------------------------------------------------------------------- */

static size_t sample_list(uint8_t *out, uint8_t type, const uint8_t *shares)
{
    struct kq_dkg_msg m = {.type = type, .sender = 2, .count = 2, .idx = {1, 3}};
    size_t len = 0;
    memset(m.session, 0xaa, 32);
    m.shares = shares;
    assert_int_equal(kq_dkg_msg_encode(&m, out, KQ_DKG_MAX_MSG_BYTES, &len), KQ_OK);
    return len;
}

static void test_roundtrip(void **state)
{
    (void)state;
    struct harness h;
    uint8_t buf[KQ_DKG_MAX_MSG_BYTES], shares[64];
    struct kq_dkg_msg d;
    setup_fresh(&h);
    assert_int_equal(kq_dkg_msg_decode(h.deal[0], h.deal_len[0], &d), KQ_OK);
    assert_int_equal(d.type, KQ_DKG_MSG_DEAL);
    assert_int_equal(d.sender, 1);
    assert_int_equal(d.t, T);
    assert_true(d.has_pok);
    assert_int_equal(d.nboxes, N);
    assert_int_equal(h.deal_len[0],
                     KQ_DKG_HEADERBYTES + 2 + T * 32 + 1 + 64 + 2 + N * KQ_DKG_BOXBYTES);
    size_t len = reencode_deal(&h, 1, buf, NULL, 0, -1, 0);
    assert_int_equal(len, h.deal_len[0]);
    assert_memory_equal(buf, h.deal[0], len);
    memset(shares, 7, sizeof shares);
    len = sample_list(buf, KQ_DKG_MSG_JUSTIFICATION, shares);
    assert_int_equal(len, KQ_DKG_HEADERBYTES + 2 + 2 * 4 + 2 * 32);
    assert_int_equal(kq_dkg_msg_decode(buf, len, &d), KQ_OK);
    assert_int_equal(d.count, 2);
    assert_int_equal(d.idx[1], 3);
    assert_memory_equal(d.shares, shares, 64);
    len = sample_list(buf, KQ_DKG_MSG_COMPLAINT, NULL);
    assert_int_equal(len, KQ_DKG_HEADERBYTES + 2 + 2 * 4);
    assert_int_equal(kq_dkg_msg_decode(buf, len, &d), KQ_OK);
    assert_int_equal(d.type, KQ_DKG_MSG_COMPLAINT);
    assert_int_equal(kq_dkg_max_msg_bytes(), KQ_DKG_MAX_MSG_BYTES);
    assert_int_equal(kq_dkg_sessionbytes(), 32);
    assert_int_equal(kq_dkg_seedbytes(), 32);
    stop_all(&h);
}

static void all_truncations_fail(const uint8_t *msg, size_t len)
{
    struct kq_dkg_msg d;
    uint8_t longer[KQ_DKG_MAX_MSG_BYTES + 1];
    for (size_t k = 0; k < len; k++)
        assert_int_not_equal(kq_dkg_msg_decode(msg, k, &d), KQ_OK);
    memcpy(longer, msg, len);
    longer[len] = 0;
    assert_int_equal(kq_dkg_msg_decode(longer, len + 1, &d), KQ_ERR_FORMAT); /* trailing */
}

static void test_truncations(void **state)
{
    (void)state;
    struct harness h;
    uint8_t buf[KQ_DKG_MAX_MSG_BYTES], shares[64] = {0};
    setup_fresh(&h);
    all_truncations_fail(h.deal[1], h.deal_len[1]);
    all_truncations_fail(buf, sample_list(buf, KQ_DKG_MSG_COMPLAINT, NULL));
    all_truncations_fail(buf, sample_list(buf, KQ_DKG_MSG_JUSTIFICATION, shares));
    stop_all(&h);
}

/* Random byte flips: the decoder and the machine fail cleanly or accept, never crash. */
static void test_byte_flips(void **state)
{
    (void)state;
    struct harness h;
    uint8_t buf[KQ_DKG_MAX_MSG_BYTES], rnd[4 * 2000];
    const uint8_t rseed[randombytes_SEEDBYTES] = {1};
    struct kq_dkg_msg d;
    setup_fresh(&h);
    randombytes_buf_deterministic(rnd, sizeof rnd, rseed);
    for (size_t it = 0; it < 2000; it++) {
        size_t len = h.deal_len[2];
        memcpy(buf, h.deal[2], len);
        size_t pos = ((size_t)rnd[4 * it] << 8 | rnd[4 * it + 1]) % len;
        buf[pos] ^= (uint8_t)(rnd[4 * it + 2] | 1);
        if (rnd[4 * it + 3] & 1) /* a second flip, in the header half the time */
            buf[rnd[4 * it + 3] % KQ_DKG_HEADERBYTES] ^= 0x80;
        enum kq_err e = kq_dkg_msg_decode(buf, len, &d);
        (void)e;
        if (it % 100 == 0) {
            e = kq_dkg_on_message(h.m[0], 3, buf, len, h.act);
            (void)e;
        }
    }
    stop_all(&h);
}

static void test_decode_errors(void **state)
{
    (void)state;
    uint8_t buf[KQ_DKG_MAX_MSG_BYTES];
    struct kq_dkg_msg d;
    size_t len = sample_list(buf, KQ_DKG_MSG_COMPLAINT, NULL);
    assert_int_equal(kq_dkg_msg_decode(buf, 0, &d), KQ_ERR_TRUNCATED);
    assert_int_equal(kq_dkg_msg_decode_header(buf, len, &d), KQ_OK);
    assert_int_equal(d.sender, 2);
    buf[0] = 2; /* version */
    assert_int_equal(kq_dkg_msg_decode(buf, len, &d), KQ_ERR_VERSION);
    buf[0] = 1;
    buf[1] = 0; /* type */
    assert_int_equal(kq_dkg_msg_decode(buf, len, &d), KQ_ERR_FORMAT);
    buf[1] = 4;
    assert_int_equal(kq_dkg_msg_decode(buf, len, &d), KQ_ERR_FORMAT);
    buf[1] = KQ_DKG_MSG_COMPLAINT;
    const size_t snd = 2 + 32 + 3, cnt = KQ_DKG_HEADERBYTES + 1, i0 = KQ_DKG_HEADERBYTES + 5;
    buf[snd] = 0; /* sender 0 */
    assert_int_equal(kq_dkg_msg_decode(buf, len, &d), KQ_ERR_FORMAT);
    buf[snd] = KQ_DKG_MAX_N + 1;
    assert_int_equal(kq_dkg_msg_decode(buf, len, &d), KQ_ERR_FORMAT);
    buf[snd] = 2;
    buf[cnt] = 0; /* count 0 */
    assert_int_equal(kq_dkg_msg_decode(buf, len, &d), KQ_ERR_LIMIT);
    buf[cnt] = 2;
    buf[i0] = 3; /* idx {3, 3}: duplicate */
    assert_int_equal(kq_dkg_msg_decode(buf, len, &d), KQ_ERR_FORMAT);
    buf[i0] = 4; /* {4, 3}: not increasing */
    assert_int_equal(kq_dkg_msg_decode(buf, len, &d), KQ_ERR_FORMAT);
    buf[i0] = 0; /* {0, 3}: zero index */
    assert_int_equal(kq_dkg_msg_decode(buf, len, &d), KQ_ERR_FORMAT);
    buf[i0] = 1;
    assert_int_equal(kq_dkg_msg_decode(buf, len, &d), KQ_OK);
}

static void test_decode_deal_errors(void **state)
{
    (void)state;
    struct harness h;
    uint8_t buf[KQ_DKG_MAX_MSG_BYTES];
    struct kq_dkg_msg d;
    setup_fresh(&h);
    const size_t tpos = KQ_DKG_HEADERBYTES + 1, flag = KQ_DKG_HEADERBYTES + 2 + T * 32;
    const size_t nb = flag + 1 + 64 + 1;
    memcpy(buf, h.deal[0], h.deal_len[0]);
    buf[tpos] = 0; /* t = 0 */
    assert_int_equal(kq_dkg_msg_decode(buf, h.deal_len[0], &d), KQ_ERR_LIMIT);
    buf[tpos] = T;
    buf[flag] = 2; /* proof flag */
    assert_int_equal(kq_dkg_msg_decode(buf, h.deal_len[0], &d), KQ_ERR_FORMAT);
    buf[flag] = 1;
    buf[nb] = 0; /* no boxes */
    assert_int_equal(kq_dkg_msg_decode(buf, h.deal_len[0], &d), KQ_ERR_LIMIT);
    buf[nb - 1] = 1; /* 256 + N boxes: above the limit */
    buf[nb] = N;
    assert_int_equal(kq_dkg_msg_decode(buf, h.deal_len[0], &d), KQ_ERR_LIMIT);
    stop_all(&h);
}

static void test_encode_errors(void **state)
{
    (void)state;
    uint8_t buf[KQ_DKG_MAX_MSG_BYTES], pts[2][32] = {{0}};
    size_t len = 99;
    struct kq_dkg_msg m = {.type = KQ_DKG_MSG_COMPLAINT, .sender = 1, .count = 2, .idx = {2, 1}};
    assert_int_equal(kq_dkg_msg_encode(&m, buf, sizeof buf, &len), KQ_ERR_INVALID_ARG);
    assert_int_equal(len, 0);
    m.idx[0] = 1;
    m.idx[1] = 2;
    assert_int_equal(kq_dkg_msg_encode(&m, buf, 10, &len), KQ_ERR_OVERFLOW);
    m.count = 0;
    assert_int_equal(kq_dkg_msg_encode(&m, buf, sizeof buf, &len), KQ_ERR_INVALID_ARG);
    m.type = 9;
    assert_int_equal(kq_dkg_msg_encode(&m, buf, sizeof buf, &len), KQ_ERR_INVALID_ARG);
    m = (struct kq_dkg_msg){.type = KQ_DKG_MSG_DEAL, .sender = 1, .t = 0, .commits = &pts[0][0]};
    assert_int_equal(kq_dkg_msg_encode(&m, buf, sizeof buf, &len), KQ_ERR_INVALID_ARG);
    m.t = 1;
    m.nboxes = 0;
    assert_int_equal(kq_dkg_msg_encode(&m, buf, sizeof buf, &len), KQ_ERR_INVALID_ARG);
}

/* ---- The machine ------------------------------------------------------------------------------
 */

static void test_new_errors(void **state)
{
    (void)state;
    struct harness h;
    struct kq_dkg *m = NULL;
    base_cfg(&h, KQ_DKG_FRESH);
    struct kq_dkg_cfg c = member_cfg(&h, 1);
    c.t = 0;
    assert_int_equal(kq_dkg_new(&m, &c), KQ_ERR_INVALID_ARG);
    c.t = N + 1;
    assert_int_equal(kq_dkg_new(&m, &c), KQ_ERR_INVALID_ARG);
    c = member_cfg(&h, 1);
    c.complaint_deadline = c.deal_deadline;
    assert_int_equal(kq_dkg_new(&m, &c), KQ_ERR_INVALID_ARG);
    c = member_cfg(&h, 1);
    c.justify_deadline = c.complaint_deadline;
    assert_int_equal(kq_dkg_new(&m, &c), KQ_ERR_INVALID_ARG);
    c = member_cfg(&h, 1);
    c.my_index = N + 1;
    assert_int_equal(kq_dkg_new(&m, &c), KQ_ERR_INVALID_ARG);
    c = member_cfg(&h, 1);
    c.epoch_sk = h.sk[1]; /* not the key published for index 1 */
    assert_int_equal(kq_dkg_new(&m, &c), KQ_ERR_AUTH);
    c = member_cfg(&h, 1);
    c.seed = NULL; /* a dealer needs a seed */
    assert_int_equal(kq_dkg_new(&m, &c), KQ_ERR_INVALID_ARG);
    c = member_cfg(&h, 1);
    c.mode = KQ_DKG_REFRESH; /* no old commitments */
    assert_int_equal(kq_dkg_new(&m, &c), KQ_ERR_INVALID_ARG);
    uint8_t oc[T][32] = {{0}};
    c.old_commits = (const uint8_t(*)[32])oc; /* S the identity */
    assert_int_equal(kq_dkg_new(&m, &c), KQ_ERR_BAD_POINT);
    uint8_t one[32];
    kq_sc_from_u32(one, 1);
    kq_pt_mul_base(oc[0], one);
    c.old_share = NULL;
    assert_int_equal(kq_dkg_new(&m, &c), KQ_ERR_INVALID_ARG);
    c.old_share = one; /* f(1) = 1 + 0 = 1 fits; 2 does not */
    assert_int_equal(kq_dkg_new(&m, &c), KQ_OK);
    kq_dkg_free(m);
    uint8_t two[32];
    kq_sc_from_u32(two, 2);
    c.old_share = two;
    assert_int_equal(kq_dkg_new(&m, &c), KQ_ERR_BAD_SHARE);
    c = member_cfg(&h, 1);
    c.mode = KQ_DKG_RESHARE;
    c.old_commits = (const uint8_t(*)[32])oc;
    c.old_n = 2;
    c.old_t = 3;
    assert_int_equal(kq_dkg_new(&m, &c), KQ_ERR_INVALID_ARG);
    assert_null(m);
}

static void test_event_order(void **state)
{
    (void)state;
    struct harness h;
    struct kq_dkg_result r;
    setup_fresh(&h);
    assert_int_equal(kq_dkg_start(h.m[0], h.act), KQ_ERR_STATE); /* twice */
    assert_int_equal(kq_dkg_result(h.m[0], &r), KQ_ERR_STATE);
    assert_int_equal(kq_dkg_on_height(h.m[0], 5, h.act), KQ_OK);
    assert_int_equal(kq_dkg_on_height(h.m[0], 4, h.act), KQ_ERR_INVALID_ARG); /* backwards */
    for (uint32_t k = 1; k <= N; k++)
        assert_int_equal(to_all(&h, k, h.deal[k - 1], h.deal_len[k - 1]), KQ_OK);
    heights(&h, DEAL_H);
    assert_int_equal(kq_dkg_status(h.m[0]), KQ_DKG_RUNNING);
    /* a deal after the deadline: late */
    assert_int_equal(kq_dkg_on_message(h.m[0], 1, h.deal[0], h.deal_len[0], h.act), KQ_ERR_STATE);
    heights(&h, COMPLAIN_H); /* no complaints: done at once */
    for (int k = 0; k < N; k++) {
        assert_int_equal(kq_dkg_status(h.m[k]), KQ_DKG_DONE);
        assert_int_equal(kq_dkg_error(h.m[k]), KQ_OK);
        assert_int_equal(kq_dkg_result(h.m[k], &r), KQ_OK);
        assert_true(r.has_share);
    }
    kq_dkg_result_wipe(&r);
    stop_all(&h);
}

static void test_rejections(void **state)
{
    (void)state;
    struct harness h;
    uint8_t buf[KQ_DKG_MAX_MSG_BYTES];
    setup_fresh(&h);
    size_t len = h.deal_len[0];
    memcpy(buf, h.deal[0], len);
    buf[2] ^= 1; /* another session */
    assert_int_equal(to_all(&h, 1, buf, len), KQ_ERR_LABEL);
    assert_int_equal(to_all(&h, 2, h.deal[0], len), KQ_ERR_AUTH); /* sender mismatch */
    assert_int_equal(to_all(&h, 1, buf, 3), KQ_ERR_TRUNCATED);    /* no header */
    len = sample_list(buf, KQ_DKG_MSG_COMPLAINT, NULL);
    assert_int_equal(to_all(&h, 2, buf, len), KQ_ERR_STATE); /* complaint in the deal phase */
    assert_int_equal(to_all(&h, 1, h.deal[0], h.deal_len[0]), KQ_OK);
    assert_int_equal(to_all(&h, 1, h.deal[0], h.deal_len[0]), KQ_ERR_STATE); /* duplicate */
    assert_int_equal(kq_dkg_dealer_state(h.m[1], 1, NULL), KQ_DKG_DEALER_VALID);
    assert_int_equal(kq_dkg_dealer_state(h.m[1], 2, NULL), KQ_DKG_DEALER_PENDING);
    heights(&h, DEAL_H);
    assert_int_equal(kq_dkg_dealer_state(h.m[1], 2, NULL), KQ_DKG_DEALER_ABSENT);
    struct kq_dkg_msg c = {.type = KQ_DKG_MSG_COMPLAINT, .sender = 2, .count = 1, .idx = {N + 1}};
    memcpy(c.session, h.cfg.session, 32);
    assert_int_equal(kq_dkg_msg_encode(&c, buf, sizeof buf, &len), KQ_OK);
    assert_int_equal(to_all(&h, 2, buf, len), KQ_ERR_FORMAT); /* no such dealer */
    c.idx[0] = 2;                                             /* accuses an absent dealer */
    assert_int_equal(kq_dkg_msg_encode(&c, buf, sizeof buf, &len), KQ_OK);
    assert_int_equal(to_all(&h, 2, buf, len), KQ_OK);
    assert_int_equal(to_all(&h, 2, buf, len), KQ_ERR_STATE); /* one complaint per recipient */
    heights(&h, COMPLAIN_H);
    /* only dealer 1 dealt: QUAL of 1 < t */
    assert_int_equal(kq_dkg_status(h.m[0]), KQ_DKG_FAILED);
    assert_int_equal(kq_dkg_error(h.m[0]), KQ_ERR_THRESHOLD);
    stop_all(&h);
}

static void test_deal_disqualifications(void **state)
{
    (void)state;
    struct harness h;
    uint8_t buf[KQ_DKG_MAX_MSG_BYTES], pts[T][32];
    struct kq_dkg_msg d;
    setup_fresh(&h);
    /* dealer 1: a body that does not decode */
    assert_int_equal(to_all(&h, 1, h.deal[0], h.deal_len[0] - 1), KQ_OK);
    expect_dq(&h, 1, KQ_ERR_TRUNCATED);
    /* dealer 2: identity constant commitment */
    assert_int_equal(kq_dkg_msg_decode(h.deal[1], h.deal_len[1], &d), KQ_OK);
    memcpy(pts, d.commits, sizeof pts);
    memset(pts[0], 0, 32);
    size_t len = reencode_deal(&h, 2, buf, (const uint8_t(*)[32])pts, T, -1, 0);
    assert_int_equal(to_all(&h, 2, buf, len), KQ_OK);
    expect_dq(&h, 2, KQ_ERR_BAD_POINT);
    stop_all(&h);

    setup_fresh(&h);
    assert_int_equal(kq_dkg_msg_decode(h.deal[0], h.deal_len[0], &d), KQ_OK);
    memcpy(pts, d.commits, sizeof pts);
    /* dealer 1: one commitment too few */
    len = reencode_deal(&h, 1, buf, (const uint8_t(*)[32])pts, T - 1, -1, 0);
    assert_int_equal(to_all(&h, 1, buf, len), KQ_OK);
    expect_dq(&h, 1, KQ_ERR_BAD_COMMITMENT);
    /* dealer 2: an invalid point encoding */
    assert_int_equal(kq_dkg_msg_decode(h.deal[1], h.deal_len[1], &d), KQ_OK);
    memcpy(pts, d.commits, sizeof pts);
    memset(pts[1], 0xff, 32);
    len = reencode_deal(&h, 2, buf, (const uint8_t(*)[32])pts, T, -1, 0);
    assert_int_equal(to_all(&h, 2, buf, len), KQ_OK);
    expect_dq(&h, 2, KQ_ERR_BAD_POINT);
    /* dealer 3: boxes for fewer recipients */
    len = reencode_deal(&h, 3, buf, NULL, 0, -1, N - 1);
    assert_int_equal(to_all(&h, 3, buf, len), KQ_OK);
    expect_dq(&h, 3, KQ_ERR_FORMAT);
    stop_all(&h);

    /* a valid commitment re-encoded with bit 255 set (libsodium 1.0.18 would decode it) is
     * disqualified at deal time, like any other malformed commitment */
    setup_fresh(&h);
    assert_int_equal(kq_dkg_msg_decode(h.deal[1], h.deal_len[1], &d), KQ_OK);
    memcpy(pts, d.commits, sizeof pts);
    pts[1][31] |= 0x80;
    len = reencode_deal(&h, 2, buf, (const uint8_t(*)[32])pts, T, -1, 0);
    assert_int_equal(to_all(&h, 2, buf, len), KQ_OK);
    expect_dq(&h, 2, KQ_ERR_BAD_POINT);
    stop_all(&h);
}

static void test_pok_disqualifications(void **state)
{
    (void)state;
    struct harness h;
    uint8_t buf[KQ_DKG_MAX_MSG_BYTES];
    struct kq_dkg_msg d1, d2;
    setup_fresh(&h);
    /* dealer 1: no proof */
    size_t len = reencode_deal(&h, 1, buf, NULL, 0, 0, 0);
    assert_int_equal(to_all(&h, 1, buf, len), KQ_OK);
    expect_dq(&h, 1, KQ_ERR_BAD_PROOF);
    /* dealer 2: non-canonical response z */
    memcpy(buf, h.deal[1], h.deal_len[1]);
    assert_int_equal(kq_dkg_msg_decode(buf, h.deal_len[1], &d2), KQ_OK);
    memset((uint8_t *)buf + (d2.pok - buf) + 32, 0xff, 32);
    assert_int_equal(to_all(&h, 2, buf, h.deal_len[1]), KQ_OK);
    expect_dq(&h, 2, KQ_ERR_BAD_PROOF);
    /* dealer 3 re-uses dealer 1's commitments and proof: the proof is bound to dealer 1 */
    assert_int_equal(kq_dkg_msg_decode(h.deal[0], h.deal_len[0], &d1), KQ_OK);
    assert_int_equal(kq_dkg_msg_decode(h.deal[2], h.deal_len[2], &d2), KQ_OK);
    d2.commits = d1.commits;
    d2.pok = d1.pok;
    assert_int_equal(kq_dkg_msg_encode(&d2, buf, sizeof buf, &len), KQ_OK);
    assert_int_equal(to_all(&h, 3, buf, len), KQ_OK);
    expect_dq(&h, 3, KQ_ERR_BAD_PROOF);
    stop_all(&h);
}

/* Recipient 3 accuses dealer 1; dealer 1's justification is tampered in several ways. */
static void test_justification_rules(void **state)
{
    (void)state;
    struct harness h;
    uint8_t buf[KQ_DKG_MAX_MSG_BYTES], just[KQ_DKG_MAX_MSG_BYTES];
    struct kq_dkg_msg c = {.type = KQ_DKG_MSG_COMPLAINT, .sender = 3, .count = 1, .idx = {1}};
    struct kq_dkg_msg j;
    size_t len = 0, jlen = 0;
    for (int variant = 0; variant < 4; variant++) {
        setup_fresh(&h);
        for (uint32_t k = 1; k <= N; k++)
            assert_int_equal(to_all(&h, k, h.deal[k - 1], h.deal_len[k - 1]), KQ_OK);
        heights(&h, DEAL_H);
        memcpy(c.session, h.cfg.session, 32);
        assert_int_equal(kq_dkg_msg_encode(&c, buf, sizeof buf, &len), KQ_OK);
        assert_int_equal(to_all(&h, 3, buf, len), KQ_OK);
        /* a justification before the complaint phase closed */
        assert_int_equal(kq_dkg_on_height(h.m[0], COMPLAIN_H, h.act), KQ_OK);
        assert_int_equal(h.act->count, 1); /* dealer 1 justifies */
        jlen = h.act->msgs[0].len;
        memcpy(just, h.act->msgs[0].bytes, jlen);
        assert_int_equal(kq_dkg_on_message(h.m[1], 1, just, jlen, h.act), KQ_ERR_STATE);
        heights(&h, COMPLAIN_H);
        assert_int_equal(kq_dkg_msg_decode(just, jlen, &j), KQ_OK);
        uint8_t *share = just + (j.shares - just);
        enum kq_err want = KQ_OK;
        if (variant == 1) { /* non-canonical scalar */
            memset(share, 0xff, 32);
            want = KQ_ERR_BAD_SCALAR;
        } else if (variant == 2) { /* a wrong share */
            share[0] ^= 1;
            want = KQ_ERR_BAD_SHARE;
        } else if (variant == 3) { /* answers recipient 2, who did not complain */
            just[KQ_DKG_HEADERBYTES + 2 + 3] = 2;
            want = KQ_ERR_FORMAT;
        }
        /* dealer 2 has no complaint to answer: its "justification" is refused */
        struct kq_dkg_msg j2 = j;
        j2.sender = 2;
        assert_int_equal(kq_dkg_msg_encode(&j2, buf, sizeof buf, &len), KQ_OK);
        assert_int_equal(to_all(&h, 2, buf, len), KQ_ERR_STATE);
        assert_int_equal(to_all(&h, 1, just, jlen), KQ_OK);
        if (want == KQ_OK) {
            assert_int_equal(kq_dkg_dealer_state(h.m[2], 1, NULL), KQ_DKG_DEALER_VALID);
            assert_int_equal(to_all(&h, 1, just, jlen), KQ_ERR_STATE); /* once */
        } else {
            expect_dq(&h, 1, want);
        }
        heights(&h, JUSTIFY_H);
        for (int k = 0; k < N; k++)
            assert_int_equal(kq_dkg_status(h.m[k]), KQ_DKG_DONE);
        stop_all(&h);
    }
}

/* A transcript replayed by an observer ignores messages every participant rejects. */
static void test_transcript_garbage(void **state)
{
    (void)state;
    uint8_t seed[32] = {5}, junk[8] = {1, 2, 3};
    struct kq_dkg_result *r = calloc(4, sizeof *r), *obs = calloc(1, sizeof *obs);
    struct kq_dkg_local_transcript *tr = calloc(1, sizeof *tr);
    assert_non_null(r);
    assert_non_null(obs);
    assert_non_null(tr);
    struct kq_dkg_local_cfg c = {
        .mode = KQ_DKG_FRESH, .n = 4, .t = 2, .seed = seed, .transcript = tr};
    assert_int_equal(kq_dkg_local_run(&c, r), KQ_OK);
    struct kq_dkg_transcript_msg msgs[8];
    memcpy(msgs, tr->msgs, tr->count * sizeof msgs[0]);
    msgs[tr->count] =
        (struct kq_dkg_transcript_msg){.height = 1, .sender = 1, .bytes = junk, .len = sizeof junk};
    msgs[tr->count + 1] = msgs[0]; /* a replayed deal */
    assert_int_equal(kq_dkg_transcript_derive(&tr->pub, msgs, tr->count + 2, obs), KQ_OK);
    assert_memory_equal(obs->group_pk, r[0].group_pk, 32);
    /* only one deal: QUAL too small */
    assert_int_equal(kq_dkg_transcript_derive(&tr->pub, msgs, 1, obs), KQ_ERR_THRESHOLD);
    for (int k = 0; k < 4; k++)
        kq_dkg_result_wipe(&r[k]);
    free(r);
    free(obs);
    free(tr);
}

/* Refresh machines: a deal with a proof, or with a nonzero constant, is disqualified. */
static void test_refresh_rules(void **state)
{
    (void)state;
    uint8_t seed[32] = {6}, buf[KQ_DKG_MAX_MSG_BYTES], pts[T][32];
    struct kq_dkg_result *old = calloc(N, sizeof *old);
    struct harness h;
    struct kq_dkg_msg d;
    assert_non_null(old);
    struct kq_dkg_local_cfg lc = {.mode = KQ_DKG_FRESH, .n = N, .t = T, .seed = seed};
    assert_int_equal(kq_dkg_local_run(&lc, old), KQ_OK);
    base_cfg(&h, KQ_DKG_REFRESH);
    h.cfg.old_commits = (const uint8_t(*)[32])old[0].commits;
    start_all(&h, old);
    assert_int_equal(kq_dkg_msg_decode(h.deal[0], h.deal_len[0], &d), KQ_OK);
    assert_false(d.has_pok);
    assert_true(kq_pt_is_identity(d.commits));
    size_t len = reencode_deal(&h, 1, buf, NULL, 0, 1, 0); /* a (garbage) proof appears */
    assert_int_equal(to_all(&h, 1, buf, len), KQ_OK);
    expect_dq(&h, 1, KQ_ERR_BAD_PROOF);
    assert_int_equal(kq_dkg_msg_decode(h.deal[1], h.deal_len[1], &d), KQ_OK);
    memcpy(pts, d.commits, sizeof pts);
    memcpy(pts[0], old[0].group_pk, 32); /* a nonzero constant */
    len = reencode_deal(&h, 2, buf, (const uint8_t(*)[32])pts, T, -1, 0);
    assert_int_equal(to_all(&h, 2, buf, len), KQ_OK);
    expect_dq(&h, 2, KQ_ERR_BAD_COMMITMENT);
    stop_all(&h);
    for (int k = 0; k < N; k++)
        kq_dkg_result_wipe(&old[k]);
    free(old);
}

/* ---- The box scheme, recomputed from docs/crypto/dkg.md §3 -------------------------------- */

struct box_ctx {
    uint8_t key[32], ad[104];
};

static void spec_box_ctx(const struct harness *h, uint32_t i, uint32_t j, struct box_ctx *bc)
{
    struct kq_dkg_msg d;
    struct kq_ts ts;
    uint8_t chash[64], shared[32], digest[64];
    assert_int_equal(kq_dkg_msg_decode(h->deal[i - 1], h->deal_len[i - 1], &d), KQ_OK);
    kq_ts_init(&ts, "keyquorum/v1/dkg-commits");
    kq_ts_put(&ts, h->cfg.session, 32);
    kq_ts_put_u32(&ts, i);
    kq_ts_put(&ts, d.commits, (size_t)d.t * 32);
    kq_ts_digest(&ts, chash);
    assert_int_equal(crypto_scalarmult(shared, h->sk[i - 1], h->pks[j - 1]), 0);
    kq_ts_init(&ts, "keyquorum/v1/dkg-box-key");
    kq_ts_put(&ts, h->cfg.session, 32);
    kq_ts_put_u32(&ts, i);
    kq_ts_put_u32(&ts, j);
    kq_ts_put(&ts, h->pks[i - 1], 32);
    kq_ts_put(&ts, h->pks[j - 1], 32);
    kq_ts_put(&ts, shared, 32);
    kq_ts_put(&ts, chash, 64);
    kq_ts_digest(&ts, digest);
    memcpy(bc->key, digest, 32);
    memcpy(bc->ad, h->cfg.session, 32);
    const uint8_t be[8] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i,
                           (uint8_t)(j >> 24), (uint8_t)(j >> 16), (uint8_t)(j >> 8), (uint8_t)j};
    memcpy(bc->ad + 32, be, 8);
    memcpy(bc->ad + 40, chash, 64);
}

static uint8_t *box_in_deal(struct harness *h, uint32_t i, uint32_t j)
{
    struct kq_dkg_msg d;
    assert_int_equal(kq_dkg_msg_decode(h->deal[i - 1], h->deal_len[i - 1], &d), KQ_OK);
    return h->deal[i - 1] + (d.boxes - h->deal[i - 1]) + (size_t)(j - 1) * KQ_DKG_BOXBYTES;
}

static const uint8_t zero_nonce[24];

static void spec_open(struct harness *h, uint32_t i, uint32_t j, uint8_t share[32])
{
    struct box_ctx bc;
    spec_box_ctx(h, i, j, &bc);
    assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(share, NULL, NULL,
                                                                box_in_deal(h, i, j), 48, bc.ad,
                                                                104, zero_nonce, bc.key),
                     0);
}

static void spec_seal(struct harness *h, uint32_t i, uint32_t j, const uint8_t share[32])
{
    struct box_ctx bc;
    spec_box_ctx(h, i, j, &bc);
    assert_int_equal(crypto_aead_xchacha20poly1305_ietf_encrypt(box_in_deal(h, i, j), NULL, share,
                                                                32, bc.ad, 104, NULL, zero_nonce,
                                                                bc.key),
                     0);
}

static void deliver_deals(struct harness *h)
{
    for (uint32_t k = 1; k <= N; k++)
        assert_int_equal(to_all(h, k, h->deal[k - 1], h->deal_len[k - 1]), KQ_OK);
}

/* The documented scheme opens the machine's boxes, and its shares verify. */
static void test_box_scheme(void **state)
{
    (void)state;
    struct harness h;
    struct kq_dkg_msg d;
    uint8_t share[32];
    setup_fresh(&h);
    for (uint32_t i = 1; i <= N; i++) {
        assert_int_equal(kq_dkg_msg_decode(h.deal[i - 1], h.deal_len[i - 1], &d), KQ_OK);
        for (uint32_t j = 1; j <= N; j++) {
            spec_open(&h, i, j, share);
            assert_int_equal(kq_vss_verify_share(share, j, (const uint8_t(*)[32])d.commits, T),
                             KQ_OK);
        }
    }
    stop_all(&h);
}

static void result_of(struct harness *h, uint32_t k, struct kq_dkg_result *r)
{
    assert_int_equal(kq_dkg_status(h->m[k - 1]), KQ_DKG_DONE);
    assert_int_equal(kq_dkg_result(h->m[k - 1], r), KQ_OK);
}

/* A recipient whose complaint never reaches the ledger ends without a share, not a wrong one. */
static void test_lost_complaint(void **state)
{
    (void)state;
    struct harness h;
    struct kq_dkg_result r;
    setup_fresh(&h);
    box_in_deal(&h, 1, 3)[5] ^= 1;
    deliver_deals(&h);
    for (uint32_t k = 1; k <= N; k++) {
        assert_int_equal(kq_dkg_on_height(h.m[k - 1], DEAL_H, h.act), KQ_OK);
        assert_int_equal(h.act->count, k == 3 ? 1 : 0); /* recipient 3 complains ... */
    }
    heights(&h, COMPLAIN_H); /* ... but the complaint is lost */
    result_of(&h, 3, &r);
    assert_false(r.has_share);
    assert_int_equal(r.qual_count, N);
    result_of(&h, 1, &r);
    assert_true(r.has_share);
    kq_dkg_result_wipe(&r);
    stop_all(&h);
}

/* Dealers 1 and 2 send recipient 3 shares whose errors cancel in a plain sum. Shares are checked
 * one dealer at a time, so recipient 3 catches both and complains against both; nobody else
 * complains. */
static void test_cancelling_errors_caught(void **state)
{
    (void)state;
    struct harness h;
    struct kq_dkg_msg c;
    uint8_t s1[32], s2[32], e[32];
    setup_fresh(&h);
    spec_open(&h, 1, 3, s1);
    spec_open(&h, 2, 3, s2);
    kq_sc_random(e);
    crypto_core_ristretto255_scalar_add(s1, s1, e);
    crypto_core_ristretto255_scalar_sub(s2, s2, e);
    spec_seal(&h, 1, 3, s1);
    spec_seal(&h, 2, 3, s2);
    deliver_deals(&h);
    for (uint32_t k = 1; k <= N; k++) {
        assert_int_equal(kq_dkg_on_height(h.m[k - 1], DEAL_H, h.act), KQ_OK);
        if (k != 3) {
            assert_int_equal(h.act->count, 0);
            continue;
        }
        assert_int_equal(h.act->count, 1);
        assert_int_equal(kq_dkg_msg_decode(h.act->msgs[0].bytes, h.act->msgs[0].len, &c), KQ_OK);
        assert_int_equal(c.type, KQ_DKG_MSG_COMPLAINT);
        assert_int_equal(c.count, 2);
        assert_int_equal(c.idx[0], 1);
        assert_int_equal(c.idx[1], 2);
    }
    stop_all(&h);
}

int main(void)
{
    assert_int_equal(kq_init(0), KQ_OK);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_byte_flips),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_decode_deal_errors),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_new_errors),
        cmocka_unit_test(test_event_order),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_deal_disqualifications),
        cmocka_unit_test(test_pok_disqualifications),
        cmocka_unit_test(test_justification_rules),
        cmocka_unit_test(test_transcript_garbage),
        cmocka_unit_test(test_refresh_rules),
        cmocka_unit_test(test_box_scheme),
        cmocka_unit_test(test_lost_complaint),
        cmocka_unit_test(test_cancelling_errors_caught),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
