/* Pedersen DKG with Feldman commitments (GJKR complaint round), proactive refresh and resharing,
 * as a pure state machine: events in (start, message, height), actions out (messages to broadcast,
 * status). It never reads the clock, network, disk or OS randomness: all randomness is expanded
 * from the 32-byte seed in its config, so a run is replayable. Protocol and formats:
 * docs/crypto/dkg.md. */
#ifndef KQ_CRYPTO_DKG_H
#define KQ_CRYPTO_DKG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"
#include "base/limits.h"
#include "crypto/group.h"

#define KQ_DKG_SESSIONBYTES 32
#define KQ_DKG_SEEDBYTES    32
#define KQ_DKG_X25519BYTES  32                    /* epoch public and secret keys */
#define KQ_DKG_BOXBYTES     (KQ_SCALARBYTES + 16) /* one encrypted share: ciphertext || tag */
#define KQ_DKG_HEADERBYTES  (1 + 1 + KQ_DKG_SESSIONBYTES + 4)
#define KQ_DKG_MAX_N        KQ_DKG_MAX_PARTICIPANTS /* committee size; threshold <= this too */
/* The largest message: a deal with KQ_DKG_MAX_N commitments, a proof and KQ_DKG_MAX_N boxes. */
#define KQ_DKG_MAX_MSG_BYTES                                                                       \
    (KQ_DKG_HEADERBYTES + 2 + KQ_DKG_MAX_N * KQ_POINTBYTES + 1 + KQ_PROOFBYTES + 2 +               \
     KQ_DKG_MAX_N * KQ_DKG_BOXBYTES)
/* One event emits at most a deal, a complaint and a justification (a height that jumps past
 * several deadlines at once). */
#define KQ_DKG_MAX_ACTIONS 3

size_t kq_dkg_sessionbytes(void);
size_t kq_dkg_seedbytes(void);
size_t kq_dkg_max_msg_bytes(void);

enum kq_dkg_mode {
    KQ_DKG_FRESH = 1,   /* a new random secret */
    KQ_DKG_REFRESH = 2, /* sharings of zero added to the current shares: same committee, same S */
    KQ_DKG_RESHARE = 3, /* old committee (old_n, old_t) deals its shares to (n, t): same S */
};

enum kq_dkg_status {
    KQ_DKG_RUNNING = 0,
    KQ_DKG_DONE = 1,   /* kq_dkg_result is available */
    KQ_DKG_FAILED = 2, /* actions->err / kq_dkg_error says why, e.g. KQ_ERR_THRESHOLD */
};

/* What this machine concluded about one dealer. */
enum kq_dkg_dealer_state {
    KQ_DKG_DEALER_PENDING = 0,      /* nothing received yet (deal phase still open) */
    KQ_DKG_DEALER_VALID = 1,        /* in QUAL unless disqualified later */
    KQ_DKG_DEALER_DISQUALIFIED = 2, /* bad public data, or complaint not justified */
    KQ_DKG_DEALER_ABSENT = 3,       /* sent no deal by deal_deadline */
};

/* Configuration of one participant (or of an observer: my_index = my_old_index = 0, no secrets).
 * Indices are 1..n. The machine copies everything it needs; the caller keeps ownership.
 * Fresh and refresh: the dealers are the recipients (old_* ignored; my_old_index ignored). */
struct kq_dkg_cfg {
    enum kq_dkg_mode mode;
    uint8_t session[KQ_DKG_SESSIONBYTES];     /* unique per run; binds every message and hash */
    uint32_t n, t;                            /* receiving committee; 1 <= t <= n <= KQ_DKG_MAX_N */
    const uint8_t (*pks)[KQ_DKG_X25519BYTES]; /* n epoch public keys, index j at pks[j - 1] */
    uint32_t old_n, old_t;                    /* reshare: the dealing committee */
    const uint8_t (*old_pks)[KQ_DKG_X25519BYTES]; /* reshare: old_n epoch public keys */
    /* refresh: the current aggregated commitments (t points); reshare: the old committee's
     * (old_t points); fresh: NULL. Their first point is the group key S. */
    const uint8_t (*old_commits)[KQ_POINTBYTES];
    uint32_t my_index;        /* my index as a recipient, 0 if none */
    uint32_t my_old_index;    /* reshare: my index as a dealer, 0 if none */
    const uint8_t *epoch_sk;  /* my X25519 epoch secret key (32 bytes), NULL for an observer */
    const uint8_t *old_share; /* refresh: my current share; reshare: my share if I deal */
    const uint8_t *seed;      /* 32 bytes of entropy for my coefficients and nonces, or NULL */
    uint64_t deal_deadline, complaint_deadline, justify_deadline; /* block heights, increasing */
};

