/* Tests for src/wire/frame: exact bytes, round trips, every header field corrupted in turn, every
 * truncation, oversized lengths rejected from the header alone, and back-to-back frames. */
#include "../test_util.h"

#include "base/buf.h"
#include "base/limits.h"
#include "wire/frame.h"

/* ping from node 0x01020304 carrying "abc" */
static const uint8_t known[] = {0x4B, 0x51, 0x46, 0x52, 0x01, 0x00, 0x00, 0x02, 0x01, 0x02,
                                0x03, 0x04, 0x00, 0x00, 0x00, 0x03, 'a',  'b',  'c'};

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Decoding buf must fail with want, consume nothing and leave the outputs cleared. */
static void expect_reject(const uint8_t *buf, size_t len, enum kq_err want)
{
    struct kq_buf r;
    struct kq_frame_header h;
    const uint8_t *payload = buf;
    kq_buf_reader(&r, buf, len);
    assert_int_equal(kq_frame_decode(&r, &h, &payload), want);
    assert_int_equal(kq_buf_remaining(&r), len);
    assert_null(payload);
    assert_int_equal(h.version, 0);
    assert_int_equal(h.sender, 0);
    assert_int_equal(h.length, 0);
    /* the header alone gives the same verdict, unless only the payload is missing */
    if (len < KQ_FRAME_HEADER_BYTES || want != KQ_ERR_TRUNCATED) {
        memset(&h, 0xaa, sizeof h);
        assert_int_equal(kq_frame_decode_header(buf, len, &h), want);
        assert_int_equal(h.sender, 0);
        assert_int_equal(h.length, 0);
    }
}

static void test_known_bytes(void **state)
{
    (void)state;
    uint8_t out[64], hdr[KQ_FRAME_HEADER_BYTES];
    struct kq_buf w;
    kq_buf_writer(&w, out, sizeof out);
    assert_int_equal(kq_frame_encode(&w, KQ_FRAME_PING, 0x01020304, (const uint8_t *)"abc", 3),
                     KQ_OK);
    assert_int_equal(kq_buf_len(&w), sizeof known);
    assert_memory_equal(out, known, sizeof known);
    assert_int_equal(kq_frame_encode_header(hdr, KQ_FRAME_PING, 0x01020304, 3), KQ_OK);
    assert_memory_equal(hdr, known, KQ_FRAME_HEADER_BYTES);
    assert_int_equal(kq_frame_header_bytes(), 16);
    assert_int_equal(kq_frame_max_payload_bytes(), 4u * 1024 * 1024);
    assert_int_equal(KQ_FRAME_MAX_BYTES, 16 + 4u * 1024 * 1024);
}

static void roundtrip(uint16_t type, uint32_t sender, const uint8_t *payload, size_t len)
{
    size_t cap = KQ_FRAME_BYTES(len);
    uint8_t *out = malloc(cap);
    struct kq_buf w, r;
    struct kq_frame_header h;
    const uint8_t *p = NULL;
    assert_non_null(out);
    kq_buf_writer(&w, out, cap);
    assert_int_equal(kq_frame_encode(&w, type, sender, payload, len), KQ_OK);
    assert_int_equal(kq_buf_room(&w), 0);
    kq_buf_reader(&r, out, kq_buf_len(&w));
    assert_int_equal(kq_frame_decode(&r, &h, &p), KQ_OK);
    assert_int_equal(h.version, KQ_FRAME_VERSION);
    assert_int_equal(h.flags, 0);
    assert_int_equal(h.type, type);
    assert_int_equal(h.sender, sender);
    assert_int_equal(h.length, len);
    assert_ptr_equal(p, out + KQ_FRAME_HEADER_BYTES); /* zero copy */
    if (len > 0)
        assert_memory_equal(p, payload, len);
    assert_int_equal(kq_buf_expect_end(&r), KQ_OK);
    free(out);
}

static void test_roundtrip(void **state)
{
    (void)state;
    static const uint8_t small[] = {0, 1, 2, 0xff};
    roundtrip(KQ_FRAME_HEARTBEAT, 1, NULL, 0);
    roundtrip(KQ_FRAME_PONG, UINT32_MAX, small, sizeof small);
    roundtrip(0x0205, 7, small, 1); /* a reserved family's type passes the frame layer */
    uint8_t *big = malloc(KQ_MAX_FRAME_PAYLOAD);
    assert_non_null(big);
    for (size_t i = 0; i < KQ_MAX_FRAME_PAYLOAD; i++)
        big[i] = (uint8_t)(i * 31u);
    roundtrip(KQ_FRAME_PING, 42, big, KQ_MAX_FRAME_PAYLOAD); /* the largest frame */
    free(big);
}

