/* The simulator: one priority queue of events ordered by (time, insertion sequence) drives every
 * node's core, its timers, its disk and the network between nodes. Invariants: the clock never
 * goes back; an event scheduled for a node's earlier life, a re-armed timer or a link that was cut
 * since is stale and skipped; every queue and table is bounded by src/base/limits.h. */
#include "sim.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "sim_store.h"

#define SET_WORDS  ((KQ_MAX_NODES + 63) / 64)
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME  0x100000001b3ULL
#define HEAP_FIRST 1024u /* initial queue capacity; doubles up to KQ_SIM_MAX_EVENTS */

#define CLOCK_STREAM     0x636c6f636b730001ULL /* seed xor this: the clocks' stream */
#define ADVERSARY_STREAM 0x6164766572730002ULL /* seed xor this: the adversary's stream */

enum ev_kind {
    EV_BOOT = 1,
    EV_CRASH,
    EV_DELIVER,
    EV_TIMER,
    EV_DISK,
    EV_LINK,
    EV_CUT,
    EV_HEAL,
    EV_REQUEST,
    EV_INJECT
};

struct sim_event {
    uint64_t at_ms;
    uint64_t seq; /* insertion order: ties in time run first-in first-out */
    enum ev_kind kind;
    bool flag;           /* DISK: a sync (answer WRITE_DONE); LINK: up */
    uint16_t frame_type; /* DELIVER, INJECT */
    uint32_t node;       /* index of the node it happens to */
    uint32_t other;      /* DELIVER, INJECT: sender; LINK: peer; TIMER: timer id; CUT, HEAL:
                            fault; REQUEST: kind */
    uint64_t life;       /* TIMER, DISK, LINK: the node's life when scheduled */
    uint64_t aux;        /* DELIVER: link epoch; TIMER: generation; DISK: write number;
                            CRASH: restart delay; REQUEST: request id */
    uint64_t token;      /* DISK: write token */
    uint8_t *payload;    /* DELIVER, INJECT, REQUEST: owned copy */
    size_t payload_len;
};

struct sim_timer {
    uint32_t id;
    bool armed;
    uint64_t gen; /* bumped by every arm: older queued firings are stale */
};

struct sim_write {
    struct sim_record rec;
    uint64_t no; /* the issuing step's group number: a step's writes share it, so they become
                    durable together and a crash drops them together (the contract's atomicity) */
    bool erase;  /* delete rec.key instead of writing it */
};

struct sim_node {
    uint32_t id;
    bool running;
    bool ready;
    uint64_t life; /* bumped by every crash */
    void *state;
    size_t n_timers;
    struct sim_timer timers[KQ_SIM_MAX_TIMERS];
    struct sim_store disk;     /* durable records */
    struct sim_write *pending; /* issued, not yet durable, in issue order */
    size_t n_pending, cap_pending;
    uint64_t writes_issued;
    uint64_t disk_busy_until_ms; /* the last queued sync completes then: syncs stay in order */
    int64_t skew_ms;             /* the wall clock's offset and rate error, for this life */
    int32_t drift_ppm;
    uint64_t last_wall_ms; /* the last wall_ms stepped in this life: it never goes back */
    uint64_t *open;        /* requests stepped and not answered, oldest first */
    size_t n_open, cap_open;
};

/* One message of the history ring, as its core sent it (m.payload is the owned copy). */
struct sim_hist {
    struct kq_sim_msg m;
    uint8_t *copy;
};

struct sim_link {
    uint64_t epoch; /* bumped when the link goes down or an end crashes */
    uint32_t cuts;  /* cuts covering the link; up when 0 */
};

struct sim_fault {
    uint64_t side[SET_WORDS];
    uint64_t other[SET_WORDS];
};

struct kq_sim {
    struct kq_sim_config cfg;
    struct kq_sim_rng rng;
    struct kq_sim_rng clock_rng, adversary_rng;
    size_t max_records;
    uint64_t next_request_id; /* the last id handed out */
    uint64_t msg_seq;         /* messages cores sent: the next one's seq */
    struct sim_hist *hist;    /* cfg.history entries, message seq at seq % cfg.history */
    uint64_t now_ms;
    uint64_t next_seq;
    struct sim_event *heap;
    size_t n_events, cap_events;
    struct sim_node *nodes;
    uint32_t *peer_ids;       /* scratch for init */
    struct sim_link *links;   /* n*n, used at [min][max] */
    uint32_t *loss_run;       /* n*n, directed [src][dst]: consecutive losses */
    struct sim_fault *faults; /* KQ_SIM_MAX_FAULTS */
    size_t n_faults;
    struct kq_actions *acts;
    bool writeback_queued; /* the stepping node's group already has its write-back event */
    struct kq_sim_stats stats;
    uint64_t hash;
    bool failed;
    char failure[512];
};

/* ---- failure, hashing, trace ---- */

void kq_sim_failf(struct kq_sim *sim, const char *fmt, ...)
{
    KQ_ASSERT(sim != NULL && fmt != NULL);
    if (sim->failed)
        return;
    sim->failed = true;
    int k = snprintf(sim->failure, sizeof sim->failure, "t=%" PRIu64 "ms: ", sim->now_ms);
    KQ_ASSERT(k > 0 && (size_t)k < sizeof sim->failure);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sim->failure + k, sizeof sim->failure - (size_t)k, fmt, ap);
    va_end(ap);
    if (sim->cfg.trace != NULL)
        fprintf(sim->cfg.trace, "FAIL %s\n", sim->failure);
}

bool kq_sim_failed(const struct kq_sim *sim)
{
    return sim->failed;
}

const char *kq_sim_failure(const struct kq_sim *sim)
{
    return sim->failure;
}

static void hash_bytes(struct kq_sim *sim, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        sim->hash ^= b[i];
        sim->hash *= FNV_PRIME;
    }
}

static void hash_u64(struct kq_sim *sim, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (56 - 8 * i));
    hash_bytes(sim, b, sizeof b);
}

static void hash_str(struct kq_sim *sim, const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    hash_u64(sim, n);
    hash_bytes(sim, s, n);
}

static const char *status_name(enum kq_status_kind s)
{
    switch (s) {
    case KQ_STATUS_PEER_ALIVE:
        return "PEER_ALIVE";
    case KQ_STATUS_PEER_DEAD:
        return "PEER_DEAD";
    case KQ_STATUS_PEER_RESTARTED:
        return "PEER_RESTARTED";
    case KQ_STATUS_READY:
        return "READY";
    case KQ_STATUS_COMMITTED:
        return "COMMITTED";
    case KQ_STATUS_SUBMIT_TX:
        return "SUBMIT_TX";
    case KQ_STATUS_KEEPER_FAULTY:
        return "KEEPER_FAULTY";
    }
    return "?";
}

static void trace_event(const struct kq_sim *sim, const struct sim_node *nd,
                        const struct kq_event *ev, enum kq_err err)
{
    FILE *f = sim->cfg.trace;
    fprintf(f, "%10" PRIu64 " n%-3" PRIu32 " ", sim->now_ms, nd->id);
    switch (ev->kind) {
    case KQ_EV_RESTORE:
        fprintf(f, "RESTORE %s %zuB", ev->record_key, ev->payload_len);
        break;
    case KQ_EV_START:
        fprintf(f, "START");
        break;
    case KQ_EV_TIMER:
        fprintf(f, "TIMER %" PRIu32, ev->timer);
        break;
    case KQ_EV_FRAME:
        fprintf(f, "FRAME from n%" PRIu32 " type 0x%04x %zuB", ev->peer, ev->frame_type,
                ev->payload_len);
        break;
    case KQ_EV_PEER_UP:
        fprintf(f, "PEER_UP n%" PRIu32, ev->peer);
        break;
    case KQ_EV_PEER_DOWN:
        fprintf(f, "PEER_DOWN n%" PRIu32, ev->peer);
        break;
    case KQ_EV_WRITE_DONE:
        fprintf(f, "WRITE_DONE %" PRIu64, ev->write_token);
        break;
    case KQ_EV_REQUEST:
        fprintf(f, "REQUEST %" PRIu64 " kind %" PRIu32 " %zuB", ev->request_id, ev->request_kind,
                ev->payload_len);
        break;
    case KQ_EV_PEERS:
        fprintf(f, "PEERS %zu", ev->payload_len / 4);
        break;
    case KQ_EV_LEDGER:
        fprintf(f, "LEDGER h=%llu", (unsigned long long)ev->ledger_height);
        break;
    }
    if (ev->wall_ms != ev->now_ms)
        fprintf(f, " (wall %" PRIu64 ")", ev->wall_ms);
    fprintf(f, err == KQ_OK ? "\n" : " -> rejected: %s\n", kq_errcode(err));
}

