/* Tests for the heartbeat core (src/core/heartbeat.c) and its message codec (src/wire/heartbeat.c):
 * each rule of the step function and each rejection, which must leave the state unchanged. */
#include "../test_util.h"

#include "base/limits.h"
#include "core/heartbeat.h"
#include "wire/heartbeat.h"

#define SELF     1u
#define INTERVAL 100u
#define TIMEOUT  500u

struct hb {
    void *st;
    struct kq_actions *out;
};

static const uint32_t peers3[] = {2, 3, 4};
static const struct kq_heartbeat_config cfg = {.interval_ms = INTERVAL, .timeout_ms = TIMEOUT};

static void hb_new(struct hb *h, const uint32_t *peers, size_t n)
{
    h->st = calloc(1, kq_heartbeat_ops.state_size);
    h->out = malloc(sizeof *h->out);
    assert_non_null(h->st);
    assert_non_null(h->out);
    kq_actions_reset(h->out);
    assert_int_equal(kq_heartbeat_ops.init(h->st, SELF, peers, n, &cfg), KQ_OK);
}

static void hb_free(struct hb *h)
{
    kq_heartbeat_ops.fini(h->st);
    free(h->st);
    free(h->out);
}

static enum kq_err step(struct hb *h, const struct kq_event *ev)
{
    kq_actions_reset(h->out);
    return kq_heartbeat_ops.step(h->st, ev, h->out);
}

static enum kq_err ev_simple(struct hb *h, enum kq_event_kind kind, uint64_t now, uint32_t peer)
{
    struct kq_event ev = {.kind = kind, .now_ms = now, .peer = peer};
    return step(h, &ev);
}

static enum kq_err ev_timer(struct hb *h, uint64_t now, uint32_t timer)
{
    struct kq_event ev = {.kind = KQ_EV_TIMER, .now_ms = now, .timer = timer};
    return step(h, &ev);
}

static enum kq_err ev_done(struct hb *h, uint64_t now, uint64_t token)
{
    struct kq_event ev = {.kind = KQ_EV_WRITE_DONE, .now_ms = now, .write_token = token};
    return step(h, &ev);
}

static enum kq_err ev_restore(struct hb *h, const char *key, const uint8_t *v, size_t len)
{
    struct kq_event ev = {
        .kind = KQ_EV_RESTORE, .record_key = key, .payload = v, .payload_len = len};
    return step(h, &ev);
}

static enum kq_err ev_bytes(struct hb *h, uint64_t now, uint32_t peer, uint16_t type,
                            const uint8_t *p, size_t len)
{
    struct kq_event ev = {.kind = KQ_EV_FRAME,
                          .now_ms = now,
                          .peer = peer,
                          .frame_type = type,
                          .payload = p,
                          .payload_len = len};
    return step(h, &ev);
}

static enum kq_err ev_beat(struct hb *h, uint64_t now, uint32_t peer, uint64_t inc, uint64_t seq)
{
    uint8_t msg[KQ_HEARTBEAT_MSG_BYTES];
    size_t len;
    struct kq_heartbeat_msg m = {.incarnation = inc, .seq = seq};
    assert_int_equal(kq_heartbeat_msg_encode(&m, msg, sizeof msg, &len), KQ_OK);
    return ev_bytes(h, now, peer, KQ_FRAME_HEARTBEAT, msg, len);
}

static const struct kq_action *act(const struct hb *h, size_t i)
{
    assert_true(i < h->out->count);
    return &h->out->items[i];
}

static void assert_status(const struct hb *h, size_t i, enum kq_status_kind s, uint32_t peer,
                          uint64_t value)
{
    const struct kq_action *a = act(h, i);
    assert_int_equal(a->kind, KQ_ACT_STATUS);
    assert_int_equal(a->status, s);
    assert_int_equal(a->peer, peer);
    assert_true(a->value == value);
}

