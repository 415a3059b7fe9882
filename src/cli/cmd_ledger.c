/* `keyquorum ledger head|blocks|proof|verify`, `keyquorum client set|show|list` and
 * `keyquorum member add|update|remove|list`. Every read
 * is verified against the genesis (--genesis FILE, default $KQ_DEV_DIR/genesis.bin): headers by
 * their commit certificates, values by state proofs, and `ledger verify` replays the whole chain.
 * `client set` builds a client-identity transaction signed with the caller's own key (the
 * Ed25519 key of KQ_CLIENT_KEY) and waits for it to commit; `member add` likewise a membership
 * ADD built from a node's certificate and keys in a dev PKI directory (admins only). Exit codes: 0
 * ok, 1 a failed verification or a refusal by the cluster, 2 a usage or input error. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "cli/cli.h"
#include "client/http.h"
#include "client/trust.h"
#include "ledger/follow.h"
#include "ledger/tx_client.h"
#include "ledger/tx_member.h"
#include "net/pki.h"

#include <openssl/x509.h>

struct lcli {
    struct kq_cli_conn conn;
    const char *env;
    const char *genesis_path;
    const char *addr;
    bool as_json;
    struct kq_trust trust;
};

static int fail(const char *what, const char *msg)
{
    fprintf(stderr, "keyquorum %s: %s\n", what, msg);
    return 1;
}

/* Parses the options common to every subcommand; returns the index of the first other argument
 * or -1 for a usage error. Unknown options are left for the subcommand. */
static bool common_opt(struct lcli *l, int argc, char **argv, int *i)
{
    if (strcmp(argv[*i], "--env") == 0 && *i + 1 < argc)
        l->env = argv[++*i];
    else if (strcmp(argv[*i], "--genesis") == 0 && *i + 1 < argc)
        l->genesis_path = argv[++*i];
    else if (strcmp(argv[*i], "--addr") == 0 && *i + 1 < argc)
        l->addr = argv[++*i];
    else if ((strcmp(argv[*i], "-format") == 0 || strcmp(argv[*i], "--format") == 0) &&
             *i + 1 < argc &&
             (strcmp(argv[*i + 1], "json") == 0 || strcmp(argv[*i + 1], "text") == 0))
        l->as_json = strcmp(argv[++*i], "json") == 0;
    else
        return false;
    return true;
}

static bool get_json(struct lcli *l, const char *path, json_t **out, char *err, size_t errlen)
{
    return kq_trust_get(&l->conn, l->addr, path, out, err, errlen);
}

static uint8_t *b64_decode(const char *s, size_t *len)
{
    return kq_trust_b64(s, len);
}

/* ---- validator sets ---- */

/* The genesis, then the validator sets since. */
static bool load_trust(struct lcli *l, char *err, size_t errlen)
{
    return kq_trust_load(&l->trust, &l->conn, l->addr, l->genesis_path, err, errlen);
}

/* ---- ledger ---- */

static void print_header(const struct kq_header *h, const char *hash)
{
    char st[65];
    kq_hash_hex(&h->state_root, st);
    printf("height %llu  hash %s  round %u  proposer %u  txs %u  time_ms %llu  state_root %s\n",
           (unsigned long long)h->height, hash, h->round, h->proposer, h->tx_count,
           (unsigned long long)h->time_ms, st);
}

static bool verify_block_json(struct lcli *l, json_t *b, struct kq_header *h, char *err,
                              size_t errlen)
{
    return kq_trust_verify_block(&l->trust, b, h, err, errlen);
}

static int ledger_head(struct lcli *l)
{
    char err[512];
    json_t *j = NULL;
    if (!load_trust(l, err, sizeof err) || !get_json(l, "/v1/ledger/head", &j, err, sizeof err))
        return fail("ledger head", err);
    json_t *head = json_object_get(j, "head");
    struct kq_header h;
    int rc = 0;
    if (json_is_object(head) && !verify_block_json(l, head, &h, err, sizeof err))
        rc = fail("ledger head", err);
    else if (l->as_json)
        json_dumpf(j, stdout, JSON_INDENT(2)), putchar('\n');
    else if (json_is_object(head))
        print_header(&h, json_string_value(json_object_get(head, "hash")));
    else
        printf("height 0 (no block committed yet)\n");
    json_decref(j);
    return rc;
}

