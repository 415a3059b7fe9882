/* Block header, block, proposal, vote and commit certificate: codecs, hashes, signing messages and
 * verification (docs/ledger.md). All encodings big-endian through struct kq_buf, versioned, and
 * decoders reject trailing bytes; decoded blocks and proposals point into the input (zero copy).
 * Signatures go through struct kq_ledger_crypto so a simulator may substitute a cheap scheme. */
#ifndef KQ_LEDGER_BLOCK_H
#define KQ_LEDGER_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/limits.h"
#include "ledger/hash.h"
#include "ledger/valset.h"

#define KQ_BLOCK_VERSION 1
/* version 1, chain_id 32, height 8, round 4, parent 32, proposer 4, time 8, tx_root 32,
 * tx_count 4, state_root 32, valset_hash 32, next_valset_hash 32, last_commit_hash 32 */
#define KQ_HEADER_BYTES 253
/* version 1, type 1, height 8, round 4, has_block 1, block 32, timestamp 8, validator 4, sig 64 */
#define KQ_VOTE_BYTES 123
/* A certificate: version 1, height 8, round 4, block 32, count 2, then per signer validator 4,
 * timestamp 8, sig 64. */
#define KQ_CERT_SIG_BYTES 76
#define KQ_CERT_BYTES(n)  (47 + (size_t)(n)*KQ_CERT_SIG_BYTES)
#define KQ_CERT_MAX_BYTES KQ_CERT_BYTES(KQ_LEDGER_MAX_VALIDATORS)
/* A block: header, u32 tx count, per tx u32 length and bytes, u8 has_cert, certificate. */
#define KQ_BLOCK_MAX_BYTES                                                                         \
    (KQ_HEADER_BYTES + 4 + 4 * (size_t)KQ_LEDGER_MAX_BLOCK_TXS + KQ_LEDGER_MAX_BLOCK_TX_BYTES +    \
     1 + KQ_CERT_MAX_BYTES)
/* A proposal: version 1, height 8, round 4, pol_round 4, proposer 4, sig 64, u32 length, block,
 * then with a pol_round its proof of lock (a certificate of the prevotes of that round). */
#define KQ_PROPOSAL_OVERHEAD  89
#define KQ_PROPOSAL_MAX_BYTES (KQ_PROPOSAL_OVERHEAD + KQ_BLOCK_MAX_BYTES + KQ_CERT_MAX_BYTES)
/* "No round": pol_round of a fresh proposal, locked/valid round when none. */
#define KQ_ROUND_NONE UINT32_MAX
KQ_STATIC_ASSERT(KQ_PROPOSAL_MAX_BYTES <= KQ_MAX_FRAME_PAYLOAD, "a proposal fits one frame");

/* Signing: sign writes a 64-byte signature of msg with the node's key; verify answers whether sig
 * is a valid signature of msg under pk. Contexts are the caller's. */
struct kq_ledger_crypto {
    void (*sign)(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[KQ_LEDGER_SIG_BYTES]);
    void *sign_ctx;
    bool (*verify)(void *ctx, const uint8_t pk[KQ_LEDGER_PK_BYTES], const uint8_t *msg, size_t len,
                   const uint8_t sig[KQ_LEDGER_SIG_BYTES]);
    void *verify_ctx;
};
/* Ed25519 (libsodium): sign_ctx is a 64-byte crypto_sign secret key; verify_ctx is unused. */
void kq_ledger_ed25519_sign(void *ctx, const uint8_t *msg, size_t len,
                            uint8_t sig[KQ_LEDGER_SIG_BYTES]);
bool kq_ledger_ed25519_verify(void *ctx, const uint8_t pk[KQ_LEDGER_PK_BYTES], const uint8_t *msg,
                              size_t len, const uint8_t sig[KQ_LEDGER_SIG_BYTES]);

struct kq_header {
    kq_hash chain_id;
    uint64_t height; /* >= 1 */
    uint32_t round;
    kq_hash parent; /* hash of block height - 1; zero at height 1 */
    uint32_t proposer;
    uint64_t time_ms; /* BFT time */
    kq_hash tx_root;  /* kq_merkle_root of the tx ids */
    uint32_t tx_count;
    kq_hash state_root; /* after this block's txs */
    kq_hash valset_hash;
    kq_hash next_valset_hash;
    kq_hash last_commit_hash; /* H("kq-ledger-v1/cert", parent's certificate); zero at 1 */
};

