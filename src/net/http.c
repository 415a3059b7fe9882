/* The HTTP API server (http.h) on evhttp 2.1.12. evhttp gets, for every connection, a bufferevent
 * filter of ours over a bufferevent_openssl. The filter is the connection's lifetime hook (its
 * context is freed with it), holds decrypted input back while a deferred request waits (evhttp must
 * not parse, but a disconnect must be seen), rewrites the HTML error pages evhttp writes on its own
 * into JSON errors, and tells evhttp a reply is written only once TLS has taken every byte (else
 * evhttp would shut the socket down with the reply still queued). Invariants: at most one request
 * per connection is in a handler; a conn outlives its evhttp connection; every reply is JSON with
 * Cache-Control: no-store; nothing here logs except through the optional log callback. */
#include "net/http.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include "base/buf.h"

#define METHODS_ALLOWED (EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE)

struct route {
    enum evhttp_cmd_type method;
    unsigned flags;
    kq_http_handler h;
    void *ctx;
    char pattern[KQ_HTTP_MAX_PATTERN_BYTES + 1];
};

/* Where a connection is: reading a request (read deadline armed), in a handler or deferred (no
 * deadline; input held back), or writing a reply (write deadline armed). */
enum phase { PHASE_READING, PHASE_HANDLING, PHASE_WRITING };
/* Where the output stream is: at a response head, inside a body of known length, in a body that
 * ends with the connection, or after a rewritten error page (everything else is dropped). */
enum out_state { OUT_HEAD, OUT_BODY, OUT_REST, OUT_DROP };

struct conn {
    struct kq_http_server *s; /* NULL once the server is freed */
    struct conn *prev, *next;
    struct bufferevent *bev; /* our filter, owned by evhttp */
    struct bufferevent *tls; /* under it: bufferevent_openssl (plain socket when rejected) */
    SSL *ssl;                /* NULL when rejected */
    struct evhttp_connection *evcon;
    struct evbuffer_cb_entry *out_cb, *tls_cb;
    struct event *kick, *deadline;
    enum phase phase;
    enum out_state out;
    uint64_t out_left;
    bool rejected, doomed, closed, out_pending;
    bool nodelay; /* TCP_NODELAY set on the socket */
    struct kq_http_req *inflight;
};

struct kq_http_server {
    struct event_base *base;
    SSL_CTX *ctx;
    struct evhttp *http;
    struct kq_http_limits lim;
    kq_http_auth_fn auth;
    void *auth_ctx;
    kq_http_log_fn log;
    void *log_ctx;
    struct route routes[KQ_HTTP_MAX_ROUTES];
    size_t n_routes, n_listeners;
    struct conn *conns;
    struct kq_http_stats st;
};

struct kq_http_req {
    struct kq_http_server *s;
    struct conn *c;
    struct evhttp_request *ereq;
    const char *method;
    char path[KQ_HTTP_MAX_PATH_BYTES + 1];
    struct kq_http_captures caps;
    struct evkeyvalq query;
    json_t *body;
    struct kq_http_principal who;
    uint64_t start_us;
    bool deferred;
    void (*cancel)(void *cctx);
    void *cctx;
};

static int conn_index = -1; /* SSL ex_data slot: SSL -> conn */
static pthread_once_t conn_index_once = PTHREAD_ONCE_INIT;

