/* The peer transport on libevent's OpenSSL bufferevents. Invariants: a connection is either
 * handshaking (on the net's pending list, no frame read from it) or authenticated and owned by
 * the slot of the peer its certificate names and pins; a slot owns at most one authenticated
 * connection (the newest wins); a header is checked before its payload is buffered, and a
 * connection that breaks the frame rules is closed. Frames never outlive a callback. Slots live
 * in a fixed array (connections and timers point into it): a removed peer's slot is unused, owns
 * no connection and no armed timer, and is never found by id. */
#include "net/peer.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/mem.h"
#include "net/tls.h"
#include "wire/frame.h"

/* Log details are short sentences with ids and library reasons, never payloads. */
#define PEER_DETAIL_BYTES 160

KQ_STATIC_ASSERT(KQ_PEER_MAX_OUTBUF_BYTES >= KQ_FRAME_MAX_BYTES, "an idle queue takes any frame");
KQ_STATIC_ASSERT(KQ_PEER_MAX_PEERS < UINT32_MAX, "peer ids leave room for KQ_PEER_ALL");

struct slot;

struct conn {
    struct kq_peer_net *net;
    struct bufferevent *bev;
    struct event *hs_timer;   /* handshake deadline; fired or deleted once authenticated */
    struct slot *slot;        /* dialed: the target; accepted: set once authenticated */
    struct conn *prev, *next; /* the net's pending list while handshaking */
    bool outbound;
    bool authed;
};

struct slot {
    struct kq_peer_net *net;
    bool used; /* a configured peer; false: a free entry of the array */
    struct kq_peer_conf conf;
    struct conn *conn;    /* the authenticated connection, or NULL */
    struct conn *dialing; /* our dial still handshaking, or NULL */
    struct event *redial; /* backoff timer */
    uint32_t backoff_ms;  /* ceiling of the next redial delay */
    bool proven;          /* a frame arrived on the current connection */
};

struct kq_peer_net {
    struct event_base *base;
    SSL_CTX *server_ctx, *client_ctx;
    uint32_t self_id;
    struct kq_peer_callbacks cb;
    void *cb_ctx;
    struct evconnlistener *listener;
    bool started;
    size_t n_slots;       /* entries of slots[] ever used: the used ones are among them */
    struct slot *slots;   /* KQ_PEER_MAX_PEERS entries */
    struct conn *pending; /* handshaking connections, both directions */
    size_t n_pending_in;  /* of which accepted */
    struct kq_peer_stats stats;
};

static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void conn_read_cb(struct bufferevent *bev, void *arg);

/* ---- small helpers ---- */

static void net_log(struct kq_peer_net *n, const char *event, uint32_t peer, const char *detail)
{
    if (n->cb.on_log != NULL)
        n->cb.on_log(n->cb_ctx, event, peer, detail);
}

static struct slot *slot_find(const struct kq_peer_net *n, uint32_t id)
{
    for (size_t i = 0; i < n->n_slots; i++)
        if (n->slots[i].used && n->slots[i].conf.id == id)
            return &n->slots[i];
    return NULL;
}

/* The lower id dials: we own the redialing of peers above us. */
static bool we_dial(const struct kq_peer_net *n, const struct slot *s)
{
    return s->conf.id > n->self_id;
}

static uint32_t conn_peer_id(const struct conn *c)
{
    return c->slot != NULL ? c->slot->conf.id : 0;
}

static void pending_link(struct kq_peer_net *n, struct conn *c)
{
    c->prev = NULL;
    c->next = n->pending;
    if (n->pending != NULL)
        n->pending->prev = c;
    n->pending = c;
    if (!c->outbound)
        n->n_pending_in++;
}

static void pending_unlink(struct kq_peer_net *n, struct conn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        n->pending = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    if (!c->outbound) {
        KQ_ASSERT(n->n_pending_in > 0);
        n->n_pending_in--;
    }
}

/* The socket error behind a failed connection: the socket's pending error, else errno when it
 * names a network failure (a refused connection is reported by the read that found it, and a
 * stale errno from an earlier EAGAIN must not pass for the reason). 0 if none. */
static int socket_error(struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0)
        return err;
    err = errno;
    bool network = err == ECONNREFUSED || err == ECONNRESET || err == ETIMEDOUT ||
                   err == EHOSTUNREACH || err == ENETUNREACH || err == EPIPE;
    return network ? err : 0;
}

