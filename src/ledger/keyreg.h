/* The key registry on the ledger (docs/keys.md): keys with a usage, their versions, each
 * version's sharings by epoch, the DKG sessions that make and refresh them (messages recorded on
 * chain, finalized by every validator replaying the transcript), keepers' per-epoch X25519 keys,
 * usage counts, scheduled deletion, and Byzantine evidence. Transaction families:
 *   KQ_TX_FAMILY_KEY     (3)     key lifecycle ops, by an admin (or an orchestrator on an admin
 *                                client's behalf);
 *   KQ_TX_FAMILY_KEEPER  (0x100) keepers' and orchestrators' system ops: epoch keys, DKG
 *                                messages, lost-store reports, usage counts;
 *   KQ_TX_FAMILY_EVIDENCE(0x101) a keeper's own signed false response, re-verified by every
 *                                validator.
 * Time rules read only the block's BFT time. Every record has a version byte and a strict
 * decoder. Readers (keepers, orchestrators, the API, clients) use the getters below on a committed
 * state; only the state machine writes. */
#ifndef KQ_LEDGER_KEYREG_H
#define KQ_LEDGER_KEYREG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/assert.h"
#include "base/limits.h"
#include "crypto/dkg.h"
#include "crypto/group.h"
#include "ledger/hash.h"
#include "ledger/smt.h"
#include "ledger/tx.h"

#define KQ_KEYREG_VERSION 1

/* Limits of the registry. */
#define KQ_KEY_NAME_MAX_BYTES 64 /* [A-Za-z0-9._-], 1..64 */
/* Keys recorded, deleted ones included: the "keys" index is one state value (at most
 * KQ_LEDGER_MAX_VALUE_BYTES); paging it is future work. */
#define KQ_KEYREG_MAX_KEYS         800
#define KQ_KEYREG_MAX_SESSIONS     256                /* DKG sessions running at once */
#define KQ_KEYREG_MAX_SESSION_MSGS (4 * KQ_DKG_MAX_N) /* deal + complaint + justification each */
#define KQ_KEYREG_MAX_ATTEMPTS     3  /* a failed DKG is retried (new session) this many times */
#define KQ_KEYREG_MAX_USAGE_ITEMS  64 /* (key, count) pairs in one usage report */

/* Transaction families (tx.h reserves the numbers). */
#define KQ_TX_FAMILY_KEY      3
#define KQ_TX_FAMILY_KEEPER   0x100
#define KQ_TX_FAMILY_EVIDENCE 0x101

enum kq_key_usage {
    KQ_KEY_USAGE_ENCRYPT = 1, /* datakey, encrypt, decrypt, rewrap: labelled threshold KEM */
    KQ_KEY_USAGE_SIGN = 2,    /* FROST(ristretto255, SHA-512) */
    KQ_KEY_USAGE_DERIVE = 3,  /* threshold PRF */
};

enum kq_key_state {
    KQ_KEY_ENABLED = 1,          /* usable (once a version is active) */
    KQ_KEY_PENDING_DELETION = 2, /* no operation served; cancellable until delete_at_ms */
    KQ_KEY_DELETED = 3,          /* tombstone: every keeper erases its shares; name never reused */
};

enum kq_keyver_state {
    KQ_KEYVER_GENERATING = 1,   /* its DKG runs */
    KQ_KEYVER_PENDING = 2,      /* DKG finalized; becomes active at activate_height */
    KQ_KEYVER_ACTIVE = 3,       /* the version new wraps, signatures and derivations use */
    KQ_KEYVER_DECRYPT_ONLY = 4, /* an older version, >= min_decryption_version: decrypt/verify */
    KQ_KEYVER_RETIRED = 5,      /* below min_decryption_version: shares erased */
    KQ_KEYVER_FAILED = 6,       /* its DKG failed KQ_KEYREG_MAX_ATTEMPTS times */
    KQ_KEYVER_DELETED = 7,      /* the key was deleted: shares erased */
};

/* Parameters of the lifecycle, fixed at genesis ("keyparams" record). Times in ms of BFT time,
 * delays in blocks. */
