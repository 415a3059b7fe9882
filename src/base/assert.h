/* Assertions and error-propagation guards. KQ_ASSERT stays on in every build type: a broken
 * invariant aborts rather than continuing with corrupt state. Operating errors are returned as
 * enum kq_err and propagated with the guards below, never asserted. */
#ifndef KQ_BASE_ASSERT_H
#define KQ_BASE_ASSERT_H

#include "base/err.h"

#define KQ_MUST_USE __attribute__((warn_unused_result))

__attribute__((noreturn)) void kq_assert_fail(const char *expr, const char *file, int line);

#define KQ_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (__builtin_expect(!(cond), 0))                                                          \
            kq_assert_fail(#cond, __FILE__, __LINE__);                                             \
    } while (0)

#define KQ_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)

/* Return the error of expr if it is not KQ_OK. */
#define KQ_GUARD(expr)                                                                             \
    do {                                                                                           \
        enum kq_err kq_guard_err_ = (expr);                                                        \
        if (kq_guard_err_ != KQ_OK)                                                                \
            return kq_guard_err_;                                                                  \
    } while (0)

/* Return err if cond does not hold. */
#define KQ_ENSURE(cond, err)                                                                       \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return (err);                                                                          \
    } while (0)

/* For functions with an `enum kq_err err` local and an `out:` cleanup label (secrets wiped
 * there): store the error of expr and jump to out if it is not KQ_OK. */
#define KQ_TRY(expr)                                                                               \
    do {                                                                                           \
        err = (expr);                                                                              \
        if (err != KQ_OK)                                                                          \
            goto out;                                                                              \
    } while (0)

/* Same, for a condition: store e and jump to out if cond does not hold. */
#define KQ_CHECK(cond, e)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            err = (e);                                                                             \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

#endif
