/* Fuzzes the orchestrator core's request and reply decoders (src/orch/orch_msg.c); the first input
 * byte picks one. Property: whatever decodes re-encodes to the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "orch/orch_msg.h"

static uint8_t out[KQ_ORCH_REQ_MAX_BYTES];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct kq_orch_req q;
    static struct kq_orch_reply r;
    size_t n = 0;
    kq_fuzz_init();
    if (size < 1)
        return 0;
    if (data[0] & 1) {
        if (kq_orch_req_decode(&q, data + 1, size - 1) == KQ_OK) {
            enum kq_err e = kq_orch_req_encode(&q, out, sizeof out, &n);
            KQ_FUZZ_CHECK(e == KQ_OK && n == size - 1 && memcmp(out, data + 1, n) == 0);
        }
    } else if (kq_orch_reply_decode(&r, data + 1, size - 1) == KQ_OK) {
        enum kq_err e = kq_orch_reply_encode(&r, out, sizeof out, &n);
        KQ_FUZZ_CHECK(e == KQ_OK && n == size - 1 && memcmp(out, data + 1, n) == 0);
    }
    return 0;
}

size_t kq_fuzz_seed(unsigned i, uint8_t *buf, size_t cap)
{
    size_t n = 0;
    enum kq_err e = KQ_ERR_INVALID_ARG;
    static const uint8_t k[] = "tenant", v[] = "acme", ct[] = "kq:v1:AAAA", sealed[3] = {1, 2, 3};
    if (cap < 2)
        return 0;
    if (i == 0) {
        struct kq_orch_req q = {.op = KQ_ORCH_DECRYPT,
                                .flags = KQ_ORCH_SEALED,
                                .version = 1,
                                .n_ctx = 1,
                                .data = ct,
                                .data_len = sizeof ct - 1};
        strcpy(q.name, "orders");
        strcpy(q.client, "carol");
        q.ctx[0] = (struct kq_ctx_pair){k, sizeof k - 1, v, sizeof v - 1};
        buf[0] = 1;
        e = kq_orch_req_encode(&q, buf + 1, cap - 1, &n);
    } else if (i == 1) {
        struct kq_orch_reply r = {
            .kind = KQ_ORCH_R_SEALED, .version = 2, .epoch = 3, .t = 3, .n_sealed = 1};
        r.sealed[0] =
            (struct kq_orch_sealed){.keeper = 4, .index = 2, .bytes = sealed, .len = sizeof sealed};
        buf[0] = 0;
        e = kq_orch_reply_encode(&r, buf + 1, cap - 1, &n);
    } else {
        return 0;
    }
    return e == KQ_OK ? n + 1 : 0;
}
