/* Tests for the simulator (sim/) and the heartbeat core run in it: the simulator's own mechanics
 * through a small probe core (disk, crashes, timers, partitions, loss, duplication, rejections),
 * then many seeds of every heartbeat scenario with the invariants on, determinism of a seed, and
 * deliberately broken heartbeat cores that the invariants must catch. */
#include "../test_util.h"

#include <inttypes.h>

#include "base/buf.h"
#include "base/limits.h"
#include "core/heartbeat.h"
#include "heartbeat_sim.h"
#include "sim.h"

/* ---- the PRNG ---- */

static void test_rng(void **state)
{
    (void)state;
    struct kq_sim_rng a, b;
    kq_sim_rng_seed(&a, 42);
    kq_sim_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++)
        assert_true(kq_sim_rng_next(&a) == kq_sim_rng_next(&b));
    kq_sim_rng_seed(&b, 43);
    assert_true(kq_sim_rng_next(&a) != kq_sim_rng_next(&b));
    bool seen[5] = {false};
    for (int i = 0; i < 1000; i++) {
        uint64_t v = kq_sim_rng_range(&a, 10, 14);
        assert_true(v >= 10 && v <= 14);
        seen[v - 10] = true;
        assert_false(kq_sim_rng_chance(&a, 0));
        assert_true(kq_sim_rng_chance(&a, KQ_SIM_PPM));
    }
    for (int i = 0; i < 5; i++)
        assert_true(seen[i]);
    assert_true(kq_sim_rng_range(&a, 7, 7) == 7);
    (void)kq_sim_rng_range(&a, 0, UINT64_MAX);
}

/* ---- a probe core: does what its config says and records what it sees ---- */

#define PROBE_MAX 8

struct probe_cfg {
    bool write_on_start;    /* START: persist "u" unsynced, then "s" synced (token 7) */
    bool unsynced_only;     /* START: persist "u" unsynced only */
    bool double_arm;        /* START: arm timer 2 for +10 ms, then again for +20 ms */
    uint64_t send_every_ms; /* nonzero: broadcast a numbered frame every so often (timer 1) */
    uint32_t bad_peer;      /* nonzero: the first send goes to this id instead */
    uint64_t reject_every;  /* nonzero: reject frames whose number it divides, after a STATUS */
};

struct probe {
    const struct probe_cfg *cfg;
    uint32_t self;
    uint64_t restores, starts, done_token, done_at, timer2_fires, timer2_at, seq;
    uint64_t recv[PROBE_MAX], last_seq[PROBE_MAX], last_at[PROBE_MAX], max_gap[PROBE_MAX];
    uint64_t stale[PROBE_MAX], ups[PROBE_MAX], downs[PROBE_MAX];
};

static enum kq_err probe_init(void *state, uint32_t self, const uint32_t *peers, size_t n,
                              const void *config)
{
    struct probe *p = state;
    (void)peers;
    KQ_ENSURE(n + 1 < PROBE_MAX, KQ_ERR_LIMIT);
    p->cfg = config;
    p->self = self;
    return KQ_OK;
}

static enum kq_err probe_start(struct probe *p, struct kq_actions *out)
{
    static const uint8_t one = 1;
    p->starts++;
    if (p->cfg->write_on_start || p->cfg->unsynced_only)
        KQ_GUARD(kq_actions_persist(out, "u", &one, 1, false, 0));
    if (p->cfg->write_on_start)
        KQ_GUARD(kq_actions_persist(out, "s", &one, 1, true, 7));
    if (p->cfg->double_arm) {
        KQ_GUARD(kq_actions_timer(out, 2, 10));
        KQ_GUARD(kq_actions_timer(out, 2, 20));
    }
    if (p->cfg->send_every_ms != 0)
        KQ_GUARD(kq_actions_timer(out, 1, p->cfg->send_every_ms));
    return KQ_OK;
}

static enum kq_err probe_send(struct probe *p, struct kq_actions *out)
{
    uint8_t b[8];
    struct kq_buf w;
    kq_buf_writer(&w, b, sizeof b);
    KQ_GUARD(kq_buf_put_u64(&w, ++p->seq));
    uint32_t to = p->cfg->bad_peer != 0 ? p->cfg->bad_peer : KQ_PEER_ALL;
    KQ_GUARD(kq_actions_send(out, to, 0x7777, b, sizeof b));
    return kq_actions_timer(out, 1, p->cfg->send_every_ms);
}