static void assert_beat(const struct hb *h, size_t i, uint32_t to, uint64_t inc, uint64_t seq)
{
    const struct kq_action *a = act(h, i);
    struct kq_heartbeat_msg m;
    assert_int_equal(a->kind, KQ_ACT_SEND);
    assert_int_equal(a->peer, to);
    assert_int_equal(a->frame_type, KQ_FRAME_HEARTBEAT);
    assert_int_equal(kq_heartbeat_msg_decode(&m, kq_action_payload(h->out, a), a->payload_len),
                     KQ_OK);
    assert_true(m.incarnation == inc);
    assert_true(m.seq == seq);
}

static void assert_timer(const struct hb *h, size_t i, uint32_t timer)
{
    assert_int_equal(act(h, i)->kind, KQ_ACT_TIMER);
    assert_int_equal(act(h, i)->timer, timer);
    assert_true(act(h, i)->after_ms == INTERVAL);
}

static void u64be(uint8_t out[8], uint64_t v)
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* RESTORE (inc - 1), START, WRITE_DONE: ready in incarnation inc, having sent beat 1. */
static void make_ready(struct hb *h, uint64_t inc)
{
    uint8_t prev[8];
    u64be(prev, inc - 1);
    if (inc > 1)
        assert_int_equal(ev_restore(h, KQ_HEARTBEAT_RECORD, prev, sizeof prev), KQ_OK);
    assert_int_equal(ev_simple(h, KQ_EV_START, 0, 0), KQ_OK);
    assert_int_equal(h->out->count, 1);
    assert_int_equal(ev_done(h, 0, inc), KQ_OK);
    assert_true(kq_heartbeat_ready(h->st));
}

/* ---- the message codec ---- */

static void test_codec(void **state)
{
    (void)state;
    uint8_t buf[32],
        want[KQ_HEARTBEAT_MSG_BYTES] = {1, 0, 0, 0, 0, 0, 0, 0, 0x2a, 0, 0, 0, 0, 0, 0, 1, 2};
    size_t len = 99;
    struct kq_heartbeat_msg m = {.incarnation = 42, .seq = 0x102}, d;
    assert_int_equal(kq_heartbeat_msg_bytes(), KQ_HEARTBEAT_MSG_BYTES);
    assert_int_equal(kq_heartbeat_msg_encode(&m, buf, sizeof buf, &len), KQ_OK);
    assert_int_equal(len, sizeof want);
    assert_memory_equal(buf, want, sizeof want);
    assert_int_equal(kq_heartbeat_msg_decode(&d, buf, len), KQ_OK);
    assert_true(d.incarnation == 42 && d.seq == 0x102);

    assert_int_equal(kq_heartbeat_msg_encode(&m, buf, KQ_HEARTBEAT_MSG_BYTES - 1, &len),
                     KQ_ERR_OVERFLOW);
    assert_int_equal(len, 0);
    m.incarnation = 0;
    assert_int_equal(kq_heartbeat_msg_encode(&m, buf, sizeof buf, &len), KQ_ERR_INVALID_ARG);
}

static void test_codec_rejects(void **state)
{
    (void)state;
    uint8_t b[KQ_HEARTBEAT_MSG_BYTES + 1] = {1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 1};
    struct kq_heartbeat_msg d;
    for (size_t cut = 0; cut < KQ_HEARTBEAT_MSG_BYTES; cut++)
        assert_int_equal(kq_heartbeat_msg_decode(&d, b, cut), KQ_ERR_TRUNCATED);
    assert_int_equal(kq_heartbeat_msg_decode(&d, b, sizeof b), KQ_ERR_FORMAT); /* trailing */
    b[0] = 2;
    assert_int_equal(kq_heartbeat_msg_decode(&d, b, KQ_HEARTBEAT_MSG_BYTES), KQ_ERR_VERSION);
    b[0] = 1;
    b[8] = 0; /* incarnation 0 */
    assert_int_equal(kq_heartbeat_msg_decode(&d, b, KQ_HEARTBEAT_MSG_BYTES), KQ_ERR_FORMAT);
    assert_true(d.incarnation == 0 && d.seq == 0); /* zeroed on failure */
}

/* ---- init ---- */