static int ledger_blocks(struct lcli *l, unsigned long long from, unsigned long long limit,
                         unsigned long long wait)
{
    char err[512], path[128];
    json_t *j = NULL;
    snprintf(path, sizeof path, "/v1/ledger/blocks?from=%llu&limit=%llu&wait=%llu", from, limit,
             wait);
    if (!load_trust(l, err, sizeof err) || !get_json(l, path, &j, err, sizeof err))
        return fail("ledger blocks", err);
    size_t i;
    json_t *b;
    int rc = 0;
    json_array_foreach(json_object_get(j, "blocks"), i, b)
    {
        struct kq_header h;
        if (!verify_block_json(l, b, &h, err, sizeof err)) {
            rc = fail("ledger blocks", err);
            break;
        }
        if (!l->as_json)
            print_header(&h, json_string_value(json_object_get(b, "hash")));
    }
    if (rc == 0 && l->as_json)
        json_dumpf(j, stdout, JSON_INDENT(2)), putchar('\n');
    json_decref(j);
    return rc;
}

static enum kq_err verified_value(struct lcli *l, const char *key, json_t **j, uint8_t **value,
                                  size_t *vlen, struct kq_header *h, char *err, size_t errlen)
{
    return kq_trust_value(&l->trust, &l->conn, l->addr, key, j, value, vlen, h, err, errlen);
}

static int ledger_proof(struct lcli *l, const char *key)
{
    char err[512] = "";
    json_t *j = NULL;
    uint8_t *value = NULL;
    size_t vlen = 0;
    struct kq_header h;
    if (key == NULL)
        return fprintf(stderr, "keyquorum ledger proof: --key K is required\n"), 2;
    enum kq_err e = verified_value(l, key, &j, &value, &vlen, &h, err, sizeof err);
    int rc = 0;
    if (e != KQ_OK)
        rc = fail("ledger proof", err[0] != '\0' ? err : kq_strerror(e));
    else if (l->as_json)
        json_dumpf(j, stdout, JSON_INDENT(2)), putchar('\n');
    else
        printf("%s = %s (%zu bytes), verified against block %llu, certified by a quorum of its %u "
               "validators\n",
               key, value != NULL ? json_string_value(json_object_get(j, "value")) : "(absent)",
               vlen, (unsigned long long)h.height, kq_trust_vs_at(&l->trust, h.height)->n);
    free(value);
    json_decref(j);
    return rc;
}

static int ledger_verify(struct lcli *l)
{
    char err[512], path[128];
    if (l->trust.genesis == NULL &&
        !kq_trust_load_genesis(&l->trust, l->genesis_path, err, sizeof err))
        return fail("ledger verify", err);
    struct kq_follower *f = kq_follower_new(l->trust.genesis);
    if (f == NULL)
        return fail("ledger verify", "the genesis does not start a chain");
    int rc = 0;
    for (bool more = true; more && rc == 0;) {
        json_t *j = NULL;
        snprintf(path, sizeof path, "/v1/ledger/blocks?from=%llu&limit=64",
                 (unsigned long long)kq_follower_height(f) + 1);
        if (!get_json(l, path, &j, err, sizeof err)) {
            rc = fail("ledger verify", err);
            break;
        }
        json_t *blocks = json_object_get(j, "blocks"), *b;
        size_t i;
        more = json_array_size(blocks) > 0;
        json_array_foreach(blocks, i, b)
        {
            size_t len;
            const char *why = "not base64";
            uint8_t *rec = b64_decode(json_string_value(json_object_get(b, "record")), &len);
            if (rec == NULL || kq_follower_apply(f, rec, len, &why) != KQ_OK) {
                snprintf(err, sizeof err, "block %llu: %s",
                         (unsigned long long)kq_follower_height(f) + 1, why);
                rc = fail("ledger verify", err);
                free(rec);
                break;
            }
            free(rec);
        }
        json_decref(j);
    }
    if (rc == 0) {
        kq_hash root;
        char hex[65], chain[65];
        kq_follower_state_root(f, &root);
        kq_hash_hex(&root, hex);
        kq_hash_hex(&l->trust.chain_id, chain);
        printf("verified %llu blocks of chain %s from genesis: every certificate, parent link, "
               "tx root, BFT time and state root checks; state root %s\n",
               (unsigned long long)kq_follower_height(f), chain, hex);
    }
    kq_follower_free(f);
    return rc;
}

