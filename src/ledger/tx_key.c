/* The key registry's transactions (docs/keys.md §2): the bodies of families KEY, KEEPER and
 * EVIDENCE (strict codecs) and their rules. A refused transaction changes nothing and gets a
 * status; every rule reads only the pre-state, the tx and the block's height and BFT time. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/buf.h"
#include "base/roles.h"
#include "crypto/partial.h"
#include "ledger/keyreg_internal.h"
#include "ledger/state.h"
#include "ledger/tx_client.h"

/* ---- bodies ---- */

static enum kq_err get_key_name(struct kq_buf *b, char *out, bool required)
{
    KQ_GUARD(kq_buf_get_str8(b, out, KQ_KEY_NAME_MAX_BYTES));
    size_t n = strlen(out);
    KQ_ENSURE(n > 0 || !required, KQ_ERR_FORMAT);
    KQ_ENSURE(n == 0 || kq_key_name_ok(out, n), KQ_ERR_FORMAT);
    return KQ_OK;
}

enum kq_err kq_key_tx_encode(uint16_t op, const struct kq_key_tx *t, uint8_t *out, size_t cap,
                             size_t *out_len)
{
    struct kq_buf b;
    kq_buf_writer(&b, out, cap);
    *out_len = 0;
    KQ_ENSURE(op >= KQ_KEY_OP_CREATE && op <= KQ_KEY_OP_REFRESH, KQ_ERR_INVALID_ARG);
    KQ_GUARD(kq_buf_put_u8(&b, KQ_KEYREG_VERSION));
    KQ_GUARD(kq_buf_put_str8(&b, t->client, KQ_LEDGER_CLIENT_ID_MAX_BYTES));
    KQ_GUARD(kq_buf_put_str8(&b, t->name, KQ_KEY_NAME_MAX_BYTES));
    KQ_GUARD(kq_buf_put_u8(&b, t->usage));
    KQ_GUARD(kq_buf_put_u32(&b, t->n));
    KQ_GUARD(kq_buf_put_u32(&b, t->t));
    KQ_GUARD(kq_buf_put_u64(&b, t->period_ms));
    KQ_GUARD(kq_buf_put_u64(&b, t->max_ops));
    KQ_GUARD(kq_buf_put_u32(&b, t->version));
    *out_len = kq_buf_len(&b);
    return KQ_OK;
}

static enum kq_err key_tx_fields(uint16_t op, struct kq_buf *b, struct kq_key_tx *t)
{
    uint8_t v;
    KQ_GUARD(kq_buf_get_u8(b, &v));
    KQ_ENSURE(v == KQ_KEYREG_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_str8(b, t->client, KQ_LEDGER_CLIENT_ID_MAX_BYTES));
    KQ_ENSURE(t->client[0] == '\0' || kq_client_id_ok(t->client, strlen(t->client)), KQ_ERR_FORMAT);
    KQ_GUARD(get_key_name(b, t->name, op != KQ_KEY_OP_REFRESH));
    KQ_GUARD(kq_buf_get_u8(b, &t->usage));
    KQ_GUARD(kq_buf_get_u32(b, &t->n));
    KQ_GUARD(kq_buf_get_u32(b, &t->t));
    KQ_GUARD(kq_buf_get_u64(b, &t->period_ms));
    KQ_GUARD(kq_buf_get_u64(b, &t->max_ops));
    KQ_GUARD(kq_buf_get_u32(b, &t->version));
    KQ_GUARD(kq_buf_expect_end(b));
    KQ_ENSURE(op != KQ_KEY_OP_REFRESH || t->name[0] == '\0', KQ_ERR_FORMAT);
    return KQ_OK;
}

enum kq_err kq_key_tx_decode(uint16_t op, struct kq_key_tx *t, const uint8_t *in, size_t len)
{
    struct kq_buf b;
    kq_buf_reader(&b, in, len);
    memset(t, 0, sizeof *t);
    KQ_ENSURE(op >= KQ_KEY_OP_CREATE && op <= KQ_KEY_OP_REFRESH, KQ_ERR_FORMAT);
    enum kq_err err = key_tx_fields(op, &b, t);
    if (err != KQ_OK)
        memset(t, 0, sizeof *t);
    return err;
}

