/* libkeyquorum (include/keyquorum.h): the public client API over the HTTPS helper (http.h) and
 * the verification of ledger reads (trust.h). Public keys, keeper identities and public shares are
 * only ever taken from values checked by proof; local wraps use a cached table of a verified key;
 * sealed partials are opened with the client's X25519 secret (guarded memory), verified and
 * combined here. Every secret buffer is wiped before it is freed. */
#include "keyquorum.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "client/http.h"
#include "client/trust.h"
#include "crypto/frost.h"
#include "crypto/partial.h"
#include "crypto/tkem.h"
#include "ledger/keyreg.h"
#include "ledger/tx_member.h"

#define TIMEOUT_MS 65000

struct kq_client {
    struct kq_cli_conn conn;
    struct kq_trust trust;
    char genesis[4096];
    bool has_x25519;
    uint8_t *x_sk; /* guarded */
    uint8_t x_pk[32];
    char err[512];
    /* the last verified public key, with its wrap table */
    char t_name[KQ_KEY_NAME_MAX_BYTES + 1];
    uint32_t t_version;
    uint8_t t_S[32];
    struct kq_pt_table *table;
};

static int fail(kq_client *c, enum kq_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(kq_client *c, enum kq_err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return (int)e;
}

void kq_free(void *p)
{
    if (p == NULL)
        return;
    kq_secure_free(p);
}

/* Strings and buffers returned to the caller live in guarded memory (wiped by kq_free). */
static char *dup_out(const char *s, size_t n)
{
    char *o = kq_secure_alloc(n + 1);
    if (o != NULL) {
        memcpy(o, s, n);
        o[n] = '\0';
    }
    return o;
}

const char *kq_client_error(const kq_client *c)
{
    return c != NULL ? c->err : "no client";
}

static enum kq_err read_x25519(kq_client *c, const char *path)
{
    char hex[130] = "";
    FILE *f = fopen(path, "r");
    size_t n = f != NULL ? fread(hex, 1, sizeof hex - 1, f) : 0;
    if (f != NULL)
        fclose(f);
    while (n > 0 && (hex[n - 1] == '\n' || hex[n - 1] == '\r' || hex[n - 1] == ' '))
        n--;
    size_t got = 0;
    c->x_sk = kq_secure_alloc(32);
    KQ_ENSURE(c->x_sk != NULL, KQ_ERR_NOMEM);
    bool ok = n == 64 && sodium_hex2bin(c->x_sk, 32, hex, n, NULL, &got, NULL) == 0 && got == 32;
    kq_wipe(hex, sizeof hex);
    KQ_ENSURE(ok, KQ_ERR_CONFIG);
    crypto_scalarmult_base(c->x_pk, c->x_sk);
    c->has_x25519 = true;
    return KQ_OK;
}

static void set(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? src : "");
}

int kq_client_open(kq_client **out, const struct kq_client_config *cfg)
{
    *out = NULL;
    if (kq_init(0) != KQ_OK)
        return KQ_ERR_CRYPTO;
    if (cfg == NULL || cfg->url == NULL || cfg->ca_file == NULL)
        return KQ_ERR_INVALID_ARG;
    kq_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return KQ_ERR_NOMEM;
    set(c->conn.addr, sizeof c->conn.addr, cfg->url);
    set(c->conn.addrs[0], sizeof c->conn.addrs[0], cfg->url);
    c->conn.n_addrs = 1;
    set(c->conn.cacert, sizeof c->conn.cacert, cfg->ca_file);
    set(c->conn.cert, sizeof c->conn.cert, cfg->cert_file);
    set(c->conn.key, sizeof c->conn.key, cfg->key_file);
    set(c->conn.token, sizeof c->conn.token, cfg->token);
    set(c->genesis, sizeof c->genesis, cfg->genesis_file);
    if (cfg->x25519_key_file != NULL && read_x25519(c, cfg->x25519_key_file) != KQ_OK) {
        kq_client_close(c);
        return KQ_ERR_CONFIG;
    }
    *out = c;
    return KQ_OK;
}

