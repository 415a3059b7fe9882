/* Encoder and decoder of the heartbeat message, both over struct kq_buf. The decoder accepts
 * exactly the bytes the encoder produces: one version, a nonzero incarnation, no trailing bytes. */
#include "wire/heartbeat.h"

#include <string.h>

#include "base/buf.h"

size_t kq_heartbeat_msg_bytes(void)
{
    return KQ_HEARTBEAT_MSG_BYTES;
}

enum kq_err kq_heartbeat_msg_encode(const struct kq_heartbeat_msg *m, uint8_t *out, size_t cap,
                                    size_t *len)
{
    KQ_ASSERT(m != NULL && len != NULL);
    KQ_ASSERT(out != NULL || cap == 0);
    *len = 0;
    KQ_ENSURE(m->incarnation != 0, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(cap >= KQ_HEARTBEAT_MSG_BYTES, KQ_ERR_OVERFLOW);
    struct kq_buf b;
    kq_buf_writer(&b, out, cap);
    KQ_GUARD(kq_buf_put_u8(&b, KQ_HEARTBEAT_VERSION));
    KQ_GUARD(kq_buf_put_u64(&b, m->incarnation));
    KQ_GUARD(kq_buf_put_u64(&b, m->seq));
    *len = kq_buf_len(&b);
    KQ_ASSERT(*len == KQ_HEARTBEAT_MSG_BYTES);
    return KQ_OK;
}

static enum kq_err decode(struct kq_heartbeat_msg *m, const uint8_t *in, size_t len)
{
    struct kq_buf b;
    uint8_t version;
    kq_buf_reader(&b, in, len);
    KQ_GUARD(kq_buf_get_u8(&b, &version));
    KQ_ENSURE(version == KQ_HEARTBEAT_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_u64(&b, &m->incarnation));
    KQ_GUARD(kq_buf_get_u64(&b, &m->seq));
    KQ_ENSURE(m->incarnation != 0, KQ_ERR_FORMAT);
    return kq_buf_expect_end(&b);
}

enum kq_err kq_heartbeat_msg_decode(struct kq_heartbeat_msg *m, const uint8_t *in, size_t len)
{
    KQ_ASSERT(m != NULL);
    KQ_ASSERT(in != NULL || len == 0);
    enum kq_err err = decode(m, in, len);
    if (err != KQ_OK)
        memset(m, 0, sizeof *m);
    return err;
}
