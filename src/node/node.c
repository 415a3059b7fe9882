/* The node: config -> store -> runtime -> cores -> API routes. Owns nothing the cores own; keeps
 * only what the API reports (start time, ids). Authentication is decided here: a bearer token is
 * matched by its SHA-256 against the configured hashes (every entry compared, in constant time);
 * a client certificate is mapped to roles by its name, and a node certificate counts as a node
 * only when its key is the identity pinned for that node id (the ledger's pin once the node is in
 * the committed state, the config's before). */
#include "node/node.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/log.h"
#include "base/mem.h"
#include "core/heartbeat.h"
#include "net/runtime.h"
#include "net/tls.h"
#include "node/config.h"
#include "node/keys_node.h"
#include "node/ledger_node.h"
#include "store/store.h"
#include "wire/frame.h"

struct node {
    struct kq_node_config *cfg;
    struct kq_store *store;
    struct kq_runtime *rt;
    struct kq_core_host *hb;
    struct kq_ledger_node *ledger; /* NULL when the config names no genesis */
    struct kq_keys_node *keys;     /* keys API and cores; NULL without a ledger */
    struct kq_heartbeat_config hb_cfg;
    uint64_t started_ms;
    char pid_path[PATH_MAX + 16];
    struct kq_peer_conf peers[KQ_CONFIG_MAX_PEERS];
};

static enum kq_err auth_token(const struct node *n, const char *bearer,
                              struct kq_http_principal *out)
{
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)bearer, strlen(bearer));
    int found = -1;
    for (size_t i = 0; i < n->cfg->n_tokens; i++) /* no early exit: every entry is compared */
        if (kq_ct_eq(h, n->cfg->tokens[i].sha256, sizeof h) && found < 0)
            found = (int)i;
    kq_wipe(h, sizeof h);
    if (found < 0)
        return KQ_ERR_AUTH;
    out->authenticated = true;
    out->via_cert = false;
    snprintf(out->name, sizeof out->name, "%s", n->cfg->tokens[found].name);
    out->roles = n->cfg->tokens[found].roles;
    return KQ_OK;
}

/* The pinned peers: from the committed ledger state once the node is in it, else the config's. */
static const struct kq_peer_conf *node_peers(const struct node *n, size_t *count)
{
    const struct kq_peer_conf *p =
        n->ledger != NULL ? kq_ledger_node_peers(n->ledger, count) : NULL;
    if (p != NULL)
        return p;
    *count = n->cfg->n_peers;
    return n->peers;
}

static enum kq_err auth_cert(const struct node *n, SSL *ssl, struct kq_http_principal *out)
{
    struct kq_tls_identity id;
    KQ_ENSURE(ssl != NULL && kq_tls_peer_identity(ssl, &id) == KQ_OK, KQ_ERR_AUTH);
    out->via_cert = true;
    snprintf(out->name, sizeof out->name, "%s", id.name);
    if (id.is_node) { /* a node is trusted as one only with its pinned key */
        size_t count = 0;
        const struct kq_peer_conf *peers = node_peers(n, &count);
        for (size_t i = 0; i < count; i++)
            if (kq_tls_check_node(&id, peers[i].id, peers[i].identity) == KQ_OK) {
                out->roles = KQ_CLIENT_ROLE_NODE;
                out->authenticated = true;
                return KQ_OK;
            }
        return KQ_ERR_AUTH;
    }
    out->roles = KQ_CLIENT_ROLE_USER;
    for (size_t i = 0; i < n->cfg->n_clients; i++)
        if (strcmp(n->cfg->clients[i].name, id.name) == 0)
            out->roles = n->cfg->clients[i].roles;
    out->authenticated = true;
    return KQ_OK;
}

static enum kq_err node_auth(void *ctx, SSL *ssl, const char *bearer, struct kq_http_principal *out)
{
    const struct node *n = ctx;
    memset(out, 0, sizeof *out);
    if (bearer != NULL) /* a token that is presented must be valid, whatever else is */
        return auth_token(n, bearer, out);
    return auth_cert(n, ssl, out);
}

