/* Tests for src/wire/keeper_msg: request, response and signed FROST response round trips for every
 * op, every decoder rejection (built byte by byte), encoder refusals, every truncation, and the
 * FROST response signature over every field. */
#include "../test_util.h"

#include "base/buf.h"
#include "base/mem.h"
#include "wire/keeper_msg.h"

static uint8_t g_buf[KQ_KEEPER_REQ_MAX_BYTES];
static uint8_t g_big[KQ_MAX_SIGN_MESSAGE_BYTES + 64];

/* ---- a raw request writer, so each rejected field can be written as the decoder would see it */
struct raw_req {
    uint8_t version, op, seal, ct_type;
    const char *name;
    size_t name_len;
    uint32_t key_version;
    uint64_t epoch;
    const char *client;
    size_t client_len;
    uint16_t n_ctx;
    size_t key_len, value_len; /* of each pair */
    uint32_t msg_len;
    uint16_t n_commits;
    uint32_t ids[3];
    bool trailing;
};

static struct raw_req raw_default(uint8_t op)
{
    struct raw_req r = {.version = KQ_KEEPER_MSG_VERSION,
                        .op = op,
                        .ct_type = KQ_PURPOSE_DEK,
                        .name = "key-1",
                        .name_len = 5,
                        .key_version = 1,
                        .epoch = 1,
                        .client = "alice",
                        .client_len = 5,
                        .n_ctx = 1,
                        .key_len = 3,
                        .value_len = 4,
                        .msg_len = 5,
                        .n_commits = 2,
                        .ids = {1, 3, 0}};
    return r;
}

static size_t raw_write(const struct raw_req *r, uint8_t *out, size_t cap)
{
    static const uint8_t zeros[2048];
    struct kq_buf b;
    kq_buf_writer(&b, out, cap);
    assert_int_equal(kq_buf_put_u8(&b, r->version), KQ_OK);
    assert_int_equal(kq_buf_put(&b, zeros, KQ_PARTIAL_REQIDBYTES), KQ_OK);
    assert_int_equal(kq_buf_put_u8(&b, r->op), KQ_OK);
    assert_int_equal(kq_buf_put_u8(&b, (uint8_t)r->name_len), KQ_OK);
    assert_int_equal(kq_buf_put(&b, r->name, r->name_len), KQ_OK);
    assert_int_equal(kq_buf_put_u32(&b, r->key_version), KQ_OK);
    assert_int_equal(kq_buf_put_u64(&b, r->epoch), KQ_OK);
    assert_int_equal(kq_buf_put_u8(&b, (uint8_t)r->client_len), KQ_OK);
    assert_int_equal(kq_buf_put(&b, r->client, r->client_len), KQ_OK);
    assert_int_equal(kq_buf_put_u8(&b, r->seal), KQ_OK);
    if (r->op == KQ_KREQ_UNWRAP) {
        assert_int_equal(kq_buf_put_u8(&b, r->ct_type), KQ_OK);
        assert_int_equal(kq_buf_put(&b, zeros, KQ_POINTBYTES + KQ_PROOFBYTES), KQ_OK);
    }
    if (r->op == KQ_KREQ_UNWRAP || r->op == KQ_KREQ_DERIVE) {
        assert_int_equal(kq_buf_put_u16(&b, r->n_ctx), KQ_OK);
        for (size_t i = 0; i < r->n_ctx && i < 2; i++) {
            uint8_t key[KQ_MAX_CONTEXT_KEY_BYTES + 2];
            memset(key, 'a' + (int)i, sizeof key);
            assert_int_equal(kq_buf_put_bytes16(&b, key, r->key_len), KQ_OK);
            assert_int_equal(kq_buf_put_bytes16(&b, zeros, r->value_len), KQ_OK);
        }
    }
    if (r->op == KQ_KREQ_FROST_SIGN) {
        assert_int_equal(kq_buf_put_u32(&b, r->msg_len), KQ_OK);
        assert_int_equal(kq_buf_put(&b, g_big, r->msg_len <= sizeof g_big ? r->msg_len : 0), KQ_OK);
        assert_int_equal(kq_buf_put_u16(&b, r->n_commits), KQ_OK);
        for (size_t i = 0; i < r->n_commits && i < 3; i++) {
            assert_int_equal(kq_buf_put_u32(&b, r->ids[i]), KQ_OK);
            assert_int_equal(kq_buf_put(&b, zeros, 2 * KQ_POINTBYTES), KQ_OK);
        }
    }
    if (r->trailing)
        assert_int_equal(kq_buf_put_u8(&b, 0), KQ_OK);
    return kq_buf_len(&b);
}