static void conn_index_init(void)
{
    conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---------------------------------------------------------------- limits */

void kq_http_limits_default(struct kq_http_limits *l)
{
    KQ_ASSERT(l != NULL);
    l->max_body_bytes = KQ_HTTP_MAX_BODY_BYTES;
    l->max_header_bytes = KQ_HTTP_MAX_HEADER_BYTES;
    l->read_timeout_s = KQ_HTTP_READ_TIMEOUT_S;
    l->write_timeout_s = KQ_HTTP_WRITE_TIMEOUT_S;
    l->max_connections = KQ_HTTP_MAX_CONNECTIONS;
}

static bool limits_ok(const struct kq_http_limits *l)
{
    return l->max_body_bytes >= KQ_HTTP_MIN_LIMIT_BYTES &&
           l->max_body_bytes <= KQ_HTTP_MAX_BODY_CEILING &&
           l->max_header_bytes >= KQ_HTTP_MIN_LIMIT_BYTES &&
           l->max_header_bytes <= KQ_HTTP_MAX_HEADER_CEILING && l->read_timeout_s >= 1 &&
           l->read_timeout_s <= KQ_HTTP_MAX_TIMEOUT_S && l->write_timeout_s >= 1 &&
           l->write_timeout_s <= KQ_HTTP_MAX_TIMEOUT_S && l->max_connections >= 1 &&
           l->max_connections <= KQ_HTTP_MAX_CONNECTIONS_CEILING;
}

/* ---------------------------------------------------------------- router (pure) */

static bool lit_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '~' || c == '-';
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* One pattern segment [p, p+len): a literal or a {capture} whose name is new. */
static enum kq_err check_segment(const char *p, size_t len, const char **names, size_t *name_lens,
                                 unsigned *n_caps)
{
    if (p[0] != '{') {
        for (size_t i = 0; i < len; i++)
            KQ_ENSURE(lit_char(p[i]), KQ_ERR_INVALID_ARG);
        return KQ_OK;
    }
    KQ_ENSURE(len >= 3 && p[len - 1] == '}', KQ_ERR_INVALID_ARG);
    KQ_ENSURE(len - 2 <= KQ_HTTP_MAX_PARAM_NAME_BYTES, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(*n_caps < KQ_HTTP_MAX_PARAMS, KQ_ERR_INVALID_ARG);
    for (size_t i = 1; i + 1 < len; i++)
        KQ_ENSURE(name_char(p[i]), KQ_ERR_INVALID_ARG);
    for (unsigned k = 0; k < *n_caps; k++)
        KQ_ENSURE(name_lens[k] != len - 2 || memcmp(names[k], p + 1, len - 2) != 0,
                  KQ_ERR_INVALID_ARG);
    names[*n_caps] = p + 1;
    name_lens[*n_caps] = len - 2;
    (*n_caps)++;
    return KQ_OK;
}

enum kq_err kq_http_pattern_check(const char *pattern)
{
    const char *names[KQ_HTTP_MAX_PARAMS];
    size_t name_lens[KQ_HTTP_MAX_PARAMS];
    unsigned n_caps = 0, n_segs = 0;
    KQ_ENSURE(pattern != NULL, KQ_ERR_INVALID_ARG);
    size_t len = strnlen(pattern, KQ_HTTP_MAX_PATTERN_BYTES + 1);
    KQ_ENSURE(len >= 2 && len <= KQ_HTTP_MAX_PATTERN_BYTES && pattern[0] == '/',
              KQ_ERR_INVALID_ARG);
    for (const char *p = pattern + 1;;) {
        const char *end = strchr(p, '/');
        size_t seg = end != NULL ? (size_t)(end - p) : strlen(p);
        KQ_ENSURE(seg > 0 && ++n_segs <= KQ_HTTP_MAX_SEGMENTS, KQ_ERR_INVALID_ARG);
        KQ_GUARD(check_segment(p, seg, names, name_lens, &n_caps));
        if (end == NULL)
            return KQ_OK;
        p = end + 1;
    }
}

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes the whole reader into w, then a NUL. KQ_ERR_FORMAT for a bad escape or a NUL
 * byte. w always has room: decoding never grows, and each segment gives up at least its '/'. */
static enum kq_err decode_segment(struct kq_buf *rd, struct kq_buf *w)
{
    enum kq_err err;
    while (kq_buf_remaining(rd) > 0) {
        uint8_t c, hex[2];
        KQ_GUARD(kq_buf_get_u8(rd, &c));
        if (c == '%') {
            KQ_ENSURE(kq_buf_get(rd, hex, 2) == KQ_OK, KQ_ERR_FORMAT);
            int hi = hex_value(hex[0]), lo = hex_value(hex[1]);
            KQ_ENSURE(hi >= 0 && lo >= 0, KQ_ERR_FORMAT);
            c = (uint8_t)(hi * 16 + lo);
        }
        KQ_ENSURE(c != 0, KQ_ERR_FORMAT);
        err = kq_buf_put_u8(w, c);
        KQ_ASSERT(err == KQ_OK);
    }
    err = kq_buf_put_u8(w, 0);
    KQ_ASSERT(err == KQ_OK);
    return KQ_OK;
}

static enum kq_err decode_captures(const char *path, const size_t *off, const size_t *len,
                                   struct kq_http_captures *out, unsigned n)
{
    struct kq_buf w;
    kq_buf_writer(&w, (uint8_t *)out->store, sizeof out->store);
    for (unsigned k = 0; k < n; k++) {
        struct kq_buf rd;
        size_t start = kq_buf_len(&w);
        kq_buf_reader(&rd, (const uint8_t *)path + off[k], len[k]);
        KQ_GUARD(decode_segment(&rd, &w));
        out->value[k] = out->store + start;
    }
    out->n = n;
    return KQ_OK;
}

/* Walks pattern and path segment by segment; literals must be equal, captures are recorded. */
static enum kq_err match_shape(const char *pattern, const char *path, size_t path_len,
                               struct kq_http_captures *out, size_t *off, size_t *len, unsigned *n)
{
    const char *p = pattern + 1;
    size_t i = 1;
    for (;;) {
        const char *pend = strchr(p, '/');
        size_t plen = pend != NULL ? (size_t)(pend - p) : strlen(p);
        const char *q = path + i;
        const char *qend = memchr(q, '/', path_len - i);
        size_t qlen = qend != NULL ? (size_t)(qend - q) : path_len - i;
        KQ_ENSURE(qlen > 0, KQ_ERR_NOT_FOUND);
        if (p[0] == '{') {
            KQ_ASSERT(*n < KQ_HTTP_MAX_PARAMS && plen >= 3);
            memcpy(out->name[*n], p + 1, plen - 2);
            out->name[*n][plen - 2] = '\0';
            off[*n] = i;
            len[(*n)++] = qlen;
        } else {
            KQ_ENSURE(plen == qlen && memcmp(p, q, plen) == 0, KQ_ERR_NOT_FOUND);
        }
        i += qlen;
        if (pend == NULL)
            return i == path_len ? KQ_OK : KQ_ERR_NOT_FOUND;
        KQ_ENSURE(qend != NULL, KQ_ERR_NOT_FOUND);
        p = pend + 1;
        i++;
    }
}

enum kq_err kq_http_path_match(const char *pattern, const char *path, size_t path_len,
                               struct kq_http_captures *out)
{
    size_t off[KQ_HTTP_MAX_PARAMS], len[KQ_HTTP_MAX_PARAMS];
    unsigned n = 0;
    enum kq_err err;
    KQ_ASSERT(pattern != NULL && pattern[0] == '/' && out != NULL);
    KQ_ASSERT(path != NULL || path_len == 0);
    out->n = 0;
    KQ_ENSURE(path_len >= 1 && path_len <= KQ_HTTP_MAX_PATH_BYTES && path[0] == '/',
              KQ_ERR_NOT_FOUND);
    KQ_GUARD(match_shape(pattern, path, path_len, out, off, len, &n));
    err = decode_captures(path, off, len, out, n);
    if (err != KQ_OK)
        out->n = 0;
    return err;
}

/* ---------------------------------------------------------------- replies */

static const char *method_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    default:
        return NULL;
    }
}

static bool method_parse(const char *m, enum evhttp_cmd_type *out)
{
    static const enum evhttp_cmd_type all[] = {EVHTTP_REQ_GET, EVHTTP_REQ_POST, EVHTTP_REQ_PUT,
                                               EVHTTP_REQ_DELETE};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(m, method_name(all[i])) == 0) {
            *out = all[i];
            return true;
        }
    }
    return false;
}