static json_t *roles_json(unsigned roles)
{
    static const char *const names[] = {"validator", "keeper", "orchestrator"};
    json_t *a = json_array();
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (roles & (1u << i))
            json_array_append_new(a, json_string(names[i]));
    return a;
}

static json_t *peers_json(const struct node *n, size_t *alive_connected)
{
    const void *hb = kq_core_host_state(n->hb);
    struct kq_peer_net *net = kq_runtime_peers(n->rt);
    json_t *a = json_array();
    *alive_connected = 0;
    size_t count = 0;
    const struct kq_peer_conf *peers = node_peers(n, &count);
    for (size_t i = 0; i < count; i++) {
        uint32_t id = peers[i].id;
        bool up = kq_peer_net_connected(net, id), alive = kq_heartbeat_alive(hb, id);
        if (up && alive)
            (*alive_connected)++;
        json_array_append_new(a, json_pack("{s:I,s:b,s:b,s:I}", "id", (json_int_t)id, "connected",
                                           up, "alive", alive, "incarnation",
                                           (json_int_t)kq_heartbeat_peer_incarnation(hb, id)));
    }
    return a;
}

static void h_health(struct kq_http_req *req, void *ctx)
{
    struct node *n = ctx;
    const void *hb = kq_core_host_state(n->hb);
    size_t live = 0;
    json_t *peers = peers_json(n, &live);
    char name[32];
    snprintf(name, sizeof name, "node-%u", n->cfg->node_id);
    bool ready = kq_heartbeat_ready(hb);
    json_t *versions = json_pack(
        "{s:s,s:s,s:i,s:i,s:s,s:s,s:s,s:s}", "keyquorum", KQ_VERSION_STRING, "api", KQ_API_VERSION,
        "frame", KQ_FRAME_VERSION, "store_schema", kq_store_schema_version(n->store), "openssl",
        kq_runtime_tls_version(), "libevent", kq_runtime_event_version(), "libsodium",
        sodium_version_string(), "jansson", JANSSON_VERSION);
    json_t *body = json_pack(
        "{s:I,s:s,s:o,s:s,s:b,s:I,s:I,s:I,s:o,s:o,s:I}", "node_id", (json_int_t)n->cfg->node_id,
        "name", name, "roles", roles_json(n->cfg->roles), "status", ready ? "ok" : "starting",
        "ready", ready, "incarnation", (json_int_t)kq_heartbeat_incarnation(hb), "peers_expected",
        (json_int_t)json_array_size(peers), "connected_peers", (json_int_t)live, "peers", peers,
        "versions", versions, "uptime_s",
        (json_int_t)((kq_runtime_now_ms() - n->started_ms) / 1000));
    if (n->ledger != NULL)
        json_object_set_new(body, "ledger", kq_ledger_node_health(n->ledger));
    if (n->keys != NULL)
        json_object_set_new(body, "keys", kq_keys_node_health(n->keys));
    kq_http_reply_json(req, 200, body);
}

static void h_metrics(struct kq_http_req *req, void *ctx)
{
    struct node *n = ctx;
    struct kq_http_stats hs;
    struct kq_peer_stats ps;
    kq_http_stats_get(kq_runtime_http(n->rt), &hs);
    kq_peer_net_stats(kq_runtime_peers(n->rt), &ps);
    json_t *body = json_pack(
        "{s:{s:I,s:I,s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I}}", "http", "requests",
        (json_int_t)hs.requests, "errors_4xx", (json_int_t)hs.errors_4xx, "errors_5xx",
        (json_int_t)hs.errors_5xx, "timeouts", (json_int_t)hs.timeouts, "rejected_connections",
        (json_int_t)hs.rejected_connections, "open_connections", (json_int_t)hs.open_connections,
        "peers", "frames_in", (json_int_t)ps.frames_in, "frames_out", (json_int_t)ps.frames_out,
        "bytes_in", (json_int_t)ps.bytes_in, "bytes_out", (json_int_t)ps.bytes_out,
        "rejected_handshakes", (json_int_t)ps.rejected_handshakes, "bad_frames",
        (json_int_t)ps.bad_frames, "reconnects", (json_int_t)ps.reconnects);
    kq_http_reply_json(req, 200, body);
}

