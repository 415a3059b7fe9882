/* Membership family: node record and validator set codecs, field rules, and the apply step that
 * keeps three things consistent in one state version: "node/<id>", the identity-key index
 * "nodekey/<hex>" (no two nodes share a key, so no key votes twice) and "valset" (sorted by id,
 * never empty once the genesis has made it). */
#include "ledger/tx_member.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/buf.h"
#include "ledger/state.h"

#define VALSET_VERSION 1
#define NODEKEY_PREFIX "nodekey/"

KQ_STATIC_ASSERT(KQ_LEDGER_ADDR_MAX_BYTES <= UINT16_MAX, "addresses are u16-prefixed");
KQ_STATIC_ASSERT(KQ_LEDGER_STATE_MAX_VALIDATORS <= UINT16_MAX, "the valset count is a u16");
KQ_STATIC_ASSERT(KQ_MEMBER_KEY_BYTES > sizeof NODEKEY_PREFIX + 2 * 32, "key fits");

static bool host_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-';
}

static bool hex_char_ok(char c)
{
    return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9');
}

static bool port_ok(const char *p)
{
    size_t n = strlen(p);
    unsigned long v = 0;
    if (n == 0 || n > 5 || p[0] == '0')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

bool kq_member_addr_ok(const char *s)
{
    size_t n = strnlen(s, KQ_LEDGER_ADDR_MAX_BYTES + 1);
    if (n == 0 || n > KQ_LEDGER_ADDR_MAX_BYTES)
        return false;
    const char *colon = strrchr(s, ':');
    if (colon == NULL || !port_ok(colon + 1))
        return false;
    if (s[0] == '[') { /* [IPv6]:port: hex digits, colons and dots between the brackets */
        if (colon - s < 3 || colon[-1] != ']')
            return false;
        for (const char *c = s + 1; c < colon - 1; c++)
            if (!(hex_char_ok(*c) || *c == ':' || *c == '.'))
                return false;
        return true;
    }
    if (colon == s)
        return false;
    for (const char *c = s; c < colon; c++)
        if (!host_char_ok(*c))
            return false;
    return true;
}

static bool ed25519_ok(const uint8_t pk[32])
{
    return crypto_core_ed25519_is_valid_point(pk) == 1;
}

enum kq_err kq_member_node_check(const struct kq_member_node *n)
{
    static const uint8_t zero[32];
    KQ_ENSURE(n->node_id >= 1 && n->node_id <= KQ_LEDGER_MAX_NODE_ID, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(n->roles != 0 && (n->roles & ~KQ_ROLE_NODE_ALL) == 0, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(ed25519_ok(n->identity_pk) && ed25519_ok(n->tls_pk), KQ_ERR_INVALID_ARG);
    KQ_ENSURE(sodium_memcmp(n->x25519_pk, zero, 32) != 0, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(kq_member_addr_ok(n->api_addr), KQ_ERR_INVALID_ARG);
    KQ_ENSURE(kq_member_addr_ok(n->peer_addr), KQ_ERR_INVALID_ARG);
    return KQ_OK;
}

static enum kq_err put_addr(struct kq_buf *b, const char *a)
{
    size_t n = strnlen(a, KQ_LEDGER_ADDR_MAX_BYTES + 1);
    KQ_ENSURE(n <= KQ_LEDGER_ADDR_MAX_BYTES, KQ_ERR_LIMIT);
    return kq_buf_put_bytes16(b, a, n);
}

static enum kq_err get_addr(struct kq_buf *b, char out[KQ_LEDGER_ADDR_MAX_BYTES + 1])
{
    const uint8_t *p;
    size_t n;
    KQ_GUARD(kq_buf_get_bytes16(b, &p, &n, KQ_LEDGER_ADDR_MAX_BYTES));
    KQ_ENSURE(memchr(p, 0, n) == NULL, KQ_ERR_FORMAT);
    memcpy(out, p, n);
    out[n] = '\0';
    return KQ_OK;
}

static enum kq_err node_put(struct kq_buf *b, const struct kq_member_node *n)
{
    KQ_GUARD(kq_buf_put_u8(b, KQ_MEMBER_VERSION));
    KQ_GUARD(kq_buf_put_u32(b, n->node_id));
    KQ_GUARD(kq_buf_put_u8(b, n->roles));
    KQ_GUARD(kq_buf_put(b, n->identity_pk, 32));
    KQ_GUARD(kq_buf_put(b, n->tls_pk, 32));
    KQ_GUARD(kq_buf_put_u64(b, n->epoch));
    KQ_GUARD(kq_buf_put(b, n->x25519_pk, 32));
    KQ_GUARD(put_addr(b, n->api_addr));
    return put_addr(b, n->peer_addr);
}

enum kq_err kq_member_node_encode(const struct kq_member_node *n, uint8_t *out, size_t cap,
                                  size_t *out_len)
{
    struct kq_buf b;
    *out_len = 0;
    kq_buf_writer(&b, out, cap);
    KQ_GUARD(node_put(&b, n));
    *out_len = kq_buf_len(&b);
    KQ_ASSERT(*out_len <= KQ_MEMBER_NODE_MAX_BYTES);
    return KQ_OK;
}

static enum kq_err node_get(struct kq_buf *b, struct kq_member_node *n)
{
    uint8_t version;
    KQ_GUARD(kq_buf_get_u8(b, &version));
    KQ_ENSURE(version == KQ_MEMBER_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_u32(b, &n->node_id));
    KQ_GUARD(kq_buf_get_u8(b, &n->roles));
    KQ_GUARD(kq_buf_get(b, n->identity_pk, 32));
    KQ_GUARD(kq_buf_get(b, n->tls_pk, 32));
    KQ_GUARD(kq_buf_get_u64(b, &n->epoch));
    KQ_GUARD(kq_buf_get(b, n->x25519_pk, 32));
    KQ_GUARD(get_addr(b, n->api_addr));
    KQ_GUARD(get_addr(b, n->peer_addr));
    return kq_buf_expect_end(b);
}

enum kq_err kq_member_node_decode(struct kq_member_node *n, const uint8_t *data, size_t len)
{
    struct kq_buf b;
    memset(n, 0, sizeof *n);
    kq_buf_reader(&b, data, len);
    enum kq_err err = node_get(&b, n);
    if (err != KQ_OK)
        memset(n, 0, sizeof *n);
    return err;
}

enum kq_err kq_member_remove_encode(uint32_t node_id, uint8_t *out, size_t cap, size_t *out_len)
{
    struct kq_buf b;
    *out_len = 0;
    kq_buf_writer(&b, out, cap);
    KQ_GUARD(kq_buf_put_u8(&b, KQ_MEMBER_VERSION));
    KQ_GUARD(kq_buf_put_u32(&b, node_id));
    *out_len = kq_buf_len(&b);
    return KQ_OK;
}

enum kq_err kq_member_remove_decode(uint32_t *node_id, const uint8_t *data, size_t len)
{
    struct kq_buf b;
    uint8_t version;
    *node_id = 0;
    kq_buf_reader(&b, data, len);
    KQ_GUARD(kq_buf_get_u8(&b, &version));
    KQ_ENSURE(version == KQ_MEMBER_VERSION, KQ_ERR_VERSION);
    uint32_t id;
    KQ_GUARD(kq_buf_get_u32(&b, &id));
    KQ_GUARD(kq_buf_expect_end(&b));
    *node_id = id;
    return KQ_OK;
}

enum kq_err kq_valset_encode(const struct kq_valset_entry *v, size_t n, uint8_t *out, size_t cap,
                             size_t *out_len)
{
    struct kq_buf b;
    *out_len = 0;
    KQ_ENSURE(n >= 1 && n <= KQ_LEDGER_STATE_MAX_VALIDATORS, KQ_ERR_LIMIT);
    kq_buf_writer(&b, out, cap);
    KQ_GUARD(kq_buf_put_u8(&b, VALSET_VERSION));
    KQ_GUARD(kq_buf_put_u16(&b, (uint16_t)n));
    for (size_t i = 0; i < n; i++) {
        KQ_ASSERT(i == 0 || v[i - 1].node_id < v[i].node_id);
        KQ_GUARD(kq_buf_put_u32(&b, v[i].node_id));
        KQ_GUARD(kq_buf_put(&b, v[i].identity_pk, 32));
    }
    *out_len = kq_buf_len(&b);
    return KQ_OK;
}

enum kq_err kq_valset_decode(struct kq_valset_entry *v, size_t cap, size_t *n, const uint8_t *data,
                             size_t len)
{
    struct kq_buf b;
    uint8_t version;
    uint16_t count;
    *n = 0;
    kq_buf_reader(&b, data, len);
    KQ_GUARD(kq_buf_get_u8(&b, &version));
    KQ_ENSURE(version == VALSET_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_u16(&b, &count));
    KQ_ENSURE(count >= 1 && count <= KQ_LEDGER_STATE_MAX_VALIDATORS, KQ_ERR_FORMAT);
    KQ_ENSURE(count <= cap, KQ_ERR_LIMIT);
    for (size_t i = 0; i < count; i++) {
        KQ_GUARD(kq_buf_get_u32(&b, &v[i].node_id));
        KQ_GUARD(kq_buf_get(&b, v[i].identity_pk, 32));
        KQ_ENSURE(i == 0 || v[i - 1].node_id < v[i].node_id, KQ_ERR_FORMAT);
    }
    KQ_GUARD(kq_buf_expect_end(&b));
    *n = count;
    return KQ_OK;
}

size_t kq_member_node_key(uint32_t node_id, char out[KQ_MEMBER_KEY_BYTES])
{
    int n = snprintf(out, KQ_MEMBER_KEY_BYTES, "node/%u", (unsigned)node_id);
    KQ_ASSERT(n > 0 && n < KQ_MEMBER_KEY_BYTES);
    return (size_t)n;
}

static void nodekey_key(const uint8_t pk[32], char out[KQ_MEMBER_KEY_BYTES])
{
    memcpy(out, NODEKEY_PREFIX, sizeof NODEKEY_PREFIX - 1);
    sodium_bin2hex(out + sizeof NODEKEY_PREFIX - 1, 2 * 32 + 1, pk, 32);
}

enum kq_err kq_member_get(const struct kq_smt *st, uint32_t node_id, struct kq_member_node *n)
{
    char key[KQ_MEMBER_KEY_BYTES];
    const uint8_t *v;
    size_t vlen, klen = kq_member_node_key(node_id, key);
    memset(n, 0, sizeof *n);
    KQ_GUARD(kq_smt_get(st, (const uint8_t *)key, klen, &v, &vlen));
    return kq_member_node_decode(n, v, vlen);
}

enum kq_err kq_member_valset(const struct kq_smt *st, struct kq_valset_entry *v, size_t cap,
                             size_t *n)
{
    const uint8_t *p;
    size_t len;
    *n = 0;
    KQ_GUARD(kq_smt_get(st, (const uint8_t *)KQ_MEMBER_VALSET_KEY, sizeof KQ_MEMBER_VALSET_KEY - 1,
                        &p, &len));
    return kq_valset_decode(v, cap, n, p, len);
}

/* Maps a state-limit refusal to a status; other errors stay errors. */
static enum kq_err limit_to_status(enum kq_err err, enum kq_tx_status *status)
{
    if (err == KQ_ERR_LIMIT) {
        *status = KQ_TX_STATE_FULL;
        return KQ_OK;
    }
    return err;
}

struct valset_edit {
    struct kq_valset_entry v[KQ_LEDGER_STATE_MAX_VALIDATORS];
    size_t n;
};

static void valset_drop(struct valset_edit *e, uint32_t node_id)
{
    for (size_t i = 0; i < e->n; i++) {
        if (e->v[i].node_id == node_id) {
            memmove(&e->v[i], &e->v[i + 1], (e->n - i - 1) * sizeof e->v[0]);
            e->n--;
            return;
        }
    }
}

/* Inserts in id order; false if full. The id is absent (dropped first by the caller). */
static bool valset_add(struct valset_edit *e, const struct kq_member_node *node)
{
    size_t i = 0;
    if (e->n == KQ_LEDGER_STATE_MAX_VALIDATORS)
        return false;
    while (i < e->n && e->v[i].node_id < node->node_id)
        i++;
    KQ_ASSERT(i == e->n || e->v[i].node_id != node->node_id);
    memmove(&e->v[i + 1], &e->v[i], (e->n - i) * sizeof e->v[0]);
    e->v[i].node_id = node->node_id;
    memcpy(e->v[i].identity_pk, node->identity_pk, 32);
    e->n++;
    return true;
}

/* Rewrites "valset" in *cur: drop old_id (0: none), then add node if it is a validator. */
static enum kq_err valset_update(struct kq_smt **cur, uint32_t old_id,
                                 const struct kq_member_node *node, enum kq_tx_status *status)
{
    static const size_t cap = 3 + KQ_LEDGER_STATE_MAX_VALIDATORS * 36;
    struct valset_edit *e = calloc(1, sizeof *e);
    uint8_t *buf = malloc(cap);
    size_t len;
    enum kq_err err = KQ_OK;
    KQ_CHECK(e != NULL && buf != NULL, KQ_ERR_NOMEM);
    err = kq_member_valset(*cur, e->v, KQ_LEDGER_STATE_MAX_VALIDATORS, &e->n);
    KQ_CHECK(err == KQ_OK || err == KQ_ERR_NOT_FOUND, err); /* absent before the first validator */
    err = KQ_OK;
    if (old_id != 0)
        valset_drop(e, old_id);
    if (node != NULL && (node->roles & KQ_ROLE_VALIDATOR) && !valset_add(e, node)) {
        *status = KQ_TX_VALSET_FULL;
        goto out;
    }
    if (e->n == 0) {
        *status = KQ_TX_EMPTY_VALSET;
        goto out;
    }
    KQ_TRY(kq_valset_encode(e->v, e->n, buf, cap, &len));
    err = limit_to_status(kq_state_put(cur, KQ_MEMBER_VALSET_KEY, buf, len), status);
out:
    free(e);
    free(buf);
    return err;
}

static enum kq_err put_node(struct kq_smt **cur, const struct kq_member_node *node,
                            enum kq_tx_status *status)
{
    char key[KQ_MEMBER_KEY_BYTES];
    uint8_t rec[KQ_MEMBER_NODE_MAX_BYTES], id[4];
    size_t len;
    KQ_GUARD(kq_member_node_encode(node, rec, sizeof rec, &len));
    kq_member_node_key(node->node_id, key);
    KQ_GUARD(limit_to_status(kq_state_put(cur, key, rec, len), status));
    if (*status != KQ_TX_OK)
        return KQ_OK;
    nodekey_key(node->identity_pk, key);
    id[0] = (uint8_t)(node->node_id >> 24), id[1] = (uint8_t)(node->node_id >> 16);
    id[2] = (uint8_t)(node->node_id >> 8), id[3] = (uint8_t)node->node_id;
    return limit_to_status(kq_state_put(cur, key, id, sizeof id), status);
}

static bool key_in_use(const struct kq_smt *st, const uint8_t pk[32])
{
    char key[KQ_MEMBER_KEY_BYTES];
    const uint8_t *v;
    size_t vlen;
    nodekey_key(pk, key);
    return kq_smt_get(st, (const uint8_t *)key, strlen(key), &v, &vlen) == KQ_OK;
}

/* Runs the edit on a private version; publishes it only if the status stayed OK. */
typedef enum kq_err (*edit_fn)(struct kq_smt **cur, const struct kq_member_node *old,
                               const struct kq_member_node *node, enum kq_tx_status *status);

static enum kq_err run_edit(const struct kq_smt *st, edit_fn fn, const struct kq_member_node *old,
                            const struct kq_member_node *node, struct kq_smt **out,
                            enum kq_tx_status *status)
{
    struct kq_smt *cur = kq_smt_ref((struct kq_smt *)st);
    *status = KQ_TX_OK;
    enum kq_err err = fn(&cur, old, node, status);
    if (err != KQ_OK || *status != KQ_TX_OK) {
        kq_smt_unref(cur);
        *out = NULL;
        return err;
    }
    *out = cur;
    return KQ_OK;
}

static enum kq_err edit_insert(struct kq_smt **cur, const struct kq_member_node *old,
                               const struct kq_member_node *node, enum kq_tx_status *status)
{
    KQ_ASSERT(old == NULL);
    KQ_GUARD(put_node(cur, node, status));
    if (*status != KQ_TX_OK || !(node->roles & KQ_ROLE_VALIDATOR))
        return KQ_OK;
    return valset_update(cur, 0, node, status);
}

static enum kq_err drop_node(struct kq_smt **cur, const struct kq_member_node *old,
                             enum kq_tx_status *status)
{
    char key[KQ_MEMBER_KEY_BYTES];
    kq_member_node_key(old->node_id, key);
    KQ_GUARD(limit_to_status(kq_state_put(cur, key, NULL, 0), status));
    nodekey_key(old->identity_pk, key);
    return limit_to_status(kq_state_put(cur, key, NULL, 0), status);
}

/* Update (node != NULL) or remove (node == NULL) of the existing record old. */
static enum kq_err edit_replace(struct kq_smt **cur, const struct kq_member_node *old,
                                const struct kq_member_node *node, enum kq_tx_status *status)
{
    KQ_GUARD(drop_node(cur, old, status));
    if (*status == KQ_TX_OK && node != NULL)
        KQ_GUARD(put_node(cur, node, status));
    if (*status != KQ_TX_OK)
        return KQ_OK;
    bool was = (old->roles & KQ_ROLE_VALIDATOR) != 0;
    bool is = node != NULL && (node->roles & KQ_ROLE_VALIDATOR) != 0;
    if (!was && !is)
        return KQ_OK;
    return valset_update(cur, was ? old->node_id : 0, node, status);
}

enum kq_err kq_member_insert(const struct kq_smt *st, const struct kq_member_node *node,
                             struct kq_smt **out, enum kq_tx_status *status)
{
    struct kq_member_node old;
    *out = NULL;
    enum kq_err err = kq_member_get(st, node->node_id, &old);
    if (err == KQ_OK || key_in_use(st, node->identity_pk)) {
        *status = KQ_TX_EXISTS;
        return KQ_OK;
    }
    KQ_ENSURE(err == KQ_ERR_NOT_FOUND, err);
    return run_edit(st, edit_insert, NULL, node, out, status);
}

static enum kq_err apply_update(const struct kq_smt *st, const struct kq_member_node *node,
                                struct kq_smt **out, enum kq_tx_status *status)
{
    struct kq_member_node old;
    enum kq_err err = kq_member_get(st, node->node_id, &old);
    if (err == KQ_ERR_NOT_FOUND) {
        *status = KQ_TX_NOT_FOUND;
        return KQ_OK;
    }
    KQ_GUARD(err);
    if (memcmp(old.identity_pk, node->identity_pk, 32) != 0 && key_in_use(st, node->identity_pk)) {
        *status = KQ_TX_EXISTS;
        return KQ_OK;
    }
    return run_edit(st, edit_replace, &old, node, out, status);
}

static enum kq_err apply_remove(const struct kq_smt *st, const struct kq_tx *tx,
                                struct kq_smt **out, enum kq_tx_status *status)
{
    struct kq_member_node old;
    uint32_t id;
    enum kq_err derr = kq_member_remove_decode(&id, tx->body, tx->body_len);
    if (derr != KQ_OK) {
        *status = derr == KQ_ERR_VERSION ? KQ_TX_UNKNOWN_TYPE : KQ_TX_MALFORMED;
        return KQ_OK;
    }
    enum kq_err err = kq_member_get(st, id, &old);
    if (err == KQ_ERR_NOT_FOUND) {
        *status = KQ_TX_NOT_FOUND;
        return KQ_OK;
    }
    KQ_GUARD(err);
    return run_edit(st, edit_replace, &old, NULL, out, status);
}

enum kq_err kq_member_apply(const struct kq_smt *st, const struct kq_tx *tx, struct kq_smt **out,
                            enum kq_tx_status *status)
{
    struct kq_member_node node;
    KQ_ASSERT(tx->family == KQ_TX_FAMILY_MEMBER);
    *out = NULL;
    if (tx->op < KQ_MEMBER_OP_ADD || tx->op > KQ_MEMBER_OP_REMOVE) {
        *status = KQ_TX_UNKNOWN_TYPE;
        return KQ_OK;
    }
    if (!kq_state_is_admin(st, tx->submitter_pk)) {
        *status = KQ_TX_UNAUTHORIZED;
        return KQ_OK;
    }
    if (tx->op == KQ_MEMBER_OP_REMOVE)
        return apply_remove(st, tx, out, status);
    enum kq_err derr = kq_member_node_decode(&node, tx->body, tx->body_len);
    if (derr != KQ_OK) {
        *status = derr == KQ_ERR_VERSION ? KQ_TX_UNKNOWN_TYPE : KQ_TX_MALFORMED;
        return KQ_OK;
    }
    if (kq_member_node_check(&node) != KQ_OK) {
        *status = KQ_TX_INVALID;
        return KQ_OK;
    }
    if (tx->op == KQ_MEMBER_OP_ADD)
        return kq_member_insert(st, &node, out, status);
    return apply_update(st, &node, out, status);
}
