/* Tests for the simulator's generic mechanics (sim/) that the ledger relies on: local requests
 * and their answers, per-node skewed and drifting wall clocks, the atomicity of a step's writes
 * and erases across crashes at every moment, a disk of KQ_SIM_MAX_RECORDS records restored in key
 * order, the Byzantine interception hook (withhold, rewrite, fork, replay, delay), determinism
 * with all of it on, and the seeds runner. Each check has a core or hook that makes it fail. */
#include "../test_util.h"

#include <inttypes.h>

#include "base/buf.h"
#include "base/limits.h"
#include "sim.h"
#include "sim_store.h"

/* ---- a small core driven by its config ---- */

#define T_NODES      8
#define FRAME_GOSSIP 0x7001
#define K_ECHO       1 /* reply at once with the body */
#define K_LATER      2 /* reply 10 ms later */
#define K_REJECT     3 /* the step rejects the request */
#define K_HOLD       4 /* never reply */
#define K_TWICE      5 /* reply twice (a core bug) */
#define K_STATUS     6 /* report COMMITTED */

struct tcfg {
    uint64_t gossip_ms;  /* nonzero: broadcast {origin u32, counter u64, check u8} that often */
    uint64_t write_ms;   /* nonzero: an x/y/e write group that often (timer 3) */
    bool split_writes;   /* broken: y is written one step after x */
    uint32_t bulk_steps; /* nonzero: on START of the first life, write bulk_steps x
                            (KQ_CORE_MAX_ACTIONS - 1) records */
};

struct tcore {
    const struct tcfg *cfg;
    uint32_t self;
    /* requests */
    uint64_t later_id;
    /* clocks */
    uint64_t last_wall;
    /* gossip */
    uint64_t counter;
    uint64_t heard[T_NODES + 1]; /* last counter heard per origin */
    uint64_t stale[T_NODES + 1], bad[T_NODES + 1];
    uint8_t last_check[T_NODES + 1];
    /* x/y/e writes */
    uint64_t i, rx, ry, re;
    bool has_x, has_y, has_e, restored_bad;
    /* bulk */
    uint32_t bulk_done;
    uint64_t restores;
    bool order_bad;
    char prev_key[KQ_CORE_MAX_RECORD_KEY];
};

static enum kq_err t_init(void *state, uint32_t self, const uint32_t *peers, size_t n,
                          const void *config)
{
    struct tcore *c = state;
    (void)peers;
    KQ_ENSURE(n < T_NODES, KQ_ERR_LIMIT);
    c->cfg = config;
    c->self = self;
    return KQ_OK;
}

static uint8_t check_byte(uint32_t origin, uint64_t counter)
{
    return (uint8_t)(origin * 31u + counter * 7u + 1u);
}

static enum kq_err t_gossip(struct tcore *c, struct kq_actions *out)
{
    uint8_t b[13];
    struct kq_buf w;
    kq_buf_writer(&w, b, sizeof b);
    c->counter++;
    KQ_GUARD(kq_buf_put_u32(&w, c->self));
    KQ_GUARD(kq_buf_put_u64(&w, c->counter));
    KQ_GUARD(kq_buf_put_u8(&w, check_byte(c->self, c->counter)));
    KQ_GUARD(kq_actions_send(out, KQ_PEER_ALL, FRAME_GOSSIP, b, sizeof b));
    return kq_actions_timer(out, 1, c->cfg->gossip_ms);
}

static enum kq_err t_frame(struct tcore *c, const struct kq_event *ev)
{
    struct kq_buf r;
    uint32_t origin;
    uint64_t counter;
    uint8_t check;
    KQ_ENSURE(ev->frame_type == FRAME_GOSSIP, KQ_ERR_TYPE);
    kq_buf_reader(&r, ev->payload, ev->payload_len);
    KQ_GUARD(kq_buf_get_u32(&r, &origin));
    KQ_GUARD(kq_buf_get_u64(&r, &counter));
    KQ_GUARD(kq_buf_get_u8(&r, &check));
    KQ_ENSURE(origin == ev->peer && origin <= T_NODES, KQ_ERR_PEER_IDENTITY);
    if (check != check_byte(origin, counter)) {
        c->bad[origin]++; /* a "signature" that does not verify: ignored */
        return KQ_ERR_CRYPTO;
    }
    if (counter <= c->heard[origin]) {
        c->stale[origin]++;
        return KQ_OK;
    }
    c->heard[origin] = counter;
    c->last_check[origin] = check;
    return KQ_OK;
}

static enum kq_err t_request(struct tcore *c, const struct kq_event *ev, struct kq_actions *out)
{
    switch (ev->request_kind) {
    case K_ECHO:
        return kq_actions_reply(out, ev->request_id, KQ_OK, ev->payload, ev->payload_len);
    case K_LATER:
        c->later_id = ev->request_id;
        return kq_actions_timer(out, 2, 10);
    case K_REJECT:
        return KQ_ERR_FORMAT;
    case K_HOLD:
        return KQ_OK;
    case K_TWICE:
        KQ_GUARD(kq_actions_reply(out, ev->request_id, KQ_OK, NULL, 0));
        return kq_actions_reply(out, ev->request_id, KQ_OK, NULL, 0);
    case K_STATUS:
        KQ_GUARD(kq_actions_status(out, KQ_STATUS_COMMITTED, c->self, 1));
        return kq_actions_reply(out, ev->request_id, KQ_OK, NULL, 0);
    }
    return KQ_ERR_INVALID_ARG;
}

static uint64_t get_u64(const uint8_t *p, size_t len)
{
    struct kq_buf r;
    uint64_t v = 0;
    kq_buf_reader(&r, p, len);
    if (kq_buf_get_u64(&r, &v) != KQ_OK)
        return UINT64_MAX;
    return v;
}

