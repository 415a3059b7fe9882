/* The libevent runtime: executes the actions of hosted cores (runtime.h). Invariant: a core is
 * never re-entered; an event that arrives while the core is stepping (a transport callback fired
 * by a send, a WRITE_DONE) is queued, bounded, and delivered right after the step. A persist that
 * fails stops the node: a core that cannot make its state durable must not go on. */
#include "net/runtime.h"

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/assert.h"
#include "base/limits.h"
#include "base/log.h"
#include "base/mem.h"
#include "net/tls.h"
#include "store/store.h"

/* Events queued for a core while it steps: one step emits at most KQ_CORE_MAX_ACTIONS actions, and
 * each can cause at most one event back (a WRITE_DONE or a transport callback). */
#define KQ_RUNTIME_MAX_PENDING (2 * KQ_CORE_MAX_ACTIONS)
/* Records a core may restore at start: the ledger's every block, state key and a few more. */
#define KQ_RUNTIME_MAX_RECORDS (KQ_LEDGER_MAX_CHAIN_BLOCKS + KQ_LEDGER_SMT_MAX_KEYS + 64u)

struct core_timer {
    struct event *ev;
    struct kq_core_host *host;
    uint32_t id;
    bool used;
};

struct pending_request {
    bool used;
    uint64_t id;
    kq_core_reply_fn cb;
    void *ctx;
};

struct pending {
    struct kq_event ev;
    uint8_t *payload; /* owned copy */
};

struct kq_core_host {
    struct kq_runtime *rt;
    const struct kq_core_ops *ops;
    const void *core_config;
    void *state;
    struct kq_store *store;
    char ns[KQ_CORE_MAX_RECORD_KEY + 8];
    uint16_t type_lo, type_hi;
    kq_core_status_fn on_status;
    void *status_ctx;
    struct core_timer timers[KQ_RUNTIME_MAX_CORE_TIMERS];
    struct kq_actions *acts;
    uint64_t next_request_id;
    struct pending_request requests[KQ_RUNTIME_MAX_REQUESTS];
    bool stepping;
    size_t pending_head, n_pending; /* a ring */
    struct pending pending[KQ_RUNTIME_MAX_PENDING];
};

struct kq_runtime {
    struct event_base *base;
    SSL_CTX *peer_ctx, *api_ctx, *client_ctx;
    struct kq_peer_net *peers;
    struct kq_http_server *http;
    uint16_t api_port, peer_port;
    struct event *sig_term, *sig_int;
    size_t n_cores;
    struct kq_core_host *cores[KQ_RUNTIME_MAX_CORES];
    size_t n_peer_ids;
    uint32_t peer_ids[KQ_RUNTIME_MAX_PEERS];
    bool stopping;
    bool started; /* cores started: a peer-set change reaches them as KQ_EV_PEERS */
    uint32_t self_id;
};

const char *kq_runtime_tls_version(void)
{
    return OpenSSL_version(OPENSSL_VERSION);
}
const char *kq_runtime_event_version(void)
{
    return event_get_version();
}

uint64_t kq_runtime_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void host_deliver(struct kq_core_host *h, const struct kq_event *ev);

struct kq_event kq_runtime_event(enum kq_event_kind kind)
{
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    struct kq_event ev = {.kind = kind,
                          .now_ms = kq_runtime_now_ms(),
                          .wall_ms =
                              (uint64_t)wall.tv_sec * 1000u + (uint64_t)wall.tv_nsec / 1000000u};
    return ev;
}

static void queue_event(struct kq_core_host *h, const struct kq_event *ev)
{
    if (h->n_pending == KQ_RUNTIME_MAX_PENDING) {
        KQ_LOG(KQ_LOG_ERROR, "core_queue_full", KQ_LS("core", h->ops->name));
        kq_runtime_stop(h->rt);
        return;
    }
    struct pending *p = &h->pending[(h->pending_head + h->n_pending) % KQ_RUNTIME_MAX_PENDING];
    p->ev = *ev;
    p->payload = NULL;
    if (ev->payload_len > 0) {
        p->payload = malloc(ev->payload_len);
        KQ_ASSERT(p->payload != NULL);
        memcpy(p->payload, ev->payload, ev->payload_len);
        p->ev.payload = p->payload;
    }
    h->n_pending++;
}

