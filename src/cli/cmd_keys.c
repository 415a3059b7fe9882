/* The key commands, each the twin of a libkeyquorum function (include/keyquorum.h):
 *   keyquorum key create|show|list|rotate|delete|cancel-deletion|min-version|watch
 *   keyquorum datakey|encrypt|decrypt|rewrap|sign|verify|derive NAME [options]
 * They read the dev cluster's env file (--env FILE, $KQ_ENV, KQ_* variables) and verify what they
 * show about keys with proofs (the genesis of $KQ_DEV_DIR is the trust root). Binary values are
 * standard base64 on the command line and in the output. Exit codes: 0 ok, 1 a refusal or a
 * failed check (verify: an invalid signature), 2 a usage or input error. */
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/limits.h"
#include "base/mem.h"
#include "cli/cli.h"
#include "keyquorum.h"

#define MAX_CTX 64

struct kopt {
    const char *env, *name, *usage, *ciphertext, *message, *signature, *plaintext, *in;
    unsigned long long n, t, period, max_ops, version, count;
    bool local, as_json;
    size_t n_ctx;
    struct kq_context_pair ctx[MAX_CTX];
    char ctx_buf[MAX_CTX][KQ_MAX_CONTEXT_KEY_BYTES + KQ_MAX_CONTEXT_VALUE_BYTES + 2];
};

static int usage_err(const char *what, const char *msg)
{
    fprintf(stderr, "keyquorum %s: %s\n", what, msg);
    return 2;
}

static int refused(const char *what, kq_client *c, int rc)
{
    fprintf(stderr, "keyquorum %s: %s\n", what,
            c != NULL && kq_client_error(c)[0] ? kq_client_error(c) : kq_strerror((enum kq_err)rc));
    return 1;
}

static bool num(const char *s, unsigned long long *out)
{
    char *end;
    if (s == NULL || *s == '\0' || *s == '-')
        return false;
    *out = strtoull(s, &end, 10);
    return *end == '\0';
}

/* Parses options (any order) and at most one positional NAME. */
static bool parse(int argc, char **argv, struct kopt *o, const char *what)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true, takes = true;
        if (strcmp(a, "--env") == 0)
            o->env = v;
        else if (strcmp(a, "-usage") == 0 || strcmp(a, "--usage") == 0)
            o->usage = v;
        else if (strcmp(a, "-n") == 0)
            ok = num(v, &o->n);
        else if (strcmp(a, "-t") == 0)
            ok = num(v, &o->t);
        else if (strcmp(a, "-period") == 0)
            ok = num(v, &o->period);
        else if (strcmp(a, "-max-ops") == 0)
            ok = num(v, &o->max_ops);
        else if (strcmp(a, "-version") == 0)
            ok = num(v, &o->version) && o->version >= 1 && o->version <= UINT32_MAX;
        else if (strcmp(a, "-count") == 0)
            ok = num(v, &o->count);
        else if (strcmp(a, "-ciphertext") == 0)
            o->ciphertext = v;
        else if (strcmp(a, "-message") == 0)
            o->message = v;
        else if (strcmp(a, "-signature") == 0)
            o->signature = v;
        else if (strcmp(a, "-plaintext") == 0)
            o->plaintext = v;
        else if (strcmp(a, "-in") == 0)
            o->in = v;
        else if (strcmp(a, "-format") == 0 || strcmp(a, "--format") == 0) {
            ok = v != NULL && (strcmp(v, "json") == 0 || strcmp(v, "text") == 0);
            o->as_json = ok && strcmp(v, "json") == 0;
        } else if (strcmp(a, "-context") == 0) {
            const char *eq = v != NULL ? strchr(v, '=') : NULL;
            ok = eq != NULL && eq != v && o->n_ctx < MAX_CTX && strlen(v) < sizeof o->ctx_buf[0];
            if (ok) {
                char *b = o->ctx_buf[o->n_ctx];
                strcpy(b, v);
                b[eq - v] = '\0';
                o->ctx[o->n_ctx++] = (struct kq_context_pair){.key = b, .value = b + (eq - v) + 1};
            }
        } else if (strcmp(a, "-local") == 0) {
            o->local = true;
            takes = false;
        } else if (a[0] != '-' && o->name == NULL) {
            o->name = a;
            takes = false;
        } else {
            fprintf(stderr, "keyquorum %s: unexpected argument '%s'\n", what, a);
            return false;
        }
        if (takes && (v == NULL || !ok)) {
            fprintf(stderr, "keyquorum %s: %s needs a valid value\n", what, a);
            return false;
        }
        i += takes;
    }
    return true;
}

