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

/* A message between nodes, as the interception hook and the history see it. Bytes borrowed. */
struct kq_sim_msg {
    uint64_t seq;     /* number of the message among all that cores sent (one per destination) */
    uint64_t sent_ms; /* when the core sent it */
    uint32_t src, dst;
    uint16_t frame_type;
    const uint8_t *payload;
    size_t len;
};

enum kq_sim_verdict {
    KQ_SIM_PASS = 1, /* the message goes on to the network model as sent */
    KQ_SIM_DROP,     /* withheld: it never reaches the network */
    KQ_SIM_REPLACE,  /* the hook's frame_type, payload and len (<= KQ_MAX_FRAME_PAYLOAD, borrowed
                        until the hook returns) go on instead; src, seq and dst stay */
};

/* Byzantine interception: called for every message a core sends (a broadcast once per
 * destination), before the network model. It may change msg->frame_type, payload and len and
 * return KQ_SIM_REPLACE, return KQ_SIM_DROP, or KQ_SIM_PASS; it may add messages with
 * kq_sim_inject_at (injected and replayed messages are not intercepted) and draw from
 * kq_sim_adversary_rng. Delay = DROP + inject later; equivocation = REPLACE for some dsts. */
typedef enum kq_sim_verdict (*kq_sim_intercept_fn)(void *ctx, struct kq_sim *sim,
                                                   struct kq_sim_msg *msg);

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
    /* Clocks. Node i reads the wall clock wall_start_ms + skew_i + floor(now_ms * (10^6 +
     * drift_i) / 10^6), with skew_i uniform in [-max_clock_skew_ms, +max_clock_skew_ms] and drift_i
     * in [-max_clock_drift_ppm, +max_clock_drift_ppm], drawn from the seed at creation and, with
     * clock_step_on_restart, anew at each restart (an NTP step across a reboot). Within one life
     * a node's wall clock never goes back. All zero: wall_ms = now_ms. */
    uint64_t wall_start_ms;       /* >= max_clock_skew_ms */
    uint64_t max_clock_skew_ms;   /* <= KQ_SIM_MAX_CLOCK_SKEW_MS */
    uint32_t max_clock_drift_ppm; /* <= KQ_SIM_MAX_CLOCK_DRIFT_PPM */
    bool clock_step_on_restart;
    size_t max_records; /* records one disk holds; 0: KQ_SIM_MAX_RECORDS (the most allowed) */
    kq_sim_intercept_fn intercept; /* may be NULL */
    void *intercept_ctx;
    size_t history; /* messages the history ring keeps for replay, <= KQ_SIM_MAX_HISTORY; 0: off */
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
    uint64_t restarts;                        /* first starts included */
    uint64_t writes_lost;                     /* writes a crash dropped before they were durable */
    uint64_t status[KQ_STATUS_COMMITTED + 1]; /* STATUS actions by enum kq_status_kind */
    uint64_t requests;                        /* local requests stepped by a running node */
    uint64_t replies;                         /* KQ_ACT_REPLY actions */
    uint64_t refused;  /* requests the simulator answered KQ_ERR_NET: node down or crashed */
    uint64_t busy;     /* requests the simulator answered KQ_ERR_BUSY: too many open */
    uint64_t withheld; /* messages the intercept hook dropped */
    uint64_t replaced; /* messages the intercept hook rewrote */
    uint64_t injected; /* messages added by kq_sim_inject_at and kq_sim_replay_at */
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

/* Local requests. Queues a KQ_EV_REQUEST of `kind` with a copy of payload (len <=
 * KQ_MAX_FRAME_PAYLOAD) for node at at_ms and returns its id (unique in this simulation, from 1)
 * in *request_id. The answer reaches cfg.on_reply exactly once: the core's KQ_ACT_REPLY, or the
 * simulator's own KQ_ERR_NET when the node is down at at_ms or crashes before replying (a refused
 * or reset connection), or KQ_ERR_BUSY when KQ_SIM_MAX_OPEN_REQUESTS are open on the node (as the
 * runtime does). A core's reply to a request that is not open on it fails the run.
 * KQ_ERR_INVALID_ARG (unknown node, time past, too long), KQ_ERR_LIMIT, KQ_ERR_NOMEM. */