static void t_restore(struct tcore *c, const struct kq_event *ev)
{
    c->restores++;
    if (c->prev_key[0] != '\0' && strcmp(c->prev_key, ev->record_key) >= 0)
        c->order_bad = true;
    snprintf(c->prev_key, sizeof c->prev_key, "%s", ev->record_key);
    uint64_t v = get_u64(ev->payload, ev->payload_len);
    if (strcmp(ev->record_key, "x") == 0) {
        c->has_x = true;
        c->rx = v;
    } else if (strcmp(ev->record_key, "y") == 0) {
        c->has_y = true;
        c->ry = v;
    } else if (strcmp(ev->record_key, "e") == 0) {
        c->has_e = true;
        c->re = v;
    }
}

/* What the restored x, y, e must look like if a step's writes and erases are atomic. */
static bool xye_consistent(bool hx, uint64_t x, bool hy, uint64_t y, bool he, uint64_t e)
{
    if (hx != hy || (hx && x != y))
        return false;
    bool want_e = hx && x % 2 == 0;
    return he == want_e && (!he || e == x);
}

static enum kq_err t_start(struct tcore *c, struct kq_actions *out)
{
    c->restored_bad = !xye_consistent(c->has_x, c->rx, c->has_y, c->ry, c->has_e, c->re);
    c->i = c->has_x ? c->rx : 0;
    if (c->cfg->gossip_ms != 0)
        KQ_GUARD(kq_actions_timer(out, 1, c->cfg->gossip_ms));
    if (c->cfg->write_ms != 0)
        KQ_GUARD(kq_actions_timer(out, 3, c->cfg->write_ms));
    if (c->cfg->bulk_steps != 0 && c->restores == 0)
        KQ_GUARD(kq_actions_timer(out, 5, 1));
    return KQ_OK;
}

/* One group: x = y = i, and e = i for even i, erased for odd i. split_writes puts y in the next
 * step (timer 4 at +0 ms): a non-atomic core the checks must catch. */
static enum kq_err t_write(struct tcore *c, struct kq_actions *out)
{
    uint8_t v[8];
    struct kq_buf w;
    kq_buf_writer(&w, v, sizeof v);
    c->i++;
    KQ_GUARD(kq_buf_put_u64(&w, c->i));
    bool sync = c->i % 3 == 0;
    KQ_GUARD(kq_actions_persist(out, "x", v, sizeof v, sync && !c->cfg->split_writes, c->i));
    if (c->cfg->split_writes)
        KQ_GUARD(kq_actions_timer(out, 4, 0));
    else
        KQ_GUARD(kq_actions_persist(out, "y", v, sizeof v, false, 0));
    if (c->i % 2 == 0)
        KQ_GUARD(kq_actions_persist(out, "e", v, sizeof v, false, 0));
    else
        KQ_GUARD(kq_actions_erase(out, "e"));
    return kq_actions_timer(out, 3, c->cfg->write_ms);
}

static enum kq_err t_write_y(struct tcore *c, struct kq_actions *out)
{
    uint8_t v[8];
    struct kq_buf w;
    kq_buf_writer(&w, v, sizeof v);
    KQ_GUARD(kq_buf_put_u64(&w, c->i));
    return kq_actions_persist(out, "y", v, sizeof v, c->i % 3 == 0, c->i);
}

/* KQ_CORE_MAX_ACTIONS - 1 records "k/<8 digits>" per step, in descending key order (RESTORE must
 * sort them). */
static enum kq_err t_bulk(struct tcore *c, struct kq_actions *out)
{
    uint64_t total = (uint64_t)c->cfg->bulk_steps * KQ_CORE_MAX_ACTIONS;
    for (uint32_t k = 0; k < KQ_CORE_MAX_ACTIONS - 1; k++) {
        uint64_t n = total - 1 - ((uint64_t)c->bulk_done * KQ_CORE_MAX_ACTIONS + k);
        char key[32];
        uint8_t v[8];
        struct kq_buf w;
        kq_buf_writer(&w, v, sizeof v);
        KQ_GUARD(kq_buf_put_u64(&w, n));
        snprintf(key, sizeof key, "k/%08" PRIu64, n);
        KQ_GUARD(kq_actions_persist(out, key, v, sizeof v, k == KQ_CORE_MAX_ACTIONS - 2, 9));
    }
    c->bulk_done++;
    if (c->bulk_done < c->cfg->bulk_steps)
        return kq_actions_timer(out, 5, 1);
    return KQ_OK;
}

static enum kq_err t_timer(struct tcore *c, const struct kq_event *ev, struct kq_actions *out)
{
    switch (ev->timer) {
    case 1:
        return t_gossip(c, out);
    case 2:
        return kq_actions_reply(out, c->later_id, KQ_OK, NULL, 0);
    case 3:
        return t_write(c, out);
    case 4:
        return t_write_y(c, out);
    case 5:
        return t_bulk(c, out);
    }
    return KQ_ERR_STATE;
}

static enum kq_err t_step(void *state, const struct kq_event *ev, struct kq_actions *out)
{
    struct tcore *c = state;
    KQ_ENSURE(ev->wall_ms >= c->last_wall, KQ_ERR_STATE);
    c->last_wall = ev->wall_ms;
    switch (ev->kind) {
    case KQ_EV_RESTORE:
        t_restore(c, ev);
        return KQ_OK;
    case KQ_EV_START:
        return t_start(c, out);
    case KQ_EV_TIMER:
        return t_timer(c, ev, out);
    case KQ_EV_FRAME:
        return t_frame(c, ev);
    case KQ_EV_REQUEST:
        return t_request(c, ev, out);
    case KQ_EV_PEER_UP:
    case KQ_EV_PEER_DOWN:
    case KQ_EV_WRITE_DONE:
        return KQ_OK;
    case KQ_EV_PEERS: /* the simulator's peer set never changes */
    case KQ_EV_LEDGER:
        return KQ_ERR_INVALID_ARG;
    }
    return KQ_ERR_INVALID_ARG;
}

static const struct kq_core_ops t_ops = {
    .name = "t", .state_size = sizeof(struct tcore), .init = t_init, .step = t_step};

