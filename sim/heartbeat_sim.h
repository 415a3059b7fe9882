/* Heartbeat scenarios for the simulator: a fault schedule drawn from the seed (lossy, partition,
 * crash, chaos) and the liveness invariants, checked after every step: DEAD within a bound of a
 * cut or crash, ALIVE (with the current incarnation) within a bound of the heal, no false DEAD,
 * incarnations strictly increasing across restarts and only ever sent once durable. */
#ifndef KQ_SIM_HEARTBEAT_SIM_H
#define KQ_SIM_HEARTBEAT_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/heartbeat.h"
#include "sim.h"

/* The model every scenario runs. The network loses at most KQ_HBSIM_MAX_LOSS_RUN heartbeats in a
 * row per link, so a peer that is up and reachable is heard at least every
 * (KQ_HBSIM_MAX_LOSS_RUN + 1) * interval + max latency: a timeout above that never fires falsely.
 */
#define KQ_HBSIM_INTERVAL_MS    100
#define KQ_HBSIM_TIMEOUT_MS     600
#define KQ_HBSIM_LATENCY_MIN_MS 1
#define KQ_HBSIM_LATENCY_MAX_MS 40
#define KQ_HBSIM_MAX_LOSS_RUN   3
/* A peer cut off or crashed at t is reported DEAD by every other node by t + this. */
#define KQ_HBSIM_DEAD_BOUND_MS                                                                     \
    (KQ_HBSIM_TIMEOUT_MS + KQ_HBSIM_INTERVAL_MS + KQ_HBSIM_LATENCY_MAX_MS)
/* A peer reachable (and ready) again from t is reported ALIVE by t + this, and a DEAD report
 * later than this after a peer became reachable is false. */
#define KQ_HBSIM_ALIVE_BOUND_MS                                                                    \
    ((KQ_HBSIM_MAX_LOSS_RUN + 1) * KQ_HBSIM_INTERVAL_MS + KQ_HBSIM_LATENCY_MAX_MS)
_Static_assert(KQ_HBSIM_TIMEOUT_MS > KQ_HBSIM_ALIVE_BOUND_MS, "the timeout outlasts the silence");

enum kq_hbsim_scenario {
    KQ_HBSIM_LOSSY = 1, /* loss and duplication only: no DEAD may ever be reported */
    KQ_HBSIM_PARTITION, /* partitions of minorities and single-link cuts that heal */
    KQ_HBSIM_CRASH,     /* crash-restarts, some within the fsync of a fresh incarnation */
    KQ_HBSIM_CHAOS,     /* all of it, with heavier loss */
};

struct kq_hbsim_params {
    uint64_t seed;
    size_t nodes; /* 2..KQ_MAX_NODES */
    uint64_t duration_ms;
    uint64_t max_steps; /* 0: no limit */
    enum kq_hbsim_scenario scenario;
    FILE *trace; /* verbose trace, or NULL */
    /* NULL: kq_heartbeat_ops. Tests substitute deliberately broken variants; their state must be
     * a heartbeat state, since the invariants query it. */
    const struct kq_core_ops *ops;
};

struct kq_hbsim_result {
    bool ok; /* no invariant failed */
    char failure[512];
    uint64_t trace_hash;
    uint64_t end_ms;
    struct kq_sim_stats stats; /* stats.status[KQ_STATUS_PEER_DEAD] etc.: reports seen */
    uint64_t max_incarnation;  /* highest incarnation any node announced */
};

/* Runs one seed of scenario p->scenario and fills *r. KQ_ERR_INVALID_ARG for parameters out of
 * range, KQ_ERR_NOMEM; an invariant failure is not an error (r->ok is false). */
KQ_MUST_USE enum kq_err kq_hbsim_run(const struct kq_hbsim_params *p, struct kq_hbsim_result *r);

/* "lossy", "partition", "crash", "chaos"; NULL for an unknown value. */
const char *kq_hbsim_scenario_name(enum kq_hbsim_scenario s);
/* KQ_ERR_INVALID_ARG for an unknown name (*out unchanged). */
KQ_MUST_USE enum kq_err kq_hbsim_scenario_parse(const char *name, enum kq_hbsim_scenario *out);

/* Writes into buf (cap bytes, truncated if short) the command that replays p verbosely, e.g.
 * "build/kq_sim --seed 1234 --nodes 4 --ms 20000 --scenario chaos -v". prog NULL: build/kq_sim. */
void kq_hbsim_replay_command(char *buf, size_t cap, const char *prog,
                             const struct kq_hbsim_params *p);

#endif
