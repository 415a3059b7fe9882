/* The runtime as a driver of the contract: a test core persists two records in one step (synced),
 * gets WRITE_DONE only after the commit, serves local requests (immediate replies, a reply after
 * a timer, an erase), and after a restart on the same store is restored with exactly the records
 * that survived (the erased one gone). Requests beyond the in-flight bound get KQ_ERR_BUSY, and a
 * cancelled request's reply is dropped. The peer set changes at run time: a peer added is dialed,
 * reaches the cores (KQ_EV_PEERS, PEER_UP, its frames) and KQ_PEER_ALL reaches it; removed, it
 * goes down and the cores learn the empty set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "base/mem.h"
#include "core/core.h"
#include "net/pki.h"
#include "net/runtime.h"
#include "net/tls.h"
#include "store/store.h"

enum { REQ_REVERSE = 1, REQ_ERASE_A = 2, REQ_LATER = 3, REQ_NEVER = 4, REQ_LATER_B = 5 };

struct echo {
    bool started, ready;
    int restores;
    bool saw_a, saw_b;
    uint64_t later_request, later_b;
};

static enum kq_err echo_init(void *state, uint32_t self, const uint32_t *peers, size_t n_peers,
                             const void *cfg)
{
    (void)state, (void)self, (void)peers, (void)n_peers, (void)cfg;
    return KQ_OK;
}

static enum kq_err echo_request(struct echo *e, const struct kq_event *ev, struct kq_actions *out)
{
    uint8_t rev[64];
    switch (ev->request_kind) {
    case REQ_REVERSE:
        if (ev->payload_len > sizeof rev)
            return kq_actions_reply(out, ev->request_id, KQ_ERR_LIMIT, NULL, 0);
        for (size_t i = 0; i < ev->payload_len; i++)
            rev[i] = ev->payload[ev->payload_len - 1 - i];
        return kq_actions_reply(out, ev->request_id, KQ_OK, rev, ev->payload_len);
    case REQ_ERASE_A:
        KQ_GUARD(kq_actions_erase(out, "a"));
        return kq_actions_reply(out, ev->request_id, KQ_OK, NULL, 0);
    case REQ_LATER:
        e->later_request = ev->request_id;
        return kq_actions_timer(out, 9, 20);
    case REQ_LATER_B:
        e->later_b = ev->request_id;
        return kq_actions_timer(out, 10, 5);
    case REQ_NEVER: /* kept pending */
        return KQ_OK;
    default: /* an unknown request: the step fails, and the runtime answers with the reason */
        return KQ_ERR_INVALID_ARG;
    }
}

static enum kq_err echo_step(void *state, const struct kq_event *ev, struct kq_actions *out)
{
    struct echo *e = state;
    assert_true(ev->wall_ms > 1600000000000u); /* the runtime stamps the wall clock */
    switch (ev->kind) {
    case KQ_EV_RESTORE:
        e->restores++;
        e->saw_a |= strcmp(ev->record_key, "a") == 0;
        e->saw_b |= strcmp(ev->record_key, "b") == 0 && ev->payload_len == 1 && ev->payload[0] == 2;
        return KQ_OK;
    case KQ_EV_START: {
        e->started = true;
        const uint8_t one = 1, two = 2;
        KQ_GUARD(kq_actions_persist(out, "a", &one, 1, false, 0));
        return kq_actions_persist(out, "b", &two, 1, true, 7);
    }
    case KQ_EV_WRITE_DONE:
        assert_int_equal(ev->write_token, 7);
        e->ready = true;
        return kq_actions_status(out, KQ_STATUS_READY, 0, 0);
    case KQ_EV_REQUEST:
        return echo_request(e, ev, out);
    case KQ_EV_TIMER:
        return kq_actions_reply(out, ev->timer == 9 ? e->later_request : e->later_b, KQ_ERR_TIMEOUT,
                                NULL, 0);
    default:
        return KQ_OK;
    }
}

static const struct kq_core_ops echo_ops = {
    .name = "echo", .state_size = sizeof(struct echo), .init = echo_init, .step = echo_step};