static void test_init_rejects(void **state)
{
    (void)state;
    void *st = calloc(1, kq_heartbeat_ops.state_size);
    uint32_t many[KQ_MAX_NODES];
    for (uint32_t i = 0; i < KQ_MAX_NODES; i++)
        many[i] = i + 2;
    struct kq_heartbeat_config bad = cfg;
    const uint32_t dup[] = {2, 3, 2}, self[] = {2, SELF}, all[] = {KQ_PEER_ALL};
    assert_int_equal(kq_heartbeat_ops.init(st, SELF, peers3, 3, NULL), KQ_ERR_INVALID_ARG);
    bad.interval_ms = 0;
    assert_int_equal(kq_heartbeat_ops.init(st, SELF, peers3, 3, &bad), KQ_ERR_INVALID_ARG);
    bad.interval_ms = TIMEOUT;
    assert_int_equal(kq_heartbeat_ops.init(st, SELF, peers3, 3, &bad), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_heartbeat_ops.init(st, SELF, dup, 3, &cfg), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_heartbeat_ops.init(st, SELF, self, 2, &cfg), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_heartbeat_ops.init(st, SELF, all, 1, &cfg), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_heartbeat_ops.init(st, KQ_PEER_ALL, peers3, 3, &cfg), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_heartbeat_ops.init(st, SELF, NULL, 1, &cfg), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_heartbeat_ops.init(st, SELF, many, KQ_MAX_NODES, &cfg), KQ_ERR_LIMIT);
    /* the zeroed state a driver allocates answers queries before init */
    assert_false(kq_heartbeat_ready(st));
    assert_int_equal(kq_heartbeat_alive_count(st), 0);
    assert_int_equal(kq_heartbeat_ops.init(st, SELF, many, KQ_MAX_NODES - 1, &cfg), KQ_OK);
    assert_int_equal(kq_heartbeat_ops.init(st, SELF, NULL, 0, &cfg), KQ_OK);
    free(st);
}

/* ---- start, durability of the incarnation ---- */

static void test_start_waits_for_durability(void **state)
{
    (void)state;
    struct hb h;
    uint8_t one[8];
    u64be(one, 1);
    hb_new(&h, peers3, 3);
    assert_int_equal(ev_simple(&h, KQ_EV_START, 5, 0), KQ_OK);
    assert_int_equal(h.out->count, 1); /* only the persist: no beat before it is durable */
    const struct kq_action *p = act(&h, 0);
    assert_int_equal(p->kind, KQ_ACT_PERSIST);
    assert_string_equal(p->record_key, KQ_HEARTBEAT_RECORD);
    assert_true(p->sync && p->write_token == 1);
    assert_int_equal(p->payload_len, 8);
    assert_memory_equal(kq_action_payload(h.out, p), one, 8);
    assert_false(kq_heartbeat_ready(h.st));
    assert_true(kq_heartbeat_incarnation(h.st) == 0);

    assert_int_equal(ev_simple(&h, KQ_EV_PEER_UP, 6, 2), KQ_OK); /* noted, nothing sent */
    assert_int_equal(h.out->count, 0);
    assert_true(kq_heartbeat_linked(h.st, 2));
    assert_int_equal(ev_beat(&h, 7, 2, 3, 1), KQ_OK); /* heard but not acted upon */
    assert_int_equal(h.out->count, 0);
    assert_false(kq_heartbeat_alive(h.st, 2));
    assert_int_equal(ev_timer(&h, 8, KQ_HEARTBEAT_TIMER_BEACON), KQ_ERR_STATE);
    assert_int_equal(ev_done(&h, 9, 2), KQ_ERR_STATE); /* another write's token */
    assert_int_equal(h.out->count, 0);
    assert_false(kq_heartbeat_ready(h.st));

    assert_int_equal(ev_done(&h, 10, 1), KQ_OK);
    assert_int_equal(h.out->count, 4);
    assert_status(&h, 0, KQ_STATUS_READY, SELF, 1);
    assert_beat(&h, 1, KQ_PEER_ALL, 1, 1);
    assert_timer(&h, 2, KQ_HEARTBEAT_TIMER_BEACON);
    assert_timer(&h, 3, KQ_HEARTBEAT_TIMER_CHECK);
    assert_true(kq_heartbeat_ready(h.st));
    assert_true(kq_heartbeat_incarnation(h.st) == 1);
    assert_int_equal(ev_done(&h, 11, 1), KQ_ERR_STATE); /* once only */
    assert_int_equal(ev_simple(&h, KQ_EV_START, 12, 0), KQ_ERR_STATE);
    hb_free(&h);
}