static void trace_action(const struct kq_sim *sim, const struct kq_action *a)
{
    FILE *f = sim->cfg.trace;
    fprintf(f, "%16s", "");
    switch (a->kind) {
    case KQ_ACT_SEND:
        if (a->peer == KQ_PEER_ALL)
            fprintf(f, "send all type 0x%04x %zuB\n", a->frame_type, a->payload_len);
        else
            fprintf(f, "send n%" PRIu32 " type 0x%04x %zuB\n", a->peer, a->frame_type,
                    a->payload_len);
        break;
    case KQ_ACT_TIMER:
        fprintf(f, "timer %" PRIu32 " +%" PRIu64 "ms\n", a->timer, a->after_ms);
        break;
    case KQ_ACT_PERSIST:
        fprintf(f, "persist %s %zuB%s token %" PRIu64 "\n", a->record_key, a->payload_len,
                a->sync ? " sync" : "", a->write_token);
        break;
    case KQ_ACT_STATUS:
        fprintf(f, "status %s n%" PRIu32 " %" PRIu64 "\n", status_name(a->status), a->peer,
                a->value);
        break;
    case KQ_ACT_ERASE:
        fprintf(f, "erase %s\n", a->record_key);
        break;
    case KQ_ACT_REPLY:
        fprintf(f, "reply %" PRIu64 " %s %zuB\n", a->request_id, kq_errcode(a->reply_status),
                a->payload_len);
        break;
    }
}

static void hash_event(struct kq_sim *sim, const struct sim_node *nd, const struct kq_event *ev,
                       enum kq_err err)
{
    hash_u64(sim, sim->now_ms);
    hash_u64(sim, KQ_SIM_STEP_CORE);
    hash_u64(sim, nd->id);
    hash_u64(sim, (uint64_t)ev->kind);
    hash_u64(sim, ev->peer);
    hash_u64(sim, ev->timer);
    hash_u64(sim, ev->write_token);
    hash_u64(sim, ev->frame_type);
    hash_str(sim, ev->record_key);
    hash_u64(sim, ev->payload_len);
    hash_bytes(sim, ev->payload, ev->payload_len);
    hash_u64(sim, ev->wall_ms);
    hash_u64(sim, ev->request_id);
    hash_u64(sim, ev->request_kind);
    hash_u64(sim, (uint64_t)err);
}

static void hash_action(struct kq_sim *sim, const struct kq_action *a)
{
    hash_u64(sim, (uint64_t)a->kind);
    hash_u64(sim, a->peer);
    hash_u64(sim, a->frame_type);
    hash_u64(sim, a->timer);
    hash_u64(sim, a->after_ms);
    hash_u64(sim, a->sync ? 1 : 0);
    hash_u64(sim, a->write_token);
    hash_u64(sim, (uint64_t)a->status);
    hash_u64(sim, a->value);
    hash_u64(sim, a->request_id);
    hash_u64(sim, (uint64_t)a->reply_status);
    hash_str(sim, a->kind == KQ_ACT_PERSIST || a->kind == KQ_ACT_ERASE ? a->record_key : "");
    hash_u64(sim, a->payload_len);
    hash_bytes(sim, kq_action_payload(sim->acts, a), a->payload_len);
}

/* Fault steps: crash, restart, cut, heal. */
static void note_fault(struct kq_sim *sim, enum kq_sim_step_kind kind, uint32_t node,
                       const char *what)
{
    hash_u64(sim, sim->now_ms);
    hash_u64(sim, (uint64_t)kind);
    hash_u64(sim, node);
    if (sim->cfg.trace != NULL)
        fprintf(sim->cfg.trace, "%10" PRIu64 " %s\n", sim->now_ms, what);
}

static void run_check(struct kq_sim *sim, const struct kq_sim_step *step)
{
    if (sim->cfg.check != NULL && !sim->failed)
        sim->cfg.check(sim->cfg.check_ctx, sim, step);
}

/* ---- the event queue: a binary min-heap on (at_ms, seq) ---- */

static bool ev_before(const struct sim_event *a, const struct sim_event *b)
{
    return a->at_ms < b->at_ms || (a->at_ms == b->at_ms && a->seq < b->seq);
}

static enum kq_err heap_grow(struct kq_sim *sim)
{
    KQ_ENSURE(sim->cap_events < KQ_SIM_MAX_EVENTS, KQ_ERR_LIMIT);
    size_t cap = sim->cap_events == 0 ? HEAP_FIRST : 2 * sim->cap_events;
    if (cap > KQ_SIM_MAX_EVENTS)
        cap = KQ_SIM_MAX_EVENTS;
    struct sim_event *h = realloc(sim->heap, cap * sizeof *h);
    KQ_ENSURE(h != NULL, KQ_ERR_NOMEM);
    sim->heap = h;
    sim->cap_events = cap;
    return KQ_OK;
}

/* Queues ev (its payload now owned by the queue). On failure the payload is freed. */
static enum kq_err schedule(struct kq_sim *sim, struct sim_event *ev)
{
    KQ_ASSERT(ev->at_ms >= sim->now_ms);
    if (sim->n_events == sim->cap_events) {
        enum kq_err err = heap_grow(sim);
        if (err != KQ_OK) {
            free(ev->payload);
            return err;
        }
    }
    ev->seq = sim->next_seq++;
    size_t i = sim->n_events++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ev_before(ev, &sim->heap[parent]))
            break;
        sim->heap[i] = sim->heap[parent];
        i = parent;
    }
    sim->heap[i] = *ev;
    return KQ_OK;
}

static void heap_pop(struct kq_sim *sim, struct sim_event *out)
{
    KQ_ASSERT(sim->n_events > 0);
    *out = sim->heap[0];
    struct sim_event last = sim->heap[--sim->n_events];
    size_t i = 0, n = sim->n_events;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && ev_before(&sim->heap[c + 1], &sim->heap[c]))
            c++;
        if (!ev_before(&sim->heap[c], &last))
            break;
        sim->heap[i] = sim->heap[c];
        i = c;
    }
    if (n > 0)
        sim->heap[i] = last;
}

/* Like schedule, for the simulator's own events: a full queue fails the run. */
static void schedule_or_fail(struct kq_sim *sim, struct sim_event *ev)
{
    enum kq_err err = schedule(sim, ev);
    if (err != KQ_OK)
        kq_sim_failf(sim, "event queue: %s", kq_strerror(err));
}

/* ---- nodes and links ---- */

static struct sim_node *node_of(const struct kq_sim *sim, uint32_t id)
{
    KQ_ASSERT(id >= 1 && id <= sim->cfg.n_nodes);
    return &sim->nodes[id - 1];
}

static uint32_t idx_of(const struct sim_node *nd)
{
    return nd->id - 1;
}

