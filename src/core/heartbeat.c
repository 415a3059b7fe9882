/* Heartbeat liveness core. Invariants: nothing is sent before the incarnation taken at START is
 * durable (WRITE_DONE); per peer, the incarnation heard never decreases and the seq never decreases
 * within one incarnation; a rejected event changes no state and emits no action. */
#include "core/heartbeat.h"

#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/limits.h"
#include "wire/heartbeat.h"

#define HB_MAGIC     0x6b712d6862763101ULL /* "kq-hbv1\1": the state was initialised */
#define HB_MAX_PEERS (KQ_MAX_NODES - 1)

KQ_STATIC_ASSERT(HB_MAX_PEERS + 1 <= KQ_CORE_MAX_ACTIONS,
                 "a silence check reports every peer dead and re-arms in one step");
KQ_STATIC_ASSERT(sizeof(KQ_HEARTBEAT_RECORD) <= KQ_CORE_MAX_RECORD_KEY, "record key fits");

struct hb_peer {
    uint32_t id;
    bool alive;
    bool linked;
    uint64_t incarnation;   /* last accepted; 0: never heard */
    uint64_t seq;           /* last accepted within that incarnation */
    uint64_t last_heard_ms; /* when the last accepted heartbeat arrived */
};

struct hb_state {
    uint64_t magic;
    uint32_t self;
    size_t n_peers;
    struct kq_heartbeat_config cfg;
    bool started;
    bool ready;
    uint64_t restored_inc; /* from RESTORE; 0 on a first start */
    uint64_t pending_inc;  /* taken at START, durable once WRITE_DONE(pending_inc) arrives */
    uint64_t incarnation;  /* durable and in use; 0 until ready */
    uint64_t seq;          /* of the last heartbeat sent */
    uint64_t now_ms;       /* of the last accepted event */
    struct hb_peer peers[HB_MAX_PEERS];
};

static struct hb_state *state_of(void *state)
{
    struct hb_state *st = state;
    KQ_ASSERT(st != NULL && st->magic == HB_MAGIC);
    KQ_ASSERT(st->n_peers <= HB_MAX_PEERS);
    return st;
}

/* Queries also accept the zeroed state a driver allocates before init: no peers, not ready. */
static const struct hb_state *cstate_of(const void *state)
{
    const struct hb_state *st = state;
    KQ_ASSERT(st != NULL && (st->magic == HB_MAGIC || st->magic == 0));
    KQ_ASSERT(st->n_peers <= HB_MAX_PEERS);
    return st;
}

static struct hb_peer *find_peer(const struct hb_state *st, uint32_t id)
{
    for (size_t i = 0; i < st->n_peers; i++)
        if (st->peers[i].id == id)
            return (struct hb_peer *)(uintptr_t)&st->peers[i];
    return NULL;
}

