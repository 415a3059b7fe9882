/* Bounded byte cursor. Invariant after every call: rpos <= wpos <= size. */
#include "base/buf.h"

#include <string.h>

#define KQ_BUF_INVARIANT(b)                                                                        \
    do {                                                                                           \
        KQ_ASSERT((b)->rpos <= (b)->wpos);                                                         \
        KQ_ASSERT((b)->wpos <= (b)->size);                                                         \
    } while (0)

void kq_buf_writer(struct kq_buf *b, uint8_t *data, size_t size)
{
    KQ_ASSERT(b != NULL);
    KQ_ASSERT(data != NULL || size == 0);
    b->data = data;
    b->size = size;
    b->rpos = 0;
    b->wpos = 0;
    b->readonly = false;
}

void kq_buf_reader(struct kq_buf *b, const uint8_t *data, size_t len)
{
    KQ_ASSERT(b != NULL);
    KQ_ASSERT(data != NULL || len == 0);
    /* The cast is safe: readonly makes every put fail before it touches data. */
    b->data = (uint8_t *)(uintptr_t)data;
    b->size = len;
    b->rpos = 0;
    b->wpos = len;
    b->readonly = true;
}

size_t kq_buf_remaining(const struct kq_buf *b)
{
    KQ_BUF_INVARIANT(b);
    return b->wpos - b->rpos;
}

size_t kq_buf_room(const struct kq_buf *b)
{
    KQ_BUF_INVARIANT(b);
    return b->readonly ? 0 : b->size - b->wpos;
}

const uint8_t *kq_buf_bytes(const struct kq_buf *b)
{
    return b->data;
}

size_t kq_buf_len(const struct kq_buf *b)
{
    KQ_BUF_INVARIANT(b);
    return b->wpos;
}

enum kq_err kq_buf_reserve(struct kq_buf *b, size_t n, uint8_t **out)
{
    KQ_BUF_INVARIANT(b);
    KQ_ENSURE(!b->readonly, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(n <= b->size - b->wpos, KQ_ERR_OVERFLOW);
    *out = b->data + b->wpos;
    b->wpos += n;
    KQ_BUF_INVARIANT(b);
    return KQ_OK;
}

enum kq_err kq_buf_put(struct kq_buf *b, const void *src, size_t n)
{
    uint8_t *dst;
    KQ_ASSERT(src != NULL || n == 0);
    KQ_GUARD(kq_buf_reserve(b, n, &dst));
    if (n > 0)
        memcpy(dst, src, n);
    return KQ_OK;
}

static enum kq_err put_be(struct kq_buf *b, uint64_t v, size_t width)
{
    uint8_t tmp[8];
    KQ_ASSERT(width >= 1 && width <= 8);
    for (size_t i = 0; i < width; i++)
        tmp[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
    return kq_buf_put(b, tmp, width);
}

enum kq_err kq_buf_put_u8(struct kq_buf *b, uint8_t v)
{
    return put_be(b, v, 1);
}

enum kq_err kq_buf_put_u16(struct kq_buf *b, uint16_t v)
{
    return put_be(b, v, 2);
}

enum kq_err kq_buf_put_u32(struct kq_buf *b, uint32_t v)
{
    return put_be(b, v, 4);
}

enum kq_err kq_buf_put_u64(struct kq_buf *b, uint64_t v)
{
    return put_be(b, v, 8);
}

enum kq_err kq_buf_put_str8(struct kq_buf *b, const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    KQ_ENSURE(n <= max && n <= UINT8_MAX, KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_put_u8(b, (uint8_t)n));
    return kq_buf_put(b, s, n);
}

enum kq_err kq_buf_get_str8(struct kq_buf *b, char *out, size_t max)
{
    uint8_t n = 0;
    const uint8_t *p = NULL;
    KQ_GUARD(kq_buf_get_u8(b, &n));
    KQ_ENSURE(n <= max, KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_get_ptr(b, &p, n));
    KQ_ENSURE(memchr(p, 0, n) == NULL, KQ_ERR_FORMAT);
    memcpy(out, p, n);
    out[n] = '\0';
    return KQ_OK;
}

enum kq_err kq_buf_put_bytes16(struct kq_buf *b, const void *src, size_t n)
{
    KQ_ENSURE(n <= UINT16_MAX, KQ_ERR_LIMIT);
    KQ_ENSURE(kq_buf_room(b) >= 2 && kq_buf_room(b) - 2 >= n, KQ_ERR_OVERFLOW);
    KQ_GUARD(kq_buf_put_u16(b, (uint16_t)n));
    return kq_buf_put(b, src, n);
}

enum kq_err kq_buf_get_ptr(struct kq_buf *b, const uint8_t **p, size_t n)
{
    KQ_BUF_INVARIANT(b);
    KQ_ENSURE(n <= b->wpos - b->rpos, KQ_ERR_TRUNCATED);
    *p = b->data + b->rpos;
    b->rpos += n;
    KQ_BUF_INVARIANT(b);
    return KQ_OK;
}

enum kq_err kq_buf_get(struct kq_buf *b, void *dst, size_t n)
{
    const uint8_t *p;
    KQ_ASSERT(dst != NULL || n == 0);
    KQ_GUARD(kq_buf_get_ptr(b, &p, n));
    if (n > 0)
        memcpy(dst, p, n);
    return KQ_OK;
}

static enum kq_err get_be(struct kq_buf *b, uint64_t *v, size_t width)
{
    const uint8_t *p;
    uint64_t acc = 0;
    KQ_ASSERT(width >= 1 && width <= 8);
    KQ_GUARD(kq_buf_get_ptr(b, &p, width));
    for (size_t i = 0; i < width; i++)
        acc = (acc << 8) | p[i];
    *v = acc;
    return KQ_OK;
}

enum kq_err kq_buf_get_u8(struct kq_buf *b, uint8_t *v)
{
    uint64_t t;
    KQ_GUARD(get_be(b, &t, 1));
    *v = (uint8_t)t;
    return KQ_OK;
}

enum kq_err kq_buf_get_u16(struct kq_buf *b, uint16_t *v)
{
    uint64_t t;
    KQ_GUARD(get_be(b, &t, 2));
    *v = (uint16_t)t;
    return KQ_OK;
}

enum kq_err kq_buf_get_u32(struct kq_buf *b, uint32_t *v)
{
    uint64_t t;
    KQ_GUARD(get_be(b, &t, 4));
    *v = (uint32_t)t;
    return KQ_OK;
}

enum kq_err kq_buf_get_u64(struct kq_buf *b, uint64_t *v)
{
    return get_be(b, v, 8);
}

enum kq_err kq_buf_get_bytes16(struct kq_buf *b, const uint8_t **p, size_t *n, size_t max)
{
    uint16_t len;
    size_t saved = b->rpos;
    KQ_GUARD(kq_buf_get_u16(b, &len));
    if (len > max) {
        b->rpos = saved;
        return KQ_ERR_LIMIT;
    }
    enum kq_err err = kq_buf_get_ptr(b, p, len);
    if (err != KQ_OK) {
        b->rpos = saved;
        return err;
    }
    *n = len;
    return KQ_OK;
}

enum kq_err kq_buf_expect_end(const struct kq_buf *b)
{
    return kq_buf_remaining(b) == 0 ? KQ_OK : KQ_ERR_FORMAT;
}

bool kq_size_add(size_t a, size_t b, size_t *out)
{
    if (a > SIZE_MAX - b)
        return false;
    *out = a + b;
    return true;
}

bool kq_size_mul(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return false;
    *out = a * b;
    return true;
}