int kq_client_open_env(kq_client **out, const char *env_file)
{
    struct kq_cli_conn conn;
    char err[512];
    *out = NULL;
    if (!kq_cli_conn_load(&conn, env_file, err, sizeof err))
        return KQ_ERR_CONFIG;
    char genesis[4096] = "";
    const char *dev = getenv("KQ_DEV_DIR");
    if (dev != NULL)
        snprintf(genesis, sizeof genesis, "%s/genesis.bin", dev);
    struct kq_client_config cfg = {.url = conn.addr,
                                   .ca_file = conn.cacert,
                                   .cert_file = conn.cert[0] ? conn.cert : NULL,
                                   .key_file = conn.key[0] ? conn.key : NULL,
                                   .token = conn.token[0] ? conn.token : NULL,
                                   .genesis_file = genesis[0] ? genesis : NULL,
                                   .x25519_key_file = getenv("KQ_X25519_KEY")};
    int rc = kq_client_open(out, &cfg);
    if (rc == KQ_OK)
        (*out)->conn = conn;
    kq_wipe(&conn, sizeof conn);
    return rc;
}

void kq_client_close(kq_client *c)
{
    if (c == NULL)
        return;
    kq_trust_free(&c->trust);
    kq_pt_table_free(c->table);
    kq_secure_free(c->x_sk);
    kq_wipe(c, sizeof *c);
    free(c);
}

/* ---- requests ---- */

/* POST/GET path with body; KQ_OK with *out on a 2xx, else the API's error as a code. */
static int call(kq_client *c, const char *method, const char *path, json_t *body, json_t **out)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    long status = 0;
    *out = NULL;
    bool ok = kq_cli_request(&c->conn, NULL, method, path, text, TIMEOUT_MS, &status, out, c->err,
                             sizeof c->err);
    if (text != NULL) {
        kq_wipe(text, strlen(text));
        free(text);
    }
    if (!ok)
        return KQ_ERR_NET;
    if (status >= 200 && status < 300)
        return KQ_OK;
    json_t *e = json_object_get(*out, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    snprintf(c->err, sizeof c->err, "HTTP %ld %s: %s", status, code != NULL ? code : "",
             kq_cli_error_message(*out));
    json_decref(*out);
    *out = NULL;
    return status == 404   ? KQ_ERR_NOT_FOUND
           : status == 403 ? KQ_ERR_FORBIDDEN
           : status == 401 ? KQ_ERR_AUTH
           : status == 409 ? KQ_ERR_STATE
           : status == 503 ? KQ_ERR_BUSY
           : status == 504 ? KQ_ERR_TIMEOUT
           : status >= 500 ? KQ_ERR_IO
                           : KQ_ERR_INVALID_ARG;
}

static int call_text(kq_client *c, const char *method, const char *path, json_t *body, char **json)
{
    json_t *j = NULL;
    int rc = call(c, method, path, body, &j);
    json_decref(body);
    if (rc != KQ_OK)
        return rc;
    char *t = json_dumps(j, JSON_INDENT(2));
    json_decref(j);
    *json = t != NULL ? dup_out(t, strlen(t)) : NULL;
    free(t);
    return *json != NULL ? KQ_OK : KQ_ERR_NOMEM;
}

static json_t *ctx_json(const struct kq_context_pair *ctx, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, ctx[i].key, json_string(ctx[i].value));
    return o;
}

static json_t *b64_json(const uint8_t *p, size_t len)
{
    size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *s = kq_secure_alloc(n);
    if (s == NULL)
        return NULL;
    sodium_bin2base64(s, n, p, len, sodium_base64_VARIANT_ORIGINAL);
    json_t *j = json_string(s);
    kq_secure_free(s);
    return j;
}

