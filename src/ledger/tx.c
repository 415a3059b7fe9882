/* Transaction envelope codec, signature and id (docs/ledger-tx.md). The signed message is
 * "kq-ledger-v1/tx" || chain_id || the encoding up to the signature, so a signature binds the
 * chain twice over and no other ledger message (whose tags differ) can be replayed as a tx. */
#include "ledger/tx.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/buf.h"

#define TX_SIG_TAG     "kq-ledger-v1/tx"
#define TX_SIG_TAG_LEN (sizeof TX_SIG_TAG - 1)
#define TX_ID_TAG      "kq-ledger-v1/txid"

KQ_STATIC_ASSERT(KQ_TX_SIGBYTES == crypto_sign_BYTES, "Ed25519 signatures");
KQ_STATIC_ASSERT(KQ_TX_PKBYTES == crypto_sign_PUBLICKEYBYTES, "Ed25519 public keys");
KQ_STATIC_ASSERT(KQ_TX_SKBYTES == crypto_sign_SECRETKEYBYTES, "libsodium Ed25519 secret keys");
KQ_STATIC_ASSERT(KQ_LEDGER_TX_MAX_BYTES > KQ_TX_HEADERBYTES + KQ_TX_SIGBYTES, "a body fits");

const char *kq_tx_status_name(enum kq_tx_status s)
{
    switch (s) {
    case KQ_TX_OK:
        return "ok";
    case KQ_TX_MALFORMED:
        return "malformed";
    case KQ_TX_OVERSIZED:
        return "oversized";
    case KQ_TX_WRONG_CHAIN:
        return "wrong_chain";
    case KQ_TX_BAD_SIGNATURE:
        return "bad_signature";
    case KQ_TX_EXPIRED:
        return "expired";
    case KQ_TX_EXPIRY_TOO_FAR:
        return "expiry_too_far";
    case KQ_TX_DUPLICATE:
        return "duplicate";
    case KQ_TX_UNKNOWN_TYPE:
        return "unknown_type";
    case KQ_TX_UNAUTHORIZED:
        return "unauthorized";
    case KQ_TX_INVALID:
        return "invalid";
    case KQ_TX_NOT_FOUND:
        return "not_found";
    case KQ_TX_EXISTS:
        return "exists";
    case KQ_TX_EMPTY_VALSET:
        return "empty_valset";
    case KQ_TX_VALSET_FULL:
        return "valset_full";
    case KQ_TX_STATE_FULL:
        return "state_full";
    case KQ_TX_NO_KEEPERS:
        return "no_keepers";
    case KQ_TX_CONFLICT:
        return "conflict";
    }
    return "unknown";
}

bool kq_tx_is_system(uint16_t family)
{
    return family >= KQ_TX_FAMILY_SYSTEM_MIN;
}

static enum kq_err decode_fields(struct kq_tx *tx, struct kq_buf *b)
{
    uint32_t body_len;
    KQ_GUARD(kq_buf_get_u8(b, &tx->version));
    KQ_ENSURE(tx->version == KQ_TX_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_u16(b, &tx->family));
    KQ_GUARD(kq_buf_get_u16(b, &tx->op));
    KQ_GUARD(kq_buf_get(b, tx->chain_id.b, KQ_HASH_BYTES));
    KQ_GUARD(kq_buf_get_u64(b, &tx->expiry_height));
    KQ_GUARD(kq_buf_get_u64(b, &tx->nonce));
    KQ_GUARD(kq_buf_get(b, tx->submitter_pk, KQ_TX_PKBYTES));
    KQ_GUARD(kq_buf_get_u32(b, &body_len));
    /* The length must agree with the size exactly: anything else is not this encoding. */
    KQ_ENSURE(kq_buf_remaining(b) >= KQ_TX_SIGBYTES, KQ_ERR_TRUNCATED);
    KQ_ENSURE((size_t)body_len == kq_buf_remaining(b) - KQ_TX_SIGBYTES, KQ_ERR_FORMAT);
    tx->body_len = body_len;
    KQ_GUARD(kq_buf_get_ptr(b, &tx->body, tx->body_len));
    KQ_GUARD(kq_buf_get(b, tx->sig, KQ_TX_SIGBYTES));
    return kq_buf_expect_end(b);
}

enum kq_err kq_tx_decode(struct kq_tx *tx, const uint8_t *data, size_t len)
{
    struct kq_buf b;
    KQ_ASSERT(tx != NULL);
    KQ_ASSERT(data != NULL || len == 0);
    memset(tx, 0, sizeof *tx);
    KQ_ENSURE(len <= KQ_LEDGER_TX_MAX_BYTES, KQ_ERR_LIMIT);
    kq_buf_reader(&b, data, len);
    enum kq_err err = decode_fields(tx, &b);
    if (err != KQ_OK) {
        memset(tx, 0, sizeof *tx);
        return err;
    }
    KQ_ASSERT(KQ_TX_BYTES(tx->body_len) == len);
    tx->raw = data;
    tx->raw_len = len;
    return KQ_OK;
}