/* The reason a connection failed, for logs; true iff the TLS protocol failed. libevent queues
 * OpenSSL's errors and also the SSL_get_error() code itself (a small number, library 0); OpenSSL
 * 3 queues plain socket errors too (ERR_LIB_SYS). Socket-level failures are not handshakes. */
static bool conn_reason(struct conn *c, short what, char *out, size_t size)
{
    int sock_err = socket_error(c); /* first: the calls below may change errno */
    unsigned long tls_err = 0, sys_err = 0, e;
    bool ssl_failed = false;
    for (int i = 0; i < 8 && (e = bufferevent_get_openssl_error(c->bev)) != 0; i++) {
        if (ERR_GET_LIB(e) == 0)
            ssl_failed = ssl_failed || e == SSL_ERROR_SSL;
        else if (ERR_GET_LIB(e) == ERR_LIB_SYS)
            sys_err = sys_err != 0 ? sys_err : e;
        else
            tls_err = tls_err != 0 ? tls_err : e;
    }
    const char *r = NULL;
    if (tls_err != 0 || sys_err != 0)
        r = ERR_reason_error_string(tls_err != 0 ? tls_err : sys_err);
    if (tls_err != 0 || ssl_failed)
        snprintf(out, size, "tls: %s", r != NULL ? r : "protocol error");
    else if (sys_err != 0)
        snprintf(out, size, "socket: %s", r != NULL ? r : "error");
    else if (sock_err != 0)
        snprintf(out, size, "socket: %s", evutil_socket_error_to_string(sock_err));
    else if (what & BEV_EVENT_TIMEOUT)
        snprintf(out, size, "timed out");
    else
        snprintf(out, size, "connection closed by the peer");
    return tls_err != 0 || ssl_failed;
}

/* ---- connection lifetime ---- */

/* Frees c's resources: TLS close_notify when the handshake finished (best effort, the socket
 * is non-blocking), the bufferevent (which closes the socket), the timer. */
static void conn_destroy(struct conn *c)
{
    SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
    if (ssl != NULL && SSL_is_init_finished(ssl)) {
        (void)SSL_shutdown(ssl);
        ERR_clear_error();
    }
    bufferevent_free(c->bev);
    event_free(c->hs_timer);
    free(c);
}

/* Schedules the next dial of s after a jittered delay in [backoff/2, backoff], then doubles the
 * backoff up to its cap. No-op unless we dial s, the net is started, and s is idle. */
static void schedule_redial(struct kq_peer_net *n, struct slot *s)
{
    if (!n->started || !s->used || !we_dial(n, s) || s->conn != NULL || s->dialing != NULL ||
        evtimer_pending(s->redial, NULL))
        return;
    KQ_ASSERT(s->backoff_ms >= KQ_PEER_BACKOFF_MIN_MS && s->backoff_ms <= KQ_PEER_BACKOFF_MAX_MS);
    uint32_t r = 0;
    kq_random(&r, sizeof r);
    uint32_t half = s->backoff_ms / 2;
    uint32_t delay_ms = half + r % (s->backoff_ms - half + 1);
    KQ_ASSERT(delay_ms <= s->backoff_ms);
    struct timeval tv = {.tv_sec = delay_ms / 1000, .tv_usec = (delay_ms % 1000) * 1000};
    int rc = evtimer_add(s->redial, &tv);
    KQ_ASSERT(rc == 0);
    s->backoff_ms =
        s->backoff_ms > KQ_PEER_BACKOFF_MAX_MS / 2 ? KQ_PEER_BACKOFF_MAX_MS : 2 * s->backoff_ms;
}

/* Closes c for reason (event names the log line). An authenticated connection still owned by
 * its slot leaves it; a lost dial or connection we own is redialed; on_down runs last, once the
 * net is consistent, for any connection that had been reported up. */