static struct kq_sim_config base_cfg(uint64_t seed, size_t n, const struct tcfg *tc)
{
    return (struct kq_sim_config){
        .seed = seed,
        .n_nodes = n,
        .ops = &t_ops,
        .core_config = tc,
        .net = {.latency_min_ms = 1, .latency_max_ms = 10},
        .disk = {.fsync_min_ms = 1,
                 .fsync_max_ms = 8,
                 .writeback_min_ms = 5,
                 .writeback_max_ms = 40},
    };
}

static struct kq_sim *new_sim(const struct kq_sim_config *c)
{
    struct kq_sim *sim = NULL;
    assert_int_equal(kq_sim_new(c, &sim), KQ_OK);
    return sim;
}

static const struct tcore *core_of(const struct kq_sim *sim, uint32_t node)
{
    const struct tcore *c = kq_sim_state(sim, node);
    assert_non_null(c);
    return c;
}

/* ---- 1. local requests ---- */

#define MAX_REPLIES 8

struct replies {
    size_t n;
    uint32_t node[MAX_REPLIES];
    uint64_t id[MAX_REPLIES], at[MAX_REPLIES];
    enum kq_err status[MAX_REPLIES];
    uint8_t body[MAX_REPLIES][16];
    size_t len[MAX_REPLIES];
    uint64_t total;
};

static void on_reply(void *ctx, struct kq_sim *sim, uint32_t node, uint64_t id, enum kq_err status,
                     const uint8_t *payload, size_t len)
{
    struct replies *r = ctx;
    r->total++;
    if (r->n == MAX_REPLIES)
        return;
    r->node[r->n] = node;
    r->id[r->n] = id;
    r->at[r->n] = kq_sim_now(sim);
    r->status[r->n] = status;
    r->len[r->n] = len;
    if (len > 0)
        memcpy(r->body[r->n], payload, len < 16 ? len : 16);
    r->n++;
}

static void test_requests(void **state)
{
    (void)state;
    const struct tcfg tc = {0};
    struct replies r = {0};
    struct kq_sim_config c = base_cfg(1, 3, &tc);
    c.on_reply = on_reply;
    c.reply_ctx = &r;
    struct kq_sim *sim = new_sim(&c);
    uint64_t a, b, d, e, f, g;
    assert_int_equal(kq_sim_request_at(sim, 5, 1, K_ECHO, (const uint8_t *)"hi", 2, &a), KQ_OK);
    assert_int_equal(kq_sim_request_at(sim, 6, 2, K_LATER, NULL, 0, &b), KQ_OK);
    assert_int_equal(kq_sim_request_at(sim, 7, 3, K_REJECT, NULL, 0, &d), KQ_OK);
    assert_int_equal(kq_sim_request_at(sim, 8, 3, K_HOLD, NULL, 0, &e), KQ_OK); /* crash resets */
    assert_int_equal(kq_sim_crash_at(sim, 30, 3, 100), KQ_OK);
    assert_int_equal(kq_sim_request_at(sim, 40, 3, K_ECHO, NULL, 0, &f), KQ_OK); /* refused */
    assert_int_equal(kq_sim_request_at(sim, 50, 2, K_STATUS, NULL, 0, &g), KQ_OK);
    assert_true(a == 1 && b == 2 && d == 3 && e == 4 && f == 5 && g == 6);
    assert_true(kq_sim_run(sim, 200, 0));
    assert_int_equal(r.n, 6);
    /* echo at 5 on n1 with the body */
    assert_true(r.id[0] == a && r.node[0] == 1 && r.at[0] == 5 && r.status[0] == KQ_OK);
    assert_true(r.len[0] == 2 && memcmp(r.body[0], "hi", 2) == 0);
    /* the rejected step answered with the core's error, by the simulator */
    assert_true(r.id[1] == d && r.node[1] == 3 && r.at[1] == 7 && r.status[1] == KQ_ERR_FORMAT);
    assert_true(r.id[2] == b && r.node[2] == 2 && r.at[2] == 16 && r.status[2] == KQ_OK);
    /* the held request is reset by the crash, the next one refused while n3 is down */
    assert_true(r.id[3] == e && r.at[3] == 30 && r.status[3] == KQ_ERR_NET);
    assert_true(r.id[4] == f && r.at[4] == 40 && r.status[4] == KQ_ERR_NET);
    assert_true(r.id[5] == g && r.status[5] == KQ_OK);
    const struct kq_sim_stats *st = kq_sim_stats(sim);
    assert_true(st->requests == 5 && st->replies == 3 && st->refused == 2 && st->rejected == 1);
    assert_true(st->status[KQ_STATUS_COMMITTED] == 1);
    /* arguments */
    uint64_t x;
    uint8_t big[1];
    assert_int_equal(kq_sim_request_at(sim, 300, 4, K_ECHO, NULL, 0, &x), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_sim_request_at(sim, 100, 1, K_ECHO, NULL, 0, &x), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_sim_request_at(sim, 300, 1, K_ECHO, big, KQ_MAX_FRAME_PAYLOAD + 1u, &x),
                     KQ_ERR_INVALID_ARG);
    kq_sim_free(sim);
}

static void test_request_double_reply_fails(void **state)
{
    (void)state;
    const struct tcfg tc = {0};
    struct kq_sim_config c = base_cfg(1, 2, &tc);
    struct kq_sim *sim = new_sim(&c);
    uint64_t id;
    assert_int_equal(kq_sim_request_at(sim, 5, 1, K_TWICE, NULL, 0, &id), KQ_OK);
    assert_false(kq_sim_run(sim, 50, 0));
    assert_non_null(strstr(kq_sim_failure(sim), "not open"));
    kq_sim_free(sim);
}

