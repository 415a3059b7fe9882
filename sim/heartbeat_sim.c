/* Heartbeat scenarios and invariants (heartbeat_sim.h). The checker keeps, for every ordered pair
 * (observer y, subject x), y's view of x as reported through STATUS actions and whether x's
 * heartbeats can reach y (x ready, link not cut) since when; the bounds are checked against that
 * after every step. The fault schedule uses its own PRNG stream, apart from the network's. */
#include "heartbeat_sim.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/limits.h"
#include "wire/heartbeat.h"

#define PLAN_STREAM 0x706c616e2d686231ULL /* "plan-hb1": the schedule's PRNG stream */

struct pair {
    bool blocked;      /* x's heartbeats cannot reach y: x not ready, or the link is cut */
    uint64_t since_ms; /* when `blocked` last changed */
    bool alive;        /* y's view of x, from y's statuses */
    uint64_t inc;      /* the incarnation of x that y last reported; 0: none */
};

struct checker {
    size_t n;
    uint64_t scanned_ms; /* when every pair was last checked (UINT64_MAX: never) */
    struct pair *pairs;  /* [(y - 1) * n + (x - 1)] */
    uint64_t *announced; /* per node: highest incarnation it reported READY with */
    uint64_t *ready_at;  /* per node: when it became ready in its current life */
};

static struct pair *pair_of(const struct checker *c, uint32_t y, uint32_t x)
{
    KQ_ASSERT(y >= 1 && y <= c->n && x >= 1 && x <= c->n && x != y);
    return &c->pairs[(size_t)(y - 1) * c->n + (x - 1)];
}

static void forget(struct checker *c, uint32_t y)
{
    for (uint32_t x = 1; x <= c->n; x++) {
        if (x == y)
            continue;
        pair_of(c, y, x)->alive = false;
        pair_of(c, y, x)->inc = 0;
    }
    c->ready_at[y - 1] = 0;
}

static bool durable_incarnation(const struct kq_sim *sim, uint32_t node, uint64_t *inc)
{
    const uint8_t *v;
    size_t len;
    struct kq_buf b;
    *inc = 0;
    if (kq_sim_durable(sim, node, KQ_HEARTBEAT_RECORD, &v, &len) != KQ_OK)
        return false;
    kq_buf_reader(&b, v, len);
    return kq_buf_get_u64(&b, inc) == KQ_OK && kq_buf_expect_end(&b) == KQ_OK;
}

static void check_send(struct checker *c, struct kq_sim *sim, uint32_t y, const uint8_t *payload,
                       const struct kq_action *a)
{
    struct kq_heartbeat_msg m;
    uint64_t durable;
    (void)c;
    if (a->frame_type != KQ_FRAME_HEARTBEAT)
        return;
    if (kq_heartbeat_msg_decode(&m, payload, a->payload_len) != KQ_OK) {
        kq_sim_failf(sim, "n%" PRIu32 " sent a malformed heartbeat", y);
        return;
    }
    if (!durable_incarnation(sim, y, &durable) || m.incarnation > durable)
        kq_sim_failf(sim, "n%" PRIu32 " sent incarnation %" PRIu64 " before it was durable", y,
                     m.incarnation);
    else if (m.incarnation != kq_heartbeat_incarnation(kq_sim_state(sim, y)))
        kq_sim_failf(sim, "n%" PRIu32 " sent incarnation %" PRIu64 " but runs another", y,
                     m.incarnation);
}

static void check_ready(struct checker *c, struct kq_sim *sim, uint32_t y, uint64_t inc)
{
    if (inc != kq_heartbeat_incarnation(kq_sim_state(sim, y)))
        kq_sim_failf(sim, "n%" PRIu32 " READY with incarnation %" PRIu64 " but runs another", y,
                     inc);
    else if (inc <= c->announced[y - 1])
        kq_sim_failf(sim, "n%" PRIu32 " reused incarnation %" PRIu64 " (had %" PRIu64 ")", y, inc,
                     c->announced[y - 1]);
    c->announced[y - 1] = inc;
    c->ready_at[y - 1] = kq_sim_now(sim);
}

