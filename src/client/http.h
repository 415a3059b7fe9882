/* The CLI's HTTPS client (libcurl): where to connect and with which credentials, read from the
 * dev cluster's env file and the KQ_* environment variables, and one JSON request helper that
 * turns every failure (unreachable, TLS, non-JSON, an API error body) into one clear message. */
#ifndef KQ_CLIENT_HTTP_H
#define KQ_CLIENT_HTTP_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>

/* Addresses one CLI invocation may address (KQ_ADDRS): a dev cluster has at most 16 nodes. */
#define KQ_CLI_MAX_ADDRS 64
#define KQ_CLI_MAX_ADDR  256
/* Replies the CLI accepts: health, blocks and key listings are far below this. */
#define KQ_CLI_MAX_REPLY_BYTES (16 * 1024 * 1024)

struct kq_cli_conn {
    char addr[KQ_CLI_MAX_ADDR]; /* KQ_ADDR: https://host:port */
    size_t n_addrs;             /* KQ_ADDRS, or just addr */
    char addrs[KQ_CLI_MAX_ADDRS][KQ_CLI_MAX_ADDR];
    char cacert[PATH_MAX];
    char cert[PATH_MAX];
    char key[PATH_MAX];
    char token[256];
};

/* Fills c from env_file (lines `export K=V` or `K=V`) if given; otherwise from the file named by
 * $KQ_ENV, if any, with KQ_* environment variables overriding it. Returns false with a message in
 * err if no address or no CA certificate results, or the file is unreadable. */
bool kq_cli_conn_load(struct kq_cli_conn *c, const char *env_file, char *err, size_t errlen);

/* One request: method and path (e.g. "/v1/sys/health") against base (an https URL; NULL: c->addr),
 * body a JSON text or NULL. On a reply, *status is the HTTP status and *out the parsed JSON (the
 * caller json_decref's it). Returns false with a message in err if there was no usable reply
 * (connection, TLS, timeout, oversize, non-JSON body). */
bool kq_cli_request(const struct kq_cli_conn *c, const char *base, const char *method,
                    const char *path, const char *body, long timeout_ms, long *status, json_t **out,
                    char *err, size_t errlen);

/* Percent-encodes s for a URL query value (malloc'd; NULL on failure). */
char *kq_cli_urlencode(const char *s);

/* The message of an API error body {"error":{"code","message"}} or a fallback. */
const char *kq_cli_error_message(const json_t *body);

#endif