static int err_status(enum kq_err err)
{
    switch (err) {
    case KQ_ERR_INVALID_ARG:
    case KQ_ERR_TRUNCATED:
    case KQ_ERR_FORMAT:
    case KQ_ERR_VERSION:
    case KQ_ERR_LIMIT:
    case KQ_ERR_BAD_POINT:
    case KQ_ERR_BAD_SCALAR:
    case KQ_ERR_BAD_PROOF:
    case KQ_ERR_BAD_SHARE:
    case KQ_ERR_BAD_COMMITMENT:
    case KQ_ERR_DUPLICATE_INDEX:
    case KQ_ERR_ZERO_INDEX:
    case KQ_ERR_AUTH:
    case KQ_ERR_LABEL:
    case KQ_ERR_TYPE:
    case KQ_ERR_BAD_SIGNATURE:
    case KQ_ERR_EXPIRED:
        return 400;
    case KQ_ERR_PEER_IDENTITY:
    case KQ_ERR_FORBIDDEN:
        return 403;
    case KQ_ERR_NOT_FOUND:
        return 404;
    case KQ_ERR_STATE:
    case KQ_ERR_DUPLICATE:
    case KQ_ERR_EXISTS:
        return 409;
    case KQ_OK:
    case KQ_ERR_NOMEM:
    case KQ_ERR_OVERFLOW:
    case KQ_ERR_CRYPTO:
    case KQ_ERR_IO:
    case KQ_ERR_TLS:
    case KQ_ERR_STORE:
    case KQ_ERR_CONFIG:
        return 500;
    case KQ_ERR_NET:
        return 502;
    case KQ_ERR_THRESHOLD:
    case KQ_ERR_BUSY:
        return 503;
    case KQ_ERR_TIMEOUT:
        return 504;
    }
    return 500;
}

static void conn_arm(struct conn *c, unsigned seconds)
{
    struct timeval tv = {.tv_sec = (time_t)seconds, .tv_usec = 0};
    if (evtimer_add(c->deadline, &tv) != 0) {
        c->doomed = true; /* no deadline means no bound: close instead */
        event_active(c->kick, EV_TIMEOUT, 0);
    }
}

static int dump_to_evbuffer(const char *buffer, size_t size, void *data)
{
    return evbuffer_add(data, buffer, size) == 0 ? 0 : -1;
}

static void req_free(struct kq_http_req *r, bool free_ereq)
{
    json_decref(r->body);
    evhttp_clear_headers(&r->query);
    if (free_ereq)
        evhttp_request_free(r->ereq);
    free(r);
}

static void count_status(struct kq_http_server *s, int status)
{
    if (status >= 400 && status < 500)
        s->st.errors_4xx++;
    else if (status >= 500)
        s->st.errors_5xx++;
}

/* Writes body (stolen; NULL means out of memory) into the reply with the common headers and sends
 * it; then r is freed and the connection waits for evhttp to finish writing. */
static void finish(struct kq_http_req *r, int status, json_t *body)
{
    static const char oom[] =
        "{\"error\":{\"code\":\"out_of_memory\",\"message\":\"out of memory\"}}";
    struct kq_http_server *s = r->s;
    struct conn *c = r->c;
    struct evbuffer *out = evhttp_request_get_output_buffer(r->ereq);
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->ereq);
    char len[32];
    KQ_ASSERT(status >= 200 && status <= 599 && status != 204 && status != 304);
    KQ_ASSERT(c->inflight == r || c->inflight == NULL);
    if (body == NULL || json_dump_callback(body, dump_to_evbuffer, out, JSON_COMPACT) != 0) {
        status = 500;
        evbuffer_drain(out, evbuffer_get_length(out));
        (void)evbuffer_add(out, oom, sizeof oom - 1);
    }
    json_decref(body);
    snprintf(len, sizeof len, "%zu", evbuffer_get_length(out));
    (void)evhttp_add_header(h, "Content-Type", "application/json");
    (void)evhttp_add_header(h, "Cache-Control", "no-store");
    (void)evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    (void)evhttp_add_header(h, "Content-Length", len);
    if (status == 401 && evhttp_find_header(h, "WWW-Authenticate") == NULL)
        (void)evhttp_add_header(h, "WWW-Authenticate", "Bearer");
    c->inflight = NULL;
    c->phase = PHASE_WRITING;
    conn_arm(c, s->lim.write_timeout_s);
    count_status(s, status);
    if (s->log != NULL)
        s->log(s->log_ctx, r->method, r->path, status, now_us() - r->start_us);
    evhttp_send_reply(r->ereq, status, NULL, NULL);
    req_free(r, false);
}

/* Messages are one ASCII line: anything else (a decoded name, say) becomes '?'. */
static void ascii_only(char *m)
{
    for (; *m != '\0'; m++)
        if (*m < 0x20 || *m > 0x7e)
            *m = '?';
}