static void conn_close(struct conn *c, const char *event, const char *reason)
{
    struct kq_peer_net *n = c->net;
    struct slot *s = c->slot;
    bool was_up = c->authed;
    if (!c->authed)
        pending_unlink(n, c);
    if (s != NULL && s->dialing == c)
        s->dialing = NULL;
    if (s != NULL && s->conn == c)
        s->conn = NULL;
    uint32_t peer = conn_peer_id(c);
    conn_destroy(c);
    if (event != NULL)
        net_log(n, event, peer, reason);
    if (s != NULL)
        schedule_redial(n, s);
    if (was_up)
        n->cb.on_down(n->cb_ctx, peer);
}

/* A connection that did not authenticate: counted, logged as peer_rejected, closed. */
static void conn_reject(struct conn *c, const char *reason)
{
    KQ_ASSERT(!c->authed);
    c->net->stats.rejected_handshakes++;
    conn_close(c, "peer_rejected", reason);
}

/* The handshake deadline. A dial that stalls (an unreachable address, a silent server) is a
 * failed dial; an inbound connection that stalls is refused. */
static void hs_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    if (c->outbound)
        conn_close(c, "dial_failed", "handshake timed out");
    else
        conn_reject(c, "handshake timed out");
}

/* The TLS bufferevent of a new connection, taking ownership of ssl and of fd (if >= 0) even on
 * failure. libevent 2.1 frees them on some of its failure paths and not on others, so an extra
 * reference on ssl and a check of fd tell which happened. */
static struct bufferevent *tls_bev_new(struct kq_peer_net *n, evutil_socket_t fd, SSL *ssl,
                                       bool outbound)
{
    enum bufferevent_ssl_state st =
        outbound ? BUFFEREVENT_SSL_CONNECTING : BUFFEREVENT_SSL_ACCEPTING;
    int refs = SSL_up_ref(ssl);
    KQ_ASSERT(refs == 1);
    struct bufferevent *bev =
        bufferevent_openssl_socket_new(n->base, fd, ssl, st, BEV_OPT_CLOSE_ON_FREE);
    SSL_free(ssl); /* our extra reference: the bufferevent holds the other, or none is left */
    if (bev == NULL && fd >= 0 && fcntl(fd, F_GETFD) != -1)
        evutil_closesocket(fd);
    return bev;
}

/* Wraps ssl (owned from now on) and fd (if >= 0, owned) in a pending connection with a
 * handshake deadline. NULL on allocation failure, with ssl and fd released. */
static struct conn *conn_new(struct kq_peer_net *n, evutil_socket_t fd, SSL *ssl, bool outbound)
{
    struct bufferevent *bev = tls_bev_new(n, fd, ssl, outbound);
    struct conn *c = calloc(1, sizeof *c);
    struct event *timer = c != NULL ? evtimer_new(n->base, hs_timeout_cb, c) : NULL;
    struct timeval tv = {.tv_sec = KQ_PEER_HANDSHAKE_TIMEOUT_MS / 1000,
                         .tv_usec = (KQ_PEER_HANDSHAKE_TIMEOUT_MS % 1000) * 1000};
    if (bev == NULL || timer == NULL || evtimer_add(timer, &tv) != 0) {
        if (bev != NULL)
            bufferevent_free(bev);
        if (timer != NULL)
            event_free(timer);
        free(c);
        return NULL;
    }
    c->net = n;
    c->bev = bev;
    c->hs_timer = timer;
    c->outbound = outbound;
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    bufferevent_setcb(bev, conn_read_cb, NULL, conn_event_cb, c);
    /* a reader never buffers more than one whole frame: the header is checked first */
    bufferevent_setwatermark(bev, EV_READ, 0, KQ_FRAME_MAX_BYTES);
    int rc = bufferevent_enable(bev, EV_READ | EV_WRITE);
    KQ_ASSERT(rc == 0);
    pending_link(n, c);
    return c;
}

/* ---- authentication ---- */

/* The slot of the peer c authenticates as, or NULL with reason set. Dialed: the certificate must
 * be node-<the id we dialed> with its pinned key; accepted: any configured peer, pinned. */
