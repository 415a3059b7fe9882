/* Encoder and decoder of the DKG messages (deal, complaint, justification), both over struct
 * kq_buf. The decoder is structural: it bounds every count by KQ_DKG_MAX_N, requires strictly
 * increasing nonzero indices and rejects trailing bytes; cryptographic checks belong to dkg.c. */
#include <string.h>

#include "base/buf.h"
#include "crypto/dkg.h"

static enum kq_err put_header(struct kq_buf *b, const struct kq_dkg_msg *m)
{
    KQ_GUARD(kq_buf_put_u8(b, KQ_DKG_MSG_VERSION));
    KQ_GUARD(kq_buf_put_u8(b, m->type));
    KQ_GUARD(kq_buf_put(b, m->session, KQ_DKG_SESSIONBYTES));
    return kq_buf_put_u32(b, m->sender);
}

static enum kq_err check_indices(const uint32_t *idx, uint32_t count)
{
    KQ_ENSURE(count <= KQ_DKG_MAX_N, KQ_ERR_LIMIT);
    for (uint32_t k = 0; k < count; k++) {
        KQ_ENSURE(idx[k] >= 1 && idx[k] <= KQ_DKG_MAX_N, KQ_ERR_FORMAT);
        KQ_ENSURE(k == 0 || idx[k] > idx[k - 1], KQ_ERR_FORMAT);
    }
    return KQ_OK;
}

