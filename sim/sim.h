/* The deterministic simulator (DESIGN.md §6): runs any struct kq_core_ops on n simulated nodes in
 * one thread, with a simulated clock, network, disk and crashes, all decided by one seeded PRNG.
 * Invariants: the same seed and configuration give the same sequence of steps (and trace hash);
 * events run in (time, insertion order); every queue and table is bounded (src/base/limits.h). */
#ifndef KQ_SIM_SIM_H
#define KQ_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/assert.h"
#include "core/core.h"

/* ---- PRNG: xoshiro256** seeded through splitmix64 (never rand(), never the clock) ---- */

struct kq_sim_rng {
    uint64_t s[4];
};

/* Probabilities are in parts per million. */
#define KQ_SIM_PPM 1000000u

void kq_sim_rng_seed(struct kq_sim_rng *r, uint64_t seed);
uint64_t kq_sim_rng_next(struct kq_sim_rng *r);
/* Uniform in [lo, hi], without modulo bias. lo <= hi. */
uint64_t kq_sim_rng_range(struct kq_sim_rng *r, uint64_t lo, uint64_t hi);
/* True with probability ppm / KQ_SIM_PPM (ppm <= KQ_SIM_PPM). */
bool kq_sim_rng_chance(struct kq_sim_rng *r, uint32_t ppm);

/* ---- Configuration ---- */

/* The network. Each message independently: lost with probability loss_ppm, except that no more
 * than max_loss_run messages in a row are lost on one directed link (a fair-lossy link, which
 * makes "no false DEAD" a property rather than a likelihood); otherwise delivered after a latency
 * uniform in [latency_min_ms, latency_max_ms] (so messages reorder), and with probability dup_ppm
 * delivered a second time with its own latency. A cut link, or a crash of either end, drops every
 * message in flight on it. */
struct kq_sim_net {
    uint64_t latency_min_ms;
    uint64_t latency_max_ms;
    uint32_t loss_ppm; /* < KQ_SIM_PPM */
    uint32_t dup_ppm;
    uint32_t max_loss_run;
};

/* The disk: writes apply in issue order. A sync write is durable after a latency uniform in
 * [fsync_min_ms, fsync_max_ms] (syncs complete in order, one disk queue per node), and makes every
 * earlier write durable with it; then WRITE_DONE is delivered. An unsynced write is written back
 * after [writeback_min_ms, writeback_max_ms] unless a sync or a crash comes first. A crash drops
 * every write not yet durable. */
struct kq_sim_disk {
    uint64_t fsync_min_ms;
    uint64_t fsync_max_ms;
    uint64_t writeback_min_ms;
    uint64_t writeback_max_ms;
};

enum kq_sim_step_kind {
    KQ_SIM_STEP_CORE = 1, /* a node's core stepped an event */
    KQ_SIM_STEP_CRASH,    /* a node crashed: its state, timers and unsynced writes are gone */
    KQ_SIM_STEP_RESTART,  /* a node (re)started: fresh state, before its RESTORE and START steps */
    KQ_SIM_STEP_CUT,      /* links were cut (partition or single link) */
    KQ_SIM_STEP_HEAL,     /* links were healed */
};

/* What the invariant hook sees after every step. Pointers are valid during the hook only. */
struct kq_sim_step {
    enum kq_sim_step_kind kind;
    uint64_t now_ms;
    uint32_t node;                /* CORE, CRASH, RESTART: the node's id */
    const struct kq_event *ev;    /* CORE: the event stepped */
    enum kq_err result;           /* CORE: what step returned */
    const struct kq_actions *out; /* CORE: the actions (executed only if result is KQ_OK) */
};

struct kq_sim;

/* Invariant hook: called after every step; reports a violation with kq_sim_failf, which stops
 * the run. */
typedef void (*kq_sim_check_fn)(void *ctx, struct kq_sim *sim, const struct kq_sim_step *step);
/* Receives every KQ_ACT_REPLY a core emits (payload borrowed for the call). */
typedef void (*kq_sim_reply_fn)(void *ctx, struct kq_sim *sim, uint32_t node, uint64_t request_id,
                                enum kq_err status, const uint8_t *payload, size_t len);

struct kq_sim_config {
    uint64_t seed;
    size_t n_nodes; /* 2..KQ_MAX_NODES; node ids are 1..n_nodes, every node a peer of every other */
    const struct kq_core_ops *ops;
    const void *core_config; /* passed to ops->init; must outlive the simulation */
    struct kq_sim_net net;
    struct kq_sim_disk disk;
    uint64_t boot_spread_ms; /* node i first starts at a time uniform in [0, boot_spread_ms] */
    kq_sim_check_fn check;   /* may be NULL */
    void *check_ctx;
    FILE *trace;              /* one line per step when not NULL (verbose mode) */
    kq_sim_reply_fn on_reply; /* may be NULL */
    void *reply_ctx;
};