static void timer_fired(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct core_timer *t = arg;
    struct kq_event ev = kq_runtime_event(KQ_EV_TIMER);
    ev.timer = t->id;
    host_deliver(t->host, &ev);
}

static void arm_timer(struct kq_core_host *h, uint32_t id, uint64_t after_ms)
{
    struct core_timer *slot = NULL;
    for (size_t i = 0; i < KQ_RUNTIME_MAX_CORE_TIMERS && slot == NULL; i++)
        if (h->timers[i].used && h->timers[i].id == id)
            slot = &h->timers[i];
    for (size_t i = 0; i < KQ_RUNTIME_MAX_CORE_TIMERS && slot == NULL; i++)
        if (!h->timers[i].used) {
            slot = &h->timers[i];
            slot->used = true;
            slot->id = id;
            slot->host = h;
            slot->ev = evtimer_new(h->rt->base, timer_fired, slot);
            KQ_ASSERT(slot->ev != NULL);
        }
    KQ_ASSERT(slot != NULL && "a core armed more timers than KQ_RUNTIME_MAX_CORE_TIMERS");
    struct timeval tv = {.tv_sec = (time_t)(after_ms / 1000),
                         .tv_usec = (suseconds_t)((after_ms % 1000) * 1000)};
    evtimer_add(slot->ev, &tv);
}

static struct kq_core_host *core_for_type(struct kq_runtime *rt, uint16_t type);

/* A frame a core sends to its own node (an orchestrator asking the keeper beside it): delivered
 * to the core that owns the type from the loop, after the sending step, as if it came from a
 * peer with this node's id. */
struct loopback {
    struct kq_runtime *rt;
    uint16_t type;
    size_t len;
    uint8_t payload[];
};

static void loopback_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct loopback *lb = arg;
    struct kq_core_host *to = core_for_type(lb->rt, lb->type);
    if (to != NULL && !lb->rt->stopping) {
        struct kq_event ev = kq_runtime_event(KQ_EV_FRAME);
        ev.peer = lb->rt->self_id;
        ev.frame_type = lb->type;
        ev.payload = lb->payload;
        ev.payload_len = lb->len;
        host_deliver(to, &ev);
    }
    free(lb);
}

static void send_self(struct kq_core_host *h, const struct kq_action *a, const uint8_t *payload)
{
    struct loopback *lb = malloc(sizeof *lb + a->payload_len);
    KQ_ASSERT(lb != NULL);
    lb->rt = h->rt;
    lb->type = a->frame_type;
    lb->len = a->payload_len;
    memcpy(lb->payload, payload, a->payload_len);
    struct timeval now = {0, 0};
    if (event_base_once(h->rt->base, -1, EV_TIMEOUT, loopback_fire, lb, &now) != 0) {
        KQ_LOG(KQ_LOG_ERROR, "loopback_failed", KQ_LS("core", h->ops->name));
        free(lb);
    }
}

static void do_send(struct kq_core_host *h, const struct kq_action *a, const uint8_t *payload)
{
    struct kq_runtime *rt = h->rt;
    if (a->peer == rt->self_id) {
        send_self(h, a, payload);
        return;
    }
    for (size_t i = 0; i < rt->n_peer_ids; i++) {
        uint32_t peer = rt->peer_ids[i];
        if (a->peer != KQ_PEER_ALL && a->peer != peer)
            continue;
        enum kq_err err = kq_peer_net_send(rt->peers, peer, a->frame_type, payload, a->payload_len);
        if (err != KQ_OK && err != KQ_ERR_NET) /* not connected: the core's protocol copes */
            KQ_LOG(KQ_LOG_DEBUG, "send_dropped", KQ_LS("core", h->ops->name), KQ_LU("peer", peer),
                   KQ_LS("reason", kq_errcode(err)));
    }
}

/* Writes every PERSIST and ERASE of the step in one transaction (the contract: a step's writes
 * are atomic), then queues WRITE_DONE for the synced ones. The store runs synchronous=FULL, so a
 * committed transaction is durable. A failure stops the node. */