static enum kq_err probe_frame(struct probe *p, const struct kq_event *ev, struct kq_actions *out)
{
    struct kq_buf r;
    uint64_t n;
    kq_buf_reader(&r, ev->payload, ev->payload_len);
    KQ_GUARD(kq_buf_get_u64(&r, &n));
    if (p->cfg->reject_every != 0 && n % p->cfg->reject_every == 0) {
        KQ_GUARD(kq_actions_status(out, KQ_STATUS_READY, p->self, n)); /* must not be executed */
        return KQ_ERR_FORMAT;
    }
    uint32_t from = ev->peer;
    p->recv[from]++;
    if (n <= p->last_seq[from]) {
        p->stale[from]++;
        return KQ_OK;
    }
    if (n - p->last_seq[from] - 1 > p->max_gap[from])
        p->max_gap[from] = n - p->last_seq[from] - 1;
    p->last_seq[from] = n;
    p->last_at[from] = ev->now_ms;
    return KQ_OK;
}

static enum kq_err probe_step(void *state, const struct kq_event *ev, struct kq_actions *out)
{
    struct probe *p = state;
    switch (ev->kind) {
    case KQ_EV_RESTORE:
        p->restores++;
        return KQ_OK;
    case KQ_EV_START:
        return probe_start(p, out);
    case KQ_EV_WRITE_DONE:
        p->done_token = ev->write_token;
        p->done_at = ev->now_ms;
        return KQ_OK;
    case KQ_EV_TIMER:
        if (ev->timer == 1)
            return probe_send(p, out);
        p->timer2_fires++;
        p->timer2_at = ev->now_ms;
        return KQ_OK;
    case KQ_EV_FRAME:
        return probe_frame(p, ev, out);
    case KQ_EV_PEER_UP:
        p->ups[ev->peer]++;
        return KQ_OK;
    case KQ_EV_PEER_DOWN:
        p->downs[ev->peer]++;
        return KQ_OK;
    case KQ_EV_REQUEST:
    case KQ_EV_PEERS:
    case KQ_EV_LEDGER:
        return KQ_ERR_INVALID_ARG;
    }
    return KQ_ERR_INVALID_ARG;
}

static const struct kq_core_ops probe_ops = {
    .name = "probe", .state_size = sizeof(struct probe), .init = probe_init, .step = probe_step};

static struct kq_sim *probe_sim(const struct probe_cfg *pc, size_t n)
{
    struct kq_sim_config c = {
        .seed = 5,
        .n_nodes = n,
        .ops = &probe_ops,
        .core_config = pc,
        .net = {.latency_min_ms = 5, .latency_max_ms = 5},
        .disk = {.fsync_min_ms = 50,
                 .fsync_max_ms = 50,
                 .writeback_min_ms = 100,
                 .writeback_max_ms = 100},
    };
    struct kq_sim *sim = NULL;
    assert_int_equal(kq_sim_new(&c, &sim), KQ_OK);
    return sim;
}

static const struct probe *probe_of(const struct kq_sim *sim, uint32_t node)
{
    const struct probe *p = kq_sim_state(sim, node);
    assert_non_null(p);
    return p;
}

static bool durable(const struct kq_sim *sim, uint32_t node, const char *key)
{
    const uint8_t *v;
    size_t len;
    return kq_sim_durable(sim, node, key, &v, &len) == KQ_OK;
}

/* ---- the simulator's mechanics ---- */