static void lcli_free(struct lcli *l)
{
    kq_trust_free(&l->trust);
}

static int ledger_usage(void)
{
    fprintf(stderr, "usage: keyquorum ledger head|blocks|proof|verify [--env FILE] [--addr URL] "
                    "[--genesis FILE] [-format json]\n"
                    "  blocks [--from H] [--limit N] [--wait S]   proof --key K\n");
    return 2;
}

static bool num_opt(int argc, char **argv, int *i, const char *name, unsigned long long *out)
{
    if (strcmp(argv[*i], name) != 0 || *i + 1 >= argc)
        return false;
    char *end;
    *out = strtoull(argv[++*i], &end, 10);
    return *end == '\0';
}

int kq_cli_ledger(int argc, char **argv)
{
    if (argc < 1)
        return ledger_usage();
    struct lcli l = {0};
    unsigned long long from = 1, limit = 16, wait = 0;
    const char *key = NULL;
    for (int i = 1; i < argc; i++) {
        if (common_opt(&l, argc, argv, &i) || num_opt(argc, argv, &i, "--from", &from) ||
            num_opt(argc, argv, &i, "--limit", &limit) || num_opt(argc, argv, &i, "--wait", &wait))
            continue;
        if (strcmp(argv[i], "--key") == 0 && i + 1 < argc)
            key = argv[++i];
        else
            return ledger_usage();
    }
    char err[512];
    if (!kq_cli_conn_load(&l.conn, l.env, err, sizeof err))
        return fprintf(stderr, "keyquorum ledger: %s\n", err), 2;
    int rc;
    if (strcmp(argv[0], "head") == 0)
        rc = ledger_head(&l);
    else if (strcmp(argv[0], "blocks") == 0)
        rc = ledger_blocks(&l, from, limit, wait);
    else if (strcmp(argv[0], "proof") == 0)
        rc = ledger_proof(&l, key);
    else if (strcmp(argv[0], "verify") == 0)
        rc = ledger_verify(&l);
    else
        rc = ledger_usage();
    lcli_free(&l);
    return rc;
}

/* ---- client identities ---- */

static bool parse_hex32(const char *s, uint8_t out[32])
{
    size_t n = 0;
    return s != NULL && strlen(s) == 64 && sodium_hex2bin(out, 32, s, 64, NULL, &n, NULL) == 0 &&
           n == 32;
}

static bool parse_roles(const char *s, uint8_t *roles)
{
    *roles = 0;
    char buf[64];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "user") == 0)
            *roles |= KQ_CLIENT_ROLE_USER;
        else if (strcmp(t, "admin") == 0)
            *roles |= KQ_CLIENT_ROLE_ADMIN;
        else
            return false;
    }
    return *roles != 0;
}

/* The SHA-256 of a PEM certificate's DER encoding, as the ledger binds certificate clients. */
static bool cert_fingerprint(const char *path, uint8_t out[32])
{
    X509 *x = NULL;
    if (kq_pki_load_cert(path, &x) != KQ_OK)
        return false;
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    X509_free(x);
    if (len <= 0)
        return false;
    crypto_hash_sha256(out, der, (unsigned long long)len);
    OPENSSL_free(der);
    return true;
}

/* Signs a tx of family/op with body with the caller's key (KQ_CLIENT_KEY), submits it and waits
 * for its commit. *rep (caller frees) gets the node's 200 answer; on failure the reason is
 * printed as `keyquorum <what>: ...` and false returned. */