static void do_storage(struct kq_core_host *h)
{
    const struct kq_actions *acts = h->acts;
    size_t writes = 0;
    for (size_t i = 0; i < acts->count; i++)
        writes += acts->items[i].kind == KQ_ACT_PERSIST || acts->items[i].kind == KQ_ACT_ERASE;
    if (writes == 0)
        return;
    enum kq_err err = kq_store_begin(h->store);
    const char *failed_key = "";
    for (size_t i = 0; i < acts->count && err == KQ_OK; i++) {
        const struct kq_action *a = &acts->items[i];
        const uint8_t *key = (const uint8_t *)a->record_key;
        failed_key = a->record_key;
        if (a->kind == KQ_ACT_PERSIST)
            err = kq_store_put(h->store, h->ns, key, strlen(a->record_key),
                               kq_action_payload(acts, a), a->payload_len);
        else if (a->kind == KQ_ACT_ERASE) {
            err = kq_store_del(h->store, h->ns, key, strlen(a->record_key));
            err = err == KQ_ERR_NOT_FOUND ? KQ_OK : err;
        }
    }
    err = err == KQ_OK ? kq_store_commit(h->store) : err;
    if (err != KQ_OK) {
        enum kq_err rb = kq_store_rollback(h->store); /* the node stops either way */
        (void)rb;
        KQ_LOG(KQ_LOG_ERROR, "persist_failed", KQ_LS("core", h->ops->name),
               KQ_LS("record", failed_key), KQ_LS("reason", kq_errcode(err)));
        kq_runtime_stop(h->rt);
        return;
    }
    for (size_t i = 0; i < acts->count; i++)
        if (acts->items[i].kind == KQ_ACT_PERSIST && acts->items[i].sync) {
            struct kq_event ev = kq_runtime_event(KQ_EV_WRITE_DONE);
            ev.write_token = acts->items[i].write_token;
            queue_event(h, &ev);
        }
}

static void do_reply(struct kq_core_host *h, const struct kq_action *a, const uint8_t *payload)
{
    for (size_t i = 0; i < KQ_RUNTIME_MAX_REQUESTS; i++) {
        struct pending_request *p = &h->requests[i];
        if (p->used && p->id == a->request_id) {
            p->used = false;
            if (p->cb != NULL)
                p->cb(p->ctx, a->reply_status, payload, a->payload_len);
            return;
        }
    }
    /* the requester went away (cancelled): nothing to deliver */
}

static void execute(struct kq_core_host *h)
{
    const struct kq_actions *acts = h->acts;
    do_storage(h);
    for (size_t i = 0; i < acts->count && !h->rt->stopping; i++) {
        const struct kq_action *a = &acts->items[i];
        const uint8_t *payload = kq_action_payload(acts, a);
        switch (a->kind) {
        case KQ_ACT_SEND:
            do_send(h, a, payload);
            break;
        case KQ_ACT_TIMER:
            arm_timer(h, a->timer, a->after_ms);
            break;
        case KQ_ACT_PERSIST:
        case KQ_ACT_ERASE:
            break; /* done by do_storage */
        case KQ_ACT_STATUS:
            if (h->on_status != NULL)
                h->on_status(h->status_ctx, h, a);
            break;
        case KQ_ACT_REPLY:
            do_reply(h, a, payload);
            break;
        }
    }
}

static void step_once(struct kq_core_host *h, const struct kq_event *ev)
{
    kq_actions_reset(h->acts);
    h->stepping = true;
    enum kq_err err = h->ops->step(h->state, ev, h->acts);
    if (err == KQ_OK) {
        execute(h);
        /* payloads may hold secrets (a reply's data key or plaintext): gone once delivered */
        kq_wipe(h->acts->arena, h->acts->used);
    } else if (ev->kind == KQ_EV_REQUEST) { /* a refused request is answered with the reason */
        struct kq_action refusal = {
            .kind = KQ_ACT_REPLY, .request_id = ev->request_id, .reply_status = err};
        do_reply(h, &refusal, NULL);
    } else { /* a core refuses bad input (a malformed frame) by failing the step, emitting nothing
              */
        KQ_LOG(KQ_LOG_DEBUG, "core_rejected_event", KQ_LS("core", h->ops->name),
               KQ_LU("kind", ev->kind), KQ_LU("peer", ev->peer), KQ_LS("reason", kq_errcode(err)));
    }
    h->stepping = false;
}

