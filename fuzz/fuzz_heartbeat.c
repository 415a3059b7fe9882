/* Fuzzes the heartbeat message decoder and the heartbeat core's frame handling. Properties: what
 * decodes re-encodes to the same bytes; the core, fed the input as a stream of frames from its
 * peers (and silence checks), never crashes, emits nothing for a rejected frame, reports only on
 * the frame's sender, and never lets a peer's incarnation go down. */
#include <string.h>

#include "core/heartbeat.h"
#include "fuzz.h"
#include "wire/heartbeat.h"

#define N_PEERS 3

static void check_codec(const uint8_t *data, size_t size)
{
    struct kq_heartbeat_msg m;
    uint8_t out[KQ_HEARTBEAT_MSG_BYTES];
    size_t len;
    if (kq_heartbeat_msg_decode(&m, data, size) != KQ_OK)
        return;
    KQ_FUZZ_CHECK(m.incarnation != 0);
    KQ_FUZZ_CHECK(kq_heartbeat_msg_encode(&m, out, sizeof out, &len) == KQ_OK);
    KQ_FUZZ_CHECK(len == size && memcmp(out, data, size) == 0);
}

static void *ready_core(struct kq_actions *out)
{
    static uint64_t state[1 << 13]; /* aligned for the core's state */
    static const uint32_t peers[N_PEERS] = {2, 3, 4};
    static const struct kq_heartbeat_config cfg = {.interval_ms = 10, .timeout_ms = 50};
    KQ_FUZZ_CHECK(kq_heartbeat_ops.state_size <= sizeof state);
    memset(state, 0, sizeof state);
    KQ_FUZZ_CHECK(kq_heartbeat_ops.init(state, 1, peers, N_PEERS, &cfg) == KQ_OK);
    struct kq_event start = {.kind = KQ_EV_START};
    struct kq_event done = {.kind = KQ_EV_WRITE_DONE, .write_token = 1};
    kq_actions_reset(out);
    KQ_FUZZ_CHECK(kq_heartbeat_ops.step(state, &start, out) == KQ_OK);
    kq_actions_reset(out);
    KQ_FUZZ_CHECK(kq_heartbeat_ops.step(state, &done, out) == KQ_OK);
    return state;
}

static void check_frame_step(void *st, const struct kq_event *ev, struct kq_actions *out)
{
    uint64_t before = kq_heartbeat_peer_incarnation(st, ev->peer);
    kq_actions_reset(out);
    enum kq_err err = kq_heartbeat_ops.step(st, ev, out);
    KQ_FUZZ_CHECK(err != KQ_ERR_OVERFLOW);
    if (err != KQ_OK) {
        KQ_FUZZ_CHECK(out->count == 0);
        KQ_FUZZ_CHECK(kq_heartbeat_peer_incarnation(st, ev->peer) == before);
        return;
    }
    KQ_FUZZ_CHECK(kq_heartbeat_peer_incarnation(st, ev->peer) >= before);
    for (size_t i = 0; i < out->count; i++) {
        const struct kq_action *a = &out->items[i];
        KQ_FUZZ_CHECK(a->kind == KQ_ACT_STATUS && a->peer == ev->peer);
        KQ_FUZZ_CHECK(a->status == KQ_STATUS_PEER_ALIVE || a->status == KQ_STATUS_PEER_RESTARTED);
    }
    if (out->count > 0)
        KQ_FUZZ_CHECK(kq_heartbeat_alive(st, ev->peer));
}

/* The input as records: [peer byte][advance ms byte][length byte][bytes]; peer byte 0xff is a
 * silence check instead of a frame. */
static void check_core(const uint8_t *data, size_t size)
{
    static struct kq_actions out;
    void *st = ready_core(&out);
    uint64_t now = 0;
    size_t pos = 0;
    while (size - pos >= 3) {
        uint8_t peer = data[pos], adv = data[pos + 1], len = data[pos + 2];
        pos += 3;
        size_t n = len < size - pos ? len : size - pos;
        now += adv;
        if (peer == 0xff) {
            struct kq_event t = {
                .kind = KQ_EV_TIMER, .now_ms = now, .timer = KQ_HEARTBEAT_TIMER_CHECK};
            kq_actions_reset(&out);
            KQ_FUZZ_CHECK(kq_heartbeat_ops.step(st, &t, &out) == KQ_OK);
        } else {
            struct kq_event ev = {.kind = KQ_EV_FRAME,
                                  .now_ms = now,
                                  .peer = peer % 6,
                                  .frame_type = KQ_FRAME_HEARTBEAT,
                                  .payload = data + pos,
                                  .payload_len = n};
            check_frame_step(st, &ev, &out);
        }
        pos += n;
        KQ_FUZZ_CHECK(kq_heartbeat_alive_count(st) <= N_PEERS);
    }
    kq_heartbeat_ops.fini(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kq_fuzz_init();
    check_codec(data, size);
    check_core(data, size);
    return 0;
}

static size_t put_record(uint8_t *buf, size_t cap, size_t at, uint8_t peer, uint8_t adv,
                         uint64_t inc, uint64_t seq)
{
    struct kq_heartbeat_msg m = {.incarnation = inc, .seq = seq};
    size_t len;
    if (at + 3 + KQ_HEARTBEAT_MSG_BYTES > cap)
        return at;
    buf[at] = peer;
    buf[at + 1] = adv;
    buf[at + 2] = KQ_HEARTBEAT_MSG_BYTES;
    if (kq_heartbeat_msg_encode(&m, buf + at + 3, cap - at - 3, &len) != KQ_OK)
        return at;
    return at + 3 + len;
}

size_t kq_fuzz_seed(unsigned i, uint8_t *buf, size_t cap)
{
    struct kq_heartbeat_msg m = {.incarnation = 7, .seq = 1};
    size_t len = 0;
    kq_fuzz_init();
    switch (i) {
    case 0: /* one message, for the decoder */
        return kq_heartbeat_msg_encode(&m, buf, cap, &len) == KQ_OK ? len : 0;
    case 1: /* a peer comes alive, beats, restarts, replays an old beat, then falls silent */
        len = put_record(buf, cap, 0, 2, 1, 7, 1);
        len = put_record(buf, cap, len, 2, 5, 7, 2);
        len = put_record(buf, cap, len, 2, 5, 8, 1);
        len = put_record(buf, cap, len, 2, 5, 7, 3);
        if (len + 3 <= cap) {
            memcpy(buf + len, "\xff\x64\x00", 3);
            len += 3;
        }
        return len;
    case 2: /* two peers, one of them the node itself */
        len = put_record(buf, cap, 0, 3, 1, 1, 1);
        return put_record(buf, cap, len, 1, 1, 1, 1);
    default:
        return 0;
    }
}
