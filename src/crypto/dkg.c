/* The DKG state machine (fresh, refresh, reshare). Invariants: a dealer moves only PENDING ->
 * VALID | DISQUALIFIED | ABSENT and VALID -> DISQUALIFIED, on public data alone, so every honest
 * participant and any observer replaying the ordered broadcasts reaches the same QUAL; every
 * secret (seed, epoch key, old share, received shares) lives in this guarded struct. */
#include "crypto/dkg.h"

#include "base/ct.h"

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"

#define TAG_RAND    "keyquorum/v1/dkg-rand"
#define TAG_POK     "keyquorum/v1/dkg-pok"
#define TAG_COMMITS "keyquorum/v1/dkg-commits"
#define TAG_BOX_KEY "keyquorum/v1/dkg-box-key"

#define CHASHBYTES 64                                         /* commitment-vector hash */
#define ADBYTES    (KQ_DKG_SESSIONBYTES + 4 + 4 + CHASHBYTES) /* box associated data */

KQ_STATIC_ASSERT(KQ_DKG_BOXBYTES == KQ_SCALARBYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES,
                 "box = share ciphertext || tag");
KQ_STATIC_ASSERT(KQ_DKG_X25519BYTES == crypto_scalarmult_BYTES, "X25519 key size");
KQ_STATIC_ASSERT(KQ_DKG_MAX_N <= UINT16_MAX, "counts are u16 on the wire");

enum phase { PH_DEAL, PH_COMPLAIN, PH_JUSTIFY, PH_DONE, PH_FAILED };
enum share_state { SH_NONE, SH_PENDING, SH_OK, SH_BAD };

struct dealer {
    uint8_t state;       /* enum kq_dkg_dealer_state */
    uint8_t share_state; /* enum share_state: the share this dealer sent me */
    bool justified;
    enum kq_err reason;
    uint32_t ncomplaints;
    bool complained[KQ_DKG_MAX_N + 1]; /* by recipient j */
    uint8_t chash[CHASHBYTES];
    uint8_t commits[KQ_DKG_MAX_N][KQ_POINTBYTES];
    uint8_t share[KQ_SCALARBYTES]; /* secret: s_{i,me} */
};

struct kq_dkg {
    enum kq_dkg_mode mode;
    uint8_t session[KQ_DKG_SESSIONBYTES];
    uint32_t n, t;   /* recipients */
    uint32_t dn, dt; /* dealers (= n, t unless resharing) */
    uint32_t me, me_d;
    uint64_t deadline[3];
    uint8_t pks[KQ_DKG_MAX_N][KQ_DKG_X25519BYTES];
    uint8_t dpks[KQ_DKG_MAX_N][KQ_DKG_X25519BYTES];
    uint32_t old_t;
    uint8_t old_commits[KQ_DKG_MAX_N][KQ_POINTBYTES];
    uint8_t my_pk[KQ_DKG_X25519BYTES];
    uint8_t epoch_sk[KQ_DKG_X25519BYTES];
    uint8_t old_share[KQ_SCALARBYTES];
    uint8_t seed[KQ_DKG_SEEDBYTES];
    enum phase phase;
    bool started;
    enum kq_err err;
    uint64_t height;
    bool complaint_seen[KQ_DKG_MAX_N + 1];
    struct dealer dealers[KQ_DKG_MAX_N];
    struct kq_dkg_result result;
};

size_t kq_dkg_sessionbytes(void)
{
    return KQ_DKG_SESSIONBYTES;
}

size_t kq_dkg_seedbytes(void)
{
    return KQ_DKG_SEEDBYTES;
}

size_t kq_dkg_max_msg_bytes(void)
{
    return KQ_DKG_MAX_MSG_BYTES;
}

static struct dealer *dealer_at(struct kq_dkg *m, uint32_t i)
{
    KQ_ASSERT(i >= 1 && i <= m->dn);
    return &m->dealers[i - 1];
}

static void fail(struct kq_dkg *m, enum kq_err err)
{
    KQ_ASSERT(err != KQ_OK);
    m->phase = PH_FAILED;
    m->err = err;
}

static void disqualify(struct dealer *d, enum kq_err why)
{
    d->state = KQ_DKG_DEALER_DISQUALIFIED;
    d->reason = why;
    kq_wipe(d->share, sizeof d->share);
    d->share_state = SH_NONE;
}

/* ---- Configuration -------------------------------------------------------------------- */

