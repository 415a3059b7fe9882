/* The keeper's sealing at rest (docs/crypto.md "Sealing at rest"): per epoch E an X25519 secret
 * and a sealing key K_E, each wrapped under the KEK ("xsk/<E>", "ke/<E>"); per share a record
 * "share/<name>/<v>/<E>" sealed under K_E. Every record is version | nonce | XChaCha20-Poly1305
 * with the record key as associated data, so a record moved to another key does not open.
 * Invariants: no secret is persisted unwrapped; a held share stays sealed in memory; erasing
 * K_E makes every copy of that epoch's share records unreadable. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/buf.h"
#include "base/mem.h"
#include "keeper/keeper_internal.h"

KQ_STATIC_ASSERT(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == 24, "XChaCha20 nonce");
KQ_STATIC_ASSERT(crypto_aead_xchacha20poly1305_ietf_ABYTES == 16, "Poly1305 tag");
KQ_STATIC_ASSERT(sizeof(KQ_KEEPER_REC_SHARE) + KQ_KEY_NAME_MAX_BYTES + 2 * 21 <
                     KQ_CORE_MAX_RECORD_KEY,
                 "a share record key fits");

void ks_key_xsk(char out[KQ_CORE_MAX_RECORD_KEY], uint64_t epoch)
{
    snprintf(out, KQ_CORE_MAX_RECORD_KEY, KQ_KEEPER_REC_XSK "%" PRIu64, epoch);
}

void ks_key_ke(char out[KQ_CORE_MAX_RECORD_KEY], uint64_t epoch)
{
    snprintf(out, KQ_CORE_MAX_RECORD_KEY, KQ_KEEPER_REC_KE "%" PRIu64, epoch);
}

void ks_key_share(char out[KQ_CORE_MAX_RECORD_KEY], const char *name, uint32_t version,
                  uint64_t epoch)
{
    snprintf(out, KQ_CORE_MAX_RECORD_KEY, KQ_KEEPER_REC_SHARE "%s/%" PRIu32 "/%" PRIu64, name,
             version, epoch);
}

void ks_wrap(struct keeper *k, const uint8_t key[32], const char *rec_key, const uint8_t pt[32],
             uint8_t out[KS_WRAPBYTES])
{
    unsigned long long clen = 0;
    out[0] = KS_WRAP_VERSION;
    k->random(k->random_ctx, out + 1, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 25, &clen, pt, 32, (const uint8_t *)rec_key,
                                               strlen(rec_key), NULL, out + 1, key);
    KQ_ASSERT(clen == 48);
}

enum kq_err ks_unwrap(const uint8_t key[32], const char *rec_key, const uint8_t *in, size_t len,
                      uint8_t pt[32])
{
    unsigned long long plen = 0;
    KQ_ENSURE(len >= 1, KQ_ERR_TRUNCATED);
    KQ_ENSURE(in[0] == KS_WRAP_VERSION, KQ_ERR_VERSION);
    KQ_ENSURE(len >= KS_WRAPBYTES, KQ_ERR_TRUNCATED);
    KQ_ENSURE(len == KS_WRAPBYTES, KQ_ERR_FORMAT);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &plen, NULL, in + 25, 48,
                                                   (const uint8_t *)rec_key, strlen(rec_key),
                                                   in + 1, key) != 0) {
        kq_wipe(pt, 32);
        return KQ_ERR_AUTH;
    }
    KQ_ASSERT(plen == 32);
    return KQ_OK;
}

/* ---- epochs ---- */

struct ks_epoch *ks_epoch_find(struct keeper *k, uint64_t epoch)
{
    for (size_t i = 0; i < KQ_KEEPER_MAX_EPOCHS; i++)
        if (k->epochs[i].used && k->epochs[i].epoch == epoch)
            return &k->epochs[i];
    return NULL;
}

struct ks_epoch *ks_epoch_slot(struct keeper *k, uint64_t epoch)
{
    struct ks_epoch *e = ks_epoch_find(k, epoch);
    if (e != NULL)
        return e;
    for (size_t i = 0; i < KQ_KEEPER_MAX_EPOCHS; i++) {
        if (!k->epochs[i].used) {
            memset(&k->epochs[i], 0, sizeof k->epochs[i]);
            k->epochs[i].used = true;
            k->epochs[i].epoch = epoch;
            return &k->epochs[i];
        }
    }
    return NULL;
}

size_t ks_epoch_at(const struct keeper *k, const struct ks_epoch *e)
{
    KQ_ASSERT(e >= k->epochs && e < k->epochs + KQ_KEEPER_MAX_EPOCHS);
    return (size_t)(e - k->epochs);
}

static void epoch_free_if_empty(struct ks_epoch *e)
{
    if (!e->has_x && !e->has_k)
        memset(e, 0, sizeof *e);
}

