/* Ledger scenarios for the simulator: the replica core (replica.h) with the real state machine
 * (app.h) on 4-10 validators, a signed client-identity tx stream, network and crash faults, up to
 * f Byzantine validators (equivocation, conflicting votes, bad signatures, withholding, replays)
 * and the invariants: agreement, equal state roots, validity and exactly-once application,
 * no honest double vote, and liveness once the faults heal. Everything is drawn from the seed. */
#ifndef KQ_SIM_LEDGER_SIM_H
#define KQ_SIM_LEDGER_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim.h"

#define KQ_LSIM_MIN_VALIDATORS 4
#define KQ_LSIM_MAX_VALIDATORS 10
/* Client txs one run submits at most (each signed with real Ed25519: the state machine checks). */
#define KQ_LSIM_MAX_TXS 64

/* What the Byzantine validators (or, for replays, the network) do to their messages. */
enum kq_lsim_adversary {
    KQ_LSIM_HONEST = 1,  /* nobody is Byzantine */
    KQ_LSIM_EQUIVOCATE,  /* a proposer sends a conflicting, validly signed block to some peers */
    KQ_LSIM_DOUBLE_VOTE, /* prevotes and precommits for conflicting blocks to different peers */
    KQ_LSIM_BAD_SIG,     /* damaged signatures; forged proposals and commits in honest names */
    KQ_LSIM_WITHHOLD,    /* its messages to some peers never leave */
    KQ_LSIM_REPLAY,      /* old messages of every node, replayed later */
    KQ_LSIM_MIXED,       /* each message any of the above */
};

/* Deliberately broken runs the invariants must catch (tests). */
enum kq_lsim_break {
    KQ_LSIM_BREAK_NONE = 0,
    KQ_LSIM_BREAK_TRUST_SIGS,    /* the verifier accepts any signature: forged commits count */
    KQ_LSIM_BREAK_STATE,         /* node 1's state gains a key its reported root does not show */
    KQ_LSIM_BREAK_STALL,         /* the network withholds every proposal after height 2 */
    KQ_LSIM_BREAK_FORGET_SAFETY, /* node 1 ignores its safety record at restart, and often
                                    crashes */
};

struct kq_lsim_params {
    uint64_t seed;
    size_t validators; /* KQ_LSIM_MIN_VALIDATORS..KQ_LSIM_MAX_VALIDATORS */
    size_t byzantine;  /* 0..f(validators); 0 iff adversary is HONEST */
    enum kq_lsim_adversary adversary;
    bool faults;       /* loss, duplication, partitions, crash-restarts, clock skew and drift */
    bool real_crypto;  /* Ed25519 votes and proposals; else a keyed BLAKE2b stand-in */
    size_t txs;        /* distinct client txs, 1..KQ_LSIM_MAX_TXS */
    uint64_t fault_ms; /* faults and submissions in [0, fault_ms); every fault healed by then */
    uint64_t quiet_ms; /* then: every live tx commits and every request is answered within it */
    uint64_t empty_block_ms; /* the replicas' idle interval (0: blocks back to back) */
    /* One more node, in the genesis as a keeper only: during the faults the admin makes it a
     * validator (membership update) and, once that committed, retires an honest validator, so
     * the set changes twice under the adversary and the faults. */
    bool reconfig;
    bool long_down; /* the last honest validator is down from 150 ms to fault_ms - 150 ms, long
                       enough (fault_ms 12000, no idling, no network faults) to fall more than
                       KQ_LEDGER_STATE_SYNC_LAG blocks behind: it returns by state sync */
    enum kq_lsim_break brk;
    FILE *trace; /* verbose trace, or NULL */
};

struct kq_lsim_result {
    bool ok;
    char failure[512];
    uint64_t trace_hash;
    uint64_t end_ms;
    uint64_t height;        /* lowest final height among honest validators */
    uint64_t txs_committed; /* distinct txs in the committed chain */
    uint64_t resubmitted;   /* live txs the client sent again when the faults healed */
    uint64_t replies[4];    /* OK (committed or accepted), TIMEOUT, NET/BUSY, other refusals */
    uint64_t equivocations, double_votes, bad_sigs, forged, replayed;
    uint64_t joins, leaves; /* committed validator-set changes (reconfig) */
    uint64_t state_synced;  /* honest nodes that hold no block 1 at the end (they state-synced) */
    struct kq_sim_stats stats;
};

/* The parameters seed N runs with: validators 4, 5, 6, 7 or 10; an adversary with 1..f
 * Byzantine validators on most seeds; faults on 3 of 4; real Ed25519 on every 10th; idle
 * heights (empty_block_ms 1000) on half; validator-set changes (reconfig) on 1 of 4;
 * a long-down validator (fault_ms 12000) on the seeds without faults, idling or reconfig where
 * a quorum stays up without it (7 of seeds 1..250). */
void kq_lsim_params_for_seed(uint64_t seed, struct kq_lsim_params *p);

/* Runs one seed and fills *r. KQ_ERR_INVALID_ARG for parameters out of range, KQ_ERR_NOMEM,
 * KQ_ERR_CRYPTO; an invariant failure is not an error (r->ok is false). */
KQ_MUST_USE enum kq_err kq_lsim_run(const struct kq_lsim_params *p, struct kq_lsim_result *r);

/* "honest", "equivocate", "double-vote", "bad-sig", "withhold", "replay", "mixed"; NULL else. */
const char *kq_lsim_adversary_name(enum kq_lsim_adversary a);
/* KQ_ERR_INVALID_ARG for an unknown name (*out unchanged). */
KQ_MUST_USE enum kq_err kq_lsim_adversary_parse(const char *name, enum kq_lsim_adversary *out);

/* The replay command of p: "<prog> --core ledger --seed N -v" when p is what the seed gives,
 * else with every parameter spelled out. prog NULL: build/kq_sim. */
void kq_lsim_replay_command(char *buf, size_t cap, const char *prog,
                            const struct kq_lsim_params *p);

/* A kq_sim_seed_fn: runs kq_lsim_params_for_seed(seed) (ctx: the program name or NULL). */
bool kq_lsim_seed(void *ctx, uint64_t seed, struct kq_sim_seed_report *rep);

#endif