static void test_disk_crash_loses_unsynced(void **state)
{
    (void)state;
    const struct probe_cfg pc = {.write_on_start = true};
    struct kq_sim *sim = probe_sim(&pc, 2);
    assert_int_equal(kq_sim_crash_at(sim, 20, 1, 10), KQ_OK);
    assert_true(kq_sim_run(sim, 25, 0));
    assert_false(kq_sim_running(sim, 1));
    assert_null(kq_sim_state(sim, 1));
    assert_true(kq_sim_stats(sim)->writes_lost == 2); /* "u" and "s": neither durable at 20 */
    assert_false(durable(sim, 1, "u") || durable(sim, 1, "s"));
    assert_true(kq_sim_run(sim, 79, 0));
    assert_int_equal(probe_of(sim, 1)->restores, 0); /* restarted at 30 with nothing durable */
    assert_false(durable(sim, 1, "s"));
    assert_true(kq_sim_run(sim, 80, 0)); /* 30 + fsync 50: the sync, and the write before it */
    assert_true(durable(sim, 1, "s") && durable(sim, 1, "u"));
    assert_true(probe_of(sim, 1)->done_token == 7 && probe_of(sim, 1)->done_at == 80);
    assert_true(durable(sim, 2, "s") && probe_of(sim, 2)->done_at == 50);
    assert_int_equal(kq_sim_crash_at(sim, 150, 1, 10), KQ_OK);
    assert_true(kq_sim_run(sim, 160, 0));
    assert_int_equal(probe_of(sim, 1)->restores, 2); /* durable records replayed */
    assert_int_equal(probe_of(sim, 1)->starts, 1);   /* fresh state each life */
    assert_true(kq_sim_stats(sim)->crashes == 2 && kq_sim_stats(sim)->restarts == 4);
    kq_sim_free(sim);
}

static void test_disk_writeback(void **state)
{
    (void)state;
    const struct probe_cfg pc = {.unsynced_only = true};
    struct kq_sim *sim = probe_sim(&pc, 2);
    assert_true(kq_sim_run(sim, 99, 0));
    assert_false(durable(sim, 1, "u"));
    assert_true(kq_sim_run(sim, 100, 0));
    assert_true(durable(sim, 1, "u"));
    assert_int_equal(kq_sim_durable(sim, 1, "zz", &(const uint8_t *){NULL}, &(size_t){0}),
                     KQ_ERR_NOT_FOUND);
    kq_sim_free(sim);
}

static void test_timer_rearm_replaces(void **state)
{
    (void)state;
    const struct probe_cfg pc = {.double_arm = true};
    struct kq_sim *sim = probe_sim(&pc, 2);
    assert_true(kq_sim_run(sim, 100, 0));
    assert_int_equal(probe_of(sim, 1)->timer2_fires, 1);
    assert_int_equal(probe_of(sim, 1)->timer2_at, 20);
    kq_sim_free(sim);
}

static void test_partition(void **state)
{
    (void)state;
    const struct probe_cfg pc = {.send_every_ms = 10};
    struct kq_sim *sim = probe_sim(&pc, 3);
    const uint32_t side[] = {1};
    assert_int_equal(kq_sim_partition_at(sim, 100, 300, side, 1), KQ_OK);
    assert_true(kq_sim_run(sim, 299, 0));
    assert_false(kq_sim_link_up(sim, 1, 2) || kq_sim_link_up(sim, 3, 1));
    assert_true(kq_sim_link_up(sim, 2, 3));
    const struct probe *p2 = probe_of(sim, 2), *p1 = probe_of(sim, 1);
    assert_true(p2->last_at[1] < 100); /* the beat in flight at the cut was dropped too */
    assert_true(p2->last_at[3] > 280);
    assert_true(p2->downs[1] == 1 && p1->downs[2] == 1 && p1->downs[3] == 1);
    assert_true(p2->downs[3] == 0 && p2->ups[1] == 1);
    assert_true(kq_sim_run(sim, 320, 0));
    assert_true(p2->ups[1] == 2 && p1->ups[2] == 2 && p1->ups[3] == 2);
    assert_true(p2->last_at[1] >= 300);
    assert_true(kq_sim_stats(sim)->cut_off > 0);
    kq_sim_free(sim);
}

static void test_link_cut_and_overlap(void **state)
{
    (void)state;
    const struct probe_cfg pc = {.send_every_ms = 10};
    struct kq_sim *sim = probe_sim(&pc, 3);
    const uint32_t side[] = {2};
    assert_int_equal(kq_sim_cut_at(sim, 100, 300, 1, 2), KQ_OK);
    assert_int_equal(kq_sim_partition_at(sim, 200, 400, side, 1), KQ_OK);
    assert_true(kq_sim_run(sim, 350, 0));
    assert_false(kq_sim_link_up(sim, 1, 2)); /* the cut healed; the partition still holds */
    assert_true(kq_sim_link_up(sim, 1, 3));
    assert_true(probe_of(sim, 3)->last_at[1] >= 340); /* 1-3 never cut */
    assert_int_equal(probe_of(sim, 1)->downs[2], 1);  /* down once, not again when it overlapped */
    assert_true(kq_sim_run(sim, 420, 0));
    assert_true(kq_sim_link_up(sim, 1, 2));
    assert_int_equal(probe_of(sim, 1)->ups[2], 2);
    kq_sim_free(sim);
}