static void test_restore(void **state)
{
    (void)state;
    struct hb h;
    uint8_t v[9], want[8];
    u64be(v, 41);
    u64be(want, 42);
    hb_new(&h, peers3, 3);
    assert_int_equal(ev_restore(&h, KQ_HEARTBEAT_RECORD, v, 8), KQ_OK);
    assert_int_equal(ev_restore(&h, "ledger/head", v, 3), KQ_OK); /* not ours: ignored */
    assert_int_equal(ev_restore(&h, KQ_HEARTBEAT_RECORD, v, 7), KQ_ERR_TRUNCATED);
    assert_int_equal(ev_restore(&h, KQ_HEARTBEAT_RECORD, v, 9), KQ_ERR_FORMAT);
    assert_int_equal(h.out->count, 0);
    assert_int_equal(ev_simple(&h, KQ_EV_START, 0, 0), KQ_OK); /* rejects changed nothing */
    assert_true(act(&h, 0)->write_token == 42);
    assert_memory_equal(kq_action_payload(h.out, act(&h, 0)), want, 8);
    assert_int_equal(ev_restore(&h, KQ_HEARTBEAT_RECORD, v, 8), KQ_ERR_STATE);
    assert_int_equal(ev_done(&h, 1, 42), KQ_OK);
    assert_true(kq_heartbeat_incarnation(h.st) == 42);
    assert_beat(&h, 1, KQ_PEER_ALL, 42, 1);
    hb_free(&h);
}

static void test_restore_exhausted(void **state)
{
    (void)state;
    struct hb h;
    uint8_t v[8];
    u64be(v, UINT64_MAX);
    hb_new(&h, peers3, 3);
    assert_int_equal(ev_restore(&h, KQ_HEARTBEAT_RECORD, v, 8), KQ_OK);
    assert_int_equal(ev_simple(&h, KQ_EV_START, 0, 0), KQ_ERR_LIMIT);
    assert_int_equal(h.out->count, 0);
    assert_int_equal(ev_simple(&h, KQ_EV_PEER_UP, 0, 2), KQ_ERR_STATE); /* still not started */
    hb_free(&h);
}

static void test_before_start(void **state)
{
    (void)state;
    struct hb h;
    hb_new(&h, peers3, 3);
    assert_int_equal(ev_timer(&h, 0, KQ_HEARTBEAT_TIMER_CHECK), KQ_ERR_STATE);
    assert_int_equal(ev_beat(&h, 0, 2, 1, 1), KQ_ERR_STATE);
    assert_int_equal(ev_simple(&h, KQ_EV_PEER_UP, 0, 2), KQ_ERR_STATE);
    assert_int_equal(ev_simple(&h, KQ_EV_PEER_DOWN, 0, 2), KQ_ERR_STATE);
    assert_int_equal(ev_done(&h, 0, 1), KQ_ERR_STATE);
    assert_int_equal(ev_simple(&h, (enum kq_event_kind)99, 0, 0), KQ_ERR_INVALID_ARG);
    assert_int_equal(h.out->count, 0);
    hb_free(&h);
}

/* ---- ticks, liveness ---- */

