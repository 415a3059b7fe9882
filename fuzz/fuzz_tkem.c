/* Fuzzes the ciphertext decoders: binary (kq_tkem_decode) and text (kq_tkem_from_text). Property:
 * whatever decodes re-encodes to the same bytes through the text form. */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "crypto/tkem.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t bin[KQ_TKEM_CTBYTES(4096)];
    static char text[KQ_TKEM_TEXTBYTES(4096)];
    struct kq_tkem_ct ct;
    size_t len, tlen;
    kq_fuzz_init();
    if (size <= sizeof bin && kq_tkem_decode(&ct, data, size) == KQ_OK) {
        KQ_FUZZ_CHECK(ct.sealed_len + KQ_TKEM_HEADERBYTES == size);
        KQ_FUZZ_CHECK(kq_tkem_to_text(text, sizeof text, &tlen, data, size) == KQ_OK);
        KQ_FUZZ_CHECK(kq_tkem_from_text(bin, sizeof bin, &len, text, tlen) == KQ_OK);
        KQ_FUZZ_CHECK(len == size && memcmp(bin, data, size) == 0);
    }
    if (kq_tkem_from_text(bin, sizeof bin, &len, (const char *)data, size) == KQ_OK)
        KQ_FUZZ_CHECK(kq_tkem_decode(&ct, bin, len) == KQ_OK);
    return 0;
}

size_t kq_fuzz_seed(unsigned i, uint8_t *buf, size_t cap)
{
    struct kq_label *label = NULL;
    uint8_t s[KQ_SCALARBYTES], S[KQ_POINTBYTES], pt[64] = {0};
    size_t len = 0;
    static const uint8_t k[] = "tenant", v[] = "acme";
    struct kq_ctx_pair ctx = {k, 6, v, 4};
    kq_fuzz_init();
    if (i >= 4)
        return 0;
    label = calloc(1, sizeof *label);
    kq_sc_random(s);
    kq_pt_mul_base(S, s);
    enum kq_purpose p = (i % 2) ? KQ_PURPOSE_DATA : KQ_PURPOSE_DEK;
    size_t pt_len = p == KQ_PURPOSE_DEK ? 32 : (i == 1 ? 0 : 64);
    if (label == NULL ||
        kq_label_build(label, (const uint8_t *)"fuzz", 4, i + 1, p, &ctx, 1) != KQ_OK ||
        kq_tkem_wrap(buf, cap, &len, S, label, pt, pt_len) != KQ_OK)
        len = 0;
    if (i == 3 && len > 0) { /* the text form of seed 3 exercises the text parser */
        static char text[KQ_TKEM_TEXTBYTES(64)];
        size_t tlen;
        if (kq_tkem_to_text(text, sizeof text, &tlen, buf, len) == KQ_OK && tlen <= cap) {
            memcpy(buf, text, tlen);
            len = tlen;
        }
    }
    free(label);
    kq_wipe(s, sizeof s);
    return len;
}