/* PUT /v1/sys/log {"level":"debug"}: admins change the log level of a running node. */
static void h_log_level(struct kq_http_req *req, void *ctx)
{
    (void)ctx;
    if (!(kq_http_who(req)->roles & KQ_CLIENT_ROLE_ADMIN)) {
        kq_http_reply_error(req, 403, "forbidden", "changing the log level needs the admin role");
        return;
    }
    json_t *body = kq_http_body(req);
    json_t *lvl = json_object_get(body, "level");
    enum kq_log_level level;
    if (json_object_size(body) != 1 || !json_is_string(lvl) ||
        !kq_log_level_parse(json_string_value(lvl), &level)) {
        kq_http_reply_error(req, 400, "invalid_argument",
                            "body must be {\"level\": \"debug\"|\"info\"|\"warn\"|\"error\"}");
        return;
    }
    kq_log_set_level(level);
    KQ_LOG(KQ_LOG_INFO, "log_level_changed", KQ_LS("level", kq_log_level_name(level)),
           KQ_LS("by", kq_http_who(req)->name));
    kq_http_reply_json(req, 200, json_pack("{s:s}", "level", kq_log_level_name(level)));
}

static void on_hb_status(void *ctx, struct kq_core_host *host, const struct kq_action *a)
{
    (void)ctx;
    (void)host;
    switch (a->status) {
    case KQ_STATUS_PEER_ALIVE:
        KQ_LOG(KQ_LOG_INFO, "peer_alive", KQ_LU("peer", a->peer), KQ_LU("incarnation", a->value));
        return;
    case KQ_STATUS_PEER_DEAD:
        KQ_LOG(KQ_LOG_WARN, "peer_dead", KQ_LU("peer", a->peer));
        return;
    case KQ_STATUS_PEER_RESTARTED:
        KQ_LOG(KQ_LOG_INFO, "peer_restarted", KQ_LU("peer", a->peer),
               KQ_LU("incarnation", a->value));
        return;
    case KQ_STATUS_READY:
        KQ_LOG(KQ_LOG_INFO, "ready", KQ_LU("incarnation", a->value));
        return;
    case KQ_STATUS_COMMITTED: /* not heartbeat statuses */
    case KQ_STATUS_SUBMIT_TX:
    case KQ_STATUS_KEEPER_FAULTY:
        return;
    }
}

static enum kq_err add_routes(struct node *n)
{
    struct kq_http_server *http = kq_runtime_http(n->rt);
    KQ_GUARD(kq_http_route(http, "GET", "/v1/sys/health", 0, h_health, n));
    KQ_GUARD(kq_http_route(http, "GET", "/v1/sys/metrics", 0, h_metrics, n));
    return kq_http_route(http, "PUT", "/v1/sys/log", KQ_ROUTE_JSON_BODY, h_log_level, n);
}

static enum kq_err open_data_dir(struct node *n)
{
    const struct kq_node_config *cfg = n->cfg;
    if (mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST) {
        KQ_LOG(KQ_LOG_ERROR, "data_dir_failed", KQ_LS("path", cfg->data_dir),
               KQ_LS("reason", strerror(errno)));
        return KQ_ERR_IO;
    }
    char db[PATH_MAX + 16];
    snprintf(db, sizeof db, "%s/node.db", cfg->data_dir);
    enum kq_err err = kq_store_open(db, KQ_STORE_DURABLE | KQ_STORE_SECRETS, &n->store);
    if (err != KQ_OK) {
        KQ_LOG(KQ_LOG_ERROR, "store_open_failed", KQ_LS("path", db),
               KQ_LS("reason", kq_errcode(err)));
        return err;
    }
    snprintf(n->pid_path, sizeof n->pid_path, "%s/node.pid", cfg->data_dir);
    FILE *f = fopen(n->pid_path, "w");
    if (f != NULL) {
        fprintf(f, "%ld\n", (long)getpid());
        fclose(f);
    }
    return KQ_OK;
}