enum kq_vote_type { KQ_VOTE_PREVOTE = 1, KQ_VOTE_PRECOMMIT = 2 };

struct kq_vote {
    uint8_t type; /* enum kq_vote_type */
    uint64_t height;
    uint32_t round;
    bool has_block; /* false: a vote for nil (block is zero) */
    kq_hash block;
    uint64_t timestamp_ms; /* the voter's wall clock */
    uint32_t validator;
    uint8_t sig[KQ_LEDGER_SIG_BYTES];
};

struct kq_cert_sig {
    uint32_t validator;
    uint64_t timestamp_ms;
    uint8_t sig[KQ_LEDGER_SIG_BYTES];
};

/* Precommits for (height, round, block) by count distinct validators, sorted by id. */
struct kq_cert {
    uint64_t height;
    uint32_t round;
    kq_hash block;
    uint32_t count;
    struct kq_cert_sig sigs[KQ_LEDGER_MAX_VALIDATORS];
};

struct kq_tx_view {
    const uint8_t *data;
    size_t len;
};

/* A decoded block; txs point into the decoded input. About 40 KiB: allocate, don't stack it. */
struct kq_block {
    struct kq_header header;
    uint32_t n_txs;
    struct kq_tx_view txs[KQ_LEDGER_MAX_BLOCK_TXS];
    bool has_last_commit; /* required iff height > 1 */
    struct kq_cert last_commit;
};

struct kq_proposal {
    uint64_t height;
    uint32_t round;
    uint32_t pol_round; /* KQ_ROUND_NONE or < round */
    uint32_t proposer;
    uint8_t sig[KQ_LEDGER_SIG_BYTES]; /* over tag, chain_id, height, round, pol_round, hash */
    const uint8_t *block;             /* the encoded block, inside the decoded input */
    size_t block_len;
    /* With a pol_round: the proof of lock, an encoded certificate of q prevotes for the block in
     * pol_round (kq_cert_decode, kq_pol_verify), so a replica that missed those prevotes (an
     * equivocator sent them elsewhere) can still follow the proposer's lock. Else empty. */
    const uint8_t *pol;
    size_t pol_len;
};

/* Header codec and hash. encode: KQ_ERR_OVERFLOW if out lacks room (out unchanged). decode:
 * exactly KQ_HEADER_BYTES; KQ_ERR_VERSION, KQ_ERR_TRUNCATED, KQ_ERR_FORMAT (trailing bytes);
 * *h zeroed on failure. */
KQ_MUST_USE enum kq_err kq_header_encode(const struct kq_header *h, struct kq_buf *out);
KQ_MUST_USE enum kq_err kq_header_decode(struct kq_header *h, const uint8_t *in, size_t len);
/* The block hash: H("kq-ledger-v1/header", encoding). */
void kq_header_hash(const struct kq_header *h, kq_hash *out);
/* A tx id inside a block: H("kq-ledger-v1/txid", tx) (the same as kq_tx_id). */
void kq_block_tx_id(const uint8_t *tx, size_t len, kq_hash *out);

/* Vote codec. decode: KQ_ERR_FORMAT for an unknown type, has_block not 0/1, a nil vote with a
 * nonzero hash, or trailing bytes; KQ_ERR_VERSION, KQ_ERR_TRUNCATED. *v zeroed on failure. */
KQ_MUST_USE enum kq_err kq_vote_encode(const struct kq_vote *v, struct kq_buf *out);
KQ_MUST_USE enum kq_err kq_vote_decode(struct kq_vote *v, const uint8_t *in, size_t len);
/* Signs v in place (everything but sig) for chain_id. */
void kq_vote_sign(struct kq_vote *v, const kq_hash *chain_id, const struct kq_ledger_crypto *c);
/* KQ_OK iff v->sig verifies under pk for chain_id; KQ_ERR_BAD_SIGNATURE otherwise. */
KQ_MUST_USE enum kq_err kq_vote_verify(const struct kq_vote *v, const kq_hash *chain_id,
                                       const uint8_t pk[KQ_LEDGER_PK_BYTES],
                                       const struct kq_ledger_crypto *c);

/* Certificate codec. decode: count 1..KQ_LEDGER_MAX_VALIDATORS with ids strictly increasing
 * (KQ_ERR_FORMAT otherwise, KQ_ERR_LIMIT over the maximum). Reads from a cursor so it can sit
 * inside a block; decode_all requires the input to end with it. *c zeroed on failure. */
