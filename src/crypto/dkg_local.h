/* An in-process DKG driver: runs every participant's state machine in one process, playing the
 * ordered broadcast channel (each message delivered to everyone in one agreed order) and the
 * ledger's heights (advanced past each deadline), with hooks that make chosen dealers or
 * recipients misbehave. Deterministic: one 32-byte seed fixes every key, coefficient and byte. */
#ifndef KQ_CRYPTO_DKG_LOCAL_H
#define KQ_CRYPTO_DKG_LOCAL_H

#include "crypto/dkg.h"

/* Faults injected per run. */
#define KQ_DKG_LOCAL_MAX_FAULTS 8
/* Messages one run can put on the channel: a deal, a complaint and a
 * justification per node (a forged complaint merges into its victim's or stands in for it), plus
 * slack; the driver uses the last slot as scratch. */
#define KQ_DKG_LOCAL_MAX_MSGS (3 * KQ_DKG_MAX_N + KQ_DKG_LOCAL_MAX_FAULTS)

/* The heights the driver uses: deals at height 1, then the three deadlines. */
#define KQ_DKG_LOCAL_DEAL_DEADLINE      10
#define KQ_DKG_LOCAL_COMPLAINT_DEADLINE 20
#define KQ_DKG_LOCAL_JUSTIFY_DEADLINE   30

enum kq_dkg_fault_kind {
    KQ_DKG_FAULT_NONE = 0,
    /* `dealer` corrupts the box for `victim`; the victim complains; the dealer then ... */
    KQ_DKG_FAULT_BAD_SHARE = 1,             /* ... justifies with the true share: stays in QUAL */
    KQ_DKG_FAULT_BAD_SHARE_BAD_JUSTIFY = 2, /* ... reveals a wrong share: disqualified */
    KQ_DKG_FAULT_BAD_SHARE_SILENT = 3,      /* ... never justifies: disqualified */
    /* recipient `victim` falsely accuses an honest `dealer`, who justifies: stays in QUAL */
    KQ_DKG_FAULT_FALSE_COMPLAINT = 4,
    KQ_DKG_FAULT_BAD_COMMITMENT = 5,   /* `dealer`'s last commitment is not a valid point */
    KQ_DKG_FAULT_WRONG_COMMITMENT = 6, /* `dealer`'s last commitment is a valid but wrong point:
                                          every share fails, every recipient complains and the
                                          justification fails too */
    KQ_DKG_FAULT_BAD_POK = 7,          /* `dealer`'s proof of knowledge is altered (fresh only) */
    KQ_DKG_FAULT_SILENT = 8,           /* `dealer` sends no deal: absent */
};

/* Indices are the dealer's index in the dealing committee and the victim's in the receiving one. */
struct kq_dkg_fault {
    enum kq_dkg_fault_kind kind;
    uint32_t dealer;
    uint32_t victim;
};

/* Everything public about a finished run: the config an observer needs and the broadcasts in
 * ledger order (input for kq_dkg_transcript_derive). Large (about 1 MiB): allocate it on the
 * heap. The pointers in pub and msgs point into this struct. */
struct kq_dkg_local_transcript {
    struct kq_dkg_cfg pub;
    uint8_t pks[KQ_DKG_MAX_N][KQ_DKG_X25519BYTES];
    uint8_t old_pks[KQ_DKG_MAX_N][KQ_DKG_X25519BYTES];
    uint8_t old_commits[KQ_DKG_MAX_N][KQ_POINTBYTES];
    size_t count;
    struct kq_dkg_transcript_msg msgs[KQ_DKG_LOCAL_MAX_MSGS];
    uint8_t store[KQ_DKG_LOCAL_MAX_MSGS][KQ_DKG_MAX_MSG_BYTES];
};

struct kq_dkg_local_cfg {
    enum kq_dkg_mode mode;
    uint32_t n, t; /* the receiving committee */
    /* 32 bytes from which the session id, every node's seed and epoch key derive; NULL: fresh
     * OS randomness. Use a different seed for every run you want to differ. */
    const uint8_t *seed;
    /* refresh: the current holders' results (n entries, result i for index i + 1); reshare: the
     * old committee's (its n and t are the old committee's). NULL for fresh. */
    const struct kq_dkg_result *old;
    /* reshare: an old member that lost its share (0: none). It does not deal; if it is also in
     * the new committee, a replacement node with a new epoch key receives at its index: share
     * recovery is a reshare to the same committee with lost set. */
    uint32_t lost;
    const struct kq_dkg_fault *faults; /* nfaults entries, at most KQ_DKG_LOCAL_MAX_FAULTS */
    size_t nfaults;
    struct kq_dkg_local_transcript *transcript; /* optional output */
};

/* Number of nodes (and result slots) a run has: n, or max(old n, n) when resharing. */
uint32_t kq_dkg_local_nodes(const struct kq_dkg_local_cfg *cfg);

/* Runs one DKG to completion. results must hold kq_dkg_local_nodes(cfg) entries; node k's result
 * goes to results[k - 1] (its index is k in the new committee, or 0 for a dealer that leaves).
 * The caller wipes each result with kq_dkg_result_wipe (shares are secret). Returns KQ_OK when
 * every node finished, else the first failing node's error (KQ_ERR_THRESHOLD when too few
 * dealers qualify), KQ_ERR_INVALID_ARG for a bad cfg; results are wiped on failure. */
KQ_MUST_USE enum kq_err kq_dkg_local_run(const struct kq_dkg_local_cfg *cfg,
                                         struct kq_dkg_result *results);

#endif
