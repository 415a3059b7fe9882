/* Secret memory. Long-lived secrets live in sodium_malloc'd pages (guard pages, mlock, no core
 * dump); temporaries on the stack are wiped with kq_wipe on every exit path. kq_init must run
 * before any other keyquorum function. */
#ifndef KQ_BASE_MEM_H
#define KQ_BASE_MEM_H

#include <stddef.h>

#include "base/assert.h"

/* Initialises libsodium and, when harden is nonzero, disables core dumps and ptrace attach for
 * this process. Idempotent. KQ_ERR_CRYPTO if libsodium cannot initialise. */
KQ_MUST_USE enum kq_err kq_init(int harden);

/* Guarded allocation of n bytes (n > 0), zeroed; NULL on failure. Free with kq_secure_free. */
void *kq_secure_alloc(size_t n);
/* Wipes and frees p (NULL is allowed). */
void kq_secure_free(void *p);

/* Zeroes n bytes in a way the compiler cannot remove. */
void kq_wipe(void *p, size_t n);

/* Constant-time equality of two n-byte buffers: 1 if equal, 0 if not. */
int kq_ct_eq(const void *a, const void *b, size_t n);

/* Fills buf with n bytes from the OS CSPRNG. */
void kq_random(void *buf, size_t n);

#endif