static enum kq_err put_deal(struct kq_buf *b, const struct kq_dkg_msg *m)
{
    KQ_ENSURE(m->t >= 1 && m->t <= KQ_DKG_MAX_N, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(m->nboxes >= 1 && m->nboxes <= KQ_DKG_MAX_N, KQ_ERR_INVALID_ARG);
    KQ_GUARD(kq_buf_put_u16(b, (uint16_t)m->t));
    KQ_GUARD(kq_buf_put(b, m->commits, (size_t)m->t * KQ_POINTBYTES));
    KQ_GUARD(kq_buf_put_u8(b, m->has_pok ? 1 : 0));
    if (m->has_pok)
        KQ_GUARD(kq_buf_put(b, m->pok, KQ_PROOFBYTES));
    KQ_GUARD(kq_buf_put_u16(b, (uint16_t)m->nboxes));
    return kq_buf_put(b, m->boxes, (size_t)m->nboxes * KQ_DKG_BOXBYTES);
}

static enum kq_err put_list(struct kq_buf *b, const struct kq_dkg_msg *m)
{
    KQ_ENSURE(check_indices(m->idx, m->count) == KQ_OK, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(m->count >= 1, KQ_ERR_INVALID_ARG);
    KQ_GUARD(kq_buf_put_u16(b, (uint16_t)m->count));
    for (uint32_t k = 0; k < m->count; k++)
        KQ_GUARD(kq_buf_put_u32(b, m->idx[k]));
    if (m->type == KQ_DKG_MSG_JUSTIFICATION)
        KQ_GUARD(kq_buf_put(b, m->shares, (size_t)m->count * KQ_SCALARBYTES));
    return KQ_OK;
}

enum kq_err kq_dkg_msg_encode(const struct kq_dkg_msg *m, uint8_t *out, size_t cap, size_t *len)
{
    struct kq_buf b;
    KQ_ASSERT(m != NULL && out != NULL && len != NULL);
    *len = 0;
    kq_buf_writer(&b, out, cap);
    KQ_GUARD(put_header(&b, m));
    switch (m->type) {
    case KQ_DKG_MSG_DEAL:
        KQ_GUARD(put_deal(&b, m));
        break;
    case KQ_DKG_MSG_COMPLAINT:
    case KQ_DKG_MSG_JUSTIFICATION:
        KQ_GUARD(put_list(&b, m));
        break;
    default:
        return KQ_ERR_INVALID_ARG;
    }
    *len = kq_buf_len(&b);
    return KQ_OK;
}

static enum kq_err get_header(struct kq_buf *b, struct kq_dkg_msg *out)
{
    uint8_t version = 0;
    KQ_GUARD(kq_buf_get_u8(b, &version));
    KQ_ENSURE(version == KQ_DKG_MSG_VERSION, KQ_ERR_VERSION);
    KQ_GUARD(kq_buf_get_u8(b, &out->type));
    KQ_ENSURE(out->type >= KQ_DKG_MSG_DEAL && out->type <= KQ_DKG_MSG_JUSTIFICATION, KQ_ERR_FORMAT);
    KQ_GUARD(kq_buf_get(b, out->session, KQ_DKG_SESSIONBYTES));
    KQ_GUARD(kq_buf_get_u32(b, &out->sender));
    KQ_ENSURE(out->sender >= 1 && out->sender <= KQ_DKG_MAX_N, KQ_ERR_FORMAT);
    return KQ_OK;
}

enum kq_err kq_dkg_msg_decode_header(const uint8_t *in, size_t len, struct kq_dkg_msg *out)
{
    struct kq_buf b;
    KQ_ASSERT(out != NULL && (in != NULL || len == 0));
    memset(out, 0, sizeof *out);
    kq_buf_reader(&b, in, len);
    return get_header(&b, out);
}

static enum kq_err get_deal(struct kq_buf *b, struct kq_dkg_msg *out)
{
    uint16_t t = 0, nboxes = 0;
    uint8_t flag = 0;
    KQ_GUARD(kq_buf_get_u16(b, &t));
    KQ_ENSURE(t >= 1 && t <= KQ_DKG_MAX_N, KQ_ERR_LIMIT);
    out->t = t;
    KQ_GUARD(kq_buf_get_ptr(b, &out->commits, (size_t)t * KQ_POINTBYTES));
    KQ_GUARD(kq_buf_get_u8(b, &flag));
    KQ_ENSURE(flag <= 1, KQ_ERR_FORMAT);
    out->has_pok = flag == 1;
    if (out->has_pok)
        KQ_GUARD(kq_buf_get_ptr(b, &out->pok, KQ_PROOFBYTES));
    KQ_GUARD(kq_buf_get_u16(b, &nboxes));
    KQ_ENSURE(nboxes >= 1 && nboxes <= KQ_DKG_MAX_N, KQ_ERR_LIMIT);
    out->nboxes = nboxes;
    return kq_buf_get_ptr(b, &out->boxes, (size_t)nboxes * KQ_DKG_BOXBYTES);
}

static enum kq_err get_list(struct kq_buf *b, struct kq_dkg_msg *out)
{
    uint16_t count = 0;
    KQ_GUARD(kq_buf_get_u16(b, &count));
    KQ_ENSURE(count >= 1 && count <= KQ_DKG_MAX_N, KQ_ERR_LIMIT);
    out->count = count;
    for (uint32_t k = 0; k < count; k++)
        KQ_GUARD(kq_buf_get_u32(b, &out->idx[k]));
    KQ_GUARD(check_indices(out->idx, out->count));
    if (out->type == KQ_DKG_MSG_JUSTIFICATION)
        KQ_GUARD(kq_buf_get_ptr(b, &out->shares, (size_t)count * KQ_SCALARBYTES));
    return KQ_OK;
}

enum kq_err kq_dkg_msg_decode(const uint8_t *in, size_t len, struct kq_dkg_msg *out)
{
    struct kq_buf b;
    KQ_ASSERT(out != NULL && (in != NULL || len == 0));
    memset(out, 0, sizeof *out);
    kq_buf_reader(&b, in, len);
    KQ_GUARD(get_header(&b, out));
    if (out->type == KQ_DKG_MSG_DEAL)
        KQ_GUARD(get_deal(&b, out));
    else
        KQ_GUARD(get_list(&b, out));
    return kq_buf_expect_end(&b);
}
