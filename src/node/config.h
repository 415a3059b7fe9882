/* The node's configuration file (JSON, documented in docs/operations.md). Loading is strict:
 * unknown keys, wrong types, out-of-range values and duplicate ids are errors with a message that
 * names the offending field, so a typo never silently falls back to a default. */
#ifndef KQ_NODE_CONFIG_H
#define KQ_NODE_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/log.h"
#include "base/roles.h"

/* Peers one node is configured with: a cluster is small (validators and keepers are tens). */
#define KQ_CONFIG_MAX_PEERS 255
/* API tokens and certificate-name role grants in one config. */
#define KQ_CONFIG_MAX_TOKENS  64
#define KQ_CONFIG_MAX_CLIENTS 256
/* A config file is a few KB; refuse anything that is clearly not one. */
#define KQ_CONFIG_MAX_FILE_BYTES (1024 * 1024)
#define KQ_CONFIG_MAX_HOST       64
#define KQ_CONFIG_MAX_NAME       64

struct kq_config_peer {
    uint32_t id;
    char host[KQ_CONFIG_MAX_HOST];
    uint16_t port;
    uint8_t identity[32]; /* pinned Ed25519 identity key */
};

struct kq_config_token {
    char name[KQ_CONFIG_MAX_NAME + 1];
    uint8_t sha256[32]; /* SHA-256 of the token: the token itself is never stored */
    uint32_t roles;
};

struct kq_config_client {
    char name[KQ_CONFIG_MAX_NAME + 1]; /* certificate CN */
    uint32_t roles;
};

struct kq_node_config {
    uint32_t node_id;
    unsigned roles;
    char data_dir[PATH_MAX];
    char api_host[KQ_CONFIG_MAX_HOST];
    uint16_t api_port;
    char peer_host[KQ_CONFIG_MAX_HOST];
    uint16_t peer_port;
    char tls_ca[PATH_MAX];
    char tls_cert[PATH_MAX];
    char tls_key[PATH_MAX];
    size_t api_max_body_bytes;
    unsigned api_read_timeout_s;
    unsigned api_write_timeout_s;
    unsigned api_max_connections;
    uint64_t hb_interval_ms;
    uint64_t hb_timeout_ms;
    enum kq_log_level log_level;
    /* The ledger (empty genesis path: the node runs no ledger). Consensus timeouts in ms. */
    char ledger_genesis[PATH_MAX];
    uint64_t ledger_propose_ms, ledger_prevote_ms, ledger_precommit_ms, ledger_delta_ms;
    uint64_t ledger_commit_ms, ledger_sync_retry_ms, ledger_empty_block_ms;
    /* Keys: the keeper's FROST nonce lifetime and its fault-injection switch (tests only); the
     * orchestrator's per-keeper timeout before a spare is asked, and its usage-report period. */
    uint64_t keeper_frost_nonce_ttl_ms;
    bool keeper_byzantine_partials;
    uint64_t orch_keeper_timeout_ms, orch_usage_report_ms;
    size_t n_peers;
    struct kq_config_peer peers[KQ_CONFIG_MAX_PEERS];
    size_t n_tokens;
    struct kq_config_token tokens[KQ_CONFIG_MAX_TOKENS];
    size_t n_clients;
    struct kq_config_client clients[KQ_CONFIG_MAX_CLIENTS];
};

/* Loads and validates path into *out (fully overwritten). Relative file paths in the config are
 * resolved against the config file's directory. On failure returns KQ_ERR_CONFIG (or KQ_ERR_IO)
 * and writes a one-line reason naming the field into errbuf. */
__attribute__((warn_unused_result)) enum kq_err
kq_node_config_load(const char *path, struct kq_node_config *out, char *errbuf, size_t errlen);

/* "validator,keeper" style names of a role set, into buf. */
const char *kq_node_roles_str(unsigned roles, char *buf, size_t len);

/* Parses "host:port" (port 1..65535, or 0 when allow_zero). */
bool kq_parse_hostport(const char *s, bool allow_zero, char *host, size_t host_len, uint16_t *port);

#endif
