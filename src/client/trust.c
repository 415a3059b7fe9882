/* The client's trust root and verification (trust.h), shared by the CLI and libkeyquorum. */
#include "client/trust.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/app.h"
#include "ledger/follow.h"

bool kq_trust_load_genesis(struct kq_trust *t, const char *genesis_path, char *err, size_t errlen)
{
    char path[4096];
    const char *dev = getenv("KQ_DEV_DIR");
    if (genesis_path != NULL)
        snprintf(path, sizeof path, "%s", genesis_path);
    else if (dev != NULL)
        snprintf(path, sizeof path, "%s/genesis.bin", dev);
    else {
        snprintf(err, errlen,
                 "no genesis to verify against: pass --genesis FILE or set KQ_DEV_DIR");
        return false;
    }
    FILE *f = fopen(path, "rb");
    uint8_t *buf = malloc(KQ_GENESIS_MAX_BYTES + 1);
    size_t n = f != NULL && buf != NULL ? fread(buf, 1, KQ_GENESIS_MAX_BYTES + 1, f) : 0;
    if (f != NULL)
        fclose(f);
    t->genesis = calloc(1, sizeof *t->genesis);
    t->vs = calloc(1, sizeof *t->vs);
    bool ok = n > 0 && n <= KQ_GENESIS_MAX_BYTES && t->genesis != NULL && t->vs != NULL &&
              kq_genesis_decode(t->genesis, buf, n) == KQ_OK &&
              kq_genesis_chain_id(t->genesis, &t->chain_id) == KQ_OK &&
              kq_ledger_genesis_valset(t->genesis, t->vs) == KQ_OK;
    free(buf);
    if (!ok) {
        /* nothing half-loaded stays behind to be taken for a trust root on the next call */
        free(t->genesis);
        free(t->vs);
        t->genesis = NULL;
        t->vs = NULL;
        snprintf(err, errlen, "cannot read a valid genesis from %.400s", path);
    }
    return ok;
}

bool kq_trust_get(const struct kq_cli_conn *c, const char *addr, const char *path, json_t **out,
                  char *err, size_t errlen)
{
    long status = 0;
    if (!kq_cli_request(c, addr, "GET", path, NULL, 65000, &status, out, err, errlen))
        return false;
    if (status != 200) {
        snprintf(err, errlen, "HTTP %ld: %s", status, kq_cli_error_message(*out));
        json_decref(*out);
        *out = NULL;
        return false;
    }
    return true;
}

uint8_t *kq_trust_b64(const char *s, size_t *len)
{
    size_t cap = s != NULL ? strlen(s) : 0;
    uint8_t *out = malloc(cap + 1);
    if (out == NULL || s == NULL ||
        sodium_base642bin(out, cap + 1, s, cap, NULL, len, NULL, sodium_base64_VARIANT_ORIGINAL) !=
            0) {
        free(out);
        return NULL;
    }
    return out;
}

/* The set in force at `height`. */
const struct kq_valset *kq_trust_vs_at(const struct kq_trust *t, uint64_t height)
{
    const struct kq_valset *vs = t->vs;
    for (size_t i = 0; i < t->n_sets && t->from[i] <= height; i++)
        vs = t->sets[i];
    return vs;
}

static bool parse_valset(json_t *vals, struct kq_valset *vs)
{
    struct kq_validator v[KQ_LEDGER_MAX_VALIDATORS];
    size_t i, n = json_array_size(vals);
    json_t *e;
    if (!json_is_array(vals) || n == 0 || n > KQ_LEDGER_MAX_VALIDATORS)
        return false;
    json_array_foreach(vals, i, e)
    {
        json_int_t id = json_integer_value(json_object_get(e, "id"));
        const char *hex = json_string_value(json_object_get(e, "key"));
        size_t got = 0;
        if (id < 1 || id > KQ_LEDGER_MAX_NODE_ID || hex == NULL || strlen(hex) != 64 ||
            sodium_hex2bin(v[i].pk, 32, hex, 64, NULL, &got, NULL) != 0 || got != 32)
            return false;
        v[i].id = (uint32_t)id;
    }
    return kq_valset_init(vs, v, n) == KQ_OK;
}

/* Follows the validator-set changes the node reports (GET /v1/ledger/valsets) from the genesis
 * set: each change's block must be certified by the set then in force and name the next set. */
