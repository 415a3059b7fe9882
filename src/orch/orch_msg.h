/* The orchestrator core's requests and replies (KQ_EV_REQUEST / KQ_ACT_REPLY payloads): the
 * node's HTTP layer turns JSON into these and back. One binary encoding with a strict decoder,
 * zero-copy (pointers into the decoded buffer). */
#ifndef KQ_ORCH_ORCH_MSG_H
#define KQ_ORCH_ORCH_MSG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/assert.h"
#include "base/limits.h"
#include "crypto/label.h"
#include "ledger/keyreg.h"

#define KQ_ORCH_MSG_VERSION 1

enum kq_orch_op {
    KQ_ORCH_DATAKEY = 1, /* context -> a fresh DEK and its ciphertext */
    KQ_ORCH_ENCRYPT = 2, /* plaintext, context -> a DATA ciphertext */
    KQ_ORCH_DECRYPT = 3, /* ciphertext, context -> plaintext (or sealed partials) */
    KQ_ORCH_REWRAP = 4,  /* ciphertext, context -> a ciphertext under the active version */
    KQ_ORCH_SIGN = 5,    /* message -> a FROST signature */
    KQ_ORCH_VERIFY = 6,  /* message, signature, version? -> valid */
    KQ_ORCH_DERIVE = 7,  /* context, version? -> a derived key */
};

#define KQ_ORCH_SEALED 0x01u /* the client has an X25519 key on the ledger: seal partials to it */

struct kq_orch_req {
    uint8_t op;
    uint8_t flags;
    char name[KQ_KEY_NAME_MAX_BYTES + 1];
    char client[KQ_LEDGER_CLIENT_ID_MAX_BYTES + 1];
    uint32_t version; /* 0: the active one */
    size_t n_ctx;
    struct kq_ctx_pair ctx[KQ_MAX_CONTEXT_PAIRS];
    const uint8_t *data; /* ciphertext text, plaintext or message */
    size_t data_len;
    const uint8_t *sig; /* VERIFY */
    size_t sig_len;
};

enum kq_orch_reply_kind {
    KQ_ORCH_R_CIPHERTEXT = 1, /* data = ciphertext text; extra = the DEK (DATAKEY only) */
    KQ_ORCH_R_PLAINTEXT = 2,  /* data = plaintext */
    KQ_ORCH_R_SIGNATURE = 3,  /* data = signature, extra = public key */
    KQ_ORCH_R_VALID = 4,      /* valid */
    KQ_ORCH_R_KEY = 5,        /* data = derived key */
    KQ_ORCH_R_SEALED = 6,     /* sealed partials */
};

#define KQ_ORCH_MAX_SEALED KQ_DKG_MAX_N
struct kq_orch_sealed {
    uint32_t keeper, index;
    const uint8_t *bytes;
    size_t len;
};

struct kq_orch_reply {
    uint8_t kind;
    uint32_t version;
    bool valid;
    const uint8_t *data;
    size_t data_len;
    const uint8_t *extra;
    size_t extra_len;
    uint64_t epoch; /* SEALED */
    uint32_t t;     /* SEALED */
    size_t n_sealed;
    struct kq_orch_sealed sealed[KQ_ORCH_MAX_SEALED];
};

/* The largest request: a data payload's ciphertext text and a full context. */
#define KQ_ORCH_REQ_MAX_BYTES                                                                      \
    (16 + KQ_KEY_NAME_MAX_BYTES + KQ_LEDGER_CLIENT_ID_MAX_BYTES +                                  \
     KQ_MAX_CONTEXT_PAIRS * (4 + KQ_MAX_CONTEXT_KEY_BYTES + KQ_MAX_CONTEXT_VALUE_BYTES) + 8 +      \
     2 * KQ_MAX_DATA_PLAINTEXT_BYTES + 64)

/* The exact encoded size of r (what kq_orch_req_encode writes). */
size_t kq_orch_req_size(const struct kq_orch_req *r);
KQ_MUST_USE enum kq_err kq_orch_req_encode(const struct kq_orch_req *r, uint8_t *out, size_t cap,
                                           size_t *out_len);
/* Strict: KQ_ERR_VERSION, TRUNCATED, FORMAT (unknown op, bad name, empty context key, trailing
 * bytes), LIMIT. */
KQ_MUST_USE enum kq_err kq_orch_req_decode(struct kq_orch_req *r, const uint8_t *in, size_t len);
KQ_MUST_USE enum kq_err kq_orch_reply_encode(const struct kq_orch_reply *r, uint8_t *out,
                                             size_t cap, size_t *out_len);
KQ_MUST_USE enum kq_err kq_orch_reply_decode(struct kq_orch_reply *r, const uint8_t *in,
                                             size_t len);

#endif