struct world {
    struct kq_runtime *rt;
    struct kq_core_host *host;
    int replies;
    uint8_t got[64];
    size_t got_len;
    enum kq_err later_status;
    bool cancelled_called;
    bool refused;
};

static void on_reverse(void *ctx, enum kq_err status, const uint8_t *p, size_t len)
{
    struct world *w = ctx;
    assert_int_equal(status, KQ_OK);
    memcpy(w->got, p, len);
    w->got_len = len;
    w->replies++;
}

static void on_plain(void *ctx, enum kq_err status, const uint8_t *p, size_t len)
{
    struct world *w = ctx;
    (void)p;
    assert_int_equal(len, 0);
    if (status != KQ_OK)
        w->later_status = status;
    if (++w->replies == 3)
        kq_runtime_stop(w->rt);
}

static void on_refused(void *ctx, enum kq_err status, const uint8_t *p, size_t len)
{
    struct world *w = ctx;
    (void)p;
    assert_int_equal(status, KQ_ERR_INVALID_ARG);
    assert_int_equal(len, 0);
    w->refused = true;
}

static void on_cancelled(void *ctx, enum kq_err status, const uint8_t *p, size_t len)
{
    (void)status, (void)p, (void)len;
    ((struct world *)ctx)->cancelled_called = true;
}

static void on_status(void *ctx, struct kq_core_host *host, const struct kq_action *a)
{
    struct world *w = ctx;
    uint64_t id;
    if (a->status != KQ_STATUS_READY)
        return;
    /* Requests issued from inside a step's execution are queued, not re-entered. */
    assert_int_equal(
        kq_runtime_request(host, REQ_REVERSE, (const uint8_t *)"abc", 3, on_reverse, w, &id),
        KQ_OK);
    assert_int_equal(kq_runtime_request(host, REQ_ERASE_A, NULL, 0, on_plain, w, &id), KQ_OK);
    assert_int_equal(kq_runtime_request(host, REQ_LATER, NULL, 0, on_plain, w, &id), KQ_OK);
    assert_int_equal(kq_runtime_request(host, REQ_LATER_B, NULL, 0, on_cancelled, w, &id), KQ_OK);
    kq_runtime_request_cancel(host, id); /* the later reply for it must be dropped */
    assert_int_equal(kq_runtime_request(host, 99, NULL, 0, on_refused, w, &id), KQ_OK);
}

static enum kq_err no_auth(void *ctx, SSL *ssl, const char *bearer, struct kq_http_principal *out)
{
    (void)ctx, (void)ssl, (void)bearer, (void)out;
    return KQ_ERR_AUTH;
}

static char dir[64];

static struct kq_runtime *make_runtime(void)
{
    char ca[128], crt[128], key[128];
    snprintf(ca, sizeof ca, "%s/ca.crt", dir);
    snprintf(crt, sizeof crt, "%s/node-1.crt", dir);
    snprintf(key, sizeof key, "%s/node-1.key", dir);
    struct kq_runtime_config rc = {.self_id = 1,
                                   .tls_ca = ca,
                                   .tls_cert = crt,
                                   .tls_key = key,
                                   .api_host = "127.0.0.1",
                                   .peer_host = "127.0.0.1",
                                   .auth = no_auth};
    kq_http_limits_default(&rc.http_limits);
    enum kq_err err;
    struct kq_runtime *rt = kq_runtime_new(&rc, &err);
    assert_non_null(rt);
    assert_int_not_equal(kq_runtime_api_port(rt), 0);
    return rt;
}

