/* Fuzzes the KQ_EV_PEERS payload decoder (src/core/core.c) and the heartbeat core's handling of
 * it. Properties: what decodes re-encodes to the same bytes and holds distinct ids other than 0,
 * self and KQ_PEER_ALL; the core, fed the input as a peer set, never crashes, emits nothing, and
 * afterwards knows exactly the decoded ids (none alive that was not alive before). */
#include <string.h>

#include "core/core.h"
#include "core/heartbeat.h"
#include "fuzz.h"

#define SELF 1u

static void check_codec(const uint8_t *data, size_t size, uint32_t *ids, size_t *n)
{
    uint8_t out[KQ_PEERS_EVENT_MAX_BYTES];
    size_t len = 0;
    if (kq_peers_event_decode(data, size, SELF, ids, KQ_CORE_MAX_PEERS, n) != KQ_OK) {
        KQ_FUZZ_CHECK(*n == 0);
        *n = SIZE_MAX;
        return;
    }
    for (size_t i = 0; i < *n; i++) {
        KQ_FUZZ_CHECK(ids[i] != 0 && ids[i] != SELF && ids[i] != KQ_PEER_ALL);
        for (size_t j = 0; j < i; j++)
            KQ_FUZZ_CHECK(ids[i] != ids[j]);
    }
    KQ_FUZZ_CHECK(kq_peers_event_encode(ids, *n, out, sizeof out, &len) == KQ_OK);
    KQ_FUZZ_CHECK(len == size && memcmp(out, data, size) == 0);
}

static void check_core(const uint8_t *data, size_t size, const uint32_t *ids, size_t n)
{
    static uint64_t state[1 << 13];
    static struct kq_actions out;
    static const uint32_t peers[] = {2, 3, 4};
    static const struct kq_heartbeat_config cfg = {.interval_ms = 10, .timeout_ms = 50};
    KQ_FUZZ_CHECK(kq_heartbeat_ops.state_size <= sizeof state);
    memset(state, 0, sizeof state);
    KQ_FUZZ_CHECK(kq_heartbeat_ops.init(state, SELF, peers, 3, &cfg) == KQ_OK);
    struct kq_event start = {.kind = KQ_EV_START},
                    done = {.kind = KQ_EV_WRITE_DONE, .write_token = 1};
    kq_actions_reset(&out);
    KQ_FUZZ_CHECK(kq_heartbeat_ops.step(state, &start, &out) == KQ_OK);
    kq_actions_reset(&out);
    KQ_FUZZ_CHECK(kq_heartbeat_ops.step(state, &done, &out) == KQ_OK);
    struct kq_event ev = {.kind = KQ_EV_PEERS, .payload = data, .payload_len = size};
    kq_actions_reset(&out);
    enum kq_err err = kq_heartbeat_ops.step(state, &ev, &out);
    KQ_FUZZ_CHECK(out.count == 0);
    KQ_FUZZ_CHECK((err == KQ_OK) == (n != SIZE_MAX));
    KQ_FUZZ_CHECK(kq_heartbeat_alive_count(state) == 0);
    if (err == KQ_OK)
        for (size_t i = 0; i < n; i++)
            KQ_FUZZ_CHECK(!kq_heartbeat_alive(state, ids[i]));
    kq_heartbeat_ops.fini(state);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint32_t ids[KQ_CORE_MAX_PEERS];
    size_t n = 0;
    kq_fuzz_init();
    check_codec(data, size, ids, &n);
    check_core(data, size, ids, n);
    return 0;
}

size_t kq_fuzz_seed(unsigned i, uint8_t *buf, size_t cap)
{
    static const uint32_t sets[][3] = {{2, 3, 5}, {7, 0, 0}, {2, 2, 0}};
    static const size_t lens[] = {3, 1, 2};
    size_t len = 0;
    kq_fuzz_init();
    if (i >= 3 || kq_peers_event_encode(sets[i], lens[i], buf, cap, &len) != KQ_OK)
        return 0;
    return len;
}