static void host_deliver(struct kq_core_host *h, const struct kq_event *ev)
{
    if (h->stepping) {
        queue_event(h, ev);
        return;
    }
    step_once(h, ev);
    /* Drain what the step caused, oldest first (each may cause more, within the ring's bound). */
    while (h->n_pending > 0) {
        struct pending p = h->pending[h->pending_head];
        h->pending[h->pending_head].payload = NULL;
        h->pending_head = (h->pending_head + 1) % KQ_RUNTIME_MAX_PENDING;
        h->n_pending--;
        if (!h->rt->stopping)
            step_once(h, &p.ev);
        if (p.payload != NULL)
            kq_wipe(p.payload, p.ev.payload_len); /* a request can carry a plaintext */
        free(p.payload);
    }
}

static struct kq_core_host *core_for_type(struct kq_runtime *rt, uint16_t type)
{
    for (size_t i = 0; i < rt->n_cores; i++)
        if (type >= rt->cores[i]->type_lo && type <= rt->cores[i]->type_hi)
            return rt->cores[i];
    return NULL;
}

static void on_frame(void *ctx, uint32_t peer, uint16_t type, const uint8_t *payload, size_t len)
{
    struct kq_runtime *rt = ctx;
    struct kq_core_host *h = core_for_type(rt, type);
    if (h == NULL) {
        KQ_LOG(KQ_LOG_DEBUG, "frame_unrouted", KQ_LU("peer", peer), KQ_LU("type", type));
        return;
    }
    struct kq_event ev = kq_runtime_event(KQ_EV_FRAME);
    ev.peer = peer;
    ev.frame_type = type;
    ev.payload = payload;
    ev.payload_len = len;
    host_deliver(h, &ev);
}

static void on_link(struct kq_runtime *rt, uint32_t peer, enum kq_event_kind kind)
{
    struct kq_event ev = kq_runtime_event(kind);
    ev.peer = peer;
    for (size_t i = 0; i < rt->n_cores; i++)
        host_deliver(rt->cores[i], &ev);
}

static void on_up(void *ctx, uint32_t peer)
{
    KQ_LOG(KQ_LOG_INFO, "peer_connected", KQ_LU("peer", peer));
    on_link(ctx, peer, KQ_EV_PEER_UP);
}

static void on_down(void *ctx, uint32_t peer)
{
    KQ_LOG(KQ_LOG_INFO, "peer_disconnected", KQ_LU("peer", peer));
    on_link(ctx, peer, KQ_EV_PEER_DOWN);
}

static void on_peer_log(void *ctx, const char *event, uint32_t peer, const char *detail)
{
    (void)ctx;
    /* Link set-up noise (dial failures while a peer restarts, a link up) is debug; refusals are
     * what an operator must see. */
    bool problem = strcmp(event, "dial_failed") != 0 && strcmp(event, "peer_up") != 0;
    bool membership = strcmp(event, "peer_added") == 0 || strcmp(event, "peer_removed") == 0 ||
                      strcmp(event, "peer_changed") == 0;
    KQ_LOG(membership ? KQ_LOG_INFO
           : problem  ? KQ_LOG_WARN
                      : KQ_LOG_DEBUG,
           event, KQ_LU("peer", peer), KQ_LS("detail", detail));
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    KQ_LOG(KQ_LOG_INFO, "signal", KQ_LS("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"));
    kq_runtime_stop(arg);
}

static enum kq_err make_contexts(struct kq_runtime *rt, const struct kq_runtime_config *cfg)
{
    enum kq_err err = KQ_OK;
    rt->peer_ctx =
        kq_tls_ctx_new(KQ_TLS_PEER_SERVER, cfg->tls_ca, cfg->tls_cert, cfg->tls_key, &err);
    if (rt->peer_ctx == NULL)
        return err;
    rt->api_ctx = kq_tls_ctx_new(KQ_TLS_API_SERVER, cfg->tls_ca, cfg->tls_cert, cfg->tls_key, &err);
    if (rt->api_ctx == NULL)
        return err;
    rt->client_ctx = kq_tls_ctx_new(KQ_TLS_CLIENT, cfg->tls_ca, cfg->tls_cert, cfg->tls_key, &err);
    return rt->client_ctx == NULL ? err : KQ_OK;
}

