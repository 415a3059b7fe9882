/* Orchestrator <-> keeper messages (frame types 0x0300-0x037F), one file for the family's
 * encoder and strict decoder (docs/wire.md). A request names the key, version and epoch the
 * orchestrator read from its verified ledger state; the keeper checks everything again against
 * its own copy of the ledger before it touches a share. Every response that carries a result is
 * signed by the keeper (its attestation, and evidence when its proof is false). */
#ifndef KQ_WIRE_KEEPER_MSG_H
#define KQ_WIRE_KEEPER_MSG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/assert.h"
#include "base/limits.h"
#include "crypto/frost.h"
#include "crypto/group.h"
#include "crypto/label.h"
#include "crypto/partial.h"
#include "ledger/keyreg.h"

#define KQ_KEEPER_MSG_VERSION 1
/* Frame types: requests reach the keeper core, responses the orchestrator core. */
#define KQ_FRAME_KEEPER_REQ   0x0300
#define KQ_FRAME_KEEPER_RESP  0x0340
#define KQ_FRAME_KEEPER_FIRST 0x0300
#define KQ_FRAME_KEEPER_LAST  0x033F
#define KQ_FRAME_ORCH_FIRST   0x0340
#define KQ_FRAME_ORCH_LAST    0x037F

enum kq_keeper_req_op {
    KQ_KREQ_UNWRAP = 1,       /* Z_i = s_i * R for a ciphertext, after its proof and label */
    KQ_KREQ_DERIVE = 2,       /* Y_i = s_i * P(label) */
    KQ_KREQ_FROST_COMMIT = 3, /* FROST round one: a fresh nonce commitment (kept in memory) */
    KQ_KREQ_FROST_SIGN = 4,   /* FROST round two: the signature share for message and list */
};

/* A request. Pointers are zero-copy views into the decoded frame (or the caller's data when
 * encoding). The context pairs are those of the label; the keeper rebuilds the label from name,
 * version, purpose and context itself. */
struct kq_keeper_req {
    uint8_t request_id[KQ_PARTIAL_REQIDBYTES]; /* random, chosen by the orchestrator */
    uint8_t op;                                /* enum kq_keeper_req_op */
    char name[KQ_KEY_NAME_MAX_BYTES + 1];
    uint32_t version;
    uint64_t epoch;
    /* The client the result is for (its id on the ledger) and whether the keeper must seal its
     * signed response to that client's registered X25519 key (read by the keeper from its own
     * ledger state, never from the request). */
    char client[KQ_LEDGER_CLIENT_ID_MAX_BYTES + 1];
    bool seal;
    /* UNWRAP: the ciphertext's header (type, R, proof; the sealed payload is not sent). */
    uint8_t ct_type; /* KQ_PURPOSE_DEK or KQ_PURPOSE_DATA */
    uint8_t R[KQ_POINTBYTES];
    uint8_t ct_proof[KQ_PROOFBYTES];
    /* UNWRAP, DERIVE: the encryption / derivation context. */
    size_t n_ctx;
    struct kq_ctx_pair ctx[KQ_MAX_CONTEXT_PAIRS];
    /* FROST_SIGN: the message and the commitment list (sorted by identifier, the keeper's own
     * commitment from its FROST_COMMIT answer for the same request id among them). */
    const uint8_t *msg;
    size_t msg_len;
    size_t n_commits;
    struct kq_frost_commitment commits[KQ_DKG_MAX_N];
};

/* A keeper's signed FROST response: round one's commitment or round two's share, bound to the
 * request, key, version, epoch and (round two) the message digest and commitment list digest. */
#define KQ_FROST_RESP_TAG "keyquorum/v1/frost-response"
struct kq_frost_resp {
    uint8_t request_id[KQ_PARTIAL_REQIDBYTES];
    char name[KQ_KEY_NAME_MAX_BYTES + 1];
    uint32_t version;
    uint64_t epoch;
    uint32_t index;
    uint8_t round;                         /* 1: commitment, 2: share */
    struct kq_frost_commitment commitment; /* round 1 */
    uint8_t digest[64];                    /* round 2: SHA-512(tag, message, list) */
    uint8_t share[KQ_FROST_SHAREBYTES];    /* round 2 */
    uint64_t time;
    uint8_t sig[KQ_PARTIAL_SIGBYTES];
};

