/* Fuzzes FROST signature verification on untrusted bytes: input = public key (32) || signature
 * (64) || message. Every encoding check (point, identity, canonical scalar) runs on attacker
 * data; a valid signature must not verify after a mutation (checked on the seeds' originals). */
#include <string.h>

#include "base/mem.h"
#include "crypto/frost.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kq_fuzz_init();
    if (size < KQ_POINTBYTES + KQ_FROST_SIGBYTES)
        return 0;
    const uint8_t *pk = data, *sig = data + KQ_POINTBYTES;
    size_t off = KQ_POINTBYTES + KQ_FROST_SIGBYTES;
    enum kq_err err = kq_frost_verify(sig, pk, data + off, size - off);
    KQ_FUZZ_CHECK(err == KQ_OK || err == KQ_ERR_BAD_SIGNATURE || err == KQ_ERR_BAD_POINT ||
                  err == KQ_ERR_LIMIT);
    return 0;
}

size_t kq_fuzz_seed(unsigned i, uint8_t *buf, size_t cap)
{
    static struct kq_frost_key_package kp[3];
    static struct kq_frost_public_package pub;
    struct kq_frost_nonces nonces[2];
    struct kq_frost_commitment list[2];
    uint8_t z[2][32], sig[64];
    static const uint8_t msg[] = "fuzz seed message";
    kq_fuzz_init();
    if (i >= 1 || cap < 96 + sizeof msg)
        return 0;
    if (kq_frost_keygen_dealer(kp, &pub, 2, 3) != KQ_OK)
        return 0;
    for (int k = 0; k < 2; k++)
        if (kq_frost_commit(&nonces[k], &list[k], &kp[k]) != KQ_OK)
            return 0;
    for (int k = 0; k < 2; k++)
        if (kq_frost_sign(z[k], &nonces[k], &kp[k], list, 2, msg, sizeof msg) != KQ_OK)
            return 0;
    if (kq_frost_aggregate(sig, &pub, list, 2, (const uint8_t(*)[32])z, msg, sizeof msg, NULL) !=
        KQ_OK)
        return 0;
    KQ_FUZZ_CHECK(kq_frost_verify(sig, pub.group_public_key, msg, sizeof msg) == KQ_OK);
    memcpy(buf, pub.group_public_key, 32);
    memcpy(buf + 32, sig, 64);
    memcpy(buf + 96, msg, sizeof msg);
    for (int k = 0; k < 3; k++)
        kq_frost_key_package_wipe(&kp[k]);
    return 96 + sizeof msg;
}
