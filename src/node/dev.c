/* The dev-cluster launcher (dev.h). Ports are chosen by binding port 0 for every listener at once
 * and releasing them just before the nodes start; the token is fresh for every run and only its
 * SHA-256 reaches the configs. The env file is written atomically (rename), so whoever waits for
 * it never reads half of it, and only once every node is healthy. */
#include "node/dev.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/mem.h"
#include "ledger/genesis.h"
#include "ledger/tx.h"
#include "ledger/tx_client.h"
#include "net/pki.h"
#include "net/runtime.h"

struct dev_node {
    unsigned id;
    uint16_t api_port, peer_port;
    uint8_t identity[32];
    pid_t pid;
    bool healthy;
};

struct dev {
    const struct kq_dev_options *opt;
    char dir[PATH_MAX];
    char token[64];
    char token_sha256_hex[65];
    struct dev_node nodes[KQ_DEV_MAX_NODES];
};

__attribute__((format(printf, 1, 2))) static int dev_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "keyquorum dev: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static int write_file(const char *path, const void *data, size_t len, mode_t mode);
static int write_private(const char *path, const char *text);

/* Nodes with a certificate, ports and a config: the started ones, then the spares. */
static unsigned all_nodes(const struct dev *d)
{
    return d->opt->nodes + d->opt->spare;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int prepare_pki(struct dev *d)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/ca.key", d->dir);
    if (!file_exists(path)) {
        enum kq_err err = kq_pki_init(d->dir, all_nodes(d));
        if (err != KQ_OK)
            return dev_fail("cannot create the PKI in %s: %s", d->dir, kq_strerror(err));
    }
    for (unsigned i = 1; i <= all_nodes(d); i++) {
        snprintf(path, sizeof path, "%s/node-%u.crt", d->dir, i);
        if (!file_exists(path))
            return dev_fail("%s holds a PKI with fewer nodes (no %s); use another --dir", d->dir,
                            path);
        d->nodes[i - 1].id = i;
        if (kq_pki_read_public(path, d->nodes[i - 1].identity) != KQ_OK)
            return dev_fail("cannot read the identity key of %s", path);
    }
    return 0;
}

/* Binds 2 ports per node at once so none repeats, then releases them for the nodes. */
static int pick_ports(struct dev *d)
{
    int fds[2 * KQ_DEV_MAX_NODES];
    unsigned n = 2 * all_nodes(d), got = 0;
    int rc = 0;
    for (; got < n; got++) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof sa;
        fds[got] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[got] < 0 || bind(fds[got], (struct sockaddr *)&sa, sizeof sa) != 0 ||
            getsockname(fds[got], (struct sockaddr *)&sa, &len) != 0) {
            rc = dev_fail("cannot reserve a loopback port: %s", strerror(errno));
            if (fds[got] >= 0)
                close(fds[got]);
            break;
        }
        uint16_t port = ntohs(sa.sin_port);
        if (got % 2 == 0)
            d->nodes[got / 2].api_port = port;
        else
            d->nodes[got / 2].peer_port = port;
    }
    for (unsigned i = 0; i < got; i++)
        close(fds[i]);
    return rc;
}

/* A cluster keeps its ports across restarts (the genesis records every node's addresses): they
 * are saved in D/ports the first time and reused after. */
static int load_or_pick_ports(struct dev *d)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/ports", d->dir);
    FILE *f = fopen(path, "r");
    unsigned got = 0;
    if (f != NULL) {
        unsigned id, api, peer;
        while (got < all_nodes(d) && fscanf(f, "%u %u %u", &id, &api, &peer) == 3 &&
               id == got + 1 && api > 0 && api < 65536 && peer > 0 && peer < 65536) {
            d->nodes[got].api_port = (uint16_t)api;
            d->nodes[got].peer_port = (uint16_t)peer;
            got++;
        }
        fclose(f);
        if (got == all_nodes(d))
            return 0;
    }
    if (pick_ports(d) != 0)
        return 1;
    char text[64 * KQ_DEV_MAX_NODES] = "";
    size_t used = 0;
    for (unsigned i = 0; i < all_nodes(d); i++)
        used += (size_t)snprintf(text + used, sizeof text - used, "%u %u %u\n", i + 1,
                                 d->nodes[i].api_port, d->nodes[i].peer_port);
    return write_private(path, text);
}