/* floor(now * (10^6 + drift) / 10^6) + wall_start + skew, saturating; monotonic in now. */
static uint64_t wall_of(const struct kq_sim *sim, const struct sim_node *nd)
{
    uint64_t rate = (uint64_t)((int64_t)KQ_SIM_PPM + nd->drift_ppm);
    KQ_ASSERT(rate > 0);
    uint64_t q = sim->now_ms / KQ_SIM_PPM, r = sim->now_ms % KQ_SIM_PPM;
    if (q > (UINT64_MAX - KQ_SIM_PPM) / rate)
        return UINT64_MAX;
    uint64_t scaled = q * rate + r * rate / KQ_SIM_PPM;
    KQ_ASSERT(nd->skew_ms >= 0 || (uint64_t)(-nd->skew_ms) <= sim->cfg.wall_start_ms);
    uint64_t base = nd->skew_ms >= 0 ? sim->cfg.wall_start_ms + (uint64_t)nd->skew_ms
                                     : sim->cfg.wall_start_ms - (uint64_t)(-nd->skew_ms);
    return scaled > UINT64_MAX - base ? UINT64_MAX : base + scaled;
}

/* Draws nd's clock error from the clocks' stream. */
static void draw_clock(struct kq_sim *sim, struct sim_node *nd)
{
    uint64_t s = sim->cfg.max_clock_skew_ms, d = sim->cfg.max_clock_drift_ppm;
    nd->skew_ms = (int64_t)kq_sim_rng_range(&sim->clock_rng, 0, 2 * s) - (int64_t)s;
    nd->drift_ppm = (int32_t)((int64_t)kq_sim_rng_range(&sim->clock_rng, 0, 2 * d) - (int64_t)d);
}

static struct sim_link *link_of(const struct kq_sim *sim, uint32_t i, uint32_t j)
{
    KQ_ASSERT(i != j && i < sim->cfg.n_nodes && j < sim->cfg.n_nodes);
    uint32_t lo = i < j ? i : j, hi = i < j ? j : i;
    return &sim->links[(size_t)lo * sim->cfg.n_nodes + hi];
}

static bool set_has(const uint64_t *set, uint32_t i)
{
    return (set[i / 64] >> (i % 64)) & 1u;
}

static void set_add(uint64_t *set, uint32_t i)
{
    set[i / 64] |= (uint64_t)1 << (i % 64);
}

/* Queues a PEER_UP or PEER_DOWN about `peer` for `to`, now. */
static void notify_link(struct kq_sim *sim, struct sim_node *to, const struct sim_node *peer,
                        bool up)
{
    struct sim_event ev = {.at_ms = sim->now_ms,
                           .kind = EV_LINK,
                           .flag = up,
                           .node = idx_of(to),
                           .other = idx_of(peer),
                           .life = to->life};
    schedule_or_fail(sim, &ev);
}

/* ---- the disk ---- */

/* Room on nd's disk for the writes numbered <= upto (k of them): checked and allocated before
 * any is applied, so a full disk fails the run without applying part of a step's group. */
static enum kq_err disk_reserve(const struct kq_sim *sim, struct sim_node *nd, size_t k)
{
    size_t fresh = 0;
    for (size_t i = 0; i < k; i++)
        if (!nd->pending[i].erase && sim_store_get(&nd->disk, nd->pending[i].rec.key) == NULL)
            fresh++; /* an upper bound: a key written twice in the range counts twice */
    return sim_store_reserve(&nd->disk, nd->disk.n + fresh, sim->max_records);
}

/* Makes every pending write numbered <= upto durable, in issue order. */
static void disk_flush(struct kq_sim *sim, struct sim_node *nd, uint64_t upto)
{
    size_t k = 0;
    while (k < nd->n_pending && nd->pending[k].no <= upto)
        k++;
    enum kq_err err = disk_reserve(sim, nd, k);
    if (err != KQ_OK) {
        kq_sim_failf(sim, "n%" PRIu32 " disk: %s", nd->id, kq_strerror(err));
        return;
    }
    for (size_t i = 0; i < k; i++) {
        struct sim_write *w = &nd->pending[i];
        if (w->erase) {
            sim_store_erase(&nd->disk, w->rec.key);
            sim_record_free(&w->rec);
        } else {
            sim_store_put(&nd->disk, &w->rec);
        }
    }
    memmove(nd->pending, nd->pending + k, (nd->n_pending - k) * sizeof *nd->pending);
    nd->n_pending -= k;
}

static enum kq_err disk_queue(struct sim_node *nd, const struct kq_action *a, const uint8_t *value)
{
    KQ_ENSURE(nd->n_pending < KQ_SIM_MAX_PENDING_WRITES, KQ_ERR_LIMIT);
    KQ_ENSURE(a->payload_len <= KQ_SIM_MAX_RECORD_BYTES, KQ_ERR_LIMIT);
    if (nd->n_pending == nd->cap_pending) {
        size_t cap = nd->cap_pending == 0 ? 8 : 2 * nd->cap_pending;
        struct sim_write *p = realloc(nd->pending, cap * sizeof *p);
        KQ_ENSURE(p != NULL, KQ_ERR_NOMEM);
        nd->pending = p;
        nd->cap_pending = cap;
    }
    struct sim_write *w = &nd->pending[nd->n_pending];
    memset(w, 0, sizeof *w);
    KQ_ASSERT(strnlen(a->record_key, sizeof a->record_key) < sizeof a->record_key);
    KQ_GUARD(sim_record_make(&w->rec, a->record_key, value, a->payload_len));
    w->erase = a->kind == KQ_ACT_ERASE;
    w->no = nd->writes_issued; /* the step's group, opened by execute() */
    nd->n_pending++;
    return KQ_OK;
}

static void exec_persist(struct kq_sim *sim, struct sim_node *nd, const struct kq_action *a)
{
    enum kq_err err = disk_queue(nd, a, kq_action_payload(sim->acts, a));
    if (err != KQ_OK) {
        kq_sim_failf(sim, "n%" PRIu32 " persist %s: %s", nd->id, a->record_key, kq_strerror(err));
        return;
    }
    struct sim_event ev = {.kind = EV_DISK,
                           .node = idx_of(nd),
                           .life = nd->life,
                           .aux = nd->writes_issued,
                           .flag = a->sync,
                           .token = a->write_token};
    const struct kq_sim_disk *d = &sim->cfg.disk;
    if (a->sync) {
        ev.at_ms = sim->now_ms + kq_sim_rng_range(&sim->rng, d->fsync_min_ms, d->fsync_max_ms);
        if (ev.at_ms < nd->disk_busy_until_ms)
            ev.at_ms = nd->disk_busy_until_ms;
        nd->disk_busy_until_ms = ev.at_ms;
    } else {
        if (sim->writeback_queued)
            return; /* one write-back per group: it flushes the whole group anyway */
        sim->writeback_queued = true;
        ev.at_ms =
            sim->now_ms + kq_sim_rng_range(&sim->rng, d->writeback_min_ms, d->writeback_max_ms);
    }
    schedule_or_fail(sim, &ev);
}

/* ---- executing a step's actions ---- */

/* The network model for one message from src to dst (indexes), sent now: cut or down ends,
 * bounded loss runs, latency, duplication. */
