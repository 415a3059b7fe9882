/* Tests for src/net/peer.c: nets on loopback in one event loop over a PKI made by kq_pki_init;
 * raw TLS clients that misbehave (oversized header, garbage, bad version, forged sender, a
 * second connection for the same node) and certificates that must be refused (wrong pinned key
 * either way, none, another CA, expired, a client's, the wrong node); back-pressure, the
 * handshake bound and deadline, and reconnection. Loops run to generous deadlines only. */
#include "../test_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "base/limits.h"
#include "base/mem.h"
#include "net/peer.h"
#include "net/pki.h"
#include "net/tls.h"
#include "wire/frame.h"

/* A condition not met within this is a failure, not slowness (a handshake takes milliseconds;
 * the longest wait is the 5 s handshake deadline). */
#define DEADLINE_MS 30000
/* Node ids 1..3 (the PKI) and 4 (configured nowhere). */
#define MAX_ID 5
/* Frames a test node remembers. */
#define MAX_RECS 16
/* An application frame type (the ledger's range): delivered to on_frame. */
#define APP_TYPE 0x0100

static char g_dir[64];
static struct event_base *g_base;
static uint8_t g_pk[MAX_ID][32];

static const char *p(const char *base)
{
    static char ring[8][PATH_MAX];
    static unsigned next;
    char *out = ring[next++ % 8];
    snprintf(out, PATH_MAX, "%s/%s", g_dir, base);
    return out;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* FNV-1a, to compare large payloads without keeping them. */
static uint32_t sum32(const uint8_t *b, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

/* ---- test nodes ---- */

struct rec {
    uint32_t from;
    uint16_t type;
    size_t len;
    uint32_t sum;
    char text[32]; /* short payloads, NUL-terminated */
};

struct node {
    uint32_t id;
    struct kq_peer_net *net;
    SSL_CTX *sctx, *cctx;
    uint16_t port;
    unsigned up[MAX_ID], down[MAX_ID], frames[MAX_ID], pongs[MAX_ID];
    size_t n_recs;
    struct rec recs[MAX_RECS];
    unsigned logs_rejected, logs_bad, dial_timeouts;
    char last_reject[160], last_bad[160];
};

static void on_frame(void *ctx, uint32_t peer, uint16_t type, const uint8_t *payload, size_t len)
{
    struct node *nd = ctx;
    assert_true(peer > 0 && peer < MAX_ID);
    assert_int_not_equal(type, KQ_FRAME_PING); /* the net answers pings itself */
    nd->frames[peer]++;
    if (type == KQ_FRAME_PONG)
        nd->pongs[peer]++;
    if (nd->n_recs == MAX_RECS)
        return;
    struct rec *r = &nd->recs[nd->n_recs++];
    r->from = peer;
    r->type = type;
    r->len = len;
    r->sum = sum32(payload, len);
    size_t t = len < sizeof r->text - 1 ? len : sizeof r->text - 1;
    if (t > 0)
        memcpy(r->text, payload, t);
    r->text[t] = 0;
}

static void on_up(void *ctx, uint32_t peer)
{
    struct node *nd = ctx;
    assert_true(peer > 0 && peer < MAX_ID);
    assert_true(kq_peer_net_connected(nd->net, peer));
    nd->up[peer]++;
}

static void on_down(void *ctx, uint32_t peer)
{
    struct node *nd = ctx;
    assert_true(peer > 0 && peer < MAX_ID);
    nd->down[peer]++;
}

static void on_log(void *ctx, const char *event, uint32_t peer, const char *detail)
{
    struct node *nd = ctx;
    assert_non_null(detail);
    if (getenv("KQ_TEST_PEER_LOG") != NULL)
        fprintf(stderr, "node %u: %s peer=%u %s\n", (unsigned)nd->id, event, (unsigned)peer,
                detail);
    if (strcmp(event, "peer_rejected") == 0) {
        nd->logs_rejected++;
        snprintf(nd->last_reject, sizeof nd->last_reject, "%s", detail);
    } else if (strcmp(event, "dial_failed") == 0 && strcmp(detail, "handshake timed out") == 0) {
        nd->dial_timeouts++;
    } else if (strcmp(event, "bad_frame") == 0) {
        nd->logs_bad++;
        snprintf(nd->last_bad, sizeof nd->last_bad, "%s", detail);
    }
}

static const struct kq_peer_callbacks g_cb = {on_frame, on_up, on_down, on_log};
static const struct kq_peer_callbacks g_cb_nolog = {on_frame, on_up, on_down, NULL};

static struct kq_peer_conf pc(uint32_t id, uint16_t port)
{
    struct kq_peer_conf c;
    memset(&c, 0, sizeof c);
    c.id = id;
    snprintf(c.host, sizeof c.host, "127.0.0.1");
    c.port = port;
    memcpy(c.identity, g_pk[id], 32);
    return c;
}

/* Creates nd's net as node id with certificate <cert>.crt/.key and listens on nd->port (0 the
 * first time: the bound port is kept, so a reopened node takes its port back). */
static void node_open_as(struct node *nd, uint32_t id, const char *cert,
                         const struct kq_peer_conf *peers, size_t n, bool with_log)
{
    char crt[64], key[64];
    snprintf(crt, sizeof crt, "%s.crt", cert);
    snprintf(key, sizeof key, "%s.key", cert);
    enum kq_err err = KQ_OK;
    nd->id = id;
    nd->sctx = kq_tls_ctx_new(KQ_TLS_PEER_SERVER, p("ca.crt"), p(crt), p(key), &err);
    assert_non_null(nd->sctx);
    nd->cctx = kq_tls_ctx_new(KQ_TLS_CLIENT, p("ca.crt"), p(crt), p(key), &err);
    assert_non_null(nd->cctx);
    nd->net = kq_peer_net_new(g_base, nd->sctx, nd->cctx, id, peers, n,
                              with_log ? &g_cb : &g_cb_nolog, nd);
    assert_non_null(nd->net);
    uint16_t bound = 0;
    assert_int_equal(kq_peer_net_listen(nd->net, "127.0.0.1", nd->port, &bound), KQ_OK);
    assert_true(bound != 0);
    assert_true(nd->port == 0 || nd->port == bound);
    nd->port = bound;
}

static void node_open(struct node *nd, uint32_t id, const struct kq_peer_conf *peers, size_t n)
{
    char cert[16];
    snprintf(cert, sizeof cert, "node-%u", (unsigned)id);
    node_open_as(nd, id, cert, peers, n, true);
}

static void node_close(struct node *nd)
{
    kq_peer_net_free(nd->net);
    SSL_CTX_free(nd->sctx);
    SSL_CTX_free(nd->cctx);
    nd->net = NULL;
    nd->sctx = nd->cctx = NULL;
}

static struct kq_peer_stats stats(const struct node *nd)
{
    struct kq_peer_stats s;
    kq_peer_net_stats(nd->net, &s);
    return s;
}

/* ---- the loop ---- */

typedef bool (*pred_fn)(void *arg);

/* Runs the loop until pred holds; false if DEADLINE_MS passes first. */
static bool run_until(pred_fn pred, void *arg)
{
    uint64_t deadline = now_ms() + DEADLINE_MS;
    while (!pred(arg)) {
        if (now_ms() > deadline)
            return false;
        struct timeval tv = {0, 10 * 1000};
        event_base_loopexit(g_base, &tv);
        event_base_loop(g_base, EVLOOP_ONCE);
    }
    return true;
}

/* Runs the loop for at least ms milliseconds (to show that nothing more happens). Stale loop
 * exits that run_until left behind only split the time into more turns. */
static void run_for(unsigned ms)
{
    uint64_t end = now_ms() + ms;
    while (now_ms() < end) {
        struct timeval tv = {0, 10 * 1000};
        event_base_loopexit(g_base, &tv);
        event_base_loop(g_base, EVLOOP_ONCE);
    }
}

/* ---- a raw TLS client, to misbehave with ---- */

struct raw {
    struct bufferevent *bev;
    SSL_CTX *ctx;
    bool connected, closed;
    bool clean; /* closed by a TLS close_notify (dirty shutdowns are errors here) */
};

static void raw_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct raw *r = arg;
    if (what & BEV_EVENT_CONNECTED)
        r->connected = true;
    else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        r->closed = true;
        r->clean = (what & BEV_EVENT_EOF) != 0;
    }
}

