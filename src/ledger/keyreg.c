/* The key registry's records: parameters, state keys, strict codecs, getters and put helpers
 * (docs/keys.md §1). Every record starts with KQ_KEYREG_VERSION; decoders reject unknown
 * versions, out-of-range fields and trailing bytes, and zero their output on failure. */
#include "ledger/keyreg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "ledger/state.h"
#include "ledger/keyreg_internal.h"

#define DAY_MS (24ull * 3600 * 1000)

void kq_keyparams_default(struct kq_keyparams *p)
{
    *p = (struct kq_keyparams){.deletion_wait_ms = 7 * DAY_MS,
                               .min_version_grace_ms = DAY_MS,
                               .refresh_period_ms = DAY_MS,
                               .activation_delay_blocks = 2,
                               .epoch_grace_blocks = 50,
                               .dkg_deal_blocks = 10,
                               .dkg_complaint_blocks = 5,
                               .dkg_justify_blocks = 5};
}

void kq_keyparams_dev(struct kq_keyparams *p)
{
    *p = (struct kq_keyparams){.deletion_wait_ms = 10000,
                               .min_version_grace_ms = 5000,
                               .refresh_period_ms = 0,
                               .activation_delay_blocks = 2,
                               .epoch_grace_blocks = 20,
                               .dkg_deal_blocks = 6,
                               .dkg_complaint_blocks = 3,
                               .dkg_justify_blocks = 3};
}