static void expect_req(const struct raw_req *raw, enum kq_err want)
{
    struct kq_keeper_req r;
    size_t len = raw_write(raw, g_buf, sizeof g_buf);
    memset(&r, 0xaa, sizeof r);
    assert_int_equal(kq_keeper_req_decode(&r, g_buf, len), want);
    if (want != KQ_OK) {
        assert_int_equal(r.op, 0);
        assert_int_equal(r.name[0], 0);
        assert_null(r.msg);
    }
}

static void test_req_raw_valid(void **state)
{
    (void)state;
    for (uint8_t op = KQ_KREQ_UNWRAP; op <= KQ_KREQ_FROST_SIGN; op++) {
        struct raw_req r = raw_default(op);
        expect_req(&r, KQ_OK);
    }
}

static void test_req_rejects(void **state)
{
    (void)state;
    struct raw_req r;
#define REJECT(op, field_change, want)                                                             \
    do {                                                                                           \
        r = raw_default(op);                                                                       \
        field_change;                                                                              \
        expect_req(&r, want);                                                                      \
    } while (0)
    REJECT(KQ_KREQ_UNWRAP, r.version = 2, KQ_ERR_VERSION);
    REJECT(KQ_KREQ_UNWRAP, r.version = 0, KQ_ERR_VERSION);
    REJECT(KQ_KREQ_UNWRAP, r.op = 0, KQ_ERR_FORMAT);
    REJECT(KQ_KREQ_UNWRAP, r.op = 5, KQ_ERR_FORMAT);
    REJECT(KQ_KREQ_UNWRAP, (r.name = "", r.name_len = 0), KQ_ERR_FORMAT);
    REJECT(KQ_KREQ_UNWRAP, (r.name = "a/b", r.name_len = 3), KQ_ERR_FORMAT);
    REJECT(KQ_KREQ_UNWRAP, (r.name = "a\0b", r.name_len = 3), KQ_ERR_FORMAT);
    static const char long_name[] =
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"; /* 65 */
    REJECT(KQ_KREQ_UNWRAP, (r.name = long_name, r.name_len = 65), KQ_ERR_LIMIT);
    REJECT(KQ_KREQ_UNWRAP, (r.name = long_name, r.name_len = 64), KQ_OK);
    REJECT(KQ_KREQ_UNWRAP, r.key_version = 0, KQ_ERR_FORMAT);
    REJECT(KQ_KREQ_UNWRAP, r.epoch = 0, KQ_ERR_FORMAT);
    REJECT(KQ_KREQ_UNWRAP, (r.client = "a b", r.client_len = 3), KQ_ERR_FORMAT);
    REJECT(KQ_KREQ_UNWRAP, (r.client = long_name, r.client_len = 65), KQ_ERR_LIMIT);
    REJECT(KQ_KREQ_UNWRAP, (r.client = "", r.client_len = 0), KQ_OK);
    REJECT(KQ_KREQ_UNWRAP, r.seal = 1, KQ_OK);
    REJECT(KQ_KREQ_DERIVE, r.seal = 1, KQ_OK);
    REJECT(KQ_KREQ_UNWRAP, r.seal = 2, KQ_ERR_FORMAT);
    REJECT(KQ_KREQ_UNWRAP, (r.seal = 1, r.client = "", r.client_len = 0), KQ_ERR_FORMAT);
    REJECT(KQ_KREQ_FROST_COMMIT, r.seal = 1, KQ_ERR_FORMAT);
    REJECT(KQ_KREQ_FROST_SIGN, r.seal = 1, KQ_ERR_FORMAT);
    REJECT(KQ_KREQ_UNWRAP, r.ct_type = KQ_PURPOSE_DATA, KQ_OK);
    REJECT(KQ_KREQ_UNWRAP, r.ct_type = KQ_PURPOSE_DERIVE, KQ_ERR_FORMAT);
    REJECT(KQ_KREQ_UNWRAP, r.ct_type = 0, KQ_ERR_FORMAT);
    REJECT(KQ_KREQ_DERIVE, r.n_ctx = 0, KQ_OK);
    REJECT(KQ_KREQ_DERIVE, r.n_ctx = KQ_MAX_CONTEXT_PAIRS + 1, KQ_ERR_LIMIT);
    REJECT(KQ_KREQ_DERIVE, r.key_len = 0, KQ_ERR_FORMAT);
    REJECT(KQ_KREQ_DERIVE, r.key_len = KQ_MAX_CONTEXT_KEY_BYTES, KQ_OK);
    REJECT(KQ_KREQ_DERIVE, r.key_len = KQ_MAX_CONTEXT_KEY_BYTES + 1, KQ_ERR_LIMIT);
    REJECT(KQ_KREQ_DERIVE, r.value_len = 0, KQ_OK);
    REJECT(KQ_KREQ_DERIVE, r.value_len = KQ_MAX_CONTEXT_VALUE_BYTES + 1, KQ_ERR_LIMIT);
    REJECT(KQ_KREQ_FROST_SIGN, r.msg_len = 0, KQ_OK);
    REJECT(KQ_KREQ_FROST_SIGN, r.msg_len = KQ_MAX_SIGN_MESSAGE_BYTES, KQ_OK);
    REJECT(KQ_KREQ_FROST_SIGN, r.msg_len = KQ_MAX_SIGN_MESSAGE_BYTES + 1, KQ_ERR_LIMIT);
    REJECT(KQ_KREQ_FROST_SIGN, r.n_commits = 0, KQ_ERR_FORMAT);
    REJECT(KQ_KREQ_FROST_SIGN, r.n_commits = KQ_DKG_MAX_N + 1, KQ_ERR_LIMIT);
    REJECT(KQ_KREQ_FROST_SIGN, r.ids[0] = 0, KQ_ERR_FORMAT);
    REJECT(KQ_KREQ_FROST_SIGN, r.ids[1] = 1, KQ_ERR_FORMAT);
    REJECT(KQ_KREQ_FROST_SIGN, (r.ids[0] = 4, r.ids[1] = 2), KQ_ERR_FORMAT);
    for (uint8_t op = KQ_KREQ_UNWRAP; op <= KQ_KREQ_FROST_SIGN; op++)
        REJECT(op, r.trailing = true, KQ_ERR_FORMAT);
#undef REJECT
}