__attribute__((format(printf, 4, 0))) static void
reply_verror(struct kq_http_req *r, int status, const char *code, const char *fmt, va_list ap)
{
    char msg[KQ_HTTP_MAX_ERROR_MESSAGE_BYTES];
    vsnprintf(msg, sizeof msg, fmt, ap);
    ascii_only(msg);
    finish(r, status, json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

/* Error codes are identifiers: 1..64 of [a-z0-9_]. */
static bool code_ok(const char *code)
{
    size_t n = strspn(code, "abcdefghijklmnopqrstuvwxyz0123456789_");
    return n >= 1 && n <= 64 && code[n] == '\0';
}

void kq_http_reply_error(struct kq_http_req *r, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    KQ_ASSERT(r != NULL && code != NULL && fmt != NULL);
    KQ_ASSERT(status >= 400 && status <= 599 && code_ok(code));
    va_start(ap, fmt);
    reply_verror(r, status, code, fmt, ap);
    va_end(ap);
}

void kq_http_reply_err(struct kq_http_req *r, enum kq_err err, const char *message)
{
    KQ_ASSERT(r != NULL && err != KQ_OK);
    if (err == KQ_ERR_BUSY)
        (void)evhttp_add_header(evhttp_request_get_output_headers(r->ereq), "Retry-After", "1");
    kq_http_reply_error(r, err_status(err), kq_errcode(err), "%s",
                        message != NULL ? message : kq_strerror(err));
}

void kq_http_reply_json(struct kq_http_req *r, int status, json_t *body)
{
    KQ_ASSERT(r != NULL);
    finish(r, status, body);
}

void kq_http_defer(struct kq_http_req *r, void (*cancel)(void *cctx), void *cctx)
{
    KQ_ASSERT(r != NULL && !r->deferred && r->c->inflight == r);
    r->deferred = true;
    r->cancel = cancel;
    r->cctx = cctx;
    /* Read again so that a disconnect is seen; in_filter holds any bytes back until the reply. */
    (void)bufferevent_enable(r->c->bev, EV_READ);
}

/* ---------------------------------------------------------------- accessors */

const char *kq_http_method(const struct kq_http_req *r)
{
    return r->method;
}

const char *kq_http_path(const struct kq_http_req *r)
{
    return r->path;
}

const char *kq_http_param(const struct kq_http_req *r, const char *name)
{
    for (unsigned i = 0; i < r->caps.n; i++)
        if (strcmp(r->caps.name[i], name) == 0)
            return r->caps.value[i];
    return NULL;
}

const char *kq_http_query(const struct kq_http_req *r, const char *name)
{
    return evhttp_find_header(&r->query, name);
}

json_t *kq_http_body(const struct kq_http_req *r)
{
    return r->body;
}

const struct kq_http_principal *kq_http_who(const struct kq_http_req *r)
{
    return &r->who;
}

void kq_http_stats_get(const struct kq_http_server *s, struct kq_http_stats *out)
{
    *out = s->st;
}

void kq_http_set_log(struct kq_http_server *s, kq_http_log_fn fn, void *ctx)
{
    s->log = fn;
    s->log_ctx = ctx;
}

/* ---------------------------------------------------------------- request pipeline */

/* The route for r's method and path, with r->caps filled; else replies 400/404/405, NULL. */
static const struct route *find_route(struct kq_http_req *r, enum evhttp_cmd_type cmd,
                                      size_t path_len)
{
    static const enum evhttp_cmd_type order[] = {EVHTTP_REQ_GET, EVHTTP_REQ_POST, EVHTTP_REQ_PUT,
                                                 EVHTTP_REQ_DELETE};
    unsigned allow = 0;
    char allow_hdr[64] = "";
    for (size_t i = 0; i < r->s->n_routes; i++) {
        const struct route *rt = &r->s->routes[i];
        enum kq_err err = kq_http_path_match(rt->pattern, r->path, path_len, &r->caps);
        if (err == KQ_ERR_NOT_FOUND)
            continue;
        if (err != KQ_OK) {
            kq_http_reply_error(r, 400, "bad_request", "bad percent-encoding in the path");
            return NULL;
        }
        if (rt->method == cmd)
            return rt;
        allow |= (unsigned)rt->method;
    }
    r->caps.n = 0;
    if (allow == 0) {
        kq_http_reply_error(r, 404, "not_found", "no such endpoint");
        return NULL;
    }
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (allow & (unsigned)order[i])
            snprintf(allow_hdr + strlen(allow_hdr), sizeof allow_hdr - strlen(allow_hdr), "%s%s",
                     allow_hdr[0] != '\0' ? ", " : "", method_name(order[i]));
    (void)evhttp_add_header(evhttp_request_get_output_headers(r->ereq), "Allow", allow_hdr);
    kq_http_reply_error(r, 405, "method_not_allowed", "%s is not allowed on this endpoint",
                        r->method);
    return NULL;
}

/* Parses the query string into r->query: bounded, no NUL escapes, every name once. Returns 0 or
 * the status of the error to answer. */
static int parse_query(struct kq_http_req *r, const char *q)
{
    size_t len = strlen(q), args = 1;
    if (len > KQ_HTTP_MAX_QUERY_BYTES)
        return 414;
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        args += q[i] == '&';
    if (args > KQ_HTTP_MAX_QUERY_ARGS || strstr(q, "%00") != NULL)
        return 400;
    if (evhttp_parse_query_str(q, &r->query) != 0)
        return 400;
    for (const struct evkeyval *a = r->query.tqh_first; a != NULL; a = a->next.tqe_next)
        for (const struct evkeyval *b = a->next.tqe_next; b != NULL; b = b->next.tqe_next)
            if (strcmp(a->key, b->key) == 0)
                return 400;
    return 0;
}

/* Method, path, route and query of r; false after replying with the error. */
static bool parse_target(struct kq_http_req *r, const struct route **rt)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(r->ereq);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->ereq);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    const char *query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
    size_t path_len = path != NULL ? strnlen(path, KQ_HTTP_MAX_PATH_BYTES + 1) : 0;
    int status;
    r->method = method_name(cmd);
    if (r->method == NULL) { /* evhttp refuses other methods (501) before we are called */
        r->method = "-";
        kq_http_reply_error(r, 501, "not_implemented", "method not supported");
        return false;
    }
    if (path_len > KQ_HTTP_MAX_PATH_BYTES) {
        kq_http_reply_error(r, 414, "uri_too_long", "path over %u bytes",
                            (unsigned)KQ_HTTP_MAX_PATH_BYTES);
        return false;
    }
    memcpy(r->path, path != NULL ? path : "", path_len);
    r->path[path_len] = '\0';
    *rt = find_route(r, cmd, path_len);
    if (*rt == NULL)
        return false;
    status = query != NULL ? parse_query(r, query) : 0;
    if (status != 0) {
        kq_http_reply_error(r, status, status == 414 ? "uri_too_long" : "bad_request",
                            "bad query string (at most %u arguments, each name once)",
                            (unsigned)KQ_HTTP_MAX_QUERY_ARGS);
        return false;
    }
    return true;
}

