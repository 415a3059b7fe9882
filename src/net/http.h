/* The HTTP/1.1 JSON API server: evhttp over TLS (bufferevent_openssl), a bounded router with
 * {param} captures, pluggable authentication (client certificate or bearer token), JSON bodies
 * and JSON errors, per-connection deadlines, deferred replies. Single-threaded: every function
 * runs on the thread of the event_base. The process must ignore SIGPIPE (OpenSSL writes with
 * write(2)). docs/api.md has the rules clients see and what evhttp 2.1 still does by itself. */
#ifndef KQ_NET_HTTP_H
#define KQ_NET_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "base/assert.h"
#include "base/limits.h"

struct kq_http_server;

struct kq_http_limits {
    size_t max_body_bytes;    /* default KQ_HTTP_MAX_BODY_BYTES (2 MiB: 1 MiB plaintext as base64 +
                                 JSON) */
    size_t max_header_bytes;  /* default KQ_HTTP_MAX_HEADER_BYTES (16 KiB) */
    unsigned read_timeout_s;  /* a request must arrive whole within this; default 10 */
    unsigned write_timeout_s; /* default 10 */
    unsigned max_connections; /* default KQ_HTTP_MAX_CONNECTIONS (1024); further connections are
                                 closed at accept */
};
/* Fills *l with the defaults above. */
void kq_http_limits_default(struct kq_http_limits *l);

/* Who is calling. Filled by the auth callback. */
struct kq_http_principal {
    bool authenticated;
    bool via_cert; /* client certificate (mTLS) vs bearer token */
    char name[65];
    uint32_t roles; /* KQ_CLIENT_ROLE_* bits (src/base/roles.h) */
};
/* Called for routes that require auth. ssl: the connection's TLS session (peer cert may be absent);
 * bearer: the token after "Authorization: Bearer " or NULL. Return KQ_OK and fill *out, or
 * KQ_ERR_AUTH (-> 401 {"error":{"code":"unauthenticated",...}}). Any other error is answered as
 * kq_http_reply_err would (for instance KQ_ERR_STORE -> 500). */
typedef enum kq_err (*kq_http_auth_fn)(void *ctx, SSL *ssl, const char *bearer,
                                       struct kq_http_principal *out);

struct kq_http_req; /* opaque: one request in flight */
typedef void (*kq_http_handler)(struct kq_http_req *req, void *ctx);

enum kq_http_route_flags {
    KQ_ROUTE_PUBLIC = 1u << 0,    /* no auth */
    KQ_ROUTE_JSON_BODY = 1u << 1, /* body must be a JSON object */
};

/* A server on base using ctx (borrowed: both must outlive the server) for every connection.
 * limits NULL means the defaults; auth NULL answers every non-public route with 401. Returns
 * NULL if a limit is zero or out of range (max_body_bytes and max_header_bytes at least
 * KQ_HTTP_MIN_LIMIT_BYTES, max_connections at most KQ_HTTP_MAX_CONNECTIONS_CEILING) or an
 * allocation fails. */
struct kq_http_server *kq_http_server_new(struct event_base *base, SSL_CTX *ctx,
                                          const struct kq_http_limits *limits, kq_http_auth_fn auth,
                                          void *auth_ctx);
/* method "GET"/"POST"/"PUT"/"DELETE"; pattern like "/v1/keys/{name}/encrypt" ({x} matches one
 * non-empty segment, captured). Bounded number of routes. Routes are tried in the order they were
 * added; the first whose pattern and method match wins. KQ_ERR_INVALID_ARG for another method or
 * a bad pattern (see kq_http_pattern_check) or a (method, pattern) pair already routed,
 * KQ_ERR_LIMIT past KQ_HTTP_MAX_ROUTES. ctx is borrowed. */
KQ_MUST_USE enum kq_err kq_http_route(struct kq_http_server *s, const char *method,
                                      const char *pattern, unsigned flags, kq_http_handler h,
                                      void *ctx);
/* Binds host:port (port 0 = ephemeral); *bound_port gets the real port. KQ_ERR_NET if the
 * address cannot be bound, KQ_ERR_LIMIT past KQ_HTTP_MAX_LISTENERS. */
KQ_MUST_USE enum kq_err kq_http_listen(struct kq_http_server *s, const char *host, uint16_t port,
                                       uint16_t *bound_port);
/* Closes listeners and connections; deferred requests still pending get their cancel callback.
 * NULL is allowed. */