/* The chain's genesis, made once per cluster directory: every node a validator, keeper and
 * orchestrator with its certificate key as identity and TLS pin, a fresh X25519 key per node
 * (its secret in D/node-<i>/x25519.key, 0600), and the admin certificate's key as the admin. */
/* A fresh X25519 key pair: the secret (hex) into D/node-<id>/x25519.key (0600), the public key
 * into pk. */
static int make_x25519(const struct dev *d, unsigned id, uint8_t pk[32])
{
    uint8_t xsk[32];
    char key_path[PATH_MAX + 64], hex[65];
    crypto_box_keypair(pk, xsk);
    sodium_bin2hex(hex, sizeof hex, xsk, sizeof xsk);
    kq_wipe(xsk, sizeof xsk);
    snprintf(key_path, sizeof key_path, "%s/node-%u", d->dir, id);
    int rc = 0;
    if (mkdir(key_path, 0700) != 0 && errno != EEXIST)
        rc = dev_fail("cannot create %s: %s", key_path, strerror(errno));
    snprintf(key_path, sizeof key_path, "%s/node-%u/x25519.key", d->dir, id);
    if (rc == 0)
        rc = write_private(key_path, hex);
    kq_wipe(hex, sizeof hex);
    return rc;
}

/* A spare node's X25519 key, made once (`keyquorum member add` reads it). */
static int prepare_spares(const struct dev *d)
{
    for (unsigned id = d->opt->nodes + 1; id <= all_nodes(d); id++) {
        char path[PATH_MAX + 64];
        uint8_t pk[32];
        snprintf(path, sizeof path, "%s/node-%u/x25519.key", d->dir, id);
        if (!file_exists(path) && make_x25519(d, id, pk) != 0)
            return 1;
    }
    return 0;
}

static int make_genesis(struct dev *d, const char *path)
{
    struct kq_genesis *g = calloc(1, sizeof *g);
    uint8_t *enc = malloc(KQ_GENESIS_MAX_BYTES);
    KQ_ASSERT(g != NULL && enc != NULL);
    snprintf(g->chain_name, sizeof g->chain_name, "kq-dev");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    g->time_ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
    g->n_nodes = d->opt->nodes;
    int rc = 0;
    for (unsigned i = 0; i < d->opt->nodes && rc == 0; i++) {
        struct kq_member_node *m = &g->nodes[i];
        m->node_id = i + 1;
        m->roles = KQ_ROLE_NODE_ALL;
        memcpy(m->identity_pk, d->nodes[i].identity, 32);
        memcpy(m->tls_pk, d->nodes[i].identity, 32);
        snprintf(m->api_addr, sizeof m->api_addr, "127.0.0.1:%u", d->nodes[i].api_port);
        snprintf(m->peer_addr, sizeof m->peer_addr, "127.0.0.1:%u", d->nodes[i].peer_port);
        rc = make_x25519(d, i + 1, m->x25519_pk);
    }
    char admin[PATH_MAX + 16];
    snprintf(admin, sizeof admin, "%s/admin.crt", d->dir);
    g->n_admins = 1;
    kq_keyparams_dev(&g->keys); /* short waits: a dev cluster shows the lifecycle in seconds */
    size_t len = 0;
    if (rc == 0 &&
        (kq_pki_read_public(admin, g->admins[0]) != KQ_OK || kq_genesis_check(g) != KQ_OK ||
         kq_genesis_encode(g, enc, KQ_GENESIS_MAX_BYTES, &len) != KQ_OK))
        rc = dev_fail("cannot build the genesis from %s", d->dir);
    if (rc == 0)
        rc = write_file(path, enc, len, 0644);
    free(enc);
    free(g);
    return rc;
}

