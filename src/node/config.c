/* Strict loader for the node configuration (config.h). Every object is checked for unknown keys
 * and every value for type and range; the first problem is reported with its JSON path. */
#include "node/config.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/assert.h"
#include "base/limits.h"

struct ctx {
    char *err;
    size_t errlen;
    char base[PATH_MAX]; /* directory of the config file */
};

__attribute__((format(printf, 2, 3))) static enum kq_err fail(struct ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    return KQ_ERR_CONFIG;
}

/* Rejects keys of obj not in allowed (NULL-terminated). */
static enum kq_err only_keys(struct ctx *c, json_t *obj, const char *where,
                             const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok)
            return fail(c, "%s: unknown key \"%s\"", where, key);
    }
    return KQ_OK;
}

static enum kq_err get_object(struct ctx *c, json_t *obj, const char *key, bool required,
                              json_t **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL)
        return required ? fail(c, "missing \"%s\"", key) : KQ_OK;
    if (!json_is_object(v))
        return fail(c, "\"%s\" must be an object", key);
    *out = v;
    return KQ_OK;
}

static enum kq_err get_uint(struct ctx *c, json_t *obj, const char *where, const char *key,
                            uint64_t min, uint64_t max, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL)
        return KQ_OK; /* keep the default already in *out */
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return fail(c, "%s.%s must be a non-negative integer", where, key);
    uint64_t x = (uint64_t)json_integer_value(v);
    if (x < min || x > max)
        return fail(c, "%s.%s must be in %llu..%llu", where, key, (unsigned long long)min,
                    (unsigned long long)max);
    *out = x;
    return KQ_OK;
}

static enum kq_err get_string(struct ctx *c, json_t *obj, const char *where, const char *key,
                              bool required, const char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL)
        return required ? fail(c, "%s: missing \"%s\"", where, key) : KQ_OK;
    if (!json_is_string(v) || json_string_length(v) == 0)
        return fail(c, "%s.%s must be a non-empty string", where, key);
    *out = json_string_value(v);
    return KQ_OK;
}

static enum kq_err get_path(struct ctx *c, json_t *obj, const char *where, const char *key,
                            char *out, size_t out_len)
{
    const char *s;
    KQ_GUARD(get_string(c, obj, where, key, true, &s));
    int n =
        s[0] == '/' ? snprintf(out, out_len, "%s", s) : snprintf(out, out_len, "%s/%s", c->base, s);
    if (n < 0 || (size_t)n >= out_len)
        return fail(c, "%s.%s: path too long", where, key);
    return KQ_OK;
}

static enum kq_err get_hex32(struct ctx *c, json_t *obj, const char *where, const char *key,
                             uint8_t out[32])
{
    const char *s;
    KQ_GUARD(get_string(c, obj, where, key, true, &s));
    if (strlen(s) != 64)
        return fail(c, "%s.%s must be 64 hex digits", where, key);
    for (size_t i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", s[2 * i]) ||
            !strchr("0123456789abcdefABCDEF", s[2 * i + 1]))
            return fail(c, "%s.%s must be 64 hex digits", where, key);
        out[i] = (uint8_t)v;
    }
    return KQ_OK;
}

bool kq_parse_hostport(const char *s, bool allow_zero, char *host, size_t host_len, uint16_t *port)
{
    const char *colon = s != NULL ? strrchr(s, ':') : NULL;
    if (colon == NULL || colon == s || (size_t)(colon - s) >= host_len)
        return false;
    char *end;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || end == colon + 1 || p > 65535 || (p == 0 && !allow_zero))
        return false;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    *port = (uint16_t)p;
    return true;
}

static enum kq_err get_addr(struct ctx *c, json_t *obj, const char *where, const char *key,
                            bool allow_zero, char *host, uint16_t *port)
{
    const char *s;
    KQ_GUARD(get_string(c, obj, where, key, true, &s));
    if (!kq_parse_hostport(s, allow_zero, host, KQ_CONFIG_MAX_HOST, port))
        return fail(c, "%s.%s must be \"host:port\"", where, key);
    return KQ_OK;
}