static bool submit_signed(struct lcli *l, const char *what, uint16_t family, uint16_t op,
                          const uint8_t *body, size_t body_len, json_t **rep)
{
    char err[512];
    json_t *head = NULL;
    *rep = NULL;
    if (!get_json(l, "/v1/ledger/head", &head, err, sizeof err))
        return fail(what, err), false;
    kq_hash chain;
    if (kq_hash_from_hex(&chain, json_string_value(json_object_get(head, "chain_id")), 64) !=
        KQ_OK) {
        json_decref(head);
        return fail(what, "the node reported no chain id"), false;
    }
    uint64_t height = (uint64_t)json_integer_value(json_object_get(head, "height"));
    json_decref(head);
    uint8_t seed[32], pk[32], *sk = kq_secure_alloc(64);
    uint8_t
        tx[KQ_TX_BYTES(KQ_CLIENT_MAX_BYTES > KQ_MEMBER_NODE_MAX_BYTES ? KQ_CLIENT_MAX_BYTES
                                                                      : KQ_MEMBER_NODE_MAX_BYTES)];
    size_t tx_len;
    struct kq_tx_fields tf = {.family = family,
                              .op = op,
                              .chain_id = chain,
                              .expiry_height = height + 100000,
                              .body = body,
                              .body_len = body_len};
    kq_random(&tf.nonce, sizeof tf.nonce);
    bool ok = sk != NULL && kq_pki_read_seed(l->conn.key, seed) == KQ_OK &&
              crypto_sign_seed_keypair(pk, sk, seed) == 0;
    kq_wipe(seed, sizeof seed);
    ok = ok && kq_tx_sign(&tf, sk, tx, sizeof tx, &tx_len) == KQ_OK;
    kq_secure_free(sk);
    if (!ok)
        return fail(what, "cannot sign the transaction with KQ_CLIENT_KEY"), false;
    char b64[sodium_base64_ENCODED_LEN(sizeof tx, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof b64, tx, tx_len, sodium_base64_VARIANT_ORIGINAL);
    json_t *req = json_pack("{s:s,s:b}", "tx", b64, "wait", true);
    char *text = json_dumps(req, 0);
    long status = 0;
    json_decref(req);
    ok = kq_cli_request(&l->conn, l->addr, "POST", "/v1/ledger/tx", text, 65000, &status, rep, err,
                        sizeof err);
    free(text);
    if (!ok)
        return fail(what, err), false;
    if (status != 200) {
        snprintf(err, sizeof err, "HTTP %ld: %s", status,
                 json_object_get(*rep, "result") != NULL
                     ? json_string_value(json_object_get(*rep, "result"))
                     : kq_cli_error_message(*rep));
        json_decref(*rep);
        *rep = NULL;
        return fail(what, err), false;
    }
    return true;
}

static int submit_client(struct lcli *l, const struct kq_client *c)
{
    uint8_t body[KQ_CLIENT_MAX_BYTES];
    size_t body_len;
    json_t *rep = NULL;
    if (kq_client_encode(c, body, sizeof body, &body_len) != KQ_OK)
        return fail("client set", "cannot encode the client record");
    if (!submit_signed(l, "client set", KQ_TX_FAMILY_CLIENT, KQ_CLIENT_OP_SET, body, body_len,
                       &rep))
        return 1;
    if (l->as_json)
        json_dumpf(rep, stdout, JSON_INDENT(2)), putchar('\n');
    else
        printf("client %s set: tx %s committed at height %lld\n", c->id,
               json_string_value(json_object_get(rep, "tx_id")),
               json_integer_value(json_object_get(rep, "height")));
    json_decref(rep);
    return 0;
}

static int client_usage(void)
{
    fprintf(stderr,
            "usage: keyquorum client set --id ID [--roles user,admin] [--trust 0..100]\n"
            "                           (--cert FILE | --cert-sha256 HEX | --token-sha256 HEX)\n"
            "                           [--x25519 HEX] [--sign-pk HEX]\n"
            "       keyquorum client show --id ID | list   [--env FILE] [-format json]\n");
    return 2;
}

static int client_set(struct lcli *l, int argc, char **argv)
{
    struct kq_client c = {.roles = KQ_CLIENT_ROLE_USER, .trust = 50};
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned long long trust;
        if (common_opt(l, argc, argv, &i))
            continue;
        if (num_opt(argc, argv, &i, "--trust", &trust) && trust <= KQ_LEDGER_TRUST_MAX)
            c.trust = (uint8_t)trust;
        else if (strcmp(argv[i], "--id") == 0 && v != NULL && kq_client_id_ok(v, strlen(v)))
            snprintf(c.id, sizeof c.id, "%s", argv[++i]);
        else if (strcmp(argv[i], "--roles") == 0 && v != NULL && parse_roles(v, &c.roles))
            i++;
        else if (strcmp(argv[i], "--cert") == 0 && v != NULL && cert_fingerprint(v, c.auth))
            c.auth_kind = KQ_CLIENT_AUTH_CERT, i++;
        else if (strcmp(argv[i], "--cert-sha256") == 0 && parse_hex32(v, c.auth))
            c.auth_kind = KQ_CLIENT_AUTH_CERT, i++;
        else if (strcmp(argv[i], "--token-sha256") == 0 && parse_hex32(v, c.auth))
            c.auth_kind = KQ_CLIENT_AUTH_TOKEN, i++;
        else if (strcmp(argv[i], "--x25519") == 0 && parse_hex32(v, c.x25519_pk))
            c.flags |= KQ_CLIENT_HAS_X25519, i++;
        else if (strcmp(argv[i], "--sign-pk") == 0 && parse_hex32(v, c.sign_pk))
            c.flags |= KQ_CLIENT_HAS_SIGN_PK, i++;
        else
            return fprintf(stderr, "keyquorum client set: bad or unknown argument '%s'\n", argv[i]),
                   client_usage();
    }
    if (c.id[0] == '\0' || c.auth_kind == 0)
        return fprintf(stderr, "keyquorum client set: --id and one of --cert, --cert-sha256, "
                               "--token-sha256 are required\n"),
               2;
    char err[512];
    if (!kq_cli_conn_load(&l->conn, l->env, err, sizeof err))
        return fprintf(stderr, "keyquorum client: %s\n", err), 2;
    return submit_client(l, &c);
}