struct kq_keyparams {
    uint64_t deletion_wait_ms;        /* DELETE takes effect after this (default 7 days) */
    uint64_t min_version_grace_ms;    /* raising min_decryption_version takes effect after this */
    uint64_t refresh_period_ms;       /* proactive refresh of every key (0: only on request) */
    uint32_t activation_delay_blocks; /* a rotated version activates this long after its DKG */
    uint32_t epoch_grace_blocks;      /* the previous epoch's sharing serves this long */
    uint32_t dkg_deal_blocks;         /* deal deadline = start + this */
    uint32_t dkg_complaint_blocks;    /* complaint deadline = deal deadline + this */
    uint32_t dkg_justify_blocks;      /* justify deadline = complaint deadline + this */
};
/* Production defaults (7 days, 1 day, 1 day, 2, 50, 10, 5, 5) and the dev cluster's (short). */
void kq_keyparams_default(struct kq_keyparams *p);
void kq_keyparams_dev(struct kq_keyparams *p);
/* Ranges: deadline blocks 1..1000, grace and delay <= 100000 blocks. KQ_OK or INVALID_ARG. */
KQ_MUST_USE enum kq_err kq_keyparams_check(const struct kq_keyparams *p);

/* ---- Records (state values). Keys in docs/keys.md; every record starts with a version byte. */

/* "epoch": the ledger-wide epoch. Every sharing is made in an epoch; dealings are encrypted to the
 * keepers' X25519 keys of that epoch, and shares are sealed at rest under the keeper's sealing
 * key of that epoch. Starts at 1 at genesis. An advance (refresh period, REFRESH/RESHARE op, a
 * keeper removed, quarantined or reporting a lost store) starts a refresh or reshare of every
 * live version into the new epoch. */
struct kq_epoch_rec {
    uint64_t number;
    uint64_t start_height;
    uint64_t start_ms;
    bool advance_pending; /* set by a rule; the end of the block advances */
    bool backlog;         /* some live version still has to move into this epoch */
};

/* "key/<name>". */
struct kq_key_rec {
    char name[KQ_KEY_NAME_MAX_BYTES + 1];
    uint8_t usage;      /* enum kq_key_usage */
    uint8_t state;      /* enum kq_key_state */
    uint32_t n, t;      /* committee size and threshold for new versions */
    uint64_t period_ms; /* rotate when the active version is this old (0: never) */
    uint64_t max_ops;   /* rotate after this many server-side operations (0: never) */
    uint64_t created_height, created_ms;
    uint32_t latest_version;         /* highest version created (generating ones included) */
    uint32_t active_version;         /* 0 until version 1 is active */
    uint32_t min_decryption_version; /* 1 at creation */
    uint32_t pending_min_version;    /* 0: none */
    uint64_t pending_min_at_ms;
    uint32_t generating_version; /* 0: no rotation in progress (proposals dedup on this) */
    uint64_t active_since_ms;    /* BFT time the active version activated */
    uint64_t ops;                /* server-side ops counted against the active version */
    uint64_t delete_at_ms;       /* PENDING_DELETION: when it takes effect */
    uint64_t retry_at_ms;        /* a due rotation that could not start retries then */
    char creator[KQ_LEDGER_CLIENT_ID_MAX_BYTES + 1]; /* client id, "" for an admin key */
};

/* "keyv/<name>/<version decimal>". */
struct kq_keyver_rec {
    uint32_t version;
    uint8_t state; /* enum kq_keyver_state */
    uint64_t created_height;
    uint64_t finalized_height;         /* 0 while generating */
    uint64_t activate_height;          /* PENDING: when it becomes active */
    uint8_t public_key[KQ_POINTBYTES]; /* S; all zero while generating */
    uint64_t epoch;                    /* epoch of the current sharing (0 while generating) */
    uint64_t prev_epoch;        /* the previous sharing, still served until prev_until_height */
    uint64_t prev_until_height; /* 0: no previous sharing */
    uint64_t want_epoch;        /* > epoch: a refresh/reshare into want_epoch is due or running */
    kq_hash session;            /* the running DKG session, all zero when none */
    uint32_t attempts;          /* sessions started for the current goal */
};

/* "keye/<name>/<version>/<epoch>": who holds the version's shares in an epoch. Keeper i (1..n)
 * is node keepers[i - 1] and holds s_i with public share public_shares[i - 1] = s_i * G. */
struct kq_sharing_rec {
    uint64_t epoch;
    uint32_t n, t;
    uint32_t keepers[KQ_DKG_MAX_N];
    uint8_t commits[KQ_DKG_MAX_N][KQ_POINTBYTES]; /* aggregated A_0..A_{t-1}; A_0 = S */
    uint8_t public_shares[KQ_DKG_MAX_N][KQ_POINTBYTES];
    uint64_t effective_height; /* the height whose block finalized it */
    kq_hash session;
};