static const char *const node_role_names[] = {"validator", "keeper", "orchestrator", NULL};
static const char *const client_role_names[] = {"user", "admin", "node", NULL};

static enum kq_err get_roles(struct ctx *c, json_t *obj, const char *where,
                             const char *const *names, uint32_t *out)
{
    json_t *arr = json_object_get(obj, "roles");
    if (arr == NULL)
        return KQ_OK;
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return fail(c, "%s.roles must be a non-empty array", where);
    uint32_t roles = 0;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        uint32_t bit = 0;
        for (size_t k = 0; names[k] != NULL && json_is_string(v); k++)
            if (strcmp(json_string_value(v), names[k]) == 0)
                bit = 1u << k;
        if (bit == 0)
            return fail(c, "%s.roles[%zu]: unknown role", where, i);
        roles |= bit;
    }
    *out = roles;
    return KQ_OK;
}

static enum kq_err get_name(struct ctx *c, json_t *obj, const char *where, char *out)
{
    const char *s;
    KQ_GUARD(get_string(c, obj, where, "name", true, &s));
    if (strlen(s) > KQ_CONFIG_MAX_NAME)
        return fail(c, "%s.name longer than %d bytes", where, KQ_CONFIG_MAX_NAME);
    strcpy(out, s);
    return KQ_OK;
}

static enum kq_err load_peers(struct ctx *c, json_t *root, struct kq_node_config *cfg)
{
    static const char *const keys[] = {"id", "addr", "identity", NULL};
    json_t *arr = json_object_get(root, "peers");
    if (arr == NULL)
        return KQ_OK;
    if (!json_is_array(arr) || json_array_size(arr) > KQ_CONFIG_MAX_PEERS)
        return fail(c, "peers must be an array of at most %d entries", KQ_CONFIG_MAX_PEERS);
    size_t i;
    json_t *p;
    json_array_foreach(arr, i, p)
    {
        char where[32];
        snprintf(where, sizeof where, "peers[%zu]", i);
        if (!json_is_object(p))
            return fail(c, "%s must be an object", where);
        KQ_GUARD(only_keys(c, p, where, keys));
        struct kq_config_peer *peer = &cfg->peers[i];
        uint64_t id = 0;
        KQ_GUARD(get_uint(c, p, where, "id", 1, 65535, &id));
        if (id == 0)
            return fail(c, "%s: missing \"id\"", where);
        if (id == cfg->node_id)
            return fail(c, "%s.id is this node's own id", where);
        for (size_t k = 0; k < i; k++)
            if (cfg->peers[k].id == id)
                return fail(c, "%s.id %llu appears twice", where, (unsigned long long)id);
        peer->id = (uint32_t)id;
        KQ_GUARD(get_addr(c, p, where, "addr", false, peer->host, &peer->port));
        KQ_GUARD(get_hex32(c, p, where, "identity", peer->identity));
        cfg->n_peers = i + 1;
    }
    return KQ_OK;
}

static enum kq_err load_tokens(struct ctx *c, json_t *root, struct kq_node_config *cfg)
{
    static const char *const keys[] = {"name", "sha256", "roles", NULL};
    json_t *arr = json_object_get(root, "tokens");
    if (arr == NULL)
        return KQ_OK;
    if (!json_is_array(arr) || json_array_size(arr) > KQ_CONFIG_MAX_TOKENS)
        return fail(c, "tokens must be an array of at most %d entries", KQ_CONFIG_MAX_TOKENS);
    size_t i;
    json_t *t;
    json_array_foreach(arr, i, t)
    {
        char where[32];
        snprintf(where, sizeof where, "tokens[%zu]", i);
        if (!json_is_object(t))
            return fail(c, "%s must be an object", where);
        KQ_GUARD(only_keys(c, t, where, keys));
        struct kq_config_token *tok = &cfg->tokens[i];
        KQ_GUARD(get_name(c, t, where, tok->name));
        KQ_GUARD(get_hex32(c, t, where, "sha256", tok->sha256));
        tok->roles = KQ_CLIENT_ROLE_USER;
        KQ_GUARD(get_roles(c, t, where, client_role_names, &tok->roles));
        cfg->n_tokens = i + 1;
    }
    return KQ_OK;
}

