/* Tests for src/net/http.c: the router's pure functions, then a real server on an ephemeral port
 * with its event loop in a second thread, certificates from kq_pki_init, and two kinds of client:
 * libcurl for HTTP-level checks and blocking OpenSSL sockets for what curl cannot do (half-sent
 * requests, pipelining, raw garbage). Handlers run on the loop thread and report through atomics;
 * nothing asserts on elapsed time. */
#include "../test_util.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "base/mem.h"
#include "net/http.h"
#include "net/pki.h"
#include "net/tls.h"

#define TOKEN "s3cret-token"
/* Bounds that turn a hang into a failure (never an assertion on time). */
#define CLIENT_TIMEOUT_S 30
#define WAIT_STEPS       3000 /* x 10 ms */

static char g_dir[64], g_other[64];

static const char *pth(const char *dir, const char *base)
{
    static char ring[8][PATH_MAX];
    static unsigned next;
    char *out = ring[next++ % 8];
    snprintf(out, PATH_MAX, "%s/%s", dir, base);
    return out;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN); /* writes to a connection the server closed must fail, not kill */
    assert_int_equal(kq_init(0), KQ_OK);
    assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    strcpy(g_dir, "/tmp/kq_http_XXXXXX");
    strcpy(g_other, "/tmp/kq_http_other_XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    assert_non_null(mkdtemp(g_other));
    assert_int_equal(kq_pki_init(pth(g_dir, "pki"), 1), KQ_OK);
    assert_int_equal(kq_pki_init(pth(g_other, "pki"), 1), KQ_OK);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    nftw(g_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    nftw(g_other, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    curl_global_cleanup();
    return 0;
}

/* ------------------------------------------------------------------ router (pure) */

static void test_pattern_check(void **state)
{
    (void)state;
    static const char *ok[] = {"/v1",
                               "/v1/keys",
                               "/v1/keys/{name}/encrypt",
                               "/v1/sys/health",
                               "/a/{x}/{y}/{z}/{w}",
                               "/a.b/c-d/e_f/~g"};
    static const char *bad[] = {"",
                                "/",
                                "v1/keys",
                                "/v1//keys",
                                "/v1/keys/",
                                "/v1/{}",
                                "/v1/{Name}",
                                "/v1/{na-me}",
                                "/v1/x{name}",
                                "/v1/{name}x",
                                "/v1/{a}/{a}",
                                "/a/{x}/{y}/{z}/{w}/{v}",
                                "/v1/ke ys",
                                "/v1/keys?x",
                                "/v1/%41",
                                "/1/2/3/4/5/6/7/8/9",
                                "/v1/{aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_int_equal(kq_http_pattern_check(ok[i]), KQ_OK);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(kq_http_pattern_check(bad[i]), KQ_ERR_INVALID_ARG);
    char longp[KQ_HTTP_MAX_PATTERN_BYTES + 2];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(kq_http_pattern_check(longp), KQ_ERR_INVALID_ARG);
    longp[sizeof longp - 2] = '\0';
    assert_int_equal(kq_http_pattern_check(longp), KQ_OK);
    assert_int_equal(kq_http_pattern_check(NULL), KQ_ERR_INVALID_ARG);
}

static enum kq_err match(const char *pattern, const char *path, struct kq_http_captures *c)
{
    assert_int_equal(kq_http_pattern_check(pattern), KQ_OK);
    return kq_http_path_match(pattern, path, strlen(path), c);
}

static void test_path_match(void **state)
{
    struct kq_http_captures c;
    (void)state;
    assert_int_equal(match("/v1/keys/{name}/encrypt", "/v1/keys/k1/encrypt", &c), KQ_OK);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.name[0], "name");
    assert_string_equal(c.value[0], "k1");
    assert_int_equal(match("/v1/keys/{name}/encrypt", "/v1/keys/my%20key%2Fx/encrypt", &c), KQ_OK);
    assert_string_equal(c.value[0], "my key/x");
    assert_int_equal(match("/a/{x}/{y}", "/a/1/%e2%82%ac", &c), KQ_OK);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.value[0], "1");
    assert_string_equal(c.value[1], "\xe2\x82\xac");
    assert_int_equal(match("/v1/keys", "/v1/keys", &c), KQ_OK);
    assert_int_equal(c.n, 0);
    /* Other shapes: NOT_FOUND, with nothing captured. */
    static const char *other[] = {"/v1/keys/k1",
                                  "/v1/keys/k1/encrypt/x",
                                  "/v1/keys//encrypt",
                                  "/v1/keys/k1/encrypt/",
                                  "/v1/Keys/k1/encrypt",
                                  "v1/keys/k/encrypt",
                                  "",
                                  "/",
                                  "/v1/keys/k1/decrypt",
                                  "/v1/%6beys/k1/encrypt"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        c.n = 7;
        assert_int_equal(match("/v1/keys/{name}/encrypt", other[i], &c), KQ_ERR_NOT_FOUND);
        assert_int_equal(c.n, 0);
    }
    /* Right shape, bad capture: FORMAT. */
    static const char *bad[] = {"/v1/keys/%zz/encrypt", "/v1/keys/%2/encrypt",
                                "/v1/keys/a%/encrypt", "/v1/keys/%00/encrypt",
                                "/v1/keys/a%0g/encrypt"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(match("/v1/keys/{name}/encrypt", bad[i], &c), KQ_ERR_FORMAT);
        assert_int_equal(c.n, 0);
    }
    /* A raw NUL inside the given length is refused in a capture. */
    assert_int_equal(kq_http_path_match("/a/{x}", "/a/b\0c", 6, &c), KQ_ERR_FORMAT);
    /* The path limit. */
    static char longpath[KQ_HTTP_MAX_PATH_BYTES + 2];
    memset(longpath, 'a', sizeof longpath - 1);
    memcpy(longpath, "/a/", 3);
    assert_int_equal(kq_http_path_match("/a/{x}", longpath, KQ_HTTP_MAX_PATH_BYTES + 1, &c),
                     KQ_ERR_NOT_FOUND);
    assert_int_equal(kq_http_path_match("/a/{x}", longpath, KQ_HTTP_MAX_PATH_BYTES, &c), KQ_OK);
    assert_int_equal(strlen(c.value[0]), KQ_HTTP_MAX_PATH_BYTES - 3);
}

/* ------------------------------------------------------------------ the server fixture */

struct fx {
    struct event_base *base;
    SSL_CTX *ctx;
    struct kq_http_server *s;
    uint16_t port;
    pthread_t thread;
    struct event *poll, *later;
    atomic_bool stop;
    atomic_int cancels, parked, logs, last_log_status, log_dash;
    struct kq_http_req *deferred; /* loop thread only */
};

static enum kq_err auth_cb(void *ctx, SSL *ssl, const char *bearer, struct kq_http_principal *out)
{
    struct kq_tls_identity id;
    (void)ctx;
    if (ssl != NULL && kq_tls_peer_identity(ssl, &id) == KQ_OK) {
        out->authenticated = out->via_cert = true;
        snprintf(out->name, sizeof out->name, "%s", id.name);
        return KQ_OK;
    }
    if (bearer != NULL && strcmp(bearer, TOKEN) == 0) {
        out->authenticated = true;
        snprintf(out->name, sizeof out->name, "token-user");
        return KQ_OK;
    }
    if (bearer != NULL && strcmp(bearer, "store-down") == 0)
        return KQ_ERR_STORE;
    if (bearer != NULL && strcmp(bearer, "lazy") == 0)
        return KQ_OK; /* forgot to set authenticated: must still be refused */
    return KQ_ERR_AUTH;
}

static void h_hello(struct kq_http_req *r, void *ctx)
{
    (void)ctx;
    kq_http_reply_json(r, 200, json_pack("{s:s}", "hello", "world"));
}

static void h_whoami(struct kq_http_req *r, void *ctx)
{
    const struct kq_http_principal *who = kq_http_who(r);
    (void)ctx;
    kq_http_reply_json(r, 200,
                       json_pack("{s:s,s:b}", "name", who->name, "via_cert", who->via_cert));
}

static void h_public_who(struct kq_http_req *r, void *ctx)
{
    const struct kq_http_principal *who = kq_http_who(r);
    (void)ctx;
    kq_http_reply_json(
        r, 200, json_pack("{s:b,s:s}", "authenticated", who->authenticated, "name", who->name));
}

static void h_echo(struct kq_http_req *r, void *ctx)
{
    (void)ctx;
    kq_http_reply_json(r, 201,
                       json_pack("{s:O,s:s}", "got", kq_http_body(r), "method", kq_http_method(r)));
}

static void h_key(struct kq_http_req *r, void *ctx)
{
    const char *a = kq_http_query(r, "a"), *b = kq_http_query(r, "b");
    (void)ctx;
    kq_http_reply_json(r, 200,
                       json_pack("{s:s,s:s,s:s?,s:s?,s:b}", "name", kq_http_param(r, "name"),
                                 "path", kq_http_path(r), "a", a, "b", b, "none",
                                 kq_http_param(r, "other") == NULL));
}

static void h_err(struct kq_http_req *r, void *ctx)
{
    (void)ctx;
    kq_http_reply_err(r, (enum kq_err)atoi(kq_http_param(r, "code")), NULL);
}

static void h_null(struct kq_http_req *r, void *ctx)
{
    (void)ctx;
    kq_http_reply_json(r, 200, NULL);
}

static void h_unicode_error(struct kq_http_req *r, void *ctx)
{
    (void)ctx;
    kq_http_reply_error(r, 404, "no_such_key", "no key named %s", kq_http_param(r, "name"));
}

/* A reply of n bytes of JSON string (n from the query). */
static void h_big(struct kq_http_req *r, void *ctx)
{
    size_t n = strtoul(kq_http_query(r, "n"), NULL, 10);
    char *x = malloc(n);
    (void)ctx;
    memset(x, 'x', n);
    kq_http_reply_json(r, 200, json_pack("{s:s%}", "big", x, n));
    free(x);
}

static void later_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fx *f = arg;
    (void)fd, (void)what;
    kq_http_reply_json(f->deferred, 200, json_pack("{s:b}", "late", 1));
    f->deferred = NULL;
}