/* "dkg/<hex session>": a running (or finished) DKG session: everything a participant needs to
 * build its kq_dkg_cfg (with its own secrets) and an observer needs to replay the transcript. */
enum kq_session_state {
    KQ_SESSION_RUNNING = 1,
    KQ_SESSION_DONE = 2,
    KQ_SESSION_FAILED = 3,
};
struct kq_session_rec {
    kq_hash id; /* H("keyquorum/v1/dkg-session", chain id, name, version, mode, epoch, attempt) */
    char name[KQ_KEY_NAME_MAX_BYTES + 1];
    uint32_t version;
    uint8_t mode;   /* enum kq_dkg_mode */
    uint8_t state;  /* enum kq_session_state */
    uint64_t epoch; /* the epoch of the sharing it makes; pks are the keepers' keys of it */
    uint32_t attempt;
    uint32_t n, t;
    uint32_t keepers[KQ_DKG_MAX_N];
    uint8_t pks[KQ_DKG_MAX_N][KQ_DKG_X25519BYTES];
    /* refresh and reshare: the current sharing (dealers = old committee) */
    uint64_t old_epoch;
    uint32_t old_n, old_t;
    uint32_t old_keepers[KQ_DKG_MAX_N];
    uint8_t old_pks[KQ_DKG_MAX_N][KQ_DKG_X25519BYTES];
    uint8_t old_commits[KQ_DKG_MAX_N][KQ_POINTBYTES];
    uint64_t start_height, deal_deadline, complaint_deadline, justify_deadline;
    uint32_t msg_count;  /* messages recorded, "dkgm/<hex session>/<i>" for i < msg_count */
    uint32_t complaints; /* complaint messages among them */
};
/* "dkgm/<hex session>/<i decimal>": one recorded broadcast, in ledger order. */
struct kq_session_msg {
    uint64_t height;
    uint32_t sender; /* index in the dealing committee (deal, justification) or receiving one */
    size_t len;
    uint8_t bytes[KQ_DKG_MAX_MSG_BYTES];
};
/* "dkg/active": ids of the sessions running, in start order (at most KQ_KEYREG_MAX_SESSIONS),
 * each with its complaint deadline: the first height at which it can finalize, so the end of a
 * block reads only the session records that may be due. */
struct kq_session_list {
    uint32_t count;
    kq_hash ids[KQ_KEYREG_MAX_SESSIONS];
    uint64_t due[KQ_KEYREG_MAX_SESSIONS];
};

/* "keeper/<node id>": the state machine's view of a keeper. */
struct kq_keeper_rec {
    uint32_t node_id;
    uint32_t faults;      /* evidence recorded against it */
    bool quarantined;     /* not chosen for new committees; resharing moves its shares away */
    uint64_t lost_height; /* last height it reported a lost store (0: never) */
};
/* "epk/<node id>/<epoch>": a keeper's X25519 public key for an epoch (32 bytes + version). */

/* "keys": every key name with the BFT time of its next time rule (rotation period, deletion,
 * min-version change; UINT64_MAX none), so the end of a block checks one record. */
struct kq_key_index {
    uint32_t count;
    struct {
        char name[KQ_KEY_NAME_MAX_BYTES + 1];
        uint64_t next_due_ms;
    } keys[KQ_KEYREG_MAX_KEYS];
};

/* "evidence/<hex of H(response)>": committed evidence: keeper node, key, version, epoch, height
 * and the encoded signed response (kq_partial_encode). */

/* ---- Getters on a committed state. KQ_ERR_NOT_FOUND if absent, a decode error if damaged. */
bool kq_key_name_ok(const char *name, size_t len);
KQ_MUST_USE enum kq_err kq_keyreg_params(const struct kq_smt *st, struct kq_keyparams *p);
KQ_MUST_USE enum kq_err kq_keyreg_epoch(const struct kq_smt *st, struct kq_epoch_rec *e);
KQ_MUST_USE enum kq_err kq_keyreg_key(const struct kq_smt *st, const char *name,
                                      struct kq_key_rec *k);
KQ_MUST_USE enum kq_err kq_keyreg_version(const struct kq_smt *st, const char *name,
                                          uint32_t version, struct kq_keyver_rec *v);