/* The outcome for one participant. Everything but `share` is public and also derivable from the
 * transcript alone (kq_dkg_transcript_derive). Wipe with kq_dkg_result_wipe. */
struct kq_dkg_result {
    uint32_t index;                  /* my recipient index, 0 for an observer or a leaving dealer */
    uint32_t n, t;                   /* the committee now holding the key */
    bool has_share;                  /* false for observers and leaving dealers */
    uint8_t share[KQ_SCALARBYTES];   /* secret: s_index */
    uint8_t group_pk[KQ_POINTBYTES]; /* S = commits[0] */
    uint8_t commits[KQ_DKG_MAX_N][KQ_POINTBYTES];       /* aggregated A_0..A_{t-1} */
    uint8_t public_shares[KQ_DKG_MAX_N][KQ_POINTBYTES]; /* S_j = s_j * G at [j - 1] */
    uint32_t qual_count;
    uint32_t qual[KQ_DKG_MAX_N]; /* dealer indices in QUAL, ascending */
};

/* Actions emitted by one event. Every event function resets count first. */
struct kq_dkg_actions {
    size_t count;
    struct {
        size_t len;
        uint8_t bytes[KQ_DKG_MAX_MSG_BYTES];
    } msgs[KQ_DKG_MAX_ACTIONS]; /* to broadcast, in order, to everyone including myself */
    enum kq_dkg_status status;
    enum kq_err err; /* why, when status is KQ_DKG_FAILED */
};

struct kq_dkg;

/* Creates a machine from cfg (validated: KQ_ERR_INVALID_ARG for bad sizes, indices, deadlines or
 * missing secrets, KQ_ERR_BAD_POINT for bad old commitments, KQ_ERR_AUTH if epoch_sk does not
 * match my public key(s)). The machine lives in guarded memory; *out is NULL on failure. */
KQ_MUST_USE enum kq_err kq_dkg_new(struct kq_dkg **out, const struct kq_dkg_cfg *cfg);
/* Wipes and frees m (NULL allowed). */
void kq_dkg_free(struct kq_dkg *m);

/* Emits my deal (if I am a dealer; else nothing). Call once, before the deal deadline.
 * KQ_ERR_STATE if already started or the deal phase is over. */
KQ_MUST_USE enum kq_err kq_dkg_start(struct kq_dkg *m, struct kq_dkg_actions *act);

/* A broadcast delivered by the ordered channel, in the channel's order, to every participant.
 * sender is the transport-authenticated index of the sending node in the committee of the
 * message's role: the dealing committee for deals and justifications, the receiving committee
 * for complaints (kq_dkg_msg_decode_header tells the type). Returns KQ_OK if the message was
 * processed (which may disqualify its sender: see kq_dkg_dealer_state), or an error if it was
 * rejected with no effect: KQ_ERR_LABEL (other session), KQ_ERR_AUTH (sender mismatch),
 * KQ_ERR_STATE (duplicate, wrong phase, late, a justification nobody asked for), KQ_ERR_FORMAT /
 * KQ_ERR_TRUNCATED / KQ_ERR_VERSION / KQ_ERR_LIMIT (undecodable header or complaint, or a
 * complaint naming no such dealer). A deal or justification whose header is right but whose body
 * is malformed or fails a check disqualifies its dealer. */
KQ_MUST_USE enum kq_err kq_dkg_on_message(struct kq_dkg *m, uint32_t sender, const uint8_t *msg,
                                          size_t len, struct kq_dkg_actions *act);

/* The ledger reached `height`: closes every phase whose deadline is <= height (emitting my
 * complaint or justification) and finalizes after the last one, or right after the complaint
 * deadline when nobody complained. Call it before delivering the messages of that height.
 * KQ_ERR_INVALID_ARG if height goes back. When the DKG fails here (KQ_ERR_THRESHOLD: fewer
 * qualified dealers than needed) the error is returned and act->status is KQ_DKG_FAILED. */
