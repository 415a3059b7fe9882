/* Tests for the state-sync frames of src/wire/ledger_msg.c: round trips of the snapshot and
 * chunk requests, the snapshot head and the state chunk, and the refusal of each malformed field
 * (version, height 0, a window longer than the chain or the bound, a cursor that does not move,
 * "more" with no pairs, a pair out of bounds, a miscounted pair area, truncation, trailing bytes,
 * no room). */
#include "../test_util.h"

#include "base/buf.h"
#include "wire/ledger_msg.h"

static uint8_t mem[KQ_SNAPSHOT_HEAD_MAX_BYTES];

static void test_requests(void **state)
{
    (void)state;
    struct kq_buf w;
    uint64_t h = 9;
    kq_hash from = {{1, 2, 3}}, got;
    kq_buf_writer(&w, mem, sizeof mem);
    assert_int_equal(kq_snapshot_req_encode(0, &w), KQ_OK); /* 0: the latest */
    assert_int_equal(kq_buf_len(&w), KQ_SNAPSHOT_REQ_BYTES);
    assert_int_equal(kq_snapshot_req_decode(&h, mem, KQ_SNAPSHOT_REQ_BYTES), KQ_OK);
    assert_int_equal(h, 0);
    assert_int_equal(kq_snapshot_req_decode(&h, mem, KQ_SNAPSHOT_REQ_BYTES - 1), KQ_ERR_TRUNCATED);
    mem[0] = 2;
    assert_int_equal(kq_snapshot_req_decode(&h, mem, KQ_SNAPSHOT_REQ_BYTES), KQ_ERR_VERSION);
    kq_buf_writer(&w, mem, sizeof mem);
    assert_int_equal(kq_chunk_req_encode(7, &from, &w), KQ_OK);
    assert_int_equal(kq_chunk_req_decode(&h, &got, mem, KQ_CHUNK_REQ_BYTES), KQ_OK);
    assert_int_equal(h, 7);
    assert_memory_equal(got.b, from.b, 32);
    assert_int_equal(kq_chunk_req_decode(&h, &got, mem, KQ_CHUNK_REQ_BYTES + 1), KQ_ERR_FORMAT);
    assert_int_equal(h, 0);
    kq_buf_writer(&w, mem, sizeof mem);
    assert_int_equal(kq_chunk_req_encode(0, &from, &w), KQ_ERR_INVALID_ARG);
    memset(mem + 1, 0, 8); /* height 0 */
    assert_int_equal(kq_chunk_req_decode(&h, &got, mem, KQ_CHUNK_REQ_BYTES), KQ_ERR_FORMAT);
    kq_buf_writer(&w, mem, KQ_CHUNK_REQ_BYTES - 1);
    assert_int_equal(kq_chunk_req_encode(7, &from, &w), KQ_ERR_OVERFLOW);
    assert_int_equal(kq_buf_len(&w), 0);
}

static size_t head_encode(uint64_t height, uint32_t n, size_t cert_len)
{
    static const uint8_t rec[] = "block response";
    static uint8_t headers[KQ_LEDGER_SYNC_WINDOW][KQ_HEADER_BYTES], cert[KQ_CERT_MAX_BYTES + 1];
    struct kq_snapshot_head h = {.height = height, .rec = rec, .rec_len = sizeof rec, .n = n};
    for (uint32_t i = 0; i < KQ_LEDGER_SYNC_WINDOW; i++) {
        memset(headers[i], (int)i, KQ_HEADER_BYTES);
        h.headers[i] = headers[i];
        h.certs[i] = cert;
        h.cert_lens[i] = i == 0 ? 0 : cert_len;
    }
    struct kq_buf w;
    kq_buf_writer(&w, mem, sizeof mem);
    enum kq_err err = kq_snapshot_head_encode(&h, &w);
    return err == KQ_OK ? kq_buf_len(&w) : 0;
}

static void test_head(void **state)
{
    (void)state;
    struct kq_snapshot_head h;
    size_t n = head_encode(40, KQ_LEDGER_SYNC_WINDOW, 100);
    assert_true(n > 0);
    assert_int_equal(kq_snapshot_head_decode(&h, mem, n), KQ_OK);
    assert_int_equal(h.height, 40);
    assert_int_equal(h.n, KQ_LEDGER_SYNC_WINDOW);
    assert_int_equal(h.rec_len, sizeof "block response");
    assert_int_equal(h.cert_lens[0], 0);
    assert_int_equal(h.cert_lens[1], 100);
    assert_int_equal(h.headers[3][0], 3);
    assert_int_equal(kq_snapshot_head_decode(&h, mem, n + 1), KQ_ERR_FORMAT);
    assert_int_equal(h.height, 0);
    assert_int_equal(kq_snapshot_head_decode(&h, mem, n - 1), KQ_ERR_TRUNCATED);
    /* a window longer than the chain before the tip, or than the bound; no tip; long certs */
    assert_int_equal(head_encode(3, 3, 10), 0);
    assert_int_equal(head_encode(40, KQ_LEDGER_SYNC_WINDOW + 1, 10), 0);
    assert_int_equal(head_encode(0, 0, 10), 0);
    assert_int_equal(head_encode(40, 2, KQ_CERT_MAX_BYTES + 1), 0);
    n = head_encode(3, 2, 10);
    assert_true(n > 0);
    mem[1 + 7] = 2; /* height 2: the window of 2 no longer fits below it */
    assert_int_equal(kq_snapshot_head_decode(&h, mem, n), KQ_ERR_FORMAT);
    mem[1 + 7] = 3;
    mem[0] = 9;
    assert_int_equal(kq_snapshot_head_decode(&h, mem, n), KQ_ERR_VERSION);
    mem[0] = 1;
    size_t cert_len_at = 1 + 8 + 4 + sizeof "block response" + 1 + KQ_HEADER_BYTES + 4 +
                         KQ_HEADER_BYTES; /* the second entry's cert_len */
    mem[cert_len_at] = 0xff;              /* past KQ_CERT_MAX_BYTES */
    assert_int_equal(kq_snapshot_head_decode(&h, mem, n), KQ_ERR_LIMIT);
}