static void test_req_truncated(void **state)
{
    (void)state;
    struct kq_keeper_req r;
    for (uint8_t op = KQ_KREQ_UNWRAP; op <= KQ_KREQ_FROST_SIGN; op++) {
        struct raw_req raw = raw_default(op);
        size_t len = raw_write(&raw, g_buf, sizeof g_buf);
        for (size_t cut = 0; cut < len; cut++) {
            assert_int_equal(kq_keeper_req_decode(&r, g_buf, cut), KQ_ERR_TRUNCATED);
        }
        assert_int_equal(kq_keeper_req_decode(&r, NULL, 0), KQ_ERR_TRUNCATED);
    }
}

/* ---- encode / decode round trips ---- */

static void fill_req(struct kq_keeper_req *r, uint8_t op)
{
    static const uint8_t k1[] = "purpose", v1[] = "backup", k2[] = "tenant";
    static const uint8_t msg[] = "sign me";
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < KQ_PARTIAL_REQIDBYTES; i++)
        r->request_id[i] = (uint8_t)(i + 1);
    r->op = op;
    strcpy(r->name, "orders.key_1-A");
    r->version = 7;
    r->epoch = 0x0102030405060708ULL;
    strcpy(r->client, "svc-1");
    if (op == KQ_KREQ_UNWRAP || op == KQ_KREQ_DERIVE) {
        r->seal = op == KQ_KREQ_UNWRAP;
        r->n_ctx = 2;
        r->ctx[0] = (struct kq_ctx_pair){k1, sizeof k1 - 1, v1, sizeof v1 - 1};
        r->ctx[1] = (struct kq_ctx_pair){k2, sizeof k2 - 1, NULL, 0};
    }
    if (op == KQ_KREQ_UNWRAP) {
        r->ct_type = KQ_PURPOSE_DATA;
        memset(r->R, 0x11, sizeof r->R);
        memset(r->ct_proof, 0x22, sizeof r->ct_proof);
    }
    if (op == KQ_KREQ_FROST_SIGN) {
        r->msg = msg;
        r->msg_len = sizeof msg - 1;
        r->n_commits = 3;
        for (uint32_t i = 0; i < 3; i++) {
            r->commits[i].identifier = 2 * i + 1;
            memset(r->commits[i].hiding, (int)(0x30 + i), KQ_POINTBYTES);
            memset(r->commits[i].binding, (int)(0x40 + i), KQ_POINTBYTES);
        }
    }
}