KQ_MUST_USE enum kq_err kq_keyreg_sharing(const struct kq_smt *st, const char *name,
                                          uint32_t version, uint64_t epoch,
                                          struct kq_sharing_rec *s);
/* s is large (about 20 KiB): heap it. */
KQ_MUST_USE enum kq_err kq_keyreg_session(const struct kq_smt *st, const kq_hash *id,
                                          struct kq_session_rec *s);
KQ_MUST_USE enum kq_err kq_keyreg_session_msg(const struct kq_smt *st, const kq_hash *id,
                                              uint32_t i, struct kq_session_msg *m);
KQ_MUST_USE enum kq_err kq_keyreg_sessions(const struct kq_smt *st, struct kq_session_list *l);
KQ_MUST_USE enum kq_err kq_keyreg_keeper(const struct kq_smt *st, uint32_t node_id,
                                         struct kq_keeper_rec *k);
KQ_MUST_USE enum kq_err kq_keyreg_epoch_key(const struct kq_smt *st, uint32_t node_id,
                                            uint64_t epoch, uint8_t pk[KQ_DKG_X25519BYTES]);
KQ_MUST_USE enum kq_err kq_keyreg_index(const struct kq_smt *st, struct kq_key_index *ix);
/* The state key of a record, for inclusion proofs (/v1/ledger/proof?key=...): writes a
 * NUL-terminated key into out (KQ_LEDGER_MAX_KEY_BYTES + 1). */
void kq_keyreg_key_path(char *out, const char *name);
void kq_keyreg_version_path(char *out, const char *name, uint32_t version);
void kq_keyreg_sharing_path(char *out, const char *name, uint32_t version, uint64_t epoch);
/* Record codecs: encoders (out, cap, *out_len; KQ_ERR_OVERFLOW / KQ_ERR_LIMIT) for the state
 * machine and for tests that build states by hand; strict decoders (the getters use them; also
 * for values checked with inclusion proofs by clients, and fuzzed). */
KQ_MUST_USE enum kq_err kq_key_rec_encode(const struct kq_key_rec *k, uint8_t *out, size_t cap,
                                          size_t *out_len);
KQ_MUST_USE enum kq_err kq_keyver_rec_encode(const struct kq_keyver_rec *v, uint8_t *out,
                                             size_t cap, size_t *out_len);
KQ_MUST_USE enum kq_err kq_sharing_rec_encode(const struct kq_sharing_rec *s, uint8_t *out,
                                              size_t cap, size_t *out_len);
KQ_MUST_USE enum kq_err kq_session_rec_encode(const struct kq_session_rec *s, uint8_t *out,
                                              size_t cap, size_t *out_len);
KQ_MUST_USE enum kq_err kq_session_rec_decode(struct kq_session_rec *s, const uint8_t *in,
                                              size_t len);
KQ_MUST_USE enum kq_err kq_epoch_rec_encode(const struct kq_epoch_rec *e, uint8_t *out, size_t cap,
                                            size_t *out_len);
KQ_MUST_USE enum kq_err kq_keeper_rec_encode(const struct kq_keeper_rec *k, uint8_t *out,
                                             size_t cap, size_t *out_len);
/* The other records' codecs (strict, zeroed output on failure). */
KQ_MUST_USE enum kq_err kq_keyparams_decode(struct kq_keyparams *p, const uint8_t *in, size_t len);
KQ_MUST_USE enum kq_err kq_epoch_rec_decode(struct kq_epoch_rec *e, const uint8_t *in, size_t len);
KQ_MUST_USE enum kq_err kq_keeper_rec_decode(struct kq_keeper_rec *k, const uint8_t *in,
                                             size_t len);
KQ_MUST_USE enum kq_err kq_session_msg_encode(uint64_t height, uint32_t sender, const uint8_t *msg,
                                              size_t len, uint8_t *out, size_t cap,
                                              size_t *out_len);
KQ_MUST_USE enum kq_err kq_session_msg_decode(struct kq_session_msg *m, const uint8_t *in,
                                              size_t len);
KQ_MUST_USE enum kq_err kq_session_list_encode(const struct kq_session_list *l, uint8_t *out,
                                               size_t cap, size_t *out_len);
KQ_MUST_USE enum kq_err kq_session_list_decode(struct kq_session_list *l, const uint8_t *in,
                                               size_t len);
KQ_MUST_USE enum kq_err kq_key_index_encode(const struct kq_key_index *ix, uint8_t *out, size_t cap,
                                            size_t *out_len);