static void h_defer(struct kq_http_req *r, void *ctx)
{
    struct fx *f = ctx;
    struct timeval tv = {0, 20000};
    f->deferred = r;
    kq_http_defer(r, NULL, NULL);
    evtimer_add(f->later, &tv);
}

static void on_cancel(void *cctx)
{
    struct fx *f = cctx;
    atomic_fetch_add(&f->cancels, 1);
}

static void h_park(struct kq_http_req *r, void *ctx)
{
    struct fx *f = ctx;
    kq_http_defer(r, on_cancel, f);
    atomic_fetch_add(&f->parked, 1);
}

static void h_stats(struct kq_http_req *r, void *ctx)
{
    struct fx *f = ctx;
    struct kq_http_stats st;
    kq_http_stats_get(f->s, &st);
    kq_http_reply_json(r, 200,
                       json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "requests", (json_int_t)st.requests,
                                 "e4", (json_int_t)st.errors_4xx, "e5", (json_int_t)st.errors_5xx,
                                 "timeouts", (json_int_t)st.timeouts, "rejected",
                                 (json_int_t)st.rejected_connections, "open",
                                 (json_int_t)st.open_connections));
}

static void on_log(void *ctx, const char *method, const char *path, int status, uint64_t us)
{
    struct fx *f = ctx;
    (void)us;
    atomic_fetch_add(&f->logs, 1);
    atomic_store(&f->last_log_status, status);
    if (strcmp(method, "-") == 0 && strcmp(path, "-") == 0)
        atomic_fetch_add(&f->log_dash, 1);
}

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fx *f = arg;
    (void)fd, (void)what;
    if (atomic_load(&f->stop))
        event_base_loopbreak(f->base);
}