static void test_corrupt_fields(void **state)
{
    (void)state;
    uint8_t b[sizeof known];
    for (size_t i = 0; i < 4; i++) { /* magic, byte by byte */
        memcpy(b, known, sizeof b);
        b[i] ^= 0x20;
        expect_reject(b, sizeof b, KQ_ERR_FORMAT);
    }
    static const uint8_t versions[] = {0, 2, 0x81, 0xff};
    for (size_t i = 0; i < sizeof versions; i++) {
        memcpy(b, known, sizeof b);
        b[4] = versions[i];
        expect_reject(b, sizeof b, KQ_ERR_VERSION);
    }
    for (unsigned bit = 0; bit < 8; bit++) { /* every flag bit is reserved */
        memcpy(b, known, sizeof b);
        b[5] = (uint8_t)(1u << bit);
        expect_reject(b, sizeof b, KQ_ERR_FORMAT);
    }
    memcpy(b, known, sizeof b); /* the version is checked before the flags it may redefine */
    b[4] = 2;
    b[5] = 1;
    expect_reject(b, sizeof b, KQ_ERR_VERSION);
    memcpy(b, known, sizeof b);
    put_be32(b + 8, 0); /* sender */
    expect_reject(b, sizeof b, KQ_ERR_FORMAT);
    memcpy(b, known, sizeof b);
    put_be32(b + 12, 4); /* length one past the data */
    expect_reject(b, sizeof b, KQ_ERR_TRUNCATED);

    /* The type is not the frame layer's to judge: any value decodes. */
    struct kq_buf r;
    struct kq_frame_header h;
    const uint8_t *p;
    memcpy(b, known, sizeof b);
    b[6] = 0xff;
    b[7] = 0xee;
    kq_buf_reader(&r, b, sizeof b);
    assert_int_equal(kq_frame_decode(&r, &h, &p), KQ_OK);
    assert_int_equal(h.type, 0xffee);
}

static void test_truncated(void **state)
{
    (void)state;
    for (size_t cut = 0; cut < sizeof known; cut++)
        expect_reject(known, cut, KQ_ERR_TRUNCATED);
    struct kq_frame_header h;
    for (size_t cut = 0; cut < KQ_FRAME_HEADER_BYTES; cut++)
        assert_int_equal(kq_frame_decode_header(known, cut, &h), KQ_ERR_TRUNCATED);
    assert_int_equal(kq_frame_decode_header(NULL, 0, &h), KQ_ERR_TRUNCATED);
    /* the header alone is enough for kq_frame_decode_header */
    assert_int_equal(kq_frame_decode_header(known, KQ_FRAME_HEADER_BYTES, &h), KQ_OK);
    assert_int_equal(h.length, 3);
}

static void test_oversized(void **state)
{
    (void)state;
    uint8_t hdr[KQ_FRAME_HEADER_BYTES];
    struct kq_frame_header h;
    memcpy(hdr, known, sizeof hdr);
    put_be32(hdr + 12, KQ_MAX_FRAME_PAYLOAD + 1);
    expect_reject(hdr, sizeof hdr, KQ_ERR_LIMIT); /* LIMIT, not TRUNCATED: no payload needed */
    put_be32(hdr + 12, UINT32_MAX);
    expect_reject(hdr, sizeof hdr, KQ_ERR_LIMIT);
    put_be32(hdr + 12, KQ_MAX_FRAME_PAYLOAD); /* the largest allowed: wait for the payload */
    assert_int_equal(kq_frame_decode_header(hdr, sizeof hdr, &h), KQ_OK);
    assert_int_equal(h.length, KQ_MAX_FRAME_PAYLOAD);
    expect_reject(hdr, sizeof hdr, KQ_ERR_TRUNCATED);

    /* the encoders refuse it too, writing nothing */
    uint8_t out[64], one = 0;
    struct kq_buf w;
    kq_buf_writer(&w, out, sizeof out);
    assert_int_equal(kq_frame_encode(&w, KQ_FRAME_PING, 1, &one, KQ_MAX_FRAME_PAYLOAD + 1),
                     KQ_ERR_LIMIT);
    assert_int_equal(kq_buf_len(&w), 0);
    memset(hdr, 0xaa, sizeof hdr);
    assert_int_equal(kq_frame_encode_header(hdr, KQ_FRAME_PING, 1, KQ_MAX_FRAME_PAYLOAD + 1),
                     KQ_ERR_LIMIT);
    for (size_t i = 0; i < sizeof hdr; i++)
        assert_int_equal(hdr[i], 0);
    assert_int_equal(kq_frame_encode_header(hdr, KQ_FRAME_PING, 1, KQ_MAX_FRAME_PAYLOAD), KQ_OK);
}

static void test_zero_sender(void **state)
{
    (void)state;
    uint8_t out[64], hdr[KQ_FRAME_HEADER_BYTES];
    struct kq_buf w;
    kq_buf_writer(&w, out, sizeof out);
    assert_int_equal(kq_frame_encode(&w, KQ_FRAME_PING, 0, NULL, 0), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_buf_len(&w), 0);
    memset(hdr, 0xaa, sizeof hdr);
    assert_int_equal(kq_frame_encode_header(hdr, KQ_FRAME_PING, 0, 0), KQ_ERR_INVALID_ARG);
    assert_int_equal(hdr[0], 0);
    uint8_t b[sizeof known];
    memcpy(b, known, sizeof b);
    put_be32(b + 8, 0);
    expect_reject(b, sizeof b, KQ_ERR_FORMAT);
}