static enum kq_err runtime_init(struct kq_runtime *rt, const struct kq_runtime_config *cfg)
{
    KQ_ENSURE(cfg->n_peers <= KQ_RUNTIME_MAX_PEERS, KQ_ERR_LIMIT);
    rt->self_id = cfg->self_id;
    rt->base = event_base_new();
    KQ_ENSURE(rt->base != NULL, KQ_ERR_NOMEM);
    KQ_GUARD(make_contexts(rt, cfg));
    static const struct kq_peer_callbacks cb = {
        .on_frame = on_frame, .on_up = on_up, .on_down = on_down, .on_log = on_peer_log};
    rt->peers = kq_peer_net_new(rt->base, rt->peer_ctx, rt->client_ctx, cfg->self_id, cfg->peers,
                                cfg->n_peers, &cb, rt);
    KQ_ENSURE(rt->peers != NULL, KQ_ERR_NOMEM);
    for (size_t i = 0; i < cfg->n_peers; i++)
        rt->peer_ids[i] = cfg->peers[i].id;
    rt->n_peer_ids = cfg->n_peers;
    KQ_GUARD(kq_peer_net_listen(rt->peers, cfg->peer_host, cfg->peer_port, &rt->peer_port));
    rt->http =
        kq_http_server_new(rt->base, rt->api_ctx, &cfg->http_limits, cfg->auth, cfg->auth_ctx);
    KQ_ENSURE(rt->http != NULL, KQ_ERR_NOMEM);
    KQ_GUARD(kq_http_listen(rt->http, cfg->api_host, cfg->api_port, &rt->api_port));
    rt->sig_term = evsignal_new(rt->base, SIGTERM, on_signal, rt);
    rt->sig_int = evsignal_new(rt->base, SIGINT, on_signal, rt);
    KQ_ENSURE(rt->sig_term != NULL && rt->sig_int != NULL, KQ_ERR_NOMEM);
    KQ_ENSURE(evsignal_add(rt->sig_term, NULL) == 0 && evsignal_add(rt->sig_int, NULL) == 0,
              KQ_ERR_NET);
    return KQ_OK;
}

/* libevent's own warnings (an unresolvable address, a failed syscall) become JSON log lines. */
static void on_event_log(int severity, const char *msg)
{
    enum kq_log_level lvl = severity >= EVENT_LOG_ERR    ? KQ_LOG_ERROR
                            : severity >= EVENT_LOG_WARN ? KQ_LOG_WARN
                                                         : KQ_LOG_DEBUG;
    KQ_LOG(lvl, "libevent", KQ_LS("detail", msg));
}

struct kq_runtime *kq_runtime_new(const struct kq_runtime_config *cfg, enum kq_err *err)
{
    KQ_ASSERT(cfg != NULL && err != NULL);
    signal(SIGPIPE, SIG_IGN); /* a peer closing mid-write is an error return, not a signal */
    event_set_log_callback(on_event_log);
    struct kq_runtime *rt = calloc(1, sizeof *rt);
    if (rt == NULL) {
        *err = KQ_ERR_NOMEM;
        return NULL;
    }
    *err = runtime_init(rt, cfg);
    if (*err != KQ_OK) {
        kq_runtime_free(rt);
        return NULL;
    }
    return rt;
}

static void host_free(struct kq_core_host *h)
{
    for (size_t i = 0; i < KQ_RUNTIME_MAX_CORE_TIMERS; i++)
        if (h->timers[i].used)
            event_free(h->timers[i].ev);
    for (size_t i = 0; i < KQ_RUNTIME_MAX_PENDING; i++)
        free(h->pending[i].payload);
    if (h->ops->fini != NULL)
        h->ops->fini(h->state);
    kq_wipe(h->state, h->ops->state_size);
    free(h->state);
    free(h->acts);
    free(h);
}

void kq_runtime_free(struct kq_runtime *rt)
{
    if (rt == NULL)
        return;
    /* The HTTP server first: freeing it cancels deferred requests, whose cancel callbacks may
     * still talk to the cores (kq_runtime_request_cancel). */
    if (rt->http != NULL)
        kq_http_server_free(rt->http);
    for (size_t i = 0; i < rt->n_cores; i++)
        host_free(rt->cores[i]);
    if (rt->peers != NULL)
        kq_peer_net_free(rt->peers);
    if (rt->sig_term != NULL)
        event_free(rt->sig_term);
    if (rt->sig_int != NULL)
        event_free(rt->sig_int);
    SSL_CTX_free(rt->peer_ctx);
    SSL_CTX_free(rt->api_ctx);
    SSL_CTX_free(rt->client_ctx);
    if (rt->base != NULL)
        event_base_free(rt->base);
    free(rt);
}

