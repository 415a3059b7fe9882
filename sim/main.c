/* kq_sim: runs one seed of a heartbeat scenario in the deterministic simulator and checks its
 * invariants. Exit 0: every invariant held; 1: one failed (the replay command is printed);
 * 2: bad usage. Same arguments, same run, byte for byte. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "heartbeat_sim.h"

#define DEFAULT_NODES 5
#define DEFAULT_MS    20000

static int usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s --seed N [--nodes K] [--ms T] [--steps S]\n"
            "       [--scenario lossy|partition|crash|chaos] [-v]\n"
            "  --nodes K   2..%d nodes (default %d)\n"
            "  --ms T      simulated milliseconds (default %d)\n"
            "  --steps S   stop after S core steps (default: no limit)\n"
            "  -v          print every step (the trace)\n",
            prog, KQ_MAX_NODES, DEFAULT_NODES, DEFAULT_MS);
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

static int parse_args(int argc, char **argv, struct kq_hbsim_params *p)
{
    bool have_seed = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n = 0;
        if (strcmp(a, "-v") == 0) {
            p->trace = stdout;
            continue;
        }
        if (strcmp(a, "--scenario") == 0) {
            if (v == NULL || kq_hbsim_scenario_parse(v, &p->scenario) != KQ_OK)
                return -1;
        } else if (parse_u64(v, &n) != 0) {
            return -1;
        } else if (strcmp(a, "--seed") == 0) {
            p->seed = n;
            have_seed = true;
        } else if (strcmp(a, "--nodes") == 0) {
            if (n < 2 || n > KQ_MAX_NODES)
                return -1;
            p->nodes = (size_t)n;
        } else if (strcmp(a, "--ms") == 0 || strcmp(a, "--steps") == 0) {
            *(strcmp(a, "--ms") == 0 ? &p->duration_ms : &p->max_steps) = n;
        } else {
            return -1;
        }
        i++;
    }
    return have_seed ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct kq_hbsim_params p = {
        .nodes = DEFAULT_NODES, .duration_ms = DEFAULT_MS, .scenario = KQ_HBSIM_CHAOS};
    struct kq_hbsim_result r;
    char replay[512];
    if (parse_args(argc, argv, &p) != 0)
        return usage(argv[0]);
    enum kq_err err = kq_hbsim_run(&p, &r);
    if (err != KQ_OK) {
        fprintf(stderr, "kq_sim: %s\n", kq_strerror(err));
        return 2;
    }
    printf("seed %" PRIu64 " nodes %zu scenario %s: %s at %" PRIu64 "ms, %" PRIu64
           " steps, trace %016" PRIx64 "\n",
           p.seed, p.nodes, kq_hbsim_scenario_name(p.scenario), r.ok ? "ok" : "FAILED", r.end_ms,
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
    kq_hbsim_replay_command(replay, sizeof replay, argv[0], &p);
    printf("invariant failed: %s\nreplay: %s\n", r.failure, replay);
    return 1;
}