static enum kq_err load_clients(struct ctx *c, json_t *root, struct kq_node_config *cfg)
{
    static const char *const keys[] = {"name", "roles", NULL};
    json_t *arr = json_object_get(root, "clients");
    if (arr == NULL)
        return KQ_OK;
    if (!json_is_array(arr) || json_array_size(arr) > KQ_CONFIG_MAX_CLIENTS)
        return fail(c, "clients must be an array of at most %d entries", KQ_CONFIG_MAX_CLIENTS);
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        char where[32];
        snprintf(where, sizeof where, "clients[%zu]", i);
        if (!json_is_object(e))
            return fail(c, "%s must be an object", where);
        KQ_GUARD(only_keys(c, e, where, keys));
        KQ_GUARD(get_name(c, e, where, cfg->clients[i].name));
        cfg->clients[i].roles = KQ_CLIENT_ROLE_USER;
        KQ_GUARD(get_roles(c, e, where, client_role_names, &cfg->clients[i].roles));
        cfg->n_clients = i + 1;
    }
    return KQ_OK;
}

static enum kq_err load_api(struct ctx *c, json_t *root, struct kq_node_config *cfg)
{
    static const char *const keys[] = {"listen",          "max_body_bytes",  "read_timeout_s",
                                       "write_timeout_s", "max_connections", NULL};
    json_t *api;
    KQ_GUARD(get_object(c, root, "api", true, &api));
    KQ_GUARD(only_keys(c, api, "api", keys));
    KQ_GUARD(get_addr(c, api, "api", "listen", true, cfg->api_host, &cfg->api_port));
    uint64_t body = cfg->api_max_body_bytes, rt = cfg->api_read_timeout_s,
             wt = cfg->api_write_timeout_s, mc = cfg->api_max_connections;
    KQ_GUARD(get_uint(c, api, "api", "max_body_bytes", 1024, 64u * 1024 * 1024, &body));
    KQ_GUARD(get_uint(c, api, "api", "read_timeout_s", 1, 3600, &rt));
    KQ_GUARD(get_uint(c, api, "api", "write_timeout_s", 1, 3600, &wt));
    KQ_GUARD(get_uint(c, api, "api", "max_connections", 1, 65536, &mc));
    cfg->api_max_body_bytes = (size_t)body;
    cfg->api_read_timeout_s = (unsigned)rt;
    cfg->api_write_timeout_s = (unsigned)wt;
    cfg->api_max_connections = (unsigned)mc;
    return KQ_OK;
}

static enum kq_err load_ledger(struct ctx *c, json_t *root, struct kq_node_config *cfg)
{
    static const char *const keys[] = {"genesis",       "propose_ms",     "prevote_ms",
                                       "precommit_ms",  "delta_ms",       "commit_ms",
                                       "sync_retry_ms", "empty_block_ms", NULL};
    json_t *o;
    KQ_GUARD(get_object(c, root, "ledger", false, &o));
    if (o == NULL)
        return KQ_OK;
    KQ_GUARD(only_keys(c, o, "ledger", keys));
    KQ_GUARD(get_path(c, o, "ledger", "genesis", cfg->ledger_genesis, sizeof cfg->ledger_genesis));
    KQ_GUARD(get_uint(c, o, "ledger", "propose_ms", 10, 600000, &cfg->ledger_propose_ms));
    KQ_GUARD(get_uint(c, o, "ledger", "prevote_ms", 10, 600000, &cfg->ledger_prevote_ms));
    KQ_GUARD(get_uint(c, o, "ledger", "precommit_ms", 10, 600000, &cfg->ledger_precommit_ms));
    KQ_GUARD(get_uint(c, o, "ledger", "delta_ms", 1, 600000, &cfg->ledger_delta_ms));
    KQ_GUARD(get_uint(c, o, "ledger", "commit_ms", 1, 600000, &cfg->ledger_commit_ms));
    KQ_GUARD(get_uint(c, o, "ledger", "empty_block_ms", 0, 3600000, &cfg->ledger_empty_block_ms));
    return get_uint(c, o, "ledger", "sync_retry_ms", 10, 600000, &cfg->ledger_sync_retry_ms);
}