static const char *bearer_of(struct evkeyvalq *headers)
{
    const char *v = evhttp_find_header(headers, "Authorization");
    if (v == NULL || strncasecmp(v, "Bearer", 6) != 0 || (v[6] != ' ' && v[6] != '\t'))
        return NULL;
    v += 6;
    while (*v == ' ' || *v == '\t')
        v++;
    return *v != '\0' ? v : NULL;
}

/* Fills r->who through the auth callback; false after replying 401 (or the callback's error). */
static bool authenticate(struct kq_http_req *r)
{
    struct kq_http_server *s = r->s;
    const char *bearer = bearer_of(evhttp_request_get_input_headers(r->ereq));
    enum kq_err err = KQ_ERR_AUTH;
    if (s->auth != NULL)
        err = s->auth(s->auth_ctx, r->c->ssl, bearer, &r->who);
    r->who.name[sizeof r->who.name - 1] = '\0';
    if (err == KQ_OK && r->who.authenticated)
        return true;
    memset(&r->who, 0, sizeof r->who);
    if (err == KQ_OK || err == KQ_ERR_AUTH)
        kq_http_reply_error(r, 401, "unauthenticated",
                            "a valid client certificate or bearer token is required");
    else
        kq_http_reply_err(r, err, NULL);
    return false;
}

static bool is_json_type(const char *ct)
{
    static const char want[] = "application/json";
    if (ct == NULL || strncasecmp(ct, want, sizeof want - 1) != 0)
        return false;
    ct += sizeof want - 1;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

/* r->body from a JSON object body; false after replying 413/415/400. */
static bool read_body(struct kq_http_req *r)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->ereq);
    size_t n = evbuffer_get_length(in);
    const char *p = "";
    json_error_t jerr;
    if (!is_json_type(
            evhttp_find_header(evhttp_request_get_input_headers(r->ereq), "Content-Type"))) {
        kq_http_reply_error(r, 415, "unsupported_media_type",
                            "Content-Type must be application/json");
        return false;
    }
    if (n > r->s->lim.max_body_bytes) {
        kq_http_reply_error(r, 413, "too_large", "request body over %zu bytes",
                            r->s->lim.max_body_bytes);
        return false;
    }
    if (n > 0 && (p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n)) == NULL) {
        kq_http_reply_err(r, KQ_ERR_NOMEM, NULL);
        return false;
    }
    r->body = json_loadb(p, n, JSON_REJECT_DUPLICATES, &jerr);
    if (r->body == NULL) {
        kq_http_reply_error(r, 400, "bad_json", "invalid JSON at line %d, column %d (byte %d)",
                            jerr.line, jerr.column, jerr.position);
        return false;
    }
    if (!json_is_object(r->body)) {
        kq_http_reply_error(r, 400, "bad_json", "the body must be a JSON object");
        return false;
    }
    return true;
}

static void dispatch(struct kq_http_req *r)
{
    const struct route *rt = NULL;
    struct conn *c = r->c;
    if (!parse_target(r, &rt))
        return;
    if (!(rt->flags & KQ_ROUTE_PUBLIC) && !authenticate(r))
        return;
    if ((rt->flags & KQ_ROUTE_JSON_BODY) && !read_body(r))
        return;
    c->inflight = r;
    rt->h(r, rt->ctx);
    /* The handler replied (inflight cleared, r freed) or deferred. */
    KQ_ASSERT(c->inflight == NULL || (c->inflight == r && r->deferred));
}

/* ---------------------------------------------------------------- connections */

static struct conn *conn_of(struct evhttp_request *ereq)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(ereq);
    struct bufferevent *bev = evcon != NULL ? evhttp_connection_get_bufferevent(evcon) : NULL;
    struct bufferevent *tls = bev != NULL ? bufferevent_get_underlying(bev) : NULL;
    SSL *ssl = tls != NULL ? bufferevent_openssl_get_ssl(tls) : NULL;
    struct conn *c = ssl != NULL ? SSL_get_ex_data(ssl, conn_index) : NULL;
    return c != NULL && c->bev == bev ? c : NULL;
}

/* True while evhttp still owns c's bufferevent: bufferevent_free clears its callbacks, and the
 * memory stays valid until the filter's destructor (conn_destroy) runs. */
static bool conn_alive(const struct conn *c)
{
    bufferevent_event_cb eventcb = NULL;
    if (c->s == NULL || c->closed)
        return false;
    bufferevent_getcb(c->bev, NULL, NULL, &eventcb, NULL);
    return eventcb != NULL;
}

static void close_cb(struct evhttp_connection *evcon, void *arg);

static void conn_attach(struct conn *c, struct evhttp_connection *evcon)
{
    if (c->evcon != NULL)
        return;
    c->evcon = evcon;
    evhttp_connection_set_closecb(evcon, close_cb, c);
}

/* The client went away (or the server is closing) with r deferred: cancel it. evhttp has
 * detached r's request from the connection on a disconnect (then we free it) but still owns it
 * when the whole server is freed. */
static void conn_lost_request(struct conn *c, bool may_free_ereq)
{
    struct kq_http_req *r = c->inflight;
    if (r == NULL)
        return;
    KQ_ASSERT(r->deferred);
    c->inflight = NULL;
    if (r->cancel != NULL)
        r->cancel(r->cctx);
    req_free(r, may_free_ereq && evhttp_request_get_connection(r->ereq) == NULL);
}

static void close_cb(struct evhttp_connection *evcon, void *arg)
{
    struct conn *c = arg;
    (void)evcon;
    c->closed = true;
    if (c->deadline != NULL)
        (void)evtimer_del(c->deadline);
    conn_lost_request(c, true);
}

static void complete_cb(struct evhttp_request *ereq, void *arg)
{
    struct conn *c = arg;
    (void)ereq;
    c->phase = PHASE_READING;
    conn_arm(c, c->s->lim.read_timeout_s);
}

/* Runs from the loop after output was added or TLS drained: moves held input to evhttp once no
 * handler waits, pushes output through the filter (which evhttp's bufferevent_enable does not),
 * and reports the write done once both buffers are empty. Also closes doomed connections. */