static void raw_read(struct bufferevent *bev, void *arg)
{
    (void)arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    evbuffer_drain(in, evbuffer_get_length(in));
}

/* Dials 127.0.0.1:port presenting <cert>.crt with <key>.key (cert NULL: no certificate),
 * without checking the server: the server's checks are under test. */
static void raw_open_tls(struct raw *r, uint16_t port, const char *cert, const char *key_base,
                         int tls_version)
{
    memset(r, 0, sizeof *r);
    r->ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(r->ctx);
    assert_int_equal(SSL_CTX_set_min_proto_version(r->ctx, tls_version), 1);
    assert_int_equal(SSL_CTX_set_max_proto_version(r->ctx, tls_version), 1);
    SSL_CTX_set_verify(r->ctx, SSL_VERIFY_NONE, NULL);
    if (cert != NULL) {
        char crt[64], key[64];
        snprintf(crt, sizeof crt, "%s.crt", cert);
        snprintf(key, sizeof key, "%s.key", key_base);
        assert_int_equal(SSL_CTX_use_certificate_file(r->ctx, p(crt), SSL_FILETYPE_PEM), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey_file(r->ctx, p(key), SSL_FILETYPE_PEM), 1);
    }
    SSL *ssl = SSL_new(r->ctx);
    assert_non_null(ssl);
    r->bev = bufferevent_openssl_socket_new(g_base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    assert_non_null(r->bev);
    bufferevent_setcb(r->bev, raw_read, NULL, raw_event, r);
    bufferevent_enable(r->bev, EV_READ | EV_WRITE);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bufferevent_socket_connect(r->bev, (struct sockaddr *)&sin, sizeof sin), 0);
}

static void raw_open_key(struct raw *r, uint16_t port, const char *cert, const char *key_base)
{
    raw_open_tls(r, port, cert, key_base, TLS1_3_VERSION);
}

static void raw_open(struct raw *r, uint16_t port, const char *cert)
{
    raw_open_key(r, port, cert, cert);
}

static void raw_close(struct raw *r)
{
    bufferevent_free(r->bev);
    SSL_CTX_free(r->ctx);
    memset(r, 0, sizeof *r);
}

static void raw_send(struct raw *r, const void *bytes, size_t n)
{
    assert_int_equal(bufferevent_write(r->bev, bytes, n), 0);
}

/* Sends a frame with the given header fields and payload as is. */
static void raw_frame(struct raw *r, uint16_t type, uint32_t sender, const char *payload)
{
    uint8_t h[KQ_FRAME_HEADER_BYTES];
    size_t len = strlen(payload);
    assert_int_equal(kq_frame_encode_header(h, type, sender, len), KQ_OK);
    raw_send(r, h, sizeof h);
    raw_send(r, payload, len);
}

/* ---- predicates ---- */

struct wait {
    struct node *nd;
    struct raw *raw;
    uint32_t peer;
    uint64_t count;
};

static bool p_raw_connected(void *arg)
{
    return ((struct raw *)arg)->connected;
}

static bool p_raw_closed(void *arg)
{
    return ((struct raw *)arg)->closed;
}

static bool p_up(void *arg) /* nd saw on_up(peer) count times */
{
    struct wait *w = arg;
    return w->nd->up[w->peer] >= w->count;
}

static bool p_down(void *arg)
{
    struct wait *w = arg;
    return w->nd->down[w->peer] >= w->count;
}

static bool p_frames(void *arg) /* nd got count frames from peer */
{
    struct wait *w = arg;
    return w->nd->frames[w->peer] >= w->count;
}

static bool p_rejected(void *arg) /* nd rejected count handshakes (and raw, if any, closed) */
{
    struct wait *w = arg;
    return stats(w->nd).rejected_handshakes >= w->count && (w->raw == NULL || w->raw->closed);
}

static bool p_bad(void *arg) /* nd counted count bad frames and raw was closed */
{
    struct wait *w = arg;
    return stats(w->nd).bad_frames >= w->count && w->raw->closed;
}

/* every node in the array (entries with a net) connected to every other */
static bool p_mesh(void *arg)
{
    struct node *nds = arg;
    size_t nets = 0;
    for (uint32_t i = 1; i < MAX_ID; i++)
        nets += nds[i].net != NULL ? 1u : 0u;
    for (uint32_t i = 1; i < MAX_ID; i++)
        if (nds[i].net != NULL && kq_peer_net_connected_count(nds[i].net) != nets - 1)
            return false;
    return true;
}

static void wait_for(pred_fn pred, void *arg)
{
    assert_true(run_until(pred, arg));
}

/* Opens nodes 3, 2, 1 (higher first, so every dialer knows the port it dials) in a full mesh and
 * waits until all are connected. */
static void mesh_open(struct node nds[MAX_ID])
{
    memset(nds, 0, MAX_ID * sizeof *nds);
    for (uint32_t id = 3; id >= 1; id--) {
        struct kq_peer_conf peers[2];
        size_t n = 0;
        for (uint32_t j = 1; j <= 3; j++)
            if (j != id)
                peers[n++] = pc(j, nds[j].port);
        node_open(&nds[id], id, peers, n);
    }
    for (uint32_t id = 1; id <= 3; id++)
        kq_peer_net_start(nds[id].net);
    wait_for(p_mesh, nds);
}

static void mesh_close(struct node nds[MAX_ID])
{
    for (uint32_t id = 1; id < MAX_ID; id++)
        if (nds[id].net != NULL)
            node_close(&nds[id]);
}

static void send_text(struct node *nd, uint32_t to, uint16_t type, const char *text)
{
    assert_int_equal(kq_peer_net_send(nd->net, to, type, (const uint8_t *)text, strlen(text)),
                     KQ_OK);
}