/* "keeper": {"frost_nonce_ttl_ms", "byzantine_partials"}; "orchestrator": {"keeper_timeout_ms",
 * "usage_report_ms"}. byzantine_partials is a fault-injection switch for tests: the keeper signs
 * wrong partials (its evidence then gets it quarantined). */
static enum kq_err load_keys(struct ctx *c, json_t *root, struct kq_node_config *cfg)
{
    static const char *const kk[] = {"frost_nonce_ttl_ms", "byzantine_partials", NULL};
    static const char *const ok[] = {"keeper_timeout_ms", "usage_report_ms", NULL};
    json_t *o;
    KQ_GUARD(get_object(c, root, "keeper", false, &o));
    if (o != NULL) {
        KQ_GUARD(only_keys(c, o, "keeper", kk));
        KQ_GUARD(get_uint(c, o, "keeper", "frost_nonce_ttl_ms", 100, 600000,
                          &cfg->keeper_frost_nonce_ttl_ms));
        json_t *b = json_object_get(o, "byzantine_partials");
        if (b != NULL && !json_is_boolean(b))
            return fail(c, "keeper.byzantine_partials must be a boolean");
        cfg->keeper_byzantine_partials = json_is_true(b);
    }
    KQ_GUARD(get_object(c, root, "orchestrator", false, &o));
    if (o == NULL)
        return KQ_OK;
    KQ_GUARD(only_keys(c, o, "orchestrator", ok));
    KQ_GUARD(get_uint(c, o, "orchestrator", "keeper_timeout_ms", 10, 600000,
                      &cfg->orch_keeper_timeout_ms));
    return get_uint(c, o, "orchestrator", "usage_report_ms", 100, 3600000,
                    &cfg->orch_usage_report_ms);
}

static enum kq_err load_sections(struct ctx *c, json_t *root, struct kq_node_config *cfg)
{
    static const char *const top[] = {"node_id", "roles",  "data_dir",  "api",          "peer",
                                      "tls",     "peers",  "heartbeat", "tokens",       "clients",
                                      "log",     "ledger", "keeper",    "orchestrator", NULL};
    static const char *const peer_keys[] = {"listen", NULL};
    static const char *const tls_keys[] = {"ca", "cert", "key", NULL};
    static const char *const hb_keys[] = {"interval_ms", "timeout_ms", NULL};
    static const char *const log_keys[] = {"level", NULL};
    KQ_GUARD(only_keys(c, root, "config", top));
    uint64_t id = 0;
    KQ_GUARD(get_uint(c, root, "config", "node_id", 1, 65535, &id));
    if (id == 0)
        return fail(c, "missing \"node_id\"");
    cfg->node_id = (uint32_t)id;
    KQ_GUARD(get_roles(c, root, "config", node_role_names, &cfg->roles));
    KQ_GUARD(get_path(c, root, "config", "data_dir", cfg->data_dir, sizeof cfg->data_dir));
    KQ_GUARD(load_api(c, root, cfg));
    json_t *o;
    KQ_GUARD(get_object(c, root, "peer", true, &o));
    KQ_GUARD(only_keys(c, o, "peer", peer_keys));
    KQ_GUARD(get_addr(c, o, "peer", "listen", true, cfg->peer_host, &cfg->peer_port));
    KQ_GUARD(get_object(c, root, "tls", true, &o));
    KQ_GUARD(only_keys(c, o, "tls", tls_keys));
    KQ_GUARD(get_path(c, o, "tls", "ca", cfg->tls_ca, sizeof cfg->tls_ca));
    KQ_GUARD(get_path(c, o, "tls", "cert", cfg->tls_cert, sizeof cfg->tls_cert));
    KQ_GUARD(get_path(c, o, "tls", "key", cfg->tls_key, sizeof cfg->tls_key));
    KQ_GUARD(get_object(c, root, "heartbeat", false, &o));
    if (o != NULL) {
        KQ_GUARD(only_keys(c, o, "heartbeat", hb_keys));
        KQ_GUARD(get_uint(c, o, "heartbeat", "interval_ms", 10, 60000, &cfg->hb_interval_ms));
        KQ_GUARD(get_uint(c, o, "heartbeat", "timeout_ms", 20, 600000, &cfg->hb_timeout_ms));
    }
    if (cfg->hb_timeout_ms <= cfg->hb_interval_ms)
        return fail(c, "heartbeat.timeout_ms must exceed heartbeat.interval_ms");
    KQ_GUARD(get_object(c, root, "log", false, &o));
    if (o != NULL) {
        const char *lvl;
        KQ_GUARD(only_keys(c, o, "log", log_keys));
        KQ_GUARD(get_string(c, o, "log", "level", false, &lvl));
        if (lvl != NULL && !kq_log_level_parse(lvl, &cfg->log_level))
            return fail(c, "log.level must be debug, info, warn or error");
    }
    KQ_GUARD(load_ledger(c, root, cfg));
    KQ_GUARD(load_keys(c, root, cfg));
    KQ_GUARD(load_peers(c, root, cfg));
    KQ_GUARD(load_tokens(c, root, cfg));
    return load_clients(c, root, cfg);
}

