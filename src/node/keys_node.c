/* Keys inside a node: the /v1/keys registry API (reads from the latest committed state; key ops
 * become KEY-family transactions the node signs on the calling admin's behalf), and the bridge
 * between the ledger and the keeper and orchestrator cores (KQ_EV_LEDGER after every commit,
 * KQ_STATUS_SUBMIT_TX from them). No key material passes through this file: it handles public
 * registry records only. */
#include "node/keys_node.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/roles.h"
#include "ledger/keyreg.h"
#include "ledger/replica.h"
#include "ledger/smt.h"
#include "ledger/tx_client.h"
#include "ledger/tx_member.h"
#include "net/http.h"
#include "node/keys_api.h"

struct op_req;

/* A POST /v1/keys waiting for its key's version 1: owns its op_req (freed when answered). */
struct key_waiter {
    bool used;
    struct kq_keys_node *kn;
    struct op_req *o;
    char name[KQ_KEY_NAME_MAX_BYTES + 1];
    struct kq_runtime_timer *timer;
};

struct kq_keys_node {
    struct kq_runtime *rt;
    struct kq_ledger_node *ln;
    const struct kq_node_config *cfg;
    struct kq_keys_cores cores;
    struct kq_smt *view; /* the state the cores were last given (a reference) */
    uint64_t view_height;
    struct key_waiter waiters[KQ_KEYS_NODE_MAX_WAITERS];
};

/* ---- helpers ---- */

const struct kq_smt *kq_keys_node_state(const struct kq_keys_node *kn, uint64_t *height)
{
    return kq_ledger_node_state(kn->ln, height);
}

struct kq_ledger_node *kq_keys_node_ledger(const struct kq_keys_node *kn)
{
    return kn->ln;
}

const struct kq_keys_cores *kq_keys_node_cores(const struct kq_keys_node *kn)
{
    return &kn->cores;
}

const char *kq_key_usage_name(uint8_t usage)
{
    switch (usage) {
    case KQ_KEY_USAGE_ENCRYPT:
        return "encrypt";
    case KQ_KEY_USAGE_SIGN:
        return "sign";
    case KQ_KEY_USAGE_DERIVE:
        return "derive";
    }
    return "unknown";
}

static const char *key_state_name(uint8_t state)
{
    switch (state) {
    case KQ_KEY_ENABLED:
        return "enabled";
    case KQ_KEY_PENDING_DELETION:
        return "pending_deletion";
    case KQ_KEY_DELETED:
        return "deleted";
    }
    return "unknown";
}

static const char *version_state_name(uint8_t state)
{
    static const char *const names[] = {
        "?", "generating", "pending", "active", "decrypt_only", "retired", "failed", "deleted"};
    return state < sizeof names / sizeof names[0] ? names[state] : "unknown";
}

static json_t *b64_json(const uint8_t *p, size_t len)
{
    char out[sodium_base64_ENCODED_LEN(KQ_POINTBYTES, sodium_base64_VARIANT_ORIGINAL)];
    KQ_ASSERT(len <= KQ_POINTBYTES);
    sodium_bin2base64(out, sizeof out, p, len, sodium_base64_VARIANT_ORIGINAL);
    return json_string(out);
}

/* The roles of the caller: its ledger client record's when it has one (the ledger is
 * authoritative), else the node config's; node certificates are nodes, not clients. */
unsigned kq_keys_principal_roles(const struct kq_keys_node *kn, const struct kq_http_principal *who)
{
    if (who == NULL || !who->authenticated)
        return 0;
    if (who->roles & KQ_CLIENT_ROLE_NODE)
        return KQ_CLIENT_ROLE_NODE;
    const struct kq_smt *st = kq_ledger_node_state(kn->ln, NULL);
    struct kq_client c;
    if (st != NULL && kq_client_get(st, who->name, &c) == KQ_OK)
        return c.roles;
    return who->roles;
}

/* 403 unless the caller is a client with one of `roles`. */
bool kq_keys_authorize(const struct kq_keys_node *kn, struct kq_http_req *req, unsigned roles,
                       const char *what)
{
    unsigned have = kq_keys_principal_roles(kn, kq_http_who(req));
    if ((have & KQ_CLIENT_ROLE_NODE) || (have & roles) == 0) {
        kq_http_reply_error(req, 403, "forbidden", "%s needs the %s role", what,
                            (roles & KQ_CLIENT_ROLE_USER) ? "user or admin" : "admin");
        return false;
    }
    return true;
}

