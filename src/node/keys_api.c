/* The data routes of /v1/keys (docs/api.md "Keys"): JSON in, a request to the orchestrator core,
 * JSON out. Checks what needs no keeper here (name, usage, key state, argument shapes) so every
 * refusal has its own code; binary fields are standard base64. Plaintexts and keys pass through
 * guarded or wiped buffers only. */
#include "node/keys_api.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/mem.h"
#include "base/roles.h"
#include "crypto/tkem.h"
#include "crypto/tprf.h"
#include "crypto/partial.h"
#include "ledger/tx_client.h"
#include "ledger/tx_member.h"
#include "node/ledger_node.h"
#include "orch/orch_msg.h"

struct data_req {
    struct kq_keys_node *kn;
    struct kq_http_req *req;
    uint64_t request_id;
    uint8_t op;
};

static const char *const op_names[] = {"",       "datakey", "encrypt", "decrypt",
                                       "rewrap", "sign",    "verify",  "derive"};

/* Base64 (standard, padded) of p into a new JSON string. */
static json_t *b64(const uint8_t *p, size_t len)
{
    size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(n);
    KQ_ASSERT(s != NULL);
    sodium_bin2base64(s, n, p, len, sodium_base64_VARIANT_ORIGINAL);
    json_t *j = json_string(s);
    kq_wipe(s, n);
    free(s);
    return j;
}

/* A transient buffer that may hold a secret (a plaintext, a request carrying one): heap memory,
 * wiped before it is freed. (Guarded memory is for long-lived secrets: mapping and locking pages
 * per request would cost more than the request.) */
static void tmp_free(uint8_t *p, size_t n)
{
    if (p == NULL)
        return;
    kq_wipe(p, n);
    free(p);
}

/* Decodes a base64 JSON string into a new buffer (*out, *len, *cap its size); false if it is not
 * one. */
