/* Hosting the keeper and orchestrator cores: each committed state reaches them as KQ_EV_LEDGER,
 * and the transactions they ask for (KQ_STATUS_SUBMIT_TX: family u16 | op u16 | body) are signed
 * with the node's identity key and submitted to the local replica, fire and forget (the cores
 * watch the ledger for the effect and resubmit when they need to). */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/assert.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/roles.h"
#include "keeper/keeper.h"
#include "node/keys_api.h"
#include "orch/orch.h"
#include "node/ledger_node.h"
#include "wire/keeper_msg.h"

#define KEK_TAG "keyquorum/v1/keeper-kek"

static void node_random(void *ctx, uint8_t *out, size_t len)
{
    (void)ctx;
    randombytes_buf(out, len);
}

static void submit_done(void *ctx, enum kq_err status, const uint8_t *p, size_t len)
{
    (void)p;
    (void)len;
    const char *core = ctx;
    if (status != KQ_OK)
        KQ_LOG(KQ_LOG_DEBUG, "core_tx_refused", KQ_LS("core", core),
               KQ_LS("reason", kq_errcode(status)));
}

static void on_core_status(void *ctx, struct kq_core_host *host, const struct kq_action *a)
{
    struct kq_keys_cores *c = ctx;
    if (a->status == KQ_STATUS_KEEPER_FAULTY) {
        KQ_LOG(KQ_LOG_WARN, "keeper_faulty", KQ_LU("keeper", a->value));
        return;
    }
    if (a->status != KQ_STATUS_SUBMIT_TX)
        return;
    const uint8_t *p = kq_core_host_payload(host, a);
    if (a->payload_len < 4) {
        KQ_LOG(KQ_LOG_ERROR, "core_tx_malformed", KQ_LU("len", a->payload_len));
        return;
    }
    uint16_t family = (uint16_t)(p[0] << 8 | p[1]), op = (uint16_t)(p[2] << 8 | p[3]);
    const char *core = host == c->keeper ? "keeper" : "orch";
    enum kq_err err = kq_ledger_node_submit(c->ln, family, op, p + 4, a->payload_len - 4, false,
                                            submit_done, (void *)core, NULL);
    if (err != KQ_OK)
        KQ_LOG(KQ_LOG_WARN, "core_tx_not_submitted", KQ_LS("core", core), KQ_LU("family", family),
               KQ_LU("op", op), KQ_LS("reason", kq_errcode(err)));
}

void kq_keys_cores_ledger(struct kq_keys_cores *c, const struct kq_smt *state, uint64_t height)
{
    struct kq_event ev = kq_runtime_event(KQ_EV_LEDGER);
    ev.ledger_state = state;
    ev.ledger_height = height;
    if (c->keeper != NULL)
        kq_runtime_deliver(c->keeper, &ev);
    if (c->orch != NULL)
        kq_runtime_deliver(c->orch, &ev);
}

void kq_keys_cores_health(const struct kq_keys_cores *c, json_t *into)
{
    if (c->keeper != NULL)
        json_object_set_new(
            into, "keeper",
            json_pack("{s:I,s:I}", "shares",
                      (json_int_t)kq_keeper_share_count(kq_core_host_state(c->keeper)),
                      "frost_nonces",
                      (json_int_t)kq_keeper_nonce_count(kq_core_host_state(c->keeper))));
    if (c->orch != NULL)
        json_object_set_new(into, "orchestrator",
                            json_pack("{s:I}", "flows",
                                      (json_int_t)kq_orch_flow_count(kq_core_host_state(c->orch))));
}

/* The keeper's key-encryption key: a keyed BLAKE2b of its identity seed. It wraps the per-epoch
 * secrets in the store, so a copy of the database alone opens nothing; forward security comes
 * from erasing each epoch's sealing key (docs/crypto.md). */
static enum kq_err start_keeper(struct kq_keys_cores *c, struct kq_store *store,
                                const struct kq_node_config *cfg)
{
    struct kq_keeper_config *kc = kq_secure_alloc(sizeof *kc);
    KQ_ENSURE(kc != NULL, KQ_ERR_NOMEM);
    memset(kc, 0, sizeof *kc);
    c->keeper_cfg = kc;
    const uint8_t *sk = kq_ledger_node_identity_sk(c->ln);
    kc->node_id = cfg->node_id;
    memcpy(kc->identity_sk, sk, sizeof kc->identity_sk);
    KQ_ENSURE(crypto_generichash(kc->kek, sizeof kc->kek, (const uint8_t *)KEK_TAG,
                                 sizeof KEK_TAG - 1, sk, 32) == 0,
              KQ_ERR_CRYPTO);
    kc->random = node_random;
    kc->frost_nonce_ttl_ms = cfg->keeper_frost_nonce_ttl_ms;
    kc->byzantine_partials = cfg->keeper_byzantine_partials;
    if (kc->byzantine_partials)
        KQ_LOG(KQ_LOG_WARN, "keeper_byzantine",
               KQ_LS("detail", "fault injection: this keeper "
                               "signs wrong partials (tests only)"));
    c->keeper = kq_runtime_add_core(c->rt, &kq_keeper_core, kc, store, KQ_FRAME_KEEPER_FIRST,
                                    KQ_FRAME_KEEPER_LAST, on_core_status, c);
    KQ_ENSURE(c->keeper != NULL, KQ_ERR_NOMEM);
    return KQ_OK;
}

static enum kq_err start_orch(struct kq_keys_cores *c, struct kq_store *store,
                              const struct kq_node_config *cfg)
{
    struct kq_orch_config *oc = calloc(1, sizeof *oc);
    KQ_ENSURE(oc != NULL, KQ_ERR_NOMEM);
    c->orch_cfg = oc;
    oc->node_id = cfg->node_id;
    oc->random = node_random;
    oc->keeper_timeout_ms = cfg->orch_keeper_timeout_ms;
    oc->usage_report_ms = cfg->orch_usage_report_ms;
    c->orch = kq_runtime_add_core(c->rt, &kq_orch_core, oc, store, KQ_FRAME_ORCH_FIRST,
                                  KQ_FRAME_ORCH_LAST, on_core_status, c);
    KQ_ENSURE(c->orch != NULL, KQ_ERR_NOMEM);
    return KQ_OK;
}

enum kq_err kq_keys_cores_start(struct kq_keys_cores *c, struct kq_runtime *rt,
                                struct kq_store *store, const struct kq_node_config *cfg,
                                struct kq_ledger_node *ln)
{
    memset(c, 0, sizeof *c);
    c->rt = rt;
    c->ln = ln;
    if (cfg->roles & KQ_ROLE_KEEPER)
        KQ_GUARD(start_keeper(c, store, cfg));
    if (cfg->roles & KQ_ROLE_ORCHESTRATOR)
        KQ_GUARD(start_orch(c, store, cfg));
    return KQ_OK;
}

void kq_keys_cores_free(struct kq_keys_cores *c)
{
    kq_secure_free(c->keeper_cfg);
    free(c->orch_cfg);
    c->keeper_cfg = c->orch_cfg = NULL;
}