/* The last frame nd recorded from peer. */
static const struct rec *last_from(const struct node *nd, uint32_t peer)
{
    for (size_t i = nd->n_recs; i > 0; i--)
        if (nd->recs[i - 1].from == peer)
            return &nd->recs[i - 1];
    fail_msg("no frame from %u", (unsigned)peer);
    return NULL;
}

/* Sends text from node `from` to node `to` and waits until it arrives there, intact. */
static void delivers(struct node nds[MAX_ID], uint32_t from, uint32_t to, const char *text)
{
    struct wait w = {&nds[to], NULL, from, nds[to].frames[from] + 1};
    send_text(&nds[from], to, APP_TYPE, text);
    wait_for(p_frames, &w);
    assert_string_equal(last_from(&nds[to], from)->text, text);
}

/* ---- tests ---- */

static struct node g_nd[MAX_ID];

/* Three nets connect pairwise (one connection per pair), exchange frames both ways, and a PING
 * comes back as a PONG with the same payload. */
static void test_mesh_frames_ping(void **state)
{
    (void)state;
    struct node *nd = g_nd;
    mesh_open(nd);
    for (uint32_t i = 1; i <= 3; i++)
        for (uint32_t j = 1; j <= 3; j++)
            if (i != j) {
                assert_int_equal(nd[i].up[j], 1);
                assert_true(kq_peer_net_connected(nd[i].net, j));
            }
    for (uint32_t i = 1; i <= 3; i++)
        for (uint32_t j = 1; j <= 3; j++)
            if (i != j) {
                char text[16];
                snprintf(text, sizeof text, "%u->%u", (unsigned)i, (unsigned)j);
                send_text(&nd[i], j, APP_TYPE, text);
            }
    for (uint32_t i = 1; i <= 3; i++)
        for (uint32_t j = 1; j <= 3; j++)
            if (i != j) {
                struct wait w = {&nd[j], NULL, i, 1};
                wait_for(p_frames, &w);
                char want[16];
                snprintf(want, sizeof want, "%u->%u", (unsigned)i, (unsigned)j);
                const struct rec *r = last_from(&nd[j], i);
                assert_int_equal(r->type, APP_TYPE);
                assert_string_equal(r->text, want);
            }
    /* PING is answered by the transport: node 3's on_frame never sees it */
    send_text(&nd[1], 3, KQ_FRAME_PING, "ping-123");
    struct wait w = {&nd[1], NULL, 3, 2}; /* the app frame from 3, then the pong */
    wait_for(p_frames, &w);
    assert_int_equal(nd[1].pongs[3], 1);
    assert_string_equal(last_from(&nd[1], 3)->text, "ping-123");
    assert_int_equal(last_from(&nd[1], 3)->type, KQ_FRAME_PONG);
    assert_int_equal(nd[3].frames[1], 1);
    /* counters: node 3 got two app frames and a ping, sent two app frames and a pong */
    struct kq_peer_stats s3 = stats(&nd[3]);
    assert_int_equal(s3.frames_in, 3);
    assert_int_equal(s3.frames_out, 3);
    assert_int_equal(s3.bytes_in, 2 * KQ_FRAME_BYTES(4) + KQ_FRAME_BYTES(8));
    assert_int_equal(s3.bytes_out, 2 * KQ_FRAME_BYTES(4) + KQ_FRAME_BYTES(8));
    assert_int_equal(s3.rejected_handshakes + s3.bad_frames, 0);
    /* sends the net refuses */
    static uint8_t big[16];
    assert_int_equal(kq_peer_net_send(nd[1].net, 4, APP_TYPE, big, 1), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_peer_net_send(nd[1].net, 1, APP_TYPE, big, 1), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_peer_net_send(nd[1].net, 2, APP_TYPE, big, KQ_MAX_FRAME_PAYLOAD + 1),
                     KQ_ERR_LIMIT);
    assert_int_equal(stats(&nd[1]).frames_out, 3);
    /* one connection per pair, and it stays: nothing flaps */
    run_for(300);
    for (uint32_t i = 1; i <= 3; i++)
        for (uint32_t j = 1; j <= 3; j++)
            if (i != j) {
                assert_int_equal(nd[i].up[j], 1);
                assert_int_equal(nd[i].down[j], 0);
            }
    assert_int_equal(kq_peer_net_connected_count(nd[2].net), 2);
    mesh_close(nd);
}

/* Nodes 3 and 2 run; raw clients with node 1's real certificate connect to 3. */
static void pair_open(struct node nd[MAX_ID])
{
    memset(nd, 0, MAX_ID * sizeof *nd);
    struct kq_peer_conf p3[2] = {pc(1, 0), pc(2, 0)};
    node_open(&nd[3], 3, p3, 2);
    struct kq_peer_conf p2[2] = {pc(1, 0), pc(3, nd[3].port)};
    node_open(&nd[2], 2, p2, 2);
    kq_peer_net_start(nd[3].net);
    kq_peer_net_start(nd[2].net);
    struct wait w = {&nd[3], NULL, 2, 1};
    wait_for(p_up, &w);
}

/* An authenticated raw client as node 1 to node 3. */
static void raw_as_node1(struct raw *r, struct node *nd3, unsigned ups_before)
{
    raw_open(r, nd3->port, "node-1");
    wait_for(p_raw_connected, r);
    struct wait w = {nd3, NULL, 1, ups_before + 1};
    wait_for(p_up, &w);
}

/* An oversized header, garbage and a wrong version close the connection (counted and logged)
 * before any payload is buffered; the nets go on exchanging frames. */