static enum kq_err check_sizes(const struct kq_dkg_cfg *c)
{
    KQ_ENSURE(c->mode >= KQ_DKG_FRESH && c->mode <= KQ_DKG_RESHARE, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(c->t >= 1 && c->t <= c->n && c->n <= KQ_DKG_MAX_N, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(c->pks != NULL && c->my_index <= c->n, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(c->deal_deadline < c->complaint_deadline, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(c->complaint_deadline < c->justify_deadline, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(c->mode == KQ_DKG_FRESH || c->old_commits != NULL, KQ_ERR_INVALID_ARG);
    if (c->mode != KQ_DKG_RESHARE)
        return KQ_OK;
    KQ_ENSURE(c->old_t >= 1 && c->old_t <= c->old_n && c->old_n <= KQ_DKG_MAX_N,
              KQ_ERR_INVALID_ARG);
    KQ_ENSURE(c->old_pks != NULL && c->my_old_index <= c->old_n, KQ_ERR_INVALID_ARG);
    return KQ_OK;
}

static void copy_public(struct kq_dkg *m, const struct kq_dkg_cfg *c)
{
    m->mode = c->mode;
    memcpy(m->session, c->session, KQ_DKG_SESSIONBYTES);
    m->n = c->n;
    m->t = c->t;
    memcpy(m->pks, c->pks, (size_t)c->n * KQ_DKG_X25519BYTES);
    m->me = c->my_index;
    if (c->mode == KQ_DKG_RESHARE) {
        m->dn = c->old_n;
        m->dt = c->old_t;
        m->me_d = c->my_old_index;
        memcpy(m->dpks, c->old_pks, (size_t)c->old_n * KQ_DKG_X25519BYTES);
    } else {
        m->dn = c->n;
        m->dt = c->t;
        m->me_d = c->my_index;
        memcpy(m->dpks, c->pks, (size_t)c->n * KQ_DKG_X25519BYTES);
    }
    m->old_t = c->mode == KQ_DKG_FRESH ? 0 : m->dt;
    if (m->old_t > 0)
        memcpy(m->old_commits, c->old_commits, (size_t)m->old_t * KQ_POINTBYTES);
    m->deadline[0] = c->deal_deadline;
    m->deadline[1] = c->complaint_deadline;
    m->deadline[2] = c->justify_deadline;
}

static enum kq_err check_old_commits(const struct kq_dkg *m)
{
    if (m->old_t == 0)
        return KQ_OK;
    KQ_GUARD(kq_pt_check(m->old_commits[0])); /* S is never the identity */
    for (uint32_t k = 1; k < m->old_t; k++)
        KQ_GUARD(kq_pt_check_allow_identity(m->old_commits[k]));
    return KQ_OK;
}

/* My secrets: the epoch key must match my published key(s); my old share must match the old
 * commitments at my dealing index. */
static enum kq_err copy_secrets(struct kq_dkg *m, const struct kq_dkg_cfg *c)
{
    bool needs_old = m->mode == KQ_DKG_REFRESH ? m->me != 0 : m->me_d != 0;
    if (m->me == 0 && m->me_d == 0)
        return KQ_OK;
    KQ_ENSURE(c->epoch_sk != NULL, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(m->me_d == 0 || c->seed != NULL, KQ_ERR_INVALID_ARG);
    memcpy(m->epoch_sk, c->epoch_sk, KQ_DKG_X25519BYTES);
    if (c->seed != NULL)
        memcpy(m->seed, c->seed, KQ_DKG_SEEDBYTES);
    KQ_ENSURE(crypto_scalarmult_base(m->my_pk, m->epoch_sk) == 0, KQ_ERR_AUTH);
    KQ_DECLASSIFY(m->my_pk, KQ_DKG_X25519BYTES); /* my epoch public key is published */
    KQ_ENSURE(m->me == 0 || memcmp(m->my_pk, m->pks[m->me - 1], KQ_DKG_X25519BYTES) == 0,
              KQ_ERR_AUTH);
    KQ_ENSURE(m->me_d == 0 || memcmp(m->my_pk, m->dpks[m->me_d - 1], KQ_DKG_X25519BYTES) == 0,
              KQ_ERR_AUTH);
    if (m->mode == KQ_DKG_FRESH || !needs_old)
        return KQ_OK;
    KQ_ENSURE(c->old_share != NULL, KQ_ERR_INVALID_ARG);
    memcpy(m->old_share, c->old_share, KQ_SCALARBYTES);
    return kq_vss_verify_share(m->old_share, m->mode == KQ_DKG_REFRESH ? m->me : m->me_d,
                               (const uint8_t(*)[KQ_POINTBYTES])m->old_commits, m->old_t);
}

enum kq_err kq_dkg_new(struct kq_dkg **out, const struct kq_dkg_cfg *cfg)
{
    enum kq_err err = KQ_OK;
    struct kq_dkg *m = NULL;
    KQ_ASSERT(out != NULL && cfg != NULL);
    *out = NULL;
    KQ_GUARD(check_sizes(cfg));
    m = kq_secure_alloc(sizeof *m);
    KQ_ENSURE(m != NULL, KQ_ERR_NOMEM);
    copy_public(m, cfg);
    KQ_TRY(check_old_commits(m));
    KQ_TRY(copy_secrets(m, cfg));
    m->phase = PH_DEAL;
    *out = m;
out:
    if (err != KQ_OK)
        kq_secure_free(m);
    return err;
}

void kq_dkg_free(struct kq_dkg *m)
{
    kq_secure_free(m); /* wipes */
}

enum kq_dkg_status kq_dkg_status(const struct kq_dkg *m)
{
    if (m->phase == PH_DONE)
        return KQ_DKG_DONE;
    return m->phase == PH_FAILED ? KQ_DKG_FAILED : KQ_DKG_RUNNING;
}

enum kq_err kq_dkg_error(const struct kq_dkg *m)
{
    return m->err;
}

enum kq_dkg_dealer_state kq_dkg_dealer_state(const struct kq_dkg *m, uint32_t dealer,
                                             enum kq_err *reason)
{
    KQ_ASSERT(dealer >= 1 && dealer <= m->dn);
    if (reason != NULL)
        *reason = m->dealers[dealer - 1].reason;
    return (enum kq_dkg_dealer_state)m->dealers[dealer - 1].state;
}

/* ---- Hashes, randomness and the share boxes ------------------------------------------- */

/* A scalar expanded from my seed: H(TAG_RAND, seed, session, label, k). */
static void derive_scalar(const struct kq_dkg *m, uint8_t out[KQ_SCALARBYTES], const char *label,
                          uint32_t k)
{
    struct kq_ts ts;
    kq_ts_init(&ts, TAG_RAND);
    kq_ts_put(&ts, m->seed, KQ_DKG_SEEDBYTES);
    kq_ts_put(&ts, m->session, KQ_DKG_SESSIONBYTES);
    kq_ts_put(&ts, label, strlen(label));
    kq_ts_put_u32(&ts, k);
    kq_ts_scalar(&ts, out);
}

static void commits_hash(const struct kq_dkg *m, uint8_t out[CHASHBYTES], uint32_t dealer,
                         const uint8_t *commits, uint32_t t)
{
    struct kq_ts ts;
    kq_ts_init(&ts, TAG_COMMITS);
    kq_ts_put(&ts, m->session, KQ_DKG_SESSIONBYTES);
    kq_ts_put_u32(&ts, dealer);
    kq_ts_put(&ts, commits, (size_t)t * KQ_POINTBYTES);
    kq_ts_digest(&ts, out);
}

static void pok_bind(const struct kq_dkg *m, struct kq_ts *ts, uint32_t dealer)
{
    kq_ts_init(ts, TAG_POK);
    kq_ts_put(ts, m->session, KQ_DKG_SESSIONBYTES);
    kq_ts_put_u32(ts, dealer);
}

/* The proof of knowledge of my constant term, with the nonce expanded from the seed so that a
 * run replays bit for bit. The nonce is unique per (seed, session) and so is x, hence never
 * reused for two different statements. */
static void pok_prove(const struct kq_dkg *m, uint8_t proof[KQ_PROOFBYTES],
                      const uint8_t x[KQ_SCALARBYTES], const uint8_t X[KQ_POINTBYTES])
{
    uint8_t k[KQ_SCALARBYTES];
    struct kq_ts ts;
    derive_scalar(m, k, "pok-nonce", 0);
    pok_bind(m, &ts, m->me_d);
    kq_schnorr_prove_with_nonce(proof, &ts, x, X, k);
    kq_wipe(k, sizeof k);
}

/* key = SHA-512 transcript(TAG_BOX_KEY, session, dealer, recipient, dealer pk, recipient pk,
 * X25519 shared secret, commitment hash)[0..32); ad = session || dealer || recipient || chash. */
static enum kq_err box_key(const struct kq_dkg *m, uint8_t key[32], uint8_t ad[ADBYTES],
                           uint32_t dealer, uint32_t recipient, const uint8_t *peer_pk,
                           const uint8_t chash[CHASHBYTES])
{
    enum kq_err err = KQ_OK;
    uint8_t shared[crypto_scalarmult_BYTES], digest[64];
    /* kq_dkg_new checked that my epoch key is the one published at my index(es). */
    const uint8_t *dpk = m->dpks[dealer - 1], *rpk = m->pks[recipient - 1];
    struct kq_ts ts;
    struct kq_buf b;
    /* crypto_scalarmult fails on an all-zero output (a low-order peer key). */
    KQ_CHECK(kq_declassify_int(crypto_scalarmult(shared, m->epoch_sk, peer_pk)) == 0,
             KQ_ERR_BAD_POINT);
    kq_ts_init(&ts, TAG_BOX_KEY);
    kq_ts_put(&ts, m->session, KQ_DKG_SESSIONBYTES);
    kq_ts_put_u32(&ts, dealer);
    kq_ts_put_u32(&ts, recipient);
    kq_ts_put(&ts, dpk, KQ_DKG_X25519BYTES);
    kq_ts_put(&ts, rpk, KQ_DKG_X25519BYTES);
    kq_ts_put(&ts, shared, sizeof shared);
    kq_ts_put(&ts, chash, CHASHBYTES);
    kq_ts_digest(&ts, digest);
    memcpy(key, digest, 32);
    kq_buf_writer(&b, ad, ADBYTES);
    KQ_TRY(kq_buf_put(&b, m->session, KQ_DKG_SESSIONBYTES));
    KQ_TRY(kq_buf_put_u32(&b, dealer));
    KQ_TRY(kq_buf_put_u32(&b, recipient));
    KQ_TRY(kq_buf_put(&b, chash, CHASHBYTES));
out:
    kq_wipe(shared, sizeof shared);
    kq_wipe(digest, sizeof digest);
    if (err != KQ_OK)
        kq_wipe(key, 32);
    return err;
}

/* The nonce is fixed (zero): the key hashes the commitment vector, and one commitment vector
 * fixes the polynomial and so the plaintext, so a key never encrypts two different plaintexts. */
static const uint8_t zero_nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];

static enum kq_err seal_share(const struct kq_dkg *m, uint8_t box[KQ_DKG_BOXBYTES],
                              const uint8_t share[KQ_SCALARBYTES], uint32_t j,
                              const uint8_t chash[CHASHBYTES])
{
    enum kq_err err = KQ_OK;
    uint8_t key[32], ad[ADBYTES];
    unsigned long long clen = 0;
    KQ_TRY(box_key(m, key, ad, m->me_d, j, m->pks[j - 1], chash));
    KQ_CHECK(crypto_aead_xchacha20poly1305_ietf_encrypt(box, &clen, share, KQ_SCALARBYTES, ad,
                                                        ADBYTES, NULL, zero_nonce, key) == 0,
             KQ_ERR_CRYPTO);
    KQ_ASSERT(clen == KQ_DKG_BOXBYTES);
out:
    kq_wipe(key, sizeof key);
    return err;
}

static enum kq_err open_share(const struct kq_dkg *m, uint8_t share[KQ_SCALARBYTES],
                              const uint8_t box[KQ_DKG_BOXBYTES], uint32_t dealer,
                              const uint8_t chash[CHASHBYTES])
{
    enum kq_err err = KQ_OK;
    uint8_t key[32], ad[ADBYTES];
    unsigned long long plen = 0;
    KQ_TRY(box_key(m, key, ad, dealer, m->me, m->dpks[dealer - 1], chash));
    /* whether a box opens, and its length, are public outcomes (they decide a complaint) */
    KQ_CHECK(kq_declassify_int(crypto_aead_xchacha20poly1305_ietf_decrypt(
                 share, &plen, NULL, box, KQ_DKG_BOXBYTES, ad, ADBYTES, zero_nonce, key)) == 0,
             KQ_ERR_AUTH);
    KQ_DECLASSIFY(&plen, sizeof plen);
    KQ_CHECK(plen == KQ_SCALARBYTES && kq_sc_is_canonical(share), KQ_ERR_BAD_SCALAR);
out:
    kq_wipe(key, sizeof key);
    if (err != KQ_OK)
        kq_wipe(share, KQ_SCALARBYTES);
    return err;
}

/* ---- Dealing ---------------------------------------------------------------------------- */

static enum kq_err emit(struct kq_dkg_actions *act, const struct kq_dkg_msg *msg)
{
    KQ_ASSERT(act->count < KQ_DKG_MAX_ACTIONS);
    size_t k = act->count;
    KQ_GUARD(
        kq_dkg_msg_encode(msg, act->msgs[k].bytes, sizeof act->msgs[k].bytes, &act->msgs[k].len));
    KQ_DECLASSIFY(act->msgs[k].bytes, act->msgs[k].len); /* a broadcast: public by design */
    act->count = k + 1;
    return KQ_OK;
}

/* My polynomial, re-expanded from the seed whenever needed (deal, justification). */
static void make_coeffs(const struct kq_dkg *m, uint8_t (*c)[KQ_SCALARBYTES])
{
    KQ_ASSERT(m->me_d != 0);
    if (m->mode == KQ_DKG_FRESH) {
        derive_scalar(m, c[0], "coeff", 0);
        KQ_ASSERT(!kq_sc_is_zero(c[0])); /* probability 2^-252 */
    } else if (m->mode == KQ_DKG_REFRESH) {
        memset(c[0], 0, KQ_SCALARBYTES); /* a sharing of zero */
    } else {
        memcpy(c[0], m->old_share, KQ_SCALARBYTES); /* reshare my share */
    }
    for (uint32_t k = 1; k < m->t; k++)
        derive_scalar(m, c[k], "coeff", k);
}

static enum kq_err build_deal(const struct kq_dkg *m, struct kq_dkg_actions *act)
{
    enum kq_err err = KQ_OK;
    uint8_t coeffs[KQ_DKG_MAX_N][KQ_SCALARBYTES], share[KQ_SCALARBYTES];
    uint8_t commits[KQ_DKG_MAX_N][KQ_POINTBYTES], boxes[KQ_DKG_MAX_N][KQ_DKG_BOXBYTES];
    uint8_t pok[KQ_PROOFBYTES], chash[CHASHBYTES];
    struct kq_dkg_msg msg = {.type = KQ_DKG_MSG_DEAL, .sender = m->me_d, .t = m->t};
    make_coeffs(m, coeffs);
    for (uint32_t k = 0; k < m->t; k++)
        kq_pt_mul_base(commits[k], coeffs[k]);
    commits_hash(m, chash, m->me_d, &commits[0][0], m->t);
    if (m->mode == KQ_DKG_FRESH)
        pok_prove(m, pok, coeffs[0], commits[0]);
    for (uint32_t j = 1; j <= m->n; j++) {
        kq_poly_eval(share, (const uint8_t(*)[KQ_SCALARBYTES])coeffs, m->t, j);
        /* A recipient key we cannot encrypt to (low order) gets an empty box: it complains
         * and the share is justified in public. */
        if (seal_share(m, boxes[j - 1], share, j, chash) != KQ_OK)
            memset(boxes[j - 1], 0, KQ_DKG_BOXBYTES);
    }
    memcpy(msg.session, m->session, KQ_DKG_SESSIONBYTES);
    msg.commits = &commits[0][0];
    msg.has_pok = m->mode == KQ_DKG_FRESH;
    msg.pok = pok;
    msg.nboxes = m->n;
    msg.boxes = &boxes[0][0];
    KQ_TRY(emit(act, &msg));
out:
    kq_wipe(coeffs, sizeof coeffs);
    kq_wipe(share, sizeof share);
    return err;
}

static void actions_reset(const struct kq_dkg *m, struct kq_dkg_actions *act)
{
    act->count = 0;
    act->status = kq_dkg_status(m);
    act->err = m->err;
}

static void actions_done(const struct kq_dkg *m, struct kq_dkg_actions *act)
{
    act->status = kq_dkg_status(m);
    act->err = m->err;
}

enum kq_err kq_dkg_start(struct kq_dkg *m, struct kq_dkg_actions *act)
{
    KQ_ASSERT(m != NULL && act != NULL);
    actions_reset(m, act);
    KQ_ENSURE(!m->started && m->phase == PH_DEAL, KQ_ERR_STATE);
    m->started = true;
    if (m->me_d != 0)
        KQ_GUARD(build_deal(m, act));
    return KQ_OK;
}

/* ---- Receiving ------------------------------------------------------------------------- */

/* The public checks of a deal: any failure disqualifies the dealer in everyone's view. */
static enum kq_err check_deal(const struct kq_dkg *m, uint32_t i, const struct kq_dkg_msg *d)
{
    const uint8_t(*c)[KQ_POINTBYTES] = (const uint8_t(*)[KQ_POINTBYTES])d->commits;
    struct kq_ts bind;
    uint8_t si[KQ_POINTBYTES];
    KQ_ENSURE(d->t == m->t, KQ_ERR_BAD_COMMITMENT);
    KQ_ENSURE(d->nboxes == m->n, KQ_ERR_FORMAT);
    for (uint32_t k = 0; k < d->t; k++)
        KQ_GUARD(kq_pt_check_allow_identity(c[k]));
    KQ_ENSURE(d->has_pok == (m->mode == KQ_DKG_FRESH), KQ_ERR_BAD_PROOF);
    switch (m->mode) {
    case KQ_DKG_FRESH:
        KQ_GUARD(kq_pt_check(c[0]));
        pok_bind(m, &bind, i);
        return kq_schnorr_verify(d->pok, &bind, c[0]);
    case KQ_DKG_REFRESH:
        KQ_ENSURE(kq_pt_is_identity(c[0]), KQ_ERR_BAD_COMMITMENT);
        return KQ_OK;
    case KQ_DKG_RESHARE:
        /* C_i0 must be the dealer's current public share S_i. */
        KQ_GUARD(
            kq_vss_eval_commits(si, (const uint8_t(*)[KQ_POINTBYTES])m->old_commits, m->old_t, i));
        KQ_ENSURE(memcmp(si, c[0], KQ_POINTBYTES) == 0, KQ_ERR_BAD_COMMITMENT);
        return KQ_OK;
    }
    return KQ_ERR_INVALID_ARG;
}

static enum kq_err on_deal(struct kq_dkg *m, uint32_t i, const uint8_t *bytes, size_t len)
{
    struct kq_dkg_msg d;
    KQ_ENSURE(m->phase == PH_DEAL, KQ_ERR_STATE);
    KQ_ENSURE(i <= m->dn, KQ_ERR_AUTH);
    struct dealer *dl = dealer_at(m, i);
    KQ_ENSURE(dl->state == KQ_DKG_DEALER_PENDING, KQ_ERR_STATE);
    enum kq_err why = kq_dkg_msg_decode(bytes, len, &d);
    if (why == KQ_OK)
        why = check_deal(m, i, &d);
    if (why != KQ_OK) {
        disqualify(dl, why);
        return KQ_OK;
    }
    memcpy(dl->commits, d.commits, (size_t)d.t * KQ_POINTBYTES);
    commits_hash(m, dl->chash, i, d.commits, d.t);
    dl->state = KQ_DKG_DEALER_VALID;
    if (m->me == 0)
        return KQ_OK;
    const uint8_t *box = d.boxes + (size_t)(m->me - 1) * KQ_DKG_BOXBYTES;
    dl->share_state = open_share(m, dl->share, box, i, dl->chash) == KQ_OK ? SH_PENDING : SH_BAD;
    return KQ_OK;
}

static enum kq_err on_complaint(struct kq_dkg *m, uint32_t j, const uint8_t *bytes, size_t len)
{
    struct kq_dkg_msg c;
    KQ_ENSURE(m->phase == PH_COMPLAIN, KQ_ERR_STATE);
    KQ_ENSURE(j <= m->n, KQ_ERR_AUTH);
    KQ_ENSURE(!m->complaint_seen[j], KQ_ERR_STATE);
    KQ_GUARD(kq_dkg_msg_decode(bytes, len, &c));
    for (uint32_t k = 0; k < c.count; k++)
        KQ_ENSURE(c.idx[k] <= m->dn, KQ_ERR_FORMAT);
    m->complaint_seen[j] = true;
    for (uint32_t k = 0; k < c.count; k++) {
        struct dealer *dl = dealer_at(m, c.idx[k]);
        if (dl->state != KQ_DKG_DEALER_VALID)
            continue; /* already out: nothing to answer */
        dl->complained[j] = true;
        dl->ncomplaints++;
    }
    return KQ_OK;
}

/* A justification must reveal, for exactly the recipients who complained, shares that verify. */
static enum kq_err check_justification(const struct kq_dkg *m, const struct dealer *dl,
                                       const struct kq_dkg_msg *jm)
{
    KQ_ENSURE(jm->count == dl->ncomplaints, KQ_ERR_FORMAT);
    for (uint32_t k = 0; k < jm->count; k++) {
        uint32_t j = jm->idx[k];
        KQ_ENSURE(j <= m->n && dl->complained[j], KQ_ERR_FORMAT);
        KQ_GUARD(kq_vss_verify_share(jm->shares + (size_t)k * KQ_SCALARBYTES, j,
                                     (const uint8_t(*)[KQ_POINTBYTES])dl->commits, m->t));
    }
    return KQ_OK;
}

static enum kq_err on_justification(struct kq_dkg *m, uint32_t i, const uint8_t *bytes, size_t len)
{
    struct kq_dkg_msg jm;
    KQ_ENSURE(m->phase == PH_JUSTIFY, KQ_ERR_STATE);
    KQ_ENSURE(i <= m->dn, KQ_ERR_AUTH);
    struct dealer *dl = dealer_at(m, i);
    KQ_ENSURE(dl->state == KQ_DKG_DEALER_VALID && dl->ncomplaints > 0 && !dl->justified,
              KQ_ERR_STATE);
    enum kq_err why = kq_dkg_msg_decode(bytes, len, &jm);
    if (why == KQ_OK)
        why = check_justification(m, dl, &jm);
    if (why != KQ_OK) {
        disqualify(dl, why);
        return KQ_OK;
    }
    dl->justified = true;
    for (uint32_t k = 0; m->me != 0 && k < jm.count; k++) {
        if (jm.idx[k] != m->me)
            continue;
        memcpy(dl->share, jm.shares + (size_t)k * KQ_SCALARBYTES, KQ_SCALARBYTES);
        dl->share_state = SH_OK; /* verified in check_justification */
    }
    return KQ_OK;
}

enum kq_err kq_dkg_on_message(struct kq_dkg *m, uint32_t sender, const uint8_t *msg, size_t len,
                              struct kq_dkg_actions *act)
{
    struct kq_dkg_msg h;
    enum kq_err err = KQ_OK;
    KQ_ASSERT(m != NULL && act != NULL && (msg != NULL || len == 0));
    actions_reset(m, act);
    KQ_GUARD(kq_dkg_msg_decode_header(msg, len, &h));
    KQ_ENSURE(memcmp(h.session, m->session, KQ_DKG_SESSIONBYTES) == 0, KQ_ERR_LABEL);
    KQ_ENSURE(h.sender == sender, KQ_ERR_AUTH);
    if (h.type == KQ_DKG_MSG_DEAL)
        err = on_deal(m, sender, msg, len);
    else if (h.type == KQ_DKG_MSG_COMPLAINT)
        err = on_complaint(m, sender, msg, len);
    else
        err = on_justification(m, sender, msg, len);
    actions_done(m, act);
    return err;
}

/* ---- Deadlines ------------------------------------------------------------------------- */

/* Marks each pending share OK or BAD, checking every dealer's share on its own against that
 * dealer's commitments (one base multiplication and one commitment evaluation, ~0.3 + 0.1 t M).
 * A check of the plain sum would be cheaper in multiplications but lets two colluding dealers
 * send errors that cancel; per-dealer checks cannot be fooled that way and name every bad
 * dealer directly. */
static enum kq_err verify_my_shares(struct kq_dkg *m)
{
    for (uint32_t i = 1; i <= m->dn; i++) {
        struct dealer *dl = dealer_at(m, i);
        if (dl->state != KQ_DKG_DEALER_VALID || dl->share_state != SH_PENDING)
            continue;
        bool good =
            kq_vss_verify_share(dl->share, m->me, (const uint8_t(*)[KQ_POINTBYTES])dl->commits,
                                m->t) == KQ_OK;
        dl->share_state = good ? SH_OK : SH_BAD;
    }
    return KQ_OK;
}

static enum kq_err close_deals(struct kq_dkg *m, struct kq_dkg_actions *act)
{
    struct kq_dkg_msg c = {.type = KQ_DKG_MSG_COMPLAINT, .sender = m->me};
    for (uint32_t i = 1; i <= m->dn; i++) {
        struct dealer *dl = dealer_at(m, i);
        if (dl->state == KQ_DKG_DEALER_PENDING) {
            dl->state = KQ_DKG_DEALER_ABSENT;
            dl->reason = KQ_ERR_NOT_FOUND;
        }
    }
    m->phase = PH_COMPLAIN;
    if (m->me == 0)
        return KQ_OK;
    KQ_GUARD(verify_my_shares(m));
    for (uint32_t i = 1; i <= m->dn; i++) {
        const struct dealer *dl = dealer_at(m, i);
        if (dl->state == KQ_DKG_DEALER_VALID && dl->share_state == SH_BAD)
            c.idx[c.count++] = i;
    }
    if (c.count == 0)
        return KQ_OK;
    memcpy(c.session, m->session, KQ_DKG_SESSIONBYTES);
    return emit(act, &c);
}

static enum kq_err build_justification(const struct kq_dkg *m, const struct dealer *dl,
                                       struct kq_dkg_actions *act)
{
    enum kq_err err = KQ_OK;
    uint8_t coeffs[KQ_DKG_MAX_N][KQ_SCALARBYTES], shares[KQ_DKG_MAX_N][KQ_SCALARBYTES];
    struct kq_dkg_msg jm = {.type = KQ_DKG_MSG_JUSTIFICATION, .sender = m->me_d};
    make_coeffs(m, coeffs);
    for (uint32_t j = 1; j <= m->n; j++) {
        if (!dl->complained[j])
            continue;
        kq_poly_eval(shares[jm.count], (const uint8_t(*)[KQ_SCALARBYTES])coeffs, m->t, j);
        jm.idx[jm.count++] = j;
    }
    memcpy(jm.session, m->session, KQ_DKG_SESSIONBYTES);
    jm.shares = &shares[0][0];
    KQ_TRY(emit(act, &jm));
out:
    kq_wipe(coeffs, sizeof coeffs);
    kq_wipe(shares, sizeof shares);
    return err;
}

static enum kq_err finalize(struct kq_dkg *m);

static enum kq_err close_complaints(struct kq_dkg *m, struct kq_dkg_actions *act)
{
    bool any = false;
    for (uint32_t i = 1; i <= m->dn; i++) {
        const struct dealer *dl = dealer_at(m, i);
        any = any || (dl->state == KQ_DKG_DEALER_VALID && dl->ncomplaints > 0);
    }
    if (!any)
        return finalize(m); /* everyone saw the same (no) complaints: skip the justify phase */
    m->phase = PH_JUSTIFY;
    if (m->me_d == 0)
        return KQ_OK;
    const struct dealer *mine = dealer_at(m, m->me_d);
    if (mine->state != KQ_DKG_DEALER_VALID || mine->ncomplaints == 0)
        return KQ_OK;
    return build_justification(m, mine, act);
}

static enum kq_err close_justifications(struct kq_dkg *m)
{
    for (uint32_t i = 1; i <= m->dn; i++) {
        struct dealer *dl = dealer_at(m, i);
        if (dl->state == KQ_DKG_DEALER_VALID && dl->ncomplaints > 0 && !dl->justified)
            disqualify(dl, KQ_ERR_NOT_FOUND);
    }
    return finalize(m);
}

enum kq_err kq_dkg_on_height(struct kq_dkg *m, uint64_t height, struct kq_dkg_actions *act)
{
    enum kq_err err = KQ_OK;
    KQ_ASSERT(m != NULL && act != NULL);
    actions_reset(m, act);
    KQ_ENSURE(height >= m->height, KQ_ERR_INVALID_ARG);
    m->height = height;
    if (m->phase == PH_DEAL && height >= m->deadline[0])
        KQ_TRY(close_deals(m, act));
    if (m->phase == PH_COMPLAIN && height >= m->deadline[1])
        KQ_TRY(close_complaints(m, act));
    if (m->phase == PH_JUSTIFY && height >= m->deadline[2])
        KQ_TRY(close_justifications(m));
out:
    if (err != KQ_OK)
        fail(m, err);
    actions_done(m, act);
    return err;
}

/* ---- Finalize -------------------------------------------------------------------------- */

/* A_k = [old_k +] sum_{i in QUAL} C_ik, or sum lambda_i C_ik when resharing. */
static enum kq_err aggregate(struct kq_dkg *m, const uint8_t (*lam)[KQ_SCALARBYTES])
{
    struct kq_dkg_result *r = &m->result;
    uint8_t pts[KQ_DKG_MAX_N + 1][KQ_POINTBYTES]; /* QUAL's k-th commitments [+ the old A_k] */
    for (uint32_t k = 0; k < m->t; k++) {
        for (uint32_t q = 0; q < r->qual_count; q++)
            memcpy(pts[q], dealer_at(m, r->qual[q])->commits[k], KQ_POINTBYTES);
        if (m->mode == KQ_DKG_RESHARE) {
            KQ_GUARD(kq_pt_lincomb(r->commits[k], lam, (const uint8_t(*)[KQ_POINTBYTES])pts,
                                   r->qual_count));
            continue;
        }
        size_t count = r->qual_count;
        if (m->mode == KQ_DKG_REFRESH)
            memcpy(pts[count++], m->old_commits[k], KQ_POINTBYTES);
        KQ_GUARD(kq_pt_sum(r->commits[k], (const uint8_t(*)[KQ_POINTBYTES])pts, count));
    }
    if (m->mode == KQ_DKG_FRESH)
        KQ_GUARD(kq_pt_check(r->commits[0]));
    else /* refresh and reshare keep S */
        KQ_ENSURE(memcmp(r->commits[0], m->old_commits[0], KQ_POINTBYTES) == 0,
                  KQ_ERR_BAD_COMMITMENT);
    memcpy(r->group_pk, r->commits[0], KQ_POINTBYTES);
    return kq_vss_public_shares(r->public_shares, m->n, (const uint8_t(*)[KQ_POINTBYTES])r->commits,
                                m->t);
}

/* s_me = [old +] sum_{i in QUAL} [lambda_i] s_i,me, checked against my public share. A share
 * missing from a QUAL dealer (my complaint never made it) leaves me without a share. */
static void my_share(struct kq_dkg *m, const uint8_t (*lam)[KQ_SCALARBYTES])
{
    struct kq_dkg_result *r = &m->result;
    uint8_t acc[KQ_SCALARBYTES] = {0}, term[KQ_SCALARBYTES], pub[KQ_POINTBYTES];
    bool complete = true;
    if (m->mode == KQ_DKG_REFRESH)
        memcpy(acc, m->old_share, KQ_SCALARBYTES);
    for (uint32_t q = 0; q < r->qual_count; q++) {
        const struct dealer *dl = dealer_at(m, r->qual[q]);
        complete = complete && dl->share_state == SH_OK;
        if (m->mode == KQ_DKG_RESHARE)
            crypto_core_ristretto255_scalar_mul(term, lam[q], dl->share);
        else
            memcpy(term, dl->share, KQ_SCALARBYTES);
        crypto_core_ristretto255_scalar_add(acc, acc, term);
    }
    kq_pt_mul_base(pub, acc);
    KQ_DECLASSIFY(pub, sizeof pub); /* my public share: derivable by anyone from the transcript */
    r->has_share = complete && kq_ct_eq(pub, r->public_shares[m->me - 1], KQ_POINTBYTES) == 1;
    if (r->has_share)
        memcpy(r->share, acc, KQ_SCALARBYTES);
    kq_wipe(acc, sizeof acc);
    kq_wipe(term, sizeof term);
    kq_wipe(pub, sizeof pub);
}

static enum kq_err finalize(struct kq_dkg *m)
{
    struct kq_dkg_result *r = &m->result;
    uint8_t lam[KQ_DKG_MAX_N][KQ_SCALARBYTES];
    uint32_t need = m->mode == KQ_DKG_RESHARE ? m->dt : m->t;
    memset(r, 0, sizeof *r);
    r->index = m->me;
    r->n = m->n;
    r->t = m->t;
    for (uint32_t i = 1; i <= m->dn; i++)
        if (dealer_at(m, i)->state == KQ_DKG_DEALER_VALID)
            r->qual[r->qual_count++] = i;
    KQ_ENSURE(r->qual_count >= need, KQ_ERR_THRESHOLD);
    if (m->mode == KQ_DKG_RESHARE) /* inversion-free: indices are public and small */
        KQ_GUARD(kq_lagrange0(lam, r->qual, r->qual_count));
    KQ_GUARD(aggregate(m, (const uint8_t(*)[KQ_SCALARBYTES])lam));
    if (m->me != 0)
        my_share(m, (const uint8_t(*)[KQ_SCALARBYTES])lam);
    m->phase = PH_DONE;
    return KQ_OK;
}

enum kq_err kq_dkg_result(const struct kq_dkg *m, struct kq_dkg_result *out)
{
    KQ_ASSERT(m != NULL && out != NULL);
    if (m->phase != PH_DONE) {
        kq_dkg_result_wipe(out);
        return KQ_ERR_STATE;
    }
    memcpy(out, &m->result, sizeof *out);
    return KQ_OK;
}

void kq_dkg_result_wipe(struct kq_dkg_result *r)
{
    kq_wipe(r, sizeof *r);
}

/* ---- Transcript ------------------------------------------------------------------------ */

enum kq_err kq_dkg_transcript_derive(const struct kq_dkg_cfg *pub,
                                     const struct kq_dkg_transcript_msg *msgs, size_t count,
                                     struct kq_dkg_result *out)
{
    enum kq_err err = KQ_OK;
    struct kq_dkg *m = NULL;
    struct kq_dkg_actions *act = NULL;
    struct kq_dkg_cfg c = *pub;
    KQ_ASSERT(pub != NULL && out != NULL && (msgs != NULL || count == 0));
    kq_dkg_result_wipe(out);
    c.my_index = 0;
    c.my_old_index = 0;
    c.epoch_sk = NULL;
    c.old_share = NULL;
    c.seed = NULL;
    act = calloc(1, sizeof *act);
    KQ_CHECK(act != NULL, KQ_ERR_NOMEM);
    KQ_TRY(kq_dkg_new(&m, &c));
    for (size_t k = 0; k < count; k++) {
        KQ_TRY(kq_dkg_on_height(m, msgs[k].height, act));
        /* A rejected message is rejected by every participant alike: skip it. */
        enum kq_err rejected =
            kq_dkg_on_message(m, msgs[k].sender, msgs[k].bytes, msgs[k].len, act);
        (void)rejected;
    }
    KQ_TRY(kq_dkg_on_height(m, c.justify_deadline, act));
    KQ_CHECK(kq_dkg_status(m) != KQ_DKG_FAILED, kq_dkg_error(m));
    KQ_TRY(kq_dkg_result(m, out));
out:
    kq_dkg_free(m);
    free(act);
    if (err != KQ_OK)
        kq_dkg_result_wipe(out);
    return err;
}