static void test_beacon_tick(void **state)
{
    (void)state;
    struct hb h;
    hb_new(&h, peers3, 3);
    make_ready(&h, 1);
    assert_int_equal(ev_timer(&h, 100, KQ_HEARTBEAT_TIMER_BEACON), KQ_OK);
    assert_int_equal(h.out->count, 2);
    assert_beat(&h, 0, KQ_PEER_ALL, 1, 2);
    assert_timer(&h, 1, KQ_HEARTBEAT_TIMER_BEACON);
    assert_int_equal(ev_timer(&h, 200, KQ_HEARTBEAT_TIMER_BEACON), KQ_OK);
    assert_beat(&h, 0, KQ_PEER_ALL, 1, 3);
    assert_int_equal(ev_timer(&h, 200, 77), KQ_ERR_STATE); /* not a timer of ours */
    assert_int_equal(h.out->count, 0);
    hb_free(&h);
}

static void test_alive_and_seq(void **state)
{
    (void)state;
    struct hb h;
    hb_new(&h, peers3, 3);
    make_ready(&h, 1);
    assert_int_equal(ev_beat(&h, 10, 2, 5, 3), KQ_OK);
    assert_int_equal(h.out->count, 1);
    assert_status(&h, 0, KQ_STATUS_PEER_ALIVE, 2, 5);
    assert_true(kq_heartbeat_alive(h.st, 2));
    assert_false(kq_heartbeat_alive(h.st, 3));
    assert_false(kq_heartbeat_alive(h.st, 9));
    assert_int_equal(kq_heartbeat_alive_count(h.st), 1);
    assert_true(kq_heartbeat_peer_incarnation(h.st, 2) == 5);
    assert_int_equal(ev_beat(&h, 20, 2, 5, 4), KQ_OK); /* newer, already alive: quiet */
    assert_int_equal(h.out->count, 0);
    /* a duplicate or an older seq does not refresh the peer: it still dies 500 ms after t=20 */
    assert_int_equal(ev_beat(&h, 400, 2, 5, 4), KQ_OK);
    assert_int_equal(ev_beat(&h, 410, 2, 5, 1), KQ_OK);
    assert_int_equal(h.out->count, 0);
    assert_int_equal(ev_timer(&h, 520, KQ_HEARTBEAT_TIMER_CHECK), KQ_OK);
    assert_int_equal(h.out->count, 1); /* silent for exactly the timeout: not yet */
    assert_int_equal(ev_timer(&h, 521, KQ_HEARTBEAT_TIMER_CHECK), KQ_OK);
    assert_int_equal(h.out->count, 2);
    assert_status(&h, 0, KQ_STATUS_PEER_DEAD, 2, 5);
    assert_timer(&h, 1, KQ_HEARTBEAT_TIMER_CHECK);
    assert_false(kq_heartbeat_alive(h.st, 2));
    assert_int_equal(ev_timer(&h, 900, KQ_HEARTBEAT_TIMER_CHECK), KQ_OK);
    assert_int_equal(h.out->count, 1); /* dead once, not at every check */
    hb_free(&h);
}

static void test_dead_then_alive(void **state)
{
    (void)state;
    struct hb h;
    hb_new(&h, peers3, 3);
    make_ready(&h, 1);
    assert_int_equal(ev_beat(&h, 0, 3, 2, 1), KQ_OK);
    assert_int_equal(ev_timer(&h, 600, KQ_HEARTBEAT_TIMER_CHECK), KQ_OK);
    assert_status(&h, 0, KQ_STATUS_PEER_DEAD, 3, 2);
    assert_int_equal(ev_beat(&h, 700, 3, 2, 2), KQ_OK); /* back, same life */
    assert_int_equal(h.out->count, 1);
    assert_status(&h, 0, KQ_STATUS_PEER_ALIVE, 3, 2);
    assert_int_equal(ev_timer(&h, 1200, KQ_HEARTBEAT_TIMER_CHECK), KQ_OK);
    assert_int_equal(h.out->count, 1); /* heard at 700: alive at 1200 */
    hb_free(&h);
}

