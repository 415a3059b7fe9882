/* Fuzzes Shamir combine on untrusted shares: input = u8 count || u8 share length || shares, the
 * way a combiner receives them from holders. Whatever the bytes, combine returns an error or a
 * secret of share_len - 1 bytes, and never reads or writes out of bounds. */
#include <string.h>

#include "base/mem.h"
#include "crypto/shamir.h"
#include "fuzz.h"

#define FUZZ_MAX_SHARES 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t secret[256];
    const uint8_t *shares[FUZZ_MAX_SHARES];
    size_t lens[FUZZ_MAX_SHARES], secret_len;
    kq_fuzz_init();
    if (size < 2)
        return 0;
    size_t count = data[0] % (FUZZ_MAX_SHARES + 1), share_len = data[1];
    if (count * share_len > size - 2)
        return 0;
    for (size_t i = 0; i < count; i++) {
        shares[i] = data + 2 + i * share_len;
        lens[i] = share_len;
    }
    if (count > 0 && share_len > 0)
        lens[count - 1] = share_len - (data[0] >> 7); /* sometimes one short share */
    if (kq_shamir_combine_lens(secret, sizeof secret, &secret_len, shares, lens, count) == KQ_OK)
        KQ_FUZZ_CHECK(secret_len + 1 == share_len);
    return 0;
}

size_t kq_fuzz_seed(unsigned i, uint8_t *buf, size_t cap)
{
    uint8_t secret[16];
    kq_fuzz_init();
    if (i >= 1 || cap < 2 + 5 * 17)
        return 0;
    memset(secret, 0xa5, sizeof secret);
    buf[0] = 5;
    buf[1] = 17;
    if (kq_shamir_split(buf + 2, 17, secret, sizeof secret, 3, 5) != KQ_OK)
        return 0;
    return 2 + 5 * 17;
}