static int client_show(struct lcli *l, const char *id)
{
    char key[KQ_LEDGER_CLIENT_ID_MAX_BYTES + 16];
    if (id == NULL || !kq_client_id_ok(id, strlen(id)))
        return fprintf(stderr, "keyquorum client show: --id ID is required\n"), 2;
    snprintf(key, sizeof key, "client/%s", id);
    return ledger_proof(l, key);
}

static int client_list(struct lcli *l)
{
    char err[512];
    json_t *j = NULL;
    if (!get_json(l, "/v1/clients", &j, err, sizeof err))
        return fail("client list", err);
    if (l->as_json) {
        json_dumpf(j, stdout, JSON_INDENT(2)), putchar('\n');
    } else {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(j, "clients"), i, c)
        {
            char *roles = json_dumps(json_object_get(c, "roles"), JSON_COMPACT);
            printf("%-24s %-12s trust %3lld  roles %s\n",
                   json_string_value(json_object_get(c, "id")),
                   json_string_value(json_object_get(c, "auth_kind")),
                   json_integer_value(json_object_get(c, "trust")), roles);
            free(roles);
        }
    }
    json_decref(j);
    return 0;
}

int kq_cli_client(int argc, char **argv)
{
    if (argc < 1)
        return client_usage();
    struct lcli l = {0};
    int rc;
    if (strcmp(argv[0], "set") == 0) {
        rc = client_set(&l, argc, argv);
    } else {
        const char *id = NULL;
        for (int i = 1; i < argc; i++) {
            if (common_opt(&l, argc, argv, &i))
                continue;
            if (strcmp(argv[i], "--id") == 0 && i + 1 < argc)
                id = argv[++i];
            else
                return client_usage();
        }
        char err[512];
        if (!kq_cli_conn_load(&l.conn, l.env, err, sizeof err))
            return fprintf(stderr, "keyquorum client: %s\n", err), 2;
        if (strcmp(argv[0], "show") == 0)
            rc = client_show(&l, id);
        else if (strcmp(argv[0], "list") == 0)
            rc = client_list(&l);
        else
            rc = client_usage();
    }
    lcli_free(&l);
    return rc;
}