static void *loop_main(void *arg)
{
    struct fx *f = arg;
    event_base_loop(f->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static void add_routes(struct fx *f)
{
    struct kq_http_server *s = f->s;
    assert_int_equal(kq_http_route(s, "GET", "/v1/hello", KQ_ROUTE_PUBLIC, h_hello, f), KQ_OK);
    assert_int_equal(kq_http_route(s, "GET", "/v1/whoami", 0, h_whoami, f), KQ_OK);
    assert_int_equal(kq_http_route(s, "POST", "/v1/echo", KQ_ROUTE_JSON_BODY, h_echo, f), KQ_OK);
    assert_int_equal(kq_http_route(s, "PUT", "/v1/echo", KQ_ROUTE_JSON_BODY, h_echo, f), KQ_OK);
    assert_int_equal(kq_http_route(s, "GET", "/v1/keys/{name}/info", 0, h_key, f), KQ_OK);
    assert_int_equal(kq_http_route(s, "DELETE", "/v1/keys/{name}", 0, h_key, f), KQ_OK);
    assert_int_equal(
        kq_http_route(s, "GET", "/v1/keys/{name}/missing", KQ_ROUTE_PUBLIC, h_unicode_error, f),
        KQ_OK);
    assert_int_equal(kq_http_route(s, "GET", "/v1/err/{code}", KQ_ROUTE_PUBLIC, h_err, f), KQ_OK);
    assert_int_equal(kq_http_route(s, "GET", "/v1/null", KQ_ROUTE_PUBLIC, h_null, f), KQ_OK);
    assert_int_equal(kq_http_route(s, "GET", "/v1/defer", KQ_ROUTE_PUBLIC, h_defer, f), KQ_OK);
    assert_int_equal(kq_http_route(s, "GET", "/v1/park", KQ_ROUTE_PUBLIC, h_park, f), KQ_OK);
    assert_int_equal(kq_http_route(s, "GET", "/v1/stats", KQ_ROUTE_PUBLIC, h_stats, f), KQ_OK);
    assert_int_equal(kq_http_route(s, "GET", "/v1/big", KQ_ROUTE_PUBLIC, h_big, f), KQ_OK);
    assert_int_equal(kq_http_route(s, "GET", "/v1/pubwho", KQ_ROUTE_PUBLIC, h_public_who, f),
                     KQ_OK);
}

static struct fx *fx_start(const struct kq_http_limits *lim)
{
    struct fx *f = calloc(1, sizeof *f);
    struct timeval tick = {0, 10000};
    enum kq_err err;
    assert_non_null(f);
    assert_non_null(f->base = event_base_new());
    f->ctx = kq_tls_ctx_new(KQ_TLS_API_SERVER, pth(g_dir, "pki/ca.crt"),
                            pth(g_dir, "pki/node-1.crt"), pth(g_dir, "pki/node-1.key"), &err);
    assert_non_null(f->ctx);
    assert_non_null(f->s = kq_http_server_new(f->base, f->ctx, lim, auth_cb, NULL));
    kq_http_set_log(f->s, on_log, f);
    add_routes(f);
    assert_int_equal(kq_http_listen(f->s, "127.0.0.1", 0, &f->port), KQ_OK);
    assert_true(f->port != 0);
    assert_non_null(f->poll = event_new(f->base, -1, EV_PERSIST, poll_cb, f));
    assert_non_null(f->later = evtimer_new(f->base, later_cb, f));
    assert_int_equal(event_add(f->poll, &tick), 0);
    assert_int_equal(pthread_create(&f->thread, NULL, loop_main, f), 0);
    return f;
}

/* Stops the loop; free_server false leaves the server for the caller to free (and check). */
static void fx_halt(struct fx *f)
{
    atomic_store(&f->stop, true);
    assert_int_equal(pthread_join(f->thread, NULL), 0);
}

static void fx_free(struct fx *f)
{
    kq_http_server_free(f->s);
    event_free(f->poll);
    event_free(f->later);
    event_base_free(f->base);
    SSL_CTX_free(f->ctx);
    free(f);
}

static void fx_stop(struct fx *f)
{
    fx_halt(f);
    fx_free(f);
}

static struct kq_http_limits small_limits(unsigned read_timeout_s)
{
    struct kq_http_limits l;
    kq_http_limits_default(&l);
    l.max_body_bytes = 1024;
    l.max_header_bytes = 4096;
    l.read_timeout_s = read_timeout_s;
    return l;
}

/* ------------------------------------------------------------------ curl client */

enum cred { CRED_NONE, CRED_CERT, CRED_TOKEN, CRED_OTHER_CA, CRED_BAD_TOKEN };

struct resp {
    CURLcode rc;
    long status;
    char *raw; /* the body, NUL-terminated, grown as it arrives */
    size_t len;
    json_t *json;
    char ctype[128], cache[64], allow[64], www[64], retry[16], nosniff[32];
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t len = sz * n;
    char *grown = realloc(r->raw, r->len + len + 1);
    if (grown == NULL)
        return 0;
    r->raw = grown;
    memcpy(r->raw + r->len, p, len);
    r->len += len;
    r->raw[r->len] = '\0';
    return len;
}

static void keep_header(const char *line, size_t len, const char *name, char *dst, size_t cap)
{
    size_t nl = strlen(name);
    if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    line += nl + 1, len -= nl + 1;
    while (len > 0 && line[0] == ' ')
        line++, len--;
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
        len--;
    snprintf(dst, cap, "%.*s", (int)len, line);
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t len = sz * n;
    keep_header(p, len, "Content-Type", r->ctype, sizeof r->ctype);
    keep_header(p, len, "Cache-Control", r->cache, sizeof r->cache);
    keep_header(p, len, "Allow", r->allow, sizeof r->allow);
    keep_header(p, len, "WWW-Authenticate", r->www, sizeof r->www);
    keep_header(p, len, "Retry-After", r->retry, sizeof r->retry);
    keep_header(p, len, "X-Content-Type-Options", r->nosniff, sizeof r->nosniff);
    return len;
}

struct call {
    const char *method, *path, *ctype, *body;
    long body_len; /* -1: strlen(body) */
    enum cred cred;
    const char *header; /* one extra request header or NULL */
};

/* One request on handle h (a fresh one if NULL). Every HTTP answer must be JSON, no-store. */
static void http_on(CURL *h, struct fx *f, const struct call *c, struct resp *out)
{
    char url[8192];
    struct curl_slist *hdrs = NULL;
    CURL *own = h == NULL ? curl_easy_init() : NULL;
    if (own != NULL)
        h = own;
    assert_non_null(h);
    memset(out, 0, sizeof *out);
    snprintf(url, sizeof url, "https://localhost:%u%s", f->port, c->path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, pth(g_dir, "pki/ca.crt"));
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)CLIENT_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body);
    if (c->body != NULL)
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE,
                         c->body_len >= 0 ? c->body_len : (long)strlen(c->body));
    else
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L),
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
    if (c->cred == CRED_CERT || c->cred == CRED_OTHER_CA) {
        const char *dir = c->cred == CRED_CERT ? g_dir : g_other;
        curl_easy_setopt(h, CURLOPT_SSLCERT, pth(dir, "pki/admin.crt"));
        curl_easy_setopt(h, CURLOPT_SSLKEY, pth(dir, "pki/admin.key"));
    } else {
        curl_easy_setopt(h, CURLOPT_SSLCERT, NULL);
        curl_easy_setopt(h, CURLOPT_SSLKEY, NULL);
    }
    if (c->cred == CRED_TOKEN)
        hdrs = curl_slist_append(hdrs, "Authorization: Bearer " TOKEN);
    if (c->cred == CRED_BAD_TOKEN)
        hdrs = curl_slist_append(hdrs, "Authorization: Bearer nope");
    if (c->ctype != NULL) {
        char ct[160];
        snprintf(ct, sizeof ct, "Content-Type: %s", c->ctype);
        hdrs = curl_slist_append(hdrs, ct);
    }
    if (c->header != NULL)
        hdrs = curl_slist_append(hdrs, c->header);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    out->rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hdrs);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    if (own != NULL)
        curl_easy_cleanup(own);
    if (out->rc == CURLE_OK && out->status != 0) {
        assert_non_null(out->raw);
        assert_string_equal(out->ctype, "application/json");
        assert_string_equal(out->cache, "no-store");
        assert_string_equal(out->nosniff, "nosniff");
        out->json = json_loads(out->raw, 0, NULL);
        if (out->json == NULL)
            fail_msg("reply is not JSON: %s", out->raw);
    }
}

