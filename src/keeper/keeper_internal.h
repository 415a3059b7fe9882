/* The keeper core's private state, shared by keeper.c (events, ledger, DKG), keeper_store.c
 * (sealing and records) and keeper_serve.c (requests). Invariants: every secret lives in `sec`
 * (guarded memory); the plain state holds only public data and sealed bytes; the scratch share
 * and key package are wiped at the end of every operation that fills them. */
#ifndef KQ_KEEPER_KEEPER_INTERNAL_H
#define KQ_KEEPER_KEEPER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "crypto/dkg.h"
#include "crypto/frost.h"
#include "crypto/label.h"
#include "keeper/keeper.h"
#include "ledger/keyreg.h"
#include "wire/keeper_msg.h"

#define KS_MAGIC 0x6b712d6b65657031ULL /* "kq-keep1" */
/* A wrapped or sealed 32-byte secret: version u8 | nonce [24] | ciphertext [32] | tag [16]. */
#define KS_WRAP_VERSION 1
#define KS_WRAPBYTES    (1 + 24 + 32 + 16)
#define KS_NAME_CAP     (KQ_KEY_NAME_MAX_BYTES + 1)
/* The only message kinds a DKG participant emits: deal, complaint, justification. */
#define KS_MAX_OUT 3

struct ks_epoch {
    bool used;
    uint64_t epoch;
    bool has_x, has_k; /* X25519 secret / sealing key held (in sec->epochs at the same slot) */
    uint8_t x_pk[KQ_DKG_X25519BYTES];
    bool durable;          /* both records restored or WRITE_DONE: may be published */
    uint64_t write_token;  /* pending persist, 0 when none */
    uint64_t submitted_at; /* height of the last EPOCH_KEY submission, 0 never */
};

struct ks_epoch_secret {
    uint8_t x_sk[KQ_DKG_X25519BYTES];
    uint8_t k_e[32];
};

struct ks_share {
    bool used;
    char name[KS_NAME_CAP];
    uint32_t version;
    uint64_t epoch;
    uint8_t sealed[KS_WRAPBYTES];
};

struct ks_nonce_meta {
    bool used;
    uint8_t request_id[KQ_PARTIAL_REQIDBYTES];
    char name[KS_NAME_CAP];
    uint32_t version;
    uint64_t epoch;
    uint32_t index;
    uint64_t created_ms;
};

struct ks_secrets {
    uint8_t identity_sk[64];
    uint8_t kek[KQ_KEEPER_KEKBYTES];
    struct ks_epoch_secret epochs[KQ_KEEPER_MAX_EPOCHS];
    struct kq_frost_nonces nonces[KQ_KEEPER_MAX_FROST_NONCES];
    uint8_t share[KQ_SCALARBYTES]; /* the share of the current operation only */
    uint8_t seed[KQ_DKG_SEEDBYTES];
    struct kq_frost_key_package kp;
    struct kq_dkg_result result;
};

struct ks_out_msg {
    uint8_t type; /* enum kq_dkg_msg_type */
    uint32_t sender;
    bool seen;             /* recorded on the ledger */
    uint64_t submitted_at; /* height of the last submission, 0 never */
    size_t len;
    uint8_t bytes[KQ_DKG_MAX_MSG_BYTES];
};

/* A DKG session this keeper takes part in (heap; at most KQ_KEYREG_MAX_SESSIONS). */
struct ks_session {
    kq_hash id;
    struct kq_dkg *m; /* NULL once finished or dead */
    bool dead;        /* could not be built, or failed: ignored until it leaves the ledger */
    bool finished;    /* its share (if any) is sealed and persisted */
    bool seen_live;   /* listed in dkg/active at the last ledger event */
    char name[KS_NAME_CAP];
    uint32_t version;
    uint64_t epoch;
    uint64_t xsk_epoch; /* the epoch whose X25519 secret the machine was built with */
    uint32_t delivered; /* recorded messages fed to the machine */
    uint64_t fed_height;
    uint64_t deadlines[3]; /* deal, complaint, justify */
    size_t n_out;
    struct ks_out_msg out[KS_MAX_OUT];
};