static void test_req_roundtrip(void **state)
{
    (void)state;
    static uint8_t again[KQ_KEEPER_REQ_MAX_BYTES];
    struct kq_keeper_req r, d;
    size_t len, len2;
    for (uint8_t op = KQ_KREQ_UNWRAP; op <= KQ_KREQ_FROST_SIGN; op++) {
        fill_req(&r, op);
        assert_int_equal(kq_keeper_req_encode(&r, g_buf, sizeof g_buf, &len), KQ_OK);
        assert_int_equal(kq_keeper_req_decode(&d, g_buf, len), KQ_OK);
        assert_memory_equal(d.request_id, r.request_id, KQ_PARTIAL_REQIDBYTES);
        assert_int_equal(d.op, op);
        assert_string_equal(d.name, r.name);
        assert_int_equal(d.version, r.version);
        assert_true(d.epoch == r.epoch);
        assert_string_equal(d.client, r.client);
        assert_int_equal(d.seal, r.seal);
        assert_int_equal(d.ct_type, r.ct_type);
        assert_memory_equal(d.R, r.R, KQ_POINTBYTES);
        assert_memory_equal(d.ct_proof, r.ct_proof, KQ_PROOFBYTES);
        assert_int_equal(d.n_ctx, r.n_ctx);
        for (size_t i = 0; i < r.n_ctx; i++) {
            assert_int_equal(d.ctx[i].key_len, r.ctx[i].key_len);
            assert_memory_equal(d.ctx[i].key, r.ctx[i].key, r.ctx[i].key_len);
            assert_int_equal(d.ctx[i].value_len, r.ctx[i].value_len);
            /* zero-copy: the views point into the frame */
            assert_true(d.ctx[i].key >= g_buf && d.ctx[i].key < g_buf + len);
        }
        assert_int_equal(d.msg_len, r.msg_len);
        if (r.msg_len > 0) {
            assert_memory_equal(d.msg, r.msg, r.msg_len);
            assert_true(d.msg >= g_buf && d.msg < g_buf + len);
        }
        assert_int_equal(d.n_commits, r.n_commits);
        assert_memory_equal(d.commits, r.commits, r.n_commits * sizeof r.commits[0]);
        assert_int_equal(kq_keeper_req_encode(&d, again, sizeof again, &len2), KQ_OK);
        assert_int_equal(len2, len);
        assert_memory_equal(again, g_buf, len);
        for (size_t cap = 0; cap < len; cap++)
            assert_int_equal(kq_keeper_req_encode(&r, again, cap, &len2), KQ_ERR_OVERFLOW);
    }
}

static void test_req_encode_refuses(void **state)
{
    (void)state;
    struct kq_keeper_req r;
    size_t len = 99;
#define REFUSE(op, change, want)                                                                   \
    do {                                                                                           \
        fill_req(&r, op);                                                                          \
        change;                                                                                    \
        assert_int_equal(kq_keeper_req_encode(&r, g_buf, sizeof g_buf, &len), want);               \
        assert_int_equal(len, 0);                                                                  \
    } while (0)
    REFUSE(KQ_KREQ_UNWRAP, r.op = 9, KQ_ERR_INVALID_ARG);
    REFUSE(KQ_KREQ_UNWRAP, r.name[0] = 0, KQ_ERR_INVALID_ARG);
    REFUSE(KQ_KREQ_UNWRAP, r.name[0] = '*', KQ_ERR_INVALID_ARG);
    REFUSE(KQ_KREQ_UNWRAP, r.version = 0, KQ_ERR_INVALID_ARG);
    REFUSE(KQ_KREQ_UNWRAP, r.epoch = 0, KQ_ERR_INVALID_ARG);
    REFUSE(KQ_KREQ_UNWRAP, r.client[0] = 0, KQ_ERR_INVALID_ARG); /* seal without a client */
    REFUSE(KQ_KREQ_UNWRAP, r.ct_type = KQ_PURPOSE_DERIVE, KQ_ERR_INVALID_ARG);
    REFUSE(KQ_KREQ_FROST_COMMIT, r.seal = true, KQ_ERR_INVALID_ARG);
    REFUSE(KQ_KREQ_DERIVE, r.n_ctx = KQ_MAX_CONTEXT_PAIRS + 1, KQ_ERR_LIMIT);
    REFUSE(KQ_KREQ_DERIVE, r.ctx[0].key_len = 0, KQ_ERR_INVALID_ARG);
    REFUSE(KQ_KREQ_DERIVE, r.ctx[0].key_len = KQ_MAX_CONTEXT_KEY_BYTES + 1, KQ_ERR_LIMIT);
    REFUSE(KQ_KREQ_DERIVE, r.ctx[0].value_len = KQ_MAX_CONTEXT_VALUE_BYTES + 1, KQ_ERR_LIMIT);
    REFUSE(KQ_KREQ_FROST_SIGN, r.n_commits = 0, KQ_ERR_INVALID_ARG);
    REFUSE(KQ_KREQ_FROST_SIGN, r.n_commits = KQ_DKG_MAX_N + 1, KQ_ERR_LIMIT);
    REFUSE(KQ_KREQ_FROST_SIGN, r.commits[1].identifier = 1, KQ_ERR_INVALID_ARG);
    REFUSE(KQ_KREQ_FROST_SIGN, r.commits[0].identifier = 0, KQ_ERR_INVALID_ARG);
    REFUSE(KQ_KREQ_FROST_SIGN, (r.msg = g_big, r.msg_len = KQ_MAX_SIGN_MESSAGE_BYTES + 1),
           KQ_ERR_LIMIT);
#undef REFUSE
}