static void net_send(struct kq_sim *sim, uint32_t si, uint32_t di, uint16_t frame_type,
                     const uint8_t *payload, size_t len)
{
    const struct kq_sim_net *net = &sim->cfg.net;
    const struct sim_link *l = link_of(sim, si, di);
    uint32_t *run = &sim->loss_run[(size_t)si * sim->cfg.n_nodes + di];
    if (l->cuts > 0 || !sim->nodes[di].running || !sim->nodes[si].running) {
        sim->stats.cut_off++;
        return;
    }
    if (*run < net->max_loss_run && kq_sim_rng_chance(&sim->rng, net->loss_ppm)) {
        (*run)++;
        sim->stats.lost++;
        if (sim->cfg.trace != NULL)
            fprintf(sim->cfg.trace, "%16slost n%" PRIu32 " -> n%" PRIu32 "\n", "", si + 1, di + 1);
        return;
    }
    *run = 0;
    int copies = kq_sim_rng_chance(&sim->rng, net->dup_ppm) ? 2 : 1;
    sim->stats.duplicated += (uint64_t)(copies - 1);
    for (int c = 0; c < copies && !sim->failed; c++) {
        struct sim_event ev = {
            .at_ms =
                sim->now_ms + kq_sim_rng_range(&sim->rng, net->latency_min_ms, net->latency_max_ms),
            .kind = EV_DELIVER,
            .frame_type = frame_type,
            .node = di,
            .other = si,
            .aux = l->epoch,
            .payload_len = len};
        if (len > 0) {
            ev.payload = malloc(len);
            if (ev.payload == NULL) {
                kq_sim_failf(sim, "out of memory for a message");
                return;
            }
            memcpy(ev.payload, payload, len);
        }
        schedule_or_fail(sim, &ev);
    }
}

/* Keeps a copy of m in the history ring (if on), replacing the oldest. */
static void history_keep(struct kq_sim *sim, const struct kq_sim_msg *m)
{
    if (sim->cfg.history == 0)
        return;
    struct sim_hist *h = &sim->hist[m->seq % sim->cfg.history];
    free(h->copy);
    *h = (struct sim_hist){.m = *m};
    if (m->len > 0) {
        h->copy = malloc(m->len);
        if (h->copy == NULL) {
            kq_sim_failf(sim, "out of memory for the history");
            return;
        }
        memcpy(h->copy, m->payload, m->len);
    }
    h->m.payload = h->copy;
}

/* Runs the intercept hook on m; false when the message is withheld. */
static bool intercept(struct kq_sim *sim, struct kq_sim_msg *m)
{
    const struct kq_sim_msg orig = *m;
    enum kq_sim_verdict v = sim->cfg.intercept(sim->cfg.intercept_ctx, sim, m);
    hash_u64(sim, (uint64_t)v);
    if (sim->failed)
        return false;
    if (v == KQ_SIM_PASS) {
        *m = orig;
        return true;
    }
    if (v == KQ_SIM_DROP) {
        sim->stats.withheld++;
        if (sim->cfg.trace != NULL)
            fprintf(sim->cfg.trace, "%16swithheld #%" PRIu64 " n%" PRIu32 " -> n%" PRIu32 "\n", "",
                    m->seq, m->src, m->dst);
        return false;
    }
    if (v != KQ_SIM_REPLACE || m->src != orig.src || m->dst != orig.dst || m->seq != orig.seq ||
        m->len > KQ_MAX_FRAME_PAYLOAD || (m->payload == NULL && m->len > 0)) {
        kq_sim_failf(sim, "intercept hook: bad verdict %d or rewrite of #%" PRIu64, (int)v,
                     orig.seq);
        return false;
    }
    sim->stats.replaced++;
    hash_u64(sim, m->frame_type);
    hash_u64(sim, m->len);
    hash_bytes(sim, m->payload, m->len);
    if (sim->cfg.trace != NULL)
        fprintf(sim->cfg.trace,
                "%16sreplaced #%" PRIu64 " n%" PRIu32 " -> n%" PRIu32 " type 0x%04x %zuB\n", "",
                m->seq, m->src, m->dst, m->frame_type, m->len);
    return true;
}

/* A message a core sends: numbered, kept in the history, intercepted, then the network. */
static void send_one(struct kq_sim *sim, const struct sim_node *src, const struct sim_node *dst,
                     const struct kq_action *a)
{
    sim->stats.sent++;
    struct kq_sim_msg m = {.seq = sim->msg_seq++,
                           .sent_ms = sim->now_ms,
                           .src = src->id,
                           .dst = dst->id,
                           .frame_type = a->frame_type,
                           .payload = kq_action_payload(sim->acts, a),
                           .len = a->payload_len};
    history_keep(sim, &m);
    if (sim->failed || (sim->cfg.intercept != NULL && !intercept(sim, &m)))
        return;
    net_send(sim, idx_of(src), idx_of(dst), m.frame_type, m.payload, m.len);
}

static void exec_send(struct kq_sim *sim, const struct sim_node *src, const struct kq_action *a)
{
    if (a->peer != KQ_PEER_ALL) {
        if (a->peer < 1 || a->peer > sim->cfg.n_nodes || a->peer == src->id) {
            kq_sim_failf(sim, "n%" PRIu32 " sent to unknown peer %" PRIu32, src->id, a->peer);
            return;
        }
        send_one(sim, src, node_of(sim, a->peer), a);
        return;
    }
    for (uint32_t id = 1; id <= sim->cfg.n_nodes && !sim->failed; id++)
        if (id != src->id)
            send_one(sim, src, node_of(sim, id), a);
}

static void exec_timer(struct kq_sim *sim, struct sim_node *nd, const struct kq_action *a)
{
    struct sim_timer *t = NULL;
    for (size_t i = 0; i < nd->n_timers && t == NULL; i++)
        if (nd->timers[i].id == a->timer)
            t = &nd->timers[i];
    if (t == NULL) {
        if (nd->n_timers == KQ_SIM_MAX_TIMERS) {
            kq_sim_failf(sim, "n%" PRIu32 " armed more than %d timers", nd->id, KQ_SIM_MAX_TIMERS);
            return;
        }
        t = &nd->timers[nd->n_timers++];
        *t = (struct sim_timer){.id = a->timer};
    }
    if (a->after_ms > UINT64_MAX - sim->now_ms) {
        kq_sim_failf(sim, "n%" PRIu32 " timer %" PRIu32 " beyond the end of time", nd->id,
                     a->timer);
        return;
    }
    t->gen++;
    t->armed = true; /* re-arming replaces: the earlier firing is now stale */
    struct sim_event ev = {.at_ms = sim->now_ms + a->after_ms,
                           .kind = EV_TIMER,
                           .node = idx_of(nd),
                           .other = a->timer,
                           .life = nd->life,
                           .aux = t->gen};
    schedule_or_fail(sim, &ev);
}

static void exec_status(struct kq_sim *sim, struct sim_node *nd, const struct kq_action *a)
{
    if (a->status < KQ_STATUS_PEER_ALIVE || a->status > KQ_STATUS_COMMITTED) {
        kq_sim_failf(sim, "n%" PRIu32 " reported unknown status %d", nd->id, (int)a->status);
        return;
    }
    sim->stats.status[a->status]++;
    if (a->status == KQ_STATUS_READY)
        nd->ready = true;
}

/* Removes request id from nd's open requests; false if it was not open. */
static bool open_remove(struct sim_node *nd, uint64_t id)
{
    for (size_t i = 0; i < nd->n_open; i++) {
        if (nd->open[i] == id) {
            memmove(nd->open + i, nd->open + i + 1, (nd->n_open - i - 1) * sizeof *nd->open);
            nd->n_open--;
            return true;
        }
    }
    return false;
}

static enum kq_err open_add(struct sim_node *nd, uint64_t id)
{
    KQ_ASSERT(nd->n_open < KQ_SIM_MAX_OPEN_REQUESTS);
    if (nd->n_open == nd->cap_open) {
        size_t cap = nd->cap_open == 0 ? 8 : 2 * nd->cap_open;
        uint64_t *o = realloc(nd->open, cap * sizeof *o);
        KQ_ENSURE(o != NULL, KQ_ERR_NOMEM);
        nd->open = o;
        nd->cap_open = cap;
    }
    nd->open[nd->n_open++] = id;
    return KQ_OK;
}