static void test_request_busy(void **state)
{
    (void)state;
    const struct tcfg tc = {0};
    struct replies r = {0};
    struct kq_sim_config c = base_cfg(1, 2, &tc);
    c.on_reply = on_reply;
    c.reply_ctx = &r;
    struct kq_sim *sim = new_sim(&c);
    uint64_t id;
    for (size_t i = 0; i <= KQ_SIM_MAX_OPEN_REQUESTS; i++)
        assert_int_equal(kq_sim_request_at(sim, 5, 1, K_HOLD, NULL, 0, &id), KQ_OK);
    assert_true(kq_sim_run(sim, 50, 0));
    assert_int_equal(r.n, 1);
    assert_true(r.id[0] == id && r.status[0] == KQ_ERR_BUSY);
    assert_int_equal(kq_sim_stats(sim)->busy, 1);
    assert_int_equal(kq_sim_stats(sim)->requests, KQ_SIM_MAX_OPEN_REQUESTS);
    kq_sim_free(sim);
}

/* ---- 2. clocks ---- */

struct clock_check {
    uint64_t max_skew, drift_ppm;
    uint64_t last_wall[T_NODES + 1], life_start[T_NODES + 1];
    int64_t min_off, max_off; /* wall - start - now over first lives */
    bool stepped;             /* an offset changed across a restart */
    int64_t off0[T_NODES + 1];
    bool have_off0[T_NODES + 1];
    uint64_t steps;
};

static void clock_hook(void *ctx, struct kq_sim *sim, const struct kq_sim_step *st)
{
    struct clock_check *k = ctx;
    if (st->kind == KQ_SIM_STEP_RESTART) {
        k->last_wall[st->node] = 0;
        return;
    }
    if (st->kind != KQ_SIM_STEP_CORE)
        return;
    k->steps++;
    uint64_t w = st->ev->wall_ms, now = st->now_ms;
    if (w != kq_sim_wall(sim, st->node))
        kq_sim_failf(sim, "event wall %" PRIu64 " is not kq_sim_wall", w);
    if (w < k->last_wall[st->node])
        kq_sim_failf(sim, "n%" PRIu32 " wall went back", st->node);
    k->last_wall[st->node] = w;
    int64_t off = (int64_t)(w - 1700000000000ULL) - (int64_t)now;
    /* |off| <= skew + drift * now */
    int64_t bound = (int64_t)(k->max_skew + now * k->drift_ppm / KQ_SIM_PPM + 1);
    if (off > bound || off < -bound)
        kq_sim_failf(sim, "n%" PRIu32 " wall off by %" PRId64, st->node, off);
    k->min_off = off < k->min_off ? off : k->min_off;
    k->max_off = off > k->max_off ? off : k->max_off;
    if (now < 100) { /* the skew alone, drift negligible */
        if (k->have_off0[st->node] &&
            (off - k->off0[st->node] > 10 || k->off0[st->node] - off > 10))
            k->stepped = true;
        k->off0[st->node] = off;
        k->have_off0[st->node] = true;
    }
}

static uint64_t clock_run(uint64_t seed, uint64_t skew, uint32_t drift, bool step_on_restart,
                          struct clock_check *k)
{
    const struct tcfg tc = {.gossip_ms = 7};
    struct kq_sim_config c = base_cfg(seed, 5, &tc);
    c.wall_start_ms = 1700000000000ULL;
    c.max_clock_skew_ms = skew;
    c.max_clock_drift_ppm = drift;
    c.clock_step_on_restart = step_on_restart;
    c.check = clock_hook;
    c.check_ctx = k;
    k->max_skew = skew;
    k->drift_ppm = drift;
    struct kq_sim *sim = new_sim(&c);
    assert_int_equal(kq_sim_crash_at(sim, 50, 2, 1), KQ_OK);
    assert_int_equal(kq_sim_crash_at(sim, 60, 3, 1), KQ_OK);
    assert_true(kq_sim_run(sim, 5000, 0));
    uint64_t h = kq_sim_trace_hash(sim);
    kq_sim_free(sim);
    return h;
}

static void test_clocks(void **state)
{
    (void)state;
    struct clock_check k0 = {0};
    uint64_t h0 = clock_run(3, 0, 0, false, &k0);
    assert_true(k0.steps > 100 && k0.min_off == 0 && k0.max_off == 0); /* no skew: true time */
    int64_t lo = 0, hi = 0;
    bool stepped = false;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        struct clock_check k = {0};
        clock_run(seed, 2000, 50000, true, &k);
        lo = k.min_off < lo ? k.min_off : lo;
        hi = k.max_off > hi ? k.max_off : hi;
        stepped = stepped || k.stepped;
    }
    assert_true(lo < -1000 && hi > 1000); /* clocks behind and ahead */
    assert_true(stepped);                 /* a restart stepped a clock */
    struct clock_check k1 = {0}, k2 = {0}, k3 = {0};
    uint64_t h1 = clock_run(3, 2000, 50000, false, &k1);
    assert_true(clock_run(3, 2000, 50000, false, &k2) == h1); /* deterministic */
    assert_true(clock_run(3, 2000, 0, false, &k3) != h1);     /* the hash sees the clocks */
    assert_true(h0 != h1);
    /* bounds of the configuration */
    const struct tcfg tc = {0};
    struct kq_sim_config c = base_cfg(1, 2, &tc);
    struct kq_sim *sim = NULL;
    c.max_clock_skew_ms = 10; /* wall_start below the skew: a clock could read below 0 */
    assert_int_equal(kq_sim_new(&c, &sim), KQ_ERR_INVALID_ARG);
    c.wall_start_ms = KQ_SIM_MAX_CLOCK_SKEW_MS + 1;
    c.max_clock_skew_ms = KQ_SIM_MAX_CLOCK_SKEW_MS + 1;
    assert_int_equal(kq_sim_new(&c, &sim), KQ_ERR_INVALID_ARG);
    c.max_clock_skew_ms = 0;
    c.max_clock_drift_ppm = KQ_SIM_MAX_CLOCK_DRIFT_PPM + 1;
    assert_int_equal(kq_sim_new(&c, &sim), KQ_ERR_INVALID_ARG);
    c.max_clock_drift_ppm = KQ_SIM_MAX_CLOCK_DRIFT_PPM; /* the slowest clock still moves */
    assert_int_equal(kq_sim_new(&c, &sim), KQ_OK);
    assert_true(kq_sim_run(sim, 1000, 0));
    assert_true(kq_sim_wall(sim, 1) >= c.wall_start_ms + 900);
    kq_sim_free(sim);
}