static struct slot *conn_identify(struct conn *c, char *reason, size_t size)
{
    SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
    struct kq_tls_identity id;
    if (SSL_version(ssl) != TLS1_3_VERSION) {
        snprintf(reason, size, "not TLS 1.3");
        return NULL;
    }
    if (kq_tls_peer_identity(ssl, &id) != KQ_OK) {
        snprintf(reason, size, "no verified certificate with a valid name");
        return NULL;
    }
    if (!id.is_node) {
        snprintf(reason, size, "certificate \"%s\" is not a node's", id.name);
        return NULL;
    }
    struct slot *s = c->outbound ? c->slot : slot_find(c->net, id.node_id);
    if (s == NULL) {
        snprintf(reason, size, "node-%u is not a configured peer", (unsigned)id.node_id);
        return NULL;
    }
    if (id.node_id != s->conf.id) {
        snprintf(reason, size, "dialed node-%u, answered by node-%u", (unsigned)s->conf.id,
                 (unsigned)id.node_id);
        return NULL;
    }
    if (kq_tls_check_node(&id, s->conf.id, s->conf.identity) != KQ_OK) {
        snprintf(reason, size, "node-%u key differs from its pinned identity",
                 (unsigned)id.node_id);
        return NULL;
    }
    return s;
}

/* c authenticated as the peer of s: it becomes the peer's connection, replacing an older one
 * (a restarted peer is back at once, before its dead socket is noticed). */
static void conn_promote(struct conn *c, struct slot *s)
{
    struct kq_peer_net *n = c->net;
    pending_unlink(n, c);
    event_del(c->hs_timer);
    if (s->dialing == c)
        s->dialing = NULL;
    c->slot = s;
    c->authed = true;
    /* Protocol messages are small and latency-bound (votes, heartbeats): no Nagle delay. */
    int one = 1;
    evutil_socket_t sock = bufferevent_getfd(c->bev);
    if (sock >= 0)
        (void)setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn *old = s->conn;
    s->conn = c;
    s->proven = false;
    if (evtimer_pending(s->redial, NULL))
        event_del(s->redial);
    if (old != NULL)
        conn_close(old, "peer_down", "replaced by a newer connection");
    net_log(n, "peer_up", s->conf.id, c->outbound ? "dialed" : "accepted");
    n->cb.on_up(n->cb_ctx, s->conf.id);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    char reason[PEER_DETAIL_BYTES];
    KQ_ASSERT(c->bev == bev);
    if (what & BEV_EVENT_CONNECTED) {
        KQ_ASSERT(!c->authed);
        struct slot *s = conn_identify(c, reason, sizeof reason);
        if (s == NULL)
            conn_reject(c, reason);
        else
            conn_promote(c, s);
        return;
    }
    bool tls_failed = conn_reason(c, what, reason, sizeof reason);
    if (c->authed)
        conn_close(c, "peer_down", reason);
    else if (c->outbound && !tls_failed)
        conn_close(c, "dial_failed", reason); /* refused or dropped: no handshake to judge */
    else
        conn_reject(c, reason);
}

/* ---- frames ---- */

/* A frame that breaks the rules: counted, logged, and its connection closed (the peer redials;
 * the stream cannot be resynchronised after a bad header). */
static void bad_frame(struct conn *c, const char *what, enum kq_err err)
{
    char reason[PEER_DETAIL_BYTES];
    snprintf(reason, sizeof reason, "%s (%s)", what, kq_errcode(err));
    c->net->stats.bad_frames++;
    conn_close(c, "bad_frame", reason);
}

static enum kq_err conn_send(struct conn *c, uint16_t type, const uint8_t *payload, size_t len);

static void deliver(struct conn *c, uint16_t type, const uint8_t *payload, size_t len)
{
    struct kq_peer_net *n = c->net;
    struct slot *s = c->slot;
    n->stats.frames_in++;
    n->stats.bytes_in += KQ_FRAME_BYTES(len);
    if (!s->proven) {
        /* In TLS 1.3 a dialer finishes its handshake before the acceptor has judged its
         * certificate; a frame from the peer shows it accepted us, so backoff starts over. */
        s->proven = true;
        s->backoff_ms = KQ_PEER_BACKOFF_MIN_MS;
    }
    if (type == KQ_FRAME_PING) {
        (void)conn_send(c, KQ_FRAME_PONG, payload, len); /* a full queue drops the pong */
        return;
    }
    n->cb.on_frame(n->cb_ctx, s->conf.id, type, payload, len);
}

enum frame_step { FRAME_MORE, FRAME_WAIT, FRAME_CLOSED };

/* Reads at most one frame from the front of in: the header alone is decoded first, so a bad
 * or oversized one is refused before any payload is buffered. */