KQ_MUST_USE enum kq_err kq_dkg_on_height(struct kq_dkg *m, uint64_t height,
                                         struct kq_dkg_actions *act);

enum kq_dkg_status kq_dkg_status(const struct kq_dkg *m);
/* Why the machine failed (KQ_OK while running or done). */
enum kq_err kq_dkg_error(const struct kq_dkg *m);
/* This machine's view of dealer i (1-based in the dealing committee); *reason (may be NULL)
 * gets the error that disqualified it. */
enum kq_dkg_dealer_state kq_dkg_dealer_state(const struct kq_dkg *m, uint32_t dealer,
                                             enum kq_err *reason);
/* Copies the result once status is KQ_DKG_DONE (KQ_ERR_STATE before). out is wiped on failure. */
KQ_MUST_USE enum kq_err kq_dkg_result(const struct kq_dkg *m, struct kq_dkg_result *out);
void kq_dkg_result_wipe(struct kq_dkg_result *r);

/* ---- Transcript derivation --------------------------------------------------------------- */
/* One broadcast as the ledger recorded it: the height of its block, its authenticated sender
 * (as for kq_dkg_on_message) and its bytes. */
struct kq_dkg_transcript_msg {
    uint64_t height;
    uint32_t sender;
    const uint8_t *bytes;
    size_t len;
};

/* Replays a transcript as an observer: pub is a cfg without secrets (my_index, my_old_index,
 * epoch_sk, old_share and seed are ignored). Fills out with S, the aggregated commitments, every
 * public share and QUAL (has_share false). KQ_ERR_THRESHOLD if QUAL is too small; out is wiped
 * on failure. msgs must be in ledger order with non-decreasing heights. */
KQ_MUST_USE enum kq_err kq_dkg_transcript_derive(const struct kq_dkg_cfg *pub,
                                                 const struct kq_dkg_transcript_msg *msgs,
                                                 size_t count, struct kq_dkg_result *out);

/* ---- Messages (dkg_msg.c) -----------------------------------------------------------------
 * Every message: u8 version (1) || u8 type || session (32) || u32 sender, then the body. */
#define KQ_DKG_MSG_VERSION 1

enum kq_dkg_msg_type {
    KQ_DKG_MSG_DEAL = 1,
    KQ_DKG_MSG_COMPLAINT = 2,
    KQ_DKG_MSG_JUSTIFICATION = 3,
};

/* A decoded (or to-be-encoded) message. Pointers are zero-copy views into the decoded input, or
 * the caller's arrays when encoding. */
struct kq_dkg_msg {
    uint8_t type;
    uint8_t session[KQ_DKG_SESSIONBYTES];
    uint32_t sender;
    /* deal: t commitments, an optional proof of knowledge, one box per recipient (1..nboxes) */
    uint32_t t;
    const uint8_t *commits; /* t * KQ_POINTBYTES */
    bool has_pok;
    const uint8_t *pok; /* KQ_PROOFBYTES */
    uint32_t nboxes;
    const uint8_t *boxes; /* nboxes * KQ_DKG_BOXBYTES */
    /* complaint: accused dealers; justification: complaining recipients and their shares.
     * Indices are nonzero and strictly increasing. */
    uint32_t count;
    uint32_t idx[KQ_DKG_MAX_N];
    const uint8_t *shares; /* justification: count * KQ_SCALARBYTES */
};

/* Encodes m into out[0..cap); *len gets the size. KQ_ERR_OVERFLOW if cap is too small,
 * KQ_ERR_INVALID_ARG for a type, count or index the decoder would reject. */
KQ_MUST_USE enum kq_err kq_dkg_msg_encode(const struct kq_dkg_msg *m, uint8_t *out, size_t cap,
                                          size_t *len);
/* Decodes only the header (version, type, session, sender): what a transport needs to route. */
KQ_MUST_USE enum kq_err kq_dkg_msg_decode_header(const uint8_t *in, size_t len,
                                                 struct kq_dkg_msg *out);
/* Decodes a whole message; out points into in, which must outlive it. Structural checks only
 * (sizes, limits, index order, no trailing bytes); points, scalars and proofs are checked by the
 * machine. On failure out's header fields may be set, the rest is unspecified. */
KQ_MUST_USE enum kq_err kq_dkg_msg_decode(const uint8_t *in, size_t len, struct kq_dkg_msg *out);

#endif