/* ---- 3. a step's writes and erases are atomic across crashes ---- */

struct atom_check {
    uint64_t restarts_with_x, restores;
};

/* After every step: every node's durable x, y, e are one whole group; after START, what the core
 * restored is too. */
static void atom_hook(void *ctx, struct kq_sim *sim, const struct kq_sim_step *st)
{
    struct atom_check *k = ctx;
    for (uint32_t n = 1; n <= kq_sim_nodes(sim); n++) {
        const uint8_t *v[3];
        size_t len[3];
        bool has[3];
        const char *keys[3] = {"x", "y", "e"};
        for (int i = 0; i < 3; i++)
            has[i] = kq_sim_durable(sim, n, keys[i], &v[i], &len[i]) == KQ_OK;
        uint64_t x = has[0] ? get_u64(v[0], len[0]) : 0, y = has[1] ? get_u64(v[1], len[1]) : 0;
        uint64_t e = has[2] ? get_u64(v[2], len[2]) : 0;
        if (!xye_consistent(has[0], x, has[1], y, has[2], e))
            kq_sim_failf(
                sim, "n%" PRIu32 " durable x/y/e torn: %d:%" PRIu64 " %d:%" PRIu64 " %d:%" PRIu64,
                n, has[0], x, has[1], y, has[2], e);
    }
    if (st->kind == KQ_SIM_STEP_CORE && st->ev->kind == KQ_EV_START) {
        const struct tcore *c = kq_sim_state(sim, st->node);
        if (c->restored_bad)
            kq_sim_failf(sim, "n%" PRIu32 " restored a torn x/y/e", st->node);
        k->restarts_with_x += c->has_x ? 1 : 0;
        k->restores += c->restores;
    }
}

/* Crashes node 1 at `at` (and node 2 at a seed-drawn time), restarting soon after. */
static bool atom_run(uint64_t seed, uint64_t at, bool split, struct atom_check *k,
                     struct kq_sim_stats *stats)
{
    const struct tcfg tc = {.write_ms = 3, .split_writes = split};
    struct kq_sim_config c = base_cfg(seed, 2, &tc);
    c.check = atom_hook;
    c.check_ctx = k;
    struct kq_sim *sim = new_sim(&c);
    assert_int_equal(kq_sim_crash_at(sim, at, 1, seed % 4), KQ_OK);
    assert_int_equal(kq_sim_crash_at(sim, 20 + seed % 97, 2, 1 + seed % 3), KQ_OK);
    assert_int_equal(kq_sim_crash_at(sim, at + 40, 1, 2), KQ_OK);
    bool ok = kq_sim_run(sim, at + 100, 0);
    if (!ok && !split)
        print_error("seed %" PRIu64 " crash at %" PRIu64 ": %s\n", seed, at, kq_sim_failure(sim));
    *stats = *kq_sim_stats(sim);
    kq_sim_free(sim);
    return ok;
}

static void test_atomic_writes(void **state)
{
    (void)state;
    struct atom_check k = {0};
    uint64_t lost = 0, crashes = 0;
    for (uint64_t seed = 0; seed < 40; seed++) {
        for (uint64_t at = 1; at <= 60; at++) { /* every millisecond of the first groups */
            struct kq_sim_stats st;
            assert_true(atom_run(seed, at, false, &k, &st));
            lost += st.writes_lost;
            crashes += st.crashes;
        }
    }
    assert_true(crashes >= 3 * 40 * 60 - 40 * 60 / 2); /* the crashes happened */
    assert_true(lost > 1000);                          /* with groups in flight */
    assert_true(k.restarts_with_x > 1000 && k.restores > 3000);
}

static void test_split_writes_caught(void **state)
{
    (void)state;
    struct atom_check k = {0};
    int caught = 0;
    for (uint64_t seed = 0; seed < 10; seed++) {
        struct kq_sim_stats st;
        caught += atom_run(seed, 30 + seed, true, &k, &st) ? 0 : 1;
    }
    assert_true(caught > 0);
}

/* ---- 4. scale: a full disk, restored in key order ---- */

static void test_scale_full_disk(void **state)
{
    (void)state;
    const uint32_t steps = KQ_SIM_MAX_RECORDS / (KQ_CORE_MAX_ACTIONS - 1) + 1;
    const struct tcfg tc = {.bulk_steps = steps};
    struct kq_sim_config c = base_cfg(9, 2, &tc);
    c.disk.writeback_min_ms = c.disk.writeback_max_ms = 1000000; /* only syncs make it durable */
    struct kq_sim *sim = new_sim(&c);
    /* the last step overflows the disk: it must fail the run without applying part of it */
    assert_false(kq_sim_run(sim, 100000, 0));
    assert_non_null(strstr(kq_sim_failure(sim), "disk"));
    /* the node whose disk filled first (both write the same groups) */
    unsigned node = 0;
    assert_int_equal(sscanf(strstr(kq_sim_failure(sim), ": n"), ": n%u disk", &node), 1);
    uint64_t full_groups = KQ_SIM_MAX_RECORDS / (KQ_CORE_MAX_ACTIONS - 1);
    const uint8_t *v;
    size_t len;
    char key[32];
    uint64_t total = (uint64_t)steps * KQ_CORE_MAX_ACTIONS;
    /* group g holds keys total-1-(g*A+k) for k < A-1 (A = KQ_CORE_MAX_ACTIONS): the last full
     * group is there, the next one not at all */
    const uint64_t a = KQ_CORE_MAX_ACTIONS;
    snprintf(key, sizeof key, "k/%08" PRIu64, total - 1 - ((full_groups - 1) * a + a - 2));
    assert_int_equal(kq_sim_durable(sim, node, key, &v, &len), KQ_OK);
    for (uint64_t k = 0; k < a - 1; k++) {
        snprintf(key, sizeof key, "k/%08" PRIu64, total - 1 - (full_groups * a + k));
        assert_int_equal(kq_sim_durable(sim, node, key, &v, &len), KQ_ERR_NOT_FOUND);
    }
    kq_sim_free(sim);
}