/* ---- responses ---- */

static void test_resp_roundtrip(void **state)
{
    (void)state;
    static const uint8_t body[] = {1, 2, 3, 4, 5};
    uint8_t out[KQ_KEEPER_RESP_MAX_BYTES];
    struct kq_keeper_resp r = {.op = KQ_KREQ_DERIVE,
                               .status = KQ_OK,
                               .body_kind = KQ_KRESP_PARTIAL,
                               .body = body,
                               .body_len = sizeof body},
                          d;
    size_t len;
    memset(r.request_id, 0x5a, sizeof r.request_id);
    const uint8_t kinds[][2] = {{KQ_KREQ_UNWRAP, KQ_KRESP_PARTIAL},
                                {KQ_KREQ_UNWRAP, KQ_KRESP_SEALED},
                                {KQ_KREQ_DERIVE, KQ_KRESP_SEALED},
                                {KQ_KREQ_FROST_COMMIT, KQ_KRESP_FROST},
                                {KQ_KREQ_FROST_SIGN, KQ_KRESP_FROST}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        r.op = kinds[i][0];
        r.body_kind = kinds[i][1];
        assert_int_equal(kq_keeper_resp_encode(&r, out, sizeof out, &len), KQ_OK);
        assert_int_equal(kq_keeper_resp_decode(&d, out, len), KQ_OK);
        assert_memory_equal(d.request_id, r.request_id, sizeof r.request_id);
        assert_int_equal(d.op, r.op);
        assert_int_equal(d.status, KQ_OK);
        assert_int_equal(d.body_kind, r.body_kind);
        assert_int_equal(d.body_len, sizeof body);
        assert_ptr_equal(d.body, out + len - sizeof body);
        for (size_t cut = 0; cut < len; cut++)
            assert_int_equal(kq_keeper_resp_decode(&d, out, cut), KQ_ERR_TRUNCATED);
    }
    /* an error: status, no body */
    struct kq_keeper_resp e = {.op = KQ_KREQ_UNWRAP, .status = KQ_ERR_LABEL};
    assert_int_equal(kq_keeper_resp_encode(&e, out, sizeof out, &len), KQ_OK);
    assert_int_equal(len, 1 + KQ_PARTIAL_REQIDBYTES + 1 + 4 + 1 + 4);
    assert_int_equal(kq_keeper_resp_decode(&d, out, len), KQ_OK);
    assert_int_equal(d.status, KQ_ERR_LABEL);
    assert_int_equal(d.body_kind, KQ_KRESP_NONE);
    assert_null(d.body);
    assert_int_equal(kq_keeper_resp_encode(&e, out, len - 1, &len), KQ_ERR_OVERFLOW);
}

static size_t raw_resp(uint8_t *out, uint8_t version, uint8_t op, uint32_t status, uint8_t kind,
                       uint32_t body_len, bool trailing)
{
    static uint8_t zeros[KQ_KEEPER_RESP_MAX_BYTES + 8];
    struct kq_buf b;
    kq_buf_writer(&b, out, KQ_KEEPER_RESP_MAX_BYTES + 64);
    assert_int_equal(kq_buf_put_u8(&b, version), KQ_OK);
    assert_int_equal(kq_buf_put(&b, zeros, KQ_PARTIAL_REQIDBYTES), KQ_OK);
    assert_int_equal(kq_buf_put_u8(&b, op), KQ_OK);
    assert_int_equal(kq_buf_put_u32(&b, status), KQ_OK);
    assert_int_equal(kq_buf_put_u8(&b, kind), KQ_OK);
    assert_int_equal(kq_buf_put_u32(&b, body_len), KQ_OK);
    if (body_len <= sizeof zeros)
        assert_int_equal(kq_buf_put(&b, zeros, body_len), KQ_OK);
    if (trailing)
        assert_int_equal(kq_buf_put_u8(&b, 0), KQ_OK);
    return kq_buf_len(&b);
}