KQ_MUST_USE enum kq_err kq_sim_request_at(struct kq_sim *sim, uint64_t at_ms, uint32_t node,
                                          uint32_t kind, const uint8_t *payload, size_t len,
                                          uint64_t *request_id);

/* Adversary. Sends a copy of payload (len <= KQ_MAX_FRAME_PAYLOAD) of frame_type from src to dst
 * at at_ms as if src's core had sent it then, through the network model (loss, duplication,
 * latency; dropped if the link is cut or either end is down), not through the intercept hook.
 * KQ_ERR_INVALID_ARG (unknown ids, src == dst, time past, too long), KQ_ERR_LIMIT, NOMEM. */
KQ_MUST_USE enum kq_err kq_sim_inject_at(struct kq_sim *sim, uint64_t at_ms, uint32_t src,
                                         uint32_t dst, uint16_t frame_type, const uint8_t *payload,
                                         size_t len);
/* Messages cores have sent so far (the next message's seq). */
uint64_t kq_sim_history_count(const struct kq_sim *sim);
/* Message `seq` as its core sent it (before interception), if the ring still holds it: *out's
 * payload is borrowed until the next step. KQ_ERR_NOT_FOUND when it was never kept or rolled out.
 */
KQ_MUST_USE enum kq_err kq_sim_history_get(const struct kq_sim *sim, uint64_t seq,
                                           struct kq_sim_msg *out);
/* Re-sends message `seq` from the history at at_ms, from its src to dst (0: its original dst), as
 * kq_sim_inject_at does (a replayed old message). Errors as kq_sim_history_get and inject. */
KQ_MUST_USE enum kq_err kq_sim_replay_at(struct kq_sim *sim, uint64_t at_ms, uint64_t seq,
                                         uint32_t dst);
/* A PRNG stream of its own for adversary choices (seeded from the seed, independent of the
 * network's draws). */
struct kq_sim_rng *kq_sim_adversary_rng(struct kq_sim *sim);

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
/* The wall clock node reads now (cfg's clock model; running or not). */
uint64_t kq_sim_wall(const struct kq_sim *sim, uint32_t node);
/* A hash of every step so far (events, results, actions with their bytes, faults). */
uint64_t kq_sim_trace_hash(const struct kq_sim *sim);
const struct kq_sim_stats *kq_sim_stats(const struct kq_sim *sim);

/* ---- Many seeds, for tests and scenario binaries ---- */

/* What a failed seed says: the failure and the command that replays it (the seed function fills
 * both, e.g. replay with kq_sim_replay_format). */
struct kq_sim_seed_report {
    char failure[512];
    char replay[512];
};
/* Runs one seed; true when every invariant held. On false it fills rep. */
typedef bool (*kq_sim_seed_fn)(void *ctx, uint64_t seed, struct kq_sim_seed_report *rep);

/* Runs fn for seeds first, first + 1, ..., first + count - 1 (count >= 1, no wrap-around) in order
 * and stops at the first failure, printing to stderr "seed N FAILED: <failure>" and
 * "replay: <replay>". Returns how many seeds passed: count when all did, otherwise the failed
 * seed is first + the result. */
uint64_t kq_sim_run_seeds(uint64_t first, uint64_t count, kq_sim_seed_fn fn, void *ctx);
/* The same, printing to out. */
uint64_t kq_sim_run_seeds_to(FILE *out, uint64_t first, uint64_t count, kq_sim_seed_fn fn,
                             void *ctx);
/* Writes "<prog> --seed <seed>[ <args>] -v" into buf (cap >= 1 bytes, truncated if short). */
void kq_sim_replay_format(char *buf, size_t cap, const char *prog, uint64_t seed, const char *args);

#endif