/* When y could first hear x: x reachable and y ready. */
static uint64_t alive_from(const struct checker *c, const struct pair *p, uint32_t y)
{
    return p->since_ms > c->ready_at[y - 1] ? p->since_ms : c->ready_at[y - 1];
}

static bool has_restarted(const struct kq_actions *out, size_t from, uint32_t x, uint64_t v)
{
    for (size_t i = from; i < out->count; i++) {
        const struct kq_action *a = &out->items[i];
        if (a->kind == KQ_ACT_STATUS && a->status == KQ_STATUS_PEER_RESTARTED && a->peer == x &&
            a->value == v)
            return true;
    }
    return false;
}

static void check_alive(struct checker *c, struct kq_sim *sim, uint32_t y,
                        const struct kq_actions *out, size_t i)
{
    const struct kq_action *a = &out->items[i];
    struct pair *p = pair_of(c, y, a->peer);
    if (p->alive)
        kq_sim_failf(sim, "n%" PRIu32 " reported n%" PRIu32 " ALIVE twice", y, a->peer);
    else if (a->value > c->announced[a->peer - 1] || a->value < p->inc)
        kq_sim_failf(sim,
                     "n%" PRIu32 " reported n%" PRIu32 " ALIVE with incarnation %" PRIu64
                     " (announced %" PRIu64 ", known %" PRIu64 ")",
                     y, a->peer, a->value, c->announced[a->peer - 1], p->inc);
    else if (p->inc != 0 && a->value > p->inc && !has_restarted(out, i + 1, a->peer, a->value))
        kq_sim_failf(sim, "n%" PRIu32 " saw n%" PRIu32 " restart without PEER_RESTARTED", y,
                     a->peer);
    else if (!p->blocked && kq_sim_now(sim) > alive_from(c, p, y) + KQ_HBSIM_ALIVE_BOUND_MS)
        kq_sim_failf(
            sim, "late ALIVE: n%" PRIu32 " saw n%" PRIu32 " alive, reachable since %" PRIu64 "ms",
            y, a->peer, alive_from(c, p, y));
    p->alive = true;
    if (p->inc == 0)
        p->inc = a->value;
}

static void check_restarted(struct checker *c, struct kq_sim *sim, uint32_t y,
                            const struct kq_action *a)
{
    struct pair *p = pair_of(c, y, a->peer);
    if (p->inc == 0 || a->value <= p->inc || a->value > c->announced[a->peer - 1])
        kq_sim_failf(sim, "n%" PRIu32 " reported n%" PRIu32 " RESTARTED %" PRIu64 " after %" PRIu64,
                     y, a->peer, a->value, p->inc);
    p->inc = a->value;
}

static void check_dead(struct checker *c, struct kq_sim *sim, uint32_t y, const struct kq_action *a)
{
    struct pair *p = pair_of(c, y, a->peer);
    uint64_t now = kq_sim_now(sim);
    if (!p->alive)
        kq_sim_failf(sim, "n%" PRIu32 " reported n%" PRIu32 " DEAD twice", y, a->peer);
    else if (!p->blocked && now > p->since_ms + KQ_HBSIM_ALIVE_BOUND_MS)
        kq_sim_failf(sim,
                     "false DEAD: n%" PRIu32 " declared n%" PRIu32
                     " dead though it was reachable since %" PRIu64 "ms",
                     y, a->peer, p->since_ms);
    else if (p->blocked && now > p->since_ms + KQ_HBSIM_DEAD_BOUND_MS)
        kq_sim_failf(sim,
                     "late DEAD: n%" PRIu32 " declared n%" PRIu32
                     " dead, unreachable since %" PRIu64 "ms",
                     y, a->peer, p->since_ms);
    p->alive = false;
}