KQ_MUST_USE enum kq_err kq_cert_encode(const struct kq_cert *c, struct kq_buf *out);
KQ_MUST_USE enum kq_err kq_cert_read(struct kq_cert *c, struct kq_buf *in);
KQ_MUST_USE enum kq_err kq_cert_decode(struct kq_cert *c, const uint8_t *in, size_t len);
/* H("kq-ledger-v1/cert", encoding): the next header's last_commit_hash. */
void kq_cert_hash(const struct kq_cert *c, kq_hash *out);
/* KQ_OK iff c commits the block with hash `block` at `height`: c->height and c->block match
 * (KQ_ERR_BAD_PROOF otherwise), every signer is in vs (KQ_ERR_BAD_SIGNATURE otherwise), at
 * least kq_valset_quorum(vs) distinct signers (KQ_ERR_THRESHOLD), and every signature verifies
 * as a precommit of (height, c->round, block, timestamp) for chain_id (KQ_ERR_BAD_SIGNATURE). */
KQ_MUST_USE enum kq_err kq_cert_verify(const struct kq_cert *c, const kq_hash *chain_id,
                                       uint64_t height, const kq_hash *block,
                                       const struct kq_valset *vs,
                                       const struct kq_ledger_crypto *crypto);
/* The same checks as kq_cert_verify for a proof of lock: the signatures are prevotes of
 * (height, round, block) and c->round must be `round` (KQ_ERR_BAD_PROOF otherwise). */
KQ_MUST_USE enum kq_err kq_pol_verify(const struct kq_cert *c, const kq_hash *chain_id,
                                      uint64_t height, uint32_t round, const kq_hash *block,
                                      const struct kq_valset *vs,
                                      const struct kq_ledger_crypto *crypto);
/* The certificate's BFT time contribution: the median (element (count - 1) / 2 of the sorted
 * timestamps). c->count >= 1. */
uint64_t kq_cert_median_time(const struct kq_cert *c);

/* Block codec. encode: n_txs <= KQ_LEDGER_MAX_BLOCK_TXS with at most KQ_LEDGER_MAX_BLOCK_TX_BYTES
 * of txs (KQ_ERR_LIMIT), KQ_ERR_OVERFLOW for room. decode checks the same bounds, each tx
 * 1..KQ_LEDGER_TX_MAX_BYTES, header.tx_count == n_txs, has_last_commit iff height > 1
 * (KQ_ERR_FORMAT); it does NOT check roots, parents or signatures (the replica does). b->txs
 * point into in; *b zeroed on failure. */
KQ_MUST_USE enum kq_err kq_block_encode(const struct kq_block *b, struct kq_buf *out);
KQ_MUST_USE enum kq_err kq_block_decode(struct kq_block *b, const uint8_t *in, size_t len);
/* root = kq_merkle_root of the ids of b's txs. KQ_ERR_LIMIT as kq_merkle_root. */
KQ_MUST_USE enum kq_err kq_block_tx_root(const struct kq_block *b, kq_hash *root);

/* Proposal codec: decode checks pol_round (KQ_ROUND_NONE or < round; KQ_ERR_FORMAT), the block
 * length (<= KQ_BLOCK_MAX_BYTES, KQ_ERR_LIMIT) and that a proof of lock follows iff pol_round is
 * set (1..KQ_CERT_MAX_BYTES, KQ_ERR_FORMAT / KQ_ERR_LIMIT; its content is the caller's to decode);
 * p->block and p->pol point into in. */
KQ_MUST_USE enum kq_err kq_proposal_encode(const struct kq_proposal *p, struct kq_buf *out);
KQ_MUST_USE enum kq_err kq_proposal_decode(struct kq_proposal *p, const uint8_t *in, size_t len);
/* Sign / verify p for the block whose header hash is `block` (KQ_ERR_BAD_SIGNATURE). */
void kq_proposal_sign(struct kq_proposal *p, const kq_hash *chain_id, const kq_hash *block,
                      const struct kq_ledger_crypto *c);
KQ_MUST_USE enum kq_err kq_proposal_verify(const struct kq_proposal *p, const kq_hash *chain_id,
                                           const kq_hash *block,
                                           const uint8_t pk[KQ_LEDGER_PK_BYTES],
                                           const struct kq_ledger_crypto *c);

#endif
