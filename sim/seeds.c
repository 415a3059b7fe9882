/* Runs a scenario over a range of seeds and stops at the first failure with its replay command,
 * so a failing seed found by a test or a sweep is one command away from a verbose rerun. No state
 * outside the call: the seed function owns everything it builds. */
#include <inttypes.h>
#include <string.h>

#include "sim.h"

uint64_t kq_sim_run_seeds_to(FILE *out, uint64_t first, uint64_t count, kq_sim_seed_fn fn,
                             void *ctx)
{
    KQ_ASSERT(out != NULL && fn != NULL && count >= 1 && first <= UINT64_MAX - (count - 1));
    for (uint64_t i = 0; i < count; i++) {
        struct kq_sim_seed_report rep;
        memset(&rep, 0, sizeof rep);
        if (fn(ctx, first + i, &rep))
            continue;
        rep.failure[sizeof rep.failure - 1] = '\0';
        rep.replay[sizeof rep.replay - 1] = '\0';
        fprintf(out, "seed %" PRIu64 " FAILED: %s\nreplay: %s\n", first + i,
                rep.failure[0] != '\0' ? rep.failure : "(no reason given)", rep.replay);
        fflush(out);
        return i;
    }
    return count;
}

uint64_t kq_sim_run_seeds(uint64_t first, uint64_t count, kq_sim_seed_fn fn, void *ctx)
{
    return kq_sim_run_seeds_to(stderr, first, count, fn, ctx);
}

void kq_sim_replay_format(char *buf, size_t cap, const char *prog, uint64_t seed, const char *args)
{
    KQ_ASSERT(buf != NULL && cap >= 1 && prog != NULL);
    bool extra = args != NULL && args[0] != '\0';
    snprintf(buf, cap, "%s --seed %" PRIu64 "%s%s -v", prog, seed, extra ? " " : "",
             extra ? args : "");
}