static bool load_valsets(struct kq_trust *t, const struct kq_cli_conn *c, const char *addr,
                         char *err, size_t errlen)
{
    json_t *j = NULL, *ch;
    size_t i;
    if (!kq_trust_get(c, addr, "/v1/ledger/valsets", &j, err, errlen))
        return false;
    bool ok = json_is_array(json_object_get(j, "changes"));
    if (!ok)
        snprintf(err, errlen, "the node's validator-set changes do not parse");
    json_array_foreach(json_object_get(j, "changes"), i, ch)
    {
        if (!ok)
            break;
        size_t len = 0;
        uint8_t *rec = kq_trust_b64(json_string_value(json_object_get(ch, "record")), &len);
        struct kq_valset *next = calloc(1, sizeof *next);
        json_int_t h = json_integer_value(json_object_get(ch, "height"));
        struct kq_header hd;
        enum kq_err e = KQ_ERR_FORMAT;
        if (rec != NULL && next != NULL && h >= 1 && t->n_sets < KQ_CLI_MAX_VALSET_CHANGES &&
            parse_valset(json_object_get(ch, "validators"), next))
            e = kq_follow_valset_change(rec, len, &t->chain_id, kq_trust_vs_at(t, (uint64_t)h),
                                        next, &hd);
        if (e == KQ_OK && hd.height == (uint64_t)h &&
            (t->n_sets == 0 || t->from[t->n_sets - 1] <= (uint64_t)h)) {
            t->from[t->n_sets] = (uint64_t)h + 1;
            t->sets[t->n_sets++] = next;
            next = NULL;
        } else {
            ok = false;
            snprintf(err, errlen, "validator-set change at block %lld does not verify: %s",
                     (long long)h, kq_strerror(e == KQ_OK ? KQ_ERR_BAD_PROOF : e));
        }
        free(next);
        free(rec);
    }
    json_decref(j);
    return ok;
}

/* The genesis, then the validator sets since. */
bool kq_trust_load(struct kq_trust *t, const struct kq_cli_conn *c, const char *addr,
                   const char *genesis_path, char *err, size_t errlen)
{
    if (t->genesis == NULL && !kq_trust_load_genesis(t, genesis_path, err, errlen))
        return false;
    if (t->valsets_loaded)
        return true;
    t->valsets_loaded = load_valsets(t, c, addr, err, errlen);
    return t->valsets_loaded;
}

/* Verifies one block JSON object {"height","hash","record"} against the genesis. */
bool kq_trust_verify_block(const struct kq_trust *t, json_t *b, struct kq_header *h, char *err,
                           size_t errlen)
{
    size_t len;
    uint8_t *rec = kq_trust_b64(json_string_value(json_object_get(b, "record")), &len);
    json_int_t height = json_integer_value(json_object_get(b, "height"));
    enum kq_err e = rec != NULL ? kq_follow_check_record(rec, len, &t->chain_id,
                                                         kq_trust_vs_at(t, (uint64_t)height), h)
                                : KQ_ERR_FORMAT;
    if (e == KQ_OK && h->height != (uint64_t)height)
        e = KQ_ERR_BAD_PROOF;
    free(rec);
    if (e != KQ_OK)
        snprintf(err, errlen, "block %lld does not verify: %s",
                 json_integer_value(json_object_get(b, "height")), kq_strerror(e));
    return e == KQ_OK;
}

/* Fetches the value of state key `key` with its proof and checks both against the trusted
 * validator sets: KQ_OK with *value (malloc'd, NULL when absent; *vlen its length), *j the reply
 * and *h the verified header; else the error, with err set for a transport failure. */
enum kq_err kq_trust_value(struct kq_trust *t, const struct kq_cli_conn *c, const char *addr,
                           const char *key, json_t **j, uint8_t **value, size_t *vlen,
                           struct kq_header *h, char *err, size_t errlen)
{
    char path[1024];
    char *esc = kq_cli_urlencode(key);
    *value = NULL;
    *vlen = 0;
    *j = NULL;
    KQ_ENSURE(esc != NULL, KQ_ERR_NOMEM);
    snprintf(path, sizeof path, "/v1/ledger/proof?key=%s", esc);
    free(esc);
    if (!kq_trust_load(t, c, addr, NULL, err, errlen) ||
        !kq_trust_get(c, addr, path, j, err, errlen))
        return KQ_ERR_NET;
    json_int_t at = json_integer_value(json_object_get(json_object_get(*j, "block"), "height"));
    size_t rlen = 0, plen = 0;
    uint8_t *rec = kq_trust_b64(
        json_string_value(json_object_get(json_object_get(*j, "block"), "record")), &rlen);
    uint8_t *proof = kq_trust_b64(json_string_value(json_object_get(*j, "proof")), &plen);
    json_t *jv = json_object_get(*j, "value");
    *value = json_is_string(jv) ? kq_trust_b64(json_string_value(jv), vlen) : NULL;
    enum kq_err e = rec != NULL && proof != NULL && (*value != NULL || json_is_null(jv))
                        ? kq_follow_check_value(
                              rec, rlen, &t->chain_id, kq_trust_vs_at(t, (uint64_t)at),
                              (const uint8_t *)key, strlen(key), *value, *vlen, proof, plen, h)
                        : KQ_ERR_FORMAT;
    if (e == KQ_OK && h->height != (uint64_t)at)
        e = KQ_ERR_BAD_PROOF; /* the set was chosen by the height the node claimed */
    free(rec);
    free(proof);
    if (e != KQ_OK) {
        free(*value);
        *value = NULL;
    }
    return e;
}

void kq_trust_free(struct kq_trust *t)
{
    for (size_t i = 0; i < t->n_sets; i++)
        free(t->sets[i]);
    free(t->genesis);
    free(t->vs);
    memset(t, 0, sizeof *t);
}