static void set_defaults(struct kq_node_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->roles = KQ_ROLE_VALIDATOR | KQ_ROLE_KEEPER | KQ_ROLE_ORCHESTRATOR;
    cfg->api_max_body_bytes = 2u * 1024 * 1024;
    cfg->api_read_timeout_s = 10;
    cfg->api_write_timeout_s = 10;
    cfg->api_max_connections = 1024;
    cfg->hb_interval_ms = 500;
    cfg->hb_timeout_ms = 2000;
    cfg->log_level = KQ_LOG_INFO;
    cfg->ledger_propose_ms = 1000;
    cfg->ledger_prevote_ms = 500;
    cfg->ledger_precommit_ms = 500;
    cfg->ledger_delta_ms = 250;
    cfg->ledger_commit_ms = 20;
    cfg->ledger_sync_retry_ms = 500;
    cfg->ledger_empty_block_ms = 5000;
    cfg->keeper_frost_nonce_ttl_ms = 30000;
    cfg->orch_keeper_timeout_ms = 2000;
    cfg->orch_usage_report_ms = 1000;
}

static enum kq_err read_root(struct ctx *c, const char *path, json_t **root)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return fail(c, "cannot read %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode) || st.st_size > KQ_CONFIG_MAX_FILE_BYTES)
        return fail(c, "%s is not a config file (not regular, or over %d bytes)", path,
                    KQ_CONFIG_MAX_FILE_BYTES);
    json_error_t jerr;
    *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (*root == NULL)
        return fail(c, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
    if (!json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        return fail(c, "%s: the config must be a JSON object", path);
    }
    return KQ_OK;
}

enum kq_err kq_node_config_load(const char *path, struct kq_node_config *out, char *errbuf,
                                size_t errlen)
{
    KQ_ASSERT(path != NULL && out != NULL && errbuf != NULL && errlen > 0);
    struct ctx c = {.err = errbuf, .errlen = errlen};
    errbuf[0] = '\0';
    set_defaults(out);
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(c.base, sizeof c.base, ".");
    else if ((size_t)(slash - path) >= sizeof c.base)
        return fail(&c, "config path too long");
    else
        snprintf(c.base, sizeof c.base, "%.*s", (int)(slash - path), path);
    if (c.base[0] == '\0')
        snprintf(c.base, sizeof c.base, "/");
    json_t *root;
    KQ_GUARD(read_root(&c, path, &root));
    enum kq_err err = load_sections(&c, root, out);
    json_decref(root);
    return err;
}

const char *kq_node_roles_str(unsigned roles, char *buf, size_t len)
{
    KQ_ASSERT(buf != NULL && len > 0);
    buf[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; node_role_names[i] != NULL; i++) {
        if (!(roles & (1u << i)))
            continue;
        int n = snprintf(buf + used, len - used, "%s%s", used ? "," : "", node_role_names[i]);
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
    return buf;
}