static enum frame_step read_frame(struct conn *c, struct evbuffer *in)
{
    size_t avail = evbuffer_get_length(in);
    if (avail < KQ_FRAME_HEADER_BYTES)
        return FRAME_WAIT;
    const uint8_t *h = evbuffer_pullup(in, KQ_FRAME_HEADER_BYTES);
    KQ_ASSERT(h != NULL);
    struct kq_frame_header hdr;
    enum kq_err err = kq_frame_decode_header(h, KQ_FRAME_HEADER_BYTES, &hdr);
    if (err != KQ_OK) {
        bad_frame(c, "bad header", err);
        return FRAME_CLOSED;
    }
    if (hdr.sender != c->slot->conf.id) {
        bad_frame(c, "sender differs from the authenticated peer", KQ_ERR_PEER_IDENTITY);
        return FRAME_CLOSED;
    }
    size_t total = KQ_FRAME_BYTES((size_t)hdr.length);
    KQ_ASSERT(total <= KQ_FRAME_MAX_BYTES);
    if (avail < total)
        return FRAME_WAIT;
    const uint8_t *f = evbuffer_pullup(in, (ev_ssize_t)total);
    if (f == NULL) { /* linearising failed: our memory, not the peer's fault */
        conn_close(c, "peer_down", "out of memory buffering a frame");
        return FRAME_CLOSED;
    }
    deliver(c, hdr.type, f + KQ_FRAME_HEADER_BYTES, hdr.length);
    int rc = evbuffer_drain(in, total);
    KQ_ASSERT(rc == 0);
    return FRAME_MORE;
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    KQ_ASSERT(c->bev == bev && c->authed);
    struct evbuffer *in = bufferevent_get_input(bev);
    /* every frame takes at least a header, so this bounds the loop by what is buffered */
    size_t max_frames = evbuffer_get_length(in) / KQ_FRAME_HEADER_BYTES;
    for (size_t i = 0; i < max_frames; i++)
        if (read_frame(c, in) != FRAME_MORE)
            return;
}

/* Appends one frame to c's output queue, all or nothing. */
static enum kq_err conn_send(struct conn *c, uint16_t type, const uint8_t *payload, size_t len)
{
    KQ_ASSERT(len <= KQ_MAX_FRAME_PAYLOAD);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t queued = evbuffer_get_length(out);
    size_t total = KQ_FRAME_BYTES(len);
    KQ_ENSURE(queued <= KQ_PEER_MAX_OUTBUF_BYTES && KQ_PEER_MAX_OUTBUF_BYTES - queued >= total,
              KQ_ERR_BUSY);
    uint8_t header[KQ_FRAME_HEADER_BYTES];
    KQ_GUARD(kq_frame_encode_header(header, type, c->net->self_id, len));
    /* room first, so the two appends cannot fail halfway and tear the stream */
    KQ_ENSURE(evbuffer_expand(out, total) == 0, KQ_ERR_NOMEM);
    int rc = evbuffer_add(out, header, sizeof header);
    KQ_ASSERT(rc == 0);
    rc = len > 0 ? evbuffer_add(out, payload, len) : 0;
    KQ_ASSERT(rc == 0);
    c->net->stats.frames_out++;
    c->net->stats.bytes_out += total;
    return KQ_OK;
}

/* ---- dialing and accepting ---- */

/* Resolves host:port (numeric addresses do not touch DNS). Caller frees *res. */
static enum kq_err resolve(const char *host, uint16_t port, bool passive,
                           struct evutil_addrinfo **res)
{
    char port_s[8];
    snprintf(port_s, sizeof port_s, "%u", (unsigned)port);
    struct evutil_addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = passive ? EVUTIL_AI_PASSIVE : 0;
    *res = NULL;
    KQ_ENSURE(evutil_getaddrinfo(host, port_s, &hints, res) == 0 && *res != NULL, KQ_ERR_NET);
    return KQ_OK;
}

