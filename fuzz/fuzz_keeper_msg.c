/* Fuzzes the keeper frame decoders (kq_keeper_req_decode, kq_keeper_resp_decode,
 * kq_frost_resp_decode); the first byte picks the decoder. Properties: whatever decodes
 * re-encodes to exactly the same bytes, and a decoded FROST response verifies or fails cleanly. */
#include <string.h>

#include <sodium.h>

#include "fuzz.h"
#include "wire/keeper_msg.h"

static uint8_t g_pk[KQ_PARTIAL_PKBYTES], g_sk[KQ_PARTIAL_SKBYTES];
static uint8_t g_out[KQ_KEEPER_REQ_MAX_BYTES];

static void keys(void)
{
    static int done;
    if (!done) {
        uint8_t seed[32] = {7}; /* fixed, so the seeds' signatures verify in every run */
        crypto_sign_seed_keypair(g_pk, g_sk, seed);
        done = 1;
    }
}

static void fuzz_req(const uint8_t *data, size_t size)
{
    static struct kq_keeper_req r;
    size_t len = 0;
    if (kq_keeper_req_decode(&r, data, size) != KQ_OK)
        return;
    KQ_FUZZ_CHECK(kq_keeper_req_encode(&r, g_out, sizeof g_out, &len) == KQ_OK);
    KQ_FUZZ_CHECK(len == size && memcmp(g_out, data, size) == 0);
}

static void fuzz_resp(const uint8_t *data, size_t size)
{
    struct kq_keeper_resp r;
    size_t len = 0;
    if (kq_keeper_resp_decode(&r, data, size) != KQ_OK)
        return;
    KQ_FUZZ_CHECK(kq_keeper_resp_encode(&r, g_out, sizeof g_out, &len) == KQ_OK);
    KQ_FUZZ_CHECK(len == size && memcmp(g_out, data, size) == 0);
}

static void fuzz_frost(const uint8_t *data, size_t size)
{
    struct kq_frost_resp r;
    size_t len = 0;
    if (kq_frost_resp_decode(&r, data, size) != KQ_OK)
        return;
    KQ_FUZZ_CHECK(kq_frost_resp_encode(&r, g_out, sizeof g_out, &len) == KQ_OK);
    KQ_FUZZ_CHECK(len == size && memcmp(g_out, data, size) == 0);
    enum kq_err err = kq_frost_resp_verify(&r, g_pk);
    KQ_FUZZ_CHECK(err == KQ_OK || err == KQ_ERR_BAD_SIGNATURE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kq_fuzz_init();
    keys();
    if (size == 0)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_req(data + 1, size - 1);
        break;
    case 1:
        fuzz_resp(data + 1, size - 1);
        break;
    default:
        fuzz_frost(data + 1, size - 1);
        break;
    }
    return 0;
}

static size_t seed_req(uint8_t op, uint8_t *buf, size_t cap)
{
    static struct kq_keeper_req r;
    static const uint8_t k[] = "tenant", v[] = "acme", msg[] = "hello";
    size_t len = 0;
    memset(&r, 0, sizeof r);
    memset(r.request_id, 3, sizeof r.request_id);
    r.op = op;
    strcpy(r.name, "fuzz-key");
    r.version = 2;
    r.epoch = 5;
    strcpy(r.client, "client-1");
    r.seal = op == KQ_KREQ_UNWRAP;
    r.ct_type = KQ_PURPOSE_DEK;
    memset(r.R, 0x11, sizeof r.R);
    if (op == KQ_KREQ_UNWRAP || op == KQ_KREQ_DERIVE) {
        r.n_ctx = 1;
        r.ctx[0] = (struct kq_ctx_pair){k, sizeof k - 1, v, sizeof v - 1};
    }
    if (op == KQ_KREQ_FROST_SIGN) {
        r.msg = msg;
        r.msg_len = sizeof msg - 1;
        r.n_commits = 2;
        r.commits[0].identifier = 1;
        r.commits[1].identifier = 4;
    }
    if (cap < 1 || kq_keeper_req_encode(&r, buf + 1, cap - 1, &len) != KQ_OK)
        return 0;
    buf[0] = 0;
    return len + 1;
}

static size_t seed_frost(uint8_t round, uint8_t *buf, size_t cap)
{
    struct kq_frost_resp r;
    size_t len = 0;
    memset(&r, 0, sizeof r);
    strcpy(r.name, "fuzz-key");
    r.version = 1;
    r.epoch = 1;
    r.index = 3;
    r.round = round;
    r.commitment.identifier = round == 1 ? 3 : 0;
    r.time = 42;
    if (cap < 1 || kq_frost_resp_sign(&r, g_sk) != KQ_OK ||
        kq_frost_resp_encode(&r, buf + 1, cap - 1, &len) != KQ_OK)
        return 0;
    buf[0] = 2;
    return len + 1;
}

size_t kq_fuzz_seed(unsigned i, uint8_t *buf, size_t cap)
{
    static const uint8_t body[] = {1, 2, 3};
    kq_fuzz_init();
    keys();
    if (i < 4)
        return seed_req((uint8_t)(KQ_KREQ_UNWRAP + i), buf, cap);
    if (i < 6)
        return seed_frost((uint8_t)(i - 3), buf, cap);
    if (i < 8) {
        struct kq_keeper_resp r = {.op = KQ_KREQ_UNWRAP};
        size_t len = 0;
        if (i == 6) {
            r.body_kind = KQ_KRESP_SEALED;
            r.body = body;
            r.body_len = sizeof body;
        } else {
            r.status = KQ_ERR_LABEL;
        }
        if (cap < 1 || kq_keeper_resp_encode(&r, buf + 1, cap - 1, &len) != KQ_OK)
            return 0;
        buf[0] = 1;
        return len + 1;
    }
    return 0;
}