static void test_bad_frames(void **state)
{
    (void)state;
    struct node *nd = g_nd;
    pair_open(nd);
    struct raw r;

    raw_as_node1(&r, &nd[3], 0);
    uint8_t h[KQ_FRAME_HEADER_BYTES];
    assert_int_equal(kq_frame_encode_header(h, APP_TYPE, 1, 0), KQ_OK);
    uint32_t over = KQ_MAX_FRAME_PAYLOAD + 1;
    h[12] = (uint8_t)(over >> 24), h[13] = (uint8_t)(over >> 16);
    h[14] = (uint8_t)(over >> 8), h[15] = (uint8_t)over;
    raw_send(&r, h, sizeof h); /* and never the payload: refused on the header alone */
    struct wait w = {&nd[3], &r, 1, 1};
    wait_for(p_bad, &w);
    assert_non_null(strstr(nd[3].last_bad, "limit"));
    assert_true(r.clean); /* the net said close_notify */
    assert_int_equal(nd[3].down[1], 1);
    raw_close(&r);

    raw_as_node1(&r, &nd[3], 1);
    raw_send(&r, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
    w.count = 2;
    wait_for(p_bad, &w);
    assert_non_null(strstr(nd[3].last_bad, "malformed"));
    raw_close(&r);

    raw_as_node1(&r, &nd[3], 2);
    assert_int_equal(kq_frame_encode_header(h, APP_TYPE, 1, 0), KQ_OK);
    h[4] = KQ_FRAME_VERSION + 1;
    raw_send(&r, h, sizeof h);
    w.count = 3;
    wait_for(p_bad, &w);
    assert_non_null(strstr(nd[3].last_bad, "version"));
    raw_close(&r);

    assert_int_equal(stats(&nd[3]).bad_frames, 3);
    assert_int_equal(nd[3].logs_bad, 3);
    assert_int_equal(nd[3].frames[1], 0);
    assert_false(kq_peer_net_connected(nd[3].net, 1));
    /* the nets keep serving each other */
    delivers(nd, 2, 3, "still");
    delivers(nd, 3, 2, "here");
    assert_int_equal(nd[3].up[2], 1);
    assert_int_equal(nd[3].down[2], 0);
    mesh_close(nd);
}

/* A frame is delivered only with the sender the certificate proved: a valid one from the raw
 * node 1 arrives, one claiming node 2 closes the connection and is never delivered. */
static void test_sender_mismatch(void **state)
{
    (void)state;
    struct node *nd = g_nd;
    pair_open(nd);
    struct raw r;
    raw_as_node1(&r, &nd[3], 0);
    raw_frame(&r, APP_TYPE, 1, "honest");
    struct wait f = {&nd[3], NULL, 1, 1};
    wait_for(p_frames, &f);
    assert_string_equal(last_from(&nd[3], 1)->text, "honest");

    unsigned from2 = nd[3].frames[2];
    raw_frame(&r, APP_TYPE, 2, "forged");
    struct wait w = {&nd[3], &r, 1, 1};
    wait_for(p_bad, &w);
    assert_non_null(strstr(nd[3].last_bad, "sender"));
    assert_int_equal(nd[3].frames[1], 1);
    assert_int_equal(nd[3].frames[2], from2);
    assert_int_equal(nd[3].down[1], 1);
    raw_close(&r);
    mesh_close(nd);
}

/* A second connection from a node already connected replaces the first at once, although the
 * first is still open (a restarted peer comes back before its dead socket is noticed). */
static void test_replace(void **state)
{
    (void)state;
    struct node *nd = g_nd;
    pair_open(nd);
    struct raw a, b;
    raw_as_node1(&a, &nd[3], 0);
    raw_as_node1(&b, &nd[3], 1);
    wait_for(p_raw_closed, &a);
    assert_int_equal(nd[3].down[1], 1);
    assert_int_equal(nd[3].up[1], 2);
    assert_false(b.closed);
    assert_true(kq_peer_net_connected(nd[3].net, 1));
    assert_int_equal(kq_peer_net_connected_count(nd[3].net), 2);
    raw_frame(&b, APP_TYPE, 1, "second");
    struct wait f = {&nd[3], NULL, 1, 1};
    wait_for(p_frames, &f);
    assert_string_equal(last_from(&nd[3], 1)->text, "second");
    assert_int_equal(stats(&nd[3]).rejected_handshakes, 0);
    raw_close(&a);
    raw_close(&b);
    mesh_close(nd);
}

static bool p_pinned(void *arg)
{
    struct node *nd = arg;
    return stats(&nd[1]).rejected_handshakes >= 1 && stats(&nd[3]).rejected_handshakes >= 1 &&
           kq_peer_net_connected(nd[1].net, 3);
}

/* A node-2 certificate from the right CA with another key is refused when it dials (by 3) and
 * when it is dialed (by 1); 1 and 3 connect to each other all the same. */
static void test_wrong_pinned_key(void **state)
{
    (void)state;
    struct node *nd = g_nd;
    memset(nd, 0, MAX_ID * sizeof *nd);
    struct kq_peer_conf p3[2] = {pc(1, 0), pc(2, 0)};
    node_open(&nd[3], 3, p3, 2);
    struct kq_peer_conf p2[2] = {pc(1, 0), pc(3, nd[3].port)};
    node_open_as(&nd[2], 2, "node2-other", p2, 2, true);
    struct kq_peer_conf p1[2] = {pc(2, nd[2].port), pc(3, nd[3].port)};
    node_open(&nd[1], 1, p1, 2);
    for (uint32_t id = 1; id <= 3; id++)
        kq_peer_net_start(nd[id].net);
    wait_for(p_pinned, nd);
    assert_int_equal(nd[1].up[2], 0);
    assert_int_equal(nd[3].up[2], 0);
    assert_false(kq_peer_net_connected(nd[1].net, 2));
    assert_false(kq_peer_net_connected(nd[3].net, 2));
    assert_non_null(strstr(nd[1].last_reject, "pinned"));
    assert_non_null(strstr(nd[3].last_reject, "pinned"));
    assert_true(nd[1].logs_rejected >= 1 && nd[3].logs_rejected >= 1);
    mesh_close(nd);
}

/* The dialer checks that the server is the node it dialed: node 1 configured with node 3's
 * address for node 2 refuses node 3's certificate. */
static void test_dialer_checks_id(void **state)
{
    (void)state;
    struct node *nd = g_nd;
    memset(nd, 0, MAX_ID * sizeof *nd);
    struct kq_peer_conf p3[2] = {pc(1, 0), pc(2, 0)};
    node_open(&nd[3], 3, p3, 2);
    struct kq_peer_conf p1[1] = {pc(2, nd[3].port)};
    node_open(&nd[1], 1, p1, 1);
    kq_peer_net_start(nd[3].net);
    kq_peer_net_start(nd[1].net);
    struct wait w = {&nd[1], NULL, 0, 1};
    wait_for(p_rejected, &w);
    assert_int_equal(nd[1].up[2], 0);
    assert_non_null(strstr(nd[1].last_reject, "answered by node-3"));
    mesh_close(nd);
}

/* Refused at the handshake: no client certificate, a node certificate from another CA, an
 * expired one, a client's (admin) certificate, a node that is not a configured peer (node 3
 * itself), and TLS 1.2; node 1's real certificate over TLS 1.3 is the control. */
static void test_refused_at_handshake(void **state)
{
    (void)state;
    struct node *nd = g_nd;
    memset(nd, 0, MAX_ID * sizeof *nd);
    struct kq_peer_conf p3[2] = {pc(1, 0), pc(2, 0)};
    node_open(&nd[3], 3, p3, 2);
    kq_peer_net_start(nd[3].net);
    /* the expired certificate certifies node 1's real key */
    const struct {
        const char *cert, *key, *reason;
        int tls;
    } cases[] = {
        {NULL, NULL, "tls:", TLS1_3_VERSION},
        {"node1-otherca", "node1-otherca", "tls:", TLS1_3_VERSION},
        {"node1-expired", "node-1", "tls:", TLS1_3_VERSION},
        {"admin", "admin", "not a node's", TLS1_3_VERSION},
        {"node-3", "node-3", "node-3 is not a configured peer", TLS1_3_VERSION},
        {"node-1", "node-1", "tls:", TLS1_2_VERSION},
    };
    size_t n_cases = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n_cases; i++) {
        struct raw r;
        raw_open_tls(&r, nd[3].port, cases[i].cert, cases[i].key, cases[i].tls);
        struct wait w = {&nd[3], &r, 0, i + 1};
        wait_for(p_rejected, &w);
        assert_int_equal(stats(&nd[3]).rejected_handshakes, i + 1);
        assert_int_equal(nd[3].logs_rejected, i + 1);
        assert_non_null(strstr(nd[3].last_reject, cases[i].reason));
        raw_close(&r);
    }
    assert_int_equal(nd[3].up[1] + nd[3].up[2] + nd[3].up[3], 0);
    struct raw ok;
    raw_as_node1(&ok, &nd[3], 0);
    assert_int_equal(stats(&nd[3]).rejected_handshakes, n_cases);
    raw_close(&ok);
    mesh_close(nd);
}