static void check_status(struct checker *c, struct kq_sim *sim, uint32_t y,
                         const struct kq_actions *out, size_t i)
{
    const struct kq_action *a = &out->items[i];
    if (a->status == KQ_STATUS_READY) {
        check_ready(c, sim, y, a->value);
        return;
    }
    if (a->peer < 1 || a->peer > c->n || a->peer == y) {
        kq_sim_failf(sim, "n%" PRIu32 " reported on unknown peer %" PRIu32, y, a->peer);
        return;
    }
    if (a->status == KQ_STATUS_PEER_ALIVE)
        check_alive(c, sim, y, out, i);
    else if (a->status == KQ_STATUS_PEER_RESTARTED)
        check_restarted(c, sim, y, a);
    else if (a->status == KQ_STATUS_PEER_DEAD)
        check_dead(c, sim, y, a);
}

/* The step's actions, then: the reported views agree with the core's own state. Returns whether
 * the node reported READY. */
static bool check_actions(struct checker *c, struct kq_sim *sim, const struct kq_sim_step *st)
{
    uint32_t y = st->node;
    const struct kq_actions *out = st->out;
    bool ready = false;
    for (size_t i = 0; i < out->count && !kq_sim_failed(sim); i++) {
        const struct kq_action *a = &out->items[i];
        if (a->kind == KQ_ACT_SEND)
            check_send(c, sim, y, kq_action_payload(out, a), a);
        else if (a->kind == KQ_ACT_STATUS)
            check_status(c, sim, y, out, i);
        ready = ready || (a->kind == KQ_ACT_STATUS && a->status == KQ_STATUS_READY);
    }
    const void *state = kq_sim_state(sim, y);
    for (uint32_t x = 1; x <= c->n && !kq_sim_failed(sim); x++)
        if (x != y && pair_of(c, y, x)->alive != kq_heartbeat_alive(state, x))
            kq_sim_failf(sim, "n%" PRIu32 " reports n%" PRIu32 " %s but its state says otherwise",
                         y, x, pair_of(c, y, x)->alive ? "alive" : "dead");
    return ready;
}

/* Recomputes whether x's beats can reach y, for every y (x's column). */
static void update_blocked(struct checker *c, const struct kq_sim *sim, uint32_t x)
{
    for (uint32_t y = 1; y <= c->n; y++) {
        if (x == y)
            continue;
        struct pair *p = pair_of(c, y, x);
        bool blocked = !kq_sim_ready(sim, x) || !kq_sim_link_up(sim, x, y);
        if (blocked != p->blocked) {
            p->blocked = blocked;
            p->since_ms = kq_sim_now(sim);
        }
    }
}

static void check_bound(const struct checker *c, struct kq_sim *sim, uint32_t y, uint32_t x)
{
    const struct pair *p = pair_of(c, y, x);
    uint64_t now = kq_sim_now(sim);
    if (!kq_sim_ready(sim, y))
        return;
    if (p->blocked) {
        if (p->alive && now > p->since_ms + KQ_HBSIM_DEAD_BOUND_MS)
            kq_sim_failf(
                sim, "n%" PRIu32 " still sees n%" PRIu32 " alive, unreachable since %" PRIu64 "ms",
                y, x, p->since_ms);
        return;
    }
    uint64_t from = alive_from(c, p, y);
    if (now <= from + KQ_HBSIM_ALIVE_BOUND_MS)
        return;
    uint64_t inc = kq_heartbeat_incarnation(kq_sim_state(sim, x));
    if (!p->alive || p->inc != inc)
        kq_sim_failf(sim,
                     "n%" PRIu32 " does not see n%" PRIu32 " alive in incarnation %" PRIu64
                     " (view: %s, %" PRIu64 "), reachable since %" PRIu64 "ms",
                     y, x, inc, p->alive ? "alive" : "dead", p->inc, from);
}

/* The bounds of node v's row and column (v 0: of every pair). */
static void check_bounds(const struct checker *c, struct kq_sim *sim, uint32_t v)
{
    for (uint32_t a = 1; a <= c->n && !kq_sim_failed(sim); a++) {
        if (v != 0 && a != v) {
            check_bound(c, sim, v, a);
            check_bound(c, sim, a, v);
            continue;
        }
        for (uint32_t b = 1; b <= c->n && v == 0 && !kq_sim_failed(sim); b++)
            if (a != b)
                check_bound(c, sim, a, b);
    }
}