static void test_resp_rejects(void **state)
{
    (void)state;
    static uint8_t buf[KQ_KEEPER_RESP_MAX_BYTES + 64];
    struct kq_keeper_resp d;
    const uint8_t V = KQ_KEEPER_MSG_VERSION;
#define RESP(op_, status, kind, blen, trailing, want)                                              \
    do {                                                                                           \
        size_t n_ = raw_resp(buf, V, op_, status, kind, blen, trailing);                           \
        memset(&d, 0xaa, sizeof d);                                                                \
        assert_int_equal(kq_keeper_resp_decode(&d, buf, n_), want);                                \
        if (want != KQ_OK)                                                                         \
            assert_true(d.op == 0 && d.body == NULL && d.body_len == 0);                           \
    } while (0)
    RESP(KQ_KREQ_UNWRAP, KQ_OK, KQ_KRESP_PARTIAL, 10, false, KQ_OK);
    RESP(KQ_KREQ_UNWRAP, KQ_OK, KQ_KRESP_PARTIAL, 10, true, KQ_ERR_FORMAT);
    RESP(0, KQ_OK, KQ_KRESP_PARTIAL, 10, false, KQ_ERR_FORMAT);
    RESP(5, KQ_OK, KQ_KRESP_PARTIAL, 10, false, KQ_ERR_FORMAT);
    RESP(KQ_KREQ_UNWRAP, KQ_OK, 4, 10, false, KQ_ERR_FORMAT);
    RESP(KQ_KREQ_UNWRAP, KQ_OK, KQ_KRESP_NONE, 0, false, KQ_ERR_FORMAT);    /* success, no body */
    RESP(KQ_KREQ_UNWRAP, KQ_OK, KQ_KRESP_PARTIAL, 0, false, KQ_ERR_FORMAT); /* empty body */
    RESP(KQ_KREQ_UNWRAP, KQ_ERR_LABEL, KQ_KRESP_PARTIAL, 10, false, KQ_ERR_FORMAT);
    RESP(KQ_KREQ_UNWRAP, KQ_ERR_LABEL, KQ_KRESP_NONE, 1, false, KQ_ERR_FORMAT);
    RESP(KQ_KREQ_UNWRAP, KQ_OK, KQ_KRESP_FROST, 10, false, KQ_ERR_FORMAT);
    RESP(KQ_KREQ_FROST_SIGN, KQ_OK, KQ_KRESP_PARTIAL, 10, false, KQ_ERR_FORMAT);
    RESP(KQ_KREQ_FROST_COMMIT, KQ_OK, KQ_KRESP_SEALED, 10, false, KQ_ERR_FORMAT);
    RESP(KQ_KREQ_UNWRAP, KQ_OK, KQ_KRESP_PARTIAL, KQ_PARTIAL_MAXBYTES + 1, false, KQ_ERR_LIMIT);
    RESP(KQ_KREQ_UNWRAP, KQ_OK, KQ_KRESP_SEALED, KQ_PARTIAL_MAXBYTES + 48, false, KQ_OK);
    RESP(KQ_KREQ_UNWRAP, KQ_OK, KQ_KRESP_SEALED, KQ_PARTIAL_MAXBYTES + 49, false, KQ_ERR_LIMIT);
    RESP(KQ_KREQ_FROST_SIGN, KQ_OK, KQ_KRESP_FROST, KQ_FROST_RESP_MAX_BYTES + 1, false,
         KQ_ERR_LIMIT);
    RESP(KQ_KREQ_UNWRAP, KQ_OK, KQ_KRESP_PARTIAL, KQ_KEEPER_RESP_MAX_BYTES + 1, false,
         KQ_ERR_LIMIT);
#undef RESP
    size_t n = raw_resp(buf, 2, KQ_KREQ_UNWRAP, KQ_ERR_LABEL, KQ_KRESP_NONE, 0, false);
    assert_int_equal(kq_keeper_resp_decode(&d, buf, n), KQ_ERR_VERSION);
    /* the encoder refuses the same shapes */
    uint8_t out[64];
    size_t len = 9;
    struct kq_keeper_resp bad = {.op = KQ_KREQ_UNWRAP, .status = KQ_OK};
    assert_int_equal(kq_keeper_resp_encode(&bad, out, sizeof out, &len), KQ_ERR_INVALID_ARG);
    assert_int_equal(len, 0);
    bad.body_kind = KQ_KRESP_FROST;
    bad.body = out;
    bad.body_len = 1;
    assert_int_equal(kq_keeper_resp_encode(&bad, out, sizeof out, &len), KQ_ERR_INVALID_ARG);
    bad.body_kind = KQ_KRESP_PARTIAL;
    bad.body_len = KQ_PARTIAL_MAXBYTES + 1;
    assert_int_equal(kq_keeper_resp_encode(&bad, out, sizeof out, &len), KQ_ERR_LIMIT);
}

