/* What a client trusts, and the verification of what nodes tell it: the genesis (its trust root,
 * a file), the validator-set changes followed from it (each certified by the set before), block
 * records checked against the set in force at their height, and state values checked with their
 * inclusion proof against a certified header. Shared by the CLI and libkeyquorum. */
#ifndef KQ_CLIENT_TRUST_H
#define KQ_CLIENT_TRUST_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "base/limits.h"
#include "client/http.h"
#include "ledger/block.h"
#include "ledger/genesis.h"
#include "ledger/valset.h"

struct kq_trust {
    struct kq_genesis *genesis; /* NULL until loaded */
    kq_hash chain_id;
    struct kq_valset *vs; /* the genesis set */
    /* the sets that followed, verified change by change: sets[i] is in force from from[i] on */
    size_t n_sets;
    struct kq_valset *sets[KQ_CLI_MAX_VALSET_CHANGES];
    uint64_t from[KQ_CLI_MAX_VALSET_CHANGES];
    bool valsets_loaded;
};

/* Reads the genesis (path, or $KQ_DEV_DIR/genesis.bin when NULL). */
bool kq_trust_load_genesis(struct kq_trust *t, const char *path, char *err, size_t errlen);
/* The genesis, then the validator-set changes since (GET /v1/ledger/valsets from addr, NULL: the
 * connection's default address), each verified. Loads once. */
bool kq_trust_load(struct kq_trust *t, const struct kq_cli_conn *c, const char *addr,
                   const char *genesis_path, char *err, size_t errlen);
/* The set in force at `height`. */
const struct kq_valset *kq_trust_vs_at(const struct kq_trust *t, uint64_t height);
/* Verifies one block JSON object {"height","hash","record"}: its certificate by the set then in
 * force; *h gets the header. */
bool kq_trust_verify_block(const struct kq_trust *t, json_t *b, struct kq_header *h, char *err,
                           size_t errlen);
/* Fetches state key `key` with its proof (GET /v1/ledger/proof) and checks both: KQ_OK with
 * *value (malloc'd, NULL when absent; *vlen its length), *j the reply and *h the verified header;
 * KQ_ERR_NET with err set for a transport failure; else why it does not verify. */
enum kq_err kq_trust_value(struct kq_trust *t, const struct kq_cli_conn *c, const char *addr,
                           const char *key, json_t **j, uint8_t **value, size_t *vlen,
                           struct kq_header *h, char *err, size_t errlen);
/* GET path as JSON, 200 only (else err). */
bool kq_trust_get(const struct kq_cli_conn *c, const char *addr, const char *path, json_t **out,
                  char *err, size_t errlen);
/* Base64 (standard) of a JSON string value (malloc'd; NULL if not base64). */
uint8_t *kq_trust_b64(const char *s, size_t *len);
void kq_trust_free(struct kq_trust *t);

#endif