/* After every step. Reachability changes only with faults and READY; views only in the stepping
 * node's row. So every pair is checked once per simulated millisecond and after faults, and the
 * stepping node's row and column after its steps; ALIVE and DEAD reports are checked against
 * the bounds when made, so no late report slips between two scans. */
static void check(void *ctx, struct kq_sim *sim, const struct kq_sim_step *st)
{
    struct checker *c = ctx;
    bool core = st->kind == KQ_SIM_STEP_CORE;
    if (st->kind == KQ_SIM_STEP_CRASH || st->kind == KQ_SIM_STEP_RESTART)
        forget(c, st->node);
    bool ready = core && st->result == KQ_OK && check_actions(c, sim, st);
    if (kq_sim_failed(sim))
        return;
    if (ready)
        update_blocked(c, sim, st->node);
    for (uint32_t x = 1; !core && x <= c->n; x++)
        update_blocked(c, sim, x);
    if (!core || kq_sim_now(sim) != c->scanned_ms) {
        c->scanned_ms = kq_sim_now(sim);
        check_bounds(c, sim, 0);
    } else {
        check_bounds(c, sim, st->node);
    }
}

/* ---- the fault schedule ---- */

/* Short cuts (no DEAD due), cuts around the timeout, and long ones (DEAD, then ALIVE). */
static uint64_t fault_duration(struct kq_sim_rng *r)
{
    switch (kq_sim_rng_range(r, 0, 2)) {
    case 0:
        return kq_sim_rng_range(r, 20, KQ_HBSIM_TIMEOUT_MS / 2);
    case 1:
        return kq_sim_rng_range(r, KQ_HBSIM_TIMEOUT_MS / 2, KQ_HBSIM_DEAD_BOUND_MS + 200);
    default:
        return kq_sim_rng_range(r, KQ_HBSIM_DEAD_BOUND_MS + 1, 4000);
    }
}

static enum kq_err plan_partitions(struct kq_sim *sim, struct kq_sim_rng *r, uint64_t t_ms,
                                   uint64_t count)
{
    uint32_t ids[KQ_MAX_NODES];
    uint32_t n = (uint32_t)kq_sim_nodes(sim);
    for (uint64_t k = 0; k < count; k++) {
        for (uint32_t i = 0; i < n; i++)
            ids[i] = i + 1;
        for (uint32_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
            uint32_t j = (uint32_t)kq_sim_rng_range(r, 0, i), tmp = ids[i];
            ids[i] = ids[j];
            ids[j] = tmp;
        }
        uint32_t side = (uint32_t)kq_sim_rng_range(r, 1, n > 2 ? (n - 1) / 2 : 1);
        uint64_t at = kq_sim_rng_range(r, t_ms / 10, t_ms * 6 / 10);
        KQ_GUARD(kq_sim_partition_at(sim, at, at + fault_duration(r), ids, side));
    }
    return KQ_OK;
}

static enum kq_err plan_cuts(struct kq_sim *sim, struct kq_sim_rng *r, uint64_t t_ms,
                             uint64_t count)
{
    uint32_t n = (uint32_t)kq_sim_nodes(sim);
    for (uint64_t k = 0; k < count; k++) {
        uint32_t a = (uint32_t)kq_sim_rng_range(r, 1, n);
        uint32_t b = (uint32_t)kq_sim_rng_range(r, 1, n - 1);
        b += b >= a ? 1 : 0; /* any node but a */
        uint64_t at = kq_sim_rng_range(r, t_ms / 10, t_ms * 6 / 10);
        KQ_GUARD(kq_sim_cut_at(sim, at, at + fault_duration(r), a, b));
    }
    return KQ_OK;
}

