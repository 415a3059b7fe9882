/* The one place an assertion failure is reported. Writes with plain stdio and aborts; never
 * prints anything but the expression text and the source location. */
#include "base/assert.h"

#include <stdio.h>
#include <stdlib.h>

void kq_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "keyquorum: assertion failed: %s (%s:%d)\n", expr, file, line);
    fflush(stderr);
    abort();
}