static struct kq_sim *lossy_probe_sim(const struct probe_cfg *pc, struct kq_sim_net net)
{
    struct kq_sim_config c = {
        .seed = 9, .n_nodes = 2, .ops = &probe_ops, .core_config = pc, .net = net};
    struct kq_sim *sim = NULL;
    assert_int_equal(kq_sim_new(&c, &sim), KQ_OK);
    assert_true(kq_sim_run(sim, 10000, 0));
    return sim;
}

static void test_loss_run_bounded(void **state)
{
    (void)state;
    const struct probe_cfg pc = {.send_every_ms = 10};
    struct kq_sim *sim = lossy_probe_sim(&pc, (struct kq_sim_net){.latency_min_ms = 3,
                                                                  .latency_max_ms = 3,
                                                                  .loss_ppm = KQ_SIM_PPM * 9 / 10,
                                                                  .max_loss_run = 2});
    assert_true(kq_sim_stats(sim)->lost > 1000);
    assert_int_equal(probe_of(sim, 2)->max_gap[1], 2); /* never three in a row */
    assert_int_equal(probe_of(sim, 2)->stale[1], 0);   /* a fixed latency keeps order (FIFO) */
    kq_sim_free(sim);
}

static void test_duplicate_and_reorder(void **state)
{
    (void)state;
    const struct probe_cfg pc = {.send_every_ms = 10};
    struct kq_sim *sim = lossy_probe_sim(
        &pc, (struct kq_sim_net){.latency_min_ms = 3, .latency_max_ms = 3, .dup_ppm = KQ_SIM_PPM});
    const struct probe *p = probe_of(sim, 2);
    assert_true(p->recv[1] == 2 * p->last_seq[1] && p->stale[1] == p->last_seq[1]);
    assert_true(kq_sim_stats(sim)->duplicated == kq_sim_stats(sim)->sent); /* no loss, no cut */
    kq_sim_free(sim);
    sim = lossy_probe_sim(&pc, (struct kq_sim_net){.latency_min_ms = 1, .latency_max_ms = 40});
    assert_true(probe_of(sim, 2)->stale[1] > 0); /* later frames overtook earlier ones */
    kq_sim_free(sim);
}

static void test_rejected_step_runs_no_action(void **state)
{
    (void)state;
    const struct probe_cfg pc = {.send_every_ms = 10, .reject_every = 3};
    struct kq_sim *sim = probe_sim(&pc, 2);
    assert_true(kq_sim_run(sim, 1000, 0));
    assert_true(kq_sim_stats(sim)->rejected > 0);
    assert_true(kq_sim_stats(sim)->status[KQ_STATUS_READY] == 0);
    kq_sim_free(sim);
}

static void test_core_misbehaviour_fails_run(void **state)
{
    (void)state;
    const struct probe_cfg pc = {.send_every_ms = 10, .bad_peer = 9};
    struct kq_sim *sim = probe_sim(&pc, 2);
    assert_false(kq_sim_run(sim, 1000, 0));
    assert_true(kq_sim_failed(sim));
    assert_non_null(strstr(kq_sim_failure(sim), "unknown peer 9"));
    kq_sim_free(sim);
    const struct probe_cfg self = {.send_every_ms = 10, .bad_peer = 1};
    sim = probe_sim(&self, 2);
    assert_false(kq_sim_run(sim, 1000, 0));
    kq_sim_free(sim);
}

static void test_step_limit(void **state)
{
    (void)state;
    const struct probe_cfg pc = {.send_every_ms = 10};
    struct kq_sim *sim = probe_sim(&pc, 2);
    assert_true(kq_sim_run(sim, 100000, 50));
    assert_true(kq_sim_stats(sim)->steps == 50);
    assert_true(kq_sim_now(sim) < 100000);
    kq_sim_free(sim);
}