uint16_t kq_runtime_api_port(const struct kq_runtime *rt)
{
    return rt->api_port;
}
uint16_t kq_runtime_peer_port(const struct kq_runtime *rt)
{
    return rt->peer_port;
}
struct kq_http_server *kq_runtime_http(struct kq_runtime *rt)
{
    return rt->http;
}
struct kq_peer_net *kq_runtime_peers(struct kq_runtime *rt)
{
    return rt->peers;
}
const uint8_t *kq_core_host_payload(const struct kq_core_host *host, const struct kq_action *a)
{
    return kq_action_payload(host->acts, a);
}

void kq_runtime_deliver(struct kq_core_host *host, const struct kq_event *ev)
{
    host_deliver(host, ev);
}

const void *kq_core_host_state(const struct kq_core_host *host)
{
    return host->state;
}

struct kq_core_host *kq_runtime_add_core(struct kq_runtime *rt, const struct kq_core_ops *ops,
                                         const void *core_config, struct kq_store *store,
                                         uint16_t type_lo, uint16_t type_hi,
                                         kq_core_status_fn on_status, void *status_ctx)
{
    KQ_ASSERT(rt != NULL && ops != NULL && store != NULL && type_lo <= type_hi);
    KQ_ASSERT(rt->n_cores < KQ_RUNTIME_MAX_CORES);
    KQ_ASSERT(strlen(ops->name) < KQ_CORE_MAX_RECORD_KEY);
    struct kq_core_host *h = calloc(1, sizeof *h);
    KQ_ASSERT(h != NULL);
    h->acts = malloc(sizeof *h->acts);
    h->state = calloc(1, ops->state_size);
    KQ_ASSERT(h->acts != NULL && h->state != NULL);
    h->rt = rt;
    h->ops = ops;
    h->core_config = core_config;
    h->store = store;
    snprintf(h->ns, sizeof h->ns, "core/%s", ops->name);
    h->type_lo = type_lo;
    h->type_hi = type_hi;
    h->on_status = on_status;
    h->status_ctx = status_ctx;
    rt->cores[rt->n_cores++] = h;
    return h;
}

static enum kq_err restore_record(void *ctx, const uint8_t *key, size_t key_len,
                                  const uint8_t *value, size_t value_len)
{
    struct kq_core_host *h = ctx;
    char name[KQ_CORE_MAX_RECORD_KEY];
    if (key_len == 0 || key_len >= sizeof name)
        return KQ_ERR_FORMAT;
    memcpy(name, key, key_len);
    name[key_len] = '\0';
    struct kq_event ev = kq_runtime_event(KQ_EV_RESTORE);
    ev.record_key = name;
    ev.payload = value;
    ev.payload_len = value_len;
    host_deliver(h, &ev);
    return KQ_OK;
}

static enum kq_err start_core(struct kq_runtime *rt, struct kq_core_host *h)
{
    KQ_GUARD(h->ops->init(h->state, rt->self_id, rt->peer_ids, rt->n_peer_ids, h->core_config));
    KQ_GUARD(kq_store_iter(h->store, h->ns, KQ_RUNTIME_MAX_RECORDS, restore_record, h));
    struct kq_event ev = kq_runtime_event(KQ_EV_START);
    host_deliver(h, &ev);
    return KQ_OK;
}

enum kq_err kq_runtime_run(struct kq_runtime *rt)
{
    for (size_t i = 0; i < rt->n_cores; i++) {
        enum kq_err err = start_core(rt, rt->cores[i]);
        if (err != KQ_OK) {
            KQ_LOG(KQ_LOG_ERROR, "core_start_failed", KQ_LS("core", rt->cores[i]->ops->name),
                   KQ_LS("reason", kq_errcode(err)));
            return err;
        }
    }
    rt->started = true;
    kq_peer_net_start(rt->peers);
    KQ_LOG(KQ_LOG_INFO, "running", KQ_LU("api_port", rt->api_port),
           KQ_LU("peer_port", rt->peer_port));
    if (!rt->stopping && event_base_dispatch(rt->base) < 0)
        return KQ_ERR_NET;
    KQ_LOG0(KQ_LOG_INFO, "stopping");
    return KQ_OK;
}

