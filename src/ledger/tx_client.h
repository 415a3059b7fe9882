/* Client identity (transaction family 2): set and remove a client with its auth binding
 * (certificate fingerprint or token hash), roles, trust 0..100, optional X25519 key and optional
 * Ed25519 transaction key. The record is the state value of "client/<id>"; a tx key is indexed
 * by "signer/<hex key>" so the state machine can tell an admin's signature. Admins only. */
#ifndef KQ_LEDGER_TX_CLIENT_H
#define KQ_LEDGER_TX_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/limits.h"
#include "base/roles.h"
#include "ledger/smt.h"
#include "ledger/tx.h"

#define KQ_CLIENT_VERSION 1

enum kq_client_op {
    KQ_CLIENT_OP_SET = 1,    /* body: client record; creates or replaces */
    KQ_CLIENT_OP_REMOVE = 2, /* body: version | id_len u8 | id; the client must exist */
};

enum kq_client_auth {
    KQ_CLIENT_AUTH_CERT = 1,  /* SHA-256 of the client certificate (DER) */
    KQ_CLIENT_AUTH_TOKEN = 2, /* SHA-256 of the bearer token */
};

#define KQ_CLIENT_HAS_X25519  0x01u
#define KQ_CLIENT_HAS_SIGN_PK 0x02u
#define KQ_CLIENT_FLAGS_ALL   0x03u

/* version | id_len u8 | id | auth_kind u8 | auth [32] | roles u8 | trust u8 | flags u8 |
 * [x25519_pk] | [sign_pk] */
#define KQ_CLIENT_MAX_BYTES        (1 + 1 + KQ_LEDGER_CLIENT_ID_MAX_BYTES + 1 + 32 + 3 + 32 + 32)
#define KQ_CLIENT_REMOVE_MAX_BYTES (1 + 1 + KQ_LEDGER_CLIENT_ID_MAX_BYTES)

struct kq_client {
    char id[KQ_LEDGER_CLIENT_ID_MAX_BYTES + 1]; /* NUL-terminated */
    uint8_t auth_kind;                          /* enum kq_client_auth */
    uint8_t auth[32];
    uint8_t roles; /* KQ_CLIENT_ROLE_* bits */
    uint8_t trust; /* 0..KQ_LEDGER_TRUST_MAX */
    uint8_t flags; /* KQ_CLIENT_HAS_* */
    uint8_t x25519_pk[32];
    uint8_t sign_pk[32]; /* Ed25519 key the client signs ledger transactions with */
};

/* True if id[0..len) is 1..KQ_LEDGER_CLIENT_ID_MAX_BYTES characters of [A-Za-z0-9._-]. */
bool kq_client_id_ok(const char *id, size_t len);

/* Encodes c (fields not validated) into out[0..cap). KQ_ERR_LIMIT for a bad id length,
 * KQ_ERR_OVERFLOW if cap is short; *out_len 0 on failure. */
KQ_MUST_USE enum kq_err kq_client_encode(const struct kq_client *c, uint8_t *out, size_t cap,
                                         size_t *out_len);
/* Strict decode: KQ_ERR_VERSION, KQ_ERR_TRUNCATED, KQ_ERR_FORMAT (unknown flag bits, a NUL in the
 * id, trailing bytes), KQ_ERR_LIMIT; c zeroed on failure. */
KQ_MUST_USE enum kq_err kq_client_decode(struct kq_client *c, const uint8_t *data, size_t len);
/* Field rules: id, auth kind, roles known and nonzero, trust <= 100, keys valid when present.
 * KQ_OK or KQ_ERR_INVALID_ARG. */
KQ_MUST_USE enum kq_err kq_client_check(const struct kq_client *c);

KQ_MUST_USE enum kq_err kq_client_remove_encode(const char *id, uint8_t *out, size_t cap,
                                                size_t *out_len);
/* id receives the NUL-terminated id (KQ_LEDGER_CLIENT_ID_MAX_BYTES + 1 bytes). */
KQ_MUST_USE enum kq_err kq_client_remove_decode(char id[KQ_LEDGER_CLIENT_ID_MAX_BYTES + 1],
                                                const uint8_t *data, size_t len);

/* Reads "client/<id>" from st: KQ_OK, KQ_ERR_NOT_FOUND, or a decode error. */
KQ_MUST_USE enum kq_err kq_client_get(const struct kq_smt *st, const char *id, struct kq_client *c);
/* True if pk is the tx key of a client holding the admin role in st. */
bool kq_client_pk_is_admin(const struct kq_smt *st, const uint8_t pk[32]);

/* Validates and applies one client tx; same contract as kq_member_apply. */
KQ_MUST_USE enum kq_err kq_client_apply(const struct kq_smt *st, const struct kq_tx *tx,
                                        struct kq_smt **out, enum kq_tx_status *status);

#endif