static void test_scale_restore_order(void **state)
{
    (void)state;
    const uint32_t steps = 204800 / KQ_CORE_MAX_ACTIONS; /* about 204000 records */
    const struct tcfg tc = {.bulk_steps = steps};
    struct kq_sim_config c = base_cfg(9, 2, &tc);
    struct kq_sim *sim = new_sim(&c);
    assert_true(kq_sim_run(sim, 2000, 0));
    assert_int_equal(kq_sim_crash_at(sim, 2001, 1, 5), KQ_OK);
    assert_true(kq_sim_run(sim, 2010, 0));
    const struct tcore *t = core_of(sim, 1);
    assert_int_equal(t->restores, steps * (KQ_CORE_MAX_ACTIONS - 1));
    assert_false(t->order_bad);
    assert_string_equal(t->prev_key, "k/00204799");
    const uint8_t *v;
    size_t len;
    assert_int_equal(kq_sim_durable(sim, 2, "k/00000001", &v, &len), KQ_OK);
    assert_true(len == 8 && get_u64(v, len) == 1);
    assert_int_equal(kq_sim_durable(sim, 2, "k/00000000", &v, &len), KQ_ERR_NOT_FOUND);
    kq_sim_free(sim);
    c.max_records = KQ_SIM_MAX_RECORDS + 1;
    assert_int_equal(kq_sim_new(&c, &sim), KQ_ERR_INVALID_ARG);
    c.max_records = 1000; /* a small disk fills */
    sim = new_sim(&c);
    assert_false(kq_sim_run(sim, 2000, 0));
    assert_non_null(strstr(kq_sim_failure(sim), "disk"));
    kq_sim_free(sim);
}

/* The record map against a naive table: random puts, overwrites and erases on a small key space,
 * two thirds of whose keys hash to the last 8 of 1024 slots (long probe runs, backward shifts
 * across the wrap-around), then key order. */
static void test_store_reference(void **state)
{
    (void)state;
    enum { KEYS = 300 };
    struct sim_store s = {0};
    bool has[KEYS] = {false};
    uint64_t val[KEYS] = {0};
    uint32_t names[KEYS];
    for (uint32_t c = 0, k = 0; k < KEYS; c++) { /* keys homing at the end of the table */
        struct sim_record rec;
        char key[16];
        snprintf(key, sizeof key, "%u", c);
        assert_int_equal(sim_record_make(&rec, key, NULL, 0), KQ_OK);
        if (k >= 2 * KEYS / 3 || (rec.h & 1023) >= 1016)
            names[k++] = c;
        sim_record_free(&rec);
    }
    assert_int_equal(sim_store_reserve(&s, 512, 512), KQ_OK); /* 1024 slots, fixed */
    assert_int_equal(s.n_slots, 1024);
    struct kq_sim_rng r;
    kq_sim_rng_seed(&r, 4);
    for (int op = 0; op < 200000; op++) {
        uint32_t k = (uint32_t)kq_sim_rng_range(&r, 0, KEYS - 1);
        char key[16];
        snprintf(key, sizeof key, "%u", names[k]);
        if (kq_sim_rng_chance(&r, KQ_SIM_PPM / 2)) {
            uint64_t v = kq_sim_rng_next(&r);
            struct sim_record rec;
            assert_int_equal(sim_record_make(&rec, key, (const uint8_t *)&v, sizeof v), KQ_OK);
            assert_int_equal(sim_store_reserve(&s, s.n + 1, KEYS), KQ_OK);
            assert_int_equal(s.n_slots, 1024);
            sim_store_put(&s, &rec);
            assert_null(rec.key);
            has[k] = true;
            val[k] = v;
        } else {
            sim_store_erase(&s, key);
            has[k] = false;
        }
        uint32_t q = (uint32_t)kq_sim_rng_range(&r, 0, KEYS - 1);
        snprintf(key, sizeof key, "%u", names[q]);
        const struct sim_record *got = sim_store_get(&s, key);
        assert_true((got != NULL) == has[q]);
        assert_true(got == NULL || (got->len == 8 && memcmp(got->value, &val[q], 8) == 0));
    }
    size_t count = 0;
    for (int k = 0; k < KEYS; k++)
        count += has[k] ? 1 : 0;
    assert_int_equal(s.n, count);
    const struct sim_record **sorted;
    size_t n;
    assert_int_equal(sim_store_sorted(&s, &sorted, &n), KQ_OK);
    assert_int_equal(n, count);
    for (size_t i = 1; i < n; i++)
        assert_true(strcmp(sorted[i - 1]->key, sorted[i]->key) < 0);
    free(sorted);
    assert_int_equal(sim_store_reserve(&s, KEYS + 1, KEYS), KQ_ERR_LIMIT);
    sim_store_free(&s);
}

/* ---- 5. the Byzantine hook ---- */

enum adv_mode { ADV_NONE, ADV_WITHHOLD, ADV_REWRITE, ADV_FORK, ADV_DELAY, ADV_BAD, ADV_RANDOM };

struct adv {
    enum adv_mode mode;
    uint8_t buf[13];
    uint64_t seen;
};