/* ---- membership: `keyquorum member add | update | remove | list` ---- */

static bool parse_node_roles(const char *s, uint8_t *roles)
{
    static const char *const names[] = {"validator", "keeper", "orchestrator"};
    static const uint8_t bits[] = {KQ_ROLE_VALIDATOR, KQ_ROLE_KEEPER, KQ_ROLE_ORCHESTRATOR};
    char buf[64];
    *roles = 0;
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        uint8_t bit = 0;
        for (size_t i = 0; i < 3; i++)
            if (strcmp(t, names[i]) == 0)
                bit = bits[i];
        if (bit == 0)
            return false;
        *roles |= bit;
    }
    return *roles != 0;
}

/* The node's keys from a dev PKI directory: identity and TLS pin are its certificate's key, the
 * X25519 public key comes from the secret in DIR/node-<id>/x25519.key (hex, made by `keyquorum
 * dev`), and the addresses (unless given) from its config DIR/node-<id>/config.json. */
static bool member_from_pki(const char *dir, struct kq_member_node *m, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/node-%u.crt", dir, m->node_id);
    if (kq_pki_read_public(path, m->identity_pk) != KQ_OK)
        return snprintf(err, errlen, "cannot read the key of %.400s", path), false;
    memcpy(m->tls_pk, m->identity_pk, 32);
    snprintf(path, sizeof path, "%s/node-%u/x25519.key", dir, m->node_id);
    FILE *f = fopen(path, "r");
    char hex[65] = "";
    size_t n = f != NULL ? fread(hex, 1, 64, f) : 0;
    if (f != NULL)
        fclose(f);
    uint8_t xsk[32];
    size_t got = 0;
    bool ok = n == 64 && sodium_hex2bin(xsk, 32, hex, 64, NULL, &got, NULL) == 0 && got == 32 &&
              crypto_scalarmult_base(m->x25519_pk, xsk) == 0;
    kq_wipe(xsk, sizeof xsk);
    kq_wipe(hex, sizeof hex);
    if (!ok)
        return snprintf(err, errlen, "cannot read an X25519 key from %.400s", path), false;
    snprintf(path, sizeof path, "%s/node-%u/config.json", dir, m->node_id);
    json_t *cfg = json_load_file(path, 0, NULL);
    const char *api = json_string_value(json_object_get(json_object_get(cfg, "api"), "listen"));
    const char *peer = json_string_value(json_object_get(json_object_get(cfg, "peer"), "listen"));
    if (m->api_addr[0] == '\0' && api != NULL)
        snprintf(m->api_addr, sizeof m->api_addr, "%s", api);
    if (m->peer_addr[0] == '\0' && peer != NULL)
        snprintf(m->peer_addr, sizeof m->peer_addr, "%s", peer);
    json_decref(cfg);
    if (m->api_addr[0] == '\0' || m->peer_addr[0] == '\0')
        return snprintf(err, errlen, "no addresses: pass --api-addr and --peer-addr"), false;
    return true;
}

static int member_usage(void)
{
    fprintf(stderr,
            "usage: keyquorum member add --id N --roles validator[,keeper,orchestrator]\n"
            "                            [--from-pki DIR] [--api-addr H:P] [--peer-addr H:P]\n"
            "       keyquorum member update --id N [--roles R] [--api-addr H:P] [--peer-addr H:P]\n"
            "       keyquorum member remove --id N\n"
            "       keyquorum member list   [--env FILE] [-format json]\n"
            "  --from-pki DIR  the dev PKI (default $KQ_DEV_DIR): node-N.crt, "
            "node-N/x25519.key,\n"
            "                  node-N/config.json for the addresses\n");
    return 2;
}