KQ_MUST_USE enum kq_err kq_key_index_decode(struct kq_key_index *ix, const uint8_t *in, size_t len);
/* Writes a record into *cur under its key (for the state machine and hand-built test states);
 * same contract as kq_state_put. */
KQ_MUST_USE enum kq_err kq_keyreg_put_key(struct kq_smt **cur, const struct kq_key_rec *k);
KQ_MUST_USE enum kq_err kq_keyreg_put_version(struct kq_smt **cur, const char *name,
                                              const struct kq_keyver_rec *v);
KQ_MUST_USE enum kq_err kq_keyreg_put_sharing(struct kq_smt **cur, const char *name,
                                              uint32_t version, const struct kq_sharing_rec *s);
KQ_MUST_USE enum kq_err kq_keyreg_put_epoch(struct kq_smt **cur, const struct kq_epoch_rec *e);
KQ_MUST_USE enum kq_err kq_keyreg_put_keeper(struct kq_smt **cur, const struct kq_keeper_rec *k);
KQ_MUST_USE enum kq_err kq_keyreg_put_epoch_key(struct kq_smt **cur, uint32_t node_id,
                                                uint64_t epoch,
                                                const uint8_t pk[KQ_DKG_X25519BYTES]);
KQ_MUST_USE enum kq_err kq_keyreg_put_session(struct kq_smt **cur, const struct kq_session_rec *s);
KQ_MUST_USE enum kq_err kq_keyreg_put_session_msg(struct kq_smt **cur, const kq_hash *id,
                                                  uint32_t i, uint64_t height, uint32_t sender,
                                                  const uint8_t *msg, size_t len);
KQ_MUST_USE enum kq_err kq_keyreg_put_sessions(struct kq_smt **cur,
                                               const struct kq_session_list *l);
KQ_MUST_USE enum kq_err kq_keyreg_put_index(struct kq_smt **cur, const struct kq_key_index *ix);
KQ_MUST_USE enum kq_err kq_keyreg_put_params(struct kq_smt **cur, const struct kq_keyparams *p);
KQ_MUST_USE enum kq_err kq_key_rec_decode(struct kq_key_rec *k, const uint8_t *in, size_t len);
KQ_MUST_USE enum kq_err kq_keyver_rec_decode(struct kq_keyver_rec *v, const uint8_t *in,
                                             size_t len);
KQ_MUST_USE enum kq_err kq_sharing_rec_decode(struct kq_sharing_rec *s, const uint8_t *in,
                                              size_t len);

/* ---- Transaction bodies ------------------------------------------------------------------ */

enum kq_key_op {
    /* Family KEY. Submitter: an admin key (kq_state_is_admin), or a node with the orchestrator
     * role acting for `client`, a client whose record holds the admin role. */
    KQ_KEY_OP_CREATE = 1,          /* name, usage, n, t, period_ms, max_ops */
    KQ_KEY_OP_ROTATE = 2,          /* name: proposes a rotation (EXISTS if one runs) */
    KQ_KEY_OP_DELETE = 3,          /* name: schedules deletion at now + deletion_wait_ms */
    KQ_KEY_OP_CANCEL_DELETE = 4,   /* name */
    KQ_KEY_OP_SET_MIN_VERSION = 5, /* name, version: effective at now + min_version_grace_ms */
    KQ_KEY_OP_RESHARE = 6,         /* name, n (0: unchanged), t (0: unchanged): new committee */
    KQ_KEY_OP_REFRESH = 7,         /* no name: advance the epoch now (refresh every key) */
};
enum kq_keeper_op {
    /* Family KEEPER. Submitter: the node's identity key. */
    KQ_KEEPER_OP_EPOCH_KEY = 1, /* keeper: epoch (current or next), X25519 pk; once per epoch */
    KQ_KEEPER_OP_DKG_MSG = 2,   /* keeper in the session: session id, message bytes */
    KQ_KEEPER_OP_LOST = 3,      /* keeper: lost its store; new X25519 keys for the current and
                                   next epoch; reshares every version it held */
    KQ_KEEPER_OP_USAGE = 4,     /* orchestrator: (name, ops) pairs served since its last report */
};
enum kq_evidence_op {
    KQ_EVIDENCE_OP_PARTIAL = 1, /* reporter's claim: keeper node, key, version, epoch, response */
};