enum kq_err kq_keeper_tx_encode(uint16_t op, const struct kq_keeper_tx *t, uint8_t *out, size_t cap,
                                size_t *out_len)
{
    struct kq_buf b;
    kq_buf_writer(&b, out, cap);
    *out_len = 0;
    KQ_GUARD(kq_buf_put_u8(&b, KQ_KEYREG_VERSION));
    switch (op) {
    case KQ_KEEPER_OP_EPOCH_KEY:
        KQ_GUARD(kq_buf_put_u64(&b, t->epoch));
        KQ_GUARD(kq_buf_put(&b, t->pk, sizeof t->pk));
        break;
    case KQ_KEEPER_OP_DKG_MSG:
        KQ_ENSURE(t->msg_len >= 1 && t->msg_len <= KQ_DKG_MAX_MSG_BYTES, KQ_ERR_LIMIT);
        KQ_GUARD(kq_buf_put(&b, t->session.b, KQ_HASH_BYTES));
        KQ_GUARD(kq_buf_put_bytes16(&b, t->msg, t->msg_len));
        break;
    case KQ_KEEPER_OP_LOST:
        KQ_GUARD(kq_buf_put_u64(&b, t->epoch));
        KQ_GUARD(kq_buf_put(&b, t->pk, sizeof t->pk));
        KQ_GUARD(kq_buf_put(&b, t->next_pk, sizeof t->next_pk));
        break;
    case KQ_KEEPER_OP_USAGE:
        KQ_ENSURE(t->n_usage >= 1 && t->n_usage <= KQ_KEYREG_MAX_USAGE_ITEMS, KQ_ERR_LIMIT);
        KQ_GUARD(kq_buf_put_u8(&b, (uint8_t)t->n_usage));
        for (uint32_t i = 0; i < t->n_usage; i++) {
            KQ_GUARD(kq_buf_put_str8(&b, t->usage[i].name, KQ_KEY_NAME_MAX_BYTES));
            KQ_GUARD(kq_buf_put_u64(&b, t->usage[i].ops));
        }
        break;
    default:
        return KQ_ERR_INVALID_ARG;
    }
    *out_len = kq_buf_len(&b);
    return KQ_OK;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

static enum kq_err keeper_tx_fields(uint16_t op, struct kq_buf *b, struct kq_keeper_tx *t)
{
    uint8_t v, n;
    KQ_GUARD(kq_buf_get_u8(b, &v));
    KQ_ENSURE(v == KQ_KEYREG_VERSION, KQ_ERR_VERSION);
    switch (op) {
    case KQ_KEEPER_OP_EPOCH_KEY:
        KQ_GUARD(kq_buf_get_u64(b, &t->epoch));
        KQ_GUARD(kq_buf_get(b, t->pk, sizeof t->pk));
        KQ_ENSURE(!all_zero(t->pk, sizeof t->pk), KQ_ERR_FORMAT);
        break;
    case KQ_KEEPER_OP_DKG_MSG:
        KQ_GUARD(kq_buf_get(b, t->session.b, KQ_HASH_BYTES));
        KQ_GUARD(kq_buf_get_bytes16(b, &t->msg, &t->msg_len, KQ_DKG_MAX_MSG_BYTES));
        KQ_ENSURE(t->msg_len >= 1, KQ_ERR_FORMAT);
        break;
    case KQ_KEEPER_OP_LOST:
        KQ_GUARD(kq_buf_get_u64(b, &t->epoch));
        KQ_GUARD(kq_buf_get(b, t->pk, sizeof t->pk));
        KQ_GUARD(kq_buf_get(b, t->next_pk, sizeof t->next_pk));
        KQ_ENSURE(!all_zero(t->pk, sizeof t->pk) && !all_zero(t->next_pk, sizeof t->next_pk),
                  KQ_ERR_FORMAT);
        break;
    case KQ_KEEPER_OP_USAGE:
        KQ_GUARD(kq_buf_get_u8(b, &n));
        KQ_ENSURE(n >= 1 && n <= KQ_KEYREG_MAX_USAGE_ITEMS, KQ_ERR_LIMIT);
        for (uint32_t i = 0; i < n; i++) {
            KQ_GUARD(get_key_name(b, t->usage[i].name, true));
            KQ_GUARD(kq_buf_get_u64(b, &t->usage[i].ops));
        }
        t->n_usage = n;
        break;
    default:
        return KQ_ERR_FORMAT;
    }
    return kq_buf_expect_end(b);
}

enum kq_err kq_keeper_tx_decode(uint16_t op, struct kq_keeper_tx *t, const uint8_t *in, size_t len)
{
    struct kq_buf b;
    kq_buf_reader(&b, in, len);
    memset(t, 0, sizeof *t);
    enum kq_err err = keeper_tx_fields(op, &b, t);
    if (err != KQ_OK)
        memset(t, 0, sizeof *t);
    return err;
}

enum kq_err kq_evidence_tx_encode(const struct kq_evidence_tx *t, uint8_t *out, size_t cap,
                                  size_t *out_len)
{
    struct kq_buf b;
    kq_buf_writer(&b, out, cap);
    *out_len = 0;
    KQ_ENSURE(t->response_len >= 1 && t->response_len <= KQ_PARTIAL_MAXBYTES, KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_put_u8(&b, KQ_KEYREG_VERSION));
    KQ_GUARD(kq_buf_put_u32(&b, t->keeper));
    KQ_GUARD(kq_buf_put_str8(&b, t->name, KQ_KEY_NAME_MAX_BYTES));
    KQ_GUARD(kq_buf_put_u32(&b, t->version));
    KQ_GUARD(kq_buf_put_u64(&b, t->epoch));
    KQ_GUARD(kq_buf_put_bytes16(&b, t->response, t->response_len));
    *out_len = kq_buf_len(&b);
    return KQ_OK;
}

static enum kq_err evidence_fields(struct kq_buf *b, struct kq_evidence_tx *t)
{
    uint8_t v;
    KQ_GUARD(kq_buf_get_u8(b, &v));
    KQ_ENSURE(v == KQ_KEYREG_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_u32(b, &t->keeper));
    KQ_GUARD(get_key_name(b, t->name, true));
    KQ_GUARD(kq_buf_get_u32(b, &t->version));
    KQ_GUARD(kq_buf_get_u64(b, &t->epoch));
    KQ_GUARD(kq_buf_get_bytes16(b, &t->response, &t->response_len, KQ_PARTIAL_MAXBYTES));
    KQ_ENSURE(t->response_len >= 1 && t->keeper != 0, KQ_ERR_FORMAT);
    return kq_buf_expect_end(b);
}

enum kq_err kq_evidence_tx_decode(struct kq_evidence_tx *t, const uint8_t *in, size_t len)
{
    struct kq_buf b;
    kq_buf_reader(&b, in, len);
    memset(t, 0, sizeof *t);
    enum kq_err err = evidence_fields(&b, t);
    if (err != KQ_OK)
        memset(t, 0, sizeof *t);
    return err;
}

/* ---- shared rule helpers ---- */

enum kq_err kq_keyreg_node_by_pk(const struct kq_smt *st, const uint8_t pk[32],
                                 struct kq_member_node *n)
{
    char key[KQ_MEMBER_KEY_BYTES];
    const uint8_t *v;
    size_t len;
    memcpy(key, "nodekey/", 8);
    sodium_bin2hex(key + 8, sizeof key - 8, pk, 32);
    KQ_GUARD(kq_smt_get(st, (const uint8_t *)key, strlen(key), &v, &len));
    KQ_ENSURE(len == 4, KQ_ERR_FORMAT);
    uint32_t id = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
    return kq_member_get(st, id, n);
}

enum kq_err kq_keyreg_mark_advance(struct kq_smt **cur)
{
    struct kq_epoch_rec e;
    KQ_GUARD(kq_keyreg_epoch(*cur, &e));
    if (e.advance_pending)
        return KQ_OK;
    e.advance_pending = true;
    return kq_keyreg_put_epoch(cur, &e);
}

/* Maps a write's LIMIT to the STATE_FULL status (the tx is refused, the block goes on). */
static enum kq_err limit_status(enum kq_err err, enum kq_tx_status *status)
{
    if (err == KQ_ERR_LIMIT) {
        *status = KQ_TX_STATE_FULL;
        return KQ_OK;
    }
    return err;
}

/* ---- family KEY ---- */

/* The submitter may run key ops: an admin key, or an orchestrator node acting for an admin
 * client named in the body. */
static bool key_op_authorized(const struct kq_smt *st, const struct kq_tx *tx,
                              const struct kq_key_tx *b)
{
    if (kq_state_is_admin(st, tx->submitter_pk))
        return true;
    struct kq_member_node n;
    struct kq_client c;
    return b->client[0] != '\0' && kq_keyreg_node_by_pk(st, tx->submitter_pk, &n) == KQ_OK &&
           (n.roles & KQ_ROLE_ORCHESTRATOR) && kq_client_get(st, b->client, &c) == KQ_OK &&
           (c.roles & KQ_CLIENT_ROLE_ADMIN);
}

static enum kq_err op_create(struct kq_smt **cur, const struct kq_keyreg_ctx *c,
                             const struct kq_key_tx *b, enum kq_tx_status *status)
{
    struct kq_key_rec k;
    if (b->usage < KQ_KEY_USAGE_ENCRYPT || b->usage > KQ_KEY_USAGE_DERIVE || b->t < 1 ||
        b->t > b->n || b->n > KQ_DKG_MAX_N || b->period_ms > 3660ull * 24 * 3600 * 1000) {
        *status = KQ_TX_INVALID;
        return KQ_OK;
    }
    enum kq_err err = kq_keyreg_key(*cur, b->name, &k);
    if (err == KQ_OK) {
        *status = KQ_TX_EXISTS;
        return KQ_OK;
    }
    KQ_ENSURE(err == KQ_ERR_NOT_FOUND, err);
    struct kq_key_index *ix = malloc(sizeof *ix);
    KQ_ENSURE(ix != NULL, KQ_ERR_NOMEM);
    err = kq_keyreg_index(*cur, ix);
    bool full = err == KQ_OK && ix->count >= KQ_KEYREG_MAX_KEYS;
    free(ix);
    KQ_GUARD(err);
    if (full) {
        *status = KQ_TX_STATE_FULL;
        return KQ_OK;
    }
    k = (struct kq_key_rec){.usage = b->usage,
                            .state = KQ_KEY_ENABLED,
                            .n = b->n,
                            .t = b->t,
                            .period_ms = b->period_ms,
                            .max_ops = b->max_ops,
                            .created_height = c->height,
                            .created_ms = c->bft_ms,
                            .latest_version = 1,
                            .min_decryption_version = 1,
                            .generating_version = 1};
    snprintf(k.name, sizeof k.name, "%s", b->name);
    snprintf(k.creator, sizeof k.creator, "%s", b->client);
    bool started = false;
    kq_hash id;
    KQ_GUARD(kq_keyreg_start_fresh(cur, c, &k, 1, 0, &started, &id));
    if (!started) {
        *status = KQ_TX_NO_KEEPERS;
        return KQ_OK;
    }
    struct kq_keyver_rec v = {
        .version = 1, .state = KQ_KEYVER_GENERATING, .created_height = c->height, .session = id};
    KQ_GUARD(limit_status(kq_keyreg_put_version(cur, k.name, &v), status));
    if (*status != KQ_TX_OK)
        return KQ_OK;
    KQ_GUARD(limit_status(kq_keyreg_put_key(cur, &k), status));
    if (*status != KQ_TX_OK)
        return KQ_OK;
    return limit_status(kq_keyreg_index_update(cur, &k), status);
}

static enum kq_err op_on_key(struct kq_smt **cur, const struct kq_keyreg_ctx *c, uint16_t op,
                             const struct kq_key_tx *b, enum kq_tx_status *status)
{
    struct kq_key_rec k;
    enum kq_err err = kq_keyreg_key(*cur, b->name, &k);
    if (err == KQ_ERR_NOT_FOUND) {
        *status = KQ_TX_NOT_FOUND;
        return KQ_OK;
    }
    KQ_GUARD(err);
    bool enabled = k.state == KQ_KEY_ENABLED;
    switch (op) {
    case KQ_KEY_OP_ROTATE:
        if (!enabled || k.active_version == 0) {
            *status = KQ_TX_CONFLICT;
            return KQ_OK;
        }
        if (k.generating_version != 0) { /* a rotation already runs: proposals dedup */
            *status = KQ_TX_EXISTS;
            return KQ_OK;
        }
        {
            bool started = false;
            KQ_GUARD(limit_status(kq_keyreg_rotate(cur, c, &k, &started), status));
            if (*status == KQ_TX_OK && !started)
                *status = KQ_TX_NO_KEEPERS;
            return KQ_OK;
        }
    case KQ_KEY_OP_DELETE:
        if (!enabled) {
            *status = KQ_TX_CONFLICT;
            return KQ_OK;
        }
        k.state = KQ_KEY_PENDING_DELETION;
        k.delete_at_ms = c->bft_ms + c->params.deletion_wait_ms;
        break;
    case KQ_KEY_OP_CANCEL_DELETE:
        if (k.state != KQ_KEY_PENDING_DELETION) {
            *status = KQ_TX_CONFLICT;
            return KQ_OK;
        }
        k.state = KQ_KEY_ENABLED;
        k.delete_at_ms = 0;
        break;
    case KQ_KEY_OP_SET_MIN_VERSION:
        if (!enabled) {
            *status = KQ_TX_CONFLICT;
            return KQ_OK;
        }
        if (b->version <= k.min_decryption_version || b->version > k.active_version ||
            (k.pending_min_version != 0 && b->version <= k.pending_min_version)) {
            *status = KQ_TX_INVALID; /* never lowers; at most the active version */
            return KQ_OK;
        }
        k.pending_min_version = b->version;
        k.pending_min_at_ms = c->bft_ms + c->params.min_version_grace_ms;
        break;
    case KQ_KEY_OP_RESHARE:
        if (!enabled || k.active_version == 0) {
            *status = KQ_TX_CONFLICT;
            return KQ_OK;
        }
        {
            uint32_t n = b->n ? b->n : k.n, t = b->t ? b->t : k.t;
            if (t < 1 || t > n || n > KQ_DKG_MAX_N) {
                *status = KQ_TX_INVALID;
                return KQ_OK;
            }
            k.n = n;
            k.t = t;
        }
        KQ_GUARD(limit_status(kq_keyreg_mark_advance(cur), status));
        if (*status != KQ_TX_OK)
            return KQ_OK;
        break;
    default:
        *status = KQ_TX_UNKNOWN_TYPE;
        return KQ_OK;
    }
    KQ_GUARD(limit_status(kq_keyreg_put_key(cur, &k), status));
    if (*status != KQ_TX_OK)
        return KQ_OK;
    return limit_status(kq_keyreg_index_update(cur, &k), status);
}

static enum kq_err apply_key(struct kq_smt **cur, const struct kq_keyreg_ctx *c,
                             const struct kq_tx *tx, enum kq_tx_status *status)
{
    struct kq_key_tx b;
    enum kq_err derr = kq_key_tx_decode(tx->op, &b, tx->body, tx->body_len);
    if (derr != KQ_OK) {
        *status = derr == KQ_ERR_VERSION || tx->op < KQ_KEY_OP_CREATE || tx->op > KQ_KEY_OP_REFRESH
                      ? KQ_TX_UNKNOWN_TYPE
                      : KQ_TX_MALFORMED;
        return KQ_OK;
    }
    if (!key_op_authorized(*cur, tx, &b)) {
        *status = KQ_TX_UNAUTHORIZED;
        return KQ_OK;
    }
    if (tx->op == KQ_KEY_OP_CREATE)
        return op_create(cur, c, &b, status);
    if (tx->op == KQ_KEY_OP_REFRESH)
        return limit_status(kq_keyreg_mark_advance(cur), status);
    return op_on_key(cur, c, tx->op, &b, status);
}

/* ---- family KEEPER ---- */

static enum kq_err op_epoch_key(struct kq_smt **cur, const struct kq_keyreg_ctx *c,
                                const struct kq_member_node *n, const struct kq_keeper_tx *b,
                                enum kq_tx_status *status)
{
    uint8_t pk[KQ_DKG_X25519BYTES];
    if (b->epoch != c->epoch.number && b->epoch != c->epoch.number + 1) {
        *status = KQ_TX_INVALID;
        return KQ_OK;
    }
    enum kq_err err = kq_keyreg_epoch_key(*cur, n->node_id, b->epoch, pk);
    if (err == KQ_OK) {
        *status = KQ_TX_EXISTS;
        return KQ_OK;
    }
    KQ_ENSURE(err == KQ_ERR_NOT_FOUND, err);
    return limit_status(kq_keyreg_put_epoch_key(cur, n->node_id, b->epoch, b->pk), status);
}

static enum kq_err op_lost(struct kq_smt **cur, const struct kq_keyreg_ctx *c,
                           const struct kq_member_node *n, const struct kq_keeper_tx *b,
                           enum kq_tx_status *status)
{
    if (b->epoch != c->epoch.number) {
        *status = KQ_TX_INVALID;
        return KQ_OK;
    }
    struct kq_keeper_rec k;
    enum kq_err err = kq_keyreg_keeper(*cur, n->node_id, &k);
    if (err == KQ_ERR_NOT_FOUND)
        k = (struct kq_keeper_rec){.node_id = n->node_id};
    else
        KQ_GUARD(err);
    k.lost_height = c->height;
    KQ_GUARD(limit_status(kq_keyreg_put_keeper(cur, &k), status));
    if (*status == KQ_TX_OK)
        KQ_GUARD(limit_status(kq_keyreg_put_epoch_key(cur, n->node_id, b->epoch, b->pk), status));
    if (*status == KQ_TX_OK)
        KQ_GUARD(limit_status(kq_keyreg_put_epoch_key(cur, n->node_id, b->epoch + 1, b->next_pk),
                              status));
    if (*status == KQ_TX_OK)
        KQ_GUARD(limit_status(kq_keyreg_mark_advance(cur), status));
    return KQ_OK;
}

static int committee_index(const uint32_t *ids, uint32_t n, uint32_t id)
{
    for (uint32_t i = 0; i < n; i++)
        if (ids[i] == id)
            return (int)i + 1;
    return 0;
}

/* The DKG message rule: session running, the sender is the submitter's index in the committee
 * of the message's role, the phase is open at this height, one message per (type, sender). */
static enum kq_err op_dkg_msg(struct kq_smt **cur, const struct kq_keyreg_ctx *c,
                              const struct kq_member_node *n, const struct kq_keeper_tx *b,
                              enum kq_tx_status *status)
{
    struct kq_session_rec *s = malloc(sizeof *s);
    struct kq_session_msg *m = malloc(sizeof *m);
    enum kq_err err = s != NULL && m != NULL ? KQ_OK : KQ_ERR_NOMEM;
    struct kq_dkg_msg h;
    if (err == KQ_OK)
        err = kq_keyreg_session(*cur, &b->session, s);
    if (err == KQ_ERR_NOT_FOUND) {
        *status = KQ_TX_NOT_FOUND;
        err = KQ_OK;
        goto out;
    }
    if (err != KQ_OK)
        goto out;
    *status = KQ_TX_INVALID;
    if (s->state != KQ_SESSION_RUNNING) {
        *status = KQ_TX_CONFLICT;
        goto out;
    }
    if (kq_dkg_msg_decode_header(b->msg, b->msg_len, &h) != KQ_OK ||
        memcmp(h.session, s->id.b, KQ_HASH_BYTES) != 0)
        goto out;
    bool dealer_role = h.type == KQ_DKG_MSG_DEAL || h.type == KQ_DKG_MSG_JUSTIFICATION;
    const uint32_t *ids = dealer_role && s->mode == KQ_DKG_RESHARE ? s->old_keepers : s->keepers;
    uint32_t count = dealer_role && s->mode == KQ_DKG_RESHARE ? s->old_n : s->n;
    if (h.sender == 0 || (int)h.sender != committee_index(ids, count, n->node_id))
        goto out;
    uint64_t lo = h.type == KQ_DKG_MSG_DEAL        ? 0
                  : h.type == KQ_DKG_MSG_COMPLAINT ? s->deal_deadline
                                                   : s->complaint_deadline;
    uint64_t hi = h.type == KQ_DKG_MSG_DEAL        ? s->deal_deadline
                  : h.type == KQ_DKG_MSG_COMPLAINT ? s->complaint_deadline
                                                   : s->justify_deadline;
    if (c->height < lo || c->height >= hi) {
        *status = KQ_TX_EXPIRED;
        goto out;
    }
    for (uint32_t i = 0; i < s->msg_count; i++) {
        struct kq_dkg_msg o;
        if ((err = kq_keyreg_session_msg(*cur, &s->id, i, m)) != KQ_OK)
            goto out;
        if (kq_dkg_msg_decode_header(m->bytes, m->len, &o) == KQ_OK && o.type == h.type &&
            o.sender == h.sender) {
            *status = KQ_TX_EXISTS;
            goto out;
        }
    }
    if (s->msg_count >= KQ_KEYREG_MAX_SESSION_MSGS) {
        *status = KQ_TX_STATE_FULL;
        goto out;
    }
    *status = KQ_TX_OK;
    err = limit_status(kq_keyreg_put_session_msg(cur, &s->id, s->msg_count, c->height, h.sender,
                                                 b->msg, b->msg_len),
                       status);
    if (err != KQ_OK || *status != KQ_TX_OK)
        goto out;
    s->msg_count++;
    s->complaints += h.type == KQ_DKG_MSG_COMPLAINT;
    err = limit_status(kq_keyreg_put_session(cur, s), status);
out:
    free(s);
    free(m);
    return err;
}

static enum kq_err op_usage(struct kq_smt **cur, const struct kq_keyreg_ctx *c,
                            const struct kq_keeper_tx *b, enum kq_tx_status *status)
{
    for (uint32_t i = 0; i < b->n_usage && *status == KQ_TX_OK; i++) {
        struct kq_key_rec k;
        enum kq_err err = kq_keyreg_key(*cur, b->usage[i].name, &k);
        if (err == KQ_ERR_NOT_FOUND)
            continue; /* a key deleted meanwhile: nothing to count */
        KQ_GUARD(err);
        if (k.state != KQ_KEY_ENABLED || k.active_version == 0)
            continue;
        k.ops = b->usage[i].ops > UINT64_MAX - k.ops ? UINT64_MAX : k.ops + b->usage[i].ops;
        if (k.max_ops > 0 && k.ops >= k.max_ops && k.generating_version == 0) {
            bool started = false;
            KQ_GUARD(limit_status(kq_keyreg_rotate(cur, c, &k, &started), status));
            if (started)
                continue;
        }
        KQ_GUARD(limit_status(kq_keyreg_put_key(cur, &k), status));
    }
    return KQ_OK;
}

static enum kq_err apply_keeper(struct kq_smt **cur, const struct kq_keyreg_ctx *c,
                                const struct kq_tx *tx, enum kq_tx_status *status)
{
    struct kq_keeper_tx *b = malloc(sizeof *b);
    KQ_ENSURE(b != NULL, KQ_ERR_NOMEM);
    struct kq_member_node n;
    enum kq_err err = KQ_OK, derr = kq_keeper_tx_decode(tx->op, b, tx->body, tx->body_len);
    if (derr != KQ_OK) {
        *status =
            derr == KQ_ERR_VERSION || tx->op < KQ_KEEPER_OP_EPOCH_KEY || tx->op > KQ_KEEPER_OP_USAGE
                ? KQ_TX_UNKNOWN_TYPE
                : KQ_TX_MALFORMED;
        goto out;
    }
    unsigned need = tx->op == KQ_KEEPER_OP_USAGE ? KQ_ROLE_ORCHESTRATOR : KQ_ROLE_KEEPER;
    err = kq_keyreg_node_by_pk(*cur, tx->submitter_pk, &n);
    if (err == KQ_ERR_NOT_FOUND || (err == KQ_OK && !(n.roles & need))) {
        *status = KQ_TX_UNAUTHORIZED;
        err = KQ_OK;
        goto out;
    }
    if (err != KQ_OK)
        goto out;
    switch (tx->op) {
    case KQ_KEEPER_OP_EPOCH_KEY:
        err = op_epoch_key(cur, c, &n, b, status);
        break;
    case KQ_KEEPER_OP_DKG_MSG:
        err = op_dkg_msg(cur, c, &n, b, status);
        break;
    case KQ_KEEPER_OP_LOST:
        err = op_lost(cur, c, &n, b, status);
        break;
    default:
        err = op_usage(cur, c, b, status);
        break;
    }
out:
    free(b);
    return err;
}

/* ---- family EVIDENCE ---- */

static enum kq_err apply_evidence(struct kq_smt **cur, const struct kq_keyreg_ctx *c,
                                  const struct kq_tx *tx, enum kq_tx_status *status)
{
    (void)c;
    struct kq_evidence_tx b;
    struct kq_member_node reporter, keeper;
    struct kq_partial_resp r;
    if (tx->op != KQ_EVIDENCE_OP_PARTIAL) {
        *status = KQ_TX_UNKNOWN_TYPE;
        return KQ_OK;
    }
    enum kq_err derr = kq_evidence_tx_decode(&b, tx->body, tx->body_len);
    if (derr != KQ_OK || kq_partial_decode(&r, b.response, b.response_len) != KQ_OK) {
        *status = derr == KQ_ERR_VERSION ? KQ_TX_UNKNOWN_TYPE : KQ_TX_MALFORMED;
        return KQ_OK;
    }
    enum kq_err err = kq_keyreg_node_by_pk(*cur, tx->submitter_pk, &reporter);
    if (err == KQ_ERR_NOT_FOUND) {
        *status = KQ_TX_UNAUTHORIZED;
        return KQ_OK;
    }
    KQ_GUARD(err);
    struct kq_sharing_rec *s = malloc(sizeof *s);
    KQ_ENSURE(s != NULL, KQ_ERR_NOMEM);
    *status = KQ_TX_INVALID;
    err = kq_member_get(*cur, b.keeper, &keeper);
    if (err == KQ_OK)
        err = kq_keyreg_sharing(*cur, b.name, b.version, b.epoch, s);
    if (err == KQ_ERR_NOT_FOUND) {
        *status = KQ_TX_NOT_FOUND;
        err = KQ_OK;
        goto out;
    }
    if (err != KQ_OK)
        goto out;
    /* The response must be about this key, version and epoch, at the keeper's own index, and be
     * attributable (its signature) and false (its proof): kq_partial_evidence_check. */
    int idx = committee_index(s->keepers, s->n, b.keeper);
    if (idx == 0 || r.index != (uint32_t)idx || r.key_version != b.version || r.epoch != b.epoch ||
        r.key_id_len != strlen(b.name) || memcmp(r.key_id, b.name, r.key_id_len) != 0 ||
        kq_partial_evidence_check(&r, keeper.identity_pk, s->public_shares[idx - 1]) != 1)
        goto out;
    kq_hash h;
    char key[KQ_LEDGER_MAX_KEY_BYTES + 1], hex[2 * KQ_HASH_BYTES + 1];
    const uint8_t *v;
    size_t vlen;
    kq_hash_tagged(&h, "keyquorum/v1/evidence", b.response, b.response_len);
    kq_hash_hex(&h, hex);
    snprintf(key, sizeof key, "evidence/%s", hex);
    if (kq_smt_get(*cur, (const uint8_t *)key, strlen(key), &v, &vlen) == KQ_OK) {
        *status = KQ_TX_EXISTS;
        goto out;
    }
    *status = KQ_TX_OK;
    err = limit_status(kq_state_put(cur, key, tx->body, tx->body_len), status);
    struct kq_keeper_rec k;
    if (err == KQ_OK && *status == KQ_TX_OK) {
        err = kq_keyreg_keeper(*cur, b.keeper, &k);
        if (err == KQ_ERR_NOT_FOUND) {
            k = (struct kq_keeper_rec){.node_id = b.keeper};
            err = KQ_OK;
        }
    }
    if (err == KQ_OK && *status == KQ_TX_OK) {
        k.faults++;
        bool newly = !k.quarantined;
        k.quarantined = true;
        err = limit_status(kq_keyreg_put_keeper(cur, &k), status);
        if (err == KQ_OK && *status == KQ_TX_OK && newly)
            err = limit_status(kq_keyreg_mark_advance(cur), status);
    }
out:
    free(s);
    return err;
}

/* ---- membership changes ---- */

enum kq_err kq_keyreg_member_changed(const struct kq_smt *pre, const struct kq_tx *tx,
                                     struct kq_smt **next)
{
    struct kq_member_node old, now;
    uint32_t id = 0;
    struct kq_epoch_rec e;
    if (tx->op == KQ_MEMBER_OP_REMOVE) {
        if (kq_member_remove_decode(&id, tx->body, tx->body_len) != KQ_OK)
            return KQ_OK;
    } else if (tx->op == KQ_MEMBER_OP_UPDATE) {
        if (kq_member_node_decode(&now, tx->body, tx->body_len) != KQ_OK)
            return KQ_OK;
        id = now.node_id;
    } else {
        return KQ_OK;
    }
    if (kq_member_get(pre, id, &old) != KQ_OK || !(old.roles & KQ_ROLE_KEEPER) ||
        kq_keyreg_epoch(*next, &e) != KQ_OK)
        return KQ_OK;
    if (kq_member_get(*next, id, &now) == KQ_OK && (now.roles & KQ_ROLE_KEEPER))
        return KQ_OK;
    enum kq_err err = kq_keyreg_mark_advance(next);
    return err == KQ_ERR_LIMIT ? KQ_OK : err;
}

/* ---- entry ---- */

enum kq_err kq_keyreg_apply(const struct kq_smt *st, const struct kq_tx *tx,
                            const kq_hash *chain_id, uint64_t height, uint64_t bft_time_ms,
                            struct kq_smt **out, enum kq_tx_status *status)
{
    struct kq_keyreg_ctx c;
    *out = NULL;
    *status = KQ_TX_OK;
    enum kq_err err = kq_keyreg_ctx_load(st, chain_id, height, bft_time_ms, &c);
    if (err == KQ_ERR_NOT_FOUND) { /* a state without a registry (no genesis parameters) */
        *status = KQ_TX_UNKNOWN_TYPE;
        return KQ_OK;
    }
    KQ_GUARD(err);
    struct kq_smt *cur = kq_smt_ref((struct kq_smt *)st);
    if (tx->family == KQ_TX_FAMILY_KEY)
        err = apply_key(&cur, &c, tx, status);
    else if (tx->family == KQ_TX_FAMILY_KEEPER)
        err = apply_keeper(&cur, &c, tx, status);
    else if (tx->family == KQ_TX_FAMILY_EVIDENCE)
        err = apply_evidence(&cur, &c, tx, status);
    else
        *status = KQ_TX_UNKNOWN_TYPE;
    if (err != KQ_OK || *status != KQ_TX_OK) {
        kq_smt_unref(cur);
        return err;
    }
    *out = cur;
    return KQ_OK;
}