static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    void *evcon = NULL;
    (void)fd;
    (void)what;
    if (!conn_alive(c))
        return;
    bufferevent_getcb(c->bev, NULL, NULL, NULL, &evcon);
    conn_attach(c, evcon);
    if (!c->nodelay) { /* replies leave as several TLS records: Nagle would hold the last one back
                          for the client's delayed ACK (40 ms a request on Linux) */
        evutil_socket_t sock = bufferevent_getfd(c->tls);
        int one = 1;
        c->nodelay = sock >= 0 && setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0;
    }
    if (c->doomed || c->rejected) {
        bufferevent_trigger_event(c->bev, BEV_EVENT_READING | BEV_EVENT_EOF, 0);
        return;
    }
    if (c->phase != PHASE_HANDLING && evbuffer_get_length(bufferevent_get_input(c->tls)) > 0)
        (void)bufferevent_flush(c->bev, EV_READ, BEV_NORMAL);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
        (void)bufferevent_flush(c->bev, EV_WRITE, BEV_NORMAL);
    if (c->out_pending && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 &&
        evbuffer_get_length(bufferevent_get_output(c->tls)) == 0) {
        c->out_pending = false;
        bufferevent_trigger(c->bev, EV_WRITE, 0);
    }
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    short dir = c->phase == PHASE_WRITING ? BEV_EVENT_WRITING : BEV_EVENT_READING;
    (void)fd;
    (void)what;
    if (!conn_alive(c) || c->phase == PHASE_HANDLING)
        return;
    c->s->st.timeouts++;
    bufferevent_trigger_event(c->bev, (short)(dir | BEV_EVENT_TIMEOUT), 0);
}

static void out_added_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct conn *c = arg;
    (void)buf;
    if (info->n_added == 0 || c->s == NULL)
        return;
    c->out_pending = true;
    event_active(c->kick, EV_TIMEOUT, 0);
}

static void tls_drained_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct conn *c = arg;
    if (info->n_deleted == 0 || c->s == NULL || !c->out_pending || evbuffer_get_length(buf) > 0)
        return;
    event_active(c->kick, EV_TIMEOUT, 0);
}

static enum bufferevent_filter_result in_filter(struct evbuffer *src, struct evbuffer *dst,
                                                ev_ssize_t lim, enum bufferevent_flush_mode mode,
                                                void *arg)
{
    struct conn *c = arg;
    size_t n = evbuffer_get_length(src);
    (void)mode;
    if (c->rejected || c->phase == PHASE_HANDLING)
        return BEV_NEED_MORE;
    if (lim >= 0 && (size_t)lim < n)
        n = (size_t)lim;
    if (n == 0)
        return BEV_NEED_MORE;
    return evbuffer_remove_buffer(src, dst, n) < 0 ? BEV_ERROR : BEV_OK;
}

/* ---------------------------------------------------------------- output: framing and rewrite */

struct head_info {
    int status;   /* 0 if the status line is not HTTP/1.x NNN */
    bool html;    /* Content-Type: text/html, which only evhttp_send_error writes */
    bool has_len; /* Content-Length present and parsed */
    uint64_t len;
};

/* h: one whole response head written by evhttp, NUL-terminated, ending in "\r\n\r\n". */
static void parse_head(const char *h, struct head_info *hi)
{
    memset(hi, 0, sizeof *hi);
    if (strncmp(h, "HTTP/1.", 7) == 0 && h[7] != '\0' && h[8] == ' ' && h[9] >= '0' &&
        h[9] <= '9' && h[10] >= '0' && h[10] <= '9' && h[11] >= '0' && h[11] <= '9')
        hi->status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
    for (const char *line = strstr(h, "\r\n"); line != NULL && line[2] != '\r';
         line = strstr(line + 2, "\r\n")) {
        const char *v = line + 2;
        if (strncasecmp(v, "Content-Type:", 13) == 0) {
            v += 13 + strspn(v + 13, " \t");
            hi->html = strncasecmp(v, "text/html\r\n", 11) == 0;
        } else if (strncasecmp(v, "Content-Length:", 15) == 0) {
            v += 15 + strspn(v + 15, " \t");
            size_t digits = strspn(v, "0123456789");
            hi->has_len = digits >= 1 && digits <= 15 && v[digits] == '\r';
            hi->len = hi->has_len ? strtoull(v, NULL, 10) : 0;
        }
    }
}

/* The JSON error that replaces an HTML page evhttp wrote by itself for a request that never
 * reached us: a bad request line or header, a head or body over the limit, an unsupported method
 * or Expect. The connection closes after it, as evhttp's page said. */
static void write_error_page(struct conn *c, struct evbuffer *dst, int status)
{
    const char *code = "bad_request", *msg = "request refused", *reason = "Bad Request";
    char body[256];
    switch (status) {
    case 400:
        msg = "malformed HTTP request, or request line and headers over the limit";
        break;
    case 413:
        code = "too_large";
        msg = "request body over the limit";
        reason = "Payload Too Large";
        break;
    case 417:
        code = "expectation_failed";
        msg = "only Expect: 100-continue is supported";
        reason = "Expectation Failed";
        break;
    default: /* 501 for a method evhttp does not route; 0 for one it does not know */
        status = 501;
        code = "not_implemented";
        msg = "method not supported";
        reason = "Not Implemented";
        break;
    }
    int n =
        snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, msg);
    KQ_ASSERT(n > 0 && (size_t)n < sizeof body);
    (void)evbuffer_add_printf(dst,
                              "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                              "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                              "Connection: close\r\nContent-Length: %d\r\n\r\n%s",
                              status, reason, n, body);
    c->s->st.requests++;
    count_status(c->s, status);
    if (c->s->log != NULL)
        c->s->log(c->s->log_ctx, "-", "-", status, 0);
}

static void out_move(struct evbuffer *src, struct evbuffer *dst, size_t n, size_t *budget)
{
    KQ_ASSERT(n <= evbuffer_get_length(src));
    (void)evbuffer_remove_buffer(src, dst, n);
    *budget = *budget > n ? *budget - n : 0;
}

