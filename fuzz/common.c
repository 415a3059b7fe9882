/* Shared by every harness: one-time library initialisation. */
#include <stdlib.h>

#include "base/mem.h"
#include "fuzz.h"

void kq_fuzz_init(void)
{
    static int done;
    if (!done) {
        if (kq_init(0) != KQ_OK)
            abort();
        done = 1;
    }
}