void ks_epoch_drop_x(struct keeper *k, struct ks_epoch *e)
{
    kq_wipe(k->sec->epochs[ks_epoch_at(k, e)].x_sk, KQ_DKG_X25519BYTES);
    e->has_x = false;
    epoch_free_if_empty(e);
}

void ks_epoch_drop_k(struct keeper *k, struct ks_epoch *e)
{
    kq_wipe(k->sec->epochs[ks_epoch_at(k, e)].k_e, 32);
    e->has_k = false;
    epoch_free_if_empty(e);
}

enum kq_err ks_epoch_generate(struct keeper *k, uint64_t epoch, uint64_t token,
                              struct kq_actions *out)
{
    char key[KQ_CORE_MAX_RECORD_KEY];
    uint8_t wrapped[KS_WRAPBYTES];
    struct ks_epoch *e = ks_epoch_slot(k, epoch);
    KQ_ENSURE(e != NULL, KQ_ERR_LIMIT);
    struct ks_epoch_secret *s = &k->sec->epochs[ks_epoch_at(k, e)];
    k->random(k->random_ctx, s->x_sk, sizeof s->x_sk);
    k->random(k->random_ctx, s->k_e, sizeof s->k_e);
    KQ_ENSURE(crypto_scalarmult_base(e->x_pk, s->x_sk) == 0, KQ_ERR_CRYPTO);
    e->has_x = e->has_k = true;
    e->durable = false;
    e->submitted_at = 0;
    e->write_token = token;
    ks_key_xsk(key, epoch);
    ks_wrap(k, k->sec->kek, key, s->x_sk, wrapped);
    KQ_GUARD(kq_actions_persist(out, key, wrapped, sizeof wrapped, true, token));
    ks_key_ke(key, epoch);
    ks_wrap(k, k->sec->kek, key, s->k_e, wrapped);
    return kq_actions_persist(out, key, wrapped, sizeof wrapped, true, token);
}

/* ---- shares ---- */

struct ks_share *ks_share_find(struct keeper *k, const char *name, uint32_t version, uint64_t epoch)
{
    for (size_t i = 0; i < KQ_KEEPER_MAX_SHARES; i++) {
        struct ks_share *s = &k->shares[i];
        if (s->used && s->version == version && s->epoch == epoch && strcmp(s->name, name) == 0)
            return s;
    }
    return NULL;
}

static struct ks_share *share_slot(struct keeper *k, const char *name, uint32_t version,
                                   uint64_t epoch)
{
    struct ks_share *s = ks_share_find(k, name, version, epoch);
    if (s != NULL)
        return s;
    for (size_t i = 0; i < KQ_KEEPER_MAX_SHARES; i++) {
        if (!k->shares[i].used) {
            s = &k->shares[i];
            memset(s, 0, sizeof *s);
            s->used = true;
            snprintf(s->name, sizeof s->name, "%s", name);
            s->version = version;
            s->epoch = epoch;
            k->n_shares++;
            return s;
        }
    }
    return NULL;
}

enum kq_err ks_share_store(struct keeper *k, const char *name, uint32_t version, uint64_t epoch,
                           struct kq_actions *out)
{
    char key[KQ_CORE_MAX_RECORD_KEY];
    struct ks_epoch *e = ks_epoch_find(k, epoch);
    KQ_ENSURE(e != NULL && e->has_k, KQ_ERR_NOT_FOUND);
    struct ks_share *s = share_slot(k, name, version, epoch);
    KQ_ENSURE(s != NULL, KQ_ERR_LIMIT);
    ks_key_share(key, name, version, epoch);
    ks_wrap(k, k->sec->epochs[ks_epoch_at(k, e)].k_e, key, k->sec->share, s->sealed);
    return kq_actions_persist(out, key, s->sealed, sizeof s->sealed, true, 0);
}

enum kq_err ks_share_open(struct keeper *k, const struct ks_share *s)
{
    char key[KQ_CORE_MAX_RECORD_KEY];
    struct ks_epoch *e = ks_epoch_find(k, s->epoch);
    KQ_ENSURE(e != NULL && e->has_k, KQ_ERR_NOT_FOUND);
    ks_key_share(key, s->name, s->version, s->epoch);
    KQ_GUARD(ks_unwrap(k->sec->epochs[ks_epoch_at(k, e)].k_e, key, s->sealed, sizeof s->sealed,
                       k->sec->share));
    return kq_sc_check(k->sec->share);
}

enum kq_err ks_share_erase(struct keeper *k, struct ks_share *s, struct kq_actions *out)
{
    char key[KQ_CORE_MAX_RECORD_KEY];
    ks_key_share(key, s->name, s->version, s->epoch);
    KQ_GUARD(kq_actions_erase(out, key));
    memset(s, 0, sizeof *s);
    KQ_ASSERT(k->n_shares > 0);
    k->n_shares--;
    return KQ_OK;
}