static void http(struct fx *f, const struct call *c, struct resp *out)
{
    http_on(NULL, f, c, out);
}

static void resp_free(struct resp *r)
{
    json_decref(r->json);
    free(r->raw);
    r->json = NULL;
    r->raw = NULL;
}

static const char *jstr(json_t *j, const char *a, const char *b)
{
    json_t *v = json_object_get(j, a);
    if (b != NULL)
        v = json_object_get(v, b);
    return json_string_value(v);
}

/* Asserts an error reply: status, code, and a message. */
static void expect_error(struct fx *f, const struct call *c, long status, const char *code)
{
    struct resp r;
    http(f, c, &r);
    assert_int_equal(r.rc, CURLE_OK);
    if (r.status != status)
        fail_msg("%s %.80s: status %ld, not %ld", c->method, c->path, r.status, status);
    assert_non_null(jstr(r.json, "error", "code"));
    assert_string_equal(jstr(r.json, "error", "code"), code);
    assert_non_null(jstr(r.json, "error", "message"));
    assert_true(strlen(jstr(r.json, "error", "message")) > 0);
    resp_free(&r);
}

static json_int_t stat_of(struct fx *f, const char *name)
{
    struct resp r;
    struct call c = {"GET", "/v1/stats", NULL, NULL, -1, CRED_NONE, NULL};
    http(f, &c, &r);
    assert_int_equal(r.status, 200);
    json_int_t v = json_integer_value(json_object_get(r.json, name));
    resp_free(&r);
    return v;
}

/* ------------------------------------------------------------------ raw TLS client */

struct raw {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    char *buf; /* RAW_BUF_BYTES, NUL-terminated */
    size_t len;
};
#define RAW_BUF_BYTES (4u * 1024 * 1024)