/* At a response head: pass it (and set up the body) or replace an HTML error page. false while
 * the head is incomplete. */
static bool out_head(struct conn *c, struct evbuffer *src, struct evbuffer *dst, size_t *budget)
{
    char head[KQ_HTTP_MAX_RESPONSE_HEAD_BYTES + 1];
    struct head_info hi;
    struct evbuffer_ptr end = evbuffer_search(src, "\r\n\r\n", 4, NULL);
    if (end.pos < 0 || (size_t)end.pos + 4 > KQ_HTTP_MAX_RESPONSE_HEAD_BYTES) {
        if (end.pos < 0 && evbuffer_get_length(src) <= KQ_HTTP_MAX_RESPONSE_HEAD_BYTES)
            return false;
        c->out = OUT_REST; /* not a head evhttp writes; pass rather than stall */
        return true;
    }
    size_t n = (size_t)end.pos + 4;
    (void)evbuffer_copyout(src, head, n);
    head[n] = '\0';
    parse_head(head, &hi);
    if (hi.html) {
        write_error_page(c, dst, hi.status);
        evbuffer_drain(src, evbuffer_get_length(src));
        c->out = OUT_DROP;
        return true;
    }
    out_move(src, dst, n, budget);
    c->out_left = hi.len;
    if (hi.status >= 100 && hi.status < 200)
        c->out = OUT_HEAD; /* 100 Continue: the real head follows */
    else if (hi.has_len && hi.len > 0)
        c->out = OUT_BODY;
    else if (hi.has_len)
        c->out = OUT_HEAD;
    else
        c->out = OUT_REST;
    return true;
}

static bool out_step(struct conn *c, struct evbuffer *src, struct evbuffer *dst, size_t *budget)
{
    size_t avail = evbuffer_get_length(src), n;
    switch (c->out) {
    case OUT_DROP:
        evbuffer_drain(src, avail);
        return true;
    case OUT_REST:
        out_move(src, dst, avail < *budget ? avail : *budget, budget);
        return true;
    case OUT_BODY:
        n = avail < *budget ? avail : *budget;
        n = (uint64_t)n < c->out_left ? n : (size_t)c->out_left;
        out_move(src, dst, n, budget);
        c->out_left -= n;
        if (c->out_left == 0)
            c->out = OUT_HEAD;
        return true;
    case OUT_HEAD:
        return out_head(c, src, dst, budget);
    }
    return false;
}

/* Never returns BEV_OK, so the filter never runs evhttp's write callback itself: kick_cb does,
 * once TLS has taken every byte (see the top of the file). */
static enum bufferevent_filter_result out_filter(struct evbuffer *src, struct evbuffer *dst,
                                                 ev_ssize_t lim, enum bufferevent_flush_mode mode,
                                                 void *arg)
{
    struct conn *c = arg;
    size_t budget = lim < 0 ? SIZE_MAX : (size_t)lim;
    (void)mode;
    while (evbuffer_get_length(src) > 0 && budget > 0 && out_step(c, src, dst, &budget)) {
    }
    return BEV_NEED_MORE;
}

/* ---------------------------------------------------------------- connection lifetime */

/* The filter's destructor: runs from the loop after evhttp freed the connection (or at
 * event_base_free). The filter still holds its reference on tls here. */
static void conn_destroy(void *arg)
{
    struct conn *c = arg;
    if (c->tls_cb != NULL)
        (void)evbuffer_remove_cb_entry(bufferevent_get_output(c->tls), c->tls_cb);
    conn_lost_request(c, false);
    if (c->s != NULL) {
        if (c->prev != NULL)
            c->prev->next = c->next;
        else
            c->s->conns = c->next;
        if (c->next != NULL)
            c->next->prev = c->prev;
        if (!c->rejected)
            c->s->st.open_connections--;
    }
    if (c->kick != NULL)
        event_free(c->kick);
    if (c->deadline != NULL)
        event_free(c->deadline);
    free(c);
}