/* ---- restore ---- */

static enum kq_err parse_u64(const char *s, uint64_t *v)
{
    char *end = NULL;
    KQ_ENSURE(*s >= '0' && *s <= '9', KQ_ERR_FORMAT);
    unsigned long long x = strtoull(s, &end, 10);
    KQ_ENSURE(end != NULL && *end == 0, KQ_ERR_FORMAT);
    *v = x;
    return KQ_OK;
}

static enum kq_err restore_epoch(struct keeper *k, const char *rec_key, bool is_x, const uint8_t *v,
                                 size_t len)
{
    uint64_t epoch = 0;
    KQ_GUARD(
        parse_u64(rec_key + (is_x ? strlen(KQ_KEEPER_REC_XSK) : strlen(KQ_KEEPER_REC_KE)), &epoch));
    KQ_ENSURE(epoch != 0, KQ_ERR_FORMAT);
    struct ks_epoch *e = ks_epoch_slot(k, epoch);
    KQ_ENSURE(e != NULL, KQ_ERR_LIMIT);
    struct ks_epoch_secret *s = &k->sec->epochs[ks_epoch_at(k, e)];
    uint8_t *dst = is_x ? s->x_sk : s->k_e;
    /* into scratch first: a damaged record must not clobber a secret restored before */
    enum kq_err err = ks_unwrap(k->sec->kek, rec_key, v, len, k->sec->share);
    if (err != KQ_OK) {
        epoch_free_if_empty(e);
        return err;
    }
    memcpy(dst, k->sec->share, 32);
    kq_wipe(k->sec->share, sizeof k->sec->share);
    if (is_x) {
        KQ_ENSURE(crypto_scalarmult_base(e->x_pk, s->x_sk) == 0, KQ_ERR_CRYPTO);
        e->has_x = true;
    } else {
        e->has_k = true;
    }
    e->durable = true;
    return KQ_OK;
}

/* "share/<name>/<v>/<E>": the sealed bytes are kept as they are (opened per operation). */
static enum kq_err restore_share(struct keeper *k, const char *rec_key, const uint8_t *v,
                                 size_t len)
{
    char name[KS_NAME_CAP], check[KQ_CORE_MAX_RECORD_KEY];
    const char *p = rec_key + strlen(KQ_KEEPER_REC_SHARE), *slash = strchr(p, '/');
    uint64_t version = 0, epoch = 0;
    KQ_ENSURE(slash != NULL && slash > p && (size_t)(slash - p) <= KQ_KEY_NAME_MAX_BYTES,
              KQ_ERR_FORMAT);
    memcpy(name, p, (size_t)(slash - p));
    name[slash - p] = 0;
    const char *slash2 = strchr(slash + 1, '/');
    KQ_ENSURE(slash2 != NULL && slash2 - slash - 1 < 12, KQ_ERR_FORMAT);
    char vbuf[12];
    memcpy(vbuf, slash + 1, (size_t)(slash2 - slash - 1));
    vbuf[slash2 - slash - 1] = 0;
    KQ_GUARD(parse_u64(vbuf, &version));
    KQ_GUARD(parse_u64(slash2 + 1, &epoch));
    KQ_ENSURE(version >= 1 && version <= UINT32_MAX && epoch >= 1, KQ_ERR_FORMAT);
    ks_key_share(check, name, (uint32_t)version, epoch);
    KQ_ENSURE(strcmp(check, rec_key) == 0, KQ_ERR_FORMAT); /* canonical key only */
    KQ_ENSURE(len >= 1 && v[0] == KS_WRAP_VERSION, KQ_ERR_VERSION);
    KQ_ENSURE(len == KS_WRAPBYTES, KQ_ERR_FORMAT);
    struct ks_share *s = share_slot(k, name, (uint32_t)version, epoch);
    KQ_ENSURE(s != NULL, KQ_ERR_LIMIT);
    memcpy(s->sealed, v, KS_WRAPBYTES);
    return KQ_OK;
}

enum kq_err ks_restore(struct keeper *k, const char *rec_key, const uint8_t *v, size_t len)
{
    KQ_ENSURE(v != NULL || len == 0, KQ_ERR_INVALID_ARG);
    if (strncmp(rec_key, KQ_KEEPER_REC_XSK, strlen(KQ_KEEPER_REC_XSK)) == 0)
        return restore_epoch(k, rec_key, true, v, len);
    if (strncmp(rec_key, KQ_KEEPER_REC_KE, strlen(KQ_KEEPER_REC_KE)) == 0)
        return restore_epoch(k, rec_key, false, v, len);
    if (strncmp(rec_key, KQ_KEEPER_REC_SHARE, strlen(KQ_KEEPER_REC_SHARE)) == 0)
        return restore_share(k, rec_key, v, len);
    return KQ_OK; /* not ours */
}
