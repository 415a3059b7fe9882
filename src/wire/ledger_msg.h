/* Ledger frames (types 0x0101-0x0109): proposal, vote, block request, block response, tx gossip,
 * and state sync (snapshot request and head, chunk request and chunk).
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
    KQ_FRAME_LEDGER_PROPOSAL = 0x0101,     /* kq_proposal_encode */
    KQ_FRAME_LEDGER_VOTE = 0x0102,         /* kq_vote_encode */
    KQ_FRAME_LEDGER_BLOCK_REQ = 0x0103,    /* version 1 | height u64 */
    KQ_FRAME_LEDGER_BLOCK = 0x0104,        /* version 1 | block_len u32 | block | certificate */
    KQ_FRAME_LEDGER_TX = 0x0105,           /* version 1 | tx (1..KQ_LEDGER_TX_MAX_BYTES) */
    KQ_FRAME_LEDGER_SNAPSHOT_REQ = 0x0106, /* version 1 | height u64 (0: the latest) */
    KQ_FRAME_LEDGER_SNAPSHOT = 0x0107,     /* struct kq_snapshot_head */
    KQ_FRAME_LEDGER_CHUNK_REQ = 0x0108,    /* version 1 | height u64 | from path [32] */
    KQ_FRAME_LEDGER_CHUNK = 0x0109,        /* struct kq_state_chunk */
};
#define KQ_LEDGER_MSG_VERSION   1
#define KQ_BLOCK_REQ_BYTES      9
#define KQ_BLOCK_RESP_MAX_BYTES (1 + 4 + KQ_BLOCK_MAX_BYTES + KQ_CERT_MAX_BYTES)
KQ_STATIC_ASSERT(KQ_BLOCK_RESP_MAX_BYTES <= KQ_MAX_FRAME_PAYLOAD, "a block response fits a frame");

/* True for the nine types above. */
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

/* ---- state sync (docs/ledger.md "State sync") ---- */

#define KQ_SNAPSHOT_REQ_BYTES 9
#define KQ_CHUNK_REQ_BYTES    (9 + KQ_HASH_BYTES)
/* A snapshot head: the tip's block response and, per window block, its header and certificate. */
#define KQ_SNAPSHOT_HEAD_MAX_BYTES                                                                 \
    (1 + 8 + 4 + KQ_BLOCK_RESP_MAX_BYTES + 1 +                                                     \
     (size_t)KQ_LEDGER_SYNC_WINDOW * (KQ_HEADER_BYTES + 4 + KQ_CERT_MAX_BYTES))
/* A pair in a chunk: key_len u16 | key | value_len u32 | value. */
#define KQ_CHUNK_PAIR_MAX_BYTES (2 + KQ_LEDGER_MAX_KEY_BYTES + 4 + KQ_LEDGER_MAX_VALUE_BYTES)
#define KQ_CHUNK_MAX_BYTES                                                                         \
    (1 + 8 + 2 * KQ_HASH_BYTES + 1 + 4 + KQ_LEDGER_SYNC_CHUNK_BYTES + KQ_CHUNK_PAIR_MAX_BYTES)
KQ_STATIC_ASSERT(KQ_SNAPSHOT_HEAD_MAX_BYTES <= KQ_MAX_FRAME_PAYLOAD,
                 "a snapshot head fits a frame");
KQ_STATIC_ASSERT(KQ_CHUNK_MAX_BYTES <= KQ_MAX_FRAME_PAYLOAD, "a chunk fits a frame");

/* Snapshot request (height 0: the peer's latest) and chunk request (the pairs of the snapshot at
 * height, height >= 1, whose path is >= from). Decoders zero their outputs on failure. */
KQ_MUST_USE enum kq_err kq_snapshot_req_encode(uint64_t height, struct kq_buf *out);
KQ_MUST_USE enum kq_err kq_snapshot_req_decode(uint64_t *height, const uint8_t *in, size_t len);
KQ_MUST_USE enum kq_err kq_chunk_req_encode(uint64_t height, const kq_hash *from,
                                            struct kq_buf *out);
KQ_MUST_USE enum kq_err kq_chunk_req_decode(uint64_t *height, kq_hash *from, const uint8_t *in,
                                            size_t len);

/* A snapshot head: the committed tip H as a block response (block + certificate, <=
 * KQ_BLOCK_RESP_MAX_BYTES, not decoded here), and for the n = min(H - 1, KQ_LEDGER_SYNC_WINDOW)
 * blocks H - n .. H - 1 their header (KQ_HEADER_BYTES) and the certificate each carries as its
 * last commit (cert_len 0 for block 1, else <= KQ_CERT_MAX_BYTES; not decoded here). Encoding:
 * version 1 | height u64 | rec_len u32 | rec | n u8 | n x (header | cert_len u32 | cert). The
 * pointers point into the decoder's input. */
struct kq_snapshot_head {
    uint64_t height;
    const uint8_t *rec;
    size_t rec_len;
    uint32_t n;
    const uint8_t *headers[KQ_LEDGER_SYNC_WINDOW];
    const uint8_t *certs[KQ_LEDGER_SYNC_WINDOW];
    size_t cert_lens[KQ_LEDGER_SYNC_WINDOW];
};
KQ_MUST_USE enum kq_err kq_snapshot_head_encode(const struct kq_snapshot_head *h,
                                                struct kq_buf *out);
/* KQ_ERR_FORMAT for height 0, n above the window or above height - 1, an empty record; KQ_ERR_LIMIT
 * for lengths past the bounds. */
KQ_MUST_USE enum kq_err kq_snapshot_head_decode(struct kq_snapshot_head *h, const uint8_t *in,
                                                size_t len);

/* A state chunk: the pairs of the snapshot at height whose path is >= from, in path order, then
 * whether more follow and, if so, the path to ask from next (next > from, else KQ_ERR_FORMAT).
 * Encoding: version 1 | height u64 | from [32] | more u8 | next [32] | n u32 | n pairs; pairs
 * point into the input and are read with kq_chunk_pair_next. n = 0 only when nothing is left. */
struct kq_state_chunk {
    uint64_t height;
    kq_hash from;
    bool more;
    kq_hash next;
    uint32_t n;
    const uint8_t *pairs;
    size_t pairs_len;
};
/* Appends one pair to a chunk's pair area (key 1..KQ_LEDGER_MAX_KEY_BYTES, value <=
 * KQ_LEDGER_MAX_VALUE_BYTES: KQ_ERR_LIMIT; KQ_ERR_OVERFLOW without room, out unchanged). */
KQ_MUST_USE enum kq_err kq_chunk_pair_put(const uint8_t *key, size_t key_len, const uint8_t *value,
                                          size_t value_len, struct kq_buf *out);
KQ_MUST_USE enum kq_err kq_state_chunk_encode(const struct kq_state_chunk *c, struct kq_buf *out);
/* Checks every pair (lengths in bounds, pairs_len <= KQ_LEDGER_SYNC_CHUNK_BYTES + one pair). */
KQ_MUST_USE enum kq_err kq_state_chunk_decode(struct kq_state_chunk *c, const uint8_t *in,
                                              size_t len);
/* Reads the next pair from a reader over a decoded chunk's pairs (KQ_ERR_TRUNCATED at the end). */
KQ_MUST_USE enum kq_err kq_chunk_pair_next(struct kq_buf *pairs, const uint8_t **key,
                                           size_t *key_len, const uint8_t **value,
                                           size_t *value_len);

#endif
