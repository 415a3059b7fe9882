/* Node-to-node frames: a fixed 16-byte big-endian header (magic, version, flags, type, sender,
 * payload length) and the payload, carried over mutually authenticated TLS. A header is validated
 * on its own, so a stream reader rejects an oversized or malformed frame before buffering its
 * payload. Layout and rules: docs/wire.md. */
#ifndef KQ_WIRE_FRAME_H
#define KQ_WIRE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/limits.h"

#define KQ_FRAME_MAGIC        0x4B514652u /* "KQFR" */
#define KQ_FRAME_VERSION      1
#define KQ_FRAME_HEADER_BYTES 16 /* magic 4, version 1, flags 1, type 2, sender 4, length 4 */
/* Bytes of a whole frame with an n-byte payload, and of the largest frame. */
#define KQ_FRAME_BYTES(n)  (KQ_FRAME_HEADER_BYTES + (n))
#define KQ_FRAME_MAX_BYTES KQ_FRAME_BYTES(KQ_MAX_FRAME_PAYLOAD)

size_t kq_frame_header_bytes(void);
size_t kq_frame_max_payload_bytes(void);

enum kq_frame_type { /* stable numbers; ranges reserved for families */
                     KQ_FRAME_HEARTBEAT = 0x0001,
                     KQ_FRAME_PING = 0x0002,
                     KQ_FRAME_PONG = 0x0003,
                     /* 0x0100-0x01FF ledger, 0x0200-0x02FF DKG, 0x0300-0x03FF keeper: reserved */
};

/* A decoded header. The magic is implied (checked, not stored). */
struct kq_frame_header {
    uint8_t version;
    uint8_t flags;
    uint16_t type;
    uint32_t sender;
    uint32_t length;
};

/* Appends header + payload (len bytes; payload may be NULL only if len is 0) to out. Any type is
 * accepted: dispatch is the reader's business. Errors: KQ_ERR_INVALID_ARG if sender is 0 or
 * payload is NULL with len > 0, KQ_ERR_LIMIT if len > KQ_MAX_FRAME_PAYLOAD, KQ_ERR_OVERFLOW if
 * out has less than KQ_FRAME_BYTES(len) bytes of room. On failure nothing is written. */
KQ_MUST_USE enum kq_err kq_frame_encode(struct kq_buf *out, uint16_t type, uint32_t sender,
                                        const uint8_t *payload, size_t len);

/* Writes the header of a frame whose len-byte payload the caller sends separately (no copy of
 * large payloads). Same errors as kq_frame_encode except OVERFLOW; on failure out is zeroed. */
KQ_MUST_USE enum kq_err kq_frame_encode_header(uint8_t out[KQ_FRAME_HEADER_BYTES], uint16_t type,
                                               uint32_t sender, size_t len);

/* Decodes and validates a header from the first KQ_FRAME_HEADER_BYTES of in (in_len bytes; any
 * further bytes are ignored). Errors, checked in this order: KQ_ERR_TRUNCATED if in_len < 16,
 * KQ_ERR_FORMAT for a bad magic, KQ_ERR_VERSION for a version other than KQ_FRAME_VERSION,
 * KQ_ERR_FORMAT for nonzero flags or a zero sender, KQ_ERR_LIMIT for a length over
 * KQ_MAX_FRAME_PAYLOAD. On failure *out is zeroed. */
KQ_MUST_USE enum kq_err kq_frame_decode_header(const uint8_t *in, size_t in_len,
                                               struct kq_frame_header *out);

/* Decodes one whole frame at the read position of in and consumes it; bytes after it stay in the
 * cursor for the next call. *payload points into in's data (zero copy) and lives as long as that
 * data. Errors: those of kq_frame_decode_header, and
 * KQ_ERR_TRUNCATED if the payload is not all there yet. On failure nothing is consumed, *hdr is
 * zeroed and *payload is NULL. */
KQ_MUST_USE enum kq_err kq_frame_decode(struct kq_buf *in, struct kq_frame_header *hdr,
                                        const uint8_t **payload);

/* "heartbeat", "ping", "pong", or "unknown". Static; never NULL. */
const char *kq_frame_type_name(uint16_t type);

#endif
