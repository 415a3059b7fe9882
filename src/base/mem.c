/* Secret memory and randomness over libsodium, plus process hardening. */
#include "base/mem.h"

#include <sodium.h>
#include <sys/prctl.h>
#include <sys/resource.h>

enum kq_err kq_init(int harden)
{
    if (sodium_init() < 0)
        return KQ_ERR_CRYPTO;
    if (harden) {
        struct rlimit rl = {0, 0};
        (void)setrlimit(RLIMIT_CORE, &rl);
        (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    return KQ_OK;
}

void *kq_secure_alloc(size_t n)
{
    KQ_ASSERT(n > 0);
    void *p = sodium_malloc(n);
    if (p != NULL)
        sodium_memzero(p, n);
    return p;
}

void kq_secure_free(void *p)
{
    sodium_free(p); /* sodium_free wipes before unmapping and accepts NULL */
}

void kq_wipe(void *p, size_t n)
{
    sodium_memzero(p, n);
}

int kq_ct_eq(const void *a, const void *b, size_t n)
{
    return sodium_memcmp(a, b, n) == 0;
}

void kq_random(void *buf, size_t n)
{
    randombytes_buf(buf, n);
}