/* Crash-restarts: quick ones (peers see RESTARTED, maybe no DEAD), slow ones (DEAD first), and
 * some crashing again within the fsync of the fresh incarnation, which the crash then loses. */
static enum kq_err plan_crashes(struct kq_sim *sim, struct kq_sim_rng *r, uint64_t t_ms,
                                uint64_t count)
{
    uint32_t n = (uint32_t)kq_sim_nodes(sim);
    for (uint64_t k = 0; k < count; k++) {
        uint32_t node = (uint32_t)kq_sim_rng_range(r, 1, n);
        uint64_t at = kq_sim_rng_range(r, t_ms / 20, t_ms * 7 / 10);
        uint64_t down = kq_sim_rng_chance(r, KQ_SIM_PPM / 2) ? kq_sim_rng_range(r, 0, 400)
                                                             : kq_sim_rng_range(r, 700, 3000);
        KQ_GUARD(kq_sim_crash_at(sim, at, node, down));
        if (kq_sim_rng_chance(r, KQ_SIM_PPM * 3 / 10)) /* fsync takes 1..25 ms in every scenario */
            KQ_GUARD(kq_sim_crash_at(sim, at + down + kq_sim_rng_range(r, 0, 20), node,
                                     kq_sim_rng_range(r, 0, 400)));
    }
    return KQ_OK;
}

static enum kq_err plan(struct kq_sim *sim, const struct kq_hbsim_params *p)
{
    struct kq_sim_rng r;
    kq_sim_rng_seed(&r, p->seed ^ PLAN_STREAM);
    uint64_t t = p->duration_ms;
    switch (p->scenario) {
    case KQ_HBSIM_LOSSY:
        return KQ_OK;
    case KQ_HBSIM_PARTITION:
        KQ_GUARD(plan_partitions(sim, &r, t, kq_sim_rng_range(&r, 1, 3)));
        return plan_cuts(sim, &r, t, kq_sim_rng_range(&r, 0, 2));
    case KQ_HBSIM_CRASH:
        return plan_crashes(sim, &r, t, kq_sim_rng_range(&r, 1, 4));
    case KQ_HBSIM_CHAOS:
        KQ_GUARD(plan_partitions(sim, &r, t, kq_sim_rng_range(&r, 0, 3)));
        KQ_GUARD(plan_cuts(sim, &r, t, kq_sim_rng_range(&r, 0, 3)));
        return plan_crashes(sim, &r, t, kq_sim_rng_range(&r, 1, 5));
    }
    return KQ_ERR_INVALID_ARG;
}

/* ---- running one seed ---- */

static const struct kq_heartbeat_config hb_config = {.interval_ms = KQ_HBSIM_INTERVAL_MS,
                                                     .timeout_ms = KQ_HBSIM_TIMEOUT_MS};

static void sim_config(const struct kq_hbsim_params *p, struct checker *c,
                       struct kq_sim_config *cfg)
{
    bool heavy = p->scenario == KQ_HBSIM_LOSSY || p->scenario == KQ_HBSIM_CHAOS;
    *cfg = (struct kq_sim_config){
        .seed = p->seed,
        .n_nodes = p->nodes,
        .ops = p->ops != NULL ? p->ops : &kq_heartbeat_ops,
        .core_config = &hb_config,
        .net = {.latency_min_ms = KQ_HBSIM_LATENCY_MIN_MS,
                .latency_max_ms = KQ_HBSIM_LATENCY_MAX_MS,
                .loss_ppm = heavy ? KQ_SIM_PPM / 4 : KQ_SIM_PPM / 20,
                .dup_ppm = heavy ? KQ_SIM_PPM / 20 : KQ_SIM_PPM / 50,
                .max_loss_run = KQ_HBSIM_MAX_LOSS_RUN},
        .disk = {.fsync_min_ms = 1,
                 .fsync_max_ms = 25,
                 .writeback_min_ms = 50,
                 .writeback_max_ms = 500},
        .boot_spread_ms = 200,
        .check = check,
        .check_ctx = c,
        .trace = p->trace,
    };
}

