/* Fuzzes the frame decoder (kq_frame_decode, kq_frame_decode_header) on arbitrary bytes read as a
 * stream. Properties: every frame that decodes re-encodes to exactly the bytes it consumed; the
 * header decoder gives the same verdict; a failure consumes nothing. */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "fuzz.h"
#include "wire/frame.h"

/* Re-encodes a decoded frame and compares it with the bytes it came from. */
static void check_reencode(const struct kq_frame_header *h, const uint8_t *payload,
                           const uint8_t *frame)
{
    size_t n = KQ_FRAME_BYTES((size_t)h->length);
    uint8_t *out = malloc(n);
    struct kq_buf w;
    KQ_FUZZ_CHECK(out != NULL);
    kq_buf_writer(&w, out, n);
    KQ_FUZZ_CHECK(kq_frame_encode(&w, h->type, h->sender, payload, h->length) == KQ_OK);
    KQ_FUZZ_CHECK(kq_buf_len(&w) == n && memcmp(out, frame, n) == 0);
    KQ_FUZZ_CHECK(payload == frame + KQ_FRAME_HEADER_BYTES);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kq_buf r;
    struct kq_frame_header h, hh;
    const uint8_t *payload;
    kq_fuzz_init();
    kq_buf_reader(&r, data, size);
    /* each frame consumes at least a header, so this bounds the loop */
    for (size_t i = 0; i <= size / KQ_FRAME_HEADER_BYTES; i++) {
        size_t before = kq_buf_remaining(&r);
        const uint8_t *at = data + (size - before);
        enum kq_err err = kq_frame_decode(&r, &h, &payload);
        enum kq_err herr = kq_frame_decode_header(at, before, &hh);
        if (err != KQ_OK) {
            KQ_FUZZ_CHECK(kq_buf_remaining(&r) == before && payload == NULL);
            KQ_FUZZ_CHECK(herr == err || (herr == KQ_OK && err == KQ_ERR_TRUNCATED));
            break;
        }
        KQ_FUZZ_CHECK(herr == KQ_OK && memcmp(&h, &hh, sizeof h) == 0);
        KQ_FUZZ_CHECK(before - kq_buf_remaining(&r) == KQ_FRAME_BYTES((size_t)h.length));
        check_reencode(&h, payload, at);
    }
    return 0;
}

size_t kq_fuzz_seed(unsigned i, uint8_t *buf, size_t cap)
{
    static const uint8_t body[300] = {1, 2, 3};
    struct kq_buf w;
    enum kq_err err = KQ_OK;
    kq_fuzz_init();
    kq_buf_writer(&w, buf, cap);
    switch (i) {
    case 0:
        err = kq_frame_encode(&w, KQ_FRAME_PING, 1, NULL, 0);
        break;
    case 1:
        err = kq_frame_encode(&w, KQ_FRAME_HEARTBEAT, 0x01020304, body, 24);
        break;
    case 2: /* a stream: three frames back to back */
        err = kq_frame_encode(&w, KQ_FRAME_PING, 2, body, 3);
        err = err != KQ_OK ? err : kq_frame_encode(&w, KQ_FRAME_PONG, 3, body, sizeof body);
        err = err != KQ_OK ? err : kq_frame_encode(&w, 0x0201, UINT32_MAX, NULL, 0);
        break;
    default:
        return 0;
    }
    return err == KQ_OK ? kq_buf_len(&w) : 0;
}