static kq_client *open_client(const struct kopt *o, const char *what)
{
    kq_client *c = NULL;
    int rc = kq_client_open_env(&c, o->env);
    if (rc != 0) {
        fprintf(stderr,
                "keyquorum %s: no cluster to talk to: pass --env D/env, set KQ_ENV, or set "
                "KQ_ADDR and KQ_CACERT (%s)\n",
                what, kq_strerror((enum kq_err)rc));
        return NULL;
    }
    return c;
}

static char *b64(const uint8_t *p, size_t len)
{
    size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *s = kq_secure_alloc(n);
    if (s != NULL)
        sodium_bin2base64(s, n, p, len, sodium_base64_VARIANT_ORIGINAL);
    return s;
}

/* A binary argument: base64 text, or the contents of -in FILE. */
static uint8_t *input(const char *text, const char *file, size_t max, size_t *len)
{
    *len = 0;
    if (file != NULL) {
        FILE *f = fopen(file, "rb");
        uint8_t *buf = f != NULL ? kq_secure_alloc(max + 1) : NULL;
        size_t n = buf != NULL ? fread(buf, 1, max + 1, f) : 0;
        if (f != NULL)
            fclose(f);
        if (buf == NULL || n > max) {
            kq_secure_free(buf);
            return NULL;
        }
        *len = n;
        return buf;
    }
    if (text == NULL)
        return NULL;
    size_t cap = strlen(text) / 4 * 3 + 3;
    uint8_t *buf = kq_secure_alloc(cap);
    if (buf == NULL ||
        sodium_base642bin(buf, cap, text, strlen(text), NULL, len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        *len > max) {
        kq_secure_free(buf);
        return NULL;
    }
    return buf;
}

/* ---- key ---- */

static int print_json(const char *json)
{
    puts(json);
    return 0;
}

static int key_show_text(const char *json, kq_client *c, const char *name)
{
    uint8_t pk[KQ_PUBLIC_KEY_BYTES];
    uint32_t v = 0;
    printf("%s", json);
    printf("\n");
    int rc = kq_key_public(c, name, 0, pk, &v);
    if (rc != 0)
        return refused("key show", c, rc);
    char *s = b64(pk, sizeof pk);
    printf("active version %u public key %s (verified against a certified block)\n", v, s);
    kq_free(s);
    return 0;
}

static int key_watch(kq_client *c, const struct kopt *o)
{
    uint8_t pk[KQ_PUBLIC_KEY_BYTES], last[KQ_PUBLIC_KEY_BYTES] = {0};
    uint32_t v = 0, last_v = 0;
    unsigned long long seen = 0;
    char path[128];
    for (;;) {
        int rc = kq_key_public(c, o->name, 0, pk, &v);
        if (rc != 0 && rc != KQ_ERR_STATE)
            return refused("key watch", c, rc);
        if (rc == 0 && (v != last_v || memcmp(pk, last, sizeof pk) != 0)) {
            char *s = b64(pk, sizeof pk);
            printf("%s version %u active: public key %s (verified)\n", o->name, v, s);
            fflush(stdout);
            kq_free(s);
            last_v = v;
            memcpy(last, pk, sizeof pk);
            if (o->count > 0 && ++seen >= o->count)
                return 0;
        }
        /* wait for the next block (long-poll), then look again */
        long status = 0;
        char *json = NULL, *head = NULL;
        if (kq_request(c, "GET", "/v1/ledger/head", NULL, &status, &head) != 0)
            return refused("key watch", c, KQ_ERR_NET);
        const char *h = strstr(head, "\"height\":");
        unsigned long long height = h != NULL ? strtoull(h + 9, NULL, 10) : 0;
        kq_free(head);
        snprintf(path, sizeof path, "/v1/ledger/blocks?from=%llu&limit=1&wait=30", height + 1);
        if (kq_request(c, "GET", path, NULL, &status, &json) != 0)
            return refused("key watch", c, KQ_ERR_NET);
        kq_free(json);
    }
}

static int key_usage(void)
{
    fprintf(stderr, "usage: keyquorum key create NAME -usage encrypt|sign|derive [-n N] [-t T] "
                    "[-period SECONDS] [-max-ops N]\n"
                    "       keyquorum key show NAME | list | rotate NAME | delete NAME | "
                    "cancel-deletion NAME\n"
                    "       keyquorum key min-version NAME -version V | watch NAME [-count N]\n"
                    "       (every command takes --env FILE; reads take -format json)\n");
    return 2;
}

int kq_cli_key(int argc, char **argv)
{
    if (argc < 1)
        return key_usage();
    const char *sub = argv[0];
    struct kopt *o = calloc(1, sizeof *o);
    if (o == NULL)
        return 1;
    int rc = 2;
    kq_client *c = NULL;
    char *json = NULL;
    char what[64];
    snprintf(what, sizeof what, "key %s", sub);
    if (!parse(argc - 1, argv + 1, o, what))
        goto out;
    bool needs_name = strcmp(sub, "list") != 0;
    if (needs_name && o->name == NULL) {
        rc = usage_err(what, "NAME is required");
        goto out;
    }
    if ((c = open_client(o, what)) == NULL) {
        rc = 2;
        goto out;
    }
    int r;
    if (strcmp(sub, "create") == 0) {
        int usage = o->usage == NULL                   ? 0
                    : strcmp(o->usage, "encrypt") == 0 ? KQ_USAGE_ENCRYPT
                    : strcmp(o->usage, "sign") == 0    ? KQ_USAGE_SIGN
                    : strcmp(o->usage, "derive") == 0  ? KQ_USAGE_DERIVE
                                                       : 0;
        if (usage == 0) {
            rc = usage_err(what, "-usage must be encrypt, sign or derive");
            goto out;
        }
        r = kq_key_create(c, o->name, usage, (uint32_t)o->n, (uint32_t)o->t, o->period, o->max_ops,
                          &json);
    } else if (strcmp(sub, "show") == 0) {
        r = kq_key_show(c, o->name, &json);
        if (r == 0 && !o->as_json) {
            rc = key_show_text(json, c, o->name);
            goto out;
        }
    } else if (strcmp(sub, "list") == 0) {
        r = kq_key_list(c, &json);
    } else if (strcmp(sub, "rotate") == 0) {
        r = kq_key_rotate(c, o->name, &json);
    } else if (strcmp(sub, "delete") == 0) {
        r = kq_key_delete(c, o->name, &json);
    } else if (strcmp(sub, "cancel-deletion") == 0) {
        r = kq_key_cancel_deletion(c, o->name, &json);
    } else if (strcmp(sub, "min-version") == 0) {
        if (o->version == 0) {
            rc = usage_err(what, "-version V is required");
            goto out;
        }
        r = kq_key_min_version(c, o->name, (uint32_t)o->version, &json);
    } else if (strcmp(sub, "watch") == 0) {
        rc = key_watch(c, o);
        goto out;
    } else {
        rc = key_usage();
        goto out;
    }
    rc = r != 0 ? refused(what, c, r) : print_json(json);
out:
    kq_free(json);
    kq_client_close(c);
    free(o);
    return rc;
}

/* ---- data commands ---- */

enum dop { D_DATAKEY, D_ENCRYPT, D_DECRYPT, D_REWRAP, D_SIGN, D_VERIFY, D_DERIVE };
static const char *const dnames[] = {"datakey", "encrypt", "decrypt", "rewrap",
                                     "sign",    "verify",  "derive"};

static void out_json2(const char *k1, const char *v1, const char *k2, const char *v2,
                      unsigned version)
{
    printf("{\"%s\":\"%s\"", k1, v1);
    if (k2 != NULL)
        printf(",\"%s\":\"%s\"", k2, v2);
    if (version != 0)
        printf(",\"version\":%u", version);
    printf("}\n");
}

static int run_data(enum dop op, kq_client *c, const struct kopt *o, const char *what)
{
    uint8_t buf32[64];
    char *ct = NULL, *s = NULL;
    uint8_t *pt = NULL, *in = NULL;
    size_t len = 0, in_len = 0;
    uint32_t version = 0;
    int r = 0, rc = 0;
    switch (op) {
    case D_DATAKEY:
        r = o->local ? kq_datakey_local(c, o->name, o->ctx, o->n_ctx, buf32, &ct)
                     : kq_datakey(c, o->name, o->ctx, o->n_ctx, buf32, &ct);
        if (r == 0) {
            s = b64(buf32, KQ_DEK_BYTES);
            out_json2("ciphertext", ct, "plaintext", s, 0);
        }
        break;
    case D_ENCRYPT:
        in = input(o->plaintext, o->in, KQ_MAX_DATA_PLAINTEXT_BYTES, &in_len);
        if (in == NULL && (o->plaintext != NULL || o->in != NULL))
            return usage_err(what, "-plaintext must be base64 (or -in FILE), at most 1 MiB");
        if (in == NULL)
            return usage_err(what, "-plaintext B64 or -in FILE is required");
        r = o->local ? kq_encrypt_local(c, o->name, o->ctx, o->n_ctx, in, in_len, &ct)
                     : kq_encrypt(c, o->name, o->ctx, o->n_ctx, in, in_len, &ct);
        if (r == 0)
            out_json2("ciphertext", ct, NULL, NULL, 0);
        break;
    case D_DECRYPT:
    case D_REWRAP:
        if (o->ciphertext == NULL)
            return usage_err(what, "-ciphertext CT is required");
        if (op == D_DECRYPT) {
            r = kq_decrypt(c, o->name, o->ctx, o->n_ctx, o->ciphertext, &pt, &len);
            if (r == 0) {
                s = b64(pt, len);
                out_json2("plaintext", s, NULL, NULL, 0);
            }
        } else {
            r = kq_rewrap(c, o->name, o->ctx, o->n_ctx, o->ciphertext, &ct);
            if (r == 0)
                out_json2("ciphertext", ct, NULL, NULL, 0);
        }
        break;
    case D_SIGN:
    case D_VERIFY:
        in = input(o->message, o->in, KQ_MAX_SIGN_MESSAGE_BYTES, &in_len);
        if (in == NULL)
            return usage_err(what, "-message B64 or -in FILE is required (at most 64 KiB)");
        if (op == D_SIGN) {
            r = kq_sign(c, o->name, in, in_len, buf32, &version);
            if (r == 0) {
                s = b64(buf32, KQ_SIGNATURE_BYTES);
                out_json2("signature", s, NULL, NULL, version);
            }
        } else {
            size_t sl = 0;
            uint8_t *sig = input(o->signature, NULL, KQ_SIGNATURE_BYTES, &sl);
            if (sig == NULL || sl != KQ_SIGNATURE_BYTES) {
                kq_secure_free(sig);
                kq_secure_free(in);
                return usage_err(what, "-signature must be base64 of 64 bytes");
            }
            r = kq_verify(c, o->name, (uint32_t)o->version, in, in_len, sig);
            kq_secure_free(sig);
            if (r == 0 || r == KQ_ERR_BAD_SIGNATURE) {
                printf("{\"valid\":%s}\n", r == 0 ? "true" : "false");
                rc = r == 0 ? 0 : 1;
                r = 0;
            }
        }
        break;
    case D_DERIVE:
        r = kq_derive(c, o->name, (uint32_t)o->version, o->ctx, o->n_ctx, buf32, &version);
        if (r == 0) {
            s = b64(buf32, KQ_DERIVED_KEY_BYTES);
            out_json2("key", s, NULL, NULL, version);
        }
        break;
    }
    kq_wipe(buf32, sizeof buf32);
    kq_free(ct);
    kq_free(s);
    kq_free(pt);
    kq_secure_free(in);
    return r != 0 ? refused(what, c, r) : rc;
}

static int data_cmd(enum dop op, int argc, char **argv)
{
    const char *what = dnames[op];
    struct kopt *o = calloc(1, sizeof *o);
    if (o == NULL)
        return 1;
    int rc = 2;
    kq_client *c = NULL;
    if (!parse(argc, argv, o, what))
        goto out;
    if (o->name == NULL) {
        fprintf(stderr, "usage: keyquorum %s NAME [-context k=v]...%s%s%s%s [--env FILE]\n", what,
                op == D_DATAKEY || op == D_ENCRYPT ? " [-local]" : "",
                op == D_ENCRYPT ? " -plaintext B64|-in FILE" : "",
                op == D_DECRYPT || op == D_REWRAP ? " -ciphertext CT" : "",
                op == D_SIGN || op == D_VERIFY ? " -message B64|-in FILE" : "");
        goto out;
    }
    if ((c = open_client(o, what)) != NULL)
        rc = run_data(op, c, o, what);
out:
    kq_client_close(c);
    kq_wipe(o, sizeof *o);
    free(o);
    return rc;
}

int kq_cli_datakey(int argc, char **argv)
{
    return data_cmd(D_DATAKEY, argc, argv);
}
int kq_cli_encrypt(int argc, char **argv)
{
    return data_cmd(D_ENCRYPT, argc, argv);
}
int kq_cli_decrypt(int argc, char **argv)
{
    return data_cmd(D_DECRYPT, argc, argv);
}
int kq_cli_rewrap(int argc, char **argv)
{
    return data_cmd(D_REWRAP, argc, argv);
}
int kq_cli_sign(int argc, char **argv)
{
    return data_cmd(D_SIGN, argc, argv);
}
int kq_cli_verify(int argc, char **argv)
{
    return data_cmd(D_VERIFY, argc, argv);
}
int kq_cli_derive(int argc, char **argv)
{
    return data_cmd(D_DERIVE, argc, argv);
}