static void test_restarted(void **state)
{
    (void)state;
    struct hb h;
    hb_new(&h, peers3, 3);
    make_ready(&h, 1);
    assert_int_equal(ev_beat(&h, 0, 2, 5, 9), KQ_OK);
    assert_int_equal(ev_beat(&h, 10, 2, 6, 1), KQ_OK); /* alive peer, new life, seq restarts */
    assert_int_equal(h.out->count, 1);
    assert_status(&h, 0, KQ_STATUS_PEER_RESTARTED, 2, 6);
    assert_int_equal(ev_beat(&h, 20, 2, 6, 2), KQ_OK);
    assert_int_equal(h.out->count, 0);
    assert_int_equal(ev_timer(&h, 600, KQ_HEARTBEAT_TIMER_CHECK), KQ_OK);
    assert_status(&h, 0, KQ_STATUS_PEER_DEAD, 2, 6);
    assert_int_equal(ev_beat(&h, 700, 2, 9, 1), KQ_OK); /* dead peer, new life */
    assert_int_equal(h.out->count, 2);
    assert_status(&h, 0, KQ_STATUS_PEER_ALIVE, 2, 9);
    assert_status(&h, 1, KQ_STATUS_PEER_RESTARTED, 2, 9);
    assert_true(kq_heartbeat_peer_incarnation(h.st, 2) == 9);
    hb_free(&h);
}

static void test_stale_incarnation(void **state)
{
    (void)state;
    struct hb h;
    hb_new(&h, peers3, 3);
    make_ready(&h, 1);
    assert_int_equal(ev_beat(&h, 0, 2, 6, 1), KQ_OK);
    assert_int_equal(ev_beat(&h, 300, 2, 5, 100), KQ_OK); /* an earlier life: replayed */
    assert_int_equal(h.out->count, 0);
    assert_true(kq_heartbeat_peer_incarnation(h.st, 2) == 6);
    assert_int_equal(ev_timer(&h, 501, KQ_HEARTBEAT_TIMER_CHECK), KQ_OK);
    assert_status(&h, 0, KQ_STATUS_PEER_DEAD, 2, 6); /* the replay did not keep it alive */
    assert_int_equal(ev_beat(&h, 600, 2, 5, 101), KQ_OK);
    assert_int_equal(h.out->count, 0); /* nor revive it */
    assert_false(kq_heartbeat_alive(h.st, 2));
    hb_free(&h);
}

/* ---- rejections: nothing emitted, nothing changed ---- */

static void assert_rejected(struct hb *h, enum kq_err got, enum kq_err want)
{
    assert_int_equal(got, want);
    assert_int_equal(h->out->count, 0);
    assert_int_equal(kq_heartbeat_alive_count(h->st), 1);
    assert_true(kq_heartbeat_peer_incarnation(h->st, 2) == 4);
}

static void test_frame_rejects(void **state)
{
    (void)state;
    struct hb h;
    uint8_t msg[KQ_HEARTBEAT_MSG_BYTES + 1] = {1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 9};
    hb_new(&h, peers3, 3);
    make_ready(&h, 1);
    assert_int_equal(ev_beat(&h, 10, 2, 4, 1), KQ_OK);
    assert_rejected(&h, ev_beat(&h, 20, 9, 4, 2), KQ_ERR_PEER_IDENTITY);    /* unknown */
    assert_rejected(&h, ev_beat(&h, 20, SELF, 9, 2), KQ_ERR_PEER_IDENTITY); /* itself */
    assert_rejected(&h, ev_bytes(&h, 20, 2, KQ_FRAME_PING, msg, 17), KQ_ERR_TYPE);
    assert_rejected(&h, ev_bytes(&h, 20, 2, KQ_FRAME_HEARTBEAT, msg, 16), KQ_ERR_TRUNCATED);
    assert_rejected(&h, ev_bytes(&h, 20, 2, KQ_FRAME_HEARTBEAT, msg, 18), KQ_ERR_FORMAT);
    assert_rejected(&h, ev_bytes(&h, 20, 2, KQ_FRAME_HEARTBEAT, NULL, 0), KQ_ERR_TRUNCATED);
    msg[0] = 2;
    assert_rejected(&h, ev_bytes(&h, 20, 2, KQ_FRAME_HEARTBEAT, msg, 17), KQ_ERR_VERSION);
    msg[0] = 1;
    msg[8] = 0;
    assert_rejected(&h, ev_bytes(&h, 20, 2, KQ_FRAME_HEARTBEAT, msg, 17), KQ_ERR_FORMAT);
    assert_rejected(&h, ev_beat(&h, 5, 2, 4, 2), KQ_ERR_INVALID_ARG); /* clock went back */
    assert_rejected(&h, ev_simple(&h, KQ_EV_PEER_UP, 20, 9), KQ_ERR_PEER_IDENTITY);
    assert_rejected(&h, ev_simple(&h, KQ_EV_PEER_DOWN, 20, SELF), KQ_ERR_PEER_IDENTITY);
    /* the rejected frames did not move the peer's seq: seq 2 is still new */
    assert_int_equal(ev_beat(&h, 20, 2, 4, 2), KQ_OK);
    assert_int_equal(ev_timer(&h, 515, KQ_HEARTBEAT_TIMER_CHECK), KQ_OK);
    assert_int_equal(h.out->count, 1); /* heard at 20, so alive at 515 */
    hb_free(&h);
}