static bool unb64(json_t *v, size_t max, uint8_t **out, size_t *len, size_t *cap)
{
    *out = NULL;
    *len = 0;
    *cap = 0;
    if (!json_is_string(v))
        return false;
    if (json_string_length(v) > (max + 2) / 3 * 4) /* longer than max bytes' base64 */
        return false;
    *cap = json_string_length(v) / 4 * 3 + 3;
    *out = malloc(*cap);
    KQ_ASSERT(*out != NULL);
    if (sodium_base642bin(*out, *cap, json_string_value(v), json_string_length(v), NULL, len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        *len > max) {
        tmp_free(*out, *cap);
        *out = NULL;
        return false;
    }
    return true;
}

/* The context object's pairs (borrowed from the JSON); false with a reason if malformed. */
static bool context(json_t *o, struct kq_orch_req *q, const char **why)
{
    q->n_ctx = 0;
    if (o == NULL || json_is_null(o))
        return true;
    if (!json_is_object(o)) {
        *why = "\"context\" must be an object of strings";
        return false;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        if (strncmp(k, "keyquorum/", 10) == 0) {
            *why = "context keys starting with \"keyquorum/\" are reserved (for a per-epoch key, "
                   "derive with \"epoch\")";
            return false;
        }
        if (q->n_ctx >= KQ_MAX_CONTEXT_PAIRS || !json_is_string(v) || k[0] == '\0' ||
            strlen(k) > KQ_MAX_CONTEXT_KEY_BYTES ||
            json_string_length(v) > KQ_MAX_CONTEXT_VALUE_BYTES) {
            *why = "\"context\" holds at most 64 pairs of non-empty keys (<= 128 bytes) and string "
                   "values (<= 1024 bytes)";
            return false;
        }
        q->ctx[q->n_ctx++] = (struct kq_ctx_pair){.key = (const uint8_t *)k,
                                                  .key_len = strlen(k),
                                                  .value = (const uint8_t *)json_string_value(v),
                                                  .value_len = json_string_length(v)};
    }
    return true;
}

static void data_cancel(void *ctx)
{
    struct data_req *d = ctx;
    const struct kq_keys_cores *c = kq_keys_node_cores(d->kn);
    kq_runtime_request_cancel(c->orch, d->request_id);
    free(d);
}

/* The orchestrator's refusals in the API's words. */
static void reply_refusal(struct kq_http_req *req, uint8_t op, enum kq_err err)
{
    switch (err) {
    case KQ_ERR_TYPE:
        kq_http_reply_error(req, 400, "wrong_type",
                            "the ciphertext's type does not fit %s (a dek from datakey, data from "
                            "encrypt)",
                            op_names[op]);
        return;
    case KQ_ERR_BAD_PROOF:
        kq_http_reply_error(req, 400, "bad_proof",
                            "the ciphertext does not belong to this key, version and context (its "
                            "proof does not verify)");
        return;
    case KQ_ERR_LABEL:
        kq_http_reply_error(req, 400, "label_mismatch",
                            "the ciphertext does not match this key, version and context");
        return;
    case KQ_ERR_AUTH:
        kq_http_reply_error(req, 400, "authentication_failed",
                            "the ciphertext does not authenticate: it was altered");
        return;
    case KQ_ERR_EXPIRED:
        kq_http_reply_error(req, 400, "version_retired",
                            "this version is below the key's minimum decryption version");
        return;
    case KQ_ERR_NOT_FOUND:
        kq_http_reply_error(req, 404, "not_found", "no such key version");
        return;
    case KQ_ERR_STATE:
        kq_http_reply_error(req, 409, "bad_state",
                            "the key has no active version yet (its key generation runs)");
        return;
    case KQ_ERR_THRESHOLD:
    case KQ_ERR_TIMEOUT:
        kq_http_reply_error(req, 503, "unavailable", "not enough keepers answered; retry later");
        return;
    default:
        kq_http_reply_err(req, err, NULL);
        return;
    }
}

static json_t *sealed_json(const struct kq_orch_reply *r)
{
    json_t *parts = json_array();
    for (size_t i = 0; i < r->n_sealed; i++)
        json_array_append_new(parts,
                              json_pack("{s:I,s:I,s:o}", "keeper", (json_int_t)r->sealed[i].keeper,
                                        "index", (json_int_t)r->sealed[i].index, "sealed",
                                        b64(r->sealed[i].bytes, r->sealed[i].len)));
    return json_pack("{s:{s:I,s:I,s:I,s:o}}", "sealed", "version", (json_int_t)r->version, "epoch",
                     (json_int_t)r->epoch, "t", (json_int_t)r->t, "partials", parts);
}

static void data_reply(void *ctx, enum kq_err status, const uint8_t *p, size_t len)
{
    struct data_req *d = ctx;
    struct kq_http_req *req = d->req;
    uint8_t op = d->op;
    free(d);
    struct kq_orch_reply *r = malloc(sizeof *r);
    KQ_ASSERT(r != NULL);
    if (status == KQ_OK)
        status = kq_orch_reply_decode(r, p, len);
    if (status != KQ_OK) {
        free(r);
        reply_refusal(req, op, status);
        return;
    }
    json_t *j = NULL;
    switch (r->kind) {
    case KQ_ORCH_R_CIPHERTEXT:
        j = json_pack("{s:s%,s:I}", "ciphertext", (const char *)r->data, r->data_len, "version",
                      (json_int_t)r->version);
        if (r->extra_len > 0)
            json_object_set_new(j, "plaintext", b64(r->extra, r->extra_len));
        break;
    case KQ_ORCH_R_PLAINTEXT:
        j = json_pack("{s:o,s:I}", "plaintext", b64(r->data, r->data_len), "version",
                      (json_int_t)r->version);
        break;
    case KQ_ORCH_R_SIGNATURE:
        j = json_pack("{s:o,s:I,s:o}", "signature", b64(r->data, r->data_len), "version",
                      (json_int_t)r->version, "public_key", b64(r->extra, r->extra_len));
        break;
    case KQ_ORCH_R_VALID:
        j = json_pack("{s:b,s:I}", "valid", r->valid, "version", (json_int_t)r->version);
        break;
    case KQ_ORCH_R_KEY:
        j = json_pack("{s:o,s:I}", "key", b64(r->data, r->data_len), "version",
                      (json_int_t)r->version);
        break;
    default:
        j = sealed_json(r);
        break;
    }
    free(r);
    kq_http_reply_json(req, 200, j);
}

/* Usage and state checks that need no keeper: false after replying. */
static bool key_usable(struct kq_keys_node *kn, struct kq_http_req *req, uint8_t op,
                       struct kq_key_rec *k)
{
    if (!kq_keys_lookup(kn, req, k, NULL))
        return false;
    uint8_t want = op == KQ_ORCH_SIGN || op == KQ_ORCH_VERIFY ? KQ_KEY_USAGE_SIGN
                   : op == KQ_ORCH_DERIVE                     ? KQ_KEY_USAGE_DERIVE
                                                              : KQ_KEY_USAGE_ENCRYPT;
    if (k->state == KQ_KEY_DELETED) {
        kq_http_reply_error(req, 404, "not_found", "key %s was deleted", k->name);
        return false;
    }
    if (k->usage != want) {
        kq_http_reply_error(req, 400, "wrong_usage", "key %s is a%s %s key; %s needs a%s %s key",
                            k->name, k->usage == KQ_KEY_USAGE_ENCRYPT ? "n" : "",
                            kq_key_usage_name(k->usage), op_names[op],
                            want == KQ_KEY_USAGE_ENCRYPT ? "n" : "", kq_key_usage_name(want));
        return false;
    }
    if (k->state == KQ_KEY_PENDING_DELETION && op != KQ_ORCH_VERIFY) {
        kq_http_reply_error(req, 409, "pending_deletion",
                            "key %s is scheduled for deletion; cancel it to use the key", k->name);
        return false;
    }
    return true;
}

static void handle(struct kq_http_req *req, struct kq_keys_node *kn, uint8_t op)
{
    const struct kq_keys_cores *c = kq_keys_node_cores(kn);
    if (!kq_keys_authorize(kn, req, KQ_CLIENT_ROLE_USER | KQ_CLIENT_ROLE_ADMIN, op_names[op]))
        return;
    if (c->orch == NULL) {
        kq_http_reply_error(req, 501, "not_implemented",
                            "this node does not run the orchestrator role");
        return;
    }
    struct kq_key_rec k;
    if (!key_usable(kn, req, op, &k))
        return;
    json_t *body = kq_http_body(req);
    struct kq_orch_req *q = calloc(1, sizeof *q);
    KQ_ASSERT(q != NULL);
    q->op = op;
    snprintf(q->name, sizeof q->name, "%s", k.name);
    snprintf(q->client, sizeof q->client, "%s", kq_http_who(req)->name);
    const char *why = NULL;
    uint8_t *data = NULL, *sig = NULL;
    size_t data_len = 0, sig_len = 0, data_cap = 0, sig_cap = 0;
    uint64_t version = 0;
    json_t *v = json_object_get(body, "version");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > UINT32_MAX)
            why = "\"version\" must be a version number >= 1";
        else
            version = (uint64_t)json_integer_value(v);
    }
    q->version = (uint32_t)version;
    if (why == NULL && op != KQ_ORCH_SIGN && op != KQ_ORCH_VERIFY)
        (void)context(json_object_get(body, "context"), q, &why);
    /* a per-epoch ephemeral key: derive under the context {"keyquorum/epoch": epoch as 8 bytes
     * big-endian} alone (kq_tprf_epoch_label) */
    uint8_t epoch_be[8];
    json_t *ep = op == KQ_ORCH_DERIVE ? json_object_get(body, "epoch") : NULL;
    if (why == NULL && ep != NULL) {
        if (!json_is_integer(ep) || json_integer_value(ep) < 0 || q->n_ctx != 0) {
            why = "\"epoch\" is a number >= 0 and takes no \"context\"";
        } else {
            uint64_t e = (uint64_t)json_integer_value(ep);
            for (size_t i = 0; i < sizeof epoch_be; i++)
                epoch_be[i] = (uint8_t)(e >> (56 - 8 * i));
            q->ctx[0] = (struct kq_ctx_pair){.key = (const uint8_t *)KQ_TPRF_EPOCH_CTX_KEY,
                                             .key_len = sizeof KQ_TPRF_EPOCH_CTX_KEY - 1,
                                             .value = epoch_be,
                                             .value_len = sizeof epoch_be};
            q->n_ctx = 1;
        }
    }
    if (why == NULL) {
        switch (op) {
        case KQ_ORCH_ENCRYPT:
            if (!unb64(json_object_get(body, "plaintext"), KQ_MAX_DATA_PLAINTEXT_BYTES, &data,
                       &data_len, &data_cap))
                why = "\"plaintext\" must be base64 of at most 1 MiB";
            break;
        case KQ_ORCH_DECRYPT:
        case KQ_ORCH_REWRAP: {
            json_t *ct = json_object_get(body, "ciphertext");
            if (!json_is_string(ct) ||
                json_string_length(ct) > KQ_TKEM_TEXTBYTES(KQ_MAX_DATA_PLAINTEXT_BYTES))
                why = "\"ciphertext\" must be a string \"kq:v<N>:<base64>\"";
            else {
                q->data = (const uint8_t *)json_string_value(ct);
                q->data_len = json_string_length(ct);
            }
            break;
        }
        case KQ_ORCH_SIGN:
        case KQ_ORCH_VERIFY:
            if (!unb64(json_object_get(body, "message"), KQ_MAX_SIGN_MESSAGE_BYTES, &data,
                       &data_len, &data_cap))
                why = "\"message\" must be base64 of at most 64 KiB";
            else if (op == KQ_ORCH_VERIFY &&
                     !unb64(json_object_get(body, "signature"), 64, &sig, &sig_len, &sig_cap))
                why = "\"signature\" must be base64 of a 64-byte signature";
            break;
        default:
            break;
        }
    }
    if (why != NULL) {
        tmp_free(data, data_cap);
        tmp_free(sig, sig_cap);
        free(q);
        kq_http_reply_error(req, 400, "invalid_argument", "%s", why);
        return;
    }
    if (data != NULL) {
        q->data = data;
        q->data_len = data_len;
    }
    q->sig = sig;
    q->sig_len = sig_len;
    /* sealed delivery: the ledger records an X25519 key for this client */
    struct kq_client cl;
    const struct kq_smt *st = kq_keys_node_state(kn, NULL);
    if (op == KQ_ORCH_DECRYPT && st != NULL && kq_client_get(st, q->client, &cl) == KQ_OK &&
        (cl.flags & KQ_CLIENT_HAS_X25519))
        q->flags |= KQ_ORCH_SEALED;
    size_t cap = kq_orch_req_size(q), len = 0;
    uint8_t *buf = malloc(cap);
    KQ_ASSERT(buf != NULL);
    enum kq_err err = kq_orch_req_encode(q, buf, cap, &len);
    tmp_free(data, data_cap);
    tmp_free(sig, sig_cap);
    free(q);
    if (err != KQ_OK) {
        tmp_free(buf, cap);
        kq_http_reply_err(req, err, "the request cannot be encoded");
        return;
    }
    struct data_req *d = calloc(1, sizeof *d);
    KQ_ASSERT(d != NULL);
    *d = (struct data_req){.kn = kn, .req = req, .op = op};
    kq_http_defer(req, data_cancel, d);
    err = kq_runtime_request(c->orch, op, buf, len, data_reply, d, &d->request_id);
    tmp_free(buf, cap);
    if (err != KQ_OK) {
        free(d);
        kq_http_reply_err(req, err, "the orchestrator cannot take more requests now");
    }
}