/* The TLS (or, for a rejected connection, plain) bufferevent under the filter. */
static struct bufferevent *conn_lower(struct conn *c, struct event_base *base)
{
    struct bufferevent *tls;
    if (c->rejected)
        return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    c->ssl = SSL_new(c->s->ctx);
    if (c->ssl == NULL || SSL_set_ex_data(c->ssl, conn_index, c) != 1) {
        SSL_free(c->ssl);
        return NULL;
    }
    tls = bufferevent_openssl_socket_new(base, -1, c->ssl, BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (tls == NULL)
        SSL_free(c->ssl);
    return tls;
}

/* evhttp's bevcb, at accept. Returning NULL makes evhttp fall back to a plain socket, which
 * on_request refuses; that happens only when memory runs out. */
static struct bufferevent *conn_new(struct event_base *base, void *arg)
{
    struct kq_http_server *s = arg;
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->s = s;
    c->rejected = s->st.open_connections >= s->lim.max_connections;
    c->kick = event_new(base, -1, 0, kick_cb, c);
    c->deadline = evtimer_new(base, deadline_cb, c);
    c->tls = c->kick != NULL && c->deadline != NULL ? conn_lower(c, base) : NULL;
    c->bev = c->tls != NULL ? bufferevent_filter_new(c->tls, in_filter, out_filter,
                                                     BEV_OPT_CLOSE_ON_FREE, conn_destroy, c)
                            : NULL;
    if (c->bev == NULL) {
        if (c->tls != NULL)
            bufferevent_free(c->tls);
        c->s = NULL;
        c->tls_cb = NULL;
        conn_destroy(c);
        return NULL;
    }
    c->out_cb = evbuffer_add_cb(bufferevent_get_output(c->bev), out_added_cb, c);
    c->tls_cb = evbuffer_add_cb(bufferevent_get_output(c->tls), tls_drained_cb, c);
    c->doomed = c->out_cb == NULL || c->tls_cb == NULL;
    bufferevent_setwatermark(c->tls, EV_READ, 0, KQ_HTTP_MAX_HELD_INPUT_BYTES);
    bufferevent_setwatermark(c->tls, EV_WRITE, 0, KQ_HTTP_MAX_TLS_QUEUE_BYTES);
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    if (c->rejected)
        s->st.rejected_connections++;
    else
        s->st.open_connections++;
    conn_arm(c, s->lim.read_timeout_s);
    event_active(c->kick, EV_TIMEOUT, 0); /* attaches the close callback; closes if rejected */
    return c->bev;
}

/* evhttp's generic callback: one complete request. */
static void on_request(struct evhttp_request *ereq, void *arg)
{
    struct kq_http_server *s = arg;
    struct conn *c = conn_of(ereq);
    struct kq_http_req *r;
    if (c == NULL || c->s != s) { /* not one of our TLS connections: answer nothing */
        evhttp_connection_free(evhttp_request_get_connection(ereq));
        return;
    }
    c->phase = PHASE_HANDLING;
    (void)evtimer_del(c->deadline);
    conn_attach(c, evhttp_request_get_connection(ereq));
    evhttp_request_set_on_complete_cb(ereq, complete_cb, c);
    s->st.requests++;
    r = calloc(1, sizeof *r);
    if (r == NULL) { /* no request object to answer with: close, as evhttp does on ENOMEM */
        evhttp_connection_free(evhttp_request_get_connection(ereq));
        return;
    }
    r->s = s;
    r->c = c;
    r->ereq = ereq;
    r->method = "-";
    r->start_us = now_us();
    TAILQ_INIT(&r->query);
    dispatch(r);
}

/* ---------------------------------------------------------------- server */

struct kq_http_server *kq_http_server_new(struct event_base *base, SSL_CTX *ctx,
                                          const struct kq_http_limits *limits, kq_http_auth_fn auth,
                                          void *auth_ctx)
{
    struct kq_http_server *s;
    KQ_ASSERT(base != NULL && ctx != NULL);
    if (pthread_once(&conn_index_once, conn_index_init) != 0 || conn_index < 0)
        return NULL;
    if ((s = calloc(1, sizeof *s)) == NULL)
        return NULL;
    if (limits != NULL)
        s->lim = *limits;
    else
        kq_http_limits_default(&s->lim);
    if (!limits_ok(&s->lim) || (s->http = evhttp_new(base)) == NULL) {
        free(s);
        return NULL;
    }
    s->base = base;
    s->ctx = ctx;
    s->auth = auth;
    s->auth_ctx = auth_ctx;
    evhttp_set_bevcb(s->http, conn_new, s);
    evhttp_set_gencb(s->http, on_request, s);
    evhttp_set_allowed_methods(s->http, METHODS_ALLOWED);
    evhttp_set_max_headers_size(s->http, (ev_ssize_t)s->lim.max_header_bytes);
    evhttp_set_max_body_size(s->http, (ev_ssize_t)s->lim.max_body_bytes);
    evhttp_set_default_content_type(s->http, "application/json");
    /* Read (and drop) the rest of a body over the limit before answering 413, so that the client
     * reads the answer instead of a reset; the read deadline bounds it. */
    if (evhttp_set_flags(s->http, EVHTTP_SERVER_LINGERING_CLOSE) != 0) {
        evhttp_free(s->http);
        free(s);
        return NULL;
    }
    return s;
}

void kq_http_server_free(struct kq_http_server *s)
{
    if (s == NULL)
        return;
    /* Closes listeners and connections: close_cb cancels deferred requests. The filters' own
     * destructors run later from the loop (or event_base_free); they must not see s. */
    evhttp_free(s->http);
    for (struct conn *c = s->conns, *next; c != NULL; c = next) {
        next = c->next;
        event_free(c->kick);
        event_free(c->deadline);
        c->kick = c->deadline = NULL;
        c->s = NULL;
        c->prev = c->next = NULL;
    }
    free(s);
}

enum kq_err kq_http_route(struct kq_http_server *s, const char *method, const char *pattern,
                          unsigned flags, kq_http_handler h, void *ctx)
{
    enum evhttp_cmd_type cmd;
    struct route *rt;
    KQ_ASSERT(s != NULL && h != NULL);
    KQ_ENSURE(method != NULL && method_parse(method, &cmd), KQ_ERR_INVALID_ARG);
    KQ_GUARD(kq_http_pattern_check(pattern));
    KQ_ENSURE((flags & ~(unsigned)(KQ_ROUTE_PUBLIC | KQ_ROUTE_JSON_BODY)) == 0, KQ_ERR_INVALID_ARG);
    for (size_t i = 0; i < s->n_routes; i++)
        KQ_ENSURE(s->routes[i].method != cmd || strcmp(s->routes[i].pattern, pattern) != 0,
                  KQ_ERR_INVALID_ARG);
    KQ_ENSURE(s->n_routes < KQ_HTTP_MAX_ROUTES, KQ_ERR_LIMIT);
    rt = &s->routes[s->n_routes++];
    rt->method = cmd;
    rt->flags = flags;
    rt->h = h;
    rt->ctx = ctx;
    memcpy(rt->pattern, pattern, strlen(pattern) + 1);
    return KQ_OK;
}

enum kq_err kq_http_listen(struct kq_http_server *s, const char *host, uint16_t port,
                           uint16_t *bound_port)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    struct evhttp_bound_socket *b;
    KQ_ASSERT(s != NULL && host != NULL);
    KQ_ENSURE(s->n_listeners < KQ_HTTP_MAX_LISTENERS, KQ_ERR_LIMIT);
    b = evhttp_bind_socket_with_handle(s->http, host, port);
    KQ_ENSURE(b != NULL, KQ_ERR_NET);
    if (getsockname(evhttp_bound_socket_get_fd(b), (struct sockaddr *)&ss, &len) != 0) {
        evhttp_del_accept_socket(s->http, b);
        return KQ_ERR_NET;
    }
    s->n_listeners++;
    if (bound_port != NULL)
        *bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                     : ((struct sockaddr_in *)&ss)->sin_port);
    return KQ_OK;
}
