/* The keeper core (docs/keys.md §3): holds this node's shares of threshold keys, sealed at rest
 * under per-epoch sealing keys (docs/crypto.md "Sealing at rest"), takes part in the DKG sessions
 * the ledger runs, and answers orchestrators' requests after checking each one against its own
 * copy of the committed ledger state. Pure: events in, actions out (core.h); it reads no clock and
 * no OS randomness (the config's random callback supplies it). Invariants: a share is unsealed
 * into guarded memory for one operation and wiped after; no secret is persisted unwrapped; an
 * epoch key is published only once its wrapped secret is durable; FROST nonces never leave
 * memory and serve one signature. */
#ifndef KQ_KEEPER_KEEPER_H
#define KQ_KEEPER_KEEPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define KQ_KEEPER_KEKBYTES 32
/* Record keys in the core's namespace (docs/crypto.md): "xsk/<E>" the wrapped X25519 secret of
 * epoch E, "ke/<E>" the wrapped sealing key K_E, "share/<name>/<v>/<E>" a sealed share. */
#define KQ_KEEPER_REC_XSK   "xsk/"
#define KQ_KEEPER_REC_KE    "ke/"
#define KQ_KEEPER_REC_SHARE "share/"
/* The FROST nonce expiry timer. */
#define KQ_KEEPER_TIMER_NONCES 1u
/* Defaults: a FROST round two comes within seconds of round one; an EPOCH_KEY, LOST or DKG_MSG tx
 * not on the ledger after this many heights is submitted again. */
#define KQ_KEEPER_DEFAULT_NONCE_TTL_MS    30000
#define KQ_KEEPER_DEFAULT_RESUBMIT_BLOCKS 4

struct kq_keeper_config {
    uint32_t node_id;        /* must equal init's self */
    uint8_t identity_sk[64]; /* Ed25519: signs responses; the ledger's node record pins it */
    uint8_t kek[KQ_KEEPER_KEKBYTES]; /* key-encryption key the node derives: wraps epoch secrets */
    /* Randomness (epoch secrets, AEAD nonces, FROST nonces, sealed-box ephemerals): the runtime
     * passes randombytes_buf, tests a deterministic stream. Must fill out[0..len). */
    void (*random)(void *ctx, uint8_t *out, size_t len);
    void *random_ctx;
    uint64_t frost_nonce_ttl_ms; /* 0: KQ_KEEPER_DEFAULT_NONCE_TTL_MS */
    uint32_t resubmit_blocks;    /* 0: KQ_KEEPER_DEFAULT_RESUBMIT_BLOCKS */
    /* FAULT INJECTION FOR TESTS ONLY (exposed by `keyquorum dev` alone): answer unwrap and derive
     * requests with a correctly signed response whose Z_i is wrong (Z_i + G), so its DLEQ proof
     * fails and the response is evidence against this keeper. */
    bool byzantine_partials;
};

/* The core. init copies the config (secrets into guarded memory; the caller wipes its copy):
 * KQ_ERR_INVALID_ARG for a NULL config or random callback, node_id != self; KQ_ERR_NOMEM.
 * step:
 *   RESTORE   records "xsk/", "ke/" (unwrapped with the KEK: KQ_ERR_AUTH if damaged) and "share/"
 *             (kept sealed); other keys are ignored;
 *   START     the core waits for the ledger;
 *   LEDGER    publishes epoch keys, drives DKG sessions, seals new shares, erases what is no
 *             longer served, reports a lost store (docs/keys.md §3);
 *   FRAME     KQ_FRAME_KEEPER_REQ: answered with KQ_FRAME_KEEPER_RESP (a refusal carries its
 *             status); other frame types KQ_ERR_TYPE, a malformed request its decoder's error;
 *   TIMER     expires FROST nonces;
 *   WRITE_DONE marks persisted epoch secrets durable (publishable).
 * fini wipes and frees every secret. */
extern const struct kq_core_ops kq_keeper_core;

/* Queries for tests and the node's health on an initialised state. */
/* Shares held (sealed records in memory). */
size_t kq_keeper_share_count(const void *state);
/* Whether a sealed share for (name, version, epoch) is held. */
bool kq_keeper_has_share(const void *state, const char *name, uint32_t version, uint64_t epoch);
/* Whether the X25519 secret / sealing key of epoch E is held. */
bool kq_keeper_has_epoch_secret(const void *state, uint64_t epoch);
bool kq_keeper_has_sealing_key(const void *state, uint64_t epoch);
/* FROST nonce sets waiting for their round two. */
size_t kq_keeper_nonce_count(const void *state);

#endif