/* The simulator's own answer to a request (refused, reset, busy, or the core's rejection). */
static void answer(struct kq_sim *sim, uint32_t node, uint64_t id, enum kq_err status)
{
    hash_u64(sim, sim->now_ms);
    hash_u64(sim, EV_REQUEST);
    hash_u64(sim, node);
    hash_u64(sim, id);
    hash_u64(sim, (uint64_t)status);
    if (sim->cfg.trace != NULL)
        fprintf(sim->cfg.trace,
                "%10" PRIu64 " n%-3" PRIu32 " request %" PRIu64 " answered by the simulator: %s\n",
                sim->now_ms, node, id, kq_errcode(status));
    if (sim->cfg.on_reply != NULL)
        sim->cfg.on_reply(sim->cfg.reply_ctx, sim, node, id, status, NULL, 0);
}

static void exec_reply(struct kq_sim *sim, struct sim_node *nd, const struct kq_action *a)
{
    if (!open_remove(nd, a->request_id)) {
        kq_sim_failf(sim, "n%" PRIu32 " replied to request %" PRIu64 ", which is not open on it",
                     nd->id, a->request_id);
        return;
    }
    sim->stats.replies++;
    if (sim->cfg.on_reply != NULL)
        sim->cfg.on_reply(sim->cfg.reply_ctx, sim, nd->id, a->request_id, a->reply_status,
                          kq_action_payload(sim->acts, a), a->payload_len);
}

static void execute(struct kq_sim *sim, struct sim_node *nd)
{
    sim->writeback_queued = false;
    for (size_t i = 0; i < sim->acts->count; i++)
        if (sim->acts->items[i].kind == KQ_ACT_PERSIST ||
            sim->acts->items[i].kind == KQ_ACT_ERASE) {
            nd->writes_issued++; /* one group for all the step's writes */
            break;
        }
    for (size_t i = 0; i < sim->acts->count && !sim->failed; i++) {
        const struct kq_action *a = &sim->acts->items[i];
        hash_action(sim, a);
        if (sim->cfg.trace != NULL)
            trace_action(sim, a);
        switch (a->kind) {
        case KQ_ACT_SEND:
            exec_send(sim, nd, a);
            break;
        case KQ_ACT_TIMER:
            exec_timer(sim, nd, a);
            break;
        case KQ_ACT_PERSIST:
        case KQ_ACT_ERASE:
            exec_persist(sim, nd, a);
            break;
        case KQ_ACT_STATUS:
            exec_status(sim, nd, a);
            break;
        case KQ_ACT_REPLY:
            exec_reply(sim, nd, a);
            break;
        default:
            kq_sim_failf(sim, "n%" PRIu32 " emitted unknown action %d", nd->id, (int)a->kind);
            break;
        }
    }
}

/* Steps nd's core with ev, executes its actions (unless it rejected ev), runs the hook. */
static void core_step(struct kq_sim *sim, struct sim_node *nd, const struct kq_event *in)
{
    KQ_ASSERT(nd->running);
    struct kq_event stamped = *in, *ev = &stamped;
    ev->now_ms = sim->now_ms;
    ev->wall_ms = wall_of(sim, nd);
    KQ_ASSERT(ev->wall_ms >= nd->last_wall_ms); /* never back within one life */
    nd->last_wall_ms = ev->wall_ms;
    kq_actions_reset(sim->acts);
    enum kq_err err = sim->cfg.ops->step(nd->state, ev, sim->acts);
    sim->stats.steps++;
    hash_event(sim, nd, ev, err);
    if (sim->cfg.trace != NULL)
        trace_event(sim, nd, ev, err);
    if (err == KQ_ERR_OVERFLOW) {
        kq_sim_failf(sim, "n%" PRIu32 " overflowed its action buffer (a core bug)", nd->id);
        return;
    }
    if (err == KQ_OK) {
        execute(sim, nd);
    } else {
        sim->stats.rejected++;
        if (ev->kind == KQ_EV_REQUEST && open_remove(nd, ev->request_id))
            answer(sim, nd->id, ev->request_id, err); /* the client learns the rejection */
    }
    struct kq_sim_step step = {.kind = KQ_SIM_STEP_CORE,
                               .now_ms = sim->now_ms,
                               .node = nd->id,
                               .ev = ev,
                               .result = err,
                               .out = sim->acts};
    run_check(sim, &step);
}

/* ---- faults: crash, restart, cut, heal ---- */

static void do_crash(struct kq_sim *sim, struct sim_node *nd, uint64_t restart_after_ms)
{
    if (!nd->running)
        return; /* already down: its pending restart stands */
    nd->running = false;
    nd->ready = false;
    nd->life++;
    sim->stats.crashes++;
    sim->stats.writes_lost += nd->n_pending;
    for (size_t i = 0; i < nd->n_pending; i++)
        sim_record_free(&nd->pending[i].rec);
    nd->n_pending = 0;
    nd->n_timers = 0;
    nd->disk_busy_until_ms = 0;
    for (size_t i = 0; i < nd->n_open; i++) { /* their connections reset */
        sim->stats.refused++;
        answer(sim, nd->id, nd->open[i], KQ_ERR_NET);
    }
    nd->n_open = 0;
    if (sim->cfg.ops->fini != NULL)
        sim->cfg.ops->fini(nd->state);
    memset(nd->state, 0, sim->cfg.ops->state_size);
    for (uint32_t j = 0; j < sim->cfg.n_nodes; j++) {
        if (j == idx_of(nd))
            continue;
        struct sim_link *l = link_of(sim, idx_of(nd), j);
        l->epoch++; /* whatever was in flight from or to nd is gone */
        if (l->cuts == 0 && sim->nodes[j].running)
            notify_link(sim, &sim->nodes[j], nd, false);
    }
    char what[64];
    snprintf(what, sizeof what, "n%" PRIu32 " CRASH", nd->id);
    note_fault(sim, KQ_SIM_STEP_CRASH, nd->id, what);
    if (restart_after_ms != KQ_SIM_NEVER) {
        struct sim_event ev = {.kind = EV_BOOT, .node = idx_of(nd)};
        ev.at_ms = restart_after_ms > UINT64_MAX - sim->now_ms ? UINT64_MAX
                                                               : sim->now_ms + restart_after_ms;
        schedule_or_fail(sim, &ev);
    }
    struct kq_sim_step step = {.kind = KQ_SIM_STEP_CRASH, .now_ms = sim->now_ms, .node = nd->id};
    run_check(sim, &step);
}

static bool boot_init(struct kq_sim *sim, struct sim_node *nd)
{
    size_t n = 0;
    for (uint32_t id = 1; id <= sim->cfg.n_nodes; id++)
        if (id != nd->id)
            sim->peer_ids[n++] = id;
    memset(nd->state, 0, sim->cfg.ops->state_size);
    enum kq_err err = sim->cfg.ops->init(nd->state, nd->id, sim->peer_ids, n, sim->cfg.core_config);
    if (err != KQ_OK)
        kq_sim_failf(sim, "n%" PRIu32 " init: %s", nd->id, kq_strerror(err));
    return err == KQ_OK;
}

/* One RESTORE step per durable record, in key order (the order of the runtime's store scan). */
static void restore(struct kq_sim *sim, struct sim_node *nd)
{
    const struct sim_record **recs;
    size_t n;
    enum kq_err err = sim_store_sorted(&nd->disk, &recs, &n);
    if (err != KQ_OK) {
        kq_sim_failf(sim, "n%" PRIu32 " restore: %s", nd->id, kq_strerror(err));
        return;
    }
    for (size_t i = 0; i < n && !sim->failed && nd->running; i++) {
        struct kq_event ev = {.kind = KQ_EV_RESTORE,
                              .record_key = recs[i]->key,
                              .payload = recs[i]->value,
                              .payload_len = recs[i]->len};
        core_step(sim, nd, &ev);
    }
    free(recs);
}

