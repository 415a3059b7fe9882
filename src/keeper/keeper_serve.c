/* The keeper's answers to orchestrators (docs/keys.md §3 "Requests"): every request is checked
 * against the keeper's own committed ledger state before a share is unsealed; the share lives in
 * guarded memory for the one operation and is wiped on every path. Results are signed (partial
 * responses, FROST responses) and, on request, sealed to the client's ledger X25519 key. A
 * refusal is answered with its status and no body. FROST nonces stay in memory, keyed by request
 * id, serve one round two and expire on a timer. */
#include <string.h>

#include <sodium.h>

#include "base/mem.h"
#include "crypto/partial.h"
#include "crypto/tkem.h"
#include "crypto/tprf.h"
#include "keeper/keeper_internal.h"
#include "ledger/tx_client.h"

#define SEALED_MAX (KQ_PARTIAL_MAXBYTES + crypto_box_SEALBYTES)

/* What the checks found: the key's records and this keeper's place in the sharing. */
struct ks_ctx {
    struct kq_key_rec key;
    struct kq_keyver_rec ver;
    uint32_t index;
    struct ks_share *share;
};

static enum kq_err answer(struct keeper *k, const struct kq_event *ev,
                          const struct kq_keeper_req *r, enum kq_err status, uint8_t kind,
                          const uint8_t *body, size_t body_len, struct kq_actions *out)
{
    uint8_t frame[64 + SEALED_MAX + KQ_FROST_RESP_MAX_BYTES];
    size_t len = 0;
    (void)k;
    struct kq_keeper_resp resp = {.op = r->op,
                                  .status = (uint32_t)status,
                                  .body_kind = status == KQ_OK ? kind : KQ_KRESP_NONE,
                                  .body = status == KQ_OK ? body : NULL,
                                  .body_len = status == KQ_OK ? body_len : 0};
    memcpy(resp.request_id, r->request_id, sizeof resp.request_id);
    KQ_GUARD(kq_keeper_resp_encode(&resp, frame, sizeof frame, &len));
    return kq_actions_send(out, ev->peer, KQ_FRAME_KEEPER_RESP, frame, len);
}

static uint8_t usage_of(uint8_t op)
{
    switch (op) {
    case KQ_KREQ_UNWRAP:
        return KQ_KEY_USAGE_ENCRYPT;
    case KQ_KREQ_DERIVE:
        return KQ_KEY_USAGE_DERIVE;
    default:
        return KQ_KEY_USAGE_SIGN;
    }
}

/* A version this op may use: unwrap any decryptable one (>= min), derive any live one, FROST the
 * active one only. */
static bool version_serves(const struct kq_key_rec *key, const struct kq_keyver_rec *v, uint8_t op)
{
    if (v->state == KQ_KEYVER_ACTIVE)
        return true;
    if (v->state != KQ_KEYVER_DECRYPT_ONLY || op == KQ_KREQ_FROST_COMMIT ||
        op == KQ_KREQ_FROST_SIGN)
        return false;
    return v->version >= key->min_decryption_version;
}

/* The ledger checks (docs/keys.md §3), in order; each refusal has its own status. */
static enum kq_err check_request(struct keeper *k, const struct kq_keeper_req *r, struct ks_ctx *c)
{
    KQ_ENSURE(k->ledger != NULL, KQ_ERR_STATE);
    KQ_GUARD(kq_keyreg_key(k->ledger, r->name, &c->key));
    KQ_ENSURE(c->key.state == KQ_KEY_ENABLED, KQ_ERR_STATE);
    KQ_ENSURE(c->key.usage == usage_of(r->op), KQ_ERR_TYPE);
    KQ_GUARD(kq_keyreg_version(k->ledger, r->name, r->version, &c->ver));
    KQ_ENSURE(version_serves(&c->key, &c->ver, r->op), KQ_ERR_STATE);
    bool current = r->epoch == c->ver.epoch;
    bool grace = c->ver.prev_until_height != 0 && r->epoch == c->ver.prev_epoch &&
                 k->height < c->ver.prev_until_height;
    if (!current && !grace)
        return r->epoch < c->ver.epoch ? KQ_ERR_EXPIRED : KQ_ERR_NOT_FOUND;
    KQ_GUARD(kq_keyreg_sharing(k->ledger, r->name, r->version, r->epoch, &k->sharing));
    c->index = 0;
    for (uint32_t i = 0; i < k->sharing.n && i < KQ_DKG_MAX_N; i++)
        if (k->sharing.keepers[i] == k->self)
            c->index = i + 1;
    KQ_ENSURE(c->index != 0, KQ_ERR_FORBIDDEN); /* not in this sharing's committee */
    c->share = ks_share_find(k, r->name, r->version, r->epoch);
    KQ_ENSURE(c->share != NULL, KQ_ERR_NOT_FOUND);
    return KQ_OK;
}

