/* Fuzzes the signed holder response decoder (kq_partial_decode). Property: whatever decodes
 * re-encodes to the same bytes, and a mutated response never passes signature verification. */
#include <string.h>

#include <sodium.h>

#include "base/mem.h"
#include "crypto/partial.h"
#include "fuzz.h"

static uint8_t g_pk[KQ_PARTIAL_PKBYTES], g_sk[KQ_PARTIAL_SKBYTES];

static void keys(void)
{
    static int done;
    if (!done) {
        uint8_t seed[32] = {42}; /* fixed, so the seeds' signatures verify in every run */
        crypto_sign_seed_keypair(g_pk, g_sk, seed);
        done = 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct kq_partial_resp r;
    static uint8_t out[KQ_PARTIAL_MAXBYTES];
    size_t len;
    kq_fuzz_init();
    keys();
    if (kq_partial_decode(&r, data, size) != KQ_OK)
        return 0;
    KQ_FUZZ_CHECK(kq_partial_encode(out, sizeof out, &len, &r) == KQ_OK);
    KQ_FUZZ_CHECK(len == size && memcmp(out, data, size) == 0);
    enum kq_err err = kq_partial_verify(&r, g_pk); /* must not crash; may or may not verify */
    KQ_FUZZ_CHECK(err == KQ_OK || err == KQ_ERR_BAD_SIGNATURE);
    return 0;
}

size_t kq_fuzz_seed(unsigned i, uint8_t *buf, size_t cap)
{
    static struct kq_label label;
    static struct kq_partial_resp r;
    uint8_t coeffs[1][32], commits[1][32], shares[1][32], S[32], ct[KQ_TKEM_CTBYTES(32)];
    uint8_t dek[32] = {0}, reqid[KQ_PARTIAL_REQIDBYTES] = {1};
    size_t ct_len, len = 0;
    struct kq_tkem_ct dec;
    struct kq_tkem_partial p;
    kq_fuzz_init();
    keys();
    if (i >= 2)
        return 0;
    if (kq_vss_deal(coeffs, commits, shares, NULL, 1, 1) != KQ_OK)
        return 0;
    memcpy(S, commits[0], 32);
    if (kq_label_build(&label, (const uint8_t *)"fuzz", 4, 1, KQ_PURPOSE_DEK, NULL, 0) != KQ_OK ||
        kq_tkem_wrap(ct, sizeof ct, &ct_len, S, &label, dek, 32) != KQ_OK ||
        kq_tkem_decode(&dec, ct, ct_len) != KQ_OK)
        goto out;
    if (i == 0) {
        if (kq_tkem_partial(&p, &dec, &label, S, shares[0], 1) != KQ_OK ||
            kq_partial_respond(&r, reqid, &label, 7, 1000, 1, dec.R, &p, NULL, g_sk) != KQ_OK)
            goto out;
    } else if (kq_partial_respond(&r, reqid, &label, 7, 1000, 1, dec.R, NULL, NULL, g_sk) !=
               KQ_OK) {
        goto out; /* a deny */
    }
    if (kq_partial_encode(buf, cap, &len, &r) != KQ_OK)
        len = 0;
out:
    kq_wipe(coeffs, sizeof coeffs);
    kq_wipe(shares, sizeof shares);
    return len;
}