/* A (re)start: fresh state, RESTORE of every durable record, START, then links come up. */
static void do_boot(struct kq_sim *sim, struct sim_node *nd)
{
    if (nd->running)
        return;
    nd->running = true;
    nd->ready = false;
    nd->last_wall_ms = 0;
    if (sim->cfg.clock_step_on_restart && nd->life > 0)
        draw_clock(sim, nd); /* a restart, not the first boot: the clock may have stepped */
    sim->stats.restarts++;
    char what[64];
    snprintf(what, sizeof what, "n%" PRIu32 " RESTART", nd->id);
    note_fault(sim, KQ_SIM_STEP_RESTART, nd->id, what);
    if (!boot_init(sim, nd))
        return;
    struct kq_sim_step step = {.kind = KQ_SIM_STEP_RESTART, .now_ms = sim->now_ms, .node = nd->id};
    run_check(sim, &step);
    restore(sim, nd);
    struct kq_event start = {.kind = KQ_EV_START, .now_ms = sim->now_ms};
    if (!sim->failed)
        core_step(sim, nd, &start);
    for (uint32_t j = 0; j < sim->cfg.n_nodes && !sim->failed; j++) {
        struct sim_node *peer = &sim->nodes[j];
        if (peer == nd || !peer->running || link_of(sim, idx_of(nd), j)->cuts > 0)
            continue;
        notify_link(sim, nd, peer, true);
        notify_link(sim, peer, nd, true);
    }
}

static void link_change(struct kq_sim *sim, uint32_t i, uint32_t j, bool cut)
{
    struct sim_link *l = link_of(sim, i, j);
    struct sim_node *a = &sim->nodes[i], *b = &sim->nodes[j];
    bool was_up = l->cuts == 0;
    if (cut) {
        KQ_ASSERT(l->cuts < UINT32_MAX);
        l->cuts++;
    } else {
        KQ_ASSERT(l->cuts > 0);
        l->cuts--;
    }
    bool is_up = l->cuts == 0;
    if (was_up == is_up)
        return;
    l->epoch++;
    if (a->running && b->running) {
        notify_link(sim, a, b, is_up);
        notify_link(sim, b, a, is_up);
    }
}

static void do_fault(struct kq_sim *sim, uint32_t fault, bool cut)
{
    KQ_ASSERT(fault < sim->n_faults);
    const struct sim_fault *f = &sim->faults[fault];
    for (uint32_t i = 0; i < sim->cfg.n_nodes; i++)
        for (uint32_t j = 0; j < sim->cfg.n_nodes; j++)
            if (set_has(f->side, i) && set_has(f->other, j))
                link_change(sim, i, j, cut);
    char what[64];
    snprintf(what, sizeof what, "%s #%" PRIu32, cut ? "CUT" : "HEAL", fault);
    note_fault(sim, cut ? KQ_SIM_STEP_CUT : KQ_SIM_STEP_HEAL, fault, what);
    struct kq_sim_step step = {.kind = cut ? KQ_SIM_STEP_CUT : KQ_SIM_STEP_HEAL,
                               .now_ms = sim->now_ms};
    run_check(sim, &step);
}

/* ---- dispatching queued events ---- */

static void on_deliver(struct kq_sim *sim, const struct sim_event *e)
{
    struct sim_node *dst = &sim->nodes[e->node], *src = &sim->nodes[e->other];
    if (!dst->running || link_of(sim, e->node, e->other)->epoch != e->aux) {
        sim->stats.cut_off++;
        return;
    }
    sim->stats.delivered++;
    struct kq_event ev = {.kind = KQ_EV_FRAME,
                          .now_ms = sim->now_ms,
                          .peer = src->id,
                          .frame_type = e->frame_type,
                          .payload = e->payload,
                          .payload_len = e->payload_len};
    core_step(sim, dst, &ev);
}

static void on_timer(struct kq_sim *sim, const struct sim_event *e)
{
    struct sim_node *nd = &sim->nodes[e->node];
    if (!nd->running || nd->life != e->life)
        return;
    for (size_t i = 0; i < nd->n_timers; i++) {
        struct sim_timer *t = &nd->timers[i];
        if (t->id != e->other || !t->armed || t->gen != e->aux)
            continue;
        t->armed = false;
        struct kq_event ev = {.kind = KQ_EV_TIMER, .now_ms = sim->now_ms, .timer = t->id};
        core_step(sim, nd, &ev);
        return;
    }
}

static void on_disk(struct kq_sim *sim, const struct sim_event *e)
{
    struct sim_node *nd = &sim->nodes[e->node];
    if (!nd->running || nd->life != e->life)
        return;
    disk_flush(sim, nd, e->aux);
    if (!e->flag || sim->failed)
        return;
    struct kq_event ev = {.kind = KQ_EV_WRITE_DONE, .now_ms = sim->now_ms, .write_token = e->token};
    core_step(sim, nd, &ev);
}

static void on_link(struct kq_sim *sim, const struct sim_event *e)
{
    struct sim_node *nd = &sim->nodes[e->node];
    if (!nd->running || nd->life != e->life)
        return;
    struct kq_event ev = {.kind = e->flag ? KQ_EV_PEER_UP : KQ_EV_PEER_DOWN,
                          .now_ms = sim->now_ms,
                          .peer = sim->nodes[e->other].id};
    core_step(sim, nd, &ev);
}

static void on_request(struct kq_sim *sim, const struct sim_event *e)
{
    struct sim_node *nd = &sim->nodes[e->node];
    if (!nd->running) {
        sim->stats.refused++;
        answer(sim, nd->id, e->aux, KQ_ERR_NET);
        return;
    }
    if (nd->n_open == KQ_SIM_MAX_OPEN_REQUESTS) {
        sim->stats.busy++;
        answer(sim, nd->id, e->aux, KQ_ERR_BUSY);
        return;
    }
    if (open_add(nd, e->aux) != KQ_OK) {
        kq_sim_failf(sim, "out of memory for a request");
        return;
    }
    sim->stats.requests++;
    struct kq_event ev = {.kind = KQ_EV_REQUEST,
                          .request_id = e->aux,
                          .request_kind = e->other,
                          .payload = e->payload,
                          .payload_len = e->payload_len};
    core_step(sim, nd, &ev);
}

static void on_inject(struct kq_sim *sim, const struct sim_event *e)
{
    hash_u64(sim, sim->now_ms);
    hash_u64(sim, EV_INJECT);
    hash_u64(sim, e->other);
    hash_u64(sim, e->node);
    hash_u64(sim, e->frame_type);
    hash_u64(sim, e->payload_len);
    hash_bytes(sim, e->payload, e->payload_len);
    if (sim->cfg.trace != NULL)
        fprintf(sim->cfg.trace,
                "%10" PRIu64 " inject n%" PRIu32 " -> n%" PRIu32 " type 0x%04x %zuB\n", sim->now_ms,
                e->other + 1, e->node + 1, e->frame_type, e->payload_len);
    net_send(sim, e->other, e->node, e->frame_type, e->payload, e->payload_len);
}

static void dispatch(struct kq_sim *sim, struct sim_event *e)
{
    switch (e->kind) {
    case EV_BOOT:
        do_boot(sim, &sim->nodes[e->node]);
        break;
    case EV_CRASH:
        do_crash(sim, &sim->nodes[e->node], e->aux);
        break;
    case EV_DELIVER:
        on_deliver(sim, e);
        break;
    case EV_TIMER:
        on_timer(sim, e);
        break;
    case EV_DISK:
        on_disk(sim, e);
        break;
    case EV_LINK:
        on_link(sim, e);
        break;
    case EV_CUT:
    case EV_HEAL:
        do_fault(sim, e->other, e->kind == EV_CUT);
        break;
    case EV_REQUEST:
        on_request(sim, e);
        break;
    case EV_INJECT:
        on_inject(sim, e);
        break;
    }
    free(e->payload);
    e->payload = NULL;
}

