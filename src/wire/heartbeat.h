/* The heartbeat message (frame type KQ_FRAME_HEARTBEAT): a node's liveness beacon. Fixed layout,
 * 17 bytes: version u8 (1), incarnation u64, seq u64, big-endian. An incarnation is never 0 (the
 * first start persists 1); the sender is the authenticated peer of the link, not a field. */
#ifndef KQ_WIRE_HEARTBEAT_H
#define KQ_WIRE_HEARTBEAT_H

#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "wire/frame.h" /* KQ_FRAME_HEARTBEAT */

#define KQ_HEARTBEAT_VERSION   1
#define KQ_HEARTBEAT_MSG_BYTES (1 + 8 + 8)

size_t kq_heartbeat_msg_bytes(void);

struct kq_heartbeat_msg {
    uint64_t incarnation; /* >= 1: bumped (durably) at every start of the sender */
    uint64_t seq;         /* increases with every heartbeat within one incarnation */
};

/* Encodes m into out (cap bytes, at least KQ_HEARTBEAT_MSG_BYTES) and sets *len. Errors:
 * KQ_ERR_INVALID_ARG for incarnation 0, KQ_ERR_OVERFLOW if cap is too small; *len is 0 then. */
KQ_MUST_USE enum kq_err kq_heartbeat_msg_encode(const struct kq_heartbeat_msg *m, uint8_t *out,
                                                size_t cap, size_t *len);

/* Decodes exactly len bytes of in into *m. Errors: KQ_ERR_TRUNCATED (short), KQ_ERR_VERSION
 * (version other than 1), KQ_ERR_FORMAT (incarnation 0, trailing bytes). On failure *m is zeroed.
 */
KQ_MUST_USE enum kq_err kq_heartbeat_msg_decode(struct kq_heartbeat_msg *m, const uint8_t *in,
                                                size_t len);

#endif
