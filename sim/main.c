/* kq_sim: runs seeds of a core's scenarios in the deterministic simulator and checks their
 * invariants: the heartbeat (default) or the ledger (--core ledger; --seeds N runs a range). Exit
 * 0: every invariant held; 1: one failed (the replay command is printed); 2: bad usage. Same
 * arguments, same run, byte for byte. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/limits.h"
#include "heartbeat_sim.h"
#include "ledger_sim.h"

#define DEFAULT_NODES 5
#define DEFAULT_MS    20000

/* What the command line says; `set` marks the ledger parameters given explicitly. */
struct opts {
    bool ledger, have_seed, verbose, keep_going;
    uint64_t seed, seeds, first;
    struct kq_hbsim_params hb;
    struct kq_lsim_params lg;
    uint32_t set;
};
enum {
    SET_NODES = 1,
    SET_BYZ = 2,
    SET_ADV = 4,
    SET_FAULTS = 8,
    SET_ED = 16,
    SET_TXS = 32,
    SET_MS = 64,
    SET_QUIET = 128,
    SET_IDLE = 256,
    SET_RECONFIG = 512,
    SET_LONG_DOWN = 1024
};

static int usage(const char *prog)
{
    fprintf(
        stderr,
        "usage: %s --seed N [--nodes K] [--ms T] [--steps S]\n"
        "       [--scenario lossy|partition|crash|chaos] [-v]\n"
        "       %s --core ledger (--seed N | --seeds N [--first S] [--keep-going]) [--nodes K]\n"
        "       [--byzantine B] [--adversary A] [--faults 0|1] [--ed25519 0|1] [--txs X]\n"
        "       [--ms T] [--quiet-ms Q] [--empty-block-ms I] [--reconfig 0|1]"
        " [--long-down 0|1] [-v]\n"
        "  --nodes K     heartbeat: 2..%d nodes (default %d); ledger: %d..%d validators\n"
        "  --ms T        simulated milliseconds (heartbeat, default %d); ledger: faulty phase\n"
        "  --steps S     heartbeat: stop after S core steps (default: no limit)\n"
        "  --seeds N     ledger: run seeds FIRST..FIRST+N-1 (default FIRST 1), stop at a failure\n"
        "  --adversary A honest|equivocate|double-vote|bad-sig|withhold|replay|mixed\n"
        "  -v            print every step (the trace)\n"
        "  ledger parameters not given are drawn from the seed\n",
        prog, prog, KQ_MAX_NODES, DEFAULT_NODES, KQ_LSIM_MIN_VALIDATORS, KQ_LSIM_MAX_VALIDATORS,
        DEFAULT_MS);
    return 2;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* A ledger-only numeric option into o. -1: unknown option. */
static int numeric_ledger(struct opts *o, const char *a, uint64_t n)
{
    if (strcmp(a, "--byzantine") == 0) {
        o->lg.byzantine = (size_t)n;
        o->set |= SET_BYZ;
    } else if (strcmp(a, "--faults") == 0) {
        o->lg.faults = n != 0;
        o->set |= SET_FAULTS;
    } else if (strcmp(a, "--ed25519") == 0) {
        o->lg.real_crypto = n != 0;
        o->set |= SET_ED;
    } else if (strcmp(a, "--txs") == 0) {
        o->lg.txs = (size_t)n;
        o->set |= SET_TXS;
    } else if (strcmp(a, "--quiet-ms") == 0) {
        o->lg.quiet_ms = n;
        o->set |= SET_QUIET;
    } else if (strcmp(a, "--empty-block-ms") == 0) {
        o->lg.empty_block_ms = n;
        o->set |= SET_IDLE;
    } else if (strcmp(a, "--reconfig") == 0) {
        o->lg.reconfig = n != 0;
        o->set |= SET_RECONFIG;
    } else if (strcmp(a, "--long-down") == 0) {
        o->lg.long_down = n != 0;
        o->set |= SET_LONG_DOWN;
    } else {
        return -1;
    }
    return 0;
}

/* A numeric option's value into o. -1: unknown option. */
static int numeric(struct opts *o, const char *a, uint64_t n)
{
    if (strcmp(a, "--seed") == 0) {
        o->seed = n;
        o->have_seed = true;
    } else if (strcmp(a, "--seeds") == 0) {
        o->seeds = n;
    } else if (strcmp(a, "--first") == 0) {
        o->first = n;
    } else if (strcmp(a, "--nodes") == 0) {
        o->hb.nodes = o->lg.validators = (size_t)n;
        o->set |= SET_NODES;
    } else if (strcmp(a, "--ms") == 0) {
        o->hb.duration_ms = o->lg.fault_ms = n;
        o->set |= SET_MS;
    } else if (strcmp(a, "--steps") == 0) {
        o->hb.max_steps = n;
    } else {
        return numeric_ledger(o, a, n);
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n = 0;
        if (strcmp(a, "-v") == 0 || strcmp(a, "--keep-going") == 0) {
            *(a[1] == 'v' ? &o->verbose : &o->keep_going) = true;
            continue;
        }
        if (strcmp(a, "--core") == 0) {
            if (v == NULL || (strcmp(v, "ledger") != 0 && strcmp(v, "heartbeat") != 0))
                return -1;
            o->ledger = strcmp(v, "ledger") == 0;
        } else if (strcmp(a, "--scenario") == 0) {
            if (v == NULL || kq_hbsim_scenario_parse(v, &o->hb.scenario) != KQ_OK)
                return -1;
        } else if (strcmp(a, "--adversary") == 0) {
            if (v == NULL || kq_lsim_adversary_parse(v, &o->lg.adversary) != KQ_OK)
                return -1;
            o->set |= SET_ADV;
        } else if (parse_u64(v, &n) != 0 || numeric(o, a, n) != 0) {
            return -1;
        }
        i++;
    }
    if (o->ledger)
        return o->have_seed != (o->seeds > 0) ? 0 : -1;
    return o->have_seed && o->seeds == 0 && o->hb.nodes >= 2 && o->hb.nodes <= KQ_MAX_NODES ? 0
                                                                                            : -1;
}

static int run_heartbeat(const char *prog, struct kq_hbsim_params *p)
{
    struct kq_hbsim_result r;
    char replay[512];
    enum kq_err err = kq_hbsim_run(p, &r);
    if (err != KQ_OK) {
        fprintf(stderr, "kq_sim: %s\n", kq_strerror(err));
        return 2;
    }
    printf("seed %" PRIu64 " nodes %zu scenario %s: %s at %" PRIu64 "ms, %" PRIu64
           " steps, trace %016" PRIx64 "\n",
           p->seed, p->nodes, kq_hbsim_scenario_name(p->scenario), r.ok ? "ok" : "FAILED", r.end_ms,
           r.stats.steps, r.trace_hash);
    printf("  messages %" PRIu64 " delivered %" PRIu64 " lost %" PRIu64 " duplicated %" PRIu64
           " cut off %" PRIu64 "; crashes %" PRIu64 ", writes lost %" PRIu64 "\n",
           r.stats.sent, r.stats.delivered, r.stats.lost, r.stats.duplicated, r.stats.cut_off,
           r.stats.crashes, r.stats.writes_lost);
    printf("  reports: ALIVE %" PRIu64 " DEAD %" PRIu64 " RESTARTED %" PRIu64 " READY %" PRIu64
           "; highest incarnation %" PRIu64 "\n",
           r.stats.status[KQ_STATUS_PEER_ALIVE], r.stats.status[KQ_STATUS_PEER_DEAD],
           r.stats.status[KQ_STATUS_PEER_RESTARTED], r.stats.status[KQ_STATUS_READY],
           r.max_incarnation);
    if (r.ok)
        return 0;
    kq_hbsim_replay_command(replay, sizeof replay, prog, p);
    printf("invariant failed: %s\nreplay: %s\n", r.failure, replay);
    return 1;
}

/* One ledger seed: the seed's parameters with the explicit ones over them. */
static int run_ledger_one(const char *prog, const struct opts *o)
{
    struct kq_lsim_params p;
    struct kq_lsim_result r;
    char replay[512];
    kq_lsim_params_for_seed(o->seed, &p);
    p.validators = o->set & SET_NODES ? o->lg.validators : p.validators;
    p.adversary = o->set & SET_ADV ? o->lg.adversary : p.adversary;
    p.byzantine = o->set & SET_BYZ   ? o->lg.byzantine
                  : o->set & SET_ADV ? (p.adversary == KQ_LSIM_HONEST ? 0 : 1)
                                     : p.byzantine;
    p.faults = o->set & SET_FAULTS ? o->lg.faults : p.faults;
    p.real_crypto = o->set & SET_ED ? o->lg.real_crypto : p.real_crypto;
    p.txs = o->set & SET_TXS ? o->lg.txs : p.txs;
    p.fault_ms = o->set & SET_MS ? o->lg.fault_ms : p.fault_ms;
    p.quiet_ms = o->set & SET_QUIET ? o->lg.quiet_ms : p.quiet_ms;
    p.empty_block_ms = o->set & SET_IDLE ? o->lg.empty_block_ms : p.empty_block_ms;
    p.reconfig = o->set & SET_RECONFIG ? o->lg.reconfig : p.reconfig;
    p.long_down = o->set & SET_LONG_DOWN ? o->lg.long_down : p.long_down;
    p.trace = o->verbose ? stdout : NULL;
    enum kq_err err = kq_lsim_run(&p, &r);
    if (err != KQ_OK) {
        fprintf(stderr, "kq_sim: %s\n", kq_strerror(err));
        return 2;
    }
    printf("seed %" PRIu64
           " ledger: %zu validators, %zu byzantine (%s), faults %s, %s, idle %" PRIu64
           " ms: %s at %" PRIu64 "ms, height %" PRIu64 ", %" PRIu64 " txs committed, %" PRIu64
           " state-synced, trace %016" PRIx64 "\n",
           p.seed, p.validators, p.byzantine, kq_lsim_adversary_name(p.adversary),
           p.faults ? "on" : "off", p.real_crypto ? "ed25519" : "stand-in signatures",
           p.empty_block_ms, r.ok ? "ok" : "FAILED", r.end_ms, r.height, r.txs_committed,
           r.state_synced, r.trace_hash);
    printf("  steps %" PRIu64 " (rejected %" PRIu64 "), messages %" PRIu64 " lost %" PRIu64
           " duplicated %" PRIu64 " cut off %" PRIu64 "; crashes %" PRIu64 ", writes lost %" PRIu64
           "\n",
           r.stats.steps, r.stats.rejected, r.stats.sent, r.stats.lost, r.stats.duplicated,
           r.stats.cut_off, r.stats.crashes, r.stats.writes_lost);
    if (p.reconfig)
        printf("  reconfig: join %s, leave %s\n", r.joins ? "committed" : "not committed",
               r.leaves ? "committed" : "not committed");
    printf("  replies: ok %" PRIu64 " timeout %" PRIu64 " net/busy %" PRIu64 " refused %" PRIu64
           "; resubmitted %" PRIu64 "; adversary: equivocations %" PRIu64 " double votes %" PRIu64
           " bad signatures %" PRIu64 " forged %" PRIu64 " replayed %" PRIu64 " withheld %" PRIu64
           "\n",
           r.replies[0], r.replies[1], r.replies[2], r.replies[3], r.resubmitted, r.equivocations,
           r.double_votes, r.bad_sigs, r.forged, r.replayed, r.stats.withheld);
    if (r.ok)
        return 0;
    kq_lsim_replay_command(replay, sizeof replay, prog, &p);
    printf("invariant failed: %s\nreplay: %s\n", r.failure, replay);
    return 1;
}

/* Every seed of the range, each failure printed as kq_sim_run_seeds does; how many passed. */
static uint64_t run_all(const char *prog, uint64_t first, uint64_t count)
{
    uint64_t passed = 0;
    for (uint64_t s = first; s < first + count; s++) {
        struct kq_sim_seed_report rep = {{0}, {0}};
        if (kq_lsim_seed((void *)prog, s, &rep)) {
            passed++;
            continue;
        }
        fprintf(stderr, "seed %" PRIu64 " FAILED: %s\nreplay: %s\n", s, rep.failure, rep.replay);
    }
    return passed;
}

static int run_ledger_range(const char *prog, const struct opts *o)
{
    uint64_t first = o->first == 0 ? 1 : o->first;
    KQ_ASSERT(o->seeds >= 1);
    if (first > UINT64_MAX - o->seeds)
        return 2;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t passed = o->keep_going ? run_all(prog, first, o->seeds)
                                    : kq_sim_run_seeds(first, o->seeds, kq_lsim_seed, (void *)prog);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("ledger: %" PRIu64 " of %" PRIu64 " seeds from %" PRIu64 " passed in %.1f s (%.1f "
           "seeds/s)\n",
           passed, o->seeds, first, s, s > 0 ? (double)passed / s : 0.0);
    return passed == o->seeds ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct opts o = {
        .hb = {.nodes = DEFAULT_NODES, .duration_ms = DEFAULT_MS, .scenario = KQ_HBSIM_CHAOS}};
    if (parse_args(argc, argv, &o) != 0)
        return usage(argv[0]);
    if (!o.ledger) {
        o.hb.seed = o.seed;
        o.hb.trace = o.verbose ? stdout : NULL;
        return run_heartbeat(argv[0], &o.hb);
    }
    return o.seeds > 0 ? run_ledger_range(argv[0], &o) : run_ledger_one(argv[0], &o);
}
