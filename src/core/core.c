/* Action buffers for the driver contract (core.h). The arena is append-only within one step; the
 * driver resets it before the next step, so payload offsets stay valid until then. */
#include "core/core.h"

#include <string.h>

#include "base/assert.h"
#include "base/buf.h"

void kq_actions_reset(struct kq_actions *a)
{
    KQ_ASSERT(a != NULL);
    a->count = 0;
    a->used = 0;
}

static enum kq_err push(struct kq_actions *a, enum kq_action_kind kind, const uint8_t *payload,
                        size_t len, struct kq_action **out)
{
    KQ_ASSERT(a->count <= KQ_CORE_MAX_ACTIONS && a->used <= KQ_CORE_ACTION_ARENA);
    if (a->count == KQ_CORE_MAX_ACTIONS || len > KQ_CORE_ACTION_ARENA - a->used)
        return KQ_ERR_OVERFLOW;
    struct kq_action *act = &a->items[a->count];
    memset(act, 0, sizeof *act);
    act->kind = kind;
    act->payload_off = a->used;
    act->payload_len = len;
    if (len > 0) {
        KQ_ASSERT(payload != NULL);
        memcpy(a->arena + a->used, payload, len);
    }
    a->used += len;
    a->count++;
    *out = act;
    return KQ_OK;
}

enum kq_err kq_actions_send(struct kq_actions *a, uint32_t peer, uint16_t frame_type,
                            const uint8_t *payload, size_t payload_len)
{
    struct kq_action *act;
    enum kq_err err = push(a, KQ_ACT_SEND, payload, payload_len, &act);
    if (err != KQ_OK)
        return err;
    act->peer = peer;
    act->frame_type = frame_type;
    return KQ_OK;
}

enum kq_err kq_actions_timer(struct kq_actions *a, uint32_t timer, uint64_t after_ms)
{
    struct kq_action *act;
    enum kq_err err = push(a, KQ_ACT_TIMER, NULL, 0, &act);
    if (err != KQ_OK)
        return err;
    act->timer = timer;
    act->after_ms = after_ms;
    return KQ_OK;
}

/* Pushes an action that names a record: the key is checked before anything is appended, so a
 * refused key leaves `a` unchanged. */
static enum kq_err push_keyed(struct kq_actions *a, enum kq_action_kind kind,
                              const char *record_key, const uint8_t *payload, size_t len,
                              struct kq_action **out)
{
    KQ_ASSERT(record_key != NULL);
    size_t klen = strlen(record_key);
    if (klen == 0 || klen >= KQ_CORE_MAX_RECORD_KEY)
        return KQ_ERR_INVALID_ARG;
    KQ_GUARD(push(a, kind, payload, len, out));
    memcpy((*out)->record_key, record_key, klen + 1);
    return KQ_OK;
}

enum kq_err kq_actions_erase(struct kq_actions *a, const char *record_key)
{
    struct kq_action *act;
    return push_keyed(a, KQ_ACT_ERASE, record_key, NULL, 0, &act);
}

enum kq_err kq_actions_reply(struct kq_actions *a, uint64_t request_id, enum kq_err status,
                             const uint8_t *payload, size_t payload_len)
{
    struct kq_action *act;
    enum kq_err err = push(a, KQ_ACT_REPLY, payload, payload_len, &act);
    if (err != KQ_OK)
        return err;
    act->request_id = request_id;
    act->reply_status = status;
    return KQ_OK;
}

enum kq_err kq_actions_status_data(struct kq_actions *a, enum kq_status_kind status, uint32_t peer,
                                   uint64_t value, const uint8_t *payload, size_t payload_len)
{
    struct kq_action *act;
    enum kq_err err = push(a, KQ_ACT_STATUS, payload, payload_len, &act);
    if (err != KQ_OK)
        return err;
    act->status = status;
    act->peer = peer;
    act->value = value;
    return KQ_OK;
}

enum kq_err kq_actions_persist(struct kq_actions *a, const char *record_key, const uint8_t *value,
                               size_t value_len, bool sync, uint64_t write_token)
{
    struct kq_action *act;
    KQ_GUARD(push_keyed(a, KQ_ACT_PERSIST, record_key, value, value_len, &act));
    act->sync = sync;
    act->write_token = write_token;
    return KQ_OK;
}

enum kq_err kq_actions_status(struct kq_actions *a, enum kq_status_kind status, uint32_t peer,
                              uint64_t value)
{
    struct kq_action *act;
    enum kq_err err = push(a, KQ_ACT_STATUS, NULL, 0, &act);
    if (err != KQ_OK)
        return err;
    act->status = status;
    act->peer = peer;
    act->value = value;
    return KQ_OK;
}

const uint8_t *kq_action_payload(const struct kq_actions *a, const struct kq_action *act)
{
    KQ_ASSERT(act->payload_off <= a->used && act->payload_len <= a->used - act->payload_off);
    return a->arena + act->payload_off;
}

enum kq_err kq_peers_event_encode(const uint32_t *ids, size_t n, uint8_t *out, size_t cap,
                                  size_t *len)
{
    KQ_ASSERT((ids != NULL || n == 0) && out != NULL && len != NULL);
    *len = 0;
    KQ_ENSURE(n <= KQ_CORE_MAX_PEERS, KQ_ERR_LIMIT);
    struct kq_buf b;
    kq_buf_writer(&b, out, cap);
    for (size_t i = 0; i < n; i++)
        KQ_GUARD(kq_buf_put_u32(&b, ids[i]));
    *len = kq_buf_len(&b);
    return KQ_OK;
}

enum kq_err kq_peers_event_decode(const uint8_t *payload, size_t len, uint32_t self, uint32_t *ids,
                                  size_t cap, size_t *n)
{
    KQ_ASSERT((payload != NULL || len == 0) && (ids != NULL || cap == 0) && n != NULL);
    *n = 0;
    KQ_ENSURE(len % 4 == 0, KQ_ERR_FORMAT);
    size_t count = len / 4;
    KQ_ENSURE(count <= cap && count <= KQ_CORE_MAX_PEERS, KQ_ERR_LIMIT);
    struct kq_buf b;
    kq_buf_reader(&b, payload, len);
    for (size_t i = 0; i < count; i++) {
        KQ_GUARD(kq_buf_get_u32(&b, &ids[i]));
        KQ_ENSURE(ids[i] != 0 && ids[i] != self && ids[i] != KQ_PEER_ALL, KQ_ERR_INVALID_ARG);
        for (size_t j = 0; j < i; j++)
            KQ_ENSURE(ids[j] != ids[i], KQ_ERR_INVALID_ARG);
    }
    KQ_ASSERT(kq_buf_remaining(&b) == 0);
    *n = count;
    return KQ_OK;
}