static enum kq_err start_runtime(struct node *n)
{
    const struct kq_node_config *cfg = n->cfg;
    for (size_t i = 0; i < cfg->n_peers; i++) {
        n->peers[i].id = cfg->peers[i].id;
        snprintf(n->peers[i].host, sizeof n->peers[i].host, "%s", cfg->peers[i].host);
        n->peers[i].port = cfg->peers[i].port;
        memcpy(n->peers[i].identity, cfg->peers[i].identity, 32);
    }
    struct kq_runtime_config rc = {.self_id = cfg->node_id,
                                   .peers = n->peers,
                                   .n_peers = cfg->n_peers,
                                   .tls_ca = cfg->tls_ca,
                                   .tls_cert = cfg->tls_cert,
                                   .tls_key = cfg->tls_key,
                                   .api_host = cfg->api_host,
                                   .api_port = cfg->api_port,
                                   .peer_host = cfg->peer_host,
                                   .peer_port = cfg->peer_port,
                                   .auth = node_auth,
                                   .auth_ctx = n};
    kq_http_limits_default(&rc.http_limits);
    rc.http_limits.max_body_bytes = cfg->api_max_body_bytes;
    rc.http_limits.read_timeout_s = cfg->api_read_timeout_s;
    rc.http_limits.write_timeout_s = cfg->api_write_timeout_s;
    rc.http_limits.max_connections = cfg->api_max_connections;
    enum kq_err err;
    n->rt = kq_runtime_new(&rc, &err);
    if (n->rt == NULL) {
        KQ_LOG(KQ_LOG_ERROR, "runtime_failed", KQ_LS("reason", kq_errcode(err)),
               KQ_LS("detail", kq_strerror(err)));
        return err;
    }
    n->hb_cfg.interval_ms = cfg->hb_interval_ms;
    n->hb_cfg.timeout_ms = cfg->hb_timeout_ms;
    n->hb = kq_runtime_add_core(n->rt, &kq_heartbeat_ops, &n->hb_cfg, n->store, KQ_FRAME_HEARTBEAT,
                                KQ_FRAME_HEARTBEAT, on_hb_status, n);
    if (cfg->ledger_genesis[0] != '\0')
        KQ_GUARD(kq_ledger_node_start(n->rt, n->store, cfg, &n->ledger));
    if (n->ledger != NULL)
        KQ_GUARD(kq_keys_node_start(n->rt, n->store, cfg, n->ledger, &n->keys));
    return add_routes(n);
}

static int run_node(struct node *n)
{
    char roles[64];
    KQ_LOG(KQ_LOG_INFO, "starting", KQ_LS("version", KQ_VERSION_STRING),
           KQ_LS("roles", kq_node_roles_str(n->cfg->roles, roles, sizeof roles)),
           KQ_LU("peers", n->cfg->n_peers));
    if (open_data_dir(n) != KQ_OK || start_runtime(n) != KQ_OK)
        return 1;
    KQ_LOG(KQ_LOG_INFO, "listening", KQ_LS("api", n->cfg->api_host),
           KQ_LU("api_port", kq_runtime_api_port(n->rt)), KQ_LS("peer", n->cfg->peer_host),
           KQ_LU("peer_port", kq_runtime_peer_port(n->rt)));
    return kq_runtime_run(n->rt) == KQ_OK ? 0 : 1;
}

int kq_node_main(const char *config_path)
{
    struct node n = {.started_ms = kq_runtime_now_ms()};
    n.cfg = calloc(1, sizeof *n.cfg);
    KQ_ASSERT(n.cfg != NULL);
    char why[512];
    if (kq_node_config_load(config_path, n.cfg, why, sizeof why) != KQ_OK) {
        fprintf(stderr, "keyquorum server: %s\n", why);
        free(n.cfg);
        return 2;
    }
    kq_log_setup(stderr, n.cfg->log_level, n.cfg->node_id);
    int rc = run_node(&n);
    kq_keys_node_stop(n.keys);
    kq_ledger_node_stop(n.ledger);
    kq_runtime_free(n.rt);
    kq_keys_node_free(n.keys);
    kq_ledger_node_free(n.ledger);
    kq_store_close(n.store);
    if (n.pid_path[0] != '\0')
        unlink(n.pid_path);
    KQ_LOG(KQ_LOG_INFO, "stopped", KQ_LI("exit_code", rc));
    free(n.cfg);
    return rc;
}