static enum kq_sim_verdict adversary(void *ctx, struct kq_sim *sim, struct kq_sim_msg *m)
{
    struct adv *a = ctx;
    a->seen++;
    if (m->src != 2)
        return KQ_SIM_PASS;
    switch (a->mode) {
    case ADV_NONE:
        return KQ_SIM_PASS;
    case ADV_WITHHOLD:
        return m->dst == 3 ? KQ_SIM_DROP : KQ_SIM_PASS;
    case ADV_REWRITE: /* an invalid signature: flipped bytes */
        assert_true(m->len == sizeof a->buf);
        memcpy(a->buf, m->payload, m->len);
        a->buf[12] ^= 0x5a;
        m->payload = a->buf;
        return KQ_SIM_REPLACE;
    case ADV_FORK: { /* a validly "signed" different message for n4 only */
        if (m->dst != 4)
            return KQ_SIM_PASS;
        struct kq_buf w;
        kq_buf_writer(&w, a->buf, sizeof a->buf);
        uint64_t counter = get_u64(m->payload + 4, 8) + 1000;
        assert_int_equal(kq_buf_put_u32(&w, 2), KQ_OK);
        assert_int_equal(kq_buf_put_u64(&w, counter), KQ_OK);
        assert_int_equal(kq_buf_put_u8(&w, check_byte(2, counter)), KQ_OK);
        m->payload = a->buf;
        return KQ_SIM_REPLACE;
    }
    case ADV_DELAY: /* withheld now, delivered 500 ms later */
        assert_int_equal(kq_sim_inject_at(sim, kq_sim_now(sim) + 500, m->src, m->dst, m->frame_type,
                                          m->payload, m->len),
                         KQ_OK);
        return KQ_SIM_DROP;
    case ADV_BAD:
        m->dst = 1;
        return KQ_SIM_REPLACE;
    case ADV_RANDOM:
        return kq_sim_rng_chance(kq_sim_adversary_rng(sim), KQ_SIM_PPM / 3) ? KQ_SIM_DROP
                                                                            : KQ_SIM_PASS;
    }
    return KQ_SIM_PASS;
}

static struct kq_sim *adv_sim(struct adv *a, uint64_t seed, size_t history)
{
    static const struct tcfg tc = {.gossip_ms = 10};
    struct kq_sim_config c = base_cfg(seed, 4, &tc);
    c.intercept = adversary;
    c.intercept_ctx = a;
    c.history = history;
    return new_sim(&c);
}

static void test_intercept_withhold(void **state)
{
    (void)state;
    struct adv a = {.mode = ADV_WITHHOLD};
    struct kq_sim *sim = adv_sim(&a, 1, 0);
    assert_true(kq_sim_run(sim, 1000, 0));
    assert_int_equal(core_of(sim, 3)->heard[2], 0); /* n2 withholds from n3 only */
    assert_true(core_of(sim, 4)->heard[2] > 50 && core_of(sim, 1)->heard[2] > 50);
    assert_true(core_of(sim, 3)->heard[1] > 50);
    assert_true(kq_sim_stats(sim)->withheld > 50);
    assert_int_equal(a.seen, kq_sim_stats(sim)->sent);
    kq_sim_free(sim);
}

static void test_intercept_rewrite(void **state)
{
    (void)state;
    struct adv a = {.mode = ADV_REWRITE};
    struct kq_sim *sim = adv_sim(&a, 1, 0);
    assert_true(kq_sim_run(sim, 1000, 0));
    for (uint32_t n = 1; n <= 4; n++) {
        if (n == 2)
            continue;
        assert_int_equal(core_of(sim, n)->heard[2], 0);
        assert_true(core_of(sim, n)->bad[2] > 50);
    }
    assert_true(kq_sim_stats(sim)->replaced > 150 && kq_sim_stats(sim)->rejected > 150);
    kq_sim_free(sim);
}

static void test_intercept_fork(void **state)
{
    (void)state;
    struct adv a = {.mode = ADV_FORK};
    struct kq_sim *sim = adv_sim(&a, 1, 0);
    assert_true(kq_sim_run(sim, 1000, 0));
    /* n3 and n4 hold different, each valid, versions of n2's messages */
    uint64_t h3 = core_of(sim, 3)->heard[2], h4 = core_of(sim, 4)->heard[2];
    assert_true(h3 > 50 && h3 < 1000 && h4 > 1000);
    assert_int_equal(core_of(sim, 4)->bad[2], 0);
    kq_sim_free(sim);
}

static void test_intercept_delay_and_replay(void **state)
{
    (void)state;
    struct adv a = {.mode = ADV_DELAY};
    struct kq_sim *sim = adv_sim(&a, 1, 0);
    assert_true(kq_sim_run(sim, 400, 0));
    assert_int_equal(core_of(sim, 3)->heard[2], 0); /* nothing from n2 yet */
    assert_true(kq_sim_run(sim, 1000, 0));
    assert_true(core_of(sim, 3)->heard[2] > 30); /* 500 ms late */
    assert_true(kq_sim_stats(sim)->injected > 90);
    kq_sim_free(sim);

    a.mode = ADV_NONE;
    sim = adv_sim(&a, 1, 64);
    assert_true(kq_sim_run(sim, 500, 0));
    uint64_t count = kq_sim_history_count(sim);
    assert_int_equal(count, kq_sim_stats(sim)->sent);
    struct kq_sim_msg m;
    assert_int_equal(kq_sim_history_get(sim, 0, &m), KQ_ERR_NOT_FOUND); /* rolled out */
    assert_int_equal(kq_sim_history_get(sim, count, &m), KQ_ERR_NOT_FOUND);
    uint64_t seq = count - 64;
    assert_int_equal(kq_sim_history_get(sim, seq, &m), KQ_OK);
    assert_true(m.seq == seq && m.len == 13 && m.frame_type == FRAME_GOSSIP && m.sent_ms <= 500);
    uint32_t src = m.src, dst = m.dst;
    uint64_t stale = core_of(sim, dst)->stale[src];
    assert_int_equal(kq_sim_replay_at(sim, 700, seq, 0), KQ_OK); /* to its original dst */
    assert_true(kq_sim_run(sim, 800, 0));
    assert_true(core_of(sim, dst)->stale[src] >= stale + 1); /* an old message, re-delivered */
    assert_int_equal(kq_sim_replay_at(sim, 900, count + 1000, 0), KQ_ERR_NOT_FOUND);
    assert_int_equal(kq_sim_inject_at(sim, 900, 2, 2, FRAME_GOSSIP, NULL, 0), KQ_ERR_INVALID_ARG);
    assert_int_equal(kq_sim_inject_at(sim, 10, 1, 2, FRAME_GOSSIP, NULL, 0), KQ_ERR_INVALID_ARG);
    kq_sim_free(sim);
}

