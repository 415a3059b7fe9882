/* Shared helpers for cmocka tests: hex conversion and reading test-vector files. */
#ifndef KQ_TESTS_TEST_UTIL_H
#define KQ_TESTS_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

/* Decodes hex into out (exactly n bytes expected); fails the test otherwise. */
static inline void kqt_hex(uint8_t *out, size_t n, const char *hex)
{
    size_t len = 0;
    assert_int_equal(strlen(hex), 2 * n);
    assert_int_equal(sodium_hex2bin(out, n, hex, strlen(hex), NULL, &len, NULL), 0);
    assert_int_equal(len, n);
}

/* Path of a file under the source tree, e.g. kqt_path("tests/vectors/x.json"). */
static inline const char *kqt_path(const char *rel)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", KQ_SOURCE_DIR, rel);
    return buf;
}

#endif