/* TLS 1.3 only, even when the server context would allow less: a net given a context that
 * accepts TLS 1.2 still refuses a TLS 1.2 connection with a valid node certificate. */
static void test_tls12_refused_by_the_net(void **state)
{
    (void)state;
    struct node *nd = g_nd;
    memset(nd, 0, MAX_ID * sizeof *nd);
    SSL_CTX *loose = SSL_CTX_new(TLS_server_method());
    assert_non_null(loose);
    assert_int_equal(SSL_CTX_set_min_proto_version(loose, TLS1_2_VERSION), 1);
    assert_int_equal(SSL_CTX_set_max_proto_version(loose, TLS1_2_VERSION), 1);
    assert_int_equal(SSL_CTX_use_certificate_file(loose, p("node-3.crt"), SSL_FILETYPE_PEM), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(loose, p("node-3.key"), SSL_FILETYPE_PEM), 1);
    assert_int_equal(SSL_CTX_load_verify_locations(loose, p("ca.crt"), NULL), 1);
    SSL_CTX_set_verify(loose, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    enum kq_err err = KQ_OK;
    SSL_CTX *cctx =
        kq_tls_ctx_new(KQ_TLS_CLIENT, p("ca.crt"), p("node-3.crt"), p("node-3.key"), &err);
    assert_non_null(cctx);
    struct kq_peer_conf p3[2] = {pc(1, 0), pc(2, 0)};
    nd[3].id = 3;
    nd[3].net = kq_peer_net_new(g_base, loose, cctx, 3, p3, 2, &g_cb, &nd[3]);
    assert_non_null(nd[3].net);
    assert_int_equal(kq_peer_net_listen(nd[3].net, "127.0.0.1", 0, &nd[3].port), KQ_OK);
    kq_peer_net_start(nd[3].net);
    struct raw r;
    raw_open_tls(&r, nd[3].port, "node-1", "node-1", TLS1_2_VERSION);
    struct wait w = {&nd[3], &r, 0, 1};
    wait_for(p_rejected, &w);
    assert_true(r.connected); /* the TLS 1.2 handshake itself succeeded */
    assert_string_equal(nd[3].last_reject, "not TLS 1.3");
    assert_int_equal(nd[3].up[1], 0);
    raw_close(&r);
    kq_peer_net_free(nd[3].net);
    nd[3].net = NULL;
    SSL_CTX_free(loose);
    SSL_CTX_free(cctx);
}

/* The output queue is bounded: two of the largest frames fit, a third is refused with nothing
 * queued, a small one still fits; all arrive intact. A peer that is configured but down gives
 * KQ_ERR_NET. Runs without on_log. */
static void test_backpressure(void **state)
{
    (void)state;
    struct node *nd = g_nd;
    memset(nd, 0, MAX_ID * sizeof *nd);
    struct kq_peer_conf p2[1] = {pc(1, 0)};
    node_open(&nd[2], 2, p2, 1);
    struct kq_peer_conf p1[2] = {pc(2, nd[2].port), pc(3, 1)}; /* nothing listens on port 1 */
    node_open_as(&nd[1], 1, "node-1", p1, 2, false);
    kq_peer_net_start(nd[2].net);
    kq_peer_net_start(nd[1].net);
    struct wait up = {&nd[1], NULL, 2, 1};
    wait_for(p_up, &up);
    assert_int_equal(kq_peer_net_send(nd[1].net, 3, APP_TYPE, NULL, 0), KQ_ERR_NET);

    uint8_t *big = malloc(KQ_MAX_FRAME_PAYLOAD);
    assert_non_null(big);
    for (size_t i = 0; i < KQ_MAX_FRAME_PAYLOAD; i++)
        big[i] = (uint8_t)(i * 7 % 251);
    uint32_t big_sum = sum32(big, KQ_MAX_FRAME_PAYLOAD);
    assert_int_equal(kq_peer_net_send(nd[1].net, 2, APP_TYPE, big, KQ_MAX_FRAME_PAYLOAD), KQ_OK);
    assert_int_equal(kq_peer_net_send(nd[1].net, 2, APP_TYPE, big, KQ_MAX_FRAME_PAYLOAD), KQ_OK);
    struct kq_peer_stats before = stats(&nd[1]);
    assert_int_equal(kq_peer_net_send(nd[1].net, 2, APP_TYPE, big, KQ_MAX_FRAME_PAYLOAD),
                     KQ_ERR_BUSY);
    struct kq_peer_stats after = stats(&nd[1]);
    assert_int_equal(after.frames_out, before.frames_out);
    assert_int_equal(after.bytes_out, before.bytes_out);
    send_text(&nd[1], 2, APP_TYPE, "small");
    struct wait f = {&nd[2], NULL, 1, 3};
    wait_for(p_frames, &f);
    assert_int_equal(nd[2].n_recs, 3);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(nd[2].recs[i].len, KQ_MAX_FRAME_PAYLOAD);
        assert_int_equal(nd[2].recs[i].sum, big_sum);
    }
    assert_string_equal(nd[2].recs[2].text, "small");
    /* drained: a large frame fits again */
    assert_int_equal(kq_peer_net_send(nd[1].net, 2, APP_TYPE, big, KQ_MAX_FRAME_PAYLOAD), KQ_OK);
    f.count = 4;
    wait_for(p_frames, &f);
    assert_int_equal(stats(&nd[2]).bytes_in, 3 * KQ_FRAME_MAX_BYTES + KQ_FRAME_BYTES(5));
    free(big);
    mesh_close(nd);
}

/* Redials back off: from 50 ms doubling, the delays before the sixth redial add up to at least
 * 25 + 50 + 100 + 200 + 400 + 800 ms (the jitter keeps at least half of each), so one second holds
 * at most five (seven allowed). Without doubling it would hold twenty or more. A slow machine
 * only makes fewer: the bound cannot fail from slowness. */
static void test_backoff(void **state)
{
    (void)state;
    struct node *nd = g_nd;
    memset(nd, 0, MAX_ID * sizeof *nd);
    struct kq_peer_conf p1[1] = {pc(2, 1)}; /* nothing listens on port 1 */
    node_open(&nd[1], 1, p1, 1);
    kq_peer_net_start(nd[1].net);
    run_for(1000);
    struct kq_peer_stats s = stats(&nd[1]);
    assert_true(s.reconnects <= 7);
    assert_int_equal(s.rejected_handshakes, 0);
    assert_int_equal(nd[1].up[2], 0);
    mesh_close(nd);
}

/* Connects a non-blocking TCP socket to 127.0.0.1:port that never speaks. */
static int tcp_silent(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(fd, (struct sockaddr *)&sin, sizeof sin);
    assert_true(rc == 0 || errno == EINPROGRESS);
    return fd;
}