static void test_bad_config_and_schedule(void **state)
{
    (void)state;
    const struct probe_cfg pc = {0};
    struct kq_sim_config c = {.n_nodes = 1, .ops = &probe_ops, .core_config = &pc};
    struct kq_sim *sim = (struct kq_sim *)&c;
    assert_int_equal(kq_sim_new(&c, &sim), KQ_ERR_INVALID_ARG);
    assert_null(sim);
    c.n_nodes = 2;
    c.net.loss_ppm = KQ_SIM_PPM;
    assert_int_equal(kq_sim_new(&c, &sim), KQ_ERR_INVALID_ARG);
    c.net.loss_ppm = 0;
    c.net.latency_min_ms = 2;
    assert_int_equal(kq_sim_new(&c, &sim), KQ_ERR_INVALID_ARG);
    c.net.latency_min_ms = 0;
    c.disk.fsync_min_ms = 2;
    assert_int_equal(kq_sim_new(&c, &sim), KQ_ERR_INVALID_ARG);
    c.disk.fsync_min_ms = 0;
    c.ops = NULL;
    assert_int_equal(kq_sim_new(&c, &sim), KQ_ERR_INVALID_ARG);
    c.ops = &probe_ops;
    assert_int_equal(kq_sim_new(&c, &sim), KQ_OK);
    const uint32_t both[] = {1, 2}, bad[] = {3};
    assert_int_equal(kq_sim_crash_at(sim, 10, 0, 5), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_sim_crash_at(sim, 10, 3, 5), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_sim_partition_at(sim, 10, 20, both, 2), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_sim_partition_at(sim, 10, 20, bad, 1), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_sim_partition_at(sim, 10, 10, both, 1), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_sim_cut_at(sim, 10, 20, 1, 1), KQ_ERR_INVALID_ARG);
    assert_true(kq_sim_run(sim, 100, 0));
    assert_int_equal(kq_sim_cut_at(sim, 50, 200, 1, 2), KQ_ERR_INVALID_ARG); /* in the past */
    for (int i = 0; i < KQ_SIM_MAX_FAULTS; i++)
        assert_int_equal(kq_sim_cut_at(sim, 200, 300, 1, 2), KQ_OK);
    assert_int_equal(kq_sim_cut_at(sim, 200, 300, 1, 2), KQ_ERR_LIMIT);
    assert_true(kq_sim_run(sim, 400, 0));
    assert_true(kq_sim_link_up(sim, 1, 2));
    kq_sim_free(sim);
}

/* ---- heartbeat scenarios ---- */

#define SWEEP_SEEDS 400
#define SWEEP_MS    20000

static struct kq_hbsim_params params(uint64_t seed, size_t nodes, enum kq_hbsim_scenario s,
                                     const struct kq_core_ops *ops)
{
    return (struct kq_hbsim_params){
        .seed = seed, .nodes = nodes, .duration_ms = SWEEP_MS, .scenario = s, .ops = ops};
}

/* Runs p; on an unexpected outcome prints what failed and the command that replays it. */
static void run_seed(const struct kq_hbsim_params *p, struct kq_hbsim_result *r)
{
    char replay[512];
    assert_int_equal(kq_hbsim_run(p, r), KQ_OK);
    if (!r->ok && p->ops == NULL) {
        kq_hbsim_replay_command(replay, sizeof replay, NULL, p);
        print_error("invariant failed: %s\nreplay: %s\n", r->failure, replay);
    }
}