/* message = tag || chain_id || signed[0..n): built on the heap (up to 64 KiB). */
static uint8_t *sig_message(const kq_hash *chain_id, const uint8_t *signed_part, size_t n,
                            size_t *msg_len)
{
    KQ_ASSERT(n <= KQ_LEDGER_TX_MAX_BYTES);
    *msg_len = TX_SIG_TAG_LEN + KQ_HASH_BYTES + n;
    uint8_t *m = malloc(*msg_len);
    if (m == NULL)
        return NULL;
    memcpy(m, TX_SIG_TAG, TX_SIG_TAG_LEN);
    memcpy(m + TX_SIG_TAG_LEN, chain_id->b, KQ_HASH_BYTES);
    memcpy(m + TX_SIG_TAG_LEN + KQ_HASH_BYTES, signed_part, n);
    return m;
}

enum kq_err kq_tx_verify(const struct kq_tx *tx)
{
    size_t mlen;
    KQ_ASSERT(tx != NULL && tx->raw != NULL);
    KQ_ASSERT(tx->raw_len == KQ_TX_BYTES(tx->body_len));
    uint8_t *m = sig_message(&tx->chain_id, tx->raw, tx->raw_len - KQ_TX_SIGBYTES, &mlen);
    KQ_ENSURE(m != NULL, KQ_ERR_NOMEM);
    int rc = crypto_sign_verify_detached(tx->sig, m, mlen, tx->submitter_pk);
    free(m);
    return rc == 0 ? KQ_OK : KQ_ERR_BAD_SIGNATURE;
}

void kq_tx_id(const uint8_t *data, size_t len, kq_hash *id)
{
    KQ_ASSERT(data != NULL || len == 0);
    kq_hash_tagged(id, TX_ID_TAG, data, len);
}

static enum kq_err encode_unsigned(const struct kq_tx_fields *f, const uint8_t *pk,
                                   struct kq_buf *b)
{
    KQ_GUARD(kq_buf_put_u8(b, KQ_TX_VERSION));
    KQ_GUARD(kq_buf_put_u16(b, f->family));
    KQ_GUARD(kq_buf_put_u16(b, f->op));
    KQ_GUARD(kq_buf_put(b, f->chain_id.b, KQ_HASH_BYTES));
    KQ_GUARD(kq_buf_put_u64(b, f->expiry_height));
    KQ_GUARD(kq_buf_put_u64(b, f->nonce));
    KQ_GUARD(kq_buf_put(b, pk, KQ_TX_PKBYTES));
    KQ_GUARD(kq_buf_put_u32(b, (uint32_t)f->body_len));
    if (f->body_len > 0)
        KQ_GUARD(kq_buf_put(b, f->body, f->body_len));
    return KQ_OK;
}

enum kq_err kq_tx_sign(const struct kq_tx_fields *f, const uint8_t sk[KQ_TX_SKBYTES], uint8_t *out,
                       size_t cap, size_t *out_len)
{
    struct kq_buf b;
    uint8_t pk[KQ_TX_PKBYTES], *sig = NULL, *m = NULL;
    size_t mlen;
    enum kq_err err = KQ_OK;
    KQ_ASSERT(f != NULL && sk != NULL && out_len != NULL);
    KQ_ASSERT(f->body != NULL || f->body_len == 0);
    *out_len = 0;
    KQ_ENSURE(f->body_len <= KQ_TX_MAX_BODY_BYTES, KQ_ERR_LIMIT);
    KQ_ENSURE(cap >= KQ_TX_BYTES(f->body_len), KQ_ERR_OVERFLOW);
    KQ_ENSURE(crypto_sign_ed25519_sk_to_pk(pk, sk) == 0, KQ_ERR_CRYPTO);
    kq_buf_writer(&b, out, cap);
    KQ_TRY(encode_unsigned(f, pk, &b));
    m = sig_message(&f->chain_id, kq_buf_bytes(&b), kq_buf_len(&b), &mlen);
    KQ_CHECK(m != NULL, KQ_ERR_NOMEM);
    KQ_TRY(kq_buf_reserve(&b, KQ_TX_SIGBYTES, &sig));
    KQ_CHECK(crypto_sign_detached(sig, NULL, m, mlen, sk) == 0, KQ_ERR_CRYPTO);
    *out_len = kq_buf_len(&b);
    KQ_ASSERT(*out_len == KQ_TX_BYTES(f->body_len));
out:
    free(m);
    if (err != KQ_OK)
        memset(out, 0, cap);
    return err;
}