static void test_intercept_bad_rewrite_fails(void **state)
{
    (void)state;
    struct adv a = {.mode = ADV_BAD};
    struct kq_sim *sim = adv_sim(&a, 1, 0);
    assert_false(kq_sim_run(sim, 1000, 0));
    assert_non_null(strstr(kq_sim_failure(sim), "intercept"));
    kq_sim_free(sim);
    struct kq_sim_config c = base_cfg(1, 2, &(struct tcfg){0});
    c.history = KQ_SIM_MAX_HISTORY + 1;
    assert_int_equal(kq_sim_new(&c, &sim), KQ_ERR_INVALID_ARG);
}

/* ---- determinism with everything on ---- */

static uint64_t full_run(uint64_t seed, FILE *trace, struct kq_sim_stats *st)
{
    static const struct tcfg tc = {.gossip_ms = 10, .write_ms = 7};
    struct adv a = {.mode = ADV_RANDOM};
    struct replies r = {0};
    struct kq_sim_config c = base_cfg(seed, 5, &tc);
    c.net.loss_ppm = 100000;
    c.net.dup_ppm = 50000;
    c.net.max_loss_run = 3;
    c.wall_start_ms = 1700000000000ULL;
    c.max_clock_skew_ms = 1000;
    c.max_clock_drift_ppm = 200;
    c.clock_step_on_restart = true;
    c.intercept = adversary;
    c.intercept_ctx = &a;
    c.history = 128;
    c.on_reply = on_reply;
    c.reply_ctx = &r;
    c.trace = trace;
    struct kq_sim *sim = new_sim(&c);
    uint64_t id;
    for (uint64_t t = 10; t < 2000; t += 37)
        assert_int_equal(kq_sim_request_at(sim, t, (uint32_t)(1 + t % 5), K_ECHO, NULL, 0, &id),
                         KQ_OK);
    assert_int_equal(kq_sim_crash_at(sim, 500, 4, 100), KQ_OK);
    assert_int_equal(kq_sim_cut_at(sim, 700, 900, 1, 5), KQ_OK);
    assert_true(kq_sim_run(sim, 1000, 0));
    assert_int_equal(kq_sim_replay_at(sim, 1100, kq_sim_history_count(sim) - 5, 0), KQ_OK);
    assert_true(kq_sim_run(sim, 2000, 0));
    assert_true(r.total == 54);
    *st = *kq_sim_stats(sim);
    uint64_t h = kq_sim_trace_hash(sim);
    kq_sim_free(sim);
    return h;
}

static void test_deterministic(void **state)
{
    (void)state;
    struct kq_sim_stats a, b, c;
    uint64_t h = full_run(11, NULL, &a);
    assert_true(full_run(11, NULL, &b) == h);
    assert_memory_equal(&a, &b, sizeof a);
    assert_true(a.withheld > 0 && a.injected > 0 && a.requests > 0 && a.crashes == 1);
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_true(full_run(11, f, &c) == h); /* the trace observes, it does not change the run */
    assert_true(ftell(f) > 10000);
    fclose(f);
    assert_true(full_run(12, NULL, &c) != h);
}

/* ---- 6. the seeds runner ---- */

struct seeds_ctx {
    uint64_t fail_at, ran;
};

static bool seed_fn(void *ctx, uint64_t seed, struct kq_sim_seed_report *rep)
{
    struct seeds_ctx *s = ctx;
    s->ran++;
    if (seed != s->fail_at)
        return true;
    snprintf(rep->failure, sizeof rep->failure, "t=5ms: broken on purpose");
    kq_sim_replay_format(rep->replay, sizeof rep->replay, "build/kq_sim", seed, "--nodes 4");
    return false;
}

static void test_run_seeds(void **state)
{
    (void)state;
    struct seeds_ctx s = {.fail_at = 107};
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(kq_sim_run_seeds_to(f, 100, 50, seed_fn, &s), 7);
    assert_int_equal(s.ran, 8); /* stopped at the failure */
    char out[512] = {0};
    rewind(f);
    assert_true(fread(out, 1, sizeof out - 1, f) > 0);
    assert_string_equal(out, "seed 107 FAILED: t=5ms: broken on purpose\n"
                             "replay: build/kq_sim --seed 107 --nodes 4 -v\n");
    fclose(f);
    s = (struct seeds_ctx){.fail_at = 1};
    assert_int_equal(kq_sim_run_seeds(100, 50, seed_fn, &s), 50);
    assert_int_equal(s.ran, 50);
    char buf[16];
    kq_sim_replay_format(buf, sizeof buf, "kq_sim", 5, NULL);
    assert_string_equal(buf, "kq_sim --seed 5");
    char big[64];
    kq_sim_replay_format(big, sizeof big, "kq_sim", 5, "");
    assert_string_equal(big, "kq_sim --seed 5 -v");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests),
        cmocka_unit_test(test_request_double_reply_fails),
        cmocka_unit_test(test_request_busy),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_atomic_writes),
        cmocka_unit_test(test_split_writes_caught),
        cmocka_unit_test(test_scale_full_disk),
        cmocka_unit_test(test_scale_restore_order),
        cmocka_unit_test(test_store_reference),
        cmocka_unit_test(test_intercept_withhold),
        cmocka_unit_test(test_intercept_rewrite),
        cmocka_unit_test(test_intercept_fork),
        cmocka_unit_test(test_intercept_delay_and_replay),
        cmocka_unit_test(test_intercept_bad_rewrite_fails),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_run_seeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