static void h_datakey(struct kq_http_req *req, void *ctx)
{
    handle(req, ctx, KQ_ORCH_DATAKEY);
}
static void h_encrypt(struct kq_http_req *req, void *ctx)
{
    handle(req, ctx, KQ_ORCH_ENCRYPT);
}
static void h_decrypt(struct kq_http_req *req, void *ctx)
{
    handle(req, ctx, KQ_ORCH_DECRYPT);
}
static void h_rewrap(struct kq_http_req *req, void *ctx)
{
    handle(req, ctx, KQ_ORCH_REWRAP);
}
static void h_sign(struct kq_http_req *req, void *ctx)
{
    handle(req, ctx, KQ_ORCH_SIGN);
}
static void h_verify(struct kq_http_req *req, void *ctx)
{
    handle(req, ctx, KQ_ORCH_VERIFY);
}
static void h_derive(struct kq_http_req *req, void *ctx)
{
    handle(req, ctx, KQ_ORCH_DERIVE);
}

/* POST /v1/evidence {"key","version","epoch","keeper","response"}: a keeper's signed response
 * whose proof is false, reported by whoever holds it (a client that combined sealed partials).
 * Checked here against the ledger (so junk never reaches the mempool), then submitted signed by
 * this node; every validator checks it again. */
static void h_evidence(struct kq_http_req *req, void *ctx)
{
    struct kq_keys_node *kn = ctx;
    if (!kq_keys_authorize(kn, req, KQ_CLIENT_ROLE_USER | KQ_CLIENT_ROLE_ADMIN,
                           "reporting evidence"))
        return;
    json_t *body = kq_http_body(req);
    json_t *name = json_object_get(body, "key"), *v = json_object_get(body, "version");
    json_t *e = json_object_get(body, "epoch"), *k = json_object_get(body, "keeper");
    uint8_t *resp = NULL;
    size_t len = 0, cap = 0;
    if (!json_is_string(name) || !json_is_integer(v) || !json_is_integer(e) ||
        !json_is_integer(k) || json_integer_value(v) < 1 || json_integer_value(v) > UINT32_MAX ||
        json_integer_value(e) < 1 || json_integer_value(k) < 1 ||
        json_integer_value(k) > KQ_LEDGER_MAX_NODE_ID ||
        !kq_key_name_ok(json_string_value(name), json_string_length(name)) ||
        !unb64(json_object_get(body, "response"), KQ_PARTIAL_MAXBYTES, &resp, &len, &cap)) {
        tmp_free(resp, cap);
        kq_http_reply_error(req, 400, "invalid_argument",
                            "body is {\"key\", \"version\", \"epoch\", \"keeper\", "
                            "\"response\": base64 of the keeper's signed response}");
        return;
    }
    struct kq_evidence_tx ev = {.keeper = (uint32_t)json_integer_value(k),
                                .version = (uint32_t)json_integer_value(v),
                                .epoch = (uint64_t)json_integer_value(e),
                                .response = resp,
                                .response_len = len};
    snprintf(ev.name, sizeof ev.name, "%s", json_string_value(name));
    const struct kq_smt *st = kq_keys_node_state(kn, NULL);
    struct kq_sharing_rec *sh = malloc(sizeof *sh);
    struct kq_member_node m;
    struct kq_partial_resp r;
    KQ_ASSERT(sh != NULL);
    bool ok = st != NULL && kq_keyreg_sharing(st, ev.name, ev.version, ev.epoch, sh) == KQ_OK &&
              kq_member_get(st, ev.keeper, &m) == KQ_OK &&
              kq_partial_decode(&r, resp, len) == KQ_OK && r.index >= 1 && r.index <= sh->n &&
              sh->keepers[r.index - 1] == ev.keeper &&
              kq_partial_evidence_check(&r, m.identity_pk, sh->public_shares[r.index - 1]) == 1;
    free(sh);
    uint8_t tx[KQ_PARTIAL_MAXBYTES + 256];
    size_t tx_len = 0;
    enum kq_err err = ok ? kq_evidence_tx_encode(&ev, tx, sizeof tx, &tx_len) : KQ_OK;
    tmp_free(resp, cap);
    if (!ok) {
        kq_http_reply_error(req, 400, "not_evidence",
                            "this response is not evidence against keeper %u: unknown sharing, "
                            "a signature that does not verify, or a proof that holds",
                            ev.keeper);
        return;
    }
    if (err == KQ_OK)
        err = kq_ledger_node_submit(kq_keys_node_ledger(kn), KQ_TX_FAMILY_EVIDENCE,
                                    KQ_EVIDENCE_OP_PARTIAL, tx, tx_len, false, NULL, NULL, NULL);
    if (err != KQ_OK) {
        kq_http_reply_err(req, err, "the evidence could not be submitted");
        return;
    }
    kq_http_reply_json(req, 202,
                       json_pack("{s:b,s:I}", "submitted", true, "keeper", (json_int_t)ev.keeper));
}

enum kq_err kq_keys_api_routes(struct kq_keys_node *kn, struct kq_http_server *http)
{
    static const struct {
        const char *path;
        kq_http_handler h;
    } routes[] = {
        {"/v1/keys/{name}/datakey", h_datakey}, {"/v1/keys/{name}/encrypt", h_encrypt},
        {"/v1/keys/{name}/decrypt", h_decrypt}, {"/v1/keys/{name}/rewrap", h_rewrap},
        {"/v1/keys/{name}/sign", h_sign},       {"/v1/keys/{name}/verify", h_verify},
        {"/v1/keys/{name}/derive", h_derive},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        KQ_GUARD(kq_http_route(http, "POST", routes[i].path, KQ_ROUTE_JSON_BODY, routes[i].h, kn));
    return kq_http_route(http, "POST", "/v1/evidence", KQ_ROUTE_JSON_BODY, h_evidence, kn);
}