/* One body struct for every op; fields unused by an op are zero. */
struct kq_key_tx {
    char client[KQ_LEDGER_CLIENT_ID_MAX_BYTES + 1]; /* KEY family: acting client ("" for admin) */
    char name[KQ_KEY_NAME_MAX_BYTES + 1];
    uint8_t usage;
    uint32_t n, t;
    uint64_t period_ms, max_ops;
    uint32_t version;
};
struct kq_keeper_tx {
    uint64_t epoch;
    uint8_t pk[KQ_DKG_X25519BYTES];      /* EPOCH_KEY; LOST: key for the current epoch */
    uint8_t next_pk[KQ_DKG_X25519BYTES]; /* LOST: key for the next epoch */
    kq_hash session;
    const uint8_t *msg; /* DKG_MSG: zero-copy view */
    size_t msg_len;
    uint32_t n_usage;
    struct {
        char name[KQ_KEY_NAME_MAX_BYTES + 1];
        uint64_t ops;
    } usage[KQ_KEYREG_MAX_USAGE_ITEMS];
};
struct kq_evidence_tx {
    uint32_t keeper;
    char name[KQ_KEY_NAME_MAX_BYTES + 1];
    uint32_t version;
    uint64_t epoch;
    const uint8_t *response; /* kq_partial_encode bytes: zero-copy view */
    size_t response_len;
};
/* Encoders (out, cap; *out_len) and strict decoders for each family's body. KQ_ERR_OVERFLOW,
 * KQ_ERR_LIMIT; decoders KQ_ERR_VERSION / TRUNCATED / FORMAT / LIMIT with the struct zeroed. */
KQ_MUST_USE enum kq_err kq_key_tx_encode(uint16_t op, const struct kq_key_tx *b, uint8_t *out,
                                         size_t cap, size_t *out_len);
KQ_MUST_USE enum kq_err kq_key_tx_decode(uint16_t op, struct kq_key_tx *b, const uint8_t *in,
                                         size_t len);
KQ_MUST_USE enum kq_err kq_keeper_tx_encode(uint16_t op, const struct kq_keeper_tx *b, uint8_t *out,
                                            size_t cap, size_t *out_len);
KQ_MUST_USE enum kq_err kq_keeper_tx_decode(uint16_t op, struct kq_keeper_tx *b, const uint8_t *in,
                                            size_t len);
KQ_MUST_USE enum kq_err kq_evidence_tx_encode(const struct kq_evidence_tx *b, uint8_t *out,
                                              size_t cap, size_t *out_len);
KQ_MUST_USE enum kq_err kq_evidence_tx_decode(struct kq_evidence_tx *b, const uint8_t *in,
                                              size_t len);

/* ---- The state machine's side (state.c calls these) --------------------------------------- */
/* Genesis: "keyparams" and "epoch" (number 1, starting at the genesis time). */
KQ_MUST_USE enum kq_err kq_keyreg_genesis(struct kq_smt **cur, const struct kq_keyparams *p,
                                          uint64_t genesis_ms);
/* Validates and applies one tx of the three families; same contract as kq_member_apply. height
 * and bft_time_ms are the block's; chain_id binds session ids. */
KQ_MUST_USE enum kq_err kq_keyreg_apply(const struct kq_smt *st, const struct kq_tx *tx,
                                        const kq_hash *chain_id, uint64_t height,
                                        uint64_t bft_time_ms, struct kq_smt **out,
                                        enum kq_tx_status *status);
/* After the block's txs: finalizes sessions past their deadlines (replaying the transcript),
 * retries or fails them, activates pending versions, applies due time rules (rotation by period
 * or op count, deletion, min-version changes), advances the epoch when due and starts the
 * sessions it needs. Replaces *cur; only NOMEM/LIMIT fail. */
KQ_MUST_USE enum kq_err kq_keyreg_end_block(struct kq_smt **cur, const kq_hash *chain_id,
                                            uint64_t height, uint64_t bft_time_ms);
/* After an applied membership tx (pre: the state before it, *next: after): a keeper node removed,
 * or no longer a keeper, advances the epoch so its shares are reshared away. */
KQ_MUST_USE enum kq_err kq_keyreg_member_changed(const struct kq_smt *pre, const struct kq_tx *tx,
                                                 struct kq_smt **next);
/* True while the registry needs blocks to progress (a session runs, a version is pending): the
 * replica then does not idle between blocks. */
bool kq_keyreg_busy(const struct kq_smt *st);

#endif