static void test_runtime_drives_core(void **state)
{
    (void)state;
    char db[128];
    snprintf(db, sizeof db, "%s/node.db", dir);
    struct kq_store *store;
    assert_int_equal(kq_store_open(db, KQ_STORE_DURABLE, &store), KQ_OK);

    struct world w = {0};
    w.rt = make_runtime();
    w.host = kq_runtime_add_core(w.rt, &echo_ops, NULL, store, 0x7000, 0x7000, on_status, &w);
    assert_int_equal(kq_runtime_run(w.rt), KQ_OK);
    const struct echo *e = kq_core_host_state(w.host);
    assert_true(e->started && e->ready);
    assert_int_equal(e->restores, 0);
    assert_int_equal(w.replies, 3);
    assert_int_equal(w.got_len, 3);
    assert_memory_equal(w.got, "cba", 3);
    assert_int_equal(w.later_status, KQ_ERR_TIMEOUT);
    assert_false(w.cancelled_called);
    assert_true(w.refused);
    kq_runtime_free(w.rt);

    /* Both records of the START step were committed together; "a" was erased since. */
    uint8_t *v;
    size_t len;
    assert_int_equal(kq_store_get(store, "core/echo", (const uint8_t *)"a", 1, &v, &len),
                     KQ_ERR_NOT_FOUND);
    assert_int_equal(kq_store_get(store, "core/echo", (const uint8_t *)"b", 1, &v, &len), KQ_OK);
    free(v);

    /* A restart restores exactly the surviving record. */
    struct world w2 = {0};
    w2.rt = make_runtime();
    w2.host = kq_runtime_add_core(w2.rt, &echo_ops, NULL, store, 0x7000, 0x7000, on_status, &w2);
    assert_int_equal(kq_runtime_run(w2.rt), KQ_OK);
    e = kq_core_host_state(w2.host);
    assert_int_equal(e->restores, 1);
    assert_true(e->saw_b);
    assert_false(e->saw_a);
    kq_runtime_free(w2.rt);
    kq_store_close(store);
}

static void ignore_reply(void *ctx, enum kq_err status, const uint8_t *p, size_t len)
{
    (void)ctx, (void)status, (void)p, (void)len;
}

static void test_request_bound(void **state)
{
    (void)state;
    char db[128];
    snprintf(db, sizeof db, "%s/bound.db", dir);
    struct kq_store *store;
    assert_int_equal(kq_store_open(db, 0, &store), KQ_OK);
    struct kq_runtime *rt = make_runtime();
    struct kq_core_host *h = kq_runtime_add_core(rt, &echo_ops, NULL, store, 1, 1, NULL, NULL);
    uint64_t id;
    for (size_t i = 0; i < KQ_RUNTIME_MAX_REQUESTS; i++)
        assert_int_equal(kq_runtime_request(h, REQ_NEVER, NULL, 0, ignore_reply, NULL, &id), KQ_OK);
    assert_int_equal(kq_runtime_request(h, REQ_NEVER, NULL, 0, ignore_reply, NULL, &id),
                     KQ_ERR_BUSY);
    kq_runtime_request_cancel(h, id); /* frees one slot */
    assert_int_equal(kq_runtime_request(h, REQ_NEVER, NULL, 0, ignore_reply, NULL, &id), KQ_OK);
    kq_runtime_free(rt);
    kq_store_close(store);
}

/* ---- the peer set at run time ---- */

#define PEER_TYPE 0x7100

/* Node 2: a bare peer net on its own loop in a thread; echoes "reply" to a frame from node 1 and
 * leaves its loop once node 1 drops it. Checked by the main thread after the join. */
struct far {
    struct event_base *base;
    struct kq_peer_net *net;
    SSL_CTX *sctx, *cctx;
    uint16_t port;
    int frames, ups, downs;
    char got[16];
};

static void far_frame(void *ctx, uint32_t peer, uint16_t type, const uint8_t *p, size_t len)
{
    struct far *f = ctx;
    if (peer != 1 || type != PEER_TYPE || len >= sizeof f->got)
        return;
    memcpy(f->got, p, len);
    f->frames++;
    if (kq_peer_net_send(f->net, 1, PEER_TYPE, (const uint8_t *)"reply", 5) != KQ_OK)
        f->frames = -100; /* checked after the join */
}

static void far_up(void *ctx, uint32_t peer)
{
    (void)peer;
    ((struct far *)ctx)->ups++;
}