static void test_encode_bounds(void **state)
{
    (void)state;
    uint8_t out[64];
    struct kq_buf w;
    /* no room for the header, then room for the header but not the payload */
    kq_buf_writer(&w, out, KQ_FRAME_HEADER_BYTES - 1);
    assert_int_equal(kq_frame_encode(&w, KQ_FRAME_PING, 1, NULL, 0), KQ_ERR_OVERFLOW);
    assert_int_equal(kq_buf_len(&w), 0);
    kq_buf_writer(&w, out, KQ_FRAME_HEADER_BYTES + 2);
    assert_int_equal(kq_frame_encode(&w, KQ_FRAME_PING, 1, (const uint8_t *)"abc", 3),
                     KQ_ERR_OVERFLOW);
    assert_int_equal(kq_buf_len(&w), 0);
    assert_int_equal(kq_frame_encode(&w, KQ_FRAME_PING, 1, (const uint8_t *)"ab", 2), KQ_OK);
    assert_int_equal(kq_buf_room(&w), 0);
    /* a NULL payload is only an empty one */
    kq_buf_writer(&w, out, sizeof out);
    assert_int_equal(kq_frame_encode(&w, KQ_FRAME_PING, 1, NULL, 1), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_buf_len(&w), 0);
    /* a reader cannot be encoded into */
    struct kq_buf r;
    kq_buf_reader(&r, out, sizeof out);
    assert_int_equal(kq_frame_encode(&r, KQ_FRAME_PING, 1, NULL, 0), KQ_ERR_OVERFLOW);
}

/* Frames back to back, then a partial one: each decode takes exactly one frame; the partial one
 * stays in the cursor until the rest arrives. */
static void test_stream(void **state)
{
    (void)state;
    uint8_t out[128];
    struct kq_buf w, r;
    struct kq_frame_header h;
    const uint8_t *p;
    kq_buf_writer(&w, out, sizeof out);
    assert_int_equal(kq_frame_encode(&w, KQ_FRAME_HEARTBEAT, 5, (const uint8_t *)"hb", 2), KQ_OK);
    assert_int_equal(kq_frame_encode(&w, KQ_FRAME_PING, 6, NULL, 0), KQ_OK);
    assert_int_equal(kq_frame_encode(&w, KQ_FRAME_PONG, 7, (const uint8_t *)"pong!", 5), KQ_OK);
    size_t total = kq_buf_len(&w), third = KQ_FRAME_BYTES(5);

    kq_buf_reader(&r, out, total - 1); /* the last byte has not arrived */
    assert_int_equal(kq_frame_decode(&r, &h, &p), KQ_OK);
    assert_int_equal(h.type, KQ_FRAME_HEARTBEAT);
    assert_int_equal(h.sender, 5);
    assert_memory_equal(p, "hb", 2);
    assert_int_equal(kq_buf_remaining(&r), total - 1 - KQ_FRAME_BYTES(2));
    assert_int_equal(kq_frame_decode(&r, &h, &p), KQ_OK);
    assert_int_equal(h.type, KQ_FRAME_PING);
    assert_int_equal(h.length, 0);
    assert_int_equal(kq_buf_remaining(&r), third - 1);
    assert_int_equal(kq_frame_decode(&r, &h, &p), KQ_ERR_TRUNCATED);
    assert_int_equal(kq_buf_remaining(&r), third - 1);
    assert_int_equal(kq_buf_expect_end(&r), KQ_ERR_FORMAT); /* trailing bytes are visible */

    kq_buf_reader(&r, out + total - third, third); /* the rest arrived */
    assert_int_equal(kq_frame_decode(&r, &h, &p), KQ_OK);
    assert_int_equal(h.type, KQ_FRAME_PONG);
    assert_memory_equal(p, "pong!", 5);
    assert_int_equal(kq_buf_expect_end(&r), KQ_OK);

    /* garbage after a good frame: the good one decodes, the garbage is rejected unconsumed */
    uint8_t b[sizeof known + 20];
    memcpy(b, known, sizeof known);
    memset(b + sizeof known, 0x5a, 20);
    kq_buf_reader(&r, b, sizeof b);
    assert_int_equal(kq_frame_decode(&r, &h, &p), KQ_OK);
    assert_int_equal(kq_frame_decode(&r, &h, &p), KQ_ERR_FORMAT);
    assert_int_equal(kq_buf_remaining(&r), 20);
}

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(kq_frame_type_name(KQ_FRAME_HEARTBEAT), "heartbeat");
    assert_string_equal(kq_frame_type_name(KQ_FRAME_PING), "ping");
    assert_string_equal(kq_frame_type_name(KQ_FRAME_PONG), "pong");
    assert_string_equal(kq_frame_type_name(0), "unknown");
    assert_string_equal(kq_frame_type_name(0x0100), "unknown");
    assert_string_equal(kq_frame_type_name(0xffff), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_bytes),    cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_corrupt_fields), cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_oversized),      cmocka_unit_test(test_zero_sender),
        cmocka_unit_test(test_encode_bounds),  cmocka_unit_test(test_stream),
        cmocka_unit_test(test_type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