static void test_sweep(void **state)
{
    (void)state;
    struct kq_hbsim_result r;
    uint64_t dead[5] = {0}, restarted[5] = {0}, alive[5] = {0}, lost_writes = 0, max_inc = 0;
    int failed = 0;
    for (uint64_t i = 0; i < SWEEP_SEEDS; i++) {
        enum kq_hbsim_scenario s = (enum kq_hbsim_scenario)(KQ_HBSIM_LOSSY + i % 4);
        struct kq_hbsim_params p = params(1000 + i, 2 + (i / 4) % 7, s, NULL);
        run_seed(&p, &r);
        failed += r.ok ? 0 : 1;
        assert_true(r.end_ms == SWEEP_MS);
        dead[s] += r.stats.status[KQ_STATUS_PEER_DEAD];
        alive[s] += r.stats.status[KQ_STATUS_PEER_ALIVE];
        restarted[s] += r.stats.status[KQ_STATUS_PEER_RESTARTED];
        lost_writes += r.stats.writes_lost;
        max_inc = r.max_incarnation > max_inc ? r.max_incarnation : max_inc;
    }
    assert_int_equal(failed, 0);
    /* the scenarios did exercise what they are for */
    assert_true(dead[KQ_HBSIM_LOSSY] == 0 && alive[KQ_HBSIM_LOSSY] > 0);
    assert_true(dead[KQ_HBSIM_PARTITION] > 0 &&
                alive[KQ_HBSIM_PARTITION] > dead[KQ_HBSIM_PARTITION]);
    assert_true(restarted[KQ_HBSIM_CRASH] > 0 && restarted[KQ_HBSIM_CHAOS] > 0);
    assert_true(lost_writes > 0); /* crashes inside the fsync of a fresh incarnation */
    assert_true(max_inc >= 3);
}

static void test_deterministic(void **state)
{
    (void)state;
    struct kq_hbsim_result a, b, c;
    struct kq_hbsim_params p = params(77, 5, KQ_HBSIM_CHAOS, NULL);
    run_seed(&p, &a);
    run_seed(&p, &b);
    assert_true(a.ok && b.ok);
    assert_true(a.trace_hash == b.trace_hash);
    assert_memory_equal(&a.stats, &b.stats, sizeof a.stats);
    p.trace = tmpfile(); /* the verbose trace observes, it does not change the run */
    assert_non_null(p.trace);
    run_seed(&p, &c);
    assert_true(c.trace_hash == a.trace_hash);
    assert_true(ftell(p.trace) > 1000);
    fclose(p.trace);
    p.trace = NULL;
    p.seed = 78;
    run_seed(&p, &c);
    assert_true(c.trace_hash != a.trace_hash);
}

static void test_replay_command(void **state)
{
    (void)state;
    char buf[256];
    struct kq_hbsim_params p = params(1234, 4, KQ_HBSIM_CHAOS, NULL);
    enum kq_hbsim_scenario s;
    kq_hbsim_replay_command(buf, sizeof buf, NULL, &p);
    assert_string_equal(buf, "build/kq_sim --seed 1234 --nodes 4 --ms 20000 --scenario chaos -v");
    p.max_steps = 9;
    kq_hbsim_replay_command(buf, sizeof buf, "x", &p);
    assert_string_equal(buf, "x --seed 1234 --nodes 4 --ms 20000 --scenario chaos --steps 9 -v");
    kq_hbsim_replay_command(buf, 8, NULL, &p); /* truncates, stays a string */
    assert_int_equal(strlen(buf), 7);
    assert_int_equal(kq_hbsim_scenario_parse("partition", &s), KQ_OK);
    assert_int_equal(s, KQ_HBSIM_PARTITION);
    assert_int_equal(kq_hbsim_scenario_parse("storm", &s), KQ_ERR_INVALID_ARG);
    assert_null(kq_hbsim_scenario_name((enum kq_hbsim_scenario)0));
    struct kq_hbsim_result r;
    p.nodes = 1;
    assert_int_equal(kq_hbsim_run(&p, &r), KQ_ERR_INVALID_ARG);
}

/* ---- broken cores: the invariants must catch each ---- */

/* Never declares anyone dead: the silence check only re-arms. */
static enum kq_err never_dead_step(void *st, const struct kq_event *ev, struct kq_actions *out)
{
    if (ev->kind == KQ_EV_TIMER && ev->timer == KQ_HEARTBEAT_TIMER_CHECK)
        return kq_actions_timer(out, KQ_HEARTBEAT_TIMER_CHECK, KQ_HBSIM_INTERVAL_MS);
    return kq_heartbeat_ops.step(st, ev, out);
}

/* Beats before its incarnation is durable: START's write is made unsynced and "done" at once. */
static enum kq_err eager_step(void *st, const struct kq_event *ev, struct kq_actions *out)
{
    size_t first = out->count;
    KQ_GUARD(kq_heartbeat_ops.step(st, ev, out));
    if (ev->kind != KQ_EV_START)
        return KQ_OK;
    struct kq_action *persist = &out->items[first];
    KQ_ASSERT(persist->kind == KQ_ACT_PERSIST);
    persist->sync = false;
    struct kq_event done = {
        .kind = KQ_EV_WRITE_DONE, .now_ms = ev->now_ms, .write_token = persist->write_token};
    return kq_heartbeat_ops.step(st, &done, out);
}