/* crypto_box_seal with the ephemeral key drawn from the core's randomness (same format: opens
 * with crypto_box_seal_open). */
static enum kq_err seal_to(struct keeper *k, uint8_t *out, const uint8_t *m, size_t mlen,
                           const uint8_t pk[crypto_box_PUBLICKEYBYTES])
{
    uint8_t seed[crypto_box_SEEDBYTES], esk[crypto_box_SECRETKEYBYTES];
    uint8_t nonce[crypto_box_NONCEBYTES];
    crypto_generichash_state h;
    enum kq_err err = KQ_OK;
    k->random(k->random_ctx, seed, sizeof seed);
    KQ_CHECK(crypto_box_seed_keypair(out, esk, seed) == 0, KQ_ERR_CRYPTO);
    crypto_generichash_init(&h, NULL, 0, sizeof nonce);
    crypto_generichash_update(&h, out, crypto_box_PUBLICKEYBYTES);
    crypto_generichash_update(&h, pk, crypto_box_PUBLICKEYBYTES);
    crypto_generichash_final(&h, nonce, sizeof nonce);
    KQ_CHECK(crypto_box_easy(out + crypto_box_PUBLICKEYBYTES, m, mlen, nonce, pk, esk) == 0,
             KQ_ERR_CRYPTO);
out:
    kq_wipe(seed, sizeof seed);
    kq_wipe(esk, sizeof esk);
    return err;
}

static enum kq_err client_x25519(struct keeper *k, const char *client, uint8_t pk[32])
{
    struct kq_client c;
    KQ_ENSURE(client[0] != 0, KQ_ERR_INVALID_ARG);
    KQ_GUARD(kq_client_get(k->ledger, client, &c));
    KQ_ENSURE((c.flags & KQ_CLIENT_HAS_X25519) != 0, KQ_ERR_NOT_FOUND);
    memcpy(pk, c.x25519_pk, 32);
    return KQ_OK;
}

/* The fault switch: Z_i + G, still signed (docs: fault injection for tests only). */
static enum kq_err corrupt(uint8_t Z[KQ_POINTBYTES])
{
    uint8_t one[KQ_SCALARBYTES], G[KQ_POINTBYTES];
    kq_sc_from_u32(one, 1);
    kq_pt_mul_base(G, one);
    return kq_pt_add(Z, Z, G);
}

/* Computes the partial with the unsealed share (sec->share), signs it into *resp. */
static enum kq_err compute_partial(struct keeper *k, const struct kq_keeper_req *r,
                                   const struct ks_ctx *c, uint64_t time,
                                   struct kq_partial_resp *resp)
{
    const uint8_t *S_i = k->sharing.public_shares[c->index - 1];
    struct kq_tkem_partial up;
    struct kq_tprf_partial dp;
    uint8_t P[KQ_POINTBYTES];
    if (r->op == KQ_KREQ_UNWRAP) {
        struct kq_tkem_ct ct;
        memset(&ct, 0, sizeof ct);
        ct.type = r->ct_type;
        ct.version = r->version;
        memcpy(ct.R, r->R, KQ_POINTBYTES);
        memcpy(ct.proof, r->ct_proof, KQ_PROOFBYTES);
        KQ_GUARD(kq_tkem_partial_pub(&up, &ct, &k->label, c->ver.public_key, k->sec->share, S_i,
                                     c->index));
        if (k->byzantine)
            KQ_GUARD(corrupt(up.Z));
        return kq_partial_respond(resp, r->request_id, &k->label, r->epoch, time, c->index, r->R,
                                  &up, NULL, k->sec->identity_sk);
    }
    KQ_GUARD(kq_tprf_point(P, &k->label));
    KQ_GUARD(kq_tprf_partial_pub(&dp, &k->label, k->sec->share, S_i, c->index));
    if (k->byzantine)
        KQ_GUARD(corrupt(dp.Y));
    return kq_partial_respond(resp, r->request_id, &k->label, r->epoch, time, c->index, P, NULL,
                              &dp, k->sec->identity_sk);
}

