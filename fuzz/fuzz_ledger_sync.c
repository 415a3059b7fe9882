/* Fuzzes the state-sync frame decoders (snapshot request and head, chunk request and chunk).
 * Property: whatever decodes re-encodes to exactly the same bytes, and a decoded chunk's pairs all
 * read back (n of them, nothing left). */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "fuzz.h"
#include "wire/ledger_msg.h"

static uint8_t out[KQ_SNAPSHOT_HEAD_MAX_BYTES];

static void check_same(const uint8_t *data, size_t size, const struct kq_buf *w)
{
    KQ_FUZZ_CHECK(kq_buf_len(w) == size && memcmp(kq_buf_bytes(w), data, size) == 0);
}

static void fuzz_chunk(const uint8_t *data, size_t size, struct kq_buf *w)
{
    struct kq_state_chunk c;
    if (kq_state_chunk_decode(&c, data, size) != KQ_OK)
        return;
    KQ_FUZZ_CHECK(kq_state_chunk_encode(&c, w) == KQ_OK);
    check_same(data, size, w);
    struct kq_buf pairs;
    kq_buf_reader(&pairs, c.pairs, c.pairs_len);
    for (uint32_t i = 0; i < c.n; i++) {
        const uint8_t *k, *v;
        size_t kl, vl;
        KQ_FUZZ_CHECK(kq_chunk_pair_next(&pairs, &k, &kl, &v, &vl) == KQ_OK);
    }
    KQ_FUZZ_CHECK(kq_buf_remaining(&pairs) == 0);
}

static void fuzz_one(uint8_t kind, const uint8_t *data, size_t size)
{
    struct kq_buf w;
    kq_buf_writer(&w, out, sizeof out);
    uint64_t height;
    kq_hash from;
    static struct kq_snapshot_head h;
    switch (kind % 4) {
    case 0:
        if (kq_snapshot_req_decode(&height, data, size) == KQ_OK) {
            KQ_FUZZ_CHECK(kq_snapshot_req_encode(height, &w) == KQ_OK);
            check_same(data, size, &w);
        }
        break;
    case 1:
        if (kq_chunk_req_decode(&height, &from, data, size) == KQ_OK) {
            KQ_FUZZ_CHECK(kq_chunk_req_encode(height, &from, &w) == KQ_OK);
            check_same(data, size, &w);
        }
        break;
    case 2:
        if (kq_snapshot_head_decode(&h, data, size) == KQ_OK) {
            KQ_FUZZ_CHECK(kq_snapshot_head_encode(&h, &w) == KQ_OK);
            check_same(data, size, &w);
        }
        break;
    default:
        fuzz_chunk(data, size, &w);
        break;
    }
}

/* The first byte picks the decoder; the rest is its input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kq_fuzz_init();
    if (size < 1)
        return 0;
    fuzz_one(data[0], data + 1, size - 1);
    return 0;
}

static enum kq_err seed_head(struct kq_buf *w)
{
    static const uint8_t rec[] = "a block response";
    static uint8_t headers[2][KQ_HEADER_BYTES], cert[60];
    struct kq_snapshot_head h = {.height = 3, .rec = rec, .rec_len = sizeof rec, .n = 2};
    memset(cert, 7, sizeof cert);
    h.headers[0] = headers[0];
    h.headers[1] = headers[1];
    h.certs[1] = cert;
    h.cert_lens[1] = sizeof cert;
    return kq_snapshot_head_encode(&h, w);
}

static enum kq_err seed_chunk(struct kq_buf *w)
{
    static uint8_t pairs[256];
    struct kq_buf pw;
    kq_buf_writer(&pw, pairs, sizeof pairs);
    KQ_GUARD(kq_chunk_pair_put((const uint8_t *)"chain", 5, (const uint8_t *)"v", 1, &pw));
    KQ_GUARD(kq_chunk_pair_put((const uint8_t *)"client/a", 8, NULL, 0, &pw));
    struct kq_state_chunk c = {
        .height = 5, .more = true, .n = 2, .pairs = pairs, .pairs_len = kq_buf_len(&pw)};
    c.next.b[0] = 0x80;
    return kq_state_chunk_encode(&c, w);
}

size_t kq_fuzz_seed(unsigned i, uint8_t *buf, size_t cap)
{
    kq_fuzz_init();
    if (i >= 4 || cap < 2048)
        return 0;
    struct kq_buf w;
    kq_buf_writer(&w, buf + 1, cap - 1);
    buf[0] = (uint8_t)i;
    kq_hash from = {{0}};
    from.b[3] = 9;
    enum kq_err err;
    switch (i) {
    case 0:
        err = kq_snapshot_req_encode(0, &w);
        break;
    case 1:
        err = kq_chunk_req_encode(12, &from, &w);
        break;
    case 2:
        err = seed_head(&w);
        break;
    default:
        err = seed_chunk(&w);
        break;
    }
    return err == KQ_OK ? 1 + kq_buf_len(&w) : 0;
}