static void far_down(void *ctx, uint32_t peer)
{
    struct far *f = ctx;
    (void)peer;
    f->downs++;
    event_base_loopbreak(f->base);
}

static void *far_run(void *arg)
{
    struct far *f = arg;
    event_base_dispatch(f->base);
    return NULL;
}

/* The core on node 1: records the peer sets, links and frames it sees; says hello to all once
 * node 2 is up, and reports (status) the reply and the empty set. */
struct pcore {
    int peers_events;
    size_t last_n;
    uint32_t last_ids[4];
    int ups, downs, frames;
    uint32_t init_peers;
};

static enum kq_err pcore_init(void *state, uint32_t self, const uint32_t *peers, size_t n,
                              const void *cfg)
{
    (void)self, (void)peers, (void)cfg;
    ((struct pcore *)state)->init_peers = (uint32_t)n;
    return KQ_OK;
}

static enum kq_err pcore_step(void *state, const struct kq_event *ev, struct kq_actions *out)
{
    struct pcore *c = state;
    switch (ev->kind) {
    case KQ_EV_PEERS:
        c->peers_events++;
        KQ_GUARD(
            kq_peers_event_decode(ev->payload, ev->payload_len, 1, c->last_ids, 4, &c->last_n));
        return c->last_n == 0 ? kq_actions_status(out, KQ_STATUS_PEER_DEAD, 0, 0) : KQ_OK;
    case KQ_EV_PEER_UP:
        c->ups++;
        return kq_actions_send(out, KQ_PEER_ALL, PEER_TYPE, (const uint8_t *)"hello", 5);
    case KQ_EV_PEER_DOWN:
        c->downs++;
        return KQ_OK;
    case KQ_EV_FRAME:
        c->frames++;
        if (ev->peer != 2 || ev->payload_len != 5 || memcmp(ev->payload, "reply", 5) != 0)
            return KQ_ERR_INVALID_ARG;
        return kq_actions_status(out, KQ_STATUS_PEER_ALIVE, 2, 0);
    default:
        return KQ_OK;
    }
}

static const struct kq_core_ops pcore_ops = {
    .name = "pcore", .state_size = sizeof(struct pcore), .init = pcore_init, .step = pcore_step};

struct pworld {
    struct kq_runtime *rt;
    struct kq_runtime_timer *add, *drop, *deadline;
    struct kq_peer_conf far_conf;
    enum kq_err add_err, drop_err, bad_err;
};

static void pw_add(void *ctx)
{
    struct pworld *w = ctx;
    struct kq_peer_conf bad[2] = {w->far_conf, w->far_conf}; /* a duplicate: refused whole */
    w->bad_err = kq_runtime_set_peers(w->rt, bad, 2);
    w->add_err = kq_runtime_set_peers(w->rt, &w->far_conf, 1);
}

static void pw_drop(void *ctx)
{
    struct pworld *w = ctx;
    w->drop_err = kq_runtime_set_peers(w->rt, NULL, 0);
}

static void pw_deadline(void *ctx) /* a generous bound: the checks below then fail */
{
    kq_runtime_stop(((struct pworld *)ctx)->rt);
}

static void pw_status(void *ctx, struct kq_core_host *host, const struct kq_action *a)
{
    struct pworld *w = ctx;
    (void)host;
    if (a->status == KQ_STATUS_PEER_ALIVE) /* not from here: a timer drops the peer */
        kq_runtime_timer_arm(w->drop, 0);
    else if (a->status == KQ_STATUS_PEER_DEAD)
        kq_runtime_stop(w->rt);
}