/* ---- JSON views of the registry ---- */

static json_t *version_json(const struct kq_smt *st, const char *name, uint32_t version)
{
    struct kq_keyver_rec v;
    if (kq_keyreg_version(st, name, version, &v) != KQ_OK)
        return NULL;
    json_t *j = json_pack("{s:I,s:s}", "version", (json_int_t)v.version, "state",
                          version_state_name(v.state));
    if (v.epoch == 0)
        return j;
    json_object_set_new(j, "public_key", b64_json(v.public_key, KQ_POINTBYTES));
    json_object_set_new(j, "epoch", json_integer((json_int_t)v.epoch));
    if (v.state == KQ_KEYVER_PENDING)
        json_object_set_new(j, "activate_height", json_integer((json_int_t)v.activate_height));
    struct kq_sharing_rec *s = malloc(sizeof *s);
    KQ_ASSERT(s != NULL);
    if (kq_keyreg_sharing(st, name, version, v.epoch, s) == KQ_OK) {
        json_t *keepers = json_array(), *shares = json_array();
        for (uint32_t i = 0; i < s->n; i++) {
            json_array_append_new(keepers, json_integer(s->keepers[i]));
            json_array_append_new(shares, b64_json(s->public_shares[i], KQ_POINTBYTES));
        }
        json_object_set_new(j, "n", json_integer(s->n));
        json_object_set_new(j, "t", json_integer(s->t));
        json_object_set_new(j, "keepers", keepers);
        json_object_set_new(j, "public_shares", shares);
    }
    free(s);
    return j;
}

json_t *kq_keys_key_json(const struct kq_smt *st, const struct kq_key_rec *k, uint64_t height)
{
    json_t *versions = json_array(), *proof_keys = json_array();
    char path[KQ_LEDGER_MAX_KEY_BYTES + 1];
    kq_keyreg_key_path(path, k->name);
    json_array_append_new(proof_keys, json_string(path));
    uint32_t first = k->latest_version > KQ_KEYS_MAX_LISTED_VERSIONS
                         ? k->latest_version - KQ_KEYS_MAX_LISTED_VERSIONS + 1
                         : 1;
    for (uint32_t v = first; v <= k->latest_version && v >= 1; v++) {
        json_t *vj = version_json(st, k->name, v);
        if (vj != NULL)
            json_array_append_new(versions, vj);
        kq_keyreg_version_path(path, k->name, v);
        json_array_append_new(proof_keys, json_string(path));
    }
    json_t *j =
        json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I},s:o,s:I,s:o}", "name", k->name,
                  "usage", kq_key_usage_name(k->usage), "state", key_state_name(k->state), "n",
                  (json_int_t)k->n, "t", (json_int_t)k->t, "latest_version",
                  (json_int_t)k->latest_version, "active_version", (json_int_t)k->active_version,
                  "min_decryption_version", (json_int_t)k->min_decryption_version, "rotation",
                  "period_s", (json_int_t)(k->period_ms / 1000), "max_ops", (json_int_t)k->max_ops,
                  "ops", (json_int_t)k->ops, "versions", versions, "height", (json_int_t)height,
                  "proof_keys", proof_keys);
    if (k->state == KQ_KEY_PENDING_DELETION)
        json_object_set_new(j, "deletion",
                            json_pack("{s:I}", "at_ms", (json_int_t)k->delete_at_ms));
    if (k->pending_min_version != 0)
        json_object_set_new(j, "pending_min_version",
                            json_pack("{s:I,s:I}", "version", (json_int_t)k->pending_min_version,
                                      "at_ms", (json_int_t)k->pending_min_at_ms));
    if (k->generating_version != 0)
        json_object_set_new(j, "generating_version",
                            json_integer((json_int_t)k->generating_version));
    if (k->creator[0] != '\0')
        json_object_set_new(j, "created_by", json_string(k->creator));
    return j;
}

/* ---- reads ---- */