static enum kq_err serve_partial(struct keeper *k, const struct kq_event *ev,
                                 const struct kq_keeper_req *r, struct kq_actions *out)
{
    struct ks_ctx c;
    struct kq_partial_resp resp;
    uint8_t enc[KQ_PARTIAL_MAXBYTES], sealed[SEALED_MAX], client_pk[32];
    size_t len = 0;
    enum kq_err err = check_request(k, r, &c);
    if (err == KQ_OK && r->seal)
        err = client_x25519(k, r->client, client_pk);
    if (err == KQ_OK)
        err = kq_label_build(&k->label, (const uint8_t *)r->name, strlen(r->name), r->version,
                             r->op == KQ_KREQ_UNWRAP ? (enum kq_purpose)r->ct_type
                                                     : KQ_PURPOSE_DERIVE,
                             r->ctx, r->n_ctx);
    if (err == KQ_OK)
        err = ks_share_open(k, c.share);
    if (err == KQ_OK)
        err = compute_partial(k, r, &c, ev->wall_ms, &resp);
    kq_wipe(k->sec->share, sizeof k->sec->share);
    if (err == KQ_OK)
        err = kq_partial_encode(enc, sizeof enc, &len, &resp);
    if (err != KQ_OK)
        return answer(k, ev, r, err, KQ_KRESP_NONE, NULL, 0, out);
    if (!r->seal)
        return answer(k, ev, r, KQ_OK, KQ_KRESP_PARTIAL, enc, len, out);
    KQ_GUARD(seal_to(k, sealed, enc, len, client_pk));
    return answer(k, ev, r, KQ_OK, KQ_KRESP_SEALED, sealed, len + crypto_box_SEALBYTES, out);
}

/* ---- FROST ---- */

static struct ks_nonce_meta *nonce_find(struct keeper *k, const uint8_t id[KQ_PARTIAL_REQIDBYTES])
{
    for (size_t i = 0; i < KQ_KEEPER_MAX_FROST_NONCES; i++)
        if (k->nonces[i].used && sodium_memcmp(k->nonces[i].request_id, id, 16) == 0)
            return &k->nonces[i];
    return NULL;
}

static void nonce_drop(struct keeper *k, struct ks_nonce_meta *n)
{
    size_t at = (size_t)(n - k->nonces);
    KQ_ASSERT(at < KQ_KEEPER_MAX_FROST_NONCES && n->used);
    kq_frost_nonces_wipe(&k->sec->nonces[at]);
    memset(n, 0, sizeof *n);
    KQ_ASSERT(k->n_nonces > 0);
    k->n_nonces--;
}

void ks_nonces_drop_key(struct keeper *k, const char *name)
{
    for (size_t i = 0; i < KQ_KEEPER_MAX_FROST_NONCES; i++)
        if (k->nonces[i].used && (name == NULL || strcmp(k->nonces[i].name, name) == 0))
            nonce_drop(k, &k->nonces[i]);
}

/* The key package of the unsealed share for (version, sharing); checks share * G == S_i. */
static enum kq_err key_package(struct keeper *k, const struct ks_ctx *c)
{
    struct kq_frost_public_package *pub = &k->pub;
    memset(pub, 0, sizeof *pub);
    pub->threshold = k->sharing.t;
    pub->max_signers = k->sharing.n;
    memcpy(pub->group_public_key, c->ver.public_key, KQ_POINTBYTES);
    memcpy(pub->verifying_shares, k->sharing.public_shares, (size_t)k->sharing.n * KQ_POINTBYTES);
    return kq_frost_key_package_from_share(&k->sec->kp, pub, c->index, k->sec->share);
}

static enum kq_err frost_answer(struct keeper *k, const struct kq_event *ev,
                                const struct kq_keeper_req *r, struct kq_frost_resp *fr,
                                struct kq_actions *out)
{
    uint8_t enc[KQ_FROST_RESP_MAX_BYTES];
    size_t len = 0;
    memcpy(fr->request_id, r->request_id, sizeof fr->request_id);
    memcpy(fr->name, r->name, sizeof fr->name);
    fr->version = r->version;
    fr->epoch = r->epoch;
    fr->time = ev->wall_ms;
    KQ_GUARD(kq_frost_resp_sign(fr, k->sec->identity_sk));
    KQ_GUARD(kq_frost_resp_encode(fr, enc, sizeof enc, &len));
    return answer(k, ev, r, KQ_OK, KQ_KRESP_FROST, enc, len, out);
}

static enum kq_err frost_commit(struct keeper *k, const struct kq_event *ev,
                                const struct kq_keeper_req *r, struct ks_ctx *c,
                                struct kq_frost_resp *fr)
{
    uint8_t rnd[2][KQ_FROST_RANDOMBYTES];
    enum kq_err err = KQ_OK;
    KQ_ENSURE(nonce_find(k, r->request_id) == NULL, KQ_ERR_EXISTS);
    KQ_ENSURE(k->n_nonces < KQ_KEEPER_MAX_FROST_NONCES, KQ_ERR_BUSY);
    size_t at = 0;
    while (k->nonces[at].used)
        at++;
    KQ_ASSERT(at < KQ_KEEPER_MAX_FROST_NONCES);
    KQ_TRY(ks_share_open(k, c->share));
    KQ_TRY(key_package(k, c));
    k->random(k->random_ctx, rnd[0], sizeof rnd);
    /* commit_with_randomness: the core's randomness is the runtime's CSPRNG (never fixed) */
    KQ_TRY(kq_frost_commit_with_randomness(&k->sec->nonces[at], &fr->commitment, &k->sec->kp,
                                           rnd[0], rnd[1]));
    struct ks_nonce_meta *n = &k->nonces[at];
    n->used = true;
    memcpy(n->request_id, r->request_id, sizeof n->request_id);
    memcpy(n->name, r->name, sizeof n->name);
    n->version = r->version;
    n->epoch = r->epoch;
    n->index = c->index;
    n->created_ms = ev->now_ms;
    k->n_nonces++;
    fr->round = 1;
    fr->index = c->index;
out:
    kq_wipe(rnd, sizeof rnd);
    return err;
}