/* ---- signed FROST responses ---- */

static void frost_fill(struct kq_frost_resp *r, uint8_t round)
{
    memset(r, 0, sizeof *r);
    memset(r->request_id, 0x77, sizeof r->request_id);
    strcpy(r->name, "signing-key");
    r->version = 3;
    r->epoch = 9;
    r->index = 2;
    r->round = round;
    r->time = 1700000000000ULL;
    if (round == 1) {
        r->commitment.identifier = 2;
        memset(r->commitment.hiding, 0x12, KQ_POINTBYTES);
        memset(r->commitment.binding, 0x34, KQ_POINTBYTES);
    } else {
        memset(r->digest, 0x56, sizeof r->digest);
        memset(r->share, 0x78, sizeof r->share);
    }
}

static void test_frost_resp_sign_roundtrip(void **state)
{
    (void)state;
    uint8_t pk[32], sk[64], pk2[32], sk2[64], out[KQ_FROST_RESP_MAX_BYTES], copy[sizeof out];
    struct kq_frost_resp r, d;
    size_t len, len2;
    crypto_sign_keypair(pk, sk);
    crypto_sign_keypair(pk2, sk2);
    for (uint8_t round = 1; round <= 2; round++) {
        frost_fill(&r, round);
        assert_int_equal(kq_frost_resp_sign(&r, sk), KQ_OK);
        assert_int_equal(kq_frost_resp_verify(&r, pk), KQ_OK);
        assert_int_equal(kq_frost_resp_verify(&r, pk2), KQ_ERR_BAD_SIGNATURE);
        assert_int_equal(kq_frost_resp_encode(&r, out, sizeof out, &len), KQ_OK);
        assert_int_equal(kq_frost_resp_decode(&d, out, len), KQ_OK);
        assert_memory_equal(&d, &r, sizeof r);
        assert_int_equal(kq_frost_resp_verify(&d, pk), KQ_OK);
        assert_int_equal(kq_frost_resp_encode(&d, copy, sizeof copy, &len2), KQ_OK);
        assert_int_equal(len2, len);
        assert_memory_equal(copy, out, len);
        for (size_t cap = 0; cap < len; cap++)
            assert_int_equal(kq_frost_resp_encode(&r, copy, cap, &len2), KQ_ERR_OVERFLOW);
        for (size_t cut = 0; cut < len; cut++)
            assert_int_not_equal(kq_frost_resp_decode(&d, out, cut), KQ_OK);
        /* every bit of every field is signed: a flipped bit either fails to decode or to verify */
        for (size_t i = 0; i < len; i++) {
            for (int bit = 0; bit < 8; bit += 3) {
                memcpy(copy, out, len);
                copy[i] ^= (uint8_t)(1u << bit);
                if (kq_frost_resp_decode(&d, copy, len) == KQ_OK)
                    assert_int_equal(kq_frost_resp_verify(&d, pk), KQ_ERR_BAD_SIGNATURE);
            }
        }
        out[len] = 0;
        assert_int_equal(kq_frost_resp_decode(&d, out, len + 1), KQ_ERR_FORMAT);
    }
    /* a field changed after signing */
    frost_fill(&r, 2);
    assert_int_equal(kq_frost_resp_sign(&r, sk), KQ_OK);
    r.time++;
    assert_int_equal(kq_frost_resp_verify(&r, pk), KQ_ERR_BAD_SIGNATURE);
}

