/* Tests for src/crypto/label.c: canonical order independence, every field changing the label,
 * duplicate and empty keys, every limit, and the digest. */
#include "../test_util.h"

#include "base/limits.h"
#include "base/mem.h"
#include "crypto/label.h"

static struct kq_label la, lb; /* ~75 KB each: kept off the stack */

#define KID    ((const uint8_t *)"key/orders")
#define KIDLEN 10

static struct kq_ctx_pair pair(const char *k, const char *v)
{
    struct kq_ctx_pair p = {(const uint8_t *)k, strlen(k), (const uint8_t *)v, strlen(v)};
    return p;
}

static void test_order_independent(void **state)
{
    (void)state;
    struct kq_ctx_pair a[4] = {pair("tenant", "acme"), pair("b", "2"), pair("a", "1"),
                               pair("ab", "")};
    struct kq_ctx_pair b[4] = {a[3], a[0], a[2], a[1]};
    assert_int_equal(kq_label_build(&la, KID, KIDLEN, 7, KQ_PURPOSE_DEK, a, 4), KQ_OK);
    assert_int_equal(kq_label_build(&lb, KID, KIDLEN, 7, KQ_PURPOSE_DEK, b, 4), KQ_OK);
    assert_int_equal(la.len, lb.len);
    assert_memory_equal(la.bytes, lb.bytes, la.len);
    assert_true(kq_label_equal(&la, &lb));
    uint8_t da[32], db[32];
    kq_label_digest(da, &la);
    kq_label_digest(db, &lb);
    assert_memory_equal(da, db, 32);
    /* the label opens with its tag, length-prefixed */
    assert_int_equal(la.bytes[0], 0);
    assert_int_equal(la.bytes[1], strlen(KQ_LABEL_TAG));
    assert_memory_equal(la.bytes + 2, KQ_LABEL_TAG, strlen(KQ_LABEL_TAG));
    assert_int_equal(la.version, 7);
    assert_int_equal(la.purpose, KQ_PURPOSE_DEK);
    assert_int_equal(la.key_id_len, KIDLEN);
}

/* The exact bytes for a small label (docs/crypto/tkem.md shows the same layout). */
static void test_exact_layout(void **state)
{
    (void)state;
    struct kq_ctx_pair c[2] = {pair("b", "y"), pair("a", "x")};
    assert_int_equal(
        kq_label_build(&la, (const uint8_t *)"k", 1, 0x01020304, KQ_PURPOSE_DATA, c, 2), KQ_OK);
    const uint8_t want[] = {0,   18,  'k', 'e', 'y', 'q', 'u', 'o', 'r', 'u', 'm', '/', 'v', '1',
                            '/', 'l', 'a', 'b', 'e', 'l', 0,   1,   'k', 1,   2,   3,   4,   2,
                            0,   2,   0,   1,   'a', 0,   1,   'x', 0,   1,   'b', 0,   1,   'y'};
    assert_int_equal(la.len, sizeof want);
    assert_memory_equal(la.bytes, want, sizeof want);
}

static void assert_differs(const struct kq_label *base, enum kq_err err)
{
    assert_int_equal(err, KQ_OK);
    assert_false(kq_label_equal(base, &lb));
    uint8_t da[32], db[32];
    kq_label_digest(da, base);
    kq_label_digest(db, &lb);
    assert_memory_not_equal(da, db, 32);
}

static void test_every_field_changes(void **state)
{
    (void)state;
    struct kq_ctx_pair c[2] = {pair("tenant", "acme"), pair("app", "billing")};
    assert_int_equal(kq_label_build(&la, KID, KIDLEN, 7, KQ_PURPOSE_DEK, c, 2), KQ_OK);
    assert_differs(
        &la, kq_label_build(&lb, (const uint8_t *)"key/orderS", KIDLEN, 7, KQ_PURPOSE_DEK, c, 2));
    assert_differs(&la, kq_label_build(&lb, KID, KIDLEN, 8, KQ_PURPOSE_DEK, c, 2));
    assert_differs(&la, kq_label_build(&lb, KID, KIDLEN, 7, KQ_PURPOSE_DATA, c, 2));
    assert_differs(&la, kq_label_build(&lb, KID, KIDLEN, 7, KQ_PURPOSE_DERIVE, c, 2));
    assert_differs(&la, kq_label_build(&lb, KID, KIDLEN, 7, KQ_PURPOSE_DEK, c, 1));
    /* every single byte of every context key and value */
    char key[2][16], val[2][16];
    for (size_t p = 0; p < 2; p++) {
        strcpy(key[p], (const char *)c[p].key);
        strcpy(val[p], (const char *)c[p].value);
    }
    for (size_t p = 0; p < 2; p++) {
        for (int which = 0; which < 2; which++) {
            char *s = which ? val[p] : key[p];
            for (size_t i = 0; i < strlen(s); i++) {
                s[i] ^= 0x20;
                struct kq_ctx_pair d[2] = {pair(key[0], val[0]), pair(key[1], val[1])};
                assert_differs(&la, kq_label_build(&lb, KID, KIDLEN, 7, KQ_PURPOSE_DEK, d, 2));
                s[i] ^= 0x20;
            }
        }
    }
    /* moving a byte between key and value changes it too (length prefixes) */
    struct kq_ctx_pair e[2] = {pair("tenanta", "cme"), pair("app", "billing")};
    assert_differs(&la, kq_label_build(&lb, KID, KIDLEN, 7, KQ_PURPOSE_DEK, e, 2));
}