static int prepare_genesis(struct dev *d)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/genesis.bin", d->dir);
    return file_exists(path) ? 0 : make_genesis(d, path);
}

static void make_token(struct dev *d)
{
    uint8_t raw[32], h[crypto_hash_sha256_BYTES];
    kq_random(raw, sizeof raw);
    memcpy(d->token, "kqt_", 4);
    sodium_bin2base64(d->token + 4, sizeof d->token - 4, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    crypto_hash_sha256(h, (const unsigned char *)d->token, strlen(d->token));
    sodium_bin2hex(d->token_sha256_hex, sizeof d->token_sha256_hex, h, sizeof h);
    kq_wipe(raw, sizeof raw);
}

static json_t *node_config(const struct dev *d, const struct dev_node *self)
{
    char buf[128], hex[65];
    json_t *peers = json_array();
    for (unsigned i = 0; i < d->opt->nodes; i++) { /* the genesis nodes: a spare's bootstrap */
        const struct dev_node *p = &d->nodes[i];
        if (p == self)
            continue;
        snprintf(buf, sizeof buf, "127.0.0.1:%u", p->peer_port);
        sodium_bin2hex(hex, sizeof hex, p->identity, sizeof p->identity);
        json_array_append_new(
            peers, json_pack("{s:i,s:s,s:s}", "id", p->id, "addr", buf, "identity", hex));
    }
    char api[64], peer[64], cert[64], key[64];
    snprintf(api, sizeof api, "127.0.0.1:%u", self->api_port);
    snprintf(peer, sizeof peer, "127.0.0.1:%u", self->peer_port);
    snprintf(cert, sizeof cert, "../node-%u.crt", self->id);
    snprintf(key, sizeof key, "../node-%u.key", self->id);
    json_t *cfg = json_pack(
        "{s:i,s:[sss],s:s,s:{s:s,s:i},s:{s:s},s:{s:s,s:s,s:s},s:o,s:{s:i,s:i},"
        "s:[{s:s,s:s,s:[s]}],s:[{s:s,s:[s]}],s:{s:s},s:{s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i}}",
        "node_id", self->id, "roles", "validator", "keeper", "orchestrator", "data_dir", ".", "api",
        "listen", api, "read_timeout_s", 10, "peer", "listen", peer, "tls", "ca", "../ca.crt",
        "cert", cert, "key", key, "peers", peers, "heartbeat", "interval_ms", 100, "timeout_ms",
        1000, "tokens", "name", "dev", "sha256", d->token_sha256_hex, "roles", "admin", "clients",
        "name", "admin", "roles", "admin", "log", "level", "info", "ledger", "genesis",
        "../genesis.bin", "propose_ms", 300, "prevote_ms", 200, "precommit_ms", 200, "delta_ms",
        100, "commit_ms", 20, "sync_retry_ms", 200, "empty_block_ms", 1000);
    json_object_set_new(cfg, "orchestrator",
                        json_pack("{s:i,s:i}", "keeper_timeout_ms", 1000, "usage_report_ms", 500));
    if (d->opt->byzantine == self->id)
        json_object_set_new(cfg, "keeper", json_pack("{s:b}", "byzantine_partials", true));
    return cfg;
}

/* Writes len bytes to path with the given mode via a temporary file and rename. */
static int write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return dev_fail("cannot write %s: %s", tmp, strerror(errno));
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, (const uint8_t *)data + off, len - off);
        if (w <= 0) {
            close(fd);
            return dev_fail("cannot write %s: %s", tmp, strerror(errno));
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0)
        return dev_fail("cannot write %s: %s", path, strerror(errno));
    return 0;
}