bool kq_sim_run(struct kq_sim *sim, uint64_t until_ms, uint64_t max_steps)
{
    KQ_ASSERT(sim != NULL);
    uint64_t first = sim->stats.steps;
    while (!sim->failed && sim->n_events > 0 && sim->heap[0].at_ms <= until_ms) {
        if (max_steps != 0 && sim->stats.steps - first >= max_steps)
            return !sim->failed;
        struct sim_event e;
        heap_pop(sim, &e);
        KQ_ASSERT(e.at_ms >= sim->now_ms); /* the clock never goes back */
        sim->now_ms = e.at_ms;
        dispatch(sim, &e);
    }
    if (!sim->failed && until_ms > sim->now_ms)
        sim->now_ms = until_ms;
    return !sim->failed;
}

/* ---- creation, schedule, observation ---- */

static bool config_ok(const struct kq_sim_config *c)
{
    return c->n_nodes >= 2 && c->n_nodes <= KQ_MAX_NODES && c->ops != NULL &&
           c->ops->init != NULL && c->ops->step != NULL && c->ops->state_size > 0 &&
           c->net.latency_min_ms <= c->net.latency_max_ms && c->net.loss_ppm < KQ_SIM_PPM &&
           c->net.dup_ppm <= KQ_SIM_PPM && c->disk.fsync_min_ms <= c->disk.fsync_max_ms &&
           c->disk.writeback_min_ms <= c->disk.writeback_max_ms &&
           c->net.latency_max_ms <= UINT32_MAX && c->disk.fsync_max_ms <= UINT32_MAX &&
           c->disk.writeback_max_ms <= UINT32_MAX && c->boot_spread_ms <= UINT32_MAX &&
           c->max_clock_skew_ms <= KQ_SIM_MAX_CLOCK_SKEW_MS &&
           c->wall_start_ms >= c->max_clock_skew_ms &&
           c->max_clock_drift_ppm <= KQ_SIM_MAX_CLOCK_DRIFT_PPM &&
           c->max_records <= KQ_SIM_MAX_RECORDS && c->history <= KQ_SIM_MAX_HISTORY;
}

static enum kq_err alloc_nodes(struct kq_sim *sim)
{
    size_t n = sim->cfg.n_nodes;
    sim->nodes = calloc(n, sizeof *sim->nodes);
    sim->peer_ids = calloc(n, sizeof *sim->peer_ids);
    sim->links = calloc(n * n, sizeof *sim->links);
    sim->loss_run = calloc(n * n, sizeof *sim->loss_run);
    sim->faults = calloc(KQ_SIM_MAX_FAULTS, sizeof *sim->faults);
    sim->acts = malloc(sizeof *sim->acts);
    if (sim->cfg.history > 0)
        sim->hist = calloc(sim->cfg.history, sizeof *sim->hist);
    KQ_ENSURE(sim->cfg.history == 0 || sim->hist != NULL, KQ_ERR_NOMEM);
    KQ_ENSURE(sim->nodes != NULL && sim->peer_ids != NULL && sim->links != NULL, KQ_ERR_NOMEM);
    KQ_ENSURE(sim->loss_run != NULL && sim->faults != NULL && sim->acts != NULL, KQ_ERR_NOMEM);
    kq_actions_reset(sim->acts);
    for (size_t i = 0; i < n; i++) {
        sim->nodes[i].id = (uint32_t)(i + 1);
        sim->nodes[i].state = calloc(1, sim->cfg.ops->state_size);
        KQ_ENSURE(sim->nodes[i].state != NULL, KQ_ERR_NOMEM);
        draw_clock(sim, &sim->nodes[i]);
    }
    return KQ_OK;
}

enum kq_err kq_sim_new(const struct kq_sim_config *cfg, struct kq_sim **out)
{
    KQ_ASSERT(cfg != NULL && out != NULL);
    *out = NULL;
    KQ_ENSURE(config_ok(cfg), KQ_ERR_INVALID_ARG);
    struct kq_sim *sim = calloc(1, sizeof *sim);
    KQ_ENSURE(sim != NULL, KQ_ERR_NOMEM);
    sim->cfg = *cfg;
    sim->hash = FNV_OFFSET;
    sim->max_records = cfg->max_records != 0 ? cfg->max_records : KQ_SIM_MAX_RECORDS;
    kq_sim_rng_seed(&sim->rng, cfg->seed);
    kq_sim_rng_seed(&sim->clock_rng, cfg->seed ^ CLOCK_STREAM);
    kq_sim_rng_seed(&sim->adversary_rng, cfg->seed ^ ADVERSARY_STREAM);
    enum kq_err err = alloc_nodes(sim);
    for (uint32_t i = 0; i < cfg->n_nodes && err == KQ_OK; i++) {
        struct sim_event ev = {.kind = EV_BOOT,
                               .node = i,
                               .at_ms = kq_sim_rng_range(&sim->rng, 0, cfg->boot_spread_ms)};
        err = schedule(sim, &ev);
    }
    if (err != KQ_OK) {
        kq_sim_free(sim);
        return err;
    }
    *out = sim;
    return KQ_OK;
}

void kq_sim_free(struct kq_sim *sim)
{
    if (sim == NULL)
        return;
    for (size_t i = 0; sim->nodes != NULL && i < sim->cfg.n_nodes; i++) {
        struct sim_node *nd = &sim->nodes[i];
        if (nd->running && sim->cfg.ops->fini != NULL)
            sim->cfg.ops->fini(nd->state);
        free(nd->state);
        sim_store_free(&nd->disk);
        for (size_t k = 0; k < nd->n_pending; k++)
            sim_record_free(&nd->pending[k].rec);
        free(nd->pending);
        free(nd->open);
    }
    for (size_t i = 0; sim->hist != NULL && i < sim->cfg.history; i++)
        free(sim->hist[i].copy);
    free(sim->hist);
    for (size_t i = 0; i < sim->n_events; i++)
        free(sim->heap[i].payload);
    free(sim->heap);
    free(sim->nodes);
    free(sim->peer_ids);
    free(sim->links);
    free(sim->loss_run);
    free(sim->faults);
    free(sim->acts);
    free(sim);
}

static bool id_ok(const struct kq_sim *sim, uint32_t id)
{
    return id >= 1 && id <= sim->cfg.n_nodes;
}

enum kq_err kq_sim_crash_at(struct kq_sim *sim, uint64_t at_ms, uint32_t node,
                            uint64_t restart_after_ms)
{
    KQ_ASSERT(sim != NULL);
    KQ_ENSURE(id_ok(sim, node) && at_ms >= sim->now_ms, KQ_ERR_INVALID_ARG);
    struct sim_event ev = {
        .at_ms = at_ms, .kind = EV_CRASH, .node = node - 1, .aux = restart_after_ms};
    return schedule(sim, &ev);
}