/* Opens one dial to s; failures end in a redial with backoff. */
static void dial(struct slot *s)
{
    struct kq_peer_net *n = s->net;
    KQ_ASSERT(we_dial(n, s) && s->conn == NULL && s->dialing == NULL);
    struct evutil_addrinfo *ai = NULL;
    SSL *ssl = NULL;
    struct conn *c = NULL;
    if (resolve(s->conf.host, s->conf.port, false, &ai) != KQ_OK) {
        net_log(n, "dial_failed", s->conf.id, "host does not resolve");
        schedule_redial(n, s);
        return;
    }
    ssl = SSL_new(n->client_ctx);
    if (ssl != NULL)
        c = conn_new(n, -1, ssl, true);
    if (c == NULL) {
        evutil_freeaddrinfo(ai);
        net_log(n, "dial_failed", s->conf.id, "out of memory");
        schedule_redial(n, s);
        return;
    }
    c->slot = s;
    s->dialing = c;
    int rc = bufferevent_socket_connect(c->bev, ai->ai_addr, (int)ai->ai_addrlen);
    evutil_freeaddrinfo(ai);
    if (rc != 0)
        conn_close(c, "dial_failed", "connect failed");
}

static void redial_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct slot *s = arg;
    if (!s->used || s->conn != NULL || s->dialing != NULL)
        return; /* the peer came up in between (a removed peer's timer is disarmed) */
    s->net->stats.reconnects++;
    dial(s);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *addr,
                      int addr_len, void *arg)
{
    (void)l;
    (void)addr;
    (void)addr_len;
    struct kq_peer_net *n = arg;
    if (n->n_pending_in >= KQ_PEER_MAX_PENDING_HANDSHAKES) {
        evutil_closesocket(fd);
        n->stats.rejected_handshakes++;
        net_log(n, "peer_rejected", 0, "too many handshakes in progress");
        return;
    }
    SSL *ssl = SSL_new(n->server_ctx);
    if (ssl == NULL) {
        evutil_closesocket(fd);
        net_log(n, "accept_error", 0, "out of memory");
        return;
    }
    if (conn_new(n, fd, ssl, false) == NULL)
        net_log(n, "accept_error", 0, "out of memory");
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    (void)l;
    char reason[PEER_DETAIL_BYTES];
    snprintf(reason, sizeof reason, "%s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    net_log(arg, "accept_error", 0, reason);
}

/* ---- the net ---- */

static bool peers_valid(uint32_t self_id, const struct kq_peer_conf *peers, size_t n_peers)
{
    if (self_id == 0 || self_id == UINT32_MAX || n_peers > KQ_PEER_MAX_PEERS)
        return false;
    for (size_t i = 0; i < n_peers; i++) {
        const struct kq_peer_conf *p = &peers[i];
        if (p->id == 0 || p->id == UINT32_MAX || p->id == self_id ||
            memchr(p->host, 0, sizeof p->host) == NULL || p->host[0] == 0)
            return false;
        for (size_t j = 0; j < i; j++)
            if (peers[j].id == p->id)
                return false;
    }
    return true;
}

/* A peer closing its socket mid-write raises SIGPIPE, whose default action kills the process. */
static void ignore_sigpipe(void)
{
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
        struct sigaction ign;
        memset(&ign, 0, sizeof ign);
        ign.sa_handler = SIG_IGN;
        sigemptyset(&ign.sa_mask);
        (void)sigaction(SIGPIPE, &ign, NULL);
    }
}

/* Takes a free entry of slots[] for conf (valid, its id not configured yet). */
static struct slot *slot_add(struct kq_peer_net *n, const struct kq_peer_conf *conf)
{
    KQ_ASSERT(slot_find(n, conf->id) == NULL);
    struct slot *s = NULL;
    for (size_t i = 0; i < n->n_slots && s == NULL; i++)
        if (!n->slots[i].used)
            s = &n->slots[i];
    if (s == NULL) {
        KQ_ASSERT(n->n_slots < KQ_PEER_MAX_PEERS);
        s = &n->slots[n->n_slots++];
    }
    KQ_ASSERT(s->conn == NULL && s->dialing == NULL && !evtimer_pending(s->redial, NULL));
    s->used = true;
    s->conf = *conf;
    s->backoff_ms = KQ_PEER_BACKOFF_MIN_MS;
    s->proven = false;
    return s;
}

