/* Client identity family: record codec, field rules and the apply step. "client/<id>" holds the
 * record; "signer/<hex tx key>" holds the id of the one client registered with that tx key, so a
 * key never speaks for two clients and an admin signature is found in two lookups. */
#include "ledger/tx_client.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/buf.h"
#include "ledger/state.h"

#define CLIENT_PREFIX "client/"
#define SIGNER_PREFIX "signer/"
#define KEY_BYTES     (sizeof SIGNER_PREFIX + 2 * 32 + KQ_LEDGER_CLIENT_ID_MAX_BYTES)

KQ_STATIC_ASSERT(KQ_LEDGER_CLIENT_ID_MAX_BYTES <= UINT8_MAX, "id length is a u8");
KQ_STATIC_ASSERT(KQ_LEDGER_TRUST_MAX <= UINT8_MAX, "trust is a u8");
KQ_STATIC_ASSERT(KEY_BYTES <= KQ_LEDGER_MAX_KEY_BYTES, "client state keys fit the tree");

bool kq_client_id_ok(const char *id, size_t len)
{
    if (len == 0 || len > KQ_LEDGER_CLIENT_ID_MAX_BYTES)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

enum kq_err kq_client_check(const struct kq_client *c)
{
    static const uint8_t zero[32];
    KQ_ENSURE(kq_client_id_ok(c->id, strnlen(c->id, sizeof c->id)), KQ_ERR_INVALID_ARG);
    KQ_ENSURE(c->auth_kind == KQ_CLIENT_AUTH_CERT || c->auth_kind == KQ_CLIENT_AUTH_TOKEN,
              KQ_ERR_INVALID_ARG);
    KQ_ENSURE(c->roles != 0 && (c->roles & ~KQ_CLIENT_ROLE_ALL) == 0, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(c->trust <= KQ_LEDGER_TRUST_MAX, KQ_ERR_INVALID_ARG);
    KQ_ENSURE((c->flags & ~KQ_CLIENT_FLAGS_ALL) == 0, KQ_ERR_INVALID_ARG);
    if (c->flags & KQ_CLIENT_HAS_X25519)
        KQ_ENSURE(sodium_memcmp(c->x25519_pk, zero, 32) != 0, KQ_ERR_INVALID_ARG);
    if (c->flags & KQ_CLIENT_HAS_SIGN_PK)
        KQ_ENSURE(crypto_core_ed25519_is_valid_point(c->sign_pk) == 1, KQ_ERR_INVALID_ARG);
    return KQ_OK;
}

static enum kq_err put_id(struct kq_buf *b, const char *id)
{
    size_t n = strnlen(id, KQ_LEDGER_CLIENT_ID_MAX_BYTES + 1);
    KQ_ENSURE(n >= 1 && n <= KQ_LEDGER_CLIENT_ID_MAX_BYTES, KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_put_u8(b, (uint8_t)n));
    return kq_buf_put(b, id, n);
}

static enum kq_err get_id(struct kq_buf *b, char id[KQ_LEDGER_CLIENT_ID_MAX_BYTES + 1])
{
    uint8_t n;
    const uint8_t *p;
    KQ_GUARD(kq_buf_get_u8(b, &n));
    KQ_ENSURE(n >= 1 && n <= KQ_LEDGER_CLIENT_ID_MAX_BYTES, KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_get_ptr(b, &p, n));
    KQ_ENSURE(memchr(p, 0, n) == NULL, KQ_ERR_FORMAT);
    memcpy(id, p, n);
    id[n] = '\0';
    return KQ_OK;
}

static enum kq_err client_put(struct kq_buf *b, const struct kq_client *c)
{
    KQ_GUARD(kq_buf_put_u8(b, KQ_CLIENT_VERSION));
    KQ_GUARD(put_id(b, c->id));
    KQ_GUARD(kq_buf_put_u8(b, c->auth_kind));
    KQ_GUARD(kq_buf_put(b, c->auth, 32));
    KQ_GUARD(kq_buf_put_u8(b, c->roles));
    KQ_GUARD(kq_buf_put_u8(b, c->trust));
    KQ_GUARD(kq_buf_put_u8(b, c->flags));
    if (c->flags & KQ_CLIENT_HAS_X25519)
        KQ_GUARD(kq_buf_put(b, c->x25519_pk, 32));
    if (c->flags & KQ_CLIENT_HAS_SIGN_PK)
        KQ_GUARD(kq_buf_put(b, c->sign_pk, 32));
    return KQ_OK;
}

enum kq_err kq_client_encode(const struct kq_client *c, uint8_t *out, size_t cap, size_t *out_len)
{
    struct kq_buf b;
    *out_len = 0;
    kq_buf_writer(&b, out, cap);
    KQ_GUARD(client_put(&b, c));
    *out_len = kq_buf_len(&b);
    KQ_ASSERT(*out_len <= KQ_CLIENT_MAX_BYTES);
    return KQ_OK;
}

static enum kq_err client_get(struct kq_buf *b, struct kq_client *c)
{
    uint8_t version;
    KQ_GUARD(kq_buf_get_u8(b, &version));
    KQ_ENSURE(version == KQ_CLIENT_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(get_id(b, c->id));
    KQ_GUARD(kq_buf_get_u8(b, &c->auth_kind));
    KQ_GUARD(kq_buf_get(b, c->auth, 32));
    KQ_GUARD(kq_buf_get_u8(b, &c->roles));
    KQ_GUARD(kq_buf_get_u8(b, &c->trust));
    KQ_GUARD(kq_buf_get_u8(b, &c->flags));
    KQ_ENSURE((c->flags & ~KQ_CLIENT_FLAGS_ALL) == 0, KQ_ERR_FORMAT); /* layout depends on it */
    if (c->flags & KQ_CLIENT_HAS_X25519)
        KQ_GUARD(kq_buf_get(b, c->x25519_pk, 32));
    if (c->flags & KQ_CLIENT_HAS_SIGN_PK)
        KQ_GUARD(kq_buf_get(b, c->sign_pk, 32));
    return kq_buf_expect_end(b);
}

enum kq_err kq_client_decode(struct kq_client *c, const uint8_t *data, size_t len)
{
    struct kq_buf b;
    memset(c, 0, sizeof *c);
    kq_buf_reader(&b, data, len);
    enum kq_err err = client_get(&b, c);
    if (err != KQ_OK)
        memset(c, 0, sizeof *c);
    return err;
}

enum kq_err kq_client_remove_encode(const char *id, uint8_t *out, size_t cap, size_t *out_len)
{
    struct kq_buf b;
    *out_len = 0;
    kq_buf_writer(&b, out, cap);
    KQ_GUARD(kq_buf_put_u8(&b, KQ_CLIENT_VERSION));
    KQ_GUARD(put_id(&b, id));
    *out_len = kq_buf_len(&b);
    return KQ_OK;
}

enum kq_err kq_client_remove_decode(char id[KQ_LEDGER_CLIENT_ID_MAX_BYTES + 1], const uint8_t *data,
                                    size_t len)
{
    struct kq_buf b;
    uint8_t version;
    enum kq_err err;
    memset(id, 0, KQ_LEDGER_CLIENT_ID_MAX_BYTES + 1);
    kq_buf_reader(&b, data, len);
    err = kq_buf_get_u8(&b, &version);
    if (err == KQ_OK && version != KQ_CLIENT_VERSION)
        err = KQ_ERR_VERSION;
    if (err == KQ_OK)
        err = get_id(&b, id);
    if (err == KQ_OK)
        err = kq_buf_expect_end(&b);
    if (err != KQ_OK)
        memset(id, 0, KQ_LEDGER_CLIENT_ID_MAX_BYTES + 1);
    return err;
}

static void client_key(const char *id, char out[KEY_BYTES])
{
    size_t n = strnlen(id, KQ_LEDGER_CLIENT_ID_MAX_BYTES);
    memcpy(out, CLIENT_PREFIX, sizeof CLIENT_PREFIX - 1);
    memcpy(out + sizeof CLIENT_PREFIX - 1, id, n);
    out[sizeof CLIENT_PREFIX - 1 + n] = '\0';
}

static void signer_key(const uint8_t pk[32], char out[KEY_BYTES])
{
    memcpy(out, SIGNER_PREFIX, sizeof SIGNER_PREFIX - 1);
    sodium_bin2hex(out + sizeof SIGNER_PREFIX - 1, 2 * 32 + 1, pk, 32);
}

enum kq_err kq_client_get(const struct kq_smt *st, const char *id, struct kq_client *c)
{
    char key[KEY_BYTES];
    const uint8_t *v;
    size_t vlen;
    memset(c, 0, sizeof *c);
    KQ_ENSURE(kq_client_id_ok(id, strnlen(id, KQ_LEDGER_CLIENT_ID_MAX_BYTES + 1)),
              KQ_ERR_NOT_FOUND);
    client_key(id, key);
    KQ_GUARD(kq_smt_get(st, (const uint8_t *)key, strlen(key), &v, &vlen));
    return kq_client_decode(c, v, vlen);
}

/* The id registered for tx key pk, or false. */
static bool signer_lookup(const struct kq_smt *st, const uint8_t pk[32],
                          char id[KQ_LEDGER_CLIENT_ID_MAX_BYTES + 1])
{
    char key[KEY_BYTES];
    const uint8_t *v;
    size_t vlen;
    signer_key(pk, key);
    if (kq_smt_get(st, (const uint8_t *)key, strlen(key), &v, &vlen) != KQ_OK ||
        vlen > KQ_LEDGER_CLIENT_ID_MAX_BYTES)
        return false;
    memcpy(id, v, vlen);
    id[vlen] = '\0';
    return true;
}

bool kq_client_pk_is_admin(const struct kq_smt *st, const uint8_t pk[32])
{
    char id[KQ_LEDGER_CLIENT_ID_MAX_BYTES + 1];
    struct kq_client c;
    if (!signer_lookup(st, pk, id) || kq_client_get(st, id, &c) != KQ_OK)
        return false;
    return (c.flags & KQ_CLIENT_HAS_SIGN_PK) && memcmp(c.sign_pk, pk, 32) == 0 &&
           (c.roles & KQ_CLIENT_ROLE_ADMIN);
}

static enum kq_err put_status(struct kq_smt **cur, const char *key, const uint8_t *v, size_t n,
                              enum kq_tx_status *status)
{
    if (*status != KQ_TX_OK)
        return KQ_OK;
    enum kq_err err = kq_state_put(cur, key, v, n);
    if (err == KQ_ERR_LIMIT) {
        *status = KQ_TX_STATE_FULL;
        return KQ_OK;
    }
    return err;
}

/* Writes the edit into *cur: drop old's signer index, then write (or remove) the record. */
static enum kq_err edit(struct kq_smt **cur, const struct kq_client *old, const struct kq_client *c,
                        const char *id, enum kq_tx_status *status)
{
    char key[KEY_BYTES];
    uint8_t rec[KQ_CLIENT_MAX_BYTES];
    size_t len = 0;
    if (old != NULL && (old->flags & KQ_CLIENT_HAS_SIGN_PK)) {
        signer_key(old->sign_pk, key);
        KQ_GUARD(put_status(cur, key, NULL, 0, status));
    }
    if (c != NULL)
        KQ_GUARD(kq_client_encode(c, rec, sizeof rec, &len));
    client_key(id, key);
    KQ_GUARD(put_status(cur, key, c != NULL ? rec : NULL, len, status));
    if (c != NULL && (c->flags & KQ_CLIENT_HAS_SIGN_PK)) {
        signer_key(c->sign_pk, key);
        KQ_GUARD(put_status(cur, key, (const uint8_t *)id, strlen(id), status));
    }
    return KQ_OK;
}

static enum kq_err run(const struct kq_smt *st, const struct kq_client *old,
                       const struct kq_client *c, const char *id, struct kq_smt **out,
                       enum kq_tx_status *status)
{
    struct kq_smt *cur = kq_smt_ref((struct kq_smt *)st);
    *status = KQ_TX_OK;
    enum kq_err err = edit(&cur, old, c, id, status);
    if (err != KQ_OK || *status != KQ_TX_OK) {
        kq_smt_unref(cur);
        return err;
    }
    *out = cur;
    return KQ_OK;
}

static enum kq_err apply_set(const struct kq_smt *st, const struct kq_tx *tx, struct kq_smt **out,
                             enum kq_tx_status *status)
{
    struct kq_client c, old;
    char other[KQ_LEDGER_CLIENT_ID_MAX_BYTES + 1];
    enum kq_err err = kq_client_decode(&c, tx->body, tx->body_len);
    if (err != KQ_OK) {
        *status = err == KQ_ERR_VERSION ? KQ_TX_UNKNOWN_TYPE : KQ_TX_MALFORMED;
        return KQ_OK;
    }
    if (kq_client_check(&c) != KQ_OK) {
        *status = KQ_TX_INVALID;
        return KQ_OK;
    }
    if ((c.flags & KQ_CLIENT_HAS_SIGN_PK) && signer_lookup(st, c.sign_pk, other) &&
        strcmp(other, c.id) != 0) {
        *status = KQ_TX_EXISTS; /* that tx key already speaks for another client */
        return KQ_OK;
    }
    err = kq_client_get(st, c.id, &old);
    KQ_ENSURE(err == KQ_OK || err == KQ_ERR_NOT_FOUND, err);
    return run(st, err == KQ_OK ? &old : NULL, &c, c.id, out, status);
}

static enum kq_err apply_remove(const struct kq_smt *st, const struct kq_tx *tx,
                                struct kq_smt **out, enum kq_tx_status *status)
{
    struct kq_client old;
    char id[KQ_LEDGER_CLIENT_ID_MAX_BYTES + 1];
    enum kq_err err = kq_client_remove_decode(id, tx->body, tx->body_len);
    if (err != KQ_OK) {
        *status = err == KQ_ERR_VERSION ? KQ_TX_UNKNOWN_TYPE : KQ_TX_MALFORMED;
        return KQ_OK;
    }
    if (!kq_client_id_ok(id, strlen(id))) {
        *status = KQ_TX_INVALID;
        return KQ_OK;
    }
    err = kq_client_get(st, id, &old);
    if (err == KQ_ERR_NOT_FOUND) {
        *status = KQ_TX_NOT_FOUND;
        return KQ_OK;
    }
    KQ_GUARD(err);
    return run(st, &old, NULL, id, out, status);
}

enum kq_err kq_client_apply(const struct kq_smt *st, const struct kq_tx *tx, struct kq_smt **out,
                            enum kq_tx_status *status)
{
    KQ_ASSERT(tx->family == KQ_TX_FAMILY_CLIENT);
    *out = NULL;
    if (tx->op != KQ_CLIENT_OP_SET && tx->op != KQ_CLIENT_OP_REMOVE) {
        *status = KQ_TX_UNKNOWN_TYPE;
        return KQ_OK;
    }
    if (!kq_state_is_admin(st, tx->submitter_pk)) {
        *status = KQ_TX_UNAUTHORIZED;
        return KQ_OK;
    }
    if (tx->op == KQ_CLIENT_OP_SET)
        return apply_set(st, tx, out, status);
    return apply_remove(st, tx, out, status);
}