static enum kq_err add_fault(struct kq_sim *sim, uint64_t at_ms, uint64_t heal_at_ms,
                             const struct sim_fault *f)
{
    KQ_ENSURE(at_ms >= sim->now_ms && heal_at_ms > at_ms, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(sim->n_faults < KQ_SIM_MAX_FAULTS, KQ_ERR_LIMIT);
    KQ_ENSURE(sim->n_events + 2 <= KQ_SIM_MAX_EVENTS, KQ_ERR_LIMIT);
    uint32_t idx = (uint32_t)sim->n_faults;
    struct sim_event cut = {.at_ms = at_ms, .kind = EV_CUT, .other = idx};
    struct sim_event heal = {.at_ms = heal_at_ms, .kind = EV_HEAL, .other = idx};
    KQ_GUARD(schedule(sim, &cut));
    enum kq_err err = schedule(sim, &heal);
    KQ_ASSERT(err == KQ_OK || err == KQ_ERR_NOMEM);
    if (err != KQ_OK) { /* a cut without its heal: this simulation cannot go on */
        kq_sim_failf(sim, "scheduling a heal: %s", kq_strerror(err));
        return err;
    }
    sim->faults[sim->n_faults++] = *f;
    return KQ_OK;
}

enum kq_err kq_sim_partition_at(struct kq_sim *sim, uint64_t at_ms, uint64_t heal_at_ms,
                                const uint32_t *side, size_t n_side)
{
    KQ_ASSERT(sim != NULL);
    KQ_ENSURE(side != NULL && n_side >= 1 && n_side < sim->cfg.n_nodes, KQ_ERR_INVALID_ARG);
    struct sim_fault f;
    memset(&f, 0, sizeof f);
    for (size_t i = 0; i < n_side; i++) {
        KQ_ENSURE(id_ok(sim, side[i]), KQ_ERR_INVALID_ARG);
        set_add(f.side, side[i] - 1);
    }
    for (uint32_t j = 0; j < sim->cfg.n_nodes; j++)
        if (!set_has(f.side, j))
            set_add(f.other, j);
    return add_fault(sim, at_ms, heal_at_ms, &f);
}

enum kq_err kq_sim_cut_at(struct kq_sim *sim, uint64_t at_ms, uint64_t heal_at_ms, uint32_t a,
                          uint32_t b)
{
    KQ_ASSERT(sim != NULL);
    KQ_ENSURE(id_ok(sim, a) && id_ok(sim, b) && a != b, KQ_ERR_INVALID_ARG);
    struct sim_fault f;
    memset(&f, 0, sizeof f);
    set_add(f.side, a - 1);
    set_add(f.other, b - 1);
    return add_fault(sim, at_ms, heal_at_ms, &f);
}

uint64_t kq_sim_now(const struct kq_sim *sim)
{
    return sim->now_ms;
}

size_t kq_sim_nodes(const struct kq_sim *sim)
{
    return sim->cfg.n_nodes;
}

bool kq_sim_running(const struct kq_sim *sim, uint32_t node)
{
    return id_ok(sim, node) && node_of(sim, node)->running;
}

bool kq_sim_ready(const struct kq_sim *sim, uint32_t node)
{
    return id_ok(sim, node) && node_of(sim, node)->running && node_of(sim, node)->ready;
}

const void *kq_sim_state(const struct kq_sim *sim, uint32_t node)
{
    if (!kq_sim_running(sim, node))
        return NULL;
    return node_of(sim, node)->state;
}

bool kq_sim_link_up(const struct kq_sim *sim, uint32_t a, uint32_t b)
{
    KQ_ASSERT(id_ok(sim, a) && id_ok(sim, b) && a != b);
    return link_of(sim, a - 1, b - 1)->cuts == 0;
}

enum kq_err kq_sim_durable(const struct kq_sim *sim, uint32_t node, const char *key,
                           const uint8_t **value, size_t *len)
{
    KQ_ASSERT(key != NULL && value != NULL && len != NULL);
    KQ_ENSURE(id_ok(sim, node), KQ_ERR_INVALID_ARG);
    const struct sim_record *r = sim_store_get(&node_of(sim, node)->disk, key);
    KQ_ENSURE(r != NULL, KQ_ERR_NOT_FOUND);
    *value = r->value;
    *len = r->len;
    return KQ_OK;
}

uint64_t kq_sim_trace_hash(const struct kq_sim *sim)
{
    return sim->hash;
}

const struct kq_sim_stats *kq_sim_stats(const struct kq_sim *sim)
{
    return &sim->stats;
}

uint64_t kq_sim_wall(const struct kq_sim *sim, uint32_t node)
{
    KQ_ASSERT(id_ok(sim, node));
    return wall_of(sim, node_of(sim, node));
}

struct kq_sim_rng *kq_sim_adversary_rng(struct kq_sim *sim)
{
    return &sim->adversary_rng;
}

/* Queues an event carrying a copy of payload. */
static enum kq_err schedule_copy(struct kq_sim *sim, struct sim_event *ev, const uint8_t *payload,
                                 size_t len)
{
    KQ_ENSURE(len <= KQ_MAX_FRAME_PAYLOAD, KQ_ERR_INVALID_ARG);
    ev->payload_len = len;
    if (len > 0) {
        ev->payload = malloc(len);
        KQ_ENSURE(ev->payload != NULL, KQ_ERR_NOMEM);
        memcpy(ev->payload, payload, len);
    }
    return schedule(sim, ev); /* frees the copy on failure */
}

enum kq_err kq_sim_request_at(struct kq_sim *sim, uint64_t at_ms, uint32_t node, uint32_t kind,
                              const uint8_t *payload, size_t len, uint64_t *request_id)
{
    KQ_ASSERT(sim != NULL && request_id != NULL && (payload != NULL || len == 0));
    KQ_ENSURE(id_ok(sim, node) && at_ms >= sim->now_ms, KQ_ERR_INVALID_ARG);
    KQ_ASSERT(sim->next_request_id < UINT64_MAX);
    struct sim_event ev = {.at_ms = at_ms,
                           .kind = EV_REQUEST,
                           .node = node - 1,
                           .other = kind,
                           .aux = sim->next_request_id + 1};
    KQ_GUARD(schedule_copy(sim, &ev, payload, len));
    *request_id = ++sim->next_request_id;
    return KQ_OK;
}

enum kq_err kq_sim_inject_at(struct kq_sim *sim, uint64_t at_ms, uint32_t src, uint32_t dst,
                             uint16_t frame_type, const uint8_t *payload, size_t len)
{
    KQ_ASSERT(sim != NULL && (payload != NULL || len == 0));
    KQ_ENSURE(id_ok(sim, src) && id_ok(sim, dst) && src != dst, KQ_ERR_INVALID_ARG);
    KQ_ENSURE(at_ms >= sim->now_ms, KQ_ERR_INVALID_ARG);
    struct sim_event ev = {.at_ms = at_ms,
                           .kind = EV_INJECT,
                           .node = dst - 1,
                           .other = src - 1,
                           .frame_type = frame_type};
    KQ_GUARD(schedule_copy(sim, &ev, payload, len));
    sim->stats.injected++;
    return KQ_OK;
}

uint64_t kq_sim_history_count(const struct kq_sim *sim)
{
    return sim->msg_seq;
}

enum kq_err kq_sim_history_get(const struct kq_sim *sim, uint64_t seq, struct kq_sim_msg *out)
{
    KQ_ASSERT(sim != NULL && out != NULL);
    KQ_ENSURE(sim->cfg.history > 0 && seq < sim->msg_seq, KQ_ERR_NOT_FOUND);
    KQ_ENSURE(sim->msg_seq - seq <= sim->cfg.history, KQ_ERR_NOT_FOUND);
    const struct sim_hist *h = &sim->hist[seq % sim->cfg.history];
    KQ_ENSURE(h->m.seq == seq && (h->m.len == 0 || h->copy != NULL), KQ_ERR_NOT_FOUND);
    *out = h->m;
    return KQ_OK;
}

enum kq_err kq_sim_replay_at(struct kq_sim *sim, uint64_t at_ms, uint64_t seq, uint32_t dst)
{
    struct kq_sim_msg m;
    KQ_GUARD(kq_sim_history_get(sim, seq, &m));
    return kq_sim_inject_at(sim, at_ms, m.src, dst != 0 ? dst : m.dst, m.frame_type, m.payload,
                            m.len);
}