static void h_list(struct kq_http_req *req, void *ctx)
{
    struct kq_keys_node *kn = ctx;
    if (!kq_keys_authorize(kn, req, KQ_CLIENT_ROLE_USER | KQ_CLIENT_ROLE_ADMIN, "listing keys"))
        return;
    uint64_t height = 0;
    const struct kq_smt *st = kq_ledger_node_state(kn->ln, &height);
    struct kq_key_index *ix = malloc(sizeof *ix);
    KQ_ASSERT(ix != NULL);
    json_t *keys = json_array();
    enum kq_err err = st != NULL ? kq_keyreg_index(st, ix) : KQ_ERR_NOT_FOUND;
    for (uint32_t i = 0; err == KQ_OK && i < ix->count; i++) {
        struct kq_key_rec k;
        if (kq_keyreg_key(st, ix->keys[i].name, &k) != KQ_OK)
            continue;
        json_array_append_new(keys, json_pack("{s:s,s:s,s:s,s:I,s:I}", "name", k.name, "usage",
                                              kq_key_usage_name(k.usage), "state",
                                              key_state_name(k.state), "latest_version",
                                              (json_int_t)k.latest_version, "active_version",
                                              (json_int_t)k.active_version));
    }
    free(ix);
    if (err != KQ_OK && err != KQ_ERR_NOT_FOUND) {
        json_decref(keys);
        kq_http_reply_err(req, err, "the key index is unreadable");
        return;
    }
    kq_http_reply_json(req, 200,
                       json_pack("{s:o,s:I}", "keys", keys, "height", (json_int_t)height));
}

/* The key named by the route, or a reply (400 bad name, 404 unknown) and false. */
bool kq_keys_lookup(const struct kq_keys_node *kn, struct kq_http_req *req, struct kq_key_rec *k,
                    uint64_t *height)
{
    const char *name = kq_http_param(req, "name");
    if (name == NULL || !kq_key_name_ok(name, strlen(name))) {
        kq_http_reply_error(req, 400, "invalid_argument",
                            "a key name is 1..%d characters of [A-Za-z0-9._-]",
                            KQ_KEY_NAME_MAX_BYTES);
        return false;
    }
    const struct kq_smt *st = kq_ledger_node_state(kn->ln, height);
    enum kq_err err = st != NULL ? kq_keyreg_key(st, name, k) : KQ_ERR_NOT_FOUND;
    if (err == KQ_ERR_NOT_FOUND) {
        kq_http_reply_error(req, 404, "not_found", "no key named %s", name);
        return false;
    }
    if (err != KQ_OK) {
        kq_http_reply_err(req, err, "the key record is unreadable");
        return false;
    }
    return true;
}

static void h_show(struct kq_http_req *req, void *ctx)
{
    struct kq_keys_node *kn = ctx;
    if (!kq_keys_authorize(kn, req, KQ_CLIENT_ROLE_USER | KQ_CLIENT_ROLE_ADMIN, "reading a key"))
        return;
    struct kq_key_rec k;
    uint64_t height = 0;
    if (!kq_keys_lookup(kn, req, &k, &height))
        return;
    kq_http_reply_json(req, 200, kq_keys_key_json(kq_ledger_node_state(kn->ln, NULL), &k, height));
}

/* ---- key ops ---- */

/* A key op in flight: first its transaction (request_id), then for a create that waits, its
 * waiter (w). One deferred reply; whoever answers or cancels frees it. */
struct op_req {
    struct kq_keys_node *kn;
    struct kq_http_req *req;
    uint64_t request_id;
    uint16_t op;
    bool wait_active;
    struct key_waiter *w;
    struct kq_key_tx body;
};

static void waiter_release(struct key_waiter *w);

static void op_cancel(void *ctx)
{
    struct op_req *o = ctx;
    if (o->w != NULL)
        waiter_release(o->w);
    else
        kq_ledger_node_cancel(o->kn->ln, o->request_id);
    free(o);
}

/* The message for a refused key op: the state machine's reason in words. */
static const char *refusal(uint16_t op, enum kq_err why)
{
    switch (why) {
    case KQ_ERR_EXISTS:
        return op == KQ_KEY_OP_CREATE   ? "a key with this name exists (names are never reused)"
               : op == KQ_KEY_OP_ROTATE ? "a rotation of this key is already in progress"
                                        : "already done";
    case KQ_ERR_NOT_FOUND:
        return "no such key";
    case KQ_ERR_FORBIDDEN:
        return "the ledger does not record this client as an admin";
    case KQ_ERR_INVALID_ARG:
        return op == KQ_KEY_OP_CREATE
                   ? "refused by the registry: check n, t and usage, and that n keepers are "
                     "available (GET /v1/nodes)"
                   : "refused by the registry: the request does not fit the key's state";
    case KQ_ERR_STATE:
        return "the key's state does not allow this (deleted, pending deletion, or no active "
               "version yet)";
    case KQ_ERR_LIMIT:
        return "a registry limit would be exceeded";
    default:
        return NULL;
    }
}

