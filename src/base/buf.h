/* Bounded byte cursor: the only way keyquorum encodes or decodes bytes. A writer appends at wpos
 * and never passes size; a reader consumes from rpos and never passes wpos. Every size sum is
 * overflow-checked. Multi-byte integers are big-endian (network order). On failure nothing is
 * consumed or written and the cursor is unchanged. */
#ifndef KQ_BASE_BUF_H
#define KQ_BASE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"

struct kq_buf {
    uint8_t *data; /* backing storage, not owned */
    size_t size;   /* capacity of data */
    size_t rpos;   /* next byte to read, <= wpos */
    size_t wpos;   /* end of written bytes, <= size */
    bool readonly; /* set by kq_buf_reader: puts fail */
};

/* A writer over data[0..size), empty. */
void kq_buf_writer(struct kq_buf *b, uint8_t *data, size_t size);
/* A reader over data[0..len): every byte readable, none writable. data must outlive b. */
void kq_buf_reader(struct kq_buf *b, const uint8_t *data, size_t len);

/* Bytes left to read / room left to write. */
size_t kq_buf_remaining(const struct kq_buf *b);
size_t kq_buf_room(const struct kq_buf *b);
/* The written bytes, data[0..wpos). */
const uint8_t *kq_buf_bytes(const struct kq_buf *b);
size_t kq_buf_len(const struct kq_buf *b);

KQ_MUST_USE enum kq_err kq_buf_put(struct kq_buf *b, const void *src, size_t n);
KQ_MUST_USE enum kq_err kq_buf_put_u8(struct kq_buf *b, uint8_t v);
KQ_MUST_USE enum kq_err kq_buf_put_u16(struct kq_buf *b, uint16_t v);
KQ_MUST_USE enum kq_err kq_buf_put_u32(struct kq_buf *b, uint32_t v);
KQ_MUST_USE enum kq_err kq_buf_put_u64(struct kq_buf *b, uint64_t v);
/* A string as a u8 length then its bytes (no NUL): KQ_ERR_LIMIT if longer than max (<= 255). */
KQ_MUST_USE enum kq_err kq_buf_put_str8(struct kq_buf *b, const char *s, size_t max);
/* Reads what kq_buf_put_str8 wrote into out (max + 1 bytes, NUL-terminated): KQ_ERR_LIMIT if
 * longer than max, KQ_ERR_FORMAT for an embedded NUL. */
KQ_MUST_USE enum kq_err kq_buf_get_str8(struct kq_buf *b, char *out, size_t max);
/* A u16 length then the bytes; KQ_ERR_LIMIT if n > UINT16_MAX. */
KQ_MUST_USE enum kq_err kq_buf_put_bytes16(struct kq_buf *b, const void *src, size_t n);
/* Reserve n bytes to be filled in by the caller; *out points into the buffer. */
KQ_MUST_USE enum kq_err kq_buf_reserve(struct kq_buf *b, size_t n, uint8_t **out);

KQ_MUST_USE enum kq_err kq_buf_get(struct kq_buf *b, void *dst, size_t n);
KQ_MUST_USE enum kq_err kq_buf_get_u8(struct kq_buf *b, uint8_t *v);
KQ_MUST_USE enum kq_err kq_buf_get_u16(struct kq_buf *b, uint16_t *v);
KQ_MUST_USE enum kq_err kq_buf_get_u32(struct kq_buf *b, uint32_t *v);
KQ_MUST_USE enum kq_err kq_buf_get_u64(struct kq_buf *b, uint64_t *v);
/* Zero-copy: *p points at the next n bytes inside the buffer, which are consumed. */
KQ_MUST_USE enum kq_err kq_buf_get_ptr(struct kq_buf *b, const uint8_t **p, size_t n);
/* A u16 length (at most max) then that many bytes, zero-copy. */
KQ_MUST_USE enum kq_err kq_buf_get_bytes16(struct kq_buf *b, const uint8_t **p, size_t *n,
                                           size_t max);
/* KQ_ERR_FORMAT unless every byte has been read: decoders reject trailing garbage. */
KQ_MUST_USE enum kq_err kq_buf_expect_end(const struct kq_buf *b);

/* a + b into *out, false on overflow. */
KQ_MUST_USE bool kq_size_add(size_t a, size_t b, size_t *out);
/* a * b into *out, false on overflow. */
KQ_MUST_USE bool kq_size_mul(size_t a, size_t b, size_t *out);

#endif