struct kq_sim_stats {
    uint64_t steps;      /* core steps */
    uint64_t rejected;   /* core steps that returned an error */
    uint64_t sent;       /* messages addressed (a broadcast counts once per destination) */
    uint64_t delivered;  /* messages stepped by their destination (duplicates included) */
    uint64_t lost;       /* dropped by the loss model */
    uint64_t duplicated; /* extra copies made */
    uint64_t cut_off;    /* dropped by a cut link or a crashed end */
    uint64_t crashes;
    uint64_t restarts;                    /* first starts included */
    uint64_t writes_lost;                 /* writes a crash dropped before they were durable */
    uint64_t status[KQ_STATUS_READY + 1]; /* STATUS actions by enum kq_status_kind */
};

/* A restart delay meaning "stays down". */
#define KQ_SIM_NEVER UINT64_MAX

/* Creates a simulation (*out, free with kq_sim_free); every node boots within boot_spread_ms.
 * KQ_ERR_INVALID_ARG for a configuration outside the documented ranges, KQ_ERR_NOMEM. */
KQ_MUST_USE enum kq_err kq_sim_new(const struct kq_sim_config *cfg, struct kq_sim **out);
void kq_sim_free(struct kq_sim *sim);

/* Fault schedule (before or during a run). A crash of a node that is down is ignored;
 * restart_after_ms may be KQ_SIM_NEVER. A partition cuts every link between the nodes of `side`
 * and the others; a cut, the one link a-b; both heal at heal_at_ms (> at_ms). Cuts overlap: a
 * link is up when every cut that covers it has healed. KQ_ERR_INVALID_ARG for unknown ids or
 * times in the past, KQ_ERR_LIMIT past KQ_SIM_MAX_FAULTS or KQ_SIM_MAX_EVENTS. */
KQ_MUST_USE enum kq_err kq_sim_crash_at(struct kq_sim *sim, uint64_t at_ms, uint32_t node,
                                        uint64_t restart_after_ms);
KQ_MUST_USE enum kq_err kq_sim_partition_at(struct kq_sim *sim, uint64_t at_ms, uint64_t heal_at_ms,
                                            const uint32_t *side, size_t n_side);
KQ_MUST_USE enum kq_err kq_sim_cut_at(struct kq_sim *sim, uint64_t at_ms, uint64_t heal_at_ms,
                                      uint32_t a, uint32_t b);

/* Runs events due at or before until_ms, at most max_steps core steps in this call (0: no limit).
 * Returns false once an invariant has failed (kq_sim_failure says which), true otherwise. */
bool kq_sim_run(struct kq_sim *sim, uint64_t until_ms, uint64_t max_steps);

/* Records the first invariant failure (later ones are dropped) and stops the run. */
void kq_sim_failf(struct kq_sim *sim, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool kq_sim_failed(const struct kq_sim *sim);
/* The failure message, "" if none. */
const char *kq_sim_failure(const struct kq_sim *sim);

/* ---- Observation, for invariant hooks and tests ---- */
uint64_t kq_sim_now(const struct kq_sim *sim);
size_t kq_sim_nodes(const struct kq_sim *sim);
/* Whether node is up (started and not crashed since). */
bool kq_sim_running(const struct kq_sim *sim, uint32_t node);
/* Whether node reported KQ_STATUS_READY since it last started. */
bool kq_sim_ready(const struct kq_sim *sim, uint32_t node);
/* The node's core state for read-only queries; NULL while the node is down. */
const void *kq_sim_state(const struct kq_sim *sim, uint32_t node);
/* Whether no cut covers the link a-b (either node may still be down). */
bool kq_sim_link_up(const struct kq_sim *sim, uint32_t a, uint32_t b);
/* The durable value of record `key` on node's disk (borrowed until the next step), or
 * KQ_ERR_NOT_FOUND. Unsynced writes are not visible here. */
KQ_MUST_USE enum kq_err kq_sim_durable(const struct kq_sim *sim, uint32_t node, const char *key,
                                       const uint8_t **value, size_t *len);
/* A hash of every step so far (events, results, actions with their bytes, faults). */
uint64_t kq_sim_trace_hash(const struct kq_sim *sim);
const struct kq_sim_stats *kq_sim_stats(const struct kq_sim *sim);

#endif
