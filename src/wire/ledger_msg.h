/* Ledger frames (types 0x0101-0x0105): proposal, vote, block request, block response, tx gossip.
 * Proposal and vote payloads are the block.h encodings; the others are versioned here. Decoders
 * read through a bounded cursor, reject trailing bytes and point into their input (zero copy). */
#ifndef KQ_WIRE_LEDGER_MSG_H
#define KQ_WIRE_LEDGER_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/buf.h"
#include "ledger/block.h"

enum kq_ledger_frame {
    KQ_FRAME_LEDGER_PROPOSAL = 0x0101,  /* kq_proposal_encode */
    KQ_FRAME_LEDGER_VOTE = 0x0102,      /* kq_vote_encode */
    KQ_FRAME_LEDGER_BLOCK_REQ = 0x0103, /* version 1 | height u64 */
    KQ_FRAME_LEDGER_BLOCK = 0x0104,     /* version 1 | block_len u32 | block | certificate */
    KQ_FRAME_LEDGER_TX = 0x0105,        /* version 1 | tx (1..KQ_LEDGER_TX_MAX_BYTES) */
};
#define KQ_LEDGER_MSG_VERSION   1
#define KQ_BLOCK_REQ_BYTES      9
#define KQ_BLOCK_RESP_MAX_BYTES (1 + 4 + KQ_BLOCK_MAX_BYTES + KQ_CERT_MAX_BYTES)
KQ_STATIC_ASSERT(KQ_BLOCK_RESP_MAX_BYTES <= KQ_MAX_FRAME_PAYLOAD, "a block response fits a frame");

/* True for the five types above. */
bool kq_ledger_frame_is(uint16_t type);

/* Block request: height >= 1 (KQ_ERR_FORMAT). *height is 0 on failure. */
KQ_MUST_USE enum kq_err kq_block_req_encode(uint64_t height, struct kq_buf *out);
KQ_MUST_USE enum kq_err kq_block_req_decode(uint64_t *height, const uint8_t *in, size_t len);

/* Block response: an encoded block (block_len <= KQ_BLOCK_MAX_BYTES) and the certificate that
 * commits it. decode: *block points into in; the block itself is not decoded here
 * (kq_block_decode). On failure *block is NULL and *cert zeroed. */
KQ_MUST_USE enum kq_err kq_block_resp_encode(const uint8_t *block, size_t block_len,
                                             const struct kq_cert *cert, struct kq_buf *out);
KQ_MUST_USE enum kq_err kq_block_resp_decode(const uint8_t **block, size_t *block_len,
                                             struct kq_cert *cert, const uint8_t *in, size_t len);

/* Tx gossip: 1..KQ_LEDGER_TX_MAX_BYTES bytes (KQ_ERR_FORMAT for none, KQ_ERR_LIMIT). */
KQ_MUST_USE enum kq_err kq_tx_msg_encode(const uint8_t *tx, size_t len, struct kq_buf *out);
KQ_MUST_USE enum kq_err kq_tx_msg_decode(const uint8_t **tx, size_t *tx_len, const uint8_t *in,
                                         size_t len);

#endif