static void test_frost_resp_rejects(void **state)
{
    (void)state;
    uint8_t sk[64], pk[32], out[KQ_FROST_RESP_MAX_BYTES + 8];
    struct kq_frost_resp r, d;
    size_t len = 5;
    crypto_sign_keypair(pk, sk);
#define FIELD(round, change, want)                                                                 \
    do {                                                                                           \
        frost_fill(&r, round);                                                                     \
        change;                                                                                    \
        assert_int_equal(kq_frost_resp_sign(&r, sk), want == KQ_OK ? KQ_OK : KQ_ERR_INVALID_ARG);  \
        assert_int_equal(kq_frost_resp_encode(&r, out, sizeof out, &len),                          \
                         want == KQ_OK ? KQ_OK : KQ_ERR_INVALID_ARG);                              \
        assert_int_equal(kq_frost_resp_verify(&r, pk),                                             \
                         want == KQ_OK ? KQ_OK : KQ_ERR_BAD_SIGNATURE);                            \
    } while (0)
    FIELD(1, r.round = 3, KQ_ERR_FORMAT);
    FIELD(1, r.round = 0, KQ_ERR_FORMAT);
    FIELD(1, r.index = 0, KQ_ERR_FORMAT);
    FIELD(1, (r.index = KQ_DKG_MAX_N + 1, r.commitment.identifier = r.index), KQ_ERR_FORMAT);
    FIELD(1, r.commitment.identifier = 3, KQ_ERR_FORMAT);
    FIELD(2, r.name[0] = 0, KQ_ERR_FORMAT);
    FIELD(2, r.version = 0, KQ_ERR_FORMAT);
    FIELD(2, r.epoch = 0, KQ_ERR_FORMAT);
    FIELD(2, r.index = KQ_DKG_MAX_N, KQ_OK);
#undef FIELD
    /* the decoder's view of the same fields, written into a valid encoding */
    frost_fill(&r, 1);
    assert_int_equal(kq_frost_resp_sign(&r, sk), KQ_OK);
    assert_int_equal(kq_frost_resp_encode(&r, out, sizeof out, &len), KQ_OK);
    size_t name_len = strlen(r.name), at_ver = 1 + KQ_PARTIAL_REQIDBYTES + 1 + name_len;
    size_t at_index = at_ver + 4 + 8, at_round = at_index + 4;
    uint8_t copy[sizeof out];
#define PATCH(off, val, want)                                                                      \
    do {                                                                                           \
        memcpy(copy, out, len);                                                                    \
        copy[off] = (val);                                                                         \
        memset(&d, 0xaa, sizeof d);                                                                \
        assert_int_equal(kq_frost_resp_decode(&d, copy, len), want);                               \
        assert_int_equal(d.round, 0);                                                              \
    } while (0)
    PATCH(0, 2, KQ_ERR_VERSION);
    PATCH(1 + KQ_PARTIAL_REQIDBYTES, KQ_KEY_NAME_MAX_BYTES + 1, KQ_ERR_LIMIT);
    PATCH(1 + KQ_PARTIAL_REQIDBYTES + 1, '/', KQ_ERR_FORMAT);
    PATCH(1 + KQ_PARTIAL_REQIDBYTES + 1, 0, KQ_ERR_FORMAT);
    PATCH(at_round, 3, KQ_ERR_FORMAT);
    PATCH(at_index + 3, 3, KQ_ERR_FORMAT); /* index 3, commitment of 2 */
    PATCH(at_round + 4, 3, KQ_ERR_FORMAT); /* commitment of 3, index 2 */
#undef PATCH
}

static void test_sign_digest(void **state)
{
    (void)state;
    struct kq_frost_commitment list[2];
    uint8_t a[64], b[64];
    memset(list, 0x21, sizeof list);
    list[0].identifier = 1;
    list[1].identifier = 2;
    kq_frost_sign_digest(a, (const uint8_t *)"msg", 3, list, 2);
    kq_frost_sign_digest(b, (const uint8_t *)"msg", 3, list, 2);
    assert_memory_equal(a, b, 64);
    kq_frost_sign_digest(b, (const uint8_t *)"msh", 3, list, 2);
    assert_memory_not_equal(a, b, 64);
    kq_frost_sign_digest(b, (const uint8_t *)"msg", 3, list, 1);
    assert_memory_not_equal(a, b, 64);
    list[1].binding[5] ^= 1;
    kq_frost_sign_digest(b, (const uint8_t *)"msg", 3, list, 2);
    assert_memory_not_equal(a, b, 64);
    list[1].binding[5] ^= 1;
    list[1].identifier = 3;
    kq_frost_sign_digest(b, (const uint8_t *)"msg", 3, list, 2);
    assert_memory_not_equal(a, b, 64);
}

int main(void)
{
    if (kq_init(0) != KQ_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_req_raw_valid),      cmocka_unit_test(test_req_rejects),
        cmocka_unit_test(test_req_truncated),      cmocka_unit_test(test_req_roundtrip),
        cmocka_unit_test(test_req_encode_refuses), cmocka_unit_test(test_resp_roundtrip),
        cmocka_unit_test(test_resp_rejects),       cmocka_unit_test(test_frost_resp_sign_roundtrip),
        cmocka_unit_test(test_frost_resp_rejects), cmocka_unit_test(test_sign_digest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