static size_t chunk_encode(bool more, uint8_t next0, uint32_t n_pairs, uint32_t n_claimed)
{
    static uint8_t pairs[1024];
    struct kq_buf pw;
    kq_buf_writer(&pw, pairs, sizeof pairs);
    for (uint32_t i = 0; i < n_pairs; i++)
        assert_int_equal(kq_chunk_pair_put((const uint8_t *)"key", 3, (const uint8_t *)"val",
                                           i == 0 ? 0 : 3, &pw),
                         KQ_OK);
    struct kq_state_chunk c = {
        .height = 4, .more = more, .n = n_claimed, .pairs = pairs, .pairs_len = kq_buf_len(&pw)};
    c.from.b[0] = 0x10;
    c.next.b[0] = next0;
    struct kq_buf w;
    kq_buf_writer(&w, mem, sizeof mem);
    return kq_state_chunk_encode(&c, &w) == KQ_OK ? kq_buf_len(&w) : 0;
}

static void test_chunk(void **state)
{
    (void)state;
    struct kq_state_chunk c;
    size_t n = chunk_encode(true, 0x20, 3, 3);
    assert_true(n > 0);
    assert_int_equal(kq_state_chunk_decode(&c, mem, n), KQ_OK);
    assert_true(c.more && c.n == 3 && c.height == 4 && c.next.b[0] == 0x20);
    struct kq_buf pairs;
    const uint8_t *k, *v;
    size_t kl, vl;
    kq_buf_reader(&pairs, c.pairs, c.pairs_len);
    assert_int_equal(kq_chunk_pair_next(&pairs, &k, &kl, &v, &vl), KQ_OK);
    assert_true(kl == 3 && vl == 0 && memcmp(k, "key", 3) == 0);
    assert_int_equal(kq_chunk_pair_next(&pairs, &k, &kl, &v, &vl), KQ_OK);
    assert_true(vl == 3 && memcmp(v, "val", 3) == 0);
    assert_int_equal(kq_chunk_pair_next(&pairs, &k, &kl, &v, &vl), KQ_OK);
    assert_int_equal(kq_chunk_pair_next(&pairs, &k, &kl, &v, &vl), KQ_ERR_TRUNCATED);
    assert_int_equal(kq_state_chunk_decode(&c, mem, n + 1), KQ_ERR_FORMAT); /* a stray byte */
    assert_int_equal(c.n, 0);
    assert_int_equal(kq_state_chunk_decode(&c, mem, n - 1), KQ_ERR_TRUNCATED);
    /* the last chunk: no cursor; an empty one is the end of an empty state */
    n = chunk_encode(false, 0, 2, 2);
    assert_int_equal(kq_state_chunk_decode(&c, mem, n), KQ_OK);
    assert_false(c.more);
    assert_true(chunk_encode(false, 0, 0, 0) > 0);
    /* refused: a cursor that does not move on, a next without more, more with no pairs, a
     * count that does not match the pairs */
    assert_int_equal(chunk_encode(true, 0x10, 1, 1), 0);
    assert_int_equal(chunk_encode(true, 0x05, 1, 1), 0);
    assert_int_equal(chunk_encode(false, 0x20, 1, 1), 0);
    assert_int_equal(chunk_encode(true, 0x20, 0, 0), 0);
    assert_int_equal(chunk_encode(true, 0x20, 2, 3), 0);
    n = chunk_encode(true, 0x20, 2, 2);
    mem[1 + 8] = 0x30; /* from past next */
    assert_int_equal(kq_state_chunk_decode(&c, mem, n), KQ_ERR_FORMAT);
    mem[1 + 8] = 0x10;
    mem[1 + 8 + 32 + 1 + 32 + 3] = 3; /* n 3 for 2 pairs */
    assert_int_equal(kq_state_chunk_decode(&c, mem, n), KQ_ERR_TRUNCATED);
    mem[1 + 8 + 32 + 1 + 32 + 3] = 2;
    mem[1 + 8 + 32 + 1 + 32 + 4] = 0x7f; /* first key length 0x7f03: past the key bound */
    assert_int_equal(kq_state_chunk_decode(&c, mem, n), KQ_ERR_LIMIT);
    /* pair bounds at encoding */
    uint8_t big[8];
    struct kq_buf pw;
    kq_buf_writer(&pw, big, sizeof big);
    assert_int_equal(kq_chunk_pair_put((const uint8_t *)"k", 0, NULL, 0, &pw), KQ_ERR_LIMIT);
    assert_int_equal(kq_chunk_pair_put((const uint8_t *)"k", 1, (const uint8_t *)"v",
                                       KQ_LEDGER_MAX_VALUE_BYTES + 1, &pw),
                     KQ_ERR_LIMIT);
    assert_int_equal(kq_chunk_pair_put((const uint8_t *)"k", 1, (const uint8_t *)"v", 2, &pw),
                     KQ_ERR_OVERFLOW);
    assert_int_equal(kq_buf_len(&pw), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests),
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_chunk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