static bool add_waiter(struct kq_keys_node *kn, struct op_req *o);

/* Answers the op (true), or hands it to a waiter (false: not freed). */
static bool op_done(struct op_req *o)
{
    struct kq_keys_node *kn = o->kn;
    struct kq_http_req *req = o->req;
    uint64_t height = 0;
    const struct kq_smt *st = kq_ledger_node_state(kn->ln, &height);
    struct kq_key_rec k;
    struct kq_epoch_rec e;
    bool have = o->op != KQ_KEY_OP_REFRESH && kq_keyreg_key(st, o->body.name, &k) == KQ_OK;
    switch (o->op) {
    case KQ_KEY_OP_CREATE:
        if (o->wait_active)
            return add_waiter(kn, o);
        kq_http_reply_json(
            req, 202,
            json_pack("{s:o}", "key", have ? kq_keys_key_json(st, &k, height) : json_null()));
        return true;
    case KQ_KEY_OP_ROTATE:
        kq_http_reply_json(req, 202,
                           json_pack("{s:s,s:I}", "name", o->body.name, "version",
                                     (json_int_t)(have ? k.generating_version : 0)));
        return true;
    case KQ_KEY_OP_DELETE:
        kq_http_reply_json(req, 202,
                           json_pack("{s:s,s:s,s:I}", "name", o->body.name, "state",
                                     "pending_deletion", "delete_at_ms",
                                     (json_int_t)(have ? k.delete_at_ms : 0)));
        return true;
    case KQ_KEY_OP_CANCEL_DELETE:
        kq_http_reply_json(req, 200,
                           json_pack("{s:s,s:s}", "name", o->body.name, "state", "enabled"));
        return true;
    case KQ_KEY_OP_SET_MIN_VERSION:
        kq_http_reply_json(req, 202,
                           json_pack("{s:s,s:I,s:I}", "name", o->body.name, "version",
                                     (json_int_t)o->body.version, "at_ms",
                                     (json_int_t)(have ? k.pending_min_at_ms : 0)));
        return true;
    default: /* RESHARE, REFRESH: the epoch advances at the end of the block */
        kq_http_reply_json(
            req, 202,
            json_pack("{s:I}", "epoch",
                      (json_int_t)(kq_keyreg_epoch(st, &e) == KQ_OK ? e.number : 0)));
        return true;
    }
}

static void op_reply(void *ctx, enum kq_err status, const uint8_t *p, size_t len)
{
    struct op_req *o = ctx;
    struct kq_http_req *req = o->req;
    if (status == KQ_ERR_TIMEOUT) {
        kq_http_reply_error(req, 504, "timeout", "the key operation expired uncommitted");
    } else if (status != KQ_OK || len < KQ_LEDGER_REPLY_BYTES) {
        enum kq_err why = status != KQ_OK ? status : KQ_ERR_STATE;
        kq_http_reply_err(req, why, "the ledger did not take the key operation");
    } else {
        uint32_t result = 0;
        for (size_t i = 0; i < 4; i++)
            result = result << 8 | p[KQ_HASH_BYTES + 8 + i];
        enum kq_err applied = (enum kq_err)result;
        if (applied == KQ_OK) {
            if (!op_done(o))
                return; /* a waiter owns o now */
        } else {
            const char *msg = refusal(o->op, applied);
            kq_http_reply_err(req, applied, msg);
        }
    }
    free(o);
}

/* Encodes the op and submits it signed by this node, acting for the calling client; the reply
 * comes at commit. */
static void submit_op(struct kq_keys_node *kn, struct kq_http_req *req, uint16_t op,
                      const struct kq_key_tx *body, bool wait_active)
{
    uint8_t buf[1024];
    size_t len = 0;
    enum kq_err err = kq_key_tx_encode(op, body, buf, sizeof buf, &len);
    if (err != KQ_OK) {
        kq_http_reply_err(req, err, "the key operation cannot be encoded");
        return;
    }
    struct op_req *o = calloc(1, sizeof *o);
    KQ_ASSERT(o != NULL);
    *o = (struct op_req){.kn = kn, .req = req, .op = op, .wait_active = wait_active, .body = *body};
    kq_http_defer(req, op_cancel, o);
    err = kq_ledger_node_submit(kn->ln, KQ_TX_FAMILY_KEY, op, buf, len, true, op_reply, o,
                                &o->request_id);
    if (err != KQ_OK) {
        free(o);
        kq_http_reply_err(req, err, "the node cannot take more requests now");
    }
}

