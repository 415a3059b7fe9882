/* Fuzzes the DKG message decoder (kq_dkg_msg_decode, kq_dkg_msg_decode_header). Property:
 * whatever decodes re-encodes to the same bytes, and the header decoder agrees with the full one.
 */
#include <string.h>

#include "base/mem.h"
#include "crypto/dkg.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct kq_dkg_msg m, h;
    static uint8_t out[KQ_DKG_MAX_MSG_BYTES];
    size_t len;
    kq_fuzz_init();
    if (kq_dkg_msg_decode(data, size, &m) != KQ_OK)
        return 0;
    KQ_FUZZ_CHECK(kq_dkg_msg_decode_header(data, size, &h) == KQ_OK);
    KQ_FUZZ_CHECK(h.type == m.type && h.sender == m.sender);
    KQ_FUZZ_CHECK(memcmp(h.session, m.session, KQ_DKG_SESSIONBYTES) == 0);
    KQ_FUZZ_CHECK(kq_dkg_msg_encode(&m, out, sizeof out, &len) == KQ_OK);
    KQ_FUZZ_CHECK(len == size && memcmp(out, data, size) == 0);
    return 0;
}

size_t kq_fuzz_seed(unsigned i, uint8_t *buf, size_t cap)
{
    static uint8_t commits[3][KQ_POINTBYTES], pok[KQ_PROOFBYTES], boxes[4][KQ_DKG_BOXBYTES];
    static uint8_t shares[2][KQ_SCALARBYTES];
    struct kq_dkg_msg m;
    size_t len = 0;
    uint8_t s[KQ_SCALARBYTES];
    kq_fuzz_init();
    if (i >= 3)
        return 0;
    memset(&m, 0, sizeof m);
    memset(m.session, 0x5e, sizeof m.session);
    m.sender = 2;
    for (int k = 0; k < 3; k++) {
        kq_sc_random(s);
        kq_pt_mul_base(commits[k], s);
    }
    kq_random(pok, sizeof pok);
    kq_random(boxes, sizeof boxes);
    kq_sc_random(shares[0]);
    kq_sc_random(shares[1]);
    if (i == 0) {
        m.type = KQ_DKG_MSG_DEAL;
        m.t = 3;
        m.commits = &commits[0][0];
        m.has_pok = true;
        m.pok = pok;
        m.nboxes = 4;
        m.boxes = &boxes[0][0];
    } else if (i == 1) {
        m.type = KQ_DKG_MSG_COMPLAINT;
        m.count = 2;
        m.idx[0] = 1;
        m.idx[1] = 3;
    } else {
        m.type = KQ_DKG_MSG_JUSTIFICATION;
        m.count = 2;
        m.idx[0] = 1;
        m.idx[1] = 4;
        m.shares = &shares[0][0];
    }
    if (kq_dkg_msg_encode(&m, buf, cap, &len) != KQ_OK)
        len = 0;
    return len;
}