/* Closes s's dial and connection (on_down for the latter) and disarms its redial. */
static void slot_disconnect(struct slot *s, const char *event, const char *reason)
{
    if (s->dialing != NULL)
        conn_close(s->dialing, event, reason);
    if (s->conn != NULL)
        conn_close(s->conn, event, reason);
    if (evtimer_pending(s->redial, NULL))
        event_del(s->redial);
    KQ_ASSERT(s->conn == NULL && s->dialing == NULL);
}

/* s leaves the peer set: unused first, so nothing finds it, redials it or accepts it while its
 * connection closes. */
static void slot_remove(struct slot *s)
{
    s->used = false;
    slot_disconnect(s, "peer_removed", "removed from the peer set");
}

/* s takes conf (same id). A new pinned key drops the connection and any dial (they were
 * authenticated against the old pin); a new address drops them only if we dial the peer (a peer
 * that dials us is reached at whatever address it dials from). We dial again at once. */
static void slot_update(struct kq_peer_net *n, struct slot *s, const struct kq_peer_conf *conf)
{
    KQ_ASSERT(s->used && s->conf.id == conf->id);
    bool key = memcmp(s->conf.identity, conf->identity, sizeof conf->identity) != 0;
    bool addr = strcmp(s->conf.host, conf->host) != 0 || s->conf.port != conf->port;
    if (!key && !addr)
        return;
    bool reconnect = key || (addr && we_dial(n, s));
    if (reconnect)
        slot_disconnect(s, "peer_changed", key ? "pinned key changed" : "address changed");
    s->conf = *conf;
    if (!reconnect)
        return;
    s->backoff_ms = KQ_PEER_BACKOFF_MIN_MS;
    if (n->started && we_dial(n, s))
        dial(s);
}

static bool conf_listed(const struct kq_peer_conf *peers, size_t n_peers, uint32_t id)
{
    for (size_t i = 0; i < n_peers; i++)
        if (peers[i].id == id)
            return true;
    return false;
}

enum kq_err kq_peer_net_set_peers(struct kq_peer_net *n, const struct kq_peer_conf *peers,
                                  size_t n_peers)
{
    KQ_ASSERT(n != NULL && (peers != NULL || n_peers == 0));
    KQ_ENSURE(n_peers <= KQ_PEER_MAX_PEERS, KQ_ERR_LIMIT);
    KQ_ENSURE(peers_valid(n->self_id, peers, n_peers), KQ_ERR_INVALID_ARG);
    for (size_t i = 0; i < n->n_slots; i++)
        if (n->slots[i].used && !conf_listed(peers, n_peers, n->slots[i].conf.id))
            slot_remove(&n->slots[i]);
    for (size_t i = 0; i < n_peers; i++) {
        struct slot *s = slot_find(n, peers[i].id);
        if (s != NULL) {
            slot_update(n, s, &peers[i]);
            continue;
        }
        s = slot_add(n, &peers[i]);
        net_log(n, "peer_added", s->conf.id, we_dial(n, s) ? "dialing" : "awaiting its dial");
        if (n->started && we_dial(n, s))
            dial(s);
    }
    return KQ_OK;
}

size_t kq_peer_net_peers(const struct kq_peer_net *n, uint32_t *ids, size_t cap)
{
    KQ_ASSERT(n != NULL && (ids != NULL || cap == 0));
    size_t count = 0;
    for (size_t i = 0; i < n->n_slots; i++)
        if (n->slots[i].used) {
            if (count < cap)
                ids[count] = n->slots[i].conf.id;
            count++;
        }
    return count;
}

struct kq_peer_net *kq_peer_net_new(struct event_base *base, SSL_CTX *server_ctx,
                                    SSL_CTX *client_ctx, uint32_t self_id,
                                    const struct kq_peer_conf *peers, size_t n_peers,
                                    const struct kq_peer_callbacks *cb, void *cb_ctx)
{
    KQ_ASSERT(base != NULL && server_ctx != NULL && client_ctx != NULL && cb != NULL);
    KQ_ASSERT(cb->on_frame != NULL && cb->on_up != NULL && cb->on_down != NULL);
    KQ_ASSERT(peers != NULL || n_peers == 0);
    if (!peers_valid(self_id, peers, n_peers))
        return NULL;
    struct kq_peer_net *n = calloc(1, sizeof *n);
    if (n == NULL)
        return NULL;
    n->base = base;
    n->server_ctx = server_ctx;
    n->client_ctx = client_ctx;
    n->self_id = self_id;
    n->cb = *cb;
    n->cb_ctx = cb_ctx;
    /* every entry with its timer now, so changing the peer set later cannot fail halfway */
    n->slots = calloc(KQ_PEER_MAX_PEERS, sizeof *n->slots);
    if (n->slots == NULL) {
        free(n);
        return NULL;
    }
    for (size_t i = 0; i < KQ_PEER_MAX_PEERS; i++) {
        n->slots[i].net = n;
        n->slots[i].redial = evtimer_new(base, redial_cb, &n->slots[i]);
        if (n->slots[i].redial == NULL) {
            kq_peer_net_free(n);
            return NULL;
        }
    }
    for (size_t i = 0; i < n_peers; i++)
        (void)slot_add(n, &peers[i]);
    ignore_sigpipe();
    return n;
}