static void result_of(const struct kq_sim *sim, const struct checker *c, struct kq_hbsim_result *r)
{
    r->ok = !kq_sim_failed(sim);
    snprintf(r->failure, sizeof r->failure, "%s", kq_sim_failure(sim));
    r->trace_hash = kq_sim_trace_hash(sim);
    r->end_ms = kq_sim_now(sim);
    r->stats = *kq_sim_stats(sim);
    for (size_t i = 0; i < c->n; i++)
        if (c->announced[i] > r->max_incarnation)
            r->max_incarnation = c->announced[i];
}

enum kq_err kq_hbsim_run(const struct kq_hbsim_params *p, struct kq_hbsim_result *r)
{
    KQ_ASSERT(p != NULL && r != NULL);
    memset(r, 0, sizeof *r);
    KQ_ENSURE(p->nodes >= 2 && p->nodes <= KQ_MAX_NODES, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(kq_hbsim_scenario_name(p->scenario) != NULL, KQ_ERR_INVALID_ARG);
    struct checker c = {.n = p->nodes, .scanned_ms = UINT64_MAX};
    c.pairs = calloc(p->nodes * p->nodes, sizeof *c.pairs);
    c.announced = calloc(p->nodes, sizeof *c.announced);
    c.ready_at = calloc(p->nodes, sizeof *c.ready_at);
    struct kq_sim *sim = NULL;
    struct kq_sim_config cfg;
    sim_config(p, &c, &cfg);
    enum kq_err err = KQ_ERR_NOMEM;
    if (c.pairs != NULL && c.announced != NULL && c.ready_at != NULL)
        err = kq_sim_new(&cfg, &sim);
    for (size_t i = 0; err == KQ_OK && i < p->nodes * p->nodes; i++)
        c.pairs[i].blocked = true; /* nobody is ready before boot */
    if (err == KQ_OK)
        err = plan(sim, p);
    if (err == KQ_OK) {
        (void)kq_sim_run(sim, p->duration_ms, p->max_steps); /* the outcome is in sim */
        result_of(sim, &c, r);
    }
    kq_sim_free(sim);
    free(c.pairs);
    free(c.announced);
    free(c.ready_at);
    return err;
}

const char *kq_hbsim_scenario_name(enum kq_hbsim_scenario s)
{
    switch (s) {
    case KQ_HBSIM_LOSSY:
        return "lossy";
    case KQ_HBSIM_PARTITION:
        return "partition";
    case KQ_HBSIM_CRASH:
        return "crash";
    case KQ_HBSIM_CHAOS:
        return "chaos";
    }
    return NULL;
}

enum kq_err kq_hbsim_scenario_parse(const char *name, enum kq_hbsim_scenario *out)
{
    KQ_ASSERT(name != NULL && out != NULL);
    for (int s = KQ_HBSIM_LOSSY; s <= KQ_HBSIM_CHAOS; s++) {
        if (strcmp(name, kq_hbsim_scenario_name((enum kq_hbsim_scenario)s)) == 0) {
            *out = (enum kq_hbsim_scenario)s;
            return KQ_OK;
        }
    }
    return KQ_ERR_INVALID_ARG;
}

void kq_hbsim_replay_command(char *buf, size_t cap, const char *prog,
                             const struct kq_hbsim_params *p)
{
    KQ_ASSERT(buf != NULL && cap > 0 && p != NULL);
    const char *name = kq_hbsim_scenario_name(p->scenario);
    int k = snprintf(buf, cap, "%s --seed %" PRIu64 " --nodes %zu --ms %" PRIu64 " --scenario %s",
                     prog != NULL ? prog : "build/kq_sim", p->seed, p->nodes, p->duration_ms,
                     name != NULL ? name : "?");
    if (k > 0 && (size_t)k < cap && p->max_steps != 0)
        k += snprintf(buf + k, cap - (size_t)k, " --steps %" PRIu64, p->max_steps);
    if (k > 0 && (size_t)k < cap)
        snprintf(buf + k, cap - (size_t)k, " -v");
}