enum kq_err kq_runtime_set_peers(struct kq_runtime *rt, const struct kq_peer_conf *peers,
                                 size_t n_peers)
{
    KQ_ASSERT(rt != NULL && (peers != NULL || n_peers == 0));
    KQ_ENSURE(n_peers <= KQ_RUNTIME_MAX_PEERS && n_peers <= KQ_CORE_MAX_PEERS, KQ_ERR_LIMIT);
    KQ_GUARD(kq_peer_net_set_peers(rt->peers, peers, n_peers));
    for (size_t i = 0; i < n_peers; i++)
        rt->peer_ids[i] = peers[i].id;
    rt->n_peer_ids = n_peers;
    KQ_LOG(KQ_LOG_INFO, "peer_set_changed", KQ_LU("peers", n_peers));
    if (!rt->started)
        return KQ_OK; /* the cores are initialised with the new set */
    uint8_t payload[KQ_PEERS_EVENT_MAX_BYTES];
    struct kq_event ev = kq_runtime_event(KQ_EV_PEERS);
    enum kq_err err =
        kq_peers_event_encode(rt->peer_ids, n_peers, payload, sizeof payload, &ev.payload_len);
    KQ_ASSERT(err == KQ_OK);
    ev.payload = payload;
    for (size_t i = 0; i < rt->n_cores; i++)
        host_deliver(rt->cores[i], &ev);
    return KQ_OK;
}

enum kq_err kq_runtime_request(struct kq_core_host *h, uint32_t kind, const uint8_t *payload,
                               size_t len, kq_core_reply_fn cb, void *ctx, uint64_t *request_id)
{
    struct pending_request *slot = NULL;
    for (size_t i = 0; i < KQ_RUNTIME_MAX_REQUESTS && slot == NULL; i++)
        if (!h->requests[i].used)
            slot = &h->requests[i];
    if (slot == NULL)
        return KQ_ERR_BUSY;
    *slot =
        (struct pending_request){.used = true, .id = ++h->next_request_id, .cb = cb, .ctx = ctx};
    *request_id = slot->id;
    struct kq_event ev = kq_runtime_event(KQ_EV_REQUEST);
    ev.request_id = slot->id;
    ev.request_kind = kind;
    ev.payload = payload;
    ev.payload_len = len;
    host_deliver(h, &ev);
    return KQ_OK;
}

void kq_runtime_request_cancel(struct kq_core_host *h, uint64_t request_id)
{
    for (size_t i = 0; i < KQ_RUNTIME_MAX_REQUESTS; i++)
        if (h->requests[i].used && h->requests[i].id == request_id)
            h->requests[i].used = false;
}

struct kq_runtime_timer {
    struct event *ev;
    void (*cb)(void *ctx);
    void *ctx;
};

static void runtime_timer_fired(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct kq_runtime_timer *t = arg;
    t->cb(t->ctx);
}

struct kq_runtime_timer *kq_runtime_timer_new(struct kq_runtime *rt, void (*cb)(void *ctx),
                                              void *ctx)
{
    struct kq_runtime_timer *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->cb = cb;
    t->ctx = ctx;
    t->ev = evtimer_new(rt->base, runtime_timer_fired, t);
    if (t->ev == NULL) {
        free(t);
        return NULL;
    }
    return t;
}

void kq_runtime_timer_arm(struct kq_runtime_timer *t, uint64_t after_ms)
{
    struct timeval tv = {.tv_sec = (time_t)(after_ms / 1000),
                         .tv_usec = (suseconds_t)((after_ms % 1000) * 1000)};
    evtimer_add(t->ev, &tv);
}

void kq_runtime_timer_free(struct kq_runtime_timer *t)
{
    if (t == NULL)
        return;
    event_free(t->ev);
    free(t);
}

void kq_runtime_stop(struct kq_runtime *rt)
{
    rt->stopping = true;
    event_base_loopbreak(rt->base);
}