/* Base64 JSON string -> guarded buffer (*len). */
static uint8_t *unb64(json_t *v, size_t *len)
{
    *len = 0;
    if (!json_is_string(v))
        return NULL;
    size_t cap = json_string_length(v) / 4 * 3 + 3;
    uint8_t *o = kq_secure_alloc(cap);
    if (o != NULL && sodium_base642bin(o, cap, json_string_value(v), json_string_length(v), NULL,
                                       len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
        kq_secure_free(o);
        o = NULL;
    }
    return o;
}

static void key_path(char *out, size_t cap, const char *name, const char *op)
{
    snprintf(out, cap, "/v1/keys/%s%s%s", name, op != NULL ? "/" : "", op != NULL ? op : "");
}

/* ---- verified reads ---- */

static int verified(kq_client *c, const char *key, uint8_t **value, size_t *vlen)
{
    json_t *j = NULL;
    struct kq_header h;
    if (c->genesis[0] == '\0')
        return fail(c, KQ_ERR_CONFIG, "no genesis file: verified reads need the trust root");
    /* an unreadable trust root is the caller's configuration, not the network */
    if (c->trust.genesis == NULL &&
        !kq_trust_load_genesis(&c->trust, c->genesis, c->err, sizeof c->err))
        return KQ_ERR_CONFIG;
    if (!kq_trust_load(&c->trust, &c->conn, NULL, c->genesis, c->err, sizeof c->err))
        return KQ_ERR_NET;
    enum kq_err e =
        kq_trust_value(&c->trust, &c->conn, NULL, key, &j, value, vlen, &h, c->err, sizeof c->err);
    json_decref(j);
    if (e == KQ_OK && *value == NULL)
        e = KQ_ERR_NOT_FOUND;
    if (e != KQ_OK && e != KQ_ERR_NET)
        snprintf(c->err, sizeof c->err, "%s does not verify: %s", key, kq_strerror(e));
    return (int)e;
}

static int verified_version(kq_client *c, const char *name, uint32_t version,
                            struct kq_keyver_rec *v)
{
    char path[KQ_LEDGER_MAX_KEY_BYTES + 1];
    uint8_t *val = NULL;
    size_t len = 0;
    int rc;
    if (!kq_key_name_ok(name, strlen(name)))
        return fail(c, KQ_ERR_INVALID_ARG, "bad key name");
    if (version == 0) {
        struct kq_key_rec k;
        kq_keyreg_key_path(path, name);
        if ((rc = verified(c, path, &val, &len)) != KQ_OK)
            return rc;
        rc = kq_key_rec_decode(&k, val, len);
        free(val);
        if (rc != KQ_OK || k.active_version == 0)
            return fail(c, KQ_ERR_STATE, "key %s has no active version", name);
        version = k.active_version;
    }
    kq_keyreg_version_path(path, name, version);
    if ((rc = verified(c, path, &val, &len)) != KQ_OK)
        return rc;
    rc = kq_keyver_rec_decode(v, val, len);
    free(val);
    if (rc == KQ_OK && v->epoch == 0)
        rc = fail(c, KQ_ERR_STATE, "version %u of %s has no key yet", version, name);
    return rc;
}

int kq_key_public(kq_client *c, const char *name, uint32_t version,
                  uint8_t public_key[KQ_PUBLIC_KEY_BYTES], uint32_t *version_out)
{
    struct kq_keyver_rec v;
    int rc = verified_version(c, name, version, &v);
    if (rc != KQ_OK)
        return rc;
    memcpy(public_key, v.public_key, KQ_PUBLIC_KEY_BYTES);
    if (version_out != NULL)
        *version_out = v.version;
    return KQ_OK;
}

/* ---- local wraps ---- */

static enum kq_err build_label(struct kq_label *l, const char *name, uint32_t version,
                               enum kq_purpose p, const struct kq_context_pair *ctx, size_t n)
{
    struct kq_ctx_pair pairs[KQ_MAX_CONTEXT_PAIRS];
    KQ_ENSURE(n <= KQ_MAX_CONTEXT_PAIRS, KQ_ERR_LIMIT);
    for (size_t i = 0; i < n; i++)
        pairs[i] = (struct kq_ctx_pair){.key = (const uint8_t *)ctx[i].key,
                                        .key_len = strlen(ctx[i].key),
                                        .value = (const uint8_t *)ctx[i].value,
                                        .value_len = strlen(ctx[i].value)};
    return kq_label_build(l, (const uint8_t *)name, strlen(name), version, p, pairs, n);
}

static int wrap_local(kq_client *c, const char *name, const struct kq_context_pair *ctx,
                      size_t n_ctx, bool dek, const uint8_t *pt, size_t len, char **ciphertext)
{
    struct kq_keyver_rec v;
    int rc = verified_version(c, name, 0, &v);
    if (rc != KQ_OK)
        return rc;
    if (c->table == NULL || strcmp(c->t_name, name) != 0 || c->t_version != v.version ||
        memcmp(c->t_S, v.public_key, 32) != 0) {
        kq_pt_table_free(c->table);
        c->table = NULL;
        if ((rc = kq_pt_table_new(&c->table, v.public_key)) != KQ_OK)
            return fail(c, (enum kq_err)rc, "bad public key");
        snprintf(c->t_name, sizeof c->t_name, "%s", name);
        c->t_version = v.version;
        memcpy(c->t_S, v.public_key, 32);
    }
    struct kq_label *label = malloc(sizeof *label);
    size_t cap = KQ_TKEM_CTBYTES(len), blen = 0, tlen = 0;
    uint8_t *bin = malloc(cap);
    char *text = kq_secure_alloc(KQ_TKEM_TEXTBYTES(len));
    rc = label != NULL && bin != NULL && text != NULL ? KQ_OK : KQ_ERR_NOMEM;
    if (rc == KQ_OK)
        rc =
            build_label(label, name, v.version, dek ? KQ_PURPOSE_DEK : KQ_PURPOSE_DATA, ctx, n_ctx);
    if (rc == KQ_OK)
        rc = kq_tkem_wrap_table(bin, cap, &blen, c->table, label, pt, len);
    if (rc == KQ_OK)
        rc = kq_tkem_to_text(text, KQ_TKEM_TEXTBYTES(len), &tlen, bin, blen);
    free(label);
    free(bin);
    if (rc != KQ_OK) {
        kq_secure_free(text);
        return fail(c, (enum kq_err)rc, "local wrap failed: %s", kq_strerror((enum kq_err)rc));
    }
    *ciphertext = text;
    return KQ_OK;
}

int kq_datakey_local(kq_client *c, const char *name, const struct kq_context_pair *ctx,
                     size_t n_ctx, uint8_t dek[KQ_DEK_BYTES], char **ciphertext)
{
    randombytes_buf(dek, KQ_DEK_BYTES);
    int rc = wrap_local(c, name, ctx, n_ctx, true, dek, KQ_DEK_BYTES, ciphertext);
    if (rc != KQ_OK)
        kq_wipe(dek, KQ_DEK_BYTES);
    return rc;
}

int kq_encrypt_local(kq_client *c, const char *name, const struct kq_context_pair *ctx,
                     size_t n_ctx, const uint8_t *plaintext, size_t len, char **ciphertext)
{
    if (len > KQ_MAX_DATA_PLAINTEXT_BYTES)
        return fail(c, KQ_ERR_LIMIT, "plaintext over 1 MiB");
    return wrap_local(c, name, ctx, n_ctx, false, plaintext, len, ciphertext);
}

/* ---- through the cluster ---- */

int kq_datakey(kq_client *c, const char *name, const struct kq_context_pair *ctx, size_t n_ctx,
               uint8_t dek[KQ_DEK_BYTES], char **ciphertext)
{
    char path[256];
    json_t *j = NULL;
    key_path(path, sizeof path, name, "datakey");
    json_t *body = json_pack("{s:o}", "context", ctx_json(ctx, n_ctx));
    int rc = call(c, "POST", path, body, &j);
    json_decref(body);
    if (rc != KQ_OK)
        return rc;
    size_t len = 0;
    uint8_t *k = unb64(json_object_get(j, "plaintext"), &len);
    json_t *ct = json_object_get(j, "ciphertext");
    if (k == NULL || len != KQ_DEK_BYTES || !json_is_string(ct)) {
        kq_secure_free(k);
        json_decref(j);
        return fail(c, KQ_ERR_FORMAT, "the datakey reply does not parse");
    }
    memcpy(dek, k, KQ_DEK_BYTES);
    kq_secure_free(k);
    *ciphertext = dup_out(json_string_value(ct), json_string_length(ct));
    json_decref(j);
    return *ciphertext != NULL ? KQ_OK : KQ_ERR_NOMEM;
}

static int ct_reply(kq_client *c, const char *path, json_t *body, char **out)
{
    json_t *j = NULL;
    int rc = call(c, "POST", path, body, &j);
    json_decref(body);
    if (rc != KQ_OK)
        return rc;
    json_t *ct = json_object_get(j, "ciphertext");
    *out = json_is_string(ct) ? dup_out(json_string_value(ct), json_string_length(ct)) : NULL;
    json_decref(j);
    return *out != NULL ? KQ_OK : fail(c, KQ_ERR_FORMAT, "the reply carries no ciphertext");
}

int kq_encrypt(kq_client *c, const char *name, const struct kq_context_pair *ctx, size_t n_ctx,
               const uint8_t *plaintext, size_t len, char **ciphertext)
{
    char path[256];
    key_path(path, sizeof path, name, "encrypt");
    return ct_reply(c, path,
                    json_pack("{s:o,s:o}", "plaintext", b64_json(plaintext, len), "context",
                              ctx_json(ctx, n_ctx)),
                    ciphertext);
}

int kq_rewrap(kq_client *c, const char *name, const struct kq_context_pair *ctx, size_t n_ctx,
              const char *ciphertext, char **out)
{
    char path[256];
    key_path(path, sizeof path, name, "rewrap");
    return ct_reply(
        c, path, json_pack("{s:s,s:o}", "ciphertext", ciphertext, "context", ctx_json(ctx, n_ctx)),
        out);
}

/* A keeper's identity key, from its node record read by proof. */
static int keeper_pk(kq_client *c, uint32_t id, uint8_t pk[32])
{
    char key[KQ_MEMBER_KEY_BYTES];
    uint8_t *val = NULL;
    size_t len = 0;
    struct kq_member_node m;
    kq_member_node_key(id, key);
    int rc = verified(c, key, &val, &len);
    if (rc == KQ_OK)
        rc = kq_member_node_decode(&m, val, len);
    free(val);
    if (rc == KQ_OK)
        memcpy(pk, m.identity_pk, 32);
    return rc;
}

/* Sealed delivery: opens, verifies and combines the keepers' partials here. */
static int combine_sealed(kq_client *c, const char *name, const struct kq_context_pair *ctx,
                          size_t n_ctx, const char *ciphertext, json_t *sealed, uint8_t **plaintext,
                          size_t *out_len)
{
    uint32_t version = (uint32_t)json_integer_value(json_object_get(sealed, "version"));
    uint64_t epoch = (uint64_t)json_integer_value(json_object_get(sealed, "epoch"));
    json_t *parts = json_object_get(sealed, "partials");
    if (!c->has_x25519)
        return fail(c, KQ_ERR_CONFIG,
                    "the cluster sealed the partials to this client's X25519 "
                    "key: configure its secret (x25519_key_file)");
    struct kq_keyver_rec v;
    int rc = verified_version(c, name, version, &v);
    if (rc != KQ_OK)
        return rc;
    char key[KQ_LEDGER_MAX_KEY_BYTES + 1];
    uint8_t *val = NULL;
    size_t len = 0;
    struct kq_sharing_rec *sh = malloc(sizeof *sh);
    struct kq_label *label = malloc(sizeof *label);
    uint8_t *bin = malloc(KQ_TKEM_MAXCTBYTES);
    struct kq_tkem_partial p[KQ_DKG_MAX_N];
    uint8_t S_i[KQ_DKG_MAX_N][KQ_POINTBYTES];
    size_t n = 0, blen = 0;
    struct kq_tkem_ct ct;
    rc = sh != NULL && label != NULL && bin != NULL ? KQ_OK : KQ_ERR_NOMEM;
    kq_keyreg_sharing_path(key, name, version, epoch);
    if (rc == KQ_OK)
        rc = verified(c, key, &val, &len);
    if (rc == KQ_OK)
        rc = kq_sharing_rec_decode(sh, val, len);
    free(val);
    if (rc == KQ_OK)
        rc = kq_tkem_from_text(bin, KQ_TKEM_MAXCTBYTES, &blen, ciphertext, strlen(ciphertext));
    if (rc == KQ_OK)
        rc = kq_tkem_decode(&ct, bin, blen);
    if (rc == KQ_OK)
        rc = build_label(label, name, version, (enum kq_purpose)ct.type, ctx, n_ctx);
    size_t i;
    json_t *e;
    uint32_t who[KQ_DKG_MAX_N];
    uint8_t(*opened)[KQ_PARTIAL_MAXBYTES] = malloc(KQ_DKG_MAX_N * KQ_PARTIAL_MAXBYTES);
    size_t opened_len[KQ_DKG_MAX_N];
    if (rc == KQ_OK && opened == NULL)
        rc = KQ_ERR_NOMEM;
    json_array_foreach(parts, i, e)
    {
        if (rc != KQ_OK || n >= KQ_DKG_MAX_N)
            break;
        size_t slen = 0;
        uint8_t *s = unb64(json_object_get(e, "sealed"), &slen);
        uint32_t idx = (uint32_t)json_integer_value(json_object_get(e, "index"));
        uint8_t pk[32];
        struct kq_partial_resp r;
        bool ok = s != NULL && slen > crypto_box_SEALBYTES &&
                  slen - crypto_box_SEALBYTES <= KQ_PARTIAL_MAXBYTES && idx >= 1 && idx <= sh->n &&
                  crypto_box_seal_open(opened[n], s, slen, c->x_pk, c->x_sk) == 0 &&
                  kq_partial_decode(&r, opened[n], slen - crypto_box_SEALBYTES) == KQ_OK &&
                  r.index == idx && keeper_pk(c, sh->keepers[idx - 1], pk) == KQ_OK &&
                  kq_partial_verify(&r, pk) == KQ_OK && kq_partial_unwrap_part(&p[n], &r) == KQ_OK;
        kq_secure_free(s);
        if (ok) {
            memcpy(S_i[n], sh->public_shares[idx - 1], KQ_POINTBYTES);
            who[n] = sh->keepers[idx - 1];
            opened_len[n] = slen - crypto_box_SEALBYTES;
            n++;
        }
    }
    uint8_t *pt = NULL, faulty[KQ_DKG_MAX_N] = {0};
    size_t pt_len = 0;
    if (rc == KQ_OK) {
        pt = kq_secure_alloc(ct.sealed_len > 0 ? ct.sealed_len : 1);
        rc = (int)(pt != NULL ? kq_tkem_combine_verified(
                                    pt, ct.sealed_len, &pt_len, faulty, &ct, label, v.public_key, p,
                                    (const uint8_t(*)[KQ_POINTBYTES])S_i, n, sh->t)
                              : KQ_ERR_NOMEM);
    }
    /* a keeper whose signed partial carries a false proof: its response is evidence */
    uint32_t reported = 0;
    for (size_t k = 0; opened != NULL && k < n; k++)
        if (faulty[k]) {
            json_t *body =
                json_pack("{s:s,s:I,s:I,s:I,s:o}", "key", name, "version", (json_int_t)version,
                          "epoch", (json_int_t)epoch, "keeper", (json_int_t)who[k], "response",
                          b64_json(opened[k], opened_len[k]));
            json_t *j = NULL;
            if (call(c, "POST", "/v1/evidence", body, &j) == KQ_OK)
                reported = who[k];
            json_decref(body);
            json_decref(j);
        }
    if (opened != NULL) {
        kq_wipe(opened, KQ_DKG_MAX_N * KQ_PARTIAL_MAXBYTES);
        free(opened);
    }
    free(sh);
    free(label);
    free(bin);
    kq_wipe(p, sizeof p);
    if (rc != KQ_OK) {
        kq_secure_free(pt);
        if (reported != 0)
            return fail(c, (enum kq_err)rc,
                        "keeper %u sealed a false partial; it was reported as evidence, retry "
                        "(the cluster routes around it once the evidence commits)",
                        reported);
        return fail(c, (enum kq_err)rc, "sealed partials do not combine: %s",
                    kq_strerror((enum kq_err)rc));
    }
    *plaintext = pt;
    *out_len = pt_len;
    return KQ_OK;
}

int kq_decrypt(kq_client *c, const char *name, const struct kq_context_pair *ctx, size_t n_ctx,
               const char *ciphertext, uint8_t **plaintext, size_t *len)
{
    char path[256];
    json_t *j = NULL;
    key_path(path, sizeof path, name, "decrypt");
    json_t *body =
        json_pack("{s:s,s:o}", "ciphertext", ciphertext, "context", ctx_json(ctx, n_ctx));
    int rc = call(c, "POST", path, body, &j);
    json_decref(body);
    if (rc != KQ_OK)
        return rc;
    json_t *sealed = json_object_get(j, "sealed");
    if (json_is_object(sealed)) {
        rc = combine_sealed(c, name, ctx, n_ctx, ciphertext, sealed, plaintext, len);
        json_decref(j);
        return rc;
    }
    *plaintext = unb64(json_object_get(j, "plaintext"), len);
    json_decref(j);
    return *plaintext != NULL ? KQ_OK : fail(c, KQ_ERR_FORMAT, "the reply carries no plaintext");
}

int kq_sign(kq_client *c, const char *name, const uint8_t *msg, size_t len,
            uint8_t sig[KQ_SIGNATURE_BYTES], uint32_t *version)
{
    char path[256];
    json_t *j = NULL;
    key_path(path, sizeof path, name, "sign");
    json_t *body = json_pack("{s:o}", "message", b64_json(msg, len));
    int rc = call(c, "POST", path, body, &j);
    json_decref(body);
    if (rc != KQ_OK)
        return rc;
    size_t n = 0;
    uint8_t *s = unb64(json_object_get(j, "signature"), &n);
    if (version != NULL)
        *version = (uint32_t)json_integer_value(json_object_get(j, "version"));
    json_decref(j);
    if (s == NULL || n != KQ_SIGNATURE_BYTES) {
        kq_secure_free(s);
        return fail(c, KQ_ERR_FORMAT, "the reply carries no signature");
    }
    memcpy(sig, s, KQ_SIGNATURE_BYTES);
    kq_secure_free(s);
    return KQ_OK;
}

int kq_verify(kq_client *c, const char *name, uint32_t version, const uint8_t *msg, size_t len,
              const uint8_t sig[KQ_SIGNATURE_BYTES])
{
    struct kq_keyver_rec v;
    int rc = verified_version(c, name, version, &v);
    if (rc != KQ_OK)
        return rc;
    if (kq_frost_verify(sig, v.public_key, msg, len) != KQ_OK)
        return fail(c, KQ_ERR_BAD_SIGNATURE, "the signature does not verify under version %u",
                    v.version);
    return KQ_OK;
}

int kq_derive(kq_client *c, const char *name, uint32_t version, const struct kq_context_pair *ctx,
              size_t n_ctx, uint8_t key[KQ_DERIVED_KEY_BYTES], uint32_t *version_out)
{
    char path[256];
    json_t *j = NULL;
    key_path(path, sizeof path, name, "derive");
    json_t *body = json_pack("{s:o}", "context", ctx_json(ctx, n_ctx));
    if (version != 0)
        json_object_set_new(body, "version", json_integer((json_int_t)version));
    int rc = call(c, "POST", path, body, &j);
    json_decref(body);
    if (rc != KQ_OK)
        return rc;
    size_t n = 0;
    uint8_t *k = unb64(json_object_get(j, "key"), &n);
    if (version_out != NULL)
        *version_out = (uint32_t)json_integer_value(json_object_get(j, "version"));
    json_decref(j);
    if (k == NULL || n != KQ_DERIVED_KEY_BYTES) {
        kq_secure_free(k);
        return fail(c, KQ_ERR_FORMAT, "the reply carries no key");
    }
    memcpy(key, k, KQ_DERIVED_KEY_BYTES);
    kq_secure_free(k);
    return KQ_OK;
}

/* ---- administration ---- */

int kq_key_create(kq_client *c, const char *name, int usage, uint32_t n, uint32_t t,
                  uint64_t period_s, uint64_t max_ops, char **json)
{
    static const char *const names[] = {"", "encrypt", "sign", "derive"};
    if (usage < KQ_USAGE_ENCRYPT || usage > KQ_USAGE_DERIVE)
        return fail(c, KQ_ERR_INVALID_ARG, "usage must be encrypt, sign or derive");
    json_t *body =
        json_pack("{s:s,s:s,s:{s:I,s:I}}", "name", name, "usage", names[usage], "rotation",
                  "period_s", (json_int_t)period_s, "max_ops", (json_int_t)max_ops);
    if (n != 0)
        json_object_set_new(body, "n", json_integer((json_int_t)n));
    if (t != 0)
        json_object_set_new(body, "t", json_integer((json_int_t)t));
    return call_text(c, "POST", "/v1/keys", body, json);
}

int kq_key_show(kq_client *c, const char *name, char **json)
{
    char path[256];
    key_path(path, sizeof path, name, NULL);
    return call_text(c, "GET", path, NULL, json);
}

int kq_key_list(kq_client *c, char **json)
{
    return call_text(c, "GET", "/v1/keys", NULL, json);
}

int kq_key_rotate(kq_client *c, const char *name, char **json)
{
    char path[256];
    key_path(path, sizeof path, name, "rotate");
    return call_text(c, "POST", path, json_object(), json);
}

int kq_key_delete(kq_client *c, const char *name, char **json)
{
    char path[256];
    key_path(path, sizeof path, name, NULL);
    return call_text(c, "DELETE", path, NULL, json);
}

int kq_key_cancel_deletion(kq_client *c, const char *name, char **json)
{
    char path[256];
    key_path(path, sizeof path, name, "cancel-deletion");
    return call_text(c, "POST", path, json_object(), json);
}

int kq_key_min_version(kq_client *c, const char *name, uint32_t version, char **json)
{
    char path[256];
    key_path(path, sizeof path, name, "min-version");
    return call_text(c, "POST", path, json_pack("{s:I}", "version", (json_int_t)version), json);
}

int kq_request(kq_client *c, const char *method, const char *path, const char *body, long *status,
               char **json)
{
    json_t *j = NULL;
    if (!kq_cli_request(&c->conn, NULL, method, path, body, TIMEOUT_MS, status, &j, c->err,
                        sizeof c->err))
        return KQ_ERR_NET;
    char *t = json_dumps(j, JSON_INDENT(2));
    json_decref(j);
    *json = t != NULL ? dup_out(t, strlen(t)) : NULL;
    free(t);
    return *json != NULL ? KQ_OK : KQ_ERR_NOMEM;
}