static void test_runtime_peer_set(void **state)
{
    (void)state;
    char db[128], ca[128], crt[128], key[128];
    snprintf(db, sizeof db, "%s/peers.db", dir);
    snprintf(ca, sizeof ca, "%s/ca.crt", dir);
    snprintf(crt, sizeof crt, "%s/node-2.crt", dir);
    snprintf(key, sizeof key, "%s/node-2.key", dir);
    struct kq_store *store;
    assert_int_equal(kq_store_open(db, 0, &store), KQ_OK);
    struct pworld w = {0};
    w.rt = make_runtime();
    struct kq_core_host *h =
        kq_runtime_add_core(w.rt, &pcore_ops, NULL, store, PEER_TYPE, PEER_TYPE, pw_status, &w);

    struct far f = {0};
    enum kq_err err;
    f.base = event_base_new();
    f.sctx = kq_tls_ctx_new(KQ_TLS_PEER_SERVER, ca, crt, key, &err);
    f.cctx = kq_tls_ctx_new(KQ_TLS_CLIENT, ca, crt, key, &err);
    assert_non_null(f.base);
    assert_non_null(f.sctx);
    assert_non_null(f.cctx);
    struct kq_peer_conf one = {.id = 1, .host = "127.0.0.1", .port = kq_runtime_peer_port(w.rt)};
    snprintf(crt, sizeof crt, "%s/node-1.crt", dir);
    assert_int_equal(kq_pki_read_public(crt, one.identity), KQ_OK);
    static const struct kq_peer_callbacks cb = {far_frame, far_up, far_down, NULL};
    f.net = kq_peer_net_new(f.base, f.sctx, f.cctx, 2, &one, 1, &cb, &f);
    assert_non_null(f.net);
    assert_int_equal(kq_peer_net_listen(f.net, "127.0.0.1", 0, &f.port), KQ_OK);
    kq_peer_net_start(f.net);
    w.far_conf = (struct kq_peer_conf){.id = 2, .host = "127.0.0.1", .port = f.port};
    snprintf(crt, sizeof crt, "%s/node-2.crt", dir);
    assert_int_equal(kq_pki_read_public(crt, w.far_conf.identity), KQ_OK);

    w.add = kq_runtime_timer_new(w.rt, pw_add, &w);
    w.drop = kq_runtime_timer_new(w.rt, pw_drop, &w);
    kq_runtime_timer_arm(w.add, 0);
    w.deadline = kq_runtime_timer_new(w.rt, pw_deadline, &w);
    kq_runtime_timer_arm(w.deadline, 30000);
    struct timeval far_deadline = {.tv_sec = 35};
    event_base_loopexit(f.base, &far_deadline); /* the thread's own bound */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, far_run, &f), 0);
    assert_int_equal(kq_runtime_run(w.rt), KQ_OK);
    assert_int_equal(pthread_join(t, NULL), 0);

    assert_int_equal(w.bad_err, KQ_ERR_INVALID_ARG);
    assert_int_equal(w.add_err, KQ_OK);
    assert_int_equal(w.drop_err, KQ_OK);
    const struct pcore *c = kq_core_host_state(h);
    assert_int_equal(c->init_peers, 0);
    assert_int_equal(c->peers_events, 2);
    assert_int_equal(c->last_n, 0);
    assert_int_equal(c->ups, 1);
    assert_int_equal(c->downs, 1);
    assert_int_equal(c->frames, 1);
    assert_int_equal(f.frames, 1); /* KQ_PEER_ALL reached the added peer */
    assert_string_equal(f.got, "hello");
    assert_int_equal(f.downs, 1);
    assert_int_equal(kq_peer_net_connected_count(kq_runtime_peers(w.rt)), 0);
    kq_runtime_timer_free(w.add);
    kq_runtime_timer_free(w.drop);
    kq_runtime_timer_free(w.deadline);
    kq_runtime_free(w.rt);
    kq_peer_net_free(f.net);
    SSL_CTX_free(f.sctx);
    SSL_CTX_free(f.cctx);
    event_base_free(f.base);
    kq_store_close(store);
}

int main(void)
{
    if (kq_init(0) != KQ_OK)
        return 1;
    snprintf(dir, sizeof dir, "/tmp/kq-runtime.XXXXXX");
    if (mkdtemp(dir) == NULL || kq_pki_init(dir, 2) != KQ_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runtime_drives_core),
        cmocka_unit_test(test_request_bound),
        cmocka_unit_test(test_runtime_peer_set),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return rc;
}
