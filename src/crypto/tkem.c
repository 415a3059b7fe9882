/* Labelled threshold KEM. Invariants: a holder computes with its share only after the wrapper's
 * proof of knowledge of r verifies against (S, R, label); every secret temporary (r, k, Z, KEK,
 * terms of the interpolation) is wiped on every path; every output is wiped on failure. */
#include "crypto/tkem.h"

#include <string.h>

#include "base/buf.h"
#include "base/ct.h"
#include "base/mem.h"

KQ_STATIC_ASSERT(KQ_TKEM_NONCEBYTES == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce");
KQ_STATIC_ASSERT(KQ_TKEM_KEKBYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key");
KQ_STATIC_ASSERT(KQ_TKEM_TAGBYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag");
KQ_STATIC_ASSERT(KQ_TKEM_HEADERBYTES == 162, "header layout of docs/crypto/tkem.md");
KQ_STATIC_ASSERT(KQ_MAX_DATA_PLAINTEXT_BYTES + KQ_TKEM_TAGBYTES <= UINT32_MAX, "u32 length");
KQ_STATIC_ASSERT(KQ_PURPOSE_DEK == 1 && KQ_PURPOSE_DATA == 2, "type bytes are stable");

size_t kq_tkem_headerbytes(void)
{
    return KQ_TKEM_HEADERBYTES;
}

size_t kq_tkem_ctbytes(size_t payload_len)
{
    return KQ_TKEM_CTBYTES(payload_len);
}

size_t kq_tkem_textbytes(size_t payload_len)
{
    return KQ_TKEM_TEXTBYTES(payload_len);
}

/* ---- Hashes ------------------------------------------------------------------------------ */

/* The transcript the wrapper's Schnorr proof is bound to: (tag, S, label bytes); kq_schnorr_*
 * then absorb R and T. */
static void pok_bind(struct kq_ts *ts, const uint8_t S[KQ_POINTBYTES], const struct kq_label *l)
{
    kq_ts_init(ts, KQ_TKEM_POK_TAG);
    kq_ts_put(ts, S, KQ_POINTBYTES);
    kq_ts_put(ts, l->bytes, l->len);
}

static void partial_bind(struct kq_ts *ts, const uint8_t digest[KQ_LABEL_DIGESTBYTES],
                         uint32_t index)
{
    kq_ts_init(ts, KQ_TKEM_PARTIAL_TAG);
    kq_ts_put(ts, digest, KQ_LABEL_DIGESTBYTES);
    kq_ts_put_u32(ts, index);
}

/* KEK = SHA-512(tag, S, R, Z, L)[0..32); commit = SHA-512(tag', KEK)[0..32). */
static void kek_derive(uint8_t kek[KQ_TKEM_KEKBYTES], uint8_t commit[KQ_TKEM_COMMITBYTES],
                       const uint8_t S[KQ_POINTBYTES], const uint8_t R[KQ_POINTBYTES],
                       const uint8_t Z[KQ_POINTBYTES], const struct kq_label *l)
{
    uint8_t h[64];
    struct kq_ts ts;
    kq_ts_init(&ts, KQ_TKEM_KEK_TAG);
    kq_ts_put(&ts, S, KQ_POINTBYTES);
    kq_ts_put(&ts, R, KQ_POINTBYTES);
    kq_ts_put(&ts, Z, KQ_POINTBYTES);
    kq_ts_put(&ts, l->bytes, l->len);
    kq_ts_digest(&ts, h);
    memcpy(kek, h, KQ_TKEM_KEKBYTES);
    kq_ts_init(&ts, KQ_TKEM_COMMIT_TAG);
    kq_ts_put(&ts, kek, KQ_TKEM_KEKBYTES);
    kq_ts_digest(&ts, h);
    memcpy(commit, h, KQ_TKEM_COMMITBYTES);
    kq_wipe(h, sizeof h);
}

/* ---- Wrap -------------------------------------------------------------------------------- */

static enum kq_err check_payload(const struct kq_label *label, size_t pt_len)
{
    KQ_ENSURE(label->purpose == KQ_PURPOSE_DEK || label->purpose == KQ_PURPOSE_DATA, KQ_ERR_TYPE);
    if (label->purpose == KQ_PURPOSE_DEK)
        KQ_ENSURE(pt_len == KQ_TKEM_DEKBYTES, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(pt_len <= KQ_MAX_DATA_PLAINTEXT_BYTES, KQ_ERR_LIMIT);
    return KQ_OK;
}

/* Writes the header up to the sealed length and reserves the sealed bytes (*sealed). */
static enum kq_err put_header(struct kq_buf *b, const struct kq_tkem_ct *ct, uint8_t **sealed)
{
    KQ_GUARD(kq_buf_put_u8(b, KQ_TKEM_FORMAT_V1));
    KQ_GUARD(kq_buf_put_u8(b, ct->type));
    KQ_GUARD(kq_buf_put_u32(b, ct->version));
    KQ_GUARD(kq_buf_put(b, ct->R, KQ_POINTBYTES));
    KQ_GUARD(kq_buf_put(b, ct->proof, KQ_PROOFBYTES));
    KQ_GUARD(kq_buf_put(b, ct->commit, KQ_TKEM_COMMITBYTES));
    KQ_GUARD(kq_buf_put(b, ct->nonce, KQ_TKEM_NONCEBYTES));
    KQ_GUARD(kq_buf_put_u32(b, (uint32_t)ct->sealed_len));
    return kq_buf_reserve(b, ct->sealed_len, sealed);
}

/* R = r*G, Z = r*S, and the Schnorr proof (c, z) with T = k*G, c = H(bind, R, T), z = k + c*r:
 * the equations of kq_schnorr_prove, with the nonce k supplied so that vectors are fixed. */
/* R = r*G, Z = r*S (through S's precomputed table when St is not NULL) and the proof. */
static enum kq_err wrap_group(struct kq_tkem_ct *ct, uint8_t Z[KQ_POINTBYTES],
                              const uint8_t S[KQ_POINTBYTES], const struct kq_pt_table *St,
                              const struct kq_label *label, const struct kq_tkem_coins *coins)
{
    struct kq_ts ts;
    KQ_GUARD(kq_sc_check(coins->r));
    KQ_GUARD(kq_sc_check(coins->k));
    kq_pt_mul_base(ct->R, coins->r);
    if (St != NULL)
        kq_pt_table_mul(Z, St, coins->r);
    else
        KQ_GUARD(kq_pt_mul(Z, coins->r, S));
    pok_bind(&ts, S, label);
    kq_schnorr_prove_with_nonce(ct->proof, &ts, coins->r, ct->R, coins->k);
    return KQ_OK;
}

static enum kq_err wrap_impl(uint8_t *out, size_t out_cap, size_t *out_len,
                             const uint8_t S[KQ_POINTBYTES], const struct kq_pt_table *St,
                             const struct kq_label *label, const uint8_t *pt, size_t pt_len,
                             const struct kq_tkem_coins *coins)
{
    uint8_t Z[KQ_POINTBYTES] = {0}, kek[KQ_TKEM_KEKBYTES] = {0};
    uint8_t *sealed = NULL;
    unsigned long long clen = 0;
    struct kq_tkem_ct ct;
    struct kq_buf b;
    enum kq_err err = KQ_OK;
    KQ_ASSERT(out != NULL && out_len != NULL && S != NULL && label != NULL && coins != NULL);
    KQ_ASSERT(pt != NULL || pt_len == 0);
    *out_len = 0;
    memset(&ct, 0, sizeof ct);
    KQ_TRY(check_payload(label, pt_len));
    KQ_CHECK(!kq_pt_is_identity(S), KQ_ERR_BAD_POINT); /* r*S checks the encoding */
    KQ_CHECK(out_cap >= KQ_TKEM_CTBYTES(pt_len), KQ_ERR_OVERFLOW);
    ct.type = (uint8_t)label->purpose;
    ct.version = label->version;
    ct.sealed_len = pt_len + KQ_TKEM_TAGBYTES;
    memcpy(ct.nonce, coins->nonce, KQ_TKEM_NONCEBYTES);
    KQ_TRY(wrap_group(&ct, Z, S, St, label, coins));
    kek_derive(kek, ct.commit, S, ct.R, Z, label);
    kq_buf_writer(&b, out, out_cap);
    KQ_TRY(put_header(&b, &ct, &sealed));
    KQ_CHECK(crypto_aead_xchacha20poly1305_ietf_encrypt(sealed, &clen, pt, pt_len, label->bytes,
                                                        label->len, NULL, ct.nonce, kek) == 0,
             KQ_ERR_CRYPTO);
    KQ_ASSERT(clen == ct.sealed_len);
    *out_len = kq_buf_len(&b);
    KQ_ASSERT(*out_len == KQ_TKEM_CTBYTES(pt_len));
out:
    kq_wipe(Z, sizeof Z);
    kq_wipe(kek, sizeof kek);
    if (err != KQ_OK && out_cap > 0)
        kq_wipe(out, out_cap < KQ_TKEM_CTBYTES(pt_len) ? out_cap : KQ_TKEM_CTBYTES(pt_len));
    return err;
}

enum kq_err kq_tkem_wrap_with(uint8_t *out, size_t out_cap, size_t *out_len,
                              const uint8_t S[KQ_POINTBYTES], const struct kq_label *label,
                              const uint8_t *pt, size_t pt_len, const struct kq_tkem_coins *coins)
{
    return wrap_impl(out, out_cap, out_len, S, NULL, label, pt, pt_len, coins);
}

static enum kq_err wrap_random(uint8_t *out, size_t out_cap, size_t *out_len,
                               const uint8_t S[KQ_POINTBYTES], const struct kq_pt_table *St,
                               const struct kq_label *label, const uint8_t *pt, size_t pt_len)
{
    struct kq_tkem_coins coins;
    kq_sc_random(coins.r);
    kq_sc_nonce(coins.k, coins.r, KQ_SCALARBYTES);
    kq_random(coins.nonce, sizeof coins.nonce);
    enum kq_err err = wrap_impl(out, out_cap, out_len, S, St, label, pt, pt_len, &coins);
    kq_wipe(&coins, sizeof coins);
    return err;
}

enum kq_err kq_tkem_wrap(uint8_t *out, size_t out_cap, size_t *out_len,
                         const uint8_t S[KQ_POINTBYTES], const struct kq_label *label,
                         const uint8_t *pt, size_t pt_len)
{
    return wrap_random(out, out_cap, out_len, S, NULL, label, pt, pt_len);
}

enum kq_err kq_tkem_wrap_table(uint8_t *out, size_t out_cap, size_t *out_len,
                               const struct kq_pt_table *St, const struct kq_label *label,
                               const uint8_t *pt, size_t pt_len)
{
    KQ_ASSERT(St != NULL);
    return wrap_random(out, out_cap, out_len, kq_pt_table_point(St), St, label, pt, pt_len);
}

/* ---- Decode ------------------------------------------------------------------------------ */

static enum kq_err get_header(struct kq_buf *b, struct kq_tkem_ct *ct)
{
    uint8_t format = 0;
    uint32_t sealed_len = 0;
    KQ_GUARD(kq_buf_get_u8(b, &format));
    KQ_ENSURE(format == KQ_TKEM_FORMAT_V1, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_u8(b, &ct->type));
    KQ_ENSURE(ct->type == KQ_PURPOSE_DEK || ct->type == KQ_PURPOSE_DATA, KQ_ERR_TYPE);
    KQ_GUARD(kq_buf_get_u32(b, &ct->version));
    KQ_GUARD(kq_buf_get(b, ct->R, KQ_POINTBYTES));
    KQ_GUARD(kq_buf_get(b, ct->proof, KQ_PROOFBYTES));
    KQ_GUARD(kq_buf_get(b, ct->commit, KQ_TKEM_COMMITBYTES));
    KQ_GUARD(kq_buf_get(b, ct->nonce, KQ_TKEM_NONCEBYTES));
    KQ_GUARD(kq_buf_get_u32(b, &sealed_len));
    ct->sealed_len = sealed_len;
    return KQ_OK;
}

static enum kq_err decode(struct kq_tkem_ct *ct, const uint8_t *in, size_t len)
{
    struct kq_buf b;
    kq_buf_reader(&b, in, len);
    KQ_GUARD(get_header(&b, ct));
    KQ_ENSURE(ct->sealed_len >= KQ_TKEM_TAGBYTES, KQ_ERR_FORMAT);
    KQ_ENSURE(ct->sealed_len <= KQ_MAX_DATA_PLAINTEXT_BYTES + KQ_TKEM_TAGBYTES, KQ_ERR_LIMIT);
    if (ct->type == KQ_PURPOSE_DEK)
        KQ_ENSURE(ct->sealed_len == KQ_TKEM_DEKBYTES + KQ_TKEM_TAGBYTES, KQ_ERR_FORMAT);
    KQ_GUARD(kq_buf_get_ptr(&b, &ct->sealed, ct->sealed_len));
    KQ_GUARD(kq_buf_expect_end(&b));
    KQ_GUARD(kq_pt_check(ct->R));
    KQ_ENSURE(kq_sc_is_canonical(ct->proof), KQ_ERR_BAD_SCALAR);
    KQ_ENSURE(kq_sc_is_canonical(ct->proof + KQ_SCALARBYTES), KQ_ERR_BAD_SCALAR);
    return KQ_OK;
}

enum kq_err kq_tkem_decode(struct kq_tkem_ct *ct, const uint8_t *in, size_t len)
{
    KQ_ASSERT(ct != NULL && (in != NULL || len == 0));
    memset(ct, 0, sizeof *ct);
    enum kq_err err = decode(ct, in, len);
    if (err != KQ_OK)
        memset(ct, 0, sizeof *ct);
    return err;
}

/* ---- Text form --------------------------------------------------------------------------- */

#define TEXT_MAGIC       "kq:v"
#define TEXT_MAX_DIGITS  10 /* UINT32_MAX has 10 decimal digits */
#define TEXT_B64_VARIANT sodium_base64_VARIANT_ORIGINAL
KQ_STATIC_ASSERT(sizeof TEXT_MAGIC - 1 + TEXT_MAX_DIGITS + 1 == KQ_TKEM_TEXT_PREFIX_MAX,
                 "prefix bound: magic, digits and the colon");

static enum kq_err put_decimal(struct kq_buf *b, uint32_t v)
{
    char digits[TEXT_MAX_DIGITS];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 && n < TEXT_MAX_DIGITS);
    while (n-- > 0)
        KQ_GUARD(kq_buf_put_u8(b, (uint8_t)digits[n]));
    return KQ_OK;
}

enum kq_err kq_tkem_to_text(char *out, size_t out_cap, size_t *out_len, const uint8_t *bin,
                            size_t bin_len)
{
    struct kq_tkem_ct ct;
    struct kq_buf b;
    uint8_t *b64 = NULL;
    enum kq_err err = KQ_OK;
    KQ_ASSERT(out != NULL && out_len != NULL);
    *out_len = 0;
    KQ_TRY(kq_tkem_decode(&ct, bin, bin_len));
    size_t b64_len = sodium_base64_ENCODED_LEN(bin_len, TEXT_B64_VARIANT); /* with the NUL */
    kq_buf_writer(&b, (uint8_t *)out, out_cap);
    KQ_TRY(kq_buf_put(&b, TEXT_MAGIC, sizeof TEXT_MAGIC - 1));
    KQ_TRY(put_decimal(&b, ct.version));
    KQ_TRY(kq_buf_put_u8(&b, ':'));
    KQ_TRY(kq_buf_reserve(&b, b64_len, &b64));
    sodium_bin2base64((char *)b64, b64_len, bin, bin_len, TEXT_B64_VARIANT);
    *out_len = kq_buf_len(&b) - 1;
    KQ_ASSERT(out[*out_len] == '\0');
out:
    if (err != KQ_OK && out_cap > 0)
        out[0] = '\0';
    return err;
}

/* Parses "kq:v<digits>:" at the front of text: decimal without a leading zero, <= UINT32_MAX.
 * *consumed is the prefix length. */
static enum kq_err get_prefix(uint32_t *version, size_t *consumed, const char *text, size_t len)
{
    struct kq_buf b;
    uint8_t ch = 0;
    uint64_t v = 0;
    size_t digits = 0;
    kq_buf_reader(&b, (const uint8_t *)text, len);
    for (size_t i = 0; i < sizeof TEXT_MAGIC - 1; i++) {
        KQ_ENSURE(kq_buf_get_u8(&b, &ch) == KQ_OK && ch == (uint8_t)TEXT_MAGIC[i], KQ_ERR_FORMAT);
    }
    for (;;) {
        KQ_ENSURE(kq_buf_get_u8(&b, &ch) == KQ_OK, KQ_ERR_FORMAT);
        if (ch == ':')
            break;
        KQ_ENSURE(ch >= '0' && ch <= '9' && digits < TEXT_MAX_DIGITS, KQ_ERR_FORMAT);
        KQ_ENSURE(!(digits == 1 && v == 0), KQ_ERR_FORMAT); /* no leading zero */
        v = v * 10 + (uint64_t)(ch - '0');
        digits++;
    }
    KQ_ENSURE(digits > 0 && v <= UINT32_MAX, KQ_ERR_FORMAT);
    *version = (uint32_t)v;
    *consumed = len - kq_buf_remaining(&b);
    return KQ_OK;
}

enum kq_err kq_tkem_from_text(uint8_t *bin, size_t bin_cap, size_t *bin_len, const char *text,
                              size_t text_len)
{
    struct kq_tkem_ct ct;
    uint32_t version = 0;
    size_t prefix = 0, n = 0;
    const char *end = NULL;
    enum kq_err err = KQ_OK;
    KQ_ASSERT(bin != NULL && bin_len != NULL && (text != NULL || text_len == 0));
    *bin_len = 0;
    KQ_CHECK(text_len <= KQ_TKEM_TEXTBYTES(KQ_MAX_DATA_PLAINTEXT_BYTES), KQ_ERR_LIMIT);
    KQ_TRY(get_prefix(&version, &prefix, text, text_len));
    KQ_CHECK(bin_cap >= (text_len - prefix) / 4 * 3, KQ_ERR_OVERFLOW);
    KQ_CHECK(sodium_base642bin(bin, bin_cap, text + prefix, text_len - prefix, NULL, &n, &end,
                               TEXT_B64_VARIANT) == 0,
             KQ_ERR_FORMAT);
    KQ_CHECK(end == text + text_len, KQ_ERR_FORMAT);
    KQ_TRY(kq_tkem_decode(&ct, bin, n));
    KQ_CHECK(ct.version == version, KQ_ERR_LABEL);
    *bin_len = n;
out:
    if (err != KQ_OK && bin_cap > 0)
        kq_wipe(bin, bin_cap);
    return err;
}

/* ---- Holder ------------------------------------------------------------------------------ */

/* The ciphertext's type and version must be the label's. */
static enum kq_err check_ct_label(const struct kq_tkem_ct *ct, const struct kq_label *label)
{
    KQ_ENSURE(label->purpose == KQ_PURPOSE_DEK || label->purpose == KQ_PURPOSE_DATA, KQ_ERR_TYPE);
    KQ_ENSURE(ct->type == (uint8_t)label->purpose, KQ_ERR_TYPE);
    KQ_ENSURE(ct->version == label->version, KQ_ERR_LABEL);
    return KQ_OK;
}

/* Everything a holder checks before it touches its share. S is the holder's verified copy of
 * the public key: only its identity is rejected here (it is hashed, never multiplied). */
static enum kq_err holder_gate(const struct kq_tkem_ct *ct, const struct kq_label *label,
                               const uint8_t S[KQ_POINTBYTES], uint32_t index)
{
    struct kq_ts bind;
    KQ_GUARD(check_ct_label(ct, label));
    KQ_ENSURE(index != 0, KQ_ERR_ZERO_INDEX);
    KQ_ENSURE(index <= KQ_MAX_PARTICIPANTS, KQ_ERR_LIMIT);
    KQ_ENSURE(!kq_pt_is_identity(S), KQ_ERR_BAD_POINT);
    pok_bind(&bind, S, label);
    /* the proof check decodes R (rejecting an invalid or identity R); only when it fails is R
     * decoded again, to tell a malformed R from a bad proof */
    enum kq_err err = kq_schnorr_verify(ct->proof, &bind, ct->R);
    if (err != KQ_OK && kq_pt_check(ct->R) != KQ_OK)
        return KQ_ERR_BAD_POINT;
    return err;
}

enum kq_err kq_tkem_partial_pub(struct kq_tkem_partial *out, const struct kq_tkem_ct *ct,
                                const struct kq_label *label, const uint8_t S[KQ_POINTBYTES],
                                const uint8_t share[KQ_SCALARBYTES],
                                const uint8_t S_i[KQ_POINTBYTES], uint32_t index)
{
    uint8_t digest[KQ_LABEL_DIGESTBYTES];
    struct kq_ts bind;
    enum kq_err err = KQ_OK;
    KQ_ASSERT(out != NULL && ct != NULL && label != NULL && S != NULL && share != NULL);
    KQ_ASSERT(S_i != NULL);
    memset(out, 0, sizeof *out);
    KQ_TRY(kq_sc_check(share));
    KQ_TRY(holder_gate(ct, label, S, index));
    kq_label_digest(digest, label);
    partial_bind(&bind, digest, index);
    /* Z_i = s_i * R and the proof's k * R in one dual multiplication of R */
    KQ_TRY(kq_dleq_prove_mul(out->Z, out->proof, &bind, share, S_i, ct->R));
    out->index = index;
out:
    if (err != KQ_OK)
        memset(out, 0, sizeof *out);
    return err;
}

enum kq_err kq_tkem_partial(struct kq_tkem_partial *out, const struct kq_tkem_ct *ct,
                            const struct kq_label *label, const uint8_t S[KQ_POINTBYTES],
                            const uint8_t share[KQ_SCALARBYTES], uint32_t index)
{
    uint8_t S_i[KQ_POINTBYTES] = {0};
    KQ_ASSERT(share != NULL);
    if (kq_sc_is_canonical(share))
        kq_pt_mul_base(S_i, share);
    KQ_DECLASSIFY(S_i, sizeof S_i); /* the public share: on the ledger */
    return kq_tkem_partial_pub(out, ct, label, S, share, S_i, index);
}

enum kq_err kq_tkem_partial_verify(const struct kq_tkem_partial *p,
                                   const uint8_t digest[KQ_LABEL_DIGESTBYTES],
                                   const uint8_t R[KQ_POINTBYTES], const uint8_t S_i[KQ_POINTBYTES])
{
    struct kq_ts bind;
    KQ_ASSERT(p != NULL && digest != NULL && R != NULL && S_i != NULL);
    KQ_ENSURE(p->index != 0 && p->index <= KQ_MAX_PARTICIPANTS, KQ_ERR_BAD_PROOF);
    partial_bind(&bind, digest, p->index);
    KQ_ENSURE(kq_dleq_verify(p->proof, &bind, NULL, S_i, R, p->Z) == KQ_OK, KQ_ERR_BAD_PROOF);
    return KQ_OK;
}

/* ---- Combine ----------------------------------------------------------------------------- */

static enum kq_err check_combine(const struct kq_tkem_ct *ct, const struct kq_label *label,
                                 const struct kq_tkem_partial *parts, size_t nparts, size_t t)
{
    uint32_t xs[KQ_MAX_PARTICIPANTS] = {0};
    KQ_ENSURE(t >= 1 && t <= KQ_MAX_THRESHOLD, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(nparts >= t, KQ_ERR_THRESHOLD);
    KQ_ENSURE(nparts <= KQ_MAX_PARTICIPANTS, KQ_ERR_LIMIT);
    KQ_GUARD(check_ct_label(ct, label));
    for (size_t k = 0; k < nparts; k++)
        xs[k] = parts[k].index;
    return kq_indices_check(xs, nparts);
}

/* Z = sum lambda_j * Z_j over the partials parts[sel[0..t)] (kq_pt_interpolate0).
 * KQ_ERR_BAD_POINT when some Z_j is invalid or the identity. Z is wiped on failure. */
static enum kq_err interpolate(uint8_t Z[KQ_POINTBYTES], const struct kq_tkem_partial *parts,
                               const uint8_t *sel, size_t t)
{
    uint8_t pts[KQ_MAX_THRESHOLD][KQ_POINTBYTES];
    uint32_t xs[KQ_MAX_THRESHOLD] = {0};
    KQ_ASSERT(t >= 1 && t <= KQ_MAX_THRESHOLD);
    for (size_t j = 0; j < t; j++) {
        xs[j] = parts[sel[j]].index;
        memcpy(pts[j], parts[sel[j]].Z, KQ_POINTBYTES);
    }
    enum kq_err err = kq_pt_interpolate0(Z, xs, (const uint8_t(*)[KQ_POINTBYTES])pts, t);
    kq_wipe(pts, t * KQ_POINTBYTES);
    return err;
}

/* Interpolates from parts[sel[0..t)], derives the KEK, checks the key commitment and opens. */
static enum kq_err open_with(uint8_t *pt, size_t *pt_len, const struct kq_tkem_ct *ct,
                             const struct kq_label *label, const uint8_t S[KQ_POINTBYTES],
                             const struct kq_tkem_partial *parts, const uint8_t *sel, size_t t)
{
    uint8_t Z[KQ_POINTBYTES] = {0}, kek[KQ_TKEM_KEKBYTES] = {0}, commit[KQ_TKEM_COMMITBYTES];
    unsigned long long n = 0;
    enum kq_err err = KQ_OK;
    KQ_TRY(interpolate(Z, parts, sel, t));
    kek_derive(kek, commit, S, ct->R, Z, label);
    KQ_CHECK(kq_ct_eq(commit, ct->commit, KQ_TKEM_COMMITBYTES), KQ_ERR_AUTH);
    KQ_CHECK(crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &n, NULL, ct->sealed, ct->sealed_len,
                                                        label->bytes, label->len, ct->nonce,
                                                        kek) == 0,
             KQ_ERR_AUTH);
    KQ_ASSERT(n == ct->sealed_len - KQ_TKEM_TAGBYTES);
    *pt_len = (size_t)n;
out:
    kq_wipe(Z, sizeof Z);
    kq_wipe(kek, sizeof kek);
    return err;
}

/* Verifies every partial (point validity, then DLEQ proof), sets bad[k], and selects the first t
 * good ones into sel. Returns the number of bad partials; *good is the number of good ones. */
static size_t blame(uint8_t *bad, uint8_t *sel, size_t *good, const struct kq_tkem_ct *ct,
                    const struct kq_label *label, const struct kq_tkem_partial *parts,
                    const uint8_t (*S_i)[KQ_POINTBYTES], size_t nparts, size_t t)
{
    uint8_t digest[KQ_LABEL_DIGESTBYTES];
    size_t nbad = 0;
    *good = 0;
    kq_label_digest(digest, label);
    for (size_t k = 0; k < nparts; k++) {
        bad[k] = kq_pt_check(parts[k].Z) != KQ_OK ||
                 kq_tkem_partial_verify(&parts[k], digest, ct->R, S_i[k]) != KQ_OK;
        if (bad[k]) {
            nbad++;
        } else if (*good < t) {
            sel[(*good)++] = (uint8_t)k;
        }
    }
    return nbad;
}

static enum kq_err combine(uint8_t *pt, size_t pt_cap, size_t *pt_len, uint8_t *bad,
                           const struct kq_tkem_ct *ct, const struct kq_label *label,
                           const uint8_t S[KQ_POINTBYTES], const struct kq_tkem_partial *parts,
                           const uint8_t (*S_i)[KQ_POINTBYTES], size_t nparts, size_t t,
                           int verify_first)
{
    uint8_t sel[KQ_MAX_PARTICIPANTS];
    size_t good = 0;
    enum kq_err err = KQ_OK;
    KQ_GUARD(check_combine(ct, label, parts, nparts, t));
    KQ_ENSURE(!kq_pt_is_identity(S), KQ_ERR_BAD_POINT); /* S is only hashed */
    KQ_ENSURE(ct->sealed != NULL && ct->sealed_len >= KQ_TKEM_TAGBYTES, KQ_ERR_FORMAT);
    KQ_ENSURE(pt_cap >= ct->sealed_len - KQ_TKEM_TAGBYTES, KQ_ERR_OVERFLOW);
    if (!verify_first) {
        for (size_t j = 0; j < t; j++)
            sel[j] = (uint8_t)j;
        err = open_with(pt, pt_len, ct, label, S, parts, sel, t);
        if (err != KQ_ERR_AUTH && err != KQ_ERR_BAD_POINT)
            return err;
    }
    size_t nbad = blame(bad, sel, &good, ct, label, parts, S_i, nparts, t);
    KQ_ENSURE(good >= t, KQ_ERR_BAD_PROOF);
    if (!verify_first && nbad == 0)
        return KQ_ERR_AUTH; /* the same t partials, all honest: the ciphertext is bad */
    err = open_with(pt, pt_len, ct, label, S, parts, sel, t);
    return err == KQ_ERR_BAD_POINT ? KQ_ERR_AUTH : err;
}

static enum kq_err combine_entry(uint8_t *pt, size_t pt_cap, size_t *pt_len, uint8_t *faulty,
                                 const struct kq_tkem_ct *ct, const struct kq_label *label,
                                 const uint8_t S[KQ_POINTBYTES],
                                 const struct kq_tkem_partial *parts,
                                 const uint8_t (*S_i)[KQ_POINTBYTES], size_t nparts, size_t t,
                                 int verify_first)
{
    uint8_t bad[KQ_MAX_PARTICIPANTS] = {0};
    KQ_ASSERT(pt != NULL && pt_len != NULL && ct != NULL && label != NULL && S != NULL);
    KQ_ASSERT(parts != NULL && S_i != NULL);
    *pt_len = 0;
    enum kq_err err =
        combine(pt, pt_cap, pt_len, bad, ct, label, S, parts, S_i, nparts, t, verify_first);
    if (faulty != NULL && nparts <= KQ_MAX_PARTICIPANTS)
        memcpy(faulty, bad, nparts);
    if (err != KQ_OK) {
        *pt_len = 0;
        if (pt_cap > 0)
            kq_wipe(pt, pt_cap);
    }
    return err;
}

enum kq_err kq_tkem_combine(uint8_t *pt, size_t pt_cap, size_t *pt_len, uint8_t *faulty,
                            const struct kq_tkem_ct *ct, const struct kq_label *label,
                            const uint8_t S[KQ_POINTBYTES], const struct kq_tkem_partial *parts,
                            const uint8_t (*S_i)[KQ_POINTBYTES], size_t nparts, size_t t)
{
    return combine_entry(pt, pt_cap, pt_len, faulty, ct, label, S, parts, S_i, nparts, t, 0);
}

enum kq_err kq_tkem_combine_verified(uint8_t *pt, size_t pt_cap, size_t *pt_len, uint8_t *faulty,
                                     const struct kq_tkem_ct *ct, const struct kq_label *label,
                                     const uint8_t S[KQ_POINTBYTES],
                                     const struct kq_tkem_partial *parts,
                                     const uint8_t (*S_i)[KQ_POINTBYTES], size_t nparts, size_t t)
{
    return combine_entry(pt, pt_cap, pt_len, faulty, ct, label, S, parts, S_i, nparts, t, 1);
}