static enum kq_err frost_sign(struct keeper *k, const struct kq_keeper_req *r, struct ks_ctx *c,
                              struct ks_nonce_meta *n, struct kq_frost_resp *fr)
{
    enum kq_err err = KQ_OK;
    size_t at = (size_t)(n - k->nonces);
    KQ_TRY(ks_share_open(k, c->share));
    KQ_TRY(key_package(k, c));
    KQ_TRY(kq_frost_sign(fr->share, &k->sec->nonces[at], &k->sec->kp, r->commits, r->n_commits,
                         r->msg, r->msg_len));
    kq_frost_sign_digest(fr->digest, r->msg, r->msg_len, r->commits, r->n_commits);
    fr->round = 2;
    fr->index = c->index;
out:
    nonce_drop(k, n); /* used once, whatever the outcome */
    return err;
}

static enum kq_err serve_frost(struct keeper *k, const struct kq_event *ev,
                               const struct kq_keeper_req *r, struct kq_actions *out)
{
    struct ks_ctx c;
    struct kq_frost_resp fr;
    bool was_empty = k->n_nonces == 0;
    memset(&fr, 0, sizeof fr);
    struct ks_nonce_meta *n = r->op == KQ_KREQ_FROST_SIGN ? nonce_find(k, r->request_id) : NULL;
    enum kq_err err = r->op == KQ_KREQ_FROST_SIGN && n == NULL ? KQ_ERR_STATE : KQ_OK;
    if (err == KQ_OK && n != NULL &&
        (n->version != r->version || n->epoch != r->epoch || strcmp(n->name, r->name) != 0)) {
        nonce_drop(k, n);
        err = KQ_ERR_LABEL;
    }
    if (err == KQ_OK)
        err = check_request(k, r, &c);
    if (err == KQ_OK && r->op == KQ_KREQ_FROST_COMMIT)
        err = frost_commit(k, ev, r, &c, &fr);
    else if (err == KQ_OK)
        err = frost_sign(k, r, &c, n, &fr);
    else if (n != NULL && n->used)
        nonce_drop(k, n);
    kq_wipe(k->sec->share, sizeof k->sec->share);
    kq_frost_key_package_wipe(&k->sec->kp);
    if (err != KQ_OK) {
        kq_wipe(&fr, sizeof fr);
        return answer(k, ev, r, err, KQ_KRESP_NONE, NULL, 0, out);
    }
    if (was_empty && k->n_nonces > 0)
        KQ_GUARD(kq_actions_timer(out, KQ_KEEPER_TIMER_NONCES, k->nonce_ttl_ms));
    err = frost_answer(k, ev, r, &fr, out);
    kq_wipe(&fr, sizeof fr);
    return err;
}

enum kq_err ks_on_nonce_timer(struct keeper *k, uint64_t now_ms, struct kq_actions *out)
{
    uint64_t next = 0;
    for (size_t i = 0; i < KQ_KEEPER_MAX_FROST_NONCES; i++) {
        struct ks_nonce_meta *n = &k->nonces[i];
        if (!n->used)
            continue;
        uint64_t due = n->created_ms + k->nonce_ttl_ms;
        if (due <= now_ms)
            nonce_drop(k, n);
        else if (next == 0 || due - now_ms < next)
            next = due - now_ms;
    }
    if (next == 0)
        return KQ_OK;
    return kq_actions_timer(out, KQ_KEEPER_TIMER_NONCES, next);
}

enum kq_err ks_on_request(struct keeper *k, const struct kq_event *ev, struct kq_actions *out)
{
    struct kq_keeper_req *r = &k->req;
    KQ_ENSURE(ev->frame_type == KQ_FRAME_KEEPER_REQ, KQ_ERR_TYPE);
    KQ_GUARD(kq_keeper_req_decode(r, ev->payload, ev->payload_len));
    if (r->op == KQ_KREQ_UNWRAP || r->op == KQ_KREQ_DERIVE)
        return serve_partial(k, ev, r, out);
    return serve_frost(k, ev, r, out);
}