struct keeper {
    uint64_t magic;
    uint32_t self;
    void (*random)(void *ctx, uint8_t *out, size_t len);
    void *random_ctx;
    uint64_t nonce_ttl_ms;
    uint32_t resubmit_blocks;
    bool byzantine;
    struct ks_secrets *sec;
    bool started;
    /* the ledger as of the last KQ_EV_LEDGER (kept alive by the driver until the next) */
    const struct kq_smt *ledger;
    uint64_t height;
    uint64_t cur_epoch;
    uint64_t scanned_epoch; /* epoch of the last full scan of sharings (0: none since start) */
    uint64_t lost_at;       /* height of the last LOST submission, 0 never */
    uint64_t lost_epoch;    /* the epoch LOST's fresh keys were made in, 0 none */
    uint64_t next_token;
    uint64_t lost_token; /* pending persist of LOST's fresh keys */
    struct ks_epoch epochs[KQ_KEEPER_MAX_EPOCHS];
    struct ks_share shares[KQ_KEEPER_MAX_SHARES];
    size_t n_shares;
    struct ks_nonce_meta nonces[KQ_KEEPER_MAX_FROST_NONCES];
    size_t n_nonces;
    struct ks_session *sessions[KQ_KEYREG_MAX_SESSIONS];
    /* scratch (large records read from the ledger; labels) */
    struct kq_label label;
    struct kq_session_rec srec;
    struct kq_session_msg smsg;
    struct kq_sharing_rec sharing;
    struct kq_session_list slist;
    struct kq_key_index index;
    struct kq_keeper_tx tx;
    struct kq_keeper_req req;
    struct kq_dkg_actions dact;
    struct kq_frost_public_package pub;
    uint8_t txbuf[4 + 64 + KQ_DKG_MAX_MSG_BYTES];
};

/* ---- keeper_store.c: record keys, wrapping, the share and epoch tables ---- */
void ks_key_xsk(char out[KQ_CORE_MAX_RECORD_KEY], uint64_t epoch);
void ks_key_ke(char out[KQ_CORE_MAX_RECORD_KEY], uint64_t epoch);
void ks_key_share(char out[KQ_CORE_MAX_RECORD_KEY], const char *name, uint32_t version,
                  uint64_t epoch);
/* Seals 32 bytes under key with XChaCha20-Poly1305, aad = the record key. */
void ks_wrap(struct keeper *k, const uint8_t key[32], const char *rec_key, const uint8_t pt[32],
             uint8_t out[KS_WRAPBYTES]);
KQ_MUST_USE enum kq_err ks_unwrap(const uint8_t key[32], const char *rec_key, const uint8_t *in,
                                  size_t len, uint8_t pt[32]);
KQ_MUST_USE enum kq_err ks_restore(struct keeper *k, const char *rec_key, const uint8_t *v,
                                   size_t len);
struct ks_epoch *ks_epoch_find(struct keeper *k, uint64_t epoch);
/* A free slot for epoch E (NULL if the table is full). */
struct ks_epoch *ks_epoch_slot(struct keeper *k, uint64_t epoch);
size_t ks_epoch_at(const struct keeper *k, const struct ks_epoch *e);
/* Fresh X25519 secret and sealing key for epoch E, persisted (sync) under the KEK; durable at
 * WRITE_DONE(token). */
KQ_MUST_USE enum kq_err ks_epoch_generate(struct keeper *k, uint64_t epoch, uint64_t token,
                                          struct kq_actions *out);
void ks_epoch_drop_x(struct keeper *k, struct ks_epoch *e);
void ks_epoch_drop_k(struct keeper *k, struct ks_epoch *e);
struct ks_share *ks_share_find(struct keeper *k, const char *name, uint32_t version,
                               uint64_t epoch);
/* Seals sec->share under K_E and persists it (sync). */
KQ_MUST_USE enum kq_err ks_share_store(struct keeper *k, const char *name, uint32_t version,
                                       uint64_t epoch, struct kq_actions *out);
/* Unseals a held share into sec->share (the caller wipes it after the operation). */
KQ_MUST_USE enum kq_err ks_share_open(struct keeper *k, const struct ks_share *s);
KQ_MUST_USE enum kq_err ks_share_erase(struct keeper *k, struct ks_share *s,
                                       struct kq_actions *out);

/* ---- keeper_serve.c ---- */
KQ_MUST_USE enum kq_err ks_on_request(struct keeper *k, const struct kq_event *ev,
                                      struct kq_actions *out);
KQ_MUST_USE enum kq_err ks_on_nonce_timer(struct keeper *k, uint64_t now_ms,
                                          struct kq_actions *out);
/* Drops every nonce set of (name, version) (or all with name NULL). */
void ks_nonces_drop_key(struct keeper *k, const char *name);

/* ---- keeper.c ---- */
KQ_MUST_USE enum kq_err ks_submit(struct keeper *k, uint16_t op, const struct kq_keeper_tx *b,
                                  struct kq_actions *out);

#endif
