/* The action buffer of the driver contract: each append records its fields and payload; a refused
 * append (bad record key, full arena, full action array) leaves the buffer unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/core.h"

static void test_appends(void **state)
{
    (void)state;
    struct kq_actions *a = malloc(sizeof *a);
    kq_actions_reset(a);
    assert_int_equal(kq_actions_persist(a, "k", (const uint8_t *)"v", 1, true, 9), KQ_OK);
    assert_int_equal(kq_actions_erase(a, "gone"), KQ_OK);
    assert_int_equal(kq_actions_reply(a, 5, KQ_ERR_BUSY, (const uint8_t *)"xy", 2), KQ_OK);
    assert_int_equal(a->count, 3);
    assert_string_equal(a->items[0].record_key, "k");
    assert_true(a->items[0].sync);
    assert_int_equal(a->items[0].write_token, 9);
    assert_int_equal(a->items[1].kind, KQ_ACT_ERASE);
    assert_string_equal(a->items[1].record_key, "gone");
    assert_int_equal(a->items[2].reply_status, KQ_ERR_BUSY);
    assert_memory_equal(kq_action_payload(a, &a->items[2]), "xy", 2);
    free(a);
}

static void test_refusals_leave_buffer_unchanged(void **state)
{
    (void)state;
    struct kq_actions *a = malloc(sizeof *a);
    kq_actions_reset(a);
    char long_key[KQ_CORE_MAX_RECORD_KEY + 1];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    assert_int_equal(kq_actions_erase(a, ""), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_actions_erase(a, long_key), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_actions_persist(a, long_key, (const uint8_t *)"v", 1, false, 0),
                     KQ_ERR_INVALID_ARG);
    assert_int_equal(a->count, 0);
    assert_int_equal(a->used, 0);
    uint8_t *big = calloc(1, KQ_CORE_ACTION_ARENA + 1);
    assert_int_equal(kq_actions_send(a, 1, 1, big, KQ_CORE_ACTION_ARENA + 1), KQ_ERR_OVERFLOW);
    assert_int_equal(a->count, 0);
    for (size_t i = 0; i < KQ_CORE_MAX_ACTIONS; i++)
        assert_int_equal(kq_actions_timer(a, (uint32_t)i, 1), KQ_OK);
    assert_int_equal(kq_actions_erase(a, "k"), KQ_ERR_OVERFLOW);
    assert_int_equal(a->count, KQ_CORE_MAX_ACTIONS);
    free(big);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_appends),
        cmocka_unit_test(test_refusals_leave_buffer_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