static bool p_dial_timeout(void *arg)
{
    return ((struct node *)arg)->dial_timeouts >= 1;
}

/* At most KQ_PEER_MAX_PENDING_HANDSHAKES inbound handshakes at once (one more is closed at
 * accept), and a connection that never completes its handshake is closed at the deadline, both
 * inbound (refused) and outbound (a failed dial, redialed later); then a real node is served. */
static void test_handshake_bound_and_deadline(void **state)
{
    (void)state;
    struct node *nd = g_nd;
    memset(nd, 0, MAX_ID * sizeof *nd);
    struct kq_peer_conf p3[2] = {pc(1, 0), pc(2, 0)};
    node_open(&nd[3], 3, p3, 2);
    kq_peer_net_start(nd[3].net);
    /* a server that completes TCP handshakes (the kernel does) and never speaks TLS */
    int silent = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sin;
    assert_int_equal(bind(silent, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(silent, 8), 0);
    assert_int_equal(getsockname(silent, (struct sockaddr *)&sin, &sl), 0);
    struct kq_peer_conf p1[1] = {pc(2, ntohs(sin.sin_port))};
    node_open(&nd[1], 1, p1, 1);
    kq_peer_net_start(nd[1].net);

    enum { N = KQ_PEER_MAX_PENDING_HANDSHAKES + 1 };
    static int fds[N];
    for (size_t i = 0; i < N; i++) {
        fds[i] = tcp_silent(nd[3].port);
        if (i % 64 == 63)
            run_for(20); /* let the net accept, so no SYN waits for a retransmission */
    }
    struct wait w = {&nd[3], NULL, 0, 1};
    wait_for(p_rejected, &w);
    assert_string_equal(nd[3].last_reject, "too many handshakes in progress");
    w.count = N;
    wait_for(p_rejected, &w);
    assert_string_equal(nd[3].last_reject, "handshake timed out");
    assert_int_equal(stats(&nd[3]).rejected_handshakes, N);
    for (size_t i = 0; i < N; i++)
        close(fds[i]);
    wait_for(p_dial_timeout, &nd[1]);
    assert_int_equal(stats(&nd[1]).rejected_handshakes, 0);
    assert_int_equal(nd[1].up[2], 0);
    close(silent);
    struct raw ok;
    raw_as_node1(&ok, &nd[3], 0);
    raw_close(&ok);
    mesh_close(nd);
}

static bool p_back(void *arg)
{
    struct node *nd = arg;
    return nd[1].up[2] >= 2 && nd[3].up[2] >= 2 && p_mesh(nd);
}

/* A node that goes away is seen down by the others; restarted on the same port it is redialed
 * (backoff) and dials in turn, and frames flow again. */
static void test_reconnect(void **state)
{
    (void)state;
    struct node *nd = g_nd;
    mesh_open(nd);
    node_close(&nd[2]);
    struct wait d1 = {&nd[1], NULL, 2, 1}, d3 = {&nd[3], NULL, 2, 1};
    wait_for(p_down, &d1);
    wait_for(p_down, &d3);
    assert_false(kq_peer_net_connected(nd[1].net, 2));
    assert_int_equal(kq_peer_net_connected_count(nd[1].net), 1);
    uint16_t port = nd[2].port;
    memset(&nd[2], 0, sizeof nd[2]);
    nd[2].port = port;
    struct kq_peer_conf p2[2] = {pc(1, nd[1].port), pc(3, nd[3].port)};
    node_open(&nd[2], 2, p2, 2);
    kq_peer_net_start(nd[2].net);
    wait_for(p_back, nd);
    assert_true(stats(&nd[1]).reconnects >= 1);
    delivers(nd, 1, 2, "welcome back");
    delivers(nd, 2, 3, "hello again");
    mesh_close(nd);
}

/* Peer lists the net refuses, and a port already taken. */
static void test_invalid_config(void **state)
{
    (void)state;
    enum kq_err err = KQ_OK;
    SSL_CTX *s =
        kq_tls_ctx_new(KQ_TLS_PEER_SERVER, p("ca.crt"), p("node-1.crt"), p("node-1.key"), &err);
    SSL_CTX *c = kq_tls_ctx_new(KQ_TLS_CLIENT, p("ca.crt"), p("node-1.crt"), p("node-1.key"), &err);
    assert_non_null(s);
    assert_non_null(c);
    struct node nd;
    memset(&nd, 0, sizeof nd);
    struct kq_peer_conf ok[2] = {pc(2, 1), pc(3, 1)};
    struct kq_peer_conf bad[2];
    assert_null(kq_peer_net_new(g_base, s, c, 0, ok, 2, &g_cb, &nd));          /* self 0 */
    assert_null(kq_peer_net_new(g_base, s, c, UINT32_MAX, ok, 2, &g_cb, &nd)); /* broadcast */
    assert_null(kq_peer_net_new(g_base, s, c, 2, ok, 2, &g_cb, &nd));          /* self listed */
    assert_null(kq_peer_net_new(g_base, s, c, 1, ok, KQ_PEER_MAX_PEERS + 1, &g_cb, &nd));
    memcpy(bad, ok, sizeof bad);
    bad[1].id = 2; /* duplicate */
    assert_null(kq_peer_net_new(g_base, s, c, 1, bad, 2, &g_cb, &nd));
    memcpy(bad, ok, sizeof bad);
    bad[1].id = 0;
    assert_null(kq_peer_net_new(g_base, s, c, 1, bad, 2, &g_cb, &nd));
    memcpy(bad, ok, sizeof bad);
    memset(bad[1].host, 'a', sizeof bad[1].host); /* not NUL-terminated */
    assert_null(kq_peer_net_new(g_base, s, c, 1, bad, 2, &g_cb, &nd));
    memcpy(bad, ok, sizeof bad);
    bad[1].host[0] = 0; /* empty */
    assert_null(kq_peer_net_new(g_base, s, c, 1, bad, 2, &g_cb, &nd));

    /* a net ignores SIGPIPE (a peer's closed socket must not kill the node) */
    struct sigaction dfl, now;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    assert_int_equal(sigaction(SIGPIPE, &dfl, NULL), 0);
    struct kq_peer_net *a = kq_peer_net_new(g_base, s, c, 1, ok, 2, &g_cb, &nd);
    assert_int_equal(sigaction(SIGPIPE, NULL, &now), 0);
    assert_true(now.sa_handler == SIG_IGN);
    struct kq_peer_net *b = kq_peer_net_new(g_base, s, c, 1, ok, 2, &g_cb, &nd);
    assert_non_null(a);
    assert_non_null(b);
    nd.net = a;
    uint16_t port = 0, port_b = 7;
    assert_int_equal(kq_peer_net_listen(a, "127.0.0.1", 0, &port), KQ_OK);
    assert_int_equal(kq_peer_net_listen(b, "127.0.0.1", port, &port_b), KQ_ERR_NET);
    assert_int_equal(port_b, 7);
    assert_int_equal(kq_peer_net_connected_count(a), 0);
    assert_false(kq_peer_net_connected(a, 2));
    assert_false(kq_peer_net_connected(a, 9));
    kq_peer_net_free(a);
    kq_peer_net_free(b);
    kq_peer_net_free(NULL);
    SSL_CTX_free(s);
    SSL_CTX_free(c);
}

/* ---- runtime changes of the peer set ---- */

static bool p_connected(void *arg) /* w->nd connected to w->peer */
{
    struct wait *w = arg;
    return kq_peer_net_connected(w->nd->net, w->peer);
}

/* A peer added at run time: node 1 (which dials 3) adds 3 and dials at once; 3 refuses it while
 * 1 is not in its own set, then adds 1 and accepts it (1 redials); frames flow both ways and the
 * link 1-2 is untouched. */
static void test_set_peers_add(void **state)
{
    (void)state;
    struct node *nd = g_nd;
    memset(nd, 0, MAX_ID * sizeof *nd);
    node_open(&nd[3], 3, NULL, 0);
    struct kq_peer_conf p2[1] = {pc(1, 0)};
    node_open(&nd[2], 2, p2, 1);
    struct kq_peer_conf p1[1] = {pc(2, nd[2].port)};
    node_open(&nd[1], 1, p1, 1);
    for (uint32_t id = 1; id <= 3; id++)
        kq_peer_net_start(nd[id].net);
    struct wait up12 = {&nd[1], NULL, 2, 1};
    wait_for(p_up, &up12);
    uint32_t ids[KQ_PEER_MAX_PEERS];
    assert_int_equal(kq_peer_net_peers(nd[3].net, ids, KQ_PEER_MAX_PEERS), 0);

    struct kq_peer_conf p1b[2] = {pc(2, nd[2].port), pc(3, nd[3].port)};
    assert_int_equal(kq_peer_net_set_peers(nd[1].net, p1b, 2), KQ_OK);
    assert_int_equal(kq_peer_net_peers(nd[1].net, ids, KQ_PEER_MAX_PEERS), 2);
    struct wait rej = {&nd[3], NULL, 0, 1};
    wait_for(p_rejected, &rej);
    assert_non_null(strstr(nd[3].last_reject, "not a configured peer"));
    assert_int_equal(nd[3].up[1], 0); /* (1's side may finish its TLS 1.3 handshake first) */

    struct kq_peer_conf p3[1] = {pc(1, nd[1].port)};
    assert_int_equal(kq_peer_net_set_peers(nd[3].net, p3, 1), KQ_OK);
    assert_int_equal(kq_peer_net_peers(nd[3].net, ids, 1), 1);
    assert_int_equal(ids[0], 1);
    struct wait up31 = {&nd[3], NULL, 1, 1};
    wait_for(p_up, &up31);
    struct wait c13 = {&nd[1], NULL, 3, 0};
    wait_for(p_connected, &c13);
    delivers(nd, 1, 3, "to the new peer");
    delivers(nd, 3, 1, "from the new peer");
    assert_int_equal(nd[1].up[2], 1);
    assert_int_equal(nd[1].down[2], 0);
    assert_int_equal(nd[3].up[1], 1);
    mesh_close(nd);
}

/* A removed peer: its connection closes on both sides (on_down once), sends to it are refused,
 * the remover never dials it again, and an acceptor that removed its dialer refuses its redials.
 * The other links stay up. */
static void test_set_peers_remove(void **state)
{
    (void)state;
    struct node *nd = g_nd;
    mesh_open(nd);
    /* 1 dials 2: 1 drops 2 and must not dial it again */
    struct kq_peer_conf p1[1] = {pc(3, nd[3].port)};
    assert_int_equal(kq_peer_net_set_peers(nd[1].net, p1, 1), KQ_OK);
    assert_int_equal(nd[1].down[2], 1); /* on_down ran during the call */
    assert_false(kq_peer_net_connected(nd[1].net, 2));
    assert_int_equal(kq_peer_net_send(nd[1].net, 2, APP_TYPE, (const uint8_t *)"x", 1),
                     KQ_ERR_INVALID_ARG);
    struct wait d21 = {&nd[2], NULL, 1, 1};
    wait_for(p_down, &d21);
    /* 3 is dialed by 1: 3 drops 1, and 1's redials are refused */
    struct kq_peer_conf p3[1] = {pc(2, nd[2].port)};
    assert_int_equal(kq_peer_net_set_peers(nd[3].net, p3, 1), KQ_OK);
    assert_int_equal(nd[3].down[1], 1);
    struct wait rej = {&nd[3], NULL, 0, 1};
    wait_for(p_rejected, &rej);
    assert_non_null(strstr(nd[3].last_reject, "node-1 is not a configured peer"));
    run_for(8 * KQ_PEER_BACKOFF_MIN_MS);
    assert_int_equal(nd[3].up[1], 1);
    assert_int_equal(nd[1].up[2], 1);
    assert_int_equal(nd[2].up[1], 1); /* 1 never dialed 2 again */
    assert_int_equal(stats(&nd[2]).rejected_handshakes, 0);
    assert_true(kq_peer_net_connected(nd[2].net, 3));
    assert_int_equal(nd[2].down[3], 0);
    mesh_close(nd);
}

/* A changed pin: the connection authenticated against the old key is closed at once and the
 * peer is redialed against the new one (a wrong key: refused; the right one back: up). A changed
 * address of a peer we dial: closed and redialed there; of a peer that dials us: left alone. */
static void test_set_peers_change(void **state)
{
    (void)state;
    struct node *nd = g_nd;
    mesh_open(nd);
    struct kq_peer_conf p1[2] = {pc(2, nd[2].port), pc(3, nd[3].port)};
    memcpy(p1[1].identity, g_pk[4], 32); /* node 3 pinned to a key it does not have */
    assert_int_equal(kq_peer_net_set_peers(nd[1].net, p1, 2), KQ_OK);
    assert_int_equal(nd[1].down[3], 1);
    struct wait rej = {&nd[1], NULL, 0, 1};
    wait_for(p_rejected, &rej);
    assert_non_null(strstr(nd[1].last_reject, "pinned"));
    assert_int_equal(nd[1].up[3], 1);
    p1[1] = pc(3, nd[3].port);
    assert_int_equal(kq_peer_net_set_peers(nd[1].net, p1, 2), KQ_OK);
    struct wait up = {&nd[1], NULL, 3, 2};
    wait_for(p_up, &up);
    assert_int_equal(nd[1].down[2], 0); /* an unchanged peer keeps its connection */

    /* node 1 dials 2 at a port nothing listens on (node 3's is taken: use our own) */
    p1[0] = pc(2, nd[1].port);
    uint64_t rejected = stats(&nd[1]).rejected_handshakes;
    assert_int_equal(kq_peer_net_set_peers(nd[1].net, p1, 2), KQ_OK);
    assert_int_equal(nd[1].down[2], 1);
    struct wait rej1 = {&nd[1], NULL, 0, rejected + 1};
    wait_for(p_rejected, &rej1); /* it reached node 1 itself: refused by the dialer's id check */
    assert_false(kq_peer_net_connected(nd[1].net, 2));
    p1[0] = pc(2, nd[2].port);
    assert_int_equal(kq_peer_net_set_peers(nd[1].net, p1, 2), KQ_OK);
    struct wait up2 = {&nd[1], NULL, 2, 2};
    wait_for(p_up, &up2);

    /* node 3 is dialed by 1 and 2: a new address for them changes nothing */
    unsigned down31 = nd[3].down[1], down32 = nd[3].down[2];
    struct kq_peer_conf p3[2] = {pc(1, 1), pc(2, 1)};
    assert_int_equal(kq_peer_net_set_peers(nd[3].net, p3, 2), KQ_OK);
    run_for(4 * KQ_PEER_BACKOFF_MIN_MS);
    assert_int_equal(nd[3].down[1], down31);
    assert_int_equal(nd[3].down[2], down32);
    assert_int_equal(kq_peer_net_connected_count(nd[3].net), 2);
    mesh_close(nd);
}

/* Lists set_peers refuses change nothing; the set is bounded and its entries are reused (many
 * full sets in turn fit the fixed array). */
static void test_set_peers_invalid_and_bounded(void **state)
{
    (void)state;
    struct node *nd = g_nd;
    mesh_open(nd);
    struct kq_peer_conf bad[2] = {pc(2, nd[2].port), pc(2, nd[2].port)}; /* duplicate */
    assert_int_equal(kq_peer_net_set_peers(nd[1].net, bad, 2), KQ_ERR_INVALID_ARG);
    bad[1] = pc(1, nd[1].port); /* self */
    assert_int_equal(kq_peer_net_set_peers(nd[1].net, bad, 2), KQ_ERR_INVALID_ARG);
    bad[1] = pc(3, nd[3].port);
    bad[1].id = UINT32_MAX;
    assert_int_equal(kq_peer_net_set_peers(nd[1].net, bad, 2), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_peer_net_set_peers(nd[1].net, bad, KQ_PEER_MAX_PEERS + 1), KQ_ERR_LIMIT);
    assert_int_equal(kq_peer_net_connected_count(nd[1].net), 2);
    assert_int_equal(nd[1].down[2] + nd[1].down[3], 0);
    mesh_close(nd);

    /* a net not started: no dials, only the bookkeeping */
    memset(nd, 0, MAX_ID * sizeof *nd);
    node_open_as(&nd[1], 1, "node-1", NULL, 0, false);
    struct kq_peer_conf *many = calloc(KQ_PEER_MAX_PEERS, sizeof *many);
    assert_non_null(many);
    uint32_t ids[KQ_PEER_MAX_PEERS];
    for (uint32_t round = 0; round < 3; round++) {
        for (size_t i = 0; i < KQ_PEER_MAX_PEERS; i++) {
            many[i] = pc(2, 1);
            many[i].id = 2 + (uint32_t)i + round * 1000;
        }
        assert_int_equal(kq_peer_net_set_peers(nd[1].net, many, KQ_PEER_MAX_PEERS), KQ_OK);
        assert_int_equal(kq_peer_net_peers(nd[1].net, ids, KQ_PEER_MAX_PEERS), KQ_PEER_MAX_PEERS);
        assert_int_equal(kq_peer_net_peers(nd[1].net, ids, 1), KQ_PEER_MAX_PEERS);
        assert_int_equal(kq_peer_net_set_peers(nd[1].net, many, 10), KQ_OK);
        assert_int_equal(kq_peer_net_peers(nd[1].net, ids, KQ_PEER_MAX_PEERS), 10);
    }
    free(many);
    node_close(&nd[1]);
}

/* ---- setup ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static enum kq_err issue(uint32_t node_id, const char *ca, const char *base, const char *key_in,
                         int64_t nb, int64_t na)
{
    char ca_cert[64], ca_key[64], cert[64], key[64], kin[64];
    snprintf(ca_cert, sizeof ca_cert, "%s.crt", ca);
    snprintf(ca_key, sizeof ca_key, "%s.key", ca);
    snprintf(cert, sizeof cert, "%s.crt", base);
    snprintf(key, sizeof key, "%s.key", base);
    snprintf(kin, sizeof kin, "%s", key_in != NULL ? key_in : "");
    char pcc[PATH_MAX], pck[PATH_MAX], pc_[PATH_MAX], pk[PATH_MAX], pki[PATH_MAX];
    snprintf(pcc, sizeof pcc, "%s", p(ca_cert));
    snprintf(pck, sizeof pck, "%s", p(ca_key));
    snprintf(pc_, sizeof pc_, "%s", p(cert));
    snprintf(pk, sizeof pk, "%s", p(key));
    snprintf(pki, sizeof pki, "%s", p(kin));
    struct kq_pki_request req = {.kind = KQ_PKI_NODE,
                                 .node_id = node_id,
                                 .ca_cert = pcc,
                                 .ca_key = pck,
                                 .key_in = key_in != NULL ? pki : NULL,
                                 .cert_out = pc_,
                                 .key_out = pk,
                                 .not_before_s = nb,
                                 .not_after_s = na};
    return kq_pki_issue(&req);
}

static int setup(void **state)
{
    (void)state;
    if (kq_init(0) != KQ_OK)
        return -1;
    snprintf(g_dir, sizeof g_dir, "/tmp/kq_test_peer.XXXXXX");
    if (mkdtemp(g_dir) == NULL || kq_pki_init(g_dir, 3) != KQ_OK)
        return -1;
    if (kq_pki_make_ca(p("other-ca.crt"), p("other-ca.key")) != KQ_OK)
        return -1;
    if (issue(2, "ca", "node2-other", NULL, -300, 3600) != KQ_OK ||
        issue(1, "other-ca", "node1-otherca", NULL, -300, 3600) != KQ_OK ||
        issue(1, "ca", "node1-expired", "node-1.key", -7200, -3600) != KQ_OK)
        return -1;
    for (uint32_t id = 1; id <= 3; id++) {
        char crt[32];
        snprintf(crt, sizeof crt, "node-%u.crt", (unsigned)id);
        if (kq_pki_read_public(p(crt), g_pk[id]) != KQ_OK)
            return -1;
    }
    kq_random(g_pk[4], 32); /* a node no certificate names */
    g_base = event_base_new();
    return g_base != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    event_base_free(g_base);
    return nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mesh_frames_ping),
        cmocka_unit_test(test_bad_frames),
        cmocka_unit_test(test_sender_mismatch),
        cmocka_unit_test(test_replace),
        cmocka_unit_test(test_wrong_pinned_key),
        cmocka_unit_test(test_dialer_checks_id),
        cmocka_unit_test(test_refused_at_handshake),
        cmocka_unit_test(test_tls12_refused_by_the_net),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_handshake_bound_and_deadline),
        cmocka_unit_test(test_reconnect),
        cmocka_unit_test(test_invalid_config),
        cmocka_unit_test(test_set_peers_add),
        cmocka_unit_test(test_set_peers_remove),
        cmocka_unit_test(test_set_peers_change),
        cmocka_unit_test(test_set_peers_invalid_and_bounded),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