/* Connects and completes the TLS handshake; false if the server refused it. */
static bool raw_open(struct fx *f, struct raw *c, bool cert)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f->port)};
    struct timeval tv = {CLIENT_TIMEOUT_S, 0};
    enum kq_err err;
    memset(c, 0, sizeof *c);
    assert_non_null(c->buf = calloc(1, RAW_BUF_BYTES));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->ctx = kq_tls_ctx_new(KQ_TLS_CLIENT, pth(g_dir, "pki/ca.crt"),
                            cert ? pth(g_dir, "pki/admin.crt") : NULL,
                            cert ? pth(g_dir, "pki/admin.key") : NULL, &err);
    assert_non_null(c->ctx);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    assert_int_equal(setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    assert_int_equal(setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_non_null(c->ssl = SSL_new(c->ctx));
    SSL_set_fd(c->ssl, c->fd);
    return SSL_connect(c->ssl) == 1;
}

static bool raw_send(struct raw *c, const char *s, size_t n)
{
    return n == 0 || SSL_write(c->ssl, s, (int)n) == (int)n;
}

static void raw_close(struct raw *c)
{
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    close(c->fd);
    free(c->buf);
    ERR_clear_error();
}

/* Reads more into the buffer; false at EOF or error (connection closed by the server). */
static bool raw_fill(struct raw *c)
{
    int n;
    if (c->len + 1 >= RAW_BUF_BYTES)
        return false;
    n = SSL_read(c->ssl, c->buf + c->len, (int)(RAW_BUF_BYTES - 1 - c->len));
    if (n <= 0)
        return false;
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    return true;
}

/* Reads one response: status and JSON body (NULL if none). false if the connection closed first. */
static bool raw_response(struct raw *c, int *status, json_t **body)
{
    char *end;
    while ((end = strstr(c->buf, "\r\n\r\n")) == NULL)
        if (!raw_fill(c))
            return false;
    size_t head = (size_t)(end - c->buf) + 4;
    const char *cl = strcasestr(c->buf, "\r\nContent-Length:");
    size_t len = cl != NULL && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
    assert_true(strncmp(c->buf, "HTTP/1.1 ", 9) == 0 || strncmp(c->buf, "HTTP/1.0 ", 9) == 0);
    assert_non_null(strcasestr(c->buf, "\r\nContent-Type: application/json\r\n"));
    *status = atoi(c->buf + 9);
    while (c->len < head + len)
        if (!raw_fill(c))
            return false;
    *body = json_loadb(c->buf + head, len, 0, NULL);
    memmove(c->buf, c->buf + head + len, c->len - head - len);
    c->len -= head + len;
    c->buf[c->len] = '\0';
    return true;
}

/* True once the server has closed the connection (reads until EOF; data is discarded). */
static bool raw_closed_by_server(struct raw *c)
{
    while (raw_fill(c))
        c->len = 0;
    return true;
}

static void wait_for(atomic_int *v, int want)
{
    for (int i = 0; i < WAIT_STEPS && atomic_load(v) < want; i++)
        usleep(10000);
    assert_int_equal(atomic_load(v), want);
}

/* ------------------------------------------------------------------ tests */

static void test_server_args(void **state)
{
    struct event_base *base = event_base_new();
    struct kq_http_limits l;
    enum kq_err err;
    (void)state;
    SSL_CTX *ctx = kq_tls_ctx_new(KQ_TLS_API_SERVER, pth(g_dir, "pki/ca.crt"),
                                  pth(g_dir, "pki/node-1.crt"), pth(g_dir, "pki/node-1.key"), &err);
    assert_non_null(ctx);
    kq_http_limits_default(&l);
    assert_int_equal(l.max_body_bytes, KQ_HTTP_MAX_BODY_BYTES);
    assert_int_equal(l.max_header_bytes, KQ_HTTP_MAX_HEADER_BYTES);
    assert_int_equal(l.read_timeout_s, 10);
    assert_int_equal(l.write_timeout_s, 10);
    assert_int_equal(l.max_connections, KQ_HTTP_MAX_CONNECTIONS);
    struct kq_http_limits bad[10];
    for (size_t i = 0; i < 10; i++)
        bad[i] = l;
    bad[0].max_body_bytes = KQ_HTTP_MIN_LIMIT_BYTES - 1;
    bad[1].max_body_bytes = KQ_HTTP_MAX_BODY_CEILING + 1;
    bad[2].max_header_bytes = KQ_HTTP_MIN_LIMIT_BYTES - 1;
    bad[3].read_timeout_s = 0;
    bad[4].write_timeout_s = KQ_HTTP_MAX_TIMEOUT_S + 1;
    bad[5].max_connections = 0;
    bad[6].max_connections = KQ_HTTP_MAX_CONNECTIONS_CEILING + 1;
    bad[7].max_header_bytes = KQ_HTTP_MAX_HEADER_CEILING + 1;
    bad[8].read_timeout_s = KQ_HTTP_MAX_TIMEOUT_S + 1;
    bad[9].write_timeout_s = 0;
    for (size_t i = 0; i < 10; i++)
        assert_null(kq_http_server_new(base, ctx, &bad[i], NULL, NULL));

    struct kq_http_server *s = kq_http_server_new(base, ctx, NULL, NULL, NULL);
    assert_non_null(s);
    assert_int_equal(kq_http_route(s, "PATCH", "/v1/x", 0, h_hello, NULL), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_http_route(s, "get", "/v1/x", 0, h_hello, NULL), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_http_route(s, "GET", "/v1/x/", 0, h_hello, NULL), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_http_route(s, "GET", "/v1/x", 1u << 5, h_hello, NULL), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_http_route(s, "GET", "/v1/x", 0, h_hello, NULL), KQ_OK);
    assert_int_equal(kq_http_route(s, "GET", "/v1/x", 0, h_hello, NULL), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_http_route(s, "POST", "/v1/x", 0, h_hello, NULL), KQ_OK);
    for (unsigned i = 2; i < KQ_HTTP_MAX_ROUTES; i++) {
        char p[32];
        snprintf(p, sizeof p, "/r%u", i);
        assert_int_equal(kq_http_route(s, "GET", p, 0, h_hello, NULL), KQ_OK);
    }
    assert_int_equal(kq_http_route(s, "GET", "/one-more", 0, h_hello, NULL), KQ_ERR_LIMIT);
    uint16_t port = 0;
    assert_int_equal(kq_http_listen(s, "256.0.0.1", 0, &port), KQ_ERR_NET);
    for (unsigned i = 0; i < KQ_HTTP_MAX_LISTENERS; i++)
        assert_int_equal(kq_http_listen(s, "127.0.0.1", 0, &port), KQ_OK);
    assert_int_equal(kq_http_listen(s, "127.0.0.1", 0, &port), KQ_ERR_LIMIT);
    kq_http_server_free(s);
    kq_http_server_free(NULL);
    event_base_free(base);
    SSL_CTX_free(ctx);
}

static void test_auth(void **state)
{
    struct fx *f = fx_start(NULL);
    struct resp r;
    (void)state;
    struct call c = {"GET", "/v1/whoami", NULL, NULL, -1, CRED_CERT, NULL};
    http(f, &c, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "name", NULL), "admin");
    assert_true(json_is_true(json_object_get(r.json, "via_cert")));
    resp_free(&r);

    c.cred = CRED_TOKEN;
    http(f, &c, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "name", NULL), "token-user");
    assert_true(json_is_false(json_object_get(r.json, "via_cert")));
    resp_free(&r);

    c.cred = CRED_NONE;
    http(f, &c, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(jstr(r.json, "error", "code"), "unauthenticated");
    assert_string_equal(r.www, "Bearer");
    resp_free(&r);
    c.cred = CRED_BAD_TOKEN;
    expect_error(f, &c, 401, "unauthenticated");
    c.cred = CRED_NONE;
    c.header = "Authorization: Bearer lazy";
    expect_error(f, &c, 401, "unauthenticated");
    c.header = "Authorization: Basic " TOKEN;
    expect_error(f, &c, 401, "unauthenticated");
    c.header = "Authorization: bearer   " TOKEN;
    http(f, &c, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    c.header = "Authorization: Bearer store-down";
    expect_error(f, &c, 500, "store_error");
    /* Public routes need nothing. */
    struct call pub = {"GET", "/v1/hello", NULL, NULL, -1, CRED_NONE, NULL};
    http(f, &pub, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "hello", NULL), "world");
    resp_free(&r);

    /* Public routes do not authenticate: the principal is empty even with a certificate. */
    struct call pw = {"GET", "/v1/pubwho", NULL, NULL, -1, CRED_CERT, NULL};
    http(f, &pw, &r);
    assert_int_equal(r.status, 200);
    assert_true(json_is_false(json_object_get(r.json, "authenticated")));
    assert_string_equal(jstr(r.json, "name", NULL), "");
    resp_free(&r);

    /* A certificate from another CA: the handshake is refused, no HTTP answer at all. */
    c.cred = CRED_OTHER_CA;
    c.header = NULL;
    http(f, &c, &r);
    assert_int_not_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 0);
    assert_null(r.json);
    assert_int_equal(stat_of(f, "requests"), 11);
    fx_stop(f);
}