enum kq_err kq_peer_net_listen(struct kq_peer_net *n, const char *host, uint16_t port,
                               uint16_t *bound_port)
{
    KQ_ASSERT(n != NULL && host != NULL && n->listener == NULL);
    struct evutil_addrinfo *ai = NULL;
    KQ_GUARD(resolve(host, port, true, &ai));
    n->listener = evconnlistener_new_bind(
        n->base, accept_cb, n, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
        KQ_PEER_LISTEN_BACKLOG, ai->ai_addr, (int)ai->ai_addrlen);
    evutil_freeaddrinfo(ai);
    KQ_ENSURE(n->listener != NULL, KQ_ERR_NET);
    evconnlistener_set_error_cb(n->listener, accept_error_cb);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(evconnlistener_get_fd(n->listener), (struct sockaddr *)&ss, &len) != 0) {
        evconnlistener_free(n->listener);
        n->listener = NULL;
        return KQ_ERR_NET;
    }
    uint16_t p = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                          : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    KQ_ASSERT(port == 0 || p == port);
    if (bound_port != NULL)
        *bound_port = p;
    return KQ_OK;
}

void kq_peer_net_start(struct kq_peer_net *n)
{
    KQ_ASSERT(n != NULL && !n->started);
    n->started = true;
    for (size_t i = 0; i < n->n_slots; i++)
        if (n->slots[i].used && we_dial(n, &n->slots[i]))
            dial(&n->slots[i]);
}

enum kq_err kq_peer_net_send(struct kq_peer_net *n, uint32_t peer, uint16_t type,
                             const uint8_t *payload, size_t len)
{
    KQ_ASSERT(n != NULL);
    KQ_ASSERT(payload != NULL || len == 0);
    KQ_ENSURE(len <= KQ_MAX_FRAME_PAYLOAD, KQ_ERR_LIMIT);
    struct slot *s = slot_find(n, peer);
    KQ_ENSURE(s != NULL, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(s->conn != NULL, KQ_ERR_NET);
    return conn_send(s->conn, type, payload, len);
}

bool kq_peer_net_connected(const struct kq_peer_net *n, uint32_t peer)
{
    KQ_ASSERT(n != NULL);
    const struct slot *s = slot_find(n, peer);
    return s != NULL && s->conn != NULL;
}

size_t kq_peer_net_connected_count(const struct kq_peer_net *n)
{
    KQ_ASSERT(n != NULL);
    size_t count = 0;
    for (size_t i = 0; i < n->n_slots; i++)
        count += n->slots[i].used && n->slots[i].conn != NULL ? 1u : 0u;
    return count;
}

void kq_peer_net_stats(const struct kq_peer_net *n, struct kq_peer_stats *out)
{
    KQ_ASSERT(n != NULL && out != NULL);
    *out = n->stats;
}

void kq_peer_net_free(struct kq_peer_net *n)
{
    if (n == NULL)
        return;
    while (n->pending != NULL) {
        struct conn *c = n->pending;
        pending_unlink(n, c);
        conn_destroy(c);
    }
    for (size_t i = 0; i < KQ_PEER_MAX_PEERS; i++) {
        struct slot *s = &n->slots[i];
        if (s->conn != NULL)
            conn_destroy(s->conn);
        if (s->redial != NULL)
            event_free(s->redial);
    }
    if (n->listener != NULL)
        evconnlistener_free(n->listener);
    free(n->slots);
    free(n);
}
