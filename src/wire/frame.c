/* Frame codec: encoder and decoder of the node-to-node frame header (frame.h, docs/wire.md).
 * Invariant: a header that decodes is exactly one that kq_frame_encode_header produces, so
 * decode-then-encode reproduces the input bytes; every byte is read through struct kq_buf. */
#include "wire/frame.h"

#include <string.h>

KQ_STATIC_ASSERT(KQ_FRAME_HEADER_BYTES == 4 + 1 + 1 + 2 + 4 + 4, "header layout");
KQ_STATIC_ASSERT(KQ_MAX_FRAME_PAYLOAD <= UINT32_MAX, "the length field is a u32");
KQ_STATIC_ASSERT(KQ_FRAME_MAX_BYTES > KQ_MAX_FRAME_PAYLOAD, "no overflow in the frame size");
KQ_STATIC_ASSERT(KQ_FRAME_VERSION >= 1 && KQ_FRAME_VERSION <= UINT8_MAX, "version is a u8");

size_t kq_frame_header_bytes(void)
{
    return KQ_FRAME_HEADER_BYTES;
}

size_t kq_frame_max_payload_bytes(void)
{
    return KQ_MAX_FRAME_PAYLOAD;
}

static enum kq_err check_args(uint32_t sender, size_t len)
{
    KQ_ENSURE(sender != 0, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(len <= KQ_MAX_FRAME_PAYLOAD, KQ_ERR_LIMIT);
    return KQ_OK;
}

/* Writes the header; the caller has checked the arguments and that 16 bytes of room exist. */
static void put_header(struct kq_buf *w, uint16_t type, uint32_t sender, size_t len)
{
    KQ_ASSERT(kq_buf_room(w) >= KQ_FRAME_HEADER_BYTES);
    KQ_ASSERT(sender != 0 && len <= KQ_MAX_FRAME_PAYLOAD);
    size_t before = kq_buf_len(w);
    enum kq_err err = kq_buf_put_u32(w, KQ_FRAME_MAGIC);
    err = err != KQ_OK ? err : kq_buf_put_u8(w, KQ_FRAME_VERSION);
    err = err != KQ_OK ? err : kq_buf_put_u8(w, 0); /* flags */
    err = err != KQ_OK ? err : kq_buf_put_u16(w, type);
    err = err != KQ_OK ? err : kq_buf_put_u32(w, sender);
    err = err != KQ_OK ? err : kq_buf_put_u32(w, (uint32_t)len);
    KQ_ASSERT(err == KQ_OK);
    KQ_ASSERT(kq_buf_len(w) - before == KQ_FRAME_HEADER_BYTES);
}

enum kq_err kq_frame_encode_header(uint8_t out[KQ_FRAME_HEADER_BYTES], uint16_t type,
                                   uint32_t sender, size_t len)
{
    struct kq_buf w;
    KQ_ASSERT(out != NULL);
    memset(out, 0, KQ_FRAME_HEADER_BYTES);
    KQ_GUARD(check_args(sender, len));
    kq_buf_writer(&w, out, KQ_FRAME_HEADER_BYTES);
    put_header(&w, type, sender, len);
    return KQ_OK;
}

enum kq_err kq_frame_encode(struct kq_buf *out, uint16_t type, uint32_t sender,
                            const uint8_t *payload, size_t len)
{
    KQ_ASSERT(out != NULL);
    KQ_GUARD(check_args(sender, len));
    KQ_ENSURE(payload != NULL || len == 0, KQ_ERR_INVALID_ARG);
    /* Room for the whole frame first, so a failure writes nothing. */
    KQ_ENSURE(kq_buf_room(out) >= KQ_FRAME_HEADER_BYTES, KQ_ERR_OVERFLOW);
    KQ_ENSURE(kq_buf_room(out) - KQ_FRAME_HEADER_BYTES >= len, KQ_ERR_OVERFLOW);
    put_header(out, type, sender, len);
    enum kq_err err = kq_buf_put(out, payload, len);
    KQ_ASSERT(err == KQ_OK);
    return KQ_OK;
}

/* Reads the six fields; KQ_ERR_TRUNCATED is the only failure (fewer than 16 bytes). */
static enum kq_err get_fields(struct kq_buf *r, uint32_t *magic, struct kq_frame_header *h)
{
    KQ_ENSURE(kq_buf_remaining(r) >= KQ_FRAME_HEADER_BYTES, KQ_ERR_TRUNCATED);
    enum kq_err err = kq_buf_get_u32(r, magic);
    err = err != KQ_OK ? err : kq_buf_get_u8(r, &h->version);
    err = err != KQ_OK ? err : kq_buf_get_u8(r, &h->flags);
    err = err != KQ_OK ? err : kq_buf_get_u16(r, &h->type);
    err = err != KQ_OK ? err : kq_buf_get_u32(r, &h->sender);
    err = err != KQ_OK ? err : kq_buf_get_u32(r, &h->length);
    KQ_ASSERT(err == KQ_OK);
    return KQ_OK;
}

/* The rules, in the order docs/wire.md gives them: a newer version may redefine the flags. */
static enum kq_err check_header(uint32_t magic, const struct kq_frame_header *h)
{
    KQ_ENSURE(magic == KQ_FRAME_MAGIC, KQ_ERR_FORMAT);
    KQ_ENSURE(h->version == KQ_FRAME_VERSION, KQ_ERR_VERSION);
    KQ_ENSURE(h->flags == 0, KQ_ERR_FORMAT);
    KQ_ENSURE(h->sender != 0, KQ_ERR_FORMAT);
    KQ_ENSURE(h->length <= KQ_MAX_FRAME_PAYLOAD, KQ_ERR_LIMIT);
    return KQ_OK;
}

enum kq_err kq_frame_decode_header(const uint8_t *in, size_t in_len, struct kq_frame_header *out)
{
    struct kq_buf r;
    struct kq_frame_header h = {0};
    uint32_t magic = 0;
    KQ_ASSERT(out != NULL);
    KQ_ASSERT(in != NULL || in_len == 0);
    memset(out, 0, sizeof *out);
    kq_buf_reader(&r, in, in_len);
    KQ_GUARD(get_fields(&r, &magic, &h));
    KQ_GUARD(check_header(magic, &h));
    *out = h;
    KQ_ASSERT(out->sender != 0 && out->length <= KQ_MAX_FRAME_PAYLOAD);
    return KQ_OK;
}

enum kq_err kq_frame_decode(struct kq_buf *in, struct kq_frame_header *hdr, const uint8_t **payload)
{
    KQ_ASSERT(in != NULL && hdr != NULL && payload != NULL);
    *payload = NULL;
    memset(hdr, 0, sizeof *hdr);
    /* Work on a copy of the cursor and commit it only on success: nothing consumed on failure. */
    struct kq_buf r = *in;
    struct kq_frame_header h;
    const uint8_t *head, *body;
    size_t avail = kq_buf_remaining(&r);
    KQ_ENSURE(avail >= KQ_FRAME_HEADER_BYTES, KQ_ERR_TRUNCATED);
    KQ_GUARD(kq_buf_get_ptr(&r, &head, KQ_FRAME_HEADER_BYTES));
    KQ_GUARD(kq_frame_decode_header(head, KQ_FRAME_HEADER_BYTES, &h));
    KQ_GUARD(kq_buf_get_ptr(&r, &body, h.length));
    KQ_ASSERT(kq_buf_remaining(in) - kq_buf_remaining(&r) == KQ_FRAME_BYTES((size_t)h.length));
    *in = r;
    *hdr = h;
    *payload = body;
    return KQ_OK;
}

const char *kq_frame_type_name(uint16_t type)
{
    switch (type) {
    case KQ_FRAME_HEARTBEAT:
        return "heartbeat";
    case KQ_FRAME_PING:
        return "ping";
    case KQ_FRAME_PONG:
        return "pong";
    }
    return "unknown";
}