/* A keeper's answer. status is an enum kq_err: KQ_OK with a body, or why it refused (the
 * refusal is not signed: a refusal proves nothing about the key). */
enum kq_keeper_resp_body {
    KQ_KRESP_NONE = 0,    /* an error */
    KQ_KRESP_PARTIAL = 1, /* kq_partial_encode bytes (unwrap, derive) */
    KQ_KRESP_SEALED = 2,  /* crypto_box_seal of the kq_partial_encode bytes to the client */
    KQ_KRESP_FROST = 3,   /* kq_frost_resp_encode bytes */
};
struct kq_keeper_resp {
    uint8_t request_id[KQ_PARTIAL_REQIDBYTES];
    uint8_t op;
    uint32_t status; /* enum kq_err */
    uint8_t body_kind;
    const uint8_t *body;
    size_t body_len;
};

#define KQ_KEEPER_REQ_MAX_BYTES                                                                    \
    (64 + KQ_KEY_NAME_MAX_BYTES + KQ_LEDGER_CLIENT_ID_MAX_BYTES + KQ_POINTBYTES + KQ_PROOFBYTES +  \
     2 + KQ_MAX_CONTEXT_PAIRS * (4 + KQ_MAX_CONTEXT_KEY_BYTES + KQ_MAX_CONTEXT_VALUE_BYTES) + 4 +  \
     KQ_MAX_SIGN_MESSAGE_BYTES + 2 + KQ_DKG_MAX_N * (4 + 2 * KQ_POINTBYTES))
#define KQ_FROST_RESP_MAX_BYTES                                                                    \
    (1 + KQ_PARTIAL_REQIDBYTES + 1 + KQ_KEY_NAME_MAX_BYTES + 4 + 8 + 4 + 1 + 4 +                   \
     2 * KQ_POINTBYTES + 64 + KQ_FROST_SHAREBYTES + 8 + KQ_PARTIAL_SIGBYTES)
#define KQ_KEEPER_RESP_MAX_BYTES (64 + 48 + KQ_PARTIAL_MAXBYTES + KQ_FROST_RESP_MAX_BYTES)

KQ_MUST_USE enum kq_err kq_keeper_req_encode(const struct kq_keeper_req *r, uint8_t *out,
                                             size_t cap, size_t *out_len);
/* Strict: KQ_ERR_VERSION, TRUNCATED, FORMAT (bad op or field for the op, bad name, trailing
 * bytes), LIMIT. Zero-copy: r points into in. */
KQ_MUST_USE enum kq_err kq_keeper_req_decode(struct kq_keeper_req *r, const uint8_t *in,
                                             size_t len);
KQ_MUST_USE enum kq_err kq_keeper_resp_encode(const struct kq_keeper_resp *r, uint8_t *out,
                                              size_t cap, size_t *out_len);
KQ_MUST_USE enum kq_err kq_keeper_resp_decode(struct kq_keeper_resp *r, const uint8_t *in,
                                              size_t len);
/* Signs (Ed25519, the keeper's identity secret key) / verifies a FROST response; encode and
 * strict decode. */
KQ_MUST_USE enum kq_err kq_frost_resp_sign(struct kq_frost_resp *r,
                                           const uint8_t sk[KQ_PARTIAL_SKBYTES]);
KQ_MUST_USE enum kq_err kq_frost_resp_verify(const struct kq_frost_resp *r,
                                             const uint8_t pk[KQ_PARTIAL_PKBYTES]);
KQ_MUST_USE enum kq_err kq_frost_resp_encode(const struct kq_frost_resp *r, uint8_t *out,
                                             size_t cap, size_t *out_len);
KQ_MUST_USE enum kq_err kq_frost_resp_decode(struct kq_frost_resp *r, const uint8_t *in,
                                             size_t len);
/* The kq_ts transcript (tag KQ_FROST_RESP_TAG "/digest") of msg, u32 n, then each commitment's
 * identifier (u32), hiding and binding point: what a signed round-two share answers. */
void kq_frost_sign_digest(uint8_t out[64], const uint8_t *msg, size_t msg_len,
                          const struct kq_frost_commitment *list, size_t n);

#endif