/* Fills the acting client of a key op; false (403 sent) unless the caller is an admin. */
static bool admin_body(struct kq_keys_node *kn, struct kq_http_req *req, struct kq_key_tx *b,
                       const char *what)
{
    memset(b, 0, sizeof *b);
    if (!kq_keys_authorize(kn, req, KQ_CLIENT_ROLE_ADMIN, what))
        return false;
    snprintf(b->client, sizeof b->client, "%s", kq_http_who(req)->name);
    return true;
}

static bool json_uint(json_t *o, const char *name, uint64_t dflt, uint64_t max, uint64_t *out)
{
    json_t *v = json_object_get(o, name);
    if (v == NULL || json_is_null(v)) {
        *out = dflt;
        return true;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

/* Keeper nodes recorded in the state (for the default committee size). */
struct count_ctx {
    uint32_t keepers;
    size_t seen;
};
static bool count_keeper(void *ctx, const kq_hash *path, const uint8_t *key, size_t key_len,
                         const uint8_t *value, size_t value_len)
{
    (void)path;
    struct count_ctx *c = ctx;
    static const char prefix[] = "node/";
    struct kq_member_node m;
    if (key_len > sizeof prefix - 1 && memcmp(key, prefix, sizeof prefix - 1) == 0 &&
        kq_member_node_decode(&m, value, value_len) == KQ_OK && (m.roles & KQ_ROLE_KEEPER))
        c->keepers++;
    return ++c->seen < KQ_LEDGER_NODE_MAX_SCAN;
}

/* GET /v1/keepers: every keeper node with the registry's view of it (faults recorded by
 * evidence, quarantine, the epochs it has published keys for). */
struct keeper_list {
    const struct kq_smt *st;
    uint64_t epoch;
    json_t *arr;
    size_t seen;
};
static bool visit_keeper(void *ctx, const kq_hash *path, const uint8_t *key, size_t key_len,
                         const uint8_t *value, size_t value_len)
{
    (void)path;
    struct keeper_list *l = ctx;
    static const char prefix[] = "node/";
    struct kq_member_node m;
    if (key_len > sizeof prefix - 1 && memcmp(key, prefix, sizeof prefix - 1) == 0 &&
        kq_member_node_decode(&m, value, value_len) == KQ_OK && (m.roles & KQ_ROLE_KEEPER)) {
        struct kq_keeper_rec k = {.node_id = m.node_id};
        if (kq_keyreg_keeper(l->st, m.node_id, &k) != KQ_OK)
            k = (struct kq_keeper_rec){.node_id = m.node_id};
        uint8_t pk[KQ_DKG_X25519BYTES];
        json_t *epochs = json_array();
        for (uint64_t e = l->epoch; e <= l->epoch + 1; e++)
            if (kq_keyreg_epoch_key(l->st, m.node_id, e, pk) == KQ_OK)
                json_array_append_new(epochs, json_integer((json_int_t)e));
        json_array_append_new(
            l->arr, json_pack("{s:I,s:I,s:b,s:I,s:o}", "id", (json_int_t)m.node_id, "faults",
                              (json_int_t)k.faults, "quarantined", k.quarantined, "lost_height",
                              (json_int_t)k.lost_height, "epoch_keys", epochs));
    }
    return ++l->seen < KQ_LEDGER_NODE_MAX_SCAN;
}

static void h_keepers(struct kq_http_req *req, void *ctx)
{
    struct kq_keys_node *kn = ctx;
    if (!kq_keys_authorize(kn, req, KQ_CLIENT_ROLE_USER | KQ_CLIENT_ROLE_ADMIN, "listing keepers"))
        return;
    uint64_t height = 0;
    struct kq_epoch_rec e = {0};
    const struct kq_smt *st = kq_ledger_node_state(kn->ln, &height);
    if (st == NULL || kq_keyreg_epoch(st, &e) != KQ_OK) {
        kq_http_reply_error(req, 409, "bad_state", "the registry is not readable yet");
        return;
    }
    struct keeper_list l = {.st = st, .epoch = e.number, .arr = json_array()};
    kq_smt_foreach(st, NULL, visit_keeper, &l);
    kq_http_reply_json(req, 200,
                       json_pack("{s:o,s:I,s:I}", "keepers", l.arr, "epoch", (json_int_t)e.number,
                                 "height", (json_int_t)height));
}

static void h_create(struct kq_http_req *req, void *ctx)
{
    struct kq_keys_node *kn = ctx;
    struct kq_key_tx b;
    if (!admin_body(kn, req, &b, "creating a key"))
        return;
    json_t *body = kq_http_body(req);
    json_t *name = json_object_get(body, "name"), *usage = json_object_get(body, "usage");
    json_t *rot = json_object_get(body, "rotation"), *wait = json_object_get(body, "wait");
    if (!json_is_string(name) ||
        !kq_key_name_ok(json_string_value(name), json_string_length(name))) {
        kq_http_reply_error(req, 400, "invalid_argument",
                            "\"name\" must be 1..%d characters of [A-Za-z0-9._-]",
                            KQ_KEY_NAME_MAX_BYTES);
        return;
    }
    snprintf(b.name, sizeof b.name, "%s", json_string_value(name));
    const char *u = json_is_string(usage) ? json_string_value(usage) : "";
    b.usage = strcmp(u, "encrypt") == 0  ? KQ_KEY_USAGE_ENCRYPT
              : strcmp(u, "sign") == 0   ? KQ_KEY_USAGE_SIGN
              : strcmp(u, "derive") == 0 ? KQ_KEY_USAGE_DERIVE
                                         : 0;
    if (b.usage == 0) {
        kq_http_reply_error(req, 400, "invalid_argument",
                            "\"usage\" must be \"encrypt\", \"sign\" or \"derive\"");
        return;
    }
    struct count_ctx cc = {0};
    kq_smt_foreach(kq_ledger_node_state(kn->ln, NULL), NULL, count_keeper, &cc);
    uint64_t dn = cc.keepers < 4 ? cc.keepers : 4, n = 0, t = 0, period_s = 0, max_ops = 0;
    if (dn == 0)
        dn = 1;
    if (!json_uint(body, "n", dn, KQ_DKG_MAX_N, &n) || n == 0 ||
        !json_uint(body, "t", n / 2 + 1, n, &t) || t == 0) {
        kq_http_reply_error(req, 400, "invalid_argument",
                            "\"n\" must be 1..%d and \"t\" 1..n (defaults: n = %llu, t = n/2+1)",
                            KQ_DKG_MAX_N, (unsigned long long)dn);
        return;
    }
    if ((rot != NULL && !json_is_object(rot) && !json_is_null(rot)) ||
        !json_uint(rot, "period_s", 0, KQ_KEYS_MAX_PERIOD_S, &period_s) ||
        !json_uint(rot, "max_ops", 0, UINT64_MAX / 2, &max_ops)) {
        kq_http_reply_error(req, 400, "invalid_argument",
                            "\"rotation\" is {\"period_s\": 0..%d, \"max_ops\": >= 0} (0: never)",
                            KQ_KEYS_MAX_PERIOD_S);
        return;
    }
    if (wait != NULL && !json_is_boolean(wait)) {
        kq_http_reply_error(req, 400, "invalid_argument", "\"wait\" must be a boolean");
        return;
    }
    b.n = (uint32_t)n;
    b.t = (uint32_t)t;
    b.period_ms = period_s * 1000;
    b.max_ops = max_ops;
    submit_op(kn, req, KQ_KEY_OP_CREATE, &b, wait == NULL || json_is_true(wait));
}

static bool name_body(struct kq_keys_node *kn, struct kq_http_req *req, struct kq_key_tx *b,
                      const char *what)
{
    if (!admin_body(kn, req, b, what))
        return false;
    struct kq_key_rec k;
    if (!kq_keys_lookup(kn, req, &k, NULL))
        return false;
    snprintf(b->name, sizeof b->name, "%s", k.name);
    return true;
}

static void h_delete(struct kq_http_req *req, void *ctx)
{
    struct kq_key_tx b;
    if (name_body(ctx, req, &b, "deleting a key"))
        submit_op(ctx, req, KQ_KEY_OP_DELETE, &b, false);
}

static void h_cancel_deletion(struct kq_http_req *req, void *ctx)
{
    struct kq_key_tx b;
    if (name_body(ctx, req, &b, "cancelling a deletion"))
        submit_op(ctx, req, KQ_KEY_OP_CANCEL_DELETE, &b, false);
}

static void h_rotate(struct kq_http_req *req, void *ctx)
{
    struct kq_key_tx b;
    if (name_body(ctx, req, &b, "rotating a key"))
        submit_op(ctx, req, KQ_KEY_OP_ROTATE, &b, false);
}

static void h_min_version(struct kq_http_req *req, void *ctx)
{
    struct kq_key_tx b;
    if (!name_body(ctx, req, &b, "raising the minimum decryption version"))
        return;
    uint64_t v = 0;
    if (!json_uint(kq_http_body(req), "version", 0, UINT32_MAX, &v) || v == 0) {
        kq_http_reply_error(req, 400, "invalid_argument", "\"version\" must be a version >= 1");
        return;
    }
    b.version = (uint32_t)v;
    submit_op(ctx, req, KQ_KEY_OP_SET_MIN_VERSION, &b, false);
}

static void h_reshare(struct kq_http_req *req, void *ctx)
{
    struct kq_key_tx b;
    if (!name_body(ctx, req, &b, "resharing a key"))
        return;
    json_t *body = kq_http_body(req);
    uint64_t n = 0, t = 0;
    if (!json_uint(body, "n", 0, KQ_DKG_MAX_N, &n) || !json_uint(body, "t", 0, KQ_DKG_MAX_N, &t)) {
        kq_http_reply_error(req, 400, "invalid_argument",
                            "\"n\" and \"t\" are optional, 1..%d (0 or absent: unchanged)",
                            KQ_DKG_MAX_N);
        return;
    }
    b.n = (uint32_t)n;
    b.t = (uint32_t)t;
    submit_op(ctx, req, KQ_KEY_OP_RESHARE, &b, false);
}

static void h_refresh(struct kq_http_req *req, void *ctx)
{
    struct kq_key_tx b;
    if (admin_body(ctx, req, &b, "refreshing every key"))
        submit_op(ctx, req, KQ_KEY_OP_REFRESH, &b, false);
}

/* ---- waiting for version 1 ---- */

static void waiter_release(struct key_waiter *w)
{
    w->used = false;
    w->o = NULL;
}

/* Answered: the waiter and its op are done. */
static void waiter_finish(struct key_waiter *w)
{
    struct op_req *o = w->o;
    waiter_release(w);
    free(o);
}

static void waiter_timeout(void *ctx)
{
    struct key_waiter *w = ctx;
    if (!w->used)
        return;
    kq_http_reply_error(w->o->req, 504, "timeout",
                        "key %s is registered; its version 1 is still being generated (GET "
                        "/v1/keys/%s shows when it is active)",
                        w->name, w->name);
    waiter_finish(w);
}

/* Answers the waiter if its key's version 1 is active (201) or failed (500). */
static bool waiter_check(struct key_waiter *w, const struct kq_smt *st, uint64_t height)
{
    struct kq_key_rec k;
    struct kq_keyver_rec v;
    if (kq_keyreg_key(st, w->name, &k) != KQ_OK || kq_keyreg_version(st, w->name, 1, &v) != KQ_OK)
        return false;
    if (v.state == KQ_KEYVER_FAILED) {
        kq_http_reply_error(w->o->req, 500, "dkg_failed",
                            "the distributed key generation of %s failed %d times (see the node "
                            "logs of its keepers)",
                            w->name, KQ_KEYREG_MAX_ATTEMPTS);
    } else if (k.active_version >= 1) {
        kq_http_reply_json(w->o->req, 201,
                           json_pack("{s:o}", "key", kq_keys_key_json(st, &k, height)));
    } else {
        return false;
    }
    waiter_finish(w);
    return true;
}

/* Hands o to a free waiter (false) or answers 202 at once (true: o is the caller's to free). */
static bool add_waiter(struct kq_keys_node *kn, struct op_req *o)
{
    struct key_waiter *w = NULL;
    for (size_t i = 0; i < KQ_KEYS_NODE_MAX_WAITERS && w == NULL; i++)
        if (!kn->waiters[i].used)
            w = &kn->waiters[i];
    if (w == NULL) {
        kq_http_reply_json(o->req, 202,
                           json_pack("{s:s,s:s}", "name", o->body.name, "state", "generating"));
        return true;
    }
    w->used = true;
    w->kn = kn;
    w->o = o;
    o->w = w;
    snprintf(w->name, sizeof w->name, "%s", o->body.name);
    uint64_t height = 0;
    if (!waiter_check(w, kq_ledger_node_state(kn->ln, &height), height))
        kq_runtime_timer_arm(w->timer, KQ_KEYS_NODE_CREATE_WAIT_MS);
    return false;
}

/* ---- the ledger feed ---- */

static void on_commit(void *ctx, const struct kq_smt *state, uint64_t height)
{
    struct kq_keys_node *kn = ctx;
    struct kq_smt *prev = kn->view;
    kn->view = kq_smt_ref((struct kq_smt *)state);
    kn->view_height = height;
    kq_keys_cores_ledger(&kn->cores, kn->view, height);
    kq_smt_unref(prev);
    for (size_t i = 0; i < KQ_KEYS_NODE_MAX_WAITERS; i++)
        if (kn->waiters[i].used)
            (void)waiter_check(&kn->waiters[i], state, height);
}

json_t *kq_keys_node_health(const struct kq_keys_node *kn)
{
    struct kq_epoch_rec e = {0};
    struct kq_key_index *ix = malloc(sizeof *ix);
    KQ_ASSERT(ix != NULL);
    const struct kq_smt *st = kq_ledger_node_state(kn->ln, NULL);
    uint32_t keys = st != NULL && kq_keyreg_index(st, ix) == KQ_OK ? ix->count : 0;
    free(ix);
    if (st != NULL && kq_keyreg_epoch(st, &e) != KQ_OK)
        e.number = 0;
    json_t *j = json_pack("{s:I,s:I}", "keys", (json_int_t)keys, "epoch", (json_int_t)e.number);
    kq_keys_cores_health(&kn->cores, j);
    return j;
}

static enum kq_err add_routes(struct kq_keys_node *kn)
{
    struct kq_http_server *http = kq_runtime_http(kn->rt);
    KQ_GUARD(kq_http_route(http, "POST", "/v1/keys", KQ_ROUTE_JSON_BODY, h_create, kn));
    KQ_GUARD(kq_http_route(http, "GET", "/v1/keys", 0, h_list, kn));
    KQ_GUARD(kq_http_route(http, "GET", "/v1/keys/{name}", 0, h_show, kn));
    KQ_GUARD(kq_http_route(http, "DELETE", "/v1/keys/{name}", 0, h_delete, kn));
    KQ_GUARD(
        kq_http_route(http, "POST", "/v1/keys/{name}/cancel-deletion", 0, h_cancel_deletion, kn));
    KQ_GUARD(kq_http_route(http, "POST", "/v1/keys/{name}/rotate", 0, h_rotate, kn));
    KQ_GUARD(kq_http_route(http, "POST", "/v1/keys/{name}/min-version", KQ_ROUTE_JSON_BODY,
                           h_min_version, kn));
    KQ_GUARD(
        kq_http_route(http, "POST", "/v1/keys/{name}/reshare", KQ_ROUTE_JSON_BODY, h_reshare, kn));
    KQ_GUARD(kq_http_route(http, "POST", "/v1/sys/refresh", 0, h_refresh, kn));
    KQ_GUARD(kq_http_route(http, "GET", "/v1/keepers", 0, h_keepers, kn));
    return kq_keys_api_routes(kn, http);
}

enum kq_err kq_keys_node_start(struct kq_runtime *rt, struct kq_store *store,
                               const struct kq_node_config *cfg, struct kq_ledger_node *ln,
                               struct kq_keys_node **out)
{
    struct kq_keys_node *kn = calloc(1, sizeof *kn);
    KQ_ENSURE(kn != NULL, KQ_ERR_NOMEM);
    *out = kn;
    kn->rt = rt;
    kn->ln = ln;
    kn->cfg = cfg;
    for (size_t i = 0; i < KQ_KEYS_NODE_MAX_WAITERS; i++) {
        kn->waiters[i].timer = kq_runtime_timer_new(rt, waiter_timeout, &kn->waiters[i]);
        KQ_ENSURE(kn->waiters[i].timer != NULL, KQ_ERR_NOMEM);
    }
    KQ_GUARD(kq_keys_cores_start(&kn->cores, rt, store, cfg, ln));
    KQ_GUARD(add_routes(kn));
    kq_ledger_node_on_commit(ln, on_commit, kn);
    return KQ_OK;
}

void kq_keys_node_stop(struct kq_keys_node *kn)
{
    if (kn == NULL)
        return;
    for (size_t i = 0; i < KQ_KEYS_NODE_MAX_WAITERS; i++) {
        kq_runtime_timer_free(kn->waiters[i].timer);
        kn->waiters[i].timer = NULL;
    }
}

void kq_keys_node_free(struct kq_keys_node *kn)
{
    if (kn == NULL)
        return;
    kq_keys_cores_free(&kn->cores);
    kq_smt_unref(kn->view);
    free(kn);
}