/* Forgets its last incarnation: every life is incarnation 1 again. */
static enum kq_err amnesiac_step(void *st, const struct kq_event *ev, struct kq_actions *out)
{
    if (ev->kind == KQ_EV_RESTORE)
        return KQ_OK;
    return kq_heartbeat_ops.step(st, ev, out);
}

/* A timeout shorter than a few intervals: lost beats make it call live peers dead (caught as a
 * false DEAD, or as a reachable peer not seen alive within the bound). */
static enum kq_err hasty_init(void *st, uint32_t self, const uint32_t *peers, size_t n,
                              const void *config)
{
    struct kq_heartbeat_config c = *(const struct kq_heartbeat_config *)config;
    c.timeout_ms = c.interval_ms + 50;
    return kq_heartbeat_ops.init(st, self, peers, n, &c);
}

static struct kq_core_ops
broken(const char *name, enum kq_err (*step)(void *, const struct kq_event *, struct kq_actions *))
{
    struct kq_core_ops ops = kq_heartbeat_ops;
    ops.name = name;
    if (step != NULL)
        ops.step = step;
    return ops;
}

/* Runs seeds 1..n of scenario s with ops; every failure must name `why` or `or_why` (may be
 * NULL); returns how many failed. */
static int count_caught(const struct kq_core_ops *ops, enum kq_hbsim_scenario s, int n,
                        const char *why, const char *or_why)
{
    struct kq_hbsim_result r;
    int caught = 0;
    for (int seed = 1; seed <= n; seed++) {
        struct kq_hbsim_params p = params((uint64_t)seed, 4, s, ops);
        run_seed(&p, &r);
        if (r.ok)
            continue;
        caught++;
        bool named = strstr(r.failure, why) != NULL;
        named = named || (or_why != NULL && strstr(r.failure, or_why) != NULL);
        if (!named)
            print_error("%s seed %d: %s\n", ops->name, seed, r.failure);
        assert_true(named);
    }
    return caught;
}

static void test_broken_never_dead(void **state)
{
    (void)state;
    struct kq_core_ops ops = broken("never-dead", never_dead_step);
    /* a seed whose cuts all heal before the dead bound cannot tell; most seeds have a long one */
    assert_true(count_caught(&ops, KQ_HBSIM_PARTITION, 10, "alive, unreachable since", NULL) >= 5);
}

static void test_broken_eager(void **state)
{
    (void)state;
    struct kq_core_ops ops = broken("eager", eager_step);
    assert_int_equal(count_caught(&ops, KQ_HBSIM_LOSSY, 5, "before it was durable", NULL), 5);
}

static void test_broken_amnesiac(void **state)
{
    (void)state;
    struct kq_core_ops ops = broken("amnesiac", amnesiac_step);
    assert_int_equal(count_caught(&ops, KQ_HBSIM_CRASH, 10, "reused incarnation", NULL), 10);
}

static void test_broken_hasty(void **state)
{
    (void)state;
    struct kq_core_ops ops = broken("hasty", NULL);
    ops.init = hasty_init;
    assert_int_equal(count_caught(&ops, KQ_HBSIM_LOSSY, 5, "false DEAD", "does not see"), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_disk_crash_loses_unsynced),
        cmocka_unit_test(test_disk_writeback),
        cmocka_unit_test(test_timer_rearm_replaces),
        cmocka_unit_test(test_partition),
        cmocka_unit_test(test_link_cut_and_overlap),
        cmocka_unit_test(test_loss_run_bounded),
        cmocka_unit_test(test_duplicate_and_reorder),
        cmocka_unit_test(test_rejected_step_runs_no_action),
        cmocka_unit_test(test_core_misbehaviour_fails_run),
        cmocka_unit_test(test_step_limit),
        cmocka_unit_test(test_bad_config_and_schedule),
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_replay_command),
        cmocka_unit_test(test_broken_never_dead),
        cmocka_unit_test(test_broken_eager),
        cmocka_unit_test(test_broken_amnesiac),
        cmocka_unit_test(test_broken_hasty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