static int member_add(struct lcli *l, int argc, char **argv)
{
    struct kq_member_node m = {0};
    const char *dir = getenv("KQ_DEV_DIR");
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned long long id;
        if (common_opt(l, argc, argv, &i))
            continue;
        if (num_opt(argc, argv, &i, "--id", &id) && id >= 1 && id <= KQ_LEDGER_MAX_NODE_ID)
            m.node_id = (uint32_t)id;
        else if (strcmp(argv[i], "--roles") == 0 && v != NULL && parse_node_roles(v, &m.roles))
            i++;
        else if (strcmp(argv[i], "--from-pki") == 0 && v != NULL)
            dir = argv[++i];
        else if (strcmp(argv[i], "--api-addr") == 0 && v != NULL && kq_member_addr_ok(v))
            snprintf(m.api_addr, sizeof m.api_addr, "%s", argv[++i]);
        else if (strcmp(argv[i], "--peer-addr") == 0 && v != NULL && kq_member_addr_ok(v))
            snprintf(m.peer_addr, sizeof m.peer_addr, "%s", argv[++i]);
        else
            return fprintf(stderr, "keyquorum member add: bad or unknown argument '%s'\n", argv[i]),
                   member_usage();
    }
    if (m.node_id == 0 || m.roles == 0 || dir == NULL)
        return fprintf(stderr, "keyquorum member add: --id, --roles and --from-pki DIR (or "
                               "KQ_DEV_DIR) are required\n"),
               2;
    char err[512] = "";
    uint8_t body[KQ_MEMBER_NODE_MAX_BYTES];
    size_t body_len = 0;
    if (!member_from_pki(dir, &m, err, sizeof err) || kq_member_node_check(&m) != KQ_OK ||
        kq_member_node_encode(&m, body, sizeof body, &body_len) != KQ_OK)
        return fprintf(stderr, "keyquorum member add: %s\n",
                       err[0] != '\0' ? err : "the node record is not valid"),
               2;
    if (!kq_cli_conn_load(&l->conn, l->env, err, sizeof err))
        return fprintf(stderr, "keyquorum member: %s\n", err), 2;
    json_t *rep = NULL;
    if (!submit_signed(l, "member add", KQ_TX_FAMILY_MEMBER, KQ_MEMBER_OP_ADD, body, body_len,
                       &rep))
        return 1;
    if (l->as_json)
        json_dumpf(rep, stdout, JSON_INDENT(2)), putchar('\n');
    else
        printf("node %u added: tx %s committed at height %lld\n", m.node_id,
               json_string_value(json_object_get(rep, "tx_id")),
               json_integer_value(json_object_get(rep, "height")));
    json_decref(rep);
    return 0;
}

/* `member update --id N [--roles R] [--api-addr H:P] [--peer-addr H:P]`: the node's record as the
 * ledger holds it (read with its proof, verified), with the given fields changed;
 * `member remove --id N`. Both are admin transactions that wait for their commit. */