/* Writes text to path with mode 0600 via a temporary file and rename. */
static int write_private(const char *path, const char *text)
{
    return write_file(path, text, strlen(text), 0600);
}

static int write_configs(struct dev *d)
{
    for (unsigned i = 0; i < all_nodes(d); i++) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/node-%u", d->dir, i + 1);
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return dev_fail("cannot create %s: %s", path, strerror(errno));
        snprintf(path, sizeof path, "%s/node-%u/config.json", d->dir, i + 1);
        json_t *cfg = node_config(d, &d->nodes[i]);
        char *text = json_dumps(cfg, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(cfg);
        KQ_ASSERT(text != NULL);
        int rc = write_private(path, text);
        free(text);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int spawn(struct dev *d, struct dev_node *n)
{
    char cfg[PATH_MAX + 64], log[PATH_MAX + 64];
    snprintf(cfg, sizeof cfg, "%s/node-%u/config.json", d->dir, n->id);
    snprintf(log, sizeof log, "%s/node-%u/node.log", d->dir, n->id);
    pid_t pid = fork();
    if (pid < 0)
        return dev_fail("fork failed: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execl(d->opt->self, d->opt->self, "server", "--config", cfg, (char *)NULL);
        _exit(127);
    }
    n->pid = pid;
    return 0;
}

static size_t collect(char *data, size_t size, size_t nmemb, void *user)
{
    struct kq_buf_like {
        char buf[16384];
        size_t len;
    } *b = user;
    size_t n = size * nmemb;
    if (n > sizeof b->buf - 1 - b->len)
        return 0;
    memcpy(b->buf + b->len, data, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return n;
}

/* One HTTPS request to a node as the dev admin: the JSON answer (caller frees) or NULL; *status
 * gets the HTTP status (0 when there was no answer). */
static json_t *dev_request(const struct dev *d, const struct dev_node *n, const char *method,
                           const char *path, const char *body, long timeout_ms, long *status)
{
    struct {
        char buf[16384];
        size_t len;
    } out = {.len = 0};
    char url[256], ca[PATH_MAX + 16], crt[PATH_MAX + 16], key[PATH_MAX + 16];
    snprintf(url, sizeof url, "https://127.0.0.1:%u%s", n->api_port, path);
    snprintf(ca, sizeof ca, "%s/ca.crt", d->dir);
    snprintf(crt, sizeof crt, "%s/admin.crt", d->dir);
    snprintf(key, sizeof key, "%s/admin.key", d->dir);
    CURL *c = curl_easy_init();
    KQ_ASSERT(c != NULL);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c, CURLOPT_SSLCERT, crt);
    curl_easy_setopt(c, CURLOPT_SSLKEY, key);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    *status = 0;
    json_t *j = NULL;
    if (curl_easy_perform(c) == CURLE_OK &&
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status) == CURLE_OK)
        j = json_loads(out.buf, 0, NULL);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    return j;
}

/* Connected peers reported by a node's health endpoint, or -1 if it does not answer yet. */
static int probe(const struct dev *d, const struct dev_node *n)
{
    long status = 0;
    int peers = -1;
    json_t *j = dev_request(d, n, "GET", "/v1/sys/health", NULL, 2000L, &status);
    json_t *cp = json_object_get(j, "connected_peers");
    if (status == 200 && json_is_integer(cp) && json_is_true(json_object_get(j, "ready")))
        peers = (int)json_integer_value(cp);
    json_decref(j);
    return peers;
}

/* Records a dev admin as a ledger client (admin and user roles), signed by the genesis admin key:
 * key operations are authorised by the ledger's client records. "admin" is bound to admin.crt,
 * "dev" (token) to the bearer token's hash. */
static int register_client(const struct dev *d, bool token)
{
    char crt[PATH_MAX + 16], key[PATH_MAX + 16];
    snprintf(crt, sizeof crt, "%s/admin.crt", d->dir);
    snprintf(key, sizeof key, "%s/admin.key", d->dir);
    struct kq_client c = {.auth_kind = token ? KQ_CLIENT_AUTH_TOKEN : KQ_CLIENT_AUTH_CERT,
                          .roles = KQ_CLIENT_ROLE_ADMIN | KQ_CLIENT_ROLE_USER,
                          .trust = KQ_LEDGER_TRUST_MAX};
    snprintf(c.id, sizeof c.id, "%s", token ? "dev" : "admin");
    size_t got = 0;
    if (token &&
        (sodium_hex2bin(c.auth, sizeof c.auth, d->token_sha256_hex, 64, NULL, &got, NULL) != 0 ||
         got != sizeof c.auth))
        return 1;
    long status = 0;
    json_t *head = dev_request(d, &d->nodes[0], "GET", "/v1/ledger/head", NULL, 5000L, &status);
    kq_hash chain;
    json_t *cid = json_object_get(head, "chain_id");
    bool ok = status == 200 && json_is_string(cid) &&
              kq_hash_from_hex(&chain, json_string_value(cid), json_string_length(cid)) == KQ_OK &&
              (token || kq_pki_cert_sha256(crt, c.auth) == KQ_OK);
    uint64_t height = (uint64_t)json_integer_value(json_object_get(head, "height"));
    json_decref(head);
    uint8_t body[KQ_CLIENT_MAX_BYTES], tx[KQ_TX_BYTES(KQ_CLIENT_MAX_BYTES)], seed[32], pk[32];
    size_t body_len = 0, tx_len = 0;
    uint8_t *sk = kq_secure_alloc(crypto_sign_SECRETKEYBYTES);
    struct kq_tx_fields tf = {.family = KQ_TX_FAMILY_CLIENT,
                              .op = KQ_CLIENT_OP_SET,
                              .chain_id = chain,
                              .expiry_height = height + 1000,
                              .body = body};
    randombytes_buf(&tf.nonce, sizeof tf.nonce);
    ok = ok && sk != NULL && kq_client_encode(&c, body, sizeof body, &body_len) == KQ_OK &&
         kq_pki_read_seed(key, seed) == KQ_OK && crypto_sign_seed_keypair(pk, sk, seed) == 0;
    kq_wipe(seed, sizeof seed);
    tf.body_len = body_len;
    ok = ok && kq_tx_sign(&tf, sk, tx, sizeof tx, &tx_len) == KQ_OK;
    kq_secure_free(sk);
    char b64[sodium_base64_ENCODED_LEN(sizeof tx, sodium_base64_VARIANT_ORIGINAL)];
    json_t *rep = NULL;
    if (ok) {
        sodium_bin2base64(b64, sizeof b64, tx, tx_len, sodium_base64_VARIANT_ORIGINAL);
        json_t *req = json_pack("{s:s,s:b}", "tx", b64, "wait", true);
        char *text = json_dumps(req, 0);
        json_decref(req);
        rep = dev_request(d, &d->nodes[0], "POST", "/v1/ledger/tx", text, 30000L, &status);
        free(text);
        ok = status == 200 && json_is_true(json_object_get(rep, "applied"));
    }
    json_decref(rep);
    if (!ok)
        fprintf(stderr, "keyquorum dev: could not record client %s on the ledger (HTTP %ld)\n",
                c.id, status);
    return ok ? 0 : 1;
}

static uint64_t now_ms(void)
{
    return kq_runtime_now_ms();
}

static int wait_healthy(struct dev *d, uint64_t start)
{
    unsigned want = d->opt->nodes - 1;
    for (;;) {
        unsigned ok = 0;
        for (unsigned i = 0; i < d->opt->nodes; i++) {
            struct dev_node *n = &d->nodes[i];
            int st;
            if (waitpid(n->pid, &st, WNOHANG) == n->pid) {
                n->pid = 0;
                fprintf(stderr,
                        "keyquorum dev: node-%u exited during start-up; see %s/node-%u/node.log\n",
                        n->id, d->dir, n->id);
                return 1;
            }
            n->healthy = probe(d, n) == (int)want;
            ok += n->healthy;
        }
        if (ok == d->opt->nodes)
            return 0;
        if (now_ms() - start > KQ_DEV_HEALTHY_TIMEOUT_MS) {
            fprintf(stderr,
                    "keyquorum dev: nodes not healthy after %d ms; see %s/node-*/node.log\n",
                    KQ_DEV_HEALTHY_TIMEOUT_MS, d->dir);
            return 1;
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static int write_env(const struct dev *d)
{
    char text[6 * PATH_MAX + 8192], addrs[4096] = "";
    size_t used = 0;
    for (unsigned i = 0; i < d->opt->nodes; i++)
        used += (size_t)snprintf(addrs + used, sizeof addrs - used, "%shttps://127.0.0.1:%u",
                                 i ? " " : "", d->nodes[i].api_port);
    int n = snprintf(text, sizeof text,
                     "# keyquorum dev cluster: source this file\n"
                     "export KQ_ADDR=https://127.0.0.1:%u\n"
                     "export KQ_ADDRS=\"%s\"\n"
                     "export KQ_CACERT=%s/ca.crt\n"
                     "export KQ_CLIENT_CERT=%s/admin.crt\n"
                     "export KQ_CLIENT_KEY=%s/admin.key\n"
                     "export KQ_TOKEN=%s\n"
                     "export KQ_DEV_DIR=%s\n",
                     d->nodes[0].api_port, addrs, d->dir, d->dir, d->dir, d->token, d->dir);
    KQ_ASSERT(n > 0 && (size_t)n < sizeof text);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/env", d->dir);
    int rc = write_private(path, text);
    kq_wipe(text, sizeof text);
    return rc;
}

/* Reads the pid a node wrote into its data dir (a node restarted by hand is not our child). */
static pid_t node_pidfile(const struct dev *d, unsigned id)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/node-%u/node.pid", d->dir, id);
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    /* A stale pid file (a node killed with -9) may name a pid reused by something else: signal it
     * only if it is still this node's server. */
    char cmd[PATH_MAX + 64], want[PATH_MAX + 64];
    snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
    snprintf(want, sizeof want, "%s/node-%u/config.json", d->dir, id);
    f = pid > 0 ? fopen(path, "r") : NULL;
    size_t n = f != NULL ? fread(cmd, 1, sizeof cmd - 1, f) : 0;
    if (f != NULL)
        fclose(f);
    bool ours = false;
    for (size_t off = 0; off < n; off += strlen(cmd + off) + 1) {
        cmd[n] = '\0';
        if (strcmp(cmd + off, want) == 0)
            ours = true;
    }
    return ours ? (pid_t)pid : 0;
}

static void stop_all(struct dev *d)
{
    pid_t pids[KQ_DEV_MAX_NODES];
    for (unsigned i = 0; i < d->opt->nodes; i++) {
        pid_t p = node_pidfile(d, d->nodes[i].id);
        pids[i] = p > 0 ? p : d->nodes[i].pid;
        if (pids[i] > 0)
            kill(pids[i], SIGTERM);
    }
    uint64_t start = now_ms();
    for (;;) {
        unsigned alive = 0;
        for (unsigned i = 0; i < d->opt->nodes; i++) {
            if (pids[i] <= 0)
                continue;
            waitpid(pids[i], NULL, WNOHANG); /* reap our children; others are reaped by init */
            if (kill(pids[i], 0) == 0)
                alive++;
            else
                pids[i] = 0;
        }
        if (alive == 0)
            return;
        if (now_ms() - start > 10000) {
            for (unsigned i = 0; i < d->opt->nodes; i++)
                if (pids[i] > 0)
                    kill(pids[i], SIGKILL);
            return;
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void print_summary(const struct dev *d, uint64_t elapsed_ms)
{
    printf("keyquorum dev: %u nodes healthy, each connected to the other %u, in %.2f s\n",
           d->opt->nodes, d->opt->nodes - 1, (double)elapsed_ms / 1000.0);
    for (unsigned i = 0; i < d->opt->nodes; i++)
        printf("  node-%u  api https://127.0.0.1:%u  peer 127.0.0.1:%u  pid %ld\n", d->nodes[i].id,
               d->nodes[i].api_port, d->nodes[i].peer_port, (long)d->nodes[i].pid);
    for (unsigned i = d->opt->nodes; i < all_nodes(d); i++)
        printf("  node-%u  spare, not in the genesis, not started: keyquorum server --config "
               "%s/node-%u/config.json\n",
               d->nodes[i].id, d->dir, d->nodes[i].id);
    printf("  logs:   %s/node-*/node.log\n  env:    source %s/env\n"
           "  Ctrl-C (SIGINT) or SIGTERM stops every node.\n",
           d->dir, d->dir);
    fflush(stdout);
}

/* Waits for SIGINT/SIGTERM; reports nodes that exit meanwhile. */
static void serve(struct dev *d, const sigset_t *set)
{
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0 || sig == SIGINT || sig == SIGTERM)
            return;
        pid_t pid;
        int st;
        while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
            for (unsigned i = 0; i < d->opt->nodes; i++)
                if (d->nodes[i].pid == pid) {
                    fprintf(stderr, "keyquorum dev: node-%u (pid %ld) exited (%s %d)\n",
                            d->nodes[i].id, (long)pid, WIFSIGNALED(st) ? "signal" : "status",
                            WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
                    d->nodes[i].pid = 0;
                }
    }
}

static int start_cluster(struct dev *d, const sigset_t *set)
{
    uint64_t start = now_ms();
    if (prepare_pki(d) != 0 || load_or_pick_ports(d) != 0 || prepare_genesis(d) != 0 ||
        prepare_spares(d) != 0)
        return 1;
    make_token(d);
    if (write_configs(d) != 0)
        return 1;
    for (unsigned i = 0; i < d->opt->nodes; i++)
        if (spawn(d, &d->nodes[i]) != 0)
            return 1;
    if (wait_healthy(d, start) != 0 || register_client(d, false) != 0 ||
        register_client(d, true) != 0 || write_env(d) != 0)
        return 1;
    print_summary(d, now_ms() - start);
    serve(d, set);
    printf("keyquorum dev: stopping %u nodes\n", d->opt->nodes);
    return 0;
}

int kq_dev_run(const struct kq_dev_options *opt)
{
    KQ_ASSERT(opt != NULL && opt->dir != NULL && opt->self != NULL);
    if (opt->nodes < 1 || opt->nodes > KQ_DEV_MAX_NODES ||
        opt->spare > KQ_DEV_MAX_NODES - opt->nodes) {
        fprintf(stderr, "keyquorum dev: --nodes must be 1..%d, and --spare at most %d - nodes\n",
                KQ_DEV_MAX_NODES, KQ_DEV_MAX_NODES);
        return 2;
    }
    struct dev *d = calloc(1, sizeof *d);
    KQ_ASSERT(d != NULL);
    d->opt = opt;
    if ((mkdir(opt->dir, 0700) != 0 && errno != EEXIST) || realpath(opt->dir, d->dir) == NULL) {
        free(d);
        return dev_fail("cannot use directory %s: %s", opt->dir, strerror(errno));
    }
    char env[PATH_MAX + 16];
    snprintf(env, sizeof env, "%s/env", d->dir);
    unlink(env); /* a stale env must not look like a running cluster */
    /* Signals are taken synchronously with sigwait; children get the default mask back. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = start_cluster(d, &set);
    stop_all(d);
    unlink(env);
    curl_global_cleanup();
    kq_wipe(d->token, sizeof d->token);
    free(d);
    return rc;
}