static enum kq_err hb_init(void *state, uint32_t self, const uint32_t *peers, size_t n_peers,
                           const void *config)
{
    struct hb_state *st = state;
    const struct kq_heartbeat_config *cfg = config;
    KQ_ASSERT(st != NULL);
    KQ_ENSURE(cfg != NULL && cfg->interval_ms >= 1, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(cfg->timeout_ms > cfg->interval_ms, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(n_peers <= HB_MAX_PEERS, KQ_ERR_LIMIT);
    KQ_ENSURE(peers != NULL || n_peers == 0, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(self != KQ_PEER_ALL, KQ_ERR_INVALID_ARG);
    for (size_t i = 0; i < n_peers; i++) {
        KQ_ENSURE(peers[i] != self && peers[i] != KQ_PEER_ALL, KQ_ERR_INVALID_ARG);
        for (size_t j = 0; j < i; j++)
            KQ_ENSURE(peers[j] != peers[i], KQ_ERR_INVALID_ARG);
    }
    memset(st, 0, sizeof *st);
    st->self = self;
    st->cfg = *cfg;
    st->n_peers = n_peers;
    for (size_t i = 0; i < n_peers; i++)
        st->peers[i].id = peers[i];
    st->magic = HB_MAGIC;
    return KQ_OK;
}

static enum kq_err beacon(struct hb_state *st, uint32_t to, struct kq_actions *out)
{
    uint8_t msg[KQ_HEARTBEAT_MSG_BYTES];
    size_t len;
    KQ_ASSERT(st->ready && st->incarnation != 0);
    KQ_ASSERT(st->seq < UINT64_MAX); /* 2^64 beacons: unreachable */
    struct kq_heartbeat_msg m = {.incarnation = st->incarnation, .seq = st->seq + 1};
    KQ_GUARD(kq_heartbeat_msg_encode(&m, msg, sizeof msg, &len));
    KQ_GUARD(kq_actions_send(out, to, KQ_FRAME_HEARTBEAT, msg, len));
    st->seq = m.seq;
    return KQ_OK;
}

static enum kq_err on_restore(struct hb_state *st, const struct kq_event *ev)
{
    struct kq_buf b;
    uint64_t inc;
    KQ_ENSURE(!st->started, KQ_ERR_STATE);
    KQ_ENSURE(ev->record_key != NULL, KQ_ERR_INVALID_ARG);
    if (strcmp(ev->record_key, KQ_HEARTBEAT_RECORD) != 0)
        return KQ_OK; /* not ours: the driver may replay a shared namespace */
    KQ_ENSURE(ev->payload != NULL || ev->payload_len == 0, KQ_ERR_INVALID_ARG);
    kq_buf_reader(&b, ev->payload, ev->payload_len);
    KQ_GUARD(kq_buf_get_u64(&b, &inc));
    KQ_GUARD(kq_buf_expect_end(&b));
    st->restored_inc = inc;
    return KQ_OK;
}

static enum kq_err on_start(struct hb_state *st, struct kq_actions *out)
{
    uint8_t rec[8];
    struct kq_buf b;
    KQ_ENSURE(!st->started, KQ_ERR_STATE);
    KQ_ENSURE(st->restored_inc < UINT64_MAX, KQ_ERR_LIMIT);
    uint64_t inc = st->restored_inc + 1;
    kq_buf_writer(&b, rec, sizeof rec);
    KQ_GUARD(kq_buf_put_u64(&b, inc));
    /* sync: a crash must not lose it, or a later start could take the same number again */
    KQ_GUARD(kq_actions_persist(out, KQ_HEARTBEAT_RECORD, rec, sizeof rec, true, inc));
    st->started = true;
    st->pending_inc = inc;
    return KQ_OK;
}

static enum kq_err on_write_done(struct hb_state *st, const struct kq_event *ev,
                                 struct kq_actions *out)
{
    KQ_ENSURE(st->started && !st->ready, KQ_ERR_STATE);
    KQ_ENSURE(ev->write_token == st->pending_inc, KQ_ERR_STATE);
    st->ready = true;
    st->incarnation = st->pending_inc;
    KQ_GUARD(kq_actions_status(out, KQ_STATUS_READY, st->self, st->incarnation));
    KQ_GUARD(beacon(st, KQ_PEER_ALL, out)); /* peers need not wait an interval */
    KQ_GUARD(kq_actions_timer(out, KQ_HEARTBEAT_TIMER_BEACON, st->cfg.interval_ms));
    return kq_actions_timer(out, KQ_HEARTBEAT_TIMER_CHECK, st->cfg.interval_ms);
}

static enum kq_err check_silence(struct hb_state *st, uint64_t now_ms, struct kq_actions *out)
{
    for (size_t i = 0; i < st->n_peers; i++) {
        struct hb_peer *p = &st->peers[i];
        KQ_ASSERT(now_ms >= p->last_heard_ms);
        if (!p->alive || now_ms - p->last_heard_ms <= st->cfg.timeout_ms)
            continue;
        KQ_GUARD(kq_actions_status(out, KQ_STATUS_PEER_DEAD, p->id, p->incarnation));
        p->alive = false;
    }
    return kq_actions_timer(out, KQ_HEARTBEAT_TIMER_CHECK, st->cfg.interval_ms);
}

static enum kq_err on_timer(struct hb_state *st, const struct kq_event *ev, struct kq_actions *out)
{
    KQ_ENSURE(st->ready, KQ_ERR_STATE);
    if (ev->timer == KQ_HEARTBEAT_TIMER_CHECK)
        return check_silence(st, ev->now_ms, out);
    KQ_ENSURE(ev->timer == KQ_HEARTBEAT_TIMER_BEACON, KQ_ERR_STATE);
    KQ_GUARD(beacon(st, KQ_PEER_ALL, out));
    return kq_actions_timer(out, KQ_HEARTBEAT_TIMER_BEACON, st->cfg.interval_ms);
}

/* Applies an accepted-or-stale heartbeat from p. Checks come first: nothing changes on a reject. */
static enum kq_err accept(struct hb_peer *p, const struct kq_heartbeat_msg *m, uint64_t now_ms,
                          struct kq_actions *out)
{
    if (m->incarnation < p->incarnation)
        return KQ_OK; /* from an earlier life of the peer: delayed or replayed */
    if (m->incarnation == p->incarnation && m->seq <= p->seq)
        return KQ_OK; /* duplicate or reordered */
    bool was_alive = p->alive, restarted = p->incarnation != 0 && m->incarnation > p->incarnation;
    if (!was_alive)
        KQ_GUARD(kq_actions_status(out, KQ_STATUS_PEER_ALIVE, p->id, m->incarnation));
    if (restarted)
        KQ_GUARD(kq_actions_status(out, KQ_STATUS_PEER_RESTARTED, p->id, m->incarnation));
    p->alive = true;
    p->incarnation = m->incarnation;
    p->seq = m->seq;
    p->last_heard_ms = now_ms;
    return KQ_OK;
}

static enum kq_err on_frame(struct hb_state *st, const struct kq_event *ev, struct kq_actions *out)
{
    struct kq_heartbeat_msg m;
    KQ_ENSURE(st->started, KQ_ERR_STATE);
    KQ_ENSURE(ev->frame_type == KQ_FRAME_HEARTBEAT, KQ_ERR_TYPE);
    struct hb_peer *p = find_peer(st, ev->peer);
    KQ_ENSURE(p != NULL, KQ_ERR_PEER_IDENTITY); /* also the node itself: never its own peer */
    KQ_ENSURE(ev->payload != NULL || ev->payload_len == 0, KQ_ERR_INVALID_ARG);
    KQ_GUARD(kq_heartbeat_msg_decode(&m, ev->payload, ev->payload_len));
    if (!st->ready)
        return KQ_OK; /* not beaconing yet: silence checks have not begun either */
    return accept(p, &m, ev->now_ms, out);
}

static enum kq_err on_link(struct hb_state *st, const struct kq_event *ev, struct kq_actions *out)
{
    KQ_ENSURE(st->started, KQ_ERR_STATE);
    struct hb_peer *p = find_peer(st, ev->peer);
    KQ_ENSURE(p != NULL, KQ_ERR_PEER_IDENTITY);
    /* PEER_DOWN is only noted: one lost connection is not silence, and the timeout alone decides
     * DEAD (docs/simulator.md, "Heartbeat core"). */
    if (ev->kind == KQ_EV_PEER_UP && st->ready)
        KQ_GUARD(beacon(st, p->id, out)); /* live in one round trip, not one interval */
    p->linked = ev->kind == KQ_EV_PEER_UP;
    return KQ_OK;
}

/* A new peer set: peers still listed keep what was heard from them; new ones start unheard (not
 * alive until their first heartbeat); removed ones are forgotten. The next beacon reaches the new
 * set (KQ_PEER_ALL is the driver's current set). */
static enum kq_err on_peers(struct hb_state *st, const struct kq_event *ev)
{
    KQ_ENSURE(st->started, KQ_ERR_STATE);
    uint32_t ids[HB_MAX_PEERS];
    size_t n = 0;
    KQ_GUARD(kq_peers_event_decode(ev->payload, ev->payload_len, st->self, ids, HB_MAX_PEERS, &n));
    struct hb_peer next[HB_MAX_PEERS];
    for (size_t i = 0; i < n; i++) {
        const struct hb_peer *old = find_peer(st, ids[i]);
        if (old != NULL)
            next[i] = *old;
        else
            next[i] = (struct hb_peer){.id = ids[i]};
    }
    memcpy(st->peers, next, n * sizeof next[0]);
    st->n_peers = n;
    return KQ_OK;
}

static enum kq_err dispatch(struct hb_state *st, const struct kq_event *ev, struct kq_actions *out)
{
    switch (ev->kind) {
    case KQ_EV_RESTORE:
        return on_restore(st, ev);
    case KQ_EV_START:
        return on_start(st, out);
    case KQ_EV_WRITE_DONE:
        return on_write_done(st, ev, out);
    case KQ_EV_TIMER:
        return on_timer(st, ev, out);
    case KQ_EV_FRAME:
        return on_frame(st, ev, out);
    case KQ_EV_PEER_UP:
    case KQ_EV_PEER_DOWN:
        return on_link(st, ev, out);
    case KQ_EV_REQUEST: /* the heartbeat core serves no requests */
        return KQ_ERR_INVALID_ARG;
    case KQ_EV_PEERS:
        return on_peers(st, ev);
    case KQ_EV_LEDGER: /* the heartbeat does not follow the ledger */
        return KQ_OK;
    }
    return KQ_ERR_INVALID_ARG;
}

static enum kq_err hb_step(void *state, const struct kq_event *ev, struct kq_actions *out)
{
    struct hb_state *st = state_of(state);
    KQ_ASSERT(ev != NULL && out != NULL);
    KQ_ENSURE(ev->now_ms >= st->now_ms, KQ_ERR_INVALID_ARG);
    size_t count = out->count;
    enum kq_err err = dispatch(st, ev, out);
    if (err != KQ_OK) {
        /* Every rejection happens before the first action; an overflow is the driver's bug. */
        KQ_ASSERT(out->count == count || err == KQ_ERR_OVERFLOW);
        return err;
    }
    st->now_ms = ev->now_ms;
    return KQ_OK;
}

static void hb_fini(void *state)
{
    struct hb_state *st = state;
    if (st != NULL)
        memset(st, 0, sizeof *st); /* no secrets; clearing the magic makes later use trip */
}

const struct kq_core_ops kq_heartbeat_ops = {
    .name = "heartbeat",
    .state_size = sizeof(struct hb_state),
    .init = hb_init,
    .step = hb_step,
    .fini = hb_fini,
};

bool kq_heartbeat_alive(const void *state, uint32_t peer)
{
    const struct hb_peer *p = find_peer(cstate_of(state), peer);
    return p != NULL && p->alive;
}

size_t kq_heartbeat_alive_count(const void *state)
{
    const struct hb_state *st = cstate_of(state);
    size_t n = 0;
    for (size_t i = 0; i < st->n_peers; i++)
        n += st->peers[i].alive ? 1u : 0u;
    KQ_ASSERT(n <= st->n_peers);
    return n;
}

bool kq_heartbeat_linked(const void *state, uint32_t peer)
{
    const struct hb_peer *p = find_peer(cstate_of(state), peer);
    return p != NULL && p->linked;
}

uint64_t kq_heartbeat_incarnation(const void *state)
{
    const struct hb_state *st = cstate_of(state);
    KQ_ASSERT(st->ready == (st->incarnation != 0));
    return st->incarnation;
}

uint64_t kq_heartbeat_peer_incarnation(const void *state, uint32_t peer)
{
    const struct hb_peer *p = find_peer(cstate_of(state), peer);
    return p != NULL ? p->incarnation : 0;
}

bool kq_heartbeat_ready(const void *state)
{
    return cstate_of(state)->ready;
}