static void test_links(void **state)
{
    (void)state;
    struct hb h;
    hb_new(&h, peers3, 3);
    make_ready(&h, 7);
    assert_int_equal(ev_beat(&h, 0, 3, 2, 1), KQ_OK);
    assert_int_equal(ev_simple(&h, KQ_EV_PEER_UP, 10, 4), KQ_OK); /* a beat at once, to it only */
    assert_int_equal(h.out->count, 1);
    assert_beat(&h, 0, 4, 7, 2);
    assert_true(kq_heartbeat_linked(h.st, 4));
    assert_int_equal(ev_simple(&h, KQ_EV_PEER_DOWN, 20, 3), KQ_OK);
    assert_int_equal(h.out->count, 0);
    assert_false(kq_heartbeat_linked(h.st, 3));
    assert_true(kq_heartbeat_alive(h.st, 3)); /* silence decides, not the transport */
    assert_int_equal(ev_timer(&h, 500, KQ_HEARTBEAT_TIMER_CHECK), KQ_OK);
    assert_int_equal(h.out->count, 1);
    assert_int_equal(ev_timer(&h, 501, KQ_HEARTBEAT_TIMER_CHECK), KQ_OK);
    assert_status(&h, 0, KQ_STATUS_PEER_DEAD, 3, 2);
    hb_free(&h);
}

/* The largest membership: every peer dies in one check, within the driver's action bound. */
static void test_all_peers_die_at_once(void **state)
{
    (void)state;
    struct hb h;
    static uint32_t peers[KQ_MAX_NODES - 1];
    for (uint32_t i = 0; i < KQ_MAX_NODES - 1; i++)
        peers[i] = i + 2;
    hb_new(&h, peers, KQ_MAX_NODES - 1);
    make_ready(&h, 1);
    for (uint32_t i = 0; i < KQ_MAX_NODES - 1; i++)
        assert_int_equal(ev_beat(&h, 0, peers[i], 1, 1), KQ_OK);
    assert_int_equal(kq_heartbeat_alive_count(h.st), KQ_MAX_NODES - 1);
    assert_int_equal(ev_timer(&h, 1000, KQ_HEARTBEAT_TIMER_CHECK), KQ_OK);
    assert_int_equal(h.out->count, KQ_MAX_NODES);
    assert_int_equal(kq_heartbeat_alive_count(h.st), 0);
    hb_free(&h);
}

static enum kq_err ev_peers(struct hb *h, uint64_t now, const uint32_t *ids, size_t n)
{
    uint8_t buf[KQ_PEERS_EVENT_MAX_BYTES];
    struct kq_event ev = {.kind = KQ_EV_PEERS, .now_ms = now, .payload = buf};
    assert_int_equal(kq_peers_event_encode(ids, n, buf, sizeof buf, &ev.payload_len), KQ_OK);
    return step(h, &ev);
}

/* A new peer set: a peer still listed keeps its liveness and incarnation, a new one starts
 * unheard and is accepted, a removed one is forgotten (its frames refused); bad sets (self, 0,
 * KQ_PEER_ALL, a duplicate, a ragged payload) and a set before START are refused unchanged. */