static int member_change(struct lcli *l, int argc, char **argv, bool remove)
{
    const char *what = remove ? "member remove" : "member update";
    uint32_t id = 0;
    uint8_t roles = 0;
    char api[KQ_LEDGER_ADDR_MAX_BYTES + 1] = "", peer[KQ_LEDGER_ADDR_MAX_BYTES + 1] = "";
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned long long n;
        if (common_opt(l, argc, argv, &i))
            continue;
        if (num_opt(argc, argv, &i, "--id", &n) && n >= 1 && n <= KQ_LEDGER_MAX_NODE_ID)
            id = (uint32_t)n;
        else if (!remove && strcmp(argv[i], "--roles") == 0 && v != NULL &&
                 parse_node_roles(v, &roles))
            i++;
        else if (!remove && strcmp(argv[i], "--api-addr") == 0 && v != NULL && kq_member_addr_ok(v))
            snprintf(api, sizeof api, "%s", argv[++i]);
        else if (!remove && strcmp(argv[i], "--peer-addr") == 0 && v != NULL &&
                 kq_member_addr_ok(v))
            snprintf(peer, sizeof peer, "%s", argv[++i]);
        else
            return fprintf(stderr, "keyquorum %s: bad or unknown argument '%s'\n", what, argv[i]),
                   member_usage();
    }
    if (id == 0 || (!remove && roles == 0 && api[0] == '\0' && peer[0] == '\0'))
        return fprintf(stderr, "keyquorum %s: --id%s is required\n", what,
                       remove ? "" : " and at least one of --roles, --api-addr, --peer-addr"),
               2;
    char err[512] = "";
    if (!kq_cli_conn_load(&l->conn, l->env, err, sizeof err))
        return fprintf(stderr, "keyquorum member: %s\n", err), 2;
    uint8_t body[KQ_MEMBER_NODE_MAX_BYTES];
    size_t body_len = 0;
    if (remove) {
        if (kq_member_remove_encode(id, body, sizeof body, &body_len) != KQ_OK)
            return fail(what, "cannot encode the removal");
    } else {
        char key[KQ_MEMBER_KEY_BYTES];
        (void)kq_member_node_key(id, key);
        json_t *j = NULL;
        uint8_t *value = NULL;
        size_t vlen = 0;
        struct kq_header h;
        struct kq_member_node m;
        enum kq_err e = verified_value(l, key, &j, &value, &vlen, &h, err, sizeof err);
        json_decref(j);
        if (e == KQ_OK && value == NULL)
            e = KQ_ERR_NOT_FOUND;
        if (e == KQ_OK)
            e = kq_member_node_decode(&m, value, vlen);
        free(value);
        if (e != KQ_OK)
            return fail(what, err[0] != '\0'          ? err
                              : e == KQ_ERR_NOT_FOUND ? "no such node in the ledger"
                                                      : kq_strerror(e));
        m.roles = roles != 0 ? roles : m.roles;
        if (api[0] != '\0')
            snprintf(m.api_addr, sizeof m.api_addr, "%s", api);
        if (peer[0] != '\0')
            snprintf(m.peer_addr, sizeof m.peer_addr, "%s", peer);
        if (kq_member_node_encode(&m, body, sizeof body, &body_len) != KQ_OK)
            return fail(what, "the node record is not valid");
    }
    json_t *rep = NULL;
    if (!submit_signed(l, what, KQ_TX_FAMILY_MEMBER,
                       remove ? KQ_MEMBER_OP_REMOVE : KQ_MEMBER_OP_UPDATE, body, body_len, &rep))
        return 1;
    if (l->as_json)
        json_dumpf(rep, stdout, JSON_INDENT(2)), putchar('\n');
    else
        printf("node %u %s: tx %s committed at height %lld\n", id, remove ? "removed" : "updated",
               json_string_value(json_object_get(rep, "tx_id")),
               json_integer_value(json_object_get(rep, "height")));
    json_decref(rep);
    return 0;
}

static int member_list(struct lcli *l)
{
    char err[512];
    json_t *j = NULL;
    if (!get_json(l, "/v1/nodes", &j, err, sizeof err))
        return fail("member list", err);
    if (l->as_json) {
        json_dumpf(j, stdout, JSON_INDENT(2)), putchar('\n');
    } else {
        size_t i;
        json_t *n;
        json_array_foreach(json_object_get(j, "nodes"), i, n)
        {
            char *roles = json_dumps(json_object_get(n, "roles"), JSON_COMPACT);
            printf("node-%-4lld peer %-22s api %-22s roles %s\n",
                   json_integer_value(json_object_get(n, "id")),
                   json_string_value(json_object_get(n, "peer_addr")),
                   json_string_value(json_object_get(n, "api_addr")), roles);
            free(roles);
        }
    }
    json_decref(j);
    return 0;
}

int kq_cli_member(int argc, char **argv)
{
    if (argc < 1)
        return member_usage();
    struct lcli l = {0};
    int rc;
    if (strcmp(argv[0], "add") == 0) {
        rc = member_add(&l, argc, argv);
    } else if (strcmp(argv[0], "update") == 0 || strcmp(argv[0], "remove") == 0) {
        rc = member_change(&l, argc, argv, strcmp(argv[0], "remove") == 0);
    } else if (strcmp(argv[0], "list") == 0) {
        for (int i = 1; i < argc; i++)
            if (!common_opt(&l, argc, argv, &i))
                return member_usage();
        char err[512];
        if (!kq_cli_conn_load(&l.conn, l.env, err, sizeof err))
            return fprintf(stderr, "keyquorum member: %s\n", err), 2;
        rc = member_list(&l);
    } else {
        rc = member_usage();
    }
    lcli_free(&l);
    return rc;
}