void kq_http_server_free(struct kq_http_server *s);

/* Optional request log: called once per answered request (including the errors evhttp itself
 * produces, with method and path "-"), with the request path without its query, the status and
 * the microseconds from the complete request to the reply. Nothing secret is passed. */
typedef void (*kq_http_log_fn)(void *ctx, const char *method, const char *path, int status,
                               uint64_t duration_us);
void kq_http_set_log(struct kq_http_server *s, kq_http_log_fn fn, void *ctx);

/* Request accessors (valid until the reply is sent or the request is cancelled). */
const char *kq_http_method(const struct kq_http_req *r);
const char *kq_http_path(const struct kq_http_req *r); /* raw path, without the query */
const char *kq_http_param(const struct kq_http_req *r,
                          const char *name); /* captured {name}, percent-decoded, NULL if none */
const char *kq_http_query(const struct kq_http_req *r,
                          const char *name); /* decoded query arg or NULL */
json_t *
kq_http_body(const struct kq_http_req *r); /* borrowed; parsed when KQ_ROUTE_JSON_BODY, else NULL */
const struct kq_http_principal *
kq_http_who(const struct kq_http_req *r); /* zeroed on public routes */

/* Replies (exactly one per request; they take ownership of / steal the json and free the
 * request). Every reply carries Content-Type: application/json and Cache-Control: no-store. */
void kq_http_reply_json(struct kq_http_req *r, int status,
                        json_t *body /* stolen; NULL answers 500 out_of_memory */);
void kq_http_reply_error(struct kq_http_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Maps err (not KQ_OK) to a status (table in docs/api.md), code kq_errcode(err); message NULL
 * uses kq_strerror(err). */
void kq_http_reply_err(struct kq_http_req *r, enum kq_err err, const char *message);

/* Deferred replies: a handler may return without replying (e.g. waiting for a commit), keep r, and
 * reply later from the event loop. If the client goes away first, cancel(cctx) is called once and r
 * becomes invalid; after a reply cancel is never called. Call at most once, from the handler. */
void kq_http_defer(struct kq_http_req *r, void (*cancel)(void *cctx), void *cctx);

/* Counters for /v1/sys/metrics and tests. requests: complete requests, counted when they reach
 * the router, plus those evhttp refused by itself; errors_*: replies by status class; timeouts:
 * connections closed by a read or write deadline; rejected_connections: closed at accept past
 * max_connections; open_connections: accepted and not yet released (released from the loop
 * shortly after the close). */
struct kq_http_stats {
    uint64_t requests, errors_4xx, errors_5xx, timeouts, rejected_connections;
    size_t open_connections;
};
void kq_http_stats_get(const struct kq_http_server *s, struct kq_http_stats *out);

/* The router's pure parts, exposed for tests and the fuzz harness. */

/* KQ_OK iff pattern is "/" followed by 1..KQ_HTTP_MAX_SEGMENTS non-empty segments separated by
 * "/", each either literal characters [A-Za-z0-9._~-] or a whole-segment capture "{name}" with
 * name 1..KQ_HTTP_MAX_PARAM_NAME_BYTES of [a-z0-9_], at most KQ_HTTP_MAX_PARAMS captures, no
 * name twice, at most KQ_HTTP_MAX_PATTERN_BYTES in all; KQ_ERR_INVALID_ARG otherwise. */
KQ_MUST_USE enum kq_err kq_http_pattern_check(const char *pattern);

/* Captures of one match. value[i] points into store and is NUL-terminated. */
struct kq_http_captures {
    unsigned n;
    char name[KQ_HTTP_MAX_PARAMS][KQ_HTTP_MAX_PARAM_NAME_BYTES + 1];
    const char *value[KQ_HTTP_MAX_PARAMS];
    char store[KQ_HTTP_MAX_PATH_BYTES + 1];
};

/* Matches the raw request path (path_len bytes, no query) against a checked pattern. KQ_OK with
 * *out filled; KQ_ERR_NOT_FOUND if the path has another shape (other literals, segment count,
 * empty segment, longer than KQ_HTTP_MAX_PATH_BYTES); KQ_ERR_FORMAT if the shape matches but a
 * captured segment is not valid percent-encoding or decodes to a NUL byte. out->n is 0 on
 * failure. */
KQ_MUST_USE enum kq_err kq_http_path_match(const char *pattern, const char *path, size_t path_len,
                                           struct kq_http_captures *out);

#endif