static void test_peer_set_changes(void **state)
{
    (void)state;
    struct hb h;
    hb_new(&h, peers3, 3);
    static const uint32_t set[] = {3, 5};
    assert_int_equal(ev_peers(&h, 0, set, 2), KQ_ERR_STATE); /* before START */
    make_ready(&h, 1);
    assert_int_equal(ev_beat(&h, 10, 3, 7, 1), KQ_OK);
    assert_true(kq_heartbeat_alive(h.st, 3));
    assert_int_equal(ev_beat(&h, 10, 5, 1, 1), KQ_ERR_PEER_IDENTITY);
    assert_int_equal(ev_peers(&h, 20, set, 2), KQ_OK);
    assert_int_equal(h.out->count, 0);
    assert_true(kq_heartbeat_alive(h.st, 3));
    assert_true(kq_heartbeat_peer_incarnation(h.st, 3) == 7);
    assert_false(kq_heartbeat_alive(h.st, 5));
    assert_int_equal(ev_beat(&h, 30, 5, 1, 1), KQ_OK);
    assert_status(&h, 0, KQ_STATUS_PEER_ALIVE, 5, 1);
    assert_int_equal(ev_beat(&h, 30, 2, 1, 1), KQ_ERR_PEER_IDENTITY); /* removed */
    assert_int_equal(ev_simple(&h, KQ_EV_PEER_UP, 30, 4), KQ_ERR_PEER_IDENTITY);
    assert_int_equal(kq_heartbeat_alive_count(h.st), 2);
    const uint32_t bad[][2] = {{3, SELF}, {3, 0}, {3, KQ_PEER_ALL}, {3, 3}};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(ev_peers(&h, 40, bad[i], 2), KQ_ERR_INVALID_ARG);
        assert_true(kq_heartbeat_alive(h.st, 5));
    }
    uint8_t ragged[5] = {0, 0, 0, 3, 0};
    struct kq_event ev = {.kind = KQ_EV_PEERS, .now_ms = 40, .payload = ragged, .payload_len = 5};
    assert_int_equal(step(&h, &ev), KQ_ERR_FORMAT);
    assert_int_equal(ev_peers(&h, 50, NULL, 0), KQ_OK); /* nobody left */
    assert_int_equal(kq_heartbeat_alive_count(h.st), 0);
    assert_int_equal(ev_timer(&h, 900, KQ_HEARTBEAT_TIMER_CHECK), KQ_OK);
    assert_int_equal(h.out->count, 1); /* the re-arm only: no one to declare dead */
    hb_free(&h);
}

static void test_fini_clears(void **state)
{
    (void)state;
    struct hb h;
    hb_new(&h, peers3, 3);
    make_ready(&h, 3);
    assert_int_equal(ev_beat(&h, 0, 2, 1, 1), KQ_OK);
    kq_heartbeat_ops.fini(h.st);
    assert_false(kq_heartbeat_ready(h.st));
    assert_false(kq_heartbeat_alive(h.st, 2));
    assert_true(kq_heartbeat_incarnation(h.st) == 0);
    free(h.st);
    free(h.out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec),
        cmocka_unit_test(test_codec_rejects),
        cmocka_unit_test(test_init_rejects),
        cmocka_unit_test(test_start_waits_for_durability),
        cmocka_unit_test(test_restore),
        cmocka_unit_test(test_restore_exhausted),
        cmocka_unit_test(test_before_start),
        cmocka_unit_test(test_beacon_tick),
        cmocka_unit_test(test_alive_and_seq),
        cmocka_unit_test(test_dead_then_alive),
        cmocka_unit_test(test_restarted),
        cmocka_unit_test(test_stale_incarnation),
        cmocka_unit_test(test_frame_rejects),
        cmocka_unit_test(test_links),
        cmocka_unit_test(test_all_peers_die_at_once),
        cmocka_unit_test(test_peer_set_changes),
        cmocka_unit_test(test_fini_clears),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