static void test_prefix_sorts_first(void **state)
{
    (void)state;
    struct kq_ctx_pair c[3] = {pair("ab", "2"), pair("a", "1"), pair("b", "3")};
    assert_int_equal(kq_label_build(&la, KID, KIDLEN, 1, KQ_PURPOSE_DEK, c, 3), KQ_OK);
    /* after tag, key id, version, purpose, count: "a" then "ab" then "b" */
    size_t off = 2 + strlen(KQ_LABEL_TAG) + 2 + KIDLEN + 4 + 1 + 2;
    assert_int_equal(la.bytes[off + 2], 'a');
    assert_int_equal(la.bytes[off + 1], 1);
    off += 3 + 3;
    assert_int_equal(la.bytes[off + 1], 2);
    assert_memory_equal(la.bytes + off + 2, "ab", 2);
}

static void test_rejects(void **state)
{
    (void)state;
    struct kq_ctx_pair dup[2] = {pair("a", "1"), pair("a", "2")};
    assert_int_equal(kq_label_build(&la, KID, KIDLEN, 1, KQ_PURPOSE_DEK, dup, 2), KQ_ERR_FORMAT);
    assert_int_equal(la.len, 0);
    struct kq_ctx_pair empty[1] = {pair("", "v")};
    assert_int_equal(kq_label_build(&la, KID, KIDLEN, 1, KQ_PURPOSE_DEK, empty, 1), KQ_ERR_FORMAT);
    assert_int_equal(kq_label_build(&la, KID, 0, 1, KQ_PURPOSE_DEK, NULL, 0), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_label_build(&la, KID, KIDLEN, 1, (enum kq_purpose)0, NULL, 0),
                     KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_label_build(&la, KID, KIDLEN, 1, (enum kq_purpose)4, NULL, 0),
                     KQ_ERR_INVALID_ARG);
    /* an empty context is fine */
    assert_int_equal(kq_label_build(&la, KID, KIDLEN, 1, KQ_PURPOSE_DEK, NULL, 0), KQ_OK);
}

static void test_limits(void **state)
{
    (void)state;
    static uint8_t big[KQ_MAX_CONTEXT_VALUE_BYTES + 1];
    static uint8_t keys[KQ_MAX_CONTEXT_PAIRS + 1][KQ_MAX_CONTEXT_KEY_BYTES];
    static struct kq_ctx_pair ctx[KQ_MAX_CONTEXT_PAIRS + 1];
    memset(big, 'x', sizeof big);
    /* key id: at the limit, then one over */
    assert_int_equal(kq_label_build(&la, big, KQ_MAX_KEY_ID_BYTES, 1, KQ_PURPOSE_DEK, NULL, 0),
                     KQ_OK);
    assert_int_equal(kq_label_build(&la, big, KQ_MAX_KEY_ID_BYTES + 1, 1, KQ_PURPOSE_DEK, NULL, 0),
                     KQ_ERR_LIMIT);
    /* the largest label: every pair with a maximal key and value */
    for (size_t i = 0; i <= KQ_MAX_CONTEXT_PAIRS; i++) {
        memset(keys[i], 'k', KQ_MAX_CONTEXT_KEY_BYTES);
        keys[i][0] = (uint8_t)i;
        ctx[i] = (struct kq_ctx_pair){keys[i], KQ_MAX_CONTEXT_KEY_BYTES, big,
                                      KQ_MAX_CONTEXT_VALUE_BYTES};
    }
    assert_int_equal(
        kq_label_build(&la, big, KQ_MAX_KEY_ID_BYTES, 1, KQ_PURPOSE_DEK, ctx, KQ_MAX_CONTEXT_PAIRS),
        KQ_OK);
    assert_true(la.len <= KQ_MAX_LABEL_BYTES);
    assert_int_equal(
        kq_label_build(&la, KID, KIDLEN, 1, KQ_PURPOSE_DEK, ctx, KQ_MAX_CONTEXT_PAIRS + 1),
        KQ_ERR_LIMIT);
    ctx[0].key_len = KQ_MAX_CONTEXT_KEY_BYTES + 1;
    assert_int_equal(kq_label_build(&la, KID, KIDLEN, 1, KQ_PURPOSE_DEK, ctx, 1), KQ_ERR_LIMIT);
    ctx[0].key_len = KQ_MAX_CONTEXT_KEY_BYTES;
    ctx[0].value_len = KQ_MAX_CONTEXT_VALUE_BYTES + 1;
    assert_int_equal(kq_label_build(&la, KID, KIDLEN, 1, KQ_PURPOSE_DEK, ctx, 1), KQ_ERR_LIMIT);
    assert_int_equal(la.len, 0);
    assert_int_equal(kq_label_maxbytes(), KQ_MAX_LABEL_BYTES);
    assert_int_equal(kq_label_digestbytes(), 32);
}

int main(void)
{
    if (kq_init(0) != KQ_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_independent),
        cmocka_unit_test(test_exact_layout),
        cmocka_unit_test(test_every_field_changes),
        cmocka_unit_test(test_prefix_sorts_first),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