enum kq_err kq_keyparams_check(const struct kq_keyparams *p)
{
    KQ_ENSURE(p->dkg_deal_blocks >= 1 && p->dkg_deal_blocks <= 1000, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(p->dkg_complaint_blocks >= 1 && p->dkg_complaint_blocks <= 1000, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(p->dkg_justify_blocks >= 1 && p->dkg_justify_blocks <= 1000, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(p->activation_delay_blocks <= 100000 && p->epoch_grace_blocks <= 100000,
              KQ_ERR_INVALID_ARG);
    KQ_ENSURE(p->deletion_wait_ms <= 366 * DAY_MS && p->min_version_grace_ms <= 366 * DAY_MS &&
                  p->refresh_period_ms <= 3660 * DAY_MS,
              KQ_ERR_INVALID_ARG);
    return KQ_OK;
}

bool kq_key_name_ok(const char *name, size_t len)
{
    if (name == NULL || len == 0 || len > KQ_KEY_NAME_MAX_BYTES)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* ---- state keys ---- */

void kq_keyreg_key_path(char *out, const char *name)
{
    snprintf(out, KQ_LEDGER_MAX_KEY_BYTES + 1, "key/%s", name);
}

void kq_keyreg_version_path(char *out, const char *name, uint32_t version)
{
    snprintf(out, KQ_LEDGER_MAX_KEY_BYTES + 1, "keyv/%s/%" PRIu32, name, version);
}

void kq_keyreg_sharing_path(char *out, const char *name, uint32_t version, uint64_t epoch)
{
    snprintf(out, KQ_LEDGER_MAX_KEY_BYTES + 1, "keye/%s/%" PRIu32 "/%" PRIu64, name, version,
             epoch);
}

static void session_path(char *out, const kq_hash *id)
{
    char hex[2 * KQ_HASH_BYTES + 1];
    kq_hash_hex(id, hex);
    snprintf(out, KQ_LEDGER_MAX_KEY_BYTES + 1, "dkg/%s", hex);
}

static void session_msg_path(char *out, const kq_hash *id, uint32_t i)
{
    char hex[2 * KQ_HASH_BYTES + 1];
    kq_hash_hex(id, hex);
    snprintf(out, KQ_LEDGER_MAX_KEY_BYTES + 1, "dkgm/%s/%" PRIu32, hex, i);
}

#define PARAMS_KEY   "keyparams"
#define EPOCH_KEY    "epoch"
#define INDEX_KEY    "keys"
#define DUE_KEY      "keys/due" /* the index's earliest next_due_ms: one small read per block */
#define SESSIONS_KEY "dkg/active"

/* ---- small codec helpers ---- */

/* A name of 0..max bytes (empty allowed only if allow_empty) into out (max + 1 bytes). */
static enum kq_err get_name(struct kq_buf *b, char *out, size_t max, bool key_name,
                            bool allow_empty)
{
    KQ_GUARD(kq_buf_get_str8(b, out, max));
    size_t n = strlen(out);
    KQ_ENSURE(n > 0 || allow_empty, KQ_ERR_FORMAT);
    KQ_ENSURE(!key_name || n == 0 || kq_key_name_ok(out, n), KQ_ERR_FORMAT);
    return KQ_OK;
}

static enum kq_err get_version_byte(struct kq_buf *b)
{
    uint8_t v;
    KQ_GUARD(kq_buf_get_u8(b, &v));
    KQ_ENSURE(v == KQ_KEYREG_VERSION, KQ_ERR_VERSION);
    return KQ_OK;
}

static enum kq_err get_bool(struct kq_buf *b, bool *out)
{
    uint8_t v;
    KQ_GUARD(kq_buf_get_u8(b, &v));
    KQ_ENSURE(v <= 1, KQ_ERR_FORMAT);
    *out = v == 1;
    return KQ_OK;
}

static enum kq_err finish(struct kq_buf *b, size_t *out_len)
{
    *out_len = kq_buf_len(b);
    return KQ_OK;
}

/* ---- params ---- */

static enum kq_err params_encode(const struct kq_keyparams *p, uint8_t *out, size_t cap,
                                 size_t *out_len)
{
    struct kq_buf b;
    kq_buf_writer(&b, out, cap);
    *out_len = 0;
    KQ_GUARD(kq_buf_put_u8(&b, KQ_KEYREG_VERSION));
    KQ_GUARD(kq_buf_put_u64(&b, p->deletion_wait_ms));
    KQ_GUARD(kq_buf_put_u64(&b, p->min_version_grace_ms));
    KQ_GUARD(kq_buf_put_u64(&b, p->refresh_period_ms));
    KQ_GUARD(kq_buf_put_u32(&b, p->activation_delay_blocks));
    KQ_GUARD(kq_buf_put_u32(&b, p->epoch_grace_blocks));
    KQ_GUARD(kq_buf_put_u32(&b, p->dkg_deal_blocks));
    KQ_GUARD(kq_buf_put_u32(&b, p->dkg_complaint_blocks));
    KQ_GUARD(kq_buf_put_u32(&b, p->dkg_justify_blocks));
    return finish(&b, out_len);
}

enum kq_err kq_keyparams_decode(struct kq_keyparams *p, const uint8_t *in, size_t len)
{
    struct kq_buf b;
    kq_buf_reader(&b, in, len);
    memset(p, 0, sizeof *p);
    enum kq_err err;
    if ((err = get_version_byte(&b)) != KQ_OK || (err = kq_buf_get_u64(&b, &p->deletion_wait_ms)) ||
        (err = kq_buf_get_u64(&b, &p->min_version_grace_ms)) ||
        (err = kq_buf_get_u64(&b, &p->refresh_period_ms)) ||
        (err = kq_buf_get_u32(&b, &p->activation_delay_blocks)) ||
        (err = kq_buf_get_u32(&b, &p->epoch_grace_blocks)) ||
        (err = kq_buf_get_u32(&b, &p->dkg_deal_blocks)) ||
        (err = kq_buf_get_u32(&b, &p->dkg_complaint_blocks)) ||
        (err = kq_buf_get_u32(&b, &p->dkg_justify_blocks)) || (err = kq_buf_expect_end(&b)) ||
        (err = kq_keyparams_check(p)) != KQ_OK) {
        memset(p, 0, sizeof *p);
        return err == KQ_ERR_INVALID_ARG ? KQ_ERR_FORMAT : err;
    }
    return KQ_OK;
}

/* ---- epoch ---- */

enum kq_err kq_epoch_rec_encode(const struct kq_epoch_rec *e, uint8_t *out, size_t cap,
                                size_t *out_len)
{
    struct kq_buf b;
    kq_buf_writer(&b, out, cap);
    *out_len = 0;
    KQ_GUARD(kq_buf_put_u8(&b, KQ_KEYREG_VERSION));
    KQ_GUARD(kq_buf_put_u64(&b, e->number));
    KQ_GUARD(kq_buf_put_u64(&b, e->start_height));
    KQ_GUARD(kq_buf_put_u64(&b, e->start_ms));
    KQ_GUARD(kq_buf_put_u8(&b, e->advance_pending ? 1 : 0));
    KQ_GUARD(kq_buf_put_u8(&b, e->backlog ? 1 : 0));
    return finish(&b, out_len);
}

enum kq_err kq_epoch_rec_decode(struct kq_epoch_rec *e, const uint8_t *in, size_t len)
{
    struct kq_buf b;
    kq_buf_reader(&b, in, len);
    memset(e, 0, sizeof *e);
    enum kq_err err;
    if ((err = get_version_byte(&b)) || (err = kq_buf_get_u64(&b, &e->number)) ||
        (err = kq_buf_get_u64(&b, &e->start_height)) || (err = kq_buf_get_u64(&b, &e->start_ms)) ||
        (err = get_bool(&b, &e->advance_pending)) || (err = get_bool(&b, &e->backlog)) ||
        (err = kq_buf_expect_end(&b))) {
        memset(e, 0, sizeof *e);
        return err;
    }
    if (e->number == 0) {
        memset(e, 0, sizeof *e);
        return KQ_ERR_FORMAT;
    }
    return KQ_OK;
}

/* ---- key ---- */

enum kq_err kq_key_rec_encode(const struct kq_key_rec *k, uint8_t *out, size_t cap, size_t *out_len)
{
    struct kq_buf b;
    kq_buf_writer(&b, out, cap);
    *out_len = 0;
    KQ_GUARD(kq_buf_put_u8(&b, KQ_KEYREG_VERSION));
    KQ_GUARD(kq_buf_put_str8(&b, k->name, KQ_KEY_NAME_MAX_BYTES));
    KQ_GUARD(kq_buf_put_u8(&b, k->usage));
    KQ_GUARD(kq_buf_put_u8(&b, k->state));
    KQ_GUARD(kq_buf_put_u32(&b, k->n));
    KQ_GUARD(kq_buf_put_u32(&b, k->t));
    KQ_GUARD(kq_buf_put_u64(&b, k->period_ms));
    KQ_GUARD(kq_buf_put_u64(&b, k->max_ops));
    KQ_GUARD(kq_buf_put_u64(&b, k->created_height));
    KQ_GUARD(kq_buf_put_u64(&b, k->created_ms));
    KQ_GUARD(kq_buf_put_u32(&b, k->latest_version));
    KQ_GUARD(kq_buf_put_u32(&b, k->active_version));
    KQ_GUARD(kq_buf_put_u32(&b, k->min_decryption_version));
    KQ_GUARD(kq_buf_put_u32(&b, k->pending_min_version));
    KQ_GUARD(kq_buf_put_u64(&b, k->pending_min_at_ms));
    KQ_GUARD(kq_buf_put_u32(&b, k->generating_version));
    KQ_GUARD(kq_buf_put_u64(&b, k->active_since_ms));
    KQ_GUARD(kq_buf_put_u64(&b, k->ops));
    KQ_GUARD(kq_buf_put_u64(&b, k->delete_at_ms));
    KQ_GUARD(kq_buf_put_u64(&b, k->retry_at_ms));
    KQ_GUARD(kq_buf_put_str8(&b, k->creator, KQ_LEDGER_CLIENT_ID_MAX_BYTES));
    return finish(&b, out_len);
}

static enum kq_err key_fields(struct kq_buf *b, struct kq_key_rec *k)
{
    KQ_GUARD(get_version_byte(b));
    KQ_GUARD(get_name(b, k->name, KQ_KEY_NAME_MAX_BYTES, true, false));
    KQ_GUARD(kq_buf_get_u8(b, &k->usage));
    KQ_GUARD(kq_buf_get_u8(b, &k->state));
    KQ_GUARD(kq_buf_get_u32(b, &k->n));
    KQ_GUARD(kq_buf_get_u32(b, &k->t));
    KQ_GUARD(kq_buf_get_u64(b, &k->period_ms));
    KQ_GUARD(kq_buf_get_u64(b, &k->max_ops));
    KQ_GUARD(kq_buf_get_u64(b, &k->created_height));
    KQ_GUARD(kq_buf_get_u64(b, &k->created_ms));
    KQ_GUARD(kq_buf_get_u32(b, &k->latest_version));
    KQ_GUARD(kq_buf_get_u32(b, &k->active_version));
    KQ_GUARD(kq_buf_get_u32(b, &k->min_decryption_version));
    KQ_GUARD(kq_buf_get_u32(b, &k->pending_min_version));
    KQ_GUARD(kq_buf_get_u64(b, &k->pending_min_at_ms));
    KQ_GUARD(kq_buf_get_u32(b, &k->generating_version));
    KQ_GUARD(kq_buf_get_u64(b, &k->active_since_ms));
    KQ_GUARD(kq_buf_get_u64(b, &k->ops));
    KQ_GUARD(kq_buf_get_u64(b, &k->delete_at_ms));
    KQ_GUARD(kq_buf_get_u64(b, &k->retry_at_ms));
    KQ_GUARD(get_name(b, k->creator, KQ_LEDGER_CLIENT_ID_MAX_BYTES, false, true));
    KQ_GUARD(kq_buf_expect_end(b));
    KQ_ENSURE(k->usage >= KQ_KEY_USAGE_ENCRYPT && k->usage <= KQ_KEY_USAGE_DERIVE, KQ_ERR_FORMAT);
    KQ_ENSURE(k->state >= KQ_KEY_ENABLED && k->state <= KQ_KEY_DELETED, KQ_ERR_FORMAT);
    KQ_ENSURE(k->t >= 1 && k->t <= k->n && k->n <= KQ_DKG_MAX_N, KQ_ERR_FORMAT);
    KQ_ENSURE(k->active_version <= k->latest_version && k->generating_version <= k->latest_version,
              KQ_ERR_FORMAT);
    return KQ_OK;
}

enum kq_err kq_key_rec_decode(struct kq_key_rec *k, const uint8_t *in, size_t len)
{
    struct kq_buf b;
    kq_buf_reader(&b, in, len);
    memset(k, 0, sizeof *k);
    enum kq_err err = key_fields(&b, k);
    if (err != KQ_OK)
        memset(k, 0, sizeof *k);
    return err;
}

/* ---- version ---- */

enum kq_err kq_keyver_rec_encode(const struct kq_keyver_rec *v, uint8_t *out, size_t cap,
                                 size_t *out_len)
{
    struct kq_buf b;
    kq_buf_writer(&b, out, cap);
    *out_len = 0;
    KQ_GUARD(kq_buf_put_u8(&b, KQ_KEYREG_VERSION));
    KQ_GUARD(kq_buf_put_u32(&b, v->version));
    KQ_GUARD(kq_buf_put_u8(&b, v->state));
    KQ_GUARD(kq_buf_put_u64(&b, v->created_height));
    KQ_GUARD(kq_buf_put_u64(&b, v->finalized_height));
    KQ_GUARD(kq_buf_put_u64(&b, v->activate_height));
    KQ_GUARD(kq_buf_put(&b, v->public_key, KQ_POINTBYTES));
    KQ_GUARD(kq_buf_put_u64(&b, v->epoch));
    KQ_GUARD(kq_buf_put_u64(&b, v->prev_epoch));
    KQ_GUARD(kq_buf_put_u64(&b, v->prev_until_height));
    KQ_GUARD(kq_buf_put_u64(&b, v->want_epoch));
    KQ_GUARD(kq_buf_put(&b, v->session.b, KQ_HASH_BYTES));
    KQ_GUARD(kq_buf_put_u32(&b, v->attempts));
    return finish(&b, out_len);
}

static enum kq_err keyver_fields(struct kq_buf *b, struct kq_keyver_rec *v)
{
    KQ_GUARD(get_version_byte(b));
    KQ_GUARD(kq_buf_get_u32(b, &v->version));
    KQ_GUARD(kq_buf_get_u8(b, &v->state));
    KQ_GUARD(kq_buf_get_u64(b, &v->created_height));
    KQ_GUARD(kq_buf_get_u64(b, &v->finalized_height));
    KQ_GUARD(kq_buf_get_u64(b, &v->activate_height));
    KQ_GUARD(kq_buf_get(b, v->public_key, KQ_POINTBYTES));
    KQ_GUARD(kq_buf_get_u64(b, &v->epoch));
    KQ_GUARD(kq_buf_get_u64(b, &v->prev_epoch));
    KQ_GUARD(kq_buf_get_u64(b, &v->prev_until_height));
    KQ_GUARD(kq_buf_get_u64(b, &v->want_epoch));
    KQ_GUARD(kq_buf_get(b, v->session.b, KQ_HASH_BYTES));
    KQ_GUARD(kq_buf_get_u32(b, &v->attempts));
    KQ_GUARD(kq_buf_expect_end(b));
    KQ_ENSURE(v->version >= 1, KQ_ERR_FORMAT);
    KQ_ENSURE(v->state >= KQ_KEYVER_GENERATING && v->state <= KQ_KEYVER_DELETED, KQ_ERR_FORMAT);
    /* a version with a sharing has a valid public key */
    KQ_ENSURE(v->epoch == 0 || kq_pt_check(v->public_key) == KQ_OK, KQ_ERR_FORMAT);
    return KQ_OK;
}

enum kq_err kq_keyver_rec_decode(struct kq_keyver_rec *v, const uint8_t *in, size_t len)
{
    struct kq_buf b;
    kq_buf_reader(&b, in, len);
    memset(v, 0, sizeof *v);
    enum kq_err err = keyver_fields(&b, v);
    if (err != KQ_OK)
        memset(v, 0, sizeof *v);
    return err;
}

/* ---- sharing ---- */

static enum kq_err put_ids(struct kq_buf *b, const uint32_t *ids, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        KQ_GUARD(kq_buf_put_u32(b, ids[i]));
    return KQ_OK;
}

/* n distinct nonzero node ids. */
static enum kq_err get_ids(struct kq_buf *b, uint32_t *ids, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        KQ_GUARD(kq_buf_get_u32(b, &ids[i]));
        KQ_ENSURE(ids[i] != 0 && ids[i] <= KQ_LEDGER_MAX_NODE_ID, KQ_ERR_FORMAT);
        for (uint32_t j = 0; j < i; j++)
            KQ_ENSURE(ids[j] != ids[i], KQ_ERR_FORMAT);
    }
    return KQ_OK;
}

static enum kq_err get_points(struct kq_buf *b, uint8_t (*pts)[KQ_POINTBYTES], uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        KQ_GUARD(kq_buf_get(b, pts[i], KQ_POINTBYTES));
        KQ_ENSURE(kq_pt_check_allow_identity(pts[i]) == KQ_OK, KQ_ERR_FORMAT);
    }
    return KQ_OK;
}

enum kq_err kq_sharing_rec_encode(const struct kq_sharing_rec *s, uint8_t *out, size_t cap,
                                  size_t *out_len)
{
    struct kq_buf b;
    kq_buf_writer(&b, out, cap);
    *out_len = 0;
    KQ_ENSURE(s->n >= 1 && s->n <= KQ_DKG_MAX_N && s->t >= 1 && s->t <= s->n, KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_put_u8(&b, KQ_KEYREG_VERSION));
    KQ_GUARD(kq_buf_put_u64(&b, s->epoch));
    KQ_GUARD(kq_buf_put_u32(&b, s->n));
    KQ_GUARD(kq_buf_put_u32(&b, s->t));
    KQ_GUARD(put_ids(&b, s->keepers, s->n));
    KQ_GUARD(kq_buf_put(&b, s->commits, (size_t)s->t * KQ_POINTBYTES));
    KQ_GUARD(kq_buf_put(&b, s->public_shares, (size_t)s->n * KQ_POINTBYTES));
    KQ_GUARD(kq_buf_put_u64(&b, s->effective_height));
    KQ_GUARD(kq_buf_put(&b, s->session.b, KQ_HASH_BYTES));
    return finish(&b, out_len);
}

static enum kq_err sharing_fields(struct kq_buf *b, struct kq_sharing_rec *s)
{
    KQ_GUARD(get_version_byte(b));
    KQ_GUARD(kq_buf_get_u64(b, &s->epoch));
    KQ_GUARD(kq_buf_get_u32(b, &s->n));
    KQ_GUARD(kq_buf_get_u32(b, &s->t));
    KQ_ENSURE(s->n >= 1 && s->n <= KQ_DKG_MAX_N, KQ_ERR_LIMIT);
    KQ_ENSURE(s->t >= 1 && s->t <= s->n, KQ_ERR_FORMAT);
    KQ_GUARD(get_ids(b, s->keepers, s->n));
    KQ_GUARD(get_points(b, s->commits, s->t));
    KQ_GUARD(get_points(b, s->public_shares, s->n));
    KQ_GUARD(kq_buf_get_u64(b, &s->effective_height));
    KQ_GUARD(kq_buf_get(b, s->session.b, KQ_HASH_BYTES));
    KQ_GUARD(kq_buf_expect_end(b));
    KQ_ENSURE(s->epoch >= 1 && kq_pt_check(s->commits[0]) == KQ_OK, KQ_ERR_FORMAT);
    return KQ_OK;
}

enum kq_err kq_sharing_rec_decode(struct kq_sharing_rec *s, const uint8_t *in, size_t len)
{
    struct kq_buf b;
    kq_buf_reader(&b, in, len);
    memset(s, 0, sizeof *s);
    enum kq_err err = sharing_fields(&b, s);
    if (err != KQ_OK)
        memset(s, 0, sizeof *s);
    return err;
}

/* ---- session ---- */

enum kq_err kq_session_rec_encode(const struct kq_session_rec *s, uint8_t *out, size_t cap,
                                  size_t *out_len)
{
    struct kq_buf b;
    kq_buf_writer(&b, out, cap);
    *out_len = 0;
    KQ_ENSURE(s->n >= 1 && s->n <= KQ_DKG_MAX_N && s->old_n <= KQ_DKG_MAX_N &&
                  s->old_t <= KQ_DKG_MAX_N,
              KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_put_u8(&b, KQ_KEYREG_VERSION));
    KQ_GUARD(kq_buf_put(&b, s->id.b, KQ_HASH_BYTES));
    KQ_GUARD(kq_buf_put_str8(&b, s->name, KQ_KEY_NAME_MAX_BYTES));
    KQ_GUARD(kq_buf_put_u32(&b, s->version));
    KQ_GUARD(kq_buf_put_u8(&b, s->mode));
    KQ_GUARD(kq_buf_put_u8(&b, s->state));
    KQ_GUARD(kq_buf_put_u64(&b, s->epoch));
    KQ_GUARD(kq_buf_put_u32(&b, s->attempt));
    KQ_GUARD(kq_buf_put_u32(&b, s->n));
    KQ_GUARD(kq_buf_put_u32(&b, s->t));
    KQ_GUARD(put_ids(&b, s->keepers, s->n));
    KQ_GUARD(kq_buf_put(&b, s->pks, (size_t)s->n * KQ_DKG_X25519BYTES));
    KQ_GUARD(kq_buf_put_u64(&b, s->old_epoch));
    KQ_GUARD(kq_buf_put_u32(&b, s->old_n));
    KQ_GUARD(kq_buf_put_u32(&b, s->old_t));
    KQ_GUARD(put_ids(&b, s->old_keepers, s->old_n));
    KQ_GUARD(kq_buf_put(&b, s->old_pks, (size_t)s->old_n * KQ_DKG_X25519BYTES));
    KQ_GUARD(kq_buf_put(&b, s->old_commits, (size_t)s->old_t * KQ_POINTBYTES));
    KQ_GUARD(kq_buf_put_u64(&b, s->start_height));
    KQ_GUARD(kq_buf_put_u64(&b, s->deal_deadline));
    KQ_GUARD(kq_buf_put_u64(&b, s->complaint_deadline));
    KQ_GUARD(kq_buf_put_u64(&b, s->justify_deadline));
    KQ_GUARD(kq_buf_put_u32(&b, s->msg_count));
    KQ_GUARD(kq_buf_put_u32(&b, s->complaints));
    return finish(&b, out_len);
}

static enum kq_err session_fields(struct kq_buf *b, struct kq_session_rec *s)
{
    KQ_GUARD(get_version_byte(b));
    KQ_GUARD(kq_buf_get(b, s->id.b, KQ_HASH_BYTES));
    KQ_GUARD(get_name(b, s->name, KQ_KEY_NAME_MAX_BYTES, true, false));
    KQ_GUARD(kq_buf_get_u32(b, &s->version));
    KQ_GUARD(kq_buf_get_u8(b, &s->mode));
    KQ_GUARD(kq_buf_get_u8(b, &s->state));
    KQ_GUARD(kq_buf_get_u64(b, &s->epoch));
    KQ_GUARD(kq_buf_get_u32(b, &s->attempt));
    KQ_GUARD(kq_buf_get_u32(b, &s->n));
    KQ_GUARD(kq_buf_get_u32(b, &s->t));
    KQ_ENSURE(s->n >= 1 && s->n <= KQ_DKG_MAX_N, KQ_ERR_LIMIT);
    KQ_ENSURE(s->t >= 1 && s->t <= s->n, KQ_ERR_FORMAT);
    KQ_GUARD(get_ids(b, s->keepers, s->n));
    KQ_GUARD(kq_buf_get(b, s->pks, (size_t)s->n * KQ_DKG_X25519BYTES));
    KQ_GUARD(kq_buf_get_u64(b, &s->old_epoch));
    KQ_GUARD(kq_buf_get_u32(b, &s->old_n));
    KQ_GUARD(kq_buf_get_u32(b, &s->old_t));
    KQ_ENSURE(s->old_n <= KQ_DKG_MAX_N && s->old_t <= s->old_n, KQ_ERR_LIMIT);
    KQ_GUARD(get_ids(b, s->old_keepers, s->old_n));
    KQ_GUARD(kq_buf_get(b, s->old_pks, (size_t)s->old_n * KQ_DKG_X25519BYTES));
    KQ_GUARD(get_points(b, s->old_commits, s->old_t));
    KQ_GUARD(kq_buf_get_u64(b, &s->start_height));
    KQ_GUARD(kq_buf_get_u64(b, &s->deal_deadline));
    KQ_GUARD(kq_buf_get_u64(b, &s->complaint_deadline));
    KQ_GUARD(kq_buf_get_u64(b, &s->justify_deadline));
    KQ_GUARD(kq_buf_get_u32(b, &s->msg_count));
    KQ_GUARD(kq_buf_get_u32(b, &s->complaints));
    KQ_GUARD(kq_buf_expect_end(b));
    KQ_ENSURE(s->mode >= KQ_DKG_FRESH && s->mode <= KQ_DKG_RESHARE, KQ_ERR_FORMAT);
    KQ_ENSURE(s->state >= KQ_SESSION_RUNNING && s->state <= KQ_SESSION_FAILED, KQ_ERR_FORMAT);
    KQ_ENSURE(s->mode == KQ_DKG_FRESH || (s->old_n >= 1 && s->old_t >= 1), KQ_ERR_FORMAT);
    KQ_ENSURE(s->start_height < s->deal_deadline && s->deal_deadline < s->complaint_deadline &&
                  s->complaint_deadline < s->justify_deadline,
              KQ_ERR_FORMAT);
    KQ_ENSURE(s->msg_count <= KQ_KEYREG_MAX_SESSION_MSGS && s->complaints <= s->msg_count,
              KQ_ERR_FORMAT);
    return KQ_OK;
}

enum kq_err kq_session_rec_decode(struct kq_session_rec *s, const uint8_t *in, size_t len)
{
    struct kq_buf b;
    kq_buf_reader(&b, in, len);
    memset(s, 0, sizeof *s);
    enum kq_err err = session_fields(&b, s);
    if (err != KQ_OK)
        memset(s, 0, sizeof *s);
    return err;
}

/* ---- session messages, session list, keepers, epoch keys, index ---- */

enum kq_err kq_session_msg_encode(uint64_t height, uint32_t sender, const uint8_t *msg, size_t len,
                                  uint8_t *out, size_t cap, size_t *out_len)
{
    struct kq_buf b;
    kq_buf_writer(&b, out, cap);
    *out_len = 0;
    KQ_ENSURE(len >= 1 && len <= KQ_DKG_MAX_MSG_BYTES, KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_put_u8(&b, KQ_KEYREG_VERSION));
    KQ_GUARD(kq_buf_put_u64(&b, height));
    KQ_GUARD(kq_buf_put_u32(&b, sender));
    KQ_GUARD(kq_buf_put_u16(&b, (uint16_t)len));
    KQ_GUARD(kq_buf_put(&b, msg, len));
    return finish(&b, out_len);
}

enum kq_err kq_session_msg_decode(struct kq_session_msg *m, const uint8_t *in, size_t len)
{
    struct kq_buf b;
    kq_buf_reader(&b, in, len);
    uint16_t n = 0;
    enum kq_err err;
    if ((err = get_version_byte(&b)) || (err = kq_buf_get_u64(&b, &m->height)) ||
        (err = kq_buf_get_u32(&b, &m->sender)) || (err = kq_buf_get_u16(&b, &n)))
        goto fail;
    if (n == 0 || n > KQ_DKG_MAX_MSG_BYTES) {
        err = KQ_ERR_LIMIT;
        goto fail;
    }
    if ((err = kq_buf_get(&b, m->bytes, n)) || (err = kq_buf_expect_end(&b)))
        goto fail;
    m->len = n;
    return KQ_OK;
fail:
    m->height = 0;
    m->sender = 0;
    m->len = 0;
    return err;
}

enum kq_err kq_session_list_encode(const struct kq_session_list *l, uint8_t *out, size_t cap,
                                   size_t *out_len)
{
    struct kq_buf b;
    kq_buf_writer(&b, out, cap);
    *out_len = 0;
    KQ_ENSURE(l->count <= KQ_KEYREG_MAX_SESSIONS, KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_put_u8(&b, KQ_KEYREG_VERSION));
    KQ_GUARD(kq_buf_put_u16(&b, (uint16_t)l->count));
    for (uint32_t i = 0; i < l->count; i++) {
        KQ_GUARD(kq_buf_put(&b, l->ids[i].b, KQ_HASH_BYTES));
        KQ_GUARD(kq_buf_put_u64(&b, l->due[i]));
    }
    return finish(&b, out_len);
}

enum kq_err kq_session_list_decode(struct kq_session_list *l, const uint8_t *in, size_t len)
{
    struct kq_buf b;
    kq_buf_reader(&b, in, len);
    uint16_t n = 0;
    enum kq_err err;
    l->count = 0;
    if ((err = get_version_byte(&b)) || (err = kq_buf_get_u16(&b, &n)))
        return err;
    if (n > KQ_KEYREG_MAX_SESSIONS)
        return KQ_ERR_LIMIT;
    for (uint32_t i = 0; i < n; i++)
        if ((err = kq_buf_get(&b, l->ids[i].b, KQ_HASH_BYTES)) != KQ_OK ||
            (err = kq_buf_get_u64(&b, &l->due[i])) != KQ_OK)
            return err;
    if ((err = kq_buf_expect_end(&b)) != KQ_OK)
        return err;
    l->count = n;
    return KQ_OK;
}

enum kq_err kq_keeper_rec_encode(const struct kq_keeper_rec *k, uint8_t *out, size_t cap,
                                 size_t *out_len)
{
    struct kq_buf b;
    kq_buf_writer(&b, out, cap);
    *out_len = 0;
    KQ_GUARD(kq_buf_put_u8(&b, KQ_KEYREG_VERSION));
    KQ_GUARD(kq_buf_put_u32(&b, k->node_id));
    KQ_GUARD(kq_buf_put_u32(&b, k->faults));
    KQ_GUARD(kq_buf_put_u8(&b, k->quarantined ? 1 : 0));
    KQ_GUARD(kq_buf_put_u64(&b, k->lost_height));
    return finish(&b, out_len);
}

enum kq_err kq_keeper_rec_decode(struct kq_keeper_rec *k, const uint8_t *in, size_t len)
{
    struct kq_buf b;
    kq_buf_reader(&b, in, len);
    memset(k, 0, sizeof *k);
    enum kq_err err;
    if ((err = get_version_byte(&b)) || (err = kq_buf_get_u32(&b, &k->node_id)) ||
        (err = kq_buf_get_u32(&b, &k->faults)) || (err = get_bool(&b, &k->quarantined)) ||
        (err = kq_buf_get_u64(&b, &k->lost_height)) || (err = kq_buf_expect_end(&b))) {
        memset(k, 0, sizeof *k);
        return err;
    }
    return KQ_OK;
}

enum kq_err kq_key_index_encode(const struct kq_key_index *ix, uint8_t *out, size_t cap,
                                size_t *out_len)
{
    struct kq_buf b;
    kq_buf_writer(&b, out, cap);
    *out_len = 0;
    KQ_ENSURE(ix->count <= KQ_KEYREG_MAX_KEYS, KQ_ERR_LIMIT);
    KQ_GUARD(kq_buf_put_u8(&b, KQ_KEYREG_VERSION));
    KQ_GUARD(kq_buf_put_u16(&b, (uint16_t)ix->count));
    for (uint32_t i = 0; i < ix->count; i++) {
        KQ_GUARD(kq_buf_put_str8(&b, ix->keys[i].name, KQ_KEY_NAME_MAX_BYTES));
        KQ_GUARD(kq_buf_put_u64(&b, ix->keys[i].next_due_ms));
    }
    return finish(&b, out_len);
}

enum kq_err kq_key_index_decode(struct kq_key_index *ix, const uint8_t *in, size_t len)
{
    struct kq_buf b;
    kq_buf_reader(&b, in, len);
    uint16_t n = 0;
    enum kq_err err;
    ix->count = 0;
    if ((err = get_version_byte(&b)) || (err = kq_buf_get_u16(&b, &n)))
        return err;
    if (n > KQ_KEYREG_MAX_KEYS)
        return KQ_ERR_LIMIT;
    for (uint32_t i = 0; i < n; i++)
        if ((err = get_name(&b, ix->keys[i].name, KQ_KEY_NAME_MAX_BYTES, true, false)) ||
            (err = kq_buf_get_u64(&b, &ix->keys[i].next_due_ms)))
            return err;
    if ((err = kq_buf_expect_end(&b)) != KQ_OK)
        return err;
    ix->count = n;
    return KQ_OK;
}

/* ---- getters ---- */

static enum kq_err get_raw(const struct kq_smt *st, const char *key, const uint8_t **v, size_t *len)
{
    return kq_smt_get(st, (const uint8_t *)key, strlen(key), v, len);
}

enum kq_err kq_keyreg_params(const struct kq_smt *st, struct kq_keyparams *p)
{
    const uint8_t *v;
    size_t len;
    KQ_GUARD(get_raw(st, PARAMS_KEY, &v, &len));
    return kq_keyparams_decode(p, v, len);
}

enum kq_err kq_keyreg_epoch(const struct kq_smt *st, struct kq_epoch_rec *e)
{
    const uint8_t *v;
    size_t len;
    KQ_GUARD(get_raw(st, EPOCH_KEY, &v, &len));
    return kq_epoch_rec_decode(e, v, len);
}

enum kq_err kq_keyreg_key(const struct kq_smt *st, const char *name, struct kq_key_rec *k)
{
    char path[KQ_LEDGER_MAX_KEY_BYTES + 1];
    const uint8_t *v;
    size_t len;
    KQ_ENSURE(kq_key_name_ok(name, strlen(name)), KQ_ERR_NOT_FOUND);
    kq_keyreg_key_path(path, name);
    KQ_GUARD(get_raw(st, path, &v, &len));
    return kq_key_rec_decode(k, v, len);
}

enum kq_err kq_keyreg_version(const struct kq_smt *st, const char *name, uint32_t version,
                              struct kq_keyver_rec *out)
{
    char path[KQ_LEDGER_MAX_KEY_BYTES + 1];
    const uint8_t *v;
    size_t len;
    KQ_ENSURE(kq_key_name_ok(name, strlen(name)), KQ_ERR_NOT_FOUND);
    kq_keyreg_version_path(path, name, version);
    KQ_GUARD(get_raw(st, path, &v, &len));
    return kq_keyver_rec_decode(out, v, len);
}

enum kq_err kq_keyreg_sharing(const struct kq_smt *st, const char *name, uint32_t version,
                              uint64_t epoch, struct kq_sharing_rec *s)
{
    char path[KQ_LEDGER_MAX_KEY_BYTES + 1];
    const uint8_t *v;
    size_t len;
    KQ_ENSURE(kq_key_name_ok(name, strlen(name)), KQ_ERR_NOT_FOUND);
    kq_keyreg_sharing_path(path, name, version, epoch);
    KQ_GUARD(get_raw(st, path, &v, &len));
    return kq_sharing_rec_decode(s, v, len);
}

enum kq_err kq_keyreg_session(const struct kq_smt *st, const kq_hash *id, struct kq_session_rec *s)
{
    char path[KQ_LEDGER_MAX_KEY_BYTES + 1];
    const uint8_t *v;
    size_t len;
    session_path(path, id);
    KQ_GUARD(get_raw(st, path, &v, &len));
    return kq_session_rec_decode(s, v, len);
}

enum kq_err kq_keyreg_session_msg(const struct kq_smt *st, const kq_hash *id, uint32_t i,
                                  struct kq_session_msg *m)
{
    char path[KQ_LEDGER_MAX_KEY_BYTES + 1];
    const uint8_t *v;
    size_t len;
    session_msg_path(path, id, i);
    KQ_GUARD(get_raw(st, path, &v, &len));
    return kq_session_msg_decode(m, v, len);
}

enum kq_err kq_keyreg_sessions(const struct kq_smt *st, struct kq_session_list *l)
{
    const uint8_t *v;
    size_t len;
    enum kq_err err = get_raw(st, SESSIONS_KEY, &v, &len);
    if (err == KQ_ERR_NOT_FOUND) {
        l->count = 0;
        return KQ_OK;
    }
    KQ_GUARD(err);
    return kq_session_list_decode(l, v, len);
}

enum kq_err kq_keyreg_keeper(const struct kq_smt *st, uint32_t node_id, struct kq_keeper_rec *k)
{
    char path[KQ_LEDGER_MAX_KEY_BYTES + 1];
    const uint8_t *v;
    size_t len;
    snprintf(path, sizeof path, "keeper/%" PRIu32, node_id);
    KQ_GUARD(get_raw(st, path, &v, &len));
    return kq_keeper_rec_decode(k, v, len);
}

enum kq_err kq_keyreg_epoch_key(const struct kq_smt *st, uint32_t node_id, uint64_t epoch,
                                uint8_t pk[KQ_DKG_X25519BYTES])
{
    char path[KQ_LEDGER_MAX_KEY_BYTES + 1];
    const uint8_t *v;
    size_t len;
    snprintf(path, sizeof path, "epk/%" PRIu32 "/%" PRIu64, node_id, epoch);
    KQ_GUARD(get_raw(st, path, &v, &len));
    KQ_ENSURE(len == 1 + KQ_DKG_X25519BYTES && v[0] == KQ_KEYREG_VERSION, KQ_ERR_FORMAT);
    memcpy(pk, v + 1, KQ_DKG_X25519BYTES);
    return KQ_OK;
}

enum kq_err kq_keyreg_next_due(const struct kq_smt *st, uint64_t *due_ms)
{
    const uint8_t *v;
    size_t len;
    struct kq_buf b;
    *due_ms = 0;
    enum kq_err err = get_raw(st, DUE_KEY, &v, &len);
    if (err == KQ_ERR_NOT_FOUND)
        return KQ_OK; /* unknown (no index yet, or a state written before it): read the index */
    KQ_GUARD(err);
    kq_buf_reader(&b, v, len);
    KQ_GUARD(get_version_byte(&b));
    KQ_GUARD(kq_buf_get_u64(&b, due_ms));
    return kq_buf_expect_end(&b);
}

enum kq_err kq_keyreg_index(const struct kq_smt *st, struct kq_key_index *ix)
{
    const uint8_t *v;
    size_t len;
    enum kq_err err = get_raw(st, INDEX_KEY, &v, &len);
    if (err == KQ_ERR_NOT_FOUND) {
        ix->count = 0;
        return KQ_OK;
    }
    KQ_GUARD(err);
    return kq_key_index_decode(ix, v, len);
}

/* ---- put helpers ---- */

/* Largest record: a session with two full committees. */
#define REC_MAX (256 + 2 * KQ_DKG_MAX_N * (4 + KQ_DKG_X25519BYTES) + KQ_DKG_MAX_N * KQ_POINTBYTES)
KQ_STATIC_ASSERT(REC_MAX >= 64 + KQ_DKG_MAX_N * (4 + 2 * KQ_POINTBYTES), "sharings fit");
KQ_STATIC_ASSERT(REC_MAX <= KQ_LEDGER_MAX_VALUE_BYTES, "records fit a state value");
KQ_STATIC_ASSERT(3 + KQ_KEYREG_MAX_KEYS * (1 + KQ_KEY_NAME_MAX_BYTES + 8) <=
                     KQ_LEDGER_MAX_VALUE_BYTES,
                 "the key index fits a state value");

static enum kq_err put_rec(struct kq_smt **cur, const char *key, const uint8_t *v, size_t len)
{
    return kq_state_put(cur, key, v, len);
}

enum kq_err kq_keyreg_put_key(struct kq_smt **cur, const struct kq_key_rec *k)
{
    uint8_t buf[REC_MAX];
    size_t len;
    char path[KQ_LEDGER_MAX_KEY_BYTES + 1];
    KQ_GUARD(kq_key_rec_encode(k, buf, sizeof buf, &len));
    kq_keyreg_key_path(path, k->name);
    return put_rec(cur, path, buf, len);
}

enum kq_err kq_keyreg_put_version(struct kq_smt **cur, const char *name,
                                  const struct kq_keyver_rec *v)
{
    uint8_t buf[REC_MAX];
    size_t len;
    char path[KQ_LEDGER_MAX_KEY_BYTES + 1];
    KQ_GUARD(kq_keyver_rec_encode(v, buf, sizeof buf, &len));
    kq_keyreg_version_path(path, name, v->version);
    return put_rec(cur, path, buf, len);
}

enum kq_err kq_keyreg_put_sharing(struct kq_smt **cur, const char *name, uint32_t version,
                                  const struct kq_sharing_rec *s)
{
    uint8_t buf[REC_MAX];
    size_t len;
    char path[KQ_LEDGER_MAX_KEY_BYTES + 1];
    KQ_GUARD(kq_sharing_rec_encode(s, buf, sizeof buf, &len));
    kq_keyreg_sharing_path(path, name, version, s->epoch);
    return put_rec(cur, path, buf, len);
}

enum kq_err kq_keyreg_put_epoch(struct kq_smt **cur, const struct kq_epoch_rec *e)
{
    uint8_t buf[64];
    size_t len;
    KQ_GUARD(kq_epoch_rec_encode(e, buf, sizeof buf, &len));
    return put_rec(cur, EPOCH_KEY, buf, len);
}

enum kq_err kq_keyreg_put_keeper(struct kq_smt **cur, const struct kq_keeper_rec *k)
{
    uint8_t buf[64];
    size_t len;
    char path[KQ_LEDGER_MAX_KEY_BYTES + 1];
    KQ_GUARD(kq_keeper_rec_encode(k, buf, sizeof buf, &len));
    snprintf(path, sizeof path, "keeper/%" PRIu32, k->node_id);
    return put_rec(cur, path, buf, len);
}

enum kq_err kq_keyreg_put_epoch_key(struct kq_smt **cur, uint32_t node_id, uint64_t epoch,
                                    const uint8_t pk[KQ_DKG_X25519BYTES])
{
    uint8_t buf[1 + KQ_DKG_X25519BYTES];
    char path[KQ_LEDGER_MAX_KEY_BYTES + 1];
    buf[0] = KQ_KEYREG_VERSION;
    memcpy(buf + 1, pk, KQ_DKG_X25519BYTES);
    snprintf(path, sizeof path, "epk/%" PRIu32 "/%" PRIu64, node_id, epoch);
    return put_rec(cur, path, buf, sizeof buf);
}

enum kq_err kq_keyreg_put_session(struct kq_smt **cur, const struct kq_session_rec *s)
{
    uint8_t buf[REC_MAX];
    size_t len;
    char path[KQ_LEDGER_MAX_KEY_BYTES + 1];
    KQ_GUARD(kq_session_rec_encode(s, buf, sizeof buf, &len));
    session_path(path, &s->id);
    return put_rec(cur, path, buf, len);
}

enum kq_err kq_keyreg_put_session_msg(struct kq_smt **cur, const kq_hash *id, uint32_t i,
                                      uint64_t height, uint32_t sender, const uint8_t *msg,
                                      size_t len)
{
    uint8_t buf[1 + 8 + 4 + 2 + KQ_DKG_MAX_MSG_BYTES];
    size_t n;
    char path[KQ_LEDGER_MAX_KEY_BYTES + 1];
    KQ_GUARD(kq_session_msg_encode(height, sender, msg, len, buf, sizeof buf, &n));
    session_msg_path(path, id, i);
    return put_rec(cur, path, buf, n);
}

#define SESSION_LIST_MAX (3 + KQ_KEYREG_MAX_SESSIONS * (KQ_HASH_BYTES + 8))
KQ_STATIC_ASSERT(SESSION_LIST_MAX <= KQ_LEDGER_MAX_VALUE_BYTES, "a full running list is one value");

enum kq_err kq_keyreg_put_sessions(struct kq_smt **cur, const struct kq_session_list *l)
{
    uint8_t buf[SESSION_LIST_MAX];
    size_t len;
    KQ_GUARD(kq_session_list_encode(l, buf, sizeof buf, &len));
    return put_rec(cur, SESSIONS_KEY, buf, len);
}

enum kq_err kq_keyreg_put_index(struct kq_smt **cur, const struct kq_key_index *ix)
{
    static const size_t cap = 3 + KQ_KEYREG_MAX_KEYS * (1 + KQ_KEY_NAME_MAX_BYTES + 8);
    uint8_t *buf = malloc(cap);
    KQ_ENSURE(buf != NULL, KQ_ERR_NOMEM);
    size_t len;
    enum kq_err err = kq_key_index_encode(ix, buf, cap, &len);
    if (err == KQ_OK)
        err = put_rec(cur, INDEX_KEY, buf, len);
    free(buf);
    KQ_GUARD(err);
    uint64_t due = UINT64_MAX;
    for (uint32_t i = 0; i < ix->count; i++)
        due = ix->keys[i].next_due_ms < due ? ix->keys[i].next_due_ms : due;
    uint8_t rec[1 + 8];
    struct kq_buf b;
    kq_buf_writer(&b, rec, sizeof rec);
    KQ_GUARD(kq_buf_put_u8(&b, KQ_KEYREG_VERSION));
    KQ_GUARD(kq_buf_put_u64(&b, due));
    return put_rec(cur, DUE_KEY, rec, kq_buf_len(&b));
}

enum kq_err kq_keyreg_put_params(struct kq_smt **cur, const struct kq_keyparams *p)
{
    uint8_t buf[64];
    size_t len;
    KQ_GUARD(kq_keyparams_check(p));
    KQ_GUARD(params_encode(p, buf, sizeof buf, &len));
    return put_rec(cur, PARAMS_KEY, buf, len);
}