static void test_errors(void **state)
{
    struct kq_http_limits lim = small_limits(10);
    struct fx *f = fx_start(&lim);
    struct resp r;
    (void)state;
    const char *json = "application/json";
    struct call echo = {"POST", "/v1/echo", json, "{\"a\":[1,2]}", -1, CRED_TOKEN, NULL};
    http(f, &echo, &r);
    assert_int_equal(r.status, 201);
    assert_int_equal(
        json_integer_value(json_array_get(json_object_get(json_object_get(r.json, "got"), "a"), 1)),
        2);
    resp_free(&r);
    echo.method = "PUT";
    echo.ctype = "Application/JSON ; charset=utf-8";
    http(f, &echo, &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(jstr(r.json, "method", NULL), "PUT");
    resp_free(&r);
    echo.method = "POST";
    echo.ctype = json;

    echo.body = "{\"a\":\n  [1,}";
    http(f, &echo, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(jstr(r.json, "error", "code"), "bad_json");
    assert_non_null(strstr(jstr(r.json, "error", "message"), "line 2"));
    resp_free(&r);
    static const char *bodies[] = {"[1]", "\"s\"", "3", "", "{\"a\":1}x", "{\"a\":1,\"a\":2}"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        echo.body = bodies[i];
        expect_error(f, &echo, 400, "bad_json");
    }
    echo.body = "{}";
    echo.ctype = "text/plain";
    expect_error(f, &echo, 415, "unsupported_media_type");
    echo.ctype = "application/jsonx";
    expect_error(f, &echo, 415, "unsupported_media_type");
    echo.ctype = NULL;
    expect_error(f, &echo, 415, "unsupported_media_type");
    /* Auth comes before the body: an anonymous bad body is a 401. */
    echo.ctype = json;
    echo.body = "not json";
    echo.cred = CRED_NONE;
    expect_error(f, &echo, 401, "unauthenticated");
    echo.cred = CRED_TOKEN;

    /* Bodies over the limit (1024 here), with and without Expect: 100-continue. */
    char big[4096];
    memset(big, ' ', sizeof big);
    big[0] = '{', big[sizeof big - 1] = '}';
    echo.body = big;
    echo.body_len = sizeof big;
    echo.header = "Expect:";
    expect_error(f, &echo, 413, "too_large");
    echo.header = "Expect: 100-continue";
    expect_error(f, &echo, 413, "too_large");
    echo.body_len = 1024; /* exactly the limit: accepted */
    big[1023] = '}';
    echo.header = "Expect:";
    http(f, &echo, &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    echo.header = "Expect: 100-continue"; /* within the limit: 100 Continue, then the reply */
    http(f, &echo, &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    echo.body_len = -1;
    echo.header = "Expect: something-else";
    echo.body = "{}";
    expect_error(f, &echo, 417, "expectation_failed");
    echo.header = NULL;

    /* Headers over the limit (4096 here): evhttp refuses the head; the answer is still JSON. */
    char hdr[8192];
    snprintf(hdr, sizeof hdr, "X-Pad: %5000d", 1);
    struct call hello = {"GET", "/v1/hello", NULL, NULL, -1, CRED_NONE, hdr};
    expect_error(f, &hello, 400, "bad_request");
    hello.header = NULL;

    /* Routing: 404, 405 with Allow, methods evhttp does not route. */
    struct call c = {"GET", "/v1/nope", NULL, NULL, -1, CRED_TOKEN, NULL};
    expect_error(f, &c, 404, "not_found");
    c.path = "/v1/hello/";
    expect_error(f, &c, 404, "not_found");
    c.path = "/v1/echo";
    http(f, &c, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(jstr(r.json, "error", "code"), "method_not_allowed");
    assert_string_equal(r.allow, "POST, PUT");
    resp_free(&r);
    c.method = "PATCH";
    expect_error(f, &c, 501, "not_implemented");
    c.method = "OPTIONS";
    expect_error(f, &c, 501, "not_implemented");

    /* Captures and the query. */
    c.method = "GET";
    c.path = "/v1/keys/my%20key/info?a=x%20y&b=1+2";
    http(f, &c, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "name", NULL), "my key");
    assert_string_equal(jstr(r.json, "path", NULL), "/v1/keys/my%20key/info");
    assert_string_equal(jstr(r.json, "a", NULL), "x y");
    assert_string_equal(jstr(r.json, "b", NULL), "1 2");
    assert_true(json_is_true(json_object_get(r.json, "none")));
    resp_free(&r);
    c.path = "/v1/keys/k/info";
    http(f, &c, &r);
    assert_int_equal(r.status, 200);
    assert_true(json_is_null(json_object_get(r.json, "a")) || json_object_get(r.json, "a") == NULL);
    resp_free(&r);
    c.method = "DELETE";
    c.path = "/v1/keys/k%2Fx";
    http(f, &c, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "name", NULL), "k/x");
    resp_free(&r);
    c.method = "GET";
    static const char *bad_query[] = {"/v1/keys/k/info?a=1&a=2", "/v1/keys/k/info?a",
                                      "/v1/keys/k/info?a=%00", "/v1/keys/k/info?a=1&&b=2"};
    for (size_t i = 0; i < sizeof bad_query / sizeof bad_query[0]; i++) {
        c.path = bad_query[i];
        expect_error(f, &c, 400, "bad_request");
    }
    char many[512] = "/v1/keys/k/info?";
    for (unsigned i = 0; i <= KQ_HTTP_MAX_QUERY_ARGS; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%sq%u=1", i ? "&" : "", i);
    c.path = many;
    expect_error(f, &c, 400, "bad_request");
    c.path = "/v1/keys/%zz/info";
    expect_error(f, &c, 400, "bad_request");
    char longquery[KQ_HTTP_MAX_QUERY_BYTES + 64] = "/v1/keys/k/info?a=";
    memset(longquery + 18, 'q', KQ_HTTP_MAX_QUERY_BYTES);
    longquery[KQ_HTTP_MAX_QUERY_BYTES + 18] = '\0';
    c.path = longquery;
    expect_error(f, &c, 414, "uri_too_long");
    char longpath[KQ_HTTP_MAX_PATH_BYTES + 32] = "/v1/keys/";
    memset(longpath + 9, 'k', KQ_HTTP_MAX_PATH_BYTES);
    longpath[KQ_HTTP_MAX_PATH_BYTES + 9] = '\0';
    c.path = longpath;
    expect_error(f, &c, 414, "uri_too_long");

    /* Handler-side errors: kq_err -> status, code kq_errcode; NULL body -> 500. */
    static const struct {
        enum kq_err err;
        long status;
    } map[] = {{KQ_ERR_INVALID_ARG, 400}, {KQ_ERR_NOT_FOUND, 404}, {KQ_ERR_STATE, 409},
               {KQ_ERR_AUTH, 400},        {KQ_ERR_STORE, 500},     {KQ_ERR_NET, 502},
               {KQ_ERR_BUSY, 503},        {KQ_ERR_TIMEOUT, 504},   {KQ_ERR_PEER_IDENTITY, 403},
               {KQ_ERR_THRESHOLD, 503}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        char p[64];
        snprintf(p, sizeof p, "/v1/err/%d", (int)map[i].err);
        c.path = p;
        http(f, &c, &r);
        assert_int_equal(r.status, map[i].status);
        assert_string_equal(jstr(r.json, "error", "code"), kq_errcode(map[i].err));
        assert_string_equal(jstr(r.json, "error", "message"), kq_strerror(map[i].err));
        assert_string_equal(r.retry, map[i].err == KQ_ERR_BUSY ? "1" : "");
        resp_free(&r);
    }
    c.path = "/v1/null";
    expect_error(f, &c, 500, "out_of_memory");
    /* A message carrying non-ASCII bytes stays one ASCII line. */
    c.path = "/v1/keys/%e2%82%ac%0a/missing";
    http(f, &c, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(jstr(r.json, "error", "message"), "no key named ????");
    resp_free(&r);
    fx_halt(f);
    /* Every answered request went through the log, evhttp's own errors as "-". */
    struct kq_http_stats st;
    kq_http_stats_get(f->s, &st);
    assert_int_equal((uint64_t)atomic_load(&f->logs), st.requests);
    assert_int_equal(st.errors_4xx + st.errors_5xx + 7, st.requests); /* seven 2xx above */
    assert_int_equal(atomic_load(&f->log_dash), 6); /* 413 x2, 417, head, PATCH, OPTIONS */
    assert_int_equal(st.errors_5xx, 8);             /* 500 x2, 502, 503 x2, 504, 501 x2 */
    fx_free(f);
}

/* Bytes evhttp itself refuses, on raw connections: the answers are JSON too, then the server
 * closes. A corrupt chunk is a 413: evhttp 2.1 reports it as "data too long". */
static void test_raw_errors(void **state)
{
    static const struct {
        const char *req;
        int status;
    } bad[] = {
        {"GARBAGE\r\n\r\n", 400},
        {"FOO /v1/hello HTTP/1.1\r\nHost: x\r\n\r\n", 501},
        {"GET /v1/hello HTTP/9.9\r\nHost: x\r\n\r\n", 400},
        {"POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
        {"POST /v1/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 413},
        {"GET /v1/hello HTTP/1.1\r\nno colon\r\n\r\n", 400},
    };
    struct fx *f = fx_start(NULL);
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct raw c;
        int status = 0;
        json_t *body = NULL;
        assert_true(raw_open(f, &c, false));
        assert_true(raw_send(&c, bad[i].req, strlen(bad[i].req)));
        if (!raw_response(&c, &status, &body))
            fail_msg("no answer to request %zu", i);
        if (status != bad[i].status)
            fail_msg("request %zu: status %d", i, status);
        assert_non_null(jstr(body, "error", "code"));
        json_decref(body);
        assert_true(raw_closed_by_server(&c));
        raw_close(&c);
    }
    assert_int_equal(atomic_load(&f->log_dash), 6);
    fx_stop(f);
}

/* A half-sent request is closed after the read deadline while other clients are served, and so
 * is one that trickles in a byte at a time (the deadline is for the whole request). */
static void test_read_timeout(void **state)
{
    struct kq_http_limits lim = small_limits(1);
    struct fx *f = fx_start(&lim);
    struct raw slow, drip;
    struct resp r;
    int status;
    json_t *body;
    (void)state;
    assert_true(raw_open(f, &slow, true));
    const char *part = "GET /v1/whoami HTTP/1.1\r\nHost: localhost\r\n";
    assert_true(raw_send(&slow, part, strlen(part)));
    struct call c = {"GET", "/v1/hello", NULL, NULL, -1, CRED_NONE, NULL};
    for (int i = 0; i < 5; i++) {
        http(f, &c, &r);
        assert_int_equal(r.status, 200);
        resp_free(&r);
    }
    assert_false(raw_response(&slow, &status, &body)); /* closed, no answer */
    raw_close(&slow);

    /* A TCP connection that never starts TLS is closed too. */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f->port)};
    struct timeval tv = {CLIENT_TIMEOUT_S, 0};
    char byte;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(recv(fd, &byte, 1, 0), 0);
    close(fd);

    /* One byte every 100 ms would take seconds; the 1 s deadline ends it first. */
    assert_true(raw_open(f, &drip, false));
    const char *req =
        "GET /v1/hello HTTP/1.1\r\nHost: localhost\r\nX-Pad: "
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    size_t sent = 0;
    for (; sent < strlen(req) && raw_send(&drip, req + sent, 1); sent++)
        usleep(100000);
    assert_true(sent < strlen(req));
    raw_close(&drip);
    assert_int_equal(stat_of(f, "timeouts"), 3);
    /* The server still serves, on a kept-alive connection too. */
    http(f, &c, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    fx_stop(f);
}

/* Replies after which the server closes (HTTP/1.0, Connection: close) arrive whole first. */
static void test_close_after_reply(void **state)
{
    static const char *reqs[] = {
        "GET /v1/hello HTTP/1.0\r\n\r\n",
        "GET /v1/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /v1/big?n=3000000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    };
    struct fx *f = fx_start(NULL);
    (void)state;
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        struct raw c;
        int status = 0;
        json_t *body = NULL;
        assert_true(raw_open(f, &c, false));
        assert_true(raw_send(&c, reqs[i], strlen(reqs[i])));
        if (!raw_response(&c, &status, &body))
            fail_msg("request %zu: closed before the reply", i);
        assert_int_equal(status, 200);
        assert_true(json_object_size(body) == 1);
        if (i == 2)
            assert_int_equal(json_string_length(json_object_get(body, "big")), 3000000);
        json_decref(body);
        assert_true(raw_closed_by_server(&c));
        raw_close(&c);
    }
    fx_stop(f);
}

/* A large reply flows through the bounded TLS queue to a reading client; a client that does not
 * read is cut off by the write deadline. */
static void test_write_timeout(void **state)
{
    struct kq_http_limits lim;
    struct resp r;
    struct raw c;
    kq_http_limits_default(&lim);
    lim.write_timeout_s = 1;
    struct fx *f = fx_start(&lim);
    (void)state;
    struct call big = {"GET", "/v1/big?n=3000000", NULL, NULL, -1, CRED_NONE, NULL};
    http(f, &big, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_true(r.len > 3000000);
    assert_int_equal(stat_of(f, "timeouts"), 0);

    assert_true(raw_open(f, &c, false));
    const char *req = "GET /v1/big?n=64000000 HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_true(raw_send(&c, req, strlen(req)));
    for (int i = 0; i < WAIT_STEPS && stat_of(f, "timeouts") == 0; i++)
        usleep(10000);
    assert_int_equal(stat_of(f, "timeouts"), 1);
    size_t got = 0;
    while (raw_fill(&c)) {
        got += c.len;
        c.len = 0;
    }
    assert_true(got < 64000000);
    raw_close(&c);
    fx_stop(f);
}

static void test_deferred(void **state)
{
    struct fx *f = fx_start(NULL);
    struct resp r;
    struct raw c;
    int status;
    json_t *body;
    (void)state;
    /* Answered later from a timer. */
    struct call d = {"GET", "/v1/defer", NULL, NULL, -1, CRED_NONE, NULL};
    http(f, &d, &r);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(r.json, "late")));
    resp_free(&r);

    /* Pipelined behind a deferred request: held back, then answered in order. */
    assert_true(raw_open(f, &c, false));
    const char *two = "GET /v1/defer HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/hello HTTP/1.1\r\nHost: "
                      "x\r\n\r\n";
    assert_true(raw_send(&c, two, strlen(two)));
    assert_true(raw_response(&c, &status, &body));
    assert_int_equal(status, 200);
    assert_true(json_is_true(json_object_get(body, "late")));
    json_decref(body);
    assert_true(raw_response(&c, &status, &body));
    assert_int_equal(status, 200);
    assert_string_equal(jstr(body, "hello", NULL), "world");
    json_decref(body);
    raw_close(&c);

    /* The client goes away: cancel once. */
    assert_true(raw_open(f, &c, false));
    const char *park = "GET /v1/park HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_true(raw_send(&c, park, strlen(park)));
    wait_for(&f->parked, 1);
    raw_close(&c);
    wait_for(&f->cancels, 1);
    /* Parked with a pipelined request behind it, then gone: still exactly one cancel. */
    assert_true(raw_open(f, &c, false));
    assert_true(raw_send(&c, park, strlen(park)));
    assert_true(raw_send(&c, park, strlen(park)));
    wait_for(&f->parked, 2);
    raw_close(&c);
    wait_for(&f->cancels, 2);
    /* A parked request still waiting when the server is freed is cancelled by the free. */
    assert_true(raw_open(f, &c, false));
    assert_true(raw_send(&c, park, strlen(park)));
    wait_for(&f->parked, 3);
    fx_halt(f);
    assert_int_equal(atomic_load(&f->cancels), 2);
    kq_http_server_free(f->s);
    f->s = NULL;
    assert_int_equal(atomic_load(&f->cancels), 3);
    raw_close(&c);
    fx_free(f);
}

static void test_keepalive(void **state)
{
    struct fx *f = fx_start(NULL);
    CURL *h = curl_easy_init();
    struct resp r;
    long connects;
    (void)state;
    struct call c = {"GET", "/v1/hello", NULL, NULL, -1, CRED_TOKEN, NULL};
    struct call e = {"POST", "/v1/echo", "application/json", "{\"n\":1}", -1, CRED_TOKEN, NULL};
    for (int i = 0; i < 4; i++) {
        http_on(h, f, i % 2 ? &e : &c, &r);
        assert_int_equal(r.status, i % 2 ? 201 : 200);
        resp_free(&r);
        curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
        assert_int_equal(connects, i == 0 ? 1 : 0);
    }
    /* An error answered by the handler keeps the connection too. */
    c.path = "/v1/nope";
    http_on(h, f, &c, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    c.path = "/v1/hello";
    http_on(h, f, &c, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
    assert_int_equal(connects, 0);
    curl_easy_cleanup(h);

    /* Three requests in one write: answered in order on the one connection. */
    struct raw pc;
    int status;
    json_t *body;
    const char *three = "GET /v1/hello HTTP/1.1\r\nHost: x\r\n\r\n"
                        "POST /v1/echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN
                        "\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"n\":2}"
                        "GET /v1/nope HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_true(raw_open(f, &pc, false));
    assert_true(raw_send(&pc, three, strlen(three)));
    assert_true(raw_response(&pc, &status, &body));
    assert_int_equal(status, 200);
    json_decref(body);
    assert_true(raw_response(&pc, &status, &body));
    assert_int_equal(status, 201);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(body, "got"), "n")), 2);
    json_decref(body);
    assert_true(raw_response(&pc, &status, &body));
    assert_int_equal(status, 404);
    json_decref(body);
    raw_close(&pc);
    fx_stop(f);
}

static void test_max_connections(void **state)
{
    struct kq_http_limits lim;
    struct raw a, b, extra;
    int status;
    json_t *body;
    (void)state;
    kq_http_limits_default(&lim);
    lim.max_connections = 2;
    struct fx *f = fx_start(&lim);
    assert_true(raw_open(f, &a, false));
    assert_true(raw_open(f, &b, false));
    /* The third is closed at accept: no handshake completes, or nothing is ever answered. */
    bool open = raw_open(f, &extra, false);
    const char *req = "GET /v1/hello HTTP/1.1\r\nHost: x\r\n\r\n";
    if (open)
        open = raw_send(&extra, req, strlen(req)) && raw_response(&extra, &status, &body);
    assert_false(open);
    raw_close(&extra);
    /* The two admitted ones work. */
    assert_true(raw_send(&a, req, strlen(req)));
    assert_true(raw_response(&a, &status, &body));
    assert_int_equal(status, 200);
    json_decref(body);
    raw_close(&a);
    raw_close(&b);
    fx_halt(f);
    struct kq_http_stats st;
    kq_http_stats_get(f->s, &st);
    assert_int_equal(st.rejected_connections, 1);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pattern_check), cmocka_unit_test(test_path_match),
        cmocka_unit_test(test_server_args),   cmocka_unit_test(test_auth),
        cmocka_unit_test(test_errors),        cmocka_unit_test(test_raw_errors),
        cmocka_unit_test(test_read_timeout),  cmocka_unit_test(test_close_after_reply),
        cmocka_unit_test(test_write_timeout), cmocka_unit_test(test_deferred),
        cmocka_unit_test(test_keepalive),     cmocka_unit_test(test_max_connections),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
