/* Tests for src/base: the bounded cursor, error strings, secure memory. */
#include "../test_util.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/limits.h"
#include "base/mem.h"

static void test_buf_roundtrip(void **state)
{
    (void)state;
    uint8_t mem[32];
    struct kq_buf w, r;
    kq_buf_writer(&w, mem, sizeof mem);
    assert_int_equal(kq_buf_put_u8(&w, 0xab), KQ_OK);
    assert_int_equal(kq_buf_put_u16(&w, 0x1234), KQ_OK);
    assert_int_equal(kq_buf_put_u32(&w, 0xdeadbeef), KQ_OK);
    assert_int_equal(kq_buf_put_u64(&w, 0x0102030405060708ULL), KQ_OK);
    assert_int_equal(kq_buf_put_bytes16(&w, "xyz", 3), KQ_OK);
    assert_int_equal(kq_buf_len(&w), 1 + 2 + 4 + 8 + 2 + 3);
    assert_int_equal(mem[1], 0x12); /* big-endian */

    kq_buf_reader(&r, mem, kq_buf_len(&w));
    uint8_t a;
    uint16_t b;
    uint32_t c;
    uint64_t d;
    const uint8_t *p;
    size_t n;
    assert_int_equal(kq_buf_get_u8(&r, &a), KQ_OK);
    assert_int_equal(kq_buf_get_u16(&r, &b), KQ_OK);
    assert_int_equal(kq_buf_get_u32(&r, &c), KQ_OK);
    assert_int_equal(kq_buf_get_u64(&r, &d), KQ_OK);
    assert_int_equal(kq_buf_get_bytes16(&r, &p, &n, 16), KQ_OK);
    assert_int_equal(a, 0xab);
    assert_int_equal(b, 0x1234);
    assert_int_equal(c, 0xdeadbeef);
    assert_true(d == 0x0102030405060708ULL);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "xyz", 3);
    assert_int_equal(kq_buf_expect_end(&r), KQ_OK);
}

static void test_buf_str8(void **state)
{
    (void)state;
    uint8_t mem[16];
    char out[9];
    struct kq_buf w, r;
    kq_buf_writer(&w, mem, sizeof mem);
    assert_int_equal(kq_buf_put_str8(&w, "orders", 8), KQ_OK);
    assert_int_equal(kq_buf_put_str8(&w, "too-long-name", 8), KQ_ERR_LIMIT);
    kq_buf_reader(&r, mem, kq_buf_len(&w));
    assert_int_equal(kq_buf_get_str8(&r, out, 8), KQ_OK);
    assert_string_equal(out, "orders");
    const uint8_t nul[] = {3, 'a', 0, 'b'},
                  longer[] = {9, 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'};
    kq_buf_reader(&r, nul, sizeof nul);
    assert_int_equal(kq_buf_get_str8(&r, out, 8), KQ_ERR_FORMAT);
    kq_buf_reader(&r, longer, sizeof longer);
    assert_int_equal(kq_buf_get_str8(&r, out, 8), KQ_ERR_LIMIT);
    kq_buf_reader(&r, longer, 4);
    assert_int_equal(kq_buf_get_str8(&r, out, 9), KQ_ERR_TRUNCATED);
}

static void test_buf_bounds(void **state)
{
    (void)state;
    uint8_t mem[4];
    struct kq_buf w, r;
    kq_buf_writer(&w, mem, sizeof mem);
    assert_int_equal(kq_buf_put_u32(&w, 1), KQ_OK);
    assert_int_equal(kq_buf_put_u8(&w, 1), KQ_ERR_OVERFLOW);
    assert_int_equal(kq_buf_len(&w), 4);

    kq_buf_reader(&r, mem, 3);
    uint32_t v;
    assert_int_equal(kq_buf_get_u32(&r, &v), KQ_ERR_TRUNCATED);
    assert_int_equal(kq_buf_remaining(&r), 3);                  /* nothing consumed on failure */
    assert_int_equal(kq_buf_put_u8(&r, 1), KQ_ERR_INVALID_ARG); /* readers never write */
    assert_int_equal(kq_buf_expect_end(&r), KQ_ERR_FORMAT);

    /* a length prefix larger than the limit or than the data */
    uint8_t bad[4] = {0x00, 0x05, 'a', 'b'};
    const uint8_t *p;
    size_t n;
    kq_buf_reader(&r, bad, sizeof bad);
    assert_int_equal(kq_buf_get_bytes16(&r, &p, &n, 4), KQ_ERR_LIMIT);
    assert_int_equal(kq_buf_get_bytes16(&r, &p, &n, 16), KQ_ERR_TRUNCATED);
    assert_int_equal(kq_buf_remaining(&r), 4);
}

static void test_size_arith(void **state)
{
    (void)state;
    size_t out;
    assert_true(kq_size_add(1, 2, &out) && out == 3);
    assert_false(kq_size_add(SIZE_MAX, 1, &out));
    assert_true(kq_size_mul(3, 4, &out) && out == 12);
    assert_false(kq_size_mul(SIZE_MAX / 2 + 1, 2, &out));
}

static void test_strerror_total(void **state)
{
    (void)state;
    for (int e = KQ_OK; e <= KQ_ERR_EXISTS; e++) {
        assert_string_not_equal(kq_strerror((enum kq_err)e), "unknown error");
        assert_string_not_equal(kq_errcode((enum kq_err)e), "unknown");
    }
}

static void test_secure_mem(void **state)
{
    (void)state;
    uint8_t *p = kq_secure_alloc(64);
    assert_non_null(p);
    for (int i = 0; i < 64; i++)
        assert_int_equal(p[i], 0);
    memset(p, 0x5a, 64);
    uint8_t q[64];
    memset(q, 0x5a, 64);
    assert_true(kq_ct_eq(p, q, 64));
    q[63] ^= 1;
    assert_false(kq_ct_eq(p, q, 64));
    kq_wipe(q, sizeof q);
    for (int i = 0; i < 64; i++)
        assert_int_equal(q[i], 0);
    kq_secure_free(p);
}

int main(void)
{
    if (kq_init(0) != KQ_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_roundtrip),  cmocka_unit_test(test_buf_bounds),
        cmocka_unit_test(test_buf_str8),       cmocka_unit_test(test_size_arith),
        cmocka_unit_test(test_strerror_total), cmocka_unit_test(test_secure_mem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
